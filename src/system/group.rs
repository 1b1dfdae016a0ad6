//! Process groups: every service leads its own, so one signal reaches every process it started
//! (`npm` -> `tsx` -> `node`). Stopping is the signal, a grace period, then SIGKILL.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::watch;
use tokio::time::{Instant, sleep};

/// Whether any process of the group is still alive (or a zombie not yet reaped).
pub fn alive(pgid: i32) -> bool {
    !matches!(killpg(Pid::from_raw(pgid), None), Err(Errno::ESRCH))
}

/// The groups among `pgids` that still run a process. A zombie runs nothing and holds nothing
/// but its pid, and only its parent can collect it: once agui-dev is killed that is pid 1, which
/// collects late (every second or two in some VMs) or never (in many containers). So a group of
/// zombies counts as gone here, where `alive` counts it.
pub fn running(pgids: &[i32]) -> Vec<i32> {
    let existing: Vec<i32> = pgids.iter().copied().filter(|pgid| alive(*pgid)).collect();
    if existing.is_empty() {
        return existing;
    }
    let mut running = Vec::new();
    for pid in super::proc::pids() {
        if let Some(stat) = super::proc::stat(pid)
            && stat.state != 'Z'
            && existing.contains(&stat.group)
            && !running.contains(&stat.group)
        {
            running.push(stat.group);
        }
    }
    running
}

pub fn signal(pgid: i32, signal: Signal) {
    let _ = killpg(Pid::from_raw(pgid), signal);
}

/// Whether `pid` leads a process group of its own.
pub fn leads_group(pid: i32) -> bool {
    nix::unistd::getpgid(Some(Pid::from_raw(pid))).is_ok_and(|pgid| pgid.as_raw() == pid)
}

/// How stopping a group went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every process exited within the grace period.
    Gracefully,
    /// The grace period ran out (or was skipped) and the group was killed.
    Killed,
}

/// Sends `signal` to the group, waits up to `grace` for it to empty, then SIGKILLs what is left
/// and waits until it is gone. `hurry` cuts the grace short (a second Ctrl-C).
pub async fn stop(pgid: i32, signal: Signal, grace: Duration, hurry: &mut watch::Receiver<bool>) -> Stopped {
    if !alive(pgid) {
        return Stopped::Gracefully;
    }
    self::signal(pgid, signal);
    let deadline = Instant::now() + grace;
    let mut interval = Duration::from_millis(2);
    while alive(pgid) {
        if Instant::now() >= deadline || *hurry.borrow() {
            kill(pgid).await;
            return Stopped::Killed;
        }
        tokio::select! {
            () = sleep(interval.min(deadline.saturating_duration_since(Instant::now()))) => {}
            _ = hurry.changed() => {}
        }
        interval = (interval * 2).min(Duration::from_millis(20));
    }
    Stopped::Gracefully
}

/// SIGKILLs the group and waits (up to 10 s) until it is gone.
pub async fn kill(pgid: i32) {
    signal(pgid, Signal::SIGKILL);
    // SIGKILL cannot be caught; the reaper collects the bodies within milliseconds.
    let until = Instant::now() + Duration::from_secs(10);
    while alive(pgid) && Instant::now() < until {
        sleep(Duration::from_millis(2)).await;
    }
}

/// Kills processes by pid (ones that left their group), and waits (at most a second) until none
/// of them runs: SIGKILL is delivered asynchronously, and whoever reports "nothing is left" next
/// must not see one still running. Their parents (or init) collect what remains.
pub fn kill_pids(pids: &[(i32, String)]) {
    for (pid, _) in pids {
        let _ = nix::sys::signal::kill(Pid::from_raw(*pid), Signal::SIGKILL);
    }
    let running = |pid: i32| crate::system::proc::stat(pid).is_some_and(|s| s.state != 'Z');
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while pids.iter().any(|(pid, _)| running(*pid)) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;
    use std::time::Instant;

    use super::*;

    #[test]
    fn a_group_of_zombies_is_alive_but_not_running() {
        let mut child = std::process::Command::new("sleep").arg("30").process_group(0).spawn().unwrap();
        let pgid = child.id() as i32;
        assert_eq!(running(&[pgid, 999_999_999]), [pgid]);
        child.kill().unwrap();
        // Killed, not collected: a zombie, which still answers `killpg(0)`.
        let deadline = Instant::now() + Duration::from_secs(10);
        while crate::system::proc::stat(pgid).is_some_and(|s| s.state != 'Z') {
            assert!(Instant::now() < deadline, "the killed child never became a zombie");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(alive(pgid));
        assert!(running(&[pgid]).is_empty());
        child.wait().unwrap();
        assert!(!alive(pgid) && running(&[pgid]).is_empty());
    }
}
