//! Transaction indexes: Kafka's `<base offset>.txnindex` files, one per
//! segment that holds ABORT markers, listing the aborted transactions whose
//! marker is in that segment. read_committed fetches report them so
//! consumers drop the aborted batches; the broker loads them on open
//! instead of scanning the log for markers.
//!
//! Layout (Kafka's `AbortedTxn`): 34-byte big-endian entries of version i16
//! (0), producer id i64, first offset i64, last offset (the marker's) i64
//! and the last stable offset i64 once the marker was written.

use std::io::Write;

use super::producer_snapshot::{list, remove};
use super::{Error, Log};

pub const TXN_INDEX_EXT: &str = ".txnindex";
pub const ENTRY_SIZE: usize = 34;
const VERSION: i16 = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortedTxnEntry {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

/// The bytes of an index holding `entries`.
pub fn encode_all(entries: &[AbortedTxnEntry]) -> Vec<u8> {
    entries.iter().flat_map(|e| e.encode()).collect()
}

impl AbortedTxnEntry {
    pub fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut out = [0; ENTRY_SIZE];
        out[..2].copy_from_slice(&VERSION.to_be_bytes());
        out[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        out[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        out[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        out[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        out
    }
}

/// What a transaction index holds: its whole entries, and why it stopped
/// early if it did (a torn tail or an unknown version).
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    pub entries: Vec<AbortedTxnEntry>,
    pub problem: Option<String>,
}

pub fn decode(bytes: &[u8]) -> Decoded {
    let mut entries = Vec::with_capacity(bytes.len() / ENTRY_SIZE);
    let mut problem = None;
    let mut chunks = bytes.chunks_exact(ENTRY_SIZE);
    for (i, c) in chunks.by_ref().enumerate() {
        let field = |at: usize| i64::from_be_bytes(c[at..at + 8].try_into().unwrap_or([0; 8]));
        let version = i16::from_be_bytes([c[0], c[1]]);
        if version != VERSION {
            problem = Some(format!(
                "entry {i} at position {} has unknown version {version}",
                i * ENTRY_SIZE
            ));
            break;
        }
        entries.push(AbortedTxnEntry {
            producer_id: field(2),
            first_offset: field(10),
            last_offset: field(18),
            last_stable_offset: field(26),
        });
    }
    if problem.is_none() && !chunks.remainder().is_empty() {
        problem = Some(format!(
            "{} trailing bytes after {} entries",
            chunks.remainder().len(),
            entries.len()
        ));
    }
    Decoded { entries, problem }
}

impl Log {
    /// Appends an aborted transaction to the index of the segment holding
    /// its marker (not synced: recovery rebuilds the unflushed tail).
    pub fn append_aborted_txn(&self, entry: &AbortedTxnEntry) -> Result<(), Error> {
        self.check_open()?;
        let segs = self.segments();
        let i = segs.partition_point(|s| s.base_offset() <= entry.last_offset).saturating_sub(1);
        let base = segs.get(i).map_or(entry.last_offset, |s| s.base_offset());
        let path = self.dir.join(super::segment::file_name(base, TXN_INDEX_EXT));
        let r = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(&entry.encode()))
            .map_err(Error::io(&path));
        self.watch(r)
    }

    /// The aborted transactions the indexes hold that overlap
    /// `[from, to)`: the marker at or past `from`, the first offset below
    /// `to` (Kafka's `collectAbortedTransactions`). Read only; a damaged
    /// index is an error, since what it lost cannot be told apart.
    pub fn collect_aborted_txns(&self, from: i64, to: i64) -> Result<Vec<AbortedTxnEntry>, Error> {
        let mut out = Vec::new();
        for (_, path) in self.watch(list(&self.dir, TXN_INDEX_EXT))? {
            let bytes = self.watch(std::fs::read(&path).map_err(Error::io(&path)))?;
            let decoded = decode(&bytes);
            if let Some(problem) = decoded.problem {
                return Err(Error::CorruptIndex { path, reason: problem });
            }
            out.extend(
                decoded
                    .entries
                    .into_iter()
                    .filter(|e| e.last_offset >= from && e.first_offset < to),
            );
        }
        Ok(out)
    }

    /// Every aborted transaction the indexes hold whose marker is below
    /// `below`, ordered by marker offset; entries at or past it are cut
    /// from the files (the caller re-derives them from the log). `None`
    /// when an index is damaged: every index is then removed and the
    /// caller rebuilds them all from the log.
    pub fn load_aborted_txns(&self, below: i64) -> Result<Option<Vec<AbortedTxnEntry>>, Error> {
        self.check_open()?;
        let files = self.watch(list(&self.dir, TXN_INDEX_EXT))?;
        let mut out = Vec::new();
        let mut damaged = false;
        for (_, path) in &files {
            let bytes = self.watch(std::fs::read(path).map_err(Error::io(path)))?;
            let decoded = decode(&bytes);
            if let Some(problem) = decoded.problem {
                tracing::warn!(file = %path.display(), "rebuilding transaction indexes: {problem}");
                damaged = true;
                break;
            }
            let keep = decoded.entries.iter().take_while(|e| e.last_offset < below).count();
            if keep < decoded.entries.len() {
                let r = if keep == 0 {
                    remove(path)
                } else {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(path)
                        .and_then(|f| f.set_len((keep * ENTRY_SIZE) as u64))
                        .map_err(Error::io(path))
                };
                self.watch(r)?;
            }
            out.extend_from_slice(&decoded.entries[..keep]);
        }
        if damaged {
            for (_, path) in &files {
                self.watch(remove(path))?;
            }
            return Ok(None);
        }
        out.sort_by_key(|e| e.last_offset);
        Ok(Some(out))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::log) fn entry(pid: i64, first: i64, last: i64) -> AbortedTxnEntry {
        AbortedTxnEntry {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: last + 1,
        }
    }

    #[test]
    fn round_trip_in_kafkas_layout() {
        let e = entry(1_000, 5, 9);
        let bytes = e.encode();
        assert_eq!(&bytes[..2], &[0, 0], "version 0");
        assert_eq!(&bytes[2..10], &1_000i64.to_be_bytes());
        assert_eq!(&bytes[26..], &10i64.to_be_bytes(), "last stable offset last");
        let mut file = bytes.to_vec();
        file.extend_from_slice(&entry(7, 10, 12).encode());
        assert_eq!(decode(&file), Decoded { entries: vec![e, entry(7, 10, 12)], problem: None });
    }

    #[test]
    fn torn_or_unknown_entries_are_reported_not_fatal() {
        let mut file = entry(1, 0, 3).encode().to_vec();
        file.extend_from_slice(&[0; 5]);
        let d = decode(&file);
        assert_eq!(d.entries, vec![entry(1, 0, 3)]);
        assert!(d.problem.is_some_and(|p| p.contains("5 trailing bytes")));
        let mut bad = entry(2, 0, 3).encode();
        bad[1] = 9;
        let d = decode(&bad);
        assert!(d.entries.is_empty());
        assert!(d.problem.is_some_and(|p| p.contains("unknown version 9")));
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        fn entries() -> impl Strategy<Value = Vec<AbortedTxnEntry>> {
            let fields = (any::<i64>(), any::<i64>(), any::<i64>(), any::<i64>());
            let entry = fields.prop_map(|f| AbortedTxnEntry {
                producer_id: f.0,
                first_offset: f.1,
                last_offset: f.2,
                last_stable_offset: f.3,
            });
            proptest::collection::vec(entry, 0..20)
        }

        proptest! {
            #![proptest_config(crate::test_support::seeded(300, 0x007a_1d3c))]

            #[test]
            fn indexes_round_trip(entries in entries()) {
                let bytes: Vec<u8> = entries.iter().flat_map(|e| e.encode()).collect();
                prop_assert_eq!(decode(&bytes), Decoded { entries, problem: None });
            }

            /// A torn tail (a crash mid-append) keeps every whole entry
            /// before it and says why it stopped.
            #[test]
            fn a_torn_tail_keeps_the_whole_entries(entries in entries(), cut in 1..ENTRY_SIZE) {
                let mut bytes: Vec<u8> = entries.iter().flat_map(|e| e.encode()).collect();
                bytes.extend_from_slice(&AbortedTxnEntry {
                    producer_id: 1, first_offset: 2, last_offset: 3, last_stable_offset: 4,
                }.encode()[..cut]);
                let decoded = decode(&bytes);
                prop_assert_eq!(decoded.entries, entries);
                prop_assert!(decoded.problem.is_some());
            }

            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
                let decoded = decode(&bytes);
                prop_assert!(decoded.entries.len() <= bytes.len() / ENTRY_SIZE);
            }
        }
    }
}
