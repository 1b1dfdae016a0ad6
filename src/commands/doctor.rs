//! `agui-dev doctor`: every check, with a fix for each problem.

use crate::cli::{Cli, DoctorArgs};
use crate::error::Result;

pub async fn run(cli: &Cli, args: &DoctorArgs) -> Result<()> {
    crate::doctor::run(cli, args).await
}
