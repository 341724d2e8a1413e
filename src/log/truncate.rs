//! Truncation: a follower cutting back to its leader's log, or starting
//! over at an offset outside it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Error, Log, LogSegment, Segments};
use crate::types::Offset;

impl Log {
    /// Removes everything at or past `offset` (a follower diverged from its
    /// leader). A batch straddling `offset` goes entirely, so the new log
    /// end offset may be below `offset`.
    pub fn truncate_to(&self, offset: Offset) -> Result<(), Error> {
        self.check_open()?;
        let _w = self.lock_writer();
        let leo = self.log_end_offset.load(Ordering::Acquire);
        if offset.0 >= leo {
            return Ok(());
        }
        let segs = self.segments();
        if segs.first().is_some_and(|s| offset.0 < s.base_offset())
            || offset.0 < self.log_start_offset().0
        {
            drop(_w);
            return self.truncate_fully_and_start_at(offset);
        }
        let result = self.truncate_locked(offset.0, &segs);
        // Counted even when it failed part way: some of it may be done.
        self.recovery_point.note_change();
        self.watch(result)
    }

    fn truncate_locked(&self, offset: i64, segs: &Segments) -> Result<(), Error> {
        let keep = segs.partition_point(|s| s.base_offset() < offset).max(1);
        let (kept, removed) = segs.split_at(keep);
        let mut list: Vec<Arc<LogSegment>> = kept.to_vec();
        self.recovery_point.truncate(offset);
        self.publish_segments(list.clone());
        for seg in removed {
            seg.delete_files()?;
        }
        let active = Arc::clone(list.last_mut().expect("kept at least one segment"));
        active.truncate_to(offset)?;
        active.resize_indexes(self.config().segment_index_bytes)?;
        let new_leo = active.next_offset();
        self.log_end_offset.store(new_leo, Ordering::Release);
        // A batch straddling a log start set by DeleteRecords may have gone.
        self.log_start_offset.fetch_min(new_leo, Ordering::AcqRel);
        self.recovery_point.truncate(new_leo);
        let hw = self.high_watermark.load(Ordering::Acquire);
        if hw > new_leo {
            self.high_watermark.store(new_leo, Ordering::Release);
        }
        self.cleaner_checkpoint.fetch_min(new_leo, Ordering::AcqRel);
        // A snapshot past the new end describes batches that are gone.
        self.forget_producer_snapshot_if(|at| at > new_leo);
        self.epoch_cache.truncate_from_end(Offset(new_leo))
    }

    /// Deletes everything and starts empty at `offset` (a follower far
    /// behind or ahead of the leader's log start).
    pub fn truncate_fully_and_start_at(&self, offset: Offset) -> Result<(), Error> {
        self.check_open()?;
        let _w = self.lock_writer();
        let config = self.config();
        let result = (|| {
            let segs = self.segments();
            let seg = Arc::new(LogSegment::create_with_suffix(
                &self.dir,
                offset.0,
                config.segment_index_bytes,
                self.clock.now_ms(),
                ".new",
            )?);
            self.recovery_point.reset(offset.0);
            for s in segs.iter() {
                s.delete_files()?;
            }
            seg.change_suffix(".new", "")?;
            self.publish_segments(vec![seg]);
            self.log_end_offset.store(offset.0, Ordering::Release);
            self.log_start_offset.store(offset.0, Ordering::Release);
            self.high_watermark.store(
                offset.0.min(self.high_watermark.load(Ordering::Acquire)).max(-1),
                Ordering::Release,
            );
            self.cleaner_checkpoint.store(offset.0, Ordering::Release);
            self.delete_producer_files_below(i64::MAX)?;
            self.epoch_cache.clear()
        })();
        self.recovery_point.note_change();
        self.watch(result)
    }
}
