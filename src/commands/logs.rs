//! `agui-dev logs`: the services' logs, read from the files `up` writes.

use crate::cli::{Cli, LogsArgs};
use crate::error::Result;

pub async fn run(cli: &Cli, args: &LogsArgs) -> Result<()> {
    crate::control::logs::show(cli, args).await
}
