//! Our CLI against third-party clients on the same broker: records written
//! by console-producer read back by kcat byte for byte (keys, headers),
//! records written by kcat printed by console-consumer with every print.*
//! property, and `topics --describe` agreeing with confluent-kafka's
//! AdminClient.

use std::process::Command;
use std::time::Duration;

use crate::broker_support::Broker;
use crate::cli_topics::{ok, script, topics};
use crate::support::*;

#[test]
fn kcat_reads_what_console_producer_wrote() {
    let Some(kcat) = external_tool("kcat") else { return };
    let broker = Broker::start(&[]);
    ok(&topics(&broker, &["--create", "--topic", "to-kcat"]));
    let input = "h1:v1,h2:v2\tk1\tvalue one\n\tk2\tvalue two\nh3:\t\tv3 \u{e9}\n";
    ok(&script(
        "kafka-console-producer.sh",
        &[
            "--bootstrap-server",
            &broker.addr(),
            "--topic",
            "to-kcat",
            "--property",
            "parse.key=true",
            "--property",
            "parse.headers=true",
            "--compression-codec",
            "lz4",
        ],
        Some(input.as_bytes()),
    ));
    let out = run_with_timeout(
        Command::new(kcat).args(["-b", &broker.addr(), "-C", "-t", "to-kcat", "-e", "-J", "-q"]),
        None,
        Duration::from_secs(60),
    );
    let text = ok(&out);
    let records: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 3, "{text}");
    let want = [
        (serde_json::json!(["h1", "v1", "h2", "v2"]), "k1", "value one"),
        (serde_json::Value::Null, "k2", "value two"),
        (serde_json::json!(["h3", ""]), "", "v3 \u{e9}"),
    ];
    for (r, (headers, key, value)) in records.iter().zip(want) {
        assert_eq!(r["key"], key, "{text}");
        assert_eq!(r["payload"], value, "{text}");
        if headers.is_null() {
            assert!(r.get("headers").is_none_or(|h| h.is_null()), "{text}");
        } else {
            assert_eq!(r["headers"], headers, "{text}");
        }
    }
}

#[test]
fn console_consumer_prints_what_kcat_wrote() {
    let Some(kcat) = external_tool("kcat") else { return };
    let broker = Broker::start(&[]);
    ok(&topics(&broker, &["--create", "--topic", "from-kcat"]));
    let out = run_with_timeout(
        Command::new(kcat).args([
            "-b",
            &broker.addr(),
            "-P",
            "-t",
            "from-kcat",
            "-K",
            "\t",
            "-H",
            "a=1",
            "-H",
            "b=2",
            "-z",
            "snappy",
        ]),
        Some(b"k1\tfirst\nk2\tsecond\n"),
        Duration::from_secs(60),
    );
    ok(&out);
    let out = script(
        "kafka-console-consumer.sh",
        &[
            "--bootstrap-server",
            &broker.addr(),
            "--topic",
            "from-kcat",
            "--from-beginning",
            "--max-messages",
            "2",
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
            "print.value=true",
            "--property",
            "key.separator=,",
            "--property",
            "line.separator=;\n",
            "--property",
            "headers.separator=&",
            "--property",
            "null.literal=-",
        ],
        None,
    );
    let text = ok(&out);
    let rows: Vec<&str> = text.split(";\n").filter(|r| !r.is_empty()).collect();
    assert_eq!(rows.len(), 2, "{text}");
    for (i, (key, value)) in [("k1", "first"), ("k2", "second")].iter().enumerate() {
        let f: Vec<&str> = rows[i].split(',').collect();
        assert!(f[0].starts_with("CreateTime:"), "{text}");
        assert_eq!(
            f[1..],
            ["Partition:0", &format!("Offset:{i}"), "a:1&b:2", key, value],
            "{text}"
        );
    }
}

#[test]
fn topics_describe_agrees_with_confluent_admin_client() {
    let Some(python) = python() else { return };
    let broker = Broker::start(&[]);
    ok(&topics(
        &broker,
        &["--create", "--topic", "one", "--partitions", "3", "--config", "retention.ms=1000"],
    ));
    ok(&topics(&broker, &["--create", "--topic", "two"]));
    let theirs = run_with_timeout(
        Command::new(python).arg(repo().join("tests/interop/topics_admin.py")).arg(broker.addr()),
        None,
        Duration::from_secs(60),
    );
    let theirs: serde_json::Value = serde_json::from_str(&ok(&theirs)).unwrap();
    let mut ours: serde_json::Value =
        serde_json::from_str(&ok(&topics(&broker, &["--describe", "--output", "json"]))).unwrap();
    for t in ours.as_array_mut().unwrap() {
        t.as_object_mut().unwrap().remove("topic_id");
    }
    assert_eq!(ours, theirs);
}
