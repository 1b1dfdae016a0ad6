//! A running stack's `status` for people, shared by `agui-dev status` and the MCP `status` tool.

use std::fmt::Write as _;
use std::time::Duration;

use super::protocol::{Answer, ServiceStatus};
use crate::output::short;

/// `status` for people: one line per service.
pub fn table(answer: &Answer) -> String {
    let services: &[ServiceStatus] = answer.services.as_deref().unwrap_or_default();
    let ms = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |ms| short(Duration::from_millis(ms)));
    let mut rows =
        vec![["SERVICE", "STATE", "PID", "URL", "UPTIME", "READY IN", "RESTARTS", "LAST EXIT"].map(String::from)];
    for s in services {
        rows.push([
            s.name.clone(),
            s.state.label().to_owned(),
            s.pid.map_or_else(|| "-".to_owned(), |p| p.to_string()),
            s.url
                .clone()
                .or_else(|| s.port.map(|p| p.to_string()))
                .map_or_else(|| "-".to_owned(), |url| if s.port_auto { format!("{url} (auto port)") } else { url }),
            ms(s.uptime_ms),
            ms(s.ready_ms),
            s.restarts.to_string(),
            s.last_exit.clone().unwrap_or_else(|| "-".to_owned()),
        ]);
    }
    let widths: Vec<usize> = (0..8).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut text = String::new();
    for row in &rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    for s in services.iter().filter(|s| s.error.is_some()) {
        let _ = writeln!(text, "`{}` failed: {}", s.name, s.error.as_deref().unwrap_or_default());
    }
    for s in services {
        for address in &s.exposed {
            let _ = writeln!(
                text,
                "warning: `{}` listens on {address}: other machines can reach it\n  fix: make it listen on 127.0.0.1 \
                 (set `HOST = \"127.0.0.1\"` in the `env` of service `{}`, or change the address it binds)",
                s.name, s.name
            );
        }
    }
    if let Some(model) = &answer.model {
        let offline = if answer.offline == Some(true) { " (the offline model: canned answers)" } else { "" };
        let _ = writeln!(text, "model: `{model}`{offline}");
    }
    if let Some(console) = &answer.console {
        let _ = writeln!(text, "console: {console}");
    }
    if let Some(totals) = &answer.totals {
        let receiver = answer.otlp_endpoint.as_ref().map(|e| format!(" · receiver {e}")).unwrap_or_default();
        let _ = writeln!(text, "traces since `up` started: {}{receiver}", super::trace::totals_text(totals));
    }
    text
}
