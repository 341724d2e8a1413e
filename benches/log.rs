//! The log benchmark, run side by side with references in the same run
//! (`cargo bench --bench log`):
//!
//! - append: 100-byte records in 16 KiB batches through `Log::append_as_leader`
//!   vs `dd bs=16k` writing the same number of bytes to the same disk, both
//!   to the page cache (no fsync per batch) and both with one final fsync;
//! - sequential read: `Log::read` file slices (1 MiB each) handed to
//!   `sendfile`, and copied into a buffer, vs `dd bs=1M` reading the segment;
//! - offset lookup: `Log::read` of one batch at a random offset in a 1 GiB
//!   segment (index binary search plus a short scan) vs one bare `pread`
//!   of a batch header.
//!
//! Rounds alternate reference and log; medians are reported, with ratios.
//! Environment: LOG_BENCH_DIR (default target/bench-log, i.e. the disk of
//! the repository), LOG_BENCH_BYTES (default 1 GiB), LOG_BENCH_ROUNDS (3).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_rs::log::{Log, LogConfig};
use kafka_rs::record::{BatchBuilder, Compression, NewRecord};
use kafka_rs::time::SystemClock;
use kafka_rs::types::{LeaderEpoch, Offset};

const BATCH_BYTES: usize = 16 * 1024;
const RECORD_BYTES: usize = 100;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One 16 KiB batch of 100-byte records (as many as fit).
fn template_batch() -> (Vec<u8>, i64) {
    let value = [b'x'; RECORD_BYTES];
    let mut n = 0;
    let mut b = BatchBuilder::new(Compression::None);
    loop {
        let mut next = b.clone();
        next.push(NewRecord::new(1_700_000_000_000 + n, None, Some(&value)));
        if next.size_estimate() > BATCH_BYTES {
            break;
        }
        b = next;
        n += 1;
    }
    (b.build().unwrap(), n)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn dd(args: &[String]) -> Duration {
    let start = Instant::now();
    let status = Command::new("dd").args(args).arg("status=none").status().expect("dd runs");
    assert!(status.success(), "dd {args:?} failed");
    start.elapsed()
}

fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

fn open_log(dir: &Path) -> Log {
    let config = LogConfig { segment_bytes: (1 << 31) - 1, ..LogConfig::default() };
    Log::open(dir, config, Offset(0), Offset(0), Arc::new(SystemClock)).unwrap()
}

/// Appends `count` copies of the batch; returns (append time, flush time).
fn append_run(dir: &Path, batch: &[u8], count: u64) -> (Duration, Duration, Log) {
    let _ = std::fs::remove_dir_all(dir);
    let log = open_log(dir);
    let mut buf = batch.to_vec();
    let start = Instant::now();
    for _ in 0..count {
        log.append_as_leader(&mut buf, LeaderEpoch(0)).unwrap();
    }
    let append = start.elapsed();
    let start = Instant::now();
    log.flush().unwrap();
    (append, start.elapsed(), log)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let dir = std::env::var_os("LOG_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-log"));
    let total = env_u64("LOG_BENCH_BYTES", 1 << 30);
    let rounds = env_u64("LOG_BENCH_ROUNDS", 3).max(1);
    std::fs::create_dir_all(&dir).unwrap();
    let (batch, per_batch) = template_batch();
    let count = total / batch.len() as u64;
    let bytes = count * batch.len() as u64;
    println!(
        "log bench: {count} batches of {} bytes ({per_batch} records of {RECORD_BYTES} B), {:.0} MiB, {rounds} rounds, dir {}",
        batch.len(),
        bytes as f64 / (1 << 20) as f64,
        dir.display()
    );

    // Append vs dd, alternating.
    let dd_file = dir.join("dd.bin");
    let log_dir = dir.join("bench-0");
    let dd_args = |sync: bool| {
        let mut a = vec![
            "if=/dev/zero".to_string(),
            format!("of={}", dd_file.display()),
            format!("bs={}", batch.len()),
            format!("count={count}"),
        ];
        if sync {
            a.push("conv=fdatasync".to_string());
        }
        a
    };
    let (mut dd_cache, mut dd_sync, mut log_cache, mut log_sync) = (vec![], vec![], vec![], vec![]);
    let mut last_log = None;
    for _ in 0..rounds {
        let _ = std::fs::remove_file(&dd_file);
        dd_cache.push(mbps(bytes, dd(&dd_args(false))));
        let _ = std::fs::remove_file(&dd_file);
        dd_sync.push(mbps(bytes, dd(&dd_args(true))));
        let _ = std::fs::remove_file(&dd_file);
        drop(last_log.take());
        let (append, flush, log) = append_run(&log_dir, &batch, count);
        log_cache.push(mbps(bytes, append));
        log_sync.push(mbps(bytes, append + flush));
        last_log = Some(log);
    }
    let log = last_log.expect("at least one round");
    let (dc, ds, lc, ls) = (median(dd_cache), median(dd_sync), median(log_cache), median(log_sync));
    println!(
        "append, page cache:  log {lc:8.1} MB/s ({:.2} M records/s)  dd {dc:8.1} MB/s  ratio {:.2}",
        lc * 1e6 / batch.len() as f64 * per_batch as f64 / 1e6,
        lc / dc
    );
    println!(
        "append + one fsync:  log {ls:8.1} MB/s  dd conv=fdatasync {ds:8.1} MB/s  ratio {:.2}",
        ls / ds
    );

    // Sequential read through file slices vs dd reading the segment (both
    // from the page cache the runs above just filled).
    let segment = log_dir.join("00000000000000000000.log");
    let devnull = File::options().write(true).open("/dev/null").unwrap();
    let leo = log.log_end_offset().0;
    let (mut dd_read, mut slice_send, mut slice_copy) = (vec![], vec![], vec![]);
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..rounds {
        let args = vec![
            format!("if={}", segment.display()),
            "of=/dev/null".to_string(),
            "bs=1M".to_string(),
        ];
        dd_read.push(mbps(bytes, dd(&args)));
        for copy in [false, true] {
            let start = Instant::now();
            let mut next = 0i64;
            let mut read = 0u64;
            while next < leo {
                let slice = log.read(Offset(next), 1 << 20, None, true).unwrap().slice.unwrap();
                if copy {
                    slice.file.read_exact_at(&mut buf[..slice.len], slice.position).unwrap();
                } else {
                    let mut pos = slice.position;
                    let end = slice.position + slice.len as u64;
                    while pos < end {
                        let left = (end - pos) as usize;
                        let n = rustix::fs::sendfile(&devnull, &*slice.file, Some(&mut pos), left)
                            .unwrap();
                        assert!(n > 0);
                    }
                }
                read += slice.len as u64;
                // Every batch holds the same records, so the end position gives the next offset.
                next =
                    ((slice.position + slice.len as u64) / batch.len() as u64) as i64 * per_batch;
            }
            assert_eq!(read, bytes);
            let r = mbps(bytes, start.elapsed());
            if copy {
                slice_copy.push(r)
            } else {
                slice_send.push(r)
            }
        }
    }
    let (dr, ss, sc) = (median(dd_read), median(slice_send), median(slice_copy));
    println!("sequential read:     slices+sendfile {ss:8.1} MB/s  slices+pread copy {sc:8.1} MB/s  dd bs=1M {dr:8.1} MB/s  ratios {:.2} / {:.2}", ss / dr, sc / dr);

    // Offset lookup on the 1 GiB segment vs one pread of a batch header.
    let lookups = 200_000;
    let seg_file = File::open(&segment).unwrap();
    let mut header = [0u8; 61];
    let (mut lookup_ns, mut pread_ns) = (vec![], vec![]);
    for _ in 0..rounds {
        let offsets: Vec<i64> = (0..lookups).map(|_| fastrand::i64(0..leo)).collect();
        let start = Instant::now();
        for &o in &offsets {
            let slice = log.read(Offset(o), 1, None, true).unwrap().slice.unwrap();
            assert_eq!(slice.len, batch.len());
        }
        lookup_ns.push(start.elapsed().as_nanos() as f64 / lookups as f64);
        let start = Instant::now();
        for &o in &offsets {
            let pos = (o / per_batch) as u64 * batch.len() as u64;
            seg_file.read_exact_at(&mut header, pos).unwrap();
        }
        pread_ns.push(start.elapsed().as_nanos() as f64 / lookups as f64);
    }
    let (ln, pn) = (median(lookup_ns), median(pread_ns));
    log.close().unwrap();
    drop(log);
    // Closing trimmed the index to its entries.
    println!(
        "offset lookup ({} MiB segment, {} index entries): {ln:.0} ns per lookup, one pread {pn:.0} ns, ratio {:.2}",
        std::fs::metadata(&segment).unwrap().len() >> 20,
        std::fs::metadata(log_dir.join("00000000000000000000.index")).unwrap().len() / 8,
        ln / pn
    );
    let _ = std::fs::remove_dir_all(&log_dir);
}
