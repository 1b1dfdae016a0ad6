//! `agui-dev smoke`: the CI stage. Bring the stack up (running missing set-up), wait until every
//! service is ready, run the built-in checks of each kind and the stack file's `[[smoke]]` checks,
//! stop everything, check that nothing is left, and exit 0 only if every check passed.
//!
//! Services' output goes to the log files (and to stdout with `-v`); a failing check quotes the
//! last lines of the service it concerns.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use super::launch;
use crate::cli::Cli;
use crate::config::{KindName, SmokeAction, SmokeCheck, Stack};
use crate::error::{Error, Result};
use crate::kinds::{agui, mcp};
use crate::output::{Level, Msg};
use crate::plan::{Plan, RUN_VAR, ServicePlan};
use crate::secret::{Secret, redact};
use crate::supervise::{Outcome, process, short};
use crate::system::reaper::Reaper;
use crate::system::run::capture;
use crate::system::{group, ports};

pub struct Options {
    pub timeout: Duration,
    pub junit: Option<PathBuf>,
    pub json: bool,
    pub no_setup: bool,
}

/// One check's result.
struct Report {
    id: String,
    service: Option<String>,
    passed: bool,
    message: String,
    took: Duration,
}

pub async fn run(cli: &Cli, options: &Options) -> Result<()> {
    let started = Instant::now();
    let deadline = started + options.timeout;
    let (launch, supervisor, mut control) = launch::prepare(cli, &[], false, options.no_setup).await?;
    let launch::Launch { stack, plan, reaper, out, log_dir, .. } = &launch;
    let mut stack_task = tokio::spawn(supervisor.run());
    let mut ended_early = None;

    let mut reports = Vec::new();
    let ready_at = Instant::now();
    let ready = tokio::select! {
        changed = control.all_ready.wait_for(|ready| *ready) => changed.is_ok(),
        () = tokio::time::sleep_until(deadline.into()) => false,
        joined = &mut stack_task => {
            ended_early = Some(joined);
            false
        }
    };
    let mut early_outcome = None;
    if ready {
        reports.push(Report {
            id: "stack.ready".into(),
            service: None,
            passed: true,
            message: "every service is ready".into(),
            took: ready_at.elapsed(),
        });
        let checks = checks(stack, plan);
        for (index, check) in checks.iter().enumerate() {
            out.send(Msg::Waiting { key: 10_000 + index, what: format!("check `{}`", check.id()) }).await;
            let began = Instant::now();
            let remaining = deadline.saturating_duration_since(began);
            let result = match tokio::time::timeout(remaining.min(check.timeout()), check.run(plan, reaper)).await {
                Ok(result) => result,
                Err(_) => Err(format!("no result within {}", short(remaining.min(check.timeout())))),
            };
            let report = Report {
                id: check.id(),
                service: check.service().map(str::to_owned),
                passed: result.is_ok(),
                message: result.unwrap_or_else(|e| e),
                took: began.elapsed(),
            };
            let (level, mark) = if report.passed { (Level::Success, "passed") } else { (Level::Error, "failed") };
            let text = format!("`{}` {mark} in {}: {}", report.id, short(report.took), report.message);
            out.send(Msg::Done { key: 10_000 + index, level, text }).await;
            reports.push(report);
        }
        control.stop().await;
    } else {
        let why = if Instant::now() >= deadline {
            format!("not every service was ready within the smoke timeout of {}", short(options.timeout))
        } else {
            "the stack failed while starting".to_owned()
        };
        reports.push(Report {
            id: "stack.ready".into(),
            service: None,
            passed: false,
            message: why,
            took: ready_at.elapsed(),
        });
        control.stop().await;
    }
    let joined = match ended_early {
        Some(joined) => joined,
        None => stack_task.await,
    };
    let outcome = match joined {
        Ok(outcome) => outcome,
        Err(err) => Outcome::Failed(Error::failed("the supervisor panicked").cause(err)),
    };
    if let Outcome::Failed(error) = outcome {
        let error = error.redacted(&plan.secrets);
        out.status(Level::Error, error.to_string().trim_start_matches("error: ").to_owned()).await;
        early_outcome = Some(error);
    }

    // Nothing of the stack may be left: no process of this run, every port free.
    let began = Instant::now();
    let strays = process::strays(&plan.run_id);
    let busy: Vec<u16> = plan.services.iter().filter_map(|s| s.port).filter(|p| !ports::is_free(*p)).collect();
    let mut problems: Vec<String> =
        strays.iter().map(|(pid, cmd)| format!("pid {pid} ({cmd}) was still running")).collect();
    problems.extend(busy.iter().map(|p| format!("port {p} was still taken")));
    group::kill_pids(&strays);
    reports.push(Report {
        id: "stack.stopped".into(),
        service: None,
        passed: problems.is_empty(),
        message: if problems.is_empty() { "no process left, every port free".into() } else { problems.join("; ") },
        took: began.elapsed(),
    });

    out.flush().await;
    let failed: Vec<&Report> = reports.iter().filter(|r| !r.passed).collect();
    for report in &failed {
        let mut text = format!("`{}` failed: {}", report.id, report.message);
        if let Some(service) = &report.service {
            text.push_str(&last_lines(log_dir, service));
        }
        out.status(Level::Error, text).await;
    }
    if options.json {
        for report in &reports {
            let line = json!({
                "id": report.id,
                "service": report.service,
                "status": if report.passed { "pass" } else { "fail" },
                "seconds": report.took.as_secs_f64(),
                "message": report.message,
            });
            out.data(line.to_string()).await;
        }
    }
    let summary = format!(
        "smoke: {} passed, {} failed in {}",
        reports.len() - failed.len(),
        failed.len(),
        short(started.elapsed())
    );
    out.status(if failed.is_empty() { Level::Success } else { Level::Error }, summary).await;
    if let Some(path) = &options.junit {
        let xml = junit(&plan.stack_name, &reports, log_dir, &plan.secrets);
        std::fs::write(path, xml)
            .map_err(|err| Error::failed(format!("cannot write `{}`", path.display())).cause(err))?;
    }
    launch.finish().await;
    match (failed.len(), early_outcome) {
        (0, None) => Ok(()),
        (_, Some(error)) => Err(error),
        (n, None) => Err(Error::failed(format!("{n} smoke check{} failed", if n == 1 { "" } else { "s" }))
            .hint("read the failing checks above; the services' full output is in `.agui-dev/logs/`")),
    }
}

/// A check to run once the stack is ready.
enum Check<'a> {
    Readiness(&'a ServicePlan),
    Completion(&'a ServicePlan),
    McpTools(&'a ServicePlan),
    AguiRun(&'a ServicePlan),
    Custom(&'a SmokeCheck),
}

fn checks<'a>(stack: &'a Stack, plan: &'a Plan) -> Vec<Check<'a>> {
    let mut checks = Vec::new();
    for service in &plan.services {
        match service.kind {
            Some(KindName::Litellm) => {
                checks.push(Check::Readiness(service));
                checks.push(Check::Completion(service));
            }
            Some(KindName::Mcp) => checks.push(Check::McpTools(service)),
            Some(KindName::Agui) => checks.push(Check::AguiRun(service)),
            None => {}
        }
    }
    checks.extend(stack.smoke.iter().map(Check::Custom));
    checks
}

impl Check<'_> {
    fn id(&self) -> String {
        match self {
            Check::Readiness(s) => format!("{}.readiness", s.name),
            Check::Completion(s) => format!("{}.completion", s.name),
            Check::McpTools(s) => format!("{}.tools", s.name),
            Check::AguiRun(s) => format!("{}.run", s.name),
            Check::Custom(c) => format!("custom.{}", c.name),
        }
    }

    fn service(&self) -> Option<&str> {
        match self {
            Check::Readiness(s) | Check::Completion(s) | Check::McpTools(s) | Check::AguiRun(s) => Some(&s.name),
            Check::Custom(_) => None,
        }
    }

    fn timeout(&self) -> Duration {
        match self {
            Check::Custom(check) => check.timeout,
            _ => Duration::from_mins(1),
        }
    }

    async fn run(&self, plan: &Plan, reaper: &Reaper) -> Result<String, String> {
        let client = crate::http::local_client(self.timeout())?;
        let local = |service: &ServicePlan, path: &str| format!("http://127.0.0.1:{}{path}", service.port.unwrap_or(0));
        match self {
            Check::Readiness(service) => {
                let url = local(service, "/health/readiness");
                let response = client.get(&url).send().await.map_err(|e| format!("GET {url}: {e}"))?;
                let status = response.status();
                status
                    .is_success()
                    .then(|| format!("GET {url} answered {status}"))
                    .ok_or(format!("GET {url} answered {status}"))
            }
            Check::Completion(service) => {
                let model = plan
                    .model
                    .clone()
                    .or_else(|| service.env.get("LITELLM_MODEL").cloned())
                    .ok_or("no model is known to ask for")?;
                let key = service.env.get("LITELLM_MASTER_KEY").cloned().unwrap_or_default();
                let url = local(service, "/v1/chat/completions");
                let body =
                    json!({"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "Say hello."}]});
                let response = client
                    .post(&url)
                    .bearer_auth(key)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| format!("POST {url}: {e}"))?;
                let status = response.status();
                let answer: serde_json::Value =
                    response.json().await.map_err(|e| format!("POST {url} answered {status} without JSON: {e}"))?;
                if !status.is_success() {
                    return Err(format!(
                        "POST {url} with model `{model}` answered {status}: {}",
                        answer["error"]["message"]
                    ));
                }
                let text = answer["choices"][0]["message"]["content"].as_str().unwrap_or_default();
                if text.trim().is_empty() {
                    return Err(format!("model `{model}` answered no text"));
                }
                Ok(format!("model `{model}` answered: {}", clip(text)))
            }
            Check::McpTools(service) => {
                let mut session = mcp::Session::open(&local(service, "/mcp")).await?;
                let tools = session.tools().await?;
                let (name, arguments) =
                    mcp::pick_call(&tools).ok_or("the server lists no tool that can be called without arguments")?;
                let answer = session.call(&name, arguments).await?;
                let names: Vec<&str> = tools.iter().map(|(n, _)| n.as_str()).collect();
                Ok(format!("{} tools ({}); `{name}` answered {}", tools.len(), names.join(", "), clip(&answer)))
            }
            Check::AguiRun(service) => {
                let url = local(service, "/agent");
                let response = client
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .header("Accept", "text/event-stream")
                    .body(agui::run_input("Say hello in one short sentence."))
                    .send()
                    .await
                    .map_err(|e| format!("POST {url}: {e}"))?;
                let status = response.status();
                let body = response.text().await.map_err(|e| format!("POST {url}: {e}"))?;
                if !status.is_success() {
                    return Err(format!("POST {url} answered {status}: {}", clip(&body)));
                }
                let events = agui::parse_sse(&body)?;
                let text = agui::verify(&events)?;
                Ok(format!("{} events; the answer: {}", events.len(), clip(&text)))
            }
            Check::Custom(check) => custom(check, &client, plan, reaper).await,
        }
    }
}

async fn custom(check: &SmokeCheck, client: &reqwest::Client, plan: &Plan, reaper: &Reaper) -> Result<String, String> {
    match &check.action {
        SmokeAction::Http { method, url, body, expect_status, expect_body } => {
            let method = reqwest::Method::from_bytes(method.as_bytes())
                .map_err(|_| format!("`{method}` is not an HTTP method"))?;
            let mut request = client.request(method.clone(), url);
            if let Some(body) = body {
                let is_json = serde_json::from_str::<serde_json::Value>(body).is_ok();
                if is_json {
                    request = request.header("Content-Type", "application/json");
                }
                request = request.body(body.clone());
            }
            let response = request.send().await.map_err(|e| format!("{method} {url}: {e}"))?;
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            let status_ok = expect_status.map_or(status.is_success(), |want| status.as_u16() == want);
            if !status_ok {
                let want = expect_status.map_or_else(|| "2xx".to_owned(), |s| s.to_string());
                return Err(format!("{method} {url} answered {status}, expected {want}"));
            }
            if let Some(needle) = expect_body.as_ref().filter(|needle| !text.contains(needle.as_str())) {
                return Err(format!("{method} {url}: the body does not contain `{needle}`: {}", clip(&text)));
            }
            Ok(format!("{method} {url} answered {status}"))
        }
        SmokeAction::Exec(words) => {
            let mut command = std::process::Command::new(&words[0]);
            // Marked like the services, so a command cut off by its timeout is swept with them.
            command.args(&words[1..]).current_dir(&plan.dir).env(RUN_VAR, &plan.run_id);
            let output = capture(reaper, &mut command, None).await.map_err(|e| e.to_string())?;
            if output.status.success() {
                Ok("exited with code 0".to_owned())
            } else {
                Err(format!("`{}` {}: {}", shell_words::join(words), output.status, clip(&output.combined())))
            }
        }
    }
}

fn clip(text: &str) -> String {
    let text = text.trim().replace('\n', " ");
    if text.chars().count() > 120 { format!("{}…", text.chars().take(120).collect::<String>()) } else { text }
}

/// The last lines of a service's log, indented, for a failure report.
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
fn junit(stack: &str, reports: &[Report], log_dir: &Path, secrets: &[Secret]) -> String {
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
    let failures = reports.iter().filter(|r| !r.passed).count();
    let total: f64 = reports.iter().map(|r| r.took.as_secs_f64()).sum();
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"agui-dev smoke\" tests=\"{}\" failures=\"{failures}\" time=\"{total:.3}\">\n  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" time=\"{total:.3}\">\n",
        reports.len(),
        escape(stack),
        reports.len()
    );
    for report in reports {
        let class = format!("smoke.{}", report.service.as_deref().unwrap_or("stack"));
        let time = report.took.as_secs_f64();
        if report.passed {
            let _ = writeln!(
                xml,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{time:.3}\"/>",
                escape(&report.id),
                escape(&class)
            );
        } else {
            let details = report.service.as_deref().map(|s| last_lines(log_dir, s)).unwrap_or_default();
            let _ = write!(
                xml,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{time:.3}\">\n      <failure message=\"{}\">{}{}</failure>\n    </testcase>\n",
                escape(&report.id),
                escape(&class),
                escape(&report.message),
                escape(&report.message),
                escape(&details)
            );
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}
