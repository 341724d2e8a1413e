//! Durability: kill -9 our ZooKeeper server in the middle of a stream of
//! pipelined writes from several sessions, again and again; after each
//! restart every write that was acknowledged is there with its data.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support;
use crate::zk_harness::{self, create_body, path_body, Raw};

const WRITERS: usize = 4;
const ROUNDS: usize = 20;
const WINDOW: usize = 32;
const MAX_PER_WRITER: i32 = 20_000;

/// Pipelines creates on one session until the connection dies; returns
/// the paths whose create was acknowledged.
fn writer(port: u16, round: usize, w: usize, acked: Arc<AtomicUsize>) -> Vec<String> {
    let Ok(raw) = Raw::connect(port, 30_000) else { return Vec::new() };
    let mut rx = Raw { stream: raw.stream.try_clone().unwrap(), ..raw };
    let mut tx =
        Raw { stream: rx.stream.try_clone().unwrap(), session: 0, password: vec![], timeout: 0 };
    let sent: Arc<Mutex<HashMap<i32, String>>> = Arc::default();
    let sent2 = sent.clone();
    let (ack_tx, ack_rx) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let mut ok = Vec::new();
        while let Ok(r) = rx.recv() {
            if let Some(p) = sent2.lock().unwrap().remove(&r.xid) {
                assert_eq!(r.err, 0, "create {p} failed with {}", r.err);
                ok.push(p);
                acked.fetch_add(1, Ordering::Relaxed);
                let _ = ack_tx.send(());
            }
        }
        ok
    });
    let mut in_flight = 0;
    for i in 1..MAX_PER_WRITER {
        // A window keeps the stream steady instead of queueing everything at once.
        while in_flight >= WINDOW {
            if ack_rx.recv_timeout(Duration::from_secs(20)).is_err() {
                return reader.join().unwrap();
            }
            in_flight -= 1;
        }
        in_flight += 1;
        let p = format!("/crash-{round}-{w}-{i}");
        sent.lock().unwrap().insert(i, p.clone());
        if tx.send(i, 1, &create_body(&p, p.as_bytes(), 0)).is_err() {
            break;
        }
    }
    reader.join().unwrap()
}

/// Pipelined getData of every path; all must exist with their own name as data.
pub fn verify(port: u16, paths: &[String]) {
    let mut c = Raw::connect(port, 30_000).unwrap();
    for chunk in paths.chunks(500) {
        for (i, p) in chunk.iter().enumerate() {
            c.send(i as i32 + 1, 4, &path_body(p, false)).unwrap();
        }
        for p in chunk {
            let r = c.recv().unwrap();
            assert_eq!(r.err, 0, "acknowledged {p} is missing after restart");
            let len = i32::from_be_bytes(r.body[0..4].try_into().unwrap()) as usize;
            let data = &r.body[4..4 + len];
            let want = &chunk[r.xid as usize - 1];
            assert_eq!(data, want.as_bytes(), "data of {want}");
        }
    }
}

#[test]
fn kill_9_during_writes_loses_nothing_acknowledged() {
    let dir = tempfile::Builder::new().prefix("zkcrash").tempdir().unwrap();
    let port = support::free_port();
    // A small snapCount so crashes also land around snapshots and log rolls.
    let extra = "snapCount=1000";
    let mut server = zk_harness::spawn_ours(dir.path(), port, extra);
    let mut all = Vec::new();
    for round in 0..ROUNDS {
        let acked = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let acked = acked.clone();
                std::thread::spawn(move || writer(port, round, w, acked))
            })
            .collect();
        let target = fastrand::usize(1..600);
        support::wait_until(
            Duration::from_secs(30),
            &format!("round {round}: {target} acknowledged writes"),
            || acked.load(Ordering::Relaxed) >= target,
        );
        server.kill9();
        let mut this_round = Vec::new();
        for w in writers {
            this_round.extend(w.join().unwrap());
        }
        server = zk_harness::spawn_ours(dir.path(), port, extra);
        verify(port, &this_round);
        all.extend(this_round);
    }
    verify(port, &all);
    assert!(all.len() >= ROUNDS, "every round acknowledged something");
}
