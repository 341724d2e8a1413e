//! AlterConfigs (replace a resource's configs) and IncrementalAlterConfigs
//! (set, delete, append to or subtract from single keys), for topics and
//! brokers. Topic overrides are validated as a whole, persisted in the
//! metadata store and applied to the partitions' logs; dynamic broker
//! configs (KIP-226) are validated by [`dynamic_config`] and stored under
//! `/config/brokers`, from where every broker applies them.

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

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use super::error_fields;
use crate::broker::config::is_broker_key;
use crate::broker::error::ApiError;
use crate::broker::{dynamic_config, topic_config, BrokerContext};
use crate::cluster::znodes::BROKER_DEFAULT;
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
            alter_resource(ctx, res.resource_type, &res.resource_name, req.validate_only, |_| {
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
        (r.error_code, r.error_message) = error_fields(outcome);
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
        let outcome = alter_resource(
            ctx,
            res.resource_type,
            &res.resource_name,
            req.validate_only,
            |current| {
                let mut next = current.clone();
                for c in &res.configs {
                    apply_op(&mut next, c)?;
                }
                Ok(next)
            },
        )
        .await;
        let mut r = incremental_alter_configs_response::AlterConfigsResourceResponse::default();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name;
        (r.error_code, r.error_message) = error_fields(outcome);
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
                .map(|s| crate::config::list(s).map(str::to_string).collect())
                .unwrap_or_default();
            for item in crate::config::list(&v) {
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

async fn alter_resource(
    ctx: &BrokerContext,
    resource_type: i8,
    name: &StrBytes,
    validate_only: bool,
    change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ApiError>,
) -> Result<(), ApiError> {
    match resource_type {
        RESOURCE_TOPIC => alter_topic(ctx, name.as_str(), validate_only, change).await,
        RESOURCE_BROKER => alter_broker(ctx, name.as_str(), validate_only, change).await,
        other => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("Unsupported resource type {other}"),
        )),
    }
}

async fn alter_topic(
    ctx: &BrokerContext,
    name: &str,
    validate_only: bool,
    change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ApiError>,
) -> Result<(), ApiError> {
    let image = ctx.store.image();
    let topic = image.topic(name).ok_or_else(|| {
        ApiError::new(ErrorCode::UnknownTopicOrPartition, format!("Topic {name} does not exist."))
    })?;
    let next = change(&topic.configs)?;
    topic_config::validate_all(&next)
        .map_err(|e| ApiError::new(ErrorCode::InvalidConfig, e.to_string()))?;
    if validate_only {
        return Ok(());
    }
    ctx.store.set_topic_configs(name, next).await?;
    ctx.apply_metadata().await;
    tracing::info!(topic = %name, "updated topic configs");
    Ok(())
}

/// Dynamic configs of this broker (`name` is its id) or of every broker
/// (`name` is empty), stored where Kafka keeps them and applied by every
/// broker from its next image. As in Kafka's `ZkAdminManager`, a broker
/// alters only its own configs (clients send them to that broker), and a
/// refused config is an INVALID_REQUEST naming the resource.
async fn alter_broker(
    ctx: &BrokerContext,
    name: &str,
    validate_only: bool,
    change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, ApiError>,
) -> Result<(), ApiError> {
    let entity = if name.is_empty() {
        BROKER_DEFAULT.to_string()
    } else {
        let id = broker_id_of(name)?;
        if id != ctx.broker_id {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("Unexpected broker id, expected {}, but received {name}", ctx.broker_id),
            ));
        }
        id.to_string()
    };
    let image = ctx.store.image();
    let current = image.broker_configs.get(&entity).cloned().unwrap_or_default();
    let next = change(&current)?;
    dynamic_config::validate(&next, is_broker_key).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!(
                "Invalid config value for resource ConfigResource(type=BROKER, name='{name}'): {e}"
            ),
        )
    })?;
    if validate_only || next == current {
        return Ok(());
    }
    ctx.store.set_entity_config("brokers", &entity, next).await?;
    ctx.apply_metadata().await;
    tracing::info!(entity = %entity, "updated dynamic broker configs");
    Ok(())
}

/// Kafka's `resourceNameToBrokerId`.
pub fn broker_id_of(name: &str) -> Result<i32, ApiError> {
    name.parse().map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!("Broker id must be an integer, but it is: {name}"),
        )
    })
}
