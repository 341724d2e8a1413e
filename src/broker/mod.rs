//! The broker runtime: `run` takes a bound listener, serves Kafka clients on
//! it until the shutdown future resolves, then shuts down cleanly.
//!
//! Pieces: [`config`] (server.properties), [`server`] (accept loop and
//! shutdown), [`connection`] (framing, pipelining, sendfile), [`apis`] (one
//! file per API behind one dispatch match), [`topics`] (creation and
//! deletion shared by several APIs), [`error`] (the one place typed errors
//! become Kafka error codes), [`metrics`] (what `metrics.listener` serves
//! to Prometheus). Cluster metadata lives behind
//! `crate::cluster::MetadataStore`.

pub mod apis;
pub mod authorizer;
pub mod config;
pub mod connection;
pub mod coordinator_runtime;
pub mod dynamic_config;
pub mod error;
pub mod fetch_session;
pub mod group_coordinator;
pub mod listeners;
pub mod memory_pool;
pub mod meta_properties;
pub mod metrics;
pub mod partition;
pub mod producer_state;
pub mod purgatory;
pub mod quota;
pub mod replica_fetcher;
pub mod replica_manager;
pub mod replication_quota;
pub mod sasl;
pub mod server;
pub mod shutdown;
pub mod tls;
pub mod topic_config;
pub mod topics;
pub mod txn_coordinator;

use std::sync::Arc;

pub use config::{Endpoint, KafkaConfig};
pub use error::Error;
pub use server::run;

use crate::cluster::lease::Role;
use crate::cluster::{BrokerRegistration, MetadataStore};
use replica_manager::ReplicaManager;

/// What every request handler may use. Kept small on purpose: state that
/// belongs to one API lives with that API.
pub struct BrokerContext {
    pub config: Arc<KafkaConfig>,
    pub broker_id: i32,
    pub store: Arc<dyn MetadataStore>,
    pub replicas: Arc<ReplicaManager>,
    pub producer_ids: apis::init_producer_id::ProducerIdManager,
    pub groups: group_coordinator::GroupCoordinatorHandle,
    pub txns: txn_coordinator::TxnCoordinatorHandle,
    /// Memory for large requests across all connections.
    pub request_pool: memory_pool::MemoryPool,
    /// Client quotas: rates and throttling.
    pub quotas: quota::ClientQuotaManager,
    /// `authorizer.class.name`; `None` lets every client do everything.
    pub authorizer: Option<Arc<authorizer::Authorizer>>,
    /// Incremental fetch sessions (KIP-227), shared by every connection:
    /// a client may continue its session on a new connection.
    pub fetch_sessions: fetch_session::FetchSessionCache,
}

impl BrokerContext {
    /// This broker as clients should dial it.
    pub fn registration(&self) -> BrokerRegistration {
        let endpoints = self.config.listeners.advertised.iter().map(|l| l.to_broker_endpoint());
        BrokerRegistration::with_endpoints(
            self.broker_id,
            endpoints.collect(),
            self.config.rack.clone(),
        )
    }

    /// Makes the hosted replicas match the store's current metadata, so a
    /// topic created by this request can be produced to by the next one.
    /// Returns the partitions whose log could not be opened, with why.
    pub async fn apply_metadata(&self) -> Vec<(crate::types::TopicPartition, String)> {
        let replicas = self.replicas.clone();
        let image = self.store.image();
        let session = image.session;
        match tokio::task::spawn_blocking(move || replicas.apply_image(&image)).await {
            Ok(failed) => {
                self.store.session_lease().applied(Role::Replicas, session);
                failed
            }
            Err(e) => {
                tracing::error!("applying metadata failed: {e}");
                Vec::new()
            }
        }
    }
}
