#![allow(clippy::unwrap_used)]
//! The book (`docs/`, built by mdBook in CI) and the README: every relative link points to a file
//! that exists, every `#anchor` to a heading of the page it names, and every page of `docs/` is
//! listed in `docs/SUMMARY.md`. This reads the Markdown only and builds nothing: `.ci/run` builds
//! the book separately (`mdbook build docs`), which would not fail on a broken link.
//!
//! A link from a page of the book must stay inside `docs/`: the built book holds only that folder,
//! so a link to `../src/…` works on GitHub and is a dead link in the book.

use std::collections::{BTreeSet, HashSet};
use std::path::{Component, Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn book() -> PathBuf {
    root().join("docs")
}

/// Every Markdown page of the book: the `.md` files under `docs/`, without mdBook's output.
fn pages() -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path != book().join("book") {
                    walk(&path, found);
                }
            } else if path.extension().is_some_and(|e| e == "md") {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&book(), &mut found);
    found.sort();
    found
}

/// The text's paragraphs outside fenced code blocks, each as (first line number, text). A heading
/// is a paragraph of its own.
fn paragraphs(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut fence: Option<String> = None;
    let mut current: Option<(usize, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let opens = ["```", "~~~"].iter().find(|f| trimmed.starts_with(**f));
        if let Some(open) = &fence {
            if trimmed.starts_with(open.as_str()) && trimmed.trim_start_matches(open.as_str()).trim().is_empty() {
                fence = None;
            }
            continue;
        }
        if let Some(marker) = opens {
            let run = trimmed.chars().take_while(|c| marker.starts_with(*c)).count();
            fence = Some(marker[..1].repeat(run));
            out.extend(current.take());
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            out.extend(current.take());
            if trimmed.starts_with('#') {
                out.push((index + 1, line.to_owned()));
            }
            continue;
        }
        match &mut current {
            Some((_, paragraph)) => {
                paragraph.push('\n');
                paragraph.push_str(line);
            }
            None => current = Some((index + 1, line.to_owned())),
        }
    }
    out.extend(current);
    out
}

/// Inline code spans blanked out, so that a link or bracket inside code is not read as one. A run
/// of N backticks is closed by the next run of exactly N; an unclosed run is literal text.
fn without_code(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = chars.clone();
    let run_at = |i: usize| chars[i..].iter().take_while(|c| **c == '`').count();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            i += 1;
            continue;
        }
        let open = run_at(i);
        let mut j = i + open;
        let mut close = None;
        while j < chars.len() {
            if chars[j] == '`' {
                let run = run_at(j);
                if run == open {
                    close = Some(j + run);
                    break;
                }
                j += run;
            } else {
                j += 1;
            }
        }
        match close {
            Some(end) => {
                out[i..end].iter_mut().for_each(|c| *c = if *c == '\n' { '\n' } else { ' ' });
                i = end;
            }
            None => i += open,
        }
    }
    out.into_iter().collect()
}

/// The targets of the paragraph's inline links and images (`[text](target "title")`), and of
/// reference definitions (`[id]: target`).
fn link_targets(paragraph: &str) -> Vec<String> {
    let text = without_code(paragraph);
    let mut targets = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let Some(end) = after.find(')') else { break };
        if rest[..at].contains('[') {
            let target = after[..end].split_whitespace().next().unwrap_or("");
            targets.push(target.trim_start_matches('<').trim_end_matches('>').to_owned());
        }
        rest = &after[end..];
    }
    for line in text.lines() {
        let line = line.trim_start();
        if let Some((label, target)) = line.strip_prefix('[').and_then(|l| l.split_once("]:"))
            && !label.is_empty()
            && !label.contains(']')
        {
            targets.push(target.split_whitespace().next().unwrap_or("").to_owned());
        }
    }
    targets
}

/// mdBook's heading id (mdbook-html 0.5 `id_from_content`): the heading's text as rendered (code
/// spans, emphasis and link targets gone), trimmed and lowercased; letters, digits, `_` and `-`
/// kept, whitespace made `-`, everything else dropped.
fn heading_id(heading: &str) -> String {
    let text = heading.trim_start().trim_start_matches('#').trim().trim_end_matches('#');
    let mut rendered = String::new();
    let mut rest = text;
    // `[text](target)` reads as `text`.
    while let Some(open) = rest.find('[') {
        let Some(mid) = rest[open..].find("](").map(|m| open + m) else { break };
        let Some(close) = rest[mid..].find(')').map(|c| mid + c) else { break };
        rendered.push_str(&rest[..open]);
        rendered.push_str(&rest[open + 1..mid]);
        rest = &rest[close + 1..];
    }
    rendered.push_str(rest);
    let mut plain = String::new();
    let mut in_tag = false;
    for c in rendered.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            '`' | '*' | '\\' => {}
            _ if !in_tag => plain.push(c),
            _ => {}
        }
    }
    plain
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            c if c.is_alphanumeric() || c == '_' || c == '-' => Some(c),
            c if c.is_whitespace() => Some('-'),
            _ => None,
        })
        .collect()
}

/// Every anchor of a page, numbered as mdBook numbers repeated ids (`id`, `id-1`, `id-2`).
fn anchors(text: &str) -> HashSet<String> {
    let mut used = HashSet::new();
    for (_, paragraph) in paragraphs(text) {
        let level = paragraph.trim_start().chars().take_while(|c| *c == '#').count();
        let is_heading =
            (1..=6).contains(&level) && paragraph.trim_start()[level..].chars().next().is_none_or(char::is_whitespace);
        if !is_heading {
            continue;
        }
        let id = heading_id(&paragraph);
        let mut unique = id.clone();
        let mut counter = 1;
        while used.contains(&unique) {
            unique = format!("{id}-{counter}");
            counter += 1;
        }
        used.insert(unique);
    }
    used
}

/// `path` with `.` and `..` resolved by name (the file need not exist).
fn normalized(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn shown(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}

/// What is wrong with one link of `page` (`None` when it resolves).
fn broken(page: &Path, target: &str) -> Option<String> {
    if target.is_empty() {
        return Some("an empty link".to_owned());
    }
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let (path, anchor) = target.split_once('#').map_or((target, None), |(p, a)| (p, Some(a)));
    let file = if path.is_empty() { page.to_path_buf() } else { normalized(&page.parent().unwrap().join(path)) };
    let in_book = page.starts_with(book());
    if in_book && !file.starts_with(book()) {
        return Some(format!("`{target}` leaves docs/, so it is a dead link in the built book"));
    }
    if !file.exists() {
        return Some(format!("`{target}`: no such file `{}`", shown(&file)));
    }
    if in_book && !file.is_file() {
        return Some(format!("`{target}` is a folder; the built book has no page for it"));
    }
    let anchor = anchor.filter(|_| file.extension().is_some_and(|e| e == "md"))?;
    let text = std::fs::read_to_string(&file).unwrap();
    (!anchors(&text).contains(anchor)).then(|| format!("`{target}`: `{}` has no heading `#{anchor}`", shown(&file)))
}

#[test]
fn every_link_of_the_book_and_the_readme_resolves() {
    let mut checked = 0;
    let mut problems = Vec::new();
    for page in pages().into_iter().chain([root().join("README.md")]) {
        let text = std::fs::read_to_string(&page).unwrap();
        for (line, paragraph) in paragraphs(&text) {
            for target in link_targets(&paragraph) {
                checked += 1;
                if let Some(problem) = broken(&page, &target) {
                    problems.push(format!("{}:{line}: {problem}", shown(&page)));
                }
            }
        }
    }
    assert!(problems.is_empty(), "broken links:\n{}", problems.join("\n"));
    // The README and SUMMARY.md alone link every chapter: finding fewer means the scan broke.
    assert!(checked > 40, "only {checked} links found: the scan missed links");
}

#[test]
fn every_page_of_docs_is_in_the_summary() {
    let summary = book().join("SUMMARY.md");
    let text = std::fs::read_to_string(&summary).expect("docs/SUMMARY.md");
    let listed: BTreeSet<PathBuf> = paragraphs(&text)
        .iter()
        .flat_map(|(_, p)| link_targets(p))
        .map(|target| normalized(&book().join(target.split('#').next().unwrap_or(""))))
        .collect();
    let missing: Vec<String> =
        pages().into_iter().filter(|page| *page != summary && !listed.contains(page)).map(|p| shown(&p)).collect();
    assert!(missing.is_empty(), "pages of docs/ missing from docs/SUMMARY.md: {missing:?}");
}

/// The scanner itself, on the cases the pages rely on: ids as mdBook makes them, links inside
/// code that are not links, and links in fenced blocks that are not read.
#[test]
fn the_scanner_reads_headings_and_links_as_mdbook_does() {
    assert_eq!(heading_id("## What `up` does"), "what-up-does");
    assert_eq!(heading_id("## A service's environment"), "a-services-environment");
    assert_eq!(heading_id("## `[services.NAME]`"), "servicesname");
    assert_eq!(heading_id("### `venv`, `config`, `model`, `host`"), "venv-config-model-host");
    assert_eq!(heading_id("## Values: `${VAR}` and `${services.NAME.port}`"), "values-var-and-servicesnameport");
    assert_eq!(heading_id("# Migrating from the [scaffold](x.md)'s scripts"), "migrating-from-the-scaffolds-scripts");
    let page = "# Logs\n\n## Logs\n\n```\n## not a heading\n```\n";
    assert_eq!(anchors(page), HashSet::from(["logs".to_owned(), "logs-1".to_owned()]));
    let text = "See [the `ready` table](stack-toml.md#ready), `[not](a-link.md)` and\n[a wrapped\nlink](up.md).";
    assert_eq!(link_targets(text), ["stack-toml.md#ready", "up.md"]);
    let fenced = paragraphs("text\n\n```toml\n[a](b.md)\n```\n\nmore [c](d.md)\n");
    let found: Vec<String> = fenced.iter().flat_map(|(_, p)| link_targets(p)).collect();
    assert_eq!(found, ["d.md"]);
}
