//! What changed between the plan a stack runs and a fresh one (the stack file or an env file was
//! edited): which services' resolved definitions differ, which were added or removed, and the
//! NAMES of the variables whose values changed (never the values: they may be secrets).

use crate::plan::{Plan, RUN_VAR, ServicePlan};

/// A service in both plans whose definition differs, with the variables that changed.
#[derive(Debug, PartialEq, Eq)]
pub struct Changed {
    pub name: String,
    /// Variables added, removed or with another value, by name, sorted.
    pub variables: Vec<String>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct PlanChange {
    pub changed: Vec<Changed>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// Compares every service of `old` with the one of the same name in `new`.
pub fn between(old: &Plan, new: &Plan) -> PlanChange {
    let mut change = PlanChange::default();
    for service in &old.services {
        match new.services.iter().find(|s| s.name == service.name) {
            None => change.removed.push(service.name.clone()),
            Some(fresh) => {
                if !same_definition(service, fresh) {
                    let variables = changed_variables(service, fresh);
                    change.changed.push(Changed { name: service.name.clone(), variables });
                }
            }
        }
    }
    for service in &new.services {
        if !old.services.iter().any(|s| s.name == service.name) {
            change.added.push(service.name.clone());
        }
    }
    change
}

/// Whether two resolved definitions would run the same process the same way.
pub fn same_definition(a: &ServicePlan, b: &ServicePlan) -> bool {
    let probe = |s: &ServicePlan| s.ready.as_ref().map(ToString::to_string);
    a.kind == b.kind
        && a.task == b.task
        && a.command == b.command
        && a.cwd == b.cwd
        && changed_variables(a, b).is_empty()
        && a.port == b.port
        && probe(a) == probe(b)
        && a.ready_timeout == b.ready_timeout
        && a.depends_on == b.depends_on
        && a.restart == b.restart
        && a.max_restarts == b.max_restarts
        && a.stop_signal == b.stop_signal
        && a.stop_grace == b.stop_grace
}

/// The names of the variables that differ between two definitions; the run marker, which is
/// new with every plan, is not a change.
pub fn changed_variables(a: &ServicePlan, b: &ServicePlan) -> Vec<String> {
    let mut names: Vec<String> = a
        .env
        .iter()
        .filter(|(k, v)| b.env.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .chain(b.env.keys().filter(|k| !a.env.contains_key(*k)).cloned())
        .filter(|k| k != RUN_VAR)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Restart;
    use crate::supervise::tests::{plan, service};

    fn with_env(name: &str, vars: &[(&str, &str)]) -> ServicePlan {
        let mut s = service(name, &[], Restart::No, 0);
        s.env = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        s
    }

    #[test]
    fn an_equal_plan_changes_nothing_whatever_its_run_marker() {
        let old = plan(vec![with_env("a", &[("X", "1"), (RUN_VAR, "r1")])]);
        let new = plan(vec![with_env("a", &[("X", "1"), (RUN_VAR, "r2")])]);
        assert_eq!(between(&old, &new), PlanChange::default());
    }

    #[test]
    fn names_changed_variables_and_never_values() {
        let old = plan(vec![with_env("a", &[("KEY", "old-secret"), ("GONE", "1")]), with_env("b", &[])]);
        let new = plan(vec![with_env("a", &[("KEY", "new-secret"), ("NEW", "2")]), with_env("c", &[])]);
        let change = between(&old, &new);
        assert_eq!(
            change.changed,
            [Changed { name: "a".into(), variables: vec!["GONE".into(), "KEY".into(), "NEW".into()] }]
        );
        assert_eq!(change.added, ["c"]);
        assert_eq!(change.removed, ["b"]);
        assert!(!format!("{change:?}").contains("secret"));
    }

    #[test]
    fn other_fields_count_as_changes_without_variables() {
        let old = plan(vec![service("a", &[], Restart::No, 0)]);
        let mut moved = service("a", &[], Restart::No, 0);
        moved.port = Some(4001);
        let change = between(&old, &plan(vec![moved]));
        assert_eq!(change.changed, [Changed { name: "a".into(), variables: Vec::new() }]);
        let mut other = service("a", &[], Restart::OnFailure, 0);
        other.command = vec!["other".into()];
        assert_eq!(between(&old, &plan(vec![other])).changed.len(), 1);
    }
}
