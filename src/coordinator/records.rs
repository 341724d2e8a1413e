//! The `__consumer_offsets` record formats, byte for byte as Kafka's
//! `GroupMetadataManager` writes them, so Kafka's own tools
//! (`kafka-console-consumer --formatter OffsetsMessageFormatter`,
//! `kafka-dump-log --offsets-decoder`) read our topic and we read theirs.
//!
//! Every key and value starts with an int16 schema version. Keys:
//!
//! ```text
//! OffsetCommitKey   v0/v1: group string, topic string, partition int32
//! GroupMetadataKey  v2:    group string
//! ```
//!
//! Values (a null value is a tombstone that deletes the key):
//!
//! ```text
//! OffsetCommitValue v0: offset int64, metadata string, commit_timestamp int64
//!                   v1: v0 + expire_timestamp int64 (written only with an explicit retention)
//!                   v2: as v0
//!                   v3: offset int64, leader_epoch int32, metadata string, commit_timestamp int64
//!                   v4: v3, flexible (compact strings, tagged fields)
//! GroupMetadataValue v0: protocol_type string, generation int32, protocol string?, leader string?,
//!                        members [member_id, client_id, client_host, session_timeout int32,
//!                                 subscription bytes, assignment bytes]
//!                    v1: members add rebalance_timeout int32 before session_timeout
//!                    v2: adds current_state_timestamp int64 before members
//!                    v3: members add group_instance_id string? after member_id
//!                    v4: v3, flexible
//! ```
//!
//! We write what Kafka 2.3+ writes: key v1 / v2, OffsetCommitValue v3 (v1
//! when the commit carried a retention time) and GroupMetadataValue v3. We read
//! every version. Decoding never trusts a length from the bytes: it checks it
//! against what is left and grows vectors as items actually arrive.

use bytes::Bytes;

/// Key schema version Kafka writes for offset commits.
const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
/// Key schema version of group metadata.
const GROUP_METADATA_KEY_VERSION: i16 = 2;

/// Why a stored record could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("record ends early: needed {needed} more bytes at position {position}")]
    Truncated { position: usize, needed: usize },
    #[error("negative or oversized length {length} at position {position}")]
    BadLength { position: usize, length: i64 },
    #[error("string at position {position} is not UTF-8")]
    NotUtf8 { position: usize },
    #[error("unknown {what} schema version {version}")]
    UnknownVersion { what: &'static str, version: i16 },
    #[error("null where {field} may not be null")]
    UnexpectedNull { field: &'static str },
}

/// A decoded `__consumer_offsets` key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordKey {
    OffsetCommit { group: String, topic: String, partition: i32 },
    GroupMetadata { group: String },
}

/// A committed offset as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetCommitValue {
    pub offset: i64,
    /// -1 when the committer did not know it.
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    /// Only in v1 records: the pre-KIP-211 per-commit expiry.
    pub expire_timestamp: Option<i64>,
}

/// One member as stored in a group's metadata record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberMetadataValue {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout: i32,
    pub session_timeout: i32,
    /// The member's metadata for the group's selected protocol.
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// A group's generation as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMetadataValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// -1 when unknown (v0/v1 records).
    pub current_state_timestamp: i64,
    pub members: Vec<MemberMetadataValue>,
}

impl RecordKey {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            RecordKey::OffsetCommit { group, topic, partition } => {
                w.i16(OFFSET_COMMIT_KEY_VERSION);
                w.string(group);
                w.string(topic);
                w.i32(*partition);
            }
            RecordKey::GroupMetadata { group } => {
                w.i16(GROUP_METADATA_KEY_VERSION);
                w.string(group);
            }
        }
        w.0
    }

    /// Decodes a key; versions beyond 2 belong to record types this
    /// coordinator does not keep (KIP-848 consumer groups, share groups).
    pub fn decode(bytes: &[u8]) -> Result<RecordKey, RecordError> {
        let mut r = Reader::new(bytes);
        let version = r.i16()?;
        match version {
            0 | 1 => Ok(RecordKey::OffsetCommit {
                group: r.string()?,
                topic: r.string()?,
                partition: r.i32()?,
            }),
            2 => Ok(RecordKey::GroupMetadata { group: r.string()? }),
            v => Err(RecordError::UnknownVersion { what: "record key", version: v }),
        }
    }

    pub fn group(&self) -> &str {
        match self {
            RecordKey::OffsetCommit { group, .. } | RecordKey::GroupMetadata { group } => group,
        }
    }
}

impl OffsetCommitValue {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self.expire_timestamp {
            Some(expire) => {
                w.i16(1);
                w.i64(self.offset);
                w.string(&self.metadata);
                w.i64(self.commit_timestamp);
                w.i64(expire);
            }
            None => {
                w.i16(3);
                w.i64(self.offset);
                w.i32(self.leader_epoch);
                w.string(&self.metadata);
                w.i64(self.commit_timestamp);
            }
        }
        w.0
    }

    pub fn decode(bytes: &[u8]) -> Result<OffsetCommitValue, RecordError> {
        let mut r = Reader::new(bytes);
        let version = r.i16()?;
        let flexible = version >= 4;
        r.flexible = flexible;
        let value = match version {
            0 | 2 => OffsetCommitValue {
                offset: r.i64()?,
                leader_epoch: -1,
                metadata: r.string()?,
                commit_timestamp: r.i64()?,
                expire_timestamp: None,
            },
            1 => OffsetCommitValue {
                offset: r.i64()?,
                leader_epoch: -1,
                metadata: r.string()?,
                commit_timestamp: r.i64()?,
                expire_timestamp: Some(r.i64()?).filter(|&t| t != -1),
            },
            3 | 4 => OffsetCommitValue {
                offset: r.i64()?,
                leader_epoch: r.i32()?,
                metadata: r.string()?,
                commit_timestamp: r.i64()?,
                expire_timestamp: None,
            },
            v => {
                return Err(RecordError::UnknownVersion { what: "offset commit value", version: v })
            }
        };
        if flexible {
            r.skip_tagged_fields()?;
        }
        Ok(value)
    }
}

impl GroupMetadataValue {
    /// Encodes as v3, the version Kafka 2.3+ writes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.i16(3);
        w.string(&self.protocol_type);
        w.i32(self.generation);
        w.nullable_string(self.protocol.as_deref());
        w.nullable_string(self.leader.as_deref());
        w.i64(self.current_state_timestamp);
        w.i32(self.members.len() as i32);
        for m in &self.members {
            w.string(&m.member_id);
            w.nullable_string(m.group_instance_id.as_deref());
            w.string(&m.client_id);
            w.string(&m.client_host);
            w.i32(m.rebalance_timeout);
            w.i32(m.session_timeout);
            w.bytes(&m.subscription);
            w.bytes(&m.assignment);
        }
        w.0
    }

    /// The size `encode` would produce, without building it.
    pub fn encoded_len(&self) -> usize {
        let s = |v: &str| 2 + v.len();
        let mut n = 2 + s(&self.protocol_type) + 4;
        n += self.protocol.as_deref().map_or(2, s) + self.leader.as_deref().map_or(2, s) + 8 + 4;
        for m in &self.members {
            n += s(&m.member_id) + m.group_instance_id.as_deref().map_or(2, s);
            n += s(&m.client_id) + s(&m.client_host) + 8;
            n += 4 + m.subscription.len() + 4 + m.assignment.len();
        }
        n
    }

    pub fn decode(bytes: &[u8]) -> Result<GroupMetadataValue, RecordError> {
        let (mut r, version) = Reader::versioned(bytes, "group metadata value", 0..=4, Some(4))?;
        let protocol_type = r.string()?;
        let generation = r.i32()?;
        let protocol = r.nullable_string()?;
        let leader = r.nullable_string()?;
        let current_state_timestamp = if version >= 2 { r.i64()? } else { -1 };
        let count = r.array_len()?;
        let mut members = Vec::new();
        for _ in 0..count {
            let member_id = r.string()?;
            let group_instance_id = if version >= 3 { r.nullable_string()? } else { None };
            let client_id = r.string()?;
            let client_host = r.string()?;
            let session_or_rebalance = r.i32()?;
            let (rebalance_timeout, session_timeout) = if version >= 1 {
                (session_or_rebalance, r.i32()?)
            } else {
                // v0 had no rebalance timeout; Kafka uses the session timeout.
                (session_or_rebalance, session_or_rebalance)
            };
            let subscription = Bytes::copy_from_slice(r.bytes()?);
            let assignment = Bytes::copy_from_slice(r.bytes()?);
            if r.flexible {
                r.skip_tagged_fields()?;
            }
            members.push(MemberMetadataValue {
                member_id,
                group_instance_id,
                client_id,
                client_host,
                rebalance_timeout,
                session_timeout,
                subscription,
                assignment,
            });
        }
        if r.flexible {
            r.skip_tagged_fields()?;
        }
        Ok(GroupMetadataValue {
            protocol_type,
            generation,
            protocol,
            leader,
            current_state_timestamp,
            members,
        })
    }
}

/// Big-endian writer for the non-flexible versions we emit.
#[derive(Default)]
pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    pub(crate) fn i16(&mut self, v: i16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    /// Strings longer than an int16 length cannot be written; the
    /// coordinator refuses such group ids before they get here, and other
    /// strings are truncated at a character boundary rather than corrupt the
    /// record.
    pub(crate) fn string(&mut self, v: &str) {
        let mut end = v.len().min(i16::MAX as usize);
        while !v.is_char_boundary(end) {
            end -= 1;
        }
        self.i16(end as i16);
        self.0.extend_from_slice(&v.as_bytes()[..end]);
    }
    pub(crate) fn nullable_string(&mut self, v: Option<&str>) {
        match v {
            Some(s) => self.string(s),
            None => self.i16(-1),
        }
    }
    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.i32(v.len() as i32);
        self.0.extend_from_slice(v);
    }
}

/// Bounds-checked reader for both classic and flexible encodings.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    pub(crate) flexible: bool,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0, flexible: false }
    }

    /// Reads the version a record of `what` starts with; a version outside
    /// `versions` is an error, and from `flexible_from` on the rest is read
    /// in the flexible encoding (KIP-482).
    pub(crate) fn versioned(
        buf: &'a [u8],
        what: &'static str,
        versions: std::ops::RangeInclusive<i16>,
        flexible_from: Option<i16>,
    ) -> Result<(Self, i16), RecordError> {
        let mut r = Self::new(buf);
        let version = r.i16()?;
        if !versions.contains(&version) {
            return Err(RecordError::UnknownVersion { what, version });
        }
        r.flexible = flexible_from.is_some_and(|v| version >= v);
        Ok((r, version))
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        let left = self.buf.len() - self.pos;
        if n > left {
            return Err(RecordError::Truncated { position: self.pos, needed: n - left });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn i16(&mut self) -> Result<i16, RecordError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    pub(crate) fn i32(&mut self) -> Result<i32, RecordError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn i64(&mut self) -> Result<i64, RecordError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    pub(crate) fn uvarint(&mut self) -> Result<u64, RecordError> {
        let mut value = 0u64;
        for shift in (0..35).step_by(7) {
            let b = self.take(1)?[0];
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(RecordError::BadLength { position: self.pos, length: -1 })
    }

    /// A length: int16/int32 in classic encodings, uvarint(len + 1) in
    /// flexible ones. `None` is null.
    pub(crate) fn length(&mut self, wide: bool) -> Result<Option<usize>, RecordError> {
        let position = self.pos;
        let len: i64 = if self.flexible {
            self.uvarint()? as i64 - 1
        } else if wide {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        if len < 0 {
            return if len == -1 {
                Ok(None)
            } else {
                Err(RecordError::BadLength { position, length: len })
            };
        }
        if len as usize > self.buf.len() - self.pos {
            return Err(RecordError::BadLength { position, length: len });
        }
        Ok(Some(len as usize))
    }

    pub(crate) fn nullable_string(&mut self) -> Result<Option<String>, RecordError> {
        let Some(len) = self.length(false)? else { return Ok(None) };
        let position = self.pos;
        let raw = self.take(len)?;
        std::str::from_utf8(raw)
            .map(|s| Some(s.to_string()))
            .map_err(|_| RecordError::NotUtf8 { position })
    }

    pub(crate) fn string(&mut self) -> Result<String, RecordError> {
        self.nullable_string()?.ok_or(RecordError::UnexpectedNull { field: "string" })
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], RecordError> {
        match self.length(true)? {
            Some(len) => self.take(len),
            None => Err(RecordError::UnexpectedNull { field: "bytes" }),
        }
    }

    pub(crate) fn array_len(&mut self) -> Result<usize, RecordError> {
        // Each member takes at least a few bytes, so a count larger than the
        // bytes left is corrupt; checking it here keeps loops bounded.
        self.length(true)?.ok_or(RecordError::UnexpectedNull { field: "array" })
    }

    pub(crate) fn skip_tagged_fields(&mut self) -> Result<(), RecordError> {
        let count = self.uvarint()?;
        for _ in 0..count {
            self.uvarint()?;
            let size = self.uvarint()?;
            let size = usize::try_from(size)
                .map_err(|_| RecordError::BadLength { position: self.pos, length: -1 })?;
            self.take(size)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn offset_commit_key_matches_kafka_bytes() {
        // GroupMetadataManager.offsetCommitKey("g", new TopicPartition("t", 3)):
        // version 1, "g", "t", 3.
        let key = RecordKey::OffsetCommit { group: "g".into(), topic: "t".into(), partition: 3 };
        assert_eq!(key.encode(), hex("0001 0001 67 0001 74 00000003"));
        assert_eq!(RecordKey::decode(&key.encode()).unwrap(), key);
        // Kafka 0.9 wrote version 0 with the same layout.
        assert_eq!(RecordKey::decode(&hex("0000 0001 67 0001 74 00000003")).unwrap(), key);
    }

    #[test]
    fn group_metadata_key_matches_kafka_bytes() {
        let key = RecordKey::GroupMetadata { group: "grp".into() };
        assert_eq!(key.encode(), hex("0002 0003 677270"));
        assert_eq!(RecordKey::decode(&key.encode()).unwrap(), key);
    }

    #[test]
    fn offset_commit_value_v3_layout() {
        let v = OffsetCommitValue {
            offset: 42,
            leader_epoch: 5,
            metadata: "m".into(),
            commit_timestamp: 1000,
            expire_timestamp: None,
        };
        assert_eq!(
            v.encode(),
            hex("0003 000000000000002a 00000005 0001 6d 00000000000003e8"),
            "v3: offset, leader epoch, metadata, commit timestamp"
        );
        assert_eq!(OffsetCommitValue::decode(&v.encode()).unwrap(), v);
    }

    #[test]
    fn offset_commit_value_with_retention_is_v1() {
        let v = OffsetCommitValue {
            offset: 1,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 10,
            expire_timestamp: Some(20),
        };
        assert_eq!(v.encode(), hex("0001 0000000000000001 0000 000000000000000a 0000000000000014"));
        assert_eq!(OffsetCommitValue::decode(&v.encode()).unwrap(), v);
    }

    #[test]
    fn reads_every_offset_commit_value_version() {
        let cases: &[(&str, OffsetCommitValue, &str)] = &[
            (
                "0000 0000000000000007 0000 0000000000000001",
                OffsetCommitValue {
                    offset: 7,
                    leader_epoch: -1,
                    metadata: "".into(),
                    commit_timestamp: 1,
                    expire_timestamp: None,
                },
                "v0 (0.9)",
            ),
            (
                "0002 0000000000000007 0001 78 0000000000000001",
                OffsetCommitValue {
                    offset: 7,
                    leader_epoch: -1,
                    metadata: "x".into(),
                    commit_timestamp: 1,
                    expire_timestamp: None,
                },
                "v2 (2.0)",
            ),
            (
                // v4 flexible: compact string "x" = uvarint(2) 'x', then empty tagged fields.
                "0004 0000000000000007 00000002 02 78 0000000000000001 00",
                OffsetCommitValue {
                    offset: 7,
                    leader_epoch: 2,
                    metadata: "x".into(),
                    commit_timestamp: 1,
                    expire_timestamp: None,
                },
                "v4 (KIP-915 flexible)",
            ),
        ];
        for (bytes, want, why) in cases {
            assert_eq!(&OffsetCommitValue::decode(&hex(bytes)).unwrap(), want, "{why}");
        }
    }

    fn sample_group() -> GroupMetadataValue {
        GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 3,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            current_state_timestamp: 99,
            members: vec![MemberMetadataValue {
                member_id: "m1".into(),
                group_instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout: 300000,
                session_timeout: 45000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b""),
            }],
        }
    }

    #[test]
    fn group_metadata_value_v3_layout_and_roundtrip() {
        let v = sample_group();
        let bytes = v.encode();
        assert_eq!(&bytes[..2], &[0, 3], "written as v3");
        assert_eq!(bytes.len(), v.encoded_len());
        assert_eq!(GroupMetadataValue::decode(&bytes).unwrap(), v);
        let want = hex(
            "0003 0008 636f6e73756d6572 00000003 0005 72616e6765 0002 6d31 0000000000000063 00000001
             0002 6d31 0002 6931 0001 63 000a 2f3132372e302e302e31 000493e0 0000afc8 00000003 737562 00000000",
        );
        assert_eq!(bytes, want, "field order as in GroupMetadataValue.json");
    }

    #[test]
    fn reads_v0_group_metadata_with_session_as_rebalance_timeout() {
        let bytes = hex("0000 0008 636f6e73756d6572 00000001 ffff ffff 00000001
             0002 6d31 0001 63 0001 68 00002710 00000000 00000000");
        let v = GroupMetadataValue::decode(&bytes).unwrap();
        assert_eq!(v.current_state_timestamp, -1);
        assert_eq!(v.protocol, None);
        assert_eq!(v.members[0].rebalance_timeout, 10000);
        assert_eq!(v.members[0].session_timeout, 10000);
    }

    #[test]
    fn a_versioned_record_names_what_it_refuses_and_reads_flexible_from_its_version() {
        let bytes = [0, 1, 0xff];
        let refused = Reader::versioned(&bytes, "thing", 2..=3, None).err();
        assert_eq!(refused, Some(RecordError::UnknownVersion { what: "thing", version: 1 }));
        // (first flexible version, flexible?): v1 read as of v1, v2 and never.
        for (flexible_from, want) in [(Some(1), true), (Some(2), false), (None, false)] {
            let (r, version) = Reader::versioned(&bytes, "thing", 0..=1, flexible_from).unwrap();
            assert_eq!((version, r.flexible), (1, want), "flexible from {flexible_from:?}");
        }
    }

    #[test]
    fn hostile_bytes_are_errors_not_panics() {
        let good = sample_group().encode();
        for cut in 0..good.len() {
            assert!(GroupMetadataValue::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        let cases: &[(&str, &str)] = &[
            ("0003 0008 636f", "string length past the end"),
            (
                "0003 0000 00000001 ffff ffff 0000000000000000 7fffffff",
                "member count larger than the record",
            ),
            ("0003 fffe", "negative string length other than null"),
            ("0009 0000", "future version"),
            ("0003 0002 c328", "invalid UTF-8"),
        ];
        for (bytes, why) in cases {
            assert!(GroupMetadataValue::decode(&hex(bytes)).is_err(), "{why}");
        }
        assert!(
            RecordKey::decode(&hex("0003 0001 67")).is_err(),
            "KIP-848 record types are not ours"
        );
        assert!(RecordKey::decode(&[]).is_err());
        assert!(OffsetCommitValue::decode(&hex("0004 00")).is_err());
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        fn member() -> impl Strategy<Value = MemberMetadataValue> {
            (
                (".{0,12}", proptest::option::of(".{0,12}"), ".{0,12}", ".{0,20}"),
                (any::<i32>(), any::<i32>()),
                (
                    proptest::collection::vec(any::<u8>(), 0..40),
                    proptest::collection::vec(any::<u8>(), 0..40),
                ),
            )
                .prop_map(|(ids, timeouts, payloads)| MemberMetadataValue {
                    member_id: ids.0,
                    group_instance_id: ids.1,
                    client_id: ids.2,
                    client_host: ids.3,
                    rebalance_timeout: timeouts.0,
                    session_timeout: timeouts.1,
                    subscription: Bytes::from(payloads.0),
                    assignment: Bytes::from(payloads.1),
                })
        }

        fn group() -> impl Strategy<Value = GroupMetadataValue> {
            let names = (proptest::option::of(".{0,12}"), proptest::option::of(".{0,12}"));
            let members = proptest::collection::vec(member(), 0..5);
            (".{0,12}", any::<i32>(), names, any::<i64>(), members).prop_map(
                |(protocol_type, generation, names, timestamp, members)| GroupMetadataValue {
                    protocol_type,
                    generation,
                    protocol: names.0,
                    leader: names.1,
                    current_state_timestamp: timestamp,
                    members,
                },
            )
        }

        fn key() -> impl Strategy<Value = RecordKey> {
            prop_oneof![
                (".{0,20}", ".{0,20}", any::<i32>()).prop_map(|(group, topic, partition)| {
                    RecordKey::OffsetCommit { group, topic, partition }
                }),
                ".{0,20}".prop_map(|group| RecordKey::GroupMetadata { group }),
            ]
        }

        /// v3 values (no expiry) keep the leader epoch; v1 values carry an
        /// expiry (never -1, which v1 uses for "none") and no epoch.
        fn offset_value() -> impl Strategy<Value = OffsetCommitValue> {
            (
                any::<i64>(),
                any::<i32>(),
                ".{0,30}",
                any::<i64>(),
                proptest::option::of(any::<i64>().prop_filter("-1 means none", |&t| t != -1)),
            )
                .prop_map(
                    |(offset, leader_epoch, metadata, commit_timestamp, expire_timestamp)| {
                        OffsetCommitValue {
                            offset,
                            leader_epoch: if expire_timestamp.is_some() {
                                -1
                            } else {
                                leader_epoch
                            },
                            metadata,
                            commit_timestamp,
                            expire_timestamp,
                        }
                    },
                )
        }

        proptest! {
            #![proptest_config(crate::test_support::seeded(300, 0x00ff_5e75))]

            #[test]
            fn keys_round_trip(k in key()) {
                prop_assert_eq!(RecordKey::decode(&k.encode()).unwrap(), k);
            }

            #[test]
            fn offset_commit_values_round_trip(v in offset_value()) {
                prop_assert_eq!(OffsetCommitValue::decode(&v.encode()).unwrap(), v);
            }

            #[test]
            fn group_metadata_values_round_trip(v in group()) {
                let bytes = v.encode();
                prop_assert_eq!(bytes.len(), v.encoded_len());
                prop_assert_eq!(GroupMetadataValue::decode(&bytes).unwrap(), v);
            }

            /// Whatever the bytes, each decoder answers (mostly an error).
            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
                let _ = RecordKey::decode(&bytes);
                let _ = OffsetCommitValue::decode(&bytes);
                let _ = GroupMetadataValue::decode(&bytes);
            }

            /// Valid records with a version and a byte changed: the decoder
            /// gets past the version check, deep into the fields.
            #[test]
            fn corrupted_records_never_panic(
                v in group(),
                version in 0i16..=4,
                at in any::<prop::sample::Index>(),
                byte in any::<u8>(),
            ) {
                let mut bytes = v.encode();
                bytes[..2].copy_from_slice(&version.to_be_bytes());
                let i = at.index(bytes.len());
                bytes[i] = byte;
                let _ = GroupMetadataValue::decode(&bytes);
                let _ = OffsetCommitValue::decode(&bytes);
            }
        }
    }
}
