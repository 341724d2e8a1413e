//! `producer-perf-test --transactional-id --transaction-duration-ms`: our
//! own transactional producer, checked through read_committed consumers
//! and the `transactions` tool: commits every transaction, is fenced by a
//! newer producer with the same id, and a killed one's open transaction is
//! aborted by the coordinator after `transaction.timeout.ms`.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::broker_support::Broker;
use crate::support::{self, stderr, stdout, ChildGuard};
use crate::transactions::SINGLE;

const T: Duration = Duration::from_secs(120);

fn broker() -> Broker {
    let mut overrides = SINGLE.to_vec();
    // Expired transactions are looked for every half second, not every 10 s.
    overrides.push("transaction.abort.timed.out.transaction.cleanup.interval.ms=500");
    Broker::start(&overrides)
}

fn cli(args: &[&str]) -> String {
    let out = support::kafka_rs(args, None, T);
    assert!(out.status.success(), "{args:?} failed:\n{}\n{}", stdout(&out), stderr(&out));
    stdout(&out)
}

fn create_topic(broker: &Broker, topic: &str, partitions: &str) {
    let addr = broker.addr();
    cli(&[
        "topics",
        "--bootstrap-server",
        &addr,
        "--create",
        "--topic",
        topic,
        "--partitions",
        partitions,
        "--replication-factor",
        "1",
    ]);
}

/// The values a console consumer at `isolation` reads from the beginning
/// before `limits` (--timeout-ms, --max-messages) stop it.
fn console_consumer(broker: &Broker, topic: &str, isolation: &str, limits: &[&str]) -> Vec<String> {
    let addr = broker.addr();
    let mut args = vec!["console-consumer", "--bootstrap-server", &addr, "--topic", topic];
    args.extend(["--from-beginning", "--isolation-level", isolation]);
    args.extend_from_slice(limits);
    cli(&args).lines().map(str::to_string).collect()
}

/// Every value that can be read: the consumer stops after 10 s without one.
fn consume(broker: &Broker, topic: &str, isolation: &str) -> Vec<String> {
    console_consumer(broker, topic, isolation, &["--timeout-ms", "10000"])
}

/// Records in `topic` (all isolation levels), from the log end offsets.
fn log_end(broker: &Broker, topic: &str) -> i64 {
    let addr = broker.addr();
    let out = cli(&["get-offsets", "--bootstrap-server", &addr, "--topic", topic]);
    out.lines().filter_map(|l| l.rsplit(':').next()?.trim().parse::<i64>().ok()).sum()
}

/// `transactions describe` as (state, row).
fn describe(broker: &Broker, id: &str) -> (String, String) {
    let addr = broker.addr();
    let out =
        cli(&["transactions", "--bootstrap-server", &addr, "describe", "--transactional-id", id]);
    let row = out.lines().nth(1).unwrap_or_else(|| panic!("no row: {out}")).to_string();
    let state = row.split('\t').nth(4).unwrap_or_default().trim().to_string();
    (state, row)
}

fn payload_file(dir: &tempfile::TempDir, name: &str, payload: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, format!("{payload}\n")).unwrap();
    path.display().to_string()
}

/// A perf test in the background, its output piped.
fn spawn_perf_test(name: &str, args: &[&str]) -> ChildGuard {
    let mut cmd = Command::new(support::bin());
    cmd.arg("producer-perf-test").args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    ChildGuard::spawn(name, &mut cmd)
}

fn wait_exit(child: &mut ChildGuard, what: &str) -> std::process::ExitStatus {
    let mut status = None;
    support::wait_until(T, what, || {
        status = child.try_wait();
        status.is_some()
    });
    status.expect("exited")
}

#[test]
fn perf_test_transactions_are_committed_and_read_committed_sees_every_record() {
    let broker = broker();
    create_topic(&broker, "ppt-txn", "3");
    let addr = broker.addr();
    let props = format!("bootstrap.servers={addr}");
    // 10 000 records/s for 5 000 records: about five 100 ms transactions.
    let out = cli(&[
        "producer-perf-test",
        "--topic",
        "ppt-txn",
        "--num-records",
        "5000",
        "--record-size",
        "100",
        "--throughput",
        "10000",
        "--producer-props",
        &props,
        "--transactional-id",
        "t1",
        "--transaction-duration-ms",
        "100",
    ]);
    let last = out.lines().last().unwrap_or_default();
    assert!(last.starts_with("5000 records sent, "), "Kafka's final line: {out}");
    assert!(last.ends_with(" ms 99.9th."), "{out}");

    let committed = consume(&broker, "ppt-txn", "read_committed");
    assert_eq!(committed.len(), 5000, "every record committed, each seen once");
    assert!(committed.iter().all(|v| v.len() == 100), "100-byte records");
    assert!(
        log_end(&broker, "ppt-txn") > 5000 + 3,
        "control markers beside the records: several transactions on each partition"
    );

    let (state, row) = describe(&broker, "t1");
    assert_eq!(state, "CompleteCommit", "{row}");
    let list = cli(&["transactions", "--bootstrap-server", &addr, "list"]);
    let listed = list.lines().find(|l| l.split('\t').next().map(str::trim) == Some("t1"));
    let listed = listed.unwrap_or_else(|| panic!("t1 listed: {list}"));
    assert_eq!(listed.split('\t').nth(3).map(str::trim), Some("CompleteCommit"), "{list}");
}

#[test]
fn perf_test_with_the_same_transactional_id_fences_the_running_one() {
    let broker = broker();
    create_topic(&broker, "ppt-fence", "1");
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (payload_file(&dir, "a", "AAAA"), payload_file(&dir, "b", "BBBB"));
    let props = format!("bootstrap.servers={}", broker.addr());
    let common = |payloads: &str, records: &str, throughput: &str| {
        [
            "--topic",
            "ppt-fence",
            "--num-records",
            records,
            "--payload-file",
            payloads,
            "--throughput",
            throughput,
            "--producer-props",
            &props,
            "--transactional-id",
            "fz",
            "--transaction-duration-ms",
            "100",
        ]
        .map(str::to_string)
    };
    // Paced to run for minutes unless something stops it.
    let args = common(&a, "400000", "2000");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut first = spawn_perf_test("first perf test", &args);
    support::wait_until(T, "the first producer to commit", || {
        !consume_quick(&broker, "ppt-fence").is_empty()
    });

    let args = common(&b, "1000", "-1");
    let mut second = vec!["producer-perf-test"];
    second.extend(args.iter().map(String::as_str));
    let out = cli(&second);
    assert!(out.contains("1000 records sent, "), "{out}");

    let status = wait_exit(&mut first, "the fenced producer to stop");
    let err = first.stderr_text();
    assert!(!status.success(), "fencing is fatal: {err}");
    assert!(
        err.contains(
            "There is a newer producer with the same transactionalId which fences the current one."
        ),
        "Kafka's ProducerFencedException message: {err}"
    );

    let values = consume(&broker, "ppt-fence", "read_committed");
    let first_b = values.iter().position(|v| v == "BBBB").expect("the new producer's records");
    assert!(first_b > 0, "the first producer committed before it was fenced");
    assert!(values[..first_b].iter().all(|v| v == "AAAA"), "only the two payloads");
    assert_eq!(
        values[first_b..].iter().filter(|v| *v == "BBBB").count(),
        1000,
        "every record of the new producer, once"
    );
    assert!(
        values[first_b..].iter().all(|v| v == "BBBB"),
        "nothing the fenced producer sent after the fence is visible"
    );
    let (state, row) = describe(&broker, "fz");
    assert_eq!(state, "CompleteCommit", "{row}");
}

/// What read_committed shows right now (a short wait, for polling).
fn consume_quick(broker: &Broker, topic: &str) -> Vec<String> {
    console_consumer(
        broker,
        topic,
        "read_committed",
        &["--max-messages", "1", "--timeout-ms", "2000"],
    )
}

#[test]
fn a_killed_perf_tests_open_transaction_is_aborted_after_its_timeout() {
    let broker = broker();
    create_topic(&broker, "ppt-kill", "2");
    let props = format!("bootstrap.servers={}", broker.addr());
    // One transaction meant to last ten minutes, but a 10 s transaction
    // timeout: the coordinator aborts it once the producer is gone.
    let mut perf = spawn_perf_test(
        "perf test",
        &[
            "--topic",
            "ppt-kill",
            "--num-records",
            "400000",
            "--record-size",
            "50",
            "--throughput",
            "2000",
            "--producer-props",
            &props,
            "transaction.timeout.ms=10000",
            "--transactional-id",
            "killed",
            "--transaction-duration-ms",
            "600000",
        ],
    );
    support::wait_until(T, "records of the open transaction in the log", || {
        log_end(&broker, "ppt-kill") > 0
    });
    let (state, row) = describe(&broker, "killed");
    assert_eq!(state, "Ongoing", "{row}");
    perf.kill9();
    support::wait_until(T, "the coordinator to abort the expired transaction", || {
        describe(&broker, "killed").0 == "CompleteAbort"
    });
    let written = log_end(&broker, "ppt-kill");
    assert!(consume(&broker, "ppt-kill", "read_committed").is_empty(), "nothing was committed");
    let all = consume(&broker, "ppt-kill", "read_uncommitted");
    assert!(!all.is_empty() && (all.len() as i64) < written, "records, and abort markers");
}
