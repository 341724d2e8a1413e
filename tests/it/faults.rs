//! The fault-injection harness (scripts/faults): its checker must flag each
//! kind of violation in hand-written histories, its replica comparison must
//! pass replicas real brokers wrote and fail a corrupted one, and a short
//! run of every scenario this machine supports must end with no violation.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::broker_bad_input::{batch, produce_within};
use crate::replication::Cluster;
use crate::support::{self, python, run_with_timeout, stderr, stdout};

/// The checker and the harness's bounded waits need only the standard
/// library, so their tests run wherever a python3 exists, even without the
/// client venv.
#[test]
fn checker_flags_lost_duplicated_reordered_and_backward_offsets() {
    let Some(py) = python().or_else(|| support::which("python3")) else { return };
    let out = run_with_timeout(
        Command::new(py)
            .args(["-m", "unittest", "-v", "faultlib.test_checker", "faultlib.test_bounded"])
            .current_dir(support::repo().join("scripts")),
        None,
        Duration::from_secs(120),
    );
    let log = stderr(&out);
    assert!(out.status.success(), "checker tests failed:\n{log}");
    for case in [
        "test_lost_record_is_flagged_with_its_ack",
        "test_duplicate_from_idempotent_producer_is_flagged",
        "test_reordered_records_are_flagged",
        "test_reordering_is_flagged_wherever_the_configuration_promises_order",
        "test_reordering_without_an_order_promise_is_counted_not_flagged",
        "test_a_request_written_while_another_was_in_flight_elsewhere_is_found",
        "test_a_request_built_behind_one_that_failed_is_found",
        "test_committed_offset_going_backwards_is_flagged",
        "test_a_producer_whose_close_hangs_leaves_a_complete_history",
        "test_a_run_past_its_watchdog_dumps_stacks_cleans_up_and_exits",
    ] {
        assert!(log.contains(&format!("{case} ")), "{case} did not run:\n{log}");
    }
}

/// Runs the harness's replica comparison over `dirs` (broker id, log dir).
fn compare_replicas(py: &Path, topic: &str, high: i64, dirs: &[(i32, PathBuf)]) -> Output {
    let mut cmd = Command::new(py);
    cmd.args(["-m", "faultlib.replicas", "--topic", topic, "--high", &format!("0={high}")])
        .current_dir(support::repo().join("scripts"));
    for (id, dir) in dirs {
        cmd.arg(format!("{id}={}", dir.display()));
    }
    run_with_timeout(&mut cmd, None, Duration::from_secs(60))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// The comparison the harness runs after every replicated scenario, on
/// segments three real brokers wrote: once the followers caught up it
/// compares every batch and passes; a copy of one follower's partition
/// with one record byte flipped, or with its last batch cut off, fails
/// and names that broker.
#[test]
fn replica_comparison_passes_real_replicas_and_fails_a_corrupted_one() {
    let Some(py) = python().or_else(|| support::which("python3")) else { return };
    let cluster = Cluster::start(&[]);
    cluster.create("compared", &[]);
    let leader =
        cluster.wait_isr_everywhere("compared", &[1, 2, 3], Duration::from_secs(30)).leader;
    let mut wire = cluster.broker(leader).wire();
    for i in 0..30 {
        let values: Vec<Vec<u8>> = (0..10).map(|j| format!("r{i}-{j}").into_bytes()).collect();
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        let (code, base) = produce_within(&mut wire, "compared", -1, 30_000, batch(&refs));
        assert_eq!((code, base), (0, i * 10), "acks=all produce {i}");
    }
    let high = 300;
    let live: Vec<(i32, PathBuf)> = (1..=3).map(|id| (id, cluster.broker(id).data_dir())).collect();
    let mut last = None;
    support::wait_until(Duration::from_secs(30), "the replicas to compare equal", || {
        let out = compare_replicas(&py, "compared", high, &live);
        let ok = out.status.success();
        last = Some(out);
        ok
    });
    let text = stdout(last.as_ref().unwrap());
    assert!(text.contains("compared 60 batches"), "each follower's 30 batches:\n{text}");

    // Copies, so the brokers' own files stay as they wrote them.
    let copies = tempfile::tempdir().unwrap();
    let mut copied = Vec::new();
    for (id, dir) in &live {
        let to = copies.path().join(format!("b{id}"));
        copy_dir(&dir.join("compared-0"), &to.join("compared-0"));
        copied.push((*id, to));
    }
    // Not broker 1: the comparison reads the others against the lowest id.
    let follower = (1..=3).filter(|&id| id != leader).max().unwrap();
    let segment = copied[(follower - 1) as usize].1.join("compared-0/00000000000000000000.log");
    let mut bytes = std::fs::read(&segment).unwrap();
    assert!(compare_replicas(&py, "compared", high, &copied).status.success());
    // The last byte of the first batch: a record, below the high watermark.
    let first_len = 12 + u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
    bytes[first_len - 1] ^= 0x01;
    std::fs::write(&segment, &bytes).unwrap();
    let out = compare_replicas(&py, "compared", high, &copied);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "a flipped byte must fail:\n{text}{}", stderr(&out));
    assert!(text.contains("batch #0") && text.contains(&format!("and {follower}")), "{text}");

    bytes[first_len - 1] ^= 0x01;
    let last_start = {
        let mut pos = 0;
        let mut start = 0;
        while pos + 12 <= bytes.len() {
            start = pos;
            pos += 12 + u32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().unwrap()) as usize;
        }
        start
    };
    std::fs::write(&segment, &bytes[..last_start]).unwrap();
    let out = compare_replicas(&py, "compared", high, &copied);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "a missing batch must fail:\n{text}");
    assert!(text.contains(&format!("broker 1 has 30 batches, broker {follower} 29")), "{text}");
}

/// A bounded smoke of every scenario: 15 s of workload each, faults drawn
/// from a fixed seed. Scenarios that need root (namespaces, tmpfs) skip
/// themselves elsewhere.
#[test]
fn smoke_every_scenario_without_violations() {
    let Some(py) = python() else { return };
    let out_dir = tempfile::tempdir().unwrap();
    let out = run_with_timeout(
        Command::new(support::repo().join("scripts/faults"))
            .env("KAFKA_RS_PYTHON", py)
            .args(["--scenario", "smoke", "--duration", "15", "--seed", "11", "--out"])
            .arg(out_dir.path())
            .arg("--bin")
            .arg(support::bin()),
        None,
        Duration::from_secs(900),
    );
    let text = format!("{}\n{}", stdout(&out), stderr(&out));
    assert!(out.status.success(), "fault smoke found violations or failed:\n{text}");
    assert!(text.contains("single-kill"), "the smoke ran the kill -9 scenario:\n{text}");
    if std::env::var("KAFKA_RS_FAULTS_MULTI").as_deref() != Ok("0") {
        assert!(text.contains("leader-kill"), "the smoke ran the three-broker scenarios:\n{text}");
        // The replica comparison ran on what the brokers wrote.
        let stats = result_stats(out_dir.path(), "leader-kill");
        assert!(stats["replica_batches_compared"].as_u64() > Some(0), "{stats}\n{text}");
        if let Some(stats) = result_stats_if_run(out_dir.path(), "shrunk-isr-leader-kill-unclean") {
            // The 2013 loss, found: the run fails without it, and here is its size.
            assert!(stats["lost"].as_u64() > Some(0), "{stats}\n{text}");
        }
    }
    assert!(out_dir.path().join("single-kill/history.svg").exists(), "{text}");
}

fn result_stats_if_run(out: &Path, scenario: &str) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(out.join(scenario).join("result.json")).ok()?;
    let result: serde_json::Value = serde_json::from_str(&text).unwrap();
    Some(result["stats"].clone())
}

fn result_stats(out: &Path, scenario: &str) -> serde_json::Value {
    result_stats_if_run(out, scenario).unwrap_or_else(|| panic!("{scenario} wrote no result.json"))
}
