//! Idempotent producer state of one partition (Kafka's
//! `ProducerStateManager`): per producer id its epoch and the last five
//! batches it appended, so a retried batch is answered with its original
//! offsets instead of being written twice, a gap in sequence numbers is
//! refused with OUT_OF_ORDER_SEQUENCE_NUMBER, and an older epoch is fenced.

use std::collections::{HashMap, VecDeque};

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
}

#[derive(Clone, Debug, Default)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchSequence>,
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
        match entry.batches.back() {
            Some(last) if first_seq != next_seq(last.last_seq) => {
                Check::Reject(ErrorCode::OutOfOrderSequenceNumber)
            }
            None if first_seq != 0 => Check::Reject(ErrorCode::OutOfOrderSequenceNumber),
            _ => Check::Append,
        }
    }

    /// Records an appended batch (also used to rebuild state from the log).
    pub fn record(&mut self, producer_id: i64, epoch: i16, batch: BatchSequence) {
        if producer_id == NO_PRODUCER_ID {
            return;
        }
        let entry = self.producers.entry(producer_id).or_default();
        if epoch != entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry.batches.push_back(batch);
        while entry.batches.len() > RETAINED_BATCHES {
            entry.batches.pop_front();
        }
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
        }
    }

    #[test]
    fn sequence_rules() {
        let mut s = ProducerStateManager::new();
        assert_eq!(
            s.check(NO_PRODUCER_ID, -1, -1, -1),
            Check::Append,
            "plain producers are not tracked"
        );
        assert_eq!(s.check(7, 0, 0, 9), Check::Append, "a new producer starts at 0");
        assert_eq!(
            s.check(7, 0, 5, 9),
            Check::Reject(ErrorCode::UnknownProducerId),
            "unknown producer mid-stream"
        );
        s.record(7, 0, batch(0, 9, 100));
        assert_eq!(
            s.check(7, 0, 0, 9),
            Check::Duplicate { first_offset: 100, last_offset: 109 },
            "retry of the last batch"
        );
        assert_eq!(
            s.check(7, 0, 11, 12),
            Check::Reject(ErrorCode::OutOfOrderSequenceNumber),
            "gap"
        );
        assert_eq!(s.check(7, 0, 10, 12), Check::Append, "next in sequence");
        assert_eq!(
            s.check(7, 1, 3, 4),
            Check::Reject(ErrorCode::OutOfOrderSequenceNumber),
            "new epoch must restart at 0"
        );
        assert_eq!(s.check(7, 1, 0, 4), Check::Append, "new epoch at 0");
        s.record(7, 1, batch(0, 4, 200));
        assert_eq!(
            s.check(7, 0, 10, 12),
            Check::Reject(ErrorCode::InvalidProducerEpoch),
            "old epoch is fenced"
        );
    }

    #[test]
    fn only_five_batches_are_remembered() {
        let mut s = ProducerStateManager::new();
        for i in 0..6 {
            s.record(1, 0, batch(i * 10, i * 10 + 9, i as i64 * 10));
        }
        assert_eq!(
            s.check(1, 0, 10, 19),
            Check::Duplicate { first_offset: 10, last_offset: 19 },
            "second batch kept"
        );
        assert_eq!(
            s.check(1, 0, 0, 9),
            Check::Reject(ErrorCode::OutOfOrderSequenceNumber),
            "first batch forgotten"
        );
    }

    #[test]
    fn sequence_wraps() {
        let mut s = ProducerStateManager::new();
        s.record(1, 0, batch(i32::MAX - 1, i32::MAX, 0));
        assert_eq!(s.check(1, 0, 0, 3), Check::Append, "after i32::MAX comes 0");
    }
}
