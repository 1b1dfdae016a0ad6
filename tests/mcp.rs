#![allow(clippy::unwrap_used)]
//! `agui-dev mcp`, the MCP server on stdio for coding agents: garbage on stdin gets JSON-RPC
//! errors and the server reads on; the official MCP client (`@modelcontextprotocol/client` v2, the
//! AG-UI template's) lists the tools and calls them against the running offline stack, in both
//! protocol eras; the control tools exist only with `--allow-control`.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::traced::{self, IDLE_STACK, agent_run, post_all, short_run, trace_id};
use common::{Captured, Fixture, WAIT, free_port, real_stack, repo_root};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

/// Runs `agui-dev mcp` and writes it these lines one at a time, waiting for the answer to each
/// before the next (the server answers requests side by side, so only this keeps answers in the
/// order of the lines); a notification gets none. Then the end of input; returns its exit code,
/// the stdout lines and stderr.
fn exchange(fixture: &Fixture, args: &[&str], lines: &[&str]) -> (i32, Vec<String>, String) {
    let mut child =
        fixture.command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let stdout = Captured::start(child.stdout.take().unwrap());
    let stderr = Captured::start(child.stderr.take().unwrap());
    let mut stdin = child.stdin.take().unwrap();
    let mut answers = 0;
    for line in lines {
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
        let notification = serde_json::from_str::<Value>(line)
            .is_ok_and(|m| m.get("method").is_some() && m.get("id").is_none() && m["jsonrpc"] == "2.0");
        if !notification {
            answers += 1;
            stdout.wait_until(&format!("answer {answers}"), |out| out.matches('\n').count() >= answers);
        }
    }
    drop(stdin);
    let deadline = Instant::now() + WAIT;
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`agui-dev mcp` did not end at the end of its input; stderr:\n{}", stderr.text());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = stdout.wait_until_closed();
    (code, out.lines().map(str::to_owned).collect(), stderr.wait_until_closed())
}

fn tool_names(list: &Value) -> Vec<String> {
    list["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn garbage_on_stdin_gets_json_rpc_errors_and_the_server_reads_on() {
    let fixture = Fixture::new("[services.a]\ncommand = \"sleep 100\"\n");
    let lines = [
        "this is not json",
        "[]",
        "42",
        r#"{"jsonrpc":"2.0","id":{"no":"objects"},"method":"ping"}"#,
        r#"{"jsonrpc":"1.0","id":"old","method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":"no-method"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":",
        r#"{"jsonrpc":"2.0","id":3,"method":"no/such/method"}"#,
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"restart","arguments":{"services":["a"]}}}"#,
        r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"status"}}"#,
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"logs","arguments":{"grep":"("}}}"#,
        r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"arguments":{}}}"#,
        r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":10,"method":"initialize","params":{"protocolVersion":"1999-01-01","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#,
        r#"{"jsonrpc":"2.0","id":11,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}"#,
    ];
    let (code, out, stderr) = exchange(&fixture, &["mcp"], &lines);
    assert_eq!(code, 0, "{stderr}");
    let answers: Vec<Value> = out
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("stdout line not JSON ({e}): {l}")))
        .collect();
    // No answer to the notification; one to everything else.
    assert_eq!(answers.len(), lines.len() - 1, "{out:#?}");
    let code_of = |i: usize| answers[i]["error"]["code"].as_i64();
    assert_eq!(code_of(0), Some(-32700));
    assert_eq!(code_of(1), Some(-32600));
    assert!(answers[1]["error"]["message"].as_str().unwrap().contains("batch"));
    assert_eq!(code_of(2), Some(-32600));
    assert_eq!(code_of(3), Some(-32600));
    assert_eq!((code_of(4), &answers[4]["id"]), (Some(-32600), &json!("old")));
    assert_eq!((code_of(5), &answers[5]["id"]), (Some(-32600), &json!("no-method")));
    assert_eq!(answers[6]["id"], 1);
    assert_eq!(answers[6]["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(answers[6]["result"]["capabilities"], json!({"tools": {"listChanged": false}}));
    assert_eq!(answers[6]["result"]["serverInfo"]["name"], "agui-dev");
    assert_eq!(code_of(7), Some(-32700), "a cut line is a parse error");
    assert_eq!((code_of(8), &answers[8]["id"]), (Some(-32601), &json!(3)));
    let names = tool_names(&answers[9]);
    assert_eq!(names, ["status", "logs", "agui_turn", "mcp_tools", "mcp_call", "doctor", "trace", "traces"]);
    for tool in answers[9]["result"]["tools"].as_array().unwrap() {
        assert_eq!(tool["inputSchema"]["type"], "object", "{tool}");
    }
    assert_eq!(code_of(10), Some(-32602), "restart is not a tool without --allow-control");
    assert_eq!(answers[11]["result"]["isError"], true);
    let text = answers[11]["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("no stack is running here; start one with `agui-dev up -d`"), "{text}");
    assert_eq!(answers[12]["result"]["isError"], true);
    assert!(answers[12]["result"]["content"][0]["text"].as_str().unwrap().contains("not a valid regular expression"));
    assert_eq!(code_of(13), Some(-32602));
    assert_eq!(answers[14], json!({"jsonrpc": "2.0", "id": 9, "result": {}}));
    assert_eq!(answers[15]["result"]["protocolVersion"], "2025-11-25", "an unknown version gets the newest");
    assert_eq!(code_of(16), Some(-32602), "`initialize` needs `capabilities` and `clientInfo`");
    assert!(answers[16]["error"]["message"].as_str().unwrap().contains("missing field `capabilities`"), "{out:#?}");

    // With --allow-control the control tools are listed, and 2026-07-28's discovery answers
    // (a 2026-07-28 request names its version and the client's capabilities in `_meta`).
    let meta = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;
    let discover = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{{{meta}}}}}"#);
    let list = format!(r#"{{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{{{meta}}}}}"#);
    let (code, out, stderr) = exchange(&fixture, &["mcp", "--allow-control"], &[&discover, &list]);
    assert_eq!(code, 0, "{stderr}");
    let answers: Vec<Value> = out.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(answers[0]["result"]["supportedVersions"].as_array().unwrap().contains(&json!("2026-07-28")));
    assert_eq!(answers[0]["result"]["resultType"], "complete");
    assert_eq!(answers[1]["result"]["resultType"], "complete");
    let names = tool_names(&answers[1]);
    assert_eq!(names[8..], ["restart", "stop", "start"]);
}

/// A line longer than the 4 MiB cap gets an error naming it and is skipped without being held; the
/// server reads on: the line after it (`\r\n`-ended, as some clients send) is answered.
#[test]
fn a_line_past_the_cap_gets_an_error_and_the_next_line_is_served() {
    let fixture = Fixture::new("[services.a]\ncommand = \"sleep 100\"\n");
    // A valid request, but 5 MiB long: it must not be answered as one.
    let padding = "x".repeat(5 * 1024 * 1024);
    let long = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"padding":"{padding}"}}}}"#);
    let next = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\r";
    let (code, out, stderr) = exchange(&fixture, &["mcp"], &[&long, next]);
    assert_eq!(code, 0, "{stderr}");
    let answers: Vec<Value> = out.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert_eq!((answers[0]["id"].clone(), answers[0]["error"]["code"].as_i64()), (Value::Null, Some(-32600)));
    let message = answers[0]["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("a line longer than 4 MiB (the most `agui-dev mcp` reads of one line)"), "{message}");
    assert_eq!(answers[1], json!({"jsonrpc": "2.0", "id": 2, "result": {}}));
}

/// Runs an official client (`tests/fixtures/mcp-stdio-client/client.mjs`; `sdk` v1 or v2) against
/// `agui-dev mcp ARGS` in the fixture's folder; returns its report.
fn official_client(fixture: &Fixture, args: &[&str], sdk: &str, negotiation: &str, steps: &Value) -> Value {
    let mut program = vec![common::BIN.to_owned()];
    program.extend(args.iter().map(|a| (*a).to_owned()));
    let mut command = Command::new("node");
    command
        .arg(repo_root().join("tests/fixtures/mcp-stdio-client/client.mjs"))
        .env("MCP_CLIENT_FROM", repo_root().join("templates/agui-server/package.json"))
        .env("AGUI_DEV_COMMAND", serde_json::to_string(&program).unwrap())
        .env("AGUI_DEV_CWD", fixture.path())
        .env("MCP_CLIENT_SDK", sdk)
        .env("MCP_NEGOTIATION", negotiation)
        .env("MCP_STEPS", steps.to_string())
        .env("AGUI_TEST_MARKER", &fixture.marker)
        .env("NO_COLOR", "1")
        .env_remove("AGUI_DEV_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let stdout = Captured::start(child.stdout.take().unwrap());
    let stderr = Captured::start(child.stderr.take().unwrap());
    let deadline = Instant::now() + Duration::from_mins(5);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the MCP client did not finish; stderr:\n{}", stderr.text());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (out, err) = (stdout.wait_until_closed(), stderr.wait_until_closed());
    assert!(status.success(), "the MCP client failed:\n{out}\n{err}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("report not JSON ({e}): {out}\n{err}"))
}

fn call<'a>(report: &'a Value, tool: &str, nth: usize) -> &'a Value {
    &report["calls"].as_array().unwrap().iter().filter(|c| c["tool"] == tool).nth(nth).unwrap()["result"]
}

fn pid_of(status: &Value, service: &str) -> i64 {
    let services = status["structuredContent"]["services"].as_array().unwrap();
    services.iter().find(|s| s["name"] == service).unwrap()["pid"].as_i64().unwrap()
}

#[test]
fn the_official_mcp_client_drives_agui_dev_mcp_against_the_running_offline_stack() {
    let (proxy, mcp, agui) = (free_port(), free_port(), free_port());
    let fixture = Fixture::new(&real_stack(proxy, mcp, agui));
    // The offline model that calls a tool: the turn shows a tool call and its result.
    let mut up = fixture.up_real_stack(Some("offline-tools"));

    // 2025-era handshake (the client's default), no control tools.
    let steps = json!([
        {"tool": "status"},
        {"tool": "agui_turn", "arguments": {"message": "What is 6*7?"}},
        {"tool": "mcp_tools"},
        {"tool": "mcp_call", "arguments": {"name": "calculate", "arguments": {"expression": "6*7"}}},
        {"tool": "logs", "arguments": {"service": "agui", "lines": 5}},
    ]);
    let report = official_client(&fixture, &["mcp"], "v2", "legacy", &steps);
    assert_eq!(report["protocolVersion"], "2025-11-25", "{report}");
    let names: Vec<&str> = report["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["status", "logs", "agui_turn", "mcp_tools", "mcp_call", "doctor", "trace", "traces"]);

    let status = call(&report, "status", 0);
    assert_eq!(status.get("isError"), None, "{status}");
    let services = status["structuredContent"]["services"].as_array().unwrap();
    assert_eq!(services.len(), 3, "{status}");
    assert!(services.iter().all(|s| s["state"] == "ready"), "{status}");
    assert!(status["content"][0]["text"].as_str().unwrap().contains("SERVICE"), "{status}");

    let turn = call(&report, "agui_turn", 0);
    assert_eq!(turn.get("isError"), None, "{turn}");
    let turn_data = &turn["structuredContent"];
    assert_eq!(turn_data["ok"], true, "{turn}");
    assert_eq!(turn_data["violations"], json!([]), "{turn}");
    let calls = turn_data["toolCalls"].as_array().unwrap();
    assert!(calls.iter().any(|c| c["name"] == "calculate" && c["result"].to_string().contains("42")), "{turn}");
    assert!(turn_data["text"].as_str().unwrap().contains("42"), "{turn}");

    let tools = call(&report, "mcp_tools", 0);
    let listed = tools["structuredContent"]["tools"].as_array().unwrap();
    let calculate = listed.iter().find(|t| t["name"] == "calculate").expect("calculate is listed");
    assert_eq!(calculate["inputSchema"]["type"], "object", "{tools}");
    let called = call(&report, "mcp_call", 0);
    assert_eq!(called.get("isError"), None, "{called}");
    assert!(called["content"].to_string().contains("42"), "{called}");
    let logs = call(&report, "logs", 0);
    let lines = logs["structuredContent"]["lines"].as_array().unwrap();
    assert!(!lines.is_empty() && lines.len() <= 5 && lines.iter().all(|l| l["service"] == "agui"), "{logs}");

    // 2026-07-28 (server/discover) with the control tools: restart gives `agui` a new process.
    let steps = json!([
        {"tool": "status"},
        {"tool": "restart", "arguments": {"services": ["agui"]}},
        {"tool": "status"},
    ]);
    let report = official_client(&fixture, &["mcp", "--allow-control"], "v2", "auto", &steps);
    assert_eq!(report["protocolVersion"], "2026-07-28", "{report}");
    let names: Vec<&str> = report["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names[8..], ["restart", "stop", "start"]);
    let restarted = call(&report, "restart", 0);
    assert_eq!(restarted.get("isError"), None, "{restarted}");
    assert_eq!(restarted["structuredContent"]["restarted"], json!(["agui"]), "{restarted}");
    let (before, after) = (pid_of(call(&report, "status", 0), "agui"), pid_of(call(&report, "status", 1), "agui"));
    assert_ne!(before, after, "restart must give `agui` a new process");

    // The 1.x SDK's client (2025 era only), as coding agents built on it connect.
    let steps = json!([{"tool": "status"}, {"tool": "mcp_tools"}]);
    let report = official_client(&fixture, &["mcp"], "v1", "legacy", &steps);
    assert_eq!(report["protocolVersion"], "2025-11-25", "{report}");
    assert_eq!(report["server"]["name"], "agui-dev", "{report}");
    assert_eq!(report["tools"].as_array().unwrap().len(), 8, "{report}");
    let status = call(&report, "status", 0);
    assert_eq!(status["structuredContent"]["services"].as_array().unwrap().len(), 3, "{status}");
    let listed = call(&report, "mcp_tools", 0)["structuredContent"]["tools"].as_array().unwrap().len();
    assert_eq!(listed, 3, "{report}");

    up.signal(Signal::SIGINT);
    assert_eq!(up.wait(), 0, "{}", up.stderr.text());
    assert_eq!(fixture.survivors(), Vec::<i32>::new());
}

/// The `trace` tool through the official client: where the time went (model calls with their
/// time to first token, the tool call and its latency, the slowest spans on their own, the
/// failure) before the waterfall, and the trace with that breakdown as structured content; the
/// `traces` tool lists the kept ones with the totals; an unknown id is a tool error with the hint.
#[test]
fn the_trace_tool_says_where_a_runs_time_went() {
    common::npm_ci(&repo_root().join("templates/agui-server"), "node_modules/@modelcontextprotocol/client");
    let fixture = Fixture::new(IDLE_STACK);
    let (code, _, stderr) = fixture.run(&["up", "-d", "--no-watch"]);
    assert_eq!(code, 0, "{stderr}");
    let endpoint = traced::status(&fixture)["otlp_endpoint"].as_str().unwrap().to_owned();
    let run = agent_run(2, "run-new");
    post_all(&endpoint, &short_run(1, "run-old"));
    post_all(&endpoint, &run);

    let steps = json!([
        {"tool": "trace"},
        {"tool": "trace", "arguments": {"id": "run-old"}},
        {"tool": "traces"},
        {"tool": "trace", "arguments": {"id": "nope"}},
    ]);
    let report = official_client(&fixture, &["mcp"], "v2", "legacy", &steps);
    let last = call(&report, "trace", 0);
    assert_eq!(last.get("isError"), None, "{last}");
    let text = last["content"][0]["text"].as_str().unwrap();
    let told = [
        "where the time went (2.40s in all):",
        "  model calls: 2, 1.99s (83%); first token after 160ms, 210ms",
        "  tool calls: 1, 400ms (17%): `calculate` 400ms ✗",
        "  slowest on their own: `litellm_request` (litellm) 1.08s; `litellm_request` (litellm) 860ms; \
         `tools/call calculate` (mcp) 300ms",
        "  failed: `tools/call calculate` (mcp): boom: division by zero",
    ];
    assert_eq!(text.lines().take(told.len()).collect::<Vec<_>>(), told, "{text}");
    assert!(text.contains(&format!("run run-new · trace {}", trace_id(2))), "the waterfall follows: {text}");
    assert!(!text.contains('\x1b'), "no colour for an agent: {text:?}");
    let structured = &last["structuredContent"];
    let mut detail = structured.clone();
    detail.as_object_mut().unwrap().remove("time_spent");
    // Read back as agui-dev's type: the client writes a whole f64 as an integer.
    let detail: agui_dev::traces::Detail = serde_json::from_value(detail).unwrap();
    assert_eq!(detail, traced::expected(&run), "the trace as `trace --json` has it");
    assert_eq!(structured["time_spent"]["first_token_ms"], json!([160, 210]), "{structured}");
    assert_eq!(structured["time_spent"]["tool_calls"], json!([{"name": "calculate", "ms": 400, "error": true}]));

    let old = call(&report, "trace", 1);
    assert_eq!(old["structuredContent"]["summary"]["trace_id"], trace_id(1), "{old}");
    let listed = call(&report, "traces", 0);
    let runs: Vec<&str> = listed["structuredContent"]["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(runs, ["run-new", "run-old"], "{listed}");
    assert_eq!(listed["structuredContent"]["totals"]["runs"], 2, "{listed}");
    assert!(listed["content"][0]["text"].as_str().unwrap().contains("since `up` started: 2 runs"), "{listed}");
    let unknown = call(&report, "trace", 2);
    assert_eq!(unknown["isError"], true, "{unknown}");
    let said = unknown["content"][0]["text"].as_str().unwrap();
    assert!(said.starts_with("no kept trace has the trace id or AG-UI run id `nope`\nhint: "), "{said}");

    let (code, _, stderr) = fixture.run(&["down"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(fixture.wait_for_no_survivors(WAIT), Vec::<i32>::new());
}

/// `agui-dev mcp` answers requests side by side: while `agui_turn` waits on a slow agent (the
/// fixture AG-UI server in `slow` mode, which keeps its run open for minutes), `ping` is answered;
/// `notifications/cancelled` for the turn ends it (the agent sees agui-dev close the stream) and
/// the turn gets no answer; the server then serves on and ends with its input.
#[test]
fn a_slow_tool_call_does_not_hold_up_ping_and_cancelling_it_ends_its_work() {
    let port = free_port();
    let fixture = Fixture::new(&format!("[services.agent]\nkind = \"agui\"\ncommand = \"true\"\nport = {port}\n"));
    let mut agent = Command::new("python3");
    agent
        .arg(repo_root().join("tests/fixtures/agui-server/serve.py"))
        .args([&port.to_string(), "slow"])
        .env("AGUI_TEST_MARKER", &fixture.marker);
    let agent = fixture.spawn_command(agent);
    agent.stdout.wait_for("listening");

    let mut mcp =
        fixture.command(&["mcp"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let stdout = Captured::start(mcp.stdout.take().unwrap());
    let stderr = Captured::start(mcp.stderr.take().unwrap());
    let mut stdin = mcp.stdin.take().unwrap();
    // Owns stdin: dropping it is the end of input.
    let mut send = move |line: &str| {
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    };
    let answers = |count: usize, what: &str| -> Vec<Value> {
        let text = stdout.wait_until(what, |out| out.lines().count() >= count);
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    send(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#,
    );
    assert_eq!(answers(1, "the answer to `initialize`")[0]["id"], 1);
    send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    send(
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"agui_turn","arguments":{"message":"take your time"}}}"#,
    );
    agent.stdout.wait_for("slow run started");

    send(r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#);
    let seen = answers(2, "the answer to `ping` while the turn runs");
    assert_eq!(seen[1], json!({"jsonrpc": "2.0", "id": 3, "result": {}}), "{seen:?}");

    send(
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2,"reason":"the user gave up"}}"#,
    );
    agent.stdout.wait_for("client left");
    send(r#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#);
    let seen = answers(3, "the answer to the second `ping`");
    assert_eq!(seen[2]["id"], 4, "the cancelled turn was answered: {seen:?}");

    drop(send);
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = mcp.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "`agui-dev mcp` did not end with its input; stderr:\n{}", stderr.text());
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "{}", stderr.wait_until_closed());
    let out = stdout.wait_until_closed();
    assert_eq!(out.lines().count(), 3, "the cancelled turn was answered after all:\n{out}");
    agent.signal(Signal::SIGTERM);
}
