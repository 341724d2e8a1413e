//! The producer: per-partition batching with linger, pipelined Produce
//! requests (up to `max.in.flight.requests.per.connection` per broker),
//! acks, retries, Kafka's partitioners and the idempotent producer.
//!
//! Records are appended straight into a `record::BatchBuilder` per
//! partition; a batch is sealed when it reaches `batch.size` and its leader
//! can take another request, or when it has lingered `linger.ms`. While a
//! leader's requests are all in flight its open batch keeps growing (up to
//! `max.request.size`), so a fast writer gets large batches without waiting
//! for linger. Each record carries a caller-chosen tag (the console
//! producer uses the line number) so failures can be reported per record.
//!
//! With a `transactional.id` the producer is transactional (KIP-98): its
//! batches carry the transactional flag, and [`TransactionManager`] adds
//! each partition to the transaction before its first batch and ends the
//! transaction; everything else is the idempotent producer's path.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    InitProducerIdRequest, ProduceRequest, ProduceResponse, ProducerId,
};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::admin::topic_name;
use super::cluster::Cluster;
use super::error::{Error, Result};
use super::transaction_manager::{TransactionManager, TxnPartition};
use crate::config::Properties;
use crate::record::{BatchBuilder, Compression, Header, NewRecord};

/// Sealed batches a producer holds before `send` waits for the broker.
const MAX_QUEUED_BATCHES: usize = 64;

/// Producer settings, with the Java client's defaults.
#[derive(Clone, Debug)]
pub struct ProducerConfig {
    /// 0, 1 or -1 (all).
    pub acks: i16,
    pub linger: Duration,
    pub batch_size: usize,
    pub max_request_size: usize,
    pub compression: Compression,
    pub retries: u32,
    pub retry_backoff: Duration,
    pub max_in_flight: usize,
    pub idempotence: bool,
    /// How long to wait for a topic's metadata (`max.block.ms`).
    pub max_block: Duration,
    /// `transactional.id`: makes the producer transactional (and idempotent).
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms`: how long the coordinator lets a
    /// transaction stay open before aborting it.
    pub transaction_timeout: Duration,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self {
            acks: -1,
            linger: Duration::from_millis(5),
            batch_size: 16384,
            max_request_size: 1024 * 1024,
            compression: Compression::None,
            retries: i32::MAX as u32,
            retry_backoff: Duration::from_millis(100),
            max_in_flight: 5,
            idempotence: false,
            max_block: Duration::from_secs(60),
            transactional_id: None,
            transaction_timeout: Duration::from_secs(60),
        }
    }
}

impl ProducerConfig {
    /// Reads the Java client's property names (`acks`, `linger.ms`,
    /// `batch.size`, `compression.type`, `retries`, `retry.backoff.ms`,
    /// `max.in.flight.requests.per.connection`, `enable.idempotence`,
    /// `max.block.ms`, `max.request.size`, `transactional.id`,
    /// `transaction.timeout.ms`); absent keys keep the defaults.
    /// `enable.idempotence` defaults to false here, as in librdkafka, and
    /// to true with a `transactional.id`, as in the Java client.
    pub fn from_properties(p: &Properties) -> Result<Self> {
        let d = ProducerConfig::default();
        let bad = Error::Config;
        let acks = match p.get("acks").map(str::trim) {
            None => d.acks,
            Some("all") | Some("-1") => -1,
            Some("0") => 0,
            Some("1") => 1,
            Some(other) => {
                return Err(Error::InvalidArgument(format!(
                    "Invalid value {other} for configuration acks: String must be one of: all, -1, 0, 1"
                )))
            }
        };
        let compression = match p.get("compression.type") {
            None => d.compression,
            Some(name) => Compression::from_name(name).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "Invalid value {name} for configuration compression.type: String must be one of: none, gzip, snappy, lz4, zstd"
                ))
            })?,
        };
        let ms = |key: &str, default: Duration| -> Result<Duration> {
            Ok(Duration::from_millis(p.parse_or(key, default.as_millis() as u64).map_err(bad)?))
        };
        let transactional_id =
            p.get("transactional.id").map(str::trim).filter(|id| !id.is_empty()).map(String::from);
        let idempotence = match p.get("enable.idempotence") {
            None => d.idempotence || transactional_id.is_some(),
            Some(_) => p.bool_or("enable.idempotence", d.idempotence).map_err(bad)?,
        };
        if transactional_id.is_some() && !idempotence {
            return Err(Error::InvalidArgument(
                "Cannot set a transactional.id without also enabling idempotence.".into(),
            ));
        }
        Ok(Self {
            acks,
            linger: ms("linger.ms", d.linger)?,
            batch_size: p.parse_or("batch.size", d.batch_size).map_err(bad)?,
            max_request_size: p.parse_or("max.request.size", d.max_request_size).map_err(bad)?,
            compression,
            retries: p.parse_or("retries", d.retries).map_err(bad)?,
            retry_backoff: ms("retry.backoff.ms", d.retry_backoff)?,
            max_in_flight: p
                .parse_or("max.in.flight.requests.per.connection", d.max_in_flight)
                .map_err(bad)?,
            idempotence,
            max_block: ms("max.block.ms", d.max_block)?,
            transactional_id,
            transaction_timeout: ms("transaction.timeout.ms", d.transaction_timeout)?,
        })
    }
}

/// One record to send; `..Default::default()` leaves the rest unset (no
/// key, headers or timestamp, the partitioner's choice of partition).
#[derive(Clone, Copy, Debug, Default)]
pub struct ProducerRecord<'a> {
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [Header<'a>],
    /// None: the time of the send.
    pub timestamp: Option<i64>,
    /// None: chosen by the partitioner.
    pub partition: Option<i32>,
}

/// A record that was not delivered, by its tag.
#[derive(Clone, Debug)]
pub struct Failure {
    pub tag: u64,
    pub topic: Arc<str>,
    pub error: Arc<Error>,
}

/// Kafka's `Utils.murmur2`, bit for bit, so keys land on the partitions the
/// Java client (and librdkafka's `murmur2_random`) picks.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The Java client's partition for a keyed record.
pub fn partition_for_key(key: &[u8], partitions: usize) -> i32 {
    ((murmur2(key) & 0x7fff_ffff) as usize % partitions.max(1)) as i32
}

struct TopicState {
    name: Arc<str>,
    /// Leader per partition (-1: none).
    leaders: Vec<i32>,
    /// The partition keyless records go to until its batch is sealed.
    sticky: Option<i32>,
}

struct OpenBatch {
    builder: BatchBuilder,
    tags: Vec<u64>,
    created: Instant,
}

struct SealedBatch {
    topic: Arc<str>,
    partition: i32,
    bytes: Bytes,
    tags: Vec<u64>,
    attempts: u32,
}

type InFlight = (i32, Vec<SealedBatch>, Result<ProduceResponse>);

pub struct Producer {
    cluster: Arc<Cluster>,
    config: ProducerConfig,
    topics: HashMap<Arc<str>, TopicState>,
    open: HashMap<(Arc<str>, i32), OpenBatch>,
    retry: VecDeque<SealedBatch>,
    in_flight: JoinSet<InFlight>,
    in_flight_per_broker: HashMap<i32, usize>,
    producer_id: i64,
    producer_epoch: i16,
    sequences: HashMap<(Arc<str>, i32), i32>,
    failures: Vec<Failure>,
    delivered: u64,
    /// Tags of acknowledged records and when their answer was handled,
    /// kept only when asked for (perf tests).
    acked: Option<Vec<(u64, std::time::Instant)>>,
    /// Set with a `transactional.id`.
    txn: Option<TransactionManager>,
}

impl Producer {
    pub async fn new(cluster: Arc<Cluster>, config: ProducerConfig) -> Result<Self> {
        if config.idempotence && config.acks != -1 {
            return Err(Error::InvalidArgument(
                "Must set acks to all in order to use the idempotent producer. Otherwise we cannot guarantee idempotence.".into(),
            ));
        }
        if config.idempotence && config.max_in_flight > 5 {
            return Err(Error::InvalidArgument(
                "Must set max.in.flight.requests.per.connection to at most 5 to use the idempotent producer.".into(),
            ));
        }
        let mut p = Producer {
            cluster,
            config,
            topics: HashMap::new(),
            open: HashMap::new(),
            retry: VecDeque::new(),
            in_flight: JoinSet::new(),
            in_flight_per_broker: HashMap::new(),
            producer_id: -1,
            producer_epoch: -1,
            sequences: HashMap::new(),
            failures: Vec::new(),
            delivered: 0,
            acked: None,
            txn: None,
        };
        if let Some(id) = &p.config.transactional_id {
            // The producer id comes from the coordinator in init_transactions.
            p.txn = Some(TransactionManager::new(
                id.clone(),
                p.config.transaction_timeout,
                p.config.max_block,
                p.config.retry_backoff,
            ));
        } else if p.config.idempotence {
            p.init_producer_id().await?;
        }
        Ok(p)
    }

    fn txn_mut(&mut self) -> Result<&mut TransactionManager> {
        self.txn.as_mut().ok_or_else(|| {
            Error::InvalidArgument(
                "Cannot use transactional methods without enabling transactions by setting the transactional.id configuration property".into(),
            )
        })
    }

    /// Kafka's `initTransactions`: the producer id and epoch of the
    /// `transactional.id`, fencing older producers with the same id and
    /// aborting what they left open.
    pub async fn init_transactions(&mut self) -> Result<()> {
        let cluster = Arc::clone(&self.cluster);
        let (id, epoch) = self.txn_mut()?.init(&cluster).await?;
        self.producer_id = id;
        self.producer_epoch = epoch;
        self.sequences.clear();
        Ok(())
    }

    /// Kafka's `beginTransaction`: records sent from now on belong to a
    /// transaction until it is committed or aborted.
    pub fn begin_transaction(&mut self) -> Result<()> {
        self.txn_mut()?.begin()
    }

    /// Kafka's `commitTransaction`: sends every record, then commits. If a
    /// record failed the commit is refused (abort instead); a fenced
    /// producer gets PRODUCER_FENCED here and from then on.
    pub async fn commit_transaction(&mut self) -> Result<()> {
        self.end_transaction(true).await
    }

    /// Kafka's `abortTransaction`: what was sent in the transaction stays
    /// invisible to read_committed consumers.
    pub async fn abort_transaction(&mut self) -> Result<()> {
        self.end_transaction(false).await
    }

    async fn end_transaction(&mut self, commit: bool) -> Result<()> {
        self.txn_mut()?.check_fatal()?;
        self.flush().await?;
        let cluster = Arc::clone(&self.cluster);
        self.txn_mut()?.end(&cluster, commit).await
    }

    async fn init_producer_id(&mut self) -> Result<()> {
        let conn = self.cluster.any_broker();
        let request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(i32::MAX)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let response = conn.send(&request).await?;
        if let Some(e) = Error::from_code(response.error_code, None) {
            return Err(e);
        }
        self.producer_id = response.producer_id.0;
        self.producer_epoch = response.producer_epoch;
        Ok(())
    }

    /// Records acknowledged so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Keeps the tag of every acknowledged record for [`Producer::take_acked`].
    pub fn track_acks(&mut self) {
        self.acked.get_or_insert_with(Vec::new);
    }

    /// Tags acknowledged since the last call (with [`Producer::track_acks`]),
    /// each with the moment its answer was handled.
    pub fn take_acked(&mut self) -> Vec<(u64, std::time::Instant)> {
        self.acked.as_mut().map(std::mem::take).unwrap_or_default()
    }

    fn delivered_batch(&mut self, tags: &[u64]) {
        self.delivered += tags.len() as u64;
        if let Some(acked) = &mut self.acked {
            let now = std::time::Instant::now();
            acked.extend(tags.iter().map(|&t| (t, now)));
        }
    }

    /// Does what Java's sender thread does in the background until
    /// `until`: sends batches as they finish lingering and handles answers
    /// as they arrive. A caller that paces its sends (producer-perf-test's
    /// `--throughput`) would otherwise leave both waiting while it sleeps,
    /// and every record would look as slow as the pause after it.
    pub async fn work_until(&mut self, until: std::time::Instant) -> Result<()> {
        let until = Instant::from_std(until);
        loop {
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            if self.linger_deadline().is_some_and(|d| d <= now) {
                // Seals every lingered batch, so this does not repeat.
                self.send_lingering().await?;
                continue;
            }
            let wake = self.linger_deadline().map_or(until, |d| d.min(until));
            tokio::select! {
                Some(done) = self.in_flight.join_next(), if !self.in_flight.is_empty() => {
                    self.complete(done).await;
                    self.dispatch().await;
                }
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// Records that failed since the last call.
    pub fn take_failures(&mut self) -> Vec<Failure> {
        std::mem::take(&mut self.failures)
    }

    /// Fetches a topic's partitions and leaders the first time it is used.
    async fn load_topic(&mut self, topic: &str) -> Result<()> {
        let md = self.cluster.topic(topic, true, self.config.max_block).await?;
        let name: Arc<str> = Arc::from(topic);
        let leaders = md.partitions.iter().map(|p| p.leader).collect();
        self.topics.insert(name.clone(), TopicState { name, leaders, sticky: None });
        Ok(())
    }

    /// Appends a record; sends batches that are ready. Waits only when the
    /// leader already has its maximum of requests in flight and the batch
    /// reached `max.request.size`.
    pub async fn send(&mut self, topic: &str, record: ProducerRecord<'_>, tag: u64) -> Result<()> {
        self.send_many(topic, std::slice::from_ref(&record), tag).await
    }

    /// Appends `records` in order, as that many [`Producer::send`] calls
    /// with the tags `first_tag`, `first_tag + 1`, ... would (the same
    /// partitions, batches and requests; an invalid partition fails the
    /// call after the records before it were appended), but looks the
    /// topic up and reads the clock once per run of records that go to one
    /// partition, not once per record: what a record costs is then its
    /// encoding into the batch. The time read at the start of a run stamps
    /// the run's records that carry no timestamp of their own.
    pub async fn send_many(
        &mut self,
        topic: &str,
        records: &[ProducerRecord<'_>],
        first_tag: u64,
    ) -> Result<()> {
        let mut done = 0;
        // How large the open batch may grow before the leader is asked
        // again whether it can take a request: `batch.size` at first, then
        // another `batch.size` beyond each time it could not (a batch past
        // `batch.size` keeps growing while its leader's requests are all
        // out), instead of a poll of the in-flight requests per record.
        let mut check_at = self.config.batch_size;
        while done < records.len() {
            let run = self.append_run(topic, &records[done..], first_tag + done as u64, check_at);
            let (key, appended, full) = run.await?;
            done += appended;
            let Some(size) = full else { continue };
            self.poll_completions().await;
            let leader = self.leader(&key.0, key.1);
            let has_room = self.has_room(leader);
            if has_room || size + 1024 >= self.config.max_request_size {
                if !has_room {
                    self.wait_for_room(leader).await;
                }
                self.seal(&key)?;
                self.dispatch().await;
                self.bound_queue().await;
                check_at = self.config.batch_size;
            } else {
                check_at = (size + self.config.batch_size)
                    .min(self.config.max_request_size.saturating_sub(1024));
            }
        }
        Ok(())
    }

    /// Appends the leading records of `records` that go to the partition of
    /// the first one, stopping after a record that takes the batch to
    /// `check_at` bytes. Returns the partition, how many records were
    /// appended and, when it stopped at `check_at`, the batch's size.
    async fn append_run(
        &mut self,
        topic: &str,
        records: &[ProducerRecord<'_>],
        first_tag: u64,
        check_at: usize,
    ) -> Result<((Arc<str>, i32), usize, Option<usize>)> {
        let state = match self.topics.get_mut(topic) {
            Some(state) => state,
            None => {
                self.load_topic(topic).await?;
                self.topics.get_mut(topic).expect("loaded above")
            }
        };
        let partition = choose_partition(state, &records[0])?;
        let key = (state.name.clone(), partition);
        let compression = self.config.compression;
        let batch = self.open.entry(key.clone()).or_insert_with(|| OpenBatch {
            builder: BatchBuilder::new(compression),
            tags: Vec::new(),
            created: Instant::now(),
        });
        let now = now_ms();
        let mut appended = 0;
        let mut full = None;
        let mut failed = None;
        for r in records {
            if appended > 0 {
                match choose_partition(state, r) {
                    Ok(p) if p == partition => {}
                    Ok(_) => break,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            batch.builder.push(NewRecord {
                timestamp: r.timestamp.unwrap_or(now),
                key: r.key,
                value: r.value,
                headers: r.headers,
            });
            batch.tags.push(first_tag + appended as u64);
            appended += 1;
            let size = batch.builder.size_estimate();
            if size >= check_at {
                full = Some(size);
                break;
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok((key, appended, full)),
        }
    }

    fn leader(&self, topic: &str, partition: i32) -> i32 {
        self.topics
            .get(topic)
            .and_then(|t| t.leaders.get(partition as usize).copied())
            .unwrap_or(-1)
    }

    fn has_room(&self, leader: i32) -> bool {
        self.in_flight_per_broker.get(&leader).copied().unwrap_or(0) < self.config.max_in_flight
    }

    /// When the earliest open batch has lingered long enough; `None` if no
    /// batch is open.
    pub fn linger_deadline(&self) -> Option<Instant> {
        self.open.values().map(|b| b.created + self.config.linger).min()
    }

    /// Seals and sends every batch that has lingered `linger.ms`.
    pub async fn send_lingering(&mut self) -> Result<()> {
        let now = Instant::now();
        let due: Vec<_> = self
            .open
            .iter()
            .filter(|(_, b)| b.created + self.config.linger <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.seal(&key)?;
        }
        self.poll_completions().await;
        self.dispatch().await;
        self.bound_queue().await;
        Ok(())
    }

    /// Seals and sends the batches that have lingered `linger.ms` and
    /// whose leader can take another request now; the others keep growing
    /// until a request completes (as `send` does past `batch.size`). A
    /// writer that calls this between reads gets requests as large as
    /// what it read while the last ones were out, not one per call.
    pub async fn send_ready(&mut self) -> Result<()> {
        self.poll_completions().await;
        let now = Instant::now();
        let due: Vec<_> = self
            .open
            .iter()
            .filter(|(k, b)| {
                b.created + self.config.linger <= now && self.has_room(self.leader(&k.0, k.1))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.seal(&key)?;
        }
        self.dispatch().await;
        Ok(())
    }

    /// Java's producer blocks `send` once `buffer.memory` is taken; this
    /// one stops its caller once `MAX_QUEUED_BATCHES` sealed batches wait
    /// for a request, so a reader faster than the broker cannot buffer a
    /// whole file. It waits only while requests are in flight, which
    /// always end (acknowledged, failed or timed out).
    async fn bound_queue(&mut self) {
        while self.retry.len() >= MAX_QUEUED_BATCHES {
            match self.in_flight.join_next().await {
                Some(done) => self.complete(done).await,
                None => break,
            }
            self.dispatch().await;
        }
    }

    /// Sends everything and waits until every record is acknowledged or
    /// has failed (each request is bounded by the request timeout).
    pub async fn flush(&mut self) -> Result<()> {
        let keys: Vec<_> = self.open.keys().cloned().collect();
        for key in keys {
            self.seal(&key)?;
        }
        loop {
            self.dispatch().await;
            if self.in_flight.is_empty() {
                if self.retry.is_empty() {
                    return Ok(());
                }
                // Leaders unknown right now: back off, then try again.
                tokio::time::sleep(self.config.retry_backoff).await;
                continue;
            }
            if let Some(done) = self.in_flight.join_next().await {
                self.complete(done).await;
            }
        }
    }

    /// Turns an open batch into bytes, stamping producer id and sequence.
    fn seal(&mut self, key: &(Arc<str>, i32)) -> Result<()> {
        let Some(batch) = self.open.remove(key) else { return Ok(()) };
        let mut builder = batch.builder;
        if let Some(txn) = &self.txn {
            txn.check_fatal()?;
            if !txn.in_transaction() {
                return Err(Error::InvalidArgument(format!(
                    "TransactionalId {}: Cannot send records outside a transaction (call beginTransaction first)",
                    txn.transactional_id()
                )));
            }
            builder = builder.transactional(true);
        }
        if self.producer_id >= 0 {
            let seq = self.sequences.entry(key.clone()).or_insert(0);
            builder = builder.producer(self.producer_id, self.producer_epoch, *seq);
            // Sequences wrap at i32::MAX, as in the Java client.
            *seq = ((*seq as i64 + batch.tags.len() as i64) % (i32::MAX as i64 + 1)) as i32;
        }
        let bytes = builder.build()?;
        if let Some(t) = self.topics.get_mut(&key.0) {
            // The sticky partition moves on once its batch is done.
            if t.sticky == Some(key.1) {
                t.sticky = None;
            }
        }
        self.retry.push_back(SealedBatch {
            topic: key.0.clone(),
            partition: key.1,
            bytes: Bytes::from(bytes),
            tags: batch.tags,
            attempts: 0,
        });
        Ok(())
    }

    /// Sends sealed batches to leaders that have room, one request per
    /// leader holding at most one batch per partition.
    async fn dispatch(&mut self) {
        if self.retry.is_empty() {
            return;
        }
        if self.txn.is_some() {
            self.add_partitions_to_txn().await;
        }
        let mut by_leader: HashMap<i32, Vec<SealedBatch>> = HashMap::new();
        let mut keep = VecDeque::new();
        while let Some(b) = self.retry.pop_front() {
            let leader = self.leader(&b.topic, b.partition);
            let group = by_leader.entry(leader).or_default();
            if leader < 0
                || !self.has_room(leader)
                || group.iter().any(|g| g.topic == b.topic && g.partition == b.partition)
            {
                keep.push_back(b);
            } else {
                group.push(b);
            }
        }
        self.retry = keep;
        for (leader, batches) in by_leader {
            if !batches.is_empty() {
                self.send_request(leader, batches).await;
            }
        }
    }

    /// AddPartitionsToTxn for the partitions of sealed batches that are not
    /// in the transaction yet, all in one request; their batches fail if
    /// the coordinator refuses.
    async fn add_partitions_to_txn(&mut self) {
        let Some(txn) = &self.txn else { return };
        let mut new: Vec<TxnPartition> = Vec::new();
        for b in &self.retry {
            let p = (b.topic.clone(), b.partition);
            if !txn.has_partition(&p) && !new.contains(&p) {
                new.push(p);
            }
        }
        if new.is_empty() {
            return;
        }
        let cluster = Arc::clone(&self.cluster);
        let Some(txn) = self.txn.as_mut() else { return };
        if let Err(e) = txn.add_partitions(&cluster, &new).await {
            let (refused, keep): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.retry)
                .into_iter()
                .partition(|b| new.iter().any(|(t, p)| *t == b.topic && *p == b.partition));
            self.retry = keep;
            self.fail(refused.into(), e);
        }
    }

    async fn send_request(&mut self, leader: i32, batches: Vec<SealedBatch>) {
        let conn = match self.cluster.broker(leader).await {
            Ok(c) => c,
            Err(e) => return self.retry_or_fail(batches, e).await,
        };
        let version = match conn.version::<ProduceRequest>() {
            Ok(v) => v,
            Err(e) => return self.fail(batches, e),
        };
        let mut topics: Vec<TopicProduceData> = Vec::new();
        for b in &batches {
            let data = PartitionProduceData::default()
                .with_index(b.partition)
                .with_records(Some(b.bytes.clone()));
            match topics.iter_mut().find(|t| t.name.0.as_str() == &*b.topic) {
                Some(t) => t.partition_data.push(data),
                None => topics.push(
                    TopicProduceData::default()
                        .with_name(topic_name(&b.topic))
                        .with_partition_data(vec![data]),
                ),
            }
        }
        let timeout_ms = conn.request_timeout().as_millis().min(i32::MAX as u128) as i32;
        let request = ProduceRequest::default()
            .with_acks(self.config.acks)
            .with_timeout_ms(timeout_ms)
            .with_topic_data(topics);
        if self.config.acks == 0 {
            match conn.send_no_response(&request, version).await {
                Ok(()) => {
                    self.delivered += batches.iter().map(|b| b.tags.len() as u64).sum::<u64>()
                }
                Err(e) => self.retry_or_fail(batches, e).await,
            }
            return;
        }
        match conn.send_pipelined(&request, version).await {
            Ok(fut) => {
                *self.in_flight_per_broker.entry(leader).or_insert(0) += 1;
                self.in_flight.spawn(async move { (leader, batches, fut.wait().await) });
            }
            Err(e) => {
                self.cluster.drop_broker(leader).await;
                self.retry_or_fail(batches, e).await
            }
        }
    }

    /// Handles requests that have finished, without waiting for others.
    async fn poll_completions(&mut self) {
        while let Some(done) = self.in_flight.try_join_next() {
            self.complete(done).await;
        }
    }

    async fn wait_for_room(&mut self, leader: i32) {
        while !self.has_room(leader) {
            match self.in_flight.join_next().await {
                Some(done) => self.complete(done).await,
                None => break,
            }
        }
    }

    async fn complete(&mut self, done: std::result::Result<InFlight, tokio::task::JoinError>) {
        let Ok((leader, batches, result)) = done else { return };
        if let Some(n) = self.in_flight_per_broker.get_mut(&leader) {
            *n = n.saturating_sub(1);
        }
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                self.cluster.drop_broker(leader).await;
                return self.retry_or_fail(batches, e).await;
            }
        };
        let mut retry = Vec::new();
        let mut retry_error = None;
        for b in batches {
            let code = response
                .responses
                .iter()
                .filter(|t| t.name.0.as_str() == &*b.topic)
                .flat_map(|t| t.partition_responses.iter())
                .find(|p| p.index == b.partition)
                .map(|p| (p.error_code, p.error_message.as_ref().map(|m| m.to_string())));
            match code {
                Some((0, _)) => self.delivered_batch(&b.tags),
                // A retry of a batch the broker already has: delivered.
                Some((c, _)) if c == ResponseError::DuplicateSequenceNumber.code() => {
                    self.delivered_batch(&b.tags)
                }
                Some((c, _))
                    if c == ResponseError::MessageTooLarge.code()
                        && b.tags.len() > 1
                        && self.producer_id < 0 =>
                {
                    // As the Java client does: split the batch so only the
                    // records that are too large fail.
                    match self.split(&b) {
                        Ok(parts) => self.retry.extend(parts),
                        Err(e) => self.fail(vec![b], e),
                    }
                }
                Some((c, msg)) => {
                    let e = Error::from_code(c, msg.as_deref()).expect("non-zero code");
                    if e.is_retriable() && b.attempts < self.config.retries {
                        retry.push(b);
                        retry_error = Some(e);
                    } else {
                        self.fail(vec![b], e);
                    }
                }
                None => self.fail(
                    vec![b],
                    Error::Decode {
                        api: "Produce",
                        addr: format!("broker {leader}"),
                        reason: "no result for a partition that was sent".into(),
                    },
                ),
            }
        }
        if let Some(e) = retry_error {
            self.retry_or_fail(retry, e).await;
        }
    }

    /// Requeues batches after refreshing leaders, or fails them when out of
    /// retries or the error is final.
    async fn retry_or_fail(&mut self, batches: Vec<SealedBatch>, error: Error) {
        let (retry, fail): (Vec<_>, Vec<_>) = batches
            .into_iter()
            .partition(|b| error.is_retriable() && b.attempts < self.config.retries);
        if !fail.is_empty() {
            self.fail(fail, clone_error(&error));
        }
        if retry.is_empty() {
            return;
        }
        tokio::time::sleep(self.config.retry_backoff).await;
        let topics: Vec<String> = {
            let mut t: Vec<String> = retry.iter().map(|b| b.topic.to_string()).collect();
            t.sort();
            t.dedup();
            t
        };
        if let Ok(md) = self.cluster.refresh(Some(&topics), false).await {
            for (name, t) in md.topics {
                if let Some(state) = self.topics.get_mut(name.as_str()) {
                    if t.partitions.len() >= state.leaders.len() {
                        state.leaders = t.partitions.iter().map(|p| p.leader).collect();
                    }
                }
            }
        }
        for mut b in retry {
            b.attempts += 1;
            self.retry.push_back(b);
        }
    }

    /// One single-record batch per record of `b`, keeping timestamps,
    /// keys, values and headers.
    fn split(&self, b: &SealedBatch) -> Result<Vec<SealedBatch>> {
        let batch = crate::record::RecordBatch::parse(&b.bytes)?;
        let records = batch.records()?;
        let mut out = Vec::with_capacity(b.tags.len());
        for (r, &tag) in records.iter().zip(&b.tags) {
            let r = r?;
            let headers: Vec<Header<'_>> = r.headers().collect();
            let mut builder = BatchBuilder::new(self.config.compression);
            builder.push(NewRecord {
                timestamp: records.timestamp_of(&r),
                key: r.key,
                value: r.value,
                headers: &headers,
            });
            out.push(SealedBatch {
                topic: b.topic.clone(),
                partition: b.partition,
                bytes: Bytes::from(builder.build()?),
                tags: vec![tag],
                attempts: b.attempts,
            });
        }
        Ok(out)
    }

    fn fail(&mut self, batches: Vec<SealedBatch>, error: Error) {
        if let Some(txn) = &mut self.txn {
            txn.batch_failed(&error);
        }
        let error = Arc::new(error);
        for b in batches {
            for tag in b.tags {
                self.failures.push(Failure { tag, topic: b.topic.clone(), error: error.clone() });
            }
        }
    }
}

/// Errors are not `Clone` (they may hold an `io::Error`); a batch split
/// between retry and failure gets the same text.
fn clone_error(e: &Error) -> Error {
    match e {
        Error::Broker { code, message } => Error::Broker { code: *code, message: message.clone() },
        other => Error::InvalidArgument(other.to_string()),
    }
}

/// The partition `send` puts a record in: the one it names, its key's, or
/// the topic's sticky partition (chosen anew once the last one's batch was
/// sealed).
fn choose_partition(state: &mut TopicState, record: &ProducerRecord<'_>) -> Result<i32> {
    let partitions = state.leaders.len();
    Ok(match (record.partition, record.key) {
        (Some(p), _) => {
            if p < 0 || p as usize >= partitions {
                return Err(Error::InvalidArgument(format!(
                    "Invalid partition given with record: {p} is not in the range [0...{partitions})."
                )));
            }
            p
        }
        (None, Some(key)) => partition_for_key(key, partitions),
        (None, None) => *state.sticky.get_or_insert_with(|| sticky_choice(&state.leaders)),
    })
}

/// A random partition with a leader (any partition if none has one).
fn sticky_choice(leaders: &[i32]) -> i32 {
    let available: Vec<i32> =
        (0..leaders.len() as i32).filter(|&p| leaders[p as usize] >= 0).collect();
    if available.is_empty() {
        fastrand::i32(0..leaders.len().max(1) as i32)
    } else {
        available[fastrand::usize(0..available.len())]
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_java_client() {
        // Kafka's UtilsTest.testMurmur2 vectors.
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
            (b"abc", 479470107),
        ];
        for (key, want) in cases {
            assert_eq!(murmur2(key), *want, "key {:?}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn keyed_partitions_follow_java() {
        // toPositive(murmur2(key)) % n: negative hashes must not go negative.
        assert_eq!(partition_for_key(b"21", 3), ((-973932308i32 & 0x7fffffff) % 3));
        assert_eq!(partition_for_key(b"abc", 1), 0, "one partition takes every key");
    }

    /// A producer whose cluster answers nothing but ApiVersions, with
    /// `topic`'s partitions led by `leaders` (-1: none, so sealed batches
    /// wait in the queue, where the tests look at them).
    async fn offline_producer(config: ProducerConfig, topic: &str, leaders: &[i32]) -> Producer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(super::super::cluster::tests::answer_api_versions(listener));
        let cluster = Cluster::connect(super::super::ClientConfig::new(&addr, "t").unwrap());
        let mut p = Producer::new(cluster.await.unwrap(), config).await.unwrap();
        let name: Arc<str> = Arc::from(topic);
        p.topics.insert(name.clone(), TopicState { name, leaders: leaders.to_vec(), sticky: None });
        p
    }

    type Held = (i32, Option<Vec<u8>>, Option<Vec<u8>>, u64);

    /// (partition, key, value, tag) of every record the producer holds, the
    /// sealed batches first and then the open ones, each in order.
    fn held(p: &Producer) -> Vec<Held> {
        let built: Vec<(i32, Vec<u8>, Vec<u64>)> = p
            .retry
            .iter()
            .map(|b| (b.partition, b.bytes.to_vec(), b.tags.clone()))
            .chain(
                p.open
                    .iter()
                    .map(|((_, part), b)| (*part, b.builder.build().unwrap(), b.tags.clone())),
            )
            .collect();
        let mut out = Vec::new();
        for (partition, bytes, tags) in built {
            let batch = crate::record::RecordBatch::parse(&bytes).unwrap();
            let records = batch.records().unwrap();
            for (r, tag) in records.iter().zip(tags) {
                let r = r.unwrap();
                out.push((partition, r.key.map(<[u8]>::to_vec), r.value.map(<[u8]>::to_vec), tag));
            }
        }
        out
    }

    fn record<'a>(
        key: Option<&'a [u8]>,
        value: &'a [u8],
        partition: Option<i32>,
    ) -> ProducerRecord<'a> {
        ProducerRecord { key, value: Some(value), partition, ..Default::default() }
    }

    #[tokio::test]
    async fn send_many_partitions_and_orders_like_single_sends() {
        let values: Vec<Vec<u8>> = (0..60).map(|i| format!("value-{i}").into_bytes()).collect();
        let keys: [&[u8]; 3] = [b"a", b"bb", b"ccc"];
        // Keyless runs, keyed records and explicit partitions interleaved.
        let records: Vec<ProducerRecord<'_>> = values
            .iter()
            .enumerate()
            .map(|(i, v)| match i % 7 {
                0 | 1 => record(Some(keys[i % 3]), v, None),
                2 => record(None, v, Some((i % 3) as i32)),
                _ => record(None, v, None),
            })
            .collect();
        // Only partition 1 has a leader, so the sticky partition is 1 for both.
        let leaders = [-1, 4, -1];
        let mut one_by_one = offline_producer(ProducerConfig::default(), "t", &leaders).await;
        for (i, r) in records.iter().enumerate() {
            one_by_one.send("t", *r, 100 + i as u64).await.unwrap();
        }
        let mut many = offline_producer(ProducerConfig::default(), "t", &leaders).await;
        many.send_many("t", &records[..25], 100).await.unwrap();
        many.send_many("t", &records[25..], 125).await.unwrap();
        let sorted = |mut v: Vec<_>| {
            // Per partition in order: the maps hold partitions in any order.
            v.sort_by_key(|r: &(i32, _, _, u64)| (r.0, r.3));
            v
        };
        let want = sorted(held(&one_by_one));
        assert_eq!(want.len(), records.len());
        assert_eq!(sorted(held(&many)), want);
        for (partition, key, _, _) in &want {
            if let Some(k) = key {
                assert_eq!(*partition, partition_for_key(k, 3), "keyed records follow murmur2");
            }
        }
    }

    #[tokio::test]
    async fn send_many_seals_at_batch_size_in_order() {
        let config = ProducerConfig { batch_size: 1000, ..ProducerConfig::default() };
        let mut p = offline_producer(config, "t", &[-1]).await;
        let values: Vec<Vec<u8>> = (0..100).map(|i| format!("{i:0>99}").into_bytes()).collect();
        let records: Vec<_> = values.iter().map(|v| record(None, v, None)).collect();
        p.send_many("t", &records, 0).await.unwrap();
        assert!(p.retry.len() >= 9, "{} batches sealed", p.retry.len());
        for b in &p.retry {
            // Sealed at the record that reached batch.size, not later.
            assert!(b.bytes.len() >= 1000 && b.bytes.len() < 1000 + 110, "{}", b.bytes.len());
        }
        let got: Vec<_> = held(&p).into_iter().map(|r| (r.2.unwrap(), r.3)).collect();
        let want: Vec<_> = values.iter().cloned().zip(0..).collect();
        assert_eq!(got, want, "every record once, in order, with its tag");
    }

    #[tokio::test]
    async fn send_many_grows_a_batch_while_the_leader_is_busy_up_to_the_request_size() {
        let config = ProducerConfig {
            batch_size: 1000,
            max_request_size: 5000,
            max_in_flight: 1,
            ..ProducerConfig::default()
        };
        let mut p = offline_producer(config, "t", &[-1]).await;
        let values: Vec<Vec<u8>> = (0..101).map(|i| format!("{i:0>99}").into_bytes()).collect();
        let records: Vec<_> = values.iter().map(|v| record(None, v, None)).collect();
        // The leader's one request slot is taken: the batch grows past
        // batch.size.
        p.in_flight_per_broker.insert(-1, 1);
        p.send_many("t", &records[..20], 0).await.unwrap();
        assert!(p.retry.is_empty());
        let open = p.open.values().next().unwrap().builder.size_estimate();
        assert!(open > 2000, "{open}");
        // ... but not past max.request.size: then it waits for the slot.
        p.send_many("t", &records[20..100], 20).await.unwrap();
        assert!(!p.retry.is_empty());
        for b in &p.retry {
            assert!(b.bytes.len() + 1024 >= 5000 && b.bytes.len() < 5000, "{}", b.bytes.len());
        }
        // A free slot: the grown batch goes with the next record.
        let sealed = p.retry.len();
        assert!(p.open.values().next().unwrap().builder.size_estimate() >= 1000);
        p.in_flight_per_broker.insert(-1, 0);
        p.send_many("t", &records[100..], 100).await.unwrap();
        assert_eq!(p.retry.len(), sealed + 1);
        assert!(p.open.is_empty());
        let got: Vec<_> = held(&p).into_iter().map(|r| (r.2.unwrap(), r.3)).collect();
        assert_eq!(got, values.iter().cloned().zip(0..).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn send_many_lingers_from_the_first_record_and_stops_at_a_bad_partition() {
        let config =
            ProducerConfig { linger: Duration::from_millis(300), ..ProducerConfig::default() };
        let mut p = offline_producer(config, "t", &[-1, -1]).await;
        let before = Instant::now();
        let first = [record(None, b"a", Some(0))];
        p.send_many("t", &first, 0).await.unwrap();
        let deadline = p.linger_deadline().expect("a batch is open");
        assert!(deadline >= before + Duration::from_millis(300));
        let bad =
            [record(None, b"b", Some(0)), record(None, b"c", Some(2)), record(None, b"d", Some(1))];
        let e = p.send_many("t", &bad, 1).await.unwrap_err();
        assert!(e.to_string().contains("Invalid partition given with record: 2"), "{e}");
        assert_eq!(p.linger_deadline(), Some(deadline), "appending does not restart linger");
        let got: Vec<_> = held(&p).into_iter().map(|r| (r.0, r.2.unwrap(), r.3)).collect();
        assert_eq!(
            got,
            vec![(0, b"a".to_vec(), 0), (0, b"b".to_vec(), 1)],
            "records before the bad one stay"
        );
    }

    #[test]
    fn sticky_choice_skips_partitions_without_leader() {
        for _ in 0..50 {
            assert_eq!(sticky_choice(&[-1, 7, -1]), 1);
        }
    }
}
