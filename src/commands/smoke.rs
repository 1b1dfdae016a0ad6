//! `agui-dev smoke`: the CI stage.

use crate::cli::{Cli, SmokeArgs};
use crate::error::Result;

pub async fn run(cli: &Cli, args: &SmokeArgs) -> Result<()> {
    crate::smoke::run(cli, args).await
}
