//! Everything agui-dev reads from `/proc`, parsed in one place: a process's stat line (name,
//! state, parent, start time), command line, working folder, environment and socket descriptors,
//! and the machine's listening TCP sockets (`/proc/net/tcp` and `/proc/net/tcp6`).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
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

/// The inodes of the sockets `pid` has descriptors on (`/proc/PID/fd/N -> socket:[INODE]`; only
/// for processes of the same user, or all of them as root).
pub fn socket_inodes(pid: i32) -> Vec<u64> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    fds.flatten()
        .filter_map(|fd| {
            let target = std::fs::read_link(fd.path()).ok()?;
            target.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

/// Every listening TCP socket on the machine, IPv4 and IPv6, by inode.
pub fn listening_sockets() -> HashMap<u64, SocketAddr> {
    let big_endian = cfg!(target_endian = "big");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|text| listening_rows(&text, big_endian))
        .collect()
}

/// The rows of a `/proc/net/tcp{,6}` table in the listening state (`0A`), as (inode, address).
/// Columns: `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout
/// inode ...`.
fn listening_rows(text: &str, big_endian: bool) -> Vec<(u64, SocketAddr)> {
    const LISTEN: &str = "0A";
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 10 || fields[3] != LISTEN {
                return None;
            }
            Some((fields[9].parse().ok()?, socket_address(fields[1], big_endian)?))
        })
        .collect()
}

/// A `local_address` column: the address in hex, `:`, the port in hex. The kernel prints the
/// address one 32-bit word at a time (one word for IPv4, four for IPv6), each as the number its
/// four bytes make in the host's byte order, and those bytes, in memory order, are the address in
/// network order. So each word goes back to bytes in the host's order (`to_ne_bytes`; the flag
/// lets the tests read a big-endian host's table too). The port is printed as a plain number.
fn socket_address(text: &str, big_endian: bool) -> Option<SocketAddr> {
    let (hex, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let mut bytes = Vec::with_capacity(16);
    for start in (0..hex.len()).step_by(8) {
        let word = u32::from_str_radix(hex.get(start..start + 8)?, 16).ok()?;
        bytes.extend(if big_endian { word.to_be_bytes() } else { word.to_le_bytes() });
    }
    let ip = match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
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

    /// Rows copied from this machine's `/proc/net/tcp` and `/proc/net/tcp6` (x86_64, little-endian)
    /// while sockets listened on 192.0.2.2:45067, 127.0.0.1:38969, [fd00::2]:42317, [::1]:57421 and
    /// [::ffff:127.0.0.1]:36459, with a TIME_WAIT row (state 06) that is not a listener.
    const TCP_LE: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 020200C0:B00B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 694742 1 00000000224c5b1c 100 0 0 10 0
   1: 0100007F:9839 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 690712 1 00000000ed802cdb 100 0 0 10 0
   2: 0100007F:D6C4 0100007F:AD05 06 00000000:00000000 03:00000A31 00000000     0        0 0 3 000000006e81043a
";
    const TCP6_LE: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 000000FD000000000000000002000000:A54D 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 696122 1 00000000cc3d5b9d 100 0 0 10 0
   1: 00000000000000000000000001000000:E04D 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 694577 1 00000000abc53520 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:8E6B 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 694579 1 00000000f9666501 100 0 0 10 0
";

    fn expected(rows: &[(u64, &str)]) -> Vec<(u64, SocketAddr)> {
        rows.iter().map(|(inode, address)| (*inode, address.parse().unwrap())).collect()
    }

    #[test]
    fn listening_rows_of_a_little_endian_host() {
        let v4 = expected(&[(694_742, "192.0.2.2:45067"), (690_712, "127.0.0.1:38969")]);
        assert_eq!(listening_rows(TCP_LE, false), v4);
        let v6 =
            expected(&[(696_122, "[fd00::2]:42317"), (694_577, "[::1]:57421"), (694_579, "[::ffff:127.0.0.1]:36459")]);
        assert_eq!(listening_rows(TCP6_LE, false), v6);
    }

    #[test]
    fn listening_rows_of_a_big_endian_host() {
        // The same sockets as a big-endian kernel prints them: each word's bytes in the order
        // they sit in memory, which there is the address's own order.
        let tcp = TCP_LE.replace("020200C0", "C0000202").replace("0100007F", "7F000001");
        let v4 = expected(&[(694_742, "192.0.2.2:45067"), (690_712, "127.0.0.1:38969")]);
        assert_eq!(listening_rows(&tcp, true), v4);
        let tcp6 = TCP6_LE
            .replace("000000FD000000000000000002000000", "FD000000000000000000000000000002")
            .replace("00000000000000000000000001000000", "00000000000000000000000000000001")
            .replace("0000000000000000FFFF00000100007F", "00000000000000000000FFFF7F000001");
        let v6 =
            expected(&[(696_122, "[fd00::2]:42317"), (694_577, "[::1]:57421"), (694_579, "[::ffff:127.0.0.1]:36459")]);
        assert_eq!(listening_rows(&tcp6, true), v6);
    }

    #[test]
    fn odd_addresses_are_skipped() {
        assert_eq!(socket_address("0100007F", false), None);
        assert_eq!(socket_address("0100007:0FA0", false), None);
        assert_eq!(socket_address("0100007F00:0FA0", false), None);
        assert_eq!(socket_address("0100007G:0FA0", false), None);
        assert_eq!(socket_address("0100007F:10000", false), None);
    }

    #[test]
    fn finds_this_process_listening() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let inode = listening_sockets().into_iter().find(|(_, a)| *a == address).expect("the table lists it").0;
        assert!(socket_inodes(std::process::id() as i32).contains(&inode));
    }
}
