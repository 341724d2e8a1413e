//! The transactional producer's side of KIP-98 (Kafka's
//! `TransactionManager`): the coordinator of a `transactional.id` found
//! with FindCoordinator (key type 1), InitProducerId for the id's producer
//! id and epoch, AddPartitionsToTxn before a partition's first batch of a
//! transaction, and EndTxn to commit or abort.
//!
//! Calls to the coordinator are retried, as the Java client retries them,
//! while the coordinator is loading (COORDINATOR_LOAD_IN_PROGRESS), moving
//! (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE: found again) or still
//! finishing the previous transaction (CONCURRENT_TRANSACTIONS), for at
//! most `max.block.ms`. A newer producer with the same id (PRODUCER_FENCED,
//! or INVALID_PRODUCER_EPOCH from older brokers) is fatal: every later
//! call answers that error, as `ProducerFencedException` does in Java.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, EndTxnRequest, InitProducerIdRequest, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::{Request, StrBytes};
use tokio::time::Instant;

use super::admin::topic_name;
use super::connection::Connection;
use super::error::{Error, Result};
use super::transactions::find_transaction_coordinator;
use super::Cluster;

/// The pause after CONCURRENT_TRANSACTIONS: the previous transaction's
/// markers usually take a few milliseconds, so the Java client waits 20 ms
/// rather than `retry.backoff.ms` before asking again.
const CONCURRENT_TRANSACTIONS_BACKOFF: Duration = Duration::from_millis(20);

/// AddPartitionsToTxn v4 and later is the broker-to-broker (KIP-890) form.
const MAX_CLIENT_ADD_PARTITIONS_VERSION: i16 = 3;

pub type TxnPartition = (Arc<str>, i32);

pub struct TransactionManager {
    transactional_id: String,
    timeout_ms: i32,
    max_block: Duration,
    retry_backoff: Duration,
    coordinator: Option<i32>,
    producer_id: i64,
    producer_epoch: i16,
    in_transaction: bool,
    /// Partitions the coordinator has in the ongoing transaction.
    partitions: HashSet<TxnPartition>,
    /// Why the ongoing transaction can only be aborted (a batch failed).
    abortable: Option<String>,
    fatal: Option<(ResponseError, String)>,
}

/// What a coordinator answer means for the call that got it.
enum Answer {
    Done,
    Retry(Duration),
    Rediscover,
    Fail(Error),
}

impl TransactionManager {
    pub fn new(
        transactional_id: String,
        timeout: Duration,
        max_block: Duration,
        retry_backoff: Duration,
    ) -> Self {
        TransactionManager {
            transactional_id,
            timeout_ms: timeout.as_millis().min(i32::MAX as u128) as i32,
            max_block,
            retry_backoff,
            coordinator: None,
            producer_id: -1,
            producer_epoch: -1,
            in_transaction: false,
            partitions: HashSet::new(),
            abortable: None,
            fatal: None,
        }
    }

    pub fn transactional_id(&self) -> &str {
        &self.transactional_id
    }

    pub fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    /// Whether `p` is already part of the ongoing transaction.
    pub fn has_partition(&self, p: &TxnPartition) -> bool {
        self.partitions.contains(p)
    }

    /// The error every call answers once the producer is fenced.
    pub fn check_fatal(&self) -> Result<()> {
        match &self.fatal {
            Some((code, message)) => {
                Err(Error::Broker { code: *code, message: Some(message.clone()) })
            }
            None => Ok(()),
        }
    }

    /// A batch of the ongoing transaction failed with `error`: the
    /// transaction can no longer commit, and a fencing error ends the
    /// producer.
    pub fn batch_failed(&mut self, error: &Error) {
        if is_fenced(error.code()) {
            self.fence();
        }
        if self.in_transaction && self.abortable.is_none() {
            self.abortable = Some(error.to_string());
        }
    }

    fn fence(&mut self) {
        self.fatal.get_or_insert_with(|| {
            (
                ResponseError::ProducerFenced,
                "There is a newer producer with the same transactionalId which fences the current one."
                    .into(),
            )
        });
    }

    /// InitProducerId for the transactional id: the coordinator aborts
    /// what an earlier producer with this id left open, bumps the epoch
    /// (fencing that producer) and answers the producer id and epoch.
    pub async fn init(&mut self, cluster: &Cluster) -> Result<(i64, i16)> {
        self.check_fatal()?;
        let request = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(self.id_bytes())))
            .with_transaction_timeout_ms(self.timeout_ms)
            .with_producer_id(ProducerId(self.producer_id))
            .with_producer_epoch(self.producer_epoch);
        let response = self
            .call(cluster, &request, None, |r| answer_code(r.error_code), "InitProducerId")
            .await?;
        self.producer_id = response.producer_id.0;
        self.producer_epoch = response.producer_epoch;
        self.partitions.clear();
        self.in_transaction = false;
        self.abortable = None;
        Ok((self.producer_id, self.producer_epoch))
    }

    /// Kafka's `beginTransaction`.
    pub fn begin(&mut self) -> Result<()> {
        self.check_fatal()?;
        if self.producer_id < 0 {
            return Err(Error::InvalidArgument(
                "Cannot perform operation after initTransactions was not called".into(),
            ));
        }
        if self.in_transaction {
            return Err(Error::InvalidArgument(format!(
                "TransactionalId {}: Invalid transition attempted from state IN_TRANSACTION to state IN_TRANSACTION",
                self.transactional_id
            )));
        }
        self.in_transaction = true;
        Ok(())
    }

    /// Adds every partition of `new` the transaction does not hold yet, in
    /// one AddPartitionsToTxn request.
    pub async fn add_partitions(&mut self, cluster: &Cluster, new: &[TxnPartition]) -> Result<()> {
        self.check_fatal()?;
        if !self.in_transaction {
            return Err(Error::InvalidArgument(
                "Cannot call send in state READY: begin a transaction first".into(),
            ));
        }
        let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
        for (topic, partition) in new.iter().filter(|p| !self.partitions.contains(*p)) {
            match topics.iter_mut().find(|t| t.name.0.as_str() == &**topic) {
                Some(t) if !t.partitions.contains(partition) => t.partitions.push(*partition),
                Some(_) => {}
                None => topics.push(
                    AddPartitionsToTxnTopic::default()
                        .with_name(topic_name(topic))
                        .with_partitions(vec![*partition]),
                ),
            }
        }
        if topics.is_empty() {
            return Ok(());
        }
        let mut request = AddPartitionsToTxnRequest::default();
        request.v3_and_below_transactional_id = TransactionalId(self.id_bytes());
        request.v3_and_below_producer_id = ProducerId(self.producer_id);
        request.v3_and_below_producer_epoch = self.producer_epoch;
        request.v3_and_below_topics = topics;
        let answer = |r: &kafka_protocol::messages::AddPartitionsToTxnResponse| {
            let codes = r
                .results_by_topic_v3_and_below
                .iter()
                .flat_map(|t| t.results_by_partition.iter().map(|p| p.partition_error_code));
            // OPERATION_NOT_ATTEMPTED marks the partitions that were fine
            // beside one that failed: the failing one decides, fencing first.
            let worst = codes
                .filter(|&c| c != 0 && c != ResponseError::OperationNotAttempted.code())
                .max_by_key(|&c| is_fenced(ResponseError::try_from_code(c)));
            answer_code(worst.unwrap_or(0))
        };
        let version = Some(MAX_CLIENT_ADD_PARTITIONS_VERSION);
        self.call(cluster, &request, version, answer, "AddPartitionsToTxn").await?;
        self.partitions.extend(new.iter().cloned());
        Ok(())
    }

    /// EndTxn: commits or aborts the ongoing transaction (whose batches
    /// the caller has flushed). A commit after a failed batch is refused
    /// with the batch's error; the caller may abort instead.
    pub async fn end(&mut self, cluster: &Cluster, commit: bool) -> Result<()> {
        self.check_fatal()?;
        if !self.in_transaction {
            return Err(Error::InvalidArgument(format!(
                "TransactionalId {}: Invalid transition attempted from state READY to state {}",
                self.transactional_id,
                if commit { "COMMITTING_TRANSACTION" } else { "ABORTING_TRANSACTION" }
            )));
        }
        if commit {
            if let Some(why) = &self.abortable {
                return Err(Error::InvalidArgument(format!(
                    "Cannot execute transactional method because we are in an error state: {why}"
                )));
            }
        }
        // Nothing reached the coordinator: there is nothing to end there.
        if !self.partitions.is_empty() {
            let request = EndTxnRequest::default()
                .with_transactional_id(TransactionalId(self.id_bytes()))
                .with_producer_id(ProducerId(self.producer_id))
                .with_producer_epoch(self.producer_epoch)
                .with_committed(commit);
            self.call(cluster, &request, None, |r| answer_code(r.error_code), "EndTxn").await?;
        }
        self.partitions.clear();
        self.in_transaction = false;
        self.abortable = None;
        Ok(())
    }

    fn id_bytes(&self) -> StrBytes {
        StrBytes::from_string(self.transactional_id.clone())
    }

    async fn coordinator(&mut self, cluster: &Cluster) -> Result<Arc<Connection>> {
        let id = match self.coordinator {
            Some(id) => id,
            None => {
                let id = find_transaction_coordinator(cluster, &self.transactional_id).await?;
                self.coordinator = Some(id);
                id
            }
        };
        cluster.broker(id).await
    }

    /// Sends `request` to the coordinator until `answer` says it is done
    /// or failed, or `max.block.ms` passes.
    async fn call<R: Request>(
        &mut self,
        cluster: &Cluster,
        request: &R,
        max_version: Option<i16>,
        answer: impl Fn(&R::Response) -> Answer,
        api: &'static str,
    ) -> Result<R::Response> {
        let deadline = Instant::now() + self.max_block;
        loop {
            let sent = match self.coordinator(cluster).await {
                Ok(conn) => match conn.version::<R>() {
                    Ok(v) => {
                        let v = max_version.map_or(v, |m| v.min(m));
                        match conn.send_pipelined(request, v).await {
                            Ok(fut) => fut.wait().await,
                            Err(e) => Err(e),
                        }
                    }
                    Err(e) => return Err(e),
                },
                Err(e) => Err(e),
            };
            let (next, response) = match sent {
                Ok(r) => (answer(&r), Some(r)),
                Err(e) if e.is_retriable() || matches!(e, Error::UnknownBroker(_)) => {
                    (Answer::Rediscover, None)
                }
                Err(e) => (Answer::Fail(e), None),
            };
            let wait = match next {
                Answer::Done => return response.ok_or_else(|| unreachable_answer(api)),
                Answer::Fail(e) => {
                    if is_fenced(e.code()) {
                        self.fence();
                        self.check_fatal()?;
                    }
                    return Err(e);
                }
                Answer::Retry(wait) => wait,
                Answer::Rediscover => {
                    if let Some(id) = self.coordinator.take() {
                        cluster.drop_broker(id).await;
                    }
                    self.retry_backoff
                }
            };
            let wait = wait.min(self.retry_backoff);
            if Instant::now() + wait > deadline {
                return Err(Error::Timeout {
                    what: format!("{api} for transactional id {}", self.transactional_id),
                    after: self.max_block,
                });
            }
            tokio::time::sleep(wait).await;
        }
    }
}

fn unreachable_answer(api: &'static str) -> Error {
    Error::InvalidArgument(format!("{api}: no response"))
}

fn is_fenced(code: Option<ResponseError>) -> bool {
    matches!(code, Some(ResponseError::ProducerFenced | ResponseError::InvalidProducerEpoch))
}

fn answer_code(code: i16) -> Answer {
    let Some(error) = Error::from_code(code, None) else { return Answer::Done };
    match error.code() {
        Some(ResponseError::CoordinatorLoadInProgress) => Answer::Retry(Duration::from_millis(100)),
        Some(ResponseError::ConcurrentTransactions) => {
            Answer::Retry(CONCURRENT_TRANSACTIONS_BACKOFF)
        }
        Some(ResponseError::NotCoordinator | ResponseError::CoordinatorNotAvailable) => {
            Answer::Rediscover
        }
        _ => Answer::Fail(error),
    }
}
