//! A span as agui-dev keeps it (decoded from OTLP, redacted), and what a trace adds up to: the
//! row of the console's Traces panel and of `agui-dev trace`, and the totals `status` shows.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The attribute the AG-UI template puts on its run span: a trace that has it is an AG-UI run.
pub const RUN_ID: &str = "agui.run_id";
pub const THREAD_ID: &str = "agui.thread_id";
/// GenAI semantic conventions: the model asked for and the tokens used.
pub const REQUEST_MODEL: &str = "gen_ai.request.model";
pub const INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
pub const OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// Older names some instrumentations (LiteLLM's v1 callback among them) still write.
const INPUT_TOKENS_OLD: &str = "gen_ai.usage.prompt_tokens";
const OUTPUT_TOKENS_OLD: &str = "gen_ai.usage.completion_tokens";
/// Cost has no semantic convention yet; these are the names the instrumentations we run write, in
/// the order they are trusted (`gen_ai.cost.total_cost`: LiteLLM's `otel` callback;
/// `litellm.cost.total`: the same with `LITELLM_OTEL_V2=true`).
/// The largest token count or cost one span may add: far above any real call, and far below
/// where sums could overflow a `u64` or lose all precision.
const MAX_NUMBER: f64 = 1e12;
pub const COST: [&str; 4] = ["gen_ai.usage.cost", "gen_ai.cost.total_cost", "litellm.cost.total", "llm.cost"];

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Span {
    /// Hex, as every OpenTelemetry tool shows it.
    pub trace_id: String,
    pub span_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    pub name: String,
    /// `service.name` of the process that sent it (our `OTEL_SERVICE_NAME`: the service's name).
    pub service: String,
    /// `server`, `client`, `internal`, `producer` or `consumer`.
    pub kind: String,
    /// Unix nanoseconds.
    pub start_ns: u64,
    pub end_ns: u64,
    /// The status message of a span that ended in error (`Some("")` when it gave none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<SpanEvent>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SpanEvent {
    pub name: String,
    pub time_ns: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Value>,
}

impl Span {
    pub fn duration_ms(&self) -> f64 {
        self.end_ns.saturating_sub(self.start_ns) as f64 / 1e6
    }

    pub fn text(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).and_then(Value::as_str)
    }

    /// A numeric attribute, also when an SDK sent it as a string; only a finite one, at least 0
    /// and at most `MAX_NUMBER` (anyone on the machine can send a span: `NaN`, `inf` or 1e300 must
    /// not turn the totals into something JSON cannot carry).
    pub fn number(&self, key: &str) -> Option<f64> {
        let number = match self.attributes.get(key)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }?;
        (number.is_finite() && number >= 0.0).then_some(number.min(MAX_NUMBER))
    }

    /// The (input, output) tokens the span reports, under either naming; `None` when it reports none.
    pub fn tokens(&self) -> Option<(u64, u64)> {
        let input = self.number(INPUT_TOKENS).or_else(|| self.number(INPUT_TOKENS_OLD));
        let output = self.number(OUTPUT_TOKENS).or_else(|| self.number(OUTPUT_TOKENS_OLD));
        if input.is_none() && output.is_none() {
            return None;
        }
        Some((input.unwrap_or(0.0) as u64, output.unwrap_or(0.0) as u64))
    }

    /// The cost the span reports, under the first of `COST`'s names it carries.
    pub fn cost(&self) -> Option<f64> {
        COST.iter().find_map(|key| self.number(key))
    }

    /// The bytes of memory it holds, as the allocator spends them: the bound of the store counts
    /// this. Measured against the process's RSS (bench/RESULTS.md, section 13), it is within a few percent
    /// for spans as the SDKs send them; counting only the bytes of the strings would be about
    /// half of what the heap spends.
    pub fn weight(&self) -> usize {
        let text = |s: &String| allocation(s.capacity());
        let optional = |s: &Option<String>| s.as_ref().map_or(0, text);
        // The Vec a trace keeps its spans in grows by doubling: half a slot spare on average.
        std::mem::size_of::<Span>() * 3 / 2
            + text(&self.trace_id)
            + text(&self.span_id)
            + optional(&self.parent_id)
            + text(&self.name)
            + text(&self.service)
            + text(&self.kind)
            + optional(&self.error)
            + map_weight(self.attributes.iter())
            + allocation(self.events.capacity() * std::mem::size_of::<SpanEvent>())
            + self.events.iter().map(|e| text(&e.name) + map_weight(e.attributes.iter())).sum::<usize>()
    }
}

/// What one heap allocation of `bytes` takes: glibc's malloc adds an 8-byte header, rounds up to
/// 16 and hands out at least 32.
fn allocation(bytes: usize) -> usize {
    if bytes == 0 { 0 } else { (bytes + 8).next_multiple_of(16).max(32) }
}

/// A map's entries (a `BTreeMap`, as `serde_json::Map` is too): nodes of room for 11 keys and
/// values each, a small map taking one whole node, a larger one about two-thirds full; plus what
/// keys and values hold on the heap.
fn map_weight<'a>(entries: impl ExactSizeIterator<Item = (&'a String, &'a Value)>) -> usize {
    const NODE: usize = 11 * (std::mem::size_of::<String>() + std::mem::size_of::<Value>()) + 16;
    let nodes = match entries.len() {
        0 => 0,
        1..=11 => 1,
        n => n.div_ceil(7) + n.div_ceil(7 * 7),
    };
    nodes * allocation(NODE)
        + entries.map(|(key, value)| allocation(key.capacity()) + value_weight(value)).sum::<usize>()
}

/// What a value holds on the heap beyond its own slot.
fn value_weight(value: &Value) -> usize {
    match value {
        Value::String(s) => allocation(s.capacity()),
        Value::Array(items) => {
            allocation(items.capacity() * std::mem::size_of::<Value>()) + items.iter().map(value_weight).sum::<usize>()
        }
        Value::Object(map) => map_weight(map.iter()),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

/// One trace in a list: what the Traces panel shows in a row.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub trace_id: String,
    /// The AG-UI run it is, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// The root span's name (the first span when the root has not arrived).
    pub name: String,
    /// The services that sent spans, in the order they appear.
    pub services: Vec<String>,
    pub start_ns: u64,
    pub duration_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost: f64,
    /// Spans that carry model usage (`gen_ai.usage.*`), counted once per call (see `summarize`).
    pub model_calls: usize,
    pub spans: usize,
    pub error: bool,
}

/// One trace whole: its row and every span, sorted by start.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Detail {
    pub summary: Summary,
    pub spans: Vec<Span>,
}

/// What the receiver has seen since `up` started; `status` shows the first four.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Totals {
    /// AG-UI runs traced.
    pub runs: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost: f64,
    pub traces: u64,
    pub spans: u64,
    /// Traces let go to stay within `[traces]`'s bounds (the oldest first).
    pub evicted_traces: u64,
    /// Spans refused: a trace bigger than the whole bound, a body that could not be read.
    pub dropped_spans: u64,
    /// Batches that could not be forwarded to the user's own OTLP endpoint.
    pub forward_failures: u64,
}

/// Adds up the spans of one trace. Tokens and cost are counted on the innermost span that
/// reports them: the AG-UI server's model-call span and LiteLLM's span below it describe the same
/// call, so only the deepest counts (and the AG-UI span counts when the proxy is not traced).
pub fn summarize(spans: &[Span]) -> Summary {
    let Some(first) = spans.iter().min_by_key(|s| s.start_ns) else {
        return Summary::default();
    };
    let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let root = spans
        .iter()
        .filter(|s| s.parent_id.as_deref().is_none_or(|p| !ids.contains(p)))
        .min_by_key(|s| s.start_ns)
        .unwrap_or(first);
    let start = first.start_ns;
    let end = spans.iter().map(|s| s.end_ns).max().unwrap_or(start);
    let mut services: Vec<String> = Vec::new();
    for span in spans {
        if !services.contains(&span.service) {
            services.push(span.service.clone());
        }
    }
    let reporting: HashSet<&str> = spans.iter().filter(|s| s.tokens().is_some()).map(|s| s.span_id.as_str()).collect();
    // A reporting span with a reporting descendant is the same call seen from outside. Each
    // ancestor is walked once: a walk that reaches a span an earlier walk passed has nothing left
    // to mark (which also ends a cycle of ids from a confused sender), so a trace of any depth
    // costs one pass.
    let mut outer: HashSet<&str> = HashSet::new();
    let mut passed: HashSet<&str> = HashSet::new();
    let by_id: BTreeMap<&str, &Span> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    for span in spans.iter().filter(|s| reporting.contains(s.span_id.as_str())) {
        let mut parent = span.parent_id.as_deref();
        while let Some(id) = parent {
            if !passed.insert(id) {
                break;
            }
            if reporting.contains(id) {
                outer.insert(id);
            }
            parent = by_id.get(id).and_then(|p| p.parent_id.as_deref());
        }
    }
    let mut summary = Summary {
        trace_id: first.trace_id.clone(),
        run_id: spans.iter().find_map(|s| s.text(RUN_ID)).map(str::to_owned),
        thread_id: spans.iter().find_map(|s| s.text(THREAD_ID)).map(str::to_owned),
        name: root.name.clone(),
        services,
        start_ns: start,
        duration_ms: end.saturating_sub(start) as f64 / 1e6,
        // The outermost model request names the model as the agent asked for it (the alias).
        model: spans
            .iter()
            .filter(|s| s.attributes.contains_key(REQUEST_MODEL))
            .min_by_key(|s| s.start_ns)
            .and_then(|s| s.text(REQUEST_MODEL))
            .map(str::to_owned),
        spans: spans.len(),
        error: spans.iter().any(|s| s.error.is_some()),
        ..Summary::default()
    };
    for span in spans.iter().filter(|s| reporting.contains(s.span_id.as_str()) && !outer.contains(s.span_id.as_str())) {
        let (input, output) = span.tokens().unwrap_or_default();
        summary.input_tokens = summary.input_tokens.saturating_add(input);
        summary.output_tokens = summary.output_tokens.saturating_add(output);
        summary.cost += span.cost().unwrap_or(0.0);
        summary.model_calls += 1;
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn span(id: &str, parent: Option<&str>, service: &str, start: u64, attributes: &[(&str, Value)]) -> Span {
        Span {
            trace_id: "t".repeat(32),
            span_id: id.to_owned(),
            parent_id: parent.map(str::to_owned),
            name: format!("span {id}"),
            service: service.to_owned(),
            kind: "internal".to_owned(),
            start_ns: start,
            end_ns: start + 1_000_000,
            error: None,
            attributes: attributes.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
            events: Vec::new(),
        }
    }

    #[test]
    fn tokens_are_counted_once_per_call_on_the_innermost_span() {
        let spans = vec![
            span("run", None, "agui", 0, &[(RUN_ID, "r1".into())]),
            // The agent's model call and LiteLLM's span below it: one call.
            span("m1", Some("run"), "agui", 1, &[(INPUT_TOKENS, 10.into()), (REQUEST_MODEL, "offline-tools".into())]),
            span("l1", Some("m1"), "litellm", 2, &[(INPUT_TOKENS, 12.into()), (OUTPUT_TOKENS, 3.into())]),
            // A second call the proxy did not trace: the agent's span counts.
            span("m2", Some("run"), "agui", 5, &[(INPUT_TOKENS, "20".into()), (OUTPUT_TOKENS, 4.into())]),
            span("tool", Some("run"), "mcp", 4, &[]),
        ];
        let summary = summarize(&spans);
        assert_eq!((summary.input_tokens, summary.output_tokens, summary.model_calls), (32, 7, 2));
        assert_eq!(summary.run_id.as_deref(), Some("r1"));
        assert_eq!(summary.name, "span run");
        assert_eq!(summary.model.as_deref(), Some("offline-tools"));
        assert_eq!(summary.services, ["agui", "litellm", "mcp"]);
        assert!((summary.duration_ms - 1.000_005).abs() < 1e-9, "{}", summary.duration_ms);
    }

    #[test]
    fn numbers_json_cannot_carry_are_not_counted_and_a_deep_trace_is_added_up_in_one_pass() {
        let odd = [("NaN", None), ("inf", None), ("-3", None), ("1e300", Some(1e12)), (" 7 ", Some(7.0))];
        for (text, expected) in odd {
            let span = span("a", None, "agui", 0, &[(COST[0], text.into())]);
            assert_eq!(span.number(COST[0]), expected, "{text}");
        }
        // A chain of 100,000 spans, each reporting tokens: only the deepest counts.
        let mut spans = vec![span("0", None, "agui", 0, &[(INPUT_TOKENS, 1.into())])];
        for i in 1..100_000u64 {
            let (id, parent) = (i.to_string(), (i - 1).to_string());
            spans.push(span(&id, Some(&parent), "agui", i, &[(INPUT_TOKENS, 1.into()), (COST[0], 1e300.into())]));
        }
        let summary = summarize(&spans);
        assert_eq!((summary.input_tokens, summary.model_calls), (1, 1));
        assert!(serde_json::to_string(&summary).is_ok_and(|json| !json.contains("null")));
    }

    #[test]
    fn the_console_reads_cost_under_the_same_names() {
        let page = include_str!("../console/page/traces.js");
        let line = page.lines().find(|l| l.starts_with("const COST_KEYS")).unwrap();
        let names: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
        assert_eq!(names, COST);
    }

    #[test]
    fn a_root_that_has_not_arrived_leaves_the_earliest_orphan_as_the_name() {
        let spans = vec![span("b", Some("gone"), "mcp", 7, &[]), span("a", Some("gone"), "litellm", 3, &[])];
        assert_eq!(summarize(&spans).name, "span a");
        assert_eq!(summarize(&[]), Summary::default());
    }
}
