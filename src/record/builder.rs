//! Builds RecordBatch v2 bytes from records: what producers (our console
//! producer and perf tools), the log cleaner and tests use.

use super::batch::{self, MAGIC};
use super::compression::Compression;
use super::crc::crc32c;
use super::records::Header;
use super::varint::{varint_size, varlong_size, write_varint, write_varlong};
use super::Error;

/// Kafka's `RecordBatch.NO_TIMESTAMP`.
pub const NO_TIMESTAMP: i64 = -1;

/// A record to add to a batch.
#[derive(Clone, Copy, Debug)]
pub struct NewRecord<'a> {
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [Header<'a>],
}

impl<'a> NewRecord<'a> {
    pub fn new(timestamp: i64, key: Option<&'a [u8]>, value: Option<&'a [u8]>) -> Self {
        Self { timestamp, key, value, headers: &[] }
    }
}

/// Accumulates records and writes one v2 batch with a correct CRC.
///
/// Records are encoded as they are pushed, so [`BatchBuilder::size_estimate`]
/// is exact for uncompressed batches and an upper bound otherwise.
#[derive(Clone, Debug)]
pub struct BatchBuilder {
    compression: Compression,
    base_offset: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    control: bool,
    log_append_time: Option<i64>,
    last_offset_delta: Option<i32>,
    records: Vec<u8>,
    count: i32,
    next_delta: i32,
    first_timestamp: Option<i64>,
    max_timestamp: i64,
}

impl BatchBuilder {
    pub fn new(compression: Compression) -> Self {
        Self {
            compression,
            base_offset: 0,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
            control: false,
            log_append_time: None,
            last_offset_delta: None,
            records: Vec::new(),
            count: 0,
            next_delta: 0,
            first_timestamp: None,
            max_timestamp: NO_TIMESTAMP,
        }
    }

    pub fn base_offset(mut self, offset: i64) -> Self {
        self.base_offset = offset;
        self
    }

    pub fn partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }

    /// Idempotent producer fields: the batch's first record gets `base_sequence`.
    pub fn producer(mut self, id: i64, epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = id;
        self.producer_epoch = epoch;
        self.base_sequence = base_sequence;
        self
    }

    pub fn transactional(mut self, yes: bool) -> Self {
        self.transactional = yes;
        self
    }

    pub fn control(mut self, yes: bool) -> Self {
        self.control = yes;
        self
    }

    /// Writes the batch as LogAppendTime with `timestamp` as max timestamp.
    pub fn log_append_time(mut self, timestamp: i64) -> Self {
        self.log_append_time = Some(timestamp);
        self
    }

    /// Keeps a batch's original last offset when records were removed from
    /// its end (the cleaner does this so producer sequences stay intact).
    pub fn last_offset_delta(mut self, delta: i32) -> Self {
        self.last_offset_delta = Some(delta);
        self
    }

    /// Appends a record at the next offset.
    pub fn push(&mut self, record: NewRecord<'_>) {
        let delta = self.next_delta;
        self.push_at(delta, record);
    }

    /// Appends a record at `offset_delta` from the base offset; deltas must
    /// increase (gaps are allowed, as after compaction).
    pub fn push_at(&mut self, offset_delta: i32, record: NewRecord<'_>) {
        let first = *self.first_timestamp.get_or_insert(record.timestamp);
        self.max_timestamp = self.max_timestamp.max(record.timestamp);
        let timestamp_delta = record.timestamp.wrapping_sub(first);
        let bytes_len =
            |b: Option<&[u8]>| b.map_or(varint_size(-1), |b| varint_size(b.len() as i32) + b.len());
        let mut body = 1
            + varlong_size(timestamp_delta)
            + varint_size(offset_delta)
            + bytes_len(record.key)
            + bytes_len(record.value)
            + varint_size(record.headers.len() as i32);
        for h in record.headers {
            body += bytes_len(Some(h.key)) + bytes_len(h.value);
        }
        let out = &mut self.records;
        write_varint(out, body as i32);
        out.push(0);
        write_varlong(out, timestamp_delta);
        write_varint(out, offset_delta);
        write_bytes(out, record.key);
        write_bytes(out, record.value);
        write_varint(out, record.headers.len() as i32);
        for h in record.headers {
            write_bytes(out, Some(h.key));
            write_bytes(out, h.value);
        }
        self.count += 1;
        self.next_delta = offset_delta.wrapping_add(1);
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size of the batch if written uncompressed.
    pub fn size_estimate(&self) -> usize {
        batch::HEADER_SIZE + self.records.len()
    }

    /// Writes the batch.
    pub fn build(&self) -> Result<Vec<u8>, Error> {
        let payload = match self.compression {
            Compression::None => None,
            codec => Some(codec.compress(&self.records)?),
        };
        let payload: &[u8] = payload.as_deref().unwrap_or(&self.records);
        let mut out = Vec::with_capacity(batch::HEADER_SIZE + payload.len());
        let length = (batch::HEADER_SIZE - batch::LOG_OVERHEAD + payload.len()) as i32;
        let mut attributes = i16::from(self.compression.id());
        if self.log_append_time.is_some() {
            attributes |= 0x08;
        }
        if self.transactional {
            attributes |= 0x10;
        }
        if self.control {
            attributes |= 0x20;
        }
        let last_delta = self.last_offset_delta.unwrap_or(self.next_delta.saturating_sub(1).max(0));
        let max_timestamp = self.log_append_time.unwrap_or(self.max_timestamp);
        out.extend_from_slice(&self.base_offset.to_be_bytes());
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(&self.partition_leader_epoch.to_be_bytes());
        out.push(MAGIC as u8);
        out.extend_from_slice(&[0; 4]); // CRC, filled in below
        out.extend_from_slice(&attributes.to_be_bytes());
        out.extend_from_slice(&last_delta.to_be_bytes());
        out.extend_from_slice(&self.first_timestamp.unwrap_or(NO_TIMESTAMP).to_be_bytes());
        out.extend_from_slice(&max_timestamp.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.producer_epoch.to_be_bytes());
        out.extend_from_slice(&self.base_sequence.to_be_bytes());
        out.extend_from_slice(&self.count.to_be_bytes());
        out.extend_from_slice(payload);
        let crc = crc32c(&out[batch::ATTRIBUTES_OFFSET..]);
        out[batch::CRC_OFFSET..batch::CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        Ok(out)
    }
}

fn write_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => write_varint(out, -1),
        Some(b) => {
            write_varint(out, b.len() as i32);
            out.extend_from_slice(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordBatch;

    #[test]
    fn size_estimate_is_exact_uncompressed() {
        let mut b = BatchBuilder::new(Compression::None);
        for i in 0..10u8 {
            b.push(NewRecord::new(i64::from(i), Some(&[i]), Some(&[i; 100])));
        }
        assert_eq!(b.build().unwrap().len(), b.size_estimate());
    }

    #[test]
    fn gaps_and_kept_last_offset() {
        let mut b = BatchBuilder::new(Compression::Gzip).base_offset(100).last_offset_delta(9);
        b.push_at(2, NewRecord::new(0, Some(b"a"), Some(b"1")));
        b.push_at(7, NewRecord::new(0, Some(b"b"), Some(b"2")));
        let bytes = b.build().unwrap();
        let batch = RecordBatch::parse(&bytes).unwrap();
        assert_eq!(batch.last_offset(), 109);
        let records = batch.records().unwrap();
        let offsets: Vec<i64> = records.iter().map(|r| records.offset_of(&r.unwrap())).collect();
        assert_eq!(offsets, [102, 107]);
    }

    #[test]
    fn empty_batch_is_well_formed() {
        let bytes = BatchBuilder::new(Compression::None).build().unwrap();
        let batch = RecordBatch::parse(&bytes).unwrap();
        assert_eq!(batch.records_count(), 0);
        assert!(batch.is_valid());
        assert_eq!(batch.records().unwrap().iter().count(), 0);
    }
}
