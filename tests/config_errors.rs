#![allow(clippy::unwrap_used)]

//! Configuration errors, for what a whole-text snapshot cannot check. Each error text of ours is
//! pinned once, whole, in `tests/snapshots.rs` (`error_messages`: file, line, column, key, hint
//! and exit code 2); this file must not repeat those texts.

mod common;

use common::Fixture;

/// A TOML syntax error: its wording is the `toml` crate's, which changes with the crate, so only
/// what agui-dev adds is checked: exit code 2, the file and line it is on, and a hint.
#[test]
fn toml_syntax_error_is_located() {
    let fixture = Fixture::new("[services.a]\ncommand = \"true\nport = 3000\n");
    let (code, stdout, stderr) = fixture.run(&["check"]);
    assert_eq!(code, 2, "stdout: {stdout}\nstderr: {stderr}");
    let stderr = stderr.replace(&fixture.path().display().to_string(), "[DIR]");
    assert!(stderr.starts_with("error: [DIR]/stack.toml:2:"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
}
