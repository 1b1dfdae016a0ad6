//! Installing a Node service's dependencies with the project's own package manager.
//!
//! The manager is read from the lockfile found in the service's folder or a folder above it, up
//! to the stack file's folder (a pnpm or npm workspace keeps one lockfile at its root and is
//! installed once, there): `pnpm-lock.yaml` is pnpm, `yarn.lock` yarn, `package-lock.json` npm.
//! Without a lockfile, `pnpm-workspace.yaml` or a `packageManager` field naming pnpm means pnpm,
//! anything else npm.
//!
//! pnpm comes from PATH, else it is installed with npm from the npm registry (which checks the
//! tarball against the registry's integrity hash) into `.agui-dev/tools/pnpm-VERSION` next to the
//! stack file: the version of the project's `packageManager` field, else `PNPM_VERSION`. Not
//! through corepack: Node 20 ships corepack 0.34, whose signature check fails for current pnpm
//! releases unless `COREPACK_INTEGRITY_KEYS=0` turns verification off, which agui-dev will not
//! do on a user's behalf. pnpm 10 and later skip dependencies' build scripts until they are
//! approved; agui-dev does not approve them for the user, and says which ones were skipped.
//!
//! When an install fails, the error names what the package manager named: the package and
//! version the registry does not have and the `package.json` that asks for it, or the lockfile
//! that is out of date, with the manager's own lines quoted.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::system::program::which;
use crate::system::reaper::Reaper;
use crate::system::run::capture;

/// The pnpm installed when none is on PATH and the project names none: the newest 10.x, because
/// pnpm 11 needs Node 22.13 and Node 20 is what these projects are written for.
pub const PNPM_VERSION: &str = "10.34.9";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Manager {
    Npm,
    Pnpm,
    Yarn,
}

impl Manager {
    pub fn name(self) -> &'static str {
        match self {
            Manager::Npm => "npm",
            Manager::Pnpm => "pnpm",
            Manager::Yarn => "yarn",
        }
    }
}

/// One install: where it runs and with what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInstall {
    /// The folder holding the lockfile (the workspace root), else the service's folder.
    pub root: PathBuf,
    pub manager: Manager,
    /// A lockfile exists: install exactly it (`npm ci`, `--frozen-lockfile`).
    pub locked: bool,
    /// The `packageManager` field of the root's package.json (`pnpm@9.15.0+sha512...`).
    pub pinned: Option<String>,
}

impl NodeInstall {
    /// Whether the lockfile is newer than the record the package manager wrote in `node_modules`
    /// at its last install. Without a lockfile or a record there is nothing to compare: not stale.
    fn stale(&self) -> bool {
        let (lockfiles, records): (&[&str], &[&str]) = match self.manager {
            Manager::Npm => (&["package-lock.json", "npm-shrinkwrap.json"], &[".package-lock.json"]),
            Manager::Pnpm => (&["pnpm-lock.yaml"], &[".modules.yaml"]),
            Manager::Yarn => (&["yarn.lock"], &[".yarn-state.yml", ".yarn-integrity"]),
        };
        let modified = |path: PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let lockfile = lockfiles.iter().find_map(|f| modified(self.root.join(f)));
        let record = records.iter().find_map(|f| modified(self.root.join("node_modules").join(f)));
        matches!((lockfile, record), (Some(lockfile), Some(record)) if lockfile > record)
    }

    /// What a person types to install it, dev dependencies included (doctor's fixes).
    pub fn command_line(&self) -> &'static str {
        match (self.manager, self.locked) {
            (Manager::Pnpm, _) => "pnpm install",
            (Manager::Yarn, _) => "yarn install",
            (Manager::Npm, true) => "npm ci --include=dev",
            (Manager::Npm, false) => "npm install --include=dev",
        }
    }
}

/// The install a service folder needs: it has a `package.json` and no `node_modules`, or its
/// lockfile changed since the last install (a pull that adds a package must not leave the service
/// failing on a missing import).
pub fn needed(cwd: &Path, stack_dir: &Path) -> Option<NodeInstall> {
    if !cwd.join("package.json").is_file() {
        return None;
    }
    let install = detect(cwd, stack_dir);
    if cwd.join("node_modules").is_dir() && !install.stale() {
        return None;
    }
    Some(install)
}

/// The package manager of a package folder, from the lockfile here or above (up to `stack_dir`).
pub fn detect(cwd: &Path, stack_dir: &Path) -> NodeInstall {
    let within = cwd.starts_with(stack_dir);
    let folders: Vec<&Path> =
        if within { cwd.ancestors().take_while(|d| d.starts_with(stack_dir)).collect() } else { vec![cwd] };
    let pinned_at = |dir: &Path| {
        std::fs::read_to_string(dir.join("package.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.get("packageManager").and_then(|p| p.as_str()).map(str::to_owned))
    };
    for dir in &folders {
        let found = [
            ("pnpm-lock.yaml", Manager::Pnpm),
            ("yarn.lock", Manager::Yarn),
            ("package-lock.json", Manager::Npm),
            ("npm-shrinkwrap.json", Manager::Npm),
        ]
        .into_iter()
        .find(|(file, _)| dir.join(file).is_file());
        if let Some((_, manager)) = found {
            return NodeInstall { root: dir.to_path_buf(), manager, locked: true, pinned: pinned_at(dir) };
        }
    }
    for dir in &folders {
        let pinned = pinned_at(dir);
        if dir.join("pnpm-workspace.yaml").is_file() || pinned.as_deref().is_some_and(|p| p.starts_with("pnpm@")) {
            return NodeInstall { root: dir.to_path_buf(), manager: Manager::Pnpm, locked: false, pinned };
        }
    }
    NodeInstall { root: cwd.to_path_buf(), manager: Manager::Npm, locked: false, pinned: pinned_at(cwd) }
}

/// Runs the install; returns what to say about it (with any build scripts pnpm skipped).
pub async fn install(reaper: &Reaper, stack_dir: &Path, job: &NodeInstall) -> Result<String> {
    let mut command = match job.manager {
        Manager::Npm => {
            let npm = which("npm").ok_or_else(|| {
                Error::failed("`npm` was not found on PATH").hint("install Node.js 20 or newer (it comes with npm)")
            })?;
            let mut command = Command::new(npm);
            // Dev dependencies hold `tsx`, which the services run; NODE_ENV=production would skip them.
            command.arg(if job.locked { "ci" } else { "install" }).args([
                "--include=dev",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ]);
            command
        }
        Manager::Pnpm => {
            let pnpm = pnpm(reaper, stack_dir, job.pinned.as_deref()).await?;
            let mut command = Command::new(pnpm);
            command.args(["install", "--prod=false", "--config.confirmModulesPurge=false"]);
            if job.locked {
                command.arg("--frozen-lockfile");
            }
            command
        }
        Manager::Yarn => {
            let yarn = which("yarn").ok_or_else(|| {
                Error::failed("this project uses yarn (`yarn.lock`), and `yarn` is not on PATH")
                    .hint("install yarn (`npm install -g yarn`, or `corepack enable yarn`), then `agui-dev setup`")
            })?;
            let mut command = Command::new(yarn);
            command.args(["install", "--frozen-lockfile"]);
            command
        }
    };
    command.current_dir(&job.root).env_remove("NODE_ENV");
    let what = format!("{} install", job.manager.name());
    let output =
        capture(reaper, &mut command, None).await.map_err(|e| Error::failed(format!("`{what}` failed")).cause(e))?;
    let (status, output) = (output.status, output.combined());
    if !status.success() {
        return Err(failure(&what, &status.to_string(), &output, &job.root));
    }
    let skipped = skipped_build_scripts(&output);
    Ok(if skipped.is_empty() {
        format!("dependencies installed with {}", job.manager.name())
    } else {
        format!(
            "dependencies installed with {}; build scripts skipped for {} (approve with `pnpm approve-builds` if a package needs one)",
            job.manager.name(),
            skipped.join(", ")
        )
    })
}

/// pnpm from PATH, else from `.agui-dev/tools/pnpm-VERSION`, installed there with npm if needed.
async fn pnpm(reaper: &Reaper, stack_dir: &Path, pinned: Option<&str>) -> Result<PathBuf> {
    if let Some(pnpm) = which("pnpm") {
        return Ok(pnpm);
    }
    let version = pinned
        .and_then(|p| p.strip_prefix("pnpm@"))
        .map_or(PNPM_VERSION, |v| v.split('+').next().unwrap_or(PNPM_VERSION))
        .to_owned();
    let target = stack_dir.join(".agui-dev/tools").join(format!("pnpm-{version}"));
    let bin = target.join("node_modules/.bin/pnpm");
    if bin.is_file() {
        return Ok(bin);
    }
    let npm = which("npm").ok_or_else(|| {
        Error::failed("this project uses pnpm; neither `pnpm` nor `npm` is on PATH")
            .hint("install Node.js 20 or newer (it comes with npm); agui-dev then fetches pnpm itself")
    })?;
    let mut command = Command::new(npm);
    command
        .args(["install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix"])
        .arg(&target)
        .arg(format!("pnpm@{version}"));
    let what = format!("npm install pnpm@{version}");
    let output =
        capture(reaper, &mut command, None).await.map_err(|e| Error::failed(format!("`{what}` failed")).cause(e))?;
    let (status, output) = (output.status, output.combined());
    if !status.success() || !bin.is_file() {
        return Err(failure(&what, &status.to_string(), &output, &target)
            .hint(format!("install pnpm yourself (`npm install -g pnpm@{version}`), then run `agui-dev setup`")));
    }
    Ok(bin)
}

/// The error for a failed install: what the manager said went wrong, then its last lines.
pub fn failure(what: &str, status: &str, output: &str, root: &Path) -> Error {
    let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n    ");
    let quoted = format!("{what} said:\n    {tail}");
    if let Some((package, version)) = missing_version(output) {
        let declared = declared_in(root, &package, &version);
        let place = declared.map_or_else(String::new, |file| format!(", which `{file}` asks for"));
        return Error::failed(format!("the registry has no `{package}@{version}`{place}"))
            .cause(quoted)
            .hint(format!(
                "pin a published version of `{package}` (`npm view {package} versions` lists them), then run `agui-dev setup`"
            ));
    }
    if output.contains("ERR_PNPM_OUTDATED_LOCKFILE") || output.contains("are in sync") {
        return Error::failed(format!("`{what}`: the lockfile does not match package.json"))
            .cause(quoted)
            .hint("update the lockfile with the project's package manager (`pnpm install` / `npm install`), then `agui-dev setup`");
    }
    let code = lines
        .iter()
        .find_map(|l| {
            l.split_whitespace().find(|w| {
                w.starts_with("ERR_PNPM_")
                    || w.starts_with('E')
                        && w.len() > 3
                        && w[1..].chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            })
        })
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    Error::failed(format!("`{what}` {status}{code}"))
        .cause(quoted)
        .hint("fix the cause above (network, registry, Node version) and run `agui-dev setup` again")
}

/// `package@version` that the registry does not have, from npm's or pnpm's message, or from a
/// tarball URL that answered 404.
pub fn missing_version(output: &str) -> Option<(String, String)> {
    for line in output.lines() {
        if let Some(at) = line.find("No matching version found for ") {
            let spec = line[at + "No matching version found for ".len()..].split_whitespace().next()?;
            let spec = spec.trim_end_matches('.');
            let split = spec[1..].rfind('@')? + 1;
            return Some((spec[..split].to_owned(), spec[split + 1..].to_owned()));
        }
        if (line.contains("404") || line.contains("Not Found")) && line.contains("/-/") {
            let url = line.split_whitespace().find(|w| w.contains("/-/") && w.contains(".tgz"))?;
            let url = url.trim_end_matches(':');
            let (before, file) = url.split_once("/-/")?;
            let mut parts: Vec<&str> = before.rsplit('/').take(2).collect();
            parts.reverse();
            let package = if parts.first().is_some_and(|p| p.starts_with('@')) {
                parts.join("/")
            } else {
                parts.last()?.to_string()
            };
            let base = package.rsplit('/').next()?;
            let version = file.strip_prefix(&format!("{base}-"))?.strip_suffix(".tgz")?;
            return Some((package, version.to_owned()));
        }
    }
    None
}

/// The `package.json` (relative to `root`) that declares `package` at `version`, searching the
/// root and the folders below it (not `node_modules`), two levels deep.
fn declared_in(root: &Path, package: &str, version: &str) -> Option<String> {
    let mut folders = vec![root.to_path_buf()];
    for depth in 0..2 {
        let current: Vec<PathBuf> =
            folders.iter().filter(|f| f.components().count() == root.components().count() + depth).cloned().collect();
        for folder in current {
            let Ok(entries) = std::fs::read_dir(&folder) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if entry.path().is_dir() && name != "node_modules" && !name.starts_with('.') {
                    folders.push(entry.path());
                }
            }
        }
    }
    folders.into_iter().find_map(|folder| {
        let file = folder.join("package.json");
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).ok()?).ok()?;
        let declares =
            ["dependencies", "devDependencies", "optionalDependencies", "peerDependencies"].iter().any(|section| {
                json.get(section)
                    .and_then(|d| d.get(package))
                    .and_then(|v| v.as_str())
                    .is_some_and(|v| v.contains(version))
            });
        declares.then(|| file.strip_prefix(root).unwrap_or(&file).display().to_string())
    })
}

/// The packages whose build scripts pnpm skipped (`Ignored build scripts: esbuild, ...`).
pub fn skipped_build_scripts(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.split_once("Ignored build scripts:").map(|(_, rest)| rest.trim_end_matches(['│', ' '])))
        .flat_map(|rest| rest.split(',').map(|p| p.trim().trim_end_matches('.').to_owned()))
        .filter(|p| !p.is_empty() && !p.contains(' '))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pnpm 10.34.9's and npm 11's words when `@mcp-ui/server@5.12.0-alpha.5` (the seed scaffold's
    /// pin) was installed against the registry.
    const PNPM: &str = " ERR_PNPM_NO_MATCHING_VERSION  No matching version found for @mcp-ui/server@5.12.0-alpha.5 while fetching it from https://registry.npmjs.org/\n\nThis error happened while installing a direct dependency of /tmp/x/mcpui-server\n";
    const NPM: &str = "npm error code ETARGET\nnpm error notarget No matching version found for @mcp-ui/server@5.12.0-alpha.5.\nnpm error notarget In most cases you or one of your dependencies are requesting a package version that doesn't exist.\n";

    #[test]
    fn names_the_missing_package_from_either_manager() {
        let expected = Some(("@mcp-ui/server".to_owned(), "5.12.0-alpha.5".to_owned()));
        assert_eq!(missing_version(PNPM), expected);
        assert_eq!(missing_version(NPM), expected);
        let fetch = " ERR_PNPM_FETCH_404  GET https://registry.npmjs.org/@mcp-ui/server/-/server-5.12.0-alpha.5.tgz: Not Found - 404";
        assert_eq!(missing_version(fetch), expected);
        let plain = "npm error 404 Not Found - GET https://registry.npmjs.org/left-pad/-/left-pad-9.9.9.tgz";
        assert_eq!(missing_version(plain), Some(("left-pad".to_owned(), "9.9.9".to_owned())));
        assert_eq!(missing_version("npm error code E401"), None);
    }

    #[test]
    fn the_error_names_package_file_and_quotes_the_manager() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("mcpui-server")).unwrap();
        std::fs::write(
            dir.path().join("mcpui-server/package.json"),
            r#"{"dependencies":{"@mcp-ui/server":"5.12.0-alpha.5"}}"#,
        )
        .unwrap();
        let error = failure("pnpm install", "exit status: 1", PNPM, dir.path());
        let text = error.to_string();
        assert!(
            text.contains(
                "the registry has no `@mcp-ui/server@5.12.0-alpha.5`, which `mcpui-server/package.json` asks for"
            ),
            "{text}"
        );
        assert!(text.contains("ERR_PNPM_NO_MATCHING_VERSION"), "{text}");
        assert!(text.contains("npm view @mcp-ui/server versions"), "{text}");
    }

    #[test]
    fn finds_the_workspace_lockfile_above_a_service() {
        let dir = tempfile::tempdir().unwrap();
        let service = dir.path().join("agui-server");
        std::fs::create_dir(&service).unwrap();
        std::fs::write(service.join("package.json"), "{}").unwrap();
        assert_eq!(needed(&service, dir.path()).unwrap().manager, Manager::Npm);
        std::fs::write(dir.path().join("pnpm-workspace.yaml"), "packages: [agui-server]\n").unwrap();
        let job = needed(&service, dir.path()).unwrap();
        assert_eq!((job.manager, job.locked, job.root.as_path()), (Manager::Pnpm, false, dir.path()));
        std::fs::write(dir.path().join("pnpm-lock.yaml"), "lockfileVersion: '9.0'\n").unwrap();
        assert!(needed(&service, dir.path()).unwrap().locked);
        std::fs::create_dir(service.join("node_modules")).unwrap();
        assert_eq!(needed(&service, dir.path()), None);
    }

    #[test]
    fn an_install_older_than_the_lockfile_is_needed_again() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("package.json"), "{}").unwrap();
        std::fs::write(dir.path().join("package-lock.json"), "{}").unwrap();
        std::fs::create_dir(dir.path().join("node_modules")).unwrap();
        // No record of an install to compare with: left alone.
        assert_eq!(needed(dir.path(), dir.path()), None);
        let record = dir.path().join("node_modules/.package-lock.json");
        std::fs::write(&record, "{}").unwrap();
        let set =
            |at: std::time::SystemTime| std::fs::File::options().write(true).open(&record).unwrap().set_modified(at);
        set(std::time::SystemTime::now() - std::time::Duration::from_mins(1)).unwrap();
        assert_eq!(needed(dir.path(), dir.path()).map(|job| job.command_line()), Some("npm ci --include=dev"));
        set(std::time::SystemTime::now() + std::time::Duration::from_secs(1)).unwrap();
        assert_eq!(needed(dir.path(), dir.path()), None);
    }

    #[test]
    fn reads_skipped_build_scripts() {
        let out = "Done in 2s\n╭ Warning ─╮\n│ Ignored build scripts: esbuild, sharp. │\n";
        assert_eq!(skipped_build_scripts(out), vec!["esbuild", "sharp"]);
    }
}
