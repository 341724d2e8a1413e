//! The broker against clients we did not write: kcat (Debian, librdkafka
//! 2.0.2), confluent-kafka (librdkafka 2.16) and kafka-python; and kill -9
//! during a produce stream. Gated on the tools being installed.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::broker_support::Broker;
use crate::support::{self, external_tool, python, run_with_timeout, stderr, stdout, ChildGuard};

fn script(name: &str) -> String {
    support::repo().join("tests/interop").join(name).display().to_string()
}

fn kcat_produce(
    kcat: &std::path::Path,
    broker: &Broker,
    topic: &str,
    extra: &[&str],
    input: &[u8],
) {
    let out = run_with_timeout(
        Command::new(kcat).args(["-P", "-b", &broker.addr(), "-t", topic]).args(extra),
        Some(input),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "kcat -P {extra:?}: {}", stderr(&out));
}

fn kcat_consume(kcat: &std::path::Path, broker: &Broker, topic: &str, format: &str) -> String {
    let out = run_with_timeout(
        Command::new(kcat).args([
            "-C",
            "-b",
            &broker.addr(),
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            format,
        ]),
        None,
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "kcat -C: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn kcat_keys_headers_and_every_codec() {
    let Some(kcat) = external_tool("kcat") else { return };
    let broker = Broker::start(&[]);
    let lines: String = (0..10_000).map(|i| format!("key{i}:value {i}\n")).collect();
    kcat_produce(
        &kcat,
        &broker,
        "kcat-plain",
        &["-K:", "-H", "source=kcat", "-H", "n=1"],
        lines.as_bytes(),
    );
    let got = kcat_consume(&kcat, &broker, "kcat-plain", "%k|%s|%h\n");
    let want: String = (0..10_000).map(|i| format!("key{i}|value {i}|source=kcat,n=1\n")).collect();
    assert!(
        got == want,
        "10,000 keyed records with headers come back in order ({} bytes vs {})",
        got.len(),
        want.len()
    );
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("kcat-{codec}");
        let lines: String = (0..10_000).map(|i| format!("{codec} line {i}\n")).collect();
        kcat_produce(&kcat, &broker, &topic, &["-z", codec], lines.as_bytes());
        let got = kcat_consume(&kcat, &broker, &topic, "%s\n");
        assert!(got == lines, "{codec}: 10,000 lines come back in order");
    }
}

fn run_python(args: &[&str], timeout: Duration) -> String {
    let py = python().expect("checked by caller");
    let out = run_with_timeout(Command::new(py).args(args), None, timeout);
    assert!(out.status.success(), "{args:?} failed:\n{}\n{}", stdout(&out), stderr(&out));
    stdout(&out)
}

#[test]
fn confluent_kafka_admin_idempotence_and_list_offsets() {
    if python().is_none() {
        return;
    }
    let broker = Broker::start(&[]);
    let out = run_python(
        &[&script("broker_confluent.py"), &broker.addr(), "100000"],
        Duration::from_secs(240),
    );
    assert!(
        out.contains("cf-acks-all-idem: 100000 records ok") && out.contains("list offsets ok"),
        "{out}"
    );
}

#[test]
fn kafka_python_round_trip_and_admin() {
    if python().is_none() {
        return;
    }
    let broker = Broker::start(&[]);
    let out =
        run_python(&[&script("broker_kafka_python.py"), &broker.addr()], Duration::from_secs(120));
    assert!(out.contains("kafka-python ok"), "{out}");
}

/// Kill -9 while a producer streams with acks=1 and with acks=all, restart:
/// everything acknowledged is in the log, in order.
#[test]
fn kill_9_keeps_acknowledged_records() {
    let Some(py) = python() else { return };
    for acks in ["1", "all"] {
        let broker = Broker::start(&[]);
        let topic = format!("crash-{acks}");
        let acked = broker.dir.path().join("acked.txt");
        let mut producer = ChildGuard::spawn(
            "producer",
            Command::new(&py)
                .args([&script("broker_crash.py"), "produce", &broker.addr(), &topic, acks])
                .arg(&acked)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        support::wait_until(Duration::from_secs(60), "20,000 acknowledged records", || {
            std::fs::read_to_string(&acked).is_ok_and(|s| s.lines().count() >= 20_000)
        });
        let dir = broker.kill9();
        producer.kill9();
        let broker = Broker::start_in(dir, &[]);
        let acked = broker.dir.path().join("acked.txt");
        let out = run_python(
            &[
                &script("broker_crash.py"),
                "verify",
                &broker.addr(),
                &topic,
                &acked.display().to_string(),
            ],
            Duration::from_secs(120),
        );
        assert!(out.contains("none lost"), "acks={acks}: {out}");
    }
}
