//! Compaction passes over real segment files: what survives, what the
//! transaction rules drop, and what a crash at each step of the swap leaves.

use std::path::Path;

use super::*;
use crate::log::LogConfig;
use crate::record::{BatchBuilder, Batches, Compression, NewRecord};
use crate::time::ManualClock;
use crate::types::{LeaderEpoch, Offset};

fn config() -> LogConfig {
    let mut c = LogConfig {
        segment_bytes: 600,
        index_interval_bytes: 100,
        segment_index_bytes: 4096,
        file_delete_delay_ms: 0,
        delete_retention_ms: 1000,
        ..LogConfig::default()
    };
    c.set("cleanup.policy", "compact").unwrap();
    c
}

fn open(dir: &Path, clock: &ManualClock) -> Log {
    Log::open(dir, config(), Offset(0), Offset(0), Arc::new(clock.clone())).unwrap()
}

/// A new log in a temp dir on a manual clock at 0; the log lives as long
/// as the dir handed back with it.
fn fresh() -> (tempfile::TempDir, ManualClock, Log) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = open(dir.path(), &clock);
    (dir, clock, log)
}

fn put(log: &Log, codec: Compression, records: &[(&str, Option<&str>)], ts: i64) {
    let mut b = BatchBuilder::new(codec);
    for (k, v) in records {
        b.push(NewRecord::new(ts, Some(k.as_bytes()), v.map(str::as_bytes)));
    }
    log.append_as_leader(&mut b.build().unwrap(), LeaderEpoch(0)).unwrap();
}

/// (offset, key, value) of every record, and every batch CRC-checked.
fn contents(log: &Log) -> Vec<(i64, String, Option<String>)> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset().0;
    while next < log.log_end_offset().0 {
        let Some(slice) = log.read(Offset(next), 1 << 20, None, true).unwrap().slice else {
            break;
        };
        let bytes = slice.read_to_vec().unwrap();
        for batch in Batches::new(&bytes) {
            let batch = batch.unwrap();
            batch.verify_crc().unwrap();
            let records = batch.records().unwrap();
            for r in records.iter() {
                let r = r.unwrap();
                let s = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
                out.push((records.offset_of(&r), s(r.key.unwrap()), r.value.map(s)));
            }
            next = batch.next_offset();
        }
    }
    out
}

fn fill(log: &Log, codec: Compression, rounds: usize, ts: i64) {
    for round in 0..rounds {
        for key in 0..5 {
            let v = format!("v{round}");
            put(log, codec, &[(&format!("k{key}"), Some(&v)), (&format!("x{key}"), Some(&v))], ts);
        }
    }
}

#[test]
fn the_key_map_holds_what_the_dedupe_buffer_allows() {
    let cases = [
        (DEFAULT_DEDUPE_BUFFER_SIZE, 5_033_164, "Kafka's 128 MiB: 24 bytes an entry, 90% full"),
        (120, 4, "five slots, four used"),
        (0, 1, "one key at least, so a pass always moves on"),
    ];
    for (bytes, want, why) in cases {
        assert_eq!(OffsetMap::with_buffer(bytes).capacity(), want, "{why}");
    }
    let mut m = OffsetMap::with_buffer(120);
    for (i, k) in ["a", "b", "c", "d"].iter().enumerate() {
        assert!(m.put(k.as_bytes(), i as i64));
    }
    assert!(m.put(b"a", 9), "a key already there is updated when full");
    assert!(!m.put(b"e", 10), "a new key does not fit");
    assert_eq!((m.len(), m.get(b"a"), m.get(b"e")), (4, Some(9), None));
}

/// A dedupe buffer too small for the dirty keys: each pass cleans up to
/// where its map filled and checkpoints there, the next goes on, and
/// the passes together leave what one unbounded pass does.
#[test]
fn a_full_key_map_cleans_in_passes() {
    let write = |log: &Log| {
        fill(log, Compression::None, 6, 0);
        put(log, Compression::None, &[("k0", None)], 0);
        fill(log, Compression::None, 1, 0);
    };
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let reference = open(dir.path(), &clock);
    write(&reference);
    clean_now(&reference).unwrap();
    let want = contents(&reference);
    let cleanable_end = reference.cleaner_checkpoint.load(Ordering::Acquire);

    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), &clock);
    write(&log);
    let before = contents(&log);
    let mut checkpoints = Vec::new();
    for _ in 0..50 {
        clean_now_with_buffer(&log, 120).unwrap();
        let cp = log.cleaner_checkpoint.load(Ordering::Acquire);
        if checkpoints.last() == Some(&cp) {
            break;
        }
        checkpoints.push(cp);
        // Between passes, every key still reads its latest value.
        let now = contents(&log);
        for (_, k, _) in &before {
            let latest = before.iter().rev().find(|b| &b.1 == k);
            assert!(now.iter().any(|r| Some(r) == latest), "{k} after {checkpoints:?}");
        }
    }
    assert!(checkpoints.len() > 2, "several passes: {checkpoints:?}");
    assert_eq!(checkpoints.last(), Some(&cleanable_end));
    assert_eq!(contents(&log), want, "the passes add up to one unbounded pass");
}

#[test]
fn keeps_the_latest_record_per_key_and_the_offsets() {
    for codec in [Compression::None, Compression::Gzip, Compression::Lz4] {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(0);
        let log = open(dir.path(), &clock);
        fill(&log, codec, 6, 0);
        let before = contents(&log);
        let leo = log.log_end_offset();
        let stats = clean_now(&log).unwrap();
        assert!(stats.records_removed > 0, "{codec}: {stats}");
        assert!(stats.bytes_after < stats.bytes_before);
        let after = contents(&log);
        assert_eq!(log.log_end_offset(), leo, "offsets never change");
        // Every surviving record is the latest of its key among the records
        // of the cleaned range, and is byte-identical to what was written.
        let active_base = log.segment_base_offsets().last().unwrap().0;
        for rec in &after {
            assert!(before.contains(rec), "{codec}: {rec:?} was written");
            if rec.0 < active_base {
                let newer = before.iter().any(|b| b.1 == rec.1 && b.0 > rec.0);
                assert!(
                    !newer || after.iter().any(|a| a.1 == rec.1 && a.0 > rec.0),
                    "{codec}: {rec:?}"
                );
            }
        }
        let mut keys: Vec<&str> = after.iter().map(|r| r.1.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), 10, "{codec}: every key survives");
        let latest_of = |k: &str| before.iter().rev().find(|b| b.1 == k).cloned();
        for k in keys {
            assert!(after.contains(&latest_of(k).unwrap()), "{codec}: latest of {k} kept");
        }
        // Fetching from a removed offset returns the next surviving batch.
        assert!(log.read(Offset(1), 1 << 20, None, true).unwrap().slice.is_some());
        log.remove_deleted_segments(false);
        let leftovers: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".deleted") || n.ends_with(".cleaned") || n.ends_with(".swap"))
            .collect();
        assert!(leftovers.is_empty(), "{codec}: {leftovers:?}");
    }
}

#[test]
fn tombstones_stay_for_delete_retention_ms_then_go() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(10_000);
    let log = open(dir.path(), &clock);
    put(&log, Compression::None, &[("a", Some("1")), ("b", Some("1"))], 10_000);
    put(&log, Compression::Snappy, &[("a", None)], 10_000);
    fill(&log, Compression::None, 4, 10_000);
    clean_now(&log).unwrap();
    let after = contents(&log);
    assert!(
        after.iter().any(|r| r.1 == "a" && r.2.is_none()),
        "tombstone kept within delete.retention.ms"
    );
    assert!(!after.iter().any(|r| r.1 == "a" && r.2.is_some()), "the value it deletes is gone");
    clock.set(10_000 + 1001);
    let stats = clean_now(&log).unwrap();
    assert_eq!(stats.tombstones_removed, 1, "{stats}");
    assert!(!contents(&log).iter().any(|r| r.1 == "a"));
    assert!(contents(&log).iter().any(|r| r.1 == "b"), "other keys stay");
}

#[test]
fn dirty_ratio_decides_and_the_checkpoint_moves() {
    let (_dir, _clock, log) = fresh();
    fill(&log, Compression::None, 6, 0);
    assert!(
        maybe_clean(&log, DEFAULT_DEDUPE_BUFFER_SIZE).unwrap().is_some(),
        "all dirty: ratio 1.0"
    );
    assert!(
        maybe_clean(&log, DEFAULT_DEDUPE_BUFFER_SIZE).unwrap().is_none(),
        "nothing new since the last pass"
    );
    let mut c = config();
    c.set("cleanup.policy", "delete").unwrap();
    log.update_config(c);
    fill(&log, Compression::None, 6, 0);
    assert!(
        maybe_clean(&log, DEFAULT_DEDUPE_BUFFER_SIZE).unwrap().is_none(),
        "not a compacted topic"
    );
}

#[test]
fn a_producers_last_batch_survives_empty() {
    let (_dir, _clock, log) = fresh();
    let mut b = BatchBuilder::new(Compression::None).producer(9, 0, 0);
    b.push(NewRecord::new(0, Some(b"k"), Some(b"old")));
    log.append_as_leader(&mut b.build().unwrap(), LeaderEpoch(0)).unwrap();
    fill(&log, Compression::None, 1, 0);
    put(&log, Compression::None, &[("k", Some("new"))], 0);
    fill(&log, Compression::None, 4, 0);
    clean_now(&log).unwrap();
    let headers = log.batch_headers_from(Offset(0)).unwrap();
    let p = headers.iter().find(|h| h.producer_id.0 == 9).expect("producer batch kept");
    assert_eq!((p.base_offset, p.last_sequence), (Offset(0), 0));
    assert!(!contents(&log).iter().any(|r| r.2.as_deref() == Some("old")));
}

fn log_bases(dir: &Path) -> Vec<i64> {
    let mut v: Vec<i64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            e.unwrap().file_name().into_string().unwrap().strip_suffix(".log")?.parse().ok()
        })
        .collect();
    v.sort_unstable();
    v
}

/// Copies every regular file of `from` into a fresh directory.
fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.path().join(e.file_name())).unwrap();
    }
    to
}

#[test]
fn a_crash_in_the_middle_of_a_swap_recovers() {
    let (dir, clock, log) = fresh();
    fill(&log, Compression::Zstd, 6, 0);
    log.close().unwrap();
    let original = copy_dir(dir.path());
    let log = open(dir.path(), &clock);
    let before = contents(&log);
    // Larger target segments, so the cleaner merges several into one.
    log.update_config(LogConfig { segment_bytes: 4000, ..config() });
    clean_now(&log).unwrap();
    let cleaned = contents(&log);
    log.close().unwrap();
    assert_ne!(before, cleaned);
    // The first cleaned segment, as the cleaner wrote it, and the range of
    // original segments it replaced.
    let bases = log_bases(dir.path());
    let first = format!("{:020}", bases[0]);
    let end = bases[1];
    let cleaned_files: Vec<(String, Vec<u8>)> = [".log", ".index", ".timeindex"]
        .iter()
        .map(|ext| {
            (
                format!("{first}{ext}"),
                std::fs::read(dir.path().join(format!("{first}{ext}"))).unwrap(),
            )
        })
        .collect();
    let replaced: Vec<i64> =
        log_bases(original.path()).into_iter().filter(|&b| b >= bases[0] && b < end).collect();
    assert!(replaced.len() > 1, "the group merged segments: {replaced:?}");
    // (suffix the cleaned files carry, old segments renamed .deleted, expect cleaned, why)
    let cases = [
        (".cleaned", false, false, "crash before the swap: the old segments stay"),
        (".swap", false, true, "crash after .swap: the swap is completed"),
        (".swap", true, true, "crash after the old segments were renamed .deleted"),
    ];
    for (suffix, old_deleted, want_cleaned, why) in cases {
        let image = copy_dir(original.path());
        if old_deleted {
            // Part of the replaced segments already renamed, as a crash
            // inside the rename loop leaves them.
            for b in &replaced[..replaced.len() / 2 + 1] {
                for ext in [".log", ".index", ".timeindex"] {
                    let name = format!("{b:020}{ext}");
                    std::fs::rename(
                        image.path().join(&name),
                        image.path().join(format!("{name}.deleted")),
                    )
                    .unwrap();
                }
            }
        }
        for (name, bytes) in &cleaned_files {
            std::fs::write(image.path().join(format!("{name}{suffix}")), bytes).unwrap();
        }
        let log = open(image.path(), &clock);
        let got = contents(&log);
        let in_group = |r: &&(i64, String, Option<String>)| r.0 >= bases[0] && r.0 < end;
        let want: Vec<_> = if want_cleaned { &cleaned } else { &before }
            .iter()
            .filter(in_group)
            .cloned()
            .collect();
        let got_group: Vec<_> = got.iter().filter(in_group).cloned().collect();
        assert_eq!(got_group, want, "{why}");
        assert_eq!(
            got.iter().filter(|r| r.0 >= end).count(),
            cleaned.iter().filter(|r| r.0 >= end).count()
        );
        let leftovers = std::fs::read_dir(image.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".deleted") || n.ends_with(".cleaned") || n.ends_with(".swap"))
            .count();
        assert_eq!(leftovers, 0, "{why}");
        assert_eq!(log.log_end_offset(), Offset(60), "{why}");
    }
}
