#![allow(clippy::unwrap_used)]

//! Reload on change while `up` runs: edits of stack.toml restart only what changed; an invalid
//! edit touches nothing; services are added (and started) and removed; `watch` globs restart their service.
//! Real processes in temp dirs; every wait is for an event, bounded.

mod common;

use common::{Fixture, WAIT};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A service that prints its pid and `$X` once started, then sleeps with that pid.
fn service(name: &str, x: &str) -> String {
    format!(
        "[services.{name}]\ncommand = [\"sh\", \"-c\", \"echo {name}-up pid=$$$$ x=$X; exec sleep 600\"]\nenv = {{ X = \"{x}\" }}\nready = {{ log = \"{name}-up\" }}\n\n"
    )
}

fn pids_of(stdout: &str, name: &str) -> Vec<i32> {
    let needle = format!("{name}-up pid=");
    // Only whole lines: the last one may still be arriving.
    stdout
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .filter_map(|l| l.split(&needle).nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

fn alive(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z"))
}

/// `up` with watching on, whether or not the machine running the tests sets `CI`.
fn watching_up(fixture: &Fixture) -> common::Running<'_> {
    let mut command = fixture.command(&["up"]);
    command.env_remove("CI");
    fixture.spawn_command(command)
}

fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

#[test]
fn editing_one_services_env_restarts_only_it_and_an_invalid_edit_restarts_nothing() {
    let fixture = Fixture::new(&(service("a", "1") + &service("b", "1") + &service("c", "1")));
    let mut up = watching_up(&fixture);
    up.stderr.wait_for("all 3 services are ready");
    let stdout = up.stdout.wait_until("three starts", |t| ["a", "b", "c"].iter().all(|n| pids_of(t, n).len() == 1));
    let (a, c) = (pids_of(&stdout, "a")[0], pids_of(&stdout, "c")[0]);

    std::fs::write(fixture.file("stack.toml"), service("a", "1") + &service("b", "2") + &service("c", "1")).unwrap();
    let stdout = up.stdout.wait_until("b restarted with x=2", |t| pids_of(t, "b").len() == 2 && t.contains("x=2\n"));
    assert_eq!(pids_of(&stdout, "b").len(), 2, "{stdout}");
    assert_eq!(pids_of(&stdout, "a"), [a]);
    assert_eq!(pids_of(&stdout, "c"), [c]);
    assert!(alive(a) && alive(c));
    up.stderr.wait_for("reloaded `stack.toml`");

    // An invalid edit: the located error, and nothing restarts.
    let broken = service("a", "1") + &service("b", "3") + "[services.c]\ncomand = \"true\"\n";
    std::fs::write(fixture.file("stack.toml"), broken).unwrap();
    let stderr = up.stderr.wait_for("nothing was restarted");
    assert!(stderr.contains("stack.toml:12:1: unknown key `comand` in `services.c`"), "{stderr}");
    // A valid edit afterwards still applies, and is the only restart since: `b` never saw x=3.
    std::fs::write(fixture.file("stack.toml"), service("a", "1") + &service("b", "2") + &service("c", "4")).unwrap();
    let stdout = up.stdout.wait_until("c restarted with x=4", |t| pids_of(t, "c").len() == 2 && t.contains("x=4\n"));
    assert!(!stdout.contains("x=3"), "{stdout}");
    assert_eq!(pids_of(&stdout, "a"), [a]);
    assert_eq!(pids_of(&stdout, "b").len(), 2, "{stdout}");
    assert!(alive(a));

    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    assert!(fixture.survivors().is_empty());
}

#[test]
fn a_service_removed_from_the_file_stops_and_one_added_starts_with_its_own_log() {
    let fixture = Fixture::new(&(service("a", "1") + &service("b", "1") + &service("c", "1")));
    let mut up = watching_up(&fixture);
    up.stderr.wait_for("all 3 services are ready");
    let stdout = up.stdout.wait_until("three starts", |t| ["a", "b", "c"].iter().all(|n| pids_of(t, n).len() == 1));
    let (a, b, c) = (pids_of(&stdout, "a")[0], pids_of(&stdout, "b")[0], pids_of(&stdout, "c")[0]);

    // Removed: `a` stops, the others keep their processes.
    std::fs::write(fixture.file("stack.toml"), service("b", "1") + &service("c", "1")).unwrap();
    up.stderr.wait_for("reloaded `stack.toml`");
    let deadline = std::time::Instant::now() + WAIT;
    while alive(a) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!alive(a), "the removed service still runs");
    assert!(alive(b) && alive(c));

    // Added: `d` starts (with its own prefix and log file); `b` and `c` keep their processes.
    std::fs::write(fixture.file("stack.toml"), service("b", "1") + &service("c", "1") + &service("d", "1")).unwrap();
    let stderr = up.stderr.wait_for("`stack.toml` changed: starting `d`");
    let stdout = up.stdout.wait_until("`d`'s first line", |t| pids_of(t, "d").len() == 1);
    assert!(!stderr.contains("failed"), "{stderr}");
    assert!(alive(b) && alive(c));
    assert_eq!((pids_of(&stdout, "b"), pids_of(&stdout, "c")), (vec![b], vec![c]));
    let d_log = std::fs::read_to_string(fixture.file(".agui-dev/logs/d.log")).unwrap();
    assert!(d_log.contains("pid="), "{d_log}");

    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    assert!(fixture.survivors().is_empty());
}

const WATCHER: &str = r#"
[services.w]
command = ["sh", "-c", "echo w-up pid=$$$$; exec sleep 600"]
ready = { log = "w-up" }
watch = ["src/**/*.py"]
"#;

#[test]
fn touching_a_watched_file_restarts_the_service_once_and_node_modules_does_not() {
    let fixture = Fixture::new(WATCHER);
    std::fs::create_dir_all(fixture.file("src/node_modules/pkg")).unwrap();
    std::fs::write(fixture.file("src/app.py"), "print(1)\n").unwrap();
    let mut up = watching_up(&fixture);
    up.stderr.wait_for("the service is ready");

    std::fs::write(fixture.file("src/app.py"), "print(2)\n").unwrap();
    up.stdout.wait_until("a second start", |t| pids_of(t, "w").len() == 2);
    up.stderr.wait_for("`src/app.py` changed; restarting `w`");

    // A change under node_modules (it matches the glob, but is excluded) restarts nothing; a
    // no-op edit of the stack file afterwards marks when the watcher has seen both.
    std::fs::write(fixture.file("src/node_modules/pkg/index.py"), "x = 1\n").unwrap();
    std::fs::write(fixture.file("src/node_modules/new.py"), "x = 1\n").unwrap();
    std::fs::write(fixture.file("stack.toml"), format!("{WATCHER}\n# edited\n")).unwrap();
    up.stderr.wait_for("no service's definition did");
    assert_eq!(count(&up.stdout.text(), "w-up pid="), 2, "{}", up.stdout.text());
    assert_eq!(count(&up.stderr.text(), "changed; restarting `w`"), 1, "{}", up.stderr.text());

    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    assert!(fixture.survivors().is_empty());
}

#[test]
fn a_service_that_writes_its_own_watched_file_has_its_watch_suspended() {
    let fixture = Fixture::new(
        r#"
[services.w]
command = ["sh", "-c", "echo x >> gen.py; echo w-up; exec sleep 600"]
ready = { log = "w-up" }
watch = ["*.py"]
"#,
    );
    let mut up = watching_up(&fixture);
    let stderr = up.stderr.wait_for("Its watch is suspended");
    assert!(stderr.contains("`w` restarted more than 5 times"), "{stderr}");
    // The service still runs after the watch stopped.
    assert!(up.child.try_wait().unwrap().is_none());
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    assert!(fixture.survivors().is_empty());
}

/// Whether a process holds an inotify instance (the watcher's).
fn watches_files(pid: i32) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.to_string_lossy().contains("inotify")))
}

#[test]
fn no_watch_and_ci_turn_reload_off() {
    for (args, ci, watching) in
        [(&["up"][..], None, true), (&["up", "--no-watch"][..], None, false), (&["up"][..], Some("1"), false)]
    {
        let fixture = Fixture::new(&service("a", "1"));
        let mut command = fixture.command(args);
        command.env_remove("CI");
        if let Some(ci) = ci {
            command.env("CI", ci);
        }
        let mut up = fixture.spawn_command(command);
        up.stderr.wait_for("is ready");
        assert_eq!(watches_files(up.pid()), watching, "{args:?} CI={ci:?}");
        up.signal(Signal::SIGINT);
        assert_eq!(up.wait(), 0, "{}", up.stderr.text());
        assert!(fixture.survivors().is_empty());
    }
}

#[test]
fn editing_an_env_file_restarts_the_services_that_read_it() {
    let fixture = Fixture::new(
        r#"
[stack]
env_files = [".env"]

[services.e]
command = ["sh", "-c", "echo e-up pid=$$$$ x=$FROM_FILE; exec sleep 600"]
ready = { log = "e-up" }
"#,
    );
    std::fs::write(fixture.file(".env"), "FROM_FILE=one\n").unwrap();
    let mut command = fixture.command(&["up"]);
    command.env_remove("FROM_FILE").env_remove("CI");
    let mut up = fixture.spawn_command(command);
    up.stderr.wait_for("is ready");
    std::fs::write(fixture.file(".env"), "FROM_FILE=two\n").unwrap();
    let stdout = up.stdout.wait_until("a restart with the new value", |t| pids_of(t, "e").len() == 2);
    assert!(stdout.contains("x=one\n") && stdout.contains("x=two\n"), "{stdout}");
    let stderr = up.stderr.wait_for("reloaded `.env`");
    // The value is never printed by agui-dev itself (only the service echoed it).
    assert!(!stderr.contains("two"), "{stderr}");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    assert!(fixture.survivors().is_empty());
}
