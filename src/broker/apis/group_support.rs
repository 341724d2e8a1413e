//! What the group APIs' handlers share: who is asking, error codes, and
//! the partitions the cluster knows.

use crate::cluster::ClusterImage;
use crate::coordinator::Error;

/// The client behind a request, as JoinGroup records it.
#[derive(Clone, Debug)]
pub struct ClientInfo {
    pub client_id: String,
    /// Kafka's `InetAddress.toString`: `/127.0.0.1`.
    pub host: String,
}

/// The wire code of an optional coordinator error (0 for none).
pub fn error_code(e: Option<Error>) -> i16 {
    e.map_or(0, Error::code)
}

/// Whether the cluster has this partition (OffsetCommit and OffsetDelete
/// refuse others with UNKNOWN_TOPIC_OR_PARTITION, as Kafka's handlers do).
pub fn partition_exists(image: &ClusterImage, topic: &str, partition: i32) -> bool {
    image.topic(topic).is_some_and(|t| t.partitions.contains_key(&partition))
}

/// A group's members as a response's member entries of type `$ty`: each
/// with its member id and group instance id, and what `$fill` sets from
/// the rest of `$m`.
macro_rules! wire_members {
    ($members:expr, $ty:ty, |$m:ident, $w:ident| $fill:block) => {
        $members
            .into_iter()
            .map(|$m| {
                let mut $w = <$ty>::default();
                $w.member_id = str_bytes($m.member_id);
                $w.group_instance_id = $m.group_instance_id.map(str_bytes);
                $fill
                $w
            })
            .collect()
    };
}
pub(super) use wire_members;
