//! The handle the caller keeps while the stack runs: typed requests (`status`, `restart`, `stop`,
//! `start`, `apply`, `down`) that the supervisor's event loop answers, and a published snapshot
//! of every service's phase that `wait` (and the waiting half of `restart` and `start`) watch.
//!
//! A request that starts services is answered by the loop as soon as it has stopped what had to
//! stop and queued the starts; the waiting for ready happens here, on the snapshot, so the loop
//! keeps handling probes, exits and other clients meanwhile.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::Event;

use crate::control::{Done, Phase, ServiceStatus};
use crate::plan::Plan;

/// One service's phase, as the snapshot publishes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhaseOf {
    pub name: String,
    pub phase: Phase,
    pub error: Option<String>,
    pub depends_on: Vec<String>,
}

pub type Snapshot = Arc<Vec<PhaseOf>>;

/// Why a request to the running stack was not done: the text its answer carries.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The supervisor has ended.
    #[error("the stack is stopping")]
    Gone,
    #[error("name at least one service")]
    NoName,
    #[error("there is no service `{name}` in the running stack{also}")]
    NoService { name: String, also: Suggestion },
    #[error("`{name}` is no longer in the stack file; `agui-dev stop {name}` stops it")]
    Removed { name: String },
    #[error("`{name}` now depends on `{missing}`, which is not running; restart the stack")]
    NewDependency { name: String, missing: String },
    #[error("not ready within {}", super::short(*.0))]
    NotReadyWithin(Duration),
    /// A service waited for, or one it needs, is down: `why` as its state says it.
    #[error("`{name}`{} {why}", if *.dependency { " (a dependency)" } else { "" })]
    Down { name: String, dependency: bool, why: String },
}

/// What follows an unknown service's name: the nearest known one, or the list of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Suggestion {
    None,
    Near(String),
    Known(Vec<String>),
}

impl std::fmt::Display for Suggestion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Suggestion::None => Ok(()),
            Suggestion::Near(near) => write!(f, "; did you mean `{near}`?"),
            Suggestion::Known(known) => write!(f, " ({})", known.join(", ")),
        }
    }
}

pub(super) type Reply = oneshot::Sender<Result<Done, ControlError>>;

pub(super) enum Request {
    Status(oneshot::Sender<Vec<ServiceStatus>>),
    /// Restart `names` (and their dependents); with `fresh`, take their definitions from it first.
    Restart {
        names: Vec<String>,
        with_dependents: bool,
        fresh: Option<Arc<Plan>>,
        reply: Reply,
    },
    Stop {
        names: Vec<String>,
        reply: Reply,
    },
    Start {
        names: Vec<String>,
        reply: Reply,
    },
    Apply {
        plan: Arc<Plan>,
        reply: Reply,
    },
}

/// Handles the caller keeps while the stack runs; cheap to clone (one per client).
#[derive(Clone)]
pub struct Control {
    /// Becomes true once every service is ready.
    pub all_ready: watch::Receiver<bool>,
    /// Every service's phase, updated after every change.
    pub phases: watch::Receiver<Snapshot>,
    /// The secrets every output must redact: the plan's, and those a restart or reload read.
    pub secrets: watch::Receiver<Vec<crate::secret::Secret>>,
    pub(super) events: mpsc::Sender<Event>,
}

impl Control {
    /// Asks the supervisor to stop the stack, as Ctrl-C would (but with no signal).
    pub async fn down(&self) {
        let _ = self.events.send(Event::Stop).await;
    }

    pub async fn status(&self) -> Result<Vec<ServiceStatus>, ControlError> {
        let (reply, answer) = oneshot::channel();
        self.send(Request::Status(reply)).await?;
        answer.await.map_err(|_| ControlError::Gone)
    }

    /// Stops `names` (their dependents first, unless `with_dependents` is false, in which case
    /// only they restart), starts them again in order and waits until they are ready.
    pub async fn restart(&self, names: &[String], with_dependents: bool) -> Result<Done, ControlError> {
        self.ask_and_wait(|reply| Request::Restart { names: names.to_vec(), with_dependents, fresh: None, reply }).await
    }

    /// As `restart`, with the named services' definitions taken from `fresh` (the stack file
    /// and env files read again); the answer names the variables that changed.
    pub async fn restart_with(
        &self,
        fresh: Arc<Plan>,
        names: &[String],
        with_dependents: bool,
    ) -> Result<Done, ControlError> {
        self.ask_and_wait(|reply| Request::Restart {
            names: names.to_vec(),
            with_dependents,
            fresh: Some(fresh),
            reply,
        })
        .await
    }

    /// Stops `names` and what depends on them; they stay stopped, and the stack keeps running.
    pub async fn stop(&self, names: &[String]) -> Result<Done, ControlError> {
        self.ask(|reply| Request::Stop { names: names.to_vec(), reply }).await
    }

    /// Starts `names` and what they need that is not running, and waits until they are ready.
    pub async fn start(&self, names: &[String]) -> Result<Done, ControlError> {
        self.ask_and_wait(|reply| Request::Start { names: names.to_vec(), reply }).await
    }

    /// Replaces the plan: changed services restart (with their dependents), added ones start,
    /// removed ones stop; waits until what was started is ready.
    pub async fn apply(&self, plan: Arc<Plan>) -> Result<Done, ControlError> {
        self.ask_and_wait(|reply| Request::Apply { plan, reply }).await
    }

    /// Waits until `names` (all services when empty) are ready; an error when one of them, or
    /// something it needs, failed or was stopped.
    pub async fn wait(&self, names: &[String], limit: Duration) -> Result<(), ControlError> {
        let mut phases = self.phases.clone();
        let wait = async {
            loop {
                let snapshot = phases.borrow_and_update().clone();
                if let Some(verdict) = verdict(&snapshot, names) {
                    return verdict;
                }
                if phases.changed().await.is_err() {
                    return Err(ControlError::Gone);
                }
            }
        };
        tokio::time::timeout(limit, wait).await.unwrap_or(Err(ControlError::NotReadyWithin(limit)))
    }

    async fn send(&self, request: Request) -> Result<(), ControlError> {
        self.events.send(Event::Request(request)).await.map_err(|_| ControlError::Gone)
    }

    async fn ask(&self, request: impl FnOnce(Reply) -> Request) -> Result<Done, ControlError> {
        let (reply, answer) = oneshot::channel();
        self.send(request(reply)).await?;
        answer.await.map_err(|_| ControlError::Gone)?
    }

    async fn ask_and_wait(&self, request: impl FnOnce(Reply) -> Request) -> Result<Done, ControlError> {
        let done = self.ask(request).await?;
        let mut started = done.restarted.clone();
        started.extend(done.started.iter().cloned());
        if !started.is_empty() {
            // Each start has its own ready timeout, after which the service fails; this bound
            // only guards against waiting on a supervisor that went away.
            self.wait(&started, Duration::from_hours(24)).await?;
        }
        Ok(done)
    }
}

/// Whether waiting for `names` (all when empty) is over: `Ok` when all are ready or completed,
/// `Err` when one of them or something it depends on failed, exited or is stopped.
pub fn verdict(snapshot: &[PhaseOf], names: &[String]) -> Option<Result<(), ControlError>> {
    let find = |name: &str| snapshot.iter().find(|p| p.name == name);
    let wanted: Vec<&str> = if names.is_empty() {
        snapshot.iter().map(|p| p.name.as_str()).collect()
    } else {
        names.iter().map(String::as_str).collect()
    };
    for name in &wanted {
        if find(name).is_none() {
            return Some(Err(ControlError::NoService { name: (*name).to_owned(), also: Suggestion::None }));
        }
    }
    // Everything the wanted services need, to find a failed dependency.
    let mut needed: Vec<&str> = wanted.clone();
    let mut at = 0;
    while at < needed.len() {
        if let Some(p) = find(needed[at]) {
            for d in &p.depends_on {
                if !needed.contains(&d.as_str()) {
                    needed.push(d);
                }
            }
        }
        at += 1;
    }
    for name in &needed {
        let Some(p) = find(name) else { continue };
        let why = match p.phase {
            Phase::Failed => p.error.clone().unwrap_or_else(|| "failed".to_owned()),
            Phase::Exited => "exited".to_owned(),
            Phase::Stopped => format!("is stopped; `agui-dev start {name}` starts it"),
            _ => continue,
        };
        let dependency = !wanted.contains(name);
        return Some(Err(ControlError::Down { name: (*name).to_owned(), dependency, why }));
    }
    wanted.iter().all(|n| find(n).is_some_and(|p| p.phase.satisfies())).then_some(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(name: &str, phase: Phase, depends_on: &[&str]) -> PhaseOf {
        PhaseOf {
            name: name.into(),
            phase,
            error: None,
            depends_on: depends_on.iter().map(|d| (*d).to_owned()).collect(),
        }
    }

    #[test]
    fn waiting_ends_when_ready_or_when_something_needed_failed() {
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let up = [of("a", Phase::Ready, &[]), of("b", Phase::Starting, &["a"])];
        assert_eq!(verdict(&up, &names(&["a"])), Some(Ok(())));
        assert_eq!(verdict(&up, &names(&["b"])), None);
        assert_eq!(verdict(&up, &[]), None);
        let failed = [of("a", Phase::Failed, &[]), of("b", Phase::Pending, &["a"])];
        let error = verdict(&failed, &names(&["b"])).unwrap().unwrap_err();
        assert_eq!(error.to_string(), "`a` (a dependency) failed");
        let stopped = [of("a", Phase::Stopped, &[])];
        assert!(verdict(&stopped, &names(&["a"])).unwrap().unwrap_err().to_string().contains("agui-dev start a"));
        let unknown = verdict(&up, &names(&["zz"])).unwrap().unwrap_err();
        assert_eq!(unknown.to_string(), "there is no service `zz` in the running stack");
        let task = [of("t", Phase::Completed, &[]), of("b", Phase::Ready, &["t"])];
        assert_eq!(verdict(&task, &[]), Some(Ok(())));
    }
}
