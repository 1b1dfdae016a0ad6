#![allow(clippy::unwrap_used)]
//! One direction for every import: reads the layer table in `src/lib.rs`'s module doc and fails
//! when a module under `src/` names (`crate::X`, or `super::X` reaching the crate root) a module
//! of its own layer or of a layer above it.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

/// `module -> layer`, from the ```text block of `src/lib.rs`.
fn layer_table(lib: &str) -> BTreeMap<String, usize> {
    let mut table = BTreeMap::new();
    for line in lib.lines().filter_map(|l| l.strip_prefix("//! layer ")) {
        let columns: Vec<&str> = line.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect();
        let layer: usize = columns[0].parse().unwrap();
        for module in columns[1].split_whitespace() {
            assert!(table.insert(module.to_owned(), layer).is_none(), "`{module}` is listed twice");
        }
    }
    table
}

/// The code of a file without its line comments.
fn code_of(text: &str) -> String {
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The first segment of each path that starts at `at`: `x::y` gives `x`; `{a, b::c, d}` gives
/// `a`, `b` and `d`. Returns them and where the path ends.
fn first_segments(code: &str, mut at: usize) -> (Vec<String>, usize) {
    let ident_at =
        |at: usize| -> String { code[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect() };
    let mut found = Vec::new();
    if code[at..].starts_with('{') {
        let mut depth = 0;
        let mut expect = true;
        for (offset, c) in code[at..].char_indices() {
            match c {
                '{' => {
                    depth += 1;
                    expect = depth == 1;
                }
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        at += offset;
                        break;
                    }
                }
                ',' if depth == 1 => expect = true,
                c if expect && depth == 1 && (c.is_ascii_alphabetic() || c == '_') => {
                    found.push(ident_at(at + offset));
                    expect = false;
                }
                _ => {}
            }
        }
    } else {
        found.push(ident_at(at));
    }
    found.retain(|name| !name.is_empty() && name != "self");
    (found, at)
}

/// Where `word` starts a path at a word boundary in `code`: the offsets just after it.
fn path_starts<'a>(code: &'a str, word: &'a str) -> impl Iterator<Item = usize> + 'a {
    let bytes = code.as_bytes();
    code.match_indices(word)
        .map(|(at, _)| at)
        .filter(move |&at| {
            at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_' || bytes[at - 1] == b':')
        })
        .map(move |at| at + word.len())
}

/// The crate-level modules a file's code names, from its module path (`["supervise", "process"]`).
fn imports(module_path: &[String], text: &str) -> Vec<String> {
    let code = code_of(text);
    let mut found = Vec::new();
    for at in path_starts(&code, "crate::") {
        found.extend(first_segments(&code, at).0);
    }
    // A run of `super::` that climbs to the crate root.
    for mut at in path_starts(&code, "super::") {
        let mut climbs = 1;
        while code[at..].starts_with("super::") {
            at += "super::".len();
            climbs += 1;
        }
        if climbs >= module_path.len() {
            found.extend(first_segments(&code, at).0);
        }
    }
    found
}

/// The sibling files a file's code names: `super::x` from `folder/y.rs`, or `crate::folder::x`.
fn sibling_imports(module_path: &[String], text: &str) -> Vec<String> {
    let code = code_of(text);
    let parent = &module_path[..module_path.len() - 1];
    let mut found = Vec::new();
    for at in path_starts(&code, "super::").filter(|&at| !code[at..].starts_with("super::")) {
        found.extend(first_segments(&code, at).0);
    }
    let through_crate = format!("crate::{}::", parent.join("::"));
    for at in path_starts(&code, &through_crate) {
        found.extend(first_segments(&code, at).0);
    }
    found.retain(|name| name != module_path.last().unwrap());
    found
}

/// `src/supervise/process.rs` -> `["supervise", "process"]`; `src/config/mod.rs` -> `["config"]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" {
        parts.push(stem.to_owned());
    }
    parts
}

/// Every import that breaks the table, as `file: a -> b (layer x -> y)`.
fn violations(src: &Path) -> Vec<String> {
    let table = layer_table(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    assert!(table.len() >= 10, "the layer table in src/lib.rs is missing or short: {table:?}");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    for module in lib.lines().filter_map(|l| l.strip_prefix("pub mod ")).map(|l| l.trim_end_matches(';')) {
        assert!(table.contains_key(module), "module `{module}` is not in the layer table of src/lib.rs");
    }
    let mut files = Vec::new();
    common::rust_files(src, &mut files);
    let mut bad = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        if relative == Path::new("lib.rs") || relative == Path::new("main.rs") {
            continue;
        }
        let path = module_path(relative);
        let own = &path[0];
        let own_layer = *table.get(own).unwrap_or_else(|| panic!("`{own}` is not in the layer table"));
        for target in imports(&path, &std::fs::read_to_string(&file).unwrap()) {
            if &target == own {
                continue;
            }
            let Some(&layer) = table.get(&target) else { continue };
            if layer >= own_layer {
                bad.push(format!(
                    "{}: `{own}` (layer {own_layer}) uses `{target}` (layer {layer})",
                    relative.display()
                ));
            }
        }
    }
    bad
}

#[test]
fn every_import_points_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = violations(&src);
    assert!(bad.is_empty(), "imports against the layer order of src/lib.rs:\n{}", bad.join("\n"));
}

/// Import circles between the files of one folder (`console/agent.rs` uses `console/api.rs`,
/// which uses it back), as `a -> b -> a`, each circle once. A module's `mod.rs` is its parent's,
/// not a sibling: a parent declares its children, and children use what it re-exports.
fn circles(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    common::rust_files(src, &mut files);
    let mut uses: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut texts = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(src).unwrap();
        if relative.components().count() < 2 {
            continue;
        }
        let path = module_path(relative);
        uses.entry(path.join("::")).or_default();
        texts.push((path, std::fs::read_to_string(file).unwrap()));
    }
    for (path, text) in texts {
        let parent = path[..path.len() - 1].join("::");
        let targets: Vec<String> = sibling_imports(&path, &text)
            .into_iter()
            .map(|sibling| format!("{parent}::{sibling}"))
            .filter(|target| uses.contains_key(target))
            .collect();
        uses.get_mut(&path.join("::")).unwrap().extend(targets);
    }
    let mut found: Vec<Vec<String>> = Vec::new();
    for start in uses.keys() {
        // Depth-first from each module, looking for a way back to it.
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        while let Some((at, trail)) = stack.pop() {
            for next in &uses[&at] {
                if next == start {
                    let mut circle = trail.clone();
                    let smallest = (0..circle.len()).min_by_key(|&i| &circle[i]).unwrap();
                    circle.rotate_left(smallest);
                    if !found.contains(&circle) {
                        found.push(circle);
                    }
                } else if !trail.contains(next) {
                    let mut longer = trail.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    found.into_iter().map(|c| format!("{} -> {}", c.join(" -> "), c[0])).collect()
}

#[test]
fn no_import_circle_between_the_files_of_a_folder() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = circles(&src);
    assert!(found.is_empty(), "import circles inside a folder (cut one direction):\n{}", found.join("\n"));
}

#[test]
fn the_scanner_sees_sibling_files() {
    let path = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let text = "use super::api::{App, frame};\nuse super::{guard, shared::Part};\nuse super::super::config;\n\
                let x = crate::console::page::X;\nuse crate::consoles::y;\n// super::commented\n";
    assert_eq!(sibling_imports(&path(&["console", "agent"]), text), ["api", "guard", "shared", "page"]);
    // A file never counts as its own sibling.
    assert!(sibling_imports(&path(&["console", "agent"]), "use crate::console::agent::x;").is_empty());
}

#[test]
fn the_scanner_sees_every_form_of_path() {
    let path = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let text = "use crate::{error::Error, output::{Level, Msg}, self};\nuse super::sibling;\n\
                // crate::commented_out\nlet x = crate::plan::RUN_VAR;\nuse super::super::config;\n";
    assert_eq!(imports(&path(&["supervise", "process"]), text), ["error", "output", "plan", "config"]);
    // In a top-level module, `super::` is the crate root.
    assert_eq!(imports(&path(&["ready"]), "use super::supervise::x;"), ["supervise"]);
    let table = layer_table("//! layer 0  secret system   leaves\n//! layer 3  kinds    knowledge\n");
    assert_eq!(table["system"], 0);
    assert_eq!(table["kinds"], 3);
}

/// `/proc` is read in one place, `src/system/proc.rs` (issue 11): everything else asks it.
#[test]
fn only_system_reads_proc() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    common::rust_files(&src, &mut files);
    let mut bad = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        if relative.starts_with("system") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if !code.starts_with("//") && code.contains("\"/proc") {
                bad.push(format!("{}:{}: {}", relative.display(), n + 1, code));
            }
        }
    }
    assert!(bad.is_empty(), "/proc read outside src/system (use `system::proc`):\n{}", bad.join("\n"));
}
