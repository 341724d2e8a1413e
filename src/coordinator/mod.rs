//! The group coordinator: Kafka's classic consumer-group protocol
//! (JoinGroup/SyncGroup/Heartbeat/LeaveGroup and the group states Empty,
//! PreparingRebalance, CompletingRebalance, Stable, Dead) and committed
//! offsets, as a pure state machine in the shape of Kafka's
//! `CoordinatorResult<Response, Record>`.
//!
//! Requests, timer ticks and append outcomes go in, each with the current
//! time; out come records to append to `__consumer_offsets` and answers to
//! requests, some of which were parked earlier (a JoinGroup waits for the
//! whole group). The coordinator reads no clock, opens no file and touches
//! no socket: the broker's runtime owns the log, the timers and the
//! connections, and asks [`GroupCoordinator::next_deadline`] when to call
//! [`GroupCoordinator::tick`].
//!
//! State is rebuilt on start by replaying each `__consumer_offsets`
//! partition (`begin_loading`, `replay`, `complete_loading`); tombstones
//! delete. A group belongs to partition `abs(hashCode(group)) % 50`
//! ([`partition_for`]). Behaviour follows Kafka 3.x's `GroupCoordinator` and
//! `GroupMetadataManager` where a choice exists; deviations say why.

mod api;
mod error;
mod group;
mod membership;
mod offsets;
mod rebalance;
pub mod records;
mod state_machine;
mod timers;
mod txn_offsets;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

pub use api::*;
pub use error::{AppendError, Error};
pub use group::GroupState;
pub use state_machine::{LoadedRecord, StateMachine};

use group::{CommittedOffset, Group, Member};
use records::{GroupMetadataValue, OffsetCommitValue, RecordError, RecordKey};
use timers::{Timer, Timers};

use crate::config::Properties;
use crate::types::TopicPartition;

/// Name of the internal topic holding offsets and group metadata.
pub const GROUP_METADATA_TOPIC_NAME: &str = "__consumer_offsets";

/// A group id must fit the int16-length string of its record key; Kafka's
/// request parsers refuse longer strings before the coordinator sees them.
pub const MAX_GROUP_ID_BYTES: usize = i16::MAX as usize;

/// Kafka's `GroupCoordinator.NewMemberJoinTimeoutMs`.
const NEW_MEMBER_JOIN_TIMEOUT_MS: i64 = 5 * 60 * 1000;

/// The broker settings the coordinator obeys, with Kafka's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupConfig {
    pub group_min_session_timeout_ms: i32,
    pub group_max_session_timeout_ms: i32,
    pub group_max_size: i32,
    pub group_initial_rebalance_delay_ms: i32,
    pub offsets_topic_num_partitions: i32,
    pub offsets_retention_ms: i64,
    pub offsets_retention_check_interval_ms: i64,
    pub offset_metadata_max_bytes: usize,
    /// The largest batch `__consumer_offsets` accepts (message.max.bytes).
    pub max_append_bytes: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            group_min_session_timeout_ms: 6000,
            group_max_session_timeout_ms: 1_800_000,
            group_max_size: i32::MAX,
            group_initial_rebalance_delay_ms: 3000,
            offsets_topic_num_partitions: 50,
            offsets_retention_ms: 10080 * 60 * 1000,
            offsets_retention_check_interval_ms: 600_000,
            offset_metadata_max_bytes: 4096,
            max_append_bytes: 1_048_588,
        }
    }
}

impl GroupConfig {
    /// Reads Kafka's keys from server.properties.
    pub fn from_properties(p: &Properties) -> Result<Self, crate::config::Error> {
        let d = GroupConfig::default();
        let retention_minutes: i64 =
            p.parse_or("offsets.retention.minutes", d.offsets_retention_ms / 60_000)?;
        Ok(GroupConfig {
            group_min_session_timeout_ms: p
                .parse_or("group.min.session.timeout.ms", d.group_min_session_timeout_ms)?,
            group_max_session_timeout_ms: p
                .parse_or("group.max.session.timeout.ms", d.group_max_session_timeout_ms)?,
            group_max_size: p.parse_or("group.max.size", d.group_max_size)?,
            group_initial_rebalance_delay_ms: p
                .parse_or("group.initial.rebalance.delay.ms", d.group_initial_rebalance_delay_ms)?,
            offsets_topic_num_partitions: p
                .parse_or("offsets.topic.num.partitions", d.offsets_topic_num_partitions)?
                .max(1),
            offsets_retention_ms: retention_minutes.saturating_mul(60_000),
            offsets_retention_check_interval_ms: p
                .parse_or(
                    "offsets.retention.check.interval.ms",
                    d.offsets_retention_check_interval_ms,
                )?
                .max(1),
            offset_metadata_max_bytes: p
                .parse_or("offset.metadata.max.bytes", d.offset_metadata_max_bytes)?,
            max_append_bytes: p.parse_or("message.max.bytes", d.max_append_bytes)?,
        })
    }
}

/// Java's `String.hashCode` over UTF-16 code units.
pub fn java_string_hashcode(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The `__consumer_offsets` partition of a group: Kafka's
/// `Utils.abs(groupId.hashCode) % groupMetadataTopicPartitionCount`, where
/// `Utils.abs(Integer.MIN_VALUE)` is 0.
pub fn partition_for(group_id: &str, num_partitions: i32) -> i32 {
    let h = java_string_hashcode(group_id);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % num_partitions.max(1)
}

/// A `__consumer_offsets` partition's load state.
#[derive(Debug)]
enum PartitionState {
    Loading(Box<LoadBuffer>),
    Loaded,
}

/// What replay has seen so far of one partition; the last record per key wins.
#[derive(Debug, Default)]
struct LoadBuffer {
    groups: HashMap<String, Option<GroupMetadataValue>>,
    offsets: HashMap<String, BTreeMap<TopicPartition, Option<CommittedOffset>>>,
    /// Offsets of transactions whose marker replay has not reached yet.
    pending_txn: txn_offsets::LoadingTxnOffsets,
    /// Markers written while the partition loaded.
    completions: Vec<txn_offsets::Completion>,
}

/// What to do when an append completes (Kafka's append callbacks).
#[derive(Debug)]
enum Pending {
    /// Tombstones and empty-group records: failures only cost a retry later.
    Nothing,
    /// The leader's assignment for `generation`.
    SyncGroup {
        group: String,
        generation: i32,
        assignment: HashMap<String, Bytes>,
    },
    /// A static member rejoined a Stable group under a new member id (KIP-345).
    StaticRejoin(Box<StaticRejoin>),
    OffsetCommit(Box<PendingCommit>),
}

#[derive(Debug)]
struct StaticRejoin {
    group: String,
    instance_id: String,
    old_member_id: String,
    new_member_id: String,
    old_protocols: Vec<Protocol>,
    old_rebalance_timeout_ms: i32,
    old_session_timeout_ms: i32,
    /// The leader before the rejoin, answered to pre-v9 clients.
    previous_leader: String,
    support_skipping_assignment: bool,
}

#[derive(Debug)]
struct PendingCommit {
    group: String,
    request: RequestId,
    /// Request order; `true` marks a partition refused for its metadata size.
    layout: Vec<(String, Vec<(i32, bool)>)>,
    /// What the appended records hold, in record order.
    offsets: Vec<(TopicPartition, CommittedOffset)>,
    /// The transaction the offsets belong to, if any.
    producer_id: Option<i64>,
}

/// Everything but the groups, so a handler can hold `&mut Group` and still
/// schedule timers and appends.
struct Core {
    config: GroupConfig,
    partitions: HashMap<i32, PartitionState>,
    timers: Timers,
    pending: HashMap<AppendId, Pending>,
    next_append_id: u64,
    rng: fastrand::Rng,
    /// The offset-expiry timer runs from the first load on.
    retention_scheduled: bool,
    /// Set while the runtime cannot vouch that this broker still leads
    /// the partitions it loaded (its ZooKeeper session may have expired):
    /// every group answers NOT_COORDINATOR, so clients find the current
    /// coordinator instead of reading this one's stale offsets.
    fenced: bool,
}

/// A group's committed offsets, as its coordinator holds them.
#[derive(Clone, Debug)]
pub struct GroupOffsets {
    pub group_id: String,
    pub state: &'static str,
    pub offsets: Vec<(TopicPartition, i64)>,
}

/// The group coordinator of one broker, for the `__consumer_offsets`
/// partitions it leads.
pub struct GroupCoordinator {
    groups: HashMap<String, Group>,
    core: Core,
}

impl GroupCoordinator {
    /// `seed` feeds the member-id generator (ids are `<client.id>-<uuid>`);
    /// tests pass a constant, the broker a random value.
    pub fn new(config: GroupConfig, seed: u64) -> Self {
        GroupCoordinator {
            groups: HashMap::new(),
            core: Core {
                config,
                partitions: HashMap::new(),
                timers: Timers::default(),
                pending: HashMap::new(),
                next_append_id: 0,
                rng: fastrand::Rng::with_seed(seed),
                retention_scheduled: false,
                fenced: false,
            },
        }
    }

    pub fn config(&self) -> &GroupConfig {
        &self.core.config
    }

    pub fn partition_for(&self, group_id: &str) -> i32 {
        partition_for(group_id, self.core.config.offsets_topic_num_partitions)
    }
}

impl StateMachine for GroupCoordinator {
    type Output = Output;

    /// Fences (or lifts the fence on) every group this coordinator holds;
    /// the loaded state stays, for when the fence lifts.
    fn set_fenced(&mut self, fenced: bool) {
        self.core.fenced = fenced;
    }

    /// The earliest time at which [`tick`](Self::tick) has work. It may
    /// already have passed (a zero group.initial.rebalance.delay.ms ends a
    /// join phase this way), so the runtime checks it after every call.
    fn next_deadline(&self) -> Option<i64> {
        self.core.timers.next_deadline()
    }

    /// Fires every deadline at or before `now`: session expiry, the end of
    /// a rebalance's join or sync phase, offset expiry.
    fn tick(&mut self, now: i64) -> Output {
        let mut out = Output::default();
        while let Some((deadline, timer)) = self.core.timers.pop_due(now) {
            match timer {
                Timer::Heartbeat { group, member } => {
                    self.on_heartbeat_expired(&group, &member, deadline, now, &mut out)
                }
                Timer::PendingMember { group, member } => {
                    self.on_pending_member_expired(&group, &member, now, &mut out)
                }
                Timer::Join { group } => self.on_join_deadline(&group, now, &mut out),
                Timer::Sync { group } => self.on_sync_deadline(&group, now, &mut out),
                Timer::OffsetsRetention => {
                    self.cleanup_expired_offsets(now, &mut out);
                    let next =
                        now.saturating_add(self.core.config.offsets_retention_check_interval_ms);
                    self.core.timers.schedule(next, Timer::OffsetsRetention);
                }
            }
        }
        out
    }

    /// The runtime reports how an append ended; `Ok` carries the log offset
    /// of its first record.
    fn append_completed(
        &mut self,
        now: i64,
        id: AppendId,
        result: Result<i64, AppendError>,
    ) -> Output {
        let mut out = Output::default();
        if let Some(pending) = self.core.pending.remove(&id) {
            self.on_append_result(pending, result, now, &mut out);
        }
        out
    }

    /// The leader epoch tells the group coordinator nothing: a partition led
    /// again under a new epoch is not loaded again.
    fn begin_loading(&mut self, partition: i32, _leader_epoch: i32) {
        self.core.partitions.insert(partition, PartitionState::Loading(Box::default()));
    }

    fn replay_record(&mut self, partition: i32, r: &LoadedRecord) -> Result<(), RecordError> {
        match r.marker {
            Some(commit) => {
                self.replay_marker(partition, r.producer_id, commit);
                Ok(())
            }
            None => self.replay_batch_record(
                partition,
                r.producer_id,
                r.offset,
                &r.key,
                r.value.as_deref(),
            ),
        }
    }

    /// Finishes loading: rebuilds the partition's groups (a group record
    /// with members comes back Stable, without Empty) and starts their
    /// members' session timers, as Kafka's `onGroupLoaded` does.
    fn complete_loading(&mut self, now: i64, partition: i32) -> Output {
        let mut out = Output::default();
        let Some(PartitionState::Loading(buf)) = self.core.partitions.remove(&partition) else {
            return out;
        };
        self.core.partitions.insert(partition, PartitionState::Loaded);
        let mut buf = *buf;
        let pending_txn = txn_offsets::finish_loading(&mut buf);
        let LoadBuffer { groups, mut offsets, .. } = buf;
        let mut loaded: Vec<Group> = Vec::new();
        for (group_id, meta) in groups {
            let Some(meta) = meta else { continue };
            let mut g = group_from_record(&group_id, meta);
            g.offsets = live_offsets(offsets.remove(&group_id));
            loaded.push(g);
        }
        for (group_id, group_offsets) in offsets {
            let live = live_offsets(Some(group_offsets));
            if !live.is_empty() {
                let mut g = Group::new(&group_id, now);
                g.offsets = live;
                loaded.push(g);
            }
        }
        txn_offsets::restore_pending(&mut loaded, pending_txn, now);
        for g in loaded {
            let id = g.group_id.clone();
            self.groups.insert(id.clone(), g);
            self.on_group_loaded(&id, now, &mut out);
        }
        if !self.core.retention_scheduled {
            self.core.retention_scheduled = true;
            let next = now.saturating_add(self.core.config.offsets_retention_check_interval_ms);
            self.core.timers.schedule(next, Timer::OffsetsRetention);
        }
        out
    }

    /// This broker no longer leads `partition`: its groups are dropped and
    /// parked requests answered NOT_COORDINATOR (Kafka's `onGroupUnloaded`).
    fn unload(&mut self, partition: i32) -> Output {
        let mut out = Output::default();
        self.core.partitions.remove(&partition);
        let n = self.core.config.offsets_topic_num_partitions;
        let ids: Vec<String> =
            self.groups.keys().filter(|g| partition_for(g, n) == partition).cloned().collect();
        for id in ids {
            if let Some(mut g) = self.groups.remove(&id) {
                self.core.drop_group(&mut g, Error::NotCoordinator, &mut out);
            }
        }
        out
    }
}

impl GroupCoordinator {
    fn on_append_result(
        &mut self,
        pending: Pending,
        result: Result<i64, AppendError>,
        now: i64,
        out: &mut Output,
    ) {
        match pending {
            Pending::Nothing => {}
            Pending::SyncGroup { group, generation, assignment } => {
                self.on_sync_group_stored(&group, generation, assignment, result.err(), now, out)
            }
            Pending::StaticRejoin(rejoin) => {
                self.on_static_rejoin_stored(*rejoin, result.err(), now, out)
            }
            Pending::OffsetCommit(commit) => self.on_offsets_stored(*commit, result, out),
        }
    }

    /// Replays one record of a loading partition, in log order. A record
    /// that cannot be read is skipped (the error says why) and loading goes on.
    pub fn replay(
        &mut self,
        partition: i32,
        log_offset: i64,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), RecordError> {
        self.replay_batch_record(partition, -1, log_offset, key, value)
    }

    /// [`Self::replay`] for a record of a batch of `producer_id`: offsets of
    /// a transactional batch (a producer id other than -1) wait for the
    /// producer's next marker ([`Self::replay_marker`]).
    pub fn replay_batch_record(
        &mut self,
        partition: i32,
        producer_id: i64,
        log_offset: i64,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), RecordError> {
        let Some(PartitionState::Loading(buf)) = self.core.partitions.get_mut(&partition) else {
            return Ok(());
        };
        match RecordKey::decode(key)? {
            RecordKey::OffsetCommit { group, topic, partition: p } if producer_id != -1 => {
                let value = value.map(OffsetCommitValue::decode).transpose()?;
                txn_offsets::replay_pending(
                    buf,
                    producer_id,
                    group,
                    TopicPartition::new(topic, p),
                    value,
                    log_offset,
                );
            }
            RecordKey::OffsetCommit { group, topic, partition: p } => {
                let committed = match value {
                    None => None,
                    Some(v) => {
                        Some(txn_offsets::committed_of(OffsetCommitValue::decode(v)?, log_offset))
                    }
                };
                buf.offsets
                    .entry(group)
                    .or_default()
                    .insert(TopicPartition::new(topic, p), committed);
            }
            RecordKey::GroupMetadata { group } => {
                let meta = value.map(GroupMetadataValue::decode).transpose()?;
                buf.groups.insert(group, meta);
            }
        }
        Ok(())
    }

    /// Whether this coordinator has finished loading `partition`.
    pub fn is_loaded(&self, partition: i32) -> bool {
        matches!(self.core.partitions.get(&partition), Some(PartitionState::Loaded))
    }

    /// ListGroups: every group of the loaded partitions, optionally only
    /// those in the given states (case-insensitive, KIP-518).
    pub fn list_groups(&self, states_filter: &[String]) -> ListGroupsResult {
        if self.core.fenced {
            // The groups held may have moved to another coordinator already.
            return ListGroupsResult { error: Some(Error::NotCoordinator), groups: Vec::new() };
        }
        let loading =
            self.core.partitions.values().any(|p| matches!(p, PartitionState::Loading(_)));
        let wanted: Vec<String> = states_filter.iter().map(|s| s.to_lowercase()).collect();
        let mut groups: Vec<GroupOverview> = self
            .groups
            .values()
            .filter(|g| wanted.is_empty() || wanted.contains(&g.state.name().to_lowercase()))
            .map(|g| GroupOverview {
                group_id: g.group_id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state.name().to_string(),
            })
            .collect();
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        ListGroupsResult { error: loading.then_some(Error::CoordinatorLoadInProgress), groups }
    }

    /// DescribeGroups for one group. Unknown groups describe as Dead with no
    /// error, as Kafka does before DescribeGroups v6.
    pub fn describe_group(&self, group_id: &str) -> DescribedGroup {
        let mut d = DescribedGroup {
            error: None,
            group_id: group_id.to_string(),
            state: String::new(),
            protocol_type: String::new(),
            protocol_data: String::new(),
            members: Vec::new(),
        };
        if let Some(e) = self.core.validate_group(group_id, true) {
            d.error = Some(e);
            return d;
        }
        let Some(g) = self.groups.get(group_id) else {
            d.state = GroupState::Dead.name().to_string();
            return d;
        };
        d.state = g.state.name().to_string();
        d.protocol_type = g.protocol_type.clone().unwrap_or_default();
        let stable = g.is(GroupState::Stable);
        if stable {
            d.protocol_data = g.protocol_name.clone().unwrap_or_default();
        }
        d.members = g
            .members
            .values()
            .map(|m| DescribedMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                member_metadata: if stable { m.metadata(&d.protocol_data) } else { Bytes::new() },
                member_assignment: if stable { m.assignment.clone() } else { Bytes::new() },
            })
            .collect();
        d
    }

    /// Every group held here with its state name and committed offsets,
    /// for the broker's metrics.
    pub fn committed_offsets(&self) -> Vec<GroupOffsets> {
        self.groups
            .values()
            .map(|g| GroupOffsets {
                group_id: g.group_id.clone(),
                state: g.state.name(),
                offsets: g.offsets.iter().map(|(tp, o)| (tp.clone(), o.offset)).collect(),
            })
            .collect()
    }

    /// The state of a group, if this coordinator holds it.
    pub fn group_state(&self, group_id: &str) -> Option<GroupState> {
        self.groups.get(group_id).map(|g| g.state)
    }

    /// The generation of a group, if this coordinator holds it.
    pub fn generation(&self, group_id: &str) -> Option<i32> {
        self.groups.get(group_id).map(|g| g.generation_id)
    }

    fn on_group_loaded(&mut self, group_id: &str, now: i64, out: &mut Output) {
        let Some(g) = self.groups.get_mut(group_id) else { return };
        let ids: Vec<String> = g.members.keys().cloned().collect();
        for id in ids {
            self.core.schedule_session(g, &id, now);
        }
        if g.members.len() > self.core.config.group_max_size.max(0) as usize {
            self.core.prepare_rebalance(g, now, out);
        }
    }
}

impl Core {
    /// Kafka's `validateGroupStatus`.
    fn validate_group(&self, group_id: &str, allow_empty: bool) -> Option<Error> {
        if (!allow_empty && group_id.is_empty()) || group_id.len() > MAX_GROUP_ID_BYTES {
            return Some(Error::InvalidGroupId);
        }
        let partition = partition_for(group_id, self.config.offsets_topic_num_partitions);
        match self.partitions.get(&partition) {
            _ if self.fenced => Some(Error::NotCoordinator),
            None => Some(Error::NotCoordinator),
            Some(PartitionState::Loading(_)) => Some(Error::CoordinatorLoadInProgress),
            Some(PartitionState::Loaded) => None,
        }
    }

    fn partition_of(&self, group_id: &str) -> i32 {
        partition_for(group_id, self.config.offsets_topic_num_partitions)
    }

    /// Hands records to the runtime, or fails them at once when the batch
    /// would exceed the topic's message size, as the log would.
    fn append(
        &mut self,
        group_id: &str,
        now: i64,
        records: Vec<Record>,
        pending: Pending,
        out: &mut Output,
    ) -> Option<Pending> {
        self.append_as(group_id, now, records, pending, None, out)
    }

    /// [`Core::append`], in a transactional batch of `producer` if given.
    fn append_as(
        &mut self,
        group_id: &str,
        now: i64,
        records: Vec<Record>,
        pending: Pending,
        producer: Option<TxnProducer>,
        out: &mut Output,
    ) -> Option<Pending> {
        if batch_size(&records) > self.config.max_append_bytes {
            return Some(pending);
        }
        self.next_append_id += 1;
        let id = AppendId(self.next_append_id);
        out.appends.push(Append {
            id,
            partition: self.partition_of(group_id),
            timestamp: now,
            records,
            producer,
        });
        self.pending.insert(id, pending);
        None
    }

    /// A fresh member id: `<prefix>-<uuid v4>`, as Kafka's `generateMemberId`.
    fn generate_member_id(&mut self, prefix: &str) -> String {
        let mut bytes = [0u8; 16];
        for b in &mut bytes {
            *b = self.rng.u8(..);
        }
        format!("{prefix}-{}", uuid::Builder::from_random_bytes(bytes).into_uuid())
    }

    /// Answers everything a dropped group had parked and cancels its timers.
    fn drop_group(&mut self, g: &mut Group, error: Error, out: &mut Output) {
        let ids: Vec<String> = g.members.keys().cloned().collect();
        for id in ids {
            if let Some(m) = g.members.get_mut(&id) {
                if let Some(rid) = m.awaiting_join.take() {
                    out.responses
                        .push((rid, Response::JoinGroup(JoinGroupResult::error(&id, error))));
                }
                if let Some(rid) = m.awaiting_sync.take() {
                    out.responses.push((rid, Response::SyncGroup(SyncGroupResult::error(error))));
                }
            }
            self.cancel_session(g, &id);
        }
        let pending: Vec<(String, i64)> = g.pending_members.drain().collect();
        for (id, deadline) in pending {
            self.timers
                .cancel(deadline, Timer::PendingMember { group: g.group_id.clone(), member: id });
        }
        self.cancel_join_timer(g);
        self.cancel_sync_timer(g);
        g.state = GroupState::Dead;
    }
}

/// Rebuilds a group from its stored generation (Kafka's `GroupMetadata.loadGroup`).
fn group_from_record(group_id: &str, meta: GroupMetadataValue) -> Group {
    let state_timestamp = Some(meta.current_state_timestamp).filter(|&t| t != -1);
    let mut g = Group::new(group_id, 0);
    g.state_timestamp = state_timestamp;
    g.generation_id = meta.generation;
    g.protocol_type = Some(meta.protocol_type.clone()).filter(|t| !t.is_empty());
    g.protocol_name = meta.protocol.clone();
    let protocol = meta.protocol.unwrap_or_default();
    for m in meta.members {
        g.add_member(Member {
            member_id: m.member_id,
            group_instance_id: m.group_instance_id,
            client_id: m.client_id,
            client_host: m.client_host,
            rebalance_timeout_ms: m.rebalance_timeout,
            session_timeout_ms: m.session_timeout,
            protocol_type: meta.protocol_type.clone(),
            protocols: vec![Protocol { name: protocol.clone(), metadata: m.subscription }],
            assignment: m.assignment,
            awaiting_join: None,
            awaiting_sync: None,
            is_new: false,
            heartbeat_deadline: None,
        });
    }
    // add_member picks the first member as leader; the record names the real one.
    g.leader_id = meta.leader.filter(|l| g.members.contains_key(l)).or(g.leader_id);
    g.state = if g.members.is_empty() { GroupState::Empty } else { GroupState::Stable };
    g.subscribed_topics = g.compute_subscribed_topics();
    g
}

fn live_offsets(
    offsets: Option<BTreeMap<TopicPartition, Option<CommittedOffset>>>,
) -> BTreeMap<TopicPartition, CommittedOffset> {
    offsets.unwrap_or_default().into_iter().filter_map(|(tp, o)| Some((tp, o?))).collect()
}

/// The size of an uncompressed v2 record batch holding `records`: the
/// 61-byte header plus each record's varint-framed body.
fn batch_size(records: &[Record]) -> usize {
    fn varint_len(v: i64) -> usize {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        let mut n = 1;
        while z >= 0x80 {
            z >>= 7;
            n += 1;
        }
        n
    }
    let mut size = 61;
    for (i, r) in records.iter().enumerate() {
        let value_len = r.value.as_ref().map_or(-1, |v| v.len() as i64);
        let body = 1
            + varint_len(0)
            + varint_len(i as i64)
            + varint_len(r.key.len() as i64)
            + r.key.len()
            + varint_len(value_len)
            + value_len.max(0) as usize
            + varint_len(0);
        size += varint_len(body as i64) + body;
    }
    size
}
