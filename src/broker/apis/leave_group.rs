//! LeaveGroup (v0-v5): one member before v3, a batch of members (by member
//! id or, KIP-345, by group.instance.id alone) from v3. Before v3 the one
//! error field carries the top-level error, else the first member error,
//! as Kafka's `LeaveGroupResponse` does.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::group_support::{error_code, wire_members};
use super::str_bytes;
use crate::broker::group_coordinator::GroupCoordinatorHandle;
use crate::coordinator::{self, Error, LeaveGroupResult, MemberIdentity, Response};

pub async fn handle(
    groups: &GroupCoordinatorHandle,
    version: i16,
    req: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let members = if version < 3 {
        vec![MemberIdentity {
            member_id: req.member_id.to_string(),
            group_instance_id: None,
            reason: None,
        }]
    } else {
        req.members
            .into_iter()
            .map(|m| MemberIdentity {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.map(|s| s.to_string()),
                reason: m.reason.map(|s| s.to_string()),
            })
            .collect()
    };
    let request = coordinator::LeaveGroupRequest { group_id: req.group_id.0.to_string(), members };
    let result = match groups.call(move |c, now, rid| c.leave_group(now, rid, request)).await {
        Ok(Response::LeaveGroup(r)) => r,
        _ => LeaveGroupResult { error: Some(Error::CoordinatorNotAvailable), members: Vec::new() },
    };
    let mut resp = LeaveGroupResponse::default();
    if version < 3 {
        let first_member_error = result.members.iter().find_map(|m| m.error);
        resp.error_code = error_code(result.error.or(first_member_error));
    } else {
        resp.error_code = error_code(result.error);
        resp.members = wire_members!(result.members, MemberResponse, |m, r| {
            r.error_code = error_code(m.error);
        });
    }
    resp
}
