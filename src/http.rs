//! Leaf: the HTTP client for the stack's own services on loopback. Never through a proxy from the
//! environment (`HTTP_PROXY` would send 127.0.0.1 requests elsewhere); each request bounded.

use std::time::Duration;

/// A client whose requests each end within `timeout`.
pub fn local_client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .map_err(|err| format!("cannot make an HTTP client: {err}"))
}

/// `http://127.0.0.1:PORT/PATH`: how agui-dev addresses a service of the stack.
pub fn local_url(port: u16, path: &str) -> String {
    format!("http://127.0.0.1:{port}{path}")
}

/// A client for a stream that may run long (an AG-UI run): no limit on the whole request, but the
/// connection must open within `connect` and the stream may not go quiet for longer than `idle`.
pub fn local_stream_client(connect: Duration, idle: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(connect)
        .read_timeout(idle)
        .build()
        .map_err(|err| format!("cannot make an HTTP client: {err}"))
}

/// A client that never follows a redirect: a probe judges the server's own answer, and a
/// redirect could lead the request off loopback.
pub fn local_probe_client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .build()
        .map_err(|err| format!("cannot make an HTTP client: {err}"))
}
