//! The transaction coordinator (KIP-98): transactional ids, their producer
//! id and epoch, the partitions of the ongoing transaction, and the
//! two-phase end of a transaction (PrepareCommit/PrepareAbort written to
//! `__transaction_state`, then COMMIT/ABORT markers on every partition, then
//! CompleteCommit/CompleteAbort), as a pure state machine shaped like the
//! group coordinator in `crate::coordinator`.
//!
//! Requests, timer ticks and append outcomes go in, each with the current
//! time; out come records for `__transaction_state`, answers, and marker
//! jobs the runtime carries to partition leaders (reporting back with
//! [`TransactionCoordinator::markers_written`]). No clock, file or socket.
//!
//! Every state change is a [`Transit`]: the new stored state is appended
//! first and becomes the state only once the append succeeded (Kafka's
//! `pendingState` and `completeTransitionTo`); meanwhile the transactional
//! id answers CONCURRENT_TRANSACTIONS. A transactional id belongs to
//! partition `abs(hashCode(id)) % transaction.state.log.num.partitions`;
//! state is rebuilt by replaying that partition on becoming its leader, and
//! transactions found in a Prepare state get their markers sent again.

pub mod records;
mod state_machine;

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};

use crate::config::Properties;
use crate::coordinator::records::RecordError;
pub use crate::coordinator::{AppendError, AppendId, RequestId};
use crate::protocol::ErrorCode;
use crate::types::TopicPartition;
use records::TransactionLogValue;

/// Name of the internal topic holding transaction state.
pub const TRANSACTION_STATE_TOPIC_NAME: &str = "__transaction_state";

/// Kafka's `RecordBatch.NO_PRODUCER_EPOCH` and `NO_PRODUCER_ID`.
pub const NO_PRODUCER_EPOCH: i16 = -1;
pub const NO_PRODUCER_ID: i64 = -1;

/// Kafka's `TransactionState`, with its on-disk ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransactionState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TransactionState {
    pub fn id(self) -> i8 {
        match self {
            TransactionState::Empty => 0,
            TransactionState::Ongoing => 1,
            TransactionState::PrepareCommit => 2,
            TransactionState::PrepareAbort => 3,
            TransactionState::CompleteCommit => 4,
            TransactionState::CompleteAbort => 5,
            TransactionState::Dead => 6,
            TransactionState::PrepareEpochFence => 7,
        }
    }

    pub fn from_id(id: i8) -> Option<Self> {
        Some(match id {
            0 => TransactionState::Empty,
            1 => TransactionState::Ongoing,
            2 => TransactionState::PrepareCommit,
            3 => TransactionState::PrepareAbort,
            4 => TransactionState::CompleteCommit,
            5 => TransactionState::CompleteAbort,
            6 => TransactionState::Dead,
            7 => TransactionState::PrepareEpochFence,
            _ => return None,
        })
    }

    /// The name DescribeTransactions and ListTransactions report.
    pub fn name(self) -> &'static str {
        match self {
            TransactionState::Empty => "Empty",
            TransactionState::Ongoing => "Ongoing",
            TransactionState::PrepareCommit => "PrepareCommit",
            TransactionState::PrepareAbort => "PrepareAbort",
            TransactionState::CompleteCommit => "CompleteCommit",
            TransactionState::CompleteAbort => "CompleteAbort",
            TransactionState::Dead => "Dead",
            TransactionState::PrepareEpochFence => "PrepareEpochFence",
        }
    }
}

/// The broker settings the coordinator obeys, with Kafka's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionConfig {
    pub transaction_max_timeout_ms: i32,
    pub transaction_state_log_num_partitions: i32,
    pub transaction_abort_timed_out_transaction_cleanup_interval_ms: i64,
    /// How long a transactional id with no transaction in progress is kept
    /// after its last update (Kafka's `transactional.id.expiration.ms`).
    pub transactional_id_expiration_ms: i64,
    /// How often ids past that are looked for (Kafka's
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`).
    pub transaction_remove_expired_transaction_cleanup_interval_ms: i64,
}

impl Default for TransactionConfig {
    fn default() -> Self {
        TransactionConfig {
            transaction_max_timeout_ms: 900_000,
            transaction_state_log_num_partitions: 50,
            transaction_abort_timed_out_transaction_cleanup_interval_ms: 10_000,
            transactional_id_expiration_ms: 7 * 24 * 3_600_000,
            transaction_remove_expired_transaction_cleanup_interval_ms: 3_600_000,
        }
    }
}

impl TransactionConfig {
    pub fn from_properties(p: &Properties) -> Result<Self, crate::config::Error> {
        let d = TransactionConfig::default();
        Ok(TransactionConfig {
            transaction_max_timeout_ms: p
                .parse_or("transaction.max.timeout.ms", d.transaction_max_timeout_ms)?
                .max(1),
            transaction_state_log_num_partitions: p
                .parse_or(
                    "transaction.state.log.num.partitions",
                    d.transaction_state_log_num_partitions,
                )?
                .max(1),
            transaction_abort_timed_out_transaction_cleanup_interval_ms: p
                .parse_or(
                    "transaction.abort.timed.out.transaction.cleanup.interval.ms",
                    d.transaction_abort_timed_out_transaction_cleanup_interval_ms,
                )?
                .max(1),
            transactional_id_expiration_ms: p
                .parse_or("transactional.id.expiration.ms", d.transactional_id_expiration_ms)?
                .max(1),
            transaction_remove_expired_transaction_cleanup_interval_ms: p
                .parse_or(
                    "transaction.remove.expired.transaction.cleanup.interval.ms",
                    d.transaction_remove_expired_transaction_cleanup_interval_ms,
                )?
                .max(1),
        })
    }
}

/// The `__transaction_state` partition of a transactional id (the same
/// hash as for groups: Kafka's `partitionFor`).
pub fn partition_for(transactional_id: &str, num_partitions: i32) -> i32 {
    crate::coordinator::partition_for(transactional_id, num_partitions)
}

/// How a transaction ends; the marker's control type (ABORT 0, COMMIT 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransactionResult {
    Abort,
    Commit,
}

/// One transactional id as the coordinator holds it (Kafka's
/// `TransactionMetadata`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump, so a retried InitProducerId whose
    /// answer was lost is recognised (KIP-360).
    pub last_producer_epoch: i16,
    pub txn_timeout_ms: i32,
    pub state: TransactionState,
    pub partitions: BTreeSet<TopicPartition>,
    pub txn_start_timestamp: i64,
    pub txn_last_update_timestamp: i64,
    /// The state an append in flight will move to.
    pub pending_state: Option<TransactionState>,
}

impl TransactionMetadata {
    fn stored(&self) -> TransactionLogValue {
        TransactionLogValue {
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            transaction_timeout_ms: self.txn_timeout_ms,
            state: self.state,
            partitions: self.partitions.clone(),
            last_update_timestamp_ms: self.txn_last_update_timestamp,
            start_timestamp_ms: self.txn_start_timestamp,
        }
    }
}

/// One record for `__transaction_state`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Append {
    pub id: AppendId,
    pub partition: i32,
    pub timestamp: i64,
    pub key: Vec<u8>,
    /// `None`: a tombstone, which removes an expired transactional id.
    pub value: Option<Vec<u8>>,
}

/// Markers to write: one control batch per partition, then report back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkerJob {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The leader epoch of the `__transaction_state` partition: partition
    /// leaders refuse markers from an older coordinator.
    pub coordinator_epoch: i32,
    pub result: TransactionResult,
    pub partitions: Vec<TopicPartition>,
}

/// An answer to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// Producer id and epoch.
    InitProducerId(Result<(i64, i16), ErrorCode>),
    AddPartitions(Result<(), ErrorCode>),
    EndTxn(Result<(), ErrorCode>),
}

#[derive(Debug, Default)]
pub struct Output {
    pub appends: Vec<Append>,
    pub responses: Vec<(RequestId, Response)>,
    pub markers: Vec<MarkerJob>,
}

impl Output {
    fn respond(rid: RequestId, r: Response) -> Output {
        Output { responses: vec![(rid, r)], ..Output::default() }
    }

    pub fn extend(&mut self, other: Output) {
        self.appends.extend(other.appends);
        self.responses.extend(other.responses);
        self.markers.extend(other.markers);
    }
}

/// What happens once a transition's record is stored.
#[derive(Debug)]
enum Then {
    /// Answer InitProducerId with the new id and epoch.
    InitProducerId(RequestId),
    AddPartitions(RequestId),
    /// Answer EndTxn (if a client asked) and send the markers.
    SendMarkers(Option<RequestId>),
    /// The transaction is complete; nothing waits.
    Nothing,
}

#[derive(Debug)]
struct Transit {
    transactional_id: String,
    target: TransactionMetadata,
    then: Then,
}

#[derive(Debug)]
enum PartitionLoad {
    Loading { coordinator_epoch: i32, buffer: HashMap<String, Option<TransactionLogValue>> },
    Loaded { coordinator_epoch: i32 },
}

pub struct TransactionCoordinator {
    config: TransactionConfig,
    partitions: HashMap<i32, PartitionLoad>,
    transactions: HashMap<String, TransactionMetadata>,
    pending: HashMap<AppendId, Transit>,
    next_append_id: u64,
    next_expiry_check: Option<i64>,
    /// When expired transactional ids are next looked for.
    next_id_expiry_check: Option<i64>,
    /// Set while the runtime cannot vouch that this broker still leads the
    /// partitions it loaded: every transactional id answers NOT_COORDINATOR.
    fenced: bool,
}

/// Why a request cannot be served by this coordinator right now.
fn unavailable(load: Option<&PartitionLoad>) -> ErrorCode {
    match load {
        Some(PartitionLoad::Loading { .. }) => ErrorCode::CoordinatorLoadInProgress,
        _ => ErrorCode::NotCoordinator,
    }
}

impl TransactionCoordinator {
    pub fn new(config: TransactionConfig) -> Self {
        TransactionCoordinator {
            config,
            partitions: HashMap::new(),
            transactions: HashMap::new(),
            pending: HashMap::new(),
            next_append_id: 0,
            next_expiry_check: None,
            next_id_expiry_check: None,
            fenced: false,
        }
    }

    pub fn config(&self) -> &TransactionConfig {
        &self.config
    }

    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        partition_for(transactional_id, self.config.transaction_state_log_num_partitions)
    }

    pub fn is_loaded(&self, partition: i32) -> bool {
        matches!(self.partitions.get(&partition), Some(PartitionLoad::Loaded { .. }))
    }

    /// The loaded transactional ids (for ListTransactions and
    /// DescribeTransactions).
    pub fn transactions(&self) -> impl Iterator<Item = &TransactionMetadata> {
        self.transactions.values()
    }

    pub fn transaction(&self, transactional_id: &str) -> Result<&TransactionMetadata, ErrorCode> {
        self.coordinator_epoch(transactional_id)?;
        self.transactions.get(transactional_id).ok_or(ErrorCode::TransactionalIdNotFound)
    }

    fn coordinator_epoch(&self, transactional_id: &str) -> Result<i32, ErrorCode> {
        let load = self.partitions.get(&self.partition_for(transactional_id));
        match load {
            _ if self.fenced => Err(ErrorCode::NotCoordinator),
            Some(PartitionLoad::Loaded { coordinator_epoch }) => Ok(*coordinator_epoch),
            other => Err(unavailable(other)),
        }
    }

    /// Stores `target` and runs `then` once the record is appended.
    fn transition(&mut self, now: i64, target: TransactionMetadata, then: Then) -> Output {
        let id = target.transactional_id.clone();
        if let Some(m) = self.transactions.get_mut(&id) {
            m.pending_state = Some(target.state);
        }
        self.next_append_id += 1;
        let append_id = AppendId(self.next_append_id);
        let append = Append {
            id: append_id,
            partition: self.partition_for(&id),
            timestamp: now,
            key: records::encode_key(&id),
            // Kafka stores a transactional id's removal as a tombstone.
            value: (target.state != TransactionState::Dead).then(|| target.stored().encode()),
        };
        self.pending.insert(append_id, Transit { transactional_id: id, target, then });
        Output { appends: vec![append], ..Output::default() }
    }

    /// InitProducerId with a transactional id (Kafka's
    /// `handleInitProducerId`). `fresh_producer_id` is a never-used id the
    /// runtime reserved, taken for a new transactional id or when the
    /// epoch is exhausted. `expected` is the producer's current id and
    /// epoch (KIP-360), or `None`.
    pub fn init_producer_id(
        &mut self,
        now: i64,
        rid: RequestId,
        transactional_id: &str,
        txn_timeout_ms: i32,
        expected: Option<(i64, i16)>,
        fresh_producer_id: i64,
    ) -> Output {
        let fail = |e| Output::respond(rid, Response::InitProducerId(Err(e)));
        if transactional_id.is_empty() {
            return fail(ErrorCode::InvalidRequest);
        }
        if txn_timeout_ms <= 0 || txn_timeout_ms > self.config.transaction_max_timeout_ms {
            return fail(ErrorCode::InvalidTransactionTimeout);
        }
        if let Err(e) = self.coordinator_epoch(transactional_id) {
            return fail(e);
        }
        let m = self.transactions.entry(transactional_id.to_string()).or_insert_with(|| {
            TransactionMetadata {
                transactional_id: transactional_id.to_string(),
                producer_id: fresh_producer_id,
                producer_epoch: NO_PRODUCER_EPOCH,
                last_producer_epoch: NO_PRODUCER_EPOCH,
                txn_timeout_ms,
                state: TransactionState::Empty,
                partitions: BTreeSet::new(),
                txn_start_timestamp: -1,
                txn_last_update_timestamp: now,
                pending_state: None,
            }
        });
        if m.pending_state.is_some() {
            return fail(ErrorCode::ConcurrentTransactions);
        }
        // KIP-360: a producer that knows its id and epoch may only bump its
        // own current epoch, or retry the bump it already got.
        if let Some((pid, epoch)) = expected {
            let current = pid == m.producer_id && epoch == m.producer_epoch;
            let retried = pid == m.producer_id
                && epoch == m.last_producer_epoch
                && m.state != TransactionState::Ongoing;
            if retried {
                let answer = Ok((m.producer_id, m.producer_epoch));
                return Output::respond(rid, Response::InitProducerId(answer));
            }
            if !current && m.producer_epoch != NO_PRODUCER_EPOCH {
                return fail(ErrorCode::ProducerFenced);
            }
        }
        match m.state {
            TransactionState::PrepareCommit | TransactionState::PrepareAbort => {
                fail(ErrorCode::ConcurrentTransactions)
            }
            TransactionState::Ongoing => {
                // KIP-98 zombie fencing: the ongoing transaction is aborted
                // under a bumped epoch, so the old producer is fenced; the new
                // one retries on CONCURRENT_TRANSACTIONS until it completes.
                let mut out = self.fence_and_abort(now, transactional_id);
                out.responses
                    .push((rid, Response::InitProducerId(Err(ErrorCode::ConcurrentTransactions))));
                out
            }
            TransactionState::Empty
            | TransactionState::CompleteCommit
            | TransactionState::CompleteAbort => {
                let mut target = m.clone();
                target.pending_state = None;
                // Epoch exhaustion: a fresh producer id restarts at epoch 0.
                if m.producer_epoch >= i16::MAX - 1 {
                    target.producer_id = fresh_producer_id;
                    target.last_producer_epoch = NO_PRODUCER_EPOCH;
                    target.producer_epoch = 0;
                } else {
                    target.last_producer_epoch = m.producer_epoch;
                    target.producer_epoch = m.producer_epoch + 1;
                }
                target.txn_timeout_ms = txn_timeout_ms;
                target.state = TransactionState::Empty;
                target.partitions.clear();
                target.txn_start_timestamp = -1;
                target.txn_last_update_timestamp = now;
                self.transition(now, target, Then::InitProducerId(rid))
            }
            TransactionState::Dead | TransactionState::PrepareEpochFence => {
                fail(ErrorCode::UnknownServerError)
            }
        }
    }

    /// Bumps the epoch of an Ongoing transaction and aborts it (Kafka's
    /// `prepareFenceProducerEpoch` followed by an abort not from the client).
    fn fence_and_abort(&mut self, now: i64, transactional_id: &str) -> Output {
        let Some(m) = self.transactions.get(transactional_id) else {
            return Output::default();
        };
        let mut target = m.clone();
        target.pending_state = None;
        if m.producer_epoch < i16::MAX {
            target.last_producer_epoch = m.producer_epoch;
            target.producer_epoch = m.producer_epoch + 1;
        }
        target.state = TransactionState::PrepareAbort;
        target.txn_last_update_timestamp = now;
        self.transition(now, target, Then::SendMarkers(None))
    }

    /// Checks a client request's producer id and epoch against the stored
    /// ones (Kafka's AddPartitionsToTxn and EndTxn checks).
    fn check_producer(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<&TransactionMetadata, ErrorCode> {
        self.coordinator_epoch(transactional_id)?;
        let m =
            self.transactions.get(transactional_id).ok_or(ErrorCode::InvalidProducerIdMapping)?;
        if m.producer_id != producer_id {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if m.producer_epoch != producer_epoch {
            return Err(ErrorCode::ProducerFenced);
        }
        if m.pending_state.is_some() {
            return Err(ErrorCode::ConcurrentTransactions);
        }
        Ok(m)
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, with the group's
    /// `__consumer_offsets` partition).
    pub fn add_partitions(
        &mut self,
        now: i64,
        rid: RequestId,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: Vec<TopicPartition>,
    ) -> Output {
        let m = match self.check_producer(transactional_id, producer_id, producer_epoch) {
            Ok(m) => m,
            Err(e) => return Output::respond(rid, Response::AddPartitions(Err(e))),
        };
        match m.state {
            TransactionState::PrepareCommit | TransactionState::PrepareAbort => Output::respond(
                rid,
                Response::AddPartitions(Err(ErrorCode::ConcurrentTransactions)),
            ),
            TransactionState::Dead | TransactionState::PrepareEpochFence => {
                Output::respond(rid, Response::AddPartitions(Err(ErrorCode::InvalidTxnState)))
            }
            TransactionState::Ongoing if partitions.iter().all(|p| m.partitions.contains(p)) => {
                Output::respond(rid, Response::AddPartitions(Ok(())))
            }
            state => {
                let mut target = m.clone();
                if state != TransactionState::Ongoing {
                    target.partitions.clear();
                    target.txn_start_timestamp = now;
                }
                target.partitions.extend(partitions);
                target.state = TransactionState::Ongoing;
                target.txn_last_update_timestamp = now;
                self.transition(now, target, Then::AddPartitions(rid))
            }
        }
    }

    /// EndTxn from the client (Kafka's `endTransaction`).
    pub fn end_txn(
        &mut self,
        now: i64,
        rid: RequestId,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        result: TransactionResult,
    ) -> Output {
        let fail = |e| Output::respond(rid, Response::EndTxn(Err(e)));
        let m = match self.check_producer(transactional_id, producer_id, producer_epoch) {
            Ok(m) => m,
            Err(e) => return fail(e),
        };
        use TransactionResult::{Abort, Commit};
        use TransactionState as S;
        match (m.state, result) {
            (S::Ongoing, _) => {
                let mut target = m.clone();
                target.state = if result == Commit { S::PrepareCommit } else { S::PrepareAbort };
                target.txn_last_update_timestamp = now;
                self.transition(now, target, Then::SendMarkers(Some(rid)))
            }
            // A retry of an EndTxn whose answer was lost succeeds again.
            (S::CompleteCommit, Commit) | (S::CompleteAbort, Abort) => {
                Output::respond(rid, Response::EndTxn(Ok(())))
            }
            (S::PrepareCommit, Commit) | (S::PrepareAbort, Abort) => {
                fail(ErrorCode::ConcurrentTransactions)
            }
            _ => fail(ErrorCode::InvalidTxnState),
        }
    }

    /// The runtime wrote every marker of `job` (or gave up on partitions
    /// that no longer exist): the transaction completes.
    pub fn markers_written(&mut self, now: i64, job: &MarkerJob) -> Output {
        let Ok(epoch) = self.coordinator_epoch(&job.transactional_id) else {
            return Output::default();
        };
        let Some(m) = self.transactions.get(&job.transactional_id) else {
            return Output::default();
        };
        let expected = match job.result {
            TransactionResult::Commit => TransactionState::PrepareCommit,
            TransactionResult::Abort => TransactionState::PrepareAbort,
        };
        if epoch != job.coordinator_epoch
            || m.state != expected
            || m.producer_id != job.producer_id
            || m.producer_epoch != job.producer_epoch
            || m.pending_state.is_some()
        {
            return Output::default();
        }
        let mut target = m.clone();
        target.state = match job.result {
            TransactionResult::Commit => TransactionState::CompleteCommit,
            TransactionResult::Abort => TransactionState::CompleteAbort,
        };
        target.partitions.clear();
        target.txn_last_update_timestamp = now;
        self.transition(now, target, Then::Nothing)
    }

    fn schedule_expiry(&mut self, now: i64) {
        if self.next_expiry_check.is_none() {
            self.next_expiry_check =
                Some(now + self.config.transaction_abort_timed_out_transaction_cleanup_interval_ms);
        }
        if self.next_id_expiry_check.is_none() {
            self.next_id_expiry_check =
                Some(now + self.config.transaction_remove_expired_transaction_cleanup_interval_ms);
        }
    }

    /// Removes the transactional ids with no transaction in progress whose
    /// last update is `transactional.id.expiration.ms` old, writing a
    /// tombstone for each (Kafka's `removeExpiredTransactionalIds`).
    fn remove_expired_ids(&mut self, now: i64) -> Output {
        let mut out = Output::default();
        let expired: Vec<TransactionMetadata> = self
            .transactions
            .values()
            .filter(|m| {
                matches!(
                    m.state,
                    TransactionState::Empty
                        | TransactionState::CompleteCommit
                        | TransactionState::CompleteAbort
                ) && m.pending_state.is_none()
                    && m.txn_last_update_timestamp + self.config.transactional_id_expiration_ms
                        <= now
            })
            .cloned()
            .collect();
        for mut target in expired {
            if self.coordinator_epoch(&target.transactional_id).is_ok() {
                tracing::info!("removing expired transactional id {}", target.transactional_id);
                target.state = TransactionState::Dead;
                out.extend(self.transition(now, target, Then::Nothing));
            }
        }
        out
    }

    /// Aborts Ongoing transactions past their timeout, bumping the epoch so
    /// the producer that let it expire is fenced (Kafka's
    /// `abortTimedOutTransactions`).
    fn abort_timed_out(&mut self, now: i64) -> Output {
        let mut out = Output::default();
        let expired: Vec<String> = self
            .transactions
            .values()
            .filter(|m| {
                m.state == TransactionState::Ongoing
                    && m.pending_state.is_none()
                    && m.txn_start_timestamp + i64::from(m.txn_timeout_ms) < now
            })
            .map(|m| m.transactional_id.clone())
            .collect();
        for id in expired {
            if self.coordinator_epoch(&id).is_ok() {
                tracing::info!("aborting transaction {id}: it exceeded its timeout");
                out.extend(self.fence_and_abort(now, &id));
            }
        }
        out
    }

    /// One stored record of a partition being loaded; the last one per key
    /// wins and a tombstone deletes.
    pub fn replay(
        &mut self,
        partition: i32,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), RecordError> {
        let Some(PartitionLoad::Loading { buffer, .. }) = self.partitions.get_mut(&partition)
        else {
            return Ok(());
        };
        let id = records::decode_key(key)?;
        let value = value.map(TransactionLogValue::decode).transpose()?;
        buffer.insert(id, value);
        Ok(())
    }
}

/// Whether the timer at `next` is due at `now`; a due timer is set again
/// `interval` from now.
fn due(next: &mut Option<i64>, now: i64, interval: i64) -> bool {
    if next.is_none_or(|d| d > now) {
        return false;
    }
    *next = Some(now + interval);
    true
}

/// Markers for a transaction in a Prepare state.
fn marker_job(m: &TransactionMetadata, coordinator_epoch: i32) -> Option<MarkerJob> {
    let result = match m.state {
        TransactionState::PrepareCommit => TransactionResult::Commit,
        TransactionState::PrepareAbort => TransactionResult::Abort,
        _ => return None,
    };
    Some(MarkerJob {
        transactional_id: m.transactional_id.clone(),
        producer_id: m.producer_id,
        producer_epoch: m.producer_epoch,
        coordinator_epoch,
        result,
        partitions: m.partitions.iter().cloned().collect(),
    })
}
