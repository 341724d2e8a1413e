//! Many connections, pipelined requests answered in order, and a client
//! that never reads its answers not stalling anyone else.

use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse,
};

use crate::broker_support::{Broker, Wire};

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
