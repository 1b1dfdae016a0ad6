//! Doctor's `online` area (`--online` only): each kind's checks that send real requests through
//! a running service (the litellm kind's one-token completions).

use super::Doctor;
use crate::diagnosis::Diagnosis;
use crate::kinds;

pub async fn check(found: &mut Diagnosis, doctor: &Doctor<'_>) {
    for service in &doctor.stack.services {
        if let Some(kind) = service.kind.and_then(kinds::of) {
            kind.doctor_online(doctor, service, found).await;
        }
    }
}
