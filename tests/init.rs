//! `agui-dev init`: a new project installed and run from outside the repository, adopting a
//! project in the seed scaffold's layout, and refusing a folder that already has a stack file.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Fixture, WAIT, empty_fixture, free_port, http, move_ports, shared_venv};
use nix::sys::signal::Signal;

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The events of an AG-UI run against `port`.
fn agui_run(port: u16) -> String {
    let body = r#"{"threadId":"t1","runId":"r1","state":{},"messages":[{"id":"m1","role":"user","content":"hi"}],"tools":[],"context":[],"forwardedProps":{}}"#;
    let (status, _, text) = http(port, "POST", "/agent", &[("content-type", "application/json")], body);
    assert_eq!(status, 200, "{text}");
    text
}

/// `cargo install --locked --path . --root <tmp>`, then `init new-agent` and `up` from a folder
/// outside the repository, offline: an AG-UI run answers, Ctrl-C stops it, nothing is left.
///
/// The install is a debug one built in the repository's own target folder, so it reuses what the
/// test run already compiled (a cold release build in a folder of its own took 12 minutes); the
/// binary still lands outside the repository and runs from a folder outside it, where only what
/// it carries inside can help it.
#[test]
fn installed_binary_inits_and_runs_a_new_project_offline() {
    let root = tempfile::tempdir().unwrap();
    let repository = Path::new(env!("CARGO_MANIFEST_DIR"));
    let install = Command::new(env!("CARGO"))
        .args(["install", "--locked", "--offline", "--debug", "--path"])
        .arg(repository)
        .arg("--root")
        .arg(root.path())
        .env("CARGO_TARGET_DIR", repository.join("target"))
        .output()
        .unwrap();
    assert!(install.status.success(), "{}", String::from_utf8_lossy(&install.stderr));
    let bin: PathBuf = root.path().join("bin/agui-dev");
    assert!(bin.is_file());

    let fixture = empty_fixture();
    assert!(!bin.starts_with(repository) && !fixture.path().starts_with(repository), "run from outside the repository");
    let init = Command::new(&bin)
        .args(["init", "new-agent"])
        .current_dir(fixture.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&init.stderr);
    assert!(init.status.success(), "{stderr}");
    let project = fixture.path().join("new-agent");
    for file in
        ["stack.toml", ".env.example", ".gitignore", "README.md", "litellm/config.yaml", "litellm/requirements.txt"]
    {
        assert!(project.join(file).is_file(), "{file} missing; {stderr}");
    }
    assert!(
        project.join("mcp-server/package-lock.json").is_file() && project.join("agui-server/src/server.ts").is_file()
    );
    let ignore = std::fs::read_to_string(project.join(".gitignore")).unwrap();
    for entry in [".venv", ".agui-dev", "node_modules", ".env"] {
        assert!(ignore.lines().any(|l| l.trim_end_matches('/') == entry), "{entry} not ignored");
    }
    let (proxy, mcp, agui) = (free_port(), free_port(), free_port());
    move_ports(&project.join("stack.toml"), &[(4000, proxy), (3100, mcp), (3000, agui)]);

    let mut up = Command::new(&bin);
    up.arg("up").current_dir(&project).env("AGUI_TEST_MARKER", &fixture.marker).env("NO_COLOR", "1");
    for key in common::PROVIDER_KEYS {
        up.env_remove(key);
    }
    let mut running = fixture.spawn_command(up);
    // Set-up on a cold machine (venv + LiteLLM, npm ci twice) takes minutes.
    running.stderr.wait_for_within("`agui` is ready", Duration::from_mins(10));
    running.stderr.wait_for_within("`litellm` is ready", Duration::from_mins(3));
    let events = agui_run(agui);
    assert!(events.contains("RUN_STARTED") && events.contains("TEXT_MESSAGE_CONTENT"), "{events}");
    assert!(events.contains("RUN_FINISHED") && !events.contains("RUN_ERROR"), "{events}");
    running.signal(Signal::SIGINT);
    assert_eq!(running.wait(), 0, "{}", running.stderr.text());
    assert_eq!(fixture.wait_for_no_survivors(WAIT), Vec::<i32>::new());
    for port in [proxy, mcp, agui] {
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(), "port {port} still held");
    }
}

/// A project in the seed scaffold's layout: `start.sh`, `scripts/start-litellm.sh`, a pnpm
/// workspace with an AG-UI server and an MCP-UI server (plain `node:http`, no dependencies to
/// install; their package.json files declare the SDKs the scaffold uses), `.env.example` files.
fn scaffold_project(fixture: &Fixture) {
    let root = fixture.path();
    write(
        root,
        "package.json",
        r#"{"name":"seed-agent","private":true,"workspaces":["agui-server","mcpui-server"],"scripts":{"dev":"./start.sh"}}"#,
    );
    write(root, "pnpm-workspace.yaml", "packages:\n  - agui-server\n  - mcpui-server\n");
    write(root, "pnpm-lock.yaml", "lockfileVersion: '9.0'\n");
    write(root, ".env.example", "DEEPSEEK_API_KEY=your-api-key\n");
    write(
        root,
        "start.sh",
        "#!/bin/bash\nset -e\nSCRIPT_DIR=\"$(cd \"$(dirname \"${BASH_SOURCE[0]}\")\" && pwd)\"\ncd \"$SCRIPT_DIR\"\n\
         MCPUI_PORT=${MCPUI_PORT:-3100}\nAGUI_PORT=${AGUI_PORT:-3000}\nMCP_SERVER_URL=\"http://localhost:${MCPUI_PORT}/mcp\"\n\
         if ! command -v pnpm &> /dev/null; then\n  exit 1\nfi\ncd mcpui-server\npnpm run dev > ../logs/mcpui-server.log 2>&1 &\nMCPUI_PID=$!\ncd ..\n\
         for i in {1..30}; do\n  curl -s http://localhost:${MCPUI_PORT}/health > /dev/null && break\n  sleep 1\ndone\n\
         cd agui-server\nMCP_SERVER_URL=${MCP_SERVER_URL} pnpm run dev > ../logs/agui-server.log 2>&1 &\nAGUI_PID=$!\ncd ..\nwait $MCPUI_PID $AGUI_PID\n",
    );
    write(
        root,
        "scripts/start-litellm.sh",
        "#!/bin/bash\nSCRIPT_DIR=\"$(cd \"$(dirname \"$0\")\" && pwd)\"\nPROJECT_ROOT=\"$(cd \"$SCRIPT_DIR/..\" && pwd)\"\nVENV_PATH=\"$PROJECT_ROOT/.venv\"\n\
         source \"$VENV_PATH/bin/activate\"\nLITELLM_CMD=\"$VENV_PATH/bin/litellm\"\nif [ -z \"$DEEPSEEK_API_KEY\" ]; then\n  echo \"Error: Please set DEEPSEEK_API_KEY\"\n  exit 1\nfi\n\
         echo \"API Key: ${DEEPSEEK_API_KEY:0:10}...\"\nDEEPSEEK_API_KEY=\"$DEEPSEEK_API_KEY\" \"$LITELLM_CMD\" \\\n    --model deepseek/deepseek-chat \\\n    --port 4000\n",
    );
    write(
        root,
        "mcpui-server/package.json",
        r#"{"name":"mcpui-server","private":true,"type":"module","scripts":{"dev":"node src/server.js"},"dependencies":{"@mcp-ui/server":"5.12.0-alpha.5","@modelcontextprotocol/sdk":"^1.20.0"}}"#,
    );
    write(root, "mcpui-server/.env.example", "PORT=3100\nHOST=0.0.0.0\n");
    write(
        root,
        "mcpui-server/src/server.js",
        "import http from 'node:http';\nconst port = parseInt(process.env.PORT || '3100');\nconst host = process.env.HOST || '0.0.0.0';\n\
         http.createServer((req, res) => {\n  if (req.url === '/health') { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ status: 'ok', host })); return; }\n\
         res.statusCode = 404; res.end();\n}).listen(port, host, () => console.log(`mcpui listening on ${host}:${port}`));\n",
    );
    write(
        root,
        "agui-server/package.json",
        r#"{"name":"agui-server","private":true,"type":"module","scripts":{"dev":"node src/server.js"},"dependencies":{"@ag-ui/core":"^0.0.39","@ag-ui/encoder":"^0.0.39","@modelcontextprotocol/sdk":"^1.20.0"}}"#,
    );
    write(
        root,
        "agui-server/.env.example",
        "PORT=3000\nHOST=0.0.0.0\nLLM_PROVIDER=litellm\nLITELLM_ENDPOINT=http://localhost:4000/v1\nLITELLM_MODEL=deepseek-chat\n",
    );
    // The AG-UI server asks the proxy for one completion and streams it as AG-UI events; at start
    // it needs the MCP server (so it must start after it), as the scaffold's does.
    write(
        root,
        "agui-server/src/server.js",
        r"import http from 'node:http';
const port = parseInt(process.env.PORT || '3000');
const host = process.env.HOST || '0.0.0.0';
const mcp = process.env.MCP_SERVER_URL || 'http://localhost:3100/mcp';
const health = await fetch(mcp.replace(/\/mcp$/, '/health'));
if (!health.ok) { console.error('MCP server not ready'); process.exit(1); }
http.createServer(async (req, res) => {
  if (req.url === '/health') { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ status: 'ok', host })); return; }
  if (req.url !== '/agent' || req.method !== 'POST') { res.statusCode = 404; res.end(); return; }
  for await (const _ of req) { /* the run input is not needed */ }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const send = (event) => res.write(`data: ${JSON.stringify(event)}\n\n`);
  send({ type: 'RUN_STARTED', threadId: 't1', runId: 'r1' });
  const answer = await fetch(`${process.env.LITELLM_ENDPOINT}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${process.env.LITELLM_API_KEY}` },
    body: JSON.stringify({ model: process.env.LITELLM_MODEL, messages: [{ role: 'user', content: 'hi' }] }),
  }).then((r) => r.json());
  const text = answer?.choices?.[0]?.message?.content;
  if (!text) { send({ type: 'RUN_ERROR', message: JSON.stringify(answer) }); res.end(); return; }
  send({ type: 'TEXT_MESSAGE_START', messageId: 'm1', role: 'assistant' });
  send({ type: 'TEXT_MESSAGE_CONTENT', messageId: 'm1', delta: text });
  send({ type: 'TEXT_MESSAGE_END', messageId: 'm1' });
  send({ type: 'RUN_FINISHED', threadId: 't1', runId: 'r1' });
  res.end();
}).listen(port, host, () => console.log(`agui listening on ${host}:${port}`));
",
    );
    // Installed already, as after the scaffold's `pnpm install` (nothing here needs the registry).
    std::fs::create_dir_all(root.join("node_modules")).unwrap();
    std::fs::create_dir_all(root.join("agui-server/node_modules")).unwrap();
    std::fs::create_dir_all(root.join("mcpui-server/node_modules")).unwrap();
}

/// The files of a folder with their contents, to show that nothing was overwritten.
fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            } else if path.is_file() {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn adopts_the_scaffold_layout_with_ports_and_order_from_the_scripts() {
    let fixture = empty_fixture();
    scaffold_project(&fixture);
    let before = snapshot(fixture.path());

    let (code, stdout, stderr) = fixture.run(&["init", "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!fixture.file("stack.toml").exists(), "--dry-run wrote the stack file");
    assert_eq!(snapshot(fixture.path()), before);
    let stack: toml::Table = toml::from_str(&stdout).unwrap_or_else(|e| panic!("{e}\n{stdout}"));
    let services = stack["services"].as_table().unwrap();
    let kind = |name: &str| services[name]["kind"].as_str().unwrap().to_owned();
    let port = |name: &str| services[name]["port"].as_integer().unwrap();
    assert_eq!((kind("litellm"), kind("mcp"), kind("agui")), ("litellm".into(), "mcp".into(), "agui".into()));
    assert_eq!((port("litellm"), port("mcp"), port("agui")), (4000, 3100, 3000));
    assert_eq!(services["litellm"]["model"].as_str(), Some("deepseek/deepseek-chat"));
    assert_eq!(services["mcp"]["cwd"].as_str(), Some("mcpui-server"));
    assert_eq!(services["agui"]["depends_on"].as_array().unwrap()[0].as_str(), Some("mcp"));
    // Each value says where it came from: the scripts, by file and line.
    assert!(stdout.contains("start.sh:5 MCPUI_PORT"), "{stdout}");
    assert!(stdout.contains("start.sh:6 AGUI_PORT"), "{stdout}");
    assert!(stdout.contains("scripts/start-litellm.sh:12 --port"), "{stdout}");
    assert!(stdout.contains("then `agui` at start.sh:"), "{stdout}");
    assert!(stdout.contains("`mcpui-server/package.json` depends on `@mcp-ui/server`"), "{stdout}");
    assert!(stdout.contains("GET /health at mcpui-server/src/server.js:5"), "{stdout}");
    // The table names what was mapped and what not, with the line to fill in.
    assert!(stderr.contains("adopted `seed-agent` (3 services)"), "{stderr}");
    assert!(stderr.contains("`DEEPSEEK_API_KEY` (scripts/start-litellm.sh:7 needs it)"), "{stderr}");
    assert!(stderr.contains("DEEPSEEK_API_KEY=...   # in .env"), "{stderr}");

    let (code, _, stderr) = fixture.run(&["init"]);
    assert_eq!(code, 0, "{stderr}");
    let written = std::fs::read_to_string(fixture.file("stack.toml")).unwrap();
    assert_eq!(written, stdout);
    let after = snapshot(fixture.path());
    assert_eq!(after.len(), before.len() + 1, "only stack.toml is new");
    assert!(before.iter().all(|file| after.contains(file)), "a file was changed");

    let check = fixture.offline_command(&["check"]).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
    assert_eq!(check.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("start order: litellm, mcp, agui"), "{stdout}");
    assert!(stdout.contains("HOST=127.0.0.1"), "loopback by default: {stdout}");
    // The bare model runs offline from a generated config while its key is missing, and says so.
    assert!(stdout.contains("--config") && stdout.contains("litellm-offline-litellm.yaml"), "{stdout}");
    assert!(stdout.contains("`DEEPSEEK_API_KEY` is not set"), "{stdout}");
}

#[test]
fn an_adopted_scaffold_comes_up_on_loopback_and_answers_offline() {
    let fixture = empty_fixture();
    scaffold_project(&fixture);
    std::os::unix::fs::symlink(shared_venv(), fixture.file(".venv")).unwrap();
    let (code, _, stderr) = fixture.run(&["init"]);
    assert_eq!(code, 0, "{stderr}");
    let written = std::fs::read_to_string(fixture.file("stack.toml")).unwrap();
    assert!(written.contains("venv = \".venv\""), "{written}");
    let (proxy, mcp, agui) = (free_port(), free_port(), free_port());
    move_ports(&fixture.file("stack.toml"), &[(4000, proxy), (3100, mcp), (3000, agui)]);

    let mut running = fixture.spawn_command(fixture.offline_command(&["up"]));
    running.stderr.wait_for_within("`agui` is ready", Duration::from_mins(3));
    running.stderr.wait_for_within("`litellm` is ready", Duration::from_mins(3));
    let notes = running.stderr.text();
    assert!(notes.contains("`DEEPSEEK_API_KEY` is not set, so `deepseek/deepseek-chat`"), "{notes}");
    // The scaffold's servers default to 0.0.0.0; agui-dev gave them HOST=127.0.0.1.
    for port in [mcp, agui] {
        let (status, _, body) = http(port, "GET", "/health", &[], "");
        assert_eq!(status, 200);
        assert!(body.contains("\"host\":\"127.0.0.1\""), "{body}");
    }
    let (code, doctor, stderr) = fixture.run(&["doctor", "--json"]);
    assert!(
        doctor.contains("running.loopback") && doctor.contains("listens on loopback only"),
        "{code} {doctor}{stderr}"
    );
    let events = agui_run(agui);
    assert!(events.contains("[offline model]") && events.contains("RUN_FINISHED"), "{events}");
    running.signal(Signal::SIGINT);
    assert_eq!(running.wait(), 0, "{}", running.stderr.text());
    assert_eq!(fixture.wait_for_no_survivors(WAIT), Vec::<i32>::new());
}

#[test]
fn a_folder_with_a_stack_file_is_left_alone() {
    let fixture = Fixture::new("[services.a]\ncommand = \"true\"\n");
    let before = snapshot(fixture.path());
    let (code, stdout, stderr) = fixture.run(&["init"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("stack.toml` already exists; init wrote nothing"), "{stderr}");
    assert!(stdout.is_empty());
    assert_eq!(snapshot(fixture.path()), before);
    let (code, _, _) = fixture.run(&["init", "--dry-run"]);
    assert_eq!(code, 2);
}

#[test]
fn the_missing_stack_file_hint_leads_to_init_which_works_there() {
    let fixture = empty_fixture();
    scaffold_project(&fixture);
    let (code, _, stderr) = fixture.run(&["check"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("hint: run `agui-dev init` here"), "{stderr}");
    assert_eq!(fixture.run(&["init"]).0, 0);
    assert_eq!(fixture.run(&["check"]).0, 0);
}
