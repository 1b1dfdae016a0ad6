//! Reload on change, while `up` runs: the stack file, its env files and the kinds' own config
//! files are watched, and so are the files a service names in `watch`.
//!
//! Theory of operation: notify sends changed paths to one task, which acts 300 ms after the last
//! change of a burst (`rules::DEBOUNCE`; at most `rules::DEBOUNCE_CAP` after the first, so a file
//! written without pause still gets its restart). Reads are not changes: notify also reports
//! every open of a file, and a service that reads its own sources would otherwise restart itself
//! forever; that is why the debounce is ours and not notify-debouncer-mini's, which drops the
//! kind of event. A batch that touches a config file
//! reads the stack again (`kinds::load_keeping` keeps the ports chosen for `port = "auto"`,
//! `plan::build_again` the run marker and generated key) and hands the new plan to the
//! supervisor's `Control::apply`, which restarts what changed and its dependents, starts what was
//! added and stops what was removed; a file that does not read prints its located error and
//! nothing is touched. A batch that matches a service's globs restarts it (and its dependents)
//! with `Control::restart`. This module only decides and asks; the supervisor does the work.
//!
//! Folders are watched one by one (inotify is not recursive), skipping the built-in excludes, so
//! a `node_modules` with thousands of folders costs nothing; a folder created later is added
//! when its creation is seen.

pub mod rules;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant as TokioInstant;

use crate::config::Stack;
use crate::error::{Error, Result};
use crate::kinds;
use crate::output::{Level, Out};
use crate::plan::{self, Plan};
use crate::supervise::Control;
use crate::supervise::change;
use rules::{LoopGuard, ServiceGlobs};

/// Whether `up` watches: not with `--no-watch`, and not when `CI` is set (CI runs once).
pub fn enabled(no_watch: bool) -> bool {
    !no_watch && std::env::var_os("CI").is_none_or(|v| v.is_empty())
}

/// What the watching task needs; it runs until the supervisor ends.
pub struct Watch {
    pub plan: Arc<Plan>,
    pub control: Control,
    pub out: Out,
}

/// Starts watching; the returned task ends when aborted (when `up` ends).
pub fn start(stack: &Stack, watch: Watch) -> Result<tokio::task::JoinHandle<()>> {
    let (tx, rx) = mpsc::unbounded_channel::<Vec<PathBuf>>();
    let notify = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // A watch error (e.g. too many inotify watches) only costs reloads; the stack runs on.
        if let Ok(event) = event
            && !matches!(event.kind, EventKind::Access(_))
        {
            let _ = tx.send(event.paths);
        }
    })
    .map_err(|err| {
        Error::failed("cannot watch files for changes")
            .cause(err)
            .hint("run `up --no-watch`, or raise `fs.inotify.max_user_instances`")
    })?;
    let mut watcher = Folders { notify, folders: HashSet::new() };
    let config_files = rules::config_files(stack);
    let globs: Vec<ServiceGlobs> = watch.plan.services.iter().filter_map(ServiceGlobs::of).collect();
    watcher.watch_config(&config_files);
    watcher.watch_services(&globs);
    let state = Reloader {
        stack_file: stack.source.path.clone(),
        plan: watch.plan,
        control: watch.control,
        out: watch.out,
        config_files,
        kind_configs: rules::kind_configs(stack),
        globs,
        guard: LoopGuard::default(),
        suspended: HashSet::new(),
        watcher,
    };
    Ok(tokio::spawn(state.run(rx)))
}

/// The notify watcher and the folders it watches.
struct Folders {
    notify: RecommendedWatcher,
    folders: HashSet<PathBuf>,
}

impl Folders {
    fn add(&mut self, folder: &Path) {
        if self.folders.insert(folder.to_path_buf()) && self.notify.watch(folder, RecursiveMode::NonRecursive).is_err()
        {
            self.folders.remove(folder);
        }
    }

    /// Editors replace a file (write a new one, rename it over), so the folder is watched.
    fn watch_config(&mut self, files: &[PathBuf]) {
        for file in files {
            if let Some(folder) = file.parent() {
                self.add(folder);
            }
        }
    }

    fn watch_services(&mut self, globs: &[ServiceGlobs]) {
        for service in globs {
            for root in &service.roots {
                self.walk(&service.cwd, root);
            }
        }
    }

    /// Watches `folder` and the folders below it, skipping the excluded ones.
    fn walk(&mut self, cwd: &Path, folder: &Path) {
        let mut stack = vec![folder.to_path_buf()];
        while let Some(folder) = stack.pop() {
            if rules::excluded(folder.strip_prefix(cwd).unwrap_or(&folder)) || !folder.is_dir() {
                continue;
            }
            self.add(&folder);
            if let Ok(entries) = std::fs::read_dir(&folder) {
                stack.extend(entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()));
            }
        }
    }
}

struct Reloader {
    stack_file: PathBuf,
    plan: Arc<Plan>,
    control: Control,
    out: Out,
    config_files: Vec<PathBuf>,
    kind_configs: Vec<(PathBuf, String)>,
    globs: Vec<ServiceGlobs>,
    guard: LoopGuard,
    /// Services whose watch was suspended after a restart loop.
    suspended: HashSet<String>,
    watcher: Folders,
}

impl Reloader {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Vec<PathBuf>>) {
        while let Some(mut paths) = rx.recv().await {
            // The burst goes on until it has been quiet for the debounce period.
            let cap = TokioInstant::now() + rules::DEBOUNCE_CAP;
            loop {
                let quiet = (TokioInstant::now() + rules::DEBOUNCE).min(cap);
                match tokio::time::timeout_at(quiet, rx.recv()).await {
                    Ok(Some(more)) => paths.extend(more),
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            paths.sort();
            paths.dedup();
            self.follow_new_folders(&paths);
            if let Some(file) = paths.iter().find(|p| self.config_files.contains(p)) {
                let shown = file.strip_prefix(&self.plan.dir).unwrap_or(file).display().to_string();
                if self.reload(&shown).await {
                    self.restart_config_readers(&paths).await;
                }
            }
            self.restart_watchers(&paths).await;
        }
    }

    /// A folder created under a watched root is watched too.
    fn follow_new_folders(&mut self, paths: &[PathBuf]) {
        let new: Vec<&PathBuf> = paths.iter().filter(|p| p.is_dir() && !self.watcher.folders.contains(*p)).collect();
        for path in new {
            if let Some(service) = self.globs.iter().find(|g| g.roots.iter().any(|r| path.starts_with(r))) {
                self.watcher.walk(&service.cwd, path);
            }
        }
    }

    /// Restarts the services whose kind's config file (the LiteLLM `config`) is among `paths`.
    async fn restart_config_readers(&mut self, paths: &[PathBuf]) {
        let mut names: Vec<String> =
            self.kind_configs.iter().filter(|(file, _)| paths.contains(file)).map(|(_, name)| name.clone()).collect();
        names.dedup();
        if names.is_empty() {
            return;
        }
        let shown = names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
        self.out.status(Level::Info, format!("its config file changed; restarting {shown}")).await;
        if let Err(error) = self.control.restart(&names, true).await {
            self.out.status(Level::Error, format!("restart of {shown} failed: {error}")).await;
        }
    }

    /// Reads the stack again; applies it when it reads, else says why and touches nothing.
    /// True when the new stack runs.
    async fn reload(&mut self, changed: &str) -> bool {
        let fresh = kinds::load_keeping(&self.stack_file, &rules::auto_ports(&self.plan))
            .and_then(|stack| Ok((plan::build_again(&stack, &self.plan)?, stack)));
        let (fresh, stack) = match fresh {
            Ok(fresh) => fresh,
            Err(error) => {
                let text = format!(
                    "`{changed}` changed but the stack does not read; nothing was restarted\n{}",
                    error.redacted(&self.plan.secrets).render(false)
                );
                self.out.status(Level::Warn, text).await;
                return false;
            }
        };
        let diff = change::between(&self.plan, &fresh);
        if diff.changed.is_empty() && diff.added.is_empty() && diff.removed.is_empty() {
            self.out.status(Level::Info, format!("`{changed}` changed; no service's definition did")).await;
        } else {
            let mut parts = Vec::new();
            let names = |names: Vec<&String>| names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
            if !diff.changed.is_empty() {
                parts.push(format!("restarting {}", names(diff.changed.iter().map(|c| &c.name).collect())));
            }
            if !diff.added.is_empty() {
                parts.push(format!("starting {}", names(diff.added.iter().collect())));
            }
            if !diff.removed.is_empty() {
                parts.push(format!("stopping {}", names(diff.removed.iter().collect())));
            }
            self.out.status(Level::Info, format!("`{changed}` changed: {}", parts.join("; "))).await;
        }
        // The files to watch follow the new file at once (a fixed edit must be seen even when
        // this one is refused); the plan only once the supervisor runs it.
        self.config_files = rules::config_files(&stack);
        self.kind_configs = rules::kind_configs(&stack);
        self.watcher.watch_config(&self.config_files);
        let fresh = Arc::new(fresh);
        match self.control.apply(fresh.clone()).await {
            Ok(done) => {
                self.plan = fresh;
                self.globs = self.plan.services.iter().filter_map(ServiceGlobs::of).collect();
                self.watcher.watch_services(&self.globs);
                if !(done.restarted.is_empty() && done.started.is_empty() && done.stopped.is_empty()) {
                    self.out.status(Level::Success, format!("reloaded `{changed}`")).await;
                }
                true
            }
            Err(error) => {
                self.out.status(Level::Error, format!("reload of `{changed}` failed: {error}")).await;
                false
            }
        }
    }

    /// Restarts each service whose own files changed, unless it restarts itself in a loop.
    async fn restart_watchers(&mut self, paths: &[PathBuf]) {
        let hit: Vec<String> =
            rules::services_hit(&self.globs, paths).into_iter().filter(|n| !self.suspended.contains(n)).collect();
        for name in hit {
            if self.guard.note(&name, Instant::now()) {
                self.suspended.insert(name.clone());
                let text = format!(
                    "`{name}` restarted more than {} times within {}s because its watched files changed; it \
                     probably writes one of them. Its watch is suspended (add the file to `watch_ignore`)",
                    rules::LOOP_LIMIT,
                    rules::LOOP_WINDOW.as_secs()
                );
                self.out.status(Level::Warn, text).await;
                continue;
            }
            let service = self.globs.iter().find(|g| g.name == name);
            let file = paths
                .iter()
                .find(|p| service.is_some_and(|g| g.matches(p)))
                .map(|p| p.strip_prefix(&self.plan.dir).unwrap_or(p).display().to_string())
                .unwrap_or_default();
            self.out.status(Level::Info, format!("`{file}` changed; restarting `{name}`")).await;
            if let Err(error) = self.control.restart(std::slice::from_ref(&name), true).await {
                self.out.status(Level::Error, format!("restart of `{name}` failed: {error}")).await;
            }
        }
    }
}
