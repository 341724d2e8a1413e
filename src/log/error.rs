//! The log's error type. Each variant carries what an operator needs to act
//! on it; the broker maps them to Kafka error codes in one place.

use std::path::PathBuf;

use super::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// Bytes that are not valid RecordBatch v2 (CRC, length, magic, records).
    #[error("corrupt record: {0}")]
    CorruptRecord(#[from] crate::record::Error),
    #[error("batch of {size} bytes is larger than max.message.bytes={max}")]
    RecordTooLarge { size: usize, max: usize },
    /// Well-formed bytes the log refuses (Kafka's INVALID_RECORD).
    #[error("invalid record: {reason}")]
    InvalidRecord { reason: String },
    /// Records of a batch the log refuses one by one (KIP-467): their
    /// indexes in the batch, each with its reason.
    #[error("invalid records: {reason}")]
    InvalidRecords { reason: String, record_errors: Vec<(i32, String)> },
    /// A follower append that does not start at or after the log end offset.
    #[error("append at offset {first_offset} is below the log end offset {log_end}")]
    UnexpectedAppendOffset { first_offset: i64, log_end: i64 },
    #[error("offset {requested} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange { requested: i64, log_start: i64, log_end: i64 },
    /// An earlier I/O error took the directory offline; it stays offline.
    #[error("log dir {} is offline after an I/O error", dir.display())]
    LogDirOffline { dir: PathBuf },
    #[error("log {} is closed", dir.display())]
    Closed { dir: PathBuf },
    /// No log of this partition in any log dir (deleted, or never here).
    #[error("no log for partition {topic_partition}")]
    NoLog { topic_partition: crate::types::TopicPartition },
    /// An index file whose damage cannot be repaired where it was found
    /// (the partition rebuilds it from the log when it next opens).
    #[error("corrupt index {}: {reason}", path.display())]
    CorruptIndex { path: PathBuf, reason: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A read that may not wait for the disk needs a page that is not in
    /// the page cache; the caller reads again where waiting is allowed.
    #[error("the read needs pages that are not in the page cache")]
    NotCached,
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    /// The same failure reported to several callers (one checkpoint write
    /// failing a batch of deletions); I/O errors keep their kind and text.
    pub(crate) fn duplicate(&self) -> Error {
        match self {
            Error::Io { path, source } => Error::Io {
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            Error::LogDirOffline { dir } => Error::LogDirOffline { dir: dir.clone() },
            other => Error::InvalidRecord { reason: other.to_string() },
        }
    }
}

/// ENOSPC or EDQUOT: the write may succeed once space is freed.
pub fn is_out_of_space(e: &std::io::Error) -> bool {
    use rustix::io::Errno;
    e.raw_os_error().is_some_and(|code| {
        code == Errno::NOSPC.raw_os_error() || code == Errno::DQUOT.raw_os_error()
    })
}
