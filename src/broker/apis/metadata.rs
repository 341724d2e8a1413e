//! Metadata: brokers, controller, cluster id and, per requested topic, its
//! partitions with leader, leader epoch, replicas and ISR. Unknown topics
//! are created when the client allows it (v4+; always before) and
//! `auto.create.topics.enable` is on.

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};

use super::str_bytes;
use crate::broker::error::ApiError;
use crate::broker::topics::{self, TopicRequest};
use crate::broker::BrokerContext;
use crate::cluster::{ClusterImage, TopicMetadata};
use crate::protocol::ErrorCode;
use crate::types::TopicPartition;

pub async fn handle(ctx: &BrokerContext, version: i16, req: MetadataRequest) -> MetadataResponse {
    let mut image = ctx.store.image();
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
        None => topics.extend(image.topics.values().map(|t| topic_response(ctx, &image, t))),
        Some(list) => {
            for (name, id) in list {
                let name = match name {
                    Some(n) => n,
                    None => match image.topic_by_id(id) {
                        Some(t) => {
                            topics.push(topic_response(ctx, &image, t));
                            continue;
                        }
                        None => {
                            topics.push(error_topic(None, id, ErrorCode::UnknownTopicId));
                            continue;
                        }
                    },
                };
                if let Some(t) = image.topic(&name) {
                    topics.push(topic_response(ctx, &image, t));
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
                let create = TopicRequest {
                    name: name.clone(),
                    num_partitions: -1,
                    replication_factor: -1,
                    ..Default::default()
                };
                match topics::create_topic(ctx, &create).await {
                    Ok(_) => {}
                    // Another client created it first: answer with what exists.
                    Err(ApiError { code: ErrorCode::TopicAlreadyExists, .. }) => {}
                    Err(e) => {
                        tracing::warn!(topic = %name, "auto-creation failed: {}", e.message.as_deref().unwrap_or(""));
                        topics.push(error_topic(Some(name), uuid::Uuid::nil(), e.code));
                        continue;
                    }
                }
                image = ctx.store.image();
                match image.topic(&name) {
                    Some(t) => topics.push(topic_response(ctx, &image, t)),
                    None => topics.push(error_topic(
                        Some(name),
                        uuid::Uuid::nil(),
                        ErrorCode::LeaderNotAvailable,
                    )),
                }
            }
        }
    }

    let mut resp = MetadataResponse::default();
    resp.brokers = image
        .brokers
        .values()
        .map(|b| {
            let mut m = MetadataResponseBroker::default();
            m.node_id = BrokerId(b.id);
            m.host = str_bytes(b.host.clone());
            m.port = b.port as i32;
            m.rack = b.rack.clone().map(str_bytes);
            m
        })
        .collect();
    resp.cluster_id = Some(str_bytes(image.cluster_id.clone()));
    resp.controller_id = BrokerId(image.controller_id);
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
fn topic_response(
    ctx: &BrokerContext,
    image: &ClusterImage,
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
            let leader_live = image.brokers.contains_key(&p.state.leader)
                && !(here_offline && p.state.leader == ctx.broker_id);
            m.error_code =
                if leader_live { ErrorCode::None } else { ErrorCode::LeaderNotAvailable }.code();
            m.leader_id = BrokerId(if leader_live { p.state.leader } else { -1 });
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
