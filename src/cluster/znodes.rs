//! Kafka's znode layout and JSON shapes in ZooKeeper mode, as Kafka 2.x
//! writes and reads them (`kafka.zk.ZkData`). Pure: paths and bytes in,
//! values out; the ZooKeeper client lives in `zk_store`.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Value};

use super::{BrokerRegistration, PartitionState};

/// Partition → replicas, as `/brokers/topics/<t>` holds it.
pub type Assignment = BTreeMap<i32, Vec<i32>>;

/// Created at startup (`ZkData.PersistentZkPaths`).
pub const PERSISTENT_PATHS: &[&str] = &[
    "/consumers",
    "/brokers/ids",
    "/brokers/topics",
    "/config/changes",
    "/config/topics",
    "/config/clients",
    "/config/users",
    "/config/brokers",
    "/admin/delete_topics",
    "/brokers/seqid",
    "/isr_change_notification",
    "/latest_producer_id_block",
    "/log_dir_event_notification",
];

pub const BROKER_IDS: &str = "/brokers/ids";
pub const TOPICS: &str = "/brokers/topics";
pub const CONTROLLER: &str = "/controller";
pub const CONTROLLER_EPOCH: &str = "/controller_epoch";
pub const CLUSTER_ID: &str = "/cluster/id";
pub const DELETE_TOPICS: &str = "/admin/delete_topics";
pub const PREFERRED_REPLICA_ELECTION: &str = "/admin/preferred_replica_election";
pub const REASSIGN_PARTITIONS: &str = "/admin/reassign_partitions";
/// Not Kafka's: where a stopping broker asks the controller to move its
/// leaderships (see `controlled_shutdown`).
pub const CONTROLLED_SHUTDOWN: &str = "/admin/controlled_shutdown";
pub const SEQID: &str = "/brokers/seqid";
pub const PRODUCER_ID_BLOCK: &str = "/latest_producer_id_block";
pub const CONFIG_CHANGE_PREFIX: &str = "/config/changes/config_change_";
/// Ids from `/brokers/seqid` start above `reserved.broker.max.id`.
pub const RESERVED_BROKER_MAX_ID: i32 = 1000;

pub fn broker(id: i32) -> String {
    format!("{BROKER_IDS}/{id}")
}

/// The id a `/brokers/ids/<id>` path names.
pub fn broker_id_of(path: &str) -> Option<i32> {
    path.strip_prefix(BROKER_IDS)?.strip_prefix('/')?.parse().ok()
}
pub fn topic(t: &str) -> String {
    format!("{TOPICS}/{t}")
}
pub fn partitions(t: &str) -> String {
    format!("{TOPICS}/{t}/partitions")
}
pub fn partition(t: &str, p: i32) -> String {
    format!("{TOPICS}/{t}/partitions/{p}")
}
pub fn partition_state(t: &str, p: i32) -> String {
    format!("{TOPICS}/{t}/partitions/{p}/state")
}
/// The topic and partition of a [`partition_state`] path.
pub fn partition_state_path(path: &str) -> Option<(&str, i32)> {
    let rest = path.strip_prefix(TOPICS)?.strip_prefix('/')?;
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        [t, "partitions", p, "state"] => Some((*t, p.parse().ok()?)),
        _ => None,
    }
}
pub fn topic_config(t: &str) -> String {
    format!("/config/topics/{t}")
}
pub fn delete_topic(t: &str) -> String {
    format!("/admin/delete_topics/{t}")
}

/// Where OffsetCommit v0 keeps a group's offset (`ZkData.ConsumerPathZNode`),
/// as the offset in decimal text.
pub fn consumer_offset(group: &str, topic: &str, partition: i32) -> String {
    format!("/consumers/{group}/offsets/{topic}/{partition}")
}

/// A stopping broker's controlled-shutdown request: ephemeral, created
/// empty; the controller answers by writing the partitions the broker still
/// leads ([`partition_list_json`]). Kafka sends ControlledShutdown (API 7)
/// instead; the codec we use no longer carries that API (Kafka 4.0 removed
/// it with ZooKeeper), and a znode needs no connection to the controller,
/// dies with a crashed broker, and reaches the controller through the watch
/// it already keeps.
pub fn controlled_shutdown(broker: i32) -> String {
    format!("{CONTROLLED_SHUTDOWN}/{broker}")
}

/// Kafka's `Uuid.toString`: URL-safe base64 without padding.
pub fn uuid_text(id: uuid::Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

pub fn parse_uuid(s: &str) -> Option<uuid::Uuid> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).ok()?;
    uuid::Uuid::from_slice(&bytes).ok()
}

/// `/brokers/ids/<id>` v5, as Kafka's `BrokerIdZNode.encode` writes it:
/// every listener in `endpoints` under its name, the names' protocols in
/// `listener_security_protocol_map`, and top-level `host`/`port` from the
/// PLAINTEXT endpoint (null and -1 without one) for pre-0.10 readers.
pub fn broker_json(b: &BrokerRegistration, timestamp_ms: i64) -> Vec<u8> {
    let plaintext =
        b.endpoints.iter().find(|e| e.security_protocol == super::SecurityProtocol::Plaintext);
    let endpoints: Vec<String> = b
        .endpoints
        .iter()
        .map(|e| format!("{}://{}:{}", e.listener_name, bracket_ipv6(&e.host), e.port))
        .collect();
    let protocols: serde_json::Map<String, Value> = b
        .endpoints
        .iter()
        .map(|e| (e.listener_name.clone(), json!(e.security_protocol.name())))
        .collect();
    let mut v = json!({
        "version": 5,
        "host": plaintext.map(|e| e.host.clone()),
        "port": plaintext.map_or(-1, |e| i32::from(e.port)),
        "jmx_port": -1,
        "timestamp": timestamp_ms.to_string(),
        "endpoints": endpoints,
        "listener_security_protocol_map": protocols,
        "features": {},
    });
    if let Some(rack) = &b.rack {
        v["rack"] = json!(rack);
    }
    v.to_string().into_bytes()
}

fn bracket_ipv6(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Any version from 0.8's v1 to v5. v2 and v3 have `endpoints` named by
/// protocol and no map; v4+ name listeners and map them to protocols.
pub fn parse_broker(id: i32, data: &[u8]) -> Option<BrokerRegistration> {
    let v: Value = serde_json::from_slice(data).ok()?;
    let rack = v.get("rack").and_then(Value::as_str).map(str::to_string);
    let protocols = v.get("listener_security_protocol_map").and_then(Value::as_object);
    let endpoints: Vec<super::BrokerEndpoint> = v
        .get("endpoints")
        .and_then(Value::as_array)
        .map(|eps| {
            eps.iter()
                .filter_map(Value::as_str)
                .filter_map(|e| {
                    let (name, rest) = e.split_once("://")?;
                    let (host, port) = rest.rsplit_once(':')?;
                    let protocol =
                        protocols.and_then(|m| m.get(name)).and_then(Value::as_str).unwrap_or(name);
                    Some(super::BrokerEndpoint {
                        listener_name: name.to_string(),
                        security_protocol: super::SecurityProtocol::from_name(protocol)?,
                        host: host.trim_start_matches('[').trim_end_matches(']').to_string(),
                        port: port.parse().ok()?,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    if !endpoints.is_empty() {
        return Some(BrokerRegistration::with_endpoints(id, endpoints, rack));
    }
    let host = v.get("host")?.as_str()?.to_string();
    let port = u16::try_from(v.get("port")?.as_i64()?).ok()?;
    Some(BrokerRegistration::plaintext(id, host, port, rack))
}

/// `/brokers/topics/<t>` v3 with no reassignment in progress.
pub fn topic_json(assignment: &BTreeMap<i32, Vec<i32>>, topic_id: uuid::Uuid) -> Vec<u8> {
    let none = Assignment::new();
    topic_json_reassigning(assignment, &none, &none, topic_id)
}

/// `/brokers/topics/<t>` v3 during a reassignment (KIP-455): `partitions`
/// holds the full replica set (original plus target), and only partitions
/// being reassigned appear in `adding_replicas` / `removing_replicas`,
/// as Kafka's `TopicZNode.encode` writes them.
pub fn topic_json_reassigning(
    assignment: &Assignment,
    adding: &Assignment,
    removing: &Assignment,
    topic_id: uuid::Uuid,
) -> Vec<u8> {
    let object = |a: &Assignment| -> serde_json::Map<String, Value> {
        a.iter().filter(|(_, r)| !r.is_empty()).map(|(p, r)| (p.to_string(), json!(r))).collect()
    };
    json!({
        "version": 3,
        "partitions": object(assignment),
        "adding_replicas": object(adding),
        "removing_replicas": object(removing),
        "topic_id": uuid_text(topic_id),
    })
    .to_string()
    .into_bytes()
}

/// A JSON list of broker ids (replicas, an ISR); `None` if any is not an
/// i32.
fn broker_ids(v: &Value) -> Option<Vec<i32>> {
    v.as_array()?.iter().map(|r| r.as_i64().and_then(|r| i32::try_from(r).ok())).collect()
}

fn parse_assignment(v: &Value) -> Option<Assignment> {
    let mut assignment = BTreeMap::new();
    for (p, replicas) in v.as_object()? {
        assignment.insert(p.parse().ok()?, broker_ids(replicas)?);
    }
    Some(assignment)
}

/// The entries of a `{"partitions":[{"topic":"t","partition":0,...}]}`
/// document, each with what `rest` reads from it; entries that do not
/// parse are skipped.
fn partition_entries<T>(
    data: &[u8],
    rest: impl Fn(&Value) -> Option<T>,
) -> Vec<(crate::types::TopicPartition, T)> {
    let v: Value = serde_json::from_slice(data).unwrap_or(Value::Null);
    let Some(list) = v.get("partitions").and_then(Value::as_array) else { return Vec::new() };
    list.iter()
        .filter_map(|e| {
            let topic = e.get("topic")?.as_str()?;
            let partition = i32::try_from(e.get("partition")?.as_i64()?).ok()?;
            Some((crate::types::TopicPartition::new(topic, partition), rest(e)?))
        })
        .collect()
}

/// An assignment as any Kafka version wrote it; the topic id is absent
/// before v3 (and when a tool wrote the znode directly).
pub fn parse_topic(data: &[u8]) -> Option<(Assignment, Option<uuid::Uuid>)> {
    let v: Value = serde_json::from_slice(data).ok()?;
    let assignment = parse_assignment(v.get("partitions")?)?;
    let id = v.get("topic_id").and_then(Value::as_str).and_then(parse_uuid);
    Some((assignment, id))
}

/// The reassignments a topic znode records (v2+): adding and removing
/// replicas per partition, empty when none is in progress or the znode
/// predates them.
pub fn parse_topic_reassignments(data: &[u8]) -> (Assignment, Assignment) {
    let v: Value = serde_json::from_slice(data).unwrap_or(Value::Null);
    let read = |k: &str| v.get(k).and_then(parse_assignment).unwrap_or_default();
    (read("adding_replicas"), read("removing_replicas"))
}

/// `/admin/reassign_partitions`, as tools of Kafka's ZooKeeper era write
/// it: `{"version":1,"partitions":[{"topic":"t","partition":0,
/// "replicas":[1,2]}]}`; entries that do not parse are skipped.
pub fn parse_reassign_partitions(data: &[u8]) -> Vec<(crate::types::TopicPartition, Vec<i32>)> {
    partition_entries(data, |e| broker_ids(e.get("replicas")?))
}

/// The inverse of [`parse_reassign_partitions`].
pub fn reassign_partitions_json(entries: &[(crate::types::TopicPartition, Vec<i32>)]) -> Vec<u8> {
    let list: Vec<Value> = entries
        .iter()
        .map(|(tp, r)| json!({"topic": tp.topic, "partition": tp.partition.0, "replicas": r}))
        .collect();
    json!({"version": 1, "partitions": list}).to_string().into_bytes()
}

/// `/brokers/topics/<t>/partitions/<p>/state`.
pub fn partition_state_json(s: &PartitionState, controller_epoch: i32) -> Vec<u8> {
    json!({
        "controller_epoch": controller_epoch,
        "leader": s.leader,
        "version": 1,
        "leader_epoch": s.leader_epoch,
        "isr": s.isr,
    })
    .to_string()
    .into_bytes()
}

pub fn parse_partition_state(data: &[u8]) -> Option<PartitionState> {
    let v: Value = serde_json::from_slice(data).ok()?;
    let int = |k: &str| v.get(k).and_then(Value::as_i64).and_then(|x| i32::try_from(x).ok());
    let isr = broker_ids(v.get("isr")?)?;
    Some(PartitionState { leader: int("leader")?, leader_epoch: int("leader_epoch")?, isr })
}

/// The epoch of the controller that wrote a state znode.
pub fn parse_state_controller_epoch(data: &[u8]) -> Option<i32> {
    let v: Value = serde_json::from_slice(data).ok()?;
    i32::try_from(v.get("controller_epoch")?.as_i64()?).ok()
}

/// `{"version":1,"partitions":[{"topic":"t","partition":0}]}`, as
/// `/admin/preferred_replica_election` and Kafka's election JSON files
/// hold it; entries that do not parse are skipped.
pub fn parse_partition_list(data: &[u8]) -> Vec<crate::types::TopicPartition> {
    partition_entries(data, |_| Some(())).into_iter().map(|(tp, ())| tp).collect()
}

/// The inverse of [`parse_partition_list`].
pub fn partition_list_json(partitions: &[crate::types::TopicPartition]) -> Vec<u8> {
    let list: Vec<Value> = partitions
        .iter()
        .map(|tp| json!({"topic": tp.topic, "partition": tp.partition.0}))
        .collect();
    json!({"version": 1, "partitions": list}).to_string().into_bytes()
}

/// `/config/topics/<t>`.
pub fn config_json(configs: &BTreeMap<String, String>) -> Vec<u8> {
    json!({"version": 1, "config": configs}).to_string().into_bytes()
}

pub fn parse_config(data: &[u8]) -> BTreeMap<String, String> {
    let v: Value = serde_json::from_slice(data).unwrap_or(Value::Null);
    v.get("config")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

/// `/config/changes/config_change_N` for a topic.
pub fn config_change_json(t: &str) -> Vec<u8> {
    entity_config_change_json("topics", t)
}

/// `/config/changes/config_change_N` for any entity (`users/alice`).
pub fn entity_config_change_json(entity_type: &str, name: &str) -> Vec<u8> {
    json!({"version": 2, "entity_path": format!("{entity_type}/{name}")}).to_string().into_bytes()
}

/// The entity name of the cluster-wide broker default
/// (`/config/brokers/<default>`, Kafka's `ConfigEntityName.Default`).
pub const BROKER_DEFAULT: &str = "<default>";

/// `/config/<entity type>/<name>`: `users`, `clients`, `brokers`.
pub fn entity_config(entity_type: &str, name: &str) -> String {
    format!("/config/{entity_type}/{name}")
}

/// `/cluster/id`; its version is a string.
pub fn cluster_id_json(id: &str) -> Vec<u8> {
    json!({"version": "1", "id": id}).to_string().into_bytes()
}

pub fn parse_cluster_id(data: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(data).ok()?;
    Some(v.get("id")?.as_str()?.to_string())
}

/// `/controller`.
pub fn controller_json(broker: i32, timestamp_ms: i64) -> Vec<u8> {
    json!({"version": 1, "brokerid": broker, "timestamp": timestamp_ms.to_string()})
        .to_string()
        .into_bytes()
}

pub fn parse_controller(data: &[u8]) -> Option<i32> {
    let v: Value = serde_json::from_slice(data).ok()?;
    i32::try_from(v.get("brokerid")?.as_i64()?).ok()
}

/// `/latest_producer_id_block`; block ends are strings.
pub fn producer_id_block_json(broker: i32, first: i64, last: i64) -> Vec<u8> {
    json!({"version": 1, "broker": broker, "block_start": first.to_string(), "block_end": last.to_string()})
        .to_string()
        .into_bytes()
}

pub fn parse_producer_id_block_end(data: &[u8]) -> Option<i64> {
    let v: Value = serde_json::from_slice(data).ok()?;
    v.get("block_end")?.as_str()?.parse().ok()
}

/// Replica assignment for a new topic as Kafka's `AdminUtils` does it
/// without racks: partition p's first replica is broker (start + p) mod n,
/// followers follow at a shift that grows each full round.
pub fn assign_replicas(
    brokers: &[i32],
    partitions: i32,
    replication: i32,
    start: usize,
) -> Option<BTreeMap<i32, Vec<i32>>> {
    let n = brokers.len();
    if n == 0 || replication < 1 || replication as usize > n || partitions < 1 {
        return None;
    }
    let mut out = BTreeMap::new();
    let mut shift = start % n;
    for p in 0..partitions as usize {
        if p > 0 && p % n == 0 {
            shift += 1;
        }
        let first = (p + start) % n;
        let mut replicas = vec![brokers[first]];
        for j in 0..replication as usize - 1 {
            let gap = 1 + (shift + j) % (n - 1).max(1);
            replicas.push(brokers[(first + gap) % n]);
        }
        out.insert(p as i32, replicas);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broker_registration_path_names_its_id() {
        assert_eq!(broker_id_of("/brokers/ids/3"), Some(3));
        assert_eq!(broker_id_of(&broker(12)), Some(12));
        assert_eq!(broker_id_of("/brokers/ids"), None);
        assert_eq!(broker_id_of("/brokers/idsx/3"), None);
        assert_eq!(broker_id_of("/brokers/topics/t"), None);
        assert_eq!(broker_id_of("/brokers/ids/x"), None);
    }

    #[test]
    fn broker_json_is_kafkas_v5_and_reads_older_versions() {
        let b = BrokerRegistration::plaintext(1, "localhost", 9092, None);
        let v: Value = serde_json::from_slice(&broker_json(&b, 1_700_000_000_000)).unwrap();
        assert_eq!(v["version"], 5);
        assert_eq!(v["timestamp"], "1700000000000", "the timestamp is a string");
        assert_eq!(v["endpoints"][0], "PLAINTEXT://localhost:9092");
        assert!(v.get("rack").is_none(), "rack only when set");
        assert_eq!(parse_broker(1, &broker_json(&b, 0)), Some(b.clone()));
        let v1 = br#"{"version":1,"host":"old","port":9093,"jmx_port":-1,"timestamp":"1"}"#;
        assert_eq!(parse_broker(2, v1).unwrap().host, "old", "0.8's v1 has host and port only");
    }

    #[test]
    fn broker_json_records_every_listener_as_kafka_does() {
        let ep = |name: &str, protocol, port| super::super::BrokerEndpoint {
            listener_name: name.into(),
            security_protocol: protocol,
            host: "h".into(),
            port,
        };
        use super::super::SecurityProtocol::*;
        let b = BrokerRegistration::with_endpoints(
            3,
            vec![ep("CLIENTS", SaslPlaintext, 9093), ep("REPLICATION", Plaintext, 9094)],
            None,
        );
        assert_eq!((b.host.as_str(), b.port), ("h", 9094), "host/port are the PLAINTEXT one");
        let v: Value = serde_json::from_slice(&broker_json(&b, 0)).unwrap();
        assert_eq!(v["endpoints"], json!(["CLIENTS://h:9093", "REPLICATION://h:9094"]));
        assert_eq!(
            v["listener_security_protocol_map"],
            json!({"CLIENTS": "SASL_PLAINTEXT", "REPLICATION": "PLAINTEXT"})
        );
        assert_eq!(parse_broker(3, &broker_json(&b, 0)), Some(b.clone()));
        assert_eq!(b.endpoint("CLIENTS"), Some(("h", 9093)));
        assert_eq!(b.endpoint("OTHER"), None, "no address for a listener the broker lacks");

        let sasl_only =
            BrokerRegistration::with_endpoints(4, vec![ep("SASL_SSL", SaslSsl, 1)], None);
        let v: Value = serde_json::from_slice(&broker_json(&sasl_only, 0)).unwrap();
        assert_eq!((v["host"].clone(), v["port"].clone()), (Value::Null, json!(-1)));
        let v3 = br#"{"version":3,"host":null,"port":-1,"endpoints":["SSL://s:9095"]}"#;
        let parsed = parse_broker(5, v3).unwrap();
        assert_eq!(parsed.endpoints[0].security_protocol, Ssl, "v3 names endpoints by protocol");
    }

    #[test]
    fn topic_json_round_trips_and_reads_0_8_tools() {
        let mut a = BTreeMap::new();
        a.insert(0, vec![1, 2]);
        a.insert(1, vec![2, 1]);
        let id = uuid::Uuid::new_v4();
        let bytes = topic_json(&a, id);
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["partitions"]["1"], json!([2, 1]));
        assert_eq!(v["topic_id"].as_str().unwrap().len(), 22);
        assert_eq!(parse_topic(&bytes), Some((a.clone(), Some(id))));
        let old = br#"{"version":1,"partitions":{"0":[0]}}"#;
        assert_eq!(parse_topic(old).unwrap().1, None, "no topic id before v3");
    }

    #[test]
    fn topic_json_records_reassignments_as_kafkas_topic_znode() {
        let full: Assignment = [(0, vec![1, 2, 0]), (1, vec![0])].into();
        let adding: Assignment = [(0, vec![1, 2]), (1, vec![])].into();
        let removing: Assignment = [(0, vec![0])].into();
        let bytes = topic_json_reassigning(&full, &adding, &removing, uuid::Uuid::new_v4());
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["adding_replicas"], json!({"0": [1, 2]}), "only partitions being reassigned");
        assert_eq!(v["removing_replicas"], json!({"0": [0]}));
        assert_eq!(parse_topic(&bytes).unwrap().0, full);
        let (a, r) = parse_topic_reassignments(&bytes);
        assert_eq!((a, r), ([(0, vec![1, 2])].into(), removing));
        let old = br#"{"version":1,"partitions":{"0":[0]}}"#;
        assert_eq!(parse_topic_reassignments(old), Default::default(), "v1 has none");
    }

    #[test]
    fn reassign_partitions_znode_round_trips() {
        let e = vec![(crate::types::TopicPartition::new("t", 0), vec![1, 2])];
        assert_eq!(parse_reassign_partitions(&reassign_partitions_json(&e)), e);
        let kafka = br#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2],"log_dirs":["any","any"]},{"topic":"x"}]}"#;
        assert_eq!(parse_reassign_partitions(kafka), e, "log_dirs ignored, bad entries skipped");
    }

    #[test]
    fn state_config_and_cluster_id_shapes() {
        let s = PartitionState { leader: 1, leader_epoch: 5, isr: vec![1, 2] };
        let v: Value = serde_json::from_slice(&partition_state_json(&s, 3)).unwrap();
        assert_eq!((v["version"].clone(), v["controller_epoch"].clone()), (json!(1), json!(3)));
        assert_eq!(parse_partition_state(&partition_state_json(&s, 3)), Some(s));
        let v: Value = serde_json::from_slice(&cluster_id_json("abc")).unwrap();
        assert_eq!(v["version"], "1", "a string, as Kafka writes it");
        let mut c = BTreeMap::new();
        c.insert("retention.ms".to_string(), "1000".to_string());
        assert_eq!(parse_config(&config_json(&c)), c);
    }

    #[test]
    fn round_robin_assignment() {
        let a = assign_replicas(&[0, 1, 2], 3, 2, 0).unwrap();
        assert_eq!(a[&0][0], 0);
        assert_eq!(a[&1][0], 1);
        assert_eq!(a[&2][0], 2, "leaders spread round-robin");
        for r in a.values() {
            assert_ne!(r[0], r[1], "replicas on distinct brokers");
        }
        assert!(assign_replicas(&[0], 1, 2, 0).is_none(), "replication above the broker count");
    }
}
