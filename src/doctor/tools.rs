//! Doctor's `tools` area: each service's program, and for Node services the Node and npm on
//! PATH, `node_modules`, `tsx`, `NODE_ENV`, `engines.node` (the service's and its protocol
//! packages'), and the versions of the AG-UI and
//! MCP packages installed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Doctor;
use crate::config::Service;
use crate::diagnosis::{Area, CheckId, Diagnosis};
use crate::kinds::Inspect;
use crate::kinds::versions::{satisfies_npm, version_parts};
use crate::system::program::find as find_program;
use crate::system::run::stdout_of;

/// Programs that mean "this service runs on Node".
const NODE_PROGRAMS: &[&str] = &["npm", "npx", "node", "pnpm", "yarn", "tsx"];

const MIN_NODE: u64 = 20;

pub const TOOLS_COMMAND: CheckId = CheckId::new(Area::Tools, "tools.command");
pub const TOOLS_NODE: CheckId = CheckId::new(Area::Tools, "tools.node");
pub const TOOLS_NPM: CheckId = CheckId::new(Area::Tools, "tools.npm");
pub const TOOLS_NODE_ENV: CheckId = CheckId::new(Area::Tools, "tools.node_env");
pub const TOOLS_NODE_MODULES: CheckId = CheckId::new(Area::Tools, "tools.node_modules");
pub const TOOLS_TSX: CheckId = CheckId::new(Area::Tools, "tools.tsx");
pub const TOOLS_MCP_SDK: CheckId = CheckId::new(Area::Tools, "tools.mcp_sdk");
pub const TOOLS_ENGINES: CheckId = CheckId::new(Area::Tools, "tools.engines");
pub const TOOLS_AGUI_VERSIONS: CheckId = CheckId::new(Area::Tools, "tools.agui_versions");

/// Every id this file makes.
pub const IDS: &[CheckId] = &[
    TOOLS_COMMAND,
    TOOLS_NODE,
    TOOLS_NPM,
    TOOLS_NODE_ENV,
    TOOLS_NODE_MODULES,
    TOOLS_TSX,
    TOOLS_MCP_SDK,
    TOOLS_ENGINES,
    TOOLS_AGUI_VERSIONS,
];

pub async fn check(found: &mut Diagnosis, doctor: &Doctor<'_>) {
    let node_services = check_commands(found, doctor);
    if node_services.is_empty() {
        return;
    }
    let node_version = check_node_and_npm(found, doctor, &node_services).await;
    let mut mcp_sdks: Vec<(String, String)> = Vec::new();
    for (service, _) in &node_services {
        if let Some(sdk) = check_node_service(found, doctor, service, node_version.as_deref()) {
            mcp_sdks.push((service.name.clone(), sdk));
        }
    }
    check_mcp_sdks(found, &mcp_sdks);
}

/// Each service's program on `PATH`; returns the services that run on Node, with their program.
fn check_commands<'a>(found: &mut Diagnosis, doctor: &'a Doctor<'_>) -> Vec<(&'a Service, String)> {
    let mut node_services = Vec::new();
    for service in &doctor.stack.services {
        let Some(command) = doctor.command_of(service) else { continue };
        let Some(program) = command.first() else { continue };
        let env = doctor.env_of(service);
        let subject = Some(service.name.as_str());
        let base = Path::new(program).file_name().map_or_else(|| program.clone(), |n| n.to_string_lossy().into_owned());
        let is_node = NODE_PROGRAMS.contains(&base.as_str());
        // The derived litellm command is covered by the `venv.*` checks.
        if service.command.is_some() {
            if let Some(path) = find_program(program, &service.cwd, env.get("PATH").map(String::as_str)) {
                found.ok(TOOLS_COMMAND, subject, format!("`{program}` is `{}`", path.display()));
            } else {
                let fix = if is_node {
                    format!("install Node {MIN_NODE}+ (it brings npm; `nvm install {MIN_NODE}`), or fix `PATH`")
                } else {
                    format!("install `{program}`, or fix `command` of `{}` / `PATH`", service.name)
                };
                found.fail(
                    TOOLS_COMMAND,
                    subject,
                    format!("`{program}`, the command of `{}`, is not on `PATH`", service.name),
                    fix,
                );
            }
        }
        if is_node {
            node_services.push((service, base));
        }
    }
    node_services
}

/// Node and npm on agui-dev's own `PATH`; returns Node's version when it is recent enough.
async fn check_node_and_npm(
    found: &mut Diagnosis,
    doctor: &Doctor<'_>,
    node_services: &[(&Service, String)],
) -> Option<String> {
    let path = std::env::var("PATH").ok();
    let here = std::env::current_dir().unwrap_or_default();
    let mut node_version: Option<String> = None;
    match find_program("node", &here, path.as_deref()) {
        None => found.fail(
            TOOLS_NODE,
            None,
            "`node` is not on `PATH`",
            format!("install Node {MIN_NODE} or newer (https://nodejs.org, or `nvm install {MIN_NODE}`)"),
        ),
        Some(node) => match stdout_of(&doctor.reaper, &node, &["-v"], Duration::from_secs(3)).await {
            Ok(version) => match version_parts(&version).first() {
                Some(major) if *major >= MIN_NODE => {
                    found.ok(TOOLS_NODE, None, format!("Node {version} (`{}`)", node.display()));
                    node_version = Some(version.clone());
                }
                _ => found.fail(
                    TOOLS_NODE,
                    None,
                    format!(
                        "Node {version} is too old: the servers need Node {MIN_NODE}+ (`fetch is not defined` below 18)"
                    ),
                    format!("install Node {MIN_NODE} or newer (`nvm install {MIN_NODE}`), then reinstall node_modules"),
                ),
            },
            Err(error) => found.fail(
                TOOLS_NODE,
                None,
                format!("`{} -v` failed: {error}", node.display()),
                format!("reinstall Node {MIN_NODE} or newer"),
            ),
        },
    }
    let wants_npm = node_services.iter().any(|(_, p)| p == "npm" || p == "npx");
    match find_program("npm", &here, path.as_deref()) {
        Some(npm) => found.ok(TOOLS_NPM, None, format!("`npm` is `{}`", npm.display())),
        None if wants_npm => found.fail(
            TOOLS_NPM,
            None,
            "`npm` is not on `PATH`",
            format!("install Node {MIN_NODE}+ with npm (https://nodejs.org, or `nvm install {MIN_NODE}`)"),
        ),
        None => found.warn(TOOLS_NPM, None, "`npm` is not on `PATH`", "install npm to install dependencies"),
    }
    node_version
}

/// One Node service's `NODE_ENV`, `node_modules`, engines, protocol packages and `tsx`; returns
/// the MCP SDK version it has installed.
fn check_node_service(
    found: &mut Diagnosis,
    doctor: &Doctor<'_>,
    service: &Service,
    node_version: Option<&str>,
) -> Option<String> {
    let subject = Some(service.name.as_str());
    let env = doctor.env_of(service);
    let cwd = &service.cwd;
    if env.get("NODE_ENV").is_some_and(|v| v == "production") {
        found.warn(
            TOOLS_NODE_ENV,
            subject,
            "`NODE_ENV=production`: npm skips dev dependencies (e.g. `tsx`), so `npm run dev` fails with `tsx: not found`",
            "unset `NODE_ENV` for development, or install with `npm ci --include=dev`",
        );
    }
    let manifest = cwd.join("package.json");
    let text = std::fs::read_to_string(&manifest).ok()?;
    let install = crate::setup::node::detect(cwd, &doctor.stack.dir).command_line();
    if !cwd.join("node_modules").is_dir() {
        found.fail(
            TOOLS_NODE_MODULES,
            subject,
            format!("`{}` has a package.json but no node_modules", cwd.display()),
            format!("run `{install}` in `{}` (or `agui-dev setup`)", cwd.display()),
        );
        return None;
    }
    found.ok(TOOLS_NODE_MODULES, subject, format!("`{}/node_modules` exists", cwd.display()));
    let package: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    check_engines(found, subject, &package, &cwd.join("node_modules"), node_version);
    check_agui_versions(found, subject, &cwd.join("node_modules"));
    let uses_tsx = package
        .get("scripts")
        .and_then(serde_json::Value::as_object)
        .is_some_and(|scripts| scripts.values().filter_map(serde_json::Value::as_str).any(|s| s.contains("tsx")));
    if uses_tsx {
        if cwd.join("node_modules/.bin/tsx").exists() {
            found.ok(TOOLS_TSX, subject, "`node_modules/.bin/tsx` is installed");
        } else {
            found.fail(
                TOOLS_TSX,
                subject,
                format!(
                    "a script of `{}` runs `tsx`, but `node_modules/.bin/tsx` is missing (`tsx: not found`)",
                    manifest.display()
                ),
                format!("run `{install}` in `{}` (dev dependencies included)", cwd.display()),
            );
        }
    }
    installed_versions(&cwd.join("node_modules"), "@modelcontextprotocol/sdk").into_iter().next()
}

/// Client and server on different MCP SDK releases disagree on the protocol version.
fn check_mcp_sdks(found: &mut Diagnosis, mcp_sdks: &[(String, String)]) {
    let minor = |v: &str| version_parts(v).into_iter().take(2).collect::<Vec<_>>();
    if let Some((first, first_version)) = mcp_sdks.first() {
        match mcp_sdks.iter().find(|(_, v)| minor(v) != minor(first_version)) {
            Some((other, other_version)) => found.warn(
                TOOLS_MCP_SDK,
                None,
                format!("`{first}` has @modelcontextprotocol/sdk {first_version} and `{other}` has {other_version}: expect `Unsupported protocol version`"),
                "align the SDK versions in both package.json files, then reinstall",
            ),
            None if mcp_sdks.len() > 1 => found.ok(TOOLS_MCP_SDK, None, format!("every service uses @modelcontextprotocol/sdk {first_version}")),
            None => {}
        }
    }
}

/// The protocol packages the templates run on: their own `engines.node` counts as much as the
/// service's (the MCP SDK v2 packages need Node 20; docs/protocol-facts.md).
const ENGINE_PACKAGES: &[&str] = &[
    "@modelcontextprotocol/server",
    "@modelcontextprotocol/client",
    "@modelcontextprotocol/core",
    "@modelcontextprotocol/sdk",
    "@ag-ui/client",
    "@ag-ui/core",
    "@ag-ui/encoder",
];

/// `engines.node` of the service's package.json, and of the protocol packages it installed,
/// against the installed Node.
fn check_engines(
    found: &mut Diagnosis,
    subject: Option<&str>,
    package: &serde_json::Value,
    node_modules: &Path,
    node: Option<&str>,
) {
    let Some(node) = node else { return };
    let mut wants: Vec<(String, String)> = Vec::new();
    if let Some(range) = package.pointer("/engines/node").and_then(serde_json::Value::as_str) {
        wants.push(("the package".to_owned(), range.to_owned()));
    }
    for name in ENGINE_PACKAGES {
        let Ok(text) = std::fs::read_to_string(node_modules.join(name).join("package.json")) else { continue };
        let manifest: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if let Some(range) = manifest.pointer("/engines/node").and_then(serde_json::Value::as_str) {
            let version = manifest.get("version").and_then(serde_json::Value::as_str).unwrap_or("?");
            wants.push((format!("`{name}` {version}"), range.to_owned()));
        }
    }
    let mut checked = Vec::new();
    for (who, range) in &wants {
        // A range of a form we cannot read is skipped rather than guessed.
        match satisfies_npm(node, range) {
            Some(false) => {
                let major = version_parts(range.trim_start_matches(|c: char| !c.is_ascii_digit()));
                let install = major
                    .first()
                    .map_or_else(|| "a Node that satisfies it".to_owned(), |m| format!("`nvm install {m}`"));
                found.fail(
                    TOOLS_ENGINES,
                    subject,
                    format!("{who} wants Node `{range}` and Node is {node}"),
                    format!("install a Node that satisfies `{range}` ({install}), then reinstall node_modules"),
                );
            }
            Some(true) => checked.push(format!("{who} `{range}`")),
            None => {}
        }
    }
    if !found.has(TOOLS_ENGINES, subject) && !checked.is_empty() {
        found.ok(TOOLS_ENGINES, subject, format!("Node {node} satisfies `engines.node` of {}", checked.join(", ")));
    }
}

/// One version of each `@ag-ui/*` package: several make the client reject valid events
/// (`invalid_union_discriminator`).
fn check_agui_versions(found: &mut Diagnosis, subject: Option<&str>, node_modules: &Path) {
    for package in ["@ag-ui/core", "@ag-ui/encoder", "@ag-ui/client", "@ag-ui/proto"] {
        let versions = installed_versions(node_modules, package);
        if versions.len() > 1 {
            let listed: Vec<&str> = versions.iter().map(String::as_str).collect();
            found.fail(
                TOOLS_AGUI_VERSIONS,
                subject,
                format!("several versions of `{package}` are installed: {}", listed.join(", ")),
                "pin one version of every `@ag-ui/*` package in package.json, then `npm ci` (check with `npm ls @ag-ui/core`)",
            );
        }
    }
}

/// The versions of `package` in `node_modules`, at the top and nested one level down.
fn installed_versions(node_modules: &Path, package: &str) -> BTreeSet<String> {
    let version_in = |dir: &Path| -> Option<String> {
        let text = std::fs::read_to_string(dir.join(package).join("package.json")).ok()?;
        let manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
        manifest.get("version")?.as_str().map(str::to_owned)
    };
    let mut versions: BTreeSet<String> = version_in(node_modules).into_iter().collect();
    let mut packages: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(node_modules).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('@') {
            packages.extend(std::fs::read_dir(&path).into_iter().flatten().flatten().map(|e| e.path()));
        } else {
            packages.push(path);
        }
    }
    versions.extend(packages.iter().filter_map(|p| version_in(&p.join("node_modules"))));
    versions
}
