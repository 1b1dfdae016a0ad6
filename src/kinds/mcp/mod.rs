//! `kind = "mcp"`: an MCP server over streamable HTTP at `/mcp`. Its readiness URL, `HOST` on
//! loopback, the URL the AG-UI servers are wired to, the doctor checks of a running server
//! (handshake, CORS) and its smoke test (list the tools, call one).

pub mod session;

use std::time::Duration;

use super::{Defaults, Kind, LocalBoxFuture, SmokeTarget, Wiring, clip, loopback_host};
use crate::config::{Probe, Service, Stack};
use crate::diagnosis::{Area, CheckId, Diagnosis};
use crate::error::Result;
use crate::http::{local_client, local_url};

/// The streamable HTTP endpoint.
pub const PATH: &str = "/mcp";
/// Answers 2xx once the server serves (the templates' convention).
pub const HEALTH: &str = "/health";

pub const RUNNING_MCP: CheckId = CheckId::new(Area::Running, "running.mcp");
pub const RUNNING_MCP_CORS: CheckId = CheckId::new(Area::Running, "running.mcp_cors");

pub struct Mcp;

impl Kind for Mcp {
    fn name(&self) -> &'static str {
        "mcp"
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

    fn smoke<'a>(&'a self, _test: &'a str, target: SmokeTarget<'a>) -> LocalBoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let mut session = session::Session::open(&local_url(target.port, PATH)).await?;
            let tools = session.tools().await?;
            let (name, arguments) =
                session::pick_call(&tools).ok_or("the server lists no tool that can be called without arguments")?;
            let answer = session.call(&name, arguments).await?;
            let names: Vec<&str> = tools.iter().map(|(n, _)| n.as_str()).collect();
            Ok(format!("{} tools ({}); `{name}` answered {}", tools.len(), names.join(", "), clip(&answer)))
        })
    }
}

/// A running MCP server: the streamable HTTP handshake works the way clients do it, and a browser
/// client can read the session id (CORS must expose `Mcp-Session-Id`, or every later request
/// fails with `No valid session ID provided`).
async fn check_running(found: &mut Diagnosis, subject: Option<&str>, port: u16) {
    let url = local_url(port, PATH);
    let handshake = async {
        let mut session = session::Session::open(&url).await?;
        session.tools().await
    };
    match tokio::time::timeout(Duration::from_secs(5), handshake).await {
        Ok(Ok(tools)) => found.ok(RUNNING_MCP, subject, format!("the MCP handshake works: {} tools", tools.len())),
        Ok(Err(error)) => found.fail(
            RUNNING_MCP,
            subject,
            format!("the MCP handshake at `{url}` fails: {error}"),
            "406/415: send `Accept: application/json, text/event-stream`; 403 `Invalid Host`: use 127.0.0.1 or set allowed hosts; \
             `Server already initialized`: create a server and transport per session",
        ),
        Err(_) => found.fail(RUNNING_MCP, subject, format!("the MCP handshake at `{url}` did not finish in 5s"), "read the MCP server's log"),
    }
    let Ok(client) = local_client(Duration::from_secs(3)) else { return };
    let preflight = client
        .request(reqwest::Method::OPTIONS, &url)
        .header("Origin", "http://localhost:5173")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await;
    let exposed = |response: &reqwest::Response| {
        response
            .headers()
            .get("access-control-expose-headers")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("mcp-session-id") || v.trim() == "*")
    };
    match preflight {
        Ok(response) if exposed(&response) => found.ok(RUNNING_MCP_CORS, subject, "CORS exposes `Mcp-Session-Id` to browser clients"),
        Ok(_) => found.warn(
            RUNNING_MCP_CORS,
            subject,
            "CORS does not expose `Mcp-Session-Id`: a browser client cannot read its session and gets `No valid session ID provided`",
            "add `Mcp-Session-Id` to the CORS `exposedHeaders` of the MCP server",
        ),
        Err(error) => found.warn(RUNNING_MCP_CORS, subject, format!("OPTIONS {url} failed: {error}"), "read the MCP server's log"),
    }
}
