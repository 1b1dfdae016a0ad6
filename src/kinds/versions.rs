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

/// Whether a Node `version` meets an npm `engines.node` range (`>=20`, `^20.19 || >=22.12`,
/// `20.x`, `>=18 <23`); `None` when the range is not one of these forms.
pub fn satisfies_npm(version: &str, range: &str) -> Option<bool> {
    let mut any = false;
    for alternative in range.split("||") {
        let mut clauses: Vec<String> = Vec::new();
        let words: Vec<&str> = alternative.split([' ', ',']).filter(|w| !w.is_empty()).collect();
        let mut words = words.into_iter();
        while let Some(word) = words.next() {
            // `>= 20` is one clause written as two words.
            let word = if matches!(word, ">=" | "<=" | ">" | "<" | "=") {
                format!("{word}{}", words.next()?)
            } else {
                word.to_owned()
            };
            clauses.extend(npm_clause(&word)?);
        }
        if clauses.is_empty() {
            clauses.push(">=0".to_owned());
        }
        any |= satisfies(version, &clauses.join(","))?;
    }
    Some(any)
}

/// One npm comparator as `Requires-Python`-style clauses.
fn npm_clause(word: &str) -> Option<Vec<String>> {
    let word = word.trim_start_matches('v');
    let bump = |parts: &[u64], at: usize| {
        let mut next: Vec<u64> = parts[..=at].to_vec();
        next[at] += 1;
        next.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
    };
    if let Some(rest) = word.strip_prefix('^') {
        let parts = version_parts(rest);
        let at = parts.iter().position(|p| *p != 0).unwrap_or(parts.len().saturating_sub(1));
        return (!parts.is_empty()).then(|| vec![format!(">={rest}"), format!("<{}", bump(&parts, at))]);
    }
    if let Some(rest) = word.strip_prefix('~') {
        let parts = version_parts(rest);
        let at = usize::from(parts.len() > 1);
        return (!parts.is_empty()).then(|| vec![format!(">={rest}"), format!("<{}", bump(&parts, at))]);
    }
    if word.starts_with(['>', '<', '=']) {
        let word = word.strip_prefix('=').filter(|w| !w.starts_with('=')).map_or(word.to_owned(), |w| format!("=={w}"));
        return Some(vec![word]);
    }
    if word == "*" || word == "x" {
        return Some(Vec::new());
    }
    let exact = word.trim_end_matches(".x").trim_end_matches(".*");
    let parts = version_parts(exact);
    if parts.is_empty() {
        return None;
    }
    if exact != word || parts.len() < 3 {
        return Some(vec![format!(">={exact}"), format!("<{}", bump(&parts, parts.len() - 1))]);
    }
    Some(vec![format!("=={exact}")])
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

    #[test]
    fn requires_python() {
        assert_eq!(satisfies("3.11.7", ">=3.10, <3.15"), Some(true));
        assert_eq!(satisfies("3.15.0", ">=3.10, <3.15"), Some(false));
        assert_eq!(satisfies("3.9.18", ">=3.10, <3.15"), Some(false));
        assert_eq!(satisfies("3.8", "!=3.8.*"), Some(false));
    }
}
