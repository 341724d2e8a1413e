//! A request frame (the bytes after the size prefix) through the broker's
//! own entry: preamble, version check, header, then the body as the request
//! type of its API key; a produce request's records then go through the
//! log's leader validation, as the produce handler sends them.

#![no_main]

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_rs::log::LogConfig;
use kafka_rs::protocol::api::is_supported;
use kafka_rs::protocol::header::{decode_body, decode_header, peek_preamble};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|frame: &[u8]| {
    kafka_rs_fuzz::set_allocation_limit(kafka_rs_fuzz::DEFAULT_ALLOCATION_LIMIT);
    let Ok(pre) = peek_preamble(frame) else { return };
    let Ok(key) = ApiKey::try_from(pre.api_key) else { return };
    let version = pre.api_version;
    if !is_supported(key, version) {
        return;
    }
    let Ok((_header, body)) = decode_header(key, version, Bytes::copy_from_slice(frame)) else {
        return;
    };
    // The request type of each API the broker answers, as its dispatch
    // decodes them; an API missing here fails below, at the first seed.
    macro_rules! decode {
        ($($api:ident => $request:ty),* $(,)?) => {
            match key {
                ApiKey::Produce => decode_body::<ProduceRequest>(key, version, body).ok(),
                $(ApiKey::$api => {
                    let _ = decode_body::<$request>(key, version, body);
                    None
                })*
                other => panic!("{other:?} is answered by the broker but not fuzzed"),
            }
        };
    }
    let produce = decode! {
        Fetch => FetchRequest,
        ListOffsets => ListOffsetsRequest,
        Metadata => MetadataRequest,
        OffsetCommit => OffsetCommitRequest,
        OffsetFetch => OffsetFetchRequest,
        FindCoordinator => FindCoordinatorRequest,
        JoinGroup => JoinGroupRequest,
        Heartbeat => HeartbeatRequest,
        LeaveGroup => LeaveGroupRequest,
        SyncGroup => SyncGroupRequest,
        DescribeGroups => DescribeGroupsRequest,
        ListGroups => ListGroupsRequest,
        ApiVersions => ApiVersionsRequest,
        CreateTopics => CreateTopicsRequest,
        DeleteTopics => DeleteTopicsRequest,
        DeleteRecords => DeleteRecordsRequest,
        InitProducerId => InitProducerIdRequest,
        OffsetForLeaderEpoch => OffsetForLeaderEpochRequest,
        DescribeConfigs => DescribeConfigsRequest,
        AlterConfigs => AlterConfigsRequest,
        DescribeLogDirs => DescribeLogDirsRequest,
        CreatePartitions => CreatePartitionsRequest,
        DeleteGroups => DeleteGroupsRequest,
        ElectLeaders => ElectLeadersRequest,
        IncrementalAlterConfigs => IncrementalAlterConfigsRequest,
        OffsetDelete => OffsetDeleteRequest,
        DescribeCluster => DescribeClusterRequest,
        SaslHandshake => SaslHandshakeRequest,
        SaslAuthenticate => SaslAuthenticateRequest,
        AddPartitionsToTxn => AddPartitionsToTxnRequest,
        AddOffsetsToTxn => AddOffsetsToTxnRequest,
        EndTxn => EndTxnRequest,
        WriteTxnMarkers => WriteTxnMarkersRequest,
        TxnOffsetCommit => TxnOffsetCommitRequest,
        AlterPartitionReassignments => AlterPartitionReassignmentsRequest,
        ListPartitionReassignments => ListPartitionReassignmentsRequest,
        DescribeUserScramCredentials => DescribeUserScramCredentialsRequest,
        AlterUserScramCredentials => AlterUserScramCredentialsRequest,
        DescribeProducers => DescribeProducersRequest,
        DescribeTransactions => DescribeTransactionsRequest,
        CreateAcls => CreateAclsRequest,
        DescribeAcls => DescribeAclsRequest,
        DeleteAcls => DeleteAclsRequest,
        DescribeClientQuotas => DescribeClientQuotasRequest,
        AlterClientQuotas => AlterClientQuotasRequest,
        ListTransactions => ListTransactionsRequest,
    };
    let Some(produce) = produce else { return };
    let config = LogConfig::default();
    for topic in &produce.topic_data {
        for partition in &topic.partition_data {
            if let Some(records) = &partition.records {
                // Produce v0-2 carries message sets, converted up first as
                // the broker does.
                if version < 3 {
                    if let Ok(v2) = kafka_rs::record::legacy::up_convert(records) {
                        let _ = kafka_rs::log::fuzzing::validate(&v2, &config, true);
                    }
                } else {
                    let _ = kafka_rs::log::fuzzing::validate(records, &config, true);
                }
            }
        }
    }
});
