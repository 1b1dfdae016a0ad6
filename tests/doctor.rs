//! `agui-dev doctor` on broken projects: each test pins the check id, its status, and part of
//! the finding and of the fix, and that no secret value is ever printed.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::Fixture;
use serde_json::Value;

/// Provider keys and settings that the developer's shell may have; removed from every run.
const SCRUBBED: &[&str] = &[
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "DEEPSEEK_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "LITELLM_MASTER_KEY",
    "LITELLM_MODEL",
    "DATABASE_URL",
    "NODE_ENV",
];

/// A secret present in every run: it must never show up in the output.
const SENTINEL: (&str, &str) = ("AGUI_TEST_SECRET_KEY", "sk-sentinel-0123456789abcdef");

const CONFIG: &str = r"
model_list:
  - model_name: offline
    litellm_params:
      model: openai/offline
      mock_response: canned
  - model_name: deepseek-chat
    litellm_params:
      model: deepseek/deepseek-chat
      api_key: os.environ/DEEPSEEK_API_KEY
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: os.environ/OPENAI_API_KEY
";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    checks: Vec<Value>,
}

impl Run {
    /// The checks with this id (and subject, when given).
    fn find(&self, id: &str, subject: Option<&str>) -> Vec<&Value> {
        self.checks.iter().filter(|c| c["id"] == id && subject.is_none_or(|s| c["subject"] == s)).collect()
    }

    /// The one check with this id and status whose message contains `message`; panics with
    /// the whole output otherwise.
    fn expect(&self, id: &str, status: &str, message: &str, fix: Option<&str>) -> &Value {
        let found = self.checks.iter().find(|c| {
            c["id"] == id
                && c["status"] == status
                && c["message"].as_str().unwrap().contains(message)
                && fix.is_none_or(|f| c["fix"].as_str().is_some_and(|text| text.contains(f)))
        });
        found.unwrap_or_else(|| {
            panic!(
                "no `{id}` {status} with `{message}` / fix {fix:?}; checks:\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    fn assert_never_printed(&self, secret: &str) {
        assert!(!self.stdout.contains(secret), "`{secret}` in stdout:\n{}", self.stdout);
        assert!(!self.stderr.contains(secret), "`{secret}` in stderr:\n{}", self.stderr);
    }
}

/// Runs `doctor --json` with the provider keys removed and `env` added, then the human form too
/// (both must keep secrets out).
fn doctor(fixture: &Fixture, args: &[&str], env: &[(&str, &str)]) -> Run {
    let command = |json: bool| {
        let mut all = args.to_vec();
        all.push("doctor");
        if json {
            all.push("--json");
        }
        let mut command = fixture.command(&all);
        for var in SCRUBBED {
            command.env_remove(var);
        }
        command.env(SENTINEL.0, SENTINEL.1);
        for (key, value) in env {
            command.env(key, value);
        }
        command.stdin(Stdio::null()).output().unwrap()
    };
    let output = command(true);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let checks = stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let human = command(false);
    assert_eq!(output.status.code(), human.status.code(), "--json and human exit codes differ");
    let stderr = format!(
        "{}\n{}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&human.stdout),
        String::from_utf8_lossy(&human.stderr)
    );
    let run = Run { code: output.status.code().unwrap_or(-1), stdout, stderr, checks };
    run.assert_never_printed(SENTINEL.1);
    run
}

/// A stack with a litellm service (config `config.yaml`) on a free port.
fn proxy_stack(extra: &str) -> Fixture {
    let port = common::free_port();
    let fixture = Fixture::new(&format!(
        "[services.litellm]\nkind = \"litellm\"\nconfig = \"config.yaml\"\nport = {port}\n{extra}"
    ));
    std::fs::write(fixture.file("config.yaml"), CONFIG).unwrap();
    fixture
}

/// The real Python the repository's venv was made from (not a pyenv shim).
fn real_python() -> PathBuf {
    let output =
        std::process::Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().unwrap();
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// A fake venv: `bin/python` linked to the real one, an empty site-packages, and a pyvenv.cfg.
fn fake_venv(dir: &Path) -> PathBuf {
    let venv = dir.join(".venv");
    let site = venv.join("lib/python3.11/site-packages");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::create_dir_all(venv.join("bin")).unwrap();
    symlink(real_python(), venv.join("bin/python")).unwrap();
    std::fs::write(venv.join("pyvenv.cfg"), "home = /usr/bin\nversion_info = 3.11.7\n").unwrap();
    site
}

/// A fake litellm distribution of `version` in a fake venv, with its entry point.
fn fake_litellm(dir: &Path, version: &str) -> PathBuf {
    let site = fake_venv(dir);
    let info = site.join(format!("litellm-{version}.dist-info"));
    std::fs::create_dir_all(&info).unwrap();
    std::fs::write(
        info.join("METADATA"),
        format!("Metadata-Version: 2.1\nName: litellm\nVersion: {version}\nRequires-Python: >=3.8\n\nThe body.\n"),
    )
    .unwrap();
    std::fs::create_dir_all(site.join("litellm/__pycache__")).unwrap();
    let entry = dir.join(".venv/bin/litellm");
    std::fs::write(&entry, format!("#!{}/.venv/bin/python\nimport litellm\n", dir.display())).unwrap();
    site
}

#[test]
fn no_venv() {
    let fixture = proxy_stack("");
    let run = doctor(&fixture, &[], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.expect("venv.exists", "fail", "does not exist", Some("agui-dev setup"));
    assert!(run.stderr.contains("fix: "), "human output has fix lines:\n{}", run.stderr);
    assert!(run.stderr.contains("failed"), "summary line:\n{}", run.stderr);
}

#[test]
fn venv_without_litellm() {
    let fixture = proxy_stack("");
    fake_venv(fixture.path());
    let run = doctor(&fixture, &[], &[]);
    assert_eq!(run.code, 1);
    run.expect("venv.exists", "ok", "exists", None);
    run.expect("venv.python", "ok", "runs", None);
    run.expect("venv.litellm", "fail", "litellm is not installed", Some("'litellm[proxy]'"));
}

#[test]
fn compromised_version() {
    let fixture = proxy_stack("");
    fake_litellm(fixture.path(), "1.82.8");
    let run = doctor(&fixture, &[], &[]);
    assert_eq!(run.code, 1);
    run.expect("venv.compromised", "fail", "1.82.8 is a malicious release", Some("recreate"));
    // The venv's Python is not started: the stealer's hook would run.
    run.expect("venv.python", "warn", "was not run", None);
    run.expect("venv.proxy_extra", "fail", "`fastapi`", Some("litellm[proxy]==1.82.8"));
}

#[test]
fn safe_version_passes_the_venv_checks() {
    let fixture = proxy_stack("");
    fake_litellm(fixture.path(), "1.108.7");
    let run = doctor(&fixture, &[], &[]);
    run.expect("venv.compromised", "ok", "1.108.7", None);
    run.expect("venv.entry_point", "ok", "uses the venv's Python", None);
    run.expect("venv.python_version", "ok", "3.11.7", None);
    run.expect("venv.bytecode", "ok", "compiled", None);
}

#[test]
fn stray_init_hook() {
    let fixture = proxy_stack("");
    let site = fake_venv(fixture.path());
    std::fs::write(site.join("litellm_init.pth"), "import os\n").unwrap();
    let run = doctor(&fixture, &[], &[]);
    assert_eq!(run.code, 1);
    run.expect("venv.init_hook", "fail", "litellm_init.pth", Some("rotate every key"));
    run.expect("venv.python", "warn", "was not run", None);
}

#[test]
fn missing_key_for_a_configured_provider() {
    let fixture = proxy_stack("");
    let openai = "sk-openai-secret-value-987654321";
    // Another provider's key is set, so the missing one only fails when used: a warning.
    let run = doctor(&fixture, &[], &[("OPENAI_API_KEY", openai)]);
    run.expect("keys.model", "warn", "`DEEPSEEK_API_KEY` is not set", Some("export `DEEPSEEK_API_KEY`"));
    let ok = run.expect("keys.model", "ok", "`OPENAI_API_KEY` is set", None);
    assert!(ok["message"].as_str().unwrap().contains("sk-…4321"), "{ok}");
    run.assert_never_printed(openai);

    // The model the AG-UI server uses has no key: a failure.
    let run = doctor(&fixture, &[], &[("OPENAI_API_KEY", openai), ("LITELLM_MODEL", "deepseek-chat")]);
    assert_eq!(run.code, 1);
    let fail = run.expect("keys.model", "fail", "every request fails", Some("DEEPSEEK_API_KEY"));
    assert_eq!(fail["subject"], "deepseek-chat");
    run.assert_never_printed(openai);
}

#[test]
fn placeholder_key() {
    let fixture = proxy_stack("");
    let run = doctor(&fixture, &[], &[("DEEPSEEK_API_KEY", "your-api-key")]);
    assert_eq!(run.code, 1);
    let fail = run.expect("keys.model", "fail", "placeholder", Some("real key"));
    assert_eq!(fail["subject"], "deepseek-chat");
    run.assert_never_printed("your-api-key");
}

#[test]
fn port_held_by_another_process() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let fixture = Fixture::new(&format!(
        "[services.litellm]\nkind = \"litellm\"\nmodel = \"openai/gpt-4o-mini\"\nport = {port}\n"
    ));
    let run = doctor(&fixture, &[], &[]);
    assert_eq!(run.code, 1);
    let pid = std::process::id().to_string();
    run.expect("ports.free", "fail", &format!("pid {pid}"), Some(&format!("kill {pid}")));
    drop(listener);
}

/// A stack with a proxy, an MCP server and an AG-UI server in `agui/`.
fn full_stack(agui_env: &str) -> (Fixture, u16) {
    let (proxy, mcp, agui) = (common::free_port(), common::free_port(), common::free_port());
    let fixture = Fixture::new(&format!(
        r#"
[services.litellm]
kind = "litellm"
config = "config.yaml"
port = {proxy}

[services.mcp]
kind = "mcp"
command = "npm run dev"
port = {mcp}

[services.agui]
kind = "agui"
cwd = "agui"
command = "npm run dev"
port = {agui}
depends_on = ["mcp"]
{agui_env}
"#
    ));
    std::fs::write(fixture.file("config.yaml"), CONFIG).unwrap();
    std::fs::create_dir_all(fixture.file("agui")).unwrap();
    (fixture, proxy)
}

#[test]
fn agui_dotenv_points_at_the_wrong_port() {
    let (fixture, proxy) = full_stack("");
    std::fs::write(
        fixture.file("agui/.env"),
        "LITELLM_ENDPOINT=http://127.0.0.1:9999/v1\nLITELLM_API_KEY=sk-agui-dotenv-key-123456\n",
    )
    .unwrap();
    let run = doctor(&fixture, &[], &[]);
    let check = run.expect("consistency.wiring", "warn", "port 9999", Some(&format!("http://127.0.0.1:{proxy}/v1")));
    assert!(check["message"].as_str().unwrap().contains("agui/.env"), "{check}");
    run.assert_never_printed("sk-agui-dotenv-key-123456");
}

#[test]
fn localhost_in_the_stack_env_fails() {
    let (fixture, _) = full_stack(r#"env = { LITELLM_ENDPOINT = "http://localhost:${services.litellm.port}/v1" }"#);
    let run = doctor(&fixture, &[], &[]);
    assert_eq!(run.code, 1);
    run.expect("consistency.wiring", "fail", "`localhost`", Some("127.0.0.1"));
}

#[test]
fn litellm_model_not_served_by_the_proxy() {
    let (fixture, _) = full_stack("");
    let run = doctor(&fixture, &[], &[("LITELLM_MODEL", "deepseek/deepseek-chat")]);
    assert_eq!(run.code, 1);
    run.expect("consistency.wiring", "fail", "does not serve", Some("LITELLM_MODEL=deepseek-chat"));

    let run = doctor(&fixture, &[], &[("LITELLM_MODEL", "gpt-5")]);
    run.expect("consistency.wiring", "fail", "`gpt-5`", Some("`offline`, `deepseek-chat`, `gpt-4o-mini`"));
}

#[test]
fn master_key_sk_1234() {
    let fixture = proxy_stack("");
    let run = doctor(&fixture, &[], &[("LITELLM_MASTER_KEY", "sk-1234")]);
    assert_eq!(run.code, 1);
    run.expect("litellm.master_key", "fail", "LiteLLM refuses", Some("let agui-dev generate one"));
    run.assert_never_printed("sk-1234");
}

#[test]
fn node_missing_from_path() {
    let (fixture, _) = full_stack("");
    let bin = fixture.file("only-python");
    std::fs::create_dir_all(&bin).unwrap();
    symlink(real_python(), bin.join("python3")).unwrap();
    let run = doctor(&fixture, &[], &[("PATH", bin.to_str().unwrap())]);
    assert_eq!(run.code, 1);
    run.expect("tools.node", "fail", "`node` is not on `PATH`", Some("Node 20"));
    run.expect("tools.npm", "fail", "`npm` is not on `PATH`", None);
    let command = run.find("tools.command", Some("mcp"));
    assert_eq!(command[0]["status"], "fail", "{command:?}");
}

#[test]
fn node_modules_missing() {
    let (fixture, _) = full_stack("");
    std::fs::write(fixture.file("agui/package.json"), r#"{"scripts":{"dev":"tsx watch src/server.ts"}}"#).unwrap();
    std::fs::write(fixture.file("agui/package-lock.json"), "{}").unwrap();
    let run = doctor(&fixture, &[], &[]);
    run.expect("tools.node_modules", "fail", "no node_modules", Some("npm ci --include=dev"));

    std::fs::create_dir_all(fixture.file("agui/node_modules")).unwrap();
    let run = doctor(&fixture, &[], &[("NODE_ENV", "production")]);
    run.expect("tools.tsx", "fail", "`tsx`", Some("npm ci --include=dev"));
    run.expect("tools.node_env", "warn", "NODE_ENV=production", None);
}

#[test]
fn config_pitfalls() {
    let fixture = proxy_stack("");
    std::fs::write(
        fixture.file("config.yaml"),
        r"
model_list:
  - model_name: deepseek
    litellm_params:
      model: deepseek-chat
      api_key: ${DEEPSEEK_API_KEY}
  - model_name: deepseek
    litellm_param:
      model: openai/x
litellm_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
",
    )
    .unwrap();
    let run = doctor(&fixture, &[], &[]);
    assert_eq!(run.code, 1);
    run.expect("litellm.provider_prefix", "fail", "`deepseek-chat`", Some("deepseek/deepseek-chat"));
    run.expect("litellm.env_syntax", "fail", "${DEEPSEEK_API_KEY}", Some("os.environ/DEEPSEEK_API_KEY"));
    run.expect("litellm.model_entry", "fail", "`litellm_param`", Some("`litellm_params`"));
    run.expect("litellm.duplicate_model", "warn", "`deepseek` is listed 2 times", None);
    run.expect("litellm.master_key_location", "fail", "litellm_settings", Some("general_settings"));

    std::fs::write(fixture.file("config.yaml"), "model_list:\n  model_name: x\n").unwrap();
    let run = doctor(&fixture, &[], &[]);
    run.expect("litellm.config", "fail", "not a list", Some("list item"));
}

#[test]
fn database_url_without_prisma() {
    let fixture = proxy_stack("");
    fake_litellm(fixture.path(), "1.108.7");
    let run = doctor(&fixture, &[], &[("DATABASE_URL", "postgres://u:pw@127.0.0.1/db")]);
    run.expect("litellm.database_url", "fail", "prisma is not installed", Some("unset `DATABASE_URL`"));
}

#[test]
fn invalid_stack_file_is_a_failed_check() {
    let fixture = Fixture::new("[services.a]\ncommand = \"true\"\nprot = 3000\n");
    let run = doctor(&fixture, &[], &[]);
    assert_eq!(run.code, 1);
    run.expect("stack.file", "fail", "prot", Some("port"));
}

#[test]
fn no_stack_file_exits_2() {
    let fixture = Fixture::new("");
    let run = doctor(&fixture, &["-f", "missing.toml"], &[]);
    assert_eq!(run.code, 2);
    run.expect("stack.file", "fail", "missing.toml", None);
}

#[test]
fn the_repositorys_own_stack_passes_with_the_offline_warning() {
    let stack = common::repo_root().join("stack.toml");
    let fixture = Fixture::new("");
    // On a fresh clone other tests may be creating the venv right now: set-up waits for them.
    let setup = fixture.command(&["-f", stack.to_str().unwrap(), "setup"]).output().unwrap();
    assert!(setup.status.success(), "{}", String::from_utf8_lossy(&setup.stderr));
    let run = doctor(&fixture, &["-f", stack.to_str().unwrap()], &[]);
    assert_eq!(run.code, 0, "checks:\n{}\nstderr:\n{}", run.stdout, run.stderr);
    run.expect("keys.none", "warn", "the offline model `offline` will answer", Some("DEEPSEEK_API_KEY"));
    assert!(run.stderr.contains("0 failed"), "{}", run.stderr);
}

/// Writes `node_modules/<package>/package.json` under `dir` with a version.
fn install_fake_package(dir: &Path, package: &str, version: &str) {
    let folder = dir.join(package);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("package.json"), format!(r#"{{"name":"{package}","version":"{version}"}}"#)).unwrap();
}

#[test]
fn node_packages_that_do_not_fit_together() {
    let (fixture, _) = full_stack("");
    std::fs::write(fixture.file("agui/package.json"), r#"{"engines":{"node":">=99"}}"#).unwrap();
    let agui_modules = fixture.file("agui/node_modules");
    install_fake_package(&agui_modules, "@ag-ui/core", "1.0.0");
    install_fake_package(&agui_modules.join("@ag-ui/client/node_modules"), "@ag-ui/core", "0.0.39");
    install_fake_package(&agui_modules, "@modelcontextprotocol/sdk", "1.32.2");
    std::fs::write(fixture.file("package.json"), "{}").unwrap();
    install_fake_package(&fixture.file("node_modules"), "@modelcontextprotocol/sdk", "1.20.0");
    let run = doctor(&fixture, &[], &[]);
    assert_eq!(run.code, 1);
    run.expect("tools.engines", "fail", "wants Node `>=99`", Some("nvm install 99"));
    run.expect("tools.agui_versions", "fail", "`@ag-ui/core` are installed: 0.0.39, 1.0.0", Some("npm ls @ag-ui/core"));
    run.expect("tools.mcp_sdk", "warn", "@modelcontextprotocol/sdk 1.20.0", Some("align the SDK versions"));
}

#[test]
fn a_thinking_model_in_a_stack_with_mcp_tools() {
    let (fixture, _) = full_stack("env = { LITELLM_MODEL = \"thinker\" }");
    let config = format!(
        "{CONFIG}  - model_name: thinker\n    litellm_params:\n      model: deepseek/deepseek-reasoner\n      api_key: os.environ/DEEPSEEK_API_KEY\n"
    );
    std::fs::write(fixture.file("config.yaml"), config).unwrap();
    let run = doctor(&fixture, &[], &[("DEEPSEEK_API_KEY", "sk-real-looking-0123456789")]);
    run.expect("litellm.reasoner_tools", "warn", "`thinker` is a thinking model", Some("deepseek/deepseek-chat"));
    run.assert_never_printed("sk-real-looking-0123456789");
}

#[test]
fn a_vulnerable_release_is_a_warning_naming_the_advisory_and_its_fix() {
    let fixture = proxy_stack("");
    fake_litellm(fixture.path(), "1.101.1");
    let run = doctor(&fixture, &[], &[]);
    run.expect("venv.compromised", "ok", "1.101.1 is not a known malicious release", None);
    run.expect(
        "venv.advisories",
        "warn",
        "litellm 1.101.1 is affected by GHSA-7hp6-4w63-5g45: Salt-key privilege escalation",
        Some("'litellm[proxy]>=1.101.3'"),
    );
    run.expect("venv.advisories", "warn", "GHSA-w4c7-34wj-hqm8", Some(">=1.103.10"));
    let salt = run.find("venv.advisories", None);
    assert!(salt.iter().any(|c| c["message"].as_str().unwrap().ends_with("fixed in 1.101.3")), "{salt:?}");
}

#[test]
fn a_compromised_release_is_an_error_naming_the_advisory() {
    let fixture = proxy_stack("");
    fake_litellm(fixture.path(), "1.82.7");
    let run = doctor(&fixture, &[], &[]);
    assert_eq!(run.code, 1);
    run.expect(
        "venv.compromised",
        "fail",
        "litellm 1.82.7 is a malicious release (MAL-2026-2144: ",
        Some("rotate every key"),
    );
    assert!(run.find("venv.advisories", None).is_empty(), "a malicious release is not also listed as vulnerable");
}

#[test]
fn the_pinned_release_is_clear_of_every_advisory() {
    let pinned = common::litellm_pin();
    let fixture = proxy_stack("");
    fake_litellm(fixture.path(), &pinned);
    let run = doctor(&fixture, &[], &[]);
    run.expect("venv.advisories", "ok", &format!("{pinned} is in none of the"), None);
}

#[test]
fn a_protocol_package_that_needs_a_newer_node() {
    let (fixture, _) = full_stack("");
    std::fs::write(fixture.file("agui/package.json"), r#"{"engines":{"node":">=20"}}"#).unwrap();
    let server = fixture.file("agui/node_modules/@modelcontextprotocol/client");
    std::fs::create_dir_all(&server).unwrap();
    std::fs::write(
        server.join("package.json"),
        r#"{"name":"@modelcontextprotocol/client","version":"9.0.0","engines":{"node":"^98.1 || >=99"}}"#,
    )
    .unwrap();
    let run = doctor(&fixture, &[], &[]);
    assert_eq!(run.code, 1);
    run.expect(
        "tools.engines",
        "fail",
        "`@modelcontextprotocol/client` 9.0.0 wants Node `^98.1 || >=99`",
        Some("nvm install 98"),
    );
}

/// Doctor's live MCP check against a server that speaks only the 2025-era handshake (the
/// fixture, started here and stopped by its pid): it passes and names the era.
#[test]
fn the_live_mcp_check_names_the_2025_era_of_a_legacy_server() {
    let port = common::free_port();
    let fixture =
        Fixture::new(&format!("[services.mcp]\nkind = \"mcp\"\ncommand = \"node server.mjs\"\nport = {port}\n"));
    let mut server = std::process::Command::new("node");
    server
        .arg(common::repo_root().join("tests/fixtures/mcp-legacy/server.mjs"))
        .env("PORT", port.to_string())
        .env("AGUI_TEST_MARKER", &fixture.marker);
    let server = fixture.spawn_command(server);
    server.stdout.wait_for("mcp-legacy listening");
    let run = doctor(&fixture, &[], &[]);
    run.expect("running.mcp", "ok", "MCP 2025-11-25 (2025 era: initialize + session) works: 1 tools", None);
    run.expect("running.mcp", "ok", "it does not answer `server/discover`", None);
    run.expect("running.mcp_cors", "warn", "does not expose `Mcp-Session-Id`", None);
    // No CORS at all, and a Host check on `/mcp`: both foreign-page probes pass.
    run.expect(
        "running.cross-origin",
        "ok",
        "`OPTIONS /mcp` with `Origin: http://agui-dev-probe.invalid` answered 405 without allowing it",
        None,
    );
    run.expect("running.dns-rebinding", "ok", "was refused (403)", None);
    server.signal(nix::sys::signal::Signal::SIGTERM);
}

/// Doctor's live MCP check against a server that lists its tools on three pages (`nextCursor`),
/// in either era: every tool is named, not only the first page's.
#[test]
fn the_live_mcp_check_names_every_page_of_tools() {
    for (sdk, era) in [("v2", "MCP 2026-07-28 (server/discover"), ("v1", "MCP 2025-11-25 (2025 era")] {
        let fixture = Fixture::new(&common::paged_mcp_stack(sdk, common::free_port()));
        let (code, _, stderr) = fixture.run(&["up", "-d"]);
        assert_eq!(code, 0, "{sdk}: {stderr}");
        let run = doctor(&fixture, &[], &[]);
        let all = common::PAGED_TOOLS.join(", ");
        let check = run.expect("running.mcp", "ok", &format!(" works: 5 tools ({all})"), None);
        assert!(check["message"].as_str().unwrap().starts_with(era), "{sdk}: {check}");
        let (code, _, stderr) = fixture.run(&["down"]);
        assert_eq!(code, 0, "{sdk}: {stderr}");
        assert_eq!(fixture.survivors(), Vec::<i32>::new());
    }
}
