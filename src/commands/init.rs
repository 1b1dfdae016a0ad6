//! `agui-dev init`: a new project, or a stack file for the project already here.

use crate::cli::{Cli, InitArgs};
use crate::error::Result;

pub async fn run(cli: &Cli, args: &InitArgs) -> Result<()> {
    crate::init::run(cli, args).await
}
