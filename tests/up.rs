#![allow(clippy::unwrap_used)]

//! `agui-dev up` on fixture stacks: real processes, real signals, real ports.

mod common;

use std::collections::HashMap;

use common::{Fixture, free_port, lines_of};
use nix::sys::signal::Signal;

#[test]
fn ctrl_c_leaves_no_process_and_kills_a_sigterm_ignorer_after_its_grace() {
    let fixture = Fixture::new(
        r#"
[services.forker]
command = "sh -c 'sleep 600 & sleep 600 & echo forked; wait'"
ready = { log = "forked" }

[services.stubborn]
command = ["sh", "-c", "trap '' TERM; echo ignoring-term; while true; do sleep 1; done"]
ready = { log = "ignoring-term" }
stop_grace = "1s"
"#,
    );
    let mut up = fixture.spawn(&["up"]);
    up.stderr.wait_for("all 2 services are ready");
    // The forker's sh and its two sleeps, and the stubborn sh (its sleep comes and goes).
    assert!(fixture.survivors().len() >= 4, "{:?}", fixture.survivors());
    let asked = std::time::Instant::now();
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    assert!(asked.elapsed() >= std::time::Duration::from_secs(1), "the grace period was not honoured");
    assert_eq!(fixture.survivors(), Vec::<i32>::new());
    let stderr = up.stderr.text();
    assert!(stderr.contains("`stubborn` did not stop within 1s of SIGTERM; killed it"), "{stderr}");
    assert!(!stderr.contains("`forker` did not stop"), "{stderr}");
}

#[test]
fn a_second_ctrl_c_skips_the_grace_period() {
    let fixture = Fixture::new(
        r#"
[services.stubborn]
command = ["sh", "-c", "trap '' TERM INT; echo ignoring; while true; do sleep 1; done"]
ready = { log = "ignoring" }
stop_grace = "10m"
"#,
    );
    let mut up = fixture.spawn(&["up"]);
    up.stderr.wait_for("is ready");
    up.signal(Signal::SIGINT);
    up.stderr.wait_for("stopping `stubborn`");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    assert_eq!(fixture.survivors(), Vec::<i32>::new());
    assert!(up.stderr.text().contains("killed it"));
}

#[test]
fn sigterm_and_sighup_stop_the_stack_cleanly() {
    for signal in [Signal::SIGTERM, Signal::SIGHUP] {
        let fixture =
            Fixture::new("[services.a]\ncommand = \"sh -c 'echo up; exec sleep 600'\"\nready = { log = \"up\" }\n");
        let mut up = fixture.spawn(&["up"]);
        up.stderr.wait_for("is ready");
        up.signal(signal);
        assert_eq!(up.wait(), 0, "{signal}: {}", up.stderr.text());
        assert_eq!(fixture.survivors(), Vec::<i32>::new(), "{signal}");
    }
}

#[test]
fn a_stack_of_one_service_says_the_service_is_ready() {
    let fixture =
        Fixture::new("[services.a]\ncommand = \"sh -c 'echo up; exec sleep 600'\"\nready = { log = \"up\" }\n");
    let mut up = fixture.spawn(&["up"]);
    let stderr = up.stderr.wait_for("is ready in ");
    assert!(stderr.contains("the service is ready in "), "{stderr}");
    assert!(!stderr.contains("all 1 service"), "{stderr}");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    assert_eq!(fixture.survivors(), Vec::<i32>::new());
}

#[test]
fn a_dependent_starts_only_after_its_dependency_is_ready() {
    let fixture = Fixture::new(
        r#"
[services.a]
command = "sh -c 'sleep 1; echo a-is-up; touch a.ready; exec sleep 600'"
ready = { exec = "test -f a.ready" }

[services.b]
command = "sh -c 'if test -f a.ready; then echo b-saw-a-ready; else echo b-started-too-early; fi; exec sleep 600'"
depends_on = ["a"]
"#,
    );
    let mut up = fixture.spawn(&["up"]);
    let stdout = up.stdout.wait_for("b | b-");
    // `b` prints as it starts, a moment before agui-dev handles its start as ready: a Ctrl-C in
    // between would stop it before its ready line.
    up.stderr.wait_for("all 2 services are ready");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    assert!(stdout.contains("b | b-saw-a-ready"), "{stdout}");
    let a_line = stdout.find("a | a-is-up").expect("a's line");
    let b_line = stdout.find("b | b-saw-a-ready").expect("b's line");
    assert!(a_line < b_line, "{stdout}");
    let stderr = up.stderr.text();
    assert!(
        stderr.find("`a` is ready").unwrap()
            < stderr.find("waiting for `b`").unwrap_or(usize::MAX).min(stderr.find("`b` is ready").unwrap())
    );
}

#[test]
fn independent_services_start_together() {
    // Each waits for the other's file: they only both get ready when started at the same time.
    let fixture = Fixture::new(
        r#"
[services.left]
command = "sh -c 'touch left.up; while ! test -f right.up; do sleep 0.05; done; echo left-ok; exec sleep 600'"
ready = { log = "left-ok" }

[services.right]
command = "sh -c 'touch right.up; while ! test -f left.up; do sleep 0.05; done; echo right-ok; exec sleep 600'"
ready = { log = "right-ok" }
"#,
    );
    let mut up = fixture.spawn(&["up"]);
    up.stderr.wait_for("all 2 services are ready");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
}

#[test]
fn a_taken_port_is_named_with_its_holder_and_nothing_starts() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let fixture = Fixture::new(&format!(
        "[services.first]\ncommand = \"sh -c 'touch first.started; exec sleep 600'\"\n\n[services.web]\ncommand = \"sh -c 'touch web.started; exec sleep 600'\"\nport = {port}\n"
    ));
    let (code, _, stderr) = fixture.run(&["up"]);
    assert_eq!(code, 2, "{stderr}");
    let me = std::process::id();
    assert!(stderr.contains(&format!("port {port} of `web` is held by pid {me} (")), "{stderr}");
    assert!(stderr.contains("nothing was started"), "{stderr}");
    assert!(!fixture.file("first.started").exists() && !fixture.file("web.started").exists());
    drop(holder);
}

#[test]
fn port_is_exported_and_the_default_probe_waits_for_it() {
    let port = free_port();
    let fixture = Fixture::new(&format!(
        "[services.web]\ncommand = \"python3 -c 'import os,socket,time; time.sleep(0.5); s=socket.socket(); s.bind((\\\"127.0.0.1\\\", int(os.environ[\\\"PORT\\\"]))); s.listen(); print(\\\"listening\\\", flush=True); time.sleep(600)'\"\nport = {port}\n"
    ));
    let mut up = fixture.spawn(&["up"]);
    up.stderr.wait_for("`web` is ready");
    // The probe may pass before the line the service printed after `listen` has come through its
    // pipe: wait for the line rather than read what has arrived so far.
    up.stdout.wait_for("web | listening");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
}

#[test]
fn every_line_of_three_floods_arrives_whole_and_in_order() {
    const LINES: usize = 100_000;
    let service = |name: &str| {
        format!(
            "[services.{name}]\ncommand = [\"sh\", \"-c\", \"awk 'BEGIN {{ for (i = 0; i < {LINES}; i++) print \\\"{name} \\\" i \\\" the quick brown fox jumps over the lazy dog\\\" }}'; echo {name}-done; exec sleep 600\"]\nready = {{ log = \"{name}-done\", timeout = \"5m\" }}\n"
        )
    };
    let fixture = Fixture::new(&[service("alpha"), service("bravo"), service("charlie")].join("\n"));
    let mut up = fixture.spawn(&["up"]);
    up.stderr.wait_for("all 3 services are ready");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    let stdout = up.stdout.text();
    let mut next: HashMap<&str, usize> = HashMap::new();
    for line in stdout.lines() {
        let (prefix, text) = line.split_once(" | ").unwrap_or_else(|| panic!("line without prefix: {line:?}"));
        let name = prefix.trim_end();
        assert!(["alpha", "bravo", "charlie"].contains(&name), "bad prefix in {line:?}");
        if text == format!("{name}-done") {
            continue;
        }
        let expected =
            format!("{name} {} the quick brown fox jumps over the lazy dog", next.get(name).copied().unwrap_or(0));
        assert_eq!(text, expected, "torn, lost or out-of-order line");
        *next.entry(name).or_default() += 1;
    }
    for name in ["alpha", "bravo", "charlie"] {
        assert_eq!(next[name], LINES, "{name}");
        let log = lines_of(&fixture.file(&format!(".agui-dev/logs/{name}.log")));
        assert_eq!(log.len(), LINES + 1, "{name}.log");
    }
}

#[test]
fn a_last_line_without_newline_and_lines_printed_while_stopping_appear() {
    let fixture = Fixture::new(
        r#"
[services.polite]
command = ["sh", "-c", "trap 'echo cleaning-up-on-term; exit 0' TERM; echo up; sleep 600 & wait"]
ready = { log = "up" }

[services.partial]
command = ["sh", "-c", "printf 'no-newline-at-the-end'; touch partial.done; exec sleep 600"]
ready = { exec = "test -f partial.done" }
"#,
    );
    let mut up = fixture.spawn(&["up"]);
    up.stderr.wait_for("all 2 services are ready");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    let stdout = up.stdout.text();
    assert!(stdout.contains("polite  | cleaning-up-on-term\n"), "{stdout}");
    assert!(stdout.contains("partial | no-newline-at-the-end\n"), "{stdout}");
    assert!(lines_of(&fixture.file(".agui-dev/logs/polite.log")).contains(&"cleaning-up-on-term".to_owned()));
    assert!(lines_of(&fixture.file(".agui-dev/logs/partial.log")).contains(&"no-newline-at-the-end".to_owned()));
}

#[test]
fn a_crash_stops_the_stack_with_exit_1_naming_the_service_and_its_last_lines() {
    let fixture = Fixture::new(
        r#"
[services.steady]
command = "sh -c 'echo steady; sleep 600 & wait'"
ready = { log = "steady" }

[services.crashy]
command = ["sh", "-c", "echo about-to-crash; sleep 0.3; printf 'final words'; exit 3"]
"#,
    );
    let mut up = fixture.spawn(&["up"]);
    assert_eq!(up.wait(), 1);
    let stderr = up.stderr.text();
    assert!(stderr.contains("error: service `crashy` exited with code 3"), "{stderr}");
    assert!(stderr.contains("last lines of `crashy`:\n    about-to-crash\n    final words"), "{stderr}");
    assert!(up.stdout.text().contains("crashy | final words\n"));
    assert_eq!(fixture.survivors(), Vec::<i32>::new());
}

#[test]
fn on_failure_restarts_are_counted_and_bounded() {
    let fixture = Fixture::new(
        r#"
[services.flaky]
command = ["sh", "-c", "echo attempt; exit 1"]
restart = "on-failure"
max_restarts = 2
"#,
    );
    let mut up = fixture.spawn(&["up"]);
    assert_eq!(up.wait(), 1);
    let stderr = up.stderr.text();
    assert!(stderr.contains("restart 1 of 2"), "{stderr}");
    assert!(stderr.contains("restart 2 of 2"), "{stderr}");
    assert!(stderr.contains("error: service `flaky` exited with code 1 after 2 restarts"), "{stderr}");
    assert_eq!(up.stdout.text().matches("flaky | attempt").count(), 3);
}

#[test]
fn a_restarted_service_that_recovers_keeps_the_stack_up() {
    let fixture = Fixture::new(
        r#"
[services.recovering]
command = ["sh", "-c", "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo attempt-$n; if [ $n -ge 3 ]; then exec sleep 600; fi; exit 1"]
restart = "on-failure"
max_restarts = 5
"#,
    );
    let mut up = fixture.spawn(&["up"]);
    up.stdout.wait_for("attempt-3");
    up.stderr.wait_for("`recovering` is ready");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    assert!(up.stderr.text().contains("restart 2 of 5"));
    assert_eq!(fixture.survivors(), Vec::<i32>::new());
}

#[test]
fn any_http_answer_is_not_ready_only_2xx_is() {
    let port = free_port();
    let fixture = Fixture::new(&format!(
        "[services.web]\ncommand = \"python3 -m http.server {port} --bind 127.0.0.1\"\nready = {{ http = \"http://127.0.0.1:{port}/health\", timeout = \"2s\" }}\n"
    ));
    let mut up = fixture.spawn(&["up"]);
    assert_eq!(up.wait(), 1);
    let stderr = up.stderr.text();
    assert!(stderr.contains("error: service `web` did not become ready"), "{stderr}");
    assert!(stderr.contains("answered 404 Not Found"), "{stderr}");
    assert_eq!(fixture.survivors(), Vec::<i32>::new());
}

#[test]
fn http_probe_passes_on_2xx() {
    let port = free_port();
    let fixture = Fixture::new(&format!(
        "[services.web]\ncommand = \"python3 -m http.server {port} --bind 127.0.0.1\"\nready = {{ http = \"http://127.0.0.1:{port}/\" }}\n"
    ));
    let mut up = fixture.spawn(&["up"]);
    up.stderr.wait_for("`web` is ready");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
}

#[test]
fn secrets_are_redacted_everywhere_and_masked_in_check() {
    let fixture = Fixture::new(
        r#"
[services.leaky]
command = ["sh", "-c", "echo the key is $DEEPSEEK_API_KEY; exec sleep 600"]
ready = { log = "the key is" }
env = { DEEPSEEK_API_KEY = "sk-live-0123456789abcdef" }
"#,
    );
    let mut up = fixture.spawn(&["up"]);
    up.stderr.wait_for("is ready");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    let stdout = up.stdout.text();
    assert!(stdout.contains("leaky | the key is [redacted:DEEPSEEK_API_KEY]"), "{stdout}");
    let log = std::fs::read_to_string(fixture.file(".agui-dev/logs/leaky.log")).unwrap();
    let (_, check, check_err) = fixture.run(&["check"]);
    assert!(check.contains("DEEPSEEK_API_KEY=sk-…cdef"), "{check}");
    for text in [&stdout, &up.stderr.text(), &log, &check, &check_err] {
        assert!(!text.contains("0123456789abcdef"), "secret leaked: {text}");
    }
}

#[test]
fn long_lines_are_cut_and_invalid_utf8_and_colours_survive() {
    let fixture = Fixture::new(
        r#"
[services.odd]
command = ["sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' x; echo; printf 'bad \\377\\376 bytes\\n'; printf '\\033[31mred\\033[0m\\n'; echo odd-done; exec sleep 600"]
ready = { log = "odd-done" }
"#,
    );
    let mut up = fixture.spawn(&["up"]);
    up.stderr.wait_for("is ready");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    let stdout = up.stdout.text();
    let pieces: Vec<&str> = stdout.lines().filter(|l| l.starts_with("odd | x")).collect();
    assert!(pieces.len() >= 15, "a 1 MB line is cut into pieces of at most 64 KiB");
    assert_eq!(pieces.iter().map(|l| l.len() - "odd | ".len()).sum::<usize>(), 1_000_000);
    assert!(stdout.contains("odd | bad \u{fffd}\u{fffd} bytes"), "invalid UTF-8 is replaced, not fatal");
    assert!(stdout.contains("odd | red\n"), "colour codes are stripped when stdout is not a terminal");
    let (code, forced, _) = fixture.run(&["--color", "always", "check"]);
    assert_eq!(code, 0);
    assert!(!forced.is_empty());
}

#[test]
fn colours_pass_through_when_forced() {
    let fixture = Fixture::new(
        "[services.c]\ncommand = [\"sh\", \"-c\", \"printf '\\\\033[31mred\\\\033[0m\\\\n'; echo c-done; exec sleep 600\"]\nready = { log = \"c-done\" }\n",
    );
    let mut up = fixture.spawn(&["--color", "always", "up"]);
    up.stderr.wait_for("is ready");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    assert!(up.stdout.text().contains("\x1b[31mred\x1b[0m"), "{:?}", up.stdout.text());
    let log = std::fs::read_to_string(fixture.file(".agui-dev/logs/c.log")).unwrap();
    assert!(log.contains("red\n") && !log.contains('\x1b'), "log files never hold colour codes");
}

#[test]
fn timestamps_prefix_every_line() {
    let fixture = Fixture::new(
        "[services.t]\ncommand = \"sh -c 'echo stamped; exec sleep 600'\"\nready = { log = \"stamped\" }\n",
    );
    let mut up = fixture.spawn(&["up", "--timestamps"]);
    up.stderr.wait_for("is ready");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    let line = up.stdout.text().lines().find(|l| l.ends_with("t | stamped")).map(str::to_owned).expect("the line");
    let stamp = &line[..12];
    assert!(stamp.as_bytes()[2] == b':' && stamp.as_bytes()[5] == b':' && stamp.as_bytes()[8] == b'.', "{line}");
}

#[test]
fn up_with_names_starts_only_them_and_their_dependencies() {
    let fixture = Fixture::new(
        r#"
[services.db]
command = "sh -c 'echo db-up; exec sleep 600'"
ready = { log = "db-up" }

[services.api]
command = "sh -c 'echo api-up; exec sleep 600'"
ready = { log = "api-up" }
depends_on = ["db"]

[services.extra]
command = "sh -c 'touch extra.started; exec sleep 600'"
"#,
    );
    let mut up = fixture.spawn(&["up", "api"]);
    up.stderr.wait_for("all 2 services are ready");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    assert!(!fixture.file("extra.started").exists());
    let stderr = up.stderr.text();
    assert!(
        stderr.find("stopping `api`").unwrap() < stderr.find("stopping `db`").unwrap(),
        "dependents stop first: {stderr}"
    );
}

#[test]
fn the_stack_file_is_found_upward_or_through_the_environment() {
    let fixture = Fixture::new("[stack]\nname = \"found\"\n[services.a]\ncommand = \"true\"\n");
    std::fs::create_dir_all(fixture.file("deep/er")).unwrap();
    let output = fixture.command(&["check"]).current_dir(fixture.file("deep/er")).output().unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("stack `found`"));
    let elsewhere = tempfile::tempdir().unwrap();
    let output = fixture
        .command(&["check"])
        .current_dir(elsewhere.path())
        .env("AGUI_DEV_FILE", fixture.file("stack.toml"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("stack `found`"));
}
