//! DeleteGroups (v0-v2): removes Empty groups and their offsets;
//! NON_EMPTY_GROUP for groups with members, GROUP_ID_NOT_FOUND for unknown ones.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse, GroupId};

use super::group_support::error_code;
use super::str_bytes;
use crate::broker::group_coordinator::GroupCoordinatorHandle;
use crate::coordinator::{Error, Response};

pub async fn handle(
    groups: &GroupCoordinatorHandle,
    req: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let ids: Vec<String> = req.groups_names.iter().map(|g| g.0.to_string()).collect();
    let asked = ids.clone();
    let results = match groups.call(move |c, now, rid| c.delete_groups(now, rid, &ids)).await {
        Ok(Response::DeleteGroups(r)) => r,
        _ => asked.into_iter().map(|g| (g, Some(Error::CoordinatorNotAvailable))).collect(),
    };
    let mut resp = DeleteGroupsResponse::default();
    resp.results = results
        .into_iter()
        .map(|(group, error)| {
            let mut r = DeletableGroupResult::default();
            r.group_id = GroupId(str_bytes(group));
            r.error_code = error_code(error);
            r
        })
        .collect();
    resp
}
