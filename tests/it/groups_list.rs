//! consumer-groups --list with --type and --state as Kafka 3.8 prints them,
//! --members --verbose of a live member, and --timeout bounding a command
//! against a broker that never answers.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::broker_support::Broker;
use crate::support::{self, kafka_rs, stderr, stdout, ChildGuard};

const T: Duration = Duration::from_secs(30);
const OVERRIDES: &[&str] =
    &["offsets.topic.replication.factor=1", "group.initial.rebalance.delay.ms=0"];

fn groups(broker: &Broker, args: &[&str]) -> std::process::Output {
    let addr = broker.addr();
    let mut all = vec!["consumer-groups", "--bootstrap-server", addr.as_str()];
    all.extend_from_slice(args);
    kafka_rs(&all, None, T)
}

fn ok(out: &std::process::Output) -> String {
    assert!(out.status.success(), "stdout: {}\nstderr: {}", stdout(out), stderr(out));
    stdout(out)
}

fn setup(broker: &Broker, topic: &str, partitions: &str) {
    let a = broker.addr();
    ok(&kafka_rs(
        &[
            "topics",
            "--bootstrap-server",
            &a,
            "--create",
            "--topic",
            topic,
            "--partitions",
            partitions,
        ],
        None,
        T,
    ));
    ok(&kafka_rs(
        &["console-producer", "--bootstrap-server", &a, "--topic", topic],
        Some(b"one\n"),
        T,
    ));
}

#[test]
fn list_with_type_and_state_filters() {
    let broker = Broker::start(OVERRIDES);
    setup(&broker, "t", "1");
    let a = broker.addr();
    ok(&kafka_rs(
        &[
            "console-consumer",
            "--bootstrap-server",
            &a,
            "--topic",
            "t",
            "--group",
            "g-a",
            "--from-beginning",
            "--max-messages",
            "1",
        ],
        None,
        T,
    ));

    let text = ok(&groups(&broker, &["--list", "--type"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [format!("{:<25} {:<20}", "GROUP", "TYPE"), format!("{:<25} {:<20}", "g-a", "Classic")]
    );

    let text = ok(&groups(&broker, &["--list", "--type", "classic", "--state"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{:<25} {:<20} {:<20}", "GROUP", "TYPE", "STATE"),
            format!("{:<25} {:<20} {:<20}", "g-a", "Classic", "Empty")
        ]
    );

    let text = ok(&groups(&broker, &["--list", "--type", "consumer"]));
    assert_eq!(text.lines().count(), 1, "no KIP-848 groups here:\n{text}");
    let text = ok(&groups(&broker, &["--list", "--state", "Stable"]));
    assert!(!text.contains("g-a"), "an Empty group is filtered out:\n{text}");
    let text = ok(&groups(&broker, &["--list", "--state", "Empty"]));
    assert!(text.contains("g-a"), "{text}");

    let out = groups(&broker, &["--list", "--type", "bogus"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Invalid types list 'bogus'. Valid types are: Consumer, Classic"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn members_verbose_shows_each_assignment() {
    let broker = Broker::start(OVERRIDES);
    setup(&broker, "events", "2");
    let mut cmd = Command::new(support::bin());
    cmd.args([
        "console-consumer",
        "--bootstrap-server",
        &broker.addr(),
        "--topic",
        "events",
        "--group",
        "live",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let _member = ChildGuard::spawn("console-consumer", &mut cmd);
    let mut last = String::new();
    support::wait_until(T, "a stable group with its assignment", || {
        last =
            stdout(&groups(&broker, &["--describe", "--group", "live", "--members", "--verbose"]));
        last.contains("events(0,1)")
    });
    let lines: Vec<&str> = last.lines().filter(|l| !l.is_empty()).collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT"]);
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row[0], "live");
    assert_eq!(&row[4..], ["2", "events(0,1)"], "{last}");

    // Without --verbose there is no assignment column.
    let text = ok(&groups(&broker, &["--describe", "--group", "live", "--members"]));
    assert!(!text.contains("ASSIGNMENT") && !text.contains("events(0,1)"), "{text}");
}

#[test]
fn timeout_bounds_a_command_against_a_silent_broker() {
    // Accepts connections and never answers a request.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let out = kafka_rs(
        &["consumer-groups", "--bootstrap-server", &addr, "--list", "--timeout", "1000"],
        None,
        T,
    );
    let took = started.elapsed();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("TimeoutException"), "{}", stderr(&out));
    assert!(took < Duration::from_secs(10), "--timeout 1000 took {took:?}");
}
