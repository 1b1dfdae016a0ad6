//! What a kind tells `agui-dev export` about running its services in containers: the image family
//! (which decides the programs a probe can use), and for a kind with an image of its own, the
//! image, its arguments and the files mounted into it. The kinds fill these in
//! (`Kind::container`, `Kind::container_env`); the export turns them into compose or Kubernetes.

use std::path::PathBuf;

/// What is known to be inside a service's image, which decides the probe commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// A Python image without curl (LiteLLM's official image).
    Python,
    /// The official Node image: node, npm, corepack; no curl.
    Node,
    /// The project's own Dockerfile or an image nobody told us about.
    Unknown,
}

/// A kind's own image for one of its services.
pub struct Container {
    pub runtime: Runtime,
    /// An official image, pulled as it is.
    pub image: String,
    /// Overrides the image's command.
    pub args: Vec<String>,
    /// Files mounted into the container (compose: the folder; Kubernetes: a ConfigMap).
    pub config: Option<ConfigFiles>,
    /// Variables the program reads (provider keys named by its config): passed as secret
    /// references unless the stack sets them.
    pub secret_vars: Vec<String>,
    /// Variables of the local run that mean nothing in the image (host paths).
    pub host_only_env: &'static [&'static str],
    /// Stack file keys the image does not honour, each naming the key.
    pub warnings: Vec<String>,
}

pub struct ConfigFiles {
    /// The folder on this machine.
    pub dir: PathBuf,
    /// Where it is mounted in the container.
    pub mount: &'static str,
    /// File names (in `dir`) and contents, the main file first.
    pub files: Vec<(String, String)>,
}

impl Runtime {
    /// A command that exits 0 when `url` answers 2xx, in a program the image has (never curl:
    /// neither official image ships it).
    pub fn http_check(self, url: &str) -> Option<Vec<String>> {
        let url_literal = serde_json::Value::String(url.to_owned()).to_string();
        match self {
            Runtime::Python => Some(vec![
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
    pub fn tcp_check(self, host: &str, port: u16) -> Option<Vec<String>> {
        let host_literal = serde_json::Value::String(host.to_owned()).to_string();
        match self {
            Runtime::Python => Some(vec![
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

    /// A command that waits (up to `seconds`) until `check` passes: Kubernetes init containers
    /// use it to hold a service back until what it depends on is ready. Both known images have
    /// `sh`; an unknown one may not.
    pub fn wait_until(self, check: &[String], what: &str, seconds: u64) -> Option<Vec<String>> {
        // The check runs as its own process each time, so one hung attempt cannot stall the loop.
        let check_words: Vec<String> = check.iter().map(|w| shell_words::quote(w).into_owned()).collect();
        let script = format!(
            "i=0; until {}; do i=$((i+1)); if [ \"$i\" -ge {seconds} ]; then echo 'gave up waiting for {what}' >&2; exit 1; fi; sleep 1; done",
            check_words.join(" ")
        );
        (self != Runtime::Unknown).then(|| vec!["sh".to_owned(), "-c".to_owned(), script])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_commands_never_use_curl() {
        for runtime in [Runtime::Python, Runtime::Node] {
            let http = runtime.http_check("http://127.0.0.1:4000/health").unwrap();
            let tcp = runtime.tcp_check("127.0.0.1", 4000).unwrap();
            assert!(!http.join(" ").contains("curl") && !tcp.join(" ").contains("curl"));
        }
        assert_eq!(Runtime::Python.http_check("http://x/").unwrap()[0], "python3");
        assert_eq!(Runtime::Node.http_check("http://x/").unwrap()[0], "node");
        assert!(Runtime::Unknown.http_check("http://x/").is_none());
        assert!(Runtime::Unknown.wait_until(&["true".to_owned()], "x", 5).is_none());
    }
}
