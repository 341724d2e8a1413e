//! OffsetForLeaderEpoch (KIP-101/279): for a leader epoch, the largest epoch
//! at or below it that this log knows and the offset where it ends (the
//! start of the next epoch, or the log end offset for the current one).

use std::sync::Arc;

use kafka_protocol::messages::offset_for_leader_epoch_request::OffsetForLeaderPartition;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{
    ApiKey, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, TopicName,
};

use super::by_topic::answer_topics;
use super::{answer_each, asked, off_reactor, Asked};
use crate::broker::BrokerContext;
use crate::protocol::ErrorCode;
use crate::types::{LeaderEpoch, TopicPartition};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let ctx = ctx.clone();
    let asked = asked(&req.topics, |t| (t.topic.clone(), &t.partitions), |p| p.partition);
    let work = move || {
        let end_offset = |name: &TopicName, p: OffsetForLeaderPartition| {
            let mut r = unknown_end(p.partition, ErrorCode::None);
            let tp = TopicPartition::new(name.0.to_string(), p.partition);
            match ctx.replicas.leader_for_read(&tp, p.current_leader_epoch) {
                Ok(part) => {
                    let (epoch, end) =
                        part.log.leader_epoch_cache().end_offset_for(LeaderEpoch(p.leader_epoch));
                    r.leader_epoch = epoch.0;
                    r.end_offset = end.0;
                }
                Err(code) => r.error_code = code.code(),
            }
            r
        };
        let topics = answer_topics(req.topics, |t| (t.topic, t.partitions), end_offset, topic);
        OffsetForLeaderEpochResponse::default().with_topics(topics)
    };
    off_reactor(ApiKey::OffsetForLeaderEpoch, work, |code| failed(asked, code)).await
}

fn topic(name: TopicName, partitions: Vec<EpochEndOffset>) -> OffsetForLeaderTopicResult {
    OffsetForLeaderTopicResult::default().with_topic(name).with_partitions(partitions)
}

/// Every partition asked about, with `code` and no epoch or end offset.
pub(super) fn failed(asked: Asked<TopicName>, code: ErrorCode) -> OffsetForLeaderEpochResponse {
    let topics = answer_each(asked, topic, |i| unknown_end(i, code));
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}

fn unknown_end(partition: i32, code: ErrorCode) -> EpochEndOffset {
    EpochEndOffset::default()
        .with_partition(partition)
        .with_leader_epoch(-1)
        .with_end_offset(-1)
        .with_error_code(code.code())
}
