//! Fetch semantics on the wire: long polls woken by appends, requests
//! served behind a long poll on its connection, empty answers with
//! zero-length (never null) records, whole batches from mid-batch offsets,
//! out-of-range offsets, sessionless fetch sessions.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, FetchRequest, FetchResponse, MetadataRequest,
    MetadataResponse, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_rs::record::{Batches, RecordBatch};

use crate::broker_bad_input::{batch, create_topic, produce, produce_request};
use crate::broker_support::{Broker, Wire};
use crate::metrics::{http_get, Scrape};
use crate::support;

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

/// The values of every record in the batches of `records`.
fn values(records: &Bytes) -> Vec<Vec<u8>> {
    Batches::new(records)
        .flat_map(|b| {
            let records = b.unwrap().records().unwrap();
            let values = records.iter().map(|r| r.unwrap().value.unwrap().to_vec());
            values.collect::<Vec<_>>()
        })
        .collect()
}

/// A connection whose reads wait longer than any poll in these tests.
fn patient_wire(broker: &Broker) -> Wire {
    let w = broker.wire();
    w.stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    w
}

fn produced(w: &mut Wire, cid: i32) -> (i16, i64) {
    let resp: ProduceResponse = w.read_response(ApiKey::Produce, 8, cid).expect("produce answer");
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// kafka-go's Conn long-polls and produces on one connection: the produce
/// behind the waiting fetch is handled (and wakes it), yet every answer
/// comes back in request order, the fetch's first.
#[test]
fn requests_behind_a_waiting_fetch_are_served_and_answered_after_it() {
    let broker = Broker::start(&[]);
    assert_eq!(create_topic(&mut broker.wire(), "pipe", &[]).topics[0].error_code, 0);
    let mut w = patient_wire(&broker);
    // Nothing but this connection's own produce can answer the fetch
    // before the read times out.
    let (fetch, frame) = w.frame(ApiKey::Fetch, 12, &fetch_request("pipe", 0, i32::MAX, 1));
    w.send_raw(&frame);
    let mut behind = Vec::new();
    let (first, frame) =
        w.frame(ApiKey::Produce, 8, &produce_request("pipe", 1, 30_000, batch(&[b"one"])));
    behind.extend(frame);
    let (second, frame) =
        w.frame(ApiKey::Produce, 8, &produce_request("pipe", 1, 30_000, batch(&[b"two"])));
    behind.extend(frame);
    let (metadata, frame) =
        w.frame(ApiKey::Metadata, 9, &MetadataRequest::default().with_topics(None));
    behind.extend(frame);
    w.send_raw(&behind);

    let resp: FetchResponse =
        w.read_response(ApiKey::Fetch, 12, fetch).expect("the produce behind it woke the fetch");
    let p = &resp.responses[0].partitions[0];
    assert_eq!(p.error_code, 0);
    let got = values(&records(&resp));
    assert_eq!(got.first().map(Vec::as_slice), Some(&b"one"[..]), "the fetch returns the produce");
    // The second produce may have been appended before the woken fetch read.
    assert!(got.len() <= 2 && got.get(1).is_none_or(|v| v == b"two"), "{got:?}");
    assert_eq!(produced(&mut w, first), (0, 0), "the first produce appended first");
    assert_eq!(produced(&mut w, second), (0, 1), "the second after it");
    let resp: MetadataResponse = w.read_response(ApiKey::Metadata, 9, metadata).expect("metadata");
    assert!(resp.topics.iter().any(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == "pipe")));
    // Back to one request at a time: a plain fetch reads both records.
    let resp: FetchResponse = w.call(ApiKey::Fetch, 12, &fetch_request("pipe", 0, 0, 0));
    assert_eq!(values(&records(&resp)), vec![b"one".to_vec(), b"two".to_vec()]);
}

/// One fetch waits per connection: a second one is handled once the first
/// is answered, and the requests around them keep their order.
#[test]
fn a_second_fetch_is_handled_after_the_waiting_one() {
    let broker = Broker::start(&[]);
    let mut admin = broker.wire();
    assert_eq!(create_topic(&mut admin, "two", &[]).topics[0].error_code, 0);
    let mut w = patient_wire(&broker);
    let mut frames = Vec::new();
    let (waiting, frame) = w.frame(ApiKey::Fetch, 12, &fetch_request("two", 0, i32::MAX, 1));
    frames.extend(frame);
    let (metadata, frame) =
        w.frame(ApiKey::Metadata, 9, &MetadataRequest::default().with_topics(None));
    frames.extend(frame);
    let (immediate, frame) = w.frame(ApiKey::Fetch, 12, &fetch_request("two", 0, 0, 0));
    frames.extend(frame);
    let (versions, frame) = w.frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    frames.extend(frame);
    w.send_raw(&frames);
    // Another connection's produce answers the waiting fetch.
    assert_eq!(produce(&mut admin, "two", 1, batch(&[b"x"])), (0, 0));

    let resp: FetchResponse = w.read_response(ApiKey::Fetch, 12, waiting).expect("woken");
    assert_eq!(values(&records(&resp)), vec![b"x".to_vec()]);
    let resp: MetadataResponse = w.read_response(ApiKey::Metadata, 9, metadata).expect("metadata");
    assert_eq!(resp.brokers.len(), 1);
    // Handled after the first was answered, so after the produce.
    let resp: FetchResponse = w.read_response(ApiKey::Fetch, 12, immediate).expect("second");
    assert_eq!(values(&records(&resp)), vec![b"x".to_vec()]);
    let resp: ApiVersionsResponse =
        w.read_response(ApiKey::ApiVersions, 3, versions).expect("api versions");
    assert_eq!(resp.error_code, 0);
}

/// A client that leaves while its fetch waits takes the fetch out of the
/// purgatory, however long it asked to wait.
#[test]
fn closing_the_connection_drops_its_waiting_fetch() {
    let metrics_port = support::free_port();
    let broker = Broker::start(&[&format!("metrics.listener=http://127.0.0.1:{metrics_port}")]);
    assert_eq!(create_topic(&mut broker.wire(), "gone", &[]).topics[0].error_code, 0);
    let waiting = || {
        let (status, body) = http_get(metrics_port, "/metrics");
        assert_eq!(status, 200, "{body}");
        Scrape::parse(body)
            .get("kafka_server_delayedoperationpurgatory_purgatorysize{delayedOperation=\"Fetch\"}")
    };
    let mut w = patient_wire(&broker);
    let (_, mut frames) = w.frame(ApiKey::Fetch, 12, &fetch_request("gone", 0, i32::MAX, 1));
    frames.extend(w.frame(ApiKey::Metadata, 9, &MetadataRequest::default().with_topics(None)).1);
    w.send_raw(&frames);
    support::wait_until(Duration::from_secs(60), "the fetch waits", || waiting() == 1.0);
    drop(w);
    support::wait_until(Duration::from_secs(60), "the fetch is dropped", || waiting() == 0.0);
    // The broker serves the next client as before.
    let resp: FetchResponse =
        broker.wire().call(ApiKey::Fetch, 12, &fetch_request("gone", 0, 0, 0));
    assert_eq!(resp.responses[0].partitions[0].error_code, 0);
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

/// The record bytes of every fetch from `from` up to `end`, one fetch per
/// element (each answer stops at its segment's end).
fn fetch_through(w: &mut Wire, topic: &str, from: i64, end: i64) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut next = from;
    while next < end {
        let resp: FetchResponse = w.call(ApiKey::Fetch, 12, &fetch_request(topic, next, 0, 1));
        assert_eq!(resp.responses[0].partitions[0].error_code, 0, "fetch at {next}");
        let recs = records(&resp);
        let last = Batches::new(&recs).map(|b| b.unwrap().next_offset()).last();
        next = last.unwrap_or_else(|| panic!("no batch at offset {next}"));
        out.push(recs);
    }
    out
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0)) >= (major, minor)
}

/// Writes the partition's files back and drops them from the page cache, as
/// old segments are once memory is needed elsewhere.
fn drop_from_page_cache(partition_dir: &std::path::Path) -> usize {
    let mut logs = 0;
    for entry in std::fs::read_dir(partition_dir).unwrap() {
        let path = entry.unwrap().path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext == "log" || ext == "index" {
            logs += usize::from(ext == "log");
            let f = std::fs::File::open(&path).unwrap();
            f.sync_all().unwrap();
            rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        }
    }
    logs
}

/// A consumer catching up on segments that are no longer in the page cache
/// (read on the blocking pool, loaded into the cache before they are sent)
/// gets the same bytes as one reading them while cached, across segment
/// boundaries; and a long poll at the log end is still woken by an append.
/// The broker's count of where it read shows which path served each pass.
#[test]
fn segments_dropped_from_the_page_cache_are_served_byte_for_byte() {
    let metrics_port = support::free_port();
    let broker = Broker::start(&[&format!("metrics.listener=http://127.0.0.1:{metrics_port}")]);
    let reads = || {
        let (status, body) = http_get(metrics_port, "/metrics");
        assert_eq!(status, 200, "{body}");
        let s = Scrape::parse(body);
        let get = |from: &str| s.get(&format!("kafka_rs_fetch_reads_total{{from=\"{from}\"}}"));
        (get("page_cache"), get("disk"))
    };
    let mut w = patient_wire(&broker);
    let topic = "cold";
    let created = create_topic(&mut w, topic, &[("segment.bytes", "65536")]);
    assert_eq!(created.topics[0].error_code, 0);
    let n = 48;
    for i in 0..n {
        let value = vec![b'a' + (i % 26) as u8; 7000 + i as usize];
        assert_eq!(produce(&mut w, topic, 1, batch(&[&value, b"tail"])), (0, 2 * i));
    }
    let end = 2 * n;
    // Before Linux 6.5 (no cachestat) the broker cannot tell what is
    // cached, so every read goes to the blocking pool.
    let can_tell = kernel_at_least(6, 5);
    if !can_tell {
        support::skip("no cachestat before Linux 6.5: which path served a read is not checked");
    }
    let before = reads();
    let warm = fetch_through(&mut w, topic, 0, end);
    let after = reads();
    if can_tell {
        assert_eq!(after.1, before.1, "just written, so every read is served from the page cache");
        assert!(after.0 >= before.0 + warm.len() as f64, "{before:?} -> {after:?}");
    }
    for round in 0..2 {
        let segments = drop_from_page_cache(&broker.data_dir().join("cold-0"));
        assert!(segments >= 4, "several segments, got {segments}");
        let before = reads();
        let cold = fetch_through(&mut w, topic, 0, end);
        let after = reads();
        assert!(after.1 > before.1, "round {round}: no read went to the disk: {after:?}");
        for (k, (c, h)) in cold.iter().zip(&warm).enumerate() {
            assert!(c == h, "round {round}: fetch {k} differs from the cached read");
        }
    }
    // Dropped again, then a long poll at the end is parked and woken.
    drop_from_page_cache(&broker.data_dir().join("cold-0"));
    let (cid, frame) = w.frame(ApiKey::Fetch, 12, &fetch_request(topic, end, i32::MAX, 1));
    w.send_raw(&frame);
    let mut producer = broker.wire();
    assert_eq!(produce(&mut producer, topic, 1, batch(&[b"after the cold reads"])), (0, end));
    let resp: FetchResponse =
        w.read_response(ApiKey::Fetch, 12, cid).expect("the append woke the long poll");
    assert_eq!(values(&records(&resp)), vec![b"after the cold reads".to_vec()]);
}
