//! What the log checks before it accepts batches (Kafka's `LogValidator`):
//! structure and CRC for every append; for leader appends also size,
//! record count, sequential offset deltas, the real max timestamp, and
//! keys on compacted topics. Records are walked where they lie (or in one
//! decompressed buffer); the payload is never copied or re-encoded.

use super::config::LogConfig;
use super::Error;
use crate::record::varint::span_end;
use crate::record::{Batches, RecordBatch, TimestampType};

#[derive(Clone, Copy, Debug)]
pub(crate) struct ValidatedBatch {
    pub position: usize,
    pub size: usize,
    pub base_offset: i64,
    pub last_offset_delta: i32,
    pub records: u32,
    /// Max timestamp computed from the records (leader) or read from the header.
    pub max_timestamp: i64,
    pub offset_delta_of_max_timestamp: i32,
    pub partition_leader_epoch: i32,
    pub header_max_timestamp: i64,
    pub timestamp_type: TimestampType,
}

pub(crate) fn validate(
    buf: &[u8],
    config: &LogConfig,
    leader: bool,
) -> Result<Vec<ValidatedBatch>, Error> {
    let mut out = Vec::new();
    let mut next_offset: Option<i64> = None;
    for batch in Batches::new(buf) {
        let batch = batch?;
        batch.verify_crc()?;
        batch.compression()?;
        if leader && batch.size() > config.max_message_bytes {
            return Err(Error::RecordTooLarge {
                size: batch.size(),
                max: config.max_message_bytes,
            });
        }
        let mut v = ValidatedBatch {
            position: batch.position(),
            size: batch.size(),
            base_offset: batch.base_offset(),
            last_offset_delta: batch.last_offset_delta(),
            records: batch.records_count().max(0) as u32,
            max_timestamp: batch.max_timestamp(),
            offset_delta_of_max_timestamp: batch.last_offset_delta(),
            partition_leader_epoch: batch.partition_leader_epoch(),
            header_max_timestamp: batch.max_timestamp(),
            timestamp_type: batch.timestamp_type(),
        };
        if leader {
            validate_records(&batch, config, &mut v)?;
        } else {
            if batch.last_offset_delta() < 0 {
                return Err(Error::InvalidRecord {
                    reason: format!(
                        "batch at position {} has last offset delta {}",
                        v.position, v.last_offset_delta
                    ),
                });
            }
            if let Some(n) = next_offset {
                if batch.base_offset() < n {
                    return Err(Error::InvalidRecord {
                        reason: format!(
                            "batch offsets go back from {} to {}",
                            n - 1,
                            batch.base_offset()
                        ),
                    });
                }
            }
            next_offset = Some(batch.next_offset());
        }
        out.push(v);
    }
    Ok(out)
}

fn validate_records(
    batch: &RecordBatch<'_>,
    config: &LogConfig,
    v: &mut ValidatedBatch,
) -> Result<(), Error> {
    let count = batch.records_count();
    if count <= 0 {
        return Err(invalid(format!("batch at position {} has no records", v.position)));
    }
    if batch.last_offset_delta() != count - 1 {
        return Err(invalid(format!(
            "batch at position {} has {count} records but last offset delta {}",
            v.position,
            batch.last_offset_delta()
        )));
    }
    let compacted = config.cleanup_policy.compact;
    let records = batch.records()?;
    let walked = walk_records(records.bytes(), count, compacted)
        .map_err(|why| invalid(format!("batch at position {}: {why}", v.position)))?;
    if !walked.keyless.is_empty() {
        // Each keyless record is named, so the client fails those and
        // retries the rest (KIP-467), as Kafka's LogValidator reports them.
        let why = "Compacted topic cannot accept message without key.";
        return Err(Error::InvalidRecords {
            reason: format!(
                "One or more records have been rejected due to {} record errors in total: {why}",
                walked.keyless.len()
            ),
            record_errors: walked.keyless.into_iter().map(|i| (i, why.to_string())).collect(),
        });
    }
    v.max_timestamp = batch.base_timestamp().wrapping_add(walked.max_timestamp_delta);
    v.offset_delta_of_max_timestamp = walked.offset_delta_of_max;
    Ok(())
}

fn invalid(reason: String) -> Error {
    Error::InvalidRecord { reason }
}

struct Walked {
    max_timestamp_delta: i64,
    offset_delta_of_max: i32,
    /// Records without a key in a compacted topic (allocates only if any).
    keyless: Vec<i32>,
}

/// Reads one zigzag varint (at most `max` groups); the common one-byte case
/// first. The append path walks every record, so this is kept tight.
#[inline(always)]
fn varint(buf: &[u8], pos: &mut usize, max: usize) -> Result<i64, &'static str> {
    let b = *buf.get(*pos).ok_or("record runs past the batch")?;
    *pos += 1;
    let raw = if b < 0x80 {
        u64::from(b)
    } else {
        let mut raw = u64::from(b & 0x7f);
        let mut shift = 7;
        loop {
            if shift / 7 >= max as u32 {
                return Err("varint is too long");
            }
            let b = *buf.get(*pos).ok_or("record runs past the batch")?;
            *pos += 1;
            raw |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                break raw;
            }
            shift += 7;
        }
    };
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

/// Skips a length-prefixed field; `Ok(false)` for a null one.
#[inline(always)]
fn skip_bytes(buf: &[u8], pos: &mut usize) -> Result<bool, &'static str> {
    let len = varint(buf, pos, 5)?;
    if len < 0 {
        return Ok(false);
    }
    *pos = pos
        .checked_add(len as usize)
        .filter(|&e| e <= buf.len())
        .ok_or("field runs past its record")?;
    Ok(true)
}

/// Checks the structure of `count` records in `data` (lengths, sequential
/// offset deltas, keys when compacted, nothing left over) and finds the
/// largest timestamp, without copying anything. Same format as
/// `record::records`, read without building `Record` values.
fn walk_records(data: &[u8], count: i32, compacted: bool) -> Result<Walked, String> {
    let mut pos = 0usize;
    let mut out =
        Walked { max_timestamp_delta: i64::MIN, offset_delta_of_max: 0, keyless: Vec::new() };
    for i in 0..count {
        let len = varint(data, &mut pos, 5)?;
        let end = span_end(pos, len, data.len())
            .ok_or_else(|| format!("record {i} has length {len} past the batch"))?;
        let body = &data[..end];
        pos += 1; // attributes
        let ts_delta = varint(body, &mut pos, 10)?;
        let offset_delta = varint(body, &mut pos, 5)?;
        if offset_delta != i64::from(i) {
            return Err(format!("record {i} has offset delta {offset_delta}"));
        }
        let has_key = skip_bytes(body, &mut pos)?;
        if compacted && !has_key {
            out.keyless.push(i);
        }
        skip_bytes(body, &mut pos)?;
        let headers = varint(body, &mut pos, 5)?;
        if headers < 0 {
            return Err(format!("record {i} has {headers} headers"));
        }
        for _ in 0..headers {
            if !skip_bytes(body, &mut pos)? {
                return Err(format!("record {i} has a null header key"));
            }
            skip_bytes(body, &mut pos)?;
        }
        if pos != end {
            return Err(format!("record {i} length {len} disagrees with its fields"));
        }
        if ts_delta > out.max_timestamp_delta {
            out.max_timestamp_delta = ts_delta;
            out.offset_delta_of_max = i;
        }
    }
    if pos != data.len() {
        return Err(format!("{} bytes after the last record", data.len() - pos));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchBuilder, Compression, Header, NewRecord};
    use proptest::prelude::*;

    /// (timestamp, key, value)
    type Rec = (i64, Option<Vec<u8>>, Vec<u8>);

    fn payload(records: &[Rec]) -> Vec<u8> {
        let mut b = BatchBuilder::new(Compression::None);
        let h = [Header { key: b"h", value: Some(b"1") }];
        for (ts, key, value) in records {
            b.push(NewRecord {
                timestamp: *ts,
                key: key.as_deref(),
                value: Some(value),
                headers: &h,
            });
        }
        let bytes = b.build().unwrap();
        bytes[crate::record::batch::RECORDS_OFFSET..].to_vec()
    }

    proptest! {
        /// The fast walk accepts exactly what the full record reader
        /// accepts, on valid payloads and on damaged ones.
        #[test]
        fn walk_agrees_with_the_record_reader(
            records in proptest::collection::vec(
                (0i64..1 << 40, proptest::option::of(proptest::collection::vec(any::<u8>(), 0..4)), proptest::collection::vec(any::<u8>(), 0..40)),
                1..6,
            ),
            damage in proptest::option::of((any::<usize>(), any::<u8>())),
            compacted: bool,
        ) {
            let mut bytes = payload(&records);
            if let Some((at, v)) = damage {
                let n = bytes.len();
                bytes[at % n] = v;
            }
            let count = records.len() as i32;
            let fast = walk_records(&bytes, count, compacted);
            let mut pos = 0;
            let mut ok = true;
            for i in 0..count {
                match crate::record::records::read_record_for_tests(&bytes, &mut pos) {
                    Some((delta, has_key)) if delta == i && (has_key || !compacted) => {}
                    _ => {
                        ok = false;
                        break;
                    }
                }
            }
            ok &= pos == bytes.len();
            // A keyless record is reported in the walk's list, not as an error.
            let accepted = fast.as_ref().is_ok_and(|w| w.keyless.is_empty());
            prop_assert_eq!(accepted, ok, "{:?}", fast.err());
        }
    }

    #[test]
    fn walk_finds_the_max_timestamp() {
        let mut b = BatchBuilder::new(Compression::None);
        let h = [Header { key: b"a", value: None }];
        for ts in [50, 70, 60] {
            b.push(NewRecord { timestamp: ts, key: Some(b"k"), value: Some(b"v"), headers: &h });
        }
        let bytes = b.build().unwrap();
        let batch = RecordBatch::parse(&bytes).unwrap();
        let w = walk_records(batch.records().unwrap().bytes(), 3, true).unwrap();
        assert_eq!((w.max_timestamp_delta, w.offset_delta_of_max), (20, 1));
    }
}
