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
//! their group), then exits. A group counts as stopped when it runs no process: the dead are
//! collected by pid 1 (their parent once agui-dev is gone), whenever it gets to it. A group whose leader is alive with another start time is a reused pid number
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
    let pgids: Vec<i32> = watched.iter().map(|w| w.pgid).collect();
    // Each group gets its own grace, then SIGKILL. The wait ends when no group runs a process:
    // the dead stay zombies until pid 1 collects them, which may be late or never, and a
    // guardian that waited for that stayed on for its whole give-up time.
    let signalled = Instant::now();
    let give_up = signalled + watched.iter().map(|w| w.grace).max().unwrap_or_default() + Duration::from_secs(10);
    let mut pause = Duration::from_millis(2);
    loop {
        let running = group::running(&pgids);
        if running.is_empty() || Instant::now() >= give_up {
            break;
        }
        for group in watched.iter().filter(|w| signalled.elapsed() >= w.grace && running.contains(&w.pgid)) {
            group::signal(group.pgid, Signal::SIGKILL);
            // SIGKILL takes milliseconds: look again soon.
            pause = Duration::from_millis(2);
        }
        // Looks come quickly after a signal (most groups obey within milliseconds), then every
        // 20 ms, and one comes when a grace ends, so that its SIGKILL is not late.
        let next_grace = watched
            .iter()
            .filter(|w| running.contains(&w.pgid))
            .map(|w| w.grace.saturating_sub(signalled.elapsed()))
            .filter(|left| !left.is_zero())
            .min();
        std::thread::sleep(next_grace.map_or(pause, |left| left.min(pause)));
        pause = (pause * 2).min(Duration::from_millis(20));
    }
    group::kill_pids(&strays(run_id));
}
