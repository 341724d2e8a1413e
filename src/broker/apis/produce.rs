//! Produce: appends each partition's batches as received (the log stamps
//! offsets and leader epoch in place; records are never re-encoded), then
//! answers per acks: 0 no response, 1 after the leader's append, -1 once
//! the high watermark covers the batch, i.e. every in-sync follower has
//! fetched it (Kafka's `DelayedProduce`: waits in the purgatory, woken by
//! high watermark moves, bounded by the request timeout).
//!
//! An append that only writes into the page cache runs on the connection's
//! task; one that may wait for the disk (see `log::append`) runs on the
//! blocking pool, those of a request in one go. Produce v0-2 carry message
//! sets of magic 0/1, converted there to one RecordBatch v2 per partition
//! before the append (per-record work that only those old producers pay).

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse,
    TopicProduceResponse,
};
use kafka_protocol::messages::{BrokerId, ProduceRequest, ProduceResponse};

use super::str_bytes;
use crate::broker::error::ApiError;
use crate::broker::partition::{AppendResult, Partition};
use crate::broker::BrokerContext;
use crate::protocol::ErrorCode;
use crate::record::legacy;
use crate::types::TopicPartition;

/// Versions below this carry message sets (magic 0/1), not v2 batches.
const LEGACY_BELOW: i16 = 3;

/// Records of one partition above this are appended on the blocking pool
/// even when they fit the page cache: the hop costs little next to copying
/// them, and the copy would hold the worker thread and the connections it
/// serves. Measured at 1 MiB, 1 KiB records in ~1 MB batches came out
/// slower in every round than on the blocking pool, while small appends,
/// where the hop is most of the latency, came out faster.
const INLINE_MAX_BYTES: usize = 64 * 1024;

/// The longest a produce waits for a lapsed session lease (bounded by its
/// own timeout too) before answering NOT_LEADER_OR_FOLLOWER.
const MAX_LEASE_WAIT_MS: u64 = 30_000;

/// What the connection does with the outcome.
pub enum ProduceOutcome {
    Respond(ProduceResponse),
    /// acks=0 and every append succeeded: nothing is sent.
    NoResponse,
    /// acks=0 and an append failed: Kafka closes the connection so the
    /// producer learns of it.
    Close(String),
}

/// A partition's records on their way to the blocking pool.
enum Records {
    /// Produce v3+: a copy the log may stamp in place.
    Copied(Vec<u8>),
    /// Produce v0-2: message sets still to convert.
    Legacy(bytes::Bytes),
}

struct Item {
    topic: usize,
    index: i32,
    tp: TopicPartition,
    min_isr: usize,
    result: Result<AppendResult, ApiError>,
}

/// `listener` is the one the request came in on: a redirect to a new
/// leader (v10+) names that leader's address on the same listener.
pub async fn handle(
    ctx: &Arc<BrokerContext>,
    listener: &str,
    version: i16,
    req: ProduceRequest,
) -> ProduceOutcome {
    let acks = req.acks;
    let request_error = if !matches!(acks, -1..=1) {
        Some(ApiError::new(
            ErrorCode::InvalidRequiredAcks,
            "Invalid required acks; must be -1, 0 or 1",
        ))
    } else {
        None
    };
    let wait = u64::try_from(req.timeout_ms).unwrap_or(0).min(MAX_LEASE_WAIT_MS);
    ctx.replicas.wait_for_lease(std::time::Duration::from_millis(wait)).await;
    let image = ctx.store.image();
    let mut items = Vec::new();
    let mut work: Vec<(usize, Arc<Partition>, bytes::Bytes, usize)> = Vec::new();
    for (ti, topic) in req.topic_data.iter().enumerate() {
        let name = topic.name.0.to_string();
        let min_isr = min_insync_replicas(ctx, &image, &name);
        for p in &topic.partition_data {
            let tp = TopicPartition::new(name.clone(), p.index);
            let slot = items.len();
            let result = match (&request_error, &p.records) {
                (Some(e), _) => Err(e.clone()),
                (None, None) => Err(ApiError::new(ErrorCode::CorruptMessage, "null records")),
                (None, Some(records)) => match ctx.replicas.leader_partition(&tp) {
                    Ok(partition) => {
                        work.push((slot, partition, records.clone(), min_isr));
                        Ok(AppendResult {
                            first_offset: -1,
                            last_offset: -1,
                            log_append_time: -1,
                            log_start_offset: -1,
                        })
                    }
                    Err(code) => Err(ApiError::code(not_hosted_here(code, &image, &tp))),
                },
            };
            items.push(Item { topic: ti, index: p.index, tp, min_isr, result });
        }
    }

    // Appends that only write into the page cache run right here, as
    // Kafka's request threads append (a hop to the blocking pool and back
    // costs more than the write); the rest (a roll, a flush, a checkpoint,
    // a contended lock, the legacy conversion) go to the blocking pool.
    let mut blocked = Vec::new();
    for (slot, partition, records, min_isr) in work {
        if version < LEGACY_BELOW {
            blocked.push((slot, partition, Records::Legacy(records), min_isr));
            continue;
        }
        if records.len() > INLINE_MAX_BYTES {
            blocked.push((slot, partition, Records::Copied(records.to_vec()), min_isr));
            continue;
        }
        // The request's bytes are shared with the decoded frame; the log
        // stamps offsets in place, so it gets its own copy.
        let mut buf = records.to_vec();
        match partition.try_append_records_to_leader_inline(&mut buf, acks, min_isr) {
            Some(r) => items[slot].result = r,
            None => blocked.push((slot, partition, Records::Copied(buf), min_isr)),
        }
    }
    if !blocked.is_empty() {
        let slots: Vec<usize> = blocked.iter().map(|b| b.0).collect();
        let done = tokio::task::spawn_blocking(move || {
            blocked
                .into_iter()
                .map(|(slot, partition, records, min_isr)| {
                    let converted = match records {
                        Records::Copied(buf) => Ok(buf),
                        Records::Legacy(records) => legacy::up_convert(&records)
                            .map_err(|e| ApiError::new(ErrorCode::CorruptMessage, e.to_string())),
                    };
                    let r = converted.and_then(|mut buf| {
                        partition.append_records_to_leader(&mut buf, acks, min_isr)
                    });
                    (slot, r)
                })
                .collect::<Vec<_>>()
        })
        .await;
        match done {
            Ok(results) => {
                for (slot, r) in results {
                    items[slot].result = r;
                }
            }
            Err(e) => {
                for slot in slots {
                    let e = ApiError::new(ErrorCode::UnknownServerError, e.to_string());
                    items[slot].result = Err(e);
                }
            }
        }
    }

    if acks == 0 {
        return match items.iter().find_map(|i| i.result.as_ref().err().map(|e| (i, e))) {
            None => ProduceOutcome::NoResponse,
            Some((i, e)) => {
                ProduceOutcome::Close(format!("acks=0 produce to {} failed: {}", i.tp, e.code))
            }
        };
    }
    if acks == -1 {
        wait_for_replication(ctx, &mut items, Duration::from_millis(req.timeout_ms.max(0) as u64))
            .await;
    }
    for item in items.iter().filter_map(|i| i.result.as_ref().err().map(|e| (i, e))) {
        tracing::debug!(partition = %item.0.tp, "produce failed: {} {}", item.1.code, item.1.message.as_deref().unwrap_or(""));
    }
    let mut resp = response(req, items);
    if version >= CURRENT_LEADER_FROM {
        name_current_leaders(&ctx.store.image(), listener, &mut resp);
    }
    ProduceOutcome::Respond(resp)
}

/// A partition the cluster has but this broker no longer hosts (a
/// reassignment moved it away and the replica was deleted) is
/// NOT_LEADER_OR_FOLLOWER, as Kafka's `ReplicaManager` answers, so the
/// client looks for the leader elsewhere (and, from v10, is told where)
/// instead of taking the topic for gone.
fn not_hosted_here(
    code: ErrorCode,
    image: &crate::cluster::ClusterImage,
    tp: &TopicPartition,
) -> ErrorCode {
    let known = image.topic(&tp.topic).is_some_and(|t| t.partitions.contains_key(&tp.partition.0));
    if code == ErrorCode::UnknownTopicOrPartition && known {
        ErrorCode::NotLeaderOrFollower
    } else {
        code
    }
}

/// Produce v10 (KIP-951) answers NOT_LEADER_OR_FOLLOWER with the leader
/// this broker knows of and that leader's address.
const CURRENT_LEADER_FROM: i16 = 10;

/// KIP-951: each NOT_LEADER_OR_FOLLOWER partition carries the leader and
/// leader epoch from this broker's metadata, and the response the
/// addresses of those leaders, so a client whose leader moved (a
/// controlled shutdown, a reassignment, an election) sends the retry
/// straight to the new one instead of waiting for a Metadata refresh and
/// its backoff. Clients take the leader only if its epoch is newer than
/// the one they know, so a stale image here costs nothing but the hint.
/// As in Kafka, a leader unknown here is -1 / -1 and a leader without an
/// address on this listener gets no endpoint.
fn name_current_leaders(
    image: &crate::cluster::ClusterImage,
    listener: &str,
    resp: &mut ProduceResponse,
) {
    let not_leader = ErrorCode::NotLeaderOrFollower.code();
    let mut endpoints: Vec<NodeEndpoint> = Vec::new();
    for topic in &mut resp.responses {
        let meta = image.topic(topic.name.0.as_str());
        for p in topic.partition_responses.iter_mut().filter(|p| p.error_code == not_leader) {
            let Some(state) = meta.and_then(|t| t.partitions.get(&p.index)).map(|m| &m.state)
            else {
                continue;
            };
            p.current_leader = LeaderIdAndEpoch::default()
                .with_leader_id(BrokerId(state.leader))
                .with_leader_epoch(state.leader_epoch);
            if endpoints.iter().any(|e| e.node_id.0 == state.leader) {
                continue;
            }
            let Some(b) = image.brokers.get(&state.leader) else { continue };
            if let Some((host, port)) = b.endpoint(listener) {
                endpoints.push(
                    NodeEndpoint::default()
                        .with_node_id(BrokerId(b.id))
                        .with_host(str_bytes(host))
                        .with_port(i32::from(port))
                        .with_rack(b.rack.clone().map(str_bytes)),
                );
            }
        }
    }
    resp.node_endpoints = endpoints;
}

/// Where an acks=all append stands: `None` while the high watermark is
/// below it; then success, or NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR
/// shrank below `min.insync.replicas` meanwhile (Kafka's
/// `checkEnoughReplicasReachOffset`), or NOT_LEADER_OR_FOLLOWER if this
/// broker lost the leadership.
fn replication_status(ctx: &BrokerContext, item: &Item) -> Option<Result<(), ApiError>> {
    let Ok(r) = &item.result else { return Some(Ok(())) };
    let Ok(p) = ctx.replicas.leader_partition(&item.tp) else {
        return Some(Err(ApiError::new(
            ErrorCode::NotLeaderOrFollower,
            format!("leadership of {} moved before the append was replicated", item.tp),
        )));
    };
    if p.high_watermark() <= r.last_offset {
        return None;
    }
    let isr = p.leader_state().isr.len();
    if isr < item.min_isr {
        return Some(Err(ApiError::new(
            ErrorCode::NotEnoughReplicasAfterAppend,
            format!(
                "The size of the current ISR {isr} is insufficient to satisfy the min.isr requirement of {} for partition {}",
                item.min_isr, item.tp
            ),
        )));
    }
    Some(Ok(()))
}

/// Waits until each partition's high watermark covers its append, or the
/// timeout passes (REQUEST_TIMED_OUT).
async fn wait_for_replication(ctx: &BrokerContext, items: &mut [Item], timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut settled = vec![false; items.len()];
    loop {
        let mut waiting = Vec::new();
        // Register before checking, so a move in between is not missed.
        let keys: Vec<&TopicPartition> = items
            .iter()
            .zip(&settled)
            .filter(|(i, s)| !**s && i.result.is_ok())
            .map(|(i, _)| &i.tp)
            .collect();
        let watch = ctx.replicas.watch_by_name(&keys);
        for (n, item) in items.iter_mut().enumerate() {
            if settled[n] {
                continue;
            }
            match replication_status(ctx, item) {
                Some(Ok(())) => settled[n] = true,
                Some(Err(e)) => {
                    item.result = Err(e);
                    settled[n] = true;
                }
                None => waiting.push(n),
            }
        }
        if waiting.is_empty() {
            return;
        }
        let _in_purgatory = ctx.replicas.metrics.produce_waiting();
        if tokio::time::timeout_at(deadline, watch.notify.notified()).await.is_err() {
            for n in waiting {
                if replication_status(ctx, &items[n]).is_none() {
                    items[n].result = Err(ApiError::new(
                        ErrorCode::RequestTimedOut,
                        "timed out waiting for the in-sync replicas",
                    ));
                } else if let Some(Err(e)) = replication_status(ctx, &items[n]) {
                    items[n].result = Err(e);
                }
            }
            return;
        }
    }
}

/// `min.insync.replicas` of a topic: its override, else the broker's.
pub(crate) fn min_insync_replicas(
    ctx: &BrokerContext,
    image: &crate::cluster::ClusterImage,
    topic: &str,
) -> usize {
    image
        .topic(topic)
        .and_then(|t| t.configs.get("min.insync.replicas").cloned())
        .or_else(|| ctx.config.topic_default("min.insync.replicas").map(str::to_string))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

fn response(req: ProduceRequest, items: Vec<Item>) -> ProduceResponse {
    let mut topics: Vec<TopicProduceResponse> = req
        .topic_data
        .iter()
        .map(|t| {
            let mut r = TopicProduceResponse::default();
            r.name = t.name.clone();
            r
        })
        .collect();
    for item in items {
        let mut p = PartitionProduceResponse::default();
        p.index = item.index;
        match item.result {
            Ok(r) => {
                p.base_offset = r.first_offset;
                p.log_append_time_ms = r.log_append_time;
                p.log_start_offset = r.log_start_offset;
            }
            Err(e) => {
                p.error_code = e.code.code();
                p.error_message = e.message.map(str_bytes);
                p.record_errors = e
                    .record_errors
                    .into_iter()
                    .map(|(index, why)| {
                        BatchIndexAndErrorMessage::default()
                            .with_batch_index(index)
                            .with_batch_index_error_message(Some(str_bytes(why)))
                    })
                    .collect();
                p.base_offset = -1;
                p.log_append_time_ms = -1;
                p.log_start_offset = -1;
            }
        }
        topics[item.topic].partition_responses.push(p);
    }
    let mut resp = ProduceResponse::default();
    resp.responses = topics;
    resp
}
