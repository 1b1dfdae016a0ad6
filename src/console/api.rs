//! The console's routes: the page, the control protocol over HTTP, logs (history and live), the
//! MCP server's tools and the proxy's models. Agent runs are `agent.rs`'s, traces `traces.rs`'s.
//! Every response goes through `guard` first and leaves with the same security headers; every
//! text that comes from a service is redacted on its way out.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, watch};

use super::guard::{self, Seen};
use crate::config::KindName;
use crate::control::{Answer, Op};
use crate::error::{Error, Result};
use crate::http::HttpError;
use crate::kinds::agui::client::Conversation;
use crate::kinds::mcp::session::{McpError, Session};
use crate::kinds::{litellm, mcp};
use crate::output::logfile;
use crate::secret::redact;
use crate::supervise::socket::{self, Context};

const PAGE: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const TRACES_SCRIPT: &str = include_str!("page/traces.js");
const STYLE: &str = include_str!("page/app.css");

/// Lines `/api/logs` gives when not told, and at most.
const DEFAULT_LINES: usize = 500;
const MAX_LINES: usize = 5000;

/// Why a console API call could not be answered: the `error` of its JSON answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("this stack has no `kind = \"{0}\"` service")]
    NoService(String),
    #[error("`{0}` has no port, so no URL")]
    NoUrl(String),
    #[error("cannot reach the MCP server `{name}` at {url}: {why}")]
    Unreachable {
        name: String,
        url: String,
        #[source]
        why: McpError,
    },
    #[error("`{call}` on `{name}` failed: {why}")]
    Mcp {
        call: String,
        name: String,
        #[source]
        why: McpError,
    },
    #[error("the body must be {{\"name\", \"arguments\"}}: {0}")]
    Body(#[source] serde_json::Error),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("GET {url}/models answered {status}: {body}")]
    Answered { url: String, status: reqwest::StatusCode, body: Value },
}

pub struct App {
    pub port: u16,
    pub token: String,
    pub context: Arc<Context>,
    /// For agent runs: no overall limit, an idle limit.
    pub streams: reqwest::Client,
    /// For everything else on loopback: answers within seconds.
    pub calls: reqwest::Client,
    /// Agent conversations by thread id, so the page sends only the new message; the most
    /// recently used last.
    pub conversations: Mutex<IndexMap<String, Conversation>>,
    /// Becomes true when the console closes: every stream ends then.
    pub closing: watch::Receiver<bool>,
}

/// Resolves once the console closes.
pub async fn closed(mut closing: watch::Receiver<bool>) {
    let _ = closing.wait_for(|closing| *closing).await;
}

impl App {
    pub fn new(port: u16, token: String, context: Arc<Context>, closing: watch::Receiver<bool>) -> Result<Arc<App>> {
        let client_error = |e| Error::failed("cannot build the console's HTTP client").caused_by(e);
        Ok(Arc::new(App {
            port,
            token,
            context,
            streams: crate::kinds::agui::client::http_client().map_err(client_error)?,
            calls: crate::http::local_client(Duration::from_secs(30)).map_err(client_error)?,
            conversations: Mutex::new(IndexMap::new()),
            closing,
        }))
    }

    /// Replaces every secret the stack knows in `text`, those a restart read included.
    pub fn redact(&self, text: &str) -> String {
        redact(text, &self.context.control.secrets.borrow()).into_owned()
    }

    /// JSON as it leaves: serialized, then redacted (a key inside any string is caught).
    pub fn json(&self, value: &Value) -> Response {
        let body = self.redact(&value.to_string());
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    }

    /// The stack's first service of `kind`, with its URL (the running one's, else the plan's).
    pub async fn endpoint(&self, kind: KindName) -> std::result::Result<(String, String), ApiError> {
        let label = format!("{kind:?}").to_lowercase();
        let plan = &self.context.plan;
        let service = plan.services.iter().find(|s| s.kind == Some(kind)).ok_or(ApiError::NoService(label))?;
        // The supervisor's own status: no `/proc` scan for what listens beyond loopback.
        let status = self.context.control.status().await.unwrap_or_default();
        let running = status.into_iter().find(|s| s.name == service.name);
        let url = running.and_then(|s| s.url).or_else(|| service.url.clone());
        let url = url.ok_or_else(|| ApiError::NoUrl(service.name.clone()))?;
        Ok((service.name.clone(), url))
    }
}

/// Every page and API of the console; `agent` holds the routes that drive an AG-UI run.
pub fn router(app: Arc<App>, agent: Router<Arc<App>>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/assets/app.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
        .route("/assets/traces.js", get(|| async { asset("text/javascript; charset=utf-8", TRACES_SCRIPT) }))
        .route("/assets/app.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
        .route("/api/status", get(status))
        .route("/api/control", post(control))
        .route("/api/logs", get(logs))
        .route("/api/logs/stream", get(logs_stream))
        .route("/api/mcp/tools", get(mcp_tools))
        .route("/api/mcp/call", post(mcp_call))
        .route("/api/models", get(models))
        .merge(agent)
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such page in the agui-dev console") })
        .layer(middleware::from_fn_with_state(app.clone(), guarded))
        .with_state(app)
}

/// The guard, then the headers every answer carries: no caching (the page holds a token), no
/// framing, no sniffing, nothing loaded from elsewhere, no referrer carrying the token away.
async fn guarded(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let query_token = request
        .uri()
        .query()
        .and_then(|query| query.split('&').find_map(|pair| pair.strip_prefix("token=")).filter(|t| !t.contains('%')));
    let seen = Seen {
        method: request.method().as_str(),
        host: text("host"),
        origin: text("origin"),
        header_token: text("x-agui-dev-token"),
        query_token,
    };
    let mut response = match guard::check(&seen, app.port, &app.token) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN);
            (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], refusal.explain()).into_response()
        }
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::HeaderName::from_static("cross-origin-resource-policy"), "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The page, with the token (hex, checked by the guard) where the page needs it.
async fn page(State(app): State<Arc<App>>) -> Response {
    let html = PAGE.replace("{{TOKEN}}", &app.token);
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

fn answer(app: &App, answer: &Answer) -> Response {
    app.json(&serde_json::to_value(answer).unwrap_or_default())
}

async fn status(State(app): State<Arc<App>>) -> Response {
    answer(&app, &socket::answer(Op::Status, &app.context).await)
}

/// A control request as the socket takes it (`{"version":1,"op":"restart",...}`); stopping
/// the whole stack is left to the terminal that owns it.
async fn control(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let answered = match socket::parse(&body) {
        Ok(Op::Down) => Answer::error("`down` is not offered by the console; use `agui-dev down` or Ctrl-C"),
        Ok(op) => socket::answer(op, &app.context).await,
        Err(error) => Answer::error(error),
    };
    answer(&app, &answered)
}

#[derive(Deserialize)]
struct LogQuery {
    service: Option<String>,
    n: Option<usize>,
    /// Comma-separated: only lines containing one of these (the Traces panel asks for the lines
    /// that carry a trace id or an AG-UI run id), looked for in the last `MAX_LINES` of each log.
    any: Option<String>,
}

fn millis(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The last lines of the log files (one service's or all, merged by arrival), oldest first. Only
/// a service of the running stack is a log to read: the name becomes a file name, and any other
/// (`../../somewhere`) would reach files outside the logs. Each log is read back from its end, and
/// on a blocking thread: the supervisor's two workers never wait on the disk, and a long log costs
/// no more than a short one.
async fn logs(State(app): State<Arc<App>>, Query(query): Query<LogQuery>) -> Response {
    let dir = app.context.plan.dir.join(".agui-dev").join("logs");
    let known = service_names(&app).await;
    let names: Vec<String> = match query.service {
        Some(name) if known.contains(&name) => vec![name],
        Some(name) => {
            let error = format!("there is no service `{name}` in the running stack ({})", known.join(", "));
            return (StatusCode::NOT_FOUND, app.json(&json!({"ok": false, "error": error}))).into_response();
        }
        None => known,
    };
    let limit = query.n.unwrap_or(DEFAULT_LINES).clamp(1, MAX_LINES);
    let needles: Vec<String> =
        query.any.iter().flat_map(|any| any.split(',')).filter(|n| !n.is_empty()).map(str::to_owned).collect();
    let read = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        let scan = if needles.is_empty() { limit } else { MAX_LINES };
        for name in names {
            let (read, _) = logfile::recent(&dir, &name, scan).unwrap_or_default();
            let wanted = |line: &logfile::Logged| needles.is_empty() || needles.iter().any(|n| line.text.contains(n));
            lines.extend(read.into_iter().filter(wanted).map(|line| (name.clone(), line)));
        }
        lines.sort_by_key(|(_, line)| line.at);
        lines.drain(..lines.len().saturating_sub(limit));
        lines
    });
    let lines = read.await.unwrap_or_default();
    let lines: Vec<Value> = lines
        .iter()
        .map(|(service, line)| json!({"service": service, "at_ms": line.at.map(millis), "text": line.text}))
        .collect();
    app.json(&json!({"lines": lines}))
}

/// Every service the running stack has now (a reload may have added some), else the plan's.
async fn service_names(app: &App) -> Vec<String> {
    match socket::answer(Op::Status, &app.context).await.services {
        Some(services) => services.into_iter().map(|s| s.name).collect(),
        None => app.context.plan.services.iter().map(|s| s.name.clone()).collect(),
    }
}

/// An event stream from a channel the sender fills; it ends when the sender is dropped.
pub fn event_stream(rx: mpsc::Receiver<std::result::Result<Bytes, Infallible>>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    (headers, Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))).into_response()
}

/// One `data:` frame. JSON has no raw newline, so the frame is one line.
pub fn frame(app: &App, value: &Value) -> Bytes {
    Bytes::from(format!("data: {}\n\n", app.redact(&value.to_string())))
}

/// Live service lines as the printer writes them (redacted there, colours kept). A page that
/// falls behind is told how many lines it missed; a comment every 15 s keeps proxies and the
/// browser from timing the stream out.
async fn logs_stream(State(app): State<Arc<App>>) -> Response {
    let mut lines = app.context.out.subscribe();
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        let mut keepalive = tokio::time::interval(Duration::from_secs(15));
        let closing = closed(app.closing.clone());
        tokio::pin!(closing);
        loop {
            let frame = tokio::select! {
                () = &mut closing => return,
                line = lines.recv() => match line {
                    Ok(line) => frame(&app, &json!({"service": line.service, "at_ms": millis(line.at), "text": line.line})),
                    Err(broadcast::error::RecvError::Lagged(missed)) => frame(&app, &json!({"missed": missed})),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = keepalive.tick() => Bytes::from_static(b": keep-alive\n\n"),
            };
            if tx.send(Ok(frame)).await.is_err() {
                return;
            }
        }
    });
    event_stream(rx)
}

/// The stack MCP server's tools, whole (name, title, description, input schema).
async fn mcp_tools(State(app): State<Arc<App>>) -> Response {
    let result = async {
        let (name, url) = app.endpoint(mcp::KIND).await?;
        let mut session = Session::open(&url).await.map_err(|why| unreachable(&name, &url, why))?;
        let listed = session.list_tools().await;
        let era = session.era().version().to_owned();
        session.close().await;
        let tools = listed.map_err(|why| ApiError::Mcp { call: "tools/list".to_owned(), name: name.clone(), why })?;
        Ok::<_, ApiError>(json!({"ok": true, "service": name, "url": url, "era": era, "tools": tools}))
    }
    .await;
    app.json(&result.unwrap_or_else(|error| json!({"ok": false, "error": error.to_string()})))
}

fn unreachable(name: &str, url: &str, why: McpError) -> ApiError {
    ApiError::Unreachable { name: name.to_owned(), url: url.to_owned(), why }
}

#[derive(Deserialize)]
struct CallBody {
    name: String,
    #[serde(default)]
    arguments: Option<Value>,
}

/// Calls one tool of the stack MCP server; its result as the server sent it.
async fn mcp_call(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let result = async {
        let call: CallBody = serde_json::from_slice(&body).map_err(ApiError::Body)?;
        let (name, url) = app.endpoint(mcp::KIND).await?;
        let mut session = Session::open(&url).await.map_err(|why| unreachable(&name, &url, why))?;
        let arguments = call.arguments.unwrap_or_else(|| json!({}));
        let answered = session.call_result(&call.name, arguments).await;
        session.close().await;
        let result = answered.map_err(|why| ApiError::Mcp { call: call.name, name, why })?;
        Ok::<_, ApiError>(json!({"ok": true, "result": result}))
    }
    .await;
    app.json(&result.unwrap_or_else(|error| json!({"ok": false, "error": error.to_string()})))
}

/// The proxy's models (asked with the master key, which stays here), the one the agent uses and
/// why.
async fn models(State(app): State<Arc<App>>) -> Response {
    let plan = &app.context.plan;
    let why = plan.notes.iter().find(|note| note.starts_with("model `")).cloned();
    let result = async {
        let (name, url) = app.endpoint(litellm::KIND).await?;
        let mut request = app.calls.get(format!("{url}/models"));
        if let Some(key) = plan.secrets.iter().find(|s| s.name == "LITELLM_MASTER_KEY") {
            request = request.bearer_auth(&key.value);
        }
        let models_url = format!("{url}/models");
        let answered = request.send().await.map_err(HttpError::request("GET", &models_url))?;
        let status = answered.status();
        let body: Value = answered.json().await.map_err(HttpError::request("GET", &models_url))?;
        if !status.is_success() {
            return Err(ApiError::Answered { url, status, body });
        }
        let models: Vec<Value> = body
            .get("data")
            .and_then(Value::as_array)
            .map(|data| data.iter().filter_map(|m| m.get("id")).map(|id| json!({"id": id})).collect())
            .unwrap_or_default();
        Ok::<_, ApiError>(json!({"ok": true, "proxy": name, "url": url, "models": models}))
    }
    .await;
    let mut value = result.unwrap_or_else(|error| json!({"ok": false, "error": error.to_string()}));
    value["model"] = json!(plan.model);
    value["offline"] = json!(plan.model.as_ref().map(|_| plan.model_offline));
    value["why"] = json!(why);
    app.json(&value)
}
