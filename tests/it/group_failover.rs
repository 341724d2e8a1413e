//! A consumer group's committed offsets across the death of its group
//! coordinator: `__consumer_offsets` with three replicas on three brokers,
//! a confluent-kafka consumer committing every record, `kill -9` of the
//! broker leading the group's `__consumer_offsets` partition (twice), and
//! the consumer, then a fresh member of the group, resuming exactly where
//! the commits left off.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, FindCoordinatorResponse, GroupId, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::replication::Cluster;
use crate::support::{self, ChildGuard};

const T: Duration = Duration::from_secs(60);
const GROUP: &str = "survivors";
const TOPIC: &str = "coordinated";
const PARTITIONS: i32 = 2;
const OFFSETS_PARTITIONS: i32 = 3;
const OFFSETS_TOPIC: &str = "__consumer_offsets";

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn script() -> PathBuf {
    support::repo().join("tests/interop/coordinator_failover.py")
}

/// Produces records `first..first + count` with acks=all through
/// confluent-kafka; every one must be acknowledged.
fn produce(py: &Path, cluster: &Cluster, first: usize, count: usize) {
    let out = support::run_with_timeout(
        Command::new(py).arg(script()).args([
            "produce",
            &cluster.bootstrap(),
            TOPIC,
            &PARTITIONS.to_string(),
            &first.to_string(),
            &count.to_string(),
        ]),
        None,
        Duration::from_secs(120),
    );
    assert!(out.status.success(), "{}\n{}", support::stdout(&out), support::stderr(&out));
}

/// A consumer of the group, reporting to `events` (see the script).
fn consumer(py: &Path, cluster: &Cluster, events: &Path, log: &Path) -> ChildGuard {
    ChildGuard::spawn(
        "group member",
        Command::new(py)
            .arg(script())
            .args(["consume", &cluster.bootstrap(), TOPIC, GROUP])
            .arg(events)
            // A file, not a pipe: librdkafka's reconnect logs would fill a
            // pipe nobody reads.
            .stdout(std::fs::File::create(log.with_extension("out")).unwrap())
            .stderr(std::fs::File::create(log).unwrap()),
    )
}

/// One line of a consumer's event file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Start { partition: i32, offset: i64 },
    Committed { partition: i32, offset: i64, value: usize },
    Other(String),
}

fn events(path: &Path) -> Vec<Event> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| l.ends_with(|c: char| !c.is_whitespace()))
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            let num = |i: usize| f.get(i).and_then(|v| v.parse::<i64>().ok());
            match (f[0], num(1), num(2), num(3)) {
                ("start", Some(p), Some(o), _) => Event::Start { partition: p as i32, offset: o },
                ("committed", Some(p), Some(o), Some(v)) => {
                    Event::Committed { partition: p as i32, offset: o, value: v as usize }
                }
                _ => Event::Other(line.to_string()),
            }
        })
        .collect()
}

fn committed_count(path: &Path) -> usize {
    events(path).iter().filter(|e| matches!(e, Event::Committed { .. })).count()
}

/// Per partition, the offset after the last committed record of `events`.
fn next_offsets(events: &[Event]) -> BTreeMap<i32, i64> {
    let mut next = BTreeMap::new();
    for e in events {
        if let Event::Committed { partition, offset, .. } = e {
            next.insert(*partition, offset + 1);
        }
    }
    next
}

/// The group's coordinator as broker `asked` names it, once it is one of
/// `alive` (a dead coordinator is named until the controller moves its
/// partition).
fn coordinator(cluster: &Cluster, asked: i32, alive: &BTreeSet<i32>) -> i32 {
    let mut found = -1;
    support::wait_until(T, "a live group coordinator", || {
        let mut req = FindCoordinatorRequest::default();
        req.key = s(GROUP);
        let resp: FindCoordinatorResponse =
            cluster.broker(asked).wire().call(ApiKey::FindCoordinator, 3, &req);
        found = resp.node_id.0;
        resp.error_code == 0 && alive.contains(&found)
    });
    found
}

/// The group's committed offsets as `coordinator` answers OffsetFetch,
/// once it has loaded them (it answers COORDINATOR_LOAD_IN_PROGRESS or
/// NOT_COORDINATOR until then).
fn fetch_offsets(cluster: &Cluster, coordinator: i32) -> BTreeMap<i32, i64> {
    let mut t = OffsetFetchRequestTopic::default();
    t.name = TopicName(s(TOPIC));
    t.partition_indexes = (0..PARTITIONS).collect();
    let mut req = OffsetFetchRequest::default();
    req.group_id = GroupId(s(GROUP));
    req.topics = Some(vec![t]);
    let mut answer = BTreeMap::new();
    support::wait_until(T, "the new coordinator to answer OffsetFetch", || {
        let resp: OffsetFetchResponse =
            cluster.broker(coordinator).wire().call(ApiKey::OffsetFetch, 5, &req);
        if resp.error_code != 0 {
            // COORDINATOR_LOAD_IN_PROGRESS, _NOT_AVAILABLE, NOT_COORDINATOR.
            assert!(matches!(resp.error_code, 14..=16), "OffsetFetch: {resp:?}");
            return false;
        }
        answer = resp.topics[0]
            .partitions
            .iter()
            .filter(|p| p.committed_offset >= 0)
            .map(|p| (p.partition_index, p.committed_offset))
            .collect();
        true
    });
    answer
}

/// Kills the group's coordinator with `kill -9` and checks that its
/// successor, elected from the in-sync replicas of the group's
/// `__consumer_offsets` partition, answers the offsets committed before.
fn kill_coordinator(cluster: &mut Cluster, alive: &mut BTreeSet<i32>, committed: &Path) -> i32 {
    let offsets_partition = kafka_rs::coordinator::partition_for(GROUP, OFFSETS_PARTITIONS);
    cluster.wait_isr_of(OFFSETS_TOPIC, offsets_partition, &[1, 2, 3], T);
    let asked = *alive.first().unwrap();
    let victim = coordinator(cluster, asked, alive);
    let before = next_offsets(&events(committed));
    cluster.kill9(victim);
    alive.remove(&victim);
    let successor = coordinator(cluster, *alive.first().unwrap(), alive);
    assert_ne!(successor, victim);
    assert_eq!(
        fetch_offsets(cluster, successor),
        before,
        "broker {successor} took over from {victim} with the offsets committed there"
    );
    victim
}

#[test]
fn committed_offsets_survive_kill9_of_the_group_coordinator() {
    let Some(py) = support::python() else { return };
    let offsets_partitions = format!("offsets.topic.num.partitions={OFFSETS_PARTITIONS}");
    let mut cluster = Cluster::start(&[
        "offsets.topic.replication.factor=3",
        &offsets_partitions,
        "group.initial.rebalance.delay.ms=0",
    ]);
    let mut alive: BTreeSet<i32> = [1, 2, 3].into();
    let partitions = PARTITIONS.to_string();
    cluster.topics(&[
        "--create",
        "--topic",
        TOPIC,
        "--partitions",
        &partitions,
        "--replication-factor",
        "3",
    ]);
    for p in 0..PARTITIONS {
        cluster.wait_isr_of(TOPIC, p, &[1, 2, 3], T);
    }
    let work = tempfile::tempdir().unwrap();
    let (a_events, b_events) = (work.path().join("a.events"), work.path().join("b.events"));

    produce(&py, &cluster, 0, 100);
    let mut a = consumer(&py, &cluster, &a_events, &work.path().join("a.log"));
    support::wait_until(T, "the first member to commit 100 records", || {
        committed_count(&a_events) == 100
    });

    let first = kill_coordinator(&mut cluster, &mut alive, &a_events);
    produce(&py, &cluster, 100, 100);
    support::wait_until(T, "the member to go on committing at the new coordinator", || {
        committed_count(&a_events) == 200
    });
    a.terminate(T);

    // The dead broker returns and catches up; then the coordinator that
    // took over dies too, so the offsets committed at it move once more.
    cluster.restart(first);
    alive.insert(first);
    cluster.wait_registered(&alive.iter().copied().collect::<Vec<_>>());
    kill_coordinator(&mut cluster, &mut alive, &a_events);

    produce(&py, &cluster, 200, 100);
    let mut b = consumer(&py, &cluster, &b_events, &work.path().join("b.log"));
    support::wait_until(T, "a fresh member to commit the last 100 records", || {
        committed_count(&b_events) == 100
    });
    b.terminate(T);

    let (a, b) = (events(&a_events), events(&b_events));
    let odd: Vec<&Event> = a.iter().chain(&b).filter(|e| matches!(e, Event::Other(_))).collect();
    // A commit the group moved past (a rebalance) is redelivered, which
    // is Kafka's contract; a re-read of a committed record or a skip is not.
    eprintln!("other events: {odd:?}");
    assert!(
        !odd.iter().any(|e| matches!(e, Event::Other(l) if l.starts_with("unexpected"))),
        "re-reads or skips: {odd:?}"
    );
    let starts = |evs: &[Event]| -> BTreeMap<i32, i64> {
        evs.iter()
            .filter_map(|e| match e {
                Event::Start { partition, offset } => Some((*partition, *offset)),
                _ => None,
            })
            .collect()
    };
    let from_zero: BTreeMap<i32, i64> = (0..PARTITIONS).map(|p| (p, 0)).collect();
    assert_eq!(starts(&a), from_zero, "the first member starts at the beginning");
    assert_eq!(starts(&b), next_offsets(&a), "the fresh member starts at the last commits");
    let mut values: Vec<usize> = a
        .iter()
        .chain(&b)
        .filter_map(|e| match e {
            Event::Committed { value, .. } => Some(*value),
            _ => None,
        })
        .collect();
    values.sort_unstable();
    assert_eq!(values, (0..300).collect::<Vec<_>>(), "every record committed exactly once");
}

/// An offset commit is an acks=all append by the coordinator itself: it
/// must wake the followers' long polls on `__consumer_offsets` as a
/// client's produce does. Their long polls here outlast the commit
/// timeout, so a commit left to wait for one to run out fails with
/// REQUEST_TIMED_OUT.
#[test]
fn offset_commits_wake_the_followers_of_the_offsets_topic() {
    let cluster = Cluster::start(&[
        "offsets.topic.replication.factor=3",
        "offsets.topic.num.partitions=1",
        "replica.fetch.wait.max.ms=30000",
        "replica.lag.time.max.ms=90000",
        "offsets.commit.timeout.ms=5000",
    ]);
    // The offsets topic first: a partition added to a follower while its
    // long poll is out joins the next fetch (as in Kafka), so the topic
    // created after it does not hold up the commits.
    let alive: BTreeSet<i32> = [1, 2, 3].into();
    let leader = coordinator(&cluster, 1, &alive);
    cluster.wait_isr_of(OFFSETS_TOPIC, 0, &[1, 2, 3], T);
    cluster.create(TOPIC, &[]);
    let mut wire = cluster.broker(leader).wire();
    for offset in 1..=5 {
        let commit = OffsetCommitRequest::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_generation_id_or_member_epoch(-1)
            .with_retention_time_ms(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(s(TOPIC)))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default().with_committed_offset(offset)
                ])]);
        let mut code = -1;
        support::wait_until(T, "the coordinator to have loaded the group", || {
            let resp: OffsetCommitResponse = wire.call(ApiKey::OffsetCommit, 2, &commit);
            code = resp.topics[0].partitions[0].error_code;
            // COORDINATOR_LOAD_IN_PROGRESS while the new leader loads.
            code != 14
        });
        assert_eq!(code, 0, "commit of offset {offset}: error {code} (7 is REQUEST_TIMED_OUT)");
    }
    assert_eq!(fetch_offsets(&cluster, leader), [(0, 5)].into());
}
