//! The AG-UI 1.0 stream rules of `docs/agui-rules.md`, each under its id (the ids are the
//! contract: smoke reports them, the fixtures in `tests/fixtures/agui-streams/` are named by
//! them, and a test keeps this table and the document in line).
//!
//! `check` reads the raw frames of one stream (the `data:` payloads of an SSE body, or the lines
//! of a `.jsonl` capture) and stops at the first event that breaks a rule, so a report names one
//! rule and one event index. `agui.text-delta-nonempty` is a warning, not a failure: AG-UI 1.0
//! allows an empty delta (its own chunk transformer sends one; docs/protocol-facts.md).

use serde_json::{Map, Value};

/// Every rule: id and what it asks, in the order of `docs/agui-rules.md`.
pub const RULES: &[(&str, &str)] = &[
    ("agui.sse-json", "every `data:` frame is one JSON object"),
    ("agui.event-type", "every event has a string `type`"),
    ("agui.stream-not-empty", "the stream carries at least one event"),
    ("agui.first-run-started", "the first event is `RUN_STARTED`"),
    ("agui.run-started-while-active", "`RUN_STARTED` only when no run is active"),
    ("agui.nothing-after-finished", "after `RUN_FINISHED` only a new `RUN_STARTED` may follow"),
    ("agui.nothing-after-error", "nothing at all follows `RUN_ERROR`"),
    ("agui.new-run-id", "a run that follows another has a `runId` not used before in the stream"),
    ("agui.run-ids-match", "`RUN_FINISHED` carries the `threadId` and `runId` of its `RUN_STARTED`"),
    ("agui.text-start-fields", "`TEXT_MESSAGE_START` has a `messageId`"),
    ("agui.text-start-unique", "no `TEXT_MESSAGE_START` for a message id that is already open"),
    ("agui.text-content-open", "`TEXT_MESSAGE_CONTENT` only for an open message"),
    ("agui.text-delta-nonempty", "`TEXT_MESSAGE_CONTENT.delta` is not empty (a warning)"),
    ("agui.text-end-open", "`TEXT_MESSAGE_END` only for an open message"),
    ("agui.tool-start-fields", "`TOOL_CALL_START` has `toolCallId` and `toolCallName`"),
    ("agui.tool-start-unique", "no `TOOL_CALL_START` for a tool call id that is already open"),
    ("agui.tool-args-open", "`TOOL_CALL_ARGS` only for an open tool call"),
    ("agui.tool-end-open", "`TOOL_CALL_END` only for an open tool call"),
    ("agui.finish-closes-text", "every text message is ended before `RUN_FINISHED`"),
    ("agui.finish-closes-tools", "every tool call is ended before `RUN_FINISHED`"),
    ("agui.stream-ends-run", "the stream ends with the last run ended"),
    ("agui.no-null-optional", "an optional field is omitted, never `null`"),
    ("agui.no-thinking-events", "no `THINKING_*` event (removed in 1.0)"),
    ("agui.finished-outcome", "`RUN_FINISHED.outcome` is success, interrupt (with interrupts) or cancelled"),
    ("agui.finished-usage", "`RUN_FINISHED.usage` is an array of token-usage entries"),
    ("agui.smoke-no-run-error", "the smoke run does not end in `RUN_ERROR`"),
    ("agui.smoke-assistant-text", "the smoke run produced assistant text"),
];

/// Fields whose value is free JSON (state, custom values, raw events, a run's result), where a
/// `null` inside or as the value is data, not an omitted optional field.
const FREE_FIELDS: &[&str] = &["snapshot", "value", "event", "rawEvent", "result", "input"];

/// One broken rule (or, for a warning, one rule noted) at one event (0-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub index: usize,
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rule `{}` broken at event {}: {}", self.rule, self.index, self.message)
    }
}

/// What one stream came to.
#[derive(Debug, Default)]
pub struct Checked {
    pub events: usize,
    pub runs: usize,
    /// The assistant text of every run, in order.
    pub text: String,
    pub warnings: Vec<Finding>,
    /// The first broken rule; `None` when the stream passes.
    pub broken: Option<Finding>,
}

#[derive(PartialEq, Eq)]
enum State {
    NoRun,
    Active,
    Finished,
    Errored,
}

/// Checks a stream against the protocol rules, frame by frame.
pub fn check(frames: &[String]) -> Checked {
    run(frames, false)
}

/// `check`, then the two rules of a smoke run (`agui.smoke-*`): no `RUN_ERROR`, some assistant
/// text. These are not protocol rules: a valid stream can break them.
pub fn check_smoke(frames: &[String]) -> Checked {
    run(frames, true)
}

fn run(frames: &[String], smoke: bool) -> Checked {
    let mut checked = Checked::default();
    if let Err(finding) = walk(frames, smoke, &mut checked) {
        checked.broken = Some(finding);
    }
    checked
}

fn walk(frames: &[String], smoke: bool, out: &mut Checked) -> Result<(), Finding> {
    let mut state = State::NoRun;
    let mut run: (String, String) = (String::new(), String::new());
    let mut run_ids: Vec<String> = Vec::new();
    let mut open_messages: Vec<String> = Vec::new();
    let mut open_calls: Vec<String> = Vec::new();
    let mut last_error: Option<(usize, String)> = None;
    for (index, frame) in frames.iter().enumerate() {
        let broken = |rule: &'static str, message: String| Finding { rule, index, message };
        let event: Value = serde_json::from_str(frame)
            .map_err(|err| broken("agui.sse-json", format!("not JSON ({err}): {}", super::clip(frame))))?;
        let Some(event) = event.as_object() else {
            return Err(broken("agui.sse-json", format!("not a JSON object: {}", super::clip(frame))));
        };
        out.events = index + 1;
        let Some(kind) = event.get("type").and_then(Value::as_str) else {
            return Err(broken("agui.event-type", "the event has no string `type`".to_owned()));
        };
        if let Some((field, _)) = event.iter().find(|(k, v)| v.is_null() && !FREE_FIELDS.contains(&k.as_str())) {
            return Err(broken(
                "agui.no-null-optional",
                format!("`{kind}.{field}` is `null`: an optional field is omitted, never `null`"),
            ));
        }
        if kind.starts_with("THINKING_") {
            return Err(broken(
                "agui.no-thinking-events",
                format!("`{kind}` was removed in AG-UI 1.0 (reasoning is `REASONING_*`)"),
            ));
        }
        let text = |name: &str| event.get(name).and_then(Value::as_str).unwrap_or("").to_owned();
        match state {
            State::Errored => {
                return Err(broken("agui.nothing-after-error", format!("`{kind}` follows `RUN_ERROR`")));
            }
            State::NoRun if index == 0 && kind != "RUN_STARTED" => {
                return Err(broken("agui.first-run-started", format!("the stream starts with `{kind}`")));
            }
            State::Finished if kind != "RUN_STARTED" => {
                return Err(broken(
                    "agui.nothing-after-finished",
                    format!("`{kind}` follows `RUN_FINISHED`; only a new `RUN_STARTED` may"),
                ));
            }
            _ => {}
        }
        match kind {
            "RUN_STARTED" => {
                if state == State::Active {
                    return Err(broken(
                        "agui.run-started-while-active",
                        format!("`RUN_STARTED` while run `{}` is still active", run.1),
                    ));
                }
                run = (text("threadId"), text("runId"));
                if run_ids.contains(&run.1) {
                    return Err(broken(
                        "agui.new-run-id",
                        format!("run id `{}` was used before in this stream", run.1),
                    ));
                }
                run_ids.push(run.1.clone());
                out.runs += 1;
                state = State::Active;
            }
            "TEXT_MESSAGE_START" => {
                let id = text("messageId");
                if id.is_empty() {
                    return Err(broken(
                        "agui.text-start-fields",
                        "`TEXT_MESSAGE_START` without a `messageId`".to_owned(),
                    ));
                }
                if open_messages.contains(&id) {
                    return Err(broken("agui.text-start-unique", format!("message `{id}` is already open")));
                }
                open_messages.push(id);
            }
            "TEXT_MESSAGE_CONTENT" => {
                let id = text("messageId");
                if !open_messages.contains(&id) {
                    return Err(broken(
                        "agui.text-content-open",
                        format!("content for message `{id}`, which is not open"),
                    ));
                }
                let delta = text("delta");
                if delta.is_empty() {
                    out.warnings.push(broken(
                        "agui.text-delta-nonempty",
                        format!("an empty `delta` for message `{id}` (allowed by AG-UI 1.0; older clients reject it)"),
                    ));
                }
                out.text.push_str(&delta);
            }
            "TEXT_MESSAGE_END" => {
                let id = text("messageId");
                let at = open_messages.iter().position(|m| *m == id);
                let at = at
                    .ok_or_else(|| broken("agui.text-end-open", format!("end of message `{id}`, which is not open")))?;
                open_messages.remove(at);
            }
            "TOOL_CALL_START" => {
                let id = text("toolCallId");
                if id.is_empty() || text("toolCallName").is_empty() {
                    return Err(broken(
                        "agui.tool-start-fields",
                        "`TOOL_CALL_START` needs `toolCallId` and `toolCallName`".to_owned(),
                    ));
                }
                if open_calls.contains(&id) {
                    return Err(broken("agui.tool-start-unique", format!("tool call `{id}` is already open")));
                }
                open_calls.push(id);
            }
            "TOOL_CALL_ARGS" => {
                let id = text("toolCallId");
                if !open_calls.contains(&id) {
                    return Err(broken(
                        "agui.tool-args-open",
                        format!("arguments for tool call `{id}`, which is not open"),
                    ));
                }
            }
            "TOOL_CALL_END" => {
                let id = text("toolCallId");
                let at = open_calls.iter().position(|c| *c == id);
                let at = at.ok_or_else(|| {
                    broken("agui.tool-end-open", format!("end of tool call `{id}`, which is not open"))
                })?;
                open_calls.remove(at);
            }
            "RUN_ERROR" => {
                last_error = Some((index, text("message")));
                state = State::Errored;
            }
            "RUN_FINISHED" => {
                if let Some(id) = open_messages.first() {
                    return Err(broken(
                        "agui.finish-closes-text",
                        format!("the run finished with message `{id}` still open"),
                    ));
                }
                if let Some(id) = open_calls.first() {
                    return Err(broken(
                        "agui.finish-closes-tools",
                        format!("the run finished with tool call `{id}` still open"),
                    ));
                }
                let ids = (text("threadId"), text("runId"));
                if ids != run {
                    return Err(broken(
                        "agui.run-ids-match",
                        format!(
                            "`RUN_FINISHED` names thread `{}` run `{}`, but the run started as thread `{}` run `{}`",
                            ids.0, ids.1, run.0, run.1
                        ),
                    ));
                }
                if let Some(outcome) = event.get("outcome") {
                    check_outcome(outcome).map_err(|why| broken("agui.finished-outcome", why))?;
                }
                if let Some(usage) = event.get("usage") {
                    check_usage(usage).map_err(|why| broken("agui.finished-usage", why))?;
                }
                state = State::Finished;
            }
            _ => {}
        }
    }
    let end = frames.len().saturating_sub(1);
    let at_end = |rule: &'static str, message: String| Finding { rule, index: end, message };
    if frames.is_empty() {
        return Err(at_end("agui.stream-not-empty", "the stream carried no events".to_owned()));
    }
    if state == State::Active {
        return Err(at_end(
            "agui.stream-ends-run",
            "the stream ended with a run still active (no `RUN_FINISHED` or `RUN_ERROR`)".to_owned(),
        ));
    }
    if !smoke {
        return Ok(());
    }
    if let Some((index, message)) = last_error {
        return Err(Finding { rule: "agui.smoke-no-run-error", index, message: format!("the run failed: {message}") });
    }
    if out.text.trim().is_empty() {
        return Err(at_end("agui.smoke-assistant-text", "the run carried no assistant text".to_owned()));
    }
    Ok(())
}

/// `{type:"success"}` (optional `pendingToolCallIds`), `{type:"interrupt", interrupts:[…≥1]}` or
/// `{type:"cancelled"}`.
fn check_outcome(outcome: &Value) -> Result<(), String> {
    let object = outcome.as_object().ok_or_else(|| format!("`outcome` is not an object: {outcome}"))?;
    match object.get("type").and_then(Value::as_str) {
        Some("success") => match object.get("pendingToolCallIds") {
            None => Ok(()),
            Some(Value::Array(ids)) if ids.iter().all(Value::is_string) => Ok(()),
            Some(other) => Err(format!("`outcome.pendingToolCallIds` is not a list of ids: {other}")),
        },
        Some("interrupt") => match object.get("interrupts").and_then(Value::as_array) {
            Some(list) if !list.is_empty() => Ok(()),
            _ => Err("an `interrupt` outcome needs a non-empty `interrupts` list".to_owned()),
        },
        Some("cancelled") => Ok(()),
        other => Err(format!(
            "`outcome.type` is {}, not `success`, `interrupt` or `cancelled`",
            other.map_or_else(|| "missing".to_owned(), |t| format!("`{t}`"))
        )),
    }
}

/// A list of objects whose token counts (`…Tokens`) are non-negative integers.
fn check_usage(usage: &Value) -> Result<(), String> {
    let entries = usage.as_array().ok_or_else(|| format!("`usage` is not a list of entries: {usage}"))?;
    for (at, entry) in entries.iter().enumerate() {
        let entry: &Map<String, Value> = entry.as_object().ok_or_else(|| format!("`usage[{at}]` is not an object"))?;
        for (name, value) in entry.iter().filter(|(name, _)| name.ends_with("Tokens")) {
            if value.as_u64().is_none() {
                return Err(format!("`usage[{at}].{name}` is {value}, not a non-negative integer"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_id_is_in_the_document_and_back() {
        let doc = include_str!("../../../docs/agui-rules.md");
        let documented: Vec<&str> =
            doc.lines().filter_map(|l| l.strip_prefix("| `agui.")).filter_map(|l| l.split('`').next()).collect();
        let ours: Vec<String> = RULES.iter().map(|(id, _)| id.trim_start_matches("agui.").to_owned()).collect();
        assert_eq!(documented, ours);
    }
}
