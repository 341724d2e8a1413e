//! Rebalance-protocol transitions: joins, syncs, heartbeats, leaves,
//! static membership and bad input.

use std::collections::HashMap;

use bytes::Bytes;

use super::super::group::tests::subscription;
use super::super::records::GroupMetadataValue;
use super::super::*;
use super::*;

#[test]
fn partition_for_matches_kafka() {
    // Values from Java's abs(String.hashCode) % 50.
    let cases = [
        ("my-group", 12, "ordinary id"),
        ("console-consumer-12345", 6, "positive hash"),
        ("polygenelubricants", 0, "hashCode is Integer.MIN_VALUE: Utils.abs gives 0"),
        ("", 0, "empty id"),
        ("groupé", 6, "non-ASCII hashes UTF-16 units"),
    ];
    for (group, want, why) in cases {
        assert_eq!(partition_for(group, 50), want, "{why}");
    }
}

#[test]
fn kip394_first_join_gets_member_id_required_then_completes() {
    let mut h = Harness::new();
    let first = h.join(join_req("g", "", "client"));
    let r = h.join_result(first).unwrap();
    assert_eq!(r.error, Some(Error::MemberIdRequired));
    assert!(
        r.member_id.starts_with("client-") && r.member_id.len() == "client-".len() + 36,
        "{}",
        r.member_id
    );
    assert_eq!(r.generation_id, -1);
    assert_eq!(
        h.c.group_state("g"),
        Some(GroupState::Empty),
        "a pending member does not rebalance"
    );

    let second = h.join(join_req("g", &r.member_id, "client"));
    let r2 = h.join_result(second).expect("no delay configured: completes at once");
    assert_eq!(r2.error, None);
    assert_eq!(r2.generation_id, 1);
    assert_eq!(r2.leader, r.member_id);
    assert_eq!(r2.protocol_name.as_deref(), Some("range"));
    assert_eq!(r2.protocol_type.as_deref(), Some("consumer"));
    assert_eq!(r2.members.len(), 1, "the leader gets every member's metadata");
    assert_eq!(r2.members[0].metadata, subscription(&["t"]));
    assert_eq!(h.c.group_state("g"), Some(GroupState::CompletingRebalance));
}

#[test]
fn join_without_member_id_before_v4_is_admitted_directly() {
    let mut h = Harness::new();
    let rid = h.join(new_member_join_req("g", "c"));
    let r = h.join_result(rid).unwrap();
    assert_eq!(r.error, None);
    assert_eq!(r.generation_id, 1);
    assert_eq!(r.leader, r.member_id);
}

#[test]
fn leader_sync_stores_assignment_then_distributes_it() {
    let mut h = Harness::new();
    let (a, ja) = h.join_new("g", "a");
    let (b, jb) = h.join_new("g", "b");
    // a's join completed alone (generation 1); b's join started generation 2.
    let ra = h.join_result(ja).unwrap();
    assert_eq!(ra.generation_id, 1);
    let rb = h.join_result(jb);
    assert!(rb.is_none(), "b waits for a to rejoin");
    let ja2 = h.join(join_req("g", &a, "a"));
    let (ra2, rb) = (h.join_result(ja2).unwrap(), h.join_result(jb).unwrap());
    assert_eq!((ra2.generation_id, rb.generation_id), (2, 2));
    let leader = ra2.leader.clone();
    assert_eq!(rb.leader, leader);
    let (leader_res, follower_res) = if leader == a { (&ra2, &rb) } else { (&rb, &ra2) };
    assert_eq!(leader_res.members.len(), 2);
    assert!(follower_res.members.is_empty(), "followers get no member list");

    let follower = if leader == a { b.clone() } else { a.clone() };
    let fs = h.sync(sync_req("g", &follower, 2, vec![]));
    assert!(h.sync_result(fs).is_none(), "the follower waits for the leader");
    // The leader leaves the follower out: it must still get bytes, empty ones.
    let ls = h.sync(sync_req("g", &leader, 2, vec![(leader.clone(), Bytes::from_static(b"L"))]));
    assert!(h.sync_result(ls).is_none(), "nothing is answered before the record is stored");
    assert_eq!(h.in_flight.len(), 1);
    let append = h.in_flight[0].clone();
    assert_eq!(append.partition, partition_for("g", 50));
    assert_eq!(append.records.len(), 1);
    assert_eq!(
        RecordKey::decode(&append.records[0].key).unwrap(),
        RecordKey::GroupMetadata { group: "g".into() }
    );
    let stored = GroupMetadataValue::decode(append.records[0].value.as_deref().unwrap()).unwrap();
    assert_eq!(stored.generation, 2);
    assert_eq!(stored.leader.as_deref(), Some(leader.as_str()));
    assert_eq!(stored.protocol.as_deref(), Some("range"));
    assert_eq!(stored.members.len(), 2);

    h.flush();
    let (l, f) = (h.sync_result(ls).unwrap(), h.sync_result(fs).unwrap());
    assert_eq!((l.error, f.error), (None, None));
    assert_eq!(l.assignment, Bytes::from_static(b"L"));
    assert_eq!(f.assignment, Bytes::new(), "left-out member gets empty bytes, not nothing");
    assert_eq!(f.protocol_name.as_deref(), Some("range"));
    assert_eq!(h.c.group_state("g"), Some(GroupState::Stable));
    // A late SyncGroup in Stable gets the stored assignment back.
    let again = h.sync(sync_req("g", &leader, 2, vec![]));
    assert_eq!(h.sync_result(again).unwrap().assignment, Bytes::from_static(b"L"));
}

/// KIP-134: a harness whose new groups wait 3 s for more members, and
/// the first JoinGroup of a client of group "g" with `rebalance_timeout_ms`.
fn initially_delayed(rebalance_timeout_ms: i32) -> (Harness, impl Fn(&str) -> JoinGroupRequest) {
    let req =
        move |c: &str| JoinGroupRequest { rebalance_timeout_ms, ..new_member_join_req("g", c) };
    (Harness::with_initial_delay(3000), req)
}

#[test]
fn kip134_initial_rebalance_delay_extends_while_members_arrive() {
    let (mut h, req) = initially_delayed(10_000);
    let a = h.join(req("a"));
    assert_eq!(h.c.group_state("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(h.c.next_deadline(), Some(3000), "the first wait is the configured delay");
    h.advance(2000);
    let b = h.join(req("b"));
    assert!(h.advance(1000).is_empty(), "b arrived during the delay: wait again");
    assert_eq!(h.c.next_deadline(), Some(6000));
    let responses = h.advance(3000);
    assert_eq!(responses.len(), 2, "both answered when the extended delay ends");
    let (ra, rb) = (h.join_result(a).unwrap(), h.join_result(b).unwrap());
    assert_eq!((ra.generation_id, rb.generation_id), (1, 1));
}

#[test]
fn kip134_initial_delay_never_exceeds_rebalance_timeout() {
    let (mut h, req) = initially_delayed(4000);
    let a = h.join(req("a"));
    h.advance(1000);
    h.join(req("b"));
    h.advance(2000); // t=3000: remaining was 1000, so one more wait of 1000
    h.join(req("c"));
    assert!(h.join_result(a).is_none());
    h.advance(1000); // t=4000: remaining is now 0: complete even though c just came
    assert_eq!(h.join_result(a).unwrap().generation_id, 1);
}

#[test]
fn rebalance_timeout_drops_dynamic_members_that_did_not_rejoin() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 2);
    let (c, jc) = h.join_new("g", "c");
    assert_eq!(h.c.group_state("g"), Some(GroupState::PreparingRebalance));
    // Only the leader rejoins; the other keeps heartbeating and is told to rejoin.
    let jl = h.join(join_req("g", &ids[0], "client0"));
    h.advance(5000);
    assert_eq!(h.heartbeat("g", &ids[1], generation), Some(Error::RebalanceInProgress));
    assert!(h.join_result(jl).is_none());
    h.advance(i64::from(REBALANCE) - 5000);
    let (rl, rc) = (h.join_result(jl).unwrap(), h.join_result(jc).unwrap());
    assert_eq!((rl.generation_id, rc.generation_id), (generation + 1, generation + 1));
    assert_eq!(rl.members.len(), 2, "the silent member was dropped");
    assert!(rl.members.iter().any(|m| m.member_id == c));
    assert_eq!(h.heartbeat("g", &ids[1], generation + 1), Some(Error::UnknownMemberId));
}

#[test]
fn session_timeout_removes_a_silent_member_and_rebalances() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 2);
    for _ in 0..2 {
        h.advance(i64::from(SESSION) / 2 - 1);
        assert_eq!(h.heartbeat("g", &ids[0], generation), None, "heartbeats keep the leader alive");
    }
    h.advance(10);
    assert_eq!(
        h.c.group_state("g"),
        Some(GroupState::PreparingRebalance),
        "the other member's session ran out"
    );
    assert_eq!(h.heartbeat("g", &ids[1], generation), Some(Error::UnknownMemberId));
    assert_eq!(h.heartbeat("g", &ids[0], generation), Some(Error::RebalanceInProgress));
    let j = h.join(join_req("g", &ids[0], "client0"));
    let r = h.join_result(j).expect("the only member rejoined: completes at once");
    assert_eq!(r.generation_id, generation + 1);
    assert_eq!(r.members.len(), 1);
}

#[test]
fn heartbeat_errors_as_kafka_returns_them() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 1);
    let cases: Vec<(&str, String, i32, Option<Error>, &str)> = vec![
        ("g", ids[0].clone(), generation, None, "current member, current generation"),
        ("g", ids[0].clone(), generation - 1, Some(Error::IllegalGeneration), "stale generation"),
        ("g", ids[0].clone(), generation + 5, Some(Error::IllegalGeneration), "future generation"),
        ("g", "nobody".into(), generation, Some(Error::UnknownMemberId), "unknown member"),
        ("other", ids[0].clone(), generation, Some(Error::UnknownMemberId), "unknown group"),
        ("", ids[0].clone(), generation, Some(Error::InvalidGroupId), "empty group id"),
    ];
    for (group, member, gen, want, why) in cases {
        assert_eq!(h.heartbeat(group, &member, gen), want, "{why}");
    }
    assert_eq!(h.c.group_state("g"), Some(GroupState::Stable), "errors change nothing");
}

#[test]
fn heartbeat_between_join_and_sync_is_accepted() {
    let mut h = Harness::new();
    let (a, ja) = h.join_new("g", "a");
    let generation = h.join_result(ja).unwrap().generation_id;
    assert_eq!(h.c.group_state("g"), Some(GroupState::CompletingRebalance));
    assert_eq!(h.heartbeat("g", &a, generation), None);
}

#[test]
fn leave_group_batch_and_last_member_empties_the_group() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 3);
    let ident = |m: &str| MemberIdentity {
        member_id: m.into(),
        group_instance_id: None,
        reason: Some("bye".into()),
    };
    let r = h.leave("g", vec![ident(&ids[1]), ident("ghost"), ident(&ids[2])]);
    assert_eq!(r.error, None);
    let errors: Vec<Option<Error>> = r.members.iter().map(|m| m.error).collect();
    assert_eq!(
        errors,
        vec![None, Some(Error::UnknownMemberId), None],
        "per-member results, in order"
    );
    assert_eq!(h.c.group_state("g"), Some(GroupState::PreparingRebalance));
    let r = h.leave("g", vec![ident(&ids[0])]);
    assert_eq!(r.members[0].error, None);
    assert_eq!(h.c.group_state("g"), Some(GroupState::Empty), "nobody left to wait for");
    assert_eq!(h.c.generation("g"), Some(generation + 1));
    let (_, _, value) = h.log[&partition_for("g", 50)].last().unwrap().clone();
    let stored = GroupMetadataValue::decode(&value.unwrap()).unwrap();
    assert_eq!(
        (stored.generation, stored.members.len(), stored.protocol),
        (generation + 1, 0, None)
    );
    let unknown = h.leave("nope", vec![ident("x")]);
    assert_eq!(unknown.members[0].error, Some(Error::UnknownMemberId));
    let invalid = h.leave("", vec![ident("x")]);
    assert_eq!(invalid.error, Some(Error::InvalidGroupId));
}

#[test]
fn leave_completes_a_rebalance_waiting_for_the_leaver() {
    let mut h = Harness::new();
    let (ids, _) = h.stable_group("g", 2);
    let j = h.join(join_req("g", &ids[0], "client0"));
    assert!(h.join_result(j).is_none(), "waiting for the second member");
    let ident = MemberIdentity { member_id: ids[1].clone(), group_instance_id: None, reason: None };
    h.leave("g", vec![ident]);
    assert!(h.join_result(j).is_some(), "the only remaining member has joined");
}

/// Two static members, Stable; returns (member ids by instance, generation).
fn static_group(h: &mut Harness) -> (HashMap<String, String>, i32) {
    let ja = h.join(static_join_req("g", "", "ia"));
    let ra = h.join_result(ja).unwrap();
    let jb = h.join(static_join_req("g", "", "ib"));
    let ja2 = h.join(static_join_req("g", &ra.member_id, "ia"));
    let (ra2, rb) = (h.join_result(ja2).unwrap(), h.join_result(jb).unwrap());
    let generation = ra2.generation_id;
    let ids: HashMap<String, String> =
        [("ia".to_string(), ra2.member_id.clone()), ("ib".to_string(), rb.member_id.clone())]
            .into();
    let leader = ra2.leader.clone();
    let assignment = ids.values().map(|m| (m.clone(), Bytes::from(format!("for-{m}")))).collect();
    for m in ids.values().filter(|m| **m != leader) {
        h.sync(SyncGroupRequest {
            group_instance_id: None,
            ..sync_req("g", m, generation, vec![])
        });
    }
    h.sync(sync_req("g", &leader, generation, assignment));
    h.flush();
    assert_eq!(h.c.group_state("g"), Some(GroupState::Stable));
    (ids, generation)
}

#[test]
fn kip345_static_member_id_is_its_instance_id() {
    let mut h = Harness::new();
    let j = h.join(static_join_req("g", "", "inst-1"));
    let r = h.join_result(j).unwrap();
    assert_eq!(r.error, None, "static members skip MEMBER_ID_REQUIRED");
    assert!(r.member_id.starts_with("inst-1-"), "{}", r.member_id);
}

#[test]
fn kip345_static_rejoin_in_stable_keeps_generation_and_fences_old_id() {
    let mut h = Harness::new();
    let (ids, generation) = static_group(&mut h);
    let old = ids["ib"].clone();
    let leader_before = h.c.describe_group("g");
    let j = h.join(static_join_req("g", "", "ib"));
    let r = h.join_result(j).expect("answered once the new member id is stored");
    assert_eq!(r.error, None);
    assert_ne!(r.member_id, old, "a new member id");
    assert_eq!(r.generation_id, generation, "no rebalance");
    assert_eq!(h.c.group_state("g"), Some(GroupState::Stable));
    assert!(r.members.is_empty());
    let stored = h.log[&partition_for("g", 50)].last().unwrap().2.clone().unwrap();
    let stored = GroupMetadataValue::decode(&stored).unwrap();
    assert!(stored
        .members
        .iter()
        .any(|m| m.member_id == r.member_id && m.group_instance_id.as_deref() == Some("ib")));
    assert_eq!(leader_before.state, "Stable");
    // The old incarnation is fenced everywhere it shows its instance id.
    let rid = h.rid();
    let out = h.c.heartbeat(
        h.now,
        rid,
        HeartbeatRequest {
            group_id: "g".into(),
            generation_id: generation,
            member_id: old.clone(),
            group_instance_id: Some("ib".into()),
        },
    );
    h.absorb(out);
    assert_eq!(h.answered[&rid], Response::Heartbeat(Some(Error::FencedInstanceId)));
    let s = h.sync(SyncGroupRequest {
        group_instance_id: Some("ib".into()),
        ..sync_req("g", &old, generation, vec![])
    });
    assert_eq!(h.sync_result(s).unwrap().error, Some(Error::FencedInstanceId));
    // The new incarnation keeps the stored assignment.
    let s = h.sync(SyncGroupRequest {
        group_instance_id: Some("ib".into()),
        ..sync_req("g", &r.member_id, generation, vec![])
    });
    assert_eq!(h.sync_result(s).unwrap().assignment, Bytes::from(format!("for-{old}")));
}

#[test]
fn kip345_static_leader_rejoin_before_v9_is_told_the_old_leader() {
    let mut h = Harness::new();
    let (_, generation) = static_group(&mut h);
    let d = h.c.describe_group("g");
    let old_leader = d
        .members
        .iter()
        .find(|m| m.group_instance_id.as_deref() == Some("ia"))
        .unwrap()
        .member_id
        .clone();
    let j = h.join(static_join_req("g", "", "ia"));
    let r = h.join_result(j).unwrap();
    assert_eq!(r.generation_id, generation);
    assert_eq!(r.leader, old_leader, "its old id, so it does not run an assignment");
    assert!(!r.skip_assignment);
}

#[test]
fn kip814_static_leader_rejoin_skips_assignment() {
    let mut h = Harness::new();
    let (_, generation) = static_group(&mut h);
    let leader_instance = "ia"; // it joined first, so it leads
    let j = h.join(JoinGroupRequest {
        support_skipping_assignment: true,
        ..static_join_req("g", "", leader_instance)
    });
    let r = h.join_result(j).unwrap();
    assert_eq!(r.generation_id, generation);
    assert_eq!(r.leader, r.member_id, "it is told it leads");
    assert!(r.skip_assignment, "but must not assign");
    assert_eq!(r.members.len(), 2, "it still sees the members to watch their metadata");
}

#[test]
fn kip345_static_rejoin_reverts_when_the_record_cannot_be_stored() {
    let mut h = Harness::new();
    let (ids, generation) = static_group(&mut h);
    let rid = h.rid();
    let out = h.c.join_group(h.now, rid, static_join_req("g", "", "ib"));
    h.absorb(out);
    h.fail_appends(AppendError::NotLeader);
    let r = h.join_result(rid).unwrap();
    assert_eq!(r.error, Some(Error::NotCoordinator));
    assert_eq!(h.heartbeat("g", &ids["ib"], generation), None, "the old member id is valid again");
}

#[test]
fn kip345_static_members_survive_a_rebalance_they_miss() {
    let mut h = Harness::new();
    let (ids, generation) = static_group(&mut h);
    // A third, dynamic member joins; only ia rejoins before the timeout.
    let (_, jc) = h.join_new("g", "c");
    let ja = h.join(static_join_req("g", &ids["ia"], "ia"));
    for _ in 0..6 {
        h.advance(i64::from(REBALANCE) / 6);
        // ib is alive (its session holds) but does not rejoin.
        let rid = h.rid();
        let hb = HeartbeatRequest {
            group_id: "g".into(),
            generation_id: generation,
            member_id: ids["ib"].clone(),
            group_instance_id: Some("ib".into()),
        };
        let out = h.c.heartbeat(h.now, rid, hb);
        h.absorb(out);
    }
    let r = h.join_result(ja).unwrap();
    assert_eq!(r.generation_id, generation + 1);
    assert!(h.join_result(jc).is_some());
    let d = h.c.describe_group("g");
    assert_eq!(d.members.len(), 3, "ib is static: kept, unlike a dynamic member");
}

#[test]
fn kip345_leave_by_instance_id_alone() {
    let mut h = Harness::new();
    let _ = static_group(&mut h);
    let r = h.leave(
        "g",
        vec![
            MemberIdentity {
                member_id: String::new(),
                group_instance_id: Some("ib".into()),
                reason: None,
            },
            MemberIdentity {
                member_id: String::new(),
                group_instance_id: Some("nope".into()),
                reason: None,
            },
        ],
    );
    assert_eq!(r.members[0].error, None);
    assert_eq!(r.members[1].error, Some(Error::UnknownMemberId));
    assert_eq!(h.c.group_state("g"), Some(GroupState::PreparingRebalance));
}

#[test]
fn kip345_join_with_mismatched_instance_is_fenced() {
    let mut h = Harness::new();
    let (ids, _) = static_group(&mut h);
    let j = h.join(static_join_req("g", &ids["ia"], "ib"));
    assert_eq!(h.join_result(j).unwrap().error, Some(Error::FencedInstanceId));
    let j = h.join(static_join_req("g", &ids["ia"], "unknown-instance"));
    assert_eq!(h.join_result(j).unwrap().error, Some(Error::UnknownMemberId));
}

#[test]
fn join_errors_leave_other_groups_alone() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("good", 2);
    let with_protocols = |names: &[&str], ty: &str| JoinGroupRequest {
        protocol_type: ty.into(),
        protocols: names
            .iter()
            .map(|n| Protocol { name: n.to_string(), metadata: Bytes::new() })
            .collect(),
        ..join_req("good", "", "x")
    };
    let big = "g".repeat(MAX_GROUP_ID_BYTES + 1);
    let cases: Vec<(JoinGroupRequest, Error, &str)> = vec![
        (
            with_protocols(&["unknown"], "consumer"),
            Error::InconsistentGroupProtocol,
            "no protocol in common",
        ),
        (
            with_protocols(&["range"], "connect"),
            Error::InconsistentGroupProtocol,
            "another protocol type",
        ),
        (
            JoinGroupRequest { group_id: "fresh".into(), ..with_protocols(&[], "consumer") },
            Error::InconsistentGroupProtocol,
            "first member with no protocols",
        ),
        (
            JoinGroupRequest { group_id: "fresh2".into(), ..with_protocols(&["range"], "") },
            Error::InconsistentGroupProtocol,
            "first member with no protocol type",
        ),
        (
            JoinGroupRequest { session_timeout_ms: 10, ..join_req("good", "", "x") },
            Error::InvalidSessionTimeout,
            "session below group.min.session.timeout.ms",
        ),
        (
            JoinGroupRequest { session_timeout_ms: i32::MAX, ..join_req("good", "", "x") },
            Error::InvalidSessionTimeout,
            "session above the maximum",
        ),
        (join_req("", "", "x"), Error::InvalidGroupId, "empty group id"),
        (join_req(&big, "", "x"), Error::InvalidGroupId, "group id too long for its record key"),
        (
            join_req("good", "made-up", "x"),
            Error::UnknownMemberId,
            "member id the group never issued",
        ),
        (
            join_req("no-such-group", "made-up", "x"),
            Error::UnknownMemberId,
            "member id for a group that does not exist",
        ),
    ];
    for (req, want, why) in cases {
        let j = h.join(req);
        assert_eq!(h.join_result(j).unwrap().error, Some(want), "{why}");
    }
    assert_eq!(
        h.c.group_state("good"),
        Some(GroupState::Stable),
        "no rebalance from refused joins"
    );
    for id in &ids {
        assert_eq!(h.heartbeat("good", id, generation), None);
    }
}

#[test]
fn kip389_group_max_size_refuses_extra_members() {
    let mut h = Harness::with_config(GroupConfig {
        group_max_size: 2,
        group_initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    });
    let (_, generation) = h.stable_group("g", 2);
    let j = h.join(join_req("g", "", "third"));
    let r = h.join_result(j).unwrap();
    assert_eq!(r.error, Some(Error::GroupMaxSizeReached));
    assert_eq!(r.member_id, "");
    assert_eq!(h.c.group_state("g"), Some(GroupState::Stable));
    assert_eq!(h.c.generation("g"), Some(generation));
}

#[test]
fn sync_group_errors() {
    let mut h = Harness::new();
    let (a, ja) = h.join_new("g", "a");
    let generation = h.join_result(ja).unwrap().generation_id;
    let cases: Vec<(SyncGroupRequest, Error, &str)> = vec![
        (sync_req("g", &a, generation + 1, vec![]), Error::IllegalGeneration, "wrong generation"),
        (sync_req("g", "ghost", generation, vec![]), Error::UnknownMemberId, "unknown member"),
        (sync_req("nope", &a, generation, vec![]), Error::UnknownMemberId, "unknown group"),
        (
            SyncGroupRequest {
                protocol_name: Some("roundrobin".into()),
                ..sync_req("g", &a, generation, vec![])
            },
            Error::InconsistentGroupProtocol,
            "protocol name differs (v5)",
        ),
        (
            SyncGroupRequest {
                protocol_type: Some("connect".into()),
                ..sync_req("g", &a, generation, vec![])
            },
            Error::InconsistentGroupProtocol,
            "protocol type differs (v5)",
        ),
        (sync_req("", &a, generation, vec![]), Error::InvalidGroupId, "empty group id"),
    ];
    for (req, want, why) in cases {
        let s = h.sync(req);
        let r = h.sync_result(s).unwrap();
        assert_eq!(r.error, Some(want), "{why}");
        assert_eq!(r.assignment, Bytes::new(), "errors still carry (empty) bytes");
    }
    // During PreparingRebalance a sync is told to rejoin.
    h.join_new("g", "b");
    let s = h.sync(sync_req("g", &a, generation, vec![]));
    assert_eq!(h.sync_result(s).unwrap().error, Some(Error::RebalanceInProgress));
}

#[test]
fn rejoin_during_completing_rebalance_cancels_parked_syncs() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 2);
    // Force a new generation, park a follower's sync, then change metadata.
    let jl = h.join(join_req("g", &ids[0], "client0"));
    let jf = h.join(join_req("g", &ids[1], "client1"));
    let gen2 = h.join_result(jl).unwrap().generation_id;
    assert_eq!(gen2, generation + 1);
    assert!(h.join_result(jf).is_some());
    let fs = h.sync(sync_req("g", &ids[1], gen2, vec![]));
    let changed = JoinGroupRequest {
        protocols: vec![Protocol { name: "range".into(), metadata: subscription(&["t", "u"]) }],
        ..join_req("g", &ids[0], "client0")
    };
    h.join(changed);
    assert_eq!(h.sync_result(fs).unwrap().error, Some(Error::RebalanceInProgress));
    assert_eq!(h.c.group_state("g"), Some(GroupState::PreparingRebalance));
}

#[test]
fn members_that_never_sync_are_removed_after_the_rebalance_timeout() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 2);
    let jl = h.join(join_req("g", &ids[0], "client0"));
    h.join(join_req("g", &ids[1], "client1"));
    let gen2 = h.join_result(jl).unwrap().generation_id;
    assert_eq!(gen2, generation + 1);
    // Only the leader syncs; both keep heartbeating.
    let ls = h.sync(sync_req("g", &ids[0], gen2, vec![]));
    h.flush();
    assert!(h.sync_result(ls).is_some());
    for _ in 0..8 {
        h.advance(4000);
        h.heartbeat("g", &ids[0], gen2);
        h.heartbeat("g", &ids[1], gen2);
    }
    assert_eq!(
        h.c.group_state("g"),
        Some(GroupState::PreparingRebalance),
        "the silent syncer was removed"
    );
    assert_eq!(h.heartbeat("g", &ids[1], gen2), Some(Error::UnknownMemberId));
}

#[test]
fn sync_store_failure_maps_to_kafkas_errors_and_rebalances() {
    let cases = [
        (AppendError::NotLeader, Error::NotCoordinator),
        (AppendError::Unavailable, Error::CoordinatorNotAvailable),
        (AppendError::TimedOut, Error::RebalanceInProgress),
        (AppendError::TooLarge, Error::UnknownServerError),
    ];
    for (append_error, want) in cases {
        let mut h = Harness::new();
        let (a, ja) = h.join_new("g", "a");
        let generation = h.join_result(ja).unwrap().generation_id;
        let s = h.sync(sync_req("g", &a, generation, vec![(a.clone(), Bytes::from_static(b"x"))]));
        h.fail_appends(append_error);
        let r = h.sync_result(s).unwrap();
        assert_eq!(r.error, Some(want), "{append_error:?}");
        assert_eq!(r.assignment, Bytes::new());
        assert_eq!(
            h.c.group_state("g"),
            Some(GroupState::PreparingRebalance),
            "the group starts over"
        );
    }
}

#[test]
fn huge_member_metadata_fails_the_store_not_the_coordinator() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("other", 1);
    let huge = Bytes::from(vec![7u8; 2 * 1024 * 1024]);
    let req = JoinGroupRequest {
        protocols: vec![Protocol { name: "range".into(), metadata: huge.clone() }],
        require_known_member_id: false,
        ..join_req("big", "", "c")
    };
    let j = h.join(req);
    let r = h.join_result(j).unwrap();
    assert_eq!(r.error, None, "Kafka accepts the join");
    assert_eq!(r.members[0].metadata.len(), huge.len());
    let s = h.sync(sync_req("big", &r.member_id, r.generation_id, vec![]));
    assert!(h.in_flight.is_empty(), "an oversized record is never handed to the log");
    assert_eq!(h.sync_result(s).unwrap().error, Some(Error::UnknownServerError));
    assert_eq!(h.c.group_state("big"), Some(GroupState::PreparingRebalance));
    assert_eq!(h.heartbeat("other", &ids[0], generation), None, "other groups keep working");
}
