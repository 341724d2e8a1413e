//! The partition log: a directory of segments holding RecordBatch v2 bytes
//! exactly as producers sent them, with sparse memory-mapped indexes,
//! crash recovery, retention and compaction. It knows files only: no
//! sockets, no tokio, no request types. A read returns a [`FileSlice`] that
//! the broker turns into `sendfile`.
//!
//! Concurrency: one writer at a time (the `writer` mutex serializes
//! appends, rolls, truncation, retention and cleaning swaps); any number of
//! readers, which take no lock held across I/O. Readers snapshot the
//! segment list (an `Arc` swapped under a short `RwLock`) and the log end
//! offset, and read only below each segment's committed size, so they never
//! see a partially written batch and never wait for the writer's disk I/O.
//!
//! Lock order: `LogManager::logs` → `Log::writer` → `Log::segments` →
//! leader-epoch cache / recovery point → an index's map lock.

mod checkpoint;
pub mod cleaner;
mod config;
mod error;
mod file_slice;
mod flusher;
mod index;
mod leader_epoch;
pub mod manager;
mod mmap;
pub mod offset_index;
mod recovery;
mod retention;
pub mod segment;
pub mod time_index;
mod validate;

/// What a produce request's records go through before any file is
/// touched, reachable only from the fuzz targets in fuzz/ (`--cfg fuzzing`).
#[cfg(fuzzing)]
pub mod fuzzing {
    /// Validates `buf` as the leader (every check) or as a follower.
    pub fn validate(
        buf: &[u8],
        config: &super::LogConfig,
        leader: bool,
    ) -> Result<usize, super::Error> {
        super::validate::validate(buf, config, leader).map(|batches| batches.len())
    }
}

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

pub use checkpoint::{
    LEADER_EPOCH_CHECKPOINT, LOG_START_OFFSET_CHECKPOINT, RECOVERY_POINT_CHECKPOINT,
    REPLICATION_OFFSET_CHECKPOINT,
};
pub use config::{CleanupPolicy, ConfigError, LogConfig};
pub use error::Error;
pub use file_slice::FileSlice;
pub use leader_epoch::{EpochEntry, LeaderEpochCache};
pub use manager::LogManager;
pub use offset_index::IndexEntry;
pub use segment::LogSegment;
pub use time_index::TimestampOffset;

use crate::record::{RecordBatchMut, TimestampType};
use crate::time::Clock;
use crate::types::{LeaderEpoch, Offset, ProducerId, TopicPartition};
use segment::AppendedBatch;

/// What an append did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogAppendInfo {
    pub first_offset: Offset,
    pub last_offset: Offset,
    pub max_timestamp: i64,
    pub offset_of_max_timestamp: Offset,
    /// The broker time stamped into the batches; -1 unless LogAppendTime.
    pub log_append_time: i64,
    pub log_start_offset: Offset,
    pub num_records: u32,
    pub valid_bytes: usize,
}

/// What a read found.
#[derive(Clone, Debug)]
pub struct FetchDataInfo {
    /// `None` when there is nothing to read at the requested offset.
    pub slice: Option<FileSlice>,
    pub log_start_offset: Offset,
    pub log_end_offset: Offset,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampAndOffset {
    pub timestamp: i64,
    pub offset: Offset,
    pub leader_epoch: Option<LeaderEpoch>,
}

/// A batch's header facts, for rebuilding idempotent-producer state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchMetadata {
    pub base_offset: Offset,
    pub last_offset: Offset,
    pub producer_id: ProducerId,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub last_sequence: i32,
    pub max_timestamp: i64,
    pub leader_epoch: LeaderEpoch,
    pub is_transactional: bool,
    pub is_control: bool,
    /// A transaction marker's content (control batches only).
    pub marker: Option<crate::record::control::EndTxnMarker>,
}

/// Kafka's special ListOffsets timestamps.
pub const LATEST_TIMESTAMP: i64 = -1;
pub const EARLIEST_TIMESTAMP: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;

/// A log directory's health, shared by all its logs: the first storage
/// failure takes it offline for good (Kafka's `LogDirFailureChannel`). A
/// full disk does not: the write that found it full fails, reads go on,
/// and writes work again once space is freed.
#[derive(Debug)]
pub struct LogDirState {
    dir: PathBuf,
    offline: AtomicBool,
    /// A write failed for lack of space and none has succeeded since; only
    /// the first failure and the recovery are logged.
    out_of_space: AtomicBool,
    /// Flushes the segments its logs roll away from.
    flusher: flusher::Flusher,
}

impl LogDirState {
    pub fn new(dir: &Path) -> Arc<Self> {
        Arc::new(Self {
            dir: dir.to_path_buf(),
            offline: AtomicBool::new(false),
            out_of_space: AtomicBool::new(false),
            flusher: Default::default(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
    }

    pub fn mark_offline(&self, cause: &Error) {
        if !self.offline.swap(true, Ordering::AcqRel) {
            tracing::error!(
                "log dir {} is offline after an I/O error: {cause}",
                self.dir.display()
            );
        }
    }

    /// Takes the dir offline for a storage failure; notes a full disk.
    pub fn record_error(&self, e: &Error) {
        match e {
            Error::Io { source, .. } if error::is_out_of_space(source) => self.out_of_space(e),
            Error::Io { .. } => self.mark_offline(e),
            _ => {}
        }
    }

    fn out_of_space(&self, e: &Error) {
        if !self.out_of_space.swap(true, Ordering::AcqRel) {
            tracing::error!(
                "{e}; writes to log dir {} fail until space is freed, reads go on",
                self.dir.display()
            );
        }
    }

    /// A write succeeded: the dir has space again, if it had none.
    pub fn record_write(&self) {
        if self.out_of_space.load(Ordering::Relaxed)
            && self.out_of_space.swap(false, Ordering::AcqRel)
        {
            tracing::info!("log dir {} takes writes again", self.dir.display());
        }
    }
}

/// The recovery point and a generation bumped by every truncation, so a
/// flush that finishes after a truncation cannot move the point past
/// data that no longer exists.
struct RecoveryPoint {
    state: Mutex<(i64, u64)>,
}

impl RecoveryPoint {
    fn lock(&self) -> MutexGuard<'_, (i64, u64)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn get(&self) -> i64 {
        self.lock().0
    }
    fn generation(&self) -> u64 {
        self.lock().1
    }
    fn advance_if(&self, generation: u64, to: i64) {
        let mut s = self.lock();
        if s.1 == generation && to > s.0 {
            s.0 = to;
        }
    }
    fn truncate(&self, to: i64) {
        let mut s = self.lock();
        s.1 += 1;
        s.0 = s.0.min(to);
    }
    fn reset(&self, to: i64) {
        let mut s = self.lock();
        s.1 += 1;
        s.0 = to;
    }
}

/// How [`Log::open_with`] opens a log.
#[derive(Clone, Default)]
pub struct LogOpenOptions {
    /// The dir holds Kafka's `.kafka_cleanshutdown` marker: trust the files
    /// and skip the recovery scan.
    pub had_clean_shutdown: bool,
    /// The state shared by all logs of the same log dir.
    pub dir_state: Option<Arc<LogDirState>>,
}

type Segments = Arc<Vec<Arc<LogSegment>>>;

pub struct Log {
    dir: PathBuf,
    topic_partition: Option<TopicPartition>,
    config: RwLock<LogConfig>,
    clock: Arc<dyn Clock>,
    writer: Mutex<()>,
    segments: RwLock<Segments>,
    log_end_offset: Arc<AtomicI64>,
    log_start_offset: AtomicI64,
    /// -1 until the broker reports one; bounds what retention may delete.
    high_watermark: AtomicI64,
    recovery_point: Arc<RecoveryPoint>,
    unflushed_messages: AtomicU64,
    last_flush_ms: AtomicI64,
    epoch_cache: LeaderEpochCache,
    dir_state: Arc<LogDirState>,
    closed: AtomicBool,
    /// Segments renamed `.deleted`, removed once `file.delete.delay.ms` passes.
    pending_deletes: Mutex<Vec<(i64, Arc<LogSegment>)>>,
    /// Offset up to which the cleaner has compacted (exclusive).
    cleaner_checkpoint: AtomicI64,
}

/// Parses `<topic>-<partition>` (also with Kafka's `.<id>-delete` suffix
/// stripped by the caller).
pub fn parse_dir_name(name: &str) -> Option<TopicPartition> {
    let (topic, partition) = name.rsplit_once('-')?;
    let partition: i32 = partition.parse().ok()?;
    if topic.is_empty() || partition < 0 {
        return None;
    }
    Some(TopicPartition::new(topic, partition))
}

/// The longest file name Linux file systems take (NAME_MAX), which every
/// name derived from a topic must fit.
const MAX_FILE_NAME_BYTES: usize = 255;

/// Kafka's `logDeleteDirName`: `<topic>-<partition>.<id>-delete`, with the
/// topic cut so the whole name fits [`MAX_FILE_NAME_BYTES`] (a legal topic
/// has up to 249 characters; the suffix adds up to 51 more).
pub fn delete_dir_name(tp: &TopicPartition) -> String {
    let suffix = format!("-{}.{}-delete", tp.partition.0, uuid::Uuid::new_v4().simple());
    let mut keep = tp.topic.len().min(MAX_FILE_NAME_BYTES.saturating_sub(suffix.len()));
    while !tp.topic.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{suffix}", &tp.topic[..keep])
}

impl Log {
    /// Opens the log in `dir` (created if missing) after an unclean stop:
    /// segments holding offsets at or past `recovery_point` are scanned,
    /// torn or corrupt tails cut and their indexes rebuilt.
    pub fn open(
        dir: &Path,
        config: LogConfig,
        recovery_point: Offset,
        log_start_offset: Offset,
        clock: Arc<dyn Clock>,
    ) -> Result<Log, Error> {
        Self::open_with(
            dir,
            config,
            recovery_point,
            log_start_offset,
            clock,
            LogOpenOptions::default(),
        )
    }

    pub fn open_with(
        dir: &Path,
        config: LogConfig,
        recovery_point: Offset,
        log_start_offset: Offset,
        clock: Arc<dyn Clock>,
        options: LogOpenOptions,
    ) -> Result<Log, Error> {
        let dir_state = options
            .dir_state
            .unwrap_or_else(|| LogDirState::new(dir.parent().unwrap_or(Path::new("."))));
        if dir_state.is_offline() {
            return Err(Error::LogDirOffline { dir: dir_state.dir.clone() });
        }
        let result = recovery::load(
            dir,
            &config,
            recovery_point.0,
            log_start_offset.0,
            &*clock,
            options.had_clean_shutdown,
        );
        let loaded = match result {
            Ok(l) => l,
            Err(e) => {
                dir_state.record_error(&e);
                return Err(e);
            }
        };
        let log_end_offset = Arc::new(AtomicI64::new(loaded.log_end_offset));
        let epoch_cache = LeaderEpochCache::load(
            &dir.join(LEADER_EPOCH_CHECKPOINT),
            Arc::clone(&log_end_offset),
        )?;
        epoch_cache.truncate_from_end(Offset(loaded.log_end_offset))?;
        epoch_cache.truncate_from_start(Offset(loaded.log_start_offset))?;
        let now = clock.now_ms();
        let log = Log {
            dir: dir.to_path_buf(),
            topic_partition: dir.file_name().and_then(|n| parse_dir_name(&n.to_string_lossy())),
            config: RwLock::new(config),
            clock,
            writer: Mutex::new(()),
            segments: RwLock::new(Arc::new(loaded.segments)),
            log_end_offset,
            log_start_offset: AtomicI64::new(loaded.log_start_offset),
            high_watermark: AtomicI64::new(-1),
            recovery_point: Arc::new(RecoveryPoint {
                state: Mutex::new((loaded.recovery_point, 0)),
            }),
            unflushed_messages: AtomicU64::new(0),
            last_flush_ms: AtomicI64::new(now),
            epoch_cache,
            dir_state,
            closed: AtomicBool::new(false),
            pending_deletes: Mutex::new(Vec::new()),
            cleaner_checkpoint: AtomicI64::new(loaded.log_start_offset),
        };
        Ok(log)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// An I/O error took this log's dir offline; reads and writes fail.
    pub fn is_dir_offline(&self) -> bool {
        self.dir_state.is_offline()
    }

    pub fn topic_partition(&self) -> Option<&TopicPartition> {
        self.topic_partition.as_ref()
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.dir_state.is_offline() {
            return Err(Error::LogDirOffline { dir: self.dir_state.dir.clone() });
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed { dir: self.dir.clone() });
        }
        Ok(())
    }

    /// Passes `r` through; a storage failure takes the log dir offline.
    fn watch<T>(&self, r: Result<T, Error>) -> Result<T, Error> {
        if let Err(e) = &r {
            self.dir_state.record_error(e);
        }
        r
    }

    fn lock_writer(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn segments(&self) -> Segments {
        Arc::clone(&self.segments.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn publish_segments(&self, segments: Vec<Arc<LogSegment>>) {
        *self.segments.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(segments);
    }

    fn active_segment(&self) -> Arc<LogSegment> {
        let segs = self.segments();
        // A log always has at least one segment (open and truncation create one).
        Arc::clone(segs.last().expect("a log has an active segment"))
    }

    pub fn log_start_offset(&self) -> Offset {
        Offset(self.log_start_offset.load(Ordering::Acquire))
    }

    pub fn log_end_offset(&self) -> Offset {
        Offset(self.log_end_offset.load(Ordering::Acquire))
    }

    pub fn recovery_point(&self) -> Offset {
        Offset(self.recovery_point.get())
    }

    /// The broker's high watermark, which bounds what retention may delete
    /// (data not yet replicated is never deleted). Until it is set the
    /// log end offset stands in for it, as with one replica.
    pub fn update_high_watermark(&self, hw: Offset) {
        let hw = hw.0.clamp(
            self.log_start_offset.load(Ordering::Acquire),
            self.log_end_offset.load(Ordering::Acquire),
        );
        self.high_watermark.store(hw, Ordering::Release);
    }

    /// The high watermark last reported (or loaded from the
    /// `replication-offset-checkpoint`); `None` until there is one.
    pub fn high_watermark(&self) -> Option<Offset> {
        let hw = self.high_watermark.load(Ordering::Acquire);
        (hw >= 0).then_some(Offset(hw))
    }

    fn high_watermark_or_leo(&self) -> i64 {
        let hw = self.high_watermark.load(Ordering::Acquire);
        let leo = self.log_end_offset.load(Ordering::Acquire);
        if hw < 0 {
            leo
        } else {
            hw.min(leo)
        }
    }

    pub fn config(&self) -> LogConfig {
        self.config.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn update_config(&self, c: LogConfig) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = c;
    }

    pub fn leader_epoch_cache(&self) -> &LeaderEpochCache {
        &self.epoch_cache
    }

    pub fn size_in_bytes(&self) -> u64 {
        self.segments().iter().map(|s| s.size()).sum()
    }

    pub fn number_of_segments(&self) -> usize {
        self.segments().len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<Offset> {
        self.segments().iter().map(|s| Offset(s.base_offset())).collect()
    }

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

    /// Validates batches from a producer, assigns them offsets by stamping
    /// base offset and `leader_epoch` into each header in place (compressed
    /// batches stay compressed; only LogAppendTime, or a max timestamp that
    /// disagrees with the records, rewrites a CRC), and appends the bytes.
    pub fn append_as_leader(
        &self,
        batches: &mut [u8],
        leader_epoch: LeaderEpoch,
    ) -> Result<LogAppendInfo, Error> {
        self.append(batches, Some(leader_epoch))
    }

    /// Appends batches a leader already assigned offsets to.
    pub fn append_as_follower(&self, batches: &mut [u8]) -> Result<LogAppendInfo, Error> {
        self.append(batches, None)
    }

    fn append(
        &self,
        buf: &mut [u8],
        leader_epoch: Option<LeaderEpoch>,
    ) -> Result<LogAppendInfo, Error> {
        self.check_open()?;
        let config = self.config();
        // CPU-only validation runs before taking the writer lock.
        let mut batches = validate::validate(buf, &config, leader_epoch.is_some())?;
        let _w = self.lock_writer();
        self.check_open()?;
        let leo = self.log_end_offset.load(Ordering::Acquire);
        let log_start_offset = self.log_start_offset();
        if batches.is_empty() {
            return Ok(LogAppendInfo {
                first_offset: Offset(leo),
                last_offset: Offset(leo - 1),
                max_timestamp: -1,
                offset_of_max_timestamp: Offset(-1),
                log_append_time: -1,
                log_start_offset,
                num_records: 0,
                valid_bytes: 0,
            });
        }
        let now = self.clock.now_ms();
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
        Ok(LogAppendInfo {
            first_offset: Offset(first_offset),
            last_offset: Offset(last_offset),
            max_timestamp: max_ts,
            offset_of_max_timestamp: Offset(offset_of_max),
            log_append_time,
            log_start_offset,
            num_records,
            valid_bytes: total,
        })
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
        let used = active.size();
        let full_or_old = used + size as u64 > config.segment_bytes
            || active.time_waited_for_roll(now, max_timestamp) > config.segment_ms;
        let should = (used > 0 && full_or_old)
            || active.indexes_full()
            || last_offset - active.base_offset() > i64::from(i32::MAX);
        if !should {
            return Ok(active);
        }
        let new_base = first_offset.max(self.log_end_offset.load(Ordering::Acquire));
        self.roll_to(new_base, config, now)
    }

    /// Starts a new active segment at `new_base`; the old one is trimmed and
    /// flushed in the background, then the recovery point moves past it.
    fn roll_to(
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
        if let Some(old) = old.filter(|o| o.size() > 0) {
            let rp = Arc::clone(&self.recovery_point);
            let generation = rp.generation();
            let dir_state = Arc::clone(&self.dir_state);
            // Queued, not done here: the writer lock is held, and an fsync
            // of a whole segment would stall every producer to this log.
            self.dir_state.flusher.submit(move || match old.flush() {
                Ok(()) => rp.advance_if(generation, new_base),
                Err(e) => dir_state.mark_offline(&e),
            });
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
        let mut i = segs.partition_point(|s| s.base_offset() <= start.0).saturating_sub(1);
        while let Some(seg) = segs.get(i) {
            let next_base = segs.get(i + 1).map(|s| s.base_offset());
            let max_position = if next_base.is_none_or(|n| bound < n) && bound < leo {
                match self.watch(seg.translate_offset(bound, 0))? {
                    Some((pos, _)) => pos,
                    None => seg.size(),
                }
            } else {
                seg.size()
            };
            if let Some(slice) =
                self.watch(seg.read(start.0, max_bytes, max_position, min_one_message))?
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

    /// fsyncs everything appended so far and moves the recovery point to
    /// the log end offset. The writer is not blocked during the fsync.
    pub fn flush(&self) -> Result<(), Error> {
        self.check_open()?;
        let generation = self.recovery_point.generation();
        let leo = self.log_end_offset.load(Ordering::Acquire);
        let rp = self.recovery_point.get();
        let unflushed = self.unflushed_messages.swap(0, Ordering::AcqRel);
        let segs = self.segments();
        let first = segs.partition_point(|s| s.base_offset() <= rp).saturating_sub(1);
        for seg in segs.iter().skip(first) {
            if let Err(e) = seg.flush() {
                // Even ENOSPC: after a failed fsync the kernel may have
                // dropped the dirty pages, so what the log holds is unknown.
                self.dir_state.mark_offline(&e);
                self.unflushed_messages.fetch_add(unflushed, Ordering::AcqRel);
                return Err(e);
            }
        }
        self.recovery_point.advance_if(generation, leo);
        self.last_flush_ms.store(self.clock.now_ms(), Ordering::Release);
        Ok(())
    }

    /// Flushes if `flush.ms` has passed since the last flush.
    pub fn maybe_flush_by_time(&self) -> Result<(), Error> {
        let flush_ms = self.config().flush_ms;
        let since = self.clock.now_ms().saturating_sub(self.last_flush_ms.load(Ordering::Acquire));
        if flush_ms < i64::MAX && since >= flush_ms && self.recovery_point() < self.log_end_offset()
        {
            self.flush()?;
        }
        Ok(())
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
        let first = segs.partition_point(|s| s.base_offset() <= from.0).saturating_sub(1);
        let mut out = Vec::new();
        for seg in segs.iter().skip(first) {
            for item in seg.scan(0, u64::MAX) {
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
                out.push(BatchMetadata {
                    base_offset: Offset(h.base_offset),
                    last_offset: Offset(h.last_offset()),
                    producer_id: ProducerId(h.producer_id),
                    producer_epoch: h.producer_epoch,
                    base_sequence: h.base_sequence,
                    last_sequence: h.last_sequence(),
                    max_timestamp: h.max_timestamp,
                    leader_epoch: LeaderEpoch(h.partition_leader_epoch),
                    is_transactional: h.is_transactional(),
                    is_control: h.is_control(),
                    marker,
                });
            }
        }
        Ok(out)
    }

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
        self.watch(self.truncate_locked(offset.0, &segs))
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
            self.epoch_cache.clear()
        })();
        self.watch(result)
    }

    /// Flushes, trims the active segment's indexes and refuses later calls.
    pub fn close(&self) -> Result<(), Error> {
        if self.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        if !self.dir_state.is_offline() {
            self.flush()?;
        }
        let _w = self.lock_writer();
        self.closed.store(true, Ordering::Release);
        if !self.dir_state.is_offline() {
            self.watch(self.active_segment().on_become_inactive())?;
            self.remove_deleted_segments(true);
        }
        Ok(())
    }

    /// Closes a log whose directory is about to be removed: nothing is
    /// flushed or trimmed, since none of it will be read again (a flush per
    /// partition made deleting a hundred topics take seconds of fsyncs).
    pub fn close_for_deletion(&self) {
        let _w = self.lock_writer();
        self.closed.store(true, Ordering::Release);
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

#[cfg(test)]
pub(crate) mod tests;
