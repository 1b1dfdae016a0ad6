//! A litellm service given a bare `model = "provider/name"` (as `start-litellm.sh` runs
//! `litellm --model deepseek/deepseek-chat`) whose provider key is missing: instead of a proxy
//! that starts and then fails every request, agui-dev runs it from a small generated config that
//! holds an offline model (`mock_response`, no key, no network) next to the requested one, and
//! offers the offline model to the AG-UI servers, as the config form does when no key is set.

use std::path::{Path, PathBuf};

use super::config::{is_placeholder, key_vars, provider_of};

/// The offline model's name, as in the template config.
pub const OFFLINE: &str = "offline";

/// The variable `model` needs that is unset (or a placeholder): `None` when the key is there or
/// the provider is unknown (then nothing can be said and the model runs as given).
pub fn missing_key(model: &str, var: &dyn Fn(&str) -> Option<String>) -> Option<&'static str> {
    let vars = key_vars(provider_of(model)?);
    let present = vars.iter().any(|name| var(name).is_some_and(|v| !is_placeholder(&v)));
    if present { None } else { vars.first().copied() }
}

/// Where the generated config of a service lives: agui-dev's own folder next to the stack file.
pub fn config_path(stack_dir: &Path, service: &str) -> PathBuf {
    stack_dir.join(".agui-dev").join(format!("litellm-offline-{service}.yaml"))
}

/// Writes the generated config: the offline model first, then the requested one, so a request
/// for it still fails with the provider's own "missing key" message.
pub fn write_config(path: &Path, model: &str, key: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let quoted = serde_json::to_string(model).unwrap_or_default();
    let text = format!(
        "# Written by agui-dev for each run: `model = {quoted}` needs `{key}`, which is not set, so the\n\
         # AG-UI server is offered the offline model below. Set `{key}` and the proxy runs the model.\n\
         model_list:\n\
         \x20 - model_name: {OFFLINE}\n\
         \x20   litellm_params:\n\
         \x20     model: openai/{OFFLINE}\n\
         \x20     mock_response: \"[offline model] {key} is not set, so this is a canned answer from agui-dev's offline model.\"\n\
         \x20   model_info:\n\
         \x20     input_cost_per_token: 0\n\
         \x20     output_cost_per_token: 0\n\
         \x20 - model_name: {quoted}\n\
         \x20   litellm_params:\n\
         \x20     model: {quoted}\n\
         \x20     api_key: os.environ/{key}\n\
         # Spans to agui-dev's trace receiver under `up` (OTEL_SDK_DISABLED=true without one).\n\
         litellm_settings:\n\
         \x20 callbacks: [\"otel\"]\n"
    );
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_key_is_named_and_the_config_parses() {
        assert_eq!(missing_key("deepseek/deepseek-chat", &|_| None), Some("DEEPSEEK_API_KEY"));
        let placeholder = |_: &str| Some("your-api-key".to_owned());
        assert_eq!(missing_key("deepseek/deepseek-chat", &placeholder), Some("DEEPSEEK_API_KEY"));
        let real = |n: &str| (n == "GEMINI_API_KEY").then(|| "AIza-real-123".to_owned());
        assert_eq!(missing_key("gemini/gemini-pro", &real), None);
        assert_eq!(missing_key("my-local-model", &|_| None), None);
        let dir = tempfile::tempdir().unwrap();
        let path = config_path(dir.path(), "litellm");
        write_config(&path, "deepseek/deepseek-chat", "DEEPSEEK_API_KEY").unwrap();
        let config = super::super::config::read_config(&path).unwrap();
        assert!(config.model_list[0].is_offline());
        assert_eq!(config.model_list[1].litellm_params.model, "deepseek/deepseek-chat");
    }
}
