#![allow(clippy::unwrap_used)]
//! `agui-dev logs`: reading `.agui-dev/logs/` after a run and while one goes on.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Fixture, WAIT};
use nix::sys::signal::Signal;

const STACK: &str = r#"
[services.api]
command = ["sh", "-c", "echo plain start; echo '{\"level\":30,\"time\":1,\"pid\":9,\"msg\":\"listening\",\"port\":3000}'; echo '{\"level\":50,\"msg\":\"tool failed\",\"reason\":\"bad input\"}'; echo api done; exec sleep 600"]
ready = { log = "api done" }

[services.web]
command = ["sh", "-c", "echo web up; exec sleep 600"]
depends_on = ["api"]
"#;

/// Runs the stack until both services printed everything, then stops it: logs of a finished run.
fn finished_run() -> Fixture {
    let fixture = Fixture::new(STACK);
    {
        let mut up = fixture.spawn(&["up"]);
        up.stderr.wait_for("all 2 services are ready");
        up.stdout.wait_for("web | web up");
        up.signal(Signal::SIGINT);
        assert_eq!(up.wait(), 0);
    }
    fixture
}

fn stdout_of(fixture: &Fixture, args: &[&str]) -> (i32, String, String) {
    fixture.run(args)
}

#[test]
fn a_finished_run_reads_back_merged_in_arrival_order_with_json_lines_made_readable() {
    let fixture = finished_run();
    let (code, out, err) = stdout_of(&fixture, &["logs"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "api | plain start\napi | INFO  listening port=3000\napi | ERROR tool failed reason=\"bad input\"\n\
         api | api done\nweb | web up\n"
    );

    let (_, raw, _) = stdout_of(&fixture, &["logs", "--raw", "api"]);
    assert!(raw.contains(r#"api | {"level":30,"time":1,"pid":9,"msg":"listening","port":3000}"#), "{raw}");

    let (_, tail, _) = stdout_of(&fixture, &["logs", "-n", "1"]);
    assert_eq!(tail, "api | api done\nweb | web up\n");

    let (_, grep, _) = stdout_of(&fixture, &["logs", "--grep", "done|up$"]);
    assert_eq!(grep, "api | api done\nweb | web up\n");

    let (_, errors, _) = stdout_of(&fixture, &["logs", "--level", "warn"]);
    assert_eq!(errors, "api | ERROR tool failed reason=\"bad input\"\n");

    let (_, json, _) = stdout_of(&fixture, &["logs", "--json", "web"]);
    let line: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(line["service"], "web");
    assert_eq!(line["line"], "web up");
    let time = humantime::parse_rfc3339(line["time"].as_str().unwrap()).unwrap();
    assert!(SystemTime::now().duration_since(time).unwrap() < Duration::from_hours(1));

    // The log files themselves keep exactly what the services printed.
    let log = std::fs::read_to_string(fixture.file(".agui-dev/logs/api.log")).unwrap();
    assert!(log.contains(r#"{"level":50,"msg":"tool failed","reason":"bad input"}"#), "{log}");
}

#[test]
fn since_picks_lines_by_the_time_they_arrived() {
    let fixture = Fixture::new(STACK);
    let logs = fixture.file(".agui-dev/logs");
    std::fs::create_dir_all(&logs).unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let hour_ago = now - 3_600_000;
    std::fs::write(logs.join("api.log"), "old one\nold two\nnew one\n").unwrap();
    std::fs::write(logs.join("api.times"), format!("0 {hour_ago}\n16 {now}\n")).unwrap();
    std::fs::write(logs.join("web.log"), "web old\n").unwrap();
    std::fs::write(logs.join("web.times"), format!("0 {hour_ago}\n")).unwrap();

    let (code, out, err) = stdout_of(&fixture, &["logs", "--since", "10m"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "api | new one\n");
    let (_, all, _) = stdout_of(&fixture, &["logs", "--since", "2h"]);
    assert_eq!(all, "api | old one\napi | old two\nweb | web old\napi | new one\n");
}

#[test]
fn follow_shows_new_lines_across_a_restart_and_stops_on_ctrl_c() {
    // Prints a line each time the test drops a file, and exits (to be restarted) on `crash`.
    let fixture = Fixture::new("[services.api]\ncommand = [\"python3\", \"ticker.py\"]\nrestart = \"always\"\n");
    std::fs::write(
        fixture.file("ticker.py"),
        "import os, sys, time\nprint('started', flush=True)\nseen = set()\nwhile True:\n\
         \x20   for name in sorted(os.listdir('.')):\n\
         \x20       if name.startswith('say-') and name not in seen:\n\
         \x20           seen.add(name); print(name, flush=True)\n\
         \x20       if name == 'crash':\n\
         \x20           os.remove('crash'); sys.exit(1)\n\
         \x20   time.sleep(0.01)\n",
    )
    .unwrap();
    let mut up = fixture.spawn(&["up"]);
    up.stdout.wait_for("api | started");
    let mut follow = fixture.spawn(&["logs", "-f"]);
    follow.stdout.wait_for("api | started");

    std::fs::write(fixture.file("say-one"), "").unwrap();
    follow.stdout.wait_for("api | say-one");
    std::fs::write(fixture.file("crash"), "").unwrap();
    up.stderr.wait_for("restarting");
    std::fs::write(fixture.file("say-two"), "").unwrap();
    // The restarted service prints both files it finds; the follower shows its new lines.
    follow.stdout.wait_until("the restarted service's lines", |t| t.matches("api | started").count() == 2);
    follow.stdout.wait_for("api | say-two");

    follow.signal(Signal::SIGINT);
    assert_eq!(follow.wait(), 0);
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    assert_eq!(fixture.wait_for_no_survivors(WAIT), Vec::<i32>::new());
}

#[test]
fn follow_tells_a_new_run_that_outgrows_the_old_log_within_one_poll() {
    let fixture = finished_run();
    let dir = fixture.file(".agui-dev/logs");
    let old_size = std::fs::metadata(dir.join("api.log")).unwrap().len();
    let mut follow = fixture.spawn(&["logs", "-f", "api"]);
    follow.stdout.wait_for("api | api done");

    // A new run, written as `up` writes it, far faster than the follower's 20 ms poll: its first
    // line alone is longer than the whole old log, so a follower that looks at sizes sees growth.
    let first = format!("second run begins {}", "x".repeat(old_size as usize));
    let mut log = agui_dev::output::logfile::open(&dir, "api").unwrap();
    log.write_lines(&first, SystemTime::now());
    log.write_lines("second run goes on", SystemTime::now());
    log.flush();

    follow.stderr.wait_for("`api` started again (a new run)");
    let out = follow.stdout.wait_for("api | second run goes on");
    assert!(out.contains(&format!("api | {first}\n")), "the new run's first line, whole: {out}");
    assert_eq!(out.matches("api | plain start").count(), 1, "the old run shown once: {out}");

    follow.signal(Signal::SIGINT);
    assert_eq!(follow.wait(), 0);
}

#[test]
fn unknown_services_bad_patterns_and_a_stack_never_run_are_explained() {
    let fixture = Fixture::new(STACK);
    let (code, _, err) = stdout_of(&fixture, &["logs"]);
    assert_eq!(code, 1);
    assert!(err.contains("error: no logs yet in"), "{err}");
    assert!(err.contains("hint: start the stack with `agui-dev up`"), "{err}");

    let fixture = finished_run();
    let (code, _, err) = stdout_of(&fixture, &["logs", "nope"]);
    assert_eq!(code, 2);
    assert!(err.contains("error: no service `nope` in this stack\nhint: the services are: api, web"), "{err}");
    let (code, _, err) = stdout_of(&fixture, &["logs", "--grep", "("]);
    assert_eq!(code, 2);
    assert!(err.contains("error: `--grep (` is not a valid regular expression"), "{err}");
}

/// `agui-dev logs` prints data, not a running stack: a reader that pauses (a pager waiting at a
/// full screen) gets every line when it reads on, where `up` would drop lines to keep its
/// services running.
#[test]
fn a_reader_that_pauses_still_gets_every_line() {
    use std::fmt::Write as _;
    use std::io::Read;
    let fixture = Fixture::new("[services.big]\ncommand = \"true\"\n");
    let dir = fixture.file(".agui-dev/logs");
    std::fs::create_dir_all(&dir).unwrap();
    // 4 MiB: more than the pipe holds and the terminal's 1 MiB budget together.
    let mut text = String::new();
    for i in 0..100_000 {
        writeln!(text, "line {i:06} of the big log, padded to forty").unwrap();
    }
    std::fs::write(dir.join("big.log"), &text).unwrap();
    let mut child = fixture
        .command(&["logs", "big", "-n", "100000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The pause is the stimulus (longer than the 250 ms after which `up` calls a reader stalled),
    // not a wait for an event.
    std::thread::sleep(Duration::from_secs(1));
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(child.wait().unwrap().success(), "{err}");
    assert!(!err.contains("not shown"), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 100_000, "{err}");
    assert!(lines[99_999].ends_with("line 099999 of the big log, padded to forty"), "{}", lines[99_999]);
}
