//! Admin operations, as Kafka's `Admin` client offers them: topics
//! (list, describe, create, delete, add partitions), configs (describe,
//! incremental alter), offsets by time (ListOffsets) and replica sizes
//! (DescribeLogDirs).
//!
//! Results are plain Rust values; formatting them is the CLI's job.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, CreatePartitionsRequest, CreateTopicsRequest,
    DeleteTopicsRequest, DescribeConfigsRequest, DescribeLogDirsRequest, ElectLeadersRequest,
    IncrementalAlterConfigsRequest, ListOffsetsRequest, ListPartitionReassignmentsRequest,
    TopicName,
};
use kafka_protocol::protocol::{Request, StrBytes};

use super::cluster::{Cluster, Metadata, TopicMetadata};
use super::connection::Connection;
use super::error::{check_items, Error, ItemError, Result};

/// A topic to create. `None` leaves the choice to the broker's defaults
/// (`num.partitions`, `default.replication.factor`).
#[derive(Clone, Debug, Default)]
pub struct NewTopic {
    pub name: String,
    pub partitions: Option<i32>,
    pub replication_factor: Option<i16>,
    /// Replica broker ids per partition, in partition order.
    pub assignment: Option<Vec<Vec<i32>>>,
    pub configs: Vec<(String, String)>,
}

/// A reassignment in progress, as ListPartitionReassignments reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OngoingReassignment {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// Kafka's `ConfigResource.Type`, with its wire values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceType {
    Topic = 2,
    Broker = 4,
}

/// Where a config value comes from (`ConfigEntry.ConfigSource`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    Unknown,
    DynamicTopicConfig,
    DynamicBrokerLoggerConfig,
    DynamicBrokerConfig,
    DynamicDefaultBrokerConfig,
    StaticBrokerConfig,
    DefaultConfig,
    DynamicClientMetricsConfig,
    DynamicGroupConfig,
}

impl ConfigSource {
    fn from_wire(v: i8) -> Self {
        match v {
            1 => Self::DynamicTopicConfig,
            2 => Self::DynamicBrokerConfig,
            3 => Self::DynamicDefaultBrokerConfig,
            4 => Self::StaticBrokerConfig,
            5 => Self::DefaultConfig,
            6 => Self::DynamicBrokerLoggerConfig,
            7 => Self::DynamicClientMetricsConfig,
            8 => Self::DynamicGroupConfig,
            _ => Self::Unknown,
        }
    }

    /// The Java enum constant's name, as kafka-configs.sh prints it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::DynamicTopicConfig => "DYNAMIC_TOPIC_CONFIG",
            Self::DynamicBrokerLoggerConfig => "DYNAMIC_BROKER_LOGGER_CONFIG",
            Self::DynamicBrokerConfig => "DYNAMIC_BROKER_CONFIG",
            Self::DynamicDefaultBrokerConfig => "DYNAMIC_DEFAULT_BROKER_CONFIG",
            Self::StaticBrokerConfig => "STATIC_BROKER_CONFIG",
            Self::DefaultConfig => "DEFAULT_CONFIG",
            Self::DynamicClientMetricsConfig => "DYNAMIC_CLIENT_METRICS_CONFIG",
            Self::DynamicGroupConfig => "DYNAMIC_GROUP_CONFIG",
        }
    }
}

#[derive(Clone, Debug)]
pub struct ConfigSynonym {
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
}

#[derive(Clone, Debug)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    pub sensitive: bool,
    pub synonyms: Vec<ConfigSynonym>,
}

impl ConfigEntry {
    /// Kafka's `ConfigEntry.isDefault()`.
    pub fn is_default(&self) -> bool {
        self.source == ConfigSource::DefaultConfig
    }
}

/// One change for `incremental_alter_configs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlterConfigOp {
    Set(String, String),
    Delete(String),
}

/// What ListOffsets should look up (Kafka's `OffsetSpec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetSpec {
    Earliest,
    Latest,
    MaxTimestamp,
    /// The first offset whose timestamp is at or after this (ms).
    Timestamp(i64),
}

impl OffsetSpec {
    fn wire(self) -> i64 {
        match self {
            Self::Latest => -1,
            Self::Earliest => -2,
            Self::MaxTimestamp => -3,
            Self::Timestamp(t) => t,
        }
    }
}

pub struct Admin {
    cluster: Arc<Cluster>,
}

impl Admin {
    pub fn new(cluster: Arc<Cluster>) -> Self {
        Self { cluster }
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    fn timeout_ms(&self) -> i32 {
        self.cluster.config().request_timeout.as_millis().min(i32::MAX as u128) as i32
    }

    /// Topic-changing requests go to the controller when the metadata names
    /// one we can reach (ZooKeeper-mode brokers require that); KRaft brokers
    /// forward them from anywhere.
    async fn controller(&self) -> Result<Arc<Connection>> {
        let md = self.cluster.refresh(Some(&[]), false).await?;
        if md.controller_id >= 0 && md.brokers.contains_key(&md.controller_id) {
            if let Ok(c) = self.cluster.broker(md.controller_id).await {
                return Ok(c);
            }
        }
        Ok(self.cluster.any_broker())
    }

    /// All topics with their partitions (sorted by name).
    pub async fn metadata(&self) -> Result<Metadata> {
        self.cluster.refresh(None, false).await
    }

    pub async fn describe_topic(&self, name: &str) -> Result<TopicMetadata> {
        let md = self.cluster.refresh(Some(&[name.to_string()]), false).await?;
        match md.topics.get(name) {
            Some(t) if t.error_code == 0 => Ok(t.clone()),
            Some(t) => Err(Error::from_code(t.error_code, None)
                .filter(|e| {
                    e.code() != Some(kafka_protocol::error::ResponseError::UnknownTopicOrPartition)
                })
                .unwrap_or_else(|| Error::UnknownTopic(name.to_string()))),
            None => Err(Error::UnknownTopic(name.to_string())),
        }
    }

    pub async fn create_topic(&self, topic: &NewTopic) -> Result<()> {
        let conn = self.controller().await?;
        let version = conn.version::<CreateTopicsRequest>()?;
        // v0-3 have no "broker default"; Kafka's admin client refuses too.
        if version < 4 && topic.assignment.is_none() {
            if topic.partitions.is_none() || topic.replication_factor.is_none() {
                return Err(Error::InvalidArgument(
                    "this broker needs --partitions and --replication-factor".into(),
                ));
            }
        }
        let mut t = CreatableTopic::default()
            .with_name(topic_name(&topic.name))
            .with_num_partitions(topic.partitions.unwrap_or(-1))
            .with_replication_factor(topic.replication_factor.unwrap_or(-1))
            .with_configs(
                topic
                    .configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(str_bytes(k))
                            .with_value(Some(str_bytes(v)))
                    })
                    .collect(),
            );
        if let Some(assignment) = &topic.assignment {
            t = t.with_num_partitions(-1).with_replication_factor(-1).with_assignments(
                assignment
                    .iter()
                    .enumerate()
                    .map(|(i, brokers)| {
                        CreatableReplicaAssignment::default()
                            .with_partition_index(i as i32)
                            .with_broker_ids(brokers.iter().map(|&b| BrokerId(b)).collect())
                    })
                    .collect(),
            );
        }
        let request =
            CreateTopicsRequest::default().with_topics(vec![t]).with_timeout_ms(self.timeout_ms());
        let response = conn.send_pipelined(&request, version).await?.wait().await?;
        check_items(&response.topics)
    }

    pub async fn delete_topic(&self, name: &str) -> Result<()> {
        let conn = self.controller().await?;
        let version = conn.version::<DeleteTopicsRequest>()?;
        let request = if version >= 6 {
            DeleteTopicsRequest::default().with_topics(vec![
                kafka_protocol::messages::delete_topics_request::DeleteTopicState::default()
                    .with_name(Some(topic_name(name))),
            ])
        } else {
            DeleteTopicsRequest::default().with_topic_names(vec![topic_name(name)])
        }
        .with_timeout_ms(self.timeout_ms());
        let response = conn.send_pipelined(&request, version).await?.wait().await?;
        check_items(&response.responses)
    }

    /// Runs preferred (`election_type` 0) or unclean (1) leader elections
    /// on the controller; `None` means every partition. Returns each
    /// partition's outcome: `None` when elected, else the broker's error.
    pub async fn elect_leaders(
        &self,
        election_type: i8,
        partitions: Option<&[(String, i32)]>,
    ) -> Result<Vec<(String, i32, Option<Error>)>> {
        let conn = self.controller().await?;
        let version = conn.version::<ElectLeadersRequest>()?;
        if version == 0 && election_type != 0 {
            return Err(Error::InvalidArgument(
                "this broker only supports preferred leader elections".into(),
            ));
        }
        let topics = partitions.map(|list| {
            by_topic(list, |name, ps| {
                kafka_protocol::messages::elect_leaders_request::TopicPartitions::default()
                    .with_topic(name)
                    .with_partitions(ps)
            })
        });
        let request = ElectLeadersRequest::default()
            .with_election_type(election_type)
            .with_topic_partitions(topics)
            .with_timeout_ms(self.timeout_ms());
        let response = conn.send_pipelined(&request, version).await?.wait().await?;
        if let Some(e) = Error::from_code(response.error_code, None) {
            return Err(e);
        }
        Ok(partition_outcomes(
            response.replica_election_results,
            |t| (t.topic, t.partition_result),
            |p| p.partition_id,
        ))
    }

    /// Starts (`Some(replicas)`) or cancels (`None`) partition
    /// reassignments on the controller (AlterPartitionReassignments,
    /// KIP-455). Returns each partition's outcome: `None` when accepted,
    /// else the broker's error. A NOT_CONTROLLER answer (the controller
    /// moved) is retried on the new one, as Kafka's admin client does.
    pub async fn alter_partition_reassignments(
        &self,
        reassignments: &[(String, i32, Option<Vec<i32>>)],
        timeout_ms: i32,
    ) -> Result<Vec<(String, i32, Option<Error>)>> {
        use kafka_protocol::messages::alter_partition_reassignments_request::{
            ReassignablePartition, ReassignableTopic,
        };
        let mut by_topic: BTreeMap<&str, Vec<ReassignablePartition>> = BTreeMap::new();
        for (t, p, replicas) in reassignments {
            by_topic.entry(t.as_str()).or_default().push(
                ReassignablePartition::default().with_partition_index(*p).with_replicas(
                    replicas.as_ref().map(|r| r.iter().copied().map(BrokerId).collect()),
                ),
            );
        }
        let topics: Vec<ReassignableTopic> = by_topic
            .into_iter()
            .map(|(t, ps)| {
                ReassignableTopic::default().with_name(topic_name(t)).with_partitions(ps)
            })
            .collect();
        let request = AlterPartitionReassignmentsRequest::default()
            .with_timeout_ms(timeout_ms)
            .with_allow_replication_factor_change(true)
            .with_topics(topics);
        let response = self.on_controller(&request).await?;
        Ok(partition_outcomes(
            response.responses,
            |t| (t.name, t.partitions),
            |p| p.partition_index,
        ))
    }

    /// The reassignments in progress (ListPartitionReassignments), for
    /// `partitions` or all of them.
    pub async fn list_partition_reassignments(
        &self,
        partitions: Option<&[(String, i32)]>,
    ) -> Result<Vec<OngoingReassignment>> {
        use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
        let topics = partitions.map(|list| {
            by_topic(list, |name, ps| {
                ListPartitionReassignmentsTopics::default()
                    .with_name(name)
                    .with_partition_indexes(ps)
            })
        });
        let request = ListPartitionReassignmentsRequest::default()
            .with_timeout_ms(self.timeout_ms())
            .with_topics(topics);
        let response = self.on_controller(&request).await?;
        let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<i32>>();
        let mut out = Vec::new();
        for t in response.topics {
            for p in t.partitions {
                out.push(OngoingReassignment {
                    topic: t.name.0.to_string(),
                    partition: p.partition_index,
                    replicas: ids(&p.replicas),
                    adding: ids(&p.adding_replicas),
                    removing: ids(&p.removing_replicas),
                });
            }
        }
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    }

    /// Sends a request to the controller, and again to the new one while
    /// the answer's top-level error is NOT_CONTROLLER (a failover).
    async fn on_controller<R>(&self, request: &R) -> Result<R::Response>
    where
        R: Request,
        R::Response: ItemError,
    {
        let deadline = tokio::time::Instant::now() + self.cluster.config().request_timeout;
        loop {
            let response = self.controller().await?.send(request).await?;
            match response.error() {
                None => return Ok(response),
                Some(e)
                    if e.code() == Some(kafka_protocol::error::ResponseError::NotController)
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                Some(e) => return Err(e),
            }
        }
    }

    /// Grows `topic` to `count` partitions in total.
    pub async fn create_partitions(
        &self,
        topic: &str,
        count: i32,
        assignment: Option<Vec<Vec<i32>>>,
    ) -> Result<()> {
        let conn = self.controller().await?;
        let version = conn.version::<CreatePartitionsRequest>()?;
        let t = CreatePartitionsTopic::default()
            .with_name(topic_name(topic))
            .with_count(count)
            .with_assignments(assignment.map(|a| {
                a.into_iter()
                    .map(|brokers| {
                        CreatePartitionsAssignment::default()
                            .with_broker_ids(brokers.into_iter().map(BrokerId).collect())
                    })
                    .collect()
            }));
        let request = CreatePartitionsRequest::default()
            .with_topics(vec![t])
            .with_timeout_ms(self.timeout_ms());
        let response = conn.send_pipelined(&request, version).await?.wait().await?;
        check_items(&response.results)
    }

    /// Who answers for a resource's configs: a broker's configs that broker
    /// only, topic configs and the cluster-wide default any broker.
    async fn configs_broker(&self, resource: ResourceType, name: &str) -> Result<Arc<Connection>> {
        match resource {
            ResourceType::Broker if !name.is_empty() => {
                let id: i32 = name
                    .parse()
                    .map_err(|_| Error::InvalidArgument(format!("Invalid broker id {name}")))?;
                self.cluster.refresh(Some(&[]), false).await?;
                self.cluster.broker(id).await
            }
            _ => Ok(self.cluster.any_broker()),
        }
    }

    /// Every config of a topic or broker (`name` "" is the cluster-wide
    /// broker default), with synonyms, sorted by name.
    pub async fn describe_configs(
        &self,
        resource: ResourceType,
        name: &str,
    ) -> Result<Vec<ConfigEntry>> {
        let conn = self.configs_broker(resource, name).await?;
        let version = conn.version::<DescribeConfigsRequest>()?;
        let request = DescribeConfigsRequest::default()
            .with_resources(vec![DescribeConfigsResource::default()
                .with_resource_type(resource as i8)
                .with_resource_name(str_bytes(name))
                .with_configuration_keys(None)])
            .with_include_synonyms(true);
        let response = conn.send_pipelined(&request, version).await?.wait().await?;
        check_items(&response.results).map_err(|e| unknown_topic_named(e, name))?;
        let mut entries = Vec::new();
        for r in response.results {
            for c in r.configs {
                entries.push(ConfigEntry {
                    name: c.name.to_string(),
                    value: c.value.map(|v| v.to_string()),
                    source: ConfigSource::from_wire(c.config_source),
                    read_only: c.read_only,
                    sensitive: c.is_sensitive,
                    synonyms: c
                        .synonyms
                        .into_iter()
                        .map(|s| ConfigSynonym {
                            name: s.name.to_string(),
                            value: s.value.map(|v| v.to_string()),
                            source: ConfigSource::from_wire(s.source),
                        })
                        .collect(),
                });
            }
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    pub async fn incremental_alter_configs(
        &self,
        resource: ResourceType,
        name: &str,
        ops: &[AlterConfigOp],
    ) -> Result<()> {
        let conn = self.configs_broker(resource, name).await?;
        let version = conn.version::<IncrementalAlterConfigsRequest>()?;
        let configs = ops
            .iter()
            .map(|op| match op {
                AlterConfigOp::Set(k, v) => AlterableConfig::default()
                    .with_name(str_bytes(k))
                    .with_config_operation(0)
                    .with_value(Some(str_bytes(v))),
                AlterConfigOp::Delete(k) => AlterableConfig::default()
                    .with_name(str_bytes(k))
                    .with_config_operation(1)
                    .with_value(None),
            })
            .collect();
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(resource as i8)
                .with_resource_name(str_bytes(name))
                .with_configs(configs),
        ]);
        let response = conn.send_pipelined(&request, version).await?.wait().await?;
        check_items(&response.responses).map_err(|e| unknown_topic_named(e, name))
    }

    /// Offsets for `spec` of each partition, asked of each partition's
    /// leader. Returns `(topic, partition) -> offset` (-1 when the broker has
    /// none, e.g. max-timestamp of an empty partition).
    pub async fn list_offsets(
        &self,
        partitions: &[(String, i32)],
        spec: OffsetSpec,
    ) -> Result<BTreeMap<(String, i32), i64>> {
        let topics: Vec<String> = {
            let mut t: Vec<String> = partitions.iter().map(|(t, _)| t.clone()).collect();
            t.dedup();
            t
        };
        let md = self.cluster.refresh(Some(&topics), false).await?;
        let mut by_leader: BTreeMap<i32, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
        for (topic, partition) in partitions {
            let leader = md
                .topics
                .get(topic)
                .and_then(|t| t.partitions.iter().find(|p| p.partition == *partition))
                .map(|p| p.leader)
                .ok_or_else(|| Error::UnknownTopic(topic.clone()))?;
            if leader < 0 {
                return Err(Error::from_code(5, None).expect("LEADER_NOT_AVAILABLE is an error"));
            }
            by_leader.entry(leader).or_default().entry(topic.clone()).or_default().push(*partition);
        }
        let mut out = BTreeMap::new();
        for (leader, topics) in by_leader {
            out.extend(self.list_offsets_on(leader, &topics, spec).await?);
        }
        Ok(out)
    }

    /// ListOffsets for `topics` (topic → partitions) asked of one broker,
    /// which must lead them. A caller watching a cluster asks each leader
    /// separately so one unreachable broker does not hide the others.
    pub async fn list_offsets_on(
        &self,
        leader: i32,
        topics: &BTreeMap<String, Vec<i32>>,
        spec: OffsetSpec,
    ) -> Result<BTreeMap<(String, i32), i64>> {
        let conn = self.cluster.broker(leader).await?;
        let version = conn.version::<ListOffsetsRequest>()?;
        if spec == OffsetSpec::MaxTimestamp {
            conn.require_version("ListOffsets (max-timestamp)", version, 7)?;
        }
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(
                topics
                    .iter()
                    .map(|(t, ps)| {
                        ListOffsetsTopic::default().with_name(topic_name(t)).with_partitions(
                            ps.iter()
                                .map(|&p| {
                                    ListOffsetsPartition::default()
                                        .with_partition_index(p)
                                        .with_current_leader_epoch(-1)
                                        .with_timestamp(spec.wire())
                                })
                                .collect(),
                        )
                    })
                    .collect(),
            )
            .with_timeout_ms(self.timeout_ms());
        let response = conn.send_pipelined(&request, version).await?.wait().await?;
        check_items(response.topics.iter().flat_map(|t| &t.partitions))?;
        let mut out = BTreeMap::new();
        for t in response.topics {
            for p in t.partitions {
                out.insert((t.name.0.to_string(), p.partition_index), p.offset);
            }
        }
        Ok(out)
    }

    /// The size in bytes of every partition replica broker `id` hosts,
    /// summed over its log dirs (DescribeLogDirs with a null topic list).
    pub async fn replica_sizes(&self, id: i32) -> Result<BTreeMap<(String, i32), i64>> {
        let conn = self.cluster.broker(id).await?;
        let version = conn.version::<DescribeLogDirsRequest>()?;
        let request = DescribeLogDirsRequest::default().with_topics(None);
        let response = conn.send_pipelined(&request, version).await?.wait().await?;
        if let Some(e) = Error::from_code(response.error_code, None) {
            return Err(e);
        }
        let mut out = BTreeMap::new();
        for dir in response.results {
            // An offline log dir lists no partitions; the others still count.
            if dir.error_code != 0 {
                continue;
            }
            for t in dir.topics {
                for p in t.partitions {
                    *out.entry((t.name.0.to_string(), p.partition_index)).or_insert(0) +=
                        p.partition_size;
                }
            }
        }
        Ok(out)
    }
}

/// UNKNOWN_TOPIC_OR_PARTITION about the one resource a call named, said
/// the way Kafka's tools say it.
fn unknown_topic_named(e: Error, name: &str) -> Error {
    if e.code() == Some(kafka_protocol::error::ResponseError::UnknownTopicOrPartition) {
        Error::UnknownTopic(name.to_string())
    } else {
        e
    }
}

/// Partitions grouped by topic, as requests list them: one `topic(name,
/// partitions)` per topic, in name order.
fn by_topic<T>(list: &[(String, i32)], topic: impl Fn(TopicName, Vec<i32>) -> T) -> Vec<T> {
    let mut out: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in list {
        out.entry(t.as_str()).or_default().push(*p);
    }
    out.into_iter().map(|(t, ps)| topic(topic_name(t), ps)).collect()
}

/// Each partition's outcome in a per-topic response: `split` takes a topic
/// apart into its name and partitions, `index` reads a partition's id.
fn partition_outcomes<T, P: ItemError>(
    topics: Vec<T>,
    split: impl Fn(T) -> (TopicName, Vec<P>),
    index: impl Fn(&P) -> i32,
) -> Vec<(String, i32, Option<Error>)> {
    let mut out = Vec::new();
    for t in topics {
        let (name, partitions) = split(t);
        for p in partitions {
            out.push((name.0.to_string(), index(&p), p.error()));
        }
    }
    out
}

pub(crate) fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

pub(crate) fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}
