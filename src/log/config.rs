//! Topic-level log configuration with Kafka's key names and defaults
//! (`LogConfig.scala`), and the broker-level `log.*` keys that set them.

use std::fmt;

use crate::record::TimestampType;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("Unknown topic config name: {0}")]
    UnknownKey(String),
    #[error("Invalid value {value} for configuration {key}: {reason}")]
    InvalidValue { key: String, value: String, reason: String },
}

/// What happens to old segments: deleted by retention, compacted, or both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

impl fmt::Display for CleanupPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.compact, self.delete) {
            (true, true) => f.write_str("compact,delete"),
            (true, false) => f.write_str("compact"),
            (false, _) => f.write_str("delete"),
        }
    }
}

/// Kafka's per-topic log settings. Durations are milliseconds; `-1`
/// disables a size or time limit where Kafka allows it.
#[derive(Clone, Debug, PartialEq)]
pub struct LogConfig {
    pub segment_bytes: u64,
    pub segment_ms: i64,
    pub segment_index_bytes: u64,
    pub index_interval_bytes: u64,
    pub retention_ms: i64,
    pub retention_bytes: i64,
    pub cleanup_policy: CleanupPolicy,
    pub delete_retention_ms: i64,
    pub min_cleanable_dirty_ratio: f64,
    pub min_compaction_lag_ms: i64,
    pub flush_messages: i64,
    pub flush_ms: i64,
    pub max_message_bytes: usize,
    pub message_timestamp_type: TimestampType,
    pub file_delete_delay_ms: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            segment_index_bytes: 10 << 20,
            index_interval_bytes: 4096,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            cleanup_policy: CleanupPolicy { delete: true, compact: false },
            delete_retention_ms: 24 * 3600 * 1000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            max_message_bytes: 1_048_588,
            message_timestamp_type: TimestampType::CreateTime,
            file_delete_delay_ms: 60_000,
        }
    }
}

/// (topic key, broker key that sets its default)
const KEYS: &[(&str, &str)] = &[
    ("cleanup.policy", "log.cleanup.policy"),
    ("delete.retention.ms", "log.cleaner.delete.retention.ms"),
    ("file.delete.delay.ms", "log.segment.delete.delay.ms"),
    ("flush.messages", "log.flush.interval.messages"),
    ("flush.ms", "log.flush.interval.ms"),
    ("index.interval.bytes", "log.index.interval.bytes"),
    ("max.message.bytes", "message.max.bytes"),
    ("message.timestamp.type", "log.message.timestamp.type"),
    ("min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio"),
    ("min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms"),
    ("retention.bytes", "log.retention.bytes"),
    ("retention.ms", "log.retention.ms"),
    ("segment.bytes", "log.segment.bytes"),
    ("segment.index.bytes", "log.index.size.max.bytes"),
    ("segment.ms", "log.roll.ms"),
];

fn parse_i64(key: &str, value: &str, min: i64) -> Result<i64, ConfigError> {
    let v: i64 = value.trim().parse().map_err(|_| invalid(key, value, "not a number"))?;
    if v < min {
        return Err(invalid(key, value, &format!("value must be at least {min}")));
    }
    Ok(v)
}

fn invalid(key: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

impl LogConfig {
    /// Whether `key` is a topic-level log config this log understands.
    pub fn is_known_key(key: &str) -> bool {
        KEYS.iter().any(|(k, _)| *k == key)
    }

    /// The broker-level key (`log.segment.bytes`, ...) whose value is the
    /// default of topic key `key`; for DescribeConfigs synonyms.
    pub fn broker_key_for(key: &str) -> Option<&'static str> {
        KEYS.iter().find(|(k, _)| *k == key).map(|(_, b)| *b)
    }

    /// Sets a topic-level key from its string form.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "segment.bytes" => {
                self.segment_bytes = parse_i64(key, value, 14)?.min(i64::from(i32::MAX)) as u64
            }
            "segment.ms" => self.segment_ms = parse_i64(key, value, 1)?,
            "segment.index.bytes" => self.segment_index_bytes = parse_i64(key, value, 4)? as u64,
            "index.interval.bytes" => self.index_interval_bytes = parse_i64(key, value, 0)? as u64,
            "retention.ms" => self.retention_ms = parse_i64(key, value, -1)?,
            "retention.bytes" => self.retention_bytes = parse_i64(key, value, i64::MIN)?,
            "cleanup.policy" => {
                let mut policy = CleanupPolicy::default();
                for part in value.split(',').map(str::trim) {
                    match part {
                        "delete" => policy.delete = true,
                        "compact" => policy.compact = true,
                        _ => {
                            return Err(invalid(
                                key,
                                value,
                                "expected delete, compact or compact,delete",
                            ))
                        }
                    }
                }
                self.cleanup_policy = policy;
            }
            "delete.retention.ms" => self.delete_retention_ms = parse_i64(key, value, 0)?,
            "min.cleanable.dirty.ratio" => {
                let v: f64 =
                    value.trim().parse().map_err(|_| invalid(key, value, "not a number"))?;
                if !(0.0..=1.0).contains(&v) {
                    return Err(invalid(key, value, "value must be between 0 and 1"));
                }
                self.min_cleanable_dirty_ratio = v;
            }
            "min.compaction.lag.ms" => self.min_compaction_lag_ms = parse_i64(key, value, 0)?,
            "flush.messages" => self.flush_messages = parse_i64(key, value, 1)?,
            "flush.ms" => self.flush_ms = parse_i64(key, value, 0)?,
            "max.message.bytes" => {
                self.max_message_bytes = parse_i64(key, value, 0)?.min(i64::from(i32::MAX)) as usize
            }
            "message.timestamp.type" => {
                self.message_timestamp_type = match value.trim() {
                    "CreateTime" => TimestampType::CreateTime,
                    "LogAppendTime" => TimestampType::LogAppendTime,
                    _ => return Err(invalid(key, value, "expected CreateTime or LogAppendTime")),
                }
            }
            "file.delete.delay.ms" => self.file_delete_delay_ms = parse_i64(key, value, 0)?,
            _ => return Err(ConfigError::UnknownKey(key.to_string())),
        }
        Ok(())
    }

    /// Applies a broker-level default (`log.segment.bytes=...`); `Ok(false)`
    /// when the key is not a log default. Handles Kafka's unit variants
    /// (`log.retention.hours/minutes`, `log.roll.hours`).
    pub fn set_broker_default(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        let scaled = |unit_ms: i64| -> Result<String, ConfigError> {
            let v = parse_i64(key, value, -1)?;
            Ok(if v < 0 { v.to_string() } else { v.saturating_mul(unit_ms).to_string() })
        };
        let (topic_key, value) = match key {
            "log.retention.hours" => ("retention.ms", scaled(3_600_000)?),
            "log.retention.minutes" => ("retention.ms", scaled(60_000)?),
            "log.roll.hours" => ("segment.ms", scaled(3_600_000)?),
            _ => match KEYS.iter().find(|(_, b)| *b == key) {
                Some((t, _)) => (*t, value.to_string()),
                None => return Ok(false),
            },
        };
        self.set(topic_key, &value)?;
        Ok(true)
    }

    /// Every key with its current value, in Kafka's string forms.
    pub fn to_entries(&self) -> Vec<(String, String)> {
        KEYS.iter().map(|(k, _)| (k.to_string(), self.get(k).unwrap_or_default())).collect()
    }

    /// One key's value in Kafka's string form.
    pub fn get(&self, key: &str) -> Option<String> {
        Some(match key {
            "segment.bytes" => self.segment_bytes.to_string(),
            "segment.ms" => self.segment_ms.to_string(),
            "segment.index.bytes" => self.segment_index_bytes.to_string(),
            "index.interval.bytes" => self.index_interval_bytes.to_string(),
            "retention.ms" => self.retention_ms.to_string(),
            "retention.bytes" => self.retention_bytes.to_string(),
            "cleanup.policy" => self.cleanup_policy.to_string(),
            "delete.retention.ms" => self.delete_retention_ms.to_string(),
            "min.cleanable.dirty.ratio" => self.min_cleanable_dirty_ratio.to_string(),
            "min.compaction.lag.ms" => self.min_compaction_lag_ms.to_string(),
            "flush.messages" => self.flush_messages.to_string(),
            "flush.ms" => self.flush_ms.to_string(),
            "max.message.bytes" => self.max_message_bytes.to_string(),
            "message.timestamp.type" => self.message_timestamp_type.to_string(),
            "file.delete.delay.ms" => self.file_delete_delay_ms.to_string(),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_get() {
        // (key, value, expected string form, why)
        let cases = [
            ("segment.bytes", "1048576", "1048576", "plain size"),
            ("cleanup.policy", "compact,delete", "compact,delete", "both policies"),
            ("cleanup.policy", "delete,compact", "compact,delete", "order does not matter"),
            ("cleanup.policy", "compact", "compact", "compaction only"),
            ("retention.ms", "-1", "-1", "-1 keeps forever"),
            ("message.timestamp.type", "LogAppendTime", "LogAppendTime", "broker time"),
            ("min.cleanable.dirty.ratio", "0.1", "0.1", "fraction"),
        ];
        for (k, v, want, why) in cases {
            let mut c = LogConfig::default();
            c.set(k, v).unwrap();
            assert_eq!(c.get(k).as_deref(), Some(want), "{why}");
        }
    }

    #[test]
    fn errors_name_key_and_value() {
        let cases = [
            ("segment.bytez", "1", "Unknown topic config name: segment.bytez"),
            ("segment.bytes", "big", "segment.bytes"),
            ("cleanup.policy", "shred", "shred"),
            ("min.cleanable.dirty.ratio", "2", "between 0 and 1"),
            ("retention.ms", "-5", "at least -1"),
        ];
        for (k, v, needle) in cases {
            let err = LogConfig::default().set(k, v).unwrap_err().to_string();
            assert!(err.contains(needle), "{k}={v}: {err}");
            if LogConfig::is_known_key(k) {
                assert!(err.contains(k) && err.contains(v), "{err}");
            }
        }
    }

    #[test]
    fn broker_defaults_with_units() {
        let mut c = LogConfig::default();
        assert!(c.set_broker_default("log.retention.hours", "1").unwrap());
        assert_eq!(c.retention_ms, 3_600_000);
        assert!(c.set_broker_default("log.segment.bytes", "2048").unwrap());
        assert_eq!(c.segment_bytes, 2048);
        assert!(!c.set_broker_default("broker.id", "1").unwrap());
        assert_eq!(LogConfig::default().to_entries().len(), KEYS.len());
    }
}
