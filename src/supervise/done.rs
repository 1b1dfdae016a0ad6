//! The end of a start: saying once that everything is ready and where to reach it, and, for a
//! run of tasks only, ending the run when the last one has completed (as `docker compose up` ends
//! once its containers have exited), so `up migrate` is a command that finishes.

use super::state::State;
use super::{Outcome, Supervisor};
use crate::output::Level;
use crate::output::short;

impl Supervisor {
    /// Ends the run by itself once nothing runs and nothing is left to start: every service
    /// (of those not removed) is a task that completed. For `up`; `smoke` goes on to its checks.
    /// Not while a task `watch`es files, since a change runs it again.
    pub fn end_when_done(&mut self, end: bool) {
        self.end_when_done = end;
    }

    /// How the run ended by itself, when it did: every task completed.
    pub(super) fn finished(&self) -> Option<Outcome> {
        let completed = self.slots.iter().filter(|s| !s.removed).all(|s| matches!(s.state, State::Completed));
        (self.end_when_done && completed).then_some(Outcome::Finished)
    }

    /// Once every service is ready (or, a task, completed), says so once.
    pub(super) async fn announce_all_ready(&mut self) {
        let wanted = || self.slots.iter().filter(|s| s.state.is_wanted() && !s.removed);
        if !wanted().all(|s| s.state.phase().satisfies()) || *self.all_ready.borrow() {
            return;
        }
        self.all_ready.send_replace(true);
        let tasks_only = wanted().all(|s| matches!(s.state, State::Completed));
        let finished = self.finished().is_some();
        let text = ready_text(wanted().count(), tasks_only, &short(self.started.elapsed()), finished);
        self.out.status(Level::Success, text).await;
        if finished {
            return;
        }
        // Where to reach them, the way dev servers print theirs.
        for service in self.plan.services.iter().filter(|s| s.url.is_some()) {
            let url = service.url.as_deref().unwrap_or_default();
            self.out.status(Level::Info, format!("  `{}`  {url}", service.name)).await;
        }
    }
}

/// `the service is ready in 1.2s — Ctrl-C stops everything`, `all 3 services are ready in …`, or
/// for tasks only `all 2 tasks completed in 3s; nothing is left running` when the run ends.
fn ready_text(count: usize, tasks_only: bool, took: &str, finished: bool) -> String {
    let what = match (count, tasks_only) {
        (1, false) => "the service is ready".to_owned(),
        (n, false) => format!("all {n} services are ready"),
        (1, true) => "the task completed".to_owned(),
        (n, true) => format!("all {n} tasks completed"),
    };
    let then = if finished { "; nothing is left running" } else { " — Ctrl-C stops everything" };
    format!("{what} in {took}{then}")
}

#[cfg(test)]
mod tests {
    use super::ready_text;

    #[test]
    fn one_service_is_the_service_and_tasks_say_they_completed() {
        assert_eq!(ready_text(1, false, "1.2s", false), "the service is ready in 1.2s — Ctrl-C stops everything");
        assert_eq!(ready_text(3, false, "2s", false), "all 3 services are ready in 2s — Ctrl-C stops everything");
        assert_eq!(ready_text(1, true, "40ms", true), "the task completed in 40ms; nothing is left running");
        assert_eq!(ready_text(2, true, "3s", true), "all 2 tasks completed in 3s; nothing is left running");
        assert_eq!(ready_text(2, true, "3s", false), "all 2 tasks completed in 3s — Ctrl-C stops everything");
    }
}
