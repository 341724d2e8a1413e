//! Consumer-group administration, as Kafka's admin client does it: find a
//! group's coordinator, list, describe, read and commit offsets, delete
//! groups and offsets. What `kafka-rs consumer-groups` is built on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_request::DeleteGroupsRequest;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::{
    DescribeGroupsRequest, FindCoordinatorRequest, GroupId, ListGroupsRequest, OffsetCommitRequest,
    OffsetDeleteRequest, OffsetFetchRequest,
};

use super::admin::{str_bytes, topic_name, Admin};
use super::assignor::Assignment;
use super::cluster::BrokerMetadata;
use super::connection::Connection;
use super::error::{check_items, ItemError};
use super::{Error, Result};

/// A group as ListGroups reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GroupListing {
    pub group_id: String,
    pub protocol_type: String,
    /// Empty when the broker predates ListGroups v4.
    pub state: String,
    /// "classic" or "consumer" (KIP-848); empty before ListGroups v5.
    pub group_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub host: String,
    /// topic → partitions; empty unless the group is Stable.
    pub assignment: BTreeMap<String, Vec<i32>>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    /// The assignment strategy ("range", ...); empty unless Stable.
    pub protocol: String,
    pub coordinator: BrokerMetadata,
    pub members: Vec<MemberDescription>,
}

/// A partition and its error, `None` when it succeeded.
pub type PartitionResult = ((String, i32), Option<Error>);

/// How long to keep retrying a group request the coordinator cannot answer yet.
const COORDINATOR_WAIT: Duration = Duration::from_secs(30);

fn retriable(code: i16) -> bool {
    matches!(
        ResponseError::try_from_code(code),
        Some(
            ResponseError::CoordinatorLoadInProgress
                | ResponseError::CoordinatorNotAvailable
                | ResponseError::NotCoordinator
        )
    )
}

impl serde::Serialize for BrokerMetadata {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Broker", 3)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("host", &self.host)?;
        st.serialize_field("port", &self.port)?;
        st.end()
    }
}

impl Admin {
    /// The broker coordinating `group` and a connection to it, retrying
    /// while the coordinator is being created or loaded.
    pub async fn find_group_coordinator(
        &self,
        group: &str,
    ) -> Result<(BrokerMetadata, Arc<Connection>)> {
        let deadline = Instant::now() + COORDINATOR_WAIT;
        loop {
            let conn = self.cluster().any_broker();
            let mut req = FindCoordinatorRequest::default();
            req.key = str_bytes(group);
            req.key_type = 0;
            let version = conn.version::<FindCoordinatorRequest>()?.min(3);
            let resp = conn.send_pipelined(&req, version).await?.wait().await?;
            if resp.error_code == 0 {
                let node = BrokerMetadata {
                    id: resp.node_id.0,
                    host: resp.host.to_string(),
                    port: resp.port,
                    rack: None,
                };
                self.cluster().refresh(Some(&[]), false).await?;
                let conn = self.cluster().broker(node.id).await?;
                return Ok((node, conn));
            }
            if !retriable(resp.error_code) || Instant::now() > deadline {
                return Err(Error::from_code(resp.error_code, resp.error_message.as_deref())
                    .unwrap_or_else(|| Error::InvalidArgument("no coordinator".into())));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every group of every broker, optionally only those in `states`.
    pub async fn list_groups(&self, states: &[String]) -> Result<Vec<GroupListing>> {
        self.list_groups_filtered(states, &[]).await
    }

    /// Every group of every broker, optionally only those in `states` and
    /// of `types` ("classic", "consumer").
    pub async fn list_groups_filtered(
        &self,
        states: &[String],
        types: &[String],
    ) -> Result<Vec<GroupListing>> {
        let md = self.cluster().refresh(Some(&[]), false).await?;
        let mut out = Vec::new();
        for id in md.brokers.keys() {
            let conn = self.cluster().broker(*id).await?;
            let mut req = ListGroupsRequest::default();
            let version = conn.version::<ListGroupsRequest>()?;
            if !states.is_empty() {
                conn.require_version("ListGroups (state filter)", version, 4)?;
                req.states_filter = states.iter().map(|s| str_bytes(s)).collect();
            }
            if !types.is_empty() {
                conn.require_version("ListGroups (type filter)", version, 5)?;
                req.types_filter = types.iter().map(|s| str_bytes(s)).collect();
            }
            let deadline = Instant::now() + COORDINATOR_WAIT;
            let resp = loop {
                let resp = conn.send_pipelined(&req, version).await?.wait().await?;
                if resp.error_code == 0 || !retriable(resp.error_code) || Instant::now() > deadline
                {
                    break resp;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            if let Some(e) = Error::from_code(resp.error_code, None) {
                return Err(e);
            }
            out.extend(resp.groups.into_iter().map(|g| GroupListing {
                group_id: g.group_id.0.to_string(),
                protocol_type: g.protocol_type.to_string(),
                state: g.group_state.to_string(),
                group_type: g.group_type.to_string(),
            }));
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(out)
    }

    pub async fn describe_group(&self, group: &str) -> Result<GroupDescription> {
        let deadline = Instant::now() + COORDINATOR_WAIT;
        loop {
            let (coordinator, conn) = self.find_group_coordinator(group).await?;
            let mut req = DescribeGroupsRequest::default();
            req.groups.push(GroupId(str_bytes(group)));
            let version = conn.version::<DescribeGroupsRequest>()?.min(5);
            let resp = conn.send_pipelined(&req, version).await?.wait().await?;
            let Some(g) = resp.groups.into_iter().next() else {
                return Err(Error::Decode {
                    api: "DescribeGroups",
                    addr: conn.addr().to_string(),
                    reason: "no group in the response".into(),
                });
            };
            if retriable(g.error_code) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            if let Some(e) = Error::from_code(g.error_code, g.error_message.as_deref()) {
                return Err(e);
            }
            let consumer = g.protocol_type.as_str() == "consumer" || g.protocol_type.is_empty();
            let members = g
                .members
                .into_iter()
                .map(|m| MemberDescription {
                    member_id: m.member_id.to_string(),
                    group_instance_id: m.group_instance_id.map(|s| s.to_string()),
                    client_id: m.client_id.to_string(),
                    host: m.client_host.to_string(),
                    assignment: if consumer {
                        Assignment::decode(&m.member_assignment)
                            .map(|a| a.partitions)
                            .unwrap_or_default()
                    } else {
                        BTreeMap::new()
                    },
                })
                .collect();
            return Ok(GroupDescription {
                group_id: g.group_id.0.to_string(),
                state: g.group_state.to_string(),
                protocol_type: g.protocol_type.to_string(),
                protocol: g.protocol_data.to_string(),
                coordinator,
                members,
            });
        }
    }

    /// Every committed offset of a group: (topic, partition) → offset.
    pub async fn group_offsets(&self, group: &str) -> Result<BTreeMap<(String, i32), i64>> {
        let deadline = Instant::now() + COORDINATOR_WAIT;
        loop {
            let (_, conn) = self.find_group_coordinator(group).await?;
            let mut req = OffsetFetchRequest::default();
            req.group_id = GroupId(str_bytes(group));
            req.topics = None;
            let version = conn.version::<OffsetFetchRequest>()?.min(7);
            conn.require_version("OffsetFetch (all partitions)", version, 2)?;
            let resp = conn.send_pipelined(&req, version).await?.wait().await?;
            if retriable(resp.error_code) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            if let Some(e) = Error::from_code(resp.error_code, None) {
                return Err(e);
            }
            return Ok(committed_offsets(resp));
        }
    }

    /// Commits offsets for a group nobody is in (generation -1), as
    /// `--reset-offsets --execute` does.
    pub async fn commit_group_offsets(
        &self,
        group: &str,
        offsets: &BTreeMap<(String, i32), i64>,
    ) -> Result<()> {
        let (_, conn) = self.find_group_coordinator(group).await?;
        let req = offset_commit_request(group, -1, "", None, offsets);
        let version = conn.version::<OffsetCommitRequest>()?.min(8);
        let resp = conn.send_pipelined(&req, version).await?.wait().await?;
        check_items(resp.topics.iter().flat_map(|t| &t.partitions))
    }

    /// DeleteGroups; the error per group, `None` when deleted.
    pub async fn delete_groups(&self, groups: &[String]) -> Result<Vec<(String, Option<Error>)>> {
        let mut out = Vec::new();
        for group in groups {
            let (_, conn) = self.find_group_coordinator(group).await?;
            let mut req = DeleteGroupsRequest::default();
            req.groups_names.push(GroupId(str_bytes(group)));
            let version = conn.version::<DeleteGroupsRequest>()?;
            let resp = conn.send_pipelined(&req, version).await?.wait().await?;
            for r in resp.results {
                out.push((r.group_id.0.to_string(), r.error()));
            }
        }
        Ok(out)
    }

    /// OffsetDelete: the group-level error, or each partition's.
    pub async fn delete_group_offsets(
        &self,
        group: &str,
        partitions: &[(String, i32)],
    ) -> Result<std::result::Result<Vec<PartitionResult>, Error>> {
        let (_, conn) = self.find_group_coordinator(group).await?;
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in partitions {
            by_topic.entry(t).or_default().push(*p);
        }
        let mut req = OffsetDeleteRequest::default();
        req.group_id = GroupId(str_bytes(group));
        req.topics = by_topic
            .into_iter()
            .map(|(t, ps)| {
                let mut topic = OffsetDeleteRequestTopic::default();
                topic.name = topic_name(t);
                topic.partitions = ps
                    .into_iter()
                    .map(|p| {
                        let mut part = OffsetDeleteRequestPartition::default();
                        part.partition_index = p;
                        part
                    })
                    .collect();
                topic
            })
            .collect();
        let version = conn.version::<OffsetDeleteRequest>()?;
        let resp = conn.send_pipelined(&req, version).await?.wait().await?;
        if let Some(e) = Error::from_code(resp.error_code, None) {
            return Ok(Err(e));
        }
        let mut out = Vec::new();
        for t in resp.topics {
            for p in t.partitions {
                out.push(((t.name.0.to_string(), p.partition_index), p.error()));
            }
        }
        Ok(Ok(out))
    }
}

/// An OffsetCommit of `offsets` (no metadata, no leader epoch) for `group`:
/// by a member of `generation`, or by nobody (generation -1, empty member
/// id) when an admin tool moves a stopped group's offsets.
pub(crate) fn offset_commit_request(
    group: &str,
    generation: i32,
    member_id: &str,
    group_instance_id: Option<&str>,
    offsets: &BTreeMap<(String, i32), i64>,
) -> OffsetCommitRequest {
    let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for ((t, p), o) in offsets {
        let mut part = OffsetCommitRequestPartition::default();
        part.partition_index = *p;
        part.committed_offset = *o;
        part.committed_leader_epoch = -1;
        part.committed_metadata = Some(str_bytes(""));
        topics.entry(t).or_default().push(part);
    }
    let mut req = OffsetCommitRequest::default();
    req.group_id = GroupId(str_bytes(group));
    req.generation_id_or_member_epoch = generation;
    req.member_id = str_bytes(member_id);
    req.group_instance_id = group_instance_id.map(str_bytes);
    req.retention_time_ms = -1;
    req.topics = topics
        .into_iter()
        .map(|(t, parts)| {
            OffsetCommitRequestTopic::default().with_name(topic_name(t)).with_partitions(parts)
        })
        .collect();
    req
}

/// The committed offset of each partition in an OffsetFetch response; a
/// partition with an error or no commit (-1) is left out.
pub(super) fn committed_offsets(
    resp: kafka_protocol::messages::OffsetFetchResponse,
) -> BTreeMap<(String, i32), i64> {
    let mut out = BTreeMap::new();
    for t in resp.topics {
        for p in t.partitions {
            if p.error_code == 0 && p.committed_offset >= 0 {
                out.insert((t.name.0.to_string(), p.partition_index), p.committed_offset);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::offset_fetch_response::{
        OffsetFetchResponsePartition, OffsetFetchResponseTopic,
    };
    use kafka_protocol::messages::OffsetFetchResponse;

    use super::*;

    #[test]
    fn committed_offsets_leave_out_errors_and_missing_commits() {
        let part = |partition_index, committed_offset, error_code| {
            let mut p = OffsetFetchResponsePartition::default();
            (p.partition_index, p.committed_offset, p.error_code) =
                (partition_index, committed_offset, error_code);
            p
        };
        let mut t = OffsetFetchResponseTopic::default();
        t.name = topic_name("t");
        t.partitions = vec![part(0, 5, 0), part(1, -1, 0), part(2, 9, 3)];
        let mut resp = OffsetFetchResponse::default();
        resp.topics = vec![t];
        let want: BTreeMap<(String, i32), i64> = [(("t".to_string(), 0), 5)].into();
        assert_eq!(committed_offsets(resp), want, "no commit (-1) and an error are left out");
    }
}
