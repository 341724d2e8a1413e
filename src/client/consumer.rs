//! The consumer: assigned partitions, positions, and a fetch loop of long
//! polls with one request in flight per leader, so the next fetch travels
//! while the caller handles the last one.
//!
//! It reads without a group and commits nothing; group membership and
//! committed offsets are layered on top by whoever needs them, through
//! `assign`, `seek` and `position`.
//!
//! Fetched data is handed out as the raw record-batch bytes of each
//! partition ([`Fetched`]); [`Fetched::records`] walks them, skipping what
//! precedes the fetch position, control batches and (under read_committed)
//! aborted transactions.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};
use tokio::task::JoinSet;

use super::admin::{topic_name, Admin, OffsetSpec};
use super::cluster::Cluster;
use super::error::{Error, Result};
use crate::config::Properties;
use crate::record::{Batches, Record};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IsolationLevel {
    ReadUncommitted = 0,
    ReadCommitted = 1,
}

/// Where to start reading a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartOffset {
    Earliest,
    Latest,
    Offset(i64),
}

#[derive(Clone, Debug)]
pub struct ConsumerConfig {
    /// `fetch.max.wait.ms`: how long the broker holds a fetch without data.
    pub max_wait: Duration,
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub partition_max_bytes: i32,
    pub isolation_level: IsolationLevel,
    /// `auto.offset.reset`: where to go when a position is out of range.
    pub reset: StartOffset,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            max_wait: Duration::from_millis(500),
            min_bytes: 1,
            max_bytes: 50 * 1024 * 1024,
            partition_max_bytes: 1024 * 1024,
            isolation_level: IsolationLevel::ReadUncommitted,
            reset: StartOffset::Latest,
        }
    }
}

impl ConsumerConfig {
    /// Reads the Java client's property names (`fetch.max.wait.ms`,
    /// `fetch.min.bytes`, `fetch.max.bytes`, `max.partition.fetch.bytes`,
    /// `isolation.level`, `auto.offset.reset`); absent keys keep the defaults.
    pub fn from_properties(p: &Properties) -> Result<Self> {
        let d = ConsumerConfig::default();
        let bad = Error::Config;
        let isolation_level = match p.get("isolation.level").unwrap_or("read_uncommitted") {
            "read_uncommitted" => IsolationLevel::ReadUncommitted,
            "read_committed" => IsolationLevel::ReadCommitted,
            other => return Err(Error::InvalidArgument(format!(
                "Invalid value {other} for configuration isolation.level: String must be one of: read_committed, read_uncommitted"
            ))),
        };
        let reset = match p.get("auto.offset.reset").unwrap_or("latest") {
            "earliest" => StartOffset::Earliest,
            "latest" => StartOffset::Latest,
            other => return Err(Error::InvalidArgument(format!(
                "Invalid value {other} for configuration auto.offset.reset: String must be one of: latest, earliest"
            ))),
        };
        Ok(Self {
            max_wait: Duration::from_millis(
                p.parse_or("fetch.max.wait.ms", d.max_wait.as_millis() as u64).map_err(bad)?,
            ),
            min_bytes: p.parse_or("fetch.min.bytes", d.min_bytes).map_err(bad)?,
            max_bytes: p.parse_or("fetch.max.bytes", d.max_bytes).map_err(bad)?,
            partition_max_bytes: p
                .parse_or("max.partition.fetch.bytes", d.partition_max_bytes)
                .map_err(bad)?,
            isolation_level,
            reset,
        })
    }
}

/// What one fetch returned for one partition.
pub struct Fetched {
    pub topic: Arc<str>,
    pub partition: i32,
    /// The position the fetch started from: records before it are skipped.
    pub fetch_offset: i64,
    pub high_watermark: i64,
    records: Bytes,
    aborted: Vec<(i64, i64)>,
    read_committed: bool,
}

/// A record with its place in the log.
pub struct ConsumerRecord<'a> {
    pub offset: i64,
    pub timestamp: i64,
    /// True for LogAppendTime, false for CreateTime.
    pub log_append_time: bool,
    pub record: Record<'a>,
}

impl Fetched {
    /// Calls `f` for each record at or after the fetch position, in order.
    /// Stops at the first corrupt batch and returns its error.
    pub fn for_each_record(
        &self,
        mut f: impl FnMut(ConsumerRecord<'_>) -> std::io::Result<bool>,
    ) -> Result<ForEach> {
        let mut aborted: Vec<(i64, i64)> = self.aborted.clone();
        aborted.sort_by_key(|a| a.1);
        let mut aborted = aborted.into_iter().peekable();
        let mut aborting: HashSet<i64> = HashSet::new();
        for batch in Batches::new(&self.records) {
            let batch = match batch {
                Ok(b) => b,
                // The broker cut the last batch at max bytes: not an error.
                Err(crate::record::Error::Truncated { .. }) => break,
                Err(e) => return Err(e.into()),
            };
            if batch.next_offset() <= self.fetch_offset {
                continue;
            }
            if self.read_committed {
                while let Some(&(pid, first)) = aborted.peek() {
                    if first > batch.last_offset() {
                        break;
                    }
                    aborting.insert(pid);
                    aborted.next();
                }
                if batch.is_transactional() && aborting.contains(&batch.producer_id()) {
                    if batch.is_control() {
                        aborting.remove(&batch.producer_id());
                    }
                    continue;
                }
            }
            if batch.is_control() {
                continue;
            }
            batch.verify_crc()?;
            let records = batch.records()?;
            let log_append_time =
                batch.timestamp_type() == crate::record::TimestampType::LogAppendTime;
            for r in records.iter() {
                let r = r?;
                let offset = records.offset_of(&r);
                if offset < self.fetch_offset {
                    continue;
                }
                let rec = ConsumerRecord {
                    offset,
                    timestamp: records.timestamp_of(&r),
                    log_append_time,
                    record: r,
                };
                match f(rec) {
                    Ok(true) => {}
                    Ok(false) => return Ok(ForEach::Stopped),
                    Err(e) => return Err(Error::Io { addr: "stdout".into(), source: e }),
                }
            }
        }
        Ok(ForEach::Done)
    }
}

/// Whether [`Fetched::for_each_record`] saw every record or was stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum ForEach {
    Done,
    Stopped,
}

type InFlight = (i32, Vec<(Arc<str>, i32, i64)>, Result<FetchResponse>);

pub struct Consumer {
    cluster: Arc<Cluster>,
    config: ConsumerConfig,
    /// Next offset to fetch per assigned partition.
    positions: BTreeMap<(Arc<str>, i32), i64>,
    leaders: HashMap<(Arc<str>, i32), i32>,
    in_flight: JoinSet<InFlight>,
    busy: HashSet<(Arc<str>, i32)>,
}

impl Consumer {
    pub fn new(cluster: Arc<Cluster>, config: ConsumerConfig) -> Self {
        Self {
            cluster,
            config,
            positions: BTreeMap::new(),
            leaders: HashMap::new(),
            in_flight: JoinSet::new(),
            busy: HashSet::new(),
        }
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Every partition of `topic` (which must exist), sorted.
    pub async fn partitions_of(&self, topic: &str) -> Result<Vec<i32>> {
        let t = self.cluster.topic(topic, false, self.cluster.config().request_timeout).await?;
        Ok(t.partitions.iter().map(|p| p.partition).collect())
    }

    /// Every partition of `topic` (which must exist) as the (topic,
    /// partition) pairs [`Self::assign`] and the admin calls take, sorted.
    pub async fn topic_partitions(&self, topic: &str) -> Result<Vec<(String, i32)>> {
        Ok(self.partitions_of(topic).await?.into_iter().map(|p| (topic.to_string(), p)).collect())
    }

    /// Reads these partitions from `start` (replacing any earlier assignment).
    pub async fn assign(&mut self, partitions: &[(String, i32)], start: StartOffset) -> Result<()> {
        self.positions.clear();
        self.in_flight.abort_all();
        self.busy.clear();
        for (t, p) in partitions {
            self.positions.insert((Arc::from(t.as_str()), *p), -1);
        }
        self.seek_all(start).await
    }

    /// Moves every assigned partition to `start`.
    pub async fn seek_all(&mut self, start: StartOffset) -> Result<()> {
        let keys: Vec<(String, i32)> =
            self.positions.keys().map(|(t, p)| (t.to_string(), *p)).collect();
        let resolved = self.resolve(&keys, start).await?;
        for ((t, p), offset) in resolved {
            self.positions.insert((Arc::from(t.as_str()), p), offset);
        }
        self.refresh_leaders().await
    }

    /// Moves one partition to `offset`.
    pub fn seek(&mut self, topic: &str, partition: i32, offset: i64) {
        self.positions.insert((Arc::from(topic), partition), offset);
    }

    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        self.positions.get(&(Arc::from(topic), partition)).copied()
    }

    async fn resolve(
        &self,
        partitions: &[(String, i32)],
        start: StartOffset,
    ) -> Result<BTreeMap<(String, i32), i64>> {
        let spec = match start {
            StartOffset::Offset(o) if o >= 0 => {
                return Ok(partitions.iter().map(|k| (k.clone(), o)).collect())
            }
            StartOffset::Offset(_) | StartOffset::Latest => OffsetSpec::Latest,
            StartOffset::Earliest => OffsetSpec::Earliest,
        };
        Admin::new(self.cluster.clone()).list_offsets(partitions, spec).await
    }

    async fn refresh_leaders(&mut self) -> Result<()> {
        let mut topics: Vec<String> = self.positions.keys().map(|(t, _)| t.to_string()).collect();
        topics.dedup();
        let md = self.cluster.refresh(Some(&topics), false).await?;
        self.leaders.clear();
        for (t, p) in self.positions.keys() {
            if let Some(pm) =
                md.topics.get(&**t).and_then(|tm| tm.partitions.iter().find(|x| x.partition == *p))
            {
                self.leaders.insert((t.clone(), *p), pm.leader);
            }
        }
        Ok(())
    }

    /// Sends a fetch to each leader whose partitions have none in flight.
    async fn send_fetches(&mut self) -> Result<()> {
        let mut by_leader: BTreeMap<i32, Vec<(Arc<str>, i32, i64)>> = BTreeMap::new();
        for ((t, p), &offset) in &self.positions {
            if self.busy.contains(&(t.clone(), *p)) || offset < 0 {
                continue;
            }
            let leader = self.leaders.get(&(t.clone(), *p)).copied().unwrap_or(-1);
            if leader >= 0 {
                by_leader.entry(leader).or_default().push((t.clone(), *p, offset));
            }
        }
        for (leader, parts) in by_leader {
            let conn = self.cluster.broker(leader).await?;
            let version = conn.version::<FetchRequest>()?;
            let mut topics: Vec<FetchTopic> = Vec::new();
            for (t, p, offset) in &parts {
                let fp = FetchPartition::default()
                    .with_partition(*p)
                    .with_current_leader_epoch(-1)
                    .with_fetch_offset(*offset)
                    .with_last_fetched_epoch(-1)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(self.config.partition_max_bytes);
                match topics.iter_mut().find(|x| x.topic.0.as_str() == &**t) {
                    Some(x) => x.partitions.push(fp),
                    None => topics.push(
                        FetchTopic::default().with_topic(topic_name(t)).with_partitions(vec![fp]),
                    ),
                }
            }
            let request = FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_wait_ms(self.config.max_wait.as_millis().min(i32::MAX as u128) as i32)
                .with_min_bytes(self.config.min_bytes)
                .with_max_bytes(self.config.max_bytes)
                .with_isolation_level(self.config.isolation_level as i8)
                .with_session_id(0)
                .with_session_epoch(-1)
                .with_topics(topics);
            let fut = conn.send_pipelined(&request, version).await?;
            for (t, p, _) in &parts {
                self.busy.insert((t.clone(), *p));
            }
            self.in_flight.spawn(async move { (leader, parts, fut.wait().await) });
        }
        Ok(())
    }

    /// Waits up to `timeout` for data and returns what one fetch brought
    /// (empty when none came). The next fetch is already on its way when
    /// this returns.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<Fetched>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.send_fetches().await?;
            if self.in_flight.is_empty() {
                // No leader for anything assigned: look again after a pause.
                if tokio::time::Instant::now() >= deadline {
                    return Ok(Vec::new());
                }
                tokio::time::sleep(Duration::from_millis(100).min(timeout)).await;
                self.refresh_leaders().await?;
                continue;
            }
            let done = match tokio::time::timeout_at(deadline, self.in_flight.join_next()).await {
                Err(_) => return Ok(Vec::new()),
                Ok(None) => continue,
                Ok(Some(Err(_))) => continue,
                Ok(Some(Ok(done))) => done,
            };
            let out = self.handle(done).await?;
            // Keep the pipeline full before the caller starts on this data.
            self.send_fetches().await?;
            if !out.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(out);
            }
        }
    }

    async fn handle(&mut self, (leader, parts, result): InFlight) -> Result<Vec<Fetched>> {
        for (t, p, _) in &parts {
            self.busy.remove(&(t.clone(), *p));
        }
        let response = match result {
            Ok(r) => r,
            Err(e) if e.is_retriable() => {
                self.cluster.drop_broker(leader).await;
                self.refresh_leaders().await?;
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        if let Some(e) = Error::from_code(response.error_code, None) {
            return Err(e);
        }
        let mut out = Vec::new();
        let mut stale_leaders = false;
        let mut out_of_range = Vec::new();
        for topic in response.responses {
            let name = topic.topic.0.as_str();
            for pd in topic.partitions {
                let Some((t, p, fetch_offset)) = parts
                    .iter()
                    .find(|(t, p, _)| &**t == name && *p == pd.partition_index)
                    .cloned()
                else {
                    continue;
                };
                // A position moved by seek while the fetch was out: drop it.
                if self.positions.get(&(t.clone(), p)) != Some(&fetch_offset) {
                    continue;
                }
                match ResponseError::try_from_code(pd.error_code) {
                    None => {}
                    Some(ResponseError::OffsetOutOfRange) => {
                        out_of_range.push((t.to_string(), p));
                        continue;
                    }
                    Some(code) if code.is_retriable() => {
                        stale_leaders = true;
                        continue;
                    }
                    Some(_) => {
                        return Err(Error::from_code(pd.error_code, None).expect("an error code"))
                    }
                }
                let records = pd.records.unwrap_or_default();
                let mut next = fetch_offset;
                let mut batches = Batches::new(&records);
                for b in batches.by_ref() {
                    match b {
                        Ok(b) => next = next.max(b.next_offset()),
                        Err(_) => break,
                    }
                }
                if next == fetch_offset && batches.valid_bytes() == 0 && !records.is_empty() {
                    return Err(Error::BatchTooLarge {
                        topic: t.to_string(),
                        partition: p,
                        offset: fetch_offset,
                        max_bytes: self.config.partition_max_bytes,
                    });
                }
                self.positions.insert((t.clone(), p), next);
                if next > fetch_offset {
                    out.push(Fetched {
                        topic: t,
                        partition: p,
                        fetch_offset,
                        high_watermark: pd.high_watermark,
                        records,
                        aborted: pd
                            .aborted_transactions
                            .unwrap_or_default()
                            .iter()
                            .map(|a| (a.producer_id.0, a.first_offset))
                            .collect(),
                        read_committed: self.config.isolation_level
                            == IsolationLevel::ReadCommitted,
                    });
                }
            }
        }
        if !out_of_range.is_empty() {
            let resolved = self.resolve(&out_of_range, self.config.reset).await?;
            for ((t, p), o) in resolved {
                self.positions.insert((Arc::from(t.as_str()), p), o);
            }
        }
        if stale_leaders {
            self.refresh_leaders().await?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchBuilder, Compression, NewRecord};

    fn batch(base: i64, count: usize, pid: i64, txn: bool, control: bool) -> Vec<u8> {
        let mut b = BatchBuilder::new(Compression::None)
            .base_offset(base)
            .producer(pid, 0, 0)
            .transactional(txn)
            .control(control);
        for _ in 0..count {
            b.push(NewRecord::new(1, None, Some(b"v")));
        }
        b.build().unwrap()
    }

    fn offsets(read_committed: bool, fetch_offset: i64, stop_after: usize) -> Vec<i64> {
        let mut bytes = Vec::new();
        bytes.extend(batch(0, 2, 5, true, false)); // aborted transaction of producer 5
        bytes.extend(batch(2, 2, 6, true, false)); // committed transaction of producer 6
        bytes.extend(batch(4, 1, 5, true, true)); // producer 5's abort marker
        bytes.extend(batch(5, 1, -1, false, false)); // plain record
                                                     // The broker may cut the last batch short at max bytes.
        let mut with_partial = bytes.clone();
        with_partial.extend(&batch(6, 1, -1, false, false)[..20]);
        let f = Fetched {
            topic: Arc::from("t"),
            partition: 0,
            fetch_offset,
            high_watermark: 6,
            records: Bytes::from(with_partial),
            aborted: vec![(5, 0)],
            read_committed,
        };
        let mut seen = Vec::new();
        f.for_each_record(|r| {
            seen.push(r.offset);
            Ok(seen.len() < stop_after)
        })
        .unwrap();
        seen
    }

    #[test]
    fn records_after_the_position_without_control_batches() {
        let cases = [
            (false, 0, usize::MAX, vec![0, 1, 2, 3, 5], "read_uncommitted sees aborted data"),
            (true, 0, usize::MAX, vec![2, 3, 5], "read_committed drops the aborted transaction"),
            (false, 1, usize::MAX, vec![1, 2, 3, 5], "records before the fetch offset are skipped"),
            (false, 0, 2, vec![0, 1], "the callback can stop the walk"),
        ];
        for (committed, from, stop, want, why) in cases {
            assert_eq!(offsets(committed, from, stop), want, "{why}");
        }
    }

    #[test]
    fn config_reads_kafka_property_names() {
        let mut p = Properties::new();
        p.set("isolation.level", "read_committed");
        p.set("auto.offset.reset", "earliest");
        p.set("fetch.max.wait.ms", "100");
        let c = ConsumerConfig::from_properties(&p).unwrap();
        assert_eq!(c.isolation_level, IsolationLevel::ReadCommitted);
        assert_eq!(c.reset, StartOffset::Earliest);
        assert_eq!(c.max_wait, Duration::from_millis(100));
        p.set("auto.offset.reset", "none");
        assert!(ConsumerConfig::from_properties(&p).is_err(), "unknown reset policy");
    }
}
