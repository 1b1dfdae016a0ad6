//! Doctor's `keys` area: which provider key each model needs and whether it is set (shown
//! masked), and whether the model in use suits a tool loop.

use std::collections::BTreeMap;

use super::litellm::ProxyFacts;
use crate::config::Service;
use crate::diagnosis::{Area, CheckId, Diagnosis};
use crate::kinds::litellm::config as litellm;
use crate::kinds::{Inspect, agui, mcp};
use crate::secret::mask;

pub const LITELLM_REASONER_TOOLS: CheckId = CheckId::new(Area::Litellm, "litellm.reasoner_tools");
pub const KEYS_MODEL: CheckId = CheckId::new(Area::Keys, "keys.model");
pub const KEYS_NONE: CheckId = CheckId::new(Area::Keys, "keys.none");
pub const KEYS_GEMINI_SHADOW: CheckId = CheckId::new(Area::Keys, "keys.gemini_shadow");

/// Every id this file makes.
pub const IDS: &[CheckId] = &[LITELLM_REASONER_TOOLS, KEYS_MODEL, KEYS_NONE, KEYS_GEMINI_SHADOW];

pub fn check(
    found: &mut Diagnosis,
    stack: &dyn Inspect,
    service: &Service,
    proxy: Option<&ProxyFacts>,
    env: &BTreeMap<String, String>,
) {
    let Some(proxy) = proxy else { return };
    let value_of = |name: &str| env.get(name).cloned();
    let chosen = chosen_model(stack, proxy, &value_of);
    check_reasoner(found, stack, service, proxy, chosen.as_deref());
    let keyed: Vec<&litellm::ModelEntry> = proxy
        .models
        .iter()
        .filter(|e| !e.is_offline() && e.litellm_params.api_key.as_deref().is_none_or(|k| k.starts_with("os.environ/")))
        .filter(|e| !key_vars_of(e).is_empty())
        .collect();
    let any_usable = keyed.iter().any(|e| usable(&key_vars_of(e), &value_of));
    for entry in &proxy.models {
        check_model(found, entry, chosen.as_deref(), any_usable, &value_of);
    }
    if !keyed.is_empty() && !any_usable {
        check_none(found, service, proxy, &keyed);
    }
    check_gemini_shadow(found, service, &value_of);
}

/// The model the AG-UI servers ask for; without one, the model the user names, else the one
/// agui-dev would choose.
fn chosen_model(stack: &dyn Inspect, proxy: &ProxyFacts, value_of: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    stack
        .services_of(agui::KIND)
        .into_iter()
        .find_map(|s| stack.env_of(s).get("LITELLM_MODEL").cloned())
        .or_else(|| value_of("LITELLM_MODEL").filter(|m| !m.is_empty()))
        .or_else(|| {
            let config = litellm::ProxyConfig { model_list: proxy.models.clone() };
            litellm::choose_model(&config, value_of).map(|(model, _)| model)
        })
}

/// A thinking model in a tool loop: DeepSeek rejects a follow-up without `reasoning_content`.
fn check_reasoner(
    found: &mut Diagnosis,
    stack: &dyn Inspect,
    service: &Service,
    proxy: &ProxyFacts,
    chosen: Option<&str>,
) {
    let chosen_entry = chosen.and_then(|name| proxy.models.iter().find(|m| m.model_name == name));
    if let Some(entry) = chosen_entry.filter(|_| !stack.services_of(mcp::KIND).is_empty()) {
        let id = entry.litellm_params.model.to_ascii_lowercase();
        if id.contains("reasoner") || id.contains("deepseek-r1") {
            found.warn(
                LITELLM_REASONER_TOOLS,
                Some(service.name.as_str()),
                format!(
                    "`{}` is a thinking model (`{id}`) and the stack offers MCP tools: DeepSeek fails a tool loop with `reasoning_content ... must be passed back`",
                    entry.model_name
                ),
                "use a non-thinking model for tools, e.g. `deepseek/deepseek-chat`",
            );
        }
    }
}

/// The variables a model's key may come from, in LiteLLM's order.
fn key_vars_of(entry: &litellm::ModelEntry) -> Vec<String> {
    match entry.litellm_params.api_key.as_deref().and_then(|k| k.strip_prefix("os.environ/")) {
        Some(var) => vec![var.to_owned()],
        None => litellm::provider_of(&entry.litellm_params.model)
            .map(|p| litellm::key_vars(p).iter().map(|v| (*v).to_owned()).collect())
            .unwrap_or_default(),
    }
}

/// Whether one of `vars` holds a real key.
fn usable(vars: &[String], value_of: &dyn Fn(&str) -> Option<String>) -> bool {
    vars.iter().any(|v| value_of(v).is_some_and(|k| !litellm::is_placeholder(&k)))
}

/// One model's key: set, a placeholder, or missing (an error for the model in use).
fn check_model(
    found: &mut Diagnosis,
    entry: &litellm::ModelEntry,
    chosen: Option<&str>,
    any_usable: bool,
    value_of: &dyn Fn(&str) -> Option<String>,
) {
    let name = entry.model_name.as_str();
    if entry.is_offline() {
        found.ok(KEYS_MODEL, Some(name), "offline model (`mock_response`): needs no key");
        return;
    }
    if entry.litellm_params.api_key.as_deref().is_some_and(|k| !k.starts_with("os.environ/")) {
        found.warn(
            KEYS_MODEL,
            Some(name),
            "the key is written into the config file",
            "use `api_key: os.environ/NAME` and keep the key in the environment or `.env`",
        );
        return;
    }
    let vars = key_vars_of(entry);
    if vars.is_empty() {
        found.ok(KEYS_MODEL, Some(name), "no provider key agui-dev knows of is needed");
        return;
    }
    let is_chosen = chosen == Some(name);
    let names = vars.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(" or ");
    let set = vars.iter().find_map(|v| value_of(v).map(|k| (v.clone(), k)));
    match set {
        Some((var, key)) if litellm::is_placeholder(&key) => found.fail(
            KEYS_MODEL,
            Some(name),
            format!("`{var}` holds a placeholder, not a key ({})", mask(&key)),
            format!("set `{var}` to your real key (export it or put it in `.env`)"),
        ),
        Some((var, key)) => found.ok(KEYS_MODEL, Some(name), format!("`{var}` is set ({})", mask(&key))),
        None if is_chosen => found.fail(
            KEYS_MODEL,
            Some(name),
            format!("`{name}` is the model the AG-UI server uses (`LITELLM_MODEL`), but {names} is not set: every request fails"),
            format!("export {names} (or add it to `.env`), or set `LITELLM_MODEL` to a model whose key you have"),
        ),
        None if any_usable => found.warn(
            KEYS_MODEL,
            Some(name),
            format!("{names} is not set: requests to `{name}` will fail"),
            format!("export {names} (or add it to `.env`), or remove the model from the config"),
        ),
        // Folded into `keys.none`.
        None => {}
    }
}

/// No model has its key: the offline model answers, or nothing can.
fn check_none(found: &mut Diagnosis, service: &Service, proxy: &ProxyFacts, keyed: &[&litellm::ModelEntry]) {
    let needed: Vec<String> =
        keyed.iter().map(|e| format!("`{}` needs {}", e.model_name, key_vars_of(e).join(" or "))).collect();
    match proxy.models.iter().find(|e| e.is_offline()) {
        Some(offline) => found.warn(
            KEYS_NONE,
            Some(service.name.as_str()),
            format!(
                "no provider key is set: the offline model `{}` will answer with canned text ({})",
                offline.model_name,
                needed.join("; ")
            ),
            "set a provider key, e.g. `export DEEPSEEK_API_KEY=…` or in `.env`, for a real model",
        ),
        None => found.fail(
            KEYS_NONE,
            Some(service.name.as_str()),
            format!(
                "no provider key is set and there is no offline model: no model can answer ({})",
                needed.join("; ")
            ),
            "set a provider key (export it or put it in `.env`)",
        ),
    }
}

/// Two Gemini keys that differ: LiteLLM takes `GOOGLE_API_KEY`, which surprises.
fn check_gemini_shadow(found: &mut Diagnosis, service: &Service, value_of: &dyn Fn(&str) -> Option<String>) {
    let google = value_of("GOOGLE_API_KEY").filter(|v| !v.is_empty());
    let gemini = value_of("GEMINI_API_KEY").filter(|v| !v.is_empty());
    if let (Some(google), Some(gemini)) = (google, gemini)
        && google != gemini
    {
        found.warn(
            KEYS_GEMINI_SHADOW,
            Some(service.name.as_str()),
            format!(
                "both `GOOGLE_API_KEY` ({}) and `GEMINI_API_KEY` ({}) are set: LiteLLM uses `GOOGLE_API_KEY` for Gemini",
                mask(&google),
                mask(&gemini)
            ),
            "unset the one you do not mean to use",
        );
    }
}
