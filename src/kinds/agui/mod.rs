//! `kind = "agui"`: an AG-UI server (`POST /agent`, server-sent events). Its readiness URL, `HOST`
//! on loopback, the environment that wires it to the proxy and the MCP server, the doctor checks
//! of that wiring (`consistency`), its smoke test (one run, checked against the AG-UI 1.0 rules of
//! `docs/agui-rules.md`, kept in `rules`, `steps` and `subagents`; the captured run is kept as
//! `.agui-dev/smoke/agui-run.jsonl`, secrets redacted), and what it needs in a container (`export`).

pub mod client;
pub mod consistency;
pub mod events;
pub mod rules;
mod steps;
mod subagents;

use std::path::Path;

use super::{Defaults, Inspect, Kind, LocalBoxFuture, SmokeError, SmokeTarget, Wiring, clip, loopback_host};
use crate::config::{KindName, Probe, Service};
use crate::diagnosis::{CheckId, Diagnosis};
use crate::http::{HttpError, local_url};

/// Where a run is posted.
pub const RUN: &str = "/agent";
/// Answers 2xx once the server serves (the templates' convention).
pub const HEALTH: &str = "/health";

/// `kind = "agui"`.
pub const KIND: KindName = KindName::new("agui");

pub struct Agui;

impl Kind for Agui {
    fn name(&self) -> KindName {
        KIND
    }

    /// The template's own default (`PORT` unset), also what `init` writes.
    fn default_port(&self) -> Option<u16> {
        Some(3000)
    }

    fn endpoint(&self, port: u16) -> String {
        local_url(port, RUN)
    }

    fn browser_path(&self) -> Option<&'static str> {
        Some(RUN)
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

    /// The template listens on `HOST` (default 127.0.0.1, which other containers cannot reach)
    /// and accepts only the Host names it knows, so it is told the name the others use.
    fn container_env(&self, host: &str) -> Vec<(&'static str, String)> {
        vec![("HOST", "0.0.0.0".to_owned()), ("AGUI_ALLOWED_HOSTS", host.to_owned())]
    }

    fn smoke<'a>(&'a self, _test: &'a str, target: SmokeTarget<'a>) -> LocalBoxFuture<'a, Result<String, SmokeError>> {
        Box::pin(smoke_run(target))
    }
}

/// One run asking for a short sentence, its stream checked against the rules.
async fn smoke_run(target: SmokeTarget<'_>) -> Result<String, SmokeError> {
    let url = local_url(target.port, RUN);
    let request = format!("POST {url}");
    let response = target
        .client
        .post(&url)
        .header("Content-Type", "application/json")
        .header("Accept", "text/event-stream")
        .body(events::run_input("Say hello in one short sentence."))
        .send()
        .await
        .map_err(HttpError::request("POST", &url))?;
    let status = response.status();
    // The run asks for one short sentence: its whole answer is held to one event's cap.
    let body = crate::http::read_body(response, events::MAX_SSE_EVENT, "a smoke run's answer")
        .await
        .map_err(|e| SmokeError::Reading { request: request.clone(), source: Box::new(e) })?;
    if !status.is_success() {
        return Err(SmokeError::Failed(format!("{request} answered {status}: {}", clip(&body))));
    }
    let frames = events::sse_frames(&body).map_err(|e| SmokeError::Reading { request, source: Box::new(e) })?;
    let kept = keep_run(target.dir, &frames, target.secrets);
    let checked = rules::check_smoke(&frames);
    if let Some(broken) = &checked.broken {
        return Err(SmokeError::Failed(format!("{broken}{kept}")));
    }
    let warnings: String = checked
        .warnings
        .iter()
        .map(|w| format!("; warning: rule `{}` at event {}: {}", w.rule, w.index, w.message))
        .collect::<Vec<_>>()
        .concat();
    Ok(format!(
        "{} events, {} run{}; the answer: {}{warnings}{kept}",
        checked.events,
        checked.runs,
        if checked.runs == 1 { "" } else { "s" },
        clip(&checked.text)
    ))
}

/// Where smoke keeps the last captured run, under the stack file's folder.
pub const CAPTURE: &str = ".agui-dev/smoke/agui-run.jsonl";

/// Writes the frames, one per line, secrets redacted; returns the note for the report.
fn keep_run(dir: &Path, frames: &[String], secrets: &[crate::secret::Secret]) -> String {
    let path = dir.join(CAPTURE);
    let mut text = String::new();
    for frame in frames {
        // A frame spanning several `data:` lines stays one line of the capture.
        text.push_str(&crate::secret::redact(&frame.replace('\n', " "), secrets));
        text.push('\n');
    }
    let written = path.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::write(&path, text));
    match written {
        Ok(()) => format!(" (the run is in `{CAPTURE}`)"),
        Err(err) => format!(" (could not keep the run in `{}`: {err})", path.display()),
    }
}
