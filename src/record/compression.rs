//! The compression codecs of RecordBatch v2 (attributes bits 0-2) and the
//! exact framings Kafka clients use for each:
//!
//! - gzip: RFC 1952 members (concatenated members are read as one stream);
//! - snappy: the Java client writes xerial framing (`\x82SNAPPY\0`, two
//!   big-endian i32 versions, then blocks of `i32 length + raw snappy`),
//!   librdkafka writes one raw snappy block; both are accepted, xerial is
//!   written;
//! - lz4: the LZ4 frame format (Kafka's `KafkaLZ4BlockOutputStream`);
//! - zstd: a zstd frame, written at level 3 as Kafka does.
//!
//! Decompression is bounded by [`MAX_DECOMPRESSED`] so a small hostile batch
//! cannot make the process allocate without limit.

use std::fmt;
use std::io::{Read, Write};

/// The most bytes a batch's records may decompress to.
pub const MAX_DECOMPRESSED: usize = 256 << 20;

const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\0";
const XERIAL_HEADER_LEN: usize = 16;
/// Block size of Java's `SnappyOutputStream`.
const XERIAL_BLOCK: usize = 32 * 1024;
/// Kafka's default `compression.zstd.level`.
const ZSTD_LEVEL: i32 = 3;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

/// Why a payload could not be compressed or decompressed.
#[derive(Debug, thiserror::Error)]
pub enum CompressionError {
    #[error("unknown compression codec id {0}")]
    UnknownCodec(u8),
    #[error("{codec} data is corrupt: {reason}")]
    Corrupt { codec: Compression, reason: String },
    #[error("{codec} data decompresses to more than {limit} bytes")]
    TooLarge { codec: Compression, limit: usize },
}

impl Compression {
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec id stored in attributes bits 0-2.
    pub fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    pub fn from_id(id: u8) -> Result<Self, CompressionError> {
        Ok(match id {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => return Err(CompressionError::UnknownCodec(other)),
        })
    }

    /// Kafka's `compression.type` names.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Compression::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Compresses `data` in the framing Kafka's Java client writes.
    pub fn compress(self, data: &[u8]) -> Result<Vec<u8>, CompressionError> {
        let corrupt =
            |e: std::io::Error| CompressionError::Corrupt { codec: self, reason: e.to_string() };
        match self {
            Compression::None => Ok(data.to_vec()),
            Compression::Gzip => {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(data).map_err(corrupt)?;
                enc.finish().map_err(corrupt)
            }
            Compression::Snappy => {
                let mut out = Vec::with_capacity(XERIAL_HEADER_LEN + data.len() / 2);
                out.extend_from_slice(XERIAL_MAGIC);
                out.extend_from_slice(&1i32.to_be_bytes());
                out.extend_from_slice(&1i32.to_be_bytes());
                let mut enc = snap::raw::Encoder::new();
                for chunk in data.chunks(XERIAL_BLOCK) {
                    let block = enc.compress_vec(chunk).map_err(|e| CompressionError::Corrupt {
                        codec: self,
                        reason: e.to_string(),
                    })?;
                    out.extend_from_slice(&(block.len() as i32).to_be_bytes());
                    out.extend_from_slice(&block);
                }
                Ok(out)
            }
            Compression::Lz4 => {
                let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
                enc.write_all(data).map_err(corrupt)?;
                enc.finish()
                    .map_err(|e| CompressionError::Corrupt { codec: self, reason: e.to_string() })
            }
            Compression::Zstd => zstd::stream::encode_all(data, ZSTD_LEVEL).map_err(corrupt),
        }
    }

    /// Decompresses `data`, accepting every framing real clients send.
    pub fn decompress(self, data: &[u8]) -> Result<Vec<u8>, CompressionError> {
        match self {
            Compression::None => Ok(data.to_vec()),
            Compression::Gzip => self.read_bounded(flate2::read::MultiGzDecoder::new(data)),
            Compression::Snappy => self.snappy_decompress(data),
            Compression::Lz4 => self.read_bounded(lz4_flex::frame::FrameDecoder::new(data)),
            Compression::Zstd => {
                let dec = zstd::stream::read::Decoder::new(data).map_err(|e| {
                    CompressionError::Corrupt { codec: self, reason: e.to_string() }
                })?;
                self.read_bounded(dec)
            }
        }
    }

    fn read_bounded(self, reader: impl Read) -> Result<Vec<u8>, CompressionError> {
        let mut out = Vec::new();
        reader
            .take(MAX_DECOMPRESSED as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| CompressionError::Corrupt { codec: self, reason: e.to_string() })?;
        if out.len() > MAX_DECOMPRESSED {
            return Err(CompressionError::TooLarge { codec: self, limit: MAX_DECOMPRESSED });
        }
        Ok(out)
    }

    fn snappy_decompress(self, data: &[u8]) -> Result<Vec<u8>, CompressionError> {
        let corrupt = |reason: String| CompressionError::Corrupt { codec: self, reason };
        let mut dec = snap::raw::Decoder::new();
        let mut raw_block = |block: &[u8], out: &mut Vec<u8>| -> Result<(), CompressionError> {
            let len = snap::raw::decompress_len(block).map_err(|e| corrupt(e.to_string()))?;
            if out.len() + len > MAX_DECOMPRESSED {
                return Err(CompressionError::TooLarge { codec: self, limit: MAX_DECOMPRESSED });
            }
            let start = out.len();
            out.resize(start + len, 0);
            let n = dec.decompress(block, &mut out[start..]).map_err(|e| corrupt(e.to_string()))?;
            out.truncate(start + n);
            Ok(())
        };
        let mut out = Vec::new();
        if !data.starts_with(XERIAL_MAGIC) {
            raw_block(data, &mut out)?;
            return Ok(out);
        }
        let mut rest =
            data.get(XERIAL_HEADER_LEN..).ok_or_else(|| corrupt("short xerial header".into()))?;
        while !rest.is_empty() {
            let (len, tail) = rest
                .split_first_chunk::<4>()
                .ok_or_else(|| corrupt("truncated xerial block length".into()))?;
            let len = usize::try_from(i32::from_be_bytes(*len))
                .map_err(|_| corrupt("negative xerial block length".into()))?;
            let block = tail.get(..len).ok_or_else(|| corrupt("truncated xerial block".into()))?;
            raw_block(block, &mut out)?;
            rest = &tail[len..];
        }
        Ok(out)
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn snappy_accepts_raw_blocks_as_librdkafka_writes_them() {
        let data = b"hello hello hello hello snappy".repeat(100);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(Compression::Snappy.decompress(&raw).unwrap(), data);
    }

    #[test]
    fn snappy_writes_xerial_framing_as_java_does() {
        let data = vec![7u8; 100_000];
        let out = Compression::Snappy.compress(&data).unwrap();
        assert!(out.starts_with(XERIAL_MAGIC));
        assert_eq!(&out[8..16], &[0, 0, 0, 1, 0, 0, 0, 1], "version 1, compatible version 1");
        assert_eq!(Compression::Snappy.decompress(&out).unwrap(), data);
    }

    #[test]
    fn corrupt_inputs_are_errors() {
        let cases: &[(Compression, &[u8], &str)] = &[
            (Compression::Gzip, b"not gzip", "bad gzip magic"),
            (Compression::Snappy, b"\x82SNAPPY\0\0\0\0\x01", "xerial header cut short"),
            (
                Compression::Snappy,
                b"\x82SNAPPY\0\0\0\0\x01\0\0\0\x01\0\0\0\x09ab",
                "block past end",
            ),
            (
                Compression::Snappy,
                b"\x82SNAPPY\0\0\0\0\x01\0\0\0\x01\xff\xff\xff\xffab",
                "negative length",
            ),
            (Compression::Lz4, b"\x04\x22\x4d\x18garbage", "lz4 frame with bad descriptor"),
            (Compression::Zstd, b"\x28\xb5\x2f\xfdgarbage", "zstd frame with bad header"),
        ];
        for (codec, data, why) in cases {
            assert!(codec.decompress(data).is_err(), "{why}");
        }
    }

    #[test]
    fn names_and_ids() {
        for c in Compression::ALL {
            assert_eq!(Compression::from_id(c.id()).unwrap(), c);
            assert_eq!(Compression::from_name(c.name()), Some(c));
        }
        assert!(Compression::from_id(5).is_err(), "5-7 are unassigned");
    }

    proptest! {
        #[test]
        fn round_trip(data: Vec<u8>, codec in proptest::sample::select(Compression::ALL.to_vec())) {
            let packed = codec.compress(&data).unwrap();
            prop_assert_eq!(codec.decompress(&packed).unwrap(), data);
        }

        #[test]
        fn garbage_never_panics(data: Vec<u8>, codec in proptest::sample::select(Compression::ALL.to_vec())) {
            let _ = codec.decompress(&data);
        }
    }
}
