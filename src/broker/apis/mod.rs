//! Request handlers, one file per API, behind the one [`dispatch`] match.
//! A handler takes the broker context and the decoded request and returns
//! the response struct; encoding happens here.

pub mod acls;
pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_configs;
pub mod api_versions;
pub mod authorize;
pub mod by_topic;
pub mod client_quotas;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_transactions;
pub mod elect_leaders;
pub mod end_txn;
pub mod fetch;
pub mod find_coordinator;
pub mod group_support;
pub mod heartbeat;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod partition_reassignments;
pub mod produce;
pub mod response;
pub mod sync_group;
pub mod txn_offset_commit;
pub mod txn_support;
pub mod user_scram_credentials;
pub mod write_txn_markers;

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::messages::RequestHeader;
use kafka_protocol::protocol::{Decodable, StrBytes};

use super::authorizer::Authz;
use super::connection::{ConnectionError, Reply, Session};
use super::quota::{quota_user, QuotaKind};
use super::BrokerContext;
use crate::protocol::header::decode_body;
use crate::protocol::{DecodeError, ErrorCode};
use crate::security::acl::AclOperation;

/// Routes a request to its handler, decoding the body as that API's
/// request type. Version support was checked against
/// `protocol::api::SUPPORTED` before.
pub async fn dispatch(
    ctx: &Arc<BrokerContext>,
    key: ApiKey,
    version: i16,
    header: RequestHeader,
    body: Bytes,
    session: &Session,
) -> Result<Reply, ConnectionError> {
    let peer = session.peer;
    let listener = session.listener.name.as_str();
    let cid = header.correlation_id;
    let v = version;
    let groups = &ctx.groups;
    let authz = Authz::new(ctx.authorizer.as_deref(), &session.principal, peer.ip());
    let authz = &authz;
    // Kafka's per-resource checks: `authorize::$check` takes out of the
    // request what the principal may not touch, the handler answers the
    // rest, and the refused entries join the response's `$field`.
    macro_rules! authorized {
        ($check:ident => $field:ident, |$req:ident| $answer:expr) => {{
            let mut $req = decode(key, v, body)?;
            let refused = authorize::$check(authz, &mut $req);
            let mut resp = $answer;
            resp.$field.extend(refused);
            respond(key, v, cid, resp)
        }};
    }
    // Kafka's per-API checks that refuse a whole request before its handler.
    if let Some(refused) = authorize::refuse_whole(authz, key, v, cid, &body)? {
        return Ok(refused);
    }
    match key {
        ApiKey::Produce => {
            let size = body.len();
            let mut req: kafka_protocol::messages::ProduceRequest = decode(key, v, body)?;
            let refused = authorize::produce(authz, &mut req);
            let outcome = produce::handle(ctx, listener, v, req).await;
            // Kafka records the request's size whatever became of it.
            let (user, client) = quota_client(session, &header);
            let throttle = ctx.quotas.record_and_get_throttle_ms(
                QuotaKind::Produce,
                user,
                client,
                size as f64,
            );
            session.throttle(throttle);
            match outcome {
                produce::ProduceOutcome::Respond(mut resp) => {
                    resp.throttle_time_ms = throttle.min(i32::MAX as u64) as i32;
                    resp.responses.extend(refused);
                    respond(key, v, cid, resp)
                }
                produce::ProduceOutcome::NoResponse => Ok(Reply::Nothing),
                produce::ProduceOutcome::Close(why) => Err(ConnectionError::Refused(why)),
            }
        }
        ApiKey::Fetch => {
            let (user, client_id) = quota_client(session, &header);
            let quota = fetch::FetchQuota { user, client_id, session };
            Ok(fetch::handle(ctx, v, cid, decode(key, v, body)?, quota, authz).await)
        }
        ApiKey::ListOffsets => authorized!(list_offsets => topics,
            |req| list_offsets::handle(ctx, v, req).await),
        ApiKey::ApiVersions => respond(key, v, cid, api_versions::handle(v, decode(key, v, body)?)),
        ApiKey::Metadata => {
            let req = decode(key, v, body)?;
            respond(key, v, cid, metadata::handle(ctx, listener, v, req, authz).await)
        }
        ApiKey::CreateTopics => authorized!(create_topics => topics,
            |req| create_topics::handle(ctx, v, req).await),
        ApiKey::DeleteTopics => {
            let mut req = decode(key, v, body)?;
            let refused = authorize::delete_topics(authz, &ctx.store.image(), &mut req);
            let mut resp = delete_topics::handle(ctx, v, req).await;
            resp.responses.extend(refused);
            respond(key, v, cid, resp)
        }
        ApiKey::DeleteRecords => authorized!(delete_records => topics,
            |req| delete_records::handle(ctx, req).await),
        ApiKey::InitProducerId => {
            respond(key, v, cid, init_producer_id::handle(ctx, v, decode(key, v, body)?).await)
        }
        ApiKey::AddPartitionsToTxn => respond(
            key,
            v,
            cid,
            add_partitions_to_txn::handle(ctx, v, decode(key, v, body)?, authz).await,
        ),
        ApiKey::AddOffsetsToTxn => {
            respond(key, v, cid, add_offsets_to_txn::handle(ctx, v, decode(key, v, body)?).await)
        }
        ApiKey::EndTxn => {
            respond(key, v, cid, end_txn::handle(ctx, v, decode(key, v, body)?).await)
        }
        ApiKey::WriteTxnMarkers => {
            respond(key, v, cid, write_txn_markers::handle(ctx, decode(key, v, body)?).await)
        }
        ApiKey::DescribeProducers => authorized!(describe_producers => topics,
            |req| describe_producers::handle(ctx, req)),
        ApiKey::DescribeTransactions => {
            let mut req = decode(key, v, body)?;
            let refused = authorize::describe_transactions(authz, &mut req);
            let mut resp = describe_transactions::handle(ctx, req).await;
            authorize::hide_undescribable_topics(authz, &mut resp);
            resp.transaction_states.extend(refused);
            respond(key, v, cid, resp)
        }
        ApiKey::ListTransactions => {
            let mut resp = list_transactions::handle(ctx, decode(key, v, body)?).await;
            authorize::list_transactions(authz, &mut resp);
            respond(key, v, cid, resp)
        }
        ApiKey::TxnOffsetCommit => authorized!(txn_offset_commit => topics,
            |req| txn_offset_commit::handle(ctx, v, req).await),
        ApiKey::OffsetForLeaderEpoch => authorized!(offset_for_leader_epoch => topics,
            |req| offset_for_leader_epoch::handle(ctx, req).await),
        ApiKey::DescribeLogDirs => {
            respond(key, v, cid, describe_log_dirs::handle(ctx, v, decode(key, v, body)?).await)
        }
        ApiKey::DescribeConfigs => authorized!(describe_configs => results,
            |req| describe_configs::handle(ctx, req)),
        ApiKey::AlterConfigs => authorized!(alter_configs => responses,
            |req| alter_configs::handle_alter(ctx, req).await),
        ApiKey::IncrementalAlterConfigs => authorized!(incremental_alter_configs => responses,
            |req| alter_configs::handle_incremental(ctx, req).await),
        ApiKey::CreatePartitions => authorized!(create_partitions => results,
            |req| create_partitions::handle(ctx, req).await),
        ApiKey::FindCoordinator => {
            let req = decode(key, v, body)?;
            respond(key, v, cid, find_coordinator::handle(ctx, listener, v, req).await)
        }
        ApiKey::ElectLeaders => {
            respond(key, v, cid, elect_leaders::handle(ctx, v, decode(key, v, body)?).await)
        }
        ApiKey::AlterPartitionReassignments => respond(
            key,
            v,
            cid,
            partition_reassignments::handle_alter(ctx, decode(key, v, body)?).await,
        ),
        ApiKey::ListPartitionReassignments => respond(
            key,
            v,
            cid,
            partition_reassignments::handle_list(ctx, decode(key, v, body)?).await,
        ),
        ApiKey::DescribeCluster => {
            let req = decode(key, v, body)?;
            respond(key, v, cid, describe_cluster::handle(ctx, listener, req, authz))
        }
        ApiKey::JoinGroup => {
            let client = group_support::ClientInfo {
                client_id: header.client_id.as_deref().unwrap_or_default().to_string(),
                host: format!("/{}", peer.ip()),
            };
            let resp = join_group::handle(groups, v, &client, decode(key, v, body)?).await;
            respond(key, v, cid, resp)
        }
        ApiKey::SyncGroup => {
            respond(key, v, cid, sync_group::handle(groups, v, decode(key, v, body)?).await)
        }
        ApiKey::Heartbeat => {
            respond(key, v, cid, heartbeat::handle(groups, decode(key, v, body)?).await)
        }
        ApiKey::LeaveGroup => {
            respond(key, v, cid, leave_group::handle(groups, v, decode(key, v, body)?).await)
        }
        ApiKey::OffsetCommit if v == 0 => {
            respond(key, v, cid, offset_commit::handle_v0(ctx, decode(key, v, body)?).await)
        }
        ApiKey::OffsetFetch if v == 0 => {
            respond(key, v, cid, offset_fetch::handle_v0(ctx, decode(key, v, body)?).await)
        }
        ApiKey::OffsetCommit => {
            let image = ctx.store.image();
            authorized!(offset_commit => topics,
                |req| offset_commit::handle(groups, &image, req).await)
        }
        ApiKey::OffsetFetch => {
            let req: kafka_protocol::messages::OffsetFetchRequest = decode(key, v, body)?;
            let asked = req.clone();
            let mut resp = offset_fetch::handle(groups, v, req).await;
            authorize::offset_fetch(authz, &asked, &mut resp);
            respond(key, v, cid, resp)
        }
        ApiKey::ListGroups => {
            let mut resp = list_groups::handle(groups, v, decode(key, v, body)?).await;
            // Kafka lists every group to those who may DESCRIBE the
            // cluster, and otherwise only the groups they may DESCRIBE.
            if !authz.cluster(AclOperation::Describe) {
                resp.groups.retain(|g| authz.group(AclOperation::Describe, &g.group_id));
            }
            respond(key, v, cid, resp)
        }
        ApiKey::DescribeGroups => respond(
            key,
            v,
            cid,
            describe_groups::handle(groups, decode(key, v, body)?, authz).await,
        ),
        ApiKey::DeleteGroups => {
            let mut req: kafka_protocol::messages::DeleteGroupsRequest = decode(key, v, body)?;
            let (kept, refused): (Vec<_>, Vec<_>) = std::mem::take(&mut req.groups_names)
                .into_iter()
                .partition(|g| authz.group(AclOperation::Delete, g));
            req.groups_names = kept;
            let mut resp = delete_groups::handle(groups, req).await;
            resp.results.extend(refused.into_iter().map(|g| {
                let mut r =
                    kafka_protocol::messages::delete_groups_response::DeletableGroupResult::default(
                    );
                r.group_id = g;
                r.error_code = ErrorCode::GroupAuthorizationFailed.code();
                r
            }));
            respond(key, v, cid, resp)
        }
        ApiKey::OffsetDelete => {
            let image = ctx.store.image();
            authorized!(offset_delete => topics,
                |req| offset_delete::handle(groups, &image, req).await)
        }
        ApiKey::DescribeClientQuotas => {
            respond(key, v, cid, client_quotas::describe(ctx, decode(key, v, body)?))
        }
        ApiKey::AlterClientQuotas => {
            respond(key, v, cid, client_quotas::alter(ctx, decode(key, v, body)?).await)
        }
        ApiKey::DescribeUserScramCredentials => {
            let req = decode(key, v, body)?;
            respond(key, v, cid, user_scram_credentials::describe(ctx, req).await)
        }
        ApiKey::AlterUserScramCredentials => {
            let req = decode(key, v, body)?;
            respond(key, v, cid, user_scram_credentials::alter(ctx, req).await)
        }
        ApiKey::CreateAcls => {
            respond(key, v, cid, acls::create(ctx, authz, decode(key, v, body)?).await)
        }
        ApiKey::DescribeAcls => {
            respond(key, v, cid, acls::describe(ctx, authz, decode(key, v, body)?).await)
        }
        ApiKey::DeleteAcls => {
            respond(key, v, cid, acls::delete(ctx, authz, decode(key, v, body)?).await)
        }
        // On a PLAINTEXT listener or after authenticating (no
        // re-authentication here), as Kafka's KafkaApis answers.
        ApiKey::SaslHandshake => {
            let _: kafka_protocol::messages::SaslHandshakeRequest = decode(key, v, body)?;
            let mut resp = kafka_protocol::messages::SaslHandshakeResponse::default();
            resp.error_code = crate::protocol::ErrorCode::IllegalSaslState.code();
            respond(key, v, cid, resp)
        }
        ApiKey::SaslAuthenticate => {
            let _: kafka_protocol::messages::SaslAuthenticateRequest = decode(key, v, body)?;
            let mut resp = kafka_protocol::messages::SaslAuthenticateResponse::default();
            resp.error_code = crate::protocol::ErrorCode::IllegalSaslState.code();
            resp.error_message = Some(str_bytes(
                "SaslAuthenticate request received after successful authentication",
            ));
            respond(key, v, cid, resp)
        }
        _ => Err(DecodeError::UnsupportedVersion { key, version }.into()),
    }
}

/// The quota user and client id of a request.
pub fn quota_client<'a>(session: &'a Session, header: &'a RequestHeader) -> (&'a str, &'a str) {
    (quota_user(&session.principal), header.client_id.as_deref().unwrap_or_default())
}

fn decode<T: Decodable>(key: ApiKey, version: i16, body: Bytes) -> Result<T, ConnectionError> {
    Ok(decode_body(key, version, body)?)
}

/// The answer, encoded once the request quota has had its say.
fn respond<M: response::Response + 'static>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: M,
) -> Result<Reply, ConnectionError> {
    Ok(Reply::Pending(response::Pending { key, version, correlation_id, body: Box::new(body) }))
}

/// Runs a handler's disk work on the blocking pool. If the work cannot
/// finish (it panicked, or the runtime is shutting down) the client still
/// gets an answer that says so: `failed` builds the response with the code
/// for every partition asked about, as Kafka answers an unexpected
/// exception with UNKNOWN_SERVER_ERROR, never with an empty success.
pub(crate) async fn off_reactor<T: Send + 'static>(
    api: ApiKey,
    work: impl FnOnce() -> T + Send + 'static,
    failed: impl FnOnce(ErrorCode) -> T,
) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::error!(?api, error = %e, "request failed on the blocking pool");
            failed(ErrorCode::UnknownServerError)
        }
    }
}

/// The partitions a request asks about, by topic, kept before the request
/// moves to the blocking pool so a failure can still name each of them.
pub(crate) type Asked<N> = Vec<(N, Vec<i32>)>;

/// Reads [`Asked`] off a request's topics.
pub(crate) fn asked<T, P, N>(
    topics: &[T],
    topic: impl Fn(&T) -> (N, &[P]),
    partition: impl Fn(&P) -> i32,
) -> Asked<N> {
    topics
        .iter()
        .map(|t| {
            let (name, partitions) = topic(t);
            (name, partitions.iter().map(&partition).collect())
        })
        .collect()
}

/// A response's topics for a failed request: `topic` of each name asked
/// about, with `partition` of each of its partitions.
pub(crate) fn answer_each<N, T, P>(
    asked: Asked<N>,
    topic: impl Fn(N, Vec<P>) -> T,
    partition: impl Fn(i32) -> P,
) -> Vec<T> {
    asked.into_iter().map(|(n, ps)| topic(n, ps.into_iter().map(&partition).collect())).collect()
}

/// A wire string from an owned one.
pub fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// A response entry's `error_code` and `error_message`: 0 and none when
/// `outcome` succeeded.
pub fn error_fields<T>(
    outcome: Result<T, crate::broker::error::ApiError>,
) -> (i16, Option<StrBytes>) {
    match outcome {
        Ok(_) => (crate::protocol::ErrorCode::None.code(), None),
        Err(e) => (e.code.code(), e.message.map(str_bytes)),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use kafka_protocol::messages::TopicName;

    /// Partitions 0 and 3 of topic `t`, for the failure answers' tests.
    pub(crate) fn asked_t_0_3() -> Asked<TopicName> {
        vec![(TopicName(str_bytes("t")), vec![0, 3])]
    }

    #[tokio::test]
    async fn work_that_panics_is_answered_with_unknown_server_error() {
        let answer =
            off_reactor(ApiKey::ListOffsets, || -> Option<ErrorCode> { panic!("disk") }, Some)
                .await;
        assert_eq!(answer, Some(ErrorCode::UnknownServerError));
    }

    /// What `off_reactor` answers with when the work fails: each handler's
    /// error for everything asked about, not an empty success.
    #[test]
    fn a_failed_request_answers_every_partition_with_the_error() {
        let code = ErrorCode::UnknownServerError;
        let d = delete_records::failed(asked_t_0_3(), code);
        let l = list_offsets::failed(asked_t_0_3(), code);
        let o = offset_for_leader_epoch::failed(asked_t_0_3(), code);
        let got: [Vec<(i32, i16)>; 3] = [
            d.topics[0].partitions.iter().map(|p| (p.partition_index, p.error_code)).collect(),
            l.topics[0].partitions.iter().map(|p| (p.partition_index, p.error_code)).collect(),
            o.topics[0].partitions.iter().map(|p| (p.partition, p.error_code)).collect(),
        ];
        for partitions in got {
            assert_eq!(partitions, [(0, code.code()), (3, code.code())]);
        }
        let dirs = describe_log_dirs::failed(&["/d1".into(), "/d2".into()], code);
        let results: Vec<_> =
            dirs.results.iter().map(|r| (r.log_dir.as_str(), r.error_code)).collect();
        assert_eq!((dirs.error_code, results), (code.code(), vec![("/d1", -1), ("/d2", -1)]));
    }

    #[tokio::test]
    async fn work_that_finishes_is_the_answer() {
        let answer = off_reactor(ApiKey::ListOffsets, || Some(ErrorCode::None), Some).await;
        assert_eq!(answer, Some(ErrorCode::None));
    }
}
