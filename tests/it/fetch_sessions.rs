//! Incremental fetch sessions (KIP-227) on the wire: a full fetch opens a
//! session, incremental fetches name only what changed and get only what
//! changed, epochs are checked, sessions close and the cache has a size;
//! then kafka-python consuming through its sessions while its assignment
//! grows and shrinks, and librdkafka's sessionless fetches beside them.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    FetchRequest, FetchResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_rs::record::Batches;

use crate::broker_bad_input::batch;
use crate::broker_support::{Broker, Wire};
use crate::support;

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

fn create(wire: &mut Wire, topic: &str, partitions: i32) {
    let mut t = CreatableTopic::default();
    t.name = name(topic);
    t.num_partitions = partitions;
    t.replication_factor = 1;
    let mut req = CreateTopicsRequest::default();
    req.topics = vec![t];
    req.timeout_ms = 30_000;
    let resp: CreateTopicsResponse = wire.call(ApiKey::CreateTopics, 5, &req);
    assert_eq!(resp.topics[0].error_code, 0, "{resp:?}");
}

fn produce_to(wire: &mut Wire, topic: &str, partition: i32, values: &[&[u8]]) {
    let mut req = ProduceRequest::default();
    req.acks = 1;
    req.timeout_ms = 30_000;
    req.topic_data =
        vec![TopicProduceData::default().with_name(name(topic)).with_partition_data(vec![
            PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(Bytes::from(batch(values)))),
        ])];
    let resp: ProduceResponse = wire.call(ApiKey::Produce, 8, &req);
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 0, "{resp:?}");
}

/// A fetch of `parts` (topic, partition, offset) in session `id` at `epoch`.
fn fetch(id: i32, epoch: i32, parts: &[(&str, i32, i64)], forget: &[(&str, i32)]) -> FetchRequest {
    let mut req = FetchRequest::default();
    req.replica_id = kafka_protocol::messages::BrokerId(-1);
    req.max_wait_ms = 0;
    req.min_bytes = 0;
    req.max_bytes = 50 << 20;
    req.session_id = id;
    req.session_epoch = epoch;
    for &(topic, partition, offset) in parts {
        let mut p = FetchPartition::default();
        p.partition = partition;
        p.fetch_offset = offset;
        p.partition_max_bytes = 1 << 20;
        p.current_leader_epoch = -1;
        match req.topics.last_mut() {
            Some(t) if t.topic.0.as_str() == topic => t.partitions.push(p),
            _ => req
                .topics
                .push(FetchTopic::default().with_topic(name(topic)).with_partitions(vec![p])),
        }
    }
    for &(topic, partition) in forget {
        req.forgotten_topics_data.push(
            ForgottenTopic::default().with_topic(name(topic)).with_partitions(vec![partition]),
        );
    }
    req
}

/// (topic, partition, high watermark, records in it) of each partition answered.
fn answered(resp: &FetchResponse) -> Vec<(String, i32, i64, usize)> {
    let mut out = Vec::new();
    for t in &resp.responses {
        for p in &t.partitions {
            let records = p.records.clone().expect("records are never null");
            let n = Batches::new(&records).map(|b| b.unwrap().records_count() as usize).sum();
            out.push((t.topic.0.to_string(), p.partition_index, p.high_watermark, n));
        }
    }
    out.sort();
    out
}

fn row(topic: &str, partition: i32, hw: i64, records: usize) -> (String, i32, i64, usize) {
    (topic.to_string(), partition, hw, records)
}

#[test]
fn incremental_fetch_sessions_on_the_wire() {
    let broker = Broker::start(&[]);
    let mut w = broker.wire();
    create(&mut w, "s", 3);
    create(&mut w, "s2", 1);
    produce_to(&mut w, "s", 0, &[b"a", b"b"]);
    produce_to(&mut w, "s", 1, &[b"c"]);

    // A full fetch with epoch 0 opens a session and answers every partition.
    let all = [("s", 0, 0), ("s", 1, 0), ("s", 2, 0)];
    let resp: FetchResponse = w.call(ApiKey::Fetch, 12, &fetch(0, 0, &all, &[]));
    assert_eq!(resp.error_code, 0);
    let id = resp.session_id;
    assert_ne!(id, 0, "a free slot gives a session");
    assert_eq!(answered(&resp), [row("s", 0, 2, 2), row("s", 1, 1, 1), row("s", 2, 0, 0)]);

    // Epoch 1 names the partitions whose position moved; nothing new: an
    // empty answer in the same session.
    let resp: FetchResponse =
        w.call(ApiKey::Fetch, 12, &fetch(id, 1, &[("s", 0, 2), ("s", 1, 1)], &[]));
    assert_eq!((resp.error_code, resp.session_id), (0, id));
    assert_eq!(answered(&resp), []);

    // A record on a partition the request does not name: the session reads
    // it, and a long poll naming no partition is woken by its append.
    let mut producer = broker.wire();
    let mut req = fetch(id, 2, &[], &[]);
    req.max_wait_ms = 60_000;
    req.min_bytes = 1;
    let mut consumer = broker.wire();
    consumer.stream.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    let (cid, frame) = consumer.frame(ApiKey::Fetch, 12, &req);
    consumer.send_raw(&frame);
    produce_to(&mut producer, "s", 2, &[b"d"]);
    let resp: FetchResponse = consumer.read_response(ApiKey::Fetch, 12, cid).expect("woken");
    assert_eq!((resp.error_code, resp.session_id), (0, id));
    assert_eq!(answered(&resp), [row("s", 2, 1, 1)], "only the partition with news");

    // The session moved to epoch 3: epoch 2 again is refused, and the
    // refusal leaves the session as it was.
    let resp: FetchResponse = w.call(ApiKey::Fetch, 12, &fetch(id, 2, &[], &[]));
    assert_eq!((resp.error_code, resp.session_id), (71, 0), "INVALID_FETCH_SESSION_EPOCH");
    assert!(resp.responses.is_empty());

    // Forget s-2 and add s2-0 (with a record): only the new partition is
    // answered, and a record on the forgotten one is not read any more.
    produce_to(&mut w, "s2", 0, &[b"e"]);
    produce_to(&mut w, "s", 2, &[b"f"]);
    let resp: FetchResponse =
        w.call(ApiKey::Fetch, 12, &fetch(id, 3, &[("s2", 0, 0), ("s", 2, 1)], &[("s", 2)]));
    assert_eq!((resp.error_code, resp.session_id), (0, id));
    assert_eq!(answered(&resp), [row("s2", 0, 1, 1)]);

    // A high watermark moving without records to read is news too; v7,
    // the first version with sessions, continues the same session.
    produce_to(&mut w, "s", 0, &[b"g"]);
    let resp: FetchResponse = w.call(ApiKey::Fetch, 7, &fetch(id, 4, &[("s2", 0, 1)], &[]));
    assert_eq!((resp.error_code, resp.session_id), (0, id));
    assert_eq!(answered(&resp), [row("s", 0, 3, 1)], "s-0's new record, s-2 forgotten");

    // A session this broker never handed out.
    let other = if id == 1 { 2 } else { 1 };
    let resp: FetchResponse = w.call(ApiKey::Fetch, 12, &fetch(other, 1, &[], &[]));
    assert_eq!((resp.error_code, resp.session_id), (70, 0), "FETCH_SESSION_ID_NOT_FOUND");

    // Epoch -1 closes the session and is served without one.
    let resp: FetchResponse = w.call(ApiKey::Fetch, 12, &fetch(id, -1, &[("s", 1, 0)], &[]));
    assert_eq!((resp.error_code, resp.session_id), (0, 0));
    assert_eq!(answered(&resp), [row("s", 1, 1, 1)]);
    let resp: FetchResponse = w.call(ApiKey::Fetch, 12, &fetch(id, 5, &[], &[]));
    assert_eq!(resp.error_code, 70, "closed");
}

/// A session keeps its partitions looked up between fetches: a topic
/// deleted and created again under the same name must be read anew, not
/// through the deleted partition.
#[test]
fn a_session_reads_a_topic_created_again_not_the_deleted_one() {
    let broker = Broker::start(&[]);
    let mut w = broker.wire();
    create(&mut w, "r", 1);
    produce_to(&mut w, "r", 0, &[b"a", b"b"]);
    let resp: FetchResponse = w.call(ApiKey::Fetch, 12, &fetch(0, 0, &[("r", 0, 0)], &[]));
    let id = resp.session_id;
    assert_ne!(id, 0);
    assert_eq!(answered(&resp), [row("r", 0, 2, 2)]);
    let resp: FetchResponse = w.call(ApiKey::Fetch, 12, &fetch(id, 1, &[("r", 0, 2)], &[]));
    assert_eq!((resp.error_code, answered(&resp)), (0, vec![]));

    let mut del = DeleteTopicsRequest::default();
    del.timeout_ms = 60_000;
    del.topic_names = vec![name("r")];
    let resp: DeleteTopicsResponse = w.call(ApiKey::DeleteTopics, 5, &del);
    assert_eq!(resp.responses[0].error_code, 0, "{resp:?}");
    create(&mut w, "r", 1);
    produce_to(&mut w, "r", 0, &[b"x", b"y", b"z"]);

    let resp: FetchResponse = w.call(ApiKey::Fetch, 12, &fetch(id, 2, &[("r", 0, 0)], &[]));
    assert_eq!((resp.error_code, resp.session_id), (0, id));
    assert_eq!(answered(&resp), [row("r", 0, 3, 3)], "the new topic's records");
}

#[test]
fn a_full_cache_serves_full_fetches_without_a_session() {
    let broker = Broker::start(&["max.incremental.fetch.session.cache.slots=1"]);
    let mut w = broker.wire();
    create(&mut w, "c", 1);
    produce_to(&mut w, "c", 0, &[b"a"]);
    let resp: FetchResponse = w.call(ApiKey::Fetch, 12, &fetch(0, 0, &[("c", 0, 0)], &[]));
    let first = resp.session_id;
    assert_ne!(first, 0);
    // The one slot holds a young session: a consumer may not evict it
    // (KIP-227), so the second one is served, without a session.
    let mut other = broker.wire();
    let resp: FetchResponse = other.call(ApiKey::Fetch, 12, &fetch(0, 0, &[("c", 0, 0)], &[]));
    assert_eq!((resp.error_code, resp.session_id), (0, 0));
    assert_eq!(answered(&resp), [row("c", 0, 1, 1)]);
    // The first session lives on, and on another connection too.
    let resp: FetchResponse = other.call(ApiKey::Fetch, 12, &fetch(first, 1, &[("c", 0, 1)], &[]));
    assert_eq!((resp.error_code, resp.session_id), (0, first));

    let off = Broker::start(&["max.incremental.fetch.session.cache.slots=0"]);
    let mut w = off.wire();
    create(&mut w, "c", 1);
    let resp: FetchResponse = w.call(ApiKey::Fetch, 12, &fetch(0, 0, &[("c", 0, 0)], &[]));
    assert_eq!((resp.error_code, resp.session_id), (0, 0), "no slots: no sessions");
}

fn run_clients(client: &str) -> Vec<serde_json::Value> {
    let py = support::python().expect("checked by caller");
    let metrics_port = support::free_port();
    let broker = Broker::start(&[&format!("metrics.listener=http://127.0.0.1:{metrics_port}")]);
    create(&mut broker.wire(), "kp", 3);
    let script = support::repo().join("tests/interop/fetch_sessions.py");
    let url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let out = support::run_with_timeout(
        std::process::Command::new(py).arg(script).args([client, &broker.addr(), "kp", &url]),
        None,
        Duration::from_secs(400),
    );
    let text = support::stdout(&out);
    assert!(out.status.success(), "{client} failed:\n{text}\n{}", support::stderr(&out));
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// [first, last, count, distinct] of the values read from partition `p`.
fn read_of(step: &serde_json::Value, p: &str) -> Vec<i64> {
    step["read"][p].as_array().map_or(Vec::new(), |a| a.iter().filter_map(|v| v.as_i64()).collect())
}

fn metric(step: &serde_json::Value, name: &str) -> f64 {
    step["metrics"][name].as_f64().unwrap_or_else(|| panic!("no {name} in {step}"))
}

#[test]
fn kafka_python_consumes_through_incremental_sessions_as_its_assignment_changes() {
    if support::python().is_none() {
        return;
    }
    let steps = run_clients("kafka-python");
    let [two, three, one] = &steps[..] else { panic!("three steps: {steps:?}") };
    assert_eq!(read_of(two, "0"), [0, 99, 100, 100], "{two}");
    assert_eq!(read_of(two, "1"), [0, 99, 100, 100], "{two}");
    assert_eq!(read_of(two, "2"), [] as [i64; 0], "{two}");
    assert_eq!(metric(two, "numincrementalfetchpartitionscached"), 2.0);
    // The added partition is read from its start, the others go on where
    // they were (nothing twice).
    assert_eq!(read_of(three, "2"), [0, 99, 100, 100], "{three}");
    assert_eq!(read_of(three, "0"), [] as [i64; 0], "{three}");
    assert_eq!(read_of(three, "1"), [] as [i64; 0], "{three}");
    assert_eq!(metric(three, "numincrementalfetchpartitionscached"), 3.0);
    // Removed partitions are not read; the session holds one partition.
    assert_eq!(read_of(one, "2"), [100, 149, 50, 50], "{one}");
    assert_eq!(read_of(one, "0"), [] as [i64; 0], "{one}");
    assert_eq!(read_of(one, "1"), [] as [i64; 0], "{one}");
    assert_eq!(metric(one, "numincrementalfetchpartitionscached"), 1.0);
    assert_eq!(metric(one, "numincrementalfetchsessions"), 1.0);
    // The session was used incrementally throughout: many incremental
    // fetches, more at each step.
    let incremental = |s| metric(s, "incrementalfetches_total");
    assert!(incremental(two) > 0.0, "{two}");
    assert!(incremental(three) > incremental(two) && incremental(one) > incremental(three));
}

#[test]
fn librdkafka_consumes_with_sessionless_fetches() {
    if support::python().is_none() {
        return;
    }
    let steps = run_clients("confluent");
    let [all] = &steps[..] else { panic!("one step: {steps:?}") };
    for p in ["0", "1", "2"] {
        assert_eq!(read_of(all, p), [0, 99, 100, 100], "{all}");
    }
    // librdkafka does not implement KIP-227: every fetch is a full one
    // with epoch -1, so the broker opens no session for it.
    assert_eq!(metric(all, "numincrementalfetchsessions"), 0.0, "{all}");
    assert_eq!(metric(all, "incrementalfetches_total"), 0.0, "{all}");
}
