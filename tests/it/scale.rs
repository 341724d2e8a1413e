//! Many partitions and many connections on one broker, at a size CI can
//! afford (scripts/bench-scale.sh runs the 10,000-partition version): one
//! CreateTopics for many topics answers each and brings every partition
//! online, they come back after a clean shutdown and after kill -9, and
//! idle connections keep working beside an active one.

use std::time::{Duration, Instant};

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    ListOffsetsRequest, ListOffsetsResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::broker_bad_input::{batch, produce};
use crate::broker_support::{Broker, Wire};

const TOPICS: usize = 60;
const PARTITIONS: i32 = 5;

fn name(n: &str) -> TopicName {
    TopicName(StrBytes::from_string(n.to_string()))
}

fn creatable(n: &str, partitions: i32) -> CreatableTopic {
    let mut t = CreatableTopic::default();
    t.name = name(n);
    t.num_partitions = partitions;
    t.replication_factor = 1;
    t
}

/// Partitions of `prefix*` topics that Metadata shows with a leader and
/// no error.
fn online_partitions(w: &mut Wire, prefix: &str) -> usize {
    let meta: MetadataResponse =
        w.call(ApiKey::Metadata, 9, &MetadataRequest::default().with_topics(None));
    meta.topics
        .iter()
        .filter(|t| t.name.as_ref().is_some_and(|n| n.0.starts_with(prefix)))
        .flat_map(|t| &t.partitions)
        .filter(|p| p.error_code == 0 && p.leader_id.0 >= 0)
        .count()
}

/// The latest offset of every partition of the `many-*` topics, polled
/// until Metadata shows them all online and ListOffsets answers each
/// without an error.
fn end_offsets(broker: &Broker) -> Vec<i64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut w = broker.wire();
    while online_partitions(&mut w, "many-") < TOPICS * PARTITIONS as usize {
        assert!(Instant::now() < deadline, "partitions never all online");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut req = ListOffsetsRequest::default();
    req.replica_id = kafka_protocol::messages::BrokerId(-1);
    req.topics = (0..TOPICS)
        .map(|i| {
            ListOffsetsTopic::default().with_name(name(&format!("many-{i}"))).with_partitions(
                (0..PARTITIONS)
                    .map(|p| {
                        ListOffsetsPartition::default().with_partition_index(p).with_timestamp(-1)
                    })
                    .collect(),
            )
        })
        .collect();
    let resp: ListOffsetsResponse = w.call(ApiKey::ListOffsets, 5, &req);
    let parts: Vec<_> = resp.topics.iter().flat_map(|t| &t.partitions).collect();
    assert_eq!(parts.len(), TOPICS * PARTITIONS as usize);
    assert!(parts.iter().all(|p| p.error_code == 0), "{resp:?}");
    parts.iter().map(|p| p.offset).collect()
}

#[test]
fn one_create_topics_request_creates_many_topics_that_survive_restarts() {
    let broker = Broker::start(&[]);
    let mut w = broker.wire();
    let first: CreateTopicsResponse = {
        let mut req = CreateTopicsRequest::default();
        req.timeout_ms = 60_000;
        req.topics = vec![creatable("exists", 1)];
        w.call(ApiKey::CreateTopics, 7, &req)
    };
    assert_eq!(first.topics[0].error_code, 0, "{first:?}");

    let mut req = CreateTopicsRequest::default();
    req.timeout_ms = 60_000;
    req.topics = (0..TOPICS).map(|i| creatable(&format!("many-{i}"), PARTITIONS)).collect();
    // Beside them, what each must fail on its own: an existing name, two
    // names that collide ('.' vs '_') within the request, a bad name and
    // a bad partition count.
    req.topics.push(creatable("exists", 1));
    req.topics.push(creatable("col.lide", 1));
    req.topics.push(creatable("col_lide", 1));
    req.topics.push(creatable("bad/name", 1));
    req.topics.push(creatable("zero-partitions", 0));
    let resp: CreateTopicsResponse = w.call(ApiKey::CreateTopics, 7, &req);
    assert_eq!(resp.topics.len(), TOPICS + 5, "one answer per topic asked");
    for t in &resp.topics {
        let n = t.name.0.to_string();
        let want = match n.as_str() {
            "exists" => 36,          // TOPIC_ALREADY_EXISTS
            "col_lide" => 17,        // INVALID_TOPIC_EXCEPTION: collides with col.lide
            "bad/name" => 17,        // INVALID_TOPIC_EXCEPTION
            "zero-partitions" => 37, // INVALID_PARTITIONS
            _ => 0,
        };
        assert_eq!(t.error_code, want, "{n}: {:?}", t.error_message);
        if want == 0 && n.starts_with("many-") {
            assert_eq!(t.num_partitions, PARTITIONS, "{n}");
            assert!(!t.topic_id.is_nil(), "{n}");
        }
    }
    assert!(broker.data_dir().join(format!("many-{}-{}", TOPICS - 1, PARTITIONS - 1)).is_dir());
    assert_eq!(online_partitions(&mut w, "col"), 1);
    // A partition keeps its log file open, not its two index files (they
    // stay mapped): 10,000 partitions must fit a 20,000-descriptor limit.
    let fds = std::fs::read_dir(format!("/proc/{}/fd", broker.child.pid())).unwrap().count();
    let partitions = TOPICS * PARTITIONS as usize;
    assert!(fds < partitions * 2, "{fds} descriptors for {partitions} partitions");

    // Records in a few partitions, to find again after each restart.
    for i in [0, TOPICS / 2, TOPICS - 1] {
        let (code, _) = produce(&mut w, &format!("many-{i}"), 1, batch(&[b"a", b"b", b"c"]));
        assert_eq!(code, 0);
    }
    let before = end_offsets(&broker);
    assert_eq!(before.iter().sum::<i64>(), 9);

    let Broker { mut child, port, dir } = broker;
    child.terminate(Duration::from_secs(60));
    let broker = Broker::start_in_on(dir, port, &[]);
    assert_eq!(end_offsets(&broker), before, "after a clean shutdown");

    let dir = broker.kill9();
    let broker = Broker::start_in_on(dir, port, &[]);
    assert_eq!(end_offsets(&broker), before, "after kill -9");
}

#[test]
fn idle_connections_keep_answering_beside_an_active_one() {
    let broker = Broker::start(&[]);
    let mut idle: Vec<Wire> = (0..200).map(|_| broker.wire()).collect();
    for w in &mut idle {
        let r: ApiVersionsResponse = w.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
        assert_eq!(r.error_code, 0);
    }
    let mut active = broker.wire();
    let mut req = CreateTopicsRequest::default();
    req.timeout_ms = 60_000;
    req.topics = vec![creatable("busy", 1)];
    let created: CreateTopicsResponse = active.call(ApiKey::CreateTopics, 5, &req);
    assert_eq!(created.topics[0].error_code, 0);
    for n in 0..50 {
        let (code, offset) = produce(&mut active, "busy", 1, batch(&[b"x"]));
        assert_eq!((code, offset), (0, n));
        // A large answer (Metadata) on one idle connection in between:
        // its buffers go once written, and it keeps working after.
        let m: MetadataResponse = idle[n as usize].call(
            ApiKey::Metadata,
            9,
            &MetadataRequest::default().with_topics(None),
        );
        assert!(m.topics.iter().any(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == "busy")));
    }
    // A request that arrives in pieces on a connection that idled.
    let (cid, frame) = idle[199].frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    idle[199].send_raw(&frame[..3]);
    std::thread::sleep(Duration::from_millis(20));
    idle[199].send_raw(&frame[3..]);
    let r: ApiVersionsResponse = idle[199].read_response(ApiKey::ApiVersions, 3, cid).unwrap();
    assert_eq!(r.error_code, 0);
    for w in &mut idle {
        let r: ApiVersionsResponse = w.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
        assert_eq!(r.error_code, 0);
    }
}
