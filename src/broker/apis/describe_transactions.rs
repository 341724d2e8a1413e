//! DescribeTransactions (v0): a transactional id's state as its coordinator
//! holds it; NOT_COORDINATOR elsewhere, TRANSACTIONAL_ID_NOT_FOUND for an
//! id it does not know.

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId,
};

use super::by_topic::by_topic;
use super::str_bytes;
use crate::broker::BrokerContext;
use crate::protocol::ErrorCode;

pub async fn handle(
    ctx: &BrokerContext,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let ids: Vec<String> = req.transactional_ids.iter().map(|i| i.0.to_string()).collect();
    let described = ctx
        .txns
        .read(move |c| ids.iter().map(|id| (id.clone(), c.transaction(id).cloned())).collect())
        .await
        .unwrap_or_else(|_| {
            let e = Err(ErrorCode::CoordinatorNotAvailable);
            req.transactional_ids.iter().map(|i| (i.0.to_string(), e.clone())).collect::<Vec<_>>()
        });
    let mut resp = DescribeTransactionsResponse::default();
    for (id, m) in described {
        let mut s = TransactionState::default();
        s.transactional_id = kafka_protocol::messages::TransactionalId(str_bytes(id));
        s.producer_id = ProducerId(-1);
        s.producer_epoch = -1;
        s.transaction_start_time_ms = -1;
        match m {
            Ok(m) => {
                s.transaction_state = str_bytes(m.state.name());
                s.transaction_timeout_ms = m.txn_timeout_ms;
                s.transaction_start_time_ms = m.txn_start_timestamp;
                s.producer_id = ProducerId(m.producer_id);
                s.producer_epoch = m.producer_epoch;
                let partitions = m.partitions.iter().map(|tp| (tp.topic.clone(), tp.partition.0));
                s.topics = by_topic(partitions, |topic, partitions| {
                    TopicData::default().with_topic(topic).with_partitions(partitions)
                });
            }
            Err(code) => s.error_code = code.code(),
        }
        resp.transaction_states.push(s);
    }
    resp
}
