//! The tools `agui-dev mcp` offers, each with its JSON input schema, and what calling one does.
//!
//! A tool that cannot do its work (no stack runs, no such service, a bad regex) answers a tool
//! result with `isError: true` and a sentence saying what to do, as MCP asks: the agent reads it,
//! where a JSON-RPC error would only tell it the call was malformed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde_json::{Value, json};

use crate::cli::Cli;
use crate::config::KindName;
use crate::control::{self, Answer, ClientError, Op};
use crate::error::Error;
use crate::kinds::agui::client;
use crate::kinds::agui::rules::Finding;
use crate::kinds::mcp::session::Session;
use crate::kinds::{agui, mcp};
use crate::output::logfile;
use crate::plan::{self, Plan};

/// Lines `logs` returns when not told, and at most.
const DEFAULT_LINES: u64 = 100;
const MAX_LINES: u64 = 2000;
/// The columns of the waterfall the `trace` tool writes: a wide terminal's.
const TRACE_WIDTH: usize = 120;

pub struct Server<'a> {
    pub cli: &'a Cli,
    pub allow_control: bool,
}

/// A tool result: text for the model, and the same as data where there is data.
fn done(text: impl Into<String>, structured: Option<Value>) -> Value {
    let mut result = json!({"content": [{"type": "text", "text": text.into()}]});
    if let Some(structured) = structured {
        result["structuredContent"] = structured;
    }
    result
}

fn failed(text: impl Into<String>) -> Value {
    json!({"content": [{"type": "text", "text": text.into()}], "isError": true})
}

/// An agui-dev error as one paragraph: what, why, and the fix.
fn explain(error: &Error) -> String {
    let mut text = error.located_summary();
    for cause in &error.causes {
        let _ = write!(text, "\ncaused by: {cause}");
    }
    if let Some(hint) = &error.hint {
        let _ = write!(text, "\nhint: {hint}");
    }
    text
}

fn schema(properties: Value, required: &[&str]) -> Value {
    let mut schema = json!({"type": "object", "required": required, "additionalProperties": false});
    schema["properties"] = properties;
    schema
}

fn services_schema(what: &str) -> Value {
    schema(
        json!({"services": {"type": "array", "items": {"type": "string"}, "minItems": 1, "description": what}}),
        &["services"],
    )
}

/// The tools that read the stack's traces.
fn trace_tools() -> [Value; 2] {
    [
        json!({
            "name": "trace",
            "title": "Why was this run slow",
            "description": "One traced AG-UI run (or any kept trace) across the stack's services: where the time went (model calls and their time to first token, tool calls and their latency, the slowest spans on their own, errors), then the waterfall of every span with tokens, cost, finish reasons and tool arguments and results. structuredContent holds the trace (`summary`, `spans` with every attribute) and `time_spent`.",
            "inputSchema": schema(json!({
                "id": {"type": "string", "description": "an AG-UI run id, a trace id, or `last` (default: the newest traced run; see `traces`)"},
            }), &[]),
        }),
        json!({
            "name": "traces",
            "title": "Kept traces",
            "description": "The traces the running stack keeps, newest first (time, run id or trace id, duration, model, tokens, cost, error), and the totals since `up` started (runs, tokens, cost).",
            "inputSchema": schema(json!({}), &[]),
        }),
    ]
}

impl Server<'_> {
    /// `tools/list`: the control tools only with `--allow-control`.
    pub fn list(&self) -> Vec<Value> {
        let service = |kind: &str| json!({"type": "string", "description": format!("the `kind = \"{kind}\"` service to use (default: the stack's first)")});
        let mut tools = vec![
            json!({
                "name": "status",
                "title": "Stack status",
                "description": "The running stack's services: state, pid, URL, uptime, restarts, last exit, and the model the agent uses. Fails when no stack runs (start one with `agui-dev up -d`).",
                "inputSchema": schema(json!({}), &[]),
            }),
            json!({
                "name": "logs",
                "title": "Service logs",
                "description": "The last lines of one service's log or of all services (merged in the order they arrived), optionally only lines matching a regular expression. Works whether or not the stack runs; secrets are masked.",
                "inputSchema": schema(json!({
                    "service": {"type": "string", "description": "one service (default: all)"},
                    "lines": {"type": "integer", "minimum": 1, "maximum": MAX_LINES, "description": format!("how many of the last matching lines (default {DEFAULT_LINES})")},
                    "grep": {"type": "string", "description": "only lines matching this regular expression (Rust regex syntax, like grep -E)"},
                }), &[]),
            }),
            json!({
                "name": "agui_turn",
                "title": "One AG-UI turn",
                "description": "Sends one user message to the stack's AG-UI server (POST /agent) and reports the assistant's text, the tool calls with their arguments and results, and any AG-UI protocol rule the event stream broke (rule id and event index).",
                "inputSchema": schema(json!({
                    "message": {"type": "string", "description": "the user message"},
                    "thread_id": {"type": "string", "description": "the AG-UI thread id (default: a new one)"},
                    "service": service("agui"),
                }), &["message"]),
            }),
            json!({
                "name": "mcp_tools",
                "title": "The stack MCP server's tools",
                "description": "Lists the tools of the stack's MCP server with their input schemas (either MCP era).",
                "inputSchema": schema(json!({"service": service("mcp")}), &[]),
            }),
            json!({
                "name": "mcp_call",
                "title": "Call a tool of the stack MCP server",
                "description": "Calls one tool of the stack's MCP server with JSON arguments and returns its result as the server sent it.",
                "inputSchema": schema(json!({
                    "name": {"type": "string", "description": "the tool's name (see mcp_tools)"},
                    "arguments": {"type": "object", "description": "the tool's arguments"},
                    "service": service("mcp"),
                }), &["name"]),
            }),
            json!({
                "name": "doctor",
                "title": "Diagnose the stack",
                "description": "agui-dev doctor: checks of the venv, LiteLLM, provider keys, ports, tools, the running services and the configuration, each with a fix. Spends no money.",
                "inputSchema": schema(json!({}), &[]),
            }),
        ];
        tools.extend(trace_tools());
        if self.allow_control {
            tools.push(json!({
                "name": "restart",
                "title": "Restart services",
                "description": "Re-reads the stack file and env files, restarts the services (and, unless deps is false, what depends on them) and returns once they are ready. Reports the names of changed variables.",
                "inputSchema": schema(json!({
                    "services": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    "deps": {"type": "boolean", "description": "restart dependents too (default true)"},
                }), &["services"]),
            }));
            tools.push(json!({
                "name": "stop",
                "title": "Stop services",
                "description": "Stops the services and what depends on them; the rest of the stack keeps running.",
                "inputSchema": services_schema("the services to stop"),
            }));
            tools.push(json!({
                "name": "start",
                "title": "Start services",
                "description": "Starts stopped services (and what they need) and returns once they are ready.",
                "inputSchema": services_schema("the services to start"),
            }));
        }
        tools
    }

    /// `tools/call`; `None` for a tool this server does not offer.
    pub async fn call(&self, name: &str, arguments: &Value) -> Option<Value> {
        let string = |key: &str| arguments.get(key).and_then(Value::as_str).map(str::to_owned);
        let services: Vec<String> = arguments
            .get("services")
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        let control = |op: Op| async move {
            if services_missing(&op) {
                return failed("name at least one service in `services`");
            }
            self.act(op).await
        };
        Some(match name {
            "status" => self.status().await,
            "logs" => {
                self.logs(string("service"), arguments.get("lines").and_then(Value::as_u64), string("grep").as_deref())
            }
            "agui_turn" => match string("message") {
                Some(message) => self.agui_turn(&message, string("thread_id"), string("service")).await,
                None => failed("`message` is required: the user message to send"),
            },
            "mcp_tools" => self.mcp_tools(string("service")).await,
            "mcp_call" => match string("name") {
                Some(tool) => {
                    let arguments = arguments.get("arguments").cloned().unwrap_or_else(|| json!({}));
                    self.mcp_call(&tool, arguments, string("service")).await
                }
                None => failed("`name` is required: the tool to call (see mcp_tools)"),
            },
            "doctor" => self.doctor().await,
            "trace" => self.trace(string("id").unwrap_or_else(|| "last".to_owned())).await,
            "traces" => self.traces().await,
            "restart" if self.allow_control => {
                let deps = arguments.get("deps").and_then(Value::as_bool).unwrap_or(true);
                control(Op::Restart { services, deps }).await
            }
            "stop" if self.allow_control => control(Op::Stop { services }).await,
            "start" if self.allow_control => control(Op::Start { services }).await,
            _ => return None,
        })
    }

    fn dir(&self) -> Result<PathBuf, Value> {
        control::stack::stack_dir(self.cli).map_err(|e| failed(explain(&e)))
    }

    fn plan(&self) -> Result<Plan, Value> {
        crate::session::load_stack(self.cli).and_then(|stack| plan::build(&stack, &[])).map_err(|e| failed(explain(&e)))
    }

    async fn status(&self) -> Value {
        let dir = match self.dir() {
            Ok(dir) => dir,
            Err(error) => return error,
        };
        match ask(&dir, Op::Status).await {
            Ok(answer) => {
                let text = control::status::table(&answer);
                done(text, serde_json::to_value(&answer).ok())
            }
            Err(error) => error,
        }
    }

    /// Where the time went first (what the agent asked), then the waterfall, without colour and
    /// at a width an agent reads whole.
    async fn trace(&self, id: String) -> Value {
        let dir = match self.dir() {
            Ok(dir) => dir,
            Err(error) => return error,
        };
        match ask(&dir, Op::Trace { id }).await {
            Ok(Answer { trace: Some(detail), .. }) => {
                let spent = crate::traces::calls::time_spent(&detail);
                let text = format!(
                    "{}\n{}",
                    control::trace::time_spent_text(&spent),
                    control::trace::waterfall(&detail, TRACE_WIDTH, false)
                );
                let mut structured = serde_json::to_value(&detail).unwrap_or_else(|_| json!({}));
                structured["time_spent"] = serde_json::to_value(&spent).unwrap_or_default();
                done(text, Some(structured))
            }
            Ok(_) => failed("the running stack answered `trace` without the trace"),
            Err(error) => error,
        }
    }

    async fn traces(&self) -> Value {
        let dir = match self.dir() {
            Ok(dir) => dir,
            Err(error) => return error,
        };
        match ask(&dir, Op::Traces).await {
            Ok(answer) => {
                let traces = answer.traces.unwrap_or_default();
                let text = control::trace::list(&traces, answer.totals.as_ref());
                done(text, Some(json!({"traces": traces, "totals": answer.totals})))
            }
            Err(error) => error,
        }
    }

    async fn act(&self, op: Op) -> Value {
        let dir = match self.dir() {
            Ok(dir) => dir,
            Err(error) => return error,
        };
        match ask(&dir, op).await {
            Ok(answer) => {
                let done_ = answer.done.unwrap_or_default();
                let list = |names: &[String]| names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
                let mut lines = Vec::new();
                for changed in &done_.variables {
                    lines.push(format!("`{}`: changed {}", changed.service, list(&changed.names)));
                }
                for (verb, names) in [
                    ("stopped", &done_.stopped),
                    ("restarted; ready", &done_.restarted),
                    ("started; ready", &done_.started),
                ] {
                    if !names.is_empty() {
                        lines.push(format!("{verb}: {}", list(names)));
                    }
                }
                if lines.is_empty() {
                    lines.push("nothing to do".to_owned());
                }
                done(lines.join("\n"), serde_json::to_value(&done_).ok())
            }
            Err(error) => error,
        }
    }

    fn logs(&self, service: Option<String>, lines: Option<u64>, grep: Option<&str>) -> Value {
        let grep = match grep.map(Regex::new).transpose() {
            Ok(grep) => grep,
            Err(e) => return failed(format!("`grep` is not a valid regular expression: {e}")),
        };
        let (stack_file, stack_dir) = match crate::session::stack_file(self.cli) {
            Ok(found) => found,
            Err(e) => return failed(explain(&e)),
        };
        let dir = control::stack::logs_dir(&stack_dir);
        // Lines were redacted when they were written; the answer is redacted again on its way out.
        let (names, _) = control::stack::services_and_secrets(&stack_file, &dir);
        let asked: Vec<String> = service.into_iter().collect();
        let selected = match control::stack::select(&names, &asked, &dir) {
            Ok(selected) => selected,
            Err(e) => return failed(explain(&e)),
        };
        let limit = lines.unwrap_or(DEFAULT_LINES).clamp(1, MAX_LINES) as usize;
        let mut kept = Vec::new();
        for name in &selected {
            let (read, _) = logfile::read_from(&dir, name, 0).unwrap_or_default();
            kept.extend(
                read.into_iter()
                    .filter(|line| grep.as_ref().is_none_or(|g| g.is_match(&line.text)))
                    .map(|line| (name.as_str(), line)),
            );
        }
        // Merged by arrival (stable: each service keeps its order), then the last `limit`.
        kept.sort_by_key(|(_, line)| line.at);
        kept.drain(..kept.len().saturating_sub(limit));
        let width = selected.iter().map(String::len).max().unwrap_or(0);
        let text: Vec<String> = kept.iter().map(|(name, line)| format!("{name:<width$} | {}", line.text)).collect();
        let structured: Vec<Value> = kept
            .iter()
            .map(|(name, line)| {
                json!({
                    "service": name,
                    "time": line.at.map(|at| humantime::format_rfc3339_millis(at).to_string()),
                    "line": line.text,
                })
            })
            .collect();
        let text = if text.is_empty() { "(no matching lines)".to_owned() } else { text.join("\n") };
        done(text, Some(json!({"lines": structured})))
    }

    /// The URL of the stack's service of `kind` (or the one named): the running stack's where it
    /// runs, else the plan's.
    async fn endpoint(&self, kind: KindName, name: Option<String>) -> Result<(String, String), Value> {
        let plan = self.plan()?;
        let candidates: Vec<_> = plan.services.iter().filter(|s| s.kind == Some(kind)).collect();
        let label = format!("{kind:?}").to_lowercase();
        let service = match &name {
            Some(name) => candidates.iter().find(|s| &s.name == name).ok_or_else(|| {
                let names: Vec<&str> = candidates.iter().map(|s| s.name.as_str()).collect();
                failed(format!(
                    "no `kind = \"{label}\"` service `{name}` in this stack; those are: {}",
                    names.join(", ")
                ))
            })?,
            None => {
                candidates.first().ok_or_else(|| failed(format!("this stack has no `kind = \"{label}\"` service")))?
            }
        };
        let mut url = service.url.clone();
        if let Ok(dir) = self.dir()
            && let Ok(answer) = control::ask(&dir, Op::Status).await
            && let Some(running) = answer.services.unwrap_or_default().into_iter().find(|s| s.name == service.name)
            && running.url.is_some()
        {
            url = running.url;
        }
        let url = url.ok_or_else(|| failed(format!("`{}` has no port, so no URL", service.name)))?;
        Ok((service.name.clone(), url))
    }

    async fn mcp_tools(&self, service: Option<String>) -> Value {
        let (name, url) = match self.endpoint(mcp::KIND, service).await {
            Ok(found) => found,
            Err(error) => return error,
        };
        let mut session = match Session::open(&url).await {
            Ok(session) => session,
            Err(e) => return failed(format!("cannot reach the MCP server `{name}` at {url}: {e}")),
        };
        let listed = session.tools().await;
        let era = session.era().version().to_owned();
        session.close().await;
        match listed {
            Ok(tools) => {
                let text: Vec<String> = tools.iter().map(|(tool, schema)| format!("{tool}: {schema}")).collect();
                let tools: Vec<Value> =
                    tools.into_iter().map(|(tool, schema)| json!({"name": tool, "inputSchema": schema})).collect();
                let header = format!("`{name}` ({url}, MCP {era}): {} tools", tools.len());
                done(
                    format!("{header}\n{}", text.join("\n")),
                    Some(json!({"service": name, "era": era, "tools": tools})),
                )
            }
            Err(e) => failed(format!("`tools/list` on `{name}` failed: {e}")),
        }
    }

    async fn mcp_call(&self, tool: &str, arguments: Value, service: Option<String>) -> Value {
        let (name, url) = match self.endpoint(mcp::KIND, service).await {
            Ok(found) => found,
            Err(error) => return error,
        };
        let mut session = match Session::open(&url).await {
            Ok(session) => session,
            Err(e) => return failed(format!("cannot reach the MCP server `{name}` at {url}: {e}")),
        };
        let answer = session.call_result(tool, arguments).await;
        session.close().await;
        match answer {
            // The stack server's result as it is: its content, structuredContent and isError.
            Ok(result) if result.get("content").is_some_and(Value::is_array) => result,
            Ok(result) => done(result.to_string(), None),
            Err(e) => failed(format!("`{tool}` on `{name}` failed: {e}")),
        }
    }

    async fn doctor(&self) -> Value {
        match crate::doctor::diagnose(self.cli, false).await {
            Ok(crate::doctor::Diagnosed::Found(found, _)) => {
                let (text, findings) = crate::doctor::faces(&found);
                let count = |status: &str| findings.iter().filter(|f| f["status"] == status).count();
                let (failed_, warned) = (count("fail"), count("warn"));
                let summary = format!("{} checks: {failed_} failed, {warned} warnings\n", findings.len());
                done(summary + &text, Some(json!({"failed": failed_, "warnings": warned, "findings": findings})))
            }
            Ok(crate::doctor::Diagnosed::NoStack(error)) | Err(error) => failed(explain(&error)),
        }
    }

    async fn agui_turn(&self, message: &str, thread: Option<String>, service: Option<String>) -> Value {
        let (name, url) = match self.endpoint(agui::KIND, service).await {
            Ok(found) => found,
            Err(error) => return error,
        };
        turn(&name, &url, message, thread).await
    }
}

fn services_missing(op: &Op) -> bool {
    match op {
        Op::Restart { services, .. } | Op::Stop { services } | Op::Start { services } => services.is_empty(),
        _ => false,
    }
}

/// A control request; no stack, a refused request or a broken connection is a tool error.
async fn ask(dir: &Path, op: Op) -> Result<Answer, Value> {
    match control::ask(dir, op).await {
        Ok(answer) if answer.ok => Ok(answer),
        Ok(answer) => {
            let error = answer.error.unwrap_or_else(|| "the request failed".to_owned());
            Err(failed(match answer.hint {
                Some(hint) => format!("{error}\nhint: {hint}"),
                None => error,
            }))
        }
        Err(ClientError::NotRunning) => Err(failed(
            "no stack is running here; start one with `agui-dev up -d` (in the background) or `agui-dev up`",
        )),
        Err(ClientError::Silent { after, pid }) => {
            let (message, hint) = ClientError::silent(after, pid);
            Err(failed(format!("{message}; {hint}")))
        }
        Err(ClientError::Io(e)) => Err(failed(format!("cannot talk to the running stack: {e}"))),
    }
}

/// One AG-UI run with one user message, read by agui-dev's AG-UI client (the one `chat` uses):
/// the assistant's text, the tool calls with their results, the state, and the rules the event
/// stream broke.
async fn turn(name: &str, url: &str, message: &str, thread: Option<String>) -> Value {
    let http = match client::http_client() {
        Ok(http) => http,
        Err(e) => return failed(format!("cannot build an HTTP client: {e}")),
    };
    let mut conversation = client::Conversation::new(thread);
    match client::turn(&http, url, &mut conversation, message).await {
        Ok(outcome) => summarize(&conversation.thread_id, &outcome),
        Err(e) => failed(format!("`{name}`: {e}")),
    }
}

/// The turn as text and data: text, tool calls (id, name, arguments, result), run error,
/// violations (the broken rule, then warnings).
fn summarize(thread: &str, outcome: &client::Outcome) -> Value {
    let calls: Vec<Value> = outcome
        .tool_calls
        .iter()
        .map(|call| {
            // Arguments and results as JSON where they parse, so the agent reads objects.
            let arguments = call.arguments_json().unwrap_or_else(|| Value::String(call.arguments.clone()));
            let result =
                call.result.as_ref().map(|r| serde_json::from_str(r).unwrap_or_else(|_| Value::String(r.clone())));
            json!({"id": call.id, "name": call.name, "arguments": arguments, "result": result})
        })
        .collect();
    let finding = |f: &Finding, warning: bool| json!({"rule": f.rule, "index": f.index, "message": f.message, "warning": warning});
    let mut violations: Vec<Value> = outcome.violation.iter().map(|f| finding(f, false)).collect();
    violations.extend(outcome.warnings.iter().map(|f| finding(f, true)));
    let text = if outcome.text.is_empty() { "(no text)" } else { &outcome.text };
    let mut report = format!("assistant: {text}\n");
    for call in &calls {
        let result =
            if call["result"].is_null() { "(no result in the stream)".to_owned() } else { call["result"].to_string() };
        let _ =
            writeln!(report, "tool call `{}` {} -> {result}", call["name"].as_str().unwrap_or("?"), call["arguments"]);
    }
    if let Some((message, code)) = &outcome.error {
        let code = code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default();
        let _ = writeln!(report, "RUN_ERROR{code}: {message}");
    }
    match &outcome.violation {
        Some(broken) => {
            let _ = writeln!(report, "protocol violation: {broken}");
        }
        None => {
            let _ = writeln!(report, "{} events; no AG-UI rule broken", outcome.events.len());
        }
    }
    for warning in &outcome.warnings {
        let _ = writeln!(report, "warning: rule `{}` at event {}: {}", warning.rule, warning.index, warning.message);
    }
    let structured = json!({
        "threadId": thread,
        "runId": outcome.run_id,
        "text": outcome.text,
        "toolCalls": calls,
        "state": outcome.state,
        "runError": outcome.error.as_ref().map(|(message, code)| json!({"message": message, "code": code})),
        "events": outcome.events.len(),
        "violations": violations,
        "ok": outcome.clean(),
    });
    let mut result = done(report, Some(structured));
    if !outcome.clean() {
        result["isError"] = Value::Bool(true);
    }
    result
}
