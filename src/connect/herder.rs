//! The herder: which connectors exist (their configs and target states),
//! which of their tasks run on this worker, and their statuses. Every change
//! ends in [`Herder::reconcile`], which stops the local tasks that should
//! no longer run and starts the ones that should.
//!
//! A standalone worker owns every connector and task; a distributed worker
//! owns what the group leader assigned it, learns configs from the config
//! topic and publishes statuses to the status topic (see `distributed`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

use super::error::{Error, Result};
use super::plugins::{self, Config, ConnectorType};
use super::tasks::{self, TaskContext, TaskEnv};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetState {
    Started,
    Paused,
    Stopped,
}

impl TargetState {
    pub fn name(self) -> &'static str {
        match self {
            TargetState::Started => "STARTED",
            TargetState::Paused => "PAUSED",
            TargetState::Stopped => "STOPPED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "STARTED" => Some(TargetState::Started),
            "PAUSED" => Some(TargetState::Paused),
            "STOPPED" => Some(TargetState::Stopped),
            _ => None,
        }
    }
}

/// A connector as the cluster knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectorState {
    pub config: Config,
    pub target: TargetState,
    /// Empty while the connector is stopped.
    pub task_configs: Vec<Config>,
}

/// A status as Connect reports it (and stores it in the status topic).
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    pub state: &'static str,
    pub trace: Option<String>,
    pub worker_id: String,
}

impl Status {
    pub fn json(&self) -> Value {
        let mut v = json!({ "state": self.state, "worker_id": self.worker_id });
        if let Some(t) = &self.trace {
            v["trace"] = json!(t);
        }
        v
    }
}

struct TaskRuntime {
    config: Config,
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
    status: Arc<StdMutex<Status>>,
}

/// Where status changes go besides this worker's memory.
pub type StatusListener = Arc<dyn Fn(String, Option<Status>) + Send + Sync>;

#[derive(Default)]
pub struct State {
    /// Whether every connector and task runs here (standalone).
    pub owns_everything: bool,
    pub connectors: BTreeMap<String, ConnectorState>,
    /// Connectors and tasks this worker runs.
    pub assigned_connectors: BTreeSet<String>,
    pub assigned_tasks: BTreeSet<(String, u32)>,
    /// Statuses reported by other workers (distributed), by Kafka's status
    /// keys `status-connector-NAME` and `status-task-NAME-ID`.
    pub remote_status: BTreeMap<String, Status>,
    running: BTreeMap<(String, u32), TaskRuntime>,
    connector_failures: BTreeMap<String, String>,
}

/// Where connector configs, target states and restart requests are kept
/// when they are shared by a cluster of workers.
pub trait SharedConfig: Send + Sync {
    /// Writes a change and returns once this worker's state reflects it.
    fn write(
        &self,
        change: ConfigChange,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + '_>>;
}

#[derive(Clone, Debug)]
pub enum ConfigChange {
    Put { name: String, config: Config },
    Delete { name: String },
    Target { name: String, target: TargetState },
    Restart { name: String, include_tasks: bool, only_failed: bool },
    RestartTask { name: String, id: u32 },
}

impl State {
    pub fn new(owns_everything: bool) -> Self {
        State { owns_everything, ..State::default() }
    }
}

pub struct Herder {
    pub worker_id: String,
    /// None on a standalone worker.
    pub shared: Option<Arc<dyn SharedConfig>>,
    pub env: Arc<TaskEnv>,
    pub kafka_cluster_id: String,
    pub state: Mutex<State>,
    pub status_listener: Option<StatusListener>,
    /// How long a task gets to commit and stop (`task.shutdown.graceful.timeout.ms`).
    pub shutdown_timeout: Duration,
}

pub fn connector_status_key(name: &str) -> String {
    format!("status-connector-{name}")
}

pub fn task_status_key(name: &str, id: u32) -> String {
    format!("status-task-{name}-{id}")
}

impl Herder {
    pub fn connector_type(config: &Config) -> Option<ConnectorType> {
        config.get("connector.class").and_then(|c| plugins::find(c)).map(|p| p.kind)
    }

    /// Checks a config as `POST /connectors` does: a known class and no
    /// validation errors.
    pub fn validate(&self, name: &str, config: &Config) -> Result<()> {
        if name.trim().is_empty() {
            return Err(Error::BadRequest("Connector name cannot be empty".into()));
        }
        if name.contains('/') {
            return Err(Error::BadRequest(format!("Connector name {name} contains '/'")));
        }
        let class = config.get("connector.class").ok_or_else(|| {
            Error::BadRequest(format!("Connector config {config:?} contains no connector type"))
        })?;
        let plugin = plugins::find(class)
            .ok_or_else(|| Error::BadRequest(plugins::unknown_class_message(class)))?;
        let errors = plugins::errors(plugin, config, &self.env.worker_config);
        if errors.values().any(|e| !e.is_empty()) {
            return Err(Error::BadRequest(plugins::invalid_message(&errors)));
        }
        Ok(())
    }

    pub fn task_configs_for(config: &Config) -> Vec<Config> {
        match config.get("connector.class").and_then(|c| plugins::find(c)) {
            Some(p) => plugins::task_configs(p, config),
            None => Vec::new(),
        }
    }

    fn publish(&self, key: String, status: Option<Status>) {
        if let Some(l) = &self.status_listener {
            l(key, status);
        }
    }

    /// Stops the local tasks that should not run, starts those that should.
    pub async fn reconcile(self: &Arc<Self>) {
        let mut state = self.state.lock().await;
        self.reconcile_locked(&mut state).await;
    }

    pub async fn reconcile_locked(self: &Arc<Self>, state: &mut State) {
        let wanted: BTreeMap<(String, u32), Config> = state
            .connectors
            .iter()
            .filter(|(_, c)| c.target == TargetState::Started)
            .flat_map(|(name, c)| {
                c.task_configs
                    .iter()
                    .enumerate()
                    .map(move |(i, t)| ((name.clone(), i as u32), t.clone()))
            })
            .filter(|(k, _)| state.owns_everything || state.assigned_tasks.contains(k))
            .collect();
        let to_stop: Vec<(String, u32)> = state
            .running
            .iter()
            .filter(|(k, rt)| wanted.get(*k) != Some(&rt.config))
            .map(|(k, _)| k.clone())
            .collect();
        for key in to_stop {
            if let Some(rt) = state.running.remove(&key) {
                self.stop_task(rt).await;
                let target = state.connectors.get(&key.0).map(|c| c.target);
                let status = match target {
                    Some(TargetState::Paused) => Some(self.status("PAUSED", None)),
                    _ => None,
                };
                // A task moved to another worker is reported by that worker.
                if status.is_some() && Self::runs_task(state, &key.0, key.1) {
                    self.publish(task_status_key(&key.0, key.1), status);
                }
            }
        }
        for (key, config) in wanted {
            if state.running.contains_key(&key) {
                continue;
            }
            let connector_config = state.connectors[&key.0].config.clone();
            let rt = self.start_task(&key.0, key.1, config, connector_config);
            state.running.insert(key, rt);
        }
        // Connector-level statuses for what this worker owns.
        let owned: Vec<String> = state
            .connectors
            .keys()
            .filter(|n| state.owns_everything || state.assigned_connectors.contains(*n))
            .cloned()
            .collect();
        for name in owned {
            let status = self.connector_status_local(state, &name);
            self.publish(connector_status_key(&name), Some(status));
        }
    }

    fn status(&self, state: &'static str, trace: Option<String>) -> Status {
        Status { state, trace, worker_id: self.worker_id.clone() }
    }

    fn start_task(
        self: &Arc<Self>,
        connector: &str,
        id: u32,
        config: Config,
        connector_config: Config,
    ) -> TaskRuntime {
        let (stop, stop_rx) = watch::channel(false);
        let status = Arc::new(StdMutex::new(self.status("RUNNING", None)));
        let ctx = TaskContext {
            connector: connector.to_string(),
            id,
            config: config.clone(),
            connector_config,
            env: self.env.clone(),
            stop: stop_rx,
        };
        let is_sink = config.get("task.class").is_some_and(|c| c.ends_with("SinkTask"));
        let key = task_status_key(connector, id);
        self.publish(key.clone(), Some(self.status("RUNNING", None)));
        let this = self.clone();
        let task_status = status.clone();
        let name = format!("{connector}-{id}");
        tracing::info!("Starting task {name}");
        let handle = tokio::spawn(async move {
            let result =
                if is_sink { tasks::run_sink(ctx).await } else { tasks::run_source(ctx).await };
            match result {
                Ok(()) => tracing::info!("Task {name} stopped"),
                Err(e) => {
                    tracing::error!(
                        "Task {name} threw an uncaught and unrecoverable exception: {e}"
                    );
                    let trace = format!(
                        "org.apache.kafka.connect.errors.ConnectException: {e}\n\tat task {name} on worker {}\n",
                        this.worker_id
                    );
                    let failed = this.status("FAILED", Some(trace));
                    *task_status.lock().expect("status lock") = failed.clone();
                    this.publish(key, Some(failed));
                }
            }
        });
        TaskRuntime { config, stop, handle, status }
    }

    async fn stop_task(&self, rt: TaskRuntime) {
        let _ = rt.stop.send(true);
        let mut handle = rt.handle;
        if tokio::time::timeout(self.shutdown_timeout, &mut handle).await.is_err() {
            tracing::warn!(
                "Graceful stop of task failed: it did not stop within {:?}",
                self.shutdown_timeout
            );
            handle.abort();
        }
    }

    /// Stops every local task (clean shutdown: each commits first).
    pub async fn stop_all(&self) {
        let mut state = self.state.lock().await;
        let running = std::mem::take(&mut state.running);
        for rt in running.values() {
            let _ = rt.stop.send(true);
        }
        for rt in running.into_values() {
            self.stop_task(rt).await;
        }
    }

    fn connector_status_local(&self, state: &State, name: &str) -> Status {
        if let Some(trace) = state.connector_failures.get(name) {
            return self.status("FAILED", Some(trace.clone()));
        }
        match state.connectors.get(name).map(|c| c.target) {
            Some(TargetState::Paused) => self.status("PAUSED", None),
            Some(TargetState::Stopped) => self.status("STOPPED", None),
            _ => self.status("RUNNING", None),
        }
    }

    /// `GET /connectors/NAME/status`.
    pub async fn status_json(&self, name: &str) -> Result<Value> {
        let state = self.state.lock().await;
        let c = state.connectors.get(name).ok_or_else(|| Error::NotFound(name.into()))?;
        let kind = Self::connector_type(&c.config).map(ConnectorType::name).unwrap_or("unknown");
        let connector = if state.owns_everything || state.assigned_connectors.contains(name) {
            Some(self.connector_status_local(&state, name))
        } else {
            state.remote_status.get(&connector_status_key(name)).cloned()
        };
        let connector = connector
            .map(|s| s.json())
            .unwrap_or_else(|| json!({ "state": "UNASSIGNED", "worker_id": self.worker_id }));
        let tasks: Vec<Value> = (0..c.task_configs.len() as u32)
            .map(|id| {
                let mut v = self.task_status(&state, name, id).json();
                let obj = v.as_object_mut().expect("status is an object");
                let mut out = serde_json::Map::new();
                out.insert("id".into(), json!(id));
                out.append(obj);
                Value::Object(out)
            })
            .collect();
        Ok(json!({ "name": name, "connector": connector, "tasks": tasks, "type": kind }))
    }

    fn task_status(&self, state: &State, name: &str, id: u32) -> Status {
        let key = (name.to_string(), id);
        if let Some(rt) = state.running.get(&key) {
            return rt.status.lock().expect("status lock").clone();
        }
        let target = state.connectors.get(name).map(|c| c.target);
        if (state.owns_everything || state.assigned_tasks.contains(&key))
            && target == Some(TargetState::Paused)
        {
            return self.status("PAUSED", None);
        }
        if !state.owns_everything {
            if let Some(s) = state.remote_status.get(&task_status_key(name, id)) {
                return s.clone();
            }
        }
        Status { state: "UNASSIGNED", trace: None, worker_id: self.worker_id.clone() }
    }

    /// `GET /connectors/NAME` (and `?expand=info`).
    pub fn info_json(name: &str, c: &ConnectorState) -> Value {
        let kind = Self::connector_type(&c.config).map(ConnectorType::name).unwrap_or("unknown");
        let tasks: Vec<Value> =
            (0..c.task_configs.len()).map(|i| json!({ "connector": name, "task": i })).collect();
        json!({ "name": name, "config": c.config, "tasks": tasks, "type": kind })
    }

    /// Restarts a task that runs here (`POST .../tasks/ID/restart`).
    pub async fn restart_local_task(self: &Arc<Self>, state: &mut State, name: &str, id: u32) {
        let key = (name.to_string(), id);
        if let Some(rt) = state.running.remove(&key) {
            self.stop_task(rt).await;
        }
        state.connector_failures.remove(name);
        self.reconcile_locked(state).await;
    }

    /// Whether a task is in the FAILED state here.
    pub fn task_failed(state: &State, name: &str, id: u32) -> bool {
        state
            .running
            .get(&(name.to_string(), id))
            .is_some_and(|rt| rt.status.lock().expect("status lock").state == "FAILED")
    }

    pub fn runs_task(state: &State, name: &str, id: u32) -> bool {
        state.owns_everything || state.assigned_tasks.contains(&(name.to_string(), id))
    }
}

impl Herder {
    /// Applies a change to the local state: the standalone worker's only
    /// path, and what a distributed worker does with every change it reads
    /// from the config topic.
    pub async fn apply_locked(self: &Arc<Self>, state: &mut State, change: ConfigChange) {
        match change {
            ConfigChange::Put { name, config } => {
                let task_configs = Self::task_configs_for(&config);
                let c = state.connectors.entry(name.clone()).or_insert(ConnectorState {
                    config: Config::new(),
                    target: TargetState::Started,
                    task_configs: Vec::new(),
                });
                c.config = config;
                c.task_configs =
                    if c.target == TargetState::Stopped { Vec::new() } else { task_configs };
                state.connector_failures.remove(&name);
            }
            ConfigChange::Delete { name } => {
                state.connectors.remove(&name);
                state.connector_failures.remove(&name);
                self.publish(connector_status_key(&name), None);
            }
            ConfigChange::Target { name, target } => {
                if let Some(c) = state.connectors.get_mut(&name) {
                    c.target = target;
                    c.task_configs = match target {
                        TargetState::Stopped => Vec::new(),
                        _ => Self::task_configs_for(&c.config),
                    };
                }
            }
            ConfigChange::Restart { name, include_tasks, only_failed } => {
                state.connector_failures.remove(&name);
                if include_tasks {
                    let n = state.connectors.get(&name).map_or(0, |c| c.task_configs.len() as u32);
                    for id in 0..n {
                        let runs_here = Self::runs_task(state, &name, id);
                        if runs_here && (!only_failed || Self::task_failed(state, &name, id)) {
                            if let Some(rt) = state.running.remove(&(name.clone(), id)) {
                                self.stop_task(rt).await;
                            }
                        }
                    }
                }
            }
            ConfigChange::RestartTask { name, id } => {
                if Self::runs_task(state, &name, id) {
                    if let Some(rt) = state.running.remove(&(name.clone(), id)) {
                        self.stop_task(rt).await;
                    }
                }
            }
        }
        self.reconcile_locked(state).await;
    }

    /// Makes a change: straight to the local state when standalone, through
    /// the config topic when distributed.
    pub async fn change(self: &Arc<Self>, change: ConfigChange) -> Result<()> {
        match &self.shared {
            Some(shared) => shared.write(change).await,
            None => {
                let mut state = self.state.lock().await;
                self.apply_locked(&mut state, change).await;
                Ok(())
            }
        }
    }

    /// `POST /connectors` and `PUT /connectors/NAME/config`; returns whether
    /// the connector was created.
    pub async fn put_connector(
        self: &Arc<Self>,
        name: &str,
        config: Config,
        fail_if_exists: bool,
    ) -> Result<bool> {
        self.validate(name, &config)?;
        let exists = self.state.lock().await.connectors.contains_key(name);
        if exists && fail_if_exists {
            return Err(Error::AlreadyExists(name.into()));
        }
        self.change(ConfigChange::Put { name: name.into(), config }).await?;
        Ok(!exists)
    }

    pub async fn connector(&self, name: &str) -> Result<ConnectorState> {
        self.state
            .lock()
            .await
            .connectors
            .get(name)
            .cloned()
            .ok_or_else(|| Error::NotFound(name.into()))
    }

    pub async fn names(&self) -> Vec<String> {
        self.state.lock().await.connectors.keys().cloned().collect()
    }
}
