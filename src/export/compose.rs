//! `agui-dev export compose`: one compose file plus `.env.example`.
//!
//! Node services are built from a generated `<service>.Dockerfile` written beside the compose
//! file, with the service's folder as the build context; the LiteLLM config folder is
//! bind-mounted read-only. Secrets are `${VAR}` references that compose fills from the
//! environment or a `.env` file next to the compose file; every other `$` is written `$$` so
//! compose leaves it alone.
//!
//! Everything here is what Docker Engine 24+ and Podman 4.3+ with compose v2 accept, checked on
//! Podman (tests/engine.rs): no `dockerfile_inline` (the classic builder, which compose uses
//! against Podman, cannot take it) except on stdout, where there is no file to point at; no
//! `healthcheck.start_interval` (compose refuses the whole file below Engine 25); and `CMD-SHELL`
//! healthchecks, because Podman's Docker-compatible API splits exec-form arguments on spaces.

use std::fmt::Write as _;
use std::path::Path;

use serde_norway::{Mapping, Value as Yaml};

use super::shared::{Container, Export, Image, duration};
use super::wiring::{Part, Value};
use crate::config::Restart;

/// Where the generated Dockerfiles go.
#[derive(Clone, Copy)]
pub enum Dockerfiles {
    /// As `<service>.Dockerfile` files beside the compose file (`dockerfile_name`).
    Beside,
    /// Inside the compose file (`dockerfile_inline`, BuildKit only): the compose file is on stdout.
    Inline,
}

/// The file name of a service's generated Dockerfile, beside the compose file.
pub fn dockerfile_name(container: &Container) -> String {
    format!("{}.Dockerfile", container.name)
}

/// The compose file, with paths written relative to `out_dir` (where the compose file goes).
pub fn render(export: &Export, out_dir: &Path, dockerfiles: Dockerfiles) -> String {
    let mut services = Mapping::new();
    for container in &export.services {
        services.insert(container.name.clone().into(), service(export, container, out_dir, dockerfiles));
    }
    let mut root = Mapping::new();
    root.insert("name".into(), export.name.clone().into());
    root.insert("services".into(), Yaml::Mapping(services));
    let header = "# Written by `agui-dev export compose`; export again rather than edit.\n\
                  # Secrets are ${VAR} references: copy .env.example to .env beside this file and fill it in.\n\
                  # Start: `docker compose up --build --wait` (against Podman's Docker API: DOCKER_BUILDKIT=0).\n\
                  # `agui-dev export compose --check` builds, starts, checks and removes it on this machine.\n";
    header.to_owned() + &serde_norway::to_string(&Yaml::Mapping(root)).unwrap_or_default()
}

fn service(export: &Export, c: &Container, out_dir: &Path, dockerfiles: Dockerfiles) -> Yaml {
    let mut s = Mapping::new();
    match &c.image {
        Image::Pull(image) => {
            s.insert("image".into(), image.clone().into());
        }
        Image::Build { tag, context, dockerfile } => {
            let mut build = Mapping::new();
            build.insert("context".into(), escape(&relative(out_dir, context)).into());
            match (dockerfile, dockerfiles) {
                (None, _) => {}
                (Some(text), Dockerfiles::Inline) => {
                    build.insert("dockerfile_inline".into(), escape(text).into());
                }
                // Compose resolves `dockerfile` from the context; the classic builder takes a
                // Dockerfile outside the context.
                (Some(_), Dockerfiles::Beside) => {
                    let file = escape(&format!("{}/{}", relative(context, out_dir), dockerfile_name(c)));
                    build.insert("dockerfile".into(), file.into());
                }
            }
            s.insert("build".into(), Yaml::Mapping(build));
            s.insert("image".into(), tag.clone().into());
        }
    }
    if let Some(args) = &c.args {
        s.insert("command".into(), strings(args.iter().map(|a| escape(a))));
    }
    // An init process as PID 1 forwards stop signals and reaps, as agui-dev does locally.
    s.insert("init".into(), true.into());
    if !c.env.is_empty() {
        let mut env = Mapping::new();
        for (key, value) in &c.env {
            env.insert(key.clone().into(), reference(export, value).into());
        }
        s.insert("environment".into(), Yaml::Mapping(env));
    }
    if let Some(port) = c.port {
        // Published on loopback only: the stack stays as private as it was on the laptop.
        s.insert("ports".into(), strings([format!("127.0.0.1:{port}:{port}")]));
    }
    if let Some(files) = &c.config {
        let volume = format!("{}:{}:ro", escape(&relative(out_dir, &files.dir)), files.mount);
        s.insert("volumes".into(), strings([volume]));
    }
    if let Some(check) = healthcheck(c) {
        s.insert("healthcheck".into(), check);
    }
    if let Some(deps) = depends_on(export, c) {
        s.insert("depends_on".into(), deps);
    }
    // `"no"` is compose's default and is left out: unquoted, YAML 1.1 readers take it for false.
    // A task (`restart` is never `always` there) thus runs once, or is retried on failure.
    let restart = match c.restart {
        Restart::No => None,
        Restart::OnFailure => Some(format!("on-failure:{}", c.max_restarts)),
        Restart::Always => Some("always".to_owned()),
    };
    if let Some(restart) = restart {
        s.insert("restart".into(), restart.into());
    }
    if c.stop_signal != nix::sys::signal::Signal::SIGTERM {
        s.insert("stop_signal".into(), c.stop_signal.as_str().into());
    }
    s.insert("stop_grace_period".into(), duration(c.stop_grace).into());
    Yaml::Mapping(s)
}

/// The service's probe as compose's healthcheck, when its image has a program to run it.
fn healthcheck(c: &Container) -> Option<Yaml> {
    let test = c.probe.as_ref().and_then(|p| p.command(c.runtime))?;
    let mut check = Mapping::new();
    // Podman's Docker-compatible API splits exec-form (`CMD`) arguments on spaces, so
    // `node -e "fetch(…) …"` would reach node in pieces: such a probe is one shell line (both
    // known images have `sh`). Arguments without spaces stay exec-form, which needs no shell.
    let words = if test.iter().any(|w| w.contains(char::is_whitespace)) {
        vec!["CMD-SHELL".to_owned(), escape(&shell_words::join(&test))]
    } else {
        std::iter::once("CMD".to_owned()).chain(test.iter().map(|w| escape(w))).collect()
    };
    check.insert("test".into(), strings(words));
    // `start_interval` (a faster probe while starting) would make engines before Docker 25
    // refuse the whole file, so every probe runs at `interval`: short enough that a service
    // is seen healthy within seconds of being ready, and each probe is one short process.
    check.insert("interval".into(), duration(HEALTH_INTERVAL).into());
    check.insert("timeout".into(), "5s".into());
    check.insert("retries".into(), Yaml::Number(3.into()));
    // `ready.timeout` is how long the service may take to come up: failures before then
    // do not count.
    check.insert("start_period".into(), duration(c.ready_timeout).into());
    Some(Yaml::Mapping(check))
}

/// How often compose probes a service, while it starts and after.
const HEALTH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Each dependency with the condition agui-dev waits for locally: healthy, completed or started.
fn depends_on(export: &Export, c: &Container) -> Option<Yaml> {
    if c.depends_on.is_empty() {
        return None;
    }
    let mut deps = Mapping::new();
    for dep in &c.depends_on {
        let d = export.services.iter().find(|d| &d.name == dep);
        let healthy = d.is_some_and(|d| d.probe.as_ref().and_then(|p| p.command(d.runtime)).is_some());
        let mut condition = Mapping::new();
        // A task is done when it exits 0, as agui-dev starts its dependents locally.
        let condition_name = if d.is_some_and(|d| d.task) {
            "service_completed_successfully"
        } else if healthy {
            "service_healthy"
        } else {
            "service_started"
        };
        condition.insert("condition".into(), condition_name.into());
        deps.insert(dep.clone().into(), Yaml::Mapping(condition));
    }
    Some(Yaml::Mapping(deps))
}

/// An environment value for compose: text with `$` escaped, secrets as `${VAR}` (required ones
/// as `${VAR:?…}`, so compose refuses to start without them instead of passing an empty key).
fn reference(export: &Export, value: &Value) -> String {
    value
        .0
        .iter()
        .map(|part| match part {
            Part::Text(text) => escape(text),
            Part::Secret(name) if export.secrets.get(name).is_some_and(|s| s.optional) => format!("${{{name}:-}}"),
            Part::Secret(name) => format!("${{{name}:?set {name} in .env (see .env.example)}}"),
        })
        .collect()
}

/// `.env.example`: every secret the compose file references, with no value.
pub fn env_example(export: &Export) -> String {
    let mut text = String::from(
        "# The secrets compose.yaml references, written by `agui-dev export compose` (no values).\n\
         # Copy to `.env` next to the compose file and fill in; never commit the filled-in file.\n",
    );
    for (optional, title) in [(false, "Required"), (true, "Optional: provider keys; models whose key is unset fail")] {
        let names: Vec<_> = export.secrets.iter().filter(|(_, s)| s.optional == optional).collect();
        if names.is_empty() {
            continue;
        }
        let _ = write!(text, "\n# {title}\n");
        for (name, secret) in names {
            let _ = write!(text, "# {}\n{name}=\n", secret.why);
        }
    }
    text
}

/// Compose interpolates every string; a literal `$` is written `$$`.
fn escape(text: &str) -> String {
    text.replace('$', "$$")
}

fn strings(items: impl IntoIterator<Item = String>) -> Yaml {
    Yaml::Sequence(items.into_iter().map(Yaml::String).collect())
}

/// `to` relative to the folder `from` (compose resolves paths against the compose file's folder).
pub fn relative(from: &Path, to: &Path) -> String {
    let from = from.canonicalize().unwrap_or_else(|_| from.to_path_buf());
    let to = to.canonicalize().unwrap_or_else(|_| to.to_path_buf());
    let a: Vec<_> = from.components().collect();
    let b: Vec<_> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".to_owned(); a.len() - common];
    parts.extend(b[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    if parts.is_empty() {
        ".".to_owned()
    } else if parts[0] == ".." {
        parts.join("/")
    } else {
        format!("./{}", parts.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::shared::Health;
    use crate::kinds::container::Runtime;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn node_service(name: &str, probe: Health) -> Container {
        Container {
            name: name.to_owned(),
            host: name.to_owned(),
            runtime: Runtime::Node,
            image: Image::Build {
                tag: format!("s-{name}:latest"),
                context: std::path::PathBuf::from(format!("/p/{name}")),
                dockerfile: Some("FROM node:24-bookworm-slim\n".to_owned()),
            },
            args: None,
            env: Vec::new(),
            port: Some(3100),
            probe: Some(probe),
            ready_timeout: Duration::from_mins(1),
            depends_on: Vec::new(),
            task: false,
            restart: Restart::No,
            max_restarts: 0,
            stop_signal: nix::sys::signal::Signal::SIGTERM,
            stop_grace: Duration::from_secs(5),
            config: None,
        }
    }

    fn render_one(c: Container, dockerfiles: Dockerfiles) -> Yaml {
        let export = Export {
            name: "s".to_owned(),
            services: vec![c],
            secrets: BTreeMap::new(),
            warnings: Vec::new(),
            notes: Vec::new(),
            forbidden: Vec::new(),
        };
        let text = render(&export, Path::new("/p/deploy"), dockerfiles);
        let root: Yaml = serde_norway::from_str(&text).unwrap();
        root["services"][export.services[0].name.as_str()].clone()
    }

    // Podman 4.3's Docker API split `["CMD", "node", "-e", "fetch(…) …"]` on spaces and every
    // Node service stayed unhealthy; compose refused the whole file for `start_interval`.
    #[test]
    fn healthchecks_run_on_podman_and_engines_before_docker_25() {
        let http = Health::Http {
            url: "http://127.0.0.1:3100/health".to_owned(),
            port: 3100,
            path: "/health".to_owned(),
            https: false,
            own: true,
        };
        let service = render_one(node_service("mcp", http), Dockerfiles::Beside);
        let check = &service["healthcheck"];
        assert_eq!(check["test"][0].as_str(), Some("CMD-SHELL"));
        let line = check["test"][1].as_str().unwrap();
        let words = shell_words::split(line).unwrap();
        assert_eq!(words[..2], ["node", "-e"], "one shell line that `sh` splits back into the probe: {line}");
        assert!(words[2].starts_with("fetch(\"http://127.0.0.1:3100/health\""), "{line}");
        assert!(check["start_interval"].is_null());
        assert_eq!(check["start_period"].as_str(), Some("60s"));

        let exec = render_one(
            node_service("x", Health::Exec(vec!["ready-check".to_owned(), "--quick".to_owned()])),
            Dockerfiles::Beside,
        );
        let test: Vec<_> = exec["healthcheck"]["test"].as_sequence().unwrap().iter().filter_map(Yaml::as_str).collect();
        assert_eq!(test, ["CMD", "ready-check", "--quick"], "no space in any argument: exec form, no shell needed");
    }

    // The classic builder (compose against Podman, `DOCKER_BUILDKIT=0`) cannot take
    // `dockerfile_inline`: "unable to evaluate symlinks in Dockerfile path".
    #[test]
    fn dockerfiles_are_files_beside_the_compose_file_except_on_stdout() {
        let probe = || Health::Tcp { host: "127.0.0.1".to_owned(), port: 3100, own: true };
        let beside = render_one(node_service("mcp", probe()), Dockerfiles::Beside);
        assert_eq!(beside["build"]["context"].as_str(), Some("../mcp"));
        assert_eq!(beside["build"]["dockerfile"].as_str(), Some("../deploy/mcp.Dockerfile"), "relative to the context");
        assert!(beside["build"]["dockerfile_inline"].is_null());
        let inline = render_one(node_service("mcp", probe()), Dockerfiles::Inline);
        assert_eq!(inline["build"]["dockerfile_inline"].as_str(), Some("FROM node:24-bookworm-slim\n"));
        assert!(inline["build"]["dockerfile"].is_null());
    }

    #[test]
    fn relative_paths() {
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/b/c/d")), "./c/d");
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/x")), "../x");
        assert_eq!(relative(Path::new("/a/b"), Path::new("/a/b")), ".");
    }
}
