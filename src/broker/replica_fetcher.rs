//! The follower side of replication (Kafka's `ReplicaFetcherManager` and
//! `AbstractFetcherThread`): for each leader broker, `num.replica.fetchers`
//! tasks, each batching every partition it follows from that leader into
//! one Fetch with `replica_id` = this broker. Fetched batches are appended
//! as they arrived (the leader's offsets and epochs, no re-stamping), and
//! the high watermark comes from the response. Each fetcher holds a fetch
//! session (KIP-227) with its leader, so an idle round names and is
//! answered with almost nothing.
//!
//! After every role change a partition first truncates by leader epoch
//! (KIP-101/279): it asks the leader (OffsetForLeaderEpoch) where its
//! latest epoch ends and truncates there, never blindly to the high
//! watermark. The rule itself is [`offset_truncation_state`], pure.
//!
//! Lock order: `ReplicaFetcherManager::fetchers` → `Fetcher::partitions`;
//! neither is held across a network call or a log call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, FetchResponse, OffsetForLeaderEpochRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::config::ReplicationConfig;
use super::partition::Partition;
use super::replication_quota::ReplicationQuotas;
use crate::client::connection::Connection;
use crate::cluster::MetadataStore;
use crate::protocol::ErrorCode;
use crate::sync::MutexExt;
use crate::types::{LeaderEpoch, Offset, TopicPartition};

mod session;

use session::{FetchPlan, FetchSessionHandler, PartitionFetch};

/// Where to truncate a follower, and whether that settles it (Kafka's
/// `OffsetTruncationState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TruncationState {
    pub offset: i64,
    pub completed: bool,
}

/// Kafka's `AbstractFetcherThread.getOffsetTruncationState` (2.8), given
/// the leader's answer `(epoch, end_offset)` to OffsetForLeaderEpoch for
/// our latest epoch and our own `end_offset_for` lookup:
/// - the leader knows no such epoch (end -1): keep what is below our
///   high watermark (the only case where the high watermark decides);
/// - we lack the epoch the leader answered with (KIP-279, the leader's
///   epoch is smaller than ours and we never had it): truncate to the end
///   of our largest epoch below it and ask again;
/// - otherwise truncate to the smaller of the two end offsets.
pub fn offset_truncation_state(
    leader_epoch: i32,
    leader_end_offset: i64,
    follower_end_offset_for: impl Fn(LeaderEpoch) -> (LeaderEpoch, Offset),
    follower_high_watermark: i64,
    follower_log_end_offset: i64,
) -> TruncationState {
    let done = |offset: i64| TruncationState { offset, completed: true };
    if leader_end_offset < 0 {
        return done(follower_high_watermark.min(follower_log_end_offset));
    }
    if leader_epoch < 0 {
        return done(leader_end_offset.min(follower_log_end_offset));
    }
    let (epoch, end) = follower_end_offset_for(LeaderEpoch(leader_epoch));
    if end.0 < 0 {
        done(leader_end_offset.min(follower_log_end_offset))
    } else if epoch.0 != leader_epoch {
        TruncationState { offset: end.0.min(follower_log_end_offset), completed: false }
    } else {
        done(leader_end_offset.min(end.0).min(follower_log_end_offset))
    }
}

/// One followed partition.
#[derive(Clone)]
struct Follow {
    partition: Arc<Partition>,
    leader_epoch: i32,
    truncated: bool,
    retry_at: Option<Instant>,
    /// Rounds in a row the leader answered this partition with an error.
    failures: u32,
    /// Caught up to the leader's high watermark at the last fetch: never
    /// throttled (Kafka's `PartitionFetchState.isReplicaInSync`).
    in_sync: bool,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct FetcherKey {
    leader: i32,
    index: usize,
}

struct Fetcher {
    key: FetcherKey,
    partitions: Mutex<HashMap<TopicPartition, Follow>>,
    changed: Notify,
    stopped: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock_or_recover()
}

/// Owns the fetcher tasks of this broker.
pub struct ReplicaFetcherManager {
    /// What every fetcher task shares.
    ctx: Arc<FetchContext>,
    runtime: tokio::runtime::Handle,
    fetchers: Mutex<HashMap<FetcherKey, Arc<Fetcher>>>,
    /// Set once the broker is stopping: it follows nothing any more, so
    /// leaders do not take a replica that is going away back into the ISR.
    stopped: AtomicBool,
}

impl ReplicaFetcherManager {
    pub fn new(
        broker_id: i32,
        listener: &str,
        security: crate::security::ClientSecurity,
        config: ReplicationConfig,
        store: Arc<dyn MetadataStore>,
        quotas: Arc<ReplicationQuotas>,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Self {
            ctx: Arc::new(FetchContext {
                broker_id,
                listener: listener.into(),
                security,
                config,
                store,
                quotas,
            }),
            runtime,
            fetchers: Mutex::new(HashMap::new()),
            stopped: AtomicBool::new(false),
        }
    }

    /// Kafka's `getFetcherId`: a partition always lands on the same fetcher.
    fn fetcher_index(&self, tp: &TopicPartition) -> usize {
        let h = tp
            .topic
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
            .wrapping_mul(31)
            .wrapping_add(tp.partition.0 as u32);
        h as usize % self.ctx.config.num_replica_fetchers.max(1)
    }

    /// Starts following `leader` at `leader_epoch`, truncating first.
    pub fn add(&self, partition: Arc<Partition>, leader: i32, leader_epoch: i32) {
        let tp = partition.tp.clone();
        self.remove(&tp);
        if self.stopped.load(Ordering::Acquire) {
            return;
        }
        let key = FetcherKey { leader, index: self.fetcher_index(&tp) };
        let mut fetchers = lock(&self.fetchers);
        let fetcher = fetchers
            .entry(key)
            .or_insert_with(|| {
                let f = Arc::new(Fetcher {
                    key,
                    partitions: Mutex::new(HashMap::new()),
                    changed: Notify::new(),
                    stopped: AtomicBool::new(false),
                });
                self.runtime.spawn(run(f.clone(), self.ctx.clone()));
                f
            })
            .clone();
        drop(fetchers);
        lock(&fetcher.partitions).insert(
            tp,
            Follow {
                partition,
                leader_epoch,
                truncated: false,
                retry_at: None,
                failures: 0,
                in_sync: false,
            },
        );
        fetcher.changed.notify_one();
    }

    /// Stops following `tp` (it leads now, went offline or was deleted).
    pub fn remove(&self, tp: &TopicPartition) {
        for f in lock(&self.fetchers).values() {
            if lock(&f.partitions).remove(tp).is_some() {
                f.changed.notify_one();
            }
        }
    }

    pub fn shutdown(&self) {
        self.stopped.store(true, Ordering::Release);
        for f in lock(&self.fetchers).drain().map(|(_, f)| f) {
            f.stopped.store(true, Ordering::Release);
            f.changed.notify_one();
        }
    }
}

struct FetchContext {
    broker_id: i32,
    /// The listener followers dial (`inter.broker.listener.name`).
    listener: Arc<str>,
    security: crate::security::ClientSecurity,
    config: ReplicationConfig,
    store: Arc<dyn MetadataStore>,
    quotas: Arc<ReplicationQuotas>,
}

/// A round failed as a whole (connection, timeout, codec): reconnect.
struct RoundFailed(String);

impl From<crate::client::Error> for RoundFailed {
    fn from(e: crate::client::Error) -> Self {
        RoundFailed(e.to_string())
    }
}

async fn run(fetcher: Arc<Fetcher>, ctx: Arc<FetchContext>) {
    let backoff = Duration::from_millis(ctx.config.fetch_backoff_ms);
    let mut conn: Option<Arc<Connection>> = None;
    // Kafka's handler resets to a full fetch whenever the connection goes.
    let mut session = FetchSessionHandler::default();
    loop {
        if fetcher.stopped.load(Ordering::Acquire) {
            return;
        }
        let changed = fetcher.changed.notified();
        let follows: Vec<(TopicPartition, Follow)> =
            lock(&fetcher.partitions).iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if follows.is_empty() {
            // Nothing to fetch: no connection kept open to an idle leader.
            conn = None;
            session.reset();
            changed.await;
            continue;
        }
        let now = Instant::now();
        let ready: Vec<(TopicPartition, Follow)> =
            follows.iter().filter(|(_, f)| f.retry_at.is_none_or(|t| t <= now)).cloned().collect();
        if ready.is_empty() {
            let next =
                follows.iter().filter_map(|(_, f)| f.retry_at).min().unwrap_or(now + backoff);
            let _ = tokio::time::timeout_at(next, changed).await;
            continue;
        }
        let c = match &conn {
            Some(c) => c.clone(),
            None => match connect(&fetcher, &ctx).await {
                Ok(c) => {
                    conn = Some(c.clone());
                    c
                }
                Err(e) => {
                    tracing::warn!(
                        leader = fetcher.key.leader,
                        "replica fetcher cannot connect: {e}"
                    );
                    let _ = tokio::time::timeout(backoff, changed).await;
                    continue;
                }
            },
        };
        let (truncating, fetching): (Vec<_>, Vec<_>) =
            ready.into_iter().partition(|(_, f)| !f.truncated);
        let round = if !truncating.is_empty() {
            truncate_round(&fetcher, &ctx, &c, truncating).await.map(|()| None)
        } else {
            fetch_round(&fetcher, &ctx, &c, &mut session, fetching).await
        };
        match round {
            Ok(Some(throttled)) => {
                // Every partition is held back by the follower quota:
                // wait for it (or a change) rather than send an empty fetch.
                let _ = tokio::time::timeout(throttled.clamp(THROTTLE_MIN_WAIT, backoff), changed)
                    .await;
            }
            Ok(None) => {}
            Err(RoundFailed(e)) => {
                tracing::warn!(leader = fetcher.key.leader, "replica fetch failed: {e}");
                conn = None;
                session.reset();
                let _ = tokio::time::timeout(backoff, changed).await;
            }
        }
    }
}

async fn connect(fetcher: &Fetcher, ctx: &FetchContext) -> Result<Arc<Connection>, String> {
    let image = ctx.store.image();
    let leader = image
        .brokers
        .get(&fetcher.key.leader)
        .ok_or_else(|| format!("broker {} is not registered", fetcher.key.leader))?;
    let (host, port) = leader
        .endpoint(&ctx.listener)
        .ok_or_else(|| format!("broker {} has no listener {}", fetcher.key.leader, ctx.listener))?;
    let addr =
        if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let client_id = format!("replica-fetcher-{}-{}", ctx.broker_id, fetcher.key.index);
    let timeout = Duration::from_millis(ctx.config.socket_timeout_ms);
    Connection::connect_with(&addr, &client_id, timeout, &ctx.security)
        .await
        .map_err(|e| e.to_string())
}

/// Updates a follow if it is still the one the round worked on.
fn update_follow(fetcher: &Fetcher, tp: &TopicPartition, epoch: i32, f: impl FnOnce(&mut Follow)) {
    if let Some(follow) = lock(&fetcher.partitions).get_mut(tp) {
        if follow.leader_epoch == epoch {
            f(follow);
        }
    }
}

/// The first wait after a partition's error, doubled with each further
/// error up to `replica.fetch.backoff.ms`.
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(20);

/// How long a partition waits after its `failures`-th error in a row
/// (counted from 0). A follower told of a new leader often asks before the
/// leader has taken the epoch over and is answered UNKNOWN_LEADER_EPOCH or
/// NOT_LEADER_OR_FOLLOWER; Kafka's fixed one-second backoff then held every
/// acks=all produce on the new leader for that second, so the first retries
/// come soon and only a leader that keeps refusing is asked once a
/// backoff.
fn retry_wait(backoff: Duration, failures: u32) -> Duration {
    FIRST_RETRY_WAIT.saturating_mul(1u32 << failures.min(16)).min(backoff)
}

fn delay(fetcher: &Fetcher, ctx: &FetchContext, tp: &TopicPartition, epoch: i32) {
    let backoff = Duration::from_millis(ctx.config.fetch_backoff_ms);
    let now = Instant::now();
    update_follow(fetcher, tp, epoch, |f| {
        f.retry_at = Some(now + retry_wait(backoff, f.failures));
        f.failures = f.failures.saturating_add(1);
    });
}

/// Groups items by topic in first-seen order, the shape every request
/// here takes (Fetch, its forgotten list, OffsetForLeaderEpoch).
fn by_topic<'a, T>(items: impl IntoIterator<Item = (&'a str, T)>) -> Vec<(&'a str, Vec<T>)> {
    let mut out: Vec<(&str, Vec<T>)> = Vec::new();
    let mut slot: HashMap<&str, usize> = HashMap::new();
    for (topic, item) in items {
        let i = *slot.entry(topic).or_insert_with(|| {
            out.push((topic, Vec::new()));
            out.len() - 1
        });
        out[i].1.push(item);
    }
    out
}

/// The answered partitions of a round, each with the follow it was asked
/// for; partitions the round did not ask for are dropped. Found by name: a
/// follower of thousands of partitions led by one broker used to scan the
/// whole round for each partition answered, quadratic, and at 5,000 that
/// was most of the broker's CPU.
fn answered<P>(
    items: &[(TopicPartition, Follow)],
    topics: impl IntoIterator<Item = (TopicName, Vec<P>)>,
    partition: impl Fn(&P) -> i32,
) -> Vec<(TopicPartition, Follow, P)> {
    let asked: HashMap<(&str, i32), &Follow> =
        items.iter().map(|(tp, f)| ((tp.topic.as_str(), tp.partition.0), f)).collect();
    let mut out = Vec::new();
    for (topic, parts) in topics {
        for p in parts {
            if let Some(f) = asked.get(&(topic.as_str(), partition(&p))) {
                out.push((
                    TopicPartition::new(topic.0.to_string(), partition(&p)),
                    (*f).clone(),
                    p,
                ));
            }
        }
    }
    out
}

fn topic_name(t: &str) -> TopicName {
    TopicName(StrBytes::from_string(t.to_string()))
}

/// OffsetForLeaderEpoch for every partition that changed role, then the
/// truncation each answer calls for.
async fn truncate_round(
    fetcher: &Fetcher,
    ctx: &FetchContext,
    c: &Connection,
    items: Vec<(TopicPartition, Follow)>,
) -> Result<(), RoundFailed> {
    // A log without epochs holds nothing a leader could disagree with.
    let (ask, settled): (Vec<_>, Vec<_>) = items
        .into_iter()
        .partition(|(_, f)| f.partition.log.leader_epoch_cache().latest_epoch().is_some());
    for (tp, f) in &settled {
        update_follow(fetcher, tp, f.leader_epoch, |f| f.truncated = true);
    }
    if ask.is_empty() {
        return Ok(());
    }
    let mut req = OffsetForLeaderEpochRequest::default();
    req.replica_id = BrokerId(ctx.broker_id);
    for (topic, parts) in by_topic(ask.iter().map(|item| (item.0.topic.as_str(), item))) {
        let mut t = OffsetForLeaderTopic::default();
        t.topic = topic_name(topic);
        for (tp, f) in parts {
            let mut p = OffsetForLeaderPartition::default();
            p.partition = tp.partition.0;
            p.current_leader_epoch = f.leader_epoch;
            p.leader_epoch =
                f.partition.log.leader_epoch_cache().latest_epoch().map_or(-1, |e| e.0);
            t.partitions.push(p);
        }
        req.topics.push(t);
    }
    let resp = c.send(&req).await?;
    let answers =
        answered(&ask, resp.topics.into_iter().map(|t| (t.topic, t.partitions)), |p| p.partition);
    let outcomes = tokio::task::spawn_blocking(move || {
        answers
            .into_iter()
            .map(|(tp, f, p)| {
                let (code, epoch, end) = (p.error_code, p.leader_epoch, p.end_offset);
                if code != 0 {
                    return (tp, f.leader_epoch, Err(code));
                }
                let log = &f.partition.log;
                let state = offset_truncation_state(
                    epoch,
                    end,
                    |e| log.leader_epoch_cache().end_offset_for(e),
                    f.partition.high_watermark(),
                    log.log_end_offset().0,
                );
                let leo = log.log_end_offset().0;
                if state.offset < leo {
                    tracing::info!(partition = %tp, "truncating from {leo} to {} (leader epoch {epoch} ends at {end})", state.offset);
                }
                let r = f.partition.truncate(state.offset, false).map(|()| state.completed);
                (tp, f.leader_epoch, r.map_err(|e| e.code.code()))
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| RoundFailed(e.to_string()))?;
    for (tp, epoch, outcome) in outcomes {
        match outcome {
            Ok(completed) => update_follow(fetcher, &tp, epoch, |f| {
                f.truncated = completed;
                f.failures = 0;
            }),
            Err(code) => {
                tracing::debug!(partition = %tp, "OffsetForLeaderEpoch answered {code}");
                delay(fetcher, ctx, &tp, epoch);
            }
        }
    }
    Ok(())
}

/// The shortest wait for a follower quota, so a nearly paid-back bucket
/// does not spin.
const THROTTLE_MIN_WAIT: Duration = Duration::from_millis(10);

/// One Fetch for every truncated partition, appended as it came: in a
/// fetch session, only the partitions whose fetch fields changed are sent
/// and only those with news are answered; one left out of the answer had
/// no records, no error and no moved offsets, so its follow stays as it
/// is. Returns how long to wait when the follower quota held back every
/// partition.
async fn fetch_round(
    fetcher: &Fetcher,
    ctx: &FetchContext,
    c: &Connection,
    session: &mut FetchSessionHandler,
    items: Vec<(TopicPartition, Follow)>,
) -> Result<Option<Duration>, RoundFailed> {
    let quota = &ctx.quotas.follower;
    // Checked once per round: a partition catching up is left out while
    // the quota is exceeded (Kafka's `shouldFollowerThrottle`).
    let exceeded = quota.is_quota_exceeded();
    let mut held_back = false;
    let mut round: Vec<(&TopicPartition, PartitionFetch)> = Vec::with_capacity(items.len());
    for (tp, f) in &items {
        if exceeded && !f.in_sync && quota.is_throttled(tp) {
            held_back = true;
            continue;
        }
        let Some(fetch_offset) = f.partition.follower_fetch_offset(f.leader_epoch) else {
            continue;
        };
        let fetch = PartitionFetch {
            fetch_offset,
            current_leader_epoch: f.leader_epoch,
            log_start_offset: f.partition.log_start_offset().0,
            partition_max_bytes: ctx.config.fetch_max_bytes,
        };
        round.push((tp, fetch));
    }
    if held_back && round.is_empty() {
        return Ok(Some(quota.wait()));
    }
    let plan = session.build(&round);
    let req = fetch_request(ctx, &round, &plan);
    let resp: FetchResponse = c.send(&req).await?;
    if !session.handle_response(&plan, resp.error_code, resp.session_id) {
        let code = ErrorCode::from_code(resp.error_code);
        if matches!(
            code,
            Some(
                ErrorCode::None
                    | ErrorCode::FetchSessionIdNotFound
                    | ErrorCode::InvalidFetchSessionEpoch
            )
        ) {
            // The leader lost or moved on from our session (restart,
            // eviction): the next round is a full fetch, at once.
            tracing::debug!(leader = fetcher.key.leader, "fetch session reset: {code:?}");
            return Ok(None);
        }
        let e = crate::client::Error::from_code(resp.error_code, None);
        return Err(RoundFailed(
            e.map_or_else(|| format!("error {}", resp.error_code), |e| e.to_string()),
        ));
    }
    if resp.responses.is_empty() {
        // The idle round of a session: nothing changed anywhere.
        return Ok(None);
    }
    let work = answered(&items, resp.responses.into_iter().map(|t| (t.topic, t.partitions)), |p| {
        p.partition_index
    });
    for (tp, _, p) in &work {
        if quota.is_throttled(tp) {
            quota.record(p.records.as_ref().map_or(0, Bytes::len));
        }
    }
    let outcomes = tokio::task::spawn_blocking(move || {
        work.into_iter()
            .map(|(tp, f, p)| {
                let (code, hw) = (p.error_code, p.high_watermark);
                let r = apply_fetched(
                    &f,
                    ErrorCode::from_code(code).unwrap_or(ErrorCode::UnknownServerError),
                    hw,
                    p.log_start_offset,
                    p.records,
                );
                let in_sync = hw >= 0 && f.partition.log.log_end_offset().0 >= hw;
                (tp, f, r, in_sync, code)
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| RoundFailed(e.to_string()))?;
    let mut lost_answer = false;
    for (tp, seen, outcome, in_sync, code) in outcomes {
        // The leader's session remembers what it answered; an answer
        // without an error that we could not take in (a fenced or failed
        // append) would not be sent again while the leader's offsets stand.
        lost_answer |= code == ErrorCode::None.code() && !matches!(outcome, Applied::Ok);
        match outcome {
            Applied::Delay(why) => {
                update_follow(fetcher, &tp, seen.leader_epoch, |f| f.in_sync = in_sync);
                tracing::debug!(partition = %tp, "replica fetch: {why}");
                delay(fetcher, ctx, &tp, seen.leader_epoch);
            }
            Applied::Ok => settle_fetched(fetcher, &tp, &seen, in_sync, false),
            Applied::Retruncate => settle_fetched(fetcher, &tp, &seen, in_sync, true),
        }
    }
    if lost_answer {
        session.reset();
    }
    Ok(None)
}

/// The Fetch request of `plan`: the round's partitions it sends, grouped by
/// topic, and those it forgets.
fn fetch_request(
    ctx: &FetchContext,
    round: &[(&TopicPartition, PartitionFetch)],
    plan: &FetchPlan,
) -> FetchRequest {
    let mut req = FetchRequest::default();
    req.replica_id = BrokerId(ctx.broker_id);
    req.replica_state.replica_id = BrokerId(ctx.broker_id);
    req.max_wait_ms = ctx.config.fetch_wait_max_ms;
    req.min_bytes = ctx.config.fetch_min_bytes;
    req.max_bytes = ctx.config.fetch_response_max_bytes;
    req.session_id = plan.metadata.session_id;
    req.session_epoch = plan.metadata.epoch;
    let sent = plan.send.iter().map(|&i| (round[i].0.topic.as_str(), &round[i]));
    for (topic, parts) in by_topic(sent) {
        let mut t = FetchTopic::default();
        t.topic = topic_name(topic);
        for (tp, fetch) in parts {
            let mut p = FetchPartition::default();
            p.partition = tp.partition.0;
            p.current_leader_epoch = fetch.current_leader_epoch;
            p.fetch_offset = fetch.fetch_offset;
            p.last_fetched_epoch = -1;
            p.log_start_offset = fetch.log_start_offset;
            p.partition_max_bytes = fetch.partition_max_bytes;
            t.partitions.push(p);
        }
        req.topics.push(t);
    }
    for (topic, parts) in by_topic(plan.forgotten.iter().map(|tp| (tp.topic.as_str(), tp))) {
        let mut t = ForgottenTopic::default();
        t.topic = topic_name(topic);
        t.partitions = parts.iter().map(|tp| tp.partition.0).collect();
        req.forgotten_topics_data.push(t);
    }
    req
}

/// Records a fetch that went through (appended, or to be truncated again
/// when `retruncate`) in the partition's follow. `seen` is the follow the
/// round was built from; after `add` only this fetcher's own rounds change
/// a follow, so `seen` still holds its failure count. A success with no
/// errors behind it and no change in sync (nearly every fetch) changes
/// nothing, so it takes no lock: a round over thousands of partitions
/// would otherwise take it once for each.
fn settle_fetched(
    fetcher: &Fetcher,
    tp: &TopicPartition,
    seen: &Follow,
    in_sync: bool,
    retruncate: bool,
) {
    if !retruncate && seen.failures == 0 && seen.in_sync == in_sync {
        return;
    }
    update_follow(fetcher, tp, seen.leader_epoch, |f| {
        f.in_sync = in_sync;
        f.failures = 0;
        if retruncate {
            f.truncated = false;
        }
    });
}

enum Applied {
    Ok,
    /// The logs may have diverged: truncate by leader epoch again.
    Retruncate,
    Delay(String),
}

/// Appends one partition's fetched batches (blocking).
fn apply_fetched(
    f: &Follow,
    code: ErrorCode,
    high_watermark: i64,
    leader_log_start: i64,
    records: Option<Bytes>,
) -> Applied {
    let p = &f.partition;
    match code {
        ErrorCode::None => {}
        ErrorCode::OffsetOutOfRange => {
            // Behind the leader's log start: nothing to keep, start there.
            // Otherwise ahead of the leader's end: the epochs decide.
            if p.log.log_end_offset().0 < leader_log_start {
                return match p.truncate(leader_log_start, true) {
                    Ok(()) => Applied::Ok,
                    Err(e) => Applied::Delay(e.to_string()),
                };
            }
            return Applied::Retruncate;
        }
        other => return Applied::Delay(other.to_string()),
    }
    if let Some(records) = records {
        let whole = whole_batches_len(&records);
        if whole > 0 {
            let mut buf = records[..whole].to_vec();
            match p.append_records_as_follower(&mut buf, f.leader_epoch) {
                Ok(_) => {}
                Err(e) if e.code == ErrorCode::FencedLeaderEpoch => {
                    return Applied::Delay(e.to_string())
                }
                Err(e) => {
                    tracing::warn!(partition = %p.tp, "follower append failed: {e}");
                    return Applied::Retruncate;
                }
            }
        }
    }
    if high_watermark >= 0 {
        p.update_follower_high_watermark(high_watermark);
    }
    // DeleteRecords and retention on the leader move our log start too
    // (Kafka's `maybeIncrementLogStartOffset`), never past what is committed.
    let new_start = leader_log_start.min(p.high_watermark());
    if new_start > p.log_start_offset().0 {
        if let Err(e) = p.log.delete_records(Offset(new_start)) {
            tracing::warn!(partition = %p.tp, "cannot follow the leader's log start: {e}");
        }
    }
    Applied::Ok
}

/// The length of the whole batches at the start of `records`: a response
/// may end in a partial batch (Kafka's leaders cut at the byte limit).
fn whole_batches_len(records: &[u8]) -> usize {
    let mut pos = 0usize;
    while let Some(len_bytes) = records.get(pos + 8..pos + 12) {
        let len = i32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        let Ok(len) = usize::try_from(len) else { break };
        let end = pos + 12 + len;
        if end > records.len() {
            break;
        }
        pos = end;
    }
    pos
}

#[cfg(test)]
mod tests;
