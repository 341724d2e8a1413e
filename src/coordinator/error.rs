//! The errors the group coordinator answers with. Each is one of Kafka's
//! wire errors (`org.apache.kafka.common.protocol.Errors`); [`Error::code`]
//! gives the code, so the broker maps them onto its error-code table without
//! a lookup table of its own.

/// A Kafka error the coordinator returns in a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Error {
    #[error("The server experienced an unexpected error when processing the request.")]
    UnknownServerError,
    #[error("The request timed out.")]
    RequestTimedOut,
    #[error("The metadata field of the offset request was too large.")]
    OffsetMetadataTooLarge,
    #[error("The coordinator is loading and hence can't process requests.")]
    CoordinatorLoadInProgress,
    #[error("The coordinator is not available.")]
    CoordinatorNotAvailable,
    #[error("This is not the correct coordinator.")]
    NotCoordinator,
    #[error("Specified group generation id is not valid.")]
    IllegalGeneration,
    #[error(
        "The group member's supported protocols are incompatible with those of existing members \
         or first group member tried to join with empty protocol type or empty protocol list."
    )]
    InconsistentGroupProtocol,
    #[error("The configured groupId is invalid.")]
    InvalidGroupId,
    #[error("The coordinator is not aware of this member.")]
    UnknownMemberId,
    #[error(
        "The session timeout is not within the range allowed by the broker (as configured by \
         group.min.session.timeout.ms and group.max.session.timeout.ms)."
    )]
    InvalidSessionTimeout,
    #[error("The group is rebalancing, so a rejoin is needed.")]
    RebalanceInProgress,
    #[error("The committing offset data size is not valid.")]
    InvalidCommitOffsetSize,
    #[error("The group is not empty.")]
    NonEmptyGroup,
    #[error("The group id does not exist.")]
    GroupIdNotFound,
    #[error(
        "The group member needs to have a valid member id before actually entering a consumer group."
    )]
    MemberIdRequired,
    #[error("The consumer group has reached its max size.")]
    GroupMaxSizeReached,
    #[error(
        "The broker rejected this static consumer since another consumer with the same \
         group.instance.id has registered with a different member.id."
    )]
    FencedInstanceId,
    #[error("The consumer group is actively subscribed to the topic")]
    GroupSubscribedToTopic,
    #[error("There are unstable offsets that need to be cleared.")]
    UnstableOffsetCommit,
}

impl Error {
    /// Kafka's wire code.
    pub fn code(self) -> i16 {
        match self {
            Error::UnknownServerError => -1,
            Error::RequestTimedOut => 7,
            Error::OffsetMetadataTooLarge => 12,
            Error::CoordinatorLoadInProgress => 14,
            Error::CoordinatorNotAvailable => 15,
            Error::NotCoordinator => 16,
            Error::IllegalGeneration => 22,
            Error::InconsistentGroupProtocol => 23,
            Error::InvalidGroupId => 24,
            Error::UnknownMemberId => 25,
            Error::InvalidSessionTimeout => 26,
            Error::RebalanceInProgress => 27,
            Error::InvalidCommitOffsetSize => 28,
            Error::NonEmptyGroup => 68,
            Error::GroupIdNotFound => 69,
            Error::MemberIdRequired => 79,
            Error::GroupMaxSizeReached => 81,
            Error::FencedInstanceId => 82,
            Error::GroupSubscribedToTopic => 86,
            Error::UnstableOffsetCommit => 88,
        }
    }
}

/// Why the runtime could not append the coordinator's records to
/// `__consumer_offsets`; the coordinator turns each into the error Kafka
/// gives the client (`GroupMetadataManager.storeGroup` and
/// `maybeConvertOffsetCommitError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendError {
    /// UNKNOWN_TOPIC_OR_PARTITION, NOT_ENOUGH_REPLICAS(_AFTER_APPEND).
    Unavailable,
    /// NOT_LEADER_OR_FOLLOWER, KAFKA_STORAGE_ERROR.
    NotLeader,
    /// REQUEST_TIMED_OUT.
    TimedOut,
    /// MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE.
    TooLarge,
    /// Anything else.
    Unknown,
}

impl AppendError {
    /// The error a SyncGroup (or static rejoin) gets when its group record
    /// could not be stored.
    pub(crate) fn for_group_store(self) -> Error {
        match self {
            AppendError::Unavailable => Error::CoordinatorNotAvailable,
            AppendError::NotLeader => Error::NotCoordinator,
            AppendError::TimedOut => Error::RebalanceInProgress,
            AppendError::TooLarge | AppendError::Unknown => Error::UnknownServerError,
        }
    }

    /// The error each partition of an OffsetCommit gets.
    pub(crate) fn for_offset_commit(self) -> Error {
        match self {
            AppendError::Unavailable => Error::CoordinatorNotAvailable,
            AppendError::NotLeader => Error::NotCoordinator,
            AppendError::TimedOut => Error::RequestTimedOut,
            AppendError::TooLarge => Error::InvalidCommitOffsetSize,
            AppendError::Unknown => Error::UnknownServerError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kafkas() {
        let cases = [
            (Error::UnknownMemberId, 25, "the most common rejoin signal"),
            (Error::MemberIdRequired, 79, "KIP-394"),
            (Error::FencedInstanceId, 82, "KIP-345"),
            (Error::GroupMaxSizeReached, 81, "KIP-389"),
            (Error::NonEmptyGroup, 68, "DeleteGroups on a live group"),
            (Error::UnstableOffsetCommit, 88, "KIP-447"),
        ];
        for (e, code, why) in cases {
            assert_eq!(e.code(), code, "{why}");
        }
    }
}
