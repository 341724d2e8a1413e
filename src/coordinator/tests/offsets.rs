//! Offset transitions: commits, fetches, deletes, expiry, and rebuilding
//! state from `__consumer_offsets`.

use bytes::Bytes;

use super::super::group::tests::subscription;
use super::super::records::{GroupMetadataValue, OffsetCommitValue, RecordKey};
use super::super::*;
use super::*;

#[test]
fn offsets_commit_store_and_fetch() {
    let mut h = Harness::new();
    let c = h.commit(commit_req("simple", "", -1, &[("t", 0, 42), ("t", 1, 7), ("u", 0, 3)]));
    assert!(h.commit_result(c).is_none(), "answered when the records are stored");
    assert_eq!(
        fetch(&h, "simple", "t", 0).error,
        Some(Error::UnstableOffsetCommit),
        "KIP-447 require_stable"
    );
    let append = h.in_flight[0].clone();
    assert_eq!(append.records.len(), 3);
    let key = RecordKey::decode(&append.records[0].key).unwrap();
    assert_eq!(
        key,
        RecordKey::OffsetCommit { group: "simple".into(), topic: "t".into(), partition: 0 }
    );
    let value = OffsetCommitValue::decode(append.records[0].value.as_deref().unwrap()).unwrap();
    assert_eq!((value.offset, value.leader_epoch, value.commit_timestamp), (42, 0, h.now));
    assert_eq!(append.records[0].value.as_deref().unwrap()[..2], [0, 3], "value v3");
    h.flush();
    assert_eq!(commit_errors(&h.commit_result(c).unwrap()), vec![None, None, None]);
    let p = fetch(&h, "simple", "t", 0);
    assert_eq!(
        (p.committed_offset, p.committed_leader_epoch, p.metadata.as_str(), p.error),
        (42, 0, "", None)
    );
    let missing = fetch(&h, "simple", "t", 9);
    assert_eq!(
        (missing.committed_offset, missing.committed_leader_epoch, missing.metadata.as_str()),
        (-1, -1, "")
    );
    let none = fetch(&h, "no-group", "t", 0);
    assert_eq!(
        (none.committed_offset, none.error),
        (-1, None),
        "unknown group: no offset, no error"
    );
    let all = h.c.offset_fetch(&OffsetFetchRequest {
        group_id: "simple".into(),
        topics: None,
        require_stable: false,
    });
    let flat: Vec<(String, i32, i64)> = all
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.name.clone(), p.partition_index, p.committed_offset))
        })
        .collect();
    assert_eq!(
        flat,
        vec![("t".into(), 0, 42), ("t".into(), 1, 7), ("u".into(), 0, 3)],
        "all partitions, sorted"
    );
    let list = h.c.list_groups(&[]);
    assert!(list
        .groups
        .iter()
        .any(|g| g.group_id == "simple" && g.protocol_type.is_empty() && g.state == "Empty"));
}

#[test]
fn commit_metadata_over_the_limit_is_refused_per_partition() {
    let mut h = Harness::new();
    let mut req = commit_req("g", "", -1, &[("t", 0, 1), ("t", 1, 2)]);
    req.topics[0].partitions[1].committed_metadata = Some("m".repeat(4097));
    let c = h.commit(req);
    h.flush();
    assert_eq!(
        commit_errors(&h.commit_result(c).unwrap()),
        vec![None, Some(Error::OffsetMetadataTooLarge)]
    );
    assert_eq!(fetch(&h, "g", "t", 1).committed_offset, -1);
    let mut all_big = commit_req("g", "", -1, &[("t", 2, 1)]);
    all_big.topics[0].partitions[0].committed_metadata = Some("m".repeat(5000));
    let c = h.commit(all_big);
    assert_eq!(
        commit_errors(&h.commit_result(c).unwrap()),
        vec![Some(Error::OffsetMetadataTooLarge)],
        "answered at once"
    );
    assert!(h.in_flight.is_empty());
}

#[test]
fn commit_validation_table() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 1);
    let cases: Vec<(OffsetCommitRequest, Option<Error>, &str)> = vec![
        (
            commit_req("g", &ids[0], generation, &[("t", 0, 1)]),
            None,
            "member of the current generation",
        ),
        (
            commit_req("g", &ids[0], generation - 1, &[("t", 0, 1)]),
            Some(Error::IllegalGeneration),
            "stale generation",
        ),
        (
            commit_req("g", "ghost", generation, &[("t", 0, 1)]),
            Some(Error::UnknownMemberId),
            "not a member",
        ),
        (
            commit_req("g", "", -1, &[("t", 0, 1)]),
            Some(Error::UnknownMemberId),
            "outsider commit to a group with members",
        ),
        (
            commit_req("never-seen", "m", 5, &[("t", 0, 1)]),
            Some(Error::IllegalGeneration),
            "generation of a group this coordinator does not know",
        ),
        (commit_req("", "", -1, &[("t", 0, 1)]), None, "the empty group id may store offsets"),
    ];
    for (req, want, why) in cases {
        let c = h.commit(req);
        h.flush();
        assert_eq!(commit_errors(&h.commit_result(c).unwrap()), vec![want], "{why}");
    }
    // A rebalance in progress: commits are refused only between join and sync.
    let jl = h.join(join_req("g", &ids[0], "client0"));
    let gen2 = h.join_result(jl).unwrap().generation_id;
    let c = h.commit(commit_req("g", &ids[0], gen2, &[("t", 0, 1)]));
    assert_eq!(commit_errors(&h.commit_result(c).unwrap()), vec![Some(Error::RebalanceInProgress)]);
}

#[test]
fn commit_append_failures_map_to_kafkas_errors() {
    let cases = [
        (AppendError::NotLeader, Error::NotCoordinator),
        (AppendError::Unavailable, Error::CoordinatorNotAvailable),
        (AppendError::TooLarge, Error::InvalidCommitOffsetSize),
        (AppendError::TimedOut, Error::RequestTimedOut),
    ];
    for (append_error, want) in cases {
        let mut h = Harness::new();
        let c = h.commit(commit_req("g", "", -1, &[("t", 0, 5)]));
        h.fail_appends(append_error);
        assert_eq!(commit_errors(&h.commit_result(c).unwrap()), vec![Some(want)]);
        let p = fetch(&h, "g", "t", 0);
        assert_eq!(
            (p.committed_offset, p.error),
            (-1, None),
            "a failed commit leaves nothing behind"
        );
    }
}

#[test]
fn later_commit_wins_whatever_order_appends_complete() {
    let mut h = Harness::new();
    let c1 = h.commit(commit_req("g", "", -1, &[("t", 0, 1)]));
    let c2 = h.commit(commit_req("g", "", -1, &[("t", 0, 2)]));
    let (a1, a2) = (h.in_flight.remove(0), h.in_flight.remove(0));
    let out = h.c.append_completed(h.now, a2.id, Ok(11));
    h.absorb(out);
    let out = h.c.append_completed(h.now, a1.id, Ok(10));
    h.absorb(out);
    assert!(h.commit_result(c1).is_some() && h.commit_result(c2).is_some());
    assert_eq!(fetch(&h, "g", "t", 0).committed_offset, 2, "log order decides");
}

/// Replays everything `h` appended into a fresh coordinator.
fn reload(h: &Harness, now: i64) -> (GroupCoordinator, Output) {
    let mut c = GroupCoordinator::new(h.c.config().clone(), 99);
    let mut out = Output::default();
    for p in 0..50 {
        c.begin_loading(p, 0);
        for (offset, key, value) in h.log.get(&p).into_iter().flatten() {
            c.replay(p, *offset, key, value.as_deref()).unwrap();
        }
        out.extend(c.complete_loading(now, p));
    }
    (c, out)
}

#[test]
fn loading_rebuilds_groups_and_offsets() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 2);
    h.commit_stored(commit_req("g", &ids[0], generation, &[("t", 0, 100), ("t", 1, 200)]));
    h.commit_stored(commit_req("simple", "", -1, &[("x", 0, 5)]));

    let (mut c, out) = reload(&h, h.now);
    assert!(out.responses.is_empty());
    assert_eq!(
        c.group_state("g"),
        Some(GroupState::Stable),
        "a stored generation with members comes back Stable"
    );
    assert_eq!(c.generation("g"), Some(generation));
    let d = c.describe_group("g");
    assert_eq!(d.protocol_data, "range");
    let mut members: Vec<&DescribedMember> = d.members.iter().collect();
    members.sort_by_key(|m| m.member_id.clone());
    for m in members {
        assert_eq!(m.member_assignment, Bytes::from(format!("assign-{}", m.member_id)));
        assert_eq!(m.member_metadata, subscription(&["t"]));
    }
    let fetched = c.offset_fetch(&OffsetFetchRequest {
        group_id: "g".into(),
        topics: None,
        require_stable: false,
    });
    let offsets: Vec<i64> =
        fetched.topics[0].partitions.iter().map(|p| p.committed_offset).collect();
    assert_eq!(offsets, vec![100, 200]);
    assert_eq!(
        c.group_state("simple"),
        Some(GroupState::Empty),
        "offsets alone make an Empty group"
    );
    // Members that do not come back are expired after their session.
    let out = c.tick(h.now + i64::from(SESSION));
    assert!(out.responses.is_empty());
    assert_eq!(c.group_state("g"), Some(GroupState::Empty), "both sessions ran out");
    assert_eq!(c.generation("g"), Some(generation + 1));
    assert_eq!(out.appends.len(), 1, "the empty generation is stored");
}

#[test]
fn loading_honours_tombstones_and_skips_foreign_records() {
    let mut c = GroupCoordinator::new(GroupConfig::default(), 1);
    let p = partition_for("g", 50);
    c.begin_loading(p, 0);
    let key = |part| {
        RecordKey::OffsetCommit { group: "g".into(), topic: "t".into(), partition: part }.encode()
    };
    let value = |o| {
        OffsetCommitValue {
            offset: o,
            leader_epoch: -1,
            metadata: "m".into(),
            commit_timestamp: 5,
            expire_timestamp: None,
        }
        .encode()
    };
    c.replay(p, 0, &key(0), Some(&value(1))).unwrap();
    c.replay(p, 1, &key(1), Some(&value(2))).unwrap();
    c.replay(p, 2, &key(0), None).unwrap();
    assert!(
        c.replay(p, 3, &[0, 3, 0, 1, b'g'], Some(b"xx")).is_err(),
        "KIP-848 records are skipped with an error"
    );
    assert!(c.replay(p, 4, &key(2), Some(b"\0\x03\0")).is_err(), "a corrupt value is skipped");
    let out = c.complete_loading(10, p);
    assert!(out.appends.is_empty());
    let r = c.offset_fetch(&OffsetFetchRequest {
        group_id: "g".into(),
        topics: None,
        require_stable: false,
    });
    let got: Vec<(i32, i64, String)> = r.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.committed_offset, p.metadata.clone()))
        .collect();
    assert_eq!(got, vec![(1, 2, "m".into())], "partition 0 was tombstoned");
    // A group whose metadata and offsets are all tombstoned is gone.
    let q = partition_for("h", 50);
    c.begin_loading(q, 0);
    c.replay(
        q,
        0,
        &RecordKey::GroupMetadata { group: "h".into() }.encode(),
        Some(
            &GroupMetadataValue {
                protocol_type: "consumer".into(),
                generation: 4,
                protocol: None,
                leader: None,
                current_state_timestamp: 1,
                members: vec![],
            }
            .encode(),
        ),
    )
    .unwrap();
    c.replay(q, 1, &RecordKey::GroupMetadata { group: "h".into() }.encode(), None).unwrap();
    c.complete_loading(10, q);
    assert_eq!(c.group_state("h"), None);
}

#[test]
fn coordinator_load_state_errors() {
    let mut c = GroupCoordinator::new(GroupConfig::default(), 1);
    let p = partition_for("g", 50);
    let hb = HeartbeatRequest {
        group_id: "g".into(),
        generation_id: 1,
        member_id: "m".into(),
        group_instance_id: None,
    };
    let out = c.join_group(0, RequestId(1), join_req("g", "", "c"));
    assert_eq!(
        out.responses[0].1,
        Response::JoinGroup(JoinGroupResult::error("", Error::NotCoordinator)),
        "not our partition"
    );
    c.begin_loading(p, 0);
    let out = c.join_group(0, RequestId(2), join_req("g", "", "c"));
    assert_eq!(
        out.responses[0].1,
        Response::JoinGroup(JoinGroupResult::error("", Error::CoordinatorLoadInProgress))
    );
    let out = c.heartbeat(0, RequestId(3), hb);
    assert_eq!(
        out.responses[0].1,
        Response::Heartbeat(None),
        "heartbeats pass blindly while loading"
    );
    let out = c.sync_group(0, RequestId(4), sync_req("g", "m", 1, vec![]));
    assert_eq!(
        out.responses[0].1,
        Response::SyncGroup(SyncGroupResult::error(Error::RebalanceInProgress)),
        "sync: rejoin"
    );
    assert_eq!(c.list_groups(&[]).error, Some(Error::CoordinatorLoadInProgress));
    assert_eq!(c.describe_group("g").error, Some(Error::CoordinatorLoadInProgress));
    let f = c.offset_fetch(&OffsetFetchRequest {
        group_id: "g".into(),
        topics: None,
        require_stable: false,
    });
    assert_eq!(f.error, Some(Error::CoordinatorLoadInProgress));
}

#[test]
fn a_fenced_coordinator_answers_not_coordinator_and_keeps_its_state() {
    let mut h = Harness::new();
    let c = h.commit(commit_req("g", "", -1, &[("t", 0, 42)]));
    h.flush();
    assert_eq!(commit_errors(&h.commit_result(c).unwrap()), vec![None]);
    h.c.set_fenced(true);
    assert_eq!(
        h.c.offset_fetch(&OffsetFetchRequest {
            group_id: "g".into(),
            topics: None,
            require_stable: false,
        })
        .error,
        Some(Error::NotCoordinator),
        "a broker whose session may have expired must not answer from its cache"
    );
    let out = h.c.join_group(h.now, RequestId(90), join_req("g", "", "c"));
    assert_eq!(
        out.responses[0].1,
        Response::JoinGroup(JoinGroupResult::error("", Error::NotCoordinator))
    );
    assert_eq!(h.c.describe_group("g").error, Some(Error::NotCoordinator));
    let list = h.c.list_groups(&[]);
    assert_eq!(list.error, Some(Error::NotCoordinator));
    assert!(list.groups.is_empty(), "no group listed from a possibly stale cache");
    assert!(h.in_flight.is_empty(), "nothing is written while fenced");
    h.c.set_fenced(false);
    assert_eq!(
        fetch(&h, "g", "t", 0).committed_offset,
        42,
        "the fence lifts with the state intact"
    );
}

#[test]
fn unloading_answers_parked_requests_not_coordinator() {
    let mut h = Harness::with_initial_delay(3000);
    let j = h.join(new_member_join_req("g", "c"));
    assert!(h.join_result(j).is_none());
    let out = h.c.unload(partition_for("g", 50));
    h.absorb(out);
    assert_eq!(h.join_result(j).unwrap().error, Some(Error::NotCoordinator));
    assert_eq!(h.c.group_state("g"), None);
    assert_eq!(h.c.next_deadline(), Some(600_000), "only the retention timer is left");
}

#[test]
fn pending_member_blocks_join_until_it_expires() {
    let mut h = Harness::new();
    let (ids, _) = h.stable_group("g", 1);
    // A second client gets an id but never comes back.
    let first = h.join(join_req("g", "", "late"));
    assert_eq!(h.join_result(first).unwrap().error, Some(Error::MemberIdRequired));
    let j = h.join(join_req("g", &ids[0], "client0"));
    assert!(h.join_result(j).is_none(), "the handed-out id may still join");
    h.advance(i64::from(SESSION));
    assert!(h.join_result(j).is_some(), "the pending id lapsed after a session timeout");
}

#[test]
fn a_retried_join_supersedes_the_parked_one() {
    let mut h = Harness::with_initial_delay(3000);
    let (m, j1) = h.join_new("g", "c");
    let j2 = h.join(join_req("g", &m, "c"));
    assert_eq!(h.join_result(j1).unwrap().error, Some(Error::RebalanceInProgress));
    h.advance(3000);
    assert_eq!(h.join_result(j2).unwrap().generation_id, 1);
}

#[test]
fn offsets_expire_after_retention_once_the_group_is_empty() {
    let retention = 60_000;
    let mut h = Harness::with_config(GroupConfig {
        offsets_retention_ms: retention,
        offsets_retention_check_interval_ms: 10_000,
        group_initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    });
    let (ids, generation) = h.stable_group("g", 1);
    h.commit_stored(commit_req("g", &ids[0], generation, &[("t", 0, 9)]));
    // While the member consumes "t", its offset never expires.
    for _ in 0..10 {
        h.advance(i64::from(SESSION) / 2);
        h.heartbeat("g", &ids[0], generation);
    }
    assert_eq!(fetch(&h, "g", "t", 0).committed_offset, 9);
    h.leave(
        "g",
        vec![MemberIdentity { member_id: ids[0].clone(), group_instance_id: None, reason: None }],
    );
    assert_eq!(h.c.group_state("g"), Some(GroupState::Empty));
    h.advance(retention - 10_000);
    assert_eq!(
        fetch(&h, "g", "t", 0).committed_offset,
        9,
        "retention counts from when the group emptied"
    );
    h.advance(20_000);
    assert_eq!(h.c.group_state("g"), None, "offsets expired and the empty group went with them");
    let log = &h.log[&partition_for("g", 50)];
    let tail: Vec<(RecordKey, bool)> = log
        .iter()
        .rev()
        .take(2)
        .map(|(_, k, v)| (RecordKey::decode(k).unwrap(), v.is_none()))
        .collect();
    assert!(tail.contains(&(
        RecordKey::OffsetCommit { group: "g".into(), topic: "t".into(), partition: 0 },
        true
    )));
    assert!(
        tail.contains(&(RecordKey::GroupMetadata { group: "g".into() }, true)),
        "group tombstone too"
    );
    let (c, _) = reload(&h, h.now);
    assert_eq!(c.group_state("g"), None, "a reload agrees");
}

#[test]
fn stable_consumer_group_expires_only_unsubscribed_topics() {
    let mut h = Harness::with_config(GroupConfig {
        offsets_retention_ms: 30_000,
        offsets_retention_check_interval_ms: 10_000,
        group_initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    });
    let (ids, generation) = h.stable_group("g", 1);
    h.commit_stored(commit_req("g", &ids[0], generation, &[("t", 0, 1), ("old-topic", 0, 2)]));
    for _ in 0..10 {
        h.advance(4000);
        h.heartbeat("g", &ids[0], generation);
    }
    assert_eq!(fetch(&h, "g", "t", 0).committed_offset, 1, "subscribed: kept");
    assert_eq!(fetch(&h, "g", "old-topic", 0).committed_offset, -1, "not subscribed: expired");
}

#[test]
fn simple_group_offsets_expire_from_their_commit_and_v1_expire_timestamps() {
    let mut h = Harness::with_config(GroupConfig {
        offsets_retention_ms: 30_000,
        offsets_retention_check_interval_ms: 10_000,
        ..GroupConfig::default()
    });
    h.commit_stored(commit_req("s", "", -1, &[("t", 0, 1)]));
    let mut short = commit_req("s", "", -1, &[("t", 1, 1)]);
    short.retention_time_ms = 5000;
    let c = h.commit(short);
    let v = h.in_flight[0].records[0].value.clone().unwrap();
    assert_eq!(v[..2], [0, 1], "an explicit retention is stored as value v1");
    h.flush();
    assert!(h.commit_result(c).is_some());
    h.advance(10_000);
    assert_eq!(fetch(&h, "s", "t", 1).committed_offset, -1, "its own expire timestamp passed");
    assert_eq!(fetch(&h, "s", "t", 0).committed_offset, 1);
    h.advance(30_000);
    assert_eq!(h.c.group_state("s"), None);
}

#[test]
fn delete_groups_table() {
    let mut h = Harness::new();
    let _ = h.stable_group("live", 1);
    h.commit_stored(commit_req("idle", "", -1, &[("t", 0, 1)]));
    let rid = h.rid();
    let ids: Vec<String> = ["live", "idle", "missing"].iter().map(|s| s.to_string()).collect();
    let out = h.c.delete_groups(h.now, rid, &ids);
    h.absorb(out);
    let Response::DeleteGroups(results) = h.answered[&rid].clone() else { panic!() };
    assert_eq!(
        results,
        vec![
            ("live".into(), Some(Error::NonEmptyGroup)),
            ("idle".into(), None),
            ("missing".into(), Some(Error::GroupIdNotFound)),
        ]
    );
    assert_eq!(h.in_flight.len(), 1);
    let tombstone = &h.in_flight[0].records[0];
    assert!(tombstone.value.is_none());
    assert_eq!(fetch(&h, "idle", "t", 0).committed_offset, -1);
    assert_eq!(h.c.group_state("idle"), None);
}

#[test]
fn kip496_offset_delete() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 1);
    h.commit_stored(commit_req("g", &ids[0], generation, &[("t", 0, 1), ("other", 0, 2)]));
    let rid = h.rid();
    let req = OffsetDeleteRequest {
        group_id: "g".into(),
        topics: vec![("t".into(), vec![0]), ("other".into(), vec![0])],
    };
    let out = h.c.offset_delete(h.now, rid, req);
    h.absorb(out);
    let Response::OffsetDelete(r) = h.answered[&rid].clone() else { panic!() };
    assert_eq!(r.error, None);
    assert_eq!(r.topics[0].partitions, vec![(0, Some(Error::GroupSubscribedToTopic))]);
    assert_eq!(r.topics[1].partitions, vec![(0, None)]);
    assert_eq!(fetch(&h, "g", "other", 0).committed_offset, -1);
    assert_eq!(fetch(&h, "g", "t", 0).committed_offset, 1);
    let rid = h.rid();
    let out = h.c.offset_delete(
        h.now,
        rid,
        OffsetDeleteRequest { group_id: "none".into(), topics: vec![] },
    );
    h.absorb(out);
    assert_eq!(
        h.answered[&rid],
        Response::OffsetDelete(OffsetDeleteResult {
            error: Some(Error::GroupIdNotFound),
            topics: vec![]
        })
    );
}

#[test]
fn list_and_describe_groups() {
    let mut h = Harness::new();
    let _ = h.stable_group("stable", 2);
    let (_, _) = h.join_new("preparing", "c"); // completes: CompletingRebalance
    let list = h.c.list_groups(&[]);
    let states: Vec<(String, String)> =
        list.groups.iter().map(|g| (g.group_id.clone(), g.state.clone())).collect();
    assert_eq!(
        states,
        vec![
            ("preparing".into(), "CompletingRebalance".into()),
            ("stable".into(), "Stable".into())
        ]
    );
    let filtered = h.c.list_groups(&["STABLE".into()]);
    assert_eq!(filtered.groups.len(), 1, "KIP-518 state filter, case-insensitive");
    let d = h.c.describe_group("stable");
    assert_eq!(
        (d.state.as_str(), d.protocol_type.as_str(), d.protocol_data.as_str()),
        ("Stable", "consumer", "range")
    );
    assert_eq!(d.members.len(), 2);
    assert!(d
        .members
        .iter()
        .all(|m| m.client_host == "/127.0.0.1" && !m.member_assignment.is_empty()));
    let d = h.c.describe_group("preparing");
    assert_eq!(d.protocol_data, "", "no protocol outside Stable");
    assert!(d
        .members
        .iter()
        .all(|m| m.member_metadata.is_empty() && m.member_assignment.is_empty()));
    let d = h.c.describe_group("unknown");
    assert_eq!((d.error, d.state.as_str()), (None, "Dead"));
}

/// Random requests, leaves and time jumps over three groups: every request
/// is answered exactly once, and once everyone leaves and time passes, no
/// request is left parked.
#[test]
fn random_sequences_answer_every_request_once() {
    for seed in 0..20u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut h = Harness::with_config(GroupConfig {
            group_initial_rebalance_delay_ms: 500,
            ..GroupConfig::default()
        });
        let groups = ["a", "b", "c"];
        let mut known: Vec<(String, String, i32)> = Vec::new();
        let mut asked: HashSet<RequestId> = HashSet::new();
        for _ in 0..300 {
            let g = groups[rng.usize(..groups.len())];
            let member = known
                .iter()
                .filter(|k| k.0 == g)
                .map(|k| k.1.clone())
                .nth(rng.usize(..3))
                .unwrap_or_default();
            let generation = h.c.generation(g).unwrap_or(0);
            let rid = h.rid();
            let op = rng.u8(..7);
            if op < 6 {
                asked.insert(rid);
            }
            let out = match op {
                0 | 1 => h.c.join_group(h.now, rid, join_req(g, &member, "r")),
                2 => h.c.sync_group(
                    h.now,
                    rid,
                    sync_req(
                        g,
                        &member,
                        generation,
                        vec![(member.clone(), Bytes::from_static(b"a"))],
                    ),
                ),
                3 => h.c.heartbeat(
                    h.now,
                    rid,
                    HeartbeatRequest {
                        group_id: g.into(),
                        generation_id: generation,
                        member_id: member.clone(),
                        group_instance_id: None,
                    },
                ),
                4 => h.c.offset_commit(
                    h.now,
                    rid,
                    commit_req(g, &member, generation, &[("t", 0, rng.i64(0..100))]),
                ),
                5 => h.c.leave_group(
                    h.now,
                    rid,
                    LeaveGroupRequest {
                        group_id: g.into(),
                        members: vec![MemberIdentity {
                            member_id: member.clone(),
                            group_instance_id: None,
                            reason: None,
                        }],
                    },
                ),
                _ => {
                    h.now += rng.i64(0..15_000);
                    h.c.tick(h.now)
                }
            };
            for (_, resp) in &out.responses {
                if let Response::JoinGroup(r) = resp {
                    if !r.member_id.is_empty() {
                        known.push((g.to_string(), r.member_id.clone(), r.generation_id));
                    }
                }
            }
            h.absorb(out);
            if rng.bool() {
                h.flush();
            }
        }
        h.flush();
        // Everyone goes quiet: sessions, join and sync deadlines end it all.
        for _ in 0..20 {
            h.advance(400_000);
        }
        let unanswered: Vec<&RequestId> =
            asked.iter().filter(|r| !h.answered.contains_key(r)).collect();
        assert!(unanswered.is_empty(), "seed {seed}: {unanswered:?} never answered");
        for g in groups {
            assert!(
                matches!(h.c.group_state(g), None | Some(GroupState::Empty)),
                "seed {seed}: {g} left with members"
            );
        }
    }
}
