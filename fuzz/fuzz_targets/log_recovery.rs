//! A log dir as the broker finds it after a crash: checkpoint files, then a
//! partition's segment with its offset and time indexes and its leader
//! epoch checkpoint, recovered by the log manager. Whatever it recovers must
//! then serve reads of every offset it claims and take a new append.
//!
//! Input: a flags byte (bit 0: the clean shutdown marker is present), five
//! big-endian u16 lengths (offset index, time index, leader epoch
//! checkpoint, recovery point checkpoint, log start checkpoint), those
//! files' bytes in that order, and the rest is the segment's `.log`. With
//! flag bit 1 the same rest is also the segment's producer `.snapshot` and
//! `.txnindex`, which the producer state loads after recovery.

#![no_main]

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use kafka_rs::log::{LogConfig, LogManager};
use kafka_rs::record::{BatchBuilder, Compression, NewRecord};
use kafka_rs::time::ManualClock;
use kafka_rs::types::{LeaderEpoch, Offset};
use libfuzzer_sys::fuzz_target;

const PARTITION_FILES: [&str; 3] =
    ["00000000000000000000.index", "00000000000000000000.timeindex", "leader-epoch-checkpoint"];
const DIR_FILES: [&str; 2] = ["recovery-point-offset-checkpoint", "log-start-offset-checkpoint"];

fuzz_target!(|data: &[u8]| {
    kafka_rs_fuzz::set_allocation_limit(kafka_rs_fuzz::DEFAULT_ALLOCATION_LIMIT);
    let Some((&flags, mut rest)) = data.split_first() else { return };
    let mut lens = [0usize; 5];
    for len in &mut lens {
        let Some((l, tail)) = rest.split_first_chunk::<2>() else { return };
        *len = u16::from_be_bytes(*l) as usize;
        rest = tail;
    }
    let mut parts = Vec::new();
    for len in lens {
        let (part, tail) = rest.split_at(len.min(rest.len()));
        parts.push(part);
        rest = tail;
    }
    let root = tempfile::tempdir().expect("temp dir");
    let partition = root.path().join("t-0");
    std::fs::create_dir(&partition).expect("partition dir");
    std::fs::write(partition.join("00000000000000000000.log"), rest).expect("write segment");
    for (name, bytes) in PARTITION_FILES.iter().zip(&parts[..3]) {
        std::fs::write(partition.join(name), bytes).expect("write partition file");
    }
    for (name, bytes) in DIR_FILES.iter().zip(&parts[3..]) {
        std::fs::write(root.path().join(name), bytes).expect("write checkpoint");
    }
    if flags & 1 != 0 {
        std::fs::write(root.path().join(".kafka_cleanshutdown"), b"").expect("write marker");
    }
    let producer_files = flags & 2 != 0;
    if producer_files {
        for name in ["00000000000000000000.snapshot", "00000000000000000000.txnindex"] {
            std::fs::write(partition.join(name), rest).expect("write producer file");
        }
    }
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let Ok(manager) =
        LogManager::open(&[root.path().to_path_buf()], LogConfig::default(), 1, clock)
    else {
        return;
    };
    for (_, log) in manager.all_logs() {
        if producer_files {
            // Damaged files are refused (and deleted), never trusted or a panic.
            if let Ok(Some((offset, _))) = log.load_producer_snapshot() {
                assert!(offset <= log.log_end_offset().0, "a snapshot past the log end");
            }
            if let Ok(Some(aborted)) = log.load_aborted_txns(i64::MAX) {
                assert!(aborted.len() * kafka_rs::log::txn_index::ENTRY_SIZE <= rest.len());
            }
        }
        let mut offset = log.log_start_offset();
        let end = log.log_end_offset();
        while offset < end {
            let Ok(info) = log.read(offset, 1 << 16, None, true) else { break };
            let Some(slice) = info.slice else { break };
            let mut bytes = vec![0u8; slice.len];
            slice.file.read_exact_at(&mut bytes, slice.position).expect("read the slice");
            let Some(next) = kafka_rs::record::Batches::new(&bytes)
                .map_while(Result::ok)
                .map(|b| b.next_offset())
                .last()
            else {
                break;
            };
            assert!(next > offset.0, "a read at {offset:?} made no progress");
            offset = Offset(next);
        }
        let mut batch = BatchBuilder::new(Compression::None);
        batch.push(NewRecord::new(1_700_000_000_000, Some(b"k"), Some(b"v")));
        let mut bytes = batch.build().expect("build a batch");
        if let Ok(info) = log.append_as_leader(&mut bytes, LeaderEpoch(0)) {
            let _ = info;
            assert!(log.log_end_offset() > end, "an append did not move the end");
        }
    }
    let _ = manager.shutdown();
});
