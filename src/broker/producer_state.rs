//! Idempotent producer state of one partition (Kafka's
//! `ProducerStateManager`): per producer id its epoch and the last five
//! batches it appended, so a retried batch is answered with its original
//! offsets instead of being written twice, a gap in sequence numbers is
//! refused with OUT_OF_ORDER_SEQUENCE_NUMBER, and an older epoch is fenced.
//!
//! Transactions (KIP-98): the first offset of each producer's ongoing
//! transaction, which bounds the last stable offset, and the aborted
//! transactions (producer id, first offset, marker offset) that
//! read_committed fetches report so consumers drop their batches. On open
//! the producers come from the newest `.snapshot` file and the aborted
//! transactions from the `.txnindex` files, and only the batch headers past
//! the snapshot are read (all of them when there is none).

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::log::{AbortedTxnEntry, SnapshotEntry};
use crate::protocol::ErrorCode;

/// Batches remembered per producer: Kafka's
/// `max.in.flight.requests.per.connection` limit for idempotence.
pub const RETAINED_BATCHES: usize = 5;

/// A producer-id-less batch (not idempotent).
pub const NO_PRODUCER_ID: i64 = -1;

/// One appended batch's sequence range and where it landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchSequence {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    /// The batch's max timestamp (DescribeProducers' LastTimestamp).
    pub max_timestamp: i64,
}

#[derive(Clone, Debug, Default)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchSequence>,
    /// First offset of the ongoing transaction, if one is open.
    current_txn_first_offset: Option<i64>,
    /// The newest transaction coordinator epoch seen in a marker.
    coordinator_epoch: i32,
    /// The next batch in sequence, if this partition last refused it with a
    /// retriable error before appending it: its sequence and that error.
    refused_next: Option<(i32, ErrorCode)>,
}

/// An aborted transaction of a partition (Kafka's `AbortedTxn` without the
/// LSO column): consumers in read_committed skip this producer's batches
/// from `first_offset` until its marker at `last_offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
}

/// A COMMIT or ABORT marker's effect on one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnMarker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
    pub commit: bool,
}

/// One producer as DescribeProducers reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerView {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub last_sequence: i32,
    pub last_offset: i64,
    pub coordinator_epoch: i32,
    pub current_txn_start_offset: i64,
    pub last_timestamp: i64,
}

/// The verdict on an incoming batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// Append it.
    Append,
    /// Already appended: answer with these offsets, append nothing.
    Duplicate {
        first_offset: i64,
        last_offset: i64,
    },
    Reject(ErrorCode),
}

#[derive(Debug, Default)]
pub struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
    /// Ongoing transactions by first offset.
    ongoing: BTreeMap<i64, i64>,
    /// Ordered by marker offset.
    aborted: Vec<AbortedTxn>,
    /// Transactions ended since the partition last took them, as (first
    /// offset, marker offset): until the high watermark passes its marker
    /// a transaction still holds the last stable offset back.
    completed: Vec<(i64, i64)>,
}

/// `seq` moved back by `by`, wrapping below 0 to i32::MAX as sequences do.
fn decrement_seq(seq: i32, by: i32) -> i32 {
    if by <= 0 {
        return seq;
    }
    (i64::from(seq) - i64::from(by)).rem_euclid(i64::from(i32::MAX) + 1) as i32
}

/// The sequence after `seq`; sequences wrap from i32::MAX to 0.
fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

impl ProducerStateManager {
    pub fn new() -> Self {
        Self::default()
    }

    /// Decides what to do with a batch from `producer_id` at `epoch`
    /// covering sequences `first_seq..=last_seq`.
    pub fn check(&self, producer_id: i64, epoch: i16, first_seq: i32, last_seq: i32) -> Check {
        if producer_id == NO_PRODUCER_ID {
            return Check::Append;
        }
        let Some(entry) = self.producers.get(&producer_id) else {
            return if first_seq == 0 {
                Check::Append
            } else {
                Check::Reject(ErrorCode::UnknownProducerId)
            };
        };
        if epoch < entry.epoch {
            return Check::Reject(ErrorCode::InvalidProducerEpoch);
        }
        if epoch > entry.epoch {
            // A bumped epoch restarts the sequence at 0.
            return if first_seq == 0 {
                Check::Append
            } else {
                Check::Reject(ErrorCode::OutOfOrderSequenceNumber)
            };
        }
        if let Some(dup) =
            entry.batches.iter().find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
        {
            return Check::Duplicate {
                first_offset: dup.first_offset,
                last_offset: dup.last_offset,
            };
        }
        let expected = entry.batches.back().map_or(0, |last| next_seq(last.last_seq));
        match entry.refused_next {
            _ if first_seq == expected => Check::Append,
            // The batch this one follows was refused a moment ago (the ISR
            // or the leadership changed in between, while both were in
            // flight): it is retriable, not out of order. librdkafka takes
            // OUT_OF_ORDER_SEQUENCE_NUMBER here for a lost batch, bumps the
            // epoch and re-sends every unacknowledged record under new
            // sequences, duplicating those another partition had written
            // without acknowledging.
            Some((seq, code)) if seq == expected => Check::Reject(code),
            _ => Check::Reject(ErrorCode::OutOfOrderSequenceNumber),
        }
    }

    /// Notes that the batch from `producer_id` at `epoch` starting at
    /// `first_seq` was refused with the retriable `code` before its append;
    /// see [`ProducerStateManager::check`].
    pub fn refused(&mut self, producer_id: i64, epoch: i16, first_seq: i32, code: ErrorCode) {
        let Some(entry) = self.producers.get_mut(&producer_id) else { return };
        let expected = entry.batches.back().map_or(0, |last| next_seq(last.last_seq));
        if epoch == entry.epoch && first_seq == expected {
            entry.refused_next = Some((first_seq, code));
        }
    }

    /// Decides on a coordinator's batch, which has no sequence: only an
    /// older epoch than the producer's is refused.
    pub fn check_epoch(&self, producer_id: i64, epoch: i16) -> Check {
        match self.producers.get(&producer_id) {
            Some(entry) if epoch < entry.epoch => Check::Reject(ErrorCode::InvalidProducerEpoch),
            _ => Check::Append,
        }
    }

    /// Records an appended batch (also used to rebuild state from the log);
    /// a transactional batch opens the producer's transaction if none is.
    pub fn record(
        &mut self,
        producer_id: i64,
        epoch: i16,
        batch: BatchSequence,
        transactional: bool,
    ) {
        if producer_id == NO_PRODUCER_ID {
            return;
        }
        let entry = self.producers.entry(producer_id).or_default();
        if epoch != entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry.refused_next = None;
        if transactional && entry.current_txn_first_offset.is_none() {
            entry.current_txn_first_offset = Some(batch.first_offset);
            self.ongoing.insert(batch.first_offset, producer_id);
        }
        entry.batches.push_back(batch);
        while entry.batches.len() > RETAINED_BATCHES {
            entry.batches.pop_front();
        }
    }

    /// Whether a marker may be written: its epoch must not be older than
    /// the producer's, nor its coordinator epoch older than the last one seen
    /// (Kafka's `checkProducerEpoch` and `checkCoordinatorEpoch`).
    pub fn check_marker(&self, marker: &TxnMarker) -> Result<(), ErrorCode> {
        let Some(entry) = self.producers.get(&marker.producer_id) else {
            return Ok(());
        };
        if marker.producer_epoch < entry.epoch {
            return Err(ErrorCode::InvalidProducerEpoch);
        }
        if marker.coordinator_epoch < entry.coordinator_epoch {
            return Err(ErrorCode::TransactionCoordinatorFenced);
        }
        Ok(())
    }

    /// Applies a marker written at `offset`: the producer's transaction
    /// ends, an aborted one is remembered (and returned for the segment's
    /// transaction index), and a bumped epoch fences the producer's older
    /// instances.
    pub fn complete_txn(&mut self, marker: &TxnMarker, offset: i64) -> Option<AbortedTxnEntry> {
        let entry = self.producers.entry(marker.producer_id).or_default();
        if marker.producer_epoch != entry.epoch {
            entry.epoch = marker.producer_epoch;
            entry.batches.clear();
        }
        entry.coordinator_epoch = entry.coordinator_epoch.max(marker.coordinator_epoch);
        let first = entry.current_txn_first_offset.take()?;
        self.ongoing.remove(&first);
        self.completed.push((first, offset));
        if marker.commit {
            return None;
        }
        self.aborted.push(AbortedTxn {
            producer_id: marker.producer_id,
            first_offset: first,
            last_offset: offset,
        });
        Some(AbortedTxnEntry {
            producer_id: marker.producer_id,
            first_offset: first,
            last_offset: offset,
            // Kafka's `lastStableOffset(completedTxn)`: the next open
            // transaction of another producer, or just past the marker.
            last_stable_offset: self.first_unstable_offset().unwrap_or(offset + 1),
        })
    }

    /// Every producer as a snapshot stores it: the last batch only, as
    /// Kafka does (older retries are then refused as out of sequence
    /// rather than answered as duplicates).
    pub fn to_snapshot(&self) -> Vec<SnapshotEntry> {
        self.producers
            .iter()
            .map(|(&producer_id, e)| {
                let last = e.batches.back();
                SnapshotEntry {
                    producer_id,
                    producer_epoch: e.epoch,
                    last_sequence: last.map_or(-1, |b| b.last_seq),
                    last_offset: last.map_or(-1, |b| b.last_offset),
                    offset_delta: last.map_or(0, |b| (b.last_offset - b.first_offset) as i32),
                    timestamp: last.map_or(-1, |b| b.max_timestamp),
                    coordinator_epoch: e.coordinator_epoch,
                    current_txn_first_offset: e.current_txn_first_offset.unwrap_or(-1),
                }
            })
            .collect()
    }

    /// The state a snapshot and the transaction indexes describe.
    pub fn from_snapshot(entries: &[SnapshotEntry], aborted: &[AbortedTxnEntry]) -> Self {
        let mut s = Self::new();
        for e in entries.iter().filter(|e| e.producer_id != NO_PRODUCER_ID) {
            let mut batches = VecDeque::new();
            if e.last_offset >= 0 {
                let delta = e.offset_delta.max(0);
                batches.push_back(BatchSequence {
                    first_seq: decrement_seq(e.last_sequence, delta),
                    last_seq: e.last_sequence,
                    first_offset: e.last_offset.saturating_sub(i64::from(delta)),
                    last_offset: e.last_offset,
                    max_timestamp: e.timestamp,
                });
            }
            let current = (e.current_txn_first_offset >= 0).then_some(e.current_txn_first_offset);
            if let Some(first) = current {
                s.ongoing.insert(first, e.producer_id);
            }
            s.producers.insert(
                e.producer_id,
                ProducerEntry {
                    epoch: e.producer_epoch,
                    batches,
                    current_txn_first_offset: current,
                    coordinator_epoch: e.coordinator_epoch,
                    refused_next: None,
                },
            );
        }
        s.aborted = aborted
            .iter()
            .map(|a| AbortedTxn {
                producer_id: a.producer_id,
                first_offset: a.first_offset,
                last_offset: a.last_offset,
            })
            .collect();
        s
    }

    /// Forgets aborted transactions whose ABORT marker the cleaner removed
    /// (matched by producer and marker offset).
    pub fn forget_aborted(&mut self, removed: &[AbortedTxnEntry]) {
        self.aborted.retain(|a| {
            !removed
                .iter()
                .any(|r| r.producer_id == a.producer_id && r.last_offset == a.last_offset)
        });
    }

    /// Forgets aborted transactions whose marker is below the log start
    /// offset: no fetch can reach them any more.
    pub fn prune_aborted_below(&mut self, log_start_offset: i64) {
        let gone = self.aborted.partition_point(|a| a.last_offset < log_start_offset);
        self.aborted.drain(..gone);
    }

    /// The first offset of the oldest ongoing transaction: the last stable
    /// offset cannot pass it.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// The transactions ended since the last call, as (first offset,
    /// marker offset).
    pub fn take_completed(&mut self) -> Vec<(i64, i64)> {
        std::mem::take(&mut self.completed)
    }

    /// Aborted transactions overlapping `[from, to)`, for a read_committed
    /// fetch (Kafka's `collectAbortedTxns`).
    pub fn aborted_between(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        let start = self.aborted.partition_point(|a| a.last_offset < from);
        self.aborted[start..].iter().filter(|a| a.first_offset < to).copied().collect()
    }

    /// Producers with an open transaction, with its first offset.
    pub fn ongoing(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.ongoing.iter().map(|(&first, &pid)| (pid, first))
    }

    /// Each producer's epoch, last sequence and last offset (DescribeProducers).
    pub fn producers(&self) -> impl Iterator<Item = ProducerView> + '_ {
        self.producers.iter().map(|(&producer_id, e)| ProducerView {
            producer_id,
            producer_epoch: e.epoch,
            last_sequence: e.batches.back().map_or(-1, |b| b.last_seq),
            last_offset: e.batches.back().map_or(-1, |b| b.last_offset),
            coordinator_epoch: e.coordinator_epoch,
            current_txn_start_offset: e.current_txn_first_offset.unwrap_or(-1),
            last_timestamp: e.batches.back().map_or(-1, |b| b.max_timestamp),
        })
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(first_seq: i32, last_seq: i32, first_offset: i64) -> BatchSequence {
        BatchSequence {
            first_seq,
            last_seq,
            first_offset,
            last_offset: first_offset + (last_seq - first_seq) as i64,
            max_timestamp: -1,
        }
    }

    /// A coordinator's abort marker for epoch 0 of `producer_id`.
    fn abort_marker(producer_id: i64, coordinator_epoch: i32) -> TxnMarker {
        TxnMarker { producer_id, producer_epoch: 0, coordinator_epoch, commit: false }
    }

    /// One step of a producer's life, as the partition sees it.
    enum Step {
        /// `check(producer, epoch, first_seq, last_seq)` must answer this.
        Expect(i64, i16, i32, i32, Check, &'static str),
        /// The batch `(first_seq, last_seq)` was appended at `first_offset`.
        Appended(i64, i16, i32, i32, i64),
        /// The same, inside the producer's open transaction.
        AppendedInTxn(i64, i16, i32, i32, i64),
        /// The batch starting at `first_seq` was refused with this code.
        Refused(i64, i16, i32, ErrorCode),
        /// The coordinator's marker was appended at this offset.
        Ended(TxnMarker, i64),
        /// `first_unstable_offset()` must answer this.
        Lso(Option<i64>, &'static str),
    }
    use Step::*;

    const fn reject(code: ErrorCode) -> Check {
        Check::Reject(code)
    }

    const fn duplicate(first_offset: i64, last_offset: i64) -> Check {
        Check::Duplicate { first_offset, last_offset }
    }

    /// Plays the steps in order on a fresh manager and returns it; a
    /// failed check names its step and why it is expected.
    fn play(steps: &[Step]) -> ProducerStateManager {
        let mut s = ProducerStateManager::new();
        for (i, step) in steps.iter().enumerate() {
            match step {
                Expect(id, epoch, first, last, want, why) => {
                    assert_eq!(s.check(*id, *epoch, *first, *last), *want, "step {i}: {why}")
                }
                Appended(id, epoch, first, last, offset) => {
                    s.record(*id, *epoch, batch(*first, *last, *offset), false)
                }
                AppendedInTxn(id, epoch, first, last, offset) => {
                    s.record(*id, *epoch, batch(*first, *last, *offset), true)
                }
                Refused(id, epoch, first, code) => s.refused(*id, *epoch, *first, *code),
                Ended(marker, offset) => {
                    s.complete_txn(marker, *offset);
                }
                Lso(want, why) => assert_eq!(s.first_unstable_offset(), *want, "step {i}: {why}"),
            }
        }
        s
    }

    #[test]
    fn sequence_rules() {
        use ErrorCode::*;
        play(&[
            Expect(NO_PRODUCER_ID, -1, -1, -1, Check::Append, "plain producers are not tracked"),
            Expect(7, 0, 0, 9, Check::Append, "a new producer starts at 0"),
            Expect(7, 0, 5, 9, reject(UnknownProducerId), "unknown producer mid-stream"),
            Appended(7, 0, 0, 9, 100),
            Expect(7, 0, 0, 9, duplicate(100, 109), "retry of the last batch"),
            Expect(7, 0, 11, 12, reject(OutOfOrderSequenceNumber), "gap"),
            Expect(7, 0, 10, 12, Check::Append, "next in sequence"),
            Expect(7, 1, 3, 4, reject(OutOfOrderSequenceNumber), "new epoch must restart at 0"),
            Expect(7, 1, 0, 4, Check::Append, "new epoch at 0"),
            Appended(7, 1, 0, 4, 200),
            Expect(7, 0, 10, 12, reject(InvalidProducerEpoch), "old epoch is fenced"),
        ]);
    }

    // A table reads best one step a line, even past the usual width.
    #[rustfmt::skip]
    #[test]
    fn a_batch_behind_one_refused_as_retriable_gets_the_same_error() {
        use ErrorCode::*;
        play(&[
            Appended(7, 0, 0, 9, 100),
            Refused(7, 0, 10, NotEnoughReplicas),
            Expect(7, 0, 13, 15, reject(NotEnoughReplicas), "its predecessor (10..12) was refused: retry both, in order"),
            Expect(7, 0, 10, 12, Check::Append, "the refused batch itself"),
            Appended(7, 0, 10, 12, 110),
            Expect(7, 0, 16, 17, reject(OutOfOrderSequenceNumber), "once appended, a gap is a gap again"),
            Refused(7, 0, 14, NotLeaderOrFollower),
            Expect(7, 0, 16, 17, reject(OutOfOrderSequenceNumber), "a refusal out of sequence is not remembered"),
            Refused(7, 0, 13, NotLeaderOrFollower),
            Expect(7, 0, 14, 17, reject(NotLeaderOrFollower), "the refused one is next in line"),
            Expect(7, 0, 0, 9, duplicate(100, 109), "a retry is still answered with its offsets"),
            Expect(7, 1, 5, 6, reject(OutOfOrderSequenceNumber), "a new epoch starts at 0 whatever was refused"),
            Refused(8, 0, 0, NotEnoughReplicas),
            Expect(8, 0, 3, 4, reject(UnknownProducerId), "nothing is remembered of an unknown producer"),
        ]);
    }

    #[test]
    fn only_five_batches_are_remembered() {
        use ErrorCode::*;
        let mut steps: Vec<Step> =
            (0..6).map(|i| Appended(1, 0, i * 10, i * 10 + 9, i as i64 * 10)).collect();
        steps.push(Expect(1, 0, 10, 19, duplicate(10, 19), "second batch kept"));
        steps.push(Expect(1, 0, 0, 9, reject(OutOfOrderSequenceNumber), "first batch forgotten"));
        play(&steps);
    }

    #[test]
    fn an_aborted_transaction_is_remembered_and_the_lso_waits_for_open_ones() {
        let abort = abort_marker(1, 2);
        let mut s = play(&[
            AppendedInTxn(1, 0, 0, 4, 10),
            Lso(Some(10), "a transaction opens with its first batch"),
            AppendedInTxn(2, 0, 0, 0, 15),
            AppendedInTxn(1, 0, 5, 5, 16),
            Lso(Some(10), "the oldest open transaction"),
            Ended(abort, 17),
            Lso(Some(15), "the next open one"),
            Ended(TxnMarker { producer_id: 2, commit: true, ..abort }, 18),
            Lso(None, "none open"),
        ]);
        let aborted = AbortedTxn { producer_id: 1, first_offset: 10, last_offset: 17 };
        assert_eq!(s.aborted_between(0, 100), vec![aborted]);
        assert_eq!(s.aborted_between(18, 100), vec![], "ended before the fetch");
        assert_eq!(s.aborted_between(0, 10), vec![], "starts after the read");
        s.prune_aborted_below(18);
        assert_eq!(s.aborted_between(0, 100), vec![], "deleted with its segments");
    }

    #[test]
    fn markers_from_an_older_coordinator_or_epoch_are_refused() {
        let mut s = play(&[AppendedInTxn(1, 3, 0, 0, 0)]);
        let m = TxnMarker { producer_epoch: 4, ..abort_marker(1, 5) };
        assert_eq!(s.check_marker(&m), Ok(()), "a fencing abort bumps the epoch");
        s.complete_txn(&m, 1);
        assert_eq!(
            s.check(1, 3, 1, 1),
            Check::Reject(ErrorCode::InvalidProducerEpoch),
            "zombie fenced"
        );
        let stale = TxnMarker { coordinator_epoch: 4, ..m };
        assert_eq!(s.check_marker(&stale), Err(ErrorCode::TransactionCoordinatorFenced));
        let old = TxnMarker { producer_epoch: 3, ..m };
        assert_eq!(s.check_marker(&old), Err(ErrorCode::InvalidProducerEpoch));
    }

    #[test]
    fn a_snapshot_restores_producers_and_open_transactions() {
        let mut s = play(&[
            Appended(1, 2, 10, 14, 100),
            AppendedInTxn(2, 0, 0, 3, 105),
            AppendedInTxn(3, 0, 0, 0, 109),
        ]);
        let abort = abort_marker(3, 4);
        let entry = s.complete_txn(&abort, 110).expect("an abort is indexed");
        assert_eq!(
            (entry.first_offset, entry.last_offset, entry.last_stable_offset),
            (109, 110, 105),
            "the LSO stops at producer 2's open transaction"
        );
        let loaded = ProducerStateManager::from_snapshot(&s.to_snapshot(), &[entry]);
        assert_eq!(loaded.first_unstable_offset(), Some(105));
        assert_eq!(
            loaded.check(1, 2, 10, 14),
            Check::Duplicate { first_offset: 100, last_offset: 104 },
            "the last batch is a duplicate after loading"
        );
        assert_eq!(loaded.check(1, 2, 15, 15), Check::Append, "the next sequence follows");
        assert_eq!(loaded.check(1, 1, 15, 15), Check::Reject(ErrorCode::InvalidProducerEpoch));
        assert_eq!(
            loaded.check_marker(&TxnMarker { coordinator_epoch: 3, ..abort }),
            Err(ErrorCode::TransactionCoordinatorFenced),
            "the coordinator epoch survives"
        );
        assert_eq!(loaded.aborted_between(0, 200), s.aborted_between(0, 200));
        let mut views: Vec<_> = loaded.producers().collect();
        let mut expected: Vec<_> = s.producers().collect();
        views.sort_by_key(|v| v.producer_id);
        expected.sort_by_key(|v| v.producer_id);
        assert_eq!(views, expected, "DescribeProducers answers the same");
        assert_eq!(decrement_seq(2, 5), i32::MAX - 2, "a last batch across the wrap");
    }

    #[test]
    fn sequence_wraps() {
        let mut s = ProducerStateManager::new();
        s.record(1, 0, batch(i32::MAX - 1, i32::MAX, 0), false);
        assert_eq!(s.check(1, 0, 0, 3), Check::Append, "after i32::MAX comes 0");
    }
}
