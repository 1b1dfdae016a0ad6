//! The control socket with real processes: `up -d`, `status --json`, `restart` (pids, dependents,
//! `.env` re-read, variable names only), `down` leaving nothing, and garbage on the socket.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;

use common::{Fixture, WAIT};

const STACK: &str = r#"
[stack]
env_files = [".env"]

[services.a]
command = ["sh", "-c", "echo a up; exec sleep 1000"]

[services.b]
command = ["sh", "-c", "echo b says $GREETING; exec sleep 1000"]
depends_on = ["a"]
ready = { log = "b says" }

[services.c]
command = ["sh", "-c", "echo c up; exec sleep 1000"]
depends_on = ["b"]
"#;

fn pids(fixture: &Fixture) -> HashMap<String, i64> {
    let (code, stdout, stderr) = fixture.run(&["status", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let status: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["version"], 1);
    status["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["state"], "ready", "{s}");
            (s["name"].as_str().unwrap().to_owned(), s["pid"].as_i64().unwrap())
        })
        .collect()
}

struct Down<'a>(&'a Fixture);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["down"]);
        for pid in self.0.survivors() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

#[test]
fn detached_stack_restart_env_and_down() {
    let fixture = Fixture::new(STACK);
    std::fs::write(fixture.file(".env"), "GREETING=hello-old-value\n").unwrap();
    // Without the watch: the `.env` edit below would otherwise reload every service that reads
    // it (`a` too) on its own, and this test is about `restart` doing it.
    let (code, _, stderr) = fixture.run(&["up", "-d", "--no-watch"]);
    assert_eq!(code, 0, "{stderr}");
    let _down = Down(&fixture);
    let before = pids(&fixture);

    // A second `up` names the commands to use.
    let (code, _, stderr) = fixture.run(&["up"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("`agui-dev logs -f`") && stderr.contains("`agui-dev down`"), "{stderr}");

    // `restart b` after editing `.env`: b and its dependent c restart, a keeps its pid.
    std::fs::write(fixture.file(".env"), "GREETING=hello-new-value\n").unwrap();
    let (code, _, stderr) = fixture.run(&["restart", "b"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("changed `GREETING`"), "{stderr}");
    assert!(!stderr.contains("hello-new-value") && !stderr.contains("hello-old-value"), "{stderr}");
    let after = pids(&fixture);
    assert_eq!(after["a"], before["a"]);
    assert_ne!(after["b"], before["b"]);
    assert_ne!(after["c"], before["c"]);
    let b_log = std::fs::read_to_string(fixture.file(".agui-dev/logs/b.log")).unwrap();
    assert!(b_log.contains("b says hello-new-value"), "{b_log}");
    let a_log = std::fs::read_to_string(fixture.file(".agui-dev/logs/a.log")).unwrap();
    assert_eq!(a_log.matches("a up").count(), 1, "{a_log}");

    // --no-deps: only b.
    let (code, _, stderr) = fixture.run(&["restart", "--no-deps", "b"]);
    assert_eq!(code, 0, "{stderr}");
    let again = pids(&fixture);
    assert_eq!(again["c"], after["c"]);
    assert_ne!(again["b"], after["b"]);

    // Garbage on the socket: error answers, and the supervisor still answers.
    let socket = fixture.file(".agui-dev/control.sock");
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    for round in 0..300 {
        let mut stream = UnixStream::connect(&socket).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let len = (round % 200) + 1;
        let mut bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed & 0xff) as u8
            })
            .filter(|b| *b != b'\n')
            .collect();
        bytes.push(b'\n');
        stream.write_all(&bytes).unwrap();
        let mut answer = String::new();
        BufReader::new(&stream).read_line(&mut answer).unwrap();
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["ok"], false, "{answer}");
    }
    // An oversized request gets an error answer.
    let mut stream = UnixStream::connect(&socket).unwrap();
    let _ = stream.write_all(&vec![b'x'; 200 * 1024]);
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer).unwrap();
    assert!(answer.contains("longer than"), "{answer}");
    assert_eq!(pids(&fixture)["a"], before["a"]);

    // `down`: nothing left, lock released.
    let (code, _, stderr) = fixture.run(&["down"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(fixture.survivors().is_empty(), "{:?}", fixture.survivors());
    assert_eq!(std::fs::read_to_string(fixture.file(".agui-dev/run.lock")).unwrap(), "");
    let (code, _, stderr) = fixture.run(&["status"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no stack is running here") && stderr.contains("agui-dev up"), "{stderr}");
}

/// Needs root (to run a client as `nobody`), so it is ignored unless asked for; see the README's
/// Development section for the rule.
#[test]
#[ignore = "needs root: .ci/run runs it as root with --run-ignored all"]
fn root_another_user_is_refused_by_peer_credentials() {
    common::require_root("setpriv");
    let fixture = Fixture::new(STACK);
    std::fs::write(fixture.file(".env"), "GREETING=x\n").unwrap();
    let (code, _, stderr) = fixture.run(&["up", "-d"]);
    assert_eq!(code, 0, "{stderr}");
    let _down = Down(&fixture);
    // Only in this test: let `nobody` reach the socket, so the uid check is what refuses it.
    let open = std::fs::Permissions::from_mode(0o777);
    std::fs::set_permissions(fixture.path(), open.clone()).unwrap();
    std::fs::set_permissions(fixture.file(".agui-dev"), open.clone()).unwrap();
    std::fs::set_permissions(fixture.file(".agui-dev/control.sock"), open).unwrap();
    let output = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", common::BIN, "-f"])
        .arg(fixture.file("stack.toml"))
        .arg("status")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refused: only the user running the stack"), "{stderr}");
    let log = std::fs::read_to_string(fixture.file(".agui-dev/detached.log")).unwrap();
    assert!(log.contains("SO_PEERCRED"), "{log}");
}

/// `up -d`, then from other "terminals": `logs -f` sees a line the service prints later; `wait`
/// with a limit gives up on a service that is not ready (exit 1) and succeeds once it is; `stop`
/// and `start`; `down` leaves nothing.
#[test]
fn detached_stack_follow_wait_stop_start_and_down() {
    let fixture = Fixture::new(
        "[services.gate]\ncommand = [\"python3\", \"gate.py\"]\nready = { log = \"open\" }\n\
         [services.after]\ncommand = [\"sh\", \"-c\", \"echo after up; exec sleep 1000\"]\ndepends_on = [\"gate\"]\n",
    );
    // Says `open` once the file `go` exists, then echoes every `say-*` file that appears.
    std::fs::write(
        fixture.file("gate.py"),
        "import os, time\nwhile not os.path.exists('go'): time.sleep(0.01)\nprint('open', flush=True)\n\
         seen = set()\nwhile True:\n\
         \x20   for name in sorted(os.listdir('.')):\n\
         \x20       if name.startswith('say-') and name not in seen:\n\
         \x20           seen.add(name); print(name, flush=True)\n\
         \x20   time.sleep(0.01)\n",
    )
    .unwrap();
    std::fs::write(fixture.file("go"), "").unwrap();
    let (code, _, stderr) = fixture.run(&["up", "-d"]);
    assert_eq!(code, 0, "{stderr}");
    let _down = Down(&fixture);

    let mut follow = fixture.spawn(&["logs", "-f"]);
    follow.stdout.wait_for("gate  | open");
    std::fs::write(fixture.file("say-hello"), "").unwrap();
    follow.stdout.wait_for("gate  | say-hello");

    // A restart that cannot get ready until `go` is back: `wait` with a limit gives up meanwhile.
    std::fs::remove_file(fixture.file("go")).unwrap();
    let mut restart = fixture.spawn(&["restart", "--no-deps", "gate"]);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (_, status, _) = fixture.run(&["status", "--json"]);
        if status.contains("\"starting\"") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "gate never restarted: {status}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (code, _, stderr) = fixture.run(&["wait", "gate", "--timeout", "300ms"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("not ready within"), "{stderr}");
    std::fs::write(fixture.file("go"), "").unwrap();
    assert_eq!(restart.wait(), 0, "{}", restart.stderr.text());
    let (code, _, stderr) = fixture.run(&["wait", "--timeout", "60s"]);
    assert_eq!(code, 0, "{stderr}");
    follow.stdout.wait_until("the restarted service's first line", |t| t.matches("gate  | open").count() == 2);

    // `stop after` stops it alone; `start after` brings it back.
    let (code, _, stderr) = fixture.run(&["stop", "after"]);
    assert_eq!(code, 0, "{stderr}");
    let (_, status, _) = fixture.run(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let state = |name: &str| {
        status["services"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap()["state"].clone()
    };
    assert_eq!(state("after"), "stopped");
    assert_eq!(state("gate"), "ready");
    let (code, _, stderr) = fixture.run(&["start", "after"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = fixture.run(&["wait", "after", "--timeout", "60s"]);
    assert_eq!(code, 0, "{stderr}");

    let (code, _, stderr) = fixture.run(&["down"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(fixture.survivors().is_empty(), "{:?}", fixture.survivors());
    follow.signal(nix::sys::signal::Signal::SIGINT);
    assert_eq!(follow.wait(), 0);
}

/// Serves 200 to every GET on 127.0.0.1 (or the address given), says `serving`, and exits with
/// code 3 when the file `crash-PORT` appears (removing it, so the restart stays up).
const SERVER: &str = "import http.server, os, sys, threading, time\n\
port = int(sys.argv[1]); bind = sys.argv[2] if len(sys.argv) > 2 else '127.0.0.1'\n\
class Ok(http.server.BaseHTTPRequestHandler):\n\
\x20   def do_GET(self):\n\
\x20       self.send_response(200); self.send_header('Content-Length', '2'); self.end_headers(); self.wfile.write(b'ok')\n\
\x20   def log_message(self, *args): pass\n\
server = http.server.ThreadingHTTPServer((bind, port), Ok)\n\
threading.Thread(target=server.serve_forever, daemon=True).start()\n\
print('serving', flush=True)\n\
while True:\n\
\x20   if os.path.exists(f'crash-{port}'):\n\
\x20       os.remove(f'crash-{port}'); os._exit(3)\n\
\x20   time.sleep(0.01)\n";

fn status_json(fixture: &Fixture) -> serde_json::Value {
    let (code, stdout, stderr) = fixture.run(&["status", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn service<'a>(status: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    status["services"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap()
}

/// Polls `status --json` until `done` holds (bounded by `WAIT`); the answer that met it.
fn status_until(fixture: &Fixture, what: &str, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let status = status_json(fixture);
        if done(&status) {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "gave up waiting for {what}: {status}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A real process listening on every interface shows in `status --json` as `exposed` and in the
/// table as a warning with the fix; one on loopback shows neither.
#[test]
fn status_names_a_service_listening_beyond_loopback() {
    let (wide, narrow) = (common::free_port(), common::free_port());
    let fixture = Fixture::new(&format!(
        "[services.wide]\ncommand = [\"python3\", \"server.py\", \"{wide}\", \"0.0.0.0\"]\nready = {{ log = \"serving\" }}\n\
         [services.narrow]\ncommand = [\"python3\", \"server.py\", \"{narrow}\"]\nready = {{ log = \"serving\" }}\n"
    ));
    std::fs::write(fixture.file("server.py"), SERVER).unwrap();
    let (code, _, stderr) = fixture.run(&["up", "-d", "--no-watch"]);
    assert_eq!(code, 0, "{stderr}");
    let _down = Down(&fixture);

    let status = status_json(&fixture);
    assert_eq!(service(&status, "wide")["exposed"], serde_json::json!([format!("0.0.0.0:{wide}")]), "{status}");
    // Left out when empty, so a version-1 client from before the field reads the same answer.
    assert!(service(&status, "narrow").get("exposed").is_none(), "{status}");

    // The table is a report for people: on stderr, as `check`'s is.
    let (code, _, table) = fixture.run(&["status"]);
    assert_eq!(code, 0, "{table}");
    assert!(
        table.contains(&format!("warning: `wide` listens on 0.0.0.0:{wide}: other machines can reach it")),
        "{table}"
    );
    assert!(table.contains("fix: make it listen on 127.0.0.1 (set `HOST = \"127.0.0.1\"`"), "{table}");
    assert!(!table.contains("`narrow` listens"), "{table}");

    let (code, _, stderr) = fixture.run(&["down"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(fixture.survivors().is_empty(), "{:?}", fixture.survivors());
}

/// `status`'s fields with real processes: the URL, uptime and time to ready, a crash counted in
/// `restarts` with `last_exit`, and the model of a litellm-kind service given a bare `model` with
/// its provider key missing (the offline one). The proxy is a stand-in answering its health route:
/// the model and whether it is offline come from the stack file, not from LiteLLM.
#[test]
fn status_reports_url_times_restarts_last_exit_and_the_offline_model() {
    let (proxy, api) = (common::free_port(), common::free_port());
    let fixture = Fixture::new(&format!(
        "[services.proxy]\nkind = \"litellm\"\nmodel = \"deepseek/deepseek-chat\"\nport = {proxy}\n\
         command = [\"python3\", \"server.py\", \"{proxy}\"]\n\
         [services.api]\ncommand = [\"python3\", \"server.py\", \"{api}\"]\nport = {api}\nrestart = \"on-failure\"\n\
         ready = {{ log = \"serving\" }}\ndepends_on = [\"proxy\"]\n"
    ));
    std::fs::write(fixture.file("server.py"), SERVER).unwrap();
    let output = fixture.offline_command(&["up", "-d", "--no-watch"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let _down = Down(&fixture);

    let status = status_json(&fixture);
    assert_eq!(status["model"], "offline", "{status}");
    assert_eq!(status["offline"], true, "{status}");
    let first = service(&status, "api").clone();
    assert_eq!(first["state"], "ready");
    assert_eq!(first["url"], format!("http://127.0.0.1:{api}"));
    assert_eq!(first["port"], api);
    assert_eq!(first["restarts"], 0);
    assert!(first["last_exit"].is_null(), "{first}");
    assert!(first["uptime_ms"].as_u64().is_some() && first["ready_ms"].as_u64().is_some(), "{first}");
    assert!(service(&status, "proxy")["url"].as_str().unwrap().starts_with(&format!("http://127.0.0.1:{proxy}")));
    // Uptime goes on while ready_ms stays what the start took.
    let later = status_until(&fixture, "uptime to grow", |s| {
        service(s, "api")["uptime_ms"].as_u64() > first["uptime_ms"].as_u64()
    });
    assert_eq!(service(&later, "api")["ready_ms"], first["ready_ms"]);

    // A crash: restarted (on-failure), counted, and how it ended kept.
    std::fs::write(fixture.file(&format!("crash-{api}")), "").unwrap();
    let after = status_until(&fixture, "api restarted and ready", |s| {
        service(s, "api")["restarts"] == 1 && service(s, "api")["state"] == "ready"
    });
    let api_after = service(&after, "api");
    assert_eq!(api_after["last_exit"], "exited with code 3", "{after}");
    assert_ne!(api_after["pid"], first["pid"]);
    assert_eq!(service(&after, "proxy")["restarts"], 0);

    // The table is a report for people: on stderr, as `check`'s is.
    let (code, _, table) = fixture.run(&["status"]);
    assert_eq!(code, 0, "{table}");
    assert!(table.contains("exited with code 3"), "{table}");
    assert!(table.contains("model: `offline` (the offline model: canned answers)"), "{table}");

    let (code, _, stderr) = fixture.run(&["down"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(fixture.survivors().is_empty(), "{:?}", fixture.survivors());
}

/// `up -d` with a service that fails to start: exit 1, the service's last lines in the error, and
/// nothing left running (not the service that was ready, not the background agui-dev).
#[test]
fn detached_up_with_a_failing_service_exits_1_with_its_last_lines_and_leaves_nothing() {
    let fixture = Fixture::new(
        "[services.a]\ncommand = [\"sh\", \"-c\", \"echo a up; exec sleep 1000\"]\n\
         [services.b]\ncommand = [\"sh\", \"-c\", \"echo loading config; echo 'fatal: no config at ./b.yaml'; exit 4\"]\n\
         depends_on = [\"a\"]\nready = { log = \"never printed\" }\n",
    );
    let (code, _, stderr) = fixture.run(&["up", "-d", "--no-watch"]);
    let _down = Down(&fixture);
    assert_eq!(code, 1, "{stderr}");
    // Which of `b`'s ends is seen first (its exit, or its output ending before the ready line)
    // is a race; either way the error names it.
    assert!(stderr.contains("the stack did not start; nothing is left running"), "{stderr}");
    assert!(stderr.contains("service `b`"), "{stderr}");
    assert!(stderr.contains("fatal: no config at ./b.yaml"), "its last lines: {stderr}");
    assert!(stderr.contains("loading config"), "its last lines: {stderr}");
    assert_eq!(fixture.wait_for_no_survivors(WAIT), Vec::<i32>::new());
    let (code, _, stderr) = fixture.run(&["status"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no stack is running here"), "{stderr}");
    let lock = std::fs::read_to_string(fixture.file(".agui-dev/run.lock")).unwrap_or_default();
    assert_eq!(lock, "", "the lock is released");
}

/// A supervisor that takes connections and never answers (stuck, or stopped with SIGSTOP): `status`,
/// a `restart` (which waits on the stack, so it checks with a `status` first) and the MCP `status`
/// tool each end within the answer limit with an error naming the pid in `run.lock`, instead of
/// waiting for ever.
#[test]
fn a_silent_supervisor_is_named_by_its_pid_within_the_answer_limit() {
    let fixture = Fixture::new(STACK);
    std::fs::create_dir_all(fixture.file(".agui-dev")).unwrap();
    // The kernel completes each connection into the listener's backlog; nobody ever reads it.
    let _silent = std::os::unix::net::UnixListener::bind(fixture.file(".agui-dev/control.sock")).unwrap();
    let pid = std::process::id();
    std::fs::write(fixture.file(".agui-dev/run.lock"), pid.to_string()).unwrap();

    let began = std::time::Instant::now();
    let mut status = fixture.spawn(&["status"]);
    let mut restart = fixture.spawn(&["restart", "a"]);
    let mut mcp = fixture
        .command(&["mcp"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // A 2026-07-28 request: no handshake, its version and the client's capabilities in `_meta`.
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"status","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    writeln!(mcp.stdin.take().unwrap(), "{call}").unwrap();
    let mcp_out = common::Captured::start(mcp.stdout.take().unwrap());

    let named = format!("the stack's agui-dev (pid {pid}) did not answer within 10s");
    for (what, running) in [("status", &mut status), ("restart", &mut restart)] {
        // `wait` kills it and fails the test if it is still waiting after `WAIT`.
        assert_eq!(running.wait(), 1, "{what}");
        let stderr = running.stderr.text();
        assert!(stderr.contains(&named), "{what}: {stderr}");
        assert!(stderr.contains("hint:") && stderr.contains(&format!("`kill {pid}`")), "{what}: {stderr}");
    }
    let answer = mcp_out.wait_until("the MCP tool's answer", |text| text.contains('\n'));
    let _ = mcp.kill();
    let _ = mcp.wait();
    let answer: serde_json::Value = serde_json::from_str(answer.lines().next().unwrap()).unwrap();
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    assert!(answer["result"]["content"][0]["text"].as_str().unwrap().contains(&named), "{answer}");
    // All three waited out their limit side by side, not one after another.
    assert!(began.elapsed() < WAIT, "{:?}", began.elapsed());
}

/// The CPU time (user + system) a process has used so far: /proc/PID/stat's utime and stime, in
/// clock ticks of 10 ms (USER_HZ is 100 on Linux, whatever the kernel's own HZ).
fn cpu_time(pid: i32) -> std::time::Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    // After the command name: state is field 3, utime 14 and stime 15 (1-based, as proc(5) counts).
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    std::time::Duration::from_millis(ticks * 10)
}

/// Sets a process's soft limit on open files, keeping its hard limit.
fn set_open_files(pid: i32, soft: u64) {
    let output = std::process::Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--nofile={soft}:")])
        .output()
        .expect("prlimit (util-linux) is needed");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// Out of file descriptors with a client waiting, every `accept` fails at once (EMFILE). The control
/// socket's loop must wait between tries instead of spinning a core, say so once, and take clients
/// again once descriptors free up.
#[test]
fn the_control_socket_backs_off_when_out_of_file_descriptors() {
    let fixture = Fixture::new("[services.a]\ncommand = \"sleep 1000\"\n");
    let mut up = fixture.spawn(&["up", "--no-console", "--no-watch"]);
    up.stderr.wait_for("the service is ready");
    let pid = up.pid();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let soft: u64 = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap();

    // The lowest limit that leaves at most two descriptors free below it: fds are handed out
    // lowest first, so two clients are taken and the third finds none.
    let mut open: Vec<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
        .collect();
    open.sort_unstable();
    let free_below = |limit: u64| limit - open.iter().filter(|fd| **fd < limit).count() as u64;
    let limit = (1..=open.last().unwrap() + 1).filter(|l| free_below(*l) <= 2).max().unwrap();
    set_open_files(pid, limit);
    let socket = fixture.file(".agui-dev/control.sock");
    let clients: Vec<UnixStream> = (0..8).map(|_| UnixStream::connect(&socket).unwrap()).collect();

    // A window of wall time over which to measure CPU time: a spinning loop burns most of it.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let before = cpu_time(pid);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let used = cpu_time(pid).saturating_sub(before);
    assert!(
        used < std::time::Duration::from_millis(300),
        "agui-dev used {used:?} of CPU in 2 s while out of descriptors"
    );
    let said = up.stderr.wait_for("the control socket cannot take a connection");
    assert!(said.contains("Too many open files"), "{said}");

    // Descriptors back: the waiting clients are taken, and a new one gets its answer.
    set_open_files(pid, soft);
    drop(clients);
    let (code, _, stderr) = fixture.run(&["status"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(up.stderr.text().matches("cannot take a connection").count(), 1, "said once");
    up.signal(nix::sys::signal::Signal::SIGINT);
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
}
