//! Doctor's `running` area: for each service found running (see `ports`), its ready probe answers
//! now; then what its kind checks on a running server (e.g. the MCP handshake).

use super::Doctor;
use super::ports::Held;
use crate::diagnosis::{Area, CheckId, Diagnosis};
use crate::kinds;

pub const RUNNING_READY: CheckId = CheckId::new(Area::Running, "running.ready");

/// Every id this file makes (the kinds add their own `running.*`).
pub const IDS: &[CheckId] = &[RUNNING_READY];

pub async fn check(found: &mut Diagnosis, doctor: &Doctor<'_>, running: Vec<Held<'_>>) {
    for Held { service, port, probe, answer } in running {
        let subject = Some(service.name.as_str());
        match (&probe, answer) {
            (Some(probe), Ok(())) => {
                found.ok(RUNNING_READY, subject, format!("running: the ready probe ({probe}) answered"));
                if let Some(kind) = service.kind.map(kinds::of) {
                    kind.doctor_running(service, port, found).await;
                }
            }
            (Some(probe), Err(error)) => found.fail(
                RUNNING_READY,
                subject,
                format!("`{}` holds port {port} but its ready probe ({probe}) fails: {error}", service.name),
                format!(
                    "read `{}`; stop the stack and run `agui-dev up` again",
                    doctor.stack.dir.join(".agui-dev/logs").join(format!("{}.log", service.name)).display()
                ),
            ),
            (None, _) => {}
        }
    }
}
