//! `agui-dev export compose|k8s`: the stack for engines that run it past one machine.
//!
//! The stack file is loaded and planned exactly as `check` does; `shared` turns the plan into
//! containers (images, environment with secret references, probes, warnings for what cannot be
//! carried), and `compose` / `k8s` write them in each engine's form. Before anything is written,
//! every file is searched for every secret value the plan knows: finding one is a bug, and
//! nothing is written then. The design decisions are in docs/export.md.

mod check;
mod compose;
mod engine;
mod k8s;
mod node;
mod runner;
mod shared;
mod wiring;

use std::path::{Path, PathBuf};

use crate::cli::{Cli, ComposeArgs, ExportTarget, K8sArgs};
use crate::error::{Error, Result};
use crate::output::Level;
use crate::{kinds, plan};

pub async fn run(cli: &Cli, target: &ExportTarget) -> Result<()> {
    check::refuse(target)?;
    let stack = crate::session::load_stack(cli)?;
    // `port = "auto"` got a free port, different on every load; the export reads the file again
    // with fixed ones, so the ports, and the URLs built from them, are the same on every export.
    // In a container a service listens on every interface: its own `${HOST}` is `0.0.0.0`.
    let ports = shared::auto_ports(&stack);
    let stack = kinds::load_for_containers(&stack.source.path, &ports)?;
    let plan = plan::build(&stack, &[])?;
    let printer = crate::session::printer(cli, crate::output::Style::RESULT, &[], None, plan.secrets.clone())?;
    let out = printer.out();
    let result = export(&stack, &plan, target);
    let (files, mut export_notes) = match result {
        Ok(done) => done,
        Err(error) => {
            drop(out);
            printer.finish();
            return Err(error);
        }
    };
    let mut written = Vec::new();
    let mut failure = None;
    for (path, text) in &files {
        match path {
            None => out.data(text.trim_end().to_owned()).await,
            Some(path) => match write(path, text) {
                Ok(()) => written.push(path.display().to_string()),
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            },
        }
    }
    for warning in &export_notes.warnings {
        out.status(Level::Warn, warning.clone()).await;
    }
    for note in &export_notes.info {
        out.status(Level::Info, note.clone()).await;
    }
    if !written.is_empty() {
        export_notes.summary.insert(0, format!("wrote {}", written.join(", ")));
    }
    for line in &export_notes.summary {
        out.status(Level::Success, line.clone()).await;
    }
    let checked = match (target, &failure, written.first()) {
        (ExportTarget::Compose(ComposeArgs { check: true, timeout, .. }), None, Some(file)) => {
            check::run(&stack, plan, Path::new(file), *timeout, &out).await
        }
        _ => Ok(()),
    };
    drop(out);
    printer.finish();
    failure.map_or(checked, Err)
}

/// What the command tells the user after writing.
struct Notes {
    warnings: Vec<String>,
    info: Vec<String>,
    summary: Vec<String>,
}

/// The files to write (`None` as the path is stdout).
type Files = Vec<(Option<PathBuf>, String)>;

/// The files to write and what to say about them.
fn export(stack: &crate::config::Stack, plan: &plan::Plan, target: &ExportTarget) -> Result<(Files, Notes)> {
    let cwd = std::env::current_dir().map_err(|e| Error::usage("cannot read the current folder").cause(e))?;
    let (export, files, mut notes) = match target {
        ExportTarget::Compose(ComposeArgs { output, .. }) => compose_files(stack, plan, output.as_deref(), &cwd)?,
        ExportTarget::K8s(K8sArgs { output, .. }) => k8s_files(stack, plan, output.as_deref(), &cwd)?,
    };
    let mut warnings = export.warnings.clone();
    warnings.append(&mut notes.warnings);
    notes.warnings = warnings;
    let mut all_notes = export.notes.clone();
    all_notes.append(&mut notes.info);
    notes.info = all_notes;
    for (path, text) in &files {
        if let Some(secret) = export.forbidden.iter().find(|s| s.value.len() >= 6 && text.contains(&s.value)) {
            let shown = path.as_ref().map_or_else(|| "stdout".to_owned(), |p| p.display().to_string());
            return Err(Error::failed(format!(
                "the export for `{shown}` would contain the value of `{}`; nothing was written",
                secret.name
            ))
            .hint("this is a bug in agui-dev; please report it (the value itself is not shown)"));
        }
    }
    Ok((files, notes))
}

/// `compose.yaml` (or stdout with `-o -`) and `.env.example` beside it.
fn compose_files(
    stack: &crate::config::Stack,
    plan: &plan::Plan,
    output: Option<&Path>,
    cwd: &Path,
) -> Result<(shared::Export, Files, Notes)> {
    let export = shared::build(stack, plan, shared::Target::Compose)?;
    let mut files = Files::new();
    let mut summary = Vec::new();
    let to_stdout = output == Some(Path::new("-"));
    let path = match output {
        Some(path) if !to_stdout => cwd.join(path),
        _ => stack.dir.join("compose.yaml"),
    };
    let dir = path.parent().map_or_else(|| cwd.to_path_buf(), Path::to_path_buf);
    if to_stdout {
        let text = compose::render(&export, cwd, compose::Dockerfiles::Inline);
        files.push((None, text));
        summary.push("the compose file is on stdout; `.env.example` was not written (use `-o FILE`)".to_owned());
        if export.services.iter().any(|c| matches!(c.image, shared::Image::Build { dockerfile: Some(_), .. })) {
            summary.push(
                "on stdout the Dockerfiles are inline (`dockerfile_inline`), which only BuildKit builds; `-o FILE` writes them as files any engine builds"
                    .to_owned(),
            );
        }
    } else {
        files.push((Some(path), compose::render(&export, &dir, compose::Dockerfiles::Beside)));
        for c in &export.services {
            if let shared::Image::Build { dockerfile: Some(text), .. } = &c.image {
                files.push((Some(dir.join(compose::dockerfile_name(c))), text.clone()));
            }
        }
        dockerignores(&export, &mut files);
        if !export.secrets.is_empty() {
            files.push((Some(dir.join(".env.example")), compose::env_example(&export)));
            summary.push("copy `.env.example` to `.env` beside the compose file and fill in the secrets".to_owned());
        }
    }
    Ok((export, files, Notes { warnings: Vec::new(), info: Vec::new(), summary }))
}

/// A `.dockerignore` for each generated Dockerfile's build context (the service's folder) that
/// has none: the classic builder, which compose uses against Podman, and Podman's own read only
/// the one at the context's root (a `<name>.Dockerfile.dockerignore` beside the Dockerfile is
/// BuildKit's alone). One the project has is kept (`shared` warns about what it lets in).
fn dockerignores(export: &shared::Export, files: &mut Files) {
    for c in &export.services {
        let shared::Image::Build { context, dockerfile: Some(_), .. } = &c.image else { continue };
        let path = context.join(".dockerignore");
        if !path.exists() {
            files.push((Some(path), node::dockerignore_for(context)));
        }
    }
}

/// One manifest per object in `k8s/` (or the folder given).
fn k8s_files(
    stack: &crate::config::Stack,
    plan: &plan::Plan,
    output: Option<&Path>,
    cwd: &Path,
) -> Result<(shared::Export, Files, Notes)> {
    let export = shared::build(stack, plan, shared::Target::K8s)?;
    let dir = output.map_or_else(|| stack.dir.join("k8s"), |o| cwd.join(o));
    let mut warnings = Vec::new();
    let mut files: Files = k8s::render(&export, &dir, &mut warnings)
        .into_iter()
        .map(|(name, text)| (Some(dir.join(name)), text))
        .collect();
    dockerignores(&export, &mut files);
    let mut summary = Vec::new();
    if export.services.iter().any(|c| matches!(c.image, shared::Image::Build { .. })) {
        summary.push("build the images named in each manifest's header before `kubectl apply`".to_owned());
    }
    if !export.secrets.is_empty() {
        summary.push(format!(
            "fill in `{}` (keys only) or create Secret `{}-secrets` from your .env",
            dir.join("secret.yaml").display(),
            export.name
        ));
    }
    let mut notes = vec![
        "Kubernetes restarts every container of a Deployment; `restart` and `max_restarts` are not carried".to_owned(),
    ];
    if export.services.iter().any(|c| c.task) {
        notes.push(
            "a task is a Job: `restart = \"on-failure\"` and `max_restarts` become its `backoffLimit`".to_owned(),
        );
    }
    Ok((export, files, Notes { warnings, info: notes, summary }))
}

fn write(path: &Path, text: &str) -> Result<()> {
    let fail = |e: std::io::Error| {
        Error::failed(format!("cannot write `{}`", path.display())).cause(e).hint("check that the folder is writable")
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    std::fs::write(path, text).map_err(fail)
}
