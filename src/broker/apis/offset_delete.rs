//! OffsetDelete (v0, KIP-496): deletes committed offsets of an Empty group,
//! or of topics a consumer group no longer subscribes to. Partitions the
//! cluster does not have get UNKNOWN_TOPIC_OR_PARTITION, as in Kafka.

use std::collections::HashMap;

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse, TopicName};

use super::group_support::{error_code, partition_exists};
use super::str_bytes;
use crate::broker::group_coordinator::GroupCoordinatorHandle;
use crate::cluster::ClusterImage;
use crate::coordinator::{self, Error, Response};
use crate::protocol::ErrorCode;

pub async fn handle(
    groups: &GroupCoordinatorHandle,
    image: &ClusterImage,
    req: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let mut codes: HashMap<(String, i32), i16> = HashMap::new();
    let mut known: Vec<(String, Vec<i32>)> = Vec::new();
    let mut layout: Vec<(String, Vec<i32>)> = Vec::new();
    for t in req.topics {
        let name = t.name.0.to_string();
        let parts: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
        let (ok, missing): (Vec<i32>, Vec<i32>) =
            parts.iter().partition(|&&p| partition_exists(image, &name, p));
        for p in missing {
            codes.insert((name.clone(), p), ErrorCode::UnknownTopicOrPartition.code());
        }
        if !ok.is_empty() {
            known.push((name.clone(), ok));
        }
        layout.push((name, parts));
    }
    let request =
        coordinator::OffsetDeleteRequest { group_id: req.group_id.0.to_string(), topics: known };
    let mut resp = OffsetDeleteResponse::default();
    match groups.call(move |c, now, rid| c.offset_delete(now, rid, request)).await {
        Ok(Response::OffsetDelete(r)) => {
            resp.error_code = error_code(r.error);
            for t in r.topics {
                for (p, e) in t.partitions {
                    codes.insert((t.name.clone(), p), error_code(e));
                }
            }
        }
        _ => resp.error_code = Error::CoordinatorNotAvailable.code(),
    }
    resp.topics = layout
        .into_iter()
        .filter(|(name, parts)| parts.iter().any(|p| codes.contains_key(&(name.clone(), *p))))
        .map(|(name, parts)| {
            let mut topic = OffsetDeleteResponseTopic::default();
            topic.partitions = parts
                .into_iter()
                .filter_map(|p| {
                    let code = *codes.get(&(name.clone(), p))?;
                    let mut part = OffsetDeleteResponsePartition::default();
                    part.partition_index = p;
                    part.error_code = code;
                    Some(part)
                })
                .collect();
            topic.name = TopicName(str_bytes(name));
            topic
        })
        .collect();
    resp
}
