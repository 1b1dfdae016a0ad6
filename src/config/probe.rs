//! Readiness probes as the stack file declares them: the `ready` table (exactly one of `http`,
//! `tcp`, `exec`, `log`, and a `timeout`), read and checked into a `Probe`. Running a probe is
//! `ready.rs`; a new kind of probe is a field and a variant here and its attempt there.

use std::ops::Range;
use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use super::source::{Source, backticked};
use super::values::{Checked, CommandLine, DurationValue, valid};
use crate::error::Result;

/// How long a `ready` probe may take when its table gives no `timeout`.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_mins(1);

/// `ready = { ... }`: exactly one probe plus an optional `timeout`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReadySection {
    /// A URL that answers 2xx when the service is ready.
    pub http: Option<String>,
    /// A `HOST:PORT` that accepts a TCP connection when the service is ready.
    pub tcp: Option<String>,
    /// A command that exits 0 when the service is ready.
    pub exec: Option<Spanned<Checked<CommandLine>>>,
    /// A regular expression that a line of the service's output matches when it is ready.
    pub log: Option<String>,
    /// How long to wait for the probe to pass. Default `"60s"`.
    pub timeout: Option<Spanned<Checked<DurationValue>>>,
}

#[derive(Clone, Debug)]
pub enum Probe {
    Http(String),
    Tcp(String),
    Exec(Vec<String>),
    Log(Regex),
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Probe::Http(url) => write!(f, "http {url}"),
            Probe::Tcp(addr) => write!(f, "tcp {addr}"),
            Probe::Exec(words) => write!(f, "exec {}", shell_words::join(words)),
            Probe::Log(regex) => write!(f, "log /{}/", regex.as_str()),
        }
    }
}

/// Reads a service's `ready` table into its probe and timeout.
pub fn parse(
    source: &Source,
    service: &str,
    ready: &Spanned<ReadySection>,
    expand: &dyn Fn(&str, &Range<usize>) -> Result<String>,
) -> Result<(Option<Probe>, Duration)> {
    let span = ready.span();
    let section = ready.get_ref();
    let set: Vec<&str> = [
        section.http.as_ref().map(|_| "http"),
        section.tcp.as_ref().map(|_| "tcp"),
        section.exec.as_ref().map(|_| "exec"),
        section.log.as_ref().map(|_| "log"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let timeout = valid(section.timeout.as_ref()).map_or(DEFAULT_READY_TIMEOUT, |t| t.0);
    if set.len() != 1 {
        let message = if set.is_empty() {
            format!("`services.{service}.ready` has no probe")
        } else {
            format!("`services.{service}.ready` has {} probes ({})", set.len(), backticked(&set))
        };
        return Err(source.error(&span, message).hint("set exactly one of `http`, `tcp`, `exec` or `log`"));
    }
    let probe = if let Some(url) = &section.http {
        let url = expand(url, &span)?;
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(source
                .error(&span, format!("`services.{service}.ready.http` is `{url}`, which is not an http:// URL"))
                .hint("write the full URL, e.g. \"http://127.0.0.1:3000/health\""));
        }
        Probe::Http(url)
    } else if let Some(addr) = &section.tcp {
        let addr = expand(addr, &span)?;
        if addr.rsplit_once(':').and_then(|(_, port)| port.parse::<u16>().ok()).is_none() {
            return Err(source
                .error(&span, format!("`services.{service}.ready.tcp` is `{addr}`, which is not HOST:PORT"))
                .hint("write it like \"127.0.0.1:5432\""));
        }
        Probe::Tcp(addr)
    } else if let Some(words) = valid(section.exec.as_ref()) {
        Probe::Exec(words.0.iter().map(|w| expand(w, &span)).collect::<Result<_>>()?)
    } else {
        let pattern = section.log.as_deref().unwrap_or_default();
        Probe::Log(Regex::new(pattern).map_err(|err| {
            source
                .error(&span, format!("`services.{service}.ready.log` is not a valid regular expression"))
                .cause(err)
                .hint("fix the pattern; it uses Rust regex syntax")
        })?)
    };
    Ok((Some(probe), timeout))
}
