//! What the group and the transaction coordinators' runtimes share: the
//! internal topic they store their state in ([`OffsetsLog`]), the handle
//! through which the broker reaches a coordinator task
//! ([`CoordinatorHandle`]: calls, reads, following partition leadership),
//! the loader that replays a partition, the writer thread that appends
//! their records in order, the bounded command queue, and the task loop
//! that feeds the state machine requests, timer wake-ups, append outcomes
//! and loads.
//!
//! Each coordinator (`group_coordinator`, `txn_coordinator`) says, through
//! [`CoordinatorState`], which topic and lease it works under; its state
//! machine takes each of those through [`StateMachine`], which it
//! implements itself. [`OwnCommand`] runs what only that coordinator takes,
//! and a hook given at start takes what its outputs hold besides appends
//! and answers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use super::replica_manager::ReplicaManager;
use crate::cluster::lease::{Role, SessionLease};
use crate::cluster::ClusterImage;
use crate::coordinator::{
    AppendError, AppendId, LoadedRecord, RequestId, StateMachine, GROUP_METADATA_TOPIC_NAME,
};
use crate::protocol::ErrorCode;
use crate::record::{BatchBuilder, Batches, Compression, NewRecord};
use crate::time::Clock;
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

/// The state machine a coordinator task owns, as the shared runtime parts
/// see it: what it is driven by ([`StateMachine`]) and where it lives.
pub trait CoordinatorState:
    StateMachine<Output: CoordinatorOutput<Response = Self::Response>> + Send + 'static
{
    /// The answer a call waits for.
    type Response: Send + 'static;
    /// The internal topic the coordinator stores its state in.
    const TOPIC: &'static str;
    /// The lease role the coordinator's requests are fenced by.
    const ROLE: Role;
    /// Whether a partition led again under a new leader epoch is loaded
    /// again (the transaction coordinator's epoch is that leader epoch).
    const RELOAD_ON_NEW_EPOCH: bool;
    /// The name of the thread that appends the coordinator's records.
    const WRITER: &'static str;
}

/// What a call against a coordinator's state machine gives the task:
/// records to append, answers to send, and whatever else the coordinator's
/// own hook takes (the transaction coordinator's marker jobs).
pub trait CoordinatorOutput: Default {
    type Append: CoordinatorAppend;
    type Response;

    /// Adds what `more` holds (a timer tick's output) to this output.
    fn extend(&mut self, more: Self);

    /// Takes the records to append out, leaving the rest.
    fn take_appends(&mut self) -> Vec<Self::Append>;

    /// Takes the answers out, leaving the rest.
    fn take_responses(&mut self) -> Vec<(RequestId, Self::Response)>;
}

/// A command only one coordinator takes ([`Command::Own`]), run on its task.
pub trait OwnCommand<S: CoordinatorState>: Send + 'static {
    fn run(self, state: &mut S, now: i64) -> S::Output;
}

/// A call against the state machine `S`, with the time and the request id
/// the task gives it.
pub type CallFn<S> = Box<dyn FnOnce(&mut S, i64, RequestId) -> <S as StateMachine>::Output + Send>;

/// What a coordinator task over `S` takes; `X` is what only that
/// coordinator takes.
pub enum Command<S: CoordinatorState, X> {
    Call(CallFn<S>, oneshot::Sender<S::Response>),
    Read(StateRead<S>),
    AppendDone(AppendId, Result<i64, AppendError>),
    /// A partition of the topic to load, led at this leader epoch.
    BeginLoading(i32, i32),
    Loaded(i32, Vec<LoadedRecord>),
    Unload(i32),
    Own(X),
}

/// The requests a coordinator task has taken and not answered yet: both
/// tasks serve calls and reads the same way and route answers back by
/// request id.
struct Requests<S: CoordinatorState> {
    waiting: HashMap<RequestId, oneshot::Sender<S::Response>>,
    next_request: u64,
}

impl<S: CoordinatorState> Requests<S> {
    fn new() -> Self {
        Requests { waiting: HashMap::new(), next_request: 0 }
    }

    /// Runs a call or a read against `state`, fenced while `lease` does
    /// not hold; a timer wake-up (`None`) does nothing here. Any other
    /// command comes back for the task loop.
    fn serve<X>(
        &mut self,
        state: &mut S,
        now: i64,
        command: Option<Command<S, X>>,
        lease: &SessionLease,
    ) -> Result<S::Output, Command<S, X>> {
        // Only requests are fenced: completions of work begun under the
        // lease finish, and a coordinator that lost its partitions unloads them.
        let request = matches!(command, Some(Command::Call(..) | Command::Read(_)));
        state.set_fenced(request && !lease.holds());
        match command {
            None => Ok(S::Output::default()),
            Some(Command::Call(f, reply)) => {
                self.next_request += 1;
                let rid = RequestId(self.next_request);
                self.waiting.insert(rid, reply);
                Ok(f(state, now, rid))
            }
            Some(Command::Read(f)) => {
                f(state);
                Ok(S::Output::default())
            }
            Some(other) => Err(other),
        }
    }

    /// Sends each answer to the request waiting for it.
    fn answer(&mut self, responses: Vec<(RequestId, S::Response)>) {
        for (rid, response) in responses {
            if let Some(reply) = self.waiting.remove(&rid) {
                let _ = reply.send(response);
            }
        }
    }
}

/// Replays the records loaded from a partition `p` of `S`'s topic
/// through `replay`, skipping (with a warning) each record it refuses.
fn replay_loaded<S: CoordinatorState, E: std::fmt::Display>(
    p: i32,
    records: &[LoadedRecord],
    mut replay: impl FnMut(&LoadedRecord) -> Result<(), E>,
) {
    for r in records {
        if let Err(e) = replay(r) {
            tracing::warn!("{}-{p} offset {}: skipping record: {e}", S::TOPIC, r.offset);
        }
    }
    tracing::info!("loaded {} records of {}-{p}", records.len(), S::TOPIC);
}

/// The broker's way into a coordinator task; cheap to clone.
pub struct CoordinatorHandle<S: CoordinatorState, X> {
    pub(super) tx: mpsc::Sender<Command<S, X>>,
    num_partitions: i32,
    lease: Arc<SessionLease>,
}

impl<S: CoordinatorState, X> Clone for CoordinatorHandle<S, X> {
    fn clone(&self) -> Self {
        CoordinatorHandle {
            tx: self.tx.clone(),
            num_partitions: self.num_partitions,
            lease: self.lease.clone(),
        }
    }
}

/// Why a call got no answer: the coordinator task is gone (shutdown).
#[derive(Debug, thiserror::Error)]
#[error("the coordinator is shutting down")]
pub struct Unavailable;

impl<S: CoordinatorState, X: OwnCommand<S>> CoordinatorHandle<S, X> {
    /// Starts the task that owns `state`, taking at most `queue` commands
    /// at a time, and its writer thread; requests are fenced while `lease`
    /// does not hold. `rest` takes what each output holds besides appends
    /// and answers.
    pub(super) fn start_task(
        state: S,
        num_partitions: i32,
        log: Arc<dyn OffsetsLog>,
        lease: Arc<SessionLease>,
        clock: Arc<dyn Clock>,
        queue: usize,
        rest: impl FnMut(&Self, S::Output) + Send + 'static,
    ) -> Self {
        let (tx, rx) = mpsc::channel(queue);
        let (append_tx, append_rx) = std::sync::mpsc::channel();
        spawn_writer(S::WRITER, log, append_rx, tx.clone(), Command::AppendDone);
        let handle = CoordinatorHandle { tx, num_partitions, lease };
        tokio::spawn(run(state, rx, append_tx, handle.clone(), clock, rest));
        handle
    }
}

impl<S: CoordinatorState, X: Send + 'static> CoordinatorHandle<S, X> {
    /// The internal topic's partition of a group or transactional id
    /// (the same hash for both: Kafka's `partitionFor`).
    pub fn partition_for(&self, key: &str) -> i32 {
        crate::coordinator::partition_for(key, self.num_partitions)
    }

    /// Runs `f` against the state machine with a fresh request id and waits
    /// for that request's answer.
    pub async fn call(
        &self,
        f: impl FnOnce(&mut S, i64, RequestId) -> S::Output + Send + 'static,
    ) -> Result<S::Response, Unavailable> {
        ask(&self.tx, |reply| Command::Call(Box::new(f), reply)).await
    }

    /// Reads from the state machine (OffsetFetch, ListGroups,
    /// DescribeTransactions...).
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&S) -> T + Send + 'static,
    ) -> Result<T, Unavailable> {
        ask(&self.tx, |reply| {
            Command::Read(Box::new(move |state: &S| {
                let _ = reply.send(f(state));
            }))
        })
        .await
    }

    /// Follows cluster metadata: loads the partitions of the coordinator's
    /// topic this broker leads (again under a new leader epoch where
    /// [`CoordinatorState::RELOAD_ON_NEW_EPOCH`]) and unloads those it no
    /// longer leads.
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
                let now_led = led_partition_epochs(&image, S::TOPIC, broker_id);
                for (&p, &epoch) in &now_led {
                    let loaded = match led.get(&p) {
                        Some(&was) => !S::RELOAD_ON_NEW_EPOCH || was == epoch,
                        None => false,
                    };
                    if loaded {
                        continue;
                    }
                    if handle.tx.send(Command::BeginLoading(p, epoch)).await.is_err() {
                        return;
                    }
                    let (log, tx) = (log.clone(), handle.tx.clone());
                    tokio::spawn(async move {
                        if let Some(records) = load_partition(log, S::TOPIC, p).await {
                            let _ = tx.send(Command::Loaded(p, records)).await;
                        }
                    });
                }
                for p in led.keys().filter(|p| !now_led.contains_key(p)) {
                    let _ = handle.tx.send(Command::Unload(*p)).await;
                }
                led = now_led;
                // Requests queue behind the unloads just sent.
                handle.lease.applied(S::ROLE, image.session);
                if images.changed().await.is_err() {
                    return;
                }
            }
        });
    }
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
pub trait CoordinatorAppend: Send + 'static {
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

/// A coordinator's task: it feeds the state machine each command and each
/// timer wake-up, sends the records it produces to the writer, answers the
/// requests it settles, and hands the rest of each output to `rest`.
async fn run<S: CoordinatorState, X: OwnCommand<S>>(
    mut state: S,
    mut rx: mpsc::Receiver<Command<S, X>>,
    writer: std::sync::mpsc::Sender<<S::Output as CoordinatorOutput>::Append>,
    handle: CoordinatorHandle<S, X>,
    clock: Arc<dyn Clock>,
    mut rest: impl FnMut(&CoordinatorHandle<S, X>, S::Output),
) {
    let mut requests = Requests::new();
    loop {
        let Some(command) = next_command(&mut rx, state.next_deadline(), &*clock).await else {
            return;
        };
        let now = clock.now_ms();
        let mut out = match requests.serve(&mut state, now, command, &handle.lease) {
            Ok(out) => out,
            Err(Command::Call(..) | Command::Read(_)) => unreachable!("served as requests"),
            Err(Command::AppendDone(id, result)) => state.append_completed(now, id, result),
            Err(Command::BeginLoading(p, epoch)) => {
                state.begin_loading(p, epoch);
                S::Output::default()
            }
            Err(Command::Loaded(p, records)) => {
                replay_loaded::<S, _>(p, &records, |r| state.replay_record(p, r));
                state.complete_loading(now, p)
            }
            Err(Command::Unload(p)) => state.unload(p),
            Err(Command::Own(command)) => command.run(&mut state, now),
        };
        // One tick is enough: it fires every timer due at `now`. A deadline
        // it left behind at or before `now` would be the next wake-up, at
        // once, with commands served in between rather than a spin here.
        if state.next_deadline().is_some_and(|d| d <= now) {
            out.extend(state.tick(now));
        }
        for append in out.take_appends() {
            if writer.send(append).is_err() {
                tracing::error!("the {} thread stopped", S::WRITER);
            }
        }
        requests.answer(out.take_responses());
        rest(&handle, out);
    }
}

/// A read of a coordinator's state `S`, run on its task.
pub type StateRead<S> = Box<dyn FnOnce(&S) + Send>;
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
fn spawn_writer<A: CoordinatorAppend, C: Send + 'static>(
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

#[cfg(test)]
pub(super) mod testing;
