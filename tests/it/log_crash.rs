//! kill -9 against the log: a child process (this test binary, re-run with
//! an env var) appends in a loop and reports each offset after `append`
//! returns; the parent SIGKILLs it at random moments, reopens the log and
//! checks that only whole, valid batches remain, offsets are dense, every
//! record holds the value written for its offset, and nothing acknowledged
//! was lost.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_rs::log::manager::BackgroundConfig;
use kafka_rs::log::{LogConfig, LogManager};
use kafka_rs::record::{BatchBuilder, Batches, Compression, NewRecord};
use kafka_rs::time::SystemClock;
use kafka_rs::types::{LeaderEpoch, Offset, TopicPartition};

const CHILD_ENV: &str = "KAFKA_RS_LOG_CRASH_DIR";

fn config() -> LogConfig {
    // Small segments and frequent time-based flushes, so kills land in
    // rolls, index appends and flushes too.
    LogConfig {
        segment_bytes: 64 * 1024,
        index_interval_bytes: 512,
        flush_ms: 20,
        ..LogConfig::default()
    }
}

fn tp() -> TopicPartition {
    TopicPartition::new("crash", 0)
}

fn open(dir: &Path) -> LogManager {
    let mut topic_configs = std::collections::HashMap::new();
    topic_configs.insert("crash".to_string(), config());
    LogManager::open_with_topic_configs(
        &[dir.to_path_buf()],
        config(),
        &topic_configs,
        1,
        Arc::new(SystemClock),
    )
    .unwrap()
}

/// The child: appends batches whose records hold their own offsets, and
/// prints the last offset of each batch once `append_as_leader` returned.
#[test]
#[ignore = "child process of crash_kill9_loses_nothing_acknowledged"]
fn crash_child_appender() {
    let Some(dir) = std::env::var_os(CHILD_ENV).map(PathBuf::from) else {
        return;
    };
    let manager = Arc::new(open(&dir));
    manager.start_background(BackgroundConfig {
        flush_check_interval_ms: 10,
        recovery_point_checkpoint_interval_ms: 30,
        ..BackgroundConfig::default()
    });
    let log = manager.get_or_create_log(&tp(), config()).unwrap();
    let codecs = [
        Compression::None,
        Compression::Lz4,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Zstd,
    ];
    let mut out = std::io::stdout().lock();
    for i in 0u64.. {
        let next = log.log_end_offset().0;
        let n = 1 + (i % 7) as i64;
        let mut b = BatchBuilder::new(codecs[(i % 5) as usize]);
        for o in next..next + n {
            let value = format!("{o:>width$}", width = 10 + (o % 300) as usize);
            b.push(NewRecord::new(o, Some(b"k"), Some(value.as_bytes())));
        }
        let info = log.append_as_leader(&mut b.build().unwrap(), LeaderEpoch(1)).unwrap();
        assert_eq!(info.first_offset, Offset(next));
        writeln!(out, "{}", info.last_offset.0).unwrap();
        out.flush().unwrap();
    }
}

/// Reads the whole log back and checks it; returns the log end offset.
fn verify(dir: &Path, acknowledged: i64) -> i64 {
    let manager = open(dir);
    let log = manager.get_log(&tp()).expect("log exists after a crash");
    let leo = log.log_end_offset().0;
    assert!(leo > acknowledged, "acknowledged offset {acknowledged} lost: log end offset {leo}");
    let mut next = 0;
    while next < leo {
        let slice =
            log.read(Offset(next), 1 << 20, None, true).unwrap().slice.expect("data below the end");
        let bytes = slice.read_to_vec().unwrap();
        for batch in Batches::new(&bytes) {
            let batch = batch.unwrap();
            batch.verify_crc().unwrap();
            assert_eq!(batch.base_offset(), next, "offsets are dense");
            let records = batch.records().unwrap();
            for r in records.iter() {
                let r = r.unwrap();
                let o = records.offset_of(&r);
                let value = std::str::from_utf8(r.value.unwrap()).unwrap();
                assert_eq!(value.trim().parse::<i64>().unwrap(), o, "record holds its own offset");
            }
            next = batch.next_offset();
        }
    }
    assert_eq!(next, leo);
    manager.shutdown().unwrap();
    leo
}

#[test]
fn crash_kill9_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acknowledged = -1i64;
    for round in 0..25 {
        let mut child = Command::new(&exe)
            .args([
                "log_crash::crash_child_appender",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(o) = line.trim().parse::<i64>() {
                    let _ = tx.send(o);
                }
            }
        });
        // Wait for the child to acknowledge something, then kill it at a
        // random moment.
        let first = rx.recv_timeout(Duration::from_secs(30)).expect("child appends");
        acknowledged = acknowledged.max(first);
        std::thread::sleep(Duration::from_millis(fastrand::u64(0..80)));
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        while let Ok(o) = rx.try_recv() {
            acknowledged = acknowledged.max(o);
        }
        let started = Instant::now();
        let leo = verify(dir.path(), acknowledged);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "round {round}: recovery took too long"
        );
        acknowledged = leo - 1;
    }
    assert!(acknowledged > 100, "the child made progress: {acknowledged}");
}
