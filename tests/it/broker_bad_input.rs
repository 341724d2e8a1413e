//! Hostile and broken requests: each gets Kafka's error code or a closed
//! connection for that client only, a log line, and the broker keeps
//! serving everyone else.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_rs::record::{BatchBuilder, Compression, NewRecord};

use crate::broker_support::{Broker, Wire};

/// The broker still answers a fresh client.
fn assert_serving(broker: &Broker) {
    let resp: ApiVersionsResponse =
        broker.wire().call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert_eq!(resp.error_code, 0, "broker still serving");
}

pub fn create_topic(wire: &mut Wire, name: &str, configs: &[(&str, &str)]) -> CreateTopicsResponse {
    let mut t = CreatableTopic::default();
    t.name = TopicName(StrBytes::from_string(name.to_string()));
    t.num_partitions = 1;
    t.replication_factor = 1;
    t.configs = configs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_value(Some(StrBytes::from_string(v.to_string())))
        })
        .collect();
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 10_000;
    wire.call(ApiKey::CreateTopics, 5, &req)
}

pub fn batch(values: &[&[u8]]) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None);
    for v in values {
        b.push(NewRecord::new(1_700_000_000_000, None, Some(v)));
    }
    b.build().unwrap()
}

pub fn produce(wire: &mut Wire, topic: &str, acks: i16, records: Vec<u8>) -> (i16, i64) {
    produce_within(wire, topic, acks, 10_000, records)
}

/// A Produce request of one batch to partition 0.
pub fn produce_request(
    topic: &str,
    acks: i16,
    timeout_ms: i32,
    records: Vec<u8>,
) -> ProduceRequest {
    let mut req = ProduceRequest::default();
    req.acks = acks;
    req.timeout_ms = timeout_ms;
    req.topic_data = vec![TopicProduceData::default()
        .with_name(TopicName(StrBytes::from_string(topic.to_string())))
        .with_partition_data(vec![PartitionProduceData::default()
            .with_index(0)
            .with_records(Some(Bytes::from(records)))])];
    req
}

/// Produces one batch to partition 0 with the request timeout `timeout_ms`.
pub fn produce_within(
    wire: &mut Wire,
    topic: &str,
    acks: i16,
    timeout_ms: i32,
    records: Vec<u8>,
) -> (i16, i64) {
    let req = produce_request(topic, acks, timeout_ms, records);
    let resp: ProduceResponse = wire.call(ApiKey::Produce, 8, &req);
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

#[test]
fn bad_frames_close_only_their_connection() {
    let broker = Broker::start(&["socket.request.max.bytes=4096"]);
    let mut bystander = broker.wire();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "frame above socket.request.max.bytes",
            [8192i32.to_be_bytes().to_vec(), vec![0u8; 64]].concat(),
        ),
        ("2 GB length prefix", i32::MAX.to_be_bytes().to_vec()),
        ("negative length prefix", (-5i32).to_be_bytes().to_vec()),
        (
            "garbage",
            [14i32.to_be_bytes().to_vec(), b"\xde\xad\xbe\xef garbage!!".to_vec()].concat(),
        ),
        (
            "unknown API key",
            [12i32.to_be_bytes().to_vec(), vec![0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0, 0]]
                .concat(),
        ),
        ("too short for a header", [3i32.to_be_bytes().to_vec(), vec![0, 3, 0]].concat()),
    ];
    for (why, bytes) in cases {
        let mut w = broker.wire();
        w.send_raw(&bytes);
        assert!(w.is_closed(), "{why}: connection closed");
        let _: ApiVersionsResponse =
            bystander.call(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default());
    }
    // A request cut short: the header promises more than arrives.
    let mut w = broker.wire();
    let (_, frame) = w.frame(ApiKey::Metadata, 4, &MetadataRequest::default());
    w.send_raw(&frame[..frame.len() - 3]);
    drop(w);
    // A frame whose body does not decode as the API it names.
    let mut w = broker.wire();
    let (_, frame) =
        w.frame(ApiKey::CreateTopics, 5, &MetadataRequest::default().with_topics(Some(vec![])));
    let mut bad = frame.clone();
    bad.truncate(14 + 4); // keep the size prefix honest below
    let size = (bad.len() - 4) as i32;
    bad[..4].copy_from_slice(&size.to_be_bytes());
    w.send_raw(&bad);
    assert!(w.is_closed(), "undecodable body closes the connection");
    assert_serving(&broker);
    broker.log_showing("each closed connection", |l| l.contains("closing connection"));
}

#[test]
fn unsupported_versions() {
    let broker = Broker::start(&[]);
    // ApiVersions newer than the broker: a v0 answer with error 35 and the list.
    let mut w = broker.wire();
    let (cid, frame) = w.frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let mut frame = frame;
    frame[6..8].copy_from_slice(&99i16.to_be_bytes());
    w.send_raw(&frame);
    let resp: ApiVersionsResponse = w.read_response(ApiKey::ApiVersions, 0, cid).expect("answered");
    assert_eq!(resp.error_code, 35, "UNSUPPORTED_VERSION");
    let produce = resp.api_keys.iter().find(|k| k.api_key == 0).expect("produce listed");
    assert_eq!(produce.min_version, 0, "Produce advertised from v0 for librdkafka's compression");
    // Metadata at an unknown version: closed, as Kafka does.
    let mut w = broker.wire();
    let (_, mut frame) = w.frame(ApiKey::Metadata, 4, &MetadataRequest::default());
    frame[6..8].copy_from_slice(&77i16.to_be_bytes());
    w.send_raw(&frame);
    assert!(w.is_closed(), "unknown Metadata version");
    // Every advertised version is answered, Produce v0 included.
    let mut w = broker.wire();
    let resp: ProduceResponse = w.call(ApiKey::Produce, 0, &ProduceRequest::default().with_acks(1));
    assert!(resp.responses.is_empty(), "Produce v0");
    assert_serving(&broker);
}

#[test]
fn invalid_topics_configs_and_records_get_error_codes() {
    let broker = Broker::start(&["message.max.bytes=2000", "auto.create.topics.enable=true"]);
    let mut w = broker.wire();
    let cases: &[(&str, &[(&str, &str)], i16, &str)] = &[
        ("bad/name", &[], 17, "invalid topic name: INVALID_TOPIC_EXCEPTION"),
        (&"x".repeat(250), &[], 17, "name too long"),
        ("cfg1", &[("retention.ms", "soon")], 40, "bad value: INVALID_CONFIG"),
        ("cfg2", &[("no.such.config", "1")], 40, "unknown key: INVALID_CONFIG"),
        ("cfg3", &[("cleanup.policy", "forever")], 40, "bad enum: INVALID_CONFIG"),
        ("good", &[("retention.ms", "1000")], 0, "a valid topic"),
        ("good", &[], 36, "TOPIC_ALREADY_EXISTS"),
    ];
    for (name, configs, code, why) in cases {
        let resp = create_topic(&mut w, name, configs);
        assert_eq!(resp.topics[0].error_code, *code, "{why}");
    }
    let mut req = MetadataRequest::default();
    req.topics =
        Some(vec![kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("has space"))))]);
    req.allow_auto_topic_creation = true;
    let resp: MetadataResponse = w.call(ApiKey::Metadata, 9, &req);
    assert_eq!(resp.topics[0].error_code, 17, "auto-creation refuses invalid names");

    let big = vec![7u8; 3000];
    assert_eq!(produce(&mut w, "good", 1, batch(&[&big])).0, 10, "MESSAGE_TOO_LARGE");
    let mut corrupt = batch(&[b"hello"]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    assert_eq!(produce(&mut w, "good", 1, corrupt).0, 2, "CRC mismatch: CORRUPT_MESSAGE");
    assert_eq!(
        produce(&mut w, "good", 1, b"not a batch at all".to_vec()).0,
        2,
        "garbage records: CORRUPT_MESSAGE"
    );
    assert_eq!(produce(&mut w, "good", 5, batch(&[b"x"])).0, 21, "INVALID_REQUIRED_ACKS");
    assert_eq!(produce(&mut w, "nope", 1, batch(&[b"x"])).0, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    let (code, offset) = produce(&mut w, "good", 1, batch(&[b"a", b"b"]));
    assert_eq!((code, offset), (0, 0), "valid records still go in");
    assert_serving(&broker);
}

#[test]
fn idempotent_produce_dedups_and_fences() {
    let broker = Broker::start(&[]);
    let mut w = broker.wire();
    assert_eq!(create_topic(&mut w, "idem", &[]).topics[0].error_code, 0);
    let resp: kafka_protocol::messages::InitProducerIdResponse = w.call(
        ApiKey::InitProducerId,
        4,
        &kafka_protocol::messages::InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60000),
    );
    assert_eq!(resp.error_code, 0);
    let pid = resp.producer_id.0;
    let epoch = resp.producer_epoch;
    let idem_batch = |epoch: i16, seq: i32, n: usize| {
        let mut b = BatchBuilder::new(Compression::None).producer(pid, epoch, seq);
        for i in 0..n {
            let v = format!("v{i}");
            b.push(NewRecord::new(1, None, Some(v.as_bytes())));
        }
        b.build().unwrap()
    };
    let mut results = BTreeMap::new();
    let cases: Vec<(&str, Vec<u8>, (i16, i64))> = vec![
        ("first batch", idem_batch(epoch, 0, 3), (0, 0)),
        ("next in sequence", idem_batch(epoch, 3, 2), (0, 3)),
        ("retry of the first batch: original offsets", idem_batch(epoch, 0, 3), (0, 0)),
        ("retry of the second batch", idem_batch(epoch, 3, 2), (0, 3)),
        ("gap: OUT_OF_ORDER_SEQUENCE_NUMBER", idem_batch(epoch, 9, 1), (45, -1)),
        ("bumped epoch restarts at 0", idem_batch(epoch + 1, 0, 1), (0, 5)),
        ("old epoch: INVALID_PRODUCER_EPOCH", idem_batch(epoch, 5, 1), (47, -1)),
    ];
    for (why, records, want) in cases {
        let got = produce(&mut w, "idem", -1, records);
        assert_eq!(got, want, "{why}");
        results.insert(why, got);
    }
    // Restart: the producer state is rebuilt from the log.
    let dir = broker.kill9();
    let broker = Broker::start_in(dir, &[]);
    let mut w = broker.wire();
    crate::support::wait_until(std::time::Duration::from_secs(10), "topic reloaded", || {
        let r: MetadataResponse =
            w.call(ApiKey::Metadata, 9, &MetadataRequest::default().with_topics(None));
        r.topics.iter().any(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == "idem"))
    });
    assert_eq!(
        produce(&mut w, "idem", -1, idem_batch(epoch + 1, 0, 1)),
        (0, 5),
        "duplicate recognised after restart"
    );
}

/// A Metadata v1 request (client id "x") whose topic count is 2^31-1, in 23
/// bytes: refused before anything is allocated for it, and only that
/// connection closes.
#[test]
fn huge_topic_count_closes_only_its_connection() {
    let broker = Broker::start(&[]);
    let mut bystander = broker.wire();
    let mut frame = Vec::new();
    frame.extend_from_slice(&19i32.to_be_bytes());
    frame.extend_from_slice(&[0, 3, 0, 1, 0, 0, 0, 7, 0, 1, b'x']);
    frame.extend_from_slice(&i32::MAX.to_be_bytes());
    frame.extend_from_slice(&[0, 2, b'a', b'b']);
    assert_eq!(frame.len(), 23);
    let mut w = broker.wire();
    w.send_raw(&frame);
    assert!(w.is_closed(), "malformed request closes its connection");
    let _: ApiVersionsResponse =
        bystander.call(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default());
    assert_serving(&broker);
    broker.log_showing("the reason", |l| l.contains("bytes remaining"));
}
