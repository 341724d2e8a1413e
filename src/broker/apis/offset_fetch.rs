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
use crate::coordinator::{
    Error, OffsetFetchPartition, OffsetFetchRequest as Fetch, OffsetFetchResult, OffsetFetchTopic,
};

/// A fetch's topics as the response's group-level (v8+) or top-level
/// topics: two generated types with the same fields.
macro_rules! fetched_topics {
    ($topics:expr, $topic:ty, $partition:ty) => {
        $topics
            .into_iter()
            .map(|t: OffsetFetchTopic| {
                let mut topic = <$topic>::default();
                topic.name = TopicName(str_bytes(t.name));
                topic.partitions = t
                    .partitions
                    .into_iter()
                    .map(|p| {
                        let mut part = <$partition>::default();
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
            .collect()
    };
}

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
            group.topics =
                fetched_topics!(r.topics, OffsetFetchResponseTopics, OffsetFetchResponsePartitions);
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
    let (error, topics) = match (r.error, version < 2) {
        (Some(e), true) => {
            let requested = requested.unwrap_or_default().into_iter();
            (None, requested.map(|(name, parts)| failed_topic(name, parts, e)).collect())
        }
        _ => (r.error, r.topics),
    };
    resp.error_code = error_code(error);
    resp.topics = fetched_topics!(topics, OffsetFetchResponseTopic, OffsetFetchResponsePartition);
    resp
}

/// A requested topic whose every partition answers `error` and nothing
/// committed.
fn failed_topic(name: String, partitions: Vec<i32>, error: Error) -> OffsetFetchTopic {
    let failed = |partition_index| OffsetFetchPartition {
        partition_index,
        committed_offset: -1,
        committed_leader_epoch: -1,
        metadata: String::new(),
        error: Some(error),
    };
    OffsetFetchTopic { name, partitions: partitions.into_iter().map(failed).collect() }
}
