//! The session lease: how long this broker may still act on the roles it
//! holds (partition leader, group and transaction coordinator) without
//! hearing from ZooKeeper again.
//!
//! A broker paused (SIGSTOP, a long GC-like stall, a frozen VM) past its
//! session timeout wakes up with its ZooKeeper session expired and its
//! roles handed to other brokers, but it learns that only after its client
//! has reconnected, been told the session is gone, started a new one and
//! re-read the cluster. Until then it would answer from its old state:
//! committed offsets the new coordinator has since moved on from, reads
//! missing records the new leader acknowledged. Kafka leaves this window
//! to leader epochs and conditional ISR writes; they stop a zombie's
//! writes but not its answers.
//!
//! ZooKeeper expires a session no earlier than one session timeout after
//! the last request it received on it. So a request sent at `t` and
//! answered proves the session lives until at least `t + timeout`, and
//! every role this broker learned in that session is still its own until
//! then unless the controller moved it for another reason (which leader
//! epochs and zkVersions cover, as in Kafka). The lease runs to that point
//! (less a margin for clock rates and rounding); past it the broker
//! answers NOT_LEADER_OR_FOLLOWER and NOT_COORDINATOR, and clients look
//! for the leader again. A proof from a new session renews the lease only
//! once every role follower has applied an image read in that session, so
//! a broker whose session expired is fenced until it has dropped the
//! roles it lost. The request path pays one clock read and one atomic load.

use crate::sync::MutexExt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What follows the cluster image and must have applied a session's image
/// before the broker acts in that session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Partition leadership (the replica manager).
    Replicas = 0,
    /// The group coordinator's `__consumer_offsets` partitions.
    Groups = 1,
    /// The transaction coordinator's `__transaction_state` partitions.
    Transactions = 2,
}

const ROLES: usize = 3;

/// The part of the timeout the lease gives away: ZooKeeper servers count
/// their session deadlines in whole milliseconds (or ticks) on their own
/// clock, and an ensemble may run on another machine.
const MARGIN_DIVISOR: u32 = 10;

/// See the module doc. Shared by the metadata store, which renews it, and
/// the request handlers, which ask [`SessionLease::holds`].
#[derive(Debug)]
pub struct SessionLease {
    origin: Instant,
    /// Nanoseconds after `origin` until which the roles hold; 0 = never.
    valid_until: AtomicU64,
    /// The ZooKeeper session of the image each role last applied.
    applied: [AtomicI64; ROLES],
    /// The latest proof that a session was alive: its id and when the
    /// answered request was sent, with the session timeout.
    proof: Mutex<Option<Proof>>,
    /// Woken whenever the lease moves forward.
    renewed: tokio::sync::Notify,
}

#[derive(Clone, Copy, Debug)]
struct Proof {
    session: i64,
    sent_ns: u64,
    timeout: Duration,
}

impl Default for SessionLease {
    fn default() -> Self {
        SessionLease::new()
    }
}

impl SessionLease {
    /// A lease that does not hold until a session is proven alive and every
    /// role has applied an image of it.
    pub fn new() -> Self {
        SessionLease {
            origin: Instant::now(),
            valid_until: AtomicU64::new(0),
            applied: Default::default(),
            proof: Mutex::new(None),
            renewed: tokio::sync::Notify::new(),
        }
    }

    /// A lease that holds for an hour for an image of session 0, for tests
    /// of what the lease guards.
    #[cfg(test)]
    pub fn granted() -> std::sync::Arc<SessionLease> {
        let lease = SessionLease::new();
        lease.session_alive(0, Instant::now(), Duration::from_secs(3600));
        for role in [Role::Replicas, Role::Groups, Role::Transactions] {
            lease.applied(role, 0);
        }
        std::sync::Arc::new(lease)
    }

    fn since_origin(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether this broker may act on its roles now.
    pub fn holds(&self) -> bool {
        self.holds_at(Instant::now())
    }

    pub fn holds_at(&self, now: Instant) -> bool {
        self.since_origin(now) < self.valid_until.load(Ordering::Acquire)
    }

    /// Waits up to `wait` for the lease to hold; whether it does. A write
    /// that arrives the instant a paused broker wakes waits for the broker
    /// to re-confirm its session rather than fail: an error would make
    /// the client retry, and a producer without idempotence can reorder
    /// its records on a retry.
    pub async fn wait_held(&self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Register before checking, so a renewal in between is not missed.
            let renewed = self.renewed.notified();
            tokio::pin!(renewed);
            renewed.as_mut().enable();
            if self.holds() {
                return true;
            }
            if tokio::time::timeout_at(deadline, renewed).await.is_err() {
                return self.holds();
            }
        }
    }

    /// A request sent at `sent` in `session` was answered: the session
    /// lives until at least `sent + timeout` (the negotiated timeout).
    pub fn session_alive(&self, session: i64, sent: Instant, timeout: Duration) {
        let sent_ns = self.since_origin(sent);
        let mut proof = self.proof.lock_or_recover();
        let newer = match *proof {
            Some(p) => p.session != session || p.sent_ns <= sent_ns,
            None => true,
        };
        if newer {
            *proof = Some(Proof { session, sent_ns, timeout });
        }
        self.extend(&proof);
    }

    /// `role` has applied an image read in `session`. An apply of an older
    /// image finishing after that of the live session's is not a step back.
    pub fn applied(&self, role: Role, session: i64) {
        let proof = self.proof.lock_or_recover();
        let slot = &self.applied[role as usize];
        if let Some(live) = proof.map(|p| p.session) {
            if session != live && slot.load(Ordering::Acquire) == live {
                return;
            }
        }
        slot.store(session, Ordering::Release);
        self.extend(&proof);
    }

    /// Moves the lease to the proof's end once every role follows its session.
    fn extend(&self, proof: &Option<Proof>) {
        let Some(p) = *proof else { return };
        if self.applied.iter().any(|a| a.load(Ordering::Acquire) != p.session) {
            return;
        }
        let lease = p.timeout - p.timeout / MARGIN_DIVISOR;
        let until = p.sent_ns.saturating_add(u64::try_from(lease.as_nanos()).unwrap_or(u64::MAX));
        if self.valid_until.fetch_max(until, Ordering::AcqRel) < until {
            self.renewed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(6);

    fn all_applied(lease: &SessionLease, session: i64) {
        for role in [Role::Replicas, Role::Groups, Role::Transactions] {
            lease.applied(role, session);
        }
    }

    /// A lease proved by `session` just now, with every role applied,
    /// and when the proof's request was sent.
    fn held_by(session: i64) -> (SessionLease, Instant) {
        let lease = SessionLease::new();
        let sent = Instant::now();
        lease.session_alive(session, sent, TIMEOUT);
        all_applied(&lease, session);
        (lease, sent)
    }

    #[test]
    fn a_new_lease_does_not_hold() {
        let lease = SessionLease::new();
        assert!(!lease.holds());
    }

    #[test]
    fn holds_until_the_proof_plus_the_timeout_less_the_margin() {
        let (lease, sent) = held_by(7);
        assert!(lease.holds_at(sent));
        assert!(lease.holds_at(sent + Duration::from_millis(5_300)));
        assert!(
            !lease.holds_at(sent + Duration::from_millis(5_500)),
            "ZooKeeper may expire the session 6 s after the request"
        );
    }

    #[test]
    fn a_woken_broker_is_fenced_until_it_hears_from_zookeeper() {
        let (lease, sent) = held_by(7);
        let woken = sent + Duration::from_secs(20);
        assert!(!lease.holds_at(woken), "paused past the session timeout");
        lease.session_alive(7, woken, TIMEOUT);
        assert!(lease.holds_at(woken), "the same session answered: nothing moved");
    }

    #[test]
    fn a_new_session_holds_only_once_every_role_applied_its_image() {
        let (lease, sent) = held_by(7);
        let woken = sent + Duration::from_secs(20);
        lease.session_alive(8, woken, TIMEOUT);
        assert!(!lease.holds_at(woken), "the roles are still those of session 7");
        lease.applied(Role::Replicas, 8);
        lease.applied(Role::Groups, 8);
        assert!(!lease.holds_at(woken), "the transaction coordinator has not caught up");
        lease.applied(Role::Transactions, 8);
        assert!(lease.holds_at(woken));
    }

    #[test]
    fn a_late_apply_of_an_older_session_does_not_undo_the_live_one() {
        let (lease, t) = held_by(8);
        lease.applied(Role::Replicas, 7);
        lease.session_alive(8, t + Duration::from_secs(20), TIMEOUT);
        assert!(lease.holds_at(t + Duration::from_secs(20)));
    }

    #[tokio::test]
    async fn a_waiting_write_goes_on_once_the_new_session_is_confirmed() {
        let lease = std::sync::Arc::new(SessionLease::new());
        lease.session_alive(8, Instant::now(), TIMEOUT);
        let waiter = tokio::spawn({
            let lease = lease.clone();
            async move { lease.wait_held(Duration::from_secs(60)).await }
        });
        all_applied(&lease, 8);
        assert!(tokio::time::timeout(Duration::from_secs(60), waiter).await.unwrap().unwrap());
        let never = SessionLease::new();
        assert!(!never.wait_held(Duration::from_millis(1)).await, "bounded by its wait");
    }

    #[test]
    fn an_older_proof_does_not_shorten_the_lease() {
        let lease = SessionLease::new();
        let t = Instant::now();
        all_applied(&lease, 7);
        lease.session_alive(7, t + Duration::from_secs(3), TIMEOUT);
        lease.session_alive(7, t, TIMEOUT);
        assert!(lease.holds_at(t + Duration::from_secs(8)));
    }
}
