//! Heartbeat (v0-v4): keeps a member's session alive and tells it when to
//! rejoin (REBALANCE_IN_PROGRESS).

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::group_support::error_code;
use crate::broker::group_coordinator::GroupCoordinatorHandle;
use crate::coordinator::{self, Error, Response};

pub async fn handle(groups: &GroupCoordinatorHandle, req: HeartbeatRequest) -> HeartbeatResponse {
    let request = coordinator::HeartbeatRequest {
        group_id: req.group_id.0.to_string(),
        generation_id: req.generation_id,
        member_id: req.member_id.to_string(),
        group_instance_id: req.group_instance_id.map(|s| s.to_string()),
    };
    let error = match groups.call(move |c, now, rid| c.heartbeat(now, rid, request)).await {
        Ok(Response::Heartbeat(e)) => e,
        _ => Some(Error::CoordinatorNotAvailable),
    };
    let mut resp = HeartbeatResponse::default();
    resp.error_code = error_code(error);
    resp
}
