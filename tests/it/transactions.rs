//! Transactions (KIP-98): the coordinator's answers to raw requests,
//! including bad ones, and real transactional clients (confluent-kafka):
//! commit and abort over several partitions seen through read_committed
//! and read_uncommitted, consume-transform-produce with offsets in the
//! transaction, zombie fencing, and a coordinator killed with kill -9
//! mid-transaction on a three-broker cluster.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, EndTxnRequest, EndTxnResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse,
    ProducerId, TopicName, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

use crate::broker_support::Broker;
use crate::replication::Cluster;
use crate::support::{self, python, run_with_timeout, stderr, stdout, ChildGuard};

pub const SINGLE: &[&str] = &[
    "offsets.topic.replication.factor=1",
    "transaction.state.log.replication.factor=1",
    "transaction.state.log.min.isr=1",
    "group.initial.rebalance.delay.ms=0",
];

fn script() -> String {
    support::repo().join("tests/interop/transactions_confluent.py").display().to_string()
}

pub fn run_scenario(scenario: &str, bootstrap: &str) -> String {
    let py = python().expect("checked by caller");
    let out = run_with_timeout(
        Command::new(py).arg(script()).arg(scenario).arg(bootstrap),
        None,
        Duration::from_secs(300),
    );
    assert!(out.status.success(), "{scenario} failed:\n{}\n{}", stdout(&out), stderr(&out));
    stdout(&out)
}

fn tid(s: &'static str) -> TransactionalId {
    TransactionalId(StrBytes::from_static_str(s))
}

/// InitProducerId for `id`, retried while the coordinator is found, its
/// topic created and its partition loaded, as clients retry.
fn init_producer_id(broker: &Broker, id: &'static str) -> (i64, i16) {
    let mut answer = None;
    support::wait_until(Duration::from_secs(60), "the transaction coordinator", || {
        let mut find = FindCoordinatorRequest::default();
        find.key = StrBytes::from_static_str(id);
        find.key_type = 1;
        let found: FindCoordinatorResponse = broker.wire().call(ApiKey::FindCoordinator, 3, &find);
        if found.error_code != 0 {
            return false;
        }
        let mut req = InitProducerIdRequest::default();
        req.transactional_id = Some(tid(id));
        req.transaction_timeout_ms = 60_000;
        let resp: InitProducerIdResponse = broker.wire().call(ApiKey::InitProducerId, 4, &req);
        match resp.error_code {
            0 => {
                answer = Some((resp.producer_id.0, resp.producer_epoch));
                true
            }
            // COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR, CONCURRENT_TRANSACTIONS
            14 | 15 | 16 | 51 => false,
            other => panic!("InitProducerId answered {other}"),
        }
    });
    answer.expect("answered")
}

fn end_txn(broker: &Broker, version: i16, id: &'static str, pid: i64, epoch: i16) -> i16 {
    let mut req = EndTxnRequest::default();
    req.transactional_id = tid(id);
    req.producer_id = ProducerId(pid);
    req.producer_epoch = epoch;
    req.committed = true;
    let resp: EndTxnResponse = broker.wire().call(ApiKey::EndTxn, version, &req);
    resp.error_code
}

#[test]
fn coordinator_answers_bad_requests_with_kafkas_error_codes() {
    let broker = Broker::start(SINGLE);
    let (pid, epoch) = init_producer_id(&broker, "tx-bad");
    assert_eq!(epoch, 0, "a new transactional id starts at epoch 0");
    let (pid2, epoch2) = init_producer_id(&broker, "tx-bad");
    assert_eq!((pid2, epoch2), (pid, 1), "the same id again bumps the epoch");

    let mut req = InitProducerIdRequest::default();
    req.transactional_id = Some(tid("tx-bad"));
    req.transaction_timeout_ms = 900_001;
    let resp: InitProducerIdResponse = broker.wire().call(ApiKey::InitProducerId, 4, &req);
    assert_eq!(resp.error_code, 50, "INVALID_TRANSACTION_TIMEOUT above transaction.max.timeout.ms");

    // "tx-unknown" lives on another __transaction_state partition, which
    // may still be loading (COORDINATOR_LOAD_IN_PROGRESS): clients retry.
    let mut code = 0;
    support::wait_until(Duration::from_secs(60), "tx-unknown's partition to load", || {
        code = end_txn(&broker, 3, "tx-unknown", 5, 0);
        code != 14 && code != 16
    });
    assert_eq!(code, 49, "INVALID_PRODUCER_ID_MAPPING");
    assert_eq!(end_txn(&broker, 3, "tx-bad", pid + 1, 1), 49, "another producer id");
    assert_eq!(end_txn(&broker, 3, "tx-bad", pid, 0), 90, "PRODUCER_FENCED for the old epoch");
    assert_eq!(end_txn(&broker, 1, "tx-bad", pid, 0), 47, "INVALID_PRODUCER_EPOCH before v2");
    assert_eq!(end_txn(&broker, 3, "tx-bad", pid, 1), 48, "INVALID_TXN_STATE: nothing to end");

    let mut add = AddPartitionsToTxnRequest::default();
    add.v3_and_below_transactional_id = tid("tx-bad");
    add.v3_and_below_producer_id = ProducerId(pid);
    add.v3_and_below_producer_epoch = 1;
    add.v3_and_below_topics = vec![AddPartitionsToTxnTopic::default()
        .with_name(TopicName(StrBytes::from_static_str("no-such-topic")))
        .with_partitions(vec![0])];
    let resp: AddPartitionsToTxnResponse = broker.wire().call(ApiKey::AddPartitionsToTxn, 3, &add);
    let code = resp.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code;
    assert_eq!(code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    assert_eq!(end_txn(&broker, 3, "tx-bad", pid, 1), 48, "the failed add opened nothing");
}

#[test]
fn confluent_commit_and_abort_over_two_partitions() {
    if python().is_none() {
        return;
    }
    let broker = Broker::start(SINGLE);
    let out = run_scenario("commit-abort", &broker.addr());
    assert!(out.contains("commit-abort ok"), "{out}");
    // kcat (librdkafka 2.0) in read_committed sees the same 15 committed
    // records, none of the aborted ones.
    let Some(kcat) = support::external_tool("kcat") else { return };
    let topic = out.lines().find_map(|l| l.strip_prefix("TOPIC ")).expect("the topic");
    let read = run_with_timeout(
        Command::new(kcat)
            .args(["-b", &broker.addr(), "-C", "-t", topic, "-o", "beginning", "-e"])
            .args(["-X", "isolation.level=read_committed", "-f", "%s\\n"]),
        None,
        Duration::from_secs(60),
    );
    let values = stdout(&read);
    let mut lines: Vec<&str> = values.lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 15, "{values}\n{}", stderr(&read));
    assert!(lines.iter().all(|l| !l.starts_with("ab-")), "aborted records: {values}");
}

#[test]
fn confluent_consume_transform_produce_commits_offsets_with_the_transaction() {
    if python().is_none() {
        return;
    }
    let broker = Broker::start(SINGLE);
    let out = run_scenario("ctp", &broker.addr());
    assert!(out.contains("ctp ok"), "{out}");
}

#[test]
fn confluent_zombie_producer_is_fenced() {
    if python().is_none() {
        return;
    }
    let broker = Broker::start(SINGLE);
    let out = run_scenario("zombie", &broker.addr());
    assert!(out.contains("zombie ok"), "{out}");
}

/// Kafka's `partitionFor`: abs(String.hashCode) % partitions.
fn partition_for(id: &str, partitions: i32) -> i32 {
    let h = id.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    (if h == i32::MIN { 0 } else { h.abs() }) % partitions
}

#[test]
fn confluent_transaction_survives_kill_9_of_its_coordinator() {
    let Some(py) = python() else { return };
    let mut cluster = Cluster::start(&[
        "offsets.topic.replication.factor=3",
        "transaction.state.log.replication.factor=3",
        "transaction.state.log.min.isr=2",
        "transaction.state.log.num.partitions=5",
        "group.initial.rebalance.delay.ms=0",
        "replica.lag.time.max.ms=5000",
    ]);
    // librdkafka logs a lot during a failover: a file, not a pipe nobody
    // drains.
    let logs = tempfile::tempdir().unwrap();
    let log_path = logs.path().join("client.log");
    let mut cmd = Command::new(py);
    cmd.arg(script())
        .arg("failover")
        .arg(cluster.bootstrap())
        .arg("3")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path).unwrap());
    let client_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let mut child = ChildGuard::spawn("failover client", &mut cmd);
    let process = child.child.as_mut().expect("running");
    let mut lines = BufReader::new(process.stdout.take().expect("piped")).lines();
    // The client prints OPEN once its transaction has records in the log.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.by_ref() {
            if tx.send(line.unwrap_or_default()).is_err() {
                return;
            }
        }
    });
    let open = rx
        .recv_timeout(Duration::from_secs(180))
        .unwrap_or_else(|_| panic!("no OPEN line: {}", client_log()));
    let id = open.strip_prefix("OPEN ").unwrap_or_else(|| panic!("unexpected line {open}"));
    let state_partition = partition_for(id, 5);
    let coordinator =
        cluster.partition_of("__transaction_state", state_partition).expect("described").leader;
    cluster.kill9(coordinator);
    let stdin = child.child.as_mut().and_then(|c| c.stdin.as_mut()).expect("piped");
    stdin.write_all(b"go\n").unwrap();
    let mut rest = Vec::new();
    support::wait_until(Duration::from_secs(240), "the client to finish", || {
        while let Ok(line) = rx.try_recv() {
            rest.push(line);
        }
        child.try_wait().is_some()
    });
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        rest.push(line);
    }
    let status = child.try_wait().expect("exited");
    assert!(
        status.success() && rest.iter().any(|l| l == "failover ok"),
        "{rest:?}\n{}",
        client_log()
    );
}

#[test]
fn transactions_cli_lists_and_describes_an_open_transaction() {
    if python().is_none() {
        return;
    }
    let broker = Broker::start(SINGLE);
    let out = run_scenario("open", &broker.addr());
    let open = out.lines().find_map(|l| l.strip_prefix("OPEN ")).unwrap_or_else(|| panic!("{out}"));
    let (id, topic) = open.split_once(' ').expect("id and topic");
    let cli = |args: &[&str]| {
        let mut all = vec!["transactions", "--bootstrap-server"];
        let addr = broker.addr();
        all.push(&addr);
        all.extend_from_slice(args);
        let out = support::kafka_rs(&all, None, Duration::from_secs(60));
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let cells = |line: &str| line.split('\t').map(str::trim).map(String::from).collect::<Vec<_>>();

    let list = cli(&["list"]);
    let mut lines = list.lines();
    assert_eq!(
        cells(lines.next().unwrap_or_default()),
        ["TransactionalId", "Coordinator", "ProducerId", "TransactionState", ""]
    );
    let row = lines.map(cells).find(|c| c[0] == id).unwrap_or_else(|| panic!("{list}"));
    assert_eq!(row[3], "Ongoing", "{list}");
    let producer_id = row[2].clone();

    let described = cli(&["describe", "--transactional-id", id]);
    let row = cells(described.lines().nth(1).unwrap_or_else(|| panic!("{described}")));
    assert_eq!((row[1].as_str(), row[4].as_str()), (id, "Ongoing"), "{described}");
    assert_eq!(row[2], producer_id);
    assert_eq!(row[8], format!("{topic}-0"), "the open transaction's partition");

    let producers = cli(&["describe-producers", "--topic", topic, "--partition", "0"]);
    let row = cells(producers.lines().nth(1).unwrap_or_else(|| panic!("{producers}")));
    assert_eq!(row[0], producer_id, "{producers}");
    // committed (0), its marker (1), aborted (2), its marker (3), open (4)
    assert_eq!(row[5], "4", "the open transaction starts at offset 4: {producers}");

    let unknown = support::kafka_rs(
        &[
            "transactions",
            "--bootstrap-server",
            &broker.addr(),
            "describe",
            "--transactional-id",
            "nope",
        ],
        None,
        Duration::from_secs(60),
    );
    assert!(!unknown.status.success(), "an unknown id is an error");
}
