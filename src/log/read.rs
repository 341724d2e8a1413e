//! Reading: fetches as file slices, and the lookups by offset and time
//! that ListOffsets and the broker's producer-state rebuild use. Readers
//! take no lock held across I/O.

use std::sync::atomic::Ordering;

use super::segment::{index_holding, Wait};
use super::{
    BatchMetadata, Error, FetchDataInfo, Log, TimestampAndOffset, EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP, MAX_TIMESTAMP,
};
use crate::types::{LeaderEpoch, Offset};

impl Log {
    /// The offsets ListOffsets v0 answers (Kafka's `legacyFetchOffsetsBefore`):
    /// each segment's base offset paired with its file's modification time,
    /// plus the log end offset at `now_ms` when the active segment holds
    /// data; latest (-1) starts from the newest entry, earliest (-2) from
    /// the oldest, any other time from the newest entry modified at or
    /// before it. At most `max` offsets, newest first.
    pub fn legacy_offsets_before(&self, timestamp: i64, max: i32, now_ms: i64) -> Vec<i64> {
        let segs = self.segments();
        let start = self.log_start_offset().0;
        let mut entries: Vec<(i64, i64)> =
            segs.iter().map(|s| (s.base_offset().max(start), s.last_modified_ms())).collect();
        if segs.last().is_some_and(|s| s.size() > 0) {
            entries.push((self.log_end_offset().0, now_ms));
        }
        let from = match timestamp {
            -1 => entries.len(),
            -2 => entries.len().min(1),
            ts => entries.iter().rposition(|e| e.1 <= ts).map_or(0, |i| i + 1),
        };
        let take = usize::try_from(max).unwrap_or(0).min(from);
        let mut offsets: Vec<i64> = entries[..from].iter().rev().take(take).map(|e| e.0).collect();
        offsets.sort_unstable_by(|a, b| b.cmp(a));
        offsets
    }

    /// Whole batches from the one holding `start`, at most `max_bytes`
    /// (at least one batch when `min_one_message`), below `max_offset`
    /// (exclusive; the high watermark for consumers).
    pub fn read(
        &self,
        start: Offset,
        max_bytes: usize,
        max_offset: Option<Offset>,
        min_one_message: bool,
    ) -> Result<FetchDataInfo, Error> {
        self.read_waiting(start, max_bytes, max_offset, min_one_message, Wait::Disk)
    }

    /// [`Log::read`] that may be told not to wait for the disk: under
    /// [`Wait::Never`] (a reactor thread) the same answer when every page it
    /// needs (index, batch headers, the slice itself) is in the page cache,
    /// else [`Error::NotCached`] without having waited.
    pub fn read_waiting(
        &self,
        start: Offset,
        max_bytes: usize,
        max_offset: Option<Offset>,
        min_one_message: bool,
        wait: Wait,
    ) -> Result<FetchDataInfo, Error> {
        self.check_open()?;
        // The end offset is read before the segment list: every offset below
        // it is then in a listed segment, below that segment's committed size.
        let leo = self.log_end_offset.load(Ordering::Acquire);
        let segs = self.segments();
        let log_start = self.log_start_offset.load(Ordering::Acquire);
        let info = |slice| FetchDataInfo {
            slice,
            log_start_offset: Offset(log_start),
            log_end_offset: Offset(leo),
        };
        if start.0 < log_start || start.0 > leo {
            return Err(Error::OffsetOutOfRange { requested: start.0, log_start, log_end: leo });
        }
        let bound = max_offset.map_or(leo, |m| m.0.min(leo));
        if start.0 >= bound {
            return Ok(info(None));
        }
        let mut i = index_holding(&segs, start.0);
        while let Some(seg) = segs.get(i) {
            let next_base = segs.get(i + 1).map(|s| s.base_offset());
            let max_position = if next_base.is_none_or(|n| bound < n) && bound < leo {
                match self.watch(seg.translate_offset(bound, 0, wait))? {
                    Some((pos, _)) => pos,
                    None => seg.size(),
                }
            } else {
                seg.size()
            };
            if let Some(slice) =
                self.watch(seg.read(start.0, max_bytes, max_position, min_one_message, wait))?
            {
                return Ok(info(Some(slice)));
            }
            if next_base.is_none_or(|n| bound <= n) {
                break;
            }
            i += 1;
        }
        Ok(info(None))
    }

    /// The first record with a timestamp at or past `ts`, for ListOffsets.
    /// Also answers Kafka's special values: -1 latest, -2 earliest, -3 the
    /// record with the largest timestamp.
    pub fn fetch_offset_by_timestamp(&self, ts: i64) -> Result<Option<TimestampAndOffset>, Error> {
        self.check_open()?;
        let latest_epoch = self.epoch_cache.latest_epoch();
        match ts {
            LATEST_TIMESTAMP => {
                return Ok(Some(TimestampAndOffset {
                    timestamp: -1,
                    offset: self.log_end_offset(),
                    leader_epoch: latest_epoch,
                }))
            }
            EARLIEST_TIMESTAMP => {
                let start = self.log_start_offset();
                return Ok(Some(TimestampAndOffset {
                    timestamp: -1,
                    offset: start,
                    leader_epoch: self.epoch_cache.epoch_for_offset(start),
                }));
            }
            MAX_TIMESTAMP => return Ok(self.max_timestamp_and_offset()),
            _ => {}
        }
        let log_start = self.log_start_offset.load(Ordering::Acquire);
        for seg in self.segments().iter() {
            if seg.max_timestamp() < ts {
                continue;
            }
            if let Some((timestamp, offset, epoch)) =
                self.watch(seg.find_offset_by_timestamp(ts, log_start))?
            {
                let leader_epoch = (epoch >= 0).then_some(LeaderEpoch(epoch));
                return Ok(Some(TimestampAndOffset {
                    timestamp,
                    offset: Offset(offset),
                    leader_epoch,
                }));
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp (ListOffsets -3, KIP-734).
    pub fn max_timestamp_and_offset(&self) -> Option<TimestampAndOffset> {
        let segs = self.segments();
        let best =
            segs.iter().filter(|s| s.max_timestamp() >= 0).max_by_key(|s| s.max_timestamp())?;
        let offset = Offset(best.offset_of_max_timestamp());
        Some(TimestampAndOffset {
            timestamp: best.max_timestamp(),
            offset,
            leader_epoch: self.epoch_cache.epoch_for_offset(offset),
        })
    }

    /// Headers of every batch from the one holding `from` to the end.
    pub fn batch_headers_from(&self, from: Offset) -> Result<Vec<BatchMetadata>, Error> {
        self.check_open()?;
        let segs = self.segments();
        let first = index_holding(&segs, from.0);
        let mut out = Vec::new();
        for (i, seg) in segs.iter().enumerate().skip(first) {
            // The first segment is read from the index entry below `from`:
            // a scan past a snapshot at the log end reads no batch.
            let start =
                if i == first { u64::from(seg.offset_index().lookup(from.0).position) } else { 0 };
            for item in seg.scan(start, u64::MAX) {
                let (position, h) = self.watch(item.map_err(|e| e.into_error(&seg.log_path())))?;
                if h.last_offset() < from.0 {
                    continue;
                }
                // Markers are one tiny record: reading it costs little, and
                // only control batches pay it.
                let marker = if h.is_control() {
                    let bytes = self.watch(seg.read_bytes(position, h.size()))?;
                    crate::record::RecordBatch::parse(&bytes)
                        .ok()
                        .and_then(|b| crate::record::control::end_txn_marker(&b))
                } else {
                    None
                };
                out.push(BatchMetadata::new(&h, marker));
            }
        }
        Ok(out)
    }
}
