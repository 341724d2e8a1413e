//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3, v7+),
//! earliest local (-4, v8+, the same as earliest without tiered storage)
//! and the first offset whose timestamp is at or after a given time.
//! Version 0 answers a list of offsets instead (Kafka 0.8's segment-based
//! search, which Burrow and other old clients still send).
//! Latest is the high watermark, or the last stable offset for
//! isolation_level=1 (read_committed).

use std::sync::Arc;

use kafka_protocol::messages::list_offsets_request::ListOffsetsPartition;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ApiKey, ListOffsetsRequest, ListOffsetsResponse, TopicName};

use super::by_topic::answer_topics;
use super::{answer_each, asked, off_reactor, Asked};
use crate::broker::error::log_error_code;
use crate::broker::BrokerContext;
use crate::protocol::ErrorCode;
use crate::types::TopicPartition;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
/// The replica id of a consumer; other ids may read past the high watermark.
const CONSUMER_REPLICA_ID: i32 = -1;

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    version: i16,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let ctx2 = ctx.clone();
    let from_consumer = req.replica_id.0 == CONSUMER_REPLICA_ID;
    let read_committed = req.isolation_level == 1;
    let asked = asked(&req.topics, |t| (t.name.clone(), &t.partitions), |p| p.partition_index);
    let work = move || {
        let list = |name: &TopicName, p: ListOffsetsPartition| {
            let tp = TopicPartition::new(name.0.to_string(), p.partition_index);
            if version == 0 {
                return list_legacy(&ctx2, &tp, (p.timestamp, p.max_num_offsets, from_consumer));
            }
            let mut r = list_one(&ctx2, &tp, p.current_leader_epoch, p.timestamp, read_committed);
            if version < 4 {
                r.leader_epoch = -1; // not on the wire before v4
            }
            r
        };
        let topics = answer_topics(req.topics, |t| (t.name, t.partitions), list, topic);
        ListOffsetsResponse::default().with_topics(topics)
    };
    off_reactor(ApiKey::ListOffsets, work, |code| failed(asked, code)).await
}

fn topic(
    name: TopicName,
    partitions: Vec<ListOffsetsPartitionResponse>,
) -> ListOffsetsTopicResponse {
    ListOffsetsTopicResponse::default().with_name(name).with_partitions(partitions)
}

/// Every partition asked about, with `code` and no offset.
pub(super) fn failed(asked: Asked<TopicName>, code: ErrorCode) -> ListOffsetsResponse {
    ListOffsetsResponse::default()
        .with_topics(answer_each(asked, topic, |i| unknown_offset(i, code)))
}

fn unknown_offset(partition_index: i32, code: ErrorCode) -> ListOffsetsPartitionResponse {
    ListOffsetsPartitionResponse::default()
        .with_partition_index(partition_index)
        .with_timestamp(-1)
        .with_offset(-1)
        .with_leader_epoch(-1)
        .with_error_code(code.code())
}

/// Version 0: up to `max_num_offsets` offsets, newest first, none of them
/// past the high watermark for a consumer (which gets the high watermark
/// in their place, as Kafka's `legacyFetchOffsetsForTimestamp` does).
fn list_legacy(
    ctx: &BrokerContext,
    tp: &TopicPartition,
    (timestamp, max_num_offsets, from_consumer): (i64, i32, bool),
) -> ListOffsetsPartitionResponse {
    let mut r = ListOffsetsPartitionResponse::default();
    r.partition_index = tp.partition.0;
    let partition = match ctx.replicas.leader_for_read(tp, -1) {
        Ok(p) => p,
        Err(code) => {
            r.error_code = code.code();
            return r;
        }
    };
    let mut offsets =
        partition.log.legacy_offsets_before(timestamp, max_num_offsets, crate::time::now_ms());
    let hw = partition.high_watermark();
    if from_consumer && offsets.iter().any(|&o| o > hw) {
        offsets.retain(|&o| o <= hw);
        offsets.insert(0, hw);
    }
    r.old_style_offsets = offsets;
    r
}

fn list_one(
    ctx: &BrokerContext,
    tp: &TopicPartition,
    current_leader_epoch: i32,
    timestamp: i64,
    read_committed: bool,
) -> ListOffsetsPartitionResponse {
    let mut r = unknown_offset(tp.partition.0, ErrorCode::None);
    let partition = match ctx.replicas.leader_for_read(tp, current_leader_epoch) {
        Ok(p) => p,
        Err(code) => {
            r.error_code = code.code();
            return r;
        }
    };
    let epoch = partition.leader_state().leader_epoch;
    match timestamp {
        LATEST => {
            r.offset = if read_committed {
                partition.last_stable_offset()
            } else {
                partition.high_watermark()
            };
            r.leader_epoch = epoch;
        }
        EARLIEST | EARLIEST_LOCAL => {
            r.offset = partition.log_start_offset().0;
            r.leader_epoch = epoch;
        }
        MAX_TIMESTAMP => {
            if let Some(t) = partition.log.max_timestamp_and_offset() {
                r.timestamp = t.timestamp;
                r.offset = t.offset.0;
                r.leader_epoch = t.leader_epoch.map_or(-1, |e| e.0);
            }
        }
        ts if ts >= 0 => match partition.log.fetch_offset_by_timestamp(ts) {
            Ok(Some(t)) if t.offset.0 < partition.high_watermark() => {
                r.timestamp = t.timestamp;
                r.offset = t.offset.0;
                r.leader_epoch = t.leader_epoch.map_or(-1, |e| e.0);
            }
            Ok(_) => {}
            Err(e) => r.error_code = log_error_code(&e).code(),
        },
        _ => r.error_code = ErrorCode::InvalidRequest.code(),
    }
    r
}
