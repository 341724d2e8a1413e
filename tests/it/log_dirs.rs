//! Log dirs under hostile or faulty conditions (issue 17): unusable
//! `log.dirs` at start-up, topic names too long for a derived file name,
//! invalid topic names written straight into ZooKeeper, a full disk.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{ApiKey, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::broker_bad_input::{self as wire_api, batch, create_topic};
use crate::broker_support::Broker;
use crate::support::{self, kafka_rs, stderr, stdout};

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Runs `cmd`, panicking with its output unless it succeeds.
fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Undoes a mount or an attribute when dropped, so a failing test leaves
/// nothing behind.
struct Undo(Vec<Command>);

impl Drop for Undo {
    fn drop(&mut self) {
        for cmd in &mut self.0 {
            let _ = cmd.output();
        }
    }
}

fn command(program: &str, args: &[&str], path: &Path) -> Command {
    let mut c = Command::new(program);
    c.args(args).arg(path);
    c
}

/// `server-start` on `log_dir`: must exit 1 at once with one line naming the
/// directory and the OS error, without binding its port.
fn assert_refused(log_dir: &Path, os_error: &str) {
    let port = support::free_port();
    let logs = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = Command::new(support::bin())
        .args(["server-start", "--override", &format!("listeners=PLAINTEXT://127.0.0.1:{port}")])
        .arg("--override")
        .arg(format!("log.dirs={}", log_dir.display()))
        .args(["--override", "embedded.zookeeper.port=0"])
        .env("LOG_DIR", logs.path())
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{}: {err}", log_dir.display());
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&format!("data directory {}", log_dir.display())) && err.contains(os_error),
        "names the dir and the OS error ({os_error}): {err}"
    );
    assert!(elapsed < Duration::from_secs(5), "at once, not after a timeout: {elapsed:?}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "nothing bound");
}

#[test]
fn r17_unusable_log_dir_is_named_at_once_before_binding() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    assert_refused(&file, "os error 20");
    assert_refused(&file.join("below"), "os error 20");
    if !is_root() {
        let ro = root.path().join("read-only");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
        assert_refused(&ro, "os error 13");
        return;
    }
    // Root ignores permission bits: an immutable dir and a read-only mount.
    let immutable = root.path().join("immutable");
    std::fs::create_dir(&immutable).unwrap();
    if command("chattr", &["+i"], &immutable).output().is_ok_and(|o| o.status.success()) {
        let _undo = Undo(vec![command("chattr", &["-i"], &immutable)]);
        assert_refused(&immutable, "os error 1");
    }
    let ro = root.path().join("ro-mount");
    std::fs::create_dir(&ro).unwrap();
    run_ok(command("mount", &["--bind"], &ro).arg(&ro));
    let _undo = Undo(vec![command("umount", &[], &ro)]);
    run_ok(&mut command("mount", &["-o", "remount,bind,ro"], &ro));
    assert_refused(&ro, "os error 30");
}

const T: Duration = Duration::from_secs(60);

fn cli_ok(broker: &Broker, args: &[&str], stdin: Option<&[u8]>) -> String {
    let addr = broker.addr();
    let mut all = vec![args[0], "--bootstrap-server", addr.as_str()];
    all.extend_from_slice(&args[1..]);
    let out = kafka_rs(&all, stdin, T);
    assert!(out.status.success(), "{all:?}: {}{}", stdout(&out), stderr(&out));
    stdout(&out)
}

fn produce(broker: &Broker, topic: &str, lines: &str) {
    cli_ok(broker, &["console-producer", "--topic", topic], Some(lines.as_bytes()));
}

fn consume_all(broker: &Broker, topic: &str, n: usize) -> String {
    let n = n.to_string();
    cli_ok(
        broker,
        &["console-consumer", "--topic", topic, "--from-beginning", "--max-messages", &n],
        None,
    )
}

fn dir_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn r17_deleting_a_topic_with_a_249_character_name_keeps_the_dir_online() {
    let broker = Broker::start(&[]);
    let long = "x".repeat(249);
    cli_ok(&broker, &["topics", "--create", "--topic", &long, "--partitions", "2"], None);
    cli_ok(&broker, &["topics", "--create", "--topic", "kept", "--partitions", "1"], None);
    produce(&broker, &long, "l1\n");
    produce(&broker, "kept", "a\nb\n");
    let data = broker.data_dir();
    support::wait_until(T, "the long topic's partition dirs", || {
        dir_names(&data).iter().filter(|n| n.starts_with(&long)).count() == 2
    });
    cli_ok(&broker, &["topics", "--delete", "--topic", &long], None);
    support::wait_until(T, "the long topic's dirs to be removed", || {
        !dir_names(&data).iter().any(|n| n.starts_with("xxxxxxxxxx"))
    });
    produce(&broker, "kept", "c\n");
    assert_eq!(consume_all(&broker, "kept", 3), "a\nb\nc\n");
    let log = broker.server_log();
    assert!(!log.contains("offline") && !log.contains("cannot delete log"), "{log}");
}

#[test]
fn r17_invalid_topic_names_written_into_zookeeper_are_skipped() {
    let zk_port = support::free_port();
    let zk = format!("127.0.0.1:{zk_port}");
    let zk_override = format!("embedded.zookeeper.port={zk_port}");
    let overrides = ["broker.id=1001", zk_override.as_str()];
    let mut broker = Broker::start(&overrides);
    cli_ok(&broker, &["topics", "--create", "--topic", "good", "--partitions", "1"], None);
    produce(&broker, "good", "a\n");
    let long = "y".repeat(300);
    let invalid = [long.as_str(), "a b", "café", "a:b"];
    for name in invalid {
        let path = format!("/brokers/topics/{name}");
        let json = r#"{"version":1,"partitions":{"0":[1001]}}"#;
        let out = kafka_rs(&["zookeeper-shell", &zk, "create", &path, json], None, T);
        assert!(out.status.success(), "create {path}: {}", stderr(&out));
    }
    let warned = |log: &str, name: &str| {
        log.matches(&format!("ignoring topic znode /brokers/topics/{name}:")).count()
    };
    support::wait_until(T, "a warning for each invalid name", || {
        let log = broker.server_log();
        invalid.iter().all(|n| warned(&log, n) > 0)
    });
    // A later change makes the broker read every topic again.
    cli_ok(&broker, &["topics", "--create", "--topic", "later", "--partitions", "1"], None);
    produce(&broker, "later", "b\n");
    produce(&broker, "good", "c\n");
    assert_eq!(consume_all(&broker, "good", 2), "a\nc\n");
    let check = |broker: &Broker| {
        let log = broker.server_log();
        for name in invalid {
            assert_eq!(warned(&log, name), 1, "one warning for {name:?}");
        }
        assert!(!log.contains("offline"), "{log}");
        let dirs = dir_names(&broker.data_dir());
        assert!(
            dirs.iter().all(|d| !d.starts_with("yyy")
                && !d.starts_with("a ")
                && !d.starts_with("caf")
                && !d.starts_with("a:")),
            "{dirs:?}"
        );
    };
    check(&broker);

    broker.child.kill9();
    let dir = std::mem::replace(&mut broker.dir, tempfile::tempdir().unwrap());
    std::fs::remove_file(dir.path().join("logs/server.log")).unwrap();
    let broker = Broker::start_in(dir, &overrides);
    produce(&broker, "good", "d\n");
    assert_eq!(consume_all(&broker, "good", 3), "a\nc\nd\n");
    support::wait_until(T, "the restarted broker to skip the invalid names", || {
        let log = broker.server_log();
        invalid.iter().all(|n| warned(&log, n) > 0)
    });
    check(&broker);
}

/// A broker (id 1) whose only log dir is a small tmpfs, with ZooKeeper's
/// data on another disk. Dropped in field order: ZooKeeper, then the mount.
struct SmallDisk {
    _zk: crate::support::ChildGuard,
    zk_port: u16,
    _unmount: Undo,
    data: PathBuf,
    dir: Option<tempfile::TempDir>,
    _zk_dir: tempfile::TempDir,
}

impl SmallDisk {
    /// A tmpfs with these mount options; None (the test is skipped)
    /// unless root, who alone may mount.
    fn mount(options: &str) -> Option<SmallDisk> {
        Self::mount_with(&["-t", "tmpfs", "-o", options, "tmpfs"], None)
    }

    /// An ext4 file system of `mb` MB in a loop device, where a full disk
    /// also means no blocks for a new directory or index.
    fn mount_ext4(mb: u64) -> Option<SmallDisk> {
        let images = tempfile::tempdir().unwrap();
        let image = images.path().join("disk.img");
        std::fs::File::create(&image).unwrap().set_len(mb << 20).unwrap();
        run_ok(&mut command("mkfs.ext4", &["-q", "-F"], &image));
        let image = image.to_str().unwrap().to_string();
        Self::mount_with(&["-o", "loop", &image], Some(images))
    }

    fn mount_with(args: &[&str], images: Option<tempfile::TempDir>) -> Option<SmallDisk> {
        if !is_root() {
            support::skip("mounting a small tmpfs needs root");
            return None;
        }
        let zk_dir = tempfile::tempdir().unwrap();
        let zk_port = support::free_port();
        let zk = crate::zk_harness::spawn_ours(zk_dir.path(), zk_port, "");
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        run_ok(&mut command("mount", args, &data));
        let mut undo = vec![command("umount", &["-l"], &data), command("rm", &["-rf"], dir.path())];
        if let Some(images) = images {
            undo.push(command("rm", &["-rf"], &images.keep()));
        }
        let unmount = Undo(undo);
        Some(SmallDisk {
            _zk: zk,
            zk_port,
            _unmount: unmount,
            data,
            dir: Some(dir),
            _zk_dir: zk_dir,
        })
    }

    fn overrides(&self) -> Vec<String> {
        vec![format!("zookeeper.connect=127.0.0.1:{}", self.zk_port), "broker.id=1".into()]
    }

    /// The broker on the tmpfs; declared after the rig, it is dropped
    /// (killed) before the tmpfs is unmounted.
    fn start(&mut self) -> Broker {
        let overrides = self.overrides();
        let overrides: Vec<&str> = overrides.iter().map(String::as_str).collect();
        Broker::start_in(self.dir.take().expect("started once"), &overrides)
    }
}

/// A value that says which acknowledged record it is, padded to `len`.
fn numbered(i: usize, len: usize) -> Vec<u8> {
    let mut v = format!("record-{i:06}-").into_bytes();
    v.resize(len, b'.');
    v
}

/// Reads the topic's only partition from the start with kcat (if
/// installed) and with our console consumer; both must see `expected`.
fn assert_reads(broker: &Broker, topic: &str, expected: &[Vec<u8>]) {
    let want: Vec<&[u8]> = expected.iter().map(|v| v.as_slice()).collect();
    if let Some(kcat) = support::external_tool("kcat") {
        let out = support::run_with_timeout(
            Command::new(kcat).args(["-C", "-b", &broker.addr(), "-t", topic, "-e", "-q"]),
            None,
            T,
        );
        assert!(out.status.success(), "kcat: {}", stderr(&out));
        let got: Vec<&[u8]> = out.stdout.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
        assert!(got == want, "kcat read {} records, {} acknowledged", got.len(), want.len());
    }
    let text = consume_all(broker, topic, expected.len());
    let got: Vec<&[u8]> =
        text.as_bytes().split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    assert!(
        got == want,
        "console-consumer read {} records, {} acknowledged",
        got.len(),
        want.len()
    );
}

/// A full disk fails the appends that do not fit with KAFKA_STORAGE_ERROR
/// and nothing else: what is on disk stays readable, the broker keeps
/// leading the partition, producing works again as soon as space is
/// freed, and a kill -9 afterwards loses nothing acknowledged.
#[test]
fn r17_a_full_disk_fails_appends_only_until_space_returns() {
    if let Some(rig) = SmallDisk::mount("size=8m") {
        full_disk(rig);
    }
}

/// The same on ext4, whose delayed allocation and reserved blocks differ.
#[test]
fn r17_a_full_ext4_disk_fails_appends_only_until_space_returns() {
    if let Some(rig) = SmallDisk::mount_ext4(16) {
        full_disk(rig);
    }
}

fn full_disk(mut rig: SmallDisk) {
    let (data, overrides) = (rig.data.clone(), rig.overrides());
    let overrides: Vec<&str> = overrides.iter().map(String::as_str).collect();
    let broker = rig.start();
    let mut wire = broker.wire();
    let created = create_topic(&mut wire, "full", &[("segment.bytes", "1048576")]);
    assert_eq!(created.topics[0].error_code, 0, "{:?}", created.topics[0].error_message);

    // Most of the disk goes to a ballast file, the rest to acknowledged records.
    let ballast = data.join("ballast");
    let stat = rustix::fs::statvfs(&data).unwrap();
    let available = stat.f_bavail * stat.f_frsize;
    std::fs::write(&ballast, vec![1u8; available.saturating_sub(3 << 20) as usize]).unwrap();
    let mut acked = Vec::new();
    let refused = loop {
        assert!(acked.len() < 1000, "the disk never filled");
        let value = numbered(acked.len(), 10_000);
        let (code, base_offset) = wire_api::produce(&mut wire, "full", 1, batch(&[&value]));
        if code != 0 {
            break code;
        }
        assert_eq!(base_offset, acked.len() as i64);
        acked.push(value);
    };
    assert_eq!(refused, 56, "KAFKA_STORAGE_ERROR once the disk is full");
    assert!(acked.len() > 20, "only {} records fit", acked.len());
    for _ in 0..3 {
        let (code, _) = wire_api::produce(&mut wire, "full", 1, batch(&[&numbered(0, 10_000)]));
        assert_eq!(code, 56, "still full");
    }
    assert_reads(&broker, "full", &acked);
    let metadata = leader_of(&mut wire, "full");
    assert_eq!(metadata, (0, 1), "(error, leader) while the disk is full");
    let log = broker.log_showing("the OS error and the file", |l| {
        l.contains("No space left on device (os error 28)") && l.contains("/full-0/")
    });
    assert!(!log.contains("offline"), "{log}");

    // A crash while the disk is full: the restarted broker recovers and
    // serves what is on disk without needing space to do so.
    let broker = kill9_and_restart(broker, &overrides);
    let mut wire = broker.wire();
    assert_reads(&broker, "full", &acked);
    let (code, _) = wire_api::produce(&mut wire, "full", 1, batch(&[&numbered(0, 10_000)]));
    assert_eq!(code, 56, "still full after the restart");

    std::fs::remove_file(&ballast).unwrap();
    for _ in 0..3 {
        let value = numbered(acked.len(), 10_000);
        let (code, base_offset) = wire_api::produce(&mut wire, "full", 1, batch(&[&value]));
        assert_eq!((code, base_offset), (0, acked.len() as i64), "space is back, no restart");
        acked.push(value);
    }
    let log =
        broker.log_showing("the dir taking writes again", |l| l.contains("takes writes again"));
    assert!(!log.contains("offline"), "{log}");

    let broker = kill9_and_restart(broker, &overrides);
    assert_reads(&broker, "full", &acked);
}

/// Stops `broker` with SIGKILL and starts it again on the same dirs, with
/// a fresh server log; waits until it leads its partition again.
fn kill9_and_restart(mut broker: Broker, overrides: &[&str]) -> Broker {
    broker.child.kill9();
    let dir = std::mem::replace(&mut broker.dir, tempfile::tempdir().unwrap());
    let _ = std::fs::remove_file(dir.path().join("logs/server.log"));
    let broker = Broker::start_in(dir, overrides);
    let mut wire = broker.wire();
    support::wait_until(T, "the partition to have a leader again", || {
        leader_of(&mut wire, "full") == (0, 1)
    });
    broker
}

/// (partition error code, leader id) of partition 0 in a Metadata answer.
fn leader_of(wire: &mut crate::broker_support::Wire, topic: &str) -> (i16, i32) {
    let mut req = MetadataRequest::default();
    req.allow_auto_topic_creation = false;
    req.topics = Some(vec![MetadataRequestTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.to_string()))))]);
    let resp: MetadataResponse = wire.call(ApiKey::Metadata, 9, &req);
    let t = &resp.topics[0];
    match t.partitions.first() {
        Some(p) => (p.error_code, p.leader_id.0),
        None => (t.error_code, -1),
    }
}

/// An I/O error other than a full disk (here: a partition directory gone
/// from under the broker, so a roll fails with ENOENT) takes the log dir
/// offline. Its partitions then answer consistently: appends fail with
/// KAFKA_STORAGE_ERROR and Metadata names no leader for them, with this
/// broker among the offline replicas.
#[test]
fn r17_an_offline_log_dir_is_not_advertised_as_leading() {
    let broker = Broker::start(&["broker.id=1"]);
    let mut wire = broker.wire();
    for topic in ["victim", "bystander"] {
        let created = create_topic(&mut wire, topic, &[("segment.bytes", "16384")]);
        assert_eq!(created.topics[0].error_code, 0, "{:?}", created.topics[0].error_message);
        let (code, _) = wire_api::produce(&mut wire, topic, 1, batch(&[&numbered(0, 10_000)]));
        assert_eq!(code, 0);
        assert_eq!(leader_of(&mut wire, topic), (0, 1));
    }
    let data = broker.data_dir();
    std::fs::rename(data.join("victim-0"), data.join("moved-away")).unwrap();
    let (code, _) = wire_api::produce(&mut wire, "victim", 1, batch(&[&numbered(1, 10_000)]));
    assert_eq!(code, 56, "KAFKA_STORAGE_ERROR for the append that failed");
    let (code, _) = wire_api::produce(&mut wire, "bystander", 1, batch(&[&numbered(1, 10)]));
    assert_eq!(code, 56, "the whole dir is offline");
    for topic in ["victim", "bystander"] {
        assert_eq!(leader_of(&mut wire, topic), (5, -1), "LEADER_NOT_AVAILABLE for {topic}");
    }
    broker.log_showing("the dir going offline, with the file and the OS error", |log| {
        log.contains(&format!("log dir {} is offline", data.display()))
            && log.contains("victim-0/0000000000000000000")
            && log.contains("(os error 2)")
    });
}

/// CreateTopics reports KAFKA_STORAGE_ERROR, not success, for a topic whose
/// log this broker could not create (here the tmpfs runs out of inodes, as
/// a full ext4 runs out of blocks for a new directory), leaves neither the
/// topic nor a half-made directory behind, and the same request succeeds
/// once there is room.
#[test]
fn r17_create_topics_fails_when_the_log_cannot_be_created() {
    let Some(mut rig) = SmallDisk::mount("size=8m,nr_inodes=40") else { return };
    let data = rig.data.clone();
    let broker = rig.start();
    let mut wire = broker.wire();
    let mut created = Vec::new();
    let failed = loop {
        assert!(created.len() < 40, "40 inodes never ran out");
        let name = format!("t{}", created.len());
        let resp = create_topic(&mut wire, &name, &[]);
        let t = &resp.topics[0];
        if t.error_code != 0 {
            break (name, t.error_code, t.error_message.as_deref().unwrap_or("").to_string());
        }
        created.push(name);
    };
    let (name, code, message) = failed;
    assert!(created.len() >= 2, "{created:?}");
    assert_eq!(code, 56, "KAFKA_STORAGE_ERROR: {message}");
    assert!(
        message.contains(&format!("{name}-0")) && message.contains("(os error 28)"),
        "the message names the partition, the file and the OS error: {message}"
    );
    assert_eq!(leader_of(&mut wire, &name).0, 3, "UNKNOWN_TOPIC_OR_PARTITION: not created");
    assert!(!data.join(format!("{name}-0")).exists(), "no half-made partition dir");
    let (code, _) = wire_api::produce(&mut wire, &created[0], 1, batch(&[b"still works"]));
    assert_eq!(code, 0, "the dir stays online");

    for gone in &created[..2] {
        cli_ok(&broker, &["topics", "--delete", "--topic", gone], None);
        support::wait_until(T, "the deleted topic's inodes to be freed", || {
            !data.join(format!("{gone}-0")).exists()
        });
    }
    let resp = create_topic(&mut wire, &name, &[]);
    assert_eq!(resp.topics[0].error_code, 0, "{:?}", resp.topics[0].error_message);
    let (code, _) = wire_api::produce(&mut wire, &name, 1, batch(&[b"now it exists"]));
    assert_eq!(code, 0);
}

/// A partition whose log could not be created for lack of space (here, of
/// inodes) comes up by itself once space returns: no restart, no metadata
/// change needed. Until then Metadata names no leader for it.
#[test]
fn r17_a_partition_that_could_not_be_created_comes_up_once_space_returns() {
    let Some(mut rig) = SmallDisk::mount("size=8m,nr_inodes=40") else { return };
    let (data, zk) = (rig.data.clone(), format!("127.0.0.1:{}", rig.zk_port));
    let broker = rig.start();
    let mut wire = broker.wire();
    // Its port opens before it has written meta.properties.
    support::wait_until(T, "the broker to start", || {
        broker.server_log().contains("started: listening")
    });
    let mut ballast = Vec::new();
    loop {
        let path = data.join(format!("ballast-{}", ballast.len()));
        if std::fs::File::create(&path).is_err() {
            break;
        }
        ballast.push(path);
        assert!(ballast.len() < 100, "40 inodes never ran out");
    }
    // Assigned here straight in ZooKeeper, as another broker's controller
    // would assign it.
    let json = r#"{"version":1,"partitions":{"0":[1]}}"#;
    let out = kafka_rs(&["zookeeper-shell", &zk, "create", "/brokers/topics/late", json], None, T);
    assert!(out.status.success(), "{}", stderr(&out));
    support::wait_until(T, "the broker to try to create the log", || {
        broker.server_log().contains("cannot open partition")
    });
    assert_eq!(leader_of(&mut wire, "late"), (5, -1), "no leader while the log cannot exist");
    for path in &ballast {
        std::fs::remove_file(path).unwrap();
    }
    support::wait_until(T, "the partition to come up", || leader_of(&mut wire, "late") == (0, 1));
    let (code, _) = wire_api::produce(&mut wire, "late", 1, batch(&[b"made it"]));
    assert_eq!(code, 0);
}
