//! The proxy in a container, for `agui-dev export`: LiteLLM's official image at the version the
//! venv is pinned to, its config folder mounted, its arguments, and the provider keys its config
//! reads (passed as secret references). A literal key in the config is refused, since the config
//! is carried into the export.

use std::path::{Path, PathBuf};

use super::advisories;
use super::config::{self, DEFAULT_REQUIREMENT};
use crate::config::{Service, Stack};
use crate::error::{Error, Result};
use crate::kinds::container::{ConfigFiles, Container, Runtime};
use crate::secret::is_secret_name;

/// Where the proxy config (and the Python modules beside it) is mounted in the container.
pub const CONFIG_DIR: &str = "/etc/litellm";

/// Variables the local run sets that mean nothing in the image (host paths).
const HOST_ONLY_ENV: &[&str] = &["PATH", "VIRTUAL_ENV"];

/// LiteLLM's official image at the given release.
pub fn image(version: &str) -> String {
    format!("ghcr.io/berriai/litellm:main-v{version}")
}

pub fn container(stack: &Stack, service: &Service) -> Result<Container> {
    let at = |key: &str| format!("`services.{}.{key}`", service.name);
    let mut warnings = Vec::new();
    if service.command.is_some() {
        warnings.push(format!(
            "{}: a custom command is not carried; the container runs the official LiteLLM image with the stack's config",
            at("command")
        ));
    }
    let version = pinned_version(service)?;
    if let Some(advisory) = advisories::compromised(&version) {
        let name = advisory.name();
        return Err(Error::usage(format!(
            "LiteLLM {version} is a compromised release ({name}); no image is exported for it"
        ))
        .hint("pin another release in the requirements next to the proxy config"));
    }
    let mut secret_vars: Vec<String> = Vec::new();
    let files = if let Some(path) = &super::keys(service).config {
        Some(config_files(path, &service.name, &mut secret_vars, &stack.source.shown)?)
    } else {
        if let Some(provider) = super::keys(service).model.as_deref().and_then(config::provider_of) {
            secret_vars.extend(config::key_vars(provider).iter().map(|v| (*v).to_owned()));
        }
        None
    };
    let config_name = files.as_ref().and_then(|f| f.files.first()).map(|(name, _)| name.clone());
    let args = args(config_name.as_deref(), super::keys(service).model.as_deref(), service.port.unwrap_or(4000));
    Ok(Container {
        runtime: Runtime::Python,
        image: image(&version),
        args,
        config: files,
        secret_vars,
        host_only_env: HOST_ONLY_ENV,
        warnings,
    })
}

/// The version in the `requirements.txt` beside the config (what `setup` installs), else setup's
/// default pin.
fn pinned_version(service: &Service) -> Result<String> {
    let requirements = super::keys(service)
        .config
        .as_ref()
        .and_then(|c| c.parent())
        .map(|d| d.join("requirements.txt"))
        .filter(|r| r.is_file());
    let Some(path) = requirements else {
        return Ok(DEFAULT_REQUIREMENT.rsplit_once("==").map_or("", |(_, v)| v).to_owned());
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::failed(format!("cannot read `{}`", path.display())).cause(e))?;
    pin(&text).ok_or_else(|| {
        Error::usage(format!("`{}` pins no `litellm==VERSION`", path.display()))
            .hint("pin LiteLLM there (e.g. `litellm[proxy]==1.108.7`): the image is chosen to match it")
    })
}

/// The pinned `litellm` version of a requirements file (`litellm==X` or `litellm[proxy]==X`), read
/// as `setup` and doctor read it.
fn pin(requirements: &str) -> Option<String> {
    super::advisories::litellm_pin(requirements).map(|(_, version)| version)
}

/// The proxy's arguments inside its container: the image's entrypoint is `litellm`. It binds
/// `0.0.0.0` because a container is reached through its own network interface; the host side
/// stays on loopback (compose publishes on 127.0.0.1, Kubernetes through a ClusterIP Service).
fn args(config_file: Option<&str>, model: Option<&str>, port: u16) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(config) = config_file {
        args.extend(["--config".to_owned(), format!("{CONFIG_DIR}/{config}")]);
    } else if let Some(model) = model {
        args.extend(["--model".to_owned(), model.to_owned()]);
    }
    args.extend(["--host".to_owned(), "0.0.0.0".to_owned(), "--port".to_owned(), port.to_string()]);
    args
}

/// The config file first, then the Python modules beside it (LiteLLM loads custom handlers from
/// the config's folder). A literal key in the config would be written into the ConfigMap, so it
/// is an error: the config must read keys with `os.environ/NAME`.
fn config_files(path: &Path, service: &str, key_vars: &mut Vec<String>, shown: &str) -> Result<ConfigFiles> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| Error::failed(format!("cannot read `{}`", p.display())).cause(e))
    };
    let text = read(path)?;
    let yaml: serde_norway::Value = serde_norway::from_str(&text).map_err(|e| {
        Error::usage(format!("`{}` is not valid YAML", path.display())).cause(e).hint("`agui-dev doctor` explains it")
    })?;
    let mut literal = None;
    walk(&yaml, &mut |key, value| {
        if let Some(var) = value.strip_prefix("os.environ/") {
            if !key_vars.iter().any(|v| v == var) {
                key_vars.push(var.to_owned());
            }
        } else if key.is_some_and(is_secret_name) && !value.is_empty() && literal.is_none() {
            literal = key.map(str::to_owned);
        }
    });
    if let Some(key) = literal {
        return Err(Error::usage(format!(
            "`{}` (the config of `services.{service}` in `{shown}`) has a literal `{key}`",
            path.display()
        ))
        .hint(format!("write `{key}: os.environ/NAME` and set NAME in the environment: exports never carry a key")));
    }
    if let Ok(parsed) = serde_norway::from_value::<config::ProxyConfig>(yaml) {
        for entry in parsed.model_list.iter().filter(|e| !e.is_offline()) {
            if let Some(var) = config::key_var_of(entry).filter(|v| !key_vars.contains(v)) {
                key_vars.push(var);
            }
        }
    }
    let dir = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut files = vec![(name, text)];
    let mut modules: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "py")).collect()
        })
        .unwrap_or_default();
    modules.sort();
    for module in modules {
        let file = module.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        files.push((file, read(&module)?));
    }
    Ok(ConfigFiles { dir, mount: CONFIG_DIR, files })
}

/// Calls `visit(key, string)` for every string in a YAML document (`key` is its mapping key).
fn walk(value: &serde_norway::Value, visit: &mut dyn FnMut(Option<&str>, &str)) {
    match value {
        serde_norway::Value::Mapping(map) => {
            for (k, v) in map {
                if let serde_norway::Value::String(s) = v {
                    visit(k.as_str(), s);
                } else {
                    walk(v, visit);
                }
            }
        }
        serde_norway::Value::Sequence(items) => items.iter().for_each(|v| walk(v, visit)),
        serde_norway::Value::String(s) => visit(None, s),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_litellm_pin() {
        assert_eq!(pin("foo==1\nlitellm==1.108.7 \\\n    --hash=sha256:abc\n").as_deref(), Some("1.108.7"));
        assert_eq!(pin("litellm[proxy]==1.80.0\n").as_deref(), Some("1.80.0"));
        assert_eq!(pin("litellm-enterprise==0.1\n"), None);
    }

    /// The image named without a requirements file is the release `setup` installs then: the
    /// embedded `templates/litellm/requirements.txt`, where the project pins LiteLLM.
    #[test]
    fn the_default_release_is_the_templates_pin() {
        let template = String::from_utf8_lossy(crate::embedded::litellm_requirements());
        let default = DEFAULT_REQUIREMENT.rsplit_once("==").map(|(_, v)| v);
        assert_eq!(default, pin(&template).as_deref(), "`DEFAULT_REQUIREMENT` lags the template's pin");
    }

    #[test]
    fn the_proxy_binds_every_interface_of_its_container() {
        assert_eq!(
            args(Some("c.yaml"), None, 4000),
            ["--config", "/etc/litellm/c.yaml", "--host", "0.0.0.0", "--port", "4000"]
        );
        assert_eq!(args(None, Some("openai/gpt-4o"), 4001)[..2], ["--model", "openai/gpt-4o"]);
    }
}
