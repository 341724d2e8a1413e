//! Variable-length integers as Kafka's `ByteUtils` writes them inside v2
//! records: protobuf-style base-128 groups, signed values zigzag-encoded.
//!
//! Decoding takes untrusted bytes and reports truncation or overlong
//! encodings as errors; it never reads past the slice.

/// Why a varint could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VarintError {
    #[error("varint runs past the end of the data")]
    Truncated,
    #[error("varint is longer than its type allows")]
    TooLong,
}

/// Reads an unsigned varint of at most `max_bytes` groups starting at `*pos`.
fn read_unsigned(buf: &[u8], pos: &mut usize, max_bytes: usize) -> Result<u64, VarintError> {
    let mut value = 0u64;
    for i in 0..max_bytes {
        let b = *buf.get(*pos).ok_or(VarintError::Truncated)?;
        *pos += 1;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(VarintError::TooLong)
}

/// A zigzag-encoded 32-bit varint (Kafka's `readVarint`).
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Result<i32, VarintError> {
    let raw = read_unsigned(buf, pos, 5)?;
    if raw > u64::from(u32::MAX) {
        return Err(VarintError::TooLong);
    }
    let raw = raw as u32;
    Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// A zigzag-encoded 64-bit varint (Kafka's `readVarlong`).
pub fn read_varlong(buf: &[u8], pos: &mut usize) -> Result<i64, VarintError> {
    let raw = read_unsigned(buf, pos, 10)?;
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

/// An unsigned 32-bit varint (used by flexible protocol versions).
pub fn read_unsigned_varint(buf: &[u8], pos: &mut usize) -> Result<u32, VarintError> {
    let raw = read_unsigned(buf, pos, 5)?;
    u32::try_from(raw).map_err(|_| VarintError::TooLong)
}

fn write_unsigned(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn write_varint(out: &mut Vec<u8>, v: i32) {
    write_unsigned(out, u64::from(((v << 1) ^ (v >> 31)) as u32));
}

pub fn write_varlong(out: &mut Vec<u8>, v: i64) {
    write_unsigned(out, ((v << 1) ^ (v >> 63)) as u64);
}

pub fn write_unsigned_varint(out: &mut Vec<u8>, v: u32) {
    write_unsigned(out, u64::from(v));
}

/// Encoded size of `v` as a zigzag varint.
pub fn varint_size(v: i32) -> usize {
    let raw = ((v << 1) ^ (v >> 31)) as u32;
    (32 - raw.leading_zeros() as usize).max(1).div_ceil(7)
}

/// Encoded size of `v` as a zigzag varlong.
pub fn varlong_size(v: i64) -> usize {
    let raw = ((v << 1) ^ (v >> 63)) as u64;
    (64 - raw.leading_zeros() as usize).max(1).div_ceil(7)
}

/// Where a field or record of `len` bytes (a length read from a varint)
/// starting at `pos` ends, when the length is not negative and the end
/// lies within `buf_len`.
#[inline]
pub fn span_end(pos: usize, len: i64, buf_len: usize) -> Option<usize> {
    usize::try_from(len).ok().and_then(|l| pos.checked_add(l)).filter(|&e| e <= buf_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings() {
        // (value, bytes, why)
        let cases: &[(i32, &[u8], &str)] = &[
            (0, &[0x00], "zero is one byte"),
            (-1, &[0x01], "zigzag maps -1 to 1"),
            (1, &[0x02], "zigzag maps 1 to 2"),
            (63, &[0x7e], "largest one-byte positive"),
            (64, &[0x80, 0x01], "first two-byte value"),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f], "five groups for the extremes"),
        ];
        for (v, bytes, why) in cases {
            let mut out = Vec::new();
            write_varint(&mut out, *v);
            assert_eq!(&out, bytes, "{why}");
            assert_eq!(varint_size(*v), bytes.len(), "{why}");
            let mut pos = 0;
            assert_eq!(read_varint(bytes, &mut pos), Ok(*v), "{why}");
            assert_eq!(pos, bytes.len(), "{why}");
        }
    }

    #[test]
    fn bad_encodings() {
        let cases: &[(&[u8], VarintError, &str)] = &[
            (&[], VarintError::Truncated, "nothing to read"),
            (&[0x80], VarintError::Truncated, "continuation bit on the last byte"),
            (&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01], VarintError::TooLong, "six groups for an int"),
            (
                &[0xff, 0xff, 0xff, 0xff, 0x7f],
                VarintError::TooLong,
                "fifth group overflows 32 bits",
            ),
        ];
        for (bytes, err, why) in cases {
            let mut pos = 0;
            assert_eq!(read_varint(bytes, &mut pos), Err(*err), "{why}");
        }
    }

    /// Writes `v`, checks the length against `size` where the encoding has
    /// one, and reads the same value back.
    fn round_trip<T: Copy + PartialEq + std::fmt::Debug>(
        v: T,
        write: fn(&mut Vec<u8>, T),
        size: Option<fn(T) -> usize>,
        read: fn(&[u8], &mut usize) -> Result<T, VarintError>,
    ) -> Result<(), TestCaseError> {
        let mut out = Vec::new();
        write(&mut out, v);
        if let Some(size) = size {
            prop_assert_eq!(out.len(), size(v));
        }
        let mut pos = 0;
        prop_assert_eq!(read(&out, &mut pos), Ok(v));
        Ok(())
    }

    proptest! {
        #[test]
        fn varint_round_trip(v: i32) {
            round_trip(v, write_varint, Some(varint_size), read_varint)?;
        }

        #[test]
        fn varlong_round_trip(v: i64) {
            round_trip(v, write_varlong, Some(varlong_size), read_varlong)?;
        }

        #[test]
        fn unsigned_round_trip(v: u32) {
            round_trip(v, write_unsigned_varint, None, read_unsigned_varint)?;
        }

        #[test]
        fn never_panics(bytes: Vec<u8>) {
            let mut pos = 0;
            let _ = read_varlong(&bytes, &mut pos);
            prop_assert!(pos <= bytes.len());
        }
    }
}
