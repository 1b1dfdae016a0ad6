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

/// Why `resolve` found no program to run.
#[derive(Debug, thiserror::Error)]
pub enum NotFound {
    #[error("program `{0}` was not found on PATH")]
    NotOnPath(String),
    #[error("`{0}` is not executable")]
    NotExecutable(String),
    #[error("`{program}` does not exist (looked in `{}`)", cwd.display())]
    Missing { program: String, cwd: PathBuf },
}

/// `find`, with an error that says why.
pub fn resolve(program: &str, cwd: &Path, path: Option<&str>) -> Result<PathBuf, NotFound> {
    find(program, cwd, path).ok_or_else(|| {
        if !program.contains('/') {
            NotFound::NotOnPath(program.to_owned())
        } else if cwd.join(program).exists() {
            NotFound::NotExecutable(program.to_owned())
        } else {
            NotFound::Missing { program: program.to_owned(), cwd: cwd.to_owned() }
        }
    })
}
