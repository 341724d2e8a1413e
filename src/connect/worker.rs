//! The worker's settings (Kafka's `WorkerConfig` keys and defaults) and
//! what standalone and distributed workers share: connecting to the
//! cluster, binding the REST listener, serving it, stopping cleanly.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use super::error::{Error, Result};
use super::herder::Herder;
use super::plugins::Config;
use crate::client::{ClientConfig, Cluster};
use crate::config::Properties;

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Every key as given, for converters and `producer.`/`consumer.` settings.
    pub props: Config,
    pub bootstrap_servers: String,
    /// Where the REST server binds.
    pub listen_host: String,
    pub listen_port: u16,
    /// How this worker names itself in statuses and to the other workers.
    pub worker_id: String,
    pub rest_url: String,
    /// `offset.flush.interval.ms`.
    pub flush_interval: Duration,
    /// `task.shutdown.graceful.timeout.ms`.
    pub shutdown_timeout: Duration,
}

fn ms(props: &Properties, key: &str, default: u64) -> Result<Duration> {
    props
        .parse_or(key, default)
        .map(Duration::from_millis)
        .map_err(|e| Error::Config(e.to_string()))
}

impl WorkerConfig {
    pub fn from_properties(props: &Properties) -> Result<Self> {
        let mut map: Config = props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        // Kafka's defaults for the two converters.
        for k in ["key.converter", "value.converter"] {
            map.entry(k.to_string())
                .or_insert_with(|| super::converter::JSON_CONVERTER.to_string());
        }
        let listeners = props.get("listeners").unwrap_or("http://:8083");
        let first =
            listeners.split(',').map(str::trim).find(|l| !l.is_empty()).unwrap_or("http://:8083");
        let (scheme, rest) = first.split_once("://").ok_or_else(|| {
            Error::Config(format!(
                "Invalid value {listeners} for configuration listeners: expected http://host:port"
            ))
        })?;
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(Error::Config(format!(
                "Invalid value {listeners} for configuration listeners: only http listeners are supported"
            )));
        }
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| {
            Error::Config(format!("Invalid value {listeners} for configuration listeners: no port"))
        })?;
        let port: u16 = port.trim_end_matches('/').parse().map_err(|_| {
            Error::Config(format!(
                "Invalid value {listeners} for configuration listeners: bad port"
            ))
        })?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let advertised_host = props
            .get("rest.advertised.host.name")
            .map(str::to_string)
            .unwrap_or_else(|| match host.as_str() {
                "" | "0.0.0.0" | "::" => "localhost".to_string(),
                h => h.to_string(),
            });
        let advertised_port: u16 = props
            .parse_or("rest.advertised.port", port)
            .map_err(|e| Error::Config(e.to_string()))?;
        let worker_id = format!("{advertised_host}:{advertised_port}");
        Ok(WorkerConfig {
            bootstrap_servers: props
                .get("bootstrap.servers")
                .unwrap_or("localhost:9092")
                .to_string(),
            listen_host: if host.is_empty() { "0.0.0.0".into() } else { host },
            listen_port: port,
            rest_url: format!("http://{worker_id}/"),
            worker_id,
            flush_interval: ms(props, "offset.flush.interval.ms", 60_000)?,
            shutdown_timeout: ms(props, "task.shutdown.graceful.timeout.ms", 5_000)?,
            props: map,
        })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.props.get(key).map(String::as_str)
    }

    pub fn required(&self, key: &str) -> Result<&str> {
        self.get(key).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
            Error::Config(format!(
                "Missing required configuration \"{key}\" which has no default value."
            ))
        })
    }
}

/// Connects to the cluster the way Kafka's worker does at start (it looks
/// up the cluster id), so an unreachable broker is one clear error.
pub async fn connect(config: &WorkerConfig, client_id: &str) -> Result<(Arc<Cluster>, String)> {
    let mut client = ClientConfig::new(&config.bootstrap_servers, client_id)?;
    client.request_timeout = Duration::from_secs(20);
    let cluster = Cluster::connect(client).await.map_err(|e| {
        Error::Config(format!(
            "Failed to connect to and describe Kafka cluster at {}: {e}",
            config.bootstrap_servers
        ))
    })?;
    let md = cluster.refresh(Some(&[]), false).await?;
    let id = md.cluster_id.unwrap_or_default();
    tracing::info!("Kafka cluster ID: {id}");
    Ok((cluster, id))
}

pub async fn bind(config: &WorkerConfig) -> Result<TcpListener> {
    let addr = format!("{}:{}", config.listen_host, config.listen_port);
    TcpListener::bind(&addr)
        .await
        .map_err(|e| Error::io(format!("Unable to bind the REST listener to {addr}"), e))
}

/// Serves the REST API until `shutdown`, then stops every task (each
/// commits its offsets first).
pub async fn serve(herder: Arc<Herder>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
    let local = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let h = herder.clone();
    let server =
        tokio::spawn(crate::http::serve(listener, move |req| super::rest::handle(h.clone(), req)));
    tracing::info!(
        "REST server listening at http://{local}/, advertising URL http://{}/",
        herder.worker_id
    );
    shutdown.await;
    tracing::info!("Kafka Connect stopping");
    server.abort();
    herder.stop_all().await;
    tracing::info!("Kafka Connect stopped");
}
