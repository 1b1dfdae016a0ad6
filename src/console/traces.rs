//! The console's Traces panel asks here: the kept traces (`GET /api/traces`) and one whole
//! (`GET /api/traces/{id}`, by trace id, AG-UI run id or `last`). Both are the control socket's
//! `traces` and `trace` answers (`socket::answer`), so the panel, `agui-dev trace` and the MCP
//! `trace` tool read one store the same way; `traced` says whether this run receives traces at all,
//! so the page can tell "off" from "nothing yet". Spans were redacted when received; `App::json`
//! redacts again on the way out, for a key a restart read since.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;

use super::api::App;
use crate::control::Op;
use crate::supervise::socket;

/// The routes of the Traces panel, for `api::router`.
pub fn routes() -> Router<Arc<App>> {
    Router::new().route("/api/traces", get(list)).route("/api/traces/{id}", get(one))
}

async fn list(State(app): State<Arc<App>>) -> Response {
    reply(&app, Op::Traces).await
}

async fn one(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    reply(&app, Op::Trace { id }).await
}

async fn reply(app: &App, op: Op) -> Response {
    let answered = socket::answer(op, &app.context).await;
    let mut value = serde_json::to_value(&answered).unwrap_or_default();
    value["traced"] = app.context.traces.is_some().into();
    app.json(&value)
}
