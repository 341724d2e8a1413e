//! The broker's metrics, named as Prometheus's JMX exporter names Kafka's
//! MBeans (its `kafka-2_0_0.yml` rules, lower-cased), so the dashboards
//! operators already have keep working: `kafka.server:type=BrokerTopicMetrics,
//! name=MessagesInPerSec,topic=t` is `kafka_server_brokertopicmetrics_messagesin_total{topic="t"}`.
//!
//! Counting on the produce and fetch paths is a relaxed atomic add per
//! partition and request: each [`Partition`](super::partition::Partition)
//! holds its topic's [`TopicStats`], resolved once when the partition is
//! opened, so no map is looked up and nothing is allocated per request.
//! Everything else (partition, leader and under-replicated counts, log
//! sizes, controller gauges, group lag) is computed at scrape time from the
//! state the broker keeps anyway. Where Kafka reports a rate (`*PerSec`) we
//! report its counter, which is what the JMX exporter publishes too; where
//! Kafka has a latency histogram (`TotalTimeMs`) we publish a Prometheus
//! histogram in milliseconds.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use kafka_protocol::messages::ApiKey;

use super::BrokerContext;
use crate::metrics::{Exposition, Histogram, Kind};
use crate::sync::RwLockExt;
use crate::types::TopicPartition;

/// `BrokerTopicMetrics` of one topic, or of all topics (no `topic` label).
#[derive(Default)]
pub struct TopicStats {
    messages_in: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    replication_bytes_in: AtomicU64,
    replication_bytes_out: AtomicU64,
    total_produce_requests: AtomicU64,
    failed_produce_requests: AtomicU64,
    total_fetch_requests: AtomicU64,
    failed_fetch_requests: AtomicU64,
    /// The all-topics stats every topic's counts also go to.
    all: Option<Arc<TopicStats>>,
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl TopicStats {
    fn each(&self, f: impl Fn(&TopicStats)) {
        f(self);
        if let Some(all) = &self.all {
            f(all);
        }
    }

    /// A produce to one partition reached its leader.
    pub fn produce_request(&self, failed: bool) {
        self.each(|s| {
            add(&s.total_produce_requests, 1);
            if failed {
                add(&s.failed_produce_requests, 1);
            }
        });
    }

    /// Batches appended by their leader.
    pub fn appended(&self, bytes: usize, messages: u64) {
        self.each(|s| {
            add(&s.bytes_in, bytes as u64);
            add(&s.messages_in, messages);
        });
    }

    /// Batches a follower copied from its leader.
    pub fn replicated_in(&self, bytes: usize) {
        self.each(|s| add(&s.replication_bytes_in, bytes as u64));
    }

    /// One partition of a fetch answered.
    pub fn fetched(&self, bytes: usize, from_follower: bool, failed: bool) {
        self.each(|s| {
            add(&s.total_fetch_requests, 1);
            if failed {
                add(&s.failed_fetch_requests, 1);
            }
            if from_follower {
                add(&s.replication_bytes_out, bytes as u64);
            } else {
                add(&s.bytes_out, bytes as u64);
            }
        });
    }

    fn load(c: &AtomicU64) -> f64 {
        c.load(Ordering::Relaxed) as f64
    }
}

type Field = fn(&TopicStats) -> &AtomicU64;

/// The `BrokerTopicMetrics` families: (metric, help, field).
const TOPIC_FAMILIES: [(&str, &str, Field); 9] = [
    ("messagesin", "Messages appended by this broker as leader", |s| &s.messages_in),
    ("bytesin", "Bytes produced to this broker as leader", |s| &s.bytes_in),
    ("bytesout", "Bytes fetched from this broker by consumers", |s| &s.bytes_out),
    ("replicationbytesin", "Bytes this broker copied as follower", |s| &s.replication_bytes_in),
    ("replicationbytesout", "Bytes followers fetched from this broker", |s| {
        &s.replication_bytes_out
    }),
    ("totalproducerequests", "Partition produce requests", |s| &s.total_produce_requests),
    ("failedproducerequests", "Partition produce requests that failed", |s| {
        &s.failed_produce_requests
    }),
    ("totalfetchrequests", "Partition fetch requests", |s| &s.total_fetch_requests),
    ("failedfetchrequests", "Partition fetch requests that failed", |s| &s.failed_fetch_requests),
];

/// API keys below this are counted (Kafka's highest is in the seventies).
const API_SLOTS: usize = 128;
/// Versions below this are counted per version.
const VERSION_SLOTS: usize = 32;
/// Extra slots for Kafka's split of Fetch into FetchConsumer and FetchFollower.
const FETCH_CONSUMER: usize = API_SLOTS;
const FETCH_FOLLOWER: usize = API_SLOTS + 1;

/// `RequestMetrics` of one request name.
struct RequestStats {
    per_version: [AtomicU64; VERSION_SLOTS],
    total_time: Histogram,
}

impl Default for RequestStats {
    fn default() -> Self {
        RequestStats {
            per_version: std::array::from_fn(|_| AtomicU64::new(0)),
            total_time: Histogram::default(),
        }
    }
}

/// Everything the broker counts as it works; see the module doc.
pub struct BrokerMetrics {
    all_topics: Arc<TopicStats>,
    topics: RwLock<BTreeMap<String, Arc<TopicStats>>>,
    requests: Box<[RequestStats]>,
    pub isr_shrinks: AtomicU64,
    pub isr_expands: AtomicU64,
    connections: AtomicI64,
    connections_created: AtomicU64,
    /// Requests waiting in the purgatory, by kind.
    produce_waiting: AtomicI64,
    fetch_waiting: AtomicI64,
    /// Fetch reads answered on the network thread because every page they
    /// touched was cached, and those handed to the blocking pool.
    pub fetch_reads_cached: AtomicU64,
    pub fetch_reads_disk: AtomicU64,
    start_time_seconds: f64,
}

impl Default for BrokerMetrics {
    fn default() -> Self {
        BrokerMetrics {
            all_topics: Arc::default(),
            topics: RwLock::default(),
            requests: (0..API_SLOTS + 2).map(|_| RequestStats::default()).collect(),
            isr_shrinks: AtomicU64::new(0),
            isr_expands: AtomicU64::new(0),
            connections: AtomicI64::new(0),
            connections_created: AtomicU64::new(0),
            produce_waiting: AtomicI64::new(0),
            fetch_waiting: AtomicI64::new(0),
            fetch_reads_cached: AtomicU64::new(0),
            fetch_reads_disk: AtomicU64::new(0),
            start_time_seconds: crate::metrics::now_seconds(),
        }
    }
}

/// Holds a gauge up while alive.
pub struct GaugeGuard<'a>(&'a AtomicI64);

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn hold(g: &AtomicI64) -> GaugeGuard<'_> {
    g.fetch_add(1, Ordering::Relaxed);
    GaugeGuard(g)
}

impl BrokerMetrics {
    /// Stats not attached to any broker (partitions built by unit tests).
    pub fn detached_topic() -> Arc<TopicStats> {
        Arc::default()
    }

    /// The stats of `topic`, created on first use (when a partition opens).
    pub fn topic(&self, topic: &str) -> Arc<TopicStats> {
        if let Some(s) = self.topics.read_or_recover().get(topic) {
            return s.clone();
        }
        let mut topics = self.topics.write_or_recover();
        topics
            .entry(topic.to_string())
            .or_insert_with(|| {
                Arc::new(TopicStats { all: Some(self.all_topics.clone()), ..Default::default() })
            })
            .clone()
    }

    /// Forgets a topic this broker no longer hosts, as Kafka removes its
    /// per-topic metrics when the topic goes.
    pub fn remove_topic(&self, topic: &str) {
        self.topics.write_or_recover().remove(topic);
    }

    /// A request handled, from its first byte decoded to its reply queued.
    pub fn record_request(&self, key: ApiKey, version: i16, elapsed: Duration) {
        let slot = key as usize;
        if slot < API_SLOTS {
            self.record_slot(slot, version, elapsed);
        }
    }

    /// Fetches are counted as consumer or follower fetches, as Kafka does.
    pub fn record_fetch(&self, from_follower: bool, version: i16, elapsed: Duration) {
        self.record_slot(
            if from_follower { FETCH_FOLLOWER } else { FETCH_CONSUMER },
            version,
            elapsed,
        );
    }

    fn record_slot(&self, slot: usize, version: i16, elapsed: Duration) {
        let r = &self.requests[slot];
        if let Some(c) = r.per_version.get(version.max(0) as usize) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        r.total_time.record(elapsed);
    }

    pub fn connection_opened(&self) -> GaugeGuard<'_> {
        self.connections_created.fetch_add(1, Ordering::Relaxed);
        hold(&self.connections)
    }

    pub fn produce_waiting(&self) -> GaugeGuard<'_> {
        hold(&self.produce_waiting)
    }

    pub fn fetch_waiting(&self) -> GaugeGuard<'_> {
        hold(&self.fetch_waiting)
    }
}

fn request_name(slot: usize) -> Option<String> {
    match slot {
        FETCH_CONSUMER => Some("FetchConsumer".into()),
        FETCH_FOLLOWER => Some("FetchFollower".into()),
        s => ApiKey::try_from(s as i16).ok().map(|k| format!("{k:?}")),
    }
}

/// What the group coordinator knows, read before a scrape is written.
#[derive(Default)]
pub struct GroupsSnapshot {
    pub groups: Vec<crate::coordinator::GroupOffsets>,
}

/// One hosted partition as a scrape sees it.
struct PartitionView {
    tp: TopicPartition,
    leader: bool,
    replicas: usize,
    isr: usize,
    min_isr: usize,
    offline: bool,
    size: u64,
    segments: usize,
    log_start: i64,
    log_end: i64,
    high_watermark: i64,
}

/// Writes the whole scrape (blocking: sizes logs, reads /proc).
pub fn render(ctx: &BrokerContext, groups: &GroupsSnapshot) -> String {
    let m = &ctx.replicas.metrics;
    let image = ctx.store.image();
    let mut e = Exposition::new();

    e.single(
        "kafka_server_kafkaserver_brokerstate",
        Kind::Gauge,
        "Broker state (3 = RunningAsBroker)",
        3.0,
    );
    write_topic_metrics(&mut e, m);
    write_request_metrics(&mut e, m);

    let mut parts: Vec<PartitionView> = ctx
        .replicas
        .all_partitions()
        .iter()
        .map(|p| {
            let s = p.leader_state();
            PartitionView {
                tp: p.tp.clone(),
                leader: s.leader == ctx.broker_id,
                replicas: s.replicas.len(),
                isr: s.isr.len(),
                min_isr: super::apis::produce::min_insync_replicas(ctx, &image, &p.tp.topic),
                offline: p.log.is_dir_offline(),
                size: p.log.size_in_bytes(),
                segments: p.log.number_of_segments(),
                log_start: p.log_start_offset().0,
                log_end: p.log.log_end_offset().0,
                high_watermark: p.high_watermark(),
            }
        })
        .collect();
    parts.sort_by(|a, b| a.tp.cmp(&b.tp));
    write_replica_manager(&mut e, m, &parts);
    write_partition_metrics(&mut e, &parts);
    write_controller(&mut e, ctx, &image);
    write_groups(&mut e, groups, &parts);

    let connections = [
        (
            "connection_count",
            Kind::Gauge,
            "Open client connections",
            m.connections.load(Ordering::Relaxed) as f64,
        ),
        (
            "connection_creation_total",
            Kind::Counter,
            "Client connections accepted",
            m.connections_created.load(Ordering::Relaxed) as f64,
        ),
    ];
    for (metric, kind, help, value) in connections {
        let name = format!("kafka_server_socket_server_metrics_{metric}");
        e.family(&name, kind, help).sample(&name, &[("listener", "PLAINTEXT")], value);
    }
    let purgatory = "kafka_server_delayedoperationpurgatory_purgatorysize";
    e.family(purgatory, Kind::Gauge, "Requests waiting in the purgatory");
    for (op, g) in [("Produce", &m.produce_waiting), ("Fetch", &m.fetch_waiting)] {
        e.sample(purgatory, &[("delayedOperation", op)], g.load(Ordering::Relaxed) as f64);
    }
    // Not a Kafka metric: where fetches were read shows whether consumers
    // that catch up on old segments keep off the network threads.
    let reads = "kafka_rs_fetch_reads_total";
    e.family(reads, Kind::Counter, "Fetch reads served from the page cache on a network thread, or sent to the blocking pool for the disk");
    for (from, c) in [("page_cache", &m.fetch_reads_cached), ("disk", &m.fetch_reads_disk)] {
        e.sample(reads, &[("from", from)], c.load(Ordering::Relaxed) as f64);
    }
    write_fetch_sessions(&mut e, &ctx.fetch_sessions.stats());
    crate::metrics::write_process_metrics(&mut e, m.start_time_seconds);
    e.finish()
}

/// Kafka's `kafka.server:type=FetchSessionCache` MBeans, and the count of
/// incremental fetches served, which Kafka does not publish but which shows
/// whether clients use their sessions.
fn write_fetch_sessions(e: &mut Exposition, s: &super::fetch_session::FetchSessionStats) {
    let families = [
        (
            "numincrementalfetchsessions",
            Kind::Gauge,
            "Incremental fetch sessions in the cache",
            s.sessions as f64,
        ),
        (
            "numincrementalfetchpartitionscached",
            Kind::Gauge,
            "Partitions in all incremental fetch sessions",
            s.partitions_cached as f64,
        ),
        (
            "incrementalfetchsessionevictions_total",
            Kind::Counter,
            "Incremental fetch sessions evicted for a new one",
            s.evictions as f64,
        ),
        (
            "incrementalfetches_total",
            Kind::Counter,
            "Incremental fetches accepted by their session",
            s.incremental_fetches as f64,
        ),
    ];
    for (name, kind, help, value) in families {
        e.single(&format!("kafka_server_fetchsessioncache_{name}"), kind, help, value);
    }
}

fn write_topic_metrics(e: &mut Exposition, m: &BrokerMetrics) {
    let topics = m.topics.read_or_recover().clone();
    for (metric, help, field) in TOPIC_FAMILIES {
        let name = format!("kafka_server_brokertopicmetrics_{metric}_total");
        e.family(&name, Kind::Counter, help);
        e.sample(&name, &[], TopicStats::load(field(&m.all_topics)));
        for (topic, s) in &topics {
            e.sample(&name, &[("topic", topic)], TopicStats::load(field(s)));
        }
    }
}

fn write_request_metrics(e: &mut Exposition, m: &BrokerMetrics) {
    let requests = "kafka_network_requestmetrics_requests_total";
    e.family(requests, Kind::Counter, "Requests handled, by API and version");
    let mut seen = Vec::new();
    for (slot, r) in m.requests.iter().enumerate() {
        if r.total_time.count() == 0 {
            continue;
        }
        let Some(name) = request_name(slot) else { continue };
        for (v, c) in r.per_version.iter().enumerate() {
            let n = c.load(Ordering::Relaxed);
            if n > 0 {
                let version = v.to_string();
                e.sample(requests, &[("request", &name), ("version", &version)], n as f64);
            }
        }
        seen.push((name, r));
    }
    let time = "kafka_network_requestmetrics_totaltimems";
    e.family(
        time,
        Kind::Histogram,
        "Time from a request's arrival to its reply being queued, in ms",
    );
    for (name, r) in &seen {
        e.histogram(time, &[("request", name)], &r.total_time.snapshot());
    }
}

fn write_replica_manager(e: &mut Exposition, m: &BrokerMetrics, parts: &[PartitionView]) {
    let led = || parts.iter().filter(|p| p.leader);
    let gauges: [(&str, &str, usize); 6] = [
        ("partitioncount", "Partitions hosted by this broker", parts.len()),
        ("leadercount", "Partitions this broker leads", led().count()),
        (
            "underreplicatedpartitions",
            "Led partitions whose ISR is smaller than their replica set",
            led().filter(|p| p.isr < p.replicas).count(),
        ),
        (
            "underminisrpartitioncount",
            "Led partitions whose ISR is below min.insync.replicas",
            led().filter(|p| p.isr < p.min_isr).count(),
        ),
        (
            "atminisrpartitioncount",
            "Led partitions whose ISR is exactly min.insync.replicas",
            led().filter(|p| p.isr == p.min_isr).count(),
        ),
        (
            "offlinereplicacount",
            "Hosted replicas in an offline log dir",
            parts.iter().filter(|p| p.offline).count(),
        ),
    ];
    for (name, help, v) in gauges {
        e.single(&format!("kafka_server_replicamanager_{name}"), Kind::Gauge, help, v as f64);
    }
    e.single(
        "kafka_server_replicamanager_isrshrinks_total",
        Kind::Counter,
        "ISR shrinks written by this broker as leader",
        m.isr_shrinks.load(Ordering::Relaxed) as f64,
    );
    e.single(
        "kafka_server_replicamanager_isrexpands_total",
        Kind::Counter,
        "ISR expansions written by this broker as leader",
        m.isr_expands.load(Ordering::Relaxed) as f64,
    );
}

fn write_partition_metrics(e: &mut Exposition, parts: &[PartitionView]) {
    type Value = fn(&PartitionView) -> f64;
    let families: [(&str, Kind, &str, Value); 8] = [
        ("kafka_log_log_size", Kind::Gauge, "Bytes in the partition's segments", |p| p.size as f64),
        ("kafka_log_log_numlogsegments", Kind::Gauge, "Segments of the partition's log", |p| {
            p.segments as f64
        }),
        ("kafka_log_log_logstartoffset", Kind::Gauge, "First offset in the log", |p| {
            p.log_start as f64
        }),
        ("kafka_log_log_logendoffset", Kind::Gauge, "Offset the next append gets", |p| {
            p.log_end as f64
        }),
        (
            "kafka_cluster_partition_underreplicated",
            Kind::Gauge,
            "1 if led here and under-replicated",
            |p| (p.leader && p.isr < p.replicas) as u8 as f64,
        ),
        (
            "kafka_cluster_partition_underminisr",
            Kind::Gauge,
            "1 if led here and its ISR is below min.insync.replicas",
            |p| (p.leader && p.isr < p.min_isr) as u8 as f64,
        ),
        (
            "kafka_cluster_partition_replicascount",
            Kind::Gauge,
            "Replicas, if led here (else 0)",
            |p| p.leader as u8 as f64 * p.replicas as f64,
        ),
        (
            "kafka_cluster_partition_insyncreplicascount",
            Kind::Gauge,
            "In-sync replicas, if led here (else 0)",
            |p| p.leader as u8 as f64 * p.isr as f64,
        ),
    ];
    for (name, kind, help, value) in families {
        e.family(name, kind, help);
        for p in parts {
            let partition = p.tp.partition.0.to_string();
            e.sample(name, &[("topic", &p.tp.topic), ("partition", &partition)], value(p));
        }
    }
}

/// Kafka's controller gauges: real values on the active controller, 0 on
/// every other broker, so a cluster-wide `sum` counts each thing once.
fn write_controller(e: &mut Exposition, ctx: &BrokerContext, image: &crate::cluster::ClusterImage) {
    let active = image.controller_id == ctx.broker_id;
    let partitions = || image.topics.values().flat_map(|t| t.partitions.values());
    let offline = partitions()
        .filter(|p| p.state.leader < 0 || !image.brokers.contains_key(&p.state.leader))
        .count();
    let imbalance =
        partitions().filter(|p| p.replicas.first().is_some_and(|&r| r != p.state.leader)).count();
    let total = partitions().count();
    let gauges: [(&str, &str, usize); 5] = [
        ("activecontrollercount", "1 on the active controller", 1),
        ("offlinepartitionscount", "Partitions without a live leader", offline),
        (
            "preferredreplicaimbalancecount",
            "Partitions not led by their preferred replica",
            imbalance,
        ),
        ("globaltopiccount", "Topics in the cluster", image.topics.len()),
        ("globalpartitioncount", "Partitions in the cluster", total),
    ];
    for (name, help, v) in gauges {
        let v = if active { v } else { 0 };
        e.single(&format!("kafka_controller_kafkacontroller_{name}"), Kind::Gauge, help, v as f64);
    }
}

/// Group counts as Kafka's `GroupMetadataManager` reports them, and lag as
/// kafka_exporter names it, for the groups this broker coordinates and the
/// partitions it hosts (elsewhere it does not know the high watermark).
fn write_groups(e: &mut Exposition, g: &GroupsSnapshot, parts: &[PartitionView]) {
    let prefix = "kafka_coordinator_group_groupmetadatamanager";
    e.single(
        &format!("{prefix}_numgroups"),
        Kind::Gauge,
        "Groups this broker coordinates",
        g.groups.len() as f64,
    );
    for state in ["Stable", "PreparingRebalance", "CompletingRebalance", "Empty", "Dead"] {
        let n = g.groups.iter().filter(|o| o.state == state).count();
        e.single(
            &format!("{prefix}_numgroups{}", state.to_lowercase()),
            Kind::Gauge,
            &format!("Coordinated groups in state {state}"),
            n as f64,
        );
    }
    let offsets: usize = g.groups.iter().map(|o| o.offsets.len()).sum();
    e.single(
        &format!("{prefix}_numoffsets"),
        Kind::Gauge,
        "Committed offsets held",
        offsets as f64,
    );

    let hw: BTreeMap<&TopicPartition, i64> =
        parts.iter().map(|p| (&p.tp, p.high_watermark)).collect();
    let committed = || {
        g.groups.iter().flat_map(|g| {
            g.offsets.iter().map(move |(tp, offset)| (g.group_id.as_str(), tp, *offset))
        })
    };
    let lag = "kafka_consumergroup_lag";
    e.family(lag, Kind::Gauge, "High watermark minus the group's committed offset");
    for (group, tp, offset) in committed() {
        if let Some(&h) = hw.get(tp) {
            let partition = tp.partition.0.to_string();
            let labels =
                [("consumergroup", group), ("topic", &tp.topic), ("partition", &partition)];
            e.sample(lag, &labels, (h - offset).max(0) as f64);
        }
    }
    let current = "kafka_consumergroup_current_offset";
    e.family(current, Kind::Gauge, "The group's committed offset");
    for (group, tp, offset) in committed() {
        let partition = tp.partition.0.to_string();
        let labels = [("consumergroup", group), ("topic", &tp.topic), ("partition", &partition)];
        e.sample(current, &labels, offset as f64);
    }
}
