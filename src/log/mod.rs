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

mod append;
mod checkpoint;
pub mod cleaner;
mod cleaner_txn;
mod config;
mod dir_state;
mod error;
mod file_slice;
mod flusher;
mod index;
mod leader_epoch;
pub mod manager;
mod mmap;
pub mod offset_index;
pub mod producer_snapshot;
mod read;
mod recovery;
mod retention;
pub mod segment;
pub mod time_index;
mod truncate;
pub mod txn_index;
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
pub use dir_state::LogDirState;
pub use error::Error;
pub use file_slice::FileSlice;
pub use leader_epoch::{EpochEntry, LeaderEpochCache};
pub use manager::LogManager;
pub use offset_index::IndexEntry;
pub use producer_snapshot::SnapshotEntry;
pub use segment::LogSegment;
pub use time_index::TimestampOffset;
pub use txn_index::AbortedTxnEntry;

use crate::sync::{MutexExt, RwLockExt};
use crate::time::Clock;
use crate::types::{LeaderEpoch, Offset, ProducerId, TopicPartition};

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

/// A batch's header facts, as the idempotent-producer state takes them in
/// (from the log on load, and from a follower's appends).
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

impl BatchMetadata {
    /// The facts of the batch whose header is `h`; `marker` is what a
    /// control batch's record says.
    pub fn new(
        h: &crate::record::BatchHeader,
        marker: Option<crate::record::control::EndTxnMarker>,
    ) -> Self {
        BatchMetadata {
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
        }
    }
}

/// Kafka's special ListOffsets timestamps.
pub const LATEST_TIMESTAMP: i64 = -1;
pub const EARLIEST_TIMESTAMP: i64 = -2;
pub const MAX_TIMESTAMP: i64 = -3;

/// The recovery point and a generation bumped by every truncation, so a
/// flush that finishes after a truncation cannot move the point past
/// data that no longer exists.
///
/// Beside it, a count of the changes to the files that the point cannot
/// show (a truncation, a roll's new segment, what recovery rewrote at
/// open) and the count the last finished flush covered. A log whose point
/// is at its end and whose changes are all covered has nothing a flush
/// would write, and is not synced again (Kafka's `flush` skips a log whose
/// recovery point is not below the offset asked for).
struct RecoveryPoint {
    state: Mutex<RecoveryState>,
}

struct RecoveryState {
    point: i64,
    generation: u64,
    changes: u64,
    flushed_changes: u64,
}

impl RecoveryPoint {
    fn new(point: i64, changed_at_open: bool) -> Self {
        let state = RecoveryState {
            point,
            generation: 0,
            changes: u64::from(changed_at_open),
            flushed_changes: 0,
        };
        RecoveryPoint { state: Mutex::new(state) }
    }
    fn lock(&self) -> MutexGuard<'_, RecoveryState> {
        self.state.lock_or_recover()
    }
    fn get(&self) -> i64 {
        self.lock().point
    }
    fn generation(&self) -> u64 {
        self.lock().generation
    }
    fn advance_if(&self, generation: u64, to: i64) {
        let mut s = self.lock();
        if s.generation == generation && to > s.point {
            s.point = to;
        }
    }
    fn truncate(&self, to: i64) {
        let mut s = self.lock();
        s.generation += 1;
        s.point = s.point.min(to);
    }
    fn reset(&self, to: i64) {
        let mut s = self.lock();
        s.generation += 1;
        s.point = to;
    }
    /// Counts a change to the files once it is complete: a flush that
    /// began before then may have synced the files as they were.
    fn note_change(&self) {
        self.lock().changes += 1;
    }
    /// What a flush starting now works from: the generation, the point,
    /// and the change count it covers if it completes.
    fn begin_flush(&self) -> (u64, i64, u64, bool) {
        let s = self.lock();
        (s.generation, s.point, s.changes, s.changes == s.flushed_changes)
    }
    fn flushed(&self, changes: u64) {
        let mut s = self.lock();
        s.flushed_changes = s.flushed_changes.max(changes);
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
    /// The first offset of the oldest open transaction (i64::MAX: none),
    /// as the broker last reported it: the cleaner stops below it, since
    /// an open transaction may still abort.
    first_unstable_offset: AtomicI64,
    /// ABORT markers the cleaner removed, for the broker to forget their
    /// transactions; `has_removed_aborted_txns` spares readers the lock.
    removed_aborted_txns: Mutex<Vec<AbortedTxnEntry>>,
    has_removed_aborted_txns: AtomicBool,
    /// The newest producer snapshot this log wrote or loaded (-1: none),
    /// while its file still holds the state below its offset.
    producer_snapshot_offset: AtomicI64,
    /// Whether the directory may hold producer snapshot files: it did when
    /// the log was loaded, or one was written since. Loading the producer
    /// state of a log that has none skips listing its directory again, a
    /// sixth of the start-up of 10,000 idle partitions.
    snapshot_files: AtomicBool,
    /// Flushes that synced files, for tests of when a flush is skipped.
    #[cfg(test)]
    synced_flushes: AtomicU64,
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
        epoch_cache.truncate_loaded(Offset(loaded.log_start_offset), Offset(loaded.log_end_offset));
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
            recovery_point: Arc::new(RecoveryPoint::new(
                loaded.recovery_point,
                loaded.changed_files,
            )),
            unflushed_messages: AtomicU64::new(0),
            last_flush_ms: AtomicI64::new(now),
            epoch_cache,
            dir_state,
            closed: AtomicBool::new(false),
            pending_deletes: Mutex::new(Vec::new()),
            cleaner_checkpoint: AtomicI64::new(loaded.log_start_offset),
            first_unstable_offset: AtomicI64::new(i64::MAX),
            removed_aborted_txns: Mutex::new(Vec::new()),
            has_removed_aborted_txns: AtomicBool::new(false),
            producer_snapshot_offset: AtomicI64::new(-1),
            snapshot_files: AtomicBool::new(loaded.snapshot_files),
            #[cfg(test)]
            synced_flushes: AtomicU64::new(0),
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
        self.writer.lock_or_recover()
    }

    /// The writer lock if it is free: its holder may be rolling, flushing
    /// or truncating, which an async worker must not wait for.
    fn try_lock_writer(&self) -> Option<MutexGuard<'_, ()>> {
        self.writer.try_lock_or_recover()
    }

    fn segments(&self) -> Segments {
        Arc::clone(&self.segments.read_or_recover())
    }

    fn publish_segments(&self, segments: Vec<Arc<LogSegment>>) {
        *self.segments.write_or_recover() = Arc::new(segments);
    }

    fn active_segment(&self) -> Arc<LogSegment> {
        let segs = self.segments();
        // A log always has at least one segment (open and truncation create one).
        Arc::clone(segs.last().expect("a log has an active segment"))
    }

    /// The base offset of the segment appends go to.
    pub fn active_segment_base(&self) -> i64 {
        self.active_segment().base_offset()
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

    /// The first offset of the oldest open transaction (`None`: none is
    /// open), which bounds what the cleaner may compact.
    pub fn update_first_unstable_offset(&self, offset: Option<i64>) {
        self.first_unstable_offset.store(offset.unwrap_or(i64::MAX), Ordering::Release);
    }

    /// Aborted transactions whose ABORT marker the cleaner removed since
    /// the last call (none of their batches is left either).
    pub fn take_removed_aborted_txns(&self) -> Vec<AbortedTxnEntry> {
        if !self.has_removed_aborted_txns.swap(false, Ordering::AcqRel) {
            return Vec::new();
        }
        std::mem::take(&mut *self.removed_aborted_txns.lock_or_recover())
    }

    fn report_removed_aborted_txns(&self, removed: Vec<AbortedTxnEntry>) {
        if removed.is_empty() {
            return;
        }
        self.removed_aborted_txns.lock_or_recover().extend(removed);
        self.has_removed_aborted_txns.store(true, Ordering::Release);
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
        self.config.read_or_recover().clone()
    }

    pub fn update_config(&self, c: LogConfig) {
        *self.config.write_or_recover() = c;
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

    /// fsyncs everything appended so far and moves the recovery point to
    /// the log end offset. The writer is not blocked during the fsync. A
    /// log with nothing unflushed (see [`RecoveryPoint`]) is left alone:
    /// a clean shutdown of thousands of idle partitions would otherwise
    /// sync three files of each.
    pub fn flush(&self) -> Result<(), Error> {
        self.check_open()?;
        let (generation, rp, changes, changes_flushed) = self.recovery_point.begin_flush();
        let leo = self.log_end_offset.load(Ordering::Acquire);
        if rp >= leo && changes_flushed {
            return Ok(());
        }
        let unflushed = self.unflushed_messages.swap(0, Ordering::AcqRel);
        let segs = self.segments();
        let first = segment::index_holding(&segs, rp);
        for seg in segs.iter().skip(first) {
            if let Err(e) = seg.flush() {
                // Even ENOSPC: after a failed fsync the kernel may have
                // dropped the dirty pages, so what the log holds is unknown.
                self.dir_state.mark_offline(&e);
                self.unflushed_messages.fetch_add(unflushed, Ordering::AcqRel);
                return Err(e);
            }
        }
        #[cfg(test)]
        self.synced_flushes.fetch_add(1, Ordering::Relaxed);
        self.recovery_point.advance_if(generation, leo);
        self.recovery_point.flushed(changes);
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
