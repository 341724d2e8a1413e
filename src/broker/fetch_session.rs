//! Incremental fetch sessions (KIP-227), Kafka's `FetchSession.scala`: the
//! cache of sessions, their epochs and eviction. A session remembers which
//! partitions a fetcher reads and what the last response told it about each
//! (high watermark, last stable offset, log start, error), so an
//! incremental request names only the partitions whose fetch position
//! changed and its response carries only the partitions with records or
//! news. The fetch handler does the reading; this module decides which
//! partitions are read and which are answered. No clock is read here: the
//! caller passes the time.
//!
//! Request metadata, as Kafka's `FetchMetadata` reads it:
//!
//! | session_id | epoch | meaning                                            |
//! |------------|-------|----------------------------------------------------|
//! | 0          | -1    | sessionless full fetch                             |
//! | 0          | 0     | full fetch; create a session if a slot is free     |
//! | id         | -1    | close session `id`, then a sessionless full fetch  |
//! | id         | 0     | close session `id`, then create a new one          |
//! | id         | n > 0 | incremental fetch: `n` must be the session's epoch |
//!
//! A session's partitions sit in an `Arc`'d vector shared with the fetches
//! reading them: an incremental fetch that changes nothing takes the
//! session's partitions without allocating anything per partition; a
//! change copies the vector once (copy-on-write). Reads start where the
//! last response with records stopped, so partitions late in a large
//! session are not starved by earlier ones (Kafka moves answered partitions
//! to the end of its list for the same reason).
//!
//! Lock order: the cache, then a session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::broker::replica_manager::Resolved;
use crate::protocol::ErrorCode;
use crate::types::TopicPartition;

/// Kafka's `FetchMetadata.INVALID_SESSION_ID`: no session.
pub const INVALID_SESSION_ID: i32 = 0;
/// The epoch of a full fetch that asks for a new session.
pub const INITIAL_EPOCH: i32 = 0;
/// The epoch of a fetch that wants no session (and closes the one named).
pub const FINAL_EPOCH: i32 = -1;

/// `max.incremental.fetch.session.cache.slots` and the eviction age.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchSessionConfig {
    /// `max.incremental.fetch.session.cache.slots` (Kafka's default 1000).
    pub max_slots: usize,
    /// `min.incremental.fetch.session.eviction.ms` (Kafka's constant
    /// 120000): a session younger than this is evicted only for a follower,
    /// and one idle longer than this is evicted first.
    pub min_eviction_ms: i64,
}

impl Default for FetchSessionConfig {
    fn default() -> Self {
        Self { max_slots: 1000, min_eviction_ms: 120_000 }
    }
}

/// One partition of a fetch as the fetcher asked for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchPartition {
    pub tp: TopicPartition,
    pub fetch_offset: i64,
    pub current_leader_epoch: i32,
    pub partition_max_bytes: usize,
}

/// What a response says about one partition, compared with what the
/// session sent last to decide whether it is sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartitionState {
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    pub error: bool,
    pub has_records: bool,
}

/// What the fetcher was last told of a partition. A new partition, or one
/// last answered with an error, has a high watermark of -1, so it is sent
/// in the next response whatever happens (Kafka's `CachedPartition`).
#[derive(Clone, Copy, Debug)]
struct Sent {
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
}

const NOTHING_SENT: Sent =
    Sent { high_watermark: -1, last_stable_offset: -1, log_start_offset: -1 };

impl Sent {
    /// Kafka's `maybeUpdateResponseData`: records, errors and any change
    /// of the offsets are sent; `record` remembers what was.
    fn must_respond(&mut self, s: &PartitionState, record: bool) -> bool {
        let changed = s.has_records
            || s.error
            || s.high_watermark != self.high_watermark
            || s.last_stable_offset != self.last_stable_offset
            || s.log_start_offset != self.log_start_offset;
        if record {
            *self = if s.error {
                NOTHING_SENT
            } else {
                Sent {
                    high_watermark: s.high_watermark,
                    last_stable_offset: s.last_stable_offset,
                    log_start_offset: s.log_start_offset,
                }
            };
        }
        changed
    }
}

/// The partitions of one session and what was sent of each.
struct SessionState {
    epoch: i32,
    partitions: Arc<Vec<FetchPartition>>,
    /// Same order as `partitions`.
    sent: Vec<Sent>,
    index: HashMap<TopicPartition, usize>,
    /// Where the next read starts.
    start: usize,
    /// The brokers' partitions for `partitions`, kept until a partition is
    /// added or removed; the reader checks their generation.
    resolved: Option<Arc<Resolved>>,
}

impl SessionState {
    fn new(partitions: Arc<Vec<FetchPartition>>, sent: Vec<Sent>) -> Self {
        let index = partitions.iter().enumerate().map(|(i, p)| (p.tp.clone(), i)).collect();
        Self { epoch: next_epoch(INITIAL_EPOCH), partitions, sent, index, start: 0, resolved: None }
    }

    /// Kafka's `FetchSession.update`: partitions named are added or
    /// updated, then the forgotten ones are removed.
    fn update(&mut self, changes: Vec<FetchPartition>, forgotten: &[TopicPartition]) {
        if changes.is_empty() && forgotten.is_empty() {
            return;
        }
        let parts = Arc::make_mut(&mut self.partitions);
        for change in changes {
            match self.index.get(&change.tp) {
                Some(&i) => parts[i] = change,
                None => {
                    self.index.insert(change.tp.clone(), parts.len());
                    parts.push(change);
                    self.sent.push(NOTHING_SENT);
                    self.resolved = None;
                }
            }
        }
        for tp in forgotten {
            let Some(i) = self.index.remove(tp) else { continue };
            self.resolved = None;
            parts.swap_remove(i);
            self.sent.swap_remove(i);
            if let Some(moved) = parts.get(i) {
                self.index.insert(moved.tp.clone(), i);
            }
        }
        if self.start >= parts.len() {
            self.start = 0;
        }
    }
}

/// Kafka's `FetchMetadata.nextEpoch`: epochs wrap to 1, never to 0.
pub(crate) fn next_epoch(epoch: i32) -> i32 {
    if epoch < 0 {
        FINAL_EPOCH
    } else if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

/// What the cache knows of a session to pick one to evict.
struct Entry {
    privileged: bool,
    creation_ms: i64,
    last_used_ms: i64,
    size: usize,
    state: Arc<Mutex<SessionState>>,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<i32, Entry>,
    partitions_cached: usize,
    evictions: u64,
    incremental_fetches: u64,
}

impl Inner {
    fn remove(&mut self, id: i32) -> bool {
        match self.sessions.remove(&id) {
            Some(e) => {
                self.partitions_cached -= e.size;
                true
            }
            None => false,
        }
    }

    /// Kafka's `tryEvict`: a session idle past the eviction age goes
    /// first (the least recently used); otherwise the least valuable
    /// session that the newcomer outranks: a follower's newcomer outranks
    /// every consumer session, and any newcomer outranks a session older
    /// than the eviction age with fewer partitions (smallest first). Kafka
    /// decides "older" when a session is last used; deciding it now is
    /// the same rule without a second index.
    fn try_evict(
        &mut self,
        cfg: &FetchSessionConfig,
        privileged: bool,
        size: usize,
        now: i64,
    ) -> bool {
        let stale = self
            .sessions
            .iter()
            .filter(|(_, e)| now - e.last_used_ms > cfg.min_eviction_ms)
            .min_by_key(|(id, e)| (e.last_used_ms, **id))
            .map(|(id, _)| *id);
        let victim = stale.or_else(|| {
            let evictable = |e: &Entry| {
                let old = now - e.creation_ms > cfg.min_eviction_ms;
                if privileged {
                    !e.privileged || old
                } else {
                    old
                }
            };
            self.sessions
                .iter()
                .filter(|(_, e)| evictable(e))
                .map(|(id, e)| ((e.privileged, e.size, *id), *id))
                .min()
                .filter(|((p, s, _), _)| (privileged, size) > (*p, *s))
                .map(|(_, id)| id)
        });
        match victim {
            Some(id) => {
                self.remove(id);
                self.evictions += 1;
                true
            }
            None => false,
        }
    }
}

/// Kafka's `FetchSessionCache` and `FetchManager.newContext`.
pub struct FetchSessionCache {
    config: FetchSessionConfig,
    inner: Mutex<Inner>,
}

/// How one fetch request is served.
pub enum FetchContext {
    /// Read these (the request's) partitions; answer every one with
    /// session id 0.
    Sessionless(Vec<FetchPartition>),
    /// Read these partitions and answer every one; then try to create a
    /// session of them ([`FetchSessionCache::create_session`]).
    Full(Vec<FetchPartition>),
    /// Read the session's partitions; answer only those that changed.
    Incremental(IncrementalFetch),
    /// Answer this error with no partitions and session id 0.
    Error(ErrorCode),
}

/// An incremental fetch in progress.
pub struct IncrementalFetch {
    pub session_id: i32,
    /// The session's partitions as this fetch reads them.
    pub partitions: Arc<Vec<FetchPartition>>,
    /// Where reading starts in `partitions` (it wraps around).
    pub start: usize,
    /// `partitions` looked up by an earlier fetch, if any
    /// ([`IncrementalFetch::keep_resolved`]).
    pub resolved: Option<Arc<Resolved>>,
    /// The epoch the session has once this fetch is accepted; a response
    /// finding another lost a race with a newer request of the same session.
    epoch: i32,
    state: Arc<Mutex<SessionState>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The cache's gauges and counters, for the metrics endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FetchSessionStats {
    pub sessions: usize,
    pub partitions_cached: usize,
    pub evictions: u64,
    pub incremental_fetches: u64,
}

impl FetchSessionCache {
    pub fn new(config: FetchSessionConfig) -> Self {
        Self { config, inner: Mutex::new(Inner::default()) }
    }

    /// Kafka's `FetchManager.newContext`. `changes` are the request's
    /// partitions, `forgotten` its forgotten_topics_data; `privileged`
    /// marks a follower.
    pub fn new_context(
        &self,
        session_id: i32,
        epoch: i32,
        changes: Vec<FetchPartition>,
        forgotten: &[TopicPartition],
        now_ms: i64,
    ) -> FetchContext {
        let mut inner = lock(&self.inner);
        if epoch == INITIAL_EPOCH || epoch == FINAL_EPOCH {
            // Any session a full fetch names is closed.
            if session_id != INVALID_SESSION_ID {
                inner.remove(session_id);
            }
            return if epoch == FINAL_EPOCH {
                FetchContext::Sessionless(changes)
            } else {
                FetchContext::Full(changes)
            };
        }
        let Some(entry) = inner.sessions.get_mut(&session_id) else {
            return FetchContext::Error(ErrorCode::FetchSessionIdNotFound);
        };
        let state_arc = entry.state.clone();
        let mut state = lock(&state_arc);
        if state.epoch != epoch {
            return FetchContext::Error(ErrorCode::InvalidFetchSessionEpoch);
        }
        state.update(changes, forgotten);
        let size = state.partitions.len();
        if size == 0 {
            // Kafka: a session emptied by its own request is closed, and
            // the request answered as a sessionless (empty) fetch.
            drop(state);
            inner.remove(session_id);
            return FetchContext::Sessionless(Vec::new());
        }
        state.epoch = next_epoch(state.epoch);
        entry.last_used_ms = now_ms;
        let old_size = std::mem::replace(&mut entry.size, size);
        inner.partitions_cached = inner.partitions_cached - old_size + size;
        inner.incremental_fetches += 1;
        let fetch = IncrementalFetch {
            session_id,
            partitions: state.partitions.clone(),
            start: state.start,
            resolved: state.resolved.clone(),
            epoch: state.epoch,
            state: state_arc.clone(),
        };
        FetchContext::Incremental(fetch)
    }

    /// Kafka's `maybeCreateSession`, once a full fetch is answered:
    /// `states` says what the response told of each partition, in the
    /// order of `partitions`. Returns the new session's id, or
    /// [`INVALID_SESSION_ID`] when no slot is free and none may be evicted.
    pub fn create_session(
        &self,
        now_ms: i64,
        privileged: bool,
        partitions: Arc<Vec<FetchPartition>>,
        states: impl Iterator<Item = PartitionState>,
        resolved: Option<Arc<Resolved>>,
    ) -> i32 {
        let size = partitions.len();
        let mut inner = lock(&self.inner);
        if self.config.max_slots == 0
            || (inner.sessions.len() >= self.config.max_slots
                && !inner.try_evict(&self.config, privileged, size, now_ms))
        {
            return INVALID_SESSION_ID;
        }
        let sent = states
            .map(|s| {
                let mut sent = NOTHING_SENT;
                sent.must_respond(&s, true);
                sent
            })
            .collect();
        let id = loop {
            let id = fastrand::i32(1..i32::MAX);
            if !inner.sessions.contains_key(&id) {
                break id;
            }
        };
        let mut state = SessionState::new(partitions, sent);
        state.resolved = resolved;
        let state = Arc::new(Mutex::new(state));
        let entry = Entry { privileged, creation_ms: now_ms, last_used_ms: now_ms, size, state };
        inner.sessions.insert(id, entry);
        inner.partitions_cached += size;
        id
    }

    pub fn stats(&self) -> FetchSessionStats {
        let inner = lock(&self.inner);
        FetchSessionStats {
            sessions: inner.sessions.len(),
            partitions_cached: inner.partitions_cached,
            evictions: inner.evictions,
            incremental_fetches: inner.incremental_fetches,
        }
    }
}

impl IncrementalFetch {
    /// Whether no newer request of this session came meanwhile (Kafka
    /// answers INVALID_FETCH_SESSION_EPOCH if one did).
    pub fn is_current(&self) -> bool {
        lock(&self.state).epoch == self.epoch
    }

    /// Keeps `resolved` (this fetch's `partitions`, looked up) for the
    /// session's next fetches, unless a newer request may have changed
    /// which partitions the session has.
    pub fn keep_resolved(&self, resolved: Arc<Resolved>) {
        let mut state = lock(&self.state);
        if state.epoch == self.epoch {
            state.resolved = Some(resolved);
        }
    }

    /// Marks which partitions this response carries: `parts` are (index
    /// into `partitions`, what is being answered) in reading order, and
    /// `keep` gets true for each one to send. Remembers what is sent and
    /// moves the next read's start past the last partition with records.
    /// `Err` means the session moved on (INVALID_FETCH_SESSION_EPOCH).
    pub fn select(
        &self,
        parts: impl Iterator<Item = (usize, PartitionState)>,
        keep: &mut Vec<bool>,
    ) -> Result<(), ErrorCode> {
        let mut state = lock(&self.state);
        if state.epoch != self.epoch {
            return Err(ErrorCode::InvalidFetchSessionEpoch);
        }
        let len = state.partitions.len();
        let mut next_start = None;
        for (i, s) in parts {
            let Some(sent) = state.sent.get_mut(i) else {
                keep.push(false);
                continue;
            };
            keep.push(sent.must_respond(&s, true));
            if s.has_records {
                next_start = Some((i + 1) % len.max(1));
            }
        }
        if let Some(start) = next_start {
            state.start = start;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
