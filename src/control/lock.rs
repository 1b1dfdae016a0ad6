//! The run lock: one `up` or `smoke` per stack.

use crate::error::{Error, Result};

/// The lock that makes one `up` or `smoke` per stack: `.agui-dev/run.lock` next to the stack file,
/// holding the pid of the agui-dev that runs it and emptied when that run ends. The kernel releases
/// the lock when the process dies, however it dies, so a pid left in an unlocked file is a run that
/// was killed: the lock is taken over and that pid returned for a note.
pub struct StackLock {
    lock: nix::fcntl::Flock<std::fs::File>,
    pub stale_pid: Option<i32>,
}

impl Drop for StackLock {
    fn drop(&mut self) {
        let _ = self.lock.set_len(0);
    }
}

pub fn lock_stack(dir: &std::path::Path) -> Result<StackLock> {
    use nix::fcntl::{Flock, FlockArg};
    use std::io::{Read, Seek, Write};
    let path = super::protocol::lock_path(dir);
    let cannot = |err: &dyn std::fmt::Display| {
        Error::failed(format!("cannot lock `{}`", path.display())).cause(err).hint("check that the folder is writable")
    };
    std::fs::create_dir_all(dir.join(".agui-dev")).map_err(|e| cannot(&e))?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| cannot(&e))?;
    let mut previous = String::new();
    let _ = file.read_to_string(&mut previous);
    let previous: Option<i32> = previous.trim().parse().ok();
    let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
            let who = previous.map_or_else(|| "another agui-dev".to_owned(), |pid| format!("agui-dev (pid {pid})"));
            return Err(Error::usage(format!("this stack is already running under {who}"))
                .hint("`agui-dev status` shows it, `agui-dev logs -f` follows its output, `agui-dev down` stops it"));
        }
        Err((_, err)) => return Err(cannot(&err)),
    };
    let _ = lock.set_len(0);
    let _ = lock.rewind();
    let _ = write!(lock, "{}", std::process::id());
    let _ = lock.flush();
    Ok(StackLock { lock, stale_pid: previous })
}
