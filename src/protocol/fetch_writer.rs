//! The Fetch response, written by hand so record bytes never pass through a
//! user-space buffer: the response is a list of chunks, small encoded
//! header pieces and the file regions holding the record batches, which the
//! broker sends with `sendfile(2)`. Covers Fetch v0-v12 (v12 is the first
//! flexible version; v13+ name topics by id).
//!
//! Layout per version (`FetchResponse.json`): throttle_time_ms (v1+),
//! error_code and session_id (v7+), then per topic its name and per
//! partition index, error_code, high_watermark, last_stable_offset (v4+),
//! log_start_offset (v5+), aborted_transactions (v4+),
//! preferred_read_replica (v11+) and records. `records` is never null
//! (librdkafka reads -1 as "invalid MessageSetSize").

use bytes::{BufMut, Bytes, BytesMut};

use super::ErrorCode;

/// A region of record bytes that the writer does not copy: the broker
/// provides its file slice type here.
pub trait RecordsRegion {
    fn len(&self) -> usize;
}

/// Records built in memory (down-converted for Fetch v0-3).
impl RecordsRegion for Bytes {
    fn len(&self) -> usize {
        Bytes::len(self)
    }
}

/// One piece of an encoded response, sent in order.
#[derive(Debug)]
pub enum Chunk<R> {
    Bytes(Bytes),
    Region(R),
}

/// One partition's part of the response.
#[derive(Debug)]
pub struct FetchPartitionData<R> {
    pub partition_index: i32,
    pub error_code: ErrorCode,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// (producer_id, first_offset) of aborted transactions in the range
    /// read, for read_committed fetches.
    pub aborted_transactions: Vec<(i64, i64)>,
    /// `None` is sent as zero bytes of records, never as null.
    pub records: Option<R>,
}

#[derive(Debug)]
pub struct FetchTopicData<R> {
    pub name: String,
    pub partitions: Vec<FetchPartitionData<R>>,
}

/// The top-level fields of a Fetch response.
#[derive(Debug)]
pub struct FetchResponseData<R> {
    pub throttle_time_ms: i32,
    pub error_code: ErrorCode,
    pub session_id: i32,
    pub topics: Vec<FetchTopicData<R>>,
}

pub const MIN_VERSION: i16 = 0;
pub const MAX_VERSION: i16 = 12;
const FIRST_FLEXIBLE: i16 = 12;

struct Writer<R> {
    chunks: Vec<Chunk<R>>,
    buf: BytesMut,
    flexible: bool,
}

impl<R> Writer<R> {
    fn array_len(&mut self, n: usize) {
        if self.flexible {
            put_uvarint(&mut self.buf, n as u64 + 1);
        } else {
            self.buf.put_i32(n as i32);
        }
    }

    fn string(&mut self, s: &str) {
        if self.flexible {
            put_uvarint(&mut self.buf, s.len() as u64 + 1);
        } else {
            self.buf.put_i16(s.len() as i16);
        }
        self.buf.put_slice(s.as_bytes());
    }

    fn tagged_fields(&mut self) {
        if self.flexible {
            put_uvarint(&mut self.buf, 0);
        }
    }

    fn region(&mut self, r: R) {
        let head = self.buf.split().freeze();
        self.chunks.push(Chunk::Bytes(head));
        self.chunks.push(Chunk::Region(r));
    }
}

fn put_uvarint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Raises the throttle_time_ms of an encoded response to at least `ms`
/// (the request quota's verdict comes after the response is built). Only
/// the first chunk, the header's, is rewritten.
pub fn raise_throttle<R>(chunks: &mut [Chunk<R>], version: i16, ms: i32) {
    if version < 1 {
        return;
    }
    // Size, correlation id, and the header's tagged fields when flexible.
    let at = 8 + usize::from(version >= FIRST_FLEXIBLE);
    let Some(Chunk::Bytes(head)) = chunks.first_mut() else { return };
    let Some(field) = head.get(at..at + 4) else { return };
    let current = i32::from_be_bytes([field[0], field[1], field[2], field[3]]);
    if ms > current {
        let mut patched = BytesMut::from(&head[..]);
        patched[at..at + 4].copy_from_slice(&ms.to_be_bytes());
        *head = patched.freeze();
    }
}

/// Encodes a complete response frame (size prefix, header, body) for
/// `version` in `MIN_VERSION..=MAX_VERSION`; returns the chunks and the
/// total number of bytes they hold.
pub fn write_fetch_response<R: RecordsRegion>(
    version: i16,
    correlation_id: i32,
    data: FetchResponseData<R>,
) -> (Vec<Chunk<R>>, usize) {
    debug_assert!((MIN_VERSION..=MAX_VERSION).contains(&version));
    let mut w = Writer {
        chunks: Vec::new(),
        buf: BytesMut::with_capacity(256),
        flexible: version >= FIRST_FLEXIBLE,
    };
    w.buf.put_i32(0); // size, patched below
    w.buf.put_i32(correlation_id);
    w.tagged_fields(); // response header v1 for flexible versions
    if version >= 1 {
        w.buf.put_i32(data.throttle_time_ms);
    }
    if version >= 7 {
        w.buf.put_i16(data.error_code.code());
        w.buf.put_i32(data.session_id);
    }
    w.array_len(data.topics.len());
    for topic in data.topics {
        w.string(&topic.name);
        w.array_len(topic.partitions.len());
        for p in topic.partitions {
            w.buf.put_i32(p.partition_index);
            w.buf.put_i16(p.error_code.code());
            w.buf.put_i64(p.high_watermark);
            if version >= 4 {
                w.buf.put_i64(p.last_stable_offset);
            }
            if version >= 5 {
                w.buf.put_i64(p.log_start_offset);
            }
            if version >= 4 {
                w.array_len(p.aborted_transactions.len());
                for (producer_id, first_offset) in p.aborted_transactions {
                    w.buf.put_i64(producer_id);
                    w.buf.put_i64(first_offset);
                    w.tagged_fields();
                }
            }
            if version >= 11 {
                w.buf.put_i32(-1); // preferred_read_replica
            }
            let len = p.records.as_ref().map_or(0, |r| r.len());
            if w.flexible {
                put_uvarint(&mut w.buf, len as u64 + 1);
            } else {
                w.buf.put_i32(len as i32);
            }
            if let Some(r) = p.records.filter(|r| r.len() > 0) {
                w.region(r);
            }
            w.tagged_fields();
        }
        w.tagged_fields();
    }
    w.tagged_fields();
    let tail = w.buf.split().freeze();
    if !tail.is_empty() {
        w.chunks.push(Chunk::Bytes(tail));
    }
    let total: usize = w
        .chunks
        .iter()
        .map(|c| match c {
            Chunk::Bytes(b) => b.len(),
            Chunk::Region(r) => r.len(),
        })
        .sum();
    // The first chunk always starts with the size prefix: patch it.
    if let Some(Chunk::Bytes(first)) = w.chunks.first_mut() {
        let mut patched = BytesMut::from(&first[..]);
        patched[..4].copy_from_slice(&((total - 4) as i32).to_be_bytes());
        *first = patched.freeze();
    }
    (w.chunks, total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{FetchResponse, ResponseHeader};
    use kafka_protocol::protocol::Decodable;

    impl RecordsRegion for Vec<u8> {
        fn len(&self) -> usize {
            Vec::len(self)
        }
    }

    fn flatten(chunks: Vec<Chunk<Vec<u8>>>) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks {
            match c {
                Chunk::Bytes(b) => out.extend_from_slice(&b),
                Chunk::Region(r) => out.extend_from_slice(&r),
            }
        }
        out
    }

    #[test]
    fn every_version_decodes_with_the_reference_codec() {
        for version in MIN_VERSION..=MAX_VERSION {
            let data = FetchResponseData {
                throttle_time_ms: 0,
                error_code: ErrorCode::None,
                session_id: 0,
                topics: vec![FetchTopicData {
                    name: "t".into(),
                    partitions: vec![
                        FetchPartitionData {
                            partition_index: 0,
                            error_code: ErrorCode::None,
                            high_watermark: 10,
                            last_stable_offset: 10,
                            log_start_offset: 2,
                            aborted_transactions: vec![(7, 3), (8, 5)],
                            records: Some(b"batchbytes".to_vec()),
                        },
                        FetchPartitionData {
                            partition_index: 1,
                            error_code: ErrorCode::OffsetOutOfRange,
                            high_watermark: 0,
                            last_stable_offset: 0,
                            log_start_offset: 0,
                            aborted_transactions: Vec::new(),
                            records: None,
                        },
                    ],
                }],
            };
            let (chunks, total) = write_fetch_response(version, 7, data);
            let bytes = flatten(chunks);
            assert_eq!(bytes.len(), total, "v{version}: total matches");
            let size = i32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
            assert_eq!(size + 4, total, "v{version}: size prefix");
            let mut body = Bytes::from(bytes[4..].to_vec());
            let hv = if version >= 12 { 1 } else { 0 };
            let header = ResponseHeader::decode(&mut body, hv).unwrap();
            assert_eq!(header.correlation_id, 7);
            let resp = FetchResponse::decode(&mut body, version).unwrap();
            assert!(body.is_empty(), "v{version}: nothing left over");
            let parts = &resp.responses[0].partitions;
            assert_eq!(parts[0].records.as_deref(), Some(&b"batchbytes"[..]), "v{version}");
            assert_eq!(parts[0].high_watermark, 10);
            let aborted: Vec<(i64, i64)> = parts[0]
                .aborted_transactions
                .iter()
                .flatten()
                .map(|a| (a.producer_id.0, a.first_offset))
                .collect();
            // Versions before 4 have no isolation level and no such field.
            let expected = if version >= 4 { vec![(7, 3), (8, 5)] } else { Vec::new() };
            assert_eq!(aborted, expected, "v{version}: aborted transactions");
            // Empty records are zero-length, not null (KAFKA-18646).
            assert_eq!(parts[1].records.as_deref(), Some(&b""[..]), "v{version}: never null");
            assert_eq!(parts[1].error_code, 1);
            if version >= 5 {
                assert_eq!(parts[0].log_start_offset, 2);
            }
            if version >= 11 {
                assert_eq!(*parts[0].preferred_read_replica, -1);
            }
        }
    }
}
