//! `kafka-rs topics` (kafka-topics.sh): create, list, describe, alter and
//! delete topics through the admin client, printing what Kafka prints.

use anyhow::bail;
use base64::Engine;
use clap::{ArgGroup, Args, ValueEnum};
use regex::Regex;
use serde::Serialize;

use super::client_opts::{parse_key_value, runtime, ZkAdminConnection, KAFKA_SERVER_HELP};
use crate::client::admin::{Admin, AlterConfigOp, ConfigEntry, NewTopic, ResourceType};
use crate::client::cluster::{Metadata, TopicMetadata};
use crate::client::{Cluster, Error as ClientError};

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("action").required(true).args(["create", "list", "describe", "delete", "alter"])))]
#[command(mut_arg("bootstrap_server", |a| a.help(KAFKA_SERVER_HELP)))]
pub struct TopicsArgs {
    #[command(flatten)]
    pub connection: ZkAdminConnection,
    /// Create a new topic.
    #[arg(long)]
    pub create: bool,
    /// List all available topics.
    #[arg(long)]
    pub list: bool,
    /// List details for the given topics.
    #[arg(long)]
    pub describe: bool,
    /// Delete a topic.
    #[arg(long)]
    pub delete: bool,
    /// Alter the number of partitions and replica assignment, or the configs, of a topic.
    #[arg(long)]
    pub alter: bool,
    /// The topic to create, alter, describe or delete; a regular expression
    /// except with --create.
    #[arg(long)]
    pub topic: Option<String>,
    /// The number of partitions for the topic being created or altered.
    #[arg(long)]
    pub partitions: Option<i32>,
    /// The replication factor for each partition in the topic being created.
    #[arg(long)]
    pub replication_factor: Option<i16>,
    /// Manual partition-to-broker assignment: broker_id_for_part1_replica1:broker_id_for_part1_replica2,
    /// broker_id_for_part2_replica1:broker_id_for_part2_replica2, ...
    #[arg(long, value_name = "ASSIGNMENT")]
    pub replica_assignment: Option<String>,
    /// A topic configuration override (name=value); repeatable.
    #[arg(long, value_name = "NAME=VALUE")]
    pub config: Vec<String>,
    /// A topic configuration override to remove (with --alter); repeatable.
    #[arg(long, value_name = "NAME")]
    pub delete_config: Vec<String>,
    /// With --alter, --delete or --describe: only act if the topic exists.
    #[arg(long)]
    pub if_exists: bool,
    /// With --create: only create the topic if it does not exist.
    #[arg(long)]
    pub if_not_exists: bool,
    /// With --describe: only partitions whose ISR is smaller than their replica set.
    #[arg(long)]
    pub under_replicated_partitions: bool,
    /// With --describe: only partitions whose leader is not available.
    #[arg(long)]
    pub unavailable_partitions: bool,
    /// With --describe: only partitions whose ISR is smaller than min.insync.replicas.
    #[arg(long)]
    pub under_min_isr_partitions: bool,
    /// With --describe: only partitions whose ISR equals min.insync.replicas.
    #[arg(long)]
    pub at_min_isr_partitions: bool,
    /// With --describe: only topics whose configs differ from the defaults.
    #[arg(long)]
    pub topics_with_overrides: bool,
    /// Leave out internal topics (names starting with "__") with --list and --describe.
    #[arg(long)]
    pub exclude_internal: bool,
    /// Output format for --list and --describe.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Kafka's own text format.
    Text,
    /// The same, drawn as tables.
    Table,
    /// JSON for scripts.
    Json,
}

pub fn run(args: TopicsArgs) -> anyhow::Result<()> {
    match run_inner(&args) {
        Ok(()) => Ok(()),
        Err(e) if is_broken_pipe(&e) => Err(e),
        Err(e) => Err(super::Failed(format!("Error while executing topic command : {e:#}")).into()),
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run_inner(args: &TopicsArgs) -> anyhow::Result<()> {
    let bootstrap = args.connection.bootstrap()?;
    if (args.create || args.alter || args.delete) && args.topic.is_none() {
        bail!("Missing required argument \"[topic]\"");
    }
    if args.create {
        crate::types::validate_topic_name(args.topic.as_deref().unwrap_or_default())?;
    }
    let assignment =
        args.replica_assignment.as_deref().map(parse_replica_assignment).transpose()?;
    if assignment.is_some()
        && (args.partitions.is_some() || args.replication_factor.is_some())
        && args.create
    {
        bail!("Option \"[replica-assignment]\" can't be used with option \"[partitions],[replication-factor]\"");
    }
    let configs =
        args.config.iter().map(|c| parse_key_value(c)).collect::<anyhow::Result<Vec<_>>>()?;
    let config = args.connection.admin.client_config_or(Some(&bootstrap), &[], "kafka-topics")?;
    let rt = runtime()?;
    rt.block_on(async {
        let admin = Admin::new(Cluster::connect(config).await?);
        if args.create {
            create(args, &admin, assignment, configs).await
        } else if args.list {
            list(args, &admin).await
        } else if args.describe {
            describe(args, &admin).await
        } else if args.delete {
            delete(args, &admin).await
        } else {
            alter(args, &admin, assignment, configs).await
        }
    })
}

async fn create(
    args: &TopicsArgs,
    admin: &Admin,
    assignment: Option<Vec<Vec<i32>>>,
    configs: Vec<(String, String)>,
) -> anyhow::Result<()> {
    let name = args.topic.clone().unwrap_or_default();
    if name.contains('.') || name.contains('_') {
        println!(
            "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. To avoid issues it is best to use either, but not both."
        );
    }
    let topic = NewTopic {
        name: name.clone(),
        partitions: args.partitions,
        replication_factor: args.replication_factor,
        assignment,
        configs,
    };
    match admin.create_topic(&topic).await {
        Ok(()) => {
            println!("Created topic {name}.");
            Ok(())
        }
        Err(e)
            if args.if_not_exists
                && is_code(&e, kafka_protocol::error::ResponseError::TopicAlreadyExists) =>
        {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

fn is_code(e: &ClientError, code: kafka_protocol::error::ResponseError) -> bool {
    e.code() == Some(code)
}

/// Topics selected by `--topic` (a regex matching whole names) and
/// `--exclude-internal`, sorted by name.
fn selected<'a>(args: &TopicsArgs, md: &'a Metadata) -> anyhow::Result<Vec<&'a TopicMetadata>> {
    let re = match &args.topic {
        Some(t) => Some(Regex::new(&format!("^(?:{t})$"))?),
        None => None,
    };
    Ok(md
        .topics
        .values()
        .filter(|t| t.error_code == 0)
        .filter(|t| !(args.exclude_internal && (t.is_internal || t.name.starts_with("__"))))
        .filter(|t| re.as_ref().is_none_or(|re| re.is_match(&t.name)))
        .collect())
}

/// Kafka fails when a named topic matched nothing, unless --if-exists.
fn ensure_found(args: &TopicsArgs, found: &[&TopicMetadata]) -> anyhow::Result<()> {
    if let Some(t) = &args.topic {
        if found.is_empty() && !args.if_exists {
            bail!("Topic '{t}' does not exist as expected");
        }
    }
    Ok(())
}

async fn list(args: &TopicsArgs, admin: &Admin) -> anyhow::Result<()> {
    let md = admin.metadata().await?;
    let names: Vec<&str> = selected(args, &md)?.iter().map(|t| t.name.as_str()).collect();
    let mut out = String::new();
    match args.output {
        Output::Text => {
            for n in &names {
                out.push_str(n);
                out.push('\n');
            }
        }
        Output::Json => {
            out = serde_json::to_string_pretty(&names)?;
            out.push('\n');
        }
        Output::Table => {
            let mut table = new_table(&["Topic"]);
            for n in &names {
                table.add_row(vec![*n]);
            }
            out = format!("{table}\n");
        }
    }
    super::client_opts::print_out(&out)
}

/// One topic as `--describe` reports it.
#[derive(Debug)]
struct TopicReport {
    topic: String,
    topic_id: Option<String>,
    partition_count: usize,
    replication_factor: usize,
    configs: Vec<(String, String)>,
    partitions: Vec<PartitionReport>,
    /// Whether the topic line is printed (partition filters print partitions only).
    show_topic: bool,
}

#[derive(Debug, Serialize)]
struct PartitionReport {
    partition: i32,
    leader: Option<i32>,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    /// Kafka 2.6+: the adding and removing replicas of a reassignment in
    /// progress.
    #[serde(skip_serializing_if = "Option::is_none")]
    reassignment: Option<Reassigning>,
}

#[derive(Debug, Serialize)]
struct Reassigning {
    adding: Vec<i32>,
    removing: Vec<i32>,
}

async fn describe(args: &TopicsArgs, admin: &Admin) -> anyhow::Result<()> {
    let md = admin.metadata().await?;
    let topics = selected(args, &md)?;
    ensure_found(args, &topics)?;
    let partition_filter = args.under_replicated_partitions
        || args.unavailable_partitions
        || args.under_min_isr_partitions
        || args.at_min_isr_partitions;
    let want_configs =
        admin.cluster().any_broker().supports(kafka_protocol::messages::ApiKey::DescribeConfigs);
    // As Kafka 3.x's TopicCommand: a broker without the API (or an error)
    // only leaves the reassignment columns out. The answer comes from the
    // controller, so a controller that is stopped or busy must not hold up
    // a describe that only needs Metadata.
    let reassigning = if admin
        .cluster()
        .any_broker()
        .supports(kafka_protocol::messages::ApiKey::ListPartitionReassignments)
    {
        let listed = admin.list_partition_reassignments(None);
        match tokio::time::timeout(std::time::Duration::from_secs(5), listed).await {
            Ok(Ok(list)) => list,
            Ok(Err(_)) | Err(_) => Vec::new(),
        }
    } else {
        Vec::new()
    };
    let mut reports = Vec::new();
    for t in topics {
        let entries = if want_configs {
            match admin.describe_configs(ResourceType::Topic, &t.name).await {
                Ok(e) => e,
                // Deleted between the two requests: Kafka skips it too.
                Err(ClientError::UnknownTopic(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        } else {
            Vec::new()
        };
        let overrides: Vec<(String, String)> = entries
            .iter()
            .filter(|e| !e.is_default())
            .map(|e| (e.name.clone(), display_value(e)))
            .collect();
        if args.topics_with_overrides && overrides.is_empty() {
            continue;
        }
        let min_isr = entries
            .iter()
            .find(|e| e.name == "min.insync.replicas")
            .and_then(|e| e.value.as_deref())
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1);
        let partitions = t
            .partitions
            .iter()
            .filter(|p| {
                let under_replicated = p.isr.len() < p.replicas.len();
                let unavailable = p.leader < 0 || !md.brokers.contains_key(&p.leader);
                (!args.under_replicated_partitions || under_replicated)
                    && (!args.unavailable_partitions || unavailable)
                    && (!args.under_min_isr_partitions || p.isr.len() < min_isr)
                    && (!args.at_min_isr_partitions || p.isr.len() == min_isr)
            })
            .map(|p| PartitionReport {
                partition: p.partition,
                leader: (p.leader >= 0).then_some(p.leader),
                replicas: p.replicas.clone(),
                isr: p.isr.clone(),
                reassignment: reassigning
                    .iter()
                    .find(|r| r.topic == t.name && r.partition == p.partition)
                    // Completed since it was listed: Kafka ignores it then.
                    .filter(|r| r.adding.iter().chain(&r.removing).any(|b| p.replicas.contains(b)))
                    .map(|r| Reassigning {
                        adding: r.adding.clone(),
                        removing: r.removing.clone(),
                    }),
            })
            .collect::<Vec<_>>();
        let partitions = if args.topics_with_overrides { Vec::new() } else { partitions };
        reports.push(TopicReport {
            topic: t.name.clone(),
            topic_id: (t.topic_id != [0; 16])
                .then(|| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(t.topic_id)),
            partition_count: t.partitions.len(),
            // During a reassignment, the replicas it keeps (Kafka's
            // `getReplicationFactor`).
            replication_factor: partitions_rf(&t.partitions, &reassigning, &t.name),
            configs: overrides,
            partitions,
            show_topic: !partition_filter,
        });
    }
    let out = match args.output {
        Output::Text => describe_text(&reports),
        Output::Table => describe_table(&reports),
        Output::Json => {
            let json: Vec<serde_json::Value> = reports
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "topic": r.topic,
                        "topic_id": r.topic_id,
                        "partition_count": r.partition_count,
                        "replication_factor": r.replication_factor,
                        "configs": r.configs.iter()
                            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                            .collect::<serde_json::Map<_, _>>(),
                        "partitions": r.partitions,
                    })
                })
                .collect();
            format!("{}\n", serde_json::to_string_pretty(&json)?)
        }
    };
    super::client_opts::print_out(&out)
}

fn partitions_rf(
    partitions: &[crate::client::cluster::PartitionMetadata],
    reassigning: &[crate::client::admin::OngoingReassignment],
    topic: &str,
) -> usize {
    let Some(first) = partitions.first() else { return 0 };
    match reassigning.iter().find(|r| r.topic == topic && r.partition == first.partition) {
        Some(r) if r.adding.iter().chain(&r.removing).any(|b| first.replicas.contains(b)) => {
            r.replicas.iter().filter(|b| !r.adding.contains(b)).count()
        }
        _ => first.replicas.len(),
    }
}

fn display_value(e: &ConfigEntry) -> String {
    if e.sensitive {
        "null".to_string()
    } else {
        e.value.clone().unwrap_or_else(|| "null".to_string())
    }
}

fn join_ids(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// Kafka 2.8+'s `TopicCommand` text.
fn describe_text(reports: &[TopicReport]) -> String {
    let mut out = String::new();
    for r in reports {
        if r.show_topic {
            out.push_str(&format!("Topic: {}", r.topic));
            if let Some(id) = &r.topic_id {
                out.push_str(&format!("\tTopicId: {id}"));
            }
            let configs: Vec<String> = r.configs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!(
                "\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}\n",
                r.partition_count,
                r.replication_factor,
                configs.join(",")
            ));
        }
        for p in &r.partitions {
            out.push_str(&format!(
                "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}\n",
                r.topic,
                p.partition,
                p.leader.map_or("none".to_string(), |l| l.to_string()),
                join_ids(&p.replicas),
                join_ids(&p.isr)
            ));
            if let Some(r) = &p.reassignment {
                out.pop();
                out.push_str(&format!(
                    "\tAdding Replicas: {}\tRemoving Replicas: {}\n",
                    join_ids(&r.adding),
                    join_ids(&r.removing)
                ));
            }
        }
    }
    out
}

fn describe_table(reports: &[TopicReport]) -> String {
    let mut topics =
        new_table(&["Topic", "TopicId", "PartitionCount", "ReplicationFactor", "Configs"]);
    let mut partitions = new_table(&["Topic", "Partition", "Leader", "Replicas", "Isr"]);
    let mut any_topic = false;
    let mut any_partition = false;
    for r in reports {
        if r.show_topic {
            any_topic = true;
            let configs: Vec<String> = r.configs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            topics.add_row(vec![
                r.topic.clone(),
                r.topic_id.clone().unwrap_or_default(),
                r.partition_count.to_string(),
                r.replication_factor.to_string(),
                configs.join(","),
            ]);
        }
        for p in &r.partitions {
            any_partition = true;
            partitions.add_row(vec![
                r.topic.clone(),
                p.partition.to_string(),
                p.leader.map_or("none".to_string(), |l| l.to_string()),
                join_ids(&p.replicas),
                join_ids(&p.isr),
            ]);
        }
    }
    let mut out = String::new();
    if any_topic {
        out.push_str(&format!("{topics}\n"));
    }
    if any_partition {
        out.push_str(&format!("{partitions}\n"));
    }
    out
}

fn new_table(header: &[&str]) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(header.to_vec());
    t
}

async fn delete(args: &TopicsArgs, admin: &Admin) -> anyhow::Result<()> {
    let md = admin.metadata().await?;
    let topics = selected(args, &md)?;
    ensure_found(args, &topics)?;
    for t in topics {
        if t.is_internal {
            bail!(
                "Topic {} is a kafka internal topic and is not allowed to be marked for deletion.",
                t.name
            );
        }
        admin.delete_topic(&t.name).await?;
    }
    Ok(())
}

async fn alter(
    args: &TopicsArgs,
    admin: &Admin,
    assignment: Option<Vec<Vec<i32>>>,
    configs: Vec<(String, String)>,
) -> anyhow::Result<()> {
    if args.partitions.is_none()
        && assignment.is_none()
        && configs.is_empty()
        && args.delete_config.is_empty()
    {
        bail!("At least one of --partitions, --replica-assignment, --config or --delete-config is required with --alter");
    }
    let md = admin.metadata().await?;
    let topics = selected(args, &md)?;
    ensure_found(args, &topics)?;
    for t in topics {
        if t.is_internal && args.partitions.is_some() {
            bail!("The number of partitions for the internal topics {} cannot be changed.", t.name);
        }
        // A replica assignment alone names the new partition count by its length.
        let count = args.partitions.or(assignment.as_ref().map(|a| a.len() as i32));
        if let Some(count) = count {
            // Only the new partitions' replicas go on the wire.
            let new_assignment = assignment
                .as_ref()
                .map(|a| a.iter().skip(t.partitions.len()).cloned().collect::<Vec<_>>());
            admin.create_partitions(&t.name, count, new_assignment).await?;
        }
        if !configs.is_empty() || !args.delete_config.is_empty() {
            let mut ops: Vec<AlterConfigOp> =
                configs.iter().map(|(k, v)| AlterConfigOp::Set(k.clone(), v.clone())).collect();
            ops.extend(args.delete_config.iter().map(|k| AlterConfigOp::Delete(k.clone())));
            admin.incremental_alter_configs(ResourceType::Topic, &t.name, &ops).await?;
        }
    }
    Ok(())
}

/// `0:1,1:2` → partition 0 on brokers [0, 1], partition 1 on [1, 2].
fn parse_replica_assignment(s: &str) -> anyhow::Result<Vec<Vec<i32>>> {
    let mut out = Vec::new();
    for (i, part) in s.split(',').enumerate() {
        let brokers: Vec<i32> =
            part.split(':').map(|b| b.trim().parse::<i32>()).collect::<Result<_, _>>().map_err(
                |_| {
                    anyhow::anyhow!(
                        "Invalid replica assignment {s:?}: {part:?} is not a list of broker ids"
                    )
                },
            )?;
        let mut unique = brokers.clone();
        unique.sort_unstable();
        unique.dedup();
        if unique.len() != brokers.len() {
            bail!("Partition replica lists may not contain duplicate entries: partition {i} has {part}");
        }
        if let Some(first) = out.first().map(Vec::len) {
            if brokers.len() != first {
                bail!("Partition {i} has different replication factor: {part}");
            }
        }
        out.push(brokers);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_assignments() {
        let cases: &[(&str, Option<Vec<Vec<i32>>>, &str)] = &[
            ("0", Some(vec![vec![0]]), "one partition, one replica"),
            ("0:1,1:2", Some(vec![vec![0, 1], vec![1, 2]]), "Kafka's colon/comma form"),
            ("0:0", None, "a broker twice in one partition"),
            ("0:1,2", None, "replication factors differ"),
            ("a", None, "not a broker id"),
        ];
        for (input, want, why) in cases {
            assert_eq!(parse_replica_assignment(input).ok(), *want, "{why}");
        }
    }

    #[test]
    fn describe_text_matches_kafka() {
        let reports = vec![TopicReport {
            topic: "t".into(),
            topic_id: Some("NPmZHyhbR9y00wMglMH2sg".into()),
            partition_count: 3,
            replication_factor: 1,
            configs: vec![("cleanup.policy".into(), "compact".into())],
            partitions: vec![
                PartitionReport {
                    partition: 0,
                    leader: Some(0),
                    replicas: vec![0],
                    isr: vec![0],
                    reassignment: None,
                },
                PartitionReport {
                    partition: 1,
                    leader: None,
                    replicas: vec![1, 2],
                    isr: vec![],
                    reassignment: None,
                },
                PartitionReport {
                    partition: 2,
                    leader: Some(1),
                    replicas: vec![3, 1],
                    isr: vec![1],
                    reassignment: Some(Reassigning { adding: vec![3], removing: vec![1] }),
                },
            ],
            show_topic: true,
        }];
        assert_eq!(
            describe_text(&reports),
            "Topic: t\tTopicId: NPmZHyhbR9y00wMglMH2sg\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: cleanup.policy=compact\n\
             \tTopic: t\tPartition: 0\tLeader: 0\tReplicas: 0\tIsr: 0\n\
             \tTopic: t\tPartition: 1\tLeader: none\tReplicas: 1,2\tIsr: \n\
             \tTopic: t\tPartition: 2\tLeader: 1\tReplicas: 3,1\tIsr: 1\tAdding Replicas: 3\tRemoving Replicas: 1\n"
        );
    }
}
