//! Which processes listen beyond loopback, read from `/proc`: the processes below a root (the
//! agui-dev that runs a stack is a subreaper, so orphaned grandchildren stay below it), their
//! socket inodes from `/proc/PID/fd`, and the listening TCP sockets of `/proc/net/tcp` and
//! `/proc/net/tcp6` with those inodes.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use super::proc;

/// A listening socket and the process holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub pid: i32,
    pub address: SocketAddr,
}

impl Listener {
    /// Reachable from other machines: not 127.0.0.0/8, `::1` or an IPv4-mapped loopback.
    pub fn beyond_loopback(&self) -> bool {
        match self.address.ip() {
            IpAddr::V4(ip) => !ip.is_loopback(),
            IpAddr::V6(ip) => !ip.is_loopback() && !ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        }
    }
}

/// Every process below `root` (children, grandchildren, ...), not `root` itself.
pub fn descendants(root: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for pid in proc::pids() {
        if let Some(stat) = proc::stat(pid) {
            children.entry(stat.parent).or_default().push(pid);
        }
    }
    let mut found = Vec::new();
    add_below(&children, &[root], &mut found);
    found
}

/// For each group leader in `leaders`, the processes of its group and everything below them (a
/// child that made a group of its own is still the service's). One pass over `/proc` for all.
pub fn of_groups(leaders: &[i32]) -> HashMap<i32, Vec<i32>> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    let mut members: HashMap<i32, Vec<i32>> = HashMap::new();
    for pid in proc::pids() {
        if let Some(stat) = proc::stat(pid) {
            children.entry(stat.parent).or_default().push(pid);
            if leaders.contains(&stat.group) {
                members.entry(stat.group).or_default().push(pid);
            }
        }
    }
    for found in members.values_mut() {
        let start = found.clone();
        add_below(&children, &start, found);
    }
    members
}

/// Adds to `found` every process below `start` that it does not hold yet.
fn add_below(children: &HashMap<i32, Vec<i32>>, start: &[i32], found: &mut Vec<i32>) {
    let mut queue = start.to_vec();
    while let Some(pid) = queue.pop() {
        for child in children.get(&pid).into_iter().flatten() {
            if !found.contains(child) {
                found.push(*child);
                queue.push(*child);
            }
        }
    }
}

/// By process group leader: the addresses beyond loopback that the group's processes (and
/// everything below them) listen on. Reads `/proc` (a few milliseconds for a few hundred processes).
pub fn exposed_by_group(leaders: &[i32]) -> HashMap<i32, Vec<String>> {
    let groups = of_groups(leaders);
    let pids: Vec<i32> = groups.values().flatten().copied().collect();
    let mut exposed: HashMap<i32, Vec<String>> = HashMap::new();
    for listener in listeners(&pids).into_iter().filter(Listener::beyond_loopback) {
        let Some((leader, _)) = groups.iter().find(|(_, members)| members.contains(&listener.pid)) else {
            continue;
        };
        let addresses = exposed.entry(*leader).or_default();
        let address = listener.address.to_string();
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    exposed
}

/// The listening TCP sockets held by `pids`.
pub fn listeners(pids: &[i32]) -> Vec<Listener> {
    let sockets = proc::listening_sockets();
    let mut found = Vec::new();
    for pid in pids {
        for inode in proc::socket_inodes(*pid) {
            if let Some(address) = sockets.get(&inode) {
                let listener = Listener { pid: *pid, address: *address };
                if !found.contains(&listener) {
                    found.push(listener);
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses() {
        let loopback = |a: &str| Listener { pid: 1, address: a.parse().unwrap() }.beyond_loopback();
        assert!(!loopback("127.0.0.1:1") && !loopback("[::1]:1") && !loopback("[::ffff:127.0.0.1]:1"));
        assert!(loopback("0.0.0.0:1") && loopback("[::]:1") && loopback("10.1.2.3:1"));
    }

    #[test]
    fn finds_a_child_listening_on_every_interface() {
        let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let me = std::process::id() as i32;
        let found = listeners(&[me]);
        assert!(found.iter().any(|l| l.address.port() == port && l.beyond_loopback()), "{found:?}");
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let parent = std::os::unix::process::parent_id() as i32;
        assert!(descendants(parent).contains(&me));
        assert!(descendants(me).contains(&(child.id() as i32)));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
