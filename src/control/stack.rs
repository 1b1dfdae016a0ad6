//! Where a stack lives, and its logs as a client finds them: the stack's folder from the command
//! line, and the services whose logs `.agui-dev/logs/` holds.

use std::path::{Path, PathBuf};

use crate::cli::Cli;
use crate::error::{Error, Result};
use crate::plan;
use crate::secret::Secret;

/// The running stack's folder (the stack file's), found as every command finds the stack file.
pub fn stack_dir(cli: &Cli) -> Result<PathBuf> {
    Ok(crate::session::stack_file(cli)?.1)
}

/// Where the printer of a run in `stack_dir` keeps each service's output.
pub fn logs_dir(stack_dir: &Path) -> PathBuf {
    stack_dir.join(".agui-dev").join("logs")
}

/// The services in the order `up` shows them (so each keeps its colour) and the secrets to hide.
/// A stack file that no longer loads still has logs worth reading: then every `*.log` there.
pub fn services_and_secrets(stack_file: &Path, dir: &Path) -> (Vec<String>, Vec<Secret>) {
    if let Ok(plan) = crate::kinds::load(stack_file).and_then(|stack| plan::build(&stack, &[])) {
        return (plan.services.iter().map(|s| s.name.clone()).collect(), plan.secrets);
    }
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.strip_suffix(".log").map(str::to_owned))
        .collect();
    names.sort();
    (names, Vec::new())
}

pub fn select(names: &[String], asked: &[String], dir: &Path) -> Result<Vec<String>> {
    if !dir.is_dir() {
        return Err(Error::failed(format!("no logs yet in `{}`", dir.display()))
            .hint("start the stack with `agui-dev up`; each service's output is kept there"));
    }
    if asked.is_empty() {
        return Ok(names.to_vec());
    }
    for name in asked {
        if !names.contains(name) {
            return Err(Error::usage(format!("no service `{name}` in this stack"))
                .hint(format!("the services are: {}", names.join(", "))));
        }
    }
    Ok(names.iter().filter(|name| asked.contains(name)).cloned().collect())
}
