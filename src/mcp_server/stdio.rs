//! The stdio transport of `agui-dev mcp`, for rmcp: one JSON-RPC message per line on stdin, one
//! answer per line on stdout.
//!
//! rmcp has a stdio transport of its own; this one is agui-dev's because it must:
//! - answer a line that is not a message (not JSON, not an object, a batch, no `method`, a bad
//!   `id`, params that do not fit the method) with a JSON-RPC error that carries the line's `id`
//!   where it has one, and read on (rmcp's drops unparsable lines without a word);
//! - skip a line longer than `MAX_LINE` without holding it, and say so, naming the limit;
//! - write every answer through the printer, which replaces the plan's secrets;
//! - at the end of stdin, write the answers still owed before the server stops: rmcp ends its
//!   service when the transport ends, which would cancel the tool calls still running.
//!
//! A reader task turns lines into messages (answering the bad ones itself); `receive` hands them
//! to rmcp. Every request passed on is owed an answer until `send` writes one with its id, or the
//! client cancels it (`notifications/cancelled`: rmcp then sends none).

use std::collections::HashSet;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use rmcp::RoleServer;
use rmcp::model::{
    CallToolRequestParams, ClientJsonRpcMessage, ClientNotification, ClientRequest, InitializeRequestParams,
    JsonRpcMessage, PaginatedRequestParams, RequestId, ServerJsonRpcMessage,
};
use rmcp::transport::Transport;
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::sync::{Notify, mpsc};

use crate::output::{Level, Out};

/// The longest line read from the client. A request is a tool call with its arguments: a few
/// kilobytes. 4 MiB leaves room for a large argument (a file's content) and still bounds what a
/// broken client can make agui-dev hold: without it, a line that never ends grows without end.
const MAX_LINE: usize = 4 * 1024 * 1024;

/// JSON-RPC error codes.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const INVALID_PARAMS: i64 = -32602;

pub struct Stdio {
    messages: mpsc::Receiver<ClientJsonRpcMessage>,
    owed: Arc<Owed>,
    out: Out,
}

impl Stdio {
    /// Starts reading stdin.
    pub fn start(out: Out) -> Stdio {
        let (sender, messages) = mpsc::channel(16);
        let owed = Arc::new(Owed::default());
        tokio::spawn(read(BufReader::new(tokio::io::stdin()), out.clone(), owed.clone(), sender));
        Stdio { messages, owed, out }
    }
}

impl Transport<RoleServer> for Stdio {
    type Error = io::Error;

    fn send(&mut self, message: ServerJsonRpcMessage) -> impl Future<Output = io::Result<()>> + Send + 'static {
        let answers = match &message {
            JsonRpcMessage::Response(response) => Some(response.id.clone()),
            JsonRpcMessage::Error(error) => error.id.clone(),
            JsonRpcMessage::Request(_) | JsonRpcMessage::Notification(_) => None,
        };
        let line = serde_json::to_string(&message);
        let (out, owed) = (self.out.clone(), self.owed.clone());
        async move {
            reply(&out, line.map_err(io::Error::other)?).await;
            if out.stdout_gone() {
                return Err(io::Error::new(io::ErrorKind::BrokenPipe, "stdout is closed"));
            }
            if let Some(id) = answers {
                owed.settle(&id);
            }
            Ok(())
        }
    }

    /// The next message; at the end of stdin, none once every answer owed is written.
    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        if let Some(message) = self.messages.recv().await {
            return Some(message);
        }
        self.owed.all_settled().await;
        None
    }

    async fn close(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The requests passed on to rmcp and not answered yet.
#[derive(Default)]
struct Owed {
    ids: Mutex<HashSet<RequestId>>,
    settled: Notify,
}

impl Owed {
    fn owe(&self, id: RequestId) {
        self.ids.lock().unwrap_or_else(PoisonError::into_inner).insert(id);
    }

    fn settle(&self, id: &RequestId) {
        self.ids.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
        self.settled.notify_waiters();
    }

    async fn all_settled(&self) {
        loop {
            // Registered before looking, so a settle between the look and the wait is not missed.
            let settled = self.settled.notified();
            if self.ids.lock().unwrap_or_else(PoisonError::into_inner).is_empty() {
                return;
            }
            settled.await;
        }
    }
}

/// Reads stdin to its end: messages go to rmcp, bad lines are answered here.
async fn read(
    mut input: impl AsyncBufRead + Unpin,
    out: Out,
    owed: Arc<Owed>,
    messages: mpsc::Sender<ClientJsonRpcMessage>,
) {
    // Until the first request, rmcp takes only requests (`initialize`, `server/discover`, `ping`,
    // or one with 2026-07-28 `_meta`): anything else then would end the session, and there is
    // nothing yet a notification or an answer could be about.
    let mut requested = false;
    loop {
        let line = match read_line(&mut input).await {
            Ok(Line::Text(line)) => line,
            Ok(Line::End) => break,
            Ok(Line::TooLong) => {
                let text = format!(
                    "a line longer than {} (the most `agui-dev mcp` reads of one line); skipped it",
                    crate::http::size(MAX_LINE)
                );
                out.status(Level::Warn, format!("agui-dev mcp: {text}")).await;
                reply(&out, error(Value::Null, INVALID_REQUEST, text).answer()).await;
                continue;
            }
            Ok(Line::NotUtf8) => {
                // Say so and read on, as for any bad line.
                out.status(Level::Warn, "agui-dev mcp: an input line is not UTF-8").await;
                reply(&out, error(Value::Null, PARSE_ERROR, "unreadable line: not UTF-8").answer()).await;
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
        let message = match parse(&line) {
            Ok(Some(message)) => message,
            Ok(None) => continue,
            Err(refused) => {
                reply(&out, refused.answer()).await;
                continue;
            }
        };
        match &message {
            JsonRpcMessage::Request(request) => {
                owed.owe(request.id.clone());
                requested = true;
            }
            JsonRpcMessage::Notification(_) | JsonRpcMessage::Response(_) | JsonRpcMessage::Error(_) if !requested => {
                continue;
            }
            JsonRpcMessage::Notification(notification) => {
                if let ClientNotification::CancelledNotification(cancelled) = &notification.notification
                    && let Some(id) = &cancelled.params.request_id
                {
                    owed.settle(id);
                }
            }
            JsonRpcMessage::Response(_) | JsonRpcMessage::Error(_) => {}
        }
        if messages.send(message).await.is_err() || out.stdout_gone() {
            break;
        }
    }
}

/// One line: a message for rmcp, nothing (a malformed notification or a stray answer, which get
/// no answer), or the JSON-RPC error to answer it with.
fn parse(line: &str) -> Result<Option<ClientJsonRpcMessage>, Refused> {
    let message: Value =
        serde_json::from_str(line).map_err(|err| error(Value::Null, PARSE_ERROR, format!("parse error: {err}")))?;
    let Some(object) = message.as_object() else {
        let what =
            if message.is_array() { "batches are not supported; send one request per line" } else { "not an object" };
        return Err(error(Value::Null, INVALID_REQUEST, format!("invalid request: {what}")));
    };
    let id = object.get("id").cloned();
    // A valid id is a string or a number; anything else cannot be answered by it.
    if id.as_ref().is_some_and(|id| !(id.is_string() || id.is_number())) {
        return Err(error(Value::Null, INVALID_REQUEST, "invalid request: `id` must be a string or a number"));
    }
    let Some(method) = object.get("method").and_then(Value::as_str).map(str::to_owned) else {
        // A response to nothing we asked, or a malformed message.
        return id.map_or(Ok(None), |id| Err(error(id, INVALID_REQUEST, "invalid request: no `method`")));
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return id.map_or(Ok(None), |id| Err(error(id, INVALID_REQUEST, "invalid request: `jsonrpc` must be \"2.0\"")));
    }
    let params = object.get("params").cloned();
    let invalid =
        |id: Value, err: serde_json::Error| error(id, INVALID_PARAMS, format!("invalid params of `{method}`: {err}"));
    let message = match serde_json::from_value::<ClientJsonRpcMessage>(message) {
        Ok(message) => message,
        Err(err) => return id.map_or(Ok(None), |id| Err(invalid(id, err))),
    };
    // rmcp reads a request whose params do not fit its method as a request of an unknown method
    // (and would answer "method not found"): for the methods served here, say what is wrong.
    if let (JsonRpcMessage::Request(request), Some(id)) = (&message, id)
        && let ClientRequest::CustomRequest(_) = &request.request
        && let Err(err) = fits(&method, params.unwrap_or_else(|| json!({})))
    {
        return Err(invalid(id, err));
    }
    Ok(Some(message))
}

/// Whether `params` fit `method`, for the methods this server serves that take params.
fn fits(method: &str, params: Value) -> Result<(), serde_json::Error> {
    match method {
        "initialize" => serde_json::from_value::<InitializeRequestParams>(params).map(drop),
        "tools/call" => serde_json::from_value::<CallToolRequestParams>(params).map(drop),
        "tools/list" => serde_json::from_value::<PaginatedRequestParams>(params).map(drop),
        _ => Ok(()),
    }
}

/// A line refused before rmcp sees it, with the JSON-RPC error that answers it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct Refused {
    id: Value,
    code: i64,
    message: String,
}

impl Refused {
    /// The JSON-RPC error line that answers the refused one.
    fn answer(&self) -> String {
        let mut answer = json!({"jsonrpc": "2.0", "error": {"code": self.code, "message": self.message}});
        answer["id"] = self.id.clone();
        answer.to_string()
    }
}

fn error(id: Value, code: i64, message: impl Into<String>) -> Refused {
    Refused { id, code, message: message.into() }
}

async fn reply(out: &Out, line: String) {
    out.data(line).await;
    // The client waits for this line; the printer must not hold it back.
    out.flush().await;
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
async fn read_line(input: &mut (impl AsyncBufRead + Unpin)) -> io::Result<Line> {
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
async fn skip_line(input: &mut (impl AsyncBufRead + Unpin)) -> io::Result<()> {
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
