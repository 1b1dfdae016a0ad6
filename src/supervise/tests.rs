//! The supervisor's state changes with a fake spawner: no processes, virtual time, milliseconds.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::{oneshot, watch};

use super::process::{LogWatch, Recent, Running, SpawnError};
use super::spawner::{BoxFuture, Exit, Spawner};
use super::{Outcome, Supervisor};
use crate::config::Restart;
use crate::output::{Colors, Out, Printer, Settings, Style};
use crate::plan::{Plan, ServicePlan};
use crate::system::group::Stopped;
use crate::system::reaper::{ExitStatus, Reaper};

/// Records what the supervisor asked for. A service with scripted exits exits at once with the
/// next one each time it starts; otherwise it runs until it is stopped.
#[derive(Default)]
struct Fake {
    log: Mutex<Vec<String>>,
    scripted: Mutex<HashMap<String, Vec<ExitStatus>>>,
    running: Mutex<HashMap<i32, (String, oneshot::Sender<ExitStatus>)>>,
    next_pid: Mutex<i32>,
}

impl Fake {
    fn script(self, service: &str, exits: &[ExitStatus]) -> Self {
        self.scripted.lock().unwrap().insert(service.to_owned(), exits.iter().rev().copied().collect());
        self
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Spawner for Fake {
    fn spawn(
        &self,
        _index: usize,
        service: &ServicePlan,
        _out: &Out,
        _recent: &Arc<Recent>,
        _log_watch: Option<&Arc<LogWatch>>,
    ) -> Result<(Running, Exit), SpawnError> {
        let pid = {
            let mut next = self.next_pid.lock().unwrap();
            *next += 1;
            1000 + *next
        };
        self.log.lock().unwrap().push(format!("start {}", service.name));
        let (tx, rx) = oneshot::channel();
        match self.scripted.lock().unwrap().get_mut(&service.name).and_then(Vec::pop) {
            Some(status) => {
                let _ = tx.send(status);
            }
            None => {
                self.running.lock().unwrap().insert(pid, (service.name.clone(), tx));
            }
        }
        Ok((Running::without_output(pid), rx))
    }

    fn stop(&self, pgid: i32, signal: Signal, _grace: Duration, _hurry: watch::Receiver<bool>) -> BoxFuture<Stopped> {
        // Only a service still running is stopped; one that exited is only cleaned up after.
        if let Some((name, tx)) = self.running.lock().unwrap().remove(&pgid) {
            self.log.lock().unwrap().push(format!("stop {name}"));
            let _ = tx.send(ExitStatus::Signal(signal));
        }
        Box::pin(async { Stopped::Gracefully })
    }
}

pub(super) fn service(name: &str, depends_on: &[&str], restart: Restart, max_restarts: u32) -> ServicePlan {
    ServicePlan {
        name: name.to_owned(),
        kind: None,
        command: vec!["fake".to_owned()],
        cwd: PathBuf::from("/"),
        env: std::collections::BTreeMap::new(),
        own_env: Vec::new(),
        withheld: Vec::new(),
        port: None,
        port_auto: false,
        task: false,
        watch: Vec::new(),
        watch_ignore: Vec::new(),
        url: None,
        ready: None,
        ready_timeout: Duration::from_secs(1),
        depends_on: depends_on.iter().map(|d| (*d).to_owned()).collect(),
        restart,
        max_restarts,
        stop_signal: Signal::SIGTERM,
        stop_grace: Duration::from_secs(1),
        wave: 0,
    }
}

pub(super) fn plan(services: Vec<ServicePlan>) -> Arc<Plan> {
    Arc::new(Plan {
        stack_name: "test".to_owned(),
        stack_file: PathBuf::from("/stack.toml"),
        dir: PathBuf::from("/"),
        services,
        secrets: Vec::new(),
        notes: Vec::new(),
        model: None,
        model_offline: false,
        run_id: "test".to_owned(),
        selected_all: true,
        tracing: None,
    })
}

/// A printer that shows nothing and writes no log files: the tests read the fake's log.
fn quiet_printer(plan: &Plan) -> Printer {
    let names: Vec<String> = plan.services.iter().map(|s| s.name.clone()).collect();
    let settings = Settings {
        colors: Colors { stdout: false, stderr: false },
        quiet: true,
        verbose: false,
        style: Style { show_services: false, ..Style::LIVE },
    };
    Printer::start(settings, &names, None, Vec::new()).unwrap()
}

/// Runs the stack with the fake until it ends by itself or, once all are ready, `stop_when_ready`.
async fn run(plan: Arc<Plan>, fake: Arc<Fake>, stop_when_ready: bool) -> Outcome {
    let printer = quiet_printer(&plan);
    let reaper = Reaper::start().unwrap();
    let (supervisor, mut control) = Supervisor::with_spawner(plan, printer.out(), reaper, fake);
    let task = tokio::spawn(supervisor.run());
    if stop_when_ready {
        control.all_ready.wait_for(|ready| *ready).await.unwrap();
        control.down().await;
    }
    let outcome = task.await.unwrap();
    printer.finish();
    outcome
}

fn failure(outcome: Outcome) -> crate::error::Error {
    match outcome {
        Outcome::Failed(error) => error,
        Outcome::Stopped | Outcome::Finished => panic!("the stack stopped without a failure"),
    }
}

#[tokio::test(start_paused = true)]
async fn starts_in_dependency_order_and_stops_dependents_first() {
    let plan = plan(vec![
        service("web", &["api"], Restart::No, 0),
        service("api", &["db"], Restart::No, 0),
        service("db", &[], Restart::No, 0),
        service("cache", &[], Restart::No, 0),
    ]);
    let fake = Arc::new(Fake::default());
    assert!(matches!(run(plan, fake.clone(), true).await, Outcome::Stopped));
    let log = fake.log();
    let at = |entry: &str| log.iter().position(|e| e == entry).unwrap_or_else(|| panic!("no `{entry}` in {log:?}"));
    assert!(at("start db") < at("start api") && at("start api") < at("start web"), "{log:?}");
    assert!(at("stop web") < at("stop api") && at("stop api") < at("stop db"), "{log:?}");
    assert!(at("stop cache") < at("stop api"), "{log:?}");
    assert_eq!(log.len(), 8, "{log:?}");
}

#[tokio::test(start_paused = true)]
async fn a_crash_without_restart_stops_the_stack_and_names_the_service() {
    let plan = plan(vec![service("steady", &[], Restart::No, 0), service("crashy", &[], Restart::No, 5)]);
    let fake = Arc::new(Fake::default().script("crashy", &[ExitStatus::Code(3)]));
    let error = failure(run(plan, fake.clone(), false).await);
    assert_eq!(error.summary, "service `crashy` exited with code 3");
    assert!(error.hint.unwrap().contains("`restart = \"on-failure\"`"));
    assert_eq!(fake.log(), ["start steady", "start crashy", "stop steady"]);
}

#[tokio::test(start_paused = true)]
async fn on_failure_restarts_with_growing_back_off_then_gives_up() {
    let plan = plan(vec![service("flaky", &[], Restart::OnFailure, 2)]);
    let crash = ExitStatus::Code(1);
    let fake = Arc::new(Fake::default().script("flaky", &[crash, crash, crash]));
    let began = tokio::time::Instant::now();
    let error = failure(run(plan, fake.clone(), false).await);
    assert_eq!(error.summary, "service `flaky` exited with code 1 after 2 restarts");
    assert!(error.hint.unwrap().contains("raise `max_restarts`"));
    assert_eq!(fake.log(), ["start flaky"; 3]);
    // Virtual time: the two back-offs (250 ms, then 500 ms) were waited out.
    assert!(began.elapsed() >= Duration::from_millis(750), "{:?}", began.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_clean_exit_is_not_restarted_on_failure_but_is_with_always() {
    let clean = ExitStatus::Code(0);
    let plan_of = |restart| plan(vec![service("job", &[], restart, 1)]);
    let fake = Arc::new(Fake::default().script("job", &[clean]));
    let error = failure(run(plan_of(Restart::OnFailure), fake.clone(), false).await);
    assert_eq!(error.summary, "service `job` exited with code 0");
    assert_eq!(fake.log(), ["start job"]);

    let fake = Arc::new(Fake::default().script("job", &[clean, clean]));
    let error = failure(run(plan_of(Restart::Always), fake.clone(), false).await);
    assert_eq!(error.summary, "service `job` exited with code 0 after 1 restart");
    assert_eq!(fake.log(), ["start job", "start job"]);
}

/// A running stack under the fake, with its control handle; `down` ends it.
struct Up {
    control: super::Control,
    task: tokio::task::JoinHandle<Outcome>,
    printer: Printer,
}

async fn up(plan: Arc<Plan>, fake: Arc<Fake>) -> Up {
    let printer = quiet_printer(&plan);
    let reaper = Reaper::start().unwrap();
    let (supervisor, mut control) = Supervisor::with_spawner(plan, printer.out(), reaper, fake);
    let task = tokio::spawn(supervisor.run());
    control.all_ready.wait_for(|ready| *ready).await.unwrap();
    Up { control, task, printer }
}

impl Up {
    async fn pids(&self) -> HashMap<String, Option<i32>> {
        self.control.status().await.unwrap().into_iter().map(|s| (s.name, s.pid)).collect()
    }

    async fn phase(&self, name: &str) -> crate::control::Phase {
        self.control.status().await.unwrap().into_iter().find(|s| s.name == name).unwrap().state
    }

    async fn down(self) -> Outcome {
        self.control.down().await;
        let outcome = self.task.await.unwrap();
        self.printer.finish();
        outcome
    }
}

/// a <- b <- c, and d on its own.
fn chain() -> Arc<Plan> {
    plan(vec![
        service("a", &[], Restart::No, 0),
        service("b", &["a"], Restart::No, 0),
        service("c", &["b"], Restart::No, 0),
        service("d", &[], Restart::No, 0),
    ])
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(start_paused = true)]
async fn restart_stops_dependents_first_and_leaves_the_others_running() {
    let fake = Arc::new(Fake::default());
    let stack = up(chain(), fake.clone()).await;
    let before = stack.pids().await;
    let logged = fake.log().len();
    let done = stack.control.restart(&names(&["b"]), true).await.unwrap();
    assert_eq!(done.restarted, ["b", "c"]);
    assert_eq!(fake.log()[logged..], ["stop c", "stop b", "start b", "start c"]);
    let after = stack.pids().await;
    assert_eq!(after["a"], before["a"]);
    assert_eq!(after["d"], before["d"]);
    assert_ne!(after["b"], before["b"]);
    assert_ne!(after["c"], before["c"]);
    let status = stack.control.status().await.unwrap();
    let b = status.iter().find(|s| s.name == "b").unwrap();
    assert_eq!((b.state, b.restarts), (crate::control::Phase::Ready, 1));
    assert!(matches!(stack.down().await, Outcome::Stopped));
}

#[tokio::test(start_paused = true)]
async fn restart_without_dependents_restarts_only_the_named() {
    let fake = Arc::new(Fake::default());
    let stack = up(chain(), fake.clone()).await;
    let before = stack.pids().await;
    let logged = fake.log().len();
    let done = stack.control.restart(&names(&["b"]), false).await.unwrap();
    assert_eq!(done.restarted, ["b"]);
    assert_eq!(fake.log()[logged..], ["stop b", "start b"]);
    assert_eq!(stack.pids().await["c"], before["c"]);
    let error = stack.control.restart(&names(&["zz"]), false).await.unwrap_err();
    assert!(error.to_string().contains("no service `zz`"), "{error}");
    assert!(matches!(stack.down().await, Outcome::Stopped));
}

#[tokio::test(start_paused = true)]
async fn a_stopped_service_stays_stopped_fails_nothing_and_starts_again_with_what_it_needs() {
    use crate::control::Phase;
    let fake = Arc::new(Fake::default());
    let stack = up(chain(), fake.clone()).await;
    let logged = fake.log().len();
    let done = stack.control.stop(&names(&["b"])).await.unwrap();
    assert_eq!(done.stopped, ["b", "c"]);
    assert_eq!(fake.log()[logged..], ["stop c", "stop b"]);
    assert_eq!(stack.phase("b").await, Phase::Stopped);
    assert_eq!(stack.phase("a").await, Phase::Ready);
    let waited = stack.control.wait(&names(&["c"]), Duration::from_secs(5)).await.unwrap_err();
    assert!(waited.to_string().contains("is stopped"), "{waited}");
    // Starting `c` starts `b`, which it needs, first.
    let done = stack.control.start(&names(&["c"])).await.unwrap();
    assert_eq!(done.started, ["b", "c"]);
    assert_eq!(fake.log()[logged + 2..], ["start b", "start c"]);
    assert_eq!(stack.phase("c").await, Phase::Ready);
    assert!(matches!(stack.down().await, Outcome::Stopped));
}

#[tokio::test(start_paused = true)]
async fn a_restart_that_fails_to_start_is_reported_and_the_rest_keeps_running() {
    use crate::control::Phase;
    let fake = Arc::new(Fake::default());
    let stack = up(chain(), fake.clone()).await;
    // The new definition waits for a line nobody prints, so the exit comes before ready.
    let mut fresh = Arc::try_unwrap(chain()).ok().unwrap();
    fresh.services[3].ready = Some(crate::config::Probe::Log(regex::Regex::new("never printed").unwrap()));
    fresh.services[3].ready_timeout = Duration::from_mins(10);
    fake.scripted.lock().unwrap().insert("d".to_owned(), vec![ExitStatus::Code(4)]);
    let error = stack.control.restart_with(Arc::new(fresh), &names(&["d"]), true).await.unwrap_err();
    let error = error.to_string();
    assert!(error.contains("`d`") && error.contains("exited with code 4"), "{error}");
    assert_eq!(stack.phase("d").await, Phase::Failed);
    assert_eq!(stack.phase("a").await, Phase::Ready);
    let status = stack.control.status().await.unwrap();
    assert_eq!(status.iter().find(|s| s.name == "d").unwrap().last_exit.as_deref(), Some("exited with code 4"));
    // It can be started again once fixed.
    stack.control.restart_with(chain(), &names(&["d"]), false).await.unwrap();
    assert_eq!(stack.phase("d").await, Phase::Ready);
    assert!(matches!(stack.down().await, Outcome::Stopped));
}

#[tokio::test(start_paused = true)]
async fn apply_restarts_what_changed_with_dependents_and_stops_what_was_removed() {
    let fake = Arc::new(Fake::default());
    let stack = up(chain(), fake.clone()).await;
    let before = stack.pids().await;
    let logged = fake.log().len();
    let mut b = service("b", &["a"], Restart::No, 0);
    b.env.insert("API_KEY".into(), "new-secret-value".into());
    let fresh = plan(vec![service("a", &[], Restart::No, 0), b, service("c", &["b"], Restart::No, 0)]);
    let done = stack.control.apply(fresh).await.unwrap();
    assert_eq!(done.restarted, ["b", "c"]);
    assert_eq!(done.stopped, ["d"]);
    assert_eq!(done.variables, [crate::control::Variables { service: "b".into(), names: vec!["API_KEY".into()] }]);
    assert!(!format!("{done:?}").contains("new-secret-value"));
    let log = fake.log()[logged..].to_vec();
    assert!(
        log.contains(&"stop d".to_owned()) && log.ends_with(&["start b".to_owned(), "start c".to_owned()]),
        "{log:?}"
    );
    let after = stack.pids().await;
    assert_eq!(after["a"], before["a"]);
    assert!(!after.contains_key("d"), "a removed service is no longer shown");
    // Nothing changed: nothing restarts.
    let again = plan(vec![service("a", &[], Restart::No, 0), service("c", &["b"], Restart::No, 0)]);
    let mut b = service("b", &["a"], Restart::No, 0);
    b.env.insert("API_KEY".into(), "new-secret-value".into());
    let mut services = Arc::try_unwrap(again).ok().unwrap();
    services.services.insert(1, b);
    let done = stack.control.apply(Arc::new(services)).await.unwrap();
    assert_eq!(done, crate::control::Done::default());
    assert!(matches!(stack.down().await, Outcome::Stopped));
}

#[tokio::test(start_paused = true)]
async fn restart_with_a_fresh_plan_names_the_changed_variables() {
    let fake = Arc::new(Fake::default());
    let stack = up(chain(), fake.clone()).await;
    let mut fresh = Arc::try_unwrap(chain()).ok().unwrap();
    fresh.services[0].env.insert("GREETING".into(), "hello".into());
    fresh.services[3].env.insert("UNRELATED".into(), "x".into());
    let done = stack.control.restart_with(Arc::new(fresh), &names(&["a"]), false).await.unwrap();
    assert_eq!(done.restarted, ["a"]);
    assert_eq!(done.variables, [crate::control::Variables { service: "a".into(), names: vec!["GREETING".into()] }]);
    // Only the named service took the new definition: `d` was neither restarted nor changed.
    let again = stack.control.restart_with(chain(), &names(&["d"]), false).await.unwrap();
    assert!(again.variables.is_empty());
    assert!(matches!(stack.down().await, Outcome::Stopped));
}

#[tokio::test(start_paused = true)]
async fn down_stops_everything_dependents_first() {
    let fake = Arc::new(Fake::default());
    let stack = up(chain(), fake.clone()).await;
    let logged = fake.log().len();
    assert!(matches!(stack.down().await, Outcome::Stopped));
    let log = fake.log()[logged..].to_vec();
    assert_eq!(log.len(), 4, "{log:?}");
    let at = |e: &str| log.iter().position(|l| l == e).unwrap();
    assert!(at("stop c") < at("stop b") && at("stop b") < at("stop a"), "{log:?}");
}

#[tokio::test(start_paused = true)]
async fn a_removed_service_put_back_in_the_file_starts_again() {
    let fake = Arc::new(Fake::default());
    let stack = up(chain(), fake.clone()).await;
    let without_d = plan(vec![
        service("a", &[], Restart::No, 0),
        service("b", &["a"], Restart::No, 0),
        service("c", &["b"], Restart::No, 0),
    ]);
    assert_eq!(stack.control.apply(without_d).await.unwrap().stopped, ["d"]);
    let done = stack.control.apply(chain()).await.unwrap();
    assert_eq!(done.started, ["d"]);
    assert_eq!(stack.phase("d").await, crate::control::Phase::Ready);
    assert!(matches!(stack.down().await, Outcome::Stopped));
}

#[tokio::test(start_paused = true)]
async fn a_service_added_to_the_file_starts_after_what_it_needs() {
    let fake = Arc::new(Fake::default());
    let stack = up(chain(), fake.clone()).await;
    let before = stack.pids().await;
    let logged = fake.log().len();
    let mut with_e = Arc::try_unwrap(chain()).ok().unwrap();
    with_e.services.push(service("e", &["c"], Restart::No, 0));
    let done = stack.control.apply(Arc::new(with_e)).await.unwrap();
    assert_eq!(done.started, ["e"]);
    assert!(done.restarted.is_empty() && done.stopped.is_empty(), "{done:?}");
    assert_eq!(stack.phase("e").await, crate::control::Phase::Ready);
    assert_eq!(fake.log()[logged..], ["start e".to_owned()]);
    let after = stack.pids().await;
    for name in ["a", "b", "c", "d"] {
        assert_eq!(after[name], before[name], "`{name}` keeps running");
    }
    assert!(matches!(stack.down().await, Outcome::Stopped));
}

fn task(name: &str, depends_on: &[&str]) -> ServicePlan {
    ServicePlan { task: true, ..service(name, depends_on, Restart::No, 0) }
}

#[tokio::test(start_paused = true)]
async fn a_task_that_exits_0_completes_and_its_dependents_start_after_it() {
    let plan = plan(vec![
        service("web", &["migrate"], Restart::No, 0),
        task("migrate", &["db"]),
        service("db", &[], Restart::No, 0),
    ]);
    let fake = Arc::new(Fake::default().script("migrate", &[ExitStatus::Code(0)]));
    // All ready (the task completed) and still running until stopped: the exit 0 did not stop it.
    assert!(matches!(run(plan, fake.clone(), true).await, Outcome::Stopped));
    assert_eq!(fake.log(), ["start db", "start migrate", "start web", "stop web", "stop db"]);
}

#[tokio::test(start_paused = true)]
async fn a_task_that_fails_fails_the_start_and_its_dependents_never_start() {
    let plan = plan(vec![task("migrate", &[]), service("web", &["migrate"], Restart::No, 0)]);
    let fake = Arc::new(Fake::default().script("migrate", &[ExitStatus::Code(2)]));
    let error = failure(run(plan, fake.clone(), false).await);
    assert_eq!(error.summary, "service `migrate` exited with code 2 before it was ready");
    assert_eq!(fake.log(), ["start migrate"]);
}

#[tokio::test(start_paused = true)]
async fn a_service_without_a_probe_becomes_ready_even_when_the_event_channel_is_full() {
    let plan = plan(vec![service("a", &[], Restart::No, 0), service("b", &["a"], Restart::No, 0)]);
    let fake = Arc::new(Fake::default());
    let printer = quiet_printer(&plan);
    let reaper = Reaper::start().unwrap();
    let (supervisor, mut control) = Supervisor::with_spawner(plan, printer.out(), reaper, fake.clone());
    // Requests queued before the loop runs fill the channel: `a`'s readiness, decided while
    // starting it, finds no room there.
    let mut queued = 0;
    while control.events.try_send(super::Event::Request(super::control::Request::Status(oneshot::channel().0))).is_ok()
    {
        queued += 1;
    }
    assert_eq!((queued, control.events.capacity()), (256, 0));
    let task = tokio::spawn(supervisor.run());
    // Virtual time: a lost event would leave `a` starting and `b` pending until this gives up.
    let ready = tokio::time::timeout(Duration::from_mins(10), control.all_ready.wait_for(|ready| *ready)).await.is_ok();
    assert!(ready, "never all ready: {:?}", control.phases.borrow());
    assert_eq!(fake.log(), ["start a", "start b"]);
    control.down().await;
    assert!(matches!(task.await.unwrap(), Outcome::Stopped));
    printer.finish();
}
