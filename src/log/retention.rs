//! Deleting old data: time- and size-based retention, the log start
//! offset moved by DeleteRecords, and the delayed removal of deleted
//! segment files. Only whole inactive segments are deleted; they are first
//! renamed `.deleted` (so a crash never resurrects them) and removed after
//! `file.delete.delay.ms`, giving in-flight reads time to finish.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Error, Log, LogSegment};
use crate::sync::MutexExt;
use crate::types::Offset;

pub(super) const DELETED_SUFFIX: &str = ".deleted";

impl Log {
    /// Applies the retention rules once: segments past `retention.ms`, past
    /// `retention.bytes`, or wholly below the log start offset go. Returns
    /// how many segments were deleted.
    pub fn delete_old_segments(&self) -> Result<usize, Error> {
        self.check_open()?;
        let config = self.config();
        let log_start = self.log_start_offset.load(Ordering::Acquire);
        let mut deleted = self.delete_oldest_while(
            |_, next| next.is_some_and(|n| n.base_offset() <= log_start),
            "log start offset",
        )?;
        if config.cleanup_policy.delete {
            if config.retention_ms >= 0 {
                let now = self.clock.now_ms();
                let ms = config.retention_ms;
                deleted += self
                    .delete_oldest_while(|s, _| now - s.largest_timestamp() > ms, "retention.ms")?;
            }
            if config.retention_bytes >= 0 {
                let mut excess = self.size_in_bytes() as i64 - config.retention_bytes;
                deleted += self.delete_oldest_while(
                    |s, _| {
                        if excess - s.size() as i64 >= 0 {
                            excess -= s.size() as i64;
                            true
                        } else {
                            false
                        }
                    },
                    "retention.bytes",
                )?;
            }
        }
        self.remove_deleted_segments(false);
        Ok(deleted)
    }

    /// DeleteRecords: moves the log start offset to `new_log_start` (which
    /// may not pass the high watermark) and deletes the segments wholly
    /// below it. Returns the resulting log start offset. The caller
    /// checkpoints it (`LogManager::checkpoint_log_start_offsets`).
    pub fn delete_records(&self, new_log_start: Offset) -> Result<Offset, Error> {
        self.check_open()?;
        {
            let _w = self.lock_writer();
            let bound = self.high_watermark_or_leo();
            let current = self.log_start_offset.load(Ordering::Acquire);
            if new_log_start.0 > bound || new_log_start.0 < 0 {
                return Err(Error::OffsetOutOfRange {
                    requested: new_log_start.0,
                    log_start: current,
                    log_end: bound,
                });
            }
            if new_log_start.0 <= current {
                return Ok(Offset(current));
            }
            self.advance_log_start(new_log_start.0)?;
        }
        let start = new_log_start.0;
        self.delete_oldest_while(
            |_, next| next.is_some_and(|n| n.base_offset() <= start),
            "DeleteRecords",
        )?;
        Ok(self.log_start_offset())
    }

    fn advance_log_start(&self, to: i64) -> Result<(), Error> {
        if to > self.log_start_offset.fetch_max(to, Ordering::AcqRel) {
            self.cleaner_checkpoint.fetch_max(to, Ordering::AcqRel);
            self.watch(self.epoch_cache.truncate_from_start(Offset(to)))?;
        }
        Ok(())
    }

    /// Deletes segments from the oldest while `predicate(segment, next)`
    /// holds, never past the high watermark and never the empty active
    /// segment; rolls first when every segment goes.
    fn delete_oldest_while(
        &self,
        mut predicate: impl FnMut(&LogSegment, Option<&LogSegment>) -> bool,
        reason: &str,
    ) -> Result<usize, Error> {
        let _w = self.lock_writer();
        self.check_open()?;
        let segs = self.segments();
        let hw = self.high_watermark_or_leo();
        let leo = self.log_end_offset.load(Ordering::Acquire);
        let mut n = 0;
        for (i, seg) in segs.iter().enumerate() {
            let next = segs.get(i + 1).map(|s| &**s);
            let upper = next.map_or(leo, |s| s.base_offset());
            let last_and_empty = next.is_none() && seg.size() == 0;
            if hw >= upper && !last_and_empty && predicate(seg, next) {
                n += 1;
            } else {
                break;
            }
        }
        if n == 0 {
            return Ok(0);
        }
        let segs = if n == segs.len() {
            let config = self.config();
            self.watch(self.roll_to(leo, &config, self.clock.now_ms()))?;
            self.segments()
        } else {
            segs
        };
        let (gone, kept) = segs.split_at(n);
        self.publish_segments(kept.to_vec());
        if let Some(first) = kept.first() {
            self.advance_log_start(first.base_offset())?;
            self.watch(self.delete_producer_files_below(first.base_offset()))?;
        }
        let due = self.clock.now_ms().saturating_add(self.config().file_delete_delay_ms);
        for seg in gone {
            tracing::info!(segment = %seg.log_path().display(), reason, "deleting segment");
            self.watch(seg.change_suffix("", DELETED_SUFFIX))?;
            self.pending_deletes.lock_or_recover().push((due, Arc::clone(seg)));
        }
        Ok(n)
    }

    /// Removes `.deleted` files whose delay has passed (all of them when
    /// `all`).
    pub fn remove_deleted_segments(&self, all: bool) {
        let now = self.clock.now_ms();
        let mut pending = self.pending_deletes.lock_or_recover();
        pending.retain(|(due, seg)| {
            if !all && *due > now {
                return true;
            }
            if let Err(e) = seg.delete_files() {
                tracing::warn!("removing deleted segment: {e}");
            }
            false
        });
    }
}
