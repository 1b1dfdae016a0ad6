//! The OTLP/HTTP receiver `up` runs on 127.0.0.1: `POST /v1/traces` in protobuf or JSON, redacted,
//! kept in the store and, when the user had an endpoint of their own, forwarded there too.
//! `/v1/metrics` and `/v1/logs` are answered and dropped, so an SDK that sends them by default
//! does not log export errors.
//!
//! Who may send: the services of the stack, which are local processes. Like the console, the
//! receiver wants its own `Host` (a rebound DNS name fails) and refuses any request with an
//! `Origin`: SDKs send none, browsers always do on a POST.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::sync::{Semaphore, mpsc, watch};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use super::otlp::{self, Encoding};
use super::store::Store;
use super::{Forward, TraceError};
use crate::output::{Level, Out};
use crate::secret::Secret;

/// The largest body read; OTLP exporters send batches of 512 spans, far below this.
pub const MAX_BODY: usize = 16 * 1024 * 1024;
/// Bodies decoded at once: what a flood can hold in memory beyond the store is this many bodies.
const DECODING: usize = 2;
/// How long a body may take to arrive once its turn to be decoded has come.
const BODY_TIME: Duration = Duration::from_secs(10);
/// Batches waiting to be forwarded, and their bytes at most: beyond either, a batch is dropped and
/// counted (a slow endpoint must not grow agui-dev's memory past `[traces]`'s bound by more).
const FORWARD_QUEUE: usize = 64;
pub const FORWARD_BYTES: usize = 8 * 1024 * 1024;

struct App {
    port: u16,
    store: Arc<Store>,
    /// The run's secrets, updated when a restart or reload reads new ones.
    secrets: watch::Receiver<Vec<Secret>>,
    decoding: Semaphore,
    forward: Option<Queue>,
}

/// The forwarder's queue, with the bytes in it (counted until a batch has been sent).
#[derive(Clone)]
struct Queue {
    sender: mpsc::Sender<Vec<u8>>,
    bytes: Arc<AtomicUsize>,
}

impl Queue {
    /// Queues `request` encoded; `false` when the queue is full.
    fn push(&self, request: &ExportTraceServiceRequest) -> bool {
        let length = request.encoded_len();
        if self.bytes.fetch_add(length, Ordering::Relaxed) + length > FORWARD_BYTES {
            self.bytes.fetch_sub(length, Ordering::Relaxed);
            return false;
        }
        if self.sender.try_send(otlp::encode(request)).is_err() {
            self.bytes.fetch_sub(length, Ordering::Relaxed);
            return false;
        }
        true
    }
}

/// The running receiver; dropping it stops it.
pub struct Receiver {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
    forwarder: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    /// Stops serving and forwarding, and waits until both tasks are gone: the forwarder holds an
    /// `Out`, and the printer finishes only once every `Out` is dropped.
    pub async fn stop(mut self) {
        self.task.abort();
        if let Some(forwarder) = self.forwarder.take() {
            forwarder.abort();
            let _ = forwarder.await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(forwarder) = &self.forwarder {
            forwarder.abort();
        }
    }
}

/// The receiver's port, bound before the plan is made: the services' environment names it.
pub struct Bound {
    listener: std::net::TcpListener,
    pub port: u16,
}

impl Bound {
    /// `http://127.0.0.1:PORT`: what `OTEL_EXPORTER_OTLP_ENDPOINT` names.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Binds a free port on 127.0.0.1.
pub fn bind() -> Result<Bound, TraceError> {
    let listener =
        std::net::TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).map_err(TraceError::Listen)?;
    listener.set_nonblocking(true).map_err(TraceError::Listen)?;
    let port = listener.local_addr().map_err(TraceError::Listen)?.port();
    Ok(Bound { listener, port })
}

/// Serves `bound` until the receiver is dropped.
pub fn serve(
    bound: Bound,
    store: Arc<Store>,
    secrets: watch::Receiver<Vec<Secret>>,
    forward: Option<Forward>,
    out: Out,
) -> Result<Receiver, TraceError> {
    let port = bound.port;
    let listener = tokio::net::TcpListener::from_std(bound.listener).map_err(TraceError::Listen)?;
    let (queue, forwarder) = match forward {
        Some(forward) => {
            let (sender, receiver) = mpsc::channel(FORWARD_QUEUE);
            let queue = Queue { sender, bytes: Arc::new(AtomicUsize::new(0)) };
            let bytes = queue.bytes.clone();
            (Some(queue), Some(tokio::spawn(forwarding(forward, receiver, bytes, store.clone(), out))))
        }
        None => (None, None),
    };
    let app = Arc::new(App { port, store, secrets, decoding: Semaphore::new(DECODING), forward: queue });
    let router = Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/metrics", post(dropped))
        .route("/v1/logs", post(dropped))
        .with_state(app);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(Receiver { port, task, forwarder })
}

async fn traces(State(app): State<Arc<App>>, request: Request) -> Response {
    if let Err(refusal) = guard(request.headers(), app.port) {
        return *refusal;
    }
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(encoding) = Encoding::of(content_type) else {
        let text = "OTLP/HTTP takes application/x-protobuf or application/json";
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, text).into_response();
    };
    if request.headers().get(header::CONTENT_ENCODING).is_some_and(|v| v != "identity") {
        let text = "compressed bodies are not taken; set OTEL_EXPORTER_OTLP_COMPRESSION=none";
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, text).into_response();
    }
    let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY as u64) {
        return too_large(&app);
    }
    // Waiting here, before the body is read, is what bounds the memory a flood can hold.
    let Ok(_permit) = app.decoding.acquire().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    // A sender that stops halfway must not keep the permit: the others wait on it.
    let body = match tokio::time::timeout(BODY_TIME, axum::body::to_bytes(request.into_body(), MAX_BODY)).await {
        Ok(Ok(body)) => body,
        // With a declared length within the limit, the limit was not what failed: the sender went.
        Ok(Err(_)) if declared.is_none() => return too_large(&app),
        Ok(Err(err)) => return (StatusCode::BAD_REQUEST, format!("the body could not be read: {err}")).into_response(),
        Err(_) => return (StatusCode::REQUEST_TIMEOUT, "the body did not arrive in time").into_response(),
    };
    let mut decoded = match otlp::decode(&body, encoding) {
        Ok(decoded) => decoded,
        Err(err) => return (StatusCode::BAD_REQUEST, format!("not an OTLP trace request: {err}")).into_response(),
    };
    drop(body);
    otlp::redact(&mut decoded, &app.secrets.borrow());
    if let Some(forward) = &app.forward
        && !forward.push(&decoded)
    {
        app.store.forward_failed();
    }
    app.store.add(otlp::spans(&decoded));
    success(encoding)
}

fn too_large(app: &App) -> Response {
    app.store.dropped(1);
    let text = format!("the body is longer than {MAX_BODY} bytes; send smaller batches");
    (StatusCode::PAYLOAD_TOO_LARGE, text).into_response()
}

/// An empty `Export*ServiceResponse`: full success.
fn success(encoding: Encoding) -> Response {
    match encoding {
        Encoding::Protobuf => ([(header::CONTENT_TYPE, "application/x-protobuf")], Body::empty()).into_response(),
        Encoding::Json => ([(header::CONTENT_TYPE, "application/json")], "{}").into_response(),
    }
}

async fn dropped(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(refusal) = guard(&headers, app.port) {
        return *refusal;
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    success(Encoding::of(content_type).unwrap_or(Encoding::Protobuf))
}

fn guard(headers: &HeaderMap, port: u16) -> Result<(), Box<Response>> {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    if host != format!("127.0.0.1:{port}") && host != format!("localhost:{port}") {
        let text = "refused: the Host header must be 127.0.0.1 or localhost with the receiver's port";
        return Err(Box::new((StatusCode::MISDIRECTED_REQUEST, text).into_response()));
    }
    if headers.contains_key(header::ORIGIN) {
        return Err(Box::new((StatusCode::FORBIDDEN, "refused: web pages may not send traces here").into_response()));
    }
    Ok(())
}

/// Sends each batch to the user's endpoint, one at a time. A failure is counted, and said once.
async fn forwarding(
    forward: Forward,
    mut queue: mpsc::Receiver<Vec<u8>>,
    queued: Arc<AtomicUsize>,
    store: Arc<Store>,
    out: Out,
) {
    // Never through `HTTP_PROXY`, as every client of agui-dev (`crate::http`): the endpoint is
    // usually on this machine, and the batches carry the user's headers.
    let client = match reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build() {
        Ok(client) => client,
        Err(err) => {
            out.status(Level::Warn, format!("traces are not forwarded to {}: {err}", forward.shown())).await;
            return;
        }
    };
    let mut said = false;
    while let Some(batch) = queue.recv().await {
        let length = batch.len();
        let sent = send(&client, &forward, batch).await;
        queued.fetch_sub(length, Ordering::Relaxed);
        let Err(why) = sent else { continue };
        store.forward_failed();
        if !said {
            said = true;
            let text = format!("cannot forward traces to {} ({why}); they are still kept here", forward.shown());
            out.status(Level::Warn, text).await;
        }
    }
}

async fn send(client: &reqwest::Client, forward: &Forward, batch: Vec<u8>) -> Result<(), TraceError> {
    let mut request = client.post(&forward.url).header(header::CONTENT_TYPE, "application/x-protobuf").body(batch);
    for (name, value) in &forward.headers {
        request = request.header(name, value);
    }
    match request.send().await {
        Ok(answer) if answer.status().is_success() => Ok(()),
        Ok(answer) => Err(TraceError::Answered(answer.status())),
        Err(err) => Err(TraceError::Send(err.without_url())),
    }
}
