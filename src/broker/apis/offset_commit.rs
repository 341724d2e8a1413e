//! OffsetCommit (v0-v9). Partitions the cluster does not have get
//! UNKNOWN_TOPIC_OR_PARTITION here, as in Kafka's handler; the rest go to
//! the coordinator, which answers once their records are stored. Version 0
//! commits go to ZooKeeper instead, where Kafka 0.8's consumers kept them
//! and where Kafka 3.x in ZooKeeper mode still writes them.

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse, TopicName};

use super::group_support::{error_code, partition_exists};
use super::str_bytes;
use crate::broker::group_coordinator::GroupCoordinatorHandle;
use crate::broker::BrokerContext;
use crate::cluster::ClusterImage;
use crate::coordinator::{self, Error, OffsetCommitPartition, OffsetCommitTopic, Response};
use crate::protocol::ErrorCode;

/// Kafka's `offset.metadata.max.bytes` default: longer metadata is refused.
const OFFSET_METADATA_MAX_BYTES: usize = 4096;

/// Version 0: each offset is written to
/// `/consumers/<group>/offsets/<topic>/<partition>`, with no group
/// membership check and no metadata kept, as Kafka does.
pub async fn handle_v0(ctx: &BrokerContext, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let image = ctx.store.image();
    let group = req.group_id.0.to_string();
    let mut resp = OffsetCommitResponse::default();
    for t in req.topics {
        let name = t.name.0.to_string();
        let mut topic = OffsetCommitResponseTopic::default();
        for p in t.partitions {
            let code = if !partition_exists(&image, &name, p.partition_index) {
                ErrorCode::UnknownTopicOrPartition
            } else if p
                .committed_metadata
                .as_ref()
                .is_some_and(|m| m.len() > OFFSET_METADATA_MAX_BYTES)
            {
                ErrorCode::OffsetMetadataTooLarge
            } else {
                let stored = ctx
                    .store
                    .set_consumer_offset(&group, &name, p.partition_index, p.committed_offset)
                    .await;
                match stored {
                    Ok(()) => ErrorCode::None,
                    Err(e) => {
                        tracing::warn!(%group, topic = %name, "v0 offset commit failed: {e}");
                        ErrorCode::CoordinatorNotAvailable
                    }
                }
            };
            let mut part = OffsetCommitResponsePartition::default();
            part.partition_index = p.partition_index;
            part.error_code = code.code();
            topic.partitions.push(part);
        }
        topic.name = t.name;
        resp.topics.push(topic);
    }
    resp
}

/// A partition and the code it was refused with here, if any.
type Refusal = (i32, Option<i16>);

pub async fn handle(
    groups: &GroupCoordinatorHandle,
    image: &ClusterImage,
    req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    // Request order, with the code of each partition refused here.
    let mut layout: Vec<(String, Vec<Refusal>)> = Vec::new();
    let mut known: Vec<OffsetCommitTopic> = Vec::new();
    for topic in req.topics {
        let name = topic.name.0.to_string();
        let mut parts = Vec::new();
        let mut accepted = Vec::new();
        for p in topic.partitions {
            if partition_exists(image, &name, p.partition_index) {
                parts.push((p.partition_index, None));
                accepted.push(OffsetCommitPartition {
                    partition_index: p.partition_index,
                    committed_offset: p.committed_offset,
                    committed_leader_epoch: p.committed_leader_epoch,
                    commit_timestamp: p.commit_timestamp,
                    committed_metadata: p.committed_metadata.map(|m| m.to_string()),
                });
            } else {
                parts.push((p.partition_index, Some(ErrorCode::UnknownTopicOrPartition.code())));
            }
        }
        if !accepted.is_empty() {
            known.push(OffsetCommitTopic { name: name.clone(), partitions: accepted });
        }
        layout.push((name, parts));
    }
    let mut codes: std::collections::HashMap<(String, i32), i16> = std::collections::HashMap::new();
    if !known.is_empty() {
        let request = coordinator::OffsetCommitRequest {
            group_id: req.group_id.0.to_string(),
            generation_id: req.generation_id_or_member_epoch,
            member_id: req.member_id.to_string(),
            group_instance_id: req.group_instance_id.map(|s| s.to_string()),
            retention_time_ms: req.retention_time_ms,
            topics: known.clone(),
        };
        match groups.call(move |c, now, rid| c.offset_commit(now, rid, request)).await {
            Ok(Response::OffsetCommit(r)) => {
                for t in r.topics {
                    for (p, e) in t.partitions {
                        codes.insert((t.name.clone(), p), error_code(e));
                    }
                }
            }
            _ => {
                for t in &known {
                    for p in &t.partitions {
                        codes.insert(
                            (t.name.clone(), p.partition_index),
                            Error::CoordinatorNotAvailable.code(),
                        );
                    }
                }
            }
        }
    }
    let mut resp = OffsetCommitResponse::default();
    resp.topics = layout
        .into_iter()
        .map(|(name, parts)| {
            let mut topic = OffsetCommitResponseTopic::default();
            topic.partitions = parts
                .into_iter()
                .map(|(p, refused)| {
                    let mut part = OffsetCommitResponsePartition::default();
                    part.partition_index = p;
                    part.error_code =
                        refused.or_else(|| codes.get(&(name.clone(), p)).copied()).unwrap_or(0);
                    part
                })
                .collect();
            topic.name = TopicName(str_bytes(name));
            topic
        })
        .collect();
    resp
}
