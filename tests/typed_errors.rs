#![allow(clippy::unwrap_used)]
//! Errors are typed (issue 20): no `Result<_, String>` under `src/` outside test code. Each layer
//! has its own error type implementing `std::error::Error` (docs/development.md, "Errors"); a
//! string error loses its source and cannot be matched on.

mod common;

use std::path::Path;

/// The code of a file without its line comments and without the items under `#[cfg(test)]`,
/// each blanked, so line numbers stay. Code is formatted by rustfmt: an item ends at the first
/// line that closes a brace at the attribute's indentation, or at its first `;` when it has no
/// body.
fn code_outside_tests(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let mut code = Vec::with_capacity(lines.len());
    let mut at = 0;
    while at < lines.len() {
        let line = lines[at];
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            let indent = line.len() - trimmed.len();
            let opens = lines[at + 1..].iter().position(|l| l.trim_end().ends_with('{') || l.trim_end().ends_with(';'));
            let end = match opens.map(|o| at + 1 + o) {
                Some(open) if lines[open].trim_end().ends_with('{') => lines[open..]
                    .iter()
                    .position(|l| l.len() - l.trim_start().len() == indent && l.trim_start().starts_with('}'))
                    .map_or(lines.len() - 1, |close| open + close),
                Some(semicolon) => semicolon,
                None => lines.len() - 1,
            };
            code.extend(std::iter::repeat_n("", end + 1 - at));
            at = end + 1;
            continue;
        }
        code.push(if trimmed.starts_with("//") { "" } else { line });
        at += 1;
    }
    code
}

/// Every `Result<T, String>` in `code`: its line (from 1) and its text. The type arguments are
/// split at the commas outside nested `<>`, `()` and `[]`; `->` is not a bracket.
fn string_errors(code: &[&str]) -> Vec<(usize, String)> {
    let joined = code.join("\n");
    let bytes = joined.as_bytes();
    let mut found = Vec::new();
    for (start, _) in joined.match_indices("Result<") {
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            continue;
        }
        let open = start + "Result<".len();
        let mut depth = 1;
        let mut arguments = vec![String::new()];
        let mut end = None;
        for (offset, c) in joined[open..].char_indices() {
            let previous = if open + offset > 0 { bytes[open + offset - 1] } else { 0 };
            match c {
                '<' | '(' | '[' => depth += 1,
                '>' if previous == b'-' => {}
                '>' | ')' | ']' => depth -= 1,
                ',' if depth == 1 => {
                    arguments.push(String::new());
                    continue;
                }
                _ => {}
            }
            if depth == 0 {
                end = Some(open + offset + 1);
                break;
            }
            arguments.last_mut().unwrap().push(c);
        }
        let Some(end) = end else { continue };
        if arguments.len() > 1 && arguments.last().is_some_and(|a| a.trim().is_empty()) {
            arguments.pop();
        }
        let error = arguments.get(1).map(|a| a.trim());
        if arguments.len() == 2 && matches!(error, Some("String" | "std::string::String")) {
            let line = joined[..start].matches('\n').count() + 1;
            found.push((line, joined[start..end].split_whitespace().collect::<Vec<_>>().join(" ")));
        }
    }
    found
}

/// Every string error outside test code, as `src/file:line: text`.
fn string_errors_in(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    common::rust_files(src, &mut files);
    files.sort();
    let mut bad = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap().display().to_string();
        if relative.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = code_outside_tests(&text);
        for (line, found) in string_errors(&code) {
            bad.push(format!("src/{relative}:{line}: {found}"));
        }
    }
    bad
}

#[test]
fn no_string_errors_outside_tests() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = string_errors_in(&src);
    assert!(
        bad.is_empty(),
        "`Result<_, String>` outside tests (give the layer's error type, with `thiserror`; see docs/development.md):\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_scanner_finds_string_errors_in_every_form_and_skips_test_code() {
    let text = "pub fn a() -> Result<(), String> {\n    Ok(())\n}\n\
                type Reply = Sender<Result<Vec<(String, u8)>, String>>;\n\
                type Fresh = Arc<dyn Fn() -> Result<Arc<Plan>, String> + Send>;\n\
                fn b() -> Result<String> {}\nfn c() -> std::result::Result<String, Error> {}\n\
                fn d() -> io::Result<String> {}\nfn e() -> MyResult<u8, String> {}\n\
                fn f(\n    x: u8,\n) -> Result<\n    HashMap<String, String>,\n    String,\n> {}\n\
                // fn g() -> Result<(), String>\n\
                #[cfg(test)]\nmod tests {\n    fn h() -> Result<(), String> {}\n}\n\
                #[cfg(test)]\nfn i() -> Result<(), String> {\n    Ok(())\n}\n\
                fn j() -> LocalBoxFuture<'a, Result<String, String>> {}\n";
    let found: Vec<(usize, String)> = string_errors(&code_outside_tests(text));
    let lines: Vec<usize> = found.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [1, 4, 5, 12, 25], "{found:?}");
    assert_eq!(found[1].1, "Result<Vec<(String, u8)>, String>");
    assert_eq!(found[2].1, "Result<Arc<Plan>, String>");
    assert_eq!(found[3].1, "Result< HashMap<String, String>, String, >");
}
