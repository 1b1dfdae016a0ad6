//! `agui-dev doctor`: diagnose the stack without starting it, with a fix for every problem.
//!
//! Theory of operation: every check appends a `Check` (a stable dotted id, ok / warn / fail, a
//! finding and a fix) to a `Report`; nothing is printed until all checks ran, then the report is
//! printed grouped by area (human, on stderr) or as one JSON object per line (`--json`, stdout).
//! The ids and their meaning are listed in `docs/doctor.md`.
//!
//! Doctor is fast and safe: it reads files, `/proc` and sockets. The only programs it runs are
//! `<venv>/bin/python -c pass` and `node -v`, each with a short time limit, and the venv's Python
//! is not run at all when a compromised litellm or its start-up hook is present (the hook would
//! run). It never prints a secret: keys are shown masked (`sk-…9f2c`) and every line goes through
//! the same redaction as the rest of agui-dev's output.
//!
//! Exit codes (decided here):
//! - 0: nothing failed (warnings allowed);
//! - 1: a check failed. A stack file that exists but is invalid is such a check (`stack.file`):
//!   doctor's job is to say what is wrong and how to fix it, so it reports it like any other
//!   problem instead of stopping with a usage error;
//! - 2: doctor could not run at all: no stack file was found, or the path given is not a file.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_norway::Value;

use crate::cli::Cli;
use crate::config::{self, KindName, Probe, Service, Stack};
use crate::error::{Error, Result};
use crate::kinds::{self, litellm, venv};
use crate::output::{Colors, Msg};
use crate::plan::{self, Plan, Secret, is_secret_name, mask};
use crate::ready;
use crate::supervise::{ports, process::find_program};

/// The order in which areas are shown.
const AREAS: &[&str] = &["stack", "venv", "litellm", "keys", "ports", "running", "tools", "consistency", "online"];

/// What the proxy extra (`litellm[proxy]`) brings that the proxy imports at start-up.
const PROXY_EXTRA: &[&str] = &["fastapi", "uvicorn", "backoff", "orjson", "pyyaml"];

/// Programs that mean "this service runs on Node".
const NODE_PROGRAMS: &[&str] = &["npm", "npx", "node", "pnpm", "yarn", "tsx"];

const MIN_NODE: u64 = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

struct Check {
    id: &'static str,
    subject: Option<String>,
    status: Status,
    message: String,
    fix: Option<String>,
}

#[derive(Default)]
struct Report {
    checks: Vec<Check>,
}

impl Report {
    fn push(&mut self, id: &'static str, subject: Option<&str>, status: Status, message: String, fix: Option<String>) {
        self.checks.push(Check { id, subject: subject.map(str::to_owned), status, message, fix });
    }

    fn ok(&mut self, id: &'static str, subject: Option<&str>, message: impl Into<String>) {
        self.push(id, subject, Status::Ok, message.into(), None);
    }

    fn warn(&mut self, id: &'static str, subject: Option<&str>, message: impl Into<String>, fix: impl Into<String>) {
        self.push(id, subject, Status::Warn, message.into(), Some(fix.into()));
    }

    fn fail(&mut self, id: &'static str, subject: Option<&str>, message: impl Into<String>, fix: impl Into<String>) {
        self.push(id, subject, Status::Fail, message.into(), Some(fix.into()));
    }

    fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }
}

pub async fn run(cli: &Cli, json: bool, online: bool) -> Result<()> {
    let mut report = Report::default();
    let cwd = std::env::current_dir().map_err(|err| Error::usage("cannot read the current folder").cause(err))?;
    let path = match config::discover(cli.file.as_deref(), &cwd) {
        Ok(path) if path.is_file() => path,
        Ok(path) => {
            let error = Error::usage(format!("`{}` is not a file", path.display()))
                .hint("check the path given with `-f` or `$AGUI_DEV_FILE`");
            return cannot_run(cli, json, error).await;
        }
        Err(error) => return cannot_run(cli, json, error).await,
    };
    let stack = match config::load(&path) {
        Ok(stack) => stack,
        Err(error) => {
            let mut message = error.summary.clone();
            for cause in &error.causes {
                let _ = write!(message, ": {cause}");
            }
            let fix = error.hint.clone().unwrap_or_else(|| "fix the stack file".to_owned());
            report.fail("stack.file", None, message, fix);
            return finish(cli, json, &report, Vec::new()).await;
        }
    };
    report.ok(
        "stack.file",
        None,
        format!(
            "`{}` is valid ({} service{})",
            stack.source.shown,
            stack.services.len(),
            if stack.services.len() == 1 { "" } else { "s" }
        ),
    );

    let plan = plan::build(&stack, &[]);
    let secrets = secrets_of(&stack, plan.as_ref().ok());
    let plan = match plan {
        Ok(plan) => {
            report.ok("stack.plan", None, format!("the plan builds: {}", start_order(&plan)));
            Some(plan)
        }
        Err(error) => {
            let fix = error.hint.clone().unwrap_or_else(|| "fix the stack file".to_owned());
            report.fail("stack.plan", None, format!("the plan cannot be built: {}", error.summary), fix);
            None
        }
    };
    let doctor = Doctor { stack: &stack, plan: plan.as_ref() };

    for service in stack.services.iter().filter(|s| s.kind == Some(KindName::Litellm)) {
        let env = doctor.env_of(service);
        let venv_dir = kinds::venv_of(service, &stack.dir);
        if service.command.is_none() {
            check_venv(&mut report, &service.name, &venv_dir, &env);
        }
        let proxy = check_litellm(&mut report, service, &venv_dir, &env);
        check_keys(&mut report, &doctor, service, proxy.as_ref(), &env);
        check_consistency(&mut report, &doctor, service, proxy.as_ref());
    }
    check_ports(&mut report, &doctor).await;
    check_exposure(&mut report, doctor.stack);
    check_tools(&mut report, &doctor);
    if online {
        check_online(&mut report, &doctor).await;
    }
    finish(cli, json, &report, secrets).await
}

/// No stack to diagnose: the usual usage error (exit 2); with `--json` also the failing check.
async fn cannot_run(cli: &Cli, json: bool, error: Error) -> Result<()> {
    if json {
        let mut report = Report::default();
        report.fail("stack.file", None, error.summary.clone(), error.hint.clone().unwrap_or_default());
        print(cli, &json_lines(&report), Vec::new()).await?;
    }
    Err(error)
}

async fn finish(cli: &Cli, json: bool, report: &Report, secrets: Vec<Secret>) -> Result<()> {
    if json {
        print(cli, &json_lines(report), secrets).await?;
    } else {
        let text = human(report, Colors::resolve(cli.color).stderr, cli.quiet);
        let printer = super::printer(cli, false, &[], None, secrets)?;
        printer.out().send(Msg::Report(text)).await;
        printer.finish();
    }
    let failed = report.count(Status::Fail);
    if failed == 0 {
        return Ok(());
    }
    Err(Error::failed(format!("{failed} of {} doctor checks failed", report.checks.len()))
        .hint("apply the fixes above, then run `agui-dev doctor` again"))
}

/// Data lines to stdout through the printer (which redacts `secrets`).
async fn print(cli: &Cli, lines: &[String], secrets: Vec<Secret>) -> Result<()> {
    let printer = super::printer(cli, false, &[], None, secrets)?;
    let out = printer.out();
    for line in lines {
        out.data(line.clone()).await;
    }
    drop(out);
    printer.finish();
    Ok(())
}

/// One JSON object per check.
fn json_lines(report: &Report) -> Vec<String> {
    report
        .checks
        .iter()
        .map(|check| {
            serde_json::json!({
                "id": check.id,
                "status": check.status.as_str(),
                "subject": check.subject,
                "message": check.message,
                "fix": check.fix,
            })
            .to_string()
        })
        .collect()
}

/// The human report, grouped by area: `✓`/`!`/`✗`, then an indented `fix:` line.
fn human(report: &Report, color: bool, quiet: bool) -> String {
    let paint = |style: console::Style, text: &str| {
        if color { style.force_styling(true).apply_to(text).to_string() } else { text.to_owned() }
    };
    let width = report.checks.iter().filter_map(|c| c.subject.as_ref()).map(|s| s.chars().count()).max().unwrap_or(0);
    let mut text = String::new();
    for area in AREAS {
        let checks: Vec<&Check> = report
            .checks
            .iter()
            .filter(|c| c.id.split('.').next() == Some(area))
            .filter(|c| !quiet || c.status != Status::Ok)
            .collect();
        if checks.is_empty() {
            continue;
        }
        let _ = writeln!(text, "{}", paint(console::Style::new().bold(), area));
        for check in checks {
            let mark = match check.status {
                Status::Ok => paint(console::Style::new().green().bold(), "✓"),
                Status::Warn => paint(console::Style::new().yellow().bold(), "!"),
                Status::Fail => paint(console::Style::new().red().bold(), "✗"),
            };
            let subject = match &check.subject {
                Some(subject) => format!("{subject:<width$}  "),
                None if width > 0 => " ".repeat(width + 2),
                None => String::new(),
            };
            let _ = writeln!(text, "  {mark} {subject}{}", check.message);
            if let Some(fix) = &check.fix {
                let pad = " ".repeat(width + if width > 0 { 2 } else { 0 });
                let _ = writeln!(text, "    {pad}{} {fix}", paint(console::Style::new().cyan(), "fix:"));
            }
        }
    }
    let (ok, warn, fail) = (report.count(Status::Ok), report.count(Status::Warn), report.count(Status::Fail));
    let summary = format!("{ok} ok, {warn} warning{}, {fail} failed", if warn == 1 { "" } else { "s" });
    let summary = match (fail, warn) {
        (0, 0) => paint(console::Style::new().green().bold(), &summary),
        (0, _) => paint(console::Style::new().yellow().bold(), &summary),
        _ => paint(console::Style::new().red().bold(), &summary),
    };
    let _ = writeln!(text, "{summary}");
    text
}

/// The plan's secrets, plus the secret-named values of every service's environment (so that
/// redaction works even when the plan could not be built).
fn secrets_of(stack: &Stack, plan: Option<&Plan>) -> Vec<Secret> {
    let mut secrets: Vec<Secret> = plan.map(|p| p.secrets.clone()).unwrap_or_default();
    for service in &stack.services {
        for (key, value) in fallback_env(service) {
            if is_secret_name(&key) && value.len() >= 6 && !secrets.iter().any(|s| s.value == value) {
                secrets.push(Secret { name: key, value });
            }
        }
    }
    secrets.sort_by_key(|s| std::cmp::Reverse(s.value.len()));
    secrets
}

fn start_order(plan: &Plan) -> String {
    plan.services.iter().map(|s| format!("`{}`", s.name)).collect::<Vec<_>>().join(" -> ")
}

/// A service's environment when the plan could not be built: the process, its env files, its
/// `env` table.
fn fallback_env(service: &Service) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = std::env::vars().collect();
    env.extend(service.file_env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.extend(service.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

struct Doctor<'a> {
    stack: &'a Stack,
    plan: Option<&'a Plan>,
}

impl Doctor<'_> {
    /// The environment a service will get: the plan's, else the best approximation.
    fn env_of(&self, service: &Service) -> BTreeMap<String, String> {
        self.plan
            .and_then(|plan| plan.services.iter().find(|s| s.name == service.name))
            .map_or_else(|| fallback_env(service), |s| s.env.clone())
    }

    fn services_of(&self, kind: KindName) -> impl Iterator<Item = &Service> {
        self.stack.services.iter().filter(move |s| s.kind == Some(kind))
    }

    fn port_of(&self, kind: KindName) -> Option<u16> {
        self.services_of(kind).find_map(|s| s.port)
    }

    /// The command and ready probe a service will run with.
    fn command_of(&self, service: &Service) -> Option<Vec<String>> {
        self.plan
            .and_then(|plan| plan.services.iter().find(|s| s.name == service.name))
            .map(|s| s.command.clone())
            .or_else(|| service.command.clone())
    }

    fn ready_of(&self, service: &Service) -> Option<Probe> {
        self.plan
            .and_then(|plan| plan.services.iter().find(|s| s.name == service.name))
            .and_then(|s| s.ready.clone())
            .or_else(|| service.ready.clone())
    }
}

// ---------------------------------------------------------------------------------------------
// venv

fn check_venv(report: &mut Report, name: &str, venv_dir: &Path, env: &BTreeMap<String, String>) {
    let subject = Some(name);
    let shown = venv_dir.display();
    let create = format!(
        "run `agui-dev setup`, or `python3 -m venv {shown} && {shown}/bin/pip install 'litellm[proxy]'` (quote the brackets in zsh)"
    );
    if !venv_dir.is_dir() {
        report.fail("venv.exists", subject, format!("the venv `{shown}` does not exist"), create);
        return;
    }
    report.ok("venv.exists", subject, format!("the venv `{shown}` exists"));

    // A stray start-up hook runs on every Python start, even after litellm is uninstalled.
    let hooks = venv::stray_init_hooks(venv_dir);
    for hook in &hooks {
        report.fail(
            "venv.init_hook",
            subject,
            format!("`{}` is present: the hook of the malicious litellm 1.82.8, which runs on every Python start", hook.display()),
            format!(
                "delete `{shown}` and recreate it with a safe litellm (`agui-dev setup`); rotate every key this machine holds (OSV MAL-2026-2144)"
            ),
        );
    }
    if hooks.is_empty() {
        report.ok("venv.init_hook", subject, "no `litellm_init.pth` start-up hook in site-packages");
    }

    let dist = venv::distribution(venv_dir, "litellm");
    let compromised = dist.as_ref().is_some_and(|d| litellm::COMPROMISED_VERSIONS.contains(&d.version.as_str()));
    check_python(report, subject, venv_dir, &create, hooks.is_empty() && !compromised);

    let Some(dist) = dist else {
        report.fail(
            "venv.litellm",
            subject,
            format!("litellm is not installed in `{shown}`"),
            format!("`{shown}/bin/pip install 'litellm[proxy]'` (quote the brackets in zsh), or `agui-dev setup`"),
        );
        return;
    };
    report.ok("venv.litellm", subject, format!("litellm {} is installed", dist.version));
    if compromised {
        report.fail(
            "venv.compromised",
            subject,
            format!("litellm {} is a malicious release (credential stealer, OSV MAL-2026-2144)", dist.version),
            format!(
                "delete `{shown}` and recreate it with a safe version (`agui-dev setup`); rotate every key this machine holds"
            ),
        );
    } else {
        report.ok("venv.compromised", subject, format!("litellm {} is not a known malicious release", dist.version));
    }

    check_python_version(report, subject, venv_dir, dist.requires_python.as_deref());
    check_entry_point(report, subject, venv_dir);

    let missing: Vec<&str> =
        PROXY_EXTRA.iter().copied().filter(|name| venv::distribution(venv_dir, name).is_none()).collect();
    if missing.is_empty() {
        report.ok("venv.proxy_extra", subject, format!("the proxy extra is installed ({})", PROXY_EXTRA.join(", ")));
    } else {
        report.fail(
            "venv.proxy_extra",
            subject,
            format!(
                "the proxy extra is missing: {} (the proxy fails with `No module named …`)",
                missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
            ),
            format!("`{shown}/bin/pip install 'litellm[proxy]=={}'` (quote it: zsh reads the brackets)", dist.version),
        );
    }

    let package = dist.dist_info.parent().map(|site| site.join("litellm"));
    match package {
        Some(package) if package.is_dir() && !package.join("__pycache__").is_dir() => {
            let dont_write = env.get("PYTHONDONTWRITEBYTECODE").is_some_and(|v| !v.is_empty());
            let why = if dont_write {
                "and `PYTHONDONTWRITEBYTECODE` is set, so every start recompiles it (about 10 s instead of 6 s)"
            } else {
                "so the first start compiles it (slow)"
            };
            report.warn(
                "venv.bytecode",
                subject,
                format!("litellm has no compiled bytecode (`__pycache__`) {why}"),
                format!("`{shown}/bin/python -m compileall -q {}`", package.display()),
            );
        }
        _ => report.ok("venv.bytecode", subject, "litellm's bytecode is compiled"),
    }
}

fn check_python(report: &mut Report, subject: Option<&str>, venv_dir: &Path, create: &str, may_run: bool) {
    let python = venv_dir.join("bin/python");
    let executable = std::fs::metadata(&python).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if !executable {
        let why = if python.symlink_metadata().is_ok() {
            "is a broken link or not executable (was the Python it was made from removed or upgraded?)"
        } else {
            "does not exist"
        };
        report.fail(
            "venv.python",
            subject,
            format!("`{}` {why}", python.display()),
            format!("recreate the venv: delete `{}`, then {create}", venv_dir.display()),
        );
        return;
    }
    if !may_run {
        report.warn(
            "venv.python",
            subject,
            format!("`{}` was not run: a compromised litellm would run its hook", python.display()),
            "fix the `venv.compromised` / `venv.init_hook` failures first",
        );
        return;
    }
    match run_quick(&python, &["-c", "pass"], Duration::from_secs(5)) {
        Ok(_) => report.ok("venv.python", subject, format!("`{}` runs", python.display())),
        Err(error) => report.fail(
            "venv.python",
            subject,
            format!("`{} -c pass` failed: {error}", python.display()),
            format!("recreate the venv: delete `{}`, then {create}", venv_dir.display()),
        ),
    }
}

fn check_python_version(report: &mut Report, subject: Option<&str>, venv_dir: &Path, requires: Option<&str>) {
    let (Some(version), Some(requires)) = (venv::python_version(venv_dir), requires) else {
        return;
    };
    match satisfies(&version, requires) {
        Some(false) => report.fail(
            "venv.python_version",
            subject,
            format!("the venv's Python {version} is outside litellm's `Requires-Python: {requires}`"),
            format!("recreate `{}` with a supported Python, e.g. `python3.12 -m venv`", venv_dir.display()),
        ),
        _ => report.ok("venv.python_version", subject, format!("Python {version} satisfies `{requires}`")),
    }
}

fn check_entry_point(report: &mut Report, subject: Option<&str>, venv_dir: &Path) {
    let entry = venv_dir.join("bin/litellm");
    let Ok(head) = std::fs::read(&entry) else {
        report.fail(
            "venv.entry_point",
            subject,
            format!("`{}` does not exist", entry.display()),
            format!("`{}/bin/pip install --force-reinstall --no-deps litellm`", venv_dir.display()),
        );
        return;
    };
    let head = String::from_utf8_lossy(&head[..head.len().min(512)]).into_owned();
    let interpreter = interpreter_of(&head);
    let bin = venv_dir.join("bin").canonicalize().ok();
    let inside = interpreter
        .as_deref()
        .and_then(|i| Path::new(i).parent().and_then(|p| p.canonicalize().ok()))
        .is_some_and(|dir| Some(dir) == bin);
    match interpreter {
        Some(interpreter) if !inside => report.fail(
            "venv.entry_point",
            subject,
            format!("`{}` runs `{interpreter}`, a Python outside the venv", entry.display()),
            format!(
                "the venv was moved or copied; recreate it, or `{}/bin/pip install --force-reinstall --no-deps litellm`",
                venv_dir.display()
            ),
        ),
        _ => report.ok("venv.entry_point", subject, format!("`{}` uses the venv's Python", entry.display())),
    }
}

/// The interpreter of a script: `#!/path/python`, or the `exec` line of pip's and uv's
/// `/bin/sh` trampoline for long paths.
fn interpreter_of(head: &str) -> Option<String> {
    let first = head.lines().next()?.strip_prefix("#!")?.trim();
    let program = first.split_whitespace().next()?;
    if program.contains("python") {
        return Some(program.to_owned());
    }
    head.lines().skip(1).take(3).find_map(|line| {
        let start = line.find("exec")?;
        let rest = &line[start..];
        let quoted = rest.split('"').nth(1)?;
        quoted.contains("python").then(|| quoted.to_owned())
    })
}

/// Runs a program with a time limit; the error says why it failed.
fn run_quick(program: &Path, args: &[&str], limit: Duration) -> Result<String, String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| err.to_string())?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer within {}", humantime::format_duration(limit)));
            }
            Err(err) => return Err(err.to_string()),
        }
    }
    let output = child.wait_with_output().map_err(|err| err.to_string())?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        Err(format!("{} {last}", output.status).trim().to_owned())
    }
}

fn version_parts(text: &str) -> Vec<u64> {
    text.trim().trim_start_matches('v').split('.').map_while(|p| p.trim().parse().ok()).collect()
}

fn compare_versions(a: &[u64], b: &[u64]) -> std::cmp::Ordering {
    let len = a.len().max(b.len());
    let at = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    (0..len).map(|i| at(a, i).cmp(&at(b, i))).find(|o| o.is_ne()).unwrap_or(std::cmp::Ordering::Equal)
}

/// Whether `version` meets a `Requires-Python` like `>=3.10, <3.15`; `None` when it cannot tell.
fn satisfies(version: &str, requires: &str) -> Option<bool> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let have = version_parts(version);
    if have.is_empty() {
        return None;
    }
    for clause in requires.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let op = ["~=", ">=", "<=", "==", "!=", ">", "<"].into_iter().find(|op| clause.starts_with(op))?;
        let rhs = clause[op.len()..].trim();
        if let Some(prefix) = rhs.strip_suffix(".*") {
            let want = version_parts(prefix);
            let same = have.len() >= want.len() && have[..want.len()] == want[..];
            let ok = if op == "!=" { !same } else { same };
            if !ok {
                return Some(false);
            }
            continue;
        }
        let want = version_parts(rhs);
        if want.is_empty() {
            return None;
        }
        let order = compare_versions(&have, &want);
        let ok = match op {
            ">=" | "~=" => order != Less,
            "<=" => order != Greater,
            ">" => order == Greater,
            "<" => order == Less,
            "==" => order == Equal,
            _ => order != Equal,
        };
        if !ok {
            return Some(false);
        }
    }
    Some(true)
}

// ---------------------------------------------------------------------------------------------
// LiteLLM config and pitfalls

/// What the config says, for the checks after it.
struct ProxyFacts {
    models: Vec<litellm::ModelEntry>,
}

fn check_litellm(
    report: &mut Report,
    service: &Service,
    venv_dir: &Path,
    env: &BTreeMap<String, String>,
) -> Option<ProxyFacts> {
    let subject = Some(service.name.as_str());
    let facts = if let Some(config) = &service.litellm.config {
        check_config(report, subject, config, env)
    } else if let Some(model) = &service.litellm.model {
        check_prefix(report, subject, model, model);
        let entry = litellm::ModelEntry {
            model_name: model.clone(),
            litellm_params: litellm::ModelParams { model: model.clone(), ..Default::default() },
        };
        Some(ProxyFacts { models: vec![entry] })
    } else {
        None
    };

    // The master key the proxy gets.
    match env.get("LITELLM_MASTER_KEY") {
        Some(key) if key == "sk-1234" || litellm::is_placeholder(key) => report.fail(
            "litellm.master_key",
            subject,
            "`LITELLM_MASTER_KEY` is the example key from LiteLLM's docs (or a placeholder), which LiteLLM refuses",
            "unset `LITELLM_MASTER_KEY` and let agui-dev generate one per run, or set a long random `sk-…` value",
        ),
        Some(key) if kinds::lookup(service, "LITELLM_MASTER_KEY").is_some() => {
            report.ok("litellm.master_key", subject, format!("`LITELLM_MASTER_KEY` is set ({})", mask(key)));
        }
        Some(_) => report.ok("litellm.master_key", subject, "agui-dev generates a master key for each run"),
        None => {}
    }

    // The bind address: keys sit behind the proxy.
    if let Some(host) = &service.litellm.host
        && !matches!(host.as_str(), "127.0.0.1" | "localhost" | "::1")
    {
        report.warn(
            "litellm.host",
            subject,
            format!("the proxy listens on `{host}`, reachable from other machines, with your provider keys behind it"),
            "remove `host` from the service (agui-dev binds 127.0.0.1)",
        );
    }

    // DATABASE_URL without prisma: LiteLLM exits 1 with `Failed to import Prisma client`.
    let prisma = service.command.is_none() && venv::distribution(venv_dir, "prisma").is_some();
    if service.command.is_none() && !prisma {
        if env.get("DATABASE_URL").is_some_and(|v| !v.is_empty()) {
            report.fail(
                "litellm.database_url",
                subject,
                "`DATABASE_URL` is set for the proxy but prisma is not installed in the venv: LiteLLM exits with `Failed to import Prisma client`",
                "unset `DATABASE_URL` for local development (remove it from `.env` or the stack file's `env`)",
            );
        } else {
            report.ok("litellm.database_url", subject, "`DATABASE_URL` is not set (no database needed)");
        }
    }

    if service.command.is_none() {
        check_dotenv(report, subject, venv_dir, env, prisma);
    }
    facts
}

fn check_config(
    report: &mut Report,
    subject: Option<&str>,
    config: &Path,
    env: &BTreeMap<String, String>,
) -> Option<ProxyFacts> {
    let shown = config.display();
    let text = match std::fs::read_to_string(config) {
        Ok(text) => text,
        Err(err) => {
            report.fail(
                "litellm.config",
                subject,
                format!("cannot read the LiteLLM config `{shown}`: {err}"),
                "create it, or fix `config` in the stack file (paths are relative to the stack file)",
            );
            return None;
        }
    };
    let value: Value = match serde_norway::from_str(&text) {
        Ok(value) => value,
        Err(err) => {
            report.fail(
                "litellm.config",
                subject,
                format!("`{shown}` is not valid YAML: {err}"),
                "fix the YAML: indent with spaces, keep `model_list:` at the top level with `- model_name: …` items",
            );
            return None;
        }
    };
    let list = match value.get("model_list") {
        Some(Value::Sequence(list)) => list.clone(),
        Some(other) => {
            report.fail(
                "litellm.config",
                subject,
                format!("`model_list` in `{shown}` is {}, not a list (LiteLLM: `string indices must be integers`)", kind_of(other)),
                "write every model as a list item: `model_list:` then `  - model_name: NAME` with `litellm_params:` under it",
            );
            return None;
        }
        None => {
            report.fail(
                "litellm.config",
                subject,
                format!("`{shown}` has no `model_list`: the proxy would serve no model"),
                "add `model_list:` with `- model_name: NAME` and `litellm_params: { model: provider/model }` items",
            );
            return None;
        }
    };
    report.ok("litellm.config", subject, format!("`{shown}` parses ({} models)", list.len()));

    let mut entries_ok = true;
    for (index, item) in list.iter().enumerate() {
        let at = format!("model_list[{index}]");
        let Value::Mapping(map) = item else {
            entries_ok = false;
            report.fail(
                "litellm.model_entry",
                subject,
                format!("`{at}` is {}, not a mapping", kind_of(item)),
                "write the item as `- model_name: NAME` with `litellm_params:` indented under it",
            );
            continue;
        };
        for key in map.keys().filter_map(Value::as_str) {
            if !["model_name", "litellm_params", "model_info"].contains(&key)
                && let Some(near) = config::nearest(key, &["model_name", "litellm_params", "model_info"])
            {
                entries_ok = false;
                report.fail(
                    "litellm.model_entry",
                    subject,
                    format!("`{at}` has `{key}`, which LiteLLM ignores"),
                    format!("rename it to `{near}`"),
                );
            }
        }
        if item.get("model_name").and_then(Value::as_str).is_none_or(str::is_empty) {
            entries_ok = false;
            report.fail(
                "litellm.model_entry",
                subject,
                format!("`{at}` has no `model_name`"),
                "add `model_name: NAME`: the alias clients ask for",
            );
        }
        let model = item.get("litellm_params").and_then(|p| p.get("model")).and_then(Value::as_str);
        match model {
            None | Some("") => {
                entries_ok = false;
                report.fail(
                    "litellm.model_entry",
                    subject,
                    format!("`{at}` has no `litellm_params.model`"),
                    "add `litellm_params:` with `model: provider/model` (e.g. `deepseek/deepseek-chat`) under the item",
                );
            }
            Some(model) => {
                let name = item.get("model_name").and_then(Value::as_str).unwrap_or(model);
                check_prefix(report, subject, name, model);
            }
        }
    }
    if entries_ok {
        report.ok("litellm.model_entry", subject, "every model has `model_name` and `litellm_params.model`");
    }

    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for name in list.iter().filter_map(|i| i.get("model_name").and_then(Value::as_str)) {
        *seen.entry(name).or_default() += 1;
    }
    for (name, count) in seen.iter().filter(|(_, c)| **c > 1) {
        report.warn(
            "litellm.duplicate_model",
            subject,
            format!("`{name}` is listed {count} times: LiteLLM load-balances requests between these entries"),
            "if that is not intended, give each entry its own `model_name`",
        );
    }

    let mut strings = Vec::new();
    walk_strings(&value, String::new(), &mut strings);
    let mut syntax_ok = true;
    for (at, text) in &strings {
        if let Some(start) = text.find("${") {
            syntax_ok = false;
            let var: String =
                text[start + 2..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            report.fail(
                "litellm.env_syntax",
                subject,
                format!("`{at}` uses `${{{var}}}`, which LiteLLM never expands (it is sent literally)"),
                format!("write `os.environ/{var}` as the whole value"),
            );
        }
    }
    if syntax_ok {
        report.ok("litellm.env_syntax", subject, "no `${VAR}` in the config (LiteLLM would not expand it)");
    }
    for (at, text) in &strings {
        let Some(var) = text.strip_prefix("os.environ/") else { continue };
        // Model keys are reported by the `keys.*` checks.
        if at.starts_with("model_list[") && at.ends_with(".litellm_params.api_key") {
            continue;
        }
        if env.get(var).is_none_or(String::is_empty) {
            report.warn(
                "litellm.env_ref",
                subject,
                format!("`{at}` reads `os.environ/{var}`, but `{var}` is not set for the proxy"),
                format!("export `{var}` or add it to `.env`"),
            );
        }
    }

    let misplaced = value.get("litellm_settings").and_then(|s| s.get("master_key")).is_some();
    if misplaced {
        report.fail(
            "litellm.master_key_location",
            subject,
            "`master_key` is under `litellm_settings`, where LiteLLM ignores it",
            "move it to `general_settings`, or drop it: agui-dev passes `LITELLM_MASTER_KEY` to the proxy",
        );
    }
    if let Some(key) = value.get("general_settings").and_then(|s| s.get("master_key")).and_then(Value::as_str) {
        let resolved = key.strip_prefix("os.environ/").map_or(Some(key), |var| env.get(var).map(String::as_str));
        if resolved != env.get("LITELLM_MASTER_KEY").map(String::as_str) {
            report.fail(
                "litellm.config_master_key",
                subject,
                "`general_settings.master_key` differs from the `LITELLM_MASTER_KEY` agui-dev gives the AG-UI servers as `LITELLM_API_KEY`: their requests get 400 `No connected db.`",
                "remove `general_settings.master_key` (agui-dev passes `LITELLM_MASTER_KEY`), or set it to `os.environ/LITELLM_MASTER_KEY`",
            );
        }
    }
    if value.get("general_settings").and_then(|s| s.get("database_url")).is_some() {
        report.warn(
            "litellm.database_url",
            subject,
            "`general_settings.database_url` is set: LiteLLM needs prisma and a database for it",
            "remove it for local development",
        );
    }

    let models = litellm::read_config(config).map(|c| c.model_list).unwrap_or_default();
    Some(ProxyFacts { models })
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// Every string in a YAML document with its dotted path.
fn walk_strings(value: &Value, at: String, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(text) => out.push((at, text.clone())),
        Value::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_strings(item, format!("{at}[{i}]"), out);
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map {
                let key = key.as_str().map_or_else(|| format!("{key:?}"), str::to_owned);
                let path = if at.is_empty() { key } else { format!("{at}.{key}") };
                walk_strings(item, path, out);
            }
        }
        Value::Tagged(tagged) => walk_strings(&tagged.value, at, out),
        _ => {}
    }
}

/// A bare model id LiteLLM cannot route (`deepseek-chat`): `LLM Provider NOT provided`.
fn check_prefix(report: &mut Report, subject: Option<&str>, name: &str, model: &str) {
    if model.contains('/') || litellm::provider_of(model).is_some() {
        return;
    }
    let guess = ["deepseek", "gemini", "mistral", "groq", "cohere", "moonshot"]
        .into_iter()
        .find(|p| model.starts_with(p))
        .or_else(|| model.starts_with("grok").then_some("xai"))
        .or_else(|| model.starts_with("qwen").then_some("dashscope"));
    let fix = match guess {
        Some(provider) => format!("write `model: {provider}/{model}`"),
        None => format!(
            "prefix it with its provider, e.g. `deepseek/{model}`; for an OpenAI-compatible server use `openai/{model}` with `api_base`"
        ),
    };
    report.fail(
        "litellm.provider_prefix",
        subject,
        format!("model `{name}` is `{model}`, without a provider prefix: LiteLLM answers `LLM Provider NOT provided`"),
        fix,
    );
}

/// A `.env` that LiteLLM loads on its own, found walking up from its site-packages.
fn check_dotenv(
    report: &mut Report,
    subject: Option<&str>,
    venv_dir: &Path,
    env: &BTreeMap<String, String>,
    prisma: bool,
) {
    let production = env.get("LITELLM_MODE").is_some_and(|m| m.eq_ignore_ascii_case("PRODUCTION"));
    let mut found: BTreeSet<PathBuf> = BTreeSet::new();
    for site in venv::site_packages(venv_dir) {
        for dir in site.ancestors() {
            let file = dir.join(".env");
            if file.is_file() {
                found.insert(file);
            }
        }
    }
    for file in found {
        let vars: Vec<(String, String)> =
            dotenvy::from_path_iter(&file).map(|iter| iter.flatten().collect()).unwrap_or_default();
        let differing: Vec<String> =
            vars.iter().filter(|(k, v)| env.get(k) != Some(v)).map(|(k, _)| format!("`{k}`")).collect();
        let sets_db = vars.iter().any(|(k, v)| k == "DATABASE_URL" && !v.is_empty());
        let keys = if differing.is_empty() { "none".to_owned() } else { differing.join(", ") };
        let message = format!(
            "LiteLLM loads `{}` on its own (found above its site-packages){}; variables that differ from what agui-dev passes: {keys}",
            file.display(),
            if production { " unless `LITELLM_MODE=PRODUCTION`, which agui-dev sets" } else { "" }
        );
        if !production && sets_db && !prisma {
            report.fail(
                "litellm.dotenv",
                subject,
                format!("{message}; it sets `DATABASE_URL` and prisma is not installed"),
                "remove `DATABASE_URL` from that file, or keep `LITELLM_MODE=PRODUCTION` in the proxy's environment",
            );
        } else {
            report.warn(
                "litellm.dotenv",
                subject,
                message,
                "move the file out of the venv's parent folders, or keep only what agui-dev does not set in it",
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// provider keys

fn check_keys(
    report: &mut Report,
    doctor: &Doctor<'_>,
    service: &Service,
    proxy: Option<&ProxyFacts>,
    env: &BTreeMap<String, String>,
) {
    let Some(proxy) = proxy else { return };
    let value_of = |name: &str| env.get(name).cloned();
    // The model the AG-UI servers ask for; without one, the model the user names, else the one
    // agui-dev would choose.
    let chosen: Option<String> = doctor
        .services_of(KindName::Agui)
        .find_map(|s| doctor.env_of(s).get("LITELLM_MODEL").cloned())
        .or_else(|| value_of("LITELLM_MODEL").filter(|m| !m.is_empty()))
        .or_else(|| {
            let config = litellm::ProxyConfig { model_list: proxy.models.clone() };
            litellm::choose_model(&config, &value_of).map(|(model, _)| model)
        });

    // A thinking model in a tool loop: DeepSeek rejects a follow-up without `reasoning_content`.
    let chosen_entry = chosen.as_ref().and_then(|name| proxy.models.iter().find(|m| &m.model_name == name));
    if let Some(entry) = chosen_entry.filter(|_| doctor.services_of(KindName::Mcp).next().is_some()) {
        let id = entry.litellm_params.model.to_ascii_lowercase();
        if id.contains("reasoner") || id.contains("deepseek-r1") {
            report.warn(
                "litellm.reasoner_tools",
                Some(service.name.as_str()),
                format!(
                    "`{}` is a thinking model (`{id}`) and the stack offers MCP tools: DeepSeek fails a tool loop with `reasoning_content ... must be passed back`",
                    entry.model_name
                ),
                "use a non-thinking model for tools, e.g. `deepseek/deepseek-chat`",
            );
        }
    }

    // The variables a model's key may come from, in LiteLLM's order.
    let vars_of = |entry: &litellm::ModelEntry| -> Vec<String> {
        match entry.litellm_params.api_key.as_deref().and_then(|k| k.strip_prefix("os.environ/")) {
            Some(var) => vec![var.to_owned()],
            None => litellm::provider_of(&entry.litellm_params.model)
                .map(|p| litellm::key_vars(p).iter().map(|v| (*v).to_owned()).collect())
                .unwrap_or_default(),
        }
    };
    let usable = |vars: &[String]| vars.iter().any(|v| value_of(v).is_some_and(|k| !litellm::is_placeholder(&k)));
    let keyed: Vec<&litellm::ModelEntry> = proxy
        .models
        .iter()
        .filter(|e| !e.is_offline() && e.litellm_params.api_key.as_deref().is_none_or(|k| k.starts_with("os.environ/")))
        .filter(|e| !vars_of(e).is_empty())
        .collect();
    let any_usable = keyed.iter().any(|e| usable(&vars_of(e)));

    for entry in &proxy.models {
        let name = entry.model_name.as_str();
        if entry.is_offline() {
            report.ok("keys.model", Some(name), "offline model (`mock_response`): needs no key");
            continue;
        }
        if entry.litellm_params.api_key.as_deref().is_some_and(|k| !k.starts_with("os.environ/")) {
            report.warn(
                "keys.model",
                Some(name),
                "the key is written into the config file",
                "use `api_key: os.environ/NAME` and keep the key in the environment or `.env`",
            );
            continue;
        }
        let vars = vars_of(entry);
        if vars.is_empty() {
            report.ok("keys.model", Some(name), "no provider key agui-dev knows of is needed");
            continue;
        }
        let is_chosen = chosen.as_deref() == Some(name);
        let names = vars.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(" or ");
        let set = vars.iter().find_map(|v| value_of(v).map(|k| (v.clone(), k)));
        match set {
            Some((var, key)) if litellm::is_placeholder(&key) => report.fail(
                "keys.model",
                Some(name),
                format!("`{var}` holds a placeholder, not a key ({})", mask(&key)),
                format!("set `{var}` to your real key (export it or put it in `.env`)"),
            ),
            Some((var, key)) => report.ok("keys.model", Some(name), format!("`{var}` is set ({})", mask(&key))),
            None if is_chosen => report.fail(
                "keys.model",
                Some(name),
                format!("`{name}` is the model the AG-UI server uses (`LITELLM_MODEL`), but {names} is not set: every request fails"),
                format!("export {names} (or add it to `.env`), or set `LITELLM_MODEL` to a model whose key you have"),
            ),
            None if any_usable => report.warn(
                "keys.model",
                Some(name),
                format!("{names} is not set: requests to `{name}` will fail"),
                format!("export {names} (or add it to `.env`), or remove the model from the config"),
            ),
            // Folded into `keys.none` below.
            None => {}
        }
    }

    if !keyed.is_empty() && !any_usable {
        let needed: Vec<String> =
            keyed.iter().map(|e| format!("`{}` needs {}", e.model_name, vars_of(e).join(" or "))).collect();
        match proxy.models.iter().find(|e| e.is_offline()) {
            Some(offline) => report.warn(
                "keys.none",
                Some(service.name.as_str()),
                format!(
                    "no provider key is set: the offline model `{}` will answer with canned text ({})",
                    offline.model_name,
                    needed.join("; ")
                ),
                "set a provider key, e.g. `export DEEPSEEK_API_KEY=…` or in `.env`, for a real model",
            ),
            None => report.fail(
                "keys.none",
                Some(service.name.as_str()),
                format!(
                    "no provider key is set and there is no offline model: no model can answer ({})",
                    needed.join("; ")
                ),
                "set a provider key (export it or put it in `.env`)",
            ),
        }
    }

    let google = value_of("GOOGLE_API_KEY").filter(|v| !v.is_empty());
    let gemini = value_of("GEMINI_API_KEY").filter(|v| !v.is_empty());
    if let (Some(google), Some(gemini)) = (google, gemini)
        && google != gemini
    {
        report.warn(
            "keys.gemini_shadow",
            Some(service.name.as_str()),
            format!(
                "both `GOOGLE_API_KEY` ({}) and `GEMINI_API_KEY` ({}) are set: LiteLLM uses `GOOGLE_API_KEY` for Gemini",
                mask(&google),
                mask(&gemini)
            ),
            "unset the one you do not mean to use",
        );
    }
}

// ---------------------------------------------------------------------------------------------
// consistency of the AG-UI servers' wiring

fn check_consistency(report: &mut Report, doctor: &Doctor<'_>, proxy_service: &Service, proxy: Option<&ProxyFacts>) {
    let litellm_port = proxy_service.port;
    let mcp_port = doctor.port_of(KindName::Mcp);
    let master_key = doctor.env_of(proxy_service).get("LITELLM_MASTER_KEY").cloned();
    for service in doctor.services_of(KindName::Agui) {
        let subject = Some(service.name.as_str());
        let env = doctor.env_of(service);
        let dotenv_path = service.cwd.join(".env");
        let dotenv: BTreeMap<String, String> =
            dotenvy::from_path_iter(&dotenv_path).map(|iter| iter.flatten().collect()).unwrap_or_default();
        let sources: [(String, &BTreeMap<String, String>, Status); 2] = [
            ("the environment agui-dev gives it".to_owned(), &env, Status::Fail),
            (format!("`{}`", dotenv_path.display()), &dotenv, Status::Warn),
        ];
        for (source, vars, severity) in &sources {
            let mut problems: Vec<(String, String)> = Vec::new();
            for (var, port, path) in [("LITELLM_ENDPOINT", litellm_port, "/v1"), ("MCP_SERVER_URL", mcp_port, "/mcp")] {
                let Some(url) = vars.get(var) else { continue };
                let (host, url_port) = host_port(url);
                if let (Some(want), Some(have)) = (port, url_port)
                    && want != have
                {
                    problems.push((
                        format!("`{var}` in {source} is `{url}`: port {have}, but the stack runs it on {want}"),
                        format!("use `http://127.0.0.1:{want}{path}` (or remove it: agui-dev wires it)"),
                    ));
                }
                if host.eq_ignore_ascii_case("localhost") {
                    problems.push((
                        format!("`{var}` in {source} uses `localhost`, which Node may resolve to `::1` while the server listens on 127.0.0.1 (`ECONNREFUSED ::1`)"),
                        format!("use `127.0.0.1` instead of `localhost` in `{var}`"),
                    ));
                }
            }
            if let (Some(model), Some(proxy)) = (vars.get("LITELLM_MODEL"), proxy) {
                let served = proxy.models.iter().any(|e| &e.model_name == model);
                if !served {
                    let aliases: Vec<String> = proxy.models.iter().map(|e| format!("`{}`", e.model_name)).collect();
                    let fix = match proxy.models.iter().find(|e| &e.litellm_params.model == model) {
                        Some(entry) => format!(
                            "`{model}` is a provider id; clients must use the alias: set `LITELLM_MODEL={}`",
                            entry.model_name
                        ),
                        None => format!("set `LITELLM_MODEL` to one of the proxy's models: {}", aliases.join(", ")),
                    };
                    problems.push((
                        format!("`LITELLM_MODEL` in {source} is `{model}`, which the proxy does not serve (`Invalid model name`)"),
                        fix,
                    ));
                }
            }
            for (message, fix) in problems {
                report.push("consistency.wiring", subject, *severity, message, Some(fix));
            }
        }
        if !report.checks.iter().any(|c| c.id == "consistency.wiring" && c.subject.as_deref() == subject) {
            report.ok(
                "consistency.wiring",
                subject,
                "`LITELLM_ENDPOINT`, `MCP_SERVER_URL` and `LITELLM_MODEL` match the stack",
            );
        }
        if let (Some(api_key), Some(master)) = (env.get("LITELLM_API_KEY"), &master_key)
            && api_key != master
        {
            report.fail(
                "consistency.api_key",
                subject,
                format!(
                    "`LITELLM_API_KEY` ({}) is not the proxy's master key: requests get 400 `No connected db.`",
                    mask(api_key)
                ),
                "remove `LITELLM_API_KEY` from the stack file and `.env`: agui-dev passes the master key",
            );
        }
    }
}

/// The host and port of an `http://host:port/path` URL.
fn host_port(url: &str) -> (String, Option<u16>) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if let Some(inner) = authority.strip_prefix('[') {
        let (host, after) = inner.split_once(']').unwrap_or((inner, ""));
        return (host.to_owned(), after.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    if let Some((host, port)) = authority.rsplit_once(':') {
        return (host.to_owned(), port.parse().ok());
    }
    let default = if url.starts_with("https://") { 443 } else { 80 };
    (authority.to_owned(), Some(default))
}

// ---------------------------------------------------------------------------------------------
// ports and the running stack

async fn check_ports(report: &mut Report, doctor: &Doctor<'_>) {
    for service in &doctor.stack.services {
        let Some(port) = service.port else { continue };
        let subject = Some(service.name.as_str());
        if ports::is_free(port) {
            report.ok("ports.free", subject, format!("port {port} is free"));
            continue;
        }
        let holder = ports::holder(port);
        let ours = holder.as_ref().is_some_and(|h| looks_like_ours(h.pid, service));
        let probe = doctor.ready_of(service);
        let answer = match &probe {
            Some(probe) => ready::attempt(probe, Duration::from_millis(1500)).await,
            None => Err("no ready probe".to_owned()),
        };
        let held_by = holder.as_ref().map_or_else(
            || "a process agui-dev cannot see (another user's?)".to_owned(),
            |h| format!("pid {} (`{}`)", h.pid, h.command),
        );
        // An http probe's 2xx is the service's own answer; a tcp probe only proves a listener.
        let is_http = matches!(probe, Some(Probe::Http(_)));
        if ours || (is_http && answer.is_ok()) {
            report.ok(
                "ports.free",
                subject,
                format!("port {port} is held by the running `{}`: {held_by}", service.name),
            );
            match (&probe, answer) {
                (Some(probe), Ok(())) => {
                    report.ok("running.ready", subject, format!("running: the ready probe ({probe}) answered"));
                    if service.kind == Some(KindName::Mcp) {
                        check_mcp_live(report, subject, port).await;
                    }
                }
                (Some(probe), Err(error)) => report.fail(
                    "running.ready",
                    subject,
                    format!("`{}` holds port {port} but its ready probe ({probe}) fails: {error}", service.name),
                    format!(
                        "read `{}`; stop the stack and run `agui-dev up` again",
                        doctor.stack.dir.join(".agui-dev/logs").join(format!("{}.log", service.name)).display()
                    ),
                ),
                (None, _) => {}
            }
            continue;
        }
        let stop = holder.as_ref().map_or_else(|| "stop it".to_owned(), |h| format!("stop it (`kill {}`)", h.pid));
        report.fail(
            "ports.free",
            subject,
            format!("port {port} of `{}` is held by another program: {held_by}", service.name),
            format!("{stop}, or give `{}` another `port` in the stack file", service.name),
        );
    }
}

/// While the stack runs (`.agui-dev/run.lock` names a live agui-dev): every socket its processes
/// listen on beyond loopback, named with the service whose port it is.
fn check_exposure(report: &mut Report, stack: &Stack) {
    use crate::supervise::exposure;
    let lock = std::fs::read_to_string(stack.dir.join(".agui-dev/run.lock")).unwrap_or_default();
    let Some(pid) = lock.trim().parse::<i32>().ok() else { return };
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim() != "agui-dev" {
        return;
    }
    let open: Vec<_> = exposure::listeners(&exposure::descendants(pid))
        .into_iter()
        .filter(exposure::Listener::beyond_loopback)
        .collect();
    if open.is_empty() {
        report.ok(
            "running.loopback",
            None,
            format!("every process of the running stack (agui-dev pid {pid}) listens on loopback only"),
        );
    }
    for listener in open {
        let port = listener.address.port();
        let service = stack.services.iter().find(|s| s.port == Some(port));
        let name = service.map_or_else(|| "a process of the stack".to_owned(), |s| format!("`{}`", s.name));
        let fix = match service {
            Some(s) if s.kind == Some(KindName::Litellm) => {
                format!("remove `host` from service `{}` (the proxy then binds 127.0.0.1)", s.name)
            }
            Some(s) => format!(
                "set `HOST = \"127.0.0.1\"` in the `env` of service `{}` (or remove the `HOST` that widens it); agui-dev sets it for kinds mcp and agui",
                s.name
            ),
            None => "make it listen on 127.0.0.1 (its `HOST`, or the address it binds)".to_owned(),
        };
        report.warn(
            "running.loopback",
            service.map(|s| s.name.as_str()),
            format!(
                "{name} listens on {} (pid {}, `{}`): other machines can reach it",
                listener.address,
                listener.pid,
                ports::command_line(listener.pid)
            ),
            fix,
        );
    }
}

/// Whether the process on a port belongs to this stack: it runs in the service's folder, or
/// agui-dev is among its ancestors.
fn looks_like_ours(pid: i32, service: &Service) -> bool {
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
    if cwd.is_some() && cwd == service.cwd.canonicalize().ok() && service.kind != Some(KindName::Litellm) {
        return true;
    }
    let mut current = pid;
    for _ in 0..32 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{current}/stat")) else { return false };
        let Some((head, rest)) = stat.rsplit_once(')') else { return false };
        let comm = head.split_once('(').map_or("", |(_, c)| c);
        if comm == "agui-dev" && current != pid {
            return true;
        }
        let Some(parent) = rest.split_whitespace().nth(1).and_then(|p| p.parse::<i32>().ok()) else { return false };
        if parent <= 1 {
            return false;
        }
        current = parent;
    }
    false
}

// ---------------------------------------------------------------------------------------------
// tools

fn check_tools(report: &mut Report, doctor: &Doctor<'_>) {
    let mut node_services: Vec<(&Service, String)> = Vec::new();
    for service in &doctor.stack.services {
        let Some(command) = doctor.command_of(service) else { continue };
        let Some(program) = command.first() else { continue };
        let env = doctor.env_of(service);
        let subject = Some(service.name.as_str());
        let base = Path::new(program).file_name().map_or_else(|| program.clone(), |n| n.to_string_lossy().into_owned());
        let is_node = NODE_PROGRAMS.contains(&base.as_str());
        // The derived litellm command is covered by the `venv.*` checks.
        if service.command.is_some() {
            if let Some(path) = find_program(program, &service.cwd, env.get("PATH").map(String::as_str)) {
                report.ok("tools.command", subject, format!("`{program}` is `{}`", path.display()));
            } else {
                let fix = if is_node {
                    format!("install Node {MIN_NODE}+ (it brings npm; `nvm install {MIN_NODE}`), or fix `PATH`")
                } else {
                    format!("install `{program}`, or fix `command` of `{}` / `PATH`", service.name)
                };
                report.fail(
                    "tools.command",
                    subject,
                    format!("`{program}`, the command of `{}`, is not on `PATH`", service.name),
                    fix,
                );
            }
        }
        if is_node {
            node_services.push((service, base));
        }
    }
    if node_services.is_empty() {
        return;
    }

    let path = std::env::var("PATH").ok();
    let here = std::env::current_dir().unwrap_or_default();
    let mut node_version: Option<String> = None;
    match find_program("node", &here, path.as_deref()) {
        None => report.fail(
            "tools.node",
            None,
            "`node` is not on `PATH`",
            format!("install Node {MIN_NODE} or newer (https://nodejs.org, or `nvm install {MIN_NODE}`)"),
        ),
        Some(node) => match run_quick(&node, &["-v"], Duration::from_secs(3)) {
            Ok(version) => match version_parts(&version).first() {
                Some(major) if *major >= MIN_NODE => {
                    report.ok("tools.node", None, format!("Node {version} (`{}`)", node.display()));
                    node_version = Some(version.clone());
                }
                _ => report.fail(
                    "tools.node",
                    None,
                    format!(
                        "Node {version} is too old: the servers need Node {MIN_NODE}+ (`fetch is not defined` below 18)"
                    ),
                    format!("install Node {MIN_NODE} or newer (`nvm install {MIN_NODE}`), then reinstall node_modules"),
                ),
            },
            Err(error) => report.fail(
                "tools.node",
                None,
                format!("`{} -v` failed: {error}", node.display()),
                format!("reinstall Node {MIN_NODE} or newer"),
            ),
        },
    }
    let wants_npm = node_services.iter().any(|(_, p)| p == "npm" || p == "npx");
    match find_program("npm", &here, path.as_deref()) {
        Some(npm) => report.ok("tools.npm", None, format!("`npm` is `{}`", npm.display())),
        None if wants_npm => report.fail(
            "tools.npm",
            None,
            "`npm` is not on `PATH`",
            format!("install Node {MIN_NODE}+ with npm (https://nodejs.org, or `nvm install {MIN_NODE}`)"),
        ),
        None => report.warn("tools.npm", None, "`npm` is not on `PATH`", "install npm to install dependencies"),
    }

    let mut mcp_sdks: Vec<(String, String)> = Vec::new();
    for (service, _) in &node_services {
        let subject = Some(service.name.as_str());
        let env = doctor.env_of(service);
        let cwd = &service.cwd;
        if env.get("NODE_ENV").is_some_and(|v| v == "production") {
            report.warn(
                "tools.node_env",
                subject,
                "`NODE_ENV=production`: npm skips dev dependencies (e.g. `tsx`), so `npm run dev` fails with `tsx: not found`",
                "unset `NODE_ENV` for development, or install with `npm ci --include=dev`",
            );
        }
        let manifest = cwd.join("package.json");
        let Ok(text) = std::fs::read_to_string(&manifest) else { continue };
        let install = install_command(cwd);
        if !cwd.join("node_modules").is_dir() {
            report.fail(
                "tools.node_modules",
                subject,
                format!("`{}` has a package.json but no node_modules", cwd.display()),
                format!("run `{install}` in `{}` (or `agui-dev setup`)", cwd.display()),
            );
            continue;
        }
        report.ok("tools.node_modules", subject, format!("`{}/node_modules` exists", cwd.display()));
        let package: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        check_engines(report, subject, &package, node_version.as_deref());
        check_agui_versions(report, subject, &cwd.join("node_modules"));
        let sdk = installed_versions(&cwd.join("node_modules"), "@modelcontextprotocol/sdk");
        if let Some(version) = sdk.iter().next() {
            mcp_sdks.push((service.name.clone(), version.clone()));
        }
        let uses_tsx = package
            .get("scripts")
            .and_then(serde_json::Value::as_object)
            .is_some_and(|scripts| scripts.values().filter_map(serde_json::Value::as_str).any(|s| s.contains("tsx")));
        if uses_tsx {
            if cwd.join("node_modules/.bin/tsx").exists() {
                report.ok("tools.tsx", subject, "`node_modules/.bin/tsx` is installed");
            } else {
                report.fail(
                    "tools.tsx",
                    subject,
                    format!(
                        "a script of `{}` runs `tsx`, but `node_modules/.bin/tsx` is missing (`tsx: not found`)",
                        manifest.display()
                    ),
                    format!("run `{install}` in `{}` (dev dependencies included)", cwd.display()),
                );
            }
        }
    }
    // Client and server on different MCP SDK releases disagree on the protocol version.
    let minor = |v: &str| version_parts(v).into_iter().take(2).collect::<Vec<_>>();
    if let Some((first, first_version)) = mcp_sdks.first() {
        match mcp_sdks.iter().find(|(_, v)| minor(v) != minor(first_version)) {
            Some((other, other_version)) => report.warn(
                "tools.mcp_sdk",
                None,
                format!("`{first}` has @modelcontextprotocol/sdk {first_version} and `{other}` has {other_version}: expect `Unsupported protocol version`"),
                "align the SDK versions in both package.json files, then reinstall",
            ),
            None if mcp_sdks.len() > 1 => report.ok("tools.mcp_sdk", None, format!("every service uses @modelcontextprotocol/sdk {first_version}")),
            None => {}
        }
    }
}

/// A running MCP server: the streamable HTTP handshake works the way clients do it, and a browser
/// client can read the session id (CORS must expose `Mcp-Session-Id`, or every later request
/// fails with `No valid session ID provided`).
async fn check_mcp_live(report: &mut Report, subject: Option<&str>, port: u16) {
    let url = format!("http://127.0.0.1:{port}/mcp");
    let handshake = async {
        let mut session = kinds::mcp::Session::open(&url).await?;
        session.tools().await
    };
    match tokio::time::timeout(Duration::from_secs(5), handshake).await {
        Ok(Ok(tools)) => report.ok("running.mcp", subject, format!("the MCP handshake works: {} tools", tools.len())),
        Ok(Err(error)) => report.fail(
            "running.mcp",
            subject,
            format!("the MCP handshake at `{url}` fails: {error}"),
            "406/415: send `Accept: application/json, text/event-stream`; 403 `Invalid Host`: use 127.0.0.1 or set allowed hosts; \
             `Server already initialized`: create a server and transport per session",
        ),
        Err(_) => report.fail("running.mcp", subject, format!("the MCP handshake at `{url}` did not finish in 5s"), "read the MCP server's log"),
    }
    let Ok(client) = ready::local_client(Duration::from_secs(3)) else { return };
    let preflight = client
        .request(reqwest::Method::OPTIONS, &url)
        .header("Origin", "http://localhost:5173")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await;
    let exposed = |response: &reqwest::Response| {
        response
            .headers()
            .get("access-control-expose-headers")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("mcp-session-id") || v.trim() == "*")
    };
    match preflight {
        Ok(response) if exposed(&response) => report.ok("running.mcp_cors", subject, "CORS exposes `Mcp-Session-Id` to browser clients"),
        Ok(_) => report.warn(
            "running.mcp_cors",
            subject,
            "CORS does not expose `Mcp-Session-Id`: a browser client cannot read its session and gets `No valid session ID provided`",
            "add `Mcp-Session-Id` to the CORS `exposedHeaders` of the MCP server",
        ),
        Err(error) => report.warn("running.mcp_cors", subject, format!("OPTIONS {url} failed: {error}"), "read the MCP server's log"),
    }
}

/// `engines.node` of a package against the installed Node.
fn check_engines(report: &mut Report, subject: Option<&str>, package: &serde_json::Value, node: Option<&str>) {
    let Some(range) = package.pointer("/engines/node").and_then(serde_json::Value::as_str) else { return };
    let Some(node) = node else { return };
    // The lower bound of `>=20`, `^20.1`, `~20`, `20.x`: enough for the ranges packages use.
    let bound = range.trim().trim_start_matches(['>', '=', '^', '~', 'v', ' ']);
    let wanted = version_parts(bound);
    if wanted.is_empty()
        || !(range.trim_start().starts_with(['>', '^', '~'])
            || range.trim_start().starts_with(|c: char| c.is_ascii_digit()))
    {
        return;
    }
    if compare_versions(&version_parts(node), &wanted) == std::cmp::Ordering::Less {
        report.fail(
            "tools.engines",
            subject,
            format!("the package wants Node `{range}` and Node is {node}"),
            format!(
                "install a Node that satisfies `{range}` (`nvm install {}`), then reinstall node_modules",
                wanted[0]
            ),
        );
    } else {
        report.ok("tools.engines", subject, format!("Node {node} satisfies `engines.node` `{range}`"));
    }
}

/// One version of each `@ag-ui/*` package: several make the client reject valid events
/// (`invalid_union_discriminator`).
fn check_agui_versions(report: &mut Report, subject: Option<&str>, node_modules: &Path) {
    for package in ["@ag-ui/core", "@ag-ui/encoder", "@ag-ui/client", "@ag-ui/proto"] {
        let versions = installed_versions(node_modules, package);
        if versions.len() > 1 {
            let listed: Vec<&str> = versions.iter().map(String::as_str).collect();
            report.fail(
                "tools.agui_versions",
                subject,
                format!("several versions of `{package}` are installed: {}", listed.join(", ")),
                "pin one version of every `@ag-ui/*` package in package.json, then `npm ci` (check with `npm ls @ag-ui/core`)",
            );
        }
    }
}

/// The versions of `package` in `node_modules`, at the top and nested one level down.
fn installed_versions(node_modules: &Path, package: &str) -> BTreeSet<String> {
    let version_in = |dir: &Path| -> Option<String> {
        let text = std::fs::read_to_string(dir.join(package).join("package.json")).ok()?;
        let manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
        manifest.get("version")?.as_str().map(str::to_owned)
    };
    let mut versions: BTreeSet<String> = version_in(node_modules).into_iter().collect();
    let mut packages: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(node_modules).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('@') {
            packages.extend(std::fs::read_dir(&path).into_iter().flatten().flatten().map(|e| e.path()));
        } else {
            packages.push(path);
        }
    }
    versions.extend(packages.iter().filter_map(|p| version_in(&p.join("node_modules"))));
    versions
}

fn install_command(cwd: &Path) -> &'static str {
    if cwd.join("pnpm-lock.yaml").exists() {
        "pnpm install"
    } else if cwd.join("yarn.lock").exists() {
        "yarn install"
    } else if cwd.join("package-lock.json").exists() {
        "npm ci --include=dev"
    } else {
        "npm install --include=dev"
    }
}

// ---------------------------------------------------------------------------------------------
// --online

async fn check_online(report: &mut Report, doctor: &Doctor<'_>) {
    for service in doctor.services_of(KindName::Litellm) {
        let subject = Some(service.name.as_str());
        let Some(port) = service.port else { continue };
        let ready = ready::attempt(
            &Probe::Http(format!("http://127.0.0.1:{port}/health/readiness")),
            Duration::from_millis(1500),
        )
        .await;
        if ready.is_err() {
            report.warn(
                "online.skipped",
                subject,
                format!("the proxy is not running on port {port}, so no request was sent"),
                "start the stack with `agui-dev up` in another terminal, then run `agui-dev doctor --online`",
            );
            continue;
        }
        let Some(key) = kinds::lookup(service, "LITELLM_MASTER_KEY").filter(|k| !k.is_empty()) else {
            report.warn(
                "online.skipped",
                subject,
                "the running proxy's master key was generated by `agui-dev up` and is not known here",
                "set `LITELLM_MASTER_KEY` (e.g. in `.env`) before `agui-dev up`, so doctor can use it",
            );
            continue;
        };
        let env = doctor.env_of(service);
        let models = service
            .litellm
            .config
            .as_deref()
            .and_then(|c| litellm::read_config(c).ok())
            .map(|c| c.model_list)
            .unwrap_or_default();
        let client = match ready::local_client(Duration::from_secs(30)) {
            Ok(client) => client,
            Err(err) => {
                report.warn("online.skipped", subject, format!("cannot make an HTTP client: {err}"), "report this");
                continue;
            }
        };
        for entry in models.iter().filter(|e| !e.is_offline()) {
            let name = entry.model_name.as_str();
            let has_key =
                litellm::key_var_of(entry).is_none_or(|var| env.get(&var).is_some_and(|v| !litellm::is_placeholder(v)));
            if !has_key {
                continue;
            }
            let body = serde_json::json!({
                "model": name,
                "messages": [{"role": "user", "content": "Say OK."}],
                "max_tokens": 1,
            });
            let answer = client
                .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
                .bearer_auth(&key)
                .json(&body)
                .send()
                .await;
            match answer {
                Ok(response) if response.status().is_success() => {
                    report.ok("online.completion", Some(name), "a one-token completion through the proxy succeeded");
                }
                Ok(response) => {
                    let status = response.status();
                    let text: String = response.text().await.unwrap_or_default().chars().take(200).collect();
                    report.fail(
                        "online.completion",
                        Some(name),
                        format!("the proxy answered {status}: {text}"),
                        "check the provider key and the model id; the proxy's log has the details",
                    );
                }
                Err(err) => report.fail(
                    "online.completion",
                    Some(name),
                    format!("no answer from the proxy: {err}"),
                    "check the proxy's log (`.agui-dev/logs/`)",
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requires_python() {
        assert_eq!(satisfies("3.11.7", ">=3.10, <3.15"), Some(true));
        assert_eq!(satisfies("3.15.0", ">=3.10, <3.15"), Some(false));
        assert_eq!(satisfies("3.9.18", ">=3.10, <3.15"), Some(false));
        assert_eq!(satisfies("3.8", "!=3.8.*"), Some(false));
    }

    #[test]
    fn urls() {
        assert_eq!(host_port("http://localhost:4000/v1"), ("localhost".to_owned(), Some(4000)));
        assert_eq!(host_port("http://127.0.0.1/mcp"), ("127.0.0.1".to_owned(), Some(80)));
        assert_eq!(host_port("http://[::1]:3100/mcp"), ("::1".to_owned(), Some(3100)));
    }

    #[test]
    fn shebangs() {
        assert_eq!(interpreter_of("#!/v/bin/python\nimport x"), Some("/v/bin/python".to_owned()));
        let trampoline = "#!/bin/sh\n'''exec' \"/long/v/bin/python\" \"$0\" \"$@\"\n' '''\n";
        assert_eq!(interpreter_of(trampoline), Some("/long/v/bin/python".to_owned()));
    }
}
