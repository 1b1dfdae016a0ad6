//! `kind = "litellm"`: the LiteLLM proxy. Its default command from the venv and config, its
//! readiness URL, the master key and model it hands the AG-UI servers (the offline model when a
//! bare `model`'s key is missing: `bare_model`), the doctor checks of its venv, config and
//! provider keys, its smoke tests (readiness, one completion), and its image for `export`
//! (`export.rs`). Its keys in a service table (`venv`, `config`, `model`, `host`) are read here
//! (`Written`); config knows nothing of them.

pub mod advisories;
pub mod bare_model;
pub mod config;
pub mod doctor;
pub mod export;
pub mod venv;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use toml::Spanned;

use super::container::Container;
use super::{Defaults, Inspect, Kind, LocalBoxFuture, SmokeError, SmokeTarget, Wiring, clip, lookup};
use crate::config::{KindKeys, KindName, KindTable, Probe, Service, Stack, keys_of};
use crate::diagnosis::{CheckId, Diagnosis};
use crate::error::{Error, Result};
use crate::http::{HttpError, local_url};

/// Answers 2xx once the proxy serves; costs nothing (`/health` would call every model).
pub const READINESS: &str = "/health/readiness";
/// The OpenAI-compatible API the AG-UI servers call.
pub const API: &str = "/v1";
pub const COMPLETIONS: &str = "/v1/chat/completions";
/// The proxy's master key; AG-UI servers get the same value as `LITELLM_API_KEY`.
pub const MASTER_KEY: &str = "LITELLM_MASTER_KEY";
/// The origins LiteLLM's CORS lets read its answers (litellm/proxy/proxy_server.py, `_get_cors_config`).
pub const CORS_ORIGINS: &str = "LITELLM_CORS_ORIGINS";

/// The OpenTelemetry SDK's off switch, which LiteLLM's `otel` callback obeys (no spans made).
pub const SDK_DISABLED: &str = "OTEL_SDK_DISABLED";

/// `kind = "litellm"`.
pub const KIND: KindName = KindName::new("litellm");

/// The keys only `kind = "litellm"` takes, as the stack file writes them: the reference for them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    /// The virtual environment holding LiteLLM. Default `".venv"`.
    venv: Option<Spanned<String>>,
    /// The proxy config file (`--config`).
    config: Option<Spanned<String>>,
    /// A single model instead of a config (`--model`).
    model: Option<Spanned<String>>,
    /// The address the proxy binds. Default `"127.0.0.1"`.
    host: Option<Spanned<String>>,
}

/// Those keys of one service, expanded; paths are relative to the stack file's folder.
pub struct Keys {
    pub venv: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub model: Option<String>,
    pub host: Option<String>,
}

/// The keys of a litellm service (none for a service of another kind).
pub fn keys(service: &Service) -> &Keys {
    static NONE: Keys = Keys { venv: None, config: None, model: None, host: None };
    service.kind_keys.get::<Keys>().unwrap_or(&NONE)
}

pub struct Litellm;

impl Kind for Litellm {
    fn name(&self) -> KindName {
        KIND
    }

    fn keys(&self) -> &'static [&'static str] {
        keys_of::<Written>()
    }

    fn read_keys(&self, table: &KindTable<'_>) -> Result<KindKeys> {
        let written: Written = table.read()?;
        let expand = |value: &Option<Spanned<String>>| value.as_ref().map(|v| table.expand(v)).transpose();
        let keys = Keys {
            venv: expand(&written.venv)?.map(|v| table.dir.join(v)),
            config: expand(&written.config)?.map(|v| table.dir.join(v)),
            model: expand(&written.model)?,
            host: expand(&written.host)?,
        };
        if let (Some(_), Some(model)) = (&written.config, &written.model) {
            return Err(table
                .error(&model.span(), format!("`services.{}` sets both `config` and `model`", table.service))
                .hint("keep one: a `config` file lists its models; `model` runs a single one"));
        }
        Ok(KindKeys::new(keys))
    }

    /// The proxy's config file: a change restarts it.
    fn config_files(&self, service: &Service) -> Vec<PathBuf> {
        keys(service).config.iter().cloned().collect()
    }

    /// LiteLLM's own default `--port`.
    fn default_port(&self) -> Option<u16> {
        Some(4000)
    }

    fn endpoint(&self, port: u16) -> String {
        local_url(port, API)
    }

    fn wire(&self, stack: &Stack, proxy: &Service, wiring: &mut Wiring) -> Result<()> {
        wiring.llm_endpoint = proxy.port.map(|port| local_url(port, API));
        let proxy_var = |name: &str| lookup(proxy, name);
        let user_key = proxy_var(MASTER_KEY).filter(|k| !k.is_empty());
        wiring.generated_key = user_key.is_none();
        wiring.master_key = Some(user_key.unwrap_or_else(generate_master_key));

        let user_model = stack
            .services
            .iter()
            .filter(|s| s.kind == Some(super::agui::KIND))
            .find_map(|s| lookup(s, "LITELLM_MODEL"));
        if let Some(model) = user_model {
            wiring.notes.push(format!("model `{model}`: `LITELLM_MODEL` is set"));
        } else if let Some(model) = &keys(proxy).model {
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
                // `status`, `check` and the console say so, as they do for the config form.
                wiring.model_offline = true;
                wiring.offline_config = Some((proxy.name.clone(), path));
            } else {
                wiring.notes.push(format!("model `{model}`: the `model` of service `{}`", proxy.name));
                wiring.model = Some(model.clone());
            }
        } else if let Some(path) = &keys(proxy).config {
            let parsed = config::read_config(path).map_err(|message| {
                stack
                    .source
                    .error(&proxy.span, message)
                    .hint("fix the LiteLLM config; `agui-dev doctor` explains common mistakes")
            })?;
            if let Some((model, why)) = config::choose_model(&parsed, &proxy_var) {
                wiring.notes.push(format!("model `{model}`: {why}"));
                wiring.model_offline = parsed.model_list.iter().any(|e| e.model_name == model && e.is_offline());
                wiring.model = Some(model);
            }
        }
        Ok(())
    }

    fn defaults(&self, wiring: &Wiring, service: &Service, port: u16) -> Defaults {
        let venv = venv_of(service, &wiring.dir);
        let mut command = vec![venv.join("bin/litellm").to_string_lossy().into_owned()];
        let offline = wiring.offline_config.as_ref().filter(|(name, _)| *name == service.name).map(|(_, path)| path);
        if let Some(config) = keys(service).config.as_ref().or(offline) {
            command.extend(["--config".to_owned(), config.to_string_lossy().into_owned()]);
        } else if let Some(model) = &keys(service).model {
            command.extend(["--model".to_owned(), model.clone()]);
        }
        let host = keys(service).host.clone().unwrap_or_else(|| "127.0.0.1".to_owned());
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
        if let Some(key) = &wiring.master_key {
            env.push((MASTER_KEY.to_owned(), key.clone()));
        }
        // A config's `callbacks: ["otel"]` (the template's) sends spans to the receiver through
        // the OTEL_* variables `up` sets (LiteLLM takes `http/protobuf` and appends `/v1/traces`).
        // Without a receiver LiteLLM's callback would print every span to the log (its console
        // exporter); the SDK switched off makes it a no-op instead. Unless the user points it at an
        // endpoint of their own: then it sends there, as it did before agui-dev.
        let own_endpoint = ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
            .iter()
            .any(|name| lookup(service, name).is_some_and(|v| !v.trim().is_empty()));
        if !wiring.traced && !own_endpoint {
            env.push((SDK_DISABLED.to_owned(), "true".to_owned()));
        }
        // Unset, LiteLLM answers every web page's CORS with `*`. Its own pages are same-origin, and
        // browsers reach the agent through the AG-UI server: no other origin may read the proxy.
        if lookup(service, CORS_ORIGINS).is_none() {
            env.push((CORS_ORIGINS.to_owned(), local_url(port, "")));
        }
        Defaults {
            command: Some(command),
            ready: Some(Probe::Http(local_url(port, READINESS))),
            // LiteLLM's import alone takes 6-16 s on a quiet machine, and a minute and more on a
            // busy one (measured here with two builds running): a slow start is not a failure.
            ready_timeout: Some(Duration::from_mins(3)),
            env,
            // LiteLLM's CLI reads these and they would override the flags' intent.
            remove_env: vec!["HOST", "PORT", "DEBUG", "NUM_WORKERS"],
        }
    }

    /// Provider keys (every `os.environ/NAME` of its config) and the master key are the proxy's.
    fn takes_stack_secrets(&self) -> bool {
        true
    }

    fn doctor_ids(&self) -> Vec<CheckId> {
        doctor::ids()
    }

    fn doctor<'a>(
        &'a self,
        stack: &'a dyn Inspect,
        service: &'a Service,
        found: &'a mut Diagnosis,
    ) -> LocalBoxFuture<'a, ()> {
        Box::pin(doctor::check(stack, service, found))
    }

    fn loopback_fix(&self, service: &Service) -> String {
        format!("remove `host` from service `{}` (the proxy then binds 127.0.0.1)", service.name)
    }

    fn doctor_online<'a>(
        &'a self,
        stack: &'a dyn Inspect,
        service: &'a Service,
        found: &'a mut Diagnosis,
    ) -> LocalBoxFuture<'a, ()> {
        Box::pin(doctor::online::check(stack, service, found))
    }

    fn smoke_tests(&self) -> &'static [&'static str] {
        &["readiness", "completion"]
    }

    fn smoke<'a>(&'a self, test: &'a str, target: SmokeTarget<'a>) -> LocalBoxFuture<'a, Result<String, SmokeError>> {
        Box::pin(async move {
            match test {
                "readiness" => readiness(&target).await,
                _ => completion(&target).await,
            }
        })
    }

    fn container(&self, stack: &Stack, service: &Service) -> Result<Option<Container>> {
        export::container(stack, service).map(Some)
    }
}

/// The venv of a litellm service: `venv`, default `.venv` next to the stack file.
pub fn venv_of(service: &Service, stack_dir: &Path) -> PathBuf {
    keys(service).venv.clone().unwrap_or_else(|| stack_dir.join(".venv"))
}

/// 128 random bits from the kernel, as LiteLLM expects a key: `sk-` and then hex.
fn generate_master_key() -> String {
    format!("sk-agui-{}", crate::secret::random_hex(16))
}

async fn readiness(target: &SmokeTarget<'_>) -> Result<String, SmokeError> {
    let url = local_url(target.port, READINESS);
    let response = target.client.get(&url).send().await.map_err(HttpError::request("GET", &url))?;
    let status = response.status();
    let answered = format!("GET {url} answered {status}");
    if status.is_success() { Ok(answered) } else { Err(SmokeError::Failed(answered)) }
}

/// One short completion with the model the AG-UI servers use, through the proxy.
async fn completion(target: &SmokeTarget<'_>) -> Result<String, SmokeError> {
    let model = target
        .model
        .map(str::to_owned)
        .or_else(|| target.env.get("LITELLM_MODEL").cloned())
        .ok_or_else(|| SmokeError::Failed("no model is known to ask for".to_owned()))?;
    let key = target.env.get("LITELLM_MASTER_KEY").cloned().unwrap_or_default();
    let url = local_url(target.port, COMPLETIONS);
    let body = json!({"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "Say hello."}]});
    let response =
        target.client.post(&url).bearer_auth(key).json(&body).send().await.map_err(HttpError::request("POST", &url))?;
    let status = response.status();
    let answer: serde_json::Value = response.json().await.map_err(|e| SmokeError::Reading {
        request: format!("POST {url} answered {status} without JSON"),
        source: Box::new(e),
    })?;
    if !status.is_success() {
        let message = &answer["error"]["message"];
        return Err(SmokeError::Failed(format!("POST {url} with model `{model}` answered {status}: {message}")));
    }
    let text = answer["choices"][0]["message"]["content"].as_str().unwrap_or_default();
    if text.trim().is_empty() {
        return Err(SmokeError::Failed(format!("model `{model}` answered no text")));
    }
    Ok(format!("model `{model}` answered: {}", clip(text)))
}
