#![allow(clippy::unwrap_used)]
//! Secrets reach only the processes that use them (issue 19, point 3), read from
//! `/proc/PID/environ` of every process of each service: the service's process group and every
//! descendant (`npm run dev` is npm, a shell, `tsx watch` and the node it starts). The provider
//! key and the master key reach the proxy; the AG-UI server gets its client key `LITELLM_API_KEY`
//! alone; the MCP server and plain services get none unless their own `env` names one. This holds
//! for a stack-level `.env` and for keys in agui-dev's own environment, and `check` and
//! `doctor --json` say it by name.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{Fixture, free_port, real_stack};
use nix::sys::signal::Signal;

const PROVIDER_KEY: &str = "sk-test-deepseek-scope-0123456789";
const MASTER_KEY: &str = "sk-test-master-scope-0123456789";

/// agui-dev's rule for secret names (`secret::is_secret_name`), written out again so the test
/// checks the processes, not the rule's own code.
fn secret_named(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.ends_with("_KEY") || upper.ends_with("_TOKEN") || upper.contains("SECRET") || upper.contains("PASSWORD")
}

/// `command` without the secret-named variables of the machine running the test (a CI token, a
/// developer's keys), so the names a test expects are the only ones.
fn scrubbed(mut command: std::process::Command) -> std::process::Command {
    for (key, _) in std::env::vars().filter(|(key, _)| secret_named(key)) {
        command.env_remove(key);
    }
    command
}

/// The environment of `pid`, or `None` when it is gone.
fn environ(pid: i32) -> Option<BTreeMap<String, String>> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter_map(|var| String::from_utf8_lossy(var).split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect(),
    )
}

/// Every live process of the service led by `leader`: its process group and its descendants.
fn processes_of(leader: i32) -> Vec<i32> {
    // (pid, parent, group) of every process, from /proc/PID/stat (the name may hold spaces).
    let table: Vec<(i32, i32, i32)> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            (fields.first() != Some(&"Z")).then_some(())?;
            Some((pid, fields.get(1)?.parse().ok()?, fields.get(2)?.parse().ok()?))
        })
        .collect();
    let mut found: BTreeSet<i32> =
        table.iter().filter(|(_, _, group)| *group == leader).map(|(pid, _, _)| *pid).collect();
    found.insert(leader);
    loop {
        let before = found.len();
        for (pid, parent, _) in &table {
            if found.contains(parent) {
                found.insert(*pid);
            }
        }
        if found.len() == before {
            return found.into_iter().collect();
        }
    }
}

/// The pid of each service, from `status --json`.
fn leaders(fixture: &Fixture) -> BTreeMap<String, i32> {
    let (code, stdout, stderr) = fixture.run(&["status", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    status["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_owned(), i32::try_from(s["pid"].as_i64().unwrap()).unwrap()))
        .collect()
}

/// The environments of every process of `service` (at least `at_least` of them), each with the
/// names of its secret-named variables.
fn environments(
    leaders: &BTreeMap<String, i32>,
    service: &str,
    at_least: usize,
) -> Vec<(i32, BTreeMap<String, String>)> {
    let envs: Vec<(i32, BTreeMap<String, String>)> =
        processes_of(leaders[service]).into_iter().filter_map(|pid| Some((pid, environ(pid)?))).collect();
    assert!(envs.len() >= at_least, "`{service}` has {} processes, expected at least {at_least}", envs.len());
    envs
}

fn secret_names(env: &BTreeMap<String, String>) -> Vec<&str> {
    env.keys().map(String::as_str).filter(|k| secret_named(k)).collect()
}

/// No value of `values` anywhere in the environment, under any name.
fn holds_none_of(env: &BTreeMap<String, String>, values: &[&str]) -> bool {
    env.values().all(|v| values.iter().all(|secret| !v.contains(secret)))
}

/// The repository's templates in watch mode (`npm run dev`: npm → sh → tsx watch → node), with the
/// keys in a stack-level `.env`.
fn real_stack_with_dotenv(proxy: u16, mcp: u16, agui: u16) -> String {
    let stack =
        real_stack(proxy, mcp, agui).replace("command = \"npx tsx src/server.ts\"", "command = \"npm run dev\"");
    format!("[stack]\nenv_files = [\".env\"]\n{stack}")
}

#[test]
fn with_keys_in_dotenv_the_mcp_server_holds_none_and_the_agui_server_only_its_client_key() {
    let (proxy, mcp, agui) = (free_port(), free_port(), free_port());
    let fixture = Fixture::new(&real_stack_with_dotenv(proxy, mcp, agui));
    std::fs::write(fixture.file(".env"), format!("DEEPSEEK_API_KEY={PROVIDER_KEY}\nLITELLM_MASTER_KEY={MASTER_KEY}\n"))
        .unwrap();
    // The offline model: the fake DeepSeek key is never sent anywhere.
    let mut up = fixture.up_real_stack(Some("offline"));
    let leaders = leaders(&fixture);

    // npm, its shell, tsx watch and node: every one of them, not only the leader.
    for (pid, env) in environments(&leaders, "mcp", 3) {
        assert_eq!(secret_names(&env), Vec::<&str>::new(), "mcp process {pid}");
        assert!(holds_none_of(&env, &[PROVIDER_KEY, MASTER_KEY]), "mcp process {pid} holds a key's value");
        assert_eq!(env.get("AGUI_TEST_MARKER"), Some(&fixture.marker), "non-secrets are still inherited");
    }
    for (pid, env) in environments(&leaders, "agui", 3) {
        assert_eq!(secret_names(&env), ["LITELLM_API_KEY"], "agui process {pid}");
        assert_eq!(env["LITELLM_API_KEY"], MASTER_KEY, "agui process {pid}: its client key is the proxy's key");
        assert!(holds_none_of(&env, &[PROVIDER_KEY]), "agui process {pid} holds the provider key's value");
    }
    let proxy_envs = environments(&leaders, "litellm", 1);
    let (_, proxy_env) = &proxy_envs[0];
    assert_eq!(proxy_env.get("DEEPSEEK_API_KEY").map(String::as_str), Some(PROVIDER_KEY));
    assert_eq!(proxy_env.get("LITELLM_MASTER_KEY").map(String::as_str), Some(MASTER_KEY));

    // The stack still works on the client key: a run through the AG-UI server and the proxy.
    let input = r#"{"threadId":"t1","runId":"r1","state":{},"messages":[{"id":"m1","role":"user","content":"hello"}],"tools":[],"context":[],"forwardedProps":{}}"#;
    let (status, _, body) = common::http(
        agui,
        "POST",
        "/agent",
        &[("Content-Type", "application/json"), ("Accept", "text/event-stream")],
        input,
    );
    assert_eq!(status, 200, "{body}");
    let events: Vec<serde_json::Value> =
        body.lines().filter_map(|l| l.strip_prefix("data: ")).map(|d| serde_json::from_str(d).unwrap()).collect();
    let text: String =
        events.iter().filter(|e| e["type"] == "TEXT_MESSAGE_CONTENT").map(|e| e["delta"].as_str().unwrap()).collect();
    assert!(text.contains("[offline model]"), "{body}");
    assert_eq!(events.last().unwrap()["type"], "RUN_FINISHED", "{body}");

    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    assert_eq!(fixture.wait_for_no_survivors(Duration::from_secs(10)), Vec::<i32>::new());
}

/// Each service: a shell that starts a child and says so; kinds keep their wiring.
fn service(kind: Option<&str>, port: Option<u16>, extra: &str) -> String {
    let kind = kind.map(|k| format!("kind = \"{k}\"\n")).unwrap_or_default();
    let port = port.map(|p| format!("port = {p}\n")).unwrap_or_default();
    format!(
        "{kind}{port}command = [\"sh\", \"-c\", \"sleep 600 & echo started; wait\"]\nready = {{ log = \"started\" }}\n{extra}"
    )
}

fn fixture_stack() -> String {
    [
        format!("[services.litellm]\n{}", service(Some("litellm"), Some(free_port()), "")),
        format!("[services.mcp]\n{}", service(Some("mcp"), Some(free_port()), "")),
        format!("[services.agui]\n{}", service(Some("agui"), Some(free_port()), "")),
        format!("[services.plain]\n{}", service(None, None, "")),
        format!("[services.opted]\n{}", service(None, None, "env = { DEEPSEEK_API_KEY = \"${DEEPSEEK_API_KEY}\" }\n")),
    ]
    .join("\n")
}

#[test]
fn keys_in_agui_devs_own_environment_are_scoped_the_same_and_env_opts_a_plain_service_in() {
    let fixture = Fixture::new(&fixture_stack());
    let mut command = scrubbed(fixture.offline_command(&["up"]));
    command.env("DEEPSEEK_API_KEY", PROVIDER_KEY).env("LITELLM_MASTER_KEY", MASTER_KEY);
    // A developer's shell often holds other tokens too: the same rule.
    command.env("SHELL_HELD_TOKEN", "tok-test-shell-0123456789");
    let mut up = fixture.spawn_command(command);
    up.stderr.wait_for("all 5 services are ready");
    let leaders = leaders(&fixture);
    let every_value = [PROVIDER_KEY, MASTER_KEY, "tok-test-shell-0123456789"];

    for name in ["mcp", "plain"] {
        for (pid, env) in environments(&leaders, name, 2) {
            assert_eq!(secret_names(&env), Vec::<&str>::new(), "{name} process {pid}");
            assert!(holds_none_of(&env, &every_value), "{name} process {pid} holds a key's value");
            assert_eq!(env.get("AGUI_TEST_MARKER"), Some(&fixture.marker));
        }
    }
    for (pid, env) in environments(&leaders, "agui", 2) {
        assert_eq!(secret_names(&env), ["LITELLM_API_KEY"], "agui process {pid}");
        assert_eq!(env["LITELLM_API_KEY"], MASTER_KEY);
        assert!(holds_none_of(&env, &[PROVIDER_KEY, "tok-test-shell-0123456789"]));
    }
    for (pid, env) in environments(&leaders, "opted", 2) {
        assert_eq!(secret_names(&env), ["DEEPSEEK_API_KEY"], "opted process {pid}: what its `env` names");
        assert_eq!(env["DEEPSEEK_API_KEY"], PROVIDER_KEY);
    }
    for (pid, env) in environments(&leaders, "litellm", 2) {
        assert_eq!(
            secret_names(&env),
            ["DEEPSEEK_API_KEY", "LITELLM_MASTER_KEY", "SHELL_HELD_TOKEN"],
            "litellm process {pid}: every secret of the stack"
        );
        assert_eq!(env["LITELLM_MASTER_KEY"], MASTER_KEY);
    }

    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    assert_eq!(fixture.wait_for_no_survivors(Duration::from_secs(10)), Vec::<i32>::new());
}

/// `check` and `doctor --json` name, per service, the secrets it gets and those withheld from
/// it, and never a value.
#[test]
fn check_and_doctor_show_which_secret_reaches_which_service() {
    let fixture = Fixture::new(&format!("[stack]\nenv_files = [\".env\"]\n\n{}", fixture_stack()));
    std::fs::write(fixture.file(".env"), format!("DEEPSEEK_API_KEY={PROVIDER_KEY}\nLITELLM_MASTER_KEY={MASTER_KEY}\n"))
        .unwrap();
    let output = scrubbed(fixture.offline_command(&["check"])).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let block = |name: &str| {
        let start = stdout.find(&format!("\n{name}\n")).unwrap_or_else(|| panic!("no `{name}` in\n{stdout}"));
        let rest = &stdout[start + 1..];
        rest[..rest.find("\n\n").unwrap_or(rest.len())].to_owned()
    };
    let line = |name: &str, key: &str| {
        block(name).lines().find_map(|l| l.trim_start().strip_prefix(key).map(|v| v.trim().to_owned()))
    };
    assert_eq!(line("litellm", "secrets").as_deref(), Some("DEEPSEEK_API_KEY, LITELLM_MASTER_KEY"), "{stdout}");
    assert_eq!(line("litellm", "withheld"), None, "{stdout}");
    assert_eq!(line("mcp", "secrets").as_deref(), Some("-"), "{stdout}");
    assert_eq!(line("mcp", "withheld").as_deref(), Some("DEEPSEEK_API_KEY, LITELLM_MASTER_KEY"), "{stdout}");
    assert_eq!(line("agui", "secrets").as_deref(), Some("LITELLM_API_KEY"), "{stdout}");
    assert_eq!(line("agui", "withheld").as_deref(), Some("DEEPSEEK_API_KEY, LITELLM_MASTER_KEY"), "{stdout}");
    assert_eq!(line("opted", "secrets").as_deref(), Some("DEEPSEEK_API_KEY"), "{stdout}");
    assert_eq!(line("opted", "withheld").as_deref(), Some("LITELLM_MASTER_KEY"), "{stdout}");
    assert!(!stdout.contains("0123456789"), "a value is shown:\n{stdout}");

    let output = scrubbed(fixture.offline_command(&["doctor", "--json"])).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let scope: BTreeMap<String, serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|f| f["id"] == "keys.scope")
        .map(|f| (f["subject"].as_str().unwrap().to_owned(), f))
        .collect();
    assert_eq!(scope.len(), 5, "one finding per service:\n{stdout}");
    let lists = |name: &str| (scope[name]["secrets"].clone(), scope[name]["withheld"].clone());
    let json = |names: &[&str]| serde_json::json!(names);
    assert_eq!(lists("litellm"), (json(&["DEEPSEEK_API_KEY", "LITELLM_MASTER_KEY"]), json(&[])));
    assert_eq!(lists("mcp"), (json(&[]), json(&["DEEPSEEK_API_KEY", "LITELLM_MASTER_KEY"])));
    assert_eq!(lists("agui"), (json(&["LITELLM_API_KEY"]), json(&["DEEPSEEK_API_KEY", "LITELLM_MASTER_KEY"])));
    assert_eq!(lists("plain"), (json(&[]), json(&["DEEPSEEK_API_KEY", "LITELLM_MASTER_KEY"])));
    assert_eq!(lists("opted"), (json(&["DEEPSEEK_API_KEY"]), json(&["LITELLM_MASTER_KEY"])));
    assert_eq!(
        scope["mcp"]["message"].as_str(),
        Some("gets no secret; withheld: `DEEPSEEK_API_KEY`, `LITELLM_MASTER_KEY`")
    );
    assert!(!stdout.contains("0123456789"), "a value is shown:\n{stdout}");
}
