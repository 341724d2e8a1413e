//! `kafka-topics.sh` / `kafka-rs topics` against a real broker process:
//! Kafka's messages and formats, and the error paths.

use std::process::{Command, Output};
use std::time::Duration;

use crate::broker_support::Broker;
use crate::support::*;

const T: Duration = Duration::from_secs(60);

/// Runs a bin/ script with the binary under test (not a stale release build).
pub fn script(name: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    run_with_timeout(
        Command::new(repo().join("bin").join(name)).args(args).env("KAFKA_RS_BIN", bin()),
        stdin,
        T,
    )
}

pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status,
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

pub fn topics(broker: &Broker, args: &[&str]) -> Output {
    let addr = broker.addr();
    let mut all = vec!["--bootstrap-server", addr.as_str()];
    all.extend_from_slice(args);
    script("kafka-topics.sh", &all, None)
}

/// Creates `topic` with `partitions` partitions and one replica, failing
/// the test if the tool does.
pub fn create_topic(broker: &Broker, topic: &str, partitions: &str) {
    ok(&topics(
        broker,
        &["--create", "--topic", topic, "--partitions", partitions, "--replication-factor", "1"],
    ));
}

#[test]
fn create_list_delete_with_kafkas_messages() {
    let broker = Broker::start(&[]);
    let out = topics(
        &broker,
        &["--create", "--topic", "test", "--partitions", "3", "--replication-factor", "1"],
    );
    assert_eq!(ok(&out), "Created topic test.\n");
    ok(&topics(&broker, &["--create", "--topic", "other"]));
    assert_eq!(ok(&topics(&broker, &["--list"])), "other\ntest\n");
    assert_eq!(
        ok(&topics(&broker, &["--list", "--topic", "te.*"])),
        "test\n",
        "--topic is a regex"
    );

    let again = topics(&broker, &["--create", "--topic", "test"]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        stderr(&again),
        "Error while executing topic command : Topic 'test' already exists.\n"
    );
    assert_eq!(ok(&topics(&broker, &["--create", "--topic", "test", "--if-not-exists"])), "");

    assert_eq!(ok(&topics(&broker, &["--delete", "--topic", "test"])), "");
    assert_eq!(ok(&topics(&broker, &["--list"])), "other\n");
}

#[test]
fn list_as_json_and_table() {
    let broker = Broker::start(&[]);
    ok(&topics(&broker, &["--create", "--topic", "a"]));
    ok(&topics(&broker, &["--create", "--topic", "b"]));
    let json: serde_json::Value =
        serde_json::from_str(&ok(&topics(&broker, &["--list", "--output", "json"]))).unwrap();
    assert_eq!(json, serde_json::json!(["a", "b"]));
    let table = ok(&topics(&broker, &["--list", "--output", "table"]));
    let rows: Vec<&str> =
        table.lines().filter(|l| l.contains(" a ") || l.contains(" b ")).collect();
    assert_eq!(rows.len(), 2, "one row per topic:\n{table}");
    assert!(table.contains("Topic"), "a header:\n{table}");
}

#[test]
fn unknown_topic_is_an_error_unless_if_exists() {
    let broker = Broker::start(&[]);
    let out = topics(&broker, &["--describe", "--topic", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "Error while executing topic command : Topic 'nope' does not exist as expected\n"
    );
    let out = topics(&broker, &["--delete", "--topic", "nope"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(ok(&topics(&broker, &["--delete", "--topic", "nope", "--if-exists"])), "");
}

#[test]
fn unreachable_broker_fails_fast_with_one_line() {
    let port = free_port();
    let out = script(
        "kafka-topics.sh",
        &[
            "--bootstrap-server",
            &format!("127.0.0.1:{port}"),
            "--list",
            "--command-config",
            "/dev/null",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("Error while executing topic command : cannot connect to 127.0.0.1:"),
        "{err}"
    );
}

#[test]
fn invalid_flags_are_rejected() {
    let cases: &[(&[&str], i32, &str, &str)] = &[
        (&["--bootstrap-server", "127.0.0.1:1"], 2, "--create", "an action is required"),
        (
            &["--bootstrap-server", "127.0.0.1:1", "--list", "--describe"],
            2,
            "cannot be used with",
            "one action at a time",
        ),
        (
            &["--bootstrap-server", "127.0.0.1:1", "--create"],
            1,
            "Missing required argument \"[topic]\"",
            "create needs a topic",
        ),
        (
            &["--list"],
            1,
            "Missing required argument \"[bootstrap-server]\"",
            "a server is required",
        ),
        (
            &["--zookeeper", "127.0.0.1:1", "--list"],
            1,
            "--bootstrap-server",
            "ZooKeeper mode says what to use instead",
        ),
        (
            &["--bootstrap-server", "nocolon", "--list"],
            1,
            "Invalid url in bootstrap.servers: nocolon",
            "host:port",
        ),
        (
            &["--bootstrap-server", "127.0.0.1:1", "--create", "--topic", "a/b"],
            1,
            "illegal",
            "Kafka's topic name rule",
        ),
    ];
    for (args, code, text, why) in cases {
        let out = script("kafka-topics.sh", args, None);
        assert_eq!(out.status.code(), Some(*code), "{why}: {}", stderr(&out));
        assert!(stderr(&out).contains(text), "{why}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{why}");
    }
}

#[test]
fn describe_in_every_format_and_configs() {
    let broker = Broker::start(&[]);
    ok(&topics(
        &broker,
        &["--create", "--topic", "d", "--partitions", "2", "--config", "retention.ms=12345"],
    ));
    let text = ok(&topics(&broker, &["--describe", "--topic", "d"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("Topic: d\tTopicId: "), "{text}");
    assert!(
        lines[0]
            .ends_with("\tPartitionCount: 2\tReplicationFactor: 1\tConfigs: retention.ms=12345"),
        "{text}"
    );
    for (p, line) in lines[1..].iter().enumerate() {
        assert!(line.starts_with(&format!("\tTopic: d\tPartition: {p}\tLeader: ")), "{text}");
    }

    let json: serde_json::Value = serde_json::from_str(&ok(&topics(
        &broker,
        &["--describe", "--topic", "d", "--output", "json"],
    )))
    .unwrap();
    assert_eq!(json[0]["topic"], "d");
    assert_eq!(json[0]["partition_count"], 2);
    assert_eq!(json[0]["configs"]["retention.ms"], "12345");
    assert_eq!(json[0]["partitions"].as_array().unwrap().len(), 2);

    let table = ok(&topics(&broker, &["--describe", "--topic", "d", "--output", "table"]));
    assert!(table.contains("PartitionCount") && table.contains("retention.ms=12345"), "{table}");

    assert_eq!(ok(&topics(&broker, &["--describe", "--topics-with-overrides"])).lines().count(), 1);
    assert_eq!(ok(&topics(&broker, &["--describe", "--under-replicated-partitions"])), "");
    assert_eq!(ok(&topics(&broker, &["--describe", "--unavailable-partitions"])), "");

    ok(&topics(&broker, &["--alter", "--topic", "d", "--partitions", "3"]));
    let text = ok(&topics(&broker, &["--describe", "--topic", "d"]));
    assert!(text.contains("PartitionCount: 3"), "{text}");

    let b = broker.addr();
    let configs = |args: &[&str]| {
        let mut all = vec!["--bootstrap-server", b.as_str()];
        all.extend_from_slice(args);
        script("kafka-configs.sh", &all, None)
    };
    assert_eq!(
        ok(&configs(&["--describe", "--entity-type", "topics", "--entity-name", "d"])),
        "Dynamic configs for topic d are:\n  retention.ms=12345 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=12345, DEFAULT_CONFIG:log.retention.ms=604800000}\n",
        "Kafka lists the broker default among the synonyms"
    );
    assert_eq!(
        ok(&configs(&["--alter", "--topic", "d", "--add-config", "cleanup.policy=compact"])),
        "Completed updating config for topic d.\n"
    );
    ok(&configs(&["--alter", "--topic", "d", "--delete-config", "retention.ms"]));
    let text = ok(&configs(&["--describe", "--topic", "d"]));
    assert!(
        text.contains("  cleanup.policy=compact sensitive=false") && !text.contains("retention.ms"),
        "{text}"
    );
    let all = ok(&configs(&["--describe", "--topic", "d", "--all"]));
    assert!(
        all.starts_with("All configs for topic d are:\n") && all.contains("  segment.bytes="),
        "{all}"
    );
    let out = configs(&["--describe", "--topic", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Topic 'nope' does not exist"), "{}", stderr(&out));
}
