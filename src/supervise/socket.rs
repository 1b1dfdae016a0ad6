//! The control endpoint's server: a Unix socket at `.agui-dev/control.sock` next to the stack
//! file (its client is `control::client`). One JSON request per line, one JSON answer per line, both with `"version"`
//! (docs/control.md). Only the user who runs the stack may connect: the folder is 0700, the
//! socket 0600, and each peer's uid is checked with SO_PEERCRED. A malformed or oversized request
//! gets an error answer; nothing a client sends can stop the supervisor.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

use super::control::{Control, ControlError};
use crate::control::protocol::{Answer, MAX_CLIENTS, MAX_REQUEST, Op, Request, VERSION, path};
use crate::control::{Done, Phase, ServiceStatus};
use crate::output::{Level, Out, short};
use crate::plan::Plan;
use crate::system::listening;

/// Builds the plan again from the stack file and env files, for `restart`.
pub type Fresh = Arc<dyn Fn() -> crate::error::Result<Arc<Plan>> + Send + Sync>;

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
    /// The spans the services sent, when the run receives traces.
    pub traces: Option<Arc<crate::traces::Store>>,
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
                            short(Backoff::MOST)
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

/// Why a request line was not taken: the error its answer carries.
#[derive(Debug, thiserror::Error)]
pub enum BadRequest {
    #[error("malformed request: {0}")]
    Malformed(#[source] serde_json::Error),
    #[error("unsupported protocol version {0}; this agui-dev speaks {VERSION}")]
    Version(u32),
}

/// One request line as a client sends it; for a malformed one or one of another protocol
/// version, the error its answer carries.
pub fn parse(line: &[u8]) -> Result<Op, BadRequest> {
    match serde_json::from_slice::<Request>(line) {
        Err(err) => Err(BadRequest::Malformed(err)),
        Ok(request) if request.version != VERSION => Err(BadRequest::Version(request.version)),
        Ok(request) => Ok(request.op),
    }
}

/// The answer to `traces` or `trace` in a run that receives no traces.
fn not_traced() -> Answer {
    Answer::error_with_hint(
        "this run receives no traces: it was started with `up --no-traces` or `[traces] enabled = false`",
        "stop it (`agui-dev down`) and start it again without `--no-traces`, with `[traces] enabled = true` or no \
         `[traces]` table",
    )
}

/// What the supervisor answers to `op`: the socket's clients and the console both ask here.
pub async fn answer(op: Op, context: &Context) -> Answer {
    let control = &context.control;
    let done = |result: Result<Done, ControlError>| match result {
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
                    totals: context.traces.as_ref().map(|store| store.totals()),
                    otlp_endpoint: context.plan.tracing.as_ref().map(|t| t.endpoint.clone()),
                    ..Answer::ok()
                }
            }
            Err(error) => Answer::error(error),
        },
        Op::Restart { services, deps } => match (context.fresh)() {
            Ok(fresh) => done(control.restart_with(fresh, &services, deps).await),
            Err(error) => Answer::error(error.render(false)),
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
        Op::Traces => match &context.traces {
            Some(store) => Answer { traces: Some(store.list()), totals: Some(store.totals()), ..Answer::ok() },
            None => not_traced(),
        },
        Op::Trace { id } => match &context.traces {
            Some(store) => match store.find(&id) {
                Some(detail) => Answer { trace: Some(Box::new(detail)), ..Answer::ok() },
                None if id == "last" => Answer::error_with_hint(
                    "no AG-UI run has been traced yet",
                    "run one (`agui-dev chat -m hi`); `agui-dev trace --list` shows the traces kept so far",
                ),
                None => Answer::error_with_hint(
                    format!("no kept trace has the trace id or AG-UI run id `{id}`"),
                    "`agui-dev trace --list` shows the kept ones; the oldest go once `[traces]`'s `max_traces` or \
                     `max_mib` is reached",
                ),
            },
            None => not_traced(),
        },
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
