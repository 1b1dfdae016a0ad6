//! One module per subcommand. Each turns the parsed command line into work and an `Error` with a
//! hint when something is wrong; only this layer knows about the process's exit code.

mod chat;
mod check;
mod console;
mod control;
pub mod doctor;
mod export;
mod init;
mod launch;
mod logs;
mod mcp;
mod node_install;
mod setup;
mod smoke;
mod up;
mod watch;

use std::path::PathBuf;

use crate::cli::{Cli, Command};
use crate::config::{self, Stack};
use crate::error::{Error, Result};
use crate::output::{Colors, Printer, Settings};
use crate::secret::Secret;

pub fn run(cli: &Cli) -> Result<()> {
    if let Command::Guardian { run_id } = &cli.command {
        crate::supervise::guardian::run(run_id);
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|err| Error::failed("cannot start the async runtime").cause(err))?;
    runtime.block_on(async {
        match &cli.command {
            Command::Up { detach: true, detached_child: false, services, .. } => control::detach(cli, services).await,
            Command::Up { services, timestamps, no_setup, .. } => up::run(cli, services, *timestamps, *no_setup).await,
            Command::Status { json } => control::status(cli, *json).await,
            Command::Restart { services, no_deps, json } => control::restart(cli, services, !*no_deps, *json).await,
            Command::Stop { services, json } => control::stop(cli, services, *json).await,
            Command::Start { services, json } => control::start(cli, services, *json).await,
            Command::Down => control::down(cli).await,
            Command::Wait { services, timeout } => control::wait(cli, services, *timeout).await,
            Command::Logs { .. } => logs::run(cli).await,
            Command::Check => check::run(cli).await,
            Command::Chat { service, message, thread, json, trace } => {
                let options = chat::Options {
                    service: service.clone(),
                    message: message.clone(),
                    thread: thread.clone(),
                    json: *json,
                    trace: trace.clone(),
                };
                chat::run(cli, options).await
            }
            Command::Setup => setup::run(cli).await,
            Command::Guardian { .. } => Ok(()),
            Command::Init(options) => init::run(cli, options).await,
            Command::Doctor { json, online } => doctor::run(cli, *json, *online).await,
            Command::Export(target) => export::run(cli, target).await,
            Command::Mcp { allow_control } => mcp::run(cli, *allow_control).await,
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
        raw: matches!(cli.command, Command::Up { raw: true, .. } | Command::Logs { raw: true, .. }),
        lossless: !matches!(cli.command, Command::Up { .. } | Command::Smoke { .. }),
    };
    Printer::start(settings, services, log_dir.as_deref(), secrets).map_err(|err| {
        let dir = log_dir.map(|d| d.display().to_string()).unwrap_or_default();
        Error::failed("cannot set up output").cause(err).hint(format!("check that `{dir}` is writable"))
    })
}

/// The lock that makes one `up` or `smoke` per stack: `.agui-dev/run.lock` next to the stack file,
/// holding the pid of the agui-dev that runs it and emptied when that run ends. The kernel releases
/// the lock when the process dies, however it dies, so a pid left in an unlocked file is a run that
/// was killed: the lock is taken over and that pid returned for a note.
struct StackLock {
    lock: nix::fcntl::Flock<std::fs::File>,
    stale_pid: Option<i32>,
}

impl Drop for StackLock {
    fn drop(&mut self) {
        let _ = self.lock.set_len(0);
    }
}

fn lock_stack(dir: &std::path::Path) -> Result<StackLock> {
    use nix::fcntl::{Flock, FlockArg};
    use std::io::{Read, Seek, Write};
    let path = crate::supervise::socket::lock_path(dir);
    let cannot = |err: &dyn std::fmt::Display| {
        Error::failed(format!("cannot lock `{}`", path.display())).cause(err).hint("check that the folder is writable")
    };
    std::fs::create_dir_all(dir.join(".agui-dev")).map_err(|e| cannot(&e))?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| cannot(&e))?;
    let mut previous = String::new();
    let _ = file.read_to_string(&mut previous);
    let previous: Option<i32> = previous.trim().parse().ok();
    let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
            let who = previous.map_or_else(|| "another agui-dev".to_owned(), |pid| format!("agui-dev (pid {pid})"));
            return Err(Error::usage(format!("this stack is already running under {who}"))
                .hint("`agui-dev status` shows it, `agui-dev logs -f` follows its output, `agui-dev down` stops it"));
        }
        Err((_, err)) => return Err(cannot(&err)),
    };
    let _ = lock.set_len(0);
    let _ = lock.rewind();
    let _ = write!(lock, "{}", std::process::id());
    let _ = lock.flush();
    Ok(StackLock { lock, stale_pid: previous })
}
