//! DeleteTopics of many topics in one request: every topic deleted and
//! answered, through the bulk path (a few ZooKeeper multis and one pass
//! over the logs) and its fallback.

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::broker_support::Broker;

fn name(n: &str) -> TopicName {
    TopicName(StrBytes::from_string(n.to_string()))
}

#[test]
fn one_request_deletes_a_hundred_topics_and_answers_each() {
    let broker = Broker::start(&[]);
    let mut w = broker.wire();
    let names: Vec<String> = (0..100).map(|i| format!("bulk-{i}")).collect();
    let mut req = CreateTopicsRequest::default();
    req.timeout_ms = 60_000;
    req.topics = names
        .iter()
        .map(|n| {
            let mut t = CreatableTopic::default();
            t.name = name(n);
            t.num_partitions = 4;
            t.replication_factor = 1;
            t
        })
        .collect();
    let created: CreateTopicsResponse = w.call(ApiKey::CreateTopics, 5, &req);
    assert!(created.topics.iter().all(|t| t.error_code == 0), "{created:?}");
    let data = broker.data_dir();
    assert!(data.join("bulk-99-3").is_dir(), "the logs exist before the delete");

    let mut del = DeleteTopicsRequest::default();
    del.timeout_ms = 60_000;
    // A name twice and one unknown, as a careless script sends them.
    del.topic_names = names.iter().map(|n| name(n)).collect();
    del.topic_names.push(name("bulk-7"));
    del.topic_names.push(name("no-such-topic"));
    let resp: DeleteTopicsResponse = w.call(ApiKey::DeleteTopics, 5, &del);
    assert_eq!(resp.responses.len(), 102, "one answer per name asked");
    for r in &resp.responses {
        let n = r.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
        let want = if n == "no-such-topic" { 3 } else { 0 };
        assert_eq!(r.error_code, want, "{n}: {:?}", r.error_message);
    }
    let meta: MetadataResponse = w.call(ApiKey::Metadata, 9, &MetadataRequest::default());
    let left: Vec<_> = meta
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref())
        .filter(|n| n.0.starts_with("bulk-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let dirs: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("bulk-"))
        .collect();
    assert!(dirs.is_empty(), "log dirs left behind: {dirs:?}");

    // The names are free again at once.
    let again: CreateTopicsResponse = w.call(ApiKey::CreateTopics, 5, &req);
    assert!(again.topics.iter().all(|t| t.error_code == 0), "{again:?}");
}

/// A topic whose znodes do not fit one multi (510 partitions: 1,022 znodes
/// and its config) goes in a few multis, not one round trip and one log
/// write per znode. The embedded ZooKeeper's zxid counts the writes.
#[test]
fn a_topic_larger_than_one_multi_is_deleted_in_a_few_writes() {
    let zk_port = crate::support::free_port();
    let zk = format!("embedded.zookeeper.port={zk_port}");
    let broker = Broker::start(&[zk.as_str()]);
    let zxid = || {
        let srvr = crate::zk_harness::four_letter(zk_port, "srvr");
        let hex = srvr
            .lines()
            .find_map(|l| l.strip_prefix("Zxid: 0x"))
            .unwrap_or_else(|| panic!("no Zxid in srvr: {srvr}"));
        u64::from_str_radix(hex.trim(), 16).unwrap()
    };
    let mut w = broker.wire();
    let mut t = CreatableTopic::default();
    t.name = name("wide");
    t.num_partitions = 510;
    t.replication_factor = 1;
    let mut req = CreateTopicsRequest::default();
    req.timeout_ms = 60_000;
    req.topics = vec![t];
    let created: CreateTopicsResponse = w.call(ApiKey::CreateTopics, 5, &req);
    assert!(created.topics.iter().all(|t| t.error_code == 0), "{created:?}");

    let before = zxid();
    let mut del = DeleteTopicsRequest::default();
    del.timeout_ms = 60_000;
    del.topic_names = vec![name("wide")];
    let resp: DeleteTopicsResponse = w.call(ApiKey::DeleteTopics, 5, &del);
    assert_eq!(resp.responses[0].error_code, 0, "{resp:?}");
    let writes = zxid() - before;
    assert!(writes <= 20, "{writes} ZooKeeper writes to delete one topic");

    let meta: MetadataResponse = w.call(ApiKey::Metadata, 9, &MetadataRequest::default());
    assert!(meta.topics.iter().all(|t| t.name != Some(name("wide"))), "{meta:?}");
    assert!(!broker.data_dir().join("wide-509").exists(), "the logs are gone");
    let again: CreateTopicsResponse = w.call(ApiKey::CreateTopics, 5, &req);
    assert!(again.topics.iter().all(|t| t.error_code == 0), "{again:?}");
}

#[test]
fn confluent_kafka_deletes_many_topics_under_a_regex_subscribed_consumer() {
    let Some(python) = crate::support::python() else { return };
    let broker = Broker::start(&["offsets.topic.replication.factor=1"]);
    let script = crate::support::repo().join("tests/interop/bulk_delete.py");
    let out = crate::support::run_with_timeout(
        std::process::Command::new(python).arg(script).arg(broker.addr()).arg("many").arg("100"),
        None,
        std::time::Duration::from_secs(300),
    );
    let text = crate::support::stdout(&out);
    assert!(
        out.status.success() && text.contains("OK deleted 100 topics"),
        "{text}\n{}\n{}",
        crate::support::stderr(&out),
        broker.server_log()
    );
}

/// The admin's delete and the controller's (on the deletion request) race
/// for the same znodes: the one that finds the topic already gone, whole
/// or in part, succeeds rather than retrying and failing.
#[test]
fn deleting_a_topic_someone_else_deleted_succeeds() {
    use kafka_rs::cluster::zk_controller::{delete_topic, delete_topics};
    let zk = crate::zk_harness::start_ours("");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let c = zookeeper_client::Client::connect(&zk.addr()).await.unwrap();
        let open = zookeeper_client::CreateMode::Persistent
            .with_acls(zookeeper_client::Acls::anyone_all());
        for p in [
            "/brokers",
            "/brokers/topics",
            "/brokers/topics/half",
            "/brokers/topics/half/partitions",
        ] {
            c.create(p, b"", &open).await.unwrap();
        }
        delete_topic(&c, "never-existed").await.unwrap();
        // A topic someone else has half deleted (no states, no config left).
        delete_topics(&c, &["half".to_string(), "never-existed".to_string()]).await.unwrap();
        assert!(c.check_stat("/brokers/topics/half").await.unwrap().is_none());
    });
}
