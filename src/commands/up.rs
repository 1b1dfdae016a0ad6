//! `agui-dev up`: run the supervisor until a signal, a failure or `down`, with the control
//! socket open for `status`, `restart`, `stop`, `start`, `wait` and `down` from other terminals.

use std::sync::Arc;

use crate::cli::{Cli, Command};
use crate::error::Result;
use crate::output::Level;
use crate::plan;
use crate::supervise::socket::{self, Context, Fresh};
use crate::supervise::{Outcome, process};
use crate::system::group;
use crate::{console, kinds, launch, watch};

pub async fn run(cli: &Cli, services: &[String], timestamps: bool, no_setup: bool) -> Result<()> {
    if matches!(cli.command, Command::Up { detached_child: true, .. }) {
        // The background agui-dev of `up -d`: its own session, so the terminal that started it
        // can close without a SIGHUP reaching it.
        let _ = nix::unistd::setsid();
    }
    let (launch, mut supervisor, control) = launch::prepare(cli, services, timestamps, no_setup).await?;
    let original = launch.plan.clone();
    let fresh: Fresh = Arc::new(move || {
        // Ports chosen for `port = "auto"` stay: a restart must not move a service.
        let stack = kinds::load_keeping(&original.stack_file, &watch::rules::auto_ports(&original))
            .map_err(|e| e.render(false))?;
        plan::build_again(&stack, &original).map(Arc::new).map_err(|e| e.render(false))
    });
    let no_watch = matches!(cli.command, Command::Up { no_watch: true, .. });
    // A run of tasks only ends when they have completed, as `docker compose up` does; unless a
    // task watches files, since a change runs it again.
    let rerun = watch::enabled(no_watch) && launch.plan.services.iter().any(|s| s.task && !s.watch.is_empty());
    supervisor.end_when_done(!rerun);
    let watching = if watch::enabled(no_watch) {
        let what = watch::Watch { plan: launch.plan.clone(), control: control.clone(), out: launch.out.clone() };
        Some(watch::start(&launch.stack, what)?)
    } else {
        None
    };
    let Command::Up { no_console, console: console_flag, .. } = cli.command else { unreachable!("up runs `up`") };
    // Bound before any service starts, so a taken console port stops the run with nothing to undo.
    let bound = if console::wanted(no_console, console_flag, launch.stack.console) {
        Some(console::bind(launch.stack.console.port)?)
    } else {
        None
    };
    let context = Arc::new(Context {
        control,
        fresh,
        plan: launch.plan.clone(),
        out: launch.out.clone(),
        console: bound.as_ref().map(console::Bound::url),
        exposure: socket::Exposure::default(),
    });
    let console = match bound {
        Some(bound) => {
            if let Some(note) = &bound.note {
                launch.out.status(Level::Info, note.clone()).await;
            }
            launch.out.status(Level::Info, format!("console: {}", bound.url())).await;
            Some(console::serve(bound, context.clone())?)
        }
        None => None,
    };
    let server = match socket::serve(&launch.plan.dir, context) {
        Ok(server) => Some(server),
        Err(err) => {
            let text = format!(
                "cannot open the control socket ({err}); `status`, `restart` and `down` will not reach this run"
            );
            launch.out.status(Level::Warn, text).await;
            None
        }
    };
    let outcome = supervisor.run().await;
    if let Some(console) = console {
        console.close().await;
    }
    drop(server);
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
        Outcome::Stopped | Outcome::Finished => Ok(()),
        Outcome::Failed(error) => Err(error.redacted(&secrets)),
    }
}
