//! Doctor's `running` area: for each service found running (see `ports`), its ready probe answers
//! now; then what its kind checks on a running server (e.g. the MCP handshake); whether a web page
//! from another site can reach it (`kinds::browser`, for kinds with a `browser_path`); and, while
//! the stack runs, that none of its processes listens beyond loopback.

use super::Doctor;
use super::ports::Held;
use crate::config::Stack;
use crate::diagnosis::{Area, CheckId, Diagnosis};
use crate::kinds;
use crate::kinds::browser::{RUNNING_CROSS_ORIGIN, RUNNING_DNS_REBINDING};
use crate::system::{listening, proc};

pub const RUNNING_READY: CheckId = CheckId::new(Area::Running, "running.ready");
pub const RUNNING_LOOPBACK: CheckId = CheckId::new(Area::Running, "running.loopback");

/// Every id this file makes (the kinds add their own `running.*`).
pub const IDS: &[CheckId] = &[RUNNING_READY, RUNNING_LOOPBACK, RUNNING_CROSS_ORIGIN, RUNNING_DNS_REBINDING];

pub async fn check(found: &mut Diagnosis, doctor: &Doctor<'_>, running: Vec<Held<'_>>) {
    for Held { service, port, probe, answer } in running {
        let subject = Some(service.name.as_str());
        match (&probe, answer) {
            (Some(probe), Some(Ok(()))) => {
                found.ok(RUNNING_READY, subject, format!("running: the ready probe ({probe}) answered"));
                if let Some(kind) = service.kind.and_then(kinds::of) {
                    kind.doctor_running(service, port, found).await;
                    if let Some(path) = kind.browser_path() {
                        kinds::browser::doctor(found, service, port, path).await;
                    }
                }
            }
            (Some(probe), Some(Err(error))) => found.fail(
                RUNNING_READY,
                subject,
                format!("`{}` holds port {port} but its ready probe ({probe}) fails: {error}", service.name),
                format!(
                    "read `{}`; stop the stack and run `agui-dev up` again",
                    doctor.stack.dir.join(".agui-dev/logs").join(format!("{}.log", service.name)).display()
                ),
            ),
            _ => {}
        }
    }
}

/// While the stack runs (`.agui-dev/run.lock` names a live agui-dev): every socket its processes
/// listen on beyond loopback, named with the service whose port it is.
pub fn loopback(found: &mut Diagnosis, stack: &Stack) {
    let lock = std::fs::read_to_string(stack.dir.join(".agui-dev/run.lock")).unwrap_or_default();
    let Some(pid) = lock.trim().parse::<i32>().ok() else { return };
    // The lock is emptied when a run ends; a pid left by a killed run may have been reused.
    if proc::stat(pid).is_none_or(|stat| stat.comm != "agui-dev") {
        return;
    }
    let open: Vec<_> = listening::listeners(&listening::descendants(pid))
        .into_iter()
        .filter(listening::Listener::beyond_loopback)
        .collect();
    if open.is_empty() {
        found.ok(
            RUNNING_LOOPBACK,
            None,
            format!("every process of the running stack (agui-dev pid {pid}) listens on loopback only"),
        );
    }
    for listener in open {
        let port = listener.address.port();
        let service = stack.services.iter().find(|s| s.port == Some(port));
        let name = service.map_or_else(|| "a process of the stack".to_owned(), |s| format!("`{}`", s.name));
        let fix = match service {
            Some(s) => match s.kind.and_then(kinds::of) {
                Some(kind) => kind.loopback_fix(s),
                None => format!("make service `{}` listen on 127.0.0.1 (its `HOST`, or the address it binds)", s.name),
            },
            None => "make it listen on 127.0.0.1 (its `HOST`, or the address it binds)".to_owned(),
        };
        found.warn(
            RUNNING_LOOPBACK,
            service.map(|s| s.name.as_str()),
            format!(
                "{name} listens on {} (pid {}, `{}`): other machines can reach it",
                listener.address,
                listener.pid,
                proc::command_line(listener.pid)
            ),
            fix,
        );
    }
}
