//! `${VAR}`, `${VAR:-default}`, `${services.NAME.port}` and `$$` (a literal `$`) in values.
//!
//! An unset variable without a default is an error rather than an empty string: an empty API key
//! or URL fails much later and far less clearly than a message naming the variable now. What a
//! name means is the caller's `var` (a service's own `${PORT}` is its port: `config` decides).

/// Why a value could not be expanded, and the fix when there is a specific one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unexpanded {
    pub message: String,
    pub hint: Option<String>,
    /// The variable that is not set, when that is what is wrong (the caller may know a better hint).
    pub unset: Option<String>,
}

/// Why `${services.NAME.port}` has no value.
#[derive(Debug, thiserror::Error)]
pub enum NoPort {
    #[error("service `{0}` has no `port`")]
    NoPort(String),
    #[error("there is no service `{0}`")]
    NoService(String),
}

impl From<NoPort> for Unexpanded {
    fn from(error: NoPort) -> Self {
        error.to_string().into()
    }
}

impl From<String> for Unexpanded {
    fn from(message: String) -> Self {
        Unexpanded { message, hint: None, unset: None }
    }
}

/// What `${PORT}` and `${HOST}` mean in a service's own values (`command`, `env`, `ready`, ...):
/// the service's own port and address, as in a Procfile, whatever the environment exports. A
/// service without a port has neither, and they are looked up as any other variable.
pub struct Own<'a> {
    pub service: &'a str,
    pub port: Option<u16>,
    /// Where it listens: 127.0.0.1 here, every interface in a container.
    pub host: &'a str,
    /// Another service that has a port, to show `${services.NAME.port}` with a real name.
    pub other: Option<&'a str>,
}

impl Own<'_> {
    /// The service's own value of `name`, when it has one.
    pub fn var(&self, name: &str) -> Option<String> {
        match (name, self.port) {
            ("PORT", Some(port)) => Some(port.to_string()),
            ("HOST", Some(_)) => Some(self.host.to_owned()),
            _ => None,
        }
    }

    /// An unset `${PORT}` or `${HOST}` in a service without a port: the hint says so, and how
    /// to write another service's port.
    pub fn explain(&self, mut unexpanded: Unexpanded) -> Unexpanded {
        let Some(name @ ("PORT" | "HOST")) = unexpanded.unset.as_deref() else { return unexpanded };
        if self.port.is_some() {
            return unexpanded;
        }
        let other = self.other.unwrap_or("NAME");
        unexpanded.hint = Some(format!(
            "service `{}` has no `port`, so `${{{name}}}` is not its own: give it `port = N` (or `port = \"auto\"`), \
             write `${{services.{other}.port}}` for another service's port, or export `{name}`",
            self.service
        ));
        unexpanded
    }
}

/// Expands `text`. `var` looks up environment variables, `port` the port of a service.
pub fn expand(
    text: &str,
    var: &dyn Fn(&str) -> Option<String>,
    port: &dyn Fn(&str) -> Result<u16, NoPort>,
) -> Result<String, Unexpanded> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let Some(end) = body.find('}') else {
            return Err(format!("`${{` without a closing `}}` in `{text}`").into());
        };
        let inner = &body[..end];
        rest = &body[end + 1..];
        if let Some(reference) = inner.strip_prefix("services.") {
            let Some(name) = reference.strip_suffix(".port") else {
                return Err(
                    format!("`${{{inner}}}` is not a known reference; only `${{services.NAME.port}}` is").into()
                );
            };
            out.push_str(&port(name).map_err(Unexpanded::from)?.to_string());
            continue;
        }
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`${{{inner}}}` is not a valid variable reference").into());
        }
        match (var(name).filter(|v| !v.is_empty() || default.is_none()), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => {
                return Err(Unexpanded {
                    message: format!("`${{{name}}}` is not set"),
                    hint: Some(format!("export `{name}`, add it to an env file, or write `${{{name}:-default}}`")),
                    unset: Some(name.to_owned()),
                });
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::expand;

    fn run(text: &str) -> Result<String, String> {
        let var = |name: &str| match name {
            "HOME_DIR" => Some("/home/me".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        let port = |name: &str| if name == "api" { Ok(8080) } else { Err(super::NoPort::NoService(name.to_owned())) };
        expand(text, &var, &port).map_err(|e| e.message)
    }

    #[test]
    fn expands_variables_defaults_ports_and_escapes() {
        assert_eq!(run("${HOME_DIR}/x").unwrap(), "/home/me/x");
        assert_eq!(run("${MISSING:-fallback}").unwrap(), "fallback");
        assert_eq!(run("${EMPTY:-fallback}").unwrap(), "fallback");
        assert_eq!(run("${EMPTY}").unwrap(), "");
        assert_eq!(run("http://127.0.0.1:${services.api.port}/").unwrap(), "http://127.0.0.1:8080/");
        assert_eq!(run("cost $$5 and $HOME_DIR").unwrap(), "cost $5 and $HOME_DIR");
    }

    #[test]
    fn reports_what_is_wrong() {
        assert!(run("${MISSING}").unwrap_err().starts_with("`${MISSING}` is not set"));
        let var = |_: &str| None;
        let missing = expand("${MISSING}", &var, &|_| Ok(1)).unwrap_err();
        assert_eq!(
            missing.hint.as_deref(),
            Some("export `MISSING`, add it to an env file, or write `${MISSING:-default}`")
        );
        assert_eq!(missing.unset.as_deref(), Some("MISSING"));
        assert_eq!(run("${services.db.port}").unwrap_err(), "there is no service `db`");
        assert!(run("${services.api.host}").unwrap_err().contains("not a known reference"));
        assert!(run("${OPEN").unwrap_err().contains("without a closing"));
    }
}
