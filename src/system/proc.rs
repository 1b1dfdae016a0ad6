//! Everything agui-dev reads from `/proc`, parsed in one place: a process's stat line (name,
//! state, parent, start time), command line, working folder and environment.

use std::path::PathBuf;

/// The fields of `/proc/PID/stat` agui-dev uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// The executable's name (`comm`), at most 15 bytes.
    pub comm: String,
    /// `R`, `S`, `Z` (zombie), ...
    pub state: char,
    pub parent: i32,
    /// The process group (`pgrp`).
    pub group: i32,
    /// Clock ticks since boot: with the pid, it names one process for good (pids are reused).
    pub start_time: u64,
}

impl Stat {
    /// Parses a stat line. The name may hold spaces and parentheses, so fields are counted
    /// after the last `)`.
    pub fn parse(line: &str) -> Option<Stat> {
        let (head, rest) = line.rsplit_once(')')?;
        let comm = head.split_once('(')?.1.to_owned();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        Some(Stat {
            comm,
            state: fields.first()?.chars().next()?,
            parent: fields.get(1)?.parse().ok()?,
            group: fields.get(2)?.parse().ok()?,
            start_time: fields.get(19)?.parse().ok()?,
        })
    }
}

pub fn stat(pid: i32) -> Option<Stat> {
    Stat::parse(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Whether a process has exited: no stat line any more, or a zombie waiting for its parent to
/// collect it (it runs nothing and holds nothing but its pid).
pub fn exited(pid: i32) -> bool {
    stat(pid).is_none_or(|s| s.state == 'Z')
}

/// A process's start time in clock ticks since boot (field 22 of /proc/PID/stat).
pub fn start_time(pid: i32) -> Option<u64> {
    stat(pid).map(|s| s.start_time)
}

/// A process's command line, arguments separated by spaces.
pub fn command_line(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|b| *b == 0)
                .filter(|part| !part.is_empty())
                .map(|part| String::from_utf8_lossy(part).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// A process's working folder (only for processes of the same user).
pub fn cwd(pid: i32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/cwd")).ok()
}

/// Every pid in /proc.
pub fn pids() -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect()
}

/// Live processes (not zombies, not this one) whose environment holds `name=value`, with their
/// command lines. Environments are inherited, so this finds processes that left their group.
pub fn marked(name: &str, value: &str) -> Vec<(i32, String)> {
    let needle = format!("{name}={value}");
    let me = std::process::id() as i32;
    pids()
        .into_iter()
        .filter(|pid| *pid != me)
        .filter(|pid| stat(*pid).is_some_and(|s| s.state != 'Z'))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|environ| environ.split(|b| *b == 0).any(|var| var == needle.as_bytes()))
        })
        .map(|pid| (pid, command_line(pid)))
        .collect()
}

/// Whether `ancestor_name` (a `comm`) is among the ancestors of `pid` (not `pid` itself).
pub fn has_ancestor(pid: i32, ancestor_name: &str) -> bool {
    let mut current = pid;
    for _ in 0..32 {
        let Some(stat) = stat(current) else { return false };
        if stat.comm == ancestor_name && current != pid {
            return true;
        }
        if stat.parent <= 1 {
            return false;
        }
        current = stat.parent;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_awkward_names() {
        let line = "42 (my (odd) name) S 7 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 12345 1000 10";
        let stat = Stat::parse(line).unwrap();
        assert_eq!(stat, Stat { comm: "my (odd) name".into(), state: 'S', parent: 7, group: 42, start_time: 12345 });
        assert!(Stat::parse("garbage").is_none());
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id() as i32;
        assert!(start_time(me).is_some());
        assert!(!command_line(me).is_empty());
        assert_eq!(cwd(me), std::env::current_dir().ok());
    }

    #[test]
    fn exited_sees_running_zombie_and_collected_children() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id() as i32;
        assert!(!exited(pid), "a sleeping child is running");
        assert!(!exited(std::process::id() as i32));
        // Killed but not yet collected: a zombie, which counts as exited.
        child.kill().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while stat(pid).is_some_and(|s| s.state != 'Z') {
            assert!(std::time::Instant::now() < deadline, "the killed child never became a zombie");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(exited(pid), "a zombie counts as exited");
        child.wait().unwrap();
        assert!(exited(pid), "a collected child has no /proc entry");
    }
}
