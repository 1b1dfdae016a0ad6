#![allow(clippy::unwrap_used)]

//! `port = "auto"` and one-shot tasks (`task = true`) on fixture stacks: real processes.

mod common;

use common::{Fixture, http};
use nix::sys::signal::Signal;

/// A web server on `$PORT` and a client that is handed its URL through `${services.web.port}`.
const AUTO_STACK: &str = r#"
[services.web]
command = ["python3", "-c", "import http.server, os; http.server.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), http.server.SimpleHTTPRequestHandler).serve_forever()"]
port = "auto"

[services.client]
command = ["sh", "-c", "echo client-sees=$WEB_URL; exec sleep 600"]
env = { WEB_URL = "http://127.0.0.1:${services.web.port}/" }
depends_on = ["web"]
ready = { log = "client-sees=" }
"#;

/// One service of `status --json`.
fn status_of(fixture: &Fixture, name: &str) -> serde_json::Value {
    let (code, stdout, stderr) = fixture.run(&["status", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    status["services"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap().clone()
}

fn chosen_port(stderr: &str) -> u16 {
    let line = stderr.lines().find(|l| l.contains("`web` gets port ")).unwrap();
    line.split("gets port ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn port_auto_lets_two_copies_of_one_stack_run_side_by_side() {
    let (one, two) = (Fixture::new(AUTO_STACK), Fixture::new(AUTO_STACK));
    let (code, _, stderr) = one.run(&["check"]);
    assert_eq!(code, 0, "{stderr}");
    let mut up_one = one.spawn(&["up"]);
    let mut up_two = two.spawn(&["up"]);
    let mut ports = Vec::new();
    for up in [&up_one, &up_two] {
        let stderr = up.stderr.wait_for("all 2 services are ready");
        let port = chosen_port(&stderr);
        // The client was wired to the port that was chosen, and the server listens there.
        let stdout = up.stdout.wait_for("client-sees=");
        assert!(stdout.contains(&format!("client-sees=http://127.0.0.1:{port}/")), "{stdout}");
        assert_eq!(http(port, "GET", "/", &[], "").0, 200);
        ports.push(port);
    }
    // `status` of each copy shows its own chosen port, marked as chosen.
    for (fixture, port) in [(&one, ports[0]), (&two, ports[1])] {
        let web = status_of(fixture, "web");
        assert_eq!((web["port"].as_u64(), web["port_auto"].as_bool()), (Some(u64::from(port)), Some(true)), "{web}");
        // The table is for people: on stderr.
        let (code, _, table) = fixture.run(&["status"]);
        assert_eq!(code, 0, "{table}");
        assert!(table.contains(&format!("http://127.0.0.1:{port} (auto port)")), "{table}");
    }
    assert_ne!(ports[0], ports[1]);
    for up in [&mut up_one, &mut up_two] {
        up.signal(Signal::SIGINT);
        assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    }
    assert!(one.survivors().is_empty() && two.survivors().is_empty());
}

#[test]
fn check_shows_an_auto_port_as_chosen_at_start() {
    let fixture = Fixture::new(AUTO_STACK);
    let (code, stdout, stderr) = fixture.run(&["check"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("port      auto (chosen at start; "), "{stdout}");
}

#[test]
fn a_bad_port_value_is_located() {
    let fixture = Fixture::new("[services.web]\ncommand = \"true\"\nport = \"automatic\"\n");
    let (code, _, stderr) = fixture.run(&["check"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("stack.toml:3:8"), "{stderr}");
    assert!(stderr.contains("port `automatic` is neither a number nor \"auto\""), "{stderr}");
}

#[test]
fn dependents_of_a_task_start_after_its_exit_0_and_the_stack_stays_up() {
    let fixture = Fixture::new(
        r#"
[services.web]
command = ["sh", "-c", "echo web-read-$(cat generated.txt); exec sleep 600"]
depends_on = ["gen"]
ready = { log = "web-read-" }

[services.gen]
task = true
command = ["sh", "-c", "sleep 0.5; echo done > generated.txt"]
"#,
    );
    let mut up = fixture.spawn(&["up"]);
    let stderr = up.stderr.wait_for("all 2 services are ready");
    assert!(stderr.contains("`gen` completed"), "{stderr}");
    // `web` started after the task's exit: it read the file the task wrote.
    assert!(up.stdout.wait_for("web-read-").contains("web-read-done"), "{}", up.stdout.text());
    // The task's exit 0 did not stop the stack: it is still up until Ctrl-C.
    assert!(up.child.try_wait().unwrap().is_none());
    assert_eq!(status_of(&fixture, "gen")["state"], "completed");
    assert_eq!(status_of(&fixture, "web")["state"], "ready");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    assert!(fixture.survivors().is_empty());
}

#[test]
fn a_task_that_fails_fails_the_start_and_its_dependents_never_start() {
    let fixture = Fixture::new(
        r#"
[services.web]
command = ["sh", "-c", "touch web.started; exec sleep 600"]
depends_on = ["migrate"]

[services.migrate]
task = true
command = ["sh", "-c", "echo migration failed; exit 3"]
"#,
    );
    let mut up = fixture.spawn(&["up"]);
    assert_eq!(up.wait(), 1);
    let stderr = up.stderr.text();
    assert!(stderr.contains("service `migrate` exited with code 3"), "{stderr}");
    assert!(stderr.contains("migration failed"), "{stderr}");
    assert!(!fixture.file("web.started").exists());
    assert!(fixture.survivors().is_empty());
}

#[test]
fn a_task_with_a_ready_probe_is_refused() {
    let fixture = Fixture::new("[services.gen]\ntask = true\ncommand = \"true\"\nready = { log = \"x\" }\n");
    let (code, _, stderr) = fixture.run(&["check"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("stack.toml:4:9"), "{stderr}");
    assert!(stderr.contains("is a task and has a `ready` probe"), "{stderr}");
}

/// A server on its own `${PORT}` and `${HOST}`, as a Procfile writes it, with an auto port.
const OWN_PORT_STACK: &str = r#"
[services.web]
command = ["python3", "-m", "http.server", "${PORT}", "--bind", "${HOST}"]
port = "auto"
env = { SELF_URL = "http://${HOST}:${PORT}/" }
ready = { http = "http://${HOST}:${PORT}/" }
"#;

/// `PORT` and `HOST` exported in the shell: the service's own port and address win.
fn with_foreign_port_and_host(mut command: std::process::Command) -> std::process::Command {
    command.env("PORT", "1").env("HOST", "10.255.255.1");
    command
}

#[test]
fn a_services_own_port_and_host_fill_its_command_env_and_probe_even_when_exported() {
    let fixture = Fixture::new(OWN_PORT_STACK);
    let output = with_foreign_port_and_host(fixture.command(&["check"])).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    // `check` shows the resolved values: the port it chose, the same in the command, env and probe.
    let port = stdout.split("PORT=").nth(1).and_then(|p| p.split_whitespace().next()).unwrap();
    assert!(stdout.contains(&format!("command   python3 -m http.server {port} --bind 127.0.0.1\n")), "{stdout}");
    assert!(stdout.contains(&format!("port      auto (chosen at start; {port} in this check)")), "{stdout}");
    assert!(stdout.contains(&format!("SELF_URL=http://127.0.0.1:{port}/")), "{stdout}");
    assert!(stdout.contains(&format!("ready     http http://127.0.0.1:{port}/")), "{stdout}");

    // Really running: the server listens on the port `up` chose, and the probe found it there.
    let mut up = fixture.spawn_command(with_foreign_port_and_host(fixture.command(&["up"])));
    let stderr = up.stderr.wait_for("is ready in");
    let port = chosen_port(&stderr);
    assert_eq!(http(port, "GET", "/", &[], "").0, 200);
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    assert!(fixture.survivors().is_empty());
}

#[test]
fn port_in_a_service_without_a_port_says_so_and_names_services_name_port() {
    let fixture = Fixture::new(
        "[services.web]\ncommand = \"true\"\nport = \"auto\"\n\n[services.worker]\ncommand = \"echo ${PORT}\"\n",
    );
    let mut command = fixture.command(&["check"]);
    command.env_remove("PORT");
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("stack.toml:6:11: `${PORT}` is not set"), "{stderr}");
    assert!(
        stderr.contains(
            "hint: service `worker` has no `port`, so `${PORT}` is not its own: give it `port = N` (or `port = \"auto\"`), write `${services.web.port}` for another service's port, or export `PORT`"
        ),
        "{stderr}"
    );
}

/// Two tasks, one needing the other.
const TASKS: &str = r#"
[services.gen]
task = true
command = ["sh", "-c", "sleep 0.2; echo generated > out.txt"]

[services.migrate]
task = true
command = ["sh", "-c", "echo migrated-$(cat out.txt)"]
depends_on = ["gen"]
"#;

#[test]
fn up_of_tasks_only_exits_0_once_they_completed() {
    // And a long-running server that neither task needs.
    let web = "[services.web]\ncommand = [\"sh\", \"-c\", \"touch web.started; exec sleep 600\"]\n";
    let fixture = Fixture::new(&format!("{web}{TASKS}"));
    let mut up = fixture.spawn(&["up", "migrate"]);
    // Before: every task completed, then `up` waited for Ctrl-C (this wait gave up after a minute).
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    assert!(up.stdout.text().contains("migrate | migrated-generated"), "{}", up.stdout.text());
    let stderr = up.stderr.text();
    assert!(stderr.contains("all 2 tasks completed in "), "{stderr}");
    assert!(stderr.contains("; nothing is left running"), "{stderr}");
    assert!(!stderr.contains("Ctrl-C"), "{stderr}");
    assert!(!fixture.file("web.started").exists(), "`web` was not asked for");
    assert!(fixture.survivors().is_empty());
}

#[test]
fn up_d_of_tasks_only_returns_once_they_completed_and_leaves_nothing_running() {
    let fixture = Fixture::new(TASKS);
    let (code, _, stderr) = fixture.run(&["up", "-d"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("every task completed; nothing is left running"), "{stderr}");
    assert!(!stderr.contains("runs in the background"), "{stderr}");
    assert_eq!(std::fs::read_to_string(fixture.file("out.txt")).unwrap(), "generated\n");
    // The background agui-dev ended too: no process of this fixture, agui-dev included.
    assert_eq!(common::marked_processes(&fixture.marker), Vec::<(i32, String)>::new());
}

#[test]
fn smoke_of_tasks_only_runs_its_checks_after_they_completed() {
    let fixture =
        Fixture::new(&format!("{TASKS}\n[[smoke]]\nname = \"output\"\nexec = \"grep -q generated out.txt\"\n"));
    let (code, _, stderr) = fixture.run(&["smoke"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("`custom.output` passed"), "{stderr}");
    assert!(fixture.survivors().is_empty());
}

#[test]
fn a_task_that_watches_files_keeps_up_running_to_run_it_again() {
    let fixture = Fixture::new(
        "[services.build]\ntask = true\ncommand = [\"sh\", \"-c\", \"echo built-from-$(cat src.txt)\"]\nwatch = [\"src.txt\"]\n",
    );
    std::fs::write(fixture.file("src.txt"), "one\n").unwrap();
    let mut command = fixture.command(&["up"]);
    command.env_remove("CI");
    let mut up = fixture.spawn_command(command);
    let stderr = up.stderr.wait_for("the task completed in ");
    assert!(stderr.contains("Ctrl-C stops everything"), "{stderr}");
    up.stdout.wait_for("build | built-from-one");
    std::fs::write(fixture.file("src.txt"), "two\n").unwrap();
    up.stdout.wait_for("build | built-from-two");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    assert!(fixture.survivors().is_empty());
}

/// tests/common's `free_port`, which gives every server a test starts its port: each port is
/// distinct, bindable, below the kernel's ephemeral range, and reserved against every other test
/// process (nextest runs one per test) until this one ends: another process's `flock -n` on the
/// reservation fails.
#[test]
fn free_ports_are_reserved_across_test_processes() {
    let ports: Vec<u16> = (0..5).map(|_| common::free_port()).collect();
    let mut distinct = ports.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), ports.len(), "{ports:?}");
    let (low, high) = common::test_port_range();
    for port in ports {
        assert!((low..high).contains(&port), "{port} is outside {low}..{high}");
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(), "port {port} is taken");
        let other = std::process::Command::new("flock")
            .args(["--nonblock", "--conflict-exit-code", "75"])
            .arg(common::port_reservation(port))
            .arg("true")
            .status()
            .unwrap();
        assert_eq!(other.code(), Some(75), "another process could take port {port}'s reservation");
    }
}
