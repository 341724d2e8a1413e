//! The group coordinator's runtime: one task owns the
//! [`crate::coordinator::GroupCoordinator`] state machine and feeds it
//! requests, timer wake-ups and append outcomes; a writer thread appends its
//! records to `__consumer_offsets` in the order they were produced; a loader
//! replays the `__consumer_offsets` partitions this broker leads whenever
//! leadership changes.
//!
//! The runtime owns the clock the state machine's timers (session and
//! rebalance timeouts, the initial rebalance delay, offset expiry) are read
//! by: the system clock in production, a manual one in tests, which then
//! drive time without waiting for it.
//!
//! Handlers call [`GroupCoordinatorHandle::call`] with a closure that runs
//! against the state machine; the answer comes back when the state machine
//! produces it (at once, or when a rebalance or an append completes).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::replica_manager::ReplicaManager;
use crate::cluster::lease::{Role, SessionLease};
use crate::cluster::ClusterImage;
use crate::coordinator::{
    Append, AppendError, AppendId, GroupConfig, GroupCoordinator, Output, RequestId, Response,
    GROUP_METADATA_TOPIC_NAME,
};
use crate::protocol::ErrorCode;
use crate::record::{BatchBuilder, Batches, Compression, NewRecord};
use crate::time::{Clock, SystemClock};
use crate::types::{Offset, TopicPartition};

/// How the runtime reaches the `__consumer_offsets` partitions. Both calls
/// block (disk I/O); the runtime makes them off the async reactor.
pub trait OffsetsLog: Send + Sync + 'static {
    /// Appends one record batch to `partition` as its leader; returns the
    /// offset of its first record.
    fn append(&self, partition: i32, batch: &mut [u8]) -> Result<i64, AppendError>;

    /// Raw batches of `partition` from `offset`, about `max_bytes` of them;
    /// empty at the log end. `Err` while the partition is not open here yet.
    fn read(&self, partition: i32, offset: i64, max_bytes: usize) -> Result<Vec<u8>, String>;

    /// Resolves once the high watermark of `partition` passes `last_offset`:
    /// Kafka appends to `__consumer_offsets` with acks=all, so a commit is
    /// answered only when the in-sync replicas hold it.
    fn replicated(&self, partition: i32, last_offset: i64) -> ReplicatedFuture;
}

pub type ReplicatedFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), AppendError>> + Send>>;

/// A coordinator's internal topic (`__consumer_offsets`, or
/// `__transaction_state` for the transaction coordinator) as the replica
/// manager hosts it.
pub struct ReplicaOffsetsLog {
    replicas: Arc<ReplicaManager>,
    /// `offsets.commit.timeout.ms`: how long a commit waits for the ISR.
    commit_timeout: Duration,
    topic: &'static str,
    /// The topic's `min.insync.replicas` for its acks=all appends.
    min_isr: usize,
}

impl ReplicaOffsetsLog {
    pub fn new(replicas: Arc<ReplicaManager>, commit_timeout: Duration) -> Self {
        Self::for_topic(GROUP_METADATA_TOPIC_NAME, replicas, commit_timeout, 1)
    }

    pub fn for_topic(
        topic: &'static str,
        replicas: Arc<ReplicaManager>,
        commit_timeout: Duration,
        min_isr: usize,
    ) -> Self {
        ReplicaOffsetsLog { replicas, commit_timeout, topic, min_isr }
    }
}

impl OffsetsLog for ReplicaOffsetsLog {
    fn append(&self, partition: i32, batch: &mut [u8]) -> Result<i64, AppendError> {
        let tp = TopicPartition::new(self.topic, partition);
        let leader = self.replicas.leader_partition(&tp).map_err(append_error)?;
        // Kafka appends to its internal topics with acks=all.
        match leader.append_coordinator_records(batch, self.min_isr) {
            Ok(r) => Ok(r.first_offset),
            Err(e) => {
                tracing::warn!("cannot append to {tp}: {}", e.message.as_deref().unwrap_or(""));
                Err(append_error(e.code))
            }
        }
    }

    fn replicated(&self, partition: i32, last_offset: i64) -> ReplicatedFuture {
        let tp = TopicPartition::new(self.topic, partition);
        let replicas = self.replicas.clone();
        let deadline = tokio::time::Instant::now() + self.commit_timeout;
        Box::pin(async move {
            replicas.wait_for_high_watermark(&tp, last_offset, deadline).await.map_err(append_error)
        })
    }

    fn read(&self, partition: i32, offset: i64, max_bytes: usize) -> Result<Vec<u8>, String> {
        let tp = TopicPartition::new(self.topic, partition);
        let p = self.replicas.leader_partition(&tp).map_err(|e| format!("{tp}: {}", e.name()))?;
        let start = offset.max(p.log.log_start_offset().0);
        if start >= p.log.log_end_offset().0 {
            return Ok(Vec::new());
        }
        let info = p.log.read(Offset(start), max_bytes, None, true).map_err(|e| e.to_string())?;
        match info.slice {
            Some(slice) => slice.read_to_vec().map_err(|e| e.to_string()),
            None => Ok(Vec::new()),
        }
    }
}

/// The coordinator's view of a log error (Kafka's `storeGroup` mapping).
pub(super) fn append_error(code: ErrorCode) -> AppendError {
    match code {
        ErrorCode::UnknownTopicOrPartition
        | ErrorCode::NotEnoughReplicas
        | ErrorCode::NotEnoughReplicasAfterAppend => AppendError::Unavailable,
        ErrorCode::NotLeaderOrFollower | ErrorCode::KafkaStorageError => AppendError::NotLeader,
        ErrorCode::RequestTimedOut => AppendError::TimedOut,
        ErrorCode::MessageTooLarge
        | ErrorCode::RecordListTooLarge
        | ErrorCode::InvalidFetchSize => AppendError::TooLarge,
        _ => AppendError::Unknown,
    }
}

/// One stored record, as replay wants it.
pub(super) struct LoadedRecord {
    pub(super) offset: i64,
    pub(super) key: Vec<u8>,
    pub(super) value: Option<Vec<u8>>,
    /// The producer of a transactional batch's record or marker, else -1.
    pub(super) producer_id: i64,
    /// `Some(commit)` for a transaction marker (key and value empty).
    pub(super) marker: Option<bool>,
}

type CallFn = Box<dyn FnOnce(&mut GroupCoordinator, i64, RequestId) -> Output + Send>;
type ReadFn = StateRead<GroupCoordinator>;
type UpdateFn = Box<dyn FnOnce(&mut GroupCoordinator, i64) -> Output + Send>;

enum Command {
    Call(CallFn, oneshot::Sender<Response>),
    Read(ReadFn),
    Update(UpdateFn, oneshot::Sender<()>),
    AppendDone(AppendId, Result<i64, AppendError>),
    BeginLoading(i32),
    Loaded(i32, Vec<LoadedRecord>),
    Unload(i32),
}

/// The broker's way into the coordinator; cheap to clone.
#[derive(Clone)]
pub struct GroupCoordinatorHandle {
    tx: mpsc::Sender<Command>,
    num_partitions: i32,
    lease: Arc<SessionLease>,
}

/// Why a call got no answer: the coordinator task is gone (shutdown).
#[derive(Debug, thiserror::Error)]
#[error("the group coordinator is shutting down")]
pub struct Unavailable;

impl GroupCoordinatorHandle {
    /// Starts the coordinator task and its writer thread.
    /// Requests are answered NOT_COORDINATOR while `lease` does not hold.
    pub fn start(
        config: GroupConfig,
        log: Arc<dyn OffsetsLog>,
        lease: Arc<SessionLease>,
    ) -> GroupCoordinatorHandle {
        Self::start_with_clock(config, log, lease, Arc::new(SystemClock))
    }

    /// As [`Self::start`], with the timers read by `clock`.
    pub fn start_with_clock(
        config: GroupConfig,
        log: Arc<dyn OffsetsLog>,
        lease: Arc<SessionLease>,
        clock: Arc<dyn Clock>,
    ) -> GroupCoordinatorHandle {
        Self::start_with_queue(config, log, lease, clock, COMMAND_QUEUE)
    }

    fn start_with_queue(
        config: GroupConfig,
        log: Arc<dyn OffsetsLog>,
        lease: Arc<SessionLease>,
        clock: Arc<dyn Clock>,
        queue: usize,
    ) -> GroupCoordinatorHandle {
        let num_partitions = config.offsets_topic_num_partitions;
        let (tx, rx) = mpsc::channel(queue);
        let (append_tx, append_rx) = std::sync::mpsc::channel::<Append>();
        spawn_writer("group-metadata-writer", log, append_rx, tx.clone(), Command::AppendDone);
        let coordinator = GroupCoordinator::new(config, fastrand::u64(..));
        tokio::spawn(run(coordinator, rx, append_tx, lease.clone(), clock));
        GroupCoordinatorHandle { tx, num_partitions, lease }
    }

    /// The `__consumer_offsets` partition of a group.
    pub fn partition_for(&self, group_id: &str) -> i32 {
        crate::coordinator::partition_for(group_id, self.num_partitions)
    }

    /// Runs `f` against the state machine with a fresh request id and waits
    /// for that request's answer.
    pub async fn call(
        &self,
        f: impl FnOnce(&mut GroupCoordinator, i64, RequestId) -> Output + Send + 'static,
    ) -> Result<Response, Unavailable> {
        ask(&self.tx, |reply| Command::Call(Box::new(f), reply)).await
    }

    /// Reads from the state machine (OffsetFetch, ListGroups, DescribeGroups).
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&GroupCoordinator) -> T + Send + 'static,
    ) -> Result<T, Unavailable> {
        ask_read(&self.tx, Command::Read, f).await
    }

    /// Runs `f`, which answers no request, against the state machine and
    /// waits until it ran (a transaction's marker settling its offsets).
    pub async fn update(
        &self,
        f: impl FnOnce(&mut GroupCoordinator, i64) -> Output + Send + 'static,
    ) -> Result<(), Unavailable> {
        ask(&self.tx, |reply| Command::Update(Box::new(f), reply)).await
    }

    /// Follows cluster metadata: loads the `__consumer_offsets` partitions
    /// this broker leads and unloads those it no longer leads.
    pub fn follow_leadership(
        &self,
        broker_id: i32,
        mut images: watch::Receiver<Arc<ClusterImage>>,
        log: Arc<dyn OffsetsLog>,
    ) {
        let handle = self.clone();
        tokio::spawn(async move {
            let mut led: BTreeSet<i32> = BTreeSet::new();
            loop {
                let image = images.borrow_and_update().clone();
                let now_led = led_partitions(&image, broker_id);
                for &p in now_led.difference(&led) {
                    if handle.tx.send(Command::BeginLoading(p)).await.is_err() {
                        return;
                    }
                    let (log, tx) = (log.clone(), handle.tx.clone());
                    tokio::spawn(async move {
                        if let Some(records) =
                            load_partition(log, GROUP_METADATA_TOPIC_NAME, p).await
                        {
                            let _ = tx.send(Command::Loaded(p, records)).await;
                        }
                    });
                }
                for &p in led.difference(&now_led) {
                    let _ = handle.tx.send(Command::Unload(p)).await;
                }
                led = now_led;
                // Requests queue behind the unloads just sent.
                handle.lease.applied(Role::Groups, image.session);
                if images.changed().await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Partitions of `__consumer_offsets` whose leader is `broker_id`.
fn led_partitions(image: &ClusterImage, broker_id: i32) -> BTreeSet<i32> {
    led_partition_epochs(image, GROUP_METADATA_TOPIC_NAME, broker_id).into_keys().collect()
}

/// Partitions of `topic` whose leader is `broker_id`, with their leader epoch.
pub(super) fn led_partition_epochs(
    image: &ClusterImage,
    topic: &str,
    broker_id: i32,
) -> std::collections::BTreeMap<i32, i32> {
    image
        .topic(topic)
        .map(|t| {
            t.partitions
                .iter()
                .filter(|(_, p)| p.state.leader == broker_id)
                .map(|(&index, p)| (index, p.state.leader_epoch))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a whole partition, waiting (bounded) for its log to open: the
/// replica manager opens it from the same metadata change.
pub(super) async fn load_partition(
    log: Arc<dyn OffsetsLog>,
    topic: &'static str,
    partition: i32,
) -> Option<Vec<LoadedRecord>> {
    for attempt in 0..600 {
        let log = log.clone();
        let read = tokio::task::spawn_blocking(move || read_all(&*log, topic, partition)).await;
        match read {
            Ok(Ok(records)) => return Some(records),
            Ok(Err(e)) if attempt % 50 == 49 => {
                tracing::warn!("still waiting to load {topic}-{partition}: {e}");
            }
            Ok(Err(_)) => {}
            Err(e) => {
                tracing::error!("loading {topic}-{partition} failed: {e}");
                return None;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tracing::error!("gave up loading {topic}-{partition}");
    None
}

/// Every keyed record of a partition, in log order; control batches and
/// unreadable batches are skipped (the latter with a warning).
fn read_all(
    log: &dyn OffsetsLog,
    topic: &str,
    partition: i32,
) -> Result<Vec<LoadedRecord>, String> {
    const CHUNK: usize = 1 << 20;
    let mut records = Vec::new();
    let mut offset = 0i64;
    loop {
        let bytes = log.read(partition, offset, CHUNK)?;
        let mut progressed = false;
        for batch in Batches::new(&bytes) {
            let batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!("{topic}-{partition}: skipping the rest of a read: {e}");
                    break;
                }
            };
            if batch.next_offset() <= offset {
                continue;
            }
            offset = batch.next_offset();
            progressed = true;
            let producer_id = if batch.is_transactional() { batch.producer_id() } else { -1 };
            if batch.is_control() {
                let marker = match crate::record::control::control_type(&batch) {
                    Some(crate::record::control::COMMIT) => true,
                    Some(crate::record::control::ABORT) => false,
                    _ => continue,
                };
                records.push(LoadedRecord {
                    offset: batch.base_offset(),
                    key: Vec::new(),
                    value: None,
                    producer_id,
                    marker: Some(marker),
                });
                continue;
            }
            let parsed = match batch.records() {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("{topic}-{partition}: unreadable batch: {e}");
                    continue;
                }
            };
            for record in parsed.iter() {
                let Ok(record) = record else { break };
                let Some(key) = record.key else { continue };
                records.push(LoadedRecord {
                    offset: parsed.offset_of(&record),
                    key: key.to_vec(),
                    value: record.value.map(<[u8]>::to_vec),
                    producer_id,
                    marker: None,
                });
            }
        }
        if !progressed {
            return Ok(records);
        }
    }
}

/// A coordinator's append to its internal topic: one uncompressed batch
/// of keyed records.
pub(super) trait CoordinatorAppend: Send + 'static {
    fn id(&self) -> AppendId;
    fn partition(&self) -> i32;
    fn timestamp(&self) -> i64;
    /// Key and value (`None`: a tombstone) of each record.
    fn records(&self) -> Vec<(&[u8], Option<&[u8]>)>;
    /// Producer id and epoch of a transactional batch.
    fn producer(&self) -> Option<(i64, i16)> {
        None
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
        self.records.iter().map(|r| (&r.key[..], r.value.as_deref())).collect()
    }
    fn producer(&self) -> Option<(i64, i16)> {
        self.producer.map(|p| (p.producer_id, p.producer_epoch))
    }
}

/// How many commands wait for a coordinator task at most. A caller finding
/// the queue full waits, and with it the connection whose request it is,
/// so a coordinator that falls behind slows its clients down rather than
/// queueing without limit (Kafka bounds its request queue the same way,
/// with `queued.max.requests`, 500 by default).
pub(super) const COMMAND_QUEUE: usize = 500;

/// The next command, or `Some(None)` when the state machine's next timer
/// (`deadline`, in ms of `clock`) comes first; `None` once every sender is
/// gone. A manual clock moved past a deadline is seen at the next command.
pub(super) async fn next_command<C>(
    rx: &mut mpsc::Receiver<C>,
    deadline: Option<i64>,
    clock: &dyn Clock,
) -> Option<Option<C>> {
    let sleep = deadline.map(|d| (d - clock.now_ms()).max(0) as u64);
    tokio::select! {
        command = rx.recv() => command.map(Some),
        _ = tokio::time::sleep(Duration::from_millis(sleep.unwrap_or(0))), if sleep.is_some() => Some(None),
    }
}

/// A read of a coordinator's state `S`, run on its task.
pub(super) type StateRead<S> = Box<dyn FnOnce(&S) + Send>;

/// Runs `f` against the state `S` on the coordinator task (through the
/// command `read` makes) and waits for what it returns.
pub(super) async fn ask_read<S: 'static, C, T: Send + 'static>(
    tx: &mpsc::Sender<C>,
    read: fn(StateRead<S>) -> C,
    f: impl FnOnce(&S) -> T + Send + 'static,
) -> Result<T, Unavailable> {
    ask(tx, |reply| {
        read(Box::new(move |state: &S| {
            let _ = reply.send(f(state));
        }))
    })
    .await
}

/// Queues the command `make` builds around a reply slot, waiting for room,
/// and waits for the answer.
pub(super) async fn ask<C, R>(
    tx: &mpsc::Sender<C>,
    make: impl FnOnce(oneshot::Sender<R>) -> C,
) -> Result<R, Unavailable> {
    let (reply, rx) = oneshot::channel();
    tx.send(make(reply)).await.map_err(|_| Unavailable)?;
    rx.await.map_err(|_| Unavailable)
}

/// Starts the thread that appends a coordinator's batches in the order the
/// state machine produced them; each outcome goes to `done` once the ISR
/// holds the batch (or the append failed), as the command `done` makes.
/// The thread ends when the coordinator is gone.
pub(super) fn spawn_writer<A: CoordinatorAppend, C: Send + 'static>(
    name: &str,
    log: Arc<dyn OffsetsLog>,
    appends: std::sync::mpsc::Receiver<A>,
    commands: mpsc::Sender<C>,
    done: fn(AppendId, Result<i64, AppendError>) -> C,
) {
    let runtime = tokio::runtime::Handle::current();
    let thread_name = name.to_string();
    let spawned = std::thread::Builder::new().name(name.into()).spawn(move || {
        for append in appends {
            let records = append.records();
            let last_delta = records.len().saturating_sub(1) as i64;
            let mut builder = BatchBuilder::new(Compression::None);
            if let Some((id, epoch)) = append.producer() {
                // Coordinator batches carry no sequence (Kafka's NO_SEQUENCE).
                builder = builder.producer(id, epoch, -1).transactional(true);
            }
            for (key, value) in records {
                builder.push(NewRecord::new(append.timestamp(), Some(key), value));
            }
            let written = builder
                .build()
                .map_err(|e| {
                    tracing::error!("{thread_name}: cannot build a batch: {e}");
                    AppendError::Unknown
                })
                .and_then(|mut batch| log.append(append.partition(), &mut batch));
            let id = append.id();
            match written {
                // The writer moves on; the answer waits for the ISR.
                Ok(first) => {
                    let replicated = log.replicated(append.partition(), first + last_delta);
                    let commands = commands.clone();
                    runtime.spawn(async move {
                        let _ = commands.send(done(id, replicated.await.map(|()| first))).await;
                    });
                }
                // A full queue holds the writer back too: it runs on its own
                // thread, and the coordinator task never waits for it.
                Err(e) => {
                    if commands.blocking_send(done(id, Err(e))).is_err() {
                        break;
                    }
                }
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start {name}: {e}");
    }
}

async fn run(
    mut coordinator: GroupCoordinator,
    mut rx: mpsc::Receiver<Command>,
    writer: std::sync::mpsc::Sender<Append>,
    lease: Arc<SessionLease>,
    clock: Arc<dyn Clock>,
) {
    let mut waiting: HashMap<RequestId, oneshot::Sender<Response>> = HashMap::new();
    let mut next_request = 0u64;
    loop {
        let Some(command) = next_command(&mut rx, coordinator.next_deadline(), &*clock).await
        else {
            return;
        };
        let now = clock.now_ms();
        // Only requests are fenced: completions of work begun under the
        // lease finish, and a coordinator that lost its partitions unloads them.
        let request = matches!(command, Some(Command::Call(..) | Command::Read(_)));
        coordinator.set_fenced(request && !lease.holds());
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
            Some(Command::Update(f, done)) => {
                let out = f(&mut coordinator, now);
                let _ = done.send(());
                out
            }
            Some(Command::AppendDone(id, result)) => coordinator.append_completed(now, id, result),
            Some(Command::BeginLoading(p)) => {
                coordinator.begin_loading(p);
                Output::default()
            }
            Some(Command::Loaded(p, records)) => {
                for r in &records {
                    let replayed = match (r.marker, r.producer_id) {
                        (Some(commit), pid) => {
                            coordinator.replay_marker(p, pid, commit);
                            Ok(())
                        }
                        (None, pid) => coordinator.replay_batch_record(
                            p,
                            pid,
                            r.offset,
                            &r.key,
                            r.value.as_deref(),
                        ),
                    };
                    if let Err(e) = replayed {
                        tracing::warn!(
                            "{GROUP_METADATA_TOPIC_NAME}-{p} offset {}: skipping record: {e}",
                            r.offset
                        );
                    }
                }
                tracing::info!(
                    "loaded {} records of {GROUP_METADATA_TOPIC_NAME}-{p}",
                    records.len()
                );
                coordinator.complete_loading(now, p)
            }
            Some(Command::Unload(p)) => coordinator.unload(p),
        };
        while coordinator.next_deadline().is_some_and(|d| d <= now) {
            let more = coordinator.tick(now);
            out.appends.extend(more.appends);
            out.responses.extend(more.responses);
        }
        for append in out.appends {
            if writer.send(append).is_err() {
                tracing::error!("the group metadata writer stopped");
            }
        }
        for (rid, response) in out.responses {
            if let Some(reply) = waiting.remove(&rid) {
                let _ = reply.send(response);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::coordinator::{
        GroupState, HeartbeatRequest, JoinGroupRequest, JoinGroupResult, OffsetCommitPartition,
        OffsetCommitRequest, OffsetCommitTopic, OffsetFetchRequest, Protocol, SyncGroupRequest,
    };
    use crate::time::ManualClock;

    /// `__consumer_offsets` as plain byte vectors, one per partition.
    #[derive(Default)]
    struct MemoryLog(Mutex<HashMap<i32, Vec<Vec<u8>>>>);

    impl OffsetsLog for MemoryLog {
        fn append(&self, partition: i32, batch: &mut [u8]) -> Result<i64, AppendError> {
            let mut logs = self.0.lock().unwrap();
            let log = logs.entry(partition).or_default();
            let base: i64 = log
                .iter()
                .map(|b| i64::from(crate::record::RecordBatch::parse(b).unwrap().records_count()))
                .sum();
            batch[..8].copy_from_slice(&base.to_be_bytes());
            log.push(batch.to_vec());
            Ok(base)
        }

        fn replicated(&self, _partition: i32, _last_offset: i64) -> ReplicatedFuture {
            Box::pin(async { Ok(()) })
        }

        fn read(&self, partition: i32, offset: i64, _max: usize) -> Result<Vec<u8>, String> {
            let logs = self.0.lock().unwrap();
            let mut out = Vec::new();
            for b in logs.get(&partition).into_iter().flatten() {
                if crate::record::RecordBatch::parse(b).unwrap().next_offset() > offset {
                    out.extend_from_slice(b);
                }
            }
            Ok(out)
        }
    }

    fn image_leading(num_partitions: i32, broker: i32) -> Arc<ClusterImage> {
        use crate::cluster::{PartitionMetadata, PartitionState, TopicMetadata};
        let partitions = (0..num_partitions)
            .map(|p| {
                let state = PartitionState { leader: broker, leader_epoch: 0, isr: vec![broker] };
                (
                    p,
                    PartitionMetadata {
                        replicas: vec![broker],
                        state,
                        state_zk_version: 0,
                        adding_replicas: Vec::new(),
                        removing_replicas: Vec::new(),
                    },
                )
            })
            .collect();
        let topic = TopicMetadata {
            name: GROUP_METADATA_TOPIC_NAME.into(),
            topic_id: uuid::Uuid::new_v4(),
            partitions,
            configs: Default::default(),
        };
        let mut image = ClusterImage::default();
        image.topics.insert(GROUP_METADATA_TOPIC_NAME.into(), topic);
        Arc::new(image)
    }

    fn commit(group: &str, offset: i64) -> OffsetCommitRequest {
        OffsetCommitRequest {
            group_id: group.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            retention_time_ms: -1,
            topics: vec![OffsetCommitTopic {
                name: "t".into(),
                partitions: vec![OffsetCommitPartition {
                    partition_index: 0,
                    committed_offset: offset,
                    committed_leader_epoch: -1,
                    commit_timestamp: -1,
                    committed_metadata: None,
                }],
            }],
        }
    }

    async fn fetched(h: &GroupCoordinatorHandle, group: &str) -> i64 {
        let req = OffsetFetchRequest {
            group_id: group.into(),
            topics: Some(vec![("t".into(), vec![0])]),
            require_stable: false,
        };
        h.read(move |c| c.offset_fetch(&req)).await.unwrap().topics[0].partitions[0]
            .committed_offset
    }

    async fn wait_loaded(h: &GroupCoordinatorHandle, group: &str) {
        let p = h.partition_for(group);
        for _ in 0..500 {
            if h.read(move |c| c.is_loaded(p)).await.unwrap() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("partition {p} never loaded");
    }

    #[tokio::test]
    async fn commits_survive_a_restart_through_the_log() {
        let log: Arc<MemoryLog> = Arc::new(MemoryLog::default());
        let config = GroupConfig { offsets_topic_num_partitions: 3, ..GroupConfig::default() };
        let (_tx, images) = watch::channel(image_leading(3, 1));
        let h = GroupCoordinatorHandle::start(config.clone(), log.clone(), SessionLease::granted());
        h.follow_leadership(1, images.clone(), log.clone());
        wait_loaded(&h, "g").await;
        for offset in [5, 9] {
            let resp = h
                .call(move |c, now, rid| c.offset_commit(now, rid, commit("g", offset)))
                .await
                .unwrap();
            let Response::OffsetCommit(r) = resp else { panic!("{resp:?}") };
            assert_eq!(r.topics[0].partitions[0].1, None);
        }
        assert_eq!(fetched(&h, "g").await, 9);

        // A new coordinator over the same log: the loader replays it.
        let h2 = GroupCoordinatorHandle::start(config, log.clone(), SessionLease::granted());
        h2.follow_leadership(1, images, log.clone());
        wait_loaded(&h2, "g").await;
        assert_eq!(fetched(&h2, "g").await, 9, "the last commit wins on replay");
    }

    /// Where the manual clock starts: a real epoch time, as commit
    /// timestamps are.
    const T0: i64 = 1_700_000_000_000;

    /// A runtime on `clock` leading every `__consumer_offsets` partition of
    /// an empty log, loaded for group "g". Keep the sender: it is the
    /// metadata the runtime follows.
    async fn started_on(
        clock: &ManualClock,
        config: GroupConfig,
    ) -> (GroupCoordinatorHandle, watch::Sender<Arc<ClusterImage>>) {
        let log: Arc<MemoryLog> = Arc::new(MemoryLog::default());
        let config = GroupConfig { offsets_topic_num_partitions: 1, ..config };
        let (tx, images) = watch::channel(image_leading(1, 1));
        let h = GroupCoordinatorHandle::start_with_clock(
            config,
            log.clone(),
            SessionLease::granted(),
            Arc::new(clock.clone()),
        );
        h.follow_leadership(1, images, log);
        wait_loaded(&h, "g").await;
        (h, tx)
    }

    /// Moves the runtime's clock on by `ms`. The runtime reads its clock
    /// when a command arrives (as when its timer fires in production), so
    /// the empty read that follows fires every timer now due.
    async fn advance(h: &GroupCoordinatorHandle, clock: &ManualClock, ms: i64) {
        clock.advance(ms);
        h.read(|_| ()).await.unwrap();
    }

    async fn state(h: &GroupCoordinatorHandle) -> Option<GroupState> {
        h.read(|c| c.group_state("g")).await.unwrap()
    }

    /// Polls (commands only, no sleeping) until group "g" is in `wanted`.
    async fn wait_state(h: &GroupCoordinatorHandle, wanted: GroupState) {
        let polled = tokio::time::timeout(Duration::from_secs(60), async {
            while state(h).await != Some(wanted) {
                tokio::task::yield_now().await;
            }
        });
        polled.await.unwrap_or_else(|_| panic!("group g never reached {wanted:?}"));
    }

    fn join_request(session_timeout_ms: i32, rebalance_timeout_ms: i32) -> JoinGroupRequest {
        JoinGroupRequest {
            group_id: "g".into(),
            session_timeout_ms,
            rebalance_timeout_ms,
            member_id: String::new(),
            group_instance_id: None,
            protocol_type: "consumer".into(),
            protocols: vec![Protocol { name: "range".into(), metadata: bytes::Bytes::new() }],
            reason: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            require_known_member_id: false,
            support_skipping_assignment: false,
        }
    }

    /// Sends a JoinGroup whose answer comes when the rebalance completes.
    fn spawn_join(
        h: &GroupCoordinatorHandle,
        req: JoinGroupRequest,
    ) -> tokio::task::JoinHandle<JoinGroupResult> {
        let h = h.clone();
        tokio::spawn(async move {
            let resp = h.call(move |c, now, rid| c.join_group(now, rid, req)).await.unwrap();
            let Response::JoinGroup(r) = resp else { panic!("{resp:?}") };
            r
        })
    }

    async fn answered(join: tokio::task::JoinHandle<JoinGroupResult>) -> JoinGroupResult {
        tokio::time::timeout(Duration::from_secs(60), join)
            .await
            .expect("the join was never answered")
            .unwrap()
    }

    /// The leader's SyncGroup, giving itself an empty assignment.
    async fn sync_as_leader(h: &GroupCoordinatorHandle, join: &JoinGroupResult) {
        let req = SyncGroupRequest {
            group_id: "g".into(),
            generation_id: join.generation_id,
            member_id: join.member_id.clone(),
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments: vec![(join.member_id.clone(), bytes::Bytes::new())],
        };
        let resp = h.call(move |c, now, rid| c.sync_group(now, rid, req)).await.unwrap();
        let Response::SyncGroup(r) = resp else { panic!("{resp:?}") };
        assert_eq!(r.error, None);
    }

    async fn heartbeat(h: &GroupCoordinatorHandle, join: &JoinGroupResult) -> Response {
        let hb = HeartbeatRequest {
            group_id: "g".into(),
            generation_id: join.generation_id,
            member_id: join.member_id.clone(),
            group_instance_id: None,
        };
        h.call(move |c, now, rid| c.heartbeat(now, rid, hb)).await.unwrap()
    }

    /// A single stable member of group "g" (past the initial delay).
    async fn stable_member(
        h: &GroupCoordinatorHandle,
        clock: &ManualClock,
        req: JoinGroupRequest,
    ) -> JoinGroupResult {
        let join = spawn_join(h, req);
        wait_state(h, GroupState::PreparingRebalance).await;
        advance(h, clock, i64::from(GroupConfig::default().group_initial_rebalance_delay_ms)).await;
        let r = answered(join).await;
        sync_as_leader(h, &r).await;
        assert_eq!(state(h).await, Some(GroupState::Stable));
        r
    }

    /// In production the runtime wakes for a timer by itself: the wait for
    /// the next command ends at the clock's deadline.
    #[tokio::test]
    async fn the_wait_for_a_command_ends_at_a_due_timer() {
        let clock = ManualClock::new(T0);
        let (_tx, mut rx) = mpsc::channel::<()>(1);
        let waited = next_command(&mut rx, Some(T0), &clock);
        let woke = tokio::time::timeout(Duration::from_secs(60), waited).await;
        assert!(matches!(woke, Ok(Some(None))), "woken by the timer, not a command");
    }

    /// KIP-134: the first join of an empty group waits
    /// `group.initial.rebalance.delay.ms` for more members, on the
    /// runtime's clock.
    #[tokio::test]
    async fn the_initial_rebalance_delay_runs_on_the_runtime_clock() {
        let clock = ManualClock::new(T0);
        let config = GroupConfig { group_initial_rebalance_delay_ms: 3_000, ..Default::default() };
        let (h, _images) = started_on(&clock, config).await;
        let join = spawn_join(&h, join_request(10_000, 10_000));
        wait_state(&h, GroupState::PreparingRebalance).await;
        advance(&h, &clock, 2_999).await;
        assert_eq!(state(&h).await, Some(GroupState::PreparingRebalance), "still delayed");
        assert!(!join.is_finished());
        advance(&h, &clock, 1).await;
        let r = answered(join).await;
        assert_eq!((r.error, r.generation_id), (None, 1), "answered after the initial delay");
        assert_eq!(heartbeat(&h, &r).await, Response::Heartbeat(None));
    }

    /// A member whose heartbeats stop is removed after
    /// `session.timeout.ms` of the runtime's clock, and the group empties.
    #[tokio::test]
    async fn a_silent_member_expires_after_its_session_timeout() {
        let clock = ManualClock::new(T0);
        let (h, _images) = started_on(&clock, GroupConfig::default()).await;
        let member = stable_member(&h, &clock, join_request(10_000, 10_000)).await;
        advance(&h, &clock, 5_000).await;
        assert_eq!(heartbeat(&h, &member).await, Response::Heartbeat(None));
        // The session now runs from that heartbeat.
        advance(&h, &clock, 9_999).await;
        assert_eq!(state(&h).await, Some(GroupState::Stable), "not yet expired");
        advance(&h, &clock, 1).await;
        assert_eq!(state(&h).await, Some(GroupState::Empty), "the member expired");
        assert_eq!(
            heartbeat(&h, &member).await,
            Response::Heartbeat(Some(crate::coordinator::Error::UnknownMemberId))
        );
    }

    /// A member that does not rejoin within the rebalance timeout is
    /// dropped from the rebalance, which completes with the others.
    #[tokio::test]
    async fn a_member_that_does_not_rejoin_is_dropped_at_the_rebalance_timeout() {
        let clock = ManualClock::new(T0);
        let (h, _images) = started_on(&clock, GroupConfig::default()).await;
        let first = stable_member(&h, &clock, join_request(30_000, 5_000)).await;
        let second = spawn_join(&h, join_request(30_000, 5_000));
        wait_state(&h, GroupState::PreparingRebalance).await;
        advance(&h, &clock, 4_999).await;
        assert_eq!(state(&h).await, Some(GroupState::PreparingRebalance), "still waiting");
        advance(&h, &clock, 1).await;
        let r = answered(second).await;
        assert_eq!((r.error, r.generation_id), (None, 2));
        assert_eq!(r.leader, r.member_id, "the member that rejoined leads");
        let members: Vec<&str> = r.members.iter().map(|m| m.member_id.as_str()).collect();
        assert_eq!(members, [r.member_id.as_str()], "{} was dropped", first.member_id);
    }

    /// Offsets of an empty group expire `offsets.retention.ms` after their
    /// commit, found by the retention check on the runtime's clock.
    #[tokio::test]
    async fn committed_offsets_expire_after_the_retention_time() {
        let clock = ManualClock::new(T0);
        let config = GroupConfig {
            offsets_retention_ms: 60_000,
            offsets_retention_check_interval_ms: 1_000,
            ..Default::default()
        };
        let (h, _images) = started_on(&clock, config).await;
        let resp = h.call(move |c, now, rid| c.offset_commit(now, rid, commit("g", 7))).await;
        let Response::OffsetCommit(r) = resp.unwrap() else { panic!("not an OffsetCommit") };
        assert_eq!(r.topics[0].partitions[0].1, None);
        advance(&h, &clock, 59_000).await;
        assert_eq!(fetched(&h, "g").await, 7, "kept within the retention time");
        advance(&h, &clock, 2_000).await;
        assert_eq!(fetched(&h, "g").await, -1, "expired by the retention check");
    }

    /// A coordinator that cannot keep up makes its callers wait at the
    /// queue's bound instead of queueing their requests without limit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_wait_when_the_command_queue_is_full() {
        const QUEUE: usize = 4;
        let log: Arc<MemoryLog> = Arc::new(MemoryLog::default());
        let config = GroupConfig { offsets_topic_num_partitions: 1, ..GroupConfig::default() };
        let h = GroupCoordinatorHandle::start_with_queue(
            config,
            log,
            SessionLease::granted(),
            Arc::new(SystemClock),
            QUEUE,
        );
        // The first command holds the coordinator task until released.
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let blocker = tokio::spawn({
            let h = h.clone();
            async move {
                h.read(move |_| {
                    let _ = started_tx.send(());
                    let _ = held.recv_timeout(Duration::from_secs(120));
                })
                .await
            }
        });
        tokio::task::spawn_blocking(move || started.recv_timeout(Duration::from_secs(60)))
            .await
            .unwrap()
            .expect("the coordinator never ran the first command");
        let callers: Vec<_> = (0..QUEUE + 20)
            .map(|i| {
                let h = h.clone();
                tokio::spawn(async move { h.read(move |_| i).await })
            })
            .collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while h.tx.capacity() > 0 {
            assert!(tokio::time::Instant::now() < deadline, "the queue never filled");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let full = h.tx.try_send(Command::Unload(0));
        assert!(
            matches!(full, Err(mpsc::error::TrySendError::Full(_))),
            "the queue holds {QUEUE} commands, no more"
        );
        assert!(callers.iter().all(|c| !c.is_finished()), "all wait for the coordinator");
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        for (i, caller) in callers.into_iter().enumerate() {
            let answered = tokio::time::timeout(Duration::from_secs(60), caller).await;
            assert_eq!(answered.expect("a waiting caller was never let in").unwrap().unwrap(), i);
        }
    }
}
