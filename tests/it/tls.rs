//! TLS listeners: SSL and SASL_SSL with certificates made by the `openssl`
//! CLI in a temp dir; kcat, confluent-kafka, kafka-python and our own CLI
//! as clients, client certificates required, refused and mapped to
//! principals; a plaintext client on a TLS port; requests and responses
//! far larger than a TLS record, cut into small TCP segments on the way;
//! three brokers replicating over an SSL inter-broker listener through a
//! leader kill; start-up refusals of settings the broker cannot serve.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};

use crate::broker_support::{Broker, Wire};
use crate::replication::Cluster;
use crate::support;

const T: Duration = Duration::from_secs(60);

/// A CA, a broker certificate for localhost and 127.0.0.1, a client
/// certificate from the same CA and one from a CA nobody trusts.
struct Certs {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Certs {
    fn new() -> Option<Certs> {
        let openssl = support::external_tool("openssl")?;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let run = |args: &[&str]| {
            let out = support::run_with_timeout(
                Command::new(&openssl).args(args).current_dir(&path),
                None,
                T,
            );
            assert!(out.status.success(), "openssl {args:?}: {}", support::stderr(&out));
        };
        std::fs::write(path.join("server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
            .unwrap();
        std::fs::write(path.join("client.ext"), "basicConstraints=CA:FALSE\n").unwrap();
        for ca in ["ca", "other-ca"] {
            run(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={ca}"),
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
            ]);
        }
        let leaf = |name: &str, subject: &str, ca: &str, ext: &str| {
            run(&[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                subject,
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ]);
            run(&[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.pem"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                ext,
                "-out",
                &format!("{name}.crt"),
            ]);
            let chain = [
                std::fs::read_to_string(path.join(format!("{name}.crt"))).unwrap(),
                std::fs::read_to_string(path.join(format!("{name}.key"))).unwrap(),
            ]
            .concat();
            std::fs::write(path.join(format!("{name}.pem")), chain).unwrap();
        };
        leaf("broker", "/C=FR/O=Acme/OU=Brokers/CN=localhost", "ca", "server.ext");
        leaf("alice", "/C=FR/O=Acme/OU=Eng/CN=alice", "ca", "client.ext");
        leaf("mallory", "/CN=mallory", "other-ca", "client.ext");
        Some(Certs { _dir: dir, path })
    }

    fn file(&self, name: &str) -> String {
        self.path.join(name).display().to_string()
    }

    /// The broker settings for a listener named `listener`.
    fn broker_settings(&self, listener: &str, client_auth: &str) -> Vec<String> {
        let p = format!("listener.name.{listener}.ssl.");
        vec![
            format!("{p}keystore.type=PEM"),
            format!("{p}keystore.location={}", self.file("broker.pem")),
            format!("{p}truststore.type=PEM"),
            format!("{p}truststore.location={}", self.file("ca.pem")),
            format!("{p}client.auth={client_auth}"),
        ]
    }

    /// A Kafka client properties file for our CLI, the client key and
    /// chain inline as Kafka's PEM settings allow.
    fn client_properties(&self, protocol: &str, extra: &str) -> PathBuf {
        let flat = |f: &str| std::fs::read_to_string(self.path.join(f)).unwrap().replace('\n', " ");
        let text = format!(
            "security.protocol={protocol}\nssl.truststore.type=PEM\n\
             ssl.truststore.location={}\nssl.keystore.type=PEM\n\
             ssl.keystore.certificate.chain={}\nssl.keystore.key={}\n{extra}",
            self.file("ca.pem"),
            flat("alice.crt"),
            flat("alice.key"),
        );
        let path = self.path.join(format!("{protocol}.properties"));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn kcat(&self, kcat: &Path, port: u16, client: Option<&str>, ca: &str) -> Command {
        let mut cmd = Command::new(kcat);
        cmd.args(["-b", &format!("127.0.0.1:{port}"), "-X", "security.protocol=ssl"])
            .args(["-X", &format!("ssl.ca.location={}", self.file(ca))]);
        if let Some(c) = client {
            cmd.args([
                "-X",
                &format!("ssl.certificate.location={}", self.file(&format!("{c}.crt"))),
            ])
            .args(["-X", &format!("ssl.key.location={}", self.file(&format!("{c}.key")))]);
        }
        cmd
    }
}

/// A broker with a PLAINTEXT listener (`port`) and an SSL one whose port
/// is returned.
fn ssl_broker(certs: &Certs, client_auth: &str, extra: &[&str]) -> (Broker, u16) {
    let ssl = support::free_port();
    let mut overrides = vec![
        format!("listeners=PLAINTEXT://127.0.0.1:{{port}},SSL://127.0.0.1:{ssl}"),
        "offsets.topic.replication.factor=1".to_string(),
    ];
    overrides.extend(certs.broker_settings("ssl", client_auth));
    overrides.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
    let broker = Broker::start(&refs);
    support::wait_for_port(ssl, T);
    (broker, ssl)
}

fn kafka_rs_ok(args: &[&str], stdin: Option<&[u8]>) -> String {
    let out = support::kafka_rs(args, stdin, T);
    assert!(out.status.success(), "kafka-rs {args:?}: {}", support::stderr(&out));
    support::stdout(&out)
}

/// One of our CLI tools against `bs`, with the client properties file
/// `props` under the flag that tool reads it from.
fn cli(tool: &str, bs: &str, props: Option<&str>, args: &[&str], stdin: Option<&[u8]>) -> String {
    let mut all = vec![tool, "--bootstrap-server", bs];
    if let Some(props) = props {
        all.push(match tool {
            "console-producer" => "--producer.config",
            "console-consumer" => "--consumer.config",
            _ => "--command-config",
        });
        all.push(props);
    }
    all.extend(args);
    kafka_rs_ok(&all, stdin)
}

#[test]
fn ssl_listener_serves_kcat_and_our_cli_with_client_certificates_and_refuses_the_rest() {
    let Some(certs) = Certs::new() else { return };
    let (broker, ssl) = ssl_broker(&certs, "required", &[]);

    // Our CLI over SSL: create, produce, consume.
    let props = certs.client_properties("SSL", "");
    let props = props.to_str().unwrap();
    let bs = format!("localhost:{ssl}");
    cli("topics", &bs, Some(props), &["--create", "--topic", "tls-t"], None);
    let listed = cli("topics", &bs, Some(props), &["--list"], None);
    assert!(listed.lines().any(|l| l == "tls-t"), "{listed}");
    cli("console-producer", &bs, Some(props), &["--topic", "tls-t"], Some(b"from-cli\n"));

    if let Some(kcat) = support::external_tool("kcat") {
        let out = support::run_with_timeout(
            certs.kcat(&kcat, ssl, Some("alice"), "ca.pem").args(["-P", "-t", "tls-t"]),
            Some(b"from-kcat\n"),
            T,
        );
        assert!(out.status.success(), "kcat -P: {}", support::stderr(&out));
        let out = support::run_with_timeout(
            certs.kcat(&kcat, ssl, Some("alice"), "ca.pem").args([
                "-C",
                "-t",
                "tls-t",
                "-o",
                "beginning",
                "-e",
                "-q",
            ]),
            None,
            T,
        );
        assert_eq!(support::stdout(&out), "from-cli\nfrom-kcat\n", "{}", support::stderr(&out));
        let refused = [
            (None, "ca.pem", "no client certificate"),
            (Some("mallory"), "ca.pem", "a certificate from an untrusted CA"),
            (Some("alice"), "other-ca.pem", "a broker the client does not trust"),
        ];
        for (client, ca, why) in refused {
            let out = support::run_with_timeout(
                certs.kcat(&kcat, ssl, client, ca).args(["-L", "-m", "5"]),
                None,
                T,
            );
            assert!(!out.status.success(), "{why}: {}", support::stdout(&out));
        }
    }
    let consumed = cli(
        "console-consumer",
        &bs,
        Some(props),
        &["--topic", "tls-t", "--from-beginning", "--max-messages", "1"],
        None,
    );
    assert_eq!(consumed, "from-cli\n");

    // The principal comes from the certificate, in Kafka's format.
    support::wait_until(T, "the principal in the log", || {
        broker.server_log().contains("principal=User:CN=alice,OU=Eng,O=Acme,C=FR")
    });

    // A plaintext client on the TLS port is cut off; everyone else is
    // still served, on both listeners.
    let mut wire = Wire::connect(ssl);
    wire.send_raw(&crate::broker_support::request_frame(
        ApiKey::ApiVersions,
        3,
        1,
        &ApiVersionsRequest::default(),
    ));
    // At most a TLS alert comes back, then the end of the stream.
    let mut got = Vec::new();
    let closed = match std::io::Read::read_to_end(&mut wire.stream, &mut got) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(closed, "a plaintext request on the SSL port closes the connection");
    assert!(got.len() < 16 && got.first().is_none_or(|&b| b == 21), "no Kafka answer: {got:?}");
    let listed = cli("topics", &bs, Some(props), &["--list"], None);
    assert!(listed.contains("tls-t"));
    let listed = cli("topics", &broker.addr(), None, &["--list"], None);
    assert!(listed.contains("tls-t"));
}

#[test]
fn kcat_produces_and_consumes_over_sasl_ssl_with_scram() {
    let Some(certs) = Certs::new() else { return };
    let Some(kcat) = support::external_tool("kcat") else { return };
    let port = support::free_port();
    let mut overrides = vec![
        format!("listeners=PLAINTEXT://127.0.0.1:{{port}},SASL_SSL://127.0.0.1:{port}"),
        "offsets.topic.replication.factor=1".to_string(),
        "sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512".to_string(),
    ];
    overrides.extend(certs.broker_settings("sasl_ssl", "none"));
    let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
    let broker = Broker::start(&refs);
    support::wait_for_port(port, T);
    kafka_rs_ok(
        &[
            "configs",
            "--bootstrap-server",
            &broker.addr(),
            "--entity-type",
            "users",
            "--entity-name",
            "carol",
            "--alter",
            "--add-config",
            "SCRAM-SHA-512=[password=carol-secret]",
        ],
        None,
    );
    let kcat_as = |pw: &str| {
        let mut cmd = certs.kcat(&kcat, port, None, "ca.pem");
        cmd.args(["-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanism=SCRAM-SHA-512"])
            .args(["-X", "sasl.username=carol", "-X", &format!("sasl.password={pw}")]);
        cmd
    };
    let out = support::run_with_timeout(
        kcat_as("carol-secret").args(["-P", "-t", "scram-tls"]),
        Some(b"one\ntwo\n"),
        T,
    );
    assert!(out.status.success(), "kcat -P: {}", support::stderr(&out));
    let out = support::run_with_timeout(
        kcat_as("carol-secret").args(["-C", "-t", "scram-tls", "-o", "beginning", "-e", "-q"]),
        None,
        T,
    );
    assert_eq!(support::stdout(&out), "one\ntwo\n", "{}", support::stderr(&out));
    let out = support::run_with_timeout(kcat_as("wrong").args(["-L", "-m", "5"]), None, T);
    assert!(!out.status.success(), "a wrong password over SASL_SSL");

    // Our CLI over SASL_SSL with the same login.
    let props = certs.client_properties(
        "SASL_SSL",
        "sasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=org.apache.kafka.common.security.scram.\
         ScramLoginModule required username=\"carol\" password=\"carol-secret\";\n",
    );
    let listed = kafka_rs_ok(
        &[
            "topics",
            "--bootstrap-server",
            &format!("localhost:{port}"),
            "--command-config",
            props.to_str().unwrap(),
            "--list",
        ],
        None,
    );
    assert!(listed.lines().any(|l| l == "scram-tls"), "{listed}");
}

/// Forwards every connection to `target`, each way in writes of a few
/// bytes to a few kilobytes, so every TLS record reaches the other side cut
/// across many TCP segments and reads end in the middle of records.
fn start_chopping_proxy(listener: TcpListener, target: u16) {
    fn chop(mut from: TcpStream, mut to: TcpStream) {
        const CUTS: [usize; 6] = [1, 7, 300, 1500, 4096, 9000];
        let mut buf = vec![0u8; 64 * 1024];
        let mut cut = 0;
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            let mut sent = 0;
            while sent < n {
                let len = CUTS[cut % CUTS.len()].min(n - sent);
                cut += 1;
                if to.write_all(&buf[sent..sent + len]).is_err() {
                    return;
                }
                sent += len;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    }
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else { continue };
            let _ = (client.set_nodelay(true), server.set_nodelay(true));
            let (c_rd, s_wr) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || chop(c_rd, s_wr));
            std::thread::spawn(move || chop(server, client));
        }
    });
}

#[test]
fn records_far_larger_than_a_tls_record_cross_an_ssl_listener_in_small_segments_intact() {
    let Some(certs) = Certs::new() else { return };
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_port = proxy.local_addr().unwrap().port();
    let ssl = support::free_port();
    // Clients learn the proxy as the SSL listener's address, so every
    // connection after the bootstrap goes through it too.
    let mut overrides = vec![
        format!("listeners=PLAINTEXT://127.0.0.1:{{port}},SSL://127.0.0.1:{ssl}"),
        format!("advertised.listeners=PLAINTEXT://127.0.0.1:{{port}},SSL://localhost:{proxy_port}"),
        "offsets.topic.replication.factor=1".to_string(),
    ];
    overrides.extend(certs.broker_settings("ssl", "none"));
    let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
    let broker = Broker::start(&refs);
    support::wait_for_port(ssl, T);
    start_chopping_proxy(proxy, ssl);

    // Records of 200-400 KiB, each a dozen or more TLS records, with
    // contents that differ at every offset so a lost, repeated or
    // reordered piece cannot go unnoticed.
    let records: Vec<String> = (0..6u32)
        .map(|i| {
            let len = 200_000 + i as usize * 40_000;
            let mut x = 0x9e37_79b9u32.wrapping_mul(i + 1);
            let body: String = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    char::from(b'!' + (x % 94) as u8)
                })
                .collect();
            format!("{i}:{body}")
        })
        .collect();
    let input = records.iter().map(|r| format!("{r}\n")).collect::<String>();
    let props = certs.client_properties("SSL", "");
    let props = props.to_str().unwrap();
    let bs = format!("localhost:{proxy_port}");
    cli("topics", &bs, Some(props), &["--create", "--topic", "tls-big"], None);
    let linger = ["--topic", "tls-big", "--producer-property", "linger.ms=100"];
    cli("console-producer", &bs, Some(props), &linger, Some(input.as_bytes()));
    let n = records.len().to_string();
    let read_all = ["--topic", "tls-big", "--from-beginning", "--max-messages", &n];
    let consumed = cli("console-consumer", &bs, Some(props), &read_all, None);
    let got: Vec<&str> = consumed.lines().collect();
    assert_eq!(got.len(), records.len(), "records read back");
    for (i, (got, want)) in got.iter().zip(&records).enumerate() {
        assert!(got == want, "record {i} differs: {} bytes read, {} sent", got.len(), want.len());
    }
    // The same bytes read over the PLAINTEXT listener: what the broker
    // stored is what the client sent.
    let plain = cli("console-consumer", &broker.addr(), None, &read_all, None);
    assert!(plain == consumed, "PLAINTEXT and SSL consumers read the same bytes");
}

const PYTHON_SSL: &str = r#"
import sys
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError
bs, topic, d = sys.argv[1], sys.argv[2], sys.argv[3]
def conf(**extra):
    c = {"bootstrap.servers": bs, "security.protocol": "SSL",
         "ssl.ca.location": d + "/ca.pem"}
    c.update(extra)
    return c
alice = {"ssl.certificate.location": d + "/alice.crt", "ssl.key.location": d + "/alice.key"}
p = Producer(conf(**alice))
acked = []
p.produce(topic, b"from-confluent", on_delivery=lambda e, m: acked.append(e))
p.flush(30)
assert acked == [None], acked
kp = KafkaProducer(bootstrap_servers=bs, security_protocol="SSL", ssl_cafile=d + "/ca.pem",
                   ssl_certfile=d + "/alice.crt", ssl_keyfile=d + "/alice.key")
kp.send(topic, b"from-kafka-python").get(timeout=30)
kp.close()
c = KafkaConsumer(topic, bootstrap_servers=bs, security_protocol="SSL",
                  ssl_cafile=d + "/ca.pem", ssl_certfile=d + "/alice.crt",
                  ssl_keyfile=d + "/alice.key", auto_offset_reset="earliest",
                  consumer_timeout_ms=60000)
got = []
for m in c:
    got.append(m.value)
    if len(got) == 2:
        break
c.close()
assert sorted(got) == [b"from-confluent", b"from-kafka-python"], got
for why, extra in [("no certificate", {}),
                   ("untrusted certificate", {"ssl.certificate.location": d + "/mallory.crt",
                                              "ssl.key.location": d + "/mallory.key"})]:
    try:
        AdminClient(conf(**extra)).list_topics(timeout=5)
        print("accepted a client with", why)
        sys.exit(1)
    except Exception as e:
        print("refused", why, type(e).__name__)
try:
    KafkaProducer(bootstrap_servers=bs, security_protocol="SSL", ssl_cafile=d + "/other-ca.pem",
                  ssl_certfile=d + "/alice.crt", ssl_keyfile=d + "/alice.key", max_block_ms=10000)
    print("a broker signed by an unknown CA was trusted")
    sys.exit(1)
except KafkaError as e:
    print("refused wrong CA:", type(e).__name__)
"#;

#[test]
fn confluent_kafka_and_kafka_python_over_ssl_with_client_auth_required() {
    let Some(certs) = Certs::new() else { return };
    let Some(python) = support::python() else { return };
    let (broker, ssl) = ssl_broker(&certs, "required", &[]);
    let (bs, dir) = (format!("localhost:{ssl}"), certs.path.display().to_string());
    let out = crate::security::run_python_clients(&python, PYTHON_SSL, &[&bs, "py-tls", &dir]);
    assert!(out.contains("refused wrong CA"), "{out}");
    assert!(broker.server_log().contains("principal=User:CN=alice,OU=Eng,O=Acme,C=FR"));
    assert!(broker.server_log().contains("Failed authentication with"), "refusals are logged");
}

#[test]
fn brokers_replicate_over_an_ssl_inter_broker_listener_and_survive_a_leader_kill() {
    let Some(certs) = Certs::new() else { return };
    let mut overrides = vec![
        "listeners=PLAINTEXT://127.0.0.1:{port},REPLICATION://localhost:0".to_string(),
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,REPLICATION:SSL".to_string(),
        "inter.broker.listener.name=REPLICATION".to_string(),
        "replica.lag.time.max.ms=10000".to_string(),
    ];
    // Followers present the broker certificate: the listener requires one.
    overrides.extend(certs.broker_settings("replication", "required"));
    let refs: Vec<&str> = overrides.iter().map(String::as_str).collect();
    let mut cluster = Cluster::start(&refs);
    let survivors =
        crate::security::replicate_and_survive_a_leader_kill(&mut cluster, "tls-replicated");
    support::wait_until(T, "a follower's certificate in a survivor's log", || {
        survivors.iter().any(|&b| {
            cluster
                .broker(b)
                .server_log()
                .contains("principal=User:CN=localhost,OU=Brokers,O=Acme,C=FR")
        })
    });
}

#[test]
fn tls_settings_the_broker_cannot_serve_stop_it_with_one_clear_line() {
    let Some(certs) = Certs::new() else { return };
    let broker_pem = format!("ssl.keystore.location={}", certs.file("broker.pem"));
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["ssl.keystore.location=/nonexistent/broker.pem".into()], "cannot read"),
        (vec!["ssl.keystore.type=JKS".into(), broker_pem.clone()], "only PEM stores are supported"),
        (vec![broker_pem.clone(), "ssl.client.auth=required".into()], "ssl.truststore"),
        (vec![broker_pem.clone(), "ssl.enabled.protocols=TLSv1".into()], "TLSv1 is not offered"),
        (
            vec![broker_pem, "ssl.cipher.suites=TLS_RSA_WITH_NULL_MD5".into()],
            "unknown cipher suite",
        ),
    ];
    for (settings, want) in cases {
        let err = refused_start(&settings);
        assert!(err.contains(want), "{want}: {err}");
    }
}

/// Starts a broker with an SSL listener and `settings` that must stop it;
/// returns what it wrote to stderr.
fn refused_start(settings: &[String]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "server-start".to_string(),
        "--override".into(),
        format!("listeners=SSL://127.0.0.1:{}", support::free_port()),
        "--override".into(),
        "security.inter.broker.protocol=SSL".into(),
        "--override".into(),
        format!("log.dirs={}", dir.path().display()),
        "--override".into(),
        "embedded.zookeeper.port=0".into(),
    ];
    for s in settings {
        args.extend(["--override".into(), s.clone()]);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = support::kafka_rs(&refs, None, T);
    let err = support::stderr(&out);
    assert!(!out.status.success(), "{settings:?}: started anyway");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn encrypted_pkcs8_keys_open_with_ssl_key_password_and_a_wrong_one_stops_the_start() {
    let Some(certs) = Certs::new() else { return };
    // What `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes: PBES2 with
    // PBKDF2 and AES-256-CBC.
    for name in ["broker", "alice"] {
        let out = support::run_with_timeout(
            Command::new(support::external_tool("openssl").unwrap())
                .args(["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout"])
                .arg(format!("pass:{name}-key-secret"))
                .args(["-in", &format!("{name}.key"), "-out", &format!("{name}.enc.key")])
                .current_dir(&certs.path),
            None,
            T,
        );
        assert!(out.status.success(), "openssl pkcs8: {}", support::stderr(&out));
    }
    let read = |f: &str| std::fs::read_to_string(certs.path.join(f)).unwrap();
    assert!(read("broker.enc.key").contains("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    std::fs::write(
        certs.path.join("broker-enc.pem"),
        [read("broker.crt"), read("broker.enc.key")].concat(),
    )
    .unwrap();
    let keystore =
        format!("listener.name.ssl.ssl.keystore.location={}", certs.file("broker-enc.pem"));
    let (_broker, ssl) = ssl_broker(
        &certs,
        "required",
        &[&keystore, "listener.name.ssl.ssl.key.password=broker-key-secret"],
    );

    // Our CLI with the client key encrypted inline in ssl.keystore.key.
    let flat = |f: &str| read(f).replace('\n', " ");
    let client = |password: &str| {
        let path = certs.path.join(format!("enc-{password}.properties"));
        let text = format!(
            "security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={}\n\
             ssl.keystore.type=PEM\nssl.keystore.certificate.chain={}\n\
             ssl.keystore.key={}\nssl.key.password={password}\n",
            certs.file("ca.pem"),
            flat("alice.crt"),
            flat("alice.enc.key"),
        );
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let good = client("alice-key-secret");
    let bs = format!("localhost:{ssl}");
    let topics = |props: &str| {
        let args = ["topics", "--bootstrap-server", &bs, "--command-config", props];
        support::kafka_rs(&[&args[..], &["--create", "--topic", "enc-t"]].concat(), None, T)
    };
    let out = topics(&good);
    assert!(out.status.success(), "topics --create: {}", support::stderr(&out));
    let out = topics(&client("not-the-password"));
    let err = support::stderr(&out);
    assert!(!out.status.success(), "a wrong client key password connected");
    assert!(
        err.contains("ssl.key.password") && err.contains("wrong password for the key"),
        "{err}"
    );

    // kcat (librdkafka) with its own encrypted key and ssl.key.password.
    if let Some(kcat) = support::external_tool("kcat") {
        let kcat_cmd = |args: &[&str]| {
            let mut cmd = certs.kcat(&kcat, ssl, None, "ca.pem");
            cmd.args(["-X", &format!("ssl.certificate.location={}", certs.file("alice.crt"))])
                .args(["-X", &format!("ssl.key.location={}", certs.file("alice.enc.key"))])
                .args(["-X", "ssl.key.password=alice-key-secret"])
                .args(args);
            cmd
        };
        let out = support::run_with_timeout(
            &mut kcat_cmd(&["-P", "-t", "enc-t"]),
            Some(b"over-encrypted-keys\n"),
            T,
        );
        assert!(out.status.success(), "kcat -P: {}", support::stderr(&out));
        let out = support::run_with_timeout(
            &mut kcat_cmd(&["-C", "-t", "enc-t", "-o", "beginning", "-e", "-q"]),
            None,
            T,
        );
        assert_eq!(support::stdout(&out), "over-encrypted-keys\n", "{}", support::stderr(&out));
    }

    // A broker given the wrong password, or none, does not start.
    let store = format!("ssl.keystore.location={}", certs.file("broker-enc.pem"));
    let err = refused_start(&[store.clone(), "ssl.key.password=wrong".into()]);
    assert!(
        err.contains("ssl.key.password") && err.contains("wrong password for the key"),
        "{err}"
    );
    assert!(
        !err.contains("wrong\n") && !err.contains("=wrong"),
        "the password is not shown: {err}"
    );
    let err = refused_start(&[store]);
    assert!(err.contains("ssl.key.password is not set"), "{err}");
}
