//! The supervisor: starts the plan's services in dependency order, waits for each to be ready,
//! restarts or fails on exits, and stops everything in reverse order.
//!
//! Theory of operation: one event loop owns the state of every service. Probes, exit watchers,
//! restart timers and the signal handler are tasks that only send events to it, tagged with the
//! service's generation (one per start) so an event about an earlier start is ignored. When the
//! loop decides to stop (a signal, a failure, or the caller's `stop` future), it leaves the loop
//! and stops the services in waves: a service is stopped once every service depending on it is.

pub mod exposure;
pub mod guardian;
pub mod ports;
pub mod process;
pub mod reaper;

use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::config::Restart;
use crate::error::Error;
use crate::output::{Level, Msg, Out};
use crate::plan::Plan;
use crate::ready::{self, ProbeContext};
use process::{LogWatch, Recent, Running, SpawnSpec, Stopped};
use reaper::{ExitStatus, Reaper};

/// Why the stack stopped.
pub enum Outcome {
    /// Stopped on request (a signal or the caller) with nothing failed.
    Stopped,
    /// A service failed; the stack was stopped.
    Failed(Error),
}

enum Event {
    Ready { index: usize, generation: u32 },
    NotReady { index: usize, generation: u32, error: String },
    Exited { index: usize, generation: u32, status: ExitStatus },
    Respawn { index: usize, generation: u32 },
    Signal(Signal),
    Stop,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// Waiting for its dependencies.
    Pending,
    Starting,
    Ready,
    /// Exited and waiting for its restart back-off.
    BackingOff,
    Exited,
}

struct Slot {
    state: State,
    generation: u32,
    restarts: u32,
    pgid: Option<i32>,
    running: Option<Running>,
    recent: Arc<Recent>,
    probe: Option<JoinHandle<()>>,
    started: Instant,
}

/// Handles the caller keeps while the stack runs.
pub struct Control {
    /// Becomes true once every service is ready.
    pub all_ready: watch::Receiver<bool>,
    stop: mpsc::Sender<Event>,
}

impl Control {
    /// Asks the supervisor to stop the stack (as a signal would, but with no signal).
    pub async fn stop(&self) {
        let _ = self.stop.send(Event::Stop).await;
    }
}

pub struct Supervisor {
    plan: Arc<Plan>,
    out: Out,
    reaper: Reaper,
    /// Stops the services if agui-dev dies without stopping them.
    guardian: Option<Arc<guardian::Guardian>>,
    events_tx: mpsc::Sender<Event>,
    events: mpsc::Receiver<Event>,
    slots: Vec<Slot>,
    all_ready: watch::Sender<bool>,
    hurry: watch::Sender<bool>,
    started: Instant,
}

impl Supervisor {
    /// `guardian` must outlive the command, not just the supervisor: it acts when its pipe
    /// closes, and that must not happen before the caller has looked for left-over processes.
    pub fn new(
        plan: Arc<Plan>,
        out: Out,
        reaper: Reaper,
        guardian: Option<Arc<guardian::Guardian>>,
    ) -> (Supervisor, Control) {
        let (events_tx, events) = mpsc::channel(256);
        let (all_ready, all_ready_rx) = watch::channel(false);
        let slots = plan
            .services
            .iter()
            .map(|_| Slot {
                state: State::Pending,
                generation: 0,
                restarts: 0,
                pgid: None,
                running: None,
                recent: Arc::default(),
                probe: None,
                started: Instant::now(),
            })
            .collect();
        let control = Control { all_ready: all_ready_rx, stop: events_tx.clone() };
        let supervisor = Supervisor {
            plan,
            out,
            reaper,
            guardian,
            events_tx,
            events,
            slots,
            all_ready,
            hurry: watch::channel(false).0,
            started: Instant::now(),
        };
        (supervisor, control)
    }

    /// Runs the stack until a signal, a failure or `Control::stop`, then stops every service.
    pub async fn run(mut self) -> Outcome {
        if let Err(error) = self.listen_for_signals() {
            return Outcome::Failed(error);
        }

        let mut outcome = self.start_eligible().await;
        while outcome.is_none() {
            let Some(event) = self.events.recv().await else { break };
            outcome = self.handle(event).await;
        }
        self.shutdown().await;
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

    async fn handle(&mut self, event: Event) -> Option<Outcome> {
        match event {
            Event::Ready { index, generation } => {
                if self.slots[index].generation != generation || self.slots[index].state != State::Starting {
                    return None;
                }
                let slot = &mut self.slots[index];
                slot.state = State::Ready;
                let took = slot.started.elapsed();
                let name = &self.plan.services[index].name;
                self.out
                    .send(Msg::Done {
                        key: index,
                        level: Level::Success,
                        text: format!("`{name}` is ready ({})", short(took)),
                    })
                    .await;
                if self.slots.iter().all(|s| s.state == State::Ready) && !*self.all_ready.borrow() {
                    self.all_ready.send_replace(true);
                    let count = self.slots.len();
                    let noun = if count == 1 { "service is" } else { "services are" };
                    self.out
                        .status(
                            Level::Success,
                            format!(
                                "all {count} {noun} ready in {} — Ctrl-C stops everything",
                                short(self.started.elapsed())
                            ),
                        )
                        .await;
                }
                self.start_eligible().await
            }
            Event::NotReady { index, generation, error } => {
                if self.slots[index].generation != generation || self.slots[index].state != State::Starting {
                    return None;
                }
                let name = &self.plan.services[index].name;
                self.out
                    .send(Msg::Done { key: index, level: Level::Error, text: format!("`{name}` did not become ready") })
                    .await;
                Some(Outcome::Failed(
                    self.failure(index, format!("service `{name}` did not become ready"))
                        .cause(error)
                        .hint("check the service's output above and its `ready` probe; raise `ready.timeout` if it is only slow"),
                ))
            }
            Event::Exited { index, generation, status } => self.exited(index, generation, status).await,
            Event::Respawn { index, generation } => {
                let current =
                    self.slots[index].generation == generation && self.slots[index].state == State::BackingOff;
                if current { self.start(index).await.err() } else { None }
            }
            Event::Signal(sig) => {
                self.out
                    .status(
                        Level::Info,
                        format!("{} received, stopping (again to skip the grace period)", sig.as_str()),
                    )
                    .await;
                Some(Outcome::Stopped)
            }
            Event::Stop => Some(Outcome::Stopped),
        }
    }

    async fn exited(&mut self, index: usize, generation: u32, status: ExitStatus) -> Option<Outcome> {
        let service = &self.plan.services[index];
        let slot = &mut self.slots[index];
        if slot.generation != generation || !matches!(slot.state, State::Starting | State::Ready) {
            return None;
        }
        let was_ready = slot.state == State::Ready;
        if let Some(probe) = slot.probe.take() {
            probe.abort();
        }
        // Whatever the leader left behind in its group goes with it; then the pipes close and the
        // last lines (a partial one too) reach the printer.
        if let Some(pgid) = slot.pgid.take() {
            let mut hurry = self.hurry.subscribe();
            process::stop_group(pgid, service.stop_signal, service.stop_grace, &mut hurry).await;
        }
        if let Some(mut running) = slot.running.take() {
            running.drain(Duration::from_secs(2)).await;
        }
        let wants_restart = match service.restart {
            Restart::No => false,
            Restart::OnFailure => !status.success(),
            Restart::Always => true,
        };
        let name = &service.name;
        if wants_restart && slot.restarts < service.max_restarts {
            slot.restarts += 1;
            slot.state = State::BackingOff;
            // 250 ms, 500 ms, 1 s, ... up to 8 s between attempts.
            let delay = Duration::from_millis(250) * 2u32.pow((slot.restarts - 1).min(5));
            let restarts = slot.restarts;
            self.out
                .status(
                    Level::Warn,
                    format!(
                        "`{name}` {status}; restarting in {} (restart {restarts} of {})",
                        short(delay),
                        service.max_restarts
                    ),
                )
                .await;
            let events = self.events_tx.clone();
            let generation = slot.generation;
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = events.send(Event::Respawn { index, generation }).await;
            });
            return None;
        }
        slot.state = State::Exited;
        let when = if was_ready { "" } else { " before it was ready" };
        let after = match slot.restarts {
            0 => String::new(),
            1 => " after 1 restart".to_owned(),
            n => format!(" after {n} restarts"),
        };
        if !was_ready {
            self.out
                .send(Msg::Done { key: index, level: Level::Error, text: format!("`{name}` {status}{when}") })
                .await;
        }
        let hint = if wants_restart {
            "it kept failing; read its output above, or raise `max_restarts`"
        } else {
            "read its output above; `restart = \"on-failure\"` restarts a service that crashes"
        };
        Some(Outcome::Failed(self.failure(index, format!("service `{name}` {status}{when}{after}")).hint(hint)))
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
        let plan = self.plan.clone();
        for (index, service) in plan.services.iter().enumerate() {
            if self.slots[index].state != State::Pending {
                continue;
            }
            let deps_ready = service.depends_on.iter().all(|dep| {
                plan.services.iter().position(|s| &s.name == dep).is_none_or(|d| self.slots[d].state == State::Ready)
            });
            if !deps_ready {
                continue;
            }
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
        slot.state = State::Starting;
        slot.started = Instant::now();
        let generation = slot.generation;
        let (log_watch, log_matched) = match &service.ready {
            Some(crate::config::Probe::Log(pattern)) => {
                let (tx, rx) = watch::channel(false);
                (Some(Arc::new(LogWatch { pattern: pattern.clone(), matched: tx })), Some(rx))
            }
            _ => (None, None),
        };
        let spec = SpawnSpec { index, command: &service.command, cwd: &service.cwd, env: &service.env };
        let running = match process::spawn(&self.reaper, &spec, &self.out, &slot.recent, log_watch.as_ref()) {
            Ok(running) => running,
            Err(error) => {
                return Err(Outcome::Failed(
                    Error::failed(format!("cannot start service `{}`", service.name))
                        .cause(error)
                        .hint("check `command` and `cwd` in the stack file, or run `agui-dev doctor`"),
                ));
            }
        };
        let (running, exit) = running;
        let pid = running.pid;
        slot.pgid = Some(pid);
        if let Some(guardian) = &self.guardian {
            guardian.watch(pid, service.stop_signal, service.stop_grace);
        }
        slot.running = Some(running);
        // A service without a probe is ready once started. That event is queued before the exit
        // watcher exists, so a service that exits at once is seen ready first, then exited.
        if service.ready.is_none() {
            let _ = self.events_tx.try_send(Event::Ready { index, generation });
        }
        let events = self.events_tx.clone();
        tokio::spawn(async move {
            if let Ok(status) = exit.await {
                let _ = events.send(Event::Exited { index, generation, status }).await;
            }
        });
        let shown = shell_words::join(&service.command);
        self.out.status(Level::Debug, format!("started `{}` (pid {pid}): {shown}", service.name)).await;

        let Some(probe) = service.ready.clone() else { return Ok(()) };
        self.out.send(Msg::Waiting { key: index, what: format!("waiting for `{}` ({probe})", service.name) }).await;
        let events = self.events_tx.clone();
        let reaper = self.reaper.clone();
        let limit = service.ready_timeout;
        self.slots[index].probe = Some(tokio::spawn(async move {
            let service = &plan.services[index];
            let ctx = ProbeContext { reaper: &reaper, cwd: &service.cwd, env: &service.env, log_matched };
            let event = match ready::wait(&probe, limit, ctx).await {
                Ok(()) => Event::Ready { index, generation },
                Err(error) => Event::NotReady { index, generation, error },
            };
            let _ = events.send(event).await;
        }));
        Ok(())
    }

    /// Stops every started service, dependents first, each group with its signal then SIGKILL.
    async fn shutdown(&mut self) {
        for slot in &mut self.slots {
            if let Some(probe) = slot.probe.take() {
                probe.abort();
            }
        }
        let plan = self.plan.clone();
        let mut remaining: Vec<usize> = (0..self.slots.len()).filter(|i| self.slots[*i].pgid.is_some()).collect();
        // Signals that arrive now only hurry the shutdown along.
        let events = &mut self.events;
        let hurry = self.hurry.clone();
        while !remaining.is_empty() {
            let wave: Vec<usize> = remaining
                .iter()
                .copied()
                .filter(|i| !remaining.iter().any(|j| plan.services[*j].depends_on.contains(&plan.services[*i].name)))
                .collect();
            let names: Vec<String> = wave.iter().map(|i| format!("`{}`", plan.services[*i].name)).collect();
            self.out.status(Level::Info, format!("stopping {}", names.join(", "))).await;
            let mut stopping = JoinSet::new();
            for &index in &wave {
                let service = &plan.services[index];
                let pgid = self.slots[index].pgid.take().expect("only started services are stopped");
                let mut running = self.slots[index].running.take();
                let (signal, grace) = (service.stop_signal, service.stop_grace);
                let mut hurry = hurry.subscribe();
                stopping.spawn(async move {
                    let stopped = process::stop_group(pgid, signal, grace, &mut hurry).await;
                    if let Some(running) = &mut running {
                        // Lines printed while stopping still reach the terminal and the log.
                        running.drain(Duration::from_secs(2)).await;
                    }
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
                    Some(event) = events.recv() => {
                        if let Event::Signal(_) = event {
                            hurry.send_replace(true);
                        }
                    }
                }
            }
            remaining.retain(|i| !wave.contains(i));
        }
    }
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

/// A duration for people: `312ms`, `6.2s`.
pub fn short(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{}ms", duration.as_millis())
    } else if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{:.1}s", duration.as_secs_f64())
    }
}
