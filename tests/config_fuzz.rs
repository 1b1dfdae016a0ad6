#![allow(clippy::unwrap_used)]
//! Bad input never panics: a corpus of malformed stack files (each must give an error naming the
//! file and the line, and the text in its `# expect:` line), and randomised files built from
//! stack.toml fragments and raw bytes (proptest; the seed is printed on failure and failing cases
//! are shrunk), which must load or fail with a located error, never panic.

use std::path::Path;

use agui_dev::{kinds, plan};
use proptest::prelude::*;

/// Loads and plans `text` as a stack file in a temp dir: the rendered error, or `None`.
fn load(text: &[u8]) -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stack.toml");
    std::fs::write(&path, text).unwrap();
    let result = kinds::load(&path).and_then(|stack| plan::build(&stack, &[]).map(|_| ()));
    result.err().map(|error| error.to_string())
}

#[test]
fn every_file_of_the_corpus_gives_a_located_error() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut seen = 0;
    for entry in std::fs::read_dir(&corpus).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text.lines().next().and_then(|l| l.strip_prefix("# expect: ")).expect("an `# expect:` first line");
        let error = load(text.as_bytes()).unwrap_or_else(|| panic!("{} loaded without an error", path.display()));
        assert!(error.starts_with("error: "), "{}: {error}", path.display());
        assert!(error.contains("stack.toml:"), "{}: no file and line in {error}", path.display());
        assert!(error.contains("hint: "), "{}: no hint in {error}", path.display());
        assert!(error.contains(expect), "{}: expected `{expect}` in {error}", path.display());
        seen += 1;
    }
    assert!(seen >= 20, "the corpus has {seen} files");
}

const FRAGMENTS: &[&str] = &[
    "[stack]\n",
    "name = \"x\"\n",
    "env_files = [\".env\"]\n",
    "[services.a]\n",
    "[services.b]\n",
    "[services.\"c d\"]\n",
    "[[smoke]]\n",
    "name = \"s\"\n",
    "url = \"http://127.0.0.1:1/\"\n",
    "exec = \"true\"\n",
    "command = \"true\"\n",
    "command = [\"sh\", \"-c\", \"exit 0\"]\n",
    "command = []\n",
    "command = \"sh -c 'unclosed\"\n",
    "kind = \"litellm\"\n",
    "kind = \"agui\"\n",
    "kind = \"mcp\"\n",
    "model = \"deepseek/deepseek-chat\"\n",
    "config = \"missing.yaml\"\n",
    "venv = \".venv\"\n",
    "port = 3000\n",
    "port = 0\n",
    "port = -1\n",
    "port = 99999\n",
    "port = \"x\"\n",
    "depends_on = [\"a\"]\n",
    "depends_on = [\"b\"]\n",
    "depends_on = [\"zz\"]\n",
    "ready = { http = \"http://127.0.0.1:1/\" }\n",
    "ready = { tcp = \"127.0.0.1:1\", timeout = \"1s\" }\n",
    "ready = { log = \"(\" }\n",
    "ready = {}\n",
    "ready = { exec = \"true\", log = \"x\" }\n",
    "restart = \"always\"\n",
    "restart = \"sometimes\"\n",
    "max_restarts = 3\n",
    "stop_signal = \"SIGQUIT\"\n",
    "stop_signal = \"SIGNOPE\"\n",
    "stop_grace = \"250ms\"\n",
    "stop_grace = \"soon\"\n",
    "env = { A = \"${HOME}\", B = \"${NOPE_NOT_SET:-d}\", C = 1, D = true }\n",
    "env = { A = \"${services.a.port}\" }\n",
    "env = { A = \"${\" }\n",
    "env = { A = [1] }\n",
    "cwd = \"nowhere\"\n",
    "cwd = \".\"\n",
    "unknown_key = 1\n",
    "= = =\n",
    "[services]\n",
    "\"\n",
    "[\n",
    "a.b.c = 1\n",
];

fn stack_file() -> impl Strategy<Value = Vec<u8>> {
    let fragments =
        prop::collection::vec(prop::sample::select(FRAGMENTS), 0..24).prop_map(|parts| parts.concat().into_bytes());
    let mutated = (fragments.clone(), prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6))
        .prop_map(|(mut bytes, edits)| {
            for (at, byte) in edits {
                if !bytes.is_empty() {
                    let at = at.index(bytes.len());
                    bytes[at] = byte;
                }
            }
            bytes
        });
    prop_oneof![fragments, mutated, prop::collection::vec(any::<u8>(), 0..200)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_stack_file_loads_or_fails_with_a_located_error(text in stack_file()) {
        if let Some(error) = load(&text) {
            prop_assert!(error.starts_with("error: "), "{}", error);
            prop_assert!(error.contains("stack.toml:") || error.contains("cannot read"), "not located: {}", error);
        }
    }
}
