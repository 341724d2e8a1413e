//! RecordBatch v2 bytes as a producer or a leader sends them: the batch
//! walk, CRC, every codec's decompression and the record and header varints,
//! then the log's validation as leader and as follower.
//!
//! The first input byte steers: bit 0 rewrites each batch's CRC before
//! parsing, so mutations reach the records behind the checksum instead of
//! stopping at it; bit 1 picks leader validation.

#![no_main]

use kafka_rs::log::LogConfig;
use kafka_rs::record::batch::{peek_batch_size, CRC_OFFSET};
use kafka_rs::record::compression::MAX_DECOMPRESSED;
use kafka_rs::record::crc::crc32c;
use kafka_rs::record::Batches;
use libfuzzer_sys::fuzz_target;

/// `read_to_end` doubles its buffer, so a batch that decompresses to the
/// cap may hold twice the cap for a moment; nothing else may come near.
const LIMIT: usize = 2 * MAX_DECOMPRESSED + (1 << 20);

fuzz_target!(|data: &[u8]| {
    kafka_rs_fuzz::set_allocation_limit(LIMIT);
    let Some((&flags, rest)) = data.split_first() else { return };
    let mut buf = rest.to_vec();
    if flags & 1 != 0 {
        fix_crcs(&mut buf);
    }
    for batch in Batches::new(&buf) {
        let Ok(batch) = batch else { break };
        let _ = batch.verify_crc();
        let _ = batch.header();
        let Ok(records) = batch.records() else { continue };
        for record in records.iter() {
            let Ok(record) = record else { break };
            let _ = records.offset_of(&record);
            let _ = records.timestamp_of(&record);
            let _ = record.headers().count();
        }
    }
    let _ = kafka_rs::log::fuzzing::validate(&buf, &LogConfig::default(), flags & 2 != 0);
});

fn fix_crcs(buf: &mut [u8]) {
    let mut pos = 0;
    while let Ok(size) = peek_batch_size(&buf[pos..], pos) {
        let Some(batch) = buf.get_mut(pos..pos + size) else { return };
        let crc = crc32c(&batch[CRC_OFFSET + 4..]);
        batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        pos += size;
    }
}
