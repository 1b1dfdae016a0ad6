//! `kind = "mcp"`: an MCP server over streamable HTTP at `/mcp`. Its readiness URL, `HOST` on
//! loopback, the URL the AG-UI servers are wired to, the doctor checks of a running server
//! (handshake in either protocol era, CORS), its smoke test (list the tools, call one) and what it
//! needs in a container (`export`). `session` holds the protocol.

pub mod session;

use std::time::Duration;

use super::{Defaults, Kind, LocalBoxFuture, SmokeError, SmokeTarget, Wiring, clip, loopback_host};
use crate::config::{KindName, Probe, Service, Stack};
use crate::diagnosis::{Area, CheckId, Diagnosis};
use crate::error::Result;
use crate::http::{local_client, local_url};

/// The streamable HTTP endpoint.
pub const PATH: &str = "/mcp";
/// Answers 2xx once the server serves (the templates' convention).
pub const HEALTH: &str = "/health";

pub const RUNNING_MCP: CheckId = CheckId::new(Area::Running, "running.mcp");
pub const RUNNING_MCP_CORS: CheckId = CheckId::new(Area::Running, "running.mcp_cors");

/// `kind = "mcp"`.
pub const KIND: KindName = KindName::new("mcp");

pub struct Mcp;

impl Kind for Mcp {
    fn name(&self) -> KindName {
        KIND
    }

    /// The template's own default (`PORT` unset), also what `init` writes.
    fn default_port(&self) -> Option<u16> {
        Some(3100)
    }

    fn endpoint(&self, port: u16) -> String {
        local_url(port, PATH)
    }

    fn browser_path(&self) -> Option<&'static str> {
        Some(PATH)
    }

    fn wire(&self, _stack: &Stack, first: &Service, wiring: &mut Wiring) -> Result<()> {
        wiring.mcp_url = first.port.map(|port| local_url(port, PATH));
        Ok(())
    }

    fn defaults(&self, _wiring: &Wiring, service: &Service, port: u16) -> Defaults {
        Defaults {
            ready: Some(Probe::Http(local_url(port, HEALTH))),
            env: loopback_host(service),
            ..Defaults::default()
        }
    }

    fn doctor_ids(&self) -> Vec<CheckId> {
        vec![RUNNING_MCP, RUNNING_MCP_CORS]
    }

    fn doctor_running<'a>(
        &'a self,
        service: &'a Service,
        port: u16,
        found: &'a mut Diagnosis,
    ) -> LocalBoxFuture<'a, ()> {
        Box::pin(check_running(found, Some(service.name.as_str()), port))
    }

    fn smoke_tests(&self) -> &'static [&'static str] {
        &["tools"]
    }

    /// The template listens on `HOST` (default 127.0.0.1, which other containers cannot reach)
    /// and accepts only the Host names it knows, so it is told the name the others use.
    /// `MCP_ALLOWED_HOSTS` is the older name, kept for copies of the template made before.
    fn container_env(&self, host: &str) -> Vec<(&'static str, String)> {
        vec![
            ("HOST", "0.0.0.0".to_owned()),
            ("AGUI_ALLOWED_HOSTS", host.to_owned()),
            ("MCP_ALLOWED_HOSTS", host.to_owned()),
        ]
    }

    fn smoke<'a>(&'a self, _test: &'a str, target: SmokeTarget<'a>) -> LocalBoxFuture<'a, Result<String, SmokeError>> {
        Box::pin(async move {
            let mut session = session::Session::open(&local_url(target.port, PATH)).await?;
            let era = session.era().clone();
            let in_era = |source| SmokeError::Mcp { era: era.to_string(), source };
            let tools = session.tools().await.map_err(in_era)?;
            let (name, arguments) = session::pick_call(&tools).ok_or_else(|| {
                SmokeError::Failed(format!("{era}: the server lists no tool that can be called without arguments"))
            })?;
            let answer = session.call(&name, arguments).await.map_err(in_era)?;
            session.close().await;
            let names: Vec<&str> = tools.iter().map(|(n, _)| n.as_str()).collect();
            Ok(format!("{era}: {} tools ({}); `{name}` answered {}", tools.len(), names.join(", "), clip(&answer)))
        })
    }
}

/// A running MCP server: the handshake works the way clients do it (2026-07-28 first, then the
/// 2025-era session), and a browser client can make its requests: 2026-07-28 requests carry the
/// `Mcp-Method` and `MCP-Protocol-Version` headers, which CORS must allow; a 2025-era client must
/// read the session id (CORS must expose `Mcp-Session-Id`, or every later request fails with
/// `No valid session ID provided`).
async fn check_running(found: &mut Diagnosis, subject: Option<&str>, port: u16) {
    let url = local_url(port, PATH);
    let handshake = async {
        let mut session = session::Session::open(&url).await?;
        let tools = session.tools().await;
        let era = session.era().clone();
        session.close().await;
        tools.map(|tools| (era, tools))
    };
    let mut era = None;
    match tokio::time::timeout(Duration::from_secs(5), handshake).await {
        Ok(Ok((spoken, tools))) => {
            let note = match &spoken {
                session::Era::Modern => String::new(),
                session::Era::Legacy(_) => format!("; it does not answer `server/discover` ({} clients fall back)", session::MODERN),
            };
            let names: Vec<&str> = tools.iter().map(|(name, _)| name.as_str()).collect();
            found.ok(RUNNING_MCP, subject, format!("{spoken} works: {} tools ({}){note}", tools.len(), names.join(", ")));
            era = Some(spoken);
        }
        Ok(Err(error)) => found.fail(
            RUNNING_MCP,
            subject,
            format!("the MCP handshake at `{url}` fails: {error}"),
            "406/415: send `Accept: application/json, text/event-stream`; 403 `Invalid Host`: use 127.0.0.1 or set allowed hosts; \
             -32020 `Mcp-Method header is absent`: a 2026-07-28 client must send it; \
             `Server already initialized`: create a server and transport per session",
        ),
        Err(_) => found.fail(RUNNING_MCP, subject, format!("the MCP handshake at `{url}` did not finish in 5s"), "read the MCP server's log"),
    }
    let Ok(client) = local_client(Duration::from_secs(3)) else { return };
    let preflight = client
        .request(reqwest::Method::OPTIONS, &url)
        .header("Origin", "http://localhost:5173")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type, mcp-method, mcp-protocol-version")
        .send()
        .await;
    let lists = |response: &reqwest::Response, header: &str, wanted: &[&str]| {
        response.headers().get(header).and_then(|v| v.to_str().ok()).is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            v.trim() == "*" || wanted.iter().all(|w| v.split(',').any(|h| h.trim() == *w))
        })
    };
    let response = match preflight {
        Ok(response) => response,
        Err(error) => {
            found.warn(
                RUNNING_MCP_CORS,
                subject,
                format!("OPTIONS {url} failed: {error}"),
                "read the MCP server's log",
            );
            return;
        }
    };
    match era {
        Some(session::Era::Modern) => {
            if lists(&response, "access-control-allow-headers", &["mcp-method", "mcp-protocol-version"]) {
                found.ok(RUNNING_MCP_CORS, subject, "CORS allows `Mcp-Method` and `MCP-Protocol-Version` for browser clients");
            } else {
                found.warn(
                    RUNNING_MCP_CORS,
                    subject,
                    format!("CORS does not allow the `Mcp-Method` and `MCP-Protocol-Version` headers: a browser client's {} requests fail their preflight", session::MODERN),
                    "add `Mcp-Method`, `Mcp-Name` and `MCP-Protocol-Version` to the CORS `allowedHeaders` of the MCP server",
                );
            }
        }
        _ if lists(&response, "access-control-expose-headers", &["mcp-session-id"]) => {
            found.ok(RUNNING_MCP_CORS, subject, "CORS exposes `Mcp-Session-Id` to browser clients");
        }
        _ => found.warn(
            RUNNING_MCP_CORS,
            subject,
            "CORS does not expose `Mcp-Session-Id`: a browser client cannot read its session and gets `No valid session ID provided`",
            "add `Mcp-Session-Id` to the CORS `exposedHeaders` of the MCP server",
        ),
    }
}
