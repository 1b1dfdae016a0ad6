//! Is a port free, and if not, who holds it? The holder is found through /proc: the listening
//! socket's inode in /proc/net/tcp{,6}, then the process with a descriptor on that inode.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};

/// The process listening on a port.
#[derive(Debug, Clone)]
pub struct Holder {
    pub pid: i32,
    pub command: String,
}

/// How errors name it: `pid 4242 (python3 -m http.server)`.
impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} ({})", self.pid, self.command)
    }
}

/// True when nothing listens on the port, on loopback or on all interfaces.
pub fn is_free(port: u16) -> bool {
    [Ipv4Addr::LOCALHOST, Ipv4Addr::UNSPECIFIED]
        .iter()
        .all(|ip| TcpListener::bind(SocketAddrV4::new(*ip, port)).is_ok())
}

/// The process listening on `port`, where /proc shows it (not for other users' processes).
pub fn holder(port: u16) -> Option<Holder> {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return None;
    }
    for pid in super::proc::pids() {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { continue };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else { continue };
            let target = target.to_string_lossy();
            let held = target
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .is_some_and(|inode| inodes.iter().any(|i| i == inode));
            if held {
                return Some(Holder { pid, command: super::proc::command_line(pid) });
            }
        }
    }
    None
}

fn listening_inodes(port: u16) -> Vec<String> {
    const LISTEN: &str = "0A";
    let wanted = format!("{port:04X}");
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 10 || fields[3] != LISTEN {
                continue;
            }
            if fields[1].rsplit_once(':').is_some_and(|(_, p)| p == wanted) {
                inodes.push(fields[9].to_owned());
            }
        }
    }
    inodes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_our_own_listener() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(!is_free(port));
        let holder = holder(port).expect("the test process holds the port");
        assert_eq!(holder.pid, std::process::id() as i32);
        drop(listener);
        assert!(is_free(port));
    }
}
