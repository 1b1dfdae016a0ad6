//! The guardian: a small process that stops the stack when agui-dev itself dies, even by SIGKILL.
//!
//! Theory of operation: agui-dev starts `agui-dev __guardian RUN_ID` in a process group of its
//! own (so the terminal's Ctrl-C does not reach it) with the read end of a pipe as its stdin, and
//! keeps the write end (close-on-exec, so no service inherits it). For every service it starts it
//! writes one line: `watch PGID START SIGNAL GRACE_MS`, START being the leader's start time from
//! /proc. The pipe reaches end-of-file only when agui-dev has exited, however it exited. After a
//! normal stop every group is already empty and the guardian has nothing to do; otherwise it
//! sends each group its stop signal, waits up to the longest grace, SIGKILLs what is left, and
//! finally kills every process still carrying the run's `AGUI_DEV_RUN` marker (ones that left
//! their group). A group whose leader is alive with another start time is a reused pid number
//! and is never signalled.

use std::fs::File;
use std::io::{self, BufRead, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::process::strays;
use crate::system::group;
use crate::system::proc::start_time;
use crate::system::reaper::Reaper;

pub struct Guardian {
    pipe: Mutex<File>,
}

impl Guardian {
    pub fn start(reaper: &Reaper, run_id: &str) -> io::Result<Guardian> {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["__guardian", run_id])
            .stdin(Stdio::from(read))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        // Its exit status is of no interest; the reaper collects it.
        let _ = reaper.spawn(&mut command)?;
        Ok(Guardian { pipe: Mutex::new(File::from(write)) })
    }

    /// Tells the guardian about a started service's process group.
    pub fn watch(&self, pgid: i32, signal: Signal, grace: Duration) {
        let Some(start) = start_time(pgid) else { return };
        let line = format!("watch {pgid} {start} {} {}\n", signal as i32, grace.as_millis());
        // A pipe write this small never blocks; if the guardian is gone there is nothing to tell.
        let _ = self.pipe.lock().unwrap_or_else(std::sync::PoisonError::into_inner).write_all(line.as_bytes());
    }
}

struct Watched {
    pgid: i32,
    start: u64,
    signal: Signal,
    grace: Duration,
}

/// The guardian's own main: read until agui-dev is gone, then stop what it left.
pub fn run(run_id: &str) {
    let mut watched: Vec<Watched> = Vec::new();
    for line in io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let ["watch", pgid, start, signal, grace] = fields.as_slice() {
            let parsed = (pgid.parse(), start.parse(), signal.parse::<i32>(), grace.parse());
            if let (Ok(pgid), Ok(start), Ok(signal), Ok(grace)) = parsed {
                let signal = Signal::try_from(signal).unwrap_or(Signal::SIGTERM);
                watched.retain(|w| w.pgid != pgid);
                watched.push(Watched { pgid, start, signal, grace: Duration::from_millis(grace) });
            }
        }
    }
    // agui-dev has exited. Groups whose leader now has another start time belong to someone else.
    watched.retain(|w| start_time(w.pgid).is_none_or(|start| start == w.start) && group::alive(w.pgid));
    for group in &watched {
        group::signal(group.pgid, group.signal);
    }
    // Each group gets its own grace, then SIGKILL; the wait ends when every group is empty.
    let signalled = Instant::now();
    let give_up = signalled + watched.iter().map(|w| w.grace).max().unwrap_or_default() + Duration::from_secs(10);
    while watched.iter().any(|w| group::alive(w.pgid)) && Instant::now() < give_up {
        for group in watched.iter().filter(|w| signalled.elapsed() >= w.grace && group::alive(w.pgid)) {
            group::signal(group.pgid, Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    group::kill_pids(&strays(run_id));
}
