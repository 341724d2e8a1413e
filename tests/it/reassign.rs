//! Partition reassignment (KIP-455) on three real brokers through
//! `kafka-rs reassign-partitions` (bin/kafka-reassign-partitions.sh):
//! moving a partition to other brokers while an acks=all producer keeps
//! going, raising a replication factor, cancelling a reassignment that
//! cannot finish, Kafka's `/admin/reassign_partitions` trigger, and a
//! reassignment that outlives its controller's `kill -9`.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::broker_configs;
use crate::failover::{partition_line, Cluster};
use crate::support;
use crate::zk_harness;

const WAIT: Duration = Duration::from_secs(60);

fn reassign(cluster: &Cluster, args: &[&str]) -> std::process::Output {
    let bootstrap = cluster.any_addr();
    let mut all = vec!["reassign-partitions", "--bootstrap-server", bootstrap.as_str()];
    all.extend_from_slice(args);
    support::kafka_rs(&all, None, Duration::from_secs(60))
}

fn reassign_ok(cluster: &Cluster, args: &[&str]) -> String {
    let out = reassign(cluster, args);
    assert!(out.status.success(), "reassign-partitions {args:?}: {}", support::stderr(&out));
    support::stdout(&out)
}

fn write_json(dir: &Path, name: &str, json: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, json).unwrap();
    path.display().to_string()
}

fn moving(topic: &str, replicas: &[i32]) -> String {
    let r: Vec<String> = replicas.iter().map(i32::to_string).collect();
    format!(
        r#"{{"version":1,"partitions":[{{"topic":"{topic}","partition":0,"replicas":[{}]}}]}}"#,
        r.join(",")
    )
}

/// `--verify` until the partition's reassignment is reported complete.
fn verify_until_complete(cluster: &Cluster, file: &str, topic: &str) -> String {
    let done = format!("Reassignment of partition {topic}-0 is completed.");
    let mut last = String::new();
    support::wait_until(WAIT, "--verify to report the reassignment complete", || {
        last = reassign_ok(cluster, &["--verify", "--reassignment-json-file", file]);
        assert!(last.starts_with("Status of partition reassignment:\n"), "{last}");
        last.contains(&done)
    });
    last
}

fn replicas_of(line: &str) -> String {
    line.split('\t').find_map(|f| f.trim().strip_prefix("Replicas: ")).unwrap_or("").to_string()
}

fn isr_of(line: &str) -> BTreeSet<String> {
    line.split('\t')
        .find_map(|f| f.trim().strip_prefix("Isr: "))
        .unwrap_or("")
        .split(',')
        .map(str::to_string)
        .collect()
}

fn consume(cluster: &Cluster, topic: &str) -> Vec<String> {
    let bootstrap = cluster.any_addr();
    let out = support::kafka_rs(
        &[
            "console-consumer",
            "--bootstrap-server",
            &bootstrap,
            "--topic",
            topic,
            "--from-beginning",
            "--timeout-ms",
            "10000",
        ],
        None,
        Duration::from_secs(120),
    );
    support::stdout(&out).lines().map(str::to_string).collect()
}

fn produce_lines(cluster: &Cluster, topic: &str, lines: &[String]) {
    let bootstrap = cluster.any_addr();
    let input = lines.join("\n") + "\n";
    let out = support::kafka_rs(
        &["console-producer", "--bootstrap-server", &bootstrap, "--topic", topic],
        Some(input.as_bytes()),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "console-producer: {}", support::stderr(&out));
}

/// An acks=all producer sending one record at a time until told to stop,
/// counting acknowledgements in `acks`; returns the values acknowledged.
fn acks_all_producer(
    bootstrap: String,
    topic: &'static str,
    stop: Arc<AtomicBool>,
    acks: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        use kafka_rs::client::producer::{Producer, ProducerConfig, ProducerRecord};
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let config = kafka_rs::client::ClientConfig::new(&bootstrap, "reassign-test").unwrap();
            let cluster = kafka_rs::client::Cluster::connect(config).await.unwrap();
            let producer_config = ProducerConfig { acks: -1, ..ProducerConfig::default() };
            let mut producer = Producer::new(cluster, producer_config).await.unwrap();
            producer.track_acks();
            let mut acked = Vec::new();
            let mut i: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                let value = format!("record-{i}");
                let record = ProducerRecord {
                    value: Some(value.as_bytes()),
                    partition: Some(0),
                    ..Default::default()
                };
                if producer.send(topic, record, i).await.is_ok() {
                    let _ = producer.flush().await;
                }
                acked.extend(producer.take_acked().into_iter().map(|(t, _)| format!("record-{t}")));
                acks.store(acked.len(), Ordering::Relaxed);
                i += 1;
            }
            acked
        })
    })
}

#[test]
fn reassignment_moves_a_partition_and_raises_a_replication_factor_while_acks_all_produces() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(zk_harness::start_ours(""), &[1, 2, 3], &[]);
    cluster.topics(&["--create", "--topic", "moving", "--replica-assignment", "1"]);
    cluster.topics(&["--create", "--topic", "grow", "--replica-assignment", "1"]);
    cluster.wait_state("moving", 0, "a leader for moving", |l, _| l == 1);
    cluster.wait_state("grow", 0, "a leader for grow", |l, _| l == 1);

    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(AtomicUsize::new(0));
    let producer = acks_all_producer(cluster.any_addr(), "moving", stop.clone(), acks.clone());
    support::wait_until(WAIT, "the first acknowledged records", || {
        acks.load(Ordering::Relaxed) >= 20
    });

    // --generate proposes a move of the topic onto brokers 2 and 3.
    let topics =
        write_json(dir.path(), "topics.json", r#"{"version":1,"topics":[{"topic":"moving"}]}"#);
    let out = reassign_ok(
        &cluster,
        &["--generate", "--topics-to-move-json-file", &topics, "--broker-list", "2,3"],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Current partition replica assignment", "{out}");
    assert_eq!(
        lines[1],
        r#"{"version":1,"partitions":[{"topic":"moving","partition":0,"replicas":[1],"log_dirs":["any"]}]}"#
    );
    assert_eq!((lines[2], lines[3]), ("", "Proposed partition reassignment configuration"));
    let proposed: serde_json::Value = serde_json::from_str(lines[4]).unwrap();
    let r = &proposed["partitions"][0]["replicas"];
    assert!(r == &serde_json::json!([2]) || r == &serde_json::json!([3]), "{out}");

    // The proposal (one replica) is a valid input; the test widens it to
    // both new brokers.
    let file = write_json(dir.path(), "move.json", &moving("moving", &[2, 3]));
    let out = reassign_ok(
        &cluster,
        &["--execute", "--reassignment-json-file", &file, "--throttle", "50000000"],
    );
    assert!(out.starts_with("Current partition replica assignment\n\n{\"version\":1,\"partitions\":[{\"topic\":\"moving\",\"partition\":0,\"replicas\":[1],\"log_dirs\":[\"any\"]}]}\n\nSave this to use as the --reassignment-json-file option during rollback\n"), "{out}");
    // The topics name the throttled replicas as Kafka's tool sets them:
    // current ones as leaders, moving ones as followers.
    let bootstrap = cluster.any_addr();
    let configs = support::kafka_rs(
        &[
            "configs",
            "--bootstrap-server",
            &bootstrap,
            "--describe",
            "--entity-type",
            "topics",
            "--entity-name",
            "moving",
        ],
        None,
        Duration::from_secs(60),
    );
    let configs = support::stdout(&configs);
    assert!(configs.contains("leader.replication.throttled.replicas=0:1"), "{configs}");
    assert!(configs.contains("follower.replication.throttled.replicas=0:2,0:3"), "{configs}");
    assert!(out.ends_with("Successfully started partition reassignment for moving-0\n"), "{out}");
    let status = verify_until_complete(&cluster, &file, "moving");
    assert!(status.contains("Clearing topic-level throttles on topic moving"), "{status}");

    let described = cluster.wait_describe("moving", "replicas 2,3 all in sync", |d| {
        let line = partition_line(d, 0);
        replicas_of(line) == "2,3"
            && isr_of(line) == ["2", "3"].map(String::from).into()
            && !line.contains("Adding Replicas")
    });
    let line = partition_line(&described, 0);
    assert!(line.contains("Leader: 2\t") || line.contains("Leader: 3\t"), "{described}");
    support::wait_until(WAIT, "broker 1 to delete its replica's log", || {
        !cluster.brokers[&1].data_dir().join("moving-0").exists()
    });
    for b in [2, 3] {
        assert!(cluster.brokers[&b].data_dir().join("moving-0").exists(), "broker {b}");
    }

    // The producer kept going throughout: let it ack on the new leader too.
    let before = acks.load(Ordering::Relaxed);
    support::wait_until(WAIT, "acknowledged records after the move", || {
        acks.load(Ordering::Relaxed) >= before + 20
    });
    stop.store(true, Ordering::Relaxed);
    let acked = producer.join().unwrap();
    assert!(!acked.is_empty());
    let consumed: BTreeSet<String> = consume(&cluster, "moving").into_iter().collect();
    let lost: Vec<&String> = acked.iter().filter(|v| !consumed.contains(*v)).collect();
    if !lost.is_empty() {
        // Which broker acknowledged them, and what each knew of the
        // partition's leadership and ISR at the time, is only in the logs.
        for (id, b) in &cluster.brokers {
            eprintln!("--- broker {id} server.log\n{}", b.server_log());
        }
    }
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged records lost: {lost:?}",
        lost.len(),
        acked.len()
    );

    // Replication factor 1 -> 3: the leader stays, nothing is removed.
    produce_lines(&cluster, "grow", &(0..50).map(|i| format!("g{i}")).collect::<Vec<_>>());
    let file = write_json(dir.path(), "grow.json", &moving("grow", &[1, 2, 3]));
    let out = reassign_ok(&cluster, &["--execute", "--reassignment-json-file", &file]);
    assert!(out.ends_with("Successfully started partition reassignment for grow-0\n"), "{out}");
    verify_until_complete(&cluster, &file, "grow");
    cluster.wait_describe("grow", "three replicas in sync", |d| {
        let line = partition_line(d, 0);
        replicas_of(line) == "1,2,3" && isr_of(line).len() == 3 && line.contains("Leader: 1\t")
    });
    for b in [1, 2, 3] {
        assert!(cluster.brokers[&b].data_dir().join("grow-0").exists(), "broker {b}");
    }
    assert_eq!(consume(&cluster, "grow").len(), 50);
    assert_eq!(reassign_ok(&cluster, &["--list"]), "No partition reassignments found.\n");
    kafkas_error_codes_on_the_wire(&cluster);
}

/// The codes Kafka's ZooKeeper-mode brokers answer: NOT_CONTROLLER (41) at
/// the top level away from the controller; per partition
/// UNKNOWN_TOPIC_OR_PARTITION (3), INVALID_REPLICA_ASSIGNMENT (39) and
/// NO_REASSIGNMENT_IN_PROGRESS (85) from it.
fn kafkas_error_codes_on_the_wire(cluster: &Cluster) {
    use kafka_protocol::messages::alter_partition_reassignments_request::{
        ReassignablePartition, ReassignableTopic,
    };
    use kafka_protocol::messages::{
        AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ApiKey, BrokerId,
        ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
    };
    use kafka_protocol::protocol::StrBytes;
    let controller = cluster.controller().unwrap();
    let other = [1, 2, 3].into_iter().find(|b| *b != controller).unwrap();
    let partition = |index: i32, replicas: Option<Vec<i32>>| {
        ReassignablePartition::default()
            .with_partition_index(index)
            .with_replicas(replicas.map(|r| r.into_iter().map(BrokerId).collect()))
    };
    let topic = |name: &str, partitions| {
        ReassignableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.to_string())))
            .with_partitions(partitions)
    };
    let req =
        AlterPartitionReassignmentsRequest::default().with_timeout_ms(30_000).with_topics(vec![
            topic(
                "grow",
                vec![partition(0, None), partition(1, Some(vec![1])), partition(0, Some(vec![]))],
            ),
            topic("nope", vec![partition(0, Some(vec![1]))]),
        ]);
    let resp: AlterPartitionReassignmentsResponse =
        cluster.brokers[&other].wire().call(ApiKey::AlterPartitionReassignments, 0, &req);
    assert_eq!((resp.error_code, resp.responses.len()), (41, 0), "{resp:?}");
    let list = ListPartitionReassignmentsRequest::default().with_timeout_ms(30_000);
    let listed: ListPartitionReassignmentsResponse =
        cluster.brokers[&other].wire().call(ApiKey::ListPartitionReassignments, 0, &list);
    assert_eq!(listed.error_code, 41);

    let resp: AlterPartitionReassignmentsResponse =
        cluster.brokers[&controller].wire().call(ApiKey::AlterPartitionReassignments, 0, &req);
    assert_eq!(resp.error_code, 0, "{resp:?}");
    let mut codes: Vec<(String, i32, i16)> = resp
        .responses
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| (t.name.0.to_string(), p.partition_index, p.error_code))
        })
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        vec![
            ("grow".to_string(), 0, 39),
            ("grow".to_string(), 0, 85),
            ("grow".to_string(), 1, 3),
            ("nope".to_string(), 0, 3),
        ],
        "{resp:?}"
    );
    let listed: ListPartitionReassignmentsResponse =
        cluster.brokers[&controller].wire().call(ApiKey::ListPartitionReassignments, 0, &list);
    assert_eq!((listed.error_code, listed.topics.len()), (0, 0));
}

#[test]
fn reassignment_cancel_znode_trigger_and_controller_failover_on_our_zookeeper() {
    cancel_znode_trigger_and_controller_failover(zk_harness::start_ours(""));
}

#[test]
fn reassignment_cancel_znode_trigger_and_controller_failover_on_apache_zookeeper() {
    let Some(zk) = zk_harness::start_apache("") else { return };
    cancel_znode_trigger_and_controller_failover(zk);
}

fn cancel_znode_trigger_and_controller_failover(zk: zk_harness::ZkServer) {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(zk, &[1, 2, 3], &[]);
    assert_eq!(cluster.controller(), Some(1));
    for t in ["stuck", "survive"] {
        cluster.topics(&["--create", "--topic", t, "--replica-assignment", "2"]);
        cluster.wait_state(t, 0, "a leader", |l, _| l == 2);
    }
    let records: Vec<String> = (0..100).map(|i| format!("s{i}")).collect();
    produce_lines(&cluster, "survive", &records);
    produce_lines(&cluster, "stuck", &records[..10]);

    let broker3 = cluster.kill9(3);
    support::wait_until(WAIT, "broker 3's registration to go", || {
        cluster.json("/brokers/ids/3").is_none()
    });

    // The API refuses a target naming a broker that is not alive.
    let stuck = write_json(dir.path(), "stuck.json", &moving("stuck", &[3]));
    let out = reassign(&cluster, &["--execute", "--reassignment-json-file", &stuck]);
    assert!(!out.status.success());
    assert!(support::stderr(&out).contains("not alive"), "{}", support::stderr(&out));

    // Kafka's ZooKeeper-era trigger never checked; both start and wait
    // for broker 3.
    cluster.create_znode(
        "/admin/reassign_partitions",
        br#"{"version":1,"partitions":[{"topic":"stuck","partition":0,"replicas":[3]},{"topic":"survive","partition":0,"replicas":[2,3]}]}"#,
    );
    let mut listed = String::new();
    support::wait_until(WAIT, "--list to show both reassignments", || {
        listed = reassign_ok(&cluster, &["--list"]);
        listed.lines().count() == 3
    });
    assert_eq!(
        listed,
        "Current partition reassignments:\nstuck-0: replicas: 3,2. adding: 3. removing: 2.\n\
         survive-0: replicas: 2,3. adding: 3.\n"
    );
    let d = cluster.topics(&["--describe", "--topic", "stuck"]);
    let line = partition_line(&d, 0);
    assert!(line.contains("Replicas: 3,2\t"), "{d}");
    assert!(line.contains("\tAdding Replicas: 3\tRemoving Replicas: 2"), "{d}");
    let out = reassign_ok(&cluster, &["--verify", "--reassignment-json-file", &stuck]);
    assert_eq!(
        out,
        "Status of partition reassignment:\nReassignment of partition stuck-0 is still in progress.\n"
    );

    let out = reassign_ok(&cluster, &["--cancel", "--reassignment-json-file", &stuck]);
    assert!(
        out.starts_with("Successfully cancelled partition reassignment for: stuck-0\n"),
        "{out}"
    );
    cluster.wait_describe("stuck", "the original replicas back", |d| {
        replicas_of(partition_line(d, 0)) == "2"
    });
    let out = reassign_ok(&cluster, &["--cancel", "--reassignment-json-file", &stuck]);
    assert!(
        out.starts_with("None of the specified partition reassignments are active.\n"),
        "{out}"
    );
    assert_eq!(consume(&cluster, "stuck").len(), 10);

    // The controller dies mid-way; its successor resumes from the znodes.
    cluster.kill9(1);
    support::wait_until(WAIT, "a new controller", || cluster.controller().is_some_and(|c| c != 1));
    cluster.start_broker(3, Some(broker3), &[]);
    let survive = write_json(dir.path(), "survive.json", &moving("survive", &[2, 3]));
    verify_until_complete(&cluster, &survive, "survive");
    cluster.wait_describe("survive", "replicas 2,3 in sync", |d| {
        let line = partition_line(d, 0);
        replicas_of(line) == "2,3" && isr_of(line) == ["2", "3"].map(String::from).into()
    });
    support::wait_until(WAIT, "/admin/reassign_partitions to be deleted once done", || {
        cluster.json("/admin/reassign_partitions").is_none()
    });
    let consumed: BTreeSet<String> = consume(&cluster, "survive").into_iter().collect();
    assert_eq!(consumed, records.iter().cloned().collect());
}

/// `--throttle` really limits the copy (Kafka's replication quotas): a
/// moving replica of about 4 MB at 200 KB/s cannot be complete before
/// (bytes - one fetch) / rate, whatever the machine's load, since load
/// only slows it further; raising the rate on the brokers lets it finish,
/// `--verify` then clears every throttle, and nothing acknowledged is lost.
#[test]
fn throttled_reassignment_is_held_to_its_rate_until_the_throttle_is_raised() {
    const RATE: u64 = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(zk_harness::start_ours(""), &[1, 2, 3], &[]);
    cluster.topics(&["--create", "--topic", "throttled", "--replica-assignment", "1"]);
    cluster.wait_state("throttled", 0, "a leader for throttled", |l, _| l == 1);
    let padding = "x".repeat(1000);
    let records: Vec<String> = (0..4000).map(|i| format!("{i:06}-{padding}")).collect();
    produce_lines(&cluster, "throttled", &records);
    let log_bytes: u64 = std::fs::read_dir(cluster.brokers[&1].data_dir().join("throttled-0"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    // Either side may overshoot its bucket by one fetch: up to
    // replica.fetch.max.bytes (1 MiB) plus one batch.
    let one_fetch = 1_048_576 + 65_536;
    let bound = Duration::from_secs_f64(log_bytes.saturating_sub(one_fetch) as f64 / RATE as f64);
    assert!(bound >= Duration::from_secs(10), "{log_bytes} bytes make too short a test");

    let file = write_json(dir.path(), "throttled.json", &moving("throttled", &[3]));
    let started = std::time::Instant::now();
    let out = reassign_ok(
        &cluster,
        &["--execute", "--reassignment-json-file", &file, "--throttle", &RATE.to_string()],
    );
    assert!(out.contains("\nThe inter-broker throttle limit was set to 200000 B/s\n"), "{out}");
    let mut in_progress_seen = 0;
    while started.elapsed() < bound / 2 {
        let listed = reassign_ok(&cluster, &["--list"]);
        let at = started.elapsed();
        if listed.contains("throttled-0: replicas: 3,1. adding: 3. removing: 1.") {
            in_progress_seen += 1;
        } else {
            assert!(at >= bound, "complete after {at:?}, below the throttle's {bound:?}: {listed}");
        }
    }
    assert!(in_progress_seen > 0, "the reassignment was never seen in progress");

    for b in ["1", "3"] {
        let rates = "leader.replication.throttled.rate=100000000,\
                     follower.replication.throttled.rate=100000000";
        broker_configs::alter_broker(&cluster, b, "--add-config", rates);
    }
    let status = verify_until_complete(&cluster, &file, "throttled");
    assert!(status.contains("\nClearing broker-level throttles on brokers 1,2,3\n"), "{status}");
    assert!(status.contains("\nClearing topic-level throttles on topic throttled\n"), "{status}");
    for b in ["1", "3"] {
        let described = broker_configs::describe_broker(&cluster, b, false);
        assert_eq!(described, format!("Dynamic configs for broker {b} are:\n"));
    }
    cluster
        .wait_describe("throttled", "broker 3 alone", |d| replicas_of(partition_line(d, 0)) == "3");
    let consumed = consume(&cluster, "throttled");
    assert_eq!(consumed.len(), records.len());
    assert!(consumed == records, "every acknowledged record, in order, from broker 3");
}
