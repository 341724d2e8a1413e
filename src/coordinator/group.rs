//! One classic group's state: members, generation, selected protocol,
//! pending joins and syncs, and its committed offsets (Kafka's
//! `GroupMetadata` and `MemberMetadata`). Transitions that need timers or
//! emit records live in `membership` and `offsets`; this file keeps the
//! bookkeeping that has no side effects.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bytes::Bytes;

use super::api::{JoinGroupMember, Protocol, RequestId};
use crate::types::TopicPartition;

/// The protocol type of Kafka consumers; only their metadata is parsed.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// Kafka's group states, named as DescribeGroups and ListGroups print them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// Kafka's `GroupState.validPreviousStates`.
    fn may_follow(self, prev: GroupState) -> bool {
        use GroupState::*;
        match self {
            Dead => true,
            PreparingRebalance => matches!(prev, Stable | CompletingRebalance | Empty),
            CompletingRebalance => prev == PreparingRebalance,
            Stable => prev == CompletingRebalance,
            Empty => prev == PreparingRebalance,
        }
    }
}

/// A committed offset and where its record sits in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: Option<i32>,
    pub metadata: String,
    pub commit_timestamp: i64,
    pub expire_timestamp: Option<i64>,
    /// Offset of the commit record in `__consumer_offsets`; a later record
    /// wins over an earlier one whatever order appends complete in.
    pub log_offset: i64,
}

#[derive(Clone, Debug)]
pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    /// In the member's order of preference, without duplicates.
    pub protocols: Vec<Protocol>,
    pub assignment: Bytes,
    pub awaiting_join: Option<RequestId>,
    pub awaiting_sync: Option<RequestId>,
    /// Joined but not yet through a rebalance: it is timed out by the
    /// new-member join timeout, not by heartbeats.
    pub is_new: bool,
    /// When its session (or new-member join timeout) runs out, if armed.
    pub heartbeat_deadline: Option<i64>,
}

impl Member {
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    /// Whether the member sent the same protocols in the same order, which
    /// lets a follower rejoin without forcing a rebalance.
    pub fn matches(&self, protocols: &[Protocol]) -> bool {
        self.protocols == protocols
    }

    /// Kafka's `hasSatisfiedHeartbeat` at expiry: members waiting in a
    /// rebalance are alive by definition; new members are not.
    pub fn has_satisfied_heartbeat(&self) -> bool {
        !self.is_new && (self.awaiting_join.is_some() || self.awaiting_sync.is_some())
    }

    fn vote(&self, candidates: &BTreeSet<&str>) -> Option<&str> {
        self.protocols.iter().map(|p| p.name.as_str()).find(|p| candidates.contains(p))
    }
}

/// Removes repeated protocol names, keeping the first (most preferred).
pub fn dedup_protocols(protocols: Vec<Protocol>) -> Vec<Protocol> {
    let mut seen = HashSet::new();
    protocols.into_iter().filter(|p| seen.insert(p.name.clone())).collect()
}

/// The pending join: Kafka's DelayedJoin, or an InitialDelayedJoin while the
/// group fills up from Empty (KIP-134).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JoinTimer {
    pub deadline: i64,
    /// `Some((delay, remaining))` for the initial delay.
    pub initial: Option<(i64, i64)>,
}

#[derive(Debug)]
pub struct Group {
    pub group_id: String,
    pub state: GroupState,
    pub state_timestamp: Option<i64>,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader_id: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// group.instance.id → member id.
    pub static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, and when they lapse.
    pub pending_members: HashMap<String, i64>,
    pub pending_sync_members: HashSet<String>,
    pub new_member_added: bool,
    pub join_timer: Option<JoinTimer>,
    /// Deadline for every member to send SyncGroup in this generation.
    pub sync_deadline: Option<i64>,
    /// Topics the consumer members subscribe to; `None` when unknown.
    pub subscribed_topics: Option<BTreeSet<String>>,
    pub offsets: BTreeMap<TopicPartition, CommittedOffset>,
    /// Commits appended but not yet acknowledged by the log.
    pub pending_offset_commits: HashMap<TopicPartition, usize>,
    /// Offsets committed inside open transactions, by producer id: in the
    /// log, effective once the transaction's COMMIT marker is.
    pub pending_txn_offsets: HashMap<i64, BTreeMap<TopicPartition, CommittedOffset>>,
}

impl Group {
    pub fn new(group_id: &str, now: i64) -> Self {
        Group {
            group_id: group_id.to_string(),
            state: GroupState::Empty,
            state_timestamp: Some(now),
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            pending_sync_members: HashSet::new(),
            new_member_added: false,
            join_timer: None,
            sync_deadline: None,
            subscribed_topics: None,
            offsets: BTreeMap::new(),
            pending_offset_commits: HashMap::new(),
            pending_txn_offsets: HashMap::new(),
        }
    }

    pub fn is(&self, state: GroupState) -> bool {
        self.state == state
    }

    pub fn transition_to(&mut self, state: GroupState, now: i64) {
        debug_assert!(state.may_follow(self.state), "{:?} -> {:?}", self.state, state);
        self.state = state;
        self.state_timestamp = Some(now);
    }

    /// Kafka's `canRebalance`.
    pub fn can_rebalance(&self) -> bool {
        GroupState::PreparingRebalance.may_follow(self.state)
    }

    pub fn has(&self, member_id: &str) -> bool {
        self.members.contains_key(member_id)
    }

    pub fn is_leader(&self, member_id: &str) -> bool {
        self.leader_id.as_deref() == Some(member_id)
    }

    pub fn num_awaiting_join(&self) -> usize {
        self.members.values().filter(|m| m.awaiting_join.is_some()).count()
    }

    pub fn has_all_members_joined(&self) -> bool {
        self.members.len() == self.num_awaiting_join() && self.pending_members.is_empty()
    }

    /// The longest rebalance timeout of any member bounds a rebalance.
    pub fn rebalance_timeout_ms(&self) -> i64 {
        self.members.values().map(|m| i64::from(m.rebalance_timeout_ms)).max().unwrap_or(0)
    }

    pub fn current_static_member(&self, instance_id: &str) -> Option<&str> {
        self.static_members.get(instance_id).map(String::as_str)
    }

    /// Kafka's `supportsProtocols`: the first member sets the type; later
    /// ones must share it and support one protocol every member supports.
    pub fn supports_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.is(GroupState::Empty) || self.members.is_empty() {
            !protocol_type.is_empty() && !protocols.is_empty()
        } else {
            self.protocol_type.as_deref() == Some(protocol_type)
                && protocols.iter().any(|p| self.count_supporting(&p.name) == self.members.len())
        }
    }

    fn count_supporting(&self, protocol: &str) -> usize {
        self.members.values().filter(|m| m.protocols.iter().any(|p| p.name == protocol)).count()
    }

    /// Kafka's `selectProtocol`: among the protocols every member supports,
    /// each member votes for its most preferred one and the most votes win.
    /// Kafka breaks ties by hash order; here the tie goes to the earliest
    /// member id's vote, so the choice is reproducible.
    pub fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: BTreeSet<&str> = first
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| self.count_supporting(name) == self.members.len())
            .collect();
        let votes: Vec<&str> = self.members.values().filter_map(|m| m.vote(&candidates)).collect();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for v in &votes {
            *counts.entry(v).or_default() += 1;
        }
        let best = counts.values().copied().max()?;
        votes.into_iter().find(|v| counts[v] == best).map(str::to_string)
    }

    pub fn add_member(&mut self, member: Member) {
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if let Some(instance) = &member.group_instance_id {
            self.static_members.insert(instance.clone(), member.member_id.clone());
        }
        if self.leader_id.is_none() {
            self.leader_id = Some(member.member_id.clone());
        }
        self.pending_members.remove(&member.member_id);
        self.members.insert(member.member_id.clone(), member);
    }

    /// Drops a member from every index; the caller answers its parked
    /// requests and cancels its timer.
    pub fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let member = self.members.remove(member_id);
        if let Some(instance) = member.as_ref().and_then(|m| m.group_instance_id.as_ref()) {
            if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance);
            }
        }
        if self.is_leader(member_id) {
            self.leader_id = self.members.keys().next().cloned();
        }
        self.pending_members.remove(member_id);
        self.pending_sync_members.remove(member_id);
        member
    }

    /// Kafka's `maybeElectNewJoinedLeader`: a leader that did not rejoin
    /// hands over to any member that did.
    pub fn maybe_elect_new_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader_id.clone() else { return false };
        if self.members.get(&leader).is_some_and(|m| m.awaiting_join.is_some()) {
            return true;
        }
        match self.members.values().find(|m| m.awaiting_join.is_some()) {
            Some(m) => {
                self.leader_id = Some(m.member_id.clone());
                true
            }
            None => false,
        }
    }

    /// Members that have not rejoined the current rebalance.
    pub fn not_yet_rejoined(&self) -> Vec<String> {
        self.members
            .values()
            .filter(|m| m.awaiting_join.is_none())
            .map(|m| m.member_id.clone())
            .collect()
    }

    /// Kafka's `initNextGeneration`.
    pub fn init_next_generation(&mut self, now: i64) {
        self.generation_id = self.generation_id.wrapping_add(1);
        if self.members.is_empty() {
            self.protocol_name = None;
            self.subscribed_topics = self.compute_subscribed_topics();
            self.transition_to(GroupState::Empty, now);
        } else {
            self.protocol_name = self.select_protocol();
            self.subscribed_topics = self.compute_subscribed_topics();
            self.transition_to(GroupState::CompletingRebalance, now);
        }
        self.pending_sync_members.clear();
    }

    /// The members and their metadata for the selected protocol, for the
    /// leader's JoinGroup response.
    pub fn current_member_metadata(&self) -> Vec<JoinGroupMember> {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        self.members
            .values()
            .map(|m| JoinGroupMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata(protocol),
            })
            .collect()
    }

    /// Kafka's `computeSubscribedTopics`: the union of the consumers'
    /// subscriptions, read with the v0 prefix every version shares.
    pub fn compute_subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return None;
        }
        if self.members.is_empty() {
            return Some(BTreeSet::new());
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = BTreeSet::new();
        for m in self.members.values() {
            topics.extend(parse_subscription_topics(&m.metadata(protocol))?);
        }
        Some(topics)
    }

    /// Kafka's `isSubscribedToTopic`: unknown subscriptions count as subscribed.
    pub fn is_subscribed_to(&self, topic: &str) -> bool {
        self.subscribed_topics.as_ref().is_none_or(|t| t.contains(topic))
    }

    pub fn has_offsets(&self) -> bool {
        !self.offsets.is_empty()
            || !self.pending_offset_commits.is_empty()
            || !self.pending_txn_offsets.is_empty()
    }

    /// Whether a commit of `tp`, plain or transactional, is not settled yet
    /// (Kafka's `hasPendingOffsetCommitsForTopicPartition`).
    pub fn has_pending_commit(&self, tp: &TopicPartition) -> bool {
        self.pending_offset_commits.contains_key(tp)
            || self.pending_txn_offsets.values().any(|o| o.contains_key(tp))
    }
}

/// Reads the topics of a ConsumerProtocolSubscription: int16 version, then
/// an array of int16-length strings. `None` when malformed.
pub fn parse_subscription_topics(metadata: &[u8]) -> Option<Vec<String>> {
    let mut pos = 2usize;
    let count = i32::from_be_bytes(metadata.get(pos..pos + 4)?.try_into().ok()?);
    pos += 4;
    if count < 0 {
        return None;
    }
    let mut topics = Vec::new();
    for _ in 0..count {
        let len = i16::from_be_bytes(metadata.get(pos..pos + 2)?.try_into().ok()?);
        pos += 2;
        let len = usize::try_from(len).ok()?;
        let name = std::str::from_utf8(metadata.get(pos..pos + len)?).ok()?;
        pos += len;
        topics.push(name.to_string());
    }
    Some(topics)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A ConsumerProtocolSubscription v0 for `topics`.
    pub fn subscription(topics: &[&str]) -> Bytes {
        let mut b = vec![0, 0];
        b.extend_from_slice(&(topics.len() as i32).to_be_bytes());
        for t in topics {
            b.extend_from_slice(&(t.len() as i16).to_be_bytes());
            b.extend_from_slice(t.as_bytes());
        }
        b.extend_from_slice(&(-1i32).to_be_bytes()); // null user data
        Bytes::from(b)
    }

    fn member(id: &str, protocols: &[&str]) -> Member {
        Member {
            member_id: id.into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "h".into(),
            rebalance_timeout_ms: 1000,
            session_timeout_ms: 1000,
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|p| Protocol { name: p.to_string(), metadata: subscription(&["t"]) })
                .collect(),
            assignment: Bytes::new(),
            awaiting_join: None,
            awaiting_sync: None,
            is_new: false,
            heartbeat_deadline: None,
        }
    }

    #[test]
    fn protocol_selection_table() {
        type Case<'a> = (&'a [&'a [&'a str]], Option<&'a str>, &'a str);
        let cases: &[Case] = &[
            (&[&["range", "roundrobin"]], Some("range"), "a lone member gets its first choice"),
            (
                &[&["range", "roundrobin"], &["roundrobin", "range"], &["roundrobin"]],
                Some("roundrobin"),
                "only roundrobin is common to all",
            ),
            (&[&["a", "b"], &["b", "a"], &["b", "a"]], Some("b"), "two votes beat one"),
            (&[&["a", "b"], &["b", "a"]], Some("a"), "a tie goes to the first member id's vote"),
        ];
        for (members, want, why) in cases {
            let mut g = Group::new("g", 0);
            for (i, protocols) in members.iter().enumerate() {
                g.add_member(member(&format!("m{i}"), protocols));
            }
            assert_eq!(g.select_protocol().as_deref(), *want, "{why}");
        }
    }

    #[test]
    fn supports_protocols_table() {
        let mut g = Group::new("g", 0);
        let p = |names: &[&str]| -> Vec<Protocol> {
            names.iter().map(|n| Protocol { name: n.to_string(), metadata: Bytes::new() }).collect()
        };
        assert!(!g.supports_protocols("", &p(&["range"])), "first member needs a protocol type");
        assert!(!g.supports_protocols("consumer", &[]), "first member needs a protocol");
        assert!(g.supports_protocols("consumer", &p(&["range"])));
        g.add_member(member("m1", &["range", "roundrobin"]));
        g.state = GroupState::Stable;
        assert!(g.supports_protocols("consumer", &p(&["roundrobin"])), "shares one protocol");
        assert!(!g.supports_protocols("consumer", &p(&["sticky"])), "unknown protocol");
        assert!(!g.supports_protocols("connect", &p(&["range"])), "different protocol type");
    }

    #[test]
    fn subscription_topics_parse_every_version_prefix() {
        assert_eq!(
            parse_subscription_topics(&subscription(&["a", "b"])),
            Some(vec!["a".into(), "b".into()])
        );
        let mut v3 = subscription(&["x"]).to_vec();
        v3[1] = 3; // later versions only append fields
        v3.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(parse_subscription_topics(&v3), Some(vec!["x".into()]));
        assert_eq!(parse_subscription_topics(b"\0\0\0\0\0\x05"), None, "count past the end");
        assert_eq!(parse_subscription_topics(b""), None, "empty metadata");
    }

    #[test]
    fn removing_the_leader_elects_another() {
        let mut g = Group::new("g", 0);
        g.add_member(member("a", &["range"]));
        g.add_member(member("b", &["range"]));
        assert!(g.is_leader("a"), "the first member to join leads");
        g.remove_member("a");
        assert!(g.is_leader("b"));
        g.remove_member("b");
        assert_eq!(g.leader_id, None);
    }
}
