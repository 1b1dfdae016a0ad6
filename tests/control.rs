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

#[test]
fn another_user_is_refused_by_peer_credentials() {
    if !nix::unistd::getuid().is_root() || std::process::Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: needs root and setpriv");
        return;
    }
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
