//! `<base offset>.index`: a sparse map from offset to file position in the
//! segment's `.log`, one entry per `index.interval.bytes` of appended data.
//!
//! ```text
//! entry (8 bytes, big-endian)
//!   relative_offset  i32  batch last offset - segment base offset
//!   position         i32  byte position of that batch in the .log file
//! ```
//!
//! The file is preallocated to `segment.index.bytes` (zeros after the last
//! entry) while the segment is active and trimmed to its entries on roll
//! and close. Entries strictly increase in both fields, which is what the
//! sanity check on open verifies. Kafka's `OffsetIndex.scala` is the model.

use std::path::Path;

use super::index::{check_entries, IndexFile};
use super::Error;

pub const ENTRY_SIZE: usize = 8;

/// One index entry, with the offset made absolute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    pub offset: i64,
    pub position: u32,
}

/// Reads an `.index` file without mapping or changing it (for tools).
/// A trailing partial entry is ignored, as Kafka does.
pub fn read_entries(path: &Path, base_offset: i64) -> Result<Vec<IndexEntry>, Error> {
    let bytes = std::fs::read(path).map_err(Error::io(path))?;
    Ok(bytes
        .chunks_exact(ENTRY_SIZE)
        .map(|e| IndexEntry {
            offset: base_offset + i64::from(i32::from_be_bytes([e[0], e[1], e[2], e[3]])),
            position: u32::from_be_bytes([e[4], e[5], e[6], e[7]]),
        })
        .collect())
}

pub struct OffsetIndex {
    base_offset: i64,
    file: IndexFile,
}

impl OffsetIndex {
    pub fn open(path: &Path, base_offset: i64, max_bytes: u64) -> Result<Self, Error> {
        Ok(Self { base_offset, file: IndexFile::open(path, ENTRY_SIZE, max_bytes)? })
    }

    fn entry(&self, words: [u32; 2]) -> IndexEntry {
        IndexEntry { offset: self.base_offset + i64::from(words[0] as i32), position: words[1] }
    }

    pub fn entries(&self) -> usize {
        self.file.entries()
    }

    pub fn is_full(&self) -> bool {
        self.file.is_full()
    }

    pub fn last_entry(&self) -> IndexEntry {
        match self.entries() {
            0 => IndexEntry { offset: self.base_offset, position: 0 },
            n => self.entry(self.file.read::<2>(n - 1)),
        }
    }

    /// The last entry at or below `offset`, or the segment start.
    pub fn lookup(&self, offset: i64) -> IndexEntry {
        let base = self.base_offset;
        self.file
            .floor::<2>(|w| base + i64::from(w[0] as i32) <= offset)
            .map_or(IndexEntry { offset: base, position: 0 }, |(_, w)| self.entry(w))
    }

    /// The last entry whose position is at or below `position`.
    pub fn lookup_by_position(&self, position: u32) -> IndexEntry {
        self.file
            .floor::<2>(|w| w[1] <= position)
            .map_or(IndexEntry { offset: self.base_offset, position: 0 }, |(_, w)| self.entry(w))
    }

    /// Adds an entry if it is past the last one; false when full.
    pub fn append(&self, offset: i64, position: u32) -> bool {
        if self.entries() > 0 {
            let last = self.last_entry();
            if offset <= last.offset || position <= last.position {
                return true;
            }
        }
        let rel = offset - self.base_offset;
        if !(0..=i64::from(i32::MAX)).contains(&rel) {
            return true;
        }
        self.file.append::<2>([rel as u32, position])
    }

    /// Drops entries for offsets at or past `offset`.
    pub fn truncate_to(&self, offset: i64) {
        let base = self.base_offset;
        let keep = self
            .file
            .floor::<2>(|w| base + i64::from(w[0] as i32) < offset)
            .map_or(0, |(n, _)| n + 1);
        self.file.truncate_entries(keep);
    }

    pub fn truncate_all(&self) {
        self.file.truncate_entries(0);
    }

    /// Checks what a crash or a foreign file could have left: entries must
    /// strictly increase and point inside the log.
    pub fn sanity_check(&self, log_size: u64) -> Result<(), String> {
        let entries = (0..self.entries()).map(|n| self.entry(self.file.read::<2>(n)));
        check_entries(
            entries,
            |e| e.offset >= self.base_offset && u64::from(e.position) < log_size.max(1),
            |e, p| e.offset > p.offset && e.position > p.position,
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
    fn lookups() {
        let dir = tempfile::tempdir().unwrap();
        let idx = OffsetIndex::open(&dir.path().join("0.index"), 100, 80).unwrap();
        for (o, p) in [(105, 4096), (110, 9000), (120, 20000)] {
            assert!(idx.append(o, p));
        }
        // (target, expected, why)
        let cases = [
            (100, IndexEntry { offset: 100, position: 0 }, "below the first entry: segment start"),
            (105, IndexEntry { offset: 105, position: 4096 }, "exact hit"),
            (119, IndexEntry { offset: 110, position: 9000 }, "between entries: floor"),
            (1000, IndexEntry { offset: 120, position: 20000 }, "past the end: last entry"),
        ];
        for (target, want, why) in cases {
            assert_eq!(idx.lookup(target), want, "{why}");
        }
        assert_eq!(idx.lookup_by_position(9500).offset, 110);
        idx.truncate_to(110);
        assert_eq!(idx.entries(), 1, "entries at or past 110 go");
        assert!(idx.append(111, 9100), "appending after truncation works");
        assert!(idx.sanity_check(30000).is_ok());
        assert!(idx.sanity_check(5000).is_err(), "positions past the log are corrupt");
    }

    #[test]
    fn full_and_trim_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let idx = OffsetIndex::open(&path, 0, 16).unwrap();
        assert!(idx.append(1, 10) && idx.append(2, 20));
        assert!(idx.is_full());
        assert!(!idx.append(3, 30), "no room for a third entry");
        idx.file().trim().unwrap();
        drop(idx);
        let idx = OffsetIndex::open(&path, 0, 0).unwrap();
        assert_eq!(idx.entries(), 2);
        assert_eq!(idx.last_entry(), IndexEntry { offset: 2, position: 20 });
    }
}
