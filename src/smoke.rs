//! `agui-dev smoke`: the CI stage. Bring the stack up (running missing set-up), wait until every
//! service is ready, run the built-in checks of each kind (with, for the servers a web page calls,
//! the foreign-page probes of `kinds::browser`) and the stack file's `[[smoke]]` checks,
//! stop everything, check that nothing is left, and exit 0 only if every check passed.
//!
//! Services' output goes to the log files (and to stdout with `-v`); a failing check quotes the
//! last lines of the service it concerns.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use serde_json::json;

use crate::checks::{Verdict, run_tests};
use crate::cli::{Cli, SmokeArgs};
use crate::error::{Error, Result};
use crate::launch;
use crate::output::short;
use crate::output::{Level, Out, Style};
use crate::plan::Plan;
use crate::secret::{Secret, redact};
use crate::setup;
use crate::supervise::{Outcome, process};
use crate::system::{group, ports};

pub async fn run(cli: &Cli, options: &SmokeArgs) -> Result<()> {
    let started = Instant::now();
    let deadline = started + options.timeout;
    // The services' lines go to the log files, and to stdout only with `-v`.
    let style = Style { show_services: cli.verbose, ..Style::LIVE };
    let setup = setup::Mode::before_run(options.no_setup);
    let (launch, supervisor, mut control) = launch::prepare(cli, &[], setup, style, false).await?;
    let launch::Launch { stack, plan, reaper, out, log_dir, .. } = &launch;
    let mut stack_task = tokio::spawn(supervisor.run());
    let mut ended_early = None;

    let mut verdicts = Vec::new();
    let ready_at = Instant::now();
    let ready = tokio::select! {
        changed = control.all_ready.wait_for(|ready| *ready) => changed.is_ok(),
        () = tokio::time::sleep_until(deadline.into()) => false,
        joined = &mut stack_task => {
            ended_early = Some(joined);
            false
        }
    };
    let message = if ready {
        "every service is ready".to_owned()
    } else if Instant::now() >= deadline {
        format!("not every service was ready within the smoke timeout of {}", short(options.timeout))
    } else {
        "the stack failed while starting".to_owned()
    };
    verdicts.push(Verdict {
        id: "stack.ready".into(),
        service: None,
        passed: ready,
        message,
        took: ready_at.elapsed(),
    });
    if ready {
        verdicts.extend(run_tests(stack, plan, reaper, out, deadline).await);
    }
    control.down().await;
    let joined = match ended_early {
        Some(joined) => joined,
        None => stack_task.await,
    };
    let outcome = match joined {
        Ok(outcome) => outcome,
        Err(err) => Outcome::Failed(Error::failed("the supervisor panicked").cause(err)),
    };
    let mut early_outcome = None;
    if let Outcome::Failed(error) = outcome {
        let error = error.redacted(&plan.secrets);
        out.status(Level::Error, error.to_string().trim_start_matches("error: ").to_owned()).await;
        early_outcome = Some(error);
    }
    verdicts.push(nothing_left(plan));

    out.flush().await;
    let failed = report(out, &verdicts, log_dir, options.json, started).await;
    if let Some(path) = &options.junit {
        let xml = junit(&plan.stack_name, &verdicts, log_dir, &plan.secrets);
        std::fs::write(path, xml)
            .map_err(|err| Error::failed(format!("cannot write `{}`", path.display())).cause(err))?;
    }
    launch.finish().await;
    match (failed, early_outcome) {
        (0, None) => Ok(()),
        (_, Some(error)) => Err(error),
        (n, None) => Err(Error::failed(format!("{n} smoke check{} failed", if n == 1 { "" } else { "s" }))
            .hint("read the failing checks above; the services' full output is in `.agui-dev/logs/`")),
    }
}

/// Nothing of the stack may be left: no process of this run, every port free. What is left is
/// killed.
fn nothing_left(plan: &Plan) -> Verdict {
    let began = Instant::now();
    let strays = process::strays(&plan.run_id);
    let busy: Vec<u16> = plan.services.iter().filter_map(|s| s.port).filter(|p| !ports::is_free(*p)).collect();
    let mut problems: Vec<String> =
        strays.iter().map(|(pid, cmd)| format!("pid {pid} ({cmd}) was still running")).collect();
    problems.extend(busy.iter().map(|p| format!("port {p} was still taken")));
    group::kill_pids(&strays);
    Verdict {
        id: "stack.stopped".into(),
        service: None,
        passed: problems.is_empty(),
        message: if problems.is_empty() { "no process left, every port free".into() } else { problems.join("; ") },
        took: began.elapsed(),
    }
}

/// The failures with their services' last lines, the verdicts as JSON lines when asked, and the
/// summary; returns how many failed.
async fn report(out: &Out, verdicts: &[Verdict], log_dir: &Path, json: bool, started: Instant) -> usize {
    let failed: Vec<&Verdict> = verdicts.iter().filter(|r| !r.passed).collect();
    for verdict in &failed {
        let mut text = format!("`{}` failed: {}", verdict.id, verdict.message);
        if let Some(service) = &verdict.service {
            text.push_str(&last_lines(log_dir, service));
        }
        out.status(Level::Error, text).await;
    }
    if json {
        for verdict in verdicts {
            let line = json!({
                "id": verdict.id,
                "service": verdict.service,
                "status": if verdict.passed { "pass" } else { "fail" },
                "seconds": verdict.took.as_secs_f64(),
                "message": verdict.message,
            });
            out.data(line.to_string()).await;
        }
    }
    let summary = format!(
        "smoke: {} passed, {} failed in {}",
        verdicts.len() - failed.len(),
        failed.len(),
        short(started.elapsed())
    );
    out.status(if failed.is_empty() { Level::Success } else { Level::Error }, summary).await;
    failed.len()
}

/// The last lines of a service's log, indented, for a failure verdict.
fn last_lines(log_dir: &Path, service: &str) -> String {
    let Ok(text) = std::fs::read_to_string(log_dir.join(format!("{service}.log"))) else { return String::new() };
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(15)..];
    if tail.is_empty() {
        return String::new();
    }
    format!("\n  last lines of `{service}`:\n    {}", tail.join("\n    "))
}

/// JUnit XML: one testcase per check; a failure carries the reason and the service's last lines.
fn junit(stack: &str, verdicts: &[Verdict], log_dir: &Path, secrets: &[Secret]) -> String {
    let escape = |text: &str| {
        redact(text, secrets)
            .chars()
            .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
            .collect::<String>()
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let failures = verdicts.iter().filter(|r| !r.passed).count();
    let total: f64 = verdicts.iter().map(|r| r.took.as_secs_f64()).sum();
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"agui-dev smoke\" tests=\"{}\" failures=\"{failures}\" time=\"{total:.3}\">\n  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" time=\"{total:.3}\">\n",
        verdicts.len(),
        escape(stack),
        verdicts.len()
    );
    for verdict in verdicts {
        let class = format!("smoke.{}", verdict.service.as_deref().unwrap_or("stack"));
        let time = verdict.took.as_secs_f64();
        if verdict.passed {
            let _ = writeln!(
                xml,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{time:.3}\"/>",
                escape(&verdict.id),
                escape(&class)
            );
        } else {
            let details = verdict.service.as_deref().map(|s| last_lines(log_dir, s)).unwrap_or_default();
            let _ = write!(
                xml,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{time:.3}\">\n      <failure message=\"{}\">{}{}</failure>\n    </testcase>\n",
                escape(&verdict.id),
                escape(&class),
                escape(&verdict.message),
                escape(&verdict.message),
                escape(&details)
            );
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}
