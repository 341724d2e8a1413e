//! The record parsers of `dump-log --offsets-decoder` and
//! `--transaction-log-decoder`: a `__consumer_offsets` or
//! `__transaction_state` record's key and value as the JSON Kafka's
//! `DumpLogSegments` prints, `{"type":"<key version>","data":{...}}` and
//! `{"version":"<value version>","data":{...}}`, with each schema's fields
//! in schema order and only those its version has. A consumer group's
//! member subscriptions and assignments are decoded too, as Kafka does;
//! bytes that do not decode stay base64. The stored formats themselves
//! belong to `coordinator::records` and `transaction::records`.

use base64::Engine;

use crate::client::assignor::{Assignment, Subscription};
use crate::coordinator::records::{
    GroupMetadataValue, MemberMetadataValue, OffsetCommitValue, RecordError, RecordKey,
};
use crate::transaction::records::{decode_key, TransactionLogValue};
use crate::transaction::TransactionState;

/// What Kafka prints for a record's key and payload; `None` prints nothing.
pub type Parsed = (Option<String>, Option<String>);

/// `OffsetsMessageParser`: offset commits and group metadata.
pub fn offsets(offset: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> anyhow::Result<Parsed> {
    let Some(key) = key else {
        anyhow::bail!(
            "Failed to decode message at offset {offset} using offset topic decoder (message had a missing key)"
        );
    };
    let key_version = version(key);
    let decoded = RecordKey::decode(key).and_then(|k| {
        let value = value.map(|v| offsets_value(&k, v)).transpose()?;
        Ok((k, value))
    });
    Ok(match decoded {
        Ok((k, value)) => {
            let data = match &k {
                RecordKey::OffsetCommit { group, topic, partition } => object(&[
                    ("group", string(group)),
                    ("topic", string(topic)),
                    ("partition", partition.to_string()),
                ]),
                RecordKey::GroupMetadata { group } => object(&[("group", string(group))]),
            };
            let key = object(&[("type", string(&key_version.to_string())), ("data", data)]);
            (Some(key), Some(value.unwrap_or_else(|| "<DELETE>".to_string())))
        }
        Err(RecordError::UnknownVersion { what: "record key", version }) => {
            (Some(format!("Unknown record type {version} at offset {offset}, skipping.")), None)
        }
        Err(e) => (Some(format!("Error at offset {offset}, skipping. {e}")), None),
    })
}

fn offsets_value(key: &RecordKey, bytes: &[u8]) -> Result<String, RecordError> {
    let v = version(bytes);
    let data = match key {
        RecordKey::OffsetCommit { .. } => offset_commit(&OffsetCommitValue::decode(bytes)?, v),
        RecordKey::GroupMetadata { .. } => group_metadata(&GroupMetadataValue::decode(bytes)?, v),
    };
    Ok(object(&[("version", string(&v.to_string())), ("data", data)]))
}

/// `OffsetCommitValue`: leaderEpoch from v3, expireCommitTimestamp in v1 only.
fn offset_commit(c: &OffsetCommitValue, version: i16) -> String {
    let mut f = vec![("offset", c.offset.to_string())];
    if version >= 3 {
        f.push(("leaderEpoch", c.leader_epoch.to_string()));
    }
    f.push(("metadata", string(&c.metadata)));
    f.push(("commitTimestamp", c.commit_timestamp.to_string()));
    if version == 1 {
        f.push(("expireCommitTimestamp", c.expire_timestamp.unwrap_or(-1).to_string()));
    }
    object(&f)
}

/// `GroupMetadataValue`: currentStateTimestamp from v2; members'
/// rebalanceTimeout from v1 and groupInstanceId from v3.
fn group_metadata(g: &GroupMetadataValue, version: i16) -> String {
    let mut f = vec![
        ("protocolType", string(&g.protocol_type)),
        ("generation", g.generation.to_string()),
        ("protocol", nullable(g.protocol.as_deref())),
        ("leader", nullable(g.leader.as_deref())),
    ];
    if version >= 2 {
        f.push(("currentStateTimestamp", g.current_state_timestamp.to_string()));
    }
    let consumer = g.protocol_type == "consumer";
    let members: Vec<String> = g.members.iter().map(|m| member(m, version, consumer)).collect();
    f.push(("members", format!("[{}]", members.join(","))));
    object(&f)
}

fn member(m: &MemberMetadataValue, version: i16, consumer: bool) -> String {
    let mut f = vec![("memberId", string(&m.member_id))];
    if version >= 3 {
        f.push(("groupInstanceId", nullable(m.group_instance_id.as_deref())));
    }
    f.push(("clientId", string(&m.client_id)));
    f.push(("clientHost", string(&m.client_host)));
    if version >= 1 {
        f.push(("rebalanceTimeout", m.rebalance_timeout.to_string()));
    }
    f.push(("sessionTimeout", m.session_timeout.to_string()));
    let (mut subscription, mut assignment) =
        (base64(Some(&m.subscription)), base64(Some(&m.assignment)));
    if consumer {
        if let Some(s) = subscription_json(&m.subscription) {
            subscription = s;
        }
        if let Some(a) = assignment_json(&m.assignment) {
            assignment = a;
        }
    }
    f.push(("subscription", subscription));
    f.push(("assignment", assignment));
    object(&f)
}

/// Kafka's ConsumerProtocolSubscription converter knows versions 0 to 3.
fn subscription_json(bytes: &[u8]) -> Option<String> {
    let v = version(bytes);
    if !(0..=3).contains(&v) {
        return None;
    }
    let s = Subscription::decode(bytes).ok()?;
    let topics: Vec<String> = s.topics.iter().map(|t| string(t)).collect();
    let mut f = vec![
        ("topics", format!("[{}]", topics.join(","))),
        ("userData", base64(s.user_data.as_deref())),
    ];
    if v >= 1 {
        f.push(("ownedPartitions", topic_partitions(&s.owned_partitions)));
    }
    if v >= 2 {
        f.push(("generationId", s.generation_id.to_string()));
    }
    if v >= 3 {
        f.push(("rackId", nullable(s.rack_id.as_deref())));
    }
    Some(object(&f))
}

fn assignment_json(bytes: &[u8]) -> Option<String> {
    if !(0..=3).contains(&version(bytes)) {
        return None;
    }
    let a = Assignment::decode(bytes).ok()?;
    Some(object(&[
        ("assignedPartitions", topic_partitions(&a.partitions)),
        ("userData", base64(a.user_data.as_deref())),
    ]))
}

fn topic_partitions(tps: &std::collections::BTreeMap<String, Vec<i32>>) -> String {
    let items: Vec<String> = tps
        .iter()
        .map(|(topic, parts)| {
            let parts: Vec<String> = parts.iter().map(i32::to_string).collect();
            object(&[("topic", string(topic)), ("partitions", format!("[{}]", parts.join(",")))])
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// `TransactionLogMessageParser`.
pub fn transaction_log(
    offset: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> anyhow::Result<Parsed> {
    let Some(key) = key else {
        anyhow::bail!(
            "Failed to decode message at offset {offset} using the transaction log decoder (message had a missing key)"
        );
    };
    let key_version = version(key);
    let Ok(id) = decode_key(key) else {
        return Ok((Some(format!("Unknown key version {key_version}")), None));
    };
    let key = object(&[
        ("type", string(&key_version.to_string())),
        ("data", object(&[("transactionalId", string(&id))])),
    ]);
    let Some(value) = value else { return Ok((Some(key), Some("<DELETE>".to_string()))) };
    let value_version = version(value);
    let payload = match TransactionLogValue::decode(value) {
        Ok(t) => {
            object(&[("version", string(&value_version.to_string())), ("data", transaction(&t))])
        }
        Err(RecordError::UnknownVersion { what: "transaction log value", .. }) => {
            format!("Unknown value version {value_version}")
        }
        Err(e) => format!("Error at offset {offset}, skipping. {e}"),
    };
    Ok((Some(key), Some(payload)))
}

fn transaction(t: &TransactionLogValue) -> String {
    // Kafka stores an Empty transaction's partitions as null, and only it.
    let partitions = if t.state == TransactionState::Empty && t.partitions.is_empty() {
        "null".to_string()
    } else {
        let mut topics: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
        for tp in &t.partitions {
            topics.entry(&tp.topic).or_default().push(tp.partition.0.to_string());
        }
        let items: Vec<String> = topics
            .iter()
            .map(|(topic, ids)| {
                object(&[
                    ("topic", string(topic)),
                    ("partitionIds", format!("[{}]", ids.join(","))),
                ])
            })
            .collect();
        format!("[{}]", items.join(","))
    };
    object(&[
        ("producerId", t.producer_id.to_string()),
        ("producerEpoch", t.producer_epoch.to_string()),
        ("transactionTimeoutMs", t.transaction_timeout_ms.to_string()),
        ("transactionStatus", t.state.id().to_string()),
        ("transactionPartitions", partitions),
        ("transactionLastUpdateTimestampMs", t.last_update_timestamp_ms.to_string()),
        ("transactionStartTimestampMs", t.start_timestamp_ms.to_string()),
    ])
}

/// The int16 schema version every coordinator key and value starts with.
fn version(bytes: &[u8]) -> i16 {
    bytes.get(..2).map_or(-1, |b| i16::from_be_bytes([b[0], b[1]]))
}

/// A JSON object with its fields in the given order, values already JSON.
fn object(fields: &[(&str, String)]) -> String {
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{}:{v}", string(k))).collect();
    format!("{{{}}}", body.join(","))
}

fn string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

fn nullable(s: Option<&str>) -> String {
    s.map_or_else(|| "null".to_string(), string)
}

/// Bytes as Jackson writes them: standard base64, padded.
fn base64(b: Option<&[u8]>) -> String {
    b.map_or_else(
        || "null".to_string(),
        |b| string(&base64::engine::general_purpose::STANDARD.encode(b)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::TopicPartition;
    use bytes::Bytes;

    #[test]
    fn offset_commit_prints_as_kafka_does() {
        let key = RecordKey::OffsetCommit { group: "g".into(), topic: "foo".into(), partition: 0 };
        let value = OffsetCommitValue {
            offset: 10,
            leader_epoch: 10,
            metadata: "metadata".into(),
            commit_timestamp: 1000,
            expire_timestamp: None,
        };
        let (k, v) = offsets(5, Some(&key.encode()), Some(&value.encode())).unwrap();
        assert_eq!(k.unwrap(), r#"{"type":"1","data":{"group":"g","topic":"foo","partition":0}}"#);
        assert_eq!(
            v.unwrap(),
            r#"{"version":"3","data":{"offset":10,"leaderEpoch":10,"metadata":"metadata","commitTimestamp":1000}}"#
        );
        let (_, tomb) = offsets(5, Some(&key.encode()), None).unwrap();
        assert_eq!(tomb.unwrap(), "<DELETE>", "a tombstone");
    }

    #[test]
    fn group_metadata_decodes_consumer_members() {
        let subscription = Subscription {
            topics: vec!["foo".into()],
            owned_partitions: [("foo".to_string(), vec![0])].into(),
            ..Subscription::default()
        };
        let assignment =
            Assignment { partitions: [("foo".to_string(), vec![0])].into(), user_data: None };
        let g = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 10,
            protocol: Some("range".into()),
            leader: Some("member".into()),
            current_state_timestamp: -1,
            members: vec![MemberMetadataValue {
                member_id: "member".into(),
                group_instance_id: Some("instance".into()),
                client_id: "client".into(),
                client_host: "host".into(),
                rebalance_timeout: 1000,
                session_timeout: 100,
                subscription: Bytes::from(subscription.encode(1)),
                assignment: Bytes::from(assignment.encode()),
            }],
        };
        let key = RecordKey::GroupMetadata { group: "group".into() };
        let (k, v) = offsets(0, Some(&key.encode()), Some(&g.encode())).unwrap();
        assert_eq!(k.unwrap(), r#"{"type":"2","data":{"group":"group"}}"#);
        assert_eq!(
            v.unwrap(),
            concat!(
                r#"{"version":"3","data":{"protocolType":"consumer","generation":10,"protocol":"range","#,
                r#""leader":"member","currentStateTimestamp":-1,"members":[{"memberId":"member","#,
                r#""groupInstanceId":"instance","clientId":"client","clientHost":"host","#,
                r#""rebalanceTimeout":1000,"sessionTimeout":100,"subscription":{"topics":["foo"],"#,
                r#""userData":null,"ownedPartitions":[{"topic":"foo","partitions":[0]}]},"#,
                r#""assignment":{"assignedPartitions":[{"topic":"foo","partitions":[0]}],"userData":null}}]}}"#
            )
        );
    }

    #[test]
    fn other_protocols_and_bad_bytes_stay_base64() {
        let g = GroupMetadataValue {
            protocol_type: "connect".into(),
            generation: 1,
            protocol: None,
            leader: None,
            current_state_timestamp: 7,
            members: vec![MemberMetadataValue {
                member_id: "m".into(),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: "/h".into(),
                rebalance_timeout: 1,
                session_timeout: 2,
                subscription: Bytes::from_static(b"\x00"),
                assignment: Bytes::from_static(b""),
            }],
        };
        let key = RecordKey::GroupMetadata { group: "x".into() };
        let (_, v) = offsets(0, Some(&key.encode()), Some(&g.encode())).unwrap();
        let v = v.unwrap();
        assert!(v.contains(r#""protocol":null,"leader":null"#), "{v}");
        assert!(v.contains(r#""subscription":"AA==","assignment":"""#), "{v}");
    }

    #[test]
    fn unknown_and_broken_records_are_reported_not_fatal() {
        let (k, v) = offsets(9, Some(&[0, 7, 0, 0]), Some(b"")).unwrap();
        assert_eq!(k.unwrap(), "Unknown record type 7 at offset 9, skipping.");
        assert_eq!(v, None);
        let (k, _) = offsets(9, Some(&[0, 1, 0, 50]), None).unwrap();
        assert!(k.unwrap().starts_with("Error at offset 9, skipping. "));
        assert!(offsets(9, None, None).is_err(), "Kafka refuses a keyless record");
        let (k, v) = transaction_log(3, Some(&[0, 9]), None).unwrap();
        assert_eq!((k.unwrap().as_str(), v), ("Unknown key version 9", None));
    }

    #[test]
    fn transaction_log_prints_as_kafka_does() {
        let key = crate::transaction::records::encode_key("txnId");
        let mut t = TransactionLogValue {
            producer_id: 123,
            producer_epoch: 0,
            transaction_timeout_ms: 12,
            state: TransactionState::Empty,
            partitions: Default::default(),
            last_update_timestamp_ms: 14,
            start_timestamp_ms: 13,
        };
        let (k, v) = transaction_log(0, Some(&key), Some(&t.encode())).unwrap();
        assert_eq!(k.unwrap(), r#"{"type":"0","data":{"transactionalId":"txnId"}}"#);
        assert_eq!(
            v.unwrap(),
            concat!(
                r#"{"version":"0","data":{"producerId":123,"producerEpoch":0,"transactionTimeoutMs":12,"#,
                r#""transactionStatus":0,"transactionPartitions":null,"#,
                r#""transactionLastUpdateTimestampMs":14,"transactionStartTimestampMs":13}}"#
            )
        );
        t.state = TransactionState::Ongoing;
        t.partitions = [TopicPartition::new("a", 1), TopicPartition::new("a", 0)].into();
        let (_, v) = transaction_log(0, Some(&key), Some(&t.encode())).unwrap();
        let v = v.unwrap();
        assert!(
            v.contains(r#""transactionStatus":1,"transactionPartitions":[{"topic":"a","partitionIds":[0,1]}]"#),
            "{v}"
        );
        let (_, tomb) = transaction_log(0, Some(&key), None).unwrap();
        assert_eq!(tomb.unwrap(), "<DELETE>");
    }
}
