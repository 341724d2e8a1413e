//! `connect-standalone`: one worker that owns every connector, with source
//! offsets in `offset.storage.file.filename` and connectors from the
//! properties files on its command line (and any added over REST, kept in
//! memory as Kafka's standalone mode does).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Mutex;

use super::error::{Error, Result};
use super::herder::{Herder, State};
use super::offsets::OffsetStore;
use super::plugins::Config;
use super::tasks::TaskEnv;
use super::worker::{self, WorkerConfig};
use crate::config::Properties;

pub async fn run(
    config: WorkerConfig,
    connectors: Vec<(PathBuf, Properties)>,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let offsets_file = PathBuf::from(config.required("offset.storage.file.filename")?);
    let (cluster, cluster_id) = worker::connect(&config, "connect-standalone").await?;
    let offsets = Arc::new(OffsetStore::open_file(offsets_file).await?);
    let listener = worker::bind(&config).await?;
    let env = Arc::new(TaskEnv {
        cluster,
        worker_config: config.props.clone(),
        offsets,
        flush_interval: config.flush_interval,
    });
    let herder = Arc::new(Herder {
        worker_id: config.worker_id.clone(),
        shared: None,
        env,
        kafka_cluster_id: cluster_id,
        state: Mutex::new(State::new(true)),
        status_listener: None,
        shutdown_timeout: config.shutdown_timeout,
    });
    for (path, props) in connectors {
        let config: Config = props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let Some(name) = config.get("name").cloned() else {
            tracing::error!("Failed to create connector for {}: it has no name", path.display());
            continue;
        };
        match herder.put_connector(&name, config, true).await {
            Ok(_) => tracing::info!("Created connector {name}"),
            Err(e) => tracing::error!(
                "Failed to create connector for {}: {}",
                path.display(),
                one_line(&e)
            ),
        }
    }
    worker::serve(herder, listener, shutdown).await;
    Ok(())
}

fn one_line(e: &Error) -> String {
    e.to_string().replace('\n', " ")
}
