//! CRC-32C (Castagnoli), the checksum of RecordBatch v2. It covers the bytes
//! from `attributes` to the end of the batch, so the broker may stamp
//! `base_offset` and `partition_leader_epoch` without recomputing it.

/// CRC-32C of `data` (hardware-accelerated where the CPU has it).
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_vector() {
        // RFC 3720 B.4: 32 bytes of zeros.
        assert_eq!(super::crc32c(&[0u8; 32]), 0x8a91_36aa);
        // The classic check value for "123456789".
        assert_eq!(super::crc32c(b"123456789"), 0xe306_9283);
    }
}
