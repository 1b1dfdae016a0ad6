//! `kind = "litellm" | "mcp" | "agui"`: what the tool knows about these programs.
//!
//! Everything agui-dev knows about one kind lives in its folder behind the `Kind` interface: the
//! defaults it adds to a service (command, ready probe, environment), its part of the wiring
//! between services (URLs, the master key, the model), its doctor checks, its smoke tests and
//! what `export` needs to run it in a container (`container`, `container_env`).
//! Explicit values in the stack file always win; a service without `kind` gets none of this and
//! is a plain process. A kind may take keys of its own in a service table (`Kind::keys`,
//! `Kind::read_keys`): config hands them over without knowing them.
//!
//! Adding a kind: its folder here (`NAME/mod.rs`, a type implementing `Kind`), and its `mod` line
//! and its line in `builtin` below. Nothing outside `src/kinds/` changes (`tests/kinds.rs` builds
//! a toy kind that way and checks that the built-in ones live only here).

pub mod agui;
pub mod browser;
pub mod container;
pub mod litellm;
pub mod mcp;
mod registry;
pub mod versions;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

pub use self::registry::{Registry, all, load, load_for_containers, load_keeping, of, register};

use self::container::Container;
use crate::config::{KindKeys, KindName, KindTable, Probe, Service, Stack};
use crate::diagnosis::{CheckId, Diagnosis};
use crate::error::{Error, Result};
use crate::secret::{Secret, is_secret_name};
use crate::system::reaper::Reaper;

/// The kinds agui-dev ships, in the order their wiring is worked out (the proxy first): the one
/// place a kind's name meets its knowledge. A program adds its own with `register`, the same way.
fn builtin(kinds: &mut Registry) -> Result<()> {
    kinds.add(&litellm::Litellm)?;
    kinds.add(&mcp::Mcp)?;
    kinds.add(&agui::Agui)
}

pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Why a smoke check failed: the text its verdict shows.
#[derive(Debug, thiserror::Error)]
pub enum SmokeError {
    /// A request that got no answer.
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
    /// An answer that could not be read: `POST http://…: why`.
    #[error("{request}: {source}")]
    Reading { request: String, source: Box<dyn std::error::Error + Send + Sync> },
    /// A foreign-page probe that could not be made (`kinds::browser`).
    #[error("could not probe: {0}")]
    Unprobed(#[source] crate::http::HttpError),
    /// No MCP session could be opened (`kinds::mcp::session`); the text says what each era answered.
    #[error(transparent)]
    McpOpen(#[from] mcp::session::McpError),
    /// A request of an open MCP session failed, in the era named.
    #[error("{era}: {source}")]
    Mcp {
        era: String,
        #[source]
        source: mcp::session::McpError,
    },
    /// A command that could not be run to its end.
    #[error(transparent)]
    Run(#[from] crate::system::run::RunError),
    /// The check ran and what it saw is not what it asks for: the verdict in words.
    #[error("{0}")]
    Failed(String),
}

/// What a kind knows. Only `name` and `defaults` are required; the rest default to nothing.
pub trait Kind: Sync {
    /// What `kind = "..."` says.
    fn name(&self) -> KindName;

    /// The keys it adds to a service table, beside config's (`config::keys_of` lists those of the
    /// struct `read_keys` reads them with). Config refuses them on services of other kinds.
    fn keys(&self) -> &'static [&'static str] {
        &[]
    }

    /// Reads its keys of one of its services (`table.read` for the struct, `table.expand` for
    /// `${...}`) and checks them; what it returns comes back as `service.kind_keys`.
    fn read_keys(&self, _table: &KindTable<'_>) -> Result<KindKeys> {
        Ok(KindKeys::default())
    }

    /// Configuration files of its own that a service reads (the LiteLLM `config`): while `up`
    /// runs, a change to one reloads the stack and restarts the service.
    fn config_files(&self, _service: &Service) -> Vec<PathBuf> {
        Vec::new()
    }

    /// Adds this kind's facts to the wiring; `first` is the stack's first service of the kind.
    fn wire(&self, _stack: &Stack, _first: &Service, _wiring: &mut Wiring) -> Result<()> {
        Ok(())
    }

    /// Where people and clients reach a service of this kind on `port` (the AG-UI endpoint, the
    /// MCP endpoint, the proxy's API): shown when the stack is ready and by `status`.
    fn endpoint(&self, port: u16) -> String {
        crate::http::local_url(port, "")
    }

    /// The path a web page would call on a server of this kind (the AG-UI endpoint, the MCP
    /// endpoint): doctor and smoke probe it for foreign pages (`browser`). `None`: not probed.
    fn browser_path(&self) -> Option<&'static str> {
        None
    }

    /// The port the kind's server listens on when nothing sets one: what `export` uses for a
    /// service with `port = "auto"`, since a container has its ports to itself.
    fn default_port(&self) -> Option<u16> {
        None
    }

    /// What the kind adds to one of its services listening on `port`.
    fn defaults(&self, wiring: &Wiring, service: &Service, port: u16) -> Defaults;

    /// Whether its services get every secret of the stack (see `inherits`): only the proxy, whose
    /// config names provider keys as `os.environ/NAME` and which holds the master key.
    fn takes_stack_secrets(&self) -> bool {
        false
    }

    /// The ids of every doctor check this kind makes (kept in line with `docs/doctor.md`).
    fn doctor_ids(&self) -> Vec<CheckId> {
        Vec::new()
    }

    /// Doctor checks of one service, without it running.
    fn doctor<'a>(
        &'a self,
        _stack: &'a dyn Inspect,
        _service: &'a Service,
        _found: &'a mut Diagnosis,
    ) -> LocalBoxFuture<'a, ()> {
        Box::pin(async {})
    }

    /// Doctor checks of one service that runs now (its ready probe answered on `port`).
    fn doctor_running<'a>(
        &'a self,
        _service: &'a Service,
        _port: u16,
        _found: &'a mut Diagnosis,
    ) -> LocalBoxFuture<'a, ()> {
        Box::pin(async {})
    }

    /// The fix when one of its running services listens beyond loopback (`running.loopback`).
    fn loopback_fix(&self, service: &Service) -> String {
        format!(
            "set `HOST = \"127.0.0.1\"` in the `env` of service `{}` (or remove the `HOST` that widens it); agui-dev sets it for kinds mcp and agui",
            service.name
        )
    }

    /// `doctor --online`: checks that send real requests through a running service.
    fn doctor_online<'a>(
        &'a self,
        _stack: &'a dyn Inspect,
        _service: &'a Service,
        _found: &'a mut Diagnosis,
    ) -> LocalBoxFuture<'a, ()> {
        Box::pin(async {})
    }

    /// The smoke tests of one of its services, as id suffixes (`<service>.<suffix>`), in order.
    fn smoke_tests(&self) -> &'static [&'static str] {
        &[]
    }

    /// Runs smoke test `test` against a ready service; the text says what passed or failed.
    fn smoke<'a>(&'a self, test: &'a str, _target: SmokeTarget<'a>) -> LocalBoxFuture<'a, Result<String, SmokeError>> {
        Box::pin(async move { Err(SmokeError::Failed(format!("unknown smoke test `{test}`"))) })
    }

    /// `export`: the kind's own image for `service`. `None` builds it like any other service
    /// (from the `package.json` or `Dockerfile` in its `cwd`).
    fn container(&self, _stack: &Stack, _service: &Service) -> Result<Option<Container>> {
        Ok(None)
    }

    /// `export`: environment the kind's server needs in a container and not on this machine;
    /// `host` is the name the other containers reach it by.
    fn container_env(&self, _host: &str) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// What a kind adds to one service.
#[derive(Default)]
pub struct Defaults {
    pub command: Option<Vec<String>>,
    pub ready: Option<Probe>,
    /// How long `ready` may take when the stack file gives no `ready` table of its own.
    pub ready_timeout: Option<Duration>,
    /// Set unless the stack file's `env` sets the same key.
    pub env: Vec<(String, String)>,
    /// Removed from the inherited environment.
    pub remove_env: Vec<&'static str>,
}

/// Facts about the whole stack that the kinds' defaults need from each other.
pub struct Wiring {
    /// The stack file's folder: the default venv is `.venv` there.
    pub dir: PathBuf,
    /// The proxy's OpenAI-compatible API, for AG-UI servers (`LITELLM_ENDPOINT`).
    pub llm_endpoint: Option<String>,
    /// The MCP server's endpoint, for AG-UI servers (`MCP_SERVER_URL`).
    pub mcp_url: Option<String>,
    /// The proxy's master key: the user's `LITELLM_MASTER_KEY`, or one generated for this run.
    pub master_key: Option<String>,
    /// Whether the chosen model is the config's offline one (canned answers).
    pub model_offline: bool,
    /// Whether `master_key` was generated for this run (not the user's).
    pub generated_key: bool,
    /// The model offered to AG-UI servers, when agui-dev chose it.
    pub model: Option<String>,
    /// A litellm service with a bare `model` whose key is missing runs from this generated
    /// config instead (service name, file): see `litellm::bare_model`.
    pub offline_config: Option<(String, PathBuf)>,
    /// Whether the services send spans to `up`'s trace receiver (`plan::Tracing`): a kind whose
    /// instrumentation would otherwise print its spans switches it off without one.
    pub traced: bool,
    pub notes: Vec<String>,
}

impl Wiring {
    pub fn new(stack: &Stack) -> Result<Self> {
        let mut wiring = Wiring {
            dir: stack.dir.clone(),
            llm_endpoint: None,
            mcp_url: None,
            master_key: None,
            generated_key: false,
            model_offline: false,
            model: None,
            offline_config: None,
            traced: false,
            notes: Vec::new(),
        };
        for kind in all() {
            if let Some(first) = stack.services.iter().find(|s| s.kind == Some(kind.name())) {
                kind.wire(stack, first, &mut wiring)?;
            }
        }
        Ok(wiring)
    }

    /// The secrets the wiring holds, under the names the services get them by: the master key.
    pub fn secrets(&self) -> Vec<Secret> {
        let key = self.master_key.as_ref();
        key.map(|value| Secret { name: litellm::MASTER_KEY.to_owned(), value: value.clone() }).into_iter().collect()
    }

    /// A plan built again (a restart, a reload) keeps the master key generated for the run.
    pub fn keep_generated(&mut self, previous: &[Secret]) {
        if let Some(key) = previous.iter().find(|s| s.name == litellm::MASTER_KEY).filter(|_| self.generated_key) {
            self.master_key = Some(key.value.clone());
        }
    }

    /// Defaults and wiring for one service.
    pub fn defaults(&self, service: &Service) -> Result<Defaults> {
        let Some(kind) = service.kind.and_then(of) else { return Ok(Defaults::default()) };
        let port = service.port.ok_or_else(|| {
            Error::usage(format!("service `{}` of kind `{}` has no `port`", service.name, kind.name()))
                .hint("add `port = N`: agui-dev probes it and wires the other services to it")
        })?;
        Ok(kind.defaults(self, service, port))
    }
}

/// A ready service, as its smoke tests see it.
pub struct SmokeTarget<'a> {
    pub port: u16,
    /// The service's complete environment.
    pub env: &'a BTreeMap<String, String>,
    /// The model agui-dev chose for the AG-UI servers, if it chose one.
    pub model: Option<&'a str>,
    pub client: &'a reqwest::Client,
    /// The stack file's folder: smoke keeps what it captured under `.agui-dev/smoke/` there.
    pub dir: &'a std::path::Path,
    /// Redacted from anything a smoke test writes.
    pub secrets: &'a [crate::secret::Secret],
}

/// The stack as doctor sees it, for the kinds' checks: the plan's view where it could be built.
pub trait Inspect {
    fn stack(&self) -> &Stack;
    /// The environment a service will get.
    fn env_of(&self, service: &Service) -> BTreeMap<String, String>;
    /// For running helpers (`python -c pass`).
    fn reaper(&self) -> &Reaper;

    fn services_of(&self, kind: KindName) -> Vec<&Service> {
        self.stack().services.iter().filter(|s| s.kind == Some(kind)).collect()
    }
}

/// Whether `service` gets the variable `name` from agui-dev's own environment or from its env
/// files. Every variable not named like a secret (`secret::is_secret_name`) does. A secret reaches
/// only a kind that `takes_stack_secrets` (the proxy), or a service whose own `env` table or own
/// `env_files` name it: an MCP server is often third-party code and must not hold the provider
/// keys or the proxy's admin key. A kind's wiring adds its own on top (the AG-UI server's client
/// key, `LITELLM_API_KEY`). `docs/stack-toml.md` ("Secrets") says it for users.
pub fn inherits(service: &Service, name: &str) -> bool {
    !is_secret_name(name)
        || service.env.contains_key(name)
        || service.own_file_keys.iter().any(|key| key == name)
        || service.kind.and_then(of).is_some_and(Kind::takes_stack_secrets)
}

/// A variable as a service will see it: its `env` table, then the process, then its env files
/// (the last two only when it `inherits` the name).
pub fn lookup(service: &Service, name: &str) -> Option<String> {
    if let Some(value) = service.env.get(name) {
        return Some(value.clone());
    }
    if !inherits(service, name) {
        return None;
    }
    std::env::var(name).ok().or_else(|| service.file_env.get(name).cloned())
}

/// `HOST=127.0.0.1` for the Node servers (kinds mcp and agui), which, like the seed scaffold's,
/// often listen on every interface unless `HOST` says otherwise. A `HOST` in the service's `env`
/// wins anyway (defaults never override it); one in its env files wins here.
pub fn loopback_host(service: &Service) -> Vec<(String, String)> {
    if service.file_env.contains_key("HOST") {
        return Vec::new();
    }
    vec![("HOST".to_owned(), "127.0.0.1".to_owned())]
}

/// Text cut to one line of at most 120 characters, for reports.
pub fn clip(text: &str) -> String {
    let text = text.trim().replace('\n', " ");
    if text.chars().count() > 120 { format!("{}…", text.chars().take(120).collect::<String>()) } else { text }
}
