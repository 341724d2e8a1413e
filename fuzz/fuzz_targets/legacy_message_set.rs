//! Message sets of magic 0 and 1 as Produce v0-2 carries them: the walk of
//! offsets and sizes, the CRC, compressed wrapper messages of every codec,
//! and the conversion up to a v2 batch; what converts is then converted
//! back down as Fetch v0-3 answers, and the raw input is also given to the
//! down-conversion (it reads batches from the log).
//!
//! The first input byte steers: bit 0 picks magic 1 over magic 0 for the
//! down-conversion.

#![no_main]

use kafka_rs::record::compression::MAX_DECOMPRESSED;
use kafka_rs::record::legacy::{down_convert, up_convert};
use libfuzzer_sys::fuzz_target;

/// A wrapper message may decompress up to the cap; its records are then
/// copied once into the v2 batch.
const LIMIT: usize = 3 * MAX_DECOMPRESSED + (1 << 20);

fuzz_target!(|data: &[u8]| {
    kafka_rs_fuzz::set_allocation_limit(LIMIT);
    let Some((&flags, rest)) = data.split_first() else { return };
    let magic = if flags & 1 != 0 { 1 } else { 0 };
    if let Ok(v2) = up_convert(rest) {
        let _ = down_convert(&v2, magic);
    }
    let _ = down_convert(rest, magic);
});
