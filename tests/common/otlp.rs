//! OTLP for the trace receiver's tests: a second OTLP/HTTP receiver (`Sink`, what a user's own
//! Jaeger or collector is to agui-dev), requests of realistic spans, a binary HTTP client, and the
//! control socket's answers.

// The value builders return `Option<AnyValue>`: the type of `KeyValue::value`.
#![allow(dead_code, clippy::unnecessary_wraps)]

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use prost::Message;

use super::WAIT;

/// One request the sink took: its headers (names lower-cased), raw body and decoded form.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub request: ExportTraceServiceRequest,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

type Log = Arc<(Mutex<Vec<Received>>, Condvar)>;

/// An OTLP/HTTP receiver on 127.0.0.1 (its own port, held from the start): decodes each
/// `POST /v1/traces` protobuf body as `ExportTraceServiceRequest` and keeps it with its headers.
/// Keep-alive connections, as reqwest's pool uses them. Its threads end with the test process.
pub struct Sink {
    pub port: u16,
    log: Log,
}

impl Sink {
    pub fn start() -> Sink {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let log: Log = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let shared = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = shared.clone();
                std::thread::spawn(move || serve_connection(stream, &log));
            }
        });
        Sink { port, log }
    }

    /// `http://127.0.0.1:PORT`: what `OTEL_EXPORTER_OTLP_ENDPOINT` names.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.0.lock().unwrap().clone()
    }

    /// Waits until the requests taken hold `spans` spans in all; panics after `WAIT`.
    pub fn wait_for_spans(&self, spans: usize) -> Vec<Received> {
        let deadline = Instant::now() + WAIT;
        let (lock, cv) = &*self.log;
        let mut log = lock.lock().unwrap();
        loop {
            let have: usize = log.iter().map(|r| span_ids(&r.request).len()).sum();
            if have >= spans {
                return log.clone();
            }
            let now = Instant::now();
            assert!(now < deadline, "the sink got {have} of {spans} spans within {WAIT:?}");
            log = cv.wait_timeout(log, deadline - now).unwrap().0;
        }
    }
}

fn serve_connection(stream: TcpStream, log: &Log) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let length = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok());
        let mut body = vec![0u8; length.unwrap_or(0)];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let decoded = ExportTraceServiceRequest::decode(body.as_slice());
        let status = if line.starts_with("POST /v1/traces ") && decoded.is_ok() { "200 OK" } else { "400 Bad Request" };
        if let Ok(request) = decoded {
            let (lock, cv) = &**log;
            lock.lock().unwrap().push(Received { headers, body, request });
            cv.notify_all();
        }
        let answer = format!("HTTP/1.1 {status}\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n");
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// The span ids (hex) in a request.
pub fn span_ids(request: &ExportTraceServiceRequest) -> Vec<String> {
    spans_of(request).map(|s| hex(&s.span_id)).collect()
}

pub fn spans_of(request: &ExportTraceServiceRequest) -> impl Iterator<Item = &Span> {
    request.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    })
}

pub fn text(value: &str) -> Option<AnyValue> {
    Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_owned())) })
}

pub fn int(value: i64) -> Option<AnyValue> {
    Some(AnyValue { value: Some(any_value::Value::IntValue(value)) })
}

pub fn array(values: Vec<Option<AnyValue>>) -> Option<AnyValue> {
    let values = values.into_iter().flatten().collect();
    Some(AnyValue { value: Some(any_value::Value::ArrayValue(ArrayValue { values })) })
}

pub fn kvlist(values: Vec<KeyValue>) -> Option<AnyValue> {
    Some(AnyValue { value: Some(any_value::Value::KvlistValue(KeyValueList { values })) })
}

pub fn kv(key: &str, value: Option<AnyValue>) -> KeyValue {
    KeyValue { key: key.to_owned(), value, ..KeyValue::default() }
}

/// A 16-byte trace id and an 8-byte span id made from numbers, so a test can name them again.
pub fn trace_id(n: u64) -> Vec<u8> {
    [0xa9_u64.to_be_bytes(), n.to_be_bytes()].concat()
}

pub fn span_id(trace: u64, n: u64) -> Vec<u8> {
    ((trace << 20) | n).to_be_bytes().to_vec()
}

/// A span as an instrumented AG-UI server or proxy sends one: HTTP and GenAI attributes, a
/// prompt-sized text, an event; the first of each trace is the root.
pub fn realistic_span(trace: u64, n: u64) -> Span {
    let start = 1_764_800_000_000_000_000 + (trace % 1_000_000) * 1_000_000_000 + n * 1_000_000;
    Span {
        trace_id: trace_id(trace),
        span_id: span_id(trace, n),
        parent_span_id: if n == 0 { Vec::new() } else { span_id(trace, 0) },
        name: if n == 0 { "agui.run".to_owned() } else { format!("chat offline-tools #{n}") },
        kind: if n == 0 { 2 } else { 3 },
        start_time_unix_nano: start,
        end_time_unix_nano: start + 750_000,
        attributes: vec![
            kv("agui.run_id", text(&format!("run-{trace}"))),
            kv("http.request.method", text("POST")),
            kv("url.full", text("http://127.0.0.1:4000/v1/chat/completions")),
            kv("gen_ai.request.model", text("offline-tools")),
            kv("gen_ai.usage.input_tokens", int(120 + (n as i64 % 7))),
            kv("gen_ai.usage.output_tokens", int(33)),
            kv(
                "gen_ai.input.messages",
                text(&format!(
                    "[{{\"role\":\"system\",\"content\":\"You are a helpful assistant. Use tools when asked.\"}},\
                     {{\"role\":\"user\",\"content\":\"what is {trace} times {n}? answer in one line\"}}]"
                )),
            ),
        ],
        events: vec![span::Event {
            time_unix_nano: start + 100_000,
            name: "gen_ai.content.first_token".to_owned(),
            attributes: vec![kv("gen_ai.response.finish_reason", text("stop"))],
            ..span::Event::default()
        }],
        ..Span::default()
    }
}

/// `traces` traces of `per_trace` realistic spans each, from trace number `first` on, under one
/// resource naming `service`.
pub fn request(service: &str, first: u64, traces: u64, per_trace: u64) -> ExportTraceServiceRequest {
    let spans = (first..first + traces).flat_map(|t| (0..per_trace).map(move |n| realistic_span(t, n))).collect();
    with_resource(service, vec![], spans)
}

pub fn with_resource(service: &str, mut attributes: Vec<KeyValue>, spans: Vec<Span>) -> ExportTraceServiceRequest {
    attributes.insert(0, kv("service.name", text(service)));
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes, ..Resource::default() }),
            scope_spans: vec![ScopeSpans { spans, ..ScopeSpans::default() }],
            ..ResourceSpans::default()
        }],
    }
}

pub fn error_status(message: &str) -> Option<Status> {
    Some(Status { message: message.to_owned(), code: 2 })
}

/// One HTTP/1.1 request with a binary body on a new connection to 127.0.0.1:`port`:
/// (status, body). The `Host` is the receiver's own unless `headers` names one.
pub fn post(port: u16, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut head = format!("POST {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        let _ = write!(head, "Host: 127.0.0.1:{port}\r\n");
    }
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length")) {
        let _ = write!(head, "Content-Length: {}\r\n", body.len());
    }
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("\r\n");
    // The server may answer and close before the body is all sent (a refusal, 413): that is an
    // answer, not a failure of the request.
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body));
    read_answer(&mut stream)
}

/// The status and body of an HTTP/1.1 answer read to the end of the connection.
pub fn read_answer(stream: &mut TcpStream) -> (u16, String) {
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let status = raw.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

pub fn post_protobuf(port: u16, request: &ExportTraceServiceRequest) -> (u16, String) {
    post(port, "/v1/traces", &[("Content-Type", "application/x-protobuf")], &request.encode_to_vec())
}

pub fn post_json(port: u16, request: &ExportTraceServiceRequest) -> (u16, String) {
    let body = serde_json::to_vec(request).unwrap();
    post(port, "/v1/traces", &[("Content-Type", "application/json")], &body)
}

/// One request on the stack's control socket; the answer as JSON.
pub fn ask(stack_dir: &Path, op: &serde_json::Value) -> serde_json::Value {
    let mut request = op.clone();
    request["version"] = 1.into();
    let mut stream = std::os::unix::net::UnixStream::connect(stack_dir.join(".agui-dev/control.sock")).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.write_all(format!("{request}\n").as_bytes()).unwrap();
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer).unwrap();
    serde_json::from_str(&answer).unwrap_or_else(|e| panic!("not JSON ({e}): {answer}"))
}

/// Asks `op` until `done(answer)` holds; panics with the last answer after `WAIT`.
pub fn ask_until(
    stack_dir: &Path,
    op: &serde_json::Value,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = ask(stack_dir, op);
        if done(&answer) {
            return answer;
        }
        assert!(Instant::now() < deadline, "gave up waiting; last answer: {answer}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A process's environment.
pub fn environ(pid: i32) -> std::collections::BTreeMap<String, String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    raw.split(|b| *b == 0)
        .filter_map(|var| String::from_utf8_lossy(var).split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
pub fn memory_kib(pid: i32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}
