//! Embeds `templates/` in the binary, so `init` and `setup` work from any folder after
//! `cargo install`: every file under `templates/` except installed or generated trees
//! (`node_modules`, `dist`, `__pycache__`, `.agui-dev`, `.venv`) becomes one entry of
//! `$OUT_DIR/templates.rs`, a sorted list of `(relative path, include_bytes!(absolute path))`.
//!
//! Why a build script rather than `include_dir!`: the template folders hold `node_modules` once a
//! test or a developer ran the stack from the checkout, and that must never end up in the binary.
//! Cargo is told to rerun on each embedded file and on each folder where no installed or
//! generated tree is or will be (see `walk`), so running the templates from the checkout (tests
//! do) never makes the next `cargo build` rerun this script and rebuild the crate. A file added
//! directly in such a folder is seen at the next change of a watched file or a clean build.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const SKIP: &[&str] = &["node_modules", "dist", "__pycache__", ".agui-dev", ".venv", ".env"];

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let templates = root.join("templates");
    let mut files = Vec::new();
    let _ = walk(&templates, &mut files);
    files.sort();
    let mut out = String::from("pub static FILES: &[(&str, &[u8])] = &[\n");
    for file in &files {
        let relative = file.strip_prefix(&templates).expect("walked under templates").to_string_lossy();
        let _ = writeln!(out, "    ({relative:?}, include_bytes!({:?})),", file.to_string_lossy());
        println!("cargo:rerun-if-changed={}", file.display());
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("templates.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}

/// Collects the files under `dir`; returns whether an installed or generated tree is, or may come
/// to be, anywhere below it. Cargo scans a watched folder recursively and reruns this script (and
/// rebuilds the crate) when anything in it changes, so such folders are not watched: one that
/// holds such a tree now, and one where running the templates makes one (`package.json`: an
/// install writes `node_modules`; a `.py` file: Python writes `__pycache__`). Their files are
/// still watched one by one.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    let mut live = false;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if SKIP.contains(&name.as_str()) {
            live = true;
            continue;
        }
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            live |= walk(&path, files);
        } else if kind.is_file() {
            live |= name == "package.json" || path.extension().is_some_and(|e| e.eq_ignore_ascii_case("py"));
            files.push(path);
        }
    }
    if !live {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    live
}
