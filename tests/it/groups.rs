//! Consumer groups on a real broker process: the group APIs over the wire
//! (bad input included), and third-party consumers (librdkafka through
//! confluent-kafka, kafka-python) rebalancing, committing and resuming,
//! across a consumer restart and a broker kill -9.

use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, GroupId, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest,
    JoinGroupResponse, OffsetCommitRequest, OffsetCommitResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::broker_support::{Broker, Wire};
use crate::support::{self, run_with_timeout, stderr, stdout};

/// Broker settings for group tests: one broker holds the offsets topic, and
/// rebalances start without the 3 s initial delay.
const GROUP_OVERRIDES: &[&str] =
    &["offsets.topic.replication.factor=1", "group.initial.rebalance.delay.ms=0"];

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn create_topic(wire: &mut Wire, name: &str, partitions: i32) {
    let mut topic = kafka_protocol::messages::create_topics_request::CreatableTopic::default();
    topic.name = TopicName(s(name));
    topic.num_partitions = partitions;
    topic.replication_factor = 1;
    let mut req = CreateTopicsRequest::default();
    req.topics.push(topic);
    req.timeout_ms = 30_000;
    let resp: CreateTopicsResponse = wire.call(ApiKey::CreateTopics, 5, &req);
    assert_eq!(resp.topics[0].error_code, 0, "{resp:?}");
}

/// FindCoordinator until the group's coordinator has loaded its partition.
pub fn find_coordinator(wire: &mut Wire, group: &str) -> FindCoordinatorResponse {
    let mut last = None;
    for _ in 0..200 {
        let mut req = FindCoordinatorRequest::default();
        req.key = s(group);
        let resp: FindCoordinatorResponse = wire.call(ApiKey::FindCoordinator, 3, &req);
        if resp.error_code == 0 {
            return resp;
        }
        last = Some(resp);
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no coordinator for {group}: {last:?}");
}

fn join(
    wire: &mut Wire,
    version: i16,
    group: &str,
    member: &str,
    protocol: &str,
) -> JoinGroupResponse {
    let mut p = JoinGroupRequestProtocol::default();
    p.name = s(protocol);
    p.metadata = Bytes::from_static(b"\0\0\0\0\0\x01\0\x01t\xff\xff\xff\xff");
    let mut req = JoinGroupRequest::default();
    req.group_id = GroupId(s(group));
    req.session_timeout_ms = 10_000;
    req.rebalance_timeout_ms = 10_000;
    req.member_id = s(member);
    req.protocol_type = s("consumer");
    req.protocols.push(p);
    join_request(wire, version, &req)
}

/// Sends a JoinGroup, retrying while the coordinator is still loading the
/// group's __consumer_offsets partition (COORDINATOR_LOAD_IN_PROGRESS, which
/// tells a client to retry).
fn join_request(wire: &mut Wire, version: i16, req: &JoinGroupRequest) -> JoinGroupResponse {
    for _ in 0..200 {
        let resp: JoinGroupResponse = wire.call(ApiKey::JoinGroup, version, req);
        if resp.error_code != 14 {
            return resp;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{:?}: coordinator never loaded", req.group_id);
}

fn heartbeat(wire: &mut Wire, group: &str, member: &str, generation: i32) -> i16 {
    let mut req = HeartbeatRequest::default();
    req.group_id = GroupId(s(group));
    req.member_id = s(member);
    req.generation_id = generation;
    let resp: HeartbeatResponse = wire.call(ApiKey::Heartbeat, 3, &req);
    resp.error_code
}

fn commit(wire: &mut Wire, group: &str, topic: &str, partition: i32) -> OffsetCommitResponse {
    let mut p = OffsetCommitRequestPartition::default();
    p.partition_index = partition;
    p.committed_offset = 1;
    let mut t = OffsetCommitRequestTopic::default();
    t.name = TopicName(s(topic));
    t.partitions.push(p);
    let mut req = OffsetCommitRequest::default();
    req.group_id = GroupId(s(group));
    req.generation_id_or_member_epoch = -1;
    req.retention_time_ms = -1;
    req.topics.push(t);
    // A loading coordinator asks the client to retry.
    for _ in 0..200 {
        let resp: OffsetCommitResponse = wire.call(ApiKey::OffsetCommit, 7, &req);
        if resp.topics[0].partitions[0].error_code != 14 {
            return resp;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{group}: coordinator never loaded");
}

#[test]
fn group_bad_input_gets_kafkas_errors_and_spares_other_groups() {
    let broker = Broker::start(GROUP_OVERRIDES);
    let mut wire = broker.wire();
    create_topic(&mut wire, "known", 1);
    let coordinator = find_coordinator(&mut wire, "good");
    assert_eq!(coordinator.port, i32::from(broker.port));

    // A healthy group to keep an eye on.
    let first = join(&mut wire, 5, "good", "", "range");
    assert_eq!(first.error_code, 79, "KIP-394: MEMBER_ID_REQUIRED on the first v4+ join");
    let member = first.member_id.to_string();
    let joined = join(&mut wire, 5, "good", &member, "range");
    assert_eq!(joined.error_code, 0);
    let generation = joined.generation_id;

    let cases: Vec<(JoinGroupResponse, i16, &str)> = vec![
        (
            join(&mut wire, 5, "good", "", "no-such-protocol"),
            23,
            "unknown protocol: INCONSISTENT_GROUP_PROTOCOL",
        ),
        (join(&mut wire, 5, "", "", "range"), 24, "empty group id: INVALID_GROUP_ID"),
        (
            join(&mut wire, 5, "good", "forged-member", "range"),
            25,
            "forged member id: UNKNOWN_MEMBER_ID",
        ),
    ];
    for (resp, code, why) in cases {
        assert_eq!(resp.error_code, code, "{why}");
    }
    // An enormous group id cannot even be encoded in a v5 request (int16
    // string length), so it goes in a flexible v6 request.
    let huge = "g".repeat(40_000);
    let resp = join(&mut wire, 6, &huge, "", "range");
    assert_eq!(resp.error_code, 24, "group id too long for its record key");

    assert_eq!(
        heartbeat(&mut wire, "good", &member, generation - 1),
        22,
        "stale generation: ILLEGAL_GENERATION"
    );
    let unknown = commit(&mut wire, "offsets-only", "no-such-topic", 0);
    assert_eq!(unknown.topics[0].partitions[0].error_code, 3, "commit for an unknown partition");
    let known = commit(&mut wire, "offsets-only", "known", 0);
    assert_eq!(known.topics[0].partitions[0].error_code, 0);
    let missing_partition = commit(&mut wire, "offsets-only", "known", 7);
    assert_eq!(missing_partition.topics[0].partitions[0].error_code, 3);

    // Huge member metadata: accepted, but too large to store, so the sync
    // fails with UNKNOWN_SERVER_ERROR and the group starts over.
    let mut big = JoinGroupRequest::default();
    let mut p = JoinGroupRequestProtocol::default();
    p.name = s("range");
    p.metadata = Bytes::from(vec![1u8; 2 << 20]);
    big.group_id = GroupId(s("big"));
    big.session_timeout_ms = 10_000;
    big.rebalance_timeout_ms = 10_000;
    big.protocol_type = s("consumer");
    big.protocols.push(p);
    let r = join_request(&mut wire, 3, &big);
    assert_eq!(r.error_code, 0, "{:?}", r.error_code);
    let mut sync = kafka_protocol::messages::SyncGroupRequest::default();
    sync.group_id = GroupId(s("big"));
    sync.member_id = r.member_id.clone();
    sync.generation_id = r.generation_id;
    let sr: kafka_protocol::messages::SyncGroupResponse = wire.call(ApiKey::SyncGroup, 3, &sync);
    assert_eq!(sr.error_code, -1, "UNKNOWN_SERVER_ERROR for a group record past message.max.bytes");

    assert_eq!(
        heartbeat(&mut wire, "good", &member, generation),
        0,
        "the healthy group never noticed"
    );
    assert!(broker.child.child.is_some(), "the broker is still up");
}

fn python_script(name: &str) -> String {
    support::repo().join("tests/interop").join(name).display().to_string()
}

#[test]
fn confluent_kafka_group_rebalances_kill9_and_broadcast() {
    let Some(python) = support::python() else { return };
    let broker = Broker::start(GROUP_OVERRIDES);
    let out = run_with_timeout(
        Command::new(&python).arg(python_script("groups_rebalance.py")).arg(broker.addr()),
        None,
        Duration::from_secs(240),
    );
    assert!(
        out.status.success(),
        "groups_rebalance.py failed\nstdout:\n{}\nstderr:\n{}\nserver.log tail:\n{}",
        stdout(&out),
        stderr(&out),
        tail(&broker.server_log(), 40)
    );
    assert!(stdout(&out).contains("groups rebalance ok"));
    eprintln!("{}", stdout(&out));
}

#[test]
fn kafka_python_commits_survive_consumer_and_broker_restart() {
    let Some(python) = support::python() else { return };
    let broker = Broker::start(GROUP_OVERRIDES);
    let script = python_script("groups_kafka_python.py");
    let run = |phase: &str, addr: String| {
        run_with_timeout(
            Command::new(&python).arg(&script).arg(phase).arg(addr).arg(support::bin()),
            None,
            Duration::from_secs(180),
        )
    };
    let out = run("commit", broker.addr());
    assert!(
        out.status.success(),
        "commit phase\nstdout:\n{}\nstderr:\n{}",
        stdout(&out),
        stderr(&out)
    );
    let out = run("mixed", broker.addr());
    assert!(
        out.status.success(),
        "mixed group\nstdout:\n{}\nstderr:\n{}\nlog:\n{}",
        stdout(&out),
        stderr(&out),
        tail(&broker.server_log(), 40)
    );
    let dir = broker.kill9();
    let broker = Broker::start_in(dir, GROUP_OVERRIDES);
    let out = run("resume", broker.addr());
    assert!(
        out.status.success(),
        "resume phase\nstdout:\n{}\nstderr:\n{}\nserver.log tail:\n{}",
        stdout(&out),
        stderr(&out),
        tail(&broker.server_log(), 40)
    );
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn groups_cli(broker: &Broker, args: &[&str]) -> (String, String) {
    let addr = broker.addr();
    let mut all = vec!["consumer-groups", "--bootstrap-server", addr.as_str()];
    all.extend_from_slice(args);
    let out = support::kafka_rs(&all, None, Duration::from_secs(60));
    assert!(out.status.success(), "consumer-groups {args:?}: {}", stderr(&out));
    (stdout(&out), stderr(&out))
}

#[test]
fn consumer_groups_cli_prints_what_kafka_prints() {
    let broker = Broker::start(GROUP_OVERRIDES);
    let mut wire = broker.wire();
    create_topic(&mut wire, "cg", 2);
    let addr = broker.addr();
    let produced = support::kafka_rs(
        &[
            "console-producer",
            "--bootstrap-server",
            &addr,
            "--topic",
            "cg",
            "--property",
            "parse.key=true",
        ],
        Some(b"a\t1\na\t2\na\t3\nb\t4\n"),
        Duration::from_secs(60),
    );
    assert!(produced.status.success(), "{}", stderr(&produced));

    // A dry run by default, with Kafka's warning; nothing is committed.
    let (out, _) =
        groups_cli(&broker, &["--reset-offsets", "--group", "g1", "--topic", "cg", "--to-latest"]);
    assert!(
        out.starts_with("WARN: No action will be performed as the --execute option is missing."),
        "{out}"
    );
    assert!(out.contains("\nGROUP                          TOPIC                          PARTITION  NEW-OFFSET     \n"), "{out}");
    let (out, _) = groups_cli(&broker, &["--list"]);
    assert_eq!(out, "", "a dry run creates no group");

    let (out, _) = groups_cli(
        &broker,
        &["--reset-offsets", "--group", "g1", "--topic", "cg:0", "--to-offset", "1", "--execute"],
    );
    assert_eq!(
        out,
        format!(
            "\n{:<30} {:<30} {:<10} {:<15}\n{:<30} {:<30} {:<10} {:<15}\n",
            "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET", "g1", "cg", 0, 1
        )
    );
    let (out, err) = groups_cli(&broker, &["--describe", "--group", "g1"]);
    assert!(err.contains("Consumer group 'g1' has no active members."), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "", "a blank line first, as Kafka prints");
    assert_eq!(
        lines[1],
        "GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID"
    );
    assert!(
        lines[2].starts_with("g1              cg              0          1               "),
        "{out}"
    );
    assert!(
        lines[2].ends_with(" -               -               -"),
        "missing values print '-': {out}"
    );
    // Lag follows the log end as more records arrive.
    let lag_of = |out: &str| -> (i64, i64) {
        let cells: Vec<&str> = out.lines().nth(2).unwrap_or("").split_whitespace().collect();
        (
            cells.get(4).and_then(|c| c.parse().ok()).unwrap_or(-1),
            cells.get(5).and_then(|c| c.parse().ok()).unwrap_or(-1),
        )
    };
    let (end_before, lag_before) = lag_of(&out);
    assert_eq!(lag_before, end_before - 1, "{out}");
    let more = support::kafka_rs(
        &[
            "console-producer",
            "--bootstrap-server",
            &addr,
            "--topic",
            "cg",
            "--property",
            "parse.key=true",
        ],
        Some(b"a\t5\na\t6\na\t7\n"),
        Duration::from_secs(60),
    );
    assert!(more.status.success(), "{}", stderr(&more));
    let (out, _) = groups_cli(&broker, &["--describe", "--group", "g1"]);
    let (end_after, lag_after) = lag_of(&out);
    assert_eq!((end_after - end_before, lag_after - lag_before), (3, 3), "{out}");

    let (out, _) = groups_cli(
        &broker,
        &[
            "--reset-offsets",
            "--group",
            "g1",
            "--all-topics",
            "--shift-by",
            "-5",
            "--export",
            "--dry-run",
        ],
    );
    assert_eq!(out, "cg,0,0\n", "shifted below the log start: clamped; exported as CSV");
    let (out, _) = groups_cli(&broker, &["--list", "--state"]);
    assert_eq!(out, format!("{:<25} {:<20}\n{:<25} {:<20}\n", "GROUP", "STATE", "g1", "Empty"));
    let (out, _) = groups_cli(&broker, &["--describe", "--group", "nope"]);
    assert_eq!(out, "\nError: Consumer group 'nope' does not exist.\n");
    let (out, _) = groups_cli(
        &broker,
        &["--reset-offsets", "--group", "g2", "--topic", "cg", "--to-earliest", "--execute"],
    );
    assert!(out.contains("g2"), "{out}");
    let (out, _) = groups_cli(&broker, &["--delete-offsets", "--group", "g2", "--topic", "cg:1"]);
    assert!(
        out.starts_with("Request succeed for deleting offsets with topic cg group g2\n"),
        "{out}"
    );
    assert!(
        out.contains("\ncg                             1               Successful     \n"),
        "{out}"
    );
    let (out, _) = groups_cli(&broker, &["--delete", "--group", "g1", "--group", "g2"]);
    assert_eq!(out, "Deletion of requested consumer groups ('g1', 'g2') was successful.\n");
    let (out, _) = groups_cli(&broker, &["--delete-offsets", "--group", "g1", "--topic", "cg"]);
    assert!(out.starts_with("\nError: 'g1' does not exist.\n"), "{out}");
    let (out, _) = groups_cli(&broker, &["--list"]);
    assert_eq!(out, "");
}
