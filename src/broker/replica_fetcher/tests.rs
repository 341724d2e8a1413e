//! The truncation rule, alone and on real logs in temp dirs: the two
//! KIP-101 scenarios and KIP-279's fast double failover, with the
//! OffsetForLeaderEpoch answer taken from the leader log's own cache.
//! Then what a fetch that went through leaves in a partition's follow.

use super::*;
use crate::log::Log;
use crate::record::{BatchBuilder, Compression, NewRecord};

fn lookup(
    entries: &'static [(i32, i64)],
    leo: i64,
) -> impl Fn(LeaderEpoch) -> (LeaderEpoch, Offset) {
    move |requested: LeaderEpoch| {
        // The same rule as LeaderEpochCache::end_offset_for, over a table.
        if entries.last().is_some_and(|e| e.0 == requested.0) {
            return (requested, Offset(leo));
        }
        let Some(higher) = entries.iter().find(|e| e.0 > requested.0) else {
            return (LeaderEpoch::NONE, Offset::NONE);
        };
        match entries.iter().rev().find(|e| e.0 <= requested.0) {
            None => (requested, Offset(higher.1)),
            Some(floor) => (LeaderEpoch(floor.0), Offset(higher.1)),
        }
    }
}

#[test]
fn offset_truncation_state_follows_kafkas_rules() {
    struct Case {
        why: &'static str,
        leader: (i32, i64),
        follower: &'static [(i32, i64)],
        hw: i64,
        leo: i64,
        want: TruncationState,
    }
    let done = |offset| TruncationState { offset, completed: true };
    let cases = [
        Case {
            why: "same epoch, leader ends earlier: cut the follower's extra tail",
            leader: (3, 10),
            follower: &[(1, 0), (3, 5)],
            hw: 4,
            leo: 12,
            want: done(10),
        },
        Case {
            why: "same epoch, follower ends earlier: nothing to cut",
            leader: (3, 20),
            follower: &[(1, 0), (3, 5)],
            hw: 4,
            leo: 12,
            want: done(12),
        },
        Case {
            why: "KIP-101: the high watermark (4) is not where we cut",
            leader: (3, 12),
            follower: &[(1, 0), (3, 5)],
            hw: 4,
            leo: 12,
            want: done(12),
        },
        Case {
            why: "KIP-279: the leader answers epoch 2, which the follower never had: \
                  cut to the end of our largest epoch below it (1, ending at 5) and ask again",
            leader: (2, 8),
            follower: &[(1, 0), (3, 5)],
            hw: 4,
            leo: 12,
            want: TruncationState { offset: 5, completed: false },
        },
        Case {
            why: "the leader's epoch is older than all of the follower's: the follower's \
                  first epoch starts where that epoch ends for it, below the leader's end",
            leader: (0, 3),
            follower: &[(1, 2)],
            hw: 0,
            leo: 6,
            want: done(2),
        },
        Case {
            why: "the leader knows no such epoch at all: only then the high watermark",
            leader: (-1, -1),
            follower: &[(1, 0)],
            hw: 4,
            leo: 12,
            want: done(4),
        },
    ];
    for c in cases {
        let got =
            offset_truncation_state(c.leader.0, c.leader.1, lookup(c.follower, c.leo), c.hw, c.leo);
        assert_eq!(got, c.want, "{}", c.why);
    }
}

struct Replica {
    _dir: tempfile::TempDir,
    log: Log,
}

fn replica() -> Replica {
    let (dir, log) = crate::log::tests::temp_log();
    Replica { _dir: dir, log }
}

fn lead(r: &Replica, epoch: i32, value: &str) {
    let mut b = BatchBuilder::new(Compression::None);
    b.push(NewRecord::new(1_700_000_000_000, None, Some(value.as_bytes())));
    let mut bytes = b.build().unwrap();
    r.log.leader_epoch_cache().assign(LeaderEpoch(epoch), r.log.log_end_offset()).unwrap();
    r.log.append_as_leader(&mut bytes, LeaderEpoch(epoch)).unwrap();
}

/// What a follower does after a role change: OffsetForLeaderEpoch rounds
/// until the truncation is settled, then fetches the leader's tail as is.
fn follow(follower: &Replica, leader: &Replica, follower_hw: i64) {
    truncate_by_epoch(follower, leader, follower_hw);
    fetch(follower, leader);
}

fn truncate_by_epoch(follower: &Replica, leader: &Replica, follower_hw: i64) {
    for _ in 0..10 {
        let Some(latest) = follower.log.leader_epoch_cache().latest_epoch() else { break };
        let (epoch, end) = leader.log.leader_epoch_cache().end_offset_for(latest);
        let state = offset_truncation_state(
            epoch.0,
            end.0,
            |e| follower.log.leader_epoch_cache().end_offset_for(e),
            follower_hw,
            follower.log.log_end_offset().0,
        );
        follower.log.truncate_to(Offset(state.offset)).unwrap();
        if state.completed {
            break;
        }
    }
}

fn fetch(follower: &Replica, leader: &Replica) {
    let from = follower.log.log_end_offset();
    let read = leader.log.read(from, usize::MAX, None, true).unwrap();
    if let Some(slice) = read.slice {
        let mut bytes = slice.read_to_vec().unwrap();
        follower.log.append_as_follower(&mut bytes).unwrap();
    }
}

fn values(r: &Replica) -> Vec<String> {
    let read = r.log.read(Offset(0), usize::MAX, None, true).unwrap();
    let Some(slice) = read.slice else { return Vec::new() };
    let bytes = slice.read_to_vec().unwrap();
    let mut out = Vec::new();
    for batch in crate::record::Batches::new(&bytes) {
        let batch = batch.unwrap();
        let records = batch.records().unwrap();
        for r in records.iter() {
            out.push(String::from_utf8_lossy(r.unwrap().value.unwrap_or(b"")).into_owned());
        }
    }
    out
}

#[test]
fn kip_101_scenario_1_a_restarted_follower_keeps_an_acknowledged_write() {
    // A leads epoch 0 with m1, m2; B has both but its HW is still 1 (it
    // learns the HW one fetch later). acks=all acknowledged m2.
    let (a, b) = (replica(), replica());
    lead(&a, 0, "m1");
    lead(&a, 0, "m2");
    follow(&b, &a, 0);
    assert_eq!(values(&b), ["m1", "m2"]);
    // B restarts and truncates before its first fetch: by epoch, not to
    // its HW 1. Then A dies before B fetches again.
    truncate_by_epoch(&b, &a, 1);
    assert_eq!(values(&b), ["m1", "m2"], "m2 survives B's restart");
    // B leads epoch 1; A comes back and follows B.
    lead(&b, 1, "m3");
    follow(&a, &b, 1);
    assert_eq!(values(&a), ["m1", "m2", "m3"]);
    assert_eq!(values(&b), ["m1", "m2", "m3"], "no acknowledged write was lost");
}

#[test]
fn kip_101_scenario_2_diverged_logs_after_a_power_loss_converge() {
    // A led epoch 0 and wrote m1, m2; B had replicated only m1.
    let (a, b) = (replica(), replica());
    lead(&a, 0, "m1");
    follow(&b, &a, 0);
    lead(&a, 0, "m2");
    // Power loss; B comes back first and leads epoch 1, writing m3 where A
    // holds m2. A's checkpointed HW was 2: truncating to it would keep m2.
    lead(&b, 1, "m3");
    follow(&a, &b, 2);
    assert_eq!(values(&a), ["m1", "m3"], "A dropped its unreplicated m2 and took m3");
    assert_eq!(values(&a), values(&b));
    assert_eq!(
        a.log.leader_epoch_cache().entries(),
        b.log.leader_epoch_cache().entries(),
        "the epoch caches agree too"
    );
}

#[test]
fn kip_279_fast_double_failover_leaves_no_divergence() {
    // A leads epoch 0: m1, m2; B replicates m1 only.
    let (a, b) = (replica(), replica());
    lead(&a, 0, "m1");
    follow(&b, &a, 0);
    lead(&a, 0, "m2");
    // A dies, B leads epoch 1 and writes m3 at offset 1; B dies before A
    // fetches; A comes back and leads epoch 2, writing m4 at offset 2.
    lead(&b, 1, "m3");
    lead(&a, 2, "m4");
    // B returns and follows A. It asks for epoch 1, which A never had: A
    // answers epoch 0 ending at 2, B's epoch 0 ends at 1, so B cuts m3
    // (which its HW of 2, as sole leader of epoch 1, would have kept).
    follow(&b, &a, 2);
    assert_eq!(values(&b), ["m1", "m2", "m4"]);
    assert_eq!(values(&a), values(&b), "the logs converged");
}

#[test]
fn a_partition_error_is_retried_soon_then_backs_off_to_replica_fetch_backoff_ms() {
    let backoff = Duration::from_millis(1_000);
    let waits: Vec<u128> = (0..8).map(|n| retry_wait(backoff, n).as_millis()).collect();
    assert_eq!(waits, [20, 40, 80, 160, 320, 640, 1_000, 1_000]);
    assert_eq!(retry_wait(backoff, u32::MAX), backoff, "a long run of errors waits the backoff");
    assert_eq!(
        retry_wait(Duration::from_millis(5), 0),
        Duration::from_millis(5),
        "never longer than a shorter configured backoff"
    );
}

/// A fetcher following `t-0` from broker 2 at epoch 5, and the follow it
/// holds for it, as `add` leaves it.
fn fetcher_following_t_0() -> (tempfile::TempDir, Fetcher, TopicPartition, Follow) {
    let (dir, log) = crate::log::tests::temp_log();
    let tp = TopicPartition::new("t", 0);
    let state = super::super::partition::LeaderState {
        leader: 2,
        leader_epoch: 5,
        isr: vec![1, 2],
        replicas: vec![1, 2],
        state_zk_version: 0,
    };
    let (partition, _) =
        Partition::new(tp.clone(), uuid::Uuid::nil(), Arc::new(log), 1, state, Default::default())
            .unwrap();
    let follow = Follow {
        partition: Arc::new(partition),
        leader_epoch: 5,
        truncated: true,
        retry_at: None,
        failures: 0,
        in_sync: false,
    };
    let fetcher = Fetcher {
        key: FetcherKey { leader: 2, index: 0 },
        partitions: Mutex::new(HashMap::from([(tp.clone(), follow.clone())])),
        changed: Notify::new(),
        stopped: AtomicBool::new(false),
    };
    (dir, fetcher, tp, follow)
}

/// The follow's `(failures, in_sync, truncated)` now.
fn follow_state(fetcher: &Fetcher, tp: &TopicPartition) -> (u32, bool, bool) {
    let partitions = lock(&fetcher.partitions);
    let f = &partitions[tp];
    (f.failures, f.in_sync, f.truncated)
}

#[test]
fn a_fetch_that_went_through_resets_the_failures_it_was_built_with() {
    let (_dir, fetcher, tp, mut seen) = fetcher_following_t_0();
    seen.failures = 3;
    lock(&fetcher.partitions).get_mut(&tp).unwrap().failures = 3;
    settle_fetched(&fetcher, &tp, &seen, false, false);
    assert_eq!(follow_state(&fetcher, &tp), (0, false, true), "appended: failures reset");

    seen.failures = 2;
    lock(&fetcher.partitions).get_mut(&tp).unwrap().failures = 2;
    settle_fetched(&fetcher, &tp, &seen, false, true);
    assert_eq!(follow_state(&fetcher, &tp), (0, false, false), "retruncate: reset, truncate again");
}

#[test]
fn a_fetch_with_nothing_to_change_leaves_the_follow_alone() {
    // The follow is given 7 failures the round never saw: only a write
    // after all would clear them, so they show the lock was left alone.
    let (_dir, fetcher, tp, seen) = fetcher_following_t_0();
    lock(&fetcher.partitions).get_mut(&tp).unwrap().failures = 7;
    settle_fetched(&fetcher, &tp, &seen, false, false);
    assert_eq!(follow_state(&fetcher, &tp), (7, false, true), "no failures, in sync unchanged");

    // Any change still goes through: catching up, and truncating again.
    settle_fetched(&fetcher, &tp, &seen, true, false);
    assert_eq!(follow_state(&fetcher, &tp), (0, true, true), "caught up to the high watermark");
    lock(&fetcher.partitions).get_mut(&tp).unwrap().failures = 7;
    settle_fetched(&fetcher, &tp, &seen, false, true);
    assert_eq!(follow_state(&fetcher, &tp), (0, false, false), "the logs may have diverged");
}

#[test]
fn a_fetch_for_a_replaced_follow_changes_nothing() {
    // `add` at a new epoch replaced the follow while the round was out.
    let (_dir, fetcher, tp, mut seen) = fetcher_following_t_0();
    seen.failures = 3;
    lock(&fetcher.partitions).get_mut(&tp).unwrap().leader_epoch = 6;
    lock(&fetcher.partitions).get_mut(&tp).unwrap().failures = 4;
    settle_fetched(&fetcher, &tp, &seen, true, true);
    assert_eq!(follow_state(&fetcher, &tp), (4, false, true));
}
