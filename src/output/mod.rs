//! The one printer. Every byte agui-dev writes for people or log files goes through here.
//!
//! Theory of operation: a dedicated thread owns stdout, stderr, the progress spinners and the log
//! files, and takes messages from one bounded channel. One owner means a line is written whole,
//! never torn by another writer, and the order of messages is the order they were sent. The
//! bound gives back-pressure: when the terminal is slow, the readers of the services' pipes wait,
//! and so do the services, instead of memory growing. Secrets are replaced on the way out.
//!
//! Service output goes to stdout (it is the data someone may pipe or grep); agui-dev's own lines
//! go to stderr.

mod color;
mod logfile;

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use console::Style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::{mpsc, oneshot};

pub use color::{ColorChoice, Colors};

use crate::secret::Secret;
pub use crate::secret::{redact, strip_ansi};

/// How agui-dev's own lines are marked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Success,
    Warn,
    Error,
    /// Only shown with `-v`.
    Debug,
}

/// Which spinner a `Waiting` or `Done` is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// A service starting, by its position in the plan.
    Service(usize),
    /// A set-up step, by its position.
    Setup(usize),
    /// A smoke test, by its position.
    Smoke(usize),
}

pub enum Msg {
    /// Lines of a service's output, joined by `\n`, without a final newline.
    Lines { service: usize, lines: String },
    /// One of agui-dev's own lines.
    Status { level: Level, text: String },
    /// A line of data for stdout (`check`, `--json`): no prefix, no colour added.
    Data(String),
    /// A report a command composed for people (`doctor`): to stderr as it is, secrets replaced.
    Report(String),
    /// Start a spinner for something being waited for (a service, a set-up step, a check).
    Waiting { key: Key, what: String },
    /// End the spinner with that key with a final line.
    Done { key: Key, level: Level, text: String },
    /// Answered once everything before it has been written and flushed.
    Flush(oneshot::Sender<()>),
}

#[allow(clippy::struct_excessive_bools, reason = "independent switches from the command line")]
pub struct Settings {
    pub colors: Colors,
    pub timestamps: bool,
    pub quiet: bool,
    pub verbose: bool,
    /// Whether services' lines reach stdout (they always reach the log files).
    pub show_services: bool,
}

/// A handle for sending to the printer; cheap to clone.
#[derive(Clone)]
pub struct Out {
    tx: mpsc::Sender<Msg>,
}

pub struct Printer {
    out: Out,
    thread: JoinHandle<()>,
}

impl Printer {
    /// Starts the printer. `services` are the names of the services whose lines it will print;
    /// with `log_dir`, each service's lines also go to `log_dir/NAME.log`.
    pub fn start(
        settings: Settings,
        services: &[String],
        log_dir: Option<&Path>,
        secrets: Vec<Secret>,
    ) -> io::Result<Printer> {
        let logs = match log_dir {
            Some(dir) => logfile::open_all(dir, services)?,
            None => Vec::new(),
        };
        // A message carries up to one read of a pipe (64 KiB), so this bounds what waits here to
        // about 4 MiB; past that, the services' readers wait, and so do the services.
        let (tx, rx) = mpsc::channel(64);
        let width = services.iter().map(|s| s.chars().count()).max().unwrap_or(0);
        let state = State::new(settings, services, width, logs, secrets);
        let thread = std::thread::Builder::new().name("printer".into()).spawn(move || state.run(rx))?;
        Ok(Printer { out: Out { tx }, thread })
    }

    pub fn out(&self) -> Out {
        self.out.clone()
    }

    /// Writes everything still queued and stops the thread. Every `Out` must be dropped first.
    pub fn finish(self) {
        drop(self.out);
        let _ = self.thread.join();
    }
}

impl Out {
    pub async fn send(&self, msg: Msg) {
        // The printer only goes away after every sender is dropped, so this cannot fail while
        // `self` exists; should it, there is nowhere left to write anyway.
        let _ = self.tx.send(msg).await;
    }

    pub async fn status(&self, level: Level, text: impl Into<String>) {
        self.send(Msg::Status { level, text: text.into() }).await;
    }

    pub async fn data(&self, text: impl Into<String>) {
        self.send(Msg::Data(text.into())).await;
    }

    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        self.send(Msg::Flush(tx)).await;
        let _ = rx.await;
    }
}

struct State {
    settings: Settings,
    stdout: io::BufWriter<io::Stdout>,
    stderr: io::Stderr,
    prefixes: Vec<String>,
    logs: Vec<logfile::LogFile>,
    secrets: Vec<Secret>,
    progress: Option<MultiProgress>,
    spinners: std::collections::HashMap<Key, ProgressBar>,
}

impl State {
    fn new(
        settings: Settings,
        services: &[String],
        width: usize,
        logs: Vec<logfile::LogFile>,
        secrets: Vec<Secret>,
    ) -> State {
        let prefixes = services
            .iter()
            .enumerate()
            .map(|(index, name)| {
                let padded = format!("{name:<width$} | ");
                if settings.colors.stdout { color::service_style(index).apply_to(padded).to_string() } else { padded }
            })
            .collect();
        let progress = (io::stderr().is_terminal() && !settings.quiet)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        State {
            settings,
            stdout: io::BufWriter::with_capacity(64 * 1024, io::stdout()),
            stderr: io::stderr(),
            prefixes,
            logs,
            secrets,
            progress,
            spinners: std::collections::HashMap::new(),
        }
    }

    fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        while let Some(msg) = rx.blocking_recv() {
            let mut batch = vec![msg];
            while batch.len() < 4096 {
                match rx.try_recv() {
                    Ok(msg) => batch.push(msg),
                    Err(_) => break,
                }
            }
            self.write_batch(batch);
        }
        for spinner in self.spinners.values() {
            spinner.finish_and_clear();
        }
        let _ = self.stdout.flush();
        for log in &mut self.logs {
            log.flush();
        }
    }

    fn write_batch(&mut self, batch: Vec<Msg>) {
        // Spinners are cleared once for the whole batch, not once per line.
        let progress = self.progress.clone();
        let mut acks = Vec::new();
        let write = |state: &mut State| {
            for msg in batch {
                match msg {
                    Msg::Flush(ack) => acks.push(ack),
                    msg => state.write(msg),
                }
            }
            let _ = state.stdout.flush();
            for log in &mut state.logs {
                log.flush();
            }
        };
        match progress {
            Some(progress) if !self.spinners.is_empty() => progress.suspend(|| write(self)),
            _ => write(self),
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }

    fn write(&mut self, msg: Msg) {
        match msg {
            Msg::Lines { service, lines } => self.write_lines(service, &lines),
            Msg::Data(text) => {
                let text = self.redact(&text);
                let _ = writeln!(self.stdout, "{text}");
            }
            Msg::Status { level, text } => self.status(level, &text),
            Msg::Report(text) => {
                let _ = self.stdout.flush();
                let _ = self.stderr.write_all(self.redact(&text).as_bytes());
            }
            Msg::Waiting { key, what } => {
                let what = self.redact(&what);
                match &self.progress {
                    Some(progress) => {
                        let spinner = progress.add(ProgressBar::new_spinner());
                        spinner.set_style(
                            ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("static template"),
                        );
                        spinner.set_message(what);
                        spinner.enable_steady_tick(Duration::from_millis(80));
                        self.spinners.insert(key, spinner);
                    }
                    None => self.status(Level::Info, &what),
                }
            }
            Msg::Done { key, level, text } => {
                if let Some(spinner) = self.spinners.remove(&key) {
                    spinner.finish_and_clear();
                    if let Some(progress) = &self.progress {
                        progress.remove(&spinner);
                    }
                }
                self.status(level, &text);
            }
            Msg::Flush(_) => {}
        }
    }

    /// Secrets and colour codes are handled once for the whole text (neither spans a newline);
    /// the log gets it in one write, the terminal line by line with the prefix.
    fn write_lines(&mut self, service: usize, lines: &str) {
        let text = redact(lines, &self.secrets);
        let plain = strip_ansi(&text);
        if let Some(log) = self.logs.get_mut(service) {
            log.write_line(&plain);
        }
        if !self.settings.show_services {
            return;
        }
        let stamp = if self.settings.timestamps { timestamp() } else { String::new() };
        let shown: &str = if self.settings.colors.stdout { &text } else { &plain };
        let prefix = self.prefixes.get(service).map_or("", String::as_str);
        for line in shown.split('\n') {
            for part in [stamp.as_str(), prefix, line, "\n"] {
                let _ = self.stdout.write_all(part.as_bytes());
            }
        }
    }

    fn status(&mut self, level: Level, text: &str) {
        if (self.settings.quiet && matches!(level, Level::Info | Level::Success))
            || (level == Level::Debug && !self.settings.verbose)
        {
            return;
        }
        let text = self.redact(text);
        let colored = self.settings.colors.stderr;
        let paint = |style: Style, s: &str| {
            if colored { style.force_styling(true).apply_to(s).to_string() } else { s.to_owned() }
        };
        let line = match level {
            Level::Error => format!("{} {text}", paint(Style::new().red().bold(), "error:")),
            Level::Warn => format!("{} {text}", paint(Style::new().yellow().bold(), "warning:")),
            Level::Success => format!("{} {text}", paint(Style::new().green().bold(), "✓")),
            Level::Info | Level::Debug => format!("{} {text}", paint(Style::new().dim(), "agui-dev:")),
        };
        // Keep stdout and stderr in the order they were sent when both go to one terminal.
        let _ = self.stdout.flush();
        let _ = writeln!(self.stderr, "{line}");
    }

    fn redact(&self, text: &str) -> String {
        redact(text, &self.secrets).into_owned()
    }
}

/// The time of day in UTC, to the millisecond: `12:04:05.123 `.
fn timestamp() -> String {
    let full = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    format!("{} ", &full[11..23])
}
