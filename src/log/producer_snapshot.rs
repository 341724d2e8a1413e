//! Producer-state snapshots: Kafka's `<offset>.snapshot` files, each the
//! state of every producer after all batches below `offset`. The broker
//! writes one when a segment rolls and one at clean shutdown; on open it
//! loads the newest one at or below the log end and scans only the batch
//! headers past it, so start-up after a clean shutdown reads no batches.
//!
//! Layout (Kafka's `ProducerStateManager`, version 1, big-endian): version
//! i16, CRC32C u32 of everything after it, then an array (i32 count) of
//! entries: producer id i64, epoch i16, last sequence i32, last offset i64,
//! offset delta i32, timestamp i64, coordinator epoch i32, first offset of
//! the ongoing transaction i64 (-1: none).
//!
//! A snapshot is only ever a shortcut: one that fails its CRC or layout is
//! deleted and the state is rebuilt from an older one or from the log.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::{Error, Log};
use crate::record::crc::crc32c;

pub const SNAPSHOT_EXT: &str = ".snapshot";
const VERSION: i16 = 1;
const HEADER: usize = 2 + 4 + 4;
const ENTRY: usize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;

/// One producer as a snapshot stores it: its last batch only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotEntry {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub last_sequence: i32,
    /// -1 when the producer has no data batch (only markers).
    pub last_offset: i64,
    /// The last batch's last offset minus its first.
    pub offset_delta: i32,
    pub timestamp: i64,
    pub coordinator_epoch: i32,
    pub current_txn_first_offset: i64,
}

pub fn encode(entries: &[SnapshotEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + entries.len() * ENTRY);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as i32).to_be_bytes());
    for e in entries {
        out.extend_from_slice(&e.producer_id.to_be_bytes());
        out.extend_from_slice(&e.producer_epoch.to_be_bytes());
        out.extend_from_slice(&e.last_sequence.to_be_bytes());
        out.extend_from_slice(&e.last_offset.to_be_bytes());
        out.extend_from_slice(&e.offset_delta.to_be_bytes());
        out.extend_from_slice(&e.timestamp.to_be_bytes());
        out.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
        out.extend_from_slice(&e.current_txn_first_offset.to_be_bytes());
    }
    let crc = crc32c(&out[6..]);
    out[2..6].copy_from_slice(&crc.to_be_bytes());
    out
}

/// Why a snapshot cannot be used (Kafka's `CorruptSnapshotException`).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CorruptSnapshot(pub String);

fn be<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&b[at..at + N]);
    out
}

pub fn decode(bytes: &[u8]) -> Result<Vec<SnapshotEntry>, CorruptSnapshot> {
    if bytes.len() < HEADER {
        return Err(CorruptSnapshot(format!("Snapshot is {} bytes, too short", bytes.len())));
    }
    let version = i16::from_be_bytes(be(bytes, 0));
    if version != VERSION {
        return Err(CorruptSnapshot(format!(
            "Snapshot contained an unknown file version {version}"
        )));
    }
    let stored = u32::from_be_bytes(be(bytes, 2));
    let computed = crc32c(&bytes[6..]);
    if stored != computed {
        return Err(CorruptSnapshot(format!(
            "Snapshot is corrupt (CRC is no longer valid). Stored crc: {stored}. Computed crc: {computed}"
        )));
    }
    let count = i32::from_be_bytes(be(bytes, 6));
    let body = &bytes[HEADER..];
    // The count is checked against the bytes present before it sizes anything.
    if count < 0 || body.len() != count as usize * ENTRY {
        return Err(CorruptSnapshot(format!(
            "Snapshot failed schema validation: {count} entries in {} bytes",
            body.len()
        )));
    }
    Ok(body
        .chunks_exact(ENTRY)
        .map(|c| SnapshotEntry {
            producer_id: i64::from_be_bytes(be(c, 0)),
            producer_epoch: i16::from_be_bytes(be(c, 8)),
            last_sequence: i32::from_be_bytes(be(c, 10)),
            last_offset: i64::from_be_bytes(be(c, 14)),
            offset_delta: i32::from_be_bytes(be(c, 22)),
            timestamp: i64::from_be_bytes(be(c, 26)),
            coordinator_epoch: i32::from_be_bytes(be(c, 34)),
            current_txn_first_offset: i64::from_be_bytes(be(c, 38)),
        })
        .collect())
}

/// The offset in a `<20 digits><ext>` file name.
pub(super) fn offset_of(name: &str, ext: &str) -> Option<i64> {
    let stem = name.strip_suffix(ext)?;
    (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit())).then(|| stem.parse().ok())?
}

/// The `<offset><ext>` files of `dir`, sorted by offset.
pub(super) fn list(dir: &Path, ext: &str) -> Result<Vec<(i64, PathBuf)>, Error> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(Error::io(dir))? {
        let entry = entry.map_err(Error::io(dir))?;
        if let Some(offset) = offset_of(&entry.file_name().to_string_lossy(), ext) {
            out.push((offset, entry.path()));
        }
    }
    out.sort_unstable();
    Ok(out)
}

pub(super) fn remove(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(path)(e)),
        _ => Ok(()),
    }
}

impl Log {
    /// Writes the producer state after every batch below `offset`. The
    /// file appears whole or not at all (a temp file renamed); it is not
    /// synced, since a torn one fails its CRC and is rebuilt from the log.
    pub fn write_producer_snapshot(
        &self,
        offset: i64,
        entries: &[SnapshotEntry],
    ) -> Result<(), Error> {
        self.check_open()?;
        // Before the file can exist, so that a load never misses it.
        self.snapshot_files.store(true, Ordering::Release);
        let path = self.dir.join(super::segment::file_name(offset, SNAPSHOT_EXT));
        let tmp = path.with_extension("snapshot.tmp");
        let r = std::fs::write(&tmp, encode(entries))
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(Error::io(&path));
        self.watch(r)?;
        self.producer_snapshot_offset.store(offset, Ordering::Release);
        Ok(())
    }

    /// The offset of the newest producer snapshot this log wrote or loaded,
    /// if its file is still there and still describes the log below that
    /// offset (a truncation below it, or its removal, forgets it).
    pub fn producer_snapshot_offset(&self) -> Option<i64> {
        let offset = self.producer_snapshot_offset.load(Ordering::Acquire);
        (offset >= 0).then_some(offset)
    }

    /// Forgets the snapshot this log knows of if it is at an offset for
    /// which `gone` holds.
    pub(super) fn forget_producer_snapshot_if(&self, gone: impl Fn(i64) -> bool) {
        let _ =
            self.producer_snapshot_offset.fetch_update(Ordering::AcqRel, Ordering::Acquire, |o| {
                (o >= 0 && gone(o)).then_some(-1)
            });
    }

    /// The newest usable snapshot at or below the log end offset, and its
    /// offset. Snapshots past the log end (left by a crash that lost the
    /// tail, or by truncation) and corrupt ones are deleted.
    pub fn load_producer_snapshot(&self) -> Result<Option<(i64, Vec<SnapshotEntry>)>, Error> {
        self.check_open()?;
        let leo = self.log_end_offset().0;
        let log_start = self.log_start_offset().0;
        self.producer_snapshot_offset.store(-1, Ordering::Release);
        if !self.snapshot_files.load(Ordering::Acquire) {
            return Ok(None);
        }
        let files = self.watch(list(&self.dir, SNAPSHOT_EXT))?;
        for (offset, path) in files.into_iter().rev() {
            if offset > leo {
                self.watch(remove(&path))?;
                continue;
            }
            if offset < log_start {
                return Ok(None);
            }
            let bytes = self.watch(std::fs::read(&path).map_err(Error::io(&path)))?;
            match decode(&bytes) {
                Ok(entries) => {
                    self.producer_snapshot_offset.store(offset, Ordering::Release);
                    return Ok(Some((offset, entries)));
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), "ignoring producer snapshot: {e}");
                    self.watch(remove(&path))?;
                }
            }
        }
        Ok(None)
    }

    /// Deletes snapshots and transaction indexes of segments wholly below
    /// `offset` (they went with their segments).
    pub(super) fn delete_producer_files_below(&self, offset: i64) -> Result<(), Error> {
        self.forget_producer_snapshot_if(|at| at < offset);
        for ext in [SNAPSHOT_EXT, super::txn_index::TXN_INDEX_EXT] {
            for (at, path) in list(&self.dir, ext)? {
                if at >= offset {
                    break;
                }
                remove(&path)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(producer_id: i64) -> SnapshotEntry {
        SnapshotEntry {
            producer_id,
            producer_epoch: 3,
            last_sequence: 41,
            last_offset: 1_000,
            offset_delta: 9,
            timestamp: 1_700_000_000_000,
            coordinator_epoch: 2,
            current_txn_first_offset: -1,
        }
    }

    #[test]
    fn round_trip_in_kafkas_layout() {
        let entries = vec![entry(7), SnapshotEntry { current_txn_first_offset: 990, ..entry(8) }];
        let bytes = encode(&entries);
        assert_eq!(bytes.len(), HEADER + 2 * ENTRY);
        assert_eq!(&bytes[..2], &[0, 1], "version 1");
        assert_eq!(&bytes[6..10], &[0, 0, 0, 2], "entry count");
        assert_eq!(u32::from_be_bytes(be(&bytes, 2)), crc32c(&bytes[6..]), "CRC32C after the CRC");
        assert_eq!(&bytes[10..18], &7i64.to_be_bytes(), "producer id first");
        assert_eq!(decode(&bytes), Ok(entries));
        assert_eq!(decode(&encode(&[])), Ok(vec![]));
    }

    #[test]
    fn corrupt_snapshots_are_refused_never_panic() {
        let good = encode(&[entry(1), entry(2)]);
        for len in 0..good.len() {
            assert!(decode(&good[..len]).is_err(), "truncated to {len}");
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x40;
            assert!(decode(&bad).is_err(), "bit flipped at {i}");
        }
        // A huge count with a CRC that matches must not size an allocation.
        let mut huge = encode(&[]);
        huge[6..10].copy_from_slice(&i32::MAX.to_be_bytes());
        let crc = crc32c(&huge[6..]);
        huge[2..6].copy_from_slice(&crc.to_be_bytes());
        assert!(decode(&huge).is_err());
    }

    #[test]
    fn only_twenty_digit_names_are_snapshots() {
        assert_eq!(offset_of("00000000000000000042.snapshot", SNAPSHOT_EXT), Some(42));
        assert_eq!(offset_of("42.snapshot", SNAPSHOT_EXT), None);
        assert_eq!(offset_of("00000000000000000042.snapshot.tmp", SNAPSHOT_EXT), None);
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        fn entry() -> impl Strategy<Value = SnapshotEntry> {
            let ids = (any::<i64>(), any::<i16>(), any::<i32>(), any::<i32>());
            let offsets = (any::<i64>(), any::<i32>(), any::<i64>(), any::<i64>());
            (ids, offsets).prop_map(|(ids, offsets)| SnapshotEntry {
                producer_id: ids.0,
                producer_epoch: ids.1,
                last_sequence: ids.2,
                coordinator_epoch: ids.3,
                last_offset: offsets.0,
                offset_delta: offsets.1,
                timestamp: offsets.2,
                current_txn_first_offset: offsets.3,
            })
        }

        proptest! {
            #![proptest_config(crate::test_support::seeded(300, 0x54a9_5407))]

            #[test]
            fn snapshots_round_trip(entries in proptest::collection::vec(entry(), 0..20)) {
                prop_assert_eq!(decode(&encode(&entries)).unwrap(), entries);
            }

            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
                let _ = decode(&bytes);
            }

            /// Any change to a valid snapshot is caught (by its CRC, version
            /// or length checks), never read as other producers.
            #[test]
            fn a_changed_byte_is_refused(
                entries in proptest::collection::vec(entry(), 1..5),
                at in any::<prop::sample::Index>(),
                flip in 1u8..=255,
            ) {
                let mut bytes = encode(&entries);
                let i = at.index(bytes.len());
                bytes[i] ^= flip;
                prop_assert!(decode(&bytes).is_err(), "byte {} changed", i);
            }
        }
    }
}
