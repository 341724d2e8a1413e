//! InitProducerId for idempotent producers: a fresh producer id with epoch
//! 0, taken from a block reserved in the metadata store (Kafka's
//! `/latest_producer_id_block`). Transactional ids need a transaction
//! coordinator, which this broker does not have.

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use tokio::sync::Mutex;

use crate::broker::error::metadata_error_code;
use crate::broker::BrokerContext;
use crate::cluster::ProducerIdBlock;
use crate::protocol::ErrorCode;

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

pub async fn handle(ctx: &BrokerContext, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let mut resp = InitProducerIdResponse::default();
    resp.producer_id = ProducerId(-1);
    resp.producer_epoch = -1;
    if req.transactional_id.is_some() {
        resp.error_code = ErrorCode::CoordinatorNotAvailable.code();
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
