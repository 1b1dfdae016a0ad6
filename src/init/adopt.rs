//! Adopting the project already in a folder: what its files say, mapped onto services.
//!
//! Theory of operation: one walk of the folder (not into `node_modules`, venvs, `.git` or build
//! output) collects `package.json` files, shell scripts, YAML files and venvs. A package that
//! depends on `@ag-ui/*` is an `agui` service, one that depends on an MCP server SDK an `mcp`
//! service (AG-UI wins: AG-UI servers are MCP clients too). The scripts (see `scripts`) give
//! LiteLLM's model or config, port and venv, the port variables and the start order. Each value
//! keeps the place it came from, for the stack file's comments and the printed table; what could
//! not be found gets a value that passes `check` (the kind's usual one) and a row in the table
//! with the line to change.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::scripts::{self, Found, ScriptFacts};
use crate::setup::node::{self, Manager};

/// MCP server SDKs: a package depending on one of these serves MCP.
const MCP_SDKS: &[&str] = &["@modelcontextprotocol/sdk", "@modelcontextprotocol/server", "@mcp-ui/server"];

/// Folders never walked into.
const SKIP: &[&str] = &["node_modules", ".git", "dist", "build", ".agui-dev", "__pycache__", "logs", "target"];

#[derive(Debug)]
pub struct Setting {
    pub key: &'static str,
    /// Already written as TOML (`"npm run dev"`, `3100`, `["mcp"]`).
    pub toml: String,
    pub from: String,
}

#[derive(Debug)]
pub struct Guess {
    pub name: String,
    pub kind: &'static str,
    /// Why this is a service of this kind.
    pub why: String,
    pub settings: Vec<Setting>,
}

impl Guess {
    fn set(&mut self, key: &'static str, toml: String, from: impl Into<String>) {
        self.settings.retain(|s| s.key != key);
        self.settings.push(Setting { key, toml, from: from.into() });
    }

    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.settings.iter().find(|s| s.key == key)
    }
}

/// Something the project says that agui-dev did not map, with the line that would.
#[derive(Debug)]
pub struct Unmapped {
    pub service: String,
    pub what: String,
    pub line: String,
}

#[derive(Debug, Default)]
pub struct Adoption {
    pub name: String,
    pub name_from: String,
    pub services: Vec<Guess>,
    pub unmapped: Vec<Unmapped>,
    /// Template files to add (relative path, bytes) because the project has no LiteLLM config.
    pub add_files: Vec<(String, &'static [u8])>,
}

struct Package {
    /// Relative folder, `/`-separated (`""` for the root).
    folder: String,
    json: Json,
}

/// Reads the project in `root`.
pub fn detect(root: &Path, name: Option<&str>) -> Adoption {
    let mut files = Vec::new();
    walk(root, 0, &mut files);
    let relative = |p: &Path| p.strip_prefix(root).unwrap_or(p).to_string_lossy().replace('\\', "/");
    let packages: Vec<Package> = files
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "package.json"))
        .filter_map(|p| {
            let json = serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()?;
            Some(Package { folder: relative(p.parent()?), json })
        })
        .collect();
    let folders: Vec<String> = packages.iter().map(|p| p.folder.clone()).filter(|f| !f.is_empty()).collect();
    let mut facts: Vec<(String, ScriptFacts)> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .map(|p| (relative(p), scripts::read(p, &relative(p), &folders)))
        .collect();
    // Scripts with a start order first: `start.sh` before helpers.
    facts.sort_by_key(|(path, f)| (f.starts.is_empty(), path.matches('/').count(), path.clone()));

    let mut adoption = Adoption::default();
    let root_json = packages.iter().find(|p| p.folder.is_empty()).map(|p| &p.json);
    let package_name = root_json.and_then(|j| j.get("name")).and_then(Json::as_str).filter(|n| !n.contains("{{"));
    let folder_name = root.file_name().map_or_else(|| "stack".to_owned(), |n| n.to_string_lossy().into_owned());
    (adoption.name, adoption.name_from) = match (name, package_name) {
        (Some(name), _) => (name.to_owned(), "--name".to_owned()),
        (None, Some(name)) => (name.rsplit('/').next().unwrap_or(name).to_owned(), "package.json `name`".to_owned()),
        (None, None) => (folder_name, "the folder's name".to_owned()),
    };

    let mut node: Vec<Guess> = packages.iter().filter_map(|p| node_service(root, p, &facts, &mut adoption)).collect();
    name_services(&mut node);
    let litellm = litellm_service(root, &files, &facts, &mut adoption, node.iter().any(|s| s.kind == "agui"));
    adoption.services.extend(litellm);
    order(&mut node, &facts, &packages);
    // Written in start order: what others wait for first.
    node.sort_by_key(|s| s.get("depends_on").map_or(0, |d| d.toml.matches(',').count() + 1));
    adoption.services.extend(node);
    for (path, script) in &facts {
        for var in script.required.iter().chain(&script.exported) {
            note_variable(&mut adoption, path, var);
        }
    }
    adoption
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(kind) = entry.file_type() else { continue };
        // A venv may be a symlink to a shared one; other symlinked folders are not followed.
        if path.is_dir() {
            let is_venv = path.join("pyvenv.cfg").is_file();
            if is_venv && depth == 0 {
                out.push(path);
            } else if depth < 3
                && !is_venv
                && !kind.is_symlink()
                && !SKIP.contains(&name.as_str())
                && !name.starts_with('.')
            {
                walk(&path, depth + 1, out);
            }
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

fn dependencies(json: &Json) -> Vec<String> {
    ["dependencies", "devDependencies"]
        .iter()
        .filter_map(|s| json.get(s).and_then(Json::as_object))
        .flat_map(|o| o.keys().cloned())
        .collect()
}

fn node_service(
    root: &Path,
    package: &Package,
    facts: &[(String, ScriptFacts)],
    adoption: &mut Adoption,
) -> Option<Guess> {
    let deps = dependencies(&package.json);
    let shown =
        if package.folder.is_empty() { "package.json".to_owned() } else { format!("{}/package.json", package.folder) };
    let (kind, why) = if let Some(dep) = deps.iter().find(|d| d.starts_with("@ag-ui/")) {
        ("agui", format!("`{shown}` depends on `{dep}`"))
    } else if let Some(dep) = deps.iter().find(|d| MCP_SDKS.contains(&d.as_str())) {
        ("mcp", format!("`{shown}` depends on `{dep}`"))
    } else {
        return None;
    };
    let folder_name = package.folder.rsplit('/').next().unwrap_or("app").to_owned();
    let mut guess = Guess { name: folder_name, kind, why, settings: Vec::new() };
    let dir = root.join(&package.folder);
    if !package.folder.is_empty() {
        guess.set("cwd", quote(&package.folder), format!("the folder of `{shown}`"));
    }
    guess_command(&mut guess, root, package, &dir, &shown, adoption);
    let (found, from) = port_of(root, &dir, &package.folder, kind, facts);
    let port = found.unwrap_or(if kind == "agui" { 3000 } else { 3100 });
    if let Some(port) = found {
        guess.set("port", port.to_string(), from);
    } else {
        {
            guess.set("port", port.to_string(), format!("agui-dev's usual port for kind `{kind}`: none found"));
            adoption.unmapped.push(Unmapped {
                service: guess.name.clone(),
                what: "no port in `.env`, `.env.example`, the scripts or the source".to_owned(),
                line: format!("port = {port}"),
            });
        }
    }
    guess_ready(&mut guess, &dir, port, adoption);
    Some(guess)
}

/// The command: the package's `dev` or `start` script, run as its package manager would.
fn guess_command(guess: &mut Guess, root: &Path, package: &Package, dir: &Path, shown: &str, adoption: &mut Adoption) {
    let install = node::detect(dir, root);
    let manager = install.manager;
    let lock = match (install.manager, install.locked) {
        (Manager::Pnpm, true) => "pnpm-lock.yaml",
        (Manager::Yarn, true) => "yarn.lock",
        (Manager::Npm, true) => "package-lock.json",
        (Manager::Pnpm, false) => "pnpm-workspace.yaml",
        (_, false) => "no lockfile",
    };
    let at = install.root.strip_prefix(root).map_or_else(|_| String::new(), |p| p.to_string_lossy().into_owned());
    let lock_place = if at.is_empty() { lock.to_owned() } else { format!("{at}/{lock}") };
    let scripts = package.json.get("scripts").and_then(Json::as_object);
    let script = ["dev", "start"].into_iter().find(|s| scripts.is_some_and(|o| o.contains_key(*s)));
    // npm runs a package.json script with the package's node_modules/.bin on PATH whichever
    // manager installed it, and ships with Node; yarn's Plug'n'Play installs need yarn itself.
    let runner = if manager == Manager::Yarn { "yarn" } else { "npm" };
    if let Some(script) = script {
        guess.set(
            "command",
            quote(&format!("{runner} run {script}")),
            format!("the `{script}` script of `{shown}`; installed by {} ({lock_place})", manager.name()),
        );
    } else {
        guess.set("command", quote("node server.js"), "a guess: `package.json` has no `dev` or `start` script");
        adoption.unmapped.push(Unmapped {
            service: guess.name.clone(),
            what: format!("no `dev` or `start` script in `{shown}`"),
            line: "command = \"node path/to/server.js\"".to_owned(),
        });
    }
}

/// The readiness probe: the health route the source serves, else the port accepting.
fn guess_ready(guess: &mut Guess, dir: &Path, port: u16, adoption: &mut Adoption) {
    match health_route(dir) {
        Some((route, at)) if route == "/health" => {
            guess.settings.push(Setting {
                key: "#ready",
                toml: String::new(),
                from: format!("GET /health at {at} (the kind's probe)"),
            });
        }
        Some((route, at)) => guess.set(
            "ready",
            format!("{{ http = \"http://127.0.0.1:{port}{route}\" }}"),
            format!("GET {route} at {at}"),
        ),
        None => {
            guess.set(
                "ready",
                format!("{{ tcp = \"127.0.0.1:{port}\" }}"),
                "no health route found: ready when the port accepts",
            );
            adoption.unmapped.push(Unmapped {
                service: guess.name.clone(),
                what: "no health route (`/health`) found in the source".to_owned(),
                line: "ready = { http = \"http://127.0.0.1:PORT/health\" }".to_owned(),
            });
        }
    }
}

/// The service's port: `.env`, then the scripts, then `.env.example`, then the source's default.
fn port_of(
    root: &Path,
    dir: &Path,
    folder: &str,
    kind: &str,
    facts: &[(String, ScriptFacts)],
) -> (Option<u16>, String) {
    let prefix = if folder.is_empty() { String::new() } else { format!("{folder}/") };
    if let Some((port, line)) = dotenv_port(&dir.join(".env")) {
        return (Some(port), format!("{prefix}.env:{line} PORT"));
    }
    let last = folder.rsplit('/').next().unwrap_or(folder).to_ascii_uppercase().replace('-', "_");
    let stem = last.trim_end_matches("_SERVER").to_owned();
    for (_, script) in facts {
        let hit = script.ports.iter().find(|p| {
            let name = &p.value.0;
            (!stem.is_empty() && name.starts_with(&stem))
                || (kind == "mcp" && name.contains("MCP"))
                || (kind == "agui" && (name.contains("AGUI") || name.contains("AG_UI")))
        });
        if let Some(found) = hit {
            return (Some(found.value.1), format!("{} {}", found.at, found.value.0));
        }
    }
    for file in [dir.join(".env.example"), root.join(".env.example")] {
        if let Some((port, line)) = dotenv_port(&file) {
            let shown = file.strip_prefix(root).unwrap_or(&file).display().to_string();
            return (Some(port), format!("{shown}:{line} PORT"));
        }
    }
    if let Some((port, at)) = source_default(dir) {
        return (Some(port), format!("the source's default at {at}"));
    }
    (None, String::new())
}

fn dotenv_port(file: &Path) -> Option<(u16, usize)> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().enumerate().find_map(|(i, line)| {
        let value = line.trim().strip_prefix("export ").unwrap_or(line.trim()).strip_prefix("PORT=")?;
        Some((value.trim().trim_matches(['"', '\'']).parse().ok()?, i + 1))
    })
}

/// Source files of a package: `src/**` and top-level `.ts`/`.js`/`.mjs`, three levels deep.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((folder, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir()
                && depth < 3
                && !SKIP.contains(&name.as_str())
                && !name.starts_with('.')
                && name != "test"
                && name != "tests"
            {
                stack.push((path, depth + 1));
            } else if ["ts", "js", "mjs", "cjs", "mts"].iter().any(|e| name.ends_with(&format!(".{e}")))
                && !name.ends_with(".d.ts")
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn source_default(dir: &Path) -> Option<(u16, String)> {
    let pattern = regex::Regex::new(r"process\.env\.PORT\b[^\d\n]{0,24}?(\d{2,5})").ok()?;
    sources(dir).into_iter().find_map(|file| {
        let text = std::fs::read_to_string(&file).ok()?;
        let (line, caps) = text.lines().enumerate().find_map(|(i, l)| pattern.captures(l).map(|c| (i + 1, c)))?;
        let port = caps.get(1)?.as_str().parse().ok()?;
        Some((port, format!("{}:{line}", file.strip_prefix(dir).unwrap_or(&file).display())))
    })
}

/// The first health route in the source (`'/health'`, `"/healthz"`), with `file:line`.
fn health_route(dir: &Path) -> Option<(String, String)> {
    let pattern = regex::Regex::new(r#"["'`](/health[A-Za-z/_-]*)["'`]"#).ok()?;
    let folder = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    sources(dir).into_iter().find_map(|file| {
        let text = std::fs::read_to_string(&file).ok()?;
        let (line, route) = text
            .lines()
            .enumerate()
            .find_map(|(i, l)| Some((i + 1, pattern.captures(l)?.get(1)?.as_str().to_owned())))?;
        Some((route, format!("{folder}/{}:{line}", file.strip_prefix(dir).unwrap_or(&file).display())))
    })
}

/// Names by kind (`mcp`, `agui`) when one service has it, else by folder.
fn name_services(services: &mut [Guess]) {
    for kind in ["mcp", "agui"] {
        if services.iter().filter(|s| s.kind == kind).count() == 1
            && let Some(service) = services.iter_mut().find(|s| s.kind == kind)
        {
            kind.clone_into(&mut service.name);
        }
    }
}

/// `depends_on` from the scripts' start order (a later service waits for the earlier ones),
/// else from what the kinds know (an AG-UI server connects to its MCP server at start-up).
fn order(services: &mut [Guess], facts: &[(String, ScriptFacts)], packages: &[Package]) {
    let name_of = |folder: &str, services: &[Guess]| {
        services.iter().find(|s| s.get("cwd").is_some_and(|c| c.toml == quote(folder))).map(|s| s.name.clone())
    };
    let _ = packages;
    for (_, script) in facts {
        let started: Vec<(String, String)> =
            script.starts.iter().filter_map(|s| Some((name_of(&s.value, services)?, s.at.clone()))).collect();
        if started.len() < 2 {
            continue;
        }
        for (index, (name, at)) in started.iter().enumerate().skip(1) {
            let earlier: Vec<String> = started[..index].iter().map(|(n, _)| quote(n)).collect();
            let list: Vec<String> = started[..index].iter().map(|(n, a)| format!("`{n}` at {a}")).collect();
            if let Some(service) = services.iter_mut().find(|s| s.name == *name) {
                service.set(
                    "depends_on",
                    format!("[{}]", earlier.join(", ")),
                    format!("the start order: {}, then `{name}` at {at}", list.join(", ")),
                );
            }
        }
        return;
    }
    let mcp: Vec<String> = services.iter().filter(|s| s.kind == "mcp").map(|s| quote(&s.name)).collect();
    if !mcp.is_empty() {
        for service in services.iter_mut().filter(|s| s.kind == "agui") {
            service.set(
                "depends_on",
                format!("[{}]", mcp.join(", ")),
                "an AG-UI server connects to its MCP server at start-up",
            );
        }
    }
}

fn litellm_service(
    root: &Path,
    files: &[PathBuf],
    facts: &[(String, ScriptFacts)],
    adoption: &mut Adoption,
    needed: bool,
) -> Option<Guess> {
    let script = facts
        .iter()
        .map(|(_, f)| f)
        .find(|f| f.litellm_model.is_some() || f.litellm_config.is_some() || f.litellm_port.is_some());
    let config_file = files.iter().find(|p| {
        p.extension().is_some_and(|e| e == "yaml" || e == "yml")
            && std::fs::read_to_string(p).is_ok_and(|t| t.lines().any(|l| l.starts_with("model_list:")))
    });
    let venvs: Vec<&PathBuf> = files.iter().filter(|p| p.join("pyvenv.cfg").is_file()).collect();
    if script.is_none() && config_file.is_none() && venvs.is_empty() && !needed {
        return None;
    }
    let mut guess = Guess { name: "litellm".to_owned(), kind: "litellm", why: String::new(), settings: Vec::new() };
    let relative = |p: &Path| p.strip_prefix(root).unwrap_or(p).to_string_lossy().into_owned();
    if let Some(Found { value, at }) = script.and_then(|s| s.litellm_config.clone()) {
        guess.why = format!("{at} starts `litellm --config`");
        guess.set("config", quote(value.trim_start_matches("./")), format!("{at} --config"));
    } else if let Some(Found { value, at }) = script.and_then(|s| s.litellm_model.clone()) {
        guess.why = format!("{at} starts `litellm --model`");
        guess.set("model", quote(&value), format!("{at} --model (offline model while its key is unset)"));
        if let Some(file) = config_file {
            adoption.unmapped.push(Unmapped {
                service: "litellm".to_owned(),
                what: format!("`{}` has a `model_list` the scripts do not use", relative(file)),
                line: format!("config = \"{}\"   # instead of `model`", relative(file)),
            });
        }
    } else if let Some(file) = config_file {
        guess.why = format!("`{}` holds a LiteLLM `model_list`", relative(file));
        guess.set("config", quote(&relative(file)), format!("`{}` (model_list)", relative(file)));
    } else {
        "no LiteLLM config or start script was found; added from agui-dev's template".clone_into(&mut guess.why);
        for (path, bytes) in crate::embedded::folder("litellm") {
            if !root.join("litellm").join(path).exists() {
                adoption.add_files.push((format!("litellm/{path}"), bytes));
            }
        }
        guess.set("config", quote("litellm/config.yaml"), "agui-dev's template (written now; the project had none)");
    }
    if guess.get("config").is_some_and(|c| !c.from.starts_with("agui-dev")) {
        let config = root.join(guess.get("config").map(|c| c.toml.trim_matches('"').to_owned()).unwrap_or_default());
        if !config.parent().is_some_and(|d| d.join("requirements.txt").is_file()) {
            guess.settings.push(Setting {
                key: "#pins",
                toml: String::new(),
                from: "no requirements.txt next to the config: `setup` installs agui-dev's embedded, hashed pins"
                    .to_owned(),
            });
        }
    }
    match script.and_then(|s| s.litellm_port.clone()) {
        Some(Found { value, at }) => guess.set("port", value.to_string(), format!("{at} --port")),
        None => guess.set("port", "4000".to_owned(), "LiteLLM's default port (no `--port` found)"),
    }
    if let Some(Found { value, at }) = script.and_then(|s| s.litellm_host.clone())
        && value != "127.0.0.1"
        && value != "localhost"
    {
        adoption.unmapped.push(Unmapped {
            service: "litellm".to_owned(),
            what: format!("{at} binds `{value}`; agui-dev binds 127.0.0.1 (provider keys sit behind the proxy)"),
            line: format!("host = \"{value}\"   # only if other machines must reach it"),
        });
    }
    guess_venv(&mut guess, root, facts, &venvs);
    Some(guess)
}

/// The venv: an existing one (the one holding litellm first), else the one a script names.
fn guess_venv(guess: &mut Guess, root: &Path, facts: &[(String, ScriptFacts)], venvs: &[&PathBuf]) {
    let relative = |p: &Path| p.strip_prefix(root).unwrap_or(p).to_string_lossy().into_owned();
    let named: Vec<Found<String>> = facts.iter().flat_map(|(_, f)| f.venvs.clone()).collect();
    let with_litellm = venvs.iter().find(|v| v.join("bin/litellm").is_file());
    let chosen = with_litellm.or(venvs.first());
    match (chosen, named.first()) {
        (Some(venv), _) => {
            let shown = relative(venv);
            let what =
                if with_litellm.is_some() { "holds litellm" } else { "no litellm in it yet: `setup` installs it" };
            let script_says = named.first().map(|n| format!("; {} names `{}`", n.at, n.value)).unwrap_or_default();
            guess.set("venv", quote(&shown), format!("the existing venv `{shown}` ({what}){script_says}"));
        }
        (None, Some(Found { value, at })) => {
            guess.set("venv", quote(value), format!("{at} (not created yet: `setup` creates it)"));
        }
        (None, None) => {}
    }
}

/// A variable a script exports or requires: provider keys go to `.env`; what agui-dev wires is
/// said so; anything else is listed with the line that would set it.
fn note_variable(adoption: &mut Adoption, script: &str, var: &Found<String>) {
    let name = var.value.as_str();
    let wired =
        ["PORT", "HOST", "MCP_SERVER_URL", "LITELLM_ENDPOINT", "LITELLM_API_KEY", "LITELLM_MODEL", "LLM_PROVIDER"];
    if wired.contains(&name)
        || name.ends_with("_PORT")
        || adoption.unmapped.iter().any(|u| u.what.contains(&format!("`{name}`")))
    {
        return;
    }
    let provider_key = crate::kinds::litellm::config::PROVIDERS.iter().any(|(_, vars)| vars.contains(&name));
    if provider_key {
        adoption.unmapped.push(Unmapped {
            service: "litellm".to_owned(),
            what: format!("`{name}` ({} needs it); without it the proxy answers from an offline model", var.at),
            line: format!("{name}=...   # in .env (listed in env_files), never in stack.toml"),
        });
    } else if !["VENV_PATH", "LITELLM_CMD", "SCRIPT_DIR", "PROJECT_ROOT", "TEMPLATES_DIR", "LOG_DIR"].contains(&name) {
        adoption.unmapped.push(Unmapped {
            service: "-".to_owned(),
            what: format!("`{name}` set by {} ({script})", var.at),
            line: format!("env = {{ {name} = \"...\" }}   # in the service that reads it"),
        });
    }
}

pub fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}
