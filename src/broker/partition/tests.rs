//! Leader and follower rules of one partition, each named after the Kafka
//! method or KIP it follows, on a real log in a temp dir.

use std::sync::Arc;

use super::*;
use crate::broker::producer_state::TxnMarker;
use crate::log::LogConfig;
use crate::record::{BatchBuilder, Compression, NewRecord, RecordBatchMut};
use crate::time::SystemClock;

const ME: i32 = 1;
const LAG_MS: i64 = 30_000;

struct Fixture {
    _dir: tempfile::TempDir,
    p: Partition,
    role: RoleChange,
}

fn state(leader: i32, epoch: i32, isr: &[i32], zk_version: i32) -> LeaderState {
    LeaderState {
        leader,
        leader_epoch: epoch,
        isr: isr.to_vec(),
        replicas: vec![1, 2, 3],
        state_zk_version: zk_version,
    }
}

fn partition(initial: LeaderState) -> Fixture {
    let (dir, log) = crate::log::tests::temp_log();
    let (p, role) = on_log(log, initial);
    Fixture { _dir: dir, p, role }
}

/// Partition t-0 of this broker over `log`, in the `initial` state.
fn on_log(log: Log, initial: LeaderState) -> (Partition, RoleChange) {
    let tp = TopicPartition::new("t", 0);
    Partition::new(tp, uuid::Uuid::nil(), Arc::new(log), ME, initial, BTreeMap::new()).unwrap()
}

fn records(n: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None);
    for i in 0..n {
        let v = format!("v{i}");
        b.push(NewRecord::new(1_700_000_000_000, None, Some(v.as_bytes())));
    }
    b.build().unwrap()
}

fn idempotent(producer_id: i64, seq: i32) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None).producer(producer_id, 0, seq);
    b.push(NewRecord::new(1_700_000_000_000, None, Some(b"x")));
    b.build().unwrap()
}

#[test]
fn maybe_increment_leader_hw_takes_the_smallest_log_end_in_the_isr() {
    let f = partition(state(ME, 0, &[1, 2, 3], 0));
    assert_eq!(f.role, RoleChange::BecameLeader);
    f.p.append_records_to_leader(&mut records(10), -1, 1).unwrap();
    assert_eq!(f.p.high_watermark(), 0, "no follower has fetched yet");
    f.p.update_follower_fetch(2, 10, 1_000);
    assert_eq!(f.p.high_watermark(), 0, "follower 3 is in the ISR and unheard of");
    assert!(f.p.update_follower_fetch(3, 4, 1_000).high_watermark_moved);
    assert_eq!(f.p.high_watermark(), 4);
    f.p.update_follower_fetch(3, 10, 1_001);
    assert_eq!(f.p.high_watermark(), 10);
    assert_eq!(f.p.log.high_watermark(), Some(Offset(10)), "the log bounds retention by it");
}

#[test]
fn get_out_of_sync_replicas_drops_followers_not_caught_up_for_the_lag_time() {
    let f = partition(state(ME, 0, &[1, 2, 3], 0));
    let t0 = crate::time::now_ms();
    f.p.update_follower_fetch(2, 0, t0);
    f.p.update_follower_fetch(3, 0, t0);
    assert_eq!(
        f.p.shrunk_isr(t0 + 10 * LAG_MS, LAG_MS),
        None,
        "followers at the leader's log end stay however long the leader is idle"
    );
    f.p.append_records_to_leader(&mut records(5), -1, 1).unwrap();
    f.p.update_follower_fetch(3, 5, t0 + LAG_MS);
    assert_eq!(f.p.shrunk_isr(t0 + LAG_MS, LAG_MS), None, "lagging exactly the limit is fine");
    let change = f.p.shrunk_isr(t0 + LAG_MS + 1, LAG_MS).expect("follower 2 lags");
    assert_eq!(change.isr, vec![1, 3]);
    assert_eq!((change.leader, change.leader_epoch, change.zk_version), (ME, 0, 0));
}

#[test]
fn last_caught_up_time_counts_a_fetch_at_the_previous_fetchs_log_end() {
    // Kafka's `updateFetchState`: a follower that keeps up with a busy
    // leader never equals its LEO, yet is caught up as of its last fetch.
    let f = partition(state(ME, 0, &[1, 2], 0));
    let t = crate::time::now_ms() + 10 * LAG_MS;
    f.p.append_records_to_leader(&mut records(5), -1, 1).unwrap();
    f.p.update_follower_fetch(2, 0, t);
    f.p.append_records_to_leader(&mut records(5), -1, 1).unwrap();
    // It fetches at 5, where the log ended at its fetch at t: caught up as of t.
    f.p.update_follower_fetch(2, 5, t + 1_000);
    assert_eq!(f.p.shrunk_isr(t + LAG_MS, LAG_MS), None);
    assert!(f.p.shrunk_isr(t + LAG_MS + 1, LAG_MS).is_some());
}

#[test]
fn maybe_expand_isr_adds_a_follower_once_it_reaches_the_high_watermark() {
    let f = partition(state(ME, 0, &[1], 7));
    f.p.append_records_to_leader(&mut records(10), -1, 1).unwrap();
    assert_eq!(f.p.high_watermark(), 10, "alone in the ISR");
    assert_eq!(f.p.update_follower_fetch(2, 5, 1_000).expand_isr, None);
    let change = f.p.update_follower_fetch(2, 10, 1_001).expand_isr.expect("caught up");
    assert_eq!(change.isr, vec![1, 2]);
    assert_eq!(change.zk_version, 7, "written conditionally on the version it came from");
    f.p.isr_written(0, change.isr.clone(), 7);
    assert_eq!(f.p.leader_state().isr, vec![1], "a write at an old version is not news");
    f.p.isr_written(0, change.isr, 8);
    assert_eq!(f.p.leader_state().isr, vec![1, 2]);
}

/// KIP-497's maximal ISR: from the fetch that finds a follower caught up
/// until its addition is written, the high watermark waits for it too, so
/// the ISR the write commits never names a replica missing acknowledged
/// records (a reassignment elects from exactly that ISR).
#[test]
fn kip_497_the_high_watermark_waits_for_a_follower_being_added_to_the_isr() {
    let f = partition(state(ME, 0, &[1], 7));
    f.p.append_records_to_leader(&mut records(10), -1, 1).unwrap();
    let change = f.p.update_follower_fetch(2, 10, 1_000).expand_isr.expect("caught up");
    assert_eq!(f.p.update_follower_fetch(3, 10, 1_000).expand_isr, None, "one write at a time");
    f.p.append_records_to_leader(&mut records(5), -1, 1).unwrap();
    assert_eq!(f.p.high_watermark(), 10, "follower 2 has not fetched 10..15 yet");
    assert!(f.p.update_follower_fetch(2, 12, 1_001).high_watermark_moved);
    assert_eq!(f.p.high_watermark(), 12);
    f.p.isr_written(0, change.isr, 8);
    assert!(!f.p.end_isr_change(), "2 is in the ISR now and still at 12");
    assert_eq!(f.p.high_watermark(), 12);
    assert!(f.p.update_follower_fetch(3, 11, 1_002).expand_isr.is_none(), "3 is behind the HW");
    assert!(f.p.update_follower_fetch(2, 15, 1_003).high_watermark_moved);
    assert_eq!(f.p.high_watermark(), 15);
}

/// A refused expansion (the controller changed the state meanwhile)
/// leaves the high watermark to the ISR that was.
#[test]
fn kip_497_a_refused_isr_expansion_stops_holding_the_high_watermark() {
    let f = partition(state(ME, 0, &[1], 7));
    f.p.append_records_to_leader(&mut records(10), -1, 1).unwrap();
    assert!(f.p.update_follower_fetch(2, 10, 1_000).expand_isr.is_some());
    f.p.append_records_to_leader(&mut records(5), -1, 1).unwrap();
    assert_eq!(f.p.high_watermark(), 10);
    assert!(f.p.end_isr_change(), "the ISR is still [1]");
    assert_eq!(f.p.high_watermark(), 15);
    assert!(f.p.update_follower_fetch(2, 15, 1_001).expand_isr.is_some(), "proposed again");
}

#[test]
fn kip_320_checks_the_epoch_before_the_leadership() {
    let f = partition(state(2, 5, &[2, 1], 0));
    assert_eq!(f.role, RoleChange::BecameFollower { leader: 2, leader_epoch: 5 });
    assert_eq!(f.p.check_leader_epoch(4), Err(ErrorCode::FencedLeaderEpoch));
    assert_eq!(f.p.check_leader_epoch(6), Err(ErrorCode::UnknownLeaderEpoch));
    assert_eq!(f.p.check_leader_epoch(5), Err(ErrorCode::NotLeaderOrFollower));
    assert_eq!(f.p.check_leader_epoch(-1), Err(ErrorCode::NotLeaderOrFollower));
    let err = f.p.append_records_to_leader(&mut records(1), 1, 1).unwrap_err();
    assert_eq!(err.code, ErrorCode::NotLeaderOrFollower, "a follower takes no produce");
    let role = f.p.apply_leader_state(state(ME, 6, &[1, 2], 1), 0).unwrap();
    assert_eq!(role, RoleChange::BecameLeader);
    assert_eq!(f.p.check_leader_epoch(6), Ok(()));
    assert_eq!(f.p.check_leader_epoch(5), Err(ErrorCode::FencedLeaderEpoch));
}

#[test]
fn make_leader_starts_the_epoch_at_the_log_end_and_keeps_the_high_watermark() {
    let f = partition(state(2, 3, &[2, 1], 0));
    f.p.append_records_as_follower(&mut leader_batch(0, 3, 8), 3).unwrap();
    f.p.update_follower_high_watermark(6);
    assert_eq!(f.p.high_watermark(), 6);
    f.p.apply_leader_state(state(ME, 4, &[1, 2], 1), 0).unwrap();
    let entries = f.p.log.leader_epoch_cache().entries();
    assert_eq!(entries.last().map(|e| (e.epoch.0, e.start_offset.0)), Some((4, 8)));
    assert_eq!(f.p.high_watermark(), 6, "follower 2 still has to confirm the rest");
}

/// The new epoch reaches the checkpoint file with the first append, not
/// with the election: a controlled shutdown moving thousands of
/// leaderships here would otherwise wait for an fsync each.
#[test]
fn make_leader_writes_the_epoch_with_the_first_append() {
    let f = partition(state(2, 3, &[2, 1], 0));
    f.p.append_records_as_follower(&mut leader_batch(0, 3, 8), 3).unwrap();
    let checkpoint = f.p.log.dir().join("leader-epoch-checkpoint");
    let read = || std::fs::read_to_string(&checkpoint).unwrap();
    assert_eq!(read(), "0\n1\n3 0\n");
    f.p.apply_leader_state(state(ME, 4, &[1, 2], 1), 0).unwrap();
    assert_eq!(f.p.log.leader_epoch_cache().end_offset_for(LeaderEpoch(3)).1, Offset(8));
    assert_eq!(read(), "0\n1\n3 0\n", "nothing written at the election");
    assert!(
        f.p.try_append_records_to_leader_inline(&mut records(1), 1, 1).is_none(),
        "the reactor leaves the write to the blocking pool"
    );
    f.p.append_records_to_leader(&mut records(2), 1, 1).unwrap();
    assert_eq!(read(), "0\n2\n3 0\n4 8\n");
}

/// A batch as a leader wrote it: offsets and epoch already stamped.
fn leader_batch(base: i64, epoch: i32, n: usize) -> Vec<u8> {
    let mut b =
        BatchBuilder::new(Compression::None).base_offset(base).partition_leader_epoch(epoch);
    for _ in 0..n {
        b.push(NewRecord::new(1_700_000_000_000, None, Some(b"r")));
    }
    b.build().unwrap()
}

fn txn_record(producer_id: i64) -> Vec<u8> {
    let mut b =
        BatchBuilder::new(Compression::None).producer(producer_id, 0, 0).transactional(true);
    b.push(NewRecord::new(1_700_000_000_000, None, Some(b"t")));
    b.build().unwrap()
}

fn commit(producer_id: i64) -> TxnMarker {
    TxnMarker { producer_id, producer_epoch: 0, coordinator_epoch: 1, commit: true }
}

#[test]
fn kafka_first_unstable_offset_holds_a_transaction_until_the_high_watermark_passes_its_marker() {
    let f = partition(state(ME, 0, &[1, 2], 0));
    f.p.append_records_to_leader(&mut records(2), -1, 1).unwrap();
    f.p.append_records_to_leader(&mut txn_record(7), -1, 1).unwrap();
    f.p.update_follower_fetch(2, 3, 1_000);
    assert_eq!((f.p.high_watermark(), f.p.last_stable_offset()), (3, 2), "open at 2");
    f.p.append_txn_marker(&commit(7)).unwrap();
    assert_eq!(
        (f.p.high_watermark(), f.p.last_stable_offset()),
        (3, 2),
        "the follower does not have the marker (3) yet"
    );
    assert!(f.p.update_follower_fetch(2, 4, 1_001).high_watermark_moved);
    assert_eq!((f.p.high_watermark(), f.p.last_stable_offset()), (4, 4));
}

#[test]
fn a_leader_alone_in_its_isr_is_stable_past_a_marker_at_once() {
    let f = partition(state(ME, 0, &[ME], 0));
    f.p.append_records_to_leader(&mut txn_record(7), -1, 1).unwrap();
    assert_eq!(f.p.last_stable_offset(), 0);
    f.p.append_txn_marker(&commit(7)).unwrap();
    assert_eq!((f.p.high_watermark(), f.p.last_stable_offset()), (2, 2));
}

#[test]
fn a_follower_holds_a_transaction_until_the_leaders_high_watermark_passes_its_marker() {
    let f = partition(state(2, 0, &[2, 1], 0));
    let mut data = txn_record(7);
    RecordBatchMut::new(&mut data).unwrap().set_base_offset(0);
    f.p.append_records_as_follower(&mut data, 0).unwrap();
    let mut marker =
        crate::record::control::marker_batch(7, 0, crate::record::control::COMMIT, 1, 0).unwrap();
    RecordBatchMut::new(&mut marker).unwrap().set_base_offset(1);
    f.p.append_records_as_follower(&mut marker, 0).unwrap();
    f.p.update_follower_high_watermark(1);
    assert_eq!(f.p.last_stable_offset(), 0, "the marker (1) is not below the high watermark");
    // Made leader now, it would hold the transaction as the old leader did.
    f.p.update_follower_high_watermark(2);
    assert_eq!(f.p.last_stable_offset(), 2);
}

#[test]
fn a_stale_image_does_not_undo_a_newer_state() {
    let f = partition(state(ME, 3, &[1, 2, 3], 5));
    f.p.isr_written(3, vec![1, 3], 6);
    assert_eq!(f.p.leader_state().isr, vec![1, 3], "this leader's own conditional write");
    for (stale, why) in [
        (state(2, 2, &[2], 9), "an older leader epoch"),
        (state(ME, 3, &[1, 2, 3], 5), "the state this leader already replaced"),
    ] {
        assert_eq!(f.p.apply_leader_state(stale, 0).unwrap(), RoleChange::Unchanged, "{why}");
        assert_eq!(f.p.leader_state().isr, vec![1, 3], "{why}");
    }
    assert_eq!(
        f.p.apply_leader_state(state(ME, 3, &[1], 7), 0).unwrap(),
        RoleChange::Unchanged,
        "the controller's newer ISR at the same epoch"
    );
    assert_eq!(f.p.leader_state().isr, vec![1]);
}

#[test]
fn replicated_producer_state_dedupes_a_retry_after_a_failover() {
    // As a follower, the batch arrives with the old leader's offsets.
    let f = partition(state(2, 0, &[2, 1], 0));
    let mut fetched = idempotent(77, 0);
    RecordBatchMut::new(&mut fetched).unwrap().set_base_offset(0);
    f.p.append_records_as_follower(&mut fetched, 0).unwrap();
    f.p.apply_leader_state(state(ME, 1, &[1], 1), 0).unwrap();
    // The producer never saw its ack and retries on the new leader.
    let retry = f.p.append_records_to_leader(&mut idempotent(77, 0), 1, 1).unwrap();
    assert_eq!((retry.first_offset, retry.last_offset), (0, 0), "answered with the old offsets");
    assert_eq!(f.p.log.log_end_offset(), Offset(1), "not written twice");
    let next = f.p.append_records_to_leader(&mut idempotent(77, 1), 1, 1).unwrap();
    assert_eq!(next.first_offset, 1);
}

#[test]
fn a_batch_pipelined_behind_one_refused_for_lack_of_replicas_is_refused_alike() {
    let f = partition(state(ME, 0, &[1], 0));
    f.p.append_records_to_leader(&mut idempotent(9, 0), -1, 1).unwrap();
    let err = f.p.append_records_to_leader(&mut idempotent(9, 1), -1, 2).unwrap_err();
    assert_eq!(err.code, ErrorCode::NotEnoughReplicas);
    // The follower is back in the ISR before the next request in flight.
    f.p.apply_leader_state(state(ME, 0, &[1, 2], 1), 0).unwrap();
    let err = f.p.append_records_to_leader(&mut idempotent(9, 2), -1, 2).unwrap_err();
    assert_eq!(
        err.code,
        ErrorCode::NotEnoughReplicas,
        "its predecessor was refused, not lost: not OUT_OF_ORDER_SEQUENCE_NUMBER"
    );
    let r = f.p.append_records_to_leader(&mut idempotent(9, 1), -1, 2).unwrap();
    assert_eq!(r.first_offset, 1, "the retries land in order");
    let r = f.p.append_records_to_leader(&mut idempotent(9, 2), -1, 2).unwrap();
    assert_eq!(r.first_offset, 2);
    let err = f.p.append_records_to_leader(&mut idempotent(9, 4), -1, 2).unwrap_err();
    assert_eq!(err.code, ErrorCode::OutOfOrderSequenceNumber, "a real gap");
}

#[test]
fn truncation_rebuilds_the_producer_state() {
    let f = partition(state(2, 0, &[2, 1], 0));
    let mut first = idempotent(5, 0);
    f.p.append_records_as_follower(&mut first, 0).unwrap();
    let mut second = idempotent(5, 1);
    RecordBatchMut::new(&mut second).unwrap().set_base_offset(1);
    f.p.append_records_as_follower(&mut second, 0).unwrap();
    f.p.truncate(1, false).unwrap();
    f.p.apply_leader_state(state(ME, 1, &[1], 1), 0).unwrap();
    let r = f.p.append_records_to_leader(&mut idempotent(5, 1), 1, 1).unwrap();
    assert_eq!(r.first_offset, 1, "sequence 1 was truncated away, so it is appended anew");
}

#[test]
fn a_follower_that_became_leader_no_longer_reports_its_log_end_to_the_old_leader() {
    let f = partition(state(2, 3, &[2, 1], 0));
    f.p.append_records_as_follower(&mut leader_batch(0, 3, 8), 3).unwrap();
    assert_eq!(f.p.follower_fetch_offset(3), Some(8), "following at epoch 3");
    assert_eq!(f.p.follower_fetch_offset(2), None, "a fetcher of an older epoch");
    f.p.apply_leader_state(state(ME, 4, &[1, 3], 1), 0).unwrap();
    f.p.append_records_to_leader(&mut records(2), -1, 1).unwrap();
    // A fetch to broker 2 at offset 10 would count records 8 and 9, which
    // exist only here, as replicated there.
    assert_eq!(f.p.follower_fetch_offset(3), None, "the stale fetcher gets nothing to send");
}

/// Producer snapshots and transaction indexes, across reopening the log.
mod producer_files {
    use super::*;
    use crate::log::{producer_snapshot, txn_index, LogOpenOptions, SnapshotEntry};

    fn open(dir: &std::path::Path, clean: bool) -> Partition {
        open_with(dir, clean, LogConfig::default())
    }

    fn open_with(dir: &std::path::Path, clean: bool, config: LogConfig) -> Partition {
        let log = Log::open_with(
            &dir.join("t-0"),
            config,
            Offset(0),
            Offset(0),
            Arc::new(SystemClock),
            LogOpenOptions { had_clean_shutdown: clean, dir_state: None },
        )
        .unwrap();
        on_log(log, state(ME, 0, &[ME], 0)).0
    }

    /// Stamped now: an old timestamp would roll the segment (`segment.ms`).
    fn batch(producer_id: i64, seq: i32, transactional: bool) -> Vec<u8> {
        let mut b = BatchBuilder::new(Compression::None)
            .producer(producer_id, 0, seq)
            .transactional(transactional);
        b.push(NewRecord::new(crate::time::now_ms(), None, Some(b"t")));
        b.build().unwrap()
    }

    fn txn_batch(producer_id: i64, seq: i32) -> Vec<u8> {
        batch(producer_id, seq, true)
    }

    fn end(p: &Partition, producer_id: i64, commit: bool) {
        let m = TxnMarker { producer_id, producer_epoch: 0, coordinator_epoch: 1, commit };
        p.append_txn_marker(&m).unwrap();
    }

    /// What a reopened partition must answer as before.
    fn facts(p: &Partition) -> (Vec<ProducerView>, Vec<AbortedTxn>, Option<i64>) {
        let mut views = p.producer_views();
        views.sort_by_key(|v| v.producer_id);
        let first_unstable = lock(&p.producers).first_unstable_offset();
        (views, p.aborted_transactions(0, i64::MAX), first_unstable)
    }

    fn file(dir: &std::path::Path, offset: i64, ext: &str) -> std::path::PathBuf {
        dir.join("t-0").join(crate::log::segment::file_name(offset, ext))
    }

    /// Producer 1 aborts, 2 commits, 3 stays open; a roll at offset 4.
    fn fill(p: &Partition) {
        p.append_records_to_leader(&mut txn_batch(1, 0), -1, 1).unwrap();
        p.append_records_to_leader(&mut txn_batch(2, 0), -1, 1).unwrap();
        end(p, 1, false);
        end(p, 2, true);
        p.log.roll().unwrap();
        p.append_records_to_leader(&mut batch(4, 0, false), -1, 1).unwrap();
        p.append_records_to_leader(&mut txn_batch(3, 0), -1, 1).unwrap();
        p.append_records_to_leader(&mut txn_batch(1, 1), -1, 1).unwrap();
        end(p, 1, false);
    }

    /// `fill`, then a clean shutdown; what the partition answered before.
    fn fill_and_shut_down(
        dir: &std::path::Path,
    ) -> (Vec<ProducerView>, Vec<AbortedTxn>, Option<i64>) {
        let p = open(dir, false);
        fill(&p);
        let before = facts(&p);
        p.snapshot_producer_state().unwrap();
        p.log.close().unwrap();
        before
    }

    #[test]
    fn a_roll_snapshots_the_state_before_the_new_segment() {
        let dir = tempfile::tempdir().unwrap();
        let p = open(dir.path(), false);
        fill(&p);
        let bytes = std::fs::read(file(dir.path(), 4, ".snapshot")).unwrap();
        let mut entries = producer_snapshot::decode(&bytes).unwrap();
        entries.sort_by_key(|e| e.producer_id);
        assert_eq!(entries.iter().map(|e| e.producer_id).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(
            (
                entries[0].last_offset,
                entries[0].current_txn_first_offset,
                entries[0].coordinator_epoch
            ),
            (0, -1, 1),
            "producer 1 after its abort"
        );
        let index =
            |base| txn_index::decode(&std::fs::read(file(dir.path(), base, ".txnindex")).unwrap());
        let first = index(0);
        assert_eq!(first.entries.len(), 1);
        assert_eq!(
            (
                first.entries[0].producer_id,
                first.entries[0].first_offset,
                first.entries[0].last_offset
            ),
            (1, 0, 2)
        );
        assert_eq!(first.entries[0].last_stable_offset, 1, "producer 2's transaction was open");
        let second = index(4);
        assert_eq!(
            (
                second.entries[0].first_offset,
                second.entries[0].last_offset,
                second.entries[0].last_stable_offset
            ),
            (6, 7, 5),
            "in the segment of its marker; producer 3 still open at 5"
        );
    }

    #[test]
    fn a_clean_shutdown_snapshot_is_loaded_without_reading_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let before = fill_and_shut_down(dir.path());
        // A producer only the snapshot knows proves the log was not scanned.
        let path = file(dir.path(), 8, ".snapshot");
        let mut entries = producer_snapshot::decode(&std::fs::read(&path).unwrap()).unwrap();
        entries.push(SnapshotEntry { producer_id: 99, ..entries[0] });
        std::fs::write(&path, producer_snapshot::encode(&entries)).unwrap();
        let p = open(dir.path(), true);
        let (views, aborted, first_unstable) = facts(&p);
        assert!(views.iter().any(|v| v.producer_id == 99), "state from the snapshot");
        let views: Vec<_> = views.into_iter().filter(|v| v.producer_id != 99).collect();
        assert_eq!((views, aborted, first_unstable), before);
        assert_eq!(p.last_stable_offset().min(5), 5, "producer 3's transaction holds the LSO");
    }

    #[test]
    fn after_a_crash_the_tail_past_the_roll_snapshot_is_scanned() {
        let dir = tempfile::tempdir().unwrap();
        let p = open(dir.path(), false);
        fill(&p);
        let before = facts(&p);
        p.log.flush().unwrap();
        drop(p);
        // The tail's index entry is gone as if the crash came before it.
        std::fs::remove_file(file(dir.path(), 4, ".txnindex")).unwrap();
        let p = open(dir.path(), false);
        assert_eq!(facts(&p), before);
        let rebuilt = txn_index::decode(&std::fs::read(file(dir.path(), 4, ".txnindex")).unwrap());
        assert_eq!(rebuilt.entries.len(), 1, "the scan indexed the tail's abort again");
        drop(p);
        let p = open(dir.path(), false);
        assert_eq!(facts(&p), before, "and only once");
    }

    #[test]
    fn corrupt_snapshots_and_indexes_are_rebuilt_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let before = fill_and_shut_down(dir.path());
        for (offset, ext) in [(8, ".snapshot"), (4, ".snapshot"), (0, ".txnindex")] {
            let path = file(dir.path(), offset, ext);
            let mut bytes = std::fs::read(&path).unwrap();
            let last = bytes.len() - 1;
            bytes[last] ^= 0xff;
            bytes[1] ^= 0x10;
            std::fs::write(&path, bytes).unwrap();
        }
        let p = open(dir.path(), true);
        assert_eq!(facts(&p), before);
        assert!(!file(dir.path(), 8, ".snapshot").exists(), "a corrupt snapshot is deleted");
        let index = txn_index::decode(&std::fs::read(file(dir.path(), 0, ".txnindex")).unwrap());
        assert_eq!((index.entries.len(), index.problem), (1, None), "the index is written anew");
    }

    /// Issue 13: a clean shutdown wrote every partition's snapshot again,
    /// idle or not. A snapshot at the log end already holds the state
    /// (Kafka's `takeSnapshot`), and an empty log needs none.
    #[test]
    fn a_shutdown_writes_no_snapshot_it_already_has_or_does_not_need() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let snapshots = || -> Vec<String> {
            let mut names: Vec<_> = std::fs::read_dir(dir.path().join("t-0"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".snapshot"))
                .collect();
            names.sort();
            names
        };
        let p = open(dir.path(), false);
        p.snapshot_producer_state().unwrap();
        assert!(snapshots().is_empty(), "an empty log: a start has nothing to scan anyway");
        p.log.close().unwrap();
        drop(p);

        let before = fill_and_shut_down(dir.path());
        let at_end = file(dir.path(), 8, ".snapshot");
        let inode = || std::fs::metadata(&at_end).unwrap().ino();
        let written = inode();
        let p = open(dir.path(), true);
        p.snapshot_producer_state().unwrap();
        assert_eq!(inode(), written, "loaded at the log end: not written again");
        p.snapshot_producer_state().unwrap();
        assert_eq!(inode(), written);

        // A truncation below it and appends back to the same offset: the
        // state there is new and is written.
        p.apply_leader_state(state(2, 1, &[2, 1], 1), 0).unwrap();
        p.truncate(6, false).unwrap();
        p.apply_leader_state(state(ME, 2, &[ME], 2), 0).unwrap();
        for id in [10, 11] {
            p.append_records_to_leader(&mut batch(id, 0, false), -1, 1).unwrap();
        }
        assert_eq!(p.log.log_end_offset(), Offset(8));
        p.snapshot_producer_state().unwrap();
        let entries = producer_snapshot::decode(&std::fs::read(&at_end).unwrap()).unwrap();
        let mut ids: Vec<_> = entries.iter().map(|e| e.producer_id).collect();
        ids.sort();
        assert_eq!(ids, [1, 2, 3, 4, 10, 11], "the state after the new batches");
        assert_ne!(facts(&p), before);
    }

    #[test]
    fn truncation_drops_snapshots_and_aborts_past_the_new_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = open(dir.path(), false);
        fill(&p);
        p.snapshot_producer_state().unwrap();
        p.apply_leader_state(state(2, 1, &[2, 1], 1), 0).unwrap();
        p.truncate(6, false).unwrap();
        assert!(!file(dir.path(), 8, ".snapshot").exists());
        assert!(file(dir.path(), 4, ".snapshot").exists(), "the roll's snapshot is still valid");
        assert!(!file(dir.path(), 4, ".txnindex").exists(), "its only abort was cut away");
        let (_, aborted, first_unstable) = facts(&p);
        assert_eq!(aborted.len(), 1);
        assert_eq!(first_unstable, Some(5), "producer 3 is open");
        p.truncate(0, true).unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.path().join("t-0"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".snapshot") || n.ends_with(".txnindex"))
            .collect();
        assert!(left.is_empty(), "a full truncation removes them all: {left:?}");
    }

    /// A keyed batch; `producer` is (id, sequence, transactional).
    fn keyed(producer: Option<(i64, i32, bool)>, key: &str, value: &str) -> Vec<u8> {
        let mut b = BatchBuilder::new(Compression::None);
        if let Some((id, seq, transactional)) = producer {
            b = b.producer(id, 0, seq).transactional(transactional);
        }
        b.push(NewRecord::new(crate::time::now_ms(), Some(key.as_bytes()), Some(value.as_bytes())));
        b.build().unwrap()
    }

    /// (offset, value or marker) of every batch, read back through the log.
    fn read_back(p: &Partition) -> Vec<(i64, String)> {
        let mut out = Vec::new();
        let mut next = 0;
        while next < p.log.log_end_offset().0 {
            let Some(slice) = p.log.read(Offset(next), 1 << 20, None, true).unwrap().slice else {
                break;
            };
            let bytes = slice.read_to_vec().unwrap();
            for batch in crate::record::Batches::new(&bytes) {
                let batch = batch.unwrap();
                batch.verify_crc().unwrap();
                next = batch.next_offset();
                if let Some(m) = crate::record::control::end_txn_marker(&batch) {
                    let kind = if m.control_type == crate::record::control::COMMIT {
                        "COMMIT"
                    } else {
                        "ABORT"
                    };
                    out.push((batch.base_offset(), format!("{kind} {}", batch.producer_id())));
                    continue;
                }
                let records = batch.records().unwrap();
                for r in records.iter() {
                    let r = r.unwrap();
                    let value = String::from_utf8(r.value.unwrap().to_vec()).unwrap();
                    out.push((records.offset_of(&r), value));
                }
            }
        }
        out
    }

    fn names(dir: &std::path::Path, ext: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir.join("t-0"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(ext))
            .collect();
        v.sort();
        v
    }

    /// Kafka's `LogCleaner.cleanSegments` with aborted transactions: their
    /// records go and never supersede a committed value; their ABORT
    /// markers stay, indexed in the cleaned segment's `.txnindex`, while
    /// the pass removed batches of theirs; the replaced segments' indexes
    /// and snapshots go. A later pass past `delete.retention.ms` removes a
    /// marker with nothing left of its transaction, and read_committed
    /// fetches stop reporting it.
    #[test]
    fn compaction_drops_aborted_records_and_carries_the_txn_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = LogConfig::default();
        config.set("cleanup.policy", "compact").unwrap();
        let p = open_with(dir.path(), false, config.clone());
        let append = |b: Vec<u8>| {
            let mut b = b;
            p.append_records_to_leader(&mut b, -1, 1).unwrap();
        };
        append(keyed(None, "a", "a1"));
        append(keyed(Some((1, 0, true)), "a", "aborted-a"));
        append(keyed(Some((2, 0, true)), "b", "b1"));
        end(&p, 1, false);
        end(&p, 2, true);
        p.log.roll().unwrap();
        append(keyed(Some((1, 1, true)), "c", "c1"));
        end(&p, 1, true);
        p.log.roll().unwrap();
        append(keyed(Some((2, 1, true)), "d", "aborted-d"));
        end(&p, 2, false);
        p.log.roll().unwrap();
        append(keyed(None, "z", "z1"));
        let aborted =
            |first, last| AbortedTxn { producer_id: 0, first_offset: first, last_offset: last };
        let both = vec![
            AbortedTxn { producer_id: 1, ..aborted(1, 3) },
            AbortedTxn { producer_id: 2, ..aborted(7, 8) },
        ];
        assert_eq!(p.aborted_transactions(0, i64::MAX), both);
        assert_eq!(names(dir.path(), ".txnindex").len(), 2, "segments 0 and 7 hold aborts");
        assert_eq!(names(dir.path(), ".snapshot").len(), 3, "one per roll");

        let stats = crate::log::cleaner::clean_now(&p.log).unwrap();
        assert_eq!(stats.markers_removed, 0, "within delete.retention.ms: {stats}");
        let zero = |v: &str| (0, v.to_string());
        assert_eq!(
            read_back(&p),
            vec![
                zero("a1"),
                (2, "b1".into()),
                (3, "ABORT 1".into()),
                (4, "COMMIT 2".into()),
                (5, "c1".into()),
                (6, "COMMIT 1".into()),
                (8, "ABORT 2".into()),
                (9, "z1".into()),
            ],
            "aborted records gone; a1 was not superseded by the aborted a"
        );
        assert_eq!(
            names(dir.path(), ".txnindex"),
            vec![crate::log::segment::file_name(0, ".txnindex")],
            "one cleaned segment, one index; segment 7's index went with it"
        );
        let index = txn_index::decode(&std::fs::read(file(dir.path(), 0, ".txnindex")).unwrap());
        let pairs: Vec<_> =
            index.entries.iter().map(|e| (e.producer_id, e.first_offset, e.last_offset)).collect();
        assert_eq!(pairs, vec![(1, 1, 3), (2, 7, 8)], "both markers kept for the records removed");
        assert_eq!(
            names(dir.path(), ".snapshot"),
            vec![crate::log::segment::file_name(9, ".snapshot")],
            "snapshots of the merged segments went with them"
        );
        assert_eq!(p.aborted_transactions(0, i64::MAX), both, "read_committed still told of both");

        // Past delete.retention.ms: producer 1's ABORT has nothing left and
        // producer 1 wrote after it, so it goes; producer 2's ABORT is its
        // last batch and stays (it carries the producer's epoch).
        let marker_time = crate::time::now_ms();
        support_wait_for_clock_past(marker_time);
        p.log.update_config(LogConfig { delete_retention_ms: 0, ..config.clone() });
        let stats = crate::log::cleaner::clean_now(&p.log).unwrap();
        assert_eq!(stats.markers_removed, 1, "{stats}");
        assert!(!read_back(&p).contains(&(3, "ABORT 1".into())));
        assert_eq!(
            p.aborted_transactions(0, i64::MAX),
            vec![AbortedTxn { producer_id: 2, ..aborted(7, 8) }],
            "a consumer told of producer 1's removed abort would skip its later batches"
        );
        assert!(
            names(dir.path(), ".txnindex").is_empty(),
            "no batch of an aborted transaction left"
        );
        p.snapshot_producer_state().unwrap();
        p.log.close().unwrap();
        drop(p);
        let p = open_with(dir.path(), true, config);
        assert_eq!(p.aborted_transactions(0, i64::MAX), vec![], "reopened from the indexes");
        assert_eq!(lock(&p.producers).first_unstable_offset(), None, "nothing open");
    }

    fn support_wait_for_clock_past(ms: i64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while crate::time::now_ms() <= ms {
            assert!(std::time::Instant::now() < deadline, "the clock moves");
            std::thread::yield_now();
        }
    }
}

/// An append on an async worker thread answers as the blocking one does
/// (duplicates and sequence errors included) and steps aside, changing
/// nothing, while another thread holds the producer state or when a roll's
/// producer snapshot is still to be written.
#[test]
fn inline_appends_answer_alike_and_leave_waits_to_the_blocking_pool() {
    let f = partition(state(ME, 0, &[ME], 0));
    let p = &f.p;
    let inline = |seq: i32| p.try_append_records_to_leader_inline(&mut idempotent(5, seq), 1, 1);
    p.append_records_to_leader(&mut idempotent(5, 0), 1, 1).unwrap();
    let r = inline(1).expect("a write into the page cache").unwrap();
    assert_eq!(r.first_offset, 1);
    let retry = inline(1).expect("answered inline").unwrap();
    assert_eq!((retry.first_offset, retry.last_offset), (1, 1), "a retry gets its offsets");
    let gap = inline(3).expect("answered inline").unwrap_err();
    assert_eq!(gap.code, ErrorCode::OutOfOrderSequenceNumber);
    {
        let _held = lock(&p.producers);
        assert!(inline(2).is_none(), "another thread holds the producer state");
    }
    p.log.roll().unwrap();
    assert!(inline(2).is_none(), "the roll's producer snapshot is a file to write");
    assert_eq!(p.log.log_end_offset(), Offset(2), "nothing appended meanwhile");
    let r = p.append_records_to_leader(&mut idempotent(5, 2), 1, 1).unwrap();
    assert_eq!(r.first_offset, 2);
    let r = inline(3).expect("snapshot written: inline again").unwrap();
    assert_eq!(r.first_offset, 3);
    assert_eq!(p.high_watermark(), 4, "the high watermark follows inline appends");
}
