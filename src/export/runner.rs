//! Running the engine's commands for `export compose --check`: each in a process group of its
//! own, cut short by its limit or by Ctrl-C / SIGTERM / SIGHUP (which reach agui-dev alone, so it
//! can take the project down), its output line by line into one log file with secrets replaced
//! and colour codes removed, and the last lines kept for the step's verdict.

use std::collections::VecDeque;
use std::io::Write as _;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::unix::pipe;
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::output::{redact, short, strip_ansi};
use crate::secret::Secret;
use crate::system::group;
use crate::system::reaper::{ExitStatus, Reaper};

/// How many lines of the engine's output a failed step quotes.
pub const TAIL: usize = 15;

pub struct Runner {
    reaper: Reaper,
    log: Arc<Log>,
    stop: watch::Receiver<Option<&'static str>>,
}

impl Runner {
    /// A runner with the process's one `reaper`, writing to a new log file at `path` with
    /// `secrets` replaced. From now on Ctrl-C, SIGTERM and SIGHUP stop its commands, not agui-dev.
    pub fn start(reaper: Reaper, path: &Path, secrets: Vec<Secret>) -> Result<Runner> {
        let stop = stop_signals().map_err(|e| Error::failed("cannot handle Ctrl-C and SIGTERM").cause(e))?;
        Ok(Runner { reaper, log: Log::create(path, secrets)?, stop })
    }

    pub fn reaper(&self) -> &Reaper {
        &self.reaper
    }

    /// The signal that asked agui-dev to stop, once one came.
    pub fn stopped_by(&self) -> Option<&'static str> {
        *self.stop.borrow()
    }

    pub fn stopped(&self) -> bool {
        self.stopped_by().is_some()
    }

    /// Returns once a signal has stopped the check.
    pub async fn until_stopped(&self) {
        let mut stop = self.stop.clone();
        let _ = stop.wait_for(Option::is_some).await;
    }

    /// Runs an engine command in a process group of its own (Ctrl-C reaches agui-dev, which
    /// stops it and takes the project down), its output line by line into the log file.
    pub async fn run(&self, mut command: Command, limit: Duration, stoppable: bool) -> Ran {
        let shown: Vec<String> = std::iter::once(command.get_program())
            .chain(command.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        self.log.begin(&shell_words::join(shown));
        if stoppable && self.stopped() {
            return Ran {
                outcome: Outcome::Stopped(self.stop.borrow().unwrap_or("a signal")),
                stdout: String::new(),
                stderr: String::new(),
                tail: Vec::new(),
            };
        }
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
        let (mut child, exit) = match self.reaper.spawn(&mut command) {
            Ok(spawned) => spawned,
            Err(error) => {
                return Ran {
                    outcome: Outcome::NotStarted(error.to_string()),
                    stdout: String::new(),
                    stderr: String::new(),
                    tail: Vec::new(),
                };
            }
        };
        let pid = child.id() as i32;
        let stdout = self.log.reader(child.stdout.take().map(OwnedFd::from));
        let stderr = self.log.reader(child.stderr.take().map(OwnedFd::from));
        let mut stop = self.stop.clone();
        let outcome = tokio::select! {
            status = exit => status.map_or(Outcome::Lost, Outcome::Exited),
            () = tokio::time::sleep(limit) => {
                end(pid).await;
                Outcome::TimedOut(limit)
            }
            Ok(signal) = stop.wait_for(Option::is_some), if stoppable => {
                let signal = signal.unwrap_or("a signal");
                end(pid).await;
                Outcome::Stopped(signal)
            }
        };
        // The pipes close when the last writer exits; one that escaped must not hold us.
        let collect = |reader: tokio::task::JoinHandle<String>| async move {
            tokio::time::timeout(Duration::from_secs(2), reader).await.ok().and_then(Result::ok).unwrap_or_default()
        };
        let (stdout, stderr) = (collect(stdout).await, collect(stderr).await);
        Ran { outcome, stdout, stderr, tail: self.log.tail() }
    }
}

pub enum Outcome {
    Exited(ExitStatus),
    NotStarted(String),
    TimedOut(Duration),
    Stopped(&'static str),
    Lost,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Exited(status) => write!(f, "{status}"),
            Outcome::NotStarted(why) => write!(f, "could not start: {why}"),
            Outcome::TimedOut(limit) => write!(f, "not done within {}; stopped", short(*limit)),
            Outcome::Stopped(signal) => write!(f, "stopped by {signal}"),
            Outcome::Lost => write!(f, "its exit status was lost"),
        }
    }
}

/// What one engine command came to: its stdout (secrets replaced) and the last lines of both.
pub struct Ran {
    pub outcome: Outcome,
    pub stdout: String,
    pub stderr: String,
    pub tail: Vec<String>,
}

impl Ran {
    pub fn succeeded(&self) -> bool {
        matches!(self.outcome, Outcome::Exited(status) if status.success())
    }
}

/// The first of SIGINT, SIGTERM and SIGHUP, by name, once it came.
fn stop_signals() -> std::io::Result<watch::Receiver<Option<&'static str>>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
            _ = hangup.recv() => "SIGHUP",
        };
        let _ = tx.send(Some(name));
        // Further signals are taken and ignored: `down` must finish.
        loop {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
                _ = hangup.recv() => {}
            }
        }
    });
    Ok(rx)
}

/// SIGTERM to the command's group, SIGKILL after 10 s.
async fn end(pgid: i32) {
    let (_keep, mut hurry) = watch::channel(false);
    group::stop(pgid, nix::sys::signal::Signal::SIGTERM, Duration::from_secs(10), &mut hurry).await;
}

/// The engine's output: every line, secrets replaced and colour codes removed, into the log
/// file; the last lines of the current command kept for its verdict.
struct Log {
    file: Mutex<std::fs::File>,
    secrets: Vec<Secret>,
    last: Mutex<VecDeque<String>>,
}

impl Log {
    fn create(path: &Path, secrets: Vec<Secret>) -> Result<Arc<Log>> {
        let fail = |e: std::io::Error| {
            Error::failed(format!("cannot write `{}`", path.display()))
                .cause(e)
                .hint("check that the stack's folder is writable")
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let file = std::fs::File::create(path).map_err(fail)?;
        Ok(Arc::new(Log { file: Mutex::new(file), secrets, last: Mutex::new(VecDeque::new()) }))
    }

    /// A command starts: its line in the file, and a fresh tail.
    fn begin(&self, command: &str) {
        self.last.lock().unwrap_or_else(PoisonError::into_inner).clear();
        self.write_line(&format!("$ {command}"));
    }

    fn tail(&self) -> Vec<String> {
        self.last.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect()
    }

    fn write_line(&self, line: &str) {
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = writeln!(file, "{line}");
    }

    /// One line of output, cleaned: into the file and the tail.
    fn line(&self, raw: &[u8]) -> String {
        let text = String::from_utf8_lossy(raw);
        let text = text.trim_end_matches(['\r', '\n']);
        let clean = strip_ansi(&redact(text, &self.secrets)).into_owned();
        self.write_line(&clean);
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.len() == TAIL {
            last.pop_front();
        }
        last.push_back(clean.clone());
        clean
    }

    /// Reads a pipe to its end, line by line; returns what it read, cleaned.
    fn reader(self: &Arc<Self>, fd: Option<OwnedFd>) -> tokio::task::JoinHandle<String> {
        let log = Arc::clone(self);
        tokio::spawn(async move {
            let mut kept = String::new();
            let Some(receiver) = fd.and_then(|fd| pipe::Receiver::from_owned_fd(fd).ok()) else { return kept };
            let mut lines = BufReader::new(receiver).split(b'\n');
            while let Ok(Some(raw)) = lines.next_segment().await {
                kept.push_str(&log.line(&raw));
                kept.push('\n');
            }
            kept
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_replaces_secrets_and_keeps_the_last_lines() {
        let dir = std::env::temp_dir().join(format!("agui-check-log-{}", std::process::id()));
        let path = dir.join("check.log");
        let secret = Secret { name: "LITELLM_MASTER_KEY".to_owned(), value: "sk-agui-check-0123456789".to_owned() };
        let log = Log::create(&path, vec![secret]).unwrap();
        log.begin("compose up");
        for n in 0..20 {
            log.line(format!("\x1b[32mline {n} key=sk-agui-check-0123456789\x1b[0m\r\n").as_bytes());
        }
        let tail = log.tail();
        assert_eq!(tail.len(), TAIL);
        assert_eq!(tail[TAIL - 1], "line 19 key=[redacted:LITELLM_MASTER_KEY]");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("$ compose up\nline 0 key=[redacted:LITELLM_MASTER_KEY]\n"), "{text}");
        assert!(!text.contains("sk-agui-check-0123456789") && !text.contains('\x1b'));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
