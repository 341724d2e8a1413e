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

/// producer-perf-test of 100-byte records; its output.
fn producer_perf_test(b: &str, topic: &str, records: &str, rate: &str, more: &[&str]) -> String {
    let mut args = vec!["producer-perf-test", "--topic", topic, "--num-records", records];
    args.extend(["--record-size", "100", "--throughput", rate, "--bootstrap-server", b]);
    args.extend(more);
    ok(&kafka_rs(&args, None, T))
}

#[test]
fn perf_tests_print_metrics() {
    let broker = Broker::start(&[]);
    let b = broker.addr();
    ok(&kafka_rs(&["topics", "--bootstrap-server", &b, "--create", "--topic", "perf"], None, T));
    let text = producer_perf_test(&b, "perf", "2000", "-1", &["--print-metrics"]);
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

/// With `--throughput`, a record's latency is the time to its answer, not
/// to the tool's next look at the answers: the tool used to collect them
/// every 1,024 records or at the end, so 8 records at 4 a second came out
/// with latencies of up to 2 s. The producer now sends and handles answers
/// while the tool waits for the next record's turn.
#[test]
fn paced_records_report_their_own_latency() {
    let broker = Broker::start(&[]);
    let b = broker.addr();
    ok(&kafka_rs(&["topics", "--bootstrap-server", &b, "--create", "--topic", "paced"], None, T));
    let text = producer_perf_test(&b, "paced", "8", "4", &[]);
    let last = text.lines().last().unwrap_or_default();
    let avg_ms: f64 = last
        .split(", ")
        .find_map(|f| f.strip_suffix(" ms avg latency"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no average latency in {last:?}"));
    // Records are 250 ms apart: answers taken only at the end averaged
    // about 900 ms; taken as they come, about linger.ms.
    assert!(avg_ms < 250.0, "average latency {avg_ms} ms: {last}");
}
