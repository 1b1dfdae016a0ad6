//! Doctor's `litellm` area: the proxy's config file and the pitfalls of running LiteLLM (the
//! master key, the bind address, a database it cannot reach, a `.env` it loads on its own).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_norway::Value;

use crate::config::Service;
use crate::diagnosis::{Area, CheckId, Diagnosis};
use crate::kinds::litellm::{config as litellm, keys, venv};
use crate::kinds::lookup;
use crate::secret::mask;

pub const LITELLM_MASTER_KEY: CheckId = CheckId::new(Area::Litellm, "litellm.master_key");
pub const LITELLM_HOST: CheckId = CheckId::new(Area::Litellm, "litellm.host");
pub const LITELLM_DATABASE_URL: CheckId = CheckId::new(Area::Litellm, "litellm.database_url");
pub const LITELLM_CONFIG: CheckId = CheckId::new(Area::Litellm, "litellm.config");
pub const LITELLM_MODEL_ENTRY: CheckId = CheckId::new(Area::Litellm, "litellm.model_entry");
pub const LITELLM_DUPLICATE_MODEL: CheckId = CheckId::new(Area::Litellm, "litellm.duplicate_model");
pub const LITELLM_ENV_SYNTAX: CheckId = CheckId::new(Area::Litellm, "litellm.env_syntax");
pub const LITELLM_ENV_REF: CheckId = CheckId::new(Area::Litellm, "litellm.env_ref");
pub const LITELLM_MASTER_KEY_LOCATION: CheckId = CheckId::new(Area::Litellm, "litellm.master_key_location");
pub const LITELLM_CONFIG_MASTER_KEY: CheckId = CheckId::new(Area::Litellm, "litellm.config_master_key");
pub const LITELLM_PROVIDER_PREFIX: CheckId = CheckId::new(Area::Litellm, "litellm.provider_prefix");
pub const LITELLM_DOTENV: CheckId = CheckId::new(Area::Litellm, "litellm.dotenv");
pub const LITELLM_TRACES: CheckId = CheckId::new(Area::Litellm, "litellm.traces");

/// Every id this file makes.
pub const IDS: &[CheckId] = &[
    LITELLM_MASTER_KEY,
    LITELLM_HOST,
    LITELLM_DATABASE_URL,
    LITELLM_CONFIG,
    LITELLM_MODEL_ENTRY,
    LITELLM_DUPLICATE_MODEL,
    LITELLM_ENV_SYNTAX,
    LITELLM_ENV_REF,
    LITELLM_MASTER_KEY_LOCATION,
    LITELLM_CONFIG_MASTER_KEY,
    LITELLM_PROVIDER_PREFIX,
    LITELLM_DOTENV,
    LITELLM_TRACES,
];

/// What the config says, for the checks after it.
pub struct ProxyFacts {
    pub models: Vec<litellm::ModelEntry>,
}

pub fn check(
    found: &mut Diagnosis,
    service: &Service,
    venv_dir: &Path,
    env: &BTreeMap<String, String>,
) -> Option<ProxyFacts> {
    let subject = Some(service.name.as_str());
    let facts = if let Some(config) = &keys(service).config {
        check_config(found, subject, config, env)
    } else if let Some(model) = &keys(service).model {
        check_prefix(found, subject, model, model);
        let entry = litellm::ModelEntry {
            model_name: model.clone(),
            litellm_params: litellm::ModelParams { model: model.clone(), ..Default::default() },
        };
        Some(ProxyFacts { models: vec![entry] })
    } else {
        None
    };

    // The master key the proxy gets.
    match env.get("LITELLM_MASTER_KEY") {
        Some(key) if key == "sk-1234" || litellm::is_placeholder(key) => found.fail(
            LITELLM_MASTER_KEY,
            subject,
            "`LITELLM_MASTER_KEY` is the example key from LiteLLM's docs (or a placeholder), which LiteLLM refuses",
            "unset `LITELLM_MASTER_KEY` and let agui-dev generate one per run, or set a long random `sk-…` value",
        ),
        Some(key) if lookup(service, "LITELLM_MASTER_KEY").is_some() => {
            found.ok(LITELLM_MASTER_KEY, subject, format!("`LITELLM_MASTER_KEY` is set ({})", mask(key)));
        }
        Some(_) => found.ok(LITELLM_MASTER_KEY, subject, "agui-dev generates a master key for each run"),
        None => {}
    }

    // The bind address: keys sit behind the proxy.
    if let Some(host) = &keys(service).host
        && !matches!(host.as_str(), "127.0.0.1" | "localhost" | "::1")
    {
        found.warn(
            LITELLM_HOST,
            subject,
            format!("the proxy listens on `{host}`, reachable from other machines, with your provider keys behind it"),
            "remove `host` from the service (agui-dev binds 127.0.0.1)",
        );
    }

    // DATABASE_URL without prisma: LiteLLM exits 1 with `Failed to import Prisma client`.
    let prisma = service.command.is_none() && venv::distribution(venv_dir, "prisma").is_some();
    if service.command.is_none() && !prisma {
        if env.get("DATABASE_URL").is_some_and(|v| !v.is_empty()) {
            found.fail(
                LITELLM_DATABASE_URL,
                subject,
                "`DATABASE_URL` is set for the proxy but prisma is not installed in the venv: LiteLLM exits with `Failed to import Prisma client`",
                "unset `DATABASE_URL` for local development (remove it from `.env` or the stack file's `env`)",
            );
        } else {
            found.ok(LITELLM_DATABASE_URL, subject, "`DATABASE_URL` is not set (no database needed)");
        }
    }

    if service.command.is_none() {
        check_dotenv(found, subject, venv_dir, env, prisma);
    }
    facts
}

fn check_config(
    found: &mut Diagnosis,
    subject: Option<&str>,
    config: &Path,
    env: &BTreeMap<String, String>,
) -> Option<ProxyFacts> {
    let (value, list) = read_model_list(found, subject, config)?;
    found.ok(LITELLM_CONFIG, subject, format!("`{}` parses ({} models)", config.display(), list.len()));
    check_entries(found, subject, &list);
    check_duplicates(found, subject, &list);
    check_env_references(found, subject, &value, env);
    check_master_key(found, subject, &value, env);
    check_traces(found, subject, &value);
    let models = litellm::read_config(config).map(|c| c.model_list).unwrap_or_default();
    Some(ProxyFacts { models })
}

/// The config's YAML and its `model_list`, or the failure that stops the other checks.
fn read_model_list(found: &mut Diagnosis, subject: Option<&str>, config: &Path) -> Option<(Value, Vec<Value>)> {
    let shown = config.display();
    let text = match std::fs::read_to_string(config) {
        Ok(text) => text,
        Err(err) => {
            found.fail(
                LITELLM_CONFIG,
                subject,
                format!("cannot read the LiteLLM config `{shown}`: {err}"),
                "create it, or fix `config` in the stack file (paths are relative to the stack file)",
            );
            return None;
        }
    };
    let value: Value = match serde_norway::from_str(&text) {
        Ok(value) => value,
        Err(err) => {
            found.fail(
                LITELLM_CONFIG,
                subject,
                format!("`{shown}` is not valid YAML: {err}"),
                "fix the YAML: indent with spaces, keep `model_list:` at the top level with `- model_name: …` items",
            );
            return None;
        }
    };
    let list = match value.get("model_list") {
        Some(Value::Sequence(list)) => list.clone(),
        Some(other) => {
            found.fail(
                LITELLM_CONFIG,
                subject,
                format!("`model_list` in `{shown}` is {}, not a list (LiteLLM: `string indices must be integers`)", kind_of(other)),
                "write every model as a list item: `model_list:` then `  - model_name: NAME` with `litellm_params:` under it",
            );
            return None;
        }
        None => {
            found.fail(
                LITELLM_CONFIG,
                subject,
                format!("`{shown}` has no `model_list`: the proxy would serve no model"),
                "add `model_list:` with `- model_name: NAME` and `litellm_params: { model: provider/model }` items",
            );
            return None;
        }
    };
    Some((value, list))
}

/// Every `model_list` item: a mapping with `model_name` and `litellm_params.model`, no misspelt key.
fn check_entries(found: &mut Diagnosis, subject: Option<&str>, list: &[Value]) {
    let mut entries_ok = true;
    for (index, item) in list.iter().enumerate() {
        let at = format!("model_list[{index}]");
        let Value::Mapping(map) = item else {
            entries_ok = false;
            found.fail(
                LITELLM_MODEL_ENTRY,
                subject,
                format!("`{at}` is {}, not a mapping", kind_of(item)),
                "write the item as `- model_name: NAME` with `litellm_params:` indented under it",
            );
            continue;
        };
        for key in map.keys().filter_map(Value::as_str) {
            if !["model_name", "litellm_params", "model_info"].contains(&key)
                && let Some(near) = crate::config::nearest(key, &["model_name", "litellm_params", "model_info"])
            {
                entries_ok = false;
                found.fail(
                    LITELLM_MODEL_ENTRY,
                    subject,
                    format!("`{at}` has `{key}`, which LiteLLM ignores"),
                    format!("rename it to `{near}`"),
                );
            }
        }
        if item.get("model_name").and_then(Value::as_str).is_none_or(str::is_empty) {
            entries_ok = false;
            found.fail(
                LITELLM_MODEL_ENTRY,
                subject,
                format!("`{at}` has no `model_name`"),
                "add `model_name: NAME`: the alias clients ask for",
            );
        }
        let model = item.get("litellm_params").and_then(|p| p.get("model")).and_then(Value::as_str);
        match model {
            None | Some("") => {
                entries_ok = false;
                found.fail(
                    LITELLM_MODEL_ENTRY,
                    subject,
                    format!("`{at}` has no `litellm_params.model`"),
                    "add `litellm_params:` with `model: provider/model` (e.g. `deepseek/deepseek-chat`) under the item",
                );
            }
            Some(model) => {
                let name = item.get("model_name").and_then(Value::as_str).unwrap_or(model);
                check_prefix(found, subject, name, model);
            }
        }
    }
    if entries_ok {
        found.ok(LITELLM_MODEL_ENTRY, subject, "every model has `model_name` and `litellm_params.model`");
    }
}

/// One `model_name` twice: LiteLLM load-balances, which is rarely meant.
fn check_duplicates(found: &mut Diagnosis, subject: Option<&str>, list: &[Value]) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for name in list.iter().filter_map(|i| i.get("model_name").and_then(Value::as_str)) {
        *seen.entry(name).or_default() += 1;
    }
    for (name, count) in seen.iter().filter(|(_, c)| **c > 1) {
        found.warn(
            LITELLM_DUPLICATE_MODEL,
            subject,
            format!("`{name}` is listed {count} times: LiteLLM load-balances requests between these entries"),
            "if that is not intended, give each entry its own `model_name`",
        );
    }
}

/// LiteLLM's OpenTelemetry callback: only the config switches it on (no variable does), and
/// without it the proxy sends no spans, so a run's trace shows its model calls from the AG-UI
/// server's side only.
fn check_traces(found: &mut Diagnosis, subject: Option<&str>, value: &Value) {
    let on = match value.get("litellm_settings").and_then(|s| s.get("callbacks")) {
        Some(Value::Sequence(list)) => list.iter().any(|c| c.as_str() == Some("otel")),
        Some(Value::String(name)) => name == "otel",
        _ => false,
    };
    if on {
        found.ok(
            LITELLM_TRACES,
            subject,
            "LiteLLM's OpenTelemetry callback is on: the proxy's spans join each run's trace",
        );
    } else {
        found.warn(
            LITELLM_TRACES,
            subject,
            "the config does not switch on LiteLLM's OpenTelemetry callback: a run's trace will show its model calls \
             from the AG-UI server's side only, without the proxy's spans",
            "add `callbacks: [\"otel\"]` under `litellm_settings` (agui-dev's pinned venv has the packages it needs)",
        );
    }
}

/// `${VAR}` (never expanded) and `os.environ/VAR` with nothing set.
fn check_env_references(found: &mut Diagnosis, subject: Option<&str>, value: &Value, env: &BTreeMap<String, String>) {
    let mut strings = Vec::new();
    walk_strings(value, String::new(), &mut strings);
    let mut syntax_ok = true;
    for (at, text) in &strings {
        if let Some(start) = text.find("${") {
            syntax_ok = false;
            let var: String =
                text[start + 2..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            found.fail(
                LITELLM_ENV_SYNTAX,
                subject,
                format!("`{at}` uses `${{{var}}}`, which LiteLLM never expands (it is sent literally)"),
                format!("write `os.environ/{var}` as the whole value"),
            );
        }
    }
    if syntax_ok {
        found.ok(LITELLM_ENV_SYNTAX, subject, "no `${VAR}` in the config (LiteLLM would not expand it)");
    }
    for (at, text) in &strings {
        let Some(var) = text.strip_prefix("os.environ/") else { continue };
        // Model keys are reported by the `keys.*` checks.
        if at.starts_with("model_list[") && at.ends_with(".litellm_params.api_key") {
            continue;
        }
        if env.get(var).is_none_or(String::is_empty) {
            found.warn(
                LITELLM_ENV_REF,
                subject,
                format!("`{at}` reads `os.environ/{var}`, but `{var}` is not set for the proxy"),
                format!("export `{var}` or add it to `.env`"),
            );
        }
    }
}

/// `master_key` where LiteLLM ignores it, one that differs from agui-dev's, and a database URL.
fn check_master_key(found: &mut Diagnosis, subject: Option<&str>, value: &Value, env: &BTreeMap<String, String>) {
    let misplaced = value.get("litellm_settings").and_then(|s| s.get("master_key")).is_some();
    if misplaced {
        found.fail(
            LITELLM_MASTER_KEY_LOCATION,
            subject,
            "`master_key` is under `litellm_settings`, where LiteLLM ignores it",
            "move it to `general_settings`, or drop it: agui-dev passes `LITELLM_MASTER_KEY` to the proxy",
        );
    }
    if let Some(key) = value.get("general_settings").and_then(|s| s.get("master_key")).and_then(Value::as_str) {
        let resolved = key.strip_prefix("os.environ/").map_or(Some(key), |var| env.get(var).map(String::as_str));
        if resolved != env.get("LITELLM_MASTER_KEY").map(String::as_str) {
            found.fail(
                LITELLM_CONFIG_MASTER_KEY,
                subject,
                "`general_settings.master_key` differs from the `LITELLM_MASTER_KEY` agui-dev gives the AG-UI servers as `LITELLM_API_KEY`: their requests get 400 `No connected db.`",
                "remove `general_settings.master_key` (agui-dev passes `LITELLM_MASTER_KEY`), or set it to `os.environ/LITELLM_MASTER_KEY`",
            );
        }
    }
    if value.get("general_settings").and_then(|s| s.get("database_url")).is_some() {
        found.warn(
            LITELLM_DATABASE_URL,
            subject,
            "`general_settings.database_url` is set: LiteLLM needs prisma and a database for it",
            "remove it for local development",
        );
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// Every string in a YAML document with its dotted path.
fn walk_strings(value: &Value, at: String, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(text) => out.push((at, text.clone())),
        Value::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_strings(item, format!("{at}[{i}]"), out);
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map {
                let key = key.as_str().map_or_else(|| format!("{key:?}"), str::to_owned);
                let path = if at.is_empty() { key } else { format!("{at}.{key}") };
                walk_strings(item, path, out);
            }
        }
        Value::Tagged(tagged) => walk_strings(&tagged.value, at, out),
        _ => {}
    }
}

/// A bare model id LiteLLM cannot route (`deepseek-chat`): `LLM Provider NOT provided`.
fn check_prefix(found: &mut Diagnosis, subject: Option<&str>, name: &str, model: &str) {
    if model.contains('/') || litellm::provider_of(model).is_some() {
        return;
    }
    let guess = ["deepseek", "gemini", "mistral", "groq", "cohere", "moonshot"]
        .into_iter()
        .find(|p| model.starts_with(p))
        .or_else(|| model.starts_with("grok").then_some("xai"))
        .or_else(|| model.starts_with("qwen").then_some("dashscope"));
    let fix = match guess {
        Some(provider) => format!("write `model: {provider}/{model}`"),
        None => format!(
            "prefix it with its provider, e.g. `deepseek/{model}`; for an OpenAI-compatible server use `openai/{model}` with `api_base`"
        ),
    };
    found.fail(
        LITELLM_PROVIDER_PREFIX,
        subject,
        format!("model `{name}` is `{model}`, without a provider prefix: LiteLLM answers `LLM Provider NOT provided`"),
        fix,
    );
}

/// A `.env` that LiteLLM loads on its own, found walking up from its site-packages.
fn check_dotenv(
    found: &mut Diagnosis,
    subject: Option<&str>,
    venv_dir: &Path,
    env: &BTreeMap<String, String>,
    prisma: bool,
) {
    let production = env.get("LITELLM_MODE").is_some_and(|m| m.eq_ignore_ascii_case("PRODUCTION"));
    let mut files: BTreeSet<PathBuf> = BTreeSet::new();
    for site in venv::site_packages(venv_dir) {
        for dir in site.ancestors() {
            let file = dir.join(".env");
            if file.is_file() {
                files.insert(file);
            }
        }
    }
    for file in files {
        let vars: Vec<(String, String)> =
            dotenvy::from_path_iter(&file).map(|iter| iter.flatten().collect()).unwrap_or_default();
        let differing: Vec<String> =
            vars.iter().filter(|(k, v)| env.get(k) != Some(v)).map(|(k, _)| format!("`{k}`")).collect();
        let sets_db = vars.iter().any(|(k, v)| k == "DATABASE_URL" && !v.is_empty());
        let keys = if differing.is_empty() { "none".to_owned() } else { differing.join(", ") };
        let message = format!(
            "LiteLLM loads `{}` on its own (found above its site-packages){}; variables that differ from what agui-dev passes: {keys}",
            file.display(),
            if production { " unless `LITELLM_MODE=PRODUCTION`, which agui-dev sets" } else { "" }
        );
        if !production && sets_db && !prisma {
            found.fail(
                LITELLM_DOTENV,
                subject,
                format!("{message}; it sets `DATABASE_URL` and prisma is not installed"),
                "remove `DATABASE_URL` from that file, or keep `LITELLM_MODE=PRODUCTION` in the proxy's environment",
            );
        } else {
            found.warn(
                LITELLM_DOTENV,
                subject,
                message,
                "move the file out of the venv's parent folders, or keep only what agui-dev does not set in it",
            );
        }
    }
}

/// The models a proxy serves, as doctor's later checks see them, without reporting anything:
/// `None` when the config cannot be read or has no list of models.
pub fn served_models(service: &Service) -> Option<ProxyFacts> {
    if let Some(config) = &keys(service).config {
        let text = std::fs::read_to_string(config).ok()?;
        let value: Value = serde_norway::from_str(&text).ok()?;
        if !matches!(value.get("model_list"), Some(Value::Sequence(_))) {
            return None;
        }
        let models = litellm::read_config(config).map(|c| c.model_list).unwrap_or_default();
        return Some(ProxyFacts { models });
    }
    let model = keys(service).model.as_ref()?;
    let entry = litellm::ModelEntry {
        model_name: model.clone(),
        litellm_params: litellm::ModelParams { model: model.clone(), ..Default::default() },
    };
    Some(ProxyFacts { models: vec![entry] })
}
