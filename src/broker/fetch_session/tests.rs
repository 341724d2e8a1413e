//! The session cache against KIP-227's rules, one rule per test.

use super::*;

fn part(topic: &str, partition: i32, fetch_offset: i64) -> FetchPartition {
    FetchPartition {
        tp: TopicPartition::new(topic, partition),
        fetch_offset,
        current_leader_epoch: -1,
        partition_max_bytes: 1 << 20,
    }
}

fn state(hw: i64) -> PartitionState {
    PartitionState {
        high_watermark: hw,
        last_stable_offset: hw,
        log_start_offset: 0,
        error: false,
        has_records: false,
    }
}

fn cache(max_slots: usize) -> FetchSessionCache {
    FetchSessionCache::new(FetchSessionConfig { max_slots, min_eviction_ms: 1_000 })
}

/// A full fetch (epoch 0) answered with every partition at `hw`, then the
/// session created from it.
fn open(c: &FetchSessionCache, parts: Vec<FetchPartition>, privileged: bool, now: i64) -> i32 {
    let FetchContext::Full(parts) = c.new_context(0, INITIAL_EPOCH, parts, &[], now) else {
        panic!("epoch 0 is a full fetch");
    };
    let n = parts.len();
    c.create_session(now, privileged, Arc::new(parts), (0..n).map(|_| state(10)), None)
}

fn incremental(
    c: &FetchSessionCache,
    id: i32,
    epoch: i32,
    parts: Vec<FetchPartition>,
) -> IncrementalFetch {
    match c.new_context(id, epoch, parts, &[], 0) {
        FetchContext::Incremental(f) => f,
        FetchContext::Error(e) => panic!("epoch {epoch} refused: {e:?}"),
        _ => panic!("epoch {epoch} was not incremental"),
    }
}

fn error_of(c: &FetchSessionCache, id: i32, epoch: i32) -> Option<ErrorCode> {
    match c.new_context(id, epoch, Vec::new(), &[], 0) {
        FetchContext::Error(e) => Some(e),
        _ => None,
    }
}

/// Which of `f`'s partitions a response with these states carries.
fn selected(f: &IncrementalFetch, states: &[PartitionState]) -> Vec<bool> {
    let mut keep = Vec::new();
    f.select(states.iter().copied().enumerate(), &mut keep).expect("current");
    keep
}

#[test]
fn a_full_fetch_with_epoch_0_creates_a_session_and_epoch_minus_1_does_not() {
    let c = cache(10);
    let id = open(&c, vec![part("t", 0, 0)], false, 0);
    assert_ne!(id, INVALID_SESSION_ID);
    assert_eq!(c.stats().sessions, 1);
    assert_eq!(c.stats().partitions_cached, 1);
    let ctx = c.new_context(0, FINAL_EPOCH, vec![part("t", 0, 0)], &[], 0);
    assert!(matches!(ctx, FetchContext::Sessionless(p) if p.len() == 1));
    assert_eq!(c.stats().sessions, 1, "a sessionless fetch leaves other sessions alone");
}

#[test]
fn incremental_epochs_must_follow_one_another() {
    let c = cache(10);
    let id = open(&c, vec![part("t", 0, 0)], false, 0);
    // The session starts at epoch 1 (KIP-227: the full fetch was epoch 0).
    incremental(&c, id, 1, Vec::new());
    incremental(&c, id, 2, Vec::new());
    assert_eq!(error_of(&c, id, 2), Some(ErrorCode::InvalidFetchSessionEpoch), "replayed epoch");
    assert_eq!(error_of(&c, id, 5), Some(ErrorCode::InvalidFetchSessionEpoch), "skipped epoch");
    incremental(&c, id, 3, Vec::new());
    assert_eq!(c.stats().incremental_fetches, 3);
}

#[test]
fn an_unknown_session_is_not_found() {
    let c = cache(10);
    let id = open(&c, vec![part("t", 0, 0)], false, 0);
    let other = if id == 7 { 8 } else { 7 };
    assert_eq!(error_of(&c, other, 1), Some(ErrorCode::FetchSessionIdNotFound));
    assert_eq!(error_of(&c, INVALID_SESSION_ID, 1), Some(ErrorCode::FetchSessionIdNotFound));
}

#[test]
fn epoch_minus_1_closes_the_session_named() {
    let c = cache(10);
    let id = open(&c, vec![part("t", 0, 0)], false, 0);
    let ctx = c.new_context(id, FINAL_EPOCH, Vec::new(), &[], 0);
    assert!(matches!(ctx, FetchContext::Sessionless(_)));
    assert_eq!(c.stats(), FetchSessionStats::default());
    assert_eq!(error_of(&c, id, 1), Some(ErrorCode::FetchSessionIdNotFound));
}

#[test]
fn a_full_fetch_naming_a_session_replaces_it() {
    let c = cache(10);
    let id = open(&c, vec![part("t", 0, 0), part("t", 1, 0)], false, 0);
    let ctx = c.new_context(id, INITIAL_EPOCH, vec![part("t", 0, 0)], &[], 0);
    assert!(matches!(ctx, FetchContext::Full(_)));
    assert_eq!(c.stats().sessions, 0, "the old session is closed before a new one is made");
}

#[test]
fn an_incremental_request_updates_adds_and_forgets_partitions() {
    let c = cache(10);
    let id = open(&c, vec![part("a", 0, 5), part("a", 1, 7), part("b", 0, 9)], false, 0);
    let f = incremental(&c, id, 1, Vec::new());
    assert_eq!(f.partitions.len(), 3);
    let before = f.partitions.clone();
    let f = incremental(&c, id, 2, Vec::new());
    assert!(Arc::ptr_eq(&before, &f.partitions), "nothing changed: nothing copied");
    drop((before, f));

    let forget = [TopicPartition::new("a", 0)];
    let ctx = c.new_context(id, 3, vec![part("a", 1, 8), part("c", 0, 0)], &forget, 0);
    let FetchContext::Incremental(f) = ctx else { panic!("incremental") };
    let mut got: Vec<_> = f
        .partitions
        .iter()
        .map(|p| (p.tp.topic.as_str(), p.tp.partition.0, p.fetch_offset))
        .collect();
    got.sort();
    assert_eq!(got, [("a", 1, 8), ("b", 0, 9), ("c", 0, 0)]);
    assert_eq!(c.stats().partitions_cached, 3);

    // The new partition was never answered: it is sent whatever it holds.
    let states: Vec<_> =
        f.partitions.iter().map(|p| if p.tp.topic == "c" { state(0) } else { state(10) }).collect();
    let keep = selected(&f, &states);
    let sent: Vec<_> = f
        .partitions
        .iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(p, _)| p.tp.topic.as_str())
        .collect();
    assert_eq!(sent, ["c"]);
}

#[test]
fn forgetting_every_partition_closes_the_session() {
    let c = cache(10);
    let id = open(&c, vec![part("a", 0, 0)], false, 0);
    let ctx = c.new_context(id, 1, Vec::new(), &[TopicPartition::new("a", 0)], 0);
    assert!(matches!(ctx, FetchContext::Sessionless(p) if p.is_empty()));
    assert_eq!(c.stats().sessions, 0);
}

#[test]
fn only_partitions_with_records_errors_or_new_offsets_are_answered() {
    let c = cache(10);
    let id = open(
        &c,
        vec![part("t", 0, 0), part("t", 1, 0), part("t", 2, 0), part("t", 3, 0)],
        false,
        0,
    );
    let f = incremental(&c, id, 1, Vec::new());
    let records = PartitionState { has_records: true, ..state(10) };
    let error = PartitionState { error: true, ..state(-1) };
    assert_eq!(selected(&f, &[state(10), records, error, state(11)]), [false, true, true, true]);
    // The same answer again: only the error is repeated.
    let f = incremental(&c, id, 2, Vec::new());
    assert_eq!(
        selected(&f, &[state(10), state(10), error, state(11)]),
        [false, false, true, false]
    );
    // When the error clears the partition is sent even with offsets as before.
    let f = incremental(&c, id, 3, Vec::new());
    assert_eq!(
        selected(&f, &[state(10), state(10), state(10), state(11)]),
        [false, false, true, false]
    );
    // A moved log start or last stable offset is news too.
    let f = incremental(&c, id, 4, Vec::new());
    let lso = PartitionState { last_stable_offset: 9, ..state(10) };
    let log_start = PartitionState { log_start_offset: 3, ..state(10) };
    assert_eq!(selected(&f, &[lso, log_start, state(10), state(11)]), [true, true, false, false]);
}

#[test]
fn reading_resumes_after_the_last_partition_with_records() {
    let c = cache(10);
    let id = open(&c, vec![part("t", 0, 0), part("t", 1, 0), part("t", 2, 0)], false, 0);
    let f = incremental(&c, id, 1, Vec::new());
    assert_eq!(f.start, 0);
    let records = PartitionState { has_records: true, ..state(10) };
    selected(&f, &[records, records, state(10)]);
    assert_eq!(incremental(&c, id, 2, Vec::new()).start, 2);
}

#[test]
fn a_response_of_an_older_epoch_is_refused() {
    let c = cache(10);
    let id = open(&c, vec![part("t", 0, 0)], false, 0);
    let old = incremental(&c, id, 1, Vec::new());
    let _new = incremental(&c, id, 2, Vec::new());
    assert!(!old.is_current());
    let mut keep = Vec::new();
    assert_eq!(
        old.select([(0, state(10))].into_iter(), &mut keep),
        Err(ErrorCode::InvalidFetchSessionEpoch)
    );
}

#[test]
fn no_session_is_created_without_slots() {
    let c = cache(0);
    assert_eq!(open(&c, vec![part("t", 0, 0)], true, 0), INVALID_SESSION_ID);
}

#[test]
fn a_full_cache_refuses_a_consumer_while_its_sessions_are_young() {
    let c = cache(2);
    open(&c, vec![part("t", 0, 0)], false, 0);
    open(&c, vec![part("t", 0, 0)], false, 0);
    let big = (0..10).map(|i| part("t", i, 0)).collect();
    assert_eq!(open(&c, big, false, 500), INVALID_SESSION_ID);
    assert_eq!(c.stats().evictions, 0);
}

#[test]
fn a_session_idle_past_the_eviction_age_is_evicted_first() {
    let c = cache(2);
    let idle = open(&c, vec![part("t", 0, 0)], false, 0);
    let busy = open(&c, vec![part("t", 0, 0)], false, 0);
    match c.new_context(busy, 1, Vec::new(), &[], 1_500) {
        FetchContext::Incremental(_) => {}
        _ => panic!("busy session used"),
    }
    // Even a smaller newcomer takes the idle session's slot.
    assert_ne!(open(&c, vec![], false, 2_000), INVALID_SESSION_ID);
    assert_eq!(c.stats().evictions, 1);
    assert_eq!(error_of(&c, idle, 1), Some(ErrorCode::FetchSessionIdNotFound));
    assert!(error_of(&c, busy, 2).is_none(), "the busy session stays");
}

#[test]
fn a_larger_consumer_session_evicts_the_smallest_old_one() {
    let c = cache(2);
    let small = open(&c, vec![part("t", 0, 0)], false, 0);
    let two = open(&c, vec![part("t", 0, 0), part("t", 1, 0)], false, 0);
    // Both in use, so none is stale; both older than the eviction age.
    for (id, epoch) in [(small, 1), (two, 1)] {
        assert!(matches!(
            c.new_context(id, epoch, Vec::new(), &[], 1_900),
            FetchContext::Incremental(_)
        ));
    }
    assert_eq!(
        open(&c, vec![part("t", 0, 0)], false, 2_000),
        INVALID_SESSION_ID,
        "not larger than any"
    );
    let three = (0..3).map(|i| part("t", i, 0)).collect();
    assert_ne!(open(&c, three, false, 2_000), INVALID_SESSION_ID);
    assert_eq!(error_of(&c, small, 2), Some(ErrorCode::FetchSessionIdNotFound), "smallest went");
    assert!(error_of(&c, two, 2).is_none());
}

#[test]
fn a_follower_evicts_a_young_consumer_session_but_not_a_young_follower_session() {
    let c = cache(2);
    let consumer = open(&c, (0..5).map(|i| part("t", i, 0)).collect(), false, 0);
    let follower = open(&c, vec![part("t", 0, 0)], true, 0);
    assert_ne!(open(&c, vec![part("t", 0, 0)], true, 10), INVALID_SESSION_ID);
    assert_eq!(error_of(&c, consumer, 1), Some(ErrorCode::FetchSessionIdNotFound));
    assert!(error_of(&c, follower, 1).is_none());
    // Only young follower sessions now: even a follower waits.
    assert_eq!(open(&c, vec![part("t", 0, 0)], true, 20), INVALID_SESSION_ID);
    // And a consumer never evicts a follower.
    assert_eq!(open(&c, (0..50).map(|i| part("t", i, 0)).collect(), false, 20), INVALID_SESSION_ID);
}

fn resolved(generation: u64, n: usize) -> Arc<Resolved> {
    Arc::new(Resolved { generation, partitions: vec![None; n] })
}

fn kept(f: &IncrementalFetch) -> Option<u64> {
    f.resolved.as_ref().map(|r| r.generation)
}

#[test]
fn looked_up_partitions_are_kept_until_a_partition_is_added_or_forgotten() {
    let c = cache(10);
    let parts = vec![part("t", 0, 0), part("t", 1, 0)];
    let FetchContext::Full(parts) = c.new_context(0, INITIAL_EPOCH, parts, &[], 0) else {
        panic!("epoch 0 is a full fetch");
    };
    let states = [state(10), state(10)].into_iter();
    let id = c.create_session(0, true, Arc::new(parts), states, Some(resolved(7, 2)));
    let f = incremental(&c, id, 1, Vec::new());
    assert_eq!(kept(&f), Some(7), "the full fetch's lookup serves the session");
    // A new fetch offset names no new partition: the lookup still holds.
    let f = incremental(&c, id, 2, vec![part("t", 0, 5)]);
    assert_eq!(kept(&f), Some(7));
    f.keep_resolved(resolved(8, 2));
    let f = incremental(&c, id, 3, vec![part("t", 2, 0)]);
    assert_eq!(kept(&f), None, "an added partition is looked up again");
    f.keep_resolved(resolved(9, 3));
    assert_eq!(kept(&incremental(&c, id, 4, Vec::new())), Some(9));
    let FetchContext::Incremental(f) = c.new_context(id, 5, Vec::new(), &[part("t", 1, 0).tp], 0)
    else {
        panic!("epoch 5 was not incremental");
    };
    assert_eq!(kept(&f), None, "a forgotten partition moves the others' indexes");
}

#[test]
fn a_lookup_is_not_kept_once_a_newer_request_came() {
    let c = cache(10);
    let id = open(&c, vec![part("t", 0, 0)], true, 0);
    let older = incremental(&c, id, 1, Vec::new());
    let newer = incremental(&c, id, 2, vec![part("t", 1, 0)]);
    // The older fetch looked up the session's partitions before the newer
    // one added a partition: its lookup no longer matches them.
    older.keep_resolved(resolved(3, 1));
    assert_eq!(kept(&incremental(&c, id, 3, Vec::new())), None);
    newer.keep_resolved(resolved(4, 2));
    assert_eq!(kept(&incremental(&c, id, 4, Vec::new())), None, "epoch 3 came after it");
}
