//! Readiness probes: `http` (a 2xx answer), `tcp` (a connection), `exec` (exit 0), `log` (a line
//! of output matches).
//!
//! The first probe runs at once and the next ones follow quickly, so a service is seen ready a
//! few milliseconds after it is; the pace slows only for services that take long to start. A
//! connection refused costs next to nothing, which is why polling this fast is cheap.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, sleep, timeout};

use crate::config::Probe;
use crate::http::{HttpError, local_client};
use crate::system::reaper::{ExitStatus, Reaper};
use crate::system::run::{RunError, capture};

/// Why a service is not ready: the last probe's failure, or why the wait ended.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("no output to watch")]
    NoOutput,
    #[error("the output ended without a line matching /{0}/")]
    OutputEnded(String),
    #[error("no line of output matched /{pattern}/ within {}", humantime::format_duration(*.limit))]
    NoLineMatched { pattern: String, limit: Duration },
    #[error("not ready after {}; last probe: {last}", humantime::format_duration(*.limit))]
    NotReady {
        limit: Duration,
        #[source]
        last: Box<ProbeError>,
    },
    #[error("this kind of probe only runs under `agui-dev up`")]
    OnlyUnderUp,
    /// No client to probe with, or a request that got no answer of any kind.
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("GET {url} answered {status}")]
    Answered { url: String, status: reqwest::StatusCode },
    #[error("GET {url}: connection refused")]
    Refused { url: String },
    #[error("GET {url}: no answer in time")]
    HttpSilent { url: String },
    #[error("connect {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("connect {addr}: no answer in time")]
    ConnectSilent { addr: String },
    #[error("`{}` {status}", shell_words::join(.command))]
    Exited { command: Vec<String>, status: ExitStatus },
    #[error("`{}` did not finish in time", shell_words::join(.command))]
    Unfinished { command: Vec<String> },
    #[error("the probe's exit status was lost")]
    Lost,
    #[error("cannot run `{program}`: {source}")]
    Spawn { program: String, source: std::io::Error },
}

/// The pause before the next probe, given how long we have been waiting.
fn pause(waited: Duration) -> Duration {
    if waited < Duration::from_secs(2) {
        Duration::from_millis(5)
    } else if waited < Duration::from_secs(15) {
        Duration::from_millis(10)
    } else {
        Duration::from_millis(100)
    }
}

pub struct ProbeContext<'a> {
    pub reaper: &'a Reaper,
    pub cwd: &'a Path,
    pub env: &'a std::collections::BTreeMap<String, String>,
    pub log_matched: Option<watch::Receiver<bool>>,
}

/// Waits until `probe` passes or `limit` runs out; the error carries the last probe's failure.
pub async fn wait(probe: &Probe, limit: Duration, ctx: ProbeContext<'_>) -> Result<(), ProbeError> {
    let started = Instant::now();
    let deadline = started + limit;
    if let Probe::Log(pattern) = probe {
        let mut matched = ctx.log_matched.ok_or(ProbeError::NoOutput)?;
        return match timeout(limit, matched.wait_for(|m| *m)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(ProbeError::OutputEnded(pattern.as_str().to_owned())),
            Err(_) => Err(ProbeError::NoLineMatched { pattern: pattern.as_str().to_owned(), limit }),
        };
    }
    let client = match probe {
        Probe::Http(_) => Some(local_client(Duration::from_secs(5))?),
        _ => None,
    };
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let attempt = match probe {
            Probe::Http(url) => http(client.as_ref().expect("client for http probes"), url, remaining).await,
            Probe::Tcp(addr) => tcp(addr, remaining).await,
            Probe::Exec(command) => exec(command, remaining, &ctx).await,
            Probe::Log(_) => unreachable!("handled above"),
        };
        let error = match attempt {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        let now = Instant::now();
        if now >= deadline {
            return Err(ProbeError::NotReady { limit, last: Box::new(error) });
        }
        sleep(pause(now - started).min(deadline - now)).await;
    }
}

/// One attempt of an `http` or `tcp` probe within `limit` (for a look at a running stack).
pub async fn attempt(probe: &Probe, limit: Duration) -> Result<(), ProbeError> {
    match probe {
        Probe::Http(url) => http(&local_client(limit)?, url, limit).await,
        Probe::Tcp(addr) => tcp(addr, limit).await,
        Probe::Exec(_) | Probe::Log(_) => Err(ProbeError::OnlyUnderUp),
    }
}

async fn http(client: &reqwest::Client, url: &str, remaining: Duration) -> Result<(), ProbeError> {
    let request = client.get(url).timeout(remaining.clamp(Duration::from_millis(10), Duration::from_secs(5)));
    let url = url.to_owned();
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(ProbeError::Answered { url, status: response.status() }),
        Err(err) if err.is_connect() => Err(ProbeError::Refused { url }),
        Err(err) if err.is_timeout() => Err(ProbeError::HttpSilent { url }),
        Err(err) => Err(HttpError::request("GET", url)(err).into()),
    }
}

async fn tcp(addr: &str, remaining: Duration) -> Result<(), ProbeError> {
    match timeout(
        remaining.clamp(Duration::from_millis(10), Duration::from_secs(2)),
        tokio::net::TcpStream::connect(addr),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(source)) => Err(ProbeError::Connect { addr: addr.to_owned(), source }),
        Err(_) => Err(ProbeError::ConnectSilent { addr: addr.to_owned() }),
    }
}

async fn exec(words: &[String], remaining: Duration, ctx: &ProbeContext<'_>) -> Result<(), ProbeError> {
    let mut command = Command::new(&words[0]);
    // Its own process group, so a hung probe is killed with everything it started.
    command.args(&words[1..]).current_dir(ctx.cwd).env_clear().envs(ctx.env).process_group(0);
    let limit = remaining.clamp(Duration::from_millis(10), Duration::from_secs(10));
    match capture(ctx.reaper, &mut command, Some(limit)).await {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(ProbeError::Exited { command: words.to_vec(), status: output.status }),
        Err(RunError::TimedOut(_)) => Err(ProbeError::Unfinished { command: words.to_vec() }),
        Err(RunError::Lost { .. }) => Err(ProbeError::Lost),
        Err(RunError::Spawn { error, .. }) => Err(ProbeError::Spawn { program: words[0].clone(), source: error }),
    }
}
