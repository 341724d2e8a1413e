//! Runs `crate::controller` against ZooKeeper: wins `/controller`, reads
//! the controller's view, turns watch events into controller events and
//! carries out the writes it returns. No rule about who leads lives here.
//!
//! Every controller write is a multi that starts with
//! `check(/controller_epoch, zkVersion)`: when another broker has won the
//! controller since, the check fails, nothing is written, and this broker
//! resigns (Kafka's `ControllerMovedException`). A state znode changed
//! under us (a leader shrank its ISR) fails its own version check; the
//! znodes of that multi are read back and the controller decides again.
//!
//! Speed: the controller keeps its view in memory and reacts to the path a
//! watch reports: a `/brokers/ids/<id>` deletion is acted on before
//! anything is read, so a broker's failure costs the multis themselves,
//! whatever the number of partitions.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use zookeeper_client as zkc;

use super::zk_store::{ephemeral, open, unavailable};
use super::znodes as z;
use super::Error;
use crate::controller::{
    ClusterView, Command, Controller, ControllerConfig, ControllerEpoch, ElectionError,
    ElectionType, Event, LeaderAndIsr, Output, PartitionView, ReassignmentError, ReplicaAssignment,
    StoredState, TopicView, ZnodeWrite,
};
use crate::types::TopicPartition;

/// Rounds of "write, read back what failed, decide again" before giving up
/// until the next change.
const MAX_WRITE_ROUNDS: usize = 5;

/// Rounds of controlled-shutdown moves for one request; a broker told some
/// leaderships remain asks again after its backoff.
const CONTROLLED_SHUTDOWN_ROUNDS: usize = 3;

/// Reads per ZooKeeper multiRead.
const READS_PER_MULTI: usize = 1000;
/// Writes per multi of a bulk deletion: about 60 bytes each, far below
/// ZooKeeper's default 1 MiB request limit (`jute.maxbuffer`).
const WRITES_PER_MULTI: usize = 1000;

/// A watch event and when this broker received it.
pub type Noticed = (Instant, zkc::WatchedEvent);

/// Requests other code makes of the controller, answered once handled.
pub enum Request {
    ElectLeaders {
        election: ElectionType,
        partitions: Option<Vec<TopicPartition>>,
        reply: tokio::sync::oneshot::Sender<Result<ElectionResults, Error>>,
    },
    AlterReassignments {
        partitions: Vec<(TopicPartition, Option<Vec<i32>>)>,
        reply: tokio::sync::oneshot::Sender<Result<ReassignmentResults, Error>>,
    },
    ListReassignments {
        partitions: Option<Vec<TopicPartition>>,
        reply: tokio::sync::oneshot::Sender<Result<OngoingReassignments, Error>>,
    },
}

impl Request {
    /// Answers that this broker cannot act as controller.
    pub fn refuse(self) {
        match self {
            Request::ElectLeaders { reply, .. } => {
                let _ = reply.send(Err(Error::NotController));
            }
            Request::AlterReassignments { reply, .. } => {
                let _ = reply.send(Err(Error::NotController));
            }
            Request::ListReassignments { reply, .. } => {
                let _ = reply.send(Err(Error::NotController));
            }
        }
    }
}

pub type ElectionResults = Vec<(TopicPartition, Result<i32, ElectionError>)>;

pub type ReassignmentResults = Vec<(TopicPartition, Result<(), ReassignmentError>)>;

pub type OngoingReassignments = Vec<(TopicPartition, ReplicaAssignment)>;

/// This broker's controller role: idle, or active with its state machine.
pub struct ZkController {
    config: ControllerConfig,
    active: Option<Controller>,
    /// `/admin/reassign_partitions` as last acted on (czxid, version).
    reassign_znode_seen: Option<(i64, i32)>,
    /// What this controller wrote of the image since [`Self::take_written`].
    written: Written,
}

/// The image znodes a controller wrote: the broker re-reads them before it
/// answers anything else, so its own Metadata never lags its decisions.
#[derive(Debug, Default)]
pub struct Written {
    pub states: BTreeSet<TopicPartition>,
    /// Anything beyond state updates: topics, new states, deletions.
    pub other: bool,
}

impl ZkController {
    pub fn new(config: ControllerConfig) -> ZkController {
        ZkController {
            config,
            active: None,
            reassign_znode_seen: None,
            written: Written::default(),
        }
    }

    pub fn take_written(&mut self) -> Written {
        std::mem::take(&mut self.written)
    }

    pub fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// Called after each batch of watch events (and periodically with
    /// none): takes `/controller` if it is free, then acts on what changed.
    pub async fn on_change(
        &mut self,
        c: &zkc::Client,
        my_id: i32,
        events: &[Noticed],
    ) -> Result<(), Error> {
        if self.active.is_none() {
            return self.maybe_become_controller(c, my_id).await;
        }
        // Before anything is read: the dead brokers' leaderships are what
        // failover waits on, and the watch already named them. Each multi
        // checks `/controller_epoch`, so a controller that lost its place
        // meanwhile writes nothing and resigns, whatever it skipped here.
        let gone = self.brokers_gone(events);
        if !gone.is_empty() {
            let noticed = events.iter().map(|(at, _)| *at).min();
            self.brokers_failed(c, my_id, gone, noticed).await?;
            if self.active.is_none() {
                return Ok(());
            }
        }
        let current = get(c, z::CONTROLLER).await?.and_then(|(d, _)| z::parse_controller(&d));
        if current != Some(my_id) {
            tracing::info!(
                "broker {my_id} is no longer the controller (now {current:?}); resigning"
            );
            self.active = None;
            return Ok(());
        }
        self.handle_events(c, my_id, events).await
    }

    async fn maybe_become_controller(&mut self, c: &zkc::Client, my_id: i32) -> Result<(), Error> {
        let current = get(c, z::CONTROLLER).await?.and_then(|(d, _)| z::parse_controller(&d));
        let epoch = match current {
            None => match elect(c, my_id).await? {
                Some(epoch) => epoch,
                None => return Ok(()),
            },
            // Registration won the election (see `register`); the epoch
            // it wrote is the current one unless another controller
            // followed, which `/controller` naming us rules out.
            Some(id) if id == my_id => read_controller_epoch(c).await?,
            Some(_) => return Ok(()),
        };
        let started = Instant::now();
        let view = read_view(c).await?;
        let read = started.elapsed();
        let partitions: usize = view.topics.values().map(|t| t.partitions.len()).sum();
        let mut machine = Controller::new(self.config.clone(), epoch);
        let out = machine.handle(Event::Elected { epoch, view });
        self.active = Some(machine);
        tracing::info!(
            "broker {my_id} took over as controller (epoch {}): read {partitions} partitions in {:?}",
            epoch.epoch,
            read
        );
        let (writes, multis) = (count_writes(&out), out.commands.len());
        self.carry_out(c, my_id, out).await?;
        tracing::info!(
            "controller failover: read {partitions} partitions in {:.1} ms, wrote {writes} \
             partition states in {multis} multi(s); {:.1} ms from taking /controller",
            read.as_secs_f64() * 1e3,
            started.elapsed().as_secs_f64() * 1e3
        );
        // `onControllerFailover` resumes what the znode asked for.
        self.reassign_partitions_znode(c, my_id, true).await
    }

    async fn handle_events(
        &mut self,
        c: &zkc::Client,
        my_id: i32,
        events: &[Noticed],
    ) -> Result<(), Error> {
        let Some(machine) = self.active.as_ref() else { return Ok(()) };
        // The listing catches what no event named: a failure whose event
        // was lost across a reconnect, a broker that registered again.
        let live: BTreeSet<i32> =
            list(c, z::BROKER_IDS).await?.iter().filter_map(|s| s.parse().ok()).collect();
        let failed: Vec<i32> = machine.live_brokers().difference(&live).copied().collect();
        let started: Vec<i32> = live.difference(machine.live_brokers()).copied().collect();
        if !failed.is_empty() {
            self.brokers_failed(c, my_id, failed, None).await?;
        }
        if !started.is_empty() {
            let out = self.machine()?.handle(Event::BrokersStarted(started));
            self.carry_out(c, my_id, out).await?;
        }

        // Topics that appeared, disappeared or changed, and their configs.
        let names: BTreeSet<String> =
            super::zk_store::valid_topics(list(c, z::TOPICS).await?).into_iter().collect();
        let mut changed: BTreeSet<String> = BTreeSet::new();
        let mut configs: BTreeSet<String> = BTreeSet::new();
        let mut states: BTreeSet<(String, i32)> = BTreeSet::new();
        let mut preferred = false;
        for (_, e) in events {
            match classify(&e.path) {
                Some(Path::Topic(t)) => {
                    changed.insert(t);
                }
                Some(Path::State(t, p)) => {
                    states.insert((t, p));
                }
                Some(Path::Config(t)) => {
                    configs.insert(t);
                }
                Some(Path::PreferredElection) => preferred = true,
                Some(Path::ReassignPartitions) => {}
                Some(Path::ControlledShutdown) => {}
                None => {}
            }
        }
        let known: BTreeSet<String> = self.machine()?.topic_names();
        changed.extend(names.difference(&known).cloned());
        for gone in known.difference(&names) {
            self.machine()?.handle(Event::TopicRemoved(gone.clone()));
        }
        // Topics created together (a thousand at once) are read together,
        // and their writes go out together.
        let mut out = Output::default();
        for (name, topic) in read_topic_views(c, changed.iter().cloned().collect()).await? {
            let more = self.machine()?.handle(Event::TopicChanged { name, topic });
            out.resign |= more.resign;
            out.commands.extend(more.commands);
        }
        self.carry_out(c, my_id, out).await?;
        for name in configs.difference(&changed) {
            let unclean = read_unclean_override(c, name).await?;
            let out = self.machine()?.handle(Event::TopicConfigChanged {
                name: name.clone(),
                unclean_leader_election: unclean,
            });
            self.carry_out(c, my_id, out).await?;
        }
        let states: Vec<TopicPartition> = states
            .into_iter()
            .filter(|(t, _)| !changed.contains(t))
            .map(|(t, p)| TopicPartition::new(t, p))
            .collect();
        if !states.is_empty() {
            let read = read_states(c, &states).await?;
            let out = self.machine()?.handle(Event::PartitionStatesChanged(read));
            self.carry_out(c, my_id, out).await?;
        }
        for name in list(c, z::DELETE_TOPICS).await? {
            let out = self.machine()?.handle(Event::TopicDeletionRequested(name));
            self.carry_out(c, my_id, out).await?;
        }
        if preferred {
            self.preferred_replica_election_znode(c, my_id).await?;
        }
        // Read on every pass, not only on its watch event: a content not
        // yet acted on is started whatever became of the event.
        self.reassign_partitions_znode(c, my_id, false).await?;
        let asked = events
            .iter()
            .filter(|(_, e)| matches!(classify(&e.path), Some(Path::ControlledShutdown)))
            .map(|(at, _)| *at)
            .min();
        self.controlled_shutdown_requests(c, my_id, asked).await
    }

    /// The live brokers whose `/brokers/ids/<id>` `events` report deleted
    /// (a session that expired or closed). One that has registered again
    /// since is found by the listing that follows and started again, as
    /// Kafka handles a bounced broker.
    fn brokers_gone(&self, events: &[Noticed]) -> Vec<i32> {
        let Some(machine) = self.active.as_ref() else { return Vec::new() };
        let mut gone: Vec<i32> = events
            .iter()
            .filter(|(_, e)| e.event_type == zkc::EventType::NodeDeleted)
            .filter_map(|(_, e)| z::broker_id_of(&e.path))
            .filter(|id| machine.live_brokers().contains(id))
            .collect();
        gone.sort_unstable();
        gone.dedup();
        gone
    }

    /// Moves the leaderships of `failed` away; `noticed` is when the watch
    /// event that told of them arrived (None: found by a listing).
    async fn brokers_failed(
        &mut self,
        c: &zkc::Client,
        my_id: i32,
        failed: Vec<i32>,
        noticed: Option<Instant>,
    ) -> Result<(), Error> {
        let begun = Instant::now();
        let out = self.machine()?.handle(Event::BrokersFailed(failed.clone()));
        let writes = count_writes(&out);
        let multis = out.commands.len();
        self.carry_out(c, my_id, out).await?;
        let since_watch = match noticed {
            Some(n) => format!("{:.1} ms after the watch fired", n.elapsed().as_secs_f64() * 1e3),
            None => "found by listing /brokers/ids".to_string(),
        };
        tracing::info!(
            "controller: brokers {failed:?} failed; wrote {writes} partition states in {multis} \
             multi(s) in {:.1} ms ({since_watch})",
            begun.elapsed().as_secs_f64() * 1e3,
        );
        Ok(())
    }

    /// Answers every pending `/admin/controlled_shutdown/<id>` (created
    /// empty by a stopping broker) with the partitions it still leads.
    async fn controlled_shutdown_requests(
        &mut self,
        c: &zkc::Client,
        my_id: i32,
        asked: Option<Instant>,
    ) -> Result<(), Error> {
        for id in list(c, z::CONTROLLED_SHUTDOWN).await? {
            let Ok(broker) = id.parse::<i32>() else { continue };
            let path = z::controlled_shutdown(broker);
            let Some((data, stat)) = get(c, &path).await? else { continue };
            if !data.is_empty() {
                continue;
            }
            // A move can lose its conditional write to the stopping leader's
            // own ISR change; read back, the partition is still its own, so
            // the moves are decided again on the state read. The answer is
            // what it leads after them: told "none" while it still led, a
            // broker would stop as leader and take its partitions offline
            // until it came back.
            let begun = Instant::now();
            let mut writes = 0;
            let mut multis = 0;
            for _ in 0..CONTROLLED_SHUTDOWN_ROUNDS {
                let out = self.machine()?.handle(Event::ControlledShutdown(broker));
                let round = count_writes(&out);
                if round == 0 {
                    break;
                }
                writes += round;
                multis += out.commands.len();
                self.carry_out(c, my_id, out).await?;
            }
            let remaining = self.machine()?.replicated_leaderships_of(broker);
            let since_watch = match asked {
                Some(at) => {
                    format!("{:.1} ms after the watch fired", at.elapsed().as_secs_f64() * 1e3)
                }
                None => "found by listing the requests".to_string(),
            };
            tracing::info!(
                "controller: controlled shutdown of broker {broker}: {writes} leaderships moved \
                 or ISRs shrunk, {} remain; {multis} multi(s) in {:.1} ms ({since_watch})",
                remaining.len(),
                begun.elapsed().as_secs_f64() * 1e3
            );
            let answer = z::partition_list_json(&remaining);
            match c.set_data(&path, &answer, Some(stat.version)).await {
                Ok(_) | Err(zkc::Error::NoNode | zkc::Error::BadVersion) => {}
                Err(e) => return Err(unavailable(e)),
            }
        }
        Ok(())
    }

    /// `/admin/preferred_replica_election`: elect, then remove the request.
    async fn preferred_replica_election_znode(
        &mut self,
        c: &zkc::Client,
        my_id: i32,
    ) -> Result<(), Error> {
        let Some((data, _)) = get(c, z::PREFERRED_REPLICA_ELECTION).await? else { return Ok(()) };
        let partitions = z::parse_partition_list(&data);
        let out = self.machine()?.handle(Event::ElectLeaders {
            election: ElectionType::Preferred,
            partitions: Some(partitions),
        });
        for (tp, result) in &out.elections {
            match result {
                Ok(leader) => {
                    tracing::info!("preferred replica election: {tp} now led by {leader}")
                }
                Err(e) => tracing::info!("preferred replica election: {tp}: {e}"),
            }
        }
        self.carry_out(c, my_id, out).await?;
        match c.delete(z::PREFERRED_REPLICA_ELECTION, None).await {
            Ok(()) | Err(zkc::Error::NoNode) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Handles a request from this broker's API handlers.
    pub async fn on_request(&mut self, c: &zkc::Client, my_id: i32, request: Request) {
        match request {
            Request::ElectLeaders { election, partitions, reply } => {
                let event = Event::ElectLeaders { election, partitions };
                let answer =
                    self.handle_and_carry_out(c, my_id, event, |out| out.elections.clone()).await;
                let _ = reply.send(answer);
            }
            Request::AlterReassignments { partitions, reply } => {
                let event = Event::AlterReassignments { partitions, check_live: true };
                let answer = self
                    .handle_and_carry_out(c, my_id, event, |out| out.reassignments.clone())
                    .await;
                let _ = reply.send(answer);
            }
            Request::ListReassignments { partitions, reply } => {
                let result = match self.active.as_ref() {
                    None => Err(Error::NotController),
                    Some(m) => Ok(m.ongoing_reassignments(partitions.as_deref())),
                };
                let _ = reply.send(result);
            }
        }
    }

    /// Kafka's ZooKeeper-mode trigger: starts the reassignments
    /// `/admin/reassign_partitions` lists (when its content is new, or
    /// `trigger` on taking over as controller), then drops the
    /// entries no longer in progress and deletes the znode once none is,
    /// which is how the tools that wrote it learn they are done.
    async fn reassign_partitions_znode(
        &mut self,
        c: &zkc::Client,
        my_id: i32,
        trigger: bool,
    ) -> Result<(), Error> {
        if self.active.is_none() {
            return Ok(());
        }
        let Some((data, stat)) = get(c, z::REASSIGN_PARTITIONS).await? else { return Ok(()) };
        let entries = z::parse_reassign_partitions(&data);
        // Each content is acted on once, whether or not its watch event
        // arrived: starting the same targets again would change nothing,
        // but would undo a cancel made through the API meanwhile.
        let seen = Some((stat.czxid, stat.version));
        let fresh = self.reassign_znode_seen != seen;
        self.reassign_znode_seen = seen;
        if trigger || fresh {
            let partitions = entries.iter().map(|(tp, r)| (tp.clone(), Some(r.clone()))).collect();
            let out =
                self.machine()?.handle(Event::AlterReassignments { partitions, check_live: false });
            for (tp, r) in &out.reassignments {
                if let Err(e) = r {
                    tracing::warn!("{}: ignoring {tp}: {e}", z::REASSIGN_PARTITIONS);
                }
            }
            self.carry_out(c, my_id, out).await?;
        }
        let ongoing: Vec<TopicPartition> =
            self.machine()?.ongoing_reassignments(None).into_iter().map(|(tp, _)| tp).collect();
        let remaining: Vec<(TopicPartition, Vec<i32>)> =
            entries.iter().filter(|(tp, _)| ongoing.contains(tp)).cloned().collect();
        let written = if remaining.is_empty() {
            c.delete(z::REASSIGN_PARTITIONS, Some(stat.version)).await
        } else if remaining.len() < entries.len() {
            let json = z::reassign_partitions_json(&remaining);
            c.set_data(z::REASSIGN_PARTITIONS, &json, Some(stat.version)).await.map(|_| ())
        } else {
            Ok(())
        };
        match written {
            // Changed meanwhile: its watch brings this back.
            Ok(()) | Err(zkc::Error::NoNode | zkc::Error::BadVersion) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The periodic `auto.leader.rebalance.enable` check.
    pub async fn check_leader_imbalance(
        &mut self,
        c: &zkc::Client,
        my_id: i32,
        percentage: u32,
    ) -> Result<(), Error> {
        let Some(m) = self.active.as_mut() else { return Ok(()) };
        let out = m.handle(Event::CheckLeaderImbalance { percentage });
        if !out.commands.is_empty() {
            tracing::info!(
                "controller: rebalancing {} partitions to their preferred leaders",
                count_writes(&out)
            );
        }
        self.carry_out(c, my_id, out).await
    }

    /// Handles a request's `event` and carries out what it decided; the
    /// answer is what `answer` takes from the decision, once carried out.
    async fn handle_and_carry_out<T>(
        &mut self,
        c: &zkc::Client,
        my_id: i32,
        event: Event,
        answer: impl FnOnce(&Output) -> T,
    ) -> Result<T, Error> {
        let out = self.machine()?.handle(event);
        let answer = answer(&out);
        self.carry_out(c, my_id, out).await.map(|_| answer)
    }

    fn machine(&mut self) -> Result<&mut Controller, Error> {
        self.active.as_mut().ok_or(Error::NotController)
    }

    /// Executes the commands; writes that lost a race are read back and
    /// decided again. A fenced controller resigns.
    async fn carry_out(
        &mut self,
        c: &zkc::Client,
        my_id: i32,
        mut out: Output,
    ) -> Result<(), Error> {
        for _ in 0..MAX_WRITE_ROUNDS {
            if out.resign {
                return self.resign(c, my_id, "a newer controller wrote partition state").await;
            }
            let mut conflicts: Vec<TopicPartition> = Vec::new();
            let mut topics: Vec<String> = Vec::new();
            let mut multis: Vec<Command> = Vec::new();
            let mut commands = std::mem::take(&mut out.commands).into_iter().peekable();
            while let Some(cmd) = commands.next() {
                let name = match cmd {
                    Command::DeleteTopic(name) => name,
                    multi => {
                        multis.push(multi);
                        // A run of multis goes out at once; a deletion
                        // waits for the writes decided before it.
                        if matches!(commands.peek(), Some(Command::Multi { .. })) {
                            continue;
                        }
                        for (writes, outcome) in
                            write_multis(c, std::mem::take(&mut multis)).await?
                        {
                            match outcome {
                                MultiOutcome::Done => {
                                    for w in writes {
                                        match w {
                                            ZnodeWrite::UpdateState { partition, .. } => {
                                                self.written.states.insert(partition);
                                            }
                                            _ => self.written.other = true,
                                        }
                                    }
                                }
                                MultiOutcome::Fenced => {
                                    return self
                                        .resign(c, my_id, "/controller_epoch moved on")
                                        .await;
                                }
                                MultiOutcome::Conflict => {
                                    for w in writes {
                                        match w {
                                            ZnodeWrite::UpdateState { partition, .. }
                                            | ZnodeWrite::CreateState { partition, .. } => {
                                                conflicts.push(partition)
                                            }
                                            ZnodeWrite::WriteTopic { topic, .. } => {
                                                topics.push(topic)
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        continue;
                    }
                };
                self.written.other = true;
                delete_topic(c, &name).await?;
            }
            if conflicts.is_empty() && topics.is_empty() {
                return Ok(());
            }
            tracing::info!(
                "controller: {} writes lost a race; reading them back",
                conflicts.len() + topics.len()
            );
            let read = read_states(c, &conflicts).await?;
            let mut next = self.machine()?.handle(Event::PartitionStatesChanged(read));
            for name in topics {
                if let Some(topic) = read_topic_view(c, &name).await? {
                    let more = self.machine()?.handle(Event::TopicChanged { name, topic });
                    next.resign |= more.resign;
                    next.commands.extend(more.commands);
                }
            }
            out = next;
        }
        Err(Error::Contended { what: "partition state", attempts: MAX_WRITE_ROUNDS })
    }

    /// Steps down and frees `/controller` if it still names this broker,
    /// so a fresh election (with a fresh epoch) follows.
    async fn resign(&mut self, c: &zkc::Client, my_id: i32, why: &str) -> Result<(), Error> {
        tracing::warn!("controller fenced ({why}); broker {my_id} resigns as controller");
        self.active = None;
        if let Some((d, stat)) = get(c, z::CONTROLLER).await? {
            if z::parse_controller(&d) == Some(my_id) {
                match c.delete(z::CONTROLLER, Some(stat.version)).await {
                    Ok(()) | Err(zkc::Error::NoNode | zkc::Error::BadVersion) => {}
                    Err(e) => return Err(unavailable(e)),
                }
            }
        }
        Ok(())
    }
}

fn count_writes(out: &Output) -> usize {
    out.commands
        .iter()
        .map(|c| match c {
            Command::Multi { writes, .. } => writes.len(),
            Command::DeleteTopic(_) => 0,
        })
        .sum()
}

enum Path {
    Topic(String),
    State(String, i32),
    Config(String),
    PreferredElection,
    ReassignPartitions,
    ControlledShutdown,
}

/// What a watch event's path names.
fn classify(path: &str) -> Option<Path> {
    if path == z::PREFERRED_REPLICA_ELECTION {
        return Some(Path::PreferredElection);
    }
    if path == z::REASSIGN_PARTITIONS {
        return Some(Path::ReassignPartitions);
    }
    if path.starts_with(z::CONTROLLED_SHUTDOWN) {
        return Some(Path::ControlledShutdown);
    }
    if let Some(t) = path.strip_prefix("/config/topics/") {
        return Some(Path::Config(t.to_string()));
    }
    if let Some((t, p)) = z::partition_state_path(path) {
        return Some(Path::State(t.to_string(), p));
    }
    let t = path.strip_prefix("/brokers/topics/")?;
    (!t.contains('/')).then(|| Path::Topic(t.to_string()))
}

enum MultiOutcome {
    Done,
    Fenced,
    Conflict,
}

/// Guarded multis, each the epoch check first and then its writes, all
/// sent before the first answer is awaited: ZooKeeper applies one
/// session's requests in order and syncs them together, so 10,000
/// leadership changes cost a few transactions' work and one round trip.
/// A multi failing does not stop the later ones, which never depend on
/// it: each names the zkVersions it read, and a parent one of them
/// creates is created by the first multi that needs it, so a later one
/// that finds it missing fails and is read back like any conflict.
async fn write_multis(
    c: &zkc::Client,
    multis: Vec<Command>,
) -> Result<Vec<(Vec<ZnodeWrite>, MultiOutcome)>, Error> {
    // State znodes of new partitions need their parents: the missing ones
    // (found with one pipelined read) are created in the same multi.
    let mut parents: Vec<String> = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for m in &multis {
        let Command::Multi { writes, .. } = m else { continue };
        for w in writes {
            if let ZnodeWrite::CreateState { partition, .. } = w {
                let tp = (&partition.topic, partition.partition.0);
                for path in [z::partitions(tp.0), z::partition(tp.0, tp.1)] {
                    if seen.insert(path.clone()) {
                        parents.push(path);
                    }
                }
            }
        }
    }
    let exists = get_many(c, &parents).await?;
    let mut missing: BTreeSet<&String> =
        parents.iter().zip(&exists).filter(|(_, e)| e.is_none()).map(|(p, _)| p).collect();
    let mut in_flight = Vec::new();
    for m in multis {
        let Command::Multi { controller_epoch, epoch_zk_version, writes } = m else { continue };
        let mut w = c.new_multi_writer();
        add_writes(&mut w, controller_epoch, epoch_zk_version, &writes, &mut missing)
            .map_err(unavailable)?;
        in_flight.push((writes, w.commit()));
    }
    let mut outcomes = Vec::with_capacity(in_flight.len());
    for (writes, answer) in in_flight {
        let outcome = match answer.await {
            Ok(_) => MultiOutcome::Done,
            Err(zkc::MultiWriteError::OperationFailed { index: 0, .. }) => MultiOutcome::Fenced,
            Err(zkc::MultiWriteError::OperationFailed {
                source: zkc::Error::BadVersion | zkc::Error::NoNode | zkc::Error::NodeExists,
                ..
            }) => MultiOutcome::Conflict,
            Err(e) => return Err(e.into()),
        };
        outcomes.push((writes, outcome));
    }
    Ok(outcomes)
}

/// One multi's operations; takes from `missing` the parents it creates.
fn add_writes(
    m: &mut zkc::MultiWriter<'_>,
    epoch: i32,
    epoch_zk_version: i32,
    writes: &[ZnodeWrite],
    missing: &mut BTreeSet<&String>,
) -> Result<(), zkc::Error> {
    m.add_check_version(z::CONTROLLER_EPOCH, epoch_zk_version)?;
    for w in writes {
        match w {
            ZnodeWrite::UpdateState { partition, state, expected_zk_version } => m.add_set_data(
                &z::partition_state(&partition.topic, partition.partition.0),
                &z::partition_state_json(&to_state(state), epoch),
                Some(*expected_zk_version),
            )?,
            ZnodeWrite::CreateState { partition, state } => {
                let (t, p) = (&partition.topic, partition.partition.0);
                for parent in [z::partitions(t), z::partition(t, p)] {
                    if missing.remove(&parent) {
                        m.add_create(&parent, b"", &open())?;
                    }
                }
                m.add_create(
                    &z::partition_state(t, p),
                    &z::partition_state_json(&to_state(state), epoch),
                    &open(),
                )?;
            }
            ZnodeWrite::WriteTopic { topic, partitions, topic_id, expected_zk_version } => {
                let pick = |f: fn(&ReplicaAssignment) -> &Vec<i32>| -> z::Assignment {
                    partitions.iter().map(|(p, a)| (*p, f(a).clone())).collect()
                };
                m.add_set_data(
                    &z::topic(topic),
                    &z::topic_json_reassigning(
                        &pick(|a| &a.replicas),
                        &pick(|a| &a.adding),
                        &pick(|a| &a.removing),
                        *topic_id,
                    ),
                    Some(*expected_zk_version),
                )?
            }
        }
    }
    Ok(())
}

fn to_state(s: &LeaderAndIsr) -> super::PartitionState {
    super::PartitionState { leader: s.leader, leader_epoch: s.leader_epoch, isr: s.isr.clone() }
}

/// Wins `/controller` if it is free, bumping `/controller_epoch` in the
/// same multi at the version read, as Kafka's controller election does.
pub async fn elect(c: &zkc::Client, id: i32) -> Result<Option<ControllerEpoch>, Error> {
    match c.create(z::CONTROLLER_EPOCH, b"0", &open()).await {
        Ok(_) | Err(zkc::Error::NodeExists) => {}
        Err(e) => return Err(unavailable(e)),
    }
    let (d, stat) = c.get_data(z::CONTROLLER_EPOCH).await.map_err(unavailable)?;
    let epoch = String::from_utf8_lossy(&d).trim().parse::<i32>().unwrap_or(0).saturating_add(1);
    let mut m = c.new_multi_writer();
    m.add_create(z::CONTROLLER, &z::controller_json(id, crate::time::now_ms()), &ephemeral())
        .map_err(unavailable)?;
    m.add_set_data(z::CONTROLLER_EPOCH, epoch.to_string().as_bytes(), Some(stat.version))
        .map_err(unavailable)?;
    match m.commit().await {
        Ok(results) => {
            let zk_version = match results.into_iter().nth(1) {
                Some(zkc::MultiWriteResult::SetData { stat }) => stat.version,
                _ => stat.version + 1,
            };
            tracing::info!("broker {id} is the controller (epoch {epoch})");
            Ok(Some(ControllerEpoch { epoch, zk_version }))
        }
        Err(zkc::MultiWriteError::OperationFailed {
            source: zkc::Error::NodeExists | zkc::Error::BadVersion,
            ..
        }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn read_controller_epoch(c: &zkc::Client) -> Result<ControllerEpoch, Error> {
    let (d, stat) = c.get_data(z::CONTROLLER_EPOCH).await.map_err(unavailable)?;
    let epoch = String::from_utf8_lossy(&d).trim().parse().unwrap_or(0);
    Ok(ControllerEpoch { epoch, zk_version: stat.version })
}

async fn get(c: &zkc::Client, p: &str) -> Result<Option<(Vec<u8>, zkc::Stat)>, Error> {
    match c.get_data(p).await {
        Ok(x) => Ok(Some(x)),
        Err(zkc::Error::NoNode) => Ok(None),
        Err(e) => Err(unavailable(e)),
    }
}

pub(crate) async fn list(c: &zkc::Client, p: &str) -> Result<Vec<String>, Error> {
    match c.list_children(p).await {
        Ok(mut v) => {
            v.sort();
            Ok(v)
        }
        Err(zkc::Error::NoNode) => Ok(Vec::new()),
        Err(e) => Err(unavailable(e)),
    }
}

/// getData of many paths in few round trips (ZooKeeper's multiRead);
/// `None` for a znode that does not exist.
pub(crate) async fn get_many(
    c: &zkc::Client,
    paths: &[String],
) -> Result<Vec<Option<(Vec<u8>, zkc::Stat)>>, Error> {
    read_many(c, paths, Read::Data, |result| match result {
        zkc::MultiReadResult::Data { data, stat } => Some((data, stat)),
        _ => None,
    })
    .await
}

#[derive(Clone, Copy)]
enum Read {
    Data,
    Children,
}

/// Reads of one kind for many paths, a multiRead per
/// [`READS_PER_MULTI`], one after another: sending them all at once
/// (100 multiReads for 100,000 partition states) measured three times
/// slower on our server than waiting for each answer. A missing znode
/// reads as `T::default()`.
async fn read_many<T: Default>(
    c: &zkc::Client,
    paths: &[String],
    kind: Read,
    take: impl Fn(zkc::MultiReadResult) -> T,
) -> Result<Vec<T>, Error> {
    let mut out = Vec::with_capacity(paths.len());
    for chunk in paths.chunks(READS_PER_MULTI) {
        let mut r = c.new_multi_reader();
        for p in chunk {
            match kind {
                Read::Data => r.add_get_data(p),
                Read::Children => r.add_get_children(p),
            }
            .map_err(unavailable)?;
        }
        let results = r.commit().await.map_err(unavailable)?;
        if results.len() != chunk.len() {
            return Err(Error::UnexpectedReply {
                what: "multiRead with a different number of results than reads",
            });
        }
        for result in results {
            out.push(match result {
                zkc::MultiReadResult::Error { err: zkc::Error::NoNode } => T::default(),
                zkc::MultiReadResult::Error { err } => return Err(unavailable(err)),
                other => take(other),
            });
        }
    }
    Ok(out)
}

fn stored_state(data: &[u8], stat: &zkc::Stat) -> Option<StoredState> {
    let s = z::parse_partition_state(data)?;
    Some(StoredState {
        leader_and_isr: LeaderAndIsr { leader: s.leader, leader_epoch: s.leader_epoch, isr: s.isr },
        controller_epoch: z::parse_state_controller_epoch(data).unwrap_or(0),
        zk_version: stat.version,
    })
}

async fn read_states(
    c: &zkc::Client,
    tps: &[TopicPartition],
) -> Result<Vec<(TopicPartition, Option<StoredState>)>, Error> {
    let paths: Vec<String> =
        tps.iter().map(|tp| z::partition_state(&tp.topic, tp.partition.0)).collect();
    let read = get_many(c, &paths).await?;
    Ok(tps
        .iter()
        .cloned()
        .zip(read)
        .map(|(tp, r)| (tp, r.and_then(|(d, stat)| stored_state(&d, &stat))))
        .collect())
}

async fn read_unclean_override(c: &zkc::Client, name: &str) -> Result<Option<bool>, Error> {
    Ok(get(c, &z::topic_config(name)).await?.and_then(|(d, _)| unclean_override(&d)))
}

/// A topic config znode's `unclean.leader.election.enable`.
fn unclean_override(config: &[u8]) -> Option<bool> {
    z::parse_config(config).get("unclean.leader.election.enable")?.trim().parse().ok()
}

async fn read_topic_view(c: &zkc::Client, name: &str) -> Result<Option<TopicView>, Error> {
    let mut views = read_topic_views(c, vec![name.to_string()]).await?;
    Ok(views.remove(name))
}

/// The topics' znodes, config overrides and partition states in two
/// pipelined batches of multiReads, whatever the number of topics.
async fn read_topic_views(
    c: &zkc::Client,
    names: Vec<String>,
) -> Result<BTreeMap<String, TopicView>, Error> {
    let paths: Vec<String> = names.iter().flat_map(|n| [z::topic(n), z::topic_config(n)]).collect();
    let reads = get_many(c, &paths).await?;
    let mut parsed = Vec::new();
    let mut state_paths = Vec::new();
    for (name, pair) in names.into_iter().zip(reads.chunks(2)) {
        let Some((d, stat)) = &pair[0] else { continue };
        let Some((assignment, id)) = z::parse_topic(d) else {
            tracing::warn!("ignoring topic {name}: its znode does not parse");
            continue;
        };
        state_paths.extend(assignment.keys().map(|p| z::partition_state(&name, *p)));
        let reassignments = z::parse_topic_reassignments(d);
        let unclean = pair[1].as_ref().and_then(|(d, _)| unclean_override(d));
        parsed.push((name, assignment, id, stat.version, unclean, reassignments));
    }
    let mut states = get_many(c, &state_paths).await?.into_iter();
    let mut views = BTreeMap::new();
    for (name, assignment, topic_id, zk_version, unclean, (mut adding, mut removing)) in parsed {
        let partitions = assignment
            .into_iter()
            .map(|(p, replicas)| {
                let state = states.next().flatten().and_then(|(d, stat)| stored_state(&d, &stat));
                let adding = adding.remove(&p).unwrap_or_default();
                let removing = removing.remove(&p).unwrap_or_default();
                (p, PartitionView { replicas, adding, removing, state })
            })
            .collect();
        let view = TopicView { topic_id, zk_version, unclean_leader_election: unclean, partitions };
        views.insert(name, view);
    }
    Ok(views)
}

/// Everything a new controller needs, in a handful of round trips.
pub async fn read_view(c: &zkc::Client) -> Result<ClusterView, Error> {
    let live_brokers =
        list(c, z::BROKER_IDS).await?.iter().filter_map(|s| s.parse().ok()).collect();
    let names = super::zk_store::valid_topics(list(c, z::TOPICS).await?);
    let topics = read_topic_views(c, names).await?;
    let deletions = list(c, z::DELETE_TOPICS).await?.into_iter().collect();
    Ok(ClusterView { live_brokers, topics, deletions })
}

/// Removes a topic's znodes, children first, then its config and its
/// deletion request (last, so a crash midway leaves the request for the
/// controller to finish). A tree larger than one multi goes in several,
/// deepest znodes first. A child created meanwhile (the controller writing
/// a new partition's state) or a znode someone else deleted makes a multi
/// refuse: the tree is read again, a bounded number of times.
pub async fn delete_topic(c: &zkc::Client, name: &str) -> Result<(), Error> {
    let mut attempts = 0;
    loop {
        let tree = topic_trees(c, std::slice::from_ref(&name.to_string())).await?;
        match delete_in_multis(c, &tree[0]).await {
            Err(zkc::Error::NotEmpty | zkc::Error::NoNode) if attempts < 5 => attempts += 1,
            result => return result.map_err(unavailable),
        }
    }
}

/// Each topic's znodes in an order that deletes them: its tree read level
/// by level with multiRead and reversed (children before parents), then
/// its config and deletion request, each only where it exists: a topic
/// that someone else deleted meanwhile is no refusal to retry.
async fn topic_trees(c: &zkc::Client, names: &[String]) -> Result<Vec<Vec<String>>, Error> {
    let mut trees: Vec<Vec<String>> = names.iter().map(|_| Vec::new()).collect();
    let mut level: Vec<(usize, String)> =
        names.iter().enumerate().map(|(i, n)| (i, z::topic(n))).collect();
    while !level.is_empty() {
        let paths: Vec<String> = level.iter().map(|(_, p)| p.clone()).collect();
        let mut next = Vec::new();
        for ((i, parent), kids) in level.iter().zip(children_many(c, &paths).await?) {
            for k in kids {
                let path = format!("{parent}/{k}");
                trees[*i].push(path.clone());
                next.push((*i, path));
            }
        }
        level = next;
    }
    let tops: Vec<String> =
        names.iter().flat_map(|n| [z::topic(n), z::topic_config(n), z::delete_topic(n)]).collect();
    let present = get_many(c, &tops).await?;
    for (i, tree) in trees.iter_mut().enumerate() {
        tree.reverse();
        for j in 3 * i..3 * i + 3 {
            if present[j].is_some() {
                tree.push(tops[j].clone());
            }
        }
    }
    Ok(trees)
}

/// Deletes `paths` in order, WRITES_PER_MULTI to a multi.
async fn delete_in_multis(c: &zkc::Client, paths: &[String]) -> Result<(), zkc::Error> {
    for chunk in paths.chunks(WRITES_PER_MULTI) {
        let mut m = c.new_multi_writer();
        for p in chunk {
            m.add_delete(p, None)?;
        }
        match m.commit().await {
            Ok(_) => {}
            Err(zkc::MultiWriteError::OperationFailed { source, .. })
            | Err(zkc::MultiWriteError::RequestFailed { source }) => return Err(source),
        }
    }
    Ok(())
}

/// Deletes many topics in a few multis instead of a dozen round trips
/// each: the trees are read level by level with multiRead, and each topic
/// goes whole in one multi (children first, then its config and deletion
/// marker), so a crash never leaves half a topic behind. Each write to
/// ZooKeeper is a log fsync: a DeleteTopics of a hundred topics would
/// otherwise cost over a thousand. A multi refused because a tree changed
/// meanwhile (the controller deleting the same topic) falls back to one
/// topic at a time, which tolerates that; a topic too large for one
/// request goes alone, in several.
pub async fn delete_topics(c: &zkc::Client, names: &[String]) -> Result<(), Error> {
    let trees = topic_trees(c, names).await?;
    let mut batch: Vec<usize> = Vec::new();
    let mut ops = 0;
    for i in 0..names.len() {
        if trees[i].len() > WRITES_PER_MULTI {
            delete_topic(c, &names[i]).await?;
            continue;
        }
        if ops + trees[i].len() > WRITES_PER_MULTI {
            delete_batch(c, names, &trees, &batch).await?;
            batch.clear();
            ops = 0;
        }
        ops += trees[i].len();
        batch.push(i);
    }
    delete_batch(c, names, &trees, &batch).await
}

async fn delete_batch(
    c: &zkc::Client,
    names: &[String],
    trees: &[Vec<String>],
    batch: &[usize],
) -> Result<(), Error> {
    if batch.iter().all(|&i| trees[i].is_empty()) {
        return Ok(());
    }
    let mut m = c.new_multi_writer();
    for p in batch.iter().flat_map(|&i| &trees[i]) {
        m.add_delete(p, None).map_err(unavailable)?;
    }
    match m.commit().await {
        Ok(_) => Ok(()),
        Err(zkc::MultiWriteError::OperationFailed {
            source: zkc::Error::NoNode | zkc::Error::NotEmpty,
            ..
        }) => {
            for &i in batch {
                delete_topic(c, &names[i]).await?;
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// getChildren of many paths in few round trips, sorted; empty for a
/// znode that does not exist.
async fn children_many(c: &zkc::Client, paths: &[String]) -> Result<Vec<Vec<String>>, Error> {
    read_many(c, paths, Read::Children, |result| match result {
        zkc::MultiReadResult::Children { mut children } => {
            children.sort();
            children
        }
        _ => Vec::new(),
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_paths_name_what_changed() {
        assert!(matches!(classify("/brokers/topics/t"), Some(Path::Topic(t)) if t == "t"));
        assert!(matches!(
            classify("/brokers/topics/t/partitions/3/state"),
            Some(Path::State(t, 3)) if t == "t"
        ));
        assert!(classify("/brokers/topics/t/partitions/3").is_none());
        assert!(classify("/brokers/topics/t/partitions/x/state").is_none());
        assert!(matches!(classify("/config/topics/t"), Some(Path::Config(t)) if t == "t"));
        assert!(matches!(
            classify("/admin/preferred_replica_election"),
            Some(Path::PreferredElection)
        ));
        assert!(matches!(classify("/admin/reassign_partitions"), Some(Path::ReassignPartitions)));
        assert!(classify("/brokers/ids/1").is_none());
    }
}
