#![allow(clippy::unwrap_used)]
//! Nothing left, nothing leaked, even when agui-dev itself dies; one run per stack; crash loops
//! contained; no half-started stack.

mod common;

use std::time::Duration;

use common::Fixture;
use nix::sys::signal::Signal;

const STUBBORN_STACK: &str = r#"
[services.forker]
command = "sh -c 'sleep 600 & sleep 600 & echo forked; wait'"
ready = { log = "forked" }

[services.stubborn]
command = ["sh", "-c", "trap '' TERM; echo ignoring; while true; do sleep 1; done"]
ready = { log = "ignoring" }
stop_grace = "1s"

[services.escaper]
command = "sh -c 'setsid sleep 600 & sleep 0.2; echo escaped; exec sleep 600'"
ready = { log = "escaped" }
"#;

#[test]
fn sigkill_of_agui_dev_still_stops_every_process() {
    let fixture = Fixture::new(STUBBORN_STACK);
    let mut up = fixture.spawn(&["up"]);
    up.stderr.wait_for("all 3 services are ready");
    assert!(fixture.survivors().len() >= 6, "{:?}", fixture.survivors());
    up.signal(Signal::SIGKILL);
    up.wait();
    // The guardian sends SIGTERM, SIGKILLs the ignorer after its 1 s grace, then sweeps the
    // process that left its group.
    assert_eq!(fixture.wait_for_no_survivors(Duration::from_secs(30)), Vec::<i32>::new());
}

#[test]
fn a_second_up_names_the_running_one_and_a_killed_runs_lock_is_cleared() {
    let fixture =
        Fixture::new("[services.a]\ncommand = \"sh -c 'echo up; exec sleep 600'\"\nready = { log = \"up\" }\n");
    let mut first = fixture.spawn(&["up"]);
    first.stderr.wait_for("is ready");
    let (code, _, stderr) = fixture.run(&["up"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("error: this stack is already running under agui-dev (pid {})", first.pid())),
        "{stderr}"
    );
    let (code, _, stderr) = fixture.run(&["smoke"]);
    assert_eq!(code, 2, "{stderr}");

    let killed = first.pid();
    first.signal(Signal::SIGKILL);
    first.wait();
    assert_eq!(fixture.wait_for_no_survivors(Duration::from_secs(30)), Vec::<i32>::new());
    let mut second = fixture.spawn(&["up"]);
    second.stderr.wait_for("is ready");
    assert!(
        second.stderr.text().contains(&format!("an earlier run (agui-dev pid {killed}) was killed; cleared its lock"))
    );
    second.signal(Signal::SIGINT);
    assert_eq!(second.wait(), 0);
    // A clean stop leaves no stale pid behind.
    let mut third = fixture.spawn(&["up"]);
    third.stderr.wait_for("is ready");
    assert!(!third.stderr.text().contains("was killed"), "{}", third.stderr.text());
    third.signal(Signal::SIGINT);
    assert_eq!(third.wait(), 0);
}

#[test]
fn a_service_that_never_gets_ready_takes_the_started_ones_down_with_it() {
    let fixture = Fixture::new(
        r#"
[services.base]
command = "sh -c 'sleep 600 & echo base-up; wait'"
ready = { log = "base-up" }

[services.never]
command = "sh -c 'echo waiting-forever; exec sleep 600'"
ready = { log = "never-printed", timeout = "1s" }
depends_on = ["base"]
"#,
    );
    let mut up = fixture.spawn(&["up"]);
    assert_eq!(up.wait(), 1);
    let stderr = up.stderr.text();
    assert!(stderr.contains("error: service `never` did not become ready"), "{stderr}");
    assert!(stderr.contains("no line of output matched /never-printed/ within 1s"), "{stderr}");
    assert!(stderr.contains("stopping `never`") && stderr.contains("stopping `base`"), "{stderr}");
    assert_eq!(fixture.survivors(), Vec::<i32>::new());
}

#[test]
fn a_crash_loop_backs_off_and_stops_the_stack_past_max_restarts() {
    let fixture = Fixture::new(
        "[services.loop]\ncommand = \"sh -c 'echo once; exit 0'\"\nrestart = \"always\"\nmax_restarts = 3\n",
    );
    let mut up = fixture.spawn(&["up"]);
    assert_eq!(up.wait(), 1);
    let stderr = up.stderr.text();
    for step in [
        "restarting in 250ms (restart 1 of 3)",
        "restarting in 500ms (restart 2 of 3)",
        "restarting in 1s (restart 3 of 3)",
    ] {
        assert!(stderr.contains(step), "{step}: {stderr}");
    }
    assert!(stderr.contains("error: service `loop` exited with code 0 after 3 restarts"), "{stderr}");
    assert_eq!(up.stdout.text().matches("loop | once").count(), 4);
}

#[test]
fn a_key_inherited_from_the_environment_is_redacted_when_a_service_prints_it() {
    let fixture = Fixture::new(
        // A plain service gets a secret of agui-dev's environment only when its `env` names it.
        "[services.talker]\ncommand = \"sh -c 'echo key=$CHAOS_API_KEY; exec sleep 600'\"\nready = { log = \"key=\" }\n\
         env = { CHAOS_API_KEY = \"${CHAOS_API_KEY}\" }\n",
    );
    let mut command = fixture.command(&["up"]);
    command.env("CHAOS_API_KEY", "sk-inherited-0123456789");
    let mut up = fixture.spawn_command(command);
    up.stderr.wait_for("is ready");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    let log = std::fs::read_to_string(fixture.file(".agui-dev/logs/talker.log")).unwrap();
    assert!(up.stdout.text().contains("talker | key=[redacted:CHAOS_API_KEY]"));
    for text in [up.stdout.text(), up.stderr.text(), log] {
        assert!(!text.contains("0123456789"), "{text}");
    }
}
