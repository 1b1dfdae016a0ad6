//! One running service: its process group, the readers of its stdout and stderr, and stopping.
//!
//! Each service is the leader of its own process group, so a signal to the group reaches every
//! process it started (`npm` -> `tsx` -> `node`), and the terminal's Ctrl-C reaches only agui-dev,
//! which then stops the groups in order.

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use regex::Regex;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::output::{Msg, Out};
use crate::secret::strip_ansi;
use crate::system::program;
use crate::system::reaper::{ExitStatus, Reaper};

/// Lines longer than this are cut into pieces of this size, so one endless line cannot grow
/// memory without bound.
pub const MAX_LINE: usize = 64 * 1024;
/// How many of a service's last lines are kept for the report when it fails.
const TAIL_LINES: usize = 20;

/// Output a service has printed, shared between its readers and the supervisor.
#[derive(Default)]
pub struct Recent {
    lines: Mutex<VecDeque<String>>,
}

impl Recent {
    /// Keeps the last lines of `batch` (only those can be among the last lines overall).
    fn push_last(&self, batch: &str) {
        let newest: Vec<&str> = batch.rsplit('\n').take(TAIL_LINES).collect();
        let mut lines = self.lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for line in newest.into_iter().rev() {
            if lines.len() == TAIL_LINES {
                lines.pop_front();
            }
            lines.push_back(line.to_owned());
        }
    }

    pub fn last(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned().collect()
    }
}

/// What the output readers share with the `log` readiness probe.
pub struct LogWatch {
    pub pattern: Regex,
    pub matched: watch::Sender<bool>,
}

pub struct Running {
    pub pid: i32,
    readers: Vec<JoinHandle<()>>,
}

pub struct SpawnSpec<'a> {
    pub index: usize,
    pub command: &'a [String],
    pub cwd: &'a Path,
    pub env: &'a std::collections::BTreeMap<String, String>,
}

/// Why a service's process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error(transparent)]
    NotFound(#[from] program::NotFound),
    #[error("cannot start `{}`: {source}", program.display())]
    Start { program: PathBuf, source: std::io::Error },
    #[error("cannot read the output of `{program}`: {source}")]
    Output { program: String, source: std::io::Error },
}

/// Starts a service in a new process group with its output piped to the printer.
pub fn spawn(
    reaper: &Reaper,
    spec: &SpawnSpec<'_>,
    out: &Out,
    recent: &Arc<Recent>,
    log_watch: Option<&Arc<LogWatch>>,
) -> Result<(Running, oneshot::Receiver<ExitStatus>), SpawnError> {
    let program = program::resolve(&spec.command[0], spec.cwd, spec.env.get("PATH").map(String::as_str))?;
    let mut command = Command::new(&program);
    command
        .args(&spec.command[1..])
        .current_dir(spec.cwd)
        .env_clear()
        .envs(spec.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let (mut child, exit) =
        reaper.spawn(&mut command).map_err(|source| SpawnError::Start { program: program.clone(), source })?;
    let pid = child.id() as i32;
    let mut readers = Vec::new();
    let pipes: [Option<OwnedFd>; 2] = [child.stdout.take().map(OwnedFd::from), child.stderr.take().map(OwnedFd::from)];
    for fd in pipes.into_iter().flatten() {
        let receiver = pipe::Receiver::from_owned_fd(fd)
            .map_err(|source| SpawnError::Output { program: spec.command[0].clone(), source })?;
        readers.push(tokio::spawn(read_lines(receiver, spec.index, out.clone(), recent.clone(), log_watch.cloned())));
    }
    Ok((Running { pid, readers }, exit))
}

impl Running {
    /// A process whose output nobody reads (the supervisor's tests start no processes).
    pub fn without_output(pid: i32) -> Running {
        Running { pid, readers: Vec::new() }
    }

    /// Waits until both output pipes are closed (so every line has been sent to the printer), or
    /// `limit` has passed: a grandchild that escaped the group could hold them open forever.
    pub async fn drain(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        for reader in &mut self.readers {
            let _ = tokio::time::timeout_at(deadline, reader).await;
        }
        for reader in &self.readers {
            reader.abort();
        }
    }
}

/// Forwards every line of one pipe to the printer until it closes.
async fn read_lines(
    mut pipe: pipe::Receiver,
    service: usize,
    out: Out,
    recent: Arc<Recent>,
    log_watch: Option<Arc<LogWatch>>,
) {
    let mut buffer: Vec<u8> = Vec::with_capacity(8 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    // Every whole line of one read goes to the printer as one text: per-line messages cost more
    // than the writing itself when a service floods.
    let send = |lines: String| {
        recent.push_last(&lines);
        if let Some(watch) = log_watch
            .as_ref()
            .filter(|w| !*w.matched.borrow() && lines.split('\n').any(|line| w.pattern.is_match(&strip_ansi(line))))
        {
            watch.matched.send_replace(true);
        }
        out.send(Msg::Lines { service, lines, at: None })
    };
    loop {
        let read = match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buffer.extend_from_slice(&chunk[..read]);
        // Whole lines, then pieces of a line too long to keep (cut at a character boundary so
        // the pieces stay valid UTF-8).
        let mut complete = buffer.iter().rposition(|b| *b == b'\n').map_or(0, |last| last + 1);
        let mut lines = String::from_utf8_lossy(&buffer[..complete]).into_owned();
        if lines.contains('\r') {
            lines = lines.replace("\r\n", "\n");
        }
        lines.pop(); // the newline that ends the last whole line
        while buffer.len() - complete > MAX_LINE {
            let mut cut = complete + MAX_LINE;
            while cut > complete && (buffer[cut] & 0xC0) == 0x80 {
                cut -= 1;
            }
            let cut = if cut == complete { complete + MAX_LINE } else { cut };
            if complete > 0 || !lines.is_empty() {
                lines.push('\n');
            }
            lines.push_str(&String::from_utf8_lossy(&buffer[complete..cut]));
            complete = cut;
        }
        let any = complete > 0;
        buffer.drain(..complete);
        if any {
            send(lines).await;
        }
    }
    if !buffer.is_empty() {
        // A last line without a newline still counts.
        send(String::from_utf8_lossy(&buffer).into_owned()).await;
    }
}

/// Live processes of this run (their environment holds `AGUI_DEV_RUN=<run_id>`), with their
/// command lines: after a shutdown, only processes that left their process group can be here.
pub fn strays(run_id: &str) -> Vec<(i32, String)> {
    crate::system::proc::marked(crate::plan::RUN_VAR, run_id)
}
