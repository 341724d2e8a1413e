//! The replicas this broker hosts: opens a partition's log when the cluster
//! metadata assigns it here, updates leadership and configs as metadata
//! changes, deletes the log when its topic goes, and wakes the fetches
//! and acks=all produces waiting on a partition when its role changes.
//!
//! Roles come from the image alone: a partition whose state names this
//! broker as leader is led here, one naming another broker is followed
//! through the [`ReplicaFetcherManager`]. The leader keeps its ISR: it
//! shrinks it when a follower lags more than `replica.lag.time.max.ms`
//! and grows it when one catches up, writing the state znode itself,
//! conditionally on its zkVersion.
//!
//! Lock order: `partitions` (never held across a log call: handlers clone
//! the `Arc<Partition>` and release it) → `Partition`'s own locks.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::error::log_error_code;
use super::metrics::BrokerMetrics;
use super::partition::{IsrChange, LeaderState, Partition, RoleChange};
use super::purgatory::{self, Watch};
use super::replica_fetcher::ReplicaFetcherManager;
use super::replication_quota::ReplicationQuotas;
use super::KafkaConfig;
use crate::cluster::lease::SessionLease;
use crate::cluster::{ClusterImage, MetadataStore, PartitionState};
use crate::log::{LogConfig, LogManager};
use crate::protocol::ErrorCode;
use crate::sync::{for_each_on_threads, MutexExt, RwLockExt};
use crate::time::SystemClock;
use crate::types::TopicPartition;

/// Threads that apply role changes at once (see
/// [`ReplicaManager::apply_role_changes`]).
const ROLE_CHANGE_THREADS: usize = 16;

pub struct ReplicaManager {
    broker_id: i32,
    config: Arc<KafkaConfig>,
    log_manager: Arc<LogManager>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// Moves (under the write lock) whenever a partition is added or
    /// removed: handles looked up at one generation ([`Resolved`]) stay
    /// valid until it moves.
    generation: AtomicU64,
    /// Serializes `apply_image`, so a partition is opened once.
    apply_lock: Mutex<()>,
    store: Arc<dyn MetadataStore>,
    /// Leadership counts only while the ZooKeeper session it came from is
    /// known to live.
    lease: Arc<SessionLease>,
    runtime: tokio::runtime::Handle,
    pub fetchers: ReplicaFetcherManager,
    pub metrics: Arc<BrokerMetrics>,
    /// Leader and follower replication throttles, refreshed by `apply_image`.
    pub quotas: Arc<ReplicationQuotas>,
}

/// Partitions looked up by name in one go, in the order asked; `None`
/// where this broker hosts no such partition.
pub struct Resolved {
    pub generation: u64,
    pub partitions: Vec<Option<Arc<Partition>>>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot open the log dirs: {0}")]
pub struct OpenError(#[from] crate::log::Error);

impl ReplicaManager {
    /// Opens the log dirs (recovery runs here; blocking).
    pub fn open(
        config: Arc<KafkaConfig>,
        broker_id: i32,
        store: Arc<dyn MetadataStore>,
        runtime: tokio::runtime::Handle,
    ) -> Result<ReplicaManager, OpenError> {
        let defaults = broker_log_config(&config);
        let log_manager = Arc::new(LogManager::open(
            &config.log_dirs,
            defaults,
            config.num_recovery_threads_per_data_dir,
            Arc::new(SystemClock),
        )?);
        // Retention, time-based flushes and checkpoints run on the log's own threads.
        log_manager.start_background(config.log_background.clone());
        let quotas = Arc::new(ReplicationQuotas::default());
        let fetchers = ReplicaFetcherManager::new(
            broker_id,
            &config.listeners.inter_broker_listener_name,
            config.inter_broker_security.clone(),
            config.replication.clone(),
            store.clone(),
            quotas.clone(),
            runtime.clone(),
        );
        Ok(ReplicaManager {
            broker_id,
            config,
            log_manager,
            partitions: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            apply_lock: Mutex::new(()),
            lease: store.session_lease(),
            store,
            runtime,
            fetchers,
            metrics: Arc::default(),
            quotas,
        })
    }

    /// The log config of a topic with these overrides: Kafka's defaults,
    /// then the broker's `log.*` keys, then the topic's own keys.
    pub fn log_config_for(&self, overrides: &BTreeMap<String, String>) -> LogConfig {
        let mut c = broker_log_config(&self.config);
        for (k, v) in overrides {
            if LogConfig::is_known_key(k) {
                if let Err(e) = c.set(k, v) {
                    tracing::warn!("ignoring topic config {k}={v}: {e}");
                }
            }
        }
        c
    }

    /// Brings hosted partitions in line with the metadata (blocking: opens
    /// and deletes logs). Returns the partitions whose log could not be
    /// opened or created, with why.
    pub fn apply_image(&self, image: &ClusterImage) -> Vec<(TopicPartition, String)> {
        let mut failed = Vec::new();
        let _serial = self.apply_lock.lock_or_recover();
        // Before any role change, so a replica that starts following here
        // is throttled from its first fetch.
        self.quotas.apply_image(image, self.broker_id);
        let mut wanted: HashMap<
            TopicPartition,
            (uuid::Uuid, LeaderState, &BTreeMap<String, String>),
        > = HashMap::new();
        for topic in image.topics.values() {
            for (&p, meta) in &topic.partitions {
                if meta.replicas.contains(&self.broker_id) {
                    let state = LeaderState {
                        leader: meta.state.leader,
                        leader_epoch: meta.state.leader_epoch,
                        isr: meta.state.isr.clone(),
                        replicas: meta.replicas.clone(),
                        state_zk_version: meta.state_zk_version,
                    };
                    wanted.insert(
                        TopicPartition::new(topic.name.clone(), p),
                        (topic.topic_id, state, &topic.configs),
                    );
                }
            }
        }
        let current: Vec<(TopicPartition, Arc<Partition>)> =
            self.partitions.read_or_recover().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut removed = Vec::new();
        for (tp, partition) in &current {
            let keep = wanted.get(tp).is_some_and(|(id, ..)| *id == partition.topic_id);
            if !keep {
                self.remove_partition(tp);
                self.fetchers.remove(tp);
                partition.waiters.wake();
                removed.push(tp.clone());
                if !wanted.keys().any(|w| w.topic == tp.topic) {
                    self.metrics.remove_topic(&tp.topic);
                }
            }
        }
        for (tp, result) in self.log_manager.delete_logs(&removed) {
            match result {
                Ok(()) => tracing::info!(partition = %tp, "deleted log"),
                Err(e) => tracing::warn!(partition = %tp, "cannot delete log: {e}"),
            }
        }
        let mut role_changes = Vec::new();
        let mut to_open = Vec::new();
        for (tp, (topic_id, state, configs)) in wanted {
            let existing = self.partitions.read_or_recover().get(&tp).cloned();
            match existing {
                Some(p) => {
                    if p.leader_state() != state {
                        role_changes.push((p.clone(), state));
                    }
                    let mut applied = p.applied_configs.lock_or_recover();
                    if *applied != *configs {
                        p.log.update_config(self.log_config_for(configs));
                        *applied = configs.clone();
                    }
                }
                None => to_open.push((tp, topic_id, state, configs)),
            }
        }
        for (tp, result) in self.open_partitions(to_open) {
            match result {
                Ok((p, role)) => {
                    let p = Arc::new(p);
                    self.insert_partition(tp, p.clone());
                    self.on_role_change(&p, role);
                }
                Err(e) => {
                    tracing::error!(partition = %tp, "cannot open partition: {e}");
                    failed.push((tp, e));
                }
            }
        }
        self.apply_role_changes(&role_changes);
        failed
    }

    /// Opens (or creates) the logs of new partitions on up to
    /// [`ROLE_CHANGE_THREADS`] threads: a new leader fsyncs its leader-epoch
    /// checkpoint, and a thousand-topic CreateTopics (or the first image
    /// after start-up) must not wait on ten thousand of them in a row.
    #[allow(clippy::type_complexity)]
    fn open_partitions(
        &self,
        work: Vec<(TopicPartition, uuid::Uuid, LeaderState, &BTreeMap<String, String>)>,
    ) -> Vec<(TopicPartition, Result<(Partition, RoleChange), String>)> {
        let out = Mutex::new(Vec::with_capacity(work.len()));
        for_each_on_threads(&work, ROLE_CHANGE_THREADS, |(tp, topic_id, state, configs)| {
            let result = self.open_partition(tp, *topic_id, state.clone(), configs);
            out.lock_or_recover().push((tp.clone(), result));
        });
        crate::sync::recover(out.into_inner())
    }

    /// Moves partitions into their new roles on up to
    /// [`ROLE_CHANGE_THREADS`] threads. Becoming leader writes and fsyncs
    /// the partition's leader-epoch checkpoint before it takes writes;
    /// done one after another, a dead broker's thousand leaderships would
    /// wait on a thousand fsyncs in a row (seconds on a busy disk), while
    /// the file system commits concurrent ones together.
    fn apply_role_changes(&self, changes: &[(Arc<Partition>, LeaderState)]) {
        for_each_on_threads(changes, ROLE_CHANGE_THREADS, |(p, state)| {
            match p.apply_leader_state(state.clone(), crate::time::now_ms()) {
                Ok(role) => self.on_role_change(p, role),
                Err(e) => tracing::error!(partition = %p.tp, "cannot change role: {e}"),
            }
        });
    }

    fn open_partition(
        &self,
        tp: &TopicPartition,
        topic_id: uuid::Uuid,
        state: LeaderState,
        configs: &BTreeMap<String, String>,
    ) -> Result<(Partition, RoleChange), String> {
        let log = self
            .log_manager
            .get_or_create_log(tp, self.log_config_for(configs))
            .map_err(|e| e.to_string())?;
        let (mut partition, role) =
            Partition::new(tp.clone(), topic_id, log, self.broker_id, state, configs.clone())
                .map_err(|e| e.message.unwrap_or_default())?;
        partition.stats = self.metrics.topic(&tp.topic);
        Ok((partition, role))
    }

    /// Starts or stops following, and wakes whoever waits on the partition
    /// (an acks=all produce or a long poll must learn it lost leadership).
    fn on_role_change(&self, p: &Arc<Partition>, role: RoleChange) {
        match role {
            RoleChange::Unchanged => {}
            RoleChange::BecameLeader | RoleChange::Offline => self.fetchers.remove(&p.tp),
            RoleChange::BecameFollower { leader, leader_epoch } => {
                self.fetchers.add(p.clone(), leader, leader_epoch)
            }
        }
        p.waiters.wake();
    }

    /// Kafka's "isr-expiration" task: every half `replica.lag.time.max.ms`,
    /// drops lagging followers from the ISR of each partition led here.
    pub async fn run_isr_expiration(self: Arc<Self>) {
        let lag = self.config.replication.lag_time_max_ms;
        let mut tick =
            tokio::time::interval(std::time::Duration::from_millis((lag / 2).max(1) as u64));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = crate::time::now_ms();
            for p in self.all_partitions() {
                if let Some(change) = p.shrunk_isr(now, lag) {
                    self.submit_isr_change(p, change);
                }
            }
        }
    }

    /// Writes a new ISR to the partition's state znode, conditionally on
    /// the zkVersion it was derived from (Kafka's pre-2.7 ZooKeeper mode,
    /// no controller round trip). A failed condition means the controller
    /// changed the state: the next image decides. One write per partition
    /// at a time.
    pub fn submit_isr_change(self: &Arc<Self>, p: Arc<Partition>, change: IsrChange) {
        if p.begin_isr_change(&change) {
            self.write_isr_change(p, change);
        }
    }

    /// Writes an ISR change the partition has begun (`begin_isr_change`,
    /// or a follower's fetch for an expansion) and ends it.
    pub fn write_isr_change(self: &Arc<Self>, p: Arc<Partition>, change: IsrChange) {
        let me = self.clone();
        self.runtime.spawn(async move {
            let old = p.leader_state().isr;
            let state = PartitionState {
                leader: change.leader,
                leader_epoch: change.leader_epoch,
                isr: change.isr.clone(),
            };
            let written = me
                .store
                .update_leader_and_isr(&p.tp.topic, p.tp.partition.0, state, change.zk_version)
                .await;
            match written {
                Ok(version) => {
                    tracing::info!(partition = %p.tp, "ISR changed from {old:?} to {:?}", change.isr);
                    let counter = if change.isr.len() < old.len() {
                        &me.metrics.isr_shrinks
                    } else {
                        &me.metrics.isr_expands
                    };
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    p.isr_written(change.leader_epoch, change.isr, version);
                    p.waiters.wake();
                }
                Err(crate::cluster::Error::PartitionStateChanged { .. }) => tracing::info!(
                    partition = %p.tp,
                    "cached zkVersion {} is not ZooKeeper's; skipped the ISR change and wait for the new state",
                    change.zk_version
                ),
                Err(e) => tracing::warn!(partition = %p.tp, "cannot write the ISR: {e}"),
            }
            if p.end_isr_change() {
                p.waiters.wake();
            }
        });
    }

    /// Waits until this broker, as leader of `tp`, has a high watermark
    /// past `offset`; NOT_LEADER_OR_FOLLOWER if leadership moves first,
    /// REQUEST_TIMED_OUT at `deadline`.
    pub async fn wait_for_high_watermark(
        &self,
        tp: &TopicPartition,
        offset: i64,
        deadline: tokio::time::Instant,
    ) -> Result<(), ErrorCode> {
        loop {
            // Register before checking, so a move in between is not missed.
            let watch = self.watch_by_name(&[tp]);
            if self.leader_partition(tp)?.high_watermark() > offset {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, watch.notify.notified()).await.is_err() {
                return Err(ErrorCode::RequestTimedOut);
            }
        }
    }

    /// The partition if this broker leads it and its session lease holds.
    pub fn leader_partition(&self, tp: &TopicPartition) -> Result<Arc<Partition>, ErrorCode> {
        let p = self.partition(tp)?;
        if p.is_leader() {
            self.check_lease()?;
            Ok(p)
        } else {
            Err(ErrorCode::NotLeaderOrFollower)
        }
    }

    /// NOT_LEADER_OR_FOLLOWER while this broker cannot tell whether its
    /// ZooKeeper session, and with it the leaderships it holds, still
    /// stands (paused or cut off past the session timeout): clients then
    /// look the leader up again rather than read or write a deposed one.
    /// Waits up to `wait` for a lapsed lease to be renewed ([`SessionLease::wait_held`]).
    pub async fn wait_for_lease(&self, wait: std::time::Duration) {
        if !self.lease.holds() {
            self.lease.wait_held(wait).await;
        }
    }

    /// The partition `tp` for a read of its leader's state (offsets, leader
    /// epochs): this broker must lead it at `current_leader_epoch` (-1 =
    /// any; KIP-320 checks the epoch before the leadership) and its session
    /// lease must hold, or a leader woken after it was replaced would answer
    /// from a log the new leader has moved past.
    pub fn leader_for_read(
        &self,
        tp: &TopicPartition,
        current_leader_epoch: i32,
    ) -> Result<Arc<Partition>, ErrorCode> {
        let p = self.partition(tp)?;
        p.check_leader_epoch(current_leader_epoch)?;
        self.check_lease()?;
        Ok(p)
    }

    pub fn check_lease(&self) -> Result<(), ErrorCode> {
        if self.lease.holds() {
            Ok(())
        } else {
            Err(ErrorCode::NotLeaderOrFollower)
        }
    }

    /// Whether this broker can serve `tp`: its log is open here, in a dir
    /// no I/O error has taken offline.
    pub fn is_online(&self, tp: &TopicPartition) -> bool {
        self.partition(tp).is_ok_and(|p| !p.log.is_dir_offline())
    }

    pub fn partition(&self, tp: &TopicPartition) -> Result<Arc<Partition>, ErrorCode> {
        self.partitions.read_or_recover().get(tp).cloned().ok_or(ErrorCode::UnknownTopicOrPartition)
    }

    fn insert_partition(&self, tp: TopicPartition, p: Arc<Partition>) {
        let mut map = self.partitions.write_or_recover();
        map.insert(tp, p);
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    fn remove_partition(&self, tp: &TopicPartition) {
        let mut map = self.partitions.write_or_recover();
        map.remove(tp);
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// A watch on the partitions hosted under these names, for a waiter
    /// that then checks them by name: registered with the handles the map
    /// held throughout, so a removal after it (which moves the generation
    /// before waking the removed partition's waiters) wakes it.
    pub fn watch_by_name(&self, tps: &[&TopicPartition]) -> Watch {
        loop {
            let r = self.resolve(tps.iter().copied());
            let watch = purgatory::watch(r.partitions.into_iter().flatten().collect());
            if self.generation() == r.generation {
                return watch;
            }
        }
    }

    /// The generation [`Self::resolve`] would stamp now.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Looks up many partitions under one read lock, for a fetch session
    /// to keep: a follower's session names thousands of partitions, and
    /// hashing each name on every fetch was most of an idle leader's CPU.
    pub fn resolve<'a>(&self, tps: impl Iterator<Item = &'a TopicPartition>) -> Resolved {
        let map = self.partitions.read_or_recover();
        // Read under the lock that writers move it under.
        let generation = self.generation.load(Ordering::Relaxed);
        Resolved { generation, partitions: tps.map(|tp| map.get(tp).cloned()).collect() }
    }

    /// Moves a partition's log start offset (DeleteRecords) and checkpoints it.
    pub fn delete_records(
        &self,
        tp: &TopicPartition,
        offset: crate::types::Offset,
    ) -> Result<crate::types::Offset, crate::log::Error> {
        self.log_manager.delete_records(tp, offset)
    }

    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions.read_or_recover().values().cloned().collect()
    }

    /// Snapshots every partition's producer state, flushes and closes every
    /// log and writes the clean-shutdown marker (blocking).
    pub fn shutdown(&self) {
        self.fetchers.shutdown();
        for p in self.all_partitions() {
            if let Err(e) = p.snapshot_producer_state() {
                tracing::warn!(tp = %p.tp, "writing the producer snapshot: {e}");
            }
        }
        if let Err(e) = self.log_manager.shutdown() {
            tracing::error!("log shutdown failed: {e} ({})", log_error_code(&e));
        }
    }
}

/// Kafka's log defaults overlaid with the broker's `log.*` keys.
fn broker_log_config(config: &KafkaConfig) -> LogConfig {
    let mut c = LogConfig::default();
    for (k, v) in &config.topic_defaults {
        if LogConfig::is_known_key(k) {
            if let Err(e) = c.set(k, v) {
                tracing::warn!("ignoring broker default {k}={v}: {e}");
            }
        }
    }
    c
}
