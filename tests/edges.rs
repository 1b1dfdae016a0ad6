#![allow(clippy::unwrap_used)]
//! The templates refuse foreign pages, shown with `curl` against the repository's real stack under
//! `agui-dev up` (offline): for both the MCP and the AG-UI server, a foreign `Origin` gets 403, a
//! foreign `Host` (DNS rebinding) gets 403, and a loopback origin gets itself echoed, never `*`.
//! A refused `POST /agent` starts no run: the AG-UI server's log has no `run` line for it, while
//! the allowed one that follows has.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Fixture, WAIT, free_port, real_stack, repo_root};
use nix::sys::signal::Signal;

const FOREIGN: &str = "https://evil.example";
const FRONTEND: &str = "http://localhost:5173";

/// What curl got: the status and the response headers (names lower-cased), and the body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn cors_headers(&self) -> Vec<&(String, String)> {
        self.headers.iter().filter(|(k, _)| k.starts_with("access-control-")).collect()
    }
}

/// `curl -i` with these arguments against 127.0.0.1:`port`: the one HTTP client a user would try.
fn curl(port: u16, method: &str, path: &str, args: &[&str]) -> Answer {
    let output = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "60", "-X", method])
        .args(args)
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "curl {method} {path} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer { status, headers, body: body.to_owned() }
}

fn run_input(run_id: &str) -> String {
    serde_json::json!({
        "threadId": format!("thread-{run_id}"),
        "runId": run_id,
        "state": {},
        "messages": [{"id": format!("m-{run_id}"), "role": "user", "content": "Say hello"}],
        "tools": [],
        "context": [],
        "forwardedProps": {},
    })
    .to_string()
}

/// The AG-UI server's log once it holds `needle` (bounded by `WAIT`).
fn agui_log_with(fixture: &Fixture, needle: &str) -> String {
    let path = fixture.file(".agui-dev/logs/agui.log");
    let deadline = Instant::now() + WAIT;
    loop {
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        if log.contains(needle) {
            return log;
        }
        assert!(Instant::now() < deadline, "no `{needle}` in {}:\n{log}", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn both_templates_refuse_foreign_origins_and_hosts_and_echo_loopback_origins() {
    let (proxy, mcp, agui) = (free_port(), free_port(), free_port());
    let fixture = Fixture::new(&real_stack(proxy, mcp, agui));
    let mut up = fixture.up_real_stack(None);

    for (name, port, path) in [("mcp", mcp, "/mcp"), ("agui", agui, "/agent")] {
        // A page on another site: its preflight is refused, so the browser sends nothing more.
        let preflight = curl(
            port,
            "OPTIONS",
            path,
            &["-H", &format!("Origin: {FOREIGN}"), "-H", "Access-Control-Request-Method: POST"],
        );
        assert_eq!(preflight.status, 403, "{name}: {}", preflight.body);
        assert!(preflight.cors_headers().is_empty(), "{name}: {:?}", preflight.headers);
        assert!(preflight.body.contains("AGUI_ALLOWED_ORIGINS"), "{name}: the variable to set: {}", preflight.body);
        let health = curl(port, "GET", "/health", &["-H", &format!("Origin: {FOREIGN}")]);
        assert_eq!(health.status, 403, "{name}: {}", health.body);

        // A DNS-rebound page: same address, its own name in Host.
        let rebound = curl(port, "GET", "/health", &["-H", &format!("Host: evil.example:{port}")]);
        assert_eq!(rebound.status, 403, "{name}: {}", rebound.body);
        assert!(rebound.body.contains("AGUI_ALLOWED_HOSTS"), "{name}: the variable to set: {}", rebound.body);

        // A frontend dev server on loopback: its own origin echoed, never `*`.
        let allowed = curl(
            port,
            "OPTIONS",
            path,
            &[
                "-H",
                &format!("Origin: {FRONTEND}"),
                "-H",
                "Access-Control-Request-Method: POST",
                "-H",
                "Access-Control-Request-Headers: content-type",
            ],
        );
        assert_eq!(allowed.status, 204, "{name}: {:?}", allowed.headers);
        assert_eq!(allowed.header("access-control-allow-origin"), Some(FRONTEND), "{name}");
        assert!(allowed.header("vary").is_some_and(|v| v.contains("Origin")), "{name}: {:?}", allowed.headers);
        assert!(allowed.headers.iter().all(|(_, v)| v != "*"), "{name}: {:?}", allowed.headers);
        // Without Origin (curl, agui-dev): served as before.
        assert_eq!(curl(port, "GET", "/health", &[]).status, 200, "{name}");
    }
    // The MCP server's CORS answer still exposes its session header to allowed pages.
    let mcp_allowed = curl(mcp, "OPTIONS", "/mcp", &["-H", &format!("Origin: {FRONTEND}")]);
    assert!(mcp_allowed.header("access-control-expose-headers").is_some_and(|v| v.contains("Mcp-Session-Id")));

    // Refused POST /agent requests start no run; the allowed one after them does.
    let json = ["-H", "Content-Type: application/json"];
    let foreign_origin = curl(
        agui,
        "POST",
        "/agent",
        &[&json[..], &["-H", &format!("Origin: {FOREIGN}"), "--data", &run_input("refused-origin-run")]].concat(),
    );
    assert_eq!(foreign_origin.status, 403, "{}", foreign_origin.body);
    let foreign_host = curl(
        agui,
        "POST",
        "/agent",
        &[&json[..], &["-H", &format!("Host: evil.example:{agui}"), "--data", &run_input("refused-host-run")]].concat(),
    );
    assert_eq!(foreign_host.status, 403, "{}", foreign_host.body);
    // The no-preflight "simple request" shape: text/plain.
    let plain = curl(agui, "POST", "/agent", &["-H", "Content-Type: text/plain", "--data", &run_input("plain-run")]);
    assert_eq!(plain.status, 415, "{}", plain.body);
    let allowed = curl(
        agui,
        "POST",
        "/agent",
        &[&json[..], &["-H", &format!("Origin: {FRONTEND}"), "--data", &run_input("allowed-run")]].concat(),
    );
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert_eq!(allowed.header("access-control-allow-origin"), Some(FRONTEND));
    assert!(allowed.body.contains("RUN_FINISHED"), "{}", allowed.body);
    // The server logs in order, so once the allowed run's line is in, a refused run's would be too.
    let log = agui_log_with(&fixture, "agui-server run allowed-run ");
    for refused in ["refused-origin-run", "refused-host-run", "plain-run"] {
        assert!(!log.contains(&format!("run {refused}")), "{refused} started a run:\n{log}");
    }
    // Each refused origin is logged once, with the variable that would allow it.
    assert!(log.contains("refused OPTIONS /agent: forbidden: Origin \"https://evil.example\""), "{log}");
    assert!(log.contains("AGUI_ALLOWED_ORIGINS"), "{log}");

    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    assert_eq!(fixture.survivors(), Vec::<i32>::new());
}

/// The guard is one file copied into each template (each is its own npm package); a fix made to
/// one copy only would leave the other server open.
#[test]
fn the_two_templates_carry_the_same_guard() {
    let root = repo_root();
    let agui = std::fs::read_to_string(root.join("templates/agui-server/src/guard.ts")).unwrap();
    let mcp = std::fs::read_to_string(root.join("templates/mcp-server/src/guard.ts")).unwrap();
    assert!(
        agui == mcp,
        "templates/agui-server/src/guard.ts and templates/mcp-server/src/guard.ts differ: copy the fix to both"
    );
}
