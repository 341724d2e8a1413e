//! `<base offset>.timeindex`: a sparse map from timestamp to offset, for
//! ListOffsets by time and time-based retention.
//!
//! ```text
//! entry (12 bytes, big-endian)
//!   timestamp        i64  largest timestamp seen so far in the segment
//!   relative_offset  i32  offset of the batch holding it - base offset
//! ```
//!
//! Timestamps strictly increase from entry to entry (an entry is added
//! only when the segment's max timestamp grows). Preallocated and trimmed
//! like the offset index. Kafka's `TimeIndex.scala` is the model.

use std::path::Path;

use super::index::{check_entries, IndexFile};
use super::Error;

pub const ENTRY_SIZE: usize = 12;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
}

/// Reads a `.timeindex` file without mapping or changing it (for tools).
pub fn read_entries(path: &Path, base_offset: i64) -> Result<Vec<TimestampOffset>, Error> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    Ok(bytes
        .chunks_exact(ENTRY_SIZE)
        .map(|e| {
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&e[..8]);
            TimestampOffset {
                timestamp: i64::from_be_bytes(ts),
                offset: base_offset + i64::from(i32::from_be_bytes([e[8], e[9], e[10], e[11]])),
            }
        })
        .collect())
}

pub struct TimeIndex {
    base_offset: i64,
    file: IndexFile,
}

fn ts(w: [u32; 3]) -> i64 {
    ((u64::from(w[0]) << 32) | u64::from(w[1])) as i64
}

impl TimeIndex {
    pub fn open(path: &Path, base_offset: i64, max_bytes: u64) -> Result<Self, Error> {
        Ok(Self { base_offset, file: IndexFile::open(path, ENTRY_SIZE, max_bytes)? })
    }

    fn entry(&self, w: [u32; 3]) -> TimestampOffset {
        TimestampOffset { timestamp: ts(w), offset: self.base_offset + i64::from(w[2] as i32) }
    }

    pub fn entries(&self) -> usize {
        self.file.entries()
    }

    pub fn is_full(&self) -> bool {
        self.file.is_full()
    }

    pub fn last_entry(&self) -> Option<TimestampOffset> {
        let n = self.entries().checked_sub(1)?;
        Some(self.entry(self.file.read::<3>(n)))
    }

    /// The last entry with a timestamp at or below `timestamp`.
    pub fn lookup(&self, timestamp: i64) -> Option<TimestampOffset> {
        self.file.floor::<3>(|w| ts(w) <= timestamp).map(|(_, w)| self.entry(w))
    }

    /// Adds an entry when `timestamp` is a new maximum; false when full.
    pub fn maybe_append(&self, timestamp: i64, offset: i64) -> bool {
        if let Some(last) = self.last_entry() {
            if timestamp <= last.timestamp || offset < last.offset {
                return true;
            }
        }
        let rel = offset - self.base_offset;
        if !(0..=i64::from(i32::MAX)).contains(&rel) {
            return true;
        }
        let t = timestamp as u64;
        self.file.append::<3>([(t >> 32) as u32, t as u32, rel as u32])
    }

    /// Drops entries for offsets at or past `offset`.
    pub fn truncate_to(&self, offset: i64) {
        let keep = (0..self.entries())
            .rev()
            .find(|&n| self.entry(self.file.read::<3>(n)).offset < offset)
            .map_or(0, |n| n + 1);
        self.file.truncate_entries(keep);
    }

    pub fn truncate_all(&self) {
        self.file.truncate_entries(0);
    }

    pub fn sanity_check(&self, next_offset: i64) -> Result<(), String> {
        let entries = (0..self.entries()).map(|n| self.entry(self.file.read::<3>(n)));
        check_entries(
            entries,
            |e| e.offset >= self.base_offset && e.offset < next_offset,
            |e, p| e.timestamp > p.timestamp && e.offset >= p.offset,
        )
    }

    pub(crate) fn file(&self) -> &IndexFile {
        &self.file
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_new_maxima_are_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let idx = TimeIndex::open(&dir.path().join("0.timeindex"), 50, 120).unwrap();
        assert!(idx.maybe_append(1000, 50));
        assert!(idx.maybe_append(900, 51), "an older timestamp is ignored, not an error");
        assert!(idx.maybe_append(2000, 60));
        assert_eq!(idx.entries(), 2);
        // (target, expected, why)
        let cases = [
            (999, None, "before every entry"),
            (1000, Some(TimestampOffset { timestamp: 1000, offset: 50 }), "exact"),
            (1500, Some(TimestampOffset { timestamp: 1000, offset: 50 }), "floor"),
            (i64::MAX, Some(TimestampOffset { timestamp: 2000, offset: 60 }), "last"),
        ];
        for (target, want, why) in cases {
            assert_eq!(idx.lookup(target), want, "{why}");
        }
        idx.truncate_to(60);
        assert_eq!(idx.last_entry(), Some(TimestampOffset { timestamp: 1000, offset: 50 }));
        assert!(idx.sanity_check(61).is_ok());
        assert!(idx.sanity_check(50).is_err());
    }
}
