//! ListTransactions (v0-v1): the transactional ids this broker coordinates,
//! filtered by state, producer id and (v1, KIP-994) the minimum time the
//! transaction has been running. Unknown state names come back in
//! `unknown_state_filters`.

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};

use super::str_bytes;
use crate::broker::BrokerContext;
use crate::protocol::ErrorCode;
use crate::transaction::TransactionState as State;

const STATES: [State; 8] = [
    State::Empty,
    State::Ongoing,
    State::PrepareCommit,
    State::PrepareAbort,
    State::CompleteCommit,
    State::CompleteAbort,
    State::Dead,
    State::PrepareEpochFence,
];

pub async fn handle(ctx: &BrokerContext, req: ListTransactionsRequest) -> ListTransactionsResponse {
    let mut resp = ListTransactionsResponse::default();
    let mut states = Vec::new();
    for f in &req.state_filters {
        match STATES.iter().find(|s| s.name() == f.as_str()) {
            Some(s) => states.push(*s),
            None => resp.unknown_state_filters.push(f.clone()),
        }
    }
    let pids: Vec<i64> = req.producer_id_filters.iter().map(|p| p.0).collect();
    let min_duration = req.duration_filter;
    let now = crate::time::now_ms();
    let listed = ctx
        .txns
        .read(move |c| {
            c.transactions()
                .filter(|m| states.is_empty() || states.contains(&m.state))
                .filter(|m| pids.is_empty() || pids.contains(&m.producer_id))
                .filter(|m| {
                    min_duration < 0
                        || (m.state == State::Ongoing
                            && now - m.txn_start_timestamp >= min_duration)
                })
                .map(|m| (m.transactional_id.clone(), m.producer_id, m.state.name()))
                .collect::<Vec<_>>()
        })
        .await;
    match listed {
        Ok(list) => {
            resp.transaction_states = list
                .into_iter()
                .map(|(id, pid, state)| {
                    let mut s = TransactionState::default();
                    s.transactional_id = TransactionalId(str_bytes(id));
                    s.producer_id = ProducerId(pid);
                    s.transaction_state = str_bytes(state);
                    s
                })
                .collect();
        }
        Err(_) => resp.error_code = ErrorCode::CoordinatorNotAvailable.code(),
    }
    resp
}
