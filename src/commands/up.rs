//! `agui-dev up`: run the supervisor until a signal or a failure.

use super::launch;
use crate::cli::Cli;
use crate::error::Result;
use crate::output::Level;
use crate::supervise::{Outcome, process};
use crate::system::group;

pub async fn run(cli: &Cli, services: &[String], timestamps: bool, no_setup: bool) -> Result<()> {
    let (launch, supervisor, _control) = launch::prepare(cli, services, timestamps, no_setup).await?;
    let outcome = supervisor.run().await;
    // A process that left its group (setsid, a daemon) escaped the group signals; it still
    // carries the run's marker in its environment.
    let strays = process::strays(&launch.plan.run_id);
    for (pid, command) in &strays {
        launch
            .out
            .status(Level::Warn, format!("pid {pid} ({command}) left its service's process group; killed it"))
            .await;
    }
    group::kill_pids(&strays);
    let secrets = launch.plan.secrets.clone();
    launch.finish().await;
    match outcome {
        Outcome::Stopped => Ok(()),
        Outcome::Failed(error) => Err(error.redacted(&secrets)),
    }
}
