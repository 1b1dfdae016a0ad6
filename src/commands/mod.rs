//! One module per subcommand. Each turns the parsed command line into work and an `Error` with a
//! hint when something is wrong; only this layer knows about the process's exit code.

mod check;
mod doctor;
mod setup;
mod smoke;
mod up;

use std::path::PathBuf;

use crate::cli::{Cli, Command};
use crate::config::{self, Stack};
use crate::error::{Error, Result};
use crate::output::{Colors, Printer, Settings};
use crate::plan::Secret;

pub fn run(cli: &Cli) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|err| Error::failed("cannot start the async runtime").cause(err))?;
    runtime.block_on(async {
        match &cli.command {
            Command::Up { services, timestamps, no_setup } => up::run(cli, services, *timestamps, *no_setup).await,
            Command::Check => check::run(cli).await,
            Command::Setup => setup::run(cli).await,
            Command::Doctor { json, online } => doctor::run(cli, *json, *online).await,
            Command::Smoke { timeout, junit, json, no_setup } => {
                let options =
                    smoke::Options { timeout: *timeout, junit: junit.clone(), json: *json, no_setup: *no_setup };
                smoke::run(cli, &options).await
            }
        }
    })
}

/// Finds and loads the stack file the command line points at.
fn load_stack(cli: &Cli) -> Result<Stack> {
    let cwd = std::env::current_dir().map_err(|err| Error::usage("cannot read the current folder").cause(err))?;
    let path = config::discover(cli.file.as_deref(), &cwd)?;
    config::load(&path)
}

/// Starts the printer for a command.
fn printer(
    cli: &Cli,
    timestamps: bool,
    services: &[String],
    log_dir: Option<PathBuf>,
    secrets: Vec<Secret>,
) -> Result<Printer> {
    let settings = Settings {
        colors: Colors::resolve(cli.color),
        timestamps,
        quiet: cli.quiet,
        verbose: cli.verbose,
        show_services: !matches!(cli.command, Command::Smoke { .. }) || cli.verbose,
    };
    Printer::start(settings, services, log_dir.as_deref(), secrets).map_err(|err| {
        let dir = log_dir.map(|d| d.display().to_string()).unwrap_or_default();
        Error::failed("cannot set up output").cause(err).hint(format!("check that `{dir}` is writable"))
    })
}
