//! AddPartitionsToTxn v0-v3 (one transaction per request): the partitions
//! join the producer's transaction before it writes to them. Every
//! partition gets the transaction's error; partitions of topics the
//! principal may not WRITE get TOPIC_AUTHORIZATION_FAILED, partitions that
//! do not exist UNKNOWN_TOPIC_OR_PARTITION, and if any did the others get
//! OPERATION_NOT_ATTEMPTED, as Kafka answers. WRITE on the transactional id
//! is checked on the whole request before.

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

use super::txn_support::{call, versioned};
use crate::broker::authorizer::Authz;
use crate::broker::BrokerContext;
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::transaction::Response;
use crate::types::TopicPartition;

pub async fn handle(
    ctx: &BrokerContext,
    version: i16,
    req: AddPartitionsToTxnRequest,
    authz: &Authz<'_>,
) -> AddPartitionsToTxnResponse {
    let image = ctx.store.image();
    let mut partitions = Vec::new();
    // The partitions refused before the coordinator is asked, with why.
    let mut refused = Vec::new();
    for t in &req.v3_and_below_topics {
        let writable = authz.topic(AclOperation::Write, &t.name);
        for &p in &t.partitions {
            let tp = TopicPartition::new(t.name.0.to_string(), p);
            let exists = image.topic(&tp.topic).is_some_and(|m| m.partitions.contains_key(&p));
            if !writable {
                refused.push((tp, ErrorCode::TopicAuthorizationFailed));
            } else if exists {
                partitions.push(tp);
            } else {
                refused.push((tp, ErrorCode::UnknownTopicOrPartition));
            }
        }
    }
    let result = if refused.is_empty() {
        let id = req.v3_and_below_transactional_id.0.to_string();
        let (pid, epoch) = (req.v3_and_below_producer_id.0, req.v3_and_below_producer_epoch);
        let tps = partitions.clone();
        match call(ctx, move |c, now, rid| c.add_partitions(now, rid, &id, pid, epoch, tps)).await {
            Ok(Response::AddPartitions(r)) => r,
            Ok(_) => Err(ErrorCode::UnknownServerError),
            Err(e) => Err(e),
        }
    } else {
        Err(ErrorCode::OperationNotAttempted)
    };
    let code_of = |tp: &TopicPartition| match refused.iter().find(|(r, _)| r == tp) {
        Some((_, code)) => code.code(),
        None => match result {
            Ok(()) => 0,
            Err(e) => versioned(e, version, 2),
        },
    };
    let mut resp = AddPartitionsToTxnResponse::default();
    for t in &req.v3_and_below_topics {
        let mut tr = AddPartitionsToTxnTopicResult::default();
        tr.name = t.name.clone();
        for &p in &t.partitions {
            let tp = TopicPartition::new(t.name.0.to_string(), p);
            let mut pr = AddPartitionsToTxnPartitionResult::default();
            pr.partition_index = p;
            pr.partition_error_code = code_of(&tp);
            tr.results_by_partition.push(pr);
        }
        resp.results_by_topic_v3_and_below.push(tr);
    }
    resp
}
