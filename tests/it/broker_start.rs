//! `kafka-rs server-start` / `server-stop` as processes: config handling,
//! startup line and log file, bind errors, clean shutdown.

use std::process::Command;
use std::time::Duration;

use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse,
};

use crate::broker_support::Broker;
use crate::support::{self, kafka_rs, stderr};

#[test]
fn invalid_value_exits_1_with_one_line_before_binding() {
    let port = support::free_port();
    let dir = tempfile::tempdir().unwrap();
    let out = kafka_rs(
        &[
            "server-start",
            "--override",
            &format!("listeners=PLAINTEXT://127.0.0.1:{port}"),
            "--override",
            "num.partitions=zero",
            "--override",
            &format!("log.dirs={}", dir.path().display()),
        ],
        None,
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("num.partitions"), "{err}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "nothing bound");
}

#[test]
fn port_in_use_exits_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(support::bin())
        .args(["server-start", "--override", &format!("listeners=PLAINTEXT://127.0.0.1:{port}")])
        .arg("--override")
        .arg(format!("log.dirs={}", dir.path().display()))
        .env("LOG_DIR", dir.path().join("logs"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("failed to bind to 127.0.0.1:{port}")) && err.contains("in use"),
        "{err}"
    );
}

#[test]
fn starts_logs_and_stops_on_sigterm() {
    let mut broker = Broker::start(&["no.such.key=1", "zookeeper.set.acl=true"]);
    let mut wire = broker.wire();
    let resp: ApiVersionsResponse =
        wire.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert_eq!(resp.error_code, 0);
    // ApiVersions is answered while the broker still starts.
    support::wait_until(Duration::from_secs(60), "the started line", || {
        broker.server_log().contains("started: listening on")
    });
    let log = broker.server_log();
    assert!(log.contains(&broker.data_dir().display().to_string()), "{log}");
    assert!(
        log.contains("The configuration 'no.such.key' was supplied but isn't a known config."),
        "{log}"
    );
    assert!(
        log.contains("The configuration 'zookeeper.set.acl' was supplied but has no effect here: znodes are created open to every ZooKeeper client."),
        "{log}"
    );
    let status = broker.child.terminate(Duration::from_secs(20)).unwrap();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    assert!(broker.server_log().contains("shut down"), "shutdown is logged");
    assert!(broker.data_dir().join("meta.properties").exists(), "meta.properties written");
}

#[test]
fn topics_survive_a_restart() {
    let broker = Broker::start(&["broker.id=7"]);
    let mut req = MetadataRequest::default();
    req.topics =
        Some(vec![kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
            .with_name(Some(kafka_protocol::messages::TopicName("kept".into())))]);
    req.allow_auto_topic_creation = true;
    let resp: MetadataResponse = broker.wire().call(ApiKey::Metadata, 12, &req);
    assert_eq!(resp.topics[0].error_code, 5, "auto-created: LEADER_NOT_AVAILABLE, as in Kafka");
    let resp: MetadataResponse = broker.wire().call(ApiKey::Metadata, 12, &req);
    assert_eq!(resp.topics[0].error_code, 0, "created");
    let id = resp.topics[0].topic_id;
    let dir = broker.kill9();
    let broker = Broker::start_in(dir, &["broker.id=7"]);
    let mut all = MetadataRequest::default();
    all.topics = None;
    let resp: MetadataResponse = broker.wire().call(ApiKey::Metadata, 12, &all);
    let kept = resp
        .topics
        .iter()
        .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some("kept"))
        .expect("topic kept");
    assert_eq!(kept.topic_id, id, "same topic id after restart");
    assert_eq!(*resp.brokers[0].node_id, 7);
}

/// Without zookeeper.connect the broker serves ZooKeeper itself, so the
/// quickstart's `--zookeeper` commands work against a single process, and a
/// kill -9 restart does not wait for the dead process's session to expire.
#[test]
fn embedded_zookeeper_serves_the_quickstart_and_survives_kill_9() {
    let zk_port = support::free_port();
    let zk = format!("127.0.0.1:{zk_port}");
    let zk_override = format!("embedded.zookeeper.port={zk_port}");
    let mut broker = Broker::start(&["broker.id=0", &zk_override]);
    let registered = || {
        let ids = kafka_rs(
            &["zookeeper-shell", &zk, "ls", "/brokers/ids"],
            None,
            Duration::from_secs(30),
        );
        support::stdout(&ids).contains("[0]")
    };
    support::wait_until(Duration::from_secs(30), "broker 0 to register", registered);
    let topics = |args: &[&str]| {
        let mut all = vec!["topics", "--zookeeper", &zk];
        all.extend_from_slice(args);
        kafka_rs(&all, None, Duration::from_secs(30))
    };
    let out =
        topics(&["--create", "--topic", "test", "--partitions", "1", "--replication-factor", "1"]);
    assert!(out.status.success(), "create through the embedded ZooKeeper: {}", stderr(&out));
    let out = topics(&["--list"]);
    assert_eq!(support::stdout(&out).trim(), "test", "{}", stderr(&out));

    broker.child.kill9();
    let dir = std::mem::replace(&mut broker.dir, tempfile::tempdir().unwrap());
    let _restarted = Broker::start_in(dir, &["broker.id=0", &zk_override]);
    // The dead process's session is expired at start, not after its timeout.
    support::wait_until(Duration::from_secs(10), "broker 0 to register again", registered);
    let out = topics(&["--describe", "--topic", "test"]);
    assert!(out.status.success(), "describe after kill -9: {}", stderr(&out));
    assert!(support::stdout(&out).contains("Leader: 0"), "{}", support::stdout(&out));
}

/// `server-start` with no file is a usable single-node cluster: consumer
/// groups get a coordinator although Kafka's code default asks for three
/// replicas of `__consumer_offsets`.
#[test]
fn no_config_file_gives_groups_a_coordinator() {
    let broker = Broker::start(&[]);
    let addr = broker.addr();
    let out = kafka_rs(
        &["console-producer", "--bootstrap-server", &addr, "--topic", "g"],
        Some(b"one\ntwo\n"),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "produce: {}", stderr(&out));
    let out = kafka_rs(
        &[
            "console-consumer",
            "--bootstrap-server",
            &addr,
            "--topic",
            "g",
            "--group",
            "grp",
            "--from-beginning",
            "--max-messages",
            "2",
            "--timeout-ms",
            "20000",
        ],
        None,
        Duration::from_secs(40),
    );
    assert!(out.status.success(), "consume in a group: {}", stderr(&out));
    assert_eq!(support::stdout(&out), "one\ntwo\n");
}

/// A broker listens and answers ApiVersions from the start, before it has
/// registered; every Metadata answer, from the first, lists this broker
/// (a Metadata asked during start-up waits until the broker is registered
/// and has its first metadata image, never answering an empty cluster).
#[test]
fn startup_answers_api_versions_at_once_and_metadata_never_without_this_broker() {
    // Partitions to open make the restart take a while.
    let broker = Broker::start(&["broker.id=3", "num.partitions=40"]);
    let mut req = MetadataRequest::default();
    req.topics =
        Some(vec![kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
            .with_name(Some(kafka_protocol::messages::TopicName("wide".into())))]);
    req.allow_auto_topic_creation = true;
    let _: MetadataResponse = broker.wire().call(ApiKey::Metadata, 12, &req);
    let port = broker.port;
    let dir = broker.kill9();
    let broker = Broker::start_in_on(dir, port, &["broker.id=3"]);
    let mut all = MetadataRequest::default();
    all.topics = None;
    let mut answers = 0;
    support::wait_until(Duration::from_secs(60), "all 40 partitions led by broker 3", || {
        // A new connection each time, ApiVersions and Metadata pipelined.
        let mut wire = broker.wire();
        let (v_cid, v) = wire.frame(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default());
        let (m_cid, m) = wire.frame(ApiKey::Metadata, 12, &all);
        wire.send_raw(&[v, m].concat());
        let versions: ApiVersionsResponse =
            wire.read_response(ApiKey::ApiVersions, 0, v_cid).expect("ApiVersions answered");
        assert_eq!(versions.error_code, 0);
        let meta: MetadataResponse =
            wire.read_response(ApiKey::Metadata, 12, m_cid).expect("Metadata answered");
        answers += 1;
        let brokers: Vec<(i32, i32)> = meta.brokers.iter().map(|b| (*b.node_id, b.port)).collect();
        assert_eq!(
            brokers,
            vec![(3, port as i32)],
            "answer {answers}: this broker, from the first"
        );
        meta.topics.iter().any(|t| {
            t.name.as_ref().map(|n| n.0.as_str()) == Some("wide")
                && t.partitions.len() == 40
                && t.partitions.iter().all(|p| *p.leader_id == 3 && p.error_code == 0)
        })
    });
    assert!(answers > 0);
}
