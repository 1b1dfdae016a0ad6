//! The step rules of `docs/agui-rules.md` (`agui.step-*`, `agui.finish-closes-steps`): a step is
//! started once at a time, finished by the agent that started it, and none is left active when
//! the run finishes, as the 1.0.0 verifier enforces ("Cannot send 'RUN_FINISHED' while steps are
//! still active"). As there, a step is named by its `stepName` *and* the agent it is attributed
//! to (`subagentRunId`, absent for the parent agent): a subagent may run a step of the same name
//! as its parent's at the same time. A broken rule is returned as (rule id, message).

use serde_json::{Map, Value};

/// The steps started and not yet finished in this run, as (subagent, name), in start order.
#[derive(Debug, Default)]
pub struct Steps {
    active: Vec<(Option<String>, String)>,
}

impl Steps {
    /// One `STEP_STARTED` or `STEP_FINISHED` event.
    pub fn feed(&mut self, kind: &str, event: &Map<String, Value>) -> Result<(), (&'static str, String)> {
        let Some(name) = event.get("stepName").and_then(Value::as_str) else {
            return Err(("agui.step-fields", format!("`{kind}` without a string `stepName`")));
        };
        let step = (event.get("subagentRunId").and_then(Value::as_str).map(str::to_owned), name.to_owned());
        match (kind, self.active.iter().position(|active| *active == step)) {
            ("STEP_STARTED", None) => self.active.push(step),
            ("STEP_STARTED", Some(_)) => {
                return Err((
                    "agui.step-start-unique",
                    format!("step `{name}`{} is already active", of(step.0.as_deref())),
                ));
            }
            (_, Some(at)) => drop(self.active.remove(at)),
            (_, None) => {
                let elsewhere = self.active.iter().find(|(_, active)| active == name);
                let why = match elsewhere {
                    Some((owner, _)) => format!(
                        "which is active for {}: a step is finished by the agent that started it",
                        owner.as_ref().map_or_else(|| "the parent agent".to_owned(), |s| format!("subagent `{s}`"))
                    ),
                    None => "which is not active".to_owned(),
                };
                return Err((
                    "agui.step-finished-open",
                    format!("`STEP_FINISHED` for step `{name}`{}, {why}", of(step.0.as_deref())),
                ));
            }
        }
        Ok(())
    }

    /// `agui.finish-closes-steps`, at `RUN_FINISHED`.
    pub fn all_finished(&self) -> Result<(), (&'static str, String)> {
        match self.active.first() {
            Some((owner, name)) => Err((
                "agui.finish-closes-steps",
                format!(
                    "the run finished with step `{name}`{} still active (no `STEP_FINISHED`)",
                    of(owner.as_deref())
                ),
            )),
            None => Ok(()),
        }
    }
}

/// " of subagent `s`" for a step attributed to a subagent; nothing for the parent agent's.
fn of(owner: Option<&str>) -> String {
    owner.map(|s| format!(" of subagent `{s}`")).unwrap_or_default()
}
