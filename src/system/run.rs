//! Running a short-lived helper (an installer, `node -v`, an `exec` probe) to its end: the one
//! way agui-dev does it, async, through the reaper, with stdout and stderr captured and an
//! optional time limit. A helper that outlives its limit is killed: its whole process group when
//! it leads one (the caller set `process_group(0)`), else the process itself.

use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

use super::reaper::{ExitStatus, Reaper};

/// What a helper left.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// stdout, then stderr: what a person would want to read of a failed installer.
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The program could not be started.
    #[error("cannot run `{program}`: {error}")]
    Spawn {
        program: String,
        #[source]
        error: std::io::Error,
    },
    /// It did not end within the limit and was killed.
    #[error("no answer within {}", humantime::format_duration(*.0))]
    TimedOut(Duration),
    /// The reaper lost its status (agui-dev is shutting down).
    #[error("lost the exit status of `{program}`")]
    Lost { program: String },
}

/// Why `stdout_of` has no output to give.
#[derive(Debug, thiserror::Error)]
pub enum StdoutError {
    /// The program could not be started: only the system's reason, as the caller names it.
    #[error("{0}")]
    Spawn(#[source] std::io::Error),
    #[error(transparent)]
    Run(RunError),
    /// It ran and failed: the exit status worded as the standard library words it, and the last
    /// line of stderr.
    #[error("{}", failed(.status, .last))]
    Failed { status: String, last: String },
}

fn failed(status: &str, last: &str) -> String {
    format!("{status} {last}").trim().to_owned()
}

/// Runs `command` with stdin closed and its output captured, until it exits or `limit` passes.
pub async fn capture(reaper: &Reaper, command: &mut Command, limit: Option<Duration>) -> Result<Output, RunError> {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let program = command.get_program().to_string_lossy().into_owned();
    let (mut child, exit) =
        reaper.spawn(command).map_err(|error| RunError::Spawn { program: program.clone(), error })?;
    let pid = child.id() as i32;
    let read = |fd: Option<OwnedFd>| {
        let receiver = fd.and_then(|fd| pipe::Receiver::from_owned_fd(fd).ok());
        tokio::spawn(async move {
            let mut bytes = Vec::new();
            if let Some(mut receiver) = receiver {
                let _ = receiver.read_to_end(&mut bytes).await;
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = read(child.stdout.take().map(OwnedFd::from));
    let stderr = read(child.stderr.take().map(OwnedFd::from));
    let exit = tokio::time::timeout(limit.unwrap_or(Duration::MAX), exit).await;
    let Ok(status) = exit else {
        // A hung helper must not outlive its limit, nor anything it started.
        if super::group::leads_group(pid) {
            super::group::kill(pid).await;
        } else {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        stdout.abort();
        stderr.abort();
        return Err(RunError::TimedOut(limit.unwrap_or_default()));
    };
    let status = status.map_err(|_| RunError::Lost { program: program.clone() })?;
    // The pipes close when the last writer exits; a process that escaped with them open must
    // not hold the caller forever.
    let collect = |reader: tokio::task::JoinHandle<String>| async move {
        tokio::time::timeout(Duration::from_secs(2), reader).await.ok().and_then(Result::ok).unwrap_or_default()
    };
    Ok(Output { status, stdout: collect(stdout).await, stderr: collect(stderr).await })
}

/// Runs `program` with a time limit: its trimmed stdout, or why it failed (the exit status worded
/// as the standard library words it, and the last line of stderr).
pub async fn stdout_of(
    reaper: &Reaper,
    program: &std::path::Path,
    args: &[&str],
    limit: Duration,
) -> Result<String, StdoutError> {
    let mut command = Command::new(program);
    command.args(args);
    let output = match capture(reaper, &mut command, Some(limit)).await {
        Ok(output) => output,
        Err(RunError::Spawn { error, .. }) => return Err(StdoutError::Spawn(error)),
        Err(error) => return Err(StdoutError::Run(error)),
    };
    if output.status.success() {
        return Ok(output.stdout.trim().to_owned());
    }
    let status = match output.status {
        ExitStatus::Code(code) => format!("exit status: {code}"),
        ExitStatus::Signal(signal) => format!("signal: {} ({})", signal as i32, signal.as_str()),
    };
    let last = output.stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned();
    Err(StdoutError::Failed { status, last })
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;

    use super::*;

    #[tokio::test]
    async fn captures_output_and_status() {
        let reaper = Reaper::start().unwrap();
        let mut command = Command::new("sh");
        command.args(["-c", "echo out; echo err >&2; exit 3"]);
        let output = capture(&reaper, &mut command, None).await.unwrap();
        assert_eq!(output.status, ExitStatus::Code(3));
        assert_eq!(output.stdout, "out\n");
        assert_eq!(output.stderr, "err\n");
        assert_eq!(output.combined(), "out\nerr\n");
    }

    #[tokio::test]
    async fn a_helper_past_its_limit_is_killed_with_its_group() {
        let reaper = Reaper::start().unwrap();
        let mut command = Command::new("sh");
        command.args(["-c", "sleep 30 & wait"]).process_group(0);
        let error = capture(&reaper, &mut command, Some(Duration::from_millis(200))).await.unwrap_err();
        assert!(matches!(error, RunError::TimedOut(_)), "{error}");
        assert!(error.to_string().starts_with("no answer within"));
        let missing = capture(&reaper, &mut Command::new("/nonexistent/x"), None).await.unwrap_err();
        assert!(missing.to_string().starts_with("cannot run `/nonexistent/x`"), "{missing}");
    }
}
