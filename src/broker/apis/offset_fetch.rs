//! OffsetFetch (v0-v9): one group before v8, a batch after; version 0
//! reads the offsets OffsetCommit v0 stored in ZooKeeper. Unknown
//! partitions answer offset -1, leader epoch -1 and metadata "" (never
//! null: Sarama refuses nulls). Before v2 a group error goes into every
//! requested partition, as Kafka's `getErrorResponse` does.

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse, TopicName};

use super::group_support::{error_code, partition_exists};
use super::str_bytes;
use crate::broker::group_coordinator::GroupCoordinatorHandle;
use crate::broker::BrokerContext;
use crate::coordinator::{Error, OffsetFetchRequest as Fetch, OffsetFetchResult};

async fn fetch(groups: &GroupCoordinatorHandle, req: Fetch) -> OffsetFetchResult {
    match groups.read(move |c| c.offset_fetch(&req)).await {
        Ok(r) => r,
        Err(_) => {
            OffsetFetchResult { error: Some(Error::CoordinatorNotAvailable), topics: Vec::new() }
        }
    }
}

/// Version 0: offsets from `/consumers/<group>/offsets/<topic>/<partition>`;
/// a partition without one (or a topic the cluster does not have) answers
/// offset -1 with no error, as Kafka does.
pub async fn handle_v0(ctx: &BrokerContext, req: OffsetFetchRequest) -> OffsetFetchResponse {
    let image = ctx.store.image();
    let group = req.group_id.0.to_string();
    let mut resp = OffsetFetchResponse::default();
    for t in req.topics.unwrap_or_default() {
        let name = t.name.0.to_string();
        let mut topic = OffsetFetchResponseTopic::default();
        for index in t.partition_indexes {
            let mut part = OffsetFetchResponsePartition::default();
            part.partition_index = index;
            part.committed_offset = -1;
            part.committed_leader_epoch = -1;
            part.metadata = Some(str_bytes(""));
            if partition_exists(&image, &name, index) {
                match ctx.store.consumer_offset(&group, &name, index).await {
                    Ok(offset) => part.committed_offset = offset.unwrap_or(-1),
                    Err(e) => {
                        tracing::warn!(%group, topic = %name, "v0 offset fetch failed: {e}");
                        part.error_code = Error::CoordinatorNotAvailable.code();
                    }
                }
            }
            topic.partitions.push(part);
        }
        topic.name = t.name;
        resp.topics.push(topic);
    }
    resp
}

pub async fn handle(
    groups: &GroupCoordinatorHandle,
    version: i16,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let mut resp = OffsetFetchResponse::default();
    if version >= 8 {
        for g in req.groups {
            let topics = g.topics.map(|ts| {
                ts.into_iter().map(|t| (t.name.0.to_string(), t.partition_indexes)).collect()
            });
            let group_id = g.group_id.0.to_string();
            let r = fetch(
                groups,
                Fetch { group_id: group_id.clone(), topics, require_stable: req.require_stable },
            )
            .await;
            let mut group = OffsetFetchResponseGroup::default();
            group.group_id = GroupId(str_bytes(group_id));
            group.error_code = error_code(r.error);
            group.topics = r
                .topics
                .into_iter()
                .map(|t| {
                    let mut topic = OffsetFetchResponseTopics::default();
                    topic.name = TopicName(str_bytes(t.name));
                    topic.partitions = t
                        .partitions
                        .into_iter()
                        .map(|p| {
                            let mut part = OffsetFetchResponsePartitions::default();
                            part.partition_index = p.partition_index;
                            part.committed_offset = p.committed_offset;
                            part.committed_leader_epoch = p.committed_leader_epoch;
                            part.metadata = Some(str_bytes(p.metadata));
                            part.error_code = error_code(p.error);
                            part
                        })
                        .collect();
                    topic
                })
                .collect();
            resp.groups.push(group);
        }
        return resp;
    }
    let requested: Option<Vec<(String, Vec<i32>)>> = req
        .topics
        .map(|ts| ts.into_iter().map(|t| (t.name.0.to_string(), t.partition_indexes)).collect());
    let fetch_req = Fetch {
        group_id: req.group_id.0.to_string(),
        topics: requested.clone(),
        require_stable: req.require_stable,
    };
    let r = fetch(groups, fetch_req).await;
    let partition =
        |index: i32, offset: i64, epoch: i32, metadata: String, error: Option<Error>| {
            let mut part = OffsetFetchResponsePartition::default();
            part.partition_index = index;
            part.committed_offset = offset;
            part.committed_leader_epoch = epoch;
            part.metadata = Some(str_bytes(metadata));
            part.error_code = error_code(error);
            part
        };
    if let (Some(e), true) = (r.error, version < 2) {
        resp.topics = requested
            .unwrap_or_default()
            .into_iter()
            .map(|(name, parts)| {
                let mut topic = OffsetFetchResponseTopic::default();
                topic.name = TopicName(str_bytes(name));
                topic.partitions = parts
                    .into_iter()
                    .map(|p| partition(p, -1, -1, String::new(), Some(e)))
                    .collect();
                topic
            })
            .collect();
        return resp;
    }
    resp.error_code = error_code(r.error);
    resp.topics = r
        .topics
        .into_iter()
        .map(|t| {
            let mut topic = OffsetFetchResponseTopic::default();
            topic.name = TopicName(str_bytes(t.name));
            topic.partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    partition(
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.metadata,
                        p.error,
                    )
                })
                .collect();
            topic
        })
        .collect();
    resp
}
