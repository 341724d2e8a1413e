//! The transaction coordinator's runtime: one task owns the
//! [`crate::transaction::TransactionCoordinator`] state machine; a writer
//! thread appends its records to `__transaction_state` (acks=all, the
//! topic's min.insync.replicas); a loader replays the partitions this
//! broker leads whenever leadership (or its epoch) changes; marker jobs go
//! out as WriteTxnMarkers requests to each partition's leader, this broker
//! included, retried until every partition has its marker.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{ProducerId, TopicName, WriteTxnMarkersRequest};
use tokio::sync::{mpsc, oneshot, watch};

use super::group_coordinator::{
    ask, ask_read, led_partition_epochs, load_partition, next_command, spawn_writer,
    CoordinatorAppend, LoadedRecord, OffsetsLog, StateRead, Unavailable, COMMAND_QUEUE,
};
use crate::client::connection::Connection;
use crate::cluster::lease::{Role, SessionLease};
use crate::cluster::{ClusterImage, MetadataStore};
use crate::protocol::ErrorCode;
use crate::time::{now_ms, SystemClock};
use crate::transaction::{
    Append, AppendError, AppendId, MarkerJob, Output, RequestId, Response, TransactionConfig,
    TransactionCoordinator, TransactionResult, TRANSACTION_STATE_TOPIC_NAME,
};
use crate::types::TopicPartition;

type CallFn = Box<dyn FnOnce(&mut TransactionCoordinator, i64, RequestId) -> Output + Send>;
type ReadFn = StateRead<TransactionCoordinator>;

enum Command {
    Call(CallFn, oneshot::Sender<Response>),
    Read(ReadFn),
    AppendDone(AppendId, Result<i64, AppendError>),
    BeginLoading(i32, i32),
    Loaded(i32, Vec<LoadedRecord>),
    Unload(i32),
    MarkersWritten(MarkerJob),
}

/// The broker's way into the transaction coordinator; cheap to clone.
#[derive(Clone)]
pub struct TxnCoordinatorHandle {
    tx: mpsc::Sender<Command>,
    num_partitions: i32,
    lease: Arc<SessionLease>,
}

/// Where marker jobs go: the runtime hands each to it and learns when it
/// is done.
pub struct MarkerSender {
    pub store: Arc<dyn MetadataStore>,
    pub broker_id: i32,
    pub socket_timeout: Duration,
    /// Markers go to the leaders' inter-broker listener, with its security.
    pub listener: String,
    pub security: crate::security::ClientSecurity,
}

impl TxnCoordinatorHandle {
    /// Starts the coordinator task and its writer thread.
    pub fn start(
        config: TransactionConfig,
        log: Arc<dyn OffsetsLog>,
        markers: Arc<MarkerSender>,
        lease: Arc<SessionLease>,
    ) -> TxnCoordinatorHandle {
        let num_partitions = config.transaction_state_log_num_partitions;
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let (append_tx, append_rx) = std::sync::mpsc::channel::<Append>();
        spawn_writer("transaction-log-writer", log, append_rx, tx.clone(), Command::AppendDone);
        let handle = TxnCoordinatorHandle { tx, num_partitions, lease };
        let coordinator = TransactionCoordinator::new(config);
        tokio::spawn(run(coordinator, rx, append_tx, handle.clone(), markers));
        handle
    }

    /// The `__transaction_state` partition of a transactional id.
    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        crate::transaction::partition_for(transactional_id, self.num_partitions)
    }

    pub async fn call(
        &self,
        f: impl FnOnce(&mut TransactionCoordinator, i64, RequestId) -> Output + Send + 'static,
    ) -> Result<Response, Unavailable> {
        ask(&self.tx, |reply| Command::Call(Box::new(f), reply)).await
    }

    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&TransactionCoordinator) -> T + Send + 'static,
    ) -> Result<T, Unavailable> {
        ask_read(&self.tx, Command::Read, f).await
    }

    /// Loads the `__transaction_state` partitions this broker leads (again
    /// when their leader epoch moves: the coordinator epoch is that epoch)
    /// and unloads those it no longer leads.
    pub fn follow_leadership(
        &self,
        broker_id: i32,
        mut images: watch::Receiver<Arc<ClusterImage>>,
        log: Arc<dyn OffsetsLog>,
    ) {
        let handle = self.clone();
        tokio::spawn(async move {
            let mut led: BTreeMap<i32, i32> = BTreeMap::new();
            loop {
                let image = images.borrow_and_update().clone();
                let now_led = led_partition_epochs(&image, TRANSACTION_STATE_TOPIC_NAME, broker_id);
                for (&p, &epoch) in &now_led {
                    if led.get(&p) == Some(&epoch) {
                        continue;
                    }
                    if handle.tx.send(Command::BeginLoading(p, epoch)).await.is_err() {
                        return;
                    }
                    let (log, tx) = (log.clone(), handle.tx.clone());
                    tokio::spawn(async move {
                        if let Some(records) =
                            load_partition(log, TRANSACTION_STATE_TOPIC_NAME, p).await
                        {
                            let _ = tx.send(Command::Loaded(p, records)).await;
                        }
                    });
                }
                for p in led.keys().filter(|p| !now_led.contains_key(p)) {
                    let _ = handle.tx.send(Command::Unload(*p)).await;
                }
                led = now_led;
                // Requests queue behind the unloads just sent.
                handle.lease.applied(Role::Transactions, image.session);
                if images.changed().await.is_err() {
                    return;
                }
            }
        });
    }
}

impl CoordinatorAppend for Append {
    fn id(&self) -> AppendId {
        self.id
    }
    fn partition(&self) -> i32 {
        self.partition
    }
    fn timestamp(&self) -> i64 {
        self.timestamp
    }
    fn records(&self) -> Vec<(&[u8], Option<&[u8]>)> {
        vec![(&self.key[..], Some(&self.value[..]))]
    }
}

async fn run(
    mut coordinator: TransactionCoordinator,
    mut rx: mpsc::Receiver<Command>,
    writer: std::sync::mpsc::Sender<Append>,
    handle: TxnCoordinatorHandle,
    markers: Arc<MarkerSender>,
) {
    let mut waiting: HashMap<RequestId, oneshot::Sender<Response>> = HashMap::new();
    let mut next_request = 0u64;
    loop {
        let Some(command) = next_command(&mut rx, coordinator.next_deadline(), &SystemClock).await
        else {
            return;
        };
        let now = now_ms();
        // Only requests are fenced: completions of work begun under the
        // lease finish, and a coordinator that lost its partitions unloads them.
        let request = matches!(command, Some(Command::Call(..) | Command::Read(_)));
        coordinator.set_fenced(request && !handle.lease.holds());
        let mut out = match command {
            None => Output::default(),
            Some(Command::Call(f, reply)) => {
                next_request += 1;
                let rid = RequestId(next_request);
                waiting.insert(rid, reply);
                f(&mut coordinator, now, rid)
            }
            Some(Command::Read(f)) => {
                f(&coordinator);
                Output::default()
            }
            Some(Command::AppendDone(id, result)) => coordinator.append_completed(now, id, result),
            Some(Command::BeginLoading(p, epoch)) => {
                coordinator.begin_loading(p, epoch);
                Output::default()
            }
            Some(Command::Loaded(p, records)) => {
                for r in records.iter().filter(|r| r.marker.is_none()) {
                    if let Err(e) = coordinator.replay(p, &r.key, r.value.as_deref()) {
                        tracing::warn!(
                            "{TRANSACTION_STATE_TOPIC_NAME}-{p} offset {}: skipping record: {e}",
                            r.offset
                        );
                    }
                }
                tracing::info!(
                    "loaded {} records of {TRANSACTION_STATE_TOPIC_NAME}-{p}",
                    records.len()
                );
                coordinator.complete_loading(now, p)
            }
            Some(Command::Unload(p)) => {
                coordinator.unload(p);
                Output::default()
            }
            Some(Command::MarkersWritten(job)) => coordinator.markers_written(now, &job),
        };
        if coordinator.next_deadline().is_some_and(|d| d <= now) {
            let more = coordinator.tick(now);
            out.appends.extend(more.appends);
            out.responses.extend(more.responses);
            out.markers.extend(more.markers);
        }
        for append in out.appends {
            if writer.send(append).is_err() {
                tracing::error!("the transaction log writer stopped");
            }
        }
        for (rid, response) in out.responses {
            if let Some(reply) = waiting.remove(&rid) {
                let _ = reply.send(response);
            }
        }
        for job in out.markers {
            let (markers, handle) = (markers.clone(), handle.clone());
            tokio::spawn(async move {
                if markers.write(&handle, &job).await {
                    let _ = handle.tx.send(Command::MarkersWritten(job)).await;
                }
            });
        }
    }
}

impl MarkerSender {
    /// Writes the job's markers to every partition's leader, retrying
    /// failed partitions. Returns false if this broker stopped coordinating
    /// the transaction first (the next coordinator sends them again).
    async fn write(&self, handle: &TxnCoordinatorHandle, job: &MarkerJob) -> bool {
        let mut left: Vec<TopicPartition> = job.partitions.clone();
        let state_partition = handle.partition_for(&job.transactional_id);
        let mut connections: HashMap<i32, Arc<Connection>> = HashMap::new();
        let mut attempt = 0u32;
        while !left.is_empty() {
            if attempt > 0 {
                let backoff = Duration::from_millis(u64::from(attempt.min(10)) * 50);
                tokio::time::sleep(backoff).await;
                let loaded = handle.read(move |c| c.is_loaded(state_partition)).await;
                if !loaded.unwrap_or(false) {
                    return false;
                }
            }
            attempt += 1;
            let image = self.store.image();
            // A partition whose topic is gone needs no marker (Kafka drops it).
            left.retain(|tp| {
                image.topic(&tp.topic).is_some_and(|t| t.partitions.contains_key(&tp.partition.0))
            });
            let mut by_leader: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
            for tp in &left {
                let leader = image
                    .topic(&tp.topic)
                    .and_then(|t| t.partitions.get(&tp.partition.0))
                    .map_or(-1, |p| p.state.leader);
                by_leader.entry(leader).or_default().push(tp.clone());
            }
            let mut still = Vec::new();
            for (leader, tps) in by_leader {
                let Some(node) = image.brokers.get(&leader) else {
                    still.extend(tps);
                    continue;
                };
                let conn = match connections.get(&leader) {
                    Some(c) => c.clone(),
                    None => {
                        let (host, port) =
                            node.endpoint(&self.listener).unwrap_or((&node.host, node.port));
                        let addr = if host.contains(':') {
                            format!("[{host}]:{port}")
                        } else {
                            format!("{host}:{port}")
                        };
                        let client_id = format!("broker-{}-txn-markers", self.broker_id);
                        let conn = Connection::connect_with(
                            &addr,
                            &client_id,
                            self.socket_timeout,
                            &self.security,
                        );
                        match conn.await {
                            Ok(c) => {
                                connections.insert(leader, c.clone());
                                c
                            }
                            Err(e) => {
                                tracing::debug!("markers: cannot reach broker {leader}: {e:#}");
                                still.extend(tps);
                                continue;
                            }
                        }
                    }
                };
                match conn.send(&marker_request(job, &tps)).await {
                    Ok(resp) => {
                        let mut failed = tps.clone();
                        for m in resp.markers {
                            for t in m.topics {
                                for p in t.partitions {
                                    let code = ErrorCode::from_code(p.error_code)
                                        .unwrap_or(ErrorCode::UnknownServerError);
                                    let tp = TopicPartition::new(
                                        t.name.0.to_string(),
                                        p.partition_index,
                                    );
                                    if code == ErrorCode::None
                                        || code == ErrorCode::UnknownTopicOrPartition
                                            && image.topic(&tp.topic).is_none()
                                    {
                                        failed.retain(|f| *f != tp);
                                    } else if matches!(
                                        code,
                                        ErrorCode::InvalidProducerEpoch
                                            | ErrorCode::TransactionCoordinatorFenced
                                    ) {
                                        // Kafka's handler: a newer coordinator or
                                        // epoch took over; this job is obsolete.
                                        tracing::warn!(
                                            "marker for {} on {tp} refused: {}",
                                            job.transactional_id,
                                            code.name()
                                        );
                                        return false;
                                    }
                                }
                            }
                        }
                        still.extend(failed);
                    }
                    Err(e) => {
                        tracing::debug!("markers to broker {leader} failed: {e:#}");
                        connections.remove(&leader);
                        still.extend(tps);
                    }
                }
            }
            left = still;
        }
        true
    }
}

fn marker_request(job: &MarkerJob, tps: &[TopicPartition]) -> WriteTxnMarkersRequest {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in tps {
        topics.entry(&tp.topic).or_default().push(tp.partition.0);
    }
    let mut marker = WritableTxnMarker::default();
    marker.producer_id = ProducerId(job.producer_id);
    marker.producer_epoch = job.producer_epoch;
    marker.transaction_result = job.result == TransactionResult::Commit;
    marker.coordinator_epoch = job.coordinator_epoch;
    marker.topics = topics
        .into_iter()
        .map(|(name, partitions)| {
            let mut t = WritableTxnMarkerTopic::default();
            t.name = TopicName(super::apis::str_bytes(name));
            t.partition_indexes = partitions;
            t
        })
        .collect();
    let mut req = WriteTxnMarkersRequest::default();
    req.markers = vec![marker];
    req
}
