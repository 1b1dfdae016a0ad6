//! Doctor's `venv` area: the litellm service's virtual environment, read without running
//! anything from it except `python -c pass` (and not even that when a compromised release or its
//! start-up hook is there: the hook would run).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use crate::diagnosis::{Area, CheckId, Diagnosis};
use crate::kinds::litellm::{advisories, venv};
use crate::kinds::versions;
use crate::system::reaper::Reaper;
use crate::system::run::stdout_of;

/// What the proxy extra (`litellm[proxy]`) brings that the proxy imports at start-up.
const PROXY_EXTRA: &[&str] = &["fastapi", "uvicorn", "backoff", "orjson", "pyyaml"];

pub const VENV_EXISTS: CheckId = CheckId::new(Area::Venv, "venv.exists");
pub const VENV_INIT_HOOK: CheckId = CheckId::new(Area::Venv, "venv.init_hook");
pub const VENV_LITELLM: CheckId = CheckId::new(Area::Venv, "venv.litellm");
pub const VENV_COMPROMISED: CheckId = CheckId::new(Area::Venv, "venv.compromised");
pub const VENV_ADVISORIES: CheckId = CheckId::new(Area::Venv, "venv.advisories");
pub const VENV_PROXY_EXTRA: CheckId = CheckId::new(Area::Venv, "venv.proxy_extra");
pub const VENV_BYTECODE: CheckId = CheckId::new(Area::Venv, "venv.bytecode");
pub const VENV_PYTHON: CheckId = CheckId::new(Area::Venv, "venv.python");
pub const VENV_PYTHON_VERSION: CheckId = CheckId::new(Area::Venv, "venv.python_version");
pub const VENV_ENTRY_POINT: CheckId = CheckId::new(Area::Venv, "venv.entry_point");

/// Every id this file makes.
pub const IDS: &[CheckId] = &[
    VENV_EXISTS,
    VENV_INIT_HOOK,
    VENV_LITELLM,
    VENV_COMPROMISED,
    VENV_ADVISORIES,
    VENV_PROXY_EXTRA,
    VENV_BYTECODE,
    VENV_PYTHON,
    VENV_PYTHON_VERSION,
    VENV_ENTRY_POINT,
];

pub async fn check(
    found: &mut Diagnosis,
    reaper: &Reaper,
    name: &str,
    venv_dir: &Path,
    env: &BTreeMap<String, String>,
) {
    let subject = Some(name);
    let shown = venv_dir.display();
    let create = format!(
        "run `agui-dev setup`, or `python3 -m venv {shown} && {shown}/bin/pip install 'litellm[proxy]'` (quote the brackets in zsh)"
    );
    if !venv_dir.is_dir() {
        found.fail(VENV_EXISTS, subject, format!("the venv `{shown}` does not exist"), create);
        return;
    }
    found.ok(VENV_EXISTS, subject, format!("the venv `{shown}` exists"));

    let clean = check_init_hooks(found, subject, venv_dir);

    let dist = venv::distribution(venv_dir, "litellm");
    let compromised = dist.as_ref().and_then(|d| advisories::compromised(&d.version));
    check_python(found, reaper, subject, venv_dir, &create, clean && compromised.is_none()).await;

    let Some(dist) = dist else {
        found.fail(
            VENV_LITELLM,
            subject,
            format!("litellm is not installed in `{shown}`"),
            format!("`{shown}/bin/pip install 'litellm[proxy]'` (quote the brackets in zsh), or `agui-dev setup`"),
        );
        return;
    };
    found.ok(VENV_LITELLM, subject, format!("litellm {} is installed", dist.version));
    if let Some(advisory) = compromised {
        found.fail(
            VENV_COMPROMISED,
            subject,
            format!("litellm {} is a malicious release ({}: {})", dist.version, advisory.name(), advisory.summary),
            format!(
                "delete `{shown}` and recreate it with a safe version (`agui-dev setup`); rotate every key this machine holds"
            ),
        );
    } else {
        found.ok(VENV_COMPROMISED, subject, format!("litellm {} is not a known malicious release", dist.version));
        check_advisories(found, subject, venv_dir, &dist.version);
    }

    check_python_version(found, subject, venv_dir, dist.requires_python.as_deref());
    check_entry_point(found, subject, venv_dir);

    check_proxy_extra(found, subject, venv_dir, &dist.version);
    check_bytecode(found, subject, venv_dir, &dist.dist_info, env);
}

/// A stray start-up hook runs on every Python start, even after litellm is uninstalled; returns
/// whether there is none.
fn check_init_hooks(found: &mut Diagnosis, subject: Option<&str>, venv_dir: &Path) -> bool {
    let shown = venv_dir.display();
    let hooks = venv::stray_init_hooks(venv_dir);
    for hook in &hooks {
        found.fail(
            VENV_INIT_HOOK,
            subject,
            format!("`{}` is present: the hook of the malicious litellm 1.82.8, which runs on every Python start", hook.display()),
            format!(
                "delete `{shown}` and recreate it with a safe litellm (`agui-dev setup`); rotate every key this machine holds (OSV MAL-2026-2144)"
            ),
        );
    }
    if hooks.is_empty() {
        found.ok(VENV_INIT_HOOK, subject, "no `litellm_init.pth` start-up hook in site-packages");
    }

    hooks.is_empty()
}

/// The proxy's extra packages (`litellm[proxy]`).
fn check_proxy_extra(found: &mut Diagnosis, subject: Option<&str>, venv_dir: &Path, version: &str) {
    let shown = venv_dir.display();
    let missing: Vec<&str> =
        PROXY_EXTRA.iter().copied().filter(|name| venv::distribution(venv_dir, name).is_none()).collect();
    if missing.is_empty() {
        found.ok(VENV_PROXY_EXTRA, subject, format!("the proxy extra is installed ({})", PROXY_EXTRA.join(", ")));
    } else {
        found.fail(
            VENV_PROXY_EXTRA,
            subject,
            format!(
                "the proxy extra is missing: {} (the proxy fails with `No module named …`)",
                missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
            ),
            format!("`{shown}/bin/pip install 'litellm[proxy]=={version}'` (quote it: zsh reads the brackets)"),
        );
    }
}

/// litellm without its bytecode compiles on every start when Python may not write it.
fn check_bytecode(
    found: &mut Diagnosis,
    subject: Option<&str>,
    venv_dir: &Path,
    dist_info: &Path,
    env: &BTreeMap<String, String>,
) {
    let shown = venv_dir.display();
    let package = dist_info.parent().map(|site| site.join("litellm"));
    match package {
        Some(package) if package.is_dir() && !package.join("__pycache__").is_dir() => {
            let dont_write = env.get("PYTHONDONTWRITEBYTECODE").is_some_and(|v| !v.is_empty());
            let why = if dont_write {
                "and `PYTHONDONTWRITEBYTECODE` is set, so every start recompiles it (about 10 s instead of 6 s)"
            } else {
                "so the first start compiles it (slow)"
            };
            found.warn(
                VENV_BYTECODE,
                subject,
                format!("litellm has no compiled bytecode (`__pycache__`) {why}"),
                format!("`{shown}/bin/python -m compileall -q {}`", package.display()),
            );
        }
        _ => found.ok(VENV_BYTECODE, subject, "litellm's bytecode is compiled"),
    }
}

async fn check_python(
    found: &mut Diagnosis,
    reaper: &Reaper,
    subject: Option<&str>,
    venv_dir: &Path,
    create: &str,
    may_run: bool,
) {
    let python = venv_dir.join("bin/python");
    let executable = std::fs::metadata(&python).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if !executable {
        let why = if python.symlink_metadata().is_ok() {
            "is a broken link or not executable (was the Python it was made from removed or upgraded?)"
        } else {
            "does not exist"
        };
        found.fail(
            VENV_PYTHON,
            subject,
            format!("`{}` {why}", python.display()),
            format!("recreate the venv: delete `{}`, then {create}", venv_dir.display()),
        );
        return;
    }
    if !may_run {
        found.warn(
            VENV_PYTHON,
            subject,
            format!("`{}` was not run: a compromised litellm would run its hook", python.display()),
            "fix the `venv.compromised` / `venv.init_hook` failures first",
        );
        return;
    }
    match stdout_of(reaper, &python, &["-c", "pass"], Duration::from_secs(5)).await {
        Ok(_) => found.ok(VENV_PYTHON, subject, format!("`{}` runs", python.display())),
        Err(error) => found.fail(
            VENV_PYTHON,
            subject,
            format!("`{} -c pass` failed: {error}", python.display()),
            format!("recreate the venv: delete `{}`, then {create}", venv_dir.display()),
        ),
    }
}

/// Each vulnerability advisory the installed release falls under: a warning naming it and the
/// first fixed release of its line.
fn check_advisories(found: &mut Diagnosis, subject: Option<&str>, venv_dir: &Path, version: &str) {
    let affecting = advisories::vulnerable(version);
    for advisory in &affecting {
        let fixed = advisory.fixed_for(version).unwrap_or("a later release");
        found.warn(
            VENV_ADVISORIES,
            subject,
            format!("litellm {version} is affected by {}: {}; fixed in {fixed}", advisory.name(), advisory.summary),
            format!(
                "`{}/bin/pip install 'litellm[proxy]>={fixed}'` (quote it in zsh), or `agui-dev setup` with the template's \
                 pin (templates/litellm/requirements.txt, clear of every known advisory); details: {}",
                venv_dir.display(),
                advisory.source.first().map_or("templates/litellm/README.md", String::as_str)
            ),
        );
    }
    if affecting.is_empty() {
        let known = advisories::all().len();
        found.ok(
            VENV_ADVISORIES,
            subject,
            format!("litellm {version} is in none of the {known} known advisories' ranges"),
        );
    }
}

fn check_python_version(found: &mut Diagnosis, subject: Option<&str>, venv_dir: &Path, requires: Option<&str>) {
    let (Some(version), Some(requires)) = (venv::python_version(venv_dir), requires) else {
        return;
    };
    match versions::satisfies(&version, requires) {
        Some(false) => found.fail(
            VENV_PYTHON_VERSION,
            subject,
            format!("the venv's Python {version} is outside litellm's `Requires-Python: {requires}`"),
            format!("recreate `{}` with a supported Python, e.g. `python3.12 -m venv`", venv_dir.display()),
        ),
        _ => found.ok(VENV_PYTHON_VERSION, subject, format!("Python {version} satisfies `{requires}`")),
    }
}

fn check_entry_point(found: &mut Diagnosis, subject: Option<&str>, venv_dir: &Path) {
    let entry = venv_dir.join("bin/litellm");
    let Ok(head) = std::fs::read(&entry) else {
        found.fail(
            VENV_ENTRY_POINT,
            subject,
            format!("`{}` does not exist", entry.display()),
            format!("`{}/bin/pip install --force-reinstall --no-deps litellm`", venv_dir.display()),
        );
        return;
    };
    let head = String::from_utf8_lossy(&head[..head.len().min(512)]).into_owned();
    let interpreter = interpreter_of(&head);
    let bin = venv_dir.join("bin").canonicalize().ok();
    let inside = interpreter
        .as_deref()
        .and_then(|i| Path::new(i).parent().and_then(|p| p.canonicalize().ok()))
        .is_some_and(|dir| Some(dir) == bin);
    match interpreter {
        Some(interpreter) if !inside => found.fail(
            VENV_ENTRY_POINT,
            subject,
            format!("`{}` runs `{interpreter}`, a Python outside the venv", entry.display()),
            format!(
                "the venv was moved or copied; recreate it, or `{}/bin/pip install --force-reinstall --no-deps litellm`",
                venv_dir.display()
            ),
        ),
        _ => found.ok(VENV_ENTRY_POINT, subject, format!("`{}` uses the venv's Python", entry.display())),
    }
}

/// The interpreter of a script: `#!/path/python`, or the `exec` line of pip's and uv's
/// `/bin/sh` trampoline for long paths.
fn interpreter_of(head: &str) -> Option<String> {
    let first = head.lines().next()?.strip_prefix("#!")?.trim();
    let program = first.split_whitespace().next()?;
    if program.contains("python") {
        return Some(program.to_owned());
    }
    head.lines().skip(1).take(3).find_map(|line| {
        let start = line.find("exec")?;
        let rest = &line[start..];
        let quoted = rest.split('"').nth(1)?;
        quoted.contains("python").then(|| quoted.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs() {
        assert_eq!(interpreter_of("#!/v/bin/python\nimport x"), Some("/v/bin/python".to_owned()));
        let trampoline = "#!/bin/sh\n'''exec' \"/long/v/bin/python\" \"$0\" \"$@\"\n' '''\n";
        assert_eq!(interpreter_of(trampoline), Some("/long/v/bin/python".to_owned()));
    }
}
