//! `agui-dev export compose|k8s`: the stack for Docker Compose or Kubernetes.

use crate::cli::{Cli, ExportTarget};
use crate::error::Result;

pub async fn run(cli: &Cli, target: &ExportTarget) -> Result<()> {
    crate::export::run(cli, target).await
}
