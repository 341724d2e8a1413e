//! Dynamic broker configs (KIP-226) and replication throttles on three
//! real brokers: `kafka-rs configs --entity-type brokers` and
//! confluent-kafka's AdminClient alter and describe them, each broker
//! takes its own and the cluster default live, refused keys get Kafka's
//! error codes, and `reassign-partitions --throttle` really slows a
//! reassignment until the throttle is raised.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::failover::Cluster;
use crate::support;
use crate::zk_harness;

const WAIT: Duration = Duration::from_secs(60);
const LEADER_RATE: &str = "leader.replication.throttled.rate";
const FOLLOWER_RATE: &str = "follower.replication.throttled.rate";

fn configs(cluster: &Cluster, args: &[&str]) -> std::process::Output {
    let bootstrap = cluster.any_addr();
    let mut all = vec!["configs", "--bootstrap-server", bootstrap.as_str()];
    all.extend_from_slice(args);
    support::kafka_rs(&all, None, Duration::from_secs(60))
}

fn configs_ok(cluster: &Cluster, args: &[&str]) -> String {
    let out = configs(cluster, args);
    assert!(out.status.success(), "configs {args:?}: {}", support::stderr(&out));
    support::stdout(&out)
}

/// `configs --alter` of broker `id` ("" for the cluster default) with
/// `--add-config` or `--delete-config` and its argument.
pub fn alter_broker(cluster: &Cluster, id: &str, flag: &str, arg: &str) -> String {
    let entity: &[&str] =
        if id.is_empty() { &["--entity-default"] } else { &["--entity-name", id] };
    configs_ok(cluster, &[&["--alter", "--entity-type", "brokers"], entity, &[flag, arg]].concat())
}

pub fn describe_broker(cluster: &Cluster, id: &str, all: bool) -> String {
    let mut args = vec!["--describe", "--entity-type", "brokers", "--entity-name", id];
    if all {
        args.push("--all");
    }
    configs_ok(cluster, &args)
}

/// The `  key=...` line of a describe output, if any.
fn line_of<'a>(described: &'a str, key: &str) -> Option<&'a str> {
    let prefix = format!("  {key}=");
    described.lines().find(|l| l.starts_with(&prefix))
}

/// Polls broker `id`'s own answer until its line for `key` is `want`:
/// each broker describes itself from the configs it has applied.
fn wait_line(cluster: &Cluster, id: i32, key: &str, want: Option<&str>) {
    let mut last = String::new();
    let what = format!("broker {id} to show {key} as {want:?}");
    support::wait_until(WAIT, &what, || {
        last = describe_broker(cluster, &id.to_string(), true);
        line_of(&last, key) == want
    });
}

#[test]
fn dynamic_broker_configs_through_the_cli_per_broker_and_cluster_default() {
    let cluster = Cluster::start(zk_harness::start_ours(""), &[1, 2, 3], &[]);

    // One broker's own value: that broker takes it, the others do not.
    let out = alter_broker(&cluster, "2", "--add-config", &format!("{LEADER_RATE}=1000"));
    assert_eq!(out, "Completed updating config for broker 2.\n");
    assert_eq!(
        describe_broker(&cluster, "2", false),
        format!("Dynamic configs for broker 2 are:\n  {LEADER_RATE}=1000 sensitive=false synonyms={{DYNAMIC_BROKER_CONFIG:{LEADER_RATE}=1000}}\n")
    );
    assert_eq!(describe_broker(&cluster, "1", false), "Dynamic configs for broker 1 are:\n");
    assert_eq!(
        line_of(&describe_broker(&cluster, "3", true), LEADER_RATE),
        Some(format!("  {LEADER_RATE}=9223372036854775807 sensitive=false synonyms={{DEFAULT_CONFIG:{LEADER_RATE}=9223372036854775807}}").as_str()),
    );
    assert_eq!(
        cluster.json("/config/brokers/2"),
        Some(serde_json::json!({"version": 1, "config": {LEADER_RATE: "1000"}}))
    );

    // The cluster default reaches every broker; a broker's own value
    // still wins, with the default as its second synonym.
    let out = alter_broker(
        &cluster,
        "",
        "--add-config",
        &format!("{FOLLOWER_RATE}=5000,{LEADER_RATE}=7000"),
    );
    assert_eq!(out, "Completed updating default config for brokers in the cluster.\n");
    assert_eq!(
        cluster.json("/config/brokers/<default>"),
        Some(
            serde_json::json!({"version": 1, "config": {FOLLOWER_RATE: "5000", LEADER_RATE: "7000"}})
        )
    );
    let default_follower = format!("  {FOLLOWER_RATE}=5000 sensitive=false synonyms={{DYNAMIC_DEFAULT_BROKER_CONFIG:{FOLLOWER_RATE}=5000}}");
    for id in [1, 2, 3] {
        wait_line(&cluster, id, FOLLOWER_RATE, Some(&default_follower));
    }
    wait_line(&cluster, 1, LEADER_RATE, Some(&format!("  {LEADER_RATE}=7000 sensitive=false synonyms={{DYNAMIC_DEFAULT_BROKER_CONFIG:{LEADER_RATE}=7000}}")));
    wait_line(&cluster, 2, LEADER_RATE, Some(&format!("  {LEADER_RATE}=1000 sensitive=false synonyms={{DYNAMIC_BROKER_CONFIG:{LEADER_RATE}=1000, DYNAMIC_DEFAULT_BROKER_CONFIG:{LEADER_RATE}=7000}}")));
    assert_eq!(
        configs_ok(&cluster, &["--describe", "--entity-type", "brokers", "--entity-default"]),
        format!("Default configs for brokers in the cluster are:\n{default_follower}\n  {LEADER_RATE}=7000 sensitive=false synonyms={{DYNAMIC_DEFAULT_BROKER_CONFIG:{LEADER_RATE}=7000}}\n")
    );
    // Static settings are read-only and say where they come from.
    let all = describe_broker(&cluster, "1", true);
    assert!(all.starts_with("All configs for broker 1 are:\n"), "{all}");
    assert!(
        line_of(&all, "broker.id")
            == Some("  broker.id=1 sensitive=false synonyms={STATIC_BROKER_CONFIG:broker.id=1}"),
        "{all}"
    );
    // Each change is announced where Kafka's brokers look for it.
    let changes = cluster.children("/config/changes");
    let paths: BTreeSet<String> = changes
        .iter()
        .filter_map(|c| cluster.json(&format!("/config/changes/{c}")))
        .filter_map(|v| Some(v["entity_path"].as_str()?.to_string()))
        .collect();
    assert!(paths.contains("brokers/2") && paths.contains("brokers/<default>"), "{paths:?}");

    // Refusals, in Kafka's words.
    let refused = |args: &[&str], why: &str| {
        let out = configs(&cluster, args);
        assert!(!out.status.success(), "{args:?}");
        let err = support::stderr(&out);
        assert!(err.contains(why), "{args:?}: {err}");
    };
    let broker1 = ["--alter", "--entity-type", "brokers", "--entity-name", "1"];
    refused(
        &[&broker1[..], &["--add-config", "log.dirs=/elsewhere"]].concat(),
        "Invalid config value for resource ConfigResource(type=BROKER, name='1'): Cannot update these configs dynamically: Set(log.dirs)",
    );
    refused(
        &[&broker1[..], &["--add-config", "no.such.config=1"]].concat(),
        "Unknown broker configs: Set(no.such.config)",
    );
    refused(
        &[&broker1[..], &["--add-config", &format!("{LEADER_RATE}=fast")]].concat(),
        &format!("Invalid value fast for configuration {LEADER_RATE}: Not a number of type LONG"),
    );
    refused(
        &[&broker1[..], &["--delete-config", LEADER_RATE]].concat(),
        "Invalid config(s): leader.replication.throttled.rate",
    );
    // A broker that is not there cannot take a config.
    refused(
        &["--alter", "--entity-type", "brokers", "--entity-name", "9", "--add-config", "x=1"],
        "",
    );
    wire_errors(&cluster);

    // Deleting brings back the next level down, live.
    alter_broker(&cluster, "2", "--delete-config", LEADER_RATE);
    wait_line(&cluster, 2, LEADER_RATE, Some(&format!("  {LEADER_RATE}=7000 sensitive=false synonyms={{DYNAMIC_DEFAULT_BROKER_CONFIG:{LEADER_RATE}=7000}}")));
    assert_eq!(describe_broker(&cluster, "2", false), "Dynamic configs for broker 2 are:\n");
    alter_broker(&cluster, "", "--delete-config", &format!("{FOLLOWER_RATE},{LEADER_RATE}"));
    for id in [1, 2, 3] {
        wait_line(&cluster, id, FOLLOWER_RATE, Some(&format!("  {FOLLOWER_RATE}=9223372036854775807 sensitive=false synonyms={{DEFAULT_CONFIG:{FOLLOWER_RATE}=9223372036854775807}}")));
    }
}

/// The codes Kafka's ZooKeeper-mode brokers answer: INVALID_REQUEST (42)
/// for a key that cannot change dynamically and for another broker's id,
/// INVALID_CONFIG (40) for appending to a key that is not a list.
fn wire_errors(cluster: &Cluster) {
    use kafka_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };
    use kafka_protocol::messages::{
        ApiKey, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
    };
    use kafka_protocol::protocol::StrBytes;
    let resource = |name: &str, key: &str, op: i8| {
        AlterConfigsResource::default()
            .with_resource_type(4)
            .with_resource_name(StrBytes::from_string(name.into()))
            .with_configs(vec![AlterableConfig::default()
                .with_name(StrBytes::from_string(key.into()))
                .with_config_operation(op)
                .with_value(Some(StrBytes::from_static_str("1")))])
    };
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        resource("1", "log.dirs", 0),
        resource("2", LEADER_RATE, 0),
        resource("x", LEADER_RATE, 0),
        resource("1", LEADER_RATE, 2),
    ]);
    let resp: IncrementalAlterConfigsResponse =
        cluster.brokers[&1].wire().call(ApiKey::IncrementalAlterConfigs, 1, &req);
    let got: Vec<(String, i16, String)> = resp
        .responses
        .iter()
        .map(|r| {
            (
                r.resource_name.to_string(),
                r.error_code,
                r.error_message.as_deref().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("1".into(), 42, "Invalid config value for resource ConfigResource(type=BROKER, name='1'): Cannot update these configs dynamically: Set(log.dirs)".into()),
            ("2".into(), 42, "Unexpected broker id, expected 1, but received 2".into()),
            ("x".into(), 42, "Broker id must be an integer, but it is: x".into()),
            ("1".into(), 40, format!("Config value append is not allowed for config key: {LEADER_RATE}")),
        ]
    );
}

#[test]
fn dynamic_broker_configs_through_confluent_kafka() {
    let Some(py) = support::python() else { return };
    let cluster = Cluster::start(zk_harness::start_ours(""), &[1, 2, 3], &[]);
    let script = support::repo().join("tests/interop/broker_configs_confluent.py");
    let out = support::run_with_timeout(
        std::process::Command::new(py).arg(script).args([cluster.any_addr().as_str(), "3", "1"]),
        None,
        Duration::from_secs(120),
    );
    let text = support::stdout(&out);
    assert!(out.status.success(), "{text}\n{}", support::stderr(&out));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        vec![
            "own: leader.replication.throttled.rate=123456 source=2 read_only=False",
            "own synonyms: 2:123456",
            "other: leader.replication.throttled.rate=9223372036854775807 source=5",
            "static: source=4 read_only=True",
            "refused: INVALID_REQUEST Invalid config value for resource ConfigResource(type=BROKER, name='3'): Cannot update these configs dynamically: Set(log.dirs)",
            "after delete: source=5",
            "confluent broker configs ok",
        ],
        "{text}"
    );
}
