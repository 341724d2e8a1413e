//! The authorization each API needs, as Kafka's `KafkaApis` checks it,
//! kept out of the handlers: a request is split into what the principal
//! may touch (handed to the handler) and what it may not (answered here
//! with Kafka's code: TOPIC_AUTHORIZATION_FAILED, GROUP_..., and so on),
//! and the two halves are joined into one response. Some APIs are refused
//! whole instead, before their handler runs (`refuse_whole`).

use bytes::Bytes;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_records_response::DeleteRecordsTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::OffsetForLeaderTopicResult;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{
    alter_configs_response, describe_producers_response, describe_transactions_response,
    incremental_alter_configs_response,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, ApiKey, CreatePartitionsRequest, CreateTopicsRequest,
    DeleteRecordsRequest, DeleteTopicsRequest, DescribeConfigsRequest, DescribeProducersRequest,
    DescribeTransactionsRequest, DescribeTransactionsResponse, IncrementalAlterConfigsRequest,
    ListOffsetsRequest, ListTransactionsResponse, OffsetCommitRequest, OffsetDeleteRequest,
    OffsetFetchRequest, OffsetFetchResponse, OffsetForLeaderEpochRequest, ProduceRequest,
    ProducerId, TopicName, TxnOffsetCommitRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_TOPIC};
use super::{
    answer_each, asked, decode, delete_records, offset_for_leader_epoch, respond, str_bytes,
};
use crate::broker::authorizer::Authz;
use crate::broker::connection::{ConnectionError, Reply};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use AclOperation::{Alter, AlterConfigs, ClusterAction, Delete, Describe, DescribeConfigs, Read};

const TOPIC_DENIED: i16 = 29;

/// Answers each refused topic with `code` on every partition it names, in
/// one API's response types (alike in their fields, without a shared trait);
/// `|p| ...` fills in a partition's other fields.
macro_rules! deny_topics {
    ($refused:expr, $code:expr, $topic:ty, $partition:ty) => {
        deny_topics!($refused, $code, $topic, $partition, |p| p)
    };
    ($refused:expr, $code:expr, $topic:ty, $partition:ty, |$p:ident| $fill:expr) => {
        $refused
            .into_iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let $p = <$partition>::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code($code);
                        $fill
                    })
                    .collect();
                <$topic>::default().with_name(t.name).with_partitions(partitions)
            })
            .collect()
    };
}

/// Produce: WRITE on the transactional id (the whole request fails with
/// TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and on each topic. Takes the
/// refused topics out of the request and answers them.
pub fn produce(authz: &Authz<'_>, req: &mut ProduceRequest) -> Vec<TopicProduceResponse> {
    let txn_denied = req
        .transactional_id
        .as_ref()
        .is_some_and(|id| !authz.transactional_id(AclOperation::Write, id));
    let code = if txn_denied {
        ErrorCode::TransactionalIdAuthorizationFailed.code()
    } else {
        TOPIC_DENIED
    };
    let refused = take_refused(&mut req.topic_data, |t| {
        !txn_denied && authz.topic(AclOperation::Write, &t.name)
    });
    refused
        .into_iter()
        .map(|t| {
            let mut r = TopicProduceResponse::default();
            r.name = t.name;
            r.partition_responses = t
                .partition_data
                .iter()
                .map(|p| {
                    let mut pr = PartitionProduceResponse::default();
                    pr.index = p.index;
                    pr.error_code = code;
                    pr.base_offset = -1;
                    pr.log_append_time_ms = -1;
                    pr.log_start_offset = -1;
                    pr
                })
                .collect();
            r
        })
        .collect()
}

/// ListOffsets: DESCRIBE on each topic.
pub fn list_offsets(
    authz: &Authz<'_>,
    req: &mut ListOffsetsRequest,
) -> Vec<ListOffsetsTopicResponse> {
    let refused = take_refused(&mut req.topics, |t| authz.topic(AclOperation::Describe, &t.name));
    deny_topics!(
        refused,
        TOPIC_DENIED,
        ListOffsetsTopicResponse,
        ListOffsetsPartitionResponse,
        |p| p.with_timestamp(-1).with_offset(-1).with_leader_epoch(-1)
    )
}

/// CreateTopics: CREATE on the cluster, or else on each topic.
pub fn create_topics(
    authz: &Authz<'_>,
    req: &mut CreateTopicsRequest,
) -> Vec<CreatableTopicResult> {
    if authz.cluster(AclOperation::Create) {
        return Vec::new();
    }
    let refused = take_refused(&mut req.topics, |t| authz.topic(AclOperation::Create, &t.name));
    refused
        .into_iter()
        .map(|t| {
            let mut r = CreatableTopicResult::default();
            r.name = t.name;
            // Only fields every version carries, so any version encodes.
            r.error_code = TOPIC_DENIED;
            r
        })
        .collect()
}

/// DeleteTopics: DELETE on each topic (by name, or by id from v6).
pub fn delete_topics(
    authz: &Authz<'_>,
    image: &crate::cluster::ClusterImage,
    req: &mut DeleteTopicsRequest,
) -> Vec<DeletableTopicResult> {
    let mut refused = Vec::new();
    let denied = take_refused(&mut req.topic_names, |n| authz.topic(AclOperation::Delete, n));
    for n in denied {
        let mut r = DeletableTopicResult::default();
        r.name = Some(n);
        r.error_code = TOPIC_DENIED;
        refused.push(r);
    }
    let denied = take_refused(&mut req.topics, |t| {
        let name = match &t.name {
            Some(n) => Some(n.0.to_string()),
            None => image.topic_by_id(t.topic_id).map(|m| m.name.clone()),
        };
        name.is_none_or(|n| authz.topic(AclOperation::Delete, &n))
    });
    for t in denied {
        let mut r = DeletableTopicResult::default();
        r.name = t.name;
        r.topic_id = t.topic_id;
        r.error_code = TOPIC_DENIED;
        refused.push(r);
    }
    refused
}

/// OffsetCommit: READ on the group (every partition fails with
/// GROUP_AUTHORIZATION_FAILED) and on each topic.
pub fn offset_commit(
    authz: &Authz<'_>,
    req: &mut OffsetCommitRequest,
) -> Vec<OffsetCommitResponseTopic> {
    let group_denied = !authz.group(AclOperation::Read, &req.group_id);
    let code = if group_denied { ErrorCode::GroupAuthorizationFailed.code() } else { TOPIC_DENIED };
    let refused = take_refused(&mut req.topics, |t| {
        !group_denied && authz.topic(AclOperation::Read, &t.name)
    });
    deny_topics!(refused, code, OffsetCommitResponseTopic, OffsetCommitResponsePartition)
}

/// Takes what `allowed` refuses out of `items` and hands it back.
fn take_refused<T>(items: &mut Vec<T>, allowed: impl FnMut(&T) -> bool) -> Vec<T> {
    let (kept, refused) = std::mem::take(items).into_iter().partition(allowed);
    *items = kept;
    refused
}

/// A config resource's check (Kafka's `configsAuthorizationApiError`):
/// a topic's configs are the topic's, a broker's (and its loggers') the
/// cluster's. `Err` carries the code a refusal answers with; other types
/// pass through to the handler, which refuses them itself.
fn config_resource(authz: &Authz<'_>, op: AclOperation, kind: i8, name: &str) -> Result<(), i16> {
    match kind {
        RESOURCE_TOPIC if !authz.topic(op, name) => Err(TOPIC_DENIED),
        RESOURCE_BROKER | RESOURCE_BROKER_LOGGER if !authz.cluster(op) => {
            Err(ErrorCode::ClusterAuthorizationFailed.code())
        }
        _ => Ok(()),
    }
}

/// Takes the config resources `op` is refused on out of `resources` and
/// answers each with `answer(resource, code)`. Kafka answers a refusal
/// without a message.
fn refuse_config_resources<R, A>(
    authz: &Authz<'_>,
    op: AclOperation,
    resources: &mut Vec<R>,
    key: impl Fn(&R) -> (i8, StrBytes),
    answer: impl Fn(R, i16) -> A,
) -> Vec<A> {
    let check = |r: &R| {
        let (kind, name) = key(r);
        config_resource(authz, op, kind, &name)
    };
    take_refused(resources, |r| check(r).is_ok())
        .into_iter()
        .map(|r| {
            let code = check(&r).err().unwrap_or_default();
            answer(r, code)
        })
        .collect()
}

/// Answers the config resources `op` is refused on with `$answer`s.
macro_rules! refuse_configs {
    ($authz:expr, $op:expr, $resources:expr, $answer:ty) => {
        refuse_config_resources(
            $authz,
            $op,
            $resources,
            |r| (r.resource_type, r.resource_name.clone()),
            |r, code| {
                <$answer>::default()
                    .with_error_code(code)
                    .with_error_message(None)
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name)
            },
        )
    };
}

/// DescribeConfigs: DESCRIBE_CONFIGS on each resource.
pub fn describe_configs(
    authz: &Authz<'_>,
    req: &mut DescribeConfigsRequest,
) -> Vec<DescribeConfigsResult> {
    refuse_configs!(authz, DescribeConfigs, &mut req.resources, DescribeConfigsResult)
}

/// AlterConfigs: ALTER_CONFIGS on each resource.
pub fn alter_configs(
    authz: &Authz<'_>,
    req: &mut AlterConfigsRequest,
) -> Vec<alter_configs_response::AlterConfigsResourceResponse> {
    refuse_configs!(
        authz,
        AlterConfigs,
        &mut req.resources,
        alter_configs_response::AlterConfigsResourceResponse
    )
}

/// IncrementalAlterConfigs: ALTER_CONFIGS on each resource.
pub fn incremental_alter_configs(
    authz: &Authz<'_>,
    req: &mut IncrementalAlterConfigsRequest,
) -> Vec<incremental_alter_configs_response::AlterConfigsResourceResponse> {
    refuse_configs!(
        authz,
        AlterConfigs,
        &mut req.resources,
        incremental_alter_configs_response::AlterConfigsResourceResponse
    )
}

/// CreatePartitions: ALTER on each topic, refused with Kafka's message.
pub fn create_partitions(
    authz: &Authz<'_>,
    req: &mut CreatePartitionsRequest,
) -> Vec<CreatePartitionsTopicResult> {
    take_refused(&mut req.topics, |t| authz.topic(Alter, &t.name))
        .into_iter()
        .map(|t| {
            CreatePartitionsTopicResult::default()
                .with_name(t.name)
                .with_error_code(TOPIC_DENIED)
                .with_error_message(Some(str_bytes("The topic authorization is failed.")))
        })
        .collect()
}

/// DeleteRecords: DELETE on each topic.
pub fn delete_records(
    authz: &Authz<'_>,
    req: &mut DeleteRecordsRequest,
) -> Vec<DeleteRecordsTopicResult> {
    let refused = take_refused(&mut req.topics, |t| authz.topic(Delete, &t.name));
    let refused = asked(&refused, |t| (t.name.clone(), &t.partitions), |p| p.partition_index);
    delete_records::failed(refused, ErrorCode::TopicAuthorizationFailed).topics
}

/// OffsetForLeaderEpoch: CLUSTER_ACTION for followers, or else DESCRIBE on
/// each topic, which KIP-320 consumers need to detect truncation.
pub fn offset_for_leader_epoch(
    authz: &Authz<'_>,
    req: &mut OffsetForLeaderEpochRequest,
) -> Vec<OffsetForLeaderTopicResult> {
    if authz.cluster(ClusterAction) {
        return Vec::new();
    }
    let refused = take_refused(&mut req.topics, |t| authz.topic(Describe, &t.topic));
    let refused = asked(&refused, |t| (t.topic.clone(), &t.partitions), |p| p.partition);
    offset_for_leader_epoch::failed(refused, ErrorCode::TopicAuthorizationFailed).topics
}

/// TxnOffsetCommit: READ on each topic (the transactional id and the group
/// are checked on the whole request before).
pub fn txn_offset_commit(
    authz: &Authz<'_>,
    req: &mut TxnOffsetCommitRequest,
) -> Vec<TxnOffsetCommitResponseTopic> {
    let refused = take_refused(&mut req.topics, |t| authz.topic(Read, &t.name));
    deny_topics!(
        refused,
        TOPIC_DENIED,
        TxnOffsetCommitResponseTopic,
        TxnOffsetCommitResponsePartition
    )
}

/// OffsetDelete: READ on each topic (DELETE on the group is checked on the
/// whole request before).
pub fn offset_delete(
    authz: &Authz<'_>,
    req: &mut OffsetDeleteRequest,
) -> Vec<OffsetDeleteResponseTopic> {
    let refused = take_refused(&mut req.topics, |t| authz.topic(Read, &t.name));
    deny_topics!(refused, TOPIC_DENIED, OffsetDeleteResponseTopic, OffsetDeleteResponsePartition)
}

/// DescribeProducers: READ on each topic, as Kafka asks (not DESCRIBE).
pub fn describe_producers(
    authz: &Authz<'_>,
    req: &mut DescribeProducersRequest,
) -> Vec<describe_producers_response::TopicResponse> {
    let refused = take_refused(&mut req.topics, |t| authz.topic(Read, &t.name));
    let refused = refused.into_iter().map(|t| (t.name, t.partition_indexes)).collect();
    let topic = |name, partitions| {
        describe_producers_response::TopicResponse::default()
            .with_name(name)
            .with_partitions(partitions)
    };
    answer_each(refused, topic, |p| {
        describe_producers_response::PartitionResponse::default()
            .with_partition_index(p)
            .with_error_code(TOPIC_DENIED)
            .with_error_message(Some(str_bytes("Topic authorization failed.")))
    })
}

/// DescribeTransactions: DESCRIBE on each transactional id; of a described
/// transaction only the topics the principal may DESCRIBE are shown.
pub fn describe_transactions(
    authz: &Authz<'_>,
    req: &mut DescribeTransactionsRequest,
) -> Vec<describe_transactions_response::TransactionState> {
    take_refused(&mut req.transactional_ids, |id| authz.transactional_id(Describe, id))
        .into_iter()
        .map(|id| {
            describe_transactions_response::TransactionState::default()
                .with_transactional_id(id)
                .with_error_code(ErrorCode::TransactionalIdAuthorizationFailed.code())
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
                .with_transaction_start_time_ms(-1)
        })
        .collect()
}

/// What DescribeTransactions shows of the transactions it may describe.
pub fn hide_undescribable_topics(authz: &Authz<'_>, resp: &mut DescribeTransactionsResponse) {
    for s in &mut resp.transaction_states {
        s.topics.retain(|t| authz.topic(Describe, &t.topic));
    }
}

/// ListTransactions lists only the transactional ids the principal may
/// DESCRIBE.
pub fn list_transactions(authz: &Authz<'_>, resp: &mut ListTransactionsResponse) {
    resp.transaction_states.retain(|s| authz.transactional_id(Describe, &s.transactional_id));
}

/// OffsetFetch: DESCRIBE on each topic. Asked topics the principal may not
/// describe answer TOPIC_AUTHORIZATION_FAILED; a fetch of every topic
/// leaves them out (Kafka's `partitionByAuthorized` / `filterByAuthorized`).
/// From v8 each group is checked on its own (DESCRIBE on the group); the
/// single group of earlier versions was checked on the whole request.
pub fn offset_fetch(authz: &Authz<'_>, req: &OffsetFetchRequest, resp: &mut OffsetFetchResponse) {
    let may = |t: &TopicName| authz.topic(Describe, t);
    // The top-level (v0-v7) and the per-group (v8+) topics: two generated
    // types with the same fields. A fetch of every topic leaves out those
    // the principal may not describe; an asked one answers denied.
    macro_rules! deny_undescribable {
        ($topics:expr, $every_topic:expr, $partition:ty) => {
            if $every_topic {
                $topics.retain(|t| may(&t.name));
            }
            for t in $topics.iter_mut().filter(|t| !may(&t.name)) {
                for p in &mut t.partitions {
                    *p = <$partition>::default()
                        .with_partition_index(p.partition_index)
                        .with_committed_offset(-1)
                        .with_committed_leader_epoch(-1)
                        .with_metadata(Some(str_bytes("")))
                        .with_error_code(TOPIC_DENIED);
                }
            }
        };
    }
    deny_undescribable!(resp.topics, req.topics.is_none(), OffsetFetchResponsePartition);
    for g in &mut resp.groups {
        if !authz.group(Describe, &g.group_id) {
            g.topics.clear();
            g.error_code = ErrorCode::GroupAuthorizationFailed.code();
            continue;
        }
        let all = req.groups.iter().any(|r| r.group_id == g.group_id && r.topics.is_none());
        deny_undescribable!(g.topics, all, OffsetFetchResponsePartitions);
    }
}

/// The checks that refuse a whole request, answered with the API's
/// response carrying Kafka's code; `None` lets the request through.
pub(super) fn refuse_whole(
    authz: &Authz<'_>,
    key: ApiKey,
    v: i16,
    cid: i32,
    body: &Bytes,
) -> Result<Option<Reply>, ConnectionError> {
    use kafka_protocol::messages::*;
    use AclOperation::*;
    let group_denied = ErrorCode::GroupAuthorizationFailed.code();
    let txn_denied = ErrorCode::TransactionalIdAuthorizationFailed.code();
    let cluster_denied = ErrorCode::ClusterAuthorizationFailed.code();
    let peek = || body.clone();
    macro_rules! refuse {
        ($resp:ty, |$r:ident| $fill:expr) => {{
            let mut $r = <$resp>::default();
            $fill;
            return Ok(Some(respond(key, v, cid, $r)?));
        }};
    }
    // The APIs refused on resources their request names, checked in order,
    // each refusal answered with its code in the top-level error_code (and
    // the other fields given).
    macro_rules! refuse_unless {
        ($req:ty => $resp:ty; $($check:ident($op:ident, $field:ident) else $code:ident),+) => {{
            let req: $req = decode(key, v, peek())?;
            $(if !authz.$check($op, &req.$field) {
                refuse!($resp, |r| r.error_code = $code)
            })+
        }};
        ($req:ty => $resp:ty; $check:ident($op:ident, $field:ident) else $code:ident;
            $($other:ident = $value:expr),+) => {{
            let req: $req = decode(key, v, peek())?;
            if !authz.$check($op, &req.$field) {
                refuse!($resp, |r| {
                    r.error_code = $code;
                    $(r.$other = $value;)+
                })
            }
        }};
    }
    match key {
        ApiKey::JoinGroup => refuse_unless!(JoinGroupRequest => JoinGroupResponse;
            group(Read, group_id) else group_denied; generation_id = -1),
        ApiKey::SyncGroup => refuse_unless!(SyncGroupRequest => SyncGroupResponse;
            group(Read, group_id) else group_denied),
        ApiKey::Heartbeat => refuse_unless!(HeartbeatRequest => HeartbeatResponse;
            group(Read, group_id) else group_denied),
        ApiKey::LeaveGroup => refuse_unless!(LeaveGroupRequest => LeaveGroupResponse;
            group(Read, group_id) else group_denied),
        ApiKey::OffsetFetch if v < 8 => refuse_unless!(OffsetFetchRequest => OffsetFetchResponse;
            group(Describe, group_id) else group_denied),
        ApiKey::FindCoordinator => {
            let req: FindCoordinatorRequest = decode(key, v, peek())?;
            let keys: Vec<&str> = if v >= 4 {
                req.coordinator_keys.iter().map(|k| k.as_str()).collect()
            } else {
                vec![req.key.as_str()]
            };
            let (allowed, code) = if req.key_type == 1 {
                (keys.iter().all(|k| authz.transactional_id(Describe, k)), txn_denied)
            } else {
                (keys.iter().all(|k| authz.group(Describe, k)), group_denied)
            };
            if !allowed {
                refuse!(FindCoordinatorResponse, |r| {
                    // Versions before 4 answer one key at the top level,
                    // later ones a list: a field outside the version does
                    // not encode.
                    if v < 4 {
                        r.error_code = code;
                        r.node_id = BrokerId(-1);
                        r.port = -1;
                    } else {
                        r.coordinators = keys
                            .iter()
                            .map(|k| {
                                let mut c = find_coordinator_response::Coordinator::default();
                                c.key = str_bytes(*k);
                                c.node_id = BrokerId(-1);
                                c.port = -1;
                                c.error_code = code;
                                c
                            })
                            .collect();
                    }
                })
            }
        }
        ApiKey::InitProducerId => {
            let req: InitProducerIdRequest = decode(key, v, peek())?;
            let (allowed, code) = match &req.transactional_id {
                Some(id) => (authz.transactional_id(Write, id), txn_denied),
                // Kafka 3.x: an idempotent producer needs IDEMPOTENT_WRITE on
                // the cluster or WRITE on some topic.
                None => (
                    authz.cluster(IdempotentWrite)
                        || authz.any_of_type(Write, crate::security::acl::ResourceType::Topic),
                    cluster_denied,
                ),
            };
            if !allowed {
                refuse!(InitProducerIdResponse, |r| {
                    r.error_code = code;
                    r.producer_id = ProducerId(-1);
                    r.producer_epoch = -1;
                })
            }
        }
        ApiKey::EndTxn => refuse_unless!(EndTxnRequest => EndTxnResponse;
            transactional_id(Write, transactional_id) else txn_denied),
        ApiKey::AddOffsetsToTxn => {
            refuse_unless!(AddOffsetsToTxnRequest => AddOffsetsToTxnResponse;
            transactional_id(Write, transactional_id) else txn_denied,
            group(Read, group_id) else group_denied)
        }
        ApiKey::WriteTxnMarkers if !authz.cluster(ClusterAction) => {
            let req: WriteTxnMarkersRequest = decode(key, v, peek())?;
            refuse!(WriteTxnMarkersResponse, |r| {
                r.markers = req
                        .markers
                        .iter()
                        .map(|m| {
                            let mut w = write_txn_markers_response::WritableTxnMarkerResult::default();
                            w.producer_id = m.producer_id;
                            w.topics = m
                                .topics
                                .iter()
                                .map(|t| {
                                    let mut tr = write_txn_markers_response::WritableTxnMarkerTopicResult::default();
                                    tr.name = t.name.clone();
                                    tr.partitions = t
                                        .partition_indexes
                                        .iter()
                                        .map(|p| {
                                            let mut pr = write_txn_markers_response::WritableTxnMarkerPartitionResult::default();
                                            pr.partition_index = *p;
                                            pr.error_code = cluster_denied;
                                            pr
                                        })
                                        .collect();
                                    tr
                                })
                                .collect();
                            w
                        })
                        .collect();
            })
        }
        ApiKey::AddPartitionsToTxn if v <= 3 => {
            let req: AddPartitionsToTxnRequest = decode(key, v, peek())?;
            if !authz.transactional_id(Write, &req.v3_and_below_transactional_id) {
                refuse!(AddPartitionsToTxnResponse, |r| {
                    let topics = asked(
                        &req.v3_and_below_topics,
                        |t| (t.name.clone(), &t.partitions),
                        |&p| p,
                    );
                    r.results_by_topic_v3_and_below = answer_each(
                        topics,
                        |name, partitions| {
                            add_partitions_to_txn_response::AddPartitionsToTxnTopicResult::default()
                                .with_name(name)
                                .with_results_by_partition(partitions)
                        },
                        |p| {
                            add_partitions_to_txn_response::AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(p)
                                .with_partition_error_code(txn_denied)
                        },
                    );
                })
            }
        }
        ApiKey::TxnOffsetCommit => {
            let req: TxnOffsetCommitRequest = decode(key, v, peek())?;
            // The transactional id first, then the group, as Kafka checks.
            let code = if !authz.transactional_id(Write, &req.transactional_id) {
                Some(txn_denied)
            } else if !authz.group(Read, &req.group_id) {
                Some(group_denied)
            } else {
                None
            };
            if let Some(code) = code {
                refuse!(TxnOffsetCommitResponse, |r| {
                    r.topics = req
                        .topics
                        .iter()
                        .map(|t| {
                            let partitions = t.partitions.iter().map(|p| {
                                txn_offset_commit_response::TxnOffsetCommitResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(code)
                            });
                            txn_offset_commit_response::TxnOffsetCommitResponseTopic::default()
                                .with_name(t.name.clone())
                                .with_partitions(partitions.collect())
                        })
                        .collect();
                })
            }
        }
        ApiKey::OffsetDelete => refuse_unless!(OffsetDeleteRequest => OffsetDeleteResponse;
            group(Delete, group_id) else group_denied),
        ApiKey::DescribeLogDirs if !authz.cluster(Describe) => {
            // Versions before 3 have no error code: the answer is no dirs.
            refuse!(DescribeLogDirsResponse, |r| if v >= 3 {
                r.error_code = cluster_denied
            })
        }
        ApiKey::DescribeClientQuotas if !authz.cluster(DescribeConfigs) => {
            refuse!(DescribeClientQuotasResponse, |r| {
                r.error_code = cluster_denied;
                r.error_message = Some(str_bytes("Cluster authorization failed."));
                r.entries = None;
            })
        }
        ApiKey::AlterClientQuotas if !authz.cluster(AlterConfigs) => {
            let req: AlterClientQuotasRequest = decode(key, v, peek())?;
            refuse!(AlterClientQuotasResponse, |r| {
                r.entries = req
                    .entries
                    .iter()
                    .map(|e| {
                        let entity = e.entity.iter().map(|x| {
                            alter_client_quotas_response::EntityData::default()
                                .with_entity_type(x.entity_type.clone())
                                .with_entity_name(x.entity_name.clone())
                        });
                        alter_client_quotas_response::EntryData::default()
                            .with_error_code(cluster_denied)
                            .with_error_message(Some(str_bytes("Cluster authorization failed.")))
                            .with_entity(entity.collect())
                    })
                    .collect();
            })
        }
        ApiKey::ElectLeaders if !authz.cluster(Alter) => {
            refuse!(ElectLeadersResponse, |r| r.error_code = cluster_denied)
        }
        ApiKey::AlterPartitionReassignments if !authz.cluster(Alter) => {
            refuse!(AlterPartitionReassignmentsResponse, |r| r.error_code = cluster_denied)
        }
        ApiKey::ListPartitionReassignments if !authz.cluster(Describe) => {
            refuse!(ListPartitionReassignmentsResponse, |r| r.error_code = cluster_denied)
        }
        ApiKey::DescribeUserScramCredentials if !authz.cluster(Describe) => {
            refuse!(DescribeUserScramCredentialsResponse, |r| r.error_code = cluster_denied)
        }
        ApiKey::AlterUserScramCredentials if !authz.cluster(Alter) => {
            let req: AlterUserScramCredentialsRequest = decode(key, v, peek())?;
            refuse!(AlterUserScramCredentialsResponse, |r| {
                let users = req.deletions.iter().map(|d| d.name.clone());
                let users = users.chain(req.upsertions.iter().map(|u| u.name.clone()));
                r.results = users
                    .map(|u| {
                        let mut res = alter_user_scram_credentials_response::AlterUserScramCredentialsResult::default();
                        res.user = u;
                        res.error_code = cluster_denied;
                        res
                    })
                    .collect();
            })
        }
        _ => {}
    }
    Ok(None)
}
