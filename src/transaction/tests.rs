//! The coordinator's rules, each test named after the rule (KIP-98 unless
//! said otherwise), asserting the records, answers and marker jobs emitted.

use super::*;
use crate::coordinator::StateMachine as _;

const PARTITIONS: i32 = 4;

fn coordinator() -> TransactionCoordinator {
    let config = TransactionConfig {
        transaction_state_log_num_partitions: PARTITIONS,
        transaction_max_timeout_ms: 60_000,
        transaction_abort_timed_out_transaction_cleanup_interval_ms: 1000,
        ..TransactionConfig::default()
    };
    let mut c = TransactionCoordinator::new(config);
    for p in 0..PARTITIONS {
        c.begin_loading(p, 3);
        c.complete_loading(0, p);
    }
    c
}

/// Completes every append of `out` successfully, feeding the outputs back
/// until nothing is left to append; returns every answer and marker job.
fn settle(c: &mut TransactionCoordinator, now: i64, mut out: Output) -> Output {
    let mut all = Output::default();
    loop {
        let appends = std::mem::take(&mut out.appends);
        all.responses.append(&mut out.responses);
        all.markers.append(&mut out.markers);
        if appends.is_empty() {
            return all;
        }
        for a in appends {
            out.extend(c.append_completed(now, a.id, Ok(0)));
        }
    }
}

fn init(
    c: &mut TransactionCoordinator,
    now: i64,
    id: &str,
    fresh: i64,
) -> Result<(i64, i16), ErrorCode> {
    let out = c.init_producer_id(now, RequestId(1), id, 10_000, None, fresh);
    let out = settle(c, now, out);
    match out.responses.last() {
        Some((_, Response::InitProducerId(r))) => *r,
        other => panic!("no InitProducerId answer: {other:?}"),
    }
}

fn add(
    c: &mut TransactionCoordinator,
    now: i64,
    id: &str,
    pid: i64,
    epoch: i16,
    tps: &[(&str, i32)],
) -> Result<(), ErrorCode> {
    let tps = tps.iter().map(|(t, p)| TopicPartition::new(*t, *p)).collect();
    let out = c.add_partitions(now, RequestId(2), id, pid, epoch, tps);
    let out = settle(c, now, out);
    match out.responses.last() {
        Some((_, Response::AddPartitions(r))) => *r,
        other => panic!("no AddPartitions answer: {other:?}"),
    }
}

fn end(
    c: &mut TransactionCoordinator,
    now: i64,
    id: &str,
    pid: i64,
    epoch: i16,
    result: TransactionResult,
) -> (Result<(), ErrorCode>, Vec<MarkerJob>) {
    let out = c.end_txn(now, RequestId(3), id, pid, epoch, result);
    let out = settle(c, now, out);
    match out.responses.last() {
        Some((_, Response::EndTxn(r))) => (*r, out.markers),
        other => panic!("no EndTxn answer: {other:?}"),
    }
}

fn state(c: &TransactionCoordinator, id: &str) -> TransactionState {
    c.transaction(id).unwrap().state
}

#[test]
fn init_producer_id_assigns_a_new_id_at_epoch_zero_then_bumps_the_epoch() {
    let mut c = coordinator();
    assert_eq!(init(&mut c, 0, "tx", 1000), Ok((1000, 0)));
    assert_eq!(init(&mut c, 1, "tx", 1001), Ok((1000, 1)), "same id, next epoch");
    assert_eq!(state(&c, "tx"), TransactionState::Empty);
}

#[test]
fn every_transition_is_stored_in_kafkas_layout_before_it_takes_effect() {
    let mut c = coordinator();
    let out = c.init_producer_id(5, RequestId(1), "tx", 10_000, None, 42);
    assert!(out.responses.is_empty(), "answered only after the append");
    assert_eq!(out.appends.len(), 1);
    let a = &out.appends[0];
    assert_eq!(a.partition, partition_for("tx", PARTITIONS));
    assert_eq!(records::decode_key(&a.key).unwrap(), "tx");
    let v = records::TransactionLogValue::decode(a.value.as_deref().unwrap()).unwrap();
    assert_eq!((v.producer_id, v.producer_epoch, v.state), (42, 0, TransactionState::Empty));
    let again = c.init_producer_id(5, RequestId(9), "tx", 10_000, None, 43);
    assert_eq!(
        again.responses,
        vec![(RequestId(9), Response::InitProducerId(Err(ErrorCode::ConcurrentTransactions)))],
        "a transition in flight answers CONCURRENT_TRANSACTIONS"
    );
}

#[test]
fn a_failed_append_leaves_the_state_unchanged() {
    let mut c = coordinator();
    init(&mut c, 0, "tx", 7).unwrap();
    let tps = vec![TopicPartition::new("t", 0)];
    let out = c.add_partitions(1, RequestId(2), "tx", 7, 0, tps);
    let out = c.append_completed(1, out.appends[0].id, Err(AppendError::NotLeader));
    assert_eq!(
        out.responses,
        vec![(RequestId(2), Response::AddPartitions(Err(ErrorCode::NotCoordinator)))]
    );
    assert_eq!(state(&c, "tx"), TransactionState::Empty);
}

#[test]
fn transaction_timeout_above_transaction_max_timeout_ms_is_invalid() {
    let mut c = coordinator();
    let out = c.init_producer_id(0, RequestId(1), "tx", 60_001, None, 1);
    assert_eq!(
        out.responses,
        vec![(RequestId(1), Response::InitProducerId(Err(ErrorCode::InvalidTransactionTimeout)))]
    );
}

#[test]
fn commit_goes_prepare_commit_markers_then_complete_commit() {
    let mut c = coordinator();
    let (pid, epoch) = init(&mut c, 0, "tx", 5).unwrap();
    add(&mut c, 1, "tx", pid, epoch, &[("a", 0), ("b", 1)]).unwrap();
    assert_eq!(state(&c, "tx"), TransactionState::Ongoing);
    let (r, markers) = end(&mut c, 2, "tx", pid, epoch, TransactionResult::Commit);
    assert_eq!(r, Ok(()), "EndTxn is answered once PrepareCommit is stored");
    assert_eq!(state(&c, "tx"), TransactionState::PrepareCommit);
    assert_eq!(markers.len(), 1);
    let job = &markers[0];
    assert_eq!((job.producer_id, job.producer_epoch, job.coordinator_epoch), (pid, epoch, 3));
    assert_eq!(job.result, TransactionResult::Commit);
    assert_eq!(job.partitions, vec![TopicPartition::new("a", 0), TopicPartition::new("b", 1)]);
    let out = c.markers_written(3, job);
    settle(&mut c, 3, out);
    let m = c.transaction("tx").unwrap();
    assert_eq!(m.state, TransactionState::CompleteCommit);
    assert!(m.partitions.is_empty());
}

#[test]
fn end_txn_retry_after_completion_succeeds_and_the_opposite_result_is_invalid_txn_state() {
    let mut c = coordinator();
    let (pid, epoch) = init(&mut c, 0, "tx", 5).unwrap();
    add(&mut c, 1, "tx", pid, epoch, &[("a", 0)]).unwrap();
    let (_, markers) = end(&mut c, 2, "tx", pid, epoch, TransactionResult::Abort);
    assert_eq!(
        end(&mut c, 2, "tx", pid, epoch, TransactionResult::Abort).0,
        Err(ErrorCode::ConcurrentTransactions),
        "markers still being written"
    );
    assert_eq!(
        end(&mut c, 2, "tx", pid, epoch, TransactionResult::Commit).0,
        Err(ErrorCode::InvalidTxnState)
    );
    let out = c.markers_written(3, &markers[0]);
    settle(&mut c, 3, out);
    assert_eq!(end(&mut c, 4, "tx", pid, epoch, TransactionResult::Abort).0, Ok(()));
    assert_eq!(
        end(&mut c, 4, "tx", pid, epoch, TransactionResult::Commit).0,
        Err(ErrorCode::InvalidTxnState)
    );
}

#[test]
fn end_txn_without_a_transaction_is_invalid_txn_state() {
    let mut c = coordinator();
    let (pid, epoch) = init(&mut c, 0, "tx", 5).unwrap();
    assert_eq!(
        end(&mut c, 1, "tx", pid, epoch, TransactionResult::Commit).0,
        Err(ErrorCode::InvalidTxnState)
    );
}

#[test]
fn unknown_transactional_id_or_producer_id_is_invalid_producer_id_mapping() {
    let mut c = coordinator();
    assert_eq!(
        end(&mut c, 0, "nobody", 1, 0, TransactionResult::Commit).0,
        Err(ErrorCode::InvalidProducerIdMapping)
    );
    let (pid, epoch) = init(&mut c, 0, "tx", 5).unwrap();
    assert_eq!(
        add(&mut c, 1, "tx", pid + 1, epoch, &[("a", 0)]),
        Err(ErrorCode::InvalidProducerIdMapping)
    );
}

#[test]
fn zombie_fencing_a_new_init_aborts_the_ongoing_transaction_under_a_bumped_epoch() {
    let mut c = coordinator();
    let (pid, old) = init(&mut c, 0, "tx", 5).unwrap();
    add(&mut c, 1, "tx", pid, old, &[("a", 0)]).unwrap();
    // The new instance's InitProducerId.
    let out = c.init_producer_id(2, RequestId(7), "tx", 10_000, None, 99);
    let out = settle(&mut c, 2, out);
    assert!(out.responses.contains(&(
        RequestId(7),
        Response::InitProducerId(Err(ErrorCode::ConcurrentTransactions))
    )));
    assert_eq!(out.markers.len(), 1);
    let job = out.markers[0].clone();
    assert_eq!((job.result, job.producer_epoch), (TransactionResult::Abort, old + 1));
    // The zombie is fenced at once.
    assert_eq!(add(&mut c, 3, "tx", pid, old, &[("b", 0)]), Err(ErrorCode::ProducerFenced));
    assert_eq!(
        end(&mut c, 3, "tx", pid, old, TransactionResult::Commit).0,
        Err(ErrorCode::ProducerFenced)
    );
    // Still aborting: the new instance retries.
    assert_eq!(init(&mut c, 3, "tx", 100), Err(ErrorCode::ConcurrentTransactions));
    let out = c.markers_written(4, &job);
    settle(&mut c, 4, out);
    assert_eq!(init(&mut c, 5, "tx", 101), Ok((pid, old + 2)));
}

#[test]
fn kip_360_init_with_a_stale_producer_epoch_is_producer_fenced() {
    let mut c = coordinator();
    let (pid, e0) = init(&mut c, 0, "tx", 5).unwrap();
    let (_, e1) = init(&mut c, 1, "tx", 6).unwrap();
    let out = c.init_producer_id(2, RequestId(1), "tx", 10_000, Some((pid, e0 - 1)), 7);
    assert_eq!(
        out.responses,
        vec![(RequestId(1), Response::InitProducerId(Err(ErrorCode::ProducerFenced)))]
    );
    // The current producer bumps its own epoch after an abortable error.
    let out = c.init_producer_id(2, RequestId(1), "tx", 10_000, Some((pid, e1)), 7);
    let out = settle(&mut c, 2, out);
    assert_eq!(out.responses, vec![(RequestId(1), Response::InitProducerId(Ok((pid, e1 + 1))))]);
    // Its retry (the answer was lost) gets the same epoch, not another bump.
    let out = c.init_producer_id(3, RequestId(1), "tx", 10_000, Some((pid, e1)), 7);
    assert_eq!(out.responses, vec![(RequestId(1), Response::InitProducerId(Ok((pid, e1 + 1))))]);
}

#[test]
fn epoch_exhaustion_moves_to_a_fresh_producer_id_at_epoch_zero() {
    let mut c = coordinator();
    init(&mut c, 0, "tx", 5).unwrap();
    c.transactions.get_mut("tx").unwrap().producer_epoch = i16::MAX - 1;
    assert_eq!(init(&mut c, 1, "tx", 77), Ok((77, 0)));
}

#[test]
fn transaction_timeout_aborts_the_transaction_and_fences_the_producer() {
    let mut c = coordinator();
    let (pid, epoch) = init(&mut c, 0, "tx", 5).unwrap();
    add(&mut c, 100, "tx", pid, epoch, &[("a", 0)]).unwrap();
    let early = c.tick(5_000);
    assert!(early.appends.is_empty(), "not yet past its 10 s timeout");
    let deadline = c.next_deadline().unwrap();
    let out = c.tick(deadline.max(10_200));
    let out = settle(&mut c, 10_200, out);
    assert_eq!(out.markers.len(), 1);
    assert_eq!(out.markers[0].result, TransactionResult::Abort);
    assert_eq!(state(&c, "tx"), TransactionState::PrepareAbort);
    assert_eq!(
        end(&mut c, 10_300, "tx", pid, epoch, TransactionResult::Commit).0,
        Err(ErrorCode::ProducerFenced),
        "the producer that let it expire is fenced"
    );
}

#[test]
fn a_coordinator_that_has_not_loaded_the_partition_is_not_the_coordinator() {
    let mut c = TransactionCoordinator::new(TransactionConfig {
        transaction_state_log_num_partitions: 1,
        ..TransactionConfig::default()
    });
    let out = c.init_producer_id(0, RequestId(1), "tx", 1000, None, 1);
    assert_eq!(
        out.responses,
        vec![(RequestId(1), Response::InitProducerId(Err(ErrorCode::NotCoordinator)))]
    );
    c.begin_loading(0, 1);
    let out = c.init_producer_id(0, RequestId(1), "tx", 1000, None, 1);
    assert_eq!(
        out.responses,
        vec![(RequestId(1), Response::InitProducerId(Err(ErrorCode::CoordinatorLoadInProgress)))]
    );
}

#[test]
fn markers_are_retried_after_a_coordinator_failover() {
    // The first coordinator stores PrepareCommit and dies before the markers.
    let mut c = coordinator();
    let (pid, epoch) = init(&mut c, 0, "tx", 5).unwrap();
    add(&mut c, 1, "tx", pid, epoch, &[("a", 0)]).unwrap();
    let mut stored = Vec::new();
    let out = c.end_txn(2, RequestId(3), "tx", pid, epoch, TransactionResult::Commit);
    stored.extend(out.appends.iter().map(|a| (a.key.clone(), a.value.clone())));
    // The next leader replays the partition at a newer coordinator epoch.
    let p = partition_for("tx", PARTITIONS);
    let mut next = TransactionCoordinator::new(c.config.clone());
    next.begin_loading(p, 4);
    for (k, v) in &stored {
        next.replay(p, k, v.as_deref()).unwrap();
    }
    let out = next.complete_loading(10, p);
    assert_eq!(out.markers.len(), 1, "markers sent again");
    assert_eq!(out.markers[0].coordinator_epoch, 4);
    assert_eq!(out.markers[0].partitions, vec![TopicPartition::new("a", 0)]);
    // A marker job of the old coordinator epoch completes nothing.
    let mut stale = out.markers[0].clone();
    stale.coordinator_epoch = 3;
    assert!(next.markers_written(11, &stale).appends.is_empty());
    let done = next.markers_written(11, &out.markers[0]);
    settle(&mut next, 11, done);
    assert_eq!(state(&next, "tx"), TransactionState::CompleteCommit);
}

#[test]
fn unloading_a_partition_forgets_its_transactional_ids() {
    let mut c = coordinator();
    init(&mut c, 0, "tx", 5).unwrap();
    c.unload(partition_for("tx", PARTITIONS));
    assert_eq!(c.transaction("tx").map(|m| m.state), Err(ErrorCode::NotCoordinator));
}

#[test]
fn a_fenced_coordinator_answers_not_coordinator_and_keeps_its_state() {
    let mut c = coordinator();
    let (pid, epoch) = init(&mut c, 0, "tx", 5).unwrap();
    c.set_fenced(true);
    assert_eq!(c.transaction("tx").map(|m| m.state), Err(ErrorCode::NotCoordinator));
    assert_eq!(
        add(&mut c, 1, "tx", pid, epoch, &[("a", 0)]),
        Err(ErrorCode::NotCoordinator),
        "a broker whose session may have expired must not act on its transactions"
    );
    c.set_fenced(false);
    assert_eq!(add(&mut c, 2, "tx", pid, epoch, &[("a", 0)]), Ok(()));
}

#[test]
fn a_transactional_id_idle_past_transactional_id_expiration_ms_is_removed_with_a_tombstone() {
    let mut c = TransactionCoordinator::new(TransactionConfig {
        transactional_id_expiration_ms: 60_000,
        transaction_remove_expired_transaction_cleanup_interval_ms: 5_000,
        ..coordinator().config.clone()
    });
    for p in 0..PARTITIONS {
        c.begin_loading(p, 3);
        c.complete_loading(0, p);
    }
    let (pid, epoch) = init(&mut c, 0, "idle", 5).unwrap();
    let (busy_pid, busy_epoch) = init(&mut c, 0, "busy", 6).unwrap();
    add(&mut c, 0, "busy", busy_pid, busy_epoch, &[("a", 0)]).unwrap();
    c.transactions.get_mut("busy").unwrap().txn_timeout_ms = i32::MAX;

    let early = c.tick(55_000);
    assert!(early.appends.is_empty(), "55 s idle is under the 60 s expiration");
    let out = c.tick(60_000);
    assert_eq!(out.appends.len(), 1, "only the idle id; an ongoing transaction never expires");
    let a = &out.appends[0];
    assert_eq!(records::decode_key(&a.key).unwrap(), "idle");
    assert_eq!(a.value, None, "the removal is stored as a tombstone");
    assert_eq!(state(&c, "idle"), TransactionState::Empty, "removed once the tombstone is stored");
    settle(&mut c, 60_000, out);
    assert!(c.transaction("idle").is_err(), "forgotten after the tombstone");
    assert_eq!(state(&c, "busy"), TransactionState::Ongoing);
    assert_eq!(
        end(&mut c, 60_001, "idle", pid, epoch, TransactionResult::Commit).0,
        Err(ErrorCode::InvalidProducerIdMapping),
        "the expired id is unknown now"
    );
    // Initialised again, it starts over from the producer id it is given.
    assert_eq!(init(&mut c, 60_002, "idle", 77), Ok((77, 0)));
}
