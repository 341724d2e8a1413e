//! Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete, DeleteGroups
//! and offset expiry (Kafka's `GroupMetadataManager.storeOffsets`,
//! `getOffsets`, `cleanupGroupMetadata` and `GroupMetadata.removeExpiredOffsets`,
//! KIP-211 semantics).
//!
//! A commit is appended as OffsetCommit records and takes effect when the
//! append completes; until then the partition's commit is pending (an
//! OffsetFetch with require_stable answers UNSTABLE_OFFSET_COMMIT). Offsets
//! expire offsets.retention.minutes after the group became Empty, or after
//! their commit for groups without a protocol (manual assignment) and for
//! topics a Stable consumer group no longer subscribes to.

use std::collections::BTreeMap;

use super::group::{CommittedOffset, Group, GroupState, CONSUMER_PROTOCOL_TYPE};
use super::records::{OffsetCommitValue, RecordKey};
use super::{
    AppendError, Error, GroupCoordinator, OffsetCommitRequest, OffsetCommitResult,
    OffsetDeleteRequest, OffsetDeleteResult, OffsetFetchPartition, OffsetFetchRequest,
    OffsetFetchResult, OffsetFetchTopic, Output, Pending, PendingCommit, Record, RequestId,
    Response, TopicPartitionErrors, TxnProducer,
};
use crate::types::TopicPartition;

impl GroupCoordinator {
    pub fn offset_commit(&mut self, now: i64, rid: RequestId, req: OffsetCommitRequest) -> Output {
        let mut out = Output::default();
        let fail_all = |out: &mut Output, e: Error| {
            out.responses.push((rid, Response::OffsetCommit(all_partitions(&req, Some(e)))));
        };
        if let Some(e) = self.core.validate_group(&req.group_id, true) {
            fail_all(&mut out, e);
            return out;
        }
        if !self.groups.contains_key(&req.group_id) {
            if req.generation_id >= 0 {
                // A member of a generation this coordinator never saw.
                fail_all(&mut out, Error::IllegalGeneration);
                return out;
            }
            // Offsets-only ("simple") group: manual assignment or admin tools.
            self.groups.insert(req.group_id.clone(), Group::new(&req.group_id, now));
        }
        let Some(g) = self.groups.get_mut(&req.group_id) else { return out };
        if let Some(e) = validate_offset_commit(g, &req) {
            fail_all(&mut out, e);
            return out;
        }
        match g.state {
            GroupState::Empty => {}
            // Commits go on during PreparingRebalance: the next heartbeat
            // tells the member to rejoin.
            GroupState::Stable | GroupState::PreparingRebalance => {
                self.core.schedule_session(g, &req.member_id, now)
            }
            GroupState::CompletingRebalance | GroupState::Dead => {
                fail_all(&mut out, Error::RebalanceInProgress);
                return out;
            }
        }
        if let Some(pending) = self.store_offsets(rid, &req, None, now, &mut out) {
            self.on_append_result(pending, Err(AppendError::TooLarge), now, &mut out);
        }
        out
    }

    /// Appends the offsets of a commit; those of a transaction (`producer`)
    /// wait for its marker instead of taking effect with the append.
    pub(super) fn store_offsets(
        &mut self,
        rid: RequestId,
        req: &OffsetCommitRequest,
        producer: Option<TxnProducer>,
        now: i64,
        out: &mut Output,
    ) -> Option<Pending> {
        let max_metadata = self.core.config.offset_metadata_max_bytes;
        let mut layout = Vec::new();
        let mut records = Vec::new();
        let mut offsets = Vec::new();
        for topic in &req.topics {
            let mut parts = Vec::new();
            for p in &topic.partitions {
                let metadata = p.committed_metadata.clone().unwrap_or_default();
                let too_large = metadata.len() > max_metadata;
                parts.push((p.partition_index, too_large));
                if too_large {
                    continue;
                }
                let committed = CommittedOffset {
                    offset: p.committed_offset,
                    leader_epoch: Some(p.committed_leader_epoch).filter(|&e| e >= 0),
                    metadata,
                    commit_timestamp: if p.commit_timestamp == -1 {
                        now
                    } else {
                        p.commit_timestamp
                    },
                    expire_timestamp: (req.retention_time_ms != -1)
                        .then(|| now.saturating_add(req.retention_time_ms)),
                    log_offset: -1,
                };
                let tp = TopicPartition::new(topic.name.clone(), p.partition_index);
                records.push(offset_commit_record(&req.group_id, &tp, Some(&committed)));
                offsets.push((tp, committed));
            }
            layout.push((topic.name.clone(), parts));
        }
        if offsets.is_empty() {
            out.responses.push((rid, Response::OffsetCommit(commit_result(&layout, None))));
            return None;
        }
        if let Some(g) = self.groups.get_mut(&req.group_id).filter(|_| producer.is_none()) {
            for (tp, _) in &offsets {
                *g.pending_offset_commits.entry(tp.clone()).or_default() += 1;
            }
        }
        let pending = Pending::OffsetCommit(Box::new(PendingCommit {
            group: req.group_id.clone(),
            request: rid,
            layout,
            offsets,
            producer_id: producer.map(|p| p.producer_id),
        }));
        self.core.append_as(&req.group_id, now, records, pending, producer, out)
    }

    pub(super) fn on_offsets_stored(
        &mut self,
        commit: PendingCommit,
        result: Result<i64, AppendError>,
        out: &mut Output,
    ) {
        if let Some(pid) = commit.producer_id {
            if let (Some(g), Ok(base_offset)) = (self.groups.get_mut(&commit.group), result) {
                let pending = g.pending_txn_offsets.entry(pid).or_default();
                for (i, (tp, mut committed)) in commit.offsets.into_iter().enumerate() {
                    committed.log_offset = base_offset + i as i64;
                    pending.insert(tp, committed);
                }
            }
        } else if let Some(g) = self.groups.get_mut(&commit.group) {
            for (i, (tp, mut committed)) in commit.offsets.into_iter().enumerate() {
                // Offsets deleted while the append was in flight stay deleted.
                let was_pending = match g.pending_offset_commits.get_mut(&tp) {
                    Some(n) => {
                        *n -= 1;
                        if *n == 0 {
                            g.pending_offset_commits.remove(&tp);
                        }
                        true
                    }
                    None => false,
                };
                let Ok(base_offset) = result else { continue };
                if !was_pending {
                    continue;
                }
                committed.log_offset = base_offset + i as i64;
                if g.offsets.get(&tp).is_none_or(|cur| cur.log_offset < committed.log_offset) {
                    g.offsets.insert(tp, committed);
                }
            }
        }
        let error = result.err().map(AppendError::for_offset_commit);
        out.responses
            .push((commit.request, Response::OffsetCommit(commit_result(&commit.layout, error))));
    }

    /// OffsetFetch. Unknown groups and partitions answer offset -1, leader
    /// epoch -1 and metadata "" without error, never nulls.
    pub fn offset_fetch(&self, req: &OffsetFetchRequest) -> OffsetFetchResult {
        if let Some(e) = self.core.validate_group(&req.group_id, true) {
            return OffsetFetchResult { error: Some(e), topics: Vec::new() };
        }
        let group = self.groups.get(&req.group_id).filter(|g| !g.is(GroupState::Dead));
        let fetch = |tp: &TopicPartition| -> OffsetFetchPartition {
            let mut p = OffsetFetchPartition {
                partition_index: tp.partition.0,
                committed_offset: -1,
                committed_leader_epoch: -1,
                metadata: String::new(),
                error: None,
            };
            let Some(g) = group else { return p };
            if req.require_stable && g.has_pending_commit(tp) {
                p.error = Some(Error::UnstableOffsetCommit);
            } else if let Some(o) = g.offsets.get(tp) {
                p.committed_offset = o.offset;
                p.committed_leader_epoch = o.leader_epoch.unwrap_or(-1);
                p.metadata = o.metadata.clone();
            }
            p
        };
        let topics = match &req.topics {
            Some(topics) => topics
                .iter()
                .map(|(name, parts)| OffsetFetchTopic {
                    name: name.clone(),
                    partitions: parts
                        .iter()
                        .map(|&p| fetch(&TopicPartition::new(name.clone(), p)))
                        .collect(),
                })
                .collect(),
            None => {
                let mut by_topic: BTreeMap<String, Vec<OffsetFetchPartition>> = BTreeMap::new();
                for tp in group.map(|g| g.offsets.keys().collect::<Vec<_>>()).unwrap_or_default() {
                    by_topic.entry(tp.topic.clone()).or_default().push(fetch(tp));
                }
                by_topic
                    .into_iter()
                    .map(|(name, partitions)| OffsetFetchTopic { name, partitions })
                    .collect()
            }
        };
        OffsetFetchResult { error: None, topics }
    }

    /// DeleteGroups: only Empty groups go; their offsets and metadata are
    /// tombstoned.
    pub fn delete_groups(&mut self, now: i64, rid: RequestId, group_ids: &[String]) -> Output {
        let mut out = Output::default();
        let mut results = Vec::new();
        for id in group_ids {
            let error = if let Some(e) = self.core.validate_group(id, true) {
                Some(e)
            } else {
                match self.groups.get(id).map(|g| g.state) {
                    None | Some(GroupState::Dead) => Some(Error::GroupIdNotFound),
                    Some(GroupState::Empty) => {
                        if let Some(mut g) = self.groups.remove(id) {
                            let removed: Vec<TopicPartition> = g.offsets.keys().cloned().collect();
                            g.offsets.clear();
                            g.pending_offset_commits.clear();
                            self.core.drop_group(&mut g, Error::NotCoordinator, &mut out);
                            self.append_tombstones(&g, &removed, true, now, &mut out);
                        }
                        None
                    }
                    Some(_) => Some(Error::NonEmptyGroup),
                }
            };
            results.push((id.clone(), error));
        }
        out.responses.push((rid, Response::DeleteGroups(results)));
        out
    }

    /// OffsetDelete (KIP-496): an Empty group loses the offsets; a consumer
    /// group keeps those of topics it subscribes to.
    pub fn offset_delete(&mut self, now: i64, rid: RequestId, req: OffsetDeleteRequest) -> Output {
        let mut out = Output::default();
        let reply = |out: &mut Output, error: Option<Error>, topics: Vec<TopicPartitionErrors>| {
            out.responses.push((rid, Response::OffsetDelete(OffsetDeleteResult { error, topics })));
        };
        if let Some(e) = self.core.validate_group(&req.group_id, false) {
            reply(&mut out, Some(e), Vec::new());
            return out;
        }
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            reply(&mut out, Some(Error::GroupIdNotFound), Vec::new());
            return out;
        };
        let consumer = g.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE);
        let subscribed = |g: &Group, topic: &str| match g.state {
            GroupState::Empty => false,
            _ => g.is_subscribed_to(topic),
        };
        match g.state {
            GroupState::Dead => {
                reply(&mut out, Some(Error::GroupIdNotFound), Vec::new());
                return out;
            }
            GroupState::Empty => {}
            _ if consumer => {}
            _ => {
                reply(&mut out, Some(Error::NonEmptyGroup), Vec::new());
                return out;
            }
        }
        let mut topics = Vec::new();
        let mut removed = Vec::new();
        for (name, parts) in &req.topics {
            let keep = subscribed(g, name);
            let mut results = Vec::new();
            for &p in parts {
                if keep {
                    results.push((p, Some(Error::GroupSubscribedToTopic)));
                    continue;
                }
                let tp = TopicPartition::new(name.clone(), p);
                g.pending_offset_commits.remove(&tp);
                if g.offsets.remove(&tp).is_some() {
                    removed.push(tp);
                }
                results.push((p, None));
            }
            topics.push(TopicPartitionErrors { name: name.clone(), partitions: results });
        }
        let group_gone = g.is(GroupState::Empty) && !g.has_offsets();
        if group_gone {
            if let Some(mut g) = self.groups.remove(&req.group_id) {
                self.core.drop_group(&mut g, Error::NotCoordinator, &mut out);
                self.append_tombstones(&g, &removed, true, now, &mut out);
            }
        } else if let Some(g) = self.groups.get(&req.group_id) {
            self.append_tombstones_for(
                &req.group_id,
                g.generation_id,
                &removed,
                false,
                now,
                &mut out,
            );
        }
        reply(&mut out, None, topics);
        out
    }

    /// Expires offsets past retention and drops groups left Empty with no
    /// offsets (Kafka's `cleanupGroupMetadata`, every
    /// offsets.retention.check.interval.ms).
    pub(super) fn cleanup_expired_offsets(&mut self, now: i64, out: &mut Output) {
        let retention = self.core.config.offsets_retention_ms;
        let mut ids: Vec<String> = self.groups.keys().cloned().collect();
        ids.sort();
        for id in ids {
            let Some(g) = self.groups.get_mut(&id) else { continue };
            let expired = remove_expired_offsets(g, now, retention);
            if g.is(GroupState::Empty) && !g.has_offsets() {
                if let Some(mut g) = self.groups.remove(&id) {
                    self.core.drop_group(&mut g, Error::NotCoordinator, out);
                    self.append_tombstones(&g, &expired, true, now, out);
                }
            } else if !expired.is_empty() {
                let generation = g.generation_id;
                self.append_tombstones_for(&id, generation, &expired, false, now, out);
            }
        }
    }

    fn append_tombstones(
        &mut self,
        g: &Group,
        offsets: &[TopicPartition],
        group_dead: bool,
        now: i64,
        out: &mut Output,
    ) {
        self.append_tombstones_for(&g.group_id, g.generation_id, offsets, group_dead, now, out);
    }

    /// Tombstones for removed offsets, and for the group record when a
    /// group that ever had a generation is gone. Losing them is harmless:
    /// the next load just expires the same offsets again.
    fn append_tombstones_for(
        &mut self,
        group_id: &str,
        generation: i32,
        offsets: &[TopicPartition],
        group_dead: bool,
        now: i64,
        out: &mut Output,
    ) {
        let mut records: Vec<Record> =
            offsets.iter().map(|tp| offset_commit_record(group_id, tp, None)).collect();
        if group_dead && generation > 0 {
            records.push(Record {
                key: RecordKey::GroupMetadata { group: group_id.to_string() }.encode(),
                value: None,
            });
        }
        if !records.is_empty() {
            let _ = self.core.append(group_id, now, records, Pending::Nothing, out);
        }
    }
}

/// Kafka's `validateOffsetCommit`.
fn validate_offset_commit(g: &Group, req: &OffsetCommitRequest) -> Option<Error> {
    if g.is(GroupState::Dead) {
        return Some(Error::CoordinatorNotAvailable);
    }
    if req.generation_id < 0 && g.is(GroupState::Empty) {
        // Admin tools and consumers without group management may commit
        // while nobody is in the group.
        return None;
    }
    if req.generation_id >= 0 || !req.member_id.is_empty() || req.group_instance_id.is_some() {
        if let Some(instance) = &req.group_instance_id {
            match g.current_static_member(instance) {
                Some(current) if current != req.member_id => return Some(Error::FencedInstanceId),
                Some(_) => {}
                None => return Some(Error::UnknownMemberId),
            }
        }
        if !g.has(&req.member_id) {
            return Some(Error::UnknownMemberId);
        }
        return (req.generation_id != g.generation_id).then_some(Error::IllegalGeneration);
    }
    // Only members may commit to a group that has them.
    (!g.is(GroupState::Empty)).then_some(Error::UnknownMemberId)
}

/// Kafka's `removeExpiredOffsets`.
fn remove_expired_offsets(g: &mut Group, now: i64, retention_ms: i64) -> Vec<TopicPartition> {
    let empty_since = g.state_timestamp;
    let (since_empty, skip_subscribed) = match (g.protocol_type.as_deref(), g.state) {
        // No members: retention counts from when the group emptied.
        (Some(_), GroupState::Empty) => (true, false),
        // A live consumer group keeps offsets of the topics it consumes.
        (Some(CONSUMER_PROTOCOL_TYPE), GroupState::Stable) if g.subscribed_topics.is_some() => {
            (false, true)
        }
        // Offsets-only group: each offset from its own commit.
        (None, _) => (false, false),
        _ => return Vec::new(),
    };
    let expired: Vec<TopicPartition> = g
        .offsets
        .iter()
        .filter(|(tp, o)| {
            if skip_subscribed && g.is_subscribed_to(&tp.topic) {
                return false;
            }
            if g.has_pending_commit(tp) {
                return false;
            }
            match o.expire_timestamp {
                Some(expire) => now >= expire,
                None => {
                    let base = if since_empty {
                        empty_since.unwrap_or(o.commit_timestamp)
                    } else {
                        o.commit_timestamp
                    };
                    now.saturating_sub(base) >= retention_ms
                }
            }
        })
        .map(|(tp, _)| tp.clone())
        .collect();
    for tp in &expired {
        g.offsets.remove(tp);
    }
    expired
}

fn offset_commit_record(
    group_id: &str,
    tp: &TopicPartition,
    committed: Option<&CommittedOffset>,
) -> Record {
    let key = RecordKey::OffsetCommit {
        group: group_id.to_string(),
        topic: tp.topic.clone(),
        partition: tp.partition.0,
    };
    Record {
        key: key.encode(),
        value: committed.map(|c| {
            OffsetCommitValue {
                offset: c.offset,
                leader_epoch: c.leader_epoch.unwrap_or(-1),
                metadata: c.metadata.clone(),
                commit_timestamp: c.commit_timestamp,
                expire_timestamp: c.expire_timestamp,
            }
            .encode()
        }),
    }
}

pub(super) fn all_partitions(
    req: &OffsetCommitRequest,
    error: Option<Error>,
) -> OffsetCommitResult {
    OffsetCommitResult {
        topics: req
            .topics
            .iter()
            .map(|t| TopicPartitionErrors {
                name: t.name.clone(),
                partitions: t.partitions.iter().map(|p| (p.partition_index, error)).collect(),
            })
            .collect(),
    }
}

fn commit_result(
    layout: &[(String, Vec<(i32, bool)>)],
    error: Option<Error>,
) -> OffsetCommitResult {
    OffsetCommitResult {
        topics: layout
            .iter()
            .map(|(name, parts)| TopicPartitionErrors {
                name: name.clone(),
                partitions: parts
                    .iter()
                    .map(|&(p, too_large)| {
                        (p, if too_large { Some(Error::OffsetMetadataTooLarge) } else { error })
                    })
                    .collect(),
            })
            .collect(),
    }
}
