//! Doctor and smoke notice a server that a web page from any site can drive: the foreign-Origin
//! preflight (`running.cross-origin`) and the foreign Host (`running.dns-rebinding`), against the
//! fixture `tests/fixtures/cors-agent` (an AG-UI server in an Express + `cors()` project's layout,
//! open by default, guarded with `FIXTURE_GUARD=strict`). The fixture counts what it receives, so
//! each test shows that the probes reached it and started no run.

#![allow(clippy::unwrap_used)]

mod common;

use std::fmt::Write as _;
use std::process::Stdio;

use common::{Fixture, empty_fixture, free_port, http, move_ports, repo_root, shared_venv};
use serde_json::Value;

/// Copies the fixture project into `fixture`'s folder, as installed (an empty `node_modules`, so
/// set-up installs nothing: the server needs no package).
fn copy_project(fixture: &Fixture) {
    let from = repo_root().join("tests/fixtures/cors-agent");
    for file in ["package.json", "server.js"] {
        std::fs::copy(from.join(file), fixture.file(file)).unwrap();
    }
    std::fs::create_dir_all(fixture.file("node_modules")).unwrap();
}

/// Runs agui-dev offline to completion: (exit code, stdout, stderr).
fn run(fixture: &Fixture, args: &[&str]) -> (i32, String, String) {
    let output = fixture.offline_command(args).stdin(Stdio::null()).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `down` when the test ends, however it ends.
struct Down<'a>(&'a Fixture);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["down"]);
    }
}

/// One JSON object per line.
fn lines(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// The one finding of `id` about `subject`.
fn finding<'a>(checks: &'a [Value], id: &str, subject: &str) -> &'a Value {
    let found: Vec<&Value> = checks.iter().filter(|c| c["id"] == id && c["subject"] == subject).collect();
    assert_eq!(found.len(), 1, "`{id}` for `{subject}`: {checks:#?}");
    found[0]
}

/// What the fixture on `port` received so far.
fn counts(port: u16) -> Value {
    let (status, _, body) = http(port, "GET", "/counts", &[], "");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// The probes reached the server (a preflight, a foreign Host) and started nothing: no POST, no run.
fn assert_probed_without_work(port: u16) {
    let counts = counts(port);
    assert_eq!((counts["posts"].as_u64(), counts["runs"].as_u64()), (Some(0), Some(0)), "{counts}");
    assert!(counts["options"].as_u64() >= Some(1), "no preflight arrived: {counts}");
    assert!(counts["foreignHosts"].as_u64() >= Some(1), "no foreign Host arrived: {counts}");
}

/// The issue's proof: an Express-style server answering `Access-Control-Allow-Origin: *`, adopted
/// with `init`, run with `up -d`: doctor fails both checks with the Express fix and starts no
/// run; smoke exits 1 naming them, in its JSON and JUnit reports too.
#[test]
fn an_adopted_server_that_answers_star_fails_doctor_and_smoke() {
    let fixture = empty_fixture();
    copy_project(&fixture);
    std::os::unix::fs::symlink(shared_venv(), fixture.file(".venv")).unwrap();
    let (code, _, stderr) = run(&fixture, &["init"]);
    assert_eq!(code, 0, "{stderr}");
    let written = std::fs::read_to_string(fixture.file("stack.toml")).unwrap();
    assert!(written.contains("[services.agui]\nkind = \"agui\""), "{written}");
    let (proxy, agui) = (free_port(), free_port());
    move_ports(&fixture.file("stack.toml"), &[(4000, proxy), (3000, agui)]);

    let (code, _, stderr) = run(&fixture, &["up", "-d", "--no-watch"]);
    assert_eq!(code, 0, "{stderr}");
    let down = Down(&fixture);
    let (code, stdout, stderr) = run(&fixture, &["doctor", "--json"]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let checks = lines(&stdout);
    let cross = finding(&checks, "running.cross-origin", "agui");
    assert_eq!(cross["status"], "fail", "{cross}");
    let message = cross["message"].as_str().unwrap();
    assert!(message.contains("a page from any site can call"), "{message}");
    assert!(message.contains("answered 204 with `Access-Control-Allow-Origin: *`"), "{message}");
    let fix = cross["fix"].as_str().unwrap();
    assert!(fix.starts_with("Express (`package.json`): replace `cors()` with `cors({ origin: ["), "{fix}");
    assert!(fix.contains("`public = true` in `[services.agui]`"), "{fix}");
    let rebinding = finding(&checks, "running.dns-rebinding", "agui");
    assert_eq!(rebinding["status"], "fail", "{rebinding}");
    let message = rebinding["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("`GET /agent` with `Host: agui-dev-probe.invalid:{agui}` answered 404")),
        "{message}"
    );
    let fix = rebinding["fix"].as_str().unwrap();
    assert!(fix.contains("app.use((req, res, next) =>") && fix.contains("res.status(403)"), "{fix}");
    // The human report carries the same, with its fix line.
    let (_, _, human) = run(&fixture, &["doctor"]);
    assert!(human.contains("a page from any site can call"), "{human}");
    assert!(human.contains("fix: Express (`package.json`): replace `cors()`"), "{human}");
    assert_probed_without_work(agui);
    drop(down);
    assert_eq!(fixture.wait_for_no_survivors(common::WAIT), Vec::<i32>::new());

    let report = fixture.file("junit.xml");
    let (code, stdout, stderr) = run(&fixture, &["smoke", "--json", "--junit", report.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    let verdicts = lines(&stdout);
    let status = |id: &str| {
        let verdict = verdicts.iter().find(|v| v["id"] == id).unwrap_or_else(|| panic!("no `{id}`: {stdout}"));
        verdict["status"].as_str().unwrap().to_owned()
    };
    assert_eq!(status("agui.cross-origin"), "fail");
    assert_eq!(status("agui.dns-rebinding"), "fail");
    // Nothing else failed: the run itself works, and so does the rest of the stack.
    for id in ["stack.ready", "litellm.readiness", "litellm.completion", "agui.run", "stack.stopped"] {
        assert_eq!(status(id), "pass", "{id}: {stdout}");
    }
    assert!(
        stderr.contains("`agui.cross-origin` failed: a page from any site can call")
            && stderr.contains("(doctor: `running.cross-origin`); fix: Express"),
        "{stderr}"
    );
    assert!(stderr.contains("(doctor: `running.dns-rebinding`); fix: Express"), "{stderr}");
    assert!(stderr.contains("smoke: 5 passed, 2 failed"), "{stderr}");
    let xml = std::fs::read_to_string(&report).unwrap();
    roxmltree::Document::parse(&xml).unwrap();
    for id in ["agui.cross-origin", "agui.dns-rebinding"] {
        let case = format!("<testcase name=\"{id}\" classname=\"smoke.agui\"");
        let at = xml.find(&case).unwrap_or_else(|| panic!("no {id}: {xml}"));
        assert!(xml[at..].split("</testcase>").next().unwrap().contains("<failure message="), "{xml}");
    }
    assert_eq!(fixture.survivors(), Vec::<i32>::new());
}

/// A stack of the fixture in its three shapes: guarded (as agui and as mcp), open but declared
/// `public`, and open as an MCP server (the probes look at kind mcp too).
fn shapes(open_mcp: bool) -> (Fixture, [u16; 4]) {
    let ports = [free_port(), free_port(), free_port(), free_port()];
    let mut stack = format!(
        r#"
[services.strict]
kind = "agui"
command = "node server.js"
port = {}
env = {{ FIXTURE_GUARD = "strict" }}

[services.site]
kind = "agui"
command = "node server.js"
port = {}
public = true
"#,
        ports[0], ports[1]
    );
    if open_mcp {
        let _ = write!(
            stack,
            r#"
[services.guarded-mcp]
kind = "mcp"
command = "node server.js"
port = {}
env = {{ FIXTURE_GUARD = "strict" }}

[services.open-mcp]
kind = "mcp"
command = "node server.js"
port = {}
"#,
            ports[2], ports[3]
        );
    }
    let fixture = Fixture::new(&stack);
    copy_project(&fixture);
    (fixture, ports)
}

#[test]
fn a_guarded_server_passes_public_skips_and_an_open_mcp_server_fails() {
    let (fixture, [strict, site, guarded, open]) = shapes(true);
    let (code, _, stderr) = run(&fixture, &["up", "-d", "--no-watch"]);
    assert_eq!(code, 0, "{stderr}");
    let _down = Down(&fixture);
    let (_, stdout, stderr) = run(&fixture, &["doctor", "--json"]);
    let checks = lines(&stdout);
    for service in ["strict", "guarded-mcp"] {
        let cross = finding(&checks, "running.cross-origin", service);
        assert_eq!(cross["status"], "ok", "{cross}\n{stderr}");
        assert!(cross["message"].as_str().unwrap().contains("was refused (403)"), "{cross}");
        let rebinding = finding(&checks, "running.dns-rebinding", service);
        assert_eq!(rebinding["status"], "ok", "{rebinding}");
        assert!(rebinding["message"].as_str().unwrap().contains("agui-dev-probe.invalid"), "{rebinding}");
    }
    for id in ["running.cross-origin", "running.dns-rebinding"] {
        let skipped = finding(&checks, id, "site");
        assert_eq!(skipped["status"], "ok", "{skipped}");
        assert_eq!(
            skipped["message"], "not probed: `public = true` says `site` is meant to be reached from any web page",
            "{skipped}"
        );
        let open = finding(&checks, id, "open-mcp");
        assert_eq!(open["status"], "fail", "{open}");
        // The framework its package.json names, and the opt-out.
        let fix = open["fix"].as_str().unwrap();
        assert!(
            fix.starts_with("Express (`package.json`)") && fix.contains("`public = true` in `[services.open-mcp]`"),
            "{fix}"
        );
    }
    assert!(finding(&checks, "running.cross-origin", "open-mcp")["message"].as_str().unwrap().contains("OPTIONS /mcp"));
    for port in [strict, guarded, open] {
        assert_probed_without_work(port);
    }
    // The public one was not probed at all: only the ready probe reached it.
    let counts = counts(site);
    assert_eq!((counts["options"].as_u64(), counts["foreignHosts"].as_u64()), (Some(0), Some(0)), "{counts}");
}

#[test]
fn smoke_passes_a_guarded_server_and_skips_a_public_one() {
    let (fixture, _) = shapes(false);
    let (code, stdout, stderr) = run(&fixture, &["smoke", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let verdicts = lines(&stdout);
    let ids: Vec<&str> = verdicts.iter().map(|v| v["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "stack.ready",
            "strict.run",
            "strict.cross-origin",
            "strict.dns-rebinding",
            "site.run",
            "site.cross-origin",
            "site.dns-rebinding",
            "stack.stopped"
        ]
    );
    let message = |id: &str| verdicts.iter().find(|v| v["id"] == id).unwrap()["message"].as_str().unwrap().to_owned();
    assert!(message("strict.cross-origin").contains("was refused (403)"), "{stdout}");
    assert!(message("strict.dns-rebinding").contains("was refused (403)"), "{stdout}");
    assert!(message("site.cross-origin").starts_with("not probed: `public = true`"), "{stdout}");
    assert_eq!(fixture.survivors(), Vec::<i32>::new());
}

/// `public` only means something for the servers that are probed; the error names file and line.
#[test]
fn public_on_another_kind_is_an_error_with_its_place() {
    let fixture = Fixture::new("[services.web]\ncommand = \"true\"\npublic = true\n");
    let (code, _, stderr) = fixture.run(&["check"]);
    assert_eq!(code, 2, "{stderr}");
    let stderr = stderr.replace(&fixture.path().display().to_string(), "[DIR]");
    assert_eq!(
        stderr.trim_end(),
        "error: [DIR]/stack.toml:3:10: `services.web.public` is for services of kind `agui` or `mcp`\n\
         hint: only AG-UI and MCP servers are probed for foreign web pages; remove `public`"
    );
}

/// `check` and both exports read a stack with `public = true` like any other.
#[test]
fn check_and_export_take_public() {
    let (fixture, _) = shapes(true);
    let (code, _, stderr) = run(&fixture, &["check"]);
    assert_eq!(code, 0, "{stderr}");
    let (code, compose, stderr) = run(&fixture, &["export", "compose", "-o", "-"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(compose.contains("site:"), "{compose}");
    let k8s = fixture.file("k8s-out");
    let (code, _, stderr) = run(&fixture, &["export", "k8s", "-o", k8s.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(k8s.join("site.yaml").is_file(), "{stderr}");
}
