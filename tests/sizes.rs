#![allow(clippy::unwrap_used)]
//! Sizes a reader can hold: no file under `src/` over 600 lines, no function over 80 lines
//! outside tests. Code is formatted by rustfmt, so a function ends at the first line that closes
//! a brace at its own indentation.

mod common;

use std::path::Path;

const MOST_LINES_IN_A_FILE: usize = 600;
const MOST_LINES_IN_A_FUNCTION: usize = 80;

fn sources() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    common::rust_files(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|file| (file.strip_prefix(&src).unwrap().display().to_string(), std::fs::read_to_string(&file).unwrap()))
        .collect()
}

/// The name of the function a line starts, if it starts one.
fn function_name(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    for qualifier in ["pub(crate) ", "pub(super) ", "pub ", "const ", "async ", "unsafe ", "extern \"C\" "] {
        rest = rest.strip_prefix(qualifier).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("fn ")?;
    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    Some(&rest[..end])
}

/// `(name, first line, length)` of every function outside test code, which starts at a
/// `#[cfg(test)]` or in a file named `tests.rs`.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let Some(name) = function_name(line) else { continue };
        let indent = line.len() - line.trim_start().len();
        // A declaration without a body (in a trait) ends with `;` before any `{`.
        let Some(open) = lines[at..].iter().position(|l| l.trim_end().ends_with('{') || l.trim_end().ends_with(';'))
        else {
            continue;
        };
        if lines[at + open].trim_end().ends_with(';') {
            continue;
        }
        let closes = |l: &&str| l.len() - l.trim_start().len() == indent && l.trim_start().starts_with('}');
        if let Some(end) = lines[at + open..].iter().position(closes) {
            found.push((name.to_owned(), at + 1, open + end + 1));
        }
    }
    found
}

#[test]
fn no_file_over_600_lines() {
    let long: Vec<String> = sources()
        .into_iter()
        .filter(|(_, text)| text.lines().count() > MOST_LINES_IN_A_FILE)
        .map(|(file, text)| format!("src/{file}: {} lines", text.lines().count()))
        .collect();
    assert!(
        long.is_empty(),
        "files over {MOST_LINES_IN_A_FILE} lines (cut by what they are about):\n{}",
        long.join("\n")
    );
}

#[test]
fn no_function_over_80_lines() {
    let mut long = Vec::new();
    for (file, text) in sources() {
        if file.ends_with("tests.rs") {
            continue;
        }
        for (name, line, length) in functions(&text) {
            if length > MOST_LINES_IN_A_FUNCTION {
                long.push(format!("src/{file}:{line}: `{name}` is {length} lines"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MOST_LINES_IN_A_FUNCTION} lines outside tests (cut them by what each part does):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_function_scanner_measures_bodies_and_skips_declarations() {
    let text = "pub async fn one(\n    a: u8,\n) -> u8 {\n    a\n}\n\ntrait T {\n    fn declared(&self);\n    fn \
                given(&self) {\n        if true {\n        }\n    }\n}\n#[cfg(test)]\nmod tests {\n    fn \
                skipped() {}\n}\n";
    assert_eq!(functions(text), [("one".to_owned(), 1, 5), ("given".to_owned(), 9, 4)]);
}
