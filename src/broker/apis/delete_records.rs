//! DeleteRecords: moves a partition's log start offset forward (-1 means
//! up to the high watermark); segments below it go with retention.

use std::sync::Arc;

use kafka_protocol::messages::delete_records_request::DeleteRecordsPartition;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{ApiKey, DeleteRecordsRequest, DeleteRecordsResponse, TopicName};

use super::by_topic::answer_topics;
use super::{answer_each, asked, off_reactor, Asked};
use crate::broker::error::log_error_code;
use crate::broker::BrokerContext;
use crate::protocol::ErrorCode;
use crate::types::{Offset, TopicPartition};

pub async fn handle(ctx: &Arc<BrokerContext>, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let ctx = ctx.clone();
    let asked = asked(&req.topics, |t| (t.name.clone(), &t.partitions), |p| p.partition_index);
    let work = move || {
        let delete = |name: &TopicName, p: DeleteRecordsPartition| {
            delete_one(&ctx, TopicPartition::new(name.0.to_string(), p.partition_index), p.offset)
        };
        let topics = answer_topics(req.topics, |t| (t.name, t.partitions), delete, topic);
        DeleteRecordsResponse::default().with_topics(topics)
    };
    off_reactor(ApiKey::DeleteRecords, work, |code| failed(asked, code)).await
}

/// Moves one partition's log start to `offset` (-1: the high watermark).
fn delete_one(
    ctx: &BrokerContext,
    tp: TopicPartition,
    offset: i64,
) -> DeleteRecordsPartitionResult {
    let mut r = result(tp.partition.0, ErrorCode::None);
    match ctx.replicas.leader_partition(&tp) {
        Ok(part) => {
            let hw = part.high_watermark();
            let target = if offset == -1 { hw } else { offset };
            if target < 0 || target > hw {
                r.error_code = ErrorCode::OffsetOutOfRange.code();
            } else {
                match ctx.replicas.delete_records(&tp, Offset(target)) {
                    Ok(low) => r.low_watermark = low.0,
                    Err(e) => r.error_code = log_error_code(&e).code(),
                }
            }
        }
        Err(code) => r.error_code = code.code(),
    }
    r
}

fn topic(
    name: TopicName,
    partitions: Vec<DeleteRecordsPartitionResult>,
) -> DeleteRecordsTopicResult {
    DeleteRecordsTopicResult::default().with_name(name).with_partitions(partitions)
}

/// Every partition asked about, with `code` and no low watermark.
pub(super) fn failed(asked: Asked<TopicName>, code: ErrorCode) -> DeleteRecordsResponse {
    DeleteRecordsResponse::default().with_topics(answer_each(asked, topic, |i| result(i, code)))
}

fn result(partition_index: i32, code: ErrorCode) -> DeleteRecordsPartitionResult {
    DeleteRecordsPartitionResult::default()
        .with_partition_index(partition_index)
        .with_low_watermark(-1)
        .with_error_code(code.code())
}
