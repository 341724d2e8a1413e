//! Opening a log directory: finishing or discarding interrupted file
//! operations, loading segments, and recovering what a crash may have
//! left behind.
//!
//! What a crash can leave, and what happens to it here:
//! - a torn or garbage tail in a `.log` (the page cache lost part of a
//!   write): every segment holding offsets at or past the recovery point is
//!   read batch by batch, CRCs checked, and cut after the last good batch;
//!   segments after a cut one are deleted, since offsets must stay dense;
//! - a preallocated index full of zeros, or one that disagrees with its
//!   log: indexes of recovered segments are rebuilt; other indexes are
//!   sanity-checked and rebuilt if they fail;
//! - `.deleted`, `.cleaned`, `.new` and `.tmp` files: leftovers of finished
//!   or abandoned operations, removed;
//! - `.swap` files: a compaction swap that began; it is completed (the
//!   old segments it replaces are removed and the swap renamed in place,
//!   then its `.txnindex.swap`, which may outlive the segment's rename);
//! - a `.txnindex` without its segment (the cleaner removed the segment
//!   and crashed before removing the index): removed, since the aborted
//!   transactions it lists are no longer in the log.

use std::path::Path;
use std::sync::Arc;

use super::producer_snapshot::SNAPSHOT_EXT;
use super::segment::{file_name, LogSegment, LOG_EXT};
use super::txn_index::TXN_INDEX_EXT;
use super::{Error, LogConfig};
use crate::time::Clock;

pub(super) struct Loaded {
    pub segments: Vec<Arc<LogSegment>>,
    pub log_end_offset: i64,
    pub log_start_offset: i64,
    pub recovery_point: i64,
    /// Whether loading rewrote, cut or removed a segment's files: what it
    /// changed is not yet synced, whatever the recovery point says.
    pub changed_files: bool,
    /// Whether the directory held producer snapshot files.
    pub snapshot_files: bool,
}

const LEFTOVER_SUFFIXES: [&str; 4] = [".deleted", ".cleaned", ".new", ".tmp"];
const SWAP: &str = ".swap";

fn remove_if_present(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path)(e)),
        _ => Ok(()),
    }
}

/// Puts a swap's `.txnindex.swap` in place and removes indexes whose
/// segment is gone; `bases` are the segments that stay and `names` the
/// dir's files (read once for the whole load; a name already gone is
/// skipped).
fn settle_txn_indexes(dir: &Path, names: &[String], bases: &[i64]) -> Result<(), Error> {
    let swap_ext = format!("{TXN_INDEX_EXT}{SWAP}");
    let mut indexes: Vec<i64> = Vec::new();
    for name in names {
        if let Some(base) = parse_base(name, &swap_ext) {
            let (from, to) = (dir.join(name), dir.join(file_name(base, TXN_INDEX_EXT)));
            match std::fs::rename(&from, &to) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                result => result.map_err(Error::io(&to))?,
            }
            indexes.push(base);
        } else if let Some(base) = parse_base(name, TXN_INDEX_EXT) {
            indexes.push(base);
        }
    }
    for base in indexes {
        if bases.binary_search(&base).is_err() {
            let path = dir.join(file_name(base, TXN_INDEX_EXT));
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    tracing::warn!(file = %path.display(), "removed the index of a removed segment")
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&path)(e)),
            }
        }
    }
    Ok(())
}

fn parse_base(name: &str, ext: &str) -> Option<i64> {
    let stem = name.strip_suffix(ext)?;
    (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit())).then(|| stem.parse().ok())?
}

pub(super) fn load(
    dir: &Path,
    config: &LogConfig,
    recovery_point: i64,
    log_start_offset: i64,
    clock: &dyn Clock,
    had_clean_shutdown: bool,
) -> Result<Loaded, Error> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let mut bases = Vec::new();
    let mut swaps = Vec::new();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(Error::io(dir))? {
        let entry = entry.map_err(Error::io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if LEFTOVER_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            std::fs::remove_file(entry.path()).map_err(Error::io(entry.path()))?;
            continue;
        } else if let Some(base) = name.strip_suffix(SWAP).and_then(|n| parse_base(n, LOG_EXT)) {
            swaps.push(base);
        } else if let Some(base) = parse_base(&name, LOG_EXT) {
            bases.push(base);
        }
        names.push(name);
    }
    let mut changed_files = !swaps.is_empty();
    let snapshot_files = names.iter().any(|n| n.ends_with(SNAPSHOT_EXT));
    // Finish interrupted compaction swaps before loading anything else.
    swaps.sort_unstable();
    for swap_base in swaps {
        let swap = LogSegment::open(dir, swap_base, SWAP)?;
        swap.recover(config.index_interval_bytes)?;
        let end = swap.next_offset().max(swap_base + 1);
        for &b in bases.iter().filter(|&&b| b >= swap_base && b < end) {
            LogSegment::open(dir, b, "")?.delete_files()?;
        }
        bases.retain(|&b| b < swap_base || b >= end);
        // The replaced segment at the same base had its own index.
        remove_if_present(&dir.join(file_name(swap_base, TXN_INDEX_EXT)))?;
        swap.on_become_inactive()?;
        swap.change_suffix(SWAP, "")?;
        bases.push(swap_base);
    }
    bases.sort_unstable();
    settle_txn_indexes(dir, &names, &bases)?;
    let mut segments = Vec::with_capacity(bases.len());
    for &base in &bases {
        segments.push(Arc::new(LogSegment::open(dir, base, "")?));
    }
    let mut cut_at = None;
    for (i, seg) in segments.iter().enumerate() {
        let next_base = segments.get(i + 1).map(|s| s.base_offset());
        let unflushed = next_base.is_none_or(|n| n > recovery_point);
        let needs_recovery = if !had_clean_shutdown && unflushed {
            true
        } else if let Some(problem) = index_problem(seg, config) {
            tracing::debug!(segment = %seg.log_path().display(), "recovering: {problem}");
            true
        } else if next_base.is_none() {
            // The active segment is trusted after a clean shutdown only if
            // its batches' offsets run forward (a header scan, no CRC).
            let disorder = seg.load_tail_state_from(Some(0))?;
            if let Some(why) = &disorder {
                tracing::warn!(segment = %seg.log_path().display(), "recovering: {why}");
            }
            disorder.is_some()
        } else {
            false
        };
        if needs_recovery {
            changed_files = true;
            let r = seg.recover(config.index_interval_bytes)?;
            if let Some(reason) = &r.reason {
                tracing::warn!(
                    segment = %seg.log_path().display(),
                    truncated_bytes = r.truncated_bytes,
                    "recovery cut the segment after {} valid bytes: {reason}",
                    r.valid_bytes
                );
                cut_at = Some(i);
                break;
            }
        } else {
            seg.load_tail_state()?;
        }
    }
    if let Some(i) = cut_at {
        for seg in segments.drain(i + 1..) {
            tracing::warn!(segment = %seg.log_path().display(), "deleting a segment after a corrupt one");
            seg.delete_files()?;
        }
    }
    // An empty trailing segment whose base is below its predecessor's end
    // would break offset order; drop it.
    while segments.len() > 1 {
        let n = segments.len();
        if segments[n - 1].size() == 0
            && segments[n - 1].base_offset() < segments[n - 2].next_offset()
        {
            changed_files = true;
            if let Some(s) = segments.pop() {
                s.delete_files()?;
            }
        } else {
            break;
        }
    }
    let mut log_start = log_start_offset.max(segments.first().map_or(0, |s| s.base_offset()));
    let mut leo = segments.last().map_or(log_start, |s| s.next_offset());
    if segments.is_empty() || log_start > leo {
        // Nothing usable is left below the checkpointed start: begin there.
        // A new log's first segment changes nothing a crash could lose.
        changed_files |= !segments.is_empty();
        for s in segments.drain(..) {
            s.delete_files()?;
        }
        let start = log_start_offset.max(0);
        segments.push(Arc::new(LogSegment::create(
            dir,
            start,
            config.segment_index_bytes,
            clock.now_ms(),
        )?));
        log_start = start;
        leo = start;
    }
    let n = segments.len();
    for (i, seg) in segments.iter().enumerate() {
        if i + 1 < n {
            seg.on_become_inactive()?;
        } else {
            seg.resize_indexes(config.segment_index_bytes)?;
        }
    }
    let recovery_point =
        if had_clean_shutdown { leo } else { recovery_point.clamp(log_start.min(leo), leo) };
    Ok(Loaded {
        segments,
        log_end_offset: leo,
        log_start_offset: log_start,
        recovery_point,
        changed_files,
        snapshot_files,
    })
}

/// Why a segment's indexes cannot be trusted, if they cannot.
fn index_problem(seg: &LogSegment, config: &LogConfig) -> Option<String> {
    let size = seg.size();
    if seg.offset_index().entries() == 0 && size > config.index_interval_bytes.max(1) * 2 {
        return Some("offset index is empty".into());
    }
    if let Err(e) = seg.offset_index().sanity_check(size) {
        return Some(e);
    }
    seg.time_index().sanity_check(i64::MAX).err()
}
