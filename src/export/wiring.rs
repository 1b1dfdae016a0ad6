//! Inside a container, 127.0.0.1 is the container itself: the wiring URLs that point at another
//! service's port on loopback (`LITELLM_ENDPOINT`, `MCP_SERVER_URL`, `${services.X.port}` URLs)
//! are pointed at that service's name instead, which compose and Kubernetes both resolve.

use std::collections::BTreeMap;

use regex::Regex;

/// An environment value: literal text with secret references in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value(pub Vec<Part>);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Secret(String),
}

impl Value {
    pub(super) fn text(text: impl Into<String>) -> Self {
        Value(vec![Part::Text(text.into())])
    }
}

pub fn is_loopback_host(host: &str) -> bool {
    matches!(host.to_ascii_lowercase().as_str(), "127.0.0.1" | "localhost" | "::1" | "[::1]" | "0.0.0.0")
}

pub fn is_loopback_value(value: &Value) -> bool {
    matches!(value.0.as_slice(), [Part::Text(t)] if is_loopback_host(t))
}

pub fn loopback_regex() -> Regex {
    Regex::new(r"(?i)(\b127\.0\.0\.1|\blocalhost|\b0\.0\.0\.0|\[::1\]):(\d{1,5})\b").expect("a valid pattern")
}

/// Points `127.0.0.1:PORT` (and `localhost`) at the service that owns PORT, by its name: inside
/// a container, loopback is the container itself.
pub struct Rewriter<'a> {
    pub loopback: Regex,
    pub ports: &'a BTreeMap<u16, String>,
    pub host_of: &'a dyn Fn(&str) -> String,
}

impl Rewriter<'_> {
    pub fn rewrite(&self, text: &str, warnings: &mut Vec<String>, at: &str) -> String {
        self.loopback
            .replace_all(text, |caps: &regex::Captures| {
                let port: Option<u16> = caps[2].parse().ok();
                if let Some(name) = port.and_then(|p| self.ports.get(&p)) {
                    format!("{}:{}", (self.host_of)(name), &caps[2])
                } else {
                    warnings.push(format!(
                        "{at}: `{}` is this machine, which a container cannot reach, and no service of the stack has port {}",
                        &caps[0], &caps[2]
                    ));
                    caps[0].to_owned()
                }

            })
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_point_at_the_service_that_owns_the_port() {
        let ports: BTreeMap<u16, String> = [(4000, "litellm".to_owned()), (3100, "my_mcp".to_owned())].into();
        // The names as compose would see them; `shared::sanitize` does this for real.
        let host_of = |n: &str| n.replace('_', "-");
        let rewriter = Rewriter { loopback: loopback_regex(), ports: &ports, host_of: &host_of };
        let mut warnings = Vec::new();
        assert_eq!(rewriter.rewrite("http://127.0.0.1:4000/v1", &mut warnings, "x"), "http://litellm:4000/v1");
        assert_eq!(rewriter.rewrite("http://localhost:3100/mcp", &mut warnings, "x"), "http://my-mcp:3100/mcp");
        assert!(warnings.is_empty());
        assert_eq!(
            rewriter.rewrite("postgres://127.0.0.1:5432/db", &mut warnings, "`e`"),
            "postgres://127.0.0.1:5432/db"
        );
        assert!(warnings[0].starts_with("`e`: `127.0.0.1:5432` is this machine"), "{warnings:?}");
    }
}
