//! Replication between real broker processes on a standalone `kafka-rs
//! zookeeper-start`: followers copy the leader's log byte for byte, the
//! ISR fills up as they catch up, acks=all waits for the ISR, a stopped
//! follower leaves the ISR after `replica.lag.time.max.ms` and comes back
//! when it catches up, and `min.insync.replicas` refuses acks=all.

use std::time::{Duration, Instant};

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::broker_bad_input::{batch, produce_within as produce};
use crate::broker_support::Broker;
use crate::support;
use crate::zk_harness::{self, ZkServer};

pub struct Cluster {
    pub zk: ZkServer,
    brokers: Vec<Option<Broker>>,
    /// The dirs and client ports of killed brokers, for their restart.
    stopped: Vec<Option<(tempfile::TempDir, u16)>>,
    overrides: Vec<Vec<String>>,
}

impl Cluster {
    /// Three brokers (ids 1, 2, 3) on one standalone ZooKeeper.
    pub fn start(extra: &[&str]) -> Cluster {
        Self::start_each(extra, |_| Vec::new())
    }

    /// Like [`Cluster::start`], with overrides of each broker's own too.
    pub fn start_each(extra: &[&str], own: impl Fn(i32) -> Vec<String>) -> Cluster {
        Self::start_on_each(zk_harness::start_ours(""), extra, own)
    }

    /// Three brokers (ids 1, 2, 3) on `zk`, ours or Apache ZooKeeper.
    pub fn start_on(zk: ZkServer, extra: &[&str]) -> Cluster {
        Self::start_on_each(zk, extra, |_| Vec::new())
    }

    fn start_on_each(zk: ZkServer, extra: &[&str], own: impl Fn(i32) -> Vec<String>) -> Cluster {
        let connect = format!("zookeeper.connect=127.0.0.1:{}", zk.port);
        let overrides: Vec<Vec<String>> = (1..=3)
            .map(|id| {
                let mut o = vec![
                    format!("broker.id={id}"),
                    connect.clone(),
                    "zookeeper.session.timeout.ms=6000".into(),
                ];
                o.extend(extra.iter().map(|s| s.to_string()));
                o.extend(own(id));
                o
            })
            .collect();
        let brokers = overrides
            .iter()
            .map(|o| Some(Broker::start(&o.iter().map(String::as_str).collect::<Vec<_>>())))
            .collect();
        let cluster = Cluster { zk, brokers, stopped: vec![None, None, None], overrides };
        cluster.wait_registered(&[1, 2, 3]);
        cluster
    }

    pub fn broker(&self, id: i32) -> &Broker {
        self.brokers[(id - 1) as usize].as_ref().expect("the broker is running")
    }

    pub fn running(&self) -> impl Iterator<Item = &Broker> {
        self.brokers.iter().flatten()
    }

    /// `kill -9` of broker `id`; its dirs are kept for [`Cluster::restart`].
    pub fn kill9(&mut self, id: i32) {
        let i = (id - 1) as usize;
        let b = self.brokers[i].take().expect("the broker is running");
        let port = b.port;
        self.stopped[i] = Some((b.kill9(), port));
    }

    /// Restarts broker `id` on its old port, as an operator restarts a
    /// broker with its listeners unchanged: clients bootstrapped before
    /// the kill (librdkafka re-bootstraps from that list when it has no
    /// broker left to ask) still reach it.
    pub fn restart(&mut self, id: i32) {
        let i = (id - 1) as usize;
        let (dir, port) = self.stopped[i].take().expect("the broker was killed");
        let o: Vec<&str> = self.overrides[i].iter().map(String::as_str).collect();
        self.brokers[i] = Some(Broker::start_in_on(dir, port, &o));
    }

    pub fn bootstrap(&self) -> String {
        self.running().map(Broker::addr).collect::<Vec<_>>().join(",")
    }

    /// Waits until exactly these brokers are registered in ZooKeeper.
    pub fn wait_registered(&self, ids: &[i32]) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let c = rt
            .block_on(zookeeper_client::Client::connect(&format!("127.0.0.1:{}", self.zk.port)))
            .unwrap();
        let want: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        support::wait_until(Duration::from_secs(30), "the brokers to register", || {
            let mut have = rt.block_on(c.list_children("/brokers/ids")).unwrap_or_default();
            have.sort();
            have == want
        });
        // And until every broker's own image has them all.
        for b in self.running() {
            support::wait_until(Duration::from_secs(30), "each broker to see the others", || {
                let mut req = MetadataRequest::default();
                req.topics = Some(Vec::new());
                let resp: MetadataResponse = b.wire().call(ApiKey::Metadata, 1, &req);
                ids.iter().all(|id| resp.brokers.iter().any(|r| r.node_id.0 == *id))
            });
        }
    }

    pub fn topics(&self, args: &[&str]) -> String {
        let bootstrap = self.bootstrap();
        let mut all = vec!["topics", "--bootstrap-server", bootstrap.as_str()];
        all.extend_from_slice(args);
        let out = support::kafka_rs(&all, None, Duration::from_secs(30));
        assert!(out.status.success(), "topics {args:?}: {}", support::stderr(&out));
        support::stdout(&out)
    }

    pub fn create(&self, topic: &str, extra: &[&str]) {
        let mut args =
            vec!["--create", "--topic", topic, "--partitions", "1", "--replication-factor", "3"];
        args.extend_from_slice(extra);
        self.topics(&args);
        support::wait_until(Duration::from_secs(20), "a leader", || {
            self.partition(topic).is_some_and(|p| p.leader >= 0)
        });
    }

    /// Partition 0 as `topics --describe` shows it.
    pub fn partition(&self, topic: &str) -> Option<Described> {
        self.partition_of(topic, 0)
    }

    pub fn partition_of(&self, topic: &str, partition: i32) -> Option<Described> {
        self.described_by(&self.bootstrap(), topic, partition)
    }

    fn described_by(&self, bootstrap: &str, topic: &str, partition: i32) -> Option<Described> {
        let out = support::kafka_rs(
            &["topics", "--bootstrap-server", bootstrap, "--describe", "--topic", topic],
            None,
            Duration::from_secs(30),
        );
        let key = format!("Partition: {partition}\t");
        support::stdout(&out).lines().find(|l| l.contains(&key)).map(Described::parse)
    }

    /// Waits until every broker shows partition 0 with this ISR, the
    /// leader included, so the leader acts on what the test saw.
    pub fn wait_isr_everywhere(&self, topic: &str, isr: &[i32], timeout: Duration) -> Described {
        let first = self.wait_isr(topic, isr, timeout);
        for b in self.running() {
            support::wait_until(timeout, "every broker to show the same ISR", || {
                self.described_by(&b.addr(), topic, 0).as_ref() == Some(&first)
            });
        }
        first
    }

    pub fn wait_isr(&self, topic: &str, isr: &[i32], timeout: Duration) -> Described {
        self.wait_isr_of(topic, 0, isr, timeout)
    }

    pub fn wait_isr_of(
        &self,
        topic: &str,
        partition: i32,
        isr: &[i32],
        timeout: Duration,
    ) -> Described {
        let mut last = None;
        let start = Instant::now();
        while start.elapsed() < timeout {
            last = self.partition_of(topic, partition);
            if last.as_ref().is_some_and(|p| sorted(&p.isr) == sorted(isr)) {
                return last.unwrap();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("ISR of {topic}-{partition} never became {isr:?}: last {last:?}");
    }
}

fn sorted(v: &[i32]) -> Vec<i32> {
    let mut v = v.to_vec();
    v.sort();
    v
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

impl Described {
    pub fn parse(line: &str) -> Described {
        let field = |name: &str| {
            line.split('\t')
                .find_map(|f| f.trim().strip_prefix(name))
                .map(str::trim)
                .unwrap_or("")
                .to_string()
        };
        let list = |s: String| s.split(',').filter_map(|x| x.trim().parse().ok()).collect();
        Described {
            leader: field("Leader:").parse().unwrap_or(-1),
            replicas: list(field("Replicas:")),
            isr: list(field("Isr:")),
        }
    }
}

/// The error code of a consumer's Fetch v12 of partition 0 at offset 0.
fn fetch_error(broker: &Broker, topic: &str, current_leader_epoch: i32) -> i16 {
    let mut p = FetchPartition::default();
    p.partition = 0;
    p.current_leader_epoch = current_leader_epoch;
    p.partition_max_bytes = 1 << 20;
    let mut t = FetchTopic::default();
    t.topic = TopicName(StrBytes::from_string(topic.to_string()));
    t.partitions = vec![p];
    let mut req = FetchRequest::default();
    req.replica_id = BrokerId(-1);
    req.max_bytes = 1 << 20;
    req.session_epoch = -1;
    req.topics = vec![t];
    let resp: FetchResponse = broker.wire().call(ApiKey::Fetch, 12, &req);
    resp.responses[0].partitions[0].error_code
}

fn segment(broker: &Broker, topic: &str) -> Vec<u8> {
    let path = broker.data_dir().join(format!("{topic}-0")).join("00000000000000000000.log");
    std::fs::read(&path).unwrap_or_default()
}

fn signal(broker: &Broker, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &broker.child.pid().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {sig}");
}

#[test]
fn followers_copy_the_leaders_log_and_join_the_isr() {
    let cluster = Cluster::start(&[]);
    cluster.create("copied", &[]);
    // The controller puts every live replica in the first ISR.
    let leader = cluster.wait_isr_everywhere("copied", &[1, 2, 3], Duration::from_secs(30)).leader;
    let mut wire = cluster.broker(leader).wire();
    for i in 0..50 {
        let values: Vec<Vec<u8>> = (0..20).map(|j| format!("m{i}-{j}").into_bytes()).collect();
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        let (code, base) = produce(&mut wire, "copied", -1, 30_000, batch(&refs));
        assert_eq!((code, base), (0, i * 20), "acks=all produce {i}");
    }
    let described = cluster.wait_isr("copied", &[1, 2, 3], Duration::from_secs(30));
    assert_eq!(described.replicas.len(), 3);
    let on_leader = segment(cluster.broker(leader), "copied");
    assert!(!on_leader.is_empty());
    support::wait_until(Duration::from_secs(20), "every replica to hold the same bytes", || {
        cluster.running().all(|b| segment(b, "copied") == on_leader)
    });
    // KIP-320 on the wire: the epoch first, then the leadership.
    let follower = described.replicas.iter().copied().find(|&r| r != leader).unwrap();
    for (broker, epoch, want, why) in [
        (follower, 0, 6, "a follower serves no consumer"),
        (follower, 5, 75, "an epoch the follower has not heard of"),
        (leader, 5, 75, "an epoch the leader has not heard of"),
        (leader, 0, 0, "the current epoch"),
    ] {
        assert_eq!(fetch_error(cluster.broker(broker), "copied", epoch), want, "{why}");
    }
    // The leader epoch checkpoint travels with the data.
    for b in cluster.running() {
        assert!(b.data_dir().join("copied-0/leader-epoch-checkpoint").exists());
    }
}

#[test]
fn followers_fetch_in_incremental_sessions_and_acks_all_still_completes() {
    let ports: Vec<u16> = (0..3).map(|_| support::free_port()).collect();
    let cluster = Cluster::start_each(&[], |id| {
        vec![format!("metrics.listener=http://127.0.0.1:{}", ports[id as usize - 1])]
    });
    cluster.create("sessions", &[]);
    let leader =
        cluster.wait_isr_everywhere("sessions", &[1, 2, 3], Duration::from_secs(30)).leader;
    let port = ports[leader as usize - 1];
    let metric = |name: &str| {
        crate::metrics::scrape(port).get(&format!("kafka_server_fetchsessioncache_{name}"))
    };
    support::wait_until(Duration::from_secs(20), "both followers in a session", || {
        metric("numincrementalfetchsessions") == 2.0 && metric("incrementalfetches_total") > 0.0
    });
    // Past here the followers' fetch offsets reach the leader only in
    // incremental fetches, and each acks=all produce waits for them.
    let before = metric("incrementalfetches_total");
    let mut wire = cluster.broker(leader).wire();
    for i in 0..20 {
        let value = format!("v{i}");
        let (code, base) = produce(&mut wire, "sessions", -1, 30_000, batch(&[value.as_bytes()]));
        assert_eq!((code, base), (0, i), "acks=all produce {i}");
    }
    assert!(metric("incrementalfetches_total") > before);
    assert_eq!(metric("numincrementalfetchsessions"), 2.0, "one session per follower");
    let on_leader = segment(cluster.broker(leader), "sessions");
    support::wait_until(Duration::from_secs(20), "every replica to hold the same bytes", || {
        cluster.running().all(|b| segment(b, "sessions") == on_leader)
    });
}

#[test]
fn acks_all_waits_for_a_stopped_follower_until_it_leaves_the_isr() {
    let cluster = Cluster::start(&["replica.lag.time.max.ms=3000"]);
    cluster.create("lagging", &[]);
    let described = cluster.wait_isr_everywhere("lagging", &[1, 2, 3], Duration::from_secs(30));
    let leader = described.leader;
    let follower = *described.replicas.iter().find(|&&r| r != leader).unwrap();
    let mut wire = cluster.broker(leader).wire();
    assert_eq!(produce(&mut wire, "lagging", -1, 30_000, batch(&[b"before"])).0, 0);
    // The first ISR names every replica before any has fetched; a follower
    // slow to start may leave and rejoin it. Past this, all three hold
    // "before" and are in the ISR.
    cluster.wait_isr_everywhere("lagging", &[1, 2, 3], Duration::from_secs(30));

    signal(cluster.broker(follower), "-STOP");
    // A short timeout: the stopped follower cannot confirm the write.
    let (code, _) = produce(&mut wire, "lagging", -1, 500, batch(&[b"stalled"]));
    assert_eq!(
        code,
        7,
        "REQUEST_TIMED_OUT while follower {follower} is stopped and in the ISR; leader {leader}'s log:\n{}",
        cluster.broker(leader).server_log()
    );
    // A long one completes once the leader drops the follower from the ISR.
    let started = Instant::now();
    let (code, _) = produce(&mut wire, "lagging", -1, 15_000, batch(&[b"after shrink"]));
    assert_eq!(code, 0, "acks=all completes after the ISR shrinks");
    assert!(started.elapsed() >= Duration::from_millis(500), "it had to wait for the shrink");
    let shrunk = cluster.partition("lagging").unwrap();
    assert!(!shrunk.isr.contains(&follower), "{shrunk:?}");
    let under = cluster.topics(&["--describe", "--under-replicated-partitions"]);
    assert!(under.contains("lagging"), "{under}");

    signal(cluster.broker(follower), "-CONT");
    cluster.wait_isr("lagging", &[1, 2, 3], Duration::from_secs(30));
    let under = cluster.topics(&["--describe", "--under-replicated-partitions"]);
    assert!(!under.contains("lagging"), "{under}");
}

#[test]
fn min_insync_replicas_refuses_acks_all_when_the_isr_is_too_small() {
    let cluster = Cluster::start(&["replica.lag.time.max.ms=2000"]);
    cluster.create("guarded", &["--config", "min.insync.replicas=2"]);
    let described = cluster.wait_isr_everywhere("guarded", &[1, 2, 3], Duration::from_secs(30));
    let leader = described.leader;
    let others: Vec<i32> = described.replicas.iter().copied().filter(|&r| r != leader).collect();
    let mut wire = cluster.broker(leader).wire();
    assert_eq!(produce(&mut wire, "guarded", -1, 30_000, batch(&[b"ok"])).0, 0);
    for &o in &others {
        signal(cluster.broker(o), "-STOP");
    }
    // Writes arrive while the followers are stopped, so they fall behind.
    assert_eq!(produce(&mut wire, "guarded", 1, 30_000, batch(&[b"one"])).0, 0);
    cluster.wait_isr("guarded", &[leader], Duration::from_secs(30));
    let at_min = cluster.topics(&["--describe", "--under-min-isr-partitions"]);
    assert!(at_min.contains("guarded"), "{at_min}");
    let (code, _) = produce(&mut wire, "guarded", -1, 30_000, batch(&[b"refused"]));
    assert_eq!(code, 19, "NOT_ENOUGH_REPLICAS");
    let (code, _) = produce(&mut wire, "guarded", 1, 30_000, batch(&[b"acks=1 still works"]));
    assert_eq!(code, 0);
    for &o in &others {
        signal(cluster.broker(o), "-CONT");
    }
    cluster.wait_isr("guarded", &[1, 2, 3], Duration::from_secs(30));
    assert_eq!(produce(&mut wire, "guarded", -1, 30_000, batch(&[b"back"])).0, 0);
}
