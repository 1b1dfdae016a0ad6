#![allow(clippy::unwrap_used)]
//! The real stack end to end: LiteLLM from the pinned requirements, the MCP and AG-UI servers from
//! `templates/`, under `agui-dev up`, offline. Set-up (venv, npm ci) runs on the first use.

mod common;

use common::{Fixture, free_port, http, marked_processes, real_stack, repo_root};
use nix::sys::signal::Signal;

#[test]
fn the_real_stack_streams_an_offline_answer_and_stops_without_a_trace() {
    let (proxy, mcp, agui) = (free_port(), free_port(), free_port());
    let fixture = Fixture::new(&real_stack(proxy, mcp, agui));
    let mut up = fixture.up_real_stack(None);
    assert!(up.stderr.text().contains("model `offline`: no provider key is set"), "{}", up.stderr.text());

    // The master key as the proxy got it, to prove it is never printed.
    let master_key = marked_processes(&fixture.marker)
        .into_iter()
        .find_map(|(pid, cmd)| {
            if !cmd.contains("litellm") {
                return None;
            }
            let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
            environ
                .split(|b| *b == 0)
                .find_map(|var| String::from_utf8_lossy(var).strip_prefix("LITELLM_MASTER_KEY=").map(str::to_owned))
        })
        .expect("the proxy runs with a master key");
    assert!(master_key.len() >= 32, "a generated key is long and random");

    // A chat through the AG-UI server: a valid event stream with the offline model's text.
    let input = r#"{"threadId":"t1","runId":"r1","state":{},"messages":[{"id":"m1","role":"user","content":"hello"}],"tools":[],"context":[],"forwardedProps":{}}"#;
    let (status, headers, body) =
        http(agui, "POST", "/agent", &[("Content-Type", "application/json"), ("Accept", "text/event-stream")], input);
    assert_eq!(status, 200, "{body}");
    assert!(headers.iter().any(|(k, v)| k == "content-type" && v.starts_with("text/event-stream")));
    let events: Vec<serde_json::Value> =
        body.lines().filter_map(|l| l.strip_prefix("data: ")).map(|d| serde_json::from_str(d).unwrap()).collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types.first(), Some(&"RUN_STARTED"), "{types:?}");
    assert_eq!(types.last(), Some(&"RUN_FINISHED"), "{types:?}");
    assert_eq!(
        types.iter().filter(|t| **t == "TEXT_MESSAGE_START").count(),
        types.iter().filter(|t| **t == "TEXT_MESSAGE_END").count()
    );
    let text: String =
        events.iter().filter(|e| e["type"] == "TEXT_MESSAGE_CONTENT").map(|e| e["delta"].as_str().unwrap()).collect();
    assert!(text.contains("[offline model]"), "{text}");

    // The MCP handshake, and its tools.
    let accept = ("Accept", "application/json, text/event-stream");
    let json = ("Content-Type", "application/json");
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"agui-dev-test","version":"0"}}}"#;
    let (status, headers, body) = http(mcp, "POST", "/mcp", &[accept, json], init);
    assert_eq!(status, 200, "{body}");
    let session = headers.iter().find(|(k, _)| k == "mcp-session-id").map(|(_, v)| v.clone()).expect("a session id");
    let with_session = ("mcp-session-id", session.as_str());
    let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    let (status, _, _) = http(mcp, "POST", "/mcp", &[accept, json, with_session], initialized);
    assert_eq!(status, 202);
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let (status, _, body) = http(mcp, "POST", "/mcp", &[accept, json, with_session], list);
    assert_eq!(status, 200);
    assert!(body.contains("\"calculate\"") && body.contains("\"get_current_time\""), "{body}");

    // The official @ag-ui/client HttpAgent, from the template's own test.
    official_client(&fixture, agui, "[offline model]");

    // Doctor sees the running stack: every probe answers, the MCP handshake and CORS are right, and
    // neither template lets a page from another site in.
    let doctor = fixture.offline_command(&["doctor", "--json"]).output().unwrap();
    let checks = String::from_utf8_lossy(&doctor.stdout).into_owned();
    assert!(doctor.status.success(), "{checks}\n{}", String::from_utf8_lossy(&doctor.stderr));
    let checks: Vec<serde_json::Value> = checks.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for id in ["running.ready", "running.mcp", "running.mcp_cors"] {
        assert!(checks.iter().any(|c| c["id"] == id && c["status"] == "ok"), "{id}: {checks:?}");
    }
    for id in ["running.cross-origin", "running.dns-rebinding"] {
        for service in ["mcp", "agui"] {
            let ok = checks.iter().any(|c| c["id"] == id && c["subject"] == service && c["status"] == "ok");
            assert!(ok, "{id} {service}: {checks:?}");
        }
    }
    let era = checks.iter().find(|c| c["id"] == "running.mcp").unwrap()["message"].as_str().unwrap();
    assert!(era.starts_with("MCP 2026-07-28 (server/discover, no session) works: 3 tools"), "{era}");

    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    assert_eq!(fixture.survivors(), Vec::<i32>::new());
    for port in [proxy, mcp, agui] {
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(), "port {port} is still taken");
    }
    let mut everything = up.stdout.text() + &up.stderr.text();
    for log in ["litellm", "mcp", "agui"] {
        everything += &std::fs::read_to_string(fixture.file(&format!(".agui-dev/logs/{log}.log"))).unwrap();
    }
    assert!(everything.contains("litellm | "), "the proxy's output is shown");
    assert!(!everything.contains(&master_key), "the master key was printed");
}

/// Runs the template's live test (the official `@ag-ui/client` `HttpAgent`, whose verifier checks
/// every event and the sequence) against the AG-UI server on `port`.
fn official_client(fixture: &Fixture, port: u16, expect_text: &str) -> String {
    let client = std::process::Command::new("node")
        .args(["--import", "tsx", "--test", "--test-reporter=spec", "test/live.test.ts"])
        .current_dir(repo_root().join("templates/agui-server"))
        .env("AGUI_URL", format!("http://127.0.0.1:{port}/agent"))
        .env("EXPECT_TEXT", expect_text)
        .env("AGUI_TEST_MARKER", &fixture.marker)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&client.stdout).into_owned() + &String::from_utf8_lossy(&client.stderr);
    assert!(client.status.success(), "{report}");
    assert!(report.contains("live: HttpAgent run completes"), "{report}");
    assert!(report.contains("pass 2") && report.contains("skipped 0"), "both live tests must run and pass:\n{report}");
    report
}

#[test]
fn the_offline_tool_model_calls_an_mcp_tool_through_the_real_stack() {
    let (proxy, mcp, agui) = (free_port(), free_port(), free_port());
    let fixture = Fixture::new(&real_stack(proxy, mcp, agui));
    let mut up = fixture.up_real_stack(Some("offline-tools"));
    assert!(up.stderr.text().contains("model `offline-tools`: `LITELLM_MODEL` is set"), "{}", up.stderr.text());
    let report = official_client(&fixture, agui, "42");
    assert!(report.contains("TOOL_CALL_START TOOL_CALL_ARGS TOOL_CALL_END TOOL_CALL_RESULT"), "{report}");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    assert_eq!(fixture.survivors(), Vec::<i32>::new());
}

#[test]
fn a_provider_key_switches_the_model_without_editing_a_file() {
    let fixture = Fixture::new("");
    let mut command = fixture.offline_command(&["-f", &repo_root().join("stack.toml").display().to_string(), "check"]);
    command.env("DEEPSEEK_API_KEY", "sk-deepseek-test-0123456789");
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("note: model `deepseek-chat`: `DEEPSEEK_API_KEY` is set"), "{stdout}");
    assert!(stdout.contains("LITELLM_MODEL=deepseek-chat"), "{stdout}");
    assert!(stdout.contains("LITELLM_ENDPOINT=http://127.0.0.1:4000/v1"), "{stdout}");
    assert!(stdout.contains("MCP_SERVER_URL=http://127.0.0.1:3100/mcp"), "{stdout}");
    assert!(stdout.contains("--host 127.0.0.1 --port 4000"), "{stdout}");
    assert!(!stdout.contains("0123456789"), "{stdout}");
}

#[test]
fn no_setup_makes_a_missing_venv_an_error_with_a_hint() {
    let fixture = Fixture::new(
        "[services.proxy]\nkind = \"litellm\"\nvenv = \"nowhere\"\nmodel = \"deepseek/deepseek-chat\"\nport = 4999\n",
    );
    let (code, _, stderr) = fixture.run(&["up", "--no-setup"]);
    assert_eq!(code, 2);
    assert_eq!(
        stderr.trim_end(),
        "error: set-up is missing: LiteLLM into `nowhere`\nhint: run `agui-dev setup`, or drop `--no-setup` to let agui-dev do it"
    );
}

#[test]
fn setup_refuses_a_compromised_pin_before_installing_anything() {
    let fixture = Fixture::new("[services.proxy]\nkind = \"litellm\"\nconfig = \"litellm/config.yaml\"\nport = 4999\n");
    std::fs::create_dir(fixture.file("litellm")).unwrap();
    std::fs::write(
        fixture.file("litellm/config.yaml"),
        "model_list:\n  - model_name: offline\n    litellm_params:\n      model: openai/offline\n      mock_response: canned\n",
    )
    .unwrap();
    // A project still on a pin from before March 2026, in uv's hashed format.
    let hash = "0".repeat(64);
    std::fs::write(
        fixture.file("litellm/requirements.txt"),
        format!(
            "# pinned long ago\nlitellm[proxy]==1.82.7 \\\n    --hash=sha256:{hash}\n    # via -r requirements.in\n"
        ),
    )
    .unwrap();
    let mut command = fixture.command(&["setup"]);
    // Belt and braces: were the refusal ever to come after the installers start, they could
    // still not reach a package index, and the assertions below would fail rather than download.
    command.env("PIP_NO_INDEX", "1").env("UV_OFFLINE", "1").stdin(std::process::Stdio::null());
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "error: litellm/requirements.txt:2:1: `litellm==1.82.7` is a compromised release (MAL-2026-2144: "
        ),
        "the error names the file, the line and the advisory: {stderr}"
    );
    assert!(stderr.contains("; nothing was installed\nhint: pin a safe release with hashes"), "{stderr}");
    assert!(!fixture.file(".venv").exists(), "no venv was created");
    assert!(!fixture.file(".agui-dev/tools").exists(), "no installer was fetched");
}

/// The pip fallback, forced with `AGUI_DEV_NO_UV=1` while a `uv` on PATH would fail the run: a
/// real install of agui-dev's pins from PyPI (about a minute), which pip 23 (Debian's and pyenv's
/// Python 3.11) used to refuse ("all requirements must have their versions pinned with ==" for
/// litellm's `httpx[http2]`). One test, as it is slow; CI runs it with the rest.
#[test]
fn setup_without_uv_installs_the_pins_with_pip_into_a_working_venv() {
    let fixture = Fixture::new(&format!(
        "[services.proxy]\nkind = \"litellm\"\nvenv = \".venv\"\nmodel = \"deepseek/deepseek-chat\"\nport = {}\n",
        free_port()
    ));
    // A `uv` that would fail the set-up, and leave a trace, were it run.
    let bin = fixture.file("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(bin.join("uv"), "#!/bin/sh\ntouch \"$(dirname \"$0\")/uv-ran\"\nexit 1\n").unwrap();
    std::fs::set_permissions(bin.join("uv"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let output = fixture
        .command(&["setup"])
        .env("AGUI_DEV_NO_UV", "1")
        .env("PATH", &path)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let pinned = common::litellm_pin();
    assert!(stderr.contains(&format!("litellm {pinned} installed with pip (agui-dev's embedded pins)")), "{stderr}");
    assert!(!bin.join("uv-ran").exists(), "uv was run");
    assert!(!fixture.file(".agui-dev/tools").exists(), "uv was fetched");
    let venv = fixture.file(".venv");
    let site = std::fs::read_dir(venv.join("lib")).unwrap().flatten().next().unwrap().path().join("site-packages");
    let installer = std::fs::read_to_string(site.join(format!("litellm-{pinned}.dist-info/INSTALLER"))).unwrap();
    assert_eq!(installer.trim(), "pip");
    // Working: the proxy's server module imports, with everything it needs (prisma included).
    let python = venv.join("bin/python");
    let check = std::process::Command::new(&python)
        .args(["-c", "import litellm.proxy.proxy_server, prisma; print('imported')"])
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("AGUI_TEST_MARKER", &fixture.marker)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stdout).into_owned() + &String::from_utf8_lossy(&check.stderr);
    assert!(check.status.success() && said.contains("imported"), "{said}");
    let pip_check = std::process::Command::new(&python).args(["-m", "pip", "check"]).output().unwrap();
    assert!(pip_check.status.success(), "{}", String::from_utf8_lossy(&pip_check.stdout));
}
