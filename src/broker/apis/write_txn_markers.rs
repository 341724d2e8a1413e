//! WriteTxnMarkers (from transaction coordinators, this broker's own
//! included): a COMMIT or ABORT control batch on each partition this broker
//! leads, acknowledged once the in-sync replicas hold it (Kafka writes
//! markers with acks=all). A marker on `__consumer_offsets` also settles the
//! transaction's offsets that TxnOffsetCommit appended there.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use crate::broker::producer_state::TxnMarker;
use crate::broker::BrokerContext;
use crate::coordinator::GROUP_METADATA_TOPIC_NAME;
use crate::protocol::ErrorCode;
use crate::types::TopicPartition;

pub async fn handle(
    ctx: &Arc<BrokerContext>,
    req: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    let mut resp = WriteTxnMarkersResponse::default();
    for m in req.markers {
        let marker = TxnMarker {
            producer_id: m.producer_id.0,
            producer_epoch: m.producer_epoch,
            coordinator_epoch: m.coordinator_epoch,
            commit: m.transaction_result,
        };
        let mut result = WritableTxnMarkerResult::default();
        result.producer_id = m.producer_id;
        for t in m.topics {
            let mut tr = WritableTxnMarkerTopicResult::default();
            for &p in &t.partition_indexes {
                let tp = TopicPartition::new(t.name.0.to_string(), p);
                let mut pr = WritableTxnMarkerPartitionResult::default();
                pr.partition_index = p;
                pr.error_code = write_one(ctx, &tp, &marker).await.code();
                tr.partitions.push(pr);
            }
            tr.name = t.name;
            result.topics.push(tr);
        }
        resp.markers.push(result);
    }
    resp
}

async fn write_one(ctx: &Arc<BrokerContext>, tp: &TopicPartition, marker: &TxnMarker) -> ErrorCode {
    let partition = match ctx.replicas.leader_partition(tp) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let m = *marker;
    let appended = tokio::task::spawn_blocking(move || partition.append_txn_marker(&m)).await;
    let last_offset = match appended {
        Ok(Ok(r)) => r.last_offset,
        Ok(Err(e)) => return e.code,
        Err(_) => return ErrorCode::UnknownServerError,
    };
    let deadline = tokio::time::Instant::now()
        + Duration::from_millis(ctx.config.offsets_commit_timeout_ms.max(30_000));
    // Whatever moves the high watermark past the marker, and with it the
    // LSO, wakes the partition's waiters itself: read_committed long polls
    // need nothing more from here.
    if let Err(code) = ctx.replicas.wait_for_high_watermark(tp, last_offset, deadline).await {
        return code;
    }
    if tp.topic == GROUP_METADATA_TOPIC_NAME {
        // The marker settles the transaction's offsets in this partition's
        // groups; a new leader rebuilds them from the log instead.
        let (partition, pid, commit) = (tp.partition.0, marker.producer_id, marker.commit);
        let settled = ctx
            .groups
            .update(move |c, _| c.complete_txn(partition, pid, commit, last_offset))
            .await;
        if settled.is_err() {
            return ErrorCode::CoordinatorNotAvailable;
        }
    }
    ErrorCode::None
}
