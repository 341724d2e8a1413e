//! Client quotas (KIP-13, KIP-219, KIP-546): the configs CLI and the
//! Describe/AlterClientQuotas APIs over Kafka's ZooKeeper layout, produce
//! and fetch throttling of one client beside an unthrottled one, a change
//! reaching every broker of a cluster, and a producer we did not write
//! (confluent-kafka) kept at its quota.

use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, DescribeClientQuotasRequest, DescribeClientQuotasResponse, FetchRequest, FetchResponse,
    ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::broker_bad_input::{batch, create_topic};
use crate::broker_support::{Broker, Wire};
use crate::replication::Cluster;
use crate::support;

const T: Duration = Duration::from_secs(60);

/// Two windows of one second: a rate is judged over at least one second,
/// so a test's few requests are enough to go over a quota.
const WINDOWS: &str = "quota.window.num=2";

fn configs(bootstrap: &str, args: &[&str]) -> String {
    let mut all = vec!["configs", "--bootstrap-server", bootstrap];
    all.extend_from_slice(args);
    let out = support::kafka_rs(&all, None, T);
    assert!(out.status.success(), "configs {args:?}: {}", support::stderr(&out));
    support::stdout(&out)
}

/// `configs --alter --entity-type T --entity-name N|--entity-default OP CONFIGS`.
fn alter(bootstrap: &str, entity_type: &str, name: Option<&str>, op: &str, change: &str) -> String {
    let mut args = vec!["--alter", "--entity-type", entity_type];
    match name {
        Some(n) => args.extend(["--entity-name", n]),
        None => args.push("--entity-default"),
    }
    args.extend([op, change]);
    configs(bootstrap, &args)
}

/// Produces one batch of `size` bytes of values to partition 0; returns
/// the error code and throttle_time_ms.
fn produce_sized(wire: &mut Wire, topic: &str, size: usize) -> (i16, i32) {
    let value = vec![b'q'; size];
    let mut req = ProduceRequest::default();
    req.acks = 1;
    req.timeout_ms = 30_000;
    req.topic_data = vec![TopicProduceData::default()
        .with_name(TopicName(StrBytes::from_string(topic.to_string())))
        .with_partition_data(vec![PartitionProduceData::default()
            .with_index(0)
            .with_records(Some(Bytes::from(batch(&[&value]))))])];
    let resp: ProduceResponse = wire.call(ApiKey::Produce, 8, &req);
    (resp.responses[0].partition_responses[0].error_code, resp.throttle_time_ms)
}

/// A fetch of partition 0 from `offset`; returns the record bytes and
/// throttle_time_ms.
fn fetch(wire: &mut Wire, topic: &str, offset: i64) -> (usize, i32) {
    let mut req = FetchRequest::default();
    req.replica_id = kafka_protocol::messages::BrokerId(-1);
    req.max_wait_ms = 0;
    req.min_bytes = 0;
    req.max_bytes = 1 << 20;
    req.topics = vec![FetchTopic::default()
        .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
        .with_partitions(vec![FetchPartition::default()
            .with_partition(0)
            .with_fetch_offset(offset)
            .with_partition_max_bytes(1 << 20)])];
    let resp: FetchResponse = wire.call(ApiKey::Fetch, 11, &req);
    let bytes = resp
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| p.records.as_ref().map_or(0, |r| r.len()))
        .sum();
    (bytes, resp.throttle_time_ms)
}

/// What DescribeClientQuotas on this broker says of one client id.
fn described_client_quota(port: u16, client_id: &str) -> Vec<(String, f64)> {
    let req =
        DescribeClientQuotasRequest::default().with_components(vec![ComponentData::default()
            .with_entity_type(StrBytes::from_static_str("client-id"))
            .with_match_type(0)
            .with_match(Some(StrBytes::from_string(client_id.to_string())))]);
    let resp: DescribeClientQuotasResponse =
        Wire::connect(port).call(ApiKey::DescribeClientQuotas, 1, &req);
    assert_eq!(resp.error_code, 0);
    resp.entries
        .unwrap_or_default()
        .iter()
        .flat_map(|e| e.values.iter().map(|v| (v.key.to_string(), v.value)))
        .collect()
}

fn znode(zk_port: u16, path: &str) -> Option<serde_json::Value> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let c = zookeeper_client::Client::connect(&format!("127.0.0.1:{zk_port}")).await.unwrap();
        match c.get_data(path).await {
            Ok((d, _)) => Some(serde_json::from_slice(&d).unwrap()),
            Err(zookeeper_client::Error::NoNode) => None,
            Err(e) => panic!("{path}: {e}"),
        }
    })
}

#[test]
fn configs_cli_sets_and_describes_quotas_in_kafkas_znodes_with_kafkas_lines() {
    let zk = support::free_port();
    let broker = Broker::start(&[&format!("embedded.zookeeper.port={zk}")]);
    let bs = broker.addr();
    let done = alter(
        &bs,
        "users",
        Some("alice"),
        "--add-config",
        "producer_byte_rate=1024,consumer_byte_rate=2048",
    );
    assert_eq!(done, "Completed updating config for user alice.\n");
    let done = alter(&bs, "clients", None, "--add-config", "producer_byte_rate=100000");
    assert_eq!(done, "Completed updating default config for clients in the cluster.\n");
    configs(
        &bs,
        &[
            "--alter",
            "--user",
            "alice",
            "--client",
            "app 1",
            "--add-config",
            "request_percentage=50",
        ],
    );
    alter(&bs, "users", Some("alice"), "--add-config", "SCRAM-SHA-256=[password=pw]");

    assert_eq!(
        configs(&bs, &["--describe", "--entity-type", "users", "--entity-name", "alice"]),
        "Quota configs for user-principal 'alice' are consumer_byte_rate=2048.0, producer_byte_rate=1024.0\n\
         SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=4096\n",
        "quotas, then the credentials the same znode holds"
    );
    assert_eq!(
        configs(&bs, &["--describe", "--entity-type", "clients"]),
        "Quota configs for the default client-id are producer_byte_rate=100000.0\n"
    );
    assert_eq!(
        configs(&bs, &["--describe", "--entity-type", "users", "--entity-type", "clients"]),
        "Quota configs for user-principal 'alice', client-id 'app 1' are request_percentage=50.0\n"
    );

    // Kafka's layout: byte rates as longs, names sanitized, a change
    // notification per alteration.
    let alice = znode(zk, "/config/users/alice").unwrap();
    assert_eq!(alice["config"]["producer_byte_rate"], "1024");
    assert!(alice["config"]["SCRAM-SHA-256"].is_string(), "the credential is kept: {alice}");
    let combo = znode(zk, "/config/users/alice/clients/app%201").unwrap();
    assert_eq!(combo, serde_json::json!({"version": 1, "config": {"request_percentage": "50.0"}}));
    assert!(znode(zk, "/config/clients/<default>").is_some());

    alter(&bs, "users", Some("alice"), "--delete-config", "consumer_byte_rate");
    let alice = znode(zk, "/config/users/alice").unwrap();
    assert!(alice["config"].get("consumer_byte_rate").is_none(), "{alice}");
    assert!(alice["config"]["SCRAM-SHA-256"].is_string(), "the credential is still kept");

    let bad = support::kafka_rs(
        &[
            "configs",
            "--bootstrap-server",
            &bs,
            "--alter",
            "--entity-type",
            "clients",
            "--entity-name",
            "x",
            "--add-config",
            "retention.ms=1",
        ],
        None,
        T,
    );
    assert!(!bad.status.success());
    assert!(support::stderr(&bad).contains("Only quota configs can be added for 'clients'"));
}

#[test]
fn a_produce_quota_throttles_its_client_and_not_another_on_the_same_broker() {
    let broker = Broker::start(&[WINDOWS]);
    let bs = broker.addr();
    assert_eq!(create_topic(&mut broker.wire(), "pq", &[]).topics[0].error_code, 0);
    alter(&bs, "clients", Some("slow"), "--add-config", "producer_byte_rate=10240");

    let mut slow = Wire::connect(broker.port).with_client_id("slow");
    let mut fast = Wire::connect(broker.port).with_client_id("fast");
    let mut slow_throttles = Vec::new();
    for _ in 0..3 {
        let (code, throttle) = produce_sized(&mut slow, "pq", 16 * 1024);
        assert_eq!(code, 0, "a throttled produce is still appended");
        slow_throttles.push(throttle);
        let (code, throttle) = produce_sized(&mut fast, "pq", 16 * 1024);
        assert_eq!((code, throttle), (0, 0), "the client without a quota is not throttled");
    }
    // 16 KiB over a one-second window is 1.6x the quota: the first
    // response already asks for (16384 - 10240) / 10240 * 1000 ms.
    assert!(slow_throttles.iter().all(|t| *t >= 500), "{slow_throttles:?}");
}

#[test]
fn a_fetch_quota_sizes_responses_to_one_window_and_answers_empty_while_throttled() {
    let broker = Broker::start(&[WINDOWS]);
    let bs = broker.addr();
    assert_eq!(create_topic(&mut broker.wire(), "fq", &[]).topics[0].error_code, 0);
    let mut writer = Wire::connect(broker.port).with_client_id("writer");
    for _ in 0..4 {
        assert_eq!(produce_sized(&mut writer, "fq", 8000).0, 0);
    }
    alter(&bs, "clients", Some("slowc"), "--add-config", "consumer_byte_rate=10000");

    let (all, throttle) = fetch(&mut Wire::connect(broker.port).with_client_id("fastc"), "fq", 0);
    assert!(all > 32_000, "an unthrottled consumer gets every batch: {all}");
    assert_eq!(throttle, 0);

    let mut slow = Wire::connect(broker.port).with_client_id("slowc");
    let (first, throttle) = fetch(&mut slow, "fq", 0);
    assert!(first > 0 && first <= 10_000, "one window's worth, one batch: {first}");
    assert_eq!(throttle, 0, "8 KB over a second is within 10 KB/s");
    let (second, throttle) = fetch(&mut slow, "fq", 1);
    assert!(throttle > 0, "16 KB in a second is over the quota");
    assert_eq!(second, 0, "a throttled fetch is answered empty, as Kafka does");
}

#[test]
fn a_quota_change_reaches_every_broker_of_a_cluster_live() {
    let cluster = Cluster::start(&[WINDOWS]);
    cluster.create("live", &[]);
    let on_one = cluster.broker(1).addr();
    alter(&on_one, "clients", Some("live"), "--add-config", "producer_byte_rate=4096");

    let three = cluster.broker(3).port;
    support::wait_until(T, "broker 3 to see the quota", || {
        described_client_quota(three, "live") == [("producer_byte_rate".to_string(), 4096.0)]
    });
    let mut wire = Wire::connect(three).with_client_id("live");
    let (_, throttle) = produce_sized(&mut wire, "live", 16 * 1024);
    assert!(throttle > 0, "broker 3 enforces a quota set through broker 1");

    alter(&on_one, "clients", Some("live"), "--delete-config", "producer_byte_rate");
    support::wait_until(T, "broker 3 to drop the quota", || {
        described_client_quota(three, "live").is_empty()
    });
    let mut wire = Wire::connect(three).with_client_id("live");
    assert_eq!(produce_sized(&mut wire, "live", 16 * 1024).1, 0, "no quota, no throttle");
}

/// Produces `count` 1 KiB messages as `client.id`, with librdkafka's
/// statistics every 100 ms; prints the seconds taken and the largest
/// broker throttle the statistics reported.
const PRODUCER_PY: &str = r#"
import json, sys, time
from confluent_kafka import Producer
bs, client_id, topic, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
worst = [0]
def stats(s):
    for b in json.loads(s).get("brokers", {}).values():
        worst[0] = max(worst[0], b.get("throttle", {}).get("max", 0))
p = Producer({"bootstrap.servers": bs, "client.id": client_id, "linger.ms": 5,
              "batch.size": 16384, "statistics.interval.ms": 100, "stats_cb": stats})
value = b"x" * 1024
start = time.monotonic()
for i in range(count):
    while True:
        try:
            p.produce(topic, value)
            break
        except BufferError:
            p.poll(0.05)
    p.poll(0)
left = p.flush(120)
took = time.monotonic() - start
time.sleep(0.3)
p.poll(0.2)
print(json.dumps({"seconds": took, "unsent": left, "throttle_max": worst[0]}))
"#;

fn run_producer(
    python: &std::path::Path,
    bs: &str,
    client_id: &str,
    count: usize,
) -> serde_json::Value {
    let out = support::run_with_timeout(
        Command::new(python)
            .arg("-c")
            .arg(PRODUCER_PY)
            .arg(bs)
            .arg(client_id)
            .arg("cq")
            .arg(count.to_string()),
        None,
        Duration::from_secs(180),
    );
    assert!(out.status.success(), "{client_id}: {}", support::stderr(&out));
    serde_json::from_str(support::stdout(&out).trim()).unwrap()
}

#[test]
fn confluent_kafka_producer_is_held_to_its_quota_while_another_client_is_not() {
    let Some(python) = support::python() else { return };
    let broker = Broker::start(&[WINDOWS]);
    let bs = broker.addr();
    assert_eq!(create_topic(&mut broker.wire(), "cq", &[]).topics[0].error_code, 0);
    let quota = 100 * 1024;
    alter(&bs, "clients", Some("slow-py"), "--add-config", &format!("producer_byte_rate={quota}"));

    let count = 1024; // 1 MiB of values
    let started = Instant::now();
    let slow = run_producer(&python, &bs, "slow-py", count);
    let fast = run_producer(&python, &bs, "fast-py", count);
    eprintln!("slow {slow} fast {fast} ({:?})", started.elapsed());
    assert_eq!((slow["unsent"].as_i64(), fast["unsent"].as_i64()), (Some(0), Some(0)));
    // Within the quota the broker can have let at most two windows' worth
    // through ahead of time, so 1 MiB takes at least 10.24 s - 2 s - a
    // second of slack: a lower bound that load only makes easier to meet.
    let lower_bound = (count * 1024) as f64 / quota as f64 - 3.0;
    let took = slow["seconds"].as_f64().unwrap();
    assert!(took >= lower_bound, "1 MiB at 100 KiB/s took only {took:.1} s");
    assert!(slow["throttle_max"].as_i64().unwrap() > 0, "librdkafka saw the throttle: {slow}");
    assert_eq!(
        fast["throttle_max"].as_i64(),
        Some(0),
        "the other client was never throttled: {fast}"
    );
}

#[test]
fn a_request_percentage_quota_throttles_metadata_and_list_offsets_of_its_client_only() {
    let broker = Broker::start(&[WINDOWS]);
    let bs = broker.addr();
    assert_eq!(create_topic(&mut broker.wire(), "rq", &[]).topics[0].error_code, 0);
    let done = alter(&bs, "users", Some("alice"), "--add-config", "request_percentage=1");
    assert_eq!(done, "Completed updating config for user alice.\n");
    assert_eq!(
        configs(&bs, &["--describe", "--entity-type", "users", "--entity-name", "alice"]),
        "Quota configs for user-principal 'alice' are request_percentage=1.0\n"
    );
    alter(&bs, "clients", Some("busy"), "--add-config", "request_percentage=1");
    support::wait_until(T, "DescribeClientQuotas to show the quota", || {
        described_client_quota(broker.port, "busy") == [("request_percentage".to_string(), 1.0)]
    });

    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::{
        ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse,
    };
    let metadata = MetadataRequest::default().with_topics(None);
    let list_offsets = ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
        .with_name(TopicName(StrBytes::from_static_str("rq")))
        .with_partitions(vec![ListOffsetsPartition::default().with_timestamp(-1)])]);
    let mut busy = Wire::connect(broker.port).with_client_id("busy");
    let mut other = Wire::connect(broker.port).with_client_id("other");
    // A throttle on a loaded machine can run to seconds.
    for w in [&busy, &other] {
        w.stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    }
    // Metadata v9 throttles itself (KIP-219); ListOffsets v2 carries the
    // field but predates it, so the broker holds that answer back.
    let (mut metadata_throttles, mut list_offsets_throttles) = (Vec::new(), Vec::new());
    let started = Instant::now();
    let mut muted_ms = 0u64;
    while metadata_throttles.len() < 3 || list_offsets_throttles.len() < 3 {
        assert!(started.elapsed() < Duration::from_secs(120), "never throttled");
        let m: MetadataResponse = busy.call(ApiKey::Metadata, 9, &metadata);
        let l: ListOffsetsResponse = busy.call(ApiKey::ListOffsets, 2, &list_offsets);
        assert_eq!(l.topics[0].partitions[0].error_code, 0);
        muted_ms += (m.throttle_time_ms + l.throttle_time_ms) as u64;
        if m.throttle_time_ms > 0 {
            metadata_throttles.push(m.throttle_time_ms);
        }
        if l.throttle_time_ms > 0 {
            list_offsets_throttles.push(l.throttle_time_ms);
        }
        let o: MetadataResponse = other.call(ApiKey::Metadata, 9, &metadata);
        assert_eq!(o.throttle_time_ms, 0, "the client without a quota is not throttled");
    }
    // Each Metadata throttle held back the ListOffsets answer after it,
    // and each ListOffsets throttle its own answer: a lower bound on the
    // time taken that load only makes easier to meet.
    let took = started.elapsed();
    eprintln!("{took:?}: {metadata_throttles:?} {list_offsets_throttles:?}");
    assert!(
        took >= Duration::from_millis(muted_ms),
        "{took:?} for {muted_ms} ms of throttles: {metadata_throttles:?} {list_offsets_throttles:?}"
    );
    let o: ListOffsetsResponse = other.call(ApiKey::ListOffsets, 2, &list_offsets);
    assert_eq!(o.throttle_time_ms, 0);
}
