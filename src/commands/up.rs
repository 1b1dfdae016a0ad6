//! `agui-dev up`: the stack in the foreground, or, with `-d`, in a background agui-dev.

use crate::cli::{Cli, UpArgs};
use crate::error::Result;

pub async fn run(cli: &Cli, args: &UpArgs) -> Result<()> {
    // The background agui-dev runs this same command with `--detached-child`: in the foreground.
    if args.detach && !args.detached_child {
        crate::up::background(cli, args).await
    } else {
        crate::up::foreground(cli, args).await
    }
}
