//! Membership in a consumer group (Kafka's classic protocol, as the Java
//! `ConsumerCoordinator` plays it): the protocol type `consumer` over the
//! shared group membership (`membership`), with subscriptions as metadata
//! and the leader running the assignor. The caller polls
//! [`GroupMember::needs_rejoin`] and calls [`GroupMember::join`] again when a
//! rebalance starts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::assignor::{self, Assignment, MemberSubscription, Subscription, SUBSCRIPTION_VERSION};
use super::membership::{GroupSettings, Joined, Membership};
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

pub struct GroupMember {
    core: Membership,
    assignors: Vec<String>,
    topics: Vec<String>,
    assignment: BTreeMap<String, Vec<i32>>,
}

impl GroupMember {
    pub fn new(cluster: Arc<Cluster>, config: GroupMemberConfig) -> Self {
        let settings = GroupSettings {
            group_id: config.group_id,
            group_instance_id: config.group_instance_id,
            session_timeout: config.session_timeout,
            rebalance_timeout: config.rebalance_timeout,
            heartbeat_interval: config.heartbeat_interval,
        };
        GroupMember {
            core: Membership::new(cluster, settings, "consumer"),
            assignors: config.assignors,
            topics: Vec::new(),
            assignment: BTreeMap::new(),
        }
    }

    pub fn group_id(&self) -> &str {
        self.core.group_id()
    }

    pub fn member_id(&self) -> &str {
        self.core.member_id()
    }

    pub fn generation(&self) -> i32 {
        self.core.generation()
    }

    /// Whether a rebalance started (the next heartbeat said so).
    pub fn needs_rejoin(&self) -> bool {
        self.core.needs_rejoin()
    }

    fn cooperative(&self) -> bool {
        self.core.protocol() == Some("cooperative-sticky")
    }

    /// Joins (or rejoins) the group subscribed to `topics` and returns the
    /// partitions this member now owns.
    pub async fn join(&mut self, topics: &[String]) -> Result<Vec<(String, i32)>> {
        self.topics = topics.to_vec();
        if !self.cooperative() {
            // Eager protocols give everything back before rejoining.
            self.assignment.clear();
        }
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            Membership::backoff(attempts).await;
            if self.core.take_reset() {
                self.assignment.clear();
            }
            let subscription = Subscription {
                topics: self.topics.clone(),
                user_data: None,
                owned_partitions: self.assignment.clone(),
                generation_id: self.core.generation(),
                rack_id: None,
            };
            let metadata = bytes::Bytes::from(subscription.encode(SUBSCRIPTION_VERSION));
            let protocols: Vec<(&str, bytes::Bytes)> =
                self.assignors.iter().map(|a| (a.as_str(), metadata.clone())).collect();
            let Some(joined) = self.core.join_once(&protocols).await? else { continue };
            let assignments = if joined.leader {
                self.assign(&joined)
                    .await?
                    .into_iter()
                    .map(|(m, a)| (m, bytes::Bytes::from(a.encode())))
                    .collect()
            } else {
                BTreeMap::new()
            };
            let Some(bytes) = self.core.sync_once(assignments).await? else { continue };
            let new = Assignment::decode(&bytes)
                .map_err(|e| {
                    Error::InvalidArgument(format!("bad assignment from the group leader: {e}"))
                })?
                .partitions;
            let revoked = self
                .assignment
                .iter()
                .any(|(t, ps)| ps.iter().any(|p| !new.get(t).is_some_and(|n| n.contains(p))));
            self.assignment = new;
            // KIP-429: what was taken away is released first, then the
            // member rejoins so the partitions can move.
            if self.cooperative() && revoked {
                continue;
            }
            return Ok(self.owned());
        }
    }

    /// The partitions this member owns.
    pub fn owned(&self) -> Vec<(String, i32)> {
        self.assignment.iter().flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p))).collect()
    }

    /// The leader's job: run the selected assignor over the subscribed
    /// topics' partition counts.
    async fn assign(&self, joined: &Joined) -> Result<BTreeMap<String, Assignment>> {
        let members: Vec<MemberSubscription> = joined
            .members
            .iter()
            .filter_map(|m| {
                Some(MemberSubscription {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    subscription: Subscription::decode(&m.metadata).ok()?,
                })
            })
            .collect();
        let topics: Vec<String> = assignor::subscribed_topics(&members).into_iter().collect();
        let md = self.core.cluster().refresh(Some(&topics), false).await?;
        let counts: BTreeMap<String, i32> = md
            .topics
            .values()
            .filter(|t| t.error_code == 0)
            .map(|t| (t.name.clone(), t.partitions.len() as i32))
            .collect();
        let protocol = joined.protocol.clone().unwrap_or_default();
        assignor::assign(&protocol, &members, &counts).ok_or_else(|| {
            Error::InvalidArgument(format!("the group selected an unknown assignor {protocol}"))
        })
    }

    /// Commits offsets as this generation's member. A failure because the
    /// group moved on asks for a rejoin instead of failing the caller.
    pub async fn commit(&mut self, offsets: &BTreeMap<(String, i32), i64>) -> Result<()> {
        self.core.commit(offsets).await
    }

    /// The group's committed offsets for `partitions` (absent = none).
    pub async fn committed(
        &mut self,
        partitions: &[(String, i32)],
    ) -> Result<BTreeMap<(String, i32), i64>> {
        self.core.committed(partitions).await
    }

    /// LeaveGroup, so the others rebalance now rather than after our session.
    pub async fn leave(&mut self) -> Result<()> {
        self.core.leave().await
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
