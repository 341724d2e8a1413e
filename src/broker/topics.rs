//! Topic creation, partition addition and deletion, shared by CreateTopics,
//! CreatePartitions, DeleteTopics and Metadata's auto-creation. Decides the
//! replica assignment, takes the initial partition state from the
//! controller's rule, and writes both to the store.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::error::ApiError;
use super::{topic_config, BrokerContext};
use crate::cluster::{ClusterImage, PartitionMetadata, PartitionState, TopicMetadata};
use crate::controller::election::initial_leader_and_isr;
use crate::protocol::ErrorCode;
use crate::types::validate_topic_name;

/// What a client asked for.
#[derive(Clone, Debug, Default)]
pub struct TopicRequest {
    pub name: String,
    /// -1 for `num.partitions`.
    pub num_partitions: i32,
    /// -1 for `default.replication.factor`.
    pub replication_factor: i16,
    /// Explicit assignment, partition → brokers; empty for automatic.
    pub assignment: BTreeMap<i32, Vec<i32>>,
    pub configs: BTreeMap<String, String>,
}

/// Builds the topic's metadata after validating the request against the
/// cluster, without writing anything.
pub fn plan_topic(
    ctx: &BrokerContext,
    image: &ClusterImage,
    req: &TopicRequest,
) -> Result<TopicMetadata, ApiError> {
    validate_topic_name(&req.name)
        .map_err(|e| ApiError::new(ErrorCode::InvalidTopicException, e.to_string()))?;
    if image.topics.contains_key(&req.name) {
        return Err(ApiError::new(
            ErrorCode::TopicAlreadyExists,
            format!("Topic '{}' already exists.", req.name),
        ));
    }
    // Only a name with '.' or '_' can collide with another: the scan of
    // every topic is skipped for the rest (a thousand topics created in one
    // request would otherwise compare each with all the others).
    let may_collide = req.name.contains(['.', '_']);
    let clash = may_collide
        .then(|| image.topics.keys().find(|t| *t != &req.name && collides(t, &req.name)))
        .flatten();
    if let Some(clash) = clash {
        return Err(ApiError::new(
            ErrorCode::InvalidTopicException,
            format!("Topic '{}' collides with existing topic: {clash}", req.name),
        ));
    }
    topic_config::validate_all(&req.configs)
        .map_err(|e| ApiError::new(ErrorCode::InvalidConfig, e.to_string()))?;
    let live: Vec<i32> = image.brokers.keys().copied().collect();
    let assignment = if req.assignment.is_empty() {
        let partitions =
            if req.num_partitions == -1 { ctx.config.num_partitions } else { req.num_partitions };
        if partitions < 1 {
            return Err(ApiError::new(
                ErrorCode::InvalidPartitions,
                "Number of partitions must be larger than 0.",
            ));
        }
        let rf = if req.replication_factor == -1 {
            ctx.config.default_replication_factor
        } else {
            req.replication_factor
        };
        if rf < 1 {
            return Err(ApiError::new(
                ErrorCode::InvalidReplicationFactor,
                "Replication factor must be larger than 0.",
            ));
        }
        assign(&live, 0, partitions, rf)?
    } else {
        if req.num_partitions != -1 || req.replication_factor != -1 {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.",
            ));
        }
        validate_assignment(&live, 0, &req.assignment)?;
        req.assignment.clone()
    };
    Ok(TopicMetadata {
        name: req.name.clone(),
        topic_id: uuid::Uuid::new_v4(),
        partitions: initial_states(image, assignment),
        configs: req.configs.clone(),
    })
}

/// Kafka refuses topics whose names differ only in '.' versus '_', because
/// metric names would collide.
fn collides(a: &str, b: &str) -> bool {
    a.replace('.', "_") == b.replace('.', "_")
}

/// The most partitions a topic may have. Kafka has no such key, but a
/// topic's assignment znode must fit in ZooKeeper's `jute.maxbuffer` (1 MB),
/// which holds about this many partitions, so Kafka fails beyond it too;
/// refusing up front keeps a hostile count from sizing the assignment.
pub const MAX_PARTITIONS: i32 = 65_536;

/// Round-robin assignment over the live brokers, starting at partition
/// `first`, like Kafka's rack-unaware `assignReplicasToBrokers`.
pub fn assign(
    live: &[i32],
    first: i32,
    count: i32,
    rf: i16,
) -> Result<BTreeMap<i32, Vec<i32>>, ApiError> {
    if live.is_empty() || rf as usize > live.len() {
        return Err(ApiError::new(
            ErrorCode::InvalidReplicationFactor,
            format!("Replication factor: {rf} larger than available brokers: {}.", live.len()),
        ));
    }
    let end = first.checked_add(count).filter(|&end| end <= MAX_PARTITIONS).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidPartitions,
            format!(
                "Number of partitions {} is above the {MAX_PARTITIONS} a topic can hold.",
                i64::from(first) + i64::from(count)
            ),
        )
    })?;
    let n = live.len();
    Ok((first..end)
        .map(|p| {
            let replicas = (0..rf as usize).map(|j| live[(p as usize + j) % n]).collect();
            (p, replicas)
        })
        .collect())
}

/// An explicit assignment must cover partitions `first..` contiguously,
/// name each broker once per partition, use one replication factor and
/// name only live brokers.
pub fn validate_assignment(
    live: &[i32],
    first: i32,
    a: &BTreeMap<i32, Vec<i32>>,
) -> Result<(), ApiError> {
    let bad = |m: String| Err(ApiError::new(ErrorCode::InvalidReplicaAssignment, m));
    let expected: Vec<i32> = (first..first + a.len() as i32).collect();
    if a.keys().copied().collect::<Vec<_>>() != expected {
        return bad("Partitions should be a consecutive 0-based integer sequence".into());
    }
    let rf = a.values().next().map_or(0, Vec::len);
    for (p, replicas) in a {
        if replicas.is_empty() {
            return bad(format!("Partition {p} has no replicas"));
        }
        if replicas.len() != rf {
            return bad("All partitions should have the same number of replicas".into());
        }
        if replicas.iter().collect::<BTreeSet<_>>().len() != replicas.len() {
            return bad(format!("Duplicate brokers not allowed in replica assignment: {replicas:?} for partition {p}"));
        }
        if let Some(b) = replicas.iter().find(|b| !live.contains(b)) {
            return bad(format!("Unknown broker {b} in replica assignment for partition {p}"));
        }
    }
    Ok(())
}

/// The state each new partition starts with, by the controller's rule
/// for new partitions. A partition none of whose replicas is registered
/// gets no leader and an empty ISR, which the controller initializes once
/// one registers.
pub fn initial_states(
    image: &ClusterImage,
    assignment: BTreeMap<i32, Vec<i32>>,
) -> BTreeMap<i32, PartitionMetadata> {
    assignment
        .into_iter()
        .map(|(p, replicas)| {
            let state = initial_leader_and_isr(&replicas, |b| image.brokers.contains_key(&b))
                .map(|s| PartitionState {
                    leader: s.leader,
                    leader_epoch: s.leader_epoch,
                    isr: s.isr,
                })
                .unwrap_or(PartitionState { leader: -1, leader_epoch: 0, isr: Vec::new() });
            (
                p,
                PartitionMetadata {
                    replicas,
                    state,
                    state_zk_version: 0,
                    adding_replicas: Vec::new(),
                    removing_replicas: Vec::new(),
                },
            )
        })
        .collect()
}

/// Creates a topic; returns its metadata.
pub async fn create_topic(
    ctx: &BrokerContext,
    req: &TopicRequest,
) -> Result<TopicMetadata, ApiError> {
    let mut results = create_topics(ctx, std::slice::from_ref(req)).await;
    results.pop().unwrap_or_else(|| Err(ApiError::new(ErrorCode::UnknownServerError, "")))
}

/// Creates several topics with one write round to the store and one
/// application of the new metadata to the local logs; answers each
/// request's outcome in order. Names are expected to be distinct.
pub async fn create_topics(
    ctx: &BrokerContext,
    reqs: &[TopicRequest],
) -> Vec<Result<TopicMetadata, ApiError>> {
    let mut image = ctx.store.image();
    let mut results: Vec<Result<TopicMetadata, ApiError>> = Vec::with_capacity(reqs.len());
    for req in reqs {
        let planned = plan_topic(ctx, &image, req);
        if let Ok(topic) = &planned {
            // Later topics of the same request are checked against this
            // one (a '.' versus '_' collision within one request).
            if topic.name.contains(['.', '_']) {
                Arc::make_mut(&mut image).topics.insert(topic.name.clone(), topic.clone());
            }
        }
        results.push(planned);
    }
    let planned: Vec<TopicMetadata> = results.iter().flatten().cloned().collect();
    if planned.is_empty() {
        return results;
    }
    let written = match ctx.store.create_topics(planned).await {
        Ok(written) => written,
        Err(e) => {
            let e = ApiError::from(e);
            return results.into_iter().map(|r| r.and(Err(e.clone()))).collect();
        }
    };
    let mut written = written.into_iter();
    for r in results.iter_mut().filter(|r| r.is_ok()) {
        if let Some(Err(e)) = written.next() {
            *r = Err(e.into());
        }
    }
    let failed = ctx.apply_metadata().await;
    let mut taken_back = false;
    for r in results.iter_mut() {
        let Ok(topic) = r else { continue };
        if let Some((tp, why)) = failed.iter().find(|(tp, _)| tp.topic == topic.name) {
            *r = Err(take_back(ctx, topic, tp, why).await);
            taken_back = true;
        } else {
            tracing::info!(topic = %topic.name, partitions = topic.partitions.len(), "created topic");
        }
    }
    if taken_back {
        ctx.apply_metadata().await;
    }
    results
}

/// A topic whose log cannot exist here would take every produce to that
/// partition for good: take it back, so a retry can succeed.
async fn take_back(
    ctx: &BrokerContext,
    topic: &TopicMetadata,
    tp: &crate::types::TopicPartition,
    why: &str,
) -> ApiError {
    let mut message =
        format!("Could not create the log of partition {tp} on broker {}: {why}", ctx.broker_id);
    // The same full disk can refuse the take-back too (an embedded
    // ZooKeeper logs to it): then the topic stays, and the client must
    // hear so, since its log is created by a later metadata change.
    // The creation itself may not have been durable (the coordinator
    // rolled it back): then there is nothing to take back.
    match ctx.store.delete_topic(&topic.name).await {
        Ok(()) | Err(crate::cluster::Error::UnknownTopic(_)) => {}
        Err(e) => {
            tracing::error!(topic = %topic.name, "cannot take back a topic whose log failed: {e}");
            message.push_str(&format!("; the topic may exist and could not be taken back: {e}"));
        }
    }
    ApiError::new(ErrorCode::KafkaStorageError, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_partitions_follow_the_controllers_new_partition_rule() {
        let mut image = ClusterImage::default();
        for id in [1, 2] {
            let reg = crate::cluster::BrokerRegistration::plaintext(id, "h", 9092, None);
            image.brokers.insert(id, reg);
        }
        let assignment = BTreeMap::from([(0, vec![3, 1, 2]), (1, vec![3])]);
        let states = initial_states(&image, assignment);
        let s0 = &states[&0].state;
        assert_eq!(
            (s0.leader, s0.isr.clone()),
            (1, vec![1, 2]),
            "first live replica leads; every live replica of an empty log is in sync"
        );
        let s1 = &states[&1].state;
        assert_eq!(
            (s1.leader, s1.isr.clone()),
            (-1, vec![]),
            "no live replica: no leader, empty ISR"
        );
    }

    #[test]
    fn round_robin_assignment() {
        let a = assign(&[1, 2, 3], 0, 3, 2).unwrap();
        assert_eq!(a[&0], vec![1, 2], "first partition starts at the first broker");
        assert_eq!(a[&1], vec![2, 3]);
        assert_eq!(a[&2], vec![3, 1], "wraps around");
        let err = assign(&[1], 0, i32::MAX, 1).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidPartitions, "{err:?}");
        let err = assign(&[1], 65_000, i32::MAX, 1).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidPartitions, "overflow is refused: {err:?}");
        assert!(assign(&[1], 0, MAX_PARTITIONS, 1).is_ok());
        let err = assign(&[1], 0, 1, 2).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidReplicationFactor, "more replicas than brokers");
    }

    #[test]
    fn explicit_assignments() {
        let live = [1, 2];
        let ok: BTreeMap<i32, Vec<i32>> = [(0, vec![1, 2]), (1, vec![2, 1])].into();
        assert!(validate_assignment(&live, 0, &ok).is_ok());
        let cases: Vec<(BTreeMap<i32, Vec<i32>>, &str)> = vec![
            ([(1, vec![1])].into(), "must start at partition 0"),
            ([(0, vec![1, 1])].into(), "duplicate broker"),
            ([(0, vec![1]), (1, vec![1, 2])].into(), "uneven replication factor"),
            ([(0, vec![9])].into(), "unknown broker"),
            ([(0, vec![])].into(), "no replicas"),
        ];
        for (a, why) in cases {
            assert_eq!(
                validate_assignment(&live, 0, &a).unwrap_err().code,
                ErrorCode::InvalidReplicaAssignment,
                "{why}"
            );
        }
    }

    #[test]
    fn dot_underscore_collision() {
        assert!(collides("a.b", "a_b"));
        assert!(!collides("a.b", "a.c"));
    }
}
