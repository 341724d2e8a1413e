//! One segment: `<base>.log` with its `.index` and `.timeindex`.
//!
//! The `.log` file is a plain concatenation of RecordBatch v2 bytes; a
//! batch's position is its byte offset in the file. `size` is the committed
//! length: the writer raises it (release) only after the bytes and index
//! entries of an append are in place, and readers never look past it
//! (acquire), so they never see a partially written batch.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::file_slice::FileSlice;
use super::offset_index::OffsetIndex;
use super::time_index::TimeIndex;
use super::Error;
use crate::record::batch::{BatchHeader, HEADER_SIZE, SIZE_PEEK};
use crate::record::RecordBatch;
use crate::sync::MutexExt;

/// Kafka's file name for a segment file: the base offset as 20 digits.
pub fn file_name(base_offset: i64, ext: &str) -> String {
    format!("{base_offset:020}{ext}")
}

pub const LOG_EXT: &str = ".log";
pub const INDEX_EXT: &str = ".index";
pub const TIME_INDEX_EXT: &str = ".timeindex";

/// A batch about to be appended, as validation saw it.
#[derive(Clone, Copy, Debug)]
pub struct AppendedBatch {
    /// Position within the appended buffer.
    pub position: usize,
    pub size: usize,
    pub last_offset: i64,
    pub max_timestamp: i64,
}

/// How far recovery got through a segment.
#[derive(Debug, Default)]
pub struct RecoveryResult {
    pub valid_bytes: u64,
    pub truncated_bytes: u64,
    /// Why the tail was cut, if it was.
    pub reason: Option<String>,
}

/// In a log's segments (sorted by base offset), the index of the one that
/// holds `offset`: the last starting at or before it, or the first when
/// every segment starts after it (below the log start).
pub(super) fn index_holding(segments: &[Arc<LogSegment>], offset: i64) -> usize {
    segments.partition_point(|s| s.base_offset() <= offset).saturating_sub(1)
}

pub struct LogSegment {
    base_offset: i64,
    log: Arc<File>,
    log_path: Mutex<PathBuf>,
    size: AtomicU64,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    bytes_since_last_index_entry: AtomicU64,
    max_timestamp: AtomicI64,
    offset_of_max_timestamp: AtomicI64,
    /// Max timestamp of the first batch (-1 when empty): what `segment.ms`
    /// is measured from (Kafka's `rollingBasedTimestamp`).
    first_batch_timestamp: AtomicI64,
    /// Creation (or, for a loaded segment, modification) time: the
    /// fallback when batches carry no timestamps.
    created_ms: AtomicI64,
    next_offset: AtomicI64,
}

impl LogSegment {
    fn paths(dir: &Path, base_offset: i64, suffix: &str) -> [PathBuf; 3] {
        [LOG_EXT, INDEX_EXT, TIME_INDEX_EXT]
            .map(|ext| dir.join(file_name(base_offset, ext) + suffix))
    }

    /// A new empty segment; stale files of the same name are replaced.
    pub fn create(
        dir: &Path,
        base_offset: i64,
        index_bytes: u64,
        now_ms: i64,
    ) -> Result<Self, Error> {
        Self::create_with_suffix(dir, base_offset, index_bytes, now_ms, "")
    }

    pub fn create_with_suffix(
        dir: &Path,
        base_offset: i64,
        index_bytes: u64,
        now_ms: i64,
        suffix: &str,
    ) -> Result<Self, Error> {
        let [log_path, index_path, time_path] = Self::paths(dir, base_offset, suffix);
        for p in [&index_path, &time_path] {
            match std::fs::remove_file(p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(p)(e)),
                _ => {}
            }
        }
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&log_path)
            .map_err(Error::io(&log_path))?;
        let seg = Self::assemble(base_offset, log, log_path, &index_path, &time_path, index_bytes)?;
        seg.created_ms.store(now_ms, Ordering::Relaxed);
        Ok(seg)
    }

    /// Opens existing files; the caller then recovers or loads the segment.
    pub fn open(dir: &Path, base_offset: i64, suffix: &str) -> Result<Self, Error> {
        let [log_path, index_path, time_path] = Self::paths(dir, base_offset, suffix);
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .map_err(Error::io(&log_path))?;
        let meta = log.metadata().map_err(Error::io(&log_path))?;
        let seg = Self::assemble(base_offset, log, log_path, &index_path, &time_path, 0)?;
        seg.size.store(meta.len(), Ordering::Release);
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as i64);
        seg.created_ms.store(mtime, Ordering::Relaxed);
        Ok(seg)
    }

    fn assemble(
        base_offset: i64,
        log: File,
        log_path: PathBuf,
        index_path: &Path,
        time_path: &Path,
        index_bytes: u64,
    ) -> Result<Self, Error> {
        Ok(Self {
            base_offset,
            log: Arc::new(log),
            log_path: Mutex::new(log_path),
            size: AtomicU64::new(0),
            offset_index: OffsetIndex::open(index_path, base_offset, index_bytes)?,
            time_index: TimeIndex::open(time_path, base_offset, index_bytes / 8 * 12)?,
            bytes_since_last_index_entry: AtomicU64::new(0),
            max_timestamp: AtomicI64::new(-1),
            offset_of_max_timestamp: AtomicI64::new(base_offset),
            first_batch_timestamp: AtomicI64::new(-1),
            created_ms: AtomicI64::new(0),
            next_offset: AtomicI64::new(base_offset),
        })
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Committed bytes.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// One past the last offset in this segment (its base when empty).
    pub fn next_offset(&self) -> i64 {
        self.next_offset.load(Ordering::Acquire)
    }

    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp.load(Ordering::Acquire)
    }

    pub fn offset_of_max_timestamp(&self) -> i64 {
        self.offset_of_max_timestamp.load(Ordering::Acquire)
    }

    /// How long this segment has been filling, for `segment.ms`: in record
    /// time when batches carry timestamps (incoming max timestamp minus the
    /// first batch's), else in wall time since creation.
    pub fn time_waited_for_roll(&self, now_ms: i64, incoming_max_timestamp: i64) -> i64 {
        let first = self.first_batch_timestamp.load(Ordering::Relaxed);
        if first >= 0 {
            incoming_max_timestamp.saturating_sub(first)
        } else {
            now_ms.saturating_sub(self.created_ms.load(Ordering::Relaxed))
        }
    }

    /// The timestamp retention compares with: the largest record timestamp,
    /// or the file's modification time when no record has one.
    pub fn largest_timestamp(&self) -> i64 {
        let ts = self.max_timestamp();
        if ts >= 0 {
            return ts;
        }
        self.last_modified_ms()
    }

    /// The file's modification time in ms since the epoch (0 if unknown),
    /// which the ListOffsets v0 search compares timestamps with.
    pub fn last_modified_ms(&self) -> i64 {
        self.log
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as i64)
    }

    pub fn file(&self) -> &Arc<File> {
        &self.log
    }

    pub fn log_path(&self) -> PathBuf {
        self.log_path.lock_or_recover().clone()
    }

    pub fn offset_index(&self) -> &OffsetIndex {
        &self.offset_index
    }

    pub fn time_index(&self) -> &TimeIndex {
        &self.time_index
    }

    pub fn indexes_full(&self) -> bool {
        self.offset_index.is_full() || self.time_index.is_full()
    }

    /// Whether indexing `batches` more batches needs no new disk blocks
    /// for the indexes (no `fallocate`).
    pub fn indexes_reserved(&self, batches: usize) -> bool {
        self.offset_index.file().is_reserved(batches) && self.time_index.file().is_reserved(batches)
    }

    /// Writes `bytes` (whole, validated batches) at the end and indexes
    /// them. Only the log's writer calls this.
    pub fn append(
        &self,
        bytes: &[u8],
        batches: &[AppendedBatch],
        index_interval: u64,
    ) -> Result<(), Error> {
        let start = self.size();
        // Each batch adds at most one entry to each index.
        self.offset_index.file().reserve(batches.len())?;
        self.time_index.file().reserve(batches.len())?;
        if let Err(e) = self.log.write_all_at(bytes, start) {
            // Readers never look past `start`, but a later append or a
            // restart would; the file keeps only whole batches.
            if let Err(cut) = self.log.set_len(start) {
                tracing::error!(
                    "cannot cut {} back to {start} bytes after a failed write: {cut}",
                    self.log_path().display()
                );
            }
            return Err(Error::io(self.log_path())(e));
        }
        let mut since = self.bytes_since_last_index_entry.load(Ordering::Relaxed);
        for b in batches {
            if b.max_timestamp > self.max_timestamp() {
                self.max_timestamp.store(b.max_timestamp, Ordering::Release);
                self.offset_of_max_timestamp.store(b.last_offset, Ordering::Release);
            }
            if start == 0 && b.position == 0 {
                self.first_batch_timestamp.store(b.max_timestamp, Ordering::Relaxed);
            }
            since += b.size as u64;
            if since > index_interval {
                let pos = start + b.position as u64;
                self.offset_index.append(b.last_offset, pos as u32);
                self.time_index.maybe_append(self.max_timestamp(), self.offset_of_max_timestamp());
                since = 0;
            }
        }
        self.bytes_since_last_index_entry.store(since, Ordering::Relaxed);
        if let Some(last) = batches.last() {
            self.next_offset.store(last.last_offset + 1, Ordering::Release);
        }
        self.size.store(start + bytes.len() as u64, Ordering::Release);
        Ok(())
    }

    /// Batch headers from `position` up to `end` (at most the committed size).
    pub fn scan(&self, position: u64, end: u64) -> HeaderScanner<'_> {
        self.scan_waiting(position, end, Wait::Disk)
    }

    fn scan_waiting(&self, position: u64, end: u64, wait: Wait) -> HeaderScanner<'_> {
        HeaderScanner::new(&self.log, position, end.min(self.size()), wait)
    }

    /// Under [`Wait::Never`], fails unless the offset index's pages are all
    /// in the page cache: a lookup reads them through a memory map, where a
    /// missing page is a fault that waits for the disk.
    fn check_index_cached(&self, wait: Wait) -> Result<(), Error> {
        if wait == Wait::Never && self.offset_index.file().cached() != Some(true) {
            return Err(Error::NotCached);
        }
        Ok(())
    }

    /// The first batch whose last offset is at or past `offset`, searching
    /// from the index entry below it and not before `min_position`.
    pub fn translate_offset(
        &self,
        offset: i64,
        min_position: u64,
        wait: Wait,
    ) -> Result<Option<(u64, BatchHeader)>, Error> {
        self.check_index_cached(wait)?;
        let start = u64::from(self.offset_index.lookup(offset).position).max(min_position);
        for item in self.scan_waiting(start, u64::MAX, wait) {
            let (pos, header) = item.map_err(|e| e.into_error(&self.log_path()))?;
            if header.last_offset() >= offset {
                return Ok(Some((pos, header)));
            }
        }
        Ok(None)
    }

    /// Whole batches from the one holding `start_offset`, at most
    /// `max_bytes` (but at least one batch if `min_one`), ending before
    /// `max_position`. Under [`Wait::Never`] the slice's own pages are in
    /// the page cache too, so sending it cannot wait for the disk either.
    pub fn read(
        &self,
        start_offset: i64,
        max_bytes: usize,
        max_position: u64,
        min_one: bool,
        wait: Wait,
    ) -> Result<Option<FileSlice>, Error> {
        let Some((start, first)) = self.translate_offset(start_offset, 0, wait)? else {
            return Ok(None);
        };
        let limit = max_position.min(self.size());
        if start >= limit {
            return Ok(None);
        }
        let want_end = start.saturating_add(max_bytes as u64);
        let end = if want_end >= limit {
            limit
        } else if start + first.size() as u64 > want_end {
            // The first batch alone is over the budget.
            start
        } else {
            // Jump close to the byte budget with the index, then walk the
            // few batches that remain to the last boundary within it.
            let from = u64::from(self.offset_index.lookup_by_position(want_end as u32).position)
                .max(start);
            let mut end = from;
            for item in self.scan_waiting(from, limit, wait) {
                let (pos, header) = item.map_err(|e| e.into_error(&self.log_path()))?;
                if pos + header.size() as u64 > want_end {
                    break;
                }
                end = pos + header.size() as u64;
            }
            end
        };
        let end = if end <= start {
            if !min_one {
                return Ok(None);
            }
            (start + first.size() as u64).min(limit)
        } else {
            end
        };
        let slice =
            FileSlice { file: Arc::clone(&self.log), position: start, len: (end - start) as usize };
        if wait == Wait::Never && slice.cached() != Some(true) {
            return Err(Error::NotCached);
        }
        Ok(Some(slice))
    }

    /// The first record at or after `min_offset` with a timestamp at or
    /// past `timestamp`: time index, then offset index, then a scan.
    pub fn find_offset_by_timestamp(
        &self,
        timestamp: i64,
        min_offset: i64,
    ) -> Result<Option<(i64, i64, i32)>, Error> {
        let from_offset = self
            .time_index
            .lookup(timestamp)
            .map_or(self.base_offset, |e| e.offset)
            .max(min_offset);
        let start = u64::from(self.offset_index.lookup(from_offset).position);
        for item in self.scan(start, u64::MAX) {
            let (pos, header) = item.map_err(|e| e.into_error(&self.log_path()))?;
            if header.max_timestamp < timestamp || header.last_offset() < min_offset {
                continue;
            }
            let bytes = self.read_bytes(pos, header.size())?;
            let batch = RecordBatch::parse_at(&bytes, pos as usize)?;
            let records = batch.records()?;
            for record in records.iter() {
                let record = record?;
                let (ts, off) = (records.timestamp_of(&record), records.offset_of(&record));
                if ts >= timestamp && off >= min_offset {
                    return Ok(Some((ts, off, header.partition_leader_epoch)));
                }
            }
        }
        Ok(None)
    }

    pub fn read_bytes(&self, position: u64, len: usize) -> Result<Vec<u8>, Error> {
        let mut buf = vec![0u8; len];
        self.log.read_exact_at(&mut buf, position).map_err(|e| Error::io(self.log_path())(e))?;
        Ok(buf)
    }

    /// After an open without recovery: learns the next offset and the max
    /// timestamp from the last index entries and a scan of what follows.
    pub fn load_tail_state(&self) -> Result<(), Error> {
        self.load_tail_state_from(None).map(|_| ())
    }

    /// [`Self::load_tail_state`] scanning from `start` (the last index
    /// entry when `None`); answers why the batches scanned are out of
    /// offset order, if they are. CRCs do not cover a batch's base offset,
    /// so a segment trusted after a clean shutdown can still hold one that
    /// runs backwards, which readers would be served.
    pub fn load_tail_state_from(&self, start: Option<u64>) -> Result<Option<String>, Error> {
        let entry = self.offset_index.last_entry();
        if let Some(t) = self.time_index.last_entry() {
            self.max_timestamp.store(t.timestamp, Ordering::Release);
            self.offset_of_max_timestamp.store(t.offset, Ordering::Release);
        }
        let mut next = self.base_offset;
        let mut disorder = None;
        for item in self.scan(start.unwrap_or(u64::from(entry.position)), u64::MAX) {
            let (_, header) = item.map_err(|e| e.into_error(&self.log_path()))?;
            if disorder.is_none()
                && (header.base_offset < next || header.next_offset() <= header.base_offset)
            {
                disorder = Some(format!(
                    "batch at offset {} follows offset {} out of order",
                    header.base_offset,
                    next - 1
                ));
            }
            if header.max_timestamp > self.max_timestamp() {
                self.max_timestamp.store(header.max_timestamp, Ordering::Release);
                self.offset_of_max_timestamp.store(header.last_offset(), Ordering::Release);
            }
            next = header.next_offset();
        }
        let first =
            self.scan(0, u64::MAX).next().and_then(Result::ok).map_or(-1, |(_, h)| h.max_timestamp);
        self.first_batch_timestamp.store(first, Ordering::Relaxed);
        self.next_offset.store(next, Ordering::Release);
        Ok(disorder)
    }

    /// Reads every batch, checks CRC, size and offset order, rebuilds both
    /// indexes, and cuts the file after the last good batch (Kafka's
    /// `LogSegment.recover`).
    pub fn recover(&self, index_interval: u64) -> Result<RecoveryResult, Error> {
        let path = self.log_path();
        let file_len = self.log.metadata().map_err(Error::io(&path))?.len();
        self.offset_index.truncate_all();
        self.time_index.truncate_all();
        self.max_timestamp.store(-1, Ordering::Release);
        self.offset_of_max_timestamp.store(self.base_offset, Ordering::Release);
        self.next_offset.store(self.base_offset, Ordering::Release);
        self.size.store(file_len, Ordering::Release);
        self.bytes_since_last_index_entry.store(0, Ordering::Relaxed);
        let mut reader = BatchFileReader::new(&*self.log, file_len);
        let mut pos = 0u64;
        let mut prev_next = self.base_offset;
        let mut since = 0u64;
        let mut reason = None;
        loop {
            let batch_bytes = match reader.batch_at(pos) {
                Ok(None) => break,
                Ok(Some(b)) => b,
                Err(ChunkError::Io(e)) => return Err(Error::io(&path)(e)),
                Err(ChunkError::Batch(e)) => {
                    reason = Some(e.to_string());
                    break;
                }
            };
            let batch = match RecordBatch::parse_at(batch_bytes, pos as usize) {
                Ok(b) => b,
                Err(e) => {
                    reason = Some(e.to_string());
                    break;
                }
            };
            let problem = if let Err(e) = batch.verify_crc() {
                Some(e.to_string())
            } else if batch.base_offset() < prev_next || batch.last_offset() < batch.base_offset() {
                Some(format!(
                    "batch at position {pos} has offsets {}..{} after offset {}",
                    batch.base_offset(),
                    batch.last_offset(),
                    prev_next - 1
                ))
            } else if batch.last_offset() - self.base_offset > i64::from(i32::MAX) {
                Some(format!(
                    "batch at position {pos} has offset {} too far from the segment base",
                    batch.last_offset()
                ))
            } else {
                None
            };
            if let Some(p) = problem {
                reason = Some(p);
                break;
            }
            let (size, last, max_ts) =
                (batch.size() as u64, batch.last_offset(), batch.max_timestamp());
            if pos == 0 {
                self.first_batch_timestamp.store(max_ts, Ordering::Relaxed);
            }
            if max_ts > self.max_timestamp() {
                self.max_timestamp.store(max_ts, Ordering::Release);
                self.offset_of_max_timestamp.store(last, Ordering::Release);
            }
            since += size;
            if since > index_interval {
                self.offset_index.append(last, pos as u32);
                self.time_index.maybe_append(self.max_timestamp(), self.offset_of_max_timestamp());
                since = 0;
            }
            prev_next = last + 1;
            pos += size;
        }
        self.bytes_since_last_index_entry.store(since, Ordering::Relaxed);
        self.next_offset.store(prev_next, Ordering::Release);
        let truncated = file_len - pos;
        if truncated > 0 {
            self.log.set_len(pos).map_err(Error::io(&path))?;
        }
        self.size.store(pos, Ordering::Release);
        Ok(RecoveryResult { valid_bytes: pos, truncated_bytes: truncated, reason })
    }

    /// Removes every batch holding offsets at or past `offset` (a batch that
    /// straddles it goes entirely). Returns the bytes removed.
    pub fn truncate_to(&self, offset: i64) -> Result<u64, Error> {
        let path = self.log_path();
        let Some((pos, _)) = self.translate_offset(offset, 0, Wait::Disk)? else {
            return Ok(0);
        };
        let old = self.size();
        self.offset_index.truncate_to(offset);
        self.time_index.truncate_to(offset);
        self.size.store(pos, Ordering::Release);
        self.log.set_len(pos).map_err(Error::io(&path))?;
        // Recompute what the removed tail may have changed.
        self.max_timestamp.store(-1, Ordering::Release);
        self.offset_of_max_timestamp.store(self.base_offset, Ordering::Release);
        self.load_tail_state()?;
        self.bytes_since_last_index_entry.store(0, Ordering::Relaxed);
        Ok(old - pos)
    }

    /// fsync the log file and both indexes.
    pub fn flush(&self) -> Result<(), Error> {
        self.log.sync_data().map_err(|e| Error::io(self.log_path())(e))?;
        self.offset_index.file().flush()?;
        self.time_index.file().flush()
    }

    /// Trims both indexes to their entries (the segment stops taking appends).
    pub fn on_become_inactive(&self) -> Result<(), Error> {
        self.offset_index.file().trim()?;
        self.time_index.file().trim()
    }

    /// Grows both indexes back to `index_bytes` (the segment takes appends).
    pub fn resize_indexes(&self, index_bytes: u64) -> Result<(), Error> {
        self.offset_index.file().resize(index_bytes as usize / super::offset_index::ENTRY_SIZE)?;
        self.time_index.file().resize(index_bytes as usize / super::offset_index::ENTRY_SIZE)
    }

    /// Renames all three files by adding (or replacing) a suffix such as
    /// `.deleted` or `.swap`.
    pub fn change_suffix(&self, from: &str, to: &str) -> Result<(), Error> {
        let strip = |p: &Path| -> PathBuf {
            let s = p.to_string_lossy();
            PathBuf::from(format!("{}{}", s.strip_suffix(from).unwrap_or(&s), to))
        };
        {
            let mut lp = self.log_path.lock_or_recover();
            let new = strip(&lp);
            std::fs::rename(&*lp, &new).map_err(Error::io(&*lp))?;
            *lp = new;
        }
        self.offset_index.file().rename(&strip(&self.offset_index.file().path()))?;
        self.time_index.file().rename(&strip(&self.time_index.file().path()))
    }

    pub fn delete_files(&self) -> Result<(), Error> {
        let p = self.log_path();
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(&p)(e)),
            _ => {}
        }
        self.offset_index.file().delete()?;
        self.time_index.file().delete()
    }
}

/// Why a scan stopped early.
#[derive(Debug)]
pub enum ScanError {
    Io(std::io::Error),
    Corrupt(crate::record::Error),
    /// A [`Wait::Never`] scan reached bytes outside the page cache.
    NotCached,
}

impl ScanError {
    pub fn into_error(self, path: &Path) -> Error {
        match self {
            ScanError::Io(e) => Error::io(path)(e),
            ScanError::Corrupt(e) => Error::CorruptRecord(e),
            ScanError::NotCached => Error::NotCached,
        }
    }
}

/// Whether a read may wait for the disk: on the blocking pool it may; on a
/// reactor thread it must not, and gives up with [`Error::NotCached`]
/// instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    Disk,
    Never,
}

fn would_wait(e: &std::io::Error) -> bool {
    use rustix::io::Errno;
    e.raw_os_error()
        .is_some_and(|c| c == Errno::AGAIN.raw_os_error() || c == Errno::OPNOTSUPP.raw_os_error())
}

/// Walks batch headers in a file through a small read window, so a scan
/// over many small batches costs few system calls and reads no payload it
/// can skip. Stops at `end`; a batch that runs past `end` ends the scan.
pub struct HeaderScanner<'f> {
    file: &'f File,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    buf_start: u64,
    done: bool,
    /// Bytes to read next time the window runs out: just a header while
    /// batches are large (a lookup reads one), a whole window once they
    /// turn out small (a scan over many).
    read_size: usize,
    wait: Wait,
}

const WINDOW: usize = 8192;

impl<'f> HeaderScanner<'f> {
    pub fn new(file: &'f File, pos: u64, end: u64, wait: Wait) -> Self {
        let read_size = HEADER_SIZE;
        Self { file, pos, end, buf: Vec::new(), buf_start: 0, done: false, read_size, wait }
    }

    fn read_at(&mut self, from: usize) -> std::io::Result<usize> {
        let at = self.pos + from as u64;
        match self.wait {
            Wait::Disk => self.file.read_at(&mut self.buf[from..], at),
            Wait::Never => {
                let buf = &mut [std::io::IoSliceMut::new(&mut self.buf[from..])];
                rustix::io::preadv2(self.file, buf, at, rustix::io::ReadWriteFlags::NOWAIT)
                    .map_err(std::io::Error::from)
            }
        }
    }

    fn header_bytes(&mut self) -> Result<Option<&[u8]>, ScanError> {
        let avail = self.end.saturating_sub(self.pos);
        if avail < SIZE_PEEK as u64 {
            return Ok(None);
        }
        let need = (HEADER_SIZE as u64).min(avail) as usize;
        let in_buf = self.pos >= self.buf_start
            && self.pos + need as u64 <= self.buf_start + self.buf.len() as u64;
        if !in_buf {
            let len = (self.read_size.max(need) as u64).min(avail) as usize;
            self.buf.resize(len, 0);
            let mut filled = 0;
            while filled < len {
                match self.read_at(filled) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    // EAGAIN: a page is not cached; EOPNOTSUPP: the file
                    // system cannot tell without waiting.
                    Err(e) if self.wait == Wait::Never && would_wait(&e) => {
                        return Err(ScanError::NotCached)
                    }
                    Err(e) => return Err(ScanError::Io(e)),
                }
            }
            self.buf.truncate(filled);
            self.buf_start = self.pos;
            if filled < need {
                return Ok(None);
            }
        }
        let at = (self.pos - self.buf_start) as usize;
        Ok(Some(&self.buf[at..at + need]))
    }
}

impl Iterator for HeaderScanner<'_> {
    type Item = Result<(u64, BatchHeader), ScanError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let pos = self.pos;
        let end = self.end;
        let parsed = match self.header_bytes() {
            Err(e) => Err(e),
            Ok(None) => {
                self.done = true;
                return None;
            }
            Ok(Some(bytes)) => {
                BatchHeader::parse_at(bytes, pos as usize).map_err(ScanError::Corrupt)
            }
        };
        match parsed {
            Ok(h) if pos + h.size() as u64 <= end => {
                self.pos += h.size() as u64;
                self.read_size = if h.size() < WINDOW / 4 { WINDOW } else { HEADER_SIZE };
                Some(Ok((pos, h)))
            }
            Ok(_) | Err(ScanError::Corrupt(crate::record::Error::Truncated { .. })) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Why [`BatchFileReader`] stopped.
#[derive(Debug)]
pub enum ChunkError {
    Io(std::io::Error),
    /// The bytes at a position are not a whole batch (a `Truncated` error
    /// means the file ends inside one).
    Batch(crate::record::Error),
}

/// Reads whole batches sequentially through a large buffer: recovery and
/// tools. Only length and magic are checked; callers verify CRCs.
pub struct BatchFileReader<F: std::borrow::Borrow<File>> {
    file: F,
    len: u64,
    buf: Vec<u8>,
    buf_start: u64,
}

const CHUNK: usize = 1 << 20;

impl BatchFileReader<File> {
    /// Opens `path` read-only, reading at most `limit` bytes of it.
    pub fn open(path: &Path, limit: u64) -> std::io::Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len().min(limit);
        Ok(Self::new(file, len))
    }
}

impl<F: std::borrow::Borrow<File>> BatchFileReader<F> {
    pub fn new(file: F, len: u64) -> Self {
        Self { file, len, buf: Vec::new(), buf_start: 0 }
    }

    /// Bytes the reader may read.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn fill(&mut self, pos: u64, need: usize) -> Result<bool, ChunkError> {
        let have_end = self.buf_start + self.buf.len() as u64;
        if pos >= self.buf_start && pos + need as u64 <= have_end {
            return Ok(true);
        }
        if pos + need as u64 > self.len {
            return Ok(false);
        }
        let len = (CHUNK.max(need) as u64).min(self.len - pos) as usize;
        self.buf.resize(len, 0);
        self.file.borrow().read_exact_at(&mut self.buf, pos).map_err(ChunkError::Io)?;
        self.buf_start = pos;
        Ok(true)
    }

    /// The bytes of the batch at `pos`; `None` at the end of the data.
    pub fn batch_at(&mut self, pos: u64) -> Result<Option<&[u8]>, ChunkError> {
        if pos >= self.len {
            return Ok(None);
        }
        let truncated = |needed: usize, len: u64| {
            ChunkError::Batch(crate::record::Error::Truncated {
                position: pos as usize,
                needed,
                available: (len - pos) as usize,
            })
        };
        if !self.fill(pos, SIZE_PEEK)? {
            return Err(truncated(SIZE_PEEK, self.len));
        }
        let at = (pos - self.buf_start) as usize;
        let size = crate::record::batch::peek_batch_size(&self.buf[at..], pos as usize)
            .map_err(ChunkError::Batch)?;
        if !self.fill(pos, size)? {
            return Err(truncated(size, self.len));
        }
        let at = (pos - self.buf_start) as usize;
        Ok(Some(&self.buf[at..at + size]))
    }
}
