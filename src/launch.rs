//! What `up` and `smoke` share: from the stack file to a supervisor about to run. Plan, the
//! one-run-per-stack lock, missing set-up, the port check (nothing starts if a port is taken),
//! the printer with the log files, the notes, the guardian, and the trace receiver when asked.

use std::path::PathBuf;
use std::sync::Arc;

use crate::cli::Cli;
use crate::config::Stack;
use crate::control::StackLock;
use crate::error::{Error, Result};
use crate::output::{Level, Out, Printer, Style};
use crate::plan::{self, Plan};
use crate::setup;
use crate::supervise::guardian::Guardian;
use crate::supervise::{Control, Supervisor, start_guardian};
use crate::system::reaper::Reaper;
use crate::traces::{self, Forward, Store};

pub struct Launch {
    pub stack: Stack,
    pub plan: Arc<Plan>,
    pub reaper: Reaper,
    pub out: Out,
    pub log_dir: PathBuf,
    /// The spans the services sent, when the run has a trace receiver.
    pub traces: Option<Arc<Store>>,
    printer: Printer,
    receiver: Option<traces::Receiver>,
    // Held until the command ends: the lock keeps a second run out, and the guardian must not
    // act (its pipe closes with it) before the command has looked for left-over processes.
    _lock: StackLock,
    _guardian: Option<Arc<Guardian>>,
}

/// Everything up to a supervisor for `services` (all when empty) and what they depend on:
/// set-up as `setup` says, output shown as `style` says, a trace receiver when `traced` and
/// `[traces]` agree.
pub async fn prepare(
    cli: &Cli,
    services: &[String],
    setup: setup::Mode,
    style: Style,
    traced: bool,
) -> Result<(Launch, Supervisor, Control)> {
    let stack = crate::session::load_stack(cli)?;
    // Bound before the plan: every service's environment names its port.
    let receiver =
        if traced && stack.traces.enabled { Some(traces::receiver::bind().map_err(no_receiver)?) } else { None };
    let tracing = receiver.as_ref().map(|bound| plan::Tracing { endpoint: bound.endpoint() });
    let plan = Arc::new(plan::build_traced(&stack, services, tracing)?);
    let lock = crate::control::lock_stack(&plan.dir)?;
    let reaper = Reaper::start().map_err(|err| Error::failed("cannot supervise child processes").cause(err))?;
    let names: Vec<String> = plan.services.iter().map(|s| s.name.clone()).collect();
    setup::ensure(cli, style, &stack, &names, setup, &reaper).await?;
    check_ports(&plan)?;

    let log_dir = plan.dir.join(".agui-dev").join("logs");
    let printer = crate::session::printer(cli, style, &names, Some(log_dir.clone()), plan.secrets.clone())?;
    let out = printer.out();
    if let Some(pid) = lock.stale_pid {
        out.status(Level::Info, format!("an earlier run (agui-dev pid {pid}) was killed; cleared its lock")).await;
    }
    for note in &plan.notes {
        out.status(Level::Info, note.clone()).await;
    }
    for service in plan.services.iter().filter(|s| s.port_auto) {
        if let Some(port) = service.port {
            out.status(Level::Info, format!("`{}` gets port {port} (`port = \"auto\"`)", service.name)).await;
        }
    }
    let guardian = start_guardian(&reaper, &plan.run_id, &out).await;
    let (supervisor, control) = Supervisor::new(plan.clone(), out.clone(), reaper.clone(), guardian.clone());
    let (store, receiver) = match receiver {
        Some(bound) => {
            let bounds = traces::Bounds { max_traces: stack.traces.max_traces, max_bytes: stack.traces.max_bytes };
            let store = Arc::new(Store::new(bounds));
            let forward = forward_to(&stack, &out).await;
            let receiver = traces::receiver::serve(bound, store.clone(), control.secrets.clone(), forward, out.clone())
                .map_err(no_receiver)?;
            (Some(store), Some(receiver))
        }
        None => (None, None),
    };
    let launch = Launch {
        stack,
        plan,
        reaper,
        out,
        log_dir,
        traces: store,
        printer,
        receiver,
        _lock: lock,
        _guardian: guardian,
    };
    Ok((launch, supervisor, control))
}

fn no_receiver(err: traces::TraceError) -> Error {
    Error::failed("cannot start the trace receiver")
        .cause(err)
        .hint("run `up --no-traces`, or `[traces] enabled = false`")
}

/// The user's own OTLP endpoint, from agui-dev's environment or the stack's env files: the
/// services send to agui-dev now, and agui-dev sends on to it.
async fn forward_to(stack: &Stack, out: &Out) -> Option<Forward> {
    let from_files = |name: &str| stack.services.iter().find_map(|s| s.file_env.get(name).cloned());
    let forward = Forward::from_env(|name| std::env::var(name).ok().or_else(|| from_files(name)))?;
    if !forward.url.starts_with("http://") {
        let text = format!(
            "traces are not forwarded to {}: agui-dev forwards over plain HTTP only (a local Jaeger, Phoenix or \
             collector); they are kept here",
            forward.shown()
        );
        out.status(Level::Warn, text).await;
        return None;
    }
    out.status(Level::Info, format!("traces are forwarded to {} as well", forward.shown())).await;
    Some(forward)
}

impl Launch {
    /// Writes everything still queued and stops the printer.
    pub async fn finish(self) {
        if let Some(receiver) = self.receiver {
            receiver.stop().await;
        }
        self.out.flush().await;
        drop(self.out);
        self.printer.finish();
    }
}

/// Every declared port must be free before anything starts; a taken one names its holder.
fn check_ports(plan: &Plan) -> Result<()> {
    let taken = plan.taken_ports();
    if taken.is_empty() {
        return Ok(());
    }
    let mut error = Error::usage(if taken.len() == 1 {
        "a port is already in use; nothing was started".to_owned()
    } else {
        format!("{} ports are already in use; nothing was started", taken.len())
    });
    for line in taken {
        error = error.cause(line);
    }
    Err(error.redacted(&plan.secrets).hint("stop the process holding the port, or change `port` in the stack file"))
}
