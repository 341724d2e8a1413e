//! Listeners and security: several named listeners on one broker, each
//! client answered with the addresses of the listener it used, the
//! registration in ZooKeeper in Kafka's shape, and replication between
//! brokers over the inter-broker listener; SASL PLAIN and SCRAM on
//! SASL_PLAINTEXT listeners with raw frames and with kcat, confluent-kafka
//! and kafka-python.

use std::time::Duration;

use std::process::Command;

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use serde_json::Value;

use crate::broker_bad_input::{batch, produce_within as produce};
use crate::broker_support::{Broker, Wire};
use crate::replication::Cluster;
use crate::support;

const T: Duration = Duration::from_secs(60);

/// The `/brokers/ids/<id>` znode as JSON.
pub fn registration(zk_port: u16, id: i32) -> Value {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let addr = format!("127.0.0.1:{zk_port}");
    let mut last = String::new();
    let deadline = std::time::Instant::now() + T;
    while std::time::Instant::now() < deadline {
        let got = rt.block_on(async {
            let c = zookeeper_client::Client::connect(&addr).await.map_err(|e| e.to_string())?;
            let (data, _) =
                c.get_data(&format!("/brokers/ids/{id}")).await.map_err(|e| e.to_string())?;
            serde_json::from_slice::<Value>(&data).map_err(|e| e.to_string())
        });
        match got {
            Ok(v) => return v,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no registration of broker {id}: {last}");
}

/// The port a listener was registered with, from an `endpoints` entry.
pub fn registered_port(reg: &Value, listener: &str) -> u16 {
    let prefix = format!("{listener}://");
    let endpoint = reg["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find(|e| e.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {listener} endpoint in {reg}"));
    endpoint.rsplit_once(':').unwrap().1.parse().unwrap()
}

fn brokers_seen_on(port: u16) -> Vec<(i32, String, i32)> {
    let mut req = MetadataRequest::default();
    req.topics = Some(Vec::new());
    let resp: MetadataResponse = Wire::connect(port).call(ApiKey::Metadata, 9, &req);
    resp.brokers.iter().map(|b| (b.node_id.0, b.host.to_string(), b.port)).collect()
}

#[test]
fn each_listener_answers_with_its_own_addresses_and_all_are_registered() {
    let zk = support::free_port();
    let broker = Broker::start(&[
        "broker.id=7",
        &format!("embedded.zookeeper.port={zk}"),
        "listeners=PLAINTEXT://127.0.0.1:{port},INTERNAL://127.0.0.1:0",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT",
        "advertised.listeners=PLAINTEXT://127.0.0.1:{port},INTERNAL://localhost:0",
        "inter.broker.listener.name=INTERNAL",
    ]);
    let reg = registration(zk, 7);
    let internal = registered_port(&reg, "INTERNAL");
    assert_ne!(internal, 0, "a port-0 listener registers the port it got");
    assert_eq!(
        reg["endpoints"],
        serde_json::json!([
            format!("PLAINTEXT://127.0.0.1:{}", broker.port),
            format!("INTERNAL://localhost:{internal}")
        ]),
        "every listener, in order, under its name"
    );
    assert_eq!(
        reg["listener_security_protocol_map"],
        serde_json::json!({"PLAINTEXT": "PLAINTEXT", "INTERNAL": "PLAINTEXT"})
    );
    assert_eq!(
        (reg["host"].as_str(), reg["port"].as_i64()),
        (Some("127.0.0.1"), Some(broker.port.into()))
    );
    assert_eq!(reg["version"], 5);

    assert_eq!(
        brokers_seen_on(broker.port),
        vec![(7, "127.0.0.1".to_string(), i32::from(broker.port))],
        "a client of PLAINTEXT is sent to PLAINTEXT"
    );
    support::wait_for_port(internal, T);
    assert_eq!(
        brokers_seen_on(internal),
        vec![(7, "localhost".to_string(), i32::from(internal))],
        "a client of INTERNAL is sent to INTERNAL's advertised address"
    );
}

#[test]
fn a_listener_name_without_a_protocol_stops_the_broker_with_kafkas_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = support::kafka_rs(
        &[
            "server-start",
            "--override",
            "listeners=PLAINTEXT://127.0.0.1:0,CLIENTS://127.0.0.1:0",
            "--override",
            &format!("log.dirs={}", dir.path().display()),
        ],
        None,
        T,
    );
    assert!(!out.status.success());
    let err = support::stderr(&out);
    assert!(err.contains("No security protocol defined for listener CLIENTS"), "{err}");
}

#[test]
fn brokers_replicate_over_a_sasl_inter_broker_listener_and_survive_a_leader_kill() {
    let mut cluster = Cluster::start(&[
        "listeners=PLAINTEXT://127.0.0.1:{port},REPLICATION://127.0.0.1:0",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,REPLICATION:SASL_PLAINTEXT",
        "inter.broker.listener.name=REPLICATION",
        "sasl.mechanism.inter.broker.protocol=PLAIN",
        "listener.name.replication.sasl.enabled.mechanisms=PLAIN",
        &format!("listener.name.replication.plain.sasl.jaas.config={BROKER_JAAS}"),
        "replica.lag.time.max.ms=10000",
    ]);
    for id in 1..=3 {
        let reg = registration(cluster.zk.port, id);
        assert_ne!(registered_port(&reg, "REPLICATION"), 0, "{reg}");
    }
    replicate_and_survive_a_leader_kill(&mut cluster, "internal-replicated");
}

/// 100 records produced with acks=all to a new three-replica topic, the
/// leader killed with SIGKILL, and a survivor leading with all of them:
/// replication over whatever inter-broker listener the cluster uses.
/// Returns the surviving brokers.
pub fn replicate_and_survive_a_leader_kill(cluster: &mut Cluster, topic: &str) -> Vec<i32> {
    cluster.create(topic, &[]);
    let leader = cluster.wait_isr_everywhere(topic, &[1, 2, 3], T).leader;
    let mut wire = cluster.broker(leader).wire();
    for i in 0..10 {
        let values: Vec<Vec<u8>> = (0..10).map(|j| format!("m{i}-{j}").into_bytes()).collect();
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        let (code, base) = produce(&mut wire, topic, -1, 30_000, batch(&refs));
        assert_eq!((code, base), (0, i * 10), "acks=all produce {i}");
    }
    drop(wire);
    cluster.kill9(leader);
    let survivors: Vec<i32> = (1..=3).filter(|&b| b != leader).collect();
    let described = cluster.wait_isr(topic, &survivors, T);
    assert!(survivors.contains(&described.leader), "a survivor leads: {described:?}");
    let mut wire = cluster.broker(described.leader).wire();
    let (code, base) = produce(&mut wire, topic, -1, 30_000, batch(&[b"after the kill"]));
    assert_eq!((code, base), (0, 100), "nothing acknowledged was lost");
    survivors
}

/// The brokers' own login on the replication listener, and the only user
/// there: a follower without it could not copy anything.
const BROKER_JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
     username=\"broker\" password=\"broker-secret\" user_broker=\"broker-secret\";";

const USERS_JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required \
     user_alice=\"alice-secret\" user_bob=\"bob-secret\";";

/// A broker with a PLAINTEXT listener (its `port`) and a SASL_PLAINTEXT
/// one, whose port is returned, with PLAIN and SCRAM enabled.
fn sasl_broker(zk: u16) -> (Broker, u16) {
    let broker = Broker::start(&[
        "broker.id=1",
        &format!("embedded.zookeeper.port={zk}"),
        "listeners=PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:0",
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        &format!("listener.name.sasl_plaintext.plain.sasl.jaas.config={USERS_JAAS}"),
        "offsets.topic.replication.factor=1",
    ]);
    let port = registered_port(&registration(zk, 1), "SASL_PLAINTEXT");
    support::wait_for_port(port, T);
    (broker, port)
}

fn handshake(wire: &mut Wire, version: i16, mechanism: &str) -> SaslHandshakeResponse {
    let mut req = SaslHandshakeRequest::default();
    req.mechanism = StrBytes::from_string(mechanism.to_string());
    wire.call(ApiKey::SaslHandshake, version, &req)
}

fn authenticate(wire: &mut Wire, bytes: &[u8]) -> SaslAuthenticateResponse {
    let mut req = SaslAuthenticateRequest::default();
    req.auth_bytes = Bytes::copy_from_slice(bytes);
    wire.call(ApiKey::SaslAuthenticate, 2, &req)
}

#[test]
fn sasl_plain_on_the_wire_refuses_what_kafka_refuses() {
    let (broker, sasl) = sasl_broker(support::free_port());

    // ApiVersions is answered before the handshake, with the SASL APIs.
    let mut wire = Wire::connect(sasl);
    let versions: ApiVersionsResponse =
        wire.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert!(versions.api_keys.iter().any(|k| k.api_key == ApiKey::SaslAuthenticate as i16));
    // Any other request before authenticating closes the connection.
    let (_, frame) = wire.frame(ApiKey::Metadata, 9, &MetadataRequest::default());
    wire.send_raw(&frame);
    assert!(wire.read_frame().is_none(), "Metadata before the handshake closes the connection");

    let mut wire = Wire::connect(sasl);
    let resp = handshake(&mut wire, 1, "GSSAPI");
    assert_eq!(resp.error_code, 33, "UNSUPPORTED_SASL_MECHANISM");
    let mut enabled: Vec<String> = resp.mechanisms.iter().map(|m| m.to_string()).collect();
    enabled.sort();
    assert_eq!(enabled, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]);
    assert!(wire.is_closed());

    let mut wire = Wire::connect(sasl);
    assert_eq!(handshake(&mut wire, 1, "PLAIN").error_code, 0);
    let resp = authenticate(&mut wire, b"\0alice\0wrong");
    assert_eq!(resp.error_code, 58, "SASL_AUTHENTICATION_FAILED");
    assert_eq!(
        resp.error_message.as_deref(),
        Some("Authentication failed: Invalid username or password")
    );
    assert!(wire.is_closed(), "a failed login closes the connection");

    let mut wire = Wire::connect(sasl);
    assert_eq!(handshake(&mut wire, 1, "PLAIN").error_code, 0);
    wire.send_raw(&[0, 0, 0, 5, 1, 2, 3, 4, 5]);
    assert!(wire.read_frame().is_none(), "garbage instead of SaslAuthenticate closes");

    // Handshake v0: the token goes bare, and so does the answer.
    let mut wire = Wire::connect(sasl);
    assert_eq!(handshake(&mut wire, 0, "PLAIN").error_code, 0);
    let token = b"\0bob\0bob-secret";
    let mut framed = (token.len() as i32).to_be_bytes().to_vec();
    framed.extend_from_slice(token);
    wire.send_raw(&framed);
    assert_eq!(wire.read_frame().as_deref(), Some(&b""[..]), "an empty bare token");
    assert_eq!(brokers_seen_on_wire(&mut wire).len(), 1, "served once authenticated");

    let mut wire = Wire::connect(sasl);
    assert_eq!(handshake(&mut wire, 1, "PLAIN").error_code, 0);
    assert_eq!(authenticate(&mut wire, b"\0alice\0alice-secret").error_code, 0);
    let md = brokers_seen_on_wire(&mut wire);
    assert_eq!(
        md,
        vec![(1, "127.0.0.1".to_string(), i32::from(sasl))],
        "SASL clients stay on SASL"
    );
    let again = handshake(&mut wire, 1, "PLAIN");
    assert_eq!(again.error_code, 34, "ILLEGAL_SASL_STATE once authenticated");

    // The PLAINTEXT listener needs no login and refuses a handshake.
    let mut plain = broker.wire();
    assert_eq!(handshake(&mut plain, 1, "PLAIN").error_code, 34);
    assert_eq!(brokers_seen_on_wire(&mut plain)[0].2, i32::from(broker.port));
}

fn brokers_seen_on_wire(wire: &mut Wire) -> Vec<(i32, String, i32)> {
    let mut req = MetadataRequest::default();
    req.topics = Some(Vec::new());
    let resp: MetadataResponse = wire.call(ApiKey::Metadata, 9, &req);
    resp.brokers.iter().map(|b| (b.node_id.0, b.host.to_string(), b.port)).collect()
}

pub fn kcat_sasl(kcat: &std::path::Path, port: u16, mech: &str, user: &str, pw: &str) -> Command {
    let mut cmd = Command::new(kcat);
    cmd.args(["-b", &format!("127.0.0.1:{port}"), "-X", "security.protocol=SASL_PLAINTEXT"])
        .args(["-X", &format!("sasl.mechanism={mech}")])
        .args(["-X", &format!("sasl.username={user}"), "-X", &format!("sasl.password={pw}")]);
    cmd
}

#[test]
fn kcat_produces_and_consumes_over_sasl_plain_and_a_wrong_password_is_refused() {
    let Some(kcat) = support::external_tool("kcat") else { return };
    let (_broker, sasl) = sasl_broker(support::free_port());
    let out = support::run_with_timeout(
        kcat_sasl(&kcat, sasl, "PLAIN", "alice", "alice-secret").args(["-P", "-t", "plain-t"]),
        Some(b"one\ntwo\n"),
        T,
    );
    assert!(out.status.success(), "kcat -P: {}", support::stderr(&out));
    let out = support::run_with_timeout(
        kcat_sasl(&kcat, sasl, "PLAIN", "alice", "alice-secret").args([
            "-C",
            "-t",
            "plain-t",
            "-o",
            "beginning",
            "-e",
            "-c",
            "2",
        ]),
        None,
        T,
    );
    assert_eq!(support::stdout(&out), "one\ntwo\n", "{}", support::stderr(&out));
    let out = support::run_with_timeout(
        kcat_sasl(&kcat, sasl, "PLAIN", "alice", "nope").args(["-L", "-m", "5"]),
        None,
        T,
    );
    assert!(!out.status.success());
    let err = support::stderr(&out);
    assert!(err.contains("Authentication failed: Invalid username or password"), "{err}");
}

const PYTHON_SCRAM: &str = r#"
import sys
from confluent_kafka import Producer
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError
bs, topic = sys.argv[1], sys.argv[2]
def conf(mech, user, pw):
    return {"bootstrap.servers": bs, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": mech, "sasl.username": user, "sasl.password": pw}
p = Producer(conf("SCRAM-SHA-512", "carol", "carol-secret"))
acked = []
p.produce(topic, b"from-confluent", on_delivery=lambda e, m: acked.append(e))
p.flush(30)
assert acked == [None], acked
kp = KafkaProducer(bootstrap_servers=bs, security_protocol="SASL_PLAINTEXT",
                   sasl_mechanism="SCRAM-SHA-256", sasl_plain_username="carol",
                   sasl_plain_password="carol-secret")
kp.send(topic, b"from-kafka-python").get(timeout=30)
kp.close()
c = KafkaConsumer(topic, bootstrap_servers=bs, security_protocol="SASL_PLAINTEXT",
                  sasl_mechanism="PLAIN", sasl_plain_username="alice",
                  sasl_plain_password="alice-secret", auto_offset_reset="earliest",
                  consumer_timeout_ms=60000)
got = []
for m in c:
    got.append(m.value)
    if len(got) == 2:
        break
got.sort()
c.close()
assert got == [b"from-confluent", b"from-kafka-python"], got
try:
    KafkaProducer(bootstrap_servers=bs, security_protocol="SASL_PLAINTEXT",
                  sasl_mechanism="SCRAM-SHA-256", sasl_plain_username="carol",
                  sasl_plain_password="wrong",
                  max_block_ms=10000)
    print("a wrong password was accepted")
    sys.exit(1)
except KafkaError as e:
    print("refused:", type(e).__name__, e)
"#;

#[test]
fn scram_credentials_set_with_the_configs_tool_log_real_clients_in() {
    let zk = support::free_port();
    let (broker, sasl) = sasl_broker(zk);
    let bs = broker.addr();
    let configs = |extra: &[&str]| {
        let mut args = vec!["configs", "--bootstrap-server", bs.as_str()];
        args.extend_from_slice(extra);
        support::kafka_rs(&args, None, T)
    };
    let users = ["--entity-type", "users", "--entity-name", "carol"];
    let out = configs(&[&users[..], &["--alter", "--add-config", "SCRAM-SHA-256=[iterations=8192,password=carol-secret],SCRAM-SHA-512=[password=carol-secret]"]].concat());
    assert_eq!(
        support::stdout(&out),
        "Completed updating config for user carol.\n",
        "{}",
        support::stderr(&out)
    );
    let out = configs(&[&users[..], &["--describe"]].concat());
    assert_eq!(
        support::stdout(&out),
        "SCRAM credential configs for user-principal 'carol' are SCRAM-SHA-256=iterations=8192, SCRAM-SHA-512=iterations=4096\n"
    );
    let out = configs(
        &[&users[..], &["--alter", "--add-config", "SCRAM-SHA-256=[iterations=100,password=x]"]]
            .concat(),
    );
    assert!(!out.status.success());
    assert!(support::stderr(&out).contains("Too few iterations"), "{}", support::stderr(&out));

    // Stored as Kafka stores it, so a Kafka broker on this ZooKeeper agrees.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let stored: Value = rt.block_on(async {
        let c = zookeeper_client::Client::connect(&format!("127.0.0.1:{zk}")).await.unwrap();
        let (data, _) = c.get_data("/config/users/carol").await.unwrap();
        serde_json::from_slice(&data).unwrap()
    });
    let sha256 = stored["config"]["SCRAM-SHA-256"].as_str().unwrap();
    let keys: Vec<&str> = sha256.split(',').map(|kv| kv.split_once('=').unwrap().0).collect();
    assert_eq!(keys, ["salt", "stored_key", "server_key", "iterations"], "{stored}");
    assert!(sha256.ends_with(",iterations=8192"));

    // Our own tools log in with a Kafka client properties file.
    let props = broker.dir.path().join("scram.properties");
    std::fs::write(
        &props,
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n\
         sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \
         username=\"carol\" password=\"carol-secret\";\n",
    )
    .unwrap();
    let sasl_bs = format!("127.0.0.1:{sasl}");
    let out = support::kafka_rs(
        &[
            "topics",
            "--bootstrap-server",
            &sasl_bs,
            "--command-config",
            props.to_str().unwrap(),
            "--create",
            "--topic",
            "scram-t",
        ],
        None,
        T,
    );
    assert!(out.status.success(), "topics over SCRAM: {}", support::stderr(&out));

    if let Some(kcat) = support::external_tool("kcat") {
        for mech in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
            let out = support::run_with_timeout(
                kcat_sasl(&kcat, sasl, mech, "carol", "carol-secret").args(["-L", "-t", "scram-t"]),
                None,
                T,
            );
            assert!(out.status.success(), "kcat {mech}: {}", support::stderr(&out));
            let out = support::run_with_timeout(
                kcat_sasl(&kcat, sasl, mech, "carol", "wrong").args(["-L", "-m", "5"]),
                None,
                T,
            );
            assert!(!out.status.success(), "kcat {mech} with a wrong password");
            let want = format!("invalid credentials with SASL mechanism {mech}");
            assert!(support::stderr(&out).contains(&want), "{}", support::stderr(&out));
        }
    }
    if let Some(python) = support::python() {
        let out = run_python_clients(&python, PYTHON_SCRAM, &[&sasl_bs, "scram-t"]);
        assert!(out.contains("refused:"), "{out}");
    }
}

/// Runs a confluent-kafka / kafka-python script with `args`; its stdout
/// once it succeeded.
pub fn run_python_clients(python: &std::path::Path, script: &str, args: &[&str]) -> String {
    let out = support::run_with_timeout(
        Command::new(python).arg("-c").arg(script).args(args),
        None,
        Duration::from_secs(180),
    );
    assert!(
        out.status.success(),
        "confluent-kafka and kafka-python: {}\n{}",
        support::stdout(&out),
        support::stderr(&out)
    );
    support::stdout(&out)
}
