//! DescribeConfigs for topics (every topic config key with its effective
//! value and source, so tools can tell overrides from defaults) and for
//! brokers (this broker's settings and dynamic configs, or the
//! cluster-wide dynamic defaults).

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::str_bytes;
use crate::broker::dynamic_config::{self, Level, DYNAMIC_KEYS};
use crate::broker::error::ApiError;
use crate::broker::listeners::list_to_string;
use crate::broker::topic_config::{self, Source};
use crate::broker::BrokerContext;
use crate::cluster::ClusterImage;
use crate::protocol::ErrorCode;

/// Kafka's `ConfigResource.Type`.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;
pub const RESOURCE_BROKER_LOGGER: i8 = 8;

/// `DescribeConfigsResponse.ConfigSource` values used here.
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;

pub fn handle(ctx: &BrokerContext, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let image = ctx.store.image();
    let mut resp = DescribeConfigsResponse::default();
    for res in req.resources {
        let mut result = DescribeConfigsResult::default();
        result.resource_type = res.resource_type;
        result.resource_name = res.resource_name.clone();
        let wanted = |name: &str| {
            res.configuration_keys
                .as_ref()
                .is_none_or(|keys| keys.iter().any(|k| k.as_str() == name))
        };
        match res.resource_type {
            RESOURCE_TOPIC => match image.topic(res.resource_name.as_str()) {
                None => {
                    result.error_code = ErrorCode::UnknownTopicOrPartition.code();
                    result.error_message = Some(str_bytes(format!(
                        "Topic {} does not exist.",
                        res.resource_name.as_str()
                    )));
                }
                Some(topic) => {
                    for e in topic_config::effective(&ctx.config, &topic.configs)
                        .into_iter()
                        .filter(|e| wanted(e.name))
                    {
                        let mut c = entry(e.name, &e.value, e.source as i8);
                        if req.include_synonyms {
                            c.synonyms = synonyms(ctx, &e, &topic.configs);
                        }
                        result.configs.push(c);
                    }
                }
            },
            RESOURCE_BROKER => match broker_configs(ctx, &image, res.resource_name.as_str()) {
                Ok(entries) => {
                    for mut c in entries.into_iter().filter(|c| wanted(c.name.as_str())) {
                        if !req.include_synonyms {
                            c.synonyms.clear();
                        }
                        result.configs.push(c);
                    }
                }
                Err(e) => {
                    result.error_code = e.code.code();
                    result.error_message = e.message.map(str_bytes);
                }
            },
            other => {
                result.error_code = ErrorCode::InvalidRequest.code();
                result.error_message =
                    Some(str_bytes(format!("Unsupported resource type {other}")));
            }
        }
        resp.results.push(result);
    }
    resp
}

fn entry(name: &str, value: &str, source: i8) -> DescribeConfigsResourceResult {
    let mut c = DescribeConfigsResourceResult::default();
    c.name = str_bytes(name);
    c.value = Some(str_bytes(value));
    c.read_only = false;
    c.is_sensitive = false;
    c.config_source = source;
    // Version 0 has only this flag where later versions name the source.
    c.is_default = source == Source::Default as i8;
    c
}

/// Override first, then the broker's own setting, then Kafka's default.
fn synonyms(
    ctx: &BrokerContext,
    e: &topic_config::Entry,
    overrides: &std::collections::BTreeMap<String, String>,
) -> Vec<DescribeConfigsSynonym> {
    let mut out = Vec::new();
    let mut push = |name: &str, value: &str, source: i8| out.push(synonym(name, value, source));
    if let Some(v) = overrides.get(e.name) {
        push(e.name, v, Source::Topic as i8);
    }
    let broker = topic_config::effective(&ctx.config, &Default::default());
    if let Some(b) = broker.iter().find(|b| b.name == e.name) {
        push(
            e.broker_key,
            &b.value,
            if b.source == Source::StaticBroker { STATIC_BROKER_CONFIG } else { DEFAULT_CONFIG },
        );
    }
    out
}

/// A broker resource as Kafka's `ZkAdminManager.describeConfigs` answers
/// it: for the empty name, the cluster-wide dynamic defaults only; for
/// this broker's id, every setting with where its value comes from: its
/// own dynamic config, the cluster default, server.properties, or Kafka's
/// default. Another broker's id is that broker's to answer.
fn broker_configs(
    ctx: &BrokerContext,
    image: &ClusterImage,
    name: &str,
) -> Result<Vec<DescribeConfigsResourceResult>, ApiError> {
    let dynamic = |key: &str, default: Option<&str>| {
        let levels = dynamic_config::dynamic_levels(image, ctx.broker_id, key);
        let levels: Vec<(&str, i8)> = if name.is_empty() {
            levels.into_iter().filter(|(_, l)| *l == Level::ClusterDefault).map(level).collect()
        } else {
            levels.into_iter().map(level).collect()
        };
        let (value, source) = match (levels.first(), default) {
            (Some(&(v, source)), _) => (v, source),
            (None, Some(d)) => (d, DEFAULT_CONFIG),
            (None, None) => return None,
        };
        let mut c = entry(key, value, source);
        c.synonyms = levels.iter().map(|&(v, s)| synonym(key, v, s)).collect();
        if levels.is_empty() {
            c.synonyms.push(synonym(key, value, DEFAULT_CONFIG));
        }
        Some(c)
    };
    if name.is_empty() {
        return Ok(DYNAMIC_KEYS.iter().filter_map(|(k, _)| dynamic(k, None)).collect());
    }
    let id = super::alter_configs::broker_id_of(name)?;
    if id != ctx.broker_id {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!(
                "Unexpected broker id, expected {} or empty string, but received {name}",
                ctx.broker_id
            ),
        ));
    }
    let mut out: Vec<DescribeConfigsResourceResult> = broker_entries(ctx)
        .into_iter()
        .map(|(k, v)| {
            let mut c = entry(&k, &v, STATIC_BROKER_CONFIG);
            c.read_only = true;
            c.synonyms.push(synonym(&k, &v, STATIC_BROKER_CONFIG));
            c
        })
        .collect();
    out.extend(DYNAMIC_KEYS.iter().filter_map(|(k, d)| dynamic(k, Some(d))));
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn level((value, level): (&str, Level)) -> (&str, i8) {
    (value, level as i8)
}

fn synonym(name: &str, value: &str, source: i8) -> DescribeConfigsSynonym {
    let mut s = DescribeConfigsSynonym::default();
    s.name = str_bytes(name);
    s.value = Some(str_bytes(value));
    s.source = source;
    s
}

/// This broker's settings under their Kafka names.
fn broker_entries(ctx: &BrokerContext) -> Vec<(String, String)> {
    let c = &ctx.config;
    let mut out = vec![
        ("broker.id".to_string(), ctx.broker_id.to_string()),
        ("listeners".to_string(), list_to_string(&c.listeners.listeners)),
        ("advertised.listeners".to_string(), list_to_string(&c.listeners.advertised)),
        ("inter.broker.listener.name".to_string(), c.listeners.inter_broker_listener_name.clone()),
        (
            "log.dirs".to_string(),
            c.log_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(","),
        ),
        ("num.partitions".to_string(), c.num_partitions.to_string()),
        ("default.replication.factor".to_string(), c.default_replication_factor.to_string()),
        ("auto.create.topics.enable".to_string(), c.auto_create_topics_enable.to_string()),
        ("delete.topic.enable".to_string(), c.delete_topic_enable.to_string()),
        ("message.max.bytes".to_string(), c.message_max_bytes.to_string()),
        ("socket.request.max.bytes".to_string(), c.socket_request_max_bytes.to_string()),
        ("queued.max.request.bytes".to_string(), c.queued_max_request_bytes.to_string()),
        (
            "log.retention.check.interval.ms".to_string(),
            c.log_retention_check_interval_ms.to_string(),
        ),
    ];
    for e in topic_config::effective(c, &Default::default()) {
        if !out.iter().any(|(k, _)| k == e.broker_key) {
            out.push((e.broker_key.to_string(), e.value));
        }
    }
    if let Some(zk) = &c.zookeeper_connect {
        out.push(("zookeeper.connect".to_string(), zk.clone()));
    }
    out.sort();
    out
}
