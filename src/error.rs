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

#[derive(Debug)]
pub struct Error {
    pub summary: String,
    pub causes: Vec<String>,
    pub hint: Option<String>,
    pub exit: Exit,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The stack failed: a service or a check.
    pub fn failed(summary: impl Into<String>) -> Self {
        Error { summary: summary.into(), causes: Vec::new(), hint: None, exit: Exit::Failed }
    }

    /// Bad usage or a bad stack file.
    pub fn usage(summary: impl Into<String>) -> Self {
        Error { summary: summary.into(), causes: Vec::new(), hint: None, exit: Exit::Usage }
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    #[must_use]
    pub fn cause(mut self, cause: impl fmt::Display) -> Self {
        self.causes.push(cause.to_string());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.summary)?;
        for cause in &self.causes {
            write!(f, "\n  caused by: {cause}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl Error {
    /// The error as printed: `error:` and `hint:` in colour when `color`.
    pub fn render(&self, color: bool) -> String {
        let text = self.to_string();
        if !color {
            return text;
        }
        let red = console::Style::new().red().bold().force_styling(true);
        let cyan = console::Style::new().cyan().bold().force_styling(true);
        text.lines()
            .map(|line| {
                if let Some(rest) = line.strip_prefix("error:") {
                    format!("{}{rest}", red.apply_to("error:"))
                } else if let Some(rest) = line.strip_prefix("hint:") {
                    format!("{}{rest}", cyan.apply_to("hint:"))
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The same error with every secret value replaced, for errors that quote service output.
    #[must_use]
    pub fn redacted(self, secrets: &[crate::secret::Secret]) -> Self {
        let clean = |text: &str| crate::secret::redact(text, secrets).into_owned();
        Error {
            summary: clean(&self.summary),
            causes: self.causes.iter().map(|c| clean(c)).collect(),
            hint: self.hint.as_deref().map(clean),
            exit: self.exit,
        }
    }
}
