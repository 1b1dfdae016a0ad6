#![allow(clippy::unwrap_used)]
//! Every stream of `tests/fixtures/agui-streams/` through smoke's AG-UI validator: each
//! `<rule-id>.jsonl` breaks exactly its rule, `valid-*.jsonl` passes. `agui.text-delta-nonempty`
//! is a warning (AG-UI 1.0 allows an empty delta): its stream passes the protocol rules with that
//! one warning. The `agui.smoke-*` rules are smoke's own, checked with `check_smoke`; a protocol
//! fixture breaks the same rule either way.

use agui_dev::kinds::agui::rules::{RULES, check, check_smoke};

const WARNINGS: &[&str] = &["agui.text-delta-nonempty"];

/// Each valid stream: its name, how many runs it carries and all its assistant text.
const VALID: &[(&str, usize, &str)] = &[
    ("valid-multi-run", 2, "The answer is 42.Anything else?"),
    // Nested subagents, one that errors while the run goes on, one suspended and continued under
    // the same id by the next run (subagent ids are per run).
    ("valid-subagents", 2, "6*7 = 42. Waiting for approval.Approved. The answer is 42."),
];

fn frames(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect()
}

#[test]
fn every_fixture_breaks_exactly_its_rule_and_the_valid_stream_passes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/agui-streams");
    let mut seen: Vec<String> = Vec::new();
    let mut seen_valid: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let smoke = check_smoke(&frames(&path));
        let checked = check(&frames(&path));
        if name.starts_with("valid") {
            assert_eq!(checked.broken, None, "{name}");
            assert_eq!(smoke.broken, None, "{name}");
            assert!(checked.warnings.is_empty(), "{name}: {:?}", checked.warnings);
            let (_, runs, text) =
                VALID.iter().find(|(v, ..)| *v == name).unwrap_or_else(|| panic!("{name}: not in VALID"));
            assert_eq!((checked.runs, checked.text.as_str()), (*runs, *text), "{name}");
            seen_valid.push(name);
            continue;
        }
        assert!(RULES.iter().any(|(id, _)| *id == name), "`{name}.jsonl` names no rule");
        if WARNINGS.contains(&name.as_str()) {
            assert_eq!(checked.broken, None, "{name}");
            let rules: Vec<&str> = checked.warnings.iter().map(|w| w.rule).collect();
            assert_eq!(rules, [name.as_str()], "{name}");
        } else {
            let broken = smoke.broken.unwrap_or_else(|| panic!("`{name}.jsonl` passed smoke's rules"));
            assert_eq!(broken.rule, name, "{name}: {broken}");
            if !name.starts_with("agui.smoke-") {
                assert_eq!(checked.broken.map(|b| b.rule), Some(broken.rule), "{name}: the protocol rules alone");
            }
        }
        seen.push(name);
    }
    seen.sort();
    let mut all: Vec<&str> = RULES.iter().map(|(id, _)| *id).collect();
    all.sort_unstable();
    assert_eq!(seen, all, "every rule has its fixture");
    seen_valid.sort();
    assert_eq!(seen_valid, VALID.iter().map(|(v, ..)| *v).collect::<Vec<_>>(), "every valid stream was read");
}

#[test]
fn the_first_broken_event_is_named_by_index() {
    let stream = [
        r#"{"type":"RUN_STARTED","threadId":"t","runId":"r"}"#,
        r#"{"type":"TEXT_MESSAGE_START","messageId":"m","role":"assistant"}"#,
        r#"{"type":"TEXT_MESSAGE_CONTENT","messageId":"m","delta":"hi"}"#,
        r#"{"type":"RUN_FINISHED","threadId":"t","runId":"r"}"#,
    ];
    let broken = check(&stream.map(str::to_owned)).broken.unwrap();
    assert_eq!((broken.rule, broken.index), ("agui.finish-closes-text", 3));
    assert_eq!(
        broken.to_string(),
        "rule `agui.finish-closes-text` broken at event 3: the run finished with message `m` still open"
    );
}
