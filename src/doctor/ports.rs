//! Doctor's `ports` area: each declared port is free, held by this stack's running service, or
//! held by another program (named by pid and command line).

use std::time::Duration;

use super::Doctor;
use crate::config::{Probe, Service};
use crate::diagnosis::{Area, CheckId, Diagnosis};
use crate::kinds::litellm;
use crate::ready;
use crate::system::{ports, proc};

pub const PORTS_FREE: CheckId = CheckId::new(Area::Ports, "ports.free");

/// Every id this file makes.
pub const IDS: &[CheckId] = &[PORTS_FREE];

/// A service of the stack that runs now: its port is held by it.
pub struct Held<'a> {
    pub service: &'a Service,
    pub port: u16,
    pub probe: Option<Probe>,
    /// One attempt of its ready probe, when it has one.
    pub answer: Option<Result<(), ready::ProbeError>>,
}

/// Checks every declared port; returns the services found running.
pub async fn check<'a>(found: &mut Diagnosis, doctor: &Doctor<'a>) -> Vec<Held<'a>> {
    let mut running = Vec::new();
    for service in &doctor.stack.services {
        let Some(port) = service.port else { continue };
        let subject = Some(service.name.as_str());
        if ports::is_free(port) {
            found.ok(PORTS_FREE, subject, format!("port {port} is free"));
            continue;
        }
        let holder = ports::holder(port);
        let ours = holder.as_ref().is_some_and(|h| looks_like_ours(h.pid, service));
        let probe = doctor.ready_of(service);
        let answer = match &probe {
            Some(probe) => Some(ready::attempt(probe, Duration::from_millis(1500)).await),
            None => None,
        };
        let held_by = holder.as_ref().map_or_else(
            || "a process agui-dev cannot see (another user's?)".to_owned(),
            |h| format!("pid {} (`{}`)", h.pid, h.command),
        );
        // An http probe's 2xx is the service's own answer; a tcp probe only proves a listener.
        let is_http = matches!(probe, Some(Probe::Http(_)));
        if ours || (is_http && answer.as_ref().is_some_and(Result::is_ok)) {
            found.ok(PORTS_FREE, subject, format!("port {port} is held by the running `{}`: {held_by}", service.name));
            running.push(Held { service, port, probe, answer });
            continue;
        }
        let stop = holder.as_ref().map_or_else(|| "stop it".to_owned(), |h| format!("stop it (`kill {}`)", h.pid));
        found.fail(
            PORTS_FREE,
            subject,
            format!("port {port} of `{}` is held by another program: {held_by}", service.name),
            format!("{stop}, or give `{}` another `port` in the stack file", service.name),
        );
    }
    running
}

/// Whether the process on a port belongs to this stack: it runs in the service's folder, or
/// agui-dev is among its ancestors.
fn looks_like_ours(pid: i32, service: &Service) -> bool {
    let cwd = proc::cwd(pid);
    if cwd.is_some() && cwd == service.cwd.canonicalize().ok() && service.kind != Some(litellm::KIND) {
        return true;
    }
    proc::has_ancestor(pid, "agui-dev")
}
