//! producer-perf-test and consumer-perf-test `--print-metrics`: Kafka's
//! metrics table after the report, with counts that match the run.

use std::collections::BTreeMap;

use crate::broker_support::Broker;
use crate::cli_topics::ok;
use crate::support::kafka_rs;

const T: std::time::Duration = std::time::Duration::from_secs(60);

/// `group:name:{tags} : value` lines after the `Metric Name` header.
fn metrics(text: &str) -> BTreeMap<String, String> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with("Metric Name"));
    assert!(lines.next().is_some(), "no metrics table:\n{text}");
    lines
        .map(|l| {
            let (k, v) = l.split_once(" : ").unwrap_or_else(|| panic!("not a metric line: {l:?}"));
            (k.trim_end().to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn perf_tests_print_metrics() {
    let broker = Broker::start(&[]);
    let b = broker.addr();
    ok(&kafka_rs(&["topics", "--bootstrap-server", &b, "--create", "--topic", "perf"], None, T));
    let text = ok(&kafka_rs(
        &[
            "producer-perf-test",
            "--topic",
            "perf",
            "--num-records",
            "2000",
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--bootstrap-server",
            &b,
            "--print-metrics",
        ],
        None,
        T,
    ));
    let m = metrics(&text);
    let c = "{client-id=perf-producer-client}";
    assert_eq!(m[&format!("producer-metrics:record-send-total:{c}")], "2000.000", "{text}");
    assert_eq!(m[&format!("producer-metrics:record-error-total:{c}")], "0.000");
    assert_eq!(m[&format!("producer-metrics:record-size-max:{c}")], "100.000");
    let rate: f64 = m[&format!("producer-metrics:record-send-rate:{c}")].parse().unwrap();
    assert!(rate > 0.0, "{text}");

    let text = ok(&kafka_rs(
        &[
            "consumer-perf-test",
            "--topic",
            "perf",
            "--messages",
            "2000",
            "--bootstrap-server",
            &b,
            "--print-metrics",
        ],
        None,
        T,
    ));
    let m = metrics(&text);
    let c = "{client-id=perf-consumer-client}";
    assert_eq!(
        m[&format!("consumer-fetch-manager-metrics:records-consumed-total:{c}")],
        "2000.000",
        "{text}"
    );
    assert_eq!(
        m[&format!("consumer-fetch-manager-metrics:bytes-consumed-total:{c}")],
        "200000.000"
    );

    // Without the flag, no table.
    let text = ok(&kafka_rs(
        &["consumer-perf-test", "--topic", "perf", "--messages", "10", "--bootstrap-server", &b],
        None,
        T,
    ));
    assert!(!text.contains("Metric Name"), "{text}");
}
