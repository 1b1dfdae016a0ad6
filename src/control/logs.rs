//! The services' output from `.agui-dev/logs/` (`agui-dev logs`), whether or not the stack runs.
//!
//! Reads the files the printer writes (never the running agui-dev), so it works after a crash or
//! while another terminal runs `up`. Lines of all services are merged by the time they arrived,
//! kept beside each log in `NAME.times`. `-f` holds each log open and polls every 20 ms, on a
//! thread of its own (file reads block; the runtime's workers keep the printer going), reading
//! only what was appended, times included: new bytes are new lines; another file at the log's
//! path (a new `up` renames fresh files into place) is a new run, read from its start once the
//! old one's last lines are shown. Size alone cannot tell: a new run may write more than the old
//! file held within one poll.

use std::path::Path;
use std::time::{Duration, SystemTime};

use regex::Regex;

use crate::cli::{Cli, LogsArgs};
use crate::error::{Error, Result};
use crate::output::logfile::{Logged, Tail};
use crate::output::structured::{self, LogLevel};
use crate::output::{Level, Msg, Out, Style};

struct Filter {
    since: Option<SystemTime>,
    grep: Option<Regex>,
    level: Option<LogLevel>,
}

impl Filter {
    fn keeps(&self, line: &Logged) -> bool {
        if let (Some(since), Some(at)) = (self.since, line.at)
            && at < since
        {
            return false;
        }
        if self.grep.as_ref().is_some_and(|grep| !grep.is_match(&line.text)) {
            return false;
        }
        // With a level asked for, a line without one (plain text) cannot be judged, and goes.
        self.level.is_none_or(|min| structured::level_of(&line.text).is_some_and(|level| level >= min))
    }
}

/// Shows the logs `args` asks for; with `--follow`, keeps showing new lines until Ctrl-C.
pub async fn show(cli: &Cli, args: &LogsArgs) -> Result<()> {
    let LogsArgs { services, follow, lines, since, grep, level, timestamps, json, raw } = args;
    let (stack_file, stack_dir) = crate::session::stack_file(cli)?;
    let dir = super::stack::logs_dir(&stack_dir);
    let (names, secrets) = super::stack::services_and_secrets(&stack_file, &dir);
    let selected = super::stack::select(&names, services, &dir)?;
    let grep = match grep {
        Some(pattern) => Some(Regex::new(pattern).map_err(|err| {
            Error::usage(format!("`--grep {pattern}` is not a valid regular expression"))
                .cause(err)
                .hint("write it as for `grep -E`, e.g. `error|warn`")
        })?),
        None => None,
    };
    let filter = Filter { since: since.map(|d| SystemTime::now() - d), grep, level: *level };

    let style = Style { timestamps: *timestamps, raw: *raw, ..Style::RESULT };
    let printer = crate::session::printer(cli, style, &selected, None, secrets)?;
    let out = printer.out();
    // Files are read off the runtime: its two workers keep the printer going.
    let (history_dir, history_names) = (dir.clone(), selected.clone());
    let history = tokio::task::spawn_blocking(move || {
        history_names
            .iter()
            .map(|name| {
                let mut tail = Tail::open(&history_dir, name);
                let read = tail.as_mut().and_then(|tail| tail.read().ok()).unwrap_or_default();
                (tail, read)
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|err| Error::failed("reading the logs failed").cause(err))?;
    let mut tails = Vec::new();
    let mut shown: Vec<(usize, Logged)> = Vec::new();
    for (index, (tail, read)) in history.into_iter().enumerate() {
        tails.push(tail);
        let mut kept: Vec<Logged> = read.into_iter().filter(|line| filter.keeps(line)).collect();
        if let Some(n) = lines {
            kept.drain(..kept.len().saturating_sub(*n));
        }
        shown.extend(kept.into_iter().map(|line| (index, line)));
    }
    // Merged by arrival; a stable sort keeps each service's own order where times are equal.
    shown.sort_by_key(|(_, line)| line.at);
    for (index, line) in shown {
        emit(&out, &selected, index, line, *json).await;
    }
    if *follow {
        follow_files(&out, &selected, &dir, &filter, tails, *json).await;
    }
    drop(out);
    printer.finish();
    Ok(())
}

async fn emit(out: &Out, names: &[String], service: usize, line: Logged, json: bool) {
    if json {
        let mut object = serde_json::json!({
            "service": names[service],
            "time": line.at.map(|at| humantime::format_rfc3339_millis(at).to_string()),
            "line": line.text,
        });
        if let Some(level) = structured::level_of(&line.text) {
            object["level"] = level.name().into();
        }
        out.data(object.to_string()).await;
    } else {
        out.send(Msg::Lines { service, lines: line.text, at: line.at }).await;
    }
}

/// What the follower's thread found in one service's log.
enum Found {
    Lines(usize, Vec<Logged>),
    /// A new run's log is in place; its lines come next.
    StartedAgain(usize),
}

async fn follow_files(out: &Out, names: &[String], dir: &Path, filter: &Filter, tails: Vec<Option<Tail>>, json: bool) {
    // Bounded: when the terminal is slow, the thread waits instead of reading ahead.
    let (tx, mut found) = tokio::sync::mpsc::channel(64);
    let (dir, thread_names) = (dir.to_path_buf(), names.to_vec());
    std::thread::spawn(move || poll_files(&dir, &thread_names, tails, &tx));
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tokio::select! {
            _ = &mut stop => return,
            next = found.recv() => match next {
                Some(Found::Lines(index, lines)) => {
                    for line in lines.into_iter().filter(|line| filter.keeps(line)) {
                        emit(out, names, index, line, json).await;
                    }
                }
                Some(Found::StartedAgain(index)) => started_again(out, &names[index]).await,
                None => return,
            },
            _ = tick.tick() => {}
        }
        if out.stdout_gone() {
            // Dropping the receiver ends the thread at its next poll.
            return;
        }
    }
}

/// The follower's thread: every 20 ms, each log's new lines. It ends when nobody listens.
fn poll_files(dir: &Path, names: &[String], mut tails: Vec<Option<Tail>>, found: &tokio::sync::mpsc::Sender<Found>) {
    let send = |what: Found| found.blocking_send(what).is_ok();
    while !found.is_closed() {
        std::thread::sleep(Duration::from_millis(20));
        for (index, name) in names.iter().enumerate() {
            let mut lines = Vec::new();
            match &mut tails[index] {
                // No log yet (or a new run half in place): the first one to appear is read whole.
                None => tails[index] = Tail::open(dir, name),
                Some(tail) => {
                    if tail.truncated() && !send(Found::StartedAgain(index)) {
                        return;
                    }
                    // The old run's last lines first, then the new run's.
                    lines = tail.read().unwrap_or_default();
                    if tail.replaced(dir, name)
                        && let Some(next) = Tail::open(dir, name)
                    {
                        let old = std::mem::take(&mut lines);
                        if !send(Found::Lines(index, old)) || !send(Found::StartedAgain(index)) {
                            return;
                        }
                        *tail = next;
                    }
                }
            }
            if let Some(tail) = &mut tails[index] {
                lines.extend(tail.read().unwrap_or_default());
            }
            if !lines.is_empty() && !send(Found::Lines(index, lines)) {
                return;
            }
        }
    }
}

async fn started_again(out: &Out, name: &str) {
    out.status(Level::Info, format!("`{name}` started again (a new run); its log starts over")).await;
}
