//! A new project from the embedded templates: the stack file, the LiteLLM config with its
//! pinned requirements and the offline models, the MCP server, the AG-UI server,
//! `.env.example` with every provider key commented out, `.gitignore` and a short README.

use std::fmt::Write as _;

use super::NewFile;
use crate::cli::Provider;
use crate::config::FILE_NAME;
use crate::kinds::litellm::config::{PROVIDERS, provider_of, read_config};

/// Everything a new project holds, and a line for the report.
pub(super) fn files(name: &str, provider: Provider) -> (Vec<NewFile>, String) {
    let prefix = prefix(provider);
    let mut files = vec![
        NewFile { path: FILE_NAME.to_owned(), bytes: stack_toml(name).into_bytes() },
        NewFile { path: ".env.example".to_owned(), bytes: env_example(prefix).into_bytes() },
        NewFile { path: ".gitignore".to_owned(), bytes: GITIGNORE.as_bytes().to_vec() },
        NewFile { path: "README.md".to_owned(), bytes: readme(name, prefix).into_bytes() },
    ];
    for folder in ["litellm", "mcp-server", "agui-server"] {
        for (path, bytes) in crate::embedded::folder(folder) {
            let bytes = if folder == "litellm" && path == "config.yaml" {
                only_provider(&String::from_utf8_lossy(bytes), prefix).into_bytes()
            } else {
                bytes.to_vec()
            };
            files.push(NewFile { path: format!("{folder}/{path}"), bytes });
        }
    }
    (files, format!("new project `{name}` (provider {prefix}, plus the offline models)\n"))
}

fn prefix(provider: Provider) -> &'static str {
    match provider {
        Provider::Deepseek => "deepseek",
        Provider::Openai => "openai",
        Provider::Anthropic => "anthropic",
        Provider::Gemini => "gemini",
    }
}

fn stack_toml(name: &str) -> String {
    let name = serde_json::to_string(name).unwrap_or_default();
    format!(
        r#"# The stack of {name}: a LiteLLM proxy, an MCP server and an AG-UI server.
# `agui-dev up` starts it (set-up runs the first time), Ctrl-C stops it; `agui-dev check` shows
# the plan. Provider keys go in `.env` (see `.env.example`); without one the proxy answers from
# an offline model.

[stack]
name = {name}
env_files = [".env"]

[services.litellm]
kind = "litellm"
venv = ".venv"
config = "litellm/config.yaml"
port = 4000

[services.mcp]
kind = "mcp"
cwd = "mcp-server"
command = "npm run dev"
port = 3100

[services.agui]
kind = "agui"
cwd = "agui-server"
command = "npm run dev"
port = 3000
depends_on = ["mcp"]
env = {{ AGENT_MODE = "llm" }}
"#
    )
}

/// Every provider key agui-dev knows, commented out, the chosen provider's first.
fn env_example(chosen: &str) -> String {
    let mut text = String::from(
        "# Provider keys for the LiteLLM proxy. Copy this file to `.env` (agui-dev loads it, git ignores it)\n\
         # and set the key you use. With none set, the proxy answers from its offline model.\n",
    );
    let mut ordered: Vec<&(&str, &[&str])> = PROVIDERS.iter().filter(|(p, _)| *p == chosen).collect();
    ordered.extend(PROVIDERS.iter().filter(|(p, _)| *p != chosen));
    for (index, (provider, vars)) in ordered.iter().enumerate() {
        if index == 1 {
            text.push_str("\n# Other providers (add their models to litellm/config.yaml to use them):\n");
        }
        for var in *vars {
            let _ = writeln!(text, "# {var}=    # {provider}");
        }
        if *provider == "azure" {
            text.push_str("# AZURE_API_BASE=    # azure\n");
        }
    }
    text
}

/// The template config with only the chosen provider's real models (offline models always
/// stay). Falls back to the template as it is when its layout is not the one expected.
fn only_provider(config: &str, chosen: &str) -> String {
    let lines: Vec<&str> = config.lines().collect();
    let Some(start) = lines.iter().position(|l| l.starts_with("model_list:")) else { return config.to_owned() };
    let end = (start + 1..lines.len())
        .find(|&i| !lines[i].is_empty() && !lines[i].starts_with(' ') && !lines[i].starts_with('#'))
        .unwrap_or(lines.len());
    let items: Vec<usize> = (start + 1..end).filter(|&i| lines[i].starts_with("  - ")).collect();
    // Each item owns the comment lines right above it and everything up to the next one's.
    let heads: Vec<usize> = items
        .iter()
        .map(|&i| {
            let mut head = i;
            while head > start + 1 && lines[head - 1].trim_start().starts_with('#') {
                head -= 1;
            }
            head
        })
        .collect();
    let mut drop = vec![false; lines.len()];
    for (n, &head) in heads.iter().enumerate() {
        let until = heads.get(n + 1).copied().unwrap_or(end);
        let block = &lines[head..until];
        let offline = block.iter().any(|l| l.contains("mock_response"));
        let model = block.iter().find_map(|l| l.trim().strip_prefix("model:").map(|m| m.trim().trim_matches('"')));
        let provider = model.and_then(provider_of);
        if !offline && provider.is_some_and(|p| p != chosen) {
            drop[head..until].iter_mut().for_each(|d| *d = true);
        }
    }
    let mut kept = String::new();
    for (line, _) in lines.iter().zip(&drop).filter(|(_, d)| !**d) {
        kept.push_str(line);
        kept.push('\n');
    }
    if !config.ends_with('\n') {
        kept.pop();
    }
    // Use it only if it still parses and still offers the chosen provider.
    let probe = std::env::temp_dir().join(format!("agui-dev-config-{}.yaml", std::process::id()));
    let valid = std::fs::write(&probe, &kept).is_ok()
        && read_config(&probe)
            .is_ok_and(|c| c.model_list.iter().any(|m| provider_of(&m.litellm_params.model) == Some(chosen)));
    let _ = std::fs::remove_file(&probe);
    if valid { kept } else { config.to_owned() }
}

const GITIGNORE: &str = ".venv/\n.agui-dev/\nnode_modules/\n.env\n";

fn readme(name: &str, provider: &str) -> String {
    format!(
        "# {name}\n\n\
         A local AG-UI agent stack made by `agui-dev init`: a LiteLLM proxy (`litellm/`), an MCP server\n\
         (`mcp-server/`) and an AG-UI server (`agui-server/`), described by `stack.toml`.\n\n\
         ```sh\n\
         agui-dev up        # set-up on the first run (venv with pinned LiteLLM, npm ci), then the stack\n\
         agui-dev doctor    # what is wrong, with a fix for each problem\n\
         agui-dev smoke     # bring it up, check every service answers, stop it (CI)\n\
         ```\n\n\
         Without a provider key the proxy answers from an offline model (canned text). Copy `.env.example`\n\
         to `.env` and set the {provider} key (or another provider's, with its model added to\n\
         `litellm/config.yaml`) for a real model. Try a run while the stack is up:\n\n\
         ```sh\n\
         curl -N -X POST http://127.0.0.1:3000/agent -H 'content-type: application/json' \\\n  \
         -d '{{\"threadId\":\"t1\",\"runId\":\"r1\",\"state\":{{}},\"messages\":[{{\"id\":\"m1\",\"role\":\"user\",\"content\":\"hi\"}}],\"tools\":[],\"context\":[],\"forwardedProps\":{{}}}}'\n\
         ```\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_keeps_offline_models_and_the_chosen_provider() {
        let template = String::from_utf8_lossy(crate::embedded::file("litellm/config.yaml").unwrap()).into_owned();
        for chosen in ["deepseek", "openai", "anthropic", "gemini"] {
            let text = only_provider(&template, chosen);
            let path = std::env::temp_dir().join(format!("agui-dev-test-{chosen}-{}.yaml", std::process::id()));
            std::fs::write(&path, &text).unwrap();
            let config = read_config(&path).unwrap();
            let _ = std::fs::remove_file(&path);
            let providers: Vec<Option<&str>> = config
                .model_list
                .iter()
                .filter(|m| !m.is_offline())
                .map(|m| provider_of(&m.litellm_params.model))
                .collect();
            assert!(config.model_list.iter().any(crate::kinds::litellm::config::ModelEntry::is_offline));
            assert!(providers.contains(&Some(chosen)), "{chosen}: {providers:?}");
            assert!(providers.iter().all(|p| p.is_none_or(|p| p == chosen)), "{chosen}: {providers:?}");
        }
    }

    #[test]
    fn env_example_lists_every_key_commented_out() {
        let text = env_example("openai");
        assert!(text.lines().find(|l| l.contains("_API_KEY")).unwrap().contains("OPENAI_API_KEY"));
        for (_, vars) in PROVIDERS {
            for var in *vars {
                assert!(text.contains(&format!("# {var}=")), "{var}");
            }
        }
        assert!(text.lines().all(|l| l.is_empty() || l.starts_with('#')));
    }
}
