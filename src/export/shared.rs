//! What both exports share: the resolved plan turned into containers. Per service: the image
//! (the kind's own, from `Kind::container`, else one built for its Node project or Dockerfile),
//! its arguments, its environment with every secret turned into a reference, the wiring URLs
//! pointed at service names instead of 127.0.0.1, the readiness probe as it can run inside the
//! container, and a warning for everything that cannot be carried (naming the service and key).
//! `auto_ports` gives `port = "auto"` a fixed number before the stack is loaded for an export.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;

use super::node;
use super::wiring::{Part, Rewriter, Value, is_loopback_host, is_loopback_value, loopback_regex};
use crate::config::{Probe, Restart, Stack};
use crate::error::{Error, Result};
use crate::kinds::container::{ConfigFiles, Runtime};
use crate::kinds::{self, litellm};
use crate::plan::{Plan, RUN_VAR, ServicePlan};
use crate::secret::{Secret, is_secret_name};

/// Which engine the containers are for: service names become host names differently.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Compose,
    K8s,
}

pub struct Export {
    /// The stack's name as engines accept it (lowercase letters, digits, `-`).
    pub name: String,
    pub services: Vec<Container>,
    /// Every secret referenced, by variable name.
    pub secrets: BTreeMap<String, SecretVar>,
    pub warnings: Vec<String>,
    pub notes: Vec<String>,
    /// Values that must not appear in any exported file (checked before anything is written).
    pub forbidden: Vec<Secret>,
}

pub struct SecretVar {
    /// Provider keys are optional: only the models whose key is set work, the rest still start.
    pub optional: bool,
    pub why: String,
}

pub struct Container {
    pub name: String,
    /// The name other containers reach this one by.
    pub host: String,
    pub runtime: Runtime,
    pub image: Image,
    /// Overrides the image's command (compose `command`, Kubernetes `args`); `None` keeps it.
    pub args: Option<Vec<String>>,
    pub env: Vec<(String, Value)>,
    pub port: Option<u16>,
    pub probe: Option<Health>,
    pub ready_timeout: Duration,
    pub depends_on: Vec<String>,
    /// A one-shot job (`task = true`): done when it exits 0, and its dependents start then.
    pub task: bool,
    pub restart: Restart,
    pub max_restarts: u32,
    pub stop_signal: Signal,
    pub stop_grace: Duration,
    /// Files the kind mounts into its container (the LiteLLM config folder).
    pub config: Option<ConfigFiles>,
}

pub enum Image {
    /// An official image, used as it is.
    Pull(String),
    /// Built from `context`; with `dockerfile` the text agui-dev generated, else the project's own.
    Build { tag: String, context: PathBuf, dockerfile: Option<String> },
}

/// A readiness probe as it runs inside (or against) the container.
pub enum Health {
    Http { url: String, port: u16, path: String, https: bool, own: bool },
    Tcp { host: String, port: u16, own: bool },
    Exec(Vec<String>),
}

impl Health {
    /// The probe as a command in the service's image, when the image has a program for it.
    pub fn command(&self, runtime: Runtime) -> Option<Vec<String>> {
        match self {
            Health::Http { url, .. } => runtime.http_check(url),
            Health::Tcp { host, port, .. } => runtime.tcp_check(host, *port),
            Health::Exec(words) => Some(words.clone()),
        }
    }
}

const MASTER_KEY: &str = litellm::MASTER_KEY;

/// The AG-UI server's model, which the user may choose in the environment of the export.
const CHOSEN_MODEL: &str = "LITELLM_MODEL";

/// Builds the containers for `target` from the plan.
pub fn build(stack: &Stack, plan: &Plan, target: Target) -> Result<Export> {
    let mut export = Export {
        name: sanitize(&plan.stack_name),
        services: Vec::new(),
        secrets: BTreeMap::new(),
        warnings: Vec::new(),
        notes: Vec::new(),
        forbidden: plan.secrets.clone(),
    };
    let host_of = |name: &str| match target {
        Target::Compose => name.to_owned(),
        Target::K8s => sanitize(name),
    };
    let ports: BTreeMap<u16, String> =
        plan.services.iter().filter_map(|s| s.port.map(|p| (p, s.name.clone()))).collect();
    let master_key = plan.secrets.iter().find(|s| s.name == MASTER_KEY).map(|s| s.value.clone()).or_else(|| {
        plan.services.iter().find_map(|s| s.env.get(MASTER_KEY).filter(|_| s.kind == Some(litellm::KIND)).cloned())
    });
    let rewriter = Rewriter { loopback: loopback_regex(), ports: &ports, host_of: &host_of };
    for service in &plan.services {
        let container = container(stack, service, target, &rewriter, master_key.as_deref(), &mut export)?;
        export.services.push(container);
        uncarried(service, target, &mut export.warnings);
    }
    if plan.model.is_some() {
        export.notes.extend(plan.notes.iter().map(|n| format!("{n} (set `LITELLM_MODEL` when exporting to choose)")));
    }
    Ok(export)
}

/// One service's container: its kind's image or one built from its command, its environment
/// with secrets as references and loopback URLs pointed at services, and its health check.
fn container(
    stack: &Stack,
    service: &ServicePlan,
    target: Target,
    rewriter: &Rewriter<'_>,
    master_key: Option<&str>,
    export: &mut Export,
) -> Result<Container> {
    let at = |key: &str| format!("`services.{}.{key}`", service.name);
    let host = (rewriter.host_of)(&service.name);
    if target == Target::K8s && host != service.name {
        export.warnings.push(format!(
            "{}: Kubernetes names allow only lowercase letters, digits and `-`; the service is named `{host}` there",
            at("name")
        ));
    }
    let kind = service.kind.and_then(kinds::of);
    let own_image = match kind {
        Some(kind) => {
            let config = stack
                .services
                .iter()
                .find(|s| s.name == service.name)
                .ok_or_else(|| Error::failed("the plan names a service the stack lacks"))?;
            kind.container(stack, config)?
        }
        None => None,
    };
    let host_only = own_image.as_ref().map_or(&[][..], |c| c.host_only_env);
    let mut env = own_env(service, host_only, rewriter, master_key, export);
    // The model is chosen when exporting (`LITELLM_MODEL=… agui-dev export`), as for `up`: from
    // agui-dev's environment it is inherited, not the stack's own, so it is carried by name.
    if service.kind == Some(kinds::agui::KIND)
        && !env.iter().any(|(key, _)| key == CHOSEN_MODEL)
        && let Some(model) = service.env.get(CHOSEN_MODEL)
    {
        env.push((CHOSEN_MODEL.to_owned(), Value::text(model.clone())));
    }
    for (key, value) in kind.map(|k| k.container_env(&host)).unwrap_or_default() {
        match env.iter_mut().find(|(k, _)| k == key) {
            // A loopback bind from the stack file is what a container cannot use; anything
            // else the user chose stays.
            Some((_, existing)) if key == "HOST" && is_loopback_value(existing) => *existing = Value::text(value),
            Some(_) => {}
            None => env.push((key.to_owned(), Value::text(value))),
        }
    }
    let (runtime, image, args, config_files) = match own_image {
        Some(own) => {
            export.warnings.extend(own.warnings);
            config_secrets(service, own.secret_vars, &mut env, export);
            (own.runtime, Image::Pull(own.image), Some(own.args), own.config)
        }
        None => other_container(&export.name, service, &mut export.warnings, &mut export.notes, &at),
    };
    if runtime == Runtime::Node {
        // agui-dev sets it for every service locally; only Python reads it.
        env.retain(|(key, _)| key != "PYTHONUNBUFFERED");
    }
    let probe = health(service, runtime, rewriter, &mut export.warnings, &at);
    Ok(Container {
        name: service.name.clone(),
        host,
        runtime,
        image,
        args,
        env,
        port: service.port,
        probe,
        ready_timeout: service.ready_timeout,
        depends_on: service.depends_on.clone(),
        task: service.task,
        restart: service.restart,
        max_restarts: service.max_restarts,
        stop_signal: service.stop_signal,
        stop_grace: service.stop_grace,
        config: config_files,
    })
}

/// The service's own variables (not those agui-dev adds to every process, nor those that only
/// mean something on this machine): secrets become references, loopback URLs service names.
fn own_env(
    service: &ServicePlan,
    host_only: &[&str],
    rewriter: &Rewriter<'_>,
    master_key: Option<&str>,
    export: &mut Export,
) -> Vec<(String, Value)> {
    let at = |key: &str| format!("`services.{}.{key}`", service.name);
    let mut env = Vec::new();
    for key in &service.own_env {
        if key == RUN_VAR || host_only.contains(&key.as_str()) {
            continue;
        }
        let value = &service.env[key];
        let value = if master_key == Some(value.as_str()) {
            export.secret(MASTER_KEY, false, "the LiteLLM master key: any long random `sk-…` string");
            Value(vec![Part::Secret(MASTER_KEY.to_owned())])
        } else if is_secret_name(key) {
            let provider = litellm::config::is_provider_key(key);
            export.secret(key, provider, &format!("set for `{}` by the stack", service.name));
            Value(vec![Part::Secret(key.clone())])
        } else {
            let text = rewriter.rewrite(value, &mut export.warnings, &at(&format!("env.{key}")));
            export.split_secrets(&text)
        };
        env.push((key.clone(), value));
    }
    env
}

/// The variables a kind's config reads (`os.environ/X` in LiteLLM's), passed as secrets.
fn config_secrets(service: &ServicePlan, vars: Vec<String>, env: &mut Vec<(String, Value)>, export: &mut Export) {
    for var in vars {
        if !env.iter().any(|(k, _)| *k == var) {
            export.secret(&var, true, &format!("read by the config of `{}`", service.name));
            if !is_secret_name(&var) {
                export.notes.push(format!(
                    "`{var}` (read by the config of `{}`) is passed as a secret reference too",
                    service.name
                ));
            }
            env.push((var.clone(), Value(vec![Part::Secret(var)])));
        }
    }
}

/// Keys of the stack file that have no counterpart in a container engine: each pushes
/// `services.NAME.KEY: ...`, so nothing is dropped without a word.
fn uncarried(service: &ServicePlan, target: Target, warnings: &mut Vec<String>) {
    let at = |key: &str| format!("`services.{}.{key}`", service.name);
    if !service.watch.is_empty() {
        // The image holds a copy of the source, so there is nothing in the container to watch.
        let instead = match target {
            Target::Compose => "compose's own `develop.watch` can rebuild on change; it is not generated",
            Target::K8s => "a tool such as Skaffold or Tilt can rebuild and redeploy on change",
        };
        warnings.push(format!(
            "{}: restarting on file changes is agui-dev's own; the image holds a copy of the source, so rebuild it after a change ({instead})",
            at("watch")
        ));
    }
    if service.port_auto
        && let Some(port) = service.port
    {
        let kind_default = service.kind.and_then(kinds::of).filter(|k| k.default_port() == Some(port));
        let why = match kind_default {
            Some(kind) => format!("the default port of kind `{}`", kind.name()),
            None => "a port derived from the service's name".to_owned(),
        };
        warnings.push(format!(
            "{}: `\"auto\"` picks a free port each time the stack starts, which the exported files cannot follow; the export uses {port}, {why}, so every export of this file is the same (set a fixed `port` to choose another)",
            at("port")
        ));
    }
}

/// The ports an export gives the services with `port = "auto"`, by service name. A container has
/// its ports to itself, so there is no clash to avoid there; what matters is that the files are
/// the same on every export and that no two services share a port (compose publishes each on the
/// host, and the wiring finds a service by its port). A kind's server gets its own default port
/// (LiteLLM 4000, MCP 3100, AG-UI 3000); any other service, or one whose default is taken, a port
/// in 20000-29999 derived from its name, so adding a service elsewhere in the file moves nothing.
pub fn auto_ports(stack: &Stack) -> BTreeMap<String, u16> {
    let mut taken: Vec<u16> = stack.services.iter().filter(|s| !s.port_auto).filter_map(|s| s.port).collect();
    let mut chosen = BTreeMap::new();
    for service in stack.services.iter().filter(|s| s.port_auto) {
        let default =
            service.kind.and_then(kinds::of).and_then(kinds::Kind::default_port).filter(|p| !taken.contains(p));
        let port = default.unwrap_or_else(|| {
            const BASE: u32 = 20_000;
            const SPAN: u32 = 10_000;
            let mut offset = fnv1a(service.name.as_bytes()) % SPAN;
            // At most as many steps as there are services: a free one is always near.
            while taken.contains(&port_at(BASE, offset)) {
                offset = (offset + 1) % SPAN;
            }
            port_at(BASE, offset)
        });
        taken.push(port);
        chosen.insert(service.name.clone(), port);
    }
    chosen
}

fn port_at(base: u32, offset: u32) -> u16 {
    u16::try_from(base + offset).unwrap_or(u16::MAX)
}

/// FNV-1a, 32 bits: written out because the standard library's hasher may change between Rust
/// releases, and a derived port must not.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193))
}

impl Export {
    fn secret(&mut self, name: &str, optional: bool, why: &str) {
        let entry = self.secrets.entry(name.to_owned()).or_insert(SecretVar { optional, why: why.to_owned() });
        entry.optional &= optional;
    }

    /// Literal text with any known secret value in it replaced by a reference to its variable.
    fn split_secrets(&mut self, text: &str) -> Value {
        let mut parts = vec![Part::Text(text.to_owned())];
        let forbidden = self.forbidden.clone();
        for secret in &forbidden {
            let mut next = Vec::new();
            for part in parts {
                let Part::Text(text) = part else {
                    next.push(part);
                    continue;
                };
                let mut pieces = text.split(secret.value.as_str()).peekable();
                while let Some(piece) = pieces.next() {
                    if !piece.is_empty() {
                        next.push(Part::Text(piece.to_owned()));
                    }
                    if pieces.peek().is_some() {
                        next.push(Part::Secret(secret.name.clone()));
                        self.secret(&secret.name, false, "its value appears inside another variable");
                    }
                }
            }
            parts = next;
        }
        Value(parts)
    }
}

/// A container's runtime, image, arguments (`None`: the image's own) and mounted files.
type Parts = (Runtime, Image, Option<Vec<String>>, Option<ConfigFiles>);

/// Node services (a `package.json` in `cwd`) get a generated Dockerfile; others build the
/// project's own Dockerfile, or need an image the user provides.
fn other_container(
    stack: &str,
    service: &ServicePlan,
    warnings: &mut Vec<String>,
    notes: &mut Vec<String>,
    at: &dyn Fn(&str) -> String,
) -> Parts {
    let tag = format!("{stack}-{}:latest", sanitize(&service.name));
    let package = service.cwd.join("package.json");
    if let Ok(text) = std::fs::read_to_string(&package) {
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        let (major, note) = node::node_major(json.pointer("/engines/node").and_then(|v| v.as_str()));
        if let Some(note) = note {
            notes.push(format!("{}: {note}", at("cwd")));
        }
        let pm = node::package_manager(&service.cwd);
        if pm == node::PackageManager::NpmNoLock {
            warnings.push(format!(
                "{}: `{}` has no lockfile, so the image runs `npm install` and may get other versions than you test",
                at("cwd"),
                service.cwd.display()
            ));
        }
        // A container runs the package's `start` script; the stack's command is usually a
        // watching dev server, which has nothing to watch in an image. A task's command is the
        // job itself (a migration, a build), so it runs as it is.
        let command: Vec<String> = if service.task {
            service.command.clone()
        } else if json.pointer("/scripts/start").is_some() {
            let start = vec![pm.program().to_owned(), "start".to_owned()];
            if service.command != start {
                notes.push(format!(
                    "{}: `{}` runs locally; the container runs the `start` script (`{}`)",
                    at("command"),
                    shell_words::join(&service.command),
                    shell_words::join(&start)
                ));
            }
            start
        } else {
            warnings.push(format!(
                "{}: `{}` has no `start` script; the container runs the stack's command `{}`",
                at("command"),
                package.display(),
                shell_words::join(&service.command)
            ));
            service.command.clone()
        };
        if let Some(gaps) = node::dockerignore_warning(&service.cwd) {
            warnings.push(format!("{}: {gaps}", at("cwd")));
        }
        let origin = format!("service `{}`", service.name);
        let dockerfile = node::node_dockerfile(&origin, major, &service.cwd, pm, service.port, &command);
        let image = Image::Build { tag, context: service.cwd.clone(), dockerfile: Some(dockerfile) };
        return (Runtime::Node, image, None, None);
    }
    if service.cwd.join("Dockerfile").is_file() {
        notes.push(format!(
            "{}: built from `{}`; the container runs that Dockerfile's command, not `{}`",
            at("command"),
            service.cwd.join("Dockerfile").display(),
            shell_words::join(&service.command)
        ));
        return (Runtime::Unknown, Image::Build { tag, context: service.cwd.clone(), dockerfile: None }, None, None);
    }
    warnings.push(format!(
        "{}: agui-dev knows no image for this plain process (no package.json or Dockerfile in `{}`); the export names image `{tag}`, which you build",
        at("command"),
        service.cwd.display()
    ));
    (Runtime::Unknown, Image::Pull(tag), Some(service.command.clone()), None)
}

/// The service's `ready` probe as it can run in its container, with a warning when it cannot.
fn health(
    service: &ServicePlan,
    runtime: Runtime,
    rewriter: &Rewriter,
    warnings: &mut Vec<String>,
    at: &dyn Fn(&str) -> String,
) -> Option<Health> {
    let own_tcp = |warnings: &mut Vec<String>, why: String| {
        let fallback = service.port.map(|port| Health::Tcp { host: "127.0.0.1".to_owned(), port, own: true });
        let instead = service.port.map_or_else(
            || "the service has no `port`, so it has no readiness check".to_owned(),
            |p| format!("a TCP check of port {p} stands in"),
        );
        warnings.push(format!("{}: {why}; {instead}", at("ready")));
        fallback
    };
    let probe = match service.ready.as_ref()? {
        Probe::Http(url) => {
            let parsed = reqwest::Url::parse(url).ok()?;
            let port = parsed.port_or_known_default().unwrap_or(80);
            let local = parsed.host_str().is_some_and(is_loopback_host);
            let own = local && Some(port) == service.port;
            // Its own probe runs in its container, where it reaches itself on loopback (its
            // `${HOST}` may have said `0.0.0.0`, the address it binds there).
            let url = if own {
                url.replacen("//0.0.0.0:", "//127.0.0.1:", 1)
            } else {
                rewriter.rewrite(url, warnings, &at("ready.http"))
            };
            let path = match parsed.query() {
                Some(q) => format!("{}?{q}", parsed.path()),
                None => parsed.path().to_owned(),
            };
            Health::Http { url, port, path, https: parsed.scheme() == "https", own }
        }
        Probe::Tcp(addr) => {
            let (host, port) = addr.rsplit_once(':')?;
            let port: u16 = port.parse().ok()?;
            let own = is_loopback_host(host) && Some(port) == service.port;
            let target = if own {
                "127.0.0.1".to_owned()
            } else {
                let rewritten = rewriter.rewrite(addr, warnings, &at("ready.tcp"));
                rewritten.rsplit_once(':').map_or(host.to_owned(), |(h, _)| h.to_owned())
            };
            Health::Tcp { host: target, port, own }
        }
        Probe::Exec(words) => match words.iter().find(|w| is_host_path(w, &service.cwd, runtime == Runtime::Node)) {
            Some(path) => return own_tcp(warnings, format!("the `exec` probe runs `{path}`, a path on this machine")),
            None => Health::Exec(words.clone()),
        },
        Probe::Log(regex) => {
            return own_tcp(
                warnings,
                format!("a `log` probe (`{}`) has no counterpart in compose or Kubernetes", regex.as_str()),
            );
        }
    };
    if runtime == Runtime::Unknown && !matches!(probe, Health::Exec(_)) {
        warnings.push(format!(
            "{}: the image is not one agui-dev knows, so no probe command can be chosen for it; set `ready.exec` to a command the image has",
            at("ready")
        ));
    }
    Some(probe)
}

/// An argument naming a file on this machine, which the container does not have: an absolute
/// path, or a relative one unless the image is built from the service's folder and has it.
fn is_host_path(word: &str, cwd: &Path, image_has_cwd: bool) -> bool {
    let path = Path::new(word);
    if path.is_absolute() {
        return true;
    }
    word.contains('/') && !(image_has_cwd && cwd.join(path).exists())
}

/// A name as compose projects and Kubernetes objects accept it: lowercase letters, digits, `-`.
pub fn sanitize(name: &str) -> String {
    let mapped: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    let trimmed = mapped.trim_matches('-');
    if trimmed.is_empty() { "stack".to_owned() } else { trimmed.to_owned() }
}

/// `d` in the form both engines read: `250ms`, `5s`.
pub fn duration(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{}s", d.as_secs()) } else { format!("{}ms", d.as_millis()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ports_are_stable_and_in_range() {
        // Fixed values: a change here moves the port of every exported stack that uses "auto".
        assert_eq!(fnv1a(b""), 0x811c_9dc5);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
        let port = port_at(20_000, fnv1a(b"scraper") % 10_000);
        assert!((20_000..30_000).contains(&port), "{port}");
    }

    #[test]
    fn names_and_durations() {
        assert_eq!(sanitize("My_Stack"), "my-stack");
        assert_eq!(sanitize("__"), "stack");
        assert_eq!(duration(Duration::from_mins(1)), "60s");
        assert_eq!(duration(Duration::from_millis(250)), "250ms");
    }
}
