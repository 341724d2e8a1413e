//! What the transaction APIs share: the call into the transaction
//! coordinator and Kafka's version rules for PRODUCER_FENCED (KIP-588:
//! older clients know it as INVALID_PRODUCER_EPOCH).

use crate::broker::BrokerContext;
use crate::protocol::ErrorCode;
use crate::transaction::{Output, RequestId, Response, TransactionCoordinator};

/// Runs `f` against the coordinator; a coordinator shutting down answers
/// COORDINATOR_NOT_AVAILABLE, as Kafka's does while it stops.
pub async fn call(
    ctx: &BrokerContext,
    f: impl FnOnce(&mut TransactionCoordinator, i64, RequestId) -> Output + Send + 'static,
) -> Result<Response, ErrorCode> {
    ctx.txns.call(f).await.map_err(|_| ErrorCode::CoordinatorNotAvailable)
}

/// The code a client at `version` gets for `code`: PRODUCER_FENCED only
/// from `fenced_since` on.
pub fn versioned(code: ErrorCode, version: i16, fenced_since: i16) -> i16 {
    if code == ErrorCode::ProducerFenced && version < fenced_since {
        ErrorCode::InvalidProducerEpoch.code()
    } else {
        code.code()
    }
}

/// The error code of a unit result.
pub fn unit_code(r: Result<(), ErrorCode>, version: i16, fenced_since: i16) -> i16 {
    match r {
        Ok(()) => ErrorCode::None.code(),
        Err(e) => versioned(e, version, fenced_since),
    }
}
