//! The Prometheus endpoints (`metrics.listener` on brokers), scraped over
//! real HTTP after known traffic: counters move by exactly what was
//! produced and fetched, and on three brokers the under-replicated gauges
//! follow a `kill -9` of a follower and its restart. Where the venv has it,
//! Prometheus's own Python parser (prometheus-client) reads every scrape
//! and must see the same samples we do.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::broker_bad_input::{batch, produce_within};
use crate::broker_support::Broker;
use crate::replication::Cluster;
use crate::support;

const T: Duration = Duration::from_secs(60);

/// `GET path` over a plain socket: the status code and the body.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the metrics listener");
    s.set_read_timeout(Some(T)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read the answer");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head: {text}"));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, body.to_string())
}

/// One scrape as `name{labels} -> value`, labels written as they come.
#[derive(Debug)]
pub struct Scrape {
    pub text: String,
    pub samples: BTreeMap<String, f64>,
}

impl Scrape {
    pub fn parse(text: String) -> Scrape {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let (key, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("bad line {l}"));
                let value = match value {
                    "+Inf" => f64::INFINITY,
                    v => v.parse().unwrap_or_else(|_| panic!("bad value in {l}")),
                };
                (key.to_string(), value)
            })
            .collect();
        Scrape { text, samples }
    }

    /// A sample's value, 0 when absent.
    pub fn get(&self, key: &str) -> f64 {
        self.samples.get(key).copied().unwrap_or(0.0)
    }

    pub fn has(&self, key: &str) -> bool {
        self.samples.contains_key(key)
    }
}

/// Scrapes through Prometheus's Python client where the venv has it,
/// else over a plain socket.
pub fn scrape(port: u16) -> Scrape {
    if let Some(s) = scrape_with_prometheus_client(port) {
        return s;
    }
    let (status, body) = http_get(port, "/metrics");
    assert_eq!(status, 200, "{body}");
    Scrape::parse(body)
}

const PROMETHEUS_PARSE: &str = r#"
import json, sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
with urllib.request.urlopen(sys.argv[1], timeout=60) as r:
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers["Content-Type"]
    text = r.read().decode()
out = {"text": text, "types": {}, "samples": []}
for f in text_string_to_metric_families(text):
    out["types"][f.name] = f.type
    for s in f.samples:
        out["samples"].append([s.name, list(s.labels.items()), s.value])
print(json.dumps(out))
"#;

/// Has urllib fetch the endpoint and Prometheus's Python parser parse it:
/// it must see exactly the samples we read from the same text, with the
/// family types we declared. `None` where the venv lacks prometheus-client
/// (which the interop suite requires).
fn scrape_with_prometheus_client(port: u16) -> Option<Scrape> {
    let py = support::python()?;
    let has_parser = Command::new(&py)
        .args(["-c", "import prometheus_client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_parser {
        assert!(
            !support::interop_required(),
            "the venv needs prometheus-client (scripts/test-all.sh)"
        );
        eprintln!("skipping the prometheus-client parse: not installed");
        return None;
    }
    let url = format!("http://127.0.0.1:{port}/metrics");
    let out =
        support::run_with_timeout(Command::new(&py).args(["-c", PROMETHEUS_PARSE, &url]), None, T);
    assert!(out.status.success(), "prometheus-client: {}", support::stderr(&out));
    let parsed: serde_json::Value = serde_json::from_str(&support::stdout(&out)).unwrap();
    let ours = Scrape::parse(parsed["text"].as_str().unwrap().to_string());
    let types = &parsed["types"];
    for (family, kind) in [
        ("kafka_server_brokertopicmetrics_messagesin", "counter"),
        ("kafka_network_requestmetrics_totaltimems", "histogram"),
        ("kafka_server_replicamanager_underreplicatedpartitions", "gauge"),
        ("znode_count", "gauge"),
        ("process_cpu_seconds", "counter"),
    ] {
        if !types[family].is_null() {
            assert_eq!(types[family], kind, "{types}");
        }
    }
    let samples = parsed["samples"].as_array().unwrap();
    assert_eq!(samples.len(), ours.samples.len(), "{}", ours.text);
    for s in samples {
        let name = s[0].as_str().unwrap();
        let labels: Vec<String> = s[1]
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| format!("{}=\"{}\"", kv[0].as_str().unwrap(), kv[1].as_str().unwrap()))
            .collect();
        let key = if labels.is_empty() {
            name.to_string()
        } else {
            format!("{name}{{{}}}", labels.join(","))
        };
        assert!(ours.has(&key), "prometheus-client saw {key}, which our parse lacks");
        // serde_json may read the parser's float back one ulp off.
        let (theirs, mine) = (s[2].as_f64().unwrap(), ours.get(&key));
        assert!((theirs - mine).abs() <= 1e-12 * mine.abs().max(1.0), "{key}: {theirs} vs {mine}");
    }
    Some(ours)
}

fn fetch_all(broker: &Broker, topic: &str) -> usize {
    let mut req = FetchRequest::default();
    req.replica_id = BrokerId(-1);
    req.max_wait_ms = 0;
    req.max_bytes = 1 << 20;
    req.topics = vec![FetchTopic::default()
        .with_topic(TopicName(StrBytes::from_string(topic.into())))
        .with_partitions(vec![FetchPartition::default()
            .with_partition(0)
            .with_fetch_offset(0)
            .with_partition_max_bytes(1 << 20)])];
    let resp: FetchResponse = broker.wire().call(ApiKey::Fetch, 11, &req);
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    p.records.as_ref().map_or(0, |r| r.len())
}

fn create_topic(bootstrap: &str, topic: &str, rf: &str) {
    let out = support::kafka_rs(
        &[
            "topics",
            "--bootstrap-server",
            bootstrap,
            "--create",
            "--topic",
            topic,
            "--partitions",
            "1",
            "--replication-factor",
            rf,
        ],
        None,
        T,
    );
    assert!(out.status.success(), "{}", support::stderr(&out));
}

#[test]
fn a_broker_counts_what_it_is_sent_and_serves_it_to_prometheus() {
    let port = support::free_port();
    let broker = Broker::start(&[&format!("metrics.listener=http://127.0.0.1:{port}")]);
    support::wait_for_port(port, T);
    create_topic(&broker.addr(), "m1", "1");
    let mut wire = broker.wire();
    let mut bytes_in = 0;
    let mut records = 0;
    for n in 1..=5usize {
        let values: Vec<Vec<u8>> = (0..n).map(|i| format!("value-{n}-{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        let b = batch(&refs);
        bytes_in += b.len();
        records += n;
        let mut attempt = 0;
        loop {
            let (code, _) = produce_within(&mut wire, "m1", 1, 30_000, b.clone());
            // The first produce may race the leader's election.
            if code == 0 {
                break;
            }
            attempt += 1;
            assert!(attempt < 300, "produce kept failing with {code}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let fetched = fetch_all(&broker, "m1");
    assert_eq!(fetched, bytes_in, "one fetch returns the whole log");

    let s = scrape(port);
    let t = |name: &str| {
        s.get(&format!("kafka_server_brokertopicmetrics_{name}_total{{topic=\"m1\"}}"))
    };
    assert_eq!(t("messagesin"), records as f64, "{}", s.text);
    assert_eq!(t("bytesin"), bytes_in as f64);
    assert_eq!(t("bytesout"), bytes_in as f64);
    assert!(t("totalproducerequests") >= 5.0);
    assert_eq!(
        s.get("kafka_server_brokertopicmetrics_messagesin_total"),
        records as f64,
        "all topics, without a label"
    );
    let p = "{topic=\"m1\",partition=\"0\"}";
    assert_eq!(s.get(&format!("kafka_log_log_logendoffset{p}")), records as f64);
    assert_eq!(s.get(&format!("kafka_log_log_size{p}")), bytes_in as f64);
    assert_eq!(s.get(&format!("kafka_log_log_numlogsegments{p}")), 1.0);
    assert_eq!(s.get("kafka_server_replicamanager_partitioncount"), 1.0);
    assert_eq!(s.get("kafka_server_replicamanager_leadercount"), 1.0);
    assert_eq!(s.get("kafka_server_replicamanager_underreplicatedpartitions"), 0.0);
    assert_eq!(s.get("kafka_controller_kafkacontroller_activecontrollercount"), 1.0);
    assert_eq!(s.get("kafka_controller_kafkacontroller_globaltopiccount"), 1.0);
    let produce_count =
        s.get("kafka_network_requestmetrics_totaltimems_count{request=\"Produce\"}");
    assert!(produce_count >= 5.0, "{}", s.text);
    assert_eq!(
        s.get("kafka_network_requestmetrics_totaltimems_bucket{request=\"Produce\",le=\"+Inf\"}"),
        produce_count
    );
    assert!(
        s.get(
            "kafka_network_requestmetrics_requests_total{request=\"FetchConsumer\",version=\"11\"}"
        ) >= 1.0
    );
    assert!(
        s.get("kafka_server_socket_server_metrics_connection_count{listener=\"PLAINTEXT\"}") >= 1.0
    );
    assert!(s.get("process_resident_memory_bytes") > 0.0);
    assert!(s.get("process_open_fds") > 0.0);

    // The counters only move with traffic: a second scrape without any
    // produce shows the same totals.
    let again = scrape(port);
    assert_eq!(again.get("kafka_server_brokertopicmetrics_messagesin_total"), records as f64);

    let (status, _) = http_get(port, "/nothing-here");
    assert_eq!(status, 404);

    // A group that read 6 of the records lags by the rest.
    let consumed = support::kafka_rs(
        &[
            "console-consumer",
            "--bootstrap-server",
            &broker.addr(),
            "--topic",
            "m1",
            "--group",
            "mg",
            "--from-beginning",
            "--max-messages",
            "6",
            "--timeout-ms",
            "30000",
        ],
        None,
        T,
    );
    assert!(consumed.status.success(), "{}", support::stderr(&consumed));
    let g = "{consumergroup=\"mg\",topic=\"m1\",partition=\"0\"}";
    support::wait_until(T, "the group's lag to show", || {
        let s = scrape(port);
        s.get(&format!("kafka_consumergroup_current_offset{g}")) == 6.0
            && s.get(&format!("kafka_consumergroup_lag{g}")) == (records - 6) as f64
            && s.get("kafka_coordinator_group_groupmetadatamanager_numgroups") == 1.0
    });
}

#[test]
fn under_replicated_partitions_follow_a_killed_follower_on_three_brokers() {
    let ports: Vec<u16> = (0..3).map(|_| support::free_port()).collect();
    let mut cluster = Cluster::start_each(&["replica.lag.time.max.ms=2000"], |id| {
        vec![format!("metrics.listener=http://127.0.0.1:{}", ports[(id - 1) as usize])]
    });
    let port = |id: i32| ports[(id - 1) as usize];
    cluster.create("mr", &[]);
    let p = cluster.wait_isr_everywhere("mr", &[1, 2, 3], T);
    let leader = p.leader;
    let follower = p.replicas.iter().copied().find(|&r| r != leader).unwrap();

    let records: Vec<&[u8]> = vec![b"a", b"bb", b"ccc"];
    let b = batch(&records);
    let (code, _) = produce_within(&mut cluster.broker(leader).wire(), "mr", -1, 30_000, b.clone());
    assert_eq!(code, 0);

    let part = "{topic=\"mr\",partition=\"0\"}";
    let sum = |name: &str| -> f64 { [1, 2, 3].iter().map(|&id| scrape(port(id)).get(name)).sum() };
    assert_eq!(sum("kafka_controller_kafkacontroller_activecontrollercount"), 1.0);
    assert_eq!(sum("kafka_server_replicamanager_leadercount"), 1.0);
    assert_eq!(sum("kafka_server_replicamanager_partitioncount"), 3.0);
    let lead = scrape(port(leader));
    assert_eq!(lead.get("kafka_server_brokertopicmetrics_messagesin_total{topic=\"mr\"}"), 3.0);
    assert_eq!(lead.get("kafka_server_replicamanager_underreplicatedpartitions"), 0.0);
    assert_eq!(lead.get(&format!("kafka_cluster_partition_insyncreplicascount{part}")), 3.0);
    // Followers copied the batch: each counts it in, the leader counts it out twice.
    support::wait_until(T, "the followers to report the replicated bytes", || {
        let f = scrape(port(follower));
        f.get("kafka_server_brokertopicmetrics_replicationbytesin_total{topic=\"mr\"}")
            == b.len() as f64
    });
    support::wait_until(T, "the leader to report the bytes sent to followers", || {
        scrape(port(leader)).get("kafka_server_brokertopicmetrics_replicationbytesout_total")
            >= 2.0 * b.len() as f64
    });

    cluster.kill9(follower);
    // The controller or the leader takes the follower out of the ISR;
    // either way the leader's gauges show it.
    support::wait_until(T, "the leader to report the partition under-replicated", || {
        let s = scrape(port(leader));
        s.get("kafka_server_replicamanager_underreplicatedpartitions") == 1.0
            && s.get(&format!("kafka_cluster_partition_underreplicated{part}")) == 1.0
    });
    let s = scrape(port(leader));
    assert_eq!(s.get(&format!("kafka_cluster_partition_insyncreplicascount{part}")), 2.0);
    assert_eq!(s.get(&format!("kafka_cluster_partition_replicascount{part}")), 3.0);

    cluster.restart(follower);
    support::wait_until(T, "the partition to be fully replicated again", || {
        let s = scrape(port(leader));
        s.get("kafka_server_replicamanager_underreplicatedpartitions") == 0.0
            && s.get(&format!("kafka_cluster_partition_underreplicated{part}")) == 0.0
            && s.get("kafka_server_replicamanager_isrexpands_total") >= 1.0
    });
    assert_eq!(sum("kafka_controller_kafkacontroller_activecontrollercount"), 1.0);
    assert_eq!(sum("kafka_controller_kafkacontroller_offlinepartitionscount"), 0.0);
}

const ZK_PROMETHEUS: &str =
    "metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";

/// `mntr` as key -> value.
fn mntr(port: u16) -> BTreeMap<String, String> {
    crate::zk_harness::four_letter(port, "mntr")
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_zookeeper_server_serves_mntr_as_prometheus_gauges_under_apache_names() {
    let port = support::free_port();
    let zk =
        crate::zk_harness::start_ours(&format!("{ZK_PROMETHEUS}\nmetricsProvider.httpPort={port}"));
    support::wait_for_port(port, T);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = rt.block_on(zookeeper_client::Client::connect(&zk.addr())).unwrap();
    for n in 0..3 {
        let opts = zookeeper_client::CreateMode::Persistent
            .with_acls(zookeeper_client::Acls::anyone_all());
        rt.block_on(client.create(&format!("/m{n}"), b"data", &opts)).unwrap();
    }
    let (_, _, _watch) = rt.block_on(client.get_and_watch_data("/m0")).unwrap();

    let s = scrape(port);
    let text = mntr(zk.port);
    // The server is idle between the two reads: the gauges agree with mntr.
    for key in [
        "znode_count",
        "watch_count",
        "ephemerals_count",
        "approximate_data_size",
        "global_sessions",
    ] {
        let from_mntr: f64 = text[&format!("zk_{key}")].parse().unwrap();
        assert_eq!(s.get(key), from_mntr, "{key}: {}", s.text);
    }
    assert_eq!(s.get("znode_count"), 8.0, "5 nodes at start, 3 created: {}", s.text);
    assert_eq!(s.get("watch_count"), 1.0);
    assert!(s.get("num_alive_connections") >= 1.0);
    assert!(s.has("outstanding_requests") && s.has("avg_latency") && s.has("max_latency"));
    assert!(s.get("packets_received") >= 5.0);
    assert!(s.get("process_resident_memory_bytes") > 0.0);
    // Every gauge is a row of mntr under ZooKeeper's name.
    for key in s.samples.keys().filter(|k| !k.starts_with("process_")) {
        assert!(text.contains_key(&format!("zk_{key}")), "{key} is not in mntr");
    }

    // Apache ZooKeeper 3.8's mntr has every one of those names too.
    if let Some(apache) = crate::zk_harness::start_apache("") {
        let theirs = mntr(apache.port);
        for key in s.samples.keys().filter(|k| !k.starts_with("process_")) {
            assert!(
                theirs.contains_key(&format!("zk_{key}")),
                "Apache's mntr lacks zk_{key}: {theirs:?}"
            );
        }
    }
    drop(client);
}
