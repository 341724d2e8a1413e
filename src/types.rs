//! Newtypes for the ids and positions that would otherwise all be `i32`/`i64`.
//!
//! Each id that shares a primitive with another gets its own type, so an
//! offset can never be passed where a producer id is expected.

use std::fmt;

macro_rules! newtype {
    ($(#[$meta:meta])* $name:ident($inner:ty)) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$inner> for $name {
            fn from(v: $inner) -> Self {
                Self(v)
            }
        }
    };
}

newtype!(
    /// A record's position in a partition; the log end offset is the next one.
    Offset(i64)
);
newtype!(
    /// Producer id handed out by InitProducerId; -1 means "not idempotent".
    ProducerId(i64)
);
newtype!(
    /// `broker.id`.
    BrokerId(i32)
);
newtype!(
    /// A partition's index within its topic.
    PartitionIndex(i32)
);
newtype!(
    /// Bumped on every leader change; stamped into each batch the leader appends.
    LeaderEpoch(i32)
);

impl Offset {
    pub const NONE: Offset = Offset(-1);
}

impl ProducerId {
    pub const NONE: ProducerId = ProducerId(-1);
}

impl LeaderEpoch {
    pub const NONE: LeaderEpoch = LeaderEpoch(-1);
}

/// A topic name and a partition index: the unit of storage and leadership.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: PartitionIndex,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self { topic: topic.into(), partition: PartitionIndex(partition) }
    }

    /// The directory name Kafka uses for this partition: `<topic>-<partition>`.
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.topic, self.partition.0)
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition.0)
    }
}

/// Why a topic name is refused; the text matches Kafka's `Topic.validate`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidTopic {
    #[error("Topic name is illegal, it can't be empty")]
    Empty,
    #[error("Topic name cannot be \".\" or \"..\"")]
    Dots,
    #[error("Topic name is illegal, it can't be longer than 249 characters, topic name: {0}")]
    TooLong(String),
    #[error("Topic name \"{0}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'")]
    BadChar(String),
}

/// Kafka's rule for topic names: 1..=249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), InvalidTopic> {
    if name.is_empty() {
        return Err(InvalidTopic::Empty);
    }
    if name == "." || name == ".." {
        return Err(InvalidTopic::Dots);
    }
    if name.len() > 249 {
        return Err(InvalidTopic::TooLong(name.to_string()));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        return Err(InvalidTopic::BadChar(name.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        let cases: &[(&str, bool, &str)] = &[
            ("test", true, "plain name"),
            ("a.b_c-D9", true, "every allowed character class"),
            ("", false, "empty"),
            (".", false, "would alias the log dir"),
            ("..", false, "would escape the log dir"),
            ("a/b", false, "a path separator would escape the log dir"),
            ("a b", false, "spaces are not allowed"),
            (&"x".repeat(249), true, "the longest allowed"),
            (&"x".repeat(250), false, "one past the limit"),
        ];
        for (name, ok, why) in cases {
            assert_eq!(validate_topic_name(name).is_ok(), *ok, "{why}: {name:?}");
        }
    }

    #[test]
    fn partition_dir_name() {
        assert_eq!(TopicPartition::new("test", 3).dir_name(), "test-3");
    }
}
