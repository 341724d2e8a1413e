//! Failover between real brokers: the seed quickstart's multi-node part
//! through bin/*.sh and config/server*.properties (free ports and temp dirs
//! through `--override`), confluent-kafka's idempotent producer across
//! repeated `kill -9` of leaders, and min.insync.replicas with brokers down.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::broker_bad_input::{batch, produce_within as produce};
use crate::broker_support::Wire;
use crate::cli_topics::{ok, script};
use crate::replication::{Cluster, Described};
use crate::support::{self, ChildGuard};
use crate::zk_harness;

const T: Duration = Duration::from_secs(60);

/// One broker of the quickstart: `bin/kafka-server-start.sh <config>`.
struct Node {
    config: &'static str,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<ChildGuard>,
}

impl Node {
    fn start(&mut self, zk: u16) {
        let mut cmd = Command::new(support::repo().join("bin/kafka-server-start.sh"));
        cmd.arg(support::repo().join("config").join(self.config))
            .args(["--override", &format!("listeners=PLAINTEXT://127.0.0.1:{}", self.port)])
            .args(["--override", &format!("log.dirs={}", self.dir.path().join("data").display())])
            .args(["--override", &format!("zookeeper.connect=127.0.0.1:{zk}")])
            // Kafka's 18 s session would only make the test slower.
            .args(["--override", "zookeeper.session.timeout.ms=6000"])
            .env("KAFKA_RS_BIN", support::bin())
            .env("LOG_DIR", self.dir.path().join("logs"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.child = Some(ChildGuard::spawn(self.config, &mut cmd));
        support::wait_for_port(self.port, Duration::from_secs(20));
    }
}

fn describe(zk: &str, topic: &str) -> (String, Option<Described>) {
    let out =
        ok(&script("kafka-topics.sh", &["--describe", "--zookeeper", zk, "--topic", topic], None));
    let p = out.lines().find(|l| l.contains("Partition: 0")).map(Described::parse);
    (out, p)
}

fn wait_described(
    zk: &str,
    topic: &str,
    what: &str,
    cond: impl Fn(&Described) -> bool,
) -> Described {
    let mut last = String::new();
    let deadline = std::time::Instant::now() + T;
    while std::time::Instant::now() < deadline {
        let (out, p) = describe(zk, topic);
        if let Some(p) = p.filter(|p| cond(p)) {
            return p;
        }
        last = out;
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{what}: last --describe was\n{last}");
}

fn consume_all(zk: &str, topic: &str, n: usize) -> String {
    ok(&script(
        "kafka-console-consumer.sh",
        &[
            "--zookeeper",
            zk,
            "--topic",
            topic,
            "--from-beginning",
            "--max-messages",
            &n.to_string(),
            "--timeout-ms",
            "30000",
        ],
        None,
    ))
}

#[test]
fn seed_quickstart_multi_node_failover() {
    let zk_dir = tempfile::tempdir().unwrap();
    let zk_port = support::free_port();
    let props = std::fs::read_to_string(support::repo().join("config/zookeeper.properties"))
        .unwrap()
        .replace(
            "dataDir=/tmp/zookeeper",
            &format!("dataDir={}", zk_dir.path().join("zk").display()),
        )
        .replace("clientPort=2181", &format!("clientPort={zk_port}"));
    let zk_props: PathBuf = zk_dir.path().join("zookeeper.properties");
    std::fs::write(&zk_props, props).unwrap();
    let _zk = ChildGuard::spawn(
        "zookeeper",
        Command::new(support::repo().join("bin/zookeeper-server-start.sh"))
            .arg(&zk_props)
            .env("KAFKA_RS_BIN", support::bin())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    support::wait_for_port(zk_port, Duration::from_secs(20));
    let zk = format!("127.0.0.1:{zk_port}");
    let mut nodes: Vec<Node> = ["server.properties", "server-1.properties", "server-2.properties"]
        .into_iter()
        .map(|config| Node {
            config,
            port: support::free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
        })
        .collect();
    for n in &mut nodes {
        n.start(zk_port);
    }
    // Brokers 0, 1, 2 as the config files number them.
    let node_of = |id: i32| id as usize;

    let topic = "my-replicated-topic";
    support::wait_until(T, "three brokers to register", || {
        let out = script(
            "kafka-topics.sh",
            &[
                "--create",
                "--zookeeper",
                &zk,
                "--replication-factor",
                "3",
                "--partitions",
                "1",
                "--topic",
                topic,
            ],
            None,
        );
        out.status.success()
    });
    let all = wait_described(&zk, topic, "three replicas all in the ISR", |p| {
        p.leader >= 0 && p.replicas.len() == 3 && p.isr.len() == 3
    });
    let (out, _) = describe(&zk, topic);
    assert!(out.contains("PartitionCount: 1") && out.contains("ReplicationFactor: 3"), "{out}");

    let messages: Vec<String> = (0..100).map(|i| format!("my test message {i}")).collect();
    let input = messages.join("\n") + "\n";
    let broker_list = format!("127.0.0.1:{}", nodes[0].port);
    ok(&script(
        "kafka-console-producer.sh",
        &["--broker-list", &broker_list, "--topic", topic],
        Some(input.as_bytes()),
    ));
    assert_eq!(consume_all(&zk, topic, messages.len()), input);
    wait_described(&zk, topic, "the ISR to stay full after producing", |p| p.isr.len() == 3);

    // kill -9 of the leader.
    let old = all.leader;
    nodes[node_of(old)].child.as_mut().unwrap().kill9();
    let after = wait_described(&zk, topic, "a new leader without the dead broker", |p| {
        p.leader >= 0 && p.leader != old && !p.isr.contains(&old)
    });
    assert_eq!(after.replicas, all.replicas, "the assignment is unchanged");
    assert_eq!(after.isr.len(), 2);
    assert_eq!(consume_all(&zk, topic, messages.len()), input, "every message survives");

    // The dead broker comes back and catches up.
    nodes[node_of(old)].start(zk_port);
    wait_described(&zk, topic, "the restarted broker back in the ISR", |p| {
        p.isr.contains(&old) && p.isr.len() == 3
    });
}

#[test]
fn idempotent_producer_loses_and_duplicates_nothing_across_leader_kills() {
    let Some(py) = support::python() else { return };
    let cluster = Cluster::start(&["replica.lag.time.max.ms=5000"]);
    produce_across_leader_kills(&py, cluster, "failover-idem", 3, 3);
}

/// The seed quickstart's failover on Apache ZooKeeper (Debian's package)
/// instead of our coordinator: three brokers, a topic with three
/// replicas, `kill -9` of its leader while confluent-kafka produces with
/// acks=all; no acknowledged record is lost.
#[test]
fn quickstart_failover_on_apache_zookeeper_loses_no_acknowledged_record() {
    let Some(py) = support::python() else { return };
    let Some(zk) = zk_harness::start_apache("") else { return };
    let cluster = Cluster::start_on(zk, &["replica.lag.time.max.ms=5000"]);
    produce_across_leader_kills(&py, cluster, "my-replicated-topic", 1, 2);
}

/// confluent-kafka's idempotent acks=all producer on `topic` while the
/// leader of one of its partitions is killed with `kill -9`, `rounds`
/// times (each time the dead broker returns and catches up); then every
/// acknowledged record is there once, in order.
fn produce_across_leader_kills(
    py: &Path,
    mut cluster: Cluster,
    topic: &str,
    partitions: i32,
    rounds: i32,
) {
    cluster.topics(&[
        "--create",
        "--topic",
        topic,
        "--partitions",
        &partitions.to_string(),
        "--replication-factor",
        "3",
    ]);
    for p in 0..partitions {
        cluster.wait_isr_of(topic, p, &[1, 2, 3], T);
    }
    let work = tempfile::tempdir().unwrap();
    let acked = work.path().join("acked.txt");
    let stop = work.path().join("stop");
    let script = support::repo().join("tests/interop/failover_confluent.py");
    let mut producer = ChildGuard::spawn(
        "failover producer",
        Command::new(py)
            .arg(&script)
            .args(["produce", &cluster.bootstrap(), topic, &partitions.to_string()])
            .arg(&acked)
            .arg(&stop)
            // Files, not pipes: librdkafka's reconnect logs would fill a
            // pipe nobody reads and stall the producer.
            .stdout(std::fs::File::create(work.path().join("producer.out")).unwrap())
            .stderr(std::fs::File::create(work.path().join("producer.err")).unwrap()),
    );
    let producer_output = || {
        let read = |n: &str| std::fs::read_to_string(work.path().join(n)).unwrap_or_default();
        (read("producer.out"), read("producer.err"))
    };
    let acked_lines = || std::fs::read_to_string(&acked).map_or(0, |s| s.lines().count());
    support::wait_until(T, "the producer to get acks", || acked_lines() > 500);
    for round in 0..rounds {
        let leader = cluster.partition_of(topic, round % partitions).unwrap().leader;
        let before = acked_lines();
        cluster.kill9(leader);
        let deadline = std::time::Instant::now() + T;
        while acked_lines() <= before + 500 {
            if std::time::Instant::now() > deadline {
                let described = cluster.topics(&["--describe", "--topic", topic]);
                let (out, err) = producer_output();
                panic!(
                    "round {round}: acks stopped after killing broker {leader} ({before} acked)\n\
                     {described}\n{out}\n{err}"
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        cluster.restart(leader);
        for p in 0..partitions {
            cluster.wait_isr_of(topic, p, &[1, 2, 3], T);
        }
    }
    std::fs::write(&stop, b"").unwrap();
    support::wait_until(Duration::from_secs(120), "the producer to finish", || {
        producer.try_wait().is_some()
    });
    let (out, err) = producer_output();
    assert!(out.contains(" 0 unflushed"), "{out}\n{err}");
    let verified = support::run_with_timeout(
        Command::new(py)
            .arg(&script)
            .args(["verify", &cluster.bootstrap(), topic, &partitions.to_string()])
            .arg(&acked),
        None,
        Duration::from_secs(120),
    );
    let text = support::stdout(&verified);
    assert!(
        verified.status.success() && text.contains("verify ok"),
        "{text}\n{}",
        support::stderr(&verified)
    );
    eprintln!("{}{}", out, text);
}

#[test]
fn min_insync_replicas_with_two_brokers_down() {
    let mut cluster = Cluster::start(&["replica.lag.time.max.ms=2000"]);
    cluster.create("two-down", &["--config", "min.insync.replicas=2"]);
    let described = cluster.wait_isr_everywhere("two-down", &[1, 2, 3], T);
    let leader = described.leader;
    let others: Vec<i32> = described.replicas.iter().copied().filter(|&r| r != leader).collect();
    let mut wire: Wire = cluster.broker(leader).wire();
    assert_eq!(produce(&mut wire, "two-down", -1, 30_000, batch(&[b"all three"])).0, 0);
    for &o in &others {
        cluster.kill9(o);
    }
    assert_eq!(produce(&mut wire, "two-down", 1, 30_000, batch(&[b"acks=1"])).0, 0);
    cluster.wait_isr("two-down", &[leader], T);
    let (code, _) = produce(&mut wire, "two-down", -1, 30_000, batch(&[b"refused"]));
    assert_eq!(code, 19, "NOT_ENOUGH_REPLICAS with two brokers down");
    let (code, _) = produce(&mut wire, "two-down", 1, 30_000, batch(&[b"still served"]));
    assert_eq!(code, 0, "acks=1 is still served");
    for &o in &others {
        cluster.restart(o);
    }
    cluster.wait_isr("two-down", &[1, 2, 3], T);
    assert_eq!(produce(&mut wire, "two-down", -1, 30_000, batch(&[b"back"])).0, 0);
}
