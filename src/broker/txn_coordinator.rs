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
use tokio::sync::watch;

use super::coordinator_runtime::{
    Command, CoordinatorAppend, CoordinatorHandle, CoordinatorOutput, CoordinatorState, OffsetsLog,
    OwnCommand, COMMAND_QUEUE,
};
use crate::client::connection::Connection;
use crate::cluster::lease::{Role, SessionLease};
use crate::cluster::ClusterImage;
use crate::protocol::ErrorCode;
use crate::time::{Clock, SystemClock};
use crate::transaction::{
    Append, AppendId, MarkerJob, Output, RequestId, Response, TransactionConfig,
    TransactionCoordinator, TransactionResult, TRANSACTION_STATE_TOPIC_NAME,
};
use crate::types::TopicPartition;

impl CoordinatorState for TransactionCoordinator {
    type Response = Response;
    const TOPIC: &'static str = TRANSACTION_STATE_TOPIC_NAME;
    const ROLE: Role = Role::Transactions;
    const RELOAD_ON_NEW_EPOCH: bool = true;
    const WRITER: &'static str = "transaction-log-writer";
}

impl CoordinatorOutput for Output {
    type Append = Append;
    type Response = Response;

    fn extend(&mut self, more: Output) {
        Output::extend(self, more);
    }

    fn take_appends(&mut self) -> Vec<Append> {
        std::mem::take(&mut self.appends)
    }

    fn take_responses(&mut self) -> Vec<(RequestId, Response)> {
        std::mem::take(&mut self.responses)
    }
}

/// Every partition's leader has the job's markers: the transaction completes.
impl OwnCommand<TransactionCoordinator> for MarkerJob {
    fn run(self, coordinator: &mut TransactionCoordinator, now: i64) -> Output {
        coordinator.markers_written(now, &self)
    }
}

/// The broker's way into the transaction coordinator; cheap to clone.
pub type TxnCoordinatorHandle = CoordinatorHandle<TransactionCoordinator, MarkerJob>;

/// Where marker jobs go: the runtime hands each to it and learns when it
/// is done.
pub struct MarkerSender {
    /// The cluster metadata: where each partition's leader is.
    pub images: watch::Receiver<Arc<ClusterImage>>,
    pub broker_id: i32,
    pub socket_timeout: Duration,
    /// Markers go to the leaders' inter-broker listener, with its security.
    pub listener: String,
    pub security: crate::security::ClientSecurity,
}

impl CoordinatorHandle<TransactionCoordinator, MarkerJob> {
    /// Starts the coordinator task and its writer thread.
    pub fn start(
        config: TransactionConfig,
        log: Arc<dyn OffsetsLog>,
        markers: Arc<MarkerSender>,
        lease: Arc<SessionLease>,
    ) -> TxnCoordinatorHandle {
        Self::start_with_clock(config, log, markers, lease, Arc::new(SystemClock))
    }

    /// As [`Self::start`], with the transaction timeouts read by `clock`.
    pub fn start_with_clock(
        config: TransactionConfig,
        log: Arc<dyn OffsetsLog>,
        markers: Arc<MarkerSender>,
        lease: Arc<SessionLease>,
        clock: Arc<dyn Clock>,
    ) -> TxnCoordinatorHandle {
        let num_partitions = config.transaction_state_log_num_partitions;
        let coordinator = TransactionCoordinator::new(config);
        // Marker jobs go out from their own tasks: a job retries until every
        // partition has its marker, and the coordinator must not wait for it.
        let rest = move |handle: &TxnCoordinatorHandle, out: Output| {
            for job in out.markers {
                let (markers, handle) = (markers.clone(), handle.clone());
                tokio::spawn(async move {
                    if markers.write(&handle, &job).await {
                        let _ = handle.tx.send(Command::Own(job)).await;
                    }
                });
            }
        };
        Self::start_task(coordinator, num_partitions, log, lease, clock, COMMAND_QUEUE, rest)
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
        vec![(&self.key[..], self.value.as_deref())]
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
            let image = self.images.borrow().clone();
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

#[cfg(test)]
mod tests;
