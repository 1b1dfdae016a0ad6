#![allow(clippy::unwrap_used, clippy::print_stderr)]
//! `agui-dev export k8s` run on a real engine: `podman kube play` on the generated manifests of
//! this repository's stack. No Kubernetes API server or kubelet can be had on these machines, so
//! this is as far as a cluster can be stood in for; the schemas (tests/export.rs) check the rest.
//!
//! What Podman 4.3 stands in for, and how (each measured here):
//! - a Deployment is played as one pod (`<name>-pod-0`);
//! - a Service is a network alias: each file is played with `--network NET:alias=<service>`, so
//!   `http://mcp:3100` resolves between pods as the Service name does in a cluster.
//!
//! The copy of each manifest the test plays differs from the exported one in three ways, each
//! forced by Podman 4.3 and only for it:
//! - `secretKeyRef` cannot be filled from a kube Secret ("secret … is not valid JSON", with
//!   `stringData` and with `data` alike): the master key's reference becomes a literal `value`,
//!   and the optional provider keys (unset here) are left out;
//! - a `containerPort` without `hostPort` is published on every interface of the host at the
//!   same port (Kubernetes publishes nothing): the copy names `hostIP: 127.0.0.1` and a free
//!   `hostPort`, so nothing leaves loopback and nothing clashes with what else runs here;
//! - an init container is restarted under the pod's `restartPolicy` (`Always`, as in every
//!   Deployment), and `kube play` then fails removing it ("cannot remove container … as it is
//!   running"): the test runs each init container itself first, its image and command on the
//!   pod network (`podman run`), and plays the pod without it.
//!
//! `kube down` leaves the volume `kube play` made for the LiteLLM ConfigMap: the test removes
//! the volumes it made, and checks that none is left.
//!
//! Podman runs no readiness probe: the test runs each container's `readinessProbe` as the
//! kubelet would (its path and `Host` header), through the published loopback port.
//!
//! Needs the engine of `.ci/engine` (the stand-in base images under the names the export uses);
//! `#[ignore]`d otherwise, and it fails rather than skip when run without it.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::engine::podman;
use common::{Fixture, repo_root};
use serde_norway::Value;

/// `podman ARGS` whatever its status (the caller decides what a failure means).
fn podman_output(args: &[&str]) -> Output {
    Command::new("podman").args(args).output().unwrap_or_else(|e| panic!("podman {args:?}: {e} (is the engine up?)"))
}

fn docs(path: &Path) -> Vec<Value> {
    use serde::Deserialize;
    let text = std::fs::read_to_string(path).unwrap();
    serde_norway::Deserializer::from_str(&text).map(|d| Value::deserialize(d).unwrap()).collect()
}

/// The manifest as Podman 4.3 can play it (the module's header says why): the master key's
/// `secretKeyRef` a literal `value`, optional references left out, each port published on
/// loopback at a free port, and the init containers taken out and returned, to run first.
fn playable(docs: &mut [Value], master_key: &str, host_ports: &mut Vec<(u16, u16)>) -> Vec<Value> {
    let mut init = Vec::new();
    for doc in docs.iter_mut() {
        let Some(pod) = doc.get_mut("spec").and_then(|s| s.get_mut("template")).and_then(|t| t.get_mut("spec")) else {
            continue;
        };
        if let Some(map) = pod.as_mapping_mut()
            && let Some(Value::Sequence(containers)) = map.remove("initContainers")
        {
            init = containers;
        }
        let containers = pod.get_mut("containers").and_then(Value::as_sequence_mut).unwrap();
        for container in containers.iter_mut().chain(init.iter_mut()) {
            let Some(env) = container.get_mut("env").and_then(Value::as_sequence_mut) else { continue };
            env.retain(|e| e["valueFrom"]["secretKeyRef"]["optional"].as_bool() != Some(true));
            for entry in env.iter_mut() {
                let key = entry["valueFrom"]["secretKeyRef"]["key"].as_str().map(str::to_owned);
                if let (Some(key), Some(map)) = (key, entry.as_mapping_mut()) {
                    assert_eq!(key, "LITELLM_MASTER_KEY", "the only required secret of this stack");
                    map.remove("valueFrom");
                    map.insert("value".into(), master_key.into());
                }
            }
        }
        for port in
            containers.iter_mut().filter_map(|c| c.get_mut("ports")).filter_map(Value::as_sequence_mut).flatten()
        {
            let container_port = u16::try_from(port["containerPort"].as_u64().unwrap()).unwrap();
            let host_port = common::free_port();
            let map = port.as_mapping_mut().unwrap();
            map.insert("hostIP".into(), "127.0.0.1".into());
            map.insert("hostPort".into(), u64::from(host_port).into());
            host_ports.push((container_port, host_port));
        }
    }
    init
}

/// Takes down what the test played, whatever happens to the test.
struct Played {
    files: Vec<std::path::PathBuf>,
    network: String,
    /// The engine's volumes before the test: `kube play` makes one per ConfigMap, which
    /// `kube down` leaves (Podman 4.3), so the test removes those it made.
    volumes_before: Vec<String>,
}

fn volumes() -> Vec<String> {
    podman(&["volume", "ls", "--format", "{{.Name}}"]).lines().map(str::to_owned).collect()
}

impl Drop for Played {
    fn drop(&mut self) {
        for file in self.files.iter().rev() {
            let _ = podman_output(&["kube", "down", file.to_str().unwrap()]);
        }
        let _ = podman_output(&["network", "rm", "-f", &self.network]);
        for volume in volumes().iter().filter(|v| !self.volumes_before.contains(v)) {
            let _ = podman_output(&["volume", "rm", "-f", volume]);
        }
    }
}

#[test]
#[ignore = "needs a container engine (.ci/engine)"]
fn engine_kube_play_runs_the_exported_deployments_to_ready_and_the_agent_answers() {
    let fixture = Fixture::new("");
    let out = fixture.path().join("k8s");
    // The offline model that calls a tool: the run crosses all three pods.
    let mut export = fixture.offline_command(&[
        "-f",
        repo_root().join("stack.toml").to_str().unwrap(),
        "export",
        "k8s",
        "-o",
        out.to_str().unwrap(),
    ]);
    export.env("LITELLM_MODEL", "offline-tools");
    let exported = export.output().unwrap();
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));

    // The images, built as each manifest's header says (with podman for docker).
    for service in ["mcp", "agui"] {
        let manifest = std::fs::read_to_string(out.join(format!("{service}.yaml"))).unwrap();
        let build = manifest.lines().find_map(|l| l.strip_prefix("#   docker build ")).expect("a build line");
        let words = shell_words::split(build).unwrap();
        let mut command = Command::new("podman");
        command.arg("build").arg("-q").args(&words).current_dir(&out);
        let image = command.output().unwrap();
        assert!(image.status.success(), "podman build {build}: {}", String::from_utf8_lossy(&image.stderr));
        eprintln!("built {service}: podman build {build}");
    }

    let master_key = format!("sk-kube-play-{}", std::process::id());
    let play_dir = fixture.path().join("play");
    std::fs::create_dir_all(&play_dir).unwrap();
    let network = format!("agui-kube-{}", std::process::id());
    podman(&["network", "create", &network]);
    let volumes_before = volumes();
    let mut played = Played { files: Vec::new(), network: network.clone(), volumes_before: volumes_before.clone() };
    let mut published = std::collections::BTreeMap::new();
    // In dependency order, each pod's init containers (its waits for what it depends on) first.
    for service in ["litellm", "mcp", "agui"] {
        let mut manifest = docs(&out.join(format!("{service}.yaml")));
        let mut host_ports = Vec::new();
        for init in playable(&mut manifest, &master_key, &mut host_ports) {
            let started = Instant::now();
            let mut run = vec!["run".to_owned(), "--rm".to_owned(), "--network".to_owned(), network.clone()];
            run.extend(["--entrypoint".to_owned(), init["command"][0].as_str().unwrap().to_owned()]);
            run.push(init["image"].as_str().unwrap().to_owned());
            run.extend(init["command"].as_sequence().unwrap()[1..].iter().map(|w| w.as_str().unwrap().to_owned()));
            let words: Vec<&str> = run.iter().map(String::as_str).collect();
            podman(&words);
            eprintln!(
                "{service}: init container {} passed in {:.1}s",
                init["name"].as_str().unwrap(),
                started.elapsed().as_secs_f64()
            );
        }
        published.insert(service, host_ports);
        let text: Vec<String> = manifest.iter().map(|d| serde_norway::to_string(d).unwrap()).collect();
        let file = play_dir.join(format!("{service}.yaml"));
        std::fs::write(&file, text.join("---\n")).unwrap();
        played.files.push(file.clone());
        let alias = format!("{network}:alias={service}");
        let out = podman_output(&["kube", "play", "--network", &alias, file.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "kube play {service}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Nothing is published beyond loopback.
        let ports = podman(&["port", &format!("{service}-pod-0-{service}")]);
        assert!(
            !ports.trim().is_empty() && ports.lines().all(|l| l.contains("127.0.0.1:")),
            "{service} published beyond loopback:\n{ports}"
        );

        // Running, and its readinessProbe passing when run as the kubelet runs it.
        let container = format!("{service}-pod-0-{service}");
        let state = podman(&["inspect", "-f", "{{.State.Status}}", &container]);
        assert_eq!(state.trim(), "running", "{container}");
        let deployment = manifest.iter().find(|d| d["kind"].as_str() == Some("Deployment")).unwrap();
        let probe = &deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"];
        let path = probe["path"].as_str().unwrap();
        let port = u16::try_from(probe["port"].as_u64().unwrap()).unwrap();
        let host_port = published[service].iter().find(|(c, _)| *c == port).unwrap().1;
        let host = probe["httpHeaders"][0]["value"].as_str().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_mins(3);
        let status = loop {
            let status = common::try_http(host_port, "GET", path, &[("Host", &host)], "").map_or(0, |(s, _, _)| s);
            if (200..300).contains(&status) || Instant::now() > deadline {
                break status;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        assert!(
            (200..300).contains(&status),
            "{service}'s readinessProbe {path}: {status}\n{}",
            podman(&["logs", &container])
        );
        eprintln!("{service} ready: readinessProbe {path} answered {status}");
    }

    // One agent run, sent to the AG-UI pod by its Service's name, as a client in the cluster
    // would: the model calls the MCP tool across the pods.
    let body = r#"{"threadId":"t-kube","runId":"r-kube","state":{},"messages":[{"id":"m1","role":"user","content":"What is 6 times 7? Use a tool."}],"tools":[],"context":[],"forwardedProps":{}}"#;
    let agui_port = published["agui"][0].1;
    let headers = [("Host", "agui:3000"), ("Content-Type", "application/json"), ("Accept", "text/event-stream")];
    let (status, _, events) = common::http(agui_port, "POST", "/agent", &headers, body);
    assert_eq!(status, 200, "{events}");
    for event in ["\"RUN_STARTED\"", "\"TOOL_CALL_START\"", "\"TOOL_CALL_RESULT\"", "\"RUN_FINISHED\""] {
        assert!(events.contains(event), "no {event} in the AG-UI answer:\n{events}");
    }
    assert!(!events.contains("\"RUN_ERROR\""), "{events}");
    let shown: Vec<&str> = events.lines().filter(|l| l.starts_with("data:")).map(|l| &l[..l.len().min(120)]).collect();
    eprintln!("AG-UI answer from the agui pod:\n{}", shown.join("\n"));

    drop(played);
    let pods = podman(&["pod", "ps", "--format", "{{.Name}}"]);
    for service in ["litellm", "mcp", "agui"] {
        assert!(!pods.lines().any(|p| p == format!("{service}-pod-0")), "pod {service} left behind:\n{pods}");
    }
    let left: Vec<String> = volumes().into_iter().filter(|v| !volumes_before.contains(v)).collect();
    assert!(left.is_empty(), "volumes left behind: {left:?}");
    let networks = podman(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!networks.lines().any(|n| n == network), "network {network} left behind");
}
