//! The quickstart through bin/ scripts, and console-producer,
//! console-consumer, get-offsets, configs and the perf tests against a
//! broker process, with their error paths.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::broker_support::Broker;
use crate::cli_topics::{ok, script, topics};
use crate::support::*;

fn produce(broker: &Broker, topic: &str, extra: &[&str], input: &str) -> std::process::Output {
    let addr = broker.addr();
    let mut args = vec!["--bootstrap-server", addr.as_str(), "--topic", topic];
    args.extend_from_slice(extra);
    script("kafka-console-producer.sh", &args, Some(input.as_bytes()))
}

fn consume(broker: &Broker, topic: &str, extra: &[&str]) -> std::process::Output {
    let addr = broker.addr();
    let mut args = vec!["--bootstrap-server", addr.as_str(), "--topic", topic];
    args.extend_from_slice(extra);
    script("kafka-console-consumer.sh", &args, None)
}

#[test]
fn quickstart_single_node_through_bin_scripts() {
    let broker = Broker::start(&[]);
    let b = broker.addr();
    let out = script(
        "kafka-topics.sh",
        &[
            "--create",
            "--bootstrap-server",
            &b,
            "--replication-factor",
            "1",
            "--partitions",
            "1",
            "--topic",
            "test",
        ],
        None,
    );
    assert_eq!(ok(&out), "Created topic test.\n");
    assert_eq!(
        ok(&script("kafka-topics.sh", &["--list", "--bootstrap-server", &b], None)),
        "test\n"
    );

    let describe = ok(&script(
        "kafka-topics.sh",
        &["--describe", "--bootstrap-server", &b, "--topic", "test"],
        None,
    ));
    let lines: Vec<&str> = describe.lines().collect();
    assert_eq!(lines.len(), 2, "{describe}");
    assert!(lines[0].starts_with("Topic: test\tTopicId: "), "{describe}");
    assert!(lines[0].contains("\tPartitionCount: 1\tReplicationFactor: 1\tConfigs:"), "{describe}");
    let fields: Vec<&str> = lines[1].split('\t').collect();
    assert_eq!(fields[..3], ["", "Topic: test", "Partition: 0"], "{describe}");
    let leader = fields[3].strip_prefix("Leader: ").expect("leader field");
    assert_eq!(
        fields[4..],
        [format!("Replicas: {leader}"), format!("Isr: {leader}")],
        "{describe}"
    );

    let out = script(
        "kafka-console-producer.sh",
        &["--broker-list", &b, "--topic", "test"],
        Some(b"This is a message\nThis is another message\n"),
    );
    assert_eq!(ok(&out), "", "no prompt when stdin is not a terminal");

    let out = script(
        "kafka-console-consumer.sh",
        &["--bootstrap-server", &b, "--topic", "test", "--from-beginning", "--max-messages", "2"],
        None,
    );
    assert_eq!(ok(&out), "This is a message\nThis is another message\n");
    assert_eq!(stderr(&out), "Processed a total of 2 messages\n");
}

#[test]
fn keyed_records_land_where_the_java_client_puts_them() {
    let broker = Broker::start(&[]);
    ok(&topics(&broker, &["--create", "--topic", "keys", "--partitions", "5"]));
    let keys = ["21", "foobar", "abc", "a-little-bit-long-string", "k1", "k2", "k3"];
    let input: String = keys.iter().map(|k| format!("{k}\tvalue-of-{k}\n")).collect();
    ok(&produce(&broker, "keys", &["--property", "parse.key=true"], &input));
    let out = consume(
        &broker,
        "keys",
        &[
            "--from-beginning",
            "--max-messages",
            "7",
            "--property",
            "print.key=true",
            "--property",
            "print.partition=true",
        ],
    );
    let mut seen = 0;
    for line in ok(&out).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let partition: i32 = f[0].strip_prefix("Partition:").unwrap().parse().unwrap();
        assert_eq!(f[2], format!("value-of-{}", f[1]));
        assert_eq!(
            partition,
            kafka_rs::client::producer::partition_for_key(f[1].as_bytes(), 5),
            "key {}",
            f[1]
        );
        seen += 1;
    }
    assert_eq!(seen, keys.len());
}

#[test]
fn headers_keys_nulls_and_every_print_property() {
    let broker = Broker::start(&[]);
    ok(&topics(&broker, &["--create", "--topic", "h"]));
    let input = "h1:v1,h2:v2\tk1\tone\n\tNULL\ttwo\nh3\tk3\tNULL\n";
    let props = [
        "--property",
        "parse.headers=true",
        "--property",
        "parse.key=true",
        "--property",
        "null.marker=NULL",
    ];
    ok(&produce(&broker, "h", &props, input));
    let out = consume(
        &broker,
        "h",
        &[
            "--from-beginning",
            "--max-messages",
            "3",
            "--property",
            "print.timestamp=true",
            "--property",
            "print.partition=true",
            "--property",
            "print.offset=true",
            "--property",
            "print.headers=true",
            "--property",
            "print.key=true",
            "--property",
            "key.separator=|",
            "--property",
            "null.literal=<null>",
        ],
    );
    let text = ok(&out);
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), 3, "{text}");
    for (i, row) in rows.iter().enumerate() {
        assert!(row[0].starts_with("CreateTime:"), "{text}");
        assert_eq!(row[1], "Partition:0");
        assert_eq!(row[2], format!("Offset:{i}"));
    }
    assert_eq!(rows[0][3..], ["h1:v1,h2:v2", "k1", "one"]);
    assert_eq!(rows[1][3..], ["NO_HEADERS", "<null>", "two"]);
    assert_eq!(rows[2][3..], ["h3:<null>", "k3", "<null>"]);
}

#[test]
fn every_line_is_delivered_with_each_codec_and_acks() {
    let broker = Broker::start(&[]);
    ok(&topics(&broker, &["--create", "--topic", "codecs", "--partitions", "2"]));
    let mut expected = Vec::new();
    for (codec, acks) in
        [("none", "1"), ("gzip", "all"), ("snappy", "-1"), ("lz4", "1"), ("zstd", "0")]
    {
        let input: String = (0..500).map(|n| format!("{codec}-{n}\n")).collect();
        expected.extend(input.lines().map(str::to_string));
        let out = produce(
            &broker,
            "codecs",
            &[
                "--compression-codec",
                codec,
                "--request-required-acks",
                acks,
                "--batch-size",
                "2000",
                "--timeout",
                "5",
            ],
            &input,
        );
        ok(&out);
    }
    let out = consume(&broker, "codecs", &["--from-beginning", "--max-messages", "2500"]);
    let mut got: Vec<String> = ok(&out).lines().map(str::to_string).collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
}

#[test]
fn idempotent_producer_delivers_in_order() {
    let broker = Broker::start(&[]);
    ok(&topics(&broker, &["--create", "--topic", "idem"]));
    let input: String = (0..3000).map(|n| format!("{n}\n")).collect();
    ok(&produce(
        &broker,
        "idem",
        &["--producer-property", "enable.idempotence=true", "--batch-size", "1000"],
        &input,
    ));
    let out = consume(&broker, "idem", &["--from-beginning", "--max-messages", "3000"]);
    assert_eq!(ok(&out), input);
}

#[test]
fn producer_errors_name_the_line_and_exit_non_zero() {
    let broker = Broker::start(&[]);
    ok(&topics(&broker, &["--create", "--topic", "p"]));
    let out = produce(&broker, "p", &["--property", "parse.key=true"], "k\tv\nno-separator\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("No key separator found on line number 2: 'no-separator'"),
        "{}",
        stderr(&out)
    );

    let port = free_port();
    let out = script(
        "kafka-console-producer.sh",
        &["--bootstrap-server", &format!("127.0.0.1:{port}"), "--topic", "p"],
        Some(b"x\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot connect to 127.0.0.1:"), "{}", stderr(&out));

    let out = produce(&broker, "p", &["--request-required-acks", "2"], "x\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Invalid value 2 for configuration acks"), "{}", stderr(&out));
}

#[test]
fn consumer_exits_when_stdout_closes_and_on_idle_timeout() {
    let broker = Broker::start(&[]);
    ok(&topics(&broker, &["--create", "--topic", "c"]));
    ok(&produce(&broker, "c", &[], "a\nb\nc\n"));

    // `| head -1`: read one line, close the pipe; the tail must exit 0.
    let mut child = ChildGuard::spawn(
        "console-consumer",
        Command::new(bin())
            .args([
                "console-consumer",
                "--bootstrap-server",
                &broker.addr(),
                "--topic",
                "c",
                "--from-beginning",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let stdout = child.child.as_mut().unwrap().stdout.take().unwrap();
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    assert_eq!(first, "a\n");
    let mut status = None;
    wait_until(Duration::from_secs(20), "the consumer to exit after its stdout closed", || {
        status = child.try_wait();
        status.is_some()
    });
    assert_eq!(status.unwrap().code(), Some(0));

    let out = consume(&broker, "c", &["--from-beginning", "--timeout-ms", "1000"]);
    assert_eq!(ok(&out), "a\nb\nc\n");
    assert_eq!(stderr(&out), "Processed a total of 3 messages\n");

    let out = consume(&broker, "c", &["--partition", "0", "--offset", "1", "--max-messages", "2"]);
    assert_eq!(ok(&out), "b\nc\n");
}

#[test]
fn consumer_errors() {
    let broker = Broker::start(&[]);
    let cases: &[(&[&str], &str)] = &[
        (&["--topic", "nope", "--timeout-ms", "500"], "Topic 'nope' does not exist"),
        (&["--topic", "t", "--offset", "3"], "The partition is required when offset is specified."),
        (
            &["--topic", "t", "--partition", "0", "--offset", "x"],
            "The provided offset value 'x' is incorrect",
        ),
        (
            &["--topic", "t", "--isolation-level", "dirty"],
            "Invalid value dirty for configuration isolation.level",
        ),
    ];
    for (args, text) in cases {
        let mut all = vec!["--bootstrap-server".to_string(), broker.addr()];
        all.extend(args.iter().map(|s| s.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let out = script("kafka-console-consumer.sh", &all, None);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(text), "{args:?}: {}", stderr(&out));
    }
    let out = script("kafka-console-consumer.sh", &["--bootstrap-server", &broker.addr()], None);
    assert_eq!(out.status.code(), Some(2), "a topic or --include is required");
}

#[test]
fn get_offsets_prints_topic_partition_offset() {
    let broker = Broker::start(&[]);
    ok(&topics(&broker, &["--create", "--topic", "go", "--partitions", "2"]));
    ok(&produce(&broker, "go", &["--property", "parse.key=true"], "21\ta\n21\tb\nfoobar\tc\n"));
    let p21 = kafka_rs::client::producer::partition_for_key(b"21", 2);
    let pfoo = kafka_rs::client::producer::partition_for_key(b"foobar", 2);
    let mut want = [0i64; 2];
    want[p21 as usize] += 2;
    want[pfoo as usize] += 1;
    let b = broker.addr();
    let latest =
        ok(&script("kafka-get-offsets.sh", &["--bootstrap-server", &b, "--topic", "go"], None));
    assert_eq!(latest, format!("go:0:{}\ngo:1:{}\n", want[0], want[1]));
    let earliest = ok(&script(
        "kafka-get-offsets.sh",
        &["--bootstrap-server", &b, "--topic", "go", "--time", "-2"],
        None,
    ));
    assert_eq!(earliest, "go:0:0\ngo:1:0\n");
    let one = ok(&script(
        "kafka-get-offsets.sh",
        &["--bootstrap-server", &b, "--topic", "g.", "--partitions", "1", "--time", "earliest"],
        None,
    ));
    assert_eq!(one, "go:1:0\n");
    let out = script("kafka-get-offsets.sh", &["--bootstrap-server", &b, "--topic", "none"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Could not match any topic-partitions with the specified filters")
    );
}

#[test]
fn perf_tests_print_kafkas_report_lines() {
    let broker = Broker::start(&[]);
    ok(&topics(&broker, &["--create", "--topic", "perf"]));
    let b = broker.addr();
    let out = script(
        "kafka-producer-perf-test.sh",
        &[
            "--topic",
            "perf",
            "--num-records",
            "5000",
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--producer-props",
            &format!("bootstrap.servers={b}"),
            "acks=1",
        ],
        None,
    );
    let text = ok(&out);
    let last = text.lines().last().unwrap();
    let re = regex::Regex::new(
        r"^5000 records sent, \d+\.\d{6} records/sec \(\d+\.\d{2} MB/sec\), \d+\.\d{2} ms avg latency, \d+\.\d{2} ms max latency, \d+ ms 50th, \d+ ms 95th, \d+ ms 99th, \d+ ms 99\.9th\.$",
    )
    .unwrap();
    assert!(re.is_match(last), "{last}");

    let out = script(
        "kafka-consumer-perf-test.sh",
        &["--bootstrap-server", &b, "--topic", "perf", "--messages", "5000", "--timeout", "20000"],
        None,
    );
    let text = ok(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec");
    let re = regex::Regex::new(
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}, \d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}, 0\.4768, \d+\.\d{4}, 5000, \d+\.\d{4}, 0, \d+, \d+\.\d{4}, \d+\.\d{4}$",
    )
    .unwrap();
    assert!(re.is_match(lines[1]), "{}", lines[1]);
}

#[test]
fn a_record_the_broker_refuses_is_reported_by_line() {
    let broker = Broker::start(&["message.max.bytes=300"]);
    ok(&topics(&broker, &["--create", "--topic", "big"]));
    let input = format!("short\n{}\nshort2\n", "x".repeat(1000));
    let out = produce(&broker, "big", &[], &input);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("Error when sending message to topic big from line 2 with error: "),
        "{err}"
    );
    assert!(err.ends_with("Error: 1 of 3 messages were not delivered to topic big\n"), "{err}");
    let out = consume(&broker, "big", &["--from-beginning", "--timeout-ms", "1000"]);
    assert_eq!(ok(&out), "short\nshort2\n", "the batch was split so the others got through");
}

#[test]
fn ctrl_c_stops_the_tail_with_the_count() {
    let broker = Broker::start(&[]);
    ok(&topics(&broker, &["--create", "--topic", "tail"]));
    ok(&produce(&broker, "tail", &[], "1\n2\n"));
    let mut child = ChildGuard::spawn(
        "console-consumer",
        Command::new(bin())
            .args([
                "console-consumer",
                "--bootstrap-server",
                &broker.addr(),
                "--topic",
                "tail",
                "--from-beginning",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let stdout = child.child.as_mut().unwrap().stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    let mut lines = String::new();
    while lines.lines().count() < 2 {
        assert!(reader.read_line(&mut lines).unwrap() > 0, "output ended early: {lines}");
    }
    let pid = child.pid().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let mut status = None;
    wait_until(Duration::from_secs(20), "the consumer to exit on SIGINT", || {
        status = child.try_wait();
        status.is_some()
    });
    assert_eq!(status.unwrap().code(), Some(0));
    assert_eq!(child.stderr_text(), "Processed a total of 2 messages\n");
}
