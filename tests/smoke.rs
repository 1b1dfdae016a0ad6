#![allow(clippy::unwrap_used)]
//! `agui-dev smoke`: passes on the real stack offline, and fails with exit 1 naming the right check.

mod common;

use std::time::{Duration, Instant};

use common::{Fixture, free_port, real_stack};

fn smoke(fixture: &Fixture, args: &[&str]) -> (i32, String, String) {
    let output =
        fixture.offline_command(&[&["smoke"], args].concat()).stdin(std::process::Stdio::null()).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn junit(path: &std::path::Path) -> String {
    let xml = std::fs::read_to_string(path).unwrap();
    roxmltree::Document::parse(&xml).unwrap_or_else(|err| panic!("malformed JUnit ({err}):\n{xml}"));
    xml
}

#[test]
fn smoke_passes_on_the_real_stack_offline() {
    let fixture = Fixture::new(&real_stack(free_port(), free_port(), free_port()));
    let report = fixture.file("junit.xml");
    let (code, stdout, stderr) = smoke(&fixture, &["--json", "--junit", report.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let checks: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ids: Vec<&str> = checks.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "stack.ready",
            "litellm.readiness",
            "litellm.completion",
            "mcp.tools",
            "mcp.cross-origin",
            "mcp.dns-rebinding",
            "agui.run",
            "agui.cross-origin",
            "agui.dns-rebinding",
            "stack.stopped"
        ]
    );
    assert!(checks.iter().all(|c| c["status"] == "pass"), "{stdout}");
    assert!(stderr.contains("smoke: 10 passed, 0 failed"), "{stderr}");
    let xml = junit(&report);
    assert!(xml.contains("tests=\"10\" failures=\"0\""), "{xml}");
    assert_eq!(fixture.survivors(), Vec::<i32>::new());
}

#[test]
fn a_service_that_never_gets_ready_fails_within_the_timeout() {
    let fixture = Fixture::new(
        "[services.sleepy]\ncommand = \"sh -c 'echo starting; exec sleep 600'\"\nready = { log = \"never-printed\" }\n",
    );
    let began = Instant::now();
    let (code, _, stderr) = smoke(&fixture, &["--timeout", "3s"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(began.elapsed() < Duration::from_secs(30), "the smoke timeout was not honoured");
    assert!(
        stderr.contains("`stack.ready` failed: not every service was ready within the smoke timeout of 3s"),
        "{stderr}"
    );
    assert_eq!(fixture.survivors(), Vec::<i32>::new());
}

/// An AG-UI server that leaves its text message open before `RUN_FINISHED`, and prints a secret.
const BAD_AGUI: &str = r#"
import http.server, json, os, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        print("handling a run with key " + os.environ["SECRET_TOKEN"], flush=True)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for event in [{"type": "RUN_STARTED", "threadId": "t", "runId": "r"},
                      {"type": "TEXT_MESSAGE_START", "messageId": "m1", "role": "assistant"},
                      {"type": "TEXT_MESSAGE_CONTENT", "messageId": "m1", "delta": "hi " + os.environ["SECRET_TOKEN"]},
                      {"type": "RUN_FINISHED", "threadId": "t", "runId": "r"}]:
            self.wfile.write(("data: " + json.dumps(event) + "\n\n").encode())
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#;

#[test]
fn a_bad_event_sequence_fails_the_agui_check_and_the_junit_hides_the_secret() {
    let port = free_port();
    let fixture = Fixture::new(&format!(
        "[services.agui]\nkind = \"agui\"\ncommand = \"python3 bad_agui.py\"\nport = {port}\nenv = {{ SECRET_TOKEN = \"tok-very-secret-42\" }}\n"
    ));
    std::fs::write(fixture.file("bad_agui.py"), BAD_AGUI).unwrap();
    let report = fixture.file("junit.xml");
    let (code, stdout, stderr) = smoke(&fixture, &["--junit", report.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    let broken = "rule `agui.finish-closes-text` broken at event 3: the run finished with message `m1` still open \
                  (the run is in `.agui-dev/smoke/agui-run.jsonl`)";
    assert!(stderr.contains(&format!("`agui.run` failed: {broken}")), "{stderr}");
    let kept = std::fs::read_to_string(fixture.file(".agui-dev/smoke/agui-run.jsonl")).unwrap();
    assert_eq!(kept.lines().count(), 4, "{kept}");
    assert!(kept.lines().last().unwrap().contains("\"RUN_FINISHED\""), "{kept}");
    assert!(kept.contains("hi [redacted:SECRET_TOKEN]") && !kept.contains("tok-very-secret-42"), "{kept}");
    assert!(stderr.contains("last lines of `agui`:"), "{stderr}");
    let xml = junit(&report);
    assert!(xml.contains("<testcase name=\"agui.run\" classname=\"smoke.agui\""), "{xml}");
    assert!(xml.contains(&format!("<failure message=\"{broken}\">")), "{xml}");
    assert!(xml.contains("handling a run with key [redacted:SECRET_TOKEN]"), "{xml}");
    for text in [&xml, &stdout, &stderr] {
        assert!(!text.contains("tok-very-secret-42"));
    }
}

/// An AG-UI server that answers every run with the frames of `$STREAM` (one event JSON a line), and
/// refuses a foreign `Host` and any cross-origin page, so its browser checks pass.
const REPLAY_AGUI: &str = r#"
import http.server, os
FRAMES = [line for line in open(os.environ["STREAM"]).read().splitlines() if line.strip()]
class Handler(http.server.BaseHTTPRequestHandler):
    def own_host(self):
        return self.headers.get("Host", "").split(":")[0] in ("127.0.0.1", "localhost")
    def do_GET(self):
        self.send_response(200 if self.own_host() else 403); self.end_headers(); self.wfile.write(b"ok")
    def do_OPTIONS(self):
        self.send_response(403); self.end_headers()
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200 if self.own_host() else 403)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for frame in FRAMES:
            self.wfile.write(("data: " + frame + "\n\n").encode())
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"#;

/// `agui-dev smoke --json` on a stack of one AG-UI server replaying a fixture of
/// `tests/fixtures/agui-streams/`.
fn smoke_replaying(stream: &str) -> (i32, String, String) {
    let path = common::repo_root().join("tests/fixtures/agui-streams").join(stream);
    let fixture = Fixture::new(&format!(
        "[services.agui]\nkind = \"agui\"\ncommand = \"python3 replay_agui.py\"\nport = {}\nenv = {{ STREAM = \"{}\" }}\n",
        free_port(),
        path.display()
    ));
    std::fs::write(fixture.file("replay_agui.py"), REPLAY_AGUI).unwrap();
    let seen = smoke(&fixture, &["--json"]);
    assert_eq!(fixture.survivors(), Vec::<i32>::new());
    seen
}

#[test]
fn thinking_events_pass_smoke_with_a_warning_that_names_their_reasoning_replacement() {
    let (code, stdout, stderr) = smoke_replaying("agui.no-thinking-events.jsonl");
    assert_eq!(code, 0, "{stderr}");
    let message = passed_message(&stdout, "agui.run");
    assert!(
        message.starts_with(
            "11 events, 1 run; the answer: Hi; warning: rule `agui.no-thinking-events` at event 1: \
         `THINKING_START` is deprecated since AG-UI 1.0: send `REASONING_START`"
        ),
        "{message}"
    );
    assert!(
        message.contains("at event 6: `THINKING_END` is deprecated since AG-UI 1.0: send `REASONING_END`"),
        "{message}"
    );
    assert!(stderr.contains("smoke: 5 passed, 0 failed"), "{stderr}");
}

#[test]
fn a_step_left_open_at_run_finished_fails_smoke() {
    let (code, _, stderr) = smoke_replaying("agui.finish-closes-steps.jsonl");
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            "`agui.run` failed: rule `agui.finish-closes-steps` broken at event 7: the run finished with step `plan` \
             still active (no `STEP_FINISHED`)"
        ),
        "{stderr}"
    );
}

#[test]
fn failing_custom_checks_are_named() {
    let port = free_port();
    let fixture = Fixture::new(&format!(
        r#"
[services.web]
command = "python3 -m http.server {port} --bind 127.0.0.1"
port = {port}

[[smoke]]
name = "index"
url = "http://127.0.0.1:{port}/"
expect_body_contains = "stack.toml"

[[smoke]]
name = "health"
url = "http://127.0.0.1:{port}/health"
expect_status = 200

[[smoke]]
name = "script"
exec = "sh -c 'echo checking; exit 4'"
"#
    ));
    let (code, stdout, stderr) = smoke(&fixture, &["--json"]);
    assert_eq!(code, 1, "{stderr}");
    let status = |id: &str| {
        stdout.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()).find(|c| c["id"] == id).unwrap()["status"].clone()
    };
    assert_eq!(status("custom.index"), "pass");
    assert_eq!(status("custom.health"), "fail");
    assert_eq!(status("custom.script"), "fail");
    assert!(stderr.contains("`custom.health` failed: GET http://127.0.0.1:"), "{stderr}");
    assert!(stderr.contains("answered 404 Not Found, expected 200"), "{stderr}");
    assert!(
        stderr.contains("`custom.script` failed: `sh -c 'echo checking; exit 4'` exited with code 4: checking"),
        "{stderr}"
    );
}

#[test]
fn a_process_left_behind_fails_the_stopped_check_and_is_then_killed() {
    let fixture = Fixture::new(
        "[services.escaper]\ncommand = \"sh -c 'setsid sleep 600 & sleep 0.5; echo up; exec sleep 600'\"\nready = { log = \"up\" }\n",
    );
    let (code, stdout, stderr) = smoke(&fixture, &["--json"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("`stack.stopped` failed: pid "), "{stderr}");
    assert!(stderr.contains("(sleep 600) was still running"), "{stderr}");
    assert!(stdout.contains("\"id\":\"stack.stopped\""), "{stdout}");
    assert_eq!(fixture.survivors(), Vec::<i32>::new(), "the stray was killed after the report");
}

/// The message of one check in `smoke --json` output, which must have passed.
fn passed_message(stdout: &str, id: &str) -> String {
    let check = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no `{id}` in {stdout}"));
    assert_eq!(check["status"], "pass", "{check}");
    check["message"].as_str().unwrap().to_owned()
}

#[test]
fn smoke_speaks_the_2025_handshake_to_a_server_that_knows_only_it() {
    let server = common::repo_root().join("tests/fixtures/mcp-legacy/server.mjs");
    let fixture = Fixture::new(&format!(
        "[services.mcp]\nkind = \"mcp\"\ncommand = [\"node\", \"{}\"]\nport = {}\n",
        server.display(),
        free_port()
    ));
    let (code, stdout, stderr) = smoke(&fixture, &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    let message = passed_message(&stdout, "mcp.tools");
    assert!(message.starts_with("MCP 2025-11-25 (2025 era: initialize + session): 1 tools (calculate)"), "{message}");
    assert!(message.contains("`calculate` answered 42"), "{message}");
    assert!(stderr.contains("MCP 2025-11-25 (2025 era"), "{stderr}");
    // No CORS at all and a Host check on `/mcp`: no page from another site gets in.
    assert!(passed_message(&stdout, "mcp.cross-origin").contains("without allowing it"), "{stdout}");
    assert!(passed_message(&stdout, "mcp.dns-rebinding").contains("was refused (403)"), "{stdout}");
    assert_eq!(fixture.survivors(), Vec::<i32>::new());
}

#[test]
fn smoke_speaks_2026_07_28_to_the_template() {
    let root = common::repo_root();
    let fixture = Fixture::new(&format!(
        "[services.mcp]\nkind = \"mcp\"\ncwd = \"{}/templates/mcp-server\"\ncommand = \"npx tsx src/server.ts\"\nport = {}\n",
        root.display(),
        free_port()
    ));
    let (code, stdout, stderr) = smoke(&fixture, &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    let message = passed_message(&stdout, "mcp.tools");
    assert!(message.starts_with("MCP 2026-07-28 (server/discover, no session): 3 tools"), "{message}");
    assert!(message.contains("`calculate` answered 42"), "{message}");
    assert_eq!(fixture.survivors(), Vec::<i32>::new());
}

/// A server that lists its tools on three pages (`nextCursor`), in either era: smoke lists every
/// tool, not the first page's.
#[test]
fn smoke_lists_every_page_of_tools() {
    for (sdk, era) in [("v2", "MCP 2026-07-28 (server/discover"), ("v1", "MCP 2025-11-25 (2025 era")] {
        let fixture = Fixture::new(&common::paged_mcp_stack(sdk, free_port()));
        let (code, stdout, stderr) = smoke(&fixture, &["--json"]);
        assert_eq!(code, 0, "{sdk}: {stderr}");
        let message = passed_message(&stdout, "mcp.tools");
        let all = common::PAGED_TOOLS.join(", ");
        assert!(message.starts_with(era), "{sdk}: {message}");
        assert!(
            message.contains(&format!(": 5 tools ({all}); `page1_alpha` answered page1_alpha answered")),
            "{sdk}: {message}"
        );
        assert_eq!(fixture.survivors(), Vec::<i32>::new());
    }
}
