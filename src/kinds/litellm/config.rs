//! What agui-dev knows about the LiteLLM proxy: its config file, which provider key each model
//! needs, and which model to offer the AG-UI server (the compromised releases are in `advisories`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Installed by `setup` (and the image `export` names) when a litellm service has no
/// `requirements.txt` next to its config.
pub const DEFAULT_REQUIREMENT: &str = "litellm[proxy]==1.108.7";

/// Provider prefixes and the variables holding their keys, in the order a real model is preferred
/// when several keys are present (DeepSeek first: the templates were written for it).
pub const PROVIDERS: &[(&str, &[&str])] = &[
    ("deepseek", &["DEEPSEEK_API_KEY"]),
    ("openai", &["OPENAI_API_KEY"]),
    ("anthropic", &["ANTHROPIC_API_KEY"]),
    // LiteLLM reads GOOGLE_API_KEY first when both are set.
    ("gemini", &["GOOGLE_API_KEY", "GEMINI_API_KEY"]),
    ("mistral", &["MISTRAL_API_KEY"]),
    ("groq", &["GROQ_API_KEY"]),
    ("openrouter", &["OPENROUTER_API_KEY"]),
    ("xai", &["XAI_API_KEY"]),
    ("azure", &["AZURE_API_KEY"]),
    ("cohere", &["COHERE_API_KEY"]),
    ("dashscope", &["DASHSCOPE_API_KEY"]),
    ("moonshot", &["MOONSHOT_API_KEY"]),
];

#[derive(Debug, Deserialize, Default)]
pub struct ProxyConfig {
    #[serde(default)]
    pub model_list: Vec<ModelEntry>,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct ModelEntry {
    #[serde(default)]
    pub model_name: String,
    #[serde(default)]
    pub litellm_params: ModelParams,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct ModelParams {
    #[serde(default)]
    pub model: String,
    pub api_key: Option<String>,
    pub mock_response: Option<serde_norway::Value>,
}

impl ModelEntry {
    /// An offline model answers from `mock_response`: no key, no network.
    pub fn is_offline(&self) -> bool {
        self.litellm_params.mock_response.is_some()
    }
}

/// Why a proxy config file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read `{}`: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("`{}` is not a valid LiteLLM config: {source}", path.display())]
    Invalid { path: PathBuf, source: serde_norway::Error },
}

/// Reads a proxy config file.
pub fn read_config(path: &Path) -> Result<ProxyConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    serde_norway::from_str(&text).map_err(|source| ConfigError::Invalid { path: path.to_owned(), source })
}

/// The provider of a LiteLLM model id (`deepseek/deepseek-chat` -> `deepseek`), guessing the
/// bare ids LiteLLM itself maps (`gpt-4o`, `claude-...`).
pub fn provider_of(model: &str) -> Option<&'static str> {
    if let Some((prefix, _)) = model.split_once('/') {
        return PROVIDERS.iter().map(|(p, _)| *p).find(|p| *p == prefix);
    }
    if model.starts_with("gpt-") || model.starts_with("o1") || model.starts_with("o3") || model.starts_with("o4") {
        Some("openai")
    } else if model.starts_with("claude") {
        Some("anthropic")
    } else {
        None
    }
}

/// Whether `name` holds a provider's key (provider keys are optional: only the models whose key
/// is set work, the rest of the proxy still starts).
pub fn is_provider_key(name: &str) -> bool {
    PROVIDERS.iter().any(|(_, vars)| vars.contains(&name))
}

/// The variables that can hold a provider's key, in LiteLLM's order of preference.
pub fn key_vars(provider: &str) -> &'static [&'static str] {
    PROVIDERS.iter().find(|(p, _)| *p == provider).map_or(&[], |(_, vars)| vars)
}

/// The variable a model's key comes from: `os.environ/NAME` in the config, else the provider's.
pub fn key_var_of(entry: &ModelEntry) -> Option<String> {
    if let Some(name) = entry.litellm_params.api_key.as_deref().and_then(|k| k.strip_prefix("os.environ/")) {
        return Some(name.to_owned());
    }
    provider_of(&entry.litellm_params.model).and_then(|p| key_vars(p).first()).map(|v| (*v).to_owned())
}

/// Values people paste from guides instead of a key.
pub fn is_placeholder(value: &str) -> bool {
    let lower = value.trim().to_ascii_lowercase();
    lower.is_empty()
        || lower.contains("your-")
        || lower.contains("your_")
        || lower.contains('<')
        || lower.contains("xxxx")
        || ["sk-your-key", "changeme", "any-value", "sk-1234", "none", "null", "todo"].contains(&lower.as_str())
}

/// The model the AG-UI server should ask for, and why, given a lookup of the environment.
pub fn choose_model(config: &ProxyConfig, var: &dyn Fn(&str) -> Option<String>) -> Option<(String, String)> {
    let usable = |name: &str| var(name).is_some_and(|v| !is_placeholder(&v));
    for (provider, _) in PROVIDERS {
        for entry in config.model_list.iter().filter(|e| !e.is_offline()) {
            if provider_of(&entry.litellm_params.model) != Some(provider) {
                continue;
            }
            if let Some(key) = key_var_of(entry).filter(|k| usable(k)) {
                return Some((entry.model_name.clone(), format!("`{key}` is set")));
            }
        }
    }
    config.model_list.iter().find(|e| e.is_offline()).map(|e| {
        (
            e.model_name.clone(),
            "no provider key is set, so answers are canned; set e.g. `DEEPSEEK_API_KEY` for a real model".to_owned(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ProxyConfig {
        serde_norway::from_str(
            r"
model_list:
  - model_name: offline
    litellm_params: { model: openai/offline, mock_response: canned }
  - model_name: gpt-4o-mini
    litellm_params: { model: openai/gpt-4o-mini, api_key: os.environ/OPENAI_API_KEY }
  - model_name: deepseek-chat
    litellm_params: { model: deepseek/deepseek-chat, api_key: os.environ/DEEPSEEK_API_KEY }
",
        )
        .unwrap()
    }

    #[test]
    fn prefers_deepseek_then_any_keyed_model_then_offline() {
        let both = |n: &str| matches!(n, "OPENAI_API_KEY" | "DEEPSEEK_API_KEY").then(|| "sk-real-key-123".to_owned());
        assert_eq!(choose_model(&config(), &both).unwrap().0, "deepseek-chat");
        let openai = |n: &str| (n == "OPENAI_API_KEY").then(|| "sk-real-key-123".to_owned());
        assert_eq!(choose_model(&config(), &openai).unwrap().0, "gpt-4o-mini");
        let placeholder = |n: &str| (n == "DEEPSEEK_API_KEY").then(|| "your-api-key".to_owned());
        assert_eq!(choose_model(&config(), &placeholder).unwrap().0, "offline");
        assert_eq!(choose_model(&config(), &|_| None).unwrap().0, "offline");
    }

    #[test]
    fn knows_providers() {
        assert_eq!(provider_of("deepseek/deepseek-chat"), Some("deepseek"));
        assert_eq!(provider_of("gpt-4o"), Some("openai"));
        assert_eq!(provider_of("claude-3-opus-20240229"), Some("anthropic"));
        assert_eq!(provider_of("deepseek-chat"), None);
        assert_eq!(key_vars("gemini"), &["GOOGLE_API_KEY", "GEMINI_API_KEY"]);
    }
}
