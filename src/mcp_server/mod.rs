//! `agui-dev mcp`: an MCP server on stdio for coding agents, on the official Rust SDK (`rmcp`).
//!
//! Theory of operation: rmcp speaks the protocol, in both eras (the 2025-era handshake:
//! `initialize`, which echoes a version it knows, and `notifications/initialized`; 2026-07-28's
//! `server/discover` and per-request `_meta`), and runs every request in a task of its own, so a
//! slow `agui_turn` never holds up `ping` or another call; `notifications/cancelled` cancels the
//! request it names. agui-dev brings the transport (`stdio`: bad lines answered with JSON-RPC
//! errors, the line cap, every answer through the printer, the answers owed at the end of stdin)
//! and the tools (`tools`).
//!
//! The tools run here, in `run`'s own loop, not in rmcp's tasks: rmcp's handlers must be `Send`,
//! and some tools are not (doctor's checks). So `Handler::call_tool` sends each call to the loop
//! and waits for its answer; when the client cancels, the handler stops waiting, and the loop
//! drops the call, which ends its work (an AG-UI turn's HTTP stream is closed).
//!
//! The tools are one more face of what the other commands do: the stack's state and the control
//! actions go through the control socket (like `agui-dev status`), logs are read from
//! `.agui-dev/logs/` (like `agui-dev logs`), the doctor's findings come from `doctor::diagnose`.
//! Every answer goes to stdout through the printer, which replaces the plan's secrets; diagnostics
//! go to stderr through it too, so stdout never carries anything but protocol messages.

mod stdio;
mod tools;

use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CustomRequest, CustomResult, ErrorCode, Implementation,
    ListToolsResult, PaginatedRequestParams, ResultType, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RunningService};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::cli::{Cli, McpArgs};
use crate::error::{Error, Result};
use crate::output::Level;
use crate::plan;
use crate::secret::Secret;

const INSTRUCTIONS: &str = "Tools for the local AG-UI agent stack run by agui-dev (LiteLLM proxy, MCP server, AG-UI server): \
its status, its logs, one AG-UI turn against the agent, the stack MCP server's tools, doctor's diagnosis, and the traces of \
its runs (where a run's time went).";

pub async fn run(cli: &Cli, args: &McpArgs) -> Result<()> {
    let allow_control = args.allow_control;
    let printer = crate::session::printer(cli, crate::output::Style::RESULT, &[], None, secrets(cli))?;
    let out = printer.out();
    let tools = tools::Server { cli, allow_control };
    let listed = tools
        .list()
        .into_iter()
        .map(serde_json::from_value)
        .collect::<std::result::Result<Vec<Tool>, _>>()
        .map_err(|e| Error::failed(format!("agui-dev mcp: a tool's description is not an MCP tool: {e}")))?;
    let control = if allow_control { " (with restart, stop and start)" } else { "" };
    out.status(Level::Debug, format!("agui-dev mcp: serving MCP on stdio{control}")).await;
    let (calls, mut asked) = mpsc::channel(16);
    let handler = Handler { tools: listed.into(), calls };
    match handler.serve(stdio::Stdio::start(out.clone())).await {
        Ok(service) => serve(&tools, service, &mut asked).await,
        // The input ended before a session began (or began with what cannot start one).
        Err(error) => out.status(Level::Debug, format!("agui-dev mcp: no session: {error}")).await,
    }
    out.flush().await;
    drop(out);
    printer.finish();
    Ok(())
}

/// Runs the tool calls the handler passes on, side by side, until the service ends (the end of
/// stdin, once every answer owed is written; or stdout closed).
async fn serve(
    tools: &tools::Server<'_>,
    service: RunningService<RoleServer, Handler>,
    asked: &mut mpsc::Receiver<Call>,
) {
    let finished = service.waiting();
    tokio::pin!(finished);
    let mut running = FuturesUnordered::new();
    loop {
        tokio::select! {
            Some(call) = asked.recv() => running.push(answer(tools, call)),
            Some(()) = running.next() => {}
            _ = &mut finished => break,
        }
    }
}

/// One tool call: its result goes back to the handler, unless the handler stopped waiting (the
/// client cancelled the request): then the call is dropped where it stands.
async fn answer(tools: &tools::Server<'_>, call: Call) {
    let Call { name, arguments, mut answer } = call;
    tokio::select! {
        result = tools.call(&name, &arguments) => {
            let _ = answer.send(result);
        }
        () = answer.closed() => {}
    }
}

/// A `tools/call` on its way to `serve`: `None` back means no such tool.
struct Call {
    name: String,
    arguments: Value,
    answer: oneshot::Sender<Option<Value>>,
}

struct Handler {
    tools: Arc<[Tool]>,
    calls: mpsc::Sender<Call>,
}

impl ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        let mut capabilities = ServerCapabilities::builder().enable_tools().build();
        if let Some(tools) = capabilities.tools.as_mut() {
            // This process's list never changes while it runs.
            tools.list_changed = Some(false);
        }
        let mut info = ServerConfig::new(capabilities);
        info.server_info = Implementation::new("agui-dev", env!("CARGO_PKG_VERSION"));
        info.instructions = Some(INSTRUCTIONS.to_owned());
        info
    }

    // rmcp marks a 2026-07-28 list private and uncached (`ttlMs: 0`): it is this process's
    // (`--allow-control`) and not shared.
    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.to_vec()))
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<CustomResult, ErrorData> {
        Err(ErrorData::new(ErrorCode::METHOD_NOT_FOUND, format!("method not found: `{}`", request.method), None))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> std::result::Result<CallToolResponse, ErrorData> {
        let name = request.name.into_owned();
        let arguments = Value::Object(request.arguments.unwrap_or_default());
        let (answer, answered) = oneshot::channel();
        let stopping = || ErrorData::internal_error("agui-dev mcp is stopping", None);
        self.calls.send(Call { name: name.clone(), arguments, answer }).await.map_err(|_| stopping())?;
        let result = tokio::select! {
            result = answered => result.map_err(|_| stopping())?,
            // rmcp sends no answer to a cancelled request; returning drops `answered`, which stops the call.
            () = context.ct.cancelled() => return Err(ErrorData::internal_error("cancelled", None)),
        };
        let Some(result) = result else {
            return Err(ErrorData::invalid_params(
                format!("unknown tool `{name}`; `tools/list` names the tools"),
                None,
            ));
        };
        let mut result: CallToolResult = serde_json::from_value(result).map_err(|e| {
            ErrorData::internal_error(format!("the answer of `{name}` is not a tool result: {e}"), None)
        })?;
        // A 2026-07-28 result must say it is complete (a 2025-era client is not shown the field:
        // rmcp takes it off); rmcp adds it only to results built by its constructors.
        result.result_type = Some(ResultType::COMPLETE);
        Ok(result.into())
    }
}

/// The secrets every answer is cleaned of: the plan's (provider keys, the user's master key),
/// else the secret-named variables of the environment.
fn secrets(cli: &Cli) -> Vec<Secret> {
    let plan = crate::session::load_stack(cli).and_then(|stack| plan::build(&stack, &[])).ok();
    if let Some(plan) = plan {
        return plan.secrets;
    }
    let mut secrets = Vec::new();
    let env: Vec<(String, String)> = std::env::vars().collect();
    crate::secret::collect(&mut secrets, env.iter().map(|(k, v)| (k, v)));
    crate::secret::sort(&mut secrets);
    secrets
}
