//! Version numbers as packages write them (`v20.11.1`, `3.11.7`) and `Requires-Python` ranges,
//! enough for doctor's comparisons without a full PEP 440 or semver parser.

pub fn version_parts(text: &str) -> Vec<u64> {
    text.trim().trim_start_matches('v').split('.').map_while(|p| p.trim().parse().ok()).collect()
}

pub fn compare_versions(a: &[u64], b: &[u64]) -> std::cmp::Ordering {
    let len = a.len().max(b.len());
    let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    (0..len).map(|i| at(a, i).cmp(&at(b, i))).find(|o| o.is_ne()).unwrap_or(std::cmp::Ordering::Equal)
}

/// Whether `version` meets a `Requires-Python` like `>=3.10, <3.15`; `None` when it cannot tell.
pub fn satisfies(version: &str, requires: &str) -> Option<bool> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let have = version_parts(version);
    if have.is_empty() {
        return None;
    }
    for clause in requires.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let op = ["~=", ">=", "<=", "==", "!=", ">", "<"].into_iter().find(|op| clause.starts_with(op))?;
        let rhs = clause[op.len()..].trim();
        if let Some(prefix) = rhs.strip_suffix(".*") {
            let want = version_parts(prefix);
            let same = have.len() >= want.len() && have[..want.len()] == want[..];
            let ok = if op == "!=" { !same } else { same };
            if !ok {
                return Some(false);
            }
            continue;
        }
        let want = version_parts(rhs);
        if want.is_empty() {
            return None;
        }
        let order = compare_versions(&have, &want);
        let ok = match op {
            ">=" | "~=" => order != Less,
            "<=" => order != Greater,
            ">" => order == Greater,
            "<" => order == Less,
            "==" => order == Equal,
            _ => order != Equal,
        };
        if !ok {
            return Some(false);
        }
    }
    Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requires_python() {
        assert_eq!(satisfies("3.11.7", ">=3.10, <3.15"), Some(true));
        assert_eq!(satisfies("3.15.0", ">=3.10, <3.15"), Some(false));
        assert_eq!(satisfies("3.9.18", ">=3.10, <3.15"), Some(false));
        assert_eq!(satisfies("3.8", "!=3.8.*"), Some(false));
    }
}
