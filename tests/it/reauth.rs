//! SASL re-authentication (KIP-368, `connections.max.reauth.ms`): the
//! broker tells a client how long its login lasts, closes a connection
//! whose session ran out without a new login, and serves librdkafka, which
//! logs in again on the same connection, across several lifetimes.

use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, MetadataRequest, MetadataResponse, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

use crate::broker_support::{Broker, Wire};
use crate::support;

const T: Duration = Duration::from_secs(60);

/// A broker whose SASL_PLAINTEXT listener (returned port) lets a login
/// last `lifetime_ms`, set per listener as Kafka allows.
fn reauth_broker(lifetime_ms: u64) -> (Broker, u16) {
    let sasl = support::free_port();
    let broker = Broker::start(&[
        &format!("listeners=PLAINTEXT://127.0.0.1:{{port}},SASL_PLAINTEXT://127.0.0.1:{sasl}"),
        "sasl.enabled.mechanisms=PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\";",
        &format!("listener.name.sasl_plaintext.connections.max.reauth.ms={lifetime_ms}"),
        "offsets.topic.replication.factor=1",
    ]);
    support::wait_for_port(sasl, T);
    (broker, sasl)
}

fn login(wire: &mut Wire) -> SaslAuthenticateResponse {
    let req = SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN"));
    let resp: SaslHandshakeResponse = wire.call(ApiKey::SaslHandshake, 1, &req);
    assert_eq!(resp.error_code, 0);
    let req = SaslAuthenticateRequest::default()
        .with_auth_bytes(Bytes::from_static(b"\0alice\0alice-secret"));
    wire.call(ApiKey::SaslAuthenticate, 2, &req)
}

fn metadata_ok(wire: &mut Wire) -> bool {
    let (cid, frame) = wire.frame(ApiKey::Metadata, 9, &MetadataRequest::default());
    wire.send_raw(&frame);
    wire.read_response::<MetadataResponse>(ApiKey::Metadata, 9, cid).is_some()
}

#[test]
fn a_client_that_does_not_log_in_again_is_closed_once_its_session_lifetime_is_over() {
    let (broker, sasl) = reauth_broker(2000);
    let mut wire = Wire::connect(sasl);
    let resp = login(&mut wire);
    assert_eq!(resp.error_code, 0);
    assert_eq!(resp.session_lifetime_ms, 2000, "SaslAuthenticate v1+ tells the lifetime");
    assert!(metadata_ok(&mut wire), "served while the session lasts");
    // Keep asking until the session runs out: the broker must then close.
    let deadline = std::time::Instant::now() + T;
    let mut closed = false;
    while std::time::Instant::now() < deadline {
        if !metadata_ok(&mut wire) {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(closed, "the connection outlived its SASL session");
    // Others are still served: the PLAINTEXT listener and a new login.
    let _: kafka_protocol::messages::ApiVersionsResponse =
        broker.wire().call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let mut again = Wire::connect(sasl);
    assert_eq!(login(&mut again).error_code, 0);
    assert!(metadata_ok(&mut again));
}

#[test]
fn without_a_lifetime_a_login_lasts_as_long_as_the_connection() {
    let (_broker, sasl) = reauth_broker(0);
    let mut wire = Wire::connect(sasl);
    let resp = login(&mut wire);
    assert_eq!((resp.error_code, resp.session_lifetime_ms), (0, 0));
    assert!(metadata_ok(&mut wire));
}

/// Produces about one message every 100-300 ms for `seconds` over SASL PLAIN and
/// reads them back with a consumer on its own connection; prints how many
/// were delivered and read, and every error librdkafka reported.
const CLIENTS_PY: &str = r#"
import json, sys, time
from confluent_kafka import Producer, Consumer
bs, seconds = sys.argv[1], float(sys.argv[2])
errors = []
common = {"bootstrap.servers": bs, "security.protocol": "SASL_PLAINTEXT",
          "sasl.mechanism": "PLAIN", "sasl.username": "alice", "sasl.password": "alice-secret",
          "error_cb": lambda e: errors.append(str(e))}
p = Producer(dict(common, **{"linger.ms": 0}))
delivered = [0]
def done(err, msg):
    if err is None:
        delivered[0] += 1
    else:
        errors.append(str(err))
c = Consumer(dict(common, **{"group.id": "reauth", "auto.offset.reset": "earliest"}))
c.subscribe(["reauth"])
read = 0
start = time.monotonic()
sent = 0
while time.monotonic() - start < seconds:
    p.produce("reauth", b"m%d" % sent, callback=done)
    sent += 1
    p.poll(0)
    m = c.poll(0.2)
    if m is not None and m.error() is None:
        read += 1
    time.sleep(0.1)
p.flush(30)
deadline = time.monotonic() + 30
while read < sent and time.monotonic() < deadline:
    m = c.poll(0.5)
    if m is not None and m.error() is None:
        read += 1
c.close()
print(json.dumps({"sent": sent, "delivered": delivered[0], "read": read, "errors": errors}))
"#;

#[test]
fn confluent_kafka_logs_in_again_and_keeps_working_across_several_lifetimes() {
    let Some(python) = support::python() else { return };
    let (broker, sasl) = reauth_broker(2000);
    let created = support::kafka_rs(
        &[
            "topics",
            "--bootstrap-server",
            &broker.addr(),
            "--create",
            "--topic",
            "reauth",
            "--partitions",
            "1",
            "--replication-factor",
            "1",
        ],
        None,
        T,
    );
    assert!(created.status.success(), "{}", support::stderr(&created));
    let out = support::run_with_timeout(
        Command::new(python).arg("-c").arg(CLIENTS_PY).arg(format!("127.0.0.1:{sasl}")).arg("7"),
        None,
        Duration::from_secs(180),
    );
    assert!(out.status.success(), "{}", support::stderr(&out));
    let got: serde_json::Value = serde_json::from_str(support::stdout(&out).trim()).unwrap();
    eprintln!("{got}");
    assert_eq!(got["errors"], serde_json::json!([]), "no disconnects or failures: {got}");
    assert!(got["sent"].as_i64().unwrap() >= 20, "{got}");
    assert_eq!(got["delivered"], got["sent"], "{got}");
    assert_eq!(got["read"], got["sent"], "{got}");
    let log = broker.server_log() + &broker.stderr_log();
    assert!(!log.contains("expired without re-authentication"), "a client was cut off");
}
