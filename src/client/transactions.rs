//! The transaction admin calls behind `kafka-transactions.sh`: list every
//! broker's transactions, describe one through its coordinator, the
//! producers of a partition from its leader, and aborting a partition's
//! open transaction there (Kafka's `Admin.abortTransaction`).

use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::describe_producers_response::ProducerState;
use kafka_protocol::messages::describe_transactions_response::TransactionState;
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{
    DescribeProducersRequest, DescribeTransactionsRequest, FindCoordinatorRequest,
    ListTransactionsRequest, ProducerId, TopicName, TransactionalId, WriteTxnMarkersRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::error::{Error, Result};
use super::Cluster;

/// One row of `list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedTransaction {
    pub transactional_id: String,
    pub coordinator: i32,
    pub producer_id: i64,
    pub state: String,
}

/// Every transaction of every broker (each coordinates its own).
pub async fn list_transactions(cluster: &Cluster) -> Result<Vec<ListedTransaction>> {
    let md = cluster.refresh(Some(&[]), false).await?;
    let mut out = Vec::new();
    for &id in md.brokers.keys() {
        let conn = cluster.broker(id).await?;
        let resp = conn.send(&ListTransactionsRequest::default()).await?;
        if let Some(e) = Error::from_code(resp.error_code, None) {
            return Err(e);
        }
        out.extend(resp.transaction_states.into_iter().map(|s| ListedTransaction {
            transactional_id: s.transactional_id.0.to_string(),
            coordinator: id,
            producer_id: s.producer_id.0,
            state: s.transaction_state.to_string(),
        }));
    }
    Ok(out)
}

/// The broker coordinating `transactional_id` (FindCoordinator, key type 1),
/// with the cluster metadata refreshed so a connection to it can be made.
pub async fn find_transaction_coordinator(
    cluster: &Cluster,
    transactional_id: &str,
) -> Result<i32> {
    let conn = cluster.any_broker();
    let mut find = FindCoordinatorRequest::default();
    let key = StrBytes::from_string(transactional_id.to_string());
    find.key_type = 1;
    // v4 (KIP-699) moved the key into a batch.
    if conn.version::<FindCoordinatorRequest>()? >= 4 {
        find.coordinator_keys = vec![key];
    } else {
        find.key = key;
    }
    let found = conn.send(&find).await?;
    let (node, code, message) = match found.coordinators.first() {
        Some(c) => (c.node_id.0, c.error_code, c.error_message.as_deref().map(str::to_string)),
        None => (found.node_id.0, found.error_code, found.error_message.map(|m| m.to_string())),
    };
    if let Some(e) = Error::from_code(code, message.as_deref()) {
        return Err(e);
    }
    cluster.refresh(Some(&[]), false).await?;
    Ok(node)
}

/// A transactional id's state and the broker coordinating it.
pub async fn describe_transaction(
    cluster: &Cluster,
    transactional_id: &str,
) -> Result<(i32, TransactionState)> {
    let node = find_transaction_coordinator(cluster, transactional_id).await?;
    let conn = cluster.broker(node).await?;
    let mut req = DescribeTransactionsRequest::default();
    req.transactional_ids = vec![TransactionalId(StrBytes::from_string(transactional_id.into()))];
    let resp = conn.send(&req).await?;
    let state = resp
        .transaction_states
        .into_iter()
        .next()
        .ok_or_else(|| Error::InvalidArgument("empty DescribeTransactions response".into()))?;
    if let Some(e) = Error::from_code(state.error_code, None) {
        return Err(e);
    }
    Ok((node, state))
}

/// The leader of `topic`-`partition`.
async fn leader_of(cluster: &Cluster, topic: &str, partition: i32) -> Result<i32> {
    let t = cluster.topic(topic, false, std::time::Duration::from_secs(10)).await?;
    t.partitions.iter().find(|p| p.partition == partition).map(|p| p.leader).ok_or_else(|| {
        Error::InvalidArgument(format!("Topic {topic} has no partition {partition}"))
    })
}

/// The transaction to abort on one partition (Kafka's `AbortTransactionSpec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortSpec {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
}

/// Writes an ABORT marker for `spec`'s open transaction on
/// `topic`-`partition` through its leader, as a transaction coordinator
/// would; this unblocks read_committed consumers of a hanging transaction.
pub async fn abort_transaction(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    spec: AbortSpec,
) -> Result<()> {
    let leader = leader_of(cluster, topic, partition).await?;
    let conn = cluster.broker(leader).await?;
    let mut t = WritableTxnMarkerTopic::default();
    t.name = TopicName(StrBytes::from_string(topic.to_string()));
    t.partition_indexes = vec![partition];
    let mut marker = WritableTxnMarker::default();
    marker.producer_id = ProducerId(spec.producer_id);
    marker.producer_epoch = spec.producer_epoch;
    marker.transaction_result = false;
    marker.coordinator_epoch = spec.coordinator_epoch;
    marker.topics = vec![t];
    let mut req = WriteTxnMarkersRequest::default();
    req.markers = vec![marker];
    let resp = conn.send(&req).await?;
    let code = resp
        .markers
        .iter()
        .flat_map(|m| m.topics.iter().flat_map(|t| t.partitions.iter()))
        .map(|p| p.error_code)
        .next()
        .ok_or_else(|| Error::InvalidArgument("empty WriteTxnMarkers response".into()))?;
    match Error::from_code(code, None) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The producers the leader of `topic`-`partition` knows.
pub async fn describe_producers(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
) -> Result<Vec<ProducerState>> {
    let leader = leader_of(cluster, topic, partition).await?;
    let conn = cluster.broker(leader).await?;
    let mut req = DescribeProducersRequest::default();
    let mut tr = TopicRequest::default();
    tr.name = TopicName(StrBytes::from_string(topic.to_string()));
    tr.partition_indexes = vec![partition];
    req.topics = vec![tr];
    let resp = conn.send(&req).await?;
    let p = resp
        .topics
        .into_iter()
        .flat_map(|t| t.partitions)
        .next()
        .ok_or_else(|| Error::InvalidArgument("empty DescribeProducers response".into()))?;
    if let Some(e) = Error::from_code(p.error_code, p.error_message.as_deref()) {
        return Err(e);
    }
    Ok(p.active_producers)
}

/// A producer whose transaction on a partition looks abandoned (Kafka's
/// `FindHangingTransactionsCommand`).
#[derive(Clone, Debug, PartialEq)]
pub struct HangingTransaction {
    pub topic: String,
    pub partition: i32,
    pub producer: ProducerState,
}

/// Open transactions on `partitions` whose producer last wrote more than
/// `max_timeout_ms` before `now_ms` and that no coordinator holds open on
/// that partition: the coordinator lost them, so no marker will come.
pub async fn find_hanging(
    cluster: &Cluster,
    partitions: &[(String, i32)],
    max_timeout_ms: i64,
    now_ms: i64,
) -> Result<Vec<HangingTransaction>> {
    let mut candidates = Vec::new();
    for (topic, partition) in partitions {
        for p in describe_producers(cluster, topic, *partition).await? {
            if p.current_txn_start_offset >= 0
                && now_ms.saturating_sub(p.last_timestamp) > max_timeout_ms
            {
                candidates.push(HangingTransaction {
                    topic: topic.clone(),
                    partition: *partition,
                    producer: p,
                });
            }
        }
    }
    if candidates.is_empty() {
        return Ok(candidates);
    }
    let listed = list_transactions(cluster).await?;
    let mut hanging = Vec::new();
    for c in candidates {
        let mut open_here = false;
        for t in listed.iter().filter(|t| t.producer_id == c.producer.producer_id.0) {
            let Ok((_, state)) = describe_transaction(cluster, &t.transactional_id).await else {
                continue;
            };
            open_here |= state.transaction_state.as_str() == "Ongoing"
                && state.topics.iter().any(|tp| {
                    tp.topic.0.as_str() == c.topic && tp.partitions.contains(&c.partition)
                });
        }
        if !open_here {
            hanging.push(c);
        }
    }
    Ok(hanging)
}

/// The partitions `find-hanging` searches: one partition, a topic's, or
/// every partition with a replica on a broker.
pub async fn partitions_to_search(
    cluster: &Cluster,
    topic: Option<&str>,
    partition: Option<i32>,
    broker_id: Option<i32>,
) -> Result<Vec<(String, i32)>> {
    if let (Some(topic), Some(p)) = (topic, partition) {
        return Ok(vec![(topic.to_string(), p)]);
    }
    let md = cluster.refresh(topic.map(|t| vec![t.to_string()]).as_deref(), false).await?;
    let mut out = Vec::new();
    for t in md.topics.values() {
        if let Some(e) = Error::from_code(t.error_code, None) {
            return Err(e);
        }
        for p in &t.partitions {
            if broker_id.is_none_or(|b| p.replicas.contains(&b)) {
                out.push((t.name.clone(), p.partition));
            }
        }
    }
    Ok(out)
}
