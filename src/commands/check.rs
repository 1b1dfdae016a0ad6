//! `agui-dev check`: validate the stack file and print the resolved plan with secrets masked.

use crate::cli::Cli;
use crate::error::Result;
use crate::output::short;
use crate::plan;
use crate::secret::{is_secret_name, mask};

pub async fn run(cli: &Cli) -> Result<()> {
    let stack = crate::session::load_stack(cli)?;
    let plan = plan::build(&stack, &[])?;
    let printer = crate::session::printer(cli, false, &[], None, plan.secrets.clone())?;
    let out = printer.out();
    let mut text = vec![format!("stack `{}` ({})", plan.stack_name, plan.stack_file.display())];
    let order: Vec<String> = plan.services.iter().map(|s| s.name.clone()).collect();
    text.push(format!("start order: {}", order.join(", ")));
    for missing in &stack.missing_env_files {
        text.push(format!("note: env file `{}` does not exist; skipped", missing.display()));
    }
    for note in &plan.notes {
        text.push(format!("note: {note}"));
    }
    for service in &plan.services {
        text.push(String::new());
        text.push(service.name.clone());
        let row = |key: &str, value: String| format!("  {key:<9} {value}");
        text.push(row("command", shell_words::join(&service.command)));
        text.push(row("cwd", service.cwd.display().to_string()));
        let port = match service.port {
            // The number this check got is the one its `PORT` and `${PORT}` show; `up` picks again.
            Some(port) if service.port_auto => format!("auto (chosen at start; {port} in this check)"),
            Some(port) => port.to_string(),
            None => "-".to_owned(),
        };
        text.push(row("port", port));
        if service.task {
            text.push(row("task", "runs to completion; dependents start when it exits 0".to_owned()));
        }
        if !service.watch.is_empty() {
            let ignore = if service.watch_ignore.is_empty() {
                String::new()
            } else {
                format!(" (ignoring {})", service.watch_ignore.join(", "))
            };
            text.push(row("watch", format!("{}{ignore}", service.watch.join(", "))));
        }
        text.push(row(
            "ready",
            service.ready.as_ref().map_or_else(
                || "when started".to_owned(),
                |p| format!("{p} (timeout {})", short(service.ready_timeout)),
            ),
        ));
        text.push(row(
            "after",
            if service.depends_on.is_empty() { "-".to_owned() } else { service.depends_on.join(", ") },
        ));
        let restart = match service.restart {
            crate::config::Restart::No => "no".to_owned(),
            crate::config::Restart::OnFailure => format!("on-failure (at most {})", service.max_restarts),
            crate::config::Restart::Always => format!("always (at most {})", service.max_restarts),
        };
        text.push(row("restart", restart));
        text.push(row(
            "stop",
            format!("{}, SIGKILL after {}", service.stop_signal.as_str(), short(service.stop_grace)),
        ));
        // Names only: which secrets reach the service, and which of the stack's it is kept from.
        let secrets = service.secret_names();
        text.push(row("secrets", if secrets.is_empty() { "-".to_owned() } else { secrets.join(", ") }));
        if !service.withheld.is_empty() {
            text.push(row("withheld", service.withheld.join(", ")));
        }
        let mut keys = service.own_env.clone();
        keys.sort();
        for (i, key) in keys.iter().enumerate() {
            let value = &service.env[key];
            let shown = if is_secret_name(key) { mask(value) } else { value.clone() };
            text.push(row(if i == 0 { "env" } else { "" }, format!("{key}={shown}")));
        }
    }
    for line in text {
        out.data(line).await;
    }
    drop(out);
    printer.finish();
    Ok(())
}
