//! `status`, `restart`, `stop`, `start`, `wait` and `down`: requests to the running stack.

use crate::cli::{Cli, RestartArgs, ServicesArgs, StatusArgs, WaitArgs};
use crate::control::requests;
use crate::error::Result;

pub async fn status(cli: &Cli, args: &StatusArgs) -> Result<()> {
    requests::status(cli, args).await
}

pub async fn restart(cli: &Cli, args: &RestartArgs) -> Result<()> {
    requests::restart(cli, args).await
}

pub async fn stop(cli: &Cli, args: &ServicesArgs) -> Result<()> {
    requests::stop(cli, args).await
}

pub async fn start(cli: &Cli, args: &ServicesArgs) -> Result<()> {
    requests::start(cli, args).await
}

pub async fn wait(cli: &Cli, args: &WaitArgs) -> Result<()> {
    requests::wait(cli, args).await
}

pub async fn down(cli: &Cli) -> Result<()> {
    requests::down(cli).await
}
