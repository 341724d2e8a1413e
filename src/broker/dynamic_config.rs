//! Dynamic broker configs (KIP-226): the keys a broker takes from
//! `/config/brokers/<id>` and the cluster-wide `/config/brokers/<default>`
//! while it runs, how a change to them is validated, and what
//! DescribeConfigs reports for them.
//!
//! A key is accepted only if this broker applies it live: the replication
//! throttle rates, which [`super::replication_quota`] picks up from every
//! cluster image. The other keys Kafka can change dynamically (thread
//! counts, log defaults, listeners) and every static key are refused the
//! way Kafka refuses a key it cannot update dynamically, rather than
//! stored and silently ignored.

use std::collections::BTreeMap;

use crate::cluster::znodes::BROKER_DEFAULT;
use crate::cluster::ClusterImage;

/// Kafka's `QuotaConfigs.LEADER_REPLICATION_THROTTLED_RATE_CONFIG`.
pub const LEADER_RATE: &str = "leader.replication.throttled.rate";
/// Kafka's `QuotaConfigs.FOLLOWER_REPLICATION_THROTTLED_RATE_CONFIG`.
pub const FOLLOWER_RATE: &str = "follower.replication.throttled.rate";

/// The keys applied live, with Kafka's default (`Long.MAX_VALUE`: no limit).
pub const DYNAMIC_KEYS: &[(&str, &str)] =
    &[(FOLLOWER_RATE, "9223372036854775807"), (LEADER_RATE, "9223372036854775807")];

/// Where a dynamic value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// DYNAMIC_BROKER_CONFIG (2): `/config/brokers/<id>`.
    Broker = 2,
    /// DYNAMIC_DEFAULT_BROKER_CONFIG (3): `/config/brokers/<default>`.
    ClusterDefault = 3,
}

/// The dynamic value of `key` for `broker_id`: its own override, else the
/// cluster default (Kafka's `BrokerConfigHandler.getOrDefault`).
pub fn dynamic_value<'a>(
    image: &'a ClusterImage,
    broker_id: i32,
    key: &str,
) -> Option<(&'a str, Level)> {
    dynamic_levels(image, broker_id, key).into_iter().next()
}

/// Both dynamic levels of `key` that are set, own first (the synonyms).
pub fn dynamic_levels<'a>(
    image: &'a ClusterImage,
    broker_id: i32,
    key: &str,
) -> Vec<(&'a str, Level)> {
    let mut out = Vec::new();
    if let Some(v) = image.broker_configs.get(&broker_id.to_string()).and_then(|c| c.get(key)) {
        out.push((v.as_str(), Level::Broker));
    }
    if let Some(v) = image.broker_configs.get(BROKER_DEFAULT).and_then(|c| c.get(key)) {
        out.push((v.as_str(), Level::ClusterDefault));
    }
    out
}

/// Why a broker config change is refused, in the words of Kafka's
/// `DynamicBrokerConfig.validateConfigs`; the broker answers
/// INVALID_REQUEST with it, as Kafka's `ZkAdminManager` does.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidBrokerConfig {
    #[error("Cannot update these configs dynamically: Set({})", .0.join(", "))]
    NotDynamic(Vec<String>),
    #[error("Unknown broker configs: Set({})", .0.join(", "))]
    Unknown(Vec<String>),
    #[error("Invalid value {value} for configuration {key}: {reason}")]
    BadValue { key: String, value: String, reason: String },
}

/// Checks a whole set of dynamic configs for one broker or the default.
/// `is_broker_key` tells a key this broker knows (set only at start-up)
/// from one it has never heard of.
pub fn validate(
    configs: &BTreeMap<String, String>,
    is_broker_key: impl Fn(&str) -> bool,
) -> Result<(), InvalidBrokerConfig> {
    let not_dynamic = |k: &&String| !DYNAMIC_KEYS.iter().any(|(d, _)| d == k);
    let (known, unknown): (Vec<&String>, Vec<&String>) =
        configs.keys().filter(not_dynamic).partition(|k| is_broker_key(k));
    if !known.is_empty() {
        return Err(InvalidBrokerConfig::NotDynamic(known.into_iter().cloned().collect()));
    }
    if !unknown.is_empty() {
        return Err(InvalidBrokerConfig::Unknown(unknown.into_iter().cloned().collect()));
    }
    for (key, value) in configs {
        let bad = |reason: &str| InvalidBrokerConfig::BadValue {
            key: key.clone(),
            value: value.clone(),
            reason: reason.into(),
        };
        match value.trim().parse::<i64>() {
            Ok(n) if n >= 0 => {}
            Ok(_) => return Err(bad("Value must be at least 0")),
            Err(_) => return Err(bad("Not a number of type LONG")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn only_keys_applied_live_are_accepted() {
        let known = |k: &str| k == "log.dirs" || k == "num.io.threads";
        type Case<'a> = (&'a [(&'a str, &'a str)], Result<(), InvalidBrokerConfig>, &'a str);
        let cases: &[Case] = &[
            (&[(LEADER_RATE, "1000"), (FOLLOWER_RATE, "0")], Ok(()), "the throttle rates"),
            (&[], Ok(()), "removing every key"),
            (
                &[("log.dirs", "/x"), ("num.io.threads", "4")],
                Err(InvalidBrokerConfig::NotDynamic(vec![
                    "log.dirs".into(),
                    "num.io.threads".into(),
                ])),
                "static keys, named together as Kafka's Set does",
            ),
            (
                &[("no.such.key", "1")],
                Err(InvalidBrokerConfig::Unknown(vec!["no.such.key".into()])),
                "a typo is not stored",
            ),
            (
                &[(LEADER_RATE, "fast")],
                Err(InvalidBrokerConfig::BadValue {
                    key: LEADER_RATE.into(),
                    value: "fast".into(),
                    reason: "Not a number of type LONG".into(),
                }),
                "rates are longs",
            ),
            (
                &[(FOLLOWER_RATE, "-1")],
                Err(InvalidBrokerConfig::BadValue {
                    key: FOLLOWER_RATE.into(),
                    value: "-1".into(),
                    reason: "Value must be at least 0".into(),
                }),
                "Kafka's atLeast(0)",
            ),
        ];
        for (pairs, want, why) in cases {
            assert_eq!(&validate(&configs(pairs), known), want, "{why}");
        }
        assert_eq!(
            InvalidBrokerConfig::NotDynamic(vec!["a".into(), "b".into()]).to_string(),
            "Cannot update these configs dynamically: Set(a, b)"
        );
    }

    #[test]
    fn a_brokers_own_value_wins_over_the_cluster_default() {
        let mut image = ClusterImage::default();
        image.broker_configs.insert(BROKER_DEFAULT.into(), configs(&[(LEADER_RATE, "10")]));
        assert_eq!(dynamic_value(&image, 1, LEADER_RATE), Some(("10", Level::ClusterDefault)));
        image.broker_configs.insert("1".into(), configs(&[(LEADER_RATE, "20")]));
        assert_eq!(dynamic_value(&image, 1, LEADER_RATE), Some(("20", Level::Broker)));
        assert_eq!(
            dynamic_levels(&image, 1, LEADER_RATE),
            vec![("20", Level::Broker), ("10", Level::ClusterDefault)]
        );
        assert_eq!(dynamic_value(&image, 2, LEADER_RATE), Some(("10", Level::ClusterDefault)));
        assert_eq!(dynamic_value(&image, 2, FOLLOWER_RATE), None);
    }
}
