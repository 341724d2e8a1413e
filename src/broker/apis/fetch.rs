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
//! sessionless fetch (`session_id=0`), which clients accept; a request
//! naming a session the broker never created gets
//! FETCH_SESSION_ID_NOT_FOUND so the client starts over.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::{ApiKey, FetchRequest};

use crate::broker::connection::{FileRegion, Reply};
use crate::broker::error::log_error_code;
use crate::broker::BrokerContext;
use crate::protocol::fetch_writer::{
    write_fetch_response, FetchPartitionData, FetchResponseData, FetchTopicData,
};
use crate::protocol::ErrorCode;
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
}

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    version: i16,
    correlation_id: i32,
    req: FetchRequest,
) -> Reply {
    let topic_names: Vec<String> = req.topics.iter().map(|t| t.topic.0.to_string()).collect();
    let replica_id = if version >= 15 { req.replica_state.replica_id.0 } else { req.replica_id.0 };
    let mut wanted = Vec::new();
    for (ti, t) in req.topics.iter().enumerate() {
        for p in &t.partitions {
            wanted.push(Wanted {
                topic: ti,
                tp: TopicPartition::new(topic_names[ti].clone(), p.partition),
                fetch_offset: p.fetch_offset,
                current_leader_epoch: p.current_leader_epoch,
                partition_max_bytes: p.partition_max_bytes.max(0) as usize,
                from_follower: replica_id >= 0,
            });
        }
    }
    let session_error = req.session_id != 0;
    let max_bytes = if req.max_bytes <= 0 { usize::MAX } else { req.max_bytes as usize };
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
            let bytes: usize = parts.iter().map(|p| p.records.as_ref().map_or(0, |r| r.len)).sum();
            let errors = parts.iter().any(|p| p.error_code != ErrorCode::None);
            if bytes >= min_bytes.max(1)
                || errors
                || min_bytes == 0
                || tokio::time::Instant::now() >= deadline
            {
                break parts;
            }
            if tokio::time::timeout_at(deadline, watch.notify.notified()).await.is_err() {
                drop(watch);
                break read_all(ctx, &wanted, max_bytes).await;
            }
        }
    };

    let mut topics: Vec<FetchTopicData<FileRegion>> = topic_names
        .into_iter()
        .map(|name| FetchTopicData { name, partitions: Vec::new() })
        .collect();
    for (w, p) in wanted.iter().zip(parts) {
        topics[w.topic].partitions.push(p);
    }
    let data = FetchResponseData {
        throttle_time_ms: 0,
        error_code: if session_error { ErrorCode::FetchSessionIdNotFound } else { ErrorCode::None },
        session_id: 0,
        topics: if session_error { Vec::new() } else { topics },
    };
    let (chunks, _len) = write_fetch_response(version, correlation_id, data);
    Reply::Chunks(chunks)
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
            ctx.replicas.submit_isr_change(p, change);
        }
    }
}

/// The offset reads stop before: the log end for followers, the high
/// watermark for consumers.
fn read_bound(p: &crate::broker::partition::Partition, w: &Wanted) -> i64 {
    if w.from_follower {
        p.log.log_end_offset().0
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
) -> Vec<FetchPartitionData<FileRegion>> {
    let read_pass = move |ctx: &BrokerContext, wanted: &[Wanted]| {
        let mut remaining = max_bytes;
        let mut first = true;
        wanted
            .iter()
            .map(|w| {
                let p = read_one(ctx, w, remaining, first);
                if let Some(r) = &p.records {
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
    let failed = |code| wanted.iter().map(|w| error_part(w, code)).collect();
    super::off_reactor(ApiKey::Fetch, move || read_pass(&ctx2, &wanted2), failed).await
}

/// Whether a log read could return records for `w` (checks atomics only).
fn has_data(ctx: &BrokerContext, w: &Wanted) -> bool {
    ctx.replicas.leader_partition(&w.tp).is_ok_and(|p| {
        w.fetch_offset < read_bound(&p, w) && w.fetch_offset >= p.log_start_offset().0
    })
}

fn error_part(w: &Wanted, code: ErrorCode) -> FetchPartitionData<FileRegion> {
    FetchPartitionData {
        partition_index: w.tp.partition.0,
        error_code: code,
        high_watermark: -1,
        last_stable_offset: -1,
        log_start_offset: -1,
        records: None,
    }
}

fn read_one(
    ctx: &BrokerContext,
    w: &Wanted,
    remaining: usize,
    min_one: bool,
) -> FetchPartitionData<FileRegion> {
    // The epoch is checked before the leadership (KIP-320).
    let partition = match ctx.replicas.partition(&w.tp) {
        Ok(p) => p,
        Err(code) => return error_part(w, code),
    };
    if let Err(code) = partition.check_leader_epoch(w.current_leader_epoch) {
        return error_part(w, code);
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
        records: None,
    };
    let leo = partition.log.log_end_offset().0;
    if w.fetch_offset < log_start || w.fetch_offset > leo {
        out.error_code = ErrorCode::OffsetOutOfRange;
        return out;
    }
    let bound = read_bound(&partition, w);
    if w.fetch_offset >= bound {
        return out; // nothing committed (or, for a follower, written) past it yet
    }
    let limit = w.partition_max_bytes.min(remaining);
    match partition.log.read(Offset(w.fetch_offset), limit, Some(Offset(bound)), min_one) {
        Ok(info) => {
            out.records =
                info.slice.map(|s| FileRegion { file: s.file, position: s.position, len: s.len });
        }
        Err(e) => out.error_code = log_error_code(&e),
    }
    out
}
