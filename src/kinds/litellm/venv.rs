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

/// The pins (`name==version` lines) of a requirements file that the venv does not hold at that
/// version, as `name==version`: a requirements file that gained a package (the OpenTelemetry SDK
/// for tracing) or moved a pin needs a new install into a venv made from the older one. Lines
/// with an environment marker are skipped: whether they apply is Python's to say.
pub fn unmet_pins(venv: &Path, requirements: &str) -> Vec<String> {
    let mut installed = std::collections::HashSet::new();
    for site in site_packages(venv) {
        let Ok(entries) = std::fs::read_dir(&site) else { continue };
        for entry in entries.flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = file_name.strip_suffix(".dist-info") else { continue };
            if let Some((name, version)) = stem.rsplit_once('-') {
                installed.insert((normalize_name(name), normalize_version(version)));
            }
        }
    }
    requirements
        .lines()
        .filter_map(|line| {
            let line = line.trim().trim_end_matches('\\').trim();
            if line.starts_with(['#', '-']) || line.contains(';') {
                return None;
            }
            let (name, version) = line.split_once("==")?;
            let name = name.split('[').next().unwrap_or(name).trim();
            let version = version.split_whitespace().next()?;
            let wanted = (normalize_name(name), normalize_version(version));
            (!name.is_empty() && !installed.contains(&wanted)).then(|| format!("{name}=={version}"))
        })
        .collect()
}

/// A distribution name as PEP 503 compares them (`-`, `_` and `.` alike, any case).
fn normalize_name(name: &str) -> String {
    name.to_ascii_lowercase().replace(['-', '.'], "_")
}

/// `1.2.0` and `1.2` are one version.
fn normalize_version(version: &str) -> String {
    let lower = version.to_ascii_lowercase();
    let mut trimmed = lower.as_str();
    while let Some(shorter) = trimmed.strip_suffix(".0") {
        trimmed = shorter;
    }
    trimmed.to_owned()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_the_venv_lacks_or_holds_at_another_version_is_unmet() {
        let venv = std::env::temp_dir().join(format!("agui-dev-venv-pins-{}", std::process::id()));
        let site = venv.join("lib/python3.11/site-packages");
        for dist in ["litellm-1.108.7", "opentelemetry_api-1.45.2", "zope.interface-7.0"] {
            std::fs::create_dir_all(site.join(format!("{dist}.dist-info"))).unwrap();
        }
        let requirements = "# header\nlitellm[proxy]==1.108.7 \\\n    --hash=sha256:00\n    # via -r requirements.in\n\
                            opentelemetry-api==1.45.2 \\\nOpenTelemetry-SDK==1.45.2\nzope-interface==7.0.0\n\
                            uvloop==0.21.0 ; sys_platform != 'win32'\nprotobuf==7.36.2\n";
        let unmet = unmet_pins(&venv, requirements);
        std::fs::remove_dir_all(&venv).unwrap();
        assert_eq!(unmet, ["OpenTelemetry-SDK==1.45.2", "protobuf==7.36.2"]);
    }
}
