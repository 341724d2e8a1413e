//! What `top` shows, gathered through the admin client only (Metadata,
//! ListOffsets, DescribeLogDirs and the group APIs), and the rates computed
//! between two gatherings.
//!
//! A broker that stops answering is a fact to show, not an error to stop
//! on: the collector remembers every broker it has seen, marks the missing
//! ones down, and when no broker answers at all it keeps the last picture
//! with every broker down and says why.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::client::admin::{Admin, OffsetSpec};
use crate::client::cluster::{BrokerMetadata, Metadata};
use crate::client::groups::GroupDescription;
use crate::client::{ClientConfig, Cluster, Error};

/// How many lag samples a group's trend keeps.
const TREND_SAMPLES: usize = 20;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Snapshot {
    /// Wall-clock time of the gathering (ms since the epoch).
    pub taken_at_ms: i64,
    pub cluster_id: Option<String>,
    /// -1 when the cluster names none (or cannot be reached).
    pub controller_id: i32,
    /// Whether any broker answered this time.
    pub reachable: bool,
    /// What went wrong while gathering, one line each; empty when all answered.
    pub errors: Vec<String>,
    pub brokers: Vec<BrokerRow>,
    pub topics: Vec<TopicRow>,
    pub partitions: Vec<PartitionRow>,
    pub groups: Vec<GroupRow>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BrokerRow {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
    /// In the cluster metadata and answering our requests.
    pub up: bool,
    pub controller: bool,
    /// Partitions it leads.
    pub leaders: usize,
    /// Partition replicas assigned to it.
    pub partitions: usize,
    /// Partitions it leads whose ISR is smaller than the replica set.
    pub under_replicated: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct TopicRow {
    pub name: String,
    pub internal: bool,
    pub partitions: usize,
    pub replication_factor: usize,
    pub under_replicated: usize,
    /// Partitions without a leader.
    pub offline: usize,
    /// Records between log start and high watermark, summed over partitions.
    pub records: Option<i64>,
    /// Bytes of the leader replicas on disk.
    pub size_bytes: Option<i64>,
    pub records_in_per_sec: Option<f64>,
    pub bytes_in_per_sec: Option<f64>,
    /// From the committed offsets of the groups reading the topic.
    pub records_out_per_sec: Option<f64>,
    /// Records out times the topic's average record size on disk.
    pub bytes_out_per_sec: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PartitionRow {
    pub topic: String,
    pub partition: i32,
    /// -1 when offline.
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline_replicas: Vec<i32>,
    pub log_start_offset: Option<i64>,
    /// What consumers read up to (the consumer tools' LOG-END-OFFSET).
    pub high_watermark: Option<i64>,
    pub size_bytes: Option<i64>,
    pub under_replicated: bool,
    pub offline: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct GroupRow {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    pub coordinator: Option<i32>,
    pub members: usize,
    /// Sum of the partition lags; `None` when no offset is known.
    pub lag: Option<i64>,
    /// The group's total lag at each of the last gatherings, oldest first.
    pub lag_trend: Vec<i64>,
    pub partitions: Vec<GroupPartitionRow>,
    /// Why the group could not be described, if it could not.
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GroupPartitionRow {
    pub topic: String,
    pub partition: i32,
    pub current_offset: Option<i64>,
    pub log_end_offset: Option<i64>,
    pub lag: Option<i64>,
    pub consumer_id: Option<String>,
    pub host: Option<String>,
    pub client_id: Option<String>,
}

/// Gathers snapshots of one cluster, one after the other.
pub struct Collector {
    config: ClientConfig,
    /// Bounds each group's describe, so one slow coordinator cannot stall
    /// the refresh.
    group_timeout: Duration,
    cluster: Option<Arc<Cluster>>,
    /// Every broker ever seen, so one that leaves the metadata is shown down.
    known: BTreeMap<i32, BrokerMetadata>,
    previous: Option<(Instant, Snapshot)>,
    lag_history: BTreeMap<String, VecDeque<i64>>,
}

impl Collector {
    pub fn new(config: ClientConfig, group_timeout: Duration) -> Self {
        Self {
            config,
            group_timeout,
            cluster: None,
            known: BTreeMap::new(),
            previous: None,
            lag_history: BTreeMap::new(),
        }
    }

    pub async fn collect(&mut self) -> Snapshot {
        let started = Instant::now();
        let mut snap = match self.gather().await {
            Ok(s) => s,
            Err(e) => {
                // Reconnect from scratch next time, through any broker known.
                self.cluster = None;
                self.unreachable(&e)
            }
        };
        snap.taken_at_ms = crate::client::producer::now_ms();
        if snap.reachable {
            self.add_rates(started, &mut snap);
            self.add_trends(&mut snap);
            self.previous = Some((started, snap.clone()));
        }
        snap
    }

    /// The last picture with every broker down, or an empty one.
    fn unreachable(&self, e: &Error) -> Snapshot {
        let mut snap = self.previous.as_ref().map(|(_, s)| s.clone()).unwrap_or_default();
        let addrs = self.bootstrap_list().join(",");
        snap.errors = vec![format!("cannot reach the cluster at {addrs}: {e}")];
        snap.reachable = false;
        snap.controller_id = -1;
        if snap.brokers.is_empty() {
            snap.brokers = self.known.values().map(|b| broker_row(b, false)).collect();
        }
        for b in &mut snap.brokers {
            b.up = false;
            b.controller = false;
        }
        for t in &mut snap.topics {
            t.records_in_per_sec = None;
            t.bytes_in_per_sec = None;
            t.records_out_per_sec = None;
            t.bytes_out_per_sec = None;
        }
        snap
    }

    /// The configured bootstrap servers, then every broker seen since.
    fn bootstrap_list(&self) -> Vec<String> {
        let mut list = self.config.bootstrap_servers.clone();
        for b in self.known.values() {
            let addr = format!("{}:{}", b.host, b.port);
            if !list.contains(&addr) {
                list.push(addr);
            }
        }
        list
    }

    async fn cluster(&mut self) -> Result<Arc<Cluster>, Error> {
        if let Some(c) = &self.cluster {
            return Ok(c.clone());
        }
        let mut config = self.config.clone();
        config.bootstrap_servers = self.bootstrap_list();
        let cluster = Cluster::connect(config).await?;
        self.cluster = Some(cluster.clone());
        Ok(cluster)
    }

    async fn gather(&mut self) -> Result<Snapshot, Error> {
        let cluster = self.cluster().await?;
        let admin = Admin::new(cluster.clone());
        let md = admin.metadata().await?;
        for b in md.brokers.values() {
            self.known.insert(b.id, b.clone());
        }
        let mut snap = Snapshot {
            cluster_id: md.cluster_id.clone(),
            controller_id: md.controller_id,
            reachable: true,
            ..Default::default()
        };
        let mut down: BTreeSet<i32> = BTreeSet::new();
        let offsets = self.offsets(&admin, &md, &mut down, &mut snap.errors).await;
        let sizes = self.sizes(&admin, &md, &mut down, &mut snap.errors).await;
        snap.partitions = partition_rows(&md, &offsets, &sizes);
        snap.topics = topic_rows(&md, &snap.partitions);
        snap.brokers = self.broker_rows(&md, &down);
        snap.groups = self.groups(&admin, &snap.partitions, &mut snap.errors).await;
        Ok(snap)
    }

    /// Log start and high watermark of every partition with a leader,
    /// asked of each leader on its own.
    async fn offsets(
        &self,
        admin: &Admin,
        md: &Metadata,
        down: &mut BTreeSet<i32>,
        errors: &mut Vec<String>,
    ) -> BTreeMap<(String, i32), (i64, i64)> {
        let mut by_leader: BTreeMap<i32, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
        for t in md.topics.values().filter(|t| t.error_code == 0) {
            for p in t.partitions.iter().filter(|p| p.leader >= 0) {
                by_leader
                    .entry(p.leader)
                    .or_default()
                    .entry(t.name.clone())
                    .or_default()
                    .push(p.partition);
            }
        }
        let mut out = BTreeMap::new();
        for (leader, topics) in by_leader {
            let both = async {
                let start = admin.list_offsets_on(leader, &topics, OffsetSpec::Earliest).await?;
                let end = admin.list_offsets_on(leader, &topics, OffsetSpec::Latest).await?;
                Ok::<_, Error>((start, end))
            };
            match both.await {
                Ok((start, end)) => {
                    for (tp, hw) in end {
                        let ls = start.get(&tp).copied().unwrap_or(-1);
                        out.insert(tp, (ls, hw));
                    }
                }
                Err(e) => self.broker_failed(admin, leader, &e, down, errors).await,
            }
        }
        out
    }

    /// Bytes on disk of every replica, by the broker that holds it.
    async fn sizes(
        &self,
        admin: &Admin,
        md: &Metadata,
        down: &mut BTreeSet<i32>,
        errors: &mut Vec<String>,
    ) -> BTreeMap<(i32, String, i32), i64> {
        let mut out = BTreeMap::new();
        for &id in md.brokers.keys() {
            if down.contains(&id) {
                continue;
            }
            match admin.replica_sizes(id).await {
                Ok(sizes) => out.extend(sizes.into_iter().map(|((t, p), s)| ((id, t, p), s))),
                Err(e) => self.broker_failed(admin, id, &e, down, errors).await,
            }
        }
        out
    }

    async fn broker_failed(
        &self,
        admin: &Admin,
        id: i32,
        e: &Error,
        down: &mut BTreeSet<i32>,
        errors: &mut Vec<String>,
    ) {
        let unreachable = matches!(
            e,
            Error::Connect { .. }
                | Error::Io { .. }
                | Error::Disconnected { .. }
                | Error::Timeout { .. }
        );
        if unreachable {
            down.insert(id);
            admin.cluster().drop_broker(id).await;
            errors.push(format!("broker {id} is down: {e}"));
        } else {
            errors.push(format!("broker {id}: {e}"));
        }
    }

    fn broker_rows(&self, md: &Metadata, down: &BTreeSet<i32>) -> Vec<BrokerRow> {
        let mut rows: BTreeMap<i32, BrokerRow> = self
            .known
            .values()
            .map(|b| {
                let up = md.brokers.contains_key(&b.id) && !down.contains(&b.id);
                (b.id, broker_row(b, up))
            })
            .collect();
        for t in md.topics.values() {
            for p in &t.partitions {
                for &r in &p.replicas {
                    // A replica on a broker never seen alive: show it, down.
                    let row = rows.entry(r).or_insert_with(|| BrokerRow {
                        id: r,
                        host: String::new(),
                        port: -1,
                        rack: None,
                        up: false,
                        controller: false,
                        leaders: 0,
                        partitions: 0,
                        under_replicated: 0,
                    });
                    row.partitions += 1;
                }
                if let Some(row) = rows.get_mut(&p.leader) {
                    row.leaders += 1;
                    if p.isr.len() < p.replicas.len() {
                        row.under_replicated += 1;
                    }
                }
            }
        }
        for row in rows.values_mut() {
            row.controller = row.id == md.controller_id;
        }
        rows.into_values().collect()
    }

    async fn groups(
        &self,
        admin: &Admin,
        partitions: &[PartitionRow],
        errors: &mut Vec<String>,
    ) -> Vec<GroupRow> {
        let listed = match tokio::time::timeout(self.group_timeout, admin.list_groups(&[])).await {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => {
                errors.push(format!("cannot list groups: {e}"));
                return self.previous_groups();
            }
            Err(_) => {
                errors.push("cannot list groups: timed out".into());
                return self.previous_groups();
            }
        };
        let hw: BTreeMap<(&str, i32), i64> = partitions
            .iter()
            .filter_map(|p| Some(((p.topic.as_str(), p.partition), p.high_watermark?)))
            .collect();
        let mut rows = Vec::new();
        for g in listed {
            let described = tokio::time::timeout(self.group_timeout, async {
                let d = admin.describe_group(&g.group_id).await?;
                let offsets = admin.group_offsets(&g.group_id).await?;
                Ok::<_, Error>((d, offsets))
            })
            .await;
            let row = match described {
                Ok(Ok((d, offsets))) => group_row(&d, &offsets, &hw),
                failed => {
                    let why = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => "timed out".to_string(),
                    };
                    GroupRow {
                        group_id: g.group_id.clone(),
                        state: g.state.clone(),
                        protocol_type: g.protocol_type.clone(),
                        coordinator: None,
                        members: 0,
                        lag: None,
                        lag_trend: Vec::new(),
                        partitions: Vec::new(),
                        error: Some(why),
                    }
                }
            };
            rows.push(row);
        }
        rows
    }

    fn previous_groups(&self) -> Vec<GroupRow> {
        self.previous.as_ref().map(|(_, s)| s.groups.clone()).unwrap_or_default()
    }

    /// Rates from the difference with the previous snapshot: records in
    /// from high watermarks, bytes in from replica sizes, records out from
    /// the groups' committed offsets.
    fn add_rates(&self, now: Instant, snap: &mut Snapshot) {
        let Some((then, prev)) = &self.previous else { return };
        let secs = now.duration_since(*then).as_secs_f64();
        if secs <= 0.0 {
            return;
        }
        let committed = |s: &Snapshot| {
            let mut by_topic: BTreeMap<(String, String), i64> = BTreeMap::new();
            for g in &s.groups {
                for p in &g.partitions {
                    if let Some(o) = p.current_offset {
                        *by_topic.entry((g.group_id.clone(), p.topic.clone())).or_default() += o;
                    }
                }
            }
            by_topic
        };
        let (now_out, then_out) = (committed(snap), committed(prev));
        let end = |s: &Snapshot, topic: &str| -> Option<i64> {
            s.partitions
                .iter()
                .filter(|p| p.topic == topic)
                .map(|p| p.high_watermark)
                .sum::<Option<i64>>()
        };
        let now_end: Vec<Option<i64>> = snap.topics.iter().map(|t| end(snap, &t.name)).collect();
        for (t, now_end) in snap.topics.iter_mut().zip(now_end) {
            let Some(old) = prev.topics.iter().find(|o| o.name == t.name) else { continue };
            let rate = |a: Option<i64>, b: Option<i64>| match (a, b) {
                // A shrink (retention, a re-created topic) is no traffic.
                (Some(a), Some(b)) => Some((a - b).max(0) as f64 / secs),
                _ => None,
            };
            t.records_in_per_sec = rate(now_end, end(prev, &t.name));
            t.bytes_in_per_sec = rate(t.size_bytes, old.size_bytes);
            let out: i64 = now_out
                .iter()
                .filter(|((_, topic), _)| *topic == t.name)
                .filter_map(|(k, v)| Some((v - then_out.get(k)?).max(0)))
                .sum();
            t.records_out_per_sec = Some(out as f64 / secs);
            let avg = match (t.size_bytes, t.records) {
                (Some(size), Some(n)) if n > 0 => Some(size as f64 / n as f64),
                _ => None,
            };
            t.bytes_out_per_sec = avg.map(|a| a * out as f64 / secs);
        }
    }

    fn add_trends(&mut self, snap: &mut Snapshot) {
        let present: BTreeSet<String> = snap.groups.iter().map(|g| g.group_id.clone()).collect();
        self.lag_history.retain(|g, _| present.contains(g));
        for g in &mut snap.groups {
            let Some(lag) = g.lag else { continue };
            let h = self.lag_history.entry(g.group_id.clone()).or_default();
            if h.len() == TREND_SAMPLES {
                h.pop_front();
            }
            h.push_back(lag);
            g.lag_trend = h.iter().copied().collect();
        }
    }
}

fn broker_row(b: &BrokerMetadata, up: bool) -> BrokerRow {
    BrokerRow {
        id: b.id,
        host: b.host.clone(),
        port: b.port,
        rack: b.rack.clone(),
        up,
        controller: false,
        leaders: 0,
        partitions: 0,
        under_replicated: 0,
    }
}

fn partition_rows(
    md: &Metadata,
    offsets: &BTreeMap<(String, i32), (i64, i64)>,
    sizes: &BTreeMap<(i32, String, i32), i64>,
) -> Vec<PartitionRow> {
    let mut rows = Vec::new();
    for t in md.topics.values().filter(|t| t.error_code == 0) {
        for p in &t.partitions {
            let key = (t.name.clone(), p.partition);
            let (ls, hw) = match offsets.get(&key) {
                Some(&(ls, hw)) => (Some(ls).filter(|&o| o >= 0), Some(hw).filter(|&o| o >= 0)),
                None => (None, None),
            };
            rows.push(PartitionRow {
                topic: t.name.clone(),
                partition: p.partition,
                leader: p.leader,
                leader_epoch: p.leader_epoch,
                replicas: p.replicas.clone(),
                isr: p.isr.clone(),
                offline_replicas: p.offline_replicas.clone(),
                log_start_offset: ls,
                high_watermark: hw,
                size_bytes: sizes.get(&(p.leader, t.name.clone(), p.partition)).copied(),
                under_replicated: p.isr.len() < p.replicas.len(),
                offline: p.leader < 0,
            });
        }
    }
    rows
}

fn topic_rows(md: &Metadata, partitions: &[PartitionRow]) -> Vec<TopicRow> {
    md.topics
        .values()
        .filter(|t| t.error_code == 0)
        .map(|t| {
            let mine: Vec<&PartitionRow> =
                partitions.iter().filter(|p| p.topic == t.name).collect();
            let records = mine
                .iter()
                .map(|p| Some(p.high_watermark? - p.log_start_offset?))
                .sum::<Option<i64>>();
            TopicRow {
                name: t.name.clone(),
                internal: t.is_internal,
                partitions: t.partitions.len(),
                replication_factor: t
                    .partitions
                    .iter()
                    .map(|p| p.replicas.len())
                    .max()
                    .unwrap_or(0),
                under_replicated: mine.iter().filter(|p| p.under_replicated).count(),
                offline: mine.iter().filter(|p| p.offline).count(),
                records,
                size_bytes: mine.iter().map(|p| p.size_bytes).sum(),
                records_in_per_sec: None,
                bytes_in_per_sec: None,
                records_out_per_sec: None,
                bytes_out_per_sec: None,
            }
        })
        .collect()
}

fn group_row(
    d: &GroupDescription,
    offsets: &BTreeMap<(String, i32), i64>,
    hw: &BTreeMap<(&str, i32), i64>,
) -> GroupRow {
    // Partitions with a committed offset or an owner, as consumer-groups
    // --describe lists them.
    let mut owners: BTreeMap<(String, i32), &crate::client::groups::MemberDescription> =
        BTreeMap::new();
    for m in &d.members {
        for (t, ps) in &m.assignment {
            for &p in ps {
                owners.insert((t.clone(), p), m);
            }
        }
    }
    let keys: BTreeSet<(String, i32)> = offsets.keys().chain(owners.keys()).cloned().collect();
    let partitions: Vec<GroupPartitionRow> = keys
        .into_iter()
        .map(|(topic, partition)| {
            let current = offsets.get(&(topic.clone(), partition)).copied();
            let end = hw.get(&(topic.as_str(), partition)).copied();
            let owner = owners.get(&(topic.clone(), partition));
            GroupPartitionRow {
                lag: match (current, end) {
                    (Some(c), Some(e)) => Some((e - c).max(0)),
                    _ => None,
                },
                current_offset: current,
                log_end_offset: end,
                consumer_id: owner.map(|m| m.member_id.clone()),
                host: owner.map(|m| m.host.clone()),
                client_id: owner.map(|m| m.client_id.clone()),
                topic,
                partition,
            }
        })
        .collect();
    let lags: Vec<i64> = partitions.iter().filter_map(|p| p.lag).collect();
    GroupRow {
        group_id: d.group_id.clone(),
        state: d.state.clone(),
        protocol_type: d.protocol_type.clone(),
        coordinator: Some(d.coordinator.id),
        members: d.members.len(),
        lag: (!lags.is_empty()).then(|| lags.iter().sum()),
        lag_trend: Vec::new(),
        partitions,
        error: None,
    }
}
