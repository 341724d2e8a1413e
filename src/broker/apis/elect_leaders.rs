//! ElectLeaders (KIP-183, KIP-460): preferred or unclean elections, run by
//! the controller. A broker that is not the controller answers
//! NOT_CONTROLLER for every partition, as a ZooKeeper-mode Kafka broker
//! does, and the admin client asks the controller named in Metadata.

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};
use kafka_protocol::protocol::StrBytes;

use super::by_topic::{outcomes_by_topic, topic_partitions};
use crate::broker::error::{election_error_code, metadata_error_code};
use crate::broker::BrokerContext;
use crate::controller::ElectionType;
use crate::protocol::ErrorCode;
use crate::types::TopicPartition;

pub async fn handle(
    ctx: &BrokerContext,
    version: i16,
    req: ElectLeadersRequest,
) -> ElectLeadersResponse {
    let mut resp = ElectLeadersResponse::default();
    // v0 has no election type: it only ever meant preferred.
    let election = match (version, req.election_type) {
        (0, _) | (_, 0) => ElectionType::Preferred,
        (_, 1) => ElectionType::Unclean,
        _ => {
            resp.error_code = ErrorCode::InvalidRequest.code();
            return resp;
        }
    };
    let partitions =
        req.topic_partitions.map(|ts| topic_partitions(&ts, |t| (&t.topic, &t.partitions)));
    let results: Vec<(TopicPartition, ErrorCode, Option<String>)> =
        match ctx.store.elect_leaders(election, partitions.clone()).await {
            Ok(results) => results
                .into_iter()
                .map(|(tp, r)| match r {
                    Ok(_) => (tp, ErrorCode::None, None),
                    Err(e) => (tp, election_error_code(e), Some(e.to_string())),
                })
                .collect(),
            Err(e) => {
                let code = metadata_error_code(&e);
                let message = e.to_string();
                partitions
                    .unwrap_or_default()
                    .into_iter()
                    .map(|tp| (tp, code, Some(message.clone())))
                    .collect()
            }
        };
    resp.replica_election_results = outcomes_by_topic(results, partition_result, |topic, ps| {
        ReplicaElectionResult::default().with_topic(topic).with_partition_result(ps)
    });
    resp
}

fn partition_result(id: i32, code: i16, message: Option<StrBytes>) -> PartitionResult {
    PartitionResult::default()
        .with_partition_id(id)
        .with_error_code(code)
        .with_error_message(message)
}
