//! DescribeProducers (v0, KIP-664): the producers a partition leader
//! knows, with their epoch, last sequence, the coordinator epoch of their
//! last marker and the first offset of their open transaction (-1 if none).
//! The last write time is not tracked: -1.

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use crate::broker::BrokerContext;
use crate::types::TopicPartition;

pub fn handle(ctx: &BrokerContext, req: DescribeProducersRequest) -> DescribeProducersResponse {
    let mut resp = DescribeProducersResponse::default();
    for t in req.topics {
        let mut tr = TopicResponse::default();
        for p in t.partition_indexes {
            let mut pr = PartitionResponse::default();
            pr.partition_index = p;
            match ctx.replicas.leader_partition(&TopicPartition::new(t.name.0.to_string(), p)) {
                Ok(partition) => {
                    let mut producers = partition.producer_views();
                    producers.sort_by_key(|v| v.producer_id);
                    pr.active_producers = producers
                        .into_iter()
                        .map(|v| {
                            let mut s = ProducerState::default();
                            s.producer_id = ProducerId(v.producer_id);
                            s.producer_epoch = i32::from(v.producer_epoch);
                            s.last_sequence = v.last_sequence;
                            s.last_timestamp = v.last_timestamp;
                            s.coordinator_epoch = v.coordinator_epoch;
                            s.current_txn_start_offset = v.current_txn_start_offset;
                            s
                        })
                        .collect();
                }
                Err(code) => pr.error_code = code.code(),
            }
            tr.partitions.push(pr);
        }
        tr.name = t.name;
        resp.topics.push(tr);
    }
    resp
}
