//! The controller with real brokers: three `kafka-rs server-start`
//! processes on a standalone ZooKeeper (ours, and Apache ZooKeeper 3.8),
//! `kill -9` of leaders and of the controller, unclean election, and the
//! time a dead broker's thousand leaderships take to move.
//!
//! Until followers copy data, ISRs are whatever the state znodes say:
//! tests write them directly, as a leader shrinking its ISR would.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse};
use serde_json::Value;
use zookeeper_client as zkc;

use crate::broker_support::Broker;
use crate::support;
use crate::zk_harness::{self, ZkServer};

/// Short enough that a `kill -9` is noticed quickly, long enough that a
/// busy machine does not expire a live broker's session.
const SESSION_MS: &str = "zookeeper.session.timeout.ms=4000";
const WAIT: Duration = Duration::from_secs(60);

pub struct Cluster {
    pub zk: ZkServer,
    pub brokers: BTreeMap<i32, Broker>,
    rt: tokio::runtime::Runtime,
    c: zkc::Client,
}

impl Cluster {
    /// Brokers `ids` on `zk`, started in that order (the first becomes
    /// the controller), each with `extra` overrides.
    pub fn start(zk: ZkServer, ids: &[i32], extra: &[&str]) -> Cluster {
        // A worker thread keeps the session alive (pings) while the test
        // waits on something else.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let c = rt.block_on(zkc::Client::connect(&zk.addr())).unwrap();
        let mut cluster = Cluster { zk, brokers: BTreeMap::new(), rt, c };
        for &id in ids {
            cluster.start_broker(id, None, extra);
            if id == ids[0] {
                support::wait_until(WAIT, "the first broker to win /controller", || {
                    cluster.controller() == Some(id)
                });
            }
        }
        cluster.wait_registered(ids);
        cluster
    }

    pub fn start_broker(&mut self, id: i32, dir: Option<tempfile::TempDir>, extra: &[&str]) {
        let mut overrides = vec![
            format!("broker.id={id}"),
            format!("zookeeper.connect={}", self.zk.addr()),
            SESSION_MS.to_string(),
        ];
        overrides.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
        let dir = dir.unwrap_or_else(|| tempfile::tempdir().unwrap());
        self.brokers.insert(id, Broker::start_in(dir, &refs));
    }

    /// Until every running broker's Metadata lists all of `ids`.
    pub fn wait_registered(&self, ids: &[i32]) {
        support::wait_until(WAIT, "every broker to see the others", || {
            self.brokers.values().all(|b| {
                let resp: MetadataResponse = b.wire().call(
                    ApiKey::Metadata,
                    1,
                    &MetadataRequest::default().with_topics(Some(vec![])),
                );
                ids.iter().all(|id| resp.brokers.iter().any(|r| r.node_id.0 == *id))
            })
        });
    }

    pub fn kill9(&mut self, id: i32) -> tempfile::TempDir {
        self.brokers.remove(&id).expect("a running broker").kill9()
    }

    pub fn json(&self, path: &str) -> Option<Value> {
        let (d, _) = self.rt.block_on(self.c.get_data(path)).ok()?;
        serde_json::from_slice(&d).ok()
    }

    /// The children of a znode, sorted; none if it does not exist.
    pub fn children(&self, path: &str) -> Vec<String> {
        let mut v = self.rt.block_on(self.c.list_children(path)).unwrap_or_default();
        v.sort();
        v
    }

    pub fn controller(&self) -> Option<i32> {
        Some(self.json("/controller")?["brokerid"].as_i64()? as i32)
    }

    pub fn controller_epoch(&self) -> i32 {
        let (d, _) = self.rt.block_on(self.c.get_data("/controller_epoch")).unwrap();
        String::from_utf8_lossy(&d).parse().unwrap()
    }

    /// (leader, leader_epoch, isr) of a partition's state znode.
    pub fn state(&self, topic: &str, p: i32) -> Option<(i32, i32, Vec<i32>)> {
        let s = self.json(&format!("/brokers/topics/{topic}/partitions/{p}/state"))?;
        let isr = s["isr"].as_array()?.iter().map(|v| v.as_i64().unwrap() as i32).collect();
        Some((s["leader"].as_i64()? as i32, s["leader_epoch"].as_i64()? as i32, isr))
    }

    /// Rewrites a partition's ISR the way its leader would: a conditional
    /// setData at the version read.
    pub fn set_znode(&self, path: &str, data: &[u8]) {
        self.rt.block_on(self.c.set_data(path, data, None)).unwrap();
    }

    pub fn create_znode(&self, path: &str, data: &[u8]) {
        let open = zkc::CreateMode::Persistent.with_acls(zkc::Acls::anyone_all());
        self.rt.block_on(self.c.create(path, data, &open)).unwrap();
    }

    pub fn wait_state(&self, topic: &str, p: i32, what: &str, ok: impl Fn(i32, &[i32]) -> bool) {
        support::wait_until(WAIT, what, || {
            self.state(topic, p).is_some_and(|(leader, _, isr)| ok(leader, &isr))
        });
    }

    pub fn any_addr(&self) -> String {
        self.brokers.values().next().expect("a running broker").addr()
    }

    pub fn topics(&self, args: &[&str]) -> String {
        let bootstrap = self.any_addr();
        let mut all = vec!["topics", "--bootstrap-server", bootstrap.as_str()];
        all.extend_from_slice(args);
        let out = support::kafka_rs(&all, None, Duration::from_secs(120));
        let shown: Vec<&str> = args.iter().take(3).copied().collect();
        assert!(
            out.status.success(),
            "topics {shown:?}...: {:?} {}",
            out.status,
            support::stderr(&out)
        );
        support::stdout(&out)
    }

    /// `topics --describe` once every line for `topic` satisfies `ok`.
    pub fn wait_describe(&self, topic: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        support::wait_until(WAIT, what, || {
            last = self.topics(&["--describe", "--topic", topic]);
            ok(&last)
        });
        last
    }

    pub fn server_log(&self, id: i32) -> String {
        self.brokers[&id].server_log()
    }
}

/// The `\tPartition: p\t...` line of a `--describe` output.
pub fn partition_line(describe: &str, p: i32) -> &str {
    let needle = format!("\tPartition: {p}\t");
    describe.lines().find(|l| l.contains(&needle)).unwrap_or("")
}

fn kill9_of_a_leader_moves_its_leaderships_to_the_isr(zk: ZkServer) {
    let kind = zk.kind;
    let mut cluster = Cluster::start(zk, &[1, 2, 3], &[]);
    cluster.topics(&["--create", "--topic", "t", "--partitions", "3", "--replication-factor", "3"]);
    cluster.wait_state("t", 2, "partition states", |l, _| l >= 0);
    let (leader, epoch, isr) = cluster.state("t", 0).unwrap();
    assert_eq!(isr.len(), 3, "{kind}: every live replica of a new partition is in sync");
    // Not the controller, so this checks leader failover alone.
    let victim = if leader == cluster.controller().unwrap() {
        cluster.state("t", 1).unwrap().0
    } else {
        leader
    };
    let led: Vec<i32> = (0..3).filter(|p| cluster.state("t", *p).unwrap().0 == victim).collect();
    cluster.kill9(victim);
    for p in 0..3 {
        cluster.wait_state(
            "t",
            p,
            "the dead broker to lose its leaderships and ISR places",
            |l, isr| l >= 0 && l != victim && !isr.contains(&victim),
        );
    }
    for p in &led {
        let (new_leader, new_epoch, isr) = cluster.state("t", *p).unwrap();
        assert!(new_epoch > epoch, "{kind}: an election bumps the leader epoch");
        assert_eq!(isr.len(), 2, "{kind}: {isr:?}");
        assert!(isr.contains(&new_leader), "{kind}: the new leader comes from the ISR");
    }
    let out = cluster.wait_describe("t", "Metadata to show the new leaders", |d| {
        (0..3).all(|p| {
            let line = partition_line(d, p);
            !line.contains(&format!("Leader: {victim}\t")) && !line.contains("Leader: none")
        })
    });
    for p in 0..3 {
        let isr = partition_line(&out, p).rsplit("Isr: ").next().unwrap().to_string();
        assert!(!isr.split(',').any(|b| b == victim.to_string()), "{kind}: {out}");
    }
}

#[test]
fn kill9_of_a_leader_on_our_zookeeper() {
    kill9_of_a_leader_moves_its_leaderships_to_the_isr(zk_harness::start_ours(""));
}

#[test]
fn kill9_of_a_leader_on_apache_zookeeper() {
    let Some(zk) = zk_harness::start_apache("") else { return };
    kill9_of_a_leader_moves_its_leaderships_to_the_isr(zk);
}

/// Broker 2 dies first, so the controller takes it out of the ISR of
/// `topic`-0 (replicas 1:2); then the leader, broker 1, dies too and the
/// partition goes offline with 1 as its last in-sync replica. Returns
/// broker 2's data, to bring it back behind the last in-sync replica.
fn out_of_sync_then_leader_dies(cluster: &mut Cluster, topic: &str) -> tempfile::TempDir {
    let behind = cluster.kill9(2);
    cluster.wait_state(topic, 0, "broker 2 out of the ISR", |l, isr| l == 1 && isr == [1]);
    cluster.kill9(1);
    cluster.wait_state(topic, 0, "the partition to go offline", |l, isr| l == -1 && isr == [1]);
    behind
}

#[test]
fn unclean_leader_election_off_keeps_the_partition_offline_and_on_elects() {
    let mut cluster = Cluster::start(zk_harness::start_ours(""), &[3, 1, 2], &[]);
    cluster.topics(&["--create", "--topic", "u", "--replica-assignment", "1:2"]);
    cluster.wait_state("u", 0, "the partition state", |l, isr| l == 1 && isr == [1, 2]);
    let behind = out_of_sync_then_leader_dies(&mut cluster, "u");
    cluster.start_broker(2, Some(behind), &[]);
    cluster.wait_registered(&[2, 3]);
    let out = cluster
        .wait_describe("u", "Leader: none", |d| partition_line(d, 0).contains("Leader: none"));
    assert!(partition_line(&out, 0).ends_with("Isr: 1"), "{out}");
    // Still offline a moment later: nobody elects broker 2 behind our back.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(cluster.state("u", 0).unwrap().0, -1);

    let out = support::kafka_rs(
        &[
            "configs",
            "--bootstrap-server",
            &cluster.any_addr(),
            "--entity-type",
            "topics",
            "--entity-name",
            "u",
            "--alter",
            "--add-config",
            "unclean.leader.election.enable=true",
        ],
        None,
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{}", support::stderr(&out));
    cluster.wait_state("u", 0, "an unclean election of broker 2", |l, isr| l == 2 && isr == [2]);
    support::wait_until(WAIT, "the controller to log the unclean election", || {
        cluster.server_log(3).contains("Unclean leader election")
    });
}

#[test]
fn kill9_of_the_controller_hands_over_with_a_higher_epoch_and_leaders_still_move() {
    let mut cluster = Cluster::start(zk_harness::start_ours(""), &[1, 2, 3], &[]);
    cluster.topics(&["--create", "--topic", "c", "--replica-assignment", "1:2:3,2:3:1,3:1:2"]);
    cluster.wait_state("c", 2, "partition states", |l, _| l == 3);
    let epoch = cluster.controller_epoch();
    cluster.kill9(1);
    support::wait_until(WAIT, "another broker to take /controller", || {
        cluster.controller().is_some_and(|c| c != 1)
    });
    assert!(cluster.controller_epoch() > epoch, "the new controller bumps /controller_epoch");
    cluster.wait_state("c", 0, "the new controller to move broker 1's leadership", |l, isr| {
        l == 2 && isr == [2, 3]
    });
    cluster.wait_state("c", 1, "broker 1 out of the ISR", |l, isr| l == 2 && isr == [2, 3]);
    // The new controller keeps doing the job.
    let second = cluster.controller().unwrap();
    let other = if second == 2 { 3 } else { 2 };
    cluster.kill9(other);
    for p in 0..3 {
        cluster.wait_state("c", p, "the last broker to lead everything", |l, isr| {
            l == second && isr == [second]
        });
    }
}

#[test]
fn a_dead_brokers_thousand_leaderships_move_in_a_few_multis() {
    const PARTITIONS: i32 = 1000;
    let mut cluster = Cluster::start(zk_harness::start_ours(""), &[2, 1, 3], &[]);
    // Written straight into ZooKeeper, as 0.8's tools did: the controller
    // creates the partition states, and no client waits for the brokers
    // to open a thousand logs each.
    let partitions: serde_json::Map<String, Value> =
        (0..PARTITIONS).map(|p| (p.to_string(), serde_json::json!([1, 2, 3]))).collect();
    let topic = serde_json::json!({"version": 1, "partitions": partitions});
    cluster.create_znode("/brokers/topics/big", topic.to_string().as_bytes());
    for p in 0..PARTITIONS {
        cluster.wait_state("big", p, "every partition state", |l, isr| l == 1 && isr == [1, 2, 3]);
    }
    cluster.kill9(1);
    support::wait_until(WAIT, "every partition to move to broker 2", || {
        (0..PARTITIONS)
            .step_by(97)
            .chain([PARTITIONS - 1])
            .all(|p| cluster.state("big", p).is_some_and(|(l, _, isr)| l == 2 && isr == [2, 3]))
    });
    for p in 0..PARTITIONS {
        let (l, _, isr) = cluster.state("big", p).unwrap();
        assert_eq!((l, isr), (2, vec![2, 3]), "partition {p}");
    }
    // Broker 2 takes all of them up (its role changes run in parallel).
    support::wait_until(WAIT, "broker 2 to lead every partition", || {
        let log = cluster.server_log(2);
        let led: std::collections::HashSet<&str> = log
            .lines()
            .filter(|l| l.contains("became leader") && l.contains(" epoch=1 "))
            .filter_map(|l| l.split("partition=big-").nth(1)?.split(' ').next())
            .collect();
        led.len() == PARTITIONS as usize
    });
    let log = cluster.server_log(2);
    let line = log
        .lines()
        .find(|l| l.contains("controller: brokers [1] failed"))
        .unwrap_or_else(|| panic!("no failover line in the controller's log:\n{log}"));
    eprintln!("{line}");
    assert!(line.contains("wrote 1000 partition states in 1 multi(s)"), "{line}");
    let ms: f64 =
        line.split(" in ").nth(2).and_then(|s| s.split(" ms").next()).unwrap().parse().unwrap();
    // The target is well under 100 ms (a release build on an idle machine
    // takes a few); a debug build on a shared machine gets slack, while
    // the multis above already rule out a round trip per partition.
    assert!(ms < 1000.0, "1000 elections took {ms} ms: {line}");
}

#[test]
fn a_fenced_controller_writes_nothing_resigns_and_a_fresh_election_follows() {
    let mut cluster = Cluster::start(zk_harness::start_ours(""), &[1, 2, 3], &[]);
    cluster.topics(&["--create", "--topic", "f", "--replica-assignment", "2:3:1"]);
    cluster.wait_state("f", 0, "the partition state", |l, _| l == 2);
    // Another controller's election, as far as broker 1 can tell: the
    // epoch's zkVersion moves on behind its back.
    let epoch = cluster.controller_epoch();
    cluster.set_znode("/controller_epoch", (epoch + 5).to_string().as_bytes());
    cluster.kill9(2);
    support::wait_until(WAIT, "broker 1 to be fenced", || {
        cluster.server_log(1).contains("controller fenced (/controller_epoch moved on)")
    });
    support::wait_until(WAIT, "a fresh election above the foreign epoch", || {
        cluster.controller().is_some() && cluster.controller_epoch() > epoch + 5
    });
    cluster.wait_state("f", 0, "the new controller to move the leadership", |l, isr| {
        l == 3 && isr == [3, 1]
    });
    let s = cluster.json("/brokers/topics/f/partitions/0/state").unwrap();
    assert!(s["controller_epoch"].as_i64().unwrap() > i64::from(epoch + 5), "{s}");
}

#[test]
fn sigterm_moves_a_brokers_leaderships_before_it_exits() {
    let mut cluster = Cluster::start(zk_harness::start_ours(""), &[1, 2, 3], &[]);
    cluster.topics(&["--create", "--topic", "s", "--replica-assignment", "2:3:1,3:1:2,2:1:3"]);
    cluster.wait_state("s", 2, "partition states", |l, _| l == 2);
    let mut broker = cluster.brokers.remove(&2).unwrap();
    let status = broker.child.terminate(WAIT).unwrap();
    assert!(status.success(), "{status}");
    let log = broker.server_log();
    assert!(log.contains("Controlled shutdown request returned successfully"), "{log}");
    cluster.wait_state("s", 0, "t-0 led by 3", |l, isr| l == 3 && isr == [3, 1]);
    cluster.wait_state("s", 1, "2 out of s-1's ISR", |l, isr| l == 3 && isr == [3, 1]);
    cluster.wait_state("s", 2, "s-2 led by 1", |l, isr| l == 1 && isr == [1, 3]);
    // The moves happened while broker 2 was up: when its registration
    // went, the controller had nothing left to do.
    support::wait_until(WAIT, "the controller to see broker 2 go", || {
        cluster.server_log(1).contains("brokers [2] failed")
    });
    let controller_log = cluster.server_log(1);
    assert!(
        controller_log.contains(
            "controlled shutdown of broker 2: 3 leaderships moved or ISRs shrunk, 0 remain"
        ),
        "{controller_log}"
    );
    assert!(
        controller_log.contains("brokers [2] failed; wrote 0 partition states"),
        "{controller_log}"
    );
}

/// KIP-951: a broker that does not lead a partition answers Produce v10+
/// NOT_LEADER_OR_FOLLOWER with the leader, its epoch and its address on
/// the request's listener, whether it follows the partition (broker 2) or
/// does not host it at all (broker 3, Kafka's answer for a partition the
/// cluster has elsewhere); v9 answers carry neither.
#[test]
fn produce_v10_not_leader_names_the_current_leader_and_its_endpoint() {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
    use kafka_rs::record::{BatchBuilder, Compression, NewRecord};
    let cluster = Cluster::start(zk_harness::start_ours(""), &[1, 2, 3], &[]);
    cluster.topics(&["--create", "--topic", "redirect", "--replica-assignment", "1:2"]);
    cluster.wait_state("redirect", 0, "broker 1 to lead redirect-0", |l, _| l == 1);
    let (_, epoch, _) = cluster.state("redirect", 0).unwrap();
    let mut batch = BatchBuilder::new(Compression::None);
    batch.push(NewRecord::new(1_700_000_000_000, None, Some(b"v")));
    let records = bytes::Bytes::from(batch.build().unwrap());
    let mut req = ProduceRequest::default();
    req.acks = 1;
    req.timeout_ms = 30_000;
    req.topic_data = vec![TopicProduceData::default()
        .with_name(TopicName(kafka_protocol::protocol::StrBytes::from_static_str("redirect")))
        .with_partition_data(vec![PartitionProduceData::default()
            .with_index(0)
            .with_records(Some(records))])];
    for from in [2, 3] {
        let mut w = cluster.brokers[&from].wire();
        let mut resp = ProduceResponse::default();
        support::wait_until(WAIT, "a redirect to broker 1", || {
            resp = w.call(ApiKey::Produce, 10, &req);
            let p = &resp.responses[0].partition_responses[0];
            p.error_code == 6 && p.current_leader.leader_id.0 == 1
        });
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!(p.current_leader.leader_epoch, epoch, "from broker {from}");
        let endpoints: Vec<(i32, String)> = resp
            .node_endpoints
            .iter()
            .map(|e| (e.node_id.0, format!("{}:{}", e.host, e.port)))
            .collect();
        assert_eq!(endpoints, [(1, cluster.brokers[&1].addr())], "from broker {from}");
        let old: ProduceResponse = w.call(ApiKey::Produce, 9, &req);
        let p = &old.responses[0].partition_responses[0];
        assert_eq!(p.error_code, 6, "v9 from broker {from}");
        assert_eq!(p.current_leader, Default::default(), "v9 from broker {from}");
        assert!(old.node_endpoints.is_empty(), "v9 from broker {from}");
    }
    let resp: ProduceResponse = cluster.brokers[&1].wire().call(ApiKey::Produce, 10, &req);
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!((p.error_code, p.current_leader.leader_id.0), (0, -1), "the leader appends");
    assert!(resp.node_endpoints.is_empty());
}

fn leader_election(cluster: &Cluster, args: &[&str]) -> std::process::Output {
    let bootstrap = cluster.any_addr();
    let mut all = vec!["leader-election", "--bootstrap-server", bootstrap.as_str()];
    all.extend_from_slice(args);
    support::kafka_rs(&all, None, Duration::from_secs(30))
}

#[test]
fn leader_election_preferred_moves_leadership_back_after_the_preferred_broker_returns() {
    let mut cluster = Cluster::start(zk_harness::start_ours(""), &[3, 1, 2], &[]);
    cluster.topics(&["--create", "--topic", "p", "--replica-assignment", "1:2:3,1:2:3,2:1:3"]);
    cluster.wait_state("p", 1, "partition states", |l, _| l == 1);
    let dir = cluster.kill9(1);
    cluster.wait_state("p", 0, "broker 2 to take over", |l, isr| l == 2 && isr == [2, 3]);
    cluster.start_broker(1, Some(dir), &[]);
    cluster.wait_registered(&[1, 2, 3]);
    // Broker 1 rejoins the ISRs once it has caught up with broker 2.
    for p in [0, 1] {
        cluster.wait_state("p", p, "broker 1 back in the ISR", |l, isr| l == 2 && isr.contains(&1));
    }

    let out = leader_election(
        &cluster,
        &["--election-type", "PREFERRED", "--topic", "p", "--partition", "0"],
    );
    assert!(out.status.success(), "{}", support::stderr(&out));
    assert_eq!(
        support::stdout(&out),
        "Successfully completed leader election (PREFERRED) for partitions p-0\n"
    );
    let (leader, _, mut isr) = cluster.state("p", 0).unwrap();
    isr.sort();
    assert_eq!((leader, isr), (1, vec![1, 2, 3]), "the preferred replica leads, all in sync");

    // With broker 1 gone again its partitions cannot go back to it.
    let dir = cluster.kill9(1);
    cluster.wait_state("p", 0, "broker 2 to take over again", |l, _| l == 2);
    cluster.wait_state("p", 1, "broker 1 out of p-1's ISR", |_, isr| !isr.contains(&1));
    let out =
        leader_election(&cluster, &["--election-type", "preferred", "--all-topic-partitions"]);
    assert!(!out.status.success(), "p-0's and p-1's preferred replica is down");
    let stdout = support::stdout(&out);
    let unavailable = "org.apache.kafka.common.errors.PreferredLeaderNotAvailableException: \
                       The preferred leader was not available.";
    assert!(stdout.starts_with("Valid replica already elected for partitions p-2\n"), "{stdout}");
    for p in ["p-0", "p-1"] {
        let line = format!(
            "Error completing leader election (PREFERRED) for partition: {p}: {unavailable}\n"
        );
        assert!(stdout.contains(&line), "{stdout}");
    }
    assert!(
        support::stderr(&out).contains("2 replica(s) could not be elected"),
        "{}",
        support::stderr(&out)
    );

    // /admin/preferred_replica_election, as Kafka's older tools write it.
    cluster.start_broker(1, Some(dir), &[]);
    cluster.wait_registered(&[1, 2, 3]);
    cluster.wait_state("p", 1, "broker 1 back in p-1's ISR", |_, isr| isr.contains(&1));
    cluster.create_znode(
        "/admin/preferred_replica_election",
        br#"{"version":1,"partitions":[{"topic":"p","partition":1}]}"#,
    );
    cluster.wait_state("p", 1, "the znode's election", |l, _| l == 1);
    support::wait_until(WAIT, "the request znode to be removed", || {
        cluster.json("/admin/preferred_replica_election").is_none()
    });
}

#[test]
fn leader_election_unclean_elects_an_out_of_sync_replica_of_an_offline_partition() {
    let mut cluster = Cluster::start(zk_harness::start_ours(""), &[3, 1, 2], &[]);
    cluster.topics(&["--create", "--topic", "x", "--replica-assignment", "1:2"]);
    cluster.wait_state("x", 0, "the partition state", |l, isr| l == 1 && isr == [1, 2]);
    let behind = out_of_sync_then_leader_dies(&mut cluster, "x");
    cluster.start_broker(2, Some(behind), &[]);
    cluster.wait_registered(&[2, 3]);
    let out = leader_election(
        &cluster,
        &["--election-type", "UNCLEAN", "--topic", "x", "--partition", "0"],
    );
    assert!(out.status.success(), "{}", support::stderr(&out));
    assert_eq!(
        support::stdout(&out),
        "Successfully completed leader election (UNCLEAN) for partitions x-0\n"
    );
    assert_eq!(cluster.state("x", 0).map(|(l, _, isr)| (l, isr)), Some((2, vec![2])));
    let out = leader_election(
        &cluster,
        &["--election-type", "UNCLEAN", "--topic", "x", "--partition", "0"],
    );
    assert_eq!(support::stdout(&out), "Valid replica already elected for partitions x-0\n");
}

#[test]
fn auto_leader_rebalance_moves_leaders_back_to_preferred_replicas() {
    let fast = ["leader.imbalance.check.interval.seconds=1"];
    let mut cluster = Cluster::start(zk_harness::start_ours(""), &[3, 1, 2], &fast);
    cluster.topics(&["--create", "--topic", "r", "--replica-assignment", "1:2"]);
    cluster.wait_state("r", 0, "the partition state", |l, _| l == 1);
    let dir = cluster.kill9(1);
    cluster.wait_state("r", 0, "broker 2 to take over", |l, isr| l == 2 && isr == [2]);
    cluster.start_broker(1, Some(dir), &fast);
    cluster.wait_registered(&[1, 2, 3]);
    // Only a caught-up preferred replica gets its leadership back (the
    // rule itself is kafka_controller_auto_leader_rebalance_* in the
    // controller's tests): here broker 1 catches up, rejoins, and leads.
    cluster.wait_state("r", 0, "the periodic check to restore the preferred leader", |l, isr| {
        l == 1 && isr.contains(&2)
    });
}
