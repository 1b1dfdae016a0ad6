//! OTLP/HTTP trace bodies: read (protobuf or JSON, by `Content-Type`), every string redacted in
//! place, written again as protobuf for forwarding, and turned into our `Span`s.
//!
//! Redaction happens on the decoded request, before anything else sees it: the store and the
//! user's own endpoint get the same redacted spans, so a key in a prompt, a tool argument or an
//! environment dump reaches neither.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode};
use prost::Message;
use serde_json::Value;

use super::TraceError;
use super::model::{Span, SpanEvent};
use crate::secret::{self, Secret};

/// How a body is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// From a `Content-Type` header; `None` for anything OTLP/HTTP does not define.
    pub fn of(content_type: &str) -> Option<Encoding> {
        let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
            "application/json" => Some(Encoding::Json),
            _ => None,
        }
    }
}

pub fn decode(body: &[u8], encoding: Encoding) -> Result<ExportTraceServiceRequest, TraceError> {
    match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(body).map_err(TraceError::Protobuf),
        Encoding::Json => serde_json::from_slice(body).map_err(TraceError::Json),
    }
}

pub fn encode(request: &ExportTraceServiceRequest) -> Vec<u8> {
    request.encode_to_vec()
}

/// The number of spans in a request.
pub fn count(request: &ExportTraceServiceRequest) -> usize {
    request.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum()
}

/// Replaces every secret value in every string of `request`: names, attribute keys and values
/// (nested too), events, links, trace states, scopes and status messages. Bytes values are
/// emptied (nothing shows them, and a key in them would still be a key).
pub fn redact(request: &mut ExportTraceServiceRequest, secrets: &[Secret]) {
    if secrets.is_empty() {
        return;
    }
    let text = |value: &mut String| {
        if let std::borrow::Cow::Owned(clean) = secret::redact(value, secrets) {
            *value = clean;
        }
    };
    for resource in &mut request.resource_spans {
        text(&mut resource.schema_url);
        if let Some(resource) = &mut resource.resource {
            redact_all(&mut resource.attributes, &text);
            // Entity references name attribute keys; a sender may put anything there.
            for entity in &mut resource.entity_refs {
                text(&mut entity.schema_url);
                text(&mut entity.r#type);
                entity.id_keys.iter_mut().chain(&mut entity.description_keys).for_each(&text);
            }
        }
        for scope in &mut resource.scope_spans {
            text(&mut scope.schema_url);
            if let Some(scope) = &mut scope.scope {
                text(&mut scope.name);
                text(&mut scope.version);
                redact_all(&mut scope.attributes, &text);
            }
            for span in &mut scope.spans {
                text(&mut span.name);
                text(&mut span.trace_state);
                redact_all(&mut span.attributes, &text);
                for event in &mut span.events {
                    text(&mut event.name);
                    redact_all(&mut event.attributes, &text);
                }
                for link in &mut span.links {
                    text(&mut link.trace_state);
                    redact_all(&mut link.attributes, &text);
                }
                if let Some(status) = &mut span.status {
                    text(&mut status.message);
                }
            }
        }
    }
}

fn redact_all(attributes: &mut [KeyValue], text: &impl Fn(&mut String)) {
    for attribute in attributes {
        text(&mut attribute.key);
        if let Some(value) = &mut attribute.value {
            redact_value(value, text);
        }
    }
}

fn redact_value(value: &mut AnyValue, text: &impl Fn(&mut String)) {
    match &mut value.value {
        Some(any_value::Value::StringValue(s)) => text(s),
        Some(any_value::Value::ArrayValue(array)) => array.values.iter_mut().for_each(|v| redact_value(v, text)),
        Some(any_value::Value::KvlistValue(list)) => redact_all(&mut list.values, text),
        // Bytes are not shown anywhere; a key in them would still be a key.
        Some(any_value::Value::BytesValue(bytes)) => bytes.clear(),
        _ => {}
    }
}

/// Our spans from a (redacted) request. Each takes its `service.name` from its resource.
pub fn spans(request: &ExportTraceServiceRequest) -> Vec<Span> {
    let mut out = Vec::new();
    for resource in &request.resource_spans {
        let attributes = resource.resource.as_ref().map(|r| attributes(&r.attributes)).unwrap_or_default();
        let service = attributes.get("service.name").and_then(Value::as_str).unwrap_or("unknown").to_owned();
        for span in resource.scope_spans.iter().flat_map(|s| &s.spans) {
            let error = span.status.as_ref().filter(|s| s.code == StatusCode::Error as i32).map(|s| s.message.clone());
            out.push(Span {
                trace_id: secret::hex(&span.trace_id),
                span_id: secret::hex(&span.span_id),
                parent_id: (!span.parent_span_id.is_empty()).then(|| secret::hex(&span.parent_span_id)),
                name: span.name.clone(),
                service: service.clone(),
                kind: kind(span.kind).to_owned(),
                start_ns: span.start_time_unix_nano,
                end_ns: span.end_time_unix_nano.max(span.start_time_unix_nano),
                error,
                attributes: attributes_of(&span.attributes),
                events: span
                    .events
                    .iter()
                    .map(|e| SpanEvent {
                        name: e.name.clone(),
                        time_ns: e.time_unix_nano,
                        attributes: attributes_of(&e.attributes),
                    })
                    .collect(),
            });
        }
    }
    out
}

fn attributes_of(list: &[KeyValue]) -> BTreeMap<String, Value> {
    attributes(list).into_iter().collect()
}

fn attributes(list: &[KeyValue]) -> serde_json::Map<String, Value> {
    list.iter().map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(Value::Null, json))).collect()
}

fn json(value: &AnyValue) -> Value {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => Value::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(*b),
        Some(any_value::Value::IntValue(i)) => Value::from(*i),
        Some(any_value::Value::DoubleValue(d)) => serde_json::Number::from_f64(*d).map_or(Value::Null, Value::Number),
        Some(any_value::Value::ArrayValue(a)) => Value::Array(a.values.iter().map(json).collect()),
        Some(any_value::Value::KvlistValue(l)) => Value::Object(attributes(&l.values)),
        Some(any_value::Value::BytesValue(b)) => Value::String(format!("<{} bytes>", b.len())),
        // An index into a profile's string table: traces have none.
        Some(any_value::Value::StringValueStrindex(_)) | None => Value::Null,
    }
}

fn kind(kind: i32) -> &'static str {
    match SpanKind::try_from(kind).unwrap_or(SpanKind::Unspecified) {
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Internal | SpanKind::Unspecified => "internal",
    }
}

/// Lower-case hex, by table: `write!` per byte took about 6 % of the receiver's time under a flood.
#[cfg(test)]
mod tests {
    use super::*;

    /// A request as the Node SDK's JSON exporter writes it: hex ids, times as strings.
    pub const NODE_JSON: &str = r#"{"resourceSpans":[{"resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"agui"}}]},
      "scopeSpans":[{"scope":{"name":"agui-server"},"spans":[{
        "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
        "parentSpanId":"eee19b7ec3c1b173","name":"chat offline-tools","kind":3,
        "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000",
        "attributes":[{"key":"gen_ai.usage.input_tokens","value":{"intValue":"12"}},
          {"key":"gen_ai.input.messages","value":{"stringValue":"use sk-live-0123456789 please"}},
          {"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"sk-live-0123456789"}]}}}],
        "events":[{"timeUnixNano":"1544712660500000000","name":"first token"}],
        "status":{"code":2,"message":"boom"}}]}]}]}"#;

    #[test]
    fn json_and_protobuf_read_the_same_and_secrets_are_gone_from_both_views() {
        let secrets = vec![Secret { name: "OPENAI_API_KEY".to_owned(), value: "sk-live-0123456789".to_owned() }];
        let mut request = decode(NODE_JSON.as_bytes(), Encoding::Json).unwrap();
        redact(&mut request, &secrets);
        let again = decode(&encode(&request), Encoding::Protobuf).unwrap();
        assert_eq!(again, request);
        let spans = spans(&request);
        assert_eq!(spans.len(), 1);
        let span = &spans[0];
        assert_eq!(span.trace_id, "5b8efff798038103d269b633813fc60c");
        assert_eq!(span.parent_id.as_deref(), Some("eee19b7ec3c1b173"));
        assert_eq!((span.service.as_str(), span.kind.as_str()), ("agui", "client"));
        assert_eq!(span.error.as_deref(), Some("boom"));
        assert_eq!(span.number("gen_ai.usage.input_tokens"), Some(12.0));
        assert_eq!((span.start_ns, span.end_ns), (1_544_712_660_000_000_000, 1_544_712_661_000_000_000));
        assert_eq!(span.events[0].name, "first token");
        let text = serde_json::to_string(&spans).unwrap() + &format!("{:?}", encode(&request));
        assert!(!text.contains("sk-live-0123456789"), "{text}");
        assert!(text.contains("[redacted:OPENAI_API_KEY]"), "{text}");
    }

    /// Whatever a body holds, reading it and everything done with what was read ends without a
    /// panic: the receiver runs all of it for every request.
    fn take(body: &[u8], encoding: Encoding) {
        let secrets = vec![Secret { name: "K".to_owned(), value: "sk-live-0123456789".to_owned() }];
        if let Ok(mut request) = decode(body, encoding) {
            redact(&mut request, &secrets);
            let spans = spans(&request);
            let _ = encode(&request);
            let _ = crate::traces::model::summarize(&spans);
            let _: usize = spans.iter().map(Span::weight).sum();
        }
    }

    proptest::proptest! {
        #[test]
        fn any_body_is_read_or_refused_without_a_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1024)) {
            take(&body, Encoding::Protobuf);
            take(&body, Encoding::Json);
        }

        #[test]
        fn a_valid_body_changed_and_cut_is_read_or_refused_without_a_panic(
            flips in proptest::collection::vec((0..10_000usize, proptest::prelude::any::<u8>()), 1..6),
            cut in 0..10_000usize,
        ) {
            let request = decode(NODE_JSON.as_bytes(), Encoding::Json).unwrap();
            for mut body in [encode(&request), NODE_JSON.as_bytes().to_vec()] {
                for (at, byte) in &flips {
                    let at = at % body.len();
                    body[at] = *byte;
                }
                body.truncate(cut % (body.len() + 1));
                take(&body, Encoding::Protobuf);
                take(&body, Encoding::Json);
            }
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for body in [&b"\xff\xfe\x00garbage"[..], b"{\"resourceSpans\": 7}", b"", b"[]"] {
            let _ = decode(body, Encoding::Protobuf);
            let _ = decode(body, Encoding::Json);
        }
        assert!(decode(b"{\"resourceSpans\": 7}", Encoding::Json).is_err());
        assert_eq!(Encoding::of("application/json; charset=utf-8"), Some(Encoding::Json));
        assert_eq!(Encoding::of("text/plain"), None);
    }
}
