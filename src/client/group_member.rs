//! Membership in a consumer group (Kafka's classic protocol, as the Java
//! `ConsumerCoordinator` plays it): join (fetching a member id first,
//! KIP-394), let the leader run the assignor, sync, heartbeat in the
//! background, commit and fetch offsets, leave. The caller polls
//! [`GroupMember::needs_rejoin`] and calls [`GroupMember::join`] again when a
//! rebalance starts.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest, OffsetCommitRequest,
    OffsetFetchRequest, SyncGroupRequest,
};
use tokio::task::JoinHandle;

use super::admin::{str_bytes, topic_name, Admin};
use super::assignor::{self, Assignment, MemberSubscription, Subscription, SUBSCRIPTION_VERSION};
use super::connection::Connection;
use super::{Cluster, Error, Result};

/// The consumer's group settings, with the Java client's names and defaults.
#[derive(Clone, Debug)]
pub struct GroupMemberConfig {
    /// `group.id`.
    pub group_id: String,
    /// `group.instance.id` (static membership, KIP-345).
    pub group_instance_id: Option<String>,
    /// `session.timeout.ms` (45 s since Kafka 3.0).
    pub session_timeout: Duration,
    /// `max.poll.interval.ms`, sent as the rebalance timeout.
    pub rebalance_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `partition.assignment.strategy`, in order of preference.
    pub assignors: Vec<String>,
}

impl GroupMemberConfig {
    pub fn from_properties(group_id: &str, p: &crate::config::Properties) -> Result<Self> {
        let bad = Error::Config;
        let ms = |key: &str, default: u64| -> Result<Duration> {
            Ok(Duration::from_millis(p.parse_or(key, default).map_err(bad)?))
        };
        let assignors: Vec<String> = p
            .get("partition.assignment.strategy")
            .unwrap_or("range,roundrobin")
            .split(',')
            .map(|s| short_assignor_name(s.trim()).to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(unknown) = assignors.iter().find(|a| !assignor::ASSIGNORS.contains(&a.as_str()))
        {
            return Err(Error::InvalidArgument(format!(
                "Invalid value {unknown} for configuration partition.assignment.strategy: known are {}",
                assignor::ASSIGNORS.join(", ")
            )));
        }
        Ok(GroupMemberConfig {
            group_id: group_id.to_string(),
            group_instance_id: p.get("group.instance.id").map(str::to_string),
            session_timeout: ms("session.timeout.ms", 45_000)?,
            rebalance_timeout: ms("max.poll.interval.ms", 300_000)?,
            heartbeat_interval: ms("heartbeat.interval.ms", 3_000)?,
            assignors,
        })
    }
}

/// Java class names map to the protocol names the assignors register.
fn short_assignor_name(s: &str) -> &str {
    match s.rsplit('.').next().unwrap_or(s) {
        "RangeAssignor" => "range",
        "RoundRobinAssignor" => "roundrobin",
        "CooperativeStickyAssignor" => "cooperative-sticky",
        other => other,
    }
}

/// Set by the heartbeat task; read by the poll loop.
#[derive(Default)]
struct Shared {
    rejoin: AtomicBool,
    /// The member id is no longer valid: join afresh.
    reset: AtomicBool,
}

pub struct GroupMember {
    cluster: Arc<Cluster>,
    config: GroupMemberConfig,
    member_id: String,
    generation: i32,
    protocol: Option<String>,
    topics: Vec<String>,
    assignment: BTreeMap<String, Vec<i32>>,
    coordinator: Option<Arc<Connection>>,
    shared: Arc<Shared>,
    heartbeat: Option<JoinHandle<()>>,
}

fn code(c: i16) -> Option<ResponseError> {
    ResponseError::try_from_code(c)
}

/// Errors after which the member asks the coordinator again and retries.
fn coordinator_moved(e: Option<ResponseError>) -> bool {
    matches!(
        e,
        Some(
            ResponseError::CoordinatorNotAvailable
                | ResponseError::NotCoordinator
                | ResponseError::CoordinatorLoadInProgress
        )
    )
}

impl GroupMember {
    pub fn new(cluster: Arc<Cluster>, config: GroupMemberConfig) -> Self {
        GroupMember {
            cluster,
            config,
            member_id: String::new(),
            generation: -1,
            protocol: None,
            topics: Vec::new(),
            assignment: BTreeMap::new(),
            coordinator: None,
            shared: Arc::default(),
            heartbeat: None,
        }
    }

    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    pub fn generation(&self) -> i32 {
        self.generation
    }

    /// Whether a rebalance started (the next heartbeat said so).
    pub fn needs_rejoin(&self) -> bool {
        self.shared.rejoin.load(Ordering::Acquire)
    }

    async fn coordinator(&mut self) -> Result<Arc<Connection>> {
        if let Some(c) = &self.coordinator {
            return Ok(c.clone());
        }
        let admin = Admin::new(self.cluster.clone());
        let (_, conn) = admin.find_group_coordinator(&self.config.group_id).await?;
        self.coordinator = Some(conn.clone());
        Ok(conn)
    }

    fn cooperative(&self) -> bool {
        self.protocol.as_deref() == Some("cooperative-sticky")
    }

    /// Joins (or rejoins) the group subscribed to `topics` and returns the
    /// partitions this member now owns.
    pub async fn join(&mut self, topics: &[String]) -> Result<Vec<(String, i32)>> {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        self.topics = topics.to_vec();
        if !self.cooperative() {
            // Eager protocols give everything back before rejoining.
            self.assignment.clear();
        }
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            if attempts > 1 {
                tokio::time::sleep(Duration::from_millis(if attempts > 20 { 500 } else { 50 }))
                    .await;
            }
            if self.shared.reset.swap(false, Ordering::AcqRel) {
                self.member_id.clear();
                self.generation = -1;
                self.assignment.clear();
            }
            self.shared.rejoin.store(false, Ordering::Release);
            let conn = self.coordinator().await?;
            let joined = self.join_once(&conn).await;
            let (leader, members) = match joined {
                Ok(Some(j)) => j,
                Ok(None) => continue,
                Err(e) => {
                    if coordinator_moved(e.code()) || e.is_retriable() {
                        self.coordinator = None;
                        continue;
                    }
                    return Err(e);
                }
            };
            let assignments = if leader { self.assign(&members).await? } else { BTreeMap::new() };
            match self.sync(&conn, assignments).await {
                Ok(Some(new)) => {
                    let revoked = self.assignment.iter().any(|(t, ps)| {
                        ps.iter().any(|p| !new.get(t).is_some_and(|n| n.contains(p)))
                    });
                    self.assignment = new;
                    // KIP-429: what was taken away is released first, then
                    // the member rejoins so the partitions can move.
                    if self.cooperative() && revoked {
                        continue;
                    }
                    break;
                }
                Ok(None) => continue,
                Err(e) if coordinator_moved(e.code()) || e.is_retriable() => {
                    self.coordinator = None;
                    continue;
                }
                Err(e) => return Err(e),
            }
        }
        self.start_heartbeat();
        Ok(self.owned())
    }

    /// The partitions this member owns.
    pub fn owned(&self) -> Vec<(String, i32)> {
        self.assignment.iter().flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p))).collect()
    }

    /// One JoinGroup; `Ok(None)` means "send it again" (a member id was
    /// handed out, or the old one is gone).
    async fn join_once(
        &mut self,
        conn: &Arc<Connection>,
    ) -> Result<Option<(bool, Vec<MemberSubscription>)>> {
        let subscription = Subscription {
            topics: self.topics.clone(),
            user_data: None,
            owned_partitions: self.assignment.clone(),
            generation_id: self.generation,
            rack_id: None,
        };
        let metadata = bytes::Bytes::from(subscription.encode(SUBSCRIPTION_VERSION));
        let mut req = JoinGroupRequest::default();
        req.group_id = GroupId(str_bytes(&self.config.group_id));
        req.session_timeout_ms =
            self.config.session_timeout.as_millis().min(i32::MAX as u128) as i32;
        req.rebalance_timeout_ms =
            self.config.rebalance_timeout.as_millis().min(i32::MAX as u128) as i32;
        req.member_id = str_bytes(&self.member_id);
        req.group_instance_id = self.config.group_instance_id.as_deref().map(str_bytes);
        req.protocol_type = str_bytes("consumer");
        req.protocols = self
            .config
            .assignors
            .iter()
            .map(|name| {
                let mut p = JoinGroupRequestProtocol::default();
                p.name = str_bytes(name);
                p.metadata = metadata.clone();
                p
            })
            .collect();
        let version = conn.version::<JoinGroupRequest>()?;
        // The broker holds a JoinGroup for up to the rebalance timeout.
        let resp = tokio::time::timeout(
            self.config.rebalance_timeout + Duration::from_secs(5),
            conn.send_pipelined(&req, version).await?.wait(),
        )
        .await
        .map_err(|_| Error::Timeout {
            what: "JoinGroup".into(),
            after: self.config.rebalance_timeout,
        })??;
        match code(resp.error_code) {
            None => {}
            Some(ResponseError::MemberIdRequired) => {
                self.member_id = resp.member_id.to_string();
                return Ok(None);
            }
            Some(ResponseError::UnknownMemberId | ResponseError::IllegalGeneration) => {
                self.member_id.clear();
                self.generation = -1;
                return Ok(None);
            }
            Some(ResponseError::RebalanceInProgress) => return Ok(None),
            Some(_) => {
                return Err(Error::from_code(resp.error_code, None)
                    .unwrap_or(Error::InvalidArgument("join".into())))
            }
        }
        self.member_id = resp.member_id.to_string();
        self.generation = resp.generation_id;
        self.protocol = resp.protocol_name.map(|p| p.to_string());
        let leader = resp.leader.as_str() == self.member_id && !resp.skip_assignment;
        let members = resp
            .members
            .into_iter()
            .filter_map(|m| {
                Some(MemberSubscription {
                    member_id: m.member_id.to_string(),
                    group_instance_id: m.group_instance_id.map(|s| s.to_string()),
                    subscription: Subscription::decode(&m.metadata).ok()?,
                })
            })
            .collect();
        Ok(Some((leader, members)))
    }

    /// The leader's job: run the selected assignor over the subscribed
    /// topics' partition counts.
    async fn assign(&self, members: &[MemberSubscription]) -> Result<BTreeMap<String, Assignment>> {
        let topics: Vec<String> = assignor::subscribed_topics(members).into_iter().collect();
        let md = self.cluster.refresh(Some(&topics), false).await?;
        let counts: BTreeMap<String, i32> = md
            .topics
            .values()
            .filter(|t| t.error_code == 0)
            .map(|t| (t.name.clone(), t.partitions.len() as i32))
            .collect();
        let protocol = self.protocol.clone().unwrap_or_default();
        assignor::assign(&protocol, members, &counts).ok_or_else(|| {
            Error::InvalidArgument(format!("the group selected an unknown assignor {protocol}"))
        })
    }

    /// SyncGroup; `Ok(None)` means "rejoin".
    async fn sync(
        &mut self,
        conn: &Arc<Connection>,
        assignments: BTreeMap<String, Assignment>,
    ) -> Result<Option<BTreeMap<String, Vec<i32>>>> {
        let mut req = SyncGroupRequest::default();
        req.group_id = GroupId(str_bytes(&self.config.group_id));
        req.generation_id = self.generation;
        req.member_id = str_bytes(&self.member_id);
        req.group_instance_id = self.config.group_instance_id.as_deref().map(str_bytes);
        req.protocol_type = Some(str_bytes("consumer"));
        req.protocol_name = self.protocol.as_deref().map(str_bytes);
        req.assignments = assignments
            .into_iter()
            .map(|(member, a)| {
                let mut s = SyncGroupRequestAssignment::default();
                s.member_id = str_bytes(&member);
                s.assignment = bytes::Bytes::from(a.encode());
                s
            })
            .collect();
        let version = conn.version::<SyncGroupRequest>()?;
        let resp = conn.send_pipelined(&req, version).await?.wait().await?;
        match code(resp.error_code) {
            None => {}
            Some(ResponseError::RebalanceInProgress) => return Ok(None),
            Some(ResponseError::UnknownMemberId | ResponseError::IllegalGeneration) => {
                self.member_id.clear();
                self.generation = -1;
                return Ok(None);
            }
            Some(_) => {
                return Err(Error::from_code(resp.error_code, None)
                    .unwrap_or(Error::InvalidArgument("sync".into())))
            }
        }
        let assignment = Assignment::decode(&resp.assignment).map_err(|e| {
            Error::InvalidArgument(format!("bad assignment from the group leader: {e}"))
        })?;
        Ok(Some(assignment.partitions))
    }

    fn start_heartbeat(&mut self) {
        let Some(conn) = self.coordinator.clone() else { return };
        let shared = self.shared.clone();
        let mut req = HeartbeatRequest::default();
        req.group_id = GroupId(str_bytes(&self.config.group_id));
        req.generation_id = self.generation;
        req.member_id = str_bytes(&self.member_id);
        req.group_instance_id = self.config.group_instance_id.as_deref().map(str_bytes);
        let interval = self.config.heartbeat_interval;
        self.heartbeat = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Ok(version) = conn.version::<HeartbeatRequest>() else { return };
                let resp = match conn.send_pipelined(&req, version).await {
                    Ok(f) => f.wait().await,
                    Err(e) => Err(e),
                };
                let error = match resp {
                    Ok(r) => code(r.error_code),
                    // A lost coordinator: rejoin, which finds it again.
                    Err(_) => Some(ResponseError::NotCoordinator),
                };
                match error {
                    None => continue,
                    Some(
                        ResponseError::UnknownMemberId
                        | ResponseError::IllegalGeneration
                        | ResponseError::FencedInstanceId,
                    ) => {
                        shared.reset.store(true, Ordering::Release);
                    }
                    _ => {}
                }
                shared.rejoin.store(true, Ordering::Release);
                return;
            }
        }));
    }

    /// Commits offsets as this generation's member. A failure because the
    /// group moved on asks for a rejoin instead of failing the caller.
    pub async fn commit(&mut self, offsets: &BTreeMap<(String, i32), i64>) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let conn = self.coordinator().await?;
        let req = super::groups::offset_commit_request(
            &self.config.group_id,
            self.generation,
            &self.member_id,
            self.config.group_instance_id.as_deref(),
            offsets,
        );
        let version = conn.version::<OffsetCommitRequest>()?.min(8);
        let resp = conn.send_pipelined(&req, version).await?.wait().await?;
        for t in resp.topics {
            for p in t.partitions {
                match code(p.error_code) {
                    None => {}
                    Some(ResponseError::RebalanceInProgress) => {
                        self.shared.rejoin.store(true, Ordering::Release)
                    }
                    Some(ResponseError::UnknownMemberId | ResponseError::IllegalGeneration) => {
                        self.shared.reset.store(true, Ordering::Release);
                        self.shared.rejoin.store(true, Ordering::Release);
                    }
                    Some(_) => {
                        return Err(Error::from_code(p.error_code, None)
                            .unwrap_or(Error::InvalidArgument("commit".into())))
                    }
                }
            }
        }
        Ok(())
    }

    /// The group's committed offsets for `partitions` (absent = none).
    pub async fn committed(
        &mut self,
        partitions: &[(String, i32)],
    ) -> Result<BTreeMap<(String, i32), i64>> {
        let conn = self.coordinator().await?;
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in partitions {
            by_topic.entry(t).or_default().push(*p);
        }
        let mut req = OffsetFetchRequest::default();
        req.group_id = GroupId(str_bytes(&self.config.group_id));
        req.topics = Some(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    let mut topic = OffsetFetchRequestTopic::default();
                    topic.name = topic_name(t);
                    topic.partition_indexes = ps;
                    topic
                })
                .collect(),
        );
        let version = conn.version::<OffsetFetchRequest>()?.min(7);
        let resp = conn.send_pipelined(&req, version).await?.wait().await?;
        if let Some(e) = Error::from_code(resp.error_code, None) {
            return Err(e);
        }
        Ok(super::groups::committed_offsets(resp))
    }

    /// LeaveGroup, so the others rebalance now rather than after our session.
    pub async fn leave(&mut self) -> Result<()> {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        if self.member_id.is_empty() {
            return Ok(());
        }
        let conn = self.coordinator().await?;
        let mut req = LeaveGroupRequest::default();
        req.group_id = GroupId(str_bytes(&self.config.group_id));
        let version = conn.version::<LeaveGroupRequest>()?;
        if version >= 3 {
            let mut m = MemberIdentity::default();
            m.member_id = str_bytes(&self.member_id);
            m.group_instance_id = self.config.group_instance_id.as_deref().map(str_bytes);
            req.members.push(m);
        } else {
            req.member_id = str_bytes(&self.member_id);
        }
        conn.send_pipelined(&req, version).await?.wait().await?;
        self.member_id.clear();
        Ok(())
    }
}

impl Drop for GroupMember {
    fn drop(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignor_names_accept_java_class_names() {
        let p = crate::config::Properties::parse(
            "partition.assignment.strategy=org.apache.kafka.clients.consumer.RoundRobinAssignor, range\n",
        );
        let c = GroupMemberConfig::from_properties("g", &p).unwrap();
        assert_eq!(c.assignors, vec!["roundrobin", "range"]);
        let bad = crate::config::Properties::parse("partition.assignment.strategy=sticky-ish\n");
        assert!(GroupMemberConfig::from_properties("g", &bad).is_err());
        let d = GroupMemberConfig::from_properties("g", &crate::config::Properties::new()).unwrap();
        assert_eq!(
            (d.session_timeout.as_secs(), d.heartbeat_interval.as_secs()),
            (45, 3),
            "Kafka 3.x defaults"
        );
    }
}
