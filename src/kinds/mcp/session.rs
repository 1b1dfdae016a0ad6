//! What agui-dev knows about talking to an MCP server over streamable HTTP, in both protocol eras
//! (docs/protocol-facts.md), on the official Rust SDK (`rmcp`):
//!
//! - **2026-07-28**: no handshake and no session. The client asks `server/discover` first; every
//!   request carries the protocol version in `_meta` and in the `MCP-Protocol-Version` header,
//!   and its method in `Mcp-Method` (`tools/call` also names its tool in `Mcp-Name`). rmcp sends
//!   all of them.
//! - **2025 era** (2024-11-05 … 2025-11-25): `initialize`, then `notifications/initialized`, then
//!   requests carrying the `mcp-session-id` it returned; `close` ends the session (DELETE).
//!
//! `open` tries the first and falls back to the second (rmcp's `Auto` lifecycle, like the v2
//! TypeScript client's `auto` mode), so a server that only knows the old handshake still works and
//! the report says which era it speaks. Answers are read as they arrive: a JSON body whole, an SSE
//! stream event by event.
//!
//! What agui-dev keeps in its own hands around rmcp: the HTTP client (`http::local_client`: never
//! through a proxy from the environment, every request bounded in time), the most it reads of one
//! answer (`MAX_MCP_BODY`, a JSON body or one SSE event), a bound on the pages of a list, and
//! errors that read as sentences.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, PaginatedRequestParams, ProtocolVersion,
};
use rmcp::service::{ClientInitializeError, RunningService};
use rmcp::transport::streamable_http_client::{StreamableHttpClientTransportConfig, StreamableHttpError};
use rmcp::transport::worker::WorkerQuitReason;
use rmcp::transport::{DynamicTransportError, StreamableHttpClientTransport};
use rmcp::{ClientLifecycleMode, ClientServiceExt, ErrorData, RoleClient, ServiceError};
use serde_json::{Value, json};

/// The current stable revision.
pub const MODERN: &str = "2026-07-28";
/// The most agui-dev reads of one answer (a JSON body, or one event of an SSE stream), which it
/// holds whole to parse. A `tools/list` of hundreds of tools with their schemas is well under a
/// megabyte; a tool result carrying a file or a query's rows can run to several. 16 MiB is past
/// those and still bounds what a broken or hostile server can make agui-dev hold.
pub const MAX_MCP_BODY: usize = 16 * 1024 * 1024;
/// The most pages of `tools/list` agui-dev follows. Servers page by tens of tools; a server that
/// hands out cursors without end must not keep agui-dev asking.
const MAX_PAGES: usize = 1000;
/// The errors of rmcp's HTTP transport on reqwest.
type HttpError = StreamableHttpError<reqwest::Error>;
/// The bound of one HTTP request to the server (a POST and its whole answer).
const REQUEST_TIMEOUT: Duration = Duration::from_mins(1);

/// Which protocol generation a server answered in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Era {
    /// 2026-07-28: `server/discover`, stateless.
    Modern,
    /// The 2025-era handshake; the version the server agreed to in `initialize`.
    Legacy(String),
}

impl Era {
    /// Short, for JSON and tests: `2026-07-28` or `2025-11-25`.
    pub fn version(&self) -> &str {
        match self {
            Era::Modern => MODERN,
            Era::Legacy(version) => version,
        }
    }
}

impl fmt::Display for Era {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Era::Modern => write!(f, "MCP {MODERN} (server/discover, no session)"),
            Era::Legacy(version) => write!(f, "MCP {version} (2025 era: initialize + session)"),
        }
    }
}

pub struct Session {
    service: RunningService<RoleClient, ClientConfig>,
    era: Era,
}

/// Why a conversation with an MCP server failed. `Display` is the sentence a report shows; the
/// rmcp error it came from stays the source.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// agui-dev's HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] crate::http::HttpError),
    /// Neither handshake worked; when both eras were tried, the text says what each answered.
    #[error("{}", opening(.0))]
    Open(#[source] Box<ClientInitializeError>),
    #[error("the server answered neither `server/discover` nor `initialize`")]
    NoHandshake,
    /// A request that failed on the way or was answered with a JSON-RPC error.
    #[error("{request} failed: {}", describe(.source))]
    Request {
        request: String,
        #[source]
        source: ServiceError,
    },
    /// An answer agui-dev will not follow further (a repeated cursor, too many pages) or cannot
    /// turn into JSON.
    #[error("{0}")]
    Answer(String),
    #[error("the arguments of `{tool}` must be a JSON object, not `{arguments}`")]
    Arguments { tool: String, arguments: Value },
    /// The tool ran and said it failed (`isError`).
    #[error("tool `{tool}` answered an error: {text}")]
    Tool { tool: String, text: String },
}

impl Session {
    /// Opens a session: `server/discover` (2026-07-28), else `initialize` and
    /// `notifications/initialized` (2025 era). The error names what failed.
    pub async fn open(url: &str) -> Result<Session, McpError> {
        let client = crate::http::local_client(REQUEST_TIMEOUT)?;
        let config = StreamableHttpClientTransportConfig::with_uri(url)
            .max_json_response_size(MAX_MCP_BODY)
            .max_sse_event_size(MAX_MCP_BODY);
        let transport = StreamableHttpClientTransport::with_client(client, config);
        let me = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("agui-dev", env!("CARGO_PKG_VERSION")),
        );
        let lifecycle = ClientLifecycleMode::Auto {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            legacy_version: Some(ProtocolVersion::V_2025_11_25),
        };
        let service = me.serve_with_lifecycle(transport, lifecycle).await.map_err(|e| McpError::Open(Box::new(e)))?;
        let version = service.peer_info().map(|info| info.protocol_version.clone());
        let era = match version {
            Some(version) if !version.has_initialize() => Era::Modern,
            Some(version) => Era::Legacy(version.to_string()),
            None => return Err(McpError::NoHandshake),
        };
        Ok(Session { service, era })
    }

    pub fn era(&self) -> &Era {
        &self.era
    }

    /// The server's tools as it describes them (name, title, description, input schema, …), every
    /// page of them: `tools/list` is asked again with each `nextCursor` until there is none.
    pub async fn list_tools(&mut self) -> Result<Vec<Value>, McpError> {
        let mut tools = Vec::new();
        let mut cursors = HashSet::new();
        let mut cursor = None;
        for page in 1..=MAX_PAGES {
            let params = cursor.take().map(|cursor| PaginatedRequestParams::default().with_cursor(Some(cursor)));
            let listed = self.service.peer().list_tools(params).await.map_err(|source| {
                let request = if page == 1 { "`tools/list`".to_owned() } else { format!("`tools/list` (page {page})") };
                McpError::Request { request, source }
            })?;
            for tool in listed.tools {
                tools.push(serde_json::to_value(tool).map_err(|e| McpError::Answer(format!("`tools/list`: {e}")))?);
            }
            let Some(next) = listed.next_cursor else { return Ok(tools) };
            if !cursors.insert(next.clone()) {
                return Err(McpError::Answer(format!(
                    "`tools/list` handed out the cursor `{next}` a second time (at page {page}); stopped"
                )));
            }
            cursor = Some(next);
        }
        Err(McpError::Answer(format!(
            "`tools/list` has more than {MAX_PAGES} pages (the most agui-dev reads); stopped"
        )))
    }

    /// The names of the server's tools, with their input schemas.
    pub async fn tools(&mut self) -> Result<Vec<(String, Value)>, McpError> {
        let tools = self.list_tools().await?;
        Ok(tools
            .iter()
            .filter_map(|t| {
                Some((t.get("name")?.as_str()?.to_owned(), t.get("inputSchema").cloned().unwrap_or_default()))
            })
            .collect())
    }

    /// Calls a tool and returns its text content; a result marked `isError` is an error.
    pub async fn call(&mut self, name: &str, arguments: Value) -> Result<String, McpError> {
        let result = self.call_result(name, arguments).await?;
        let text: Vec<&str> = result
            .get("content")
            .and_then(Value::as_array)
            .map(|c| c.iter().filter_map(|part| part.get("text").and_then(Value::as_str)).collect())
            .unwrap_or_default();
        if result.get("isError").and_then(Value::as_bool) == Some(true) {
            return Err(McpError::Tool { tool: name.to_owned(), text: text.join(" ") });
        }
        Ok(text.join(" "))
    }

    /// Calls a tool and returns its whole `CallToolResult` (content, `structuredContent`,
    /// `isError`) as the server sent it, for a caller that passes it on.
    pub async fn call_result(&mut self, name: &str, arguments: Value) -> Result<Value, McpError> {
        let mut params = CallToolRequestParams::new(name.to_owned());
        match arguments {
            Value::Object(arguments) => params = params.with_arguments(arguments),
            Value::Null => {}
            other => return Err(McpError::Arguments { tool: name.to_owned(), arguments: other }),
        }
        let result = self
            .service
            .peer()
            .call_tool(params)
            .await
            .map_err(|source| McpError::Request { request: format!("`tools/call` of `{name}`"), source })?;
        serde_json::to_value(result).map_err(|e| McpError::Answer(format!("`tools/call` of `{name}`: {e}")))
    }

    /// Ends the session: a 2025-era one is deleted on the server (DELETE), so the server frees it;
    /// 2026-07-28 has nothing to end.
    pub async fn close(self) {
        let _ = self.service.cancel().await;
    }
}

/// Why opening failed: when both eras were tried, what each answered.
fn opening(error: &ClientInitializeError) -> String {
    match error {
        ClientInitializeError::LegacyFallbackFailed { discover, fallback } => format!(
            "neither protocol era works: {MODERN}: {}; 2025 era: {}",
            describe(discover.as_ref()),
            describe(fallback.as_ref())
        ),
        other => describe(other),
    }
}

/// An rmcp error as one line: through rmcp's wrappers (a transport error in a worker's quit
/// reason in a service or lifecycle error, whose texts repeat each other and name Rust types) to
/// what happened, then its causes; the size cap in agui-dev's words.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    if let Some(error) = error.downcast_ref::<ClientInitializeError>() {
        match error {
            ClientInitializeError::TransportError { error, context } => {
                return format!("{}, when {context}", describe(error));
            }
            ClientInitializeError::JsonRpcError(data) => return answered(data),
            _ => {}
        }
    }
    match error.downcast_ref::<ServiceError>() {
        Some(ServiceError::TransportSend(error)) => return describe(error),
        Some(ServiceError::McpError(data)) => return answered(data),
        _ => {}
    }
    if let Some(error) = error.downcast_ref::<DynamicTransportError>() {
        return describe(error.error.as_ref());
    }
    if let Some(WorkerQuitReason::Fatal { error, .. }) = error.downcast_ref::<WorkerQuitReason<HttpError>>() {
        return describe(error);
    }
    match error.downcast_ref::<HttpError>() {
        Some(HttpError::ResponseBodyTooLarge { max_size }) => {
            return format!(
                "the answer is longer than {} (the most agui-dev reads of it); stopped reading",
                crate::http::size(*max_size)
            );
        }
        Some(HttpError::Client(error)) => return describe(error),
        _ => {}
    }
    let mut said: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        let text = error.to_string();
        if !said.iter().any(|earlier| earlier.contains(&text)) {
            said.push(text);
        }
        next = error.source();
    }
    said.join(": ")
}

/// A JSON-RPC error the server answered.
fn answered(error: &ErrorData) -> String {
    format!("the server answered error {}: {}", error.code.0, error.message)
}

/// Arguments for a harmless call of a listed tool: `calculate` if the server has it, else the
/// first tool that needs no arguments.
pub fn pick_call(tools: &[(String, Value)]) -> Option<(String, Value)> {
    if tools.iter().any(|(name, _)| name == "calculate") {
        return Some(("calculate".to_owned(), json!({"expression": "6*7"})));
    }
    tools
        .iter()
        .find(|(_, schema)| schema.get("required").and_then(Value::as_array).is_none_or(Vec::is_empty))
        .map(|(name, _)| (name.clone(), json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::endless;

    #[tokio::test]
    async fn an_answer_longer_than_the_cap_is_an_error_and_is_not_read_to_its_end() {
        let total = 2 * MAX_MCP_BODY;
        let start: &[u8] = br#"{"jsonrpc":"2.0","id":0,"result":{"supportedVersions":[""#;
        let (port, server) = endless::serve("HTTP/1.1 200 OK\r\nContent-Type: application/json", start, total);
        let error = Session::open(&crate::http::local_url(port, "/mcp")).await.err().unwrap();
        let expected = "the answer is longer than 16 MiB (the most agui-dev reads of it); stopped reading";
        assert!(error.to_string().contains(expected), "{error}");
        assert!(endless::written(server).await < total, "the whole answer was read");
    }

    /// An SSE answer is read event by event: the `server/discover` result arrives in the first
    /// event, and the session is open while the server is still sending (here, twice the cap
    /// that a client reading the whole body first would have to hold).
    #[tokio::test]
    async fn an_sse_answer_is_used_as_it_arrives_not_when_it_ends() {
        let total = 2 * MAX_MCP_BODY;
        let start: &[u8] = b"data: {\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"supportedVersions\":[\"2026-07-28\"],\
            \"capabilities\":{\"tools\":{}},\"resultType\":\"complete\",\"ttlMs\":0,\"cacheScope\":\"private\"}}\n\n: ";
        let (port, server) = endless::serve("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream", start, total);
        let session = Session::open(&crate::http::local_url(port, "/mcp")).await.unwrap();
        assert_eq!(session.era(), &Era::Modern);
        session.close().await;
        assert!(endless::written(server).await < total, "the whole stream was read before the answer was used");
    }
}
