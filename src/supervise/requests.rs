//! The supervisor's side of `Control`: each request is handled inside the event loop, so it
//! changes the same states as probes and exit watchers, one event at a time. Requests that start
//! services answer once the starts are queued; `Control` then waits on the published phases.

use std::sync::Arc;

use super::change::{self, changed_variables};
use super::control::{ControlError, Request, Suggestion};
use super::state::{self, State};
use super::{Outcome, Slot, Supervisor, edges};
use crate::control::{Done, ServiceStatus, Variables};
use crate::output::{Level, Msg};
use crate::plan::{Plan, ServicePlan};

impl Supervisor {
    /// Handles one request; `Some` when starting what it asked for failed the stack.
    pub(super) async fn request(&mut self, request: Request) -> Option<Outcome> {
        let (answer, reply) = match request {
            Request::Status(reply) => {
                let _ = reply.send(self.status());
                return None;
            }
            Request::Restart { names, with_dependents, fresh, reply } => {
                (self.restart(&names, with_dependents, fresh).await, reply)
            }
            Request::Stop { names, reply } => (self.stop_named(&names).await, reply),
            Request::Start { names, reply } => (self.start_named(&names), reply),
            Request::Apply { plan, reply } => (self.apply(&plan).await, reply),
        };
        let outcome = if answer.is_ok() { self.start_eligible().await } else { None };
        // The snapshot shows the queued starts before the caller starts waiting on it.
        self.publish();
        let _ = reply.send(answer);
        outcome
    }

    /// Each service's status; `exposed` is left to the caller (it reads `/proc`, which the
    /// event loop must not wait on).
    fn status(&self) -> Vec<ServiceStatus> {
        self.plan
            .services
            .iter()
            .zip(&self.slots)
            .filter(|(_, slot)| !slot.removed)
            .map(|(service, slot)| {
                let running = slot.state.pgid().is_some();
                ServiceStatus {
                    name: service.name.clone(),
                    state: slot.state.phase(),
                    pid: slot.state.pgid(),
                    port: service.port,
                    port_auto: service.port_auto,
                    url: service.url.clone(),
                    uptime_ms: slot.started_at.filter(|_| running).map(|t| t.elapsed().as_millis() as u64),
                    ready_ms: slot.ready_after.filter(|_| running).map(|d| d.as_millis() as u64),
                    restarts: slot.restarts,
                    last_exit: slot.last_exit.map(|s| s.to_string()),
                    error: match &slot.state {
                        State::Failed { error } => Some(error.clone()),
                        _ => None,
                    },
                    exposed: Vec::new(),
                }
            })
            .collect()
    }

    /// The indices of `names`, or an error naming the first unknown one.
    fn indices(&self, names: &[String]) -> Result<Vec<usize>, ControlError> {
        if names.is_empty() {
            return Err(ControlError::NoName);
        }
        let known: Vec<&str> = self
            .plan
            .services
            .iter()
            .zip(&self.slots)
            .filter(|(_, s)| !s.removed)
            .map(|(p, _)| p.name.as_str())
            .collect();
        names
            .iter()
            .map(|name| {
                known
                    .iter()
                    .position(|k| k == name)
                    .and_then(|_| self.plan.services.iter().position(|s| &s.name == name))
                    .ok_or_else(|| ControlError::NoService {
                        name: name.clone(),
                        also: match crate::config::nearest(name, &known) {
                            Some(near) => Suggestion::Near(near.to_owned()),
                            None => Suggestion::Known(known.iter().map(|k| (*k).to_owned()).collect()),
                        },
                    })
            })
            .collect()
    }

    async fn restart(
        &mut self,
        names: &[String],
        with_dependents: bool,
        fresh: Option<Arc<Plan>>,
    ) -> Result<Done, ControlError> {
        let targets = self.indices(names)?;
        let mut done = Done::default();
        let mut replaced: Vec<(usize, ServicePlan)> = Vec::new();
        if let Some(fresh) = &fresh {
            for &index in &targets {
                let old = &self.plan.services[index];
                let Some(new) = fresh.services.iter().find(|s| s.name == old.name) else {
                    return Err(ControlError::Removed { name: old.name.clone() });
                };
                if let Some(missing) = new.depends_on.iter().find(|d| !self.plan.services.iter().any(|s| &s.name == *d))
                {
                    return Err(ControlError::NewDependency { name: old.name.clone(), missing: missing.clone() });
                }
                let names = changed_variables(old, new);
                if !names.is_empty() {
                    done.variables.push(Variables { service: old.name.clone(), names });
                }
                replaced.push((index, new.clone()));
            }
        }
        let set = if with_dependents {
            state::dependents_closure(&self.depends_on, &targets)
                .into_iter()
                .filter(|i| targets.contains(i) || self.slots[*i].state.is_wanted())
                .collect()
        } else {
            targets.clone()
        };
        self.stop_services(&set, false).await;
        if let Some(fresh) = fresh {
            self.replace(&fresh, replaced, Vec::new()).await;
        }
        for &index in &set {
            let slot = &mut self.slots[index];
            slot.state = State::Pending;
            slot.on_request = true;
            slot.restarts += 1;
            done.restarted.push(self.plan.services[index].name.clone());
        }
        self.revive_dependencies(&targets, &mut done);
        let shown: Vec<String> = done.restarted.iter().map(|n| format!("`{n}`")).collect();
        self.out.status(Level::Info, format!("restarting {}", shown.join(", "))).await;
        Ok(done)
    }

    async fn stop_named(&mut self, names: &[String]) -> Result<Done, ControlError> {
        let targets = self.indices(names)?;
        let set: Vec<usize> = state::dependents_closure(&self.depends_on, &targets)
            .into_iter()
            .filter(|i| !matches!(self.slots[*i].state, State::Stopped))
            .collect();
        self.stop_services(&set, false).await;
        let mut done = Done::default();
        for index in set {
            self.slots[index].state = State::Stopped;
            self.slots[index].on_request = false;
            done.stopped.push(self.plan.services[index].name.clone());
        }
        if !done.stopped.is_empty() {
            let shown: Vec<String> = done.stopped.iter().map(|n| format!("`{n}`")).collect();
            self.out.status(Level::Info, format!("stopped {} on request", shown.join(", "))).await;
        }
        Ok(done)
    }

    fn start_named(&mut self, names: &[String]) -> Result<Done, ControlError> {
        let targets = self.indices(names)?;
        let mut done = Done::default();
        self.revive_dependencies(&targets, &mut done);
        Ok(done)
    }

    /// Queues a start of `targets` and what they depend on, where not running or about to.
    fn revive_dependencies(&mut self, targets: &[usize], done: &mut Done) {
        for index in state::dependencies_closure(&self.depends_on, targets) {
            let slot = &mut self.slots[index];
            if matches!(slot.state, State::Stopped | State::Exited | State::Failed { .. }) {
                slot.state = State::Pending;
                slot.on_request = true;
                done.started.push(self.plan.services[index].name.clone());
            }
        }
    }

    async fn apply(&mut self, fresh: &Arc<Plan>) -> Result<Done, ControlError> {
        let mut change = change::between(&self.plan, fresh);
        let gone = |name: &str| self.plan.services.iter().zip(&self.slots).any(|(p, s)| p.name == name && s.removed);
        change.removed.retain(|name| !gone(name));
        // A service removed earlier and now back in the file is taken back (its slot remains).
        let back: Vec<usize> = fresh
            .services
            .iter()
            .filter(|s| gone(&s.name))
            .filter_map(|s| self.plan.services.iter().position(|p| p.name == s.name))
            .collect();
        change.changed.retain(|c| !gone(&c.name));
        let added: Vec<ServicePlan> =
            change.added.iter().filter_map(|name| fresh.services.iter().find(|s| &s.name == name).cloned()).collect();
        let mut done = Done::default();
        let index_of = |name: &str| self.plan.services.iter().position(|s| s.name == name);
        let removed: Vec<usize> = change.removed.iter().filter_map(|n| index_of(n)).collect();
        let changed: Vec<usize> = change.changed.iter().filter_map(|c| index_of(&c.name)).collect();
        for c in &change.changed {
            if !c.variables.is_empty() {
                done.variables.push(Variables { service: c.name.clone(), names: c.variables.clone() });
            }
        }
        // Dependents by the old edges stop first; the new edges order the starts.
        let restart: Vec<usize> = state::dependents_closure(&self.depends_on, &changed)
            .into_iter()
            .filter(|i| !removed.contains(i) && self.slots[*i].state.is_wanted())
            .collect();
        let mut stopping = restart.clone();
        stopping.extend(&removed);
        self.stop_services(&stopping, false).await;
        let replaced = changed
            .iter()
            .chain(&back)
            .filter_map(|&i| {
                fresh.services.iter().find(|s| s.name == self.plan.services[i].name).map(|s| (i, s.clone()))
            })
            .collect();
        self.replace(fresh, replaced, added).await;
        done.started.extend(change.added.iter().cloned());
        for index in removed {
            self.slots[index].state = State::Stopped;
            self.slots[index].removed = true;
            done.stopped.push(self.plan.services[index].name.clone());
        }
        for index in restart {
            let slot = &mut self.slots[index];
            slot.state = State::Pending;
            slot.on_request = true;
            slot.restarts += 1;
            done.restarted.push(self.plan.services[index].name.clone());
        }
        for index in back {
            let slot = &mut self.slots[index];
            slot.removed = false;
            slot.state = State::Pending;
            slot.on_request = true;
            done.started.push(self.plan.services[index].name.clone());
        }
        Ok(done)
    }

    /// Puts new definitions in place of old ones (same index, so the printer's prefixes and log
    /// files stay), appends `added` ones (each with a new slot, log file and prefix, then started),
    /// takes the fresh plan's secrets into the redaction, and recomputes the edges.
    async fn replace(&mut self, fresh: &Plan, replaced: Vec<(usize, ServicePlan)>, added: Vec<ServicePlan>) {
        let mut services = self.plan.services.clone();
        for (index, service) in replaced {
            services[index] = service;
        }
        for service in added {
            self.out.send(Msg::Service { name: service.name.clone() }).await;
            let mut slot = Slot::new();
            slot.on_request = true;
            self.slots.push(slot);
            services.push(service);
        }
        let mut secrets = self.plan.secrets.clone();
        for secret in &fresh.secrets {
            if !secrets.iter().any(|s| s.value == secret.value) {
                secrets.push(secret.clone());
            }
        }
        crate::secret::sort(&mut secrets);
        // Before any new process starts, so its first line is already redacted.
        self.out.send(Msg::Secrets(secrets.clone())).await;
        self.secrets.send_replace(secrets.clone());
        self.plan = Arc::new(Plan {
            stack_name: self.plan.stack_name.clone(),
            stack_file: self.plan.stack_file.clone(),
            dir: self.plan.dir.clone(),
            services,
            secrets,
            notes: fresh.notes.clone(),
            model: fresh.model.clone(),
            model_offline: fresh.model_offline,
            run_id: self.plan.run_id.clone(),
            selected_all: self.plan.selected_all,
            tracing: self.plan.tracing.clone(),
        });
        self.depends_on = edges(&self.plan);
    }
}
