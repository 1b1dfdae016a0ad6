//! The one printer. Every byte agui-dev writes for people or log files goes through here.
//!
//! Theory of operation: two threads. The core thread takes messages from one bounded channel,
//! replaces secrets, writes the services' lines to their log files, and hands everything meant
//! for people to the terminal thread (`terminal.rs`), which owns stdout, stderr and the spinners.
//! The core never waits on the terminal for longer than it takes a reading terminal to catch up:
//! a terminal that stops reading (Ctrl-S, a pager, a pipe nobody drains) gets its service lines
//! dropped and counted, so the log files keep filling and no service ever blocks on a full pipe.
//! The channel's bound gives back-pressure on the readers of the services' pipes only as far as
//! the disk and a reading terminal need it. One owner per stream means a line is written whole,
//! never torn by another writer, and messages come out in the order they were sent.
//!
//! Service output goes to stdout (it is the data someone may pipe or grep); agui-dev's own lines
//! go to stderr.

mod color;
pub mod logfile;
mod missed;
pub mod structured;
mod terminal;

use std::borrow::Cow;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, mpsc, oneshot};

pub use color::{ColorChoice, Colors, service_style};
use terminal::{Item, Shared, Terminal};

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
    /// Lines of a service's output, joined by `\n`, without a final newline, and when they
    /// arrived (`None`: now; `logs` passes the time recorded with them).
    Lines { service: usize, lines: String, at: Option<SystemTime> },
    /// One of agui-dev's own lines.
    Status { level: Level, text: String },
    /// A line of data for stdout (`check`, `--json`): no prefix, no colour added.
    Data(String),
    /// A report a command composed for people (`doctor`): to stderr as it is, secrets replaced.
    Report(String),
    /// Text for stdout as it streams (an agent's answer): no newline added, written at once.
    Text(String),
    /// Start a spinner for something being waited for (a service, a set-up step, a check).
    Waiting { key: Key, what: String },
    /// End the spinner with that key with a final line.
    Done { key: Key, level: Level, text: String },
    /// Answered once everything before it is in the log files and the terminal has it (or has
    /// stopped reading).
    Flush(oneshot::Sender<()>),
    /// The secrets to redact from now on (a restart read the env files again).
    Secrets(Vec<Secret>),
    /// A service added to the running stack (the stack file gained one): it takes the next index,
    /// gets its log file and its prefix.
    Service { name: String },
}

#[derive(Clone, Copy)]
pub struct Settings {
    pub colors: Colors,
    pub quiet: bool,
    pub verbose: bool,
    pub style: Style,
}

/// How a command's output is shown, beyond the global options (colour, `-q`, `-v`). The code that
/// starts a printer says which it needs; the printer does not guess it from the command line.
#[allow(clippy::struct_excessive_bools, reason = "independent switches of the printer")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Prefix every line with the time it arrived.
    pub timestamps: bool,
    /// Show JSON log lines as they are instead of `LEVEL message key=value`.
    pub raw: bool,
    /// Whether services' lines reach stdout (they always reach the log files).
    pub show_services: bool,
    /// Wait for a reader that stops instead of dropping lines.
    pub lossless: bool,
}

impl Style {
    /// Output that is the command's result (a report, a table, JSON): nothing is dropped.
    pub const RESULT: Self = Self { timestamps: false, raw: false, show_services: true, lossless: true };
    /// A running stack's output (`up`, `smoke`): a reader that stops loses lines rather than
    /// holding up the services that write them.
    pub const LIVE: Self = Self { lossless: false, ..Self::RESULT };
}

/// A handle for sending to the printer; cheap to clone.
#[derive(Clone)]
pub struct Out {
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
    tap: broadcast::Sender<Arc<Tapped>>,
}

/// Service lines as the log files get them, for live viewers (the console): secrets replaced,
/// colours kept, one line each. A viewer that falls more than `TAP_CAPACITY` lines behind loses
/// the oldest and is told how many (`broadcast`'s `Lagged`); the printer never waits for a viewer.
#[derive(Debug)]
pub struct Tapped {
    pub service: String,
    /// One line, without its newline.
    pub line: String,
    pub at: SystemTime,
}

const TAP_CAPACITY: usize = 4096;

pub struct Printer {
    out: Out,
    core: JoinHandle<()>,
    terminal: JoinHandle<()>,
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
        // about 4 MiB; past that, the services' readers wait for the disk.
        let (tx, rx) = mpsc::channel(64);
        let shared = Shared::new(settings.style.lossless);
        let shown_dir = log_dir.map(|dir| dir.display().to_string());
        let terminal = Terminal::new(settings, shared.clone(), services, shown_dir);
        let terminal = std::thread::Builder::new().name("terminal".into()).spawn(move || terminal.run())?;
        let log_dir = log_dir.map(Path::to_path_buf);
        let (tap, _) = broadcast::channel(TAP_CAPACITY);
        let names = services.to_vec();
        let core = Core { settings, shared: shared.clone(), names, log_dir, logs, secrets, tap: tap.clone() };
        let core = std::thread::Builder::new().name("printer".into()).spawn(move || core.run(rx))?;
        Ok(Printer { out: Out { tx, shared, tap }, core, terminal })
    }

    pub fn out(&self) -> Out {
        self.out.clone()
    }

    /// Writes everything still queued and stops both threads. Every `Out` must be dropped first.
    /// A terminal that is not reading is not waited for: its thread is left blocked, and dies
    /// with the process.
    pub fn finish(self) {
        let shared = self.out.shared.clone();
        drop(self.out);
        let _ = self.core.join();
        let terminal = self.terminal;
        terminal::wait_unless_stalled(&shared, || terminal.is_finished());
        if terminal.is_finished() {
            let _ = terminal.join();
        }
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

    /// Service lines from now on, as they are written to the log files.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Tapped>> {
        self.tap.subscribe()
    }

    /// Whether stdout was closed by its reader (`agui-dev logs -f | head`): nothing more to show.
    pub fn stdout_gone(&self) -> bool {
        self.shared.stdout_gone()
    }

    /// Waits until everything sent before is written, or the terminal has stopped reading.
    pub async fn flush(&self) {
        let (tx, mut rx) = oneshot::channel();
        self.send(Msg::Flush(tx)).await;
        loop {
            match tokio::time::timeout(Duration::from_millis(50), &mut rx).await {
                Ok(_) => return,
                Err(_) if self.shared.gives_up() => return,
                Err(_) => {}
            }
        }
    }
}

/// The core thread: log files first, then the terminal's share.
struct Core {
    settings: Settings,
    shared: Arc<Shared>,
    /// The services' names, by index.
    names: Vec<String>,
    log_dir: Option<std::path::PathBuf>,
    logs: Vec<logfile::LogFile>,
    secrets: Vec<Secret>,
    tap: broadcast::Sender<Arc<Tapped>>,
}

impl Core {
    fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        while let Some(msg) = rx.blocking_recv() {
            let mut batch = vec![msg];
            while batch.len() < 4096 {
                match rx.try_recv() {
                    Ok(msg) => batch.push(msg),
                    Err(_) => break,
                }
            }
            // The log files get the whole batch before the terminal gets any of it, so a
            // terminal that stops reading mid-batch never holds back a log line.
            let items: Vec<Item> = batch.into_iter().filter_map(|msg| self.take(msg)).collect();
            for log in &mut self.logs {
                log.flush();
            }
            for item in items {
                self.shared.push(item, self.names.len());
            }
        }
        self.shared.close();
    }

    /// Writes what belongs in the log files and returns what the terminal should show.
    fn take(&mut self, msg: Msg) -> Option<Item> {
        match msg {
            Msg::Lines { service, lines, at } => self.lines(service, &lines, at),
            Msg::Data(text) => Some(Item::Data(self.redact(&text))),
            Msg::Status { level, text } => self.shows(level).then(|| Item::Status { level, text: self.redact(&text) }),
            Msg::Report(text) => Some(Item::Report(self.redact(&text))),
            Msg::Text(text) => Some(Item::Text(self.redact(&text))),
            Msg::Waiting { key, what } => Some(Item::Waiting { key, what: self.redact(&what) }),
            Msg::Done { key, level, text } => {
                // The spinner ends whatever the level; its final line follows the quiet rules.
                let text = if self.shows(level) { self.redact(&text) } else { String::new() };
                Some(Item::Done { key, level, text })
            }
            Msg::Flush(ack) => Some(Item::Flush(ack)),
            Msg::Secrets(secrets) => {
                self.secrets = secrets;
                None
            }
            Msg::Service { name } => {
                self.names.push(name.clone());
                if let Some(dir) = &self.log_dir {
                    // Without its file the service still runs and shows on the terminal.
                    match logfile::open(dir, &name) {
                        Ok(log) => self.logs.push(log),
                        Err(err) => {
                            return Some(Item::Status {
                                level: Level::Warn,
                                text: format!("cannot write `{name}`'s log file: {err}"),
                            });
                        }
                    }
                }
                Some(Item::Service { name })
            }
        }
    }

    /// Secrets and colour codes are handled once for the whole text (neither spans a newline);
    /// the log gets it in one write, the terminal line by line with the prefix.
    fn lines(&mut self, service: usize, lines: &str, at: Option<SystemTime>) -> Option<Item> {
        let at = at.unwrap_or_else(SystemTime::now);
        let text = redact(lines, &self.secrets);
        let plain = strip_ansi(&text);
        if let Some(log) = self.logs.get_mut(service) {
            log.write_lines(&plain, at);
        }
        if self.tap.receiver_count() > 0
            && let Some(name) = self.names.get(service)
        {
            for line in text.split('\n') {
                let _ = self.tap.send(Arc::new(Tapped { service: name.clone(), line: line.to_owned(), at }));
            }
        }
        if !self.settings.style.show_services {
            return None;
        }
        let stamp = if self.settings.style.timestamps { timestamp(at) } else { String::new() };
        let color = self.settings.colors.stdout;
        let shown = if color { text } else { plain };
        let shown = if self.settings.style.raw || !shown.contains('{') {
            shown.into_owned()
        } else {
            let pretty: Vec<Cow<'_, str>> = shown
                .split('\n')
                .map(|line| structured::pretty(line, color).map_or(Cow::Borrowed(line), Cow::Owned))
                .collect();
            pretty.join("\n")
        };
        Some(Item::Lines { service, text: shown, stamp })
    }

    fn shows(&self, level: Level) -> bool {
        !((self.settings.quiet && matches!(level, Level::Info | Level::Success))
            || (level == Level::Debug && !self.settings.verbose))
    }

    fn redact(&self, text: &str) -> String {
        redact(text, &self.secrets).into_owned()
    }
}

/// Writes the error that ends the program to stderr, after the printer has finished. A stderr
/// that does not drain (a stopped terminal, a full pipe) is given a moment, not forever.
pub fn final_error(text: String) {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = writeln!(io::stderr(), "{text}");
        let _ = done_tx.send(());
    });
    if done_rx.recv_timeout(Duration::from_secs(2)).is_ok() {
        let _ = writer.join();
    }
}

/// The time of day in UTC, to the millisecond: `12:04:05.123 `.
fn timestamp(at: SystemTime) -> String {
    let full = humantime::format_rfc3339_millis(at).to_string();
    format!("{} ", &full[11..23])
}

/// A duration for people: `312ms`, `6.2s`.
pub fn short(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{}ms", duration.as_millis())
    } else if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{:.1}s", duration.as_secs_f64())
    }
}

/// How many columns stdout has: the terminal's width when it is one, else `$COLUMNS`, else 100
/// (a pipe or a file: wide enough to read, narrow enough for a pager).
pub fn stdout_width() -> usize {
    let width = console::Term::stdout()
        .size_checked()
        .map(|(_, columns)| usize::from(columns))
        .or_else(|| std::env::var("COLUMNS").ok()?.trim().parse().ok())
        .unwrap_or(100);
    width.clamp(40, 400)
}
