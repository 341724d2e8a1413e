//! Many connections, pipelined requests answered in order, and a client
//! that never reads its answers not stalling anyone else.

use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse,
};

use crate::broker_support::{vm_rss_kib, Broker, Wire};
use crate::support;

#[test]
fn pipelined_requests_come_back_in_order() {
    let broker = Broker::start(&[]);
    let mut w = broker.wire();
    let mut sent = Vec::new();
    let mut bytes = Vec::new();
    for i in 0..200 {
        // Alternate APIs so answers of different sizes and handlers interleave.
        let (cid, frame) = if i % 2 == 0 {
            w.frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
        } else {
            w.frame(ApiKey::Metadata, 9, &MetadataRequest::default().with_topics(None))
        };
        sent.push((i, cid));
        bytes.extend_from_slice(&frame);
    }
    w.send_raw(&bytes); // all 200 in one write
    for (i, cid) in sent {
        if i % 2 == 0 {
            let r: ApiVersionsResponse =
                w.read_response(ApiKey::ApiVersions, 3, cid).expect("answer");
            assert_eq!(r.error_code, 0);
        } else {
            let r: MetadataResponse = w.read_response(ApiKey::Metadata, 9, cid).expect("answer");
            assert_eq!(r.brokers.len(), 1);
        }
    }
}

#[test]
fn a_thousand_connections_and_a_client_that_does_not_read() {
    let broker = Broker::start(&[]);
    // A client that floods requests and never reads: its answers back up
    // in its own socket and queue only.
    let mut flood = broker.wire();
    let (_, frame) =
        flood.frame(ApiKey::Metadata, 9, &MetadataRequest::default().with_topics(None));
    let burst: Vec<u8> = frame.iter().copied().cycle().take(frame.len() * 20_000).collect();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = flood.stream.set_write_timeout(Some(std::time::Duration::from_secs(5)));
        let _ = flood.stream.write_all(&burst);
        flood
    });
    let mut conns: Vec<Wire> = (0..1000).map(|_| broker.wire()).collect();
    for w in &mut conns {
        let r: ApiVersionsResponse = w.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
        assert_eq!(r.error_code, 0, "every connection is served");
    }
    drop(writer.join());
}

/// Ten clients each announce a 100 MB request (the default
/// socket.request.max.bytes) and send all of it but the last byte. The
/// broker reads only as much as its request memory pool holds (by default
/// one such request), leaves the rest in the clients' sockets, and keeps
/// answering small requests meanwhile.
#[test]
fn partial_frames_stay_within_the_request_pool() {
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    const CONNECTIONS: usize = 10;
    const FRAME: usize = 104_857_600;
    let broker = Broker::start(&[]);
    let pid = broker.child.pid();
    let before = vm_rss_kib(pid);
    // A writer is settled once it sent everything or the broker stopped
    // reading it for a while.
    let settled = Arc::new(AtomicUsize::new(0));
    let mut conns = Vec::new();
    let mut writers = Vec::new();
    for _ in 0..CONNECTIONS {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", broker.port)).unwrap();
        s.set_write_timeout(Some(Duration::from_millis(500))).unwrap();
        conns.push(s.try_clone().unwrap());
        let settled = settled.clone();
        writers.push(std::thread::spawn(move || {
            let chunk = vec![0u8; 1 << 20];
            let mut left = FRAME - 1;
            let mut out = (FRAME as i32).to_be_bytes().to_vec();
            while left > 0 {
                let n = left.min(chunk.len());
                out.extend_from_slice(&chunk[..n]);
                if s.write_all(&out).is_err() {
                    break; // timed out: the broker is not reading us
                }
                out.clear();
                left -= n;
            }
            settled.fetch_add(1, Ordering::SeqCst);
        }));
    }
    support::wait_until(Duration::from_secs(120), "every writer sent all or stalled", || {
        settled.load(Ordering::SeqCst) == CONNECTIONS
    });
    let grown_mib = vm_rss_kib(pid).saturating_sub(before) / 1024;
    eprintln!("VmRSS grew by {grown_mib} MiB with {CONNECTIONS} partial 100 MB frames");
    assert!(
        grown_mib < 200,
        "VmRSS grew by {grown_mib} MiB: more than the pool (100 MiB) plus slack"
    );
    let resp: ApiVersionsResponse =
        broker.wire().call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert_eq!(resp.error_code, 0, "small requests are still answered");
    drop(conns);
    for w in writers {
        w.join().unwrap();
    }
    // The pool is whole again once those clients are gone.
    let mut w = broker.wire();
    let (_, frame) =
        w.frame(ApiKey::Metadata, 1, &MetadataRequest::default().with_topics(Some(Vec::new())));
    let mut big = frame.clone();
    big.resize(4 + 1_000_000, 0);
    big[..4].copy_from_slice(&1_000_000i32.to_be_bytes());
    w.send_raw(&big);
    let resp: Option<MetadataResponse> = w.read_response(ApiKey::Metadata, 1, 1);
    assert!(resp.is_some(), "a large request is read again once the pool is free");
}

/// A client that announces a large frame and stops sending loses its
/// connection after connections.max.idle.ms, and the request memory it held
/// goes to the large request waiting behind it.
#[test]
fn a_stalled_large_frame_gives_its_memory_back() {
    use std::time::{Duration, Instant};

    let broker =
        Broker::start(&["queued.max.request.bytes=1000000", "connections.max.idle.ms=1000"]);
    let mut stalled = broker.wire();
    stalled.send_raw(&[&900_000i32.to_be_bytes()[..], &[0u8; 10]].concat());
    std::thread::sleep(Duration::from_millis(100)); // let it reserve first
    let mut waiting = broker.wire();
    let (cid, frame) = waiting.frame(
        ApiKey::Metadata,
        1,
        &MetadataRequest::default().with_topics(Some(Vec::new())),
    );
    let mut big = frame.clone();
    big.resize(4 + 500_000, 0);
    big[..4].copy_from_slice(&500_000i32.to_be_bytes());
    let start = Instant::now();
    waiting.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    waiting.send_raw(&big);
    let resp: Option<MetadataResponse> = waiting.read_response(ApiKey::Metadata, 1, cid);
    assert!(resp.is_some(), "the waiting request is answered once the stalled one is dropped");
    assert!(start.elapsed() >= Duration::from_millis(500), "it did wait for the memory");
    assert!(stalled.is_closed(), "the stalled connection is closed");
    broker.log_showing("the reason", |l| l.contains("connections.max.idle.ms"));
}
