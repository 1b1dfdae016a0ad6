//! What agui-dev knows about MCP servers over streamable HTTP: the handshake (`initialize`, then
//! `notifications/initialized`, then requests carrying the `mcp-session-id` it returned), with
//! both media types in `Accept` (a server answers 406 otherwise).

use std::time::Duration;

use serde_json::{Value, json};

const ACCEPT: &str = "application/json, text/event-stream";
const PROTOCOL_VERSION: &str = "2025-06-18";

pub struct Session {
    client: reqwest::Client,
    url: String,
    id: Option<String>,
}

impl Session {
    /// Opens a session: `initialize` and `notifications/initialized`.
    pub async fn open(url: &str) -> Result<Session, String> {
        let client = crate::http::local_client(Duration::from_mins(1))?;
        let mut session = Session { client, url: url.to_owned(), id: None };
        let params = json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "agui-dev", "version": env!("CARGO_PKG_VERSION")},
        });
        session.request(1, "initialize", params).await?;
        if session.id.is_none() {
            return Err("`initialize` returned no `mcp-session-id` header".to_owned());
        }
        session.post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await?;
        Ok(session)
    }

    /// The names of the server's tools, with their input schemas.
    pub async fn tools(&mut self) -> Result<Vec<(String, Value)>, String> {
        let result = self.request(2, "tools/list", json!({})).await?;
        let tools = result.get("tools").and_then(Value::as_array).ok_or("`tools/list` returned no `tools`")?;
        Ok(tools
            .iter()
            .filter_map(|t| {
                Some((t.get("name")?.as_str()?.to_owned(), t.get("inputSchema").cloned().unwrap_or_default()))
            })
            .collect())
    }

    /// Calls a tool and returns its text content; a result marked `isError` is an error.
    pub async fn call(&mut self, name: &str, arguments: Value) -> Result<String, String> {
        let result = self.request(3, "tools/call", json!({"name": name, "arguments": arguments})).await?;
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

    async fn request(&mut self, id: u64, method: &str, params: Value) -> Result<Value, String> {
        let body = self.post(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await?;
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

    async fn post(&mut self, message: &Value) -> Result<String, String> {
        let mut request = self
            .client
            .post(&self.url)
            .header("Accept", ACCEPT)
            .header("Content-Type", "application/json")
            .body(message.to_string());
        if let Some(id) = &self.id {
            request = request.header("mcp-session-id", id).header("mcp-protocol-version", PROTOCOL_VERSION);
        }
        let response = request.send().await.map_err(|e| format!("POST {}: {e}", self.url))?;
        let status = response.status();
        if let Some(id) = response.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()) {
            self.id = Some(id.to_owned());
        }
        let body = response.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("POST {} answered {status}: {}", self.url, body.chars().take(200).collect::<String>()));
        }
        Ok(body)
    }
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
