//! The client half of the control socket: one request on a new connection, its answer, and a
//! supervisor that does not answer named within seconds.

use std::io;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::protocol::{ANSWER_LIMIT, Answer, Op, Request, VERSION, lock_path, path};
use crate::error::Error;
use crate::output::short;

/// Why a client got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens: no stack runs here.
    #[error("no stack is running here")]
    NotRunning,
    /// The supervisor took the connection but did not answer within `after`; `pid` is the one in
    /// its run lock, when it can be read.
    #[error("{}", ClientError::silent(*.after, *.pid).0)]
    Silent { after: Duration, pid: Option<u32> },
    #[error("cannot talk to the running stack: {0}")]
    Io(#[source] io::Error),
}

/// The error a command shows, with what to do about it.
impl From<ClientError> for Error {
    fn from(error: ClientError) -> Error {
        match error {
            ClientError::NotRunning => Error::failed(error.to_string())
                .hint("start one with `agui-dev up` (or `agui-dev up -d` in the background)"),
            ClientError::Silent { after, pid } => {
                let (message, hint) = ClientError::silent(after, pid);
                Error::failed(message).hint(hint)
            }
            ClientError::Io(err) => Error::failed("cannot talk to the running stack").caused_by(err),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_error_becomes_the_error_a_command_shows() {
        let shown = |error: ClientError| Error::from(error).render(false);
        assert_eq!(
            shown(ClientError::NotRunning),
            "error: no stack is running here\nhint: start one with `agui-dev up` (or `agui-dev up -d` in the background)"
        );
        let silent = shown(ClientError::Silent { after: Duration::from_secs(10), pid: Some(42) });
        assert!(
            silent.starts_with("error: the stack's agui-dev (pid 42) did not answer within 10s\nhint: "),
            "{silent}"
        );
        assert!(silent.contains("`kill 42`"), "{silent}");
        let io = ClientError::Io(io::Error::other("broken pipe"));
        assert_eq!(io.to_string(), "cannot talk to the running stack: broken pipe");
        assert_eq!(shown(io), "error: cannot talk to the running stack\n  caused by: broken pipe");
    }
}
