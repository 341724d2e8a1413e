//! Controller tests: events in, znode writes out, no I/O. Each case is
//! named after the Kafka class or KIP whose rule it checks.

use super::*;

const EPOCH: ControllerEpoch = ControllerEpoch { epoch: 5, zk_version: 4 };

fn lai(leader: i32, leader_epoch: i32, isr: &[i32]) -> LeaderAndIsr {
    LeaderAndIsr { leader, leader_epoch, isr: isr.to_vec() }
}

fn stored(leader: i32, leader_epoch: i32, isr: &[i32], zk_version: i32) -> Option<StoredState> {
    Some(StoredState {
        leader_and_isr: lai(leader, leader_epoch, isr),
        controller_epoch: 1,
        zk_version,
    })
}

fn topic(partitions: Vec<(Vec<i32>, Option<StoredState>)>) -> TopicView {
    TopicView {
        topic_id: Some(uuid::Uuid::from_u128(7)),
        zk_version: 0,
        unclean_leader_election: None,
        partitions: partitions
            .into_iter()
            .enumerate()
            .map(|(p, (replicas, state))| {
                (p as i32, PartitionView { replicas, state, ..Default::default() })
            })
            .collect(),
    }
}

fn tp(t: &str, p: i32) -> TopicPartition {
    TopicPartition::new(t, p)
}

/// A controller elected over `live` brokers and topic "t"; asserts the
/// election itself wrote nothing (the view was consistent).
fn elected(config: ControllerConfig, live: &[i32], t: TopicView) -> Controller {
    let mut c = Controller::new(config, EPOCH);
    let view = ClusterView {
        live_brokers: live.iter().copied().collect(),
        topics: [("t".to_string(), t)].into(),
        deletions: Default::default(),
    };
    let out = c.handle(Event::Elected { epoch: EPOCH, view });
    assert_eq!(out.commands, vec![], "a consistent view needs no writes");
    c
}

/// Every znode write of an output, in order, across its multis.
fn writes(out: &Output) -> impl Iterator<Item = ZnodeWrite> + '_ {
    out.commands.iter().flat_map(|c| match c {
        Command::Multi { writes, .. } => writes.clone(),
        Command::DeleteTopic(_) => vec![],
    })
}

/// The state writes of an output, in order, with the zkVersion each names.
fn updates(out: &Output) -> Vec<(TopicPartition, LeaderAndIsr, i32)> {
    writes(out)
        .filter_map(|w| match w {
            ZnodeWrite::UpdateState { partition, state, expected_zk_version } => {
                Some((partition, state, expected_zk_version))
            }
            ZnodeWrite::CreateState { partition, state } => Some((partition, state, -1)),
            ZnodeWrite::WriteTopic { .. } => None,
        })
        .collect()
}

#[test]
fn partition_state_machine_offline_election_takes_first_live_isr_replica_in_assignment_order() {
    // The ISR lists 3 before 2, but assignment order decides.
    let mut c = elected(
        Default::default(),
        &[1, 2, 3],
        topic(vec![(vec![1, 2, 3], stored(1, 7, &[3, 2, 1], 9))]),
    );
    let out = c.handle(Event::BrokersFailed(vec![1]));
    assert_eq!(
        updates(&out),
        vec![(tp("t", 0), lai(2, 8, &[3, 2]), 9)],
        "leader 2, epoch bumped, dead broker out of the ISR, conditional on zkVersion 9"
    );
}

#[test]
fn partition_state_machine_offline_election_skips_live_replicas_outside_the_isr() {
    let mut c = elected(
        Default::default(),
        &[1, 2, 3],
        topic(vec![(vec![1, 2, 3], stored(1, 0, &[1, 3], 0))]),
    );
    let out = c.handle(Event::BrokersFailed(vec![1]));
    assert_eq!(updates(&out), vec![(tp("t", 0), lai(3, 1, &[3]), 0)], "2 is alive but not in sync");
}

#[test]
fn kip_106_unclean_election_off_keeps_the_partition_offline_with_the_last_isr_member() {
    let mut c =
        elected(Default::default(), &[1, 2], topic(vec![(vec![1, 2], stored(1, 3, &[1], 0))]));
    let out = c.handle(Event::BrokersFailed(vec![1]));
    assert_eq!(
        updates(&out),
        vec![(tp("t", 0), lai(NO_LEADER, 4, &[1]), 0)],
        "leader -1; Kafka keeps the last ISR member so only it can lead again"
    );
    let out = c.handle(Event::BrokersFailed(vec![1]));
    assert_eq!(updates(&out), vec![], "already offline: nothing more to write");
    let out = c.handle(Event::BrokersStarted(vec![2]));
    assert_eq!(updates(&out), vec![], "2 is not in the ISR and unclean election is off");
    let out = c.handle(Event::BrokersStarted(vec![1]));
    assert_eq!(
        updates(&out),
        vec![(tp("t", 0), lai(1, 5, &[1]), 1)],
        "the ISR member returns and leads"
    );
}

#[test]
fn kip_106_unclean_leader_election_enable_elects_the_first_live_replica() {
    let on = ControllerConfig { unclean_leader_election_enable: true };
    let mut c = elected(on, &[1, 2, 3], topic(vec![(vec![1, 3, 2], stored(1, 0, &[1], 0))]));
    let out = c.handle(Event::BrokersFailed(vec![1]));
    assert_eq!(
        updates(&out),
        vec![(tp("t", 0), lai(3, 1, &[3]), 0)],
        "first live replica; the ISR restarts with it alone"
    );
}

#[test]
fn log_config_unclean_leader_election_topic_override_beats_the_broker_default() {
    // Broker default off, topic on.
    let mut t = topic(vec![(vec![1, 2], stored(1, 0, &[1], 0))]);
    t.unclean_leader_election = Some(true);
    let mut c = elected(Default::default(), &[1, 2], t);
    assert_eq!(updates(&c.handle(Event::BrokersFailed(vec![1])))[0].1, lai(2, 1, &[2]));

    // Broker default on, topic off.
    let mut t = topic(vec![(vec![1, 2], stored(1, 0, &[1], 0))]);
    t.unclean_leader_election = Some(false);
    let on = ControllerConfig { unclean_leader_election_enable: true };
    let mut c = elected(on, &[1, 2], t);
    assert_eq!(updates(&c.handle(Event::BrokersFailed(vec![1])))[0].1.leader, NO_LEADER);

    // Turning the topic's switch on later elects the offline partition.
    let out = c.handle(Event::TopicConfigChanged {
        name: "t".into(),
        unclean_leader_election: Some(true),
    });
    assert_eq!(updates(&out), vec![(tp("t", 0), lai(2, 2, &[2]), 1)]);
}

#[test]
fn replica_state_machine_takes_a_failed_follower_out_of_the_isr() {
    let mut c = elected(
        Default::default(),
        &[1, 2, 3],
        topic(vec![(vec![1, 2, 3], stored(1, 0, &[1, 2, 3], 4))]),
    );
    let out = c.handle(Event::BrokersFailed(vec![3]));
    assert_eq!(
        updates(&out),
        vec![(tp("t", 0), lai(1, 1, &[1, 2]), 4)],
        "leader unchanged, epoch bumped"
    );
    let out = c.handle(Event::BrokersStarted(vec![3]));
    assert_eq!(
        updates(&out),
        vec![],
        "a returning follower rejoins the ISR through its leader, not the controller"
    );
}

#[test]
fn on_broker_failure_moves_a_thousand_leaderships_in_one_multi_guarded_by_the_controller_epoch() {
    let partitions = (0..1000).map(|_| (vec![1, 2, 3], stored(1, 0, &[1, 2, 3], 0))).collect();
    let mut c = elected(Default::default(), &[1, 2, 3], topic(partitions));
    let out = c.handle(Event::BrokersFailed(vec![1]));
    assert_eq!(out.commands.len(), 1, "1000 writes fit in one multi of {MAX_MULTI_BYTES} bytes");
    for cmd in &out.commands {
        let Command::Multi { controller_epoch, epoch_zk_version, writes } = cmd else {
            panic!("{cmd:?}")
        };
        assert_eq!(
            (*controller_epoch, *epoch_zk_version),
            (EPOCH.epoch, EPOCH.zk_version),
            "every batch checks /controller_epoch"
        );
        assert_eq!(writes.len(), 1000);
    }
    assert!(updates(&out).iter().all(|(_, s, v)| *s == lai(2, 1, &[2, 3]) && *v == 0));
}

#[test]
fn kafka_1_1_controlled_shutdown_of_a_broker_leading_ten_thousand_partitions_takes_a_few_multis() {
    // Kafka 1.1 (KAFKA-5642) batched these writes; each multi here stays
    // within the byte budget that keeps it under ZooKeeper's jute.maxbuffer.
    let partitions =
        (0..10_000).map(|p| (vec![1, 2 + p % 2], stored(1, 3, &[1, 2 + p % 2], 4))).collect();
    let mut c = elected(Default::default(), &[1, 2, 3], topic(partitions));
    let out = c.handle(Event::ControlledShutdown(1));
    assert_eq!(out.remaining_leaderships, vec![]);
    let moved = updates(&out);
    assert_eq!(moved.len(), 10_000, "one write per partition");
    for (tp, state, version) in &moved {
        let follower = 2 + tp.partition.0 % 2;
        assert_eq!((state, *version), (&lai(follower, 4, &[follower]), 4), "{tp}");
    }
    assert!(out.commands.len() <= 5, "{} multis", out.commands.len());
    for cmd in &out.commands {
        let Command::Multi { writes, .. } = cmd else { panic!("{cmd:?}") };
        let bytes: usize = writes.iter().map(ZnodeWrite::encoded_size).sum();
        assert!(bytes <= MAX_MULTI_BYTES, "{bytes} bytes in one multi");
    }
    assert_eq!(c.replicated_leaderships_of(1), vec![], "the view took every move at once");
}

#[test]
fn kafka_controller_epoch_fencing_a_state_written_by_a_newer_controller_makes_this_one_resign() {
    let mut c =
        elected(Default::default(), &[1, 2], topic(vec![(vec![1, 2], stored(1, 0, &[1, 2], 0))]));
    let newer = StoredState {
        leader_and_isr: lai(2, 1, &[2]),
        controller_epoch: EPOCH.epoch + 1,
        zk_version: 1,
    };
    let out = c.handle(Event::PartitionStatesChanged(vec![(tp("t", 0), Some(newer))]));
    assert!(out.resign, "ControllerMovedException: another controller has a higher epoch");
    assert_eq!(out.commands, vec![], "a stale controller writes nothing");
}

#[test]
fn kafka_controller_on_controller_failover_finishes_elections_its_predecessor_left() {
    // The old controller died with broker 1: broker 1 is gone but still
    // named leader; the new controller elects on taking over.
    let mut c = Controller::new(Default::default(), EPOCH);
    let view = ClusterView {
        live_brokers: [2, 3].into(),
        topics: [("t".to_string(), topic(vec![(vec![1, 2, 3], stored(1, 2, &[1, 2, 3], 6))]))]
            .into(),
        deletions: ["gone".to_string()].into(),
    };
    let out = c.handle(Event::Elected { epoch: EPOCH, view });
    assert_eq!(updates(&out), vec![(tp("t", 0), lai(2, 3, &[2, 3]), 6)]);
    assert!(
        out.commands.contains(&Command::DeleteTopic("gone".into())),
        "pending deletions resume"
    );
}

#[test]
fn conditional_writes_name_the_zk_version_the_previous_write_produced() {
    let mut c = elected(
        Default::default(),
        &[1, 2, 3],
        topic(vec![(vec![1, 2, 3], stored(1, 0, &[1, 2, 3], 10))]),
    );
    assert_eq!(updates(&c.handle(Event::BrokersFailed(vec![1])))[0].2, 10);
    assert_eq!(
        updates(&c.handle(Event::BrokersFailed(vec![2])))[0],
        (tp("t", 0), lai(3, 2, &[3]), 11)
    );
}

#[test]
fn an_isr_shrunk_by_the_leader_bounds_the_next_election() {
    let mut c =
        elected(Default::default(), &[1, 2], topic(vec![(vec![1, 2], stored(1, 0, &[1, 2], 0))]));
    let shrunk =
        StoredState { leader_and_isr: lai(1, 0, &[1]), controller_epoch: 1, zk_version: 1 };
    let out = c.handle(Event::PartitionStatesChanged(vec![(tp("t", 0), Some(shrunk))]));
    assert_eq!(out.commands, vec![], "the leader's own change needs nothing from the controller");
    let out = c.handle(Event::BrokersFailed(vec![1]));
    assert_eq!(
        updates(&out),
        vec![(tp("t", 0), lai(NO_LEADER, 1, &[1]), 1)],
        "2 fell out of sync: no clean leader"
    );
}

#[test]
fn partition_state_machine_new_partition_first_live_replica_leads_with_live_replicas_in_isr() {
    let mut c = elected(Default::default(), &[2, 3], topic(vec![]));
    let mut t = topic(vec![(vec![1, 2, 3], None), (vec![1], None)]);
    t.topic_id = None;
    t.zk_version = 3;
    let out = c.handle(Event::TopicChanged { name: "t".into(), topic: t });
    assert_eq!(
        updates(&out),
        vec![(tp("t", 0), lai(2, 0, &[2, 3]), -1)],
        "partition 1 has no live replica: no state yet"
    );
    let Command::Multi { writes, .. } = &out.commands[0] else { panic!() };
    assert!(
        matches!(&writes[0], ZnodeWrite::WriteTopic { topic, expected_zk_version: 3, .. } if topic == "t"),
        "{writes:?}"
    );
    let out = c.handle(Event::BrokersStarted(vec![1]));
    assert_eq!(updates(&out), vec![(tp("t", 1), lai(1, 0, &[1]), -1)], "its replica registered");
}

#[test]
fn kafka_controller_do_controlled_shutdown_moves_leaders_and_shrinks_isrs() {
    let t = topic(vec![
        (vec![1, 2, 3], stored(1, 0, &[1, 2, 3], 0)),
        (vec![2, 1], stored(2, 0, &[2, 1], 0)),
        (vec![1, 2], stored(1, 0, &[1], 0)),
        (vec![1], stored(1, 0, &[1], 0)),
    ]);
    let mut c = elected(Default::default(), &[1, 2, 3], t);
    let out = c.handle(Event::ControlledShutdown(1));
    assert_eq!(
        updates(&out),
        vec![(tp("t", 0), lai(2, 1, &[2, 3]), 0), (tp("t", 1), lai(2, 1, &[2]), 0)],
        "leadership to the first ISR replica not shutting down; out of the ISR it follows in"
    );
    assert_eq!(
        out.remaining_leaderships,
        vec![tp("t", 2)],
        "no other ISR member; one replica does not count"
    );
    // While it shuts down, no election hands it a partition.
    let out = c.handle(Event::BrokersFailed(vec![2]));
    assert_eq!(updates(&out)[0], (tp("t", 0), lai(3, 2, &[3]), 1));
    assert_eq!(updates(&out)[1].1.leader, NO_LEADER, "1 is in the ISR of t-1 no more");
}

#[test]
fn a_controlled_shutdown_move_that_lost_its_write_is_made_again_on_the_state_read_back() {
    let t = topic(vec![(vec![1, 2, 3], stored(1, 0, &[1, 2], 4))]);
    let mut c = elected(Default::default(), &[1, 2, 3], t);
    let out = c.handle(Event::ControlledShutdown(1));
    assert_eq!(updates(&out), vec![(tp("t", 0), lai(2, 1, &[2]), 4)]);
    assert!(c.replicated_leaderships_of(1).is_empty(), "moved, as far as the controller knows");
    // The write lost to the leader's own ISR expansion (zkVersion 5): read
    // back, broker 1 still leads, and it must not be told otherwise.
    let read = stored(1, 0, &[1, 2, 3], 5);
    let out = c.handle(Event::PartitionStatesChanged(vec![(tp("t", 0), read)]));
    assert!(updates(&out).is_empty(), "a registered leader is left alone by reconciliation");
    assert_eq!(c.replicated_leaderships_of(1), vec![tp("t", 0)]);
    let out = c.handle(Event::ControlledShutdown(1));
    assert_eq!(
        updates(&out),
        vec![(tp("t", 0), lai(2, 1, &[2, 3]), 5)],
        "the move again, conditional on the version read back"
    );
    assert!(out.remaining_leaderships.is_empty());
    assert!(c.replicated_leaderships_of(1).is_empty());
    assert!(c.replicated_leaderships_of(2) == vec![tp("t", 0)]);
}

#[test]
fn preferred_replica_partition_leader_election() {
    let t = topic(vec![
        (vec![1, 2], stored(2, 4, &[2, 1], 0)),
        (vec![1, 2], stored(1, 0, &[1, 2], 0)),
        (vec![3, 2], stored(2, 0, &[2], 0)),
    ]);
    let mut c = elected(Default::default(), &[1, 2, 3], t);
    let out = c.handle(Event::ElectLeaders { election: ElectionType::Preferred, partitions: None });
    assert_eq!(
        out.elections,
        vec![
            (tp("t", 0), Ok(1)),
            (tp("t", 1), Err(ElectionError::ElectionNotNeeded)),
            (tp("t", 2), Err(ElectionError::PreferredLeaderNotAvailable)),
        ]
    );
    assert_eq!(
        updates(&out),
        vec![(tp("t", 0), lai(1, 5, &[2, 1]), 0)],
        "ISR unchanged, epoch bumped"
    );
    let out = c.handle(Event::ElectLeaders {
        election: ElectionType::Preferred,
        partitions: Some(vec![tp("nope", 0)]),
    });
    assert_eq!(out.elections, vec![(tp("nope", 0), Err(ElectionError::UnknownTopicOrPartition))]);
}

#[test]
fn kip_460_unclean_election_request_only_for_partitions_without_a_live_leader() {
    let t = topic(vec![(vec![1, 2], stored(1, 0, &[1], 0)), (vec![2], stored(2, 0, &[2], 0))]);
    let mut c = elected(Default::default(), &[1, 2], t);
    c.handle(Event::BrokersFailed(vec![1]));
    let out = c.handle(Event::ElectLeaders { election: ElectionType::Unclean, partitions: None });
    assert_eq!(
        out.elections,
        vec![(tp("t", 0), Ok(2)), (tp("t", 1), Err(ElectionError::ElectionNotNeeded))]
    );
    assert_eq!(updates(&out), vec![(tp("t", 0), lai(2, 2, &[2]), 1)]);
}

#[test]
fn kafka_controller_auto_leader_rebalance_above_the_imbalance_percentage() {
    let t = topic(vec![
        (vec![1, 2], stored(2, 0, &[1, 2], 0)),
        (vec![1, 2], stored(1, 0, &[1, 2], 0)),
        (vec![2, 1], stored(2, 0, &[2, 1], 0)),
        (vec![1, 2], stored(2, 0, &[2], 0)),
    ]);
    let mut c = elected(Default::default(), &[1, 2], t);
    let out = c.handle(Event::CheckLeaderImbalance { percentage: 90 });
    assert_eq!(updates(&out), vec![], "broker 1 leads 1 of its 3: 67% is under 90%");
    let out = c.handle(Event::CheckLeaderImbalance { percentage: 10 });
    assert_eq!(
        updates(&out),
        vec![(tp("t", 0), lai(1, 1, &[1, 2]), 0)],
        "t-3's preferred replica is out of sync"
    );
}

#[test]
fn topic_deletion_manager_forgets_the_topic_and_removes_its_znodes() {
    let mut c = elected(Default::default(), &[1], topic(vec![(vec![1], stored(1, 0, &[1], 0))]));
    let out = c.handle(Event::TopicDeletionRequested("t".into()));
    assert_eq!(out.commands, vec![Command::DeleteTopic("t".into())]);
    assert!(c.partition(&tp("t", 0)).is_none());
    assert_eq!(updates(&c.handle(Event::BrokersFailed(vec![1]))), vec![]);
}

#[test]
fn partition_state_machine_a_state_without_leader_or_isr_is_still_a_new_partition() {
    let mut c =
        elected(Default::default(), &[1], topic(vec![(vec![2, 3], stored(NO_LEADER, 0, &[], 2))]));
    let out = c.handle(Event::BrokersStarted(vec![3, 2]));
    assert_eq!(updates(&out), vec![(tp("t", 0), lai(2, 1, &[2, 3]), 2)]);
}

/// The topic znode writes of an output: partition → (replicas, adding,
/// removing), with the zkVersion each names.
fn topic_writes(out: &Output) -> Vec<(BTreeMap<i32, ReplicaAssignment>, i32)> {
    writes(out)
        .filter_map(|w| match w {
            ZnodeWrite::WriteTopic { partitions, expected_zk_version, .. } => {
                Some((partitions, expected_zk_version))
            }
            _ => None,
        })
        .collect()
}

fn ra(replicas: &[i32], adding: &[i32], removing: &[i32]) -> ReplicaAssignment {
    ReplicaAssignment {
        replicas: replicas.to_vec(),
        adding: adding.to_vec(),
        removing: removing.to_vec(),
    }
}

fn reassign(c: &mut Controller, target: Option<&[i32]>) -> Output {
    c.handle(Event::AlterReassignments {
        partitions: vec![(tp("t", 0), target.map(<[i32]>::to_vec))],
        check_live: true,
    })
}

fn isr_changed(
    c: &mut Controller,
    leader: i32,
    epoch: i32,
    isr: &[i32],
    zk_version: i32,
) -> Output {
    let mut s = stored(leader, epoch, isr, zk_version);
    if let Some(s) = s.as_mut() {
        s.controller_epoch = EPOCH.epoch;
    }
    c.handle(Event::PartitionStatesChanged(vec![(tp("t", 0), s)]))
}

#[test]
fn kip_455_phase_a_writes_target_plus_original_replicas_and_bumps_the_leader_epoch() {
    let mut c =
        elected(Default::default(), &[0, 1, 2], topic(vec![(vec![0], stored(0, 3, &[0], 5))]));
    let out = reassign(&mut c, Some(&[1, 2]));
    assert_eq!(out.reassignments, vec![(tp("t", 0), Ok(()))]);
    assert_eq!(
        topic_writes(&out),
        vec![([(0, ra(&[1, 2, 0], &[1, 2], &[0]))].into(), 0)],
        "ReplicaAssignment.reassignTo: RS = TRS ++ ORS, AR = RS - ORS, RR = RS - TRS"
    );
    assert_eq!(
        updates(&out),
        vec![(tp("t", 0), lai(0, 4, &[0]), 5)],
        "the leader stays until the targets are in sync; its epoch is bumped"
    );
    let listed = c.ongoing_reassignments(None);
    assert_eq!(listed, vec![(tp("t", 0), ra(&[1, 2, 0], &[1, 2], &[0]))]);
}

#[test]
fn kip_455_phase_b_waits_for_every_target_replica_in_the_isr_then_moves_the_leader_into_the_target()
{
    let mut c =
        elected(Default::default(), &[0, 1, 2], topic(vec![(vec![0], stored(0, 3, &[0], 5))]));
    reassign(&mut c, Some(&[1, 2]));
    let out = isr_changed(&mut c, 0, 4, &[0, 1], 7);
    assert_eq!(out.commands, vec![], "2 is not in sync yet");
    let out = isr_changed(&mut c, 0, 4, &[0, 1, 2], 8);
    assert_eq!(
        updates(&out),
        vec![(tp("t", 0), lai(1, 5, &[1, 2]), 8)],
        "reassignPartitionLeaderElection: first target replica in the ISR; removed replicas leave the ISR"
    );
    assert_eq!(topic_writes(&out), vec![([(0, ra(&[1, 2], &[], &[]))].into(), 1)]);
    assert_eq!(c.ongoing_reassignments(None), vec![], "complete");
}

#[test]
fn kip_455_raising_the_replication_factor_keeps_the_leader_and_removes_nothing() {
    let mut c =
        elected(Default::default(), &[0, 1, 2], topic(vec![(vec![0], stored(0, 0, &[0], 0))]));
    let out = reassign(&mut c, Some(&[0, 1, 2]));
    assert_eq!(topic_writes(&out), vec![([(0, ra(&[0, 1, 2], &[1, 2], &[]))].into(), 0)]);
    let out = isr_changed(&mut c, 0, 1, &[0, 2, 1], 2);
    assert_eq!(
        updates(&out),
        vec![(tp("t", 0), lai(0, 2, &[0, 2, 1]), 2)],
        "the leader is a target"
    );
    assert_eq!(topic_writes(&out), vec![([(0, ra(&[0, 1, 2], &[], &[]))].into(), 1)]);
}

#[test]
fn kip_455_a_target_already_in_sync_completes_at_once() {
    // Shrinking [0,1,2] to [2,1]: both are in sync, so phase B follows A in
    // the same event, as one write per znode.
    let mut c = elected(
        Default::default(),
        &[0, 1, 2],
        topic(vec![(vec![0, 1, 2], stored(0, 0, &[0, 1, 2], 0))]),
    );
    let out = reassign(&mut c, Some(&[2, 1]));
    assert_eq!(updates(&out), vec![(tp("t", 0), lai(2, 2, &[1, 2]), 0)]);
    assert_eq!(topic_writes(&out), vec![([(0, ra(&[2, 1], &[], &[]))].into(), 0)]);
}

#[test]
fn kip_455_cancellation_reverts_to_the_original_replicas_and_drops_the_added_ones_from_the_isr() {
    let mut c =
        elected(Default::default(), &[0, 1, 2], topic(vec![(vec![0], stored(0, 0, &[0], 0))]));
    reassign(&mut c, Some(&[1, 2]));
    isr_changed(&mut c, 0, 1, &[0, 1], 2);
    let out = reassign(&mut c, None);
    assert_eq!(out.reassignments, vec![(tp("t", 0), Ok(()))]);
    assert_eq!(topic_writes(&out), vec![([(0, ra(&[0], &[], &[]))].into(), 1)]);
    assert_eq!(
        updates(&out),
        vec![(tp("t", 0), lai(0, 2, &[0]), 2)],
        "one epoch bump: done at once"
    );
    let out = reassign(&mut c, None);
    assert_eq!(
        out.reassignments,
        vec![(tp("t", 0), Err(ReassignmentError::NoReassignmentInProgress(tp("t", 0))))],
        "NO_REASSIGNMENT_IN_PROGRESS: nothing to cancel"
    );
    assert_eq!(out.commands, vec![]);
}

#[test]
fn kip_455_changing_the_target_mid_way_stops_replicas_no_longer_wanted() {
    let mut c =
        elected(Default::default(), &[0, 1, 2, 3], topic(vec![(vec![0], stored(0, 0, &[0], 0))]));
    reassign(&mut c, Some(&[1, 2]));
    isr_changed(&mut c, 0, 1, &[0, 1], 2);
    let out = reassign(&mut c, Some(&[3]));
    assert_eq!(
        topic_writes(&out),
        vec![([(0, ra(&[3, 0], &[3], &[0]))].into(), 1)],
        "the original replicas stay the origin; 1 and 2 are no longer added"
    );
    assert_eq!(updates(&out), vec![(tp("t", 0), lai(0, 2, &[0]), 2)], "1 left the ISR");
}

#[test]
fn kafka_controller_validate_replicas_refuses_bad_targets_with_invalid_replica_assignment() {
    let mut c = elected(Default::default(), &[0, 1], topic(vec![(vec![0], stored(0, 0, &[0], 0))]));
    for (target, why) in [
        (vec![], "empty"),
        (vec![1, 1], "duplicate"),
        (vec![-1], "negative"),
        (vec![5], "broker 5 is not alive"),
    ] {
        let out = reassign(&mut c, Some(&target));
        assert!(
            matches!(&out.reassignments[0].1, Err(ReassignmentError::InvalidReplicaAssignment(_))),
            "{why}: {:?}",
            out.reassignments
        );
        assert_eq!(out.commands, vec![], "{why}: nothing written");
    }
    let out = c.handle(Event::AlterReassignments {
        partitions: vec![(tp("t", 9), Some(vec![1])), (tp("nope", 0), Some(vec![1]))],
        check_live: true,
    });
    assert!(out
        .reassignments
        .iter()
        .all(|(_, r)| matches!(r, Err(ReassignmentError::UnknownTopicOrPartition(_)))));
    // The znode path of Kafka's ZooKeeper era never checked liveness.
    let out = c.handle(Event::AlterReassignments {
        partitions: vec![(tp("t", 0), Some(vec![5]))],
        check_live: false,
    });
    assert_eq!(out.reassignments, vec![(tp("t", 0), Ok(()))]);
}

#[test]
fn kafka_controller_on_controller_failover_resumes_a_reassignment_from_the_topic_znode() {
    // The old controller wrote phase A and died; the ISR has since caught up.
    let mut t = topic(vec![(vec![1, 2, 0], stored(0, 1, &[0, 1, 2], 4))]);
    let p = t.partitions.get_mut(&0).unwrap();
    p.adding = vec![1, 2];
    p.removing = vec![0];
    let mut c = Controller::new(Default::default(), EPOCH);
    let view = ClusterView {
        live_brokers: [0, 1, 2].into(),
        topics: [("t".to_string(), t)].into(),
        deletions: Default::default(),
    };
    let out = c.handle(Event::Elected { epoch: EPOCH, view });
    assert_eq!(updates(&out), vec![(tp("t", 0), lai(1, 2, &[1, 2]), 4)]);
    assert_eq!(topic_writes(&out), vec![([(0, ra(&[1, 2], &[], &[]))].into(), 0)]);
}

#[test]
fn kip_455_a_reassignment_is_idempotent_so_a_repeated_request_writes_nothing() {
    let mut c =
        elected(Default::default(), &[0, 1, 2], topic(vec![(vec![0], stored(0, 0, &[0], 0))]));
    reassign(&mut c, Some(&[1, 2]));
    let out = reassign(&mut c, Some(&[1, 2]));
    assert_eq!(out.reassignments, vec![(tp("t", 0), Ok(()))]);
    assert_eq!(out.commands, vec![], "/admin/reassign_partitions re-read after our own rewrite");
}

#[test]
fn topic_deletion_manager_leaves_a_topic_queued_for_deletion_alone() {
    // A deletion removes the state znodes before the topic's: meanwhile
    // the topic reads as partitions without state, which must not be
    // taken for new partitions and written back.
    let mut c = elected(
        Default::default(),
        &[1, 2, 3],
        topic(vec![(vec![1, 2, 3], stored(1, 0, &[1, 2, 3], 0))]),
    );
    let out = c.handle(Event::TopicDeletionRequested("t".into()));
    assert_eq!(out.commands, vec![Command::DeleteTopic("t".into())]);
    let half_deleted = topic(vec![(vec![1, 2, 3], None)]);
    let out = c.handle(Event::TopicChanged { name: "t".into(), topic: half_deleted });
    assert_eq!(out.commands, vec![], "nothing is written back");
    assert!(c.topic_names().contains("t"), "its removal is still watched for");
    c.handle(Event::TopicRemoved("t".into()));
    assert!(c.topic_names().is_empty());

    // The same name created again (a new id) is a new topic.
    let mut again = topic(vec![(vec![1, 2, 3], None)]);
    again.topic_id = Some(uuid::Uuid::from_u128(8));
    c.handle(Event::TopicDeletionRequested("t".into()));
    let out = c.handle(Event::TopicChanged { name: "t".into(), topic: again });
    assert!(!updates(&out).is_empty(), "its partitions get their first state");
}
