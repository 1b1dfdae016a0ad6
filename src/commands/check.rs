//! `agui-dev check`: validate the stack file and print the resolved plan with secrets masked.

use crate::cli::Cli;
use crate::error::Result;
use crate::{plan, session};

pub async fn run(cli: &Cli) -> Result<()> {
    let stack = session::load_stack(cli)?;
    let plan = plan::build(&stack, &[])?;
    session::print_data(cli, &plan.describe(&stack.missing_env_files), plan.secrets.clone()).await
}
