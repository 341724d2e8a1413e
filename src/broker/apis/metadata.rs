//! Metadata: brokers, controller, cluster id and, per requested topic, its
//! partitions with leader, leader epoch, replicas and ISR. Unknown topics
//! are created when the client allows it (v4+; always before) and
//! `auto.create.topics.enable` is on, and answered LEADER_NOT_AVAILABLE
//! as in Kafka until the client asks again.

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::str_bytes;
use crate::broker::authorizer::Authz;
use crate::broker::error::ApiError;
use crate::broker::topics::{self, TopicRequest};
use crate::broker::BrokerContext;
use crate::cluster::{BrokerRegistration, ClusterImage, TopicMetadata};
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
    let departed = ctx.departed.listed(&image, std::time::Instant::now());
    resp.brokers = image
        .brokers
        .values()
        .chain(departed.iter())
        .filter_map(|b| {
            let (host, port) = b.endpoint(listener)?;
            let mut m = MetadataResponseBroker::default();
            m.node_id = BrokerId(b.id);
            m.host = str_bytes(host);
            m.port = i32::from(port);
            m.rack = b.rack.clone().map(str_bytes);
            Some(m)
        })
        .collect();
    resp.cluster_id = Some(str_bytes(image.cluster_id.clone()));
    resp.controller_id = BrokerId(image.controller_id);
    if include_topic_ops {
        for t in topics.iter_mut().filter(|t| t.error_code == 0) {
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

/// How long a broker that left the cluster is still listed in Metadata
/// once no partition names it as leader any more.
pub const DEPARTED_BROKER_GRACE: Duration = Duration::from_secs(10);

/// Brokers that left the cluster (their registration vanished), still
/// listed in Metadata answers until [`DEPARTED_BROKER_GRACE`] after their
/// partitions moved to new leaders, never as a leader themselves and still
/// among the offline replicas.
///
/// Why: the answer that shows a dead leader's partitions on their new
/// leader would otherwise be the first without the dead broker, and
/// librdkafka (2.10+ decommissions brokers missing from Metadata) then
/// hands those partitions back to "no leader" as the dying broker's thread
/// lets go of them, so a producer waits for one more refresh (a second)
/// after the failover. Listed a little longer, the broker is forgotten
/// only once the client moved its partitions off it.
#[derive(Debug, Default)]
pub struct DepartedBrokers {
    /// Every broker seen registered, with when it was first seen gone
    /// and leading nothing.
    seen: Mutex<BTreeMap<i32, (BrokerRegistration, Option<Instant>)>>,
}

impl DepartedBrokers {
    /// The departed brokers to list besides `image`'s live ones at `now`:
    /// those still assigned as a replica of some partition (one reassigned
    /// away is no use to any client) that either still lead a partition
    /// or stopped leading less than the grace period ago.
    pub fn listed(&self, image: &ClusterImage, now: Instant) -> Vec<BrokerRegistration> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        for (id, b) in &image.brokers {
            if seen.get(id).is_none_or(|(r, gone)| r != b || gone.is_some()) {
                seen.insert(*id, (b.clone(), None));
            }
        }
        if seen.len() == image.brokers.len() {
            return Vec::new();
        }
        let (mut leaders, mut assigned) = (BTreeSet::new(), BTreeSet::new());
        for p in image.topics.values().flat_map(|t| t.partitions.values()) {
            leaders.insert(p.state.leader);
            assigned.extend(p.replicas.iter().copied());
        }
        seen.retain(|id, (_, gone)| {
            if image.brokers.contains_key(id) || leaders.contains(id) {
                return true;
            }
            let since = *gone.get_or_insert(now);
            now.saturating_duration_since(since) < DEPARTED_BROKER_GRACE
        });
        seen.iter()
            .filter(|(id, _)| !image.brokers.contains_key(id) && assigned.contains(id))
            .map(|(_, (b, _))| b.clone())
            .collect()
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{PartitionMetadata, PartitionState};

    /// One partition on `replicas`, led by `leader`, with `live` registered.
    fn image(live: &[i32], replicas: &[i32], leader: i32) -> ClusterImage {
        let mut image = ClusterImage::default();
        for &id in live {
            let port = 9000 + id as u16;
            image.brokers.insert(id, BrokerRegistration::plaintext(id, "127.0.0.1", port, None));
        }
        let partition = PartitionMetadata {
            replicas: replicas.to_vec(),
            state: PartitionState { leader, leader_epoch: 1, isr: live.to_vec() },
            state_zk_version: 0,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        };
        let topic = TopicMetadata {
            name: "t".into(),
            topic_id: uuid::Uuid::nil(),
            partitions: [(0, partition)].into(),
            configs: BTreeMap::new(),
        };
        image.topics.insert("t".into(), topic);
        image
    }

    fn ids(b: &[BrokerRegistration]) -> Vec<i32> {
        b.iter().map(|b| b.id).collect()
    }

    #[test]
    fn a_dead_leader_is_listed_until_the_grace_period_after_its_partitions_moved() {
        let d = DepartedBrokers::default();
        let t0 = Instant::now();
        assert!(d.listed(&image(&[1, 2, 3], &[1, 2, 3], 1), t0).is_empty());
        // Its session expired; the controller has not elected yet.
        let dead = image(&[2, 3], &[1, 2, 3], 1);
        let listed = d.listed(&dead, t0 + DEPARTED_BROKER_GRACE * 5);
        assert_eq!(ids(&listed), vec![1]);
        assert_eq!(listed[0].port, 9001, "with the address it registered");
        // Broker 2 leads now: the grace period starts.
        let moved = image(&[2, 3], &[1, 2, 3], 2);
        let t1 = t0 + DEPARTED_BROKER_GRACE * 6;
        assert_eq!(ids(&d.listed(&moved, t1)), vec![1]);
        let end = t1 + DEPARTED_BROKER_GRACE;
        assert_eq!(ids(&d.listed(&moved, end - Duration::from_millis(1))), vec![1]);
        assert!(d.listed(&moved, end).is_empty(), "forgotten after the grace period");
        assert!(d.listed(&moved, end + DEPARTED_BROKER_GRACE).is_empty());
    }

    #[test]
    fn a_departed_broker_no_partition_names_is_not_listed() {
        let d = DepartedBrokers::default();
        let t0 = Instant::now();
        d.listed(&image(&[1, 2, 3], &[2, 3], 2), t0);
        assert!(d.listed(&image(&[2, 3], &[2, 3], 2), t0).is_empty());
    }

    #[test]
    fn a_returning_broker_starts_a_new_grace_period_when_it_leaves_again() {
        let d = DepartedBrokers::default();
        let t0 = Instant::now();
        d.listed(&image(&[1, 2], &[1, 2], 2), t0);
        d.listed(&image(&[2], &[1, 2], 2), t0);
        let back = t0 + DEPARTED_BROKER_GRACE;
        assert!(d.listed(&image(&[1, 2], &[1, 2], 2), back).is_empty(), "live, listed as such");
        let again = back + DEPARTED_BROKER_GRACE;
        assert_eq!(ids(&d.listed(&image(&[2], &[1, 2], 2), again)), vec![1]);
    }
}
