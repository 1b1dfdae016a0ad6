//! What a command starts from: the stack file the command line points at, loaded, and the printer
//! set up for the command's kind of output.

use std::path::PathBuf;

use crate::cli::{Cli, Command};
use crate::config::{self, Stack};
use crate::error::{Error, Result};
use crate::output::{Colors, Printer, Settings};
use crate::secret::Secret;

/// Finds and loads the stack file the command line points at.
pub fn load_stack(cli: &Cli) -> Result<Stack> {
    let cwd = std::env::current_dir().map_err(|err| Error::usage("cannot read the current folder").cause(err))?;
    let path = config::discover(cli.file.as_deref(), &cwd)?;
    crate::kinds::load(&path)
}

/// Starts the printer for a command.
pub fn printer(
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
        raw: matches!(cli.command, Command::Up { raw: true, .. } | Command::Logs { raw: true, .. }),
        lossless: !matches!(cli.command, Command::Up { .. } | Command::Smoke { .. }),
    };
    Printer::start(settings, services, log_dir.as_deref(), secrets).map_err(|err| {
        let dir = log_dir.map(|d| d.display().to_string()).unwrap_or_default();
        Error::failed("cannot set up output").cause(err).hint(format!("check that `{dir}` is writable"))
    })
}
