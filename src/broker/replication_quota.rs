//! Replication quotas (Kafka's `ReplicationQuotaManager`, KIP-73): the
//! bytes a leader sends to followers, and a follower fetches from leaders,
//! for the partitions an operator marked throttled, kept under the
//! brokers' `leader.replication.throttled.rate` and
//! `follower.replication.throttled.rate`.
//!
//! Which partitions are throttled comes from the topic configs
//! `leader.replication.throttled.replicas` and
//! `follower.replication.throttled.replicas` (`*`, or
//! `partition:broker` pairs of which this broker keeps its own); the rates
//! from the dynamic broker configs ([`super::dynamic_config`]). Both are
//! refreshed from every cluster image.
//!
//! Kafka measures a rate over sample windows and refuses a fetch while the
//! rate is above the bound; a token bucket per direction does the same job
//! with one number: each fetch takes its bytes (possibly going below
//! zero), the bucket refills at the rate, holding at most one second's
//! worth, and a throttled partition is left out of fetches while the
//! bucket is below zero. The check and the record are per fetch, never
//! per record. Replicas in the ISR are never held back (Kafka's
//! `shouldLeaderThrottle` / `shouldFollowerThrottle`): only replicas that
//! are catching up are slowed, so a throttled reassignment never costs
//! acks=all producers their latency.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use super::dynamic_config::{self, FOLLOWER_RATE, LEADER_RATE};
use crate::cluster::ClusterImage;
use crate::sync::{MutexExt, RwLockExt};
use crate::types::TopicPartition;

/// The topic configs naming throttled replicas.
pub const LEADER_REPLICAS: &str = "leader.replication.throttled.replicas";
pub const FOLLOWER_REPLICAS: &str = "follower.replication.throttled.replicas";

/// Bytes allowed at `rate` bytes/s, with a burst of one second's worth.
/// Time is passed in, so the arithmetic is tested without a clock.
#[derive(Debug)]
pub struct TokenBucket {
    /// `None`: unlimited (no rate set, or Kafka's Long.MAX_VALUE).
    rate: Option<u64>,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(now: Instant) -> Self {
        TokenBucket { rate: None, tokens: 0.0, last: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        if let Some(rate) = self.rate {
            self.tokens = (self.tokens + elapsed * rate as f64).min(rate as f64);
        }
    }

    /// Kafka's `isQuotaExceeded`: the bytes taken so far are above the rate.
    pub fn is_exceeded(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.rate.is_some() && self.tokens < 0.0
    }

    pub fn record(&mut self, bytes: usize, now: Instant) {
        self.refill(now);
        if self.rate.is_some() {
            self.tokens -= bytes as f64;
        }
    }

    /// How long until the bucket is no longer exceeded (zero if it is not).
    pub fn wait(&mut self, now: Instant) -> Duration {
        self.refill(now);
        match self.rate {
            Some(rate) if self.tokens < 0.0 => {
                if rate == 0 {
                    Duration::MAX
                } else {
                    Duration::from_secs_f64(-self.tokens / rate as f64)
                }
            }
            _ => Duration::ZERO,
        }
    }

    /// A new rate applies from now; a debt taken at the old rate is kept
    /// (capped at one second of the new one), so raising the rate frees
    /// the throttled replicas at once and lowering it never forgives.
    pub fn set_rate(&mut self, rate: Option<u64>, now: Instant) {
        self.refill(now);
        if rate == self.rate {
            return;
        }
        self.rate = rate;
        self.tokens = match rate {
            Some(r) => self.tokens.min(0.0).max(-(r as f64)),
            None => 0.0,
        };
    }
}

/// The partitions of one topic that are throttled on this broker.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Throttled {
    All,
    Some(BTreeSet<i32>),
}

/// Kafka's `TopicConfigHandler.parseThrottledPartitions`: `*` throttles
/// every partition; otherwise the partitions of the `partition:broker`
/// pairs naming `broker_id`. Malformed pairs are skipped (the topic config
/// validator refuses them on the way in).
fn parse_throttled(value: &str, broker_id: i32) -> Option<Throttled> {
    let value = value.trim();
    if value == "*" {
        return Some(Throttled::All);
    }
    let partitions: BTreeSet<i32> = value
        .split(',')
        .filter_map(|pair| {
            let (p, b) = pair.trim().split_once(':')?;
            (b.trim().parse::<i32>().ok()? == broker_id).then_some(())?;
            p.trim().parse::<i32>().ok()
        })
        .collect();
    (!partitions.is_empty()).then_some(Throttled::Some(partitions))
}

/// One direction's quota: which partitions it covers and how fast they go.
pub struct ReplicationQuotaManager {
    bucket: Mutex<TokenBucket>,
    throttled: RwLock<HashMap<String, Throttled>>,
}

impl Default for ReplicationQuotaManager {
    fn default() -> Self {
        ReplicationQuotaManager {
            bucket: Mutex::new(TokenBucket::new(Instant::now())),
            throttled: RwLock::new(HashMap::new()),
        }
    }
}

impl ReplicationQuotaManager {
    fn bucket(&self) -> std::sync::MutexGuard<'_, TokenBucket> {
        self.bucket.lock_or_recover()
    }

    pub fn is_throttled(&self, tp: &TopicPartition) -> bool {
        let throttled = self.throttled.read_or_recover();
        match throttled.get(&tp.topic) {
            Some(Throttled::All) => true,
            Some(Throttled::Some(ps)) => ps.contains(&tp.partition.0),
            None => false,
        }
    }

    pub fn is_quota_exceeded(&self) -> bool {
        self.bucket().is_exceeded(Instant::now())
    }

    pub fn record(&self, bytes: usize) {
        if bytes > 0 {
            self.bucket().record(bytes, Instant::now());
        }
    }

    /// How long until throttled partitions may be fetched again.
    pub fn wait(&self) -> Duration {
        self.bucket().wait(Instant::now())
    }

    fn update(&self, rate: Option<u64>, throttled: HashMap<String, Throttled>) {
        self.bucket().set_rate(rate, Instant::now());
        let mut current = self.throttled.write_or_recover();
        if *current != throttled {
            *current = throttled;
        }
    }
}

/// The leader and follower quotas of one broker.
#[derive(Default)]
pub struct ReplicationQuotas {
    pub leader: ReplicationQuotaManager,
    pub follower: ReplicationQuotaManager,
}

impl ReplicationQuotas {
    /// Takes the rates and throttled replicas from a cluster image.
    pub fn apply_image(&self, image: &ClusterImage, broker_id: i32) {
        for (quota, rate_key, replicas_key) in [
            (&self.leader, LEADER_RATE, LEADER_REPLICAS),
            (&self.follower, FOLLOWER_RATE, FOLLOWER_REPLICAS),
        ] {
            let rate = dynamic_config::dynamic_value(image, broker_id, rate_key)
                .and_then(|(v, _)| v.trim().parse::<i64>().ok())
                .filter(|r| *r >= 0 && *r < i64::MAX)
                .map(|r| r as u64);
            let throttled = image
                .topics
                .values()
                .filter_map(|t| {
                    let parsed = parse_throttled(t.configs.get(replicas_key)?, broker_id)?;
                    Some((t.name.clone(), parsed))
                })
                .collect();
            quota.update(rate, throttled);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttled_replica_lists_keep_this_brokers_partitions() {
        let cases: &[(&str, Option<Throttled>, &str)] = &[
            ("*", Some(Throttled::All), "the wildcard throttles every partition"),
            (
                "0:1,1:2,2:1",
                Some(Throttled::Some([0, 2].into())),
                "pairs of other brokers are someone else's",
            ),
            ("0:2", None, "no pair names this broker"),
            ("", None, "an empty list throttles nothing"),
            (" 3 : 1 ", Some(Throttled::Some([3].into())), "spaces as Kafka trims them"),
            ("x:1,4:1", Some(Throttled::Some([4].into())), "a malformed pair is skipped"),
        ];
        for (value, want, why) in cases {
            assert_eq!(&parse_throttled(value, 1), want, "{why}: {value:?}");
        }
    }

    /// The time now, and a bucket started then at `rate` bytes a second.
    fn bucket(rate: Option<u64>) -> (Instant, TokenBucket) {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(t0);
        b.set_rate(rate, t0);
        (t0, b)
    }

    #[test]
    fn a_bucket_holds_a_rate_on_average() {
        let (t0, mut b) = bucket(Some(1000));
        assert!(!b.is_exceeded(t0), "nothing taken yet");
        b.record(3000, t0);
        assert!(b.is_exceeded(t0), "one fetch may overshoot; the next waits");
        assert_eq!(b.wait(t0), Duration::from_secs(3));
        assert!(b.is_exceeded(t0 + Duration::from_millis(2900)));
        assert!(!b.is_exceeded(t0 + Duration::from_secs(3)), "paid back after bytes / rate");
    }

    #[test]
    fn an_idle_bucket_saves_at_most_one_second() {
        let (t0, mut b) = bucket(Some(1000));
        let later = t0 + Duration::from_secs(60);
        b.record(2500, later);
        assert!(b.is_exceeded(later), "a minute idle does not buy a minute of burst");
        assert_eq!(b.wait(later), Duration::from_millis(1500));
    }

    #[test]
    fn raising_or_removing_the_rate_frees_the_debt() {
        let (t0, mut b) = bucket(Some(100));
        b.record(10_000, t0);
        assert_eq!(b.wait(t0), Duration::from_secs(100));
        b.set_rate(Some(1000), t0);
        assert_eq!(b.wait(t0), Duration::from_secs(1), "the debt is capped at one new second");
        b.set_rate(None, t0);
        assert!(!b.is_exceeded(t0), "no rate, no throttle");
        b.record(usize::MAX, t0);
        assert!(!b.is_exceeded(t0), "unlimited buckets keep no debt");
    }

    #[test]
    fn a_zero_rate_stops_after_the_first_fetch() {
        let (t0, mut b) = bucket(Some(0));
        b.record(1, t0);
        assert!(b.is_exceeded(t0 + Duration::from_secs(3600)));
        assert_eq!(b.wait(t0), Duration::MAX);
    }
}
