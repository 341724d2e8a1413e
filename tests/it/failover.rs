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
    pub fn set_isr(&self, topic: &str, p: i32, isr: &[i32]) {
        let path = format!("/brokers/topics/{topic}/partitions/{p}/state");
        let (d, stat) = self.rt.block_on(self.c.get_data(&path)).unwrap();
        let mut v: Value = serde_json::from_slice(&d).unwrap();
        v["isr"] = serde_json::json!(isr);
        self.rt
            .block_on(self.c.set_data(&path, v.to_string().as_bytes(), Some(stat.version)))
            .unwrap();
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

#[test]
fn unclean_leader_election_off_keeps_the_partition_offline_and_on_elects() {
    let mut cluster = Cluster::start(zk_harness::start_ours(""), &[3, 1, 2], &[]);
    cluster.topics(&["--create", "--topic", "u", "--replica-assignment", "1:2"]);
    cluster.wait_state("u", 0, "the partition state", |l, isr| l == 1 && isr == [1, 2]);
    // Broker 2 fell behind: its leader took it out of the ISR.
    cluster.set_isr("u", 0, &[1]);
    cluster.kill9(1);
    cluster.wait_state("u", 0, "the partition to go offline", |l, isr| l == -1 && isr == [1]);
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
    let log = cluster.server_log(2);
    let line = log
        .lines()
        .find(|l| l.contains("controller: brokers [1] failed"))
        .unwrap_or_else(|| panic!("no failover line in the controller's log:\n{log}"));
    eprintln!("{line}");
    assert!(line.contains("wrote 1000 partition states in 2 multi(s)"), "{line}");
    let ms: f64 =
        line.split(" in ").nth(2).and_then(|s| s.split(" ms").next()).unwrap().parse().unwrap();
    // The target is well under 100 ms (a release build on an idle machine
    // takes a few); a debug build on a shared machine gets slack, while
    // the multis above already rule out a round trip per partition.
    assert!(ms < 1000.0, "1000 elections took {ms} ms: {line}");
}
