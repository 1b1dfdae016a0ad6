//! The LiteLLM advisories agui-dev knows, read from `templates/litellm/advisories.toml` (embedded
//! at build time: the one list that doctor and setup both use, kept next to the README that
//! cites its sources). A `compromised` release is malicious in itself; a `vulnerable` range has a
//! flaw fixed in a later release of the same line.

use std::sync::LazyLock;

use serde::Deserialize;

use crate::kinds::versions;

const SOURCE: &str = include_str!("../../../templates/litellm/advisories.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Compromised,
    Vulnerable,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advisory {
    pub id: String,
    pub aliases: Vec<String>,
    pub summary: String,
    pub kind: Kind,
    /// PEP 440 specifier sets, one per affected release line.
    pub affected: Vec<String>,
    /// The first fixed release of each line, in the order of `affected`.
    pub fixed: Vec<String>,
    pub source: Vec<String>,
    pub confidence: String,
}

#[derive(Deserialize)]
struct File {
    advisory: Vec<Advisory>,
}

/// Every advisory. The file is part of the program: a unit test parses it, so a broken file
/// never ships, and an unreadable one here means no advisory rather than a crash.
pub fn all() -> &'static [Advisory] {
    static ALL: LazyLock<Vec<Advisory>> =
        LazyLock::new(|| toml::from_str::<File>(SOURCE).map(|file| file.advisory).unwrap_or_default());
    &ALL
}

impl Advisory {
    /// Whether `version` is in one of the affected ranges.
    pub fn affects(&self, version: &str) -> bool {
        self.line(version).is_some()
    }

    /// The index of the affected range `version` is in.
    fn line(&self, version: &str) -> Option<usize> {
        self.affected.iter().position(|range| versions::satisfies(version, range) == Some(true))
    }

    /// The first fixed release for `version`'s line: the fix paired with its range, else the
    /// lowest fix above it.
    pub fn fixed_for(&self, version: &str) -> Option<&str> {
        let line = self.line(version)?;
        if self.fixed.len() == self.affected.len() {
            return self.fixed.get(line).map(String::as_str);
        }
        let have = versions::pep440_version(version)?;
        self.fixed
            .iter()
            .filter_map(|fix| Some((versions::pep440_version(fix)?, fix)))
            .filter(|(fix, _)| *fix > have)
            .min_by(|(a, _), (b, _)| a.cmp(b))
            .map(|(_, fix)| fix.as_str())
    }

    /// `GHSA-… (CVE-…)`: the id with its aliases, for reports.
    pub fn name(&self) -> String {
        if self.aliases.is_empty() { self.id.clone() } else { format!("{} ({})", self.id, self.aliases.join(", ")) }
    }
}

/// The compromised-release advisory `version` falls under, if any.
pub fn compromised(version: &str) -> Option<&'static Advisory> {
    all().iter().find(|a| a.kind == Kind::Compromised && a.affects(version))
}

/// The vulnerability advisories `version` falls under.
pub fn vulnerable(version: &str) -> Vec<&'static Advisory> {
    all().iter().filter(|a| a.kind == Kind::Vulnerable && a.affects(version)).collect()
}

/// The release of `litellm` a requirements file pins exactly (`litellm==V`, extras and
/// environment markers allowed), with the 1-based line it starts on. Setup reads it before
/// installing: for a compromised release, installing it is the incident. Only `==`/`===` pins are
/// read; `--require-hashes` (which setup always passes) makes pip refuse anything else, and
/// whatever is installed is checked again afterwards.
pub fn litellm_pin(requirements: &str) -> Option<(usize, String)> {
    let mut logical = String::new();
    let mut start = 0;
    for (index, raw) in requirements.lines().enumerate() {
        if logical.is_empty() {
            start = index + 1;
        }
        // pip: a comment starts at a `#` at the start of a line or after whitespace.
        let line = match raw.find(" #").or_else(|| raw.find("\t#")) {
            Some(at) => &raw[..at],
            None if raw.trim_start().starts_with('#') => "",
            None => raw,
        };
        if let Some(continued) = line.trim_end().strip_suffix('\\') {
            logical.push_str(continued);
            logical.push(' ');
            continue;
        }
        logical.push_str(line);
        let found = pinned_version(&logical, "litellm");
        logical.clear();
        if let Some(version) = found {
            return Some((start, version));
        }
    }
    None
}

/// The version `==`-pinned for `project` on one logical requirements line.
fn pinned_version(line: &str, project: &str) -> Option<String> {
    let line = line.trim();
    let end = line.find(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c))).unwrap_or(line.len());
    // PEP 503 names: case does not matter, and `_` or `.` is `-`.
    let name: String = line[..end].to_ascii_lowercase().replace(['_', '.'], "-");
    if name.is_empty() || name != project {
        return None;
    }
    let mut rest = line[end..].trim_start();
    if rest.starts_with('[') {
        rest = &rest[rest.find(']')? + 1..];
    }
    // Markers after `;`, per-requirement options (`--hash=…`) after `--`; spaces do not matter.
    let rest = rest.split(';').next().unwrap_or("");
    let specifiers: String = rest.split("--").next().unwrap_or("").chars().filter(|c| !c.is_whitespace()).collect();
    specifiers.split(',').find_map(|clause| {
        let version = clause.strip_prefix("===").or_else(|| clause.strip_prefix("=="))?;
        (!version.is_empty() && !version.contains('*')).then(|| version.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_litellm_pin_of_a_requirements_file() {
        let hashed = "# pins\nanyio==4.0 \\\n    --hash=sha256:aa\nlitellm[proxy] == 1.82.7 \\\n    --hash=sha256:bb \\\n    --hash=sha256:cc\n    # via -r requirements.in\n";
        assert_eq!(litellm_pin(hashed), Some((4, "1.82.7".to_owned())));
        assert_eq!(litellm_pin("litellm==1.108.7 ; python_version >= \"3.9\"\n"), Some((1, "1.108.7".to_owned())));
        assert_eq!(litellm_pin("LiteLLM===1.82.8"), Some((1, "1.82.8".to_owned())));
        assert_eq!(litellm_pin("litellm-proxy-extras==0.4.110\nlitellm-enterprise==0.1.79\n"), None);
        assert_eq!(litellm_pin("# litellm==1.82.7\nlitellm>=1.83,<2\n"), None);
        let template = include_str!("../../../templates/litellm/requirements.txt");
        let (_, pinned) = litellm_pin(template).expect("the template pins litellm");
        assert!(compromised(&pinned).is_none() && vulnerable(&pinned).is_empty(), "{pinned}");
    }

    #[test]
    fn the_file_parses_and_every_range_is_understood() {
        let file: File = toml::from_str(SOURCE).expect("templates/litellm/advisories.toml");
        assert!(file.advisory.len() >= 10);
        for advisory in all() {
            assert!(!advisory.affected.is_empty(), "{}", advisory.id);
            for range in &advisory.affected {
                assert!(versions::satisfies("1.0.0", range).is_some(), "{}: `{range}`", advisory.id);
            }
            if advisory.kind == Kind::Vulnerable {
                assert_eq!(advisory.fixed.len(), advisory.affected.len(), "{}", advisory.id);
            }
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(compromised("1.82.8").map(|a| a.id.as_str()), Some("MAL-2026-2144"));
        assert!(compromised("1.82.9").is_none());
        let ids = |v: &str| vulnerable(v).iter().map(|a| a.id.clone()).collect::<Vec<_>>();
        assert!(ids("1.83.7").contains(&"GHSA-4xpc-pv4p-pm3w".to_owned()));
        assert!(!ids("1.83.7").contains(&"GHSA-r75f-5x8p-qvmc".to_owned()));
        let salt = all().iter().find(|a| a.id == "GHSA-7hp6-4w63-5g45").unwrap();
        assert_eq!(salt.fixed_for("1.101.1"), Some("1.101.3"));
        assert_eq!(salt.fixed_for("1.99.0"), Some("1.100.4"));
        assert_eq!(salt.fixed_for("1.100.4"), None);
    }
}
