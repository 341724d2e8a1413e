//! Kafka's RecordBatch v2 format: the header view ([`RecordBatch`]), the
//! records inside it ([`Records`]), varints, CRC-32C, the compression codecs
//! and a [`BatchBuilder`]. Everything reads untrusted bytes without
//! panicking; nothing here does I/O.

pub mod batch;
pub mod builder;
pub mod compression;
pub mod control;
pub mod crc;
pub mod legacy;
pub mod records;
pub mod varint;

pub use batch::{BatchHeader, Batches, RecordBatch, RecordBatchMut, TimestampType};
pub use builder::{BatchBuilder, NewRecord, NO_TIMESTAMP};
pub use compression::{Compression, CompressionError};
pub use records::{Header, Record, RecordIter, Records};

/// Why bytes are not a valid RecordBatch v2. Positions are byte positions
/// in the buffer or file the batches were read from.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "batch at position {position} is truncated: needs {needed} bytes, {available} present"
    )]
    Truncated { position: usize, needed: usize, available: usize },
    #[error("batch at position {position} has invalid length {length}")]
    InvalidLength { position: usize, length: i32 },
    #[error("batch at position {position} has magic {magic}; only magic 2 is supported")]
    UnsupportedMagic { position: usize, magic: i8 },
    #[error("batch at position {position} is corrupt: CRC {stored:#010x} stored, {computed:#010x} computed")]
    CrcMismatch { position: usize, stored: u32, computed: u32 },
    #[error("invalid record in batch with base offset {base_offset}: {reason}")]
    InvalidRecord { base_offset: i64, reason: String },
    #[error(transparent)]
    Compression(#[from] CompressionError),
}
