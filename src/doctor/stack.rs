//! Doctor's `stack` area: the stack file is found and valid (the same errors as `check`), and the
//! plan builds from it.

use std::fmt::Write as _;

use crate::config::Stack;
use crate::diagnosis::{Area, CheckId, Diagnosis};
use crate::error::{Error, Result};
use crate::plan::Plan;

pub const STACK_FILE: CheckId = CheckId::new(Area::Stack, "stack.file");
pub const STACK_PLAN: CheckId = CheckId::new(Area::Stack, "stack.plan");

/// Every id this file makes.
pub const IDS: &[CheckId] = &[STACK_FILE, STACK_PLAN];

/// The stack file could not be found or read: the error's summary and the fix.
pub fn not_found(found: &mut Diagnosis, error: &Error) {
    found.fail(STACK_FILE, None, error.summary.clone(), error.hint.clone().unwrap_or_default());
}

/// The stack file is invalid: the whole error (with its location and causes) is the finding.
pub fn invalid(found: &mut Diagnosis, error: &Error) {
    let mut message = error.located_summary();
    for cause in &error.causes {
        let _ = write!(message, ": {cause}");
    }
    let fix = error.hint.clone().unwrap_or_else(|| "fix the stack file".to_owned());
    found.fail(STACK_FILE, None, message, fix);
}

pub fn valid(found: &mut Diagnosis, stack: &Stack) {
    let count = stack.services.len();
    let message = format!("`{}` is valid ({count} service{})", stack.source.shown, if count == 1 { "" } else { "s" });
    found.ok(STACK_FILE, None, message);
}

pub fn plan(found: &mut Diagnosis, plan: &Result<Plan>) {
    match plan {
        Ok(plan) => {
            let order = plan.services.iter().map(|s| format!("`{}`", s.name)).collect::<Vec<_>>().join(" -> ");
            found.ok(STACK_PLAN, None, format!("the plan builds: {order}"));
        }
        Err(error) => {
            let fix = error.hint.clone().unwrap_or_else(|| "fix the stack file".to_owned());
            found.fail(STACK_PLAN, None, format!("the plan cannot be built: {}", error.located_summary()), fix);
        }
    }
}
