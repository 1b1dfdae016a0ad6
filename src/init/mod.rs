//! `agui-dev init [DIR]`: a new project in an empty or missing folder (`scaffold`), or a stack
//! file for the project already in the folder (`adopt`).
//!
//! Rules that hold for both: a folder that already has a `stack.toml` is left alone (exit 2,
//! nothing written); no existing file is ever overwritten (files are created with `create_new`,
//! so even a file appearing meanwhile is not replaced); `--dry-run` prints the stack file on
//! stdout and the list of files on stderr, and writes nothing.

mod adopt;
mod scaffold;
mod scripts;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::cli::{Cli, InitArgs};
use crate::config::FILE_NAME;
use crate::error::{Error, Result};
use crate::output::Msg;

/// A file to write: path relative to the project folder, and its bytes.
struct NewFile {
    path: String,
    bytes: Vec<u8>,
}

pub async fn run(cli: &Cli, options: &InitArgs) -> Result<()> {
    let cwd = std::env::current_dir().map_err(|err| Error::usage("cannot read the current folder").cause(err))?;
    let dir = options.dir.as_ref().map_or_else(|| cwd.clone(), |d| cwd.join(d));
    let shown = options.dir.as_ref().map_or_else(|| ".".to_owned(), |d| d.display().to_string());
    if dir.exists() && !dir.is_dir() {
        return Err(Error::usage(format!("`{shown}` is a file, not a folder")).hint("name a folder to create or adopt"));
    }
    let existing = dir.join(FILE_NAME);
    if existing.exists() {
        return Err(Error::usage(format!("`{}` already exists; init wrote nothing", existing.display()))
            .hint("`agui-dev check` shows what it runs; to start over, move it away and run `agui-dev init` again"));
    }
    let fresh = is_empty(&dir);
    let name = options.name.clone();
    let (files, report) = if fresh {
        let name = name.unwrap_or_else(|| folder_name(&dir));
        scaffold::files(&name, options.provider)
    } else {
        adopted(&dir, name.as_deref())?
    };

    let printer = crate::session::printer(cli, crate::output::Style::RESULT, &[], None, Vec::new())?;
    let out = printer.out();
    let mut text = report;
    if options.dry_run {
        let stack = files.iter().find(|f| f.path == FILE_NAME).map(|f| String::from_utf8_lossy(&f.bytes).into_owned());
        for line in stack.unwrap_or_default().lines() {
            out.data(line.to_owned()).await;
        }
        let _ = writeln!(text, "\n--dry-run: nothing written; init would create in `{shown}`:");
    } else {
        write_all(&dir, &files)?;
        let _ = writeln!(text, "\ncreated in `{shown}`:");
    }
    // Template folders are shown as one line each: `mcp-server/ (12 files)`.
    let mut shown_folders: Vec<(&str, usize)> = Vec::new();
    for file in &files {
        match file.path.split_once('/') {
            Some((folder, _)) => match shown_folders.iter_mut().find(|(f, _)| *f == folder) {
                Some((_, count)) => *count += 1,
                None => shown_folders.push((folder, 1)),
            },
            None => {
                let _ = writeln!(text, "  {}", file.path);
            }
        }
    }
    for (folder, count) in shown_folders {
        let _ = writeln!(text, "  {folder}/ ({count} file{})", if count == 1 { "" } else { "s" });
    }
    if !options.dry_run {
        let cd = if options.dir.is_some() { format!("cd {shown} && ") } else { String::new() };
        let _ = writeln!(
            text,
            "\nnext: {cd}agui-dev up    (set-up runs on the first `up`; with no provider key the proxy answers offline)"
        );
    }
    out.send(Msg::Report(text)).await;
    drop(out);
    printer.finish();
    Ok(())
}

/// Missing, or holding nothing but version-control and editor folders.
fn is_empty(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return true };
    entries.flatten().all(|e| matches!(e.file_name().to_str(), Some(".git" | ".idea" | ".vscode" | ".DS_Store")))
}

fn folder_name(dir: &Path) -> String {
    let name = dir.file_name().map_or_else(|| "my-agent".to_owned(), |n| n.to_string_lossy().into_owned());
    if name.is_empty() || name == "." { "my-agent".to_owned() } else { name }
}

/// Adopting: the stack file, the files added for a missing LiteLLM config, and the table.
fn adopted(dir: &Path, name: Option<&str>) -> Result<(Vec<NewFile>, String)> {
    let adoption = adopt::detect(dir, name);
    if adoption.services.iter().all(|s| s.kind == "litellm")
        && adoption.services.iter().all(|s| s.why.contains("template"))
    {
        return Err(Error::usage(format!(
            "found no project to adopt in `{}`: no AG-UI or MCP package, no LiteLLM start script, config or venv",
            dir.display()
        ))
        .hint("run `agui-dev init NEW-FOLDER` for a new project, or point init at the project's folder"));
    }
    let mut files = vec![NewFile { path: FILE_NAME.to_owned(), bytes: render(&adoption).into_bytes() }];
    files.extend(adoption.add_files.iter().map(|(path, bytes)| NewFile { path: path.clone(), bytes: bytes.to_vec() }));
    Ok((files, table(&adoption)))
}

/// The adopted stack file: each service with a comment saying where each value came from.
fn render(adoption: &adopt::Adoption) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "# Written by `agui-dev init` from the project in this folder; each service says where its");
    let _ = writeln!(text, "# values came from. `agui-dev check` shows the plan, `agui-dev up` runs it.");
    let _ = writeln!(text, "\n[stack]\nname = {}    # from {}", adopt::quote(&adoption.name), adoption.name_from);
    let _ = writeln!(text, "env_files = [\".env\"]    # provider keys go here; a missing file is skipped");
    for service in &adoption.services {
        let _ = writeln!(text, "\n# `{}` (kind {}): {}", service.name, service.kind, service.why);
        for setting in &service.settings {
            let key = setting.key.trim_start_matches('#');
            let _ = writeln!(text, "#   {key:<10} {}", setting.from);
        }
        let _ = writeln!(text, "[services.{}]\nkind = \"{}\"", service.name, service.kind);
        for setting in service.settings.iter().filter(|s| !s.key.starts_with('#')) {
            let _ = writeln!(text, "{} = {}", setting.key, setting.toml);
        }
        for missing in adoption.unmapped.iter().filter(|u| u.service == service.name) {
            let _ = writeln!(text, "# not mapped: {}\n# {}", missing.what, missing.line);
        }
    }
    text
}

/// What was mapped and what was not, for people.
fn table(adoption: &adopt::Adoption) -> String {
    let mut rows = vec![("service".to_owned(), "key".to_owned(), "value".to_owned(), "from".to_owned())];
    for service in &adoption.services {
        rows.push((service.name.clone(), "kind".to_owned(), service.kind.to_owned(), service.why.clone()));
        for setting in service.settings.iter().filter(|s| !s.key.starts_with('#')) {
            rows.push((String::new(), setting.key.to_owned(), setting.toml.clone(), setting.from.clone()));
        }
    }
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    let w2 = rows.iter().map(|r| r.2.len().min(40)).max().unwrap_or(0);
    let mut text = format!("adopted `{}` ({} services):\n", adoption.name, adoption.services.len());
    for (service, key, value, from) in &rows {
        let _ = writeln!(text, "  {service:<w0$}  {key:<w1$}  {value:<w2$}  {from}");
    }
    if adoption.unmapped.is_empty() {
        text.push_str("\neverything found was mapped.\n");
    } else {
        text.push_str("\nnot mapped (the line to fill in, in stack.toml unless it says otherwise):\n");
        for missing in &adoption.unmapped {
            let _ = writeln!(text, "  {:<w0$}  {}\n  {:<w0$}    {}", missing.service, missing.what, "", missing.line);
        }
    }
    text
}

/// Writes every file, refusing to replace any; on the first error nothing more is written.
fn write_all(dir: &Path, files: &[NewFile]) -> Result<()> {
    for file in files {
        let path: PathBuf = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|err| cannot_write(&path, &err))?;
        }
        let mut handle = std::fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(|err| {
            if err.kind() == std::io::ErrorKind::AlreadyExists {
                Error::usage(format!("`{}` already exists; init never overwrites a file", path.display()))
                    .hint("move it away, or adopt the project instead of starting a new one")
            } else {
                cannot_write(&path, &err)
            }
        })?;
        handle.write_all(&file.bytes).map_err(|err| cannot_write(&path, &err))?;
    }
    Ok(())
}

fn cannot_write(path: &Path, err: &std::io::Error) -> Error {
    Error::failed(format!("cannot write `{}`", path.display())).cause(err).hint("check that the folder is writable")
}
