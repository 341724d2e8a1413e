//! Each API family checks the operation Kafka's `KafkaApis` checks and
//! answers with Kafka's code: alice logs in over SASL PLAIN on raw frames,
//! is refused, is granted one ACL at a time by a super user (CreateAcls on
//! the PLAINTEXT listener), and is let through once the ACL is in force.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use crate::broker_support::{Broker, Wire};
use crate::security::{registered_port, registration};
use crate::support;

const T: Duration = Duration::from_secs(60);

// Kafka's resource types, operations and codes.
const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const CLUSTER: i8 = 4;
const TXN_ID: i8 = 5;
const READ: i8 = 3;
const WRITE: i8 = 4;
const DELETE: i8 = 6;
const ALTER: i8 = 7;
const DESCRIBE: i8 = 8;
const DESCRIBE_CONFIGS: i8 = 10;
const ALTER_CONFIGS: i8 = 11;
const TOPIC_DENIED: i16 = 29;
const GROUP_DENIED: i16 = 30;
const CLUSTER_DENIED: i16 = 31;
const TXN_DENIED: i16 = 53;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn topic(v: &str) -> TopicName {
    TopicName(s(v))
}

/// A broker with the authorizer on: the PLAINTEXT listener is the super
/// user's, alice logs in on the SASL_PLAINTEXT one.
struct Secured {
    _broker: Broker,
    admin: Wire,
    alice: Wire,
}

impl Secured {
    fn start(topics: &[&str]) -> Secured {
        let zk = support::free_port();
        let broker = Broker::start(&[
            "broker.id=1",
            &format!("embedded.zookeeper.port={zk}"),
            "listeners=PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:0",
            "sasl.enabled.mechanisms=PLAIN",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\";",
            "authorizer.class.name=kafka.security.authorizer.AclAuthorizer",
            "super.users=User:ANONYMOUS",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
        ]);
        let sasl = registered_port(&registration(zk, 1), "SASL_PLAINTEXT");
        support::wait_for_port(sasl, T);
        let mut alice = Wire::connect(sasl);
        let req = SaslHandshakeRequest::default().with_mechanism(s("PLAIN"));
        let resp: SaslHandshakeResponse = alice.call(ApiKey::SaslHandshake, 1, &req);
        assert_eq!(resp.error_code, 0);
        let req = SaslAuthenticateRequest::default()
            .with_auth_bytes(Bytes::from_static(b"\0alice\0alice-secret"));
        let resp: SaslAuthenticateResponse = alice.call(ApiKey::SaslAuthenticate, 2, &req);
        assert_eq!(resp.error_code, 0, "alice logs in");
        let mut admin = broker.wire();
        let req = CreateTopicsRequest::default().with_timeout_ms(30_000).with_topics(
            topics
                .iter()
                .map(|t| {
                    create_topics_request::CreatableTopic::default()
                        .with_name(topic(t))
                        .with_num_partitions(1)
                        .with_replication_factor(1)
                })
                .collect(),
        );
        let resp: CreateTopicsResponse = admin.call(ApiKey::CreateTopics, 5, &req);
        assert!(resp.topics.iter().all(|t| t.error_code == 0), "{resp:?}");
        let mut secured = Secured { _broker: broker, admin, alice };
        for t in topics {
            secured.wait_for_leader(t);
        }
        secured
    }

    fn wait_for_leader(&mut self, name: &str) {
        let req = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
            list_offsets_request::ListOffsetsTopic::default()
                .with_name(topic(name))
                .with_partitions(vec![
                    list_offsets_request::ListOffsetsPartition::default().with_timestamp(-1)
                ]),
        ]);
        support::wait_until(T, &format!("{name} has a leader"), || {
            let resp: ListOffsetsResponse = self.admin.call(ApiKey::ListOffsets, 1, &req);
            resp.topics[0].partitions[0].error_code == 0
        });
    }

    /// Waits until the coordinator of `key` (0: group, 1: transactional
    /// id) is found, which also creates its internal topic.
    fn find_coordinator(&mut self, key_type: i8, key: &str) {
        let req = FindCoordinatorRequest::default().with_key_type(key_type).with_key(s(key));
        support::wait_until(T, &format!("a coordinator for {key}"), || {
            let resp: FindCoordinatorResponse = self.admin.call(ApiKey::FindCoordinator, 3, &req);
            resp.error_code == 0
        });
    }

    /// Grants alice `operation` on a literal resource, as the super user.
    fn grant(&mut self, resource_type: i8, name: &str, operation: i8) {
        let req = CreateAclsRequest::default().with_creations(vec![
            create_acls_request::AclCreation::default()
                .with_resource_type(resource_type)
                .with_resource_name(s(name))
                .with_resource_pattern_type(3)
                .with_principal(s("User:alice"))
                .with_host(s("*"))
                .with_operation(operation)
                .with_permission_type(3),
        ]);
        let resp: CreateAclsResponse = self.admin.call(ApiKey::CreateAcls, 2, &req);
        assert_eq!(resp.results[0].error_code, 0, "{resp:?}");
    }

    /// Asks as alice until `done` holds on the answer (an ACL reaches the
    /// broker's cache through its ZooKeeper watch), and returns it.
    fn alice_until<Req: kafka_protocol::protocol::Encodable, Resp: Decodable>(
        &mut self,
        what: &str,
        key: ApiKey,
        version: i16,
        req: &Req,
        mut done: impl FnMut(&Resp) -> bool,
    ) -> Resp {
        let mut last = None;
        support::wait_until(T, what, || {
            let resp: Resp = self.alice.call(key, version, req);
            let ok = done(&resp);
            last = Some(resp);
            ok
        });
        last.unwrap()
    }
}

use kafka_protocol::protocol::Decodable;

fn describe_configs_req() -> DescribeConfigsRequest {
    let res = |t, n: &str| {
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(t)
            .with_resource_name(s(n))
            .with_configuration_keys(None)
    };
    DescribeConfigsRequest::default().with_resources(vec![res(2, "cfg"), res(4, "1")])
}

/// (resource type, code) of each result, sorted.
fn config_codes(results: impl Iterator<Item = (i8, i16)>) -> Vec<(i8, i16)> {
    let mut v: Vec<_> = results.collect();
    v.sort();
    v
}

#[test]
fn config_apis_need_describe_configs_and_alter_configs_on_the_topic_or_the_cluster() {
    let mut b = Secured::start(&["cfg"]);
    let describe = describe_configs_req();
    let codes = |r: &DescribeConfigsResponse| {
        config_codes(r.results.iter().map(|x| (x.resource_type, x.error_code)))
    };
    let resp: DescribeConfigsResponse = b.alice.call(ApiKey::DescribeConfigs, 4, &describe);
    assert_eq!(codes(&resp), [(2, TOPIC_DENIED), (4, CLUSTER_DENIED)]);
    assert!(resp.results.iter().all(|r| r.configs.is_empty() && r.error_message.is_none()));

    let alter = AlterConfigsRequest::default().with_validate_only(true).with_resources(vec![
        alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("cfg"))
            .with_configs(vec![alter_configs_request::AlterableConfig::default()
                .with_name(s("retention.ms"))
                .with_value(Some(s("60000")))]),
    ]);
    let incremental =
        IncrementalAlterConfigsRequest::default().with_validate_only(true).with_resources(
            [(2, "cfg", "retention.ms", "60000"), (4, "1", "log.cleaner.threads", "2")]
                .iter()
                .map(|(t, n, k, v)| {
                    incremental_alter_configs_request::AlterConfigsResource::default()
                        .with_resource_type(*t)
                        .with_resource_name(s(n))
                        .with_configs(vec![
                            incremental_alter_configs_request::AlterableConfig::default()
                                .with_name(s(k))
                                .with_config_operation(0)
                                .with_value(Some(s(v))),
                        ])
                })
                .collect(),
        );
    let alter_codes = |b: &mut Secured| {
        let a: AlterConfigsResponse = b.alice.call(ApiKey::AlterConfigs, 1, &alter);
        let i: IncrementalAlterConfigsResponse =
            b.alice.call(ApiKey::IncrementalAlterConfigs, 1, &incremental);
        (
            a.responses[0].error_code,
            config_codes(i.responses.iter().map(|x| (x.resource_type, x.error_code))),
        )
    };
    assert_eq!(alter_codes(&mut b), (TOPIC_DENIED, vec![(2, TOPIC_DENIED), (4, CLUSTER_DENIED)]));

    b.grant(TOPIC, "cfg", DESCRIBE_CONFIGS);
    b.grant(CLUSTER, "kafka-cluster", DESCRIBE_CONFIGS);
    let resp =
        b.alice_until("DESCRIBE_CONFIGS granted", ApiKey::DescribeConfigs, 4, &describe, |r| {
            codes(r) == [(2, 0), (4, 0)]
        });
    assert!(resp.results.iter().all(|r| !r.configs.is_empty()), "{resp:?}");
    assert_eq!(
        alter_codes(&mut b),
        (TOPIC_DENIED, vec![(2, TOPIC_DENIED), (4, CLUSTER_DENIED)]),
        "DESCRIBE_CONFIGS does not let alice alter"
    );

    b.grant(TOPIC, "cfg", ALTER_CONFIGS);
    b.grant(CLUSTER, "kafka-cluster", ALTER_CONFIGS);
    let mut last = None;
    support::wait_until(T, "ALTER_CONFIGS granted", || {
        let got = alter_codes(&mut b);
        let ok =
            got.0 == 0 && got.1.iter().all(|(_, c)| ![TOPIC_DENIED, CLUSTER_DENIED].contains(c));
        last = Some(got);
        ok
    });
    assert_eq!(last.unwrap().1[0], (2, 0), "the topic's change validates");
}

#[test]
fn create_partitions_needs_alter_and_delete_records_needs_delete_on_the_topic() {
    let mut b = Secured::start(&["adm"]);
    let grow = CreatePartitionsRequest::default()
        .with_validate_only(true)
        .with_timeout_ms(30_000)
        .with_topics(vec![create_partitions_request::CreatePartitionsTopic::default()
            .with_name(topic("adm"))
            .with_count(2)
            .with_assignments(None)]);
    let delete = DeleteRecordsRequest::default().with_timeout_ms(30_000).with_topics(vec![
        delete_records_request::DeleteRecordsTopic::default()
            .with_name(topic("adm"))
            .with_partitions(vec![
                delete_records_request::DeleteRecordsPartition::default().with_offset(-1)
            ]),
    ]);
    let resp: CreatePartitionsResponse = b.alice.call(ApiKey::CreatePartitions, 3, &grow);
    assert_eq!(resp.results[0].error_code, TOPIC_DENIED);
    assert_eq!(
        resp.results[0].error_message.as_deref(),
        Some("The topic authorization is failed.")
    );
    let resp: DeleteRecordsResponse = b.alice.call(ApiKey::DeleteRecords, 2, &delete);
    let p = &resp.topics[0].partitions[0];
    assert_eq!((p.error_code, p.low_watermark), (TOPIC_DENIED, -1));

    b.grant(TOPIC, "adm", ALTER);
    b.alice_until(
        "ALTER granted",
        ApiKey::CreatePartitions,
        3,
        &grow,
        |r: &CreatePartitionsResponse| r.results[0].error_code == 0,
    );
    let resp: DeleteRecordsResponse = b.alice.call(ApiKey::DeleteRecords, 2, &delete);
    assert_eq!(resp.topics[0].partitions[0].error_code, TOPIC_DENIED, "ALTER is not DELETE");

    b.grant(TOPIC, "adm", DELETE);
    let resp = b.alice_until(
        "DELETE granted",
        ApiKey::DeleteRecords,
        2,
        &delete,
        |r: &DeleteRecordsResponse| r.topics[0].partitions[0].error_code != TOPIC_DENIED,
    );
    let p = &resp.topics[0].partitions[0];
    assert_eq!((p.error_code, p.low_watermark), (0, 0));
}

#[test]
fn transactional_apis_check_the_transactional_id_the_group_and_each_topic() {
    let mut b = Secured::start(&["tx-t", "tx-hidden"]);
    let init = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s("tx"))))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    b.find_coordinator(1, "tx");
    let mut ids = None;
    support::wait_until(T, "the transaction coordinator answers", || {
        let resp: InitProducerIdResponse = b.admin.call(ApiKey::InitProducerId, 1, &init);
        ids = Some((resp.producer_id, resp.producer_epoch));
        resp.error_code == 0
    });
    let (pid, epoch) = ids.unwrap();
    let add = |topics: &[&str]| {
        AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(TransactionalId(s("tx")))
            .with_v3_and_below_producer_id(pid)
            .with_v3_and_below_producer_epoch(epoch)
            .with_v3_and_below_topics(
                topics
                    .iter()
                    .map(|t| {
                        add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                            .with_name(topic(t))
                            .with_partitions(vec![0])
                    })
                    .collect(),
            )
    };
    let add_codes = |r: &AddPartitionsToTxnResponse| {
        let mut v: Vec<(String, i16)> = r
            .results_by_topic_v3_and_below
            .iter()
            .map(|t| (t.name.to_string(), t.results_by_partition[0].partition_error_code))
            .collect();
        v.sort();
        v
    };
    // The super user's transaction holds a partition alice may not see.
    let resp: AddPartitionsToTxnResponse =
        b.admin.call(ApiKey::AddPartitionsToTxn, 3, &add(&["tx-hidden"]));
    assert_eq!(add_codes(&resp), [("tx-hidden".to_string(), 0)]);

    let commit = TxnOffsetCommitRequest::default()
        .with_transactional_id(TransactionalId(s("tx")))
        .with_group_id(GroupId(s("txg")))
        .with_producer_id(pid)
        .with_producer_epoch(epoch)
        .with_generation_id(-1)
        .with_topics(vec![txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
            .with_name(topic("tx-t"))
            .with_partitions(vec![
                txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                    .with_committed_offset(0)
                    .with_committed_leader_epoch(-1),
            ])]);
    let commit_code = |r: &TxnOffsetCommitResponse| r.topics[0].partitions[0].error_code;
    let describe = DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![TransactionalId(s("tx"))]);
    let list = ListTransactionsRequest::default();
    let producers = DescribeProducersRequest::default().with_topics(vec![
        describe_producers_request::TopicRequest::default()
            .with_name(topic("tx-t"))
            .with_partition_indexes(vec![0]),
    ]);

    let resp: AddPartitionsToTxnResponse =
        b.alice.call(ApiKey::AddPartitionsToTxn, 3, &add(&["tx-t"]));
    assert_eq!(add_codes(&resp), [("tx-t".to_string(), TXN_DENIED)]);
    let resp: TxnOffsetCommitResponse = b.alice.call(ApiKey::TxnOffsetCommit, 3, &commit);
    assert_eq!(commit_code(&resp), TXN_DENIED);
    let resp: DescribeTransactionsResponse =
        b.alice.call(ApiKey::DescribeTransactions, 0, &describe);
    assert_eq!(resp.transaction_states[0].error_code, TXN_DENIED);
    let resp: ListTransactionsResponse = b.alice.call(ApiKey::ListTransactions, 0, &list);
    assert!(resp.transaction_states.is_empty(), "alice may describe no transactional id: {resp:?}");
    let resp: DescribeProducersResponse = b.alice.call(ApiKey::DescribeProducers, 0, &producers);
    assert_eq!(resp.topics[0].partitions[0].error_code, TOPIC_DENIED);

    b.grant(TXN_ID, "tx", WRITE);
    let resp = b.alice_until(
        "WRITE on the transactional id",
        ApiKey::AddPartitionsToTxn,
        3,
        &add(&["tx-t", "tx-hidden"]),
        |r| add_codes(r)[0].1 != TXN_DENIED,
    );
    // Past the transactional id, each topic needs WRITE of its own.
    assert_eq!(
        add_codes(&resp),
        [("tx-hidden".to_string(), TOPIC_DENIED), ("tx-t".to_string(), TOPIC_DENIED)]
    );
    let resp: TxnOffsetCommitResponse = b.alice.call(ApiKey::TxnOffsetCommit, 3, &commit);
    assert_eq!(commit_code(&resp), GROUP_DENIED, "the group comes after the transactional id");
    // WRITE implies DESCRIBE: alice sees the transaction, not its hidden topic.
    let resp: DescribeTransactionsResponse =
        b.alice.call(ApiKey::DescribeTransactions, 0, &describe);
    let state = &resp.transaction_states[0];
    assert_eq!((state.error_code, state.transaction_state.as_str()), (0, "Ongoing"));
    assert!(state.topics.is_empty(), "tx-hidden is not alice's to see: {state:?}");
    let resp: ListTransactionsResponse = b.alice.call(ApiKey::ListTransactions, 0, &list);
    let listed: Vec<&str> =
        resp.transaction_states.iter().map(|t| t.transactional_id.as_str()).collect();
    assert_eq!(listed, ["tx"]);

    b.grant(TOPIC, "tx-t", WRITE);
    let resp = b.alice_until(
        "WRITE on tx-t",
        ApiKey::AddPartitionsToTxn,
        3,
        &add(&["tx-t", "tx-hidden"]),
        |r| add_codes(r)[1].1 != TOPIC_DENIED,
    );
    assert_eq!(
        add_codes(&resp),
        [("tx-hidden".to_string(), TOPIC_DENIED), ("tx-t".to_string(), 55)],
        "OPERATION_NOT_ATTEMPTED beside a refused topic"
    );
    let resp: AddPartitionsToTxnResponse =
        b.alice.call(ApiKey::AddPartitionsToTxn, 3, &add(&["tx-t"]));
    assert_eq!(add_codes(&resp), [("tx-t".to_string(), 0)]);
    let resp: DescribeTransactionsResponse =
        b.alice.call(ApiKey::DescribeTransactions, 0, &describe);
    let shown: Vec<&str> =
        resp.transaction_states[0].topics.iter().map(|t| t.topic.as_str()).collect();
    assert_eq!(shown, ["tx-t"]);

    b.grant(GROUP, "txg", READ);
    let resp = b.alice_until("READ on the group", ApiKey::TxnOffsetCommit, 3, &commit, |r| {
        commit_code(r) != GROUP_DENIED
    });
    assert_eq!(commit_code(&resp), TOPIC_DENIED, "WRITE on tx-t is not READ");
    let resp: DescribeProducersResponse = b.alice.call(ApiKey::DescribeProducers, 0, &producers);
    assert_eq!(
        resp.topics[0].partitions[0].error_code, TOPIC_DENIED,
        "DescribeProducers needs READ"
    );

    b.grant(TOPIC, "tx-t", READ);
    let resp = b.alice_until("READ on tx-t", ApiKey::TxnOffsetCommit, 3, &commit, |r| {
        commit_code(r) != TOPIC_DENIED
    });
    assert!(![TXN_DENIED, GROUP_DENIED].contains(&commit_code(&resp)), "{resp:?}");
    let resp: DescribeProducersResponse = b.alice.call(ApiKey::DescribeProducers, 0, &producers);
    assert_eq!(resp.topics[0].partitions[0].error_code, 0);
}

#[test]
fn cluster_describe_apis_need_describe_or_describe_configs_on_the_cluster() {
    let mut b = Secured::start(&[]);
    let log_dirs = DescribeLogDirsRequest::default().with_topics(None);
    let reassignments = ListPartitionReassignmentsRequest::default().with_timeout_ms(30_000);
    let scram = DescribeUserScramCredentialsRequest::default().with_users(None);
    let quotas = DescribeClientQuotasRequest::default();
    let alter_quotas =
        AlterClientQuotasRequest::default().with_validate_only(true).with_entries(vec![
            alter_client_quotas_request::EntryData::default()
                .with_entity(vec![alter_client_quotas_request::EntityData::default()
                    .with_entity_type(s("user"))
                    .with_entity_name(Some(s("alice")))])
                .with_ops(vec![alter_client_quotas_request::OpData::default()
                    .with_key(s("producer_byte_rate"))
                    .with_value(1024.0)]),
        ]);

    let resp: DescribeLogDirsResponse = b.alice.call(ApiKey::DescribeLogDirs, 4, &log_dirs);
    assert_eq!((resp.error_code, resp.results.len()), (CLUSTER_DENIED, 0));
    let resp: DescribeLogDirsResponse = b.alice.call(ApiKey::DescribeLogDirs, 1, &log_dirs);
    assert!(resp.results.is_empty(), "v1 has no error code: no dirs");
    let resp: ListPartitionReassignmentsResponse =
        b.alice.call(ApiKey::ListPartitionReassignments, 0, &reassignments);
    assert_eq!(resp.error_code, CLUSTER_DENIED);
    let resp: DescribeUserScramCredentialsResponse =
        b.alice.call(ApiKey::DescribeUserScramCredentials, 0, &scram);
    assert_eq!(resp.error_code, CLUSTER_DENIED);
    let resp: DescribeClientQuotasResponse = b.alice.call(ApiKey::DescribeClientQuotas, 1, &quotas);
    assert_eq!((resp.error_code, resp.entries.is_none()), (CLUSTER_DENIED, true));
    let resp: AlterClientQuotasResponse = b.alice.call(ApiKey::AlterClientQuotas, 1, &alter_quotas);
    assert_eq!(resp.entries[0].error_code, CLUSTER_DENIED);
    assert_eq!(resp.entries[0].entity[0].entity_name.as_deref(), Some("alice"));

    b.grant(CLUSTER, "kafka-cluster", DESCRIBE);
    let resp = b.alice_until(
        "DESCRIBE on the cluster",
        ApiKey::DescribeLogDirs,
        4,
        &log_dirs,
        |r: &DescribeLogDirsResponse| r.error_code == 0,
    );
    assert_eq!(resp.results.len(), 1, "the broker's one log dir");
    let resp: ListPartitionReassignmentsResponse =
        b.alice.call(ApiKey::ListPartitionReassignments, 0, &reassignments);
    assert_ne!(resp.error_code, CLUSTER_DENIED, "{resp:?}");
    let resp: DescribeUserScramCredentialsResponse =
        b.alice.call(ApiKey::DescribeUserScramCredentials, 0, &scram);
    assert_ne!(resp.error_code, CLUSTER_DENIED, "{resp:?}");
    let resp: DescribeClientQuotasResponse = b.alice.call(ApiKey::DescribeClientQuotas, 1, &quotas);
    assert_eq!(resp.error_code, CLUSTER_DENIED, "quotas are configs: DESCRIBE_CONFIGS");

    b.grant(CLUSTER, "kafka-cluster", DESCRIBE_CONFIGS);
    b.alice_until(
        "DESCRIBE_CONFIGS on the cluster",
        ApiKey::DescribeClientQuotas,
        1,
        &quotas,
        |r: &DescribeClientQuotasResponse| r.error_code == 0,
    );
    let resp: AlterClientQuotasResponse = b.alice.call(ApiKey::AlterClientQuotas, 1, &alter_quotas);
    assert_eq!(resp.entries[0].error_code, CLUSTER_DENIED);

    b.grant(CLUSTER, "kafka-cluster", ALTER_CONFIGS);
    b.alice_until(
        "ALTER_CONFIGS on the cluster",
        ApiKey::AlterClientQuotas,
        1,
        &alter_quotas,
        |r: &AlterClientQuotasResponse| r.entries[0].error_code == 0,
    );
}

#[test]
fn offset_apis_check_the_group_and_each_topic() {
    let mut b = Secured::start(&["off"]);
    // The super user commits an offset alice will be shown or not.
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(s("og")))
        .with_generation_id_or_member_epoch(-1)
        .with_retention_time_ms(-1)
        .with_topics(vec![offset_commit_request::OffsetCommitRequestTopic::default()
            .with_name(topic("off"))
            .with_partitions(vec![offset_commit_request::OffsetCommitRequestPartition::default(
            )
            .with_committed_offset(0)])]);
    b.find_coordinator(0, "og");
    support::wait_until(T, "the group coordinator takes a commit", || {
        let resp: OffsetCommitResponse = b.admin.call(ApiKey::OffsetCommit, 2, &commit);
        resp.topics[0].partitions[0].error_code == 0
    });
    let epochs =
        OffsetForLeaderEpochRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![
            offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                .with_topic(topic("off"))
                .with_partitions(vec![
                    offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                        .with_current_leader_epoch(-1)
                        .with_leader_epoch(0),
                ]),
        ]);
    let fetch_v8 = |topics: Option<Vec<&str>>| {
        OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s("og")))
                .with_topics(topics.map(|ts| {
                    ts.iter()
                        .map(|t| {
                            offset_fetch_request::OffsetFetchRequestTopics::default()
                                .with_name(topic(t))
                                .with_partition_indexes(vec![0])
                        })
                        .collect()
                })),
        ])
    };
    let fetch_v7 =
        OffsetFetchRequest::default().with_group_id(GroupId(s("og"))).with_topics(Some(vec![
            offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(topic("off"))
                .with_partition_indexes(vec![0]),
        ]));
    let fetch_v7_all =
        OffsetFetchRequest::default().with_group_id(GroupId(s("og"))).with_topics(None);
    let delete = OffsetDeleteRequest::default().with_group_id(GroupId(s("og"))).with_topics(
        [offset_delete_request::OffsetDeleteRequestTopic::default()
            .with_name(topic("off"))
            .with_partitions(vec![offset_delete_request::OffsetDeleteRequestPartition::default()])]
        .into_iter()
        .collect(),
    );
    let epoch_code = |r: &OffsetForLeaderEpochResponse| r.topics[0].partitions[0].error_code;
    // (group code, [(topic, partition code, offset)]) of a v8 answer.
    type Seen = (i16, Vec<(String, i16, i64)>);
    let seen_v8 = |r: &OffsetFetchResponse| -> Seen {
        let g = &r.groups[0];
        let topics = g
            .topics
            .iter()
            .map(|t| {
                (t.name.to_string(), t.partitions[0].error_code, t.partitions[0].committed_offset)
            })
            .collect();
        (g.error_code, topics)
    };
    let seen_v7 = |r: &OffsetFetchResponse| -> Seen {
        let topics = r
            .topics
            .iter()
            .map(|t| {
                (t.name.to_string(), t.partitions[0].error_code, t.partitions[0].committed_offset)
            })
            .collect();
        (r.error_code, topics)
    };

    let resp: OffsetForLeaderEpochResponse = b.alice.call(ApiKey::OffsetForLeaderEpoch, 4, &epochs);
    assert_eq!(epoch_code(&resp), TOPIC_DENIED);
    let resp: OffsetFetchResponse =
        b.alice.call(ApiKey::OffsetFetch, 8, &fetch_v8(Some(vec!["off"])));
    assert_eq!(seen_v8(&resp), (GROUP_DENIED, vec![]));
    let resp: OffsetFetchResponse = b.alice.call(ApiKey::OffsetFetch, 7, &fetch_v7);
    assert_eq!(resp.error_code, GROUP_DENIED);
    let resp: OffsetDeleteResponse = b.alice.call(ApiKey::OffsetDelete, 0, &delete);
    assert_eq!(resp.error_code, GROUP_DENIED);

    b.grant(GROUP, "og", DESCRIBE);
    let resp = b.alice_until(
        "DESCRIBE on the group",
        ApiKey::OffsetFetch,
        8,
        &fetch_v8(Some(vec!["off"])),
        |r: &OffsetFetchResponse| r.groups[0].error_code == 0,
    );
    assert_eq!(seen_v8(&resp), (0, vec![("off".into(), TOPIC_DENIED, -1)]));
    let resp: OffsetFetchResponse = b.alice.call(ApiKey::OffsetFetch, 8, &fetch_v8(None));
    assert_eq!(seen_v8(&resp), (0, vec![]), "every topic: the ones alice may describe");
    let resp: OffsetFetchResponse = b.alice.call(ApiKey::OffsetFetch, 7, &fetch_v7);
    assert_eq!(seen_v7(&resp), (0, vec![("off".into(), TOPIC_DENIED, -1)]));
    let resp: OffsetFetchResponse = b.alice.call(ApiKey::OffsetFetch, 7, &fetch_v7_all);
    assert_eq!(seen_v7(&resp), (0, vec![]));
    let resp: OffsetDeleteResponse = b.alice.call(ApiKey::OffsetDelete, 0, &delete);
    assert_eq!(resp.error_code, GROUP_DENIED, "DESCRIBE on the group is not DELETE");

    b.grant(GROUP, "og", DELETE);
    let resp = b.alice_until(
        "DELETE on the group",
        ApiKey::OffsetDelete,
        0,
        &delete,
        |r: &OffsetDeleteResponse| r.error_code == 0,
    );
    assert_eq!(resp.topics[0].partitions[0].error_code, TOPIC_DENIED);

    b.grant(TOPIC, "off", DESCRIBE);
    b.alice_until("DESCRIBE on the topic", ApiKey::OffsetForLeaderEpoch, 4, &epochs, |r| {
        epoch_code(r) == 0
    });
    let resp: OffsetFetchResponse = b.alice.call(ApiKey::OffsetFetch, 8, &fetch_v8(None));
    assert_eq!(seen_v8(&resp), (0, vec![("off".into(), 0, 0)]));
    let resp: OffsetFetchResponse = b.alice.call(ApiKey::OffsetFetch, 7, &fetch_v7_all);
    assert_eq!(seen_v7(&resp), (0, vec![("off".into(), 0, 0)]));
    let resp: OffsetDeleteResponse = b.alice.call(ApiKey::OffsetDelete, 0, &delete);
    assert_eq!(resp.topics[0].partitions[0].error_code, TOPIC_DENIED, "OffsetDelete needs READ");

    b.grant(TOPIC, "off", READ);
    let resp = b.alice_until(
        "READ on the topic",
        ApiKey::OffsetDelete,
        0,
        &delete,
        |r: &OffsetDeleteResponse| r.topics[0].partitions[0].error_code != TOPIC_DENIED,
    );
    assert_eq!(resp.topics[0].partitions[0].error_code, 0, "an empty group's offset goes");
}

/// ACL APIs v0 (Kafka 1.0's AdminClient, older kafka-python): no pattern
/// type on the wire, literal patterns only, advertised from 0.
#[test]
fn acl_apis_v0_know_literal_patterns_only() {
    let mut b = Secured::start(&[]);
    let resp: ApiVersionsResponse =
        b.admin.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    for key in [ApiKey::CreateAcls, ApiKey::DescribeAcls, ApiKey::DeleteAcls] {
        let v = resp.api_keys.iter().find(|k| k.api_key == key as i16).expect("advertised");
        assert_eq!((v.min_version, v.max_version), (0, 3), "{key:?}");
    }
    let creation = |pattern: i8| {
        create_acls_request::AclCreation::default()
            .with_resource_type(TOPIC)
            .with_resource_name(s("v0-"))
            .with_resource_pattern_type(pattern)
            .with_principal(s("User:alice"))
            .with_host(s("*"))
            .with_operation(READ)
            .with_permission_type(3)
    };
    // A prefixed ACL (v1+), which v0 clients cannot express nor see.
    let req = CreateAclsRequest::default().with_creations(vec![creation(4)]);
    let resp: CreateAclsResponse = b.admin.call(ApiKey::CreateAcls, 1, &req);
    assert_eq!(resp.results[0].error_code, 0);
    let req = CreateAclsRequest::default().with_creations(vec![creation(3)]);
    let resp: CreateAclsResponse = b.admin.call(ApiKey::CreateAcls, 0, &req);
    assert_eq!(resp.results[0].error_code, 0, "{resp:?}");

    let filter = DescribeAclsRequest::default()
        .with_resource_type_filter(TOPIC)
        .with_resource_name_filter(Some(s("v0-")))
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_operation(1)
        .with_permission_type(1);
    let described = |b: &mut Secured, v: i16| {
        let resp: DescribeAclsResponse = b.admin.call(ApiKey::DescribeAcls, v, &filter);
        assert_eq!(resp.error_code, 0, "{resp:?}");
        let mut found: Vec<(String, i8, usize)> = resp
            .resources
            .iter()
            .map(|r| (r.resource_name.to_string(), r.pattern_type, r.acls.len()))
            .collect();
        found.sort();
        found
    };
    let literal_only = vec![("v0-".to_string(), 3, 1)];
    // The broker describes its cache, which follows ZooKeeper's watch.
    let any = filter.clone().with_pattern_type_filter(1);
    support::wait_until(T, "both ACLs in the cache", || {
        let resp: DescribeAclsResponse = b.admin.call(ApiKey::DescribeAcls, 1, &any);
        resp.resources.len() == 2
    });
    assert_eq!(described(&mut b, 0), literal_only, "v0 reads as LITERAL");

    let delete = DeleteAclsRequest::default().with_filters(vec![
        delete_acls_request::DeleteAclsFilter::default()
            .with_resource_type_filter(TOPIC)
            .with_resource_name_filter(Some(s("v0-")))
            .with_principal_filter(Some(s("User:alice")))
            .with_host_filter(None)
            .with_operation(1)
            .with_permission_type(1),
    ]);
    let resp: DeleteAclsResponse = b.admin.call(ApiKey::DeleteAcls, 0, &delete);
    let result = &resp.filter_results[0];
    assert_eq!((result.error_code, result.matching_acls.len()), (0, 1), "{resp:?}");
    let mut left = None;
    support::wait_until(T, "the literal ACL gone from the cache", || {
        let resp: DescribeAclsResponse = b.admin.call(ApiKey::DescribeAcls, 1, &any);
        let done = resp.resources.len() == 1;
        left = Some(resp);
        done
    });
    assert_eq!(left.unwrap().resources[0].pattern_type, 4, "the prefixed one stays");
    assert_eq!(described(&mut b, 0), vec![], "v0 sees no ACL left");
}
