//! InitProducerId: for idempotent producers a fresh producer id with epoch
//! 0, taken from a block reserved in the metadata store (Kafka's
//! `/latest_producer_id_block`); for a transactional id, the transaction
//! coordinator's id and bumped epoch (KIP-98), the producer's own id and
//! epoch checked when it sends them (KIP-360, v3+).

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use tokio::sync::Mutex;

use crate::broker::error::metadata_error_code;
use crate::broker::BrokerContext;
use crate::cluster::ProducerIdBlock;
use crate::protocol::ErrorCode;
use crate::transaction::Response;

use super::txn_support::{call, versioned};

/// Ids reserved per trip to the metadata store, as Kafka's
/// `ProducerIdManager` reserves 1000.
const BLOCK_SIZE: i64 = 1000;

/// Hands out producer ids from the current block, fetching the next block
/// from the store when it runs out.
#[derive(Default)]
pub struct ProducerIdManager {
    current: Mutex<Option<(ProducerIdBlock, i64)>>,
}

impl ProducerIdManager {
    pub async fn next(&self, ctx: &BrokerContext) -> Result<i64, ErrorCode> {
        let mut current = self.current.lock().await;
        if let Some((block, next)) = current.as_mut() {
            if *next <= block.last {
                let id = *next;
                *next += 1;
                return Ok(id);
            }
        }
        let block = ctx
            .store
            .allocate_producer_ids(ctx.broker_id, BLOCK_SIZE)
            .await
            .map_err(|e| metadata_error_code(&e))?;
        *current = Some((block, block.first + 1));
        Ok(block.first)
    }
}

pub async fn handle(
    ctx: &BrokerContext,
    version: i16,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let mut resp = InitProducerIdResponse::default();
    resp.producer_id = ProducerId(-1);
    resp.producer_epoch = -1;
    if let Some(id) = req.transactional_id.as_ref().map(|s| s.0.to_string()) {
        // The id is reserved first: the coordinator is a pure state machine
        // and takes it only for a new transactional id or an exhausted epoch.
        let fresh = match ctx.producer_ids.next(ctx).await {
            Ok(id) => id,
            Err(code) => {
                resp.error_code = code.code();
                return resp;
            }
        };
        let expected = (req.producer_id.0 >= 0 && req.producer_epoch >= 0)
            .then_some((req.producer_id.0, req.producer_epoch));
        let timeout = req.transaction_timeout_ms;
        let r = call(ctx, move |c, now, rid| {
            c.init_producer_id(now, rid, &id, timeout, expected, fresh)
        })
        .await;
        match r {
            Ok(Response::InitProducerId(Ok((pid, epoch)))) => {
                resp.producer_id = ProducerId(pid);
                resp.producer_epoch = epoch;
            }
            Ok(Response::InitProducerId(Err(e))) | Err(e) => {
                resp.error_code = versioned(e, version, 4);
            }
            Ok(_) => resp.error_code = ErrorCode::UnknownServerError.code(),
        }
        return resp;
    }
    match ctx.producer_ids.next(ctx).await {
        Ok(id) => {
            resp.producer_id = ProducerId(id);
            resp.producer_epoch = 0;
        }
        Err(code) => resp.error_code = code.code(),
    }
    resp
}
