#![allow(clippy::unwrap_used)]
//! What people read, pinned whole with insta snapshots (`tests/snapshots/`): the human doctor
//! report, `check`'s plan, and the error messages of bad stack files and command lines. Temp
//! paths, ports, pids, run ids and masked keys are replaced by filters, so a snapshot holds only
//! what agui-dev decides. After an intended change: `INSTA_UPDATE=always cargo nextest run --test
//! snapshots`, then review the diff of the `.snap` files.

mod common;

use std::fmt::Write as _;

use common::Fixture;

/// Runs agui-dev offline (no provider keys, no colour) and returns (code, stdout, stderr).
fn run(fixture: &Fixture, args: &[&str]) -> (i32, String, String) {
    let mut command = fixture.offline_command(args);
    for key in ["LITELLM_MASTER_KEY", "LITELLM_MODEL", "DATABASE_URL", "NODE_ENV", "PYTHONDONTWRITEBYTECODE"] {
        command.env_remove(key);
    }
    // The machine's own secret-named variables (a CI token) would show in `withheld`.
    for (key, _) in std::env::vars() {
        let upper = key.to_ascii_uppercase();
        if upper.ends_with("_KEY")
            || upper.ends_with("_TOKEN")
            || upper.contains("SECRET")
            || upper.contains("PASSWORD")
        {
            command.env_remove(key);
        }
    }
    let output = command.stdin(std::process::Stdio::null()).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The fixture's folder becomes `[DIR]`; then the filters below.
fn normalised(fixture: &Fixture, text: &str) -> String {
    let dir = fixture.path().display().to_string();
    let canonical = fixture.path().canonicalize().unwrap().display().to_string();
    text.replace(&canonical, "[DIR]").replace(&dir, "[DIR]")
}

macro_rules! snapshot {
    ($name:expr, $text:expr) => {
        insta::with_settings!({
            filters => vec![
                (r"\bpid \d+", "pid [PID]"),
                (r"AGUI_DEV_RUN=[0-9a-f]+", "AGUI_DEV_RUN=[RUN]"),
                (r"sk-…[0-9a-f]{4}", "sk-…[KEY]"),
                (r"(?m)^(\s+)PATH=.*$", "${1}PATH=[PATH]"),
                (r"`(/[^`]*/)?(sh|true)` is `[^`]+`", "`$2` is `[PROGRAM]`"),
            ],
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!($name, $text);
        });
    };
}

const LITELLM_CONFIG: &str = r"
model_list:
  - model_name: offline
    litellm_params:
      model: openai/offline
      mock_response: canned
  - model_name: chat
    litellm_params:
      model: deepseek-chat
      api_key: os.environ/DEEPSEEK_API_KEY
  - model_name: chat
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: ${OPENAI_API_KEY}
litellm_settings:
  master_key: sk-misplaced
";

#[test]
fn doctor_human_report() {
    let fixture = Fixture::new(
        "[services.litellm]\nkind = \"litellm\"\nconfig = \"litellm.yaml\"\nport = 4000\n\n\
         [services.worker]\ncommand = \"sh -c 'exit 0'\"\n",
    );
    std::fs::write(fixture.file("litellm.yaml"), LITELLM_CONFIG).unwrap();
    // Port 4000 may be busy on a shared machine; the report shows ports only when one is declared
    // and free or held, so pin the port check out of the snapshot by using a port of our own.
    let port = common::free_port();
    let toml = std::fs::read_to_string(fixture.file("stack.toml")).unwrap().replace("4000", &port.to_string());
    std::fs::write(fixture.file("stack.toml"), toml).unwrap();
    let (code, stdout, stderr) = run(&fixture, &["doctor"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let report = normalised(&fixture, &stderr).replace(&port.to_string(), "[PORT]");
    snapshot!("doctor_human_report", report);
}

#[test]
fn check_prints_the_plan() {
    let fixture = Fixture::new(
        "[stack]\nname = \"demo\"\n\n\
         [services.db]\ncommand = [\"sh\", \"-c\", \"sleep 60\"]\nport = 15432\nstop_signal = \"SIGINT\"\nstop_grace = \"2s\"\n\n\
         [services.api]\ncommand = \"sh -c 'exec sleep 60'\"\nport = 18080\ndepends_on = [\"db\"]\nrestart = \"on-failure\"\n\
         env = { DB_URL = \"postgres://127.0.0.1:${services.db.port}/app\", API_TOKEN = \"tok-0123456789abcdef\" }\n\
         ready = { http = \"http://127.0.0.1:18080/health\", timeout = \"30s\" }\n\n\
         [services.job]\ncommand = \"true\"\ndepends_on = [\"api\"]\nready = { log = \"^done\" }\n",
    );
    let (code, stdout, stderr) = run(&fixture, &["check"]);
    assert_eq!(code, 0, "{stderr}");
    snapshot!("check_plan", normalised(&fixture, &stdout));
}

/// Bad stack files and command lines: each error whole, with its location and hint.
#[test]
fn error_messages() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("unknown_key", "[services.web]\ncommand = \"true\"\nprot = 3000\n", &["check"]),
        (
            "unknown_key_inline",
            "[services.web]\ncommand = \"true\"\nready = { htp = \"http://127.0.0.1:1/\" }\n",
            &["check"],
        ),
        ("unknown_table", "[service.web]\ncommand = \"true\"\n", &["check"]),
        (
            "unknown_dependency",
            "[services.api]\ncommand = \"true\"\n[services.web]\ncommand = \"true\"\ndepends_on = [\"apj\"]\n",
            &["check"],
        ),
        (
            "cycle",
            "[services.a]\ncommand = \"true\"\ndepends_on = [\"b\"]\n[services.b]\ncommand = \"true\"\ndepends_on = [\"a\"]\n",
            &["check"],
        ),
        // A longer cycle is spelled out whole, and located at the entry that closes it.
        (
            "cycle_of_three",
            "[services.a]\ncommand = \"true\"\ndepends_on = [\"b\"]\n\n[services.b]\ncommand = \"true\"\ndepends_on = [\"c\"]\n\n[services.c]\ncommand = \"true\"\ndepends_on = [\"a\"]\n",
            &["check"],
        ),
        (
            "shared_port",
            "[services.a]\ncommand = \"true\"\nport = 3000\n[services.b]\ncommand = \"true\"\nport = 3000\n",
            &["check"],
        ),
        ("no_probe", "[services.a]\ncommand = \"true\"\nready = { timeout = \"5s\" }\n", &["check"]),
        (
            "two_probes",
            "[services.a]\ncommand = \"true\"\n[services.a.ready]\nhttp = \"http://127.0.0.1:1/\"\ntcp = \"127.0.0.1:1\"\n",
            &["check"],
        ),
        ("bad_duration", "[services.a]\ncommand = \"true\"\nstop_grace = \"5 sex\"\n", &["check"]),
        ("bad_signal", "[services.a]\ncommand = \"true\"\nstop_signal = \"SIGSTOPP\"\n", &["check"]),
        ("bad_restart", "[services.a]\ncommand = \"true\"\nrestart = \"on_failure\"\n", &["check"]),
        (
            "unset_variable",
            "[services.a]\ncommand = \"true\"\nenv = { URL = \"${AGUI_TEST_SURELY_UNSET}\" }\n",
            &["check"],
        ),
        ("missing_command", "[services.a]\nport = 3000\n", &["check"]),
        ("unclosed_quote", "[services.a]\ncommand = \"sh -c 'oops\"\n", &["check"]),
        ("empty_command", "[services.a]\ncommand = []\n", &["check"]),
        ("kind_without_port", "[services.a]\nkind = \"mcp\"\ncommand = \"true\"\n", &["check"]),
        ("no_services", "[stack]\nname = \"x\"\n", &["check"]),
        ("unknown_service", "[services.api]\ncommand = \"true\"\n", &["up", "apu"]),
    ];
    assert!(cases.len() >= 12);
    for (name, toml, args) in cases {
        let fixture = Fixture::new(toml);
        let (code, _, stderr) = run(&fixture, args);
        assert_eq!(code, 2, "{name}: {stderr}");
        snapshot!(format!("error_{name}"), normalised(&fixture, &stderr));
    }
}

#[test]
fn error_when_there_is_no_stack_file() {
    let fixture = Fixture::new("");
    std::fs::remove_file(fixture.file("stack.toml")).unwrap();
    let (code, _, stderr) = run(&fixture, &["check"]);
    assert_eq!(code, 2);
    snapshot!("error_no_stack_file", normalised(&fixture, &stderr));
}

/// Every command line the help can show, from the real command tree: `[]` (the top level), then
/// each visible subcommand and its own subcommands (`["export", "k8s"]`).
fn help_paths() -> Vec<Vec<String>> {
    fn walk(command: &clap::Command, path: &[String], out: &mut Vec<Vec<String>>) {
        out.push(path.to_vec());
        for sub in command.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
            let mut next = path.to_vec();
            next.push(sub.get_name().to_owned());
            walk(sub, &next, out);
        }
    }
    let mut out = Vec::new();
    walk(&<agui_dev::cli::Cli as clap::CommandFactory>::command(), &[], &mut out);
    out
}

/// The lines under `Examples:` up to the next blank line, or `None` when the text has no examples.
/// The heading must stand alone on its line: clap joins the lines of a doc comment that lacks
/// `verbatim_doc_comment`, which put every example on the heading's line (`init` did).
fn examples(help: &str) -> Option<Result<Vec<&str>, String>> {
    if !help.contains("Examples:") {
        return None;
    }
    let mut lines = help.lines().skip_while(|l| !l.trim_start().starts_with("Examples:"));
    let heading = lines.next().unwrap_or_default();
    if heading.trim() != "Examples:" {
        return Some(Err(format!("the examples run on the heading's line: {heading:?}")));
    }
    Some(Ok(lines.take_while(|l| !l.trim().is_empty()).collect()))
}

/// Issue 10, item 4: the help's examples one per line, each an indented `agui-dev …` command
/// line, for the top level (`-h` and `--help`) and every subcommand that has examples.
#[test]
fn help_examples_stand_one_per_line() {
    let fixture = Fixture::new("");
    let mut sections = String::new();
    let mut problems = Vec::new();
    for path in help_paths() {
        let flags: &[&str] = if path.is_empty() { &["-h", "--help"] } else { &["--help"] };
        for flag in flags {
            let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
            args.push(flag);
            let shown = format!("agui-dev {}", args.join(" "));
            let (code, stdout, stderr) = run(&fixture, &args);
            assert_eq!(code, 0, "{shown}: {stderr}");
            let lines = match examples(&stdout) {
                None if path.is_empty() => {
                    problems.push(format!("{shown}: no Examples section"));
                    continue;
                }
                None => continue,
                Some(Err(problem)) => {
                    problems.push(format!("{shown}: {problem}"));
                    continue;
                }
                Some(Ok(lines)) => lines,
            };
            if lines.is_empty() {
                problems.push(format!("{shown}: an empty Examples section"));
            }
            for line in &lines {
                let indented = line.starts_with(' ') && line.trim_start().starts_with("agui-dev ");
                // Two examples joined by clap leave a second ` agui-dev ` inside the line (a
                // description that names a command quotes it in backticks, so it does not match).
                if !indented || line.trim_start()["agui-dev ".len()..].contains(" agui-dev ") {
                    problems.push(format!("{shown}: not one indented example: {line:?}"));
                }
            }
            if *flag == "--help" {
                let _ = write!(sections, "$ {shown}\n{}\n\n", lines.join("\n"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    snapshot!("help_examples", sections);
}

/// `agui-dev trace`'s waterfall of a fixed run (`common::traced::agent_run`: three services, two
/// model calls through the proxy, a failed tool call, a span whose parent never came) at 100
/// columns without colour, what the MCP `trace` tool says of where its time went, and the list.
#[test]
fn trace_waterfall() {
    use agui_dev::control::trace;
    let detail = common::traced::expected(&common::traced::agent_run(2, "run-new"));
    let spent = agui_dev::traces::calls::time_spent(&detail);
    let text = format!(
        "{}\n{}\n{}",
        trace::waterfall(&detail, 100, false),
        trace::time_spent_text(&spent),
        trace::list(std::slice::from_ref(&detail.summary), None)
    );
    snapshot!("trace_waterfall", text);
}
