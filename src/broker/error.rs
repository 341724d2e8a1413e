//! Broker errors, and the one place where typed errors from the layers
//! below become Kafka error codes.

use std::path::PathBuf;

use crate::cluster;
use crate::protocol::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Metadata(#[from] cluster::Error),
    #[error("cannot access {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    MetaProperties { path: PathBuf, reason: String },
    #[error(transparent)]
    LogDirs(#[from] super::replica_manager::OpenError),
    /// Kafka's start-up check of each `log.dirs` entry.
    #[error("Failed to create or validate data directory {}: {cause}", dir.display())]
    InvalidLogDir { dir: PathBuf, cause: std::io::Error },
}

/// The Kafka error code for a metadata store failure.
pub fn metadata_error_code(e: &cluster::Error) -> ErrorCode {
    match e {
        cluster::Error::TopicExists(_) => ErrorCode::TopicAlreadyExists,
        cluster::Error::UnknownTopic(_) => ErrorCode::UnknownTopicOrPartition,
        cluster::Error::PartitionExists { .. } => ErrorCode::InvalidPartitions,
        cluster::Error::Io { .. } | cluster::Error::Corrupt { .. } => ErrorCode::KafkaStorageError,
        cluster::Error::Unavailable(_) => ErrorCode::RequestTimedOut,
        cluster::Error::PartitionStateChanged { .. } => ErrorCode::NotController,
        cluster::Error::NotController => ErrorCode::NotController,
    }
}

/// The Kafka error code for an election the controller did not make.
pub fn election_error_code(e: crate::controller::ElectionError) -> ErrorCode {
    use crate::controller::ElectionError as E;
    match e {
        E::ElectionNotNeeded => ErrorCode::ElectionNotNeeded,
        E::PreferredLeaderNotAvailable => ErrorCode::PreferredLeaderNotAvailable,
        E::EligibleLeadersNotAvailable => ErrorCode::EligibleLeadersNotAvailable,
        E::UnknownTopicOrPartition => ErrorCode::UnknownTopicOrPartition,
    }
}

/// An error code with the message sent along where the API has room for one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: Option<String>,
    /// Produce v8+: the records of the batch that caused the error, by
    /// index, with their reasons (KIP-467); empty for most errors.
    pub record_errors: Vec<(i32, String)>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, message: Some(message.into()), record_errors: Vec::new() }
    }

    /// Just a code, with no message.
    pub fn code(code: ErrorCode) -> Self {
        ApiError { code, message: None, record_errors: Vec::new() }
    }

    /// A log error with its code, message and any per-record errors.
    pub fn from_log(e: crate::log::Error) -> Self {
        let mut api = ApiError::new(log_error_code(&e), e.to_string());
        if let crate::log::Error::InvalidRecords { record_errors, .. } = e {
            api.record_errors = record_errors;
        }
        api
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.message {
            Some(m) => write!(f, "{}: {m}", self.code),
            None => write!(f, "{}", self.code),
        }
    }
}

impl From<cluster::Error> for ApiError {
    fn from(e: cluster::Error) -> Self {
        ApiError::new(metadata_error_code(&e), e.to_string())
    }
}

/// The Kafka error code for a log failure.
pub fn log_error_code(e: &crate::log::Error) -> ErrorCode {
    use crate::log::Error as L;
    match e {
        L::Io { .. } | L::LogDirOffline { .. } => ErrorCode::KafkaStorageError,
        L::CorruptRecord(_) => ErrorCode::CorruptMessage,
        L::RecordTooLarge { .. } => ErrorCode::MessageTooLarge,
        L::InvalidRecord { .. } | L::InvalidRecords { .. } => ErrorCode::InvalidRecord,
        L::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
        L::Closed { .. } => ErrorCode::NotLeaderOrFollower,
        // As Kafka's getPartitionOrException: the partition is not hosted here.
        L::NoLog { .. } => ErrorCode::UnknownTopicOrPartition,
        L::Config(_) => ErrorCode::InvalidConfig,
        L::UnexpectedAppendOffset { .. } => ErrorCode::UnknownServerError,
    }
}
