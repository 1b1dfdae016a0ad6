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

    /// Installs every dependency exactly as locked, dev dependencies included: building
    /// (TypeScript, bundlers) needs them. `--include=dev` holds even where `NODE_ENV=production`.
    fn install_all(self) -> &'static str {
        match self {
            PackageManager::Npm => "npm ci --include=dev",
            PackageManager::Pnpm => "corepack enable && pnpm install --frozen-lockfile",
            PackageManager::Yarn { berry: false } => "corepack enable && yarn install --frozen-lockfile",
            PackageManager::Yarn { berry: true } => "corepack enable && yarn install --immutable",
            PackageManager::NpmNoLock => "npm install --include=dev",
        }
    }

    /// Installs the production dependencies only, as locked: what the image runs with. `None`
    /// for Yarn Berry, which has no production-only install that works everywhere: `yarn
    /// workspaces focus --production` is built in only from Yarn 4, and a Plug'n'Play install
    /// leaves no `node_modules` to carry over; its image keeps the full install.
    fn install_production(self) -> Option<&'static str> {
        match self {
            PackageManager::Npm => Some("npm ci --omit=dev"),
            PackageManager::Pnpm => Some("corepack enable && pnpm install --frozen-lockfile --prod"),
            PackageManager::Yarn { berry: false } => {
                Some("corepack enable && yarn install --frozen-lockfile --production")
            }
            PackageManager::Yarn { berry: true } => None,
            PackageManager::NpmNoLock => Some("npm install --omit=dev"),
        }
    }

    /// Whether the program comes from Corepack, which the final stage enables too.
    fn corepack(self) -> bool {
        matches!(self, PackageManager::Pnpm | PackageManager::Yarn { .. })
    }
}

/// Whether the package's `package.json` in `dir` has the script `name`.
fn has_script(dir: &Path, name: &str) -> bool {
    let text = std::fs::read_to_string(dir.join("package.json")).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    json.pointer(&format!("/scripts/{name}")).is_some_and(serde_json::Value::is_string)
}

/// A plain, multi-stage Dockerfile for a Node service, which any engine builds (Docker 24 and
/// later with or without BuildKit, Podman 4.3 and later): no syntax directive, no BuildKit-only
/// flag. Production dependencies are installed in a stage of their own; the build stage installs
/// everything, copies the source, runs the package's `build` script when it has one (a project's
/// own scripts decide), then deletes `node_modules`, env files and agui-dev's state, so that
/// even a context without a `.dockerignore` cannot put them in the image. The final stage is
/// the build's `/app` plus the production `node_modules`, run as the image's `node` user.
pub fn node_dockerfile(
    origin: &str,
    major: u32,
    dir: &Path,
    pm: PackageManager,
    port: Option<u16>,
    command: &[String],
) -> String {
    let image = node_image(major);
    let manifests = format!("COPY {} ./", pm.manifest_files(dir).join(" "));
    let releases = (matches!(pm, PackageManager::Yarn { berry: true }) && dir.join(".yarn/releases").is_dir())
        .then(|| "COPY .yarn/releases ./.yarn/releases".to_owned());
    let production = pm.install_production();
    let mut lines = vec![
        format!("# Written by `agui-dev export` for {origin}; export again rather than edit."),
        "# A plain Dockerfile: Docker 24 or later (BuildKit or not) and Podman 4.3 or later build it.".to_owned(),
    ];
    if let Some(install) = production {
        lines.push(String::new());
        lines.push("# Production dependencies only: the node_modules the image runs with.".to_owned());
        lines.push(format!("FROM {image} AS deps"));
        lines.push("WORKDIR /app".to_owned());
        lines.push(manifests.clone());
        // A package without production dependencies gets no folder, which the final COPY needs.
        lines.push(format!("RUN {install} && mkdir -p node_modules"));
    }
    lines.push(String::new());
    lines.push("# Every dependency, the source and its build.".to_owned());
    lines.push(format!("FROM {image} AS build"));
    lines.push("WORKDIR /app".to_owned());
    lines.push(manifests);
    lines.extend(releases);
    lines.push(format!("RUN {}", pm.install_all()));
    lines.push("COPY . .".to_owned());
    if has_script(dir, "build") {
        lines.push(format!("RUN {} run build", pm.program()));
    }
    // Whatever the context's .dockerignore says: host modules, secrets and run state never
    // reach the final stage. `.npmrc` may hold a registry token, and running needs none.
    // Yarn Berry's image keeps its full install (see `install_production`), left unsearched.
    let (keep, modules) =
        if production.is_some() { ("", "-name node_modules -o ") } else { ("-path ./node_modules -prune -o ", "") };
    lines.push(format!(
        "RUN find . {keep}\\( {modules}-name .env -o -name '.env.*' -o -name .agui-dev -o -name .npmrc \\) -prune -exec rm -rf {{}} +"
    ));
    lines.push(String::new());
    lines.push(
        "# What runs: the built app and its production dependencies, as the unprivileged `node` user.".to_owned(),
    );
    lines.push(format!("FROM {image}"));
    lines.push("WORKDIR /app".to_owned());
    if pm.corepack() {
        lines.push("RUN corepack enable".to_owned());
        lines.push("ENV COREPACK_ENABLE_DOWNLOAD_PROMPT=0".to_owned());
    }
    lines.push("COPY --from=build /app ./".to_owned());
    if production.is_some() {
        lines.push("COPY --from=deps /app/node_modules ./node_modules".to_owned());
    }
    lines.push("USER node".to_owned());
    if pm.corepack() {
        // Fetched now, as the user that runs it, so the container starts without a download.
        lines.push(format!("RUN {} --version", pm.program()));
    }
    if let Some(port) = port {
        lines.push(format!("EXPOSE {port}"));
    }
    let words: Vec<String> = command.iter().map(|w| serde_json::Value::String(w.clone()).to_string()).collect();
    lines.push(format!("CMD [{}]", words.join(", ")));
    lines.join("\n") + "\n"
}

/// The `.dockerignore` of a Node service's build context: the one the templates ship, and the
/// one `export` writes into a context that has none. Kept in one file, the templates'.
pub fn dockerignore() -> &'static str {
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/mcp-server/.dockerignore"))
}

/// The `.dockerignore` the export writes into `dir`, a context that has none: `dockerignore()`,
/// but keeping a prebuilt `dist/` of a package with no `build` script, which its image needs.
pub fn dockerignore_for(dir: &Path) -> String {
    let text = dockerignore();
    if has_script(dir, "build") {
        return text.to_owned();
    }
    let mut kept = String::new();
    for line in text.lines().filter(|line| line.trim() != "dist") {
        kept.push_str(line);
        kept.push('\n');
    }
    kept
}

/// What an existing `.dockerignore` lets into the build context that should stay out:
/// `node_modules`, `.env`, `.env.*` (each named as here), for a warning. The classic builder
/// and Podman read only the context's `.dockerignore`; the generated Dockerfile deletes them in
/// its build stage anyway, but they still reach the builder (size, and secrets in its cache).
pub fn dockerignore_gaps(existing: &str) -> Vec<&'static str> {
    let rules: Vec<(bool, &str)> = existing
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| match line.strip_prefix('!') {
            Some(rest) => (false, rest.trim()),
            None => (true, line),
        })
        .collect();
    // Each entry of the context's root, with a name that stands for its kind.
    let probes = [("node_modules", "node_modules"), (".env", ".env"), (".env.*", ".env.local")];
    probes
        .into_iter()
        .filter(|(_, path)| {
            // The last rule that matches decides, as in Docker's and Podman's reading.
            let excluded = rules.iter().rev().find(|(_, pattern)| root_entry_matches(pattern, path));
            !excluded.is_some_and(|(exclude, _)| *exclude)
        })
        .map(|(name, _)| name)
        .collect()
}

/// A warning when the context's own `.dockerignore` lets in what should stay out; `None` when
/// it has none (the export writes `dockerignore()` there) or it keeps them all out.
pub fn dockerignore_warning(dir: &Path) -> Option<String> {
    let path = dir.join(".dockerignore");
    let gaps = dockerignore_gaps(&std::fs::read_to_string(&path).ok()?);
    (!gaps.is_empty()).then(|| {
        format!(
            "`{}` does not exclude {}: the build context takes them in (the image deletes them before its last stage); add them to it",
            path.display(),
            gaps.join(", ")
        )
    })
}

/// Whether a `.dockerignore` pattern matches `name`, an entry at the context's root (or all of
/// it, as `node_modules/**` does).
fn root_entry_matches(pattern: &str, name: &str) -> bool {
    let mut pattern = pattern.trim_start_matches('/').trim_start_matches("./").trim_end_matches('/');
    // `**/` matches no folder at all, so the root's entries too.
    while let Some(rest) = pattern.strip_prefix("**/") {
        pattern = rest;
    }
    let pattern = pattern.strip_suffix("/**").unwrap_or(pattern);
    pattern == "**" || (!pattern.contains('/') && wildcard(pattern.as_bytes(), name.as_bytes()))
}

/// `*` (any run of characters) and `?` (one character) within one path segment.
fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| wildcard(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && wildcard(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && wildcard(rest, &text[1..]),
    }
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

    /// A package folder with `package.json` (with these scripts) and the given lockfiles.
    fn package(scripts: &str, files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let json = format!(r#"{{"name":"p","version":"1.0.0","scripts":{{{scripts}}}}}"#);
        std::fs::write(dir.path().join("package.json"), json).unwrap();
        for file in files {
            std::fs::write(dir.path().join(file), "").unwrap();
        }
        dir
    }

    fn dockerfile(dir: &Path, pm: PackageManager) -> String {
        let start = vec![pm.program().to_owned(), "start".to_owned()];
        node_dockerfile("service `mcp`", 24, dir, pm, Some(3100), &start)
    }

    /// The `RUN` line that deletes what must not reach the final stage.
    fn cleanup(text: &str) -> &str {
        text.lines().find(|l| l.starts_with("RUN find ")).unwrap().strip_prefix("RUN ").unwrap()
    }

    #[test]
    fn the_dockerfile_is_plain_and_multi_stage() {
        let dir =
            package(r#""build":"tsc -p tsconfig.build.json","start":"node dist/server.js""#, &["package-lock.json"]);
        let text = dockerfile(dir.path(), PackageManager::Npm);
        // Nothing only BuildKit reads: a syntax directive, flags of COPY/RUN, heredocs.
        assert!(!text.contains("syntax"), "{text}");
        for flag in ["--exclude", "--mount", "--link", "--parents", "--network", "--security", "<<"] {
            assert!(!text.contains(flag), "{flag} in\n{text}");
        }
        let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
        assert_eq!(
            froms,
            ["FROM node:24-bookworm-slim AS deps", "FROM node:24-bookworm-slim AS build", "FROM node:24-bookworm-slim"]
        );
        let at = |line: &str| text.lines().position(|l| l == line).unwrap_or_else(|| panic!("no `{line}` in\n{text}"));
        assert!(at("RUN npm ci --omit=dev && mkdir -p node_modules") < at("FROM node:24-bookworm-slim AS build"));
        assert!(at("RUN npm ci --include=dev") < at("COPY . ."));
        assert!(at("COPY . .") < at("RUN npm run build"));
        assert!(at("RUN npm run build") < at(&format!("RUN {}", cleanup(&text))));
        for gone in ["-name node_modules", "-name .env ", "-name '.env.*'", "-name .agui-dev"] {
            assert!(cleanup(&text).contains(gone), "{gone} in {}", cleanup(&text));
        }
        // The final stage: the build's /app, production modules over it, run as `node`.
        assert!(at("FROM node:24-bookworm-slim") < at("COPY --from=build /app ./"));
        assert!(at("COPY --from=build /app ./") < at("COPY --from=deps /app/node_modules ./node_modules"));
        assert!(at("COPY --from=deps /app/node_modules ./node_modules") < at("USER node"));
        assert!(at("USER node") < at("EXPOSE 3100"));
        assert_eq!(text.lines().last(), Some(r#"CMD ["npm", "start"]"#));
        assert!(!text.contains("corepack"), "npm needs no Corepack\n{text}");
    }

    #[test]
    fn the_build_step_is_there_only_with_a_build_script() {
        let dir = package(r#""start":"node server.js""#, &["package-lock.json"]);
        let text = dockerfile(dir.path(), PackageManager::Npm);
        assert!(!text.contains("run build"), "{text}");
        assert!(text.contains("COPY . .\nRUN find "), "the cleanup follows the copy\n{text}");
        // A `build` that is not a script's command line does not count either.
        let dir = package(r#""start":"node server.js","build":{}"#, &["package-lock.json"]);
        assert!(!dockerfile(dir.path(), PackageManager::Npm).contains("run build"));
    }

    #[test]
    fn each_package_manager_installs_and_starts_its_own_way() {
        let build = r#""build":"tsc","start":"node dist/server.js""#;
        // (manager, lockfiles, production install, full install, build, runtime step)
        let cases = [
            (
                PackageManager::Npm,
                &["package-lock.json"][..],
                Some("npm ci --omit=dev"),
                "npm ci --include=dev",
                "npm run build",
            ),
            (
                PackageManager::NpmNoLock,
                &[][..],
                Some("npm install --omit=dev"),
                "npm install --include=dev",
                "npm run build",
            ),
            (
                PackageManager::Pnpm,
                &["pnpm-lock.yaml"][..],
                Some("corepack enable && pnpm install --frozen-lockfile --prod"),
                "corepack enable && pnpm install --frozen-lockfile",
                "pnpm run build",
            ),
            (
                PackageManager::Yarn { berry: false },
                &["yarn.lock"][..],
                Some("corepack enable && yarn install --frozen-lockfile --production"),
                "corepack enable && yarn install --frozen-lockfile",
                "yarn run build",
            ),
            (
                PackageManager::Yarn { berry: true },
                &["yarn.lock", ".yarnrc.yml"][..],
                None,
                "corepack enable && yarn install --immutable",
                "yarn run build",
            ),
        ];
        for (pm, files, production, all, build_step) in cases {
            let dir = package(build, files);
            let text = dockerfile(dir.path(), pm);
            let has = |line: &str| text.lines().any(|l| l == line);
            let manifests = std::iter::once("package.json").chain(files.iter().copied()).collect::<Vec<_>>().join(" ");
            assert!(has(&format!("COPY {manifests} ./")), "{pm:?}\n{text}");
            assert!(has(&format!("RUN {all}")), "{pm:?}\n{text}");
            assert!(has(&format!("RUN {build_step}")), "{pm:?}\n{text}");
            assert!(has(&format!("CMD [\"{}\", \"start\"]", pm.program())), "{pm:?}\n{text}");
            if let Some(install) = production {
                assert!(has(&format!("RUN {install} && mkdir -p node_modules")), "{pm:?}\n{text}");
                assert!(has("COPY --from=deps /app/node_modules ./node_modules"), "{pm:?}\n{text}");
                assert!(cleanup(&text).contains("-name node_modules"), "{pm:?}");
            } else {
                // Berry keeps its full install: no deps stage, and its modules are kept.
                assert!(!text.contains(" AS deps") && !text.contains("--from=deps"), "{pm:?}\n{text}");
                assert!(cleanup(&text).contains("-path ./node_modules -prune"), "{pm:?}");
                assert!(!cleanup(&text).contains("-name node_modules"), "{pm:?}");
            }
            // Corepack's managers are enabled in the final stage and fetched before it runs.
            let corepack = pm.corepack();
            assert_eq!(has("RUN corepack enable"), corepack, "{pm:?}\n{text}");
            assert_eq!(has(&format!("RUN {} --version", pm.program())), corepack, "{pm:?}\n{text}");
            if corepack {
                assert!(
                    text.find("USER node").unwrap() < text.find(&format!("RUN {} --version", pm.program())).unwrap()
                );
            }
        }
    }

    /// The cleanup line run for real by `sh` over a context copied without a `.dockerignore`.
    #[test]
    fn the_cleanup_deletes_modules_env_files_and_state_at_any_depth() {
        let dir = package(r#""build":"tsc""#, &["package-lock.json", ".env", ".env.local", ".npmrc"]);
        let root = dir.path();
        for path in [
            "node_modules/x/index.js",
            ".agui-dev/logs/a.log",
            "sub/.env",
            "sub/node_modules/y.js",
            "src/server.ts",
            "dist/server.js",
        ] {
            std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            std::fs::write(root.join(path), "x").unwrap();
        }
        let text = dockerfile(root, PackageManager::Npm);
        let status = std::process::Command::new("sh").arg("-c").arg(cleanup(&text)).current_dir(root).status().unwrap();
        assert!(status.success());
        for gone in ["node_modules", ".env", ".env.local", ".npmrc", ".agui-dev", "sub/.env", "sub/node_modules"] {
            assert!(!root.join(gone).exists(), "{gone} is still there");
        }
        for kept in ["package.json", "package-lock.json", "src/server.ts", "dist/server.js"] {
            assert!(root.join(kept).is_file(), "{kept} was deleted");
        }
        // Berry's: its installed modules stay, env files go.
        std::fs::create_dir_all(root.join("node_modules/.env")).unwrap();
        std::fs::write(root.join(".env"), "K=v").unwrap();
        let berry = dockerfile(root, PackageManager::Yarn { berry: true });
        let status =
            std::process::Command::new("sh").arg("-c").arg(cleanup(&berry)).current_dir(root).status().unwrap();
        assert!(status.success());
        assert!(!root.join(".env").exists() && root.join("node_modules/.env").is_dir());
    }

    #[test]
    fn a_prebuilt_dist_stays_in_the_context_of_a_package_without_a_build_script() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("package.json"), r#"{"scripts":{"start":"node dist/server.js"}}"#).unwrap();
        let kept = dockerignore_for(dir.path());
        assert!(!kept.lines().any(|l| l == "dist") && kept.lines().any(|l| l == "node_modules"), "{kept}");
        std::fs::write(dir.path().join("package.json"), r#"{"scripts":{"build":"tsc","start":"node dist/a.js"}}"#)
            .unwrap();
        assert_eq!(dockerignore_for(dir.path()), dockerignore(), "built in the image: a host dist/ stays out");
    }

    #[test]
    fn the_templates_ship_the_dockerignore_the_export_writes() {
        for template in ["mcp-server", "agui-server"] {
            let shipped = crate::embedded::file(&format!("{template}/.dockerignore")).unwrap();
            assert_eq!(std::str::from_utf8(shipped).unwrap(), dockerignore(), "{template}");
        }
        assert_eq!(dockerignore_gaps(dockerignore()), Vec::<&str>::new());
    }

    #[test]
    fn a_context_whose_dockerignore_lets_env_files_in_gets_a_warning() {
        let dir = package("", &[]);
        assert_eq!(dockerignore_warning(dir.path()), None, "none: the export writes its own");
        std::fs::write(dir.path().join(".dockerignore"), "node_modules\n").unwrap();
        let warning = dockerignore_warning(dir.path()).unwrap();
        assert!(warning.contains(".dockerignore` does not exclude .env, .env.*:"), "{warning}");
        std::fs::write(dir.path().join(".dockerignore"), dockerignore()).unwrap();
        assert_eq!(dockerignore_warning(dir.path()), None);
    }

    #[test]
    fn dockerignore_gaps_name_what_gets_in() {
        assert_eq!(dockerignore_gaps(""), ["node_modules", ".env", ".env.*"]);
        assert_eq!(dockerignore_gaps("# node_modules\n.git\n"), ["node_modules", ".env", ".env.*"]);
        assert_eq!(dockerignore_gaps("/node_modules/\n.env*\n"), Vec::<&str>::new());
        assert_eq!(dockerignore_gaps("**/node_modules\n./.env\n"), [".env.*"]);
        assert_eq!(dockerignore_gaps("node_modules/**\n.env\n.env.*\n"), Vec::<&str>::new());
        assert_eq!(dockerignore_gaps("*\n!src\n"), Vec::<&str>::new(), "everything but src");
        assert_eq!(dockerignore_gaps("*\n!.env\n"), [".env"], "the last match decides");
        assert_eq!(dockerignore_gaps("node_modules/foo\nsrc/.env\n.env?\n"), ["node_modules", ".env", ".env.*"]);
    }
}
