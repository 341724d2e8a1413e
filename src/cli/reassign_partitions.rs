//! `kafka-rs reassign-partitions` (kafka-reassign-partitions.sh): proposes
//! a new replica assignment (--generate), starts one (--execute), reports
//! its progress (--verify, --list) or cancels it (--cancel), over
//! AlterPartitionReassignments and ListPartitionReassignments (KIP-455),
//! with Kafka's JSON files and output lines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{ArgGroup, Args};

use super::client_opts::{runtime, AdminConnection};
use crate::client::admin::{Admin, AlterConfigOp, OngoingReassignment, ResourceType};
use crate::client::Cluster;

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("action").required(true).args(["generate", "execute", "verify", "cancel", "list"])
))]
#[command(mut_arg("bootstrap_server", |a| a.required(true)))]
pub struct ReassignPartitionsArgs {
    #[command(flatten)]
    pub connection: AdminConnection,
    /// Print a candidate assignment moving the topics of
    /// --topics-to-move-json-file to the brokers of --broker-list; nothing
    /// is executed.
    #[arg(long)]
    pub generate: bool,
    /// Start the reassignment of --reassignment-json-file.
    #[arg(long)]
    pub execute: bool,
    /// Report whether the reassignment of --reassignment-json-file is
    /// complete, and clear the throttles once it is.
    #[arg(long)]
    pub verify: bool,
    /// Cancel the reassignments of --reassignment-json-file still in
    /// progress, returning those partitions to their original replicas.
    #[arg(long)]
    pub cancel: bool,
    /// List every partition reassignment in progress.
    #[arg(long)]
    pub list: bool,
    /// The JSON file with the partition reassignment configuration:
    /// {"version":1,"partitions":[{"topic":"foo","partition":1,"replicas":[1,2,3]}]}
    #[arg(long, value_name = "FILE")]
    pub reassignment_json_file: Option<PathBuf>,
    /// JSON file of the topics to move (with --generate):
    /// {"version":1,"topics":[{"topic":"foo"},{"topic":"foo1"}]}
    #[arg(long, value_name = "FILE")]
    pub topics_to_move_json_file: Option<PathBuf>,
    /// The brokers to move the topics to (with --generate), e.g. "0,1,2".
    #[arg(long, value_name = "BROKERS")]
    pub broker_list: Option<String>,
    /// Ignore rack placement when generating (this tool places replicas
    /// without racks either way).
    #[arg(long)]
    pub disable_rack_aware: bool,
    /// The replication throttle in B/s while replicas move (with
    /// --execute): sets the brokers' leader/follower.replication.throttled.rate
    /// and the topics' leader/follower.replication.throttled.replicas, as
    /// Kafka does; --verify clears them once the reassignment completes.
    #[arg(long, value_name = "B/S", default_value_t = -1, allow_negative_numbers = true)]
    pub throttle: i64,
    /// Execute while other reassignments are in progress, or change the
    /// throttle of a running one.
    #[arg(long)]
    pub additional: bool,
    /// Keep the throttles when --verify or --cancel finish.
    #[arg(long)]
    pub preserve_throttles: bool,
    /// How long --execute waits for the controller to accept the
    /// reassignment, in ms.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub timeout: i64,
}

/// A partition and its replica list, as the reassignment JSON names it.
type Assignment = BTreeMap<(String, i32), Vec<i32>>;

pub fn run(args: ReassignPartitionsArgs) -> anyhow::Result<()> {
    let config = args.connection.client_config("reassign-partitions")?;
    runtime()?.block_on(async {
        let admin = Admin::new(Cluster::connect(config).await?);
        if args.list {
            list(&admin).await
        } else if args.generate {
            generate(&admin, &args).await
        } else {
            let Some(path) = &args.reassignment_json_file else {
                bail!("Missing required argument \"[reassignment-json-file]\"");
            };
            let target = parse_reassignment_json(&read(path)?)?;
            if args.execute {
                execute(&admin, &args, &target).await
            } else if args.verify {
                verify(&admin, &args, &target).await
            } else {
                cancel(&admin, &args, &target).await
            }
        }
    })
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Kafka's reassignment JSON (`parsePartitionReassignmentData`); the
/// optional `log_dirs` must name one dir (or "any") per replica.
fn parse_reassignment_json(text: &str) -> anyhow::Result<Assignment> {
    let v: serde_json::Value =
        serde_json::from_str(text).context("the JSON file does not parse")?;
    let Some(list) = v.get("partitions").and_then(|p| p.as_array()) else {
        bail!("The reassignment JSON has no \"partitions\" list");
    };
    let mut out = Assignment::new();
    for e in list {
        let topic = e.get("topic").and_then(|t| t.as_str());
        let partition =
            e.get("partition").and_then(|p| p.as_i64()).and_then(|p| i32::try_from(p).ok());
        let replicas: Option<Vec<i32>> =
            e.get("replicas").and_then(|r| r.as_array()).and_then(|r| {
                r.iter().map(|b| b.as_i64().and_then(|b| i32::try_from(b).ok())).collect()
            });
        let (Some(topic), Some(partition), Some(replicas)) = (topic, partition, replicas) else {
            bail!(
                "each entry of \"partitions\" needs \"topic\", \"partition\" and \"replicas\": {e}"
            );
        };
        if let Some(dirs) = e.get("log_dirs").and_then(|d| d.as_array()) {
            if dirs.len() != replicas.len() {
                bail!(
                    "Size of replicas list {replicas:?} is different from size of log dirs list \
                     {dirs:?} for partition {topic}-{partition}"
                );
            }
            if dirs.iter().any(|d| d.as_str() != Some("any")) {
                bail!("moving replicas between log dirs of a broker is not supported: {e}");
            }
        }
        if out.insert((topic.to_string(), partition), replicas).is_some() {
            bail!(
                "Cannot process reassignment: partition {topic}-{partition} appears more than once"
            );
        }
    }
    if out.is_empty() {
        bail!("Partition reassignment list cannot be empty");
    }
    Ok(out)
}

/// Kafka's `formatAsReassignmentJson`, keys in Kafka's order.
fn reassignment_json(a: &Assignment) -> String {
    let entries: Vec<String> = a
        .iter()
        .map(|((t, p), r)| {
            let replicas: Vec<String> = r.iter().map(i32::to_string).collect();
            let dirs = vec!["\"any\""; r.len()];
            format!(
                "{{\"topic\":{},\"partition\":{p},\"replicas\":[{}],\"log_dirs\":[{}]}}",
                serde_json::Value::String(t.clone()),
                replicas.join(","),
                dirs.join(",")
            )
        })
        .collect();
    format!("{{\"version\":1,\"partitions\":[{}]}}", entries.join(","))
}

fn topics_to_move(text: &str) -> anyhow::Result<Vec<String>> {
    let v: serde_json::Value =
        serde_json::from_str(text).context("the JSON file does not parse")?;
    let Some(list) = v.get("topics").and_then(|p| p.as_array()) else {
        bail!("The topics-to-move JSON has no \"topics\" list");
    };
    let mut out: Vec<String> = Vec::new();
    for e in list {
        let Some(t) = e.get("topic").and_then(|t| t.as_str()) else {
            bail!("each entry of \"topics\" needs a \"topic\": {e}");
        };
        if out.iter().any(|o| o == t) {
            bail!("Duplicate topic {t} in the topics to move");
        }
        out.push(t.to_string());
    }
    Ok(out)
}

fn broker_list(s: &str) -> anyhow::Result<Vec<i32>> {
    let mut out: Vec<i32> = Vec::new();
    for b in crate::config::list(s) {
        let id: i32 = b.parse().with_context(|| format!("invalid broker id {b}"))?;
        if out.contains(&id) {
            bail!("Duplicate broker ids in --broker-list: {s}");
        }
        out.push(id);
    }
    if out.is_empty() {
        bail!("--broker-list names no broker");
    }
    Ok(out)
}

/// The current replicas of `partitions`' topics (the full set during a
/// reassignment, as Metadata reports it).
async fn current_assignment(admin: &Admin, topics: &[String]) -> anyhow::Result<Assignment> {
    let mut out = Assignment::new();
    for t in topics {
        let md = admin.describe_topic(t).await.with_context(|| format!("Topic {t} not found"))?;
        for p in md.partitions {
            out.insert((t.clone(), p.partition), p.replicas);
        }
    }
    Ok(out)
}

fn topics_of(a: &Assignment) -> Vec<String> {
    let mut topics: Vec<String> = a.keys().map(|(t, _)| t.clone()).collect();
    topics.dedup();
    topics
}

fn names(tps: &[(String, i32)]) -> String {
    tps.iter().map(|(t, p)| format!("{t}-{p}")).collect::<Vec<_>>().join(",")
}

async fn generate(admin: &Admin, args: &ReassignPartitionsArgs) -> anyhow::Result<()> {
    let (Some(topics_file), Some(brokers)) = (&args.topics_to_move_json_file, &args.broker_list)
    else {
        bail!("--generate needs --topics-to-move-json-file and --broker-list");
    };
    let topics = topics_to_move(&read(topics_file)?)?;
    let brokers = broker_list(brokers)?;
    let md = admin.metadata().await?;
    let unknown: Vec<String> =
        brokers.iter().filter(|b| !md.brokers.contains_key(b)).map(i32::to_string).collect();
    if !unknown.is_empty() {
        bail!("The broker list contains unknown broker ids: {}", unknown.join(","));
    }
    let current = current_assignment(admin, &topics).await?;
    // Kafka's `assignReplicasToBrokers` starts at a random broker so
    // repeated runs spread leaders.
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as usize);
    let mut proposed = Assignment::new();
    for t in &topics {
        let parts: Vec<(i32, usize)> = current
            .iter()
            .filter(|((name, _), _)| name == t)
            .map(|((_, p), r)| (*p, r.len()))
            .collect();
        let rf = parts.first().map_or(1, |(_, n)| *n) as i32;
        let count = parts.len() as i32;
        let Some(a) = crate::cluster::znodes::assign_replicas(&brokers, count, rf, start) else {
            bail!("Replication factor: {rf} larger than available brokers: {}.", brokers.len());
        };
        for (p, r) in a {
            proposed.insert((t.clone(), p), r);
        }
    }
    println!("Current partition replica assignment\n{}\n", reassignment_json(&current));
    println!("Proposed partition reassignment configuration\n{}", reassignment_json(&proposed));
    Ok(())
}

async fn execute(
    admin: &Admin,
    args: &ReassignPartitionsArgs,
    target: &Assignment,
) -> anyhow::Result<()> {
    let ongoing = admin.list_partition_reassignments(None).await?;
    if !ongoing.is_empty() && !args.additional {
        bail!(
            "Cannot execute because there is an existing partition assignment.  Use --additional \
             to override this and create a new partition assignment in addition to the existing one."
        );
    }
    let current = current_assignment(admin, &topics_of(target)).await?;
    let missing: Vec<(String, i32)> =
        target.keys().filter(|k| !current.contains_key(*k)).cloned().collect();
    if !missing.is_empty() {
        bail!("Topic partitions not found: {}", names(&missing));
    }
    let before: Assignment = current.into_iter().filter(|(k, _)| target.contains_key(k)).collect();
    println!(
        "Current partition replica assignment\n\n{}\n\nSave this to use as the \
         --reassignment-json-file option during rollback",
        reassignment_json(&before)
    );
    if args.throttle >= 0 {
        println!(
            "Warning: You must run --verify periodically, until the reassignment completes, to \
             ensure the throttle is removed."
        );
        set_throttles(admin, args.throttle, &before, target).await?;
    }
    let request: Vec<(String, i32, Option<Vec<i32>>)> =
        target.iter().map(|((t, p), r)| (t.clone(), *p, Some(r.clone()))).collect();
    alter(admin, args, &request, "reassigning").await?;
    let started: Vec<(String, i32)> = target.keys().cloned().collect();
    println!(
        "Successfully started partition reassignment{} for {}",
        if started.len() == 1 { "" } else { "s" },
        names(&started)
    );
    Ok(())
}

/// Sends the reassignments (or cancellations) and fails naming every
/// partition the controller refused, with its error.
async fn alter(
    admin: &Admin,
    args: &ReassignPartitionsArgs,
    request: &[(String, i32, Option<Vec<i32>>)],
    doing: &str,
) -> anyhow::Result<()> {
    let timeout = i32::try_from(args.timeout.max(0)).unwrap_or(i32::MAX);
    let results = admin.alter_partition_reassignments(request, timeout).await?;
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(t, p, e)| e.as_ref().map(|e| format!("{t}-{p}: {e}")))
        .collect();
    if !failed.is_empty() {
        bail!("Error {doing} partition(s):\n{}", failed.join("\n"));
    }
    Ok(())
}

/// Kafka's `--throttle`: the rate on every broker taking part, and the
/// throttled replicas on each topic: the current replicas as leaders, the
/// moving ones as followers (`calculateProposedMoveMap`).
async fn set_throttles(
    admin: &Admin,
    rate: i64,
    before: &Assignment,
    target: &Assignment,
) -> anyhow::Result<()> {
    let mut leaders: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut followers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut brokers: Vec<i32> = Vec::new();
    for ((t, p), to) in target {
        let from = before.get(&(t.clone(), *p)).cloned().unwrap_or_default();
        for b in &from {
            leaders.entry(t.clone()).or_default().push(format!("{p}:{b}"));
        }
        for b in to.iter().filter(|b| !from.contains(b)) {
            followers.entry(t.clone()).or_default().push(format!("{p}:{b}"));
        }
        brokers.extend(from.iter().chain(to));
    }
    brokers.sort_unstable();
    brokers.dedup();
    for t in topics_of(target) {
        let ops = [
            AlterConfigOp::Set(
                "leader.replication.throttled.replicas".into(),
                leaders.remove(&t).unwrap_or_default().join(","),
            ),
            AlterConfigOp::Set(
                "follower.replication.throttled.replicas".into(),
                followers.remove(&t).unwrap_or_default().join(","),
            ),
        ];
        admin.incremental_alter_configs(ResourceType::Topic, &t, &ops).await?;
    }
    let ops = [
        AlterConfigOp::Set("leader.replication.throttled.rate".into(), rate.to_string()),
        AlterConfigOp::Set("follower.replication.throttled.rate".into(), rate.to_string()),
    ];
    for b in &brokers {
        admin
            .incremental_alter_configs(ResourceType::Broker, &b.to_string(), &ops)
            .await
            .with_context(|| format!("cannot set the replication throttle on broker {b}"))?;
    }
    println!("The inter-broker throttle limit was set to {rate} B/s");
    Ok(())
}

async fn clear_throttles(admin: &Admin, target: &Assignment) -> anyhow::Result<()> {
    let md = admin.metadata().await?;
    let mut brokers: Vec<i32> = md.brokers.keys().copied().collect();
    brokers.extend(target.values().flatten());
    brokers.sort_unstable();
    brokers.dedup();
    println!(
        "Clearing broker-level throttles on broker{} {}",
        if brokers.len() == 1 { "" } else { "s" },
        join_ids(&brokers)
    );
    let ops = [
        AlterConfigOp::Delete("leader.replication.throttled.rate".into()),
        AlterConfigOp::Delete("follower.replication.throttled.rate".into()),
    ];
    for b in &brokers {
        // A broker without dynamic configs has nothing to clear.
        let _ = admin.incremental_alter_configs(ResourceType::Broker, &b.to_string(), &ops).await;
    }
    let topics = topics_of(target);
    println!(
        "Clearing topic-level throttles on topic{} {}",
        if topics.len() == 1 { "" } else { "s" },
        topics.join(",")
    );
    let ops = [
        AlterConfigOp::Delete("leader.replication.throttled.replicas".into()),
        AlterConfigOp::Delete("follower.replication.throttled.replicas".into()),
    ];
    for t in &topics {
        admin.incremental_alter_configs(ResourceType::Topic, t, &ops).await?;
    }
    Ok(())
}

/// The reassignments in progress among the file's partitions.
async fn ongoing_of(
    admin: &Admin,
    target: &Assignment,
) -> anyhow::Result<Vec<OngoingReassignment>> {
    let wanted: Vec<(String, i32)> = target.keys().cloned().collect();
    Ok(admin.list_partition_reassignments(Some(&wanted)).await?)
}

fn join_ids(r: &[i32]) -> String {
    r.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

async fn verify(
    admin: &Admin,
    args: &ReassignPartitionsArgs,
    target: &Assignment,
) -> anyhow::Result<()> {
    let ongoing = ongoing_of(admin, target).await?;
    let current = current_assignment(admin, &topics_of(target)).await?;
    println!("Status of partition reassignment:");
    let mut done = true;
    for ((t, p), replicas) in target {
        if ongoing.iter().any(|o| &o.topic == t && o.partition == *p) {
            done = false;
            println!("Reassignment of partition {t}-{p} is still in progress.");
        } else {
            let now = current.get(&(t.clone(), *p)).cloned().unwrap_or_default();
            if &now == replicas {
                println!("Reassignment of partition {t}-{p} is completed.");
            } else {
                println!(
                    "There is no active reassignment of partition {t}-{p}, but replica set is {} \
                     rather than {}.",
                    join_ids(&now),
                    join_ids(replicas)
                );
            }
        }
    }
    if done && !args.preserve_throttles {
        println!();
        clear_throttles(admin, target).await?;
    }
    Ok(())
}

async fn cancel(
    admin: &Admin,
    args: &ReassignPartitionsArgs,
    target: &Assignment,
) -> anyhow::Result<()> {
    let ongoing = ongoing_of(admin, target).await?;
    let cancelling: Vec<(String, i32, Option<Vec<i32>>)> =
        ongoing.iter().map(|o| (o.topic.clone(), o.partition, None)).collect();
    if cancelling.is_empty() {
        println!("None of the specified partition reassignments are active.");
    } else {
        alter(admin, args, &cancelling, "cancelling").await?;
        let cancelled: Vec<(String, i32)> =
            cancelling.into_iter().map(|(t, p, _)| (t, p)).collect();
        println!(
            "Successfully cancelled partition reassignment{} for: {}",
            if cancelled.len() == 1 { "" } else { "s" },
            names(&cancelled)
        );
    }
    if !args.preserve_throttles {
        clear_throttles(admin, target).await?;
    }
    Ok(())
}

async fn list(admin: &Admin) -> anyhow::Result<()> {
    let ongoing = admin.list_partition_reassignments(None).await?;
    if ongoing.is_empty() {
        println!("No partition reassignments found.");
        return Ok(());
    }
    println!("Current partition reassignments:");
    let list = join_ids;
    for o in ongoing {
        let adding = if o.adding.is_empty() {
            String::new()
        } else {
            format!(" adding: {}.", list(&o.adding))
        };
        let removing = if o.removing.is_empty() {
            String::new()
        } else {
            format!(" removing: {}.", list(&o.removing))
        };
        println!("{}-{}: replicas: {}.{adding}{removing}", o.topic, o.partition, list(&o.replicas));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reassignment_json_round_trips_in_kafkas_key_order() {
        let text = r#"{"version":1,"partitions":[{"topic":"foo","partition":1,"replicas":[1,2],"log_dirs":["any","any"]},{"topic":"foo","partition":0,"replicas":[3]}]}"#;
        let a = parse_reassignment_json(text).unwrap();
        assert_eq!(a[&("foo".to_string(), 0)], vec![3]);
        assert_eq!(
            reassignment_json(&a),
            r#"{"version":1,"partitions":[{"topic":"foo","partition":0,"replicas":[3],"log_dirs":["any"]},{"topic":"foo","partition":1,"replicas":[1,2],"log_dirs":["any","any"]}]}"#
        );
    }

    #[test]
    fn bad_reassignment_files_are_refused() {
        for (text, why) in [
            (r#"{"version":1,"partitions":[]}"#, "empty"),
            (r#"{"partitions":[{"topic":"a","partition":0}]}"#, "no replicas"),
            (
                r#"{"partitions":[{"topic":"a","partition":0,"replicas":[1]},{"topic":"a","partition":0,"replicas":[2]}]}"#,
                "duplicate partition",
            ),
            (
                r#"{"partitions":[{"topic":"a","partition":0,"replicas":[1,2],"log_dirs":["any"]}]}"#,
                "dirs",
            ),
            ("nope", "not JSON"),
        ] {
            assert!(parse_reassignment_json(text).is_err(), "{why}");
        }
    }

    #[test]
    fn topics_to_move_and_broker_lists() {
        let t = topics_to_move(r#"{"version":1,"topics":[{"topic":"foo"},{"topic":"bar"}]}"#);
        assert_eq!(t.unwrap(), vec!["foo".to_string(), "bar".to_string()]);
        assert_eq!(broker_list("1, 2,3").unwrap(), vec![1, 2, 3]);
        assert!(broker_list("1,1").is_err());
        assert!(broker_list("x").is_err());
    }
}
