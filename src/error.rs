//! The one error type that reaches the user: a summary, the causes, a hint with the fix, and the
//! exit code it maps to. Modules build it through the constructors so every error carries a hint
//! where a fix is known.

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
    pub location: Option<Location>,
    pub causes: Vec<String>,
    pub hint: Option<String>,
    pub exit: Exit,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The stack failed: a service or a check.
    pub fn failed(summary: impl Into<String>) -> Self {
        Error { summary: summary.into(), location: None, causes: Vec::new(), hint: None, exit: Exit::Failed }
    }

    /// Bad usage or a bad stack file.
    pub fn usage(summary: impl Into<String>) -> Self {
        Error { summary: summary.into(), location: None, causes: Vec::new(), hint: None, exit: Exit::Usage }
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    #[must_use]
    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
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

    /// The same error with every secret value replaced, for errors that quote service output.
    #[must_use]
    pub fn redacted(self, secrets: &[crate::secret::Secret]) -> Self {
        let clean = |text: &str| crate::secret::redact(text, secrets).into_owned();
        Error {
            summary: clean(&self.summary),
            location: self.location,
            causes: self.causes.iter().map(|c| clean(c)).collect(),
            hint: self.hint.as_deref().map(clean),
            exit: self.exit,
        }
    }
}
