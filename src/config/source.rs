//! The text of a stack file and the way its byte offsets become `file:line:column` and key paths in
//! error messages. Serde's messages are rewritten here into ours: an unknown key names the table
//! it is in and the nearest valid key.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::LazyLock;

use regex::Regex;

use super::values::Invalid;
use crate::error::{Error, Location};

pub struct Source {
    /// Absolute path of the stack file.
    pub path: PathBuf,
    /// The path as shown in messages.
    pub shown: String,
    pub text: String,
}

static UNKNOWN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^unknown (field|variant) `([^`]*)`, (?:expected|there are no) ?(.*)$").expect("static regex")
});
static BACKTICKED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"`([^`]*)`").expect("static regex"));

impl Source {
    /// A bad-input error located at `span`: `file:line:col: message`.
    pub fn error(&self, span: &Range<usize>, message: impl std::fmt::Display) -> Error {
        Error::usage(message.to_string()).at(self.location(span))
    }

    /// The same error, located at `span` (for errors found without the file at hand).
    pub fn locate(&self, span: &Range<usize>, error: Error) -> Error {
        error.at(self.location(span))
    }

    pub fn location(&self, span: &Range<usize>) -> Location {
        let (line, column) = self.line_column(span.start);
        Location { file: self.shown.clone(), line, column }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }

    /// The dotted path of the table that holds `offset`: the last `[header]` above it, plus the
    /// inline table (`ready = { ... }`) it sits in on its own line.
    pub fn table_at(&self, offset: usize) -> String {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let header = before
            .lines()
            .rev()
            .map(str::trim)
            .find(|line| line.starts_with('['))
            .map(|line| {
                let line = line.split('#').next().unwrap_or(line).trim();
                line.trim_matches(|c| c == '[' || c == ']').trim().to_owned()
            })
            .unwrap_or_default();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let inline = before[line_start..]
            .split_once('{')
            .map(|(key, _)| key.trim().trim_end_matches('=').trim().to_owned())
            .filter(|key| !key.is_empty());
        match (header.is_empty(), inline) {
            (true, None) => "(top level)".to_owned(),
            (true, Some(inline)) => inline,
            (false, None) => header,
            (false, Some(inline)) => format!("{header}.{inline}"),
        }
    }

    /// The key whose value starts at `offset` (`stop_grace` in `stop_grace = "5 sec"`).
    fn key_before(&self, offset: usize) -> Option<String> {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let segment = before[line_start..].trim_end();
        let segment = segment.strip_suffix('=')?.trim_end();
        let key: String = segment
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"'))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        (!key.is_empty()).then(|| key.trim_matches('"').to_owned())
    }

    /// Turns a TOML or serde error into ours, with the location, the key and a hint.
    pub fn from_toml(&self, err: &toml::de::Error) -> Error {
        let span = err.span().unwrap_or(0..0);
        let message = err.message().trim().to_owned();
        if let Some(caps) = UNKNOWN.captures(&message) {
            let word = &caps[2];
            let valid: Vec<&str> =
                BACKTICKED.captures_iter(&caps[3]).filter_map(|c| c.get(1)).map(|m| m.as_str()).collect();
            return if &caps[1] == "field" {
                self.unknown_key(&span, word, &valid, &valid)
            } else {
                self.unknown_value(&span, word, &valid)
            };
        }
        self.at_key(&span, &message).hint("fix the value at this location; docs/stack-toml.md lists every key")
    }

    /// `unknown key` at `span`, in the table there. The hint names the key of `near` closest to
    /// `word`, else lists `valid`.
    pub fn unknown_key(&self, span: &Range<usize>, word: &str, near: &[&str], valid: &[&str]) -> Error {
        self.error(span, format!("unknown key `{word}` in `{}`", self.table_at(span.start)))
            .hint(suggest(word, near, valid))
    }

    /// `unknown value` for the key whose value starts at `span`; the hint names the nearest of
    /// `valid`, else lists them.
    pub fn unknown_value(&self, span: &Range<usize>, word: &str, valid: &[&str]) -> Error {
        let key = self.qualified_key(span.start);
        self.error(span, format!("unknown value `{word}` for `{key}`")).hint(suggest(word, valid, valid))
    }

    /// A value that parsed but is not valid for its key: its message, key and hint.
    pub fn invalid_value(&self, span: &Range<usize>, invalid: &Invalid) -> Error {
        self.at_key(span, &invalid.message).hint(invalid.hint)
    }

    /// `message (in `the.key`)` located at `span`.
    fn at_key(&self, span: &Range<usize>, message: &str) -> Error {
        let key = self.qualified_key(span.start);
        if key.is_empty() { self.error(span, message) } else { self.error(span, format!("{message} (in `{key}`)")) }
    }

    fn qualified_key(&self, offset: usize) -> String {
        let table = self.table_at(offset);
        match self.key_before(offset) {
            Some(key) if table == "(top level)" => key,
            Some(key) => format!("{table}.{key}"),
            None if table == "(top level)" => String::new(),
            None => table,
        }
    }
}

/// `did you mean` the word of `near` closest to `word`, else the `valid` ones.
fn suggest(word: &str, near: &[&str], valid: &[&str]) -> String {
    match nearest(word, near) {
        Some(near) => format!("did you mean `{near}`?"),
        None if valid.is_empty() => "remove it".to_owned(),
        None => format!("valid here: {}", backticked(valid)),
    }
}

/// The valid word closest to a misspelt one, if any is close enough to be a likely typo.
pub fn nearest<'a>(word: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|candidate| (strsim::jaro_winkler(word, candidate), *candidate))
        .filter(|(score, _)| *score >= 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// Names as a list for messages: `a`, `b`, `c`.
pub fn backticked(names: &[&str]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}
