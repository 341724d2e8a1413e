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
