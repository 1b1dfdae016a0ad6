//! `agui-dev mcp`: an MCP server on stdio for coding agents.
//!
//! Theory of operation: one JSON-RPC 2.0 message per line on stdin, one answer per line on stdout,
//! handled in order. The server speaks both MCP eras: the 2025-era handshake (`initialize`, which
//! echoes a version it knows, and `notifications/initialized`) and 2026-07-28's `server/discover`;
//! then `ping`, `tools/list` and `tools/call`. A line that is not JSON, not an object or not a
//! request gets a JSON-RPC error and the server reads on; only the end of stdin ends it. So does a
//! line longer than `MAX_LINE`: it is skipped to its end without being held, and answered with an
//! error naming the limit.
//!
//! The tools (`tools`) are one more face of what the other commands do: the stack's state and the
//! control actions go through the control socket (like `agui-dev status`), logs are read from
//! `.agui-dev/logs/` (like `agui-dev logs`), the doctor's findings come from `doctor::diagnose`.
//! Every answer goes to stdout through the printer, which replaces the plan's secrets; diagnostics
//! go to stderr through it too, so stdout never carries anything but protocol messages.

mod tools;

use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::cli::{Cli, McpArgs};
use crate::config;
use crate::error::Result;
use crate::kinds;
use crate::output::{Level, Out};
use crate::plan;
use crate::secret::Secret;

/// The 2025-era revisions `initialize` accepts, newest first; an unknown one is answered with
/// the newest (the client then decides whether it can go on).
const LEGACY_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// The stateless revision `server/discover` offers.
const MODERN: &str = crate::kinds::mcp::session::MODERN;

/// The longest line read from the client. A request is a tool call with its arguments: a few
/// kilobytes. 4 MiB leaves room for a large argument (a file's content) and still bounds what a
/// broken client can make agui-dev hold: without it, a line that never ends grows without end.
const MAX_LINE: usize = 4 * 1024 * 1024;

/// JSON-RPC error codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

const INSTRUCTIONS: &str = "Tools for the local AG-UI agent stack run by agui-dev (LiteLLM proxy, MCP server, AG-UI server): \
its status, its logs, one AG-UI turn against the agent, the stack MCP server's tools, and doctor's diagnosis.";

pub async fn run(cli: &Cli, args: &McpArgs) -> Result<()> {
    let allow_control = args.allow_control;
    let printer = crate::session::printer(cli, crate::output::Style::RESULT, &[], None, secrets(cli))?;
    let out = printer.out();
    let server = tools::Server { cli, allow_control };
    let control = if allow_control { " (with restart, stop and start)" } else { "" };
    out.status(Level::Debug, format!("agui-dev mcp: serving MCP on stdio{control}")).await;
    let mut stdin = BufReader::new(tokio::io::stdin());
    loop {
        let line = match read_line(&mut stdin).await {
            Ok(Line::Text(line)) => line,
            Ok(Line::End) => break,
            Ok(Line::TooLong) => {
                let text = format!(
                    "a line longer than {} (the most `agui-dev mcp` reads of one line); skipped it",
                    crate::http::size(MAX_LINE)
                );
                out.status(Level::Warn, format!("agui-dev mcp: {text}")).await;
                reply(&out, error(Value::Null, INVALID_REQUEST, text)).await;
                continue;
            }
            Ok(Line::NotUtf8) => {
                // Say so and read on, as for any bad line.
                out.status(Level::Warn, "agui-dev mcp: an input line is not UTF-8").await;
                reply(&out, error(Value::Null, PARSE_ERROR, "unreadable line: not UTF-8")).await;
                continue;
            }
            Err(err) => {
                out.status(Level::Warn, format!("agui-dev mcp: cannot read stdin ({err}); stopping")).await;
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        if let Some(answer) = handle(&server, &line).await {
            reply(&out, answer).await;
        }
        if out.stdout_gone() {
            break;
        }
    }
    out.flush().await;
    drop(out);
    printer.finish();
    Ok(())
}

/// One line of input.
enum Line {
    Text(String),
    /// Longer than `MAX_LINE`; skipped to its end.
    TooLong,
    NotUtf8,
    /// The end of stdin.
    End,
}

/// Reads the next line, holding at most `MAX_LINE` bytes of it.
async fn read_line(input: &mut (impl AsyncBufRead + Unpin)) -> std::io::Result<Line> {
    let mut line = Vec::new();
    // One byte more than allowed tells a line too long from one of the maximum length.
    if (&mut *input).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut line).await? == 0 {
        return Ok(Line::End);
    }
    if line.last() != Some(&b'\n') && line.len() > MAX_LINE {
        drop(line);
        skip_line(input).await?;
        return Ok(Line::TooLong);
    }
    // The line ending, `\n` or `\r\n`, is not part of the message.
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    Ok(String::from_utf8(line).map_or(Line::NotUtf8, Line::Text))
}

/// Reads past the next newline (or to the end of input), a buffer at a time, keeping nothing.
async fn skip_line(input: &mut (impl AsyncBufRead + Unpin)) -> std::io::Result<()> {
    loop {
        let buffer = input.fill_buf().await?;
        if buffer.is_empty() {
            return Ok(());
        }
        if let Some(at) = buffer.iter().position(|b| *b == b'\n') {
            input.consume(at + 1);
            return Ok(());
        }
        let read = buffer.len();
        input.consume(read);
    }
}

/// The secrets every answer is cleaned of: the plan's (provider keys, the user's master key),
/// else the secret-named variables of the environment.
fn secrets(cli: &Cli) -> Vec<Secret> {
    let plan = std::env::current_dir()
        .ok()
        .and_then(|cwd| config::discover(cli.file.as_deref(), &cwd).ok())
        .and_then(|path| kinds::load(&path).ok())
        .and_then(|stack| plan::build(&stack, &[]).ok());
    if let Some(plan) = plan {
        return plan.secrets;
    }
    let mut secrets = Vec::new();
    let env: Vec<(String, String)> = std::env::vars().collect();
    crate::secret::collect(&mut secrets, env.iter().map(|(k, v)| (k, v)));
    crate::secret::sort(&mut secrets);
    secrets
}

async fn reply(out: &Out, message: Value) {
    out.data(message.to_string()).await;
    // The client waits for this line; the printer must not hold it back.
    out.flush().await;
}

fn error(id: Value, code: i64, message: impl Into<String>) -> Value {
    let mut answer = json!({"jsonrpc": "2.0", "error": {"code": code, "message": message.into()}});
    answer["id"] = id;
    answer
}

fn result(id: Value, result: Value) -> Value {
    let mut answer = json!({"jsonrpc": "2.0"});
    answer["id"] = id;
    answer["result"] = result;
    answer
}

/// One line in, at most one answer out (notifications get none).
async fn handle(server: &tools::Server<'_>, line: &str) -> Option<Value> {
    let message: Value = match serde_json::from_str(line) {
        Ok(message) => message,
        Err(err) => return Some(error(Value::Null, PARSE_ERROR, format!("parse error: {err}"))),
    };
    let Some(object) = message.as_object() else {
        let what =
            if message.is_array() { "batches are not supported; send one request per line" } else { "not an object" };
        return Some(error(Value::Null, INVALID_REQUEST, format!("invalid request: {what}")));
    };
    let id = object.get("id").cloned();
    // A valid id is a string or a number; anything else cannot be answered by it.
    if id.as_ref().is_some_and(|id| !(id.is_string() || id.is_number())) {
        return Some(error(Value::Null, INVALID_REQUEST, "invalid request: `id` must be a string or a number"));
    }
    let Some(method) = object.get("method").and_then(Value::as_str) else {
        // A response to nothing we asked, or a malformed message.
        return id.map(|id| error(id, INVALID_REQUEST, "invalid request: no `method`"));
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return id.map(|id| error(id, INVALID_REQUEST, "invalid request: `jsonrpc` must be \"2.0\""));
    }
    // Notifications (`notifications/initialized`, `notifications/cancelled`, …) need no answer.
    let id = id?;
    let params = object.get("params").cloned().unwrap_or_else(|| json!({}));
    // A 2026-07-28 request names its revision in `_meta`; its results must say they are complete
    // (`resultType`), which a 2025-era client does not know.
    let modern = params.pointer("/_meta/io.modelcontextprotocol~1protocolVersion").and_then(Value::as_str)
        == Some(MODERN)
        || method == "server/discover";
    let result = |id: Value, mut value: Value| {
        if modern && let Some(object) = value.as_object_mut() {
            object.insert("resultType".to_owned(), json!("complete"));
        }
        result(id, value)
    };
    Some(match method {
        "initialize" => result(id, initialize(&params)),
        "server/discover" => result(id, discover()),
        "ping" => result(id, json!({})),
        // 2026-07-28 lists carry cache hints; this list is this process's (`--allow-control`)
        // and never changes while it runs, but it is not shared, so: private, no caching asked.
        "tools/list" if modern => result(id, json!({"tools": server.list(), "ttlMs": 0, "cacheScope": "private"})),
        "tools/list" => result(id, json!({"tools": server.list()})),
        "tools/call" => {
            let Some(name) = params.get("name").and_then(Value::as_str) else {
                return Some(error(id, INVALID_PARAMS, "`tools/call` needs a `name`"));
            };
            let arguments = params.get("arguments").cloned().unwrap_or_else(|| json!({}));
            if !arguments.is_object() {
                return Some(error(id, INVALID_PARAMS, "`arguments` must be an object"));
            }
            match server.call(name, &arguments).await {
                Some(answer) => result(id, answer),
                None => error(id, INVALID_PARAMS, format!("unknown tool `{name}`; `tools/list` names the tools")),
            }
        }
        other => error(id, METHOD_NOT_FOUND, format!("method not found: `{other}`")),
    })
}

fn server_info() -> Value {
    json!({"name": "agui-dev", "version": env!("CARGO_PKG_VERSION")})
}

fn capabilities() -> Value {
    json!({"tools": {"listChanged": false}})
}

/// The 2025-era handshake: the client's version when it is one of ours, else our newest.
fn initialize(params: &Value) -> Value {
    let asked = params.get("protocolVersion").and_then(Value::as_str).unwrap_or_default();
    let version = LEGACY_VERSIONS.iter().find(|v| **v == asked).unwrap_or(&LEGACY_VERSIONS[0]);
    json!({
        "protocolVersion": version,
        "capabilities": capabilities(),
        "serverInfo": server_info(),
        "instructions": INSTRUCTIONS,
    })
}

/// 2026-07-28: what the server speaks, with no handshake and no session.
fn discover() -> Value {
    let mut versions = vec![MODERN];
    versions.extend(LEGACY_VERSIONS);
    json!({
        "supportedVersions": versions,
        "capabilities": capabilities(),
        "serverInfo": server_info(),
        "instructions": INSTRUCTIONS,
        "_meta": {"io.modelcontextprotocol/serverInfo": server_info()},
    })
}
