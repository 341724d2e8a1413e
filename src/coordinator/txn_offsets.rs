//! Offsets committed inside a transaction (KIP-98, Kafka's
//! `GroupMetadataManager.storeOffsets` with a producer id and
//! `handleTxnCompletion`).
//!
//! TxnOffsetCommit appends the offsets at once, in a transactional batch of
//! the producer, so they are replicated with the group's partition like any
//! commit; they stay pending until the transaction's marker reaches that
//! partition: COMMIT makes them the group's committed offsets, ABORT drops
//! them. Loading a partition rebuilds them from the same log: records of a
//! transactional batch wait for their producer's next marker, and those
//! still waiting at the end stay pending in their groups.

use std::collections::BTreeMap;

use super::group::{CommittedOffset, Group, GroupState};
use super::offsets::all_partitions;
use super::records::OffsetCommitValue;
use super::{
    AppendError, Error, GroupCoordinator, LoadBuffer, OffsetCommitRequest, Output, PartitionState,
    RequestId, Response, TxnProducer,
};
use crate::types::TopicPartition;

/// Offsets a loading partition's transactional batches hold, by producer id.
pub(super) type LoadingTxnOffsets =
    BTreeMap<i64, BTreeMap<(String, TopicPartition), CommittedOffset>>;

/// A transaction's marker that reached a partition while it was loading.
#[derive(Debug)]
pub(super) struct Completion {
    producer_id: i64,
    commit: bool,
    marker_offset: i64,
}

impl GroupCoordinator {
    /// TxnOffsetCommit (Kafka's `doTxnCommitOffsets`). Membership is
    /// checked only as far as the request names it: producers that are not
    /// group members send no member id and generation -1.
    pub fn txn_offset_commit(
        &mut self,
        now: i64,
        rid: RequestId,
        producer: TxnProducer,
        req: OffsetCommitRequest,
    ) -> Output {
        let mut out = Output::default();
        let error = match self.core.validate_group(&req.group_id, true) {
            Some(e) => Some(e),
            None => {
                let g = self
                    .groups
                    .entry(req.group_id.clone())
                    .or_insert_with(|| Group::new(&req.group_id, now));
                validate_txn_offset_commit(g, &req)
            }
        };
        if let Some(e) = error {
            out.responses.push((rid, Response::OffsetCommit(all_partitions(&req, Some(e)))));
            return out;
        }
        if let Some(pending) = self.store_offsets(rid, &req, Some(producer), now, &mut out) {
            self.on_append_result(pending, Err(AppendError::TooLarge), now, &mut out);
        }
        out
    }

    /// A transaction's marker is in `partition` at `marker_offset` (and
    /// replicated): the producer's pending offsets of the partition's groups
    /// take effect on COMMIT unless a later commit superseded them, and go
    /// away either way. Nothing is appended; the marker is the record.
    pub fn complete_txn(
        &mut self,
        partition: i32,
        producer_id: i64,
        commit: bool,
        marker_offset: i64,
    ) -> Output {
        match self.core.partitions.get_mut(&partition) {
            Some(PartitionState::Loading(buf)) => {
                buf.completions.push(Completion { producer_id, commit, marker_offset });
            }
            Some(PartitionState::Loaded) => {
                let n = self.core.config.offsets_topic_num_partitions;
                for g in self.groups.values_mut() {
                    if super::partition_for(&g.group_id, n) == partition {
                        complete_in_group(g, producer_id, commit, marker_offset);
                    }
                }
            }
            None => {}
        }
        Output::default()
    }

    /// Replays a COMMIT or ABORT marker of `producer_id` (Kafka's loader
    /// applies pending offsets unless the group committed later).
    pub fn replay_marker(&mut self, partition: i32, producer_id: i64, commit: bool) {
        if let Some(PartitionState::Loading(buf)) = self.core.partitions.get_mut(&partition) {
            apply_marker(buf, producer_id, commit, i64::MAX);
        }
    }
}

/// A record of a transactional batch: the producer's offset of `tp`
/// (`None`: a tombstone) until its marker.
pub(super) fn replay_pending(
    buf: &mut LoadBuffer,
    producer_id: i64,
    group: String,
    tp: TopicPartition,
    value: Option<OffsetCommitValue>,
    log_offset: i64,
) {
    let pending = buf.pending_txn.entry(producer_id).or_default();
    match value {
        None => {
            pending.remove(&(group, tp));
        }
        Some(v) => {
            pending.insert((group, tp), committed_of(v, log_offset));
        }
    }
}

/// What a loading partition still holds for open transactions, after the
/// markers that arrived while it loaded.
pub(super) fn finish_loading(buf: &mut LoadBuffer) -> LoadingTxnOffsets {
    for c in std::mem::take(&mut buf.completions) {
        apply_marker(buf, c.producer_id, c.commit, c.marker_offset);
    }
    std::mem::take(&mut buf.pending_txn)
}

/// Puts offsets of open transactions back into their (possibly new) groups.
pub(super) fn restore_pending(loaded: &mut Vec<Group>, pending: LoadingTxnOffsets, now: i64) {
    for (pid, offsets) in pending {
        for ((group, tp), committed) in offsets {
            let i = match loaded.iter().position(|g| g.group_id == group) {
                Some(i) => i,
                None => {
                    loaded.push(Group::new(&group, now));
                    loaded.len() - 1
                }
            };
            loaded[i].pending_txn_offsets.entry(pid).or_default().insert(tp, committed);
        }
    }
}

/// Applies a marker at `marker_offset` to a loading partition's buffer.
fn apply_marker(buf: &mut LoadBuffer, producer_id: i64, commit: bool, marker_offset: i64) {
    let Some(pending) = buf.pending_txn.get_mut(&producer_id) else { return };
    for ((group, tp), committed) in take_settled(pending, marker_offset) {
        if !commit {
            continue;
        }
        let slot = buf.offsets.entry(group).or_default().entry(tp).or_insert(None);
        if slot.as_ref().is_none_or(|cur| cur.log_offset < committed.log_offset) {
            *slot = Some(committed);
        }
    }
    if pending.is_empty() {
        buf.pending_txn.remove(&producer_id);
    }
}

fn complete_in_group(g: &mut Group, producer_id: i64, commit: bool, marker_offset: i64) {
    let Some(pending) = g.pending_txn_offsets.get_mut(&producer_id) else { return };
    for (tp, committed) in take_settled(pending, marker_offset) {
        if commit && g.offsets.get(&tp).is_none_or(|cur| cur.log_offset < committed.log_offset) {
            g.offsets.insert(tp, committed);
        }
    }
    if pending.is_empty() {
        g.pending_txn_offsets.remove(&producer_id);
    }
}

/// Removes and returns the offsets written before a marker at
/// `marker_offset`; later ones belong to the producer's next transaction.
fn take_settled<K: Clone + Ord>(
    pending: &mut BTreeMap<K, CommittedOffset>,
    marker_offset: i64,
) -> Vec<(K, CommittedOffset)> {
    let settled: Vec<K> = pending
        .iter()
        .filter(|(_, c)| c.log_offset < marker_offset)
        .map(|(k, _)| k.clone())
        .collect();
    settled.into_iter().filter_map(|k| pending.remove(&k).map(|c| (k, c))).collect()
}

pub(super) fn committed_of(v: OffsetCommitValue, log_offset: i64) -> CommittedOffset {
    CommittedOffset {
        offset: v.offset,
        leader_epoch: Some(v.leader_epoch).filter(|&e| e >= 0),
        metadata: v.metadata,
        commit_timestamp: v.commit_timestamp,
        expire_timestamp: v.expire_timestamp,
        log_offset,
    }
}

/// Kafka's checks for TxnOffsetCommit v3+ (KIP-447): a member id, instance
/// id or generation the request names must match the group.
fn validate_txn_offset_commit(g: &Group, req: &OffsetCommitRequest) -> Option<Error> {
    if g.is(GroupState::Dead) {
        return Some(Error::CoordinatorNotAvailable);
    }
    if let Some(instance) = &req.group_instance_id {
        if g.current_static_member(instance).is_some_and(|m| m != req.member_id) {
            return Some(Error::FencedInstanceId);
        }
    }
    if !req.member_id.is_empty() && !g.has(&req.member_id) {
        return Some(Error::UnknownMemberId);
    }
    if req.generation_id >= 0 && req.generation_id != g.generation_id {
        return Some(Error::IllegalGeneration);
    }
    None
}
