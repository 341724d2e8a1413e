//! What the log checks before it accepts batches (Kafka's `LogValidator`):
//! structure and CRC for every append; for leader appends also size,
//! record count, sequential offset deltas, the real max timestamp, and
//! keys on compacted topics. Records are walked where they lie (or in one
//! decompressed buffer); the payload is never copied or re-encoded.

use super::config::LogConfig;
use super::Error;
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
    let invalid = |reason: String| Error::InvalidRecord { reason };
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
    let (mut max_ts, mut max_delta) = (i64::MIN, 0);
    for (i, record) in records.iter().enumerate() {
        let record = record?;
        if record.offset_delta != i as i32 {
            return Err(invalid(format!(
                "record {i} of the batch at position {} has offset delta {}",
                v.position, record.offset_delta
            )));
        }
        if compacted && record.key.is_none() {
            return Err(invalid("Compacted topic cannot accept message without key.".to_string()));
        }
        let ts = batch.base_timestamp().wrapping_add(record.timestamp_delta);
        if ts > max_ts {
            max_ts = ts;
            max_delta = record.offset_delta;
        }
    }
    v.max_timestamp = max_ts;
    v.offset_delta_of_max_timestamp = max_delta;
    Ok(())
}
