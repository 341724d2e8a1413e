//! The controller: who leads each partition, decided in this one place, as
//! a pure state machine in the shape of Kafka's `KafkaController` event
//! loop with its `PartitionStateMachine` and `ReplicaStateMachine`.
//!
//! Events go in (this broker won the controller election with a full view
//! of ZooKeeper, brokers registered or gone, topics created or changed,
//! partition states rewritten by their leaders, deletion, election and
//! controlled-shutdown requests); out come znode writes, each batch
//! guarded by the controller epoch's zkVersion and every state update by
//! the state znode's zkVersion, so a stale controller and a concurrent ISR
//! change by a leader both fail instead of overwriting. The controller
//! reads no clock and does no I/O: `cluster::zk_controller` carries the
//! writes out and feeds back what it reads.
//!
//! Brokers learn leadership from the state znodes themselves (every broker
//! follows them through a ZooKeeper watch), so there is no LeaderAndIsr or
//! UpdateMetadata request: the state znode is the one source of truth and
//! the notification at once.
//!
//! Every decision goes through [`Controller::reconcile`]: whatever the
//! event, a partition whose leader is not registered gets an offline
//! election, an ISR naming unregistered brokers is pruned, and a partition
//! without state gets its initial one. That makes every event idempotent
//! and lets a new controller finish what its predecessor left half done.

pub mod election;
mod reassignment;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::types::TopicPartition;

/// The leader of a partition without one.
pub const NO_LEADER: i32 = -1;

/// The most bytes one ZooKeeper multi may carry, by
/// [`ZnodeWrite::encoded_size`]: half of ZooKeeper's default 1 MiB
/// `jute.maxbuffer`, the limit on a request and on its transaction alike.
/// About 2,000 leadership changes fit, so a broker leading 10,000
/// partitions hands them over in five multis, each one transaction and
/// one log sync instead of thousands.
pub const MAX_MULTI_BYTES: usize = 512 * 1024;

/// Leadership of one partition as the state znode holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderAndIsr {
    pub leader: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
}

impl LeaderAndIsr {
    /// Kafka's `newLeaderAndIsr`: every change the controller makes bumps
    /// the leader epoch, so replicas can tell old leadership from new.
    pub fn next(&self, leader: i32, isr: Vec<i32>) -> LeaderAndIsr {
        LeaderAndIsr { leader, leader_epoch: self.leader_epoch.saturating_add(1), isr }
    }
}

/// A state znode as read: its content and the zkVersion a conditional
/// write must name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredState {
    pub leader_and_isr: LeaderAndIsr,
    /// The epoch of the controller that last wrote it.
    pub controller_epoch: i32,
    pub zk_version: i32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionView {
    /// The assigned replicas; the first is the preferred leader. During a
    /// reassignment, the target replicas followed by the original ones
    /// (KIP-455's `RS = TRS + ORS`).
    pub replicas: Vec<i32>,
    /// Replicas a reassignment adds (`adding_replicas` in the topic znode).
    pub adding: Vec<i32>,
    /// Replicas a reassignment removes (`removing_replicas`).
    pub removing: Vec<i32>,
    /// `None` while the state znode does not exist.
    pub state: Option<StoredState>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicView {
    /// `None` for a topic written without an id (0.8's tools, or
    /// `/brokers/topics` edited by hand): the controller gives it one.
    pub topic_id: Option<uuid::Uuid>,
    /// The zkVersion of `/brokers/topics/<t>`.
    pub zk_version: i32,
    /// The topic's `unclean.leader.election.enable` override.
    pub unclean_leader_election: Option<bool>,
    pub partitions: BTreeMap<i32, PartitionView>,
}

/// What a newly elected controller reads from ZooKeeper.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterView {
    pub live_brokers: BTreeSet<i32>,
    pub topics: BTreeMap<String, TopicView>,
    /// Topics under `/admin/delete_topics`.
    pub deletions: BTreeSet<String>,
}

/// `/controller_epoch`: its value, and the zkVersion every controller
/// write checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControllerEpoch {
    pub epoch: i32,
    pub zk_version: i32,
}

/// The broker settings the controller obeys, with Kafka's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControllerConfig {
    /// `unclean.leader.election.enable` (false since 0.11, KIP-106); a
    /// topic's own setting overrides it.
    pub unclean_leader_election_enable: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElectionType {
    Preferred,
    Unclean,
}

impl ElectionType {
    /// The name Kafka prints and the wire value (0 preferred, 1 unclean).
    pub fn name(self) -> &'static str {
        match self {
            ElectionType::Preferred => "PREFERRED",
            ElectionType::Unclean => "UNCLEAN",
        }
    }
}

/// Why an election request left a partition as it was (ElectLeaders'
/// per-partition errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ElectionError {
    #[error("Leader election not needed for topic partition.")]
    ElectionNotNeeded,
    #[error("The preferred leader was not available.")]
    PreferredLeaderNotAvailable,
    #[error("Eligible topic partition leaders are not available.")]
    EligibleLeadersNotAvailable,
    #[error("This server does not host this topic-partition.")]
    UnknownTopicOrPartition,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// This broker won `/controller` (`onControllerFailover`).
    Elected { epoch: ControllerEpoch, view: ClusterView },
    /// Brokers whose `/brokers/ids/<id>` appeared (`onBrokerStartup`).
    BrokersStarted(Vec<i32>),
    /// Brokers whose registration went: their session closed or expired
    /// (`onBrokerFailure`).
    BrokersFailed(Vec<i32>),
    /// A topic znode appeared or changed (new topic, added partitions),
    /// with the states of its partitions as read.
    TopicChanged { name: String, topic: TopicView },
    /// A topic's config overrides changed.
    TopicConfigChanged { name: String, unclean_leader_election: Option<bool> },
    /// `/admin/delete_topics/<t>`.
    TopicDeletionRequested(String),
    /// The topic's znode is gone (deleted by someone else): forget it.
    TopicRemoved(String),
    /// State znodes as read after they changed: a leader's ISR change, or
    /// a conditional write of ours that failed and was read back.
    PartitionStatesChanged(Vec<(TopicPartition, Option<StoredState>)>),
    /// ElectLeaders or `/admin/preferred_replica_election`; `None` means
    /// every partition.
    ElectLeaders { election: ElectionType, partitions: Option<Vec<TopicPartition>> },
    /// ControlledShutdown from a broker about to stop.
    ControlledShutdown(i32),
    /// The periodic `auto.leader.rebalance.enable` check
    /// (`checkAndTriggerAutoLeaderRebalance`).
    CheckLeaderImbalance { percentage: u32 },
    /// AlterPartitionReassignments or `/admin/reassign_partitions`: a
    /// target replica list per partition, `None` to cancel. Only the API
    /// refuses targets naming brokers that are not registered
    /// (`check_live`); Kafka's znode path never checked.
    AlterReassignments { partitions: Vec<(TopicPartition, Option<Vec<i32>>)>, check_live: bool },
}

/// One conditional change in a multi.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZnodeWrite {
    /// setData of a state znode at `expected_zk_version`.
    UpdateState { partition: TopicPartition, state: LeaderAndIsr, expected_zk_version: i32 },
    /// Creates a state znode (and its parents) for a new partition.
    CreateState { partition: TopicPartition, state: LeaderAndIsr },
    /// Rewrites `/brokers/topics/<t>` at `expected_zk_version` with its
    /// replicas and reassignments.
    WriteTopic {
        topic: String,
        partitions: BTreeMap<i32, ReplicaAssignment>,
        topic_id: uuid::Uuid,
        expected_zk_version: i32,
    },
}

impl ZnodeWrite {
    /// An upper bound on the bytes this write adds to a multi request:
    /// the operation header, path, data, version and, for a create, the
    /// ACL and the parents it may need.
    pub fn encoded_size(&self) -> usize {
        // Op header, lengths, version, and digits of every number.
        const OP: usize = 64;
        const PATH: usize = "/brokers/topics//partitions/2147483647/state".len();
        const STATE_JSON: usize =
            r#"{"controller_epoch":-2147483648,"leader":-2147483648,"version":1,"leader_epoch":-2147483648,"isr":[]}"#.len();
        const NUMBER: usize = ",-2147483648".len();
        match self {
            ZnodeWrite::UpdateState { partition, state, .. } => {
                OP + PATH + partition.topic.len() + STATE_JSON + NUMBER * state.isr.len()
            }
            ZnodeWrite::CreateState { partition, state } => {
                // The state, and `partitions` and `partitions/<p>` if missing.
                3 * (OP + PATH + partition.topic.len() + 64) + STATE_JSON + NUMBER * state.isr.len()
            }
            ZnodeWrite::WriteTopic { topic, partitions, .. } => {
                let entries: usize = partitions
                    .values()
                    .map(|a| {
                        3 * (2 * NUMBER + 8)
                            + NUMBER * (a.replicas.len() + a.adding.len() + a.removing.len())
                    })
                    .sum();
                OP + PATH + topic.len() + 256 + entries
            }
        }
    }
}

/// One partition's entry in the topic znode (Kafka's `ReplicaAssignment`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaAssignment {
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

impl ReplicaAssignment {
    pub fn is_being_reassigned(&self) -> bool {
        !self.adding.is_empty() || !self.removing.is_empty()
    }

    /// The replicas before the reassignment began.
    pub fn origin_replicas(&self) -> Vec<i32> {
        self.replicas.iter().copied().filter(|r| !self.adding.contains(r)).collect()
    }

    /// The replicas the reassignment ends with.
    pub fn target_replicas(&self) -> Vec<i32> {
        self.replicas.iter().copied().filter(|r| !self.removing.contains(r)).collect()
    }

    /// Kafka's `reassignTo`: the full set is the target followed by the
    /// original replicas, so the target's first replica is preferred.
    pub fn reassign_to(&self, target: &[i32]) -> ReplicaAssignment {
        let origin = self.origin_replicas();
        let mut replicas: Vec<i32> = Vec::new();
        for &r in target.iter().chain(&origin) {
            if !replicas.contains(&r) {
                replicas.push(r);
            }
        }
        let adding = replicas.iter().copied().filter(|r| !origin.contains(r)).collect();
        let removing = replicas.iter().copied().filter(|r| !target.contains(r)).collect();
        ReplicaAssignment { replicas, adding, removing }
    }
}

/// Why a reassignment request was refused for a partition
/// (AlterPartitionReassignments' per-partition errors).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReassignmentError {
    #[error("The partition {0} does not exist.")]
    UnknownTopicOrPartition(TopicPartition),
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    #[error("No reassignment in progress for partition {0}.")]
    NoReassignmentInProgress(TopicPartition),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// One ZooKeeper multi: `check(/controller_epoch, epoch_zk_version)`,
    /// then every write; all happen or none.
    Multi { controller_epoch: i32, epoch_zk_version: i32, writes: Vec<ZnodeWrite> },
    /// Removes a topic's znodes and its `/admin/delete_topics` entry.
    DeleteTopic(String),
}

/// What one event produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub commands: Vec<Command>,
    /// ElectLeaders: the outcome per partition (the new leader, or why not).
    pub elections: Vec<(TopicPartition, Result<i32, ElectionError>)>,
    /// ControlledShutdown: partitions the broker still leads.
    pub remaining_leaderships: Vec<TopicPartition>,
    /// AlterReassignments: the outcome per partition.
    pub reassignments: Vec<(TopicPartition, Result<(), ReassignmentError>)>,
    /// Set when the event showed a newer controller: stop acting.
    pub resign: bool,
}

pub struct Controller {
    config: ControllerConfig,
    epoch: ControllerEpoch,
    live: BTreeSet<i32>,
    /// Brokers in controlled shutdown: registered, but not to be elected.
    shutting_down: BTreeSet<i32>,
    topics: BTreeMap<String, TopicView>,
    /// Topics marked for deletion, with the id they had, until their
    /// znode is gone: a deletion removes children first, and the half-
    /// deleted topic it shows meanwhile must not be taken for one with new
    /// partitions and written back (Kafka's controller likewise leaves a
    /// topic queued for deletion alone).
    deleting: BTreeMap<String, Option<uuid::Uuid>>,
    /// Writes decided while handling the current event.
    pending: PendingWrites,
}

/// The writes one event decided, with where each znode's write sits, so
/// that a second decision on a znode replaces the first without a scan:
/// a broker leading 10,000 partitions queues 10,000 writes in one event.
#[derive(Default)]
struct PendingWrites {
    writes: Vec<ZnodeWrite>,
    states: HashMap<TopicPartition, usize>,
    topics: HashMap<String, usize>,
}

impl PendingWrites {
    fn state_mut(&mut self, tp: &TopicPartition) -> Option<&mut LeaderAndIsr> {
        match self.writes.get_mut(*self.states.get(tp)?)? {
            ZnodeWrite::UpdateState { state, .. } | ZnodeWrite::CreateState { state, .. } => {
                Some(state)
            }
            ZnodeWrite::WriteTopic { .. } => None,
        }
    }

    fn topic_mut(&mut self, name: &str) -> Option<&mut BTreeMap<i32, ReplicaAssignment>> {
        match self.writes.get_mut(*self.topics.get(name)?)? {
            ZnodeWrite::WriteTopic { partitions, .. } => Some(partitions),
            _ => None,
        }
    }

    fn push(&mut self, write: ZnodeWrite) {
        let at = self.writes.len();
        match &write {
            ZnodeWrite::UpdateState { partition, .. }
            | ZnodeWrite::CreateState { partition, .. } => {
                self.states.insert(partition.clone(), at);
            }
            ZnodeWrite::WriteTopic { topic, .. } => {
                self.topics.insert(topic.clone(), at);
            }
        }
        self.writes.push(write);
    }

    fn take(&mut self) -> Vec<ZnodeWrite> {
        self.states.clear();
        self.topics.clear();
        std::mem::take(&mut self.writes)
    }
}

impl Controller {
    /// The controller after winning `/controller` with `epoch`; the
    /// `Elected` event it must handle first carries the view.
    pub fn new(config: ControllerConfig, epoch: ControllerEpoch) -> Controller {
        Controller {
            config,
            epoch,
            live: BTreeSet::new(),
            shutting_down: BTreeSet::new(),
            topics: BTreeMap::new(),
            deleting: BTreeMap::new(),
            pending: PendingWrites::default(),
        }
    }

    pub fn epoch(&self) -> ControllerEpoch {
        self.epoch
    }

    pub fn live_brokers(&self) -> &BTreeSet<i32> {
        &self.live
    }

    /// The topics the controller knows, those being deleted included, so
    /// that their znode's removal is reported as [`Event::TopicRemoved`].
    pub fn topic_names(&self) -> BTreeSet<String> {
        self.topics.keys().chain(self.deleting.keys()).cloned().collect()
    }

    /// The controller's current belief about a partition.
    pub fn partition(&self, tp: &TopicPartition) -> Option<&PartitionView> {
        self.topics.get(&tp.topic)?.partitions.get(&tp.partition.0)
    }

    pub fn handle(&mut self, event: Event) -> Output {
        let mut out = Output::default();
        let mut deletions = Vec::new();
        match event {
            Event::Elected { epoch, view } => {
                self.epoch = epoch;
                self.live = view.live_brokers;
                self.shutting_down.clear();
                self.topics = view.topics;
                for name in view.deletions {
                    self.mark_deleting(&name);
                    deletions.push(name);
                }
                if self.newer_controller_seen() {
                    out.resign = true;
                    return out;
                }
                let names: Vec<String> = self.topics.keys().cloned().collect();
                for name in names {
                    self.reconcile_topic(&name);
                }
            }
            Event::BrokersStarted(ids) => {
                for id in &ids {
                    self.live.insert(*id);
                    // A broker that registers again has restarted: whatever
                    // shutdown it asked for is over.
                    self.shutting_down.remove(id);
                }
                tracing::info!("brokers started: {ids:?}");
                self.reconcile_where(|p| {
                    p.state.is_none() || ids.iter().any(|b| p.replicas.contains(b))
                });
            }
            Event::BrokersFailed(ids) => {
                for id in &ids {
                    self.live.remove(id);
                    self.shutting_down.remove(id);
                }
                tracing::info!("brokers failed: {ids:?}");
                self.reconcile_where(|p| ids.iter().any(|b| p.replicas.contains(b)));
            }
            Event::TopicChanged { name, mut topic } => {
                match self.deleting.get(&name) {
                    Some(id) if *id == topic.topic_id => {
                        out.commands = self.take_commands();
                        return out;
                    }
                    // The same name with another id: a new topic.
                    Some(_) => {
                        self.deleting.remove(&name);
                    }
                    None => {}
                }
                if let Some(old) = self.topics.get(&name) {
                    // The config override arrives with its own event.
                    topic.unclean_leader_election = old.unclean_leader_election;
                }
                self.topics.insert(name.clone(), topic);
                self.reconcile_topic(&name);
            }
            Event::TopicConfigChanged { name, unclean_leader_election } => {
                if let Some(t) = self.topics.get_mut(&name) {
                    t.unclean_leader_election = unclean_leader_election;
                    self.reconcile_topic(&name);
                }
            }
            Event::TopicDeletionRequested(name) => {
                self.mark_deleting(&name);
                deletions.push(name);
            }
            Event::TopicRemoved(name) => {
                self.topics.remove(&name);
                self.deleting.remove(&name);
            }
            Event::PartitionStatesChanged(states) => {
                for (tp, state) in states {
                    if let Some(p) = self
                        .topics
                        .get_mut(&tp.topic)
                        .and_then(|t| t.partitions.get_mut(&tp.partition.0))
                    {
                        p.state = state;
                    }
                }
                if self.newer_controller_seen() {
                    out.resign = true;
                    return out;
                }
                let all: Vec<(String, i32)> = self.partition_keys();
                for (topic, p) in all {
                    self.reconcile(&topic, p);
                }
            }
            Event::ElectLeaders { election, partitions } => {
                let targets = match partitions {
                    Some(list) => list,
                    None => self
                        .partition_keys()
                        .into_iter()
                        .map(|(t, p)| TopicPartition::new(t, p))
                        .collect(),
                };
                for tp in targets {
                    let result = self.elect(&tp, election);
                    out.elections.push((tp, result));
                }
            }
            Event::ControlledShutdown(broker) => {
                out.remaining_leaderships = self.controlled_shutdown(broker);
            }
            Event::CheckLeaderImbalance { percentage } => {
                for tp in self.imbalanced_partitions(percentage) {
                    let _ = self.elect(&tp, ElectionType::Preferred);
                }
            }
            Event::AlterReassignments { partitions, check_live } => {
                for (tp, target) in partitions {
                    let result = self.alter_reassignment(&tp, target, check_live);
                    out.reassignments.push((tp, result));
                }
            }
        }
        out.commands = self.take_commands();
        out.commands.extend(deletions.into_iter().map(Command::DeleteTopic));
        out
    }

    fn mark_deleting(&mut self, name: &str) {
        let id = self.topics.remove(name).and_then(|t| t.topic_id);
        self.deleting.entry(name.to_string()).or_insert(id);
    }

    /// A state znode written by a controller with a higher epoch means
    /// this one has been replaced (Kafka's `ControllerMovedException`).
    fn newer_controller_seen(&self) -> bool {
        let mine = self.epoch.epoch;
        self.topics
            .values()
            .flat_map(|t| t.partitions.values())
            .any(|p| p.state.as_ref().is_some_and(|s| s.controller_epoch > mine))
    }

    fn partition_keys(&self) -> Vec<(String, i32)> {
        self.topics
            .iter()
            .flat_map(|(name, t)| t.partitions.keys().map(move |p| (name.clone(), *p)))
            .collect()
    }

    fn reconcile_where(&mut self, affected: impl Fn(&PartitionView) -> bool) {
        let keys: Vec<(String, i32)> = self
            .topics
            .iter()
            .flat_map(|(name, t)| {
                t.partitions
                    .iter()
                    .filter(|(_, p)| affected(p))
                    .map(move |(p, _)| (name.clone(), *p))
            })
            .collect();
        for (topic, p) in keys {
            self.reconcile(&topic, p);
        }
    }

    fn reconcile_topic(&mut self, name: &str) {
        let Some(t) = self.topics.get(name) else { return };
        if t.topic_id.is_none() {
            self.write_topic(name);
        }
        let Some(t) = self.topics.get(name) else { return };
        let parts: Vec<i32> = t.partitions.keys().copied().collect();
        for p in parts {
            self.reconcile(name, p);
        }
    }

    fn registered(&self, b: i32) -> bool {
        self.live.contains(&b)
    }

    fn can_lead(&self, b: i32) -> bool {
        self.live.contains(&b) && !self.shutting_down.contains(&b)
    }

    fn unclean_enabled(&self, topic: &str) -> bool {
        self.topics
            .get(topic)
            .and_then(|t| t.unclean_leader_election)
            .unwrap_or(self.config.unclean_leader_election_enable)
    }

    /// Brings one partition to the state the rules require, if it is not
    /// there: the heart of every event.
    fn reconcile(&mut self, topic: &str, partition: i32) {
        let Some(view) = self.topics.get(topic).and_then(|t| t.partitions.get(&partition)) else {
            return;
        };
        let tp = TopicPartition::new(topic, partition);
        let Some(stored) = &view.state else {
            if let Some(state) =
                election::initial_leader_and_isr(&view.replicas, |b| self.can_lead(b))
            {
                self.write(tp, state);
            }
            return;
        };
        let current = &stored.leader_and_isr;
        if current.leader == NO_LEADER && current.isr.is_empty() {
            // Created while none of its replicas was registered: still new.
            if let Some(init) =
                election::initial_leader_and_isr(&view.replicas, |b| self.can_lead(b))
            {
                let next = current.next(init.leader, init.isr);
                self.write(tp, next);
            }
            return;
        }
        let next = if self.registered(current.leader) {
            let isr = election::isr_without(&current.isr, current.leader, |b| self.registered(b));
            (isr != current.isr).then(|| current.next(current.leader, isr))
        } else {
            let unclean = self.unclean_enabled(topic);
            match election::offline_partition_leader(
                &view.replicas,
                &current.isr,
                |b| self.can_lead(b),
                unclean,
            ) {
                Some(chosen) => {
                    if chosen.unclean {
                        tracing::warn!(
                            "Unclean leader election. Previous leader was {}, ISR {:?}; electing {} \
                             for {tp}: records acknowledged by the old ISR may be lost",
                            current.leader,
                            current.isr,
                            chosen.leader
                        );
                    }
                    Some(election::after_offline_election(current, chosen, |b| self.registered(b)))
                }
                None => {
                    let next = election::offline(current, |b| self.registered(b));
                    let changed = next.leader != current.leader || next.isr != current.isr;
                    if changed {
                        tracing::warn!(
                            "no replica of {tp} in the ISR {:?} is alive and unclean leader \
                             election is disabled: the partition is offline",
                            current.isr
                        );
                    }
                    changed.then_some(next)
                }
            }
        };
        if let Some(next) = next {
            self.write(tp.clone(), next);
        }
        self.maybe_complete_reassignment(&tp);
    }

    /// Records a decision: the controller's view takes it at once (the
    /// zkVersion a successful setData produces), and the write is queued.
    /// If the multi fails the runtime reads the znodes back and reports
    /// them with `PartitionStatesChanged`, which overwrites this belief.
    fn write(&mut self, tp: TopicPartition, state: LeaderAndIsr) {
        let epoch = self.epoch.epoch;
        let Some(view) =
            self.topics.get_mut(&tp.topic).and_then(|t| t.partitions.get_mut(&tp.partition.0))
        else {
            return;
        };
        tracing::debug!(
            "{tp}: leader {} epoch {} isr {:?}",
            state.leader,
            state.leader_epoch,
            state.isr
        );
        // A second decision on the same znode in one event replaces the
        // first: one write per znode keeps each conditional on the version
        // actually read.
        if let Some(queued) = self.pending.state_mut(&tp) {
            *queued = state.clone();
            if let Some(s) = view.state.as_mut() {
                s.leader_and_isr = state;
            }
            return;
        }
        let write = match &view.state {
            Some(s) => ZnodeWrite::UpdateState {
                partition: tp,
                state: state.clone(),
                expected_zk_version: s.zk_version,
            },
            None => ZnodeWrite::CreateState { partition: tp, state: state.clone() },
        };
        let zk_version = view.state.as_ref().map_or(0, |s| s.zk_version + 1);
        view.state =
            Some(StoredState { leader_and_isr: state, controller_epoch: epoch, zk_version });
        self.pending.push(write);
    }

    /// Queues a rewrite of the topic znode from the controller's view of
    /// its assignment, replacing one already queued in this event.
    fn write_topic(&mut self, name: &str) {
        let Some(t) = self.topics.get_mut(name) else { return };
        let partitions: BTreeMap<i32, ReplicaAssignment> = t
            .partitions
            .iter()
            .map(|(p, v)| {
                let a = ReplicaAssignment {
                    replicas: v.replicas.clone(),
                    adding: v.adding.clone(),
                    removing: v.removing.clone(),
                };
                (*p, a)
            })
            .collect();
        if let Some(queued) = self.pending.topic_mut(name) {
            *queued = partitions;
            return;
        }
        // A topic without an id gets one here, once, so later rewrites of
        // the znode keep it.
        let topic_id = *t.topic_id.get_or_insert_with(uuid::Uuid::new_v4);
        self.pending.push(ZnodeWrite::WriteTopic {
            topic: name.to_string(),
            partitions,
            topic_id,
            expected_zk_version: t.zk_version,
        });
        t.zk_version += 1;
    }

    /// The queued writes in as few multis as [`MAX_MULTI_BYTES`] allows.
    fn take_commands(&mut self) -> Vec<Command> {
        let multi = |writes| Command::Multi {
            controller_epoch: self.epoch.epoch,
            epoch_zk_version: self.epoch.zk_version,
            writes,
        };
        let mut commands = Vec::new();
        let mut batch: Vec<ZnodeWrite> = Vec::new();
        let mut bytes = 0;
        for w in self.pending.take() {
            let size = w.encoded_size();
            if !batch.is_empty() && bytes + size > MAX_MULTI_BYTES {
                commands.push(multi(std::mem::take(&mut batch)));
                bytes = 0;
            }
            bytes += size;
            batch.push(w);
        }
        if !batch.is_empty() {
            commands.push(multi(batch));
        }
        commands
    }

    fn elect(&mut self, tp: &TopicPartition, election: ElectionType) -> Result<i32, ElectionError> {
        let view = self.partition(tp).ok_or(ElectionError::UnknownTopicOrPartition)?;
        let Some(stored) = &view.state else {
            return Err(ElectionError::EligibleLeadersNotAvailable);
        };
        let current = &stored.leader_and_isr;
        let next = match election {
            ElectionType::Preferred => {
                if view.replicas.first() == Some(&current.leader) {
                    return Err(ElectionError::ElectionNotNeeded);
                }
                let leader =
                    election::preferred_leader(&view.replicas, &current.isr, |b| self.can_lead(b))
                        .ok_or(ElectionError::PreferredLeaderNotAvailable)?;
                current.next(leader, current.isr.clone())
            }
            // KIP-460: only a partition without a live leader is elected
            // uncleanly; the topic's own setting does not matter then.
            ElectionType::Unclean => {
                if self.registered(current.leader) {
                    return Err(ElectionError::ElectionNotNeeded);
                }
                let chosen = election::offline_partition_leader(
                    &view.replicas,
                    &current.isr,
                    |b| self.can_lead(b),
                    true,
                )
                .ok_or(ElectionError::EligibleLeadersNotAvailable)?;
                if chosen.unclean {
                    tracing::warn!("Unclean leader election requested for {tp}: electing {}; records acknowledged by the old ISR {:?} may be lost", chosen.leader, current.isr);
                }
                election::after_offline_election(current, chosen, |b| self.registered(b))
            }
        };
        let leader = next.leader;
        self.write(tp.clone(), next);
        Ok(leader)
    }

    /// `doControlledShutdown`: moves the broker's leaderships to the first
    /// ISR replica that is not shutting down and takes it out of the ISRs
    /// it follows in; returns what it still leads (partitions with one
    /// replica, or no other ISR member to take over).
    fn controlled_shutdown(&mut self, broker: i32) -> Vec<TopicPartition> {
        if !self.live.contains(&broker) {
            return Vec::new();
        }
        self.shutting_down.insert(broker);
        // Decided in one pass over the view, then queued: no per-partition
        // lookups, whatever the number of partitions.
        let mut remaining = Vec::new();
        let mut moves = Vec::new();
        let not_stopping = |b: &i32| *b != broker;
        for (topic, t) in &self.topics {
            for (&p, view) in &t.partitions {
                let Some(stored) = &view.state else { continue };
                if view.replicas.len() < 2 || !view.replicas.contains(&broker) {
                    continue;
                }
                let current = &stored.leader_and_isr;
                let next = if current.leader == broker {
                    match election::controlled_shutdown_leader(&view.replicas, &current.isr, |b| {
                        self.can_lead(b)
                    }) {
                        Some(leader) => Some(current.next(
                            leader,
                            current.isr.iter().copied().filter(not_stopping).collect(),
                        )),
                        None => {
                            remaining.push(TopicPartition::new(topic.clone(), p));
                            None
                        }
                    }
                } else if current.isr.contains(&broker) && current.isr.len() > 1 {
                    Some(current.next(
                        current.leader,
                        current.isr.iter().copied().filter(not_stopping).collect(),
                    ))
                } else {
                    None
                };
                if let Some(next) = next {
                    moves.push((TopicPartition::new(topic.clone(), p), next));
                }
            }
        }
        for (tp, next) in moves {
            self.write(tp, next);
        }
        remaining
    }

    /// Partitions with more than one replica that `broker` leads as this
    /// controller believes: what a controlled shutdown still has to move
    /// (Kafka's `partitionsLedByBroker` filtered to replicated partitions).
    pub fn replicated_leaderships_of(&self, broker: i32) -> Vec<TopicPartition> {
        self.topics
            .iter()
            .flat_map(|(name, t)| {
                t.partitions
                    .iter()
                    .filter(move |(_, v)| {
                        v.replicas.len() > 1
                            && v.state.as_ref().is_some_and(|s| s.leader_and_isr.leader == broker)
                    })
                    .map(move |(p, _)| TopicPartition::new(name.clone(), *p))
            })
            .collect()
    }

    /// `checkAndTriggerAutoLeaderRebalance`: for each broker, the share of
    /// the partitions it prefers to lead that it does not lead; above
    /// `percentage` percent, those partitions get a preferred election
    /// when their preferred replica can lead and is in the ISR.
    fn imbalanced_partitions(&self, percentage: u32) -> Vec<TopicPartition> {
        let mut by_preferred: BTreeMap<i32, (usize, Vec<TopicPartition>)> = BTreeMap::new();
        for (name, t) in &self.topics {
            for (p, view) in &t.partitions {
                let (Some(&preferred), Some(s)) = (view.replicas.first(), &view.state) else {
                    continue;
                };
                // Kafka leaves partitions being reassigned to the reassignment.
                if !view.adding.is_empty() || !view.removing.is_empty() {
                    continue;
                }
                let entry = by_preferred.entry(preferred).or_default();
                entry.0 += 1;
                if s.leader_and_isr.leader != preferred {
                    entry.1.push(TopicPartition::new(name.clone(), *p));
                }
            }
        }
        let mut out = Vec::new();
        for (broker, (total, not_led)) in by_preferred {
            if total == 0 || !self.can_lead(broker) {
                continue;
            }
            let ratio = not_led.len() as f64 / total as f64;
            if ratio > f64::from(percentage) / 100.0 {
                for tp in not_led {
                    let eligible = self
                        .partition(&tp)
                        .and_then(|v| v.state.as_ref())
                        .is_some_and(|s| s.leader_and_isr.isr.contains(&broker));
                    if eligible {
                        out.push(tp);
                    }
                }
            }
        }
        out
    }
}
