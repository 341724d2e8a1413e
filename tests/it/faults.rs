//! The fault-injection harness (scripts/faults): its checker must flag each
//! kind of violation in hand-written histories, and a short run of every
//! scenario this machine supports must end with no violation.

use std::process::Command;
use std::time::Duration;

use crate::support::{self, python, run_with_timeout, stderr, stdout};

/// The checker needs only the standard library, so its tests run wherever
/// a python3 exists, even without the client venv.
#[test]
fn checker_flags_lost_duplicated_reordered_and_backward_offsets() {
    let Some(py) = python().or_else(|| support::which("python3")) else { return };
    let out = run_with_timeout(
        Command::new(py)
            .args(["-m", "unittest", "-v", "faultlib.test_checker"])
            .current_dir(support::repo().join("scripts")),
        None,
        Duration::from_secs(60),
    );
    let log = stderr(&out);
    assert!(out.status.success(), "checker tests failed:\n{log}");
    for case in [
        "test_lost_record_is_flagged_with_its_ack",
        "test_duplicate_from_idempotent_producer_is_flagged",
        "test_reordered_records_are_flagged",
        "test_committed_offset_going_backwards_is_flagged",
    ] {
        assert!(log.contains(&format!("{case} ")), "{case} did not run:\n{log}");
    }
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
    }
    assert!(out_dir.path().join("single-kill/history.svg").exists(), "{text}");
}
