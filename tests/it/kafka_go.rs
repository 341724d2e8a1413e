//! segmentio/kafka-go's own test suite (Debian's
//! golang-github-segmentio-kafka-go-dev 0.2.1, built by Debian's Go against
//! /usr/share/gocode, offline) against one broker. The suite dials
//! localhost:9092 with broker id 1 (its docker-compose set-up), so the
//! broker runs in a network namespace of its own where it may listen on
//! 127.0.0.1:9092 without touching the host's port. Needs root for
//! `ip netns`; runs when KAFKA_RS_INTEROP=1.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{self, ChildGuard};

const SUITE: &str = "/usr/share/gocode/src/github.com/segmentio/kafka-go";
const GOPATH: &str = "/usr/share/gocode";

/// Tests left out, with why. Everything else must pass; none needs leaving
/// out today (TestConn's "writing and reading messages concurrently" long-polls
/// and produces on one connection, which the broker serves: see
/// `broker::connection`).
const SKIPPED: &[(&str, &str)] = &[];

/// Subtests whose outcome depends on a race in the client, run again (at
/// most twice) when they fail, with each retry said on stderr. kafka-go
/// sends as MaxWait its deadline less a quarter, truncated to whole
/// milliseconds, and takes an empty answer that arrives before that
/// deadline for success: a broker that answers within the truncated
/// fraction of a millisecond after MaxWait (as the timer allows) makes
/// the read "succeed" with nothing (batch.go says it trades that
/// precision away). Seen in 3 of 13 runs of the suite on one day, 1 of 5
/// of them on a build from before the list.
const RACY: &[&str] = &[
    "TestConn/reading_messages_from_an_empty_partition_should_timeout_after_reaching_the_deadline",
];

/// Passing tests and subtests expected of the run (`--- PASS` lines):
/// every test of the suite but the one it skips itself
/// (TestReadTruncatedMessages).
const EXPECTED_PASSES: usize = 251;

/// A network namespace with its loopback up, deleted on every exit path.
struct Netns {
    name: String,
}

impl Netns {
    fn create(name: &str) -> Netns {
        let ok = |args: &[&str]| Command::new("ip").args(args).status().is_ok_and(|s| s.success());
        // A namespace left by a killed run of this process id.
        let _ = Command::new("ip").args(["netns", "delete", name]).stderr(Stdio::null()).status();
        assert!(ok(&["netns", "add", name]), "ip netns add {name}");
        let ns = Netns { name: name.to_string() };
        assert!(ok(&["netns", "exec", name, "ip", "link", "set", "lo", "up"]), "lo up in {name}");
        ns
    }

    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "delete", &self.name]).status();
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// Builds the suite's test binary into `dir` (no network: GOPATH mode).
fn build_suite(dir: &Path) -> PathBuf {
    let bin = dir.join("kafka-go.test");
    let out = support::run_with_timeout(
        Command::new("go")
            .args(["test", "-c", "-o"])
            .arg(&bin)
            .arg("github.com/segmentio/kafka-go")
            .env("GO111MODULE", "off")
            .env("GOPATH", GOPATH)
            .env("GOFLAGS", "")
            .env("GOPROXY", "off")
            .env("GOCACHE", dir.join("gocache")),
        None,
        Duration::from_secs(600),
    );
    assert!(out.status.success(), "go test -c failed:\n{}", support::stderr(&out));
    bin
}

/// Polls until something accepts on 127.0.0.1:9092 inside `ns`.
fn wait_for_broker(ns: &Netns) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let probe = ns
            .command("bash")
            .args(["-c", "exec 3<>/dev/tcp/127.0.0.1/9092"])
            .stderr(Stdio::null())
            .status();
        if probe.is_ok_and(|s| s.success()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("the broker did not listen on 127.0.0.1:9092 in {}", ns.name);
}

/// The TestConn subtests other than the skipped ones, as `go test -run`
/// names them (scenario text with spaces as underscores).
fn conn_subtests() -> Vec<String> {
    let source = std::fs::read_to_string(Path::new(SUITE).join("conn_test.go")).unwrap();
    let mut names: Vec<String> = source
        .lines()
        .filter_map(|l| l.trim().strip_prefix("scenario:"))
        .map(|s| s.trim().trim_end_matches(',').trim_matches('"').replace(' ', "_"))
        .collect();
    names.push("nettest".into());
    names.retain(|n| !SKIPPED.iter().any(|(s, _)| *s == format!("TestConn/{n}")));
    names
}

/// `-test.run` patterns: every top-level test but TestConn, then TestConn's
/// subtests that are not skipped.
fn run_patterns(bin: &Path) -> Vec<String> {
    let out = support::run_with_timeout(
        Command::new(bin).args(["-test.list", ".*"]),
        None,
        Duration::from_secs(60),
    );
    let top: Vec<String> = support::stdout(&out)
        .lines()
        .filter(|l| l.starts_with("Test") && *l != "TestConn")
        .map(str::to_string)
        .collect();
    let escape = |s: &str| regex_escape(s);
    let conn: Vec<String> = conn_subtests().iter().map(|s| escape(s)).collect();
    vec![format!("^({})$", top.join("|")), format!("^TestConn$/^({})$", conn.join("|"))]
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special.then_some('\\').into_iter().chain(std::iter::once(c))
        })
        .collect()
}

#[derive(Debug, Default)]
struct Counts {
    pass: usize,
    fail: Vec<String>,
    skip: usize,
}

fn count(output: &str, counts: &mut Counts) {
    for line in output.lines().map(str::trim_start) {
        if line.starts_with("--- PASS:") {
            counts.pass += 1;
        } else if line.starts_with("--- SKIP:") {
            counts.skip += 1;
        } else if let Some(rest) = line.strip_prefix("--- FAIL:") {
            counts.fail.push(rest.trim().to_string());
        }
    }
}

#[test]
fn kafka_go_test_suite_from_debian() {
    if !support::interop_required() {
        support::skip(
            "kafka-go's suite runs with KAFKA_RS_INTEROP=1 (needs root, Go, Debian's kafka-go)",
        );
        return;
    }
    assert!(
        is_root(),
        "the kafka-go suite needs root for ip netns (scripts/test-all.sh runs as root)"
    );
    support::external_tool("go").expect("go (Debian's golang-go)");
    assert!(Path::new(SUITE).is_dir(), "golang-github-segmentio-kafka-go-dev is not installed");
    let dir = tempfile::tempdir().unwrap();
    let bin = build_suite(dir.path());
    let patterns = run_patterns(&bin);

    let ns = Netns::create(&format!("kafkars-kgo-{}", std::process::id()));
    let mut cmd = ns.command(support::bin());
    cmd.arg("server-start")
        .args(["--override", "broker.id=1"])
        .args(["--override", "listeners=PLAINTEXT://127.0.0.1:9092"])
        .args(["--override", "advertised.listeners=PLAINTEXT://localhost:9092"])
        .args(["--override", "offsets.topic.replication.factor=1"])
        .args(["--override", "group.initial.rebalance.delay.ms=0"])
        .arg("--override")
        .arg(format!("log.dirs={}", dir.path().join("data").display()))
        .env("LOG_DIR", dir.path().join("logs"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("broker.log")).unwrap());
    // Dropped before `ns`: the broker dies before its namespace goes.
    let _broker = ChildGuard::spawn("broker in netns", &mut cmd);
    wait_for_broker(&ns);

    let mut counts = Counts::default();
    let mut output = String::new();
    for pattern in &patterns {
        let out = support::run_with_timeout(
            ns.command(&bin)
                .args(["-test.v", "-test.timeout", "600s", "-test.run", pattern])
                .current_dir(SUITE),
            None,
            Duration::from_secs(700),
        );
        let text = support::stdout(&out) + &support::stderr(&out);
        count(&text, &mut counts);
        output.push_str(&text);
    }
    // A failure line is the test's name and its time: "Name (0.18s)".
    let name_of = |f: &String| f.split(' ').next().unwrap_or_default().to_string();
    for name in RACY {
        let failed = |c: &Counts| c.fail.iter().any(|f| name_of(f) == *name);
        let (parent, sub) = name.split_once('/').expect("a subtest");
        for _ in 0..2 {
            if !failed(&counts) {
                break;
            }
            eprintln!("kafka-go {name} failed; running it again (a race in the client, see RACY)");
            let pattern = format!("^{parent}$/^{}$", regex_escape(sub));
            let out = support::run_with_timeout(
                ns.command(&bin).args(["-test.v", "-test.run", &pattern]).current_dir(SUITE),
                None,
                Duration::from_secs(120),
            );
            let text = support::stdout(&out) + &support::stderr(&out);
            let mut again = Counts::default();
            count(&text, &mut again);
            if again.fail.is_empty() && again.pass == 2 {
                // The subtest and its parent, both counted as failed before;
                // the parent stays failed if another of its subtests did.
                counts.fail.retain(|f| name_of(f) != *name);
                if !counts.fail.iter().any(|f| name_of(f).starts_with(&format!("{parent}/"))) {
                    counts.fail.retain(|f| name_of(f) != parent);
                }
                counts.pass += again.pass;
            }
            output.push_str(&text);
        }
    }
    for (name, why) in SKIPPED {
        support::skip(&format!("kafka-go {name}: {why}"));
    }
    eprintln!(
        "kafka-go 0.2.1 suite: {} passed, {} failed, {} skipped by the suite, {} skipped here",
        counts.pass,
        counts.fail.len(),
        counts.skip,
        SKIPPED.len()
    );
    assert!(counts.fail.is_empty(), "kafka-go failures {:?}:\n{output}", counts.fail);
    assert_eq!(counts.pass, EXPECTED_PASSES, "kafka-go passes:\n{output}");
}
