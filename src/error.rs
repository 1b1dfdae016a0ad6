//! The one error type that reaches the user: a summary, the causes, a hint with the fix, and the
//! exit code it maps to. Modules build it through the constructors so every error carries a hint
//! where a fix is known. Each layer below has its own typed error (`http::HttpError`,
//! `ready::ProbeError`, ...); a `From` turns one into this, keeping it as the `source`.

use std::fmt;

/// Exit codes, chosen on purpose: 1 means the stack or a check failed, 2 that the input was bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Failed = 1,
    Usage = 2,
}

/// Where in a file the error is: `file:line:column`, shown before the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[derive(Debug)]
pub struct Error {
    pub summary: String,
    /// Boxed, as `source` is: every `Result` of the program carries this type, which stays
    /// small enough to return by value.
    pub location: Option<Box<Location>>,
    pub causes: Vec<String>,
    pub hint: Option<String>,
    pub exit: Exit,
    /// The typed error this one was made from, when it was (`caused_by`): for programs that walk
    /// the chain. What people read is in the fields above.
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The stack failed: a service or a check.
    pub fn failed(summary: impl Into<String>) -> Self {
        Error {
            summary: summary.into(),
            location: None,
            causes: Vec::new(),
            hint: None,
            exit: Exit::Failed,
            source: None,
        }
    }

    /// Bad usage or a bad stack file.
    pub fn usage(summary: impl Into<String>) -> Self {
        Error {
            summary: summary.into(),
            location: None,
            causes: Vec::new(),
            hint: None,
            exit: Exit::Usage,
            source: None,
        }
    }

    /// The stack failed, as `error` says: its text is the summary, and it is kept as the source.
    pub fn failed_because(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        let mut failed = Error::failed(error.to_string());
        failed.source = Some(Box::new(error));
        failed
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    #[must_use]
    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(Box::new(location));
        self
    }

    /// The summary after its location, if it has one: `stack.toml:3:14: invalid duration`.
    pub fn located_summary(&self) -> String {
        match &self.location {
            Some(location) => format!("{location}: {}", self.summary),
            None => self.summary.clone(),
        }
    }

    #[must_use]
    pub fn cause(mut self, cause: impl fmt::Display) -> Self {
        self.causes.push(cause.to_string());
        self
    }

    /// A typed cause: its text is shown as `cause` shows it, and the first one given is kept as
    /// this error's `source`.
    #[must_use]
    pub fn caused_by(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.causes.push(cause.to_string());
        if self.source.is_none() {
            self.source = Some(Box::new(cause));
        }
        self
    }
}

/// A loopback request that failed is a failure of the stack, in the request's own words.
impl From<crate::http::HttpError> for Error {
    fn from(error: crate::http::HttpError) -> Error {
        Error::failed_because(error)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|source| source as &(dyn std::error::Error + 'static))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl Error {
    /// The error as printed, built from its fields: `error:` and the located summary, a
    /// `caused by:` line per cause, then `hint:`; the two labels in colour when `color`.
    pub fn render(&self, color: bool) -> String {
        let label = |style: console::Style, text: &str| {
            if color { style.force_styling(true).apply_to(text).to_string() } else { text.to_owned() }
        };
        let mut text = format!("{} {}", label(console::Style::new().red().bold(), "error:"), self.located_summary());
        for cause in &self.causes {
            text.push_str("\n  caused by: ");
            text.push_str(cause);
        }
        if let Some(hint) = &self.hint {
            text.push('\n');
            text.push_str(&label(console::Style::new().cyan().bold(), "hint:"));
            text.push(' ');
            text.push_str(hint);
        }
        text
    }

    /// The same error with every secret value replaced, for errors that quote service output. The
    /// typed source is dropped: its text cannot be redacted.
    #[must_use]
    pub fn redacted(self, secrets: &[crate::secret::Secret]) -> Self {
        let clean = |text: &str| crate::secret::redact(text, secrets).into_owned();
        Error {
            summary: clean(&self.summary),
            location: self.location,
            causes: self.causes.iter().map(|c| clean(c)).collect(),
            hint: self.hint.as_deref().map(clean),
            exit: self.exit,
            source: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typed_cause_is_shown_and_kept_as_the_source_until_redacted() {
        let io = std::io::Error::other("disk full");
        let error = Error::failed("cannot write `x`").caused_by(io).hint("free some space");
        assert_eq!(error.to_string(), "error: cannot write `x`\n  caused by: disk full\nhint: free some space");
        let source = std::error::Error::source(&error).expect("the source is kept");
        assert_eq!(source.to_string(), "disk full");
        assert!(std::error::Error::source(&error.redacted(&[])).is_none());
    }
}
