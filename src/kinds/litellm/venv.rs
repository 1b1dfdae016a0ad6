//! Reading a Python venv without running Python: where its site-packages are, which litellm is
//! installed (from the dist-info metadata: `litellm --version` takes seconds), and whether a
//! compromised release left its start-up hook behind.

use std::path::{Path, PathBuf};

/// The `lib/pythonX.Y/site-packages` folders of a venv.
pub fn site_packages(venv: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(venv.join("lib")) else { return Vec::new() };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
        .map(|e| e.path().join("site-packages"))
        .filter(|p| p.is_dir())
        .collect()
}

/// An installed distribution, from its `*.dist-info/METADATA`.
pub struct Distribution {
    pub version: String,
    pub requires_python: Option<String>,
    pub dist_info: PathBuf,
}

/// The installed distribution `name` (normalised as pip does: `-` and `_` alike), if any.
pub fn distribution(venv: &Path, name: &str) -> Option<Distribution> {
    let wanted = name.replace('-', "_").to_ascii_lowercase();
    for site in site_packages(venv) {
        let Ok(entries) = std::fs::read_dir(&site) else { continue };
        for entry in entries.flatten() {
            let file_name = entry.file_name().to_string_lossy().to_ascii_lowercase();
            let Some(stem) = file_name.strip_suffix(".dist-info") else { continue };
            let Some((dist, _)) = stem.rsplit_once('-') else { continue };
            if dist.replace('-', "_") != wanted {
                continue;
            }
            let metadata = std::fs::read_to_string(entry.path().join("METADATA")).ok()?;
            let field = |key: &str| {
                metadata
                    .lines()
                    .take_while(|l| !l.is_empty())
                    .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_owned()))
            };
            return Some(Distribution {
                version: field("Version:")?,
                requires_python: field("Requires-Python:"),
                dist_info: entry.path(),
            });
        }
    }
    None
}

/// `litellm_init.pth` files: the 1.82.8 stealer's hook, which runs on every Python start and
/// survives uninstalling litellm.
pub fn stray_init_hooks(venv: &Path) -> Vec<PathBuf> {
    site_packages(venv).into_iter().map(|site| site.join("litellm_init.pth")).filter(|p| p.exists()).collect()
}

/// The Python version a venv was made with, from `pyvenv.cfg`.
pub fn python_version(venv: &Path) -> Option<String> {
    let cfg = std::fs::read_to_string(venv.join("pyvenv.cfg")).ok()?;
    cfg.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        matches!(key.trim(), "version" | "version_info").then(|| value.trim().to_owned())
    })
}
