//! The dev console: a page on 127.0.0.1 that `up` serves beside the stack, showing the services
//! (with restart, stop and start), their live logs, a chat with the AG-UI server with its event
//! timeline, the traces of its runs (a waterfall per run, linked from the timeline), the MCP
//! server's tools and the proxy's models.
//!
//! It is one more face of the control protocol: its `/api/status` and `/api/control` answer
//! exactly what the control socket answers (`socket::answer`), so the terminal commands, the
//! coding agents' `agui-dev mcp` and the browser see one stack the same way. Agent runs, MCP calls
//! and the model list go through this server, which holds the master key; the browser never
//! sees a key and needs no CORS. Who may connect is `guard.rs`'s business; the page itself is
//! plain HTML, CSS and JavaScript under `page/`, embedded in the binary as written (no build
//! step, no CDN), so a fresh clone and an installed binary serve the same page.

mod agent;
mod api;
mod guard;
mod traces;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::{self, PortValue};
use crate::error::{Error, Result};
use crate::supervise::socket::Context;
use crate::system::ports;

/// The console's port when the stack file does not name one. When it is taken (another stack's
/// console, most likely) a free port is used instead and the URL says which.
pub const DEFAULT_PORT: u16 = 4400;

/// Whether `up` serves the console: `--console` or `--no-console` (`flag`) first, then `[console]
/// enabled`, then off under CI (where nobody opens a browser) and on elsewhere.
pub fn wanted(flag: Option<bool>, file: config::Console) -> bool {
    flag.or(file.enabled).unwrap_or_else(|| std::env::var_os("CI").is_none_or(|v| v.is_empty()))
}

/// The console's socket, bound before any service starts, and its token.
pub struct Bound {
    listener: std::net::TcpListener,
    pub port: u16,
    token: String,
    /// Said at start when the port is not the one asked for.
    pub note: Option<String>,
}

impl Bound {
    /// The URL to open: the token rides in the query once; the page moves it into a header.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/?token={}", self.port, self.token)
    }
}

/// Binds the console's port on 127.0.0.1. A port the stack file names must be free (like a
/// service's, a taken one names its holder and nothing starts); the default falls back to a free
/// port.
pub fn bind(port: Option<PortValue>) -> Result<Bound> {
    let bind = |port: u16| std::net::TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    let (listener, note) = match port {
        Some(PortValue::Fixed(port)) => match bind(port) {
            Ok(listener) => (listener, None),
            Err(err) => {
                let holder = ports::holder(port).map_or_else(|| err.to_string(), |h| format!("held by {h}"));
                return Err(Error::usage(format!("the console's port {port} is in use; nothing was started"))
                    .cause(holder)
                    .hint("stop the process holding it, change `[console] port`, or run `up --no-console`"));
            }
        },
        Some(PortValue::Auto) => (bind(0).map_err(cannot_listen)?, None),
        None => {
            if let Ok(listener) = bind(DEFAULT_PORT) {
                (listener, None)
            } else {
                let listener = bind(0).map_err(cannot_listen)?;
                (listener, Some(format!("the console's default port {DEFAULT_PORT} is taken; using a free one")))
            }
        }
    };
    listener.set_nonblocking(true).map_err(cannot_listen)?;
    let port = listener.local_addr().map_err(cannot_listen)?.port();
    Ok(Bound { listener, port, token: crate::secret::random_hex(16), note })
}

fn cannot_listen(err: std::io::Error) -> Error {
    Error::failed("cannot open the console's port on 127.0.0.1").cause(err).hint("run `up --no-console`")
}

/// The running console. `close` ends it, streams included: every request holds the stack's
/// printer handle, and the printer cannot finish while one is left.
pub struct Console {
    closing: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Console {
    /// Ends the open streams, closes idle connections, lets a request being answered finish (a
    /// moment at most), then stops.
    pub async fn close(mut self) {
        let _ = self.closing.send(true);
        if tokio::time::timeout(Duration::from_secs(2), &mut self.task).await.is_err() {
            self.task.abort();
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.closing.send(true);
        self.task.abort();
    }
}

/// Serves the console on `bound` until closed.
pub fn serve(bound: Bound, context: Arc<Context>) -> Result<Console> {
    let listener = tokio::net::TcpListener::from_std(bound.listener).map_err(cannot_listen)?;
    let (closing, closed) = watch::channel(false);
    let router = api::router(
        api::App::new(bound.port, bound.token, context, closed.clone())?,
        agent::routes().merge(traces::routes()),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).with_graceful_shutdown(api::closed(closed)).await;
    });
    Ok(Console { closing, task })
}
