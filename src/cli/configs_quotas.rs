//! `kafka-rs configs --entity-type users|clients`: client quotas through
//! Describe/AlterClientQuotas, printed the way Kafka's `ConfigCommand`
//! prints them (`Quota configs for user-principal 'alice', client-id 'app'
//! are producer_byte_rate=1024.0`). A user's SCRAM credentials share the
//! entity type and are left to [`super::configs::users`].

use anyhow::bail;

use super::configs::{parse_add_config, users, with_admin, ConfigsArgs};
use crate::client::quota_admin::{EntityQuotas, QuotaEntityPart, QuotaFilter, QuotaOp};
use crate::cluster::client_quotas::QUOTA_KEYS;
use crate::security::scram::ScramMechanism;

/// One entity type of the command and which of its names it means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum NameSel {
    Named(String),
    Default,
    /// `--describe` without a name: every name.
    Unnamed,
}

/// `("user" | "client-id", which names)`, user first.
pub(super) type Target = Vec<(&'static str, NameSel)>;

/// The quota entity the flags name, `None` when they name topics or brokers.
pub(super) fn quota_entity(args: &ConfigsArgs) -> anyhow::Result<Option<Target>> {
    let mut target: Target = Vec::new();
    let mut names = args.entity_name.iter();
    for t in &args.entity_type {
        let kind = match t.as_str() {
            "users" => "user",
            "clients" => "client-id",
            _ => continue,
        };
        let sel = match names.next() {
            Some(n) => NameSel::Named(n.clone()),
            None if args.entity_default => NameSel::Default,
            None => NameSel::Unnamed,
        };
        target.push((kind, sel));
    }
    let shortcuts = [
        ("user", args.user.clone(), args.user_defaults),
        ("client-id", args.client.clone(), args.client_defaults),
    ];
    for (kind, name, default) in shortcuts {
        let sel = match (name, default) {
            (Some(n), _) => NameSel::Named(n),
            (None, true) => NameSel::Default,
            (None, false) => continue,
        };
        target.push((kind, sel));
    }
    if target.is_empty() {
        return Ok(None);
    }
    if args.entity_type.iter().any(|t| t == "topics" || t == "brokers") {
        bail!("users and clients cannot be combined with topics or brokers");
    }
    target.sort_by_key(|(kind, _)| *kind != "user");
    if target.windows(2).any(|w| w[0].0 == w[1].0) {
        bail!("each of users and clients may be given once");
    }
    Ok(Some(target))
}

pub(super) fn run(args: &ConfigsArgs, target: Target) -> anyhow::Result<()> {
    let only_user = match target.as_slice() {
        [("user", NameSel::Named(n))] => Some(Some(n.clone())),
        [("user", NameSel::Unnamed)] => Some(None),
        _ => None,
    };
    let adds = parse_add_config(args.add_config.as_deref().unwrap_or(""))?;
    let is_quota = |k: &str| QUOTA_KEYS.contains(&k);
    let quota_change = adds.iter().any(|(k, _)| is_quota(k))
        || args.delete_config.iter().any(|k| is_quota(k.trim()));
    if let Some(user) = only_user {
        // SCRAM credentials, and a user's describe (quotas, then SCRAM).
        if !args.alter || !quota_change {
            return users(args, user);
        }
    }
    if !args.alter {
        return with_admin(args, |admin| async move {
            let components: Vec<(String, QuotaFilter)> = target
                .iter()
                .map(|(kind, sel)| {
                    let filter = match sel {
                        NameSel::Named(n) => QuotaFilter::Exact(n.clone()),
                        NameSel::Default => QuotaFilter::Default,
                        NameSel::Unnamed => QuotaFilter::Any,
                    };
                    (kind.to_string(), filter)
                })
                .collect();
            let quotas = admin.describe_client_quotas(&components, true).await?;
            print!("{}", describe_text(&quotas));
            Ok(())
        });
    }
    let entity: Vec<QuotaEntityPart> = target
        .iter()
        .map(|(kind, sel)| match sel {
            NameSel::Named(n) => Ok((kind.to_string(), Some(n.clone()))),
            NameSel::Default => Ok((kind.to_string(), None)),
            NameSel::Unnamed => {
                let plural = if *kind == "user" { "users" } else { "clients" };
                bail!(
                    "an entity name or --entity-default must be specified with --alter of {plural}"
                )
            }
        })
        .collect::<anyhow::Result<_>>()?;
    let scram = adds.iter().any(|(k, _)| ScramMechanism::from_name(k).is_some())
        || args.delete_config.iter().any(|k| ScramMechanism::from_name(k.trim()).is_some());
    if scram {
        bail!("Cannot alter both quota and SCRAM credential configs in a single command");
    }
    let unknown: Vec<&str> = adds
        .iter()
        .map(|(k, _)| k.as_str())
        .chain(args.delete_config.iter().map(|k| k.trim()))
        .filter(|k| !is_quota(k))
        .collect();
    let head = target[0].0;
    let type_plural = if head == "user" { "users" } else { "clients" };
    if !unknown.is_empty() {
        bail!(
            "Only quota configs can be added for '{type_plural}' using --bootstrap-server. Unexpected config names: {}",
            unknown.join(",")
        );
    }
    let mut ops: Vec<QuotaOp> = Vec::new();
    for (k, v) in &adds {
        let value: f64 = v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("Invalid value {v} for quota config {k}: not a number"))?;
        ops.push((k.clone(), Some(value)));
    }
    ops.extend(args.delete_config.iter().map(|k| (k.trim().to_string(), None)));
    if ops.is_empty() {
        bail!("At least one of --add-config or --delete-config must be specified with --alter");
    }
    with_admin(args, |admin| async move {
        admin.alter_client_quotas(&entity, &ops).await?;
        match &entity[0].1 {
            Some(name) => {
                let singular = if head == "user" { "user" } else { "client" };
                println!("Completed updating config for {singular} {name}.");
            }
            None => println!("Completed updating default config for {type_plural} in the cluster."),
        }
        Ok(())
    })
}

/// Kafka's `ConfigCommand` line per entity, sorted so output is stable.
pub(super) fn describe_text(quotas: &[EntityQuotas]) -> String {
    let mut lines: Vec<String> = quotas
        .iter()
        .map(|q| {
            let part = |kind: &str, label: &str| {
                q.entity.iter().find(|(t, _)| t == kind).map(|(_, name)| match name {
                    Some(n) => format!("{label} '{n}'"),
                    None => format!("the default {label}"),
                })
            };
            let entity: Vec<String> =
                [part("user", "user-principal"), part("client-id", "client-id"), part("ip", "ip")]
                    .into_iter()
                    .flatten()
                    .collect();
            let mut values = q.values.clone();
            values.sort_by(|a, b| a.0.cmp(&b.0));
            let values: Vec<String> =
                values.iter().map(|(k, v)| format!("{k}={}", java_double(*v))).collect();
            format!("Quota configs for {} are {}\n", entity.join(", "), values.join(", "))
        })
        .collect();
    lines.sort();
    lines.concat()
}

/// Java's `Double.toString`, which Kafka's output uses: `1024.0`, and
/// `1.0E7` from ten million up.
fn java_double(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        return format!("{v:?}");
    }
    let exp = a.log10().floor() as i32;
    let mantissa = v / 10f64.powi(exp);
    format!("{mantissa:?}E{exp}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(entity: &[(&str, Option<&str>)], values: &[(&str, f64)]) -> EntityQuotas {
        EntityQuotas {
            entity: entity.iter().map(|(t, n)| (t.to_string(), n.map(str::to_string))).collect(),
            values: values.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    #[test]
    fn describe_prints_config_commands_lines() {
        let quotas = [
            q(
                &[("user", Some("alice"))],
                &[("producer_byte_rate", 1024.0), ("consumer_byte_rate", 2048.0)],
            ),
            q(&[("user", Some("alice")), ("client-id", None)], &[("request_percentage", 50.0)]),
            q(&[("client-id", None)], &[("producer_byte_rate", 1e7)]),
        ];
        assert_eq!(
            describe_text(&quotas),
            "Quota configs for the default client-id are producer_byte_rate=1.0E7\n\
             Quota configs for user-principal 'alice' are consumer_byte_rate=2048.0, producer_byte_rate=1024.0\n\
             Quota configs for user-principal 'alice', the default client-id are request_percentage=50.0\n"
        );
    }

    #[test]
    fn doubles_print_as_java_does() {
        for (v, want) in
            [(1024.0, "1024.0"), (0.5, "0.5"), (1e7, "1.0E7"), (12345678.0, "1.2345678E7")]
        {
            assert_eq!(java_double(v), want);
        }
    }
}
