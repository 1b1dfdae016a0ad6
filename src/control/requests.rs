//! The commands that act on a running stack through its control socket, for the terminal:
//! `status`, `restart`, `stop`, `start`, `wait`, `down` and `trace`. One request each; the answer is
//! printed, or becomes the error the command exits with.

use std::path::Path;
use std::time::Duration;

use super::client;
use super::protocol::{Answer, Done, Op};
use crate::cli::{Cli, RestartArgs, ServicesArgs, StatusArgs, TraceArgs, WaitArgs};
use crate::error::{Error, Result};
use crate::output::{Level, Out, Printer, Style};

/// One request; an answer with `ok: false` becomes an error, with the supervisor's hint.
async fn ask(dir: &Path, op: Op) -> Result<Answer> {
    let answer = client::ask(dir, op).await?;
    if answer.ok {
        return Ok(answer);
    }
    let error = Error::failed(answer.error.unwrap_or_else(|| "the request failed".to_owned()));
    Err(match answer.hint {
        Some(hint) => error.hint(hint),
        None => error,
    })
}

fn start_printer(cli: &Cli) -> Result<Printer> {
    crate::session::printer(cli, Style::RESULT, &[], None, Vec::new())
}

pub async fn status(cli: &Cli, args: &StatusArgs) -> Result<()> {
    let dir = super::stack::stack_dir(cli)?;
    let answer = ask(&dir, Op::Status).await?;
    let printer = start_printer(cli)?;
    let out = printer.out();
    if args.json {
        out.data(serde_json::to_string(&answer).unwrap_or_default()).await;
    } else {
        out.send(crate::output::Msg::Report(super::status::table(&answer))).await;
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
    let dir = super::stack::stack_dir(cli)?;
    let answer = ask(&dir, op).await?;
    let printer = start_printer(cli)?;
    let out = printer.out();
    report_done(&out, verb, &answer.done.unwrap_or_default(), json).await;
    out.flush().await;
    drop(out);
    printer.finish();
    Ok(())
}

pub async fn restart(cli: &Cli, args: &RestartArgs) -> Result<()> {
    let op = Op::Restart { services: args.services.clone(), deps: !args.no_deps };
    act(cli, op, "restart", args.json).await
}

pub async fn stop(cli: &Cli, args: &ServicesArgs) -> Result<()> {
    act(cli, Op::Stop { services: args.services.clone() }, "stop", args.json).await
}

pub async fn start(cli: &Cli, args: &ServicesArgs) -> Result<()> {
    act(cli, Op::Start { services: args.services.clone() }, "start", args.json).await
}

pub async fn wait(cli: &Cli, args: &WaitArgs) -> Result<()> {
    let dir = super::stack::stack_dir(cli)?;
    let op = Op::Wait { services: args.services.clone(), timeout_ms: Some(args.timeout.as_millis() as u64) };
    ask(&dir, op).await.map(|_| ())
}

pub async fn down(cli: &Cli) -> Result<()> {
    let dir = super::stack::stack_dir(cli)?;
    let answer = ask(&dir, Op::Down).await?;
    let pid = answer.pid.unwrap_or_default() as i32;
    // The run ends when its agui-dev has stopped every service and exited (its lock goes with it).
    while pid > 0 && !crate::system::proc::exited(pid) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// `trace`: one trace as a waterfall on stdout (the width of the terminal, coloured when stdout
/// takes colour), or the list of kept traces; `--json` prints the answer's data as it came.
pub async fn trace(cli: &Cli, args: &TraceArgs) -> Result<()> {
    let dir = super::stack::stack_dir(cli)?;
    let op = if args.list { Op::Traces } else { Op::Trace { id: args.id.clone() } };
    let answer = ask(&dir, op).await?;
    let text = match (args.list, args.json) {
        (true, true) => serde_json::json!({"traces": answer.traces, "totals": answer.totals}).to_string(),
        (true, false) => super::trace::list(answer.traces.as_deref().unwrap_or_default(), answer.totals.as_ref()),
        (false, json) => {
            let Some(detail) = answer.trace else {
                return Err(Error::failed("the running stack answered `trace` without the trace"));
            };
            if json {
                serde_json::to_string(&detail).unwrap_or_default()
            } else {
                let color = crate::output::Colors::resolve(cli.color).stdout;
                super::trace::waterfall(&detail, crate::output::stdout_width(), color)
            }
        }
    };
    let printer = start_printer(cli)?;
    let out = printer.out();
    out.data(text.trim_end()).await;
    out.flush().await;
    drop(out);
    printer.finish();
    Ok(())
}
