#![allow(clippy::unwrap_used)]
//! `agui-dev trace` and the trace totals of `status`, against a real `up -d` whose one service does
//! nothing: the test posts spans to the stack's trace receiver as the services' exporters would
//! (protobuf and OTLP/JSON; `common::traced`), then reads them back through the control socket as
//! a waterfall (tree order, indentation, durations, bars on one axis, details, the error mark), as
//! JSON, as the list, and in `status`; once more under a pseudo-terminal for colour and width.

mod common;

use common::pty::Tty;
use common::traced::{self, BASE_NS, IDLE_STACK, agent_run, not_a_run, post_all, short_run, trace_id};
use common::{Fixture, WAIT};
use serde_json::Value;

/// `agui-dev ARGS` with stdout 100 columns wide (a pipe: `$COLUMNS`, no colour).
fn run(fixture: &Fixture, args: &[&str]) -> (i32, String, String) {
    let output = fixture.command(args).env("COLUMNS", "100").output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A waterfall's span rows (those that start with a service name): (service, indentation of the
/// name, name, duration), and the column where each row's bar starts.
fn rows(waterfall: &str) -> Vec<((String, usize, String, String), usize)> {
    waterfall
        .lines()
        .skip_while(|line| !line.starts_with("SERVICE  SPAN"))
        .skip(1)
        .filter(|line| !line.starts_with(' '))
        .map(|line| {
            let chars: Vec<char> = line.chars().collect();
            let service: String = chars[..7].iter().collect();
            let label: String = chars[9..].iter().collect();
            let indent = label.len() - label.trim_start().len();
            let tokens: Vec<&str> = label.split("  ").map(str::trim).filter(|t| !t.is_empty()).collect();
            let bar = chars.iter().position(|c| *c == '█').unwrap();
            let (name, duration) = (tokens[0].to_owned(), tokens[1].to_owned());
            ((service.trim().to_owned(), indent, name, duration), bar)
        })
        .collect()
}

#[test]
fn trace_draws_a_posted_run_and_status_adds_up_the_runs() {
    let fixture = Fixture::new(IDLE_STACK);
    let (code, _, stderr) = run(&fixture, &["trace"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("error: no stack is running here\nhint: start one with `agui-dev up`"), "{stderr}");

    let (code, _, stderr) = fixture.run(&["up", "-d", "--no-watch"]);
    assert_eq!(code, 0, "{stderr}");
    let status = traced::status(&fixture);
    let endpoint = status["otlp_endpoint"].as_str().unwrap().to_owned();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{status}");
    // The service was pointed at the same receiver.
    let pid = status["services"][0]["pid"].as_i64().unwrap();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let wanted = format!("OTEL_EXPORTER_OTLP_ENDPOINT={endpoint}");
    assert!(
        environ.split(|b| *b == 0).any(|var| var == wanted.as_bytes()),
        "{wanted} not in the service's environment"
    );
    assert_eq!(status["totals"]["runs"], 0, "{status}");

    // Nothing traced yet: an error with what to do, and an empty list.
    let (code, _, stderr) = run(&fixture, &["trace"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("error: no AG-UI run has been traced yet\nhint: run one (`agui-dev chat -m hi`)"),
        "{stderr}"
    );
    let (code, stdout, _) = run(&fixture, &["trace", "--list"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("no traces kept yet"), "{stdout}");

    let old = short_run(1, "run-old");
    let new = agent_run(2, "run-new");
    post_all(&endpoint, &old);
    post_all(&endpoint, &new);
    post_all(&endpoint, &not_a_run(3));

    // The run as a waterfall.
    let (code, waterfall, stderr) = run(&fixture, &["trace", "run-new"]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = waterfall.lines().collect();
    let header = format!(
        "run run-new · trace {} · 2.40s · model offline-tools · 2 model calls · 230 in / 28 out tokens · $0.002 · \
         8 spans from agui, litellm, mcp · ✗ failed",
        trace_id(2)
    );
    // The header wraps at the width, each fact whole.
    let head = lines.iter().position(|l| l.starts_with("SERVICE  SPAN")).unwrap();
    assert!(lines[..head].iter().all(|l| l.chars().count() <= 100), "{waterfall}");
    assert_eq!(lines[..head].join(" · "), header, "{waterfall}");
    let lines = &lines[head - 1..];
    assert!(lines[1].ends_with("2.40s"), "{waterfall}");
    let found = rows(&waterfall);
    let shown: Vec<(&str, usize, &str, &str)> =
        found.iter().map(|((s, i, n, d), _)| (s.as_str(), *i, n.as_str(), d.as_str())).collect();
    assert_eq!(
        shown,
        [
            ("agui", 0, "agent run", "2.40s"),
            ("agui", 2, "chat offline-tools", "890ms"),
            ("litellm", 4, "litellm_request", "860ms"),
            ("agui", 2, "execute_tool calculate", "400ms"),
            ("mcp", 4, "✗ tools/call calculate", "300ms"),
            ("agui", 2, "chat offline-tools", "1.10s"),
            ("litellm", 4, "litellm_request", "1.08s"),
            // Its parent never arrived: at the top level, by its start.
            ("litellm", 0, "health", "10ms"),
        ],
        "{waterfall}"
    );
    // One time axis: the root's bar spans the whole width; the others start where their time does.
    let axis = lines[1].find("DURATION  0").unwrap() + "DURATION  ".len();
    let width = 100 - axis;
    assert_eq!(lines[2].chars().count(), 100, "the root's bar reaches the right edge:\n{waterfall}");
    for (((_, _, name, _), bar), start_ms) in found.iter().zip([0, 10, 20, 900, 950, 1300, 1310, 500]) {
        assert_eq!(*bar - axis, start_ms * width / 2400, "`{name}`'s bar starts at its time:\n{waterfall}");
    }
    // The details under the calls.
    let after = |row: &str| {
        let at = lines.iter().position(|l| l.contains(row)).unwrap();
        lines[at + 1..].iter().take_while(|l| l.starts_with(' ')).map(|l| l.trim()).collect::<Vec<_>>()
    };
    // A model call's facts wrap at the width, each whole.
    assert_eq!(
        after("litellm_request").join(" · "),
        "model offline-tools → openai/offline · 100 in / 20 out tokens · $0.0012 · first token 150ms · finish tool_calls",
        "{waterfall}"
    );
    assert_eq!(after("execute_tool"), ["tool `calculate`", "arguments: {\"expression\":\"6*7\"}", "result: 42"]);
    assert_eq!(after("✗ tools/call"), ["tool `calculate`", "error: boom: division by zero"]);

    // The same trace as JSON, as agui-dev's own reader makes it of what was posted.
    let (code, json, _) = run(&fixture, &["trace", "run-new", "--json"]);
    assert_eq!(code, 0);
    let detail: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(detail, serde_json::to_value(traced::expected(&new)).unwrap());
    assert_eq!(detail["summary"]["run_id"], "run-new");
    assert_eq!(
        (detail["summary"]["input_tokens"].as_u64(), detail["summary"]["output_tokens"].as_u64()),
        (Some(230), Some(28))
    );
    assert_eq!(detail["spans"].as_array().unwrap().len(), 8);
    let mcp = detail["spans"].as_array().unwrap().iter().find(|s| s["service"] == "mcp").unwrap();
    assert_eq!(
        (mcp["error"].as_str(), mcp["parent_id"].as_str()),
        (Some("boom: division by zero"), Some("0000000000000004"))
    );
    assert_eq!(mcp["start_ns"].as_u64(), Some(BASE_NS + 950_000_000));

    // `last` is the newest run (the health check after it is no run); a trace id and the old run id work too.
    let (_, newest, _) = run(&fixture, &["trace", "last", "--json"]);
    assert_eq!(serde_json::from_str::<Value>(&newest).unwrap(), detail);
    let (_, by_trace, _) = run(&fixture, &["trace", &trace_id(2), "--json"]);
    assert_eq!(serde_json::from_str::<Value>(&by_trace).unwrap(), detail);
    let (_, old_json, _) = run(&fixture, &["trace", "run-old", "--json"]);
    assert_eq!(serde_json::from_str::<Value>(&old_json).unwrap()["summary"]["trace_id"], trace_id(1));
    let (code, _, stderr) = run(&fixture, &["trace", "nope"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("no kept trace has the trace id or AG-UI run id `nope`\nhint: `agui-dev trace --list`"),
        "{stderr}"
    );

    // The list, newest first, then the totals.
    let (code, list, _) = run(&fixture, &["trace", "--list"]);
    assert_eq!(code, 0);
    let rows: Vec<&str> = list.lines().collect();
    assert_eq!(rows.len(), 5, "{list}");
    assert!(rows[0].starts_with("TIME") && rows[0].contains("RUN OR TRACE"), "{list}");
    assert!(
        rows[1].starts_with("00:00:00  ") && rows[1].contains(&trace_id(3)) && rows[1].contains("GET /health"),
        "{list}"
    );
    let row: Vec<&str> = rows[2].split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(
        row,
        ["00:00:00", "run-new", "agent run", "2.40s", "offline-tools", "230/28", "$0.002", "8", "✗"],
        "{list}"
    );
    assert!(rows[3].contains("run-old") && rows[3].contains("100ms"), "{list}");
    assert_eq!(rows[4], "since `up` started: 2 runs · 230 in / 28 out tokens · $0.002", "{list}");
    let (_, list_json, _) = run(&fixture, &["trace", "--list", "--json"]);
    let list_json: Value = serde_json::from_str(&list_json).unwrap();
    let ids: Vec<&str> =
        list_json["traces"].as_array().unwrap().iter().map(|t| t["trace_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [trace_id(3), trace_id(2), trace_id(1)]);
    assert_eq!((list_json["totals"]["runs"].as_u64(), list_json["totals"]["spans"].as_u64()), (Some(2), Some(10)));

    // `status`: the totals since `up` started and where the receiver listens.
    let (code, _, table) = fixture.run(&["status"]);
    assert_eq!(code, 0);
    let line = format!("traces since `up` started: 2 runs · 230 in / 28 out tokens · $0.002 · receiver {endpoint}");
    assert!(table.lines().any(|l| l == line), "{table}");
    let status = traced::status(&fixture);
    assert_eq!((status["totals"]["runs"].as_u64(), status["totals"]["input_tokens"].as_u64()), (Some(2), Some(230)));

    // Under a terminal: colour, and the terminal's width (the pty is 160 columns).
    let mut tty = Tty::spawn(&fixture, &["trace"], &[]);
    assert_eq!(tty.wait(WAIT), 0);
    let screen = tty.screen.wait_until_closed();
    assert!(screen.contains("\x1b[31"), "the failed span is red: {screen:?}");
    let plain = agui_dev::output::strip_ansi(&screen).into_owned();
    let root =
        plain.lines().map(|l| l.trim_end_matches('\r')).find(|l| l.starts_with("agui ") && l.contains("agent run"));
    assert_eq!(root.map(|l| l.chars().count()), Some(160), "{plain}");
    let mut tty = Tty::spawn(&fixture, &["trace", "--color", "never"], &[]);
    assert_eq!(tty.wait(WAIT), 0);
    assert!(!tty.screen.wait_until_closed().contains('\x1b'), "--color never");

    let (code, _, stderr) = fixture.run(&["down"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(fixture.wait_for_no_survivors(WAIT), Vec::<i32>::new());
}

#[test]
fn a_run_without_traces_says_so_and_how_to_turn_them_on() {
    let fixture = Fixture::new(IDLE_STACK);
    let (code, _, stderr) = fixture.run(&["up", "-d", "--no-watch", "--no-traces"]);
    assert_eq!(code, 0, "{stderr}");
    for args in [&["trace"][..], &["trace", "--list"]] {
        let (code, _, stderr) = run(&fixture, args);
        assert_eq!(code, 1, "{args:?}");
        assert!(
            stderr.contains("error: this run receives no traces: it was started with `up --no-traces`"),
            "{stderr}"
        );
        assert!(
            stderr.contains("hint: stop it (`agui-dev down`) and start it again without `--no-traces`"),
            "{stderr}"
        );
    }
    let status = traced::status(&fixture);
    assert!(status.get("totals").is_none() && status.get("otlp_endpoint").is_none(), "{status}");
    let (_, _, table) = fixture.run(&["status"]);
    assert!(!table.contains("traces since"), "{table}");
    let (code, _, stderr) = fixture.run(&["down"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(fixture.wait_for_no_survivors(WAIT), Vec::<i32>::new());
}
