//! The APIs this broker answers and the version range of each, which is
//! what ApiVersions advertises. Minimums follow Kafka 3.x, which still
//! serves the 0.8-0.10 era clients (Kafka 4 dropped them, KIP-896);
//! maximums follow Kafka 3.x, limited to what the broker implements.

use kafka_protocol::messages::ApiKey;

/// An API and the versions this broker accepts for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiVersionRange {
    pub key: ApiKey,
    pub min: i16,
    pub max: i16,
}

const fn api(key: ApiKey, min: i16, max: i16) -> ApiVersionRange {
    ApiVersionRange { key, min, max }
}

/// Sorted by API key. Fetch stops at 12 because v13+ name
/// topics by id only and the Java client only moves past 12 when every
/// topic has one.
pub const SUPPORTED: &[ApiVersionRange] = &[
    api(ApiKey::Produce, 0, 11),
    api(ApiKey::Fetch, 0, 12),
    api(ApiKey::ListOffsets, 0, 8),
    api(ApiKey::Metadata, 0, 12),
    api(ApiKey::OffsetCommit, 0, 9),
    api(ApiKey::OffsetFetch, 0, 9),
    api(ApiKey::FindCoordinator, 0, 5),
    api(ApiKey::JoinGroup, 0, 9),
    api(ApiKey::Heartbeat, 0, 4),
    api(ApiKey::LeaveGroup, 0, 5),
    api(ApiKey::SyncGroup, 0, 5),
    api(ApiKey::DescribeGroups, 0, 5),
    api(ApiKey::ListGroups, 0, 5),
    api(ApiKey::SaslHandshake, 0, 1),
    api(ApiKey::ApiVersions, 0, 3),
    api(ApiKey::CreateTopics, 0, 7),
    api(ApiKey::DeleteTopics, 0, 6),
    api(ApiKey::DeleteRecords, 0, 2),
    api(ApiKey::InitProducerId, 0, 4),
    api(ApiKey::OffsetForLeaderEpoch, 0, 4),
    api(ApiKey::AddPartitionsToTxn, 0, 3),
    api(ApiKey::AddOffsetsToTxn, 0, 3),
    api(ApiKey::EndTxn, 0, 3),
    api(ApiKey::WriteTxnMarkers, 1, 1),
    api(ApiKey::TxnOffsetCommit, 0, 3),
    api(ApiKey::DescribeAcls, 0, 3),
    api(ApiKey::CreateAcls, 0, 3),
    api(ApiKey::DeleteAcls, 0, 3),
    api(ApiKey::DescribeConfigs, 0, 4),
    api(ApiKey::AlterConfigs, 0, 2),
    api(ApiKey::DescribeLogDirs, 0, 4),
    api(ApiKey::SaslAuthenticate, 0, 2),
    api(ApiKey::CreatePartitions, 0, 3),
    api(ApiKey::DeleteGroups, 0, 2),
    api(ApiKey::ElectLeaders, 0, 2),
    api(ApiKey::IncrementalAlterConfigs, 0, 1),
    api(ApiKey::AlterPartitionReassignments, 0, 1),
    api(ApiKey::ListPartitionReassignments, 0, 0),
    api(ApiKey::OffsetDelete, 0, 0),
    api(ApiKey::DescribeClientQuotas, 0, 1),
    api(ApiKey::AlterClientQuotas, 0, 1),
    api(ApiKey::DescribeUserScramCredentials, 0, 0),
    api(ApiKey::AlterUserScramCredentials, 0, 0),
    api(ApiKey::DescribeCluster, 0, 1),
    api(ApiKey::DescribeProducers, 0, 0),
    api(ApiKey::DescribeTransactions, 0, 0),
    api(ApiKey::ListTransactions, 0, 1),
];

/// The advertised range for `key`, if this broker answers it.
pub fn supported(key: ApiKey) -> Option<ApiVersionRange> {
    SUPPORTED.iter().copied().find(|a| a.key == key)
}

/// Whether a request at `version` of `key` can be answered.
pub fn is_supported(key: ApiKey, version: i16) -> bool {
    supported(key).is_some_and(|r| r.min <= version && version <= r.max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_within_the_codec() {
        for a in SUPPORTED {
            let codec = a.key.valid_versions();
            assert!(codec.min <= a.min && a.max <= codec.max, "{:?} {a:?} outside {codec}", a.key);
        }
    }

    #[test]
    fn sorted_and_unique() {
        for w in SUPPORTED.windows(2) {
            assert!((w[0].key as i16) < (w[1].key as i16), "{:?} before {:?}", w[0].key, w[1].key);
        }
    }

    #[test]
    fn produce_advertised_from_zero() {
        // librdkafka before 2.11.1 turns compression off when the Produce
        // minimum is above 0 (KAFKA-18659).
        assert_eq!(supported(ApiKey::Produce).map(|r| r.min), Some(0), "librdkafka compression");
    }
}
