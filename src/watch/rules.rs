//! The watcher's decisions, without files or clocks of its own: which changed paths belong to
//! which service (its `watch` globs minus `watch_ignore` and the built-in excludes), which folders
//! to watch, which files reload the stack, and when a service restarts itself in a loop.

use std::collections::{HashMap, VecDeque};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::config::{self, Stack};
use crate::kinds;
use crate::plan::{Plan, ServicePlan};

/// Folders whose files never restart a service: dependencies, virtual environments, VCS data,
/// agui-dev's own logs, build output, bytecode. A tool writing there must not restart anything.
pub const EXCLUDED: [&str; 6] = ["node_modules", ".venv", ".git", ".agui-dev", "dist", "__pycache__"];

/// The quiet period after the last change before acting on a burst of changes.
pub const DEBOUNCE: Duration = Duration::from_millis(300);
/// A burst that never pauses is acted on this long after its first change.
pub const DEBOUNCE_CAP: Duration = Duration::from_secs(2);

/// More restarts than `LOOP_LIMIT` from one service's own watch within `LOOP_WINDOW` is a loop:
/// most likely the service writes a file it watches.
pub const LOOP_LIMIT: usize = 5;
pub const LOOP_WINDOW: Duration = Duration::from_secs(10);

/// Whether a path (relative to where globs start) runs through an excluded folder.
pub fn excluded(relative: &Path) -> bool {
    relative.components().any(|c| matches!(c, Component::Normal(name) if EXCLUDED.iter().any(|e| name == *e)))
}

/// One service's `watch` and `watch_ignore`, compiled.
pub struct ServiceGlobs {
    pub name: String,
    pub cwd: PathBuf,
    include: GlobSet,
    ignore: GlobSet,
    /// The folders to watch: each glob's literal leading folders (`src` for `src/**/*.py`).
    pub roots: Vec<PathBuf>,
}

impl ServiceGlobs {
    /// `None` for a service that watches nothing. The globs were checked when the file was read.
    pub fn of(service: &ServicePlan) -> Option<ServiceGlobs> {
        if service.watch.is_empty() {
            return None;
        }
        let set = |globs: &[String]| {
            let mut builder = GlobSetBuilder::new();
            for glob in globs {
                if let Ok(glob) = Glob::new(glob) {
                    builder.add(glob);
                }
            }
            builder.build().unwrap_or_else(|_| GlobSet::empty())
        };
        let mut roots: Vec<PathBuf> = service.watch.iter().map(|g| service.cwd.join(literal_prefix(g))).collect();
        roots.sort();
        roots.dedup();
        Some(ServiceGlobs {
            name: service.name.clone(),
            cwd: service.cwd.clone(),
            include: set(&service.watch),
            ignore: set(&service.watch_ignore),
            roots,
        })
    }

    /// Whether a change to `path` restarts this service.
    pub fn matches(&self, path: &Path) -> bool {
        let Ok(relative) = path.strip_prefix(&self.cwd) else { return false };
        !excluded(relative) && self.include.is_match(relative) && !self.ignore.is_match(relative)
    }
}

/// The folders of a glob before its first wildcard: `src/app` for `src/app/**/*.py`.
pub fn literal_prefix(glob: &str) -> PathBuf {
    let mut prefix = PathBuf::new();
    let parts: Vec<&str> = glob.split('/').collect();
    // The last part names files, so it never counts as a folder.
    for part in &parts[..parts.len().saturating_sub(1)] {
        if part.contains(['*', '?', '[', '{']) {
            break;
        }
        prefix.push(part);
    }
    prefix
}

/// The files whose change reloads the stack: the stack file, every env file it lists, and the
/// kinds' own configuration files (the LiteLLM `config`).
pub fn config_files(stack: &Stack) -> Vec<PathBuf> {
    let mut files = vec![stack.source.path.clone()];
    files.extend(stack.env_files.iter().cloned());
    files.extend(kind_configs(stack).into_iter().map(|(file, _)| file));
    files.sort();
    files.dedup();
    files
}

/// The kinds' own config files and the services that read them: a change there restarts the
/// service although its definition (which names only the path) is the same.
pub fn kind_configs(stack: &Stack) -> Vec<(PathBuf, String)> {
    let files = |s: &config::Service| s.kind.and_then(kinds::of).map(|kind| kind.config_files(s)).unwrap_or_default();
    stack.services.iter().flat_map(|s| files(s).into_iter().map(|file| (file, s.name.clone()))).collect()
}

/// The services whose globs match any of `paths`, in plan order.
pub fn services_hit(globs: &[ServiceGlobs], paths: &[PathBuf]) -> Vec<String> {
    globs.iter().filter(|g| paths.iter().any(|p| g.matches(p))).map(|g| g.name.clone()).collect()
}

/// The ports chosen for `port = "auto"` services, to keep them across a reload.
pub fn auto_ports(plan: &Plan) -> std::collections::BTreeMap<String, u16> {
    plan.services.iter().filter(|s| s.port_auto).filter_map(|s| Some((s.name.clone(), s.port?))).collect()
}

/// Counts each service's restarts caused by its own watch, to catch a restart loop.
#[derive(Default)]
pub struct LoopGuard {
    seen: HashMap<String, VecDeque<Instant>>,
}

impl LoopGuard {
    /// Records a watch restart of `service` at `now`; true when that makes it a loop.
    pub fn note(&mut self, service: &str, now: Instant) -> bool {
        let times = self.seen.entry(service.to_owned()).or_default();
        times.push_back(now);
        while times.front().is_some_and(|t| now.duration_since(*t) > LOOP_WINDOW) {
            times.pop_front();
        }
        times.len() > LOOP_LIMIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(watch: &[&str], ignore: &[&str]) -> ServiceGlobs {
        let plan = ServicePlan {
            name: "api".to_owned(),
            kind: None,
            command: vec!["true".to_owned()],
            cwd: PathBuf::from("/p/api"),
            env: std::collections::BTreeMap::new(),
            own_env: Vec::new(),
            withheld: Vec::new(),
            port: None,
            port_auto: false,
            task: false,
            watch: watch.iter().map(|g| (*g).to_owned()).collect(),
            watch_ignore: ignore.iter().map(|g| (*g).to_owned()).collect(),
            url: None,
            ready: None,
            ready_timeout: Duration::from_secs(1),
            depends_on: Vec::new(),
            restart: crate::config::Restart::No,
            max_restarts: 0,
            stop_signal: nix::sys::signal::Signal::SIGTERM,
            stop_grace: Duration::from_secs(1),
            wave: 0,
        };
        ServiceGlobs::of(&plan).unwrap()
    }

    #[test]
    fn globs_match_relative_to_cwd_minus_ignores_and_excludes() {
        let globs = service(&["src/**/*.py", "*.toml"], &["src/generated/**"]);
        assert!(globs.matches(Path::new("/p/api/src/app.py")));
        assert!(globs.matches(Path::new("/p/api/src/a/b/c.py")));
        assert!(globs.matches(Path::new("/p/api/pyproject.toml")));
        assert!(!globs.matches(Path::new("/p/api/src/app.js")));
        assert!(!globs.matches(Path::new("/p/api/src/generated/x.py")), "watch_ignore");
        assert!(!globs.matches(Path::new("/p/api/src/__pycache__/app.py")), "built-in exclude");
        assert!(!globs.matches(Path::new("/p/other/src/app.py")), "outside cwd");
        let everything = service(&["**/*"], &[]);
        assert!(everything.matches(Path::new("/p/api/index.ts")));
        for folder in EXCLUDED {
            assert!(!everything.matches(&Path::new("/p/api").join(folder).join("x.js")), "{folder}");
        }
    }

    #[test]
    fn roots_are_the_literal_folders_of_each_glob() {
        assert_eq!(literal_prefix("src/**/*.py"), PathBuf::from("src"));
        assert_eq!(literal_prefix("src/app/main.py"), PathBuf::from("src/app"));
        assert_eq!(literal_prefix("**/*.ts"), PathBuf::new());
        assert_eq!(literal_prefix("*.toml"), PathBuf::new());
        assert_eq!(
            service(&["src/**/*.py", "lib/*.py"], &[]).roots,
            [PathBuf::from("/p/api/lib"), "/p/api/src".into()]
        );
    }

    #[test]
    fn only_the_services_whose_globs_match_are_hit() {
        let globs = vec![service(&["src/**"], &[])];
        assert_eq!(services_hit(&globs, &[PathBuf::from("/p/api/src/x")]), ["api"]);
        assert!(services_hit(&globs, &[PathBuf::from("/p/api/node_modules/src/x")]).is_empty());
    }

    #[test]
    fn the_stack_file_env_files_and_the_litellm_config_reload_the_stack() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stack.toml");
        std::fs::write(
            &file,
            "[stack]\nenv_files = [\".env\"]\n\n[services.proxy]\nkind = \"litellm\"\nconfig = \"proxy.yaml\"\nport = \"auto\"\n\n[services.web]\ncommand = \"true\"\nenv_files = [\"web.env\"]\n",
        )
        .unwrap();
        let stack = crate::kinds::load(&file).unwrap();
        let at = |name: &str| dir.path().join(name);
        let mut expected = vec![at(".env"), at("proxy.yaml"), file.clone(), at("web.env")];
        expected.sort();
        assert_eq!(config_files(&stack), expected);
        assert_eq!(kind_configs(&stack), [(at("proxy.yaml"), "proxy".to_owned())]);
        // A reload keeps the port chosen for `port = "auto"`.
        let port = stack.services[0].port.unwrap();
        let kept = std::collections::BTreeMap::from([("proxy".to_owned(), port)]);
        assert_eq!(crate::kinds::load_keeping(&file, &kept).unwrap().services[0].port, Some(port));
    }

    #[test]
    fn a_restart_loop_is_more_than_the_limit_within_the_window() {
        let mut guard = LoopGuard::default();
        let start = Instant::now();
        for i in 0..LOOP_LIMIT {
            assert!(!guard.note("api", start + Duration::from_millis(400) * u32::try_from(i).unwrap()));
        }
        assert!(guard.note("api", start + Duration::from_secs(2)));
        // Other services count on their own, and restarts spread out over time are no loop.
        assert!(!guard.note("web", start));
        let mut slow = LoopGuard::default();
        for i in 0..20 {
            assert!(!slow.note("api", start + LOOP_WINDOW / 2 * i));
        }
    }
}
