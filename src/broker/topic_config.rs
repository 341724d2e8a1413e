//! Topic-level configs as the admin APIs see them: which keys exist, how a
//! value is validated, the broker key each one defaults from, and the
//! effective value of each key for a topic (override or broker default).

use std::collections::BTreeMap;

use super::KafkaConfig;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// An integer at least this large.
    Long(i64),
    Bool,
    Ratio,
    /// One of these words.
    Choice(&'static [&'static str]),
    /// `delete`, `compact` or both, comma separated.
    CleanupPolicy,
    /// Free text (replica lists).
    Text,
    /// A Kafka version as `message.format.version` takes it (0.8.0 to 3.9,
    /// optionally with an `-IVn` suffix or a fourth number).
    FormatVersion,
}

/// Kafka's topic config keys (`TopicConfig`), the broker key that supplies
/// the default, and Kafka's default when the broker does not set it.
const KEYS: &[(&str, &str, Kind, &str)] = &[
    ("cleanup.policy", "log.cleanup.policy", Kind::CleanupPolicy, "delete"),
    (
        "compression.type",
        "compression.type",
        Kind::Choice(&["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"]),
        "producer",
    ),
    ("delete.retention.ms", "log.cleaner.delete.retention.ms", Kind::Long(0), "86400000"),
    ("file.delete.delay.ms", "log.segment.delete.delay.ms", Kind::Long(0), "60000"),
    ("flush.messages", "log.flush.interval.messages", Kind::Long(1), "9223372036854775807"),
    ("flush.ms", "log.flush.interval.ms", Kind::Long(0), "9223372036854775807"),
    (
        "follower.replication.throttled.replicas",
        "follower.replication.throttled.replicas",
        Kind::Text,
        "",
    ),
    ("index.interval.bytes", "log.index.interval.bytes", Kind::Long(0), "4096"),
    (
        "leader.replication.throttled.replicas",
        "leader.replication.throttled.replicas",
        Kind::Text,
        "",
    ),
    (
        "max.compaction.lag.ms",
        "log.cleaner.max.compaction.lag.ms",
        Kind::Long(1),
        "9223372036854775807",
    ),
    ("max.message.bytes", "message.max.bytes", Kind::Long(0), "1048588"),
    ("message.downconversion.enable", "log.message.downconversion.enable", Kind::Bool, "true"),
    // Deprecated and without effect, as in Kafka 3.x (whose inter-broker
    // protocol 3.0+ ignores it): the log always holds v2 batches, and old
    // consumers get down-converted records. Accepted so tools that set it
    // (librdkafka's tests, old deployment scripts) keep working.
    ("message.format.version", "log.message.format.version", Kind::FormatVersion, "3.0-IV1"),
    (
        "message.timestamp.difference.max.ms",
        "log.message.timestamp.difference.max.ms",
        Kind::Long(0),
        "9223372036854775807",
    ),
    (
        "message.timestamp.type",
        "log.message.timestamp.type",
        Kind::Choice(&["CreateTime", "LogAppendTime"]),
        "CreateTime",
    ),
    ("min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio", Kind::Ratio, "0.5"),
    ("min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms", Kind::Long(0), "0"),
    ("min.insync.replicas", "min.insync.replicas", Kind::Long(1), "1"),
    ("preallocate", "log.preallocate", Kind::Bool, "false"),
    ("retention.bytes", "log.retention.bytes", Kind::Long(-1), "-1"),
    ("retention.ms", "log.retention.ms", Kind::Long(-1), "604800000"),
    ("segment.bytes", "log.segment.bytes", Kind::Long(14), "1073741824"),
    ("segment.index.bytes", "log.index.size.max.bytes", Kind::Long(4), "10485760"),
    ("segment.jitter.ms", "log.roll.jitter.ms", Kind::Long(0), "0"),
    ("segment.ms", "log.roll.ms", Kind::Long(1), "604800000"),
    ("unclean.leader.election.enable", "unclean.leader.election.enable", Kind::Bool, "false"),
];

/// Why a topic config is refused; the text goes back to the client.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidConfig {
    #[error("Unknown topic config name: {0}")]
    UnknownKey(String),
    #[error("Invalid value {value} for configuration {key}: {reason}")]
    BadValue { key: String, value: String, reason: String },
    #[error("Null value not supported for topic configs: {0}")]
    Null(String),
}

/// Checks one topic config key and value.
pub fn validate(key: &str, value: &str) -> Result<(), InvalidConfig> {
    let (_, _, kind, _) = KEYS
        .iter()
        .find(|(k, ..)| *k == key)
        .ok_or_else(|| InvalidConfig::UnknownKey(key.into()))?;
    let bad =
        |reason: String| InvalidConfig::BadValue { key: key.into(), value: value.into(), reason };
    let v = value.trim();
    match *kind {
        Kind::Long(min) => match v.parse::<i64>() {
            Ok(n) if n >= min => Ok(()),
            Ok(_) => Err(bad(format!("Value must be at least {min}"))),
            Err(_) => Err(bad("Not a number of type LONG".into())),
        },
        Kind::Bool => match v.to_ascii_lowercase().as_str() {
            "true" | "false" => Ok(()),
            _ => Err(bad("Expected value to be either true or false".into())),
        },
        Kind::Ratio => match v.parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(()),
            _ => Err(bad("Value must be between 0 and 1".into())),
        },
        Kind::Choice(words) => {
            if words.contains(&v) {
                Ok(())
            } else {
                Err(bad(format!("String must be one of: {}", words.join(", "))))
            }
        }
        Kind::CleanupPolicy => {
            if !v.is_empty() && v.split(',').map(str::trim).all(|p| p == "delete" || p == "compact")
            {
                Ok(())
            } else {
                Err(bad("String must be one of: compact, delete".into()))
            }
        }
        Kind::Text => Ok(()),
        Kind::FormatVersion => {
            if is_format_version(v) {
                Ok(())
            } else {
                Err(bad(format!("Version `{v}` is not a valid version")))
            }
        }
    }
}

/// Whether `v` names a Kafka release from 0.8.0 to 3.9: `0.X.Y` before
/// 1.0, `X.Y` after, either with an optional fourth number or `-IVn`.
fn is_format_version(v: &str) -> bool {
    let (numbers, iv) = match v.split_once("-IV") {
        Some((n, iv)) => (n, Some(iv)),
        None => (v, None),
    };
    if iv.is_some_and(|iv| iv.parse::<u8>().is_err()) {
        return false;
    }
    let parts: Result<Vec<u32>, _> = numbers.split('.').map(str::parse::<u32>).collect();
    let Ok(parts) = parts else { return false };
    match parts.as_slice() {
        [0, minor, _] | [0, minor, _, _] => (8..=11).contains(minor),
        [1, minor] | [1, minor, _] => *minor <= 1,
        [2, minor] | [2, minor, _] => *minor <= 8,
        [3, minor] | [3, minor, _] => *minor <= 9,
        _ => false,
    }
}

/// Validates a whole set of overrides.
pub fn validate_all(configs: &BTreeMap<String, String>) -> Result<(), InvalidConfig> {
    configs.iter().try_for_each(|(k, v)| validate(k, v))
}

/// Where an effective value comes from (DescribeConfigs `config_source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// DYNAMIC_TOPIC_CONFIG (1): a topic override.
    Topic = 1,
    /// STATIC_BROKER_CONFIG (4): set in server.properties.
    StaticBroker = 4,
    /// DEFAULT_CONFIG (5): Kafka's default.
    Default = 5,
}

/// One effective topic config value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: &'static str,
    pub value: String,
    pub source: Source,
    /// The broker key this one falls back to, for synonyms.
    pub broker_key: &'static str,
}

/// The effective value of every topic config key for a topic with these
/// overrides, in key order.
pub fn effective(config: &KafkaConfig, overrides: &BTreeMap<String, String>) -> Vec<Entry> {
    KEYS.iter()
        .map(|&(name, broker_key, _, default)| {
            if let Some(v) = overrides.get(name) {
                return Entry { name, value: v.clone(), source: Source::Topic, broker_key };
            }
            match config.topic_default(name) {
                Some(v) if v != default => {
                    Entry { name, value: v.to_string(), source: Source::StaticBroker, broker_key }
                }
                _ => {
                    Entry { name, value: default.to_string(), source: Source::Default, broker_key }
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Properties;

    #[test]
    fn validation() {
        let cases: &[(&str, &str, bool, &str)] = &[
            ("retention.ms", "1000", true, "plain long"),
            ("retention.ms", "-1", true, "infinite retention"),
            ("retention.ms", "-2", false, "below the minimum"),
            ("retention.ms", "soon", false, "not a number"),
            ("segment.bytes", "13", false, "smaller than one record header"),
            ("cleanup.policy", "compact,delete", true, "both policies"),
            ("cleanup.policy", "forever", false, "unknown policy"),
            ("compression.type", "zstd", true, "a codec"),
            ("compression.type", "brotli", false, "not a Kafka codec"),
            ("min.cleanable.dirty.ratio", "1.5", false, "ratio above 1"),
            ("no.such.key", "1", false, "unknown keys are refused, as Kafka does"),
        ];
        for (k, v, ok, why) in cases {
            assert_eq!(validate(k, v).is_ok(), *ok, "{why}: {k}={v}");
        }
    }

    #[test]
    fn message_format_versions_as_kafka_takes_them() {
        for ok in ["0.8.2", "0.10.0.0", "0.10.0-IV1", "0.11.0", "1.1", "2.8", "3.0-IV1", "3.9"] {
            assert_eq!(validate("message.format.version", ok), Ok(()), "{ok}");
        }
        for bad in ["", "0.7.0", "0.10", "4.0", "3.x", "3.0-IVx", "latest"] {
            assert!(validate("message.format.version", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn effective_values_name_their_source() {
        let cfg =
            KafkaConfig::from_properties(&Properties::parse("log.segment.bytes=1024\n")).unwrap();
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "5".to_string());
        let e = effective(&cfg, &o);
        let get = |n: &str| e.iter().find(|x| x.name == n).unwrap().clone();
        assert_eq!(get("retention.ms").source, Source::Topic);
        assert_eq!(get("segment.bytes").source, Source::StaticBroker);
        assert_eq!(get("segment.bytes").value, "1024");
        assert_eq!(get("cleanup.policy").source, Source::Default);
    }
}
