//! The records inside a v2 batch. Each record is:
//!
//! ```text
//! length            varint  bytes after this field
//! attributes        i8      unused, 0
//! timestamp_delta   varlong from the batch's base_timestamp
//! offset_delta      varint  from the batch's base_offset
//! key_length        varint  -1 = null
//! key               bytes
//! value_length      varint  -1 = null
//! value             bytes
//! header_count      varint
//! headers           header_key_length varint, header_key bytes,
//!                   header_value_length varint (-1 = null), header_value bytes
//! ```
//!
//! Signed varints are zigzag-encoded ([`super::varint`]). In a compressed
//! batch the whole sequence of records is compressed as one payload.

use std::borrow::Cow;

use super::batch::{RecordBatch, TimestampType};
use super::compression::Compression;
use super::varint::{read_varint, read_varlong, span_end, VarintError};
use super::Error;

/// A record header; keys are strings in Kafka's API but bytes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
}

/// One record, borrowing from the batch (or its decompressed buffer).
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// Size of the whole record including its length prefix.
    pub size: usize,
    header_count: usize,
    headers_raw: &'a [u8],
}

impl<'a> Record<'a> {
    /// Headers in order (already validated when the record was read).
    pub fn headers(&self) -> HeaderIter<'a> {
        HeaderIter { buf: self.headers_raw, pos: 0, left: self.header_count }
    }
}

pub struct HeaderIter<'a> {
    buf: &'a [u8],
    pos: usize,
    left: usize,
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = Header<'a>;

    fn next(&mut self) -> Option<Header<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The bytes were validated by `read_header`; a failure here cannot
        // happen, and ending the iteration is the safe answer if it did.
        read_header(self.buf, &mut self.pos).ok()
    }
}

/// The records of one batch and where their bytes live.
pub struct Records<'a> {
    data: Cow<'a, [u8]>,
    count: i32,
    base_offset: i64,
    base_timestamp: i64,
    max_timestamp: i64,
    timestamp_type: TimestampType,
}

impl<'a> Records<'a> {
    pub(super) fn of(batch: &RecordBatch<'a>) -> Result<Self, Error> {
        let payload = batch.records_payload();
        let data = match batch.compression()? {
            Compression::None => Cow::Borrowed(payload),
            codec => Cow::Owned(codec.decompress(payload)?),
        };
        Ok(Self {
            data,
            count: batch.records_count(),
            base_offset: batch.base_offset(),
            base_timestamp: batch.base_timestamp(),
            max_timestamp: batch.max_timestamp(),
            timestamp_type: batch.timestamp_type(),
        })
    }

    pub fn iter(&self) -> RecordIter<'_> {
        RecordIter { records: self, pos: 0, read: 0, failed: false }
    }

    /// The absolute offset of `record`.
    pub fn offset_of(&self, record: &Record<'_>) -> i64 {
        self.base_offset.wrapping_add(i64::from(record.offset_delta))
    }

    /// The timestamp a consumer sees: the batch's max timestamp under
    /// LogAppendTime, otherwise base timestamp + delta.
    pub fn timestamp_of(&self, record: &Record<'_>) -> i64 {
        match self.timestamp_type {
            TimestampType::LogAppendTime => self.max_timestamp,
            TimestampType::CreateTime => self.base_timestamp.wrapping_add(record.timestamp_delta),
        }
    }

    /// Size of the (decompressed) record bytes.
    pub fn decoded_len(&self) -> usize {
        self.data.len()
    }

    /// The (decompressed) record bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }
}

/// Reads exactly `records_count` records; bytes left over, a short buffer or
/// a malformed record yields one error and ends the iteration.
pub struct RecordIter<'r> {
    records: &'r Records<'r>,
    pos: usize,
    read: i32,
    failed: bool,
}

impl<'r> RecordIter<'r> {
    fn fail(&mut self, reason: impl Into<String>) -> Option<Result<Record<'r>, Error>> {
        self.failed = true;
        Some(Err(Error::InvalidRecord {
            base_offset: self.records.base_offset,
            reason: reason.into(),
        }))
    }
}

impl<'r> Iterator for RecordIter<'r> {
    type Item = Result<Record<'r>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let data: &'r [u8] = &self.records.data;
        if self.records.count < 0 {
            return self.fail(format!("negative record count {}", self.records.count));
        }
        if self.read >= self.records.count {
            if self.pos != data.len() {
                return self.fail(format!("{} bytes after the last record", data.len() - self.pos));
            }
            return None;
        }
        match read_record(data, &mut self.pos) {
            Ok(r) => {
                self.read += 1;
                Some(Ok(r))
            }
            Err(reason) => {
                let n = self.read;
                self.fail(format!("record {n}: {reason}"))
            }
        }
    }
}

fn varint_reason(e: VarintError) -> String {
    e.to_string()
}

fn read_bytes<'a>(buf: &'a [u8], pos: &mut usize, what: &str) -> Result<Option<&'a [u8]>, String> {
    let len = read_varint(buf, pos).map_err(varint_reason)?;
    if len < 0 {
        return Ok(None);
    }
    let end = span_end(*pos, len.into(), buf.len());
    let end = end.ok_or_else(|| format!("{what} of {len} bytes runs past the record"))?;
    let out = &buf[*pos..end];
    *pos = end;
    Ok(Some(out))
}

fn read_header<'a>(buf: &'a [u8], pos: &mut usize) -> Result<Header<'a>, String> {
    let key = read_bytes(buf, pos, "header key")?.ok_or("null header key")?;
    let value = read_bytes(buf, pos, "header value")?;
    Ok(Header { key, value })
}

fn read_record<'a>(data: &'a [u8], pos: &mut usize) -> Result<Record<'a>, String> {
    let start = *pos;
    let length = read_varint(data, pos).map_err(varint_reason)?;
    let end = span_end(*pos, length.into(), data.len())
        .ok_or_else(|| format!("length {length} runs past the batch"))?;
    let body = &data[..end];
    let attributes = *body.get(*pos).ok_or("missing attributes")? as i8;
    *pos += 1;
    let timestamp_delta = read_varlong(body, pos).map_err(varint_reason)?;
    let offset_delta = read_varint(body, pos).map_err(varint_reason)?;
    let key = read_bytes(body, pos, "key")?;
    let value = read_bytes(body, pos, "value")?;
    let header_count = read_varint(body, pos).map_err(varint_reason)?;
    if header_count < 0 {
        return Err(format!("negative header count {header_count}"));
    }
    let headers_start = *pos;
    for _ in 0..header_count {
        read_header(body, pos)?;
    }
    if *pos != end {
        return Err(format!("record length {length} disagrees with its fields"));
    }
    Ok(Record {
        attributes,
        timestamp_delta,
        offset_delta,
        key,
        value,
        size: end - start,
        header_count: header_count as usize,
        headers_raw: &body[headers_start..end],
    })
}

/// One record's offset delta and whether it has a key, for checking other
/// readers against this one in tests.
#[cfg(test)]
pub(crate) fn read_record_for_tests(data: &[u8], pos: &mut usize) -> Option<(i32, bool)> {
    read_record(data, pos).ok().map(|r| (r.offset_delta, r.key.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchBuilder, NewRecord, RecordBatchMut};
    use proptest::prelude::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Owned {
        timestamp: i64,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    }

    fn arb_record() -> impl Strategy<Value = Owned> {
        (
            0i64..=4_000_000_000_000,
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
            proptest::collection::vec(
                (
                    proptest::collection::vec(any::<u8>(), 0..8),
                    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
                ),
                0..3,
            ),
        )
            .prop_map(|(timestamp, key, value, headers)| Owned {
                timestamp,
                key,
                value,
                headers,
            })
    }

    fn decode(bytes: &[u8]) -> Vec<(i64, Owned)> {
        let batch = RecordBatch::parse(bytes).unwrap();
        batch.verify_crc().unwrap();
        let records = batch.records().unwrap();
        records
            .iter()
            .map(|r| {
                let r = r.unwrap();
                (
                    records.offset_of(&r),
                    Owned {
                        timestamp: records.timestamp_of(&r),
                        key: r.key.map(<[u8]>::to_vec),
                        value: r.value.map(<[u8]>::to_vec),
                        headers: r
                            .headers()
                            .map(|h| (h.key.to_vec(), h.value.map(<[u8]>::to_vec)))
                            .collect(),
                    },
                )
            })
            .collect()
    }

    proptest! {
        #[test]
        fn build_then_parse_gives_the_same_records(
            recs in proptest::collection::vec(arb_record(), 1..20),
            codec in proptest::sample::select(Compression::ALL.to_vec()),
            base in 0i64..1_000_000,
        ) {
            let mut b = BatchBuilder::new(codec).base_offset(base);
            for r in &recs {
                let headers: Vec<Header<'_>> =
                    r.headers.iter().map(|(k, v)| Header { key: k, value: v.as_deref() }).collect();
                b.push(NewRecord { timestamp: r.timestamp, key: r.key.as_deref(), value: r.value.as_deref(), headers: &headers });
            }
            let bytes = b.build().unwrap();
            let batch = RecordBatch::parse(&bytes).unwrap();
            prop_assert_eq!(batch.size(), bytes.len());
            prop_assert_eq!(batch.compression().unwrap(), codec);
            prop_assert_eq!(batch.records_count() as usize, recs.len());
            prop_assert_eq!(batch.last_offset(), base + recs.len() as i64 - 1);
            prop_assert_eq!(batch.max_timestamp(), recs.iter().map(|r| r.timestamp).max().unwrap());
            let got = decode(&bytes);
            let want: Vec<(i64, Owned)> = recs.into_iter().enumerate().map(|(i, r)| (base + i as i64, r)).collect();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn log_append_time_overrides_record_timestamps() {
        let mut b = BatchBuilder::new(Compression::Lz4);
        b.push(NewRecord::new(5, None, Some(b"x")));
        let mut bytes = b.build().unwrap();
        RecordBatchMut::new(&mut bytes).unwrap().set_log_append_time(777);
        assert_eq!(decode(&bytes)[0].1.timestamp, 777);
    }

    #[test]
    fn record_count_must_match_bytes() {
        let mut b = BatchBuilder::new(Compression::None);
        b.push(NewRecord::new(0, None, Some(b"x")));
        let good = b.build().unwrap();
        let with_count = |n: i32| {
            let mut v = good.clone();
            v[57..61].copy_from_slice(&n.to_be_bytes());
            v
        };
        let cases = [
            (with_count(2), "count says 2, one present"),
            (with_count(0), "count says 0, bytes left over"),
            (with_count(-1), "negative count"),
        ];
        for (bytes, why) in cases {
            let batch = RecordBatch::parse(&bytes).unwrap();
            let records = batch.records().unwrap();
            assert!(records.iter().any(|r| r.is_err()), "{why}");
        }
    }
}
