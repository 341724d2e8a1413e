//! Log compaction (`cleanup.policy=compact`): keep the latest record per
//! key in the inactive part of the log.
//!
//! One pass over a log:
//! 1. The cleanable range runs from the log start to the first uncleanable
//!    offset: the active segment, the high watermark, or the first segment
//!    younger than `min.compaction.lag.ms`, whichever comes first. Its
//!    "dirty" part starts at the cleaner checkpoint (where the last pass
//!    ended). A pass runs when dirty bytes / all cleanable bytes reach
//!    `min.cleanable.dirty.ratio`.
//! 2. A map of key → latest offset is built from the dirty part, bounded
//!    as Kafka's by `log.cleaner.dedupe.buffer.size` ([`OffsetMap`]). When
//!    it fills, the pass ends at the first record that did not fit: only
//!    what the map covers is cleaned and checkpointed, and the next pass
//!    goes on from there.
//! 3. Segments are rewritten in groups (at most `segment.bytes` each) into
//!    `<base>.log.cleaned`: a record survives if no later record has its
//!    key; tombstones (null values) also go once their segment is older
//!    than `delete.retention.ms`. A batch whose records all survive is
//!    copied byte for byte; others are rebuilt with the same codec, base
//!    offset, producer fields and last offset (offsets never change, gaps
//!    are fine). A producer's last batch is kept even when empty, so
//!    idempotent-producer state survives.
//!    Transactions (Kafka's `CleanedTransactionMetadata`, see
//!    `cleaner_txn`): the cleanable range also stops at the first offset
//!    of the oldest open transaction; batches of aborted transactions (the
//!    `.txnindex` files say which) lose all their records and never enter
//!    the key map; a COMMIT or ABORT marker goes once no batch of its
//!    transaction is left and it is older than `delete.retention.ms`. The
//!    cleaned segment gets a `.txnindex` of the ABORT markers it keeps
//!    for batches this pass removed; the replaced segments' indexes and
//!    producer snapshots go with them.
//! 4. The swap is crash-safe: the cleaned files are fsynced and renamed
//!    `.swap`, the old segments renamed `.deleted` (their `.txnindex`
//!    removed), then the swap renamed into place, the segment before its
//!    `.txnindex`. A crash before `.swap` leaves the old segments (the
//!    `.cleaned` files are discarded on open); a crash after it is
//!    completed on open (see `recovery`).

use std::collections::HashMap;
use std::fmt;

use sha2::Digest;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::cleaner_txn::CleanedTransactions;
use super::producer_snapshot::{remove, SNAPSHOT_EXT};
use super::retention::DELETED_SUFFIX;
use super::segment::{file_name, AppendedBatch, LogSegment};
use super::txn_index::{encode_all, AbortedTxnEntry, TXN_INDEX_EXT};
use super::{Error, Log};
use crate::record::{BatchBuilder, Header, NewRecord, RecordBatch, TimestampType};
use crate::sync::MutexExt;

const CLEANED: &str = ".cleaned";
const SWAP: &str = ".swap";

/// What a pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanStats {
    pub segments_before: usize,
    pub segments_after: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub records_removed: u64,
    pub tombstones_removed: u64,
    /// COMMIT and ABORT markers removed.
    pub markers_removed: u64,
}

impl fmt::Display for CleanStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} segments ({} bytes) into {} ({} bytes), {} records, {} tombstones and {} transaction markers removed",
            self.segments_before,
            self.bytes_before,
            self.segments_after,
            self.bytes_after,
            self.records_removed,
            self.tombstones_removed,
            self.markers_removed
        )
    }
}

/// Kafka's `log.cleaner.dedupe.buffer.size` default (128 MiB).
pub const DEFAULT_DEDUPE_BUFFER_SIZE: u64 = 128 * 1024 * 1024;

/// The key → latest offset map of one pass, Kafka's `SkimpyOffsetMap`:
/// a key is kept as a 16-byte digest beside its 8-byte offset, so the
/// map's memory is bounded by its entry count whatever the key sizes, and
/// it holds `dedupe buffer / 24` entries filled to Kafka's load factor
/// (0.9). A digest collision drops a record, the trade Kafka makes too
/// (MD5 there, truncated SHA-256 here).
pub struct OffsetMap {
    entries: HashMap<[u8; 16], i64>,
    capacity: usize,
}

const BYTES_PER_ENTRY: u64 = 24;
const LOAD_FACTOR: f64 = 0.9;

impl OffsetMap {
    /// A map for a dedupe buffer of `bytes`; it always takes at least one
    /// key so that every pass makes progress.
    pub fn with_buffer(bytes: u64) -> Self {
        let slots = bytes / BYTES_PER_ENTRY;
        let capacity = ((slots as f64 * LOAD_FACTOR) as usize).max(1);
        OffsetMap { entries: HashMap::new(), capacity }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn digest(key: &[u8]) -> [u8; 16] {
        let full = sha2::Sha256::digest(key);
        let mut d = [0u8; 16];
        d.copy_from_slice(&full[..16]);
        d
    }

    /// Records `offset` as the latest of `key`; false (and nothing
    /// recorded) when the key is new and the map is full.
    pub fn put(&mut self, key: &[u8], offset: i64) -> bool {
        let d = Self::digest(key);
        if let Some(o) = self.entries.get_mut(&d) {
            *o = offset;
            return true;
        }
        if self.entries.len() >= self.capacity {
            return false;
        }
        self.entries.insert(d, offset);
        true
    }

    pub fn get(&self, key: &[u8]) -> Option<i64> {
        self.entries.get(&Self::digest(key)).copied()
    }
}

/// Cleans `log` if it is compacted and dirty enough, with a key map of
/// `dedupe_buffer_size` bytes.
pub fn maybe_clean(log: &Log, dedupe_buffer_size: u64) -> Result<Option<CleanStats>, Error> {
    let config = log.config();
    if !config.cleanup_policy.compact {
        return Ok(None);
    }
    log.check_open()?;
    let range = cleanable_range(log);
    if range.segments.is_empty() || range.dirty_bytes == 0 {
        return Ok(None);
    }
    let ratio = range.dirty_bytes as f64 / range.total_bytes.max(1) as f64;
    if ratio < config.min_cleanable_dirty_ratio {
        return Ok(None);
    }
    log.watch(clean(log, &range, OffsetMap::with_buffer(dedupe_buffer_size))).map(Some)
}

/// Cleans now, whatever the dirty ratio (for tests and tools), with
/// Kafka's default dedupe buffer.
pub fn clean_now(log: &Log) -> Result<CleanStats, Error> {
    clean_now_with_buffer(log, DEFAULT_DEDUPE_BUFFER_SIZE)
}

/// One pass now with a key map of `dedupe_buffer_size` bytes: it may
/// stop short of the cleanable end when the map fills.
pub fn clean_now_with_buffer(log: &Log, dedupe_buffer_size: u64) -> Result<CleanStats, Error> {
    log.check_open()?;
    let range = cleanable_range(log);
    if range.segments.is_empty() {
        return Ok(CleanStats::default());
    }
    log.watch(clean(log, &range, OffsetMap::with_buffer(dedupe_buffer_size)))
}

struct CleanableRange {
    segments: Vec<Arc<LogSegment>>,
    first_dirty: i64,
    end: i64,
    dirty_bytes: u64,
    total_bytes: u64,
}

fn cleanable_range(log: &Log) -> CleanableRange {
    let config = log.config();
    let segs = log.segments();
    let now = log.clock.now_ms();
    // An open transaction may still abort: nothing from its first offset
    // on is cleaned (Kafka cleans below the last stable offset).
    let hw = log.high_watermark_or_leo().min(log.first_unstable_offset.load(Ordering::Acquire));
    let first_dirty = log.cleaner_checkpoint.load(Ordering::Acquire).max(log.log_start_offset().0);
    let mut out = CleanableRange {
        segments: Vec::new(),
        first_dirty,
        end: first_dirty,
        dirty_bytes: 0,
        total_bytes: 0,
    };
    for (i, seg) in segs.iter().enumerate() {
        // The active segment is never cleaned.
        let Some(next) = segs.get(i + 1) else { break };
        let young = config.min_compaction_lag_ms > 0
            && now - seg.largest_timestamp() < config.min_compaction_lag_ms;
        if next.base_offset() > hw || young {
            break;
        }
        out.total_bytes += seg.size();
        if next.base_offset() > first_dirty {
            out.dirty_bytes += seg.size();
        }
        out.end = next.base_offset();
        out.segments.push(Arc::clone(seg));
    }
    out
}

/// Reads every batch of a segment as owned bytes, one at a time.
fn for_each_batch(
    seg: &LogSegment,
    mut f: impl FnMut(RecordBatch<'_>) -> Result<(), Error>,
) -> Result<(), Error> {
    for item in seg.scan(0, u64::MAX) {
        let (pos, header) = item.map_err(|e| e.into_error(&seg.log_path()))?;
        let bytes = seg.read_bytes(pos, header.size())?;
        f(RecordBatch::parse_at(&bytes, pos as usize)?)?;
    }
    Ok(())
}

fn clean(log: &Log, range: &CleanableRange, mut latest: OffsetMap) -> Result<CleanStats, Error> {
    let config = log.config();
    let now = log.clock.now_ms();
    // Key → latest offset, from the dirty part, up to `end` where the map
    // filled; a producer's last batch in the whole range.
    let mut end = range.end;
    let mut last_batch_of_producer: HashMap<i64, i64> = HashMap::new();
    let aborted = log.collect_aborted_txns(log.log_start_offset().0, range.end)?;
    let mut txns = CleanedTransactions::new(aborted.clone());
    for seg in &range.segments {
        for_each_batch(seg, |batch| {
            if batch.producer_id() >= 0 {
                last_batch_of_producer.insert(batch.producer_id(), batch.base_offset());
            }
            if batch.is_control() {
                txns.on_control(&batch);
                return Ok(());
            }
            // Aborted records never supersede anything.
            let aborted = txns.on_batch(&batch);
            if aborted || batch.last_offset() < range.first_dirty || end < range.end {
                return Ok(());
            }
            let records = batch.records()?;
            for r in records.iter() {
                let r = r?;
                let offset = records.offset_of(&r);
                if let Some(key) = r.key {
                    if !latest.put(key, offset) {
                        end = offset;
                        break;
                    }
                }
            }
            Ok(())
        })?;
    }
    let segments: Vec<Arc<LogSegment>> =
        range.segments.iter().filter(|s| s.base_offset() < end).cloned().collect();
    let ctx =
        GroupContext { latest: &latest, last_batch_of_producer: &last_batch_of_producer, end };
    let mut stats = CleanStats { segments_before: segments.len(), ..CleanStats::default() };
    let mut txns = CleanedTransactions::new(aborted);
    for group in group_segments(&segments, config.segment_bytes) {
        let cleaned = clean_group(log, &group, &ctx, &mut txns, now, &mut stats)?;
        stats.bytes_before += group.iter().map(|s| s.size()).sum::<u64>();
        if let Some(seg) = &cleaned.segment {
            stats.bytes_after += seg.size();
            stats.segments_after += 1;
        }
        if swap_in(log, &group, cleaned.segment)? {
            log.report_removed_aborted_txns(cleaned.removed_aborted);
        }
    }
    log.cleaner_checkpoint.fetch_max(end, Ordering::AcqRel);
    Ok(stats)
}

/// What a pass decided before rewriting: the key map, each producer's
/// last batch, and the offset the map covers up to (exclusive).
struct GroupContext<'a> {
    latest: &'a OffsetMap,
    last_batch_of_producer: &'a HashMap<i64, i64>,
    end: i64,
}

/// Consecutive segments whose sizes add up to at most `max_bytes` and
/// whose offsets fit one segment's relative-offset range.
fn group_segments(segments: &[Arc<LogSegment>], max_bytes: u64) -> Vec<Vec<Arc<LogSegment>>> {
    let mut groups: Vec<Vec<Arc<LogSegment>>> = Vec::new();
    let mut size = 0u64;
    for seg in segments {
        let fits = groups.last().is_some_and(|g| {
            size + seg.size() <= max_bytes
                && seg.next_offset() - g[0].base_offset() <= i64::from(i32::MAX)
        });
        if fits {
            size += seg.size();
            if let Some(g) = groups.last_mut() {
                g.push(Arc::clone(seg));
            }
        } else {
            size = seg.size();
            groups.push(vec![Arc::clone(seg)]);
        }
    }
    groups
}

/// A group's cleaned segment (none when nothing of it is left), and the
/// aborted transactions whose ABORT marker it dropped.
struct CleanedGroup {
    segment: Option<LogSegment>,
    removed_aborted: Vec<AbortedTxnEntry>,
}

fn clean_group(
    log: &Log,
    group: &[Arc<LogSegment>],
    ctx: &GroupContext<'_>,
    txns: &mut CleanedTransactions,
    now: i64,
    stats: &mut CleanStats,
) -> Result<CleanedGroup, Error> {
    let config = log.config();
    let base = group[0].base_offset();
    let out =
        LogSegment::create_with_suffix(&log.dir, base, config.segment_index_bytes, now, CLEANED)?;
    let group_end = group.last().map_or(base, |s| s.next_offset());
    let mut index = Vec::new();
    let mut removed_aborted = Vec::new();
    for seg in group {
        let drop_tombstones =
            seg.largest_timestamp().saturating_add(config.delete_retention_ms) < now;
        for_each_batch(seg, |batch| {
            // The group's last batch stays (empty if need be) so the cleaned
            // segment covers the group's whole offset range: a swap finished
            // on open then removes exactly the segments it replaces.
            let keep_empty = batch.next_offset() == group_end
                || batch.producer_id() >= 0
                    && ctx.last_batch_of_producer.get(&batch.producer_id())
                        == Some(&batch.base_offset());
            let bytes = if batch.is_control() {
                let control = txns.on_control(&batch);
                // Markers age out like tombstones once their transaction
                // has nothing left in the log.
                if control.can_discard && drop_tombstones && !keep_empty {
                    stats.markers_removed += 1;
                    removed_aborted.extend(control.aborted);
                    None
                } else {
                    index.extend(control.index);
                    Some(batch.as_bytes().to_vec())
                }
            } else {
                let aborted = txns.on_batch(&batch);
                filter_batch(&batch, ctx, drop_tombstones, keep_empty, aborted, stats)?
            };
            if let Some(bytes) = bytes {
                let b = RecordBatch::parse(&bytes)?;
                let appended = [AppendedBatch {
                    position: 0,
                    size: bytes.len(),
                    last_offset: b.last_offset(),
                    max_timestamp: b.max_timestamp(),
                }];
                out.append(&bytes, &appended, config.index_interval_bytes)?;
            }
            Ok(())
        })?;
    }
    if out.size() == 0 {
        out.delete_files()?;
        return Ok(CleanedGroup { segment: None, removed_aborted });
    }
    out.on_become_inactive()?;
    out.flush()?;
    if !index.is_empty() {
        let path = txn_index_path(log, base, CLEANED);
        let r = std::fs::write(&path, encode_all(&index))
            .and_then(|()| std::fs::File::open(&path)?.sync_all())
            .map_err(Error::io(&path));
        if let Err(e) = r {
            out.delete_files()?;
            return Err(e);
        }
    }
    Ok(CleanedGroup { segment: Some(out), removed_aborted })
}

fn txn_index_path(log: &Log, base: i64, suffix: &str) -> std::path::PathBuf {
    log.dir.join(format!("{}{suffix}", file_name(base, TXN_INDEX_EXT)))
}

/// Renames `<base>.txnindex<from>` to `<base>.txnindex<to>` if it exists.
fn rename_txn_index(log: &Log, base: i64, from: &str, to: &str) -> Result<(), Error> {
    let path = txn_index_path(log, base, from);
    match std::fs::rename(&path, txn_index_path(log, base, to)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&path)(e)),
        _ => Ok(()),
    }
}

/// The batch with superseded records (and expired tombstones) removed:
/// the original bytes when nothing goes, `None` when everything goes.
fn filter_batch(
    batch: &RecordBatch<'_>,
    ctx: &GroupContext<'_>,
    drop_tombstones: bool,
    keep_empty: bool,
    aborted: bool,
    stats: &mut CleanStats,
) -> Result<Option<Vec<u8>>, Error> {
    let records = batch.records()?;
    let mut kept = Vec::new();
    let mut removed = 0u64;
    for r in records.iter() {
        let r = r?;
        let offset = records.offset_of(&r);
        let superseded = aborted
            || match r.key {
                None => true,
                Some(k) => ctx.latest.get(k).is_some_and(|l| l > offset),
            };
        // Past the map's end a tombstone may still hide older values of
        // its key that this pass kept: it stays until a pass covers it.
        let expired_tombstone = r.value.is_none() && drop_tombstones && offset < ctx.end;
        if superseded || expired_tombstone {
            removed += 1;
            if !superseded {
                stats.tombstones_removed += 1;
            }
        } else {
            kept.push((offset, r, records.timestamp_of(&r)));
        }
    }
    stats.records_removed += removed;
    if removed == 0 {
        return Ok(Some(batch.as_bytes().to_vec()));
    }
    if kept.is_empty() && !keep_empty {
        return Ok(None);
    }
    let mut b = BatchBuilder::new(batch.compression()?)
        .base_offset(batch.base_offset())
        .partition_leader_epoch(batch.partition_leader_epoch())
        .producer(batch.producer_id(), batch.producer_epoch(), batch.base_sequence())
        .transactional(batch.is_transactional())
        .last_offset_delta(batch.last_offset_delta());
    if batch.timestamp_type() == TimestampType::LogAppendTime {
        b = b.log_append_time(batch.max_timestamp());
    }
    for (offset, r, ts) in kept {
        let headers: Vec<Header<'_>> = r.headers().collect();
        let delta = (offset - batch.base_offset()) as i32;
        b.push_at(
            delta,
            NewRecord { timestamp: ts, key: r.key, value: r.value, headers: &headers },
        );
    }
    Ok(Some(b.build()?))
}

/// Replaces `group` by `cleaned` in the log, crash-safely; false (and the
/// cleaned files discarded) if the group changed meanwhile.
fn swap_in(
    log: &Log,
    group: &[Arc<LogSegment>],
    cleaned: Option<LogSegment>,
) -> Result<bool, Error> {
    let _w = log.lock_writer();
    let segs = log.segments();
    let base = group[0].base_offset();
    let discard = |cleaned: Option<LogSegment>| -> Result<bool, Error> {
        if let Some(c) = cleaned {
            c.delete_files()?;
        }
        remove(&txn_index_path(log, base, CLEANED))?;
        Ok(false)
    };
    let Some(start) = segs.iter().position(|s| Arc::ptr_eq(s, &group[0])) else {
        return discard(cleaned);
    };
    let intact = group
        .iter()
        .enumerate()
        .all(|(i, g)| segs.get(start + i).is_some_and(|s| Arc::ptr_eq(s, g)));
    if !intact || start + group.len() >= segs.len() {
        return discard(cleaned);
    }
    let cleaned = match cleaned {
        Some(c) => {
            c.change_suffix(CLEANED, SWAP)?;
            rename_txn_index(log, base, CLEANED, SWAP)?;
            Some(Arc::new(c))
        }
        None => None,
    };
    let due = log.clock.now_ms().saturating_add(log.config().file_delete_delay_ms);
    for old in group {
        old.change_suffix("", DELETED_SUFFIX)?;
        log.pending_deletes.lock_or_recover().push((due, Arc::clone(old)));
        // The aborted transactions a segment indexed are in the cleaned
        // segment's index if they still matter. A producer snapshot at a
        // segment that no longer starts there goes, as Kafka's do.
        let old_base = old.base_offset();
        remove(&txn_index_path(log, old_base, ""))?;
        if old_base != base {
            remove(&log.dir.join(file_name(old_base, SNAPSHOT_EXT)))?;
        }
    }
    if let Some(c) = &cleaned {
        c.change_suffix(SWAP, "")?;
        rename_txn_index(log, base, SWAP, "")?;
    }
    let mut list: Vec<Arc<LogSegment>> = segs[..start].to_vec();
    list.extend(cleaned);
    list.extend_from_slice(&segs[start + group.len()..]);
    log.publish_segments(list);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::log::LogConfig;
    use crate::record::{Batches, Compression};
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
                put(
                    log,
                    codec,
                    &[(&format!("k{key}"), Some(&v)), (&format!("x{key}"), Some(&v))],
                    ts,
                );
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
                .filter(|n| {
                    n.ends_with(".deleted") || n.ends_with(".cleaned") || n.ends_with(".swap")
                })
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
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(0);
        let log = open(dir.path(), &clock);
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
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(0);
        let log = open(dir.path(), &clock);
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
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(0);
        let log = open(dir.path(), &clock);
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
                .filter(|n| {
                    n.ends_with(".deleted") || n.ends_with(".cleaned") || n.ends_with(".swap")
                })
                .count();
            assert_eq!(leftovers, 0, "{why}");
            assert_eq!(log.log_end_offset(), Offset(60), "{why}");
        }
    }
}
