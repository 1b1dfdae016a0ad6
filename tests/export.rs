#![allow(clippy::unwrap_used, clippy::print_stderr)]
//! `agui-dev export compose|k8s` on the repository's stack and on a fixture using every feature:
//! the output is validated against the compose-spec JSON schema (check-jsonschema's vendored copy)
//! and the Kubernetes API's JSON schemas (kubernetes-validate, strict), parsed and checked for
//! structure, and searched for every secret value the fixture sets. The validators are pinned
//! with hashes in `tests/export/validators.txt` and installed once into `target/` by the test.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Fixture, repo_root};
use serde_norway::Value;

/// The venv holding the validators, installed on first use under a lock (tests run in parallel
/// processes). It fails, never skips, when they cannot be installed.
fn validators() -> PathBuf {
    use nix::fcntl::{Flock, FlockArg};
    let target = Path::new(common::BIN).parent().unwrap().parent().unwrap().to_path_buf();
    let venv = target.join("export-validators");
    let requirements = repo_root().join("tests/export/validators.txt");
    let pins = std::fs::read_to_string(&requirements).unwrap();
    let lock_file = std::fs::File::create(target.join("export-validators.lock")).unwrap();
    let _lock = Flock::lock(lock_file, FlockArg::LockExclusive).map_err(|(_, e)| e).unwrap();
    let stamp = venv.join("installed-from.txt");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == pins) {
        return venv;
    }
    let _ = std::fs::remove_dir_all(&venv);
    let run = |command: &mut Command, what: &str| {
        let output = command.output().unwrap_or_else(|e| {
            panic!("cannot {what}: {e}\nthe export tests need python3 with venv and pip, and PyPI for the pinned validators")
        });
        assert!(
            output.status.success(),
            "cannot {what} ({}):\n{}\n{}\nthe export tests need python3 with venv and pip, and PyPI for the pinned validators",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    };
    run(Command::new("python3").args(["-m", "venv"]).arg(&venv), "create the validators' venv");
    run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "--require-hashes", "-r"])
            .arg(&requirements),
        "install check-jsonschema and kubernetes-validate from tests/export/validators.txt",
    );
    std::fs::write(&stamp, pins).unwrap();
    venv
}

fn validate_compose(venv: &Path, file: &Path) {
    let output = Command::new(venv.join("bin/check-jsonschema"))
        .args(["--builtin-schema", "vendor.compose-spec"])
        .arg(file)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "compose-spec rejects {}:\n{text}", file.display());
}

/// Every manifest against the oldest and the newest Kubernetes the package ships schemas for,
/// rejecting unknown fields.
fn validate_k8s(venv: &Path, dir: &Path) -> usize {
    let manifests: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    assert!(!manifests.is_empty());
    for version in ["1.30.0", "1.37.0"] {
        let output = Command::new(venv.join("bin/kubernetes-validate"))
            .args(["--strict", "-k", version])
            .args(&manifests)
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "Kubernetes {version} schemas reject the manifests:\n{text}");
        assert!(!text.contains("ERROR") && text.contains("passed"), "{text}");
    }
    manifests.len()
}

fn yaml_docs(path: &Path) -> Vec<Value> {
    use serde::Deserialize;
    let text = std::fs::read_to_string(path).unwrap();
    serde_norway::Deserializer::from_str(&text).map(|d| Value::deserialize(d).unwrap()).collect()
}

fn doc(docs: &[Value], kind: &str) -> Value {
    docs.iter().find(|d| d["kind"].as_str() == Some(kind)).unwrap_or_else(|| panic!("no {kind}")).clone()
}

fn env_of(container: &Value, name: &str) -> Value {
    container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no env {name} in {container:?}"))
        .clone()
}

fn all_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(all_files(&path));
        } else {
            files.push((path.clone(), std::fs::read_to_string(&path).unwrap()));
        }
    }
    files
}

fn export(fixture: &Fixture, file: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut command = fixture.offline_command(&[&["-f", file.to_str().unwrap(), "export"], args].concat());
    command.env("LITELLM_MASTER_KEY", "sk-master-key-from-the-process-0003");
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    stderr
}

#[test]
fn the_repository_stack_exports_valid_compose_and_kubernetes() {
    let venv = validators();
    let fixture = Fixture::new("");
    let out = fixture.path();
    let stack = repo_root().join("stack.toml");
    export(&fixture, &stack, &["compose", "-o", out.join("compose.yaml").to_str().unwrap()], &[]);
    export(&fixture, &stack, &["k8s", "-o", out.join("k8s").to_str().unwrap()], &[]);
    validate_compose(&venv, &out.join("compose.yaml"));
    assert_eq!(validate_k8s(&venv, &out.join("k8s")), 4, "secret, litellm, mcp, agui");

    // LiteLLM's official image at the version the venv is pinned to.
    let requirements = std::fs::read_to_string(repo_root().join("templates/litellm/requirements.txt")).unwrap();
    let pin = requirements.lines().find_map(|l| l.strip_prefix("litellm==")).unwrap().trim_end_matches(" \\");
    let compose = &yaml_docs(&out.join("compose.yaml"))[0];
    let services = &compose["services"];
    assert_eq!(services["litellm"]["image"].as_str().unwrap(), format!("ghcr.io/berriai/litellm:main-v{pin}"));
    let command: Vec<&str> =
        services["litellm"]["command"].as_sequence().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert_eq!(command, ["--config", "/etc/litellm/config.yaml", "--host", "0.0.0.0", "--port", "4000"]);
    assert!(services["litellm"]["volumes"][0].as_str().unwrap().ends_with("templates/litellm:/etc/litellm:ro"));
    assert_eq!(services["litellm"]["ports"][0].as_str(), Some("127.0.0.1:4000:4000"));
    assert_eq!(
        services["litellm"]["environment"]["LITELLM_MASTER_KEY"].as_str().unwrap(),
        "${LITELLM_MASTER_KEY:?set LITELLM_MASTER_KEY in .env (see .env.example)}"
    );
    // Every service has a health check in a program its image has, never curl.
    // The start period is the service's ready timeout: LiteLLM's kind gives it 3 minutes.
    for (name, program, start) in [("litellm", "python3", "180s"), ("mcp", "node", "60s"), ("agui", "node", "60s")] {
        let check = &services[name]["healthcheck"];
        // One shell line: Podman's Docker API splits exec-form arguments on spaces.
        assert_eq!(check["test"][0].as_str(), Some("CMD-SHELL"), "{name}");
        assert!(check["test"][1].as_str().unwrap().starts_with(&format!("{program} ")), "{name}");
        assert_eq!(check["start_period"].as_str(), Some(start), "{name}");
        assert!(check["start_interval"].is_null(), "compose refuses it below Docker Engine 25");
        assert!(!format!("{check:?}").contains("curl"));
    }
    assert!(services["litellm"]["healthcheck"]["test"][1].as_str().unwrap().contains("/health/readiness"));
    assert_eq!(services["agui"]["depends_on"]["mcp"]["condition"].as_str(), Some("service_healthy"));
    // Wiring points at service names: inside a container 127.0.0.1 is the container itself.
    let agui_env = &services["agui"]["environment"];
    assert_eq!(agui_env["LITELLM_ENDPOINT"].as_str(), Some("http://litellm:4000/v1"));
    assert_eq!(agui_env["MCP_SERVER_URL"].as_str(), Some("http://mcp:3100/mcp"));
    assert_eq!(agui_env["HOST"].as_str(), Some("0.0.0.0"));
    assert!(agui_env["LITELLM_API_KEY"].as_str().unwrap().starts_with("${LITELLM_MASTER_KEY:?"));
    // Inside the network the templates are called by their service's name, which their Host
    // check must accept (MCP_ALLOWED_HOSTS: the older name, for older copies of the template).
    assert_eq!(agui_env["AGUI_ALLOWED_HOSTS"].as_str(), Some("agui"));
    assert_eq!(services["mcp"]["environment"]["AGUI_ALLOWED_HOSTS"].as_str(), Some("mcp"));
    assert_eq!(services["mcp"]["environment"]["MCP_ALLOWED_HOSTS"].as_str(), Some("mcp"));
    let dockerfile = built_dockerfile(&out.join("compose.yaml"), &services["mcp"]);
    assert!(services["mcp"]["build"]["dockerfile_inline"].is_null(), "the classic builder cannot take it");
    assert!(dockerfile.contains("FROM node:24-bookworm-slim\n"), "engines >=20: newest LTS\n{dockerfile}");
    assert!(
        dockerfile.contains("RUN npm ci --omit=dev && mkdir -p node_modules\n")
            && dockerfile.contains("CMD [\"npm\", \"start\"]")
    );
    let example = std::fs::read_to_string(out.join(".env.example")).unwrap();
    for key in ["LITELLM_MASTER_KEY=", "DEEPSEEK_API_KEY=", "OPENAI_API_KEY=", "ANTHROPIC_API_KEY=", "GEMINI_API_KEY="]
    {
        assert!(example.lines().any(|l| l == key), "{key} in\n{example}");
    }

    // Kubernetes: the config as a ConfigMap with its Python module, probes from `ready`, the
    // master key from the Secret, and an init container holding AG-UI back until MCP is ready.
    let litellm = yaml_docs(&out.join("k8s/litellm.yaml"));
    let config_map = doc(&litellm, "ConfigMap");
    assert!(config_map["data"]["config.yaml"].as_str().unwrap().contains("model_list:"));
    assert!(config_map["data"]["offline_tools.py"].is_string());
    let proxy = &doc(&litellm, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(proxy["startupProbe"]["httpGet"]["path"].as_str(), Some("/health/readiness"));
    assert_eq!(proxy["readinessProbe"]["httpGet"]["port"].as_u64(), Some(4000));
    assert_eq!(proxy["startupProbe"]["failureThreshold"].as_u64(), Some(180), "the ready timeout, in 1 s periods");
    let master = env_of(proxy, "LITELLM_MASTER_KEY");
    assert_eq!(master["valueFrom"]["secretKeyRef"]["name"].as_str(), Some("agui-dev-secrets"));
    assert_eq!(master["valueFrom"]["secretKeyRef"]["key"].as_str(), Some("LITELLM_MASTER_KEY"));
    assert_eq!(env_of(proxy, "DEEPSEEK_API_KEY")["valueFrom"]["secretKeyRef"]["optional"].as_bool(), Some(true));
    let agui = yaml_docs(&out.join("k8s/agui.yaml"));
    let pod = &doc(&agui, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["initContainers"][0]["name"].as_str(), Some("wait-for-mcp"));
    assert!(pod["initContainers"][0]["command"][2].as_str().unwrap().contains("http://mcp:3100/health"));
    let container = &pod["containers"][0];
    assert_eq!(
        env_of(container, "LITELLM_API_KEY")["valueFrom"]["secretKeyRef"]["key"].as_str(),
        Some("LITELLM_MASTER_KEY")
    );
    assert_eq!(env_of(container, "MCP_SERVER_URL")["value"].as_str(), Some("http://mcp:3100/mcp"));
    assert_eq!(env_of(container, "AGUI_ALLOWED_HOSTS")["value"].as_str(), Some("agui"));
    // The kubelet would send the pod's IP as Host, which the templates refuse: the probe sends
    // the Host of the stack's own ready URL.
    let probe = &container["readinessProbe"]["httpGet"];
    assert_eq!(probe["path"].as_str(), Some("/health"), "{probe:?}");
    assert_eq!(probe["httpHeaders"][0]["name"].as_str(), Some("Host"), "{probe:?}");
    assert_eq!(probe["httpHeaders"][0]["value"].as_str(), Some("127.0.0.1:3000"), "{probe:?}");
    let mcp_pod =
        &doc(&yaml_docs(&out.join("k8s/mcp.yaml")), "Deployment")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(env_of(mcp_pod, "AGUI_ALLOWED_HOSTS")["value"].as_str(), Some("mcp"));
    assert_eq!(mcp_pod["startupProbe"]["httpGet"]["httpHeaders"][0]["value"].as_str(), Some("127.0.0.1:3100"));
    assert_eq!(doc(&agui, "Service")["spec"]["ports"][0]["port"].as_u64(), Some(3000));
    let secret = doc(&yaml_docs(&out.join("k8s/secret.yaml")), "Secret");
    for (_, value) in secret["stringData"].as_mapping().unwrap() {
        assert_eq!(value.as_str(), Some(""), "the Secret has keys and no values");
    }
    assert!(out.join("k8s/agui.Dockerfile").is_file());

    for (path, text) in all_files(out) {
        assert!(!text.contains("sk-master-key-from-the-process-0003"), "the master key is in {}", path.display());
    }
}

/// The generated Dockerfile a compose service builds from: `build.dockerfile` is relative to the
/// build context, which is relative to the compose file.
fn built_dockerfile(compose: &Path, service: &Value) -> String {
    let build = &service["build"];
    let context = compose.parent().unwrap().join(build["context"].as_str().unwrap());
    let path = context.join(build["dockerfile"].as_str().expect("a Dockerfile beside the compose file"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The secret-named variables of a compose service's environment, and of a Kubernetes
/// container's (by name, whether a value or a `secretKeyRef`).
fn secret_vars(env: &Value) -> Vec<String> {
    let names: Vec<String> = match env {
        Value::Mapping(map) => map.keys().filter_map(|k| k.as_str().map(str::to_owned)).collect(),
        Value::Sequence(list) => list.iter().filter_map(|e| e["name"].as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    };
    let secret =
        |n: &str| n.ends_with("_KEY") || n.ends_with("_TOKEN") || n.contains("SECRET") || n.contains("PASSWORD");
    let mut names: Vec<String> = names.into_iter().filter(|n| secret(n)).collect();
    names.sort();
    names
}

/// Every `secretKeyRef` key a Kubernetes container reads.
fn secret_refs(container: &Value) -> Vec<String> {
    container["env"]
        .as_sequence()
        .map(|env| {
            env.iter().filter_map(|e| e["valueFrom"]["secretKeyRef"]["key"].as_str().map(str::to_owned)).collect()
        })
        .unwrap_or_default()
}

/// Issue 19: with a provider key and the master key in the stack-level `.env`, the exports give
/// the MCP server no secret and the AG-UI server only its client key (from the master key's
/// secret); the proxy gets both.
#[test]
fn exports_give_each_container_only_the_secrets_it_uses() {
    let root = repo_root().display().to_string();
    let fixture = Fixture::new(&format!(
        r#"
[stack]
name = "scoped"
env_files = [".env"]

[services.litellm]
kind = "litellm"
config = "{root}/templates/litellm/config.yaml"
port = 4000

[services.mcp]
kind = "mcp"
cwd = "{root}/templates/mcp-server"
command = "npm run dev"
port = 3100

[services.agui]
kind = "agui"
cwd = "{root}/templates/agui-server"
command = "npm run dev"
port = 3000
depends_on = ["mcp"]
"#
    ));
    let (provider, master) = ("sk-test-deepseek-export-0006", "sk-test-master-export-0007");
    std::fs::write(fixture.file(".env"), format!("DEEPSEEK_API_KEY={provider}\nLITELLM_MASTER_KEY={master}\n"))
        .unwrap();
    let stack = fixture.file("stack.toml");
    let out = fixture.file("out");
    let mut command = fixture.offline_command(&[
        "-f",
        stack.to_str().unwrap(),
        "export",
        "compose",
        "-o",
        out.join("compose.yaml").to_str().unwrap(),
    ]);
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut command = fixture.offline_command(&[
        "-f",
        stack.to_str().unwrap(),
        "export",
        "k8s",
        "-o",
        out.join("k8s").to_str().unwrap(),
    ]);
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let compose = &yaml_docs(&out.join("compose.yaml"))[0]["services"];
    assert_eq!(secret_vars(&compose["mcp"]["environment"]), Vec::<String>::new(), "{:?}", compose["mcp"]);
    assert_eq!(secret_vars(&compose["agui"]["environment"]), ["LITELLM_API_KEY"]);
    assert!(compose["agui"]["environment"]["LITELLM_API_KEY"].as_str().unwrap().starts_with("${LITELLM_MASTER_KEY:?"));
    let proxy = secret_vars(&compose["litellm"]["environment"]);
    assert!(
        proxy.contains(&"DEEPSEEK_API_KEY".to_owned()) && proxy.contains(&"LITELLM_MASTER_KEY".to_owned()),
        "{proxy:?}"
    );

    let container = |name: &str| {
        doc(&yaml_docs(&out.join(format!("k8s/{name}.yaml"))), "Deployment")["spec"]["template"]["spec"]["containers"]
            [0]
        .clone()
    };
    let (mcp, agui, litellm) = (container("mcp"), container("agui"), container("litellm"));
    assert_eq!(secret_vars(&mcp["env"]), Vec::<String>::new(), "{mcp:?}");
    assert_eq!(secret_refs(&mcp), Vec::<String>::new(), "{mcp:?}");
    assert_eq!(secret_vars(&agui["env"]), ["LITELLM_API_KEY"]);
    assert_eq!(secret_refs(&agui), ["LITELLM_MASTER_KEY"], "the client key comes from the master key's secret");
    let refs = secret_refs(&litellm);
    assert!(
        refs.contains(&"DEEPSEEK_API_KEY".to_owned()) && refs.contains(&"LITELLM_MASTER_KEY".to_owned()),
        "{refs:?}"
    );
    for (path, text) in all_files(&out) {
        assert!(!text.contains(provider) && !text.contains(master), "a key's value is in {}", path.display());
    }
}

const FIXTURE: &str = r#"
[stack]
name = "Every_Feature"
env_files = [".env"]

[services.litellm]
kind = "litellm"
config = "proxy/config.yaml"
port = 14000

[services.mcp]
kind = "mcp"
cwd = "mcp"
command = "npm run dev"
port = 13100

[services.agui]
kind = "agui"
cwd = "agui"
command = "npm run dev"
port = 13000
depends_on = ["mcp", "litellm", "tools_api"]
env = { GITHUB_TOKEN = "${GITHUB_TOKEN}", AUTH_HEADER = "Bearer ${SERVICE_TOKEN}", TOOLS_URL = "http://127.0.0.1:${services.tools_api.port}/v1", DB_URL = "postgres://127.0.0.1:5432/app", PRICE = "$$5", NOTE = "$(not a reference)" }

[services.tools_api]
cwd = "tools"
command = "pnpm start"
port = 13200
ready = { tcp = "127.0.0.1:13200", timeout = "30s" }
restart = "on-failure"
max_restarts = 3
stop_signal = "SIGINT"
stop_grace = "2s"

[services.worker]
cwd = "worker"
command = "node worker.js"
port = 13300
ready = { log = "worker started" }
depends_on = ["jobs", "migrate"]
env = { SCRAPER_URL = "http://127.0.0.1:${services.scraper.port}/feed" }

[services.jobs]
cwd = "jobs"
command = "./run-jobs"
port = 13400
ready = { exec = "/opt/host-only/check-jobs --quick" }

[services.gadget]
command = "gadget --serve"
ready = { exec = "gadget-health" }
restart = "always"

[services.search]
kind = "mcp"
cwd = "search"
command = "npm run dev"
port = "auto"
watch = ["src/**/*.ts"]

[services.scraper]
cwd = "scraper"
command = "npm start"
port = "auto"

[services.migrate]
cwd = "migrate"
command = "npm run migrate"
task = true
restart = "on-failure"
max_restarts = 2
"#;

const SECRETS: &[&str] = &[
    "sk-deepseek-fixture-secret-0001",
    "ghp_fixture_token_value_0002",
    "sk-master-key-from-the-process-0003",
    "tok-process-secret-0004",
];

fn every_feature() -> Fixture {
    let fixture = Fixture::new(FIXTURE);
    let write = |path: &str, text: &str| {
        let path = fixture.file(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(".env", "DEEPSEEK_API_KEY=sk-deepseek-fixture-secret-0001\nGITHUB_TOKEN=ghp_fixture_token_value_0002\n");
    write(
        "proxy/config.yaml",
        "model_list:\n  - model_name: offline\n    litellm_params: { model: openai/offline, mock_response: hi }\n  \
         - model_name: deepseek-chat\n    litellm_params: { model: deepseek/deepseek-chat, api_key: os.environ/DEEPSEEK_API_KEY }\n  \
         - model_name: azure-gpt\n    litellm_params: { model: azure/gpt-4o, api_key: os.environ/AZURE_API_KEY, api_base: os.environ/AZURE_API_BASE }\n\
         litellm_settings:\n  custom_provider_map:\n    - { provider: mine, custom_handler: handler.handler }\n",
    );
    write("proxy/handler.py", "handler = None\n");
    write("proxy/requirements.txt", "litellm[proxy]==1.108.7 \\\n    --hash=sha256:00\n");
    let package = |engines: Option<&str>, start: bool| {
        let engines = engines.map(|e| format!(r#""engines": {{"node": "{e}"}},"#)).unwrap_or_default();
        let scripts = if start {
            r#""scripts": {"start": "node server.js", "dev": "node --watch server.js"}"#
        } else {
            r#""scripts": {}"#
        };
        format!(r#"{{"name": "x", {engines} {scripts}}}"#)
    };
    write("mcp/package.json", &package(Some("^22"), true));
    write("mcp/package-lock.json", "{}");
    write("agui/package.json", &package(Some(">=20"), true));
    write("agui/package-lock.json", "{}");
    write("tools/package.json", &package(None, true));
    write("tools/pnpm-lock.yaml", "lockfileVersion: '9.0'\n");
    write("worker/package.json", &package(Some(">=18 <23"), false));
    write("worker/yarn.lock", "");
    write("jobs/Dockerfile", "FROM debian:bookworm-slim\nCMD [\"/run-jobs\"]\n");
    for dir in ["search", "scraper", "migrate"] {
        write(&format!("{dir}/package.json"), &package(Some(">=20"), true));
        write(&format!("{dir}/package-lock.json"), "{}");
    }
    fixture
}

#[test]
fn a_stack_using_every_feature_exports_valid_files_with_warnings_and_no_secret() {
    let venv = validators();
    let fixture = every_feature();
    let stack = fixture.file("stack.toml");
    let out = tempfile::tempdir().unwrap();
    let env = [("SERVICE_TOKEN", "tok-process-secret-0004")];
    let compose_path = out.path().join("deploy/compose.yaml");
    let compose_err = export(&fixture, &stack, &["compose", "-o", compose_path.to_str().unwrap()], &env);
    let k8s_err = export(&fixture, &stack, &["k8s", "-o", out.path().join("k8s").to_str().unwrap()], &env);
    validate_compose(&venv, &compose_path);
    assert_eq!(validate_k8s(&venv, &out.path().join("k8s")), 11, "a Secret and one file per service");

    // What cannot be carried is a warning naming the service and key.
    for warning in [
        "warning: `services.worker.ready`: a `log` probe (`worker started`) has no counterpart",
        "warning: `services.jobs.ready`: the `exec` probe runs `/opt/host-only/check-jobs`, a path on this machine",
        "warning: `services.agui.env.DB_URL`: `127.0.0.1:5432` is this machine",
        "warning: `services.gadget.command`: agui-dev knows no image for this plain process",
        "warning: `services.worker.command`: ",
    ] {
        assert!(compose_err.contains(warning), "{warning}\n{compose_err}");
    }
    for warning in [
        "warning: `services.tools_api.name`: Kubernetes names allow only lowercase letters, digits and `-`; the service is named `tools-api`",
        "warning: `services.tools_api.stop_signal`: Kubernetes stops containers with SIGTERM; `SIGINT` is not carried",
        "warning: `services.worker.ready`: a `log` probe",
    ] {
        assert!(k8s_err.contains(warning), "{warning}\n{k8s_err}");
    }
    // `watch` and `port = "auto"`, whole lines: the service, the key, what the export did and the fix.
    let auto = |service: &str, port: u16, why: &str| {
        format!(
            "warning: `services.{service}.port`: `\"auto\"` picks a free port each time the stack starts, which the exported files cannot follow; the export uses {port}, {why}, so every export of this file is the same (set a fixed `port` to choose another)"
        )
    };
    let watch = "warning: `services.search.watch`: restarting on file changes is agui-dev's own; the image holds a copy of the source, so rebuild it after a change";
    for (stderr, instead) in [
        (&compose_err, "(compose's own `develop.watch` can rebuild on change; it is not generated)"),
        (&k8s_err, "(a tool such as Skaffold or Tilt can rebuild and redeploy on change)"),
    ] {
        for line in [
            format!("{watch} {instead}"),
            auto("search", 3100, "the default port of kind `mcp`"),
            auto("scraper", SCRAPER_PORT, "a port derived from the service's name"),
        ] {
            assert!(stderr.lines().any(|l| l == line), "{line}\n{stderr}");
        }
    }
    let task_order = "warning: `services.worker.depends_on`: `migrate` is a task, a Job here, and nothing in a pod can wait for a Job to complete; `worker` starts at once and relies on its own retries (to keep the order, apply `migrate.yaml` first and `kubectl wait --for=condition=complete job/migrate`)";
    assert!(k8s_err.lines().any(|l| l == task_order), "{k8s_err}");
    assert!(!compose_err.contains("is a task"), "compose carries a task's ordering\n{compose_err}");

    // No secret value anywhere: not in the files, not in what was printed.
    for (path, text) in all_files(out.path()) {
        for secret in SECRETS {
            assert!(!text.contains(secret), "a secret value is in {}", path.display());
        }
    }
    for secret in SECRETS {
        assert!(!compose_err.contains(secret) && !k8s_err.contains(secret));
    }

    let compose = &yaml_docs(&compose_path)[0];
    assert_eq!(compose["name"].as_str(), Some("every-feature"));
    let s = &compose["services"];
    let agui_env = &s["agui"]["environment"];
    assert!(agui_env["GITHUB_TOKEN"].as_str().unwrap().starts_with("${GITHUB_TOKEN:?"));
    assert!(agui_env["AUTH_HEADER"].as_str().unwrap().starts_with("Bearer ${SERVICE_TOKEN:?"));
    assert_eq!(agui_env["TOOLS_URL"].as_str(), Some("http://tools_api:13200/v1"));
    assert_eq!(agui_env["LITELLM_ENDPOINT"].as_str(), Some("http://litellm:14000/v1"));
    assert_eq!(agui_env["PRICE"].as_str(), Some("$$5"), "a literal `$` is escaped for compose");
    // The stack's `.env` secrets stay with the proxy; `agui` named `GITHUB_TOKEN` and
    // `SERVICE_TOKEN` in its `env`, besides its client key.
    assert_eq!(secret_vars(agui_env), ["GITHUB_TOKEN", "LITELLM_API_KEY"]);
    for name in ["mcp", "search", "tools_api", "worker", "jobs", "gadget", "scraper", "migrate"] {
        assert_eq!(secret_vars(&s[name]["environment"]), Vec::<String>::new(), "{name}: {:?}", s[name]["environment"]);
    }
    let proxy_env = &s["litellm"]["environment"];
    assert_eq!(proxy_env["DEEPSEEK_API_KEY"].as_str(), Some("${DEEPSEEK_API_KEY:-}"), "provider keys are optional");
    assert_eq!(proxy_env["AZURE_API_BASE"].as_str(), Some("${AZURE_API_BASE:-}"));
    assert_eq!(proxy_env["AZURE_API_KEY"].as_str(), Some("${AZURE_API_KEY:-}"));
    assert!(s["litellm"]["volumes"][0].as_str().unwrap().ends_with("/proxy:/etc/litellm:ro"));
    for (dep, condition) in
        [("mcp", "service_healthy"), ("litellm", "service_healthy"), ("tools_api", "service_healthy")]
    {
        assert_eq!(s["agui"]["depends_on"][dep]["condition"].as_str(), Some(condition), "{dep}");
    }
    assert_eq!(
        s["worker"]["depends_on"]["jobs"]["condition"].as_str(),
        Some("service_started"),
        "jobs has no usable probe"
    );
    // A task: run once (retried on failure as `restart` says), and its dependents start when it
    // exits 0. It runs its own command, not the `start` script.
    assert_eq!(s["worker"]["depends_on"]["migrate"]["condition"].as_str(), Some("service_completed_successfully"));
    assert_eq!(s["migrate"]["restart"].as_str(), Some("on-failure:2"));
    assert!(s["migrate"]["healthcheck"].is_null() && s["migrate"]["ports"].is_null());
    // `port = "auto"`: the kind's default port, or one derived from the name, in every place.
    assert_eq!(s["search"]["ports"][0].as_str(), Some("127.0.0.1:3100:3100"));
    assert_eq!(s["search"]["environment"]["PORT"].as_str(), Some("3100"));
    assert_eq!(s["scraper"]["ports"][0].as_str(), Some(format!("127.0.0.1:{SCRAPER_PORT}:{SCRAPER_PORT}").as_str()));
    assert_eq!(
        s["worker"]["environment"]["SCRAPER_URL"].as_str(),
        Some(format!("http://scraper:{SCRAPER_PORT}/feed").as_str()),
        "`${{services.scraper.port}}` sees the exported port"
    );
    assert!(s["search"]["develop"].is_null(), "`watch` is not carried");
    assert!(s["jobs"]["healthcheck"].is_null());
    assert_eq!(
        s["gadget"]["healthcheck"]["test"][1].as_str(),
        Some("gadget-health"),
        "an exec probe without host paths is carried"
    );
    assert_eq!(s["gadget"]["restart"].as_str(), Some("always"));
    assert_eq!(s["tools_api"]["restart"].as_str(), Some("on-failure:3"));
    assert_eq!(s["tools_api"]["stop_signal"].as_str(), Some("SIGINT"));
    assert_eq!(s["tools_api"]["stop_grace_period"].as_str(), Some("2s"));
    assert_eq!(s["tools_api"]["healthcheck"]["start_period"].as_str(), Some("30s"));
    assert!(s["tools_api"]["healthcheck"]["test"][1].as_str().unwrap().contains("connect(13200, \"127.0.0.1\")"));
    assert!(
        s["worker"]["healthcheck"]["test"][1].as_str().unwrap().contains("connect(13300"),
        "log probe: TCP stands in"
    );
    let gadget_check: Vec<&str> =
        s["gadget"]["healthcheck"]["test"].as_sequence().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert_eq!(gadget_check, ["CMD", "gadget-health"], "arguments without spaces stay exec-form: no shell needed");
    assert!(s["jobs"]["build"]["dockerfile"].is_null(), "the project's own Dockerfile is used");
    let inline = |name: &str| built_dockerfile(Path::new(&compose_path), &s[name]);
    assert!(inline("mcp").contains("FROM node:22-bookworm-slim"), "engines ^22");
    assert!(inline("worker").contains("FROM node:22-bookworm-slim"), "engines >=18 <23");
    assert!(inline("tools_api").contains("FROM node:24-bookworm-slim"), "no engines: newest LTS");
    assert!(inline("tools_api").contains("RUN corepack enable && pnpm install --frozen-lockfile"));
    assert!(inline("tools_api").contains("COPY package.json pnpm-lock.yaml ./"));
    assert!(inline("tools_api").contains("CMD [\"pnpm\", \"start\"]"));
    assert!(inline("worker").contains("RUN corepack enable && yarn install --frozen-lockfile"));
    assert!(inline("worker").contains("CMD [\"node\", \"worker.js\"]"), "no start script: the stack's command");
    assert!(inline("migrate").contains("CMD [\"npm\", \"run\", \"migrate\"]"), "a task: its own command");
    assert!(
        Path::new(&compose_path)
            .parent()
            .unwrap()
            .join(s["mcp"]["build"]["context"].as_str().unwrap())
            .join("package.json")
            .is_file()
    );
    // The classic builder reads only the context's own `.dockerignore`: one is written where
    // there was none, so host modules and env files stay out of the build.
    let context = Path::new(&compose_path).parent().unwrap().join(s["mcp"]["build"]["context"].as_str().unwrap());
    let ignore = std::fs::read_to_string(context.join(".dockerignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "node_modules") && ignore.lines().any(|l| l == ".env"), "{ignore}");

    let example = std::fs::read_to_string(compose_path.parent().unwrap().join(".env.example")).unwrap();
    for line in example.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        assert!(line.ends_with('='), "a value in .env.example: {line}");
    }
    for key in ["GITHUB_TOKEN", "SERVICE_TOKEN", "LITELLM_MASTER_KEY", "DEEPSEEK_API_KEY", "AZURE_API_BASE"] {
        assert!(example.lines().any(|l| l == format!("{key}=")), "{key}\n{example}");
    }

    // Kubernetes: names made valid, secrets through secretKeyRef, `$(…)` for a secret inside a
    // value (after that secret's own entry), init containers for each dependency.
    let k8s = out.path().join("k8s");
    let agui = yaml_docs(&k8s.join("agui.yaml"));
    let pod = &doc(&agui, "Deployment")["spec"]["template"]["spec"];
    let waits: Vec<&str> =
        pod["initContainers"].as_sequence().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(waits, ["wait-for-mcp", "wait-for-litellm", "wait-for-tools-api"]);
    let container = &pod["containers"][0];
    assert_eq!(env_of(container, "TOOLS_URL")["value"].as_str(), Some("http://tools-api:13200/v1"));
    assert_eq!(
        env_of(container, "GITHUB_TOKEN")["valueFrom"]["secretKeyRef"]["name"].as_str(),
        Some("every-feature-secrets")
    );
    assert_eq!(env_of(container, "AUTH_HEADER")["value"].as_str(), Some("Bearer $(SERVICE_TOKEN)"));
    assert_eq!(env_of(container, "NOTE")["value"].as_str(), Some("$$(not a reference)"));
    let names: Vec<&str> =
        container["env"].as_sequence().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    let at = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(at("SERVICE_TOKEN") < at("AUTH_HEADER"), "{names:?}");
    let tools = yaml_docs(&k8s.join("tools-api.yaml"));
    let tools_container = &doc(&tools, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(tools_container["readinessProbe"]["tcpSocket"]["port"].as_u64(), Some(13200));
    assert_eq!(tools_container["startupProbe"]["failureThreshold"].as_u64(), Some(30));
    assert_eq!(doc(&tools, "Service")["metadata"]["name"].as_str(), Some("tools-api"));
    let gadget = &doc(&yaml_docs(&k8s.join("gadget.yaml")), "Deployment")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(gadget["readinessProbe"]["exec"]["command"][0].as_str(), Some("gadget-health"));
    let config = doc(&yaml_docs(&k8s.join("litellm.yaml")), "ConfigMap");
    assert!(config["data"]["handler.py"].is_string());
    assert!(k8s.join("tools-api.Dockerfile").is_file() && !k8s.join("jobs.Dockerfile").exists());

    // A task is a Job whose failed pods are retried `max_restarts` times; nothing waits for it.
    let migrate = yaml_docs(&k8s.join("migrate.yaml"));
    assert!(migrate.iter().all(|d| d["kind"].as_str() != Some("Deployment")));
    let job = doc(&migrate, "Job");
    assert_eq!(job["apiVersion"].as_str(), Some("batch/v1"));
    assert_eq!(job["spec"]["backoffLimit"].as_u64(), Some(2));
    assert_eq!(job["spec"]["template"]["spec"]["restartPolicy"].as_str(), Some("Never"));
    let worker = doc(&yaml_docs(&k8s.join("worker.yaml")), "Deployment");
    let waits: Vec<&str> = worker["spec"]["template"]["spec"]["initContainers"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(waits, ["wait-for-jobs"]);
    let search = yaml_docs(&k8s.join("search.yaml"));
    assert_eq!(doc(&search, "Service")["spec"]["ports"][0]["port"].as_u64(), Some(3100));
}

/// The port `export` derives for `scraper` (`port = "auto"`, no kind): FNV-1a of the name.
const SCRAPER_PORT: u16 = 24517;

#[test]
fn two_exports_of_a_stack_with_auto_ports_give_identical_files() {
    let fixture = every_feature();
    let stack = fixture.file("stack.toml");
    let out = tempfile::tempdir().unwrap();
    let env = [("SERVICE_TOKEN", "tok-process-secret-0004")];
    // The same folder each time (emptied between): the Dockerfile paths are relative to it.
    let mut exported = Vec::new();
    for _ in ["first", "second"] {
        let dir = out.path().join("deploy");
        let _ = std::fs::remove_dir_all(&dir);
        export(&fixture, &stack, &["compose", "-o", dir.join("compose.yaml").to_str().unwrap()], &env);
        export(&fixture, &stack, &["k8s", "-o", dir.join("k8s").to_str().unwrap()], &env);
        let mut files: Vec<(PathBuf, String)> =
            all_files(&dir).into_iter().map(|(p, t)| (p.strip_prefix(&dir).unwrap().to_path_buf(), t)).collect();
        files.sort();
        exported.push(files);
    }
    let names = |files: &[(PathBuf, String)]| files.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    assert_eq!(names(&exported[0]), names(&exported[1]));
    let beside: Vec<_> = names(&exported[0]).into_iter().filter(|p| p.parent() == Some(Path::new(""))).collect();
    assert_eq!(beside.len(), 9, "compose.yaml, .env.example and the 7 Node services' Dockerfiles: {beside:?}");
    assert_eq!(exported[0].len(), 27, "and 18 files in k8s/");
    for ((path, first), (_, second)) in exported[0].iter().zip(&exported[1]) {
        assert!(first == second, "`{}` differs between two exports of the same stack file", path.display());
    }
    let compose = &exported[0].iter().find(|(p, _)| p == Path::new("compose.yaml")).unwrap().1;
    assert!(compose.contains(&format!("127.0.0.1:{SCRAPER_PORT}:{SCRAPER_PORT}")), "{compose}");
}

#[test]
fn a_literal_key_in_the_proxy_config_is_refused_and_nothing_is_written() {
    let fixture = Fixture::new("[services.litellm]\nkind = \"litellm\"\nconfig = \"config.yaml\"\nport = 14000\n");
    std::fs::write(
        fixture.file("config.yaml"),
        "model_list:\n  - model_name: m\n    litellm_params: { model: openai/gpt-4o, api_key: sk-literal-in-config-0005 }\n",
    )
    .unwrap();
    let out = fixture.file("out");
    let output = fixture.offline_command(&["export", "k8s", "-o", out.to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("has a literal `api_key`") && stderr.contains("hint: write `api_key: os.environ/NAME`"),
        "{stderr}"
    );
    assert!(!stderr.contains("sk-literal-in-config-0005"));
    assert!(!out.exists(), "nothing is written");
}

#[test]
fn a_services_own_port_and_host_become_its_exported_port_and_every_interface() {
    // As in a Procfile; `PORT` and `HOST` exported in the shell change nothing.
    let fixture = Fixture::new(
        "[services.web]\ncommand = [\"python3\", \"-m\", \"http.server\", \"${PORT}\", \"--bind\", \"${HOST}\"]\nport = \"auto\"\nenv = { SELF_URL = \"http://${HOST}:${PORT}/\" }\n",
    );
    let stack = fixture.file("stack.toml");
    let out = tempfile::tempdir().unwrap();
    let shell = [("PORT", "1"), ("HOST", "10.255.255.1")];
    export(&fixture, &stack, &["compose", "-o", out.path().join("compose.yaml").to_str().unwrap()], &shell);
    export(&fixture, &stack, &["k8s", "-o", out.path().join("k8s").to_str().unwrap()], &shell);

    let web = &yaml_docs(&out.path().join("compose.yaml"))[0]["services"]["web"];
    let port = web["environment"]["PORT"].as_str().unwrap().to_owned();
    let args = |value: &Value| -> Vec<String> {
        value.as_sequence().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect()
    };
    // In a container the service listens on its exported port, on every interface.
    let expected = ["python3", "-m", "http.server", port.as_str(), "--bind", "0.0.0.0"];
    assert_eq!(args(&web["command"]), expected);
    assert_eq!(web["ports"][0].as_str(), Some(format!("127.0.0.1:{port}:{port}").as_str()));
    // Its own URL points at its name there, as every URL to a service of the stack does.
    assert_eq!(web["environment"]["SELF_URL"].as_str(), Some(format!("http://web:{port}/").as_str()));

    let container =
        &doc(&yaml_docs(&out.path().join("k8s/web.yaml")), "Deployment")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(args(&container["args"]), expected);
    assert_eq!(container["ports"][0]["containerPort"].as_u64(), Some(port.parse().unwrap()), "{container:?}");
}

// Found on the engine: `LITELLM_MODEL=offline-tools agui-dev export …` wrote no `LITELLM_MODEL`
// at all (inherited variables are not the stack's own), so the AG-UI container fell back to the
// template's default model, whose key it did not have.
#[test]
fn the_model_chosen_in_the_environment_of_the_export_reaches_the_agui_container() {
    let fixture = Fixture::new("");
    let out = fixture.path();
    let stack = repo_root().join("stack.toml");
    let env = [("LITELLM_MODEL", "offline-tools")];
    export(&fixture, &stack, &["compose", "-o", out.join("compose.yaml").to_str().unwrap()], &env);
    export(&fixture, &stack, &["k8s", "-o", out.join("k8s").to_str().unwrap()], &env);
    let services = &yaml_docs(&out.join("compose.yaml"))[0]["services"];
    assert_eq!(services["agui"]["environment"]["LITELLM_MODEL"].as_str(), Some("offline-tools"));
    assert!(services["mcp"]["environment"]["LITELLM_MODEL"].is_null(), "only the AG-UI server reads it");
    let agui = doc(&yaml_docs(&out.join("k8s/agui.yaml")), "Deployment");
    let container = &agui["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(env_of(container, "LITELLM_MODEL")["value"].as_str(), Some("offline-tools"));
}

/// `export compose --check` where no engine is: PATH without docker, podman or docker-compose.
/// The export is written, then exit 2 with what was looked for and how to get an engine.
#[test]
fn export_check_without_an_engine_exits_2_and_says_what_it_looked_for() {
    let fixture = Fixture::new("");
    let empty = fixture.file("empty-path");
    std::fs::create_dir(&empty).unwrap();
    let out = fixture.file("out/compose.yaml");
    let stack = repo_root().join("stack.toml");
    let output = fixture
        .offline_command(&["-f", stack.to_str().unwrap(), "export", "compose", "--check", "-o", out.to_str().unwrap()])
        .env("PATH", &empty)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(out.is_file(), "the export is written before the engine is looked for");
    assert!(stderr.contains("error: no container engine answers"), "{stderr}");
    for tried in ["`docker`: not on PATH", "`podman`: not on PATH", "`docker-compose`: not on PATH"] {
        assert!(stderr.contains(&format!("caused by: {tried}")), "no `{tried}`:\n{stderr}");
    }
    assert!(stderr.contains("hint: install Docker Engine 24+"), "{stderr}");

    // `export --check` is the same command; on Kubernetes it is refused before anything is written.
    let project = fixture.file("project");
    assert!(fixture.command(&["init", project.to_str().unwrap()]).status().unwrap().success());
    let project_stack = project.join("stack.toml");
    let output = fixture
        .offline_command(&["-f", project_stack.to_str().unwrap(), "export", "--check"])
        .env("PATH", &empty)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no container engine answers"));
    assert!(project.join("compose.yaml").is_file(), "`export --check` wrote the compose export");
    let k8s_dir = fixture.file("k8s");
    let output = fixture
        .offline_command(&["-f", stack.to_str().unwrap(), "export", "k8s", "--check", "-o", k8s_dir.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`--check` brings up a compose export") && stderr.contains("hint:"), "{stderr}");
    assert!(!k8s_dir.exists(), "nothing is written");
}
