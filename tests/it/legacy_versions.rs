//! The protocol versions Kafka 3.x still serves below Kafka 4's baseline
//! (KIP-896), sent raw as the 0.8-0.10 era clients send them: ListOffsets
//! v0 (Burrow), CreateTopics v0-1 and DeleteTopics v0 (kafka-go),
//! OffsetCommit v0-1 and OffsetFetch v0, and the rest of the old versions.

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, CreateTopicsRequest,
    CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse, DescribeConfigsRequest,
    DescribeConfigsResponse, GroupId, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest,
    MetadataResponse, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest,
    OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::broker_bad_input::{batch, create_topic, produce};
use crate::broker_support::{Broker, Wire};
use crate::groups::find_coordinator;

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

fn list_offsets_v0(w: &mut Wire, topic: &str, timestamp: i64, max: i32) -> (i16, Vec<i64>) {
    let mut p = ListOffsetsPartition::default();
    p.partition_index = 0;
    p.timestamp = timestamp;
    p.max_num_offsets = max;
    let mut req = ListOffsetsRequest::default();
    req.replica_id = BrokerId(-1);
    req.topics =
        vec![ListOffsetsTopic::default().with_name(topic_name(topic)).with_partitions(vec![p])];
    let resp: ListOffsetsResponse = w.call(ApiKey::ListOffsets, 0, &req);
    let r = &resp.topics[0].partitions[0];
    (r.error_code, r.old_style_offsets.clone())
}

#[test]
fn list_offsets_v0_answers_old_style_offsets() {
    let broker = Broker::start(&[]);
    let mut w = broker.wire();
    assert_eq!(create_topic(&mut w, "lo", &[]).topics[0].error_code, 0);
    assert_eq!(list_offsets_v0(&mut w, "lo", -1, 10), (0, vec![0]), "empty log: the base offset");
    assert_eq!(produce(&mut w, "lo", -1, batch(&[b"a", b"b", b"c"])).0, 0);
    // One segment holding data: its base offset and the log end offset.
    assert_eq!(list_offsets_v0(&mut w, "lo", -1, 10), (0, vec![3, 0]), "latest");
    assert_eq!(list_offsets_v0(&mut w, "lo", -1, 1), (0, vec![3]), "max_num_offsets");
    assert_eq!(list_offsets_v0(&mut w, "lo", -2, 10), (0, vec![0]), "earliest");
    assert_eq!(list_offsets_v0(&mut w, "lo", 1, 10), (0, vec![]), "nothing modified by 1970");
    let far = i64::MAX / 2;
    assert_eq!(list_offsets_v0(&mut w, "lo", far, 10), (0, vec![3, 0]), "all before the future");
    assert_eq!(list_offsets_v0(&mut w, "nope", -1, 10).0, 3, "UNKNOWN_TOPIC_OR_PARTITION");
}

#[test]
fn create_and_delete_topics_at_their_oldest_versions() {
    let broker = Broker::start(&[]);
    let mut w = broker.wire();
    for (v, name) in [(0i16, "ct0"), (1, "ct1")] {
        let mut t = CreatableTopic::default();
        t.name = topic_name(name);
        t.num_partitions = 2;
        t.replication_factor = 1;
        let mut req = CreateTopicsRequest::default();
        req.topics = vec![t];
        req.timeout_ms = 10_000;
        let resp: CreateTopicsResponse = w.call(ApiKey::CreateTopics, v, &req);
        assert_eq!(resp.topics[0].error_code, 0, "CreateTopics v{v}");
        let again: CreateTopicsResponse = w.call(ApiKey::CreateTopics, v, &req);
        assert_eq!(again.topics[0].error_code, 36, "v{v}: TOPIC_ALREADY_EXISTS");
        if v == 1 {
            assert!(again.topics[0].error_message.is_some(), "v1 carries the message");
        }
    }
    // v1's validate_only creates nothing.
    let mut t = CreatableTopic::default();
    t.name = topic_name("ct-dry");
    t.num_partitions = 1;
    t.replication_factor = 1;
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 10_000;
    req.validate_only = true;
    let resp: CreateTopicsResponse = w.call(ApiKey::CreateTopics, 1, &req);
    assert_eq!(resp.topics[0].error_code, 0);
    let meta: MetadataResponse = w.call(ApiKey::Metadata, 0, &MetadataRequest::default());
    let names: Vec<String> =
        meta.topics.iter().filter_map(|t| t.name.as_ref()).map(|n| n.to_string()).collect();
    assert!(names.contains(&"ct0".to_string()) && names.contains(&"ct1".to_string()), "{names:?}");
    assert!(!names.contains(&"ct-dry".to_string()), "{names:?}");

    let mut del = DeleteTopicsRequest::default();
    del.topic_names = vec![topic_name("ct0"), topic_name("nope")];
    del.timeout_ms = 10_000;
    let resp: DeleteTopicsResponse = w.call(ApiKey::DeleteTopics, 0, &del);
    let code = |n: &str| {
        resp.responses
            .iter()
            .find(|r| r.name.as_ref().is_some_and(|x| &*x.0 == n))
            .map(|r| r.error_code)
    };
    assert_eq!(code("ct0"), Some(0), "DeleteTopics v0");
    assert_eq!(code("nope"), Some(3), "UNKNOWN_TOPIC_OR_PARTITION");
}

fn commit(w: &mut Wire, v: i16, group: &str, topic: &str, offset: i64) -> i16 {
    let mut p = OffsetCommitRequestPartition::default();
    p.partition_index = 0;
    p.committed_offset = offset;
    p.commit_timestamp = if v == 1 { 1_700_000_000_000 } else { -1 };
    p.committed_metadata = Some(StrBytes::from_static_str("m"));
    let mut req = OffsetCommitRequest::default();
    req.group_id = GroupId(StrBytes::from_string(group.to_string()));
    req.topics = vec![OffsetCommitRequestTopic::default()
        .with_name(topic_name(topic))
        .with_partitions(vec![p])];
    let resp: OffsetCommitResponse = w.call(ApiKey::OffsetCommit, v, &req);
    resp.topics[0].partitions[0].error_code
}

fn fetch_committed(w: &mut Wire, v: i16, group: &str, topic: &str) -> (i16, i64) {
    let mut req = OffsetFetchRequest::default();
    req.group_id = GroupId(StrBytes::from_string(group.to_string()));
    req.topics = Some(vec![OffsetFetchRequestTopic::default()
        .with_name(topic_name(topic))
        .with_partition_indexes(vec![0])]);
    let resp: OffsetFetchResponse = w.call(ApiKey::OffsetFetch, v, &req);
    let p = &resp.topics[0].partitions[0];
    (p.error_code, p.committed_offset)
}

#[test]
fn offset_commit_v0_lives_in_zookeeper_and_v1_in_the_coordinator() {
    let broker = Broker::start(&["offsets.topic.replication.factor=1"]);
    let mut w = broker.wire();
    assert_eq!(create_topic(&mut w, "oc", &[]).topics[0].error_code, 0);
    assert_eq!(fetch_committed(&mut w, 0, "old", "oc"), (0, -1), "nothing committed yet");
    assert_eq!(commit(&mut w, 0, "old", "oc", 42), 0, "OffsetCommit v0");
    assert_eq!(fetch_committed(&mut w, 0, "old", "oc"), (0, 42), "OffsetFetch v0 reads it back");
    assert_eq!(commit(&mut w, 0, "old", "oc", 43), 0, "overwrites");
    assert_eq!(fetch_committed(&mut w, 0, "old", "oc"), (0, 43));
    // Kept apart from the coordinator's offsets, as in Kafka.
    assert_eq!(fetch_committed(&mut w, 1, "old", "oc").1, -1, "v1 reads the coordinator");
    assert_eq!(commit(&mut w, 0, "old", "nope", 1), 3, "UNKNOWN_TOPIC_OR_PARTITION");

    // v1: a simple (memberless) commit with its own timestamp, in the coordinator.
    find_coordinator(&mut w, "newer");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let code = commit(&mut w, 1, "newer", "oc", 7);
        if code == 0 {
            break;
        }
        // The offsets topic may still be loading: COORDINATOR_LOAD_IN_PROGRESS / NOT_AVAILABLE.
        assert!([14, 15, 16].contains(&code), "OffsetCommit v1: {code}");
        assert!(std::time::Instant::now() < deadline, "coordinator never ready");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(fetch_committed(&mut w, 1, "newer", "oc"), (0, 7), "OffsetFetch v1");
    assert_eq!(fetch_committed(&mut w, 0, "newer", "oc"), (0, -1), "v0 reads ZooKeeper");
}

fn describe_topic_configs(w: &mut Wire, version: i16, topic: &str) -> DescribeConfigsResponse {
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    let mut req = DescribeConfigsRequest::default();
    req.resources = vec![DescribeConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name(StrBytes::from_string(topic.to_string()))
        .with_configuration_keys(None)];
    w.call(ApiKey::DescribeConfigs, version, &req)
}

#[test]
fn every_advertised_old_version_is_answered() {
    let broker = Broker::start(&[]);
    let mut w = broker.wire();
    let versions: ApiVersionsResponse =
        w.call(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default());
    let min =
        |k: ApiKey| versions.api_keys.iter().find(|a| a.api_key == k as i16).map(|a| a.min_version);
    for k in [
        ApiKey::ListOffsets,
        ApiKey::OffsetCommit,
        ApiKey::OffsetFetch,
        ApiKey::CreateTopics,
        ApiKey::DeleteTopics,
        ApiKey::OffsetForLeaderEpoch,
        ApiKey::DescribeConfigs,
        ApiKey::DescribeLogDirs,
        ApiKey::Metadata,
    ] {
        assert_eq!(min(k), Some(0), "{k:?} from v0, as Kafka 3.x");
    }
    assert_eq!(create_topic(&mut w, "dc", &[("retention.ms", "1000")]).topics[0].error_code, 0);
    let resp = describe_topic_configs(&mut w, 0, "dc");
    let configs = &resp.results[0].configs;
    let get = |n: &str| configs.iter().find(|c| &*c.name == n).expect(n);
    assert!(!get("retention.ms").is_default, "v0: an override is not a default");
    assert!(get("cleanup.policy").is_default, "v0: an unset config is");
    // DescribeLogDirs v0 is v1 on the wire.
    let logdirs: kafka_protocol::messages::DescribeLogDirsResponse = w.call(
        ApiKey::DescribeLogDirs,
        0,
        &kafka_protocol::messages::DescribeLogDirsRequest::default(),
    );
    assert_eq!(logdirs.results.len(), 1);
}

fn produce_set(w: &mut Wire, version: i16, topic: &str, set: Vec<u8>) -> (i16, i64) {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    let mut req = kafka_protocol::messages::ProduceRequest::default();
    req.acks = 1;
    req.timeout_ms = 10_000;
    req.topic_data = vec![TopicProduceData::default()
        .with_name(topic_name(topic))
        .with_partition_data(vec![PartitionProduceData::default()
            .with_index(0)
            .with_records(Some(bytes::Bytes::from(set)))])];
    let resp: kafka_protocol::messages::ProduceResponse = w.call(ApiKey::Produce, version, &req);
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// The records of a Fetch at `version` from offset 0, and the error code.
fn fetch_raw(w: &mut Wire, version: i16, topic: &str) -> (i16, bytes::Bytes) {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    let mut req = kafka_protocol::messages::FetchRequest::default();
    req.replica_id = BrokerId(-1);
    req.max_wait_ms = 0;
    req.max_bytes = i32::MAX;
    req.topics = vec![FetchTopic::default().with_topic(topic_name(topic)).with_partitions(vec![
        FetchPartition::default().with_partition(0).with_partition_max_bytes(1 << 20),
    ])];
    let resp: kafka_protocol::messages::FetchResponse = w.call(ApiKey::Fetch, version, &req);
    let p = &resp.responses[0].partitions[0];
    (p.error_code, p.records.clone().unwrap_or_default())
}

#[test]
fn legacy_message_sets_are_stored_as_v2_and_served_back_down_converted() {
    use kafka_rs::record::{legacy, BatchBuilder, Batches, Compression, NewRecord};
    let broker = Broker::start(&[]);
    let mut w = broker.wire();
    assert_eq!(create_topic(&mut w, "ms", &[]).topics[0].error_code, 0);
    let v2 = |c: Compression, n: usize| {
        let mut b = BatchBuilder::new(c);
        for i in 0..n {
            let v = format!("v{i}");
            b.push(NewRecord::new(1_700_000_000_000 + i as i64, Some(b"k"), Some(v.as_bytes())));
        }
        b.build().unwrap()
    };
    // Produce v0 (magic 0), v1 (magic 0, as 0.9), v2 (magic 1), each plain and gzip.
    let mut next = 0;
    for (version, magic) in [(0i16, 0i8), (1, 0), (2, 1)] {
        for c in [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4] {
            let set = legacy::down_convert(&v2(c, 3), magic).unwrap();
            let (code, base) = produce_set(&mut w, version, "ms", set);
            assert_eq!((code, base), (0, next), "Produce v{version} magic {magic} {c:?}");
            next += 3;
        }
    }
    // A corrupt set is refused, not stored.
    let mut bad = legacy::down_convert(&v2(Compression::None, 1), 1).unwrap();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert_eq!(produce_set(&mut w, 2, "ms", bad).0, 2, "CORRUPT_MESSAGE");
    // A current producer's batch after them.
    assert_eq!(produce(&mut w, "ms", 1, v2(Compression::Zstd, 2)).0, 0);

    // Stored as v2: a v4+ fetch sees only magic 2 batches, every offset once.
    let (code, stored) = fetch_raw(&mut w, 11, "ms");
    assert_eq!(code, 0);
    let mut offsets = Vec::new();
    for b in Batches::new(&stored) {
        let b = b.unwrap();
        assert_eq!(b.magic(), 2);
        let records = b.records().unwrap();
        for r in records.iter() {
            offsets.push(records.offset_of(&r.unwrap()));
        }
    }
    assert_eq!(offsets, (0..next + 2).collect::<Vec<_>>());

    // Fetch v0-1 answer magic 0, v2-3 magic 1; the zstd batch cannot go
    // down, so the partition answers UNSUPPORTED_COMPRESSION_TYPE, as Kafka.
    for version in 0..4i16 {
        let (code, set) = fetch_raw(&mut w, version, "ms");
        assert_eq!(code, 76, "Fetch v{version} over a zstd batch");
        assert!(set.is_empty());
    }
    assert_eq!(create_topic(&mut w, "ms2", &[]).topics[0].error_code, 0);
    assert_eq!(produce(&mut w, "ms2", 1, v2(Compression::Gzip, 4)).0, 0);
    assert_eq!(produce(&mut w, "ms2", 1, v2(Compression::None, 2)).0, 0);
    for version in 0..4i16 {
        let (code, set) = fetch_raw(&mut w, version, "ms2");
        assert_eq!(code, 0, "Fetch v{version}");
        let magic = if version >= 2 { 1 } else { 0 };
        // Every message carries the magic its version reads (byte 16 of each).
        let mut at = 0;
        let mut messages = 0;
        while at < set.len() {
            let size = i32::from_be_bytes(set[at + 8..at + 12].try_into().unwrap()) as usize;
            assert_eq!(set[at + 16] as i8, magic, "Fetch v{version}");
            at += 12 + size;
            messages += 1;
        }
        assert_eq!(messages, 3, "one gzip wrapper and two plain messages");
        // Converted back up, the records are all there.
        let up = legacy::up_convert(&set).unwrap();
        let b = kafka_rs::record::RecordBatch::parse(&up).unwrap();
        assert_eq!(b.records_count(), 6, "Fetch v{version}");
    }
}

fn kcat_run(kcat: &std::path::Path, args: &[&str], input: Option<&[u8]>) -> String {
    let out = crate::support::run_with_timeout(
        std::process::Command::new(kcat).args(args),
        input,
        std::time::Duration::from_secs(60),
    );
    let err = crate::support::stderr(&out);
    assert!(out.status.success() && !err.contains("failed"), "kcat {args:?}: {err}");
    crate::support::stdout(&out)
}

#[test]
fn kcat_with_old_broker_version_fallbacks() {
    let Some(kcat) = crate::support::external_tool("kcat") else { return };
    let broker = Broker::start(&[]);
    let b = broker.addr();
    let mut expected = Vec::new();
    let fallbacks = ["0.8.2.2", "0.9.0.1", "0.10.0.1"];
    for fb in fallbacks {
        let old =
            ["-X", "api.version.request=false", "-X", &format!("broker.version.fallback={fb}")];
        for z in ["none", "gzip", "snappy", "lz4"] {
            let input: String = (0..20).map(|i| format!("k{i}:{fb} {z} {i}\n")).collect();
            expected.extend(input.lines().map(|l| l.replacen(':', "=", 1)));
            let mut args = vec!["-b", &b, "-P", "-t", "old", "-K", ":", "-z", z];
            args.extend_from_slice(&old);
            kcat_run(&kcat, &args, Some(input.as_bytes()));
        }
    }
    // A current producer's records, for the old consumers to read down-converted.
    let input: String = (0..20).map(|i| format!("n{i}:new {i}\n")).collect();
    expected.extend(input.lines().map(|l| l.replacen(':', "=", 1)));
    kcat_run(&kcat, &["-b", &b, "-P", "-t", "old", "-K", ":", "-z", "lz4"], Some(input.as_bytes()));

    let read = |extra: &[&str]| {
        let mut args = vec!["-b", b.as_str(), "-C", "-t", "old", "-o", "beginning", "-e", "-q"];
        args.extend_from_slice(&["-f", "%o %k=%s\n"]);
        args.extend_from_slice(extra);
        kcat_run(&kcat, &args, None)
    };
    let want: Vec<String> = expected.iter().enumerate().map(|(i, l)| format!("{i} {l}")).collect();
    for fb in fallbacks {
        let fallback = format!("broker.version.fallback={fb}");
        let got = read(&["-X", "api.version.request=false", "-X", &fallback]);
        assert_eq!(got.lines().collect::<Vec<_>>(), want, "consumed with {fb}");
    }
    let got = read(&[]);
    assert_eq!(got.lines().collect::<Vec<_>>(), want, "consumed with current versions");
}

#[test]
fn kafka_python_with_old_api_versions() {
    let Some(python) = crate::support::python() else { return };
    let broker = Broker::start(&["offsets.topic.replication.factor=1"]);
    let script = crate::support::repo().join("tests/interop/legacy_kafka_python.py");
    let out = crate::support::run_with_timeout(
        std::process::Command::new(python).arg(script).arg(broker.addr()).arg("kpl"),
        None,
        std::time::Duration::from_secs(180),
    );
    let text = crate::support::stdout(&out);
    assert!(
        out.status.success() && text.contains("OK"),
        "{text}\n{}",
        crate::support::stderr(&out)
    );
}

/// A plain HTTP/1.0 GET on 127.0.0.1; `None` until something answers.
fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// Burrow (Debian's 1.2.1, built on sarama) reads the group's commits from
/// `__consumer_offsets` and the partitions' ends with ListOffsets v0, and
/// reports the lag through its HTTP API.
#[test]
fn burrow_reports_a_groups_lag() {
    let Some(burrow) = crate::support::external_tool("Burrow") else { return };
    let zk_port = crate::support::free_port();
    let broker = Broker::start(&[
        "offsets.topic.replication.factor=1",
        &format!("embedded.zookeeper.port={zk_port}"),
    ]);
    let mut w = broker.wire();
    assert_eq!(create_topic(&mut w, "lag", &[]).topics[0].error_code, 0);
    let values: Vec<Vec<u8>> = (0..100).map(|i| format!("v{i}").into_bytes()).collect();
    for _ in 0..80 {
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        assert_eq!(produce(&mut w, "lag", 1, batch(&refs)).0, 0);
    }
    // The group has read 2,000 of the 8,000 records: a lag of 6,000.
    find_coordinator(&mut w, "burrowed");
    let mut p = OffsetCommitRequestPartition::default();
    p.partition_index = 0;
    p.committed_offset = 2_000;
    let mut req = OffsetCommitRequest::default();
    req.group_id = GroupId(StrBytes::from_static_str("burrowed"));
    req.topics = vec![OffsetCommitRequestTopic::default()
        .with_name(topic_name("lag"))
        .with_partitions(vec![p])];
    // Retried while the coordinator loads (14) or is not yet there (15),
    // as clients do.
    crate::support::wait_until(std::time::Duration::from_secs(60), "the offset commit", || {
        let resp: OffsetCommitResponse = w.call(ApiKey::OffsetCommit, 2, &req);
        let code = resp.topics[0].partitions[0].error_code;
        assert!([0, 14, 15].contains(&code), "offset commit error {code}");
        code == 0
    });

    let http = crate::support::free_port();
    let dir = tempfile::tempdir().unwrap();
    let b = broker.addr();
    let config = format!(
        r#"[general]
pidfile="{d}/burrow.pid"
[logging]
filename="{d}/burrow.log"
level="info"
[zookeeper]
servers=["127.0.0.1:{zk_port}"]
timeout=6
root-path="/burrow"
[client-profile.test]
client-id="burrow-test"
kafka-version="0.10.0"
[cluster.local]
class-name="kafka"
servers=["{b}"]
client-profile="test"
topic-refresh=5
offset-refresh=2
[consumer.local]
class-name="kafka"
cluster="local"
servers=["{b}"]
client-profile="test"
start-latest=false
[httpserver.default]
address="127.0.0.1:{http}"
[storage.default]
class-name="inmemory"
workers=4
intervals=10
expire-group=604800
min-distance=1
"#,
        d = dir.path().display()
    );
    std::fs::write(dir.path().join("burrow.toml"), config).unwrap();
    let mut cmd = std::process::Command::new(burrow);
    cmd.arg("-config-dir").arg(dir.path()).current_dir(dir.path());
    cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let _burrow = crate::support::ChildGuard::spawn("burrow", &mut cmd);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let mut last = String::new();
    loop {
        if let Some(body) = http_get(http, "/v3/kafka/local/consumer/burrowed/lag") {
            if body.contains("\"totallag\":6000") {
                break;
            }
            last = body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Burrow never reported a lag of 6000: {last}\n{}",
            std::fs::read_to_string(dir.path().join("burrow.log")).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

#[test]
fn message_format_version_is_accepted_with_kafkas_deprecated_meaning() {
    let broker = Broker::start(&[]);
    let mut w = broker.wire();
    let created = create_topic(&mut w, "mfv", &[("message.format.version", "0.10.0.0")]);
    assert_eq!(created.topics[0].error_code, 0, "{:?}", created.topics[0].error_message);
    assert_eq!(
        create_topic(&mut w, "mfv-bad", &[("message.format.version", "0.7")]).topics[0].error_code,
        40
    );
    let resp = describe_topic_configs(&mut w, 4, "mfv");
    let c = resp.results[0]
        .configs
        .iter()
        .find(|c| &*c.name == "message.format.version")
        .expect("listed");
    assert_eq!(c.value.as_deref(), Some("0.10.0.0"));
    // Records still go in as v2 and come out to current and old consumers.
    assert_eq!(produce(&mut w, "mfv", 1, batch(&[b"x"])).0, 0);
    assert_eq!(fetch_raw(&mut w, 2, "mfv").0, 0);
}

/// KIP-467: a batch with keyless records for a compacted topic names each
/// of them (Produce v8+), so the client fails those and retries the rest.
#[test]
fn produce_v8_names_each_rejected_record() {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_rs::record::{BatchBuilder, Compression, NewRecord};
    let broker = Broker::start(&[]);
    let mut w = broker.wire();
    let created = create_topic(&mut w, "compacted", &[("cleanup.policy", "compact")]);
    assert_eq!(created.topics[0].error_code, 0);
    let mut b = BatchBuilder::new(Compression::Lz4);
    let keyless: Vec<i32> = (0..100).filter(|i| i % 10 == 3).collect();
    for i in 0..100 {
        let key = format!("k{i}");
        let key = if keyless.contains(&i) { None } else { Some(key.as_bytes()) };
        b.push(NewRecord::new(1_700_000_000_000, key, Some(b"v")));
    }
    let mut req = kafka_protocol::messages::ProduceRequest::default();
    req.acks = -1;
    req.timeout_ms = 10_000;
    req.topic_data = vec![TopicProduceData::default()
        .with_name(topic_name("compacted"))
        .with_partition_data(vec![PartitionProduceData::default()
            .with_index(0)
            .with_records(Some(b.build().unwrap().into()))])];
    for version in [7i16, 8, 11] {
        let resp: kafka_protocol::messages::ProduceResponse =
            w.call(ApiKey::Produce, version, &req);
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!(p.error_code, 87, "INVALID_RECORD at v{version}");
        let named: Vec<i32> = p.record_errors.iter().map(|e| e.batch_index).collect();
        if version >= 8 {
            assert_eq!(named, keyless, "v{version}: the 10 keyless records, by index");
            assert!(p.record_errors.iter().all(|e| e
                .batch_index_error_message
                .as_deref()
                .is_some_and(|m| m.contains("without key"))));
            assert!(p.error_message.is_some(), "v{version}");
        } else {
            assert!(named.is_empty(), "no record errors before v8");
        }
    }
    assert_eq!(list_offsets_v0(&mut w, "compacted", -1, 1), (0, vec![0]), "nothing stored");
}
