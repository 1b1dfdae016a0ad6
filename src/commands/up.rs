//! `agui-dev up`: run the supervisor until a signal or a failure.

use super::{launch, watch};
use crate::cli::{Cli, Command};
use crate::error::Result;
use crate::output::Level;
use crate::supervise::{Outcome, process};
use crate::system::group;

pub async fn run(cli: &Cli, services: &[String], timestamps: bool, no_setup: bool) -> Result<()> {
    let (launch, supervisor, control) = launch::prepare(cli, services, timestamps, no_setup).await?;
    let no_watch = matches!(cli.command, Command::Up { no_watch: true, .. });
    let watching = if watch::enabled(no_watch) {
        let what = watch::Watch { plan: launch.plan.clone(), control: control.clone(), out: launch.out.clone() };
        Some(watch::start(&launch.stack, what)?)
    } else {
        None
    };
    let outcome = supervisor.run().await;
    if let Some(watching) = watching {
        watching.abort();
    }
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
