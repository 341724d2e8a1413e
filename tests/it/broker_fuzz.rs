//! Hostile requests by the thousand: valid requests of every API the broker
//! answers, captured from real clients (tests/data/fuzz/), with counts and
//! lengths set to huge values and with random mutations, sent to a real
//! broker process that must stay up and keep answering fresh clients.
//!
//! `KAFKA_RS_FUZZ_SECS` (default 30) or `KAFKA_RS_FUZZ_REQUESTS` sets how
//! long the random fuzzer runs and `KAFKA_RS_FUZZ_SEED` replays a run.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_rs::protocol::api::SUPPORTED;

use crate::broker_support::{request_frame, vm_rss_kib, Broker, Wire};
use crate::support;

fn corpus_path() -> PathBuf {
    support::repo().join("tests/data/fuzz/requests.bin")
}

/// A captured request frame, size prefix included.
#[derive(Clone)]
struct Frame(Vec<u8>);

impl Frame {
    fn key(&self) -> i16 {
        i16::from_be_bytes([self.0[4], self.0[5]])
    }
    fn version(&self) -> i16 {
        i16::from_be_bytes([self.0[6], self.0[7]])
    }
}

/// Splits a stream of size-prefixed frames.
fn split_frames(mut bytes: &[u8]) -> Vec<Frame> {
    let mut out = Vec::new();
    while bytes.len() >= 4 {
        let n = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        if bytes.len() < 4 + n {
            break;
        }
        out.push(Frame(bytes[..4 + n].to_vec()));
        bytes = &bytes[4 + n..];
    }
    out
}

fn load_corpus() -> Vec<Frame> {
    let bytes = std::fs::read(corpus_path()).expect("tests/data/fuzz/requests.bin");
    let frames = split_frames(&bytes);
    for api in SUPPORTED {
        assert!(
            frames.iter().any(|f| f.key() == api.key as i16),
            "the corpus has no {:?} request; recapture it (see tests/data/fuzz/README.md)",
            api.key
        );
    }
    frames
}

/// Whether a fresh client still gets well-formed ApiVersions and Metadata
/// answers.
fn answers_fresh_clients(port: u16) -> Result<(), String> {
    let mut w = Wire::connect(port);
    let (cid, f) = w.frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    w.send_raw(&f);
    let v: ApiVersionsResponse =
        w.read_response(ApiKey::ApiVersions, 3, cid).ok_or("ApiVersions: connection closed")?;
    if v.error_code != 0 {
        return Err(format!("ApiVersions error {}", v.error_code));
    }
    let (cid, f) = w.frame(ApiKey::Metadata, 1, &MetadataRequest::default().with_topics(None));
    w.send_raw(&f);
    let m: MetadataResponse =
        w.read_response(ApiKey::Metadata, 1, cid).ok_or("Metadata: connection closed")?;
    if m.brokers.is_empty() {
        return Err("Metadata names no broker".into());
    }
    Ok(())
}

/// Sends one request on its own connection and reads until the broker
/// answers and closes, closes, or `wait` passes; false if nobody listens.
fn send_one(port: u16, bytes: &[u8], wait: Duration) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_write_timeout(Some(wait));
    let _ = s.set_read_timeout(Some(wait));
    if s.write_all(bytes).is_err() {
        return true;
    }
    let _ = s.shutdown(Shutdown::Write);
    let deadline = Instant::now() + wait;
    let mut sink = [0u8; 16 * 1024];
    while Instant::now() < deadline {
        match s.read(&mut sink) {
            Ok(0) | Err(_) => return true,
            Ok(_) => {}
        }
    }
    true
}

/// Runs `frames` through `threads` senders while checking that the broker
/// stays alive; on its death, the frames last sent are saved for replay.
fn blast(broker: &mut Broker, frames: impl Iterator<Item = Vec<u8>> + Send, what: &str) -> u64 {
    const THREADS: usize = 8;
    let port = broker.port;
    let frames = Mutex::new(frames);
    let recent: Mutex<std::collections::VecDeque<Vec<u8>>> = Mutex::default();
    let sent = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let finished = AtomicU64::new(0);
    let mut death = None;
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let Some(f) = frames.lock().unwrap().next() else { break };
                    {
                        let mut r = recent.lock().unwrap();
                        if r.len() == 64 {
                            r.pop_front();
                        }
                        r.push_back(f.clone());
                    }
                    if !send_one(port, &f, Duration::from_secs(2)) {
                        stop.store(true, Ordering::Relaxed);
                        break;
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                finished.fetch_add(1, Ordering::SeqCst);
            });
        }
        let mut last_check = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(50));
            let done = finished.load(Ordering::SeqCst) == THREADS as u64;
            if let Some(status) = broker.child.try_wait() {
                death = Some(format!("broker exited: {status}"));
            } else if done || last_check.elapsed() > Duration::from_secs(1) {
                last_check = Instant::now();
                if let Err(e) = answers_fresh_clients(port) {
                    death = Some(format!("broker stopped answering: {e}"));
                }
            }
            if death.is_some() || done {
                stop.store(true, Ordering::Relaxed);
                break;
            }
        }
    });
    let sent = sent.load(Ordering::Relaxed);
    if let Some(why) = death {
        let path =
            support::repo().join(format!("target/fuzz-last-frames-{}.bin", std::process::id()));
        let recent: Vec<u8> = recent.into_inner().unwrap().into_iter().flatten().collect();
        let _ = std::fs::write(&path, recent);
        panic!(
            "{what}: {why} after {sent} requests; the last 64 frames sent are in {}\n{}",
            path.display(),
            tail(&broker.server_log(), 20)
        );
    }
    let stderr = broker.stderr_log();
    let lines: Vec<&str> = stderr.lines().collect();
    if let Some(at) = lines.iter().position(|l| l.contains("panicked")) {
        let context = lines[at.saturating_sub(3)..(at + 3).min(lines.len())].join("\n");
        panic!("{what}: a request made a task panic after {sent} requests:\n{context}");
    }
    sent
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Every captured request with each 4-byte field, in turn, set to 2^31-1
/// and each varint set to 2^32-1: a count or length larger than the frame
/// closes that connection and never sizes an allocation.
#[test]
fn huge_counts_and_lengths_in_every_api() {
    let corpus = load_corpus();
    // The smallest frame of each API and version keeps the run short.
    let mut picked: std::collections::BTreeMap<(i16, i16), Frame> = Default::default();
    for f in corpus {
        let e = picked.entry((f.key(), f.version())).or_insert_with(|| f.clone());
        if f.0.len() < e.0.len() {
            *e = f;
        }
    }
    let mut mutants = Vec::new();
    for f in picked.values() {
        // Past the size prefix and the api key, version and correlation id.
        for at in 12..f.0.len().min(400) {
            for huge in [&[0x7f, 0xff, 0xff, 0xff][..], &[0xff, 0xff, 0xff, 0xff, 0x0f][..]] {
                if at + huge.len() <= f.0.len() {
                    let mut m = f.0.clone();
                    m[at..at + huge.len()].copy_from_slice(huge);
                    mutants.push(m);
                }
            }
        }
    }
    let mut broker = Broker::start(&[]);
    let n = mutants.len();
    let sent = blast(&mut broker, mutants.into_iter(), "huge counts");
    assert_eq!(sent as usize, n, "every mutant was sent");
    eprintln!("{sent} requests with huge counts over {} APIs and versions", picked.len());
    answers_fresh_clients(broker.port).expect("still serving");
}

/// Values that break length and count arithmetic.
const INT32S: &[i32] = &[i32::MAX, i32::MIN, -1, -2, 0, 1, 0x7fff_fffe, 0x0100_0000, 65_536];
const INT16S: &[i16] = &[i16::MAX, i16::MIN, -1, -2, 0, 0x7ffe];
const VARINTS: &[&[u8]] =
    &[&[0xff, 0xff, 0xff, 0xff, 0x0f], &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01], &[0x00], &[0x01]];

fn mutate(rng: &mut fastrand::Rng, corpus: &[Frame]) -> Vec<u8> {
    let base = &corpus[rng.usize(..corpus.len())];
    let mut body = base.0[4..].to_vec();
    for _ in 0..rng.usize(1..=3) {
        if body.is_empty() {
            break;
        }
        let at = rng.usize(..body.len());
        match rng.u8(..10) {
            0 => body[at] ^= 1 << rng.u8(..8),
            1 => body[at] = rng.u8(..),
            2 => put(&mut body, at, &INT32S[rng.usize(..INT32S.len())].to_be_bytes()),
            3 => put(&mut body, at, &INT16S[rng.usize(..INT16S.len())].to_be_bytes()),
            4 => put(&mut body, at, VARINTS[rng.usize(..VARINTS.len())]),
            5 => body.truncate(at),
            6 => {
                let other = &corpus[rng.usize(..corpus.len())].0[4..];
                let from = rng.usize(..other.len().max(1)).min(other.len());
                body.truncate(at);
                body.extend_from_slice(&other[from..]);
            }
            7 => {
                let n = rng.usize(1..16);
                let junk: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
                body.splice(at..at, junk);
            }
            8 => {
                // Another version of the same API: the bytes are read with a
                // different schema.
                if body.len() >= 4 {
                    let key = i16::from_be_bytes([body[0], body[1]]);
                    if let Some(api) = SUPPORTED.iter().find(|a| a.key as i16 == key) {
                        let v = rng.i16(api.min..=api.max);
                        body[2..4].copy_from_slice(&v.to_be_bytes());
                    }
                }
            }
            _ => {
                let end = (at + rng.usize(1..64)).min(body.len());
                let chunk = body[at..end].to_vec();
                body.splice(at..at, chunk);
            }
        }
    }
    let size = match rng.u8(..20) {
        0 => rng.i32(..),
        1 => body.len() as i32 + rng.i32(1..1000),
        _ => body.len() as i32,
    };
    let mut out = size.to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

fn put(body: &mut [u8], at: usize, value: &[u8]) {
    let end = (at + value.len()).min(body.len());
    body[at..end].copy_from_slice(&value[..end - at]);
}

/// Random mutations of the captured requests; fails on any broker death.
#[test]
fn mutated_requests_never_take_the_broker_down() {
    let corpus = load_corpus();
    let seed = std::env::var("KAFKA_RS_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let secs: u64 =
        std::env::var("KAFKA_RS_FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
    let limit: Option<u64> =
        std::env::var("KAFKA_RS_FUZZ_REQUESTS").ok().and_then(|s| s.parse().ok());
    eprintln!("fuzz seed {seed} (KAFKA_RS_FUZZ_SEED replays it)");
    let mut broker = Broker::start(&[]);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut made = 0u64;
    let frames = std::iter::from_fn(move || {
        let more = match limit {
            Some(n) => made < n,
            None => Instant::now() < deadline,
        };
        made += 1;
        more.then(|| mutate(&mut rng, &corpus))
    })
    .fuse();
    let sent = blast(&mut broker, frames, &format!("fuzz seed {seed}"));
    let rss = vm_rss_kib(broker.child.pid()) / 1024;
    eprintln!("{sent} mutated requests sent, broker alive at {rss} MiB VmRSS (seed {seed})");
    answers_fresh_clients(broker.port).expect("still serving");
}

/// What the Python clients do through the recording proxy: confluent-kafka
/// (librdkafka) producer, consumer group and admin calls, then kafka-python's.
/// Every call is bounded and its failure ignored: only the requests matter.
const CLIENTS_PY: &str = r#"
import sys, time
bs = sys.argv[1]
def attempt(what, f):
    try:
        f()
    except Exception as e:
        print(f"{what}: {e}", file=sys.stderr)

from confluent_kafka import Producer, Consumer, TopicPartition
from confluent_kafka.admin import (AdminClient, NewTopic, NewPartitions, ConfigResource,
    ConfigEntry, AlterConfigOpType, OffsetSpec)
a = AdminClient({"bootstrap.servers": bs})
def wait(fs):
    for f in (fs.values() if isinstance(fs, dict) else [fs]):
        f.result(timeout=15)
attempt("create", lambda: wait(a.create_topics([NewTopic("fz-a", 2, 1, config={"retention.ms": "100000"}), NewTopic("fz-b", 1, 1)])))
attempt("partitions", lambda: wait(a.create_partitions([NewPartitions("fz-a", 3)])))
attempt("describe configs", lambda: wait(a.describe_configs([ConfigResource("topic", "fz-a"), ConfigResource("broker", "0")])))
attempt("alter configs", lambda: wait(a.alter_configs([ConfigResource("topic", "fz-a", set_config={"retention.ms": "200000"})])))
attempt("incremental alter", lambda: wait(a.incremental_alter_configs([ConfigResource("topic", "fz-a", incremental_configs=[ConfigEntry("retention.ms", "300000", incremental_operation=AlterConfigOpType.SET)])])))
attempt("describe cluster", lambda: a.describe_cluster().result(timeout=15))
for comp in ["none", "gzip", "snappy", "lz4", "zstd"]:
    p = Producer({"bootstrap.servers": bs, "enable.idempotence": comp == "none", "compression.type": comp, "linger.ms": 5})
    for i in range(20):
        p.produce("fz-a", key=b"k%d" % i, value=b"value %d" % i, headers=[("h", b"v")], partition=i % 3)
    p.flush(15)
c = Consumer({"bootstrap.servers": bs, "group.id": "fz-g", "auto.offset.reset": "earliest", "enable.auto.commit": False})
c.subscribe(["fz-a"])
got, deadline = 0, time.time() + 20
while got < 20 and time.time() < deadline:
    m = c.poll(0.5)
    if m is not None and m.error() is None:
        got += 1
attempt("commit", lambda: c.commit(asynchronous=False))
attempt("committed", lambda: c.committed([TopicPartition("fz-a", 0)], timeout=10))
attempt("offsets for times", lambda: c.offsets_for_times([TopicPartition("fz-a", 0, 0)], timeout=10))
c.close()
attempt("list offsets", lambda: wait(a.list_offsets({TopicPartition("fz-a", 0): OffsetSpec.latest(), TopicPartition("fz-a", 1): OffsetSpec.earliest()})))
attempt("list groups", lambda: a.list_consumer_groups().result(timeout=15))
attempt("describe groups", lambda: wait(a.describe_consumer_groups(["fz-g"])))
attempt("delete records", lambda: wait(a.delete_records([TopicPartition("fz-a", 0, 1)])))
attempt("delete groups", lambda: wait(a.delete_consumer_groups(["fz-g"])))
attempt("delete topics", lambda: wait(a.delete_topics(["fz-b"], operation_timeout=15)))

from kafka import KafkaProducer, KafkaConsumer, KafkaAdminClient
from kafka.admin import NewTopic as KNewTopic, ConfigResource as KConfigResource, ConfigResourceType
attempt("kp produce", lambda: [KafkaProducer(bootstrap_servers=bs).send("fz-a", b"kp").get(timeout=15)])
def kconsume():
    kc = KafkaConsumer("fz-a", bootstrap_servers=bs, group_id="fz-kg", auto_offset_reset="earliest", consumer_timeout_ms=3000)
    for _ in kc:
        pass
    kc.commit()
    kc.close()
attempt("kp consume", kconsume)
ka = KafkaAdminClient(bootstrap_servers=bs)
attempt("kp create", lambda: ka.create_topics([KNewTopic("fz-k", 1, 1)]))
attempt("kp describe configs", lambda: ka.describe_configs([KConfigResource(ConfigResourceType.TOPIC, "fz-a")]))
attempt("kp list groups", lambda: ka.list_consumer_groups())
attempt("kp describe groups", lambda: ka.describe_consumer_groups(["fz-kg"]))
attempt("kp group offsets", lambda: ka.list_consumer_group_offsets("fz-kg"))
attempt("kp log dirs", lambda: ka.describe_log_dirs())
attempt("kp delete groups", lambda: ka.delete_consumer_groups(["fz-kg"]))
attempt("kp delete topics", lambda: ka.delete_topics(["fz-k"]))
"#;

/// Records the request frames of every connection through it.
fn start_recording_proxy(listener: TcpListener, target: u16, frames: Arc<Mutex<Vec<Frame>>>) {
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else { continue };
            let (mut c_rd, mut s_wr) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut s_rd, mut c_wr) = (server, client);
            let frames = frames.clone();
            std::thread::spawn(move || {
                let mut pending = Vec::new();
                let mut buf = [0u8; 64 * 1024];
                while let Ok(n) = c_rd.read(&mut buf) {
                    if n == 0 || s_wr.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    pending.extend_from_slice(&buf[..n]);
                    let got = split_frames(&pending);
                    let used: usize = got.iter().map(|f| f.0.len()).sum();
                    pending.drain(..used);
                    frames.lock().unwrap().extend(got);
                }
                let _ = s_wr.shutdown(Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_rd, &mut c_wr);
                let _ = c_wr.shutdown(Shutdown::Write);
            });
        }
    });
}

/// A request the clients here never send, encoded with the codec.
/// Transaction requests with an unknown transactional id and producer: the
/// broker answers them with errors, never by writing.
mod txn_frames {
    use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
    use kafka_protocol::messages::describe_producers_request::TopicRequest;
    use kafka_protocol::messages::txn_offset_commit_request::{
        TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::write_txn_markers_request::{
        WritableTxnMarker, WritableTxnMarkerTopic,
    };
    use kafka_protocol::messages::{
        AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, DescribeProducersRequest,
        DescribeTransactionsRequest, EndTxnRequest, GroupId, ListTransactionsRequest, ProducerId,
        TopicName, TransactionalId, TxnOffsetCommitRequest, WriteTxnMarkersRequest,
    };
    use kafka_protocol::protocol::StrBytes;

    fn id() -> TransactionalId {
        TransactionalId(StrBytes::from_static_str("fz-tx"))
    }
    fn topic() -> TopicName {
        TopicName(StrBytes::from_static_str("fz-a"))
    }

    pub fn add_partitions() -> AddPartitionsToTxnRequest {
        AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(id())
            .with_v3_and_below_producer_id(ProducerId(77))
            .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                .with_name(topic())
                .with_partitions(vec![0, 1])])
    }

    pub fn add_offsets() -> AddOffsetsToTxnRequest {
        AddOffsetsToTxnRequest::default()
            .with_transactional_id(id())
            .with_producer_id(ProducerId(77))
            .with_group_id(GroupId(StrBytes::from_static_str("fz-g")))
    }

    pub fn end_txn() -> EndTxnRequest {
        EndTxnRequest::default()
            .with_transactional_id(id())
            .with_producer_id(ProducerId(77))
            .with_committed(true)
    }

    pub fn txn_offset_commit() -> TxnOffsetCommitRequest {
        TxnOffsetCommitRequest::default()
            .with_transactional_id(id())
            .with_group_id(GroupId(StrBytes::from_static_str("fz-g")))
            .with_producer_id(ProducerId(77))
            .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                .with_name(topic())
                .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(1)])])
    }

    pub fn describe_producers() -> DescribeProducersRequest {
        DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
            .with_name(topic())
            .with_partition_indexes(vec![0, 1])])
    }

    pub fn describe_transactions() -> DescribeTransactionsRequest {
        DescribeTransactionsRequest::default().with_transactional_ids(vec![id()])
    }

    pub fn list_transactions() -> ListTransactionsRequest {
        ListTransactionsRequest::default()
            .with_state_filters(vec![StrBytes::from_static_str("Ongoing")])
            .with_producer_id_filters(vec![ProducerId(77)])
    }

    pub fn write_txn_markers() -> WriteTxnMarkersRequest {
        // A marker for a partition this broker does not host.
        WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
            .with_producer_id(ProducerId(77))
            .with_coordinator_epoch(0)
            .with_topics(vec![WritableTxnMarkerTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("fz-none")))
                .with_partition_indexes(vec![0])])])
    }
}

fn encoded<R: Encodable>(key: ApiKey, version: i16, body: &R) -> Frame {
    Frame(request_frame(key, version, 7, body))
}

/// Frames of the versions below Kafka 4's baseline that the clients above do
/// not send: ListOffsets v0, CreateTopics v0-1, DeleteTopics v0, OffsetCommit
/// v0-1, OffsetFetch v0, DescribeConfigs v0, DescribeLogDirs v0, Produce
/// v0-2 with message sets, Fetch v0-3.
fn legacy_frames(frames: &mut Vec<Frame>) {
    use kafka_protocol::messages::create_topics_request::CreatableTopic;
    use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
    use kafka_protocol::messages::*;

    let name = || TopicName(StrBytes::from_static_str("fz-a"));
    let group = || GroupId(StrBytes::from_static_str("fz-old"));
    let mut p = ListOffsetsPartition::default().with_timestamp(-1);
    p.max_num_offsets = 10;
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default().with_name(name()).with_partitions(vec![p])]);
    frames.push(encoded(ApiKey::ListOffsets, 0, &req));
    for v in [0, 1] {
        let t = CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("fz-old")))
            .with_num_partitions(1)
            .with_replication_factor(1);
        let req = CreateTopicsRequest::default().with_topics(vec![t]).with_timeout_ms(5000);
        frames.push(encoded(ApiKey::CreateTopics, v, &req));
    }
    let req = DeleteTopicsRequest::default()
        .with_topic_names(vec![TopicName(StrBytes::from_static_str("fz-gone"))])
        .with_timeout_ms(5000);
    frames.push(encoded(ApiKey::DeleteTopics, 0, &req));
    for v in [0, 1] {
        let mut part = OffsetCommitRequestPartition::default().with_committed_offset(1);
        part.commit_timestamp = if v == 1 { 1_700_000_000_000 } else { -1 };
        let req = OffsetCommitRequest::default().with_group_id(group()).with_topics(vec![
            OffsetCommitRequestTopic::default().with_name(name()).with_partitions(vec![part]),
        ]);
        frames.push(encoded(ApiKey::OffsetCommit, v, &req));
    }
    let req = OffsetFetchRequest::default().with_group_id(group()).with_topics(Some(vec![
        OffsetFetchRequestTopic::default().with_name(name()).with_partition_indexes(vec![0]),
    ]));
    frames.push(encoded(ApiKey::OffsetFetch, 0, &req));
    let req =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("fz-a"))
            .with_configuration_keys(None)]);
    frames.push(encoded(ApiKey::DescribeConfigs, 0, &req));
    frames.push(encoded(ApiKey::DescribeLogDirs, 0, &DescribeLogDirsRequest::default()));
    for (v, magic) in [(0, 0), (1, 0), (2, 1)] {
        use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
        use kafka_rs::record::{legacy, BatchBuilder, Compression, NewRecord};
        let codec = if v == 1 { Compression::Gzip } else { Compression::None };
        let mut b = BatchBuilder::new(codec);
        b.push(NewRecord::new(1_700_000_000_000, Some(b"k"), Some(b"old")));
        let set = legacy::down_convert(&b.build().unwrap(), magic).unwrap();
        let req =
            ProduceRequest::default().with_acks(1).with_timeout_ms(5000).with_topic_data(vec![
                TopicProduceData::default().with_name(name()).with_partition_data(vec![
                    PartitionProduceData::default().with_index(0).with_records(Some(set.into())),
                ]),
            ]);
        frames.push(encoded(ApiKey::Produce, v, &req));
    }
    for v in [0, 1, 2, 3] {
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_topics(vec![FetchTopic::default().with_topic(name()).with_partitions(vec![
                FetchPartition::default().with_partition_max_bytes(1 << 16),
            ])]);
        frames.push(encoded(ApiKey::Fetch, v, &req));
    }
}

/// Rewrites tests/data/fuzz/requests.bin from real clients' traffic:
/// `cargo test --test it broker_fuzz::capture_request_corpus -- --ignored`.
#[test]
#[ignore = "rewrites the checked-in corpus"]
fn capture_request_corpus() {
    use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
    use kafka_protocol::messages::offset_delete_request::{
        OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
    };
    use kafka_protocol::messages::offset_for_leader_epoch_request::{
        OffsetForLeaderPartition, OffsetForLeaderTopic,
    };
    use kafka_protocol::messages::{
        DescribeClusterRequest, ElectLeadersRequest, GroupId, OffsetDeleteRequest,
        OffsetForLeaderEpochRequest, TopicName,
    };

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = listener.local_addr().unwrap().port();
    let broker = Broker::start(&[&format!("advertised.listeners=PLAINTEXT://127.0.0.1:{proxy}")]);
    let frames = Arc::new(Mutex::new(Vec::new()));
    start_recording_proxy(listener, broker.port, frames.clone());
    let bs = format!("127.0.0.1:{proxy}");
    let t = Duration::from_secs(60);

    let python = support::python().expect("the Python Kafka clients");
    let out = support::run_with_timeout(
        Command::new(&python).arg("-c").arg(CLIENTS_PY).arg(&bs),
        None,
        t,
    );
    eprintln!("python: {}", support::stderr(&out));

    let kcat = support::external_tool("kcat").expect("kcat");
    let kcat_runs: &[&[&str]] = &[
        &["-L"],
        &["-P", "-t", "fz-c", "-K", ":", "-z", "snappy"],
        &["-C", "-t", "fz-a", "-e", "-o", "beginning"],
        &["-Q", "-t", "fz-a:0:0"],
        &["-G", "fz-kcat", "-e", "-o", "beginning", "fz-a"],
        // Old brokers' versions: Produce v0/v2 with message sets, Fetch v0/v2.
        &["-P", "-t", "fz-c", "-K", ":", "-z", "gzip", "-X", "api.version.request=false"],
        &["-C", "-t", "fz-c", "-e", "-o", "beginning", "-X", "api.version.request=false"],
        &[
            "-P",
            "-t",
            "fz-c",
            "-K",
            ":",
            "-X",
            "api.version.request=false",
            "-X",
            "broker.version.fallback=0.10.0.1",
        ],
        &[
            "-C",
            "-t",
            "fz-c",
            "-e",
            "-o",
            "beginning",
            "-X",
            "api.version.request=false",
            "-X",
            "broker.version.fallback=0.10.0.1",
        ],
    ];
    for args in kcat_runs {
        let out = support::run_with_timeout(
            Command::new(&kcat).arg("-b").arg(&bs).args(*args),
            Some(b"k1:v1\nk2:v2\n"),
            Duration::from_secs(20),
        );
        eprintln!("kcat {args:?}: {}", support::stderr(&out));
    }

    let cli_runs: &[&[&str]] = &[
        &[
            "topics",
            "--create",
            "--topic",
            "fz-cli",
            "--partitions",
            "2",
            "--config",
            "cleanup.policy=compact",
        ],
        &["topics", "--list"],
        &["topics", "--describe", "--topic", "fz-cli"],
        &["topics", "--alter", "--topic", "fz-cli", "--partitions", "3"],
        &[
            "console-producer",
            "--topic",
            "fz-cli",
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=:",
        ],
        &[
            "console-consumer",
            "--topic",
            "fz-cli",
            "--from-beginning",
            "--max-messages",
            "2",
            "--group",
            "fz-cg",
        ],
        &["consumer-groups", "--list"],
        &["consumer-groups", "--describe", "--group", "fz-cg"],
        &[
            "consumer-groups",
            "--reset-offsets",
            "--group",
            "fz-cg",
            "--topic",
            "fz-cli",
            "--to-earliest",
            "--execute",
        ],
        &["consumer-groups", "--delete-offsets", "--group", "fz-cg", "--topic", "fz-cli"],
        &["consumer-groups", "--delete", "--group", "fz-cg"],
        &["configs", "--describe", "--topic", "fz-cli"],
        &["configs", "--alter", "--topic", "fz-cli", "--add-config", "retention.ms=5000"],
        &["get-offsets", "--topic", "fz-cli"],
        &["topics", "--delete", "--topic", "fz-cli"],
    ];
    for args in cli_runs {
        let mut cmd = Command::new(support::bin());
        cmd.args(args.iter().take(1)).args(["--bootstrap-server", &bs]).args(&args[1..]);
        let out = support::run_with_timeout(&mut cmd, Some(b"a:1\nb:2\n"), Duration::from_secs(30));
        eprintln!("kafka-rs {args:?}: {}", support::stderr(&out));
    }

    let mut frames = std::mem::take(&mut *frames.lock().unwrap());
    // Requests none of the clients above sends.
    let name = || TopicName(StrBytes::from_static_str("fz-a"));
    let group = GroupId(StrBytes::from_static_str("fz-g"));
    for v in [0, 1, 2, 4] {
        let req = OffsetForLeaderEpochRequest::default().with_topics(vec![
            OffsetForLeaderTopic::default().with_topic(name()).with_partitions(vec![
                OffsetForLeaderPartition::default().with_partition(0).with_leader_epoch(0),
            ]),
        ]);
        frames.push(encoded(ApiKey::OffsetForLeaderEpoch, v, &req));
    }
    for v in [0, 1] {
        frames.push(encoded(ApiKey::DescribeCluster, v, &DescribeClusterRequest::default()));
    }
    legacy_frames(&mut frames);
    for v in [0, 1] {
        let req = kafka_protocol::messages::SaslHandshakeRequest::default()
            .with_mechanism(StrBytes::from_static_str("PLAIN"));
        frames.push(encoded(ApiKey::SaslHandshake, v, &req));
    }
    for v in [0, 1] {
        use kafka_protocol::messages::alter_client_quotas_request::{
            EntityData, EntryData, OpData,
        };
        use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
        let req = kafka_protocol::messages::DescribeClientQuotasRequest::default()
            .with_components(vec![ComponentData::default()
                .with_entity_type(StrBytes::from_static_str("user"))
                .with_match_type(0)
                .with_match(Some(StrBytes::from_static_str("fz-user")))])
            .with_strict(v == 1);
        frames.push(encoded(ApiKey::DescribeClientQuotas, v, &req));
        let req = kafka_protocol::messages::AlterClientQuotasRequest::default()
            .with_entries(vec![EntryData::default()
                .with_entity(vec![
                    EntityData::default()
                        .with_entity_type(StrBytes::from_static_str("user"))
                        .with_entity_name(Some(StrBytes::from_static_str("fz-user"))),
                    EntityData::default().with_entity_type(StrBytes::from_static_str("client-id")),
                ])
                .with_ops(vec![OpData::default()
                    .with_key(StrBytes::from_static_str("producer_byte_rate"))
                    .with_value(1e9)])])
            .with_validate_only(v == 0);
        frames.push(encoded(ApiKey::AlterClientQuotas, v, &req));
    }
    frames.push(encoded(
        ApiKey::DescribeUserScramCredentials,
        0,
        &kafka_protocol::messages::DescribeUserScramCredentialsRequest::default(),
    ));
    {
        use kafka_protocol::messages::alter_user_scram_credentials_request::{
            ScramCredentialDeletion, ScramCredentialUpsertion,
        };
        let req = kafka_protocol::messages::AlterUserScramCredentialsRequest::default()
            .with_upsertions(vec![ScramCredentialUpsertion::default()
                .with_name(StrBytes::from_static_str("fz-user"))
                .with_mechanism(1)
                .with_iterations(4096)
                .with_salt(bytes::Bytes::from_static(b"salt"))
                .with_salted_password(bytes::Bytes::from_static(&[7; 32]))])
            .with_deletions(vec![ScramCredentialDeletion::default()
                .with_name(StrBytes::from_static_str("fz-user"))
                .with_mechanism(2)]);
        frames.push(encoded(ApiKey::AlterUserScramCredentials, 0, &req));
    }
    for v in [0, 1, 2] {
        let req = kafka_protocol::messages::SaslAuthenticateRequest::default()
            .with_auth_bytes(bytes::Bytes::from_static(b"\0alice\0alice-secret"));
        frames.push(encoded(ApiKey::SaslAuthenticate, v, &req));
    }
    let req = OffsetDeleteRequest::default().with_group_id(group).with_topics(
        [OffsetDeleteRequestTopic::default().with_name(name()).with_partitions(vec![
            OffsetDeleteRequestPartition::default().with_partition_index(0),
        ])]
        .into_iter()
        .collect(),
    );
    frames.push(encoded(ApiKey::OffsetDelete, 0, &req));
    for v in [0, 1, 2] {
        let req = ElectLeadersRequest::default()
            .with_election_type(if v == 0 { 0 } else { 1 })
            .with_topic_partitions(Some(vec![TopicPartitions::default()
                .with_topic(name())
                .with_partitions(vec![0, 1])]))
            .with_timeout_ms(1000);
        frames.push(encoded(ApiKey::ElectLeaders, v, &req));
    }
    for v in [0, 1] {
        use kafka_protocol::messages::alter_partition_reassignments_request::{
            ReassignablePartition, ReassignableTopic,
        };
        use kafka_protocol::messages::{AlterPartitionReassignmentsRequest, BrokerId};
        let req = AlterPartitionReassignmentsRequest::default()
            .with_timeout_ms(1000)
            .with_allow_replication_factor_change(v == 0)
            .with_topics(vec![ReassignableTopic::default().with_name(name()).with_partitions(
                vec![
                    ReassignablePartition::default()
                        .with_partition_index(0)
                        .with_replicas(Some(vec![BrokerId(1), BrokerId(2)])),
                    ReassignablePartition::default().with_partition_index(1).with_replicas(None),
                ],
            )]);
        frames.push(encoded(ApiKey::AlterPartitionReassignments, v, &req));
    }
    {
        use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
        use kafka_protocol::messages::ListPartitionReassignmentsRequest;
        let req = ListPartitionReassignmentsRequest::default().with_timeout_ms(1000).with_topics(
            Some(vec![ListPartitionReassignmentsTopics::default()
                .with_name(name())
                .with_partition_indexes(vec![0, 1])]),
        );
        frames.push(encoded(ApiKey::ListPartitionReassignments, 0, &req));
        let all = ListPartitionReassignmentsRequest::default().with_timeout_ms(1000);
        frames.push(encoded(ApiKey::ListPartitionReassignments, 0, &all));
    }

    for v in 0..=3 {
        frames.push(encoded(ApiKey::AddPartitionsToTxn, v, &txn_frames::add_partitions()));
        frames.push(encoded(ApiKey::AddOffsetsToTxn, v, &txn_frames::add_offsets()));
        frames.push(encoded(ApiKey::EndTxn, v, &txn_frames::end_txn()));
        frames.push(encoded(ApiKey::TxnOffsetCommit, v, &txn_frames::txn_offset_commit()));
    }
    frames.push(encoded(ApiKey::WriteTxnMarkers, 1, &txn_frames::write_txn_markers()));
    frames.push(encoded(ApiKey::DescribeProducers, 0, &txn_frames::describe_producers()));
    frames.push(encoded(ApiKey::DescribeTransactions, 0, &txn_frames::describe_transactions()));
    for v in [0, 1] {
        frames.push(encoded(ApiKey::ListTransactions, v, &txn_frames::list_transactions()));
    }
    for v in 0..=3 {
        use kafka_protocol::messages::create_acls_request::AclCreation;
        use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
        use kafka_protocol::messages::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};
        let req = CreateAclsRequest::default().with_creations(vec![AclCreation::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_static_str("fz-topic"))
            .with_resource_pattern_type(if v <= 1 { 3 } else { 4 })
            .with_principal(StrBytes::from_static_str("User:fz"))
            .with_host(StrBytes::from_static_str("*"))
            .with_operation(3)
            .with_permission_type(3)]);
        frames.push(encoded(ApiKey::CreateAcls, v, &req));
        let req = DescribeAclsRequest::default()
            .with_resource_type_filter(1)
            .with_pattern_type_filter(2)
            .with_resource_name_filter(Some(StrBytes::from_static_str("fz-topic")))
            .with_operation(1)
            .with_permission_type(1);
        frames.push(encoded(ApiKey::DescribeAcls, v, &req));
        let req = DeleteAclsRequest::default().with_filters(vec![DeleteAclsFilter::default()
            .with_resource_type_filter(2)
            .with_pattern_type_filter(1)
            .with_principal_filter(Some(StrBytes::from_static_str("User:fz")))
            .with_operation(1)
            .with_permission_type(1)]);
        frames.push(encoded(ApiKey::DeleteAcls, v, &req));
    }

    // At most four frames of each API and version, none above 8 KiB.
    let mut kept: Vec<Frame> = Vec::new();
    for f in frames {
        let same = kept.iter().filter(|k| (k.key(), k.version()) == (f.key(), f.version())).count();
        let dup = kept.iter().any(|k| k.0[12..] == f.0[12..]);
        if f.0.len() <= 8 * 1024 && same < 4 && !dup {
            kept.push(f);
        }
    }
    kept.sort_by_key(|f| (f.key(), f.version()));
    let mut summary = std::collections::BTreeMap::<String, Vec<i16>>::new();
    for f in &kept {
        let key = ApiKey::try_from(f.key()).map(|k| format!("{k:?}")).unwrap_or_default();
        summary.entry(key).or_default().push(f.version());
    }
    eprintln!("{} frames: {summary:?}", kept.len());
    let bytes: Vec<u8> = kept.iter().flat_map(|f| f.0.clone()).collect();
    std::fs::create_dir_all(corpus_path().parent().unwrap()).unwrap();
    std::fs::write(corpus_path(), bytes).unwrap();
    load_corpus();
}
