//! The ZooKeeper server's start-up over files it finds on disk: the newest
//! snapshot that reads back, then the transaction log after it, a torn tail
//! cut, every transaction applied to the tree.
//!
//! The input's first two bytes (big-endian) give the snapshot's length; the
//! snapshot follows, the rest is the transaction log file.

#![no_main]

use kafka_rs::zk::fuzzing::{deserialize_snapshot, recover};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kafka_rs_fuzz::set_allocation_limit(kafka_rs_fuzz::DEFAULT_ALLOCATION_LIMIT);
    let Some((len, rest)) = data.split_first_chunk::<2>() else { return };
    let (snapshot, log) = rest.split_at((u16::from_be_bytes(*len) as usize).min(rest.len()));
    let _ = deserialize_snapshot(snapshot);
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = kafka_rs::zk::Config::new(dir.path().to_path_buf());
    if !snapshot.is_empty() {
        std::fs::write(dir.path().join("snapshot.0"), snapshot).expect("write snapshot");
    }
    std::fs::write(dir.path().join("log.1"), log).expect("write txn log");
    let _ = recover(&cfg);
});
