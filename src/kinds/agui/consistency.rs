//! Doctor's `consistency` area: an AG-UI server's wiring (what agui-dev gives it, and its own
//! `.env`) against the stack: the proxy's and MCP server's ports, `localhost` (Node may pick
//! `::1`), a model the proxy serves, and the proxy's master key as its API key.

use std::collections::BTreeMap;

use crate::config::Service;
use crate::diagnosis::{Area, CheckId, Diagnosis, Status};
use crate::kinds::litellm::doctor::litellm::served_models;
use crate::kinds::{Inspect, litellm, mcp};
use crate::secret::mask;

pub const CONSISTENCY_WIRING: CheckId = CheckId::new(Area::Consistency, "consistency.wiring");
pub const CONSISTENCY_API_KEY: CheckId = CheckId::new(Area::Consistency, "consistency.api_key");

/// Every id this file makes.
pub const IDS: &[CheckId] = &[CONSISTENCY_WIRING, CONSISTENCY_API_KEY];

/// The wiring of one AG-UI server; nothing to compare when the stack has no proxy.
pub fn check(found: &mut Diagnosis, stack: &dyn Inspect, service: &Service) {
    let Some(proxy_service) = stack.services_of(litellm::KIND).into_iter().next() else { return };
    let proxy = served_models(proxy_service);
    let proxy = proxy.as_ref();
    let litellm_port = proxy_service.port;
    let mcp_port = stack.services_of(mcp::KIND).into_iter().find_map(|s| s.port);
    let master_key = stack.env_of(proxy_service).get("LITELLM_MASTER_KEY").cloned();
    let subject = Some(service.name.as_str());
    let env = stack.env_of(service);
    let dotenv_path = service.cwd.join(".env");
    let dotenv: BTreeMap<String, String> =
        dotenvy::from_path_iter(&dotenv_path).map(|iter| iter.flatten().collect()).unwrap_or_default();
    let sources: [(String, &BTreeMap<String, String>, Status); 2] = [
        ("the environment agui-dev gives it".to_owned(), &env, Status::Fail),
        (format!("`{}`", dotenv_path.display()), &dotenv, Status::Warn),
    ];
    for (source, vars, severity) in &sources {
        let mut problems: Vec<(String, String)> = Vec::new();
        for (var, port, path) in
            [("LITELLM_ENDPOINT", litellm_port, litellm::API), ("MCP_SERVER_URL", mcp_port, mcp::PATH)]
        {
            let Some(url) = vars.get(var) else { continue };
            let (host, url_port) = host_port(url);
            if let (Some(want), Some(have)) = (port, url_port)
                && want != have
            {
                problems.push((
                    format!("`{var}` in {source} is `{url}`: port {have}, but the stack runs it on {want}"),
                    format!("use `http://127.0.0.1:{want}{path}` (or remove it: agui-dev wires it)"),
                ));
            }
            if host.eq_ignore_ascii_case("localhost") {
                problems.push((
                    format!("`{var}` in {source} uses `localhost`, which Node may resolve to `::1` while the server listens on 127.0.0.1 (`ECONNREFUSED ::1`)"),
                    format!("use `127.0.0.1` instead of `localhost` in `{var}`"),
                ));
            }
        }
        if let (Some(model), Some(proxy)) = (vars.get("LITELLM_MODEL"), proxy) {
            let served = proxy.models.iter().any(|e| &e.model_name == model);
            if !served {
                let aliases: Vec<String> = proxy.models.iter().map(|e| format!("`{}`", e.model_name)).collect();
                let fix = match proxy.models.iter().find(|e| &e.litellm_params.model == model) {
                    Some(entry) => format!(
                        "`{model}` is a provider id; clients must use the alias: set `LITELLM_MODEL={}`",
                        entry.model_name
                    ),
                    None => format!("set `LITELLM_MODEL` to one of the proxy's models: {}", aliases.join(", ")),
                };
                problems.push((
                    format!("`LITELLM_MODEL` in {source} is `{model}`, which the proxy does not serve (`Invalid model name`)"),
                    fix,
                ));
            }
        }
        for (message, fix) in problems {
            found.push(CONSISTENCY_WIRING, subject, *severity, message, Some(fix));
        }
    }
    if !found.has(CONSISTENCY_WIRING, subject) {
        found.ok(
            CONSISTENCY_WIRING,
            subject,
            "`LITELLM_ENDPOINT`, `MCP_SERVER_URL` and `LITELLM_MODEL` match the stack",
        );
    }
    if let (Some(api_key), Some(master)) = (env.get("LITELLM_API_KEY"), &master_key)
        && api_key != master
    {
        found.fail(
            CONSISTENCY_API_KEY,
            subject,
            format!(
                "`LITELLM_API_KEY` ({}) is not the proxy's master key: requests get 400 `No connected db.`",
                mask(api_key)
            ),
            "remove `LITELLM_API_KEY` from the stack file and `.env`: agui-dev passes the master key",
        );
    }
}

/// The host and port of an `http://host:port/path` URL.
fn host_port(url: &str) -> (String, Option<u16>) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if let Some(inner) = authority.strip_prefix('[') {
        let (host, after) = inner.split_once(']').unwrap_or((inner, ""));
        return (host.to_owned(), after.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    if let Some((host, port)) = authority.rsplit_once(':') {
        return (host.to_owned(), port.parse().ok());
    }
    let default = if url.starts_with("https://") { 443 } else { 80 };
    (authority.to_owned(), Some(default))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(host_port("http://localhost:4000/v1"), ("localhost".to_owned(), Some(4000)));
        assert_eq!(host_port("http://127.0.0.1/mcp"), ("127.0.0.1".to_owned(), Some(80)));
        assert_eq!(host_port("http://[::1]:3100/mcp"), ("::1".to_owned(), Some(3100)));
    }
}
