//! The supervisor: starts the plan's services in dependency order, waits for each to be ready,
//! restarts or fails on exits, and stops everything in reverse order.
//!
//! Theory of operation: one event loop owns the state of every service. Probes, exit watchers,
//! restart timers and the signal handler are tasks that only send events to it, tagged with the
//! service's generation (one per start) so an event about an earlier start is ignored. When the
//! loop decides to stop (a signal, a failure, or the caller's `stop` future), it leaves the loop
//! and stops the services in waves: a service is stopped once every service depending on it is.
//!
//! A service's `State` carries what it has (a started one its pid and output readers), so a
//! state that cannot happen cannot be written down; the decisions (restart or fail, which
//! services may start, the stop waves) are pure functions in `state`, and every process is
//! started and stopped through a `Spawner`, which the tests replace with a fake.
//!
//! While the stack runs, the caller's `Control` sends requests (status, restart, stop, start,
//! apply a new plan, down) into the same loop, so a request sees and changes the same states the
//! probes and exit watchers do, one event at a time (`requests` handles them). Services stopped
//! on request are `Stopped` and fail nothing; a service started on request that does not become
//! ready is `Failed` and the rest keeps running.

pub mod change;
pub mod control;
mod done;
pub mod guardian;
pub mod process;
mod requests;
pub mod socket;
pub mod spawner;
pub mod state;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::error::Error;
use crate::output::short;
use crate::output::{Key, Level, Msg, Out};
use crate::plan::Plan;
use crate::ready::{self, ProbeContext};
use crate::system::group::Stopped;
use crate::system::reaper::{ExitStatus, Reaper};
pub use control::Control;
use control::{PhaseOf, Request, Snapshot};
use process::{LogWatch, Recent};
use spawner::Spawner;
use state::{AfterExit, State};

/// Why the stack stopped.
pub enum Outcome {
    /// Stopped on request (a signal or the caller) with nothing failed.
    Stopped,
    /// A service failed; the stack was stopped.
    Failed(Error),
    /// Every service was a task and completed: nothing was left running (`end_when_done`).
    Finished,
}

enum Event {
    Ready { index: usize, generation: u32 },
    NotReady { index: usize, generation: u32, error: ready::ProbeError },
    Exited { index: usize, generation: u32, status: ExitStatus },
    Respawn { index: usize, generation: u32 },
    Signal(Signal),
    Stop,
    Request(Request),
}

struct Slot {
    state: State,
    /// One per start: events about an earlier start are ignored.
    generation: u32,
    restarts: u32,
    recent: Arc<Recent>,
    /// When its current process started, and how long that start took to become ready.
    started_at: Option<Instant>,
    ready_after: Option<Duration>,
    last_exit: Option<ExitStatus>,
    /// Started by a request after the stack was up and not ready yet: failing to start marks
    /// it `Failed` instead of stopping the stack.
    on_request: bool,
    /// Removed from the stack file by `apply`: stopped, and no longer shown.
    removed: bool,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            state: State::Pending,
            generation: 0,
            restarts: 0,
            recent: Arc::default(),
            started_at: None,
            ready_after: None,
            last_exit: None,
            on_request: false,
            removed: false,
        }
    }
}

pub struct Supervisor {
    plan: Arc<Plan>,
    out: Out,
    /// For `exec` probes.
    reaper: Reaper,
    spawner: Arc<dyn Spawner>,
    /// Each service's dependencies, by index.
    depends_on: Vec<Vec<usize>>,
    events_tx: mpsc::Sender<Event>,
    events: mpsc::Receiver<Event>,
    slots: Vec<Slot>,
    all_ready: watch::Sender<bool>,
    phases: watch::Sender<Snapshot>,
    /// The secrets to redact, updated when a restart or reload reads new values.
    secrets: watch::Sender<Vec<crate::secret::Secret>>,
    /// Events handled before the channel is read again: those that came while a request was
    /// stopping services, and the readiness of a service started without a probe.
    deferred: VecDeque<Event>,
    hurry: watch::Sender<bool>,
    started: Instant,
    end_when_done: bool,
}

impl Supervisor {
    /// A supervisor of real processes. `guardian` must outlive the command, not just the
    /// supervisor: it acts when its pipe closes, and that must not happen before the caller has
    /// looked for left-over processes.
    pub fn new(
        plan: Arc<Plan>,
        out: Out,
        reaper: Reaper,
        guardian: Option<Arc<guardian::Guardian>>,
    ) -> (Supervisor, Control) {
        let spawner = Arc::new(spawner::Processes { reaper: reaper.clone(), guardian });
        Supervisor::with_spawner(plan, out, reaper, spawner)
    }

    pub fn with_spawner(plan: Arc<Plan>, out: Out, reaper: Reaper, spawner: Arc<dyn Spawner>) -> (Supervisor, Control) {
        let (events_tx, events) = mpsc::channel(256);
        let (all_ready, all_ready_rx) = watch::channel(false);
        let slots = plan.services.iter().map(|_| Slot::new()).collect();
        let depends_on = edges(&plan);
        let (phases, phases_rx) = watch::channel(Snapshot::default());
        let (secrets, secrets_rx) = watch::channel(plan.secrets.clone());
        let control =
            Control { all_ready: all_ready_rx, phases: phases_rx, secrets: secrets_rx, events: events_tx.clone() };
        let supervisor = Supervisor {
            plan,
            out,
            reaper,
            spawner,
            depends_on,
            events_tx,
            events,
            slots,
            all_ready,
            phases,
            secrets,
            deferred: VecDeque::new(),
            hurry: watch::channel(false).0,
            started: Instant::now(),
            end_when_done: false,
        };
        supervisor.publish();
        (supervisor, control)
    }

    /// Runs the stack until a signal, a failure or `Control::stop`, then stops every service.
    pub async fn run(mut self) -> Outcome {
        if let Err(error) = self.listen_for_signals() {
            return Outcome::Failed(error);
        }

        let mut outcome = self.start_eligible().await;
        self.publish();
        while outcome.is_none() {
            let event = match self.deferred.pop_front() {
                Some(event) => event,
                None => match self.events.recv().await {
                    Some(event) => event,
                    None => break,
                },
            };
            outcome = self.handle(event).await;
            self.publish();
        }
        self.shutdown().await;
        self.publish();
        outcome.unwrap_or(Outcome::Stopped)
    }

    fn listen_for_signals(&self) -> Result<(), Error> {
        let stream = |kind| signal(kind).map_err(|err| Error::failed("cannot handle signals").cause(err));
        let (mut int, mut term, mut hup) =
            (stream(SignalKind::interrupt())?, stream(SignalKind::terminate())?, stream(SignalKind::hangup())?);
        let events = self.events_tx.clone();
        let hurry = self.hurry.clone();
        tokio::spawn(async move {
            let mut seen = 0;
            loop {
                let sig = tokio::select! {
                    _ = int.recv() => Signal::SIGINT,
                    _ = term.recv() => Signal::SIGTERM,
                    _ = hup.recv() => Signal::SIGHUP,
                };
                seen += 1;
                if seen == 1 {
                    let _ = events.send(Event::Signal(sig)).await;
                } else {
                    // A second signal: stop waiting for grace periods.
                    hurry.send_replace(true);
                }
            }
        });
        Ok(())
    }

    /// Whether an event is about the current start of a service that is in `wanted` state.
    fn current(&self, index: usize, generation: u32, wanted: fn(&State) -> bool) -> bool {
        self.slots[index].generation == generation && wanted(&self.slots[index].state)
    }

    async fn handle(&mut self, event: Event) -> Option<Outcome> {
        let starting = |s: &State| matches!(s, State::Starting { .. });
        match event {
            Event::Ready { index, generation } => {
                if !self.current(index, generation, starting) {
                    return None;
                }
                let slot = &mut self.slots[index];
                let State::Starting { running, since, .. } = std::mem::replace(&mut slot.state, State::Exited) else {
                    return None;
                };
                slot.state = State::Ready { running };
                slot.ready_after = Some(since.elapsed());
                slot.on_request = false;
                let name = &self.plan.services[index].name;
                let text = format!("`{name}` is ready ({})", short(since.elapsed()));
                self.out.send(Msg::Done { key: Key::Service(index), level: Level::Success, text }).await;
                self.announce_all_ready().await;
                self.start_eligible().await
            }
            Event::NotReady { index, generation, error } => {
                if !self.current(index, generation, starting) {
                    return None;
                }
                let name = &self.plan.services[index].name;
                let text = format!("`{name}` did not become ready");
                self.out.send(Msg::Done { key: Key::Service(index), level: Level::Error, text }).await;
                if self.slots[index].on_request {
                    self.stop_services(&[index], false).await;
                    let error = format!("did not become ready: {error}");
                    self.slots[index].state = State::Failed { error: self.with_last_lines(index, error) };
                    return None;
                }
                Some(Outcome::Failed(
                    self.failure(index, format!("service `{name}` did not become ready"))
                        .caused_by(error)
                        .hint("check the service's output above and its `ready` probe; raise `ready.timeout` if it is only slow"),
                ))
            }
            Event::Exited { index, generation, status } => self.exited(index, generation, status).await,
            Event::Respawn { index, generation } if self.current(index, generation, State::is_backing_off) => {
                self.start(index).await.err()
            }
            Event::Respawn { .. } => None,
            Event::Signal(sig) => {
                let text = format!("{} received, stopping (again to skip the grace period)", sig.as_str());
                self.out.status(Level::Info, text).await;
                Some(Outcome::Stopped)
            }
            Event::Stop => Some(Outcome::Stopped),
            Event::Request(request) => self.request(request).await,
        }
    }

    async fn exited(&mut self, index: usize, generation: u32, status: ExitStatus) -> Option<Outcome> {
        let running = |s: &State| matches!(s, State::Starting { .. } | State::Ready { .. });
        if !self.current(index, generation, running) {
            return None;
        }
        let plan = self.plan.clone();
        let service = &plan.services[index];
        let (mut running, was_ready, since) = match std::mem::replace(&mut self.slots[index].state, State::Exited) {
            State::Starting { running, probe, since } => {
                if let Some(probe) = probe {
                    probe.abort();
                }
                (running, false, Some(since))
            }
            State::Ready { running } => (running, true, None),
            other => {
                self.slots[index].state = other;
                return None;
            }
        };
        self.slots[index].last_exit = Some(status);
        // Whatever the leader left behind in its group goes with it; then the pipes close and the
        // last lines (a partial one too) reach the printer.
        let hurry = self.hurry.subscribe();
        self.spawner.stop(running.pid, service.stop_signal, service.stop_grace, hurry).await;
        running.drain(Duration::from_secs(2)).await;

        let name = &service.name;
        if service.task && status.success() {
            // A task's exit 0 is its readiness: its dependents start, the stack goes on.
            self.slots[index].state = State::Completed;
            let took = since.map_or_else(String::new, |s| format!(" ({})", short(s.elapsed())));
            let text = format!("`{name}` completed{took}");
            self.out.send(Msg::Done { key: Key::Service(index), level: Level::Success, text }).await;
            self.announce_all_ready().await;
            if let Some(finished) = self.finished() {
                return Some(finished);
            }
            return self.start_eligible().await;
        }
        let slot = &mut self.slots[index];
        let wanted_restart = match state::after_exit(service.restart, status, slot.restarts, service.max_restarts) {
            AfterExit::Restart { attempt, delay } => {
                slot.restarts = attempt;
                slot.state = State::BackingOff;
                let text = format!(
                    "`{name}` {status}; restarting in {} (restart {attempt} of {})",
                    short(delay),
                    service.max_restarts
                );
                self.out.status(Level::Warn, text).await;
                let events = self.events_tx.clone();
                let generation = slot.generation;
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = events.send(Event::Respawn { index, generation }).await;
                });
                return None;
            }
            AfterExit::Fail { wanted_restart } => wanted_restart,
        };
        if slot.on_request && !was_ready {
            let text = format!("`{name}` {status} before it was ready");
            self.out.send(Msg::Done { key: Key::Service(index), level: Level::Error, text }).await;
            let error = self.with_last_lines(index, format!("{status} before it was ready"));
            self.slots[index].state = State::Failed { error };
            return None;
        }
        let when = if was_ready { "" } else { " before it was ready" };
        let after = match slot.restarts {
            0 => String::new(),
            1 => " after 1 restart".to_owned(),
            n => format!(" after {n} restarts"),
        };
        if !was_ready {
            let text = format!("`{name}` {status}{when}");
            self.out.send(Msg::Done { key: Key::Service(index), level: Level::Error, text }).await;
        }
        let hint = if wanted_restart {
            "it kept failing; read its output above, or raise `max_restarts`"
        } else {
            "read its output above; `restart = \"on-failure\"` restarts a service that crashes"
        };
        Some(Outcome::Failed(self.failure(index, format!("service `{name}` {status}{when}{after}")).hint(hint)))
    }

    /// A failure message for a request's answer, with the service's last lines.
    fn with_last_lines(&self, index: usize, message: String) -> String {
        let last = self.slots[index].recent.last();
        if last.is_empty() {
            return message;
        }
        let lines: Vec<String> = last.iter().map(|l| format!("    {l}")).collect();
        format!("{message}\nlast lines:\n{}", lines.join("\n"))
    }

    /// Publishes every service's phase for `Control::wait`.
    fn publish(&self) {
        let snapshot: Vec<PhaseOf> = self
            .plan
            .services
            .iter()
            .zip(&self.slots)
            .filter(|(_, slot)| !slot.removed)
            .map(|(service, slot)| PhaseOf {
                name: service.name.clone(),
                phase: slot.state.phase(),
                error: match &slot.state {
                    State::Failed { error } => Some(error.clone()),
                    _ => None,
                },
                depends_on: service.depends_on.clone(),
            })
            .collect();
        self.phases.send_if_modified(|old| {
            let changed = **old != snapshot;
            if changed {
                *old = Arc::new(snapshot);
            }
            changed
        });
    }

    /// A failure report naming the service and carrying its last lines.
    fn failure(&self, index: usize, summary: String) -> Error {
        let mut error = Error::failed(summary);
        let last = self.slots[index].recent.last();
        if !last.is_empty() {
            let name = &self.plan.services[index].name;
            let lines: Vec<String> = last.iter().map(|l| format!("    {l}")).collect();
            error = error.cause(format!("last lines of `{name}`:\n{}", lines.join("\n")));
        }
        error
    }

    /// Starts every pending service whose dependencies are all ready.
    async fn start_eligible(&mut self) -> Option<Outcome> {
        let states: Vec<&State> = self.slots.iter().map(|s| &s.state).collect();
        for index in state::eligible(&self.depends_on, &states) {
            if let Err(outcome) = self.start(index).await {
                return Some(outcome);
            }
        }
        None
    }

    async fn start(&mut self, index: usize) -> Result<(), Outcome> {
        let plan = self.plan.clone();
        let service = &plan.services[index];
        let slot = &mut self.slots[index];
        slot.generation += 1;
        let generation = slot.generation;
        let (log_watch, log_matched) = match &service.ready {
            Some(crate::config::Probe::Log(pattern)) => {
                let (tx, rx) = watch::channel(false);
                (Some(Arc::new(LogWatch { pattern: pattern.clone(), matched: tx })), Some(rx))
            }
            _ => (None, None),
        };
        let (running, exit) = match self.spawner.spawn(index, service, &self.out, &slot.recent, log_watch.as_ref()) {
            Ok(started) => started,
            Err(error) if slot.on_request => {
                slot.state = State::Failed { error: format!("cannot start: {error}") };
                return Ok(());
            }
            Err(error) => {
                slot.state = State::Exited;
                return Err(Outcome::Failed(
                    Error::failed(format!("cannot start service `{}`", service.name))
                        .caused_by(error)
                        .hint("check `command` and `cwd` in the stack file, or run `agui-dev doctor`"),
                ));
            }
        };
        let pid = running.pid;
        slot.state = State::Starting { running, probe: None, since: Instant::now() };
        slot.started_at = Some(Instant::now());
        slot.ready_after = None;
        // A service without a probe is ready once started. `deferred` is read before the channel,
        // so the event cannot be lost to a full channel and a service that exits at once is seen
        // ready first, then exited. A task is never "ready": it is done when it exits 0.
        if service.ready.is_none() && !service.task {
            self.deferred.push_back(Event::Ready { index, generation });
        }
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            if let Ok(status) = exit.await {
                let _ = events.send(Event::Exited { index, generation, status }).await;
            }
        });
        let shown = shell_words::join(&service.command);
        self.out.status(Level::Debug, format!("started `{}` (pid {pid}): {shown}", service.name)).await;

        if service.task {
            let what = format!("running task `{}`", service.name);
            self.out.send(Msg::Waiting { key: Key::Service(index), what }).await;
        }
        let Some(probe) = service.ready.clone() else { return Ok(()) };
        let what = format!("waiting for `{}` ({probe})", service.name);
        self.out.send(Msg::Waiting { key: Key::Service(index), what }).await;
        let events = self.events_tx.clone();
        let reaper = self.reaper.clone();
        let limit = service.ready_timeout;
        let task = tokio::spawn(async move {
            let service = &plan.services[index];
            let ctx = ProbeContext { reaper: &reaper, cwd: &service.cwd, env: &service.env, log_matched };
            let event = match ready::wait(&probe, limit, ctx).await {
                Ok(()) => Event::Ready { index, generation },
                Err(error) => Event::NotReady { index, generation, error },
            };
            let _ = events.send(event).await;
        });
        if let State::Starting { probe, .. } = &mut self.slots[index].state {
            *probe = Some(task);
        }
        Ok(())
    }

    /// Stops every started service, dependents first, each group with its signal then SIGKILL.
    async fn shutdown(&mut self) {
        let all: Vec<usize> = (0..self.slots.len()).collect();
        self.stop_services(&all, true).await;
    }

    /// Stops those of `indices` that run (or wait to run again) in waves, dependents first; they
    /// end `Exited`. While shutting down, a signal only hurries the stop along; otherwise other
    /// events wait in `deferred` for the loop.
    async fn stop_services(&mut self, indices: &[usize], shutting_down: bool) {
        let plan = self.plan.clone();
        let mut started = Vec::new();
        for &index in indices {
            let slot = &mut self.slots[index];
            if let State::Starting { probe: Some(probe), .. } = &mut slot.state {
                probe.abort();
            }
            if slot.state.pgid().is_some() {
                started.push(index);
            } else if matches!(slot.state, State::BackingOff) {
                // Its respawn timer carries this generation and is ignored from now on.
                slot.generation += 1;
                slot.state = State::Exited;
            }
        }
        // Signals that arrive now only hurry the shutdown along.
        let hurry = self.hurry.clone();
        for wave in state::stop_waves(&self.depends_on, &started) {
            let names: Vec<String> = wave.iter().map(|i| format!("`{}`", plan.services[*i].name)).collect();
            self.out.status(Level::Info, format!("stopping {}", names.join(", "))).await;
            let mut stopping = JoinSet::new();
            for &index in &wave {
                let service = &plan.services[index];
                let (State::Starting { mut running, .. } | State::Ready { mut running }) =
                    std::mem::replace(&mut self.slots[index].state, State::Exited)
                else {
                    continue;
                };
                let stop = self.spawner.stop(running.pid, service.stop_signal, service.stop_grace, hurry.subscribe());
                stopping.spawn(async move {
                    let stopped = stop.await;
                    // Lines printed while stopping still reach the terminal and the log.
                    running.drain(Duration::from_secs(2)).await;
                    (index, stopped)
                });
            }
            loop {
                tokio::select! {
                    joined = stopping.join_next() => {
                        let Some(Ok((index, stopped))) = joined else { break };
                        let service = &plan.services[index];
                        match stopped {
                            Stopped::Gracefully => self.out.status(Level::Debug, format!("`{}` stopped", service.name)).await,
                            Stopped::Killed => self.out.status(Level::Warn, format!("`{}` did not stop within {} of {}; killed it", service.name, short(service.stop_grace), service.stop_signal.as_str())).await,
                        }
                    }
                    Some(event) = self.events.recv() => {
                        match event {
                            Event::Signal(_) if shutting_down => { hurry.send_replace(true); }
                            _ if shutting_down => {}
                            event => self.deferred.push_back(event),
                        }
                    }
                }
            }
        }
    }
}

/// Each service's dependencies, by index.
fn edges(plan: &Plan) -> Vec<Vec<usize>> {
    plan.services
        .iter()
        .map(|s| s.depends_on.iter().filter_map(|d| plan.services.iter().position(|p| &p.name == d)).collect())
        .collect()
}

/// Starts the guardian; without one, a warning says what is at stake.
pub async fn start_guardian(reaper: &Reaper, run_id: &str, out: &Out) -> Option<Arc<guardian::Guardian>> {
    match guardian::Guardian::start(reaper, run_id) {
        Ok(guardian) => Some(Arc::new(guardian)),
        Err(err) => {
            let text = format!("cannot start the guardian ({err}); if agui-dev is killed, its services survive it");
            out.status(Level::Warn, text).await;
            None
        }
    }
}
