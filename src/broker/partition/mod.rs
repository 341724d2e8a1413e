//! One partition replica on this broker: its log, its leadership state
//! (leader, leader epoch, ISR), its high watermark and its idempotent
//! producer state.
//!
//! Offsets: log start ≤ high watermark ≤ log end. Consumers read below the
//! high watermark, followers up to the log end. On the leader the high
//! watermark is the smallest log end offset in the ISR, raised as follower
//! fetches report their positions (Kafka's `maybeIncrementLeaderHW`); on a
//! follower it is the leader's, capped at the follower's own log end.
//!
//! Roles come from the cluster image only ([`Partition::apply_leader_state`]):
//! there is no LeaderAndIsr RPC. A stale image (older leader epoch, or an
//! older state zkVersion than an ISR change this leader wrote itself) is
//! ignored.
//!
//! Lock order: `producers` → `state` → `followers` → the log's own locks.
//! Appends (as leader or follower), truncation and role changes hold
//! `producers` for their whole step, so a role change never interleaves
//! with an append and two appends never interleave their sequence checks.
//!
//! The appends themselves and the producer state they keep live in
//! `append.rs`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::error::{log_error_code, ApiError};
use super::metrics::TopicStats;
use super::producer_state::{AbortedTxn, ProducerStateManager, ProducerView};
use crate::log::Log;
use crate::protocol::ErrorCode;
use crate::sync::MutexExt;
use crate::types::{LeaderEpoch, Offset, TopicPartition};

mod append;

use append::producer_state_of;
pub use append::AppendResult;

/// Leadership as last learned from the cluster metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderState {
    pub leader: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    pub replicas: Vec<i32>,
    /// The state znode's zkVersion this state was read at (or written with).
    pub state_zk_version: i32,
}

/// What applying a new leader state changed for this broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleChange {
    /// Nothing that moves fetchers (maybe a new ISR).
    Unchanged,
    BecameLeader,
    /// Follow `leader` at `leader_epoch`; truncate by leader epoch first.
    BecameFollower {
        leader: i32,
        leader_epoch: i32,
    },
    /// No leader (-1): no fetching, no serving.
    Offline,
}

/// A follower as its leader sees it (Kafka's `Replica`): where its log
/// ends, from the offset it last fetched at, and when it was last caught up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FollowerProgress {
    /// -1 until it fetches from this leader.
    log_end_offset: i64,
    last_caught_up_ms: i64,
    last_fetch_leader_log_end_offset: i64,
    last_fetch_ms: i64,
}

/// A new ISR this leader wants written, and the state it was derived
/// from: the write is conditional on that state's zkVersion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsrChange {
    pub leader: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    pub zk_version: i32,
}

impl IsrChange {
    fn of(state: &LeaderState, isr: Vec<i32>) -> Self {
        Self {
            leader: state.leader,
            leader_epoch: state.leader_epoch,
            isr,
            zk_version: state.state_zk_version,
        }
    }
}

/// What a follower's fetch changed on the leader.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FollowerFetchOutcome {
    pub high_watermark_moved: bool,
    /// The ISR with the follower added, if it has just caught up.
    pub expand_isr: Option<IsrChange>,
}

pub struct Partition {
    pub tp: TopicPartition,
    pub topic_id: uuid::Uuid,
    pub log: Arc<Log>,
    broker_id: i32,
    state: Mutex<LeaderState>,
    producers: Mutex<ProducerStateManager>,
    /// The newest segment base the producer state was snapshotted at (or
    /// that was active when it was loaded); a larger active base means a
    /// roll whose snapshot is still to be written. Changed under `producers`.
    snapshot_base: AtomicI64,
    /// The first offset of the oldest transaction that is open or whose
    /// marker the high watermark has not passed (i64::MAX: none),
    /// published from `unstable` so fetches read the LSO without a lock.
    first_unstable_offset: AtomicI64,
    /// What `first_unstable_offset` is made of. A leaf lock: taken under
    /// `producers` or `state`, never the other way round, so a high
    /// watermark move can update it wherever it happens.
    unstable: Mutex<Unstable>,
    high_watermark: AtomicI64,
    followers: Mutex<HashMap<i32, FollowerProgress>>,
    /// Set while an ISR change of this leader is being written.
    isr_change_in_flight: AtomicBool,
    /// While an ISR expansion is being written, the replicas it adds
    /// (KIP-497's "maximal ISR"): the high watermark already waits for
    /// them, so the new ISR never holds a replica missing records that
    /// were acknowledged before it committed. Without this a follower
    /// written into the ISR while behind could be elected (a
    /// reassignment completing on that very ISR change does exactly
    /// that) and lose records acks=all producers were told were safe.
    /// Only read and written under `state`'s lock.
    adding_to_isr: Mutex<Vec<i32>>,
    /// The topic config overrides the log was last configured with.
    pub(crate) applied_configs: Mutex<BTreeMap<String, String>>,
    /// Its topic's counters, set once when the replica manager opens it.
    pub(crate) stats: Arc<TopicStats>,
    /// Long polls and acks=all produces waiting for this partition to move.
    pub waiters: super::purgatory::Waiters,
}

/// Kafka's `firstUnstableOffset`: a transaction stays unstable after its
/// marker until the high watermark passes the marker. A leader that fails
/// before its followers have the marker leaves the transaction open on the
/// next one, so a last stable offset that had already moved past it would
/// move back.
#[derive(Debug, Default)]
struct Unstable {
    /// First offset of the oldest open transaction, if any.
    undecided: Option<i64>,
    /// Ended transactions whose marker is at or above the high watermark:
    /// first offset to marker offset.
    unreplicated: BTreeMap<i64, i64>,
}

impl Unstable {
    fn first(&self) -> Option<i64> {
        let unreplicated = self.unreplicated.keys().next().copied();
        match (self.undecided, unreplicated) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock_or_recover()
}

impl Partition {
    /// Wraps an opened log; rebuilds the producer state from the batch
    /// headers in the log (blocking).
    pub fn new(
        tp: TopicPartition,
        topic_id: uuid::Uuid,
        log: Arc<Log>,
        broker_id: i32,
        state: LeaderState,
        configs: BTreeMap<String, String>,
    ) -> Result<(Partition, RoleChange), ApiError> {
        let producers = producer_state_of(&log)?;
        // The checkpointed high watermark (`replication-offset-checkpoint`);
        // a leader alone in its ISR raises it to its log end at once.
        let hw = log
            .high_watermark()
            .map_or(log.log_start_offset().0, |hw| hw.0)
            .clamp(log.log_start_offset().0, log.log_end_offset().0);
        log.update_high_watermark(Offset(hw));
        let snapshot_base = AtomicI64::new(log.active_segment_base());
        let partition = Partition {
            tp,
            topic_id,
            log,
            broker_id,
            state: Mutex::new(state.clone()),
            first_unstable_offset: AtomicI64::new(i64::MAX),
            unstable: Mutex::new(Unstable::default()),
            producers: Mutex::new(producers),
            snapshot_base,
            high_watermark: AtomicI64::new(hw),
            followers: Mutex::new(HashMap::new()),
            isr_change_in_flight: AtomicBool::new(false),
            adding_to_isr: Mutex::new(Vec::new()),
            applied_configs: Mutex::new(configs),
            stats: super::metrics::BrokerMetrics::detached_topic(),
            waiters: Default::default(),
        };
        partition.publish_first_unstable(&mut lock(&partition.producers));
        let role = partition.start_role(&state, crate::time::now_ms())?;
        Ok((partition, role))
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// The high watermark, held back to the first offset of the oldest
    /// open transaction: read_committed consumers read below it.
    pub fn last_stable_offset(&self) -> i64 {
        self.first_unstable_offset.load(Ordering::Acquire).min(self.high_watermark())
    }

    /// Called with `producers` held after any change to its transactions.
    fn publish_first_unstable(&self, producers: &mut ProducerStateManager) {
        let mut unstable = lock(&self.unstable);
        unstable.undecided = producers.first_unstable_offset();
        // Read after taking `unstable`: a high watermark that passed a
        // marker before this drops it here, one that passes it later
        // drops it in `set_high_watermark`.
        let hw = self.high_watermark();
        for (first, marker) in producers.take_completed() {
            if marker >= hw {
                unstable.unreplicated.insert(first, marker);
            }
        }
        self.store_first_unstable(&unstable);
    }

    fn store_first_unstable(&self, unstable: &Unstable) {
        let first = unstable.first();
        self.first_unstable_offset.store(first.unwrap_or(i64::MAX), Ordering::Release);
        self.log.update_first_unstable_offset(first);
    }

    /// Aborted transactions a read_committed fetch of `[from, to)` reports.
    /// Those the cleaner removed (with their markers) are forgotten first:
    /// a consumer told of one would skip the producer's later batches,
    /// with no marker left to stop it.
    pub fn aborted_transactions(&self, from: i64, to: i64) -> Vec<AbortedTxn> {
        let mut producers = lock(&self.producers);
        let removed = self.log.take_removed_aborted_txns();
        if !removed.is_empty() {
            producers.forget_aborted(&removed);
        }
        producers.aborted_between(from, to)
    }

    /// The producers this partition knows (DescribeProducers).
    pub fn producer_views(&self) -> Vec<ProducerView> {
        lock(&self.producers).producers().collect()
    }

    pub fn leader_state(&self) -> LeaderState {
        lock(&self.state).clone()
    }

    /// Applies leadership from the cluster image (blocking: a new leader
    /// writes its epoch to the leader-epoch checkpoint).
    pub fn apply_leader_state(
        &self,
        new: LeaderState,
        now_ms: i64,
    ) -> Result<RoleChange, ApiError> {
        let _producers = lock(&self.producers);
        let old = self.leader_state();
        if new.leader_epoch < old.leader_epoch
            || (new.leader_epoch == old.leader_epoch
                && new.leader == old.leader
                && new.state_zk_version < old.state_zk_version)
        {
            return Ok(RoleChange::Unchanged);
        }
        let same_role = new.leader == old.leader && new.leader_epoch == old.leader_epoch;
        *lock(&self.state) = new.clone();
        if same_role {
            // The controller (or this leader) changed the ISR or replicas only.
            self.maybe_increment_high_watermark();
            return Ok(RoleChange::Unchanged);
        }
        self.start_role(&new, now_ms)
    }

    /// Enters the role `state` gives this broker. Called with `producers`
    /// held (or before the partition is shared).
    fn start_role(&self, state: &LeaderState, now_ms: i64) -> Result<RoleChange, ApiError> {
        let mut followers = lock(&self.followers);
        followers.clear();
        if state.leader == self.broker_id {
            // Kafka's `makeLeader`: the new epoch starts at the current log
            // end; in-sync followers count as caught up now, others never.
            let leo = self.log.log_end_offset();
            self.log.leader_epoch_cache().assign_deferred(LeaderEpoch(state.leader_epoch), leo);
            for &r in state.replicas.iter().filter(|&&r| r != self.broker_id) {
                let caught_up = if state.isr.contains(&r) { now_ms } else { 0 };
                followers.insert(
                    r,
                    FollowerProgress {
                        log_end_offset: -1,
                        last_caught_up_ms: caught_up,
                        last_fetch_leader_log_end_offset: -1,
                        last_fetch_ms: 0,
                    },
                );
            }
            drop(followers);
            self.maybe_increment_high_watermark();
            tracing::info!(partition = %self.tp, epoch = state.leader_epoch, isr = ?state.isr,
                "became leader at log end offset {}, high watermark {}", leo.0, self.high_watermark());
            Ok(RoleChange::BecameLeader)
        } else if state.leader >= 0 {
            tracing::info!(partition = %self.tp, epoch = state.leader_epoch,
                "became follower of broker {}", state.leader);
            Ok(RoleChange::BecameFollower {
                leader: state.leader,
                leader_epoch: state.leader_epoch,
            })
        } else {
            tracing::info!(partition = %self.tp, "offline: no leader");
            Ok(RoleChange::Offline)
        }
    }

    pub fn is_leader(&self) -> bool {
        lock(&self.state).leader == self.broker_id
    }

    /// KIP-320: a client's `current_leader_epoch` (-1 = unknown) must match
    /// ours, checked before leadership as Kafka's
    /// `localLogWithEpochOrException` does.
    pub fn check_leader_epoch(&self, current_leader_epoch: i32) -> Result<(), ErrorCode> {
        let state = lock(&self.state);
        match current_leader_epoch {
            -1 => {}
            e if e < state.leader_epoch => return Err(ErrorCode::FencedLeaderEpoch),
            e if e > state.leader_epoch => return Err(ErrorCode::UnknownLeaderEpoch),
            _ => {}
        }
        if state.leader != self.broker_id {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        Ok(())
    }

    fn set_high_watermark(&self, hw: i64) {
        self.high_watermark.store(hw, Ordering::Release);
        // The log keeps retention and DeleteRecords below the HW.
        self.log.update_high_watermark(Offset(hw));
        // Kafka's `onHighWatermarkUpdated`: transactions whose marker is
        // now below the high watermark are stable.
        let mut unstable = lock(&self.unstable);
        if unstable.unreplicated.values().any(|&marker| marker < hw) {
            unstable.unreplicated.retain(|_, marker| *marker >= hw);
            self.store_first_unstable(&unstable);
        }
    }

    /// On the leader, raises the high watermark to the smallest log end
    /// offset in the ISR; an in-sync follower that has not fetched from
    /// this leader yet holds it where it is. Returns whether it moved.
    pub fn maybe_increment_high_watermark(&self) -> bool {
        let state = lock(&self.state);
        if state.leader != self.broker_id {
            return false;
        }
        let old = self.high_watermark.load(Ordering::Acquire);
        let mut new_hw = self.log.log_end_offset().0;
        let adding = lock(&self.adding_to_isr);
        let followers = lock(&self.followers);
        for r in state.isr.iter().chain(adding.iter()).filter(|&&r| r != self.broker_id) {
            match followers.get(r) {
                Some(f) if f.log_end_offset >= 0 => new_hw = new_hw.min(f.log_end_offset),
                _ => new_hw = new_hw.min(old),
            }
        }
        if new_hw > old {
            self.set_high_watermark(new_hw);
            return true;
        }
        false
    }

    /// Leader side of a follower's fetch at `fetch_offset` (its log end):
    /// records its progress, moves the high watermark, and proposes the
    /// follower for the ISR once it reaches the high watermark (Kafka's
    /// `updateFollowerFetchState` and `maybeExpandIsr`).
    pub fn update_follower_fetch(
        &self,
        replica: i32,
        fetch_offset: i64,
        now_ms: i64,
    ) -> FollowerFetchOutcome {
        let leader_leo = self.log.log_end_offset().0;
        // A follower ahead of the leader has diverged: its fetch fails with
        // OFFSET_OUT_OF_RANGE and must not count as caught up.
        if fetch_offset > leader_leo {
            return FollowerFetchOutcome::default();
        }
        {
            let state = lock(&self.state);
            if state.leader != self.broker_id || !state.replicas.contains(&replica) {
                return FollowerFetchOutcome::default();
            }
            let mut followers = lock(&self.followers);
            let f = followers.entry(replica).or_insert(FollowerProgress {
                log_end_offset: -1,
                last_caught_up_ms: 0,
                last_fetch_leader_log_end_offset: -1,
                last_fetch_ms: 0,
            });
            f.last_caught_up_ms = caught_up_time(f, fetch_offset, leader_leo, now_ms);
            f.log_end_offset = fetch_offset.min(leader_leo);
            f.last_fetch_leader_log_end_offset = leader_leo;
            f.last_fetch_ms = now_ms;
        }
        let high_watermark_moved = self.maybe_increment_high_watermark();
        let state = lock(&self.state);
        if state.isr.contains(&replica) || fetch_offset < self.high_watermark() {
            return FollowerFetchOutcome { high_watermark_moved, expand_isr: None };
        }
        // Kafka also wants the follower past the start of this leader's
        // epoch, so it holds nothing from an older leader's diverged tail.
        let epoch_start = self
            .log
            .leader_epoch_cache()
            .entries()
            .iter()
            .find(|e| e.epoch.0 == state.leader_epoch)
            .map_or(0, |e| e.start_offset.0);
        if fetch_offset < epoch_start {
            return FollowerFetchOutcome { high_watermark_moved, expand_isr: None };
        }
        let mut isr = state.isr.clone();
        isr.push(replica);
        let change = IsrChange::of(&state, isr);
        // Begun under the state lock, as Kafka's `maybeExpandIsr` does, so
        // no high watermark move sees the old ISR once the follower was
        // found caught up.
        let expand_isr = self.begin_isr_change_locked(&state, &change).then_some(change);
        FollowerFetchOutcome { high_watermark_moved, expand_isr }
    }

    /// Claims the one ISR write this partition may have in flight, for
    /// `change`; false while another is being written. The caller writes
    /// it and then calls `end_isr_change`.
    pub fn begin_isr_change(&self, change: &IsrChange) -> bool {
        let state = lock(&self.state);
        self.begin_isr_change_locked(&state, change)
    }

    fn begin_isr_change_locked(&self, state: &LeaderState, change: &IsrChange) -> bool {
        if self.isr_change_in_flight.swap(true, Ordering::AcqRel) {
            return false;
        }
        *lock(&self.adding_to_isr) =
            change.isr.iter().copied().filter(|r| !state.isr.contains(r)).collect();
        true
    }

    /// After the write of a begun ISR change (applied or refused): the
    /// high watermark follows the ISR alone again. Returns whether it
    /// moved.
    pub fn end_isr_change(&self) -> bool {
        {
            let _state = lock(&self.state);
            lock(&self.adding_to_isr).clear();
            self.isr_change_in_flight.store(false, Ordering::Release);
        }
        self.maybe_increment_high_watermark()
    }

    /// The ISR without the followers that have not caught up to the
    /// leader's log end within `max_lag_ms` (Kafka's
    /// `getOutOfSyncReplicas`), if any must go.
    pub fn shrunk_isr(&self, now_ms: i64, max_lag_ms: i64) -> Option<IsrChange> {
        let state = lock(&self.state);
        if state.leader != self.broker_id {
            return None;
        }
        let leo = self.log.log_end_offset().0;
        let followers = lock(&self.followers);
        let out: Vec<i32> = state
            .isr
            .iter()
            .copied()
            .filter(|&r| r != self.broker_id)
            .filter(|r| {
                followers.get(r).is_none_or(|f| {
                    f.log_end_offset != leo && now_ms - f.last_caught_up_ms > max_lag_ms
                })
            })
            .collect();
        if out.is_empty() {
            return None;
        }
        let isr = state.isr.iter().copied().filter(|r| !out.contains(r)).collect();
        Some(IsrChange::of(&state, isr))
    }

    /// After this leader's conditional ISR write succeeded: the new ISR and
    /// zkVersion, unless the role changed meanwhile.
    pub fn isr_written(&self, leader_epoch: i32, isr: Vec<i32>, state_zk_version: i32) -> bool {
        {
            let mut state = lock(&self.state);
            if state.leader != self.broker_id
                || state.leader_epoch != leader_epoch
                || state.state_zk_version >= state_zk_version
            {
                return false;
            }
            state.isr = isr;
            state.state_zk_version = state_zk_version;
        }
        self.maybe_increment_high_watermark()
    }

    /// Follower side: the leader's high watermark, capped at our log end.
    pub fn update_follower_high_watermark(&self, leader_high_watermark: i64) {
        let hw = leader_high_watermark.min(self.log.log_end_offset().0);
        if hw > self.high_watermark.load(Ordering::Acquire) {
            self.set_high_watermark(hw);
        }
    }

    /// The offset a follower fetches from, if it still follows at
    /// `leader_epoch`. Read under the lock that leader appends and role
    /// changes take: a fetcher that raced with this broker becoming leader
    /// would otherwise report records appended here as leader to the old
    /// leader as replicated, moving its high watermark over records the
    /// new leader never had, and acknowledging them.
    pub fn follower_fetch_offset(&self, leader_epoch: i32) -> Option<i64> {
        let _producers = lock(&self.producers);
        let s = lock(&self.state);
        if s.leader == self.broker_id || s.leader_epoch != leader_epoch {
            return None;
        }
        Some(self.log.log_end_offset().0)
    }

    /// Follower truncation (by leader epoch, or to the leader's log start
    /// when `fully`); the producer state is rebuilt from what remains
    /// (blocking).
    pub fn truncate(&self, offset: i64, fully: bool) -> Result<(), ApiError> {
        let mut producers = lock(&self.producers);
        let to_api = |e: crate::log::Error| ApiError::new(log_error_code(&e), e.to_string());
        if fully {
            self.log.truncate_fully_and_start_at(Offset(offset)).map_err(to_api)?;
        } else if offset < self.log.log_end_offset().0 {
            self.log.truncate_to(Offset(offset)).map_err(to_api)?;
        } else {
            return Ok(());
        }
        let leo = self.log.log_end_offset().0;
        if fully {
            self.set_high_watermark(leo);
        } else if self.high_watermark.load(Ordering::Acquire) > leo {
            self.set_high_watermark(leo);
        }
        *producers = producer_state_of(&self.log)?;
        self.snapshot_base.store(self.log.active_segment_base(), Ordering::Release);
        // The rebuilt state replays every marker left; those the high
        // watermark has not passed come back through `take_completed`.
        lock(&self.unstable).unreplicated.clear();
        self.publish_first_unstable(&mut producers);
        Ok(())
    }

    pub fn log_start_offset(&self) -> Offset {
        self.log.log_start_offset()
    }
}

/// Kafka's `lastCaughtUpTimeMs`: a fetch at the leader's log end means
/// caught up now; a fetch at or past where the log ended at the previous
/// fetch means caught up as of that fetch.
fn caught_up_time(f: &FollowerProgress, fetch_offset: i64, leader_leo: i64, now_ms: i64) -> i64 {
    if fetch_offset >= leader_leo {
        now_ms
    } else if fetch_offset >= f.last_fetch_leader_log_end_offset {
        f.last_fetch_ms.max(f.last_caught_up_ms)
    } else {
        f.last_caught_up_ms
    }
}

#[cfg(test)]
mod tests;
