//! What a command starts from: the stack file the command line points at, loaded, and the printer
//! set up for the command's kind of output.

use std::path::{Path, PathBuf};

use crate::cli::Cli;
use crate::config::{self, Stack};
use crate::error::{Error, Result};
use crate::output::{Colors, Printer, Settings, Style};
use crate::secret::Secret;

/// The stack file the command line points at (`-f`, `$AGUI_DEV_FILE`, else the nearest
/// `stack.toml` here or above), and the folder that holds it.
pub fn stack_file(cli: &Cli) -> Result<(PathBuf, PathBuf)> {
    let cwd = std::env::current_dir().map_err(|err| Error::usage("cannot read the current folder").cause(err))?;
    let path = config::discover(cli.file.as_deref(), &cwd)?;
    let dir = path.parent().map_or(cwd, Path::to_path_buf);
    Ok((path, dir))
}

/// Finds and loads the stack file the command line points at.
pub fn load_stack(cli: &Cli) -> Result<Stack> {
    crate::kinds::load(&stack_file(cli)?.0)
}

/// Starts the printer for a command.
pub fn printer(
    cli: &Cli,
    style: Style,
    services: &[String],
    log_dir: Option<PathBuf>,
    secrets: Vec<Secret>,
) -> Result<Printer> {
    let settings = Settings { colors: Colors::resolve(cli.color), quiet: cli.quiet, verbose: cli.verbose, style };
    Printer::start(settings, services, log_dir.as_deref(), secrets).map_err(|err| {
        let dir = log_dir.map(|d| d.display().to_string()).unwrap_or_default();
        Error::failed("cannot set up output").cause(err).hint(format!("check that `{dir}` is writable"))
    })
}

/// Lines that are the command's result, to stdout through a printer that hides `secrets`.
pub async fn print_data(cli: &Cli, lines: &[String], secrets: Vec<Secret>) -> Result<()> {
    let printer = printer(cli, Style::RESULT, &[], None, secrets)?;
    let out = printer.out();
    for line in lines {
        out.data(line.clone()).await;
    }
    drop(out);
    printer.finish();
    Ok(())
}
