//! `kafka-rs configs` (kafka-configs.sh) for topics and brokers: describe
//! configs the way `ConfigCommand` prints them, and alter them with
//! IncrementalAlterConfigs.

use anyhow::bail;
use clap::{ArgGroup, Args};

use super::client_opts::{runtime, ZkAdminConnection, KAFKA_SERVER_HELP};
use crate::client::admin::{Admin, AlterConfigOp, ConfigEntry, ConfigSource, ResourceType};
use crate::client::quota_admin::QuotaFilter;
use crate::client::scram_admin::ScramUpsert;
use crate::client::Cluster;
use crate::security::scram::ScramMechanism;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("action").required(true).args(["describe", "alter"])))]
#[command(mut_arg("bootstrap_server", |a| a.help(KAFKA_SERVER_HELP)))]
#[command(mut_arg("zookeeper", |a| a.help("Manage configs through ZooKeeper (host:port)")))]
pub struct ConfigsArgs {
    #[command(flatten)]
    pub connection: ZkAdminConnection,
    /// List configs for the given entity.
    #[arg(long)]
    pub describe: bool,
    /// Alter the configuration of the given entity.
    #[arg(long)]
    pub alter: bool,
    /// With --describe: every config, not only the dynamic ones.
    #[arg(long)]
    pub all: bool,
    /// topics, brokers, users or clients; users and clients together name
    /// a user's quotas for one client id.
    #[arg(long, value_name = "TYPE", value_parser = ["topics", "brokers", "users", "clients"])]
    pub entity_type: Vec<String>,
    /// The topic name, broker id, user name or client id (one per
    /// --entity-type, in the same order).
    #[arg(long, value_name = "NAME")]
    pub entity_name: Vec<String>,
    /// The cluster-wide default for brokers, or the default user or client
    /// id (for the --entity-type given without a name).
    #[arg(long)]
    pub entity_default: bool,
    /// Same as --entity-type users --entity-name NAME.
    #[arg(long, value_name = "NAME", conflicts_with = "user_defaults")]
    pub user: Option<String>,
    /// Same as --entity-type clients --entity-name ID.
    #[arg(long, value_name = "ID", conflicts_with = "client_defaults")]
    pub client: Option<String>,
    /// The default user: same as --entity-type users --entity-default.
    #[arg(long)]
    pub user_defaults: bool,
    /// The default client id: same as --entity-type clients --entity-default.
    #[arg(long)]
    pub client_defaults: bool,
    /// Same as --entity-type topics --entity-name NAME.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["entity_type", "broker"])]
    pub topic: Option<String>,
    /// Same as --entity-type brokers --entity-name ID.
    #[arg(long, value_name = "ID", conflicts_with = "entity_type")]
    pub broker: Option<String>,
    /// Configs to add or update: k1=v1,k2=[v1,v2,v3],k3=v3.
    #[arg(long, value_name = "CONFIGS")]
    pub add_config: Option<String>,
    /// Config names to remove: k1,k2.
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub delete_config: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entity {
    Topic,
    Broker,
}

pub fn run(args: ConfigsArgs) -> anyhow::Result<()> {
    match run_inner(&args) {
        Ok(()) => Ok(()),
        Err(e) => {
            let argv: Vec<String> = std::env::args().skip(2).collect();
            Err(super::Failed(format!(
                "Error while executing config command with args '{}'\n{e:#}",
                argv.join(" ")
            ))
            .into())
        }
    }
}

fn run_inner(args: &ConfigsArgs) -> anyhow::Result<()> {
    if args.connection.zookeeper.is_some() {
        bail!("--zookeeper is not available in this build: configs are managed through a broker; use --bootstrap-server HOST:PORT");
    }
    if let Some(entity) = super::configs_quotas::quota_entity(args)? {
        return super::configs_quotas::run(args, entity);
    }
    let entity_name = args.entity_name.first().cloned();
    let (entity, name) = match (&args.topic, &args.broker, args.entity_type.first().map(String::as_str)) {
        (Some(t), _, _) => (Entity::Topic, Some(t.clone())),
        (_, Some(b), _) => (Entity::Broker, Some(b.clone())),
        (_, _, Some("topics")) => (Entity::Topic, entity_name),
        (_, _, Some("brokers")) => (Entity::Broker, entity_name),
        _ => bail!(
            "an entity type is required: --entity-type topics|brokers|users|clients, --topic or --broker"
        ),
    };
    if entity == Entity::Topic && args.entity_default {
        bail!("--entity-default applies to brokers only");
    }
    if args.alter && name.is_none() && !args.entity_default {
        bail!("an entity name must be specified with --alter of {}", plural(entity));
    }
    with_admin(args, |admin| async move {
        if args.alter {
            let mut ops: Vec<AlterConfigOp> = match &args.add_config {
                Some(s) => parse_add_config(s)?
                    .into_iter()
                    .map(|(k, v)| AlterConfigOp::Set(k, v))
                    .collect(),
                None => Vec::new(),
            };
            ops.extend(
                args.delete_config.iter().map(|k| AlterConfigOp::Delete(k.trim().to_string())),
            );
            if ops.is_empty() {
                bail!("At least one of --add-config or --delete-config must be specified with --alter");
            }
            let name = if args.entity_default { String::new() } else { name.unwrap_or_default() };
            if entity == Entity::Broker && !args.delete_config.is_empty() {
                // Kafka's ConfigCommand refuses to delete a broker config
                // that is not set at that level.
                let level = dynamic_source(&name);
                let set = admin.describe_configs(ResourceType::Broker, &name).await?;
                let missing: Vec<&str> = args
                    .delete_config
                    .iter()
                    .map(|k| k.trim())
                    .filter(|k| !set.iter().any(|e| e.name == *k && e.source == level))
                    .collect();
                if !missing.is_empty() {
                    bail!("Invalid config(s): {}", missing.join(","));
                }
            }
            admin.incremental_alter_configs(resource(entity), &name, &ops).await?;
            if name.is_empty() {
                println!("Completed updating default config for brokers in the cluster.");
            } else {
                println!("Completed updating config for {} {name}.", singular(entity));
            }
            return Ok(());
        }
        let names: Vec<String> = match (&name, entity) {
            (Some(n), _) => vec![n.clone()],
            (None, Entity::Broker) if args.entity_default => vec![String::new()],
            (None, Entity::Topic) => admin.metadata().await?.topics.into_keys().collect(),
            (None, Entity::Broker) => {
                let md = admin.cluster().refresh(Some(&[]), false).await?;
                let mut ids: Vec<String> = md.brokers.keys().map(|id| id.to_string()).collect();
                ids.push(String::new());
                ids
            }
        };
        let mut out = String::new();
        for n in names {
            let entries = admin.describe_configs(resource(entity), &n).await?;
            out.push_str(&describe_text(entity, &n, args.all, &entries));
        }
        print!("{out}");
        Ok(())
    })
}

fn resource(e: Entity) -> ResourceType {
    match e {
        Entity::Topic => ResourceType::Topic,
        Entity::Broker => ResourceType::Broker,
    }
}

fn plural(e: Entity) -> &'static str {
    match e {
        Entity::Topic => "topics",
        Entity::Broker => "brokers",
    }
}

fn singular(e: Entity) -> &'static str {
    match e {
        Entity::Topic => "topic",
        Entity::Broker => "broker",
    }
}

/// The source of a broker's own dynamic configs, or of the cluster-wide
/// defaults (`name` empty).
fn dynamic_source(name: &str) -> ConfigSource {
    if name.is_empty() {
        ConfigSource::DynamicDefaultBrokerConfig
    } else {
        ConfigSource::DynamicBrokerConfig
    }
}

/// `ConfigCommand.describeResourceConfig`'s output.
fn describe_text(entity: Entity, name: &str, all: bool, entries: &[ConfigEntry]) -> String {
    let filter = match (all, entity) {
        (true, _) => None,
        (false, Entity::Topic) => Some(ConfigSource::DynamicTopicConfig),
        (false, Entity::Broker) => Some(dynamic_source(name)),
    };
    let source = if all { "All" } else { "Dynamic" };
    let mut out = if name.is_empty() {
        "Default configs for brokers in the cluster are:\n".to_string()
    } else {
        format!("{source} configs for {} {name} are:\n", singular(entity))
    };
    let mut shown: Vec<&ConfigEntry> =
        entries.iter().filter(|e| filter.is_none_or(|f| e.source == f)).collect();
    shown.sort_by(|a, b| a.name.cmp(&b.name));
    for e in shown {
        let synonyms: Vec<String> = e
            .synonyms
            .iter()
            .map(|s| {
                format!("{}:{}={}", s.source.name(), s.name, s.value.as_deref().unwrap_or("null"))
            })
            .collect();
        let value = if e.sensitive { "null" } else { e.value.as_deref().unwrap_or("null") };
        out.push_str(&format!(
            "  {}={} sensitive={} synonyms={{{}}}\n",
            e.name,
            value,
            e.sensitive,
            synonyms.join(", ")
        ));
    }
    out
}

/// `--entity-type users` without quota keys: SCRAM credentials through
/// Describe/AlterUserScramCredentials, as Kafka's `ConfigCommand` does with
/// `--bootstrap-server` (`SCRAM-SHA-256=[iterations=8192,password=pw]`).
/// With `--describe`, the user's quotas are printed first.
pub(super) fn users(args: &ConfigsArgs, user_name: Option<String>) -> anyhow::Result<()> {
    if args.alter && user_name.is_none() {
        bail!("an entity name must be specified with --alter of users");
    }
    let mut upserts = Vec::new();
    if args.alter {
        let user = user_name.clone().unwrap_or_default();
        for (key, value) in parse_add_config(args.add_config.as_deref().unwrap_or(""))? {
            let Some(mechanism) = ScramMechanism::from_name(&key) else {
                bail!("Only SCRAM credential configs (SCRAM-SHA-256, SCRAM-SHA-512) can be altered for users in this build, not {key}");
            };
            let mut iterations = crate::security::scram::MIN_ITERATIONS;
            let mut password = None;
            for kv in value.split(',') {
                match kv.split_once('=') {
                    Some(("iterations", n)) => {
                        iterations = n.trim().parse().map_err(|_| {
                            anyhow::anyhow!("Invalid iterations {n} for {key}")
                        })?
                    }
                    Some(("password", p)) => password = Some(p.to_string()),
                    _ => bail!("Invalid credential property {kv} for {key}: expected iterations=N or password=P"),
                }
            }
            let Some(password) = password else {
                bail!("Invalid credential config {key}: password must be specified");
            };
            upserts.push(ScramUpsert { user: user.clone(), mechanism, iterations, password });
        }
    }
    let mut deletions = Vec::new();
    for key in args.delete_config.iter().map(|k| k.trim()) {
        let Some(m) = ScramMechanism::from_name(key) else {
            bail!(
                "Only SCRAM credential configs can be deleted for users in this build, not {key}"
            );
        };
        deletions.push((user_name.clone().unwrap_or_default(), m));
    }
    if args.alter && upserts.is_empty() && deletions.is_empty() {
        bail!("At least one of --add-config or --delete-config must be specified with --alter");
    }
    with_admin(args, |admin| async move {
        if args.alter {
            admin.alter_user_scram_credentials(&upserts, &deletions).await?;
            println!(
                "Completed updating config for user {}.",
                user_name.as_deref().unwrap_or_default()
            );
            return Ok(());
        }
        let filter = match &user_name {
            Some(n) => QuotaFilter::Exact(n.clone()),
            None => QuotaFilter::Any,
        };
        let quotas = admin.describe_client_quotas(&[("user".into(), filter)], true).await?;
        print!("{}", super::configs_quotas::describe_text(&quotas));
        let names = user_name.clone().map(|n| vec![n]);
        let users = admin.describe_user_scram_credentials(names.as_deref()).await?;
        print!("{}", describe_users_text(&users));
        Ok(())
    })
}

/// Runs `f` with an admin client of `--bootstrap-server` and
/// `--command-config` (security settings included).
pub(super) fn with_admin<F, Fut>(args: &ConfigsArgs, f: F) -> anyhow::Result<()>
where
    F: FnOnce(Admin) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let config = args.connection.admin.client_config("kafka-configs")?;
    runtime()?.block_on(async { f(Admin::new(Cluster::connect(config).await?)).await })
}

/// Kafka's `ConfigCommand` line per user.
fn describe_users_text(users: &[crate::client::scram_admin::UserCredentials]) -> String {
    let mut out = String::new();
    for (user, creds) in users {
        let list: Vec<String> =
            creds.iter().map(|(m, i)| format!("{}=iterations={i}", m.name())).collect();
        out.push_str(&format!(
            "SCRAM credential configs for user-principal '{user}' are {}\n",
            list.join(", ")
        ));
    }
    out
}

/// `k1=v1,k2=[v1,v2],k3=v3`: commas inside brackets belong to the value,
/// and the brackets are dropped, as `ConfigCommand.parseConfigsToBeAdded` does.
pub(super) fn parse_add_config(s: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut items = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    items.push(cur);
    let mut out = Vec::new();
    for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
        let Some((k, v)) = item.split_once('=') else {
            bail!(
                "Invalid entity config: all configs to be added must be in the format \"key=val\"."
            );
        };
        let v = v.strip_prefix('[').and_then(|v| v.strip_suffix(']')).unwrap_or(v);
        out.push((k.trim().to_string(), v.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::admin::ConfigSynonym;

    #[test]
    fn add_config_lists() {
        let got = parse_add_config("a=1,b=[x,y],c=z").unwrap();
        assert_eq!(
            got,
            vec![("a".into(), "1".into()), ("b".into(), "x,y".into()), ("c".into(), "z".into())]
        );
        assert!(parse_add_config("novalue").is_err(), "key=val is required");
    }

    fn entry(name: &str, value: &str, source: ConfigSource) -> ConfigEntry {
        ConfigEntry {
            name: name.into(),
            value: Some(value.into()),
            source,
            read_only: false,
            sensitive: false,
            synonyms: vec![ConfigSynonym { name: name.into(), value: Some(value.into()), source }],
        }
    }

    #[test]
    fn describe_prints_dynamic_configs_like_config_command() {
        let entries = vec![
            entry("retention.ms", "1000", ConfigSource::DynamicTopicConfig),
            entry("segment.bytes", "1073741824", ConfigSource::DefaultConfig),
        ];
        assert_eq!(
            describe_text(Entity::Topic, "t", false, &entries),
            "Dynamic configs for topic t are:\n  retention.ms=1000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=1000}\n"
        );
        assert!(describe_text(Entity::Topic, "t", true, &entries)
            .starts_with("All configs for topic t are:\n"));
        assert_eq!(
            describe_text(Entity::Broker, "", false, &[]),
            "Default configs for brokers in the cluster are:\n"
        );
    }
}
