//! agui-dev: one command to bring up a local AG-UI agent stack, wait until it is really ready,
//! multiplex its logs and stop every process of it together. `main` only parses the arguments
//! and calls `run`, so the tests and the binary share one path.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod cli;
pub mod commands;
pub mod config;
pub mod embedded;
pub mod error;
pub mod kinds;
pub mod output;
pub mod plan;
pub mod ready;
pub mod supervise;

use std::process::ExitCode;

/// Runs one command line and returns the process exit code.
pub fn run(cli: &cli::Cli) -> ExitCode {
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The printer has finished by now; this is the one write outside it, for the error
            // that ends the program.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("{}", error.render(output::Colors::resolve(cli.color).stderr));
            }
            ExitCode::from(error.exit as u8)
        }
    }
}
