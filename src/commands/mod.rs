//! One module per subcommand. Each turns the parsed command line into work and an `Error` with a
//! hint when something is wrong; only this layer knows about the process's exit code.

mod check;
mod control;
mod logs;
mod up;

use crate::cli::{Cli, Command};
use crate::error::{Error, Result};

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
                let options = crate::chat::Options {
                    service: service.clone(),
                    message: message.clone(),
                    thread: thread.clone(),
                    json: *json,
                    trace: trace.clone(),
                };
                crate::chat::run(cli, options).await
            }
            Command::Setup => crate::setup::run(cli).await,
            Command::Guardian { .. } => Ok(()),
            Command::Init(options) => crate::init::run(cli, options).await,
            Command::Doctor { json, online } => crate::doctor::run(cli, *json, *online).await,
            Command::Export(target) => crate::export::run(cli, target).await,
            Command::Mcp { allow_control } => crate::mcp_server::run(cli, *allow_control).await,
            Command::Smoke { timeout, junit, json, no_setup } => {
                let options =
                    crate::smoke::Options { timeout: *timeout, junit: junit.clone(), json: *json, no_setup: *no_setup };
                crate::smoke::run(cli, &options).await
            }
        }
    })
}
