//! The command line, declared with clap. Doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::output::ColorChoice;

/// Shown after the options, one example per line (clap would join lines of a doc comment).
const EXAMPLES: &str = "\
Examples:
  agui-dev up                      start every service in stack.toml; Ctrl-C stops them all
  agui-dev up agui                 start `agui` and what it depends on
  agui-dev check                   validate stack.toml and show what would run
  agui-dev doctor                  find what is wrong with the venv, keys, ports and configuration
  agui-dev smoke --junit out.xml   the CI stage: up, checks, down, nothing left behind";

/// Bring up a local AG-UI agent stack (LiteLLM proxy, MCP server, AG-UI server) with one command.
#[derive(Debug, Parser)]
#[command(name = "agui-dev", version, about, long_about = None, propagate_version = true, after_help = EXAMPLES)]
pub struct Cli {
    /// The stack file. Default: `$AGUI_DEV_FILE`, else the nearest `stack.toml` here or above.
    /// Given before the command (`agui-dev -f FILE up`), as with docker compose, so that
    /// `logs -f` can mean follow.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
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

/// One variant per subcommand, each with its options in a struct of its own: a handler in
/// `commands/` takes that struct and nothing else of the command line but the global options.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the stack (or the named services and what they depend on) and stream their output.
    ///
    /// Each service starts once everything it depends on is ready. Every line of output is
    /// prefixed with the service's name and also written to `.agui-dev/logs/NAME.log`.
    /// Ctrl-C, SIGTERM or SIGHUP stops all services, dependents first; a second Ctrl-C skips the
    /// grace period.
    Up(UpArgs),
    /// Show each service of the running stack: state, pid, URL, uptime, restarts, last exit.
    #[command(visible_alias = "ps")]
    Status(StatusArgs),
    /// Re-read the stack file and env files, then restart services (and their dependents) of the
    /// running stack, waiting until they are ready. Prints the names of changed variables.
    Restart(RestartArgs),
    /// Stop services of the running stack (what depends on them first); the rest keeps running.
    Stop(ServicesArgs),
    /// Start stopped services of the running stack (and what they need), waiting until ready.
    Start(ServicesArgs),
    /// Stop the running stack (detached or not) as Ctrl-C would; returns when every process is gone.
    Down,
    /// Wait until services of the running stack (default: all) are ready; for scripts.
    Wait(WaitArgs),
    /// Show a traced run as a waterfall: its spans on one time axis, with tokens, cost and tools.
    ///
    /// Each span stands under its parent; under a model call its tokens, cost, time to first
    /// token and finish reason, under a tool call its arguments and result; failed spans are
    /// marked `✗`. ID is an AG-UI run id, a trace id, or `last` (the newest traced run; the
    /// default). Asks the running stack, which keeps the latest traces in memory (`[traces]`).
    ///
    /// Examples:
    ///   agui-dev trace                     the last AG-UI run
    ///   agui-dev trace --list              every kept trace, newest first, and the totals
    ///   agui-dev trace RUN_ID --json       the run's spans as JSON, for scripts
    #[command(verbatim_doc_comment)]
    Trace(TraceArgs),
    /// Show the services' logs (from `.agui-dev/logs/`), whether or not the stack runs.
    ///
    /// Lines of all services are merged in the order they arrived. JSON log lines (pino, bunyan,
    /// structlog) read as `LEVEL message key=value` unless `--raw`.
    ///
    /// Examples:
    ///   agui-dev logs -f agui          follow the AG-UI server, across restarts
    ///   agui-dev logs -n 50 --since 10m --grep 'error|warn'
    #[command(verbatim_doc_comment)]
    Logs(LogsArgs),
    /// Talk to the stack's AG-UI server (`kind = "agui"`): assistant text as it streams, tool
    /// calls with their arguments and results, every event checked against the AG-UI 1.0 rules.
    ///
    /// With `-m`, one message: exit 0 on a clean run, 1 when the run fails or breaks a rule.
    /// Without, a conversation that keeps the thread's messages; type `/help` for its commands.
    ///
    /// Examples:
    ///   agui-dev chat                          a conversation on the terminal
    ///   agui-dev chat -m 'What time is it?'    one message, for scripts and CI
    ///   agui-dev chat -m hi --json | jq .type  every event as a JSON line
    #[command(verbatim_doc_comment)]
    Chat(ChatArgs),
    /// Validate the stack file and print the resolved plan, secrets masked.
    Check,
    /// CI stage: bring the stack up, run the smoke checks, stop it, check nothing is left.
    ///
    /// Built in: LiteLLM readiness and one completion, the MCP handshake and a tool call, an
    /// AG-UI run checked like the official client checks it; then the `[[smoke]]` checks of the
    /// stack file. Exit 0 only if every check passed.
    Smoke(SmokeArgs),
    /// Internal: stops a stack whose agui-dev died (started by `up` and `smoke`).
    #[command(name = "__guardian", hide = true)]
    Guardian(GuardianArgs),
    /// A new project from the embedded templates, or a stack file for the project already here.
    ///
    /// In an empty or missing folder: stack.toml, the LiteLLM config and pins, the MCP server,
    /// the AG-UI server, .env.example, .gitignore and a README; `agui-dev up` then runs it
    /// offline. In a folder that holds a project (start scripts, package.json files, a LiteLLM
    /// config, a venv): a stack.toml mapped from what is there, never overwriting a file.
    ///
    /// Examples:
    ///   agui-dev init my-agent                  a new project in `my-agent/`
    ///   agui-dev init --provider openai         a new project here, for OpenAI
    ///   agui-dev init --dry-run                 show what adopting this folder would write
    #[command(verbatim_doc_comment)]
    Init(InitArgs),
    /// Create the venv with the pinned, verified litellm[proxy] and install the services' node modules.
    Setup,
    /// Diagnose the venv, LiteLLM, provider keys, ports, tools and the configuration, with a fix for
    /// every problem. Exit 0 when nothing failed (warnings allowed), 1 when something failed.
    Doctor(DoctorArgs),
    /// An MCP server on stdio for coding agents (newline-delimited JSON-RPC 2.0).
    ///
    /// Tools: `status`, `logs`, `agui_turn`, `mcp_tools`, `mcp_call`, `doctor`, `trace`, `traces`; with
    /// `--allow-control` also `restart`, `stop` and `start`. stdout carries only protocol messages.
    Mcp(McpArgs),
    /// Write the stack for Docker Compose or Kubernetes: official images, probes from `ready`,
    /// secrets as references only (never a value), and a warning for anything not carried.
    ///
    /// Examples:
    ///   agui-dev export compose                 compose.yaml and .env.example beside stack.toml
    ///   agui-dev export compose --check         also build, start, check and remove it on this engine
    ///   agui-dev export --check                 the same, shorter
    #[command(verbatim_doc_comment)]
    Export(ExportArgs),
}

// The options of each subcommand. No doc comments on these structs: clap would take one as the
// subcommand's about text instead of the variant's.

#[derive(Debug, clap::Args)]
#[allow(clippy::struct_excessive_bools, reason = "independent flags of the command line")]
pub struct UpArgs {
    /// Services to start (default: all).
    pub services: Vec<String>,
    /// Prefix every line with the time (UTC).
    #[arg(long)]
    pub timestamps: bool,
    /// Do not run missing set-up (venv, npm ci); report it as an error instead.
    #[arg(long)]
    pub no_setup: bool,
    /// Show JSON log lines as they are, not as `LEVEL message key=value`.
    #[arg(long)]
    pub raw: bool,
    /// Do not reload on changes of the stack file, env files, config files and `watch`
    /// globs (also off when `CI` is set).
    #[arg(long)]
    pub no_watch: bool,
    /// Run in the background: return once every service is ready (exit 0) or one failed
    /// (exit 1, nothing left running). Output goes to the log files; `agui-dev down` stops it.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Do not serve the dev console (also off when `CI` is set, unless `[console] enabled = true`).
    #[arg(long, conflicts_with = "console")]
    pub no_console: bool,
    /// Serve the dev console even when `CI` is set or the stack file turns it off.
    #[arg(long)]
    pub console: bool,
    /// Do not receive traces: no `OTEL_*` variables for the services (also `[traces] enabled =
    /// false`).
    #[arg(long)]
    pub no_traces: bool,
    /// Internal: this is the background agui-dev of `up -d`.
    #[arg(long, hide = true)]
    pub detached_child: bool,
}

impl UpArgs {
    /// `--console` or `--no-console`, when one was given (they exclude each other).
    pub fn console_flag(&self) -> Option<bool> {
        match (self.console, self.no_console) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// One JSON object on stdout: `services`, `model`, `offline`, and when the run receives traces
    /// `totals` and `otlp_endpoint`.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    /// An AG-UI run id, a trace id, or `last`.
    #[arg(value_name = "ID", default_value = "last", conflicts_with = "list")]
    pub id: String,
    /// List the kept traces instead (newest first), with the totals since `up` started.
    #[arg(long)]
    pub list: bool,
    /// JSON on stdout: the trace (`summary`, `spans`), or with `--list` `traces` and `totals`.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RestartArgs {
    #[arg(required = true)]
    pub services: Vec<String>,
    /// Restart only the named services, not what depends on them.
    #[arg(long)]
    pub no_deps: bool,
    /// What was done, as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

// `stop` and `start`: the services to act on.
#[derive(Debug, clap::Args)]
pub struct ServicesArgs {
    #[arg(required = true)]
    pub services: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    pub services: Vec<String>,
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: std::time::Duration,
}

#[derive(Debug, clap::Args)]
#[allow(clippy::struct_excessive_bools, reason = "independent flags of the command line")]
pub struct LogsArgs {
    /// Services whose logs to show (default: all).
    pub services: Vec<String>,
    /// Keep printing new lines as they arrive, across restarts and new runs; Ctrl-C ends.
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines of each service.
    #[arg(short = 'n', long = "lines", value_name = "N")]
    pub lines: Option<usize>,
    /// Only lines that arrived in this last stretch of time (`90s`, `10m`, `2h`).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub since: Option<std::time::Duration>,
    /// Only lines matching this regular expression.
    #[arg(long, value_name = "REGEX")]
    pub grep: Option<String>,
    /// Only JSON log lines at this level or above (lines without a level are left out).
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub level: Option<crate::output::structured::LogLevel>,
    /// Prefix each line with the time it arrived (UTC).
    #[arg(short, long)]
    pub timestamps: bool,
    /// One JSON object per line on stdout: `service`, `time`, `line`, `level`.
    #[arg(long)]
    pub json: bool,
    /// Show JSON log lines as they are.
    #[arg(long)]
    pub raw: bool,
}

#[derive(Debug, clap::Args)]
pub struct ChatArgs {
    /// The AG-UI service to talk to, when the stack has several.
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// Send this one message and exit.
    #[arg(short, long, value_name = "MESSAGE")]
    pub message: Option<String>,
    /// The AG-UI thread id (default: a new random one).
    #[arg(long, value_name = "ID")]
    pub thread: Option<String>,
    /// Every event as one JSON line on stdout (the answer's text is not printed apart).
    #[arg(long)]
    pub json: bool,
    /// Write every event to FILE as JSON Lines, secrets redacted.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct SmokeArgs {
    /// Limit for the whole run.
    #[arg(long, default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: std::time::Duration,
    /// Write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// One JSON object per check on stdout.
    #[arg(long)]
    pub json: bool,
    /// Do not run missing set-up; report it as an error instead.
    #[arg(long)]
    pub no_setup: bool,
}

#[derive(Debug, clap::Args)]
pub struct GuardianArgs {
    pub run_id: String,
}

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// One JSON object per check on stdout: `id`, `status`, `message`, `fix`.
    #[arg(long)]
    pub json: bool,
    /// Also send a one-token request through the proxy for each configured provider.
    #[arg(long)]
    pub online: bool,
}

#[derive(Debug, clap::Args)]
pub struct McpArgs {
    /// Also offer `restart`, `stop` and `start`, which change the running stack.
    #[arg(long)]
    pub allow_control: bool,
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, arg_required_else_help = true)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub target: Option<ExportTarget>,
    /// Short for `export compose --check`.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Subcommand)]
pub enum ExportTarget {
    /// A compose file (default `compose.yaml` beside the stack file) and `.env.example` beside it.
    Compose(ComposeArgs),
    /// Kubernetes manifests (default folder `k8s/` beside the stack file): a Deployment and a
    /// Service per service, the LiteLLM config as a ConfigMap, a Secret with keys and no values.
    K8s(K8sArgs),
}

#[derive(Debug, clap::Args)]
pub struct ComposeArgs {
    /// Where to write the compose file; `-` prints it to stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Then prove it on a local engine (`docker` or `podman` with compose v2): build the images,
    /// start the project, wait for health, run the smoke checks through the published loopback
    /// ports, and remove the project again. Exit 0 only if all passed; 2 when no engine answers.
    #[arg(long)]
    pub check: bool,
    /// With `--check`: the limit for building, starting and checking (taking down comes after).
    #[arg(long, default_value = CHECK_TIMEOUT, value_parser = parse_duration, value_name = "DURATION", requires = "check")]
    pub timeout: std::time::Duration,
}

/// How long `export compose --check` may build, start and check, unless `--timeout` says.
const CHECK_TIMEOUT: &str = "15m";

impl ComposeArgs {
    /// `export --check`: the default compose file, checked.
    pub fn checked() -> Self {
        let timeout = parse_duration(CHECK_TIMEOUT).unwrap_or(std::time::Duration::from_mins(15));
        ComposeArgs { output: None, check: true, timeout }
    }
}

#[derive(Debug, clap::Args)]
pub struct K8sArgs {
    /// The folder to write the manifests (and generated Dockerfiles) into.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Not for Kubernetes (refused with a hint): `--check` runs a compose export.
    #[arg(long, hide = true)]
    pub check: bool,
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The project folder (created when missing). Default: the current folder.
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The stack's name. Default: the folder's name (or, when adopting, package.json's `name`).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The provider whose model the new project's LiteLLM config offers, and whose key
    /// `.env.example` lists first. The offline model is always there.
    #[arg(long, value_enum, default_value_t = Provider::Deepseek)]
    pub provider: Provider,
    /// Print what would be written (the stack file and the list of files), write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Provider {
    Deepseek,
    Openai,
    Anthropic,
    Gemini,
}

/// A `--timeout` that is not a duration.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a duration; write e.g. \"90s\" or \"5m\"")]
pub struct NotADuration(String);

fn parse_duration(text: &str) -> Result<std::time::Duration, NotADuration> {
    humantime::parse_duration(text).map_err(|_| NotADuration(text.to_owned()))
}
