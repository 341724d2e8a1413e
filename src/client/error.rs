//! The client's error type: what went wrong talking to a broker, with the
//! broker or topic named so the CLI can print one clear line.

use std::time::Duration;

use kafka_protocol::error::ResponseError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot connect to {addr}")]
    Connect { addr: String, source: std::io::Error },
    #[error("connection to {addr} failed")]
    Io { addr: String, source: std::io::Error },
    #[error("connection to {addr} closed by the broker")]
    Disconnected { addr: String },
    #[error("timed out after {}ms waiting for {what}", after.as_millis())]
    Timeout { what: String, after: Duration },
    #[error("malformed {api} response from {addr}: {reason}")]
    Decode { api: &'static str, addr: String, reason: String },
    #[error("cannot encode {api} request: {reason}")]
    Encode { api: &'static str, reason: String },
    #[error("the broker at {addr} does not support {api} (versions {ours} here, {theirs} there)")]
    UnsupportedVersion { api: &'static str, addr: String, ours: String, theirs: String },
    #[error("{}", broker_message(*code, message.as_deref()))]
    Broker { code: ResponseError, message: Option<String> },
    /// SASL refused: SASL_AUTHENTICATION_FAILED or an unsupported mechanism.
    #[error("authentication to {addr} failed: {message}")]
    Authentication { addr: String, message: String },
    #[error("no broker reachable among {}{}", servers.join(","), last.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default())]
    NoBrokers { servers: Vec<String>, last: Option<Box<Error>> },
    #[error("broker {0} is not in the cluster metadata")]
    UnknownBroker(i32),
    #[error("Topic '{0}' does not exist")]
    UnknownTopic(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error(transparent)]
    Config(#[from] crate::config::Error),
    #[error("invalid record batch: {0}")]
    Record(#[from] crate::record::Error),
    /// Nothing could be read at an offset: the first batch there does not
    /// fit the fetch size, or the bytes are not a batch.
    #[error("the batch at offset {offset} of {topic}-{partition} is larger than {max_bytes} bytes (max.partition.fetch.bytes) or corrupt")]
    BatchTooLarge { topic: String, partition: i32, offset: i64, max_bytes: i32 },
}

impl Error {
    /// An error code from a response; `None` when the code is 0 (success).
    pub fn from_code(code: i16, message: Option<&str>) -> Option<Error> {
        ResponseError::try_from_code(code).map(|code| Error::Broker {
            code,
            message: message.filter(|m| !m.is_empty()).map(str::to_string),
        })
    }

    /// Whether retrying the same request (after refreshing metadata) may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Broker { code, .. } => code.is_retriable(),
            Error::Io { .. } | Error::Disconnected { .. } | Error::Connect { .. } => true,
            _ => false,
        }
    }

    pub fn code(&self) -> Option<ResponseError> {
        match self {
            Error::Broker { code, .. } => Some(*code),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An item of a response that carries its own error code (a topic, a
/// partition, a resource, an ACL filter), and in most APIs a message; or a
/// whole response whose top-level error decides a retry.
pub trait ItemError {
    fn error_code(&self) -> i16;
    fn error_message(&self) -> Option<&str>;

    /// The item's outcome: `None` when it succeeded.
    fn error(&self) -> Option<Error> {
        Error::from_code(self.error_code(), self.error_message())
    }
}

/// The first failed item's error, as Kafka's admin client fails a call
/// over the resources it names; `Ok` when every item succeeded.
pub fn check_items<'a, T: ItemError + 'a>(items: impl IntoIterator<Item = &'a T>) -> Result<()> {
    match items.into_iter().find_map(ItemError::error) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

macro_rules! item_error {
    (with_message: $($t:path),* $(,)?) => {$(
        impl ItemError for $t {
            fn error_code(&self) -> i16 {
                self.error_code
            }
            fn error_message(&self) -> Option<&str> {
                self.error_message.as_deref()
            }
        }
    )*};
    (code_only: $($t:path),* $(,)?) => {$(
        impl ItemError for $t {
            fn error_code(&self) -> i16 {
                self.error_code
            }
            fn error_message(&self) -> Option<&str> {
                None
            }
        }
    )*};
}

item_error!(with_message:
    kafka_protocol::messages::create_topics_response::CreatableTopicResult,
    kafka_protocol::messages::delete_topics_response::DeletableTopicResult,
    kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult,
    kafka_protocol::messages::describe_configs_response::DescribeConfigsResult,
    kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse,
    kafka_protocol::messages::elect_leaders_response::PartitionResult,
    kafka_protocol::messages::alter_partition_reassignments_response::ReassignablePartitionResponse,
    kafka_protocol::messages::create_acls_response::AclCreationResult,
    kafka_protocol::messages::delete_acls_response::DeleteAclsFilterResult,
    kafka_protocol::messages::alter_client_quotas_response::EntryData,
    kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult,
    kafka_protocol::messages::AlterPartitionReassignmentsResponse,
    kafka_protocol::messages::ListPartitionReassignmentsResponse,
);

item_error!(code_only:
    kafka_protocol::messages::list_offsets_response::ListOffsetsPartitionResponse,
    kafka_protocol::messages::offset_commit_response::OffsetCommitResponsePartition,
    kafka_protocol::messages::delete_groups_response::DeletableGroupResult,
    kafka_protocol::messages::offset_delete_response::OffsetDeleteResponsePartition,
);

/// The broker's own message when it sent one, else Kafka's description of the
/// code (the text Kafka's tools print for an `ApiException` without a message).
fn broker_message(code: ResponseError, message: Option<&str>) -> String {
    if let Some(m) = message {
        return m.to_string();
    }
    let text = match code {
        ResponseError::UnknownServerError => {
            "The server experienced an unexpected error when processing the request."
        }
        ResponseError::OffsetOutOfRange => {
            "The requested offset is not within the range of offsets maintained by the server."
        }
        ResponseError::CorruptMessage => "This message has failed its CRC checksum, exceeds the valid size, has a null key for a compacted topic, or is otherwise corrupt.",
        ResponseError::UnknownTopicOrPartition => "This server does not host this topic-partition.",
        ResponseError::LeaderNotAvailable => "There is no leader for this topic-partition as we are in the middle of a leadership election.",
        ResponseError::NotLeaderOrFollower => "For requests intended only for the leader, this error indicates that the broker is not the current leader. For requests intended for any replica, this error indicates that the broker is not a replica of the topic partition.",
        ResponseError::RequestTimedOut => "The request timed out.",
        ResponseError::MessageTooLarge => {
            "The request included a message larger than the max message size the server will accept."
        }
        ResponseError::NotEnoughReplicas => {
            "Messages are rejected since there are fewer in-sync replicas than required."
        }
        ResponseError::NotEnoughReplicasAfterAppend => {
            "Messages are written to the log, but to fewer in-sync replicas than required."
        }
        ResponseError::InvalidTopicException => "The request attempted to perform an operation on an invalid topic.",
        ResponseError::RecordListTooLarge => {
            "The request included message batch larger than the configured segment size on the server."
        }
        ResponseError::TopicAlreadyExists => "Topic with this name already exists.",
        ResponseError::InvalidPartitions => "Number of partitions is below 1.",
        ResponseError::InvalidReplicationFactor => {
            "Replication factor is below 1 or larger than the number of available brokers."
        }
        ResponseError::InvalidReplicaAssignment => "Replica assignment is invalid.",
        ResponseError::InvalidConfig => "Configuration is invalid.",
        ResponseError::InvalidRequest => "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details.",
        ResponseError::UnsupportedVersion => "The version of API is not supported.",
        ResponseError::PolicyViolation => "Request parameters do not satisfy the configured policy.",
        ResponseError::OutOfOrderSequenceNumber => "The broker received an out of order sequence number.",
        ResponseError::DuplicateSequenceNumber => "The broker received a duplicate sequence number.",
        ResponseError::InvalidProducerEpoch => "Producer attempted to produce with an old epoch.",
        ResponseError::ClusterAuthorizationFailed => "Cluster authorization failed.",
        ResponseError::TopicAuthorizationFailed => "Topic authorization failed.",
        ResponseError::TopicDeletionDisabled => "Topic deletion is disabled.",
        ResponseError::KafkaStorageError => "Disk error when trying to access log file on the disk.",
        ResponseError::NotController => "This is not the correct controller for this cluster.",
        ResponseError::InvalidRecord => "This record has failed the validation on broker and hence will be rejected.",
        ResponseError::UnknownTopicId => "This server does not host this topic ID.",
        other => return format!("{other:?}"),
    };
    text.to_string()
}
