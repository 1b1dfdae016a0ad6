//! Thin handlers, one module per subcommand (the control socket's six share one): each takes its
//! subcommand's clap `Args`, turns them into the call of the subsystem that does the work, and
//! returns its `Error`, which `lib::run` turns into the process's exit code.

mod chat;
mod check;
mod control;
mod doctor;
mod export;
mod init;
mod logs;
mod mcp;
mod setup;
mod smoke;
mod trace;
mod up;

use crate::cli::{Cli, Command};
use crate::error::{Error, Result};

pub fn run(cli: &Cli) -> Result<()> {
    if let Command::Guardian(args) = &cli.command {
        // A blocking reader of its pipe, without the runtime the other commands run on.
        crate::supervise::guardian::run(&args.run_id);
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|err| Error::failed("cannot start the async runtime").cause(err))?;
    runtime.block_on(async {
        match &cli.command {
            Command::Up(args) => up::run(cli, args).await,
            Command::Status(args) => control::status(cli, args).await,
            Command::Restart(args) => control::restart(cli, args).await,
            Command::Stop(args) => control::stop(cli, args).await,
            Command::Start(args) => control::start(cli, args).await,
            Command::Down => control::down(cli).await,
            Command::Wait(args) => control::wait(cli, args).await,
            Command::Trace(args) => trace::run(cli, args).await,
            Command::Logs(args) => logs::run(cli, args).await,
            Command::Check => check::run(cli).await,
            Command::Chat(args) => chat::run(cli, args).await,
            Command::Setup => setup::run(cli).await,
            Command::Guardian(_) => Ok(()),
            Command::Init(args) => init::run(cli, args).await,
            Command::Doctor(args) => doctor::run(cli, args).await,
            Command::Export(args) => export::run(cli, args).await,
            Command::Mcp(args) => mcp::run(cli, args).await,
            Command::Smoke(args) => smoke::run(cli, args).await,
        }
    })
}
