//! `agui-dev doctor`: being written (issue 4).

use crate::cli::Cli;
use crate::error::{Error, Result};

#[allow(clippy::unused_async, reason = "the command layer awaits every command")]
pub async fn run(_cli: &Cli, _json: bool, _online: bool) -> Result<()> {
    Err(Error::usage("`doctor` is not available in this build"))
}
