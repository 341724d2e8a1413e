//! `__transaction_state` records in Kafka's layout, so Kafka's own
//! `TransactionLog` decoders (and `kafka-dump-log --transaction-log-decoder`)
//! read what this coordinator writes.
//!
//! Key (`TransactionLogKey` v0): int16 version 0, string transactional_id.
//! Value (`TransactionLogValue` v0, non-flexible; v1 is the flexible form
//! and is read too): int16 version, int64 producer_id, int16
//! producer_epoch, int32 transaction_timeout_ms, int8 transaction_status,
//! nullable array of { string topic, array of int32 partition_ids },
//! int64 last_update_timestamp_ms, int64 start_timestamp_ms. A tombstone
//! (null value) removes an expired transactional id.

use std::collections::{BTreeMap, BTreeSet};

use super::TransactionState;
use crate::coordinator::records::{Reader, RecordError, Writer};
use crate::types::TopicPartition;

const KEY_VERSION: i16 = 0;
const VALUE_VERSION: i16 = 0;

/// One transactional id's stored state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionLogValue {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub transaction_timeout_ms: i32,
    pub state: TransactionState,
    pub partitions: BTreeSet<TopicPartition>,
    pub last_update_timestamp_ms: i64,
    pub start_timestamp_ms: i64,
}

pub fn encode_key(transactional_id: &str) -> Vec<u8> {
    let mut w = Writer::default();
    w.i16(KEY_VERSION);
    w.string(transactional_id);
    w.0
}

pub fn decode_key(bytes: &[u8]) -> Result<String, RecordError> {
    let versions = KEY_VERSION..=KEY_VERSION;
    let (mut r, _) = Reader::versioned(bytes, "transaction log key", versions, None)?;
    r.string()
}

impl TransactionLogValue {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.i16(VALUE_VERSION);
        w.i64(self.producer_id);
        w.i16(self.producer_epoch);
        w.i32(self.transaction_timeout_ms);
        w.0.push(self.state.id() as u8);
        if self.state == TransactionState::Empty {
            // Kafka writes a null partition list for an Empty transaction.
            w.i32(-1);
        } else {
            let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for tp in &self.partitions {
                topics.entry(&tp.topic).or_default().push(tp.partition.0);
            }
            w.i32(topics.len() as i32);
            for (topic, partitions) in topics {
                w.string(topic);
                w.i32(partitions.len() as i32);
                for p in partitions {
                    w.i32(p);
                }
            }
        }
        w.i64(self.last_update_timestamp_ms);
        w.i64(self.start_timestamp_ms);
        w.0
    }

    pub fn decode(bytes: &[u8]) -> Result<TransactionLogValue, RecordError> {
        let (mut r, _) = Reader::versioned(bytes, "transaction log value", 0..=1, Some(1))?;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        let transaction_timeout_ms = r.i32()?;
        let status = r.take(1)?[0] as i8;
        let state = TransactionState::from_id(status).ok_or(RecordError::UnknownVersion {
            what: "transaction status",
            version: i16::from(status),
        })?;
        let mut partitions = BTreeSet::new();
        if let Some(topics) = r.length(true)? {
            for _ in 0..topics {
                let topic = r.string()?;
                let count = r.array_len()?;
                for _ in 0..count {
                    partitions.insert(TopicPartition::new(topic.clone(), r.i32()?));
                }
                if r.flexible {
                    r.skip_tagged_fields()?;
                }
            }
        }
        let last_update_timestamp_ms = r.i64()?;
        let start_timestamp_ms = r.i64()?;
        Ok(TransactionLogValue {
            producer_id,
            producer_epoch,
            transaction_timeout_ms,
            state,
            partitions,
            last_update_timestamp_ms,
            start_timestamp_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value whose fields other than `state` and `partitions` no case
    /// looks at.
    fn value(state: TransactionState, partitions: BTreeSet<TopicPartition>) -> TransactionLogValue {
        TransactionLogValue {
            producer_id: 1,
            producer_epoch: 0,
            transaction_timeout_ms: 1000,
            state,
            partitions,
            last_update_timestamp_ms: 5,
            start_timestamp_ms: 4,
        }
    }

    #[test]
    fn key_matches_kafka_bytes() {
        // TransactionLogKey v0 for "tx": version 0, int16 length 2, "tx".
        assert_eq!(encode_key("tx"), vec![0, 0, 0, 2, b't', b'x']);
        assert_eq!(decode_key(&encode_key("tx")).unwrap(), "tx");
    }

    #[test]
    fn ongoing_value_layout_and_roundtrip() {
        let v = TransactionLogValue {
            producer_id: 7,
            producer_epoch: 3,
            transaction_timeout_ms: 60_000,
            state: TransactionState::Ongoing,
            partitions: [TopicPartition::new("a", 1), TopicPartition::new("a", 0)]
                .into_iter()
                .collect(),
            last_update_timestamp_ms: 11,
            start_timestamp_ms: 10,
        };
        let bytes = v.encode();
        let mut expected = vec![0, 0];
        expected.extend_from_slice(&7i64.to_be_bytes());
        expected.extend_from_slice(&3i16.to_be_bytes());
        expected.extend_from_slice(&60_000i32.to_be_bytes());
        expected.push(1); // Ongoing
        expected.extend_from_slice(&1i32.to_be_bytes());
        expected.extend_from_slice(&[0, 1, b'a']);
        expected.extend_from_slice(&2i32.to_be_bytes());
        expected.extend_from_slice(&0i32.to_be_bytes());
        expected.extend_from_slice(&1i32.to_be_bytes());
        expected.extend_from_slice(&11i64.to_be_bytes());
        expected.extend_from_slice(&10i64.to_be_bytes());
        assert_eq!(bytes, expected, "partitions grouped by topic, sorted");
        assert_eq!(TransactionLogValue::decode(&bytes).unwrap(), v);
    }

    #[test]
    fn empty_state_writes_a_null_partition_list() {
        let v = TransactionLogValue {
            start_timestamp_ms: -1,
            ..value(TransactionState::Empty, BTreeSet::new())
        };
        let bytes = v.encode();
        assert_eq!(&bytes[17..21], &(-1i32).to_be_bytes());
        assert_eq!(TransactionLogValue::decode(&bytes).unwrap(), v);
    }

    #[test]
    fn hostile_values_are_errors_not_panics() {
        let good = value(TransactionState::Ongoing, [TopicPartition::new("t", 0)].into()).encode();
        for cut in 0..good.len() {
            assert!(TransactionLogValue::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = good.clone();
        huge[17..21].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(TransactionLogValue::decode(&huge).is_err(), "a count larger than the record");
        let mut bad_state = good;
        bad_state[16] = 42;
        assert!(TransactionLogValue::decode(&bad_state).is_err());
    }
}
