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
use crate::output::short;
use crate::secret::{self, Secret};

mod tracing;
pub use tracing::Tracing;

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
    /// The trace receiver every service sends its spans to, when `up` runs one.
    pub tracing: Option<Tracing>,
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
    /// Names of the stack's secrets (its stack-level env files, agui-dev's environment, the master
    /// key) that this service does not get (`kinds::inherits`), for `check` and `doctor`.
    pub withheld: Vec<String>,
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
    build_traced(stack, selected, None)
}

/// `build`, with every service pointed at the trace receiver `tracing`.
pub fn build_traced(stack: &Stack, selected: &[String], tracing: Option<Tracing>) -> Result<Plan> {
    build_in(stack, selected, None, tracing, &std::env::vars().collect())
}

/// The plan of a running stack built again from a fresh read of its files (a restart or a
/// reload): the same services, the same run marker, and the generated master key kept, so only
/// what the user changed differs.
pub fn build_again(stack: &Stack, previous: &Plan) -> Result<Plan> {
    // A whole-stack run takes services added to the file too; a selection stays a selection.
    let selected: Vec<String> =
        if previous.selected_all { Vec::new() } else { previous.services.iter().map(|s| s.name.clone()).collect() };
    build_in(stack, &selected, Some(previous), previous.tracing.clone(), &std::env::vars().collect())
}

/// `build_with` for agui-dev's environment `process_env` (the services inherit from it).
fn build_in(
    stack: &Stack,
    selected: &[String],
    previous: Option<&Plan>,
    tracing: Option<Tracing>,
    process_env: &BTreeMap<String, String>,
) -> Result<Plan> {
    let wanted = with_dependencies(stack, selected)?;
    let waves = waves(stack);

    let mut wiring = kinds::Wiring::new(stack)?;
    wiring.traced = tracing.is_some();
    let run_id = previous.map_or_else(|| secret::random_hex(8), |p| p.run_id.clone());
    if let Some(previous) = previous {
        wiring.keep_generated(&previous.secrets);
    }
    let stack_secrets = stack_secret_names(stack, process_env, &wiring);
    let mut services = Vec::new();
    for service in stack.services.iter().filter(|s| wanted.contains(&s.name.as_str())) {
        let wave = waves[service.name.as_str()];
        let run = Run { id: &run_id, tracing: tracing.as_ref(), process_env };
        services.push(plan_service(stack, service, wave, &wiring, &run, &stack_secrets)?);
    }
    services.sort_by_key(|s| s.wave);

    let secrets = every_secret(stack, &services, &wiring, process_env);
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
        tracing,
    })
}

/// The selected services and everything they depend on, by name (all when none is selected).
fn with_dependencies<'a>(stack: &'a Stack, selected: &'a [String]) -> Result<Vec<&'a str>> {
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
    Ok(wanted)
}

/// Each service's wave: 0 without dependencies, else one more than its latest dependency.
fn waves(stack: &Stack) -> HashMap<&str, usize> {
    let mut waves: HashMap<&str, usize> = HashMap::new();
    // Dependencies are acyclic (checked by config), so repeated relaxation terminates.
    for _ in 0..stack.services.len() {
        for service in &stack.services {
            let wave = service.depends_on.iter().map(|d| waves.get(d.as_str()).map_or(1, |w| w + 1)).max().unwrap_or(0);
            waves.insert(&service.name, wave);
        }
    }
    waves
}

/// Every secret of the stack, also those no service gets: redaction never depends on the
/// scoping. The wiring's first, so they keep their own names (`build_again` finds them by it).
fn every_secret(
    stack: &Stack,
    services: &[ServicePlan],
    wiring: &kinds::Wiring,
    process_env: &BTreeMap<String, String>,
) -> Vec<Secret> {
    let mut secrets: Vec<Secret> = wiring.secrets();
    secret::collect(&mut secrets, process_env);
    for service in &stack.services {
        secret::collect(&mut secrets, &service.file_env);
    }
    for service in services {
        secret::collect(&mut secrets, &service.env);
    }
    secret::sort(&mut secrets);
    secrets
}

/// The names of the stack's secrets: secret-named variables of the stack-level env files and of
/// agui-dev's environment, and those of the wiring (the master key when the stack has a proxy).
fn stack_secret_names(stack: &Stack, process_env: &BTreeMap<String, String>, wiring: &kinds::Wiring) -> Vec<String> {
    let mut names: Vec<String> =
        stack.file_keys.iter().chain(process_env.keys()).filter(|key| secret::is_secret_name(key)).cloned().collect();
    names.extend(wiring.secrets().into_iter().map(|s| s.name));
    names.sort();
    names.dedup();
    names
}

fn plan_service(
    stack: &Stack,
    service: &config::Service,
    wave: usize,
    wiring: &kinds::Wiring,
    run: &Run<'_>,
    stack_secrets: &[String],
) -> Result<ServicePlan> {
    let defaults = wiring.defaults(service).map_err(|error| stack.source.locate(&service.span, error))?;
    let env = environment(service, &defaults, &stack.name, run);

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

    let withheld = stack_secrets.iter().filter(|name| !env.env.contains_key(*name)).cloned().collect();
    Ok(ServicePlan {
        name: service.name.clone(),
        kind: service.kind,
        command,
        cwd: service.cwd.clone(),
        env: env.env,
        own_env: env.own,
        withheld,
        port: service.port,
        port_auto: service.port_auto,
        task: service.task,
        watch: service.watch.clone(),
        watch_ignore: service.watch_ignore.clone(),
        url: service.port.map(|port| match service.kind.and_then(kinds::of) {
            Some(kind) => kind.endpoint(port),
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

/// What every service of one run shares.
struct Run<'a> {
    id: &'a str,
    tracing: Option<&'a Tracing>,
    /// agui-dev's environment: the services inherit from it.
    process_env: &'a BTreeMap<String, String>,
}

/// The service's environment, each later source winning: agui-dev's own (secrets scoped by
/// `kinds::inherits`) and the env files, `PORT` and the run's variables, the trace receiver's, the
/// kind's wiring, the service's `env`.
fn environment(service: &config::Service, defaults: &kinds::Defaults, stack: &str, run: &Run<'_>) -> EnvBuilder {
    let process_env = run.process_env;
    let inherited = process_env.iter().filter(|(key, _)| kinds::inherits(service, key));
    let mut env = EnvBuilder { env: inherited.map(|(k, v)| (k.clone(), v.clone())).collect(), own: Vec::new() };
    for (key, value) in service.file_env.iter().filter(|(key, _)| kinds::inherits(service, key)) {
        env.set(key, value.clone());
    }
    if let Some(port) = service.port {
        env.set("PORT", port.to_string());
    }
    env.set("PYTHONUNBUFFERED", "1".to_owned());
    env.set(RUN_VAR, run.id.to_owned());
    if let Some(tracing) = run.tracing {
        for key in tracing::USERS {
            env.env.remove(key);
        }
        let inherited = |key: &str| env.env.get(key).cloned();
        for (key, value) in tracing::variables(tracing, &service.name, stack, run.id, inherited) {
            env.set(key, value);
        }
    }
    for key in &defaults.remove_env {
        env.env.remove(*key);
        env.own.retain(|k| k != key);
    }
    for (key, value) in &defaults.env {
        // What the stack file sets explicitly wins over the wiring.
        if !service.env.contains_key(key) {
            env.set(key, value.clone());
        }
    }
    for (key, value) in &service.env {
        env.set(key, value.clone());
    }
    env
}

/// The variable that marks every process of one run.
pub const RUN_VAR: &str = "AGUI_DEV_RUN";

impl Plan {
    /// Each declared port something already listens on, as `port 4000 of `litellm` is held by
    /// pid 42 (litellm ...)`: nothing may start then.
    pub fn taken_ports(&self) -> Vec<String> {
        let mut taken = Vec::new();
        for service in &self.services {
            let Some(port) = service.port else { continue };
            if crate::system::ports::is_free(port) {
                continue;
            }
            let holder = match crate::system::ports::holder(port) {
                Some(holder) => format!("held by {holder}"),
                None => "held by another process".to_owned(),
            };
            taken.push(format!("port {port} of `{}` is {holder}", service.name));
        }
        taken
    }

    /// The plan for people (`agui-dev check`): the start order, the notes, and each service's
    /// command, port, probe, restart and stop policy, and environment with secrets masked.
    pub fn describe(&self, missing_env_files: &[PathBuf]) -> Vec<String> {
        let mut text = vec![format!("stack `{}` ({})", self.stack_name, self.stack_file.display())];
        let order: Vec<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
        text.push(format!("start order: {}", order.join(", ")));
        for missing in missing_env_files {
            text.push(format!("note: env file `{}` does not exist; skipped", missing.display()));
        }
        for note in &self.notes {
            text.push(format!("note: {note}"));
        }
        for service in &self.services {
            text.push(String::new());
            text.push(service.name.clone());
            text.extend(service.describe());
        }
        text
    }
}

impl ServicePlan {
    /// The names of the secret-named variables the service gets, sorted.
    pub fn secret_names(&self) -> Vec<&str> {
        self.env.keys().map(String::as_str).filter(|key| secret::is_secret_name(key)).collect()
    }

    /// The service's rows of `describe`, each `  key  value`.
    fn describe(&self) -> Vec<String> {
        let mut text = Vec::new();
        let row = |key: &str, value: String| format!("  {key:<9} {value}");
        text.push(row("command", shell_words::join(&self.command)));
        text.push(row("cwd", self.cwd.display().to_string()));
        let port = match self.port {
            // The number this check got is the one its `PORT` and `${PORT}` show; `up` picks again.
            Some(port) if self.port_auto => format!("auto (chosen at start; {port} in this check)"),
            Some(port) => port.to_string(),
            None => "-".to_owned(),
        };
        text.push(row("port", port));
        if self.task {
            text.push(row("task", "runs to completion; dependents start when it exits 0".to_owned()));
        }
        if !self.watch.is_empty() {
            let ignore = if self.watch_ignore.is_empty() {
                String::new()
            } else {
                format!(" (ignoring {})", self.watch_ignore.join(", "))
            };
            text.push(row("watch", format!("{}{ignore}", self.watch.join(", "))));
        }
        text.push(row(
            "ready",
            self.ready
                .as_ref()
                .map_or_else(|| "when started".to_owned(), |p| format!("{p} (timeout {})", short(self.ready_timeout))),
        ));
        text.push(row("after", if self.depends_on.is_empty() { "-".to_owned() } else { self.depends_on.join(", ") }));
        let restart = match self.restart {
            Restart::No => "no".to_owned(),
            Restart::OnFailure => format!("on-failure (at most {})", self.max_restarts),
            Restart::Always => format!("always (at most {})", self.max_restarts),
        };
        text.push(row("restart", restart));
        text.push(row("stop", format!("{}, SIGKILL after {}", self.stop_signal.as_str(), short(self.stop_grace))));
        // Names only: which secrets reach the service, and which of the stack's it is kept from.
        let secrets = self.secret_names();
        text.push(row("secrets", if secrets.is_empty() { "-".to_owned() } else { secrets.join(", ") }));
        if !self.withheld.is_empty() {
            text.push(row("withheld", self.withheld.join(", ")));
        }
        let mut keys = self.own_env.clone();
        keys.sort();
        for (i, key) in keys.iter().enumerate() {
            let value = &self.env[key];
            let shown = if secret::is_secret_name(key) { secret::mask(value) } else { value.clone() };
            text.push(row(if i == 0 { "env" } else { "" }, format!("{key}={shown}")));
        }
        text
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    const STACK: &str = r#"
[stack]
env_files = [".env"]

[services.proxy]
kind = "litellm"
command = "true"
port = 14001

[services.tools]
kind = "mcp"
command = "true"
port = 13101

[services.agent]
kind = "agui"
command = "true"
port = 13001

[services.plain]
command = "true"

[services.opted]
command = "true"
env = { UNIT_PROVIDER_API_KEY = "${UNIT_PROVIDER_API_KEY}", FROM_FILE = "${UNIT_PROVIDER_API_KEY}" }
env_files = ["opted.env"]
"#;

    /// The stack above, with a stack-level `.env` holding a provider key and the master key, and
    /// `opted`'s own env file holding a token.
    fn plan_of(process_env: &[(&str, &str)]) -> Plan {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stack.toml"), STACK).unwrap();
        std::fs::write(
            dir.path().join(".env"),
            "UNIT_PROVIDER_API_KEY=sk-unit-provider-0001\nLITELLM_MASTER_KEY=sk-unit-master-0002\nUNIT_SETTING=plain-value\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("opted.env"), "UNIT_OWN_TOKEN=tok-unit-own-0003\n").unwrap();
        let stack = kinds::load(&dir.path().join("stack.toml")).unwrap();
        let env = process_env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        build_in(&stack, &[], None, None, &env).unwrap()
    }

    fn service<'a>(plan: &'a Plan, name: &str) -> &'a ServicePlan {
        plan.services.iter().find(|s| s.name == name).unwrap()
    }

    const SHELL: &[(&str, &str)] =
        &[("PATH", "/usr/bin:/bin"), ("UNIT_MARKER", "m-1"), ("UNIT_SHELL_TOKEN", "tok-unit-shell-0004")];

    #[test]
    fn secrets_reach_only_the_proxy_the_wiring_and_who_names_them() {
        let plan = plan_of(SHELL);
        let master = service(&plan, "proxy").env["LITELLM_MASTER_KEY"].clone();
        let proxy = service(&plan, "proxy");
        for name in ["UNIT_PROVIDER_API_KEY", "LITELLM_MASTER_KEY", "UNIT_SHELL_TOKEN"] {
            assert!(proxy.env.contains_key(name), "the proxy gets {name}");
        }
        assert!(proxy.withheld.is_empty(), "{:?}", proxy.withheld);

        // The MCP server and a plain service: no secret at all; everything else as before.
        for name in ["tools", "plain"] {
            let s = service(&plan, name);
            assert!(s.secret_names().is_empty(), "{name}: {:?}", s.secret_names());
            assert_eq!(s.env["UNIT_SETTING"], "plain-value", "{name}: the stack's files still reach it");
            assert_eq!(s.env["UNIT_MARKER"], "m-1", "{name}: agui-dev's environment still reaches it");
            assert_eq!(s.env["PATH"], "/usr/bin:/bin");
            assert!(s.withheld.contains(&"UNIT_PROVIDER_API_KEY".to_owned()), "{:?}", s.withheld);
            assert!(s.withheld.contains(&"LITELLM_MASTER_KEY".to_owned()));
            assert!(s.withheld.contains(&"UNIT_SHELL_TOKEN".to_owned()));
        }

        // The AG-UI server: its client key, the master key's value, and nothing else secret.
        let agent = service(&plan, "agent");
        assert_eq!(agent.secret_names(), ["LITELLM_API_KEY"]);
        assert_eq!(agent.env["LITELLM_API_KEY"], master);

        // Opted in: what its `env` names and what its own env file holds; not the rest.
        let opted = service(&plan, "opted");
        assert_eq!(opted.secret_names(), ["UNIT_OWN_TOKEN", "UNIT_PROVIDER_API_KEY"]);
        assert_eq!(opted.env["UNIT_PROVIDER_API_KEY"], "sk-unit-provider-0001");
        assert_eq!(opted.env["FROM_FILE"], "sk-unit-provider-0001", "the stack's files still interpolate");
        assert!(opted.withheld.contains(&"LITELLM_MASTER_KEY".to_owned()));
        assert!(!opted.withheld.contains(&"UNIT_PROVIDER_API_KEY".to_owned()));
    }

    #[test]
    fn redaction_keeps_every_secret_of_the_stack_even_those_no_service_gets() {
        let plan = plan_of(SHELL);
        let master = service(&plan, "proxy").env["LITELLM_MASTER_KEY"].clone();
        let values: Vec<&str> = plan.secrets.iter().map(|s| s.value.as_str()).collect();
        for value in ["sk-unit-provider-0001", "tok-unit-own-0003", "tok-unit-shell-0004", master.as_str()] {
            assert!(values.contains(&value), "{value} is redacted");
        }
        // The master key keeps its own name, whichever service holds it under another.
        assert!(plan.secrets.iter().any(|s| s.name == "LITELLM_MASTER_KEY" && s.value == master));
    }
}
