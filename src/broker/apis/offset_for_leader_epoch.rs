//! OffsetForLeaderEpoch (KIP-101/279): for a leader epoch, the largest epoch
//! at or below it that this log knows and the offset where it ends (the
//! start of the next epoch, or the log end offset for the current one).

use std::sync::Arc;

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use crate::broker::BrokerContext;
use crate::types::{LeaderEpoch, TopicPartition};

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let ctx = ctx.clone();
    let answered = tokio::task::spawn_blocking(move || {
        let mut resp = OffsetForLeaderEpochResponse::default();
        for t in req.topics {
            let mut tr = OffsetForLeaderTopicResult::default();
            for p in &t.partitions {
                let mut r = EpochEndOffset::default();
                r.partition = p.partition;
                r.leader_epoch = -1;
                r.end_offset = -1;
                let tp = TopicPartition::new(t.topic.0.to_string(), p.partition);
                // The epoch is checked before the leadership (KIP-320).
                let found = ctx.replicas.partition(&tp).and_then(|part| {
                    part.check_leader_epoch(p.current_leader_epoch)?;
                    Ok(part)
                });
                match found {
                    Ok(part) => {
                        let (epoch, end) = part
                            .log
                            .leader_epoch_cache()
                            .end_offset_for(LeaderEpoch(p.leader_epoch));
                        r.leader_epoch = epoch.0;
                        r.end_offset = end.0;
                    }
                    Err(code) => r.error_code = code.code(),
                }
                tr.partitions.push(r);
            }
            tr.topic = t.topic;
            resp.topics.push(tr);
        }
        resp
    })
    .await;
    answered.unwrap_or_default()
}
