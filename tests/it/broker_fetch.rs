//! Fetch semantics on the wire: long polls woken by appends, empty answers
//! with zero-length (never null) records, whole batches from mid-batch
//! offsets, out-of-range offsets, sessionless fetch sessions.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_rs::record::{Batches, RecordBatch};

use crate::broker_bad_input::{batch, create_topic, produce};
use crate::broker_support::Broker;

fn fetch_request(topic: &str, offset: i64, max_wait_ms: i32, min_bytes: i32) -> FetchRequest {
    let mut p = FetchPartition::default();
    p.partition = 0;
    p.fetch_offset = offset;
    p.partition_max_bytes = 1 << 20;
    p.current_leader_epoch = -1;
    let mut t = FetchTopic::default();
    t.topic = TopicName(StrBytes::from_string(topic.to_string()));
    t.partitions = vec![p];
    let mut req = FetchRequest::default();
    req.replica_id = kafka_protocol::messages::BrokerId(-1);
    req.max_wait_ms = max_wait_ms;
    req.min_bytes = min_bytes;
    req.max_bytes = 50 << 20;
    req.session_id = 0;
    req.session_epoch = -1;
    req.topics = vec![t];
    req
}

fn records(resp: &FetchResponse) -> Bytes {
    resp.responses[0].partitions[0].records.clone().expect("records are never null")
}

#[test]
fn long_poll_is_woken_by_an_append() {
    let broker = Broker::start(&[]);
    let mut admin = broker.wire();
    assert_eq!(create_topic(&mut admin, "lp", &[]).topics[0].error_code, 0);
    let mut consumer = broker.wire();
    consumer.stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    // The fetch may wait for its byte far longer than the socket waits for
    // an answer: only the append's wake-up can answer it before the read
    // times out, so a broken wake-up fails here instead of passing late
    // with the same data.
    let (cid, frame) = consumer.frame(ApiKey::Fetch, 12, &fetch_request("lp", 0, i32::MAX, 1));
    consumer.send_raw(&frame);
    // Give the fetch time to park (no answer can come before data exists).
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(produce(&mut admin, "lp", 1, batch(&[b"wake up"])).0, 0);
    let resp: FetchResponse = consumer
        .read_response(ApiKey::Fetch, 12, cid)
        .expect("the append woke the parked fetch before the read timed out");
    let recs = records(&resp);
    assert!(!recs.is_empty(), "the parked fetch returned the appended batch");
    let b = RecordBatch::parse(&recs).unwrap();
    assert_eq!(b.base_offset(), 0);
    assert_eq!(resp.responses[0].partitions[0].high_watermark, 1);
}

#[test]
fn empty_out_of_range_and_mid_batch_fetches() {
    let broker = Broker::start(&[]);
    let mut w = broker.wire();
    assert_eq!(create_topic(&mut w, "f", &[]).topics[0].error_code, 0);
    for version in [4, 7, 11, 12] {
        let resp: FetchResponse = w.call(ApiKey::Fetch, version, &fetch_request("f", 0, 0, 0));
        assert_eq!(resp.responses[0].partitions[0].error_code, 0, "v{version}");
        assert_eq!(records(&resp).len(), 0, "v{version}: empty, not null");
    }
    assert_eq!(produce(&mut w, "f", 1, batch(&[b"a", b"b", b"c"])).0, 0);
    assert_eq!(produce(&mut w, "f", 1, batch(&[b"d"])).0, 0);
    // Offset 1 is inside the first batch: the whole batch comes back.
    let resp: FetchResponse = w.call(ApiKey::Fetch, 12, &fetch_request("f", 1, 0, 0));
    let recs = records(&resp);
    let bases: Vec<i64> = Batches::new(&recs).map(|b| b.unwrap().base_offset()).collect();
    assert_eq!(bases, vec![0, 3], "whole batches from the one holding offset 1");
    let resp: FetchResponse = w.call(ApiKey::Fetch, 12, &fetch_request("f", 99, 0, 0));
    assert_eq!(resp.responses[0].partitions[0].error_code, 1, "OFFSET_OUT_OF_RANGE");
    let resp: FetchResponse = w.call(ApiKey::Fetch, 12, &fetch_request("nope", 0, 0, 0));
    assert_eq!(resp.responses[0].partitions[0].error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    // A session the broker never handed out: FETCH_SESSION_ID_NOT_FOUND.
    let mut req = fetch_request("f", 0, 0, 0);
    req.session_id = 1234;
    req.session_epoch = 1;
    let resp: FetchResponse = w.call(ApiKey::Fetch, 12, &req);
    assert_eq!(resp.error_code, 70);
    // Sessionless full fetches get session_id 0 back.
    let resp: FetchResponse = w.call(ApiKey::Fetch, 12, &fetch_request("f", 0, 0, 0));
    assert_eq!(resp.session_id, 0);
    // A full fetch naming session -1 with epoch -1 (kafka-go's Client.Fetch),
    // or closing a session with epoch -1: served without a session.
    for session_id in [-1, 1234] {
        let mut req = fetch_request("f", 0, 0, 0);
        req.session_id = session_id;
        req.session_epoch = -1;
        let resp: FetchResponse = w.call(ApiKey::Fetch, 12, &req);
        assert_eq!((resp.error_code, resp.session_id), (0, 0), "session {session_id}");
        assert_eq!(Batches::new(&records(&resp)).count(), 2, "session {session_id}");
    }
}
