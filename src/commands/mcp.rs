//! `agui-dev mcp`: the MCP server on stdio for coding agents.

use crate::cli::{Cli, McpArgs};
use crate::error::Result;

pub async fn run(cli: &Cli, args: &McpArgs) -> Result<()> {
    crate::mcp_server::run(cli, args).await
}
