//! The by-topic shape most responses share: per-partition answers grouped
//! under their topic's name, built from a request's topics or from
//! per-partition outcomes. Each handler still builds its own entries.

use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::StrBytes;

use super::str_bytes;

/// A response's topics for a request's: `topic` of each topic's name, with
/// what `partition` answers for each of its partitions, in request order.
pub(crate) fn answer_topics<Q, P, R, T>(
    topics: Vec<Q>,
    split: impl Fn(Q) -> (TopicName, Vec<P>),
    mut partition: impl FnMut(&TopicName, P) -> R,
    topic: impl Fn(TopicName, Vec<R>) -> T,
) -> Vec<T> {
    let answer = |t| {
        let (name, partitions) = split(t);
        let answers = partitions.into_iter().map(|p| partition(&name, p)).collect();
        topic(name, answers)
    };
    topics.into_iter().map(answer).collect()
}

/// The partitions a request names, topic by topic.
pub(crate) fn topic_partitions<T>(
    topics: &[T],
    of: impl Fn(&T) -> (&TopicName, &[i32]),
) -> Vec<crate::types::TopicPartition> {
    let each = |t| {
        let (name, partitions) = of(t);
        partitions.iter().map(|&p| crate::types::TopicPartition::new(name.0.to_string(), p))
    };
    topics.iter().flat_map(each).collect()
}

/// A response's topic entries from per-partition outcomes, grouped as
/// [`by_topic`] does; `partition` builds a partition's entry from its
/// index, error code and error message.
pub(crate) fn outcomes_by_topic<P, T>(
    outcomes: Vec<(crate::types::TopicPartition, crate::protocol::ErrorCode, Option<String>)>,
    partition: fn(i32, i16, Option<StrBytes>) -> P,
    topic: impl Fn(TopicName, Vec<P>) -> T,
) -> Vec<T> {
    let entries = outcomes.into_iter().map(|(tp, code, message)| {
        (tp.topic, partition(tp.partition.0, code.code(), message.map(str_bytes)))
    });
    by_topic(entries, topic)
}

/// A response's topic entries from per-partition entries: the entries
/// grouped by topic, topics in name order, each built by `topic`.
pub(crate) fn by_topic<P, T>(
    entries: impl IntoIterator<Item = (String, P)>,
    topic: impl Fn(TopicName, Vec<P>) -> T,
) -> Vec<T> {
    let mut grouped: std::collections::BTreeMap<String, Vec<P>> = Default::default();
    for (name, entry) in entries {
        grouped.entry(name).or_default().push(entry);
    }
    grouped.into_iter().map(|(name, entries)| topic(TopicName(str_bytes(name)), entries)).collect()
}
