//! The coordinator's deadlines (Kafka's heartbeat and rebalance
//! purgatories) as an ordered set. The runtime asks for the earliest with
//! `next_deadline` and calls `tick` when it passes; nothing here reads a clock.

use std::collections::BTreeSet;

/// What happens when a deadline passes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// A member's session (or a new member's join timeout) ran out.
    Heartbeat { group: String, member: String },
    /// A member id handed out with MEMBER_ID_REQUIRED was never used.
    PendingMember { group: String, member: String },
    /// The join phase of a rebalance ends (DelayedJoin / InitialDelayedJoin).
    Join { group: String },
    /// Members that have not sent SyncGroup by now are removed (DelayedSync).
    Sync { group: String },
    /// Periodic offset expiry (offsets.retention.check.interval.ms).
    OffsetsRetention,
}

#[derive(Debug, Default)]
pub struct Timers {
    set: BTreeSet<(i64, Timer)>,
}

impl Timers {
    pub fn schedule(&mut self, deadline: i64, timer: Timer) {
        self.set.insert((deadline, timer));
    }

    /// Removes a timer scheduled at `deadline`; owners remember their deadline
    /// so cancelling is exact rather than lazy.
    pub fn cancel(&mut self, deadline: i64, timer: Timer) {
        self.set.remove(&(deadline, timer));
    }

    pub fn next_deadline(&self) -> Option<i64> {
        self.set.first().map(|(d, _)| *d)
    }

    /// Takes the earliest timer due at or before `now`.
    pub fn pop_due(&mut self, now: i64) -> Option<(i64, Timer)> {
        if self.set.first().is_some_and(|(d, _)| *d <= now) {
            self.set.pop_first()
        } else {
            None
        }
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_timers_come_out_in_deadline_order() {
        let mut t = Timers::default();
        t.schedule(30, Timer::OffsetsRetention);
        t.schedule(10, Timer::Join { group: "g".into() });
        t.schedule(20, Timer::Sync { group: "g".into() });
        t.cancel(20, Timer::Sync { group: "g".into() });
        assert_eq!(t.next_deadline(), Some(10));
        assert_eq!(t.pop_due(5), None, "nothing is due before its deadline");
        assert_eq!(t.pop_due(30), Some((10, Timer::Join { group: "g".into() })));
        assert_eq!(t.pop_due(30), Some((30, Timer::OffsetsRetention)), "the cancelled one is gone");
        assert!(t.is_empty());
    }
}
