//! Offsets committed inside a transaction (KIP-98): appended at once,
//! effective only with the transaction's COMMIT marker, rebuilt from the log
//! by a coordinator that loads the partition before the marker.

use super::*;

const PID: i64 = 7;

/// One entry of `__consumer_offsets` as the loader sees it: a record of a
/// batch (transactional when the producer id is not -1) or a marker.
enum Entry {
    Record { offset: i64, producer_id: i64, key: Vec<u8>, value: Option<Vec<u8>> },
    Marker { producer_id: i64, commit: bool },
}

/// Sends a TxnOffsetCommit of `PID` and completes its append, recording
/// what went to the log.
fn txn_commit(
    h: &mut Harness,
    log: &mut Vec<Entry>,
    group: &str,
    offset: i64,
) -> OffsetCommitResult {
    let rid = h.rid();
    let producer = TxnProducer { producer_id: PID, producer_epoch: 0 };
    let out =
        h.c.txn_offset_commit(h.now, rid, producer, commit_req(group, "", -1, &[("t", 0, offset)]));
    h.absorb(out);
    let append = h.in_flight.remove(0);
    assert_eq!(append.producer, Some(producer), "a transactional batch of the producer");
    let base = log.len() as i64;
    for (i, r) in append.records.iter().enumerate() {
        log.push(Entry::Record {
            offset: base + i as i64,
            producer_id: PID,
            key: r.key.clone(),
            value: r.value.clone(),
        });
    }
    let out = h.c.append_completed(h.now, append.id, Ok(base));
    h.absorb(out);
    h.commit_result(rid).expect("answered once appended")
}

fn marker(h: &mut Harness, log: &mut Vec<Entry>, group: &str, commit: bool) {
    let offset = log.len() as i64;
    log.push(Entry::Marker { producer_id: PID, commit });
    let p = h.c.partition_for(group);
    let out = h.c.complete_txn(p, PID, commit, offset);
    assert!(out.appends.is_empty(), "the marker is the record");
}

/// A fresh coordinator that loaded partition `p` from `log`, after the
/// markers in `during` reached it while it loaded.
fn loaded(h: &Harness, p: i32, log: &[Entry], during: &[(bool, i64)]) -> Harness {
    let mut c = GroupCoordinator::new(h.c.config().clone(), 3);
    c.begin_loading(p, 0);
    for &(commit, offset) in during {
        c.complete_txn(p, PID, commit, offset);
    }
    replay_all(&mut c, p, log);
    c.complete_loading(0, p);
    Harness { c, ..Harness::new() }
}

/// OffsetFetch with require_stable of the group's offset of t-0.
/// A harness in which group "g" has offset 5 committed in a transaction
/// still open, and the log written so far.
fn txn_committed_5() -> (Harness, Vec<Entry>) {
    let mut h = Harness::new();
    let mut log = Vec::new();
    let r = txn_commit(&mut h, &mut log, "g", 5);
    assert_eq!(commit_errors(&r), vec![None]);
    (h, log)
}

fn stable(h: &Harness) -> (Option<Error>, i64) {
    let f = fetch(h, "g", "t", 0);
    (f.error, f.committed_offset)
}

fn replay_all(c: &mut GroupCoordinator, p: i32, log: &[Entry]) {
    for e in log {
        match e {
            Entry::Record { offset, producer_id, key, value } => {
                c.replay_batch_record(p, *producer_id, *offset, key, value.as_deref()).unwrap()
            }
            Entry::Marker { producer_id, commit, .. } => c.replay_marker(p, *producer_id, *commit),
        }
    }
}

#[test]
fn kip98_txn_offsets_take_effect_only_with_the_commit_marker() {
    let mut h = Harness::new();
    let mut log = Vec::new();
    let r = txn_commit(&mut h, &mut log, "g", 5);
    assert_eq!(commit_errors(&r), vec![None]);
    assert_eq!(stable(&h), (Some(Error::UnstableOffsetCommit), -1), "require_stable waits");
    marker(&mut h, &mut log, "g", true);
    assert_eq!(stable(&h), (None, 5));
}

#[test]
fn kip98_aborted_txn_offsets_are_dropped() {
    let (mut h, mut log) = txn_committed_5();
    marker(&mut h, &mut log, "g", false);
    assert_eq!(stable(&h), (None, -1));
}

#[test]
fn kip98_loading_rebuilds_pending_txn_offsets_from_the_log() {
    let (mut h, mut log) = txn_committed_5();
    marker(&mut h, &mut log, "g", true);
    txn_commit(&mut h, &mut log, "g", 9);
    let p = h.c.partition_for("g");

    // A new coordinator loads the partition before the second marker.
    let mut h2 = loaded(&h, p, &log, &[]);
    assert_eq!(stable(&h2), (Some(Error::UnstableOffsetCommit), -1), "the open one is pending");
    h2.c.complete_txn(p, PID, true, log.len() as i64);
    assert_eq!(fetch(&h2, "g", "t", 0).committed_offset, 9, "its marker commits it");

    // The same log with an ABORT marker at its end keeps the first commit.
    log.push(Entry::Marker { producer_id: PID, commit: false });
    let h3 = loaded(&h, p, &log, &[]);
    assert_eq!(stable(&h3), (None, 5));
}

#[test]
fn kip98_marker_written_while_the_partition_loads_applies_after_replay() {
    let (h, log) = txn_committed_5();
    let p = h.c.partition_for("g");
    // The loader's read ended before the marker the runtime reports while
    // the partition loads.
    let h2 = loaded(&h, p, &log, &[(true, log.len() as i64)]);
    assert_eq!(stable(&h2), (None, 5));
}

#[test]
fn kip447_txn_offset_commit_checks_the_members_it_names() {
    let mut h = Harness::new();
    let (ids, generation) = h.stable_group("g", 1);
    let producer = TxnProducer { producer_id: PID, producer_epoch: 0 };
    let cases = [
        ("nobody", generation, Some(Error::UnknownMemberId)),
        (ids[0].as_str(), generation + 1, Some(Error::IllegalGeneration)),
        (ids[0].as_str(), generation, None),
        ("", -1, None),
    ];
    for (member, gen, want) in cases {
        let rid = h.rid();
        let req = commit_req("g", member, gen, &[("t", 0, 1)]);
        let out = h.c.txn_offset_commit(h.now, rid, producer, req);
        h.absorb(out);
        h.flush();
        let r = h.commit_result(rid).expect("answered");
        assert_eq!(commit_errors(&r), vec![want], "member {member:?} generation {gen}");
    }
}
