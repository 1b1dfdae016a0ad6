//! The templates carried inside the binary (see `build.rs`): the LiteLLM config with its pinned,
//! hashed requirements, the MCP server and the AG-UI server. `init` writes them into new
//! projects, and `setup` installs LiteLLM from the embedded pins when a project has none, so an
//! installed agui-dev needs no checkout of its repository.

use std::path::{Path, PathBuf};

mod generated {
    include!(concat!(env!("OUT_DIR"), "/templates.rs"));
}

/// Every embedded file: its path under `templates/` (with `/`) and its bytes.
pub fn files() -> &'static [(&'static str, &'static [u8])] {
    generated::FILES
}

/// One embedded file by its path under `templates/`.
pub fn file(path: &str) -> Option<&'static [u8]> {
    files().iter().find(|(p, _)| *p == path).map(|(_, bytes)| *bytes)
}

/// The files of one template folder (`litellm`, `mcp-server`, `agui-server`), with paths
/// relative to that folder.
pub fn folder(name: &str) -> Vec<(&'static str, &'static [u8])> {
    let prefix = format!("{name}/");
    files().iter().filter_map(|(path, bytes)| path.strip_prefix(prefix.as_str()).map(|rest| (rest, *bytes))).collect()
}

/// LiteLLM's pinned requirements with hashes (`templates/litellm/requirements.txt`).
pub fn litellm_requirements() -> &'static [u8] {
    file("litellm/requirements.txt").unwrap_or_default()
}

/// Writes the embedded LiteLLM pins to `.agui-dev/litellm-requirements.txt` under `dir`, for a
/// project that has no requirements of its own, and returns the path.
pub fn write_litellm_requirements(dir: &Path) -> std::io::Result<PathBuf> {
    let target = dir.join(".agui-dev").join("litellm-requirements.txt");
    std::fs::create_dir_all(dir.join(".agui-dev"))?;
    std::fs::write(&target, litellm_requirements())?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_the_templates_without_installed_trees() {
        assert!(file("litellm/config.yaml").is_some());
        assert!(String::from_utf8_lossy(litellm_requirements()).contains("--hash=sha256:"));
        assert!(folder("mcp-server").iter().any(|(p, _)| *p == "package.json"));
        assert!(folder("agui-server").iter().any(|(p, _)| *p == "package-lock.json"));
        assert!(files().iter().all(|(p, _)| !p.contains("node_modules/") && !p.contains("__pycache__")));
        // The Node templates' production build and build context come along; their output not.
        for template in ["mcp-server", "agui-server"] {
            let carried = folder(template);
            for name in [".dockerignore", ".gitignore", "tsconfig.json", "tsconfig.build.json"] {
                assert!(carried.iter().any(|(p, _)| *p == name), "{template}/{name}");
            }
            assert!(carried.iter().all(|(p, _)| !p.starts_with("dist/")), "{template}/dist");
        }
    }
}
