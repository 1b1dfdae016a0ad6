//! The terminal's share of the output: a thread that owns stdout, stderr and the spinners, fed
//! through a queue that a stopped reader can never turn into a stalled stack.
//!
//! Theory of operation: the printer's core thread hands every item for people here after it has
//! written the log files. Items for agui-dev's own lines, data and spinners always go in; service
//! lines go in while the queue holds less than `BUDGET` bytes. When the queue is full the core
//! waits for room, as long as the terminal is still taking bytes: a slow reader slows the stack
//! and loses nothing. When the terminal has made no progress for `STALL` (Ctrl-S, a pager that
//! stopped reading, a pipe nobody drains), service lines are dropped and counted instead,
//! so the core goes on filling the log files; once the terminal reads again it is told how many
//! lines it missed and where they are.
//!
//! Spinners: indicatif draws them under a lock of its own. Adding or finishing a spinner takes
//! that lock, and so does `suspend`; so spinner changes are made between writes, never inside a
//! `suspend` (doing so deadlocked `up` on a terminal as soon as a spinner ended).

use std::collections::VecDeque;
use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use console::Style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::oneshot;

use super::{Key, Level, Settings, color};

/// Service lines waiting for the terminal, in bytes. The thread holds at most one more batch of
/// this size while it writes it, so the terminal's share of memory stays under twice this.
const BUDGET: usize = 1 << 20;
/// How long one write may block before the terminal counts as not reading.
const STALL: Duration = Duration::from_millis(250);

pub enum Item {
    /// A service's lines, already redacted and coloured as they will be shown, joined by `\n`.
    Lines {
        service: usize,
        text: String,
        stamp: String,
    },
    Status {
        level: Level,
        text: String,
    },
    Data(String),
    Report(String),
    Text(String),
    Waiting {
        key: Key,
        what: String,
    },
    Done {
        key: Key,
        level: Level,
        text: String,
    },
    /// Lines dropped while the terminal was not reading, per service, in the order they fell.
    Skipped(Vec<u64>),
    /// A service added while the stack runs: the next index.
    Service {
        name: String,
    },
    Flush(oneshot::Sender<()>),
}

impl Item {
    /// What the item counts against the budget: only service lines, which a flood can make big.
    fn weight(&self) -> usize {
        match self {
            Item::Lines { text, .. } => text.len(),
            _ => 0,
        }
    }
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Item>,
    bytes: usize,
    closed: bool,
}

/// What the core thread and the terminal thread share.
pub struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when items arrive (for the terminal) and when room is made (for the core).
    changed: Condvar,
    /// Whether the terminal thread is working on a batch (writing, or waiting for the spinners'
    /// lock, which indicatif's ticker holds while its own write to a stopped terminal blocks).
    busy: AtomicBool,
    /// Milliseconds since `epoch` when the terminal last made progress: a batch begun, a write done.
    progress_at: AtomicU64,
    epoch: Instant,
    /// stdout's reader went away (a closed pipe): writing more is pointless.
    stdout_gone: AtomicBool,
}

impl Shared {
    pub fn new() -> Arc<Shared> {
        Arc::new(Shared {
            queue: Mutex::default(),
            changed: Condvar::new(),
            busy: AtomicBool::new(false),
            progress_at: AtomicU64::new(0),
            epoch: Instant::now(),
            stdout_gone: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic on the terminal thread must not take the log files with it.
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn progressed(&self) {
        self.progress_at.store(self.now(), Ordering::Release);
    }

    pub fn stdout_gone(&self) -> bool {
        self.stdout_gone.load(Ordering::Acquire)
    }

    /// Whether the terminal has made no progress on its batch for longer than `STALL`.
    pub fn stalled(&self) -> bool {
        self.busy.load(Ordering::Acquire)
            && self.now() > self.progress_at.load(Ordering::Acquire) + STALL.as_millis() as u64
    }

    /// Queues an item for the terminal. Service lines wait for room while the terminal reads and
    /// are dropped (and counted) while it does not; every other item always goes in.
    pub fn push(&self, item: Item, services: usize) {
        let mut queue = self.lock();
        let weight = item.weight();
        if let Item::Lines { service, text, .. } = &item {
            while queue.bytes > 0 && queue.bytes + weight > BUDGET {
                if self.stalled() {
                    let lines = text.split('\n').count() as u64;
                    if !matches!(queue.items.back(), Some(Item::Skipped(_))) {
                        queue.items.push_back(Item::Skipped(vec![0; services]));
                    }
                    if let Some(Item::Skipped(counts)) = queue.items.back_mut() {
                        if counts.len() <= *service {
                            counts.resize(*service + 1, 0);
                        }
                        counts[*service] += lines;
                    }
                    return;
                }
                queue =
                    self.changed.wait_timeout(queue, STALL / 5).unwrap_or_else(std::sync::PoisonError::into_inner).0;
            }
        }
        queue.bytes += weight;
        queue.items.push_back(item);
        drop(queue);
        self.changed.notify_all();
    }

    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// Everything queued, waiting for it; `None` once closed and drained.
    fn take(&self) -> Option<VecDeque<Item>> {
        let mut queue = self.lock();
        while queue.items.is_empty() {
            if queue.closed {
                return None;
            }
            queue = self.changed.wait(queue).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        queue.bytes = 0;
        let items = std::mem::take(&mut queue.items);
        drop(queue);
        self.changed.notify_all();
        Some(items)
    }
}

/// A stream that tells `Shared` each time one of its writes gets through.
struct Watched<W> {
    inner: W,
    shared: Arc<Shared>,
    is_stdout: bool,
}

impl<W: Write> Write for Watched<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = self.inner.write(buf);
        self.shared.progressed();
        if self.is_stdout && result.as_ref().is_err_and(|err| err.kind() == io::ErrorKind::BrokenPipe) {
            self.shared.stdout_gone.store(true, Ordering::Release);
        }
        result
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

pub struct Terminal {
    settings: Settings,
    shared: Arc<Shared>,
    stdout: io::BufWriter<Watched<io::Stdout>>,
    stderr: Watched<io::Stderr>,
    prefixes: Vec<String>,
    names: Vec<String>,
    /// The width names are padded to, fixed at start so lines stay aligned.
    width: usize,
    /// Where the services' full output is, for the line that says what the terminal missed.
    log_dir: Option<String>,
    progress: Option<MultiProgress>,
    spinners: std::collections::HashMap<Key, ProgressBar>,
}

impl Terminal {
    pub fn new(settings: Settings, shared: Arc<Shared>, services: &[String], log_dir: Option<String>) -> Terminal {
        let width = services.iter().map(|s| s.chars().count()).max().unwrap_or(0);
        let prefixes = services
            .iter()
            .enumerate()
            .map(|(index, name)| prefix(settings.colors.stdout, index, name, width))
            .collect();
        let progress = (io::stderr().is_terminal() && !settings.quiet)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Terminal {
            stdout: io::BufWriter::with_capacity(
                64 * 1024,
                Watched { inner: io::stdout(), shared: shared.clone(), is_stdout: true },
            ),
            stderr: Watched { inner: io::stderr(), shared: shared.clone(), is_stdout: false },
            settings,
            shared,
            prefixes,
            names: services.to_vec(),
            width,
            log_dir,
            progress,
            spinners: std::collections::HashMap::new(),
        }
    }

    pub fn run(mut self) {
        while let Some(items) = self.shared.take() {
            self.shared.progressed();
            self.shared.busy.store(true, Ordering::Release);
            self.write_batch(items);
            self.shared.busy.store(false, Ordering::Release);
        }
        for spinner in self.spinners.values() {
            spinner.finish_and_clear();
        }
        let _ = self.stdout.flush();
    }

    /// Text items are written together, inside one `suspend` of the spinners when any are shown;
    /// spinner changes and flush answers happen between those writes.
    fn write_batch(&mut self, items: VecDeque<Item>) {
        let mut text = Vec::new();
        for item in items {
            match item {
                Item::Waiting { key, what } => {
                    self.write_text(&mut text);
                    self.start_spinner(key, what, &mut text);
                }
                Item::Done { key, level, text: line } => {
                    self.write_text(&mut text);
                    self.end_spinner(key);
                    if !line.is_empty() {
                        text.push(Item::Status { level, text: line });
                    }
                }
                Item::Flush(ack) => {
                    self.write_text(&mut text);
                    let _ = ack.send(());
                }
                item => text.push(item),
            }
        }
        self.write_text(&mut text);
    }

    fn write_text(&mut self, items: &mut Vec<Item>) {
        if items.is_empty() {
            return;
        }
        let mut write = |terminal: &mut Terminal| {
            for item in items.drain(..) {
                terminal.write(item);
            }
            let _ = terminal.stdout.flush();
        };
        match self.progress.clone() {
            Some(progress) if !self.spinners.is_empty() => progress.suspend(|| write(self)),
            _ => write(self),
        }
    }

    fn start_spinner(&mut self, key: Key, what: String, text: &mut Vec<Item>) {
        let Some(progress) = &self.progress else {
            text.push(Item::Status { level: Level::Info, text: what });
            return;
        };
        let spinner = progress.add(ProgressBar::new_spinner());
        spinner.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("static template"));
        spinner.set_message(what);
        spinner.enable_steady_tick(Duration::from_millis(80));
        self.spinners.insert(key, spinner);
    }

    fn end_spinner(&mut self, key: Key) {
        if let Some(spinner) = self.spinners.remove(&key) {
            spinner.finish_and_clear();
            if let Some(progress) = &self.progress {
                progress.remove(&spinner);
            }
        }
    }

    fn write(&mut self, item: Item) {
        match item {
            Item::Lines { service, text, stamp } => {
                let prefix = self.prefixes.get(service).map_or("", String::as_str);
                for line in text.split('\n') {
                    for part in [stamp.as_str(), prefix, line, "\n"] {
                        let _ = self.stdout.write_all(part.as_bytes());
                    }
                }
            }
            Item::Data(text) => {
                let _ = writeln!(self.stdout, "{text}");
            }
            Item::Status { level, text } => self.status(level, &text),
            Item::Text(text) => {
                let _ = self.stdout.write_all(text.as_bytes());
            }
            Item::Report(text) => {
                let _ = self.stdout.flush();
                let _ = self.stderr.write_all(text.as_bytes());
            }
            Item::Skipped(counts) => {
                let text = self.skipped(&counts);
                self.status(Level::Warn, &text);
            }
            Item::Service { name } => {
                self.prefixes.push(prefix(self.settings.colors.stdout, self.names.len(), &name, self.width));
                self.names.push(name);
            }
            Item::Waiting { .. } | Item::Done { .. } | Item::Flush(_) => {}
        }
    }

    /// `1200 lines of `api` were not shown while the terminal was not reading; …`
    fn skipped(&self, counts: &[u64]) -> String {
        let parts: Vec<String> = counts
            .iter()
            .zip(&self.names)
            .filter(|(count, _)| **count > 0)
            .map(|(count, name)| format!("{count} of `{name}`"))
            .collect();
        let total: u64 = counts.iter().sum();
        let lines = if total == 1 { "line" } else { "lines" };
        let where_ = match &self.log_dir {
            Some(dir) => format!("; every line is in `{dir}/NAME.log`"),
            None => String::new(),
        };
        format!("{} {lines} ({}) were not shown while the terminal was not reading{where_}", total, parts.join(", "))
    }

    fn status(&mut self, level: Level, text: &str) {
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
}

/// `name | ` padded to `width`, in the service's colour when stdout has colour.
fn prefix(colors: bool, index: usize, name: &str, width: usize) -> String {
    let padded = format!("{name:<width$} | ");
    if colors { color::service_style(index).apply_to(padded).to_string() } else { padded }
}

/// Waits for `done` while the terminal keeps taking bytes; gives up once it is stalled, so a
/// terminal nobody reads never keeps agui-dev from exiting.
pub fn wait_unless_stalled(shared: &Shared, mut done: impl FnMut() -> bool) {
    while !done() {
        if shared.stalled() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
