//! The control endpoint: a Unix socket at `.agui-dev/control.sock` next to the stack file, and
//! its client. One JSON request per line, one JSON answer per line, both with `"version"`
//! (docs/control.md). Only the user who runs the stack may connect: the folder is 0700, the
//! socket 0600, and each peer's uid is checked with SO_PEERCRED. A malformed or oversized request
//! gets an error answer; nothing a client sends can stop the supervisor.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

use super::control::{Control, Done, ServiceStatus};
use super::state::Phase;
use crate::output::{Level, Out};
use crate::plan::Plan;
use crate::system::listening;

pub const VERSION: u32 = 1;
/// A request longer than this is refused (and the connection closed: it cannot be resynced).
pub const MAX_REQUEST: usize = 64 * 1024;
/// Clients served at once; one more gets an error answer.
pub const MAX_CLIENTS: usize = 16;
/// How long a client waits for the answer to a request that does no long work (`status`, `down`,
/// and the check that comes before the others) before it calls the supervisor stuck. A healthy
/// supervisor answers in milliseconds; it is slower only while it is itself stopping services
/// (each for up to its `stop_grace`), so seconds, not milliseconds.
pub const ANSWER_LIMIT: Duration = Duration::from_secs(10);

/// The socket of the stack whose file is in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(".agui-dev").join("control.sock")
}

/// The run lock of the stack whose file is in `dir`: it holds the pid of the agui-dev running it.
pub fn lock_path(dir: &Path) -> PathBuf {
    dir.join(".agui-dev").join("run.lock")
}

/// What a client asks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Status,
    /// Re-reads the stack file and env files for `services`, then restarts them (and their
    /// dependents unless `deps` is false).
    Restart {
        services: Vec<String>,
        #[serde(default = "yes")]
        deps: bool,
    },
    Stop {
        services: Vec<String>,
    },
    Start {
        services: Vec<String>,
    },
    /// Waits until `services` (all when empty) are ready.
    Wait {
        #[serde(default)]
        services: Vec<String>,
        timeout_ms: Option<u64>,
    },
    /// Stops the stack as Ctrl-C would; the answer carries agui-dev's pid to wait on.
    Down,
}

impl Op {
    /// Whether the answer waits on work in the stack (stopping services, starting them, their
    /// becoming ready), which lasts as long as the services' own timeouts allow. Such a request
    /// gets no overall limit; a `status` first shows, within `ANSWER_LIMIT`, that the supervisor
    /// answers at all.
    fn waits_on_the_stack(&self) -> bool {
        matches!(self, Op::Restart { .. } | Op::Stop { .. } | Op::Start { .. } | Op::Wait { .. })
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    pub version: u32,
    #[serde(flatten)]
    pub op: Op,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Answer {
    pub version: u32,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<ServiceStatus>>,
    /// The model the AG-UI servers ask the proxy for, and whether it is the offline one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offline: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub done: Option<Done>,
    /// The pid of the agui-dev that runs the stack.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The stack's name, in `status`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// The dev console's URL with its token, in `status`, when the run serves one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console: Option<String>,
}

impl Answer {
    pub fn ok() -> Answer {
        Answer { version: VERSION, ok: true, ..Answer::default() }
    }

    pub fn error(message: impl Into<String>) -> Answer {
        Answer { version: VERSION, ok: false, error: Some(message.into()), ..Answer::default() }
    }
}

/// Builds the plan again from the stack file and env files, for `restart`.
pub type Fresh = Arc<dyn Fn() -> Result<Arc<Plan>, String> + Send + Sync>;

/// What the server needs besides the control handle.
pub struct Context {
    pub control: Control,
    pub fresh: Fresh,
    pub plan: Arc<Plan>,
    pub out: Out,
    /// The dev console's URL with its token, when the run serves one.
    pub console: Option<String>,
    /// What the services listen on beyond loopback, as last read (see `add_exposed`).
    pub exposure: Exposure,
}

/// The last reading of what each process group listens on beyond loopback.
#[derive(Default)]
pub struct Exposure(std::sync::Mutex<Option<Reading>>);

struct Reading {
    at: std::time::Instant,
    /// The group leaders it was read for, and each service's phase then: a reading taken while a
    /// service was starting says nothing of what it listens on once ready.
    leaders: Vec<i32>,
    phases: Vec<Phase>,
    exposed: HashMap<i32, Vec<String>>,
}

/// How long a reading of `/proc` stands for the same services in the same phases: a `status` every
/// few milliseconds (a script, the console's poll) would otherwise scan `/proc` each time, a few
/// milliseconds.
const EXPOSURE_FRESH: Duration = Duration::from_secs(1);

/// The listening socket; dropping it removes the socket file.
pub struct Server {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Listens on the stack's socket. The caller holds the stack's run lock, so a socket file left
/// there belongs to a run that died and is replaced.
pub fn serve(dir: &Path, context: Arc<Context>) -> io::Result<Server> {
    let folder = dir.join(".agui-dev");
    std::fs::create_dir_all(&folder)?;
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700))?;
    let path = path(dir);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let task = tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
        let mut backoff = Backoff::default();
        let mut said = false;
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => {
                    backoff.succeeded();
                    stream
                }
                Err(err) => {
                    if !said {
                        said = true;
                        // Once: a lasting error would otherwise fill the output with one line per try.
                        let text = format!(
                            "the control socket cannot take a connection ({err}); trying again with pauses of up \
                             to {}",
                            super::short(Backoff::MOST)
                        );
                        context.out.status(Level::Warn, text).await;
                    }
                    tokio::time::sleep(backoff.failed()).await;
                    continue;
                }
            };
            let context = context.clone();
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                tokio::spawn(async move {
                    let mut stream = stream;
                    let _ = write_answer(&mut stream, &Answer::error("too many control clients; try again")).await;
                });
                continue;
            };
            tokio::spawn(async move {
                serve_client(stream, &context).await;
                drop(permit);
            });
        }
    });
    Ok(Server { path, task })
}

/// How long an accept loop waits after a failed `accept`. An error that lasts (EMFILE: out of file
/// descriptors, with a connection still waiting) makes every `accept` fail at once, and a loop
/// that tries again at once spins a core until a descriptor frees up. The wait doubles from
/// `FIRST` up to `MOST`, and starts again from `FIRST` once a connection is taken.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff { next: Backoff::FIRST }
    }
}

impl Backoff {
    /// Short enough that a one-off error (a client that gave up mid-handshake) costs nothing felt.
    pub const FIRST: Duration = Duration::from_millis(10);
    /// Long enough that a lasting error costs no CPU to speak of; short enough that clients are
    /// taken again soon after descriptors free up.
    pub const MOST: Duration = Duration::from_secs(1);

    /// An `accept` failed: how long to wait before the next.
    pub fn failed(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(Backoff::MOST);
        wait
    }

    /// An `accept` succeeded.
    pub fn succeeded(&mut self) {
        self.next = Backoff::FIRST;
    }
}

/// The uid of the process at the other end, from SO_PEERCRED.
fn peer_uid(stream: &UnixStream) -> io::Result<u32> {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    let credentials = getsockopt(stream, PeerCredentials).map_err(io::Error::from)?;
    Ok(credentials.uid())
}

async fn serve_client(mut stream: UnixStream, context: &Context) {
    let own = nix::unistd::getuid().as_raw();
    match peer_uid(&stream) {
        Ok(uid) if uid == own => {}
        Ok(uid) => {
            let text = format!("refused a control connection from uid {uid} (SO_PEERCRED): not the stack's owner");
            context.out.status(Level::Warn, text).await;
            let _ =
                write_answer(&mut stream, &Answer::error("refused: only the user running the stack may control it"))
                    .await;
            return;
        }
        Err(_) => return,
    }
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut line = Vec::new();
        // One byte more than allowed tells an oversized request from one of the maximum size.
        let read = (&mut reader).take(MAX_REQUEST as u64 + 1).read_until(b'\n', &mut line).await;
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line.len() > MAX_REQUEST {
            let too_big = Answer::error(format!("request longer than {MAX_REQUEST} bytes; closing the connection"));
            let _ = write_answer(&mut write, &too_big).await;
            return;
        }
        let answer = match parse(&line) {
            Ok(op) => answer(op, context).await,
            Err(error) => Answer::error(error),
        };
        if write_answer(&mut write, &answer).await.is_err() {
            return;
        }
    }
}

async fn write_answer(stream: &mut (impl AsyncWriteExt + Unpin), answer: &Answer) -> io::Result<()> {
    let mut line = serde_json::to_vec(answer).map_err(io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line).await
}

/// One request line as a client sends it; for a malformed one or one of another protocol
/// version, the error its answer carries.
pub fn parse(line: &[u8]) -> Result<Op, String> {
    match serde_json::from_slice::<Request>(line) {
        Err(err) => Err(format!("malformed request: {err}")),
        Ok(request) if request.version != VERSION => {
            Err(format!("unsupported protocol version {}; this agui-dev speaks {VERSION}", request.version))
        }
        Ok(request) => Ok(request.op),
    }
}

/// What the supervisor answers to `op`: the socket's clients and the console both ask here.
pub async fn answer(op: Op, context: &Context) -> Answer {
    let control = &context.control;
    let done = |result: Result<Done, String>| match result {
        Ok(done) => Answer { done: Some(done), ..Answer::ok() },
        Err(error) => Answer::error(error),
    };
    match op {
        Op::Status => match control.status().await {
            Ok(mut services) => {
                add_exposed(&mut services, &context.exposure).await;
                Answer {
                    services: Some(services),
                    model: context.plan.model.clone(),
                    offline: context.plan.model.as_ref().map(|_| context.plan.model_offline),
                    pid: Some(std::process::id()),
                    stack: Some(context.plan.stack_name.clone()),
                    console: context.console.clone(),
                    ..Answer::ok()
                }
            }
            Err(error) => Answer::error(error),
        },
        Op::Restart { services, deps } => match (context.fresh)() {
            Ok(fresh) => done(control.restart_with(fresh, &services, deps).await),
            Err(error) => Answer::error(error),
        },
        Op::Stop { services } => done(control.stop(&services).await),
        Op::Start { services } => done(control.start(&services).await),
        Op::Wait { services, timeout_ms } => {
            let limit = Duration::from_millis(timeout_ms.unwrap_or(24 * 3600 * 1000));
            match control.wait(&services, limit).await {
                Ok(()) => Answer::ok(),
                Err(error) => Answer::error(error),
            }
        }
        Op::Down => {
            control.down().await;
            Answer { pid: Some(std::process::id()), ..Answer::ok() }
        }
    }
}

/// Fills in what each service listens on beyond loopback, read from `/proc` on a blocking
/// thread so that neither the supervisor's loop nor this runtime's workers wait on it; a reading
/// less than `EXPOSURE_FRESH` old for the same processes in the same phases is used again.
async fn add_exposed(services: &mut [ServiceStatus], exposure: &Exposure) {
    let leaders: Vec<i32> = services.iter().filter_map(|s| s.pid).collect();
    let phases: Vec<Phase> = services.iter().map(|s| s.state).collect();
    let cached = {
        let last = exposure.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        last.as_ref()
            .filter(|r| r.at.elapsed() < EXPOSURE_FRESH && r.leaders == leaders && r.phases == phases)
            .map(|r| r.exposed.clone())
    };
    let exposed = if let Some(exposed) = cached {
        exposed
    } else {
        let of = leaders.clone();
        let Ok(exposed) = tokio::task::spawn_blocking(move || listening::exposed_by_group(&of)).await else {
            return;
        };
        let reading = Reading { at: std::time::Instant::now(), leaders, phases, exposed: exposed.clone() };
        *exposure.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reading);
        exposed
    };
    for service in services {
        if let Some(addresses) = service.pid.and_then(|pid| exposed.get(&pid)) {
            service.exposed.clone_from(addresses);
        }
    }
}

/// Why a client got no answer.
#[derive(Debug)]
pub enum ClientError {
    /// Nothing listens: no stack runs here.
    NotRunning,
    /// The supervisor took the connection but did not answer within `after`; `pid` is the one in
    /// its run lock, when it can be read.
    Silent {
        after: Duration,
        pid: Option<u32>,
    },
    Io(io::Error),
}

impl ClientError {
    /// For `Silent`: what happened, and what to do about it.
    pub fn silent(after: Duration, pid: Option<u32>) -> (String, String) {
        let who = pid.map_or_else(String::new, |pid| format!(" (pid {pid})"));
        let message = format!("the stack's agui-dev{who} did not answer within {}", super::short(after));
        let hint = match pid {
            Some(pid) => format!(
                "it may be busy stopping services, or stuck: try again in a moment; if it stays silent, `kill {pid}` \
                 stops it and its services (`kill -9 {pid}` if it does not go: its guardian then stops the services)"
            ),
            None => "it may be busy stopping services, or stuck: try again in a moment; if it stays silent, stop the \
                     agui-dev that runs this stack"
                .to_owned(),
        };
        (message, hint)
    }
}

/// The pid in the stack's run lock: the agui-dev that runs it (or ran it, when the file is stale).
fn supervisor_pid(dir: &Path) -> Option<u32> {
    std::fs::read_to_string(lock_path(dir)).ok()?.trim().parse().ok()
}

/// Sends one request and reads its answer. A request that does no long work must be answered
/// within `ANSWER_LIMIT`; one that waits on the stack (see `Op::waits_on_the_stack`) is preceded by
/// a `status` held to that limit, so a stuck supervisor is named in seconds either way.
pub async fn ask(dir: &Path, op: Op) -> Result<Answer, ClientError> {
    if !op.waits_on_the_stack() {
        return within(dir, ANSWER_LIMIT, exchange(dir, op)).await;
    }
    within(dir, ANSWER_LIMIT, exchange(dir, Op::Status)).await?;
    match op {
        // The supervisor gives up at `timeout_ms` and answers; a moment more is the answer's way.
        Op::Wait { timeout_ms: Some(ms), .. } => {
            within(dir, Duration::from_millis(ms).saturating_add(ANSWER_LIMIT), exchange(dir, op)).await
        }
        op => exchange(dir, op).await,
    }
}

async fn within(
    dir: &Path,
    limit: Duration,
    exchange: impl Future<Output = Result<Answer, ClientError>>,
) -> Result<Answer, ClientError> {
    tokio::time::timeout(limit, exchange)
        .await
        .unwrap_or_else(|_| Err(ClientError::Silent { after: limit, pid: supervisor_pid(dir) }))
}

/// One request on a new connection, and its answer.
async fn exchange(dir: &Path, op: Op) -> Result<Answer, ClientError> {
    let mut stream = match UnixStream::connect(path(dir)).await {
        Ok(stream) => stream,
        Err(err) if matches!(err.kind(), io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused) => {
            return Err(ClientError::NotRunning);
        }
        Err(err) => return Err(ClientError::Io(err)),
    };
    let mut line =
        serde_json::to_vec(&Request { version: VERSION, op }).map_err(|e| ClientError::Io(io::Error::other(e)))?;
    line.push(b'\n');
    // A refused client's request may meet a closed socket; the answer explaining why is still
    // there to read.
    let wrote = stream.write_all(&line).await;
    let mut reader = BufReader::new(stream);
    let mut answer = String::new();
    reader.read_line(&mut answer).await.map_err(ClientError::Io)?;
    if answer.is_empty() {
        wrote.map_err(ClientError::Io)?;
        return Err(ClientError::Io(io::Error::new(io::ErrorKind::UnexpectedEof, "the stack closed the connection")));
    }
    serde_json::from_str(&answer).map_err(|e| ClientError::Io(io::Error::other(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_back_off_doubles_to_a_second_and_starts_over_after_a_success() {
        let mut backoff = Backoff::default();
        let waits: Vec<u64> = (0..10).map(|_| backoff.failed().as_millis() as u64).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        backoff.succeeded();
        assert_eq!(backoff.failed(), Backoff::FIRST);
    }
}
