//! The terminal's share of the output: a thread that owns stdout, stderr and the spinners, fed
//! through a queue that a stopped reader can never turn into a stalled stack.
//!
//! Theory of operation: the printer's core thread hands every item for people here after it has
//! written the log files. Every item that carries text counts its bytes; an item goes in while
//! the queue holds less than `BUDGET` bytes. When the queue is full the core waits for room, as
//! long as the terminal is still taking bytes: a slow reader slows the stack and loses nothing.
//! When the terminal has made no progress for `STALL` (Ctrl-S, a pager that stopped reading, a
//! pipe nobody drains), lines are dropped and counted instead, so the core goes on filling the
//! log files; once the terminal reads again it is told how many lines it missed and where they
//! are. That holds for agui-dev's own lines too (a crash loop or a script restarting services
//! makes them without end), but never for an error, a spinner's end, or a report or streamed
//! text a command composed (those are few and the user asked for them). A spinner whose start was
//! dropped is never drawn, so its end is dropped with it and its final line counts as a line.
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

use super::missed::{Missed, missed_line};
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
    /// Lines dropped while the terminal was not reading, in the order they fell.
    Skipped(Missed),
    /// A service added while the stack runs: the next index.
    Service {
        name: String,
    },
    Flush(oneshot::Sender<()>),
}

impl Item {
    /// What the item counts against the budget: the bytes of text it holds, plus one for its
    /// newline so that empty lines are not free.
    fn weight(&self) -> usize {
        match self {
            Item::Lines { text, stamp, .. } => text.len() + stamp.len() + 1,
            Item::Status { text, .. }
            | Item::Data(text)
            | Item::Report(text)
            | Item::Text(text)
            | Item::Done { text, .. } => text.len() + 1,
            Item::Waiting { what, .. } => what.len() + 1,
            Item::Service { name } => name.len() + 1,
            Item::Skipped(_) | Item::Flush(_) => 0,
        }
    }

    /// Whether the item may be dropped (and counted) while the terminal is not reading.
    fn droppable(&self) -> bool {
        match self {
            Item::Lines { .. } | Item::Data(_) | Item::Waiting { .. } => true,
            Item::Status { level, .. } | Item::Done { level, .. } => *level != Level::Error,
            Item::Report(_) | Item::Text(_) | Item::Service { .. } | Item::Skipped(_) | Item::Flush(_) => false,
        }
    }
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Item>,
    bytes: usize,
    closed: bool,
    /// Spinners whose `Waiting` was dropped: their `Done` has nothing to end.
    unstarted: std::collections::HashSet<Key>,
}

impl Queue {
    /// Counts a dropped item in the `Skipped` at the back of the queue (one is added when the
    /// last item is something else, so the missed line lands where the lines fell).
    fn skip(&mut self, item: &Item, services: usize) {
        if let Item::Waiting { key, .. } = item {
            // A spinner is not a line: nothing to count, only its end to drop later.
            self.unstarted.insert(*key);
            return;
        }
        if !matches!(self.items.back(), Some(Item::Skipped(_))) {
            self.items.push_back(Item::Skipped(Missed { services: vec![0; services], ..Missed::default() }));
        }
        let Some(Item::Skipped(missed)) = self.items.back_mut() else { return };
        match item {
            Item::Lines { service, text, .. } => {
                if missed.services.len() <= *service {
                    missed.services.resize(*service + 1, 0);
                }
                missed.services[*service] += text.split('\n').count() as u64;
            }
            Item::Data(_) => missed.data += 1,
            Item::Done { text, .. } if text.is_empty() => {}
            _ => missed.own += 1,
        }
    }
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
    /// Never drop or give up: the command's output is its result (`logs`, `chat`, `mcp`,
    /// `--json`), and it runs no services that a stopped reader could stall.
    lossless: bool,
}

impl Shared {
    pub fn new(lossless: bool) -> Arc<Shared> {
        Arc::new(Shared {
            lossless,
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

    /// Whether to stop waiting for the terminal: it is stalled, and the output may be lossy.
    pub fn gives_up(&self) -> bool {
        !self.lossless && self.stalled()
    }

    /// Whether the terminal has made no progress on its batch for longer than `STALL`.
    pub fn stalled(&self) -> bool {
        self.busy.load(Ordering::Acquire)
            && self.now() > self.progress_at.load(Ordering::Acquire) + STALL.as_millis() as u64
    }

    /// Queues an item for the terminal. When the queue is full, items wait for room while the
    /// terminal reads; while it does not, droppable items are dropped and counted, and the rest
    /// (errors, spinner ends, reports) go in.
    pub fn push(&self, item: Item, services: usize) {
        let mut queue = self.lock();
        let mut item = match item {
            Item::Waiting { key, what } => {
                queue.unstarted.remove(&key);
                Item::Waiting { key, what }
            }
            // Its spinner was never started: only the final line is left, as a status line.
            Item::Done { key, level, text } if queue.unstarted.remove(&key) => {
                if text.is_empty() {
                    return;
                }
                Item::Status { level, text }
            }
            item => item,
        };
        let weight = item.weight();
        while queue.bytes > 0 && queue.bytes + weight > BUDGET {
            if self.gives_up() {
                if let Item::Done { level, text, .. } = &mut item {
                    // The spinner's end always goes in; a final line that is not an error is
                    // counted instead.
                    if *level != Level::Error && !text.is_empty() {
                        let line = Item::Status { level: *level, text: std::mem::take(text) };
                        queue.skip(&line, services);
                    }
                    break;
                }
                if item.droppable() {
                    queue.skip(&item, services);
                    return;
                }
                break;
            }
            queue = self.changed.wait_timeout(queue, STALL / 5).unwrap_or_else(std::sync::PoisonError::into_inner).0;
        }
        // A spinner end whose line was counted weighs less now.
        queue.bytes += item.weight();
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
            Item::Skipped(missed) => {
                let text = missed_line(&missed, &self.names, self.log_dir.as_deref());
                self.status(Level::Warn, &text);
            }
            Item::Service { name } => {
                self.prefixes.push(prefix(self.settings.colors.stdout, self.names.len(), &name, self.width));
                self.names.push(name);
            }
            Item::Waiting { .. } | Item::Done { .. } | Item::Flush(_) => {}
        }
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

/// Waits for `done` while the terminal keeps taking bytes; gives up once it is stalled (unless
/// the output is lossless), so a terminal nobody reads never keeps `up` from exiting.
pub fn wait_unless_stalled(shared: &Shared, mut done: impl FnMut() -> bool) {
    while !done() {
        if shared.gives_up() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A queue whose terminal has been busy on one batch, with no progress, for a second.
    fn stalled() -> Arc<Shared> {
        let shared = Shared::new(false);
        let shared = Arc::new(Shared {
            epoch: Instant::now().checked_sub(Duration::from_secs(1)).unwrap(),
            ..Arc::try_unwrap(shared).ok().unwrap()
        });
        shared.busy.store(true, Ordering::Release);
        assert!(shared.stalled());
        shared
    }

    fn status(text: &str) -> Item {
        Item::Status { level: Level::Warn, text: text.to_owned() }
    }

    /// A crash loop while Ctrl-S is held: agui-dev's own lines stop at the budget and are
    /// counted, as service and data lines are; the error and every spinner end still go in.
    #[test]
    fn a_stopped_terminal_bounds_own_lines_but_keeps_errors_and_spinner_ends() {
        let shared = stalled();
        let flood = "x".repeat(BUDGET - 100);
        shared.push(Item::Lines { service: 0, text: flood, stamp: String::new() }, 1);
        // A spinner drawn before the terminal stopped: its end must reach it.
        shared.push(Item::Waiting { key: Key::Service(0), what: "waiting for `api`".into() }, 1);
        for restart in 0..100_000 {
            shared.push(status(&format!("`api` exited with code 1; restarting in 8s (restart {restart})")), 1);
            shared.push(Item::Waiting { key: Key::Service(1), what: "waiting for `web`".into() }, 1);
            shared.push(Item::Done { key: Key::Service(1), level: Level::Success, text: "`web` ready".into() }, 1);
        }
        // Larger than the 100 bytes left after the flood, whatever the own lines took.
        let line = "z".repeat(100);
        shared.push(Item::Lines { service: 0, text: [line.as_str(); 3].join("\n"), stamp: String::new() }, 1);
        shared.push(Item::Data(format!("{{\"line\":\"{line}\"}}")), 1);
        shared.push(Item::Done { key: Key::Service(0), level: Level::Success, text: "`api` ready".into() }, 1);
        shared.push(Item::Status { level: Level::Error, text: "`api` kept failing".into() }, 1);

        let queue = shared.lock();
        // Only the error, which is never dropped, may pass the budget.
        assert!(queue.bytes <= BUDGET + "`api` kept failing".len() + 1, "{} bytes queued", queue.bytes);
        assert!(queue.items.len() < 20, "{} items queued", queue.items.len());
        let missed: Vec<&Missed> =
            queue.items.iter().filter_map(|i| if let Item::Skipped(m) = i { Some(m) } else { None }).collect();
        let own: u64 = missed.iter().map(|m| m.own).sum();
        let service: u64 = missed.iter().map(|m| m.services[0]).sum();
        let data: u64 = missed.iter().map(|m| m.data).sum();
        // Each restart: its status line and `web`'s "ready" (its spinner never started); then
        // `api`'s final line, whose spinner end went in without it. Nothing else is lost.
        let kept_own = queue
            .items
            .iter()
            .filter(|i| match i {
                Item::Status { level, .. } => *level != Level::Error,
                Item::Done { text, .. } => !text.is_empty(),
                _ => false,
            })
            .count();
        assert_eq!(own + kept_own as u64, 2 * 100_000 + 1, "{missed:?}");
        assert_eq!((service, data), (3, 1));
        assert!(
            queue.items.iter().any(|i| matches!(i, Item::Done { key: Key::Service(0), text, .. } if text.is_empty())),
            "the drawn spinner's end is kept"
        );
        // Every `web` spinner that went in before the queue filled is ended; none dropped at its
        // start left an end behind.
        let count = |f: fn(&Item) -> bool| queue.items.iter().filter(|i| f(i)).count();
        let starts = count(|i| matches!(i, Item::Waiting { key: Key::Service(1), .. }));
        let ends = count(|i| matches!(i, Item::Done { key: Key::Service(1), .. }));
        assert_eq!(starts, ends, "every kept start has its end, and no end is left without its start");
        assert!(starts < 3, "{starts} spinners queued for a terminal that does not read");
        assert!(matches!(queue.items.back(), Some(Item::Status { level: Level::Error, .. })), "the error is last");
    }

    /// The ends of spinners started while the terminal read are kept even when it stops.
    #[test]
    fn a_spinner_started_before_the_stall_ends() {
        let shared = stalled();
        shared.busy.store(false, Ordering::Release);
        shared.push(Item::Waiting { key: Key::Setup(0), what: "installing".into() }, 0);
        shared.busy.store(true, Ordering::Release);
        shared.push(Item::Lines { service: 0, text: "y".repeat(BUDGET), stamp: String::new() }, 1);
        shared.push(Item::Done { key: Key::Setup(0), level: Level::Error, text: "install failed".into() }, 0);
        let queue = shared.lock();
        assert!(
            matches!(queue.items.back(), Some(Item::Done { level: Level::Error, text, .. }) if text == "install failed")
        );
    }
}
