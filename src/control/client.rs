//! The client half of the control socket: one request on a new connection, its answer, and a
//! supervisor that does not answer named within seconds.

use std::io;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::protocol::{ANSWER_LIMIT, Answer, Op, Request, VERSION, lock_path, path};
use crate::output::short;

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
        let message = format!("the stack's agui-dev{who} did not answer within {}", short(after));
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
