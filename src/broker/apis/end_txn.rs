//! EndTxn: commit or abort. Answered once PrepareCommit/PrepareAbort is
//! stored in `__transaction_state`; the markers follow asynchronously, and
//! the producer's next transaction waits (CONCURRENT_TRANSACTIONS) until
//! they are written.

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use super::txn_support::{call, unit_code};
use crate::broker::BrokerContext;
use crate::protocol::ErrorCode;
use crate::transaction::{Response, TransactionResult};

pub async fn handle(ctx: &BrokerContext, version: i16, req: EndTxnRequest) -> EndTxnResponse {
    let id = req.transactional_id.0.to_string();
    let (pid, epoch) = (req.producer_id.0, req.producer_epoch);
    let result = if req.committed { TransactionResult::Commit } else { TransactionResult::Abort };
    let r = match call(ctx, move |c, now, rid| c.end_txn(now, rid, &id, pid, epoch, result)).await {
        Ok(Response::EndTxn(r)) => r,
        Ok(_) => Err(ErrorCode::UnknownServerError),
        Err(e) => Err(e),
    };
    let mut resp = EndTxnResponse::default();
    resp.error_code = unit_code(r, version, 2);
    resp.producer_id = ProducerId(-1);
    resp.producer_epoch = -1;
    resp
}
