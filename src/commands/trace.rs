//! `trace`: a traced run of the running stack, as a waterfall or JSON, or the list of kept traces.

use crate::cli::{Cli, TraceArgs};
use crate::control::requests;
use crate::error::Result;

pub async fn run(cli: &Cli, args: &TraceArgs) -> Result<()> {
    requests::trace(cli, args).await
}
