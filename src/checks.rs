//! The smoke checks of a ready stack, wherever it runs (`agui-dev smoke` on this machine,
//! `export compose --check` in containers behind published loopback ports): each kind's built-in
//! tests, the foreign-page probes of the servers a web page calls (`kinds::browser`), and the stack
//! file's `[[smoke]]` checks, one after the other, each with a spinner and a verdict line.

use std::time::{Duration, Instant};

use crate::config::{Service, SmokeAction, SmokeCheck, Stack};
use crate::http::HttpError;
use crate::kinds::browser::{self, Probe};
use crate::kinds::{self, Kind, SmokeError, SmokeTarget, clip};
use crate::output::short;
use crate::output::{Key, Level, Msg, Out};
use crate::plan::{Plan, RUN_VAR, ServicePlan};
use crate::system::reaper::Reaper;
use crate::system::run::capture;

/// What one smoke test or stack-wide step came to.
pub struct Verdict {
    pub id: String,
    pub service: Option<String>,
    pub passed: bool,
    pub message: String,
    pub took: Duration,
}
/// Every smoke test of the ready stack, one after the other, each within its own timeout and
/// what is left of the run's.
pub async fn run_tests(stack: &Stack, plan: &Plan, reaper: &Reaper, out: &Out, deadline: Instant) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    for (index, test) in tests(stack, plan).iter().enumerate() {
        out.send(Msg::Waiting { key: Key::Smoke(index), what: format!("check `{}`", test.id()) }).await;
        let began = Instant::now();
        let remaining = deadline.saturating_duration_since(began);
        let result = match tokio::time::timeout(remaining.min(test.timeout()), test.run(plan, reaper)).await {
            Ok(result) => result,
            Err(_) => Err(SmokeError::Failed(format!("no result within {}", short(remaining.min(test.timeout()))))),
        };
        let verdict = Verdict {
            id: test.id(),
            service: test.service().map(str::to_owned),
            passed: result.is_ok(),
            message: result.unwrap_or_else(|e| e.to_string()),
            took: began.elapsed(),
        };
        let (level, mark) = if verdict.passed { (Level::Success, "passed") } else { (Level::Error, "failed") };
        let text = format!("`{}` {mark} in {}: {}", verdict.id, short(verdict.took), verdict.message);
        out.send(Msg::Done { key: Key::Smoke(index), level, text }).await;
        verdicts.push(verdict);
    }
    verdicts
}

/// A smoke test to run once the stack is ready: one of a kind's, a foreign-page probe of a
/// server a web page calls at `path`, or a `[[smoke]]` of the file.
enum SmokeTest<'a> {
    Builtin { service: &'a ServicePlan, kind: &'static dyn Kind, test: &'static str },
    Browser { service: &'a ServicePlan, declared: &'a Service, path: &'static str, probe: Probe },
    Custom(&'a SmokeCheck),
}

fn tests<'a>(stack: &'a Stack, plan: &'a Plan) -> Vec<SmokeTest<'a>> {
    let mut tests = Vec::new();
    for service in &plan.services {
        let Some(kind) = service.kind.and_then(kinds::of) else { continue };
        tests.extend(kind.smoke_tests().iter().map(|test| SmokeTest::Builtin { service, kind, test }));
        // `public` is the stack file's word, which the plan does not carry.
        let declared = stack.services.iter().find(|s| s.name == service.name);
        if let (Some(path), Some(declared)) = (kind.browser_path(), declared) {
            tests.extend(Probe::ALL.map(|probe| SmokeTest::Browser { service, declared, path, probe }));
        }
    }
    tests.extend(stack.smoke.iter().map(SmokeTest::Custom));
    tests
}

impl SmokeTest<'_> {
    fn id(&self) -> String {
        match self {
            SmokeTest::Builtin { service, test, .. } => format!("{}.{test}", service.name),
            SmokeTest::Browser { service, probe, .. } => format!("{}.{}", service.name, probe.suffix()),
            SmokeTest::Custom(c) => format!("custom.{}", c.name),
        }
    }

    fn service(&self) -> Option<&str> {
        match self {
            SmokeTest::Builtin { service, .. } | SmokeTest::Browser { service, .. } => Some(&service.name),
            SmokeTest::Custom(_) => None,
        }
    }

    fn timeout(&self) -> Duration {
        match self {
            SmokeTest::Custom(check) => check.timeout,
            SmokeTest::Builtin { .. } => Duration::from_mins(1),
            SmokeTest::Browser { .. } => Duration::from_secs(10),
        }
    }

    async fn run(&self, plan: &Plan, reaper: &Reaper) -> Result<String, SmokeError> {
        let client = crate::http::local_client(self.timeout())?;
        match self {
            SmokeTest::Builtin { service, kind, test } => {
                let target = SmokeTarget {
                    port: service.port.unwrap_or(0),
                    env: &service.env,
                    model: plan.model.as_deref(),
                    client: &client,
                    dir: &plan.dir,
                    secrets: &plan.secrets,
                };
                kind.smoke(test, target).await
            }
            SmokeTest::Browser { service, declared, path, probe } => {
                browser::smoke(*probe, declared, service.port.unwrap_or(0), path).await
            }
            SmokeTest::Custom(check) => custom(check, &client, plan, reaper).await,
        }
    }
}

async fn custom(
    check: &SmokeCheck,
    client: &reqwest::Client,
    plan: &Plan,
    reaper: &Reaper,
) -> Result<String, SmokeError> {
    match &check.action {
        SmokeAction::Http { method, url, body, expect_status, expect_body } => {
            let method = reqwest::Method::from_bytes(method.as_bytes())
                .map_err(|_| SmokeError::Failed(format!("`{method}` is not an HTTP method")))?;
            let mut request = client.request(method.clone(), url);
            if let Some(body) = body {
                let is_json = serde_json::from_str::<serde_json::Value>(body).is_ok();
                if is_json {
                    request = request.header("Content-Type", "application/json");
                }
                request = request.body(body.clone());
            }
            let response = request.send().await.map_err(HttpError::request(&method, url))?;
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            let status_ok = expect_status.map_or(status.is_success(), |want| status.as_u16() == want);
            if !status_ok {
                let want = expect_status.map_or_else(|| "2xx".to_owned(), |s| s.to_string());
                return Err(SmokeError::Failed(format!("{method} {url} answered {status}, expected {want}")));
            }
            if let Some(needle) = expect_body.as_ref().filter(|needle| !text.contains(needle.as_str())) {
                let shown = clip(&text);
                return Err(SmokeError::Failed(format!(
                    "{method} {url}: the body does not contain `{needle}`: {shown}"
                )));
            }
            Ok(format!("{method} {url} answered {status}"))
        }
        SmokeAction::Exec(words) => {
            let mut command = std::process::Command::new(&words[0]);
            // Marked like the services, so a command cut off by its timeout is swept with them.
            command.args(&words[1..]).current_dir(&plan.dir).env(RUN_VAR, &plan.run_id);
            let output = capture(reaper, &mut command, None).await?;
            if output.status.success() {
                Ok("exited with code 0".to_owned())
            } else {
                let shown = clip(&output.combined());
                Err(SmokeError::Failed(format!("`{}` {}: {shown}", shell_words::join(words), output.status)))
            }
        }
    }
}
