//! DescribeGroups (v0-v5): state, protocol and members of each group;
//! member metadata and assignments only while the group is Stable.

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse, GroupId};

use super::group_support::{error_code, wire_members};
use super::str_bytes;
use crate::broker::authorizer::Authz;
use crate::broker::group_coordinator::GroupCoordinatorHandle;
use crate::coordinator::Error;
use crate::security::acl::{AclOperation, ResourceType};

pub async fn handle(
    groups: &GroupCoordinatorHandle,
    req: DescribeGroupsRequest,
    authz: &Authz<'_>,
) -> DescribeGroupsResponse {
    let ids: Vec<String> = req.groups.iter().map(|g| g.0.to_string()).collect();
    let described =
        groups.read(move |c| ids.iter().map(|g| c.describe_group(g)).collect::<Vec<_>>()).await;
    let mut resp = DescribeGroupsResponse::default();
    let described = match described {
        Ok(d) => d,
        Err(_) => {
            resp.groups = req
                .groups
                .into_iter()
                .map(|g| {
                    let mut d = DescribedGroup::default();
                    d.group_id = g;
                    d.error_code = Error::CoordinatorNotAvailable.code();
                    d
                })
                .collect();
            return resp;
        }
    };
    resp.groups = described
        .into_iter()
        .map(|g| {
            let mut d = DescribedGroup::default();
            d.error_code = error_code(g.error);
            d.group_id = GroupId(str_bytes(g.group_id));
            d.group_state = str_bytes(g.state);
            d.protocol_type = str_bytes(g.protocol_type);
            d.protocol_data = str_bytes(g.protocol_data);
            d.authorized_operations = if req.include_authorized_operations {
                authz.authorized_operations(ResourceType::Group, &d.group_id)
            } else {
                i32::MIN
            };
            d.members = wire_members!(g.members, DescribedGroupMember, |m, member| {
                member.client_id = str_bytes(m.client_id);
                member.client_host = str_bytes(m.client_host);
                member.member_metadata = m.member_metadata;
                member.member_assignment = m.member_assignment;
            });
            d
        })
        .collect();
    // Kafka describes only the groups the principal may DESCRIBE.
    for d in &mut resp.groups {
        if !authz.group(AclOperation::Describe, &d.group_id) {
            let mut refused = DescribedGroup::default();
            refused.group_id = d.group_id.clone();
            refused.error_code = crate::protocol::ErrorCode::GroupAuthorizationFailed.code();
            refused.authorized_operations = i32::MIN;
            *d = refused;
        }
    }
    resp
}
