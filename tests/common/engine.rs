//! For the engine tests (`tests/engine.rs`, run by the CI engine stage with the engine's
//! environment sourced): a compose project the test drives itself between `up` and `down`
//! (taken down when dropped, whatever happened), and what the engine still holds of a project.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The label compose puts on every container, network and volume of a project.
pub const PROJECT_LABEL: &str = "com.docker.compose.project";

/// Held while a test publishes the stacks' fixed ports (3000, 3100, 4000 on 127.0.0.1) on the
/// engine: nextest runs tests in parallel processes, and two projects cannot both publish them.
pub fn ports_lock() -> std::fs::File {
    super::install_lock("engine-ports")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// `podman ARGS`, which must succeed: its stdout.
pub fn podman(args: &[&str]) -> String {
    let output = Command::new("podman").args(args).output().expect("podman is on PATH (source the engine's env)");
    assert!(output.status.success(), "`podman {}` failed:\n{}", args.join(" "), text(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every container, network and volume of `project` the engine still has, as `container abc…`.
pub fn leftovers(project: &str) -> Vec<String> {
    let filter = format!("label={PROJECT_LABEL}={project}");
    let mut left = Vec::new();
    for (what, list) in
        [("container", &["ps", "--all"][..]), ("network", &["network", "ls"]), ("volume", &["volume", "ls"])]
    {
        let ids = podman(&[list, &["--quiet", "--filter", &filter]].concat());
        left.extend(ids.split_whitespace().map(|id| format!("{what} {id}")));
    }
    left
}

/// The times (ns since the epoch) of the engine's `event` events of a container
/// (`health_status` ones only when `healthy`).
pub fn events(id: &str, event: &str) -> Vec<u128> {
    let format = "{{.Time.UnixNano}} {{.HealthStatus}}";
    let filters = ["--filter", &format!("container={id}"), "--filter", &format!("event={event}")];
    let found = podman(&[&["events", "--stream=false", "--since", "1h", "--format", format][..], &filters].concat());
    found
        .lines()
        .filter(|line| event != "health_status" || line.ends_with(" healthy"))
        .filter_map(|line| line.split_whitespace().next()?.parse().ok())
        .collect()
}

/// A compose project of the test's own, taken down (with its volumes) when dropped.
pub struct Project {
    /// The compose files, the first one's folder being the project's.
    pub files: Vec<PathBuf>,
    pub name: String,
    /// The master key the project's `${LITELLM_MASTER_KEY}` gets.
    pub key: String,
}

impl Project {
    /// `docker-compose -f … -p NAME ARGS`, as the CI stage runs it against Podman (the classic
    /// builder, which Podman's API serves).
    pub fn compose(&self, args: &[&str]) -> Output {
        let mut command = Command::new("docker-compose");
        for file in &self.files {
            command.arg("-f").arg(file);
        }
        command
            .args(["-p", &self.name])
            .args(args)
            .env("DOCKER_BUILDKIT", "0")
            .env("COMPOSE_BAKE", "false")
            .env("COMPOSE_ANSI", "never")
            .env("LITELLM_MASTER_KEY", &self.key);
        command.output().expect("docker-compose is on PATH (source the engine's env)")
    }

    /// `compose ARGS`, which must succeed: stdout and stderr.
    pub fn must(&self, args: &[&str]) -> String {
        let output = self.compose(args);
        assert!(output.status.success(), "`compose {}` failed:\n{}", args.join(" "), text(&output));
        text(&output)
    }

    /// The id of `service`'s container.
    pub fn container(&self, service: &str) -> String {
        let filters =
            [format!("label={PROJECT_LABEL}={}", self.name), format!("label=com.docker.compose.service={service}")];
        let ids = podman(&["ps", "--all", "--quiet", "--no-trunc", "--filter", &filters[0], "--filter", &filters[1]]);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        assert_eq!(ids.len(), 1, "one container of `{service}` in project `{}`: {ids:?}", self.name);
        ids[0].to_owned()
    }

    pub fn down(&self) -> String {
        self.must(&["down", "--volumes", "--remove-orphans", "--timeout", "10"])
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let output = self.compose(&["down", "--volumes", "--remove-orphans", "--timeout", "10"]);
        if !output.status.success() {
            eprintln!("taking `{}` down failed:\n{}", self.name, text(&output));
        }
    }
}
