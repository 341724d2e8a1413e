//! AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the
//! transaction, so the TxnOffsetCommit that follows commits or aborts with
//! it.

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::txn_support::{call, unit_code};
use crate::broker::BrokerContext;
use crate::coordinator::GROUP_METADATA_TOPIC_NAME;
use crate::protocol::ErrorCode;
use crate::transaction::Response;
use crate::types::TopicPartition;

pub async fn handle(
    ctx: &BrokerContext,
    version: i16,
    req: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let tp =
        TopicPartition::new(GROUP_METADATA_TOPIC_NAME, ctx.groups.partition_for(&req.group_id));
    let id = req.transactional_id.0.to_string();
    let (pid, epoch) = (req.producer_id.0, req.producer_epoch);
    let result =
        match call(ctx, move |c, now, rid| c.add_partitions(now, rid, &id, pid, epoch, vec![tp]))
            .await
        {
            Ok(Response::AddPartitions(r)) => r,
            Ok(_) => Err(ErrorCode::UnknownServerError),
            Err(e) => Err(e),
        };
    let mut resp = AddOffsetsToTxnResponse::default();
    resp.error_code = unit_code(result, version, 2);
    resp
}
