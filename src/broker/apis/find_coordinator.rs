//! FindCoordinator (v0-v5; v4+ batch keys). A group's coordinator is the
//! leader of its `__consumer_offsets` partition, `abs(hashCode(group)) %
//! offsets.topic.num.partitions`; the topic is created on first use, as
//! Kafka does, with offsets.topic.replication.factor replicas (until enough
//! brokers exist the answer is COORDINATOR_NOT_AVAILABLE and clients retry).
//! A transactional id's coordinator is the leader of its
//! `__transaction_state` partition, the topic likewise created on first use
//! with transaction.state.log.* settings.

use std::collections::BTreeMap;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::str_bytes;
use crate::broker::error::ApiError;
use crate::broker::topics::{self, TopicRequest};
use crate::broker::BrokerContext;
use crate::cluster::BrokerRegistration;
use crate::coordinator::GROUP_METADATA_TOPIC_NAME;
use crate::protocol::ErrorCode;
use crate::transaction::TRANSACTION_STATE_TOPIC_NAME;

/// Kafka's `CoordinatorType`.
const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;

pub async fn handle(
    ctx: &BrokerContext,
    listener: &str,
    version: i16,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let mut resp = FindCoordinatorResponse::default();
    if version >= 4 {
        for key in req.coordinator_keys {
            let found = lookup(ctx, listener, req.key_type, &key).await;
            let mut c = Coordinator::default();
            match found {
                Ok(node) => {
                    c.node_id = BrokerId(node.id);
                    c.host = str_bytes(node.host);
                    c.port = i32::from(node.port);
                }
                Err(e) => {
                    c.node_id = BrokerId(-1);
                    c.host = StrBytes::default();
                    c.port = -1;
                    c.error_code = e.code.code();
                    c.error_message = e.message.map(str_bytes);
                }
            }
            c.key = key;
            resp.coordinators.push(c);
        }
        return resp;
    }
    match lookup(ctx, listener, req.key_type, &req.key).await {
        Ok(node) => {
            resp.node_id = BrokerId(node.id);
            resp.host = str_bytes(node.host);
            resp.port = i32::from(node.port);
        }
        Err(e) => {
            resp.error_code = e.code.code();
            resp.error_message = e.message.map(str_bytes);
            resp.node_id = BrokerId(-1);
            resp.host = StrBytes::default();
            resp.port = -1;
        }
    }
    resp
}

/// The coordinator, with the address of the listener the client used.
struct Node {
    id: i32,
    host: String,
    port: u16,
}

async fn lookup(
    ctx: &BrokerContext,
    listener: &str,
    key_type: i8,
    key: &str,
) -> Result<Node, ApiError> {
    let broker = coordinator(ctx, key_type, key).await?;
    let (host, port) = broker.endpoint(listener).ok_or_else(not_available)?;
    Ok(Node { id: broker.id, host: host.to_string(), port })
}

/// The leader of the internal-topic partition that holds `key`'s state.
async fn coordinator(
    ctx: &BrokerContext,
    key_type: i8,
    key: &str,
) -> Result<BrokerRegistration, ApiError> {
    let config = &ctx.config;
    let (topic, partition) = match key_type {
        GROUP => (
            InternalTopic {
                name: GROUP_METADATA_TOPIC_NAME,
                num_partitions: config.groups.offsets_topic_num_partitions,
                replication_factor: config.offsets_topic_replication_factor,
                segment_bytes: config.offsets_topic_segment_bytes,
                min_isr: None,
            },
            ctx.groups.partition_for(key),
        ),
        TRANSACTION => (
            InternalTopic {
                name: TRANSACTION_STATE_TOPIC_NAME,
                num_partitions: config.transactions.transaction_state_log_num_partitions,
                replication_factor: config.transaction_state_log_replication_factor,
                segment_bytes: config.transaction_state_log_segment_bytes,
                min_isr: Some(config.transaction_state_log_min_isr),
            },
            ctx.txns.partition_for(key),
        ),
        other => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("Unknown coordinator type {other}"),
            ))
        }
    };
    leader_of(ctx, &topic, partition).await
}

fn not_available() -> ApiError {
    ApiError::new(ErrorCode::CoordinatorNotAvailable, "The coordinator is not available.")
}

/// A coordinator's internal topic and how Kafka configures it.
struct InternalTopic {
    name: &'static str,
    num_partitions: i32,
    replication_factor: i16,
    segment_bytes: i32,
    min_isr: Option<i32>,
}

/// The leader of `partition` of an internal topic, creating the topic on
/// first use.
async fn leader_of(
    ctx: &BrokerContext,
    topic: &InternalTopic,
    partition: i32,
) -> Result<BrokerRegistration, ApiError> {
    let mut image = ctx.store.image();
    if image.topic(topic.name).is_none() {
        create_internal_topic(ctx, topic).await?;
        image = ctx.store.image();
    }
    let leader = image
        .topic(topic.name)
        .and_then(|t| t.partitions.get(&partition))
        .map(|p| p.state.leader)
        .ok_or_else(not_available)?;
    image.brokers.get(&leader).cloned().ok_or_else(not_available)
}

/// Creates an internal topic as Kafka configures it: compacted, the
/// producer's compression, its own segment size (and for
/// `__transaction_state` its min.insync.replicas).
async fn create_internal_topic(ctx: &BrokerContext, topic: &InternalTopic) -> Result<(), ApiError> {
    let mut configs: BTreeMap<String, String> = [
        ("cleanup.policy", "compact".to_string()),
        ("compression.type", "producer".to_string()),
        ("segment.bytes", topic.segment_bytes.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if let Some(min_isr) = topic.min_isr {
        configs.insert("min.insync.replicas".into(), min_isr.to_string());
    }
    let req = TopicRequest {
        name: topic.name.to_string(),
        num_partitions: topic.num_partitions,
        replication_factor: topic.replication_factor,
        assignment: BTreeMap::new(),
        configs,
    };
    match topics::create_topic(ctx, &req).await {
        Ok(_) => Ok(()),
        Err(ApiError { code: ErrorCode::TopicAlreadyExists, .. }) => Ok(()),
        Err(e) => {
            tracing::warn!(
                "cannot create {} ({}): {}",
                topic.name,
                e.code.name(),
                e.message.as_deref().unwrap_or("")
            );
            Err(not_available())
        }
    }
}
