//! The follower's end of a fetch session (KIP-227), Kafka's
//! `FetchSessionHandler`: it remembers what the leader's session holds for
//! each partition, so a round sends only the partitions that are new or
//! whose fetch fields changed, and forgets the ones left out. An idle
//! follower of thousands of partitions then sends an almost empty request,
//! and the leader decodes and answers only the partitions with news.
//!
//! Pure: the fetcher feeds it each round's partitions and the leader's
//! answer; nothing here does I/O.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};

use crate::broker::fetch_session::{next_epoch, INITIAL_EPOCH, INVALID_SESSION_ID};
use crate::protocol::ErrorCode;
use crate::types::TopicPartition;

/// The fields of one partition the leader's session caches (Kafka's
/// `FetchRequest.PartitionData` minus what this follower never varies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionFetch {
    pub fetch_offset: i64,
    pub current_leader_epoch: i32,
    pub log_start_offset: i64,
    pub partition_max_bytes: i32,
}

/// A request's `session_id` and `session_epoch` (Kafka's `FetchMetadata`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchMetadata {
    pub session_id: i32,
    pub epoch: i32,
}

impl FetchMetadata {
    /// No session yet: a full fetch asking for one.
    const INITIAL: Self = Self { session_id: INVALID_SESSION_ID, epoch: INITIAL_EPOCH };

    pub fn is_full(&self) -> bool {
        self.epoch == INITIAL_EPOCH
    }
}

/// What one round sends.
#[derive(Debug, PartialEq, Eq)]
pub struct FetchPlan {
    pub metadata: FetchMetadata,
    /// Indexes into the round's partitions to put in the request: all of
    /// them in a full fetch.
    pub send: Vec<usize>,
    /// `forgotten_topics_data`: in the leader's session, not in this round.
    pub forgotten: Vec<TopicPartition>,
}

/// One fetcher connection's session.
#[derive(Debug)]
pub struct FetchSessionHandler {
    /// The next request's. After an error the session id is kept with
    /// [`INITIAL_EPOCH`], so the full fetch closes the old session on the
    /// leader (Kafka's `nextCloseExisting`).
    next: FetchMetadata,
    /// What the leader's session holds once the last request went through.
    sent: HashMap<TopicPartition, PartitionFetch>,
}

impl Default for FetchSessionHandler {
    fn default() -> Self {
        Self { next: FetchMetadata::INITIAL, sent: HashMap::new() }
    }
}

impl FetchSessionHandler {
    /// The request for this round's partitions. `sent` already takes the
    /// plan in: every way the request can fail ends in [`Self::reset`].
    ///
    /// A partition left out of the round (delayed after an error, held
    /// back by the follower quota, truncating) is forgotten, as Kafka's
    /// handler forgets whatever is not in the builder's next set: kept in
    /// the session, the leader would go on reading it and counting its
    /// stale fetch offset as where our log ends (after a truncation, past
    /// it), and would remember having told us a high watermark we threw
    /// away. Back in a round, it is new to the session and answered whole.
    pub fn build<T: Borrow<TopicPartition>>(&mut self, round: &[(T, PartitionFetch)]) -> FetchPlan {
        if self.next.is_full() {
            self.sent = round.iter().map(|(tp, f)| (tp.borrow().clone(), *f)).collect();
            return FetchPlan {
                metadata: self.next,
                send: (0..round.len()).collect(),
                forgotten: Vec::new(),
            };
        }
        let mut send = Vec::new();
        for (i, (tp, fetch)) in round.iter().enumerate() {
            let tp = tp.borrow();
            match self.sent.get_mut(tp) {
                Some(held) if held == fetch => {}
                Some(held) => {
                    *held = *fetch;
                    send.push(i);
                }
                None => {
                    self.sent.insert(tp.clone(), *fetch);
                    send.push(i);
                }
            }
        }
        // Every partition of the round is in `sent` now, so equal sizes
        // mean nothing else is: the idle round builds no set.
        let mut forgotten = Vec::new();
        if self.sent.len() != round.len() {
            let keep: HashSet<&TopicPartition> = round.iter().map(|(tp, _)| tp.borrow()).collect();
            forgotten = self.sent.keys().filter(|tp| !keep.contains(tp)).cloned().collect();
            for tp in &forgotten {
                self.sent.remove(tp);
            }
        }
        FetchPlan { metadata: self.next, send, forgotten }
    }

    /// Takes in the leader's answer to `plan` (its top-level error and
    /// session id). Returns whether the answer's partitions may be used:
    /// not when the session was refused or another session answered.
    pub fn handle_response(&mut self, plan: &FetchPlan, error: i16, session_id: i32) -> bool {
        if error != ErrorCode::None.code() {
            self.reset();
            return false;
        }
        if plan.metadata.is_full() {
            // No slot free on the leader (id 0): full fetches again, each
            // asking for a session.
            let epoch = if session_id == INVALID_SESSION_ID { INITIAL_EPOCH } else { 1 };
            self.next = FetchMetadata { session_id, epoch };
            return true;
        }
        if session_id == INVALID_SESSION_ID {
            // The leader closed the session (it emptied): start anew.
            *self = Self::default();
            return true;
        }
        if session_id != self.next.session_id {
            self.reset();
            return false;
        }
        self.next.epoch = next_epoch(self.next.epoch);
        true
    }

    /// After a failed round, a reconnect or a session error: the next
    /// request is full and closes the old session on the leader.
    pub fn reset(&mut self) {
        self.next.epoch = INITIAL_EPOCH;
        self.sent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    fn meta(session_id: i32, epoch: i32) -> FetchMetadata {
        FetchMetadata { session_id, epoch }
    }

    fn at(offset: i64) -> PartitionFetch {
        PartitionFetch {
            fetch_offset: offset,
            current_leader_epoch: 3,
            log_start_offset: 0,
            partition_max_bytes: 1 << 20,
        }
    }

    /// A handler past its first (full) round over partitions 0..3 at
    /// offset 10, the leader having given it session 42.
    fn in_session() -> (FetchSessionHandler, Vec<(TopicPartition, PartitionFetch)>) {
        let mut h = FetchSessionHandler::default();
        let round: Vec<_> = (0..3).map(|p| (tp(p), at(10))).collect();
        let plan = h.build(&round);
        assert_eq!(plan.metadata, FetchMetadata::INITIAL);
        assert_eq!(plan.send, vec![0, 1, 2], "the first fetch is full");
        assert!(h.handle_response(&plan, 0, 42));
        (h, round)
    }

    #[test]
    fn an_unchanged_round_sends_nothing_in_the_session() {
        let (mut h, round) = in_session();
        let plan = h.build(&round);
        assert_eq!(
            plan,
            FetchPlan { metadata: meta(42, 1), send: vec![], forgotten: vec![] },
            "incremental, and empty"
        );
        assert!(h.handle_response(&plan, 0, 42));
        assert_eq!(h.build(&round).metadata, meta(42, 2), "each answered fetch moves the epoch");
    }

    #[test]
    fn a_round_sends_added_and_changed_partitions_and_forgets_removed_ones() {
        let (mut h, mut round) = in_session();
        round[1].1 = at(11); // appended
        round[2].1.current_leader_epoch = 4;
        round.remove(0); // removed, or delayed, or held back
        round.push((tp(7), at(0))); // added
        let plan = h.build(&round);
        assert_eq!(plan.send, vec![0, 1, 2]);
        assert_eq!(plan.forgotten, vec![tp(0)]);
        assert!(h.handle_response(&plan, 0, 42));

        let plan = h.build(&round);
        assert!(plan.send.is_empty() && plan.forgotten.is_empty(), "{plan:?}");

        // A forgotten partition back in a round is new to the session.
        round.push((tp(0), at(10)));
        assert_eq!(h.build(&round).send, vec![3]);
    }

    #[test]
    fn a_log_start_or_max_bytes_change_is_sent_too() {
        let (mut h, mut round) = in_session();
        round[0].1.log_start_offset = 5;
        round[2].1.partition_max_bytes = 1;
        assert_eq!(h.build(&round).send, vec![0, 2]);
    }

    #[test]
    fn session_errors_and_failed_rounds_go_back_to_a_full_fetch_closing_the_session() {
        for error in [ErrorCode::FetchSessionIdNotFound, ErrorCode::InvalidFetchSessionEpoch] {
            let (mut h, round) = in_session();
            let plan = h.build(&round);
            assert!(!h.handle_response(&plan, error.code(), 0));
            let plan = h.build(&round);
            assert_eq!(plan.metadata, meta(42, 0), "closes 42, opens a new one");
            assert_eq!(plan.send, vec![0, 1, 2]);
            assert!(plan.forgotten.is_empty());
            assert!(h.handle_response(&plan, 0, 43));
            assert_eq!(h.build(&round).metadata, meta(43, 1));
        }

        // A round that never got an answer (timeout, reconnect).
        let (mut h, mut round) = in_session();
        round[0].1 = at(12);
        let _lost = h.build(&round);
        h.reset();
        let plan = h.build(&round);
        assert!(plan.metadata.is_full() && plan.send.len() == 3, "{plan:?}");
    }

    #[test]
    fn a_leader_without_a_free_slot_gets_full_fetches() {
        let mut h = FetchSessionHandler::default();
        let round = vec![(tp(0), at(1))];
        let plan = h.build(&round);
        assert!(h.handle_response(&plan, 0, INVALID_SESSION_ID));
        let plan = h.build(&round);
        assert_eq!((plan.metadata, plan.send.len()), (FetchMetadata::INITIAL, 1));
    }

    #[test]
    fn a_closed_or_foreign_session_starts_anew() {
        // The leader closes a session its own request emptied.
        let (mut h, _) = in_session();
        let plan = h.build::<TopicPartition>(&[]);
        assert_eq!(plan.forgotten.len(), 3);
        assert!(h.handle_response(&plan, 0, INVALID_SESSION_ID));
        assert_eq!(h.build(&[(tp(0), at(10))]).metadata, FetchMetadata::INITIAL);

        let (mut h, round) = in_session();
        let plan = h.build(&round);
        assert!(!h.handle_response(&plan, 0, 99), "another session's answer is not used");
        let plan = h.build(&round);
        assert_eq!((plan.metadata, plan.send.len()), (meta(42, 0), 3));
    }

    #[test]
    fn the_epoch_wraps_to_one() {
        let (mut h, round) = in_session();
        h.next.epoch = i32::MAX;
        let plan = h.build(&round);
        assert!(h.handle_response(&plan, 0, 42));
        assert_eq!(h.next, meta(42, 1));
    }
}
