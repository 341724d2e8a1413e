//! `connect-standalone` and `connect-distributed` (connect-standalone.sh,
//! connect-distributed.sh): read the worker's properties, start the
//! runtime in `connect`, stop cleanly on SIGINT/SIGTERM.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::config::Properties;
use crate::connect::worker::WorkerConfig;

#[derive(Debug, Args)]
pub struct ConnectStandaloneArgs {
    /// The worker's properties (config/connect-standalone.properties).
    pub worker_config: PathBuf,
    /// Connector configs: .properties files, or .json files holding
    /// `{"name":...,"config":{...}}` or a flat object.
    pub connector_configs: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ConnectDistributedArgs {
    /// The worker's properties (config/connect-distributed.properties).
    pub worker_config: PathBuf,
}

fn worker_config(path: &Path) -> anyhow::Result<WorkerConfig> {
    let props = Properties::load(path)?;
    if props.get("plugin.path").is_some() {
        tracing::info!("plugin.path is accepted; the file connectors and converters are built in");
    }
    Ok(WorkerConfig::from_properties(&props)?)
}

/// A connector config file: Java properties, or JSON as Kafka 3.x accepts.
fn connector_config(path: &Path) -> anyhow::Result<Properties> {
    if path.extension().is_some_and(|e| e == "json") {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?;
        let mut props = Properties::new();
        let config = v.get("config").unwrap_or(&v);
        if let Some(name) = v.get("name").and_then(|n| n.as_str()) {
            props.set("name", name);
        }
        for (k, v) in config.as_object().into_iter().flatten() {
            let s = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
            props.set(k.as_str(), s);
        }
        return Ok(props);
    }
    Ok(Properties::load(path)?)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kafka-rs-connect")
        .build()?)
}

pub fn standalone(args: ConnectStandaloneArgs) -> anyhow::Result<()> {
    super::init_stderr_logging();
    let config = worker_config(&args.worker_config)?;
    let mut connectors = Vec::new();
    for path in &args.connector_configs {
        match connector_config(path) {
            Ok(p) => connectors.push((path.clone(), p)),
            // One bad file must not stop the others.
            Err(e) => tracing::error!("Failed to create connector for {}: {e:#}", path.display()),
        }
    }
    runtime()?.block_on(crate::connect::standalone::run(
        config,
        connectors,
        super::server_start::shutdown_signal(),
    ))?;
    Ok(())
}

pub fn distributed(args: ConnectDistributedArgs) -> anyhow::Result<()> {
    super::init_stderr_logging();
    let config = worker_config(&args.worker_config)?;
    runtime()?.block_on(crate::connect::distributed::run(
        config,
        super::server_start::shutdown_signal(),
    ))?;
    Ok(())
}
