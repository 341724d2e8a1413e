//! Transactions (KIP-98): the coordinator's answers to raw requests,
//! including bad ones, and real transactional clients (confluent-kafka):
//! commit and abort over several partitions seen through read_committed
//! and read_uncommitted, consume-transform-produce with offsets in the
//! transaction, zombie fencing, and a coordinator killed with kill -9
//! mid-transaction on a three-broker cluster; kafka-python's transactional
//! producer and read_committed consumer across a kill -9 of the broker.

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

/// Runs tests/interop/transactions_kafka_python.py with `args`.
fn kafka_python(args: &[&str]) -> String {
    let py = python().expect("checked by caller");
    let script = support::repo().join("tests/interop/transactions_kafka_python.py");
    let out =
        run_with_timeout(Command::new(py).arg(script).args(args), None, Duration::from_secs(300));
    assert!(out.status.success(), "{args:?} failed:\n{}\n{}", stdout(&out), stderr(&out));
    stdout(&out)
}

/// kafka-python commits (with consumer offsets) and aborts over two
/// partitions whose small segments roll inside transactions; read_committed
/// sees only the committed records, in order, before and after a kill -9
/// of the broker, which rebuilds the state from its producer snapshots and
/// transaction indexes (dump-log decodes them).
#[test]
fn kafka_python_commit_and_abort_survive_kill_9_of_the_broker() {
    if python().is_none() {
        return;
    }
    let topic = "kp-txn";
    let broker = Broker::start(SINGLE);
    let out = kafka_python(&["write", &broker.addr(), topic]);
    assert!(out.contains("write ok"), "{out}");
    let check = |broker: &Broker| {
        let committed = kafka_python(&["read", &broker.addr(), topic, "read_committed"]);
        assert!(committed.contains("VALUES 60 ABORTED 0 ORDERED yes"), "{committed}");
        assert!(committed.contains("COMMITTED 6"), "offsets sent with the commits: {committed}");
        let all = kafka_python(&["read", &broker.addr(), topic, "read_uncommitted"]);
        assert!(all.contains("VALUES 90 ABORTED 30 ORDERED yes"), "{all}");
    };
    check(&broker);
    let broker = Broker::start_in(broker.kill9(), SINGLE);
    check(&broker);
    let dir = broker.data_dir().join(format!("{topic}-0"));
    let files = |ext: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path().display().to_string())
            .filter(|p| p.ends_with(ext))
            .collect();
        v.sort();
        v
    };
    assert!(!files(".snapshot").is_empty(), "snapshots at the rolls");
    let out = run_with_timeout(
        Command::new(support::bin()).args(["dump-log", "--files", &files(".txnindex").join(",")]),
        None,
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let dump = stdout(&out);
    let aborts = dump.lines().filter(|l| l.starts_with("version: 0 producerId: ")).count();
    assert_eq!(aborts, 6, "one entry per aborted transaction on the partition:\n{dump}");
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

/// Raw-protocol steps of a transaction on a cluster, each sent to the
/// coordinator FindCoordinator names and retried on the errors clients
/// retry (loading, not coordinator, concurrent transactions).
mod raw {
    use std::time::Duration;

    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
    use kafka_protocol::messages::txn_offset_commit_request::{
        TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::{
        AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, ApiKey, EndTxnRequest, EndTxnResponse,
        FindCoordinatorRequest, FindCoordinatorResponse, GroupId, InitProducerIdRequest,
        InitProducerIdResponse, OffsetFetchRequest, OffsetFetchResponse, ProducerId, TopicName,
        TransactionalId, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
    };
    use kafka_protocol::protocol::StrBytes;

    use crate::replication::Cluster;
    use crate::support;

    pub const T: Duration = Duration::from_secs(60);

    fn s(v: &str) -> StrBytes {
        StrBytes::from_string(v.to_string())
    }

    /// The live broker coordinating `key` (key type 0: group, 1:
    /// transactional id), asked of every running broker in turn.
    pub fn coordinator(cluster: &Cluster, key: &str, key_type: i8, not: i32) -> i32 {
        let mut found = -1;
        support::wait_until(T, &format!("a live coordinator of {key}"), || {
            cluster.running().any(|b| {
                let mut req = FindCoordinatorRequest::default();
                req.key = s(key);
                req.key_type = key_type;
                let resp: FindCoordinatorResponse = b.wire().call(ApiKey::FindCoordinator, 3, &req);
                found = resp.node_id.0;
                resp.error_code == 0
                    && found != not
                    && cluster.running().any(|r| r.addr().ends_with(&format!(":{}", resp.port)))
            })
        });
        found
    }

    /// Sends `call` to the coordinator of `key` until it answers something
    /// other than a retriable error; returns that error code and answer.
    fn retried<R>(
        cluster: &Cluster,
        key: &str,
        key_type: i8,
        mut call: impl FnMut(&crate::broker_support::Broker) -> (i16, R),
    ) -> (i16, R) {
        let mut answer = None;
        support::wait_until(T, &format!("an answer from the coordinator of {key}"), || {
            let node = coordinator(cluster, key, key_type, -1);
            let (code, r) = call(cluster.broker(node));
            // COORDINATOR_LOAD_IN_PROGRESS, _NOT_AVAILABLE, NOT_COORDINATOR,
            // CONCURRENT_TRANSACTIONS
            if matches!(code, 14 | 15 | 16 | 51) {
                return false;
            }
            answer = Some((code, r));
            true
        });
        answer.expect("answered")
    }

    pub fn init(cluster: &Cluster, id: &str) -> (i64, i16) {
        let (code, r) = retried(cluster, id, 1, |b| {
            let mut req = InitProducerIdRequest::default();
            req.transactional_id = Some(TransactionalId(s(id)));
            req.transaction_timeout_ms = 120_000;
            let resp: InitProducerIdResponse = b.wire().call(ApiKey::InitProducerId, 4, &req);
            (resp.error_code, (resp.producer_id.0, resp.producer_epoch))
        });
        assert_eq!(code, 0, "InitProducerId {id}");
        r
    }

    pub fn add_partition(cluster: &Cluster, id: &str, (pid, epoch): (i64, i16), topic: &str) {
        use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
        use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};
        let (code, ()) = retried(cluster, id, 1, |b| {
            let req = AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(TransactionalId(s(id)))
                .with_v3_and_below_producer_id(ProducerId(pid))
                .with_v3_and_below_producer_epoch(epoch)
                .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(s(topic)))
                    .with_partitions(vec![0])]);
            let resp: AddPartitionsToTxnResponse =
                b.wire().call(ApiKey::AddPartitionsToTxn, 3, &req);
            let code = resp
                .results_by_topic_v3_and_below
                .first()
                .and_then(|t| t.results_by_partition.first())
                .map_or(resp.error_code, |p| p.partition_error_code);
            (code, ())
        });
        assert_eq!(code, 0, "AddPartitionsToTxn {id} {topic}");
    }

    pub fn add_offsets(cluster: &Cluster, id: &str, (pid, epoch): (i64, i16), group: &str) {
        let (code, ()) = retried(cluster, id, 1, |b| {
            let mut req = AddOffsetsToTxnRequest::default();
            req.transactional_id = TransactionalId(s(id));
            req.producer_id = ProducerId(pid);
            req.producer_epoch = epoch;
            req.group_id = GroupId(s(group));
            let resp: AddOffsetsToTxnResponse = b.wire().call(ApiKey::AddOffsetsToTxn, 3, &req);
            (resp.error_code, ())
        });
        assert_eq!(code, 0, "AddOffsetsToTxn {id} {group}");
    }

    pub fn txn_offset_commit(
        cluster: &Cluster,
        id: &str,
        (pid, epoch): (i64, i16),
        group: &str,
        topic: &str,
        offset: i64,
    ) {
        let (code, ()) = retried(cluster, group, 0, |b| {
            let mut req = TxnOffsetCommitRequest::default();
            req.transactional_id = TransactionalId(s(id));
            req.group_id = GroupId(s(group));
            req.producer_id = ProducerId(pid);
            req.producer_epoch = epoch;
            req.topics = vec![TxnOffsetCommitRequestTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(offset)])];
            let resp: TxnOffsetCommitResponse = b.wire().call(ApiKey::TxnOffsetCommit, 3, &req);
            (resp.topics[0].partitions[0].error_code, ())
        });
        assert_eq!(code, 0, "TxnOffsetCommit {id} {group}");
    }

    pub fn end(cluster: &Cluster, id: &str, (pid, epoch): (i64, i16), commit: bool) {
        let (code, ()) = retried(cluster, id, 1, |b| {
            let mut req = EndTxnRequest::default();
            req.transactional_id = TransactionalId(s(id));
            req.producer_id = ProducerId(pid);
            req.producer_epoch = epoch;
            req.committed = commit;
            let resp: EndTxnResponse = b.wire().call(ApiKey::EndTxn, 3, &req);
            (resp.error_code, ())
        });
        assert_eq!(code, 0, "EndTxn {id} commit={commit}");
    }

    /// OffsetFetch v7 of partition 0 with require_stable, from the group's
    /// coordinator once it has loaded: (partition error code, offset).
    pub fn fetch_stable(cluster: &Cluster, group: &str, topic: &str) -> (i16, i64) {
        let (_, r) = retried(cluster, group, 0, |b| {
            let mut t = OffsetFetchRequestTopic::default();
            t.name = TopicName(s(topic));
            t.partition_indexes = vec![0];
            let mut req = OffsetFetchRequest::default();
            req.group_id = GroupId(s(group));
            req.topics = Some(vec![t]);
            req.require_stable = true;
            let resp: OffsetFetchResponse = b.wire().call(ApiKey::OffsetFetch, 7, &req);
            match resp.topics.first().and_then(|t| t.partitions.first()) {
                Some(p) if resp.error_code == 0 => (0, (p.error_code, p.committed_offset)),
                _ => (resp.error_code, (-1, -1)),
            }
        });
        r
    }
}

/// Offsets sent with TxnOffsetCommit are in `__consumer_offsets` (replicated
/// with the group's partition) before EndTxn: a group coordinator killed
/// with `kill -9` between the two leaves them pending on its successor,
/// which then commits or drops them with the transaction's marker.
#[test]
fn txn_offsets_survive_kill_9_of_the_group_coordinator() {
    let mut cluster = Cluster::start(&[
        "offsets.topic.replication.factor=3",
        "offsets.topic.num.partitions=3",
        "transaction.state.log.replication.factor=3",
        "transaction.state.log.min.isr=2",
        "transaction.state.log.num.partitions=3",
        "group.initial.rebalance.delay.ms=0",
        "replica.lag.time.max.ms=5000",
    ]);
    let topic = "txn-offsets-in";
    cluster.create(topic, &[]);
    let (commit_group, abort_group) = ("txo-commit", "txo-abort");
    let victim = raw::coordinator(&cluster, commit_group, 0, -1);
    let abort_group = (0..200)
        .map(|i| format!("{abort_group}-{i}"))
        .find(|g| raw::coordinator(&cluster, g, 0, -1) == victim)
        .expect("a group on the same coordinator");
    // Transactions coordinated elsewhere, so only the group coordinator dies.
    let ids: Vec<String> = (0..200)
        .map(|i| format!("txo-{i}"))
        .filter(|id| raw::coordinator(&cluster, id, 1, -1) != victim)
        .take(2)
        .collect();
    let (commit_id, abort_id) = (ids[0].as_str(), ids[1].as_str());
    for group in [commit_group, abort_group.as_str()] {
        let p = kafka_rs::coordinator::partition_for(group, 3);
        cluster.wait_isr_of("__consumer_offsets", p, &[1, 2, 3], raw::T);
    }

    let commit_pid = raw::init(&cluster, commit_id);
    let abort_pid = raw::init(&cluster, abort_id);
    raw::add_offsets(&cluster, commit_id, commit_pid, commit_group);
    raw::add_offsets(&cluster, abort_id, abort_pid, &abort_group);
    raw::txn_offset_commit(&cluster, commit_id, commit_pid, commit_group, topic, 42);
    raw::txn_offset_commit(&cluster, abort_id, abort_pid, &abort_group, topic, 77);
    assert_eq!(
        raw::fetch_stable(&cluster, commit_group, topic),
        (88, -1),
        "UNSTABLE_OFFSET_COMMIT"
    );

    cluster.kill9(victim);
    let successor = raw::coordinator(&cluster, commit_group, 0, victim);
    assert_ne!(successor, victim);
    // The successor rebuilt both transactions' offsets from its replica.
    assert_eq!(
        raw::fetch_stable(&cluster, commit_group, topic),
        (88, -1),
        "pending after failover"
    );
    assert_eq!(
        raw::fetch_stable(&cluster, &abort_group, topic),
        (88, -1),
        "pending after failover"
    );

    raw::end(&cluster, commit_id, commit_pid, true);
    raw::end(&cluster, abort_id, abort_pid, false);
    // Markers go out after EndTxn is answered.
    let mut last = (0, 0);
    support::wait_until(raw::T, "the COMMIT marker to settle the offsets", || {
        last = raw::fetch_stable(&cluster, commit_group, topic);
        last != (88, -1)
    });
    assert_eq!(last, (0, 42), "committed with the transaction");
    support::wait_until(raw::T, "the ABORT marker to settle the offsets", || {
        last = raw::fetch_stable(&cluster, &abort_group, topic);
        last != (88, -1)
    });
    assert_eq!(last, (0, -1), "dropped with the transaction");

    // The victim, back as a follower, and a reload from any replica agree.
    cluster.restart(victim);
    assert_eq!(raw::fetch_stable(&cluster, commit_group, topic), (0, 42));
}

/// A read_committed fetch parked on the leader of a replicated partition
/// is answered by the commit: the high watermark passing the COMMIT
/// marker, written to the leader by the coordinator after EndTxn, moves
/// the last stable offset and must wake the fetch. It may wait far longer
/// than the socket waits for an answer, so only the wake-up can answer it
/// in time.
#[test]
fn read_committed_long_poll_on_a_replicated_partition_is_woken_by_the_commit() {
    use crate::broker_bad_input::produce;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};
    use kafka_rs::record::{BatchBuilder, Batches, Compression, NewRecord};

    let cluster = Cluster::start(&[
        "transaction.state.log.replication.factor=3",
        "transaction.state.log.min.isr=2",
        "transaction.state.log.num.partitions=3",
    ]);
    let topic = "rc-long-poll";
    cluster.create(topic, &["--config", "min.insync.replicas=2"]);
    let leader = cluster.broker(cluster.wait_isr_everywhere(topic, &[1, 2, 3], raw::T).leader);
    let id = "rc-long-poll";
    let pid = raw::init(&cluster, id);
    raw::add_partition(&cluster, id, pid, topic);
    let mut b = BatchBuilder::new(Compression::None).producer(pid.0, pid.1, 0).transactional(true);
    b.push(NewRecord::new(1_700_000_000_000, None, Some(b"committed")));
    assert_eq!(produce(&mut leader.wire(), topic, -1, b.build().unwrap()), (0, 0));

    let mut p = FetchPartition::default();
    p.partition = 0;
    p.fetch_offset = 0;
    p.partition_max_bytes = 1 << 20;
    p.current_leader_epoch = -1;
    let mut t = FetchTopic::default();
    t.topic = TopicName(StrBytes::from_static_str(topic));
    t.partitions = vec![p];
    let mut req = FetchRequest::default();
    req.replica_id = BrokerId(-1);
    req.max_wait_ms = i32::MAX;
    req.min_bytes = 1;
    req.max_bytes = 1 << 20;
    req.isolation_level = 1;
    req.session_epoch = -1;
    req.topics = vec![t];
    let mut consumer = leader.wire();
    let (cid, frame) = consumer.frame(ApiKey::Fetch, 12, &req);
    consumer.send_raw(&frame);
    // The open transaction holds the last stable offset at 0, so nothing
    // may answer yet.
    consumer.stream.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let early = consumer.stream.peek(&mut [0u8; 1]);
    assert!(early.is_err(), "answered before the commit: {early:?}");
    consumer.stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();

    raw::end(&cluster, id, pid, true);
    let resp: FetchResponse = consumer
        .read_response(ApiKey::Fetch, 12, cid)
        .expect("the commit woke the parked read_committed fetch before the read timed out");
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0, "{resp:?}");
    // The transaction holds the stable offset until the high watermark
    // passes its COMMIT marker (offset 1), as in Kafka: the fetch is
    // answered once the followers have the marker.
    assert_eq!((p.high_watermark, p.last_stable_offset), (2, 2), "{resp:?}");
    assert!(p.aborted_transactions.as_ref().is_none_or(Vec::is_empty), "{resp:?}");
    let records = p.records.clone().expect("records");
    let values: Vec<Vec<u8>> = Batches::new(&records)
        .map(|b| b.expect("a whole batch"))
        .filter(|b| !b.is_control())
        .flat_map(|b| {
            let rs = b.records().expect("records");
            rs.iter()
                .map(|r| r.expect("a record").value.expect("a value").to_vec())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(values, [b"committed".to_vec()]);
}

/// ListOffsets v2+ for the latest offset of partition 0 in read_committed:
/// the last stable offset.
fn last_stable_offset(broker: &Broker, topic: &str) -> i64 {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, ListOffsetsResponse};
    let mut p = ListOffsetsPartition::default();
    p.partition_index = 0;
    p.timestamp = -1;
    let mut req = ListOffsetsRequest::default();
    req.replica_id = BrokerId(-1);
    req.isolation_level = 1;
    req.topics = vec![ListOffsetsTopic::default()
        .with_name(TopicName(StrBytes::from_string(topic.to_string())))
        .with_partitions(vec![p])];
    let resp: ListOffsetsResponse = broker.wire().call(ApiKey::ListOffsets, 5, &req);
    let r = &resp.topics[0].partitions[0];
    assert_eq!(r.error_code, 0, "{resp:?}");
    r.offset
}

/// Kafka's hanging-transaction scenario: a producer writes a transactional
/// batch its coordinator never heard of, so no marker ever comes and the
/// last stable offset stays at the batch. `transactions abort
/// --start-offset` finds the producer through DescribeProducers and writes
/// the ABORT marker, and read_committed consumers move on.
#[test]
fn transactions_abort_unblocks_a_hanging_transaction() {
    use crate::broker_bad_input::{batch, create_topic, produce};
    use kafka_rs::record::{BatchBuilder, Compression, NewRecord};

    let broker = Broker::start(SINGLE);
    let topic = "hanging";
    assert_eq!(create_topic(&mut broker.wire(), topic, &[]).topics[0].error_code, 0);
    let mut w = broker.wire();
    assert_eq!(produce(&mut w, topic, -1, batch(&[b"before"])), (0, 0));
    // An idempotent producer (no transactional id): no coordinator knows it.
    let mut req = InitProducerIdRequest::default();
    req.transactional_id = None;
    req.transaction_timeout_ms = 60_000;
    let resp: InitProducerIdResponse = w.call(ApiKey::InitProducerId, 4, &req);
    assert_eq!(resp.error_code, 0, "{resp:?}");
    let (pid, epoch) = (resp.producer_id.0, resp.producer_epoch);
    let mut b = BatchBuilder::new(Compression::None).producer(pid, epoch, 0).transactional(true);
    b.push(NewRecord::new(1_700_000_000_000, None, Some(b"hanging")));
    assert_eq!(produce(&mut w, topic, -1, b.build().unwrap()), (0, 1));
    assert_eq!(produce(&mut w, topic, -1, batch(&[b"after"])), (0, 2));
    assert_eq!(last_stable_offset(&broker, topic), 1, "held at the open transaction");

    let cli = |args: &[&str]| {
        let addr = broker.addr();
        let mut all = vec!["transactions", "--bootstrap-server", addr.as_str()];
        all.extend_from_slice(args);
        support::kafka_rs(&all, None, Duration::from_secs(60))
    };
    // Its records carry a 2023 timestamp: older than any transaction
    // timeout, and no coordinator holds the transaction open.
    let hanging = cli(&["find-hanging", "--topic", topic]);
    assert!(hanging.status.success(), "{}", stderr(&hanging));
    let listed = stdout(&hanging);
    let mut lines = listed.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').map(str::trim).collect();
    assert_eq!(
        header,
        [
            "Topic",
            "Partition",
            "ProducerId",
            "ProducerEpoch",
            "CoordinatorEpoch",
            "StartOffset",
            "LastTimestamp",
            "Duration(min)",
            ""
        ],
        "{listed}"
    );
    let row: Vec<String> =
        lines.next().unwrap_or_default().split('\t').map(|c| c.trim().to_string()).collect();
    assert_eq!(
        row[..7],
        [topic, "0", &pid.to_string(), &epoch.to_string(), "0", "1", "1700000000000"],
        "{listed}"
    );

    let wrong = cli(&["abort", "--topic", topic, "--partition", "0", "--start-offset", "2"]);
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("Could not find any open transactions starting at offset 2"),
        "{}",
        stderr(&wrong)
    );
    assert_eq!(last_stable_offset(&broker, topic), 1, "nothing aborted");

    let out = cli(&["abort", "--topic", topic, "--partition", "0", "--start-offset", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The marker (offset 3) ends the transaction: the LSO is the log end.
    support::wait_until(Duration::from_secs(60), "the LSO to pass the marker", || {
        last_stable_offset(&broker, topic) == 4
    });
    let none = cli(&["find-hanging", "--topic", topic, "--partition", "0"]);
    assert_eq!(stdout(&none), "No hanging transactions found\n", "{}", stderr(&none));
    let producers = cli(&["describe-producers", "--topic", topic, "--partition", "0"]);
    let listed = stdout(&producers);
    let row = listed
        .lines()
        .find(|l| l.starts_with(&pid.to_string()))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(row.trim_end().ends_with("None"), "no open transaction left: {listed}");

    // The explicit form: a second hanging transaction of the same producer.
    let mut b = BatchBuilder::new(Compression::None).producer(pid, epoch, 1).transactional(true);
    b.push(NewRecord::new(1_700_000_000_000, None, Some(b"hanging again")));
    assert_eq!(produce(&mut w, topic, -1, b.build().unwrap()), (0, 4));
    assert_eq!(last_stable_offset(&broker, topic), 4);
    let (pid_s, epoch_s) = (pid.to_string(), epoch.to_string());
    let out = cli(&[
        "abort",
        "--topic",
        topic,
        "--partition",
        "0",
        "--producer-id",
        &pid_s,
        "--producer-epoch",
        &epoch_s,
        "--coordinator-epoch",
        "0",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    support::wait_until(Duration::from_secs(60), "the LSO to pass the second marker", || {
        last_stable_offset(&broker, topic) == 6
    });
}
