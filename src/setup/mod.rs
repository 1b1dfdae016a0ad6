//! `agui-dev setup`, and the missing parts of set-up that `up` and `smoke` run by themselves.
//!
//! For each litellm service: a venv with the pinned `litellm[proxy]` (the `requirements.txt` next
//! to its config, else the pins embedded in agui-dev; hashes required; a venv that misses one of
//! those pins, as after the pins changed, counts as missing), installed by `uv` with bytecode compiled (without it every
//! start re-imports LiteLLM from source: about 10 s instead of 6 s where PYTHONDONTWRITEBYTECODE
//! is set), then checked against the known-compromised releases (a requirements file pinning one
//! is refused before anything is installed). uv is taken from PATH, else
//! installed from PyPI into `.agui-dev/tools/uv`; pip is the fallback when uv cannot be had, or
//! when `AGUI_DEV_NO_UV` is set.
//!
//! pip installs the pins with `--no-deps`: a hashed requirements file already lists every
//! dependency (pip refuses an unhashed one), and pip's resolver (23.x, as in Debian's and pyenv's
//! Python 3.11) refuses a complete, uv-compiled file with "all requirements must have their
//! versions pinned with ==" for a dependency's extra (`httpx[http2]` from litellm), though the
//! packages that extra brings are pinned. `pip check` then confirms that the pins fit together.
//! For each service folder with a `package.json` and no `node_modules`: an install with the
//! project's own package manager (`node`: `npm ci`, pnpm, yarn; workspaces at their root).
//! All steps run at once; a lock file keeps two agui-dev runs from installing into one venv.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub mod node;

use crate::cli::Cli;
use crate::config::Stack;
use crate::error::{Error, Result};
use crate::kinds::litellm::{self, advisories, venv};
use crate::output::short;
use crate::output::{Key, Level, Msg, Style};
use crate::system::program::which;
use crate::system::reaper::Reaper;
use crate::system::run::capture;
use node::NodeInstall;

/// The uv release fetched from PyPI when none is on PATH.
const UV_VERSION: &str = "0.13.9";

/// Set (not empty, not `0`): no uv, neither from PATH nor fetched; pip installs.
const NO_UV: &str = "AGUI_DEV_NO_UV";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `agui-dev setup`: (re)install the pinned LiteLLM, `npm ci` where `node_modules` is missing.
    Everything,
    /// `up`/`smoke`: only what is missing.
    Missing,
    /// `--no-setup`: a missing piece is an error.
    Forbid,
}

impl Mode {
    /// Before `up` or `smoke` runs the stack: what is missing, unless `--no-setup` forbids it.
    pub fn before_run(no_setup: bool) -> Self {
        if no_setup { Self::Forbid } else { Self::Missing }
    }
}

enum Step {
    Venv { venv: PathBuf, requirements: Option<PathBuf> },
    Node(NodeInstall),
}

impl Step {
    fn describe(&self, dir: &Path) -> String {
        match self {
            Step::Venv { venv, .. } => format!("LiteLLM into `{}`", relative(venv, dir)),
            Step::Node(job) => format!("node modules in `{}` ({})", relative(&job.root, dir), job.manager.name()),
        }
    }
}

pub async fn run(cli: &Cli) -> Result<()> {
    let stack = crate::session::load_stack(cli)?;
    let reaper = Reaper::start().map_err(|err| Error::failed("cannot supervise child processes").cause(err))?;
    let done = ensure(cli, Style::RESULT, &stack, &[], Mode::Everything, &reaper).await?;
    if done == 0 {
        let printer = crate::session::printer(cli, Style::RESULT, &[], None, Vec::new())?;
        printer.out().status(Level::Success, "everything is set up").await;
        printer.finish();
    }
    Ok(())
}

/// Runs the set-up steps the selected services (all when empty) need; returns how many ran. Its
/// lines are shown as the calling command shows its own (`style`), without timestamps.
pub async fn ensure(
    cli: &Cli,
    style: Style,
    stack: &Stack,
    selected: &[String],
    mode: Mode,
    reaper: &Reaper,
) -> Result<usize> {
    // Another agui-dev may be setting up the same venv or folders: wait for it, then look.
    let _lock = lock()?;
    let steps = steps(stack, selected, mode);
    if steps.is_empty() {
        return Ok(0);
    }
    if mode == Mode::Forbid {
        let missing: Vec<String> = steps.iter().map(|s| s.describe(&stack.dir)).collect();
        return Err(Error::usage(format!("set-up is missing: {}", missing.join(", ")))
            .hint("run `agui-dev setup`, or drop `--no-setup` to let agui-dev do it"));
    }
    let labels: Vec<String> = steps.iter().map(|s| s.describe(&stack.dir)).collect();
    let printer = crate::session::printer(cli, Style { timestamps: false, ..style }, &labels, None, Vec::new())?;
    let out = printer.out();
    if mode == Mode::Missing {
        out.status(Level::Info, format!("setting up what is missing: {}", labels.join(", "))).await;
    }
    let mut tasks = Vec::new();
    for (index, step) in steps.into_iter().enumerate() {
        let (out, reaper, dir, label) = (out.clone(), reaper.clone(), stack.dir.clone(), labels[index].clone());
        tasks.push(tokio::spawn(async move {
            out.send(Msg::Waiting { key: Key::Setup(index), what: format!("installing {label}") }).await;
            let started = Instant::now();
            let result = match &step {
                Step::Venv { venv, requirements } => {
                    install_litellm(&reaper, &dir, venv, requirements.as_deref()).await
                }
                Step::Node(job) => node::install(&reaper, &dir, job).await,
            };
            let took = short(started.elapsed());
            let (level, text) = match &result {
                Ok(what) => (Level::Success, format!("{label}: {what} ({took})")),
                Err(_) => (Level::Error, format!("{label}: failed after {took}")),
            };
            out.send(Msg::Done { key: Key::Setup(index), level, text }).await;
            result
        }));
    }
    let mut first_error = None;
    let count = tasks.len();
    for task in tasks {
        let result = task.await.unwrap_or_else(|err| Err(Error::failed("a set-up step panicked").cause(err)));
        if let Err(error) = result {
            first_error.get_or_insert(error);
        }
    }
    drop(out);
    printer.finish();
    first_error.map_or(Ok(count), Err)
}

fn steps(stack: &Stack, selected: &[String], mode: Mode) -> Vec<Step> {
    let mut steps = Vec::new();
    for service in stack.services.iter().filter(|s| selected.is_empty() || selected.contains(&s.name)) {
        if service.kind == Some(litellm::KIND) && service.command.is_none() {
            let venv = litellm::venv_of(service, &stack.dir);
            let requirements = litellm::keys(service)
                .config
                .as_ref()
                .and_then(|c| c.parent())
                .map(|d| d.join("requirements.txt"))
                .filter(|r| r.is_file());
            // A venv made from older pins (before the OpenTelemetry SDK joined them, say) is
            // installed again: the pins are what the config's callbacks rely on.
            let pins = match &requirements {
                Some(file) => std::fs::read_to_string(file).unwrap_or_default(),
                None => String::from_utf8_lossy(crate::embedded::litellm_requirements()).into_owned(),
            };
            let installed = venv.join("bin/litellm").is_file()
                && venv::distribution(&venv, "litellm").is_some()
                && venv::unmet_pins(&venv, &pins).is_empty();
            let already = steps.iter().any(|s| matches!(s, Step::Venv { venv: v, .. } if *v == venv));
            if (mode == Mode::Everything || !installed) && !already {
                steps.push(Step::Venv { venv, requirements });
            }
        }
        let node = service.kind != Some(litellm::KIND) || service.command.is_some();
        if let Some(job) = node::needed(&service.cwd, &stack.dir).filter(|_| node) {
            // A workspace is installed once, at its root, for all its services.
            let already = steps.iter().any(|s| matches!(s, Step::Node(other) if other.root == job.root));
            if !already {
                steps.push(Step::Node(job));
            }
        }
    }
    steps
}

async fn install_litellm(reaper: &Reaper, dir: &Path, venv: &Path, requirements: Option<&Path>) -> Result<String> {
    // Before anything runs (no venv, no uv fetched, no pip): a compromised release does its
    // harm when installed, so the refusal cannot wait for the check after the install.
    if let Some(file) = requirements {
        refuse_compromised_pin(file, dir)?;
    }
    let python = which("python3").ok_or_else(|| {
        Error::failed("`python3` was not found on PATH").hint("install Python 3.10-3.14 (3.11 is tested) and try again")
    })?;
    // A project without its own pins gets the ones embedded in agui-dev, hashes still required.
    let embedded = match requirements {
        Some(_) => None,
        None => Some(crate::embedded::write_litellm_requirements(dir).map_err(|err| {
            Error::failed("cannot write the embedded LiteLLM requirements")
                .cause(err)
                .hint("check that the folder is writable")
        })?),
    };
    let file = requirements.or(embedded.as_deref()).unwrap_or(Path::new("requirements.txt"));
    let install_args: Vec<String> = vec!["--require-hashes".into(), "-r".into(), file.to_string_lossy().into_owned()];
    let uv = find_or_fetch_uv(reaper, dir, &python).await;
    if let Some(uv) = &uv {
        if !venv.join("bin/python").exists() {
            let mut create = Command::new(uv);
            create.args(["venv", "--allow-existing", "--python"]).arg(&python).arg(venv);
            run_step(reaper, &mut create, "uv venv").await?;
        }
        let mut install = Command::new(uv);
        install
            .args(["pip", "install", "--compile-bytecode", "--python"])
            .arg(venv.join("bin/python"))
            .args(&install_args);
        run_step(reaper, &mut install, "uv pip install").await?;
    } else {
        if !venv.join("bin/python").exists() {
            let mut create = Command::new(&python);
            create.args(["-m", "venv"]).arg(venv);
            run_step(reaper, &mut create, "python3 -m venv").await?;
        }
        let mut install = Command::new(venv.join("bin/python"));
        install
            .args(["-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--no-deps"])
            .args(&install_args);
        run_step(reaper, &mut install, "pip install").await?;
        pip_check(reaper, venv, file, dir).await?;
        for site in venv::site_packages(venv) {
            let mut compile = Command::new(venv.join("bin/python"));
            compile.args(["-m", "compileall", "-q"]).arg(site);
            run_step(reaper, &mut compile, "compileall").await?;
        }
    }
    let mut installed = verify_litellm(venv)?;
    if uv.is_none() {
        installed.push_str(" with pip");
    }
    Ok(if embedded.is_some() { format!("{installed} (agui-dev's embedded pins)") } else { installed })
}

/// After `pip install --no-deps`: every installed package's requirements are met, or an error
/// names what the pins left out.
async fn pip_check(reaper: &Reaper, venv: &Path, requirements: &Path, dir: &Path) -> Result<()> {
    let mut check = Command::new(venv.join("bin/python"));
    check.args(["-m", "pip", "check", "--disable-pip-version-check"]);
    let output = capture(reaper, &mut check, None).await.map_err(|e| Error::failed("`pip check` failed").cause(e))?;
    if output.status.success() {
        return Ok(());
    }
    let combined = output.combined();
    let lines: Vec<&str> = combined.lines().take(15).collect();
    Err(Error::failed(format!(
        "the packages pinned in `{}` do not fit together (`pip check`)",
        relative(requirements, dir)
    ))
    .cause(format!("its findings:\n    {}", lines.join("\n    ")))
    .hint(
        "pin every dependency with hashes, the extras' too: compile the file with          `uv pip compile requirements.in --generate-hashes -o requirements.txt`;          or remove the venv if it holds packages from an older install",
    ))
}

/// A requirements file that pins a compromised litellm is refused, naming the file and line.
fn refuse_compromised_pin(file: &Path, dir: &Path) -> Result<()> {
    let text = std::fs::read_to_string(file).map_err(|err| {
        Error::failed(format!("cannot read `{}`", relative(file, dir)))
            .cause(err)
            .hint("check that the file exists and is readable")
    })?;
    let Some((line, version)) = advisories::litellm_pin(&text) else {
        return Ok(());
    };
    let Some(advisory) = advisories::compromised(&version) else {
        return Ok(());
    };
    Err(Error::usage(format!(
        "`litellm=={version}` is a compromised release ({}: {}); nothing was installed",
        advisory.name(),
        advisory.summary
    ))
    .at(crate::error::Location { file: relative(file, dir), line, column: 1 })
    .hint(
        "pin a safe release with hashes, such as agui-dev's own `templates/litellm/requirements.txt`, \
         or delete this file to use the pins built into agui-dev",
    ))
}

/// The installed litellm must be there, and must not be a compromised release or have left its hook.
pub fn verify_litellm(venv: &Path) -> Result<String> {
    let dist = venv::distribution(venv, "litellm").ok_or_else(|| {
        Error::failed(format!("litellm is not installed in `{}` after set-up", venv.display()))
            .hint("remove the venv and run `agui-dev setup` again")
    })?;
    if let Some(advisory) = advisories::compromised(&dist.version) {
        return Err(Error::failed(format!(
            "litellm {} is a compromised release ({}: {})",
            dist.version, advisory.id, advisory.summary
        ))
        .hint("delete the venv, rotate every key it could read, and install a pinned safe version"));
    }
    if let Some(hook) = venv::stray_init_hooks(venv).first() {
        return Err(Error::failed(format!("`{}` is the start-up hook of a compromised litellm", hook.display()))
            .hint("delete the venv, rotate every key it could read, and run `agui-dev setup`"));
    }
    Ok(format!("litellm {} installed", dist.version))
}

/// uv from PATH, or from `.agui-dev/tools/uv`, fetched from PyPI with pip if needed; none when
/// `AGUI_DEV_NO_UV` says so.
async fn find_or_fetch_uv(reaper: &Reaper, dir: &Path, python: &Path) -> Option<PathBuf> {
    if std::env::var_os(NO_UV).is_some_and(|v| !v.is_empty() && v != "0") {
        return None;
    }
    if let Some(uv) = which("uv") {
        return Some(uv);
    }
    let target = dir.join(".agui-dev/tools/uv");
    let uv = target.join("bin/uv");
    if uv.is_file() {
        return Some(uv);
    }
    let mut fetch = Command::new(python);
    fetch
        .args(["-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--target"])
        .arg(&target)
        .arg(format!("uv=={UV_VERSION}"));
    match capture(reaper, &mut fetch, None).await {
        Ok(output) if output.status.success() && uv.is_file() => Some(uv),
        _ => None,
    }
}

async fn run_step(reaper: &Reaper, command: &mut Command, what: &str) -> Result<()> {
    let output =
        capture(reaper, command, None).await.map_err(|e| Error::failed(format!("`{what}` failed")).cause(e))?;
    if output.status.success() {
        return Ok(());
    }
    let combined = output.combined();
    let lines: Vec<&str> = combined.lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n    ");
    Err(Error::failed(format!("`{what}` {}", output.status))
        .cause(format!("its last lines:\n    {tail}"))
        .hint("fix the cause above (network, disk, Python or Node version) and run `agui-dev setup` again"))
}

/// Serialises set-up between agui-dev processes: one machine-wide lock, because stacks in
/// different folders can share a venv or a service folder.
fn lock() -> Result<nix::fcntl::Flock<std::fs::File>> {
    let path = std::env::temp_dir().join("agui-dev-setup.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|err| Error::failed(format!("cannot create `{}`", path.display())).cause(err))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, err)| Error::failed(format!("cannot lock `{}`", path.display())).cause(err))
}

fn relative(path: &Path, dir: &Path) -> String {
    let shown = path.strip_prefix(dir).unwrap_or(path).display().to_string();
    if shown.is_empty() { ".".to_owned() } else { shown }
}
