//! `agui-dev doctor`: diagnose the stack without starting it, with a fix for every problem.
//!
//! Theory of operation: every check appends a `Finding` (a stable dotted id in an area, ok / warn
//! / fail, what it found and the fix) to a `Diagnosis`; nothing is printed until all checks ran,
//! then `render` prints it grouped by area (human, on stderr) or as one JSON object per line
//! (`--json`, stdout). The ids and their meaning are listed in `docs/doctor.md`.
//!
//! Where the checks live, one file per area: `stack`, `scope` (`keys.scope`), `ports`, `running`,
//! `tools` and `online` here; what only one kind knows under its folder: `kinds/litellm/doctor/` (`venv`, `litellm`,
//! `keys`, `online`), `kinds/agui/consistency.rs` (`consistency`), `kinds/mcp` (`running.mcp*`).
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

mod online;
mod ports;
mod render;
mod running;
mod scope;
mod stack;
mod tools;

use std::collections::BTreeMap;

use crate::cli::{Cli, DoctorArgs};
use crate::config::{self, Probe, Service, Stack};
use crate::diagnosis::{CheckId, Diagnosis, Status};
use crate::error::{Error, Result};
use crate::kinds::{self, Inspect};
use crate::output::{Colors, Msg};
use crate::plan::{self, Plan};
use crate::secret::{self, Secret};
use crate::system::reaper::Reaper;

/// The ids of the checks that live here (the kinds list theirs).
fn own_ids() -> Vec<CheckId> {
    [stack::IDS, scope::IDS, ports::IDS, running::IDS, tools::IDS].concat()
}

/// Every check id doctor can report.
pub fn all_ids() -> Vec<CheckId> {
    let mut ids = own_ids();
    for kind in kinds::all() {
        ids.extend(kind.doctor_ids());
    }
    ids
}

pub async fn run(cli: &Cli, args: &DoctorArgs) -> Result<()> {
    match diagnose(cli, args.online).await? {
        Diagnosed::NoStack(error) => cannot_run(cli, args.json, error).await,
        Diagnosed::Found(found, secrets) => finish(cli, args.json, &found, secrets).await,
    }
}

/// What doctor found (with the secrets its report must hide), or why it could not run at all.
pub enum Diagnosed {
    Found(Diagnosis, Vec<Secret>),
    /// No stack file: the usage error `doctor` exits 2 with.
    NoStack(Error),
}

/// Runs every check; `doctor` prints the result, `agui-dev mcp` returns it as a tool result.
pub async fn diagnose(cli: &Cli, online: bool) -> Result<Diagnosed> {
    let mut found = Diagnosis::default();
    let cwd = std::env::current_dir().map_err(|err| Error::usage("cannot read the current folder").cause(err))?;
    let path = match config::discover(cli.file.as_deref(), &cwd) {
        Ok(path) if path.is_file() => path,
        Ok(path) => {
            let error = Error::usage(format!("`{}` is not a file", path.display()))
                .hint("check the path given with `-f` or `$AGUI_DEV_FILE`");
            return Ok(Diagnosed::NoStack(error));
        }
        Err(error) => return Ok(Diagnosed::NoStack(error)),
    };
    let stack = match kinds::load(&path) {
        Ok(stack) => stack,
        Err(error) => {
            stack::invalid(&mut found, &error);
            return Ok(Diagnosed::Found(found, Vec::new()));
        }
    };
    stack::valid(&mut found, &stack);

    let plan = plan::build(&stack, &[]);
    let secrets = secrets_of(&stack, plan.as_ref().ok());
    stack::plan(&mut found, &plan);
    if let Ok(plan) = &plan {
        scope::check(&mut found, plan);
    }
    let reaper = Reaper::start().map_err(|err| Error::failed("cannot supervise child processes").cause(err))?;
    let doctor = Doctor { stack: &stack, plan: plan.as_ref().ok(), reaper };

    for service in &stack.services {
        if let Some(kind) = service.kind.and_then(kinds::of) {
            kind.doctor(&doctor, service, &mut found).await;
        }
    }
    let running = ports::check(&mut found, &doctor).await;
    running::check(&mut found, &doctor, running).await;
    running::loopback(&mut found, &stack);
    tools::check(&mut found, &doctor).await;
    if online {
        online::check(&mut found, &doctor).await;
    }
    Ok(Diagnosed::Found(found, secrets))
}

/// The two faces of a diagnosis for a program: the human report without colour, and the
/// findings as JSON values (`id`, `status`, `subject`, `message`, `fix`).
pub fn faces(found: &Diagnosis) -> (String, Vec<serde_json::Value>) {
    let values = render::json_lines(found).iter().filter_map(|line| serde_json::from_str(line).ok()).collect();
    (render::human(found, false, false), values)
}

/// No stack to diagnose: the usual usage error (exit 2); with `--json` also the failing check.
async fn cannot_run(cli: &Cli, json: bool, error: Error) -> Result<()> {
    if json {
        let mut found = Diagnosis::default();
        stack::not_found(&mut found, &error);
        crate::session::print_data(cli, &render::json_lines(&found), Vec::new()).await?;
    }
    Err(error)
}

async fn finish(cli: &Cli, json: bool, found: &Diagnosis, secrets: Vec<Secret>) -> Result<()> {
    if json {
        crate::session::print_data(cli, &render::json_lines(found), secrets).await?;
    } else {
        let text = render::human(found, Colors::resolve(cli.color).stderr, cli.quiet);
        let printer = crate::session::printer(cli, crate::output::Style::RESULT, &[], None, secrets)?;
        printer.out().send(Msg::Report(text)).await;
        printer.finish();
    }
    let failed = found.count(Status::Fail);
    if failed == 0 {
        return Ok(());
    }
    Err(Error::failed(format!("{failed} of {} doctor checks failed", found.findings.len()))
        .hint("apply the fixes above, then run `agui-dev doctor` again"))
}

/// The plan's secrets, plus the secret-named values of the process environment and of every
/// service's env files and `env` table (so that redaction works even when the plan could not be
/// built).
fn secrets_of(stack: &Stack, plan: Option<&Plan>) -> Vec<Secret> {
    let mut secrets: Vec<Secret> = plan.map(|p| p.secrets.clone()).unwrap_or_default();
    secret::collect(&mut secrets, &std::env::vars().collect::<BTreeMap<_, _>>());
    for service in &stack.services {
        secret::collect(&mut secrets, &service.file_env);
        secret::collect(&mut secrets, &service.env);
    }
    secret::sort(&mut secrets);
    secrets
}

/// A service's environment when the plan could not be built: the process and its env files (the
/// variables it `inherits`), its `env` table.
fn fallback_env(service: &Service) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = std::env::vars().collect();
    env.extend(service.file_env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env.retain(|key, _| kinds::inherits(service, key));
    env.extend(service.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// The stack as the checks see it: the plan's view where it could be built.
pub struct Doctor<'a> {
    stack: &'a Stack,
    plan: Option<&'a Plan>,
    reaper: Reaper,
}

impl Inspect for Doctor<'_> {
    fn stack(&self) -> &Stack {
        self.stack
    }

    fn env_of(&self, service: &Service) -> BTreeMap<String, String> {
        self.planned(service).map_or_else(|| fallback_env(service), |s| s.env.clone())
    }

    fn reaper(&self) -> &Reaper {
        &self.reaper
    }
}

impl Doctor<'_> {
    fn planned(&self, service: &Service) -> Option<&plan::ServicePlan> {
        self.plan.and_then(|plan| plan.services.iter().find(|s| s.name == service.name))
    }

    /// The command a service will run with.
    fn command_of(&self, service: &Service) -> Option<Vec<String>> {
        self.planned(service).map(|s| s.command.clone()).or_else(|| service.command.clone())
    }

    /// The ready probe a service will be checked with.
    fn ready_of(&self, service: &Service) -> Option<Probe> {
        self.planned(service).and_then(|s| s.ready.clone()).or_else(|| service.ready.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// `docs/doctor.md` lists every id doctor makes, each in its area, and nothing else.
    #[test]
    fn ids_match_the_docs() {
        let docs = include_str!("../../docs/doctor.md");
        let documented: BTreeSet<(String, String)> = docs
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let id = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                Some((id.to_owned(), (*cells.get(2)?).to_owned()))
            })
            .collect();
        let ids = all_ids();
        let made: BTreeSet<(String, String)> =
            ids.iter().map(|c| (c.id.to_owned(), c.area.name().to_owned())).collect();
        assert_eq!(made.len(), ids.len(), "an id is declared twice");
        let undocumented: Vec<_> = made.difference(&documented).collect();
        let stale: Vec<_> = documented.difference(&made).collect();
        assert!(undocumented.is_empty(), "ids missing from docs/doctor.md (or in another area): {undocumented:?}");
        assert!(stale.is_empty(), "docs/doctor.md lists ids doctor does not make: {stale:?}");
        for check in &ids {
            assert!(check.id.starts_with(&format!("{}.", check.area.name())), "`{}` is not in its area", check.id);
        }
    }
}
