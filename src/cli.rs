//! The command line, declared with clap. Doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::output::ColorChoice;

/// Bring up a local AG-UI agent stack (LiteLLM proxy, MCP server, AG-UI server) with one command.
///
/// Examples:
///   agui-dev up                 start every service in stack.toml, Ctrl-C stops them all
///   agui-dev up agui            start `agui` and what it depends on
///   agui-dev check              validate stack.toml and show what would run
#[derive(Debug, Parser)]
#[command(name = "agui-dev", version, about, long_about, propagate_version = true)]
pub struct Cli {
    /// The stack file. Default: `$AGUI_DEV_FILE`, else the nearest `stack.toml` here or above.
    #[arg(short = 'f', long = "file", global = true, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// When to use colour.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Print only warnings, errors and the services' output.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print more about what agui-dev does (commands, pids, stops).
    #[arg(short, long, global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the stack (or the named services and what they depend on) and stream their output.
    ///
    /// Each service starts once everything it depends on is ready. Every line of output is
    /// prefixed with the service's name and also written to `.agui-dev/logs/NAME.log`.
    /// Ctrl-C, SIGTERM or SIGHUP stops all services, dependents first; a second Ctrl-C skips the
    /// grace period.
    Up {
        /// Services to start (default: all).
        services: Vec<String>,
        /// Prefix every line with the time (UTC).
        #[arg(long)]
        timestamps: bool,
        /// Do not run missing set-up (venv, npm ci); report it as an error instead.
        #[arg(long)]
        no_setup: bool,
    },
    /// Validate the stack file and print the resolved plan, secrets masked.
    Check,
    /// Create the venv with the pinned, verified litellm[proxy] and install the services' node modules.
    Setup,
}
