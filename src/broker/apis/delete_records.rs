//! DeleteRecords: moves a partition's log start offset forward (-1 means
//! up to the high watermark); segments below it go with retention.

use std::sync::Arc;

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{ApiKey, DeleteRecordsRequest, DeleteRecordsResponse, TopicName};

use super::{answer_each, asked, off_reactor, Asked};
use crate::broker::error::log_error_code;
use crate::broker::BrokerContext;
use crate::protocol::ErrorCode;
use crate::types::{Offset, TopicPartition};

pub async fn handle(ctx: &Arc<BrokerContext>, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let ctx = ctx.clone();
    let asked = asked(&req.topics, |t| (t.name.clone(), &t.partitions), |p| p.partition_index);
    let work = move || {
        let mut resp = DeleteRecordsResponse::default();
        for t in req.topics {
            let mut tr = DeleteRecordsTopicResult::default();
            for p in &t.partitions {
                let mut r = result(p.partition_index, ErrorCode::None);
                let tp = TopicPartition::new(t.name.0.to_string(), p.partition_index);
                match ctx.replicas.leader_partition(&tp) {
                    Ok(part) => {
                        let hw = part.high_watermark();
                        let target = if p.offset == -1 { hw } else { p.offset };
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
                tr.partitions.push(r);
            }
            tr.name = t.name;
            resp.topics.push(tr);
        }
        resp
    };
    off_reactor(ApiKey::DeleteRecords, work, |code| failed(asked, code)).await
}

/// Every partition asked about, with `code` and no low watermark.
pub(super) fn failed(asked: Asked<TopicName>, code: ErrorCode) -> DeleteRecordsResponse {
    let topic = |name, ps| DeleteRecordsTopicResult::default().with_name(name).with_partitions(ps);
    DeleteRecordsResponse::default().with_topics(answer_each(asked, topic, |i| result(i, code)))
}

fn result(partition_index: i32, code: ErrorCode) -> DeleteRecordsPartitionResult {
    DeleteRecordsPartitionResult::default()
        .with_partition_index(partition_index)
        .with_low_watermark(-1)
        .with_error_code(code.code())
}
