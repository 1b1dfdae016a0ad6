//! Leaf: the HTTP client for the stack's own services on loopback. Never through a proxy from the
//! environment (`HTTP_PROXY` would send 127.0.0.1 requests elsewhere); each request bounded.

use std::time::Duration;

/// What went wrong talking to a service of the stack.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot make an HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The request got no answer: `GET http://127.0.0.1:4000/health: why`.
    #[error("{method} {url}: {source}")]
    Request { method: String, url: String, source: reqwest::Error },
    #[error("{what} is longer than {} (the most agui-dev reads of it); stopped reading", size(*.cap))]
    TooLong { what: String, cap: usize },
    #[error("reading {what}: {source}")]
    Read { what: String, source: reqwest::Error },
}

impl HttpError {
    /// For `map_err` on a request's `send`: `method url` and why it got no answer.
    pub fn request(method: impl std::fmt::Display, url: impl std::fmt::Display) -> impl FnOnce(reqwest::Error) -> Self {
        move |source| HttpError::Request { method: method.to_string(), url: url.to_string(), source }
    }
}

/// A client whose requests each end within `timeout`.
pub fn local_client(timeout: Duration) -> Result<reqwest::Client, HttpError> {
    reqwest::Client::builder().no_proxy().timeout(timeout).build().map_err(HttpError::Client)
}

/// `http://127.0.0.1:PORT/PATH`: how agui-dev addresses a service of the stack.
pub fn local_url(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}{path}")
}

/// A client for a stream that may run long (an AG-UI run): no limit on the whole request, but the
/// connection must open within `connect` and the stream may not go quiet for longer than `idle`.
pub fn local_stream_client(connect: Duration, idle: Duration) -> Result<reqwest::Client, HttpError> {
    reqwest::Client::builder().no_proxy().connect_timeout(connect).read_timeout(idle).build().map_err(HttpError::Client)
}

/// A client that never follows a redirect: a probe judges the server's own answer, and a
/// redirect could lead the request off loopback.
pub fn local_probe_client(timeout: Duration) -> Result<reqwest::Client, HttpError> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .build()
        .map_err(HttpError::Client)
}

/// Reads a whole response body, of at most `cap` bytes: a longer one (by its `Content-Length`, or
/// as it arrives) is an error naming the cap and `what` was too long, and is read no further, so a
/// server that sends without end costs agui-dev at most `cap` bytes. Decoded as UTF-8, lossily.
pub async fn read_body(mut response: reqwest::Response, cap: usize, what: &str) -> Result<String, HttpError> {
    let too_long = || HttpError::TooLong { what: what.to_owned(), cap };
    if response.content_length().is_some_and(|length| length > cap as u64) {
        return Err(too_long());
    }
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|source| HttpError::Read { what: what.to_owned(), source })?
    {
        if body.len() + chunk.len() > cap {
            return Err(too_long());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// A size cap for people: `16 MiB`, `64 KiB`, else bytes.
pub fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// A one-connection HTTP server on 127.0.0.1 for tests of what agui-dev does with an answer too
/// long to hold.
#[cfg(test)]
pub mod endless {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::thread::JoinHandle;

    /// Takes one connection, reads the request, answers `answer` (status line and headers,
    /// without the blank line), then `start` and `x`s up to `total` body bytes, and closes. The
    /// handle gives how many body bytes were written before the client went away. A later
    /// connection is refused: the listener is closed once the first is taken.
    pub fn serve(answer: &'static str, start: &'static [u8], total: usize) -> (u16, JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            drop(listener);
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                request.push(byte[0]);
            }
            // The request's body too: closing with it unread would reset the connection.
            let head = String::from_utf8_lossy(&request).to_lowercase();
            let length = head.lines().find_map(|l| l.strip_prefix("content-length:")?.trim().parse().ok());
            let _ = (&mut stream).take(length.unwrap_or(0)).read_to_end(&mut Vec::new());
            let _ = stream.write_all(format!("{answer}\r\nConnection: close\r\n\r\n").as_bytes());
            let mut written = 0;
            let filler = vec![b'x'; 64 * 1024];
            let mut next = start;
            while written < total {
                let piece = if next.is_empty() { &filler[..filler.len().min(total - written)] } else { next };
                if stream.write_all(piece).is_err() {
                    break;
                }
                written += piece.len();
                next = &[];
            }
            written
        });
        (port, handle)
    }

    /// What the server wrote, once it is done; waited for off the runtime, which must go on to
    /// close the client's side.
    pub async fn written(server: JoinHandle<usize>) -> usize {
        tokio::task::spawn_blocking(move || server.join().unwrap()).await.unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(16 << 20), "16 MiB");
        assert_eq!(size(64 << 10), "64 KiB");
        assert_eq!(size(1000), "1000 bytes");
    }

    #[tokio::test]
    async fn a_body_past_its_cap_is_refused_by_its_length_or_as_it_arrives() {
        let client = local_client(std::time::Duration::from_secs(30)).unwrap();
        // By `Content-Length`: refused before a byte of the body is read.
        let (port, server) = endless::serve("HTTP/1.1 200 OK\r\nContent-Length: 2000000", b"", 0);
        let response = client.get(local_url(port, "/")).send().await.unwrap();
        let error = read_body(response, 1 << 20, "the answer").await.unwrap_err().to_string();
        assert_eq!(error, "the answer is longer than 1 MiB (the most agui-dev reads of it); stopped reading");
        endless::written(server).await;
        // Without a length: read up to the cap, then the connection is dropped. Far more than
        // loopback's socket buffers hold (they grew past 8 MiB on a loaded machine, and the whole
        // body then fit in them before the client dropped the connection).
        let total = 64 << 20;
        let (port, server) = endless::serve("HTTP/1.1 200 OK", b"", total);
        let response = client.get(local_url(port, "/")).send().await.unwrap();
        let error = read_body(response, 1 << 20, "the answer").await.unwrap_err();
        assert!(matches!(error, HttpError::TooLong { .. }), "{error}");
        assert!(endless::written(server).await < total, "the whole body was read");
        // Within the cap: the body.
        let (port, server) = endless::serve("HTTP/1.1 200 OK", b"hello", 5);
        let response = client.get(local_url(port, "/")).send().await.unwrap();
        assert_eq!(read_body(response, 1 << 20, "the answer").await.unwrap(), "hello");
        endless::written(server).await;
    }
}
