//! The authorization each API needs, as Kafka's `KafkaApis` checks it,
//! kept out of the handlers: a request is split into what the principal
//! may touch (handed to the handler) and what it may not (answered here
//! with Kafka's code: TOPIC_AUTHORIZATION_FAILED, GROUP_..., and so on),
//! and the two halves are joined into one response.

use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    CreateTopicsRequest, DeleteTopicsRequest, ListOffsetsRequest, OffsetCommitRequest,
    ProduceRequest,
};

use crate::broker::authorizer::Authz;
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;

const TOPIC_DENIED: i16 = 29;

/// Produce: WRITE on the transactional id (the whole request fails with
/// TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and on each topic. Takes the
/// refused topics out of the request and answers them.
pub fn produce(authz: &Authz<'_>, req: &mut ProduceRequest) -> Vec<TopicProduceResponse> {
    let txn_denied = req
        .transactional_id
        .as_ref()
        .is_some_and(|id| !authz.transactional_id(AclOperation::Write, id));
    let code = if txn_denied {
        ErrorCode::TransactionalIdAuthorizationFailed.code()
    } else {
        TOPIC_DENIED
    };
    let (kept, refused): (Vec<_>, Vec<_>) = std::mem::take(&mut req.topic_data)
        .into_iter()
        .partition(|t| !txn_denied && authz.topic(AclOperation::Write, &t.name));
    req.topic_data = kept;
    refused
        .into_iter()
        .map(|t| {
            let mut r = TopicProduceResponse::default();
            r.name = t.name;
            r.partition_responses = t
                .partition_data
                .iter()
                .map(|p| {
                    let mut pr = PartitionProduceResponse::default();
                    pr.index = p.index;
                    pr.error_code = code;
                    pr.base_offset = -1;
                    pr.log_append_time_ms = -1;
                    pr.log_start_offset = -1;
                    pr
                })
                .collect();
            r
        })
        .collect()
}

/// ListOffsets: DESCRIBE on each topic.
pub fn list_offsets(
    authz: &Authz<'_>,
    req: &mut ListOffsetsRequest,
) -> Vec<ListOffsetsTopicResponse> {
    let (kept, refused): (Vec<_>, Vec<_>) = std::mem::take(&mut req.topics)
        .into_iter()
        .partition(|t| authz.topic(AclOperation::Describe, &t.name));
    req.topics = kept;
    refused
        .into_iter()
        .map(|t| {
            let mut r = ListOffsetsTopicResponse::default();
            r.name = t.name;
            r.partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut pr = ListOffsetsPartitionResponse::default();
                    pr.partition_index = p.partition_index;
                    pr.error_code = TOPIC_DENIED;
                    pr.timestamp = -1;
                    pr.offset = -1;
                    pr.leader_epoch = -1;
                    pr
                })
                .collect();
            r
        })
        .collect()
}

/// CreateTopics: CREATE on the cluster, or else on each topic.
pub fn create_topics(
    authz: &Authz<'_>,
    req: &mut CreateTopicsRequest,
) -> Vec<CreatableTopicResult> {
    if authz.cluster(AclOperation::Create) {
        return Vec::new();
    }
    let (kept, refused): (Vec<_>, Vec<_>) = std::mem::take(&mut req.topics)
        .into_iter()
        .partition(|t| authz.topic(AclOperation::Create, &t.name));
    req.topics = kept;
    refused
        .into_iter()
        .map(|t| {
            let mut r = CreatableTopicResult::default();
            r.name = t.name;
            // Only fields every version carries, so any version encodes.
            r.error_code = TOPIC_DENIED;
            r
        })
        .collect()
}

/// DeleteTopics: DELETE on each topic (by name, or by id from v6).
pub fn delete_topics(
    authz: &Authz<'_>,
    image: &crate::cluster::ClusterImage,
    req: &mut DeleteTopicsRequest,
) -> Vec<DeletableTopicResult> {
    let mut refused = Vec::new();
    let (kept, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut req.topic_names)
        .into_iter()
        .partition(|n| authz.topic(AclOperation::Delete, n));
    req.topic_names = kept;
    for n in denied {
        let mut r = DeletableTopicResult::default();
        r.name = Some(n);
        r.error_code = TOPIC_DENIED;
        refused.push(r);
    }
    let (kept, denied): (Vec<_>, Vec<_>) =
        std::mem::take(&mut req.topics).into_iter().partition(|t| {
            let name = match &t.name {
                Some(n) => Some(n.0.to_string()),
                None => image.topic_by_id(t.topic_id).map(|m| m.name.clone()),
            };
            name.is_none_or(|n| authz.topic(AclOperation::Delete, &n))
        });
    req.topics = kept;
    for t in denied {
        let mut r = DeletableTopicResult::default();
        r.name = t.name;
        r.topic_id = t.topic_id;
        r.error_code = TOPIC_DENIED;
        refused.push(r);
    }
    refused
}

/// OffsetCommit: READ on the group (every partition fails with
/// GROUP_AUTHORIZATION_FAILED) and on each topic.
pub fn offset_commit(
    authz: &Authz<'_>,
    req: &mut OffsetCommitRequest,
) -> Vec<OffsetCommitResponseTopic> {
    let group_denied = !authz.group(AclOperation::Read, &req.group_id);
    let code = if group_denied { ErrorCode::GroupAuthorizationFailed.code() } else { TOPIC_DENIED };
    let (kept, refused): (Vec<_>, Vec<_>) = std::mem::take(&mut req.topics)
        .into_iter()
        .partition(|t| !group_denied && authz.topic(AclOperation::Read, &t.name));
    req.topics = kept;
    refused
        .into_iter()
        .map(|t| {
            let mut r = OffsetCommitResponseTopic::default();
            r.name = t.name;
            r.partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut pr = OffsetCommitResponsePartition::default();
                    pr.partition_index = p.partition_index;
                    pr.error_code = code;
                    pr
                })
                .collect();
            r
        })
        .collect()
}
