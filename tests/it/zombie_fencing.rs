//! A broker paused (SIGSTOP) past its ZooKeeper session timeout while it
//! was the group coordinator and a partition's leader: the others take
//! over, the group commits and records are acknowledged at them, and when
//! the paused broker wakes (SIGCONT) the requests already waiting in its
//! sockets must not be answered from its stale state: OffsetFetch gets
//! NOT_COORDINATOR (or the new offsets), ListGroups NOT_COORDINATOR (or
//! no longer the group), Fetch, ListOffsets and OffsetsForLeaderEpoch
//! NOT_LEADER_OR_FOLLOWER (or the new leader's offsets), Produce is never
//! acknowledged.

use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, FindCoordinatorRequest, FindCoordinatorResponse,
    GroupId, ListGroupsRequest, ListGroupsResponse, ListOffsetsRequest, ListOffsetsResponse,
    MetadataRequest, MetadataResponse, OffsetCommitRequest, OffsetCommitResponse,
    OffsetFetchRequest, OffsetFetchResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::broker_bad_input::batch;
use crate::broker_support::Wire;
use crate::replication::Cluster;
use crate::support;
use crate::zk_harness;

const T: Duration = Duration::from_secs(60);
const GROUP: &str = "zombies";
const TOPIC: &str = "zombie";
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const NOT_COORDINATOR: i16 = 16;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// Sends SIGSTOP to a broker and SIGCONT when dropped, so a failing test
/// leaves no stopped process behind.
struct Paused(u32);

impl Paused {
    fn stop(pid: u32) -> Paused {
        signal("-STOP", pid);
        Paused(pid)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        signal("-CONT", self.0);
    }
}

fn signal(which: &str, pid: u32) {
    let out = support::run_with_timeout(
        Command::new("kill").args([which, &pid.to_string()]),
        None,
        Duration::from_secs(10),
    );
    assert!(out.status.success(), "kill {which} {pid}: {}", support::stderr(&out));
}

/// The group's coordinator as broker `asked` names it, once it is not `not`.
fn coordinator(cluster: &Cluster, asked: i32, not: Option<i32>) -> i32 {
    let mut found = -1;
    support::wait_until(T, "a group coordinator", || {
        let req = FindCoordinatorRequest::default().with_key(s(GROUP));
        let resp: FindCoordinatorResponse =
            cluster.broker(asked).wire().call(ApiKey::FindCoordinator, 3, &req);
        found = resp.node_id.0;
        resp.error_code == 0 && Some(found) != not
    });
    found
}

/// The leader of partition 0 of [`TOPIC`] in broker `asked`'s metadata.
fn leader(cluster: &Cluster, asked: i32) -> i32 {
    leader_and_epoch(cluster, asked).0
}

/// The leader of partition 0 of [`TOPIC`] and its leader epoch in broker
/// `asked`'s metadata.
fn leader_and_epoch(cluster: &Cluster, asked: i32) -> (i32, i32) {
    let req = MetadataRequest::default().with_topics(None);
    let resp: MetadataResponse = cluster.broker(asked).wire().call(ApiKey::Metadata, 7, &req);
    resp.topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == TOPIC))
        .and_then(|t| t.partitions.iter().find(|p| p.partition_index == 0))
        .map_or((-1, -1), |p| (p.leader_id.0, p.leader_epoch))
}

fn offset_commit(offset: i64) -> OffsetCommitRequest {
    let part = OffsetCommitRequestPartition::default().with_committed_offset(offset);
    OffsetCommitRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partitions(vec![part])])
}

/// The committed offset in an OffsetFetch answer (none when it is an error).
fn committed_offset(resp: &OffsetFetchResponse) -> Option<i64> {
    resp.topics.first()?.partitions.first().map(|p| p.committed_offset)
}

fn offset_fetch() -> OffsetFetchRequest {
    OffsetFetchRequest::default().with_group_id(GroupId(s(GROUP))).with_topics(Some(vec![
        OffsetFetchRequestTopic::default()
            .with_name(TopicName(s(TOPIC)))
            .with_partition_indexes(vec![0]),
    ]))
}

fn produce(values: &[&[u8]], acks: i16) -> ProduceRequest {
    ProduceRequest::default().with_acks(acks).with_timeout_ms(10_000).with_topic_data(vec![
        TopicProduceData::default().with_name(TopicName(s(TOPIC))).with_partition_data(vec![
            PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from(batch(values)))),
        ]),
    ])
}

fn fetch() -> FetchRequest {
    let p = FetchPartition::default()
        .with_partition(0)
        .with_fetch_offset(0)
        .with_partition_max_bytes(1 << 20)
        .with_current_leader_epoch(-1);
    FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(s(TOPIC)))
            .with_partitions(vec![p])])
}

fn list_offsets_latest() -> ListOffsetsRequest {
    ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
        ListOffsetsTopic::default().with_name(TopicName(s(TOPIC))).with_partitions(vec![
            ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_current_leader_epoch(-1)
                .with_timestamp(-1),
        ]),
    ])
}

/// Where `leader_epoch` ends: a deposed leader that never saw that epoch
/// knows nothing of it; the new leader answers its log end.
fn offsets_for_leader_epoch(leader_epoch: i32) -> OffsetForLeaderEpochRequest {
    OffsetForLeaderEpochRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
        OffsetForLeaderTopic::default().with_topic(TopicName(s(TOPIC))).with_partitions(vec![
            OffsetForLeaderPartition::default()
                .with_partition(0)
                .with_current_leader_epoch(-1)
                .with_leader_epoch(leader_epoch),
        ]),
    ])
}

fn lists_the_group(resp: &ListGroupsResponse) -> bool {
    resp.groups.iter().any(|g| g.group_id.0.as_str() == GROUP)
}

/// Commits `offset` at broker `at`, retrying while it loads the group.
fn commit_at(cluster: &Cluster, at: i32, offset: i64) {
    support::wait_until(T, "the commit to be stored", || {
        let resp: OffsetCommitResponse =
            cluster.broker(at).wire().call(ApiKey::OffsetCommit, 2, &offset_commit(offset));
        resp.topics[0].partitions[0].error_code == 0
    });
}

/// Produces with acks=all at broker `at` until acknowledged; the offset.
fn produce_at(cluster: &Cluster, at: i32, values: &[&[u8]]) -> i64 {
    let mut base = -1;
    support::wait_until(T, "acks=all records to be acknowledged", || {
        let resp: ProduceResponse =
            cluster.broker(at).wire().call(ApiKey::Produce, 8, &produce(values, -1));
        let p = &resp.responses[0].partition_responses[0];
        base = p.base_offset;
        p.error_code == 0
    });
    base
}

fn woken_coordinator_and_leader_are_fenced(cluster: Cluster) {
    let c = coordinator(&cluster, 1, None);
    cluster.wait_isr_of("__consumer_offsets", 0, &[1, 2, 3], T);
    let others: Vec<i32> = (1..=3).filter(|&b| b != c).collect();
    // The paused broker leads the topic too (the first replica is preferred).
    let assignment = format!("{c}:{}:{}", others[0], others[1]);
    cluster.topics(&["--create", "--topic", TOPIC, "--replica-assignment", &assignment]);
    cluster.wait_isr_of(TOPIC, 0, &[1, 2, 3], T);
    support::wait_until(T, "the paused broker to lead the topic", || leader(&cluster, c) == c);
    commit_at(&cluster, c, 5);
    assert_eq!(produce_at(&cluster, c, &[b"a", b"b", b"c"]), 0);

    let pid = cluster.broker(c).child.pid();
    let paused = Paused::stop(pid);
    let successor = coordinator(&cluster, others[0], Some(c));
    assert_ne!(successor, c);
    commit_at(&cluster, successor, 9);
    let (mut new_leader, mut new_epoch) = (-1, -1);
    support::wait_until(T, "a new leader of the topic", || {
        (new_leader, new_epoch) = leader_and_epoch(&cluster, others[0]);
        new_leader > 0 && new_leader != c
    });
    assert_eq!(produce_at(&cluster, new_leader, &[b"d", b"e"]), 3);

    // The requests wait in the paused broker's sockets (the kernel accepts
    // connections for it), so they are the first thing it sees on waking.
    let port = cluster.broker(c).port;
    let mut fetch_offsets = Wire::connect(port);
    let mut read = Wire::connect(port);
    let mut write = Wire::connect(port);
    let mut list_groups = Wire::connect(port);
    let mut list_offsets = Wire::connect(port);
    let mut epoch_end = Wire::connect(port);
    let (fo_cid, fo) = fetch_offsets.frame(ApiKey::OffsetFetch, 5, &offset_fetch());
    let (read_cid, r) = read.frame(ApiKey::Fetch, 11, &fetch());
    let (write_cid, w) = write.frame(ApiKey::Produce, 8, &produce(&[b"zombie"], 1));
    let (lg_cid, lg) = list_groups.frame(ApiKey::ListGroups, 4, &ListGroupsRequest::default());
    let (lo_cid, lo) = list_offsets.frame(ApiKey::ListOffsets, 5, &list_offsets_latest());
    let (ee_cid, ee) =
        epoch_end.frame(ApiKey::OffsetForLeaderEpoch, 3, &offsets_for_leader_epoch(new_epoch));
    fetch_offsets.send_raw(&fo);
    read.send_raw(&r);
    write.send_raw(&w);
    list_groups.send_raw(&lg);
    list_offsets.send_raw(&lo);
    epoch_end.send_raw(&ee);
    drop(paused);

    let resp: OffsetFetchResponse = fetch_offsets
        .read_response(ApiKey::OffsetFetch, 5, fo_cid)
        .expect("the woken broker answers OffsetFetch");
    let committed = committed_offset(&resp);
    assert!(
        resp.error_code == NOT_COORDINATOR || (resp.error_code == 0 && committed == Some(9)),
        "the woken coordinator answered from its stale cache: {resp:?}"
    );
    let resp: FetchResponse =
        read.read_response(ApiKey::Fetch, 11, read_cid).expect("the woken broker answers Fetch");
    let part = &resp.responses[0].partitions[0];
    assert!(
        part.error_code == NOT_LEADER_OR_FOLLOWER
            || (part.error_code == 0 && part.high_watermark >= 5),
        "the woken leader served a stale read: error {} high watermark {}",
        part.error_code,
        part.high_watermark
    );
    let resp: ProduceResponse = write
        .read_response(ApiKey::Produce, 8, write_cid)
        .expect("the woken broker answers Produce");
    let part = &resp.responses[0].partition_responses[0];
    assert_eq!(part.error_code, NOT_LEADER_OR_FOLLOWER, "the woken leader acknowledged: {part:?}");
    let resp: ListGroupsResponse = list_groups
        .read_response(ApiKey::ListGroups, 4, lg_cid)
        .expect("the woken broker answers ListGroups");
    assert!(
        resp.error_code == NOT_COORDINATOR || (resp.error_code == 0 && !lists_the_group(&resp)),
        "the woken coordinator listed a group it no longer holds: {resp:?}"
    );
    let resp: ListOffsetsResponse = list_offsets
        .read_response(ApiKey::ListOffsets, 5, lo_cid)
        .expect("the woken broker answers ListOffsets");
    let part = &resp.topics[0].partitions[0];
    assert!(
        part.error_code == NOT_LEADER_OR_FOLLOWER || (part.error_code == 0 && part.offset >= 5),
        "the woken leader answered a stale latest offset: {part:?}"
    );
    let resp: OffsetForLeaderEpochResponse = epoch_end
        .read_response(ApiKey::OffsetForLeaderEpoch, 3, ee_cid)
        .expect("the woken broker answers OffsetsForLeaderEpoch");
    let part = &resp.topics[0].partitions[0];
    assert!(
        part.error_code == NOT_LEADER_OR_FOLLOWER
            || (part.error_code == 0 && part.leader_epoch == new_epoch && part.end_offset >= 5),
        "the woken leader answered for an epoch it never led: {part:?}"
    );

    // Once it has rejoined, it follows: still no stale answer.
    cluster.wait_registered(&[1, 2, 3]);
    let resp: OffsetFetchResponse =
        cluster.broker(c).wire().call(ApiKey::OffsetFetch, 5, &offset_fetch());
    let committed = committed_offset(&resp);
    assert!(
        resp.error_code == NOT_COORDINATOR || committed == Some(9),
        "after rejoining: {resp:?}"
    );
    let now = coordinator(&cluster, c, None);
    support::wait_until(T, "the commit made meanwhile to stand", || {
        let resp: OffsetFetchResponse =
            cluster.broker(now).wire().call(ApiKey::OffsetFetch, 5, &offset_fetch());
        resp.error_code == 0 && committed_offset(&resp) == Some(9)
    });
}

fn overrides() -> [&'static str; 4] {
    [
        "offsets.topic.replication.factor=3",
        "offsets.topic.num.partitions=1",
        "group.initial.rebalance.delay.ms=0",
        "replica.lag.time.max.ms=10000",
    ]
}

#[test]
fn a_broker_woken_after_its_session_expired_answers_nothing_stale() {
    woken_coordinator_and_leader_are_fenced(Cluster::start(&overrides()));
}

#[test]
fn a_broker_woken_after_its_session_expired_answers_nothing_stale_on_apache_zookeeper() {
    let Some(zk) = zk_harness::start_apache("") else { return };
    woken_coordinator_and_leader_are_fenced(Cluster::start_on(zk, &overrides()));
}
