//! Traces of the stack's services: an OTLP/HTTP receiver `up` runs on loopback (`receiver`), the
//! bounded store it fills (`store`), OTLP read and redacted (`otlp`), and what a trace adds up to
//! (`model`); `calls` reads a trace as people ask about it: model calls, tool calls, where the
//! time went. Every service is pointed at the receiver through the standard `OTEL_*` variables
//! (`plan::Tracing`), so any OpenTelemetry SDK in the stack is traced, and a user's own endpoint
//! keeps getting the same (redacted) spans. docs/traces.md is the user's side of it.

pub mod calls;
pub mod model;
pub mod otlp;
pub mod receiver;
pub mod store;

pub use model::{Detail, Span, Summary, Totals};

use crate::secret;
pub use receiver::Receiver;
pub use store::{Bounds, Store};

/// Where spans are forwarded: the user's own OTLP/HTTP traces endpoint and its headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forward {
    /// The full URL, `/v1/traces` included.
    pub url: String,
    pub headers: Vec<(String, String)>,
}

impl Forward {
    /// The URL as it may be printed: without credentials (`user:pass@`) or a query (`?api-key=`).
    pub fn shown(&self) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("", &self.url));
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        let path = if path.is_empty() { String::new() } else { format!("/{path}") };
        if scheme.is_empty() { format!("{host}{path}") } else { format!("{scheme}://{host}{path}") }
    }

    /// The user's own endpoint as the OpenTelemetry variables name it (`get` reads them as
    /// agui-dev found them): `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as written, else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/traces`; the headers likewise.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Option<Forward> {
        let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let url = set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| {
            set("OTEL_EXPORTER_OTLP_ENDPOINT").map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
        })?;
        let headers = set("OTEL_EXPORTER_OTLP_TRACES_HEADERS").or_else(|| set("OTEL_EXPORTER_OTLP_HEADERS"));
        let headers = headers
            .iter()
            .flat_map(|list| list.split(','))
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, value)| (secret::percent_decode(name.trim()), secret::percent_decode(value.trim())))
            .collect();
        Some(Forward { url: url.trim().to_owned(), headers })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("cannot open the trace receiver's port on 127.0.0.1: {0}")]
    Listen(#[source] std::io::Error),
    #[error("{0}")]
    Protobuf(#[source] prost::DecodeError),
    #[error("{0}")]
    Json(#[source] serde_json::Error),
    /// Forwarding: the user's endpoint answered with an error status.
    #[error("it answered {0}")]
    Answered(reqwest::StatusCode),
    #[error("{0}")]
    Send(#[source] reqwest::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_users_endpoint_and_headers_are_read_as_the_sdks_read_them() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        };
        assert_eq!(Forward::from_env(env(&[])), None);
        let base = Forward::from_env(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318/"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Basic%20abc%3D,x-team = a"),
        ]))
        .unwrap();
        assert_eq!(base.url, "http://127.0.0.1:4318/v1/traces");
        let headers = [("Authorization".to_owned(), "Basic abc=".to_owned()), ("x-team".to_owned(), "a".to_owned())];
        assert_eq!(base.headers, headers);
        let traces = Forward::from_env(env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:9999/api/traces"),
        ]))
        .unwrap();
        assert_eq!((traces.url.as_str(), traces.headers.len()), ("http://b:9999/api/traces", 0));
        let secret = Forward { url: "http://me:pw@collector:4318/v1/traces?api-key=abc".to_owned(), headers: vec![] };
        assert_eq!(secret.shown(), "http://collector:4318/v1/traces");
    }
}
