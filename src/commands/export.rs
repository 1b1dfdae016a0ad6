//! `agui-dev export compose|k8s`: the stack for Docker Compose or Kubernetes.

use crate::cli::{Cli, ComposeArgs, ExportArgs, ExportTarget};
use crate::error::Result;

pub async fn run(cli: &Cli, args: &ExportArgs) -> Result<()> {
    // `export --check` is `export compose --check` (clap keeps the flag and a target apart).
    let checked = ExportTarget::Compose(ComposeArgs::checked());
    crate::export::run(cli, args.target.as_ref().unwrap_or(&checked)).await
}
