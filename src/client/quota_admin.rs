//! The admin side of client quotas (KIP-546): DescribeClientQuotas and
//! AlterClientQuotas, with entities as `(entity type, name)` pairs where
//! no name means the default entity, as in Kafka's `ClientQuotaEntity`.

use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::{AlterClientQuotasRequest, DescribeClientQuotasRequest};

use super::admin::{str_bytes, Admin};
use super::error::{check_items, Error, Result};

/// `user` or `client-id` with a name, `None` for the default.
pub type QuotaEntityPart = (String, Option<String>);

/// Which names of one entity type a describe matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuotaFilter {
    Exact(String),
    Default,
    Any,
}

/// One entity's quotas, as the broker describes them.
#[derive(Clone, Debug, PartialEq)]
pub struct EntityQuotas {
    pub entity: Vec<QuotaEntityPart>,
    pub values: Vec<(String, f64)>,
}

/// A change to one quota key: `Some` sets it, `None` removes it.
pub type QuotaOp = (String, Option<f64>);

impl Admin {
    /// The entities matching every component; `strict` excludes entities
    /// that have other entity types too (Kafka's `containsOnly`).
    pub async fn describe_client_quotas(
        &self,
        components: &[(String, QuotaFilter)],
        strict: bool,
    ) -> Result<Vec<EntityQuotas>> {
        let components = components
            .iter()
            .map(|(t, f)| {
                let c = ComponentData::default().with_entity_type(str_bytes(t));
                match f {
                    QuotaFilter::Exact(n) => c.with_match_type(0).with_match(Some(str_bytes(n))),
                    QuotaFilter::Default => c.with_match_type(1),
                    QuotaFilter::Any => c.with_match_type(2),
                }
            })
            .collect();
        let req =
            DescribeClientQuotasRequest::default().with_components(components).with_strict(strict);
        let resp = self.cluster().any_broker().send(&req).await?;
        if let Some(e) = Error::from_code(resp.error_code, resp.error_message.as_deref()) {
            return Err(e);
        }
        Ok(resp
            .entries
            .unwrap_or_default()
            .into_iter()
            .map(|e| EntityQuotas {
                entity: e
                    .entity
                    .into_iter()
                    .map(|p| (p.entity_type.to_string(), p.entity_name.map(|n| n.to_string())))
                    .collect(),
                values: e.values.into_iter().map(|v| (v.key.to_string(), v.value)).collect(),
            })
            .collect())
    }

    /// Sets and removes quota keys of one entity.
    pub async fn alter_client_quotas(
        &self,
        entity: &[QuotaEntityPart],
        ops: &[QuotaOp],
    ) -> Result<()> {
        let entity = entity
            .iter()
            .map(|(t, n)| {
                EntityData::default()
                    .with_entity_type(str_bytes(t))
                    .with_entity_name(n.as_deref().map(str_bytes))
            })
            .collect();
        let ops = ops
            .iter()
            .map(|(k, v)| {
                OpData::default()
                    .with_key(str_bytes(k))
                    .with_value(v.unwrap_or_default())
                    .with_remove(v.is_none())
            })
            .collect();
        let req = AlterClientQuotasRequest::default()
            .with_entries(vec![EntryData::default().with_entity(entity).with_ops(ops)]);
        let resp = self.cluster().any_broker().send(&req).await?;
        check_items(&resp.entries)
    }
}
