//! ListGroups (v0-v5): every group this coordinator holds, optionally only
//! those in some states (v4, KIP-518) or of some types (v5, KIP-848: all
//! of ours are "classic").

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::group_support::error_code;
use super::str_bytes;
use crate::broker::group_coordinator::GroupCoordinatorHandle;
use crate::coordinator::Error;

pub async fn handle(
    groups: &GroupCoordinatorHandle,
    version: i16,
    req: ListGroupsRequest,
) -> ListGroupsResponse {
    let states: Vec<String> = req.states_filter.iter().map(|s| s.to_string()).collect();
    let classic_wanted = req.types_filter.is_empty()
        || req.types_filter.iter().any(|t| t.eq_ignore_ascii_case("classic"));
    let mut resp = ListGroupsResponse::default();
    match groups.read(move |c| c.list_groups(&states)).await {
        Ok(r) => {
            resp.error_code = error_code(r.error);
            if classic_wanted {
                resp.groups = r
                    .groups
                    .into_iter()
                    .map(|g| {
                        let mut listed = ListedGroup::default();
                        listed.group_id = GroupId(str_bytes(g.group_id));
                        listed.protocol_type = str_bytes(g.protocol_type);
                        if version >= 4 {
                            listed.group_state = str_bytes(g.state);
                        }
                        if version >= 5 {
                            listed.group_type = str_bytes("classic");
                        }
                        listed
                    })
                    .collect();
            }
        }
        Err(_) => resp.error_code = Error::CoordinatorNotAvailable.code(),
    }
    resp
}
