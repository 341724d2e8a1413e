//! AlterConfigs (replace a topic's overrides) and IncrementalAlterConfigs
//! (set, delete, append to or subtract from single keys). Topic overrides
//! are validated as a whole, persisted in the metadata store and applied
//! to the partitions' logs. Dynamic broker configs are not supported.

use std::collections::BTreeMap;

use kafka_protocol::messages::{
    alter_configs_request, alter_configs_response, incremental_alter_configs_request,
    incremental_alter_configs_response,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::describe_configs::RESOURCE_TOPIC;
use super::str_bytes;
use crate::broker::error::ApiError;
use crate::broker::{topic_config, BrokerContext};
use crate::protocol::ErrorCode;

/// Keys holding comma-separated lists, which APPEND and SUBTRACT work on.
const LIST_KEYS: &[&str] = &[
    "cleanup.policy",
    "leader.replication.throttled.replicas",
    "follower.replication.throttled.replicas",
];

pub async fn handle_alter(ctx: &BrokerContext, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let mut resp = AlterConfigsResponse::default();
    for res in req.resources {
        let outcome =
            alter_topic(ctx, res.resource_type, &res.resource_name, req.validate_only, |_| {
                let mut next = BTreeMap::new();
                for c in &res.configs {
                    let alter_configs_request::AlterableConfig { name, value, .. } = c;
                    match value {
                        Some(v) => {
                            next.insert(name.to_string(), v.to_string());
                        }
                        None => {
                            return Err(ApiError::new(
                                ErrorCode::InvalidConfig,
                                topic_config::InvalidConfig::Null(name.to_string()).to_string(),
                            ))
                        }
                    }
                }
                Ok(next)
            })
            .await;
        let mut r = alter_configs_response::AlterConfigsResourceResponse::default();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name;
        if let Err(e) = outcome {
            r.error_code = e.code.code();
            r.error_message = e.message.map(str_bytes);
        }
        resp.responses.push(r);
    }
    resp
}

pub async fn handle_incremental(
    ctx: &BrokerContext,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut resp = IncrementalAlterConfigsResponse::default();
    for res in req.resources {
        let outcome =
            alter_topic(ctx, res.resource_type, &res.resource_name, req.validate_only, |current| {
                let mut next = current.clone();
                for c in &res.configs {
                    apply_op(&mut next, c)?;
                }
                Ok(next)
            })
            .await;
        let mut r = incremental_alter_configs_response::AlterConfigsResourceResponse::default();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name;
        if let Err(e) = outcome {
            r.error_code = e.code.code();
            r.error_message = e.message.map(str_bytes);
        }
        resp.responses.push(r);
    }
    resp
}

/// Kafka's `AlterConfigOp.OpType`: 0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT.
fn apply_op(
    configs: &mut BTreeMap<String, String>,
    c: &incremental_alter_configs_request::AlterableConfig,
) -> Result<(), ApiError> {
    let key = c.name.to_string();
    let value = c.value.as_ref().map(StrBytes::to_string);
    let invalid = |m: String| ApiError::new(ErrorCode::InvalidConfig, m);
    match c.config_operation {
        0 => {
            let v = value.ok_or_else(|| {
                invalid(topic_config::InvalidConfig::Null(key.clone()).to_string())
            })?;
            configs.insert(key, v);
        }
        1 => {
            configs.remove(&key);
        }
        2 | 3 => {
            if !LIST_KEYS.contains(&key.as_str()) {
                return Err(invalid(format!(
                    "Config value append is not allowed for config key: {key}"
                )));
            }
            let v = value.ok_or_else(|| {
                invalid(topic_config::InvalidConfig::Null(key.clone()).to_string())
            })?;
            let mut items: Vec<String> = configs
                .get(&key)
                .map(|s| {
                    s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()
                })
                .unwrap_or_default();
            for item in v.split(',').map(str::trim).filter(|x| !x.is_empty()) {
                if c.config_operation == 2 {
                    if !items.iter().any(|i| i == item) {
                        items.push(item.to_string());
                    }
                } else {
                    items.retain(|i| i != item);
                }
            }
            if items.is_empty() {
                configs.remove(&key);
            } else {
                configs.insert(key, items.join(","));
            }
        }
        op => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("Unknown config operation {op}"),
            ))
        }
    }
    Ok(())
}

async fn alter_topic(
    ctx: &BrokerContext,
    resource_type: i8,
    name: &StrBytes,
    validate_only: bool,
    change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ApiError>,
) -> Result<(), ApiError> {
    if resource_type != RESOURCE_TOPIC {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "Only topic configs can be altered on this broker",
        ));
    }
    let image = ctx.store.image();
    let topic = image.topic(name.as_str()).ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnknownTopicOrPartition,
            format!("Topic {} does not exist.", name.as_str()),
        )
    })?;
    let next = change(&topic.configs)?;
    topic_config::validate_all(&next)
        .map_err(|e| ApiError::new(ErrorCode::InvalidConfig, e.to_string()))?;
    if validate_only {
        return Ok(());
    }
    ctx.store.set_topic_configs(name.as_str(), next).await?;
    ctx.apply_metadata().await;
    tracing::info!(topic = %name.as_str(), "updated topic configs");
    Ok(())
}
