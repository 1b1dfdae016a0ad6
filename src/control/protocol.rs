//! The control protocol's words, shared by the supervisor that answers and every client that asks
//! (`status`, `restart`, the console, `agui-dev mcp`): one JSON request per line, one JSON answer per
//! line, both with `"version"` (docs/control.md).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::traces::{Detail, Summary, Totals};

pub const VERSION: u32 = 1;
/// A request longer than this is refused (and the connection closed: it cannot be resynced).
pub const MAX_REQUEST: usize = 64 * 1024;
/// Clients served at once; one more gets an error answer.
pub const MAX_CLIENTS: usize = 16;
/// How long a client waits for the answer to a request that does no long work (`status`, `down`,
/// and the check that comes before the others) before it calls the supervisor stuck. A healthy
/// supervisor answers in milliseconds; it is slower only while it is itself stopping services
/// (each for up to its `stop_grace`), so seconds, not milliseconds.
pub const ANSWER_LIMIT: Duration = Duration::from_secs(10);

/// The socket of the stack whose file is in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(".agui-dev").join("control.sock")
}

/// The run lock of the stack whose file is in `dir`: it holds the pid of the agui-dev running it.
pub fn lock_path(dir: &Path) -> PathBuf {
    dir.join(".agui-dev").join("run.lock")
}

/// What a client asks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Status,
    /// Re-reads the stack file and env files for `services`, then restarts them (and their
    /// dependents unless `deps` is false).
    Restart {
        services: Vec<String>,
        #[serde(default = "yes")]
        deps: bool,
    },
    Stop {
        services: Vec<String>,
    },
    Start {
        services: Vec<String>,
    },
    /// Waits until `services` (all when empty) are ready.
    Wait {
        #[serde(default)]
        services: Vec<String>,
        timeout_ms: Option<u64>,
    },
    /// Stops the stack as Ctrl-C would; the answer carries agui-dev's pid to wait on.
    Down,
    /// The kept traces, newest first (`traces`), with the totals.
    Traces,
    /// One trace whole (`trace`): by trace id, by AG-UI run id, or `last` (the newest run).
    Trace {
        id: String,
    },
}

impl Op {
    /// Whether the answer waits on work in the stack (stopping services, starting them, their
    /// becoming ready), which lasts as long as the services' own timeouts allow. Such a request
    /// gets no overall limit; a `status` first shows, within `ANSWER_LIMIT`, that the supervisor
    /// answers at all.
    pub fn waits_on_the_stack(&self) -> bool {
        matches!(self, Op::Restart { .. } | Op::Stop { .. } | Op::Start { .. } | Op::Wait { .. })
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    pub version: u32,
    #[serde(flatten)]
    pub op: Op,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Answer {
    pub version: u32,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What to do about `error`, when the supervisor knows (`agui-dev trace` before any run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<ServiceStatus>>,
    /// The model the AG-UI servers ask the proxy for, and whether it is the offline one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offline: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done: Option<Done>,
    /// The pid of the agui-dev that runs the stack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The stack's name, in `status`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// The dev console's URL with its token, in `status`, when the run serves one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console: Option<String>,
    /// What the trace receiver saw since `up` started, in `status` and `traces`, when the run
    /// receives traces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totals: Option<Totals>,
    /// The trace receiver's `http://127.0.0.1:PORT` (what the services' `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// names), in `status`, when the run receives traces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traces: Option<Vec<Summary>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<Box<Detail>>,
}

impl Answer {
    pub fn ok() -> Answer {
        Answer { version: VERSION, ok: true, ..Answer::default() }
    }

    pub fn error(message: impl std::fmt::Display) -> Answer {
        Answer { version: VERSION, ok: false, error: Some(message.to_string()), ..Answer::default() }
    }

    /// An error with what to do about it.
    pub fn error_with_hint(message: impl std::fmt::Display, hint: impl Into<String>) -> Answer {
        Answer { hint: Some(hint.into()), ..Answer::error(message) }
    }
}

/// One service in `status`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub name: String,
    pub state: Phase,
    pub pid: Option<i32>,
    pub port: Option<u16>,
    /// The port was chosen at start (`port = "auto"`).
    #[serde(default)]
    pub port_auto: bool,
    /// Where to reach it: the kind's endpoint (AG-UI, MCP, the proxy's API), else its port.
    pub url: Option<String>,
    /// Since its current process started.
    pub uptime_ms: Option<u64>,
    /// How long its current start took to become ready.
    pub ready_ms: Option<u64>,
    pub restarts: u32,
    /// How its previous process ended (`exited with code 1`, `killed by SIGTERM`).
    pub last_exit: Option<String>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// Addresses its processes listen on beyond loopback (`0.0.0.0:3000`): other machines can
    /// reach them. Left out when there are none (and by supervisors older than this field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exposed: Vec<String>,
}

/// The variables of one service whose values changed, by name only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variables {
    pub service: String,
    pub names: Vec<String>,
}

/// What a request did, by service name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// Stopped and left stopped (including services removed from the stack file).
    pub stopped: Vec<String>,
    /// Stopped and started again.
    pub restarted: Vec<String>,
    /// Started (were not running, or were added to the stack file).
    pub started: Vec<String>,
    /// Services whose environment changed, with the names of the variables.
    pub variables: Vec<Variables>,
}

/// A service's state as `status` shows it, without the data the state holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Pending,
    Starting,
    Ready,
    BackingOff,
    Stopped,
    Exited,
    Failed,
    Completed,
}

impl Phase {
    /// How people read it: `backing off`.
    pub fn label(self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::BackingOff => "backing off",
            Phase::Stopped => "stopped",
            Phase::Exited => "exited",
            Phase::Failed => "failed",
            Phase::Completed => "completed",
        }
    }

    /// Whether a dependent may start (a running service is ready, a task has completed).
    pub fn satisfies(self) -> bool {
        matches!(self, Phase::Ready | Phase::Completed)
    }
}
