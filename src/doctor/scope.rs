//! Doctor's `keys.scope`: which of the stack's secrets reach which service, by name, from the
//! plan (the rule is `kinds::inherits`). Informational: the rule itself keeps secrets where they
//! belong, and a service that needs one names it in its `env`.

use crate::diagnosis::{Area, CheckId, Diagnosis};
use crate::plan::Plan;

pub const KEYS_SCOPE: CheckId = CheckId::new(Area::Keys, "keys.scope");

/// Every id this file makes.
pub const IDS: &[CheckId] = &[KEYS_SCOPE];

/// One finding per service that gets a secret or is kept from one; `--json` carries both lists
/// (`secrets`, `withheld`).
pub fn check(found: &mut Diagnosis, plan: &Plan) {
    for service in &plan.services {
        let secrets = service.secret_names();
        if secrets.is_empty() && service.withheld.is_empty() {
            continue;
        }
        let gets = if secrets.is_empty() { "gets no secret".to_owned() } else { format!("gets {}", names(&secrets)) };
        let message =
            if service.withheld.is_empty() { gets } else { format!("{gets}; withheld: {}", names(&service.withheld)) };
        let lists = serde_json::json!({ "secrets": secrets, "withheld": service.withheld });
        found.ok_with(KEYS_SCOPE, Some(&service.name), message, lists);
    }
}

fn names(names: &[impl AsRef<str>]) -> String {
    names.iter().map(|n| format!("`{}`", n.as_ref())).collect::<Vec<_>>().join(", ")
}
