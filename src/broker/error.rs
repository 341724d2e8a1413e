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
    use cluster::Error as C;
    match e {
        C::TopicExists(_) => ErrorCode::TopicAlreadyExists,
        C::UnknownTopic(_) => ErrorCode::UnknownTopicOrPartition,
        C::PartitionExists { .. } => ErrorCode::InvalidPartitions,
        C::Io { .. } | C::Corrupt { .. } => ErrorCode::KafkaStorageError,
        C::ZooKeeper { source } => zookeeper_error_code(source),
        // Another controller is writing the same znodes: the client asks
        // again once its metadata names the one that won.
        C::PartitionStateChanged { .. } | C::NotController => ErrorCode::NotController,
        // Retriable: the writers racing this one finish, and the next try wins.
        C::Contended { .. } => ErrorCode::RequestTimedOut,
        // The broker is shutting down: its roles are gone with it.
        C::Stopped => ErrorCode::NotController,
        C::ControllerTimeout { .. } => ErrorCode::RequestTimedOut,
        C::InvalidQuotaEntity => ErrorCode::InvalidRequest,
        C::UnexpectedReply { .. } | C::BrokerIdTaken { .. } | C::InvalidChroot { .. } => {
            ErrorCode::UnknownServerError
        }
    }
}

/// What Kafka's ZooKeeper-backed admin paths answer for each ZooKeeper
/// failure. A write guarded by the controller epoch that meets a newer
/// version, or a session that expired (which ends every role this broker
/// held), is Kafka's ControllerMovedException: NOT_CONTROLLER, which
/// clients retry after refreshing metadata. A node that already exists is
/// a topic created concurrently. Everything else (connection loss, no
/// hosts, auth) is not an ApiException in Kafka and reaches clients as
/// UNKNOWN_SERVER_ERROR through `ApiError.fromThrowable`; only a
/// client-side timeout is a timeout.
fn zookeeper_error_code(e: &zookeeper_client::Error) -> ErrorCode {
    use zookeeper_client::Error as Z;
    match e {
        Z::SessionExpired | Z::BadVersion | Z::SessionMoved => ErrorCode::NotController,
        Z::NodeExists => ErrorCode::TopicAlreadyExists,
        Z::Timeout => ErrorCode::RequestTimedOut,
        _ => ErrorCode::UnknownServerError,
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
        // NotCached is retried off the reactor, never answered.
        L::UnexpectedAppendOffset { .. } | L::CorruptIndex { .. } | L::NotCached => {
            ErrorCode::UnknownServerError
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zookeeper_client as zkc;

    fn zk(source: zkc::Error) -> cluster::Error {
        cluster::Error::ZooKeeper { source }
    }

    /// Each cause of a failed metadata write, with the code a Kafka client
    /// gets for it; every one of them used to be REQUEST_TIMED_OUT.
    #[test]
    fn metadata_failures_map_to_kafkas_codes_by_cause() {
        let cases: Vec<(&str, cluster::Error, ErrorCode)> = vec![
            (
                "session expired: every role of this broker ended with it",
                zk(zkc::Error::SessionExpired),
                ErrorCode::NotController,
            ),
            (
                "an epoch-guarded write met a newer controller",
                zk(zkc::Error::BadVersion),
                ErrorCode::NotController,
            ),
            (
                "connection loss is not an ApiException in Kafka",
                zk(zkc::Error::ConnectionLoss),
                ErrorCode::UnknownServerError,
            ),
            ("no ZooKeeper host reachable", zk(zkc::Error::NoHosts), ErrorCode::UnknownServerError),
            ("ZooKeeper refused our ACL", zk(zkc::Error::NoAuth), ErrorCode::UnknownServerError),
            (
                "a znode created concurrently",
                zk(zkc::Error::NodeExists),
                ErrorCode::TopicAlreadyExists,
            ),
            (
                "a client-side timeout stays a timeout",
                zk(zkc::Error::Timeout),
                ErrorCode::RequestTimedOut,
            ),
            (
                "a compare-and-set that kept losing is retriable",
                cluster::Error::Contended { what: "the producer id block", attempts: 100 },
                ErrorCode::RequestTimedOut,
            ),
            ("the broker is shutting down", cluster::Error::Stopped, ErrorCode::NotController),
            (
                "the controller never answered",
                cluster::Error::ControllerTimeout {
                    what: "controlled shutdown request",
                    after: std::time::Duration::from_secs(1),
                },
                ErrorCode::RequestTimedOut,
            ),
            (
                "a quota entity with no name",
                cluster::Error::InvalidQuotaEntity,
                ErrorCode::InvalidRequest,
            ),
            (
                "a reply that does not match its request",
                cluster::Error::UnexpectedReply { what: "nothing" },
                ErrorCode::UnknownServerError,
            ),
        ];
        for (why, e, code) in cases {
            assert_eq!(metadata_error_code(&e), code, "{why}: {e}");
        }
    }

    /// A multi fails with the error of its failing operation, so a session
    /// lost in the middle of a topic creation reads like a single write's.
    #[test]
    fn a_failed_multi_is_mapped_by_its_operations_cause() {
        let e: cluster::Error =
            zkc::MultiWriteError::OperationFailed { index: 2, source: zkc::Error::SessionExpired }
                .into();
        assert_eq!(metadata_error_code(&e), ErrorCode::NotController);
        let e: cluster::Error =
            zkc::MultiWriteError::RequestFailed { source: zkc::Error::ConnectionLoss }.into();
        assert_eq!(metadata_error_code(&e), ErrorCode::UnknownServerError);
        assert_eq!(e.to_string(), "ZooKeeper: connection to server has lost");
    }
}
