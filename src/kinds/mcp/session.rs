//! What agui-dev knows about talking to an MCP server over streamable HTTP, in both protocol eras
//! (docs/protocol-facts.md):
//!
//! - **2026-07-28**: no handshake and no session. The client asks `server/discover` first; every
//!   request carries the protocol version twice (`_meta["io.modelcontextprotocol/protocolVersion"]`
//!   and the `MCP-Protocol-Version` header) and its method in the `Mcp-Method` header (the SDK v2
//!   server refuses a request without it: `-32020 … the required Mcp-Method header is absent`);
//!   `tools/call` also names its tool in `Mcp-Name`.
//! - **2025 era** (2024-11-05 … 2025-11-25): `initialize`, then `notifications/initialized`, then
//!   requests carrying the `mcp-session-id` it returned.
//!
//! `open` tries the first and falls back to the second, like the v2 client's `auto` mode, so a
//! server that only knows the old handshake still works and the report says which era it speaks.
//! Both media types go in `Accept` (servers answer 406 otherwise).

use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};

const ACCEPT: &str = "application/json, text/event-stream";
/// The current stable revision.
pub const MODERN: &str = "2026-07-28";
/// The newest 2025-era revision, offered in `initialize`.
pub const LEGACY_LATEST: &str = "2025-11-25";
const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// The most agui-dev reads of one answer, which it holds whole to parse. A `tools/list` of
/// hundreds of tools with their schemas is well under a megabyte; a tool result carrying a file or
/// a query's rows can run to several. 16 MiB is past those and still bounds what a broken or
/// hostile server can make agui-dev hold.
pub const MAX_MCP_BODY: usize = 16 * 1024 * 1024;

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
    client: reqwest::Client,
    url: String,
    era: Era,
    id: Option<String>,
    next: u64,
}

impl Session {
    /// Opens a session: `server/discover` (2026-07-28), else `initialize` and
    /// `notifications/initialized` (2025 era). The error names what both attempts answered.
    pub async fn open(url: &str) -> Result<Session, String> {
        let client = crate::http::local_client(Duration::from_mins(1))?;
        let mut session = Session { client, url: url.to_owned(), era: Era::Modern, id: None, next: 1 };
        let discovered = session.request("server/discover", json!({})).await;
        let modern_refusal = match discovered {
            Ok(result) if offers_modern(&result) => return Ok(session),
            Ok(result) => {
                format!("`server/discover` offered {}", result.get("supportedVersions").unwrap_or(&Value::Null))
            }
            Err(error) => error,
        };
        session.era = Era::Legacy(LEGACY_LATEST.to_owned());
        let params = json!({
            "protocolVersion": LEGACY_LATEST,
            "capabilities": {},
            "clientInfo": {"name": "agui-dev", "version": env!("CARGO_PKG_VERSION")},
        });
        let result = session
            .request("initialize", params)
            .await
            .map_err(|legacy| format!("neither protocol era works: {MODERN}: {modern_refusal}; 2025 era: {legacy}"))?;
        if session.id.is_none() {
            return Err("`initialize` returned no `mcp-session-id` header".to_owned());
        }
        if let Some(version) = result.get("protocolVersion").and_then(Value::as_str) {
            session.era = Era::Legacy(version.to_owned());
        }
        session
            .post("notifications/initialized", None, &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await?;
        Ok(session)
    }

    pub fn era(&self) -> &Era {
        &self.era
    }

    /// The server's tools as it describes them (name, title, description, input schema, …).
    pub async fn list_tools(&mut self) -> Result<Vec<Value>, String> {
        let mut result = self.request("tools/list", json!({})).await?;
        match result.get_mut("tools").map(Value::take) {
            Some(Value::Array(tools)) => Ok(tools),
            _ => Err("`tools/list` returned no `tools`".to_owned()),
        }
    }

    /// The names of the server's tools, with their input schemas.
    pub async fn tools(&mut self) -> Result<Vec<(String, Value)>, String> {
        let tools = self.list_tools().await?;
        Ok(tools
            .iter()
            .filter_map(|t| {
                Some((t.get("name")?.as_str()?.to_owned(), t.get("inputSchema").cloned().unwrap_or_default()))
            })
            .collect())
    }

    /// Calls a tool and returns its text content; a result marked `isError` is an error.
    pub async fn call(&mut self, name: &str, arguments: Value) -> Result<String, String> {
        let result = self.call_result(name, arguments).await?;
        let text: Vec<&str> = result
            .get("content")
            .and_then(Value::as_array)
            .map(|c| c.iter().filter_map(|part| part.get("text").and_then(Value::as_str)).collect())
            .unwrap_or_default();
        if result.get("isError").and_then(Value::as_bool) == Some(true) {
            return Err(format!("tool `{name}` answered an error: {}", text.join(" ")));
        }
        Ok(text.join(" "))
    }

    /// Calls a tool and returns its whole `CallToolResult` (content, `structuredContent`,
    /// `isError`) as the server sent it, for a caller that passes it on.
    pub async fn call_result(&mut self, name: &str, arguments: Value) -> Result<Value, String> {
        self.request("tools/call", json!({"name": name, "arguments": arguments})).await
    }

    /// Ends a 2025-era session (DELETE), so the server frees it; 2026-07-28 has nothing to end.
    pub async fn close(self) {
        if let Some(id) = &self.id {
            let _ = self.client.delete(&self.url).header("mcp-session-id", id).send().await;
        }
    }

    async fn request(&mut self, method: &str, mut params: Value) -> Result<Value, String> {
        let id = self.next;
        self.next += 1;
        if self.era == Era::Modern {
            let meta = json!({
                META_VERSION: MODERN,
                "io.modelcontextprotocol/clientInfo": {"name": "agui-dev", "version": env!("CARGO_PKG_VERSION")},
                "io.modelcontextprotocol/clientCapabilities": {},
            });
            if let Some(object) = params.as_object_mut() {
                object.insert("_meta".to_owned(), meta);
            }
        }
        let name =
            (method == "tools/call").then(|| params.get("name").and_then(Value::as_str).unwrap_or("").to_owned());
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let body = self.post(method, name.as_deref(), &message).await?;
        // The answer is JSON or a small SSE stream carrying the JSON-RPC response.
        let message = if body.trim_start().starts_with('{') {
            serde_json::from_str::<Value>(&body).map_err(|e| format!("`{method}`: {e}"))?
        } else {
            crate::kinds::agui::events::parse_sse(&body)?
                .into_iter()
                .find(|m| m.get("id").and_then(Value::as_u64) == Some(id))
                .ok_or_else(|| format!("`{method}` got no response"))?
        };
        if let Some(error) = message.get("error") {
            return Err(format!("`{method}` failed: {error}"));
        }
        message.get("result").cloned().ok_or_else(|| format!("`{method}` returned no result"))
    }

    async fn post(&mut self, method: &str, tool: Option<&str>, message: &Value) -> Result<String, String> {
        let mut request = self
            .client
            .post(&self.url)
            .header("Accept", ACCEPT)
            .header("Content-Type", "application/json")
            .body(message.to_string());
        match &self.era {
            Era::Modern => {
                request = request.header("MCP-Protocol-Version", MODERN).header("Mcp-Method", method);
                if let Some(tool) = tool {
                    request = request.header("Mcp-Name", tool);
                }
            }
            Era::Legacy(version) => {
                if let Some(id) = &self.id {
                    request = request.header("mcp-session-id", id).header("mcp-protocol-version", version);
                }
            }
        }
        let response = request.send().await.map_err(|e| format!("POST {}: {e}", self.url))?;
        let status = response.status();
        if let Some(id) = response.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()) {
            self.id = Some(id.to_owned());
        }
        let what = format!("the answer of POST {} (`{method}`)", self.url);
        let body = crate::http::read_body(response, MAX_MCP_BODY, &what).await?;
        if !status.is_success() {
            return Err(format!("POST {} answered {status}: {}", self.url, body.chars().take(200).collect::<String>()));
        }
        Ok(body)
    }
}

/// Whether a `server/discover` result lists the revision agui-dev speaks.
fn offers_modern(result: &Value) -> bool {
    result
        .get("supportedVersions")
        .and_then(Value::as_array)
        .is_some_and(|versions| versions.iter().any(|v| v.as_str() == Some(MODERN)))
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
        let start: &[u8] = br#"{"jsonrpc":"2.0","id":1,"result":{"supportedVersions":[""#;
        let (port, server) = endless::serve("HTTP/1.1 200 OK\r\nContent-Type: application/json", start, total);
        let error = Session::open(&crate::http::local_url(port, "/mcp")).await.err().unwrap();
        let url = format!("http://127.0.0.1:{port}/mcp");
        let expected = format!(
            "the answer of POST {url} (`server/discover`) is longer than 16 MiB (the most agui-dev reads of it)"
        );
        assert!(error.contains(&expected), "{error}");
        assert!(endless::written(server).await < total, "the whole answer was read");
    }
}
