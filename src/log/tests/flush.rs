//! When a flush syncs files and when it may skip them (issue 13: a clean
//! shutdown synced three files of every idle partition). A skip is allowed
//! only when nothing the flush would sync changed since the last one.

use std::time::{Duration, Instant};

use super::*;

fn synced(log: &Log) -> u64 {
    log.synced_flushes.load(Ordering::Relaxed)
}

fn append(log: &Log, records: usize) {
    log.append_as_leader(&mut batch_of(records, 0, 10, Compression::None), LeaderEpoch(0)).unwrap();
}

/// Opens `dir` as a start after a clean shutdown does: the files are
/// trusted from the checkpointed recovery point `rp` on.
fn open_clean(dir: &Path, rp: Offset, clock: &ManualClock) -> Log {
    let options = LogOpenOptions { had_clean_shutdown: true, dir_state: None };
    Log::open_with(dir, small_config(), rp, Offset(0), Arc::new(clock.clone()), options).unwrap()
}

fn wait_for_recovery_point(log: &Log, to: Offset) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while log.recovery_point() < to {
        assert!(Instant::now() < deadline, "the rolled segment was never flushed");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn close_syncs_a_log_only_if_something_changed_since_its_last_flush() {
    // (what happens after a flush of offsets 0..4, whether close syncs,
    // the log end a clean start finds, why)
    type Change = fn(&Log);
    let cases: [(Change, bool, i64, &str); 6] = [
        (|_| {}, false, 4, "nothing since: the files are as the last flush left them"),
        (|l| append(l, 2), true, 6, "an append moves the log end past the recovery point"),
        (
            |l| {
                append(l, 2);
                l.flush().unwrap();
            },
            false,
            6,
            "an append the flush already covered",
        ),
        (
            |l| l.truncate_to(Offset(2)).unwrap(),
            true,
            2,
            "a truncation leaves the point at the new end, but the cut itself is unsynced",
        ),
        (
            |l| l.truncate_fully_and_start_at(Offset(10)).unwrap(),
            true,
            10,
            "a full truncation replaces every segment",
        ),
        (
            |l| {
                l.roll().unwrap();
                wait_for_recovery_point(l, Offset(4));
            },
            true,
            4,
            "a roll's background flush moves the point to the end, not over the new segment",
        ),
    ];
    for (change, syncs, end, why) in cases {
        let (dir, clock, log) = new_log(small_config(), 0);
        for _ in 0..4 {
            append(&log, 1);
        }
        log.flush().unwrap();
        change(&log);
        let before = synced(&log);
        log.close().unwrap();
        assert_eq!(synced(&log) > before, syncs, "{why}");
        assert_eq!(log.recovery_point(), log.log_end_offset(), "{why}: the checkpoint is exact");
        let rp = log.recovery_point();
        drop(log);
        let log = open_clean(dir.path(), rp, &clock);
        assert_eq!(log.log_end_offset(), Offset(end), "{why}");
        let batches = read_all(&log, log.log_start_offset().0);
        assert_eq!(batches.last().map_or(end, |b| b.1 + 1), end, "{why}");
    }
}

#[test]
fn what_loading_rewrote_is_synced_at_close_and_a_clean_load_is_not() {
    let (dir, clock, log) = new_log(small_config(), 0);
    assert_eq!(synced(&log), 0);
    log.close().unwrap();
    assert_eq!(synced(&log), 0, "a new empty log holds nothing a crash could lose");
    drop(log);

    let log = open(dir.path(), small_config(), &clock);
    append(&log, 3);
    log.close().unwrap();
    assert_eq!(synced(&log), 1, "the appends");
    drop(log);

    let log = open_clean(dir.path(), Offset(3), &clock);
    log.close().unwrap();
    assert_eq!(synced(&log), 0, "opened after a clean shutdown, nothing changed");
    drop(log);

    // A start after a crash recovers the active segment (its index is
    // rebuilt, a torn tail would be cut) even with the point at its end.
    let log = open(dir.path(), small_config(), &clock);
    assert_eq!((log.recovery_point(), log.log_end_offset()), (Offset(0), Offset(3)));
    log.flush().unwrap();
    assert_eq!(synced(&log), 1);
    drop(log);
    let log = Log::open(dir.path(), small_config(), Offset(3), Offset(0), Arc::new(clock.clone()))
        .unwrap();
    assert_eq!(log.recovery_point(), log.log_end_offset());
    log.close().unwrap();
    assert_eq!(synced(&log), 1, "recovery rewrote the active segment's indexes");
}
