//! Metadata: brokers, controller, cluster id and, per requested topic, its
//! partitions with leader, leader epoch, replicas and ISR. Unknown topics
//! are created when the client allows it (v4+; always before) and
//! `auto.create.topics.enable` is on, and answered LEADER_NOT_AVAILABLE
//! as in Kafka until the client asks again.

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::str_bytes;
use crate::broker::authorizer::Authz;
use crate::broker::error::ApiError;
use crate::broker::topics::{self, TopicRequest};
use crate::broker::BrokerContext;
use crate::cluster::{ClusterImage, TopicMetadata};
use crate::protocol::ErrorCode;
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::types::TopicPartition;

/// Answers with the addresses of `listener`, the one the client connected
/// to (Kafka's rule: a client on the SSL port is never sent to a PLAINTEXT
/// one); brokers without that listener are left out.
pub async fn handle(
    ctx: &BrokerContext,
    listener: &str,
    version: i16,
    req: MetadataRequest,
    authz: &Authz<'_>,
) -> MetadataResponse {
    let include_topic_ops = version >= 8 && req.include_topic_authorized_operations;
    let include_cluster_ops =
        (8..=10).contains(&version) && req.include_cluster_authorized_operations;
    let image = ctx.store.image();
    // v0: an empty list means every topic; v1+: null means every topic.
    let requested: Option<Vec<(Option<String>, uuid::Uuid)>> = match req.topics {
        None => None,
        Some(t) if t.is_empty() && version == 0 => None,
        Some(t) => {
            Some(t.into_iter().map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id)).collect())
        }
    };
    let allow_auto_create =
        (version < 4 || req.allow_auto_topic_creation) && ctx.config.auto_create_topics_enable;

    let mut topics = Vec::new();
    match requested {
        // Kafka leaves out, without a word, the topics the principal may
        // not DESCRIBE when every topic is asked for.
        None => topics.extend(
            image
                .topics
                .values()
                .filter(|t| authz.topic(AclOperation::Describe, &t.name))
                .map(|t| topic_response(ctx, &image, listener, version, t)),
        ),
        Some(list) => {
            for (name, id) in list {
                let name = match name {
                    Some(n) => n,
                    None => match image.topic_by_id(id) {
                        Some(t) if !authz.topic(AclOperation::Describe, &t.name) => {
                            topics.push(error_topic(None, id, ErrorCode::TopicAuthorizationFailed));
                            continue;
                        }
                        Some(t) => {
                            topics.push(topic_response(ctx, &image, listener, version, t));
                            continue;
                        }
                        None => {
                            topics.push(error_topic(None, id, ErrorCode::UnknownTopicId));
                            continue;
                        }
                    },
                };
                // Named but not describable: refused without saying
                // whether it exists.
                if !authz.topic(AclOperation::Describe, &name) {
                    topics.push(error_topic(
                        Some(name),
                        uuid::Uuid::nil(),
                        ErrorCode::TopicAuthorizationFailed,
                    ));
                    continue;
                }
                if let Some(t) = image.topic(&name) {
                    topics.push(topic_response(ctx, &image, listener, version, t));
                    continue;
                }
                if let Err(e) = crate::types::validate_topic_name(&name) {
                    tracing::debug!("metadata for invalid topic: {e}");
                    topics.push(error_topic(
                        Some(name),
                        uuid::Uuid::nil(),
                        ErrorCode::InvalidTopicException,
                    ));
                    continue;
                }
                if !allow_auto_create {
                    topics.push(error_topic(
                        Some(name),
                        uuid::Uuid::nil(),
                        ErrorCode::UnknownTopicOrPartition,
                    ));
                    continue;
                }
                if !authz.cluster(AclOperation::Create) && !authz.topic(AclOperation::Create, &name)
                {
                    topics.push(error_topic(
                        Some(name),
                        uuid::Uuid::nil(),
                        ErrorCode::TopicAuthorizationFailed,
                    ));
                    continue;
                }
                let create = TopicRequest {
                    name: name.clone(),
                    num_partitions: -1,
                    replication_factor: -1,
                    ..Default::default()
                };
                // Kafka answers the request that creates a topic with
                // LEADER_NOT_AVAILABLE and no partitions, whoever created it
                // first; the client asks again once leaders are elected
                // (kafka-go's tests read "no partitions" from it).
                let code = match topics::create_topic(ctx, &create).await {
                    Ok(_) | Err(ApiError { code: ErrorCode::TopicAlreadyExists, .. }) => {
                        ErrorCode::LeaderNotAvailable
                    }
                    Err(e) => {
                        tracing::warn!(topic = %name, "auto-creation failed: {}", e.message.as_deref().unwrap_or(""));
                        e.code
                    }
                };
                topics.push(error_topic(Some(name), uuid::Uuid::nil(), code));
            }
        }
    }

    let mut resp = MetadataResponse::default();
    resp.brokers = reachable_brokers(&image, listener, |id, host, port, rack| {
        MetadataResponseBroker::default()
            .with_node_id(id)
            .with_host(host)
            .with_port(port)
            .with_rack(rack)
    });
    resp.cluster_id = Some(str_bytes(image.cluster_id.clone()));
    resp.controller_id = BrokerId(image.controller_id);
    if include_topic_ops {
        // Kafka answers them for every topic the principal may describe,
        // the one just created (LEADER_NOT_AVAILABLE) and unknown ones too.
        let refused = ErrorCode::TopicAuthorizationFailed.code();
        for t in topics.iter_mut().filter(|t| t.error_code != refused) {
            if let Some(name) = &t.name {
                t.topic_authorized_operations =
                    authz.authorized_operations(ResourceType::Topic, name.0.as_str());
            }
        }
    }
    if include_cluster_ops {
        resp.cluster_authorized_operations =
            authz.authorized_operations(ResourceType::Cluster, CLUSTER_NAME);
    }
    resp.topics = topics;
    resp
}

fn error_topic(name: Option<String>, id: uuid::Uuid, code: ErrorCode) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default();
    t.error_code = code.code();
    t.name = name.map(|n| TopicName(str_bytes(n)));
    t.topic_id = id;
    t
}

/// A partition this broker should lead but cannot serve (its log dir went
/// offline after an I/O error, or its log could not be opened) is answered
/// as Kafka's controller would after a log dir failure: no leader, and this
/// broker among the offline replicas, so clients wait instead of sending
/// requests that can only fail.
///
/// A live leader without the client's listener is LISTENER_NOT_FOUND from
/// v6 on (LEADER_NOT_AVAILABLE before), as Kafka's `MetadataCache` answers.
fn topic_response(
    ctx: &BrokerContext,
    image: &ClusterImage,
    listener: &str,
    version: i16,
    topic: &TopicMetadata,
) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default();
    t.name = Some(TopicName(str_bytes(topic.name.clone())));
    t.topic_id = topic.topic_id;
    t.is_internal = topic.name.starts_with("__");
    t.partitions = topic
        .partitions
        .iter()
        .map(|(&index, p)| {
            let mut m = MetadataResponsePartition::default();
            m.partition_index = index;
            let here_offline = p.replicas.contains(&ctx.broker_id)
                && !ctx.replicas.is_online(&TopicPartition::new(topic.name.clone(), index));
            let leader = image.brokers.get(&p.state.leader);
            let leader_live =
                leader.is_some() && !(here_offline && p.state.leader == ctx.broker_id);
            let reachable = leader.is_some_and(|b| b.endpoint(listener).is_some());
            m.error_code = match (leader_live, reachable) {
                (true, true) => ErrorCode::None,
                (true, false) if version >= 6 => ErrorCode::ListenerNotFound,
                _ => ErrorCode::LeaderNotAvailable,
            }
            .code();
            m.leader_id = BrokerId(if leader_live && reachable { p.state.leader } else { -1 });
            m.leader_epoch = p.state.leader_epoch;
            m.replica_nodes = p.replicas.iter().map(|&b| BrokerId(b)).collect();
            m.isr_nodes = p.state.isr.iter().map(|&b| BrokerId(b)).collect();
            m.offline_replicas = p
                .replicas
                .iter()
                .filter(|&&b| {
                    !image.brokers.contains_key(&b) || (here_offline && b == ctx.broker_id)
                })
                .map(|&b| BrokerId(b))
                .collect();
            m
        })
        .collect();
    t
}

/// The brokers a client on `listener` can reach, each built by `node` from
/// its id, host, port and rack. Brokers without that listener are left
/// out, as Kafka leaves them out of Metadata and DescribeCluster.
pub(super) fn reachable_brokers<T>(
    image: &ClusterImage,
    listener: &str,
    node: impl Fn(BrokerId, StrBytes, i32, Option<StrBytes>) -> T,
) -> Vec<T> {
    image
        .brokers
        .values()
        .filter_map(|b| {
            let (host, port) = b.endpoint(listener)?;
            let rack = b.rack.clone().map(str_bytes);
            Some(node(BrokerId(b.id), str_bytes(host), i32::from(port), rack))
        })
        .collect()
}
