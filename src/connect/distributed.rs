//! `connect-distributed`: workers sharing connectors and tasks through a
//! group (see `group`) and three compacted topics in Kafka's layouts:
//!
//! - config (`config.storage.topic`, one partition): `connector-NAME` →
//!   `{"properties":{...}}` (a tombstone deletes), `target-state-NAME` →
//!   `{"state":"PAUSED","state.v2":"STOPPED"}`, `restart-connector-NAME` →
//!   `{"include-tasks":true,"only-failed":false}`, and `restart-task-NAME-ID`
//!   → `{}` for a single task's restart (which Kafka forwards over REST
//!   instead). Task configs follow from the connector config, so they are
//!   derived on each worker rather than stored.
//! - offsets (`offset.storage.topic`): see `offsets`.
//! - status (`status.storage.topic`): `status-connector-NAME` and
//!   `status-task-NAME-ID` → `{"state":"RUNNING","trace":null,
//!   "worker_id":"host:port","generation":N}`.
//!
//! Any worker writes a REST change to the config topic; every worker reads
//! it back, and a change to the set of tasks makes the workers rejoin so the
//! leader hands the new set out.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, watch, Mutex};

use super::error::{Error, Result};
use super::group::{self, WorkerAssignment, WorkerGroup, WorkerState};
use super::herder::{ConfigChange, Herder, SharedConfig, State, Status, TargetState};
use super::offsets::OffsetStore;
use super::plugins::Config;
use super::tasks::TaskEnv;
use super::topic_log::TopicLog;
use super::worker::{self, WorkerConfig};
use crate::client::Cluster;

/// The config topic as this worker reads and writes it.
struct ConfigTopic {
    log: Arc<TopicLog>,
    herder: OnceLock<Weak<Herder>>,
    /// Set when a change altered which tasks exist: the group must rebalance.
    layout_changed: AtomicBool,
}

fn encode(change: &ConfigChange) -> (String, Option<Value>) {
    match change {
        ConfigChange::Put { name, config } => {
            (format!("connector-{name}"), Some(json!({ "properties": config })))
        }
        ConfigChange::Delete { name } => (format!("connector-{name}"), None),
        ConfigChange::Target { name, target } => {
            let v1 = if *target == TargetState::Started { "STARTED" } else { "PAUSED" };
            (
                format!("target-state-{name}"),
                Some(json!({ "state": v1, "state.v2": target.name() })),
            )
        }
        ConfigChange::Restart { name, include_tasks, only_failed } => (
            format!("restart-connector-{name}"),
            Some(json!({ "include-tasks": include_tasks, "only-failed": only_failed })),
        ),
        ConfigChange::RestartTask { name, id } => {
            (format!("restart-task-{name}-{id}"), Some(json!({})))
        }
    }
}

fn decode(key: &[u8], value: Option<&[u8]>) -> Option<ConfigChange> {
    let key = std::str::from_utf8(key).ok()?;
    let value: Option<Value> = value.and_then(|v| serde_json::from_slice(v).ok());
    if let Some(name) = key.strip_prefix("connector-") {
        return Some(match value {
            None => ConfigChange::Delete { name: name.into() },
            Some(v) => {
                let config: Config = v
                    .get("properties")?
                    .as_object()?
                    .iter()
                    .map(|(k, v)| {
                        (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
                    })
                    .collect();
                ConfigChange::Put { name: name.into(), config }
            }
        });
    }
    if let Some(name) = key.strip_prefix("target-state-") {
        let v = value?;
        let state = v.get("state.v2").or_else(|| v.get("state"))?.as_str()?;
        return Some(ConfigChange::Target {
            name: name.into(),
            target: TargetState::parse(state)?,
        });
    }
    if let Some(name) = key.strip_prefix("restart-connector-") {
        let v = value?;
        let flag = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
        return Some(ConfigChange::Restart {
            name: name.into(),
            include_tasks: flag("include-tasks"),
            only_failed: flag("only-failed"),
        });
    }
    if let Some(rest) = key.strip_prefix("restart-task-") {
        value?;
        let (name, id) = rest.rsplit_once('-')?;
        return Some(ConfigChange::RestartTask { name: name.into(), id: id.parse().ok()? });
    }
    None
}

fn layout(state: &State) -> BTreeMap<String, (usize, TargetState)> {
    state.connectors.iter().map(|(n, c)| (n.clone(), (c.task_configs.len(), c.target))).collect()
}

impl ConfigTopic {
    fn herder(&self) -> Option<Arc<Herder>> {
        self.herder.get().and_then(Weak::upgrade)
    }

    /// Reads the config topic to its end and applies what is new.
    async fn sync(&self) -> Result<()> {
        let mut read = Vec::new();
        self.log.read_to_end(|e| read.push(e)).await?;
        if read.is_empty() {
            return Ok(());
        }
        let Some(herder) = self.herder() else { return Ok(()) };
        let mut state = herder.state.lock().await;
        let before = layout(&state);
        for (k, v) in read {
            if let Some(change) = decode(&k, v.as_deref()) {
                herder.apply_locked(&mut state, change).await;
            }
        }
        if layout(&state) != before {
            self.layout_changed.store(true, Ordering::Release);
        }
        Ok(())
    }
}

impl SharedConfig for ConfigTopic {
    fn write(&self, change: ConfigChange) -> Pin<Box<dyn Future<Output = Result<()>> + Send + '_>> {
        Box::pin(async move {
            let (key, value) = encode(&change);
            let value = value.map(|v| v.to_string().into_bytes());
            self.log.send(key.as_bytes(), value.as_deref()).await?;
            self.sync().await
        })
    }
}

fn status_json(s: &Status, generation: i32) -> Value {
    json!({ "state": s.state, "trace": s.trace, "worker_id": s.worker_id, "generation": generation })
}

fn parse_status(v: &[u8]) -> Option<Status> {
    let v: Value = serde_json::from_slice(v).ok()?;
    let state = match v.get("state")?.as_str()? {
        "RUNNING" => "RUNNING",
        "FAILED" => "FAILED",
        "PAUSED" => "PAUSED",
        "STOPPED" => "STOPPED",
        "RESTARTING" => "RESTARTING",
        "DESTROYED" => "DESTROYED",
        _ => "UNASSIGNED",
    };
    Some(Status {
        state,
        trace: v.get("trace").and_then(Value::as_str).map(str::to_string),
        worker_id: v.get("worker_id").and_then(Value::as_str).unwrap_or_default().to_string(),
    })
}

fn replication_factor(config: &WorkerConfig, key: &str) -> Result<i16> {
    match config.get(key) {
        None => Ok(3),
        Some(v) => v.trim().parse().map_err(|_| {
            Error::Config(format!(
                "Invalid value {v} for configuration {key}: Not a number of type SHORT"
            ))
        }),
    }
}

fn partitions(config: &WorkerConfig, key: &str, default: i32) -> Result<i32> {
    match config.get(key) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| {
            Error::Config(format!(
                "Invalid value {v} for configuration {key}: Not a number of type INT"
            ))
        }),
    }
}

fn ms(config: &WorkerConfig, key: &str, default: u64) -> Result<Duration> {
    match config.get(key) {
        None => Ok(Duration::from_millis(default)),
        Some(v) => v.trim().parse().map(Duration::from_millis).map_err(|_| {
            Error::Config(format!(
                "Invalid value {v} for configuration {key}: Not a number of type INT"
            ))
        }),
    }
}

/// Opens one of the worker's internal topics (`kind` is `config`, `offset`
/// or `status`), replicated as `<kind>.storage.replication.factor` says.
async fn storage_log(
    cluster: &Arc<Cluster>,
    config: &WorkerConfig,
    kind: &str,
    topic: &str,
    partitions: i32,
) -> Result<Arc<TopicLog>> {
    let replication = replication_factor(config, &format!("{kind}.storage.replication.factor"))?;
    Ok(Arc::new(TopicLog::open(cluster.clone(), topic, partitions, replication).await?))
}

pub async fn run(config: WorkerConfig, shutdown: impl Future<Output = ()>) -> Result<()> {
    let group_id = config.required("group.id")?.to_string();
    let config_topic = config.required("config.storage.topic")?.to_string();
    let offset_topic = config.required("offset.storage.topic")?.to_string();
    let status_topic = config.required("status.storage.topic")?.to_string();
    let session_timeout = ms(&config, "session.timeout.ms", 10_000)?;
    let heartbeat_interval = ms(&config, "heartbeat.interval.ms", 3_000)?;
    let rebalance_timeout = ms(&config, "rebalance.timeout.ms", 60_000)?;
    let (cluster, cluster_id) = worker::connect(&config, "connect-distributed").await?;
    // One partition: Kafka's config topic keeps every change in one order.
    let config_log = storage_log(&cluster, &config, "config", &config_topic, 1).await?;
    let offset_partitions = partitions(&config, "offset.storage.partitions", 25)?;
    let offset_log =
        storage_log(&cluster, &config, "offset", &offset_topic, offset_partitions).await?;
    let status_partitions = partitions(&config, "status.storage.partitions", 5)?;
    let status_log =
        storage_log(&cluster, &config, "status", &status_topic, status_partitions).await?;
    let offsets = Arc::new(OffsetStore::open_topic(offset_log).await?);
    let listener = worker::bind(&config).await?;

    // One writer keeps each key's statuses in the order they happened.
    let generation = Arc::new(AtomicI32::new(-1));
    let (status_tx, mut status_rx) = mpsc::unbounded_channel::<(String, Option<Status>)>();
    {
        let status_log = status_log.clone();
        let generation = generation.clone();
        tokio::spawn(async move {
            while let Some((key, status)) = status_rx.recv().await {
                let g = generation.load(Ordering::Acquire);
                let value = status.map(|s| status_json(&s, g).to_string().into_bytes());
                if let Err(e) = status_log.send(key.as_bytes(), value.as_deref()).await {
                    tracing::warn!("Failed to write status {key}: {e}");
                }
            }
        });
    }
    let shared = Arc::new(ConfigTopic {
        log: config_log,
        herder: OnceLock::new(),
        layout_changed: AtomicBool::new(false),
    });
    let env = Arc::new(TaskEnv {
        cluster: cluster.clone(),
        worker_config: config.props.clone(),
        offsets,
        flush_interval: config.flush_interval,
    });
    let herder = Arc::new(Herder {
        worker_id: config.worker_id.clone(),
        shared: Some(shared.clone()),
        env,
        kafka_cluster_id: cluster_id,
        state: Mutex::new(State::new(false)),
        status_listener: Some(Arc::new(move |k, s| {
            let _ = status_tx.send((k, s));
        })),
        shutdown_timeout: config.shutdown_timeout,
    });
    let _ = shared.herder.set(Arc::downgrade(&herder));
    shared.sync().await?;

    let (stop_tx, stop_rx) = watch::channel(false);
    // Membership has connections of its own, as Kafka's WorkerGroupMember
    // has its own network client: the config, offset and status topics are
    // read with polls on the worker's connections, and a heartbeat queued
    // behind one would reach the coordinator late.
    let mut group_client = cluster.config().clone();
    group_client.client_id = format!("connect-{group_id}-membership");
    let group_cluster = Cluster::connect(group_client).await?;
    let group = WorkerGroup::new(
        group_cluster,
        &group_id,
        session_timeout,
        rebalance_timeout,
        heartbeat_interval,
    );
    let membership = Membership {
        herder: herder.clone(),
        shared,
        status_log,
        generation,
        url: config.rest_url.clone(),
        group,
        stop: stop_rx,
    };
    let members = tokio::spawn(membership.run());
    let shutdown = async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    };
    worker::serve(herder, listener, shutdown).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), members).await;
    Ok(())
}

struct Membership {
    herder: Arc<Herder>,
    shared: Arc<ConfigTopic>,
    status_log: Arc<TopicLog>,
    generation: Arc<AtomicI32>,
    url: String,
    group: WorkerGroup,
    stop: watch::Receiver<bool>,
}

impl Membership {
    /// Joins, runs what the leader assigned, and rejoins whenever the group
    /// or the set of tasks changes; on stop, stops the tasks (each commits)
    /// and leaves so the others take over at once.
    async fn run(mut self) {
        loop {
            if *self.stop.borrow() {
                break;
            }
            if let Err(e) = self.rebalance().await {
                tracing::error!("Rebalance failed: {e}");
                if self.pause(Duration::from_secs(1)).await {
                    break;
                }
                continue;
            }
            // Until something asks for a rebalance: config changes, other
            // workers' statuses.
            let mut last_status_read = tokio::time::Instant::now() - Duration::from_secs(10);
            loop {
                if self.pause(Duration::from_millis(200)).await {
                    break;
                }
                if let Err(e) = self.shared.sync().await {
                    tracing::warn!("Failed to read the config topic: {e}");
                }
                if self.shared.layout_changed.swap(false, Ordering::AcqRel) {
                    self.group.request_rejoin();
                }
                if last_status_read.elapsed() >= Duration::from_secs(1) {
                    last_status_read = tokio::time::Instant::now();
                    self.read_statuses().await;
                }
                if self.group.needs_rejoin() {
                    break;
                }
            }
        }
        self.herder.stop_all().await;
        self.group.leave().await;
    }

    async fn pause(&mut self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => *self.stop.borrow(),
            _ = self.stop.changed() => true,
        }
    }

    async fn read_statuses(&self) {
        let mut read = Vec::new();
        if let Err(e) = self.status_log.read_to_end(|e| read.push(e)).await {
            tracing::warn!("Failed to read the status topic: {e}");
            return;
        }
        if read.is_empty() {
            return;
        }
        let mut state = self.herder.state.lock().await;
        for (k, v) in read {
            let key = String::from_utf8_lossy(&k).into_owned();
            match v.as_deref().and_then(parse_status) {
                Some(s) => state.remote_status.insert(key, s),
                None => state.remote_status.remove(&key),
            };
        }
    }

    /// One eager rebalance: give everything up, join, let the leader
    /// assign, run the new assignment.
    async fn rebalance(&mut self) -> Result<()> {
        {
            let mut state = self.herder.state.lock().await;
            state.assigned_connectors.clear();
            state.assigned_tasks.clear();
            self.herder.reconcile_locked(&mut state).await;
        }
        loop {
            self.shared.sync().await?;
            self.shared.layout_changed.store(false, Ordering::Release);
            let me = WorkerState { url: self.url.clone(), config_offset: -1 };
            let joined = self.group.join(&me).await?;
            let mut assignments = BTreeMap::new();
            if joined.leader {
                // The leader hands out what it has read of the config topic,
                // which holds everything acknowledged before the join.
                self.shared.sync().await?;
                let state = self.herder.state.lock().await;
                let counts: BTreeMap<String, usize> = state
                    .connectors
                    .iter()
                    .map(|(n, c)| (n.clone(), c.task_configs.len()))
                    .collect();
                let urls: BTreeMap<&str, &str> =
                    joined.members.iter().map(|(id, w)| (id.as_str(), w.url.as_str())).collect();
                let ids: Vec<String> = joined.members.iter().map(|(id, _)| id.clone()).collect();
                for (member, (connectors, tasks)) in group::assign(&ids, &counts) {
                    assignments.insert(
                        member,
                        WorkerAssignment {
                            error: 0,
                            leader: joined.leader_id.clone(),
                            leader_url: urls
                                .get(joined.leader_id.as_str())
                                .copied()
                                .unwrap_or_default()
                                .to_string(),
                            config_offset: -1,
                            connectors,
                            tasks,
                        },
                    );
                }
            }
            let Some(assignment) = self.group.sync(assignments).await? else { continue };
            self.generation.store(self.group.generation(), Ordering::Release);
            tracing::info!(
                "Joined group at generation {} with {} connector(s) and {} task(s): {:?}",
                self.group.generation(),
                assignment.connectors.len(),
                assignment.tasks.len(),
                assignment.tasks
            );
            let mut state = self.herder.state.lock().await;
            state.assigned_connectors = assignment.connectors.into_iter().collect::<BTreeSet<_>>();
            state.assigned_tasks = assignment.tasks.into_iter().collect();
            self.herder.reconcile_locked(&mut state).await;
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_records_use_kafkas_keys_and_round_trip() {
        let put = ConfigChange::Put {
            name: "sink".into(),
            config: [("connector.class".to_string(), "FileStreamSink".to_string())].into(),
        };
        let (k, v) = encode(&put);
        assert_eq!(k, "connector-sink");
        assert_eq!(
            v.clone().unwrap().to_string(),
            r#"{"properties":{"connector.class":"FileStreamSink"}}"#
        );
        let back = decode(k.as_bytes(), Some(v.unwrap().to_string().as_bytes()));
        assert!(matches!(back, Some(ConfigChange::Put { ref name, .. }) if name == "sink"));
        let (k, v) =
            encode(&ConfigChange::Target { name: "a-b".into(), target: TargetState::Stopped });
        assert_eq!(k, "target-state-a-b");
        assert_eq!(v.as_ref().unwrap()["state"], "PAUSED", "readers without state.v2 see paused");
        let back = decode(k.as_bytes(), Some(v.unwrap().to_string().as_bytes()));
        assert!(matches!(back, Some(ConfigChange::Target { target: TargetState::Stopped, .. })));
        assert!(matches!(
            decode(b"restart-task-a-b-3", Some(b"{}")),
            Some(ConfigChange::RestartTask { ref name, id: 3 }) if name == "a-b"
        ));
        assert!(matches!(decode(b"connector-x", None), Some(ConfigChange::Delete { .. })));
        assert!(decode(b"commit-x", Some(b"{}")).is_none());
    }
}
