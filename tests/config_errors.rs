#![allow(clippy::unwrap_used)]

//! Each configuration error, with its exact message pinned: file, line, column, key and hint.

mod common;

use common::Fixture;

/// Runs `check` on `toml` and returns stderr with the temp dir's path replaced by `[DIR]`.
fn check_error(toml: &str) -> String {
    let fixture = Fixture::new(toml);
    let (code, stdout, stderr) = fixture.run(&["check"]);
    assert_eq!(code, 2, "stdout: {stdout}\nstderr: {stderr}");
    let dir = fixture.path().display().to_string();
    stderr.replace(&dir, "[DIR]").trim_end().to_owned()
}

#[test]
fn unknown_key_names_the_table_and_the_nearest_key() {
    let stderr = check_error("[services.web]\ncommand = \"true\"\nprot = 3000\n");
    assert_eq!(stderr, "error: [DIR]/stack.toml:3:1: unknown key `prot` in `services.web`\nhint: did you mean `port`?");
}

#[test]
fn unknown_key_in_an_inline_ready_table() {
    let stderr = check_error("[services.web]\ncommand = \"true\"\nready = { htp = \"http://127.0.0.1:1/\" }\n");
    assert_eq!(
        stderr,
        "error: [DIR]/stack.toml:3:11: unknown key `htp` in `services.web.ready`\nhint: did you mean `http`?"
    );
}

#[test]
fn unknown_top_level_table() {
    let stderr = check_error("[service.web]\ncommand = \"true\"\n");
    assert_eq!(
        stderr,
        "error: [DIR]/stack.toml:1:2: unknown key `service` in `(top level)`\nhint: did you mean `services`?"
    );
}

#[test]
fn depends_on_a_service_that_does_not_exist() {
    let stderr = check_error(
        "[services.api]\ncommand = \"true\"\n\n[services.web]\ncommand = \"true\"\ndepends_on = [\"apj\"]\n",
    );
    assert_eq!(
        stderr,
        "error: [DIR]/stack.toml:6:15: `services.web.depends_on` names `apj`, which is not a service\nhint: did you mean `api`?"
    );
}

#[test]
fn dependency_cycle_is_spelled_out() {
    let stderr = check_error(
        "[services.a]\ncommand = \"true\"\ndepends_on = [\"b\"]\n\n[services.b]\ncommand = \"true\"\ndepends_on = [\"c\"]\n\n[services.c]\ncommand = \"true\"\ndepends_on = [\"a\"]\n",
    );
    assert_eq!(
        stderr,
        "error: [DIR]/stack.toml:11:15: dependency cycle: `a` -> `b` -> `c` -> `a`\nhint: remove one of these `depends_on` entries; a service cannot wait for itself"
    );
}

#[test]
fn two_services_on_one_port() {
    let stderr =
        check_error("[services.a]\ncommand = \"true\"\nport = 3000\n\n[services.b]\ncommand = \"true\"\nport = 3000\n");
    assert_eq!(
        stderr,
        "error: [DIR]/stack.toml:7:8: port 3000 is used by both `a` and `b`\nhint: give each service its own port, or write `port = \"auto\"`"
    );
}

#[test]
fn ready_table_without_a_probe() {
    let stderr = check_error("[services.a]\ncommand = \"true\"\nready = { timeout = \"5s\" }\n");
    assert_eq!(
        stderr,
        "error: [DIR]/stack.toml:3:9: `services.a.ready` has no probe\nhint: set exactly one of `http`, `tcp`, `exec` or `log`"
    );
}

#[test]
fn ready_table_with_two_probes() {
    let stderr = check_error(
        "[services.a]\ncommand = \"true\"\n[services.a.ready]\nhttp = \"http://127.0.0.1:1/\"\ntcp = \"127.0.0.1:1\"\n",
    );
    assert_eq!(
        stderr,
        "error: [DIR]/stack.toml:3:1: `services.a.ready` has 2 probes (`http`, `tcp`)\nhint: set exactly one of `http`, `tcp`, `exec` or `log`"
    );
}

#[test]
fn unparsable_duration() {
    let stderr = check_error("[services.a]\ncommand = \"true\"\nstop_grace = \"5 sex\"\n");
    assert_eq!(
        stderr,
        "error: [DIR]/stack.toml:3:14: invalid duration `5 sex` (in `services.a.stop_grace`)\nhint: write a duration like \"250ms\", \"5s\" or \"2m\""
    );
}

#[test]
fn unknown_signal() {
    let stderr = check_error("[services.a]\ncommand = \"true\"\nstop_signal = \"SIGSTOPP\"\n");
    assert_eq!(
        stderr,
        "error: [DIR]/stack.toml:3:15: unknown signal `SIGSTOPP` (in `services.a.stop_signal`)\nhint: use a signal name such as \"SIGTERM\", \"SIGINT\", \"SIGQUIT\" or \"SIGHUP\""
    );
}

#[test]
fn unknown_restart_policy_suggests_the_nearest() {
    let stderr = check_error("[services.a]\ncommand = \"true\"\nrestart = \"on_failure\"\n");
    assert_eq!(
        stderr,
        "error: [DIR]/stack.toml:3:11: unknown value `on_failure` for `services.a.restart`\nhint: did you mean `on-failure`?"
    );
}

#[test]
fn unset_variable_without_default() {
    let stderr = check_error("[services.a]\ncommand = \"true\"\nenv = { URL = \"${AGUI_TEST_SURELY_UNSET}\" }\n");
    assert_eq!(
        stderr,
        "error: [DIR]/stack.toml:3:15: `${AGUI_TEST_SURELY_UNSET}` is not set\nhint: export `AGUI_TEST_SURELY_UNSET`, add it to an env file, or write `${AGUI_TEST_SURELY_UNSET:-default}`"
    );
}

#[test]
fn missing_command() {
    let stderr = check_error("[services.a]\nport = 3000\n");
    assert_eq!(
        stderr,
        "error: [DIR]/stack.toml:1:1: service `a` has no `command`\nhint: add `command = \"...\"`, e.g. `command = \"npm run dev\"`"
    );
}

#[test]
fn toml_syntax_error_is_located() {
    let stderr = check_error("[services.a]\ncommand = \"true\nport = 3000\n");
    assert!(stderr.starts_with("error: [DIR]/stack.toml:2:"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
}

#[test]
fn no_stack_file_anywhere() {
    let fixture = Fixture::new("");
    std::fs::remove_file(fixture.file("stack.toml")).unwrap();
    let (code, _, stderr) = fixture.run(&["check"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no `stack.toml` in"), "{stderr}");
    // The hint leads to `init`, which exists (tests/init.rs runs it in such a folder).
    assert!(stderr.contains("hint: run `agui-dev init` here"), "{stderr}");
}

#[test]
fn unknown_service_on_the_command_line() {
    let fixture = Fixture::new("[services.api]\ncommand = \"true\"\n");
    let (code, _, stderr) = fixture.run(&["up", "apu"]);
    assert_eq!(code, 2);
    assert_eq!(stderr.trim_end(), "error: there is no service `apu`\nhint: did you mean `api`?");
}
