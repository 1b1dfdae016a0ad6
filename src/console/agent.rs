//! Agent runs for the console's chat: the page posts one message, this relays the stack AG-UI
//! server's run back as an event stream, read by agui-dev's own AG-UI client (the one `chat` and
//! `agui-dev mcp` use), so every event arrives with its index, its time and what it meant, and
//! the first broken rule is named as smoke names it. The conversation (messages, state) stays
//! here, by thread id, so the page sends only the new message.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::api::{App, closed, event_stream, frame};
use crate::kinds::agui;
use crate::kinds::agui::client::{self, Conversation, ToolCall, Update};
use crate::kinds::agui::rules::Finding;

/// Conversations kept at most; the oldest page's thread is forgotten first.
const MAX_CONVERSATIONS: usize = 64;

#[derive(Deserialize)]
pub struct RunBody {
    message: String,
    thread: Option<String>,
}

/// The routes that run an agent turn and forget a thread, for `api::router`.
pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/api/agent/run", post(run)).route("/api/agent/reset", post(reset))
}

async fn run(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        let answer = async {
            match serde_json::from_slice::<RunBody>(&body) {
                Ok(body) => relay(&app, body, &tx).await,
                Err(err) => {
                    let error = format!("the body must be {{\"message\", \"thread\"}}: {err}");
                    send(&app, &tx, json!({"kind": "error", "message": error})).await
                        && send(&app, &tx, json!({"kind": "done", "clean": false})).await
                }
            }
        };
        // A run still streaming when the console closes is dropped with it.
        tokio::select! {
            _ = answer => {}
            () = closed(app.closing.clone()) => {}
        }
    });
    event_stream(rx)
}

type Frames = mpsc::Sender<Result<Bytes, std::convert::Infallible>>;

/// Sends one frame; false once the page has gone (then the run is dropped).
async fn send(app: &App, tx: &Frames, value: Value) -> bool {
    tx.send(Ok(frame(app, &value))).await.is_ok()
}

async fn relay(app: &App, body: RunBody, tx: &Frames) -> bool {
    let (service, url) = match app.endpoint(agui::KIND).await {
        Ok(found) => found,
        Err(error) => {
            return send(app, tx, json!({"kind": "error", "message": error.to_string()})).await
                && send(app, tx, json!({"kind": "done", "clean": false})).await;
        }
    };
    let mut conversation = body
        .thread
        .as_ref()
        .and_then(|thread| lock(app).shift_remove(thread))
        .unwrap_or_else(|| Conversation::new(body.thread.clone()));
    let started = Instant::now();
    let (sent, clean) = read_run(app, tx, &service, &url, &mut conversation, &body.message, started).await;
    {
        let mut conversations = lock(app);
        if conversations.len() >= MAX_CONVERSATIONS {
            conversations.shift_remove_index(0);
        }
        conversations.insert(conversation.thread_id.clone(), conversation);
    }
    sent && send(app, tx, json!({"kind": "done", "clean": clean})).await
}

/// The conversations, most recently used last.
fn lock(app: &App) -> std::sync::MutexGuard<'_, indexmap::IndexMap<String, Conversation>> {
    app.conversations.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Reads one run, sending every update as it comes; returns (the page still listens, the run
/// was clean).
async fn read_run(
    app: &App,
    tx: &Frames,
    service: &str,
    url: &str,
    conversation: &mut Conversation,
    message: &str,
    started: Instant,
) -> (bool, bool) {
    let thread = conversation.thread_id.clone();
    // The run's trace is the console's: the AG-UI server continues this `traceparent`, so the
    // page knows which trace to open and can link each event to the span that produced it.
    let (trace_id, parent_id) = (crate::secret::random_hex(16), crate::secret::random_hex(8));
    let traceparent = [("traceparent", format!("00-{trace_id}-{parent_id}-01"))];
    let mut run = match client::start_with(&app.streams, url, conversation, message, &traceparent).await {
        Ok(run) => run,
        Err(error) => return (send(app, tx, json!({"kind": "error", "message": error.to_string()})).await, false),
    };
    let opened = json!({"kind": "run", "thread": thread, "run_id": run.run_id(), "trace_id": trace_id,
        "service": service, "url": url});
    if !send(app, tx, opened).await {
        return (false, false);
    }
    // The message a piece of text belongs to, from the event just before it, so the page can
    // tell two assistant messages of one run apart.
    let mut message_id = Value::Null;
    while let Some(update) = run.next().await {
        let value = match update {
            Ok(Update::Event { index, event }) => {
                if let Some(id) = event.get("messageId").filter(|_| is_text(&event)) {
                    message_id = id.clone();
                }
                describe(Update::Event { index, event }, started)
            }
            Ok(Update::Text(text)) => json!({"kind": "text", "text": text, "message_id": message_id}),
            Ok(update) => describe(update, started),
            Err(error) => json!({"kind": "error", "message": error.to_string()}),
        };
        if !send(app, tx, value).await {
            return (false, false);
        }
    }
    let outcome = run.finish();
    (true, outcome.clean())
}

fn is_text(event: &Value) -> bool {
    matches!(event.get("type").and_then(Value::as_str), Some("TEXT_MESSAGE_CONTENT" | "TEXT_MESSAGE_CHUNK"))
}

/// One update as the page reads it (docs/console.md lists the kinds). An event carries `t_ms`
/// since the run was sent and `at_ms`, the Unix time it arrived (what spans are placed by).
fn describe(update: Update, started: Instant) -> Value {
    let call = |kind: &str, call: ToolCall| json!({"kind": kind, "id": call.id, "name": call.name, "arguments": call.arguments, "result": call.result});
    let finding =
        |kind: &str, f: Finding| json!({"kind": kind, "rule": f.rule, "index": f.index, "message": f.message});
    match update {
        Update::Event { index, event } => {
            let t_ms = started.elapsed().as_secs_f64() * 1000.0;
            let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            let at_ms = (at.as_secs_f64() * 1e4).round() / 10.0;
            let t_ms = (t_ms * 10.0).round() / 10.0;
            json!({"kind": "event", "index": index, "t_ms": t_ms, "at_ms": at_ms, "event": event})
        }
        Update::Text(text) => json!({"kind": "text", "text": text}),
        Update::ToolCall(tool_call) => call("tool_call", tool_call),
        Update::ToolResult(tool_call) => call("tool_result", tool_call),
        Update::State(state) => json!({"kind": "state", "state": state}),
        Update::BadDelta { index, message } => {
            json!({"kind": "warning", "rule": "state-delta-applies", "index": index, "message": message})
        }
        Update::RunError { index, message, code } => {
            json!({"kind": "run_error", "index": index, "message": message, "code": code})
        }
        Update::Warning(f) => finding("warning", f),
        Update::Violation(f) => finding("violation", f),
    }
}

#[derive(Deserialize)]
pub struct ResetBody {
    thread: String,
}

/// Forgets a thread's conversation ("New chat").
async fn reset(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let value = match serde_json::from_slice::<ResetBody>(&body) {
        Ok(body) => {
            lock(&app).shift_remove(&body.thread);
            json!({"ok": true})
        }
        Err(err) => json!({"ok": false, "error": format!("the body must be {{\"thread\"}}: {err}")}),
    };
    app.json(&value)
}
