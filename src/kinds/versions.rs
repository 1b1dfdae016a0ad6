//! Versions and ranges as packages write them, each read by the crate its ecosystem's tools agree
//! with: PEP 440 (`Requires-Python`, the advisories' affected ranges) by `pep440_rs`, the
//! library uv's version handling is published as; npm ranges (`engines.node`) by
//! `nodejs-semver`, which follows npm's own `semver` package. `version_parts` is only for reading
//! a major or minor number off a version (`v20.11.1` -> 20, 11).

use std::str::FromStr;

use pep440_rs::Version as Pep440Version;

/// The leading numbers of a version (`v20.11.1` -> `[20, 11, 1]`, `3.12.0.final.0` -> `[3, 12, 0]`).
pub fn version_parts(text: &str) -> Vec<u64> {
    text.trim().trim_start_matches('v').split('.').map_while(|p| p.trim().parse().ok()).collect()
}

/// A PEP 440 version. `pyvenv.cfg`'s `version_info` may read `3.12.0.final.0` (virtualenv), which
/// is not PEP 440: then its leading numbers are the version.
pub fn pep440_version(text: &str) -> Option<Pep440Version> {
    let text = text.trim();
    Pep440Version::from_str(text).ok().or_else(|| {
        let parts = version_parts(text);
        (!parts.is_empty()).then(|| Pep440Version::new(parts))
    })
}

/// Whether `version` is in a PEP 440 specifier set like `>=3.10, <3.15` or `~=1.4.2`; `None` when
/// either does not parse. The version is one already installed, so a pre-release is compared
/// like any other version, except where PEP 440 says otherwise: `<3.15` excludes `3.15.0a1`.
pub fn satisfies(version: &str, requires: &str) -> Option<bool> {
    let specifiers = pep440_rs::VersionSpecifiers::from_str(requires).ok()?;
    Some(specifiers.contains(&pep440_version(version)?))
}

/// Whether a Node `version` (`v20.11.1`) meets an npm range (`>=20`, `^20.19 || >=22.12`, `20.x`,
/// `>=18 <23`, `18 - 22`), as npm reads it; `None` when either does not parse (`latest`).
pub fn satisfies_npm(version: &str, range: &str) -> Option<bool> {
    let version = nodejs_semver::Version::parse(version.trim()).ok()?;
    let range = nodejs_semver::Range::parse(range.trim()).ok()?;
    Some(version.satisfies(&range))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_ranges() {
        assert_eq!(satisfies_npm("v20.20.2", ">=20"), Some(true));
        assert_eq!(satisfies_npm("v18.19.0", ">=20"), Some(false));
        assert_eq!(satisfies_npm("v20.20.2", "^20.19.0 || >=22.12.0"), Some(true));
        assert_eq!(satisfies_npm("v21.1.0", "^20.19.0 || >=22.12.0"), Some(false));
        assert_eq!(satisfies_npm("v22.0.0", ">=18 <22"), Some(false));
        assert_eq!(satisfies_npm("v20.1.0", "20.x"), Some(true));
        assert_eq!(satisfies_npm("v20.1.0", "~20.2"), Some(false));
        assert_eq!(satisfies_npm("v20.1.0", ">= 20"), Some(true));
        assert_eq!(satisfies_npm("v20.1.0", "latest"), None);
    }

    /// The forms the templates and real `package.json` files use (the templates' `>=20`; from
    /// installed packages `>=18.0.0`, `>= 0.10`, `18 || 20 || >=22`, `>=16 || 14 >=14.17`), with
    /// the answers npm's own `semver` gives.
    #[test]
    fn npm_range_forms() {
        let cases = [
            ("18.0.0", ">=18.0.0", true),
            ("17.9.9", ">=18.0.0", false),
            ("0.10.0", ">= 0.10", true),
            ("0.2.5", "^0.2.3", true),
            ("0.3.0", "^0.2.3", false),
            ("20.5.0", "^20.19 || ^22.12 || >=24", false),
            ("22.13.0", "^20.19 || ^22.12 || >=24", true),
            ("21.0.0", "18 || 20 || >=22", false),
            ("14.18.0", ">=16 || 14 >=14.17", true),
            ("1.3.0", "1.2.*", false),
            ("1.2.9", "1.2.X", true),
            ("22.999.999", "18 - 22", true),
            ("23.0.0", "18 - 22", false),
            ("24.0.0", "*", true),
            ("24.0.0", "", true),
            ("20.1.0", "=20.1.0", true),
            // npm skips pre-releases unless the range names one of the same version.
            ("20.0.0-rc.1", ">=18", false),
            ("20.0.0-rc.2", ">=20.0.0-rc.1", true),
        ];
        for (version, range, want) in cases {
            assert_eq!(satisfies_npm(version, range), Some(want), "`{version}` in `{range}`");
        }
        // npm rejects a comma; so does this, rather than guess.
        assert_eq!(satisfies_npm("20.1.0", ">=18,<22"), None);
        assert_eq!(satisfies_npm("20.1.0", ">=banana"), None);
        assert_eq!(satisfies_npm("twenty", ">=18"), None);
    }

    #[test]
    fn requires_python() {
        assert_eq!(satisfies("3.11.7", ">=3.10, <3.15"), Some(true));
        assert_eq!(satisfies("3.15.0", ">=3.10, <3.15"), Some(false));
        assert_eq!(satisfies("3.9.18", ">=3.10, <3.15"), Some(false));
        assert_eq!(satisfies("3.8", "!=3.8.*"), Some(false));
        assert_eq!(satisfies("3.12.0.final.0", ">=3.10, <3.15"), Some(true), "virtualenv's version_info");
        assert_eq!(satisfies("3.12", ">=3.10 <3.15"), None, "PEP 440 separates clauses with commas");
        assert_eq!(satisfies("banana", ">=3.10"), None);
    }

    /// `~=V.N` is `>=V.N, ==V.*`: the last number given may grow, the ones before it may not.
    #[test]
    fn compatible_release() {
        for (version, want) in [("1.4.2", true), ("1.4.9", true), ("1.4.1", false), ("1.5.0", false), ("2.0", false)] {
            assert_eq!(satisfies(version, "~=1.4.2"), Some(want), "{version} in ~=1.4.2");
        }
        for (version, want) in [("1.4", true), ("1.9.3", true), ("1.3.9", false), ("2.0", false), ("2.0.0rc1", false)] {
            assert_eq!(satisfies(version, "~=1.4"), Some(want), "{version} in ~=1.4");
        }
        assert_eq!(satisfies("1.4", "~=1"), None, "`~=` needs two numbers");
    }

    #[test]
    fn wildcards_and_exclusions() {
        for (version, want) in [("1.0.0", true), ("1.99", true), ("1", true), ("2.0", false), ("0.9", false)] {
            assert_eq!(satisfies(version, "==1.*"), Some(want), "{version} in ==1.*");
        }
        assert_eq!(satisfies("1.82.7", "!=1.82.7"), Some(false));
        assert_eq!(satisfies("1.82.6", "!=1.82.7"), Some(true));
        assert_eq!(satisfies("1.82.7", "==1.82.7"), Some(true));
        assert_eq!(satisfies("1.82.7+local", "==1.82.7"), Some(true), "a local label is ignored");
        assert_eq!(satisfies("3.9.0", "!=3.8.*"), Some(true));
    }

    /// An installed pre-release is in a range by PEP 440's order (`rc1 < final`), except that
    /// `<V` leaves out V's own pre-releases, as pip and uv read it. So an advisory's `<1.84.0`
    /// covers 1.83.9rc1 but not 1.84.0rc1 (a pre-release of the fixed release).
    #[test]
    fn pre_releases() {
        assert_eq!(satisfies("3.14.0rc1", ">=3.10, <3.15"), Some(true));
        assert_eq!(satisfies("3.15.0a1", ">=3.10, <3.15"), Some(false));
        assert_eq!(satisfies("1.83.9rc1", "<1.84.0"), Some(true));
        assert_eq!(satisfies("1.84.0rc1", "<1.84.0"), Some(false));
        assert_eq!(satisfies("1.84.0.dev1", "<1.84.0"), Some(false));
        assert_eq!(satisfies("1.104.0rc1", ">=1.104.0, <1.104.8"), Some(false));
        assert_eq!(satisfies("1.104.1rc1", ">=1.104.0, <1.104.8"), Some(true));
        assert_eq!(satisfies("2.0.0rc1", ">1.9"), Some(true));
        assert!(pep440_version("1.84.0rc1") < pep440_version("1.84.0"));
        assert!(pep440_version("1.84.0.dev1") < pep440_version("1.84.0rc1"));
    }
}
