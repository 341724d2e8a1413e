//! Kafka's framing: every request and response is an int32 big-endian size
//! followed by that many bytes. Reading the bytes is the broker's job; this
//! module only decides whether a size prefix is acceptable.

use super::DecodeError;

/// Bytes in the size prefix.
pub const SIZE_PREFIX: usize = 4;

/// Validates a request size prefix against `socket.request.max.bytes`, as
/// Kafka's `NetworkReceive` does, so a hostile 2 GB prefix is refused before
/// anything is allocated for it.
pub fn check_request_size(size: i32, max: usize) -> Result<usize, DecodeError> {
    match usize::try_from(size) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(DecodeError::FrameSize { size: size as i64, max }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let max = 100;
        let cases: &[(i32, bool, &str)] = &[
            (0, true, "empty frames are decoded (and fail as too short) rather than framed out"),
            (100, true, "exactly the limit is allowed"),
            (101, false, "one past the limit"),
            (-1, false, "negative sizes are hostile"),
            (i32::MAX, false, "a 2 GB prefix must not allocate"),
        ];
        for &(size, ok, why) in cases {
            assert_eq!(check_request_size(size, max).is_ok(), ok, "{why}");
        }
    }
}
