//! `chat`: a terminal client of the stack's AG-UI server, built on `kinds::agui::client`.
//!
//! The answer's text streams to stdout as it arrives (it is the data); tool calls, rule
//! violations, run errors and the REPL's own lines go to stderr through the printer. With `-m`
//! one run decides the exit code; without it, lines read from stdin are the user's turns and the
//! conversation (thread id, messages, state) carries over between them.
//!
//! The server's URL comes from the running stack when there is one (`status` over the control
//! socket knows the port it really got), else from the plan: the kind's endpoint on its port.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cli::{ChatArgs, Cli};
use crate::error::{Error, Result};
use crate::kinds::agui;
use crate::kinds::agui::client::{self, Conversation, ToolCall, Update};
use crate::output::{Level, Msg, Out};
use crate::secret::Secret;

pub async fn run(cli: &Cli, options: &ChatArgs) -> Result<()> {
    let stack = crate::session::load_stack(cli)?;
    let plan = crate::plan::build(&stack, &[])?;
    let url = target(&plan, options.service.as_deref()).await?;
    let http = client::http_client()?;
    let printer = crate::session::printer(cli, crate::output::Style::RESULT, &[], None, plan.secrets.clone())?;
    let out = printer.out();
    let mut chat = Chat {
        out: out.clone(),
        http,
        url,
        json: options.json,
        secrets: plan.secrets.clone(),
        trace: None,
        conversation: Conversation::new(options.thread.clone()),
        tool_calls: Vec::new(),
        mid_line: false,
    };
    if let Some(path) = &options.trace {
        chat.open_trace(path)?;
    }
    let result = match &options.message {
        Some(message) => chat.one(message).await,
        None => chat.repl().await,
    };
    out.flush().await;
    drop(chat);
    drop(out);
    printer.finish();
    result
}

/// The URL of the AG-UI service to talk to.
async fn target(plan: &crate::plan::Plan, wanted: Option<&str>) -> Result<String> {
    let agui: Vec<&crate::plan::ServicePlan> = plan.services.iter().filter(|s| s.kind == Some(agui::KIND)).collect();
    let service = match wanted {
        Some(name) => {
            let Some(service) = plan.services.iter().find(|s| s.name == name) else {
                let names: Vec<&str> = agui.iter().map(|s| s.name.as_str()).collect();
                return Err(Error::usage(format!("there is no service `{name}`"))
                    .hint(format!("AG-UI services in the stack: {}", names.join(", "))));
            };
            if service.kind != Some(agui::KIND) {
                return Err(Error::usage(format!("`{name}` is not an AG-UI service"))
                    .hint("`chat` talks to a service with `kind = \"agui\"`"));
            }
            service
        }
        None => match agui.as_slice() {
            [one] => *one,
            [] => {
                return Err(Error::usage(format!("`{}` has no AG-UI service", plan.stack_file.display()))
                    .hint("`chat` talks to a service with `kind = \"agui\"`; add `kind = \"agui\"` to it"));
            }
            several => {
                let names: Vec<&str> = several.iter().map(|s| s.name.as_str()).collect();
                return Err(Error::usage("the stack has several AG-UI services")
                    .hint(format!("pick one with `--service NAME`: {}", names.join(", "))));
            }
        },
    };
    // The running stack knows the URL it really serves; the plan is the fallback.
    if let Ok(answer) = crate::control::ask(&plan.dir, crate::control::Op::Status).await
        && let Some(url) =
            answer.services.unwrap_or_default().into_iter().find(|s| s.name == service.name).and_then(|s| s.url)
    {
        return Ok(url);
    }
    service.url.clone().ok_or_else(|| {
        Error::usage(format!("`{}` has no port, so agui-dev does not know where it listens", service.name))
            .hint(format!("give `[services.{}]` a `port`", service.name))
    })
}

struct Chat {
    out: Out,
    http: reqwest::Client,
    url: String,
    json: bool,
    secrets: Vec<Secret>,
    trace: Option<(PathBuf, std::fs::File)>,
    conversation: Conversation,
    /// The tool calls of this thread, for `/tools`.
    tool_calls: Vec<ToolCall>,
    /// Whether streamed text left the cursor mid-line.
    mid_line: bool,
}

/// How a turn ended.
enum Ended {
    Clean,
    /// The run could not be read, failed or broke a rule: the error says which.
    Failed(Error),
}

impl Chat {
    async fn one(&mut self, message: &str) -> Result<()> {
        match self.turn(message, false).await {
            Ended::Clean => Ok(()),
            Ended::Failed(error) => Err(error),
        }
    }

    async fn repl(&mut self) -> Result<()> {
        use std::io::IsTerminal;
        let interactive = std::io::stdin().is_terminal();
        let mut lines = stdin_lines();
        if interactive {
            self.out
                .status(
                    Level::Info,
                    format!(
                        "talking to {} (thread `{}`); /help lists the commands, Ctrl-D ends",
                        self.url, self.conversation.thread_id
                    ),
                )
                .await;
        }
        loop {
            if interactive {
                self.prompt().await;
            }
            let Some(line) = lines.recv().await else { break };
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(command) = line.strip_prefix('/') {
                if !self.command(command).await {
                    break;
                }
                continue;
            }
            if let Ended::Failed(error) = self.turn(line, true).await {
                // A failed turn is shown and the conversation goes on.
                let mut text = error.summary;
                for cause in &error.causes {
                    text.push_str(": ");
                    text.push_str(cause);
                }
                self.out.status(Level::Error, text).await;
            }
        }
        if interactive {
            self.out.send(Msg::Report("\n".to_owned())).await;
        }
        Ok(())
    }

    async fn prompt(&mut self) {
        self.out.flush().await;
        self.out.send(Msg::Report("you> ".to_owned())).await;
        self.out.flush().await;
    }

    /// A `/command` of the REPL; `false` ends the REPL.
    async fn command(&mut self, command: &str) -> bool {
        let (name, argument) = command.split_once(' ').map_or((command, ""), |(n, a)| (n, a.trim()));
        match name {
            "quit" | "exit" => return false,
            "reset" => {
                self.conversation.reset();
                self.tool_calls.clear();
                let text = format!("conversation reset (thread `{}`)", self.conversation.thread_id);
                self.out.status(Level::Success, text).await;
            }
            "state" => {
                let state = serde_json::to_string_pretty(&self.conversation.state).unwrap_or_default();
                self.out.send(Msg::Report(format!("state:\n{}\n", indent(&state)))).await;
            }
            "tools" => {
                if self.tool_calls.is_empty() {
                    self.out.status(Level::Info, "no tool calls in this conversation yet").await;
                }
                for call in self.tool_calls.clone() {
                    self.show_call(&call).await;
                    self.show_result(&call).await;
                }
            }
            "trace" if !argument.is_empty() => {
                if let Err(error) = self.open_trace(Path::new(argument)) {
                    self.out.status(Level::Error, error.summary).await;
                } else {
                    self.out.status(Level::Success, format!("events of the next turns go to `{argument}`")).await;
                }
            }
            "help" | "trace" => {
                let help = "commands:\n  /reset        forget the messages and the state (same thread)\n  \
                            /tools        the tool calls of this conversation, with results\n  \
                            /state        the agent's state, snapshots and deltas applied\n  \
                            /trace FILE   write the events of the next turns to FILE (JSON Lines)\n  \
                            /quit         end (Ctrl-D too)\n";
                self.out.send(Msg::Report(help.to_owned())).await;
            }
            other => {
                self.out.status(Level::Warn, format!("no command `/{other}`; /help lists them")).await;
            }
        }
        true
    }

    fn open_trace(&mut self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path).map_err(|err| {
            Error::usage(format!("cannot write the trace `{}`", path.display()))
                .cause(err)
                .hint("give a path in a folder that exists and is writable")
        })?;
        self.trace = Some((path.to_path_buf(), file));
        Ok(())
    }

    /// One message and its run, shown as it streams.
    async fn turn(&mut self, message: &str, inline_violations: bool) -> Ended {
        // The run holds the conversation while it streams; it comes back when the run ends.
        let mut conversation = std::mem::take(&mut self.conversation);
        let mut run = match client::start(&self.http, &self.url, &mut conversation, message).await {
            Ok(run) => run,
            Err(err) => {
                self.conversation = conversation;
                return Ended::Failed(
                    Error::failed(format!("cannot run the agent: {err}"))
                        .hint("is the stack up? `agui-dev status` shows it, `agui-dev up` starts it"),
                );
            }
        };
        let mut read_error = None;
        let mut calls = Vec::new();
        while let Some(update) = run.next().await {
            match update {
                Ok(update) => {
                    if let Update::ToolCall(call) = &update {
                        calls.push(call.clone());
                    }
                    self.show(update, inline_violations, &mut calls).await;
                }
                Err(err) => read_error = Some(err),
            }
        }
        let outcome = run.finish();
        self.conversation = conversation;
        self.end_line().await;
        self.tool_calls.extend(calls);
        if let Some(err) = read_error {
            return Ended::Failed(Error::failed(format!("the run broke off: {err}")));
        }
        if let Some(finding) = &outcome.violation {
            return Ended::Failed(
                Error::failed(format!("the run broke rule `{}` at event {}", finding.rule, finding.index))
                    .cause(&finding.message)
                    .hint("the rules are in docs/agui-rules.md; `--trace FILE` keeps the events"),
            );
        }
        if let Some((message, code)) = &outcome.error {
            let code = code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default();
            return Ended::Failed(
                Error::failed(format!("the run ended in `RUN_ERROR`{code}"))
                    .cause(message)
                    .hint("`agui-dev logs agui` shows the server's side"),
            );
        }
        Ended::Clean
    }

    async fn show(&mut self, update: Update, inline_violations: bool, calls: &mut [ToolCall]) {
        match update {
            Update::Event { event, .. } => {
                let line = crate::secret::redact(&event.to_string(), &self.secrets).into_owned();
                if let Some((path, file)) = &mut self.trace
                    && writeln!(file, "{line}").is_err()
                {
                    let text = format!("cannot write the trace `{}`; it stops here", path.display());
                    self.trace = None;
                    self.out.status(Level::Warn, text).await;
                }
                if self.json {
                    self.out.data(line).await;
                }
            }
            Update::Text(delta) if !self.json => {
                self.mid_line = !delta.ends_with('\n');
                self.out.send(Msg::Text(delta)).await;
            }
            Update::ToolCall(call) => self.show_call(&call).await,
            Update::ToolResult(call) => {
                if let Some(known) = calls.iter_mut().find(|c| c.id == call.id) {
                    known.result.clone_from(&call.result);
                }
                self.show_result(&call).await;
            }
            Update::State(state) => {
                let text = format!("state: {}", serde_json::to_string(&state).unwrap_or_default());
                self.out.status(Level::Debug, text).await;
            }
            Update::BadDelta { index, message } => {
                self.out.status(Level::Warn, format!("`STATE_DELTA` at event {index} not applied: {message}")).await;
            }
            Update::Warning(finding) => {
                self.end_line().await;
                let text = format!("rule `{}` at event {}: {}", finding.rule, finding.index, finding.message);
                self.out.status(Level::Warn, text).await;
            }
            Update::Violation(finding) if inline_violations => {
                self.end_line().await;
                self.out.status(Level::Error, finding.to_string()).await;
            }
            // Text under `--json` is in the events; a run error and (with `-m`) a broken rule
            // become the turn's error.
            Update::Text(_) | Update::RunError { .. } | Update::Violation(_) => {}
        }
    }

    async fn show_call(&mut self, call: &ToolCall) {
        self.end_line().await;
        let arguments = call
            .arguments_json()
            .map_or_else(|| call.arguments.clone(), |json| serde_json::to_string_pretty(&json).unwrap_or_default());
        self.out.send(Msg::Report(format!("tool `{}` ({})\n{}\n", call.name, call.id, indent(&arguments)))).await;
    }

    async fn show_result(&mut self, call: &ToolCall) {
        let Some(result) = &call.result else { return };
        self.end_line().await;
        let shown = serde_json::from_str::<Value>(result)
            .ok()
            .filter(|v| v.is_object() || v.is_array())
            .map_or_else(|| result.clone(), |json| serde_json::to_string_pretty(&json).unwrap_or_default());
        let name = if call.name.is_empty() { call.id.as_str() } else { call.name.as_str() };
        self.out.send(Msg::Report(format!("result of `{name}`:\n{}\n", indent(&shown)))).await;
    }

    /// Ends a line the streamed text left open, so what follows starts on its own line.
    async fn end_line(&mut self) {
        if self.mid_line {
            self.mid_line = false;
            self.out.send(Msg::Text("\n".to_owned())).await;
        }
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("  {line}")).collect::<Vec<_>>().join("\n")
}

/// Lines of stdin, read on a thread of their own (a blocking read must not hold a runtime
/// worker); the channel closes at end of input (Ctrl-D).
fn stdin_lines() -> tokio::sync::mpsc::Receiver<String> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut line = String::new();
        loop {
            line.clear();
            match stdin.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.blocking_send(line.clone()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}
