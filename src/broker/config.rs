//! `KafkaConfig`: the broker's settings from a `server.properties` file and
//! `--override`s, with Kafka's key names and defaults (`KafkaConfig.scala`).
//! Keys Kafka has but this broker does not act on are accepted silently;
//! unknown keys are reported so typos do not go unnoticed; invalid values
//! are errors naming the key, raised before anything binds.

use std::fmt;
use std::path::PathBuf;

use crate::config::{Error, Properties};

/// Where a listener binds or is reached: `host:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Empty means every interface when binding.
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// The address to bind: an empty host binds all interfaces, as Kafka does.
    pub fn bind_addr(&self) -> String {
        let host = if self.host.is_empty() { "0.0.0.0" } else { self.host.as_str() };
        if host.contains(':') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

#[derive(Clone, Debug)]
pub struct KafkaConfig {
    /// `broker.id`; -1 asks the cluster store to generate one.
    pub broker_id: i32,
    /// `listeners`, `advertised.listeners`, the protocol map and the
    /// inter-broker listener.
    pub listeners: super::listeners::ListenerConfig,
    /// SASL mechanisms and PLAIN users of each SASL listener.
    pub sasl: super::sasl::SaslConfig,
    /// How this broker's followers authenticate to other brokers.
    pub inter_broker_security: crate::security::ClientSecurity,
    /// `authorizer.class.name`, `super.users`, `allow.everyone.if.no.acl.found`.
    pub authorizer: Option<crate::security::acl::AuthorizerConfig>,
    /// TLS of each SSL and SASL_SSL listener, by listener name.
    pub tls: std::collections::BTreeMap<String, std::sync::Arc<crate::security::tls::ServerTls>>,
    pub log_dirs: Vec<PathBuf>,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    pub message_max_bytes: i32,
    pub socket_request_max_bytes: usize,
    /// `queued.max.request.bytes`: the most request bytes all connections
    /// together may hold while reading and handling requests. Kafka's -1
    /// (unbounded there) is `socket.request.max.bytes` here, so the broker
    /// never holds much more than one largest request beside the small ones.
    pub queued_max_request_bytes: usize,
    /// `connections.max.idle.ms`: how long a connection may hold request
    /// memory for a frame whose bytes stop arriving.
    pub connections_max_idle_ms: u64,
    pub log_retention_check_interval_ms: i64,
    pub num_recovery_threads_per_data_dir: usize,
    pub zookeeper_connect: Option<String>,
    /// `zookeeper.session.timeout.ms` (Kafka's default 18 s).
    pub zookeeper_session_timeout_ms: u64,
    /// Without `zookeeper.connect` the broker runs its own ZooKeeper server
    /// on 127.0.0.1 at this port (`embedded.zookeeper.port`, 2181 like
    /// ZooKeeper's clientPort; 0 picks a free one).
    pub embedded_zookeeper_port: u16,
    /// `metrics.listener`: where `GET /metrics` serves Prometheus's text
    /// format (`http://HOST:PORT`); unset, no endpoint.
    pub metrics_listener: Option<(String, u16)>,
    pub rack: Option<String>,
    /// Topic-level defaults derived from the broker's `log.*` keys, as
    /// topic config key/value pairs (`segment.bytes`, `retention.ms`, ...).
    pub topic_defaults: Vec<(String, String)>,
    /// Keys present in the file that Kafka does not know.
    pub unknown_keys: Vec<String>,
    /// The group coordinator's settings (`group.*`, `offsets.*`).
    pub groups: crate::coordinator::GroupConfig,
    /// `offsets.topic.replication.factor`: Kafka's default of 3 makes the
    /// offsets topic wait for three brokers, so single-broker configs set 1.
    pub offsets_topic_replication_factor: i16,
    /// `offsets.topic.segment.bytes`.
    pub offsets_topic_segment_bytes: i32,
    /// The transaction coordinator's settings (`transaction.*`).
    pub transactions: crate::transaction::TransactionConfig,
    /// `transaction.state.log.replication.factor` (Kafka's default 3).
    pub transaction_state_log_replication_factor: i16,
    /// `transaction.state.log.min.isr`: the topic's min.insync.replicas.
    pub transaction_state_log_min_isr: i32,
    /// `transaction.state.log.segment.bytes`.
    pub transaction_state_log_segment_bytes: i32,
    /// `auto.leader.rebalance.enable`.
    pub auto_leader_rebalance_enable: bool,
    /// `leader.imbalance.check.interval.seconds`.
    pub leader_imbalance_check_interval_seconds: u64,
    /// `leader.imbalance.per.broker.percentage`.
    pub leader_imbalance_per_broker_percentage: u32,
    /// `controlled.shutdown.enable`.
    pub controlled_shutdown_enable: bool,
    /// `controlled.shutdown.max.retries`.
    pub controlled_shutdown_max_retries: u32,
    /// `controlled.shutdown.retry.backoff.ms`.
    pub controlled_shutdown_retry_backoff_ms: u64,
    /// `offsets.commit.timeout.ms`: how long an offset commit waits for
    /// the ISR of its `__consumer_offsets` partition.
    pub offsets_commit_timeout_ms: u64,
    /// Followers' fetching and the leader's ISR upkeep (`replica.*`).
    pub replication: ReplicationConfig,
    /// `quota.window.num` and `quota.window.size.seconds`.
    pub quota: super::quota::QuotaConfig,
    /// The log's background work: retention checks, time-based flushes,
    /// checkpoints and the cleaner (`log.cleaner.*`, `log.flush.*`).
    pub log_background: crate::log::manager::BackgroundConfig,
    /// Kafka keys set in the config that have no effect here, each with
    /// why: the broker warns about each once at start-up.
    pub ignored_keys: Vec<(String, &'static str)>,
    /// `max.incremental.fetch.session.cache.slots` and
    /// `min.incremental.fetch.session.eviction.ms` (KIP-227).
    pub fetch_sessions: super::fetch_session::FetchSessionConfig,
}

/// Kafka's `replica.*` and `num.replica.fetchers` settings, with its defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationConfig {
    /// `num.replica.fetchers`: fetcher tasks per source broker.
    pub num_replica_fetchers: usize,
    /// `replica.fetch.max.bytes`: per partition, per fetch.
    pub fetch_max_bytes: i32,
    /// `replica.fetch.min.bytes`
    pub fetch_min_bytes: i32,
    /// `replica.fetch.wait.max.ms`
    pub fetch_wait_max_ms: i32,
    /// `replica.fetch.response.max.bytes`
    pub fetch_response_max_bytes: i32,
    /// `replica.fetch.backoff.ms`: the pause after a failed fetch round, and
    /// the longest after a partition's errors (whose first retries come
    /// sooner; see `replica_fetcher::retry_wait`).
    pub fetch_backoff_ms: u64,
    /// `replica.socket.timeout.ms`
    pub socket_timeout_ms: u64,
    /// `replica.lag.time.max.ms`: a follower not caught up for this long
    /// leaves the ISR (checked every half of it).
    pub lag_time_max_ms: i64,
    /// `replica.high.watermark.checkpoint.interval.ms`
    pub high_watermark_checkpoint_interval_ms: u64,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        Self {
            num_replica_fetchers: 1,
            fetch_max_bytes: 1_048_576,
            fetch_min_bytes: 1,
            fetch_wait_max_ms: 500,
            fetch_response_max_bytes: 10_485_760,
            fetch_backoff_ms: 1_000,
            socket_timeout_ms: 30_000,
            lag_time_max_ms: 30_000,
            high_watermark_checkpoint_interval_ms: 5_000,
        }
    }
}

impl ReplicationConfig {
    fn from_properties(p: &Properties) -> Result<Self, Error> {
        let d = Self::default();
        let positive = |key: &str, v: i64| {
            if v < 1 {
                Err(invalid(key, &v.to_string(), "must be at least 1"))
            } else {
                Ok(v)
            }
        };
        let c = Self {
            num_replica_fetchers: positive(
                "num.replica.fetchers",
                p.parse_or("num.replica.fetchers", d.num_replica_fetchers as i64)?,
            )? as usize,
            fetch_max_bytes: p.parse_or("replica.fetch.max.bytes", d.fetch_max_bytes)?,
            fetch_min_bytes: p.parse_or("replica.fetch.min.bytes", d.fetch_min_bytes)?,
            fetch_wait_max_ms: p.parse_or("replica.fetch.wait.max.ms", d.fetch_wait_max_ms)?,
            fetch_response_max_bytes: p
                .parse_or("replica.fetch.response.max.bytes", d.fetch_response_max_bytes)?,
            fetch_backoff_ms: p.parse_or("replica.fetch.backoff.ms", d.fetch_backoff_ms)?,
            socket_timeout_ms: p.parse_or("replica.socket.timeout.ms", d.socket_timeout_ms)?,
            lag_time_max_ms: positive(
                "replica.lag.time.max.ms",
                p.parse_or("replica.lag.time.max.ms", d.lag_time_max_ms)?,
            )?,
            high_watermark_checkpoint_interval_ms: p.parse_or(
                "replica.high.watermark.checkpoint.interval.ms",
                d.high_watermark_checkpoint_interval_ms,
            )?,
        };
        // Kafka's rule: a fetch must not wait past the socket timeout.
        if c.socket_timeout_ms < c.fetch_wait_max_ms.max(0) as u64 {
            return Err(invalid(
                "replica.socket.timeout.ms",
                &c.socket_timeout_ms.to_string(),
                "must be at least replica.fetch.wait.max.ms",
            ));
        }
        Ok(c)
    }
}

/// Broker keys that set a topic-level default, with the topic key and
/// Kafka's default (`LogConfig` synonyms).
const TOPIC_DEFAULTS: &[(&str, &str, &str)] = &[
    ("log.segment.bytes", "segment.bytes", "1073741824"),
    ("log.retention.bytes", "retention.bytes", "-1"),
    ("log.cleanup.policy", "cleanup.policy", "delete"),
    ("message.max.bytes", "max.message.bytes", "1048588"),
    ("log.index.size.max.bytes", "segment.index.bytes", "10485760"),
    ("log.index.interval.bytes", "index.interval.bytes", "4096"),
    ("log.flush.interval.messages", "flush.messages", "9223372036854775807"),
    ("log.segment.delete.delay.ms", "file.delete.delay.ms", "60000"),
    ("min.insync.replicas", "min.insync.replicas", "1"),
    ("compression.type", "compression.type", "producer"),
    ("log.message.timestamp.type", "message.timestamp.type", "CreateTime"),
    ("log.cleaner.delete.retention.ms", "delete.retention.ms", "86400000"),
    ("log.cleaner.min.compaction.lag.ms", "min.compaction.lag.ms", "0"),
    ("log.cleaner.min.cleanable.ratio", "min.cleanable.dirty.ratio", "0.5"),
    ("unclean.leader.election.enable", "unclean.leader.election.enable", "false"),
    ("log.preallocate", "preallocate", "false"),
];

/// Kafka broker keys that have no effect here, with Kafka's default (a
/// value equal to it changes nothing, so Kafka's stock server.properties
/// starts quietly) and why the setting does not apply.
const IGNORED_KEYS: &[(&str, &str, &str)] = &[
    ("num.network.threads", "3", "connections are served by the async runtime"),
    ("background.threads", "10", "background work runs on the log's own threads"),
    ("num.replica.alter.log.dirs.threads", "", "moving replicas between log dirs is not supported"),
    ("log.cleaner.threads", "1", "one cleaner thread cleans every log"),
    ("log.cleaner.io.buffer.size", "524288", "the cleaner reads one batch at a time"),
    ("queued.max.requests", "500", "queued requests are bounded by queued.max.request.bytes"),
    ("socket.send.buffer.bytes", "102400", "the operating system sizes socket buffers"),
    ("socket.receive.buffer.bytes", "102400", "the operating system sizes socket buffers"),
    ("replica.socket.receive.buffer.bytes", "65536", "the operating system sizes socket buffers"),
    ("socket.listen.backlog.size", "50", "the listen backlog is the operating system's default"),
    ("max.connections", "2147483647", "connections are not limited"),
    ("max.connections.per.ip", "2147483647", "connections are not limited"),
    (
        "zookeeper.connection.timeout.ms",
        "18000",
        "the ZooKeeper client waits for zookeeper.session.timeout.ms",
    ),
    ("zookeeper.set.acl", "false", "znodes are created open to every ZooKeeper client"),
    ("zookeeper.max.in.flight.requests", "10", "the ZooKeeper client pipelines without a limit"),
    ("offsets.load.buffer.size", "5242880", "offsets are loaded one batch at a time"),
    ("inter.broker.protocol.version", "", "brokers speak the newest version both sides support"),
    ("reserved.broker.max.id", "1000", "generated broker ids start above 1000"),
    ("broker.id.generation.enable", "true", "broker.id=-1 always asks ZooKeeper for an id"),
    ("metric.reporters", "", "metrics are served at metrics.listener"),
    ("metrics.num.samples", "2", "metrics are counters, not sampled rates"),
    ("metrics.sample.window.ms", "30000", "metrics are counters, not sampled rates"),
    (
        "producer.purgatory.purge.interval.requests",
        "1000",
        "completed requests leave the purgatory at once",
    ),
    (
        "fetch.purgatory.purge.interval.requests",
        "1000",
        "completed requests leave the purgatory at once",
    ),
    ("delegation.token.master.key", "", "delegation tokens are not supported"),
    ("log.roll.jitter.hours", "0", "segments roll without jitter"),
];

/// Kafka broker keys that are read here, by this module or by the owner
/// of the setting (replication, groups, security, quotas).
const ACCEPTED_KEYS: &[&str] = &[
    "embedded.zookeeper.port",
    "metrics.listener",
    "num.io.threads",
    "num.replica.fetchers",
    "zookeeper.session.timeout.ms",
    "offsets.topic.replication.factor",
    "offsets.topic.num.partitions",
    "offsets.retention.minutes",
    "offsets.commit.timeout.ms",
    "offsets.topic.segment.bytes",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "transaction.state.log.num.partitions",
    "transaction.max.timeout.ms",
    "transaction.state.log.segment.bytes",
    "transaction.abort.timed.out.transaction.cleanup.interval.ms",
    "transactional.id.expiration.ms",
    "transaction.remove.expired.transaction.cleanup.interval.ms",
    "group.initial.rebalance.delay.ms",
    "group.min.session.timeout.ms",
    "group.max.session.timeout.ms",
    "group.max.size",
    "replica.lag.time.max.ms",
    "replica.fetch.max.bytes",
    "replica.fetch.wait.max.ms",
    "replica.fetch.min.bytes",
    "replica.fetch.response.max.bytes",
    "replica.fetch.backoff.ms",
    "replica.high.watermark.checkpoint.interval.ms",
    "replica.socket.timeout.ms",
    "auto.leader.rebalance.enable",
    "leader.imbalance.per.broker.percentage",
    "leader.imbalance.check.interval.seconds",
    "controlled.shutdown.enable",
    "controlled.shutdown.max.retries",
    "controlled.shutdown.retry.backoff.ms",
    "log.cleaner.enable",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.backoff.ms",
    "log.flush.scheduler.interval.ms",
    "log.flush.offset.checkpoint.interval.ms",
    "log.flush.start.offset.checkpoint.interval.ms",
    "log.message.format.version",
    "inter.broker.listener.name",
    "listener.security.protocol.map",
    "security.inter.broker.protocol",
    "request.timeout.ms",
    "quota.window.num",
    "quota.window.size.seconds",
    "authorizer.class.name",
    "super.users",
    "allow.everyone.if.no.acl.found",
    "log.message.downconversion.enable",
    "max.incremental.fetch.session.cache.slots",
    "min.incremental.fetch.session.eviction.ms",
    "sasl.enabled.mechanisms",
    "port",
    "host.name",
    "advertised.host.name",
    "advertised.port",
    "listeners",
    "advertised.listeners",
    "log.dir",
    "log.dirs",
    "broker.rack",
    "broker.id",
    "num.partitions",
    "default.replication.factor",
    "auto.create.topics.enable",
    "delete.topic.enable",
    "socket.request.max.bytes",
    "queued.max.request.bytes",
    "connections.max.idle.ms",
    "connections.max.reauth.ms",
    "log.retention.check.interval.ms",
    "num.recovery.threads.per.data.dir",
    "zookeeper.connect",
    "log.retention.ms",
    "log.retention.minutes",
    "log.retention.hours",
    "log.roll.ms",
    "log.roll.hours",
    "log.flush.interval.ms",
    "log.roll.jitter.ms",
];

/// Whether `key` is a broker setting this broker knows (from
/// server.properties), as opposed to a typo.
pub fn is_broker_key(key: &str) -> bool {
    ACCEPTED_KEYS.contains(&key)
        || IGNORED_KEYS.iter().any(|(k, _, _)| *k == key)
        || TOPIC_DEFAULTS.iter().any(|(b, _, _)| *b == key)
        || key.starts_with("listener.name.")
        || key.starts_with("sasl.")
        || key.starts_with("ssl.")
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> Error {
    Error::InvalidValue { key: key.into(), value: value.into(), reason: reason.into() }
}

/// The number at `key` (`default` when unset), refused for `reason` below
/// `min`.
fn parse_at_least<T>(
    p: &Properties,
    key: &str,
    default: T,
    min: T,
    reason: &str,
) -> Result<T, Error>
where
    T: std::str::FromStr + PartialOrd + fmt::Display,
    T::Err: fmt::Display,
{
    let value = p.parse_or::<T>(key, default)?;
    if value < min {
        return Err(invalid(key, &value.to_string(), reason));
    }
    Ok(value)
}

impl KafkaConfig {
    /// Kafka's defaults, except that with no `listeners` the broker binds
    /// 127.0.0.1:9092 rather than every interface.
    pub fn from_properties(p: &Properties) -> Result<Self, Error> {
        let broker_id = p.parse_or::<i32>("broker.id", -1)?;
        if broker_id < -1 {
            return Err(invalid("broker.id", p.get("broker.id").unwrap_or(""), "must be >= -1"));
        }
        let listeners = super::listeners::ListenerConfig::from_properties(p)?;
        let sasl = super::sasl::SaslConfig::from_properties(p, &listeners)?;
        let tls = super::tls::server_configs(p, &listeners)?;
        let mut inter_broker_security = super::sasl::inter_broker_security(p, &listeners)?;
        inter_broker_security.tls = super::tls::inter_broker_client(p, &listeners)?;
        let authorizer = super::authorizer::config_from_properties(p)?;
        let log_dirs = p.get("log.dirs").or_else(|| p.get("log.dir")).unwrap_or("/tmp/kafka-logs");
        let log_dirs: Vec<PathBuf> = crate::config::list(log_dirs).map(PathBuf::from).collect();
        if log_dirs.is_empty() {
            return Err(invalid("log.dirs", p.get("log.dirs").unwrap_or(""), "no directory given"));
        }
        let num_partitions =
            parse_at_least::<i32>(p, "num.partitions", 1, 1, "must be at least 1")?;
        let default_replication_factor =
            parse_at_least::<i16>(p, "default.replication.factor", 1, 1, "must be at least 1")?;
        let message_max_bytes =
            parse_at_least::<i32>(p, "message.max.bytes", 1048588, 0, "must be >= 0")?;
        let socket_request_max_bytes =
            parse_at_least::<i32>(p, "socket.request.max.bytes", 104857600, 1, "must be >= 1")?;
        let queued_max_request_bytes = match p.parse_or::<i64>("queued.max.request.bytes", -1)? {
            -1 => socket_request_max_bytes as usize,
            n if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
            n => {
                return Err(invalid(
                    "queued.max.request.bytes",
                    &n.to_string(),
                    "must be -1 or >= 1",
                ))
            }
        };
        let connections_max_idle_ms = p.parse_or::<i64>("connections.max.idle.ms", 600000)?;
        let connections_max_idle_ms =
            u64::try_from(connections_max_idle_ms).ok().filter(|&ms| ms >= 1).ok_or_else(|| {
                invalid(
                    "connections.max.idle.ms",
                    &connections_max_idle_ms.to_string(),
                    "must be >= 1",
                )
            })?;
        let log_retention_check_interval_ms =
            p.parse_or::<i64>("log.retention.check.interval.ms", 300000)?;
        if log_retention_check_interval_ms < 1 {
            return Err(invalid(
                "log.retention.check.interval.ms",
                &log_retention_check_interval_ms.to_string(),
                "must be >= 1",
            ));
        }
        let num_recovery_threads_per_data_dir =
            p.parse_or::<usize>("num.recovery.threads.per.data.dir", 1)?.max(1);

        let mut topic_defaults = Vec::new();
        for (broker_key, topic_key, default) in TOPIC_DEFAULTS {
            let value = p.get(broker_key).map(str::trim).unwrap_or(default);
            validate_topic_default(broker_key, topic_key, value)?;
            topic_defaults.push((topic_key.to_string(), value.to_string()));
        }
        // Retention and roll: the most precise key wins (ms > minutes > hours).
        let retention_ms =
            time_key(p, "log.retention.ms", "log.retention.minutes", "log.retention.hours", 168)?;
        topic_defaults.push(("retention.ms".into(), retention_ms.to_string()));
        let roll_ms = time_key(p, "log.roll.ms", "", "log.roll.hours", 168)?;
        topic_defaults.push(("segment.ms".into(), roll_ms.to_string()));
        if let Some(v) = p.get("log.flush.interval.ms") {
            let ms: i64 = v
                .trim()
                .parse()
                .map_err(|_| invalid("log.flush.interval.ms", v, "not a number"))?;
            topic_defaults.push(("flush.ms".into(), ms.to_string()));
        }

        let unknown_keys =
            p.iter().map(|(k, _)| k).filter(|k| !is_broker_key(k)).map(str::to_string).collect();
        let ignored_keys = IGNORED_KEYS
            .iter()
            .filter(|(k, default, _)| p.get(k).is_some_and(|v| v.trim() != *default))
            .map(|(k, _, why)| (k.to_string(), *why))
            .collect();
        let log_background = log_background(p, log_retention_check_interval_ms as u64)?;

        Ok(KafkaConfig {
            broker_id,
            listeners,
            sasl,
            inter_broker_security,
            authorizer,
            tls,
            log_dirs,
            num_partitions,
            default_replication_factor,
            auto_create_topics_enable: p.bool_or("auto.create.topics.enable", true)?,
            delete_topic_enable: p.bool_or("delete.topic.enable", true)?,
            message_max_bytes,
            socket_request_max_bytes: socket_request_max_bytes as usize,
            queued_max_request_bytes,
            connections_max_idle_ms,
            log_retention_check_interval_ms,
            num_recovery_threads_per_data_dir,
            zookeeper_session_timeout_ms: p.parse_or("zookeeper.session.timeout.ms", 18_000u64)?,
            embedded_zookeeper_port: p.parse_or("embedded.zookeeper.port", 2181u16)?,
            metrics_listener: match p.get("metrics.listener").map(str::trim) {
                None | Some("") => None,
                Some(v) => {
                    Some(crate::metrics::parse_listener(v).ok_or_else(|| {
                        invalid("metrics.listener", v, "expected http://HOST:PORT")
                    })?)
                }
            },
            zookeeper_connect: p
                .get("zookeeper.connect")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            rack: p.get("broker.rack").map(str::to_string),
            topic_defaults,
            unknown_keys,
            groups: crate::coordinator::GroupConfig::from_properties(p)?,
            offsets_topic_replication_factor: p
                .parse_or::<i16>("offsets.topic.replication.factor", 3)?
                .max(1),
            offsets_topic_segment_bytes: p
                .parse_or::<i32>("offsets.topic.segment.bytes", 104_857_600)?
                .max(14),
            transactions: crate::transaction::TransactionConfig::from_properties(p)?,
            transaction_state_log_replication_factor: p
                .parse_or::<i16>("transaction.state.log.replication.factor", 3)?
                .max(1),
            transaction_state_log_min_isr: p
                .parse_or::<i32>("transaction.state.log.min.isr", 2)?
                .max(1),
            transaction_state_log_segment_bytes: p
                .parse_or::<i32>("transaction.state.log.segment.bytes", 104_857_600)?
                .max(14),
            auto_leader_rebalance_enable: p.bool_or("auto.leader.rebalance.enable", true)?,
            leader_imbalance_check_interval_seconds: p
                .parse_or::<u64>("leader.imbalance.check.interval.seconds", 300)?
                .max(1),
            leader_imbalance_per_broker_percentage: p
                .parse_or("leader.imbalance.per.broker.percentage", 10u32)?,
            controlled_shutdown_enable: p.bool_or("controlled.shutdown.enable", true)?,
            controlled_shutdown_max_retries: p.parse_or("controlled.shutdown.max.retries", 3u32)?,
            controlled_shutdown_retry_backoff_ms: p
                .parse_or("controlled.shutdown.retry.backoff.ms", 5000u64)?,
            offsets_commit_timeout_ms: p.parse_or("offsets.commit.timeout.ms", 5_000u64)?,
            replication: ReplicationConfig::from_properties(p)?,
            quota: super::quota::QuotaConfig::from_properties(p)?,
            log_background,
            ignored_keys,
            fetch_sessions: fetch_session_config(p)?,
        })
    }

    /// The topic-level default for `key` (e.g. `segment.bytes`).
    pub fn topic_default(&self, key: &str) -> Option<&str> {
        self.topic_defaults.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

fn fetch_session_config(p: &Properties) -> Result<super::fetch_session::FetchSessionConfig, Error> {
    let d = super::fetch_session::FetchSessionConfig::default();
    let slots_key = "max.incremental.fetch.session.cache.slots";
    let slots = p.parse_or::<i64>(slots_key, d.max_slots as i64)?;
    // Kafka's atLeast(0): zero slots turns incremental sessions off.
    let max_slots = usize::try_from(slots)
        .map_err(|_| invalid(slots_key, &slots.to_string(), "must be >= 0"))?;
    let eviction_key = "min.incremental.fetch.session.eviction.ms";
    let min_eviction_ms = p.parse_or::<i64>(eviction_key, d.min_eviction_ms)?;
    if min_eviction_ms < 0 {
        return Err(invalid(eviction_key, &min_eviction_ms.to_string(), "must be >= 0"));
    }
    Ok(super::fetch_session::FetchSessionConfig { max_slots, min_eviction_ms })
}

/// `log.retention.ms` style triples: ms wins over minutes over hours.
fn time_key(
    p: &Properties,
    ms: &str,
    minutes: &str,
    hours: &str,
    default_hours: i64,
) -> Result<i64, Error> {
    if let Some(v) = p.get(ms) {
        return v.trim().parse::<i64>().map_err(|_| invalid(ms, v, "not a number"));
    }
    if !minutes.is_empty() {
        if let Some(v) = p.get(minutes) {
            let m: i64 = v.trim().parse().map_err(|_| invalid(minutes, v, "not a number"))?;
            return Ok(m.saturating_mul(60_000));
        }
    }
    let h = p.parse_or::<i64>(hours, default_hours)?;
    Ok(h.saturating_mul(3_600_000))
}

/// Kafka's `log.cleaner.*` and `log.flush.*` scheduling keys, with its
/// defaults; `log.flush.scheduler.interval.ms` is Kafka's Long.MaxValue
/// (never) unless set, and here a one-second check that costs nothing
/// while no topic sets `flush.ms`.
fn log_background(
    p: &Properties,
    retention_check_interval_ms: u64,
) -> Result<crate::log::manager::BackgroundConfig, Error> {
    let d = crate::log::manager::BackgroundConfig::default();
    let positive = |key: &str, default: u64| -> Result<u64, Error> {
        let v = p.parse_or::<i64>(key, default.min(i64::MAX as u64) as i64)?;
        u64::try_from(v)
            .ok()
            .filter(|&v| v >= 1)
            .ok_or_else(|| invalid(key, &v.to_string(), "must be >= 1"))
    };
    Ok(crate::log::manager::BackgroundConfig {
        retention_check_interval_ms,
        flush_check_interval_ms: positive(
            "log.flush.scheduler.interval.ms",
            d.flush_check_interval_ms,
        )?,
        recovery_point_checkpoint_interval_ms: positive(
            "log.flush.offset.checkpoint.interval.ms",
            d.recovery_point_checkpoint_interval_ms,
        )?,
        log_start_offset_checkpoint_interval_ms: positive(
            "log.flush.start.offset.checkpoint.interval.ms",
            d.log_start_offset_checkpoint_interval_ms,
        )?,
        high_watermark_checkpoint_interval_ms: positive(
            "replica.high.watermark.checkpoint.interval.ms",
            d.high_watermark_checkpoint_interval_ms,
        )?,
        cleaner_enable: p.bool_or("log.cleaner.enable", d.cleaner_enable)?,
        cleaner_backoff_ms: positive("log.cleaner.backoff.ms", d.cleaner_backoff_ms)?,
        cleaner_dedupe_buffer_size: positive(
            "log.cleaner.dedupe.buffer.size",
            d.cleaner_dedupe_buffer_size,
        )?,
    })
}

fn validate_topic_default(broker_key: &str, topic_key: &str, value: &str) -> Result<(), Error> {
    super::topic_config::validate(topic_key, value)
        .map_err(|e| invalid(broker_key, value, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Result<KafkaConfig, Error> {
        KafkaConfig::from_properties(&Properties::parse(text))
    }

    #[test]
    fn defaults_are_kafkas() {
        let c = cfg("").unwrap();
        assert_eq!(
            c.listeners.listeners[0].endpoint,
            Endpoint { host: "127.0.0.1".into(), port: 9092 },
            "local single node"
        );
        assert_eq!(c.log_dirs, vec![PathBuf::from("/tmp/kafka-logs")]);
        assert_eq!(c.num_partitions, 1);
        assert!(c.auto_create_topics_enable && c.delete_topic_enable);
        assert_eq!(c.message_max_bytes, 1048588);
        assert_eq!(c.socket_request_max_bytes, 104857600);
        assert_eq!(c.topic_default("retention.ms"), Some("604800000"), "168 hours");
        assert_eq!(c.topic_default("segment.bytes"), Some("1073741824"));
        assert!(c.zookeeper_connect.is_none());
    }

    #[test]
    fn log_background_keys_are_honoured() {
        let c = cfg("").unwrap();
        let d = crate::log::manager::BackgroundConfig::default();
        assert!(c.log_background.cleaner_enable);
        assert_eq!(c.log_background.cleaner_dedupe_buffer_size, 134_217_728, "Kafka's 128 MiB");
        assert_eq!(c.log_background.recovery_point_checkpoint_interval_ms, 60_000);
        assert_eq!(c.log_background.flush_check_interval_ms, d.flush_check_interval_ms);
        let c = cfg("log.cleaner.enable=false\nlog.cleaner.backoff.ms=250\n\
             log.cleaner.dedupe.buffer.size=1048576\nlog.flush.scheduler.interval.ms=50\n\
             log.flush.offset.checkpoint.interval.ms=70\n\
             log.flush.start.offset.checkpoint.interval.ms=80\n\
             log.retention.check.interval.ms=90\n\
             replica.high.watermark.checkpoint.interval.ms=100")
        .unwrap();
        let b = &c.log_background;
        assert!(!b.cleaner_enable);
        assert_eq!(
            (
                b.cleaner_backoff_ms,
                b.cleaner_dedupe_buffer_size,
                b.flush_check_interval_ms,
                b.recovery_point_checkpoint_interval_ms,
                b.log_start_offset_checkpoint_interval_ms,
                b.retention_check_interval_ms,
                b.high_watermark_checkpoint_interval_ms,
            ),
            (250, 1_048_576, 50, 70, 80, 90, 100)
        );
        for bad in ["log.cleaner.backoff.ms=0", "log.cleaner.dedupe.buffer.size=-1"] {
            let e = cfg(bad).unwrap_err().to_string();
            assert!(e.contains(bad.split('=').next().unwrap()), "{bad}: {e}");
        }
    }

    /// A key with no effect here is named at start-up unless it holds
    /// Kafka's default, so the stock server.properties starts quietly.
    #[test]
    fn settings_without_effect_are_reported_unless_at_kafkas_default() {
        let stock = cfg(include_str!("../../config/server.properties")).unwrap();
        assert_eq!(stock.ignored_keys, vec![], "the stock config");
        assert!(stock.unknown_keys.is_empty());
        let c =
            cfg("num.network.threads=3\nlog.cleaner.threads=4\nzookeeper.set.acl=true").unwrap();
        let keys: Vec<&str> = c.ignored_keys.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["log.cleaner.threads", "zookeeper.set.acl"]);
        assert!(c.unknown_keys.is_empty(), "known to Kafka, not a typo");
    }

    #[test]
    fn keys_and_precedence() {
        let cases: &[(&str, fn(&KafkaConfig) -> bool, &str)] = &[
            (
                "listeners=PLAINTEXT://:9093",
                |c| c.listeners.listeners[0].endpoint == Endpoint { host: String::new(), port: 9093 },
                "empty host binds all",
            ),
            ("", |c| c.metrics_listener.is_none(), "no metrics endpoint unless asked for"),
            (
                "metrics.listener=http://127.0.0.1:9404",
                |c| c.metrics_listener == Some(("127.0.0.1".into(), 9404)),
                "the Prometheus endpoint where it is asked for",
            ),
            (
                "port=9094\nhost.name=localhost",
                |c| c.listeners.listeners[0].endpoint == Endpoint { host: "localhost".into(), port: 9094 },
                "0.8 keys",
            ),
            (
                "listeners=PLAINTEXT://127.0.0.1:1\nadvertised.listeners=PLAINTEXT://h:2",
                |c| c.listeners.advertised[0].endpoint.port == 2,
                "advertised wins",
            ),
            (
                "log.dir=/a\nlog.dirs=/b,/c",
                |c| c.log_dirs == [PathBuf::from("/b"), PathBuf::from("/c")],
                "log.dirs wins over log.dir",
            ),
            ("log.dir=/a", |c| c.log_dirs == [PathBuf::from("/a")], "log.dir alone"),
            (
                "log.retention.hours=1\nlog.retention.minutes=2",
                |c| c.topic_default("retention.ms") == Some("120000"),
                "minutes beat hours",
            ),
            (
                "log.retention.ms=5\nlog.retention.minutes=2",
                |c| c.topic_default("retention.ms") == Some("5"),
                "ms beats minutes",
            ),
            (
                "log.segment.bytes=1024",
                |c| c.topic_default("segment.bytes") == Some("1024"),
                "segment size",
            ),
            (
                "zookeeper.connect=localhost:2181",
                |c| c.zookeeper_connect.as_deref() == Some("localhost:2181"),
                "zk accepted",
            ),
            (
                "num.network.threads=3\nfoo.bar=1",
                |c| c.unknown_keys == ["foo.bar"],
                "only unknown keys reported",
            ),
            ("", |c| c.replication == ReplicationConfig::default(), "Kafka's replica.* defaults"),
            (
                "num.replica.fetchers=4\nreplica.lag.time.max.ms=10000\nreplica.fetch.max.bytes=65536\n\
                 replica.fetch.wait.max.ms=100\nreplica.fetch.backoff.ms=50",
                |c| {
                    let r = &c.replication;
                    (r.num_replica_fetchers, r.lag_time_max_ms, r.fetch_max_bytes)
                        == (4, 10_000, 65_536)
                        && (r.fetch_wait_max_ms, r.fetch_backoff_ms) == (100, 50)
                        && c.unknown_keys.is_empty()
                },
                "replica.* keys are read, not reported unknown",
            ),
        ];
        for (text, check, why) in cases {
            let c = cfg(text).unwrap_or_else(|e| panic!("{why}: {e}"));
            assert!(check(&c), "{why}: {c:?}");
        }
    }

    #[test]
    fn queued_request_bytes_are_bounded_even_when_kafka_would_not() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 104857600, "Kafka's -1 default is one largest request"),
            ("socket.request.max.bytes=1000", 1000, "follows socket.request.max.bytes"),
            ("queued.max.request.bytes=-1", 104857600, "explicit -1"),
            ("queued.max.request.bytes=5000000", 5000000, "as given"),
        ];
        for &(text, want, why) in cases {
            assert_eq!(cfg(text).unwrap().queued_max_request_bytes, want, "{why}");
        }
    }

    #[test]
    fn invalid_values_name_the_key() {
        let cases: &[(&str, &str)] = &[
            ("num.partitions=0", "num.partitions"),
            ("num.partitions=x", "num.partitions"),
            ("port=99999", "port"),
            ("listeners=PLAINTEXT://:1,PLAINTEXT://:2", "listeners"),
            ("log.segment.bytes=10", "log.segment.bytes"),
            ("log.cleanup.policy=forever", "log.cleanup.policy"),
            ("auto.create.topics.enable=yes", "auto.create.topics.enable"),
            ("socket.request.max.bytes=0", "socket.request.max.bytes"),
            ("queued.max.request.bytes=0", "queued.max.request.bytes"),
            ("metrics.listener=localhost", "metrics.listener"),
            ("connections.max.idle.ms=0", "connections.max.idle.ms"),
            ("queued.max.request.bytes=-2", "queued.max.request.bytes"),
            ("message.max.bytes=-5", "message.max.bytes"),
            ("num.replica.fetchers=0", "num.replica.fetchers"),
            ("replica.lag.time.max.ms=0", "replica.lag.time.max.ms"),
            (
                "replica.socket.timeout.ms=100\nreplica.fetch.wait.max.ms=500",
                "replica.socket.timeout.ms",
            ),
        ];
        for (text, key) in cases {
            let err = cfg(text).expect_err(text).to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }
}
