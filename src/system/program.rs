//! Finding a program the way `execvp` would, so a missing one is reported before spawning.

use std::path::{Path, PathBuf};

/// Finds a program from `cwd` with `path` as PATH: a name with a `/` is a path (relative to
/// `cwd`), any other name is looked up on PATH.
pub fn find(program: &str, cwd: &Path, path: Option<&str>) -> Option<PathBuf> {
    let executable = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let candidate = cwd.join(program);
        return executable(&candidate).then_some(candidate);
    }
    std::env::split_paths(path.unwrap_or_default()).map(|dir| cwd.join(dir).join(program)).find(|c| executable(c))
}

/// A program on agui-dev's own PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    find(program, &cwd, std::env::var("PATH").ok().as_deref())
}

/// `find`, with an error that says why.
pub fn resolve(program: &str, cwd: &Path, path: Option<&str>) -> Result<PathBuf, String> {
    find(program, cwd, path).ok_or_else(|| {
        if !program.contains('/') {
            format!("program `{program}` was not found on PATH")
        } else if cwd.join(program).exists() {
            format!("`{program}` is not executable")
        } else {
            format!("`{program}` does not exist (looked in `{}`)", cwd.display())
        }
    })
}
