//! What the cleaner knows of transactions while it walks a log in offset
//! order (Kafka's `CleanedTransactionMetadata`): which batches belong to
//! an aborted transaction (their records are removed and never enter the
//! key map), and when a COMMIT or ABORT marker may go.
//!
//! A marker stays while any batch of its transaction is still in the log:
//! a consumer needs the ABORT marker to stop skipping that producer's
//! batches, and a rebuild of the producer state needs the marker to close
//! the transaction. An ABORT marker that stays because the pass removed
//! records of its transaction keeps its entry in the cleaned segment's
//! `.txnindex`; once a later pass finds no batch of it left, the entry
//! goes, and the marker goes too once it is older than
//! `delete.retention.ms` (the tombstone rule).

use std::collections::{HashMap, HashSet, VecDeque};

use super::txn_index::AbortedTxnEntry;
use crate::record::control::{self, ABORT, COMMIT};
use crate::record::RecordBatch;

/// Aborted transactions met so far and still open at the walk's position.
struct OpenAborted {
    entry: AbortedTxnEntry,
    /// A batch of it was seen (and its records removed) in this pass.
    batch_seen: bool,
}

pub(super) struct CleanedTransactions {
    /// Aborted transactions not reached yet, by first offset.
    pending: VecDeque<AbortedTxnEntry>,
    open_aborted: HashMap<i64, OpenAborted>,
    /// Producers with a batch seen in a transaction not known as aborted.
    open_committed: HashSet<i64>,
}

/// What to do with a control batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ControlBatch {
    /// No batch of its transaction is left: it may go once old enough.
    pub can_discard: bool,
    /// The aborted transaction it ends, to keep in the cleaned segment's
    /// index while the marker stays for the batches this pass removed.
    pub index: Option<AbortedTxnEntry>,
    /// The aborted transaction it ends (the producer and the marker's
    /// offset at least), for those who drop it once the marker goes.
    pub aborted: Option<AbortedTxnEntry>,
}

impl CleanedTransactions {
    /// `aborted`: the aborted transactions of the cleaned range, from the
    /// `.txnindex` files.
    pub fn new(mut aborted: Vec<AbortedTxnEntry>) -> Self {
        aborted.sort_by_key(|e| e.first_offset);
        CleanedTransactions {
            pending: aborted.into(),
            open_aborted: HashMap::new(),
            open_committed: HashSet::new(),
        }
    }

    fn reach(&mut self, offset: i64) {
        while self.pending.front().is_some_and(|e| e.first_offset <= offset) {
            if let Some(entry) = self.pending.pop_front() {
                self.open_aborted
                    .entry(entry.producer_id)
                    .or_insert(OpenAborted { entry, batch_seen: false });
            }
        }
    }

    /// Whether a data batch belongs to an aborted transaction.
    pub fn on_batch(&mut self, batch: &RecordBatch<'_>) -> bool {
        self.reach(batch.last_offset());
        if !batch.is_transactional() {
            return false;
        }
        match self.open_aborted.get_mut(&batch.producer_id()) {
            Some(open) => {
                open.batch_seen = true;
                true
            }
            None => {
                self.open_committed.insert(batch.producer_id());
                false
            }
        }
    }

    pub fn on_control(&mut self, batch: &RecordBatch<'_>) -> ControlBatch {
        self.reach(batch.last_offset());
        let keep = ControlBatch { can_discard: false, index: None, aborted: None };
        let pid = batch.producer_id();
        match control::control_type(batch) {
            Some(ABORT) => {
                let open = self.open_aborted.remove(&pid);
                let entry = open.as_ref().map_or(
                    AbortedTxnEntry {
                        producer_id: pid,
                        first_offset: batch.base_offset(),
                        last_offset: batch.base_offset(),
                        last_stable_offset: batch.base_offset() + 1,
                    },
                    |o| o.entry,
                );
                match open {
                    Some(o) if o.batch_seen => ControlBatch {
                        can_discard: false,
                        index: Some(entry),
                        aborted: Some(entry),
                    },
                    _ => ControlBatch { can_discard: true, index: None, aborted: Some(entry) },
                }
            }
            Some(COMMIT) => ControlBatch { can_discard: !self.open_committed.remove(&pid), ..keep },
            _ => keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::txn_index::tests::entry;
    use crate::record::{BatchBuilder, Compression, NewRecord};

    fn data(pid: i64, offset: i64, transactional: bool) -> Vec<u8> {
        let mut b = BatchBuilder::new(Compression::None)
            .base_offset(offset)
            .producer(pid, 0, 0)
            .transactional(transactional);
        b.push(NewRecord::new(0, Some(b"k"), Some(b"v")));
        b.build().unwrap()
    }

    fn marker(pid: i64, offset: i64, kind: i16) -> Vec<u8> {
        let mut bytes = control::marker_batch(pid, 0, kind, 0, 0).unwrap();
        bytes[..8].copy_from_slice(&offset.to_be_bytes());
        bytes
    }

    #[test]
    fn aborted_batches_go_and_their_marker_stays_while_they_were_there() {
        // 0: pid 1 aborted, 1: pid 2 committed, 2: pid 1's ABORT, 3: pid 2's COMMIT,
        // 4: idempotent pid 3, 5: pid 1's ABORT of a transaction already cleaned.
        let mut t = CleanedTransactions::new(vec![entry(1, 5, 5), entry(1, 0, 2)]);
        let bytes = [
            data(1, 0, true),
            data(2, 1, true),
            marker(1, 2, ABORT),
            marker(2, 3, COMMIT),
            data(3, 4, false),
            marker(1, 5, ABORT),
        ];
        let b = |i: usize| RecordBatch::parse(&bytes[i]).unwrap();
        assert!(t.on_batch(&b(0)), "in an aborted transaction");
        assert!(!t.on_batch(&b(1)), "a committed transaction's batch stays");
        assert_eq!(
            t.on_control(&b(2)),
            ControlBatch {
                can_discard: false,
                index: Some(entry(1, 0, 2)),
                aborted: Some(entry(1, 0, 2))
            },
            "its batch was removed in this pass: the marker and its index entry stay"
        );
        assert!(!t.on_control(&b(3)).can_discard, "the commit's batch is still there");
        assert!(!t.on_batch(&b(4)), "not transactional");
        let last = t.on_control(&b(5));
        assert!(last.can_discard && last.index.is_none(), "nothing of it left: {last:?}");
        assert_eq!(last.aborted, Some(entry(1, 5, 5)));
    }

    #[test]
    fn a_commit_marker_alone_may_go() {
        let mut t = CleanedTransactions::new(vec![]);
        let bytes = marker(4, 10, COMMIT);
        assert!(t.on_control(&RecordBatch::parse(&bytes).unwrap()).can_discard);
    }
}
