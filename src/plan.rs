//! From a validated `Stack` to what will run: the selected services in start order, each with its
//! final command, environment and probe. Nothing starts before the whole plan exists, so every
//! mistake that can be found without running anything is found here.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::config::{self, KindName, Probe, Restart, Stack};
use crate::error::{Error, Result};
use crate::kinds;
use crate::secret::{self, Secret};

pub struct Plan {
    pub stack_name: String,
    pub stack_file: PathBuf,
    pub dir: PathBuf,
    /// Selected services in start order (dependencies first, then declaration order).
    pub services: Vec<ServicePlan>,
    /// Values that must never be printed, with the name shown in their place.
    pub secrets: Vec<Secret>,
    /// Lines worth telling the user before starting (e.g. which model was chosen and why).
    pub notes: Vec<String>,
    /// The model AG-UI servers ask the proxy for, when the stack has a proxy.
    pub model: Option<String>,
    /// Whether that model is the offline one (canned answers, no key).
    pub model_offline: bool,
    /// Unique per run and set as `AGUI_DEV_RUN` in every service's environment, so that processes
    /// that left their process group can still be found (environments are inherited).
    pub run_id: String,
    /// Whether the run was asked for every service (`up`), not a selection (`up agui`).
    pub selected_all: bool,
}

#[derive(Clone)]
pub struct ServicePlan {
    pub name: String,
    pub kind: Option<KindName>,
    /// Program and arguments, program first.
    pub command: Vec<String>,
    pub cwd: PathBuf,
    /// The complete environment the service gets.
    pub env: BTreeMap<String, String>,
    /// The variables the stack sets (files, `env`, wiring), as opposed to inherited ones.
    pub own_env: Vec<String>,
    pub port: Option<u16>,
    /// The port was chosen at start (`port = "auto"`).
    pub port_auto: bool,
    /// A one-shot job: done (`completed`) when it exits 0; dependents start then.
    pub task: bool,
    /// Globs (relative to `cwd`) whose files restart the service, and those that never do.
    pub watch: Vec<String>,
    pub watch_ignore: Vec<String>,
    /// Where people and other services reach it: the kind's endpoint, else `http://127.0.0.1:PORT`.
    pub url: Option<String>,
    pub ready: Option<Probe>,
    pub ready_timeout: Duration,
    pub depends_on: Vec<String>,
    pub restart: Restart,
    pub max_restarts: u32,
    pub stop_signal: Signal,
    pub stop_grace: Duration,
    /// 0 for services without dependencies, else one more than the deepest dependency.
    pub wave: usize,
}

/// Builds the plan for `selected` services (all when empty) and what they depend on.
pub fn build(stack: &Stack, selected: &[String]) -> Result<Plan> {
    build_with(stack, selected, None)
}

/// The plan of a running stack built again from a fresh read of its files (a restart or a
/// reload): the same services, the same run marker, and the generated master key kept, so only
/// what the user changed differs.
pub fn build_again(stack: &Stack, previous: &Plan) -> Result<Plan> {
    // A whole-stack run takes services added to the file too; a selection stays a selection.
    let selected: Vec<String> =
        if previous.selected_all { Vec::new() } else { previous.services.iter().map(|s| s.name.clone()).collect() };
    build_with(stack, &selected, Some(previous))
}

fn build_with(stack: &Stack, selected: &[String], previous: Option<&Plan>) -> Result<Plan> {
    let by_name: HashMap<&str, &config::Service> = stack.services.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut wanted: Vec<&str> = Vec::new();
    let mut queue: Vec<&str> = if selected.is_empty() {
        stack.services.iter().map(|s| s.name.as_str()).collect()
    } else {
        selected.iter().map(String::as_str).collect()
    };
    while let Some(name) = queue.pop() {
        let Some(service) = by_name.get(name) else {
            let names: Vec<&str> = stack.services.iter().map(|s| s.name.as_str()).collect();
            let hint = match config::nearest(name, &names) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("services in `{}`: {}", stack.source.shown, names.join(", ")),
            };
            return Err(Error::usage(format!("there is no service `{name}`")).hint(hint));
        };
        if !wanted.contains(&name) {
            wanted.push(name);
            queue.extend(service.depends_on.iter().map(String::as_str));
        }
    }

    let mut waves: HashMap<&str, usize> = HashMap::new();
    // Dependencies are acyclic (checked by config), so repeated relaxation terminates.
    for _ in 0..stack.services.len() {
        for service in &stack.services {
            let wave = service.depends_on.iter().map(|d| waves.get(d.as_str()).map_or(1, |w| w + 1)).max().unwrap_or(0);
            waves.insert(&service.name, wave);
        }
    }

    let mut wiring = kinds::Wiring::new(stack)?;
    let run_id = previous.map_or_else(|| secret::random_hex(8), |p| p.run_id.clone());
    let kept_key = previous
        .filter(|_| wiring.generated_key)
        .and_then(|previous| previous.secrets.iter().find(|s| s.name == "LITELLM_MASTER_KEY"));
    if let Some(key) = kept_key {
        wiring.master_key = Some(key.value.clone());
    }
    let mut services = Vec::new();
    for service in stack.services.iter().filter(|s| wanted.contains(&s.name.as_str())) {
        services.push(plan_service(stack, service, waves[service.name.as_str()], &wiring, &run_id)?);
    }
    services.sort_by_key(|s| s.wave);

    let mut secrets: Vec<Secret> = Vec::new();
    for service in &services {
        secret::collect(&mut secrets, &service.env);
    }
    if let Some(key) = wiring.master_key.as_ref().filter(|key| !secrets.iter().any(|s| &s.value == *key)) {
        secrets.push(Secret { name: "LITELLM_MASTER_KEY".to_owned(), value: key.clone() });
    }
    secret::sort(&mut secrets);

    Ok(Plan {
        stack_name: stack.name.clone(),
        stack_file: stack.source.path.clone(),
        dir: stack.dir.clone(),
        services,
        secrets,
        notes: wiring.notes.clone(),
        model: wiring.model.clone(),
        model_offline: wiring.model_offline,
        run_id,
        selected_all: selected.is_empty(),
    })
}

fn plan_service(
    stack: &Stack,
    service: &config::Service,
    wave: usize,
    wiring: &kinds::Wiring,
    run_id: &str,
) -> Result<ServicePlan> {
    let mut env = EnvBuilder { env: std::env::vars().collect(), own: Vec::new() };
    for (key, value) in &service.file_env {
        env.set(key, value.clone());
    }
    if let Some(port) = service.port {
        env.set("PORT", port.to_string());
    }
    env.set("PYTHONUNBUFFERED", "1".to_owned());
    env.set(RUN_VAR, run_id.to_owned());
    let defaults = wiring.defaults(service).map_err(|error| stack.source.locate(&service.span, error))?;
    for key in &defaults.remove_env {
        env.env.remove(*key);
        env.own.retain(|k| k != key);
    }
    for (key, value) in defaults.env {
        // What the stack file sets explicitly wins over the wiring.
        if !service.env.contains_key(&key) {
            env.set(&key, value);
        }
    }
    for (key, value) in &service.env {
        env.set(key, value.clone());
    }

    let command = match (&service.command, defaults.command) {
        (Some(command), _) => command.clone(),
        (None, Some(command)) => command,
        (None, None) => {
            return Err(stack
                .source
                .error(&service.span, format!("service `{}` has no `command`", service.name))
                .hint("add `command = \"...\"`, e.g. `command = \"npm run dev\"`"));
        }
    };
    // Without a probe, a service with a port is ready when the port accepts connections; one
    // without a port is ready once started.
    let ready_timeout = match (&service.ready, defaults.ready_timeout) {
        (None, Some(timeout)) => timeout,
        _ => service.ready_timeout,
    };
    // A task is done when it exits 0: it has no probe.
    let ready = if service.task {
        None
    } else {
        service.ready.clone().or(defaults.ready).or_else(|| service.port.map(|p| Probe::Tcp(format!("127.0.0.1:{p}"))))
    };

    Ok(ServicePlan {
        name: service.name.clone(),
        kind: service.kind,
        command,
        cwd: service.cwd.clone(),
        env: env.env,
        own_env: env.own,
        port: service.port,
        port_auto: service.port_auto,
        task: service.task,
        watch: service.watch.clone(),
        watch_ignore: service.watch_ignore.clone(),
        url: service.port.map(|port| match service.kind {
            Some(kind) => kinds::of(kind).endpoint(port),
            None => format!("http://127.0.0.1:{port}"),
        }),
        ready,
        ready_timeout,
        depends_on: service.depends_on.clone(),
        restart: service.restart,
        max_restarts: service.max_restarts,
        stop_signal: service.stop_signal,
        stop_grace: service.stop_grace,
        wave,
    })
}

/// The variable that marks every process of one run.
pub const RUN_VAR: &str = "AGUI_DEV_RUN";

/// A service's environment and the keys the stack itself set in it.
struct EnvBuilder {
    env: BTreeMap<String, String>,
    own: Vec<String>,
}

impl EnvBuilder {
    fn set(&mut self, key: &str, value: String) {
        self.env.insert(key.to_owned(), value);
        if !self.own.iter().any(|k| k == key) {
            self.own.push(key.to_owned());
        }
    }
}
