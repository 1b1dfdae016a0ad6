//! The dev console `up` serves: who may use it (Host, token, Origin), that it answers what the
//! control socket answers, that no secret leaves it, when it is served at all, and the page itself
//! in Debian's Chromium against the real offline stack.
#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Fixture, WAIT, console_of, http};
use nix::sys::signal::Signal;
use serde_json::Value;

const SECRET: &str = "sk-console-test-0123456789abcdef";

fn stack(console: &str) -> String {
    format!(
        r#"
[services.talker]
command = ["sh", "-c", "echo started with $OPENAI_API_KEY; while true; do echo tick; sleep 0.1; done"]
env = {{ OPENAI_API_KEY = "{SECRET}" }}

{console}
"#
    )
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn talker_pid(port: u16, token: &str) -> i64 {
    let (code, _, body) = http(port, "GET", "/api/status", &[("X-Agui-Dev-Token", token)], "");
    assert_eq!(code, 200, "{body}");
    json(&body)["services"][0]["pid"].as_i64().unwrap()
}

#[test]
fn only_the_console_page_with_the_token_gets_in_and_no_secret_gets_out() {
    let fixture = Fixture::new(&stack("[console]\nport = \"auto\""));
    // `--console`: CI runs this with `CI` set, where the console is off unless asked.
    let mut up = fixture.spawn(&["up", "--console"]);
    up.stderr.wait_for("the service is ready");
    let (port, token) = console_of(&up);
    let with_token = [("X-Agui-Dev-Token", token.as_str())];
    let origin = format!("http://127.0.0.1:{port}");

    // The page: refused without the token, served with it (token in its links, headers set).
    let (code, _, body) = http(port, "GET", "/", &[], "");
    assert_eq!(code, 401, "{body}");
    assert!(!body.contains("<html") && body.contains("token"), "{body}");
    let (code, headers, body) = http(port, "GET", &format!("/?token={token}"), &[], "");
    assert_eq!(code, 200);
    assert!(body.contains(&format!("/assets/app.js?token={token}")), "{body}");
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
    assert!(header("content-security-policy").contains("default-src 'self'"), "{headers:?}");
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert_eq!(header("x-frame-options"), "DENY");
    for asset in ["/assets/app.js", "/assets/traces.js", "/assets/app.css"] {
        assert_eq!(http(port, "GET", asset, &[], "").0, 401, "{asset}");
        assert_eq!(http(port, "GET", asset, &with_token, "").0, 200, "{asset}");
    }

    // DNS rebinding: a foreign Host is refused even with the token; localhost is the console too.
    for host in ["evil.example", &format!("evil.example:{port}"), &format!("127.0.0.1:{}", port + 1)] {
        let (code, _, body) = http(port, "GET", "/api/status", &[("Host", host), with_token[0]], "");
        assert_eq!(code, 421, "Host {host}: {body}");
    }
    let localhost = format!("localhost:{port}");
    assert_eq!(http(port, "GET", "/api/status", &[("Host", &localhost), with_token[0]], "").0, 200);

    // State changes: the token and the console's own Origin, both.
    let pid = talker_pid(port, &token);
    let restart = r#"{"version":1,"op":"restart","services":["talker"]}"#;
    let refused = [
        (vec![("Origin", origin.as_str())], 401),
        (vec![with_token[0], ("Origin", "http://evil.example")], 403),
        (vec![with_token[0], ("Origin", "null")], 403),
        (vec![with_token[0]], 403),
    ];
    for (headers, expected) in refused {
        let (code, _, body) = http(port, "POST", "/api/control", &headers, restart);
        assert_eq!(code, expected, "{headers:?}: {body}");
    }
    assert_eq!(talker_pid(port, &token), pid, "a refused restart restarted");
    let (code, _, body) = http(port, "POST", "/api/control", &[with_token[0], ("Origin", &origin)], restart);
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["done"]["restarted"][0], "talker", "{body}");
    assert_ne!(talker_pid(port, &token), pid, "the restart kept the pid");

    // Garbage and `down` get protocol errors; the stack runs on.
    for garbage in ["", "{", "null", r#"{"version":2,"op":"status"}"#, r#"{"version":1,"op":"fly"}"#] {
        let (code, _, body) = http(port, "POST", "/api/control", &[with_token[0], ("Origin", &origin)], garbage);
        assert_eq!((code, json(&body)["ok"].clone()), (200, Value::Bool(false)), "{garbage}: {body}");
    }
    let down = r#"{"version":1,"op":"down"}"#;
    let (_, _, body) = http(port, "POST", "/api/control", &[with_token[0], ("Origin", &origin)], down);
    assert!(json(&body)["error"].as_str().unwrap().contains("agui-dev down"), "{body}");
    for (path, garbage) in [("/api/mcp/call", "{"), ("/api/mcp/call", r#"{"name":"x"}"#), ("/api/agent/reset", "[]")] {
        let (code, _, body) = http(port, "POST", path, &[with_token[0], ("Origin", &origin)], garbage);
        assert_eq!((code, json(&body)["ok"].clone()), (200, Value::Bool(false)), "{path} {garbage}: {body}");
    }
    for path in ["/api/mcp/tools", "/api/models"] {
        let (code, _, body) = http(port, "GET", path, &with_token, "");
        assert!(code == 200 && json(&body)["error"].as_str().unwrap().contains("no `kind"), "{path}: {body}");
    }
    let (code, _, _) = http(port, "GET", "/api/logs?n=many", &with_token, "");
    assert_eq!(code, 400);
    for body in ["{", r#"{"message": 3}"#] {
        let (code, _, answer) = http(port, "POST", "/api/agent/run", &[with_token[0], ("Origin", &origin)], body);
        assert_eq!(code, 200);
        assert!(answer.contains(r#""kind":"error""#) && answer.contains(r#""kind":"done""#), "{answer}");
    }

    // `/api/status` is the control socket's answer, and `status --json` names the console.
    let (_, _, body) = http(port, "GET", "/api/status", &with_token, "");
    let (code, socket_status, _) = fixture.run(&["status", "--json"]);
    assert_eq!(code, 0);
    let (console, socket) = (json(&body), json(&socket_status));
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&console), keys(&socket));
    assert_eq!(keys(&console["services"][0]), keys(&socket["services"][0]));
    assert!(socket["console"].as_str().unwrap().ends_with(&format!(":{port}/?token={token}")), "{socket}");
    let (_, stdout, stderr) = fixture.run(&["status"]);
    let table = stdout + &stderr;
    assert!(table.contains(&format!("console: http://127.0.0.1:{port}/?token={token}")), "{table}");

    // Logs, history and live: the key the service printed is redacted.
    let (_, _, history) = http(port, "GET", "/api/logs?service=talker&n=1000", &with_token, "");
    assert!(history.contains("started with [redacted:OPENAI_API_KEY]"), "{history}");
    // The service prints its key once per start: restart it while the stream is open.
    let restart_now = || {
        let (code, _, body) = http(port, "POST", "/api/control", &[with_token[0], ("Origin", &origin)], restart);
        assert_eq!(code, 200, "{body}");
    };
    let live = read_stream(port, &token, "/api/logs/stream", restart_now, |line| line.contains("started with"));
    assert!(live.contains("[redacted:OPENAI_API_KEY]"), "{live}");
    for text in [&body, &socket_status, &history, &live] {
        assert!(!text.contains(SECRET), "a secret left the console: {text}");
    }

    // A page still reading the live logs does not hold the stack up: its stream is ended.
    let (open_stream, mut reader) = open(port, &token, "/api/logs/stream");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut reader, &mut rest);
    assert!(open_stream.ends_with("\r\n\r\n"), "{open_stream}");
    assert!(fixture.wait_for_no_survivors(WAIT).is_empty());
    // The console's port closes with the stack.
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

/// Sends a GET with the token and reads the answer's head; returns it and the reader.
fn open(port: u16, token: &str, path: &str) -> (String, BufReader<TcpStream>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Agui-Dev-Token: {token}\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the stream closed: {head}");
        head.push_str(&line);
    }
    (head, reader)
}

/// Opens an event stream, runs `then` once its headers came, and reads until a line satisfies
/// `until` (or a minute passes); returns what came.
fn read_stream(port: u16, token: &str, path: &str, then: impl FnOnce(), until: impl Fn(&str) -> bool) -> String {
    let (mut seen, mut reader) = open(port, token, path);
    then();
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        seen.push_str(&line);
        if line.starts_with("data:") && until(&line) {
            return seen;
        }
    }
    panic!("the stream never gave the line; it gave:\n{seen}");
}

/// The frames of one relayed run: `{"kind": ...}` objects, in order.
fn agent_run(port: u16, token: &str, body: &str) -> Vec<Value> {
    let origin = format!("http://127.0.0.1:{port}");
    let (code, _, answer) =
        http(port, "POST", "/api/agent/run", &[("X-Agui-Dev-Token", token), ("Origin", &origin)], body);
    assert_eq!(code, 200, "{answer}");
    answer.lines().filter_map(|l| l.strip_prefix("data: ")).map(json).collect()
}

#[test]
fn the_agent_relay_streams_what_each_event_meant_keeps_the_thread_and_names_a_broken_rule() {
    let script = common::repo_root().join("tests/fixtures/agui-server/serve.py");
    let (good, bad) = (common::free_port(), common::free_port());
    let service = |name: &str, port: u16, mode: &str| {
        format!(
            "[services.{name}]\nkind = \"agui\"\ncommand = [\"python3\", {script:?}, \"{port}\", \"{mode}\", \"{SECRET}\"]\n\
             port = {port}\nready = {{ log = \"listening\" }}\nenv = {{ OPENAI_API_KEY = \"{SECRET}\" }}\n\n"
        )
    };
    // The relay talks to the stack's first `kind = "agui"` service: the good one here.
    let fixture =
        Fixture::new(&(service("good", good, "good") + &service("bad", bad, "bad") + "[console]\nport = \"auto\""));
    let mut up = fixture.spawn(&["up", "--console"]);
    up.stderr.wait_for("all 2 services are ready");
    let (port, token) = console_of(&up);

    let frames = agent_run(port, &token, r#"{"message":"hello"}"#);
    let kinds: Vec<&str> = frames.iter().map(|f| f["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"run"), "{frames:?}");
    assert_eq!(frames.last().unwrap(), &serde_json::json!({"kind": "done", "clean": true}), "{frames:?}");
    for kind in ["event", "text", "tool_call", "tool_result", "state"] {
        assert!(kinds.contains(&kind), "no `{kind}` frame in {kinds:?}");
    }
    let events: Vec<&Value> = frames.iter().filter(|f| f["kind"] == "event").collect();
    assert!(events.iter().enumerate().all(|(i, f)| f["index"] == i), "{events:?}");
    assert_eq!(events[0]["event"]["type"], "RUN_STARTED");
    let call = frames.iter().find(|f| f["kind"] == "tool_result").unwrap();
    assert_eq!((call["name"].as_str(), call["result"].as_str()), (Some("lookup"), Some(r#"{"sunny":true}"#)));
    let text = |frames: &[Value]| {
        frames.iter().filter(|f| f["kind"] == "text").map(|f| f["text"].as_str().unwrap()).collect::<String>()
    };
    assert_eq!(text(&frames), "fixture answer: messages=1");
    // Each piece of text names its message (the id of the content event before it).
    for (i, frame) in frames.iter().enumerate().filter(|(_, f)| f["kind"] == "text") {
        let event = frames[..i].iter().rev().find(|f| f["kind"] == "event").unwrap();
        assert_eq!(frame["message_id"], event["event"]["messageId"], "{frame} after {event}");
        assert!(frame["message_id"].is_string(), "{frame}");
    }

    // The same thread: the server gets the whole conversation again; a reset forgets it.
    let thread = frames[0]["thread"].as_str().unwrap().to_owned();
    let again = agent_run(port, &token, &format!(r#"{{"message":"more","thread":"{thread}"}}"#));
    assert_eq!(text(&again), "fixture answer: messages=5", "{again:?}");
    let origin = format!("http://127.0.0.1:{port}");
    let reset = format!(r#"{{"thread":"{thread}"}}"#);
    let (_, _, body) =
        http(port, "POST", "/api/agent/reset", &[("X-Agui-Dev-Token", &token), ("Origin", &origin)], &reset);
    assert_eq!(json(&body)["ok"], true);
    let fresh = agent_run(port, &token, &format!(r#"{{"message":"anew","thread":"{thread}"}}"#));
    assert_eq!(text(&fresh), "fixture answer: messages=1", "{fresh:?}");

    // The broken run, through a stack whose only AG-UI server is the bad one: the rule named at
    // its event, the run not clean, the secret it quotes redacted.
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    std::fs::write(fixture.file("stack.toml"), service("bad", bad, "bad") + "[console]\nport = \"auto\"").unwrap();
    let mut up = fixture.spawn(&["up", "--console"]);
    up.stderr.wait_for("the service is ready");
    let (port, token) = console_of(&up);
    let frames = agent_run(port, &token, r#"{"message":"hello"}"#);
    let violation = frames.iter().find(|f| f["kind"] == "violation").unwrap_or_else(|| panic!("{frames:?}"));
    assert_eq!((violation["rule"].as_str(), violation["index"].as_u64()), (Some("agui.text-content-open"), Some(2)));
    assert_eq!(frames.last().unwrap()["clean"], false);
    let raw = serde_json::to_string(&frames).unwrap();
    assert!(!raw.contains(SECRET) && raw.contains("[redacted:OPENAI_API_KEY]"), "{raw}");
    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    assert!(fixture.wait_for_no_survivors(WAIT).is_empty());
}

#[test]
fn a_key_a_restart_reads_from_env_is_redacted_in_what_the_console_sends() {
    const LATE: &str = "sk-late-key-0123456789abcdef";
    let fixture = Fixture::new(&format!(
        "[services.talker]\ncommand = [\"sh\", \"-c\", \"echo printed {LATE}; exec sleep 600\"]\nenv_files = [\".env\"]\n\n[console]\nport = \"auto\"\n"
    ));
    std::fs::write(fixture.file(".env"), "UNRELATED=1\n").unwrap();
    let mut up = fixture.spawn(&["up", "--console", "--no-watch"]);
    up.stderr.wait_for("the service is ready");
    up.stdout.wait_for("printed");
    let (port, token) = console_of(&up);
    let with_token = [("X-Agui-Dev-Token", token.as_str())];
    // Not a secret yet: the log file holds it as printed.
    let (_, _, history) = http(port, "GET", "/api/logs?service=talker", &with_token, "");
    assert!(history.contains(LATE), "{history}");

    // The key arrives in the service's own env file (so it is the service's to receive); a restart
    // reads it; from then on nothing the console sends has it, the old log line included.
    std::fs::write(fixture.file(".env"), format!("UNRELATED=1\nLATE_API_KEY={LATE}\n")).unwrap();
    let origin = format!("http://127.0.0.1:{port}");
    let restart = r#"{"version":1,"op":"restart","services":["talker"]}"#;
    let (code, _, body) = http(port, "POST", "/api/control", &[with_token[0], ("Origin", &origin)], restart);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("LATE_API_KEY") && !body.contains(LATE), "{body}");
    let (_, _, history) = http(port, "GET", "/api/logs?service=talker", &with_token, "");
    assert!(!history.contains(LATE) && history.contains("printed [redacted:LATE_API_KEY]"), "{history}");

    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    assert!(fixture.wait_for_no_survivors(WAIT).is_empty());
}

/// `/api/logs?service=` reads only a service of the stack: a path (`../../x`, percent-encoded or
/// not, or absolute) or an unknown name gets 404 and none of the file it points at.
#[test]
fn the_console_reads_the_logs_of_the_stacks_services_and_no_other_file() {
    let fixture = Fixture::new(&stack("[console]\nport = \"auto\""));
    // `.agui-dev/logs/../../outside.log` is this file.
    std::fs::write(fixture.file("outside.log"), "not-a-service-log\n").unwrap();
    let mut up = fixture.spawn(&["up", "--console", "--no-watch"]);
    up.stderr.wait_for("the service is ready");
    up.stdout.wait_for("tick");
    let (port, token) = console_of(&up);
    let with_token = [("X-Agui-Dev-Token", token.as_str())];

    let (code, _, body) = http(port, "GET", "/api/logs?service=talker", &with_token, "");
    assert_eq!(code, 200, "{body}");
    assert!(json(&body)["lines"].as_array().unwrap().iter().any(|l| l["text"] == "tick"), "{body}");
    let outside = fixture.file("outside").display().to_string();
    for name in ["../../outside", "..%2F..%2Foutside", "no-such-service", &outside, "talker/../../../outside"] {
        let (code, _, body) = http(port, "GET", &format!("/api/logs?service={name}"), &with_token, "");
        assert_eq!(code, 404, "{name}: {body}");
        assert!(!body.contains("not-a-service-log"), "{name}: {body}");
        assert!(json(&body)["error"].as_str().unwrap().contains("(talker)"), "{name}: {body}");
    }

    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    assert!(fixture.wait_for_no_survivors(WAIT).is_empty());
}

#[test]
fn the_console_is_served_unless_ci_or_the_stack_file_or_a_flag_says_no() {
    let fixture = Fixture::new(&stack("[console]\nport = \"auto\""));
    let serves = |args: &[&str], ci: Option<&str>| {
        let mut command = fixture.command(args);
        match ci {
            Some(value) => command.env("CI", value),
            None => command.env_remove("CI"),
        };
        let mut up = fixture.spawn_command(command);
        let text = up.stderr.wait_for("the service is ready");
        up.signal(Signal::SIGINT);
        assert_eq!(up.wait(), 0);
        text.contains("console: http://127.0.0.1:")
    };
    assert!(serves(&["up"], None));
    assert!(serves(&["up"], Some("")), "an empty CI is no CI");
    assert!(!serves(&["up"], Some("true")));
    assert!(serves(&["up", "--console"], Some("true")));
    assert!(!serves(&["up", "--no-console"], None));

    std::fs::write(fixture.file("stack.toml"), stack("[console]\nenabled = false")).unwrap();
    assert!(!serves(&["up"], None));
    std::fs::write(fixture.file("stack.toml"), stack("[console]\nenabled = true\nport = \"auto\"")).unwrap();
    assert!(serves(&["up"], Some("true")));
}

#[test]
fn a_taken_console_port_names_its_holder_and_nothing_starts() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let fixture = Fixture::new(&format!(
        "[services.talker]\ncommand = [\"sh\", \"-c\", \"touch started; sleep 100\"]\n\n[console]\nport = {port}\n"
    ));
    let (code, _, stderr) = fixture.run(&["up", "--console"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(&format!("the console's port {port} is in use; nothing was started")), "{stderr}");
    assert!(stderr.contains(&format!("held by pid {}", std::process::id())), "{stderr}");
    assert!(!fixture.file("started").exists());

    // Bad values are located in the file, with a fix.
    for (console, expected) in [
        ("[console]\nport = 0", "stack.toml:4:8: port 0 is not between 1 and 65535"),
        ("[console]\nport = \"any\"", "stack.toml:4:8: port `any` is neither a number nor \"auto\""),
        ("[console]\nprot = 4400", "unknown key `prot`"),
        ("[console]\nenabled = \"yes\"", "stack.toml:4:11"),
    ] {
        std::fs::write(fixture.file("stack.toml"), format!("[services.x]\ncommand = \"true\"\n{console}\n")).unwrap();
        let (code, _, stderr) = fixture.run(&["check"]);
        assert_eq!(code, 2, "{console}: {stderr}");
        assert!(stderr.contains(expected), "{console}: expected `{expected}` in:\n{stderr}");
        assert!(stderr.contains("hint:"), "{stderr}");
    }
    let shared = "[services.x]\ncommand = \"true\"\nport = 4567\n\n[console]\nport = 4567\n";
    std::fs::write(fixture.file("stack.toml"), shared).unwrap();
    let (code, _, stderr) = fixture.run(&["check"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("the console's port 4567 is also the port of `x`"), "{stderr}");
    drop(holder);
}

#[test]
fn the_console_page_in_chromium_drives_the_real_offline_stack() {
    // Installed first (when missing), so the install does not eat into the stack's waits.
    common::browser::chromium();
    common::browser::driver("console.mjs");
    let (proxy, mcp, agui) = (common::free_port(), common::free_port(), common::free_port());
    let fixture = Fixture::new(&(common::real_stack(proxy, mcp, agui) + "\n[console]\nport = \"auto\"\n"));
    let mut up = fixture.spawn_command(fixture.offline_command(&["up", "--console"]));
    up.stderr.wait_for_within("all 3 services are ready", Duration::from_mins(15));
    let (port, token) = console_of(&up);

    let url = format!("http://127.0.0.1:{port}/?token={token}");
    let steps = common::browser::console_steps(&url, &[]);
    let screenshots = common::repo_root().join("target/console-screenshots");
    let step = |name: &str| {
        steps.iter().find(|s| s["step"] == name).unwrap_or_else(|| panic!("no step `{name}` in {steps:?}")).clone()
    };
    for name in ["refused", "loads", "restart", "chat", "mcp", "logs", "token-dropped", "page-clean"] {
        assert_eq!(step(name)["ok"], true, "{name}: {:?}", step(name));
    }
    let restart = step("restart");
    assert!(restart["old_pid"].is_i64() && restart["new_pid"].is_i64(), "{restart}");
    assert_ne!(restart["old_pid"], restart["new_pid"], "{restart}");
    assert!(step("mcp")["result"].as_str().unwrap().contains("42"));
    assert!(!step("chat")["text"].as_str().unwrap().is_empty());
    let chat = step("chat");
    let types: Vec<&str> = chat["types"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!((types.first(), types.last()), (Some(&"RUN_STARTED"), Some(&"RUN_FINISHED")), "{chat}");
    // Screenshots of every panel, kept under target/ for CI's artifacts.
    for name in ["stack", "stack-restarted", "logs", "agent", "mcp", "models"] {
        let shot = screenshots.join(format!("{name}.png"));
        assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 1000), "no screenshot {}", shot.display());
    }

    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0);
    assert!(fixture.wait_for_no_survivors(WAIT).is_empty());
}
