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
use crate::http::local_client;
use crate::system::reaper::Reaper;
use crate::system::run::{RunError, capture};

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
pub async fn wait(probe: &Probe, limit: Duration, ctx: ProbeContext<'_>) -> Result<(), String> {
    let started = Instant::now();
    let deadline = started + limit;
    if let Probe::Log(pattern) = probe {
        let mut matched = ctx.log_matched.ok_or("no output to watch")?;
        return match timeout(limit, matched.wait_for(|m| *m)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(format!("the output ended without a line matching /{}/", pattern.as_str())),
            Err(_) => Err(format!(
                "no line of output matched /{}/ within {}",
                pattern.as_str(),
                humantime::format_duration(limit)
            )),
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
            return Err(format!("not ready after {}; last probe: {error}", humantime::format_duration(limit)));
        }
        sleep(pause(now - started).min(deadline - now)).await;
    }
}

/// One attempt of an `http` or `tcp` probe within `limit` (for a look at a running stack).
pub async fn attempt(probe: &Probe, limit: Duration) -> Result<(), String> {
    match probe {
        Probe::Http(url) => http(&local_client(limit)?, url, limit).await,
        Probe::Tcp(addr) => tcp(addr, limit).await,
        Probe::Exec(_) | Probe::Log(_) => Err("this kind of probe only runs under `agui-dev up`".to_owned()),
    }
}

async fn http(client: &reqwest::Client, url: &str, remaining: Duration) -> Result<(), String> {
    let request = client.get(url).timeout(remaining.clamp(Duration::from_millis(10), Duration::from_secs(5)));
    match request.send().await {
        Ok(response) if response.status().is_success() => Ok(()),
        Ok(response) => Err(format!("GET {url} answered {}", response.status())),
        Err(err) if err.is_connect() => Err(format!("GET {url}: connection refused")),
        Err(err) if err.is_timeout() => Err(format!("GET {url}: no answer in time")),
        Err(err) => Err(format!("GET {url}: {err}")),
    }
}

async fn tcp(addr: &str, remaining: Duration) -> Result<(), String> {
    match timeout(
        remaining.clamp(Duration::from_millis(10), Duration::from_secs(2)),
        tokio::net::TcpStream::connect(addr),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(format!("connect {addr}: {err}")),
        Err(_) => Err(format!("connect {addr}: no answer in time")),
    }
}

async fn exec(words: &[String], remaining: Duration, ctx: &ProbeContext<'_>) -> Result<(), String> {
    let mut command = Command::new(&words[0]);
    // Its own process group, so a hung probe is killed with everything it started.
    command.args(&words[1..]).current_dir(ctx.cwd).env_clear().envs(ctx.env).process_group(0);
    let limit = remaining.clamp(Duration::from_millis(10), Duration::from_secs(10));
    match capture(ctx.reaper, &mut command, Some(limit)).await {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(format!("`{}` {}", shell_words::join(words), output.status)),
        Err(RunError::TimedOut(_)) => Err(format!("`{}` did not finish in time", shell_words::join(words))),
        Err(RunError::Lost { .. }) => Err("the probe's exit status was lost".to_owned()),
        Err(RunError::Spawn { error, .. }) => Err(format!("cannot run `{}`: {error}", words[0])),
    }
}
