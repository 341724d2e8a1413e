//! console-consumer's formatters and deserializers against a broker
//! process: binary keys and values written on the wire, printed through
//! Kafka's deserializer classes, and the logging and no-op formatters.

use kafka_rs::record::{BatchBuilder, Compression, NewRecord};

use crate::broker_bad_input::{create_topic, produce};
use crate::broker_support::Broker;
use crate::cli_topics::ok;
use crate::support::{kafka_rs, stderr, stdout};

const T: std::time::Duration = std::time::Duration::from_secs(30);
const SER: &str = "org.apache.kafka.common.serialization.";

/// Writes `records` (key, value) to partition 0 of a new one-partition topic.
fn topic_with(broker: &Broker, topic: &str, records: &[(Option<Vec<u8>>, Option<Vec<u8>>)]) {
    let mut wire = broker.wire();
    assert_eq!(create_topic(&mut wire, topic, &[]).topics[0].error_code, 0);
    let mut b = BatchBuilder::new(Compression::None);
    for (k, v) in records {
        b.push(NewRecord::new(1_700_000_000_000, k.as_deref(), v.as_deref()));
    }
    let (code, _) = produce(&mut wire, topic, -1, b.build().unwrap());
    assert_eq!(code, 0);
}

fn consume(broker: &Broker, topic: &str, n: usize, extra: &[&str]) -> std::process::Output {
    let addr = broker.addr();
    let n = n.to_string();
    let mut args = vec![
        "console-consumer",
        "--bootstrap-server",
        &addr,
        "--topic",
        topic,
        "--from-beginning",
        "--max-messages",
        &n,
        "--timeout-ms",
        "10000",
    ];
    args.extend_from_slice(extra);
    kafka_rs(&args, None, T)
}

#[test]
fn deserializers_print_numbers_uuids_and_fail_like_kafka() {
    let broker = Broker::start(&[]);
    topic_with(
        &broker,
        "numbers",
        &[
            (Some(7i64.to_be_bytes().to_vec()), Some(42i32.to_be_bytes().to_vec())),
            (None, Some((-5i32).to_be_bytes().to_vec())),
        ],
    );
    let long = format!("{SER}LongDeserializer");
    let int = format!("{SER}IntegerDeserializer");
    let out = consume(
        &broker,
        "numbers",
        2,
        &[
            "--key-deserializer",
            &long,
            "--value-deserializer",
            &int,
            "--property",
            "print.key=true",
        ],
    );
    assert_eq!(ok(&out), "7\t42\nnull\t-5\n");

    // The same classes through the formatter's properties.
    let out = consume(&broker, "numbers", 1, &["--property", &format!("value.deserializer={int}")]);
    assert_eq!(ok(&out), "42\n");

    let id = "3F2504E0-4F89-11D3-9A0C-0305E82C3301";
    topic_with(
        &broker,
        "mixed",
        &[
            (None, Some(1.5f64.to_be_bytes().to_vec())),
            (None, Some(1e10f64.to_be_bytes().to_vec())),
            (None, Some(b"abc".to_vec())),
            (None, Some(0.25f64.to_be_bytes().to_vec())),
        ],
    );
    let double = format!("{SER}DoubleDeserializer");
    // A 3-byte value is no double: Kafka's consumer stops with its exception.
    let out = consume(&broker, "mixed", 4, &["--value-deserializer", &double]);
    assert!(!out.status.success());
    assert_eq!(stdout(&out), "1.5\n1.0E10\n");
    assert!(
        stderr(&out).contains(
            "SerializationException: Size of data received by DoubleDeserializer is not 8"
        ),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("Processed a total of 3 messages"), "{}", stderr(&out));
    let out =
        consume(&broker, "mixed", 4, &["--value-deserializer", &double, "--skip-message-on-error"]);
    assert_eq!(ok(&out), "1.5\n1.0E10\n0.25\n");
    assert!(stderr(&out).contains("skipping this message"), "{}", stderr(&out));

    topic_with(&broker, "ids", &[(None, Some(id.as_bytes().to_vec()))]);
    let out =
        consume(&broker, "ids", 1, &["--value-deserializer", &format!("{SER}UUIDDeserializer")]);
    assert_eq!(ok(&out), format!("{}\n", id.to_lowercase()));

    let out = consume(&broker, "ids", 1, &["--value-deserializer", "LongDeserializer"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("ClassNotFoundException: LongDeserializer"), "{}", stderr(&out));
}

#[test]
fn logging_and_no_op_formatters() {
    let broker = Broker::start(&[]);
    topic_with(
        &broker,
        "words",
        &[(Some(b"k1".to_vec()), Some(b"one".to_vec())), (None, Some(b"two".to_vec()))],
    );
    let out = consume(&broker, "words", 2, &["--formatter", "kafka.tools.NoOpMessageFormatter"]);
    assert_eq!(ok(&out), "", "the no-op formatter prints nothing");
    assert!(stderr(&out).contains("Processed a total of 2 messages"), "{}", stderr(&out));

    let out = consume(
        &broker,
        "words",
        2,
        &["--formatter", "org.apache.kafka.tools.consumer.LoggingMessageFormatter"],
    );
    assert_eq!(ok(&out), "one\ntwo\n", "the default output as well");
    let err = stderr(&out);
    assert!(err.contains("INFO CreateTime:1700000000000, key:k1, value:one"), "{err}");
    assert!(err.contains("INFO CreateTime:1700000000000, key:null, value:two"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("formatter.properties");
    std::fs::write(&file, "print.key=true\nkey.separator=::\n").unwrap();
    let out = consume(
        &broker,
        "words",
        1,
        &[
            "--formatter",
            "kafka.tools.DefaultMessageFormatter",
            "--formatter-config",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(ok(&out), "k1::one\n");

    let out =
        consume(&broker, "words", 1, &["--formatter", "kafka.tools.ChecksumMessageFormatter"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("ClassNotFoundException"), "{}", stderr(&out));
}
