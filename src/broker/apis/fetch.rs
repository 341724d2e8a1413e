//! Fetch: reads whole batches below the high watermark (the last stable
//! offset for read_committed, the same without transactions) for
//! consumers, and up to the log end for followers (`replica_id` ≥ 0), and
//! answers with file regions sent by sendfile. A follower's fetch offset is
//! its log end: the leader records it first, which may move the high
//! watermark (waking acks=all produces and consumers) or bring the
//! follower back into the ISR. A fetch that finds fewer than
//! `min_bytes` waits in the purgatory until an append to one of its
//! partitions wakes it or `max_wait_ms` passes: no polling timer.
//!
//! Fetch sessions (KIP-227, [`crate::broker::fetch_session`]): a full
//! fetch with epoch 0 opens a session when a slot is free, and the
//! session's incremental fetches name only the partitions whose position
//! changed and are answered only with the partitions that have records,
//! an error or moved offsets. A fetch with epoch -1 is served without a
//! session (kafka-go and every pre-v7 client send that).
//!
//! A follower outside the ISR reading a partition under the leader
//! replication quota ([`crate::broker::replication_quota`]) gets no records
//! while the quota is exceeded, and the bytes of throttled partitions are
//! recorded once per response.
//!
//! Fetch v0-3 clients cannot read RecordBatch v2: their records are read
//! into memory and down-converted to message format 1 (v2-3) or 0 (v0-1)
//! on the blocking pool, as Kafka does; v4+ never take that path.

use std::sync::Arc;
use std::time::Duration;

use std::os::unix::fs::FileExt;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, FetchRequest};

use crate::broker::authorizer::Authz;
use crate::broker::connection::{FileRegion, Reply};
use crate::broker::error::log_error_code;
use crate::broker::fetch_session::{
    FetchContext, FetchPartition, IncrementalFetch, PartitionState, INVALID_SESSION_ID,
};
use crate::broker::metrics::TopicStats;
use crate::broker::partition::Partition;
use crate::broker::purgatory;
use crate::broker::quota::QuotaKind;
use crate::broker::replica_manager::{ReplicaManager, Resolved};
use crate::broker::BrokerContext;
use crate::log::segment::Wait;
use crate::log::FileSlice;
use crate::protocol::fetch_writer::{
    write_fetch_response, Chunk, FetchPartitionData, FetchResponseData, FetchTopicData,
};
use crate::protocol::ErrorCode;
use crate::record::{legacy, Error as RecordError};
use crate::security::acl::AclOperation;
use crate::types::{Offset, TopicPartition};

/// What holds for every partition of one request.
#[derive(Clone, Copy)]
struct FetchParams {
    /// The follower's broker id (-1 for consumers): a follower reads up to
    /// the log end, a consumer up to the HW.
    replica_id: i32,
    /// isolation_level=1: a consumer reads up to the last stable offset.
    read_committed: bool,
}

impl FetchParams {
    fn is_follower(&self) -> bool {
        self.replica_id >= 0
    }
}

/// The partitions one fetch reads, in the order it reads them: a session's
/// reading starts where its last response with records stopped.
struct ReadSet {
    partitions: Arc<Vec<FetchPartition>>,
    /// `partitions` on this broker, same order.
    resolved: Arc<Resolved>,
    start: usize,
    /// Partitions the principal may not read (set only with an authorizer).
    denied: Option<Arc<Vec<bool>>>,
}

impl ReadSet {
    /// Indexes into `partitions`, in reading order.
    fn order(&self) -> impl Iterator<Item = usize> + '_ {
        let len = self.partitions.len();
        (0..len).map(move |k| (self.start + k) % len)
    }

    fn is_denied(&self, i: usize) -> bool {
        self.denied.as_ref().is_some_and(|d| d[i])
    }

    fn partition(&self, i: usize) -> Option<&Arc<Partition>> {
        self.resolved.partitions.get(i).and_then(Option::as_ref)
    }

    /// Looks the partitions up again if the broker's have changed since;
    /// whether it did. The session, if any, keeps the new lookup: its next
    /// fetch would otherwise look them up once more.
    fn refresh(&mut self, replicas: &ReplicaManager, session: Option<&IncrementalFetch>) -> bool {
        let generation = self.resolved.generation;
        self.resolved = resolve(replicas, &self.partitions, Some(&self.resolved), session);
        self.resolved.generation != generation
    }
}

/// `partitions` on this broker: `cached` while the broker's partitions have
/// not changed since it was looked up, else looked up again, and then kept
/// by `session` for its next fetches.
fn resolve(
    replicas: &ReplicaManager,
    partitions: &[FetchPartition],
    cached: Option<&Arc<Resolved>>,
    session: Option<&IncrementalFetch>,
) -> Arc<Resolved> {
    match cached {
        Some(r) if r.generation == replicas.generation() => r.clone(),
        _ => {
            let r = Arc::new(replicas.resolve(partitions.iter().map(|p| &p.tp)));
            if let Some(f) = session {
                f.keep_resolved(r.clone());
            }
            r
        }
    }
}

/// A consumer's fetch quota (`consumer_byte_rate`), for the handler to
/// size the response and record what it sends. Followers have none.
pub struct FetchQuota<'a> {
    pub user: &'a str,
    pub client_id: &'a str,
    /// Held back for the throttle time once the response is queued.
    pub session: &'a crate::broker::connection::Session,
}

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    version: i16,
    correlation_id: i32,
    req: FetchRequest,
    quota: FetchQuota<'_>,
    authz: &Authz<'_>,
) -> Reply {
    let started = std::time::Instant::now();
    let replica_id = if version >= 15 { req.replica_state.replica_id.0 } else { req.replica_id.0 };
    let params =
        FetchParams { replica_id, read_committed: replica_id < 0 && req.isolation_level == 1 };
    let leader_quota = &ctx.replicas.quotas.leader;
    let requested: Vec<FetchPartition> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| FetchPartition {
                tp: TopicPartition::new(t.topic.0.to_string(), p.partition),
                fetch_offset: p.fetch_offset,
                current_leader_epoch: p.current_leader_epoch,
                partition_max_bytes: p.partition_max_bytes.max(0) as usize,
            })
        })
        .collect();
    let forgotten: Vec<TopicPartition> = req
        .forgotten_topics_data
        .iter()
        .flat_map(|t| t.partitions.iter().map(|&p| TopicPartition::new(t.topic.0.to_string(), p)))
        .collect();
    let now = crate::time::now_ms();
    let context = ctx.fetch_sessions.new_context(
        req.session_id,
        req.session_epoch,
        requested,
        &forgotten,
        now,
    );
    let (partitions, start, full, incremental) = match context {
        FetchContext::Sessionless(p) => (Arc::new(p), 0, false, None),
        FetchContext::Full(p) => (Arc::new(p), 0, true, None),
        FetchContext::Incremental(f) => (f.partitions.clone(), f.start, false, Some(f)),
        FetchContext::Error(code) => return session_error(version, correlation_id, code).await,
    };
    // A session looks its partitions up again only when the broker's
    // partitions change: an idle follower's fetch then costs no hashing.
    let cached = incremental.as_ref().and_then(|f| f.resolved.as_ref());
    let resolved = resolve(&ctx.replicas, &partitions, cached, incremental.as_ref());
    // Kafka: a follower needs CLUSTER_ACTION, a consumer READ on each
    // topic; what is refused is answered TOPIC_AUTHORIZATION_FAILED and
    // never read.
    let denied = ctx.authorizer.as_ref().map(|_| {
        let follower_allowed = replica_id < 0 || authz.cluster(AclOperation::ClusterAction);
        let mut last: Option<(&str, bool)> = None;
        let denied = partitions.iter().map(|p| {
            let topic = p.tp.topic.as_str();
            let allowed = match last {
                Some((t, allowed)) if t == topic => allowed,
                _ => {
                    follower_allowed && (replica_id >= 0 || authz.topic(AclOperation::Read, topic))
                }
            };
            last = Some((topic, allowed));
            !allowed
        });
        Arc::new(denied.collect::<Vec<bool>>())
    });
    let mut set = ReadSet { partitions, resolved, start, denied };
    let mut max_bytes = if req.max_bytes <= 0 { usize::MAX } else { req.max_bytes as usize };
    if replica_id < 0 {
        // Kafka's getMaxValueInQuotaWindow: never more than one quota
        // window's worth in one response.
        let (user, client) = (quota.user, quota.client_id);
        if let Some(cap) = ctx.quotas.max_value_in_window(QuotaKind::Fetch, user, client) {
            max_bytes = max_bytes.min(cap.max(1));
        }
    }
    let min_bytes = req.min_bytes.max(0) as usize;
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);

    if params.is_follower() {
        update_followers(ctx, params, &set);
    }
    let parts = loop {
        // Register before reading, so an append between the read and the
        // wait is not missed.
        let handles = set.order().filter(|&i| !set.is_denied(i)).filter_map(|i| set.partition(i));
        let watch = purgatory::watch(handles.cloned().collect());
        // A removal moves the generation before it wakes the removed
        // partition's waiters: unmoved, these handles are the broker's and
        // a later removal wakes this watch.
        if set.refresh(&ctx.replicas, incremental.as_ref()) {
            continue;
        }
        let parts = read_all(ctx, params, &set, max_bytes).await;
        let bytes: usize = parts.iter().map(|(p, _)| p.records.as_ref().map_or(0, |r| r.len)).sum();
        let errors = parts.iter().any(|(p, _)| {
            !matches!(p.error_code, ErrorCode::None | ErrorCode::TopicAuthorizationFailed)
        });
        if bytes >= min_bytes.max(1)
            || errors
            || set.partitions.is_empty()
            || min_bytes == 0
            || tokio::time::Instant::now() >= deadline
        {
            break parts;
        }
        let _in_purgatory = ctx.replicas.metrics.fetch_waiting();
        let _parked = quota.session.long_poll();
        let woken = tokio::time::timeout_at(deadline, watch.notify.notified()).await.is_ok();
        drop(watch);
        if !woken {
            // A partition deleted or created again meanwhile is read as it is now.
            set.refresh(&ctx.replicas, incremental.as_ref());
            break read_all(ctx, params, &set, max_bytes).await;
        }
    };

    let throttle_ms = if replica_id < 0 {
        let bytes: usize = parts.iter().map(|(p, _)| p.records.as_ref().map_or(0, |r| r.len)).sum();
        let (user, client) = (quota.user, quota.client_id);
        let throttle = ctx.quotas.record_fetch_and_get_throttle_ms(user, client, bytes);
        quota.session.throttle(throttle);
        throttle
    } else {
        quota.session.quota_exempt.store(true, std::sync::atomic::Ordering::Relaxed);
        0
    };
    let mut topics: Vec<FetchTopicData<FileRegion>> = Vec::new();
    let mut session_id = INVALID_SESSION_ID;
    let mut throttled_bytes = 0;
    // A throttled consumer gets an empty response (Kafka's
    // getThrottledResponse) and reads the same data after the wait; a
    // throttled full fetch opens no session.
    if throttle_ms == 0 {
        let mut keep = Vec::new();
        if let Some(f) = &incremental {
            let states = set.order().zip(&parts).map(|(i, (p, _))| (i, partition_state(p)));
            if let Err(code) = f.select(states, &mut keep) {
                return session_error(version, correlation_id, code).await;
            }
            session_id = f.session_id;
        }
        let mut full_states = Vec::new();
        for (k, (i, (p, stats))) in set.order().zip(parts).enumerate() {
            let tp = &set.partitions[i].tp;
            let bytes = p.records.as_ref().map_or(0, |r| r.len);
            if bytes > 0 && params.is_follower() && leader_quota.is_throttled(tp) {
                throttled_bytes += bytes;
            }
            if let Some(stats) = stats {
                stats.fetched(bytes, params.is_follower(), p.error_code != ErrorCode::None);
            }
            if full {
                full_states.push(partition_state(&p));
            }
            if keep.get(k).copied().unwrap_or(true) {
                push_partition(&mut topics, &tp.topic, p);
            }
        }
        if full {
            session_id = ctx.fetch_sessions.create_session(
                now,
                params.is_follower(),
                set.partitions.clone(),
                full_states.into_iter(),
                Some(set.resolved.clone()),
            );
        }
    } else if let Some(f) = &incremental {
        if !f.is_current() {
            let code = ErrorCode::InvalidFetchSessionEpoch;
            return session_error(version, correlation_id, code).await;
        }
        session_id = f.session_id;
    }
    // Kafka records a throttled partition's bytes whoever fetched them, in
    // the ISR or not, so catching-up replicas share what is left.
    leader_quota.record(throttled_bytes);
    let data = FetchResponseData {
        throttle_time_ms: throttle_ms.min(i32::MAX as u64) as i32,
        error_code: ErrorCode::None,
        session_id,
        topics,
    };
    if version < LEGACY_BELOW {
        return legacy_reply(version, correlation_id, data).await;
    }
    let (chunks, _len) = write_fetch_response(version, correlation_id, data);
    ctx.replicas.metrics.record_fetch(params.is_follower(), version, started.elapsed());
    Reply::Chunks(chunks)
}

/// A fetch refused for its session: the error, no partitions, session 0.
async fn session_error(version: i16, correlation_id: i32, code: ErrorCode) -> Reply {
    let data = FetchResponseData {
        throttle_time_ms: 0,
        error_code: code,
        session_id: INVALID_SESSION_ID,
        topics: Vec::new(),
    };
    if version < LEGACY_BELOW {
        return legacy_reply(version, correlation_id, data).await;
    }
    Reply::Chunks(write_fetch_response(version, correlation_id, data).0)
}

/// What a session compares with its last response to decide whether a
/// partition is sent.
fn partition_state(p: &FetchPartitionData<FileRegion>) -> PartitionState {
    PartitionState {
        high_watermark: p.high_watermark,
        last_stable_offset: p.last_stable_offset,
        log_start_offset: p.log_start_offset,
        error: p.error_code != ErrorCode::None,
        has_records: p.records.as_ref().is_some_and(|r| r.len > 0),
    }
}

/// Appends a partition under its topic. Consecutive partitions of one topic
/// share an entry; a topic split by a session's rotation appears twice, as
/// in Kafka's responses, which clients read partition by partition.
fn push_partition(
    topics: &mut Vec<FetchTopicData<FileRegion>>,
    topic: &str,
    p: FetchPartitionData<FileRegion>,
) {
    match topics.last_mut() {
        Some(t) if t.name == topic => t.partitions.push(p),
        _ => topics.push(FetchTopicData { name: topic.to_string(), partitions: vec![p] }),
    }
}

/// Versions below this read message sets (magic 0/1), not v2 batches.
const LEGACY_BELOW: i16 = 4;

/// The response of a Fetch v0-3: each partition's records down-converted
/// on the blocking pool; a partition whose batches cannot be (zstd) gets
/// UNSUPPORTED_COMPRESSION_TYPE, as in Kafka.
async fn legacy_reply(
    version: i16,
    correlation_id: i32,
    data: FetchResponseData<FileRegion>,
) -> Reply {
    let magic = if version >= 2 { 1 } else { 0 };
    let converted = tokio::task::spawn_blocking(move || -> Vec<Chunk<Bytes>> {
        let topics: Vec<FetchTopicData<Bytes>> = data
            .topics
            .into_iter()
            .map(|t| FetchTopicData {
                name: t.name,
                partitions: t.partitions.into_iter().map(|p| down_convert(p, magic)).collect(),
            })
            .collect();
        let data = FetchResponseData {
            throttle_time_ms: data.throttle_time_ms,
            error_code: data.error_code,
            session_id: data.session_id,
            topics,
        };
        write_fetch_response(version, correlation_id, data).0
    })
    .await;
    match converted {
        Ok(chunks) => Reply::Chunks(
            chunks
                .into_iter()
                .map(|c| match c {
                    Chunk::Bytes(b) | Chunk::Region(b) => Chunk::Bytes(b),
                })
                .collect(),
        ),
        Err(e) => {
            tracing::error!("fetch down-conversion failed: {e}");
            Reply::Nothing
        }
    }
}

fn down_convert(p: FetchPartitionData<FileRegion>, magic: i8) -> FetchPartitionData<Bytes> {
    let mut out = FetchPartitionData {
        partition_index: p.partition_index,
        error_code: p.error_code,
        high_watermark: p.high_watermark,
        last_stable_offset: p.last_stable_offset,
        log_start_offset: p.log_start_offset,
        aborted_transactions: p.aborted_transactions,
        records: None,
    };
    let Some(region) = p.records else { return out };
    let mut buf = vec![0u8; region.len];
    if let Err(e) = region.file.read_exact_at(&mut buf, region.position) {
        tracing::warn!("fetch read for down-conversion failed: {e}");
        out.error_code = ErrorCode::KafkaStorageError;
        return out;
    }
    match legacy::down_convert(&buf, magic) {
        Ok(set) => out.records = Some(Bytes::from(set)),
        Err(RecordError::Compression(_)) => out.error_code = ErrorCode::UnsupportedCompressionType,
        Err(e) => {
            tracing::warn!("down-conversion to magic {magic} failed: {e}");
            out.error_code = ErrorCode::CorruptMessage;
        }
    }
    out
}

/// Records where the follower's log ends on each partition it fetches
/// (a session's partitions not named in this request keep their offset).
fn update_followers(ctx: &Arc<BrokerContext>, params: FetchParams, set: &ReadSet) {
    if ctx.replicas.check_lease().is_err() {
        return;
    }
    let now = crate::time::now_ms();
    for (i, w) in set.partitions.iter().enumerate() {
        let Some(p) = set.partition(i).filter(|p| !set.is_denied(i) && p.is_leader()) else {
            continue;
        };
        if p.check_leader_epoch(w.current_leader_epoch).is_err() {
            continue;
        }
        let outcome = p.update_follower_fetch(params.replica_id, w.fetch_offset, now);
        if outcome.high_watermark_moved {
            p.waiters.wake();
        }
        if let Some(change) = outcome.expand_isr {
            let replica_id = params.replica_id;
            tracing::info!(partition = %w.tp, "broker {replica_id} caught up; adding it to the ISR");
            ctx.replicas.write_isr_change(p.clone(), change);
        }
    }
}

/// The offset reads stop before: the log end for followers, the high
/// watermark for consumers, the last stable offset for read_committed ones.
fn read_bound(p: &crate::broker::partition::Partition, params: FetchParams) -> i64 {
    if params.is_follower() {
        p.log.log_end_offset().0
    } else if params.read_committed {
        p.last_stable_offset()
    } else {
        p.high_watermark()
    }
}

type PartPart = (FetchPartitionData<FileRegion>, Option<Arc<TopicStats>>);

/// Reads every partition of the set once, in reading order. The first
/// partition with data may exceed the limits by one batch so a large batch
/// never blocks a consumer (KIP-74).
///
/// A read whose pages (index, batch headers, records) are all in the page
/// cache is answered right here on the reactor: the hand-off to the
/// blocking pool and back would cost more than the read. A read that needs
/// the disk goes to the blocking pool whole, which also brings the regions
/// it returns into the page cache, so that the reactor's `sendfile` of them
/// never waits for the disk either and a catching-up consumer does not
/// stall the clients sharing its reactor thread.
async fn read_all(
    ctx: &Arc<BrokerContext>,
    params: FetchParams,
    set: &ReadSet,
    max_bytes: usize,
) -> Vec<PartPart> {
    let metrics = &ctx.replicas.metrics;
    if let Some(parts) = read_pass(ctx, params, set, max_bytes, Wait::Never) {
        metrics.fetch_reads_cached.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return parts;
    }
    metrics.fetch_reads_disk.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ctx2 = ctx.clone();
    let set2 = ReadSet {
        partitions: set.partitions.clone(),
        resolved: set.resolved.clone(),
        start: set.start,
        denied: set.denied.clone(),
    };
    let failed = |code| failed_parts(set, code);
    let work = move || {
        let Some(mut parts) = read_pass(&ctx2, params, &set2, max_bytes, Wait::Disk) else {
            return failed_parts(&set2, ErrorCode::UnknownServerError);
        };
        for (p, _) in &mut parts {
            let Some(r) = &p.records else { continue };
            let slice = FileSlice { file: r.file.clone(), position: r.position, len: r.len };
            if let Err(e) = slice.load_into_cache() {
                tracing::warn!("fetch read of {} bytes at {} failed: {e}", r.len, r.position);
                p.records = None;
                p.error_code = ErrorCode::KafkaStorageError;
            }
        }
        parts
    };
    super::off_reactor(ApiKey::Fetch, work, failed).await
}

fn failed_parts(set: &ReadSet, code: ErrorCode) -> Vec<PartPart> {
    set.order().map(|i| (error_part(&set.partitions[i], code), None)).collect()
}

/// One read of the set; under [`Wait::Never`], `None` as soon as a
/// partition's read would wait for the disk.
fn read_pass(
    ctx: &BrokerContext,
    params: FetchParams,
    set: &ReadSet,
    max_bytes: usize,
    wait: Wait,
) -> Option<Vec<PartPart>> {
    let mut remaining = max_bytes;
    let mut first = true;
    set.order()
        .map(|i| {
            let w = &set.partitions[i];
            if set.is_denied(i) {
                return Some((error_part(w, ErrorCode::TopicAuthorizationFailed), None));
            }
            let p = read_one(ctx, params, set.partition(i), w, remaining, first, wait)?;
            if let Some(r) = &p.0.records {
                remaining = remaining.saturating_sub(r.len);
                first = false;
            }
            Some(p)
        })
        .collect()
}

/// Kafka's `shouldLeaderThrottle`: a follower outside the ISR gets nothing
/// of a throttled partition while the leader quota is exceeded; one in the
/// ISR is never held back, so acks=all latency does not suffer.
fn leader_throttles(
    ctx: &BrokerContext,
    p: &crate::broker::partition::Partition,
    params: FetchParams,
    w: &FetchPartition,
) -> bool {
    let quota = &ctx.replicas.quotas.leader;
    params.is_follower()
        && quota.is_quota_exceeded()
        && quota.is_throttled(&w.tp)
        && !p.leader_state().isr.contains(&params.replica_id)
}

fn error_part(w: &FetchPartition, code: ErrorCode) -> FetchPartitionData<FileRegion> {
    FetchPartitionData {
        partition_index: w.tp.partition.0,
        error_code: code,
        high_watermark: -1,
        last_stable_offset: -1,
        log_start_offset: -1,
        aborted_transactions: Vec::new(),
        records: None,
    }
}

fn read_one(
    ctx: &BrokerContext,
    params: FetchParams,
    partition: Option<&Arc<Partition>>,
    w: &FetchPartition,
    remaining: usize,
    min_one: bool,
    wait: Wait,
) -> Option<PartPart> {
    let Some(partition) = partition else {
        return Some((error_part(w, ErrorCode::UnknownTopicOrPartition), None));
    };
    // The epoch is checked before the leadership (KIP-320).
    let stats = Some(partition.stats.clone());
    if let Err(code) = partition
        .check_leader_epoch(w.current_leader_epoch)
        .and_then(|()| ctx.replicas.check_lease())
    {
        return Some((error_part(w, code), stats));
    }
    let hw = partition.high_watermark();
    let lso = partition.last_stable_offset();
    let log_start = partition.log_start_offset().0;
    let mut out = FetchPartitionData {
        partition_index: w.tp.partition.0,
        error_code: ErrorCode::None,
        high_watermark: hw,
        last_stable_offset: lso,
        log_start_offset: log_start,
        aborted_transactions: Vec::new(),
        records: None,
    };
    let leo = partition.log.log_end_offset().0;
    if w.fetch_offset < log_start || w.fetch_offset > leo {
        out.error_code = ErrorCode::OffsetOutOfRange;
        return Some((out, stats));
    }
    let bound = read_bound(partition, params);
    if w.fetch_offset >= bound {
        return Some((out, stats)); // nothing committed (or, for a follower, written) past it yet
    }
    if leader_throttles(ctx, partition, params, w) {
        return Some((out, stats));
    }
    let limit = w.partition_max_bytes.min(remaining);
    let (offset, bound_offset) = (Offset(w.fetch_offset), Some(Offset(bound)));
    match partition.log.read_waiting(offset, limit, bound_offset, min_one, wait) {
        Ok(info) => {
            out.records =
                info.slice.map(|s| FileRegion { file: s.file, position: s.position, len: s.len });
            if params.read_committed && out.records.is_some() {
                out.aborted_transactions = partition
                    .aborted_transactions(w.fetch_offset, bound)
                    .into_iter()
                    .map(|a| (a.producer_id, a.first_offset))
                    .collect();
            }
        }
        Err(crate::log::Error::NotCached) if wait == Wait::Never => return None,
        Err(e) => out.error_code = log_error_code(&e),
    }
    Some((out, stats))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::broker::config::KafkaConfig;
    use crate::broker::fetch_session::{FetchSessionCache, FetchSessionConfig};
    use crate::cluster::zk_store::{ControllerSettings, ZkStore};
    use crate::cluster::{ClusterImage, PartitionMetadata, TopicMetadata};
    use crate::config::Properties;

    /// Broker 1's replica manager over a temp log dir, its store an
    /// in-process ZooKeeper.
    async fn replica_manager(dir: &std::path::Path) -> Arc<ReplicaManager> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut zk = crate::zk::Config::new(dir.join("zk"));
        zk.client_port = addr.port();
        tokio::spawn(crate::zk::run(listener, zk, std::future::pending()));
        let timeout = Duration::from_secs(6);
        let connect = addr.to_string();
        let store = ZkStore::open(&connect, timeout, ControllerSettings::default());
        let store = Arc::new(store.await.unwrap());
        let props = format!("broker.id=1\nlog.dirs={}\n", dir.join("logs").display());
        let config = Arc::new(KafkaConfig::from_properties(&Properties::parse(&props)).unwrap());
        let runtime = tokio::runtime::Handle::current();
        let open = move || ReplicaManager::open(config, 1, store, runtime).unwrap();
        Arc::new(tokio::task::spawn_blocking(open).await.unwrap())
    }

    /// An image in which broker 1 alone hosts and leads partition 0 of
    /// each of `topics`; a topic keeps its id from image to image by its
    /// place in `topics`.
    fn image(topics: &[&str]) -> ClusterImage {
        let led = PartitionMetadata {
            replicas: vec![1],
            state: crate::cluster::PartitionState { leader: 1, leader_epoch: 0, isr: vec![1] },
            state_zk_version: 0,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        };
        let topics = topics.iter().zip(1..).map(|(&name, id)| {
            let topic = TopicMetadata {
                name: name.to_string(),
                topic_id: uuid::Uuid::from_u128(id),
                partitions: BTreeMap::from([(0, led.clone())]),
                configs: BTreeMap::new(),
            };
            (name.to_string(), topic)
        });
        ClusterImage { topics: topics.collect(), ..ClusterImage::default() }
    }

    async fn apply(replicas: &Arc<ReplicaManager>, image: ClusterImage) {
        let replicas = replicas.clone();
        let failed = tokio::task::spawn_blocking(move || replicas.apply_image(&image)).await;
        assert_eq!(failed.unwrap(), Vec::new());
    }

    fn incremental(cache: &FetchSessionCache, id: i32, epoch: i32) -> IncrementalFetch {
        match cache.new_context(id, epoch, Vec::new(), &[], 0) {
            FetchContext::Incremental(f) => f,
            _ => panic!("epoch {epoch} of session {id} was not incremental"),
        }
    }

    /// A long poll that looked its partitions up again, because the
    /// broker's partitions changed while it waited, hands the new lookup to
    /// its session: the session's next fetch need not look them up again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_polls_new_lookup_is_kept_by_its_session() {
        let dir = tempfile::tempdir().unwrap();
        let replicas = replica_manager(dir.path()).await;
        apply(&replicas, image(&["t"])).await;
        let cache = FetchSessionCache::new(FetchSessionConfig { max_slots: 1, min_eviction_ms: 0 });
        let t0 = FetchPartition {
            tp: TopicPartition::new("t", 0),
            fetch_offset: 0,
            current_leader_epoch: -1,
            partition_max_bytes: 1 << 20,
        };
        let partitions = Arc::new(vec![t0]);
        let looked_up = Arc::new(replicas.resolve(partitions.iter().map(|p| &p.tp)));
        let state = PartitionState {
            high_watermark: 0,
            last_stable_offset: 0,
            log_start_offset: 0,
            error: false,
            has_records: false,
        };
        let states = std::iter::once(state);
        let id = cache.create_session(0, true, partitions, states, Some(looked_up));
        let f = incremental(&cache, id, 1);
        let cached = f.resolved.clone().expect("the full fetch's lookup is kept");
        let mut set =
            ReadSet { partitions: f.partitions.clone(), resolved: cached, start: 0, denied: None };

        // Another topic comes while the fetch waits: the generation moves.
        let before = replicas.partition(&TopicPartition::new("t", 0)).unwrap();
        apply(&replicas, image(&["t", "u"])).await;
        let after = replicas.partition(&TopicPartition::new("t", 0)).unwrap();
        assert!(Arc::ptr_eq(&before, &after), "t-0 itself stays");
        assert!(set.refresh(&replicas, Some(&f)), "the partitions are looked up again");

        let next = incremental(&cache, id, 2);
        let kept = next.resolved.expect("the session keeps a lookup");
        assert_eq!(kept.generation, replicas.generation());
        assert!(Arc::ptr_eq(&kept, &set.resolved), "the long poll's own lookup");
        tokio::task::spawn_blocking(move || replicas.shutdown()).await.unwrap();
    }
}
