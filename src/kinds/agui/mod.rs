//! `kind = "agui"`: an AG-UI server (`POST /agent`, server-sent events). Its readiness URL, `HOST`
//! on loopback, the environment that wires it to the proxy and the MCP server, the doctor checks
//! of that wiring (`consistency`), and its smoke test (one run, checked the way the official
//! client checks it).

pub mod consistency;
pub mod events;

use super::{Defaults, Inspect, Kind, LocalBoxFuture, SmokeTarget, Wiring, clip, loopback_host};
use crate::config::{Probe, Service};
use crate::diagnosis::{CheckId, Diagnosis};
use crate::http::local_url;

/// Where a run is posted.
pub const RUN: &str = "/agent";
/// Answers 2xx once the server serves (the templates' convention).
pub const HEALTH: &str = "/health";

pub struct Agui;

impl Kind for Agui {
    fn name(&self) -> &'static str {
        "agui"
    }

    fn defaults(&self, wiring: &Wiring, service: &Service, port: u16) -> Defaults {
        let mut env = loopback_host(service);
        env.push(("LLM_PROVIDER".to_owned(), "litellm".to_owned()));
        if let Some(endpoint) = &wiring.llm_endpoint {
            env.push(("LITELLM_ENDPOINT".to_owned(), endpoint.clone()));
        }
        if let Some(key) = &wiring.master_key {
            env.push(("LITELLM_API_KEY".to_owned(), key.clone()));
        }
        if let Some(model) = &wiring.model {
            env.push(("LITELLM_MODEL".to_owned(), model.clone()));
        }
        if let Some(url) = &wiring.mcp_url {
            env.push(("MCP_SERVER_URL".to_owned(), url.clone()));
        }
        Defaults { ready: Some(Probe::Http(local_url(port, HEALTH))), env, ..Defaults::default() }
    }

    fn doctor_ids(&self) -> Vec<CheckId> {
        consistency::IDS.to_vec()
    }

    fn doctor<'a>(
        &'a self,
        stack: &'a dyn Inspect,
        service: &'a Service,
        found: &'a mut Diagnosis,
    ) -> LocalBoxFuture<'a, ()> {
        Box::pin(async move { consistency::check(found, stack, service) })
    }

    fn smoke_tests(&self) -> &'static [&'static str] {
        &["run"]
    }

    fn smoke<'a>(&'a self, _test: &'a str, target: SmokeTarget<'a>) -> LocalBoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let url = local_url(target.port, RUN);
            let response = target
                .client
                .post(&url)
                .header("Content-Type", "application/json")
                .header("Accept", "text/event-stream")
                .body(events::run_input("Say hello in one short sentence."))
                .send()
                .await
                .map_err(|e| format!("POST {url}: {e}"))?;
            let status = response.status();
            let body = response.text().await.map_err(|e| format!("POST {url}: {e}"))?;
            if !status.is_success() {
                return Err(format!("POST {url} answered {status}: {}", clip(&body)));
            }
            let events = events::parse_sse(&body)?;
            let text = events::verify(&events)?;
            Ok(format!("{} events; the answer: {}", events.len(), clip(&text)))
        })
    }
}
