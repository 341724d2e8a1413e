//! Our ZooKeeper server's files over many runs and bad moments: a snapshot
//! at every start, old snapshots and logs purged, and a full disk that
//! fails writes only while it is full.

use std::path::Path;
use std::time::Duration;

use crate::support;
use crate::zk_crash::verify;
use crate::zk_harness::{self, create_body, Raw};

const CREATE: i32 = 1;

/// The zxids of the `prefix` files (`snapshot.`, `log.`) in a data dir.
fn zxids(dir: &Path, prefix: &str) -> Vec<i64> {
    let mut v: Vec<i64> = std::fs::read_dir(dir.join("kafka-rs-1"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    i64::from_str_radix(name.strip_prefix(prefix)?, 16).ok()
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort_unstable();
    v
}

/// Creates `paths` (each holding its own name) on one session; returns the
/// zxid of the last create.
fn create_all(port: u16, paths: &[String]) -> i64 {
    let mut c = Raw::connect(port, 30_000).unwrap();
    let mut zxid = 0;
    for (i, p) in paths.iter().enumerate() {
        let r = c.call(i as i32 + 1, CREATE, &create_body(p, p.as_bytes(), 0)).unwrap();
        assert_eq!(r.err, 0, "create {p}");
        zxid = r.zxid;
    }
    zxid
}

/// Issue 17, item 8: the server only snapshotted after `snapCount`
/// transactions in one run, so every start replayed every log ever written.
#[test]
fn r17_every_start_snapshots_and_old_files_are_purged() {
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let mut server = zk_harness::spawn_ours(dir.path(), port, "autopurge.snapRetainCount=3");
    support::wait_until(Duration::from_secs(10), "a snapshot of the empty tree", || {
        zxids(dir.path(), "snapshot.") == [0]
    });
    let mut all = Vec::new();
    for run in 0..5 {
        let paths: Vec<String> = (0..20).map(|i| format!("/run{run}-{i}")).collect();
        let last = create_all(port, &paths);
        all.extend(paths);
        server.kill9();
        server = zk_harness::spawn_ours(dir.path(), port, "autopurge.snapRetainCount=3");
        support::wait_until(Duration::from_secs(10), "a snapshot of what the log held", || {
            zxids(dir.path(), "snapshot.").last().is_some_and(|z| *z >= last)
        });
    }
    support::wait_until(Duration::from_secs(10), "the oldest snapshots to be purged", || {
        zxids(dir.path(), "snapshot.").len() == 3
    });
    // What is left is exactly what recovering each kept snapshot needs: the
    // log each run started after it.
    let snaps = zxids(dir.path(), "snapshot.");
    let logs = zxids(dir.path(), "log.");
    assert_eq!(logs, snaps.iter().map(|s| s + 1).collect::<Vec<_>>(), "snapshots {snaps:x?}");
    verify(port, &all);

    // The newest snapshot alone is enough: without any log, nothing is lost.
    server.terminate(Duration::from_secs(20));
    for z in logs {
        std::fs::remove_file(dir.path().join(format!("kafka-rs-1/log.{z:x}"))).unwrap();
    }
    let _server = zk_harness::spawn_ours(dir.path(), port, "");
    verify(port, &all);
}
