//! ElectLeaders (KIP-183, KIP-460): preferred or unclean elections, run by
//! the controller. A broker that is not the controller answers
//! NOT_CONTROLLER for every partition, as a ZooKeeper-mode Kafka broker
//! does, and the admin client asks the controller named in Metadata.

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};

use super::{by_topic, str_bytes};
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
    let partitions: Option<Vec<TopicPartition>> = req.topic_partitions.map(|topics| {
        topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| TopicPartition::new(t.topic.0.to_string(), *p))
            })
            .collect()
    });
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
    let results = results.into_iter().map(|(tp, code, message)| {
        let mut r = PartitionResult::default();
        r.partition_id = tp.partition.0;
        r.error_code = code.code();
        r.error_message = message.map(str_bytes);
        (tp.topic, r)
    });
    resp.replica_election_results = by_topic(results, |topic, partition_result| {
        ReplicaElectionResult::default().with_topic(topic).with_partition_result(partition_result)
    });
    resp
}
