//! `agui-dev chat`: talk to the stack's AG-UI server.

use crate::cli::{ChatArgs, Cli};
use crate::error::Result;

pub async fn run(cli: &Cli, args: &ChatArgs) -> Result<()> {
    crate::chat::run(cli, args).await
}
