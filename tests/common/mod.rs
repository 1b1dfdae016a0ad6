//! Helpers for tests that run the real `agui-dev` binary on fixture stacks in temp dirs.
//!
//! Every process a test starts carries `AGUI_TEST_MARKER=<unique>` in its environment (services
//! inherit agui-dev's environment), so survivors are found by that marker in /proc/PID/environ,
//! and the guard kills them by pid when the test ends, whatever happened.

#![allow(dead_code, clippy::unwrap_used, clippy::print_stderr)]

pub mod browser;
pub mod engine;
pub mod otlp;
pub mod pty;
pub mod traced;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub const BIN: &str = env!("CARGO_BIN_EXE_agui-dev");
/// Generous: these machines are shared and slow at times. Tests wait for events, not for time.
pub const WAIT: Duration = Duration::from_mins(1);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub marker: String,
}

impl Fixture {
    pub fn new(stack_toml: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stack.toml"), stack_toml).unwrap();
        let marker = format!("agui-test-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        Fixture { dir, marker }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .current_dir(self.path())
            .env("AGUI_TEST_MARKER", &self.marker)
            .env("NO_COLOR", "1")
            .env_remove("AGUI_DEV_FILE");
        command
    }

    /// `command`, with every provider key and model choice removed, so the offline model answers
    /// whatever the machine has set.
    pub fn offline_command(&self, args: &[&str]) -> Command {
        let mut command = self.command(args);
        for key in PROVIDER_KEYS {
            command.env_remove(key);
        }
        command
    }

    /// Runs agui-dev to completion: (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        let output = self.command(args).stdin(Stdio::null()).output().unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Starts agui-dev in the background with its output captured as it comes.
    pub fn spawn(&self, args: &[&str]) -> Running<'_> {
        self.spawn_command(self.command(args))
    }

    /// Like `spawn`, for a command the test adjusted (environment, arguments).
    pub fn spawn_command(&self, mut command: Command) -> Running<'_> {
        let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stdout = Captured::start(child.stdout.take().unwrap());
        let stderr = Captured::start(child.stderr.take().unwrap());
        Running { fixture: self, child, stdout, stderr }
    }

    /// Pids of live processes (not zombies) carrying this fixture's marker, agui-dev excluded.
    pub fn survivors(&self) -> Vec<i32> {
        marked_processes(&self.marker).into_iter().filter(|(_, cmd)| !cmd.contains(BIN)).map(|(pid, _)| pid).collect()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for (pid, _) in marked_processes(&self.marker) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// Processes whose environment holds `AGUI_TEST_MARKER=marker`, with their command lines.
pub fn marked_processes(marker: &str) -> Vec<(i32, String)> {
    let needle = format!("AGUI_TEST_MARKER={marker}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else { continue };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
        if zombie {
            continue;
        }
        if environ.split(|b| *b == 0).any(|var| var == needle.as_bytes()) {
            let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            found.push((pid, cmd));
        }
    }
    found
}

/// A stream read on a thread into memory, with waiting for a text to appear.
/// The bytes read so far, and whether the stream has ended.
type Shared = Arc<(Mutex<(Vec<u8>, bool)>, Condvar)>;

#[derive(Clone)]
pub struct Captured {
    inner: Shared,
}

impl Captured {
    pub fn start(mut stream: impl Read + Send + 'static) -> Captured {
        let captured = Captured { inner: Arc::new((Mutex::new((Vec::new(), false)), Condvar::new())) };
        let inner = captured.inner.clone();
        std::thread::spawn(move || {
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                let n = stream.read(&mut chunk).unwrap_or(0);
                let (lock, cv) = &*inner;
                let mut state = lock.lock().unwrap();
                if n == 0 {
                    state.1 = true;
                    cv.notify_all();
                    break;
                }
                state.0.extend_from_slice(&chunk[..n]);
                cv.notify_all();
            }
        });
        captured
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.inner.0.lock().unwrap().0).into_owned()
    }

    /// Waits until `done(text)` holds; panics with the text after `WAIT`.
    pub fn wait_until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        let (lock, cv) = &*self.inner;
        let mut state = lock.lock().unwrap();
        loop {
            let text = String::from_utf8_lossy(&state.0).into_owned();
            if done(&text) {
                return text;
            }
            let now = Instant::now();
            assert!(now < deadline && !state.1, "gave up waiting for {what}; output so far:\n{}", tail(&text));
            state = cv.wait_timeout(state, deadline - now).unwrap().0;
        }
    }

    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_until(&format!("`{needle}`"), |text| text.contains(needle))
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

pub struct Running<'a> {
    pub fixture: &'a Fixture,
    pub child: Child,
    pub stdout: Captured,
    pub stderr: Captured,
}

impl Running<'_> {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid()), signal).unwrap();
    }

    /// Waits for agui-dev to exit and returns its code; kills it (by pid) if it hangs.
    pub fn wait(&mut self) -> i32 {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads see the end of both streams.
                self.stdout.wait_until_closed();
                self.stderr.wait_until_closed();
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("agui-dev did not exit; stderr:\n{}", self.stderr.text());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Captured {
    pub fn wait_until_closed(&self) -> String {
        let deadline = Instant::now() + WAIT;
        let (lock, cv) = &*self.inner;
        let mut state = lock.lock().unwrap();
        while !state.1 && Instant::now() < deadline {
            state = cv.wait_timeout(state, Duration::from_millis(100)).unwrap().0;
        }
        String::from_utf8_lossy(&state.0).into_owned()
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads lines of a file, for log checks.
pub fn lines_of(path: &Path) -> Vec<String> {
    BufReader::new(std::fs::File::open(path).unwrap()).lines().map(Result::unwrap).collect()
}

/// A loopback port for a server a test starts (agui-dev's services, a fixture server), that no
/// other test takes meanwhile, in this process or another: nextest runs each test in a process of
/// its own, and the port is bound only later, by a child, so a kernel-chosen port freed at once
/// could be handed to a parallel test, or taken as the source port of an outgoing connection, in
/// that window. So:
/// - ports come from below the kernel's ephemeral range (`ip_local_port_range`), which outgoing
///   connections and `bind(:0)` draw from;
/// - each is reserved across processes by an exclusive `flock` on `<tmp>/agui-dev-test-ports/PORT`,
///   held until this test process ends (each call opens its own file, so two calls in one process
///   conflict too);
/// - and, once reserved, it is checked free by binding it.
pub fn free_port() -> u16 {
    static RESERVED: Mutex<Vec<std::fs::File>> = Mutex::new(Vec::new());
    let (low, high) = test_port_range();
    let span = u64::from(high - low);
    // Where the search starts: spread, so parallel tests rarely try the same ports first.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let start = u64::from(std::process::id()).wrapping_mul(7919) ^ u64::from(nanos);
    for step in 0..span {
        let port = low + ((start + step) % span) as u16;
        let Some(reservation) = reserve_port(port) else { continue };
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            RESERVED.lock().unwrap().push(reservation);
            return port;
        }
    }
    panic!("no free port in {low}..{high}: every one is reserved by another test or in use");
}

/// The ports `free_port` hands out: from 20000 up to the start of the ephemeral range (32768 on
/// most Linux machines); at least 1000 of them, overlapping it on a machine that set it lower.
pub fn test_port_range() -> (u16, u16) {
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    (20000, ephemeral.max(21000))
}

/// The file whose `flock` reserves `port` for the test process holding it.
pub fn port_reservation(port: u16) -> PathBuf {
    std::env::temp_dir().join("agui-dev-test-ports").join(port.to_string())
}

/// An exclusive lock on the port's file, or `None` when another test holds it. The folder is
/// shared by every user (sticky, like /tmp), and a file may be opened read-only: `flock` needs no
/// write access, so a test as root and one as a developer still see each other's reservations.
fn reserve_port(port: u16) -> Option<std::fs::File> {
    use std::os::unix::fs::PermissionsExt;
    let path = port_reservation(port);
    let dir = path.parent().unwrap();
    if std::fs::create_dir(dir).is_ok() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
    }
    let file = std::fs::File::open(&path)
        .or_else(|_| std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path))
        .unwrap_or_else(|e| panic!("cannot open the port reservation `{}`: {e}", path.display()));
    file.try_lock().ok()?;
    Some(file)
}

impl Captured {
    /// Like `wait_for`, with a limit of its own (set-up on a cold machine takes minutes).
    pub fn wait_for_within(&self, needle: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        let (lock, cv) = &*self.inner;
        let mut state = lock.lock().unwrap();
        loop {
            let text = String::from_utf8_lossy(&state.0).into_owned();
            if text.contains(needle) {
                return text;
            }
            let now = Instant::now();
            assert!(now < deadline && !state.1, "gave up waiting for `{needle}`; output so far:\n{}", tail(&text));
            state = cv.wait_timeout(state, deadline - now).unwrap().0;
        }
    }
}

/// An HTTP answer: status, lower-cased headers, body.
pub type Answer = (u16, Vec<(String, String)>, String);

/// A minimal HTTP/1.1 client for loopback tests: (status, lower-cased headers, body).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    try_http(port, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} http://127.0.0.1:{port}{path}: {e}"))
}

/// `http`, with a failed connection or exchange as an error (for polling a server that starts).
pub fn try_http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> std::io::Result<Answer> {
    use std::fmt::Write as _;
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(WAIT))?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    // A test may send its own `Host` (the console refuses foreign ones).
    if !headers.iter().any(|(key, _)| key.eq_ignore_ascii_case("host")) {
        let _ = write!(request, "Host: 127.0.0.1:{port}\r\n");
    }
    for (key, value) in headers {
        let _ = write!(request, "{key}: {value}\r\n");
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked { dechunk(body) } else { body.to_owned() };
    Ok((status, headers, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// The repository's root, where the templates and the shared venv live.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Provider keys are removed so the offline model answers, whatever the machine has set.
pub const PROVIDER_KEYS: &[&str] = &[
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "DEEPSEEK_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "MISTRAL_API_KEY",
    "GROQ_API_KEY",
    "OPENROUTER_API_KEY",
    "XAI_API_KEY",
    "AZURE_API_KEY",
    "COHERE_API_KEY",
    "DASHSCOPE_API_KEY",
    "MOONSHOT_API_KEY",
    "LITELLM_MASTER_KEY",
    "LITELLM_MODEL",
];

impl Fixture {
    /// Starts a `real_stack` offline (no provider key), optionally on another offline model, and
    /// waits until all three services are ready (set-up on a cold machine takes minutes).
    pub fn up_real_stack(&self, model: Option<&str>) -> Running<'_> {
        let mut command = self.offline_command(&["up"]);
        if let Some(model) = model {
            command.env("LITELLM_MODEL", model);
        }
        let up = self.spawn_command(command);
        up.stderr.wait_for_within("all 3 services are ready", Duration::from_mins(15));
        up
    }
}

/// A stack file like the repository's, on free ports, so it never collides with a running stack.
/// The templates run from their TypeScript source (`npm start` runs the build in `dist/`, which a
/// checkout does not hold), once, without the watch of `npm run dev`.
pub fn real_stack(proxy: u16, mcp: u16, agui: u16) -> String {
    let root = repo_root().display().to_string();
    format!(
        r#"
[services.litellm]
kind = "litellm"
venv = "{root}/.venv"
config = "{root}/templates/litellm/config.yaml"
port = {proxy}

[services.mcp]
kind = "mcp"
cwd = "{root}/templates/mcp-server"
command = "npx tsx src/server.ts"
port = {mcp}

[services.agui]
kind = "agui"
cwd = "{root}/templates/agui-server"
command = "npx tsx src/server.ts"
port = {agui}
depends_on = ["mcp"]
"#
    )
}

impl Fixture {
    /// Waits (bounded) until no process of this fixture is alive; returns those left at the end.
    pub fn wait_for_no_survivors(&self, limit: Duration) -> Vec<i32> {
        let deadline = Instant::now() + limit;
        loop {
            let left = self.survivors();
            if left.is_empty() || Instant::now() > deadline {
                return left;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A fixture folder without a stack file (init writes it).
pub fn empty_fixture() -> Fixture {
    let fixture = Fixture::new("");
    std::fs::remove_file(fixture.file("stack.toml")).unwrap();
    fixture
}

/// Moves the ports of a written stack file to free ones, so tests never collide.
pub fn move_ports(stack: &Path, ports: &[(u16, u16)]) {
    let mut text = std::fs::read_to_string(stack).unwrap();
    for (from, to) in ports {
        text = text.replace(&format!("port = {from}\n"), &format!("port = {to}\n"));
    }
    std::fs::write(stack, text).unwrap();
}

/// The LiteLLM release the project pins, read where it is pinned: `templates/litellm/requirements.txt`
/// (what `setup` installs and the binary embeds), with agui-dev's own reader of that pin.
pub fn litellm_pin() -> String {
    let path = repo_root().join("templates/litellm/requirements.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    let (_, version) = agui_dev::kinds::litellm::advisories::litellm_pin(&text)
        .unwrap_or_else(|| panic!("`{}` pins no `litellm==VERSION`", path.display()));
    version
}

/// The shared venv of the repository's tests (created by the first test that needs it).
pub fn shared_venv() -> PathBuf {
    let venv = repo_root().join(".venv");
    if !venv.join("bin/litellm").is_file() {
        let stack = tempfile::tempdir().unwrap();
        let config = repo_root().join("templates/litellm/config.yaml");
        let text = format!(
            "[services.litellm]\nkind = \"litellm\"\nvenv = \"{}\"\nconfig = \"{}\"\nport = {}\n",
            venv.display(),
            config.display(),
            free_port()
        );
        std::fs::write(stack.path().join("stack.toml"), text).unwrap();
        let status = Command::new(BIN).arg("setup").current_dir(stack.path()).status().unwrap();
        assert!(status.success());
    }
    venv
}

/// Held while a test installs something the tests share (a Debian package, the node modules of a
/// folder of `tests/`): nextest runs each test in its own process, and two installs of the same
/// thing at once fail or break each other on a fresh machine. One lock per `what`.
pub fn install_lock(what: &str) -> std::fs::File {
    let path = std::env::temp_dir().join(format!("agui-dev-{what}-install.lock"));
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).unwrap();
    file.lock().unwrap();
    file
}

/// `npm ci` in `dir` (a folder with a `package-lock.json`) unless `installed` (a path under it,
/// such as `node_modules/<package>`) is already there.
pub fn npm_ci(dir: &Path, installed: &str) {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("npm");
    let _installing = install_lock(&format!("npm-{name}"));
    if dir.join(installed).exists() {
        return;
    }
    let status =
        Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(dir).stdout(Stdio::null()).status();
    assert!(status.is_ok_and(|s| s.success()), "`npm ci` in {} failed", dir.display());
}

/// The first line of a root-only test (named `root_*`, `#[ignore = "needs root: …"]`): such a test
/// runs only when asked for (`--run-ignored`), and then it fails, rather than pass having checked
/// nothing, where it cannot do its work: not root, or without `program` (util-linux's `setpriv`).
pub fn require_root(program: &str) {
    assert!(
        nix::unistd::getuid().is_root(),
        "this test needs root: run it as root (.ci/run does), or leave it skipped (run without --run-ignored)"
    );
    let found = Command::new(program).arg("--version").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    assert!(found, "this root-only test needs `{program}` (util-linux) on PATH");
}

/// The tools of `tests/fixtures/mcp-paged/server.mjs`, which lists them on three pages.
pub const PAGED_TOOLS: [&str; 5] = ["page1_alpha", "page1_bravo", "page2_charlie", "page2_delta", "page3_echo"];

/// A stack of one `kind = "mcp"` service: the paged fixture server on the official SDK `sdk`
/// (`v2`: 2026-07-28, SSE answers; `v1`: the 2025-era handshake with sessions). Its folder is the
/// MCP template's, whose node_modules hold both SDKs (set-up installs them).
pub fn paged_mcp_stack(sdk: &str, port: u16) -> String {
    let root = repo_root().display().to_string();
    format!(
        "[services.mcp]\nkind = \"mcp\"\ncwd = \"{root}/templates/mcp-server\"\n\
         command = [\"node\", \"{root}/tests/fixtures/mcp-paged/server.mjs\"]\nport = {port}\nenv = {{ MCP_SDK = \"{sdk}\" }}\n"
    )
}

/// `path` itself when it is a Rust file, else the Rust files under it: what the source scans
/// (`layers`, `sizes`, `typed_errors`, `kinds`) read.
pub fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            rust_files(&entry.unwrap().path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_owned());
    }
}

/// The dev console's port and token, from the line `up` prints at start.
pub fn console_of(up: &Running<'_>) -> (u16, String) {
    let text = up.stderr.wait_for("?token=");
    let url = text.lines().find_map(|line| line.split("console: ").nth(1)).unwrap();
    let rest = url.strip_prefix("http://127.0.0.1:").unwrap();
    let (port, token) = rest.split_once("/?token=").unwrap();
    (port.parse().unwrap(), token.trim().to_owned())
}
