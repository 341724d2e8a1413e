//! Writes the seed inputs of the fuzz targets that start from our own
//! encoders (fuzz/corpus/{record_batch,consumer_offsets,log_recovery}), in
//! the layouts those targets document:
//!
//!   cargo run --example fuzz_seeds -- fuzz/corpus
//!
//! The other targets' seeds come from real traffic and real files (see
//! fuzz/README.md).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use kafka_rs::coordinator::records::{
    GroupMetadataValue, MemberMetadataValue, OffsetCommitValue, RecordKey,
};
use kafka_rs::log::{LogConfig, LogManager};
use kafka_rs::record::{BatchBuilder, Compression, Header, NewRecord};
use kafka_rs::time::ManualClock;
use kafka_rs::types::{LeaderEpoch, TopicPartition};

const NOW: i64 = 1_700_000_000_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::args().nth(1).ok_or("usage: fuzz_seeds CORPUS_DIR")?);
    record_batches(&out.join("record_batch"))?;
    consumer_offsets(&out.join("consumer_offsets"))?;
    log_dirs(&out.join("log_recovery"))?;
    Ok(())
}

fn batch(codec: Compression, records: usize, transactional: bool) -> Vec<u8> {
    let headers = [Header { key: b"trace", value: Some(b"abc") }];
    let mut b = BatchBuilder::new(codec).producer(7, 0, 0).transactional(transactional);
    for i in 0..records {
        let key = format!("key-{i}");
        let value = format!("value-{i}-{}", "x".repeat(i * 3));
        let mut r = NewRecord::new(NOW + i as i64, Some(key.as_bytes()), Some(value.as_bytes()));
        if i % 2 == 0 {
            r.headers = &headers;
        }
        b.push(r);
    }
    b.build().expect("a batch of our own records builds")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(name), bytes)
}

fn record_batches(dir: &Path) -> std::io::Result<()> {
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        for flags in [1u8, 3] {
            let mut input = vec![flags];
            input.extend(batch(codec, 5, false));
            input.extend(batch(codec, 1, true));
            write(dir, &format!("{codec}-{flags}"), &input)?;
        }
    }
    Ok(())
}

fn consumer_offsets(dir: &Path) -> std::io::Result<()> {
    let split = |key: Vec<u8>, value: Vec<u8>| {
        let mut input = vec![key.len() as u8];
        input.extend(key);
        input.extend(value);
        input
    };
    let key =
        RecordKey::OffsetCommit { group: "g".into(), topic: "t".into(), partition: 3 }.encode();
    let value = OffsetCommitValue {
        offset: 42,
        leader_epoch: 5,
        metadata: "m".into(),
        commit_timestamp: NOW,
        expire_timestamp: None,
    };
    write(dir, "offset-commit", &split(key.clone(), value.encode()))?;
    let v1 = OffsetCommitValue { expire_timestamp: Some(NOW + 1), leader_epoch: -1, ..value };
    write(dir, "offset-commit-v1", &split(key, v1.encode()))?;
    let member = MemberMetadataValue {
        member_id: "consumer-1".into(),
        group_instance_id: Some("static".into()),
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        rebalance_timeout: 300_000,
        session_timeout: 45_000,
        subscription: Bytes::from_static(b"\x00\x01sub"),
        assignment: Bytes::from_static(b"\x00\x01asg"),
    };
    let group = GroupMetadataValue {
        protocol_type: "consumer".into(),
        generation: 4,
        protocol: Some("range".into()),
        leader: Some("consumer-1".into()),
        current_state_timestamp: NOW,
        members: vec![member],
    };
    let key = RecordKey::GroupMetadata { group: "g".into() }.encode();
    write(dir, "group-metadata", &split(key, group.encode()))
}

/// A log dir with one partition written through the log itself, packed as
/// the log_recovery target reads it.
fn log_dirs(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let root = tempfile::tempdir()?;
    let clock = Arc::new(ManualClock::new(NOW));
    let config = LogConfig { index_interval_bytes: 64, ..LogConfig::default() };
    let manager = LogManager::open(&[root.path().to_path_buf()], config.clone(), 1, clock)?;
    let log = manager.get_or_create_log(&TopicPartition::new("t", 0), config)?;
    for (epoch, codec) in [(0, Compression::None), (1, Compression::Lz4), (2, Compression::None)] {
        let mut bytes = batch(codec, 4, false);
        log.append_as_leader(&mut bytes, LeaderEpoch(epoch))?;
    }
    log.flush()?;
    manager.checkpoint_recovery_points()?;
    manager.checkpoint_log_start_offsets()?;
    manager.shutdown()?;
    drop(manager);
    let partition = root.path().join("t-0");
    let read = |p: PathBuf| std::fs::read(p).unwrap_or_default();
    let files = [
        read(partition.join("00000000000000000000.index")),
        read(partition.join("00000000000000000000.timeindex")),
        read(partition.join("leader-epoch-checkpoint")),
        read(root.path().join("recovery-point-offset-checkpoint")),
        read(root.path().join("log-start-offset-checkpoint")),
    ];
    let segment = read(partition.join("00000000000000000000.log"));
    for flags in [0u8, 1] {
        let mut input = vec![flags];
        for f in &files {
            input.extend(u16::try_from(f.len())?.to_be_bytes());
        }
        for f in &files {
            input.extend(f);
        }
        input.extend(&segment);
        write(dir, &format!("written-by-the-log-{flags}"), &input)?;
    }
    Ok(())
}
