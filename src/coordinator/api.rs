//! The coordinator's inputs and outputs as plain Rust values. The broker's
//! handlers translate Kafka's request structs (every version) into these and
//! the results back; nothing here knows a wire version.

use bytes::Bytes;

use super::Error;

/// Identifies a request the runtime is waiting to answer. The coordinator
/// may answer it at once or later (a JoinGroup waits for the rebalance, an
/// OffsetCommit for its append); every id it is given is answered exactly once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Identifies one append the coordinator asked for; the runtime reports its
/// outcome with [`super::StateMachine::append_completed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppendId(pub u64);

/// One record for `__consumer_offsets`, in Kafka's key/value format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub key: Vec<u8>,
    /// `None` is a tombstone.
    pub value: Option<Vec<u8>>,
}

/// Records to append, atomically, to one `__consumer_offsets` partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Append {
    pub id: AppendId,
    pub partition: i32,
    /// The records' timestamp (the coordinator's `now`).
    pub timestamp: i64,
    pub records: Vec<Record>,
    /// Set for a TxnOffsetCommit: the records go in a transactional batch
    /// of this producer, settled by its transaction's marker.
    pub producer: Option<TxnProducer>,
}

/// The transactional producer behind offsets committed in a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnProducer {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// What one step of the coordinator produced: records the runtime must
/// append, and answers to requests (possibly to earlier ones).
#[derive(Debug, Default)]
pub struct Output {
    pub appends: Vec<Append>,
    pub responses: Vec<(RequestId, Response)>,
}

impl Output {
    /// Adds what a later step produced, after what this one holds.
    pub fn extend(&mut self, more: Output) {
        self.appends.extend(more.appends);
        self.responses.extend(more.responses);
    }
}

/// An answer to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    JoinGroup(JoinGroupResult),
    SyncGroup(SyncGroupResult),
    Heartbeat(Option<Error>),
    LeaveGroup(LeaveGroupResult),
    OffsetCommit(OffsetCommitResult),
    DeleteGroups(Vec<(String, Option<Error>)>),
    OffsetDelete(OffsetDeleteResult),
}

/// One protocol a member supports, with its metadata (for "consumer", a
/// ConsumerProtocolSubscription).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub metadata: Bytes,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinGroupRequest {
    pub group_id: String,
    pub session_timeout_ms: i32,
    /// For JoinGroup v0 the handler passes the session timeout here, as Kafka does.
    pub rebalance_timeout_ms: i32,
    /// Empty for a member that has none yet.
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub protocol_type: String,
    pub protocols: Vec<Protocol>,
    pub reason: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// JoinGroup v4+ without a group.instance.id (KIP-394).
    pub require_known_member_id: bool,
    /// JoinGroup v9+ (KIP-814).
    pub support_skipping_assignment: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinGroupMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinGroupResult {
    pub error: Option<Error>,
    /// -1 on error.
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// Empty on error.
    pub leader: String,
    pub skip_assignment: bool,
    pub member_id: String,
    /// Filled for the leader only.
    pub members: Vec<JoinGroupMember>,
}

impl JoinGroupResult {
    pub(crate) fn error(member_id: &str, error: Error) -> Self {
        JoinGroupResult {
            error: Some(error),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncGroupRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// v5+; checked against the group's when present.
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// The leader's assignment; empty from followers.
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncGroupResult {
    pub error: Option<Error>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// Always present: empty bytes when the member got nothing or on error.
    pub assignment: Bytes,
}

impl SyncGroupResult {
    pub(crate) fn error(error: Error) -> Self {
        SyncGroupResult {
            error: Some(error),
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeartbeatRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// One member leaving (v3+ batches them; v0-v2 send one with no instance id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberIdentity {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaveGroupRequest {
    pub group_id: String,
    pub members: Vec<MemberIdentity>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaveMemberResult {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub error: Option<Error>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaveGroupResult {
    pub error: Option<Error>,
    pub members: Vec<LeaveMemberResult>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetCommitPartition {
    pub partition_index: i32,
    pub committed_offset: i64,
    /// -1 when unknown.
    pub committed_leader_epoch: i32,
    /// v1 only; -1 means "now".
    pub commit_timestamp: i64,
    /// Null on the wire is stored as "", as Kafka does.
    pub committed_metadata: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetCommitTopic {
    pub name: String,
    pub partitions: Vec<OffsetCommitPartition>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetCommitRequest {
    pub group_id: String,
    /// -1 for commits from outside group management (admin, manual assignment).
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// v2-v4; -1 means the broker's offsets.retention.minutes.
    pub retention_time_ms: i64,
    pub topics: Vec<OffsetCommitTopic>,
}

/// Per-partition errors, in request order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicPartitionErrors {
    pub name: String,
    pub partitions: Vec<(i32, Option<Error>)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetCommitResult {
    pub topics: Vec<TopicPartitionErrors>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetFetchRequest {
    pub group_id: String,
    /// `None` fetches every committed offset of the group.
    pub topics: Option<Vec<(String, Vec<i32>)>>,
    /// KIP-447: refuse partitions with an offset write in flight.
    pub require_stable: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetFetchPartition {
    pub partition_index: i32,
    /// -1 when nothing is committed.
    pub committed_offset: i64,
    /// -1 when unknown; never null on the wire.
    pub committed_leader_epoch: i32,
    /// "" when nothing is committed; never null on the wire.
    pub metadata: String,
    pub error: Option<Error>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetFetchTopic {
    pub name: String,
    pub partitions: Vec<OffsetFetchPartition>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetFetchResult {
    pub error: Option<Error>,
    pub topics: Vec<OffsetFetchTopic>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupOverview {
    pub group_id: String,
    /// "" for groups that only store offsets.
    pub protocol_type: String,
    pub state: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListGroupsResult {
    pub error: Option<Error>,
    pub groups: Vec<GroupOverview>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Filled only while the group is Stable, as Kafka does.
    pub member_metadata: Bytes,
    pub member_assignment: Bytes,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescribedGroup {
    pub error: Option<Error>,
    pub group_id: String,
    /// "" with an error, "Dead" for an unknown group.
    pub state: String,
    pub protocol_type: String,
    /// The selected protocol; "" unless Stable.
    pub protocol_data: String,
    pub members: Vec<DescribedMember>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetDeleteRequest {
    pub group_id: String,
    pub topics: Vec<(String, Vec<i32>)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetDeleteResult {
    /// When set, `topics` is empty, as in Kafka.
    pub error: Option<Error>,
    pub topics: Vec<TopicPartitionErrors>,
}
