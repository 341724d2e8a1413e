//! The replicas this broker hosts: opens a partition's log when the cluster
//! metadata assigns it here, updates leadership and configs as metadata
//! changes, deletes the log when its topic goes, and owns the purgatory in
//! which fetches and acks=all produces wait for partitions to move.
//!
//! Lock order: `partitions` (never held across a log call: handlers clone
//! the `Arc<Partition>` and release it) → `Partition`'s own locks.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use super::error::log_error_code;
use super::partition::{LeaderState, Partition};
use super::purgatory::Purgatory;
use super::KafkaConfig;
use crate::cluster::ClusterImage;
use crate::log::manager::BackgroundConfig;
use crate::log::{LogConfig, LogManager};
use crate::protocol::ErrorCode;
use crate::time::SystemClock;
use crate::types::TopicPartition;

pub struct ReplicaManager {
    broker_id: i32,
    config: Arc<KafkaConfig>,
    log_manager: Arc<LogManager>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// Serializes `apply_image`, so a partition is opened once.
    apply_lock: Mutex<()>,
    pub purgatory: Purgatory,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot open the log dirs: {0}")]
pub struct OpenError(#[from] crate::log::Error);

impl ReplicaManager {
    /// Opens the log dirs (recovery runs here; blocking).
    pub fn open(config: Arc<KafkaConfig>, broker_id: i32) -> Result<ReplicaManager, OpenError> {
        let defaults = broker_log_config(&config);
        let log_manager = Arc::new(LogManager::open(
            &config.log_dirs,
            defaults,
            config.num_recovery_threads_per_data_dir,
            Arc::new(SystemClock),
        )?);
        // Retention, time-based flushes and checkpoints run on the log's own threads.
        log_manager.start_background(BackgroundConfig {
            retention_check_interval_ms: config.log_retention_check_interval_ms as u64,
            ..BackgroundConfig::default()
        });
        Ok(ReplicaManager {
            broker_id,
            config,
            log_manager,
            partitions: RwLock::new(HashMap::new()),
            apply_lock: Mutex::new(()),
            purgatory: Purgatory::default(),
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
        let _serial = self.apply_lock.lock().unwrap_or_else(|p| p.into_inner());
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
                    };
                    wanted.insert(
                        TopicPartition::new(topic.name.clone(), p),
                        (topic.topic_id, state, &topic.configs),
                    );
                }
            }
        }
        let current: Vec<(TopicPartition, Arc<Partition>)> = self
            .partitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (tp, partition) in &current {
            let keep = wanted.get(tp).is_some_and(|(id, ..)| *id == partition.topic_id);
            if !keep {
                self.partitions.write().unwrap_or_else(|p| p.into_inner()).remove(tp);
                self.purgatory.wake(tp);
                match self.log_manager.delete_log(tp) {
                    Ok(()) => tracing::info!(partition = %tp, "deleted log"),
                    Err(e) => tracing::warn!(partition = %tp, "cannot delete log: {e}"),
                }
            }
        }
        for (tp, (topic_id, state, configs)) in wanted {
            let existing =
                self.partitions.read().unwrap_or_else(|p| p.into_inner()).get(&tp).cloned();
            match existing {
                Some(p) => {
                    if p.leader_state() != state {
                        p.set_leader_state(state);
                    }
                    let mut applied = p.applied_configs.lock().unwrap_or_else(|e| e.into_inner());
                    if *applied != *configs {
                        p.log.update_config(self.log_config_for(configs));
                        *applied = configs.clone();
                    }
                }
                None => match self.open_partition(&tp, topic_id, state, configs) {
                    Ok(p) => {
                        self.partitions
                            .write()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(tp, Arc::new(p));
                    }
                    Err(e) => {
                        tracing::error!(partition = %tp, "cannot open partition: {e}");
                        failed.push((tp, e));
                    }
                },
            }
        }
        failed
    }

    fn open_partition(
        &self,
        tp: &TopicPartition,
        topic_id: uuid::Uuid,
        state: LeaderState,
        configs: &BTreeMap<String, String>,
    ) -> Result<Partition, String> {
        let log = self
            .log_manager
            .get_or_create_log(tp, self.log_config_for(configs))
            .map_err(|e| e.to_string())?;
        Partition::new(tp.clone(), topic_id, log, self.broker_id, state, configs.clone())
            .map_err(|e| e.message.unwrap_or_default())
    }

    /// The partition if this broker leads it.
    pub fn leader_partition(&self, tp: &TopicPartition) -> Result<Arc<Partition>, ErrorCode> {
        let p = self.partition(tp)?;
        if p.is_leader() {
            Ok(p)
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
        self.partitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(tp)
            .cloned()
            .ok_or(ErrorCode::UnknownTopicOrPartition)
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
        self.partitions.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// Flushes and closes every log and writes the clean-shutdown marker
    /// (blocking).
    pub fn shutdown(&self) {
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
