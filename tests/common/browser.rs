//! Debian's Chromium and the pinned driver (tests/browser), for the tests that run a real browser.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

/// Debian's Chromium, installed on first use where this runs as root with apt (a fresh CI
/// machine); elsewhere the message says what to install.
pub fn chromium() -> String {
    let _installing = super::install_lock("chromium");
    let path = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    if std::path::Path::new(&path).exists() {
        return path;
    }
    let root = nix::unistd::getuid().is_root();
    assert!(root, "the browser tests need Debian's Chromium at {path}: `sudo apt-get install chromium`");
    for args in [&["update"][..], &["install", "-y", "--no-install-recommends", "chromium"]] {
        let status = Command::new("apt-get").args(args).env("DEBIAN_FRONTEND", "noninteractive").status().unwrap();
        assert!(status.success(), "apt-get {args:?} failed; install Debian's `chromium` package");
    }
    path
}

/// A script of tests/browser, with the pinned browser driver (package-lock.json) installed on
/// first use.
pub fn driver(script: &str) -> PathBuf {
    let dir = super::repo_root().join("tests/browser");
    super::npm_ci(&dir, "node_modules/playwright-core");
    dir.join(script)
}

/// Runs the console's driver (`console.mjs`) in Chromium against the console at `url` with
/// `args` (the scenarios), screenshots kept under target/console-screenshots; its steps (one JSON
/// object a line), once it succeeded. Its output goes to the test's stderr either way.
pub fn console_steps(url: &str, args: &[&str]) -> Vec<Value> {
    let chromium = chromium();
    let driver = driver("console.mjs");
    let screenshots = super::repo_root().join("target/console-screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    let output = Command::new("node")
        .arg(&driver)
        .arg(url)
        .arg(&screenshots)
        .args(args)
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let steps = String::from_utf8_lossy(&output.stdout).into_owned();
    eprintln!("{steps}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the browser steps failed:\n{steps}");
    let parse = |line: &str| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    steps.lines().filter(|l| l.starts_with('{')).map(parse).collect()
}
