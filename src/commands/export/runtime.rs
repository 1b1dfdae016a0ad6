//! Per-kind knowledge the exports need: which image runs a service, how it is built, and which
//! command inside that image probes it. Each fact is one small function so it can move next to
//! its kind (`src/kinds/<kind>/`) without the export code changing shape.

use std::path::Path;

/// What is known to be inside a service's image, which decides the probe commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// LiteLLM's official image: Python, no curl.
    Litellm,
    /// The official Node image: node, npm, corepack; no curl.
    Node,
    /// The project's own Dockerfile or an image nobody told us about.
    Unknown,
}

/// LiteLLM's official image at the given release.
pub fn litellm_image(version: &str) -> String {
    format!("ghcr.io/berriai/litellm:main-v{version}")
}

/// Where the proxy config (and the Python modules beside it) is mounted in the LiteLLM container.
pub const LITELLM_CONFIG_DIR: &str = "/etc/litellm";

/// The pinned `litellm` version of a requirements file (`litellm==X` or `litellm[proxy]==X`).
pub fn litellm_pin(requirements: &str) -> Option<String> {
    requirements.lines().find_map(|line| {
        let line = line.trim().trim_end_matches('\\').trim();
        let (name, version) = line.split_once("==")?;
        let name = name.split('[').next()?.trim();
        (name.eq_ignore_ascii_case("litellm")).then(|| version.split([' ', ';']).next().unwrap_or("").to_owned())
    })
}

/// The proxy's arguments inside its container: the image's entrypoint is `litellm`. It binds
/// `0.0.0.0` because a container is reached through its own network interface; the host side
/// stays on loopback (compose publishes on 127.0.0.1, Kubernetes through a ClusterIP Service).
pub fn litellm_args(config_file: Option<&str>, model: Option<&str>, port: u16) -> Vec<String> {
    let mut args = Vec::new();
    if let Some(config) = config_file {
        args.extend(["--config".to_owned(), format!("{LITELLM_CONFIG_DIR}/{config}")]);
    } else if let Some(model) = model {
        args.extend(["--model".to_owned(), model.to_owned()]);
    }
    args.extend(["--host".to_owned(), "0.0.0.0".to_owned(), "--port".to_owned(), port.to_string()]);
    args
}

/// Variables the local run sets that mean nothing in the LiteLLM image (host paths).
pub const LITELLM_HOST_ONLY_ENV: &[&str] = &["PATH", "VIRTUAL_ENV"];

/// Environment a kind's server needs inside a container and not on the laptop: the templates
/// listen on `HOST` (default 127.0.0.1, unreachable from other containers), and the MCP server
/// accepts only the Host names it knows, so it is told the name the others reach it by.
pub fn container_env(kind: Option<crate::config::KindName>, host_name: &str) -> Vec<(&'static str, String)> {
    use crate::config::KindName;
    match kind {
        Some(KindName::Mcp) => vec![("HOST", "0.0.0.0".to_owned()), ("MCP_ALLOWED_HOSTS", host_name.to_owned())],
        Some(KindName::Agui) => vec![("HOST", "0.0.0.0".to_owned())],
        _ => Vec::new(),
    }
}

/// Node LTS lines with an official image, newest first. The newest one the `engines` range
/// allows is chosen: that is what `node:<major>` resolves to and what gets security fixes longest.
const NODE_LTS: &[u32] = &[24, 22, 20];

/// The Node major for a package's `engines.node`, and a note when the range could not be used.
pub fn node_major(engines: Option<&str>) -> (u32, Option<String>) {
    let Some(range) = engines.map(str::trim).filter(|r| !r.is_empty()) else {
        return (NODE_LTS[0], Some(format!("package.json has no `engines.node`; using Node {}", NODE_LTS[0])));
    };
    for major in NODE_LTS {
        match satisfies(range, (*major, 999, 999)) {
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

type Version = (u32, u32, u32);

/// Whether `version` satisfies an npm-style range (`>=20`, `^20.11`, `~22`, `20.x`, `18 || 20`,
/// `>=18 <23`, `20 - 22`). `None` when the range has a form this does not read.
fn satisfies(range: &str, version: Version) -> Option<bool> {
    let mut any = false;
    for alternative in range.split("||") {
        let words: Vec<&str> = alternative.split_whitespace().collect();
        let ok = if let [low, "-", high] = words.as_slice() {
            compare(&format!(">={low}"), version)? && compare(&format!("<={high}"), version)?
        } else {
            let mut all = true;
            for word in &words {
                all &= compare(word, version)?;
            }
            all
        };
        any |= ok;
    }
    Some(any)
}

fn compare(comparator: &str, v: Version) -> Option<bool> {
    let (op, rest) = [">=", "<=", ">", "<", "=", "^", "~"]
        .iter()
        .find_map(|op| comparator.strip_prefix(op).map(|rest| (*op, rest)))
        .unwrap_or(("", comparator));
    let parts: Vec<&str> = rest.trim().trim_start_matches('v').split('.').collect();
    let mut nums: Vec<u32> = Vec::new();
    for part in &parts {
        if matches!(*part, "x" | "X" | "*" | "") {
            break;
        }
        nums.push(part.parse().ok()?);
    }
    let given = nums.len().min(3);
    let at = |i: usize| nums.get(i).copied().unwrap_or(0);
    let low: Version = (at(0), at(1), at(2));
    // The first version past a partial one: `20` -> 21.0.0, `20.1` -> 20.2.0.
    let past: Version = match given {
        0 => (u32::MAX, 0, 0),
        1 => (at(0) + 1, 0, 0),
        2 => (at(0), at(1) + 1, 0),
        _ => (at(0), at(1), at(2) + 1),
    };
    Some(match op {
        ">=" => v >= low,
        ">" => v >= past,
        "<" => v < low,
        "<=" => v < past,
        "^" => v >= low && v < if at(0) > 0 || given < 2 { (at(0) + 1, 0, 0) } else { (0, at(1) + 1, 0) },
        "~" => v >= low && v < if given >= 2 { (at(0), at(1) + 1, 0) } else { (at(0) + 1, 0, 0) },
        _ => v >= low && v < past,
    })
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

pub fn package_manager(dir: &Path) -> PackageManager {
    if dir.join("package-lock.json").is_file() {
        PackageManager::Npm
    } else if dir.join("pnpm-lock.yaml").is_file() {
        PackageManager::Pnpm
    } else if dir.join("yarn.lock").is_file() {
        PackageManager::Yarn { berry: dir.join(".yarnrc.yml").is_file() }
    } else {
        PackageManager::NpmNoLock
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

/// A command that exits 0 when `url` answers 2xx, in a program the image has (never curl: neither
/// official image ships it).
pub fn http_check(runtime: Runtime, url: &str) -> Option<Vec<String>> {
    let url_literal = serde_json::Value::String(url.to_owned()).to_string();
    match runtime {
        Runtime::Litellm => Some(vec![
            "python3".to_owned(),
            "-c".to_owned(),
            format!(
                "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen({url_literal}, timeout=3).status // 100 == 2 else 1)"
            ),
        ]),
        Runtime::Node => Some(vec![
            "node".to_owned(),
            "-e".to_owned(),
            format!(
                "fetch({url_literal}, {{ signal: AbortSignal.timeout(3000) }}).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
            ),
        ]),
        Runtime::Unknown => None,
    }
}

/// A command that exits 0 when `host:port` accepts a TCP connection.
pub fn tcp_check(runtime: Runtime, host: &str, port: u16) -> Option<Vec<String>> {
    let host_literal = serde_json::Value::String(host.to_owned()).to_string();
    match runtime {
        Runtime::Litellm => Some(vec![
            "python3".to_owned(),
            "-c".to_owned(),
            format!("import socket; socket.create_connection(({host_literal}, {port}), timeout=3).close()"),
        ]),
        Runtime::Node => Some(vec![
            "node".to_owned(),
            "-e".to_owned(),
            format!(
                "require('net').connect({port}, {host_literal}).on('connect', () => process.exit(0)).on('error', () => process.exit(1)); setTimeout(() => process.exit(1), 3000)"
            ),
        ]),
        Runtime::Unknown => None,
    }
}

/// A command that waits (up to `seconds`) until `check` passes: Kubernetes init containers use it
/// to hold a service back until what it depends on is ready.
pub fn wait_until(runtime: Runtime, check: &[String], what: &str, seconds: u64) -> Option<Vec<String>> {
    // The check runs as its own process each time, so one hung attempt cannot stall the loop.
    let check_words: Vec<String> = check.iter().map(|w| shell_words::quote(w).into_owned()).collect();
    let script = format!(
        "i=0; until {}; do i=$((i+1)); if [ \"$i\" -ge {seconds} ]; then echo 'gave up waiting for {what}' >&2; exit 1; fi; sleep 1; done",
        check_words.join(" ")
    );
    (runtime != Runtime::Unknown).then(|| vec!["sh".to_owned(), "-c".to_owned(), script])
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

    #[test]
    fn reads_the_litellm_pin() {
        assert_eq!(litellm_pin("foo==1\nlitellm==1.108.7 \\\n    --hash=sha256:abc\n").as_deref(), Some("1.108.7"));
        assert_eq!(litellm_pin("litellm[proxy]==1.80.0\n").as_deref(), Some("1.80.0"));
        assert_eq!(litellm_pin("litellm-enterprise==0.1\n"), None);
    }

    #[test]
    fn probe_commands_never_use_curl() {
        for runtime in [Runtime::Litellm, Runtime::Node] {
            let http = http_check(runtime, "http://127.0.0.1:4000/health").unwrap();
            let tcp = tcp_check(runtime, "127.0.0.1", 4000).unwrap();
            assert!(!http.join(" ").contains("curl") && !tcp.join(" ").contains("curl"));
        }
        assert_eq!(http_check(Runtime::Litellm, "http://x/").unwrap()[0], "python3");
        assert_eq!(http_check(Runtime::Node, "http://x/").unwrap()[0], "node");
        assert!(http_check(Runtime::Unknown, "http://x/").is_none());
    }
}
