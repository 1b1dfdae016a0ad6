#![allow(clippy::unwrap_used)]
//! Every stream of `tests/fixtures/agui-streams/` through smoke's AG-UI validator: each
//! `<rule-id>.jsonl` breaks exactly its rule, `valid-*.jsonl` passes. `agui.text-delta-nonempty`
//! (AG-UI 1.0 allows an empty delta) and `agui.no-thinking-events` (the 1.0.0 client converts
//! `THINKING_*` to `REASONING_*`) are warnings: their streams pass the protocol rules with warnings
//! of that rule only. The `agui.smoke-*` rules are smoke's own, checked with `check_smoke`; a
//! protocol fixture breaks the same rule either way. `tests/agui_differential.rs` compares these
//! verdicts with the official client's.

use agui_dev::kinds::agui::rules::{RULES, check, check_smoke};

const WARNINGS: &[&str] = &["agui.text-delta-nonempty", "agui.no-thinking-events"];

/// Each valid stream: its name, how many runs it carries and all its assistant text.
const VALID: &[(&str, usize, &str)] = &[
    ("valid-multi-run", 2, "The answer is 42.Anything else?"),
    // Nested steps, a parent's and a subagent's step of the same name active at once, reasoning.
    ("valid-steps", 2, "The answer is 42.Anything else?"),
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
            assert!(!checked.warnings.is_empty(), "{name}: no warning");
            assert!(checked.warnings.iter().all(|w| w.rule == name), "{name}: {:?}", checked.warnings);
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

#[test]
fn each_thinking_type_is_warned_about_once_naming_its_reasoning_replacement() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/agui-streams");
    let checked = check(&frames(&dir.join("agui.no-thinking-events.jsonl")));
    assert_eq!(checked.broken, None);
    let warnings: Vec<(usize, &str)> = checked.warnings.iter().map(|w| (w.index, w.message.as_str())).collect();
    // Two `THINKING_TEXT_MESSAGE_CONTENT` events (3 and 4), one warning.
    let expected = [
        (1, "THINKING_START", "REASONING_START"),
        (2, "THINKING_TEXT_MESSAGE_START", "REASONING_MESSAGE_START"),
        (3, "THINKING_TEXT_MESSAGE_CONTENT", "REASONING_MESSAGE_CONTENT"),
        (5, "THINKING_TEXT_MESSAGE_END", "REASONING_MESSAGE_END"),
        (6, "THINKING_END", "REASONING_END"),
    ];
    assert_eq!(warnings.len(), expected.len(), "{warnings:?}");
    for ((index, message), (at, old, new)) in warnings.iter().zip(expected) {
        assert_eq!(*index, at, "{message}");
        assert_eq!(
            *message,
            format!(
                "`{old}` is deprecated since AG-UI 1.0: send `{new}` (the 1.0.0 client converts it, with a deprecation notice)"
            )
        );
    }
}

#[test]
fn a_step_left_open_fails_at_run_finished_and_names_the_step() {
    let stream = [
        r#"{"type":"RUN_STARTED","threadId":"t","runId":"r"}"#,
        r#"{"type":"STEP_STARTED","stepName":"tools","subagentRunId":"s"}"#,
        r#"{"type":"RUN_FINISHED","threadId":"t","runId":"r"}"#,
    ];
    let broken = check(&stream.map(str::to_owned)).broken.unwrap();
    assert_eq!(
        broken.to_string(),
        "rule `agui.finish-closes-steps` broken at event 2: the run finished with step `tools` of subagent `s` still \
         active (no `STEP_FINISHED`)"
    );
}
