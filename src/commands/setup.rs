//! `agui-dev setup`: the venv and the services' node modules.

use crate::cli::Cli;
use crate::error::Result;

pub async fn run(cli: &Cli) -> Result<()> {
    crate::setup::run(cli).await
}
