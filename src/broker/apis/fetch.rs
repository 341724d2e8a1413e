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
//! Fetch sessions (KIP-227): the broker answers every request as a full,
//! sessionless fetch (`session_id=0`), which clients accept; a full fetch
//! (epoch 0 or -1) is served whatever session id it names, and an
//! incremental one (any other epoch) gets FETCH_SESSION_ID_NOT_FOUND, as
//! its session was never created here, so the client starts over.
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
use crate::broker::metrics::TopicStats;
use crate::broker::quota::QuotaKind;
use crate::broker::BrokerContext;
use crate::protocol::fetch_writer::{
    write_fetch_response, Chunk, FetchPartitionData, FetchResponseData, FetchTopicData,
};
use crate::protocol::ErrorCode;
use crate::record::{legacy, Error as RecordError};
use crate::security::acl::AclOperation;
use crate::types::{Offset, TopicPartition};

/// One partition of the request.
#[derive(Clone)]
struct Wanted {
    topic: usize,
    tp: TopicPartition,
    fetch_offset: i64,
    current_leader_epoch: i32,
    partition_max_bytes: usize,
    /// A follower reads up to the log end, a consumer up to the HW.
    from_follower: bool,
    /// isolation_level=1: a consumer reads up to the last stable offset.
    read_committed: bool,
    /// The follower's broker id (-1 for consumers).
    replica_id: i32,
    /// A follower fetch of a partition under this broker's leader quota.
    leader_throttled: bool,
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
    let topic_names: Vec<String> = req.topics.iter().map(|t| t.topic.0.to_string()).collect();
    let replica_id = if version >= 15 { req.replica_state.replica_id.0 } else { req.replica_id.0 };
    let leader_quota = &ctx.replicas.quotas.leader;
    // Kafka: a follower needs CLUSTER_ACTION, a consumer READ on each
    // topic; what is refused is answered TOPIC_AUTHORIZATION_FAILED and
    // never read.
    let follower_allowed = replica_id < 0 || authz.cluster(AclOperation::ClusterAction);
    let mut wanted = Vec::new();
    let mut denied = Vec::new();
    for (ti, t) in req.topics.iter().enumerate() {
        let allowed = follower_allowed
            && (replica_id >= 0 || authz.topic(AclOperation::Read, &topic_names[ti]));
        for p in &t.partitions {
            let tp = TopicPartition::new(topic_names[ti].clone(), p.partition);
            let into = if allowed { &mut wanted } else { &mut denied };
            into.push(Wanted {
                topic: ti,
                fetch_offset: p.fetch_offset,
                current_leader_epoch: p.current_leader_epoch,
                partition_max_bytes: p.partition_max_bytes.max(0) as usize,
                from_follower: replica_id >= 0,
                read_committed: replica_id < 0 && req.isolation_level == 1,
                replica_id,
                leader_throttled: replica_id >= 0 && leader_quota.is_throttled(&tp),
                tp,
            });
        }
    }
    // Kafka's FetchManager: epoch 0 (a new session) or -1 (none wanted)
    // is a full fetch, served whatever session id it names (kafka-go sends
    // -1/-1); any other epoch continues a session, and this broker hands
    // out none.
    let full_fetch = matches!(req.session_epoch, 0 | -1);
    let session_error = !full_fetch;
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

    if replica_id >= 0 && !session_error {
        update_followers(ctx, replica_id, &wanted);
    }
    let parts = if session_error {
        Vec::new()
    } else {
        loop {
            // Register before reading, so an append between the read and the
            // wait is not missed.
            let watch = ctx.replicas.purgatory.watch(wanted.iter().map(|w| w.tp.clone()).collect());
            let parts = read_all(ctx, &wanted, max_bytes).await;
            let bytes: usize =
                parts.iter().map(|(p, _)| p.records.as_ref().map_or(0, |r| r.len)).sum();
            let errors = parts.iter().any(|(p, _)| p.error_code != ErrorCode::None);
            if bytes >= min_bytes.max(1)
                || errors
                || wanted.is_empty()
                || min_bytes == 0
                || tokio::time::Instant::now() >= deadline
            {
                break parts;
            }
            let _in_purgatory = ctx.replicas.metrics.fetch_waiting();
            if tokio::time::timeout_at(deadline, watch.notify.notified()).await.is_err() {
                drop(watch);
                break read_all(ctx, &wanted, max_bytes).await;
            }
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
    let mut topics: Vec<FetchTopicData<FileRegion>> = topic_names
        .into_iter()
        .map(|name| FetchTopicData { name, partitions: Vec::new() })
        .collect();
    let mut throttled_bytes = 0;
    // A throttled consumer gets an empty response (Kafka's
    // getThrottledResponse) and reads the same data after the wait.
    if throttle_ms == 0 {
        for (w, (p, stats)) in wanted.iter().zip(parts) {
            let bytes = p.records.as_ref().map_or(0, |r| r.len);
            if w.leader_throttled {
                throttled_bytes += bytes;
            }
            if let Some(stats) = stats {
                stats.fetched(bytes, w.from_follower, p.error_code != ErrorCode::None);
            }
            topics[w.topic].partitions.push(p);
        }
    } else {
        topics.clear();
    }
    for w in &denied {
        topics[w.topic].partitions.push(error_part(w, ErrorCode::TopicAuthorizationFailed));
    }
    // Kafka records a throttled partition's bytes whoever fetched them, in
    // the ISR or not, so catching-up replicas share what is left.
    leader_quota.record(throttled_bytes);
    let data = FetchResponseData {
        throttle_time_ms: throttle_ms.min(i32::MAX as u64) as i32,
        error_code: if session_error { ErrorCode::FetchSessionIdNotFound } else { ErrorCode::None },
        session_id: 0,
        topics: if session_error { Vec::new() } else { topics },
    };
    if version < LEGACY_BELOW {
        return legacy_reply(version, correlation_id, data).await;
    }
    let (chunks, _len) = write_fetch_response(version, correlation_id, data);
    ctx.replicas.metrics.record_fetch(replica_id >= 0, version, started.elapsed());
    Reply::Chunks(chunks)
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

/// Records where the follower's log ends on each partition it fetches.
fn update_followers(ctx: &Arc<BrokerContext>, replica_id: i32, wanted: &[Wanted]) {
    let now = crate::time::now_ms();
    for w in wanted {
        let Ok(p) = ctx.replicas.leader_partition(&w.tp) else { continue };
        if p.check_leader_epoch(w.current_leader_epoch).is_err() {
            continue;
        }
        let outcome = p.update_follower_fetch(replica_id, w.fetch_offset, now);
        if outcome.high_watermark_moved {
            ctx.replicas.purgatory.wake(&w.tp);
        }
        if let Some(change) = outcome.expand_isr {
            tracing::info!(partition = %w.tp, "broker {replica_id} caught up; adding it to the ISR");
            ctx.replicas.write_isr_change(p, change);
        }
    }
}

/// The offset reads stop before: the log end for followers, the high
/// watermark for consumers, the last stable offset for read_committed ones.
fn read_bound(p: &crate::broker::partition::Partition, w: &Wanted) -> i64 {
    if w.from_follower {
        p.log.log_end_offset().0
    } else if w.read_committed {
        p.last_stable_offset()
    } else {
        p.high_watermark()
    }
}

/// Reads every wanted partition once, on the blocking pool (index lookups
/// may touch the disk). The first partition with data may exceed the
/// limits by one batch so a large batch never blocks a consumer (KIP-74).
async fn read_all(
    ctx: &Arc<BrokerContext>,
    wanted: &[Wanted],
    max_bytes: usize,
) -> Vec<(FetchPartitionData<FileRegion>, Option<Arc<TopicStats>>)> {
    let read_pass = move |ctx: &BrokerContext, wanted: &[Wanted]| {
        let mut remaining = max_bytes;
        let mut first = true;
        wanted
            .iter()
            .map(|w| {
                let p = read_one(ctx, w, remaining, first);
                if let Some(r) = &p.0.records {
                    remaining = remaining.saturating_sub(r.len);
                    first = false;
                }
                p
            })
            .collect::<Vec<_>>()
    };
    // A caught-up consumer's fetch finds nothing below the high watermark:
    // answered from atomics, without a trip to the blocking pool.
    if !wanted.iter().any(|w| has_data(ctx, w)) {
        return read_pass(ctx, wanted);
    }
    let ctx2 = ctx.clone();
    let wanted2 = wanted.to_vec();
    let failed = |code| wanted.iter().map(|w| (error_part(w, code), None)).collect();
    super::off_reactor(ApiKey::Fetch, move || read_pass(&ctx2, &wanted2), failed).await
}

/// Whether a log read could return records for `w` (checks atomics only).
fn has_data(ctx: &BrokerContext, w: &Wanted) -> bool {
    ctx.replicas.leader_partition(&w.tp).is_ok_and(|p| {
        w.fetch_offset < read_bound(&p, w)
            && w.fetch_offset >= p.log_start_offset().0
            && !leader_throttles(ctx, &p, w)
    })
}

/// Kafka's `shouldLeaderThrottle`: a follower outside the ISR gets nothing
/// of a throttled partition while the leader quota is exceeded; one in the
/// ISR is never held back, so acks=all latency does not suffer.
fn leader_throttles(
    ctx: &BrokerContext,
    p: &crate::broker::partition::Partition,
    w: &Wanted,
) -> bool {
    w.leader_throttled
        && ctx.replicas.quotas.leader.is_quota_exceeded()
        && !p.leader_state().isr.contains(&w.replica_id)
}

fn error_part(w: &Wanted, code: ErrorCode) -> FetchPartitionData<FileRegion> {
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
    w: &Wanted,
    remaining: usize,
    min_one: bool,
) -> (FetchPartitionData<FileRegion>, Option<Arc<TopicStats>>) {
    // The epoch is checked before the leadership (KIP-320).
    let partition = match ctx.replicas.partition(&w.tp) {
        Ok(p) => p,
        Err(code) => return (error_part(w, code), None),
    };
    let stats = Some(partition.stats.clone());
    if let Err(code) = partition
        .check_leader_epoch(w.current_leader_epoch)
        .and_then(|()| ctx.replicas.check_lease())
    {
        return (error_part(w, code), stats);
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
        return (out, stats);
    }
    let bound = read_bound(&partition, w);
    if w.fetch_offset >= bound {
        return (out, stats); // nothing committed (or, for a follower, written) past it yet
    }
    if leader_throttles(ctx, &partition, w) {
        return (out, stats);
    }
    let limit = w.partition_max_bytes.min(remaining);
    match partition.log.read(Offset(w.fetch_offset), limit, Some(Offset(bound)), min_one) {
        Ok(info) => {
            out.records =
                info.slice.map(|s| FileRegion { file: s.file, position: s.position, len: s.len });
            if w.read_committed && out.records.is_some() {
                out.aborted_transactions = partition
                    .aborted_transactions(w.fetch_offset, bound)
                    .into_iter()
                    .map(|a| (a.producer_id, a.first_offset))
                    .collect();
            }
        }
        Err(e) => out.error_code = log_error_code(&e),
    }
    (out, stats)
}
