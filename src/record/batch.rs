//! A zero-copy view over RecordBatch v2 bytes, the unit the log stores and
//! the wire carries.
//!
//! ```text
//! offset  size  field                    covered by CRC
//!      0     8  base_offset  (i64)       no   stamped by the broker on append
//!      8     4  batch_length (i32)       no   bytes after this field
//!     12     4  partition_leader_epoch   no   stamped by the broker on append
//!     16     1  magic (i8) = 2           no
//!     17     4  crc (u32, CRC-32C)       no
//!     21     2  attributes (i16)         yes  bits 0-2 codec, 3 timestamp type,
//!                                             4 transactional, 5 control,
//!                                             6 delete horizon set
//!     23     4  last_offset_delta (i32)  yes
//!     27     8  base_timestamp (i64)     yes  delete horizon when bit 6 is set
//!     35     8  max_timestamp (i64)      yes
//!     43     8  producer_id (i64)        yes
//!     51     2  producer_epoch (i16)     yes
//!     53     4  base_sequence (i32)      yes
//!     57     4  records_count (i32)      yes
//!     61     …  records (compressed as a whole when a codec is set)
//! ```
//!
//! All integers are big-endian. The whole batch is `batch_length + 12` bytes.
//! Kafka's reference is `DefaultRecordBatch.java`.

use std::fmt;

use super::compression::Compression;
use super::crc::crc32c;
use super::records::Records;
use super::Error;

pub const BASE_OFFSET_OFFSET: usize = 0;
pub const LENGTH_OFFSET: usize = 8;
pub const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
pub const MAGIC_OFFSET: usize = 16;
pub const CRC_OFFSET: usize = 17;
pub const ATTRIBUTES_OFFSET: usize = 21;
pub const LAST_OFFSET_DELTA_OFFSET: usize = 23;
pub const BASE_TIMESTAMP_OFFSET: usize = 27;
pub const MAX_TIMESTAMP_OFFSET: usize = 35;
pub const PRODUCER_ID_OFFSET: usize = 43;
pub const PRODUCER_EPOCH_OFFSET: usize = 51;
pub const BASE_SEQUENCE_OFFSET: usize = 53;
pub const RECORDS_COUNT_OFFSET: usize = 57;
pub const RECORDS_OFFSET: usize = 61;
/// Size of a batch with no records.
pub const HEADER_SIZE: usize = RECORDS_OFFSET;
/// `base_offset` + `batch_length`: the part not counted in `batch_length`.
pub const LOG_OVERHEAD: usize = 12;
/// Bytes needed to learn a batch's size and magic.
pub const SIZE_PEEK: usize = MAGIC_OFFSET + 1;
pub const MAGIC: i8 = 2;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;
const DELETE_HORIZON_BIT: i16 = 0x40;

/// Where a batch's timestamps come from (`message.timestamp.type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TimestampType {
    #[default]
    CreateTime,
    LogAppendTime,
}

impl fmt::Display for TimestampType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        })
    }
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

/// Reads the size of the batch starting at `buf[0]` from its first
/// [`SIZE_PEEK`] bytes, checking length and magic. `position` is only used
/// in errors. A `Truncated` error means more bytes are needed.
pub fn peek_batch_size(buf: &[u8], position: usize) -> Result<usize, Error> {
    if buf.len() < SIZE_PEEK {
        return Err(Error::Truncated { position, needed: SIZE_PEEK, available: buf.len() });
    }
    let length = be_i32(buf, LENGTH_OFFSET);
    if length < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
        return Err(Error::InvalidLength { position, length });
    }
    let magic = buf[MAGIC_OFFSET] as i8;
    if magic != MAGIC {
        return Err(Error::UnsupportedMagic { position, magic });
    }
    Ok(length as usize + LOG_OVERHEAD)
}

/// One RecordBatch v2, borrowed. Its length and magic have been checked;
/// its CRC has not (call [`RecordBatch::verify_crc`]).
#[derive(Clone, Copy)]
pub struct RecordBatch<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> RecordBatch<'a> {
    /// Reads the batch at the start of `buf`; trailing bytes are ignored.
    pub fn parse(buf: &'a [u8]) -> Result<Self, Error> {
        Self::parse_at(buf, 0)
    }

    /// As [`RecordBatch::parse`], remembering that `buf` starts at `position`
    /// of a larger buffer or file (for error messages and [`Self::position`]).
    pub fn parse_at(buf: &'a [u8], position: usize) -> Result<Self, Error> {
        let size = peek_batch_size(buf, position)?;
        let bytes = buf.get(..size).ok_or(Error::Truncated {
            position,
            needed: size,
            available: buf.len(),
        })?;
        Ok(Self { bytes, position })
    }

    /// The batch's bytes, exactly as stored.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Where the batch starts in the buffer (or file) it was read from.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Total size in bytes, including offset and length fields.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    pub fn base_offset(&self) -> i64 {
        be_i64(self.bytes, BASE_OFFSET_OFFSET)
    }
    pub fn batch_length(&self) -> i32 {
        be_i32(self.bytes, LENGTH_OFFSET)
    }
    pub fn partition_leader_epoch(&self) -> i32 {
        be_i32(self.bytes, PARTITION_LEADER_EPOCH_OFFSET)
    }
    pub fn magic(&self) -> i8 {
        self.bytes[MAGIC_OFFSET] as i8
    }
    pub fn crc(&self) -> u32 {
        be_i32(self.bytes, CRC_OFFSET) as u32
    }
    pub fn attributes(&self) -> i16 {
        be_i16(self.bytes, ATTRIBUTES_OFFSET)
    }
    pub fn compression(&self) -> Result<Compression, Error> {
        Ok(Compression::from_id((self.attributes() & COMPRESSION_MASK) as u8)?)
    }
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes() & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }
    pub fn is_transactional(&self) -> bool {
        self.attributes() & TRANSACTIONAL_BIT != 0
    }
    pub fn is_control(&self) -> bool {
        self.attributes() & CONTROL_BIT != 0
    }
    /// The delete horizon the cleaner set (KIP-534), stored in
    /// `base_timestamp` when attributes bit 6 is set.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        (self.attributes() & DELETE_HORIZON_BIT != 0).then(|| self.base_timestamp())
    }
    pub fn last_offset_delta(&self) -> i32 {
        be_i32(self.bytes, LAST_OFFSET_DELTA_OFFSET)
    }
    pub fn base_timestamp(&self) -> i64 {
        be_i64(self.bytes, BASE_TIMESTAMP_OFFSET)
    }
    pub fn max_timestamp(&self) -> i64 {
        be_i64(self.bytes, MAX_TIMESTAMP_OFFSET)
    }
    pub fn producer_id(&self) -> i64 {
        be_i64(self.bytes, PRODUCER_ID_OFFSET)
    }
    pub fn producer_epoch(&self) -> i16 {
        be_i16(self.bytes, PRODUCER_EPOCH_OFFSET)
    }
    pub fn base_sequence(&self) -> i32 {
        be_i32(self.bytes, BASE_SEQUENCE_OFFSET)
    }
    /// The sequence of the last record, wrapping past `i32::MAX` to 0 as
    /// Kafka's `DefaultRecordBatch.incrementSequence` does; -1 without one.
    pub fn last_sequence(&self) -> i32 {
        increment_sequence(self.base_sequence(), self.last_offset_delta())
    }

    /// The header fields, copied.
    pub fn header(&self) -> BatchHeader {
        // A parsed batch always holds a whole header.
        BatchHeader::parse_at(self.bytes, self.position).expect("parsed batch has a header")
    }
    pub fn records_count(&self) -> i32 {
        be_i32(self.bytes, RECORDS_COUNT_OFFSET)
    }
    pub fn last_offset(&self) -> i64 {
        self.base_offset().wrapping_add(i64::from(self.last_offset_delta()))
    }
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// The CRC-32C of the covered bytes (attributes to the end).
    pub fn compute_crc(&self) -> u32 {
        crc32c(&self.bytes[ATTRIBUTES_OFFSET..])
    }

    pub fn is_valid(&self) -> bool {
        self.crc() == self.compute_crc()
    }

    pub fn verify_crc(&self) -> Result<(), Error> {
        let (stored, computed) = (self.crc(), self.compute_crc());
        if stored != computed {
            return Err(Error::CrcMismatch { position: self.position, stored, computed });
        }
        Ok(())
    }

    /// The record bytes after the count: compressed when a codec is set.
    pub fn records_payload(&self) -> &'a [u8] {
        &self.bytes[RECORDS_OFFSET..]
    }

    /// The records, decompressed into a buffer when the batch is compressed
    /// and borrowed from the batch otherwise.
    pub fn records(&self) -> Result<Records<'a>, Error> {
        Records::of(self)
    }
}

impl fmt::Debug for RecordBatch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordBatch")
            .field("position", &self.position)
            .field("base_offset", &self.base_offset())
            .field("last_offset", &self.last_offset())
            .field("size", &self.size())
            .field("records_count", &self.records_count())
            .finish()
    }
}

/// The fixed header of a batch, copied out of its first [`HEADER_SIZE`]
/// bytes: what the log reads when it scans a file without loading records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    /// Reads a header from the start of `buf` (at least [`HEADER_SIZE`]
    /// bytes), checking length and magic like [`RecordBatch::parse_at`].
    pub fn parse_at(buf: &[u8], position: usize) -> Result<Self, Error> {
        peek_batch_size(buf, position)?;
        if buf.len() < HEADER_SIZE {
            return Err(Error::Truncated { position, needed: HEADER_SIZE, available: buf.len() });
        }
        Ok(Self {
            base_offset: be_i64(buf, BASE_OFFSET_OFFSET),
            batch_length: be_i32(buf, LENGTH_OFFSET),
            partition_leader_epoch: be_i32(buf, PARTITION_LEADER_EPOCH_OFFSET),
            magic: buf[MAGIC_OFFSET] as i8,
            crc: be_i32(buf, CRC_OFFSET) as u32,
            attributes: be_i16(buf, ATTRIBUTES_OFFSET),
            last_offset_delta: be_i32(buf, LAST_OFFSET_DELTA_OFFSET),
            base_timestamp: be_i64(buf, BASE_TIMESTAMP_OFFSET),
            max_timestamp: be_i64(buf, MAX_TIMESTAMP_OFFSET),
            producer_id: be_i64(buf, PRODUCER_ID_OFFSET),
            producer_epoch: be_i16(buf, PRODUCER_EPOCH_OFFSET),
            base_sequence: be_i32(buf, BASE_SEQUENCE_OFFSET),
            records_count: be_i32(buf, RECORDS_COUNT_OFFSET),
        })
    }

    /// Total size of the batch in bytes.
    pub fn size(&self) -> usize {
        self.batch_length as usize + LOG_OVERHEAD
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset.wrapping_add(i64::from(self.last_offset_delta))
    }

    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    pub fn compression(&self) -> Result<Compression, Error> {
        Ok(Compression::from_id((self.attributes & COMPRESSION_MASK) as u8)?)
    }

    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    pub fn last_sequence(&self) -> i32 {
        increment_sequence(self.base_sequence, self.last_offset_delta)
    }
}

/// `base + delta` for producer sequences, wrapping past `i32::MAX` to 0 as
/// Kafka's `DefaultRecordBatch.incrementSequence` does; -1 without a base.
pub fn increment_sequence(base: i32, delta: i32) -> i32 {
    if base < 0 {
        return -1;
    }
    if delta < 0 {
        return base;
    }
    if base > i32::MAX - delta {
        base - (i32::MAX - delta) - 1
    } else {
        base + delta
    }
}

/// A batch whose broker-owned header fields can be stamped in place.
pub struct RecordBatchMut<'a> {
    bytes: &'a mut [u8],
}

impl<'a> RecordBatchMut<'a> {
    /// `buf` must start with a batch; it is cut to that batch's size.
    pub fn new(buf: &'a mut [u8]) -> Result<Self, Error> {
        let size = RecordBatch::parse(buf)?.size();
        Ok(Self { bytes: &mut buf[..size] })
    }

    pub fn as_batch(&self) -> RecordBatch<'_> {
        RecordBatch { bytes: self.bytes, position: 0 }
    }

    /// Not covered by the CRC, so no re-encoding or checksum is needed.
    pub fn set_base_offset(&mut self, offset: i64) {
        self.bytes[BASE_OFFSET_OFFSET..BASE_OFFSET_OFFSET + 8]
            .copy_from_slice(&offset.to_be_bytes());
    }

    /// Not covered by the CRC, so no re-encoding or checksum is needed.
    pub fn set_partition_leader_epoch(&mut self, epoch: i32) {
        self.bytes[PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4]
            .copy_from_slice(&epoch.to_be_bytes());
    }

    /// Marks the batch LogAppendTime with `timestamp` as its max timestamp,
    /// as Kafka's `setMaxTimestamp` does; these fields are covered by the
    /// CRC, which is recomputed.
    pub fn set_log_append_time(&mut self, timestamp: i64) {
        let attributes = self.as_batch().attributes() | TIMESTAMP_TYPE_BIT;
        self.bytes[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2]
            .copy_from_slice(&attributes.to_be_bytes());
        self.set_max_timestamp(timestamp);
    }

    /// Rewrites `max_timestamp` (when the producer's header disagrees with
    /// its records) and recomputes the CRC that covers it.
    pub fn set_max_timestamp(&mut self, timestamp: i64) {
        self.bytes[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8]
            .copy_from_slice(&timestamp.to_be_bytes());
        let crc = self.as_batch().compute_crc();
        self.bytes[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    }
}

/// Walks a buffer of concatenated batches. Yields each batch (length and
/// magic checked, CRC not) and stops after the first error, which carries
/// the position of the bad batch. Never panics, whatever the bytes.
#[derive(Clone)]
pub struct Batches<'a> {
    buf: &'a [u8],
    position: usize,
    base_position: usize,
    failed: bool,
}

impl<'a> Batches<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self::starting_at(buf, 0)
    }

    /// As [`Batches::new`] for a buffer read from `base_position` of a file,
    /// so positions in batches and errors are file positions.
    pub fn starting_at(buf: &'a [u8], base_position: usize) -> Self {
        Self { buf, position: 0, base_position, failed: false }
    }

    /// Bytes consumed so far: the end of the last whole batch yielded.
    pub fn valid_bytes(&self) -> usize {
        self.position
    }
}

impl<'a> Iterator for Batches<'a> {
    type Item = Result<RecordBatch<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.position >= self.buf.len() {
            return None;
        }
        match RecordBatch::parse_at(&self.buf[self.position..], self.base_position + self.position)
        {
            Ok(batch) => {
                self.position += batch.size();
                Some(Ok(batch))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchBuilder, NewRecord};
    use proptest::prelude::*;

    fn sample() -> Vec<u8> {
        let mut b = BatchBuilder::new(Compression::None).producer(7, 3, 10);
        b.push(NewRecord::new(1000, Some(b"k"), Some(b"v")));
        b.push(NewRecord::new(1005, None, Some(b"w")));
        b.build().unwrap()
    }

    #[test]
    fn header_fields() {
        let bytes = sample();
        let b = RecordBatch::parse(&bytes).unwrap();
        assert_eq!(b.size(), bytes.len());
        assert_eq!(b.batch_length() as usize, bytes.len() - LOG_OVERHEAD);
        assert_eq!(b.magic(), 2);
        assert_eq!(b.base_offset(), 0);
        assert_eq!(b.last_offset_delta(), 1);
        assert_eq!(b.last_offset(), 1);
        assert_eq!(b.base_timestamp(), 1000);
        assert_eq!(b.max_timestamp(), 1005);
        assert_eq!((b.producer_id(), b.producer_epoch(), b.base_sequence()), (7, 3, 10));
        assert_eq!(b.last_sequence(), 11);
        assert_eq!(b.records_count(), 2);
        assert_eq!(b.compression().unwrap(), Compression::None);
        assert_eq!(b.timestamp_type(), TimestampType::CreateTime);
        assert!(!b.is_transactional() && !b.is_control() && b.delete_horizon_ms().is_none());
        assert!(b.is_valid());
    }

    #[test]
    fn stamping_offset_and_epoch_keeps_the_crc() {
        let mut bytes = sample();
        let crc = RecordBatch::parse(&bytes).unwrap().crc();
        let mut m = RecordBatchMut::new(&mut bytes).unwrap();
        m.set_base_offset(1_000_000);
        m.set_partition_leader_epoch(42);
        let b = RecordBatch::parse(&bytes).unwrap();
        assert_eq!(
            (b.base_offset(), b.last_offset(), b.partition_leader_epoch()),
            (1_000_000, 1_000_001, 42)
        );
        assert_eq!(b.crc(), crc);
        assert!(b.is_valid());
    }

    #[test]
    fn log_append_time_recomputes_the_crc() {
        let mut bytes = sample();
        RecordBatchMut::new(&mut bytes).unwrap().set_log_append_time(99);
        let b = RecordBatch::parse(&bytes).unwrap();
        assert_eq!(b.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(b.max_timestamp(), 99);
        assert!(b.is_valid());
    }

    #[test]
    fn sequence_wraps_like_kafka() {
        let mut b = BatchBuilder::new(Compression::None).producer(1, 0, i32::MAX);
        b.push(NewRecord::new(0, None, Some(b"a")));
        b.push(NewRecord::new(0, None, Some(b"b")));
        let bytes = b.build().unwrap();
        assert_eq!(RecordBatch::parse(&bytes).unwrap().last_sequence(), 0);
    }

    #[test]
    fn bad_buffers() {
        let good = sample();
        let mut short_len = good.clone();
        short_len[8..12].copy_from_slice(&10i32.to_be_bytes());
        let mut magic1 = good.clone();
        magic1[MAGIC_OFFSET] = 1;
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        type Check = fn(&Error) -> bool;
        let cases: Vec<(Vec<u8>, &str, Check)> = vec![
            (good[..10].to_vec(), "cut inside the header", |e| {
                matches!(e, Error::Truncated { .. })
            }),
            (good[..good.len() - 1].to_vec(), "cut inside the records", |e| {
                matches!(e, Error::Truncated { .. })
            }),
            (short_len, "length smaller than a header", |e| {
                matches!(e, Error::InvalidLength { .. })
            }),
            (magic1, "old message format", |e| {
                matches!(e, Error::UnsupportedMagic { magic: 1, .. })
            }),
        ];
        for (bytes, why, check) in cases {
            let err = RecordBatch::parse(&bytes).unwrap_err();
            assert!(check(&err), "{why}: {err}");
        }
        let b = RecordBatch::parse(&flipped).unwrap();
        assert!(
            matches!(b.verify_crc(), Err(Error::CrcMismatch { .. })),
            "payload bit flip fails the CRC"
        );
    }

    #[test]
    fn iterator_reports_position_of_bad_batch() {
        let one = sample();
        let mut buf = one.clone();
        buf.extend_from_slice(&one);
        buf.extend_from_slice(&one[..20]);
        let items: Vec<_> = Batches::starting_at(&buf, 100).collect();
        assert_eq!(items.len(), 3);
        assert_eq!(items[1].as_ref().unwrap().position(), 100 + one.len());
        match &items[2] {
            Err(Error::Truncated { position, .. }) => assert_eq!(*position, 100 + 2 * one.len()),
            other => panic!("expected truncation, got {other:?}"),
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes: Vec<u8>) {
            let mut iter = Batches::new(&bytes);
            for batch in iter.by_ref().flatten() {
                let _ = batch.verify_crc();
                let _ = batch.last_sequence();
                let _ = batch.compression();
                if let Ok(records) = batch.records() {
                    for r in records.iter().flatten() {
                        let _ = r.headers().count();
                    }
                }
            }
            prop_assert!(iter.valid_bytes() <= bytes.len());
        }

        #[test]
        fn damaged_batches_never_panic(flips in proptest::collection::vec((0usize..200, any::<u8>()), 1..8)) {
            let mut bytes = sample();
            for (at, v) in flips {
                let n = bytes.len();
                bytes[at % n] = v;
            }
            for batch in Batches::new(&bytes).flatten() {
                if let Ok(records) = batch.records() {
                    for r in records.iter().flatten() { let _ = r.headers().count(); }
                }
            }
        }
    }
}
