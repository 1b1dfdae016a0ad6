//! What the supervisor starts and stops processes through. The real `Processes` spawns each
//! service in its own process group through the reaper, tells the guardian, and stops groups
//! with a signal, a grace period and SIGKILL. Tests put a fake in its place, so the supervisor's
//! state changes run in milliseconds without processes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::{oneshot, watch};

use super::guardian::Guardian;
use super::process::{self, LogWatch, Recent, Running, SpawnError, SpawnSpec};
use crate::output::Out;
use crate::plan::ServicePlan;
use crate::system::group::{self, Stopped};
use crate::system::reaper::{ExitStatus, Reaper};

pub type Exit = oneshot::Receiver<ExitStatus>;
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

pub trait Spawner: Send + Sync {
    /// Starts service `index`; its exit status arrives on the receiver.
    fn spawn(
        &self,
        index: usize,
        service: &ServicePlan,
        out: &Out,
        recent: &Arc<Recent>,
        log_watch: Option<&Arc<LogWatch>>,
    ) -> Result<(Running, Exit), SpawnError>;

    /// Stops a started service's process group; `hurry` cuts the grace short.
    fn stop(&self, pgid: i32, signal: Signal, grace: Duration, hurry: watch::Receiver<bool>) -> BoxFuture<Stopped>;
}

/// Real processes.
pub struct Processes {
    pub reaper: Reaper,
    /// Stops the services if agui-dev dies without stopping them.
    pub guardian: Option<Arc<Guardian>>,
}

impl Spawner for Processes {
    fn spawn(
        &self,
        index: usize,
        service: &ServicePlan,
        out: &Out,
        recent: &Arc<Recent>,
        log_watch: Option<&Arc<LogWatch>>,
    ) -> Result<(Running, Exit), SpawnError> {
        let spec = SpawnSpec { index, command: &service.command, cwd: &service.cwd, env: &service.env };
        let (running, exit) = process::spawn(&self.reaper, &spec, out, recent, log_watch)?;
        if let Some(guardian) = &self.guardian {
            guardian.watch(running.pid, service.stop_signal, service.stop_grace);
        }
        Ok((running, exit))
    }

    fn stop(&self, pgid: i32, signal: Signal, grace: Duration, mut hurry: watch::Receiver<bool>) -> BoxFuture<Stopped> {
        Box::pin(async move { group::stop(pgid, signal, grace, &mut hurry).await })
    }
}
