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
    let mut req = DescribeConfigsRequest::default();
    req.resources =
        vec![kafka_protocol::messages::describe_configs_request::DescribeConfigsResource::default(
        )
        .with_resource_type(2)
        .with_resource_name(StrBytes::from_static_str("dc"))
        .with_configuration_keys(None)];
    let resp: DescribeConfigsResponse = w.call(ApiKey::DescribeConfigs, 0, &req);
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
