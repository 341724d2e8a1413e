//! FindCoordinator: this broker coordinates every group and transactional
//! id, the single-broker answer Kafka gives when its internal topics have
//! one partition leader.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::str_bytes;
use crate::broker::BrokerContext;
use crate::protocol::ErrorCode;

/// Kafka's `CoordinatorType`: 0 group, 1 transaction.
fn known_key_type(t: i8) -> bool {
    t == 0 || t == 1
}

pub fn handle(
    ctx: &BrokerContext,
    version: i16,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let me = ctx.registration();
    let ok = known_key_type(req.key_type);
    let error = if ok { ErrorCode::None } else { ErrorCode::InvalidRequest };
    let message = (!ok).then(|| str_bytes(format!("Unknown coordinator type {}", req.key_type)));
    let (node, host, port) = if ok {
        (me.id, str_bytes(me.host.clone()), me.port as i32)
    } else {
        (-1, StrBytes::default(), -1)
    };
    let mut resp = FindCoordinatorResponse::default();
    if version >= 4 {
        resp.coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let mut c = Coordinator::default();
                c.key = key;
                c.node_id = BrokerId(node);
                c.host = host.clone();
                c.port = port;
                c.error_code = error.code();
                c.error_message = message.clone();
                c
            })
            .collect();
    } else {
        resp.error_code = error.code();
        resp.error_message = message;
        resp.node_id = BrokerId(node);
        resp.host = host;
        resp.port = port;
    }
    resp
}
