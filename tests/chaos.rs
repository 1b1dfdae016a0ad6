#![allow(clippy::unwrap_used)]
// Scripts and stack files are built up piece by piece; a scenario is a bag of independent switches.
#![allow(clippy::format_push_string, clippy::struct_excessive_bools)]
// The figures of a run are printed for the record (nextest shows them with --no-capture).
#![allow(clippy::print_stderr)]
//! The chaos suite: randomised but seeded stacks of misbehaving services, ended in random ways,
//! after which nothing may survive, no line may be lost and no secret may show.
//!
//! Services fork grandchildren, ignore SIGTERM, crash at random moments (some restart), flood
//! output, end on a partial line, hold a port, print a secret. Endings: Ctrl-C, SIGTERM, SIGHUP,
//! SIGKILL of agui-dev, a readiness timeout, or the stack failing by itself. Checks after each:
//! - no survivor, found three ways: the environment marker every process inherits, the marker in
//!   each service's command line, and the process groups the services recorded (zombies, which
//!   only pid 1 can reap after agui-dev is SIGKILLed, do not count);
//! - every line a service recorded as written is in its log file, in order (services print a line,
//!   then record it). Not checked when agui-dev is SIGKILLed: lines still in the pipe or in
//!   agui-dev's buffers die with it;
//! - the secret is in no output and no log file;
//! - a service reloaded by an edit of stack.toml (its `R` value changed) ran again with the new
//!   value: its ready line, which names `R`, is among the lines it recorded.
//!
//! Control actions between ready and the ending: `restart` through the control socket, an edit of
//! stack.toml that `up`'s watcher reloads, a client killed mid-request. `up` runs with `CI`
//! removed so that it watches whatever machine runs the suite.
//!
//! The run's seed is printed first, so the output of any failure (nextest shows a failed test's
//! stderr), a panic included, says how to replay it: `AGUI_DEV_CHAOS_SEED=N cargo nextest run
//! --test chaos`. `AGUI_DEV_CHAOS_SCENARIOS=N` changes the count (default 56); scenario `i` of a
//! seed is the same whatever the count.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{Fixture, free_port};
use nix::sys::signal::Signal;

const SECRET: &str = "sk-chaos-5ecret-0123456789abcdef";

/// xorshift64*: small, seedable, good enough to pick scenarios.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ending {
    CtrlC,
    Term,
    Hangup,
    Kill,
    ReadyTimeout,
    /// `agui-dev down` from another terminal, as soon as the control socket answers (often while
    /// services are still starting).
    Down,
}

/// Done from another terminal once the stack is ready, before the ending.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Action {
    /// `agui-dev restart sN`, often while the services still flood.
    Restart(usize),
    /// An edit of stack.toml that changes `sN`'s `R` value: `up`'s watcher restarts it.
    Reload(usize),
    /// A client that sends half a request and is killed (its connection drops mid-request).
    KilledClient,
}

#[derive(Debug)]
struct Service {
    name: String,
    forks: bool,
    ignores_term: bool,
    lines: u64,
    partial: bool,
    crash_after_ms: Option<u64>,
    restarts: bool,
    holds_port: bool,
    prints_secret: bool,
    never_ready: bool,
}

#[derive(Debug)]
struct Scenario {
    services: Vec<Service>,
    actions: Vec<Action>,
    ending: Ending,
}

fn scenario(rng: &mut Rng) -> Scenario {
    let ending = [Ending::CtrlC, Ending::Term, Ending::Hangup, Ending::Kill, Ending::ReadyTimeout, Ending::Down]
        [rng.below(6) as usize];
    let count = 1 + rng.below(3);
    let services = (0..count)
        .map(|i| Service {
            name: format!("s{i}"),
            forks: rng.chance(50),
            ignores_term: rng.chance(30),
            lines: [0, 10, 500, 3000][rng.below(4) as usize],
            partial: rng.chance(40),
            crash_after_ms: rng.chance(20).then(|| rng.below(400)),
            restarts: rng.chance(50),
            holds_port: rng.chance(20),
            prints_secret: rng.chance(40),
            never_ready: ending == Ending::ReadyTimeout && i == count - 1,
        })
        .collect();
    let actions = (0..rng.below(3))
        .map(|_| match rng.below(100) {
            0..40 => Action::Restart(rng.below(count) as usize),
            40..75 => Action::Reload(rng.below(count) as usize),
            _ => Action::KilledClient,
        })
        .collect();
    Scenario { services, actions, ending }
}

/// The stack file as the scenario's run has it now: fixed ports, and each service's `R` value.
struct StackFile<'a> {
    scenario: &'a Scenario,
    marker: &'a str,
    ports: Vec<u16>,
    generations: Vec<u32>,
}

impl StackFile<'_> {
    fn write(&self, fixture: &Fixture) {
        std::fs::write(
            fixture.file("stack.toml"),
            stack_toml(self.scenario, self.marker, &self.ports, &self.generations),
        )
        .unwrap();
    }
}

/// What `up` prints when it has dealt with an edit of stack.toml, one way or another.
const RELOAD_OUTCOMES: [&str; 4] = [
    "reloaded `stack.toml`",
    "reload of `stack.toml` failed",
    "`stack.toml` changed; no service's definition did",
    "`stack.toml` changed but the stack does not read",
];

fn reload_outcomes(stderr: &str) -> usize {
    RELOAD_OUTCOMES.iter().map(|o| stderr.matches(o).count()).sum()
}

/// Runs the scenario's control actions against the running stack. Restarts are not judged (a
/// restarted service may crash by design); an edit must be answered, and when `up` says it
/// reloaded, the `(service, ready line)` the new run must have recorded is returned for the
/// checks after the ending.
fn act(
    fixture: &Fixture,
    scenario: &Scenario,
    up: &mut common::Running<'_>,
    file: &mut StackFile<'_>,
) -> Result<Vec<(usize, String)>, String> {
    let mut reloaded = Vec::new();
    for action in &scenario.actions {
        match action {
            Action::Restart(index) => {
                let name = &scenario.services[*index].name;
                let _ = fixture.command(&["restart", name]).output();
            }
            Action::Reload(index) => {
                let before = reload_outcomes(&up.stderr.text());
                file.generations[*index] += 1;
                file.write(fixture);
                // Debounce (300 ms, up to 2 s while files keep changing), then the restart and its
                // ready; a crash may end the stack meanwhile.
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let stderr = up.stderr.text();
                    if reload_outcomes(&stderr) > before {
                        let last = stderr.lines().rev().find(|l| RELOAD_OUTCOMES.iter().any(|o| l.contains(o)));
                        let last = last.unwrap_or_default();
                        if last.contains("no service's definition did") || last.contains("does not read") {
                            return Err(format!("the edit of `R` was not applied: {last}\n{stderr}"));
                        }
                        if last.contains("reloaded") {
                            let name = &scenario.services[*index].name;
                            reloaded.push((*index, format!("{name} ready r={}", file.generations[*index])));
                        }
                        break;
                    }
                    if up.child.try_wait().unwrap().is_some() {
                        return Ok(reloaded);
                    }
                    if Instant::now() > deadline {
                        return Err(format!("an edit of stack.toml was not answered within 30 s:\n{stderr}"));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            Action::KilledClient => {
                use std::io::Write;
                if let Ok(mut stream) = std::os::unix::net::UnixStream::connect(fixture.file(".agui-dev/control.sock"))
                {
                    let _ = stream.write_all(br#"{"version":1,"op":"restart","services":["#);
                    drop(stream);
                }
            }
        }
    }
    Ok(reloaded)
}

/// The service's shell script: print, then record what was printed.
fn script(service: &Service, port: u16) -> String {
    let mut s = String::new();
    s.push_str("echo $$ >> pgids; ");
    s.push_str(if service.ignores_term {
        "trap '' TERM; "
    } else {
        "trap 'echo; echo \"$N term\"; echo \"$N term\" >> truth-$N; exit 0' TERM; "
    });
    if service.forks {
        s.push_str("sleep 600 & sleep 600 & ");
    }
    if service.holds_port {
        s.push_str(&format!(
            "python3 -c 'import socket,time; s=socket.socket(); s.bind((\"127.0.0.1\", {port})); s.listen(); time.sleep(600)' & "
        ));
    }
    s.push_str(&format!(
        "i=0; while [ $i -lt {} ]; do echo \"$N line $i\"; echo \"$N line $i\" >> truth-$N; i=$((i+1)); done; ",
        service.lines
    ));
    if service.prints_secret {
        s.push_str("echo \"$N key $CHAOS_API_KEY\"; ");
    }
    if !service.never_ready {
        s.push_str("echo \"$N ready r=$R\"; echo \"$N ready r=$R\" >> truth-$N; ");
    }
    if service.partial {
        // The TERM trap starts with a newline, so what it prints is a line of its own.
        s.push_str("printf \"$N partial\"; echo \"$N partial\" >> truth-$N; ");
    }
    match service.crash_after_ms {
        Some(ms) => s.push_str(&format!("sleep {}.{:03}; exit 3", ms / 1000, ms % 1000)),
        // `wait` lets the TERM trap run at once; the ignorer loops instead.
        None if service.ignores_term => s.push_str("while true; do sleep 1; done"),
        None => s.push_str("sleep 600 & wait"),
    }
    s
}

fn stack_toml(scenario: &Scenario, marker: &str, ports: &[u16], generations: &[u32]) -> String {
    let mut toml = String::new();
    for ((service, &port), generation) in scenario.services.iter().zip(ports).zip(generations) {
        // TOML string escapes, and `$$` for agui-dev's interpolation to give the shell its `$$`.
        let script = script(service, port).replace('\\', "\\\\").replace('"', "\\\"").replace("$$", "$$$$");
        toml.push_str(&format!("[services.{}]\n", service.name));
        toml.push_str(&format!("command = [\"sh\", \"-c\", \"{script}\", \"chaos-{marker}\"]\n"));
        // The key comes from agui-dev's environment; a plain service gets it only by naming it.
        toml.push_str(&format!(
            "env = {{ N = \"{}\", R = \"{generation}\", CHAOS_API_KEY = \"${{CHAOS_API_KEY}}\" }}\n",
            service.name
        ));
        let timeout = if service.never_ready { "800ms" } else { "30s" };
        toml.push_str(&format!("ready = {{ log = \"^{} ready\", timeout = \"{timeout}\" }}\n", service.name));
        toml.push_str("stop_grace = \"300ms\"\n");
        if service.restarts {
            toml.push_str("restart = \"on-failure\"\nmax_restarts = 1\n");
        }
        toml.push('\n');
    }
    toml
}

/// Live (non-zombie) processes whose process group is one of `pgids`, or whose command line holds
/// the marker.
fn survivors_by_group_and_command_line(pgids: &[i32], marker: &str) -> Vec<String> {
    let needle = format!("chaos-{marker}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.first() == Some(&"Z") {
            continue;
        }
        let pgrp: i32 = fields.get(2).and_then(|f| f.parse().ok()).unwrap_or(0);
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let in_command_line = cmdline.split(|b| *b == 0).any(|arg| arg == needle.as_bytes());
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if pgids.contains(&pgrp) || in_command_line {
            found.push(format!("{pid} (group {pgrp}): {cmdline}"));
        }
    }
    found
}

/// Runs one scenario: the number of recorded lines found in the logs and of reloads applied, or
/// what went wrong.
fn run(scenario: &Scenario) -> Result<(usize, usize), String> {
    let fixture = Fixture::new("");
    let mut file = StackFile {
        scenario,
        marker: &fixture.marker,
        ports: scenario.services.iter().map(|_| free_port()).collect(),
        generations: vec![0; scenario.services.len()],
    };
    file.write(&fixture);
    let mut command = fixture.command(&["up"]);
    // Watching is off when `CI` is set; the `Reload` action needs it on.
    command.env("CHAOS_API_KEY", SECRET).env_remove("CI");
    let mut up = fixture.spawn_command(command);
    let all_ready = match scenario.services.len() {
        1 => "the service is ready".to_owned(),
        n => format!("all {n} services are ready"),
    };
    let deadline = Instant::now() + Duration::from_mins(1);
    let socket = fixture.file(".agui-dev/control.sock");
    let exited_early = loop {
        if up.stderr.text().contains(&all_ready) {
            break false;
        }
        // `down` during start-up: as soon as the control socket is there.
        if scenario.ending == Ending::Down && socket.exists() {
            break false;
        }
        if up.child.try_wait().unwrap().is_some() {
            break true;
        }
        if Instant::now() > deadline {
            return Err(format!("neither ready nor exited within 60 s:\n{}", up.stderr.text()));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let reloaded = if !exited_early && scenario.ending != Ending::Down {
        act(&fixture, scenario, &mut up, &mut file)?
    } else {
        vec![]
    };
    // A crash may end the stack during the actions; the reload's wait then reaped `up`, and its
    // pid must not be signalled (a signal to a zombie, as before, did nothing either).
    let ended_during_actions = up.child.try_wait().unwrap().is_some();
    if !exited_early && !ended_during_actions {
        match scenario.ending {
            Ending::Down => {
                let _ = fixture.command(&["down"]).output();
            }
            Ending::CtrlC => up.signal(Signal::SIGINT),
            Ending::Term => up.signal(Signal::SIGTERM),
            Ending::Hangup => up.signal(Signal::SIGHUP),
            Ending::Kill => up.signal(Signal::SIGKILL),
            Ending::ReadyTimeout => {}
        }
    }
    let code = up.wait();
    let killed = scenario.ending == Ending::Kill && !exited_early;
    let expected_clean =
        matches!(scenario.ending, Ending::CtrlC | Ending::Term | Ending::Hangup | Ending::Down) && !exited_early;
    if expected_clean && code != 0 {
        // A crash can race the signal; then exit 1 naming the crash is right.
        let crashed = up.stderr.text().contains("exited with code 3");
        if !crashed {
            return Err(format!("exit code {code} after a clean stop:\n{}", up.stderr.text()));
        }
    }
    if scenario.ending == Ending::ReadyTimeout && code != 1 {
        return Err(format!("exit code {code} after a readiness timeout:\n{}", up.stderr.text()));
    }

    // Nothing survives (after SIGKILL of agui-dev, the guardian needs up to the grace period).
    let left = fixture.wait_for_no_survivors(Duration::from_secs(20));
    let pgids: Vec<i32> = std::fs::read_to_string(fixture.file("pgids"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let by_group = survivors_by_group_and_command_line(&pgids, &fixture.marker);
    if !left.is_empty() || !by_group.is_empty() {
        return Err(format!("survivors: by environment {left:?}; by group or command line {by_group:?}"));
    }

    // No secret anywhere, and no recorded line missing from the log (in order).
    let mut everything = up.stdout.text() + &up.stderr.text();
    let mut checked = 0;
    for service in &scenario.services {
        let log =
            std::fs::read_to_string(fixture.file(&format!(".agui-dev/logs/{}.log", service.name))).unwrap_or_default();
        everything.push_str(&log);
        if killed {
            continue;
        }
        let truth = std::fs::read_to_string(fixture.file(&format!("truth-{}", service.name))).unwrap_or_default();
        let mut log_lines = log.lines();
        for line in truth.lines() {
            if !log_lines.any(|l| l == line) {
                return Err(format!("`{}` wrote `{line}`, which is missing or out of order in its log", service.name));
            }
            checked += 1;
        }
    }
    for (index, ready) in &reloaded {
        let name = &scenario.services[*index].name;
        let truth = std::fs::read_to_string(fixture.file(&format!("truth-{name}"))).unwrap_or_default();
        if !truth.lines().any(|l| l == ready) {
            return Err(format!("`up` reloaded `{name}`, but its new run never wrote `{ready}`"));
        }
    }
    if everything.contains(SECRET) {
        return Err("the secret was printed".to_owned());
    }
    Ok((checked, reloaded.len()))
}

const SEED_VAR: &str = "AGUI_DEV_CHAOS_SEED";
const COUNT_VAR: &str = "AGUI_DEV_CHAOS_SCENARIOS";

/// A number from the environment, or `None` when unset; a value that is not a number fails the
/// run rather than be replaced by a default the reader did not ask for.
fn number_from_env(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(text.trim().parse().unwrap_or_else(|_| panic!("{name}={text:?} is not a whole number")))
}

/// The command line that replays this run.
fn replay(seed: u64, count: u64) -> String {
    format!("{SEED_VAR}={seed} {COUNT_VAR}={count} cargo nextest run --test chaos -E 'test(=chaos)'")
}

#[test]
fn chaos() {
    let seed = number_from_env(SEED_VAR).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    let count = number_from_env(COUNT_VAR).unwrap_or(56);
    // First, so that every failure's output holds it, a panic in a scenario's thread included.
    eprintln!("chaos: seed {seed}; replay: {}", replay(seed, count));
    let next = Mutex::new(0u64);
    let failures = Mutex::new(Vec::new());
    let lines_checked = Mutex::new(0usize);
    let reloads_applied = Mutex::new(0usize);
    let endings = Mutex::new(std::collections::BTreeMap::<String, usize>::new());
    let actions = Mutex::new(std::collections::BTreeMap::<&str, usize>::new());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                loop {
                    let index = {
                        let mut next = next.lock().unwrap();
                        if *next >= count {
                            break;
                        }
                        *next += 1;
                        *next - 1
                    };
                    let mut rng = Rng(seed ^ (index + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                    let scenario = scenario(&mut rng);
                    *endings.lock().unwrap().entry(format!("{:?}", scenario.ending)).or_default() += 1;
                    for action in &scenario.actions {
                        let name = match action {
                            Action::Restart(_) => "restart",
                            Action::Reload(_) => "reload",
                            Action::KilledClient => "killed client",
                        };
                        *actions.lock().unwrap().entry(name).or_default() += 1;
                    }
                    match run(&scenario) {
                        Ok((lines, reloads)) => {
                            *lines_checked.lock().unwrap() += lines;
                            *reloads_applied.lock().unwrap() += reloads;
                        }
                        Err(error) => failures.lock().unwrap().push(format!("scenario {index}: {scenario:?}\n{error}")),
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    eprintln!(
        "chaos: {count} scenarios {:?}, control actions {:?} ({} reloads applied), {} failed, {} recorded lines found in order in the logs, seed {seed}, {:.1}s",
        endings.into_inner().unwrap(),
        actions.into_inner().unwrap(),
        reloads_applied.into_inner().unwrap(),
        failures.len(),
        lines_checked.into_inner().unwrap(),
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "replay: {}\n{}", replay(seed, count), failures.join("\n\n"));
}

/// Whether every process of group `pgid` has exited (zombies count: they run nothing, and only
/// their parent can collect them).
fn group_exited(pgid: i32) -> bool {
    !proc_stats().iter().any(|(_, state, group)| *group == pgid && *state != 'Z')
}

/// `(pid, state, group)` of every process.
fn proc_stats() -> Vec<(i32, char, i32)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let state = fields.first().and_then(|f| f.chars().next()).unwrap_or('?');
        let group = fields.get(2).and_then(|f| f.parse().ok()).unwrap_or(0);
        found.push((pid, state, group));
    }
    found
}

/// After SIGKILL of `up`, the guardian's timeline (targets: the stop signal within 50 ms of the
/// supervisor's death, everything gone by the grace plus 100 ms, then the guardian exits at once;
/// bench/RESULTS.md has the measured figures). The bounds here are 1 s, far above the targets so
/// that a loaded 2-core machine running the chaos scenarios beside this test does not fail it,
/// yet below what a late guardian gives: one that polls once a second, or one that waits for the
/// dead to be collected, which only their parent does.
///
/// This test process makes itself the subreaper of what `up` leaves, and collects nothing until
/// the end: the worst pid 1 (in many containers it never collects; in this VM it collects every
/// second or two). A guardian that counted uncollected zombies as alive waited its full give-up
/// time, the grace plus 10 s (13.0 s here for the 3 s grace).
#[test]
fn after_sigkill_of_up_the_guardian_stops_everything_within_the_grace_and_exits() {
    const GRACE: Duration = Duration::from_secs(3);
    const BOUND: Duration = Duration::from_secs(1);
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let fixture = Fixture::new(&format!(
        r#"
[services.obeys]
command = ["sh", "-c", "echo $$$$ > pid-obeys; trap 'exit 0' TERM; echo ready; sleep 600 & wait"]
ready = {{ log = "ready" }}
stop_grace = "{grace}s"

[services.ignores]
command = ["sh", "-c", "echo $$$$ > pid-ignores; trap '' TERM; echo ready; while true; do sleep 0.2; done"]
ready = {{ log = "ready" }}
stop_grace = "{grace}s"
"#,
        grace = GRACE.as_secs()
    ));
    let mut command = fixture.command(&["up"]);
    command.env("CI", "1");
    let mut up = fixture.spawn_command(command);
    up.stderr.wait_for("all 2 services are ready");
    let pid_of = |name: &str| -> i32 { std::fs::read_to_string(fixture.file(name)).unwrap().trim().parse().unwrap() };
    let (obeys, ignores) = (pid_of("pid-obeys"), pid_of("pid-ignores"));
    let guardian = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .find(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let parent = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok());
            parent == Some(up.pid()) && cmdline.windows(10).any(|w| w == b"__guardian")
        })
        .expect("`up` started its guardian");

    up.signal(Signal::SIGKILL);
    let killed = Instant::now();
    // Each time is taken after the look that saw the change: never earlier than it happened.
    let (mut obeys_gone, mut ignores_gone, mut guardian_gone) = (None, None, None);
    while (obeys_gone.is_none() || ignores_gone.is_none() || guardian_gone.is_none())
        && killed.elapsed() < GRACE + Duration::from_secs(20)
    {
        if obeys_gone.is_none() && group_exited(obeys) {
            obeys_gone = Some(killed.elapsed());
        }
        if ignores_gone.is_none() && group_exited(ignores) {
            ignores_gone = Some(killed.elapsed());
        }
        if guardian_gone.is_none() && proc_stats().iter().all(|(pid, state, _)| *pid != guardian || *state == 'Z') {
            guardian_gone = Some(killed.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = up.wait();
    eprintln!(
        "after SIGKILL of up: the SIGTERM-obeying group gone at {obeys_gone:?}, the SIGTERM-ignoring one at \
         {ignores_gone:?}, the guardian exited at {guardian_gone:?} (grace {GRACE:?})"
    );
    // Collect what this test adopted (only those: other tests of this binary may run beside it).
    for (pid, state, group) in proc_stats() {
        let ours = pid == guardian || group == obeys || group == ignores;
        if ours && state == 'Z' {
            let _ =
                nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        }
    }
    let left = fixture.wait_for_no_survivors(Duration::from_secs(5));
    assert!(left.is_empty(), "survivors: {left:?}");
    let obeys_gone = obeys_gone.expect("the SIGTERM-obeying service never stopped");
    let ignores_gone = ignores_gone.expect("the SIGTERM-ignoring service never stopped");
    let guardian_gone = guardian_gone.expect("the guardian never exited");
    assert!(obeys_gone < BOUND, "the SIGTERM-obeying service was gone {obeys_gone:?} after `up` was killed");
    assert!(
        ignores_gone + Duration::from_millis(100) >= GRACE,
        "the service that ignores SIGTERM was killed before its grace ran out: {ignores_gone:?}"
    );
    assert!(ignores_gone < GRACE + BOUND, "the SIGTERM-ignoring service was gone only {ignores_gone:?} after");
    assert!(guardian_gone < GRACE + BOUND, "the guardian exited only {guardian_gone:?} after `up` was killed");
}
