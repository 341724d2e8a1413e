//! SyncGroup (v0-v5): followers park until the leader's assignment is
//! stored; every answer carries assignment bytes, empty when there are none.

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::group_support::error_code;
use super::str_bytes;
use crate::broker::group_coordinator::GroupCoordinatorHandle;
use crate::coordinator::{self, Error, Response, SyncGroupResult};

pub async fn handle(
    groups: &GroupCoordinatorHandle,
    version: i16,
    req: SyncGroupRequest,
) -> SyncGroupResponse {
    let request = coordinator::SyncGroupRequest {
        group_id: req.group_id.0.to_string(),
        generation_id: req.generation_id,
        member_id: req.member_id.to_string(),
        group_instance_id: req.group_instance_id.map(|s| s.to_string()),
        protocol_type: req.protocol_type.map(|s| s.to_string()),
        protocol_name: req.protocol_name.map(|s| s.to_string()),
        assignments: req
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    let result = match groups.call(move |c, now, rid| c.sync_group(now, rid, request)).await {
        Ok(Response::SyncGroup(r)) => r,
        _ => SyncGroupResult::error(Error::CoordinatorNotAvailable),
    };
    let mut resp = SyncGroupResponse::default();
    resp.error_code = error_code(result.error);
    if version >= 5 {
        resp.protocol_type = result.protocol_type.map(str_bytes);
        resp.protocol_name = result.protocol_name.map(str_bytes);
    }
    resp.assignment = result.assignment;
    resp
}
