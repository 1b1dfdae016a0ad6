//! Is a port free, and if not, who holds it? The holder is found through /proc: the listening
//! socket's inode in /proc/net/tcp{,6}, then the process with a descriptor on that inode.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};

use super::proc;

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
    let inodes: Vec<u64> = proc::listening_sockets()
        .into_iter()
        .filter(|(_, address)| address.port() == port)
        .map(|(inode, _)| inode)
        .collect();
    if inodes.is_empty() {
        return None;
    }
    let pid = proc::pids().into_iter().find(|pid| proc::socket_inodes(*pid).iter().any(|i| inodes.contains(i)))?;
    Some(Holder { pid, command: proc::command_line(pid) })
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
