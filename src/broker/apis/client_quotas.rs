//! DescribeClientQuotas (48) and AlterClientQuotas (49), KIP-546: client
//! quotas of users, client ids and both, in Kafka's ZooKeeper layout
//! (`cluster::client_quotas`). Filters and validation follow Kafka's
//! ZooKeeper-mode `ZkAdminManager`: byte rates are whole numbers stored as
//! integers, `request_percentage` and `controller_mutation_rate` are
//! doubles; `ip` entities (connection rate quotas) are not served.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_client_quotas_response::{
    EntityData as AlterEntityData, EntryData as AlterEntryData,
};
use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse,
};

use super::str_bytes;
use crate::broker::BrokerContext;
use crate::cluster::client_quotas::{
    EntityName, QuotaEntity, CONSUMER_BYTE_RATE, PRODUCER_BYTE_RATE, QUOTA_KEYS,
};
use crate::protocol::ErrorCode;

/// Kafka's `ClientQuotaEntity` types.
const USER: &str = "user";
const CLIENT_ID: &str = "client-id";
const IP: &str = "ip";

/// `ClientQuotaFilterComponent` match types.
const MATCH_EXACT: i8 = 0;
const MATCH_DEFAULT: i8 = 1;
const MATCH_SPECIFIED: i8 = 2;

/// One filter component: which names of its entity type match.
#[derive(Clone, Debug, PartialEq)]
enum NameFilter {
    Exact(String),
    Default,
    /// Any name, the default included (Kafka's `ofEntityType`).
    Any,
}

fn matches(filter: Option<&NameFilter>, name: Option<&EntityName>, strict: bool) -> bool {
    match (filter, name) {
        (None, None) => true,
        (None, Some(_)) => !strict,
        (Some(_), None) => false,
        (Some(NameFilter::Any), Some(_)) => true,
        (Some(NameFilter::Default), Some(n)) => *n == EntityName::Default,
        (Some(NameFilter::Exact(want)), Some(n)) => n.name() == Some(want.as_str()),
    }
}

pub fn describe(
    ctx: &BrokerContext,
    req: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    let mut resp = DescribeClientQuotasResponse::default();
    let fail = |code: ErrorCode, msg: String| {
        let mut r = DescribeClientQuotasResponse::default();
        r.error_code = code.code();
        r.error_message = Some(str_bytes(msg));
        r
    };
    let (mut user, mut client, mut ip) = (None, None, false);
    for c in &req.components {
        let filter = match (c.match_type, c._match.as_ref()) {
            (MATCH_EXACT, Some(name)) => NameFilter::Exact(name.to_string()),
            (MATCH_EXACT, None) | (MATCH_DEFAULT, _) => NameFilter::Default,
            (MATCH_SPECIFIED, _) => NameFilter::Any,
            (other, _) => {
                return fail(ErrorCode::InvalidRequest, format!("Unexpected match type: {other}"))
            }
        };
        let slot = match c.entity_type.as_str() {
            USER => &mut user,
            CLIENT_ID => &mut client,
            IP => {
                ip = true;
                continue;
            }
            other => {
                return fail(
                    ErrorCode::InvalidRequest,
                    format!("Custom entity type '{other}' not supported"),
                )
            }
        };
        if slot.replace(filter).is_some() {
            return fail(
                ErrorCode::InvalidRequest,
                format!("Duplicate {} filter component entity type", c.entity_type.as_str()),
            );
        }
    }
    let quotas = ctx.store.client_quotas().borrow().clone();
    let mut found: Vec<(&QuotaEntity, &BTreeMap<String, f64>)> = if ip {
        // No ip entities exist here, so a filter naming one matches none.
        Vec::new()
    } else {
        quotas
            .entities
            .iter()
            .filter(|(e, _)| {
                matches(user.as_ref(), e.user.as_ref(), req.strict)
                    && matches(client.as_ref(), e.client_id.as_ref(), req.strict)
            })
            .collect()
    };
    found.sort_by(|a, b| a.0.cmp(b.0));
    let entries = found
        .into_iter()
        .map(|(e, values)| {
            let mut entity = Vec::new();
            if let Some(u) = &e.user {
                entity.push(entity_data(USER, u));
            }
            if let Some(c) = &e.client_id {
                entity.push(entity_data(CLIENT_ID, c));
            }
            let values = values
                .iter()
                .map(|(k, v)| ValueData::default().with_key(str_bytes(k.clone())).with_value(*v))
                .collect();
            EntryData::default().with_entity(entity).with_values(values)
        })
        .collect();
    resp.entries = Some(entries);
    resp
}

fn entity_data(entity_type: &str, name: &EntityName) -> EntityData {
    EntityData::default()
        .with_entity_type(str_bytes(entity_type.to_string()))
        .with_entity_name(name.name().map(|n| str_bytes(n.to_string())))
}

/// The entity of an alteration, or why Kafka would refuse it.
fn entity_of(
    entity: &[kafka_protocol::messages::alter_client_quotas_request::EntityData],
) -> Result<QuotaEntity, String> {
    let mut out = QuotaEntity { user: None, client_id: None };
    for e in entity {
        let name = match &e.entity_name {
            Some(n) => EntityName::Named(n.to_string()),
            None => EntityName::Default,
        };
        let slot = match e.entity_type.as_str() {
            USER => &mut out.user,
            CLIENT_ID => &mut out.client_id,
            IP => return Err("ip quotas (connection_creation_rate) are not supported".into()),
            other => return Err(format!("Unexpected entity type: {other}")),
        };
        if slot.replace(name).is_some() {
            return Err(format!("Duplicate entity type {}", e.entity_type.as_str()));
        }
    }
    if out.user.is_none() && out.client_id.is_none() {
        return Err("Invalid empty client quota entity".into());
    }
    Ok(out)
}

/// A quota value as Kafka stores it: byte rates are longs, so `1024.0`
/// becomes `1024` and `1024.5` is refused.
pub fn config_value(key: &str, value: f64) -> Result<String, String> {
    if !QUOTA_KEYS.contains(&key) {
        return Err(format!("Invalid configuration key {key}"));
    }
    if !value.is_finite() {
        return Err(format!("Configuration {key} must be a finite number"));
    }
    if key == PRODUCER_BYTE_RATE || key == CONSUMER_BYTE_RATE {
        let whole = value.round();
        if (whole - value).abs() > 1e-6 || whole > i64::MAX as f64 || whole < i64::MIN as f64 {
            return Err(format!("Configuration {key} must be a Long value"));
        }
        return Ok(format!("{}", whole as i64));
    }
    Ok(format!("{value:?}"))
}

pub async fn alter(
    ctx: &BrokerContext,
    req: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    let mut resp = AlterClientQuotasResponse::default();
    for entry in req.entries {
        let entity_back: Vec<AlterEntityData> = entry
            .entity
            .iter()
            .map(|e| {
                AlterEntityData::default()
                    .with_entity_type(e.entity_type.clone())
                    .with_entity_name(e.entity_name.clone())
            })
            .collect();
        let mut result = AlterEntryData::default().with_entity(entity_back);
        let invalid = |m: String| (ErrorCode::InvalidRequest, m);
        let outcome = async {
            let entity = entity_of(&entry.entity).map_err(invalid)?;
            let mut set = BTreeMap::new();
            let mut remove = Vec::new();
            for op in &entry.ops {
                let key = op.key.as_str();
                if op.remove {
                    if !QUOTA_KEYS.contains(&key) {
                        return Err(invalid(format!("Invalid configuration key {key}")));
                    }
                    remove.push(key.to_string());
                } else {
                    set.insert(key.to_string(), config_value(key, op.value).map_err(invalid)?);
                }
            }
            if req.validate_only {
                return Ok(());
            }
            ctx.store
                .alter_client_quota(entity, set, remove)
                .await
                .map_err(|e| (ErrorCode::UnknownServerError, e.to_string()))
        }
        .await;
        if let Err((code, msg)) = outcome {
            result.error_code = code.code();
            result.error_message = Some(str_bytes(msg));
        }
        resp.entries.push(result);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_rates_are_whole_numbers_and_percentages_doubles_as_kafka_stores_them() {
        assert_eq!(config_value(PRODUCER_BYTE_RATE, 1024.0).unwrap(), "1024");
        assert!(config_value(CONSUMER_BYTE_RATE, 10.5).is_err(), "a Long config");
        assert_eq!(config_value("request_percentage", 200.0).unwrap(), "200.0");
        assert_eq!(config_value("request_percentage", 12.5).unwrap(), "12.5");
        assert!(config_value("retention.ms", 1.0).is_err(), "not a quota key");
        assert!(config_value(PRODUCER_BYTE_RATE, f64::NAN).is_err());
    }

    #[test]
    fn filters_match_like_kafkas_describe_client_quotas() {
        let alice = EntityName::Named("alice".into());
        let exact = NameFilter::Exact("alice".into());
        // (filter, entity name, strict, expected, why)
        let cases = [
            (Some(&exact), Some(&alice), false, true, "exact name"),
            (Some(&exact), Some(&EntityName::Default), false, false, "exact is not default"),
            (Some(&NameFilter::Default), Some(&EntityName::Default), false, true, "default"),
            (Some(&NameFilter::Default), Some(&alice), false, false, "default is not a name"),
            (Some(&NameFilter::Any), Some(&EntityName::Default), false, true, "any has default"),
            (Some(&NameFilter::Any), None, false, false, "any needs the type"),
            (None, Some(&alice), false, true, "unfiltered type, not strict"),
            (None, Some(&alice), true, false, "unfiltered type, strict"),
            (None, None, true, true, "absent and unfiltered"),
        ];
        for (filter, name, strict, want, why) in cases {
            assert_eq!(matches(filter, name, strict), want, "{why}");
        }
    }
}
