//! Our ZooKeeper server's files over many runs and bad moments: a snapshot
//! at every start that recovered something and at every clean stop, old
//! snapshots and logs purged, and a full disk that fails writes only while
//! it is full.

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
    let mut all = Vec::new();
    for run in 0..5 {
        let paths: Vec<String> = (0..20).map(|i| format!("/run{run}-{i}")).collect();
        let last = create_all(port, &paths);
        all.extend(paths);
        if run == 0 {
            // The empty tree of a fresh start is what a start with no files
            // rebuilds: no snapshot of it, and no fsyncs before the first
            // session for one.
            assert_eq!(zxids(dir.path(), "snapshot."), Vec::<i64>::new());
        }
        server.kill9();
        server = zk_harness::spawn_ours(dir.path(), port, "autopurge.snapRetainCount=3");
        support::wait_until(Duration::from_secs(10), "a snapshot of what the log held", || {
            zxids(dir.path(), "snapshot.").last().is_some_and(|z| *z >= last)
        });
    }
    // What is left is exactly what recovering each kept snapshot needs: the
    // log each run started after it.
    let needed = |snaps: &[i64]| snaps.iter().map(|s| s + 1).collect::<Vec<_>>();
    support::wait_until(Duration::from_secs(10), "the oldest snapshots and logs to go", || {
        let snaps = zxids(dir.path(), "snapshot.");
        snaps.len() == 3 && zxids(dir.path(), "log.") == needed(&snaps)
    });
    verify(port, &all);

    // A clean stop snapshots what was written since the start; that
    // snapshot alone is enough: without any log, nothing is lost.
    let last_run = vec!["/last-run".to_string()];
    let last = create_all(port, &last_run);
    all.extend(last_run);
    server.terminate(Duration::from_secs(20));
    let newest = zxids(dir.path(), "snapshot.").last().copied().unwrap_or(0);
    assert!(newest >= last, "snapshot at {newest:#x} after a clean stop at {last:#x} or later");
    for z in zxids(dir.path(), "log.") {
        std::fs::remove_file(dir.path().join(format!("kafka-rs-1/log.{z:x}"))).unwrap();
    }
    let _server = zk_harness::spawn_ours(dir.path(), port, "");
    verify(port, &all);
}

/// A tmpfs of `size` (`mount -t tmpfs`), unmounted when dropped, also when
/// the test fails; `None` where mounting is not allowed.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = support::run_with_timeout(
            std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir.path()),
            None,
            Duration::from_secs(10),
        );
        if !out.status.success() {
            support::skip(&format!("cannot mount a tmpfs: {}", support::stderr(&out)));
            return None;
        }
        Some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a server killed a moment ago may still hold files open.
        let _ = std::process::Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Writes `path` until the disk is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![7u8; 64 * 1024];
    for _ in 0..10_000 {
        if let Err(e) = f.write_all(&chunk).and_then(|_| f.sync_all()) {
            assert_eq!(e.raw_os_error(), Some(28), "filling {}: {e}", path.display());
            // The last page may still hold a few bytes: take those too.
            for _ in 0..4096 {
                if f.write_all(&[7u8]).is_err() {
                    return;
                }
            }
            return;
        }
    }
    panic!("{} never filled up", path.display());
}

/// What one write got: acknowledged, refused, or lost with its connection.
#[derive(Debug, PartialEq)]
enum Outcome {
    Acked,
    Refused(i32),
    ConnectionLost,
}

fn try_create(c: &mut Raw, xid: i32, path: &str) -> Outcome {
    match c.call(xid, CREATE, &create_body(path, path.as_bytes(), 0)) {
        Ok(r) if r.err == 0 => Outcome::Acked,
        Ok(r) => Outcome::Refused(r.err),
        Err(_) => Outcome::ConnectionLost,
    }
}

/// Issue 17, item 6: after ENOSPC the server stopped for good ("the
/// transaction log failed, the server stopped"), even once space returned.
#[test]
fn r17_a_full_disk_fails_writes_only_while_it_is_full() {
    const NOT_READ_ONLY: i32 = -119;
    let Some(disk) = Tmpfs::mount("2m") else { return };
    let home = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let extra = format!("dataDir={}", disk.path().display());
    let mut server = zk_harness::spawn_ours(home.path(), port, &extra);
    let mut c = Raw::connect(port, 10_000).unwrap();
    let mut acked: Vec<String> = (0..20).map(|i| format!("/before-{i}")).collect();
    create_all(port, &acked);

    fill(&disk.path().join("ballast"));
    // The log's last page may take a few more records; then a write fails.
    let mut lost = Vec::new();
    for i in 0..400 {
        let p = format!("/during-{i}");
        match try_create(&mut c, i, &p) {
            Outcome::Acked => acked.push(p),
            Outcome::ConnectionLost => {
                lost.push(p);
                break;
            }
            other => panic!("{p}: {other:?} before any write failed"),
        }
    }
    assert_eq!(lost.len(), 1, "a write failed on the full disk");
    let log = std::fs::read_to_string(home.path().join("server.log")).unwrap();
    let line = log.lines().find(|l| l.contains("transaction log write failed")).unwrap_or("");
    assert!(
        line.contains("ENOSPC")
            && line.contains(&format!("{}/kafka-rs-1/log.", disk.path().display())),
        "the error names the OS error and the file: {line:?}"
    );

    // The session lives on; writes are refused, reads are served.
    let mut c = Raw::reconnect(port, 10_000, c.session, &c.password, 0).unwrap();
    // Refused for as long as the disk stays full, across several probes.
    for (xid, wait) in [(1, 0), (2, 600), (3, 600)] {
        std::thread::sleep(Duration::from_millis(wait));
        assert_eq!(try_create(&mut c, xid, "/refused"), Outcome::Refused(NOT_READ_ONLY));
    }
    let r = c.call(2, 4, &zk_harness::path_body("/before-3", false)).unwrap();
    assert_eq!((r.err, &r.body[4..13]), (0, &b"/before-3"[..]), "reads are served");
    assert_eq!(zk_harness::four_letter(port, "isro"), "ro");
    // New clients connect and read too; their sessions are logged later.
    let mut newcomer = Raw::connect(port, 10_000).unwrap();
    let r = newcomer.call(1, 4, &zk_harness::path_body("/before-4", false)).unwrap();
    assert_eq!((r.err, &r.body[4..13]), (0, &b"/before-4"[..]));
    let mut passing = Raw::connect(port, 10_000).unwrap();
    assert_eq!(passing.call(1, -11, b"").unwrap().err, 0, "closeSession needs no write");
    assert!(passing.is_closed());
    for p in lost.iter().chain(["/refused".to_string()].iter()) {
        let r = c.call(3, 3, &zk_harness::path_body(p, false)).unwrap();
        assert_eq!(r.err, -101, "{p} was never acknowledged and is not there");
    }

    // Space comes back: writes succeed again, without a restart.
    std::fs::remove_file(disk.path().join("ballast")).unwrap();
    let mut xid = 10;
    support::wait_until(Duration::from_secs(20), "writes to be accepted again", || {
        xid += 1;
        match try_create(&mut c, xid, "/after-0") {
            Outcome::Acked => true,
            Outcome::Refused(NOT_READ_ONLY) => false,
            other => panic!("/after-0: {other:?}"),
        }
    });
    acked.push("/after-0".into());
    let after: Vec<String> = (1..20).map(|i| format!("/after-{i}")).collect();
    create_all(port, &after);
    acked.extend(after);
    // The session opened while the disk was full is a full session now:
    // it may own an ephemeral node, which is there after a restart.
    let eph = "/after-ephemeral".to_string();
    let r = newcomer.call(2, CREATE, &create_body(&eph, eph.as_bytes(), 1)).unwrap();
    assert_eq!(r.err, 0);
    acked.push(eph);
    assert_eq!(zk_harness::four_letter(port, "isro"), "rw");

    // Nothing acknowledged is lost, nothing else appears, after kill -9.
    server.kill9();
    let _server = zk_harness::spawn_ours(home.path(), port, &extra);
    verify(port, &acked);
    let back = Raw::reconnect(port, 10_000, newcomer.session, &newcomer.password, 0).unwrap();
    assert_eq!(back.session, newcomer.session, "the session opened while full was logged");
    let mut c = Raw::connect(port, 10_000).unwrap();
    for p in lost.iter().chain(["/refused".to_string()].iter()) {
        let r = c.call(1, 3, &zk_harness::path_body(p, false)).unwrap();
        assert_eq!(r.err, -101, "{p} is not there after a restart either");
    }
}

/// Issue 17, item 6, inside a broker: the embedded ZooKeeper on a full
/// disk stopped for good, so topics could not be created even once space
/// returned.
#[test]
fn r17_the_embedded_zookeeper_takes_topics_again_once_space_returns() {
    let Some(disk) = Tmpfs::mount("4m") else { return };
    let zk = format!("127.0.0.1:{}", support::free_port());
    let _broker = crate::broker_support::Broker::start(&[
        &format!("embedded.zookeeper.port={}", zk.rsplit(':').next().unwrap()),
        &format!("log.dirs={}", disk.path().join("data").display()),
    ]);
    let topics = |args: &[&str]| {
        let mut all = vec!["topics", "--zookeeper", &zk];
        all.extend_from_slice(args);
        support::kafka_rs(&all, None, Duration::from_secs(30))
    };
    let create = |t: &str| {
        topics(&["--create", "--topic", t, "--partitions", "1", "--replication-factor", "1"])
    };
    support::wait_until(Duration::from_secs(30), "the broker to take a topic", || {
        create("before").status.success()
    });

    fill(&disk.path().join("ballast"));
    // The log's last page may take one more topic; then creation fails.
    let mut created = vec!["before".to_string()];
    let mut failed = Vec::new();
    for i in 0..20 {
        let t = format!("full-{i}");
        let out = create(&t);
        if !out.status.success() {
            // The failures before the coordinator turns read-only vary with
            // timing (the log's ENOSPC, or the connection its rollback
            // closes); the first one after it must say read only.
            let err = support::stderr(&out);
            let read_only = err.contains("read only");
            failed.push((t, err));
            if read_only {
                break;
            }
        } else if failed.is_empty() {
            created.push(t);
        } else {
            panic!("{t} was created after a creation failed: the disk is still full");
        }
    }
    let (_, last_error) = failed.last().expect("creating topics on a full disk fails");
    assert!(last_error.contains("read only"), "a write is refused, not lost: {failed:?}");
    let out = topics(&["--list"]);
    assert!(out.status.success(), "reads work on a full disk: {}", support::stderr(&out));

    std::fs::remove_file(disk.path().join("ballast")).unwrap();
    support::wait_until(Duration::from_secs(30), "a topic to be created again", || {
        create("after").status.success()
    });
    created.push("after".into());
    // A creation refused because the topic's log could not be made may
    // leave the topic behind when the full disk also refused taking it
    // back; the refusal said so, and only then may the topic exist.
    let unsure: Vec<&String> = failed
        .iter()
        .filter(|(_, err)| err.contains("could not be taken back"))
        .map(|(t, _)| t)
        .collect();
    let out = topics(&["--list"]);
    let listed: Vec<String> = support::stdout(&out)
        .lines()
        .filter(|t| !unsure.iter().any(|u| u.as_str() == *t))
        .map(str::to_string)
        .collect();
    created.sort();
    assert_eq!(listed, created, "every created topic and none of the refused ones");
}
