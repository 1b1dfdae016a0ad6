#![allow(clippy::unwrap_used)]
//! A kind is its folder and its registration: a toy kind, written here and registered through
//! `kinds::register` (the path the built-in kinds take, `Registry::add`), gets its own key in a
//! stack file read, checked and expanded, its wiring run and its defaults in the plan, without a
//! line of config, plan or supervise knowing it. The contributors' "A service kind" list
//! (docs/development.md) is read and held against where the built-in kinds really live; and the errors about LiteLLM's keys, which config
//! used to write, keep their text now that the kind writes them.

mod common;

use std::path::Path;
use std::sync::LazyLock;

use agui_dev::config::{KindKeys, KindName, KindTable, Probe, Service, Stack, keys_of};
use agui_dev::error::Result;
use agui_dev::kinds::{self, Defaults, Kind, Wiring};
use agui_dev::plan;
use common::Fixture;
use serde::Deserialize;
use toml::Spanned;

const TOY: KindName = KindName::new("toy");

/// The toy's keys as a stack file writes them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    greeting: Spanned<String>,
    times: Option<Spanned<u32>>,
}

/// What the toy keeps of them.
#[derive(Debug, PartialEq)]
struct ToyKeys {
    greeting: String,
    times: u32,
}

/// Says its greeting `times` times on its port.
struct Toy;

impl Kind for Toy {
    fn name(&self) -> KindName {
        TOY
    }

    fn keys(&self) -> &'static [&'static str] {
        keys_of::<Written>()
    }

    fn read_keys(&self, table: &KindTable<'_>) -> Result<KindKeys> {
        let written: Written = table.read()?;
        let greeting = table.expand(&written.greeting)?;
        if greeting.trim().is_empty() {
            return Err(table
                .error(&written.greeting.span(), format!("`services.{}.greeting` is empty", table.service))
                .hint("write what the toy says"));
        }
        let times = written.times.map_or(1, |t| *t.get_ref());
        Ok(KindKeys::new(ToyKeys { greeting, times }))
    }

    fn wire(&self, _stack: &Stack, first: &Service, wiring: &mut Wiring) -> Result<()> {
        wiring.notes.push(format!("toy `{}` greets first", first.name));
        Ok(())
    }

    fn endpoint(&self, port: u16) -> String {
        format!("http://127.0.0.1:{port}/toy")
    }

    fn defaults(&self, _wiring: &Wiring, service: &Service, port: u16) -> Defaults {
        let keys = service.kind_keys.get::<ToyKeys>().unwrap();
        let said = vec![keys.greeting.as_str(); keys.times as usize].join(" ");
        Defaults {
            command: Some(vec!["toy-server".to_owned(), "--port".to_owned(), port.to_string()]),
            ready: Some(Probe::Http(format!("http://127.0.0.1:{port}/ready"))),
            env: vec![("TOY_SAYS".to_owned(), said)],
            ..Defaults::default()
        }
    }
}

static REGISTERED: LazyLock<()> = LazyLock::new(|| kinds::register(&Toy).unwrap());

/// Writes `text` as a stack file and reads it with the registered kinds, the toy among them.
fn load(text: &str) -> (tempfile::TempDir, Result<Stack>) {
    LazyLock::force(&REGISTERED);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stack.toml");
    std::fs::write(&path, text).unwrap();
    let stack = kinds::load(&path);
    (dir, stack)
}

/// The error of loading `text`, with the temp folder as `[DIR]`.
fn load_error(text: &str) -> String {
    let (dir, stack) = load(text);
    let Err(error) = stack else { panic!("loaded without an error:\n{text}") };
    error.to_string().replace(&dir.path().display().to_string(), "[DIR]")
}

const TOY_STACK: &str = r#"[services.hello]
kind = "toy"
port = 3456
greeting = "hi ${AGUI_TEST_TOY_SURELY_UNSET:-there}"
times = 2

[services.plain]
command = "true"
depends_on = ["hello"]
"#;

#[test]
fn a_toy_kind_reads_its_key_wires_and_plans() {
    let (_dir, stack) = load(TOY_STACK);
    let stack = stack.unwrap();
    let hello = &stack.services[0];
    assert_eq!(hello.kind, Some(TOY));
    assert_eq!(hello.kind_keys.get::<ToyKeys>(), Some(&ToyKeys { greeting: "hi there".to_owned(), times: 2 }));
    assert_eq!(stack.services[1].kind, None);
    assert!(stack.services[1].kind_keys.get::<ToyKeys>().is_none());

    let plan = plan::build(&stack, &[]).unwrap();
    assert!(plan.notes.contains(&"toy `hello` greets first".to_owned()), "{:?}", plan.notes);
    let hello = plan.services.iter().find(|s| s.name == "hello").unwrap();
    assert_eq!(hello.command, ["toy-server", "--port", "3456"]);
    assert_eq!(hello.env["TOY_SAYS"], "hi there hi there");
    assert_eq!(hello.url.as_deref(), Some("http://127.0.0.1:3456/toy"));
    assert_eq!(hello.ready.as_ref().map(ToString::to_string).as_deref(), Some("http http://127.0.0.1:3456/ready"));
    let other = plan.services.iter().find(|s| s.name == "plain").unwrap();
    assert_eq!(other.command, ["true"]);
    assert!(!other.env.contains_key("TOY_SAYS"));
    assert_eq!(other.wave, hello.wave + 1);
}

#[test]
fn the_toy_kinds_keys_are_checked_where_they_are_written() {
    let toy = |extra: &str| format!("[services.hello]\nkind = \"toy\"\nport = 3456\n{extra}");
    let cases = [
        (
            toy("greeting = \" \"\n"),
            "error: [DIR]/stack.toml:4:12: `services.hello.greeting` is empty\nhint: write what the toy says",
        ),
        (
            toy("greeting = \"hi\"\ngreting = \"hi\"\n"),
            "error: [DIR]/stack.toml:5:1: unknown key `greting` in `services.hello`\nhint: did you mean `greeting`?",
        ),
        (
            toy("greeting = \"hi\"\ntimes = \"two\"\n"),
            "error: [DIR]/stack.toml:5:9: invalid type: string \"two\", expected u32 (in `services.hello.times`)\nhint: fix the value at this location; docs/stack-toml.md lists every key",
        ),
        (
            toy("greeting = \"${AGUI_TEST_TOY_SURELY_UNSET}\"\n"),
            "error: [DIR]/stack.toml:4:12: `${AGUI_TEST_TOY_SURELY_UNSET}` is not set\nhint: export `AGUI_TEST_TOY_SURELY_UNSET`, add it to an env file, or write `${AGUI_TEST_TOY_SURELY_UNSET:-default}`",
        ),
        (
            toy("greeting = \"hi\"\nvenv = \".venv\"\n"),
            "error: [DIR]/stack.toml:5:8: `services.hello.venv` is only for `kind = \"litellm\"`\nhint: remove `venv`, or set `kind = \"litellm\"` on this service",
        ),
        (
            toy("greeting = \"hi\"\npublic = true\n"),
            "error: [DIR]/stack.toml:5:10: `services.hello.public` is for services of kind `agui` or `mcp`\nhint: only AG-UI and MCP servers are probed for foreign web pages; remove `public`",
        ),
        (
            "[services.plain]\ncommand = \"true\"\ngreeting = \"hi\"\n".to_owned(),
            "error: [DIR]/stack.toml:3:12: `services.plain.greeting` is only for `kind = \"toy\"`\nhint: remove `greeting`, or set `kind = \"toy\"` on this service",
        ),
        (
            "[services.hello]\nkind = \"toys\"\nport = 3456\n".to_owned(),
            "error: [DIR]/stack.toml:2:8: unknown value `toys` for `services.hello.kind`\nhint: did you mean `toy`?",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(load_error(&text), expected, "for:\n{text}");
    }
    // A key the kind requires and the file leaves out: serde's words, at the service's table.
    let missing = load_error(&toy(""));
    assert!(missing.starts_with("error: [DIR]/stack.toml:1:1: missing field `greeting`"), "{missing}");
}

/// A kind of any name with any keys, to try the registration's refusals.
struct Named(KindName, &'static [&'static str]);

impl Kind for Named {
    fn name(&self) -> KindName {
        self.0
    }

    fn keys(&self) -> &'static [&'static str] {
        self.1
    }

    fn defaults(&self, _wiring: &Wiring, _service: &Service, _port: u16) -> Defaults {
        Defaults::default()
    }
}

#[test]
fn registration_refuses_a_taken_name_or_key() {
    static TAKEN_NAME: Named = Named(KindName::new("litellm"), &[]);
    static CONFIG_KEY: Named = Named(KindName::new("other"), &["port"]);
    static OTHER_KINDS_KEY: Named = Named(KindName::new("other"), &["greeting"]);
    static BAD_NAME: Named = Named(KindName::new("Other Kind"), &[]);
    LazyLock::force(&REGISTERED);
    let refusal = |kind: &'static Named| kinds::register(kind).unwrap_err().to_string();
    assert!(refusal(&TAKEN_NAME).contains("a kind of that name is registered"));
    assert!(refusal(&CONFIG_KEY).contains("`port` is a key of every service"));
    assert!(refusal(&OTHER_KINDS_KEY).contains("`greeting` is a key of kind `toy`"));
    assert!(refusal(&BAD_NAME).contains("lower-case letters, digits and `-`"));
    let names: Vec<KindName> = kinds::all().iter().map(|k| k.name()).collect();
    assert_eq!(names.iter().filter(|n| n.as_str() == "other").count(), 0, "{names:?}");
}

/// The errors about LiteLLM's keys, written by `kinds::litellm` now, as `check` prints them.
#[test]
fn the_litellm_keys_keep_their_errors() {
    let cases = [
        (
            "[services.a]\nkind = \"mcp\"\nport = 3000\nvenv = \"x\"\n",
            "error: [DIR]/stack.toml:4:8: `services.a.venv` is only for `kind = \"litellm\"`\nhint: remove `venv`, or set `kind = \"litellm\"` on this service",
        ),
        (
            "[services.a]\nkind = \"litellm\"\nport = 4000\nconfig = \"c.yaml\"\nmodel = \"x\"\n",
            "error: [DIR]/stack.toml:5:9: `services.a` sets both `config` and `model`\nhint: keep one: a `config` file lists its models; `model` runs a single one",
        ),
        (
            "[services.a]\nkind = \"litellm\"\nport = 4000\nmodel = 5\n",
            "error: [DIR]/stack.toml:4:9: invalid type: integer `5`, expected a string (in `services.a.model`)\nhint: fix the value at this location; docs/stack-toml.md lists every key",
        ),
        (
            "[services.a]\nkind = \"litellm\"\nport = 4000\nvenvv = \".venv\"\n",
            "error: [DIR]/stack.toml:4:1: unknown key `venvv` in `services.a`\nhint: did you mean `venv`?",
        ),
        (
            "[services.a]\nkind = \"foo\"\nport = 4000\n",
            "error: [DIR]/stack.toml:2:8: unknown value `foo` for `services.a.kind`\nhint: valid here: `litellm`, `mcp`, `agui`",
        ),
    ];
    for (text, expected) in cases {
        let fixture = Fixture::new(text);
        let (code, _, stderr) = fixture.run(&["check"]);
        assert_eq!(code, 2, "{stderr}");
        let stderr = stderr.replace(&fixture.path().display().to_string(), "[DIR]");
        assert_eq!(stderr.trim_end(), expected, "for:\n{text}");
    }
}

/// The kinds agui-dev ships (the toy may be registered by another test of this binary).
fn real_kinds() -> Vec<&'static str> {
    kinds::all().iter().map(|k| k.name().as_str()).filter(|name| *name != TOY.as_str()).collect()
}

/// The text of a Rust file without its comment lines and its `#[cfg(test)]` module (tests use
/// the real kinds freely).
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines().filter(|line| !line.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The "A service kind" section of the contributors' docs: (the number of files it claims, the
/// paths it names: those under `src/` or `docs/`, and `README.md`).
fn kind_section(root: &Path) -> (usize, Vec<String>) {
    let mut docs = vec![root.join("README.md")];
    let mut stack = vec![root.join("docs")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                docs.push(path);
            }
        }
    }
    let mut found = Vec::new();
    for doc in docs {
        let text = std::fs::read_to_string(&doc).unwrap();
        if let Some(start) = text.find("# A service kind\n") {
            let rest = &text[start + "# A service kind\n".len()..];
            found.push(rest[..rest.find("\n#").unwrap_or(rest.len())].to_owned());
        }
    }
    assert_eq!(found.len(), 1, "one \"A service kind\" section in README.md or docs/: {found:?}");
    let section = &found[0];
    let first = section.split_whitespace().next().unwrap().to_lowercase();
    let words = ["zero", "one", "two", "three", "four", "five", "six", "seven"];
    let count = words.iter().position(|w| *w == first).or_else(|| first.parse().ok());
    let count = count.unwrap_or_else(|| panic!("the section does not start with its number of files: {section}"));
    let mut paths: Vec<String> = section
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|token| token.starts_with("src/") || token.starts_with("docs/") || *token == "README.md")
        .map(str::to_owned)
        .collect();
    paths.sort();
    paths.dedup();
    (count, paths)
}

/// The list says how many files a kind touches and names them; each named file really holds that
/// part of every built-in kind, and the kinds' knowledge is nowhere else below the commands.
#[test]
fn the_docs_list_the_files_a_kind_touches() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (count, paths) = kind_section(root);
    assert_eq!(count, paths.len(), "the section claims {count} files and names {paths:?}");
    let real = real_kinds();
    assert!(real.len() >= 3, "{real:?}");
    for path in &paths {
        for kind in &real {
            let file = root.join(path.replace("<kind>", kind));
            let text = std::fs::read_to_string(&file).unwrap_or_else(|_| panic!("`{path}` names no file for `{kind}`"));
            if path.contains("<kind>") {
                // The kind itself: its name and its `Kind` impl.
                assert!(text.contains(&format!("KindName::new(\"{kind}\")")), "{}", file.display());
                assert!(text.contains("impl Kind for"), "{}", file.display());
            } else if path.starts_with("src/") {
                // The registration: the kind's type added in `builtin`.
                let builtin = text.split("fn builtin").nth(1).unwrap_or_default();
                let builtin = &builtin[..builtin.find("\n}").unwrap_or(builtin.len())];
                assert!(builtin.contains(&format!("add(&{kind}::")), "`{kind}` is not registered in {path}");
            } else {
                // The user's documentation of the kind.
                assert!(text.contains(&format!("kind = \"{kind}\"")), "{path} does not document `{kind}`");
            }
        }
    }

    // Where a kind's knowledge must not be: the stack file's reading, the plan, the supervisor and
    // the probes run for every service alike.
    let src = root.join("src");
    let mut files = Vec::new();
    for generic in ["config", "plan", "supervise", "ready.rs"] {
        common::rust_files(&src.join(generic), &mut files);
    }
    assert!(files.len() >= 8, "{files:?}");
    let mut leaks = Vec::new();
    for file in &files {
        let code = code_of(file).to_lowercase().replace("agui-dev", "").replace("agui_dev", "");
        for kind in &real {
            if code.contains(kind) {
                leaks.push(format!("{} names `{kind}`", file.strip_prefix(root).unwrap().display()));
            }
        }
    }
    assert!(leaks.is_empty(), "a kind's knowledge outside src/kinds/:\n{}", leaks.join("\n"));

    // A kind's type is added in one place: the registration.
    let mut all_files = Vec::new();
    common::rust_files(&src, &mut all_files);
    for kind in &real {
        let kind_file = std::fs::read_to_string(src.join("kinds").join(kind).join("mod.rs")).unwrap();
        let type_name = kind_file.split("impl Kind for ").nth(1).unwrap().split_whitespace().next().unwrap();
        let added = format!("{kind}::{type_name}");
        let places: Vec<String> = all_files
            .iter()
            .filter(|f| code_of(f).contains(&added))
            .map(|f| f.strip_prefix(root).unwrap().display().to_string())
            .collect();
        assert_eq!(places, ["src/kinds/mod.rs"], "`{added}` is used in {places:?}");
    }
}
