//! A service's state, with the data each state has (a running service holds its pid and its
//! output readers; one that is starting also its probe), and the supervisor's decisions as small
//! pure functions: whether and when to restart, which services may start, in which waves to stop.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::process::Running;
use crate::config::Restart;
use crate::control::Phase;
use crate::system::reaper::ExitStatus;

pub enum State {
    /// Waiting for its dependencies.
    Pending,
    /// Started; its ready probe runs (`probe` is `None` for a service without one).
    Starting {
        running: Running,
        probe: Option<JoinHandle<()>>,
        since: Instant,
    },
    Ready {
        running: Running,
    },
    /// Exited and waiting for its restart back-off.
    BackingOff,
    Exited,
    /// Stopped on request (`agui-dev stop`); it stays stopped and fails nothing.
    Stopped,
    /// Started on request after the stack was up, and did not become ready; the rest keeps
    /// running. Holds what went wrong, for the request's answer and `status`.
    Failed {
        error: String,
    },
    /// A one-shot task that exited 0 (reserved for `task = true`); satisfies its dependents.
    Completed,
}

impl State {
    /// The process group of a started service (its leader's pid).
    pub fn pgid(&self) -> Option<i32> {
        match self {
            State::Starting { running, .. } | State::Ready { running } => Some(running.pid),
            _ => None,
        }
    }

    pub fn phase(&self) -> Phase {
        match self {
            State::Pending => Phase::Pending,
            State::Starting { .. } => Phase::Starting,
            State::Ready { .. } => Phase::Ready,
            State::BackingOff => Phase::BackingOff,
            State::Exited => Phase::Exited,
            State::Stopped => Phase::Stopped,
            State::Failed { .. } => Phase::Failed,
            State::Completed => Phase::Completed,
        }
    }

    pub fn is_ready(&self) -> bool {
        matches!(self, State::Ready { .. })
    }

    pub fn is_pending(&self) -> bool {
        matches!(self, State::Pending)
    }

    pub fn is_backing_off(&self) -> bool {
        matches!(self, State::BackingOff)
    }

    /// Whether it is meant to be running: not stopped on request, not failed on request.
    pub fn is_wanted(&self) -> bool {
        !matches!(self, State::Stopped | State::Failed { .. })
    }
}

/// What to do after a service exited.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterExit {
    /// Start it again after `delay`; this is restart number `attempt`.
    Restart { attempt: u32, delay: Duration },
    /// Stop the stack; `wanted_restart` when the policy would have restarted it (it gave up).
    Fail { wanted_restart: bool },
}

/// The restart policy applied to an exit, after `restarts` restarts so far.
pub fn after_exit(policy: Restart, status: ExitStatus, restarts: u32, max_restarts: u32) -> AfterExit {
    let wanted_restart = match policy {
        Restart::No => false,
        Restart::OnFailure => !status.success(),
        Restart::Always => true,
    };
    if wanted_restart && restarts < max_restarts {
        let attempt = restarts + 1;
        AfterExit::Restart { attempt, delay: backoff(attempt) }
    } else {
        AfterExit::Fail { wanted_restart }
    }
}

/// 250 ms before the first restart, doubling up to 8 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250) * 2u32.pow(attempt.saturating_sub(1).min(5))
}

/// The pending services whose dependencies (by index) are all ready or completed.
pub fn eligible(depends_on: &[Vec<usize>], states: &[&State]) -> Vec<usize> {
    (0..states.len())
        .filter(|i| states[*i].is_pending() && depends_on[*i].iter().all(|d| states[*d].phase().satisfies()))
        .collect()
}

/// `roots` and every service that depends on one of them, directly or not, in index order.
pub fn dependents_closure(depends_on: &[Vec<usize>], roots: &[usize]) -> Vec<usize> {
    closure(roots, depends_on.len(), |found, i| depends_on[i].iter().any(|d| found[*d]))
}

/// `roots` and everything they depend on, directly or not, in index order.
pub fn dependencies_closure(depends_on: &[Vec<usize>], roots: &[usize]) -> Vec<usize> {
    closure(roots, depends_on.len(), |found, i| (0..found.len()).any(|j| found[j] && depends_on[j].contains(&i)))
}

/// Grows `roots` with every index that `joins` says belongs, until nothing more does.
fn closure(roots: &[usize], len: usize, joins: impl Fn(&[bool], usize) -> bool) -> Vec<usize> {
    let mut found = vec![false; len];
    for root in roots {
        found[*root] = true;
    }
    loop {
        let more: Vec<usize> = (0..len).filter(|i| !found[*i] && joins(&found, *i)).collect();
        if more.is_empty() {
            break;
        }
        for i in more {
            found[i] = true;
        }
    }
    (0..len).filter(|i| found[*i]).collect()
}

/// The order to stop `started` services in: waves, each holding the services no other remaining
/// service depends on, so dependents stop before what they depend on.
pub fn stop_waves(depends_on: &[Vec<usize>], started: &[usize]) -> Vec<Vec<usize>> {
    let mut remaining = started.to_vec();
    let mut waves = Vec::new();
    while !remaining.is_empty() {
        let wave: Vec<usize> =
            remaining.iter().copied().filter(|i| !remaining.iter().any(|j| depends_on[*j].contains(i))).collect();
        // Dependencies are acyclic (checked by config); should a cycle slip through, stop the rest at once.
        let wave = if wave.is_empty() { remaining.clone() } else { wave };
        remaining.retain(|i| !wave.contains(i));
        waves.push(wave);
    }
    waves
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies() {
        let (ok, crash) = (ExitStatus::Code(0), ExitStatus::Code(1));
        assert_eq!(after_exit(Restart::No, crash, 0, 5), AfterExit::Fail { wanted_restart: false });
        assert_eq!(after_exit(Restart::OnFailure, ok, 0, 5), AfterExit::Fail { wanted_restart: false });
        assert_eq!(
            after_exit(Restart::OnFailure, crash, 0, 5),
            AfterExit::Restart { attempt: 1, delay: Duration::from_millis(250) }
        );
        assert_eq!(
            after_exit(Restart::Always, ok, 2, 5),
            AfterExit::Restart { attempt: 3, delay: Duration::from_secs(1) }
        );
        assert_eq!(after_exit(Restart::Always, ok, 5, 5), AfterExit::Fail { wanted_restart: true });
        let killed = ExitStatus::Signal(nix::sys::signal::Signal::SIGKILL);
        assert!(matches!(after_exit(Restart::OnFailure, killed, 0, 1), AfterExit::Restart { attempt: 1, .. }));
    }

    #[test]
    fn backoff_doubles_up_to_eight_seconds() {
        let delays: Vec<u128> = (1..=8).map(|a| backoff(a).as_millis()).collect();
        assert_eq!(delays, [250, 500, 1000, 2000, 4000, 8000, 8000, 8000]);
    }

    #[test]
    fn only_services_whose_dependencies_are_ready_may_start() {
        // 0 <- 1 <- 2, and 3 on its own.
        let deps = vec![vec![], vec![0], vec![1], vec![]];
        let (pending, ready, exited) =
            (State::Pending, State::Ready { running: Running::without_output(1) }, State::Exited);
        assert_eq!(eligible(&deps, &[&pending, &pending, &pending, &pending]), [0, 3]);
        assert_eq!(eligible(&deps, &[&ready, &pending, &pending, &exited]), [1]);
        assert_eq!(eligible(&deps, &[&ready, &ready, &pending, &ready]), [2]);
        assert_eq!(eligible(&deps, &[&exited, &pending, &pending, &pending]), [3]);
        // A completed task counts as ready for its dependents.
        assert_eq!(eligible(&deps, &[&State::Completed, &pending, &pending, &exited]), [1]);
    }

    #[test]
    fn dependents_stop_first() {
        // agui (2) depends on mcp (1) and litellm (0); a plain service (3) depends on nothing.
        let deps = vec![vec![], vec![], vec![0, 1], vec![]];
        assert_eq!(stop_waves(&deps, &[0, 1, 2, 3]), [vec![2, 3], vec![0, 1]]);
        assert_eq!(stop_waves(&deps, &[0, 1]), [vec![0, 1]]);
        // A chain stops one at a time, from the top.
        let chain = vec![vec![], vec![0], vec![1]];
        assert_eq!(stop_waves(&chain, &[0, 1, 2]), [vec![2], vec![1], vec![0]]);
        assert!(stop_waves(&chain, &[]).is_empty());
    }

    #[test]
    fn closures_follow_the_edges_both_ways() {
        // 0 <- 1 <- 2, 0 <- 3, and 4 on its own.
        let deps = vec![vec![], vec![0], vec![1], vec![0], vec![]];
        assert_eq!(dependents_closure(&deps, &[1]), [1, 2]);
        assert_eq!(dependents_closure(&deps, &[0]), [0, 1, 2, 3]);
        assert_eq!(dependents_closure(&deps, &[4]), [4]);
        assert_eq!(dependencies_closure(&deps, &[2]), [0, 1, 2]);
        assert_eq!(dependencies_closure(&deps, &[3, 4]), [0, 3, 4]);
        assert!(dependents_closure(&deps, &[]).is_empty());
    }

    #[test]
    fn a_completed_task_satisfies_its_dependents() {
        let deps = vec![vec![], vec![0]];
        assert_eq!(eligible(&deps, &[&State::Completed, &State::Pending]), [1]);
        assert!(eligible(&deps, &[&State::Stopped, &State::Pending]).is_empty());
        assert_eq!(State::Failed { error: String::new() }.phase().label(), "failed");
        assert_eq!(State::BackingOff.phase().label(), "backing off");
    }

    #[test]
    fn a_running_state_carries_its_process() {
        assert_eq!(State::Ready { running: Running::without_output(42) }.pgid(), Some(42));
        assert_eq!(State::BackingOff.pgid(), None);
        assert!(State::Pending.is_pending() && !State::Exited.is_ready());
    }
}
