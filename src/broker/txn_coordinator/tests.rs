//! The transaction coordinator runtime against an in-memory
//! `__transaction_state` and a manual clock: its timers fire when the
//! clock says so, with no waiting for real time.

use std::time::Duration;

use tokio::sync::watch;

use super::*;
use crate::broker::coordinator_runtime::testing::{
    advance, follow_and_load, image_leading, MemoryLog,
};
use crate::time::ManualClock;
use crate::transaction::TransactionState;

/// Where the manual clock starts: a real epoch time, as the stored
/// transaction timestamps are.
const T0: i64 = 1_700_000_000_000;

/// Kafka's transaction.abort.timed.out.transaction.cleanup.interval.ms.
const CLEANUP_INTERVAL_MS: i64 = 10_000;

/// transactional.id.expiration.ms, and how often expired ids are looked
/// for (transaction.remove.expired.transaction.cleanup.interval.ms).
const ID_EXPIRATION_MS: i64 = 60_000;
const ID_CLEANUP_INTERVAL_MS: i64 = 5_000;

/// A runtime on `clock` leading the single `__transaction_state` partition
/// of an empty log, loaded. Keep the sender: it is the metadata the runtime
/// follows (no topic but the state topic: markers for partitions of other
/// topics are dropped, as Kafka drops those of deleted topics).
async fn started_on(
    clock: &ManualClock,
) -> (TxnCoordinatorHandle, watch::Sender<Arc<ClusterImage>>) {
    let log: Arc<MemoryLog> = Arc::new(MemoryLog::default());
    let config = TransactionConfig {
        transaction_state_log_num_partitions: 1,
        transaction_abort_timed_out_transaction_cleanup_interval_ms: CLEANUP_INTERVAL_MS,
        transactional_id_expiration_ms: ID_EXPIRATION_MS,
        transaction_remove_expired_transaction_cleanup_interval_ms: ID_CLEANUP_INTERVAL_MS,
        ..TransactionConfig::default()
    };
    let (tx, images) = watch::channel(image_leading(TRANSACTION_STATE_TOPIC_NAME, 1, 1));
    let markers = Arc::new(MarkerSender {
        images: images.clone(),
        broker_id: 1,
        socket_timeout: Duration::from_secs(30),
        listener: "PLAINTEXT".into(),
        security: Default::default(),
    });
    let h = TxnCoordinatorHandle::start_with_clock(
        config,
        log.clone(),
        markers,
        SessionLease::granted(),
        Arc::new(clock.clone()),
    );
    follow_and_load(&h, images, log, "tx", TransactionCoordinator::is_loaded).await;
    (h, tx)
}

async fn state(h: &TxnCoordinatorHandle, id: &'static str) -> TransactionState {
    h.read(move |c| c.transaction(id).map(|m| m.state)).await.unwrap().unwrap()
}

/// An Ongoing transaction of `id` over `a-0` with a `timeout_ms`
/// transaction timeout; its producer id and epoch.
async fn begin(h: &TxnCoordinatorHandle, id: &'static str, timeout_ms: i32) -> (i64, i16) {
    let resp = h
        .call(move |c, now, rid| c.init_producer_id(now, rid, id, timeout_ms, None, 1000))
        .await
        .unwrap();
    let Response::InitProducerId(Ok((pid, epoch))) = resp else { panic!("{resp:?}") };
    let resp = h
        .call(move |c, now, rid| {
            c.add_partitions(now, rid, id, pid, epoch, vec![TopicPartition::new("a", 0)])
        })
        .await
        .unwrap();
    assert!(matches!(resp, Response::AddPartitions(Ok(()))), "{resp:?}");
    (pid, epoch)
}

/// Waits (bounded) until the transaction of `id` is in `want`: a
/// transition takes effect once its record is stored, and the markers of
/// an abort go out from their own task.
async fn wait_for_state(h: &TxnCoordinatorHandle, id: &'static str, want: TransactionState) {
    for _ in 0..6000 {
        if state(h, id).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{id} never reached {want:?}: {:?}", state(h, id).await);
}

#[tokio::test]
async fn a_transaction_past_its_timeout_is_aborted_when_the_runtime_clock_passes_it() {
    let clock = ManualClock::new(T0);
    let (h, _metadata) = started_on(&clock).await;
    let (pid, epoch) = begin(&h, "tx", 15_000).await;

    // The first cleanup pass (10 s) comes before the 15 s timeout.
    advance(&h, &clock, CLEANUP_INTERVAL_MS + 1).await;
    assert_eq!(state(&h, "tx").await, TransactionState::Ongoing, "not yet past its timeout");

    // The next pass (20 s) finds it expired and aborts it; its markers
    // (none needed: topic `a` is not in the metadata) complete the abort.
    advance(&h, &clock, CLEANUP_INTERVAL_MS).await;
    wait_for_state(&h, "tx", TransactionState::CompleteAbort).await;

    let resp = h
        .call(move |c, now, rid| c.end_txn(now, rid, "tx", pid, epoch, TransactionResult::Commit))
        .await
        .unwrap();
    assert!(
        matches!(resp, Response::EndTxn(Err(ErrorCode::ProducerFenced))),
        "the producer that let it expire is fenced: {resp:?}"
    );
}

#[tokio::test]
async fn no_transaction_is_aborted_while_the_runtime_clock_stands_still() {
    let clock = ManualClock::new(T0);
    let (h, _metadata) = started_on(&clock).await;
    begin(&h, "tx", 1).await;
    // Many commands, no time: however busy, the runtime aborts nothing.
    for _ in 0..50 {
        h.read(|_| ()).await.unwrap();
    }
    assert_eq!(state(&h, "tx").await, TransactionState::Ongoing);
    advance(&h, &clock, CLEANUP_INTERVAL_MS).await;
    wait_for_state(&h, "tx", TransactionState::CompleteAbort).await;
}

#[tokio::test]
async fn an_idle_transactional_id_is_removed_when_the_runtime_clock_passes_its_expiration() {
    let clock = ManualClock::new(T0);
    let (h, _metadata) = started_on(&clock).await;
    let resp = h
        .call(|c, now, rid| c.init_producer_id(now, rid, "idle", 15_000, None, 1000))
        .await
        .unwrap();
    assert!(matches!(resp, Response::InitProducerId(Ok(_))), "{resp:?}");

    advance(&h, &clock, ID_EXPIRATION_MS - ID_CLEANUP_INTERVAL_MS).await;
    assert_eq!(state(&h, "idle").await, TransactionState::Empty, "not idle long enough yet");

    advance(&h, &clock, ID_CLEANUP_INTERVAL_MS).await;
    for _ in 0..6000 {
        if h.read(|c| c.transaction("idle").is_err()).await.unwrap() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the idle transactional id was never removed");
}
