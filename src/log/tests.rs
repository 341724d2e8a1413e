//! Unit tests of the partition log: append/read, rolls, reopen and
//! recovery, truncation, retention, lookups, and a model test against a
//! plain vector of batches.

use std::sync::Arc;

use super::*;
use crate::record::{BatchBuilder, Batches, Compression, NewRecord, RecordBatch, TimestampType};
use crate::time::ManualClock;

pub(crate) fn batch_of(n: usize, ts: i64, value_len: usize, codec: Compression) -> Vec<u8> {
    let mut b = BatchBuilder::new(codec);
    let value = vec![b'v'; value_len];
    for i in 0..n {
        let key = format!("k{i}");
        b.push(NewRecord::new(ts + i as i64, Some(key.as_bytes()), Some(&value)));
    }
    b.build().unwrap()
}

/// A new log for partition t-0 in a temp dir, with the default config;
/// the log lives as long as the dir handed back with it.
pub(crate) fn temp_log() -> (tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(crate::time::SystemClock);
    let log = Log::open(&dir.path().join("t-0"), LogConfig::default(), Offset(0), Offset(0), clock)
        .unwrap();
    (dir, log)
}

fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 100,
        segment_index_bytes: 4096,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, config: LogConfig, clock: &ManualClock) -> Log {
    Log::open(dir, config, Offset(0), Offset(0), Arc::new(clock.clone())).unwrap()
}

/// A new empty log in a fresh directory, its clock at `now_ms`; the
/// directory lives as long as the returned guard.
fn new_log(config: LogConfig, now_ms: i64) -> (tempfile::TempDir, ManualClock, Log) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(now_ms);
    let log = open(dir.path(), config, &clock);
    (dir, clock, log)
}

/// Every batch reads return from `from` on, CRC-checked.
fn each_batch(log: &Log, from: i64, mut f: impl FnMut(&RecordBatch<'_>)) {
    let mut next = from;
    loop {
        let info = log.read(Offset(next), 1 << 20, None, true).unwrap();
        let Some(slice) = info.slice else { break };
        let bytes = slice.read_to_vec().unwrap();
        for b in Batches::new(&bytes) {
            let b = b.unwrap();
            b.verify_crc().unwrap();
            f(&b);
            next = b.next_offset();
        }
    }
}

/// (base offset, last offset) of every batch a read returns.
fn read_all(log: &Log, from: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    each_batch(log, from, |b| out.push((b.base_offset(), b.last_offset())));
    out
}

#[test]
fn append_assigns_offsets_and_reads_back_whole_batches() {
    let (_dir, _clock, log) = new_log(LogConfig::default(), 1_000);
    for (i, codec) in Compression::ALL.into_iter().enumerate() {
        let mut b = batch_of(3, 100, 10, codec);
        let info = log.append_as_leader(&mut b, LeaderEpoch(7)).unwrap();
        assert_eq!(info.first_offset, Offset(3 * i as i64), "{codec}");
        assert_eq!(info.last_offset, Offset(3 * i as i64 + 2));
        assert_eq!(info.num_records, 3);
        assert_eq!(info.max_timestamp, 102);
        assert_eq!(info.offset_of_max_timestamp, Offset(3 * i as i64 + 2));
        assert_eq!(info.log_append_time, -1);
    }
    assert_eq!(log.log_end_offset(), Offset(15));
    // A read starting inside a batch returns that whole batch.
    let info = log.read(Offset(4), 1 << 20, None, false).unwrap();
    let bytes = info.slice.unwrap().read_to_vec().unwrap();
    let first = RecordBatch::parse(&bytes).unwrap();
    assert_eq!((first.base_offset(), first.partition_leader_epoch()), (3, 7));
    assert_eq!(
        first.compression().unwrap(),
        Compression::Gzip,
        "compressed batches stay compressed"
    );
    let records = first.records().unwrap();
    let offsets: Vec<i64> = records.iter().map(|r| records.offset_of(&r.unwrap())).collect();
    assert_eq!(offsets, [3, 4, 5]);
    assert_eq!(read_all(&log, 0).len(), 5);
    assert_eq!(log.leader_epoch_cache().latest_epoch(), Some(LeaderEpoch(7)));
}

#[test]
fn read_limits() {
    let (_dir, _clock, log) = new_log(LogConfig::default(), 0);
    let one = batch_of(1, 0, 100, Compression::None);
    let size = one.len();
    for _ in 0..10 {
        log.append_as_leader(&mut one.clone(), LeaderEpoch(0)).unwrap();
    }
    // (start, max_bytes, max_offset, min_one, expected batches, why)
    type Case = (i64, usize, Option<i64>, bool, usize, &'static str);
    let cases: &[Case] = &[
        (0, size * 3 + 5, None, false, 3, "whole batches only, never a partial one"),
        (0, size - 1, None, false, 0, "first batch larger than max_bytes and not min_one"),
        (0, size - 1, None, true, 1, "min_one returns the first batch even if too big"),
        (2, 1 << 20, Some(5), false, 3, "max_offset is an exclusive bound"),
        (5, 1 << 20, Some(5), true, 0, "nothing below the bound"),
        (10, 1 << 20, None, true, 0, "at the log end offset: empty"),
    ];
    for &(start, max, bound, min_one, want, why) in cases {
        let info = log.read(Offset(start), max, bound.map(Offset), min_one).unwrap();
        let got = info.slice.map_or(0, |s| {
            assert_eq!(s.len % size, 0, "{why}");
            s.len / size
        });
        assert_eq!(got, want, "{why}");
        assert_eq!(info.log_end_offset, Offset(10));
    }
    let err = log.read(Offset(11), 100, None, true).unwrap_err();
    assert!(
        matches!(err, Error::OffsetOutOfRange { requested: 11, log_start: 0, log_end: 10 }),
        "{err}"
    );
}

#[test]
fn validation_errors() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let mut config = LogConfig { max_message_bytes: 500, ..LogConfig::default() };
    config.set("cleanup.policy", "compact").unwrap();
    let log = open(dir.path(), config, &clock);
    let mut corrupt = batch_of(2, 0, 10, Compression::None);
    let n = corrupt.len();
    corrupt[n - 1] ^= 1;
    let mut big = batch_of(1, 0, 600, Compression::None);
    let mut keyless = {
        let mut b = BatchBuilder::new(Compression::Lz4);
        b.push(NewRecord::new(0, None, Some(b"v")));
        b.build().unwrap()
    };
    let mut truncated = batch_of(2, 0, 10, Compression::None);
    truncated.truncate(30);
    type Check = fn(&Error) -> bool;
    let cases: Vec<(&mut Vec<u8>, Check, &str)> = vec![
        (&mut corrupt, |e| matches!(e, Error::CorruptRecord(_)), "a flipped bit fails the CRC"),
        (&mut big, |e| matches!(e, Error::RecordTooLarge { max: 500, .. }), "max.message.bytes"),
        (
            &mut keyless,
            |e| matches!(e, Error::InvalidRecords { record_errors, .. } if record_errors.len() == 1),
            "keyless record on a compacted topic",
        ),
        (&mut truncated, |e| matches!(e, Error::CorruptRecord(_)), "a cut batch"),
    ];
    for (bytes, check, why) in cases {
        let err = log.append_as_leader(bytes, LeaderEpoch(0)).unwrap_err();
        assert!(check(&err), "{why}: {err}");
    }
    assert_eq!(log.log_end_offset(), Offset(0), "nothing was appended");
}

#[test]
fn log_append_time_restamps_and_keeps_crc_valid() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(5_000);
    let config =
        LogConfig { message_timestamp_type: TimestampType::LogAppendTime, ..LogConfig::default() };
    let log = open(dir.path(), config, &clock);
    let info =
        log.append_as_leader(&mut batch_of(2, 10, 5, Compression::Snappy), LeaderEpoch(0)).unwrap();
    assert_eq!(info.log_append_time, 5_000);
    let bytes =
        log.read(Offset(0), 1 << 20, None, true).unwrap().slice.unwrap().read_to_vec().unwrap();
    let b = RecordBatch::parse(&bytes).unwrap();
    assert!(b.is_valid());
    assert_eq!((b.timestamp_type(), b.max_timestamp()), (TimestampType::LogAppendTime, 5_000));
}

#[test]
fn rolls_and_reopens() {
    let (dir, clock, log) = new_log(small_config(), 0);
    for _ in 0..30 {
        log.append_as_leader(&mut batch_of(2, 0, 100, Compression::None), LeaderEpoch(1)).unwrap();
    }
    assert!(log.number_of_segments() > 5, "1 KiB segments roll");
    let expected = read_all(&log, 0);
    assert_eq!(expected.len(), 30);
    assert_eq!(read_all(&log, 31).first(), Some(&(30, 31)), "reads find the right segment");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.contains(&"00000000000000000000.log".to_string()), "{names:?}");
    assert!(names.contains(&"00000000000000000000.index".to_string()));
    assert!(names.contains(&"00000000000000000000.timeindex".to_string()));
    assert!(names.contains(&"leader-epoch-checkpoint".to_string()));
    log.close().unwrap();
    assert!(matches!(
        log.append_as_leader(&mut batch_of(1, 0, 1, Compression::None), LeaderEpoch(1)),
        Err(Error::Closed { .. })
    ));
    let log = Log::open(dir.path(), small_config(), Offset(60), Offset(0), Arc::new(clock.clone()))
        .unwrap();
    assert_eq!(log.log_end_offset(), Offset(60));
    assert_eq!(read_all(&log, 0), expected);
    // Reopen without close (a crash) and a stale recovery point: everything is rescanned.
    drop(log);
    let log = Log::open(dir.path(), small_config(), Offset(0), Offset(0), Arc::new(clock.clone()))
        .unwrap();
    assert_eq!(read_all(&log, 0), expected);
    let info =
        log.append_as_leader(&mut batch_of(1, 0, 10, Compression::None), LeaderEpoch(1)).unwrap();
    assert_eq!(info.first_offset, Offset(60));
}

#[test]
fn torn_tail_is_cut_at_every_byte() {
    let (dir, clock, log) = new_log(LogConfig::default(), 0);
    let b = batch_of(3, 0, 20, Compression::None);
    log.append_as_leader(&mut b.clone(), LeaderEpoch(0)).unwrap();
    log.append_as_leader(&mut b.clone(), LeaderEpoch(0)).unwrap();
    log.close().unwrap();
    let seg = dir.path().join("00000000000000000000.log");
    let full = std::fs::read(&seg).unwrap();
    let one = b.len();
    // Every cut inside the second batch leaves exactly the first.
    for cut in one..full.len() {
        std::fs::write(&seg, &full[..cut]).unwrap();
        let log = open(dir.path(), LogConfig::default(), &clock);
        assert_eq!(
            log.log_end_offset(),
            Offset(if cut == full.len() { 6 } else { 3 }),
            "cut at {cut}"
        );
        assert_eq!(
            std::fs::metadata(&seg).unwrap().len(),
            one as u64,
            "cut at {cut}: tail removed"
        );
        drop(log);
    }
    // Garbage after the last batch, and a flipped bit in the last batch.
    let mut garbage = full.clone();
    garbage.extend_from_slice(&[0xAB; 37]);
    let mut flipped = full.clone();
    let n = flipped.len();
    flipped[n - 5] ^= 0x10;
    let mut zeros = full.clone();
    zeros.extend_from_slice(&[0; 4096]);
    for (image, want, why) in [
        (garbage, 6, "garbage tail"),
        (flipped, 3, "corrupt last batch"),
        (zeros, 6, "zero-filled tail"),
    ] {
        std::fs::write(&seg, &image).unwrap();
        let log = open(dir.path(), LogConfig::default(), &clock);
        assert_eq!(log.log_end_offset(), Offset(want), "{why}");
        assert_eq!(read_all(&log, 0).len() as i64, want / 3, "{why}");
    }
}

#[test]
fn corrupt_or_missing_indexes_are_rebuilt() {
    let (dir, clock, log) = new_log(small_config(), 0);
    for _ in 0..40 {
        log.append_as_leader(&mut batch_of(1, 0, 200, Compression::None), LeaderEpoch(0)).unwrap();
    }
    let expected = read_all(&log, 0);
    log.close().unwrap();
    let first_index = dir.path().join("00000000000000000000.index");
    let good = std::fs::read(&first_index).unwrap();
    assert!(!good.is_empty());
    let images: Vec<(Vec<u8>, &str)> = vec![
        (vec![], "index removed"),
        (good[..good.len() - 3].to_vec(), "index cut inside an entry"),
        ([good.clone(), vec![0; 64]].concat(), "preallocated zeros after the entries"),
        (good.iter().map(|b| b ^ 0x55).collect(), "garbage entries"),
    ];
    for (image, why) in images {
        if image.is_empty() {
            std::fs::remove_file(&first_index).unwrap();
        } else {
            std::fs::write(&first_index, &image).unwrap();
        }
        // Recovery point at the end: only the sanity check can notice.
        let log =
            Log::open(dir.path(), small_config(), Offset(40), Offset(0), Arc::new(clock.clone()))
                .unwrap();
        assert_eq!(read_all(&log, 0), expected, "{why}");
        for o in 0..40 {
            let bytes =
                log.read(Offset(o), 1, None, true).unwrap().slice.unwrap().read_to_vec().unwrap();
            assert_eq!(
                RecordBatch::parse(&bytes).unwrap().base_offset(),
                o,
                "{why}: lookup of {o}"
            );
        }
        log.close().unwrap();
    }
}

#[test]
fn truncation() {
    let (dir, clock, log) = new_log(small_config(), 0);
    for epoch in 0..20 {
        log.append_as_leader(&mut batch_of(2, 0, 100, Compression::None), LeaderEpoch(epoch / 5))
            .unwrap();
    }
    log.truncate_to(Offset(21)).unwrap();
    assert_eq!(log.log_end_offset(), Offset(20), "the batch holding 20..21 goes entirely");
    assert_eq!(read_all(&log, 0).last(), Some(&(18, 19)));
    assert_eq!(log.leader_epoch_cache().latest_epoch(), Some(LeaderEpoch(1)));
    assert!(log.recovery_point() <= Offset(20));
    let info =
        log.append_as_leader(&mut batch_of(1, 0, 100, Compression::None), LeaderEpoch(9)).unwrap();
    assert_eq!(info.first_offset, Offset(20));
    assert_eq!(
        log.leader_epoch_cache().end_offset_for(LeaderEpoch(1)),
        (LeaderEpoch(1), Offset(20))
    );
    log.truncate_fully_and_start_at(Offset(500)).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (Offset(500), Offset(500)));
    assert_eq!(log.number_of_segments(), 1);
    assert!(log.leader_epoch_cache().latest_epoch().is_none());
    log.append_as_leader(&mut batch_of(1, 0, 10, Compression::None), LeaderEpoch(10)).unwrap();
    assert_eq!(read_all(&log, 500), vec![(500, 500)]);
    drop(log);
    let log =
        Log::open(dir.path(), small_config(), Offset(0), Offset(500), Arc::new(clock.clone()))
            .unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (Offset(500), Offset(501)));
}

#[test]
fn follower_appends_keep_offsets() {
    let (_dir, _clock, log) = new_log(LogConfig::default(), 0);
    let mut b = BatchBuilder::new(Compression::None).base_offset(10).partition_leader_epoch(3);
    b.push(NewRecord::new(0, Some(b"k"), Some(b"v")));
    let mut bytes = b.build().unwrap();
    let info = log.append_as_follower(&mut bytes).unwrap();
    assert_eq!(
        (info.first_offset, log.log_end_offset()),
        (Offset(10), Offset(11)),
        "gaps are allowed"
    );
    assert_eq!(
        log.leader_epoch_cache().end_offset_for(LeaderEpoch(3)),
        (LeaderEpoch(3), Offset(11))
    );
    let err = log.append_as_follower(&mut bytes).unwrap_err();
    assert!(
        matches!(err, Error::UnexpectedAppendOffset { first_offset: 10, log_end: 11 }),
        "{err}"
    );
}

#[test]
fn retention_by_time_size_and_delete_records() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000_000);
    let mut config = small_config();
    config.retention_ms = 10_000;
    config.file_delete_delay_ms = 0;
    let log = open(dir.path(), config.clone(), &clock);
    for i in 0..30 {
        log.append_as_leader(
            &mut batch_of(1, 1_000_000 + i * 1000, 200, Compression::None),
            LeaderEpoch(0),
        )
        .unwrap();
    }
    let segments = log.number_of_segments();
    assert!(segments >= 6);
    assert_eq!(log.delete_old_segments().unwrap(), 0, "nothing is old yet");
    clock.set(1_000_000 + 29_000 + 10_001);
    let deleted = log.delete_old_segments().unwrap();
    assert_eq!(deleted, segments, "every segment expired, the log rolled first");
    assert_eq!(log.number_of_segments(), 1);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (Offset(30), Offset(30)));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().into_string().unwrap();
            n.ends_with(".deleted").then_some(n)
        })
        .collect();
    assert!(leftovers.is_empty(), "removed after file.delete.delay.ms=0: {leftovers:?}");
    // Size-based.
    config.retention_ms = -1;
    config.retention_bytes = 2048;
    log.update_config(config);
    for _ in 0..30 {
        log.append_as_leader(
            &mut batch_of(1, clock.now_ms(), 200, Compression::None),
            LeaderEpoch(0),
        )
        .unwrap();
    }
    log.delete_old_segments().unwrap();
    assert!(
        log.size_in_bytes() <= 2048 + 1024,
        "size {} within a segment of retention.bytes",
        log.size_in_bytes()
    );
    assert_eq!(log.log_start_offset(), Offset(log.segment_base_offsets()[0].0));
    // DeleteRecords: start moves inside a segment; reads below it fail.
    let target = Offset(log.log_start_offset().0 + 3);
    assert_eq!(log.delete_records(target).unwrap(), target);
    assert!(matches!(
        log.read(Offset(target.0 - 1), 100, None, true),
        Err(Error::OffsetOutOfRange { .. })
    ));
    assert!(log.read(target, 100, None, true).unwrap().slice.is_some());
    assert!(
        matches!(log.delete_records(Offset(1000)), Err(Error::OffsetOutOfRange { .. })),
        "past the log end"
    );
    assert_eq!(log.delete_records(Offset(0)).unwrap(), target, "never moves back");
    log.delete_records(Offset(59)).unwrap();
    assert_eq!(log.segment_base_offsets().len(), 1, "segments wholly below the start are deleted");
}

#[test]
fn retention_stops_at_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let config = LogConfig { retention_ms: 0, ..small_config() };
    let log = open(dir.path(), config, &clock);
    for _ in 0..20 {
        log.append_as_leader(&mut batch_of(1, 0, 200, Compression::None), LeaderEpoch(0)).unwrap();
    }
    log.update_high_watermark(Offset(5));
    clock.set(1_000);
    log.delete_old_segments().unwrap();
    assert!(log.log_start_offset() <= Offset(5), "unreplicated data is never deleted");
}

#[test]
fn offset_by_timestamp() {
    let (_dir, _clock, log) = new_log(small_config(), 0);
    for i in 0..20 {
        log.append_as_leader(&mut batch_of(3, 1000 * i, 50, Compression::Zstd), LeaderEpoch(2))
            .unwrap();
    }
    // (timestamp, expected offset, why)
    let cases = [
        (0, Some(0), "first record"),
        (1001, Some(4), "inside a batch: the first record at or after"),
        (5000, Some(15), "exact batch start"),
        (19_002, Some(59), "last record"),
        (19_003, None, "after everything"),
    ];
    for (ts, want, why) in cases {
        let got = log.fetch_offset_by_timestamp(ts).unwrap();
        assert_eq!(got.map(|t| t.offset.0), want, "{why}");
        if let Some(t) = got {
            assert!(t.timestamp >= ts && t.leader_epoch == Some(LeaderEpoch(2)), "{why}");
        }
    }
    assert_eq!(
        log.fetch_offset_by_timestamp(LATEST_TIMESTAMP).unwrap().unwrap().offset,
        Offset(60)
    );
    assert_eq!(
        log.fetch_offset_by_timestamp(EARLIEST_TIMESTAMP).unwrap().unwrap().offset,
        Offset(0)
    );
    let max = log.max_timestamp_and_offset().unwrap();
    assert_eq!((max.timestamp, max.offset), (19_002, Offset(59)));
}

#[test]
fn batch_headers_for_producer_state() {
    let (_dir, _clock, log) = new_log(small_config(), 0);
    for seq in 0..10 {
        let mut b = BatchBuilder::new(Compression::None).producer(42, 1, seq * 2);
        b.push(NewRecord::new(0, Some(b"a"), Some(&[0; 100])));
        b.push(NewRecord::new(0, Some(b"b"), Some(&[0; 100])));
        log.append_as_leader(&mut b.build().unwrap(), LeaderEpoch(0)).unwrap();
    }
    let headers = log.batch_headers_from(Offset(15)).unwrap();
    assert_eq!(headers.len(), 3, "batches holding 14.., 16.., 18..");
    assert_eq!(headers[0].base_offset, Offset(14));
    assert_eq!(
        (headers[2].producer_id, headers[2].base_sequence, headers[2].last_sequence),
        (ProducerId(42), 18, 19)
    );
}

#[test]
fn readers_never_see_partial_batches_while_the_writer_appends() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    let log = Arc::new(open(
        dir.path(),
        LogConfig { segment_bytes: 64 * 1024, ..small_config() },
        &clock,
    ));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (log, done) = (Arc::clone(&log), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut checked = 0;
                while !done.load(Ordering::Acquire) {
                    let leo = log.log_end_offset().0;
                    let from = if leo > 0 { fastrand::i64(0..leo) } else { 0 };
                    let info = log.read(Offset(from), 4096, None, true).unwrap();
                    if let Some(s) = info.slice {
                        let bytes = s.read_to_vec().unwrap();
                        let mut n = 0;
                        for b in Batches::new(&bytes) {
                            b.unwrap().verify_crc().unwrap();
                            n += 1;
                        }
                        assert!(n > 0);
                        checked += 1;
                    }
                }
                checked
            })
        })
        .collect();
    for i in 0..2000 {
        log.append_as_leader(
            &mut batch_of(1 + i % 3, 0, 50 + i % 200, Compression::None),
            LeaderEpoch(0),
        )
        .unwrap();
    }
    done.store(true, Ordering::Release);
    for r in readers {
        r.join().unwrap();
    }
    assert!(log.number_of_segments() > 3);
}

mod model {
    //! Random operations against a plain vector of (base, last) batches.
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Append { records: usize, value_len: usize },
        Read { at: u16 },
        Roll,
        Truncate { at: u16 },
        DeleteRecords { at: u16 },
        Retention,
        Reopen { clean: bool },
        Flush,
        Compact,
        RollWhileReading { records: usize },
        Crash { cut: u32 },
    }

    /// (offset, key) of every record from `from`.
    fn records_all(log: &Log, from: i64) -> Vec<(i64, Vec<u8>)> {
        let mut out = Vec::new();
        each_batch(log, from, |b| {
            let records = b.records().unwrap();
            for r in records.iter() {
                let r = r.unwrap();
                out.push((records.offset_of(&r), r.key.unwrap_or_default().to_vec()));
            }
        });
        out
    }

    /// A crash image: everything below `flushed` (the recovery point) is
    /// on disk; past it, the bytes are cut at one point and every later
    /// segment is lost, as unflushed pages are. Answers the (base, last)
    /// batches that are still whole.
    fn cut_after(log: &Log, flushed: i64, cut: u32) -> Vec<(i64, i64)> {
        let segs = log.segments();
        let files: Vec<(i64, PathBuf)> =
            segs.iter().map(|s| (s.base_offset(), s.log_path())).collect();
        drop(segs);
        // The segment holding the flushed point, and how far into it the
        // flushed batches run.
        let first = files.iter().rposition(|(base, _)| *base <= flushed).unwrap_or(0);
        let bytes = std::fs::read(&files[first].1).unwrap();
        let mut flushed_at = 0;
        for b in Batches::new(&bytes) {
            let b = b.unwrap();
            if b.last_offset() >= flushed {
                break;
            }
            flushed_at += b.as_bytes().len();
        }
        let unflushed: usize = files[first..]
            .iter()
            .map(|(_, p)| std::fs::metadata(p).unwrap().len() as usize)
            .sum::<usize>()
            - flushed_at;
        let mut at = flushed_at + cut as usize % (unflushed + 1);
        let mut kept = Vec::new();
        for (i, (_, path)) in files.iter().enumerate() {
            let bytes = std::fs::read(path).unwrap();
            let keep = if i < first { bytes.len() } else { at.min(bytes.len()) };
            at -= keep.min(at);
            if i >= first {
                let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
                f.set_len(keep as u64).unwrap();
            }
            for b in Batches::new(&bytes[..keep]) {
                let Ok(b) = b else { break };
                kept.push((b.base_offset(), b.last_offset()));
            }
            if i >= first && keep < bytes.len() {
                at = 0;
            }
        }
        kept
    }

    /// The log start after a reopen: as Kafka's, it moves up to the first
    /// segment's base when compaction emptied the segments before it, but
    /// never past a batch still in the log.
    fn start_after_open(log: &Log, model: &[(i64, i64)], start: i64) -> Result<i64, TestCaseError> {
        let now = log.log_start_offset().0;
        prop_assert!(now >= start);
        if let Some(&(base, _)) = model.first() {
            prop_assert!(now <= base.max(start), "log start {} past the batch at {}", now, base);
        }
        Ok(now)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (1usize..5, 1usize..300).prop_map(|(records, value_len)| Op::Append { records, value_len }),
            3 => any::<u16>().prop_map(|at| Op::Read { at }),
            1 => Just(Op::Roll),
            1 => any::<u16>().prop_map(|at| Op::Truncate { at }),
            1 => any::<u16>().prop_map(|at| Op::DeleteRecords { at }),
            1 => Just(Op::Retention),
            1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
            1 => Just(Op::Flush),
            1 => Just(Op::Compact),
            1 => (1usize..5).prop_map(|records| Op::RollWhileReading { records }),
            1 => any::<u32>().prop_map(|cut| Op::Crash { cut }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
        #[test]
        fn log_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
            let dir = tempfile::tempdir().unwrap();
            let clock = ManualClock::new(0);
            let config = LogConfig { segment_bytes: 700, retention_bytes: 1500, ..small_config() };
            let mut log = open(dir.path(), config.clone(), &clock);
            let mut model: Vec<(i64, i64)> = Vec::new();
            let mut start = 0i64;
            let mut leo = 0i64;
            for op in ops {
                match op {
                    Op::Append { records, value_len } => {
                        let info = log.append_as_leader(&mut batch_of(records, 0, value_len, Compression::None), LeaderEpoch(0)).unwrap();
                        prop_assert_eq!(info.first_offset.0, leo);
                        model.push((leo, leo + records as i64 - 1));
                        leo += records as i64;
                    }
                    Op::Read { at } => {
                        let o = if leo > start { start + i64::from(at) % (leo - start) } else { start };
                        let got = read_all(&log, o);
                        let want: Vec<(i64, i64)> = model.iter().copied().filter(|&(_, l)| l >= o).collect();
                        prop_assert_eq!(got, want);
                    }
                    Op::Roll => log.roll().unwrap(),
                    Op::Truncate { at } => {
                        let o = if leo > start { start + i64::from(at) % (leo - start + 1) } else { start };
                        log.truncate_to(Offset(o)).unwrap();
                        model.retain(|&(_, l)| l < o);
                        // Past the last kept batch the log may end anywhere
                        // up to `o`: compaction leaves gaps, and below every
                        // batch the log is empty at its first segment's base.
                        let got = log.log_end_offset().0;
                        if let Some(&(_, l)) = model.last() {
                            prop_assert!(got > l && got <= o.max(l + 1), "{} after truncating to {}", got, o);
                        }
                        leo = got;
                        // Below its first segment's base the log starts over
                        // at `o`, as Kafka's truncateFullyAndStartAt does: no
                        // batch is left, and the start moves up over a gap no
                        // record filled (compaction or retention made it).
                        let now = log.log_start_offset().0;
                        start = if model.is_empty() && got == o && now == o { o } else { start.min(leo) };
                    }
                    Op::DeleteRecords { at } => {
                        let o = if leo > start { start + i64::from(at) % (leo - start + 1) } else { start };
                        log.delete_records(Offset(o)).unwrap();
                        start = start.max(o);
                        model.retain(|&(_, l)| l >= start);
                    }
                    Op::Retention => {
                        log.delete_old_segments().unwrap();
                        start = log.log_start_offset().0;
                        model.retain(|&(_, l)| l >= start);
                    }
                    Op::Reopen { clean } => {
                        if clean {
                            log.close().unwrap();
                        }
                        let rp = log.recovery_point();
                        drop(log);
                        log = Log::open(dir.path(), config.clone(), rp, Offset(start), Arc::new(clock.clone())).unwrap();
                        start = start_after_open(&log, &model, start)?;
                    }
                    Op::Flush => log.flush().unwrap(),
                    Op::Compact => {
                        let before = records_all(&log, start);
                        let active_base = log.segment_base_offsets().last().map_or(0, |o| o.0);
                        crate::log::cleaner::clean_now(&log).unwrap();
                        let after = records_all(&log, start);
                        for r in &after {
                            prop_assert!(before.contains(r), "{:?} was never written", r);
                        }
                        for (o, k) in &before {
                            let latest = before.iter().rev().find(|(_, k2)| k2 == k).map(|r| r.0);
                            if latest == Some(*o) || *o >= active_base {
                                prop_assert!(after.contains(&(*o, k.clone())), "{} lost", o);
                            }
                        }
                        let batches = read_all(&log, start);
                        for b in &batches {
                            prop_assert!(model.contains(b), "{:?} keeps its offsets", b);
                        }
                        model = batches;
                    }
                    Op::RollWhileReading { records } => {
                        let mut after = model.clone();
                        after.push((leo, leo + records as i64 - 1));
                        std::thread::scope(|s| {
                            let readers: Vec<_> = (0..2)
                                .map(|_| s.spawn(|| {
                                    for _ in 0..20 {
                                        // The whole log before the roll and
                                        // append, or after: nothing torn.
                                        let got = read_all(&log, start);
                                        if got != model && got != after {
                                            return Err(format!("{got:?}"));
                                        }
                                    }
                                    Ok(())
                                }))
                                .collect();
                            log.roll().unwrap();
                            log.append_as_leader(&mut batch_of(records, 0, 10, Compression::None), LeaderEpoch(0)).unwrap();
                            for r in readers {
                                r.join().unwrap().unwrap();
                            }
                        });
                        model = after;
                        leo += records as i64;
                    }
                    Op::Crash { cut } => {
                        let (rp, old_leo) = (log.recovery_point().0, leo);
                        // The batch holding the log start stays whole, so
                        // the log never ends below its start.
                        let keep_to = model.first().map_or(start, |b| b.1 + 1).max(rp);
                        let kept = cut_after(&log, keep_to, cut);
                        drop(log);
                        log = Log::open(dir.path(), config.clone(), Offset(rp), Offset(start), Arc::new(clock.clone())).unwrap();
                        model.retain(|b| kept.contains(b));
                        start = start_after_open(&log, &model, start)?;
                        prop_assert_eq!(read_all(&log, start), model.clone(), "recovery keeps exactly the whole batches");
                        // A later segment whose file survived the crash
                        // empty keeps its base as the log end: a gap, as
                        // compaction leaves, never a batch that was lost.
                        leo = log.log_end_offset().0;
                        let last = model.last().map_or(start, |&(_, l)| l + 1);
                        prop_assert!(leo >= last && leo <= old_leo.max(last), "log end {} after a crash, last batch ends at {}", leo, last);
                    }
                }
                prop_assert_eq!(log.log_end_offset().0, leo);
                prop_assert_eq!(log.log_start_offset().0, start);
                prop_assert!(log.recovery_point().0 <= leo);
            }
            let want: Vec<(i64, i64)> = model.iter().copied().filter(|&(_, l)| l >= start).collect();
            prop_assert_eq!(read_all(&log, start), want);
        }
    }
}

#[test]
fn roll_triggers_index_full_segment_ms_and_flush_messages() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(0);
    // (config change, timestamps of the appends, expected segments, why)
    type Case = (fn(&mut LogConfig), &'static [i64], usize, &'static str);
    let cases: [Case; 3] = [
        (
            |c| {
                c.index_interval_bytes = 0;
                c.segment_index_bytes = 16
            },
            &[0, 0, 0, 0, 0],
            3,
            "a full index (two entries) rolls",
        ),
        (
            |c| c.segment_ms = 1000,
            &[0, 500, 1500, 1600, 2600],
            3,
            "segment.ms counts in record time from the first batch",
        ),
        (|_| {}, &[0, 600_000_000, 0], 1, "defaults: within 7 days of record time, one segment"),
    ];
    for (change, timestamps, segments, why) in cases {
        let _ = std::fs::remove_dir_all(dir.path());
        let mut config = LogConfig::default();
        change(&mut config);
        let log = open(dir.path(), config, &clock);
        for &ts in timestamps {
            log.append_as_leader(&mut batch_of(1, ts, 10, Compression::None), LeaderEpoch(0))
                .unwrap();
        }
        assert_eq!(log.number_of_segments(), segments, "{why}");
        assert_eq!(read_all(&log, 0).len(), timestamps.len(), "{why}");
    }
    let _ = std::fs::remove_dir_all(dir.path());
    let config = LogConfig { flush_messages: 3, ..LogConfig::default() };
    let log = open(dir.path(), config, &clock);
    log.append_as_leader(&mut batch_of(2, 0, 10, Compression::None), LeaderEpoch(0)).unwrap();
    assert_eq!(log.recovery_point(), Offset(0), "two messages: not yet");
    log.append_as_leader(&mut batch_of(2, 0, 10, Compression::None), LeaderEpoch(0)).unwrap();
    assert_eq!(log.recovery_point(), Offset(4), "flush.messages=3 reached: flushed");
    let config = LogConfig { flush_ms: 1000, ..LogConfig::default() };
    log.update_config(config);
    log.append_as_leader(&mut batch_of(1, 0, 10, Compression::None), LeaderEpoch(0)).unwrap();
    log.maybe_flush_by_time().unwrap();
    assert_eq!(log.recovery_point(), Offset(4), "flush.ms not yet passed");
    clock.advance(1000);
    log.maybe_flush_by_time().unwrap();
    assert_eq!(log.recovery_point(), Offset(5), "flush.ms passed");
}

#[test]
fn rolls_share_one_flusher_thread_and_the_recovery_point_waits_for_it() {
    let (_dir, _clock, log) = new_log(LogConfig::default(), 0);
    // A job ahead of the rolls holds the flusher, as a slow disk would.
    let (release, held) = std::sync::mpsc::channel::<()>();
    assert!(log
        .dir_state
        .flusher
        .submit(move || {
            let _ = held.recv_timeout(std::time::Duration::from_secs(120));
        })
        .is_ok());
    for _ in 0..200 {
        log.append_as_leader(&mut batch_of(1, 0, 10, Compression::None), LeaderEpoch(0)).unwrap();
        log.roll().unwrap();
    }
    assert_eq!(log.number_of_segments(), 201);
    assert_eq!(log.dir_state.flusher.threads_started(), 1, "200 rolls, one thread");
    assert_eq!(
        log.recovery_point(),
        Offset(0),
        "no rolled segment is flushed yet, so none counts as recovered"
    );
    release.send(()).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while log.recovery_point() < Offset(200) {
        assert!(std::time::Instant::now() < deadline, "rolled segments never flushed");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(log.recovery_point(), Offset(200), "up to the active segment, not past it");
    assert_eq!(log.dir_state.flusher.threads_started(), 1);
}

/// Drops a log dir's segment files from the page cache (mapped index pages
/// stay, as the kernel keeps pages that are mapped).
fn drop_from_page_cache(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log" || e == "index") {
            let f = std::fs::File::open(&path).unwrap();
            // Dirty pages are not dropped: write them back first.
            f.sync_all().unwrap();
            rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        }
    }
}

#[test]
fn cached_reads_give_up_on_pages_outside_the_page_cache() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000);
    let config = LogConfig { segment_bytes: 64 << 10, ..LogConfig::default() };
    let log = open(dir.path(), config, &clock);
    for _ in 0..60 {
        log.append_as_leader(&mut batch_of(4, 100, 1000, Compression::None), LeaderEpoch(0))
            .unwrap();
    }
    assert!(log.segments().len() >= 3, "several segments");
    let at = |log: &Log, offset| {
        let read = log.read(Offset(offset), 20_000, None, true).unwrap().slice.unwrap();
        (read.position, read.len)
    };
    let cached = |log: &Log, offset| {
        log.read_waiting(Offset(offset), 20_000, None, true, segment::Wait::Never)
            .map(|r| r.slice.map(|s| (s.position, s.len)).unwrap())
    };
    let Ok(warm) = cached(&log, 100) else {
        eprintln!("skipping: this kernel cannot tell what the page cache holds");
        return;
    };
    assert_eq!(warm, at(&log, 100), "the same slice as a read that may wait");
    drop_from_page_cache(dir.path());
    assert!(matches!(cached(&log, 100), Err(Error::NotCached)), "header pages were dropped");
    let slice = log.read(Offset(100), 20_000, None, true).unwrap().slice.unwrap();
    slice.load_into_cache().unwrap();
    assert_eq!(cached(&log, 100).unwrap(), warm, "loaded back, the read needs no disk");
}

#[test]
fn inline_appends_refuse_whatever_may_wait_for_the_disk() {
    let (dir, clock, log) = new_log(small_config(), 1_000);
    let inline = |b: &mut Vec<u8>, epoch: i32, base: i64| {
        let before = b.clone();
        let got = log.try_append_as_leader_inline(b, LeaderEpoch(epoch), base).unwrap();
        if got.is_none() {
            assert_eq!(*b, before, "a refused append leaves the batch as it was");
        }
        got.map(|info| (info.first_offset.0, info.last_offset.0))
    };
    let mut b = batch_of(2, 100, 10, Compression::None);
    assert_eq!(
        inline(&mut b, 3, 0),
        None,
        "a new epoch writes its checkpoint; the fresh index needs blocks"
    );
    assert_eq!(log.log_end_offset(), Offset(0), "nothing appended");
    log.append_as_leader(&mut b, LeaderEpoch(3)).unwrap();

    let mut b = batch_of(2, 100, 10, Compression::None);
    assert_eq!(inline(&mut b, 3, 0), Some((2, 3)), "same epoch, room in the segment");
    let mut b = batch_of(1, 100, 10, Compression::None);
    assert_eq!(inline(&mut b, 3, 7), None, "the caller expected another active segment");
    {
        let _writer = log.lock_writer();
        assert_eq!(inline(&mut b, 3, 0), None, "another writer holds the log");
    }
    assert_eq!(inline(&mut b, 4, 0), None, "a new leader epoch");
    let mut big = batch_of(1, 100, 1000, Compression::None);
    assert_eq!(inline(&mut big, 3, 0), None, "the segment is full: a roll");
    log.append_as_leader(&mut big, LeaderEpoch(3)).unwrap();
    assert_eq!(log.number_of_segments(), 2, "rolled where blocking is allowed");
    let mut corrupt = batch_of(1, 100, 10, Compression::None);
    corrupt[30] ^= 1;
    assert!(
        log.try_append_as_leader_inline(&mut corrupt, LeaderEpoch(3), 0).is_err(),
        "bad input is an error, not a refusal"
    );
    assert_eq!(read_all(&log, 0), vec![(0, 1), (2, 3), (4, 4)]);

    let _ = std::fs::remove_dir_all(dir.path());
    let config = LogConfig { flush_messages: 3, ..LogConfig::default() };
    let log = open(dir.path(), config, &clock);
    log.append_as_leader(&mut batch_of(1, 0, 10, Compression::None), LeaderEpoch(0)).unwrap();
    let mut b = batch_of(1, 0, 10, Compression::None);
    let info = log.try_append_as_leader_inline(&mut b, LeaderEpoch(0), 0).unwrap();
    assert!(info.is_some(), "two messages: no flush yet");
    let mut b = batch_of(1, 0, 10, Compression::None);
    let info = log.try_append_as_leader_inline(&mut b, LeaderEpoch(0), 0).unwrap();
    assert!(info.is_none(), "the third reaches flush.messages=3: an fsync");
    assert_eq!(log.recovery_point(), Offset(0));
}

/// An epoch that loading drops from memory (it starts at the log end, as
/// after a leader took over and wrote nothing) leaves the checkpoint as it
/// was, and the first append writes it first, whatever the append's epoch:
/// otherwise a crash after the append would credit the new records to the
/// dropped epoch.
#[test]
fn the_first_append_after_a_load_writes_what_loading_dropped() {
    let (dir, clock, log) = new_log(small_config(), 0);
    log.append_as_leader(&mut batch_of(2, 0, 10, Compression::None), LeaderEpoch(1)).unwrap();
    log.leader_epoch_cache().assign(LeaderEpoch(2), log.log_end_offset()).unwrap();
    log.close().unwrap();
    let checkpoint = dir.path().join("leader-epoch-checkpoint");
    assert_eq!(std::fs::read_to_string(&checkpoint).unwrap(), "0\n2\n1 0\n2 2\n");
    drop(log);

    let log = open(dir.path(), small_config(), &clock);
    assert_eq!(log.leader_epoch_cache().latest_epoch(), Some(LeaderEpoch(1)));
    assert_eq!(std::fs::read_to_string(&checkpoint).unwrap(), "0\n2\n1 0\n2 2\n");
    // A follower taking the same epoch-1 records on from its leader.
    let mut b = BatchBuilder::new(Compression::None).base_offset(2).partition_leader_epoch(1);
    b.push(NewRecord::new(0, Some(b"k"), Some(b"v")));
    log.append_as_follower(&mut b.build().unwrap()).unwrap();
    assert_eq!(std::fs::read_to_string(&checkpoint).unwrap(), "0\n1\n1 0\n");
}

mod flush;
