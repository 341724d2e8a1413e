//! A compaction pass's rewrite: segments grouped to fit one segment each,
//! each group copied into `<base>.log.cleaned` keeping what the pass
//! decided survives (byte for byte where a whole batch does), and the
//! crash-safe swap of the cleaned segment for the group. What survives is
//! decided in the parent module; the transaction rules in `cleaner_txn`.
use std::collections::HashMap;
use std::sync::Arc;

use super::{for_each_batch, CleanStats, OffsetMap};
use crate::log::cleaner_txn::CleanedTransactions;
use crate::log::producer_snapshot::{remove, SNAPSHOT_EXT};
use crate::log::retention::DELETED_SUFFIX;
use crate::log::segment::{file_name, AppendedBatch, LogSegment};
use crate::log::txn_index::{encode_all, AbortedTxnEntry, TXN_INDEX_EXT};
use crate::log::{Error, Log};
use crate::record::{BatchBuilder, Header, NewRecord, RecordBatch, TimestampType};
use crate::sync::MutexExt;

const CLEANED: &str = ".cleaned";
const SWAP: &str = ".swap";

/// What a pass decided before rewriting: the key map, each producer's
/// last batch, and the offset the map covers up to (exclusive).
pub(super) struct GroupContext<'a> {
    pub(super) latest: &'a OffsetMap,
    pub(super) last_batch_of_producer: &'a HashMap<i64, i64>,
    pub(super) end: i64,
}

/// Consecutive segments whose sizes add up to at most `max_bytes` and
/// whose offsets fit one segment's relative-offset range.
pub(super) fn group_segments(
    segments: &[Arc<LogSegment>],
    max_bytes: u64,
) -> Vec<Vec<Arc<LogSegment>>> {
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
pub(super) struct CleanedGroup {
    pub(super) segment: Option<LogSegment>,
    pub(super) removed_aborted: Vec<AbortedTxnEntry>,
}

pub(super) fn clean_group(
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
pub(super) fn swap_in(
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
            log.forget_producer_snapshot_if(|at| at == old_base);
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
