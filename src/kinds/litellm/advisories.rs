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
        let have = versions::version_parts(version);
        self.fixed
            .iter()
            .filter(|f| versions::compare_versions(&versions::version_parts(f), &have).is_gt())
            .min_by(|a, b| versions::compare_versions(&versions::version_parts(a), &versions::version_parts(b)))
            .map(String::as_str)
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(ids("1.108.7").is_empty(), "the template's pin is clear: {:?}", ids("1.108.7"));
        assert!(ids("1.83.7").contains(&"GHSA-4xpc-pv4p-pm3w".to_owned()));
        assert!(!ids("1.83.7").contains(&"GHSA-r75f-5x8p-qvmc".to_owned()));
        let salt = all().iter().find(|a| a.id == "GHSA-7hp6-4w63-5g45").unwrap();
        assert_eq!(salt.fixed_for("1.101.1"), Some("1.101.3"));
        assert_eq!(salt.fixed_for("1.99.0"), Some("1.100.4"));
        assert_eq!(salt.fixed_for("1.100.4"), None);
    }
}
