//! Appending: validation, offset assignment in place, and rolling to a new
//! segment when the active one is full or old. Appends, rolls and every
//! other change to the segment list hold the log's writer lock.
//!
//! Most appends are one positioned `write` into the page cache of the
//! active segment plus a few stores into its memory-mapped indexes: no
//! more than Kafka's request threads do with every produce. A caller on an
//! async worker thread may do those itself ([`Log::try_append_as_leader_inline`]);
//! whatever can wait for the disk (a roll creating files, an fsync from
//! `flush.messages`, a leader-epoch checkpoint, index blocks to allocate, a
//! writer lock held by one of those) is refused before anything changes,
//! and the caller repeats the append where blocking is allowed.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::segment::AppendedBatch;
use super::{validate, Error, Log, LogAppendInfo, LogConfig, LogSegment};
use crate::record::{RecordBatchMut, TimestampType};
use crate::types::{LeaderEpoch, Offset};

/// The answer of an append that may block, which is never refused.
fn blocking(info: Option<LogAppendInfo>) -> LogAppendInfo {
    info.expect("only inline appends are refused")
}

impl Log {
    /// Validates batches from a producer, assigns them offsets by stamping
    /// base offset and `leader_epoch` into each header in place (compressed
    /// batches stay compressed; only LogAppendTime, or a max timestamp that
    /// disagrees with the records, rewrites a CRC), and appends the bytes.
    pub fn append_as_leader(
        &self,
        batches: &mut [u8],
        leader_epoch: LeaderEpoch,
    ) -> Result<LogAppendInfo, Error> {
        self.append(batches, Some(leader_epoch), None).map(blocking)
    }

    /// [`Self::append_as_leader`] for a caller that must not block: done
    /// only if it stays in the page cache of the active segment, which
    /// must still be the one based at `active_base` (see the module
    /// comment). `Ok(None)`: nothing changed, not even `batches`; append
    /// them on a thread that may block.
    pub fn try_append_as_leader_inline(
        &self,
        batches: &mut [u8],
        leader_epoch: LeaderEpoch,
        active_base: i64,
    ) -> Result<Option<LogAppendInfo>, Error> {
        self.append(batches, Some(leader_epoch), Some(active_base))
    }

    /// Appends batches a leader already assigned offsets to.
    pub fn append_as_follower(&self, batches: &mut [u8]) -> Result<LogAppendInfo, Error> {
        self.append(batches, None, None).map(blocking)
    }

    /// `inline`: the active segment base an inline append expects; `None`
    /// for a caller that may block, which is never refused.
    fn append(
        &self,
        buf: &mut [u8],
        leader_epoch: Option<LeaderEpoch>,
        inline: Option<i64>,
    ) -> Result<Option<LogAppendInfo>, Error> {
        self.check_open()?;
        let config = self.config();
        // CPU-only validation runs before taking the writer lock.
        let mut batches = validate::validate(buf, &config, leader_epoch.is_some())?;
        let _w = match inline {
            None => self.lock_writer(),
            Some(_) => match self.try_lock_writer() {
                Some(w) => w,
                None => return Ok(None),
            },
        };
        self.check_open()?;
        let leo = self.log_end_offset.load(Ordering::Acquire);
        let log_start_offset = self.log_start_offset();
        if batches.is_empty() {
            return Ok(Some(LogAppendInfo {
                first_offset: Offset(leo),
                last_offset: Offset(leo - 1),
                max_timestamp: -1,
                offset_of_max_timestamp: Offset(-1),
                log_append_time: -1,
                log_start_offset,
                num_records: 0,
                valid_bytes: 0,
            }));
        }
        let now = self.clock.now_ms();
        if let (Some(active_base), Some(epoch)) = (inline, leader_epoch) {
            let records = batches.iter().map(|b| u64::from(b.records)).sum();
            if !self.appends_in_page_cache(
                &config,
                &batches,
                buf.len(),
                records,
                epoch,
                now,
                active_base,
            ) {
                return Ok(None);
            }
        }
        let mut log_append_time = -1;
        if let Some(epoch) = leader_epoch {
            let mut next = leo;
            let append_time = config.message_timestamp_type == TimestampType::LogAppendTime;
            for b in &mut batches {
                let bytes = &mut buf[b.position..b.position + b.size];
                let mut m = RecordBatchMut::new(bytes)?;
                m.set_base_offset(next);
                m.set_partition_leader_epoch(epoch.0);
                if append_time {
                    m.set_log_append_time(now);
                    b.max_timestamp = now;
                    b.offset_delta_of_max_timestamp = b.last_offset_delta;
                } else if b.max_timestamp != b.header_max_timestamp
                    || b.timestamp_type != TimestampType::CreateTime
                {
                    m.set_max_timestamp(b.max_timestamp);
                }
                b.base_offset = next;
                b.partition_leader_epoch = epoch.0;
                next += i64::from(b.last_offset_delta) + 1;
            }
            if append_time {
                log_append_time = now;
            }
        } else if batches[0].base_offset < leo {
            return Err(Error::UnexpectedAppendOffset {
                first_offset: batches[0].base_offset,
                log_end: leo,
            });
        }
        let first_offset = batches[0].base_offset;
        let last = batches[batches.len() - 1];
        let last_offset = last.base_offset + i64::from(last.last_offset_delta);
        let total = buf.len();
        let (mut max_ts, mut offset_of_max) = (i64::MIN, first_offset);
        let mut num_records = 0u32;
        let appended: Vec<AppendedBatch> = batches
            .iter()
            .map(|b| {
                if b.max_timestamp > max_ts {
                    max_ts = b.max_timestamp;
                    offset_of_max = b.base_offset + i64::from(b.offset_delta_of_max_timestamp);
                }
                num_records = num_records.saturating_add(b.records);
                AppendedBatch {
                    position: b.position,
                    size: b.size,
                    last_offset: b.base_offset + i64::from(b.last_offset_delta),
                    max_timestamp: b.max_timestamp,
                }
            })
            .collect();
        let segment =
            self.watch(self.maybe_roll(&config, total, first_offset, last_offset, max_ts, now))?;
        // Epochs are checkpointed before the data, as in Kafka: a checkpoint
        // that cannot be written (a full disk) then fails the append before
        // anything is in the log, rather than after it.
        self.watch(self.epoch_cache.write_if_stale())?;
        for b in &batches {
            if b.partition_leader_epoch >= 0 {
                self.watch(
                    self.epoch_cache
                        .assign(LeaderEpoch(b.partition_leader_epoch), Offset(b.base_offset)),
                )?;
            }
        }
        self.watch(segment.append(buf, &appended, config.index_interval_bytes))?;
        self.dir_state.record_write();
        self.log_end_offset.store(last_offset + 1, Ordering::Release);
        let unflushed = self.unflushed_messages.fetch_add(u64::from(num_records), Ordering::AcqRel)
            + u64::from(num_records);
        drop(_w);
        if config.flush_messages > 0 && unflushed >= config.flush_messages as u64 {
            self.flush()?;
        }
        Ok(Some(LogAppendInfo {
            first_offset: Offset(first_offset),
            last_offset: Offset(last_offset),
            max_timestamp: max_ts,
            offset_of_max_timestamp: Offset(offset_of_max),
            log_append_time,
            log_start_offset,
            num_records,
            valid_bytes: total,
        }))
    }

    /// Whether appending `batches` (validated, `size` bytes, `records`
    /// records, not yet stamped) at the log end in `epoch` is a write into
    /// the active segment based at `active_base` and nothing more: no roll,
    /// no `flush.messages` fsync, no epoch checkpoint, no index blocks to
    /// allocate. Called under the writer lock, so the answer holds for the
    /// append that follows.
    #[allow(clippy::too_many_arguments)]
    fn appends_in_page_cache(
        &self,
        config: &LogConfig,
        batches: &[validate::ValidatedBatch],
        size: usize,
        records: u64,
        epoch: LeaderEpoch,
        now: i64,
        active_base: i64,
    ) -> bool {
        let active = self.active_segment();
        if active.base_offset() != active_base || !active.indexes_reserved(batches.len()) {
            return false;
        }
        let leo = self.log_end_offset.load(Ordering::Acquire);
        let messages: i64 = batches.iter().map(|b| i64::from(b.last_offset_delta) + 1).sum();
        // As the append will stamp them.
        let max_timestamp = if config.message_timestamp_type == TimestampType::LogAppendTime {
            now
        } else {
            batches.iter().map(|b| b.max_timestamp).max().unwrap_or(i64::MIN)
        };
        if self.should_roll(config, &active, size, leo + messages - 1, max_timestamp, now) {
            return false;
        }
        let unflushed = self.unflushed_messages.load(Ordering::Acquire).saturating_add(records);
        if config.flush_messages > 0 && unflushed >= config.flush_messages as u64 {
            return false;
        }
        self.epoch_cache.try_is_assigned(epoch, Offset(leo))
    }

    /// Rolls to a new segment when the active one is full by size, age,
    /// index space or offset range (Kafka's `LogSegment.shouldRoll`).
    fn maybe_roll(
        &self,
        config: &LogConfig,
        size: usize,
        first_offset: i64,
        last_offset: i64,
        max_timestamp: i64,
        now: i64,
    ) -> Result<Arc<LogSegment>, Error> {
        let active = self.active_segment();
        if !self.should_roll(config, &active, size, last_offset, max_timestamp, now) {
            return Ok(active);
        }
        let new_base = first_offset.max(self.log_end_offset.load(Ordering::Acquire));
        self.roll_to(new_base, config, now)
    }

    /// Kafka's `LogSegment.shouldRoll` for `size` more bytes up to
    /// `last_offset`.
    fn should_roll(
        &self,
        config: &LogConfig,
        active: &LogSegment,
        size: usize,
        last_offset: i64,
        max_timestamp: i64,
        now: i64,
    ) -> bool {
        let used = active.size();
        let full_or_old = used + size as u64 > config.segment_bytes
            || active.time_waited_for_roll(now, max_timestamp) > config.segment_ms;
        (used > 0 && full_or_old)
            || active.indexes_full()
            || last_offset - active.base_offset() > i64::from(i32::MAX)
    }

    /// Starts a new active segment at `new_base`; the old one is trimmed and
    /// flushed in the background, then the recovery point moves past it.
    pub(super) fn roll_to(
        &self,
        new_base: i64,
        config: &LogConfig,
        now: i64,
    ) -> Result<Arc<LogSegment>, Error> {
        let segs = self.segments();
        let mut list: Vec<Arc<LogSegment>> = segs.iter().cloned().collect();
        let old = list.last().cloned();
        if let Some(old) = &old {
            if old.base_offset() == new_base {
                // Nothing to roll from: the active segment is empty at this offset.
                return Ok(Arc::clone(old));
            }
            if old.size() == 0 {
                // An empty active segment below a follower's gap is replaced.
                list.pop();
                old.delete_files()?;
            } else {
                old.on_become_inactive()?;
            }
        }
        let seg =
            Arc::new(LogSegment::create(&self.dir, new_base, config.segment_index_bytes, now)?);
        list.push(Arc::clone(&seg));
        self.publish_segments(list);
        // The new segment's files are not synced; the old one's flush below
        // moves the recovery point but does not cover them.
        self.recovery_point.note_change();
        if let Some(old) = old.filter(|o| o.size() > 0) {
            let rp = Arc::clone(&self.recovery_point);
            let generation = rp.generation();
            let dir_state = Arc::clone(&self.dir_state);
            // Queued, not done here: the writer lock is held, and an fsync
            // of a whole segment would stall every producer to this log.
            // Only when no flusher thread can run does the roll do it.
            let flush = move || match old.flush() {
                Ok(()) => rp.advance_if(generation, new_base),
                Err(e) => dir_state.mark_offline(&e),
            };
            if let Err(flush) = self.dir_state.flusher.submit(flush) {
                flush();
            }
        }
        Ok(seg)
    }

    /// Rolls the active segment now (if it holds data).
    pub fn roll(&self) -> Result<(), Error> {
        self.check_open()?;
        let _w = self.lock_writer();
        let config = self.config();
        let leo = self.log_end_offset.load(Ordering::Acquire);
        self.watch(self.roll_to(leo, &config, self.clock.now_ms())).map(|_| ())
    }
}
