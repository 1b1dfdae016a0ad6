//! `${VAR}`, `${VAR:-default}`, `${services.NAME.port}` and `$$` (a literal `$`) in values.
//!
//! An unset variable without a default is an error rather than an empty string: an empty API key
//! or URL fails much later and far less clearly than a message naming the variable now.

/// Why a value could not be expanded, and the fix when there is a specific one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unexpanded {
    pub message: String,
    pub hint: Option<String>,
}

impl From<String> for Unexpanded {
    fn from(message: String) -> Self {
        Unexpanded { message, hint: None }
    }
}

/// Expands `text`. `var` looks up environment variables, `port` the port of a service.
pub fn expand(
    text: &str,
    var: &dyn Fn(&str) -> Option<String>,
    port: &dyn Fn(&str) -> Result<u16, String>,
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
        let port = |name: &str| if name == "api" { Ok(8080) } else { Err(format!("no `{name}`")) };
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
        assert_eq!(run("${services.db.port}").unwrap_err(), "no `db`");
        assert!(run("${services.api.host}").unwrap_err().contains("not a known reference"));
        assert!(run("${OPEN").unwrap_err().contains("without a closing"));
    }
}
