//! A service with a `package.json` (every `mcp` and `agui` template, and any plain Node process)
//! runs on the official Node image: the LTS line its `engines.node` allows, its lockfile's package
//! manager, and a generated Dockerfile. This is about Node projects, not about a kind, so it lives
//! with the export; what a kind knows about its container is in `src/kinds/<kind>/`.

use std::path::Path;

use crate::kinds::versions;
use crate::setup::node::Manager;

/// Node LTS lines with an official image, newest first. The newest one the `engines` range
/// allows is chosen: that is what `node:<major>` resolves to and what gets security fixes longest.
const NODE_LTS: &[u32] = &[24, 22, 20];

/// The Node major for a package's `engines.node`, and a note when the range could not be used.
pub fn node_major(engines: Option<&str>) -> (u32, Option<String>) {
    let Some(range) = engines.map(str::trim).filter(|r| !r.is_empty()) else {
        return (NODE_LTS[0], Some(format!("package.json has no `engines.node`; using Node {}", NODE_LTS[0])));
    };
    for major in NODE_LTS {
        // A line is allowed when a late release of it is: `^20.11` allows 20, `~20.5` does not.
        match versions::satisfies_npm(&format!("{major}.999.999"), range) {
            Some(true) => return (*major, None),
            Some(false) => {}
            None => {
                return (
                    NODE_LTS[0],
                    Some(format!(
                        "`engines.node` is `{range}`, which agui-dev cannot read; using Node {}",
                        NODE_LTS[0]
                    )),
                );
            }
        }
    }
    (
        NODE_LTS[0],
        Some(format!("`engines.node` is `{range}`, which no Node LTS image matches; using Node {}", NODE_LTS[0])),
    )
}

/// The official image for a Node major (Debian slim: has a shell and libc for native modules).
pub fn node_image(major: u32) -> String {
    format!("node:{major}-bookworm-slim")
}

/// The package manager a Node project uses, from its lockfile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackageManager {
    Npm,
    Pnpm,
    /// Yarn 1 (`--frozen-lockfile`) or Berry, recognised by `.yarnrc.yml` (`--immutable`).
    Yarn {
        berry: bool,
    },
    /// No lockfile: `npm install`, which is not reproducible (a warning says so).
    NpmNoLock,
}

/// Read as `setup` reads it (`setup::node::detect`), within the folder that is the image's build
/// context: a lockfile above it does not reach the image.
pub fn package_manager(dir: &Path) -> PackageManager {
    let found = crate::setup::node::detect(dir, dir);
    match (found.manager, found.locked) {
        (Manager::Npm, true) => PackageManager::Npm,
        (Manager::Pnpm, true) => PackageManager::Pnpm,
        (Manager::Yarn, true) => PackageManager::Yarn { berry: dir.join(".yarnrc.yml").is_file() },
        (_, false) => PackageManager::NpmNoLock,
    }
}

impl PackageManager {
    /// The program that runs the package's scripts.
    pub fn program(self) -> &'static str {
        match self {
            PackageManager::Npm | PackageManager::NpmNoLock => "npm",
            PackageManager::Pnpm => "pnpm",
            PackageManager::Yarn { .. } => "yarn",
        }
    }

    /// Files copied before the install, so the dependency layer is rebuilt only when they change.
    fn manifest_files(self, dir: &Path) -> Vec<&'static str> {
        let mut files = vec!["package.json"];
        files.push(match self {
            PackageManager::Npm => "package-lock.json",
            PackageManager::Pnpm => "pnpm-lock.yaml",
            PackageManager::Yarn { .. } => "yarn.lock",
            PackageManager::NpmNoLock => return files,
        });
        if matches!(self, PackageManager::Yarn { berry: true }) {
            files.push(".yarnrc.yml");
        }
        if dir.join(".npmrc").is_file() {
            files.push(".npmrc");
        }
        files
    }

    /// Installs dependencies exactly as locked, dev dependencies included: the templates run
    /// TypeScript through `tsx`, a dev dependency.
    fn install(self) -> &'static str {
        match self {
            PackageManager::Npm => "npm ci --include=dev",
            PackageManager::Pnpm => "corepack enable && pnpm install --frozen-lockfile",
            PackageManager::Yarn { berry: false } => "corepack enable && yarn install --frozen-lockfile",
            PackageManager::Yarn { berry: true } => "corepack enable && yarn install --immutable",
            PackageManager::NpmNoLock => "npm install --include=dev",
        }
    }
}

/// A Dockerfile for a Node service: dependencies in their own layer, the source after them
/// (without `node_modules` or env files, which may hold secrets), run as the image's `node` user.
pub fn node_dockerfile(
    origin: &str,
    major: u32,
    dir: &Path,
    pm: PackageManager,
    port: Option<u16>,
    command: &[String],
) -> String {
    let mut lines = vec![
        // `COPY --exclude` needs Dockerfile syntax 1.10 or newer.
        "# syntax=docker/dockerfile:1.10".to_owned(),
        format!("# Written by `agui-dev export` for {origin}; export again rather than edit."),
        format!("FROM {}", node_image(major)),
        "WORKDIR /app".to_owned(),
        format!("COPY {} ./", pm.manifest_files(dir).join(" ")),
    ];
    if matches!(pm, PackageManager::Yarn { berry: true }) && dir.join(".yarn/releases").is_dir() {
        lines.push("COPY .yarn/releases ./.yarn/releases".to_owned());
    }
    lines.push(format!("RUN {}", pm.install()));
    lines.push("COPY --exclude=node_modules --exclude=.env --exclude=.env.* --exclude=.agui-dev . .".to_owned());
    lines.push("USER node".to_owned());
    if let Some(port) = port {
        lines.push(format!("EXPOSE {port}"));
    }
    let words: Vec<String> = command.iter().map(|w| serde_json::Value::String(w.clone()).to_string()).collect();
    lines.push(format!("CMD [{}]", words.join(", ")));
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_ranges_pick_the_newest_lts_they_allow() {
        assert_eq!(node_major(Some(">=20")).0, 24);
        assert_eq!(node_major(Some("^20.11")).0, 20);
        assert_eq!(node_major(Some(">=18 <23")).0, 22);
        assert_eq!(node_major(Some("20.x || 22.x")).0, 22);
        assert_eq!(node_major(Some("~20.5")).0, 24, "no LTS line matches 20.5.x exactly: falls back");
        assert!(node_major(Some("~20.5")).1.is_some());
        assert_eq!(node_major(Some("18 - 22")).0, 22);
        assert_eq!(node_major(Some("22")).0, 22);
        assert_eq!(node_major(None), (24, Some("package.json has no `engines.node`; using Node 24".to_owned())));
        assert!(node_major(Some(">=banana")).1.unwrap().contains("cannot read"));
    }
}
