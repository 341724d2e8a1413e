//! `__consumer_offsets` records as the group coordinator loads them from its
//! partition: the key, then the value its key type calls for. Whatever
//! decodes must encode back to something that decodes to the same value.
//!
//! The first input byte splits the rest into key and value.

#![no_main]

use kafka_rs::coordinator::records::{GroupMetadataValue, OffsetCommitValue, RecordKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kafka_rs_fuzz::set_allocation_limit(kafka_rs_fuzz::DEFAULT_ALLOCATION_LIMIT);
    let Some((&split, rest)) = data.split_first() else { return };
    let (key, value) = rest.split_at((split as usize).min(rest.len()));
    if let Ok(k) = RecordKey::decode(key) {
        assert_eq!(RecordKey::decode(&k.encode()).as_ref(), Ok(&k));
    }
    if let Ok(v) = OffsetCommitValue::decode(value) {
        assert_eq!(OffsetCommitValue::decode(&v.encode()).as_ref(), Ok(&v));
    }
    if let Ok(v) = GroupMetadataValue::decode(value) {
        assert_eq!(GroupMetadataValue::decode(&v.encode()).as_ref(), Ok(&v));
    }
});
