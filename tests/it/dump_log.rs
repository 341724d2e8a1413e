//! `kafka-rs dump-log` on segments written by the log: Kafka's output
//! lines for batches, records and index entries, and clear failures on
//! corrupt files.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kafka_rs::log::{Log, LogConfig};
use kafka_rs::record::{BatchBuilder, Compression, Header, NewRecord};
use kafka_rs::time::ManualClock;
use kafka_rs::types::{LeaderEpoch, Offset};

use crate::support::{kafka_rs, stderr, stdout};

const SEG: &str = "00000000000000000000";

/// Writes 20 batches: plain ones with a header, an lz4 one, idempotent ones.
fn write_log(dir: &Path) {
    let config = LogConfig { index_interval_bytes: 100, ..LogConfig::default() };
    let log = Log::open(dir, config, Offset(0), Offset(0), Arc::new(ManualClock::new(0))).unwrap();
    for i in 0..20i64 {
        let codec = if i == 3 { Compression::Lz4 } else { Compression::None };
        let mut b = BatchBuilder::new(codec);
        if i >= 10 {
            b = b.producer(77, 2, (i as i32 - 10) * 2);
        }
        let headers = [Header { key: b"h1", value: Some(b"x") }];
        for r in 0..2 {
            let key = format!("k{i}-{r}");
            let value = format!("value-{i}-{r}-{}", "x".repeat(80));
            b.push(NewRecord {
                timestamp: 1000 + i * 10 + r,
                key: Some(key.as_bytes()),
                value: Some(value.as_bytes()),
                headers: &headers,
            });
        }
        log.append_as_leader(&mut b.build().unwrap(), LeaderEpoch(4)).unwrap();
    }
    log.close().unwrap();
}

fn run(args: &[&str]) -> std::process::Output {
    kafka_rs(args, None, Duration::from_secs(30))
}

#[test]
fn dump_log_prints_batches_and_records_like_kafka() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path());
    let log = dir.path().join(format!("{SEG}.log"));
    let out = run(&["dump-log", "--files", log.to_str().unwrap(), "--print-data-log"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("Dumping {}", log.display()));
    assert_eq!(lines[1], "Log starting offset: 0");
    assert!(
        lines[2].starts_with(
            "baseOffset: 0 lastOffset: 1 count: 2 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 \
             partitionLeaderEpoch: 4 isTransactional: false isControl: false deleteHorizonMs: OptionalLong.empty \
             position: 0 CreateTime: 1001 size: "
        ),
        "{}",
        lines[2]
    );
    assert!(
        lines[2].contains(" magic: 2 compresscodec: none crc: ")
            && lines[2].ends_with(" isvalid: true")
    );
    assert_eq!(
        lines[3],
        format!(
            "| offset: 0 CreateTime: 1000 keySize: 4 valueSize: 90 sequence: -1 headerKeys: [h1] key: k0-0 payload: value-0-0-{}",
            "x".repeat(80)
        )
    );
    assert!(text.contains("compresscodec: lz4"), "compressed batches are listed with their codec");
    assert!(text.contains("baseOffset: 20 lastOffset: 21 count: 2 baseSequence: 0 lastSequence: 1 producerId: 77 producerEpoch: 2"));
    assert!(text.contains(
        "| offset: 21 CreateTime: 1101 keySize: 5 valueSize: 91 sequence: 1 headerKeys: [h1]"
    ));
    assert_eq!(lines.iter().filter(|l| l.starts_with("baseOffset:")).count(), 20);
    assert_eq!(lines.iter().filter(|l| l.starts_with("| offset:")).count(), 40);

    // Shallow by default: batches only.
    let out = run(&["dump-log", "--files", log.to_str().unwrap()]);
    assert_eq!(stdout(&out).lines().filter(|l| l.starts_with("| ")).count(), 0);
    assert!(out.status.success());
}

#[test]
fn dump_log_prints_and_verifies_indexes() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path());
    let index = dir.path().join(format!("{SEG}.index"));
    let time_index = dir.path().join(format!("{SEG}.timeindex"));
    let files = format!("{},{}", index.display(), time_index.display());
    let out = run(&["dump-log", "--files", &files]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let offsets: Vec<&str> = text.lines().filter(|l| l.starts_with("offset: ")).collect();
    assert!(offsets.len() > 5, "{text}");
    assert!(offsets.iter().all(|l| l.contains(" position: ")), "{text}");
    let times: Vec<&str> = text.lines().filter(|l| l.starts_with("timestamp: ")).collect();
    assert!(!times.is_empty() && times[0].starts_with("timestamp: 10"), "{text}");

    let out = run(&["dump-log", "--files", &files, "--verify-index-only"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 2, "only the Dumping lines: {}", stdout(&out));

    let out = run(&["dump-log", "--files", &files, "--index-sanity-check"]);
    assert!(stdout(&out).contains(&format!("{} passed sanity check.", index.display())));
    assert!(stdout(&out).contains(&format!("{} passed sanity check.", time_index.display())));

    // An index entry pointing at the wrong batch is a mismatch.
    let mut bytes = std::fs::read(&index).unwrap();
    bytes[3] ^= 0x01;
    std::fs::write(&index, &bytes).unwrap();
    let out = run(&["dump-log", "--files", index.to_str().unwrap(), "--verify-index-only"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Mismatches in :"), "{}", stderr(&out));
    assert!(stderr(&out).contains("  Index offset: "), "{}", stderr(&out));
}

#[test]
fn dump_log_reports_corrupt_files_with_file_and_position() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path());
    let log = dir.path().join(format!("{SEG}.log"));
    let good = std::fs::read(&log).unwrap();

    // A flipped byte inside the fourth batch's records: CRC fails there.
    let mut flipped = good.clone();
    flipped[3 * (good.len() / 20) + 100] ^= 0xff;
    std::fs::write(&log, &flipped).unwrap();
    let out = run(&["dump-log", "--files", log.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stdout(&out).contains("isvalid: false"));
    let err = stderr(&out);
    assert!(err.contains(&log.display().to_string()) && err.contains("position"), "{err}");

    // A torn tail.
    std::fs::write(&log, &good[..good.len() - 7]).unwrap();
    let out = run(&["dump-log", "--files", log.to_str().unwrap()]);
    assert!(!out.status.success());
    let last = kafka_rs::record::Batches::new(&good).last().unwrap().unwrap().size();
    let n = last - 7;
    assert!(
        stdout(&out).contains(&format!("Found {n} invalid bytes at the end of {SEG}.log")),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("position"), "{}", stderr(&out));

    // Garbage that is not a batch at all.
    std::fs::write(&log, [&good[..], &[0xff; 40][..]].concat()).unwrap();
    let out = run(&["dump-log", "--files", log.to_str().unwrap(), "--deep-iteration"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&format!("position {}", good.len())), "{}", stderr(&out));

    // --max-bytes stops early without calling the cut batch corrupt.
    std::fs::write(&log, &good).unwrap();
    let out = run(&["dump-log", "--files", log.to_str().unwrap(), "--max-bytes", "500"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).lines().filter(|l| l.starts_with("baseOffset:")).count() < 20);
}

/// Every non-empty `.log` of an internal topic's partitions, dumped with
/// `decoder`; one output for all.
fn dump_internal(data: &Path, topic: &str, decoder: &str) -> String {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(data).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.strip_prefix(topic).is_some_and(|p| p.starts_with('-')) {
            for f in std::fs::read_dir(entry.path()).unwrap().flatten() {
                let p = f.path();
                if p.extension().is_some_and(|e| e == "log") && f.metadata().unwrap().len() > 0 {
                    files.push(p.display().to_string());
                }
            }
        }
    }
    assert!(!files.is_empty(), "no {topic} segments in {}", data.display());
    let out = run(&["dump-log", "--files", &files.join(","), decoder]);
    assert!(out.status.success(), "{decoder}: {}", stderr(&out));
    stdout(&out)
}

/// The JSON after `marker` on the line, up to the next field Kafka prints.
fn field<'a>(line: &'a str, marker: &str) -> &'a str {
    let rest = line.split_once(marker).map_or("", |(_, r)| r);
    rest.split(" payload: ").next().unwrap_or(rest)
}

/// What a real consumer group (confluent-kafka) and a real transactional
/// producer left in __consumer_offsets and __transaction_state, read back
/// the way Kafka's kafka-dump-log.sh prints it.
#[test]
fn offsets_and_transaction_log_decoders_read_what_real_clients_wrote() {
    if crate::support::python().is_none() {
        return;
    }
    let broker = crate::broker_support::Broker::start(crate::transactions::SINGLE);
    let script_out = crate::transactions::run_scenario("ctp", &broker.addr());
    assert!(script_out.contains("ctp ok"), "{script_out}");
    let data = broker.data_dir();

    let offsets = dump_internal(&data, "__consumer_offsets", "--offsets-decoder");
    let records: Vec<&str> = offsets.lines().filter(|l| l.starts_with("| offset: ")).collect();
    let group_key = records
        .iter()
        .map(|l| field(l, " key: "))
        .find(|k| k.starts_with(r#"{"type":"2","data":{"group":"ctp-"#))
        .unwrap_or_else(|| panic!("no group metadata record:\n{offsets}"));
    let group = group_key.split('"').nth(9).unwrap().to_string();
    let topic = format!("ctp-in-{}", group.trim_start_matches("ctp-"));
    // The group's metadata with its one member, its subscription and
    // its assignment decoded.
    let metadata = records
        .iter()
        .filter(|l| field(l, " key: ") == group_key)
        .map(|l| field(l, " payload: "))
        .find(|p| p.contains(r#""members":[{"#))
        .unwrap_or_else(|| panic!("no generation with members:\n{offsets}"));
    for expect in [
        r#"{"version":"3","data":{"protocolType":"consumer","generation":"#.to_string(),
        r#""memberId":"rdkafka-"#.to_string(),
        format!(r#""subscription":{{"topics":["{topic}"],"userData":"","ownedPartitions":[]"#),
        format!(
            r#""assignment":{{"assignedPartitions":[{{"topic":"{topic}","partitions":[0,1]}}]"#
        ),
    ] {
        assert!(metadata.contains(&expect), "{expect} not in {metadata}");
    }
    // The committed offsets: the last commit of each partition is 25.
    for partition in [0, 1] {
        let key = format!(
            r#"{{"type":"1","data":{{"group":"{group}","topic":"{topic}","partition":{partition}}}}}"#
        );
        let last = records
            .iter()
            .rev()
            .filter(|l| field(l, " key: ") == key)
            .map(|l| field(l, " payload: "))
            .next()
            .unwrap_or_else(|| panic!("no commit for {key}:\n{offsets}"));
        assert!(last.starts_with(r#"{"version":"3","data":{"offset":25,"leaderEpoch":"#), "{last}");
    }
    assert!(
        offsets.contains("endTxnMarker: COMMIT") && offsets.contains("endTxnMarker: ABORT"),
        "the offsets went in with the transactions, one aborted:\n{offsets}"
    );

    let txns = dump_internal(&data, "__transaction_state", "--transaction-log-decoder");
    let key = format!(r#"{{"type":"0","data":{{"transactionalId":"{group}"}}}}"#);
    let states: Vec<&str> = txns
        .lines()
        .filter(|l| field(l, " key: ") == key)
        .map(|l| field(l, " payload: "))
        .collect();
    fn status(s: &str) -> Option<&str> {
        s.split(r#""transactionStatus":"#).nth(1).and_then(|r| r.split(',').next())
    }
    let seen: Vec<&str> = states.iter().filter_map(|s| status(s)).collect();
    // Empty (0) from InitProducerId, Ongoing (1), PrepareAbort (3),
    // CompleteAbort (5), then PrepareCommit (2) and CompleteCommit (4).
    for s in ["0", "1", "3", "5", "2", "4"] {
        assert!(seen.contains(&s), "status {s} missing: {seen:?}\n{txns}");
    }
    assert!(
        states.iter().any(|s| s.contains(r#"{"topic":"__consumer_offsets","partitionIds":["#)),
        "the offsets partition joined the transaction:\n{txns}"
    );
    assert!(states.iter().all(|s| s.starts_with(r#"{"version":"0","data":{"producerId":"#)));
}
