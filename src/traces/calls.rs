//! A trace read as people ask about it: which spans are model calls (the GenAI conventions: model,
//! tokens, cost, time to first token, finish reason) and which are tool calls (GenAI
//! `execute_tool`, MCP `tools/call`: name, arguments, result); the spans as a tree; and where the
//! time went. `agui-dev trace`, the MCP `trace` tool and anything else that shows a trace read it
//! here, so they agree.
//!
//! Instrumentations name things differently (LiteLLM's v1 callback, the GenAI conventions, the MCP
//! conventions), so each fact is read from the first of a few names; the names are in the lists
//! below, in the order they are trusted.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use super::model::{Detail, REQUEST_MODEL, Span};

/// GenAI conventions: what a span does (`chat`, `execute_tool`, ...).
pub const OPERATION: &str = "gen_ai.operation.name";
pub const RESPONSE_MODEL: &str = "gen_ai.response.model";
/// A list of strings, or (LiteLLM) that list as JSON text.
pub const FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
/// MCP conventions: the JSON-RPC method of a span (`tools/call`).
pub const MCP_METHOD: &str = "mcp.method.name";
const TOOL_NAME: [&str; 3] = ["gen_ai.tool.name", "mcp.tool.name", "tool.name"];
const TOOL_ARGUMENTS: [&str; 3] = ["gen_ai.tool.call.arguments", "mcp.tool.arguments", "tool.arguments"];
const TOOL_RESULT: [&str; 3] = ["gen_ai.tool.call.result", "mcp.tool.result", "tool.result"];
/// The operations of a model call.
const MODEL_OPERATIONS: [&str; 5] = ["chat", "text_completion", "generate_content", "completion", "embeddings"];

/// What a span is, for the reader.
#[derive(Clone, Debug, PartialEq)]
pub enum Role {
    Model(ModelCall),
    Tool(ToolCall),
    Other,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ModelCall {
    /// The model asked for (the alias the agent names), and the one that answered when it says.
    pub model: Option<String>,
    pub response_model: Option<String>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cost: Option<f64>,
    /// From the span's start to its first token: an event named `*first_token*` or
    /// `*first_chunk*`, else an attribute `*time_to_first_token_ms` (milliseconds) or
    /// `*time_to_first_token` / `*time_to_first_chunk` (seconds, as the conventions measure).
    pub first_token_ms: Option<f64>,
    pub finish_reasons: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ToolCall {
    pub name: String,
    /// As sent: JSON text, or a JSON value written compactly.
    pub arguments: Option<String>,
    pub result: Option<String>,
}

impl Role {
    pub fn of(span: &Span) -> Role {
        let operation = span.text(OPERATION).unwrap_or_default();
        let tool_named = TOOL_NAME.iter().any(|key| span.attributes.contains_key(*key));
        if operation == "execute_tool" || span.text(MCP_METHOD) == Some("tools/call") || tool_named {
            return Role::Tool(tool_call(span));
        }
        if MODEL_OPERATIONS.contains(&operation)
            || span.attributes.contains_key(REQUEST_MODEL)
            || span.tokens().is_some()
        {
            return Role::Model(model_call(span));
        }
        Role::Other
    }
}

fn model_call(span: &Span) -> ModelCall {
    let tokens = span.tokens();
    let finish_reasons = match span.attributes.get(FINISH_REASONS) {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        Some(Value::String(text)) => serde_json::from_str::<Vec<String>>(text).unwrap_or_else(|_| vec![text.clone()]),
        _ => Vec::new(),
    };
    ModelCall {
        model: span.text(REQUEST_MODEL).map(str::to_owned),
        response_model: span.text(RESPONSE_MODEL).map(str::to_owned),
        input_tokens: tokens.map(|t| t.0),
        output_tokens: tokens.map(|t| t.1),
        cost: span.cost(),
        first_token_ms: first_token_ms(span),
        finish_reasons,
    }
}

fn first_token_ms(span: &Span) -> Option<f64> {
    let event = span.events.iter().find(|e| e.name.contains("first_token") || e.name.contains("first_chunk"));
    if let Some(event) = event {
        return Some(event.time_ns.saturating_sub(span.start_ns) as f64 / 1e6);
    }
    span.attributes.keys().find_map(|key| {
        if key.ends_with("time_to_first_token_ms") {
            span.number(key)
        } else if key.ends_with("time_to_first_token") || key.ends_with("time_to_first_chunk") {
            span.number(key).map(|seconds| seconds * 1000.0)
        } else {
            None
        }
    })
}

fn tool_call(span: &Span) -> ToolCall {
    let first = |keys: &[&str]| keys.iter().find_map(|key| span.attributes.get(*key)).map(as_text);
    // An MCP span without the tool's name in an attribute is named `tools/call NAME`.
    let name = first(&TOOL_NAME)
        .or_else(|| span.name.strip_prefix("tools/call ").map(str::to_owned))
        .unwrap_or_else(|| span.name.clone());
    ToolCall { name, arguments: first(&TOOL_ARGUMENTS), result: first(&TOOL_RESULT) }
}

/// A string as it is; any other value as compact JSON.
fn as_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The spans in the order a waterfall shows them, each with its depth: a tree by parent id,
/// children by start; spans whose parent is not in the trace (it has not arrived, or lives in
/// another process's trace) at the top level, by start.
pub fn tree(spans: &[Span]) -> Vec<(usize, usize)> {
    let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let mut children: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (index, span) in spans.iter().enumerate() {
        match span.parent_id.as_deref().filter(|p| ids.contains(p) && *p != span.span_id) {
            Some(parent) => children.entry(parent).or_default().push(index),
            None => roots.push(index),
        }
    }
    let by_start = |list: &mut Vec<usize>| list.sort_by_key(|&i| (spans[i].start_ns, i));
    by_start(&mut roots);
    children.values_mut().for_each(by_start);
    let mut order = Vec::with_capacity(spans.len());
    let mut seen = vec![false; spans.len()];
    // Spans in a cycle of parent ids (a confused sender) are reached from no root: they go last.
    for first in roots.iter().copied().chain(0..spans.len()) {
        let mut stack = vec![(first, 0)];
        while let Some((index, depth)) = stack.pop() {
            if std::mem::replace(&mut seen[index], true) {
                continue;
            }
            order.push((index, depth));
            if let Some(kids) = children.get(spans[index].span_id.as_str()) {
                stack.extend(kids.iter().rev().map(|&k| (k, depth + 1)));
            }
        }
    }
    order
}

/// Where a trace's time went: what a coding agent asks for when a run was slow.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TimeSpent {
    pub total_ms: f64,
    /// Model calls, counted once each (the agent's span and the proxy's below it are one call).
    pub model_calls: usize,
    pub model_ms: f64,
    /// Each model call's time to first token, in order, where it was reported.
    pub first_token_ms: Vec<f64>,
    pub tool_calls: Vec<ToolTime>,
    pub tool_ms: f64,
    /// The spans that took longest on their own (their time minus their children's), longest first.
    pub slowest: Vec<Slow>,
    pub errors: Vec<Failed>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolTime {
    pub name: String,
    pub ms: f64,
    pub error: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Slow {
    pub span_id: String,
    pub service: String,
    pub name: String,
    pub self_ms: f64,
    pub duration_ms: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Failed {
    pub span_id: String,
    pub service: String,
    pub name: String,
    pub message: String,
}

/// How many of the slowest spans `TimeSpent` names.
const SLOWEST: usize = 3;

/// Adds up `detail`: in one pass down the tree and one back up, so a trace of a hundred thousand
/// spans (a flood the store still holds) is read in moments.
pub fn time_spent(detail: &Detail) -> TimeSpent {
    let spans = &detail.spans;
    let roles: Vec<Role> = spans.iter().map(Role::of).collect();
    let order = tree(spans);
    let (parent, children) = links(spans.len(), &order);
    // Down: whether a model call or a tool call is above each span. A call inside a call of the
    // same kind is that call seen from further in (the agent's model-call span and the proxy's
    // below it): it is counted once, as the outer one.
    let (mut model_above, mut tool_above) = (vec![false; spans.len()], vec![false; spans.len()]);
    for &(i, _) in &order {
        if let Some(p) = parent[i] {
            model_above[i] = model_above[p] || matches!(roles[p], Role::Model(_));
            tool_above[i] = tool_above[p] || matches!(roles[p], Role::Tool(_));
        }
    }
    // Up: whether a span below each failed, and the earliest first token below it (Unix ns).
    let (mut failed_below, mut first_below) = (vec![false; spans.len()], vec![None::<u64>; spans.len()]);
    for &(i, _) in order.iter().rev() {
        let own = match &roles[i] {
            Role::Model(call) => call.first_token_ms.map(|ms| spans[i].start_ns.saturating_add((ms * 1e6) as u64)),
            _ => None,
        };
        let mut first = own;
        for &c in &children[i] {
            failed_below[i] |= spans[c].error.is_some() || failed_below[c];
            first = [first, first_below[c]].into_iter().flatten().min();
        }
        first_below[i] = first;
    }
    let mut spent = TimeSpent { total_ms: detail.summary.duration_ms, ..TimeSpent::default() };
    for &(i, _) in &order {
        let span = &spans[i];
        match &roles[i] {
            Role::Model(call) if !model_above[i] => {
                spent.model_calls += 1;
                spent.model_ms += span.duration_ms();
                // Its own first token, else the earliest a span inside it saw.
                let inner = || first_below[i].map(|at| at.saturating_sub(span.start_ns) as f64 / 1e6);
                spent.first_token_ms.extend(call.first_token_ms.or_else(inner));
            }
            Role::Tool(call) if !tool_above[i] => {
                spent.tool_ms += span.duration_ms();
                let error = span.error.is_some() || failed_below[i];
                spent.tool_calls.push(ToolTime { name: call.name.clone(), ms: span.duration_ms(), error });
            }
            _ => {}
        }
        if let Some(message) = &span.error {
            spent.errors.push(Failed {
                span_id: span.span_id.clone(),
                service: span.service.clone(),
                name: span.name.clone(),
                message: message.clone(),
            });
        }
    }
    spent.slowest = slowest(spans, &children);
    spent
}

/// Each span's parent in the tree `order` (the last span seen one level up: the order is
/// depth-first), and each span's children.
fn links(count: usize, order: &[(usize, usize)]) -> (Vec<Option<usize>>, Vec<Vec<usize>>) {
    let mut parent = vec![None; count];
    let mut path: Vec<usize> = Vec::new();
    for &(i, depth) in order {
        path.truncate(depth);
        parent[i] = path.last().copied();
        path.push(i);
    }
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (i, p) in parent.iter().enumerate() {
        if let Some(p) = *p {
            children[p].push(i);
        }
    }
    (parent, children)
}

/// The `SLOWEST` spans by their own time, longest first.
fn slowest(spans: &[Span], children: &[Vec<usize>]) -> Vec<Slow> {
    let mut slow: Vec<Slow> = spans
        .iter()
        .enumerate()
        .map(|(i, span)| Slow {
            span_id: span.span_id.clone(),
            service: span.service.clone(),
            name: span.name.clone(),
            self_ms: self_ms(span, children[i].iter().map(|&c| &spans[c])),
            duration_ms: span.duration_ms(),
        })
        .collect();
    // Stable: of spans alike, the earlier stays first.
    slow.sort_by(|a, b| b.self_ms.total_cmp(&a.self_ms));
    slow.truncate(SLOWEST);
    slow
}

/// A span's own time: its duration less the part of it its children cover.
fn self_ms<'a>(span: &Span, children: impl Iterator<Item = &'a Span>) -> f64 {
    let mut covered: Vec<(u64, u64)> = children
        .map(|c| (c.start_ns.max(span.start_ns), c.end_ns.min(span.end_ns)))
        .filter(|(start, end)| start < end)
        .collect();
    covered.sort_unstable();
    let mut union = 0;
    let mut reach = span.start_ns;
    for (start, end) in covered {
        let start = start.max(reach);
        if end > start {
            union += end - start;
            reach = end;
        }
    }
    span.end_ns.saturating_sub(span.start_ns).saturating_sub(union) as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::traces::model::{self, INPUT_TOKENS, OUTPUT_TOKENS, RUN_ID, SpanEvent};

    fn span(id: &str, parent: Option<&str>, ms: (u64, u64), attributes: Value) -> Span {
        Span {
            trace_id: "t".repeat(32),
            span_id: id.to_owned(),
            parent_id: parent.map(str::to_owned),
            name: id.to_owned(),
            service: "svc".to_owned(),
            kind: "internal".to_owned(),
            start_ns: ms.0 * 1_000_000,
            end_ns: ms.1 * 1_000_000,
            error: None,
            attributes: serde_json::from_value(attributes).unwrap(),
            events: Vec::new(),
        }
    }

    #[test]
    fn model_and_tool_calls_are_read_under_each_naming() {
        let mut litellm = span(
            "l",
            None,
            (0, 100),
            json!({"gen_ai.usage.prompt_tokens": 12, "gen_ai.usage.completion_tokens": "3",
                   "gen_ai.cost.total_cost": 0.5, FINISH_REASONS: "[\"stop\"]", "gen_ai.server.time_to_first_token": 0.25}),
        );
        let Role::Model(call) = Role::of(&litellm) else { panic!("not a model call") };
        assert_eq!((call.input_tokens, call.output_tokens, call.cost), (Some(12), Some(3), Some(0.5)));
        assert_eq!(
            (call.first_token_ms, call.finish_reasons.as_slice()),
            (Some(250.0), ["stop".to_owned()].as_slice())
        );
        litellm.events.push(SpanEvent {
            name: "gen_ai.first_token".into(),
            time_ns: 40_000_000,
            attributes: std::collections::BTreeMap::default(),
        });
        let Role::Model(call) = Role::of(&litellm) else { panic!("not a model call") };
        assert_eq!(call.first_token_ms, Some(40.0), "an event wins over the attribute");

        let mcp = span(
            "tools/call calculate",
            None,
            (0, 1),
            json!({MCP_METHOD: "tools/call", "gen_ai.tool.call.arguments": {"expression": "6*7"}}),
        );
        let tool =
            ToolCall { name: "calculate".into(), arguments: Some(r#"{"expression":"6*7"}"#.into()), result: None };
        assert_eq!(Role::of(&mcp), Role::Tool(tool));
        assert_eq!(Role::of(&span("x", None, (0, 1), json!({"http.method": "POST"}))), Role::Other);
    }

    #[test]
    fn the_tree_puts_orphans_at_the_top_and_children_by_start_and_survives_a_cycle() {
        let spans = vec![
            span("b", Some("a"), (5, 6), json!({})),
            span("a", None, (0, 10), json!({})),
            span("c", Some("a"), (1, 2), json!({})),
            span("orphan", Some("gone"), (3, 4), json!({})),
            span("d", Some("c"), (1, 2), json!({})),
            span("x", Some("y"), (0, 1), json!({})),
            span("y", Some("x"), (0, 1), json!({})),
        ];
        let shown: Vec<(&str, usize)> = tree(&spans).into_iter().map(|(i, d)| (spans[i].span_id.as_str(), d)).collect();
        assert_eq!(shown, [("a", 0), ("c", 1), ("d", 2), ("b", 1), ("orphan", 0), ("x", 0), ("y", 1)]);
    }

    #[test]
    fn time_spent_counts_each_call_once_and_names_the_slowest_on_their_own() {
        let mut spans = vec![
            span("run", None, (0, 1000), json!({RUN_ID: "r1"})),
            span("model", Some("run"), (0, 600), json!({REQUEST_MODEL: "m", INPUT_TOKENS: 5})),
            span(
                "proxy",
                Some("model"),
                (10, 590),
                json!({INPUT_TOKENS: 5, OUTPUT_TOKENS: 2, "gen_ai.response.time_to_first_token_ms": 90}),
            ),
            span("tool", Some("run"), (600, 900), json!({OPERATION: "execute_tool", "gen_ai.tool.name": "calculate"})),
            span("tools/call calculate", Some("tool"), (610, 890), json!({MCP_METHOD: "tools/call"})),
        ];
        spans[4].error = Some("boom".into());
        let detail = Detail { summary: model::summarize(&spans), spans };
        let spent = time_spent(&detail);
        assert_eq!((spent.model_calls, spent.model_ms, spent.tool_ms), (1, 600.0, 300.0));
        assert_eq!(spent.first_token_ms, [100.0], "the proxy's 90ms, 10ms after the agent's call began");
        assert_eq!(spent.tool_calls, [ToolTime { name: "calculate".into(), ms: 300.0, error: true }]);
        let slowest: Vec<(&str, f64)> = spent.slowest.iter().map(|s| (s.name.as_str(), s.self_ms)).collect();
        assert_eq!(slowest, [("proxy", 580.0), ("tools/call calculate", 280.0), ("run", 100.0)]);
        assert_eq!(spent.errors.len(), 1);
        assert_eq!(spent.errors[0].message, "boom");
    }

    #[test]
    fn a_flood_sized_trace_is_added_up() {
        // A chain 100,000 spans deep, then as many siblings: work quadratic in the spans would
        // not finish, and recursion this deep would overflow the stack.
        let mut spans: Vec<Span> = (0..100_000u64)
            .map(|i| span(&i.to_string(), i.checked_sub(1).map(|p| p.to_string()).as_deref(), (i, 200_000), json!({})))
            .collect();
        spans.extend((0..100_000u64).map(|i| span(&format!("s{i}"), Some("0"), (i, i + 1), json!({INPUT_TOKENS: 1}))));
        let detail = Detail { summary: model::summarize(&spans[..10]), spans };
        let spent = time_spent(&detail);
        assert_eq!((spent.model_calls, spent.slowest[0].name.as_str()), (100_000, "99999"));
        assert_eq!(tree(&detail.spans).last().map(|&(_, depth)| depth), Some(1));
    }
}
