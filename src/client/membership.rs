//! Membership in a group through the broker's group coordinator (Kafka's
//! classic group protocol, the Java `AbstractCoordinator`): find the
//! coordinator, join (fetching a member id first, KIP-394), sync, heartbeat
//! in the background, commit and fetch offsets, leave. What the members say
//! about themselves and what the leader hands out are opaque bytes here:
//! consumers (`group_member`, protocol type `consumer`) and Connect's
//! distributed workers (protocol type `connect`) each bring their own.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
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
use super::connection::Connection;
use super::{Cluster, Error, Result};

/// What every member sends whatever its protocol, with the Java clients'
/// meanings.
#[derive(Clone, Debug)]
pub struct GroupSettings {
    /// `group.id`.
    pub group_id: String,
    /// `group.instance.id` (static membership, KIP-345).
    pub group_instance_id: Option<String>,
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// The rebalance timeout (`max.poll.interval.ms` for consumers,
    /// `rebalance.timeout.ms` for Connect workers).
    pub rebalance_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
}

/// Set by the heartbeat task; read by the member's owner.
#[derive(Default)]
struct Flags {
    rejoin: AtomicBool,
    /// The member id is no longer valid: join afresh.
    reset: AtomicBool,
}

/// A member's view of a JoinGroup answer.
pub struct Joined {
    /// Whether this member must compute the assignment.
    pub leader: bool,
    pub leader_id: String,
    /// The protocol the coordinator selected.
    pub protocol: Option<String>,
    /// Every member with its metadata (only the leader gets them).
    pub members: Vec<JoinedMember>,
}

pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

pub struct Membership {
    cluster: Arc<Cluster>,
    settings: GroupSettings,
    protocol_type: &'static str,
    member_id: String,
    generation: i32,
    protocol: Option<String>,
    coordinator: Option<Arc<Connection>>,
    flags: Arc<Flags>,
    heartbeat: Option<JoinHandle<()>>,
}

fn code(c: i16) -> Option<ResponseError> {
    ResponseError::try_from_code(c)
}

/// Errors after which a member asks for the coordinator again and retries.
pub fn coordinator_moved(e: &Error) -> bool {
    e.is_retriable()
        || matches!(
            e.code(),
            Some(
                ResponseError::CoordinatorNotAvailable
                    | ResponseError::NotCoordinator
                    | ResponseError::CoordinatorLoadInProgress
            )
        )
}

fn clamp_ms(d: Duration) -> i32 {
    d.as_millis().min(i32::MAX as u128) as i32
}

impl Membership {
    /// `cluster` should be the member's own: the coordinator answers a
    /// connection's requests in order, so a heartbeat queued behind another
    /// client's long fetch on a shared connection would arrive late.
    pub fn new(
        cluster: Arc<Cluster>,
        settings: GroupSettings,
        protocol_type: &'static str,
    ) -> Self {
        Membership {
            cluster,
            settings,
            protocol_type,
            member_id: String::new(),
            generation: -1,
            protocol: None,
            coordinator: None,
            flags: Arc::default(),
            heartbeat: None,
        }
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    pub fn group_id(&self) -> &str {
        &self.settings.group_id
    }

    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    pub fn generation(&self) -> i32 {
        self.generation
    }

    /// The protocol the coordinator selected at the last join.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Whether a rebalance started (a heartbeat or commit said so).
    pub fn needs_rejoin(&self) -> bool {
        self.flags.rejoin.load(Ordering::Acquire)
    }

    pub fn request_rejoin(&self) {
        self.flags.rejoin.store(true, Ordering::Release);
    }

    /// Whether the coordinator forgot this member since the last call; the
    /// member id and generation are dropped so the next join starts afresh.
    pub fn take_reset(&mut self) -> bool {
        if self.flags.reset.swap(false, Ordering::AcqRel) {
            self.member_id.clear();
            self.generation = -1;
            return true;
        }
        false
    }

    /// Waits before retry number `attempt` of a join round.
    pub async fn backoff(attempt: u32) {
        if attempt > 1 {
            tokio::time::sleep(Duration::from_millis(if attempt > 20 { 500 } else { 50 })).await;
        }
    }

    async fn coordinator(&mut self) -> Result<Arc<Connection>> {
        if let Some(c) = &self.coordinator {
            return Ok(c.clone());
        }
        let admin = Admin::new(self.cluster.clone());
        let (_, conn) = admin.find_group_coordinator(&self.settings.group_id).await?;
        self.coordinator = Some(conn.clone());
        Ok(conn)
    }

    fn stop_heartbeat(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }

    /// One JoinGroup offering `protocols` (name, metadata) in order of
    /// preference. `Ok(None)` means "send it again": a member id was handed
    /// out, the old one is gone, a rebalance is under way or the coordinator
    /// moved. Failing to find a coordinator is an error for the caller to
    /// retry or give up on.
    pub async fn join_once(&mut self, protocols: &[(&str, Bytes)]) -> Result<Option<Joined>> {
        self.stop_heartbeat();
        self.take_reset();
        self.flags.rejoin.store(false, Ordering::Release);
        let fresh = self.member_id.is_empty();
        match self.join_request(protocols).await? {
            // KIP-394: the coordinator handed out a member id; join with
            // it at once rather than after the caller's back-off.
            None if fresh && !self.member_id.is_empty() => self.join_request(protocols).await,
            joined => Ok(joined),
        }
    }

    async fn join_request(&mut self, protocols: &[(&str, Bytes)]) -> Result<Option<Joined>> {
        let conn = self.coordinator().await?;
        let mut req = JoinGroupRequest::default();
        req.group_id = GroupId(str_bytes(&self.settings.group_id));
        req.session_timeout_ms = clamp_ms(self.settings.session_timeout);
        req.rebalance_timeout_ms = clamp_ms(self.settings.rebalance_timeout);
        req.member_id = str_bytes(&self.member_id);
        req.group_instance_id = self.settings.group_instance_id.as_deref().map(str_bytes);
        req.protocol_type = str_bytes(self.protocol_type);
        req.protocols = protocols
            .iter()
            .map(|(name, metadata)| {
                let mut p = JoinGroupRequestProtocol::default();
                p.name = str_bytes(name);
                p.metadata = metadata.clone();
                p
            })
            .collect();
        let sent = async {
            let version = conn.version::<JoinGroupRequest>()?;
            conn.send_pipelined(&req, version).await?.wait().await
        };
        // The coordinator holds a JoinGroup for up to the rebalance timeout.
        let resp = match tokio::time::timeout(
            self.settings.rebalance_timeout + Duration::from_secs(5),
            sent,
        )
        .await
        {
            Ok(Ok(r)) => r,
            Ok(Err(e)) if coordinator_moved(&e) => {
                self.coordinator = None;
                return Ok(None);
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                self.coordinator = None;
                return Ok(None);
            }
        };
        if code(resp.error_code) == Some(ResponseError::MemberIdRequired) {
            self.member_id = resp.member_id.to_string();
            return Ok(None);
        }
        if !self.answer_stands(resp.error_code, "join")? {
            return Ok(None);
        }
        self.member_id = resp.member_id.to_string();
        self.generation = resp.generation_id;
        self.protocol = resp.protocol_name.map(|p| p.to_string());
        Ok(Some(Joined {
            leader: resp.leader.as_str() == self.member_id && !resp.skip_assignment,
            leader_id: resp.leader.to_string(),
            protocol: self.protocol.clone(),
            members: resp
                .members
                .into_iter()
                .map(|m| JoinedMember {
                    member_id: m.member_id.to_string(),
                    group_instance_id: m.group_instance_id.map(|s| s.to_string()),
                    metadata: m.metadata,
                })
                .collect(),
        }))
    }

    /// SyncGroup after a join: the leader passes every member's assignment,
    /// the others nothing. Returns this member's assignment and starts
    /// heartbeating; `Ok(None)` means "join again".
    pub async fn sync_once(
        &mut self,
        assignments: BTreeMap<String, Bytes>,
    ) -> Result<Option<Bytes>> {
        let conn = self.coordinator().await?;
        let mut req = SyncGroupRequest::default();
        req.group_id = GroupId(str_bytes(&self.settings.group_id));
        req.generation_id = self.generation;
        req.member_id = str_bytes(&self.member_id);
        req.group_instance_id = self.settings.group_instance_id.as_deref().map(str_bytes);
        req.protocol_type = Some(str_bytes(self.protocol_type));
        req.protocol_name = self.protocol.as_deref().map(str_bytes);
        req.assignments = assignments
            .into_iter()
            .map(|(member, assignment)| {
                let mut s = SyncGroupRequestAssignment::default();
                s.member_id = str_bytes(&member);
                s.assignment = assignment;
                s
            })
            .collect();
        let sent = async {
            let version = conn.version::<SyncGroupRequest>()?;
            conn.send_pipelined(&req, version).await?.wait().await
        };
        let resp = match sent.await {
            Ok(r) => r,
            Err(e) if coordinator_moved(&e) => {
                self.coordinator = None;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if !self.answer_stands(resp.error_code, "sync")? {
            return Ok(None);
        }
        self.start_heartbeat();
        Ok(Some(resp.assignment))
    }

    /// Reads a JoinGroup or SyncGroup error code: `Ok(true)` when there is
    /// none, `Ok(false)` when the round is to be tried again (forgetting a
    /// stale member id or generation, or a coordinator that moved), else the
    /// error.
    fn answer_stands(&mut self, error_code: i16, what: &str) -> Result<bool> {
        match code(error_code) {
            None => Ok(true),
            Some(ResponseError::RebalanceInProgress) => Ok(false),
            Some(ResponseError::UnknownMemberId | ResponseError::IllegalGeneration) => {
                self.member_id.clear();
                self.generation = -1;
                Ok(false)
            }
            Some(_) => {
                let e = Error::from_code(error_code, None)
                    .unwrap_or(Error::InvalidArgument(what.into()));
                if coordinator_moved(&e) {
                    self.coordinator = None;
                    return Ok(false);
                }
                Err(e)
            }
        }
    }

    fn start_heartbeat(&mut self) {
        self.stop_heartbeat();
        let Some(conn) = self.coordinator.clone() else { return };
        let flags = self.flags.clone();
        let mut req = HeartbeatRequest::default();
        req.group_id = GroupId(str_bytes(&self.settings.group_id));
        req.generation_id = self.generation;
        req.member_id = str_bytes(&self.member_id);
        req.group_instance_id = self.settings.group_instance_id.as_deref().map(str_bytes);
        let interval = self.settings.heartbeat_interval;
        // Past the session timeout the coordinator has dropped the member.
        let patience = self.settings.session_timeout.max(interval);
        self.heartbeat = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let sent = async {
                    let version = conn.version::<HeartbeatRequest>()?;
                    conn.send_pipelined(&req, version).await?.wait().await
                };
                let error = match tokio::time::timeout(patience, sent).await {
                    Ok(Ok(r)) => code(r.error_code),
                    // A lost coordinator: rejoin, which finds it again.
                    Ok(Err(_)) | Err(_) => Some(ResponseError::NotCoordinator),
                };
                match error {
                    None => continue,
                    Some(
                        ResponseError::UnknownMemberId
                        | ResponseError::IllegalGeneration
                        | ResponseError::FencedInstanceId,
                    ) => {
                        flags.reset.store(true, Ordering::Release);
                    }
                    _ => {}
                }
                flags.rejoin.store(true, Ordering::Release);
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
            &self.settings.group_id,
            self.generation,
            &self.member_id,
            self.settings.group_instance_id.as_deref(),
            offsets,
        );
        let version = conn.version::<OffsetCommitRequest>()?.min(8);
        let resp = conn.send_pipelined(&req, version).await?.wait().await?;
        for t in resp.topics {
            for p in t.partitions {
                match code(p.error_code) {
                    None => {}
                    Some(ResponseError::RebalanceInProgress) => self.request_rejoin(),
                    Some(ResponseError::UnknownMemberId | ResponseError::IllegalGeneration) => {
                        self.flags.reset.store(true, Ordering::Release);
                        self.request_rejoin();
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
        req.group_id = GroupId(str_bytes(&self.settings.group_id));
        req.topics = Some(
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partition_indexes(ps)
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
        self.stop_heartbeat();
        if self.member_id.is_empty() {
            return Ok(());
        }
        let conn = self.coordinator().await?;
        let mut req = LeaveGroupRequest::default();
        req.group_id = GroupId(str_bytes(&self.settings.group_id));
        let version = conn.version::<LeaveGroupRequest>()?;
        if version >= 3 {
            let mut m = MemberIdentity::default();
            m.member_id = str_bytes(&self.member_id);
            m.group_instance_id = self.settings.group_instance_id.as_deref().map(str_bytes);
            req.members.push(m);
        } else {
            req.member_id = str_bytes(&self.member_id);
        }
        conn.send_pipelined(&req, version).await?.wait().await?;
        self.member_id.clear();
        Ok(())
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.stop_heartbeat();
    }
}
