//! The litellm kind's doctor checks, one file per area: `venv`, `litellm` (the config and the
//! pitfalls of running the proxy), `keys`, and `online` (`--online` only).

pub mod keys;
pub mod litellm;
pub mod online;
pub mod venv;

use crate::config::Service;
use crate::diagnosis::{CheckId, Diagnosis};
use crate::kinds::Inspect;

/// Every id the litellm kind makes.
pub fn ids() -> Vec<CheckId> {
    [venv::IDS, litellm::IDS, keys::IDS, online::IDS].concat()
}

/// The checks of one litellm service, without it running.
pub async fn check(stack: &dyn Inspect, service: &Service, found: &mut Diagnosis) {
    let env = stack.env_of(service);
    let venv_dir = super::venv_of(service, &stack.stack().dir);
    if service.command.is_none() {
        venv::check(found, stack.reaper(), &service.name, &venv_dir, &env).await;
    }
    let proxy = litellm::check(found, service, &venv_dir, &env);
    keys::check(found, stack, service, proxy.as_ref(), &env);
}
