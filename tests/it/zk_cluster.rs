//! A broker keeping its metadata in ZooKeeper with Kafka's znode layout,
//! on our server and on Apache ZooKeeper 3.8: registration, controller
//! election, the cluster id, topics created through the broker and topics
//! written straight into /brokers/topics as Kafka 0.8 tools did.

use std::time::Duration;

use serde_json::Value;
use zookeeper_client as zkc;

use crate::broker_support::Broker;
use crate::support;
use crate::zk_harness::{self, ZkServer};

fn json(c: &zkc::Client, rt: &tokio::runtime::Runtime, path: &str) -> Option<Value> {
    let (d, _) = rt.block_on(c.get_data(path)).ok()?;
    serde_json::from_slice(&d).ok()
}

fn exercise(zk: &ZkServer) {
    // A worker thread keeps the test's session alive (pings) while a CLI
    // command runs; on a busy machine a current-thread runtime let it expire.
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let connect = format!("127.0.0.1:{}/kafka", zk.port);
    let broker = Broker::start(&[
        "broker.id=1",
        &format!("zookeeper.connect={connect}"),
        "zookeeper.session.timeout.ms=6000",
    ]);
    let c = rt.block_on(zkc::Client::connect(&format!("127.0.0.1:{}", zk.port))).unwrap();
    let c = c.chroot("/kafka").unwrap();
    let kind = zk.kind;
    support::wait_until(Duration::from_secs(20), "the broker to register", || {
        json(&c, &rt, "/brokers/ids/1").is_some()
    });
    let reg = json(&c, &rt, "/brokers/ids/1").unwrap();
    assert_eq!(reg["version"], 5, "{kind}: {reg}");
    assert_eq!(reg["port"], broker.port, "{kind}");
    assert_eq!(reg["endpoints"][0], format!("PLAINTEXT://127.0.0.1:{}", broker.port));
    assert!(reg["timestamp"].is_string());
    let (_, stat) = rt.block_on(c.get_data("/brokers/ids/1")).unwrap();
    assert_ne!(stat.ephemeral_owner, 0, "{kind}: registration is ephemeral");
    support::wait_until(Duration::from_secs(20), "the broker to win /controller", || {
        json(&c, &rt, "/controller").is_some_and(|v| v["brokerid"] == 1)
    });
    let (epoch, _) = rt.block_on(c.get_data("/controller_epoch")).unwrap();
    assert_eq!(epoch, b"1", "{kind}");
    let id = json(&c, &rt, "/cluster/id").unwrap();
    assert_eq!(id["version"], "1");
    assert_eq!(id["id"].as_str().unwrap().len(), 22);
    for p in [
        "/consumers",
        "/brokers/seqid",
        "/config/changes",
        "/admin/delete_topics",
        "/isr_change_notification",
    ] {
        assert!(rt.block_on(c.check_stat(p)).unwrap().is_some(), "{kind}: {p} created at startup");
    }

    // Through the broker: CreateTopics writes the assignment and state.
    let out = support::kafka_rs(
        &[
            "topics",
            "--bootstrap-server",
            &broker.addr(),
            "--create",
            "--topic",
            "viaapi",
            "--partitions",
            "2",
            "--replication-factor",
            "1",
        ],
        None,
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{kind}: {}", support::stderr(&out));
    let t = json(&c, &rt, "/brokers/topics/viaapi").unwrap();
    assert_eq!(t["version"], 3);
    assert_eq!(t["partitions"]["1"], serde_json::json!([1]));
    assert_eq!(t["topic_id"].as_str().unwrap().len(), 22);
    let s = json(&c, &rt, "/brokers/topics/viaapi/partitions/1/state").unwrap();
    assert_eq!(
        (s["leader"].clone(), s["isr"].clone(), s["version"].clone()),
        (1.into(), serde_json::json!([1]), 1.into())
    );
    assert!(json(&c, &rt, "/config/topics/viaapi").unwrap()["config"].is_object());

    // Written directly, as 0.8's tools did: the controller fills in the rest.
    let open = zkc::CreateMode::Persistent.with_acls(zkc::Acls::anyone_all());
    rt.block_on(c.create(
        "/brokers/topics/direct",
        br#"{"version":1,"partitions":{"0":[1]}}"#,
        &open,
    ))
    .unwrap();
    support::wait_until(Duration::from_secs(20), "the controller to elect a leader", || {
        json(&c, &rt, "/brokers/topics/direct/partitions/0/state").is_some_and(|s| s["leader"] == 1)
    });
    support::wait_until(Duration::from_secs(20), "the topic id to be added", || {
        json(&c, &rt, "/brokers/topics/direct").is_some_and(|t| t["topic_id"].is_string())
    });
    support::wait_until(Duration::from_secs(20), "the broker to serve it", || {
        let out = support::kafka_rs(
            &["topics", "--bootstrap-server", &broker.addr(), "--describe", "--topic", "direct"],
            None,
            Duration::from_secs(30),
        );
        support::stdout(&out).contains("Leader: 1")
    });

    // The quickstart's --zookeeper tools find the broker through ZooKeeper.
    let out = support::kafka_rs(
        &[
            "topics",
            "--create",
            "--zookeeper",
            &connect,
            "--replication-factor",
            "1",
            "--partitions",
            "1",
            "--topic",
            "test",
        ],
        None,
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{kind}: {}", support::stderr(&out));
    assert_eq!(support::stdout(&out), "Created topic test.\n");
    assert!(json(&c, &rt, "/brokers/topics/test").is_some(), "{kind}: the topic is in ZooKeeper");
    let out = support::kafka_rs(
        &["topics", "--zookeeper", &connect, "--list"],
        None,
        Duration::from_secs(30),
    );
    assert!(
        support::stdout(&out).lines().any(|l| l == "test"),
        "{kind}: {}",
        support::stdout(&out)
    );
    let out = support::kafka_rs(
        &["console-producer", "--broker-list", &broker.addr(), "--topic", "test"],
        Some(b"This is a message\nThis is another message\n"),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{kind}: {}", support::stderr(&out));
    let out = support::kafka_rs(
        &[
            "console-consumer",
            "--zookeeper",
            &connect,
            "--topic",
            "test",
            "--from-beginning",
            "--max-messages",
            "2",
        ],
        None,
        Duration::from_secs(60),
    );
    assert_eq!(
        support::stdout(&out),
        "This is a message\nThis is another message\n",
        "{kind}: {}",
        support::stderr(&out)
    );

    // Deletion through the broker removes the znodes.
    let out = support::kafka_rs(
        &["topics", "--bootstrap-server", &broker.addr(), "--delete", "--topic", "viaapi"],
        None,
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{kind}: {}", support::stderr(&out));
    support::wait_until(Duration::from_secs(20), "the topic znodes to go", || {
        rt.block_on(c.check_stat("/brokers/topics/viaapi")).unwrap().is_none()
    });
}

#[test]
fn broker_metadata_on_our_zookeeper() {
    exercise(&zk_harness::start_ours(""));
}

#[test]
fn broker_metadata_on_apache_zookeeper() {
    let Some(zk) = zk_harness::start_apache("") else { return };
    exercise(&zk);
}

#[test]
fn broker_registers_again_after_its_session_expires() {
    let zk = zk_harness::start_ours("");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let broker = Broker::start(&[
        "broker.id=1",
        &format!("zookeeper.connect=127.0.0.1:{}", zk.port),
        "zookeeper.session.timeout.ms=2000",
    ]);
    let c = rt.block_on(zkc::Client::connect(&zk.addr())).unwrap();
    let owner = || rt.block_on(c.check_stat("/brokers/ids/1")).unwrap().map(|s| s.ephemeral_owner);
    support::wait_until(Duration::from_secs(20), "the broker to register", || owner().is_some());
    let first = owner().unwrap();
    support::wait_until(Duration::from_secs(20), "the broker to finish starting", || {
        broker.server_log().contains("started: listening on")
    });
    // Freeze the broker past its session timeout: ZooKeeper expires it.
    let pid = broker.child.pid().to_string();
    assert!(std::process::Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    support::wait_until(Duration::from_secs(20), "the session to expire", || owner().is_none());
    assert!(std::process::Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while owner().is_none_or(|o| o == first) {
        let log = broker.server_log();
        assert!(std::time::Instant::now() < deadline, "no new registration; broker log:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
    support::wait_until(Duration::from_secs(20), "the broker to lead again", || {
        json(&c, &rt, "/controller").is_some_and(|v| v["brokerid"] == 1)
    });
    // The old session's watches ended with it; none was asked again.
    let stderr = broker.stderr_log();
    assert!(!stderr.contains("panicked"), "the broker panicked:\n{stderr}");
}
