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

use self::rewrite::{clean_group, group_segments, swap_in, GroupContext};
use super::cleaner_txn::CleanedTransactions;
use super::segment::LogSegment;
use super::{Error, Log};
use crate::record::RecordBatch;

mod rewrite;

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

#[cfg(test)]
mod tests;
