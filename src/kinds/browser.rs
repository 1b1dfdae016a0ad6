//! What a web page in the developer's browser can do to a running AG-UI or MCP server. Loopback
//! is not a boundary: any page can send requests to 127.0.0.1, and with DNS rebinding it can read
//! the answers (`docs/security.md`). Two probes, made by doctor (`running.cross-origin`,
//! `running.dns-rebinding`) and by smoke (`<service>.cross-origin`, `<service>.dns-rebinding`) on
//! every running service whose kind has a `browser_path`, an adopted project's own servers too:
//!
//! - cross-origin: a CORS preflight from a foreign origin. The server is open when its answer
//!   allows that origin (`Access-Control-Allow-Origin: *` or the origin echoed): a page from any
//!   site may then call it and read the answer. A 403, or no such header, is a refusal.
//! - DNS rebinding: the same `GET` twice, once with the server's own `Host` and once with a
//!   foreign one. The server is open when it serves the foreign `Host` (2xx), or answers it exactly
//!   as its own (it never looks at `Host`, so a rebound page's requests reach its routes). A 403 or
//!   421, another answer, or a refusal that names the Host, is a refusal.
//!
//! Neither probe can do work (see `cross_origin` and `dns_rebinding`): no model call, no tool call.
//! `public = true` on a service skips both, and the finding says so.

use std::fmt::Write as _;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCESS_CONTROL_ALLOW_ORIGIN, HOST, ORIGIN};

use super::{SmokeError, lookup};
use crate::config::Service;
use crate::diagnosis::{Area, CheckId, Diagnosis};
use crate::http::{HttpError, local_probe_client, local_url};

pub const RUNNING_CROSS_ORIGIN: CheckId = CheckId::new(Area::Running, "running.cross-origin");
pub const RUNNING_DNS_REBINDING: CheckId = CheckId::new(Area::Running, "running.dns-rebinding");

/// The names a probe pretends to come from. `.invalid` never resolves (RFC 2606), so nothing but
/// the server under test ever sees them.
pub const FOREIGN_HOST: &str = "agui-dev-probe.invalid";
pub const FOREIGN_ORIGIN: &str = "http://agui-dev-probe.invalid";

/// Loopback origins on any port, as the fixes write them.
const LOOPBACK_ORIGIN: &str = r"/^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/";
/// Loopback `Host` values, with or without a port.
const LOOPBACK_HOST: &str = r"/^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    CrossOrigin,
    DnsRebinding,
}

impl Probe {
    pub const ALL: [Probe; 2] = [Probe::CrossOrigin, Probe::DnsRebinding];

    /// The doctor check this probe reports as.
    pub fn check(self) -> CheckId {
        match self {
            Probe::CrossOrigin => RUNNING_CROSS_ORIGIN,
            Probe::DnsRebinding => RUNNING_DNS_REBINDING,
        }
    }

    /// Its smoke test's suffix (`agui.cross-origin`).
    pub fn suffix(self) -> &'static str {
        match self {
            Probe::CrossOrigin => "cross-origin",
            Probe::DnsRebinding => "dns-rebinding",
        }
    }
}

/// What one probe came to.
#[derive(Debug)]
pub enum Verdict {
    /// The server refused the foreign page: what it answered.
    Refused(String),
    /// A page from any site gets through: what was seen, and the fix.
    Open { found: String, fix: String },
    /// Not probed: `public = true`.
    Skipped(String),
    /// The probe could not be made (the request failed).
    Unknown(HttpError),
}

/// Runs `probe` against `service`, listening on `port`, whose clients call `path`.
pub async fn probe(probe: Probe, service: &Service, port: u16, path: &str) -> Verdict {
    if service.public {
        return Verdict::Skipped(format!(
            "not probed: `public = true` says `{}` is meant to be reached from any web page",
            service.name
        ));
    }
    let client = match local_probe_client(Duration::from_secs(3)) {
        Ok(client) => client,
        Err(error) => return Verdict::Unknown(error),
    };
    let seen = match probe {
        Probe::CrossOrigin => cross_origin(&client, port, path).await,
        Probe::DnsRebinding => dns_rebinding(&client, port, path).await,
    };
    match seen {
        Ok(Seen::Refused(text)) => Verdict::Refused(text),
        Ok(Seen::Open(found)) => Verdict::Open { found, fix: fix(probe, service) },
        Err(error) => Verdict::Unknown(error),
    }
}

/// Doctor's findings for one running service.
pub async fn doctor(found: &mut Diagnosis, service: &Service, port: u16, path: &str) {
    let subject = Some(service.name.as_str());
    for each in Probe::ALL {
        match probe(each, service, port, path).await {
            Verdict::Refused(text) | Verdict::Skipped(text) => found.ok(each.check(), subject, text),
            Verdict::Open { found: text, fix } => found.fail(each.check(), subject, text, fix),
            Verdict::Unknown(error) => found.warn(
                each.check(),
                subject,
                format!("could not probe `{}`: {error}", service.name),
                "read the service's log in `.agui-dev/logs/`, then run `agui-dev doctor` again",
            ),
        }
    }
}

/// Smoke's verdict for one probe: passed, or failed with the doctor id and the fix.
pub async fn smoke(each: Probe, service: &Service, port: u16, path: &str) -> Result<String, SmokeError> {
    match probe(each, service, port, path).await {
        Verdict::Refused(text) | Verdict::Skipped(text) => Ok(text),
        Verdict::Open { found, fix } => {
            Err(SmokeError::Failed(format!("{found} (doctor: `{}`); fix: {fix}", each.check().id)))
        }
        Verdict::Unknown(error) => Err(SmokeError::Unprobed(error)),
    }
}

enum Seen {
    Refused(String),
    Open(String),
}

/// `OPTIONS path` from a foreign origin, as a browser sends it before a cross-site `POST` with a
/// JSON body. It cannot do work: a CORS layer answers a preflight itself, and a server that
/// handled it like any request would find no body, so no run input and no JSON-RPC message.
async fn cross_origin(client: &reqwest::Client, port: u16, path: &str) -> Result<Seen, HttpError> {
    let url = local_url(port, path);
    let response = client
        .request(reqwest::Method::OPTIONS, &url)
        .header(ORIGIN, FOREIGN_ORIGIN)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .map_err(HttpError::request("OPTIONS", &url))?;
    let status = response.status();
    let asked = format!("`OPTIONS {path}` with `Origin: {FOREIGN_ORIGIN}`");
    if status == StatusCode::FORBIDDEN {
        return Ok(Seen::Refused(format!("{asked} was refused (403)")));
    }
    let allowed = response.headers().get(ACCESS_CONTROL_ALLOW_ORIGIN).and_then(|v| v.to_str().ok()).map(str::trim);
    Ok(match allowed {
        Some(value @ ("*" | FOREIGN_ORIGIN)) => Seen::Open(format!(
            "a page from any site can call `{url}` and read the answer: {asked} answered {} with \
             `Access-Control-Allow-Origin: {value}`",
            status.as_u16()
        )),
        Some(other) => Seen::Refused(format!("{asked} answered {} allowing only `{other}`", status.as_u16())),
        None => Seen::Refused(format!("{asked} answered {} without allowing it", status.as_u16())),
    })
}

/// `GET path` with the server's own `Host`, then with a foreign one, as a page on a rebound name
/// would send it. It cannot do work: AG-UI runs and MCP messages are `POST`s with a body; a `GET`
/// of the AG-UI endpoint is refused or unknown, and a `GET` of the MCP endpoint at most opens the
/// server's notification stream, which is never read here.
async fn dns_rebinding(client: &reqwest::Client, port: u16, path: &str) -> Result<Seen, HttpError> {
    let url = local_url(port, path);
    let own = answer(client, &url, None).await?;
    let foreign_host = format!("{FOREIGN_HOST}:{port}");
    let foreign = answer(client, &url, Some(&foreign_host)).await?;
    let asked = format!("`GET {path}` with `Host: {foreign_host}`");
    let refused = |how: String| Ok(Seen::Refused(format!("{asked} was refused ({how})")));
    if foreign.status.is_success() {
        return Ok(Seen::Open(format!(
            "a DNS-rebound page can use `{url}`: {asked} answered {}",
            foreign.status.as_u16()
        )));
    }
    if foreign.status == StatusCode::FORBIDDEN || foreign.status == StatusCode::MISDIRECTED_REQUEST {
        return refused(foreign.status.as_u16().to_string());
    }
    if foreign.status != own.status {
        return refused(format!("{}, where its own Host gets {}", foreign.status.as_u16(), own.status.as_u16()));
    }
    if foreign.body.to_ascii_lowercase().contains("host") && foreign.body != own.body {
        return refused(format!("{}: {}", foreign.status.as_u16(), super::clip(&foreign.body)));
    }
    Ok(Seen::Open(format!(
        "the server does not check `Host`, so a DNS-rebound page can use `{url}`: {asked} answered {} exactly \
         as a request naming 127.0.0.1",
        foreign.status.as_u16()
    )))
}

struct Answer {
    status: StatusCode,
    /// The start of the body, for an answer that is not 2xx (a 2xx one may be an endless stream).
    body: String,
}

async fn answer(client: &reqwest::Client, url: &str, host: Option<&str>) -> Result<Answer, HttpError> {
    let mut request = client.get(url);
    if let Some(host) = host {
        // The client only adds its own `Host` when the request has none.
        request = request.header(HOST, host);
    }
    let mut response = request.send().await.map_err(HttpError::request("GET", url))?;
    let status = response.status();
    let mut body = Vec::new();
    if !status.is_success() {
        while body.len() < 4096 {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
    }
    Ok(Answer { status, body: String::from_utf8_lossy(&body).into_owned() })
}

/// What serves the service, as far as its `package.json` tells (cheap: one file in its `cwd`).
#[derive(Debug, PartialEq, Eq)]
enum Server {
    /// agui-dev's own template (`agui-dev init`), by its package name.
    Template,
    Express,
    Fastify,
    Hono,
    /// Anything else: told in terms of `node:http`.
    Plain,
}

fn server_of(service: &Service) -> Server {
    let path = service.cwd.join("package.json");
    let Some(json) =
        std::fs::read_to_string(path).ok().and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    else {
        return Server::Plain;
    };
    let name = json.get("name").and_then(|n| n.as_str()).unwrap_or_default();
    if ["agui-dev-agui-server", "agui-dev-mcp-server"].contains(&name) {
        return Server::Template;
    }
    let depends = |dep: &str| {
        ["dependencies", "devDependencies"].iter().any(|section| json.get(section).and_then(|d| d.get(dep)).is_some())
    };
    if depends("express") {
        Server::Express
    } else if depends("fastify") {
        Server::Fastify
    } else if depends("hono") {
        Server::Hono
    } else {
        Server::Plain
    }
}

/// The fix for an open server: one line for its framework, and the opt-out.
fn fix(probe: Probe, service: &Service) -> String {
    let server = server_of(service);
    let mut text = match (probe, &server) {
        (Probe::CrossOrigin, Server::Template) => {
            template_fix(service, "AGUI_ALLOWED_ORIGINS", "origins", "https://app.example")
        }
        (Probe::DnsRebinding, Server::Template) => {
            template_fix(service, "AGUI_ALLOWED_HOSTS", "hosts", "agent.example")
        }
        (Probe::CrossOrigin, Server::Express) => {
            format!(
                "Express (`package.json`): replace `cors()` with `cors({{ origin: [{LOOPBACK_ORIGIN}] }})`, adding a deployed frontend's origin to the list"
            )
        }
        (Probe::DnsRebinding, Server::Express) => format!(
            "Express (`package.json`): refuse other Host names before the routes: `app.use((req, res, next) => {LOOPBACK_HOST}.test(req.headers.host ?? '') ? next() : res.status(403).end())`"
        ),
        (Probe::CrossOrigin, Server::Fastify) => format!(
            "Fastify (`package.json`): register `@fastify/cors` with `{{ origin: [{LOOPBACK_ORIGIN}] }}` instead of `origin: true` or `'*'`"
        ),
        (Probe::DnsRebinding, Server::Fastify) => format!(
            "Fastify (`package.json`): `app.addHook('onRequest', async (req, reply) => {{ if (!{LOOPBACK_HOST}.test(req.headers.host ?? '')) return reply.code(403).send() }})`"
        ),
        (Probe::CrossOrigin, Server::Hono) => format!(
            "Hono (`package.json`): replace `cors()` with `cors({{ origin: (o) => ({LOOPBACK_ORIGIN}.test(o) ? o : null) }})`"
        ),
        (Probe::DnsRebinding, Server::Hono) => format!(
            "Hono (`package.json`): `app.use(async (c, next) => {LOOPBACK_HOST}.test(c.req.header('host') ?? '') ? next() : c.text('forbidden', 403))` before the routes"
        ),
        (Probe::CrossOrigin, Server::Plain) => format!(
            "send `Access-Control-Allow-Origin` only when `req.headers.origin` matches `{LOOPBACK_ORIGIN}`, echoing it with `Vary: Origin`, never `*`; answer other origins 403 (node:http: in the request handler, before the routes)"
        ),
        (Probe::DnsRebinding, Server::Plain) => format!(
            "answer 403 unless `req.headers.host` matches `{LOOPBACK_HOST}` (node:http: first thing in the request handler)"
        ),
    };
    let _ = write!(
        text,
        "; or, if `{}` really serves the public web, `public = true` in `[services.{}]`",
        service.name, service.name
    );
    text
}

/// For agui-dev's template: its variable, and that a current copy refuses by default.
fn template_fix(service: &Service, variable: &str, what: &str, example: &str) -> String {
    let set = lookup(service, variable).unwrap_or_default();
    if set.split(',').any(|v| v.trim() == "*") {
        format!(
            "`{variable}` holds `*`, which lets every site in: list the {what} to allow instead (`{variable}={example}`)"
        )
    } else {
        format!(
            "this copy of agui-dev's template predates its guard: the current templates (`agui-dev init`) refuse foreign {what} by default; take its `src/server.ts` from a new `agui-dev init` project, and allow more {what} with `{variable}` (comma-separated)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(dir: &std::path::Path, package: &str, env: &str) -> Service {
        std::fs::write(dir.join("package.json"), package).unwrap();
        let stack = format!(
            "[services.web]\nkind = \"agui\"\ncwd = \"{}\"\ncommand = \"node s.js\"\nport = 3000\nenv = {{ {env} }}\n",
            dir.display()
        );
        let file = dir.join("stack.toml");
        std::fs::write(&file, stack).unwrap();
        crate::kinds::load(&file).unwrap().services.remove(0)
    }

    #[test]
    fn the_fix_names_the_framework_from_package_json() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (r#"{"dependencies":{"express":"^4","cors":"^2"}}"#, Server::Express, "cors({ origin: ["),
            (r#"{"dependencies":{"fastify":"^5","@fastify/cors":"^10"}}"#, Server::Fastify, "@fastify/cors"),
            (r#"{"devDependencies":{"hono":"^4"}}"#, Server::Hono, "c.req.header('host')"),
            (r#"{"dependencies":{"@ag-ui/core":"1"}}"#, Server::Plain, "req.headers"),
            (r#"{"name":"agui-dev-agui-server"}"#, Server::Template, "AGUI_ALLOWED_"),
        ];
        for (package, expected, needle) in cases {
            let service = service(dir.path(), package, "");
            assert_eq!(server_of(&service), expected, "{package}");
            let both = format!("{} {}", fix(Probe::CrossOrigin, &service), fix(Probe::DnsRebinding, &service));
            assert!(both.contains(needle), "{package}: {both}");
            assert!(both.contains("`public = true` in `[services.web]`"), "{both}");
        }
    }

    #[test]
    fn the_templates_star_is_named_as_the_hole() {
        let dir = tempfile::tempdir().unwrap();
        let service = service(dir.path(), r#"{"name":"agui-dev-mcp-server"}"#, r#"AGUI_ALLOWED_ORIGINS = "*""#);
        let cross = fix(Probe::CrossOrigin, &service);
        assert!(cross.starts_with("`AGUI_ALLOWED_ORIGINS` holds `*`, which lets every site in"), "{cross}");
        let rebinding = fix(Probe::DnsRebinding, &service);
        assert!(
            rebinding.contains("the current templates (`agui-dev init`) refuse foreign hosts by default"),
            "{rebinding}"
        );
        assert!(rebinding.contains("`AGUI_ALLOWED_HOSTS`"), "{rebinding}");
    }
}
