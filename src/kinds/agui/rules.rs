//! The AG-UI 1.0 stream rules of `docs/agui-rules.md`, each under its id (the ids are the
//! contract: smoke reports them, the fixtures in `tests/fixtures/agui-streams/` are named by
//! them, and a test keeps this table and the document in line).
//!
//! `check` reads the raw frames of one stream (the `data:` payloads of an SSE body, or the lines
//! of a `.jsonl` capture) and stops at the first event that breaks a rule, so a report names one
//! rule and one event index. `Validator` is the same rules fed one frame at a time, for a stream
//! still arriving (`chat`, the AG-UI client). `Validator::feed` sends each event to the rules of
//! its family: the run's lifecycle, text messages and tool calls here, steps (`steps`) and
//! subagents (`subagents`) in their own files.
//!
//! Two rules are warnings, not failures, because the official 1.0.0 client accepts what they
//! note: `agui.text-delta-nonempty` (AG-UI 1.0 allows an empty delta; its own chunk transformer
//! sends one) and `agui.no-thinking-events` (the client converts the deprecated `THINKING_*`
//! events to `REASONING_*`).

use serde_json::{Map, Value};

use super::events::Malformed;
use super::steps::Steps;
use super::subagents::Subagents;

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
    ("agui.no-thinking-events", "no `THINKING_*` event (deprecated in 1.0 for `REASONING_*`; a warning)"),
    ("agui.finished-outcome", "`RUN_FINISHED.outcome` is success, interrupt (with interrupts) or cancelled"),
    ("agui.finished-usage", "`RUN_FINISHED.usage` is an array of token-usage entries"),
    ("agui.subagent-start-fields", "`SUBAGENT_STARTED` has a string `subagentRunId` and `name`"),
    ("agui.subagent-start-unique", "no `SUBAGENT_STARTED` for a subagent that is already active"),
    ("agui.subagent-id-not-reused", "no `SUBAGENT_STARTED` for a subagent that already ended in the same run"),
    ("agui.subagent-parent-started", "`parentSubagentRunId` names a subagent started earlier in the same run"),
    (
        "agui.subagent-end-fields",
        "`SUBAGENT_FINISHED`/`SUBAGENT_ERROR` have a `subagentRunId`; `SUBAGENT_ERROR` a `message`",
    ),
    ("agui.subagent-end-open", "`SUBAGENT_FINISHED`/`SUBAGENT_ERROR` only for an active subagent"),
    ("agui.subagent-finished-outcome", "`SUBAGENT_FINISHED.outcome` is success or suspended (`interruptIds` strings)"),
    ("agui.finish-closes-subagents", "every subagent is finished or errored before `RUN_FINISHED`"),
    ("agui.step-fields", "`STEP_STARTED`/`STEP_FINISHED` have a string `stepName`"),
    ("agui.step-start-unique", "no `STEP_STARTED` for a step that is already active"),
    ("agui.step-finished-open", "`STEP_FINISHED` only for a step active for the same agent"),
    ("agui.finish-closes-steps", "every step is finished before `RUN_FINISHED`"),
    ("agui.smoke-no-run-error", "the smoke run does not end in `RUN_ERROR`"),
    ("agui.smoke-assistant-text", "the smoke run produced assistant text"),
];

/// Fields whose value is free JSON and may be `null` itself (a state, a custom value, a raw
/// event): the 1.0.0 schema accepts `null` there. Other fields of free JSON (`result`, `rawEvent`,
/// `input`) may hold `null` inside but are omitted rather than `null` (`z.any().refine(v => v !==
/// null)` in `@ag-ui/core` 1.0.0). Only top-level fields are checked.
const FREE_FIELDS: &[&str] = &["snapshot", "value", "event"];

/// The deprecated `THINKING_*` types and the `REASONING_*` type the 1.0.0 client converts each to
/// (`CompatibilityBoundary` in `@ag-ui/client` 1.0.0).
const THINKING: &[(&str, &str)] = &[
    ("THINKING_START", "REASONING_START"),
    ("THINKING_TEXT_MESSAGE_START", "REASONING_MESSAGE_START"),
    ("THINKING_TEXT_MESSAGE_CONTENT", "REASONING_MESSAGE_CONTENT"),
    ("THINKING_TEXT_MESSAGE_END", "REASONING_MESSAGE_END"),
    ("THINKING_END", "REASONING_END"),
];

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

#[derive(Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
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
    let mut validator = Validator::default();
    let mut broken = frames.iter().find_map(|frame| validator.feed(frame).err());
    if broken.is_none() {
        broken = validator.end().err();
    }
    if broken.is_none() && smoke {
        broken = validator.end_smoke().err();
    }
    let mut checked = validator.checked;
    checked.broken = broken;
    checked
}

/// The rules applied one event at a time, as a stream arrives (`chat` shows a violation at the
/// event that made it, not after the run). Feed every frame, then call `end` when the stream
/// closes; after the first broken rule the validator's verdict is that finding.
#[derive(Debug, Default)]
pub struct Validator {
    state: State,
    run: (String, String),
    run_ids: Vec<String>,
    open_messages: Vec<String>,
    open_calls: Vec<String>,
    steps: Steps,
    subagents: Subagents,
    /// The `THINKING_*` types warned about so far: one warning per type and stream, not one per
    /// token of a streamed thought.
    thinking_warned: Vec<String>,
    last_error: Option<(usize, String)>,
    /// Frames fed so far (the index of the next one).
    fed: usize,
    /// Totals so far; `broken` stays `None` here (the caller keeps the finding).
    pub checked: Checked,
}

/// A broken rule before it is placed at an event: (rule id, message).
type Broken = (&'static str, String);

impl Validator {
    /// Checks the next frame; returns the event as a JSON object when it keeps every rule. A
    /// warning is added to `checked.warnings` and is not an error.
    pub fn feed(&mut self, frame: &str) -> Result<Map<String, Value>, Finding> {
        let index = self.fed;
        self.fed += 1;
        let at = |(rule, message): Broken| Finding { rule, index, message };
        let event = parse(frame).map_err(at)?;
        self.checked.events = index + 1;
        let kind = event_type(&event).map_err(at)?;
        self.order(index, kind).map_err(at)?;
        self.judge(index, kind, &event).map_err(at)?;
        Ok(event)
    }

    /// Where an event may come in the life of the runs: first `RUN_STARTED`, nothing after
    /// `RUN_ERROR`, only a new run after `RUN_FINISHED`.
    fn order(&self, index: usize, kind: &str) -> Result<(), Broken> {
        match self.state {
            State::Errored => Err(("agui.nothing-after-error", format!("`{kind}` follows `RUN_ERROR`"))),
            State::NoRun if index == 0 && kind != "RUN_STARTED" => {
                Err(("agui.first-run-started", format!("the stream starts with `{kind}`")))
            }
            State::Finished if kind != "RUN_STARTED" => Err((
                "agui.nothing-after-finished",
                format!("`{kind}` follows `RUN_FINISHED`; only a new `RUN_STARTED` may"),
            )),
            _ => Ok(()),
        }
    }

    /// The rules of the event's family.
    fn judge(&mut self, index: usize, kind: &str, event: &Map<String, Value>) -> Result<(), Broken> {
        match kind {
            "RUN_STARTED" => self.run_started(event),
            "RUN_FINISHED" => self.run_finished(event),
            "RUN_ERROR" => {
                self.last_error = Some((index, text(event, "message")));
                self.state = State::Errored;
                Ok(())
            }
            "TEXT_MESSAGE_START" | "TEXT_MESSAGE_CONTENT" | "TEXT_MESSAGE_END" => self.message(kind, event),
            "TOOL_CALL_START" | "TOOL_CALL_ARGS" | "TOOL_CALL_END" => self.tool_call(kind, event),
            "STEP_STARTED" | "STEP_FINISHED" => self.steps.feed(kind, event),
            "SUBAGENT_STARTED" | "SUBAGENT_FINISHED" | "SUBAGENT_ERROR" => self.subagents.feed(kind, event),
            _ if kind.starts_with("THINKING_") => {
                self.thinking(kind);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn run_started(&mut self, event: &Map<String, Value>) -> Result<(), Broken> {
        if self.state == State::Active {
            return Err((
                "agui.run-started-while-active",
                format!("`RUN_STARTED` while run `{}` is still active", self.run.1),
            ));
        }
        self.run = (text(event, "threadId"), text(event, "runId"));
        if self.run_ids.contains(&self.run.1) {
            return Err(("agui.new-run-id", format!("run id `{}` was used before in this stream", self.run.1)));
        }
        self.run_ids.push(self.run.1.clone());
        // Steps and subagents are per run, as in the 1.0.0 verifier.
        self.steps = Steps::default();
        self.subagents = Subagents::default();
        self.checked.runs += 1;
        self.state = State::Active;
        Ok(())
    }

    /// What a run must have closed before it finishes (in the 1.0.0 verifier's order: steps,
    /// messages, tool calls, subagents), then what `RUN_FINISHED` itself carries.
    fn run_finished(&mut self, event: &Map<String, Value>) -> Result<(), Broken> {
        self.steps.all_finished()?;
        if let Some(id) = self.open_messages.first() {
            return Err(("agui.finish-closes-text", format!("the run finished with message `{id}` still open")));
        }
        if let Some(id) = self.open_calls.first() {
            return Err(("agui.finish-closes-tools", format!("the run finished with tool call `{id}` still open")));
        }
        self.subagents.all_ended()?;
        let ids = (text(event, "threadId"), text(event, "runId"));
        if ids != self.run {
            return Err((
                "agui.run-ids-match",
                format!(
                    "`RUN_FINISHED` names thread `{}` run `{}`, but the run started as thread `{}` run `{}`",
                    ids.0, ids.1, self.run.0, self.run.1
                ),
            ));
        }
        if let Some(outcome) = event.get("outcome") {
            check_outcome(outcome).map_err(|why| ("agui.finished-outcome", why.to_string()))?;
        }
        if let Some(usage) = event.get("usage") {
            check_usage(usage).map_err(|why| ("agui.finished-usage", why.to_string()))?;
        }
        self.state = State::Finished;
        Ok(())
    }

    /// `TEXT_MESSAGE_START`, `_CONTENT` and `_END`.
    fn message(&mut self, kind: &str, event: &Map<String, Value>) -> Result<(), Broken> {
        let id = text(event, "messageId");
        let open = self.open_messages.iter().position(|m| *m == id);
        match (kind, open) {
            ("TEXT_MESSAGE_START", _) if id.is_empty() => {
                return Err(("agui.text-start-fields", "`TEXT_MESSAGE_START` without a `messageId`".to_owned()));
            }
            ("TEXT_MESSAGE_START", Some(_)) => {
                return Err(("agui.text-start-unique", format!("message `{id}` is already open")));
            }
            ("TEXT_MESSAGE_START", None) => self.open_messages.push(id),
            ("TEXT_MESSAGE_CONTENT", None) => {
                return Err(("agui.text-content-open", format!("content for message `{id}`, which is not open")));
            }
            ("TEXT_MESSAGE_CONTENT", Some(_)) => {
                let delta = text(event, "delta");
                if delta.is_empty() {
                    self.warn(
                        "agui.text-delta-nonempty",
                        format!("an empty `delta` for message `{id}` (allowed by AG-UI 1.0; older clients reject it)"),
                    );
                }
                self.checked.text.push_str(&delta);
            }
            (_, None) => return Err(("agui.text-end-open", format!("end of message `{id}`, which is not open"))),
            (_, Some(at)) => drop(self.open_messages.remove(at)),
        }
        Ok(())
    }

    /// `TOOL_CALL_START`, `_ARGS` and `_END`.
    fn tool_call(&mut self, kind: &str, event: &Map<String, Value>) -> Result<(), Broken> {
        let id = text(event, "toolCallId");
        let open = self.open_calls.iter().position(|c| *c == id);
        match (kind, open) {
            ("TOOL_CALL_START", _) if id.is_empty() || text(event, "toolCallName").is_empty() => {
                return Err((
                    "agui.tool-start-fields",
                    "`TOOL_CALL_START` needs `toolCallId` and `toolCallName`".to_owned(),
                ));
            }
            ("TOOL_CALL_START", Some(_)) => {
                return Err(("agui.tool-start-unique", format!("tool call `{id}` is already open")));
            }
            ("TOOL_CALL_START", None) => self.open_calls.push(id),
            ("TOOL_CALL_ARGS", None) => {
                return Err(("agui.tool-args-open", format!("arguments for tool call `{id}`, which is not open")));
            }
            ("TOOL_CALL_ARGS", Some(_)) => {}
            (_, None) => return Err(("agui.tool-end-open", format!("end of tool call `{id}`, which is not open"))),
            (_, Some(at)) => drop(self.open_calls.remove(at)),
        }
        Ok(())
    }

    /// `THINKING_*` left the protocol in 1.0, but the 1.0.0 client still converts its five types
    /// to their `REASONING_*` equivalents with a deprecation notice (and drops any other): a
    /// stream that sends them works today, so this is a warning that names the replacement.
    fn thinking(&mut self, kind: &str) {
        if self.thinking_warned.iter().any(|k| k == kind) {
            return;
        }
        self.thinking_warned.push(kind.to_owned());
        let message = match THINKING.iter().find(|(old, _)| *old == kind) {
            Some((_, new)) => format!(
                "`{kind}` is deprecated since AG-UI 1.0: send `{new}` (the 1.0.0 client converts it, with a deprecation notice)"
            ),
            None => {
                format!("`{kind}` is not an AG-UI 1.0 event (reasoning is `REASONING_*`); the 1.0.0 client drops it")
            }
        };
        self.warn("agui.no-thinking-events", message);
    }

    /// A warning at the event just fed.
    fn warn(&mut self, rule: &'static str, message: String) {
        self.checked.warnings.push(Finding { rule, index: self.fed.saturating_sub(1), message });
    }

    /// The rules that only the end of the stream can break (findings name the last event).
    pub fn end(&self) -> Result<(), Finding> {
        let at_end = |rule: &'static str, message: String| Finding { rule, index: self.fed.saturating_sub(1), message };
        if self.fed == 0 {
            return Err(at_end("agui.stream-not-empty", "the stream carried no events".to_owned()));
        }
        if self.state == State::Active {
            return Err(at_end(
                "agui.stream-ends-run",
                "the stream ended with a run still active (no `RUN_FINISHED` or `RUN_ERROR`)".to_owned(),
            ));
        }
        Ok(())
    }

    /// The two smoke rules, after `end` passed.
    pub fn end_smoke(&self) -> Result<(), Finding> {
        if let Some((index, message)) = &self.last_error {
            return Err(Finding {
                rule: "agui.smoke-no-run-error",
                index: *index,
                message: format!("the run failed: {message}"),
            });
        }
        if self.checked.text.trim().is_empty() {
            return Err(Finding {
                rule: "agui.smoke-assistant-text",
                index: self.fed.saturating_sub(1),
                message: "the run carried no assistant text".to_owned(),
            });
        }
        Ok(())
    }
}

/// The frame as one JSON object (`agui.sse-json`).
fn parse(frame: &str) -> Result<Map<String, Value>, Broken> {
    match serde_json::from_str(frame) {
        Ok(Value::Object(event)) => Ok(event),
        Ok(_) => Err(("agui.sse-json", format!("not a JSON object: {}", super::clip(frame)))),
        Err(err) => Err(("agui.sse-json", format!("not JSON ({err}): {}", super::clip(frame)))),
    }
}

/// The event's `type` (`agui.event-type`), once no optional field is `null` (`agui.no-null-optional`).
fn event_type(event: &Map<String, Value>) -> Result<&str, Broken> {
    let Some(kind) = event.get("type").and_then(Value::as_str) else {
        return Err(("agui.event-type", "the event has no string `type`".to_owned()));
    };
    if let Some((field, _)) = event.iter().find(|(k, v)| v.is_null() && !FREE_FIELDS.contains(&k.as_str())) {
        return Err((
            "agui.no-null-optional",
            format!("`{kind}.{field}` is `null`: an optional field is omitted, never `null`"),
        ));
    }
    Ok(kind)
}

/// A string field, or "" when it is missing or not a string.
fn text(event: &Map<String, Value>, name: &str) -> String {
    event.get(name).and_then(Value::as_str).unwrap_or("").to_owned()
}

/// `{type:"success"}` (optional `pendingToolCallIds`), `{type:"interrupt", interrupts:[…≥1]}` or
/// `{type:"cancelled"}`.
fn check_outcome(outcome: &Value) -> Result<(), Malformed> {
    let object = outcome.as_object().ok_or_else(|| Malformed(format!("`outcome` is not an object: {outcome}")))?;
    match object.get("type").and_then(Value::as_str) {
        Some("success") => match object.get("pendingToolCallIds") {
            None => Ok(()),
            Some(Value::Array(ids)) if ids.iter().all(Value::is_string) => Ok(()),
            Some(other) => Err(Malformed(format!("`outcome.pendingToolCallIds` is not a list of ids: {other}"))),
        },
        Some("interrupt") => match object.get("interrupts").and_then(Value::as_array) {
            Some(list) if !list.is_empty() => Ok(()),
            _ => Err(Malformed("an `interrupt` outcome needs a non-empty `interrupts` list".to_owned())),
        },
        Some("cancelled") => Ok(()),
        other => Err(Malformed(format!(
            "`outcome.type` is {}, not `success`, `interrupt` or `cancelled`",
            other.map_or_else(|| "missing".to_owned(), |t| format!("`{t}`"))
        ))),
    }
}

/// A list of objects whose token counts (`…Tokens`) are non-negative integers.
fn check_usage(usage: &Value) -> Result<(), Malformed> {
    let entries = usage.as_array().ok_or_else(|| Malformed(format!("`usage` is not a list of entries: {usage}")))?;
    for (at, entry) in entries.iter().enumerate() {
        let entry: &Map<String, Value> =
            entry.as_object().ok_or_else(|| Malformed(format!("`usage[{at}]` is not an object")))?;
        for (name, value) in entry.iter().filter(|(name, _)| name.ends_with("Tokens")) {
            if value.as_u64().is_none() {
                return Err(Malformed(format!("`usage[{at}].{name}` is {value}, not a non-negative integer")));
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
        // The rules' table, not the table of fixtures in "Known differences".
        let rules = doc.split("\n## Known differences").next().unwrap_or_default();
        let documented: Vec<&str> =
            rules.lines().filter_map(|l| l.strip_prefix("| `agui.")).filter_map(|l| l.split('`').next()).collect();
        let ours: Vec<String> = RULES.iter().map(|(id, _)| id.trim_start_matches("agui.").to_owned()).collect();
        assert_eq!(documented, ours);
    }

    /// What `@ag-ui/core` 1.0.0's `EventSchema` accepts and rejects (checked with its `safeParse`).
    #[test]
    fn null_is_data_in_a_state_or_custom_value_and_an_omission_elsewhere() {
        let first_rule = |event: &str| {
            let mut validator = Validator::default();
            validator.feed(event).err().map(|finding| finding.rule)
        };
        for rejected in [
            r#"{"type":"RUN_FINISHED","threadId":"t","runId":"r","result":null}"#,
            r#"{"type":"SUBAGENT_FINISHED","subagentRunId":"s","result":null}"#,
            r#"{"type":"RUN_STARTED","threadId":"t","runId":"r","rawEvent":null}"#,
            r#"{"type":"RUN_STARTED","threadId":"t","runId":"r","input":null}"#,
        ] {
            assert_eq!(first_rule(rejected), Some("agui.no-null-optional"), "{rejected}");
        }
        for accepted in [
            r#"{"type":"STATE_SNAPSHOT","snapshot":null}"#,
            r#"{"type":"CUSTOM","name":"x","value":null}"#,
            r#"{"type":"RAW","event":null}"#,
        ] {
            assert_ne!(first_rule(accepted), Some("agui.no-null-optional"), "{accepted}");
        }
    }
}
