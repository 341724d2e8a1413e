//! `kafka-rs zookeeper-start [zookeeper.properties]`: runs the
//! ZooKeeper-compatible server in the foreground until SIGTERM or Ctrl-C,
//! like bin/zookeeper-server-start.sh.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::config::Properties;
use crate::zk;

#[derive(Debug, Args)]
pub struct ZookeeperStartArgs {
    /// A zoo.cfg / zookeeper.properties file (dataDir, clientPort, tickTime, ...).
    pub config: Option<PathBuf>,
}

pub fn run(args: ZookeeperStartArgs) -> anyhow::Result<()> {
    super::init_stderr_logging();
    let props = match &args.config {
        Some(p) => Properties::load(p)?,
        None => Properties::new(),
    };
    let mut config = zk::Config::from_properties(&props)?;
    config.release_startup_pages = true;
    let host = config.client_port_address.clone().unwrap_or_else(|| "0.0.0.0".to_string());
    let addr = format!("{host}:{}", config.client_port);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("zk")
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        zk::run(listener, config, shutdown_signal()).await?;
        Ok(())
    })
}

/// SIGTERM (zookeeper-stop, kill) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
