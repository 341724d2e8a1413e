//! Responses are encoded once their request's handler time is known, so
//! the request quota (`request_percentage`, KIP-124) can set
//! throttle_time_ms on the very response whose handling went over it, as
//! Kafka builds its response after recording the request's thread time.
//!
//! Which versions carry throttle_time_ms, and from which version the
//! client throttles itself (KIP-219: the broker answers at once and then
//! mutes the connection; before that the broker held the answer back), is
//! Kafka's per API.

use bytes::BytesMut;
use kafka_protocol::messages::ApiKey;

use crate::protocol::header::encode_response;
use crate::protocol::EncodeError;

/// A response body waiting for its throttle time.
pub trait Response: Send {
    /// Sets throttle_time_ms to at least `ms`, in versions with the field.
    fn raise_throttle(&mut self, version: i16, ms: i32);
    fn encode(
        &self,
        key: ApiKey,
        version: i16,
        correlation_id: i32,
    ) -> Result<BytesMut, EncodeError>;
}

/// A handler's answer before encoding.
pub struct Pending {
    pub key: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
    pub body: Box<dyn Response>,
}

impl Pending {
    pub fn encode(mut self, throttle_ms: u64) -> Result<BytesMut, EncodeError> {
        if throttle_ms > 0 {
            self.body.raise_throttle(self.version, throttle_ms.min(i32::MAX as u64) as i32);
        }
        self.body.encode(self.key, self.version, self.correlation_id)
    }
}

macro_rules! responses {
    (throttled: $($t:ident since $v:literal),* ; unthrottled: $($u:ident),* $(,)?) => {
        $(impl Response for kafka_protocol::messages::$t {
            fn raise_throttle(&mut self, version: i16, ms: i32) {
                if version >= $v {
                    self.throttle_time_ms = self.throttle_time_ms.max(ms);
                }
            }
            fn encode(&self, key: ApiKey, version: i16, cid: i32) -> Result<BytesMut, EncodeError> {
                encode_response(key, version, cid, self)
            }
        })*
        $(impl Response for kafka_protocol::messages::$u {
            fn raise_throttle(&mut self, _: i16, _: i32) {}
            fn encode(&self, key: ApiKey, version: i16, cid: i32) -> Result<BytesMut, EncodeError> {
                encode_response(key, version, cid, self)
            }
        })*

        /// Each throttled response type with the field set regardless of
        /// version, and the first version said to carry it.
        #[cfg(test)]
        fn throttle_fields() -> Vec<(&'static str, i16, Box<dyn Fn(i32) -> Box<dyn Response>>)> {
            vec![$((stringify!($t), $v, Box::new(|ms| {
                let mut r = kafka_protocol::messages::$t::default();
                r.throttle_time_ms = ms;
                Box::new(r) as Box<dyn Response>
            })),)*]
        }
    };
}

responses! {
    throttled:
    ProduceResponse since 1,
    ListOffsetsResponse since 2,
    MetadataResponse since 3,
    OffsetCommitResponse since 3,
    OffsetFetchResponse since 3,
    FindCoordinatorResponse since 1,
    JoinGroupResponse since 2,
    HeartbeatResponse since 1,
    LeaveGroupResponse since 1,
    SyncGroupResponse since 1,
    DescribeGroupsResponse since 1,
    ListGroupsResponse since 1,
    ApiVersionsResponse since 1,
    CreateTopicsResponse since 2,
    DeleteTopicsResponse since 1,
    DeleteRecordsResponse since 0,
    InitProducerIdResponse since 0,
    OffsetForLeaderEpochResponse since 2,
    AddPartitionsToTxnResponse since 0,
    AddOffsetsToTxnResponse since 0,
    EndTxnResponse since 0,
    TxnOffsetCommitResponse since 0,
    DescribeAclsResponse since 0,
    CreateAclsResponse since 0,
    DeleteAclsResponse since 0,
    DescribeConfigsResponse since 0,
    AlterConfigsResponse since 0,
    DescribeLogDirsResponse since 0,
    CreatePartitionsResponse since 0,
    DeleteGroupsResponse since 0,
    ElectLeadersResponse since 0,
    IncrementalAlterConfigsResponse since 0,
    AlterPartitionReassignmentsResponse since 0,
    ListPartitionReassignmentsResponse since 0,
    OffsetDeleteResponse since 0,
    DescribeClientQuotasResponse since 0,
    AlterClientQuotasResponse since 0,
    DescribeUserScramCredentialsResponse since 0,
    AlterUserScramCredentialsResponse since 0,
    DescribeClusterResponse since 0,
    DescribeProducersResponse since 0,
    DescribeTransactionsResponse since 0,
    ListTransactionsResponse since 0;
    unthrottled:
    WriteTxnMarkersResponse,
    SaslHandshakeResponse,
    SaslAuthenticateResponse,
}

/// Whether the client waits out throttle_time_ms itself (KIP-219), so the
/// broker sends the response at once; older versions get it late instead.
/// APIs added after KIP-219 always do.
pub fn client_throttles(key: ApiKey, version: i16) -> bool {
    use ApiKey::*;
    let since = match key {
        Produce => 6,
        Fetch => 8,
        Metadata => 6,
        OffsetCommit | OffsetFetch => 4,
        ListOffsets | CreateTopics | JoinGroup => 3,
        FindCoordinator | Heartbeat | LeaveGroup | SyncGroup | DescribeGroups | ListGroups
        | ApiVersions | DeleteTopics | DescribeConfigs | OffsetForLeaderEpoch => 2,
        DeleteRecords | InitProducerId | AddPartitionsToTxn | AddOffsetsToTxn | EndTxn
        | TxnOffsetCommit | DescribeAcls | CreateAcls | DeleteAcls | AlterConfigs
        | DescribeLogDirs | CreatePartitions | DeleteGroups => 1,
        _ => 0,
    };
    version >= since
}

/// Requests the request quota does not count, as Kafka exempts them:
/// ApiVersions (what a client asks before anything else), the SASL
/// exchange, and brokers' own cluster actions (transaction markers;
/// follower fetches mark themselves exempt).
pub fn quota_exempt(key: ApiKey) -> bool {
    matches!(
        key,
        ApiKey::ApiVersions
            | ApiKey::SaslHandshake
            | ApiKey::SaslAuthenticate
            | ApiKey::WriteTxnMarkers
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each type's first version with throttle_time_ms, checked against
    /// the codec's message definitions: from `since` the field changes the
    /// bytes on the wire, before it does not.
    #[test]
    fn throttle_time_sits_in_kafkas_versions_of_each_response() {
        for (name, since, with_field) in throttle_fields() {
            let key = api_key(name);
            let wire = |ms: i32, v: i16| with_field(ms).encode(key, v, 1).unwrap();
            assert_ne!(wire(7, since), wire(0, since), "{name} v{since} has the field");
            if since > 0 {
                let v = since - 1;
                assert_eq!(wire(7, v), wire(0, v), "{name} v{v} has no throttle_time_ms");
            }
        }
    }

    fn api_key(response: &str) -> ApiKey {
        let name = response.strip_suffix("Response").unwrap();
        (0..=75i16)
            .filter_map(|k| ApiKey::try_from(k).ok())
            .find(|k| format!("{k:?}") == name)
            .unwrap_or_else(|| panic!("no API key for {response}"))
    }

    #[test]
    fn raising_keeps_the_larger_throttle_and_skips_versions_without_the_field() {
        let mut r = kafka_protocol::messages::ProduceResponse::default();
        r.throttle_time_ms = 500;
        r.raise_throttle(8, 100);
        assert_eq!(r.throttle_time_ms, 500, "the byte-rate throttle was larger");
        r.raise_throttle(8, 900);
        assert_eq!(r.throttle_time_ms, 900);
        let mut m = kafka_protocol::messages::MetadataResponse::default();
        m.raise_throttle(2, 900);
        assert_eq!(m.throttle_time_ms, 0, "Metadata v2 has no field to carry it");
        assert!(m.encode(ApiKey::Metadata, 2, 1).is_ok());
    }

    #[test]
    fn old_versions_are_held_back_by_the_broker() {
        assert!(!client_throttles(ApiKey::Metadata, 5));
        assert!(client_throttles(ApiKey::Metadata, 6));
        assert!(!client_throttles(ApiKey::JoinGroup, 2));
        assert!(client_throttles(ApiKey::JoinGroup, 3));
        assert!(client_throttles(ApiKey::FindCoordinator, 2));
        assert!(!client_throttles(ApiKey::FindCoordinator, 1));
        assert!(client_throttles(ApiKey::DescribeClientQuotas, 0));
    }
}
