//! Cluster metadata: topics with their partition assignment and topic id,
//! topic config overrides, partition state (leader, leader epoch, ISR), live
//! brokers and the cluster id, behind the [`MetadataStore`] interface the
//! broker talks to.
//!
//! Reads come from an immutable [`ClusterImage`] snapshot (the metadata
//! cache); writes are asynchronous and, once durable, publish a new image
//! to every subscriber. [`zk_store::ZkStore`] implements it over ZooKeeper
//! with Kafka's znode layout, on an external ensemble or on the server a
//! broker embeds when it has no `zookeeper.connect`.

pub mod client_quotas;
pub mod lease;
pub mod zk_acls;
pub mod zk_client_quotas;
pub mod zk_controller;
pub mod zk_store;
pub mod znodes;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// A registered broker and the endpoints clients dial, one per listener.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    pub id: i32,
    /// The endpoint tools without a listener of their own dial: the
    /// PLAINTEXT one when there is one, else the first (Kafka's top-level
    /// `host`/`port` in `/brokers/ids/<id>`).
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
    /// Every advertised listener, in configuration order.
    #[serde(default)]
    pub endpoints: Vec<BrokerEndpoint>,
}

impl BrokerRegistration {
    /// A broker with one PLAINTEXT listener named PLAINTEXT.
    pub fn plaintext(id: i32, host: impl Into<String>, port: u16, rack: Option<String>) -> Self {
        let host = host.into();
        let endpoint = BrokerEndpoint {
            listener_name: "PLAINTEXT".into(),
            security_protocol: SecurityProtocol::Plaintext,
            host: host.clone(),
            port,
        };
        BrokerRegistration { id, host, port, rack, endpoints: vec![endpoint] }
    }

    /// A broker from its advertised endpoints; `host`/`port` follow
    /// Kafka's choice of the PLAINTEXT endpoint, else the first.
    pub fn with_endpoints(id: i32, endpoints: Vec<BrokerEndpoint>, rack: Option<String>) -> Self {
        let default = endpoints
            .iter()
            .find(|e| e.security_protocol == SecurityProtocol::Plaintext)
            .or_else(|| endpoints.first());
        let (host, port) = default.map(|e| (e.host.clone(), e.port)).unwrap_or_default();
        BrokerRegistration { id, host, port, rack, endpoints }
    }

    /// The endpoint of the named listener: clients are told the addresses
    /// of the listener they connected to, and brokers dial each other on
    /// the inter-broker listener. Registrations written before listeners
    /// had names carry none and answer with their one address.
    pub fn endpoint(&self, listener_name: &str) -> Option<(&str, u16)> {
        if self.endpoints.is_empty() {
            return Some((self.host.as_str(), self.port));
        }
        self.endpoints
            .iter()
            .find(|e| e.listener_name == listener_name)
            .map(|e| (e.host.as_str(), e.port))
    }
}

pub use crate::security::SecurityProtocol;

/// One advertised listener of a broker: `NAME://host:port` with the
/// security protocol the name maps to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerEndpoint {
    pub listener_name: String,
    pub security_protocol: SecurityProtocol,
    pub host: String,
    pub port: u16,
}

/// Leadership of one partition, as in Kafka's
/// `/brokers/topics/<t>/partitions/<p>/state` znode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    /// -1 when no replica can lead.
    pub leader: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionMetadata {
    /// The assigned replicas; the first is the preferred leader.
    pub replicas: Vec<i32>,
    pub state: PartitionState,
    /// The zkVersion of the state znode (-1 while it does not exist):
    /// leaders changing the ISR write conditionally on it, so a write based
    /// on a state the controller has since replaced fails instead of
    /// undoing the controller's decision.
    #[serde(default = "no_state_version")]
    pub state_zk_version: i32,
    /// Replicas a reassignment in progress adds and removes (KIP-455);
    /// `replicas` holds both meanwhile.
    #[serde(default)]
    pub adding_replicas: Vec<i32>,
    #[serde(default)]
    pub removing_replicas: Vec<i32>,
}

fn no_state_version() -> i32 {
    -1
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMetadata {
    pub name: String,
    #[serde(with = "uuid_text")]
    pub topic_id: uuid::Uuid,
    pub partitions: BTreeMap<i32, PartitionMetadata>,
    /// Topic-level config overrides (`retention.ms`, ...), as strings.
    pub configs: BTreeMap<String, String>,
}

/// One consistent view of the cluster's metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterImage {
    pub cluster_id: String,
    /// -1 while no controller is known. Like broker registrations it lives
    /// only as long as the broker process (an ephemeral znode in ZooKeeper).
    #[serde(skip, default = "no_controller")]
    pub controller_id: i32,
    #[serde(skip)]
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    pub topics: BTreeMap<String, TopicMetadata>,
    /// Dynamic broker configs (KIP-226) by znode name under
    /// `/config/brokers`: a broker id, or [`znodes::BROKER_DEFAULT`] for
    /// the cluster-wide default.
    #[serde(default)]
    pub broker_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// The ZooKeeper session this image was read in (0 for none): the
    /// roles a broker takes from it are its own only while that session
    /// lives ([`lease`]).
    #[serde(skip)]
    pub session: i64,
}

fn no_controller() -> i32 {
    -1
}

impl ClusterImage {
    pub fn topic(&self, name: &str) -> Option<&TopicMetadata> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: uuid::Uuid) -> Option<&TopicMetadata> {
        self.topics.values().find(|t| t.topic_id == id)
    }
}

/// A half-open range of producer ids handed to one broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerIdBlock {
    pub first: i64,
    pub last: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Topic '{0}' already exists.")]
    TopicExists(String),
    #[error("Topic '{0}' does not exist.")]
    UnknownTopic(String),
    #[error("partition {partition} of topic {topic} already exists")]
    PartitionExists { topic: String, partition: i32 },
    #[error("cannot access {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("the state of partition {partition} of topic {topic} changed since version {expected_zk_version}")]
    PartitionStateChanged { topic: String, partition: i32, expected_zk_version: i32 },
    /// ZooKeeper refused or could not carry out an operation; the cause
    /// decides the Kafka error code ([`crate::broker::error`]).
    #[error("ZooKeeper: {source}")]
    ZooKeeper { source: zookeeper_client::Error },
    /// A compare-and-set lost to concurrent writers every time it was tried.
    #[error("{what} kept changing under {attempts} attempts to update it")]
    Contended { what: &'static str, attempts: usize },
    /// A ZooKeeper reply that does not match the request sent.
    #[error("ZooKeeper answered {what}")]
    UnexpectedReply { what: &'static str },
    #[error("the metadata store has stopped")]
    Stopped,
    #[error("broker id {id} is registered by another broker")]
    BrokerIdTaken { id: i32 },
    #[error("invalid chroot {chroot} in zookeeper.connect")]
    InvalidChroot { chroot: String },
    #[error("the controller did not answer the {what} within {}ms", after.as_millis())]
    ControllerTimeout { what: &'static str, after: std::time::Duration },
    #[error("a quota entity needs a user or a client id")]
    InvalidQuotaEntity,
    #[error("this broker is not the controller")]
    NotController,
}

impl From<zookeeper_client::Error> for Error {
    fn from(source: zookeeper_client::Error) -> Self {
        Error::ZooKeeper { source }
    }
}

impl From<zookeeper_client::MultiWriteError> for Error {
    /// The failing operation's own error, so a multi that lost its session
    /// reads like a single write that did.
    fn from(e: zookeeper_client::MultiWriteError) -> Self {
        use zookeeper_client::MultiWriteError as M;
        match e {
            M::RequestFailed { source } | M::OperationFailed { source, .. } => {
                Error::ZooKeeper { source }
            }
        }
    }
}

/// What [`MetadataStore::update_acls`] does to a pattern's entries.
pub type AclUpdate<'a> = dyn Fn(
        &std::collections::BTreeSet<crate::security::acl::AccessControlEntry>,
    ) -> std::collections::BTreeSet<crate::security::acl::AccessControlEntry>
    + Send
    + Sync
    + 'a;

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// The broker's view of cluster metadata. Implementations publish a new
/// [`ClusterImage`] after every change they make or learn of.
pub trait MetadataStore: Send + Sync + 'static {
    /// The current snapshot; cheap (an `Arc` clone).
    fn image(&self) -> Arc<ClusterImage>;

    /// Changes as they happen: every write here or elsewhere in the cluster.
    fn subscribe(&self) -> watch::Receiver<Arc<ClusterImage>>;

    /// How long this broker may still act on its roles ([`lease`]).
    fn session_lease(&self) -> Arc<lease::SessionLease>;

    /// A new unique broker id, for `broker.id=-1` (Kafka's `/brokers/seqid`).
    fn generate_broker_id(&self) -> StoreFuture<'_, i32>;

    /// Announces this broker as live (Kafka's ephemeral `/brokers/ids/<id>`).
    fn register_broker(&self, broker: BrokerRegistration) -> StoreFuture<'_, ()>;

    /// Creates a topic with its assignment, initial partition states and
    /// config overrides; `TopicExists` if the name is taken.
    fn create_topic(&self, topic: TopicMetadata) -> StoreFuture<'_, ()>;

    /// [`Self::create_topic`] for many topics at once, with one new image
    /// published after all of them; answers each topic's outcome in order.
    fn create_topics(&self, topics: Vec<TopicMetadata>) -> StoreFuture<'_, Vec<Result<(), Error>>>;

    fn delete_topic(&self, name: &str) -> StoreFuture<'_, ()>;

    /// Deletes several topics at once, a few ZooKeeper writes for all of
    /// them; answers the names that did not exist.
    fn delete_topics(&self, names: &[String]) -> StoreFuture<'_, BTreeSet<String>>;

    /// Adds partitions (with their initial state) to an existing topic.
    fn create_partitions(
        &self,
        name: &str,
        added: BTreeMap<i32, PartitionMetadata>,
    ) -> StoreFuture<'_, ()>;

    /// Replaces a topic's config overrides.
    fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
    ) -> StoreFuture<'_, ()>;

    /// The dynamic config of a non-topic entity (`/config/users/<name>`,
    /// `/config/clients/<id>`), empty when it has none.
    fn entity_config(
        &self,
        entity_type: &str,
        name: &str,
    ) -> StoreFuture<'_, BTreeMap<String, String>>;

    /// Replaces a non-topic entity's config and notifies every broker
    /// (Kafka's `/config/changes`); an empty config deletes the znode.
    fn set_entity_config(
        &self,
        entity_type: &str,
        name: &str,
        configs: BTreeMap<String, String>,
    ) -> StoreFuture<'_, ()>;

    /// Client quotas of every user and client-id entity, kept current as
    /// they change anywhere in the cluster.
    fn client_quotas(&self) -> watch::Receiver<Arc<client_quotas::ClientQuotaConfigs>>;

    /// Sets and removes quota keys of one entity; other keys of its
    /// config (SCRAM credentials) stay.
    fn alter_client_quota(
        &self,
        entity: client_quotas::QuotaEntity,
        set: BTreeMap<String, String>,
        remove: Vec<String>,
    ) -> StoreFuture<'_, ()>;
    /// Every ACL of the cluster (Kafka's `/kafka-acl` and `/kafka-acl-extended`).
    fn acls(&self) -> StoreFuture<'_, crate::security::acl::AclCache>;

    /// Rewrites one pattern's ACL entries and notifies every broker;
    /// returns whether anything changed.
    fn update_acls<'a>(
        &'a self,
        pattern: &'a crate::security::acl::ResourcePattern,
        update: &'a AclUpdate<'a>,
    ) -> StoreFuture<'a, bool>;

    /// Ticks whenever ACLs may have changed anywhere in the cluster.
    fn acl_changes(&self) -> watch::Receiver<u64>;

    /// The names that have a config of this entity type.
    fn entity_names(&self, entity_type: &str) -> StoreFuture<'_, Vec<String>>;

    /// Records a new leader, epoch and ISR for a partition.
    fn set_partition_state(
        &self,
        topic: &str,
        partition: i32,
        state: PartitionState,
    ) -> StoreFuture<'_, ()>;

    /// A leader's own ISR change (Kafka's pre-2.7 ZooKeeper mode): writes
    /// the state only if its znode is still at `expected_zk_version` and
    /// returns the new version; `PartitionStateChanged` otherwise.
    fn update_leader_and_isr(
        &self,
        topic: &str,
        partition: i32,
        state: PartitionState,
        expected_zk_version: i32,
    ) -> StoreFuture<'_, i32>;

    /// Runs leader elections, if this broker is the controller
    /// (`NotController` otherwise); `None` means every partition.
    fn elect_leaders(
        &self,
        election: crate::controller::ElectionType,
        partitions: Option<Vec<crate::types::TopicPartition>>,
    ) -> StoreFuture<'_, zk_controller::ElectionResults>;

    /// Starts, changes (`Some(target)`) or cancels (`None`) reassignments,
    /// if this broker is the controller (`NotController` otherwise).
    fn alter_partition_reassignments(
        &self,
        partitions: Vec<(crate::types::TopicPartition, Option<Vec<i32>>)>,
    ) -> StoreFuture<'_, zk_controller::ReassignmentResults>;

    /// The reassignments in progress, if this broker is the controller;
    /// `None` means every partition.
    fn list_partition_reassignments(
        &self,
        partitions: Option<Vec<crate::types::TopicPartition>>,
    ) -> StoreFuture<'_, zk_controller::OngoingReassignments>;

    /// Asks the controller, wherever it runs, to move `broker`'s
    /// leaderships away before it stops; returns the partitions it still
    /// leads, or an error if no answer came within `wait`.
    fn controlled_shutdown(
        &self,
        broker: i32,
        wait: std::time::Duration,
    ) -> StoreFuture<'_, Vec<crate::types::TopicPartition>>;

    /// Reserves `count` producer ids (Kafka's `/latest_producer_id_block`).
    fn allocate_producer_ids(&self, broker_id: i32, count: i64)
        -> StoreFuture<'_, ProducerIdBlock>;

    /// Stores a group's offset where Kafka 0.8's clients kept it
    /// (OffsetCommit v0: `/consumers/<group>/offsets/<topic>/<partition>`).
    fn set_consumer_offset(
        &self,
        group: &str,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> StoreFuture<'_, ()>;

    /// The offset OffsetCommit v0 stored, if any (OffsetFetch v0).
    fn consumer_offset(
        &self,
        group: &str,
        topic: &str,
        partition: i32,
    ) -> StoreFuture<'_, Option<i64>>;
}

/// Topic ids as text in the metadata file.
mod uuid_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &uuid::Uuid, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&id.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<uuid::Uuid, D::Error> {
        let text = String::deserialize(d)?;
        uuid::Uuid::parse_str(&text).map_err(serde::de::Error::custom)
    }
}

/// A new random cluster id in Kafka's format: a UUID as 22 chars of URL-safe
/// base64 without padding.
pub fn new_cluster_id() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}
