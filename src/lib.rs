//! agui-dev: one command to bring up a local AG-UI agent stack, wait until it is really ready,
//! multiplex its logs and stop every process of it together. `main` only parses the arguments
//! and calls `run`, so the tests and the binary share one path.
//!
//! # Layers
//!
//! Every import points down this table: a module may use the modules of lower layers, never one
//! of its own layer or above (`tests/layers.rs` reads this table and checks every `crate::` path
//! under `src/`). A newcomer reads the program from the bottom up.
//!
//! ```text
//! layer 0  secret system http embedded  leaves: secrets and redaction; /proc, listening sockets,
//!                                       process groups, the reaper, finding and running programs;
//!                                       the loopback client; the templates carried in the binary
//! layer 1  error output diagnosis       the user-facing error; the printer; doctor's findings
//! layer 2  config cli                   stack.toml read and validated; the command line
//! layer 3  kinds                        the registered kinds (litellm, mcp, agui): their keys,
//!                                       defaults, wiring, probes, doctor, smoke, their containers for
//!                                       export; a stack file read with them (`kinds::load`)
//! layer 4  plan session traces          what will run: order, commands, environments, secrets; the
//!                                       stack file and printer a command starts from; the trace
//!                                       receiver and its bounded store
//! layer 5  ready checks control setup   readiness probes; the smoke checks of a ready stack; a
//!                                       running stack seen by its clients (the control protocol,
//!                                       its client, the run lock, the commands that ask it, its
//!                                       logs); installs
//! layer 6  supervise                    the stack's processes: start, restart, stop
//! layer 7  launch doctor export init watch console
//!                                       subsystems: a run's start, diagnosis, export, new
//!                                       projects, reload on change, the dev console
//! layer 8  up smoke chat mcp_server     what drives a whole stack: `up` in the foreground or
//!                                       the background, the CI stage, the terminal chat, the
//!                                       stdio MCP server for coding agents
//! layer 9  commands                     thin handlers: the parsed command line in, an exit code out
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod chat;
pub mod checks;
pub mod cli;
pub mod commands;
pub mod config;
pub mod console;
pub mod control;
pub mod diagnosis;
pub mod doctor;
pub mod embedded;
pub mod error;
pub mod export;
pub mod http;
pub mod init;
pub mod kinds;
pub mod launch;
pub mod mcp_server;
pub mod output;
pub mod plan;
pub mod ready;
pub mod secret;
pub mod session;
pub mod setup;
pub mod smoke;
pub mod supervise;
pub mod system;
pub mod traces;
pub mod up;
pub mod watch;

use std::process::ExitCode;

/// Runs one command line and returns the process exit code.
pub fn run(cli: &cli::Cli) -> ExitCode {
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The printer has finished by now; this is the one write outside it, for the error
            // that ends the program.
            output::final_error(error.render(output::Colors::resolve(cli.color).stderr));
            ExitCode::from(error.exit as u8)
        }
    }
}
