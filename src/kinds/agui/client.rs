//! A small AG-UI client: one run of a conversation against a server's `POST /agent`, read as the
//! events arrive. `chat` drives it event by event (`Run::next`) to stream text to a terminal;
//! `turn` collects a whole run for callers that only want the outcome (an MCP tool).
//!
//! Every event goes through the same `rules::Validator` as smoke, as it arrives, so a broken rule
//! is reported at the event that broke it, with its rule id and index. After the first broken
//! rule the stream is still read and shown (a developer wants to see what came next), but no
//! further rule is judged: the validator's state no longer describes a valid stream.
//!
//! The conversation keeps what the server needs on the next turn: the messages (the user's, the
//! assistant's text and tool calls, the tool results), the state (`STATE_SNAPSHOT` replaces it,
//! `STATE_DELTA` patches it with RFC 6902 JSON Patch) and the thread id.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::events::{MAX_SSE_EVENT, SseDecoder};
use super::rules::{Finding, Validator};

/// A conversation with one AG-UI server: what is sent with every run.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    pub thread_id: String,
    /// AG-UI messages (`{id, role, content, …}`), oldest first.
    pub messages: Vec<Value>,
    pub state: Value,
    /// Tools the client offers the agent (AG-UI frontend tools); none by default.
    pub tools: Vec<Value>,
}

impl Conversation {
    /// A new conversation; without `thread_id`, a fresh random one.
    pub fn new(thread_id: Option<String>) -> Conversation {
        let thread_id = thread_id.unwrap_or_else(|| format!("agui-dev-{}", crate::secret::random_hex(6)));
        Conversation { thread_id, messages: Vec::new(), state: json!({}), tools: Vec::new() }
    }

    /// Forgets the messages and the state; the thread id stays.
    pub fn reset(&mut self) {
        self.messages.clear();
        self.state = json!({});
    }

    /// The `RunAgentInput` of a new run of this conversation.
    pub fn run_input(&self, run_id: &str) -> Value {
        json!({
            "threadId": self.thread_id,
            "runId": run_id,
            "state": self.state,
            "messages": self.messages,
            "tools": self.tools,
            "context": [],
            "forwardedProps": {},
        })
    }
}

/// A tool call of the assistant, its arguments as streamed (normally JSON) and its result once
/// a `TOOL_CALL_RESULT` came.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
    pub result: Option<String>,
}

impl ToolCall {
    /// The arguments as JSON, when they are JSON.
    pub fn arguments_json(&self) -> Option<Value> {
        serde_json::from_str(&self.arguments).ok()
    }
}

/// What one event meant, handed out as the stream arrives.
#[derive(Debug, Clone)]
pub enum Update {
    /// Every frame, in order, with its 0-based index: the event as JSON (a frame that is not JSON
    /// is given as a JSON string). Always comes before what the event meant.
    Event { index: usize, event: Value },
    /// A piece of assistant text.
    Text(String),
    /// A tool call whose arguments are complete (`TOOL_CALL_END`).
    ToolCall(ToolCall),
    /// A tool call's result (`TOOL_CALL_RESULT`).
    ToolResult(ToolCall),
    /// The state after a snapshot or a delta was applied.
    State(Value),
    /// A `STATE_DELTA` that could not be applied (the state is left as it was).
    BadDelta { index: usize, message: String },
    /// The run ended in `RUN_ERROR`.
    RunError { index: usize, message: String, code: Option<String> },
    /// A rule noted as a warning (`agui.text-delta-nonempty`).
    Warning(Finding),
    /// The first broken rule.
    Violation(Finding),
}

/// What a whole run came to.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub run_id: String,
    /// Every event, in order (frames that are not JSON as JSON strings).
    pub events: Vec<Value>,
    /// The assistant text of the run.
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    /// The conversation's state after the run.
    pub state: Value,
    /// `RUN_ERROR`'s message and code.
    pub error: Option<(String, Option<String>)>,
    pub violation: Option<Finding>,
    pub warnings: Vec<Finding>,
}

impl Outcome {
    /// A clean run: no `RUN_ERROR`, no broken rule.
    pub fn clean(&self) -> bool {
        self.error.is_none() && self.violation.is_none()
    }
}

/// Why a run could not be read at all (as opposed to a run that arrived and broke a rule). The
/// messages carry the whole chain of causes: reqwest's own is often only "error sending request".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The request could not be sent (nothing listens, a refused connection, a timeout).
    #[error("POST {url}: {message}")]
    Send { url: String, message: String },
    /// The server answered, but not with success.
    #[error("POST {url} answered {status}: {body}")]
    Status { url: String, status: u16, body: String },
    /// The stream broke off (a reset, or nothing arrived for the idle limit).
    #[error("reading the answer of POST {url}: {message}")]
    Read { url: String, message: String },
}

/// Why a `STATE_DELTA` left the state as it was.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("`delta` is not a JSON Patch: {0}")]
    NotAPatch(#[source] serde_json::Error),
    #[error("the JSON Patch does not apply: {0}")]
    DoesNotApply(#[source] json_patch::PatchError),
}

/// How long the connection may take to open, and the stream to stay silent.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const IDLE_TIMEOUT: Duration = Duration::from_mins(2);

/// The HTTP client for runs (no proxy, no limit on a long run, an idle limit).
pub fn http_client() -> Result<reqwest::Client, crate::http::HttpError> {
    crate::http::local_stream_client(CONNECT_TIMEOUT, IDLE_TIMEOUT)
}

/// A run being read. Call `next` until it gives `None`, then `finish` to add the run's messages
/// to the conversation and get the outcome.
pub struct Run<'c> {
    conversation: &'c mut Conversation,
    url: String,
    response: Option<reqwest::Response>,
    decoder: SseDecoder,
    validator: Validator,
    pending: std::collections::VecDeque<Update>,
    outcome: Outcome,
    /// The run's new messages, in event order.
    messages: Vec<Value>,
    /// Tool calls not yet ended, by id.
    open_calls: Vec<ToolCall>,
    index: usize,
    ended: bool,
}

/// Sends `message` as the user's next message and returns the run once the server answered with
/// success; the events are read by `Run::next`.
pub async fn start<'c>(
    http: &reqwest::Client,
    url: &str,
    conversation: &'c mut Conversation,
    message: &str,
) -> Result<Run<'c>, ClientError> {
    start_with(http, url, conversation, message, &[]).await
}

/// `start`, with more request headers: the console sends its W3C `traceparent` this way, so the
/// run lands in a trace whose id it knows.
pub async fn start_with<'c>(
    http: &reqwest::Client,
    url: &str,
    conversation: &'c mut Conversation,
    message: &str,
    headers: &[(&str, String)],
) -> Result<Run<'c>, ClientError> {
    let run_id = format!("run-{}", crate::secret::random_hex(6));
    let user = json!({"id": format!("user-{}", crate::secret::random_hex(6)), "role": "user", "content": message});
    conversation.messages.push(user);
    let body = conversation.run_input(&run_id);
    let mut request = http.post(url).header("Content-Type", "application/json").header("Accept", "text/event-stream");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let sent = request.body(body.to_string()).send().await;
    let response = match sent {
        Ok(response) => response,
        Err(err) => {
            // The message was not delivered: the conversation is as it was.
            conversation.messages.pop();
            return Err(ClientError::Send { url: url.to_owned(), message: error_chain(&err) });
        }
    };
    let status = response.status();
    if !status.is_success() {
        conversation.messages.pop();
        let body =
            crate::http::read_body(response, MAX_SSE_EVENT, "an error answer").await.unwrap_or_else(|e| e.to_string());
        return Err(ClientError::Status { url: url.to_owned(), status: status.as_u16(), body: super::clip(&body) });
    }
    let state = conversation.state.clone();
    Ok(Run {
        conversation,
        url: url.to_owned(),
        response: Some(response),
        decoder: SseDecoder::default(),
        validator: Validator::default(),
        pending: std::collections::VecDeque::new(),
        outcome: Outcome { run_id, state, ..Outcome::default() },
        messages: Vec::new(),
        open_calls: Vec::new(),
        index: 0,
        ended: false,
    })
}

/// One whole run: sends `message`, reads every event, adds the run's messages to the
/// conversation and returns what the run came to.
pub async fn turn(
    http: &reqwest::Client,
    url: &str,
    conversation: &mut Conversation,
    message: &str,
) -> Result<Outcome, ClientError> {
    let mut run = start(http, url, conversation, message).await?;
    while let Some(update) = run.next().await {
        update?;
    }
    Ok(run.finish())
}

impl Run<'_> {
    /// The `runId` this run was sent with.
    pub fn run_id(&self) -> &str {
        &self.outcome.run_id
    }

    /// The next update, `None` once the stream has ended and every update was given. An error
    /// ends the stream (the updates before it stand).
    pub async fn next(&mut self) -> Option<Result<Update, ClientError>> {
        loop {
            if let Some(update) = self.pending.pop_front() {
                return Some(Ok(update));
            }
            if self.ended {
                return None;
            }
            let chunk = match self.response.as_mut()?.chunk().await {
                Ok(chunk) => chunk,
                Err(err) => {
                    self.ended = true;
                    self.response = None;
                    return Some(Err(ClientError::Read { url: self.url.clone(), message: error_chain(&err) }));
                }
            };
            let frames = if let Some(bytes) = chunk {
                match self.decoder.push(&bytes) {
                    Ok(frames) => frames,
                    Err(error) => {
                        self.ended = true;
                        self.response = None;
                        return Some(Err(ClientError::Read { url: self.url.clone(), message: error.to_string() }));
                    }
                }
            } else {
                self.ended = true;
                self.response = None;
                self.decoder.finish().into_iter().collect()
            };
            for frame in frames {
                self.frame(&frame);
            }
            if self.ended
                && self.outcome.violation.is_none()
                && let Err(finding) = self.validator.end()
            {
                self.violation(finding);
            }
        }
    }

    /// Ends the run: adds its messages to the conversation, keeps its state, returns the outcome.
    /// Called before the stream ended, the rest of it is dropped.
    pub fn finish(mut self) -> Outcome {
        // Tool calls the stream never ended still belong to the assistant's turn.
        for call in std::mem::take(&mut self.open_calls) {
            self.outcome.tool_calls.push(call);
        }
        self.conversation.messages.append(&mut self.messages);
        self.conversation.state = self.outcome.state.clone();
        self.outcome
    }

    fn violation(&mut self, finding: Finding) {
        self.outcome.violation = Some(finding.clone());
        self.pending.push_back(Update::Violation(finding));
    }

    fn frame(&mut self, frame: &str) {
        let index = self.index;
        self.index += 1;
        let event: Value = serde_json::from_str(frame).unwrap_or_else(|_| Value::String(frame.to_owned()));
        self.outcome.events.push(event.clone());
        self.pending.push_back(Update::Event { index, event: event.clone() });
        if self.outcome.violation.is_none() {
            let warned = self.validator.checked.warnings.len();
            let judged = self.validator.feed(frame);
            let new: Vec<Finding> = self.validator.checked.warnings[warned..].to_vec();
            for warning in new {
                self.outcome.warnings.push(warning.clone());
                self.pending.push_back(Update::Warning(warning));
            }
            if let Err(finding) = judged {
                self.violation(finding);
            }
        }
        if let Value::Object(event) = event {
            self.meaning(index, &event);
        }
    }

    /// What an event does to the run: text, tool calls, state, messages.
    fn meaning(&mut self, index: usize, event: &Map<String, Value>) {
        let text = |name: &str| event.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
        let kind = event.get("type").and_then(Value::as_str).unwrap_or_default();
        match kind {
            "TEXT_MESSAGE_START" | "TEXT_MESSAGE_CONTENT" | "TEXT_MESSAGE_CHUNK" => self.text_event(kind, event),
            "TOOL_CALL_START" | "TOOL_CALL_ARGS" | "TOOL_CALL_END" | "TOOL_CALL_RESULT" => self.tool_event(kind, event),
            "STATE_SNAPSHOT" | "STATE_DELTA" => self.state_event(index, kind, event),
            "MESSAGES_SNAPSHOT" => {
                // The server's full view of the conversation replaces ours.
                if let Some(Value::Array(messages)) = event.get("messages") {
                    self.conversation.messages.clear();
                    self.messages.clone_from(messages);
                }
            }
            "RUN_ERROR" => {
                let code = event.get("code").and_then(Value::as_str).map(str::to_owned);
                self.outcome.error = Some((text("message"), code.clone()));
                self.pending.push_back(Update::RunError { index, message: text("message"), code });
            }
            _ => {}
        }
    }

    /// Text: a message starts, or grows by a delta.
    fn text_event(&mut self, kind: &str, event: &Map<String, Value>) {
        let text = |name: &str| event.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
        match kind {
            "TEXT_MESSAGE_START" => {
                let role = event.get("role").and_then(Value::as_str).unwrap_or("assistant");
                self.messages.push(json!({"id": text("messageId"), "role": role, "content": ""}));
            }
            "TEXT_MESSAGE_CONTENT" | "TEXT_MESSAGE_CHUNK" => {
                let delta = text("delta");
                if delta.is_empty() {
                    return;
                }
                let id = text("messageId");
                let message = self.message(&id);
                let content = message.get("content").and_then(Value::as_str).unwrap_or_default();
                message["content"] = Value::String(format!("{content}{delta}"));
                self.outcome.text.push_str(&delta);
                self.pending.push_back(Update::Text(delta));
            }
            _ => {}
        }
    }

    /// Tool calls: started, their arguments streamed, ended, answered.
    fn tool_event(&mut self, kind: &str, event: &Map<String, Value>) {
        let text = |name: &str| event.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
        match kind {
            "TOOL_CALL_START" => {
                let call = ToolCall { id: text("toolCallId"), name: text("toolCallName"), ..ToolCall::default() };
                self.open_calls.push(call);
            }
            "TOOL_CALL_ARGS" => {
                let id = text("toolCallId");
                if let Some(call) = self.open_calls.iter_mut().find(|c| c.id == id) {
                    call.arguments.push_str(&text("delta"));
                }
            }
            "TOOL_CALL_END" => {
                let id = text("toolCallId");
                if let Some(at) = self.open_calls.iter().position(|c| c.id == id) {
                    let call = self.open_calls.remove(at);
                    let parent = text("parentMessageId");
                    self.record_call(&call, &parent);
                    self.outcome.tool_calls.push(call.clone());
                    self.pending.push_back(Update::ToolCall(call));
                }
            }
            "TOOL_CALL_RESULT" => {
                let id = text("toolCallId");
                let content = match event.get("content") {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                let message_id = text("messageId");
                self.messages.push(json!({"id": message_id, "role": "tool", "toolCallId": id, "content": content}));
                let known = self.outcome.tool_calls.iter_mut().find(|c| c.id == id);
                let call = match known {
                    Some(call) => {
                        call.result = Some(content);
                        call.clone()
                    }
                    None => ToolCall { id, result: Some(content), ..ToolCall::default() },
                };
                self.pending.push_back(Update::ToolResult(call));
            }
            _ => {}
        }
    }

    /// State: a snapshot replaces it, a delta patches it.
    fn state_event(&mut self, index: usize, kind: &str, event: &Map<String, Value>) {
        match kind {
            "STATE_SNAPSHOT" => {
                self.outcome.state = event.get("snapshot").cloned().unwrap_or(Value::Null);
                self.pending.push_back(Update::State(self.outcome.state.clone()));
            }
            "STATE_DELTA" => {
                let delta = event.get("delta").cloned().unwrap_or(Value::Null);
                match apply_delta(&self.outcome.state, delta) {
                    Ok(state) => {
                        self.outcome.state = state;
                        self.pending.push_back(Update::State(self.outcome.state.clone()));
                    }
                    Err(error) => self.pending.push_back(Update::BadDelta { index, message: error.to_string() }),
                }
            }
            _ => {}
        }
    }

    /// The run's message with this id, made when the server sent content without a start.
    fn message(&mut self, id: &str) -> &mut Value {
        let at = if let Some(at) = self.messages.iter().position(|m| m["id"] == id) {
            at
        } else {
            self.messages.push(json!({"id": id, "role": "assistant", "content": ""}));
            self.messages.len() - 1
        };
        &mut self.messages[at]
    }

    /// Adds an ended tool call to its assistant message (the parent named by the event, else the
    /// last assistant message of the run if no tool result followed it, else a new one).
    fn record_call(&mut self, call: &ToolCall, parent: &str) {
        let entry =
            json!({"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}});
        let at = if parent.is_empty() {
            self.messages
                .iter()
                .rposition(|m| m["role"] != "tool")
                .filter(|at| self.messages[*at]["role"] == "assistant")
        } else {
            self.messages.iter().position(|m| m["id"] == parent)
        };
        let at = at.unwrap_or_else(|| {
            let id = if parent.is_empty() {
                format!("assistant-{}", crate::secret::random_hex(6))
            } else {
                parent.to_owned()
            };
            self.messages.push(json!({"id": id, "role": "assistant", "content": ""}));
            self.messages.len() - 1
        });
        let message = &mut self.messages[at];
        match message.get_mut("toolCalls").and_then(Value::as_array_mut) {
            Some(calls) => calls.push(entry),
            None => message["toolCalls"] = json!([entry]),
        }
    }
}

/// `state` with an RFC 6902 patch applied; the state is untouched when any operation fails.
pub fn apply_delta(state: &Value, delta: Value) -> Result<Value, PatchError> {
    let patch: json_patch::Patch = serde_json::from_value(delta).map_err(PatchError::NotAPatch)?;
    let mut next = state.clone();
    json_patch::patch(&mut next, &patch).map_err(PatchError::DoesNotApply)?;
    Ok(next)
}

/// An error with its causes (reqwest's own message is often only "error sending request").
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_patch_the_state_or_leave_it() {
        let state = json!({"todo": ["a"], "n": 1});
        let next = apply_delta(
            &state,
            json!([{"op": "add", "path": "/todo/-", "value": "b"}, {"op": "replace", "path": "/n", "value": 2}]),
        )
        .unwrap();
        assert_eq!(next, json!({"todo": ["a", "b"], "n": 2}));
        assert!(apply_delta(&state, json!([{"op": "remove", "path": "/missing"}])).is_err());
        assert!(apply_delta(&state, json!({"op": "add"})).is_err());
    }

    #[test]
    fn the_input_carries_the_conversation() {
        let mut conversation = Conversation::new(Some("t1".to_owned()));
        conversation.messages.push(json!({"id": "u1", "role": "user", "content": "hi"}));
        let input = conversation.run_input("r1");
        assert_eq!(input["threadId"], "t1");
        assert_eq!(input["runId"], "r1");
        assert_eq!(input["messages"][0]["content"], "hi");
        conversation.reset();
        assert!(conversation.messages.is_empty());
        assert_eq!(conversation.thread_id, "t1");
    }

    #[tokio::test]
    async fn an_event_that_never_ends_stops_the_run_at_the_cap() {
        let total = 2 * MAX_SSE_EVENT;
        let (port, server) =
            crate::http::endless::serve("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream", b"data: ", total);
        let http = http_client().unwrap();
        let url = crate::http::local_url(port, "/agent");
        let mut conversation = Conversation::new(None);
        let error = turn(&http, &url, &mut conversation, "hi").await.err();
        let Some(ClientError::Read { message, .. }) = error else { panic!("not a read error: {error:?}") };
        assert!(message.contains("an event of the stream passed 16 MiB without ending"), "{message}");
        assert!(crate::http::endless::written(server).await < total, "the whole stream was read");
    }
}
