//! JoinGroup (v0-v9): maps the request onto the coordinator's and parks
//! until the rebalance answers. v4+ members without a group.instance.id
//! must first fetch a member id (KIP-394); v5 adds static membership; v7
//! returns the protocol type; v9 lets a static leader skip assignment.

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::group_support::{error_code, wire_members, ClientInfo};
use super::str_bytes;
use crate::broker::group_coordinator::GroupCoordinatorHandle;
use crate::coordinator::{self, Error, JoinGroupResult, Protocol, Response};

pub async fn handle(
    groups: &GroupCoordinatorHandle,
    version: i16,
    client: &ClientInfo,
    req: JoinGroupRequest,
) -> JoinGroupResponse {
    let group_instance_id = req.group_instance_id.map(|s| s.to_string());
    let request = coordinator::JoinGroupRequest {
        group_id: req.group_id.0.to_string(),
        session_timeout_ms: req.session_timeout_ms,
        // v0 had no rebalance timeout: Kafka uses the session timeout.
        rebalance_timeout_ms: if version == 0 {
            req.session_timeout_ms
        } else {
            req.rebalance_timeout_ms
        },
        member_id: req.member_id.to_string(),
        require_known_member_id: version >= 4 && group_instance_id.is_none(),
        support_skipping_assignment: version >= 9,
        group_instance_id,
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .into_iter()
            .map(|p| Protocol { name: p.name.to_string(), metadata: p.metadata })
            .collect(),
        reason: req.reason.map(|r| r.to_string()),
        client_id: client.client_id.clone(),
        client_host: client.host.clone(),
    };
    let member_id = request.member_id.clone();
    let result = match groups.call(move |c, now, rid| c.join_group(now, rid, request)).await {
        Ok(Response::JoinGroup(r)) => r,
        _ => JoinGroupResult::error(&member_id, Error::CoordinatorNotAvailable),
    };
    response(version, result)
}

fn response(version: i16, r: JoinGroupResult) -> JoinGroupResponse {
    let mut resp = JoinGroupResponse::default();
    resp.error_code = error_code(r.error);
    resp.generation_id = r.generation_id;
    resp.protocol_type = r.protocol_type.map(str_bytes);
    // Before v7 the protocol name is not nullable.
    resp.protocol_name = match r.protocol_name {
        Some(p) => Some(str_bytes(p)),
        None if version < 7 => Some(str_bytes("")),
        None => None,
    };
    resp.leader = str_bytes(r.leader);
    resp.skip_assignment = r.skip_assignment;
    resp.member_id = str_bytes(r.member_id);
    resp.members = wire_members!(r.members, JoinGroupResponseMember, |m, member| {
        member.metadata = m.metadata;
    });
    resp
}
