#![allow(clippy::unwrap_used)]
//! The differential test of the AG-UI verdicts: every stream of `tests/fixtures/agui-streams/`
//! goes through the official client, `@ag-ui/client` 1.0.0 (`tests/agui-verify/verify.mjs`, a
//! real `HttpAgent`; its package is pinned by its package-lock.json and installed on first use),
//! and through agui-dev's protocol rules (`check`; a warning passes). Their verdicts, pass or
//! fail, must agree, or the fixture is in the "Known differences" table of docs/agui-rules.md
//! with the reason; the table is read here, so an unlisted difference fails and so does a listed
//! one that no longer differs. The rules' table in the same document states what the client does
//! with each rule's fixture; that column is checked against the client too.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use agui_dev::kinds::agui::rules::{Checked, check};
use serde_json::Value;

fn fixtures() -> PathBuf {
    common::repo_root().join("tests/fixtures/agui-streams")
}

fn doc() -> String {
    std::fs::read_to_string(common::repo_root().join("docs/agui-rules.md")).unwrap()
}

/// The client's verdict on each fixture: `{"pass": bool, "error"?: text, "warnings": [text]}`.
fn client_verdicts() -> BTreeMap<String, Value> {
    let package = common::repo_root().join("tests/agui-verify");
    common::npm_ci(&package, "node_modules/@ag-ui/client");
    let output = Command::new("node").arg(package.join("verify.mjs")).arg(fixtures()).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "verify.mjs failed: {stderr}");
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("verify.mjs printed no JSON ({e}): {stderr}"))
}

/// agui-dev's verdict on a fixture, by file name.
fn ours(name: &str) -> Checked {
    let text = std::fs::read_to_string(fixtures().join(name)).unwrap();
    check(&text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned).collect::<Vec<_>>())
}

/// "pass" or "fail" in a table cell.
fn passes(cell: &str, row: &str) -> bool {
    match cell.trim() {
        "pass" => true,
        "fail" => false,
        other => panic!("docs/agui-rules.md, Known differences: `{other}` is neither `pass` nor `fail` in: {row}"),
    }
}

/// The "Known differences" table: fixture -> (agui-dev passes, the client passes).
fn known_differences(doc: &str) -> BTreeMap<String, (bool, bool)> {
    let section = doc.split("\n## Known differences").nth(1).expect("docs/agui-rules.md: no `## Known differences`");
    let mut known = BTreeMap::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
        assert!(cells.len() == 4 && !cells[3].is_empty(), "a row needs fixture, two verdicts and why: {row}");
        let name = cells[0].trim_matches('`').to_owned();
        assert!(known.insert(name, (passes(cells[1], row), passes(cells[2], row))).is_none(), "listed twice: {row}");
    }
    known
}

#[test]
fn agui_dev_and_the_official_client_agree_on_every_fixture_but_the_listed_ones() {
    let client = client_verdicts();
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(client.keys().cloned().collect::<Vec<_>>(), names, "the client judged every fixture");
    let mut differences = BTreeMap::new();
    let mut report = Vec::new();
    for name in &names {
        let checked = ours(name);
        let (we_pass, they_pass) = (checked.broken.is_none(), client[name]["pass"].as_bool().unwrap());
        if we_pass != they_pass {
            differences.insert(name.clone(), (we_pass, they_pass));
            let why = client[name].get("error").and_then(Value::as_str).unwrap_or("(passed)");
            let finding = checked.broken.map_or_else(|| "(passed)".to_owned(), |f| f.to_string());
            report.push(format!("{name}: agui-dev {finding}; client {why}"));
        }
    }
    let known = known_differences(&doc());
    let report = report.join("\n");
    let unlisted: Vec<&String> = differences.keys().filter(|n| !known.contains_key(*n)).collect();
    let stale: Vec<&String> = known.keys().filter(|n| !differences.contains_key(*n)).collect();
    assert!(
        unlisted.is_empty() && stale.is_empty(),
        "differences not in docs/agui-rules.md's Known differences: {unlisted:?}; listed but not differing: {stale:?}\
         \nwhere the two differ:\n{report}"
    );
    assert_eq!(differences, known, "the table's verdicts are the ones seen:\n{report}");
}

#[test]
fn the_rules_table_says_what_the_client_does_with_each_rules_fixture() {
    let client = client_verdicts();
    let doc = doc();
    let rules = doc.split("\n## Known differences").next().unwrap();
    let mut checked = 0;
    for row in rules.lines().filter(|l| l.starts_with("| `agui.")) {
        let id = row.trim_start_matches("| `").split('`').next().unwrap();
        let said = row.trim_end().trim_end_matches('|').rsplit(" | ").next().unwrap().trim().trim_start_matches("**");
        let verdict = &client[&format!("{id}.jsonl")];
        let accepts = verdict["pass"].as_bool().unwrap();
        let expected = if accepts { "accepts" } else { "rejects" };
        assert!(said.starts_with(expected), "docs/agui-rules.md says the client {said:?} `{id}`'s fixture: {verdict}");
        checked += 1;
    }
    assert_eq!(checked, agui_dev::kinds::agui::rules::RULES.len(), "every rule's row was read");
}

/// Where agui-dev warns about `THINKING_*`, the client converts it: for each `THINKING_*` type of
/// the fixture, both name the same `REASONING_*` type.
#[test]
fn agui_dev_names_the_reasoning_event_the_client_converts_thinking_to() {
    let client = client_verdicts();
    let verdict = &client["agui.no-thinking-events.jsonl"];
    assert_eq!(verdict["pass"], true, "{verdict}");
    let notices: Vec<&str> = verdict["warnings"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let checked = ours("agui.no-thinking-events.jsonl");
    assert_eq!(checked.broken, None);
    let mut types = 0;
    for warning in &checked.warnings {
        assert_eq!(warning.rule, "agui.no-thinking-events");
        let named: Vec<&str> = warning.message.split('`').skip(1).step_by(2).collect();
        let [old, new] = named[..] else { panic!("two event types in: {}", warning.message) };
        let conversion = format!("Converting deprecated {old} to {new}.");
        assert!(notices.iter().any(|n| n.contains(&conversion)), "the client does not say `{conversion}`: {notices:?}");
        types += 1;
    }
    assert_eq!(types, 5, "one warning per THINKING_* type: {:?}", checked.warnings);
}
