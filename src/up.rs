//! `agui-dev up`, in the foreground: the supervisor runs until a signal, a failure or `down`, with
//! the control socket open for `status`, `restart`, `stop`, `start`, `wait` and `down` from other
//! terminals, the dev console and reload on change beside it. In the background (`up -d`): a
//! second agui-dev runs the foreground `up` in its own session, and this one waits for its stack.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::{Cli, UpArgs};
use crate::control::{self, Answer, ClientError, Op};
use crate::error::{Error, Result};
use crate::output::{Level, Style};
use crate::plan;
use crate::setup;
use crate::supervise::socket::{self, Context, Fresh};
use crate::supervise::{Outcome, process};
use crate::system::group;
use crate::{console, launch, watch};

/// Runs the stack of the named services (all when none) until it stops.
pub async fn foreground(cli: &Cli, args: &UpArgs) -> Result<()> {
    if args.detached_child {
        // The background agui-dev of `up -d`: its own session, so the terminal that started it
        // can close without a SIGHUP reaching it.
        let _ = nix::unistd::setsid();
    }
    let style = Style { timestamps: args.timestamps, raw: args.raw, ..Style::LIVE };
    let setup = setup::Mode::before_run(args.no_setup);
    let (launch, mut supervisor, control) = launch::prepare(cli, &args.services, setup, style, !args.no_traces).await?;
    // A run of tasks only ends when they have completed, as `docker compose up` does; unless a
    // task watches files, since a change runs it again.
    let rerun = watch::enabled(args.no_watch) && launch.plan.services.iter().any(|s| s.task && !s.watch.is_empty());
    supervisor.end_when_done(!rerun);
    let watching = if watch::enabled(args.no_watch) {
        let what = watch::Watch { plan: launch.plan.clone(), control: control.clone(), out: launch.out.clone() };
        Some(watch::start(&launch.stack, what)?)
    } else {
        None
    };
    // Bound before any service starts, so a taken console port stops the run with nothing to undo.
    let bound = if console::wanted(args.console_flag(), launch.stack.console) {
        Some(console::bind(launch.stack.console.port)?)
    } else {
        None
    };
    let context = Arc::new(Context {
        control,
        fresh: fresh(launch.plan.clone()),
        plan: launch.plan.clone(),
        out: launch.out.clone(),
        console: bound.as_ref().map(console::Bound::url),
        exposure: socket::Exposure::default(),
        traces: launch.traces.clone(),
    });
    let console = match bound {
        Some(bound) => {
            if let Some(note) = &bound.note {
                launch.out.status(Level::Info, note.clone()).await;
            }
            launch.out.status(Level::Info, format!("console: {}", bound.url())).await;
            Some(console::serve(bound, context.clone())?)
        }
        None => None,
    };
    let server = match socket::serve(&launch.plan.dir, context) {
        Ok(server) => Some(server),
        Err(err) => {
            let text = format!(
                "cannot open the control socket ({err}); `status`, `restart` and `down` will not reach this run"
            );
            launch.out.status(Level::Warn, text).await;
            None
        }
    };
    let outcome = supervisor.run().await;
    if let Some(console) = console {
        console.close().await;
    }
    drop(server);
    if let Some(watching) = watching {
        watching.abort();
    }
    kill_strays(&launch).await;
    let secrets = launch.plan.secrets.clone();
    launch.finish().await;
    match outcome {
        Outcome::Stopped | Outcome::Finished => Ok(()),
        Outcome::Failed(error) => Err(error.redacted(&secrets)),
    }
}

/// The plan a restart or a reload starts from: the stack file read again.
fn fresh(original: Arc<plan::Plan>) -> Fresh {
    Arc::new(move || {
        // Ports chosen for `port = "auto"` stay: a restart must not move a service.
        let stack = crate::kinds::load_keeping(&original.stack_file, &watch::rules::auto_ports(&original))?;
        plan::build_again(&stack, &original).map(Arc::new)
    })
}

/// A process that left its group (setsid, a daemon) escaped the group signals; it still carries
/// the run's marker in its environment.
async fn kill_strays(launch: &launch::Launch) {
    let strays = process::strays(&launch.plan.run_id);
    for (pid, command) in &strays {
        let text = format!("pid {pid} ({command}) left its service's process group; killed it");
        launch.out.status(Level::Warn, text).await;
    }
    group::kill_pids(&strays);
}

/// `up -d`: starts `agui-dev up --detached-child` in its own session with its output in
/// `.agui-dev/detached.log`, waits for the stack, prints the URLs and returns.
pub async fn background(cli: &Cli, args: &UpArgs) -> Result<()> {
    let (file, dir) = crate::session::stack_file(cli)?;
    if control::ask(&dir, Op::Status).await.is_ok() {
        return Err(Error::usage("this stack is already running")
            .hint("`agui-dev status` shows it, `agui-dev logs -f` follows its output, `agui-dev down` stops it"));
    }
    let (child, log_path) = spawn_background(cli, args, &file, &dir)?;
    let child_pid = child.id();
    let printer = crate::session::printer(cli, Style::LIVE, &[], None, Vec::new())?;
    let out = printer.out();
    let outcome = match wait_for_background(child, &dir).await {
        Background::Ended if only_tasks(&file, &args.services) => {
            let text = "every task completed; nothing is left running (`agui-dev logs` shows their output)";
            out.status(Level::Success, text.to_owned()).await;
            Ok(())
        }
        Background::Ended => {
            let text = "the background agui-dev stopped before the stack was ready (`agui-dev down`?); nothing is left \
                        running (`agui-dev logs` shows the output)";
            out.status(Level::Warn, text.to_owned()).await;
            Ok(())
        }
        Background::Running(answer) => {
            for s in answer.as_ref().and_then(|a| a.services.clone()).unwrap_or_default() {
                if let Some(url) = s.url {
                    out.status(Level::Info, format!("  `{}`  {url}", s.name)).await;
                }
            }
            if let Some(console) = answer.and_then(|a| a.console.clone()) {
                out.status(Level::Info, format!("console: {console}")).await;
            }
            let text = format!("the stack runs in the background (agui-dev pid {child_pid}); `agui-dev down` stops it");
            out.status(Level::Success, text).await;
            Ok(())
        }
        Background::Failed => {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let last: Vec<&str> = text.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
            Err(Error::failed("the stack did not start; nothing is left running").cause(format!(
                "last lines of `{}`:\n{}",
                log_path.display(),
                last.iter().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
            )))
        }
    };
    out.flush().await;
    drop(out);
    printer.finish();
    outcome
}

/// The background agui-dev, with its output in `.agui-dev/detached.log` (returned).
fn spawn_background(cli: &Cli, args: &UpArgs, file: &Path, dir: &Path) -> Result<(std::process::Child, PathBuf)> {
    let folder = dir.join(".agui-dev");
    let cannot = |err: std::io::Error| Error::failed("cannot start the background agui-dev").cause(err);
    std::fs::create_dir_all(&folder).map_err(cannot)?;
    let log_path = folder.join("detached.log");
    let log = std::fs::File::create(&log_path).map_err(cannot)?;
    let exe = std::env::current_exe().map_err(cannot)?;
    let mut command = std::process::Command::new(exe);
    command.arg("-f").arg(file).arg("--color").arg("never");
    if cli.verbose {
        command.arg("-v");
    }
    command.args(["up", "--detached-child"]).args(&args.services);
    let flags = [
        (args.no_watch, "--no-watch"),
        (args.no_console, "--no-console"),
        (args.console, "--console"),
        (args.no_traces, "--no-traces"),
    ];
    for (set, flag) in flags {
        if set {
            command.arg(flag);
        }
    }
    command.stdin(Stdio::null()).stdout(log.try_clone().map_err(cannot)?).stderr(log);
    let child = command.spawn().map_err(cannot)?;
    Ok((child, log_path))
}

/// How the background agui-dev came out of its start.
enum Background {
    /// Ready and running, with its `status` when it answered one.
    Running(Option<Box<Answer>>),
    /// Ended with exit 0: nothing is left running.
    Ended,
    /// A service failed, or it ended with an error: it stopped everything.
    Failed,
}

/// Whether the services `up` starts (those named and what they depend on) are all tasks.
fn only_tasks(file: &Path, services: &[String]) -> bool {
    let plan = crate::kinds::load(file).and_then(|stack| plan::build(&stack, services));
    plan.is_ok_and(|plan| plan.services.iter().all(|s| s.task))
}

/// Waits until the background stack is ready, or the background agui-dev has ended.
async fn wait_for_background(mut child: std::process::Child, dir: &Path) -> Background {
    let ended = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status.success());
        }
        match control::ask(dir, Op::Wait { services: Vec::new(), timeout_ms: None }).await {
            Ok(answer) if answer.ok => break None,
            // A service failed: the background agui-dev stops everything and exits.
            Ok(_) => break Some(false),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    match ended {
        Some(true) => return Background::Ended,
        Some(false) => {
            let _ = tokio::task::spawn_blocking(move || child.wait()).await;
            return Background::Failed;
        }
        None => {}
    }
    match control::ask(dir, Op::Status).await {
        Ok(answer) if answer.ok => Background::Running(Some(Box::new(answer))),
        // Busy or slow to answer: it was ready a moment ago, and still runs.
        Err(ClientError::Silent { .. }) => Background::Running(None),
        // A run of tasks only ends by itself once they completed, and then answers no request (or
        // no longer listens): the background agui-dev is exiting. Bounded: it has nothing left to
        // stop, only its output to flush; one that does not exit still runs.
        _ => {
            let exit = tokio::task::spawn_blocking(move || child.wait().is_ok_and(|s| s.success()));
            match tokio::time::timeout(Duration::from_secs(30), exit).await {
                Ok(Ok(true)) => Background::Ended,
                Ok(_) => Background::Failed,
                Err(_) => Background::Running(None),
            }
        }
    }
}
