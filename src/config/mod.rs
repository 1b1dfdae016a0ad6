//! Finding, reading and validating `stack.toml`.
//!
//! Theory of operation: the keys of a service table that config does not know are its kind's
//! (`kind_keys` takes them out); serde reads the rest into `schema` types that keep the spans of
//! the values that later checks refer to; `load` then checks what serde cannot (references between
//! services, cycles, shared ports, probe tables), loads env files, expands `${...}`, has each
//! service's kind read its keys, and returns a `Stack` in which every value is final. Every error
//! names `file:line:column`, the key, and a hint.
//!
//! Config sits below `kinds` and knows none of them: which kinds exist and what their keys mean
//! come in through `Kinds` (`kinds::load` passes the registered ones).

mod interpolate;
pub mod kind_keys;
pub mod probe;
pub mod schema;
mod service;
mod source;
pub mod values;

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use nix::sys::signal::Signal;
use toml::Spanned;

pub use kind_keys::{KindInfo, KindKeys, KindName, KindTable, Kinds};
pub use probe::{DEFAULT_READY_TIMEOUT, Probe};
pub use schema::{Restart, keys_of};
use source::backticked;
pub use source::{Source, nearest};
pub use values::PortValue;
use values::valid;

use crate::error::{Error, Result};

pub const FILE_NAME: &str = "stack.toml";
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(5);
pub const DEFAULT_MAX_RESTARTS: u32 = 5;

/// A validated stack file with every value expanded.
pub struct Stack {
    pub name: String,
    /// The folder holding the stack file: relative paths start here.
    pub dir: PathBuf,
    pub source: Source,
    pub services: Vec<Service>,
    pub smoke: Vec<SmokeCheck>,
    /// Env files that were listed but do not exist (they are skipped, and `check` says so).
    pub missing_env_files: Vec<PathBuf>,
    /// Every env file listed (the stack's and the services'), existing or not: `up` watches them.
    pub env_files: Vec<PathBuf>,
    /// The names the stack-level `env_files` set. Their secrets reach only the services allowed
    /// them (`kinds::inherits`); the rest of the stack still interpolates with them.
    pub file_keys: Vec<String>,
    pub console: Console,
    pub traces: Traces,
}

/// The `[traces]` table as `up` uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traces {
    pub enabled: bool,
    pub max_traces: usize,
    pub max_bytes: usize,
}

impl Traces {
    pub const DEFAULT_MAX_TRACES: u64 = 1000;
    pub const DEFAULT_MAX_MIB: u64 = 64;
}

/// The `[console]` table as `up` uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Console {
    /// `enabled` as written; `None` leaves it to `up` (on, except under CI).
    pub enabled: Option<bool>,
    /// `None`: the default port, or a free one when it is taken.
    pub port: Option<PortValue>,
}

pub struct Service {
    pub name: String,
    pub kind: Option<KindName>,
    pub command: Option<Vec<String>>,
    pub cwd: PathBuf,
    /// Variables from env files (the stack's, then the service's own, which win), minus those
    /// the process environment already sets.
    pub file_env: IndexMap<String, String>,
    /// The names the service's own `env_files` set (before the process environment is taken
    /// out): a secret among them is the service's to receive (`kinds::inherits`).
    pub own_file_keys: Vec<String>,
    /// The service's `env` table, expanded.
    pub env: IndexMap<String, String>,
    /// The port, chosen at load time when the file says `"auto"`.
    pub port: Option<u16>,
    /// The file says `port = "auto"`.
    pub port_auto: bool,
    /// A one-shot job: done when it exits 0.
    pub task: bool,
    /// Globs relative to `cwd` whose files restart the service when they change, and the ones
    /// that never do (both checked to be valid globs).
    pub watch: Vec<String>,
    pub watch_ignore: Vec<String>,
    pub ready: Option<Probe>,
    pub ready_timeout: Duration,
    pub depends_on: Vec<String>,
    pub restart: Restart,
    pub max_restarts: u32,
    pub stop_signal: Signal,
    pub stop_grace: Duration,
    /// What the service's kind read from its own keys (`kinds::<kind>` gets it back).
    pub kind_keys: KindKeys,
    /// `public = true`: meant to be reached from any web page (only kinds that web pages call);
    /// doctor and smoke do not probe it for foreign pages.
    pub public: bool,
    /// Where the service's table starts, for errors found later (in `plan` or `kinds`).
    pub span: Range<usize>,
}

pub struct SmokeCheck {
    pub name: String,
    pub action: SmokeAction,
    pub timeout: Duration,
}

pub enum SmokeAction {
    Http { method: String, url: String, body: Option<String>, expect_status: Option<u16>, expect_body: Option<String> },
    Exec(Vec<String>),
}

/// Where the stack file is: `-f`, else `$AGUI_DEV_FILE`, else the nearest `stack.toml` upward.
pub fn discover(explicit: Option<&Path>, cwd: &Path) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(cwd.join(path));
    }
    if let Some(path) = std::env::var_os("AGUI_DEV_FILE").filter(|p| !p.is_empty()) {
        return Ok(cwd.join(path));
    }
    cwd.ancestors().map(|dir| dir.join(FILE_NAME)).find(|path| path.is_file()).ok_or_else(|| {
        Error::usage(format!("no `{FILE_NAME}` in `{}` or any folder above it", cwd.display()))
            .hint("run `agui-dev init` here (it adopts the project in this folder, or starts a new one in an empty folder), or pass `-f FILE`")
    })
}

/// Reads and validates the stack file at `path` with the `kinds` its services may name;
/// `port = "auto"` gets a free port. (`kinds::load` passes the registered kinds.)
pub fn load(path: &Path, kinds: &dyn Kinds) -> Result<Stack> {
    load_keeping(path, &std::collections::BTreeMap::new(), kinds)
}

/// Like `load`, keeping the port already chosen for a service that still says `port = "auto"`
/// (a reload must not move a running service to another port), or given one by `export`.
pub fn load_keeping(
    path: &Path,
    auto_ports: &std::collections::BTreeMap<String, u16>,
    kinds: &dyn Kinds,
) -> Result<Stack> {
    read(path, auto_ports, "127.0.0.1", kinds)
}

/// `load_keeping` for an export: in a container a service listens on every interface, so its
/// own `${HOST}` is `0.0.0.0`.
pub fn load_for_containers(
    path: &Path,
    auto_ports: &std::collections::BTreeMap<String, u16>,
    kinds: &dyn Kinds,
) -> Result<Stack> {
    read(path, auto_ports, "0.0.0.0", kinds)
}

/// Reads and validates the file; `own_host` is what `${HOST}` means in a service's own values.
fn read(
    path: &Path,
    auto_ports: &std::collections::BTreeMap<String, u16>,
    own_host: &str,
    kinds: &dyn Kinds,
) -> Result<Stack> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        Error::usage(format!("cannot read `{}`", path.display()))
            .cause(&err)
            .hint("check the path given with `-f` or `$AGUI_DEV_FILE`")
    })?;
    let source = Source { path: path.to_owned(), shown: path.display().to_string(), text: text.clone() };
    let all = kinds.all();
    // `text` is what the parsed tree borrows while `source` moves into the stack.
    let (file, taken) = parse(&text, &source, &all)?;
    if let Some((span, invalid)) = file.first_invalid() {
        return Err(source.invalid_value(&span, invalid));
    }
    let dir = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let loader = Loader { source, dir, process_env: std::env::vars().collect(), own_host, kinds, all, taken };
    loader.finish(&file, auto_ports)
}

/// The file read: the kinds' keys taken out of the service tables, and serde's reading of the
/// rest. Of an error in the kinds' keys and one of serde's, the one earlier in the file is
/// reported, as serde alone would have.
fn parse<'a>(text: &'a str, source: &Source, kinds: &[KindInfo]) -> Result<(schema::StackFile, kind_keys::Taken<'a>)> {
    use serde::Deserialize as _;
    let mut doc = toml::de::DeTable::parse(text).map_err(|err| source.from_toml(&err))?;
    let (taken, kind_error) = kind_keys::take(doc.get_mut(), source, kinds);
    match (schema::StackFile::deserialize(toml::de::Deserializer::from(doc)), kind_error) {
        (Ok(file), None) => Ok((file, taken)),
        (Ok(_), Some((_, error))) => Err(error),
        (Err(err), Some((at, error))) if err.span().is_none_or(|span| at < span.start) => Err(error),
        (Err(err), _) => Err(source.from_toml(&err)),
    }
}

struct Loader<'a> {
    source: Source,
    dir: PathBuf,
    process_env: HashMap<String, String>,
    own_host: &'a str,
    kinds: &'a dyn Kinds,
    all: Vec<KindInfo>,
    taken: kind_keys::Taken<'a>,
}

/// Free ports for the services with `port = "auto"`: the one kept from an earlier load, else
/// one the kernel picks (bind `127.0.0.1:0`). The listeners are held until every port is
/// chosen, so two services never get the same one, and none gets a port another service names.
fn choose_ports(
    file: &schema::StackFile,
    kept: &std::collections::BTreeMap<String, u16>,
) -> Result<HashMap<String, u16>> {
    let fixed: Vec<u16> = file
        .services
        .values()
        .filter_map(|s| match valid(s.get_ref().port.as_ref()) {
            Some(PortValue::Fixed(port)) => Some(*port),
            _ => None,
        })
        .collect();
    let mut chosen = HashMap::new();
    let mut held = Vec::new();
    for (name, service) in &file.services {
        if let Some(PortValue::Auto) = valid(service.get_ref().port.as_ref()) {
            if let Some(port) = kept.get(name).filter(|p| !fixed.contains(p)) {
                chosen.insert(name.clone(), *port);
                continue;
            }
            let port = loop {
                let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
                    .and_then(|l| Ok((l.local_addr()?.port(), l)))
                    .map_err(|err| {
                        Error::failed(format!("cannot find a free port for `{name}`"))
                            .cause(err)
                            .hint("give the service a fixed `port`")
                    })?;
                let (port, listener) = listener;
                held.push(listener);
                if !fixed.contains(&port) && !chosen.values().any(|p| *p == port) {
                    break port;
                }
            };
            chosen.insert(name.clone(), port);
        }
    }
    Ok(chosen)
}

impl Loader<'_> {
    fn finish(self, file: &schema::StackFile, auto_ports: &std::collections::BTreeMap<String, u16>) -> Result<Stack> {
        let src = &self.source;
        if file.services.is_empty() {
            return Err(src
                .error(&(0..0), "the stack has no services")
                .hint("add a `[services.NAME]` table with a `command`, e.g. `command = \"npm run dev\"`"));
        }
        let names: Vec<&str> = file.services.keys().map(String::as_str).collect();
        self.check_names_and_ports(file)?;
        self.check_dependencies(file, &names)?;
        let chosen = choose_ports(file, auto_ports)?;
        let ports: HashMap<&str, u16> = file
            .services
            .iter()
            .filter_map(|(name, service)| match valid(service.get_ref().port.as_ref())? {
                PortValue::Fixed(port) => Some((name.as_str(), *port)),
                PortValue::Auto => Some((name.as_str(), chosen[name])),
            })
            .collect();

        let mut missing_env_files = Vec::new();
        let env_files: Vec<PathBuf> = file
            .stack
            .env_files
            .iter()
            .chain(file.services.values().flat_map(|s| s.get_ref().env_files.iter()))
            .map(|f| self.dir.join(f.get_ref()))
            .collect();
        let stack_files = self.read_env_files(&file.stack.env_files, &mut missing_env_files)?;
        let shared = service::Shared { names: &names, ports: &ports, stack_files: &stack_files };
        let mut services = Vec::new();
        for (name, section) in &file.services {
            services.push(self.service(name, section, &shared, &mut missing_env_files)?);
        }
        let smoke = file.smoke.iter().map(|check| self.smoke_check(check)).collect::<Result<Vec<_>>>()?;
        let name = file.stack.name.clone().unwrap_or_else(|| {
            self.dir
                .canonicalize()
                .ok()
                .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "stack".to_owned())
        });
        let console = Console { enabled: file.console.enabled, port: valid(file.console.port.as_ref()).copied() };
        let file_keys = stack_files.keys().cloned().collect();
        let traces = self.traces(&file.traces)?;
        Ok(Stack {
            name,
            dir: self.dir,
            source: self.source,
            services,
            smoke,
            missing_env_files,
            env_files,
            file_keys,
            console,
            traces,
        })
    }

    /// `[traces]` with its defaults; a bound of 0 would keep nothing and is refused.
    fn traces(&self, section: &schema::TracesSection) -> Result<Traces> {
        let bound = |value: Option<&Spanned<u64>>, default: u64, key: &str, hint: &str| match value {
            Some(value) if *value.get_ref() == 0 => Err(self
                .source
                .error(&value.span(), format!("`[traces] {key}` must be at least 1"))
                .hint(hint.to_owned())),
            Some(value) => Ok(*value.get_ref()),
            None => Ok(default),
        };
        let max_traces = bound(
            section.max_traces.as_ref(),
            Traces::DEFAULT_MAX_TRACES,
            "max_traces",
            "write how many traces to keep, or `enabled = false` to keep none",
        )?;
        let max_mib = bound(
            section.max_mib.as_ref(),
            Traces::DEFAULT_MAX_MIB,
            "max_mib",
            "write how many MiB the kept traces may take, or `enabled = false` to keep none",
        )?;
        Ok(Traces {
            enabled: section.enabled.unwrap_or(true),
            max_traces: usize::try_from(max_traces).unwrap_or(usize::MAX),
            max_bytes: usize::try_from(max_mib.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX),
        })
    }

    /// An `interpolate` error at `at`, with its own hint when it has one.
    fn located(&self, at: &Range<usize>, unexpanded: &interpolate::Unexpanded) -> Error {
        let hint = unexpanded.hint.clone().unwrap_or_else(|| "fix the reference".to_owned());
        self.source.error(at, &unexpanded.message).hint(hint)
    }

    fn check_names_and_ports(&self, file: &schema::StackFile) -> Result<()> {
        let mut seen_ports: HashMap<u16, &str> = HashMap::new();
        for (name, service) in &file.services {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(self
                    .source
                    .error(
                        &service.span(),
                        format!("service name `{name}` has characters other than letters, digits, `-` and `_`"),
                    )
                    .hint("rename the service; the name prefixes every log line and names its log file"));
            }
            if let Some(port) = &service.get_ref().port
                && let Some(PortValue::Fixed(number)) = port.get_ref().valid()
                && let Some(first) = seen_ports.insert(*number, name)
            {
                return Err(self
                    .source
                    .error(&port.span(), format!("port {number} is used by both `{first}` and `{name}`"))
                    .hint("give each service its own port, or write `port = \"auto\"`"));
            }
        }
        if let Some(port) = &file.console.port
            && let Some(PortValue::Fixed(number)) = port.get_ref().valid()
            && let Some(service) = seen_ports.get(number)
        {
            return Err(self
                .source
                .error(&port.span(), format!("the console's port {number} is also the port of `{service}`"))
                .hint("give `[console]` another port, or write `port = \"auto\"`"));
        }
        Ok(())
    }

    /// The service's kind, and what it read from its keys (`kind_keys::read`).
    fn kind_keys(
        &self,
        name: &str,
        section: &schema::ServiceSection,
        expand: &dyn Fn(&str, &Range<usize>) -> Result<String>,
    ) -> Result<(Option<KindName>, KindKeys)> {
        let public = section.public.as_ref();
        let service = kind_keys::Service { name, dir: &self.dir, source: &self.source, public, expand };
        kind_keys::read(self.kinds, &self.all, &self.taken, &service)
    }

    /// What a task cannot have: it is ready when it exits 0, and it is not meant to run again.
    fn check_task(&self, name: &str, section: &schema::ServiceSection) -> Result<()> {
        if let Some(ready) = &section.ready {
            return Err(self
                .source
                .error(&ready.span(), format!("`services.{name}` is a task and has a `ready` probe"))
                .hint("a task is done when it exits 0; remove `ready`, or remove `task = true`"));
        }
        if section.restart == Some(Restart::Always) {
            let span = section.task.as_ref().map_or(0..0, toml::Spanned::span);
            return Err(self
                .source
                .error(&span, format!("`services.{name}` is a task with `restart = \"always\"`"))
                .hint("a task runs once; use `restart = \"on-failure\"` to retry it, or remove `task = true`"));
        }
        Ok(())
    }

    /// Globs as written, each checked to parse.
    fn globs(&self, globs: &[Spanned<String>]) -> Result<Vec<String>> {
        for glob in globs {
            if let Err(err) = globset::Glob::new(glob.get_ref()) {
                return Err(self
                    .source
                    .error(&glob.span(), format!("`{}` is not a valid glob", glob.get_ref()))
                    .cause(err)
                    .hint("write globs like \"src/**/*.py\" (relative to the service's `cwd`)"));
            }
        }
        Ok(globs.iter().map(|g| g.get_ref().clone()).collect())
    }

    fn check_dependencies(&self, file: &schema::StackFile, names: &[&str]) -> Result<()> {
        for (name, service) in &file.services {
            for dep in &service.get_ref().depends_on {
                let dep_name = dep.get_ref().as_str();
                if !names.contains(&dep_name) {
                    let hint = match nearest(dep_name, names) {
                        Some(near) => format!("did you mean `{near}`?"),
                        None => format!("services in this file: {}", backticked(names)),
                    };
                    return Err(self
                        .source
                        .error(
                            &dep.span(),
                            format!("`services.{name}.depends_on` names `{dep_name}`, which is not a service"),
                        )
                        .hint(hint));
                }
            }
        }
        // Depth-first search; a service met again while still on the path closes a cycle.
        let edges: HashMap<&str, Vec<&Spanned<String>>> =
            file.services.iter().map(|(n, s)| (n.as_str(), s.get_ref().depends_on.iter().collect())).collect();
        let mut done: Vec<&str> = Vec::new();
        for start in names {
            let mut path: Vec<(&str, usize)> = vec![(start, 0)];
            while let Some((node, next)) = path.last().copied() {
                let deps = &edges[node];
                if done.contains(&node) || next >= deps.len() {
                    done.push(node);
                    path.pop();
                    continue;
                }
                path.last_mut().expect("non-empty path").1 += 1;
                let dep = deps[next].get_ref().as_str();
                if let Some(at) = path.iter().position(|(n, _)| *n == dep) {
                    let mut cycle: Vec<String> = path[at..].iter().map(|(n, _)| format!("`{n}`")).collect();
                    cycle.push(format!("`{dep}`"));
                    return Err(self
                        .source
                        .error(&deps[next].span(), format!("dependency cycle: {}", cycle.join(" -> ")))
                        .hint("remove one of these `depends_on` entries; a service cannot wait for itself"));
                }
                if !done.contains(&dep) {
                    path.push((dep, 0));
                }
            }
        }
        Ok(())
    }

    fn read_env_files(
        &self,
        files: &[Spanned<String>],
        missing: &mut Vec<PathBuf>,
    ) -> Result<IndexMap<String, String>> {
        let mut vars = IndexMap::new();
        for file in files {
            let path = self.dir.join(file.get_ref());
            if !path.exists() {
                missing.push(path);
                continue;
            }
            let entries = dotenvy::from_path_iter(&path).map_err(|err| {
                self.source
                    .error(&file.span(), format!("cannot read env file `{}`", path.display()))
                    .cause(&err)
                    .hint("check the file's permissions")
            })?;
            for entry in entries {
                let (key, value) = entry.map_err(|err| {
                    self.source
                        .error(&file.span(), format!("env file `{}` is not valid", path.display()))
                        .cause(&err)
                        .hint("write one `KEY=value` per line; quote values with spaces")
                })?;
                vars.insert(key, value);
            }
        }
        Ok(vars)
    }

    fn smoke_check(&self, check: &Spanned<schema::SmokeSection>) -> Result<SmokeCheck> {
        let section = check.get_ref();
        let span = check.span();
        let action = match (&section.url, valid(section.exec.as_ref())) {
            (Some(url), None) => SmokeAction::Http {
                method: section
                    .method
                    .clone()
                    .unwrap_or_else(|| if section.body.is_some() { "POST" } else { "GET" }.to_owned())
                    .to_ascii_uppercase(),
                url: url.clone(),
                body: section.body.clone(),
                expect_status: section.expect_status,
                expect_body: section.expect_body_contains.clone(),
            },
            (None, Some(exec)) => SmokeAction::Exec(exec.0.clone()),
            _ => {
                return Err(self
                    .source
                    .error(&span, format!("smoke check `{}` needs exactly one of `url` and `exec`", section.name))
                    .hint("an HTTP check sets `url` (and maybe `method`, `body`, `expect_status`); a command check sets `exec`"));
            }
        };
        Ok(SmokeCheck {
            name: section.name.clone(),
            action,
            timeout: valid(section.timeout.as_ref()).map_or(Duration::from_secs(30), |t| t.0),
        })
    }
}
