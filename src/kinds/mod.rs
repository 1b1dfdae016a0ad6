//! `kind = "litellm" | "mcp" | "agui"`: what the tool knows about these programs.
//!
//! Each kind adds defaults (command, ready probe) and wiring (environment derived from the other
//! services' ports and the master key). Explicit values in the stack file always win; a service
//! without `kind` gets none of this and is a plain process.

pub mod agui;
pub mod bare_model;
pub mod litellm;
pub mod mcp;
pub mod venv;

use std::path::PathBuf;

use crate::config::{KindName, Probe, Service, Stack};
use crate::error::{Error, Result};

/// What a kind adds to one service.
#[derive(Default)]
pub struct Defaults {
    pub command: Option<Vec<String>>,
    pub ready: Option<Probe>,
    /// Set unless the stack file's `env` sets the same key.
    pub env: Vec<(String, String)>,
    /// Removed from the inherited environment.
    pub remove_env: Vec<&'static str>,
}

/// Facts about the whole stack that the kinds' wiring needs.
pub struct Wiring {
    /// The stack file's folder: the default venv is `.venv` there.
    dir: PathBuf,
    litellm_port: Option<u16>,
    mcp_port: Option<u16>,
    /// The proxy's master key: the user's `LITELLM_MASTER_KEY`, or one generated for this run.
    pub master_key: Option<String>,
    /// The model offered to AG-UI servers, when agui-dev chose it.
    pub model: Option<String>,
    /// A litellm service with a bare `model` whose key is missing runs from this generated
    /// config instead (service name, file): see `bare_model`.
    offline_config: Option<(String, PathBuf)>,
    pub notes: Vec<String>,
}

impl Wiring {
    pub fn new(stack: &Stack) -> Result<Self> {
        let of_kind = |kind| stack.services.iter().find(|s| s.kind == Some(kind));
        let litellm = of_kind(KindName::Litellm);
        let mut wiring = Wiring {
            dir: stack.dir.clone(),
            litellm_port: litellm.and_then(|s| s.port),
            mcp_port: of_kind(KindName::Mcp).and_then(|s| s.port),
            master_key: None,
            model: None,
            offline_config: None,
            notes: Vec::new(),
        };
        let Some(proxy) = litellm else { return Ok(wiring) };
        let proxy_var = |name: &str| lookup(proxy, name);
        wiring.master_key =
            Some(proxy_var("LITELLM_MASTER_KEY").filter(|k| !k.is_empty()).unwrap_or_else(generate_master_key));

        let user_model =
            stack.services.iter().filter(|s| s.kind == Some(KindName::Agui)).find_map(|s| lookup(s, "LITELLM_MODEL"));
        if let Some(model) = user_model {
            wiring.notes.push(format!("model `{model}`: `LITELLM_MODEL` is set"));
        } else if let Some(model) = &proxy.litellm.model {
            if let Some(key) = bare_model::missing_key(model, &proxy_var) {
                let path = bare_model::config_path(&stack.dir, &proxy.name);
                bare_model::write_config(&path, model, key).map_err(|err| {
                    Error::failed(format!("cannot write `{}`", path.display()))
                        .cause(err)
                        .hint("check that the stack's folder is writable")
                })?;
                wiring.notes.push(format!(
                    "model `{}`: `{key}` is not set, so `{model}` of service `{}` cannot answer and answers are canned; set `{key}` for the real model",
                    bare_model::OFFLINE,
                    proxy.name
                ));
                wiring.model = Some(bare_model::OFFLINE.to_owned());
                wiring.offline_config = Some((proxy.name.clone(), path));
            } else {
                wiring.notes.push(format!("model `{model}`: the `model` of service `{}`", proxy.name));
                wiring.model = Some(model.clone());
            }
        } else if let Some(config) = &proxy.litellm.config {
            let parsed = litellm::read_config(config).map_err(|message| {
                stack
                    .source
                    .error(&proxy.span, message)
                    .hint("fix the LiteLLM config; `agui-dev doctor` explains common mistakes")
            })?;
            if let Some((model, why)) = litellm::choose_model(&parsed, &proxy_var) {
                wiring.notes.push(format!("model `{model}`: {why}"));
                wiring.model = Some(model);
            }
        }
        Ok(wiring)
    }

    /// Defaults and wiring for one service.
    pub fn defaults(&self, service: &Service) -> Result<Defaults> {
        let Some(kind) = service.kind else { return Ok(Defaults::default()) };
        let port = service.port.ok_or_else(|| {
            Error::usage(format!("service `{}` of kind `{}` has no `port`", service.name, kind_name(kind)))
                .hint("add `port = N`: agui-dev probes it and wires the other services to it")
        })?;
        let local = |path: &str| format!("http://127.0.0.1:{port}{path}");
        Ok(match kind {
            KindName::Litellm => self.litellm_defaults(service, port),
            KindName::Mcp => {
                Defaults { ready: Some(Probe::Http(local("/health"))), env: loopback(service), ..Defaults::default() }
            }
            KindName::Agui => {
                let mut env = loopback(service);
                env.push(("LLM_PROVIDER".to_owned(), "litellm".to_owned()));
                if let Some(proxy_port) = self.litellm_port {
                    env.push(("LITELLM_ENDPOINT".to_owned(), format!("http://127.0.0.1:{proxy_port}/v1")));
                }
                if let Some(key) = &self.master_key {
                    env.push(("LITELLM_API_KEY".to_owned(), key.clone()));
                }
                if let Some(model) = &self.model {
                    env.push(("LITELLM_MODEL".to_owned(), model.clone()));
                }
                if let Some(mcp_port) = self.mcp_port {
                    env.push(("MCP_SERVER_URL".to_owned(), format!("http://127.0.0.1:{mcp_port}/mcp")));
                }
                Defaults { ready: Some(Probe::Http(local("/health"))), env, ..Defaults::default() }
            }
        })
    }

    fn litellm_defaults(&self, service: &Service, port: u16) -> Defaults {
        let venv = venv_of(service, &self.dir);
        let mut command = vec![venv.join("bin/litellm").to_string_lossy().into_owned()];
        let offline = self.offline_config.as_ref().filter(|(name, _)| *name == service.name).map(|(_, path)| path);
        if let Some(config) = service.litellm.config.as_ref().or(offline) {
            command.extend(["--config".to_owned(), config.to_string_lossy().into_owned()]);
        } else if let Some(model) = &service.litellm.model {
            command.extend(["--model".to_owned(), model.clone()]);
        }
        let host = service.litellm.host.clone().unwrap_or_else(|| "127.0.0.1".to_owned());
        command.extend(["--host".to_owned(), host, "--port".to_owned(), port.to_string()]);
        let path = format!("{}:{}", venv.join("bin").display(), std::env::var("PATH").unwrap_or_default());
        let mut env = vec![
            ("VIRTUAL_ENV".to_owned(), venv.to_string_lossy().into_owned()),
            ("PATH".to_owned(), path),
            // Skips a remote fetch at start-up that hangs for seconds without a network.
            ("LITELLM_LOCAL_MODEL_COST_MAP".to_owned(), "True".to_owned()),
            // Stops LiteLLM from loading a `.env` it finds above its site-packages on its own.
            ("LITELLM_MODE".to_owned(), "PRODUCTION".to_owned()),
        ];
        if let Some(key) = &self.master_key {
            env.push(("LITELLM_MASTER_KEY".to_owned(), key.clone()));
        }
        Defaults {
            command: Some(command),
            ready: Some(Probe::Http(format!("http://127.0.0.1:{port}/health/readiness"))),
            env,
            // LiteLLM's CLI reads these and they would override the flags' intent.
            remove_env: vec!["HOST", "PORT", "DEBUG", "NUM_WORKERS"],
        }
    }
}

/// `HOST=127.0.0.1` for Node servers, which (like the seed scaffold's) often listen on every
/// interface unless `HOST` says otherwise; a `HOST` in the service's `env` or env files wins.
fn loopback(service: &Service) -> Vec<(String, String)> {
    if service.file_env.contains_key("HOST") {
        return Vec::new();
    }
    vec![("HOST".to_owned(), "127.0.0.1".to_owned())]
}

/// The venv of a litellm service: `venv`, default `.venv` next to the stack file.
pub fn venv_of(service: &Service, stack_dir: &std::path::Path) -> PathBuf {
    service.litellm.venv.clone().unwrap_or_else(|| stack_dir.join(".venv"))
}

pub fn kind_name(kind: KindName) -> &'static str {
    match kind {
        KindName::Litellm => "litellm",
        KindName::Mcp => "mcp",
        KindName::Agui => "agui",
    }
}

/// A variable as a service will see it: its `env` table, then the process, then its env files.
pub fn lookup(service: &Service, name: &str) -> Option<String> {
    service.env.get(name).cloned().or_else(|| std::env::var(name).ok()).or_else(|| service.file_env.get(name).cloned())
}

/// 128 random bits from the kernel, as LiteLLM expects a key: `sk-` and then hex.
fn generate_master_key() -> String {
    format!("sk-agui-{}", random_hex(16))
}

/// `bytes` random bytes from the kernel, in hex.
pub fn random_hex(bytes: usize) -> String {
    use std::fmt::Write;
    use std::io::Read;
    let mut raw = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .expect("the kernel's random source is readable");
    let mut hex = String::new();
    for byte in raw {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}
