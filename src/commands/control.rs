//! The commands that act on a running stack through its control socket: `status`, `restart`,
//! `stop`, `start`, `wait`, `down`, and `up -d`, which starts a background agui-dev and waits
//! for its stack to be ready.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::cli::Cli;
use crate::control::Done;
use crate::control::{self, Answer, ClientError, Op};
use crate::error::{Error, Result};
use crate::output::{Level, Out, Printer};

fn not_running() -> Error {
    Error::failed("no stack is running here")
        .hint("start one with `agui-dev up` (or `agui-dev up -d` in the background)")
}

/// One request; an answer with `ok: false` becomes an error.
async fn ask(dir: &Path, op: Op) -> Result<Answer> {
    let answer = control::ask(dir, op).await.map_err(|err| match err {
        ClientError::NotRunning => not_running(),
        ClientError::Silent { after, pid } => {
            let (message, hint) = ClientError::silent(after, pid);
            Error::failed(message).hint(hint)
        }
        ClientError::Io(err) => Error::failed("cannot talk to the running stack").cause(err),
    })?;
    if answer.ok {
        Ok(answer)
    } else {
        Err(Error::failed(answer.error.unwrap_or_else(|| "the request failed".to_owned())))
    }
}

fn start_printer(cli: &Cli) -> Result<Printer> {
    crate::session::printer(cli, false, &[], None, Vec::new())
}

pub async fn status(cli: &Cli, json: bool) -> Result<()> {
    let dir = control::stack::stack_dir(cli)?;
    let answer = ask(&dir, Op::Status).await?;
    let printer = start_printer(cli)?;
    let out = printer.out();
    if json {
        out.data(serde_json::to_string(&answer).unwrap_or_default()).await;
    } else {
        out.send(crate::output::Msg::Report(control::status::table(&answer))).await;
    }
    out.flush().await;
    drop(out);
    printer.finish();
    Ok(())
}

async fn report_done(out: &Out, verb: &str, done: &Done, json: bool) {
    if json {
        out.data(serde_json::to_string(done).unwrap_or_default()).await;
        return;
    }
    for changed in &done.variables {
        let names: Vec<String> = changed.names.iter().map(|n| format!("`{n}`")).collect();
        out.status(Level::Info, format!("`{}`: changed {}", changed.service, names.join(", "))).await;
    }
    let list = |names: &[String]| names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
    if !done.stopped.is_empty() {
        out.status(Level::Success, format!("stopped {}", list(&done.stopped))).await;
    }
    if !done.restarted.is_empty() {
        out.status(Level::Success, format!("restarted {}; ready", list(&done.restarted))).await;
    }
    if !done.started.is_empty() {
        out.status(Level::Success, format!("started {}; ready", list(&done.started))).await;
    }
    if done == &Done::default() {
        out.status(Level::Info, format!("nothing to {verb}")).await;
    }
}

async fn act(cli: &Cli, op: Op, verb: &str, json: bool) -> Result<()> {
    let dir = control::stack::stack_dir(cli)?;
    let answer = ask(&dir, op).await?;
    let printer = start_printer(cli)?;
    let out = printer.out();
    report_done(&out, verb, &answer.done.unwrap_or_default(), json).await;
    out.flush().await;
    drop(out);
    printer.finish();
    Ok(())
}

pub async fn restart(cli: &Cli, services: &[String], deps: bool, json: bool) -> Result<()> {
    act(cli, Op::Restart { services: services.to_vec(), deps }, "restart", json).await
}

pub async fn stop(cli: &Cli, services: &[String], json: bool) -> Result<()> {
    act(cli, Op::Stop { services: services.to_vec() }, "stop", json).await
}

pub async fn start(cli: &Cli, services: &[String], json: bool) -> Result<()> {
    act(cli, Op::Start { services: services.to_vec() }, "start", json).await
}

pub async fn wait(cli: &Cli, services: &[String], timeout: Duration) -> Result<()> {
    let dir = control::stack::stack_dir(cli)?;
    let op = Op::Wait { services: services.to_vec(), timeout_ms: Some(timeout.as_millis() as u64) };
    ask(&dir, op).await.map(|_| ())
}

pub async fn down(cli: &Cli) -> Result<()> {
    let dir = control::stack::stack_dir(cli)?;
    let answer = ask(&dir, Op::Down).await?;
    let pid = answer.pid.unwrap_or_default() as i32;
    // The run ends when its agui-dev has stopped every service and exited (its lock goes with it).
    while pid > 0 && !crate::system::proc::exited(pid) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// `up -d`: starts `agui-dev up --detached-child` in its own session with its output in
/// `.agui-dev/detached.log`, waits for the stack, prints the URLs and returns.
pub async fn detach(cli: &Cli, services: &[String]) -> Result<()> {
    let cwd = std::env::current_dir().map_err(|err| Error::usage("cannot read the current folder").cause(err))?;
    let file = crate::config::discover(cli.file.as_deref(), &cwd)?;
    let dir = file.parent().map_or_else(|| cwd.clone(), Path::to_path_buf);
    if control::ask(&dir, Op::Status).await.is_ok() {
        return Err(Error::usage("this stack is already running")
            .hint("`agui-dev status` shows it, `agui-dev logs -f` follows its output, `agui-dev down` stops it"));
    }
    let folder = dir.join(".agui-dev");
    let cannot = |err: std::io::Error| Error::failed("cannot start the background agui-dev").cause(err);
    std::fs::create_dir_all(&folder).map_err(cannot)?;
    let log_path = folder.join("detached.log");
    let log = std::fs::File::create(&log_path).map_err(cannot)?;
    let exe = std::env::current_exe().map_err(cannot)?;
    let mut command = std::process::Command::new(exe);
    command.arg("-f").arg(&file).arg("--color").arg("never");
    if cli.verbose {
        command.arg("-v");
    }
    command.args(["up", "--detached-child"]).args(services);
    if let crate::cli::Command::Up { no_watch, no_console, console, .. } = cli.command {
        for (set, flag) in [(no_watch, "--no-watch"), (no_console, "--no-console"), (console, "--console")] {
            if set {
                command.arg(flag);
            }
        }
    }
    command.stdin(Stdio::null()).stdout(log.try_clone().map_err(cannot)?).stderr(log);
    let mut child = command.spawn().map_err(cannot)?;
    let child_pid = child.id();

    let printer = start_printer(cli)?;
    let out = printer.out();
    // `Some(success)` once the background agui-dev has ended (or is ending, after a failure).
    let mut ended = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status.success());
        }
        match control::ask(&dir, Op::Wait { services: Vec::new(), timeout_ms: None }).await {
            Ok(answer) if answer.ok => break None,
            // A service failed: the background agui-dev stops everything and exits.
            Ok(_) => break Some(false),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    // A run of tasks only ends by itself once they completed: its loop takes no request after
    // that, so a `status` that fails here means the background agui-dev is exiting.
    let status = if ended.is_none() { ask(&dir, Op::Status).await.ok() } else { None };
    if ended.is_none() && status.is_none() {
        let exit = tokio::task::spawn_blocking(move || child.wait().is_ok_and(|s| s.success()));
        // Bounded: it has nothing left to stop, only its output to flush.
        ended = Some(tokio::time::timeout(Duration::from_secs(30), exit).await.is_ok_and(|e| e.unwrap_or(false)));
    } else if ended == Some(false) {
        let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    }
    let outcome = match (ended, status) {
        (Some(true), _) => {
            let text = "every task completed; nothing is left running (`agui-dev logs` shows their output)";
            out.status(Level::Success, text.to_owned()).await;
            Ok(())
        }
        (None, Some(answer)) => {
            for s in answer.services.unwrap_or_default() {
                if let Some(url) = s.url {
                    out.status(Level::Info, format!("  `{}`  {url}", s.name)).await;
                }
            }
            if let Some(console) = answer.console {
                out.status(Level::Info, format!("console: {console}")).await;
            }
            let text = format!("the stack runs in the background (agui-dev pid {child_pid}); `agui-dev down` stops it");
            out.status(Level::Success, text).await;
            Ok(())
        }
        _ => {
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
