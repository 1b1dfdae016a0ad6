//! Spawning and reaping: agui-dev is a child subreaper, so the grandchildren of its services are
//! re-parented to it when their parent dies, and it reaps them all.
//!
//! Why not `tokio::process`: it waits on its own children by pid and never reaps re-parented
//! grandchildren, which stay zombies (and keep their process group alive) where pid 1 does not
//! reap, as in many containers. So one task reaps every child with `waitpid(-1)` on SIGCHLD and
//! hands each registered child's status to whoever spawned it. The registry lock is held both
//! while spawning and while reaping, so a child is always registered before its status is seen,
//! and `std`'s own wait inside a failed spawn never races with ours.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::oneshot;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(Signal),
}

impl ExitStatus {
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Code(code) => write!(f, "exited with code {code}"),
            ExitStatus::Signal(signal) => write!(f, "was killed by {}", signal.as_str()),
        }
    }
}

type Registry = Arc<Mutex<HashMap<i32, oneshot::Sender<ExitStatus>>>>;

#[derive(Clone)]
pub struct Reaper {
    registry: Registry,
}

impl Reaper {
    /// Makes this process a subreaper and starts reaping. Must run inside the tokio runtime.
    pub fn start() -> io::Result<Reaper> {
        nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)?;
        let mut sigchld = signal(SignalKind::child())?;
        let registry: Registry = Arc::default();
        let reaping = registry.clone();
        tokio::spawn(async move {
            loop {
                reap_all(&reaping);
                if sigchld.recv().await.is_none() {
                    break;
                }
            }
        });
        Ok(Reaper { registry })
    }

    /// Spawns `command` and returns the child and a receiver for its exit status.
    pub fn spawn(&self, command: &mut Command) -> io::Result<(Child, oneshot::Receiver<ExitStatus>)> {
        let mut registry = self.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let child = command.spawn()?;
        let (tx, rx) = oneshot::channel();
        registry.insert(child.id() as i32, tx);
        Ok((child, rx))
    }
}

/// Reaps every child that has ended. Children nobody registered (re-parented grandchildren) are
/// reaped and forgotten.
fn reap_all(registry: &Registry) {
    let mut registry = registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let (pid, status) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => (pid, ExitStatus::Code(code)),
            Ok(WaitStatus::Signaled(pid, signal, _)) => (pid, ExitStatus::Signal(signal)),
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(_) => return,
        };
        if let Some(tx) = registry.remove(&pid.as_raw()) {
            let _ = tx.send(status);
        }
    }
}
