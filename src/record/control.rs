//! Control records (KIP-98): the COMMIT and ABORT markers a transaction
//! coordinator writes to every partition of a transaction. A marker is a
//! transactional control batch of one record whose key is `int16 version
//! (0), int16 type (0 ABORT, 1 COMMIT)` and whose value is Kafka's
//! `EndTxnMarker`: `int16 version (0), int32 coordinator_epoch`.

use super::{BatchBuilder, Compression, NewRecord, RecordBatch};

pub const ABORT: i16 = 0;
pub const COMMIT: i16 = 1;

/// A decoded transaction marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndTxnMarker {
    /// [`ABORT`] or [`COMMIT`].
    pub control_type: i16,
    pub coordinator_epoch: i32,
}

/// Builds the marker batch; the log stamps its offset.
pub fn marker_batch(
    producer_id: i64,
    producer_epoch: i16,
    control_type: i16,
    coordinator_epoch: i32,
    timestamp: i64,
) -> Result<Vec<u8>, super::Error> {
    let mut key = [0u8; 4];
    key[2..].copy_from_slice(&control_type.to_be_bytes());
    let mut value = [0u8; 6];
    value[2..].copy_from_slice(&coordinator_epoch.to_be_bytes());
    let mut builder = BatchBuilder::new(Compression::None)
        .producer(producer_id, producer_epoch, -1)
        .transactional(true)
        .control(true);
    builder.push(NewRecord::new(timestamp, Some(&key), Some(&value)));
    builder.build()
}

/// The control type of a control batch's record (`None` for other
/// batches or an unreadable key).
pub fn control_type(batch: &RecordBatch<'_>) -> Option<i16> {
    if !batch.is_control() {
        return None;
    }
    let records = batch.records().ok()?;
    let record = records.iter().next()?.ok()?;
    let key = record.key?;
    (key.len() >= 4).then(|| i16::from_be_bytes([key[2], key[3]]))
}

/// The marker in a control batch, if it is a transaction marker.
pub fn end_txn_marker(batch: &RecordBatch<'_>) -> Option<EndTxnMarker> {
    let control_type = control_type(batch)?;
    if control_type != ABORT && control_type != COMMIT {
        return None;
    }
    let records = batch.records().ok()?;
    let record = records.iter().next()?.ok()?;
    let value = record.value?;
    let coordinator_epoch =
        (value.len() >= 6).then(|| i32::from_be_bytes([value[2], value[3], value[4], value[5]]))?;
    Some(EndTxnMarker { control_type, coordinator_epoch })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_roundtrip() {
        let bytes = marker_batch(7, 2, COMMIT, 9, 1000).unwrap();
        let batch = RecordBatch::parse(&bytes).unwrap();
        assert!(batch.is_control() && batch.is_transactional());
        assert_eq!((batch.producer_id(), batch.producer_epoch()), (7, 2));
        assert_eq!(
            end_txn_marker(&batch),
            Some(EndTxnMarker { control_type: COMMIT, coordinator_epoch: 9 })
        );
    }

    #[test]
    fn ordinary_batches_are_no_markers() {
        let mut b = BatchBuilder::new(Compression::None);
        b.push(NewRecord::new(0, Some(b"k"), Some(b"v")));
        let bytes = b.build().unwrap();
        assert_eq!(end_txn_marker(&RecordBatch::parse(&bytes).unwrap()), None);
    }
}
