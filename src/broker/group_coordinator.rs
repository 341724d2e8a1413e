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
mod tests;
