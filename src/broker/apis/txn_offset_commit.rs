//! TxnOffsetCommit: offsets sent inside a transaction wait here, on the
//! group's coordinator, until the transaction's marker reaches the group's
//! `__consumer_offsets` partition (on this same broker, its leader): COMMIT
//! makes them the group's committed offsets, ABORT drops them. Until then
//! OffsetFetch answers the previous offsets.

use std::collections::HashMap;
use std::sync::Mutex;

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::group_support::partition_exists;
use crate::broker::BrokerContext;
use crate::coordinator::{self, OffsetCommitPartition, OffsetCommitTopic};
use crate::protocol::ErrorCode;

/// Offsets of open transactions, by producer id, with the epoch that sent
/// them.
#[derive(Default)]
pub struct PendingTxnOffsets(Mutex<HashMap<i64, Vec<(i16, coordinator::OffsetCommitRequest)>>>);

impl PendingTxnOffsets {
    fn add(&self, producer_id: i64, epoch: i16, req: coordinator::OffsetCommitRequest) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(producer_id).or_default().push((epoch, req));
    }

    /// Takes the producer's pending commits for groups of `__consumer_offsets`
    /// partition `partition`; only those its `epoch` sent are returned, so a
    /// fenced instance's late offsets never ride on its successor's commit.
    pub fn take(
        &self,
        producer_id: i64,
        epoch: i16,
        partition: i32,
        partition_of: impl Fn(&str) -> i32,
    ) -> Vec<coordinator::OffsetCommitRequest> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let Some(all) = m.get_mut(&producer_id) else { return Vec::new() };
        let (taken, kept): (Vec<_>, Vec<_>) =
            all.drain(..).partition(|(_, r)| partition_of(&r.group_id) == partition);
        *all = kept;
        if all.is_empty() {
            m.remove(&producer_id);
        }
        taken.into_iter().filter(|(e, _)| *e == epoch).map(|(_, r)| r).collect()
    }
}

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
    if !accepted.is_empty() {
        ctx.pending_txn_offsets.add(
            req.producer_id.0,
            req.producer_epoch,
            coordinator::OffsetCommitRequest {
                group_id: group,
                generation_id: -1,
                member_id: String::new(),
                group_instance_id: None,
                retention_time_ms: -1,
                topics: accepted,
            },
        );
    }
    resp
}
