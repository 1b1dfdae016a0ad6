//! `agui-dev up`: check the ports, start the printer, run the supervisor until a signal or a failure.

use std::sync::Arc;

use super::setup;
use crate::cli::Cli;
use crate::error::{Error, Result};
use crate::output::Level;
use crate::plan;
use crate::supervise::{Outcome, Supervisor, ports, process, reaper::Reaper, start_guardian};

pub async fn run(cli: &Cli, services: &[String], timestamps: bool, no_setup: bool) -> Result<()> {
    let stack = super::load_stack(cli)?;
    let plan = Arc::new(plan::build(&stack, services)?);
    let lock = super::lock_stack(&plan.dir)?;
    let reaper = Reaper::start().map_err(|err| Error::failed("cannot supervise child processes").cause(err))?;
    let selected: Vec<String> = plan.services.iter().map(|s| s.name.clone()).collect();
    let mode = if no_setup { setup::Mode::Forbid } else { setup::Mode::Missing };
    setup::ensure(cli, &stack, &selected, mode, &reaper).await?;
    check_ports(&plan)?;

    let names: Vec<String> = plan.services.iter().map(|s| s.name.clone()).collect();
    let log_dir = plan.dir.join(".agui-dev").join("logs");
    let printer = super::printer(cli, timestamps, &names, Some(log_dir), plan.secrets.clone())?;
    let out = printer.out();
    if let Some(pid) = lock.stale_pid {
        out.status(Level::Info, format!("an earlier run (agui-dev pid {pid}) was killed; cleared its lock")).await;
    }
    for note in &plan.notes {
        out.status(Level::Info, note.clone()).await;
    }
    let guardian = start_guardian(&reaper, &plan.run_id, &out).await;
    let (supervisor, _control) = Supervisor::new(plan.clone(), out.clone(), reaper, guardian.clone());
    let outcome = supervisor.run().await;
    // A process that left its group (setsid, a daemon) escaped the group signals; it still
    // carries the run's marker in its environment.
    let strays = process::strays(&plan.run_id);
    for (pid, command) in &strays {
        out.status(Level::Warn, format!("pid {pid} ({command}) left its service's process group; killed it")).await;
    }
    process::kill_strays(&strays);
    out.flush().await;
    drop(out);
    printer.finish();
    match outcome {
        Outcome::Stopped => Ok(()),
        Outcome::Failed(error) => Err(error.redacted(&plan.secrets)),
    }
}

/// Every declared port must be free before anything starts; a taken one names its holder.
pub(super) fn check_ports(plan: &plan::Plan) -> Result<()> {
    let mut taken = Vec::new();
    for service in &plan.services {
        let Some(port) = service.port else { continue };
        if ports::is_free(port) {
            continue;
        }
        let holder = match ports::holder(port) {
            Some(holder) => format!("held by pid {} ({})", holder.pid, holder.command),
            None => "held by another process".to_owned(),
        };
        taken.push(format!("port {port} of `{}` is {holder}", service.name));
    }
    if taken.is_empty() {
        return Ok(());
    }
    let mut error = Error::usage(if taken.len() == 1 {
        "a port is already in use; nothing was started".to_owned()
    } else {
        format!("{} ports are already in use; nothing was started", taken.len())
    });
    for line in taken {
        error = error.cause(line);
    }
    Err(error.redacted(&plan.secrets).hint("stop the process holding the port, or change `port` in the stack file"))
}
