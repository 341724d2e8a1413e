//! Listeners and security: several named listeners on one broker, each
//! client answered with the addresses of the listener it used, the
//! registration in ZooKeeper in Kafka's shape, and replication between
//! brokers over the inter-broker listener.

use std::time::Duration;

use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse};
use serde_json::Value;

use crate::broker_bad_input::{batch, produce_within as produce};
use crate::broker_support::{Broker, Wire};
use crate::replication::Cluster;
use crate::support;

const T: Duration = Duration::from_secs(60);

/// The `/brokers/ids/<id>` znode as JSON.
fn registration(zk_port: u16, id: i32) -> Value {
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
fn registered_port(reg: &Value, listener: &str) -> u16 {
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
fn brokers_replicate_over_the_inter_broker_listener_and_survive_a_leader_kill() {
    let mut cluster = Cluster::start(&[
        "listeners=PLAINTEXT://127.0.0.1:{port},REPLICATION://127.0.0.1:0",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,REPLICATION:PLAINTEXT",
        "inter.broker.listener.name=REPLICATION",
        "replica.lag.time.max.ms=10000",
    ]);
    for id in 1..=3 {
        let reg = registration(cluster.zk.port, id);
        assert_ne!(registered_port(&reg, "REPLICATION"), 0, "{reg}");
    }
    cluster.create("internal-replicated", &[]);
    let leader = cluster.wait_isr_everywhere("internal-replicated", &[1, 2, 3], T).leader;
    let mut wire = cluster.broker(leader).wire();
    for i in 0..10 {
        let values: Vec<Vec<u8>> = (0..10).map(|j| format!("m{i}-{j}").into_bytes()).collect();
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        let (code, base) = produce(&mut wire, "internal-replicated", -1, 30_000, batch(&refs));
        assert_eq!((code, base), (0, i * 10), "acks=all produce {i}");
    }
    drop(wire);
    cluster.kill9(leader);
    let survivors: Vec<i32> = (1..=3).filter(|&b| b != leader).collect();
    let described = cluster.wait_isr("internal-replicated", &survivors, T);
    assert!(survivors.contains(&described.leader), "a survivor leads: {described:?}");
    let mut wire = cluster.broker(described.leader).wire();
    let (code, base) =
        produce(&mut wire, "internal-replicated", -1, 30_000, batch(&[b"after the kill"]));
    assert_eq!((code, base), (0, 100), "nothing acknowledged was lost");
}
