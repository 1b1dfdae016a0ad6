//! The `OTEL_*` variables that point a service at the trace receiver `up` runs. They are the
//! standard ones every OpenTelemetry SDK reads, so any service with an SDK is traced, not only
//! the templates; a variable the service's own `env` sets still wins (`environment`).

/// Where the services send their spans: the receiver's `http://127.0.0.1:PORT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracing {
    pub endpoint: String,
}

/// The user's own exporter variables, taken out of a traced service's environment: agui-dev
/// forwards to the endpoint they name (`traces::Forward`), so a service must not send there itself
/// with the user's credentials; and a trace-specific protocol (gRPC) or compression (gzip) set for
/// a hosted collector would win over ours in every SDK, and the receiver takes neither.
pub const USERS: [&str; 6] = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
];

/// How long an SDK's batch processor waits before it sends: 200 ms instead of the standard 5 s,
/// so a run shows in the console while the developer still looks at it.
const SCHEDULE_DELAY_MS: &str = "200";

/// The variables for service `service` of stack `stack`, run `run_id`. `inherited` is what the
/// service would get without them: a user's `OTEL_RESOURCE_ATTRIBUTES` is kept after ours, and
/// their `OTEL_BSP_SCHEDULE_DELAY` wins.
pub fn variables(
    tracing: &Tracing,
    service: &str,
    stack: &str,
    run_id: &str,
    inherited: impl Fn(&str) -> Option<String>,
) -> Vec<(&'static str, String)> {
    let mut attributes = format!("service.namespace={},agui_dev.run={run_id}", encode(stack));
    if let Some(theirs) = inherited("OTEL_RESOURCE_ATTRIBUTES").filter(|a| !a.trim().is_empty()) {
        attributes = format!("{attributes},{theirs}");
    }
    let mut variables = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", tracing.endpoint.clone()),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", format!("{}/v1/traces", tracing.endpoint)),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
        ("OTEL_SERVICE_NAME", service.to_owned()),
        ("OTEL_RESOURCE_ATTRIBUTES", attributes),
    ];
    if inherited("OTEL_BSP_SCHEDULE_DELAY").is_none() {
        variables.push(("OTEL_BSP_SCHEDULE_DELAY", SCHEDULE_DELAY_MS.to_owned()));
    }
    variables
}

/// A resource attribute value as the OpenTelemetry spec writes it: percent-encoded but for
/// letters, digits and `-._~`.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_is_named_and_pointed_at_the_receiver_keeping_the_users_attributes() {
        let tracing = Tracing { endpoint: "http://127.0.0.1:4318".to_owned() };
        let theirs = |name: &str| (name == "OTEL_RESOURCE_ATTRIBUTES").then(|| "team=agents".to_owned());
        let variables = variables(&tracing, "agui", "my stack", "ab12", theirs);
        let get = |name: &str| variables.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str());
        assert_eq!(get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), Some("http://127.0.0.1:4318/v1/traces"));
        assert_eq!(get("OTEL_SERVICE_NAME"), Some("agui"));
        assert_eq!(get("OTEL_RESOURCE_ATTRIBUTES"), Some("service.namespace=my%20stack,agui_dev.run=ab12,team=agents"));
        assert_eq!(get("OTEL_BSP_SCHEDULE_DELAY"), Some("200"));
        let delay_set = |name: &str| (name == "OTEL_BSP_SCHEDULE_DELAY").then(|| "5000".to_owned());
        assert!(
            super::variables(&tracing, "agui", "s", "r", delay_set)
                .iter()
                .all(|(k, _)| *k != "OTEL_BSP_SCHEDULE_DELAY")
        );
    }
}
