//! AlterPartitionReassignments and ListPartitionReassignments (KIP-455),
//! answered by the controller. A broker that is not the controller answers
//! NOT_CONTROLLER at the top level, as a ZooKeeper-mode Kafka broker does
//! (`processApiPartitionReassignment`), and the admin client retries on the
//! controller named in Metadata.

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::by_topic::{by_topic, outcomes_by_topic, topic_partitions};
use super::str_bytes;
use crate::broker::error::metadata_error_code;
use crate::broker::BrokerContext;
use crate::controller::ReassignmentError;
use crate::protocol::ErrorCode;
use crate::types::TopicPartition;

fn reassignment_error_code(e: &ReassignmentError) -> ErrorCode {
    match e {
        ReassignmentError::UnknownTopicOrPartition(_) => ErrorCode::UnknownTopicOrPartition,
        ReassignmentError::InvalidReplicaAssignment(_) => ErrorCode::InvalidReplicaAssignment,
        ReassignmentError::NoReassignmentInProgress(_) => ErrorCode::NoReassignmentInProgress,
    }
}

fn brokers(ids: &[i32]) -> Vec<BrokerId> {
    ids.iter().map(|&b| BrokerId(b)).collect()
}

pub async fn handle_alter(
    ctx: &BrokerContext,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let mut resp = AlterPartitionReassignmentsResponse::default();
    resp.allow_replication_factor_change = req.allow_replication_factor_change;
    let image = ctx.store.image();
    let mut refused: Vec<(TopicPartition, ErrorCode, String)> = Vec::new();
    let mut wanted: Vec<(TopicPartition, Option<Vec<i32>>)> = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            let tp = TopicPartition::new(t.name.0.to_string(), p.partition_index);
            let target: Option<Vec<i32>> =
                p.replicas.as_ref().map(|r| r.iter().map(|b| b.0).collect());
            // KIP-860 (v1): a client may forbid changing the replication factor.
            if let (false, Some(target)) = (req.allow_replication_factor_change, &target) {
                let current = image
                    .topic(&tp.topic)
                    .and_then(|t| t.partitions.get(&tp.partition.0))
                    .map(|m| m.replicas.iter().filter(|r| !m.adding_replicas.contains(r)).count());
                if let Some(current) = current.filter(|&n| n != target.len()) {
                    let message = format!(
                        "The replication factor is changed from {current} to {} but \
                         allowReplicationFactorChange is false",
                        target.len()
                    );
                    refused.push((tp, ErrorCode::InvalidReplicaAssignment, message));
                    continue;
                }
            }
            wanted.push((tp, target));
        }
    }
    let mut results: Vec<(TopicPartition, ErrorCode, Option<String>)> =
        refused.into_iter().map(|(tp, c, m)| (tp, c, Some(m))).collect();
    if !wanted.is_empty() {
        match ctx.store.alter_partition_reassignments(wanted).await {
            Ok(done) => results.extend(done.into_iter().map(|(tp, r)| match r {
                Ok(()) => (tp, ErrorCode::None, None),
                Err(e) => (tp, reassignment_error_code(&e), Some(e.to_string())),
            })),
            Err(e) => {
                resp.error_code = metadata_error_code(&e).code();
                resp.error_message = Some(str_bytes(e.to_string()));
                return resp;
            }
        }
    }
    resp.responses = outcomes_by_topic(results, partition_response, |name, partitions| {
        ReassignableTopicResponse::default().with_name(name).with_partitions(partitions)
    });
    resp
}

fn partition_response(
    index: i32,
    code: i16,
    message: Option<StrBytes>,
) -> ReassignablePartitionResponse {
    ReassignablePartitionResponse::default()
        .with_partition_index(index)
        .with_error_code(code)
        .with_error_message(message)
}

pub async fn handle_list(
    ctx: &BrokerContext,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let mut resp = ListPartitionReassignmentsResponse::default();
    let wanted = req.topics.map(|ts| topic_partitions(&ts, |t| (&t.name, &t.partition_indexes)));
    let ongoing = match ctx.store.list_partition_reassignments(wanted).await {
        Ok(o) => o,
        Err(e) => {
            resp.error_code = metadata_error_code(&e).code();
            resp.error_message = Some(str_bytes(e.to_string()));
            return resp;
        }
    };
    let ongoing = ongoing.into_iter().map(|(tp, a)| {
        let mut p = OngoingPartitionReassignment::default();
        p.partition_index = tp.partition.0;
        p.replicas = brokers(&a.replicas);
        p.adding_replicas = brokers(&a.adding);
        p.removing_replicas = brokers(&a.removing);
        (tp.topic, p)
    });
    resp.topics = by_topic(ongoing, |name, partitions| {
        OngoingTopicReassignment::default().with_name(name).with_partitions(partitions)
    });
    resp
}
