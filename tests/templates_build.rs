//! The Node templates built for production, outside agui-dev: a project `agui-dev init` wrote,
//! then `npm ci`, `npm run build` and `npm start` (`node dist/server.js`), for both templates;
//! then the production-only install an exported image runs (`npm ci --omit=dev`) serving from
//! the same `dist/`, which proves no runtime import comes from a dev dependency.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Fixture, Running, WAIT, empty_fixture, free_port, http};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

const TEMPLATES: [&str; 2] = ["mcp-server", "agui-server"];

/// An npm command in `dir`, to completion; its output is shown when it fails.
fn npm(dir: &Path, args: &[&str]) {
    let output = Command::new("npm").args(args).args(["--no-audit", "--no-fund"]).current_dir(dir).output().unwrap();
    assert!(
        output.status.success(),
        "`npm {}` in {} failed:\n{}{}",
        args.join(" "),
        dir.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `npm start` in `dir` with `env`, in a process group of its own (npm starts a shell that
/// starts node), marked as the fixture's; waits until it says it listens.
fn start<'a>(fixture: &'a Fixture, dir: &Path, env: &[(&str, String)]) -> Running<'a> {
    use std::os::unix::process::CommandExt as _;
    let mut command = Command::new("npm");
    command
        .arg("start")
        .current_dir(dir)
        .env("AGUI_TEST_MARKER", &fixture.marker)
        .env("HOST", "127.0.0.1")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .process_group(0);
    for (key, value) in env {
        command.env(key, value);
    }
    let server = fixture.spawn_command(command);
    server.stdout.wait_for_within(" listening on http://127.0.0.1:", WAIT);
    server
}

/// SIGTERM to the server's process group (npm, its shell, node); waits until the group is gone.
fn stop(mut server: Running<'_>) {
    let group = Pid::from_raw(server.pid());
    killpg(group, Signal::SIGTERM).unwrap();
    server.wait();
    let deadline = Instant::now() + WAIT;
    // Signal 0 to a group fails (ESRCH) once no process is left in it.
    while killpg(group, None).is_ok() {
        assert!(Instant::now() < deadline, "the process group of `npm start` outlived SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `GET /health` until it answers 200 (the AG-UI server answers 503 until its MCP session is up).
fn healthy(port: u16) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, _, body) = http(port, "GET", "/health", &[], "");
        if status == 200 {
            return body;
        }
        assert!(Instant::now() < deadline, "/health on {port} still answers {status}: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Both servers started from `project`'s built `dist/`: the MCP server answers `/health` and an
/// `initialize` on `/mcp`; the AG-UI server, pointed at it, connects and lists its tools.
fn serve_both(fixture: &Fixture, project: &Path) {
    let (mcp_port, agui_port) = (free_port(), free_port());
    let mcp = start(fixture, &project.join("mcp-server"), &[("PORT", mcp_port.to_string())]);
    let health = healthy(mcp_port);
    assert!(health.contains(r#""status":"ok""#) && health.contains("calculate"), "{health}");
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"templates-build","version":"0"}}}"#;
    let headers = [("Accept", "application/json, text/event-stream"), ("Content-Type", "application/json")];
    let (status, answer_headers, body) = http(mcp_port, "POST", "/mcp", &headers, init);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""serverInfo""#) && body.contains(r#""protocolVersion""#), "{body}");
    assert!(answer_headers.iter().any(|(k, _)| k == "mcp-session-id"), "{answer_headers:?}");

    let agui = start(
        fixture,
        &project.join("agui-server"),
        &[("PORT", agui_port.to_string()), ("MCP_SERVER_URL", format!("http://127.0.0.1:{mcp_port}/mcp"))],
    );
    let health = healthy(agui_port);
    assert!(health.contains(r#""connected":true"#) && health.contains("word_count"), "{health}");
    stop(agui);
    stop(mcp);
    assert_eq!(fixture.wait_for_no_survivors(WAIT), Vec::<i32>::new());
}

#[test]
fn an_init_project_builds_and_starts_outside_agui_dev_with_dev_and_with_production_dependencies() {
    let fixture = empty_fixture();
    let init = Command::new(BIN)
        .args(["init", "built"])
        .current_dir(fixture.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let project = fixture.path().join("built");
    let repository = common::repo_root().join("templates");
    for template in TEMPLATES {
        let dir = project.join(template);
        // The build's inputs come along; its output and installed modules do not.
        assert!(dir.join("tsconfig.build.json").is_file(), "{template}");
        assert!(!dir.join("dist").exists() && !dir.join("node_modules").exists(), "{template}");
        let ignore = std::fs::read_to_string(dir.join(".dockerignore")).unwrap();
        assert_eq!(ignore, std::fs::read_to_string(repository.join(template).join(".dockerignore")).unwrap());
        let gitignore = std::fs::read_to_string(dir.join(".gitignore")).unwrap();
        assert!(gitignore.lines().any(|l| l == "dist/"), "{template}: {gitignore}");
        let stack = std::fs::read_to_string(project.join("stack.toml")).unwrap();
        assert!(!stack.contains("npm start"), "`up` keeps the watching dev server:\n{stack}");

        npm(&dir, &["ci"]);
        npm(&dir, &["run", "build"]);
        assert!(dir.join("dist/server.js").is_file(), "{template}");
        assert!(!dir.join("dist/test").exists(), "{template}: only src/ is built");
    }
    serve_both(&fixture, &project);

    // What the image holds: the built `dist/` and production dependencies only.
    for template in TEMPLATES {
        let dir = project.join(template);
        std::fs::remove_dir_all(dir.join("node_modules")).unwrap();
        npm(&dir, &["ci", "--omit=dev"]);
        for dev in ["typescript", "tsx", "@modelcontextprotocol/sdk"] {
            assert!(!dir.join("node_modules").join(dev).exists(), "{template}: dev dependency {dev} installed");
        }
    }
    serve_both(&fixture, &project);
}
