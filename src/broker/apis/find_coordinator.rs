//! FindCoordinator (v0-v5; v4+ batch keys). A group's coordinator is the
//! leader of its `__consumer_offsets` partition, `abs(hashCode(group)) %
//! offsets.topic.num.partitions`; the topic is created on first use, as
//! Kafka does, with offsets.topic.replication.factor replicas (until enough
//! brokers exist the answer is COORDINATOR_NOT_AVAILABLE and clients retry).
//! Transactions have no coordinator of their own here: this broker answers
//! for transactional ids.

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

async fn coordinator(
    ctx: &BrokerContext,
    key_type: i8,
    key: &str,
) -> Result<BrokerRegistration, ApiError> {
    match key_type {
        GROUP => group_coordinator(ctx, key).await,
        TRANSACTION => Ok(ctx.registration()),
        other => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("Unknown coordinator type {other}"),
        )),
    }
}

fn not_available() -> ApiError {
    ApiError::new(ErrorCode::CoordinatorNotAvailable, "The coordinator is not available.")
}

async fn group_coordinator(
    ctx: &BrokerContext,
    group: &str,
) -> Result<BrokerRegistration, ApiError> {
    let mut image = ctx.store.image();
    if image.topic(GROUP_METADATA_TOPIC_NAME).is_none() {
        create_offsets_topic(ctx).await?;
        image = ctx.store.image();
    }
    let partition = ctx.groups.partition_for(group);
    let leader = image
        .topic(GROUP_METADATA_TOPIC_NAME)
        .and_then(|t| t.partitions.get(&partition))
        .map(|p| p.state.leader)
        .ok_or_else(not_available)?;
    image.brokers.get(&leader).cloned().ok_or_else(not_available)
}

/// Creates `__consumer_offsets` as Kafka configures it: compacted, the
/// producer's compression, offsets.topic.segment.bytes segments.
async fn create_offsets_topic(ctx: &BrokerContext) -> Result<(), ApiError> {
    let config = &ctx.config;
    let configs: BTreeMap<String, String> = [
        ("cleanup.policy", "compact".to_string()),
        ("compression.type", "producer".to_string()),
        ("segment.bytes", config.offsets_topic_segment_bytes.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let req = TopicRequest {
        name: GROUP_METADATA_TOPIC_NAME.to_string(),
        num_partitions: config.groups.offsets_topic_num_partitions,
        replication_factor: config.offsets_topic_replication_factor,
        assignment: BTreeMap::new(),
        configs,
    };
    match topics::create_topic(ctx, &req).await {
        Ok(_) => Ok(()),
        Err(ApiError { code: ErrorCode::TopicAlreadyExists, .. }) => Ok(()),
        Err(e) => {
            tracing::warn!(
                "cannot create {GROUP_METADATA_TOPIC_NAME} ({}): {}",
                e.code.name(),
                e.message.as_deref().unwrap_or("")
            );
            Err(not_available())
        }
    }
}
