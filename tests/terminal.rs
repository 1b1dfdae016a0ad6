#![allow(clippy::unwrap_used)]
//! agui-dev as people run it: in a terminal. Each test runs the real binary under a
//! pseudo-terminal, where stdout and stderr are ttys, so spinners and colours are on, and Ctrl-C
//! is typed as a terminal sends it: the byte 0x03 on the master side, which the kernel's line
//! discipline turns into SIGINT for the foreground process group. Ctrl-S and Ctrl-Q stop and
//! resume the terminal's output the same way.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::pty::Tty;
use common::{Captured, Fixture, WAIT, free_port, lines_of, real_stack};

use common::pty::{CTRL_C, CTRL_Q, CTRL_S};

/// A server whose `/health` answers 200 only `delay` seconds after it started listening, and
/// 503 before, like a service that is slow to get ready.
const LATE_HTTP: &str = r#"
import http.server, sys, time
port, delay = int(sys.argv[1]), float(sys.argv[2])
began = time.monotonic()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ready = time.monotonic() - began >= delay
        self.send_response(200 if ready else 503)
        self.end_headers()
        self.wfile.write(b"ok" if ready else b"not yet")
    def log_message(self, *args):
        pass
print(f"listening on {port}", flush=True)
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
"#;

fn late_service(name: &str, port: u16, delay: f64) -> String {
    format!(
        "[services.{name}]\ncommand = [\"python3\", \"late_http.py\", \"{port}\", \"{delay}\"]\nport = {port}\n\
         ready = {{ http = \"http://127.0.0.1:{port}/health\" }}\n"
    )
}

fn fixture_with_late_http(stack: &str) -> Fixture {
    let fixture = Fixture::new(stack);
    std::fs::write(fixture.file("late_http.py"), LATE_HTTP).unwrap();
    fixture
}

/// The clear-line sequence indicatif writes when it takes a spinner off the screen.
const CLEAR_LINE: &str = "\x1b[2K";

#[test]
fn a_dependent_starts_after_a_slow_service_and_ctrl_c_exits_0() {
    let port = free_port();
    let stack = format!(
        "{}\n[services.after]\ncommand = [\"sh\", \"-c\", \"echo after started; exec sleep 30\"]\ndepends_on = [\"slow\"]\n",
        late_service("slow", port, 1.0)
    );
    let fixture = fixture_with_late_http(&stack);
    let mut tty = Tty::spawn(&fixture, &["up"], &[]);

    let screen = tty.screen.wait_for("after started");
    let spinner = screen.find("waiting for `slow`").expect("a spinner while `slow` gets ready");
    let ready = screen.find("`slow` is ready").expect("a ready line for `slow`");
    assert!(spinner < ready, "{screen}");
    assert!(screen[spinner..ready].contains(CLEAR_LINE), "the spinner is cleared before the ready line:\n{screen}");
    // Each service's lines carry its own colour (`slow` cyan, `after` yellow) on a terminal.
    assert!(screen.contains("\x1b[36mslow  | \x1b[0mlistening on"), "{screen:?}");
    assert!(screen.contains("\x1b[33mafter | \x1b[0mafter started"), "{screen:?}");
    tty.screen.wait_for("all 2 services are ready");

    // The log files fill while the terminal shows the lines.
    assert_eq!(lines_of(&fixture.file(".agui-dev/logs/after.log")), ["after started"]);
    assert_eq!(lines_of(&fixture.file(".agui-dev/logs/slow.log")), [format!("listening on {port}")]);

    tty.type_keys(CTRL_C);
    assert_eq!(tty.wait(WAIT), 0, "{}", tty.screen.text());
    assert_eq!(fixture.wait_for_no_survivors(WAIT), Vec::<i32>::new());
    let screen = tty.screen.wait_until_closed();
    assert!(screen.contains("SIGINT received, stopping"), "{screen}");
}

#[test]
fn several_slow_services_each_get_a_spinner_and_a_ready_line() {
    let (a, b, c) = (free_port(), free_port(), free_port());
    let stack = format!(
        "{}{}{}depends_on = [\"one\", \"two\"]\n",
        late_service("one", a, 0.8),
        late_service("two", b, 1.5),
        late_service("three", c, 0.5)
    );
    let fixture = fixture_with_late_http(&stack);
    let mut tty = Tty::spawn(&fixture, &["up"], &[]);
    let screen = tty.screen.wait_for("all 3 services are ready");
    for name in ["one", "two", "three"] {
        assert!(screen.contains(&format!("waiting for `{name}`")), "{name}: {screen}");
        assert!(screen.contains(&format!("`{name}` is ready")), "{name}: {screen}");
    }
    // `three` depends on both others, so its spinner only appears once both are ready.
    let three = screen.find("waiting for `three`").unwrap();
    assert!(screen.find("`one` is ready").unwrap() < three && screen.find("`two` is ready").unwrap() < three);
    tty.type_keys(CTRL_C);
    assert_eq!(tty.wait(WAIT), 0, "{}", tty.screen.text());
    assert_eq!(fixture.wait_for_no_survivors(WAIT), Vec::<i32>::new());
}

#[test]
fn a_service_that_fails_while_another_spins_ends_up_with_exit_1() {
    let port = free_port();
    let stack = format!(
        "{}\n[services.crashy]\ncommand = [\"sh\", \"-c\", \"sleep 0.5; echo giving up; exit 3\"]\n",
        late_service("slow", port, 600.0)
    );
    let fixture = fixture_with_late_http(&stack);
    let mut tty = Tty::spawn(&fixture, &["up"], &[]);
    assert_eq!(tty.wait(WAIT), 1, "{}", tty.screen.text());
    let screen = tty.screen.wait_until_closed();
    assert!(screen.contains("`crashy` exited with code 3"), "{screen}");
    assert!(screen.contains("giving up"), "its last line is shown: {screen}");
    // The spinner still shown for `slow` is taken off the screen before the error is printed.
    let error = screen.rfind("`crashy` exited with code 3").unwrap();
    let last_spinner = screen.rfind("waiting for `slow`").unwrap();
    assert!(screen[last_spinner..error].contains(CLEAR_LINE), "{screen:?}");
    assert_eq!(fixture.wait_for_no_survivors(WAIT), Vec::<i32>::new());
}

#[test]
fn a_second_ctrl_c_skips_the_grace_period_under_a_terminal() {
    // Ignores SIGTERM; with a grace of ten minutes, only the second Ctrl-C can end this in time.
    let fixture = Fixture::new(
        "[services.stubborn]\ncommand = [\"sh\", \"-c\", \"trap '' TERM; echo holding on; while :; do sleep 0.1; done\"]\n\
         stop_grace = \"10m\"\n",
    );
    let mut tty = Tty::spawn(&fixture, &["up"], &[]);
    tty.screen.wait_for("holding on");
    tty.type_keys(CTRL_C);
    tty.screen.wait_for("stopping `stubborn`");
    tty.type_keys(CTRL_C);
    assert_eq!(tty.wait(WAIT), 0, "{}", tty.screen.text());
    assert_eq!(fixture.wait_for_no_survivors(WAIT), Vec::<i32>::new());
}

const FLOOD_LINES: usize = 200_000;

/// The flood's grace: short, so that a stop that waited on stdout would show, and long enough for
/// a Python process to write a file when it is told to stop.
const FLOOD_GRACE: Duration = Duration::from_secs(1);

/// A service that prints `FLOOD_LINES` lines (once a file `go` exists, when `gated`), then writes
/// the time its last write returned to `flood.done` and sleeps. On SIGTERM it writes the time to
/// `flood.stopped` and exits 0: a stamp there proves it was stopped by the signal, not killed
/// (SIGKILL, once the grace is over, leaves no stamp).
fn flood_fixture(gated: bool) -> Fixture {
    let gate = if gated { "while not os.path.exists('go'): time.sleep(0.01)\n" } else { "" };
    let flood = format!(
        "import os, signal, sys, time\n\
         def stopped(*_):\n    open('flood.stopped', 'w').write(repr(time.time()))\n    os._exit(0)\n\
         signal.signal(signal.SIGTERM, stopped)\n\
         {gate}for i in range({FLOOD_LINES}): print(f'line {{i}}')\nsys.stdout.flush()\n\
         open('flood.done', 'w').write(repr(time.time()))\ntime.sleep(600)\n"
    );
    let fixture = Fixture::new(&format!(
        "[services.flood]\ncommand = [\"python3\", \"flood.py\"]\nstop_grace = \"{}s\"\n",
        FLOOD_GRACE.as_secs()
    ));
    std::fs::write(fixture.file("flood.py"), flood).unwrap();
    fixture
}

/// Seconds since the Unix epoch, as Python's `time.time()` gives them.
fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// Reads a stamp a service wrote with `time.time()`.
fn stamp(fixture: &Fixture, name: &str) -> Option<f64> {
    std::fs::read_to_string(fixture.file(name)).ok()?.parse().ok()
}

/// Waits until the flood finished its writes and every line of it is in its log, in order.
/// `unread_since` is when its output stopped being read (Ctrl-S typed, or agui-dev started with
/// a stdout nobody reads): the service's own stamp must fall after it, so its last write returned
/// while nothing read the terminal, not before the terminal stopped. Returns that stamp.
fn wait_for_the_whole_flood(fixture: &Fixture, output: &Captured, unread_since: SystemTime) -> f64 {
    let done = fixture.file("flood.done");
    let deadline = Instant::now() + WAIT;
    while !done.exists() {
        assert!(Instant::now() < deadline, "the service never finished its writes:\n{}", output.text());
        std::thread::sleep(Duration::from_millis(20));
    }
    // The file may exist a moment before its content is written.
    let deadline = Instant::now() + WAIT;
    let finished_at = loop {
        if let Some(at) = stamp(fixture, "flood.done") {
            break at;
        }
        assert!(Instant::now() < deadline, "flood.done holds no time");
        std::thread::sleep(Duration::from_millis(20));
    };
    let (since, seen) = (unix_seconds(unread_since), unix_seconds(SystemTime::now()));
    assert!(
        since <= finished_at && finished_at <= seen,
        "the flood finished at {finished_at}, not between its output stopping being read ({since}) and now ({seen})"
    );
    let log = fixture.file(".agui-dev/logs/flood.log");
    let deadline = Instant::now() + WAIT;
    while lines_of(&log).len() < FLOOD_LINES {
        assert!(Instant::now() < deadline, "the log has {} lines", lines_of(&log).len());
        std::thread::sleep(Duration::from_millis(20));
    }
    let lines = lines_of(&log);
    assert_eq!(lines.len(), FLOOD_LINES);
    assert!(lines.iter().enumerate().all(|(i, line)| *line == format!("line {i}")), "the log is whole and in order");
    finished_at
}

/// Ctrl-S stops the terminal's output, as a user scrolling back would. The service floods the
/// while, and must still finish its writes; every line must be in its log; once Ctrl-Q resumes the
/// terminal, it says how many lines it did not show and where they are.
#[test]
fn a_stopped_terminal_never_stops_a_service_or_its_log() {
    let fixture = flood_fixture(true);
    // Stop the terminal before the service floods, so what it prints meets a stopped tty.
    let mut tty = Tty::spawn(&fixture, &["up"], &[]);
    tty.screen.wait_for("is ready");
    tty.type_keys(CTRL_S);
    let stopped_at = SystemTime::now();
    std::fs::write(fixture.file("go"), "").unwrap();
    wait_for_the_whole_flood(&fixture, &tty.screen, stopped_at);
    // The terminal really was stopped: the flood ended while its last line had not reached it.
    let last = format!("line {}", FLOOD_LINES - 1);
    assert!(!tty.screen.text().contains(&last), "the terminal showed `{last}` before Ctrl-Q");

    tty.type_keys(CTRL_Q);
    let screen = tty.screen.wait_for("were not shown while the terminal was not reading");
    assert!(screen.contains(".agui-dev/logs/NAME.log"), "{screen}");
    tty.type_keys(CTRL_C);
    assert_eq!(tty.wait(WAIT), 0);
    assert_eq!(fixture.wait_for_no_survivors(WAIT), Vec::<i32>::new());
}

/// Ctrl-C typed while the terminal is stopped (Ctrl-S) still stops the stack and ends agui-dev:
/// the kernel delivers SIGINT even while output is held, and agui-dev does not wait on the
/// terminal to write its last lines.
#[test]
fn ctrl_c_while_the_terminal_is_stopped_still_ends_everything() {
    let fixture = Fixture::new(
        "[services.chatty]\ncommand = [\"python3\", \"-c\", \"import sys, time\\nwhile True: sys.stdout.write(('x' * 200 + '\\\\n') * 50); sys.stdout.flush(); time.sleep(0.001)\"]\n",
    );
    let mut tty = Tty::spawn(&fixture, &["up"], &[]);
    tty.screen.wait_for("xxxxxxxxxx");
    tty.type_keys(CTRL_S);
    // Wait until the stopped terminal shows in the log: it keeps growing while the screen does not.
    let log = fixture.file(".agui-dev/logs/chatty.log");
    let grown = std::fs::metadata(&log).unwrap().len() + 4 * 1024 * 1024;
    let deadline = Instant::now() + WAIT;
    while std::fs::metadata(&log).unwrap().len() < grown {
        assert!(Instant::now() < deadline, "the log stopped growing while the terminal was stopped");
        std::thread::sleep(Duration::from_millis(20));
    }
    tty.type_keys(CTRL_C);
    assert_eq!(tty.wait(WAIT), 0);
    assert_eq!(fixture.wait_for_no_survivors(WAIT), Vec::<i32>::new());
}

#[test]
fn check_and_doctor_print_their_reports_on_a_terminal() {
    let port = free_port();
    let fixture = fixture_with_late_http(&late_service("web", port, 0.0));
    let mut tty = Tty::spawn(&fixture, &["check"], &[]);
    assert_eq!(tty.wait(WAIT), 0, "{}", tty.screen.text());
    let screen = tty.screen.wait_until_closed();
    assert!(screen.contains("web"), "{screen}");
    assert!(screen.contains(&format!("http://127.0.0.1:{port}/health")), "{screen}");

    let mut tty = Tty::spawn(&fixture, &["doctor"], &[]);
    let code = tty.wait(WAIT);
    let screen = tty.screen.wait_until_closed();
    // A plain stack has nothing for the LiteLLM checks; what matters is a whole report and an end.
    assert!(code == 0 || code == 1, "{code}: {screen}");
    assert!(screen.contains("stack"), "{screen}");
    assert!(screen.contains('✓'), "{screen}");
}

#[test]
fn setup_shows_a_spinner_per_step_and_ends() {
    // A Node service with an empty lock file: `npm ci` runs offline in a moment.
    let fixture = Fixture::new("[services.web]\ncwd = \"web\"\ncommand = \"npm start\"\n");
    let web = fixture.file("web");
    std::fs::create_dir(&web).unwrap();
    std::fs::write(web.join("package.json"), r#"{"name":"web","version":"1.0.0","private":true}"#).unwrap();
    std::fs::write(
        web.join("package-lock.json"),
        r#"{"name":"web","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{"":{"name":"web","version":"1.0.0"}}}"#,
    )
    .unwrap();
    let mut tty = Tty::spawn(&fixture, &["setup"], &[]);
    assert_eq!(tty.wait(WAIT), 0, "{}", tty.screen.text());
    let screen = tty.screen.wait_until_closed();
    // The step names the package manager read from the lockfile.
    let spinner = screen.find("installing node modules in `web` (npm)").expect("a spinner while npm ci runs");
    let done = screen.find("node modules in `web` (npm): dependencies installed with npm").expect("a final line");
    assert!(screen[spinner..done].contains(CLEAR_LINE), "the spinner is cleared:\n{screen}");
}

#[test]
fn smoke_shows_a_spinner_per_check_and_passes() {
    let port = free_port();
    let stack = format!(
        "{}\n[[smoke]]\nname = \"health\"\nurl = \"http://127.0.0.1:{port}/health\"\nexpect_body_contains = \"ok\"\n",
        late_service("web", port, 0.5)
    );
    let fixture = fixture_with_late_http(&stack);
    let mut tty = Tty::spawn(&fixture, &["smoke"], &[]);
    assert_eq!(tty.wait(WAIT), 0, "{}", tty.screen.text());
    let screen = tty.screen.wait_until_closed();
    let spinner = screen.find("check `custom.health`").expect("a spinner while the check runs");
    let passed = screen.find("`custom.health` passed").expect("the check's line");
    assert!(screen[spinner..passed].contains(CLEAR_LINE), "the spinner is cleared:\n{screen}");
    assert!(screen.contains("smoke: 3 passed, 0 failed"), "{screen}");
    assert_eq!(fixture.wait_for_no_survivors(WAIT), Vec::<i32>::new());
}

/// The repository's own stack (real LiteLLM, the MCP and AG-UI templates) as a user starts it.
#[test]
fn the_real_stack_under_a_terminal_gets_ready_logs_and_stops_on_ctrl_c() {
    let (proxy, mcp, agui) = (free_port(), free_port(), free_port());
    let fixture = Fixture::new(&real_stack(proxy, mcp, agui));
    let mut tty = Tty::spawn(&fixture, &["up"], &[]);
    let screen = tty.screen.wait_for_within("all 3 services are ready", Duration::from_mins(15));
    for name in ["litellm", "mcp", "agui"] {
        assert!(screen.contains(&format!("`{name}` is ready")), "{name}: {screen}");
        let log = fixture.file(&format!(".agui-dev/logs/{name}.log"));
        let deadline = Instant::now() + WAIT;
        while std::fs::metadata(&log).map_or(0, |m| m.len()) == 0 {
            assert!(Instant::now() < deadline, "{name}.log stays empty");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert!(screen.contains("waiting for `litellm`"), "a spinner while LiteLLM starts: {screen}");
    tty.type_keys(CTRL_C);
    assert_eq!(tty.wait(WAIT), 0, "{}", tty.screen.text());
    assert_eq!(fixture.wait_for_no_survivors(WAIT), Vec::<i32>::new());
}

/// stdout is a pipe nobody reads (a pager that went away, a hung consumer): the service still
/// finishes its 200,000 lines (its own timestamp proves it), every line is in its log file, and
/// SIGTERM to agui-dev stops the stack within its grace period and ends agui-dev. The service's
/// own stamp proves it was stopped by the signal within the grace, not killed after it.
#[test]
fn a_stdout_nobody_reads_never_stops_a_service_and_sigterm_still_ends_everything() {
    let fixture = flood_fixture(false);
    let started = SystemTime::now();
    let mut child = fixture
        .command(&["up"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Held open and never read: writes to it block once the pipe's buffer is full.
    let _unread_stdout = child.stdout.take().unwrap();
    let stderr = Captured::start(child.stderr.take().unwrap());

    wait_for_the_whole_flood(&fixture, &stderr, started);

    let (signalled, signalled_at) = (Instant::now(), SystemTime::now());
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("agui-dev did not exit after SIGTERM with its stdout unread:\n{}", stderr.text());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = signalled.elapsed();
    let text = stderr.wait_until_closed();
    assert_eq!(status.code(), Some(0), "{text}");
    assert_eq!(fixture.wait_for_no_survivors(WAIT), Vec::<i32>::new());
    // Stopped by its SIGTERM, not killed when the grace ran out: the handler's stamp exists
    // (SIGKILL leaves none), falls between the signal to agui-dev and agui-dev's exit, and
    // agui-dev did not report a kill.
    let Some(stopped_at) = stamp(&fixture, "flood.stopped") else {
        panic!("the service left no stamp: it was killed, not stopped by SIGTERM:\n{text}")
    };
    let after = stopped_at - unix_seconds(signalled_at);
    assert!(
        (0.0..=took.as_secs_f64()).contains(&after),
        "the service stopped {after:.3} s after the SIGTERM to agui-dev, which exited after {took:?}"
    );
    assert!(!text.contains("did not stop within"), "{text}");
    // agui-dev itself ends with its stack: a stop that waited on the unread stdout would hang here
    // (a margin this wide absorbs a loaded machine; a hang does not fit in it).
    assert!(took < FLOOD_GRACE + Duration::from_secs(10), "agui-dev took {took:?} to exit after SIGTERM");
}
