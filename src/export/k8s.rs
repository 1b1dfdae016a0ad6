//! `agui-dev export k8s`: a Deployment and a Service per service (a Job for a `task`), the
//! LiteLLM config as a ConfigMap, and one Secret holding the keys (with empty values) that the
//! containers reference.
//!
//! Ordering is done the Kubernetes way: a Service only routes to pods whose readinessProbe
//! passes, so a service that depends on another gets an init container (in its own image, which
//! has node or python) that waits until the dependency answers through its Service. The servers'
//! own retries (the AG-UI template reconnects to MCP) cover a dependency that restarts later.
//! Nothing in a pod can see whether a Job has completed without API access, so waiting for a
//! task is left to whoever applies the manifests (a warning and the Job's header say how).

use std::fmt::Write as _;
use std::path::Path;

use serde_norway::{Mapping, Value as Yaml};

use super::shared::{Container, Export, Health, Image};
use super::wiring::Part;
use crate::config::Restart;

/// The files of the export: (file name in `dir`, contents).
pub fn render(export: &Export, dir: &Path, warnings: &mut Vec<String>) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let secret_name = format!("{}-secrets", export.name);
    if !export.secrets.is_empty() {
        let mut data = Mapping::new();
        for name in export.secrets.keys() {
            data.insert(name.clone().into(), "".into());
        }
        let mut secret = object("v1", "Secret", &secret_name, export, None);
        secret.insert("type".into(), "Opaque".into());
        secret.insert("stringData".into(), Yaml::Mapping(data));
        let header = format!(
            "# The keys the containers read, with no values: fill them in here (never commit that), or\n\
             # create the Secret from a filled-in .env: `kubectl create secret generic {secret_name} --from-env-file=.env`.\n"
        );
        files.push(("secret.yaml".to_owned(), header + &yaml(&secret)));
    }
    for c in &export.services {
        let mut docs: Vec<String> = Vec::new();
        let mut header =
            format!("# `services.{}`, written by `agui-dev export k8s`; export again rather than edit.\n", c.name);
        if c.task {
            let _ = writeln!(
                header,
                "# A task: a Job that runs once. Apply it before what depends on it and wait for it:\n\
                 #   kubectl wait --for=condition=complete job/{} --timeout=10m\n\
                 # A Job cannot be changed once created: `kubectl delete job {}` before applying a new export.",
                c.host, c.host
            );
        }
        if let Some(files_) = &c.config {
            let mut data = Mapping::new();
            for (name, text) in &files_.files {
                data.insert(name.clone().into(), text.clone().into());
            }
            let mut map = object("v1", "ConfigMap", &format!("{}-config", c.host), export, Some(c));
            map.insert("data".into(), Yaml::Mapping(data));
            docs.push(yaml(&map));
        }
        if let Image::Build { tag, context, dockerfile } = &c.image {
            let file = match dockerfile {
                Some(text) => {
                    let file = format!("{}.Dockerfile", c.host);
                    files.push((file.clone(), text.clone()));
                    format!("-f {file} ")
                }
                None => String::new(),
            };
            let _ = writeln!(
                header,
                "# Build the image first, in this folder (then push it, or load it into the cluster, e.g. `kind load docker-image {tag}`):\n#   docker build {file}-t {tag} {}",
                super::compose::relative(dir, context)
            );
        }
        docs.push(yaml(&workload(export, c, &secret_name, warnings)));
        if let Some(port) = c.port {
            let mut service = object("v1", "Service", &c.host, export, Some(c));
            let mut port_map = Mapping::new();
            port_map.insert("port".into(), Yaml::Number(port.into()));
            port_map.insert("targetPort".into(), Yaml::Number(port.into()));
            let mut spec = Mapping::new();
            spec.insert("selector".into(), Yaml::Mapping(selector(export, c)));
            spec.insert("ports".into(), Yaml::Sequence(vec![Yaml::Mapping(port_map)]));
            service.insert("spec".into(), Yaml::Mapping(spec));
            docs.push(yaml(&service));
        }
        files.push((format!("{}.yaml", c.host), header + &docs.join("---\n")));
    }
    files
}

/// The service's Deployment, or for a task its Job.
fn workload(export: &Export, c: &Container, secret_name: &str, warnings: &mut Vec<String>) -> Mapping {
    let at = |key: &str| format!("`services.{}.{key}`", c.name);
    let image = match &c.image {
        Image::Pull(image) | Image::Build { tag: image, .. } => image.clone(),
    };
    let mut container = Mapping::new();
    container.insert("name".into(), c.host.clone().into());
    container.insert("image".into(), image.clone().into());
    // Built images are loaded into the cluster or pushed under this tag, not pulled each start.
    container.insert("imagePullPolicy".into(), "IfNotPresent".into());
    if let Some(args) = &c.args {
        container.insert("args".into(), strings(args.iter().cloned()));
    }
    let env = environment(c, secret_name, export);
    if !env.is_empty() {
        container.insert("env".into(), Yaml::Sequence(env));
    }
    if let Some(port) = c.port {
        let mut p = Mapping::new();
        p.insert("containerPort".into(), Yaml::Number(port.into()));
        container.insert("ports".into(), Yaml::Sequence(vec![Yaml::Mapping(p)]));
    }
    add_probes(&mut container, c, warnings);
    let mut pod = Mapping::new();
    if let Some(files) = &c.config {
        let mut mount = Mapping::new();
        mount.insert("name".into(), "config".into());
        mount.insert("mountPath".into(), files.mount.into());
        mount.insert("readOnly".into(), true.into());
        container.insert("volumeMounts".into(), Yaml::Sequence(vec![Yaml::Mapping(mount)]));
        let mut map = Mapping::new();
        map.insert("name".into(), format!("{}-config", c.host).into());
        let mut volume = Mapping::new();
        volume.insert("name".into(), "config".into());
        volume.insert("configMap".into(), Yaml::Mapping(map));
        pod.insert("volumes".into(), Yaml::Sequence(vec![Yaml::Mapping(volume)]));
    }
    let init = init_containers(export, c, &image, warnings);
    if !init.is_empty() {
        pod.insert("initContainers".into(), Yaml::Sequence(init));
    }
    pod.insert("containers".into(), Yaml::Sequence(vec![Yaml::Mapping(container)]));
    if c.task {
        // A failed run is retried by the Job with a new pod (`backoffLimit`), not in place.
        pod.insert("restartPolicy".into(), "Never".into());
    }
    pod.insert("terminationGracePeriodSeconds".into(), Yaml::Number(c.stop_grace.as_secs().max(1).into()));
    if c.stop_signal != nix::sys::signal::Signal::SIGTERM {
        warnings.push(format!(
            "{}: Kubernetes stops containers with SIGTERM; `{}` is not carried",
            at("stop_signal"),
            c.stop_signal.as_str()
        ));
    }

    wrap(export, c, pod)
}

/// Start-up gets `ready.timeout`, checked every second; after it, readiness is checked every
/// 10 s and decides whether the Service routes to the pod.
fn add_probes(container: &mut Mapping, c: &Container, warnings: &mut Vec<String>) {
    if let Some(handler) = c.probe.as_ref().and_then(|p| probe_handler(p, c)) {
        let timeout = c.ready_timeout.as_secs().max(1);
        let mut startup = handler.clone();
        startup.insert("periodSeconds".into(), Yaml::Number(1.into()));
        startup.insert("timeoutSeconds".into(), Yaml::Number(3.into()));
        startup.insert("failureThreshold".into(), Yaml::Number(timeout.into()));
        container.insert("startupProbe".into(), Yaml::Mapping(startup));
        let mut readiness = handler;
        readiness.insert("periodSeconds".into(), Yaml::Number(10.into()));
        readiness.insert("timeoutSeconds".into(), Yaml::Number(3.into()));
        readiness.insert("failureThreshold".into(), Yaml::Number(3.into()));
        container.insert("readinessProbe".into(), Yaml::Mapping(readiness));
    } else if c.probe.is_some() {
        warnings.push(format!(
            "`services.{}.ready`: no probe command is known for this image; Kubernetes gets no readinessProbe",
            c.name
        ));
    }
}

/// The pod in a Job (a task) or a Deployment.
fn wrap(export: &Export, c: &Container, pod: Mapping) -> Mapping {
    let mut labels = Mapping::new();
    labels.insert("labels".into(), Yaml::Mapping(selector(export, c)));
    let mut template = Mapping::new();
    template.insert("metadata".into(), Yaml::Mapping(labels));
    template.insert("spec".into(), Yaml::Mapping(pod));
    if c.task {
        // `restart = "on-failure"` retries a task up to `max_restarts` times, as agui-dev does.
        let retries = if c.restart == Restart::OnFailure { c.max_restarts } else { 0 };
        let mut spec = Mapping::new();
        spec.insert("backoffLimit".into(), Yaml::Number(retries.into()));
        spec.insert("template".into(), Yaml::Mapping(template));
        let mut job = object("batch/v1", "Job", &c.host, export, Some(c));
        job.insert("spec".into(), Yaml::Mapping(spec));
        return job;
    }
    let mut match_labels = Mapping::new();
    match_labels.insert("matchLabels".into(), Yaml::Mapping(selector(export, c)));
    let mut spec = Mapping::new();
    spec.insert("replicas".into(), Yaml::Number(1.into()));
    spec.insert("selector".into(), Yaml::Mapping(match_labels));
    spec.insert("template".into(), Yaml::Mapping(template));
    let mut deployment = object("apps/v1", "Deployment", &c.host, export, Some(c));
    deployment.insert("spec".into(), Yaml::Mapping(spec));
    deployment
}

/// The probe as Kubernetes runs it: httpGet or tcpSocket against the container's own port, else
/// a command in its image.
fn probe_handler(probe: &Health, c: &Container) -> Option<Mapping> {
    let mut handler = Mapping::new();
    match probe {
        Health::Http { url, port, path, https, own: true } => {
            let mut get = Mapping::new();
            get.insert("path".into(), path.clone().into());
            get.insert("port".into(), Yaml::Number((*port).into()));
            get.insert("scheme".into(), if *https { "HTTPS" } else { "HTTP" }.into());
            // The kubelet's Host would be the pod's IP, which a server guarding against DNS
            // rebinding (the templates) refuses; send the Host the probe sends on the laptop.
            if let Some(host) = reqwest::Url::parse(url).ok().as_ref().and_then(reqwest::Url::host_str) {
                let mut header = Mapping::new();
                header.insert("name".into(), "Host".into());
                header.insert("value".into(), format!("{host}:{port}").into());
                get.insert("httpHeaders".into(), Yaml::Sequence(vec![Yaml::Mapping(header)]));
            }
            handler.insert("httpGet".into(), Yaml::Mapping(get));
        }
        Health::Tcp { port, own: true, .. } => {
            let mut tcp = Mapping::new();
            tcp.insert("port".into(), Yaml::Number((*port).into()));
            handler.insert("tcpSocket".into(), Yaml::Mapping(tcp));
        }
        other => {
            let mut exec = Mapping::new();
            exec.insert("command".into(), strings(other.command(c.runtime)?));
            handler.insert("exec".into(), Yaml::Mapping(exec));
        }
    }
    Some(handler)
}

/// One init container per dependency, waiting until it answers through its Service.
fn init_containers(export: &Export, c: &Container, image: &str, warnings: &mut Vec<String>) -> Vec<Yaml> {
    let mut init = Vec::new();
    for dep in &c.depends_on {
        let Some(d) = export.services.iter().find(|s| &s.name == dep) else { continue };
        if d.task {
            warnings.push(format!(
                "`services.{}.depends_on`: `{dep}` is a task, a Job here, and nothing in a pod can wait for a Job to complete; `{}` starts at once and relies on its own retries (to keep the order, apply `{}.yaml` first and `kubectl wait --for=condition=complete job/{}`)",
                c.name, c.name, d.host, d.host
            ));
            continue;
        }
        let Some(port) = d.port else {
            warnings.push(format!(
                "`services.{}.depends_on`: `{dep}` has no port to wait for; Kubernetes starts both at once",
                c.name
            ));
            continue;
        };
        let check = match &d.probe {
            Some(Health::Http { path, https, own: true, .. }) => {
                let scheme = if *https { "https" } else { "http" };
                c.runtime.http_check(&format!("{scheme}://{}:{port}{path}", d.host))
            }
            _ => c.runtime.tcp_check(&d.host, port),
        };
        let wait = check.and_then(|check| c.runtime.wait_until(&check, dep, d.ready_timeout.as_secs().max(1)));
        let Some(command) = wait else {
            warnings.push(format!(
                "`services.{}.depends_on`: the image has no known program to wait for `{dep}` with; the service relies on its own retries",
                c.name
            ));
            continue;
        };
        let mut container = Mapping::new();
        container.insert("name".into(), format!("wait-for-{}", d.host).into());
        container.insert("image".into(), image.into());
        container.insert("imagePullPolicy".into(), "IfNotPresent".into());
        container.insert("command".into(), strings(command));
        init.push(Yaml::Mapping(container));
    }
    init
}

/// The container's env: literal values, secrets through `secretKeyRef`, and values with a
/// secret inside through `$(NAME)` after that secret's own entry.
fn environment(c: &Container, secret_name: &str, export: &Export) -> Vec<Yaml> {
    let mut entries: Vec<Yaml> = Vec::new();
    let mut defined: Vec<String> = Vec::new();
    let secret_entry = |name: &str, key: &str| {
        let mut reference = Mapping::new();
        reference.insert("name".into(), secret_name.into());
        reference.insert("key".into(), key.into());
        if export.secrets.get(key).is_some_and(|s| s.optional) {
            reference.insert("optional".into(), true.into());
        }
        let mut from = Mapping::new();
        from.insert("secretKeyRef".into(), Yaml::Mapping(reference));
        let mut entry = Mapping::new();
        entry.insert("name".into(), name.into());
        entry.insert("valueFrom".into(), Yaml::Mapping(from));
        Yaml::Mapping(entry)
    };
    for (key, value) in &c.env {
        if let [Part::Secret(secret)] = value.0.as_slice() {
            entries.push(secret_entry(key, secret));
            defined.push(key.clone());
            continue;
        }
        let mut text = String::new();
        for part in &value.0 {
            match part {
                // Kubernetes expands `$(NAME)`; a literal `$(` is written `$$(`.
                Part::Text(t) => text.push_str(&t.replace("$(", "$$(")),
                Part::Secret(secret) => {
                    if !defined.contains(secret) {
                        entries.push(secret_entry(secret, secret));
                        defined.push(secret.clone());
                    }
                    let _ = write!(text, "$({secret})");
                }
            }
        }
        let mut entry = Mapping::new();
        entry.insert("name".into(), key.clone().into());
        entry.insert("value".into(), text.into());
        entries.push(Yaml::Mapping(entry));
        defined.push(key.clone());
    }
    entries
}

fn selector(export: &Export, c: &Container) -> Mapping {
    let mut labels = Mapping::new();
    labels.insert("app.kubernetes.io/name".into(), c.host.clone().into());
    labels.insert("app.kubernetes.io/part-of".into(), export.name.clone().into());
    labels
}

fn object(api: &str, kind: &str, name: &str, export: &Export, c: Option<&Container>) -> Mapping {
    let mut labels = c.map_or_else(Mapping::new, |c| selector(export, c));
    labels.insert("app.kubernetes.io/part-of".into(), export.name.clone().into());
    labels.insert("app.kubernetes.io/managed-by".into(), "agui-dev".into());
    let mut metadata = Mapping::new();
    metadata.insert("name".into(), name.into());
    metadata.insert("labels".into(), Yaml::Mapping(labels));
    let mut object = Mapping::new();
    object.insert("apiVersion".into(), api.into());
    object.insert("kind".into(), kind.into());
    object.insert("metadata".into(), Yaml::Mapping(metadata));
    object
}

fn yaml(map: &Mapping) -> String {
    serde_norway::to_string(map).unwrap_or_default()
}

fn strings(items: impl IntoIterator<Item = String>) -> Yaml {
    Yaml::Sequence(items.into_iter().map(Yaml::String).collect())
}
