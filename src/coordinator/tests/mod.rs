//! State-machine tests: every transition driven by requests, ticks and
//! append outcomes, asserting the responses and records that come out.
//! Cases are named after the KIP that defines the behaviour where one does.

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;

use super::group::tests::subscription;

mod offsets;
mod rebalance;
mod txn_offsets;
use super::records::RecordKey;
use super::*;

pub(super) const SESSION: i32 = 10_000;
pub(super) const REBALANCE: i32 = 30_000;

/// (log offset, key, value) of one stored record.
pub(super) type LogEntry = (i64, Vec<u8>, Option<Vec<u8>>);

/// A coordinator with every partition loaded, an in-memory
/// `__consumer_offsets`, a clock and request ids.
pub(super) struct Harness {
    pub(super) c: GroupCoordinator,
    pub(super) now: i64,
    pub(super) next_rid: u64,
    /// partition → (log offset, key, value) in append order.
    pub(super) log: BTreeMap<i32, Vec<LogEntry>>,
    /// Appends not yet reported back, so tests can hold one in flight.
    pub(super) in_flight: Vec<Append>,
    pub(super) answered: HashMap<RequestId, Response>,
}

impl Harness {
    pub(super) fn new() -> Self {
        Self::with_initial_delay(0)
    }

    /// A harness whose new groups wait `ms` for more members
    /// (`group.initial.rebalance.delay.ms`, KIP-134).
    pub(super) fn with_initial_delay(ms: i32) -> Self {
        Self::with_config(GroupConfig {
            group_initial_rebalance_delay_ms: ms,
            ..GroupConfig::default()
        })
    }

    pub(super) fn with_config(config: GroupConfig) -> Self {
        let mut c = GroupCoordinator::new(config, 7);
        for p in 0..c.config().offsets_topic_num_partitions {
            c.begin_loading(p, 0);
            let out = c.complete_loading(0, p);
            assert!(out.responses.is_empty() && out.appends.is_empty());
        }
        Harness {
            c,
            now: 0,
            next_rid: 0,
            log: BTreeMap::new(),
            in_flight: Vec::new(),
            answered: HashMap::new(),
        }
    }

    pub(super) fn rid(&mut self) -> RequestId {
        self.next_rid += 1;
        RequestId(self.next_rid)
    }

    /// Records responses (each id at most once) and queues appends, then
    /// fires deadlines that are already due, as the runtime does after
    /// every call (a zero initial delay ends the join phase this way).
    pub(super) fn absorb(&mut self, out: Output) -> Vec<(RequestId, Response)> {
        let mut responses = self.record(out);
        while self.c.next_deadline().is_some_and(|d| d <= self.now) {
            let out = self.c.tick(self.now);
            responses.extend(self.record(out));
        }
        responses
    }

    pub(super) fn record(&mut self, out: Output) -> Vec<(RequestId, Response)> {
        for (rid, resp) in &out.responses {
            assert!(self.answered.insert(*rid, resp.clone()).is_none(), "{rid:?} answered twice");
        }
        self.in_flight.extend(out.appends);
        out.responses
    }

    /// Completes every queued append successfully, in order.
    pub(super) fn flush(&mut self) -> Vec<(RequestId, Response)> {
        let mut responses = Vec::new();
        while !self.in_flight.is_empty() {
            let append = self.in_flight.remove(0);
            let log = self.log.entry(append.partition).or_default();
            let base = log.len() as i64;
            for (i, r) in append.records.iter().enumerate() {
                log.push((base + i as i64, r.key.clone(), r.value.clone()));
            }
            let out = self.c.append_completed(self.now, append.id, Ok(base));
            responses.extend(self.absorb(out));
        }
        responses
    }

    pub(super) fn fail_appends(&mut self, error: AppendError) -> Vec<(RequestId, Response)> {
        let mut responses = Vec::new();
        for append in std::mem::take(&mut self.in_flight) {
            let out = self.c.append_completed(self.now, append.id, Err(error));
            responses.extend(self.absorb(out));
        }
        responses
    }

    pub(super) fn advance(&mut self, ms: i64) -> Vec<(RequestId, Response)> {
        self.now += ms;
        let out = self.c.tick(self.now);
        let mut r = self.absorb(out);
        r.extend(self.flush());
        r
    }

    pub(super) fn join(&mut self, req: JoinGroupRequest) -> RequestId {
        let rid = self.rid();
        let out = self.c.join_group(self.now, rid, req);
        self.absorb(out);
        self.flush();
        rid
    }

    pub(super) fn sync(&mut self, req: SyncGroupRequest) -> RequestId {
        let rid = self.rid();
        let out = self.c.sync_group(self.now, rid, req);
        self.absorb(out);
        rid
    }

    pub(super) fn heartbeat(
        &mut self,
        group: &str,
        member: &str,
        generation: i32,
    ) -> Option<Error> {
        let rid = self.rid();
        let req = HeartbeatRequest {
            group_id: group.into(),
            generation_id: generation,
            member_id: member.into(),
            group_instance_id: None,
        };
        let out = self.c.heartbeat(self.now, rid, req);
        self.absorb(out);
        match self.answered.get(&rid) {
            Some(Response::Heartbeat(e)) => *e,
            other => panic!("heartbeat answered with {other:?}"),
        }
    }

    pub(super) fn leave(&mut self, group: &str, members: Vec<MemberIdentity>) -> LeaveGroupResult {
        let rid = self.rid();
        let out = self.c.leave_group(
            self.now,
            rid,
            LeaveGroupRequest { group_id: group.into(), members },
        );
        self.absorb(out);
        self.flush();
        match self.answered.get(&rid) {
            Some(Response::LeaveGroup(r)) => r.clone(),
            other => panic!("leave answered with {other:?}"),
        }
    }

    pub(super) fn join_result(&self, rid: RequestId) -> Option<JoinGroupResult> {
        match self.answered.get(&rid) {
            Some(Response::JoinGroup(r)) => Some(r.clone()),
            None => None,
            other => panic!("not a join answer: {other:?}"),
        }
    }

    pub(super) fn sync_result(&self, rid: RequestId) -> Option<SyncGroupResult> {
        match self.answered.get(&rid) {
            Some(Response::SyncGroup(r)) => Some(r.clone()),
            None => None,
            other => panic!("not a sync answer: {other:?}"),
        }
    }

    pub(super) fn commit(&mut self, req: OffsetCommitRequest) -> RequestId {
        let rid = self.rid();
        let out = self.c.offset_commit(self.now, rid, req);
        self.absorb(out);
        rid
    }

    /// Commits, lets the append finish, and checks the commit was answered.
    pub(super) fn commit_stored(&mut self, req: OffsetCommitRequest) {
        let c = self.commit(req);
        self.flush();
        assert!(self.commit_result(c).is_some());
    }

    pub(super) fn commit_result(&self, rid: RequestId) -> Option<OffsetCommitResult> {
        match self.answered.get(&rid) {
            Some(Response::OffsetCommit(r)) => Some(r.clone()),
            None => None,
            other => panic!("not a commit answer: {other:?}"),
        }
    }

    /// Joins a fresh dynamic member through MEMBER_ID_REQUIRED (KIP-394)
    /// and returns its id and the parked join.
    pub(super) fn join_new(&mut self, group: &str, client: &str) -> (String, RequestId) {
        let first = self.join(join_req(group, "", client));
        let r = self.join_result(first).expect("first join is answered at once");
        assert_eq!(r.error, Some(Error::MemberIdRequired));
        let second = self.join(join_req(group, &r.member_id, client));
        (r.member_id, second)
    }

    /// A Stable group of `n` dynamic members; returns ids (leader first) and generation.
    pub(super) fn stable_group(&mut self, group: &str, n: usize) -> (Vec<String>, i32) {
        // Each newcomer starts a rebalance the earlier members must rejoin.
        let mut joins: Vec<(String, RequestId)> = Vec::new();
        for i in 0..n {
            joins.push(self.join_new(group, &format!("client{i}")));
            #[allow(clippy::needless_range_loop)] // joins[j] is reassigned
            for j in 0..i {
                if self.c.group_state(group) == Some(GroupState::PreparingRebalance) {
                    let id = joins[j].0.clone();
                    joins[j].1 = self.join(join_req(group, &id, &format!("client{j}")));
                }
            }
        }
        let results: Vec<JoinGroupResult> =
            joins.iter().map(|(_, rid)| self.join_result(*rid).expect("join completes")).collect();
        let generation = results[0].generation_id;
        let leader = results[0].leader.clone();
        let mut ids: Vec<String> = joins.iter().map(|(id, _)| id.clone()).collect();
        ids.sort_by_key(|id| *id != leader);
        let assignments: Vec<(String, Bytes)> =
            ids.iter().map(|id| (id.clone(), Bytes::from(format!("assign-{id}")))).collect();
        for id in ids.iter().skip(1) {
            self.sync(sync_req(group, id, generation, vec![]));
        }
        self.sync(sync_req(group, &leader, generation, assignments));
        self.flush();
        assert_eq!(self.c.group_state(group), Some(GroupState::Stable));
        (ids, generation)
    }
}

pub(super) fn join_req(group: &str, member_id: &str, client: &str) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: group.into(),
        session_timeout_ms: SESSION,
        rebalance_timeout_ms: REBALANCE,
        member_id: member_id.into(),
        group_instance_id: None,
        protocol_type: "consumer".into(),
        protocols: vec![Protocol { name: "range".into(), metadata: subscription(&["t"]) }],
        reason: None,
        client_id: client.into(),
        client_host: "/127.0.0.1".into(),
        require_known_member_id: true,
        support_skipping_assignment: false,
    }
}

/// A first JoinGroup of `client` that a pre-KIP-394 client sends: no member
/// id asked for first, the member joins at once.
pub(super) fn new_member_join_req(group: &str, client: &str) -> JoinGroupRequest {
    JoinGroupRequest { require_known_member_id: false, ..join_req(group, "", client) }
}

pub(super) fn static_join_req(group: &str, member_id: &str, instance: &str) -> JoinGroupRequest {
    JoinGroupRequest {
        group_instance_id: Some(instance.into()),
        require_known_member_id: false,
        ..join_req(group, member_id, instance)
    }
}

pub(super) fn sync_req(
    group: &str,
    member: &str,
    generation: i32,
    assignments: Vec<(String, Bytes)>,
) -> SyncGroupRequest {
    SyncGroupRequest {
        group_id: group.into(),
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: None,
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignments,
    }
}

pub(super) fn commit_req(
    group: &str,
    member: &str,
    generation: i32,
    parts: &[(&str, i32, i64)],
) -> OffsetCommitRequest {
    let mut topics: Vec<OffsetCommitTopic> = Vec::new();
    for &(topic, partition, offset) in parts {
        let p = OffsetCommitPartition {
            partition_index: partition,
            committed_offset: offset,
            committed_leader_epoch: 0,
            commit_timestamp: -1,
            committed_metadata: Some(String::new()),
        };
        match topics.iter_mut().find(|t| t.name == topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(OffsetCommitTopic { name: topic.into(), partitions: vec![p] }),
        }
    }
    OffsetCommitRequest {
        group_id: group.into(),
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: None,
        retention_time_ms: -1,
        topics,
    }
}

pub(super) fn fetch(h: &Harness, group: &str, topic: &str, partition: i32) -> OffsetFetchPartition {
    let req = OffsetFetchRequest {
        group_id: group.into(),
        topics: Some(vec![(topic.into(), vec![partition])]),
        require_stable: true,
    };
    h.c.offset_fetch(&req).topics[0].partitions[0].clone()
}

pub(super) fn commit_errors(r: &OffsetCommitResult) -> Vec<Option<Error>> {
    r.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.1)).collect()
}
