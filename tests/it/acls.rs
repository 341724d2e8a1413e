//! The authorizer end to end: ACLs added and removed with the `acls` tool
//! on one broker of a three-broker cluster take effect on the others (read
//! back from ZooKeeper in Kafka's layout), kcat over SASL PLAIN is refused
//! with Kafka's errors until granted, DENY wins over ALLOW, and replication
//! keeps working with the authorizer on.

use std::time::Duration;

use crate::replication::Cluster;
use crate::security::{kcat_sasl, registered_port, registration};
use crate::support;

const T: Duration = Duration::from_secs(60);

const USERS_JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
     user_alice=\"alice-secret\" user_bob=\"bob-secret\";";

fn acls(port: u16, args: &[&str]) -> String {
    let bs = format!("127.0.0.1:{port}");
    let mut all = vec!["acls", "--bootstrap-server", &bs];
    all.extend_from_slice(args);
    let out = support::kafka_rs(&all, None, T);
    assert!(out.status.success(), "acls {args:?}: {}", support::stderr(&out));
    support::stdout(&out)
}

/// kcat as alice against `port`; stdout and stderr.
fn kcat_alice(
    kcat: &std::path::Path,
    port: u16,
    args: &[&str],
    stdin: Option<&[u8]>,
) -> (bool, String, String) {
    let mut cmd = kcat_sasl(kcat, port, "PLAIN", "alice", "alice-secret");
    cmd.args(["-X", "message.timeout.ms=10000", "-m", "10"]).args(args);
    let out = support::run_with_timeout(&mut cmd, stdin, T);
    (out.status.success(), support::stdout(&out), support::stderr(&out))
}

fn produce(kcat: &std::path::Path, port: u16, topic: &str, line: &str) -> (bool, String) {
    let (ok, _, err) =
        kcat_alice(kcat, port, &["-P", "-t", topic], Some(format!("{line}\n").as_bytes()));
    (ok && !err.contains("failed"), err)
}

fn consume(kcat: &std::path::Path, port: u16, topic: &str) -> (bool, String, String) {
    kcat_alice(kcat, port, &["-C", "-t", topic, "-o", "beginning", "-e"], None)
}

fn znode(zk_port: u16, path: &str) -> Option<serde_json::Value> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let c = zookeeper_client::Client::connect(&format!("127.0.0.1:{zk_port}")).await.ok()?;
        let (data, _) = c.get_data(path).await.ok()?;
        serde_json::from_slice(&data).ok()
    })
}

#[test]
fn acls_added_on_one_broker_gate_kcat_on_another_with_kafkas_errors() {
    let Some(kcat) = support::external_tool("kcat") else { return };
    let cluster = Cluster::start(&[
        "listeners=PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:0",
        "sasl.enabled.mechanisms=PLAIN",
        &format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={USERS_JAAS}"),
        "authorizer.class.name=kafka.security.authorizer.AclAuthorizer",
        // The tools and the brokers' own PLAINTEXT connections.
        "super.users=User:ANONYMOUS",
        "offsets.topic.replication.factor=1",
    ]);
    cluster.create("paid", &[]);
    cluster.create("other", &[]);
    let sasl1 = registered_port(&registration(cluster.zk.port, 1), "SASL_PLAINTEXT");
    let admin2 = cluster.broker(2).port;

    let (ok, err) = produce(&kcat, sasl1, "paid", "refused");
    assert!(!ok, "no ACL, no access: {err}");
    assert!(err.contains("Topic authorization failed"), "{err}");

    let out = acls(
        admin2,
        &["--add", "--allow-principal", "User:alice", "--producer", "--topic", "paid"],
    );
    assert!(
        out.contains("Adding ACLs for resource `ResourcePattern(resourceType=TOPIC, name=paid, patternType=LITERAL)`: \n"),
        "{out}"
    );
    for op in ["WRITE", "DESCRIBE", "CREATE"] {
        assert!(
            out.contains(&format!(
                "\t(principal=User:alice, host=*, operation={op}, permissionType=ALLOW)"
            )),
            "{out}"
        );
    }
    assert!(out.contains("Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=paid, patternType=LITERAL)`"), "{out}");

    // Granted on broker 2, in force on broker 1 once its watch fires.
    let mut last = String::new();
    support::wait_until(T, "alice may produce to paid through broker 1", || {
        let (ok, err) = produce(&kcat, sasl1, "paid", "granted");
        last = err;
        ok
    });
    let (ok, err) = produce(&kcat, sasl1, "other", "refused");
    assert!(!ok && err.contains("Topic authorization failed"), "only paid was granted: {err}");
    let (_, out, err) = consume(&kcat, sasl1, "paid");
    assert!(!out.contains("granted"), "WRITE does not grant READ: {out}");
    assert!(err.contains("Topic authorization failed"), "{err}");

    acls(
        admin2,
        &[
            "--add",
            "--allow-principal",
            "User:alice",
            "--consumer",
            "--topic",
            "paid",
            "--group",
            "g",
        ],
    );
    support::wait_until(T, "alice reads paid, replicated on three brokers", || {
        let (_, out, _) = consume(&kcat, sasl1, "paid");
        out.contains("granted")
    });

    acls(
        admin2,
        &["--add", "--deny-principal", "User:alice", "--operation", "Read", "--topic", "paid"],
    );
    support::wait_until(T, "DENY wins over ALLOW", || {
        let (_, out, err) = consume(&kcat, sasl1, "paid");
        !out.contains("granted") && err.contains("Topic authorization failed")
    });

    let stored = znode(cluster.zk.port, "/kafka-acl/Topic/paid").expect("Kafka's znode");
    assert_eq!(stored["version"], 1);
    let acls_json = stored["acls"].as_array().unwrap();
    assert!(acls_json.contains(&serde_json::json!({"principal":"User:alice","permissionType":"Deny","operation":"Read","host":"*"})), "{stored}");
    assert!(acls_json.contains(&serde_json::json!({"principal":"User:alice","permissionType":"Allow","operation":"Write","host":"*"})), "{stored}");
    let group = znode(cluster.zk.port, "/kafka-acl/Group/g").expect("the group's znode");
    assert_eq!(group["acls"][0]["operation"], "Read", "{group}");

    let listed = acls(admin2, &["--list", "--topic", "paid"]);
    assert!(
        listed.contains("(principal=User:alice, host=*, operation=READ, permissionType=DENY)"),
        "{listed}"
    );
    acls(
        admin2,
        &[
            "--remove",
            "--force",
            "--deny-principal",
            "User:alice",
            "--operation",
            "Read",
            "--topic",
            "paid",
        ],
    );
    let listed = acls(admin2, &["--list", "--topic", "paid"]);
    assert!(!listed.contains("permissionType=DENY"), "{listed}");
    assert!(listed.contains("operation=READ, permissionType=ALLOW"), "{listed}");
}

#[test]
fn prefixed_acls_and_the_list_of_every_acl() {
    let Some(kcat) = support::external_tool("kcat") else { return };
    let cluster = Cluster::start(&[
        "listeners=PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:0",
        "sasl.enabled.mechanisms=PLAIN",
        &format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={USERS_JAAS}"),
        "authorizer.class.name=kafka.security.auth.SimpleAclAuthorizer",
        "super.users=User:ANONYMOUS",
        "offsets.topic.replication.factor=1",
    ]);
    cluster.create("pay-eu", &[]);
    let sasl3 = registered_port(&registration(cluster.zk.port, 3), "SASL_PLAINTEXT");
    let admin1 = cluster.broker(1).port;
    acls(
        admin1,
        &[
            "--add",
            "--allow-principal",
            "User:alice",
            "--operation",
            "Write",
            "--operation",
            "Describe",
            "--topic",
            "pay-",
            "--resource-pattern-type",
            "PREFIXED",
        ],
    );
    let stored =
        znode(cluster.zk.port, "/kafka-acl-extended/prefixed/Topic/pay-").expect("Kafka's znode");
    assert_eq!(stored["acls"].as_array().map(Vec::len), Some(2), "{stored}");
    support::wait_until(T, "a prefix grants pay-eu", || produce(&kcat, sasl3, "pay-eu", "x").0);
    let listed = acls(admin1, &["--list"]);
    assert!(
        listed.contains("Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=pay-, patternType=PREFIXED)`"),
        "{listed}"
    );
}

const ADMIN_JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
     user_admin=\"admin-secret\" user_alice=\"alice-secret\";";

const PYTHON_ADMIN: &str = r#"
import sys
from confluent_kafka import Consumer, KafkaError, Producer, TopicCollection
from confluent_kafka.admin import (AdminClient, AclBinding, AclBindingFilter, AclOperation,
    AclPermissionType, NewTopic, ResourcePatternType, ResourceType)
bs = sys.argv[1]
def conf(user):
    return {"bootstrap.servers": bs, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN", "sasl.username": user, "sasl.password": user + "-secret"}
admin = AdminClient(conf("admin"))
alice_admin = AdminClient(conf("alice"))

# KIP-430: a super user may do everything on the cluster, alice nothing.
ops = admin.describe_cluster(include_authorized_operations=True).result(30).authorized_operations
print("admin cluster ops:", sorted(o.name for o in ops))
ops = alice_admin.describe_cluster(include_authorized_operations=True).result(30).authorized_operations
print("alice cluster ops:", sorted(o.name for o in ops or []))

admin.create_topics([NewTopic("ledger", 1, 1)])["ledger"].result(30)
bindings = [AclBinding(ResourceType.TOPIC, "ledger", ResourcePatternType.LITERAL, "User:alice", "*",
                       AclOperation.READ, AclPermissionType.ALLOW)]
for f in admin.create_acls(bindings).values():
    f.result(30)
any_filter = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                              AclOperation.ANY, AclPermissionType.ANY)
found = admin.describe_acls(any_filter).result(30)
print("described:", [(b.name, b.principal, b.operation.name, b.permission_type.name) for b in found])
try:
    alice_admin.create_acls(bindings)[bindings[0]].result(30)
    print("alice created an ACL")
except Exception as e:
    print("alice refused:", e.args[0].name())

import time
deadline = time.time() + 30
while True:
    t = alice_admin.describe_topics(TopicCollection(["ledger"]), include_authorized_operations=True)["ledger"]
    try:
        d = t.result(30)
        print("alice topic ops:", sorted(o.name for o in d.authorized_operations))
        break
    except Exception as e:
        if time.time() > deadline:
            raise
        time.sleep(0.2)

errors = []
c = Consumer(dict(conf("alice"), **{"group.id": "ledger-readers", "auto.offset.reset": "earliest",
                                    "error_cb": lambda e: errors.append(e.name())}))
c.subscribe(["ledger"])
deadline = time.time() + 30
while time.time() < deadline and not errors:
    m = c.poll(1)
    if m is not None and m.error():
        errors.append(m.error().name())
print("group error:", errors[:1])
c.close()

deleted = admin.delete_acls([any_filter])
for f in deleted.values():
    print("deleted:", len(f.result(30)))
print("left:", len(admin.describe_acls(any_filter).result(30)))
"#;

#[test]
fn confluent_admin_client_manages_acls_and_sees_authorized_operations() {
    let Some(python) = support::python() else { return };
    let zk = support::free_port();
    let _broker = crate::broker_support::Broker::start(&[
        "broker.id=1",
        &format!("embedded.zookeeper.port={zk}"),
        "listeners=PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:0",
        "sasl.enabled.mechanisms=PLAIN",
        &format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={ADMIN_JAAS}"),
        "authorizer.class.name=kafka.security.authorizer.AclAuthorizer",
        "super.users=User:admin;User:ANONYMOUS",
        "offsets.topic.replication.factor=1",
    ]);
    let sasl = registered_port(&registration(zk, 1), "SASL_PLAINTEXT");
    support::wait_for_port(sasl, T);
    let out = support::run_with_timeout(
        std::process::Command::new(python)
            .arg("-c")
            .arg(PYTHON_ADMIN)
            .arg(format!("127.0.0.1:{sasl}")),
        None,
        Duration::from_secs(180),
    );
    let stdout = support::stdout(&out);
    assert!(out.status.success(), "{stdout}\n{}", support::stderr(&out));
    assert!(
        stdout.contains("admin cluster ops: ['ALTER', 'ALTER_CONFIGS', 'CLUSTER_ACTION', 'CREATE', 'DESCRIBE', 'DESCRIBE_CONFIGS', 'IDEMPOTENT_WRITE']"),
        "{stdout}"
    );
    assert!(stdout.contains("alice cluster ops: []"), "{stdout}");
    assert!(stdout.contains("described: [('ledger', 'User:alice', 'READ', 'ALLOW')]"), "{stdout}");
    assert!(stdout.contains("alice refused: CLUSTER_AUTHORIZATION_FAILED"), "{stdout}");
    assert!(stdout.contains("alice topic ops: ['DESCRIBE', 'READ']"), "{stdout}");
    assert!(stdout.contains("group error: ['GROUP_AUTHORIZATION_FAILED']"), "{stdout}");
    assert!(stdout.contains("deleted: 1") && stdout.contains("left: 0"), "{stdout}");
}

/// KIP-430 without an authorizer: every operation that applies to the
/// resource, as Kafka answers, never an empty set.
#[test]
fn authorized_operations_without_an_authorizer_are_every_applicable_one() {
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::{
        ApiKey, DescribeClusterRequest, DescribeClusterResponse, MetadataRequest, MetadataResponse,
        TopicName,
    };
    use kafka_protocol::protocol::StrBytes;
    let broker = crate::broker_support::Broker::start(&[]);
    let mut wire = broker.wire();
    let mut req = MetadataRequest::default();
    req.topics = Some(vec![MetadataRequestTopic::default()
        .with_name(Some(TopicName(StrBytes::from_static_str("kip430"))))]);
    req.allow_auto_topic_creation = true;
    req.include_cluster_authorized_operations = true;
    req.include_topic_authorized_operations = true;
    let resp: MetadataResponse = wire.call(ApiKey::Metadata, 10, &req);
    // READ 3, WRITE 4, CREATE 5, DELETE 6, ALTER 7, DESCRIBE 8,
    // DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11.
    let topic_ops = [3, 4, 5, 6, 7, 8, 10, 11].iter().fold(0, |b, op| b | (1 << op));
    assert_eq!(resp.topics[0].topic_authorized_operations, topic_ops, "{resp:?}");
    // CREATE 5, ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10,
    // ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12.
    let cluster_ops = [5, 7, 8, 9, 10, 11, 12].iter().fold(0, |b, op| b | (1 << op));
    assert_eq!(resp.cluster_authorized_operations, cluster_ops);
    let mut req = DescribeClusterRequest::default();
    req.include_cluster_authorized_operations = true;
    let resp: DescribeClusterResponse = wire.call(ApiKey::DescribeCluster, 0, &req);
    assert_eq!(resp.cluster_authorized_operations, cluster_ops);
}

/// Kafka's ACL APIs on a broker with no `authorizer.class.name` answer
/// SECURITY_DISABLED (54) for every creation and filter, and the `acls`
/// tool says so and fails, rather than reporting nothing listed or done.
#[test]
fn acl_apis_without_an_authorizer_answer_security_disabled() {
    use kafka_protocol::messages::create_acls_request::AclCreation;
    use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
    use kafka_protocol::messages::{
        ApiKey, CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
        DescribeAclsRequest, DescribeAclsResponse,
    };
    use kafka_protocol::protocol::StrBytes;
    const SECURITY_DISABLED: i16 = 54;
    let broker = crate::broker_support::Broker::start(&[]);
    let mut wire = broker.wire();
    // TOPIC 2, LITERAL 3, WRITE 4, ALLOW 3; ANY is 1 in every filter.
    let creation = AclCreation::default()
        .with_resource_type(2)
        .with_resource_name(StrBytes::from_static_str("t"))
        .with_resource_pattern_type(3)
        .with_principal(StrBytes::from_static_str("User:alice"))
        .with_host(StrBytes::from_static_str("*"))
        .with_operation(4)
        .with_permission_type(3);
    let req = CreateAclsRequest::default().with_creations(vec![creation.clone(), creation]);
    let resp: CreateAclsResponse = wire.call(ApiKey::CreateAcls, 2, &req);
    assert_eq!(resp.results.len(), 2, "{resp:?}");
    assert!(resp.results.iter().all(|r| r.error_code == SECURITY_DISABLED), "{resp:?}");

    let req = DescribeAclsRequest::default()
        .with_resource_type_filter(1)
        .with_pattern_type_filter(1)
        .with_operation(1)
        .with_permission_type(1);
    let resp: DescribeAclsResponse = wire.call(ApiKey::DescribeAcls, 2, &req);
    assert_eq!(resp.error_code, SECURITY_DISABLED, "{resp:?}");
    assert!(resp.resources.is_empty(), "{resp:?}");

    let filter = DeleteAclsFilter::default()
        .with_resource_type_filter(1)
        .with_pattern_type_filter(1)
        .with_operation(1)
        .with_permission_type(1);
    let req = DeleteAclsRequest::default().with_filters(vec![filter]);
    let resp: DeleteAclsResponse = wire.call(ApiKey::DeleteAcls, 2, &req);
    assert_eq!(resp.filter_results.len(), 1, "{resp:?}");
    assert_eq!(resp.filter_results[0].error_code, SECURITY_DISABLED, "{resp:?}");

    let bs = broker.addr();
    let out = support::kafka_rs(&["acls", "--bootstrap-server", &bs, "--list"], None, T);
    assert!(!out.status.success(), "{}", support::stdout(&out));
    let err = support::stderr(&out);
    assert!(err.contains("SECURITY_DISABLED") || err.contains("No Authorizer"), "{err}");
}
