//! The group coordinator runtime against an in-memory `__consumer_offsets`
//! and a manual clock: requests, timers, appends and replay end to end.

use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::*;
use crate::broker::coordinator_runtime::next_command;
use crate::broker::coordinator_runtime::testing::{
    advance, follow_and_load, image_leading, MemoryLog,
};
use crate::cluster::ClusterImage;
use crate::coordinator::{
    GroupState, HeartbeatRequest, JoinGroupRequest, JoinGroupResult, OffsetCommitPartition,
    OffsetCommitRequest, OffsetCommitTopic, OffsetFetchRequest, Protocol, SyncGroupRequest,
};
use crate::time::ManualClock;

fn commit(group: &str, offset: i64) -> OffsetCommitRequest {
    OffsetCommitRequest {
        group_id: group.into(),
        generation_id: -1,
        member_id: String::new(),
        group_instance_id: None,
        retention_time_ms: -1,
        topics: vec![OffsetCommitTopic {
            name: "t".into(),
            partitions: vec![OffsetCommitPartition {
                partition_index: 0,
                committed_offset: offset,
                committed_leader_epoch: -1,
                commit_timestamp: -1,
                committed_metadata: None,
            }],
        }],
    }
}

async fn fetched(h: &GroupCoordinatorHandle, group: &str) -> i64 {
    let req = OffsetFetchRequest {
        group_id: group.into(),
        topics: Some(vec![("t".into(), vec![0])]),
        require_stable: false,
    };
    h.read(move |c| c.offset_fetch(&req)).await.unwrap().topics[0].partitions[0].committed_offset
}

#[tokio::test]
async fn commits_survive_a_restart_through_the_log() {
    let log: Arc<MemoryLog> = Arc::new(MemoryLog::default());
    let config = GroupConfig { offsets_topic_num_partitions: 3, ..GroupConfig::default() };
    let (_tx, images) = watch::channel(image_leading(GROUP_METADATA_TOPIC_NAME, 3, 1));
    let h = GroupCoordinatorHandle::start(config.clone(), log.clone(), SessionLease::granted());
    follow_and_load(&h, images.clone(), log.clone(), "g", GroupCoordinator::is_loaded).await;
    for offset in [5, 9] {
        let resp = h
            .call(move |c, now, rid| c.offset_commit(now, rid, commit("g", offset)))
            .await
            .unwrap();
        let Response::OffsetCommit(r) = resp else { panic!("{resp:?}") };
        assert_eq!(r.topics[0].partitions[0].1, None);
    }
    assert_eq!(fetched(&h, "g").await, 9);

    // A new coordinator over the same log: the loader replays it.
    let h2 = GroupCoordinatorHandle::start(config, log.clone(), SessionLease::granted());
    follow_and_load(&h2, images, log.clone(), "g", GroupCoordinator::is_loaded).await;
    assert_eq!(fetched(&h2, "g").await, 9, "the last commit wins on replay");
}

/// Where the manual clock starts: a real epoch time, as commit
/// timestamps are.
const T0: i64 = 1_700_000_000_000;

/// A runtime on `clock` leading every `__consumer_offsets` partition of
/// an empty log, loaded for group "g". Keep the sender: it is the
/// metadata the runtime follows.
async fn started_on(
    clock: &ManualClock,
    config: GroupConfig,
) -> (GroupCoordinatorHandle, watch::Sender<Arc<ClusterImage>>) {
    let log: Arc<MemoryLog> = Arc::new(MemoryLog::default());
    let config = GroupConfig { offsets_topic_num_partitions: 1, ..config };
    let (tx, images) = watch::channel(image_leading(GROUP_METADATA_TOPIC_NAME, 1, 1));
    let h = GroupCoordinatorHandle::start_with_clock(
        config,
        log.clone(),
        SessionLease::granted(),
        Arc::new(clock.clone()),
    );
    follow_and_load(&h, images, log, "g", GroupCoordinator::is_loaded).await;
    (h, tx)
}

async fn state(h: &GroupCoordinatorHandle) -> Option<GroupState> {
    h.read(|c| c.group_state("g")).await.unwrap()
}

/// Polls (commands only, no sleeping) until group "g" is in `wanted`.
async fn wait_state(h: &GroupCoordinatorHandle, wanted: GroupState) {
    let polled = tokio::time::timeout(Duration::from_secs(60), async {
        while state(h).await != Some(wanted) {
            tokio::task::yield_now().await;
        }
    });
    polled.await.unwrap_or_else(|_| panic!("group g never reached {wanted:?}"));
}

fn join_request(session_timeout_ms: i32, rebalance_timeout_ms: i32) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: "g".into(),
        session_timeout_ms,
        rebalance_timeout_ms,
        member_id: String::new(),
        group_instance_id: None,
        protocol_type: "consumer".into(),
        protocols: vec![Protocol { name: "range".into(), metadata: bytes::Bytes::new() }],
        reason: None,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        require_known_member_id: false,
        support_skipping_assignment: false,
    }
}

/// Sends a JoinGroup whose answer comes when the rebalance completes.
fn spawn_join(
    h: &GroupCoordinatorHandle,
    req: JoinGroupRequest,
) -> tokio::task::JoinHandle<JoinGroupResult> {
    let h = h.clone();
    tokio::spawn(async move {
        let resp = h.call(move |c, now, rid| c.join_group(now, rid, req)).await.unwrap();
        let Response::JoinGroup(r) = resp else { panic!("{resp:?}") };
        r
    })
}

async fn answered(join: tokio::task::JoinHandle<JoinGroupResult>) -> JoinGroupResult {
    tokio::time::timeout(Duration::from_secs(60), join)
        .await
        .expect("the join was never answered")
        .unwrap()
}

/// The leader's SyncGroup, giving itself an empty assignment.
async fn sync_as_leader(h: &GroupCoordinatorHandle, join: &JoinGroupResult) {
    let req = SyncGroupRequest {
        group_id: "g".into(),
        generation_id: join.generation_id,
        member_id: join.member_id.clone(),
        group_instance_id: None,
        protocol_type: None,
        protocol_name: None,
        assignments: vec![(join.member_id.clone(), bytes::Bytes::new())],
    };
    let resp = h.call(move |c, now, rid| c.sync_group(now, rid, req)).await.unwrap();
    let Response::SyncGroup(r) = resp else { panic!("{resp:?}") };
    assert_eq!(r.error, None);
}

async fn heartbeat(h: &GroupCoordinatorHandle, join: &JoinGroupResult) -> Response {
    let hb = HeartbeatRequest {
        group_id: "g".into(),
        generation_id: join.generation_id,
        member_id: join.member_id.clone(),
        group_instance_id: None,
    };
    h.call(move |c, now, rid| c.heartbeat(now, rid, hb)).await.unwrap()
}

/// A single stable member of group "g" (past the initial delay).
async fn stable_member(
    h: &GroupCoordinatorHandle,
    clock: &ManualClock,
    req: JoinGroupRequest,
) -> JoinGroupResult {
    let join = spawn_join(h, req);
    wait_state(h, GroupState::PreparingRebalance).await;
    advance(h, clock, i64::from(GroupConfig::default().group_initial_rebalance_delay_ms)).await;
    let r = answered(join).await;
    sync_as_leader(h, &r).await;
    assert_eq!(state(h).await, Some(GroupState::Stable));
    r
}

/// In production the runtime wakes for a timer by itself: the wait for
/// the next command ends at the clock's deadline.
#[tokio::test]
async fn the_wait_for_a_command_ends_at_a_due_timer() {
    let clock = ManualClock::new(T0);
    let (_tx, mut rx) = mpsc::channel::<()>(1);
    let waited = next_command(&mut rx, Some(T0), &clock);
    let woke = tokio::time::timeout(Duration::from_secs(60), waited).await;
    assert!(matches!(woke, Ok(Some(None))), "woken by the timer, not a command");
}

/// KIP-134: the first join of an empty group waits
/// `group.initial.rebalance.delay.ms` for more members, on the
/// runtime's clock.
#[tokio::test]
async fn the_initial_rebalance_delay_runs_on_the_runtime_clock() {
    let clock = ManualClock::new(T0);
    let config = GroupConfig { group_initial_rebalance_delay_ms: 3_000, ..Default::default() };
    let (h, _images) = started_on(&clock, config).await;
    let join = spawn_join(&h, join_request(10_000, 10_000));
    wait_state(&h, GroupState::PreparingRebalance).await;
    advance(&h, &clock, 2_999).await;
    assert_eq!(state(&h).await, Some(GroupState::PreparingRebalance), "still delayed");
    assert!(!join.is_finished());
    advance(&h, &clock, 1).await;
    let r = answered(join).await;
    assert_eq!((r.error, r.generation_id), (None, 1), "answered after the initial delay");
    assert_eq!(heartbeat(&h, &r).await, Response::Heartbeat(None));
}

/// A member whose heartbeats stop is removed after
/// `session.timeout.ms` of the runtime's clock, and the group empties.
#[tokio::test]
async fn a_silent_member_expires_after_its_session_timeout() {
    let clock = ManualClock::new(T0);
    let (h, _images) = started_on(&clock, GroupConfig::default()).await;
    let member = stable_member(&h, &clock, join_request(10_000, 10_000)).await;
    advance(&h, &clock, 5_000).await;
    assert_eq!(heartbeat(&h, &member).await, Response::Heartbeat(None));
    // The session now runs from that heartbeat.
    advance(&h, &clock, 9_999).await;
    assert_eq!(state(&h).await, Some(GroupState::Stable), "not yet expired");
    advance(&h, &clock, 1).await;
    assert_eq!(state(&h).await, Some(GroupState::Empty), "the member expired");
    assert_eq!(
        heartbeat(&h, &member).await,
        Response::Heartbeat(Some(crate::coordinator::Error::UnknownMemberId))
    );
}

/// A member that does not rejoin within the rebalance timeout is
/// dropped from the rebalance, which completes with the others.
#[tokio::test]
async fn a_member_that_does_not_rejoin_is_dropped_at_the_rebalance_timeout() {
    let clock = ManualClock::new(T0);
    let (h, _images) = started_on(&clock, GroupConfig::default()).await;
    let first = stable_member(&h, &clock, join_request(30_000, 5_000)).await;
    let second = spawn_join(&h, join_request(30_000, 5_000));
    wait_state(&h, GroupState::PreparingRebalance).await;
    advance(&h, &clock, 4_999).await;
    assert_eq!(state(&h).await, Some(GroupState::PreparingRebalance), "still waiting");
    advance(&h, &clock, 1).await;
    let r = answered(second).await;
    assert_eq!((r.error, r.generation_id), (None, 2));
    assert_eq!(r.leader, r.member_id, "the member that rejoined leads");
    let members: Vec<&str> = r.members.iter().map(|m| m.member_id.as_str()).collect();
    assert_eq!(members, [r.member_id.as_str()], "{} was dropped", first.member_id);
}

/// Offsets of an empty group expire `offsets.retention.ms` after their
/// commit, found by the retention check on the runtime's clock.
#[tokio::test]
async fn committed_offsets_expire_after_the_retention_time() {
    let clock = ManualClock::new(T0);
    let config = GroupConfig {
        offsets_retention_ms: 60_000,
        offsets_retention_check_interval_ms: 1_000,
        ..Default::default()
    };
    let (h, _images) = started_on(&clock, config).await;
    let resp = h.call(move |c, now, rid| c.offset_commit(now, rid, commit("g", 7))).await;
    let Response::OffsetCommit(r) = resp.unwrap() else { panic!("not an OffsetCommit") };
    assert_eq!(r.topics[0].partitions[0].1, None);
    advance(&h, &clock, 59_000).await;
    assert_eq!(fetched(&h, "g").await, 7, "kept within the retention time");
    advance(&h, &clock, 2_000).await;
    assert_eq!(fetched(&h, "g").await, -1, "expired by the retention check");
}

/// A coordinator that cannot keep up makes its callers wait at the
/// queue's bound instead of queueing their requests without limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_wait_when_the_command_queue_is_full() {
    const QUEUE: usize = 4;
    let log: Arc<MemoryLog> = Arc::new(MemoryLog::default());
    let config = GroupConfig { offsets_topic_num_partitions: 1, ..GroupConfig::default() };
    let h = GroupCoordinatorHandle::start_with_queue(
        config,
        log,
        SessionLease::granted(),
        Arc::new(SystemClock),
        QUEUE,
    );
    // The first command holds the coordinator task until released.
    let (started_tx, started) = std::sync::mpsc::channel::<()>();
    let (release, held) = std::sync::mpsc::channel::<()>();
    let blocker = tokio::spawn({
        let h = h.clone();
        async move {
            h.read(move |_| {
                let _ = started_tx.send(());
                let _ = held.recv_timeout(Duration::from_secs(120));
            })
            .await
        }
    });
    tokio::task::spawn_blocking(move || started.recv_timeout(Duration::from_secs(60)))
        .await
        .unwrap()
        .expect("the coordinator never ran the first command");
    let callers: Vec<_> = (0..QUEUE + 20)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move { h.read(move |_| i).await })
        })
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while h.tx.capacity() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the queue never filled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let full = h.tx.try_send(Command::Unload(0));
    assert!(
        matches!(full, Err(mpsc::error::TrySendError::Full(_))),
        "the queue holds {QUEUE} commands, no more"
    );
    assert!(callers.iter().all(|c| !c.is_finished()), "all wait for the coordinator");
    release.send(()).unwrap();
    blocker.await.unwrap().unwrap();
    for (i, caller) in callers.into_iter().enumerate() {
        let answered = tokio::time::timeout(Duration::from_secs(60), caller).await;
        assert_eq!(answered.expect("a waiting caller was never let in").unwrap().unwrap(), i);
    }
}
