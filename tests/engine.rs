#![allow(clippy::unwrap_used, clippy::print_stderr)]
//! The export proven on a real engine: `agui-dev export compose --check` on this repository's
//! stack and on an `init`-ed project (images built from the generated Dockerfiles, every service
//! healthy, the smoke checks through the published loopback ports, nothing left after `down`),
//! and the same compose file driven by the test itself for what `--check` cannot show once it has
//! taken the project down: the health-ordered start in the engine's own events, the port bindings,
//! and an AG-UI run that calls the MCP tool.
//!
//! Every test is `engine_*` and ignored unless asked for: the CI engine stage runs
//! `cargo nextest run --locked --run-ignored only -E 'test(/(^|::)engine_/)'` (this file and
//! tests/engine_kube.rs) with the engine's environment
//! sourced (`podman`, `docker-compose`, `DOCKER_HOST`) and the stand-in base images built.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::engine::{Project, events, leftovers, podman, ports_lock};
use common::{Fixture, WAIT, repo_root};
use nix::sys::signal::Signal;

/// The stack's services with their fixed ports and a path that answers 200 once ready.
const SERVICES: [(&str, u16, &str); 3] =
    [("litellm", 4000, "/health/readiness"), ("mcp", 3100, "/health"), ("agui", 3000, "/health")];

/// A container's `State` as `podman inspect` gives it.
fn state(id: &str) -> serde_json::Value {
    serde_json::from_str(&podman(&["inspect", id, "--format", "{{json .State}}"])).unwrap()
}

/// `2026-12-04T10:32:21.717937511Z` (or with a space and ` +0000 UTC`) as a string that sorts by
/// time: `2026-12-04 10:32:21.717937511`.
fn instant(time: &str) -> String {
    let time = time.replace('T', " ");
    let (date_time, _) = time.split_once(['Z', '+']).unwrap_or((&time, ""));
    let (whole, fraction) = date_time.trim().split_once('.').unwrap_or((date_time.trim(), ""));
    format!("{whole}.{fraction:0<9}")
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `agui-dev -f STACK export compose --check ARGS` with the offline model: exit code and stderr.
fn check(fixture: &Fixture, stack: &Path, args: &[&str]) -> (i32, String) {
    let stack = stack.to_str().unwrap();
    let output =
        fixture.offline_command(&[&["-f", stack, "export", "compose", "--check"], args].concat()).output().unwrap();
    (output.status.code().unwrap_or(-1), text(&output))
}

/// What a passed check printed: every step's verdict, the table with each service healthy on its
/// loopback port, the smoke checks through those ports, and no key of the check's.
fn assert_passed(stderr: &str, services: &[(&str, u16, &str)]) {
    for step in
        ["build the images: passed", "start the services and wait for health: passed", "the services' state: passed"]
    {
        assert!(stderr.contains(step), "no `{step}`:\n{stderr}");
    }
    let build = stderr.lines().find(|l| l.contains("build the images: passed")).unwrap();
    assert!(
        build.contains("from the generated Dockerfiles") && build.contains("`mcp`") && build.contains("`agui`"),
        "{build}"
    );
    for (service, port, _) in services {
        let row = stderr
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{service} ")) && l.contains("running"))
            .unwrap_or_else(|| panic!("no table row for `{service}`:\n{stderr}"));
        assert!(row.contains(" healthy ") && row.contains(&format!("127.0.0.1:{port}->{port}/tcp")), "{row}");
    }
    for smoke in
        ["`litellm.completion` passed", "`mcp.tools` passed", "`agui.run` passed", "`agui.dns-rebinding` passed"]
    {
        assert!(stderr.contains(smoke), "no `{smoke}`:\n{stderr}");
    }
    assert!(stderr.contains("take the project down: passed"), "{stderr}");
    assert!(stderr.contains("nothing of the project left: passed in"), "{stderr}");
    assert!(stderr.contains("export check passed"), "{stderr}");
    assert!(!stderr.contains("sk-agui-check-"), "the check's master key was printed:\n{stderr}");
}

#[test]
#[ignore = "needs a container engine (.ci/engine)"]
fn engine_the_repository_stack_is_built_started_in_health_order_answers_and_leaves_nothing() {
    let _ports = ports_lock();
    let fixture = Fixture::new("");
    let compose_file = fixture.file("export/compose.yaml");
    let stack = repo_root().join("stack.toml");
    let (code, stderr) = check(&fixture, &stack, &["-o", compose_file.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_passed(&stderr, &SERVICES);
    assert!(stderr.contains("project `agui-dev-check`"), "{stderr}");
    assert_eq!(leftovers("agui-dev-check"), Vec::<String>::new());
    let log = std::fs::read_to_string(repo_root().join(".agui-dev/export-check.log")).unwrap();
    assert!(log.contains(" Service mcp  Built") && log.contains(" Service agui  Built"), "{log}");
    assert!(!log.contains("sk-agui-check-"), "the check's master key is in the engine's log");

    // The same files, driven by the test: the AG-UI server on the offline model that calls a tool.
    let tools = fixture.file("export/tools.override.yaml");
    std::fs::write(&tools, "services:\n  agui:\n    environment:\n      LITELLM_MODEL: offline-tools\n").unwrap();
    let project = Project {
        files: vec![compose_file.clone(), tools],
        name: "check-e22-repo".to_owned(),
        key: format!("sk-check-e22-{}", std::process::id()),
    };
    // Podman keeps only the last 5 checks of a container, and by the time `up --wait` returns
    // (LiteLLM takes longest) mcp may have had more: its health log is read all along instead,
    // every 300 ms, far more often than checks run (every 2 s at most), so no entry is missed.
    let checks = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (checks, watching) = (checks.clone(), watching.clone());
        let filter = format!("label=com.docker.compose.project={}", project.name);
        std::thread::spawn(move || {
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                // Tolerant: the container may not exist yet, or be between states.
                let quiet = |args: &[&str]| {
                    std::process::Command::new("podman")
                        .args(args)
                        .output()
                        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                        .unwrap_or_default()
                };
                let ids = quiet(&["ps", "-q", "--filter", &filter, "--filter", "label=com.docker.compose.service=mcp"]);
                if let Some(id) = ids.split_whitespace().next() {
                    let log: serde_json::Value =
                        serde_json::from_str(&quiet(&["inspect", id, "--format", "{{json .State.Health.Log}}"]))
                            .unwrap_or_default();
                    for entry in log.as_array().into_iter().flatten() {
                        let start = entry["Start"].as_str().unwrap_or_default().to_owned();
                        checks.lock().unwrap().insert(start, entry.clone());
                    }
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };
    let started = Instant::now();
    project.must(&["up", "--detach", "--wait", "--wait-timeout", "300"]);
    eprintln!("up --wait (images built by --check) took {:?}", started.elapsed());
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    watcher.join().unwrap();

    // Health-ordered start, in the engine's own records: `agui` started only after a healthcheck of
    // `mcp` had passed. (Podman 4.3's `health_status` events lag one check behind the log.)
    let (mcp, agui) = (project.container("mcp"), project.container("agui"));
    assert!(state(&mcp)["Health"]["Log"].is_array(), "mcp has a health log");
    let checks = checks.lock().unwrap();
    let mut passes: Vec<_> = checks.values().filter(|entry| entry["ExitCode"] == 0).collect();
    passes.sort_by_key(|entry| instant(entry["End"].as_str().unwrap_or_default()));
    let first_pass = passes.first().expect("no passing check of mcp was seen");
    let mcp_passed = instant(first_pass["End"].as_str().unwrap());
    let agui_started = instant(state(&agui)["StartedAt"].as_str().unwrap());
    assert!(
        agui_started > mcp_passed,
        "agui started at {agui_started}, before mcp's first passing check ended at {mcp_passed}"
    );
    eprintln!("mcp's first passing check ended at {mcp_passed}; agui started at {agui_started}");
    assert!(!events(&agui, "start").is_empty(), "the engine recorded agui's start");

    // Published on 127.0.0.1 only, on the ports the compose file names, and answering there.
    let compose: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(&compose_file).unwrap()).unwrap();
    for (service, port, path) in SERVICES {
        let declared = compose["services"][service]["ports"].as_sequence().unwrap();
        assert_eq!(declared.len(), 1);
        assert_eq!(declared[0].as_str().unwrap(), format!("127.0.0.1:{port}:{port}"));
        let id = project.container(service);
        let bindings: serde_json::Value =
            serde_json::from_str(&podman(&["inspect", &id, "--format", "{{json .HostConfig.PortBindings}}"])).unwrap();
        let bindings = bindings.as_object().unwrap();
        assert_eq!(bindings.keys().collect::<Vec<_>>(), [&format!("{port}/tcp")], "{service}: {bindings:?}");
        for binding in bindings[&format!("{port}/tcp")].as_array().unwrap() {
            assert_eq!(binding["HostIp"], "127.0.0.1", "{service}: {binding}");
            assert_eq!(binding["HostPort"], port.to_string(), "{service}: {binding}");
        }
        let (status, _, body) = common::http(port, "GET", path, &[], "");
        assert_eq!(status, 200, "{service} on 127.0.0.1:{port}{path}: {body}");
    }

    // An AG-UI run through the published port: the offline model calls the MCP tool `calculate`.
    let input = r#"{"threadId":"e22","runId":"e22-run","state":{},"messages":[{"id":"u1","role":"user","content":"What is 6*7?"}],"tools":[],"context":[],"forwardedProps":{}}"#;
    let headers = [("Content-Type", "application/json"), ("Accept", "text/event-stream")];
    let (status, _, events) = common::http(3000, "POST", "/agent", &headers, input);
    assert_eq!(status, 200, "{events}");
    let types: Vec<&str> = events
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| d.split("\"type\":\"").nth(1)?.split('"').next())
        .collect();
    eprintln!("AG-UI events through the container: {}", types.join(" "));
    for wanted in
        ["RUN_STARTED", "TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END", "TOOL_CALL_RESULT", "RUN_FINISHED"]
    {
        assert!(types.contains(&wanted), "no {wanted} in {types:?}:\n{events}");
    }
    assert!(events.contains("calculate") && events.contains("42"), "{events}");
    assert!(!types.contains(&"RUN_ERROR"), "{events}");

    let down = project.down();
    eprintln!("{down}");
    assert_eq!(leftovers(&project.name), Vec::<String>::new(), "`down` left something");
}

#[test]
#[ignore = "needs a container engine (.ci/engine)"]
fn engine_an_init_project_passes_export_check() {
    let _ports = ports_lock();
    let fixture = Fixture::new("");
    let dir = fixture.file("e22-init");
    let output = fixture.command(&["init", dir.to_str().unwrap()]).output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let (code, stderr) = check(&fixture, &dir.join("stack.toml"), &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_passed(&stderr, &SERVICES);
    assert!(
        dir.join("compose.yaml").is_file() && dir.join("mcp.Dockerfile").is_file(),
        "the export is beside the stack"
    );
    assert!(stderr.contains("project `e22-init-check`"), "{stderr}");
    assert_eq!(leftovers("e22-init-check"), Vec::<String>::new());
}

#[test]
#[ignore = "needs a container engine (.ci/engine)"]
fn engine_a_taken_port_is_refused_before_anything_starts() {
    let _ports = ports_lock();
    let fixture = Fixture::new("");
    let _held = std::net::TcpListener::bind("127.0.0.1:3000").unwrap();
    let out = fixture.file("compose.yaml");
    let (code, stderr) = check(&fixture, &repo_root().join("stack.toml"), &["-o", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("already in use; nothing was started"), "{stderr}");
    assert!(stderr.contains(&format!("port 3000 of `agui` is held by pid {}", std::process::id())), "{stderr}");
    assert!(stderr.contains("hint: free it: `agui-dev down`"), "{stderr}");
    assert!(!stderr.contains("build the images"), "{stderr}");
}

#[test]
#[ignore = "needs a container engine (.ci/engine)"]
fn engine_sigterm_during_the_check_still_takes_the_project_down() {
    let _ports = ports_lock();
    let fixture = Fixture::new("");
    let out = fixture.file("compose.yaml");
    let stack = repo_root().join("stack.toml");
    let command = fixture.offline_command(&[
        "-f",
        stack.to_str().unwrap(),
        "export",
        "compose",
        "--check",
        "-o",
        out.to_str().unwrap(),
    ]);
    let mut running = fixture.spawn_command(command);
    running.stderr.wait_for_within("start the services and wait for health", 10 * WAIT);
    // Some container of the project exists: the engine has something to clean up.
    let deadline = Instant::now() + WAIT;
    while leftovers("agui-dev-check").iter().all(|l| !l.starts_with("container")) {
        assert!(Instant::now() < deadline, "no container of the project appeared:\n{}", running.stderr.text());
        std::thread::sleep(Duration::from_millis(200));
    }
    running.signal(Signal::SIGTERM);
    assert_eq!(running.wait(), 1, "{}", running.stderr.text());
    let stderr = running.stderr.text();
    assert!(stderr.contains("take the project down: passed"), "{stderr}");
    assert!(stderr.contains("nothing of the project left: passed"), "{stderr}");
    assert!(stderr.contains("stopped by SIGTERM; project `agui-dev-check`: it was taken down"), "{stderr}");
    assert_eq!(leftovers("agui-dev-check"), Vec::<String>::new());
}
