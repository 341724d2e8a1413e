//! TxnOffsetCommit: offsets sent inside a transaction are appended to the
//! group's `__consumer_offsets` partition at once, in a transactional batch
//! of the producer, and replicated like any commit; they take effect when
//! the transaction's marker reaches that partition: COMMIT makes them the
//! group's committed offsets, ABORT drops them. Until then OffsetFetch
//! answers the previous offsets (UNSTABLE_OFFSET_COMMIT with
//! require_stable), and a coordinator that takes over the partition
//! rebuilds them from its log.

use std::collections::HashMap;

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::group_support::{error_code, partition_exists};
use crate::broker::BrokerContext;
use crate::coordinator::{self, OffsetCommitPartition, OffsetCommitTopic, Response};
use crate::protocol::ErrorCode;

/// A producer whose epoch is older than the one the group's
/// `__consumer_offsets` partition has seen (its markers carry the bumped
/// epoch of a fencing) is fenced, as Kafka's append there would refuse it.
fn fenced(ctx: &BrokerContext, partition: i32, producer_id: i64, epoch: i16) -> Option<ErrorCode> {
    let tp = crate::types::TopicPartition::new(coordinator::GROUP_METADATA_TOPIC_NAME, partition);
    let p = ctx.replicas.leader_partition(&tp).ok()?;
    let known = p.producer_views().into_iter().find(|v| v.producer_id == producer_id)?;
    (epoch < known.producer_epoch).then_some(ErrorCode::ProducerFenced)
}

pub async fn handle(
    ctx: &BrokerContext,
    version: i16,
    req: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let image = ctx.store.image();
    let group = req.group_id.0.to_string();
    let partition = ctx.groups.partition_for(&group);
    let loaded = ctx.groups.read(move |c| c.is_loaded(partition)).await.unwrap_or(false);
    let led = image
        .topic(coordinator::GROUP_METADATA_TOPIC_NAME)
        .and_then(|t| t.partitions.get(&partition))
        .is_some_and(|p| p.state.leader == ctx.broker_id);
    let group_error = match (led, loaded) {
        (false, _) => Some(ErrorCode::NotCoordinator),
        (true, false) => Some(ErrorCode::CoordinatorLoadInProgress),
        (true, true) => fenced(ctx, partition, req.producer_id.0, req.producer_epoch),
    };
    let mut resp = TxnOffsetCommitResponse::default();
    let mut accepted = Vec::new();
    for t in &req.topics {
        let name = t.name.0.to_string();
        let mut tr = TxnOffsetCommitResponseTopic::default();
        tr.name = t.name.clone();
        let mut parts = Vec::new();
        for p in &t.partitions {
            let code = if !partition_exists(&image, &name, p.partition_index) {
                Some(ErrorCode::UnknownTopicOrPartition)
            } else {
                group_error
            };
            if code.is_none() {
                parts.push(OffsetCommitPartition {
                    partition_index: p.partition_index,
                    committed_offset: p.committed_offset,
                    committed_leader_epoch: p.committed_leader_epoch,
                    commit_timestamp: -1,
                    committed_metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                });
            }
            let mut pr = TxnOffsetCommitResponsePartition::default();
            pr.partition_index = p.partition_index;
            pr.error_code = code.map_or(0, |c| super::txn_support::versioned(c, version, 3));
            tr.partitions.push(pr);
        }
        if !parts.is_empty() {
            accepted.push(OffsetCommitTopic { name, partitions: parts });
        }
        resp.topics.push(tr);
    }
    if accepted.is_empty() {
        return resp;
    }
    let producer = coordinator::TxnProducer {
        producer_id: req.producer_id.0,
        producer_epoch: req.producer_epoch,
    };
    let request = coordinator::OffsetCommitRequest {
        group_id: group,
        generation_id: req.generation_id,
        member_id: req.member_id.to_string(),
        group_instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
        retention_time_ms: -1,
        topics: accepted,
    };
    let codes: HashMap<(String, i32), i16> = match ctx
        .groups
        .call(move |c, now, rid| c.txn_offset_commit(now, rid, producer, request))
        .await
    {
        Ok(Response::OffsetCommit(r)) => r
            .topics
            .into_iter()
            .flat_map(|t| {
                t.partitions.into_iter().map(move |(p, e)| ((t.name.clone(), p), error_code(e)))
            })
            .collect(),
        _ => HashMap::new(),
    };
    for t in &mut resp.topics {
        for p in &mut t.partitions {
            if p.error_code == 0 {
                p.error_code = codes
                    .get(&(t.name.0.to_string(), p.partition_index))
                    .copied()
                    .unwrap_or(ErrorCode::CoordinatorNotAvailable.code());
            }
        }
    }
    resp
}
