//! The subagent rules of `docs/agui-rules.md` (`agui.subagent-*`, `agui.finish-closes-subagents`):
//! what the 1.0.0 verifier enforces about `SUBAGENT_STARTED`, `SUBAGENT_FINISHED` and
//! `SUBAGENT_ERROR`. A broken rule is returned as (rule id, message); `rules::Validator` adds the
//! event's index.

use serde_json::{Map, Value};

use super::events::Malformed;

/// Subagent invocations started and not yet ended in this run, and those that ended in it. Both
/// are per run: the 1.0.0 verifier forgets them at `RUN_STARTED`, and a suspended subagent may be
/// continued (started again under its id) by a later run.
#[derive(Debug, Default)]
pub struct Subagents {
    active: Vec<String>,
    ended: Vec<String>,
}

impl Subagents {
    /// One `SUBAGENT_*` event.
    pub fn feed(&mut self, kind: &str, event: &Map<String, Value>) -> Result<(), (&'static str, String)> {
        if kind == "SUBAGENT_STARTED" { self.start(event) } else { self.end(kind, event) }
    }

    /// `agui.finish-closes-subagents`, at `RUN_FINISHED`.
    pub fn all_ended(&self) -> Result<(), (&'static str, String)> {
        match self.active.first() {
            Some(id) => Err((
                "agui.finish-closes-subagents",
                format!(
                    "the run finished with subagent `{id}` still active (no `SUBAGENT_FINISHED` or `SUBAGENT_ERROR`)"
                ),
            )),
            None => Ok(()),
        }
    }

    fn start(&mut self, event: &Map<String, Value>) -> Result<(), (&'static str, String)> {
        let string = |name: &str| event.get(name).and_then(Value::as_str);
        let (Some(id), Some(_)) = (string("subagentRunId"), string("name")) else {
            return Err((
                "agui.subagent-start-fields",
                "`SUBAGENT_STARTED` needs a string `subagentRunId` and a string `name`".to_owned(),
            ));
        };
        if self.active.iter().any(|s| s == id) {
            return Err(("agui.subagent-start-unique", format!("subagent `{id}` is already active")));
        }
        if self.ended.iter().any(|s| s == id) {
            return Err((
                "agui.subagent-id-not-reused",
                format!("subagent `{id}` already ended in this run; a `subagentRunId` names one invocation"),
            ));
        }
        if let Some(parent) = event.get("parentSubagentRunId") {
            let known = parent.as_str().is_some_and(|p| self.active.iter().chain(&self.ended).any(|s| s == p));
            if !known {
                return Err((
                    "agui.subagent-parent-started",
                    format!("`parentSubagentRunId` {parent} names no subagent started in this run"),
                ));
            }
        }
        self.active.push(id.to_owned());
        Ok(())
    }

    /// `SUBAGENT_FINISHED` or `SUBAGENT_ERROR`.
    fn end(&mut self, kind: &str, event: &Map<String, Value>) -> Result<(), (&'static str, String)> {
        let Some(id) = event.get("subagentRunId").and_then(Value::as_str) else {
            return Err(("agui.subagent-end-fields", format!("`{kind}` without a string `subagentRunId`")));
        };
        if kind == "SUBAGENT_ERROR" && !event.get("message").is_some_and(Value::is_string) {
            return Err((
                "agui.subagent-end-fields",
                format!("`SUBAGENT_ERROR` for subagent `{id}` without a string `message`"),
            ));
        }
        let Some(at) = self.active.iter().position(|s| s == id) else {
            let why = if self.ended.iter().any(|s| s == id) {
                "which already ended"
            } else {
                "which was not started in this run"
            };
            return Err(("agui.subagent-end-open", format!("`{kind}` for subagent `{id}`, {why}")));
        };
        if let Some(outcome) = event.get("outcome") {
            check_outcome(outcome).map_err(|why| ("agui.subagent-finished-outcome", why.to_string()))?;
        }
        let id = self.active.remove(at);
        self.ended.push(id);
        Ok(())
    }
}

/// `{type:"success"}` or `{type:"suspended"}` with optional `interruptIds` (strings). Not the run's
/// outcomes: a subagent is never `interrupt` or `cancelled` (the 1.0.0 verifier names the two).
fn check_outcome(outcome: &Value) -> Result<(), Malformed> {
    let object = outcome.as_object().ok_or_else(|| Malformed(format!("`outcome` is not an object: {outcome}")))?;
    match object.get("type").and_then(Value::as_str) {
        Some("success") => Ok(()),
        Some("suspended") => match object.get("interruptIds") {
            None => Ok(()),
            Some(Value::Array(ids)) if ids.iter().all(Value::is_string) => Ok(()),
            Some(other) => Err(Malformed(format!("`outcome.interruptIds` is not a list of interrupt ids: {other}"))),
        },
        other => Err(Malformed(format!(
            "a subagent's `outcome.type` is {}, not `success` or `suspended`",
            other.map_or_else(|| "missing".to_owned(), |t| format!("`{t}`"))
        ))),
    }
}
