//! `kafka-rs consumer-groups` (kafka-consumer-groups.sh): list, describe
//! (offsets and lag, members, state), delete groups, reset and delete
//! committed offsets, printing exactly what Kafka 3.x's
//! `ConsumerGroupCommand` prints (column widths, `-` for missing values,
//! the notes about empty and rebalancing groups).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{ArgGroup, Args};

mod reset;

use super::client_opts::{runtime, AdminConnection};
use super::topics::Output;
use super::Failed;
use crate::client::admin::{Admin, OffsetSpec};
use crate::client::groups::GroupDescription;
use crate::client::{Cluster, Error};

const MISSING: &str = "-";

/// New offsets by (topic, partition).
type Plan = BTreeMap<(String, i32), i64>;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("action").required(true).args(["list", "describe", "delete", "reset_offsets", "delete_offsets"])))]
pub struct ConsumerGroupsArgs {
    #[command(flatten)]
    pub connection: AdminConnection,
    /// The consumer group(s) to act on.
    #[arg(long, value_name = "GROUP")]
    pub group: Vec<String>,
    /// The topic (`topic` or `topic:0,1`) whose offsets to reset or delete.
    #[arg(long, value_name = "TOPIC")]
    pub topic: Vec<String>,
    /// Reset the offsets of every topic the group has offsets for.
    #[arg(long)]
    pub all_topics: bool,
    /// List all consumer groups.
    #[arg(long)]
    pub list: bool,
    /// Describe consumer group(s): offsets and lag, or --members / --state.
    #[arg(long)]
    pub describe: bool,
    /// Apply to all consumer groups.
    #[arg(long)]
    pub all_groups: bool,
    /// Delete the consumer group(s); they must be empty.
    #[arg(long)]
    pub delete: bool,
    /// How long the whole command may take, in ms (connecting, waiting for
    /// a coordinator, a group to stabilise).
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub timeout: u64,
    /// Reset the group's committed offsets (the group must be inactive).
    #[arg(long)]
    pub reset_offsets: bool,
    /// Delete the group's committed offsets of the given --topic.
    #[arg(long)]
    pub delete_offsets: bool,
    /// Only show what --reset-offsets would do (the default).
    #[arg(long)]
    pub dry_run: bool,
    /// Carry out --reset-offsets.
    #[arg(long)]
    pub execute: bool,
    /// Print the reset plan as CSV (topic,partition,offset) for --from-file.
    #[arg(long)]
    pub export: bool,
    /// Reset to this offset.
    #[arg(long, value_name = "OFFSET", allow_hyphen_values = true)]
    pub to_offset: Option<i64>,
    /// Reset to the offsets in a CSV file.
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,
    /// Reset to the first offset at or after a time: YYYY-MM-DDTHH:mm:SS.sss.
    #[arg(long, value_name = "DATETIME")]
    pub to_datetime: Option<String>,
    /// Reset to the offset at now minus a duration: PnDTnHnMnS.
    #[arg(long, value_name = "DURATION")]
    pub by_duration: Option<String>,
    /// Reset to the earliest offset.
    #[arg(long)]
    pub to_earliest: bool,
    /// Reset to the latest offset.
    #[arg(long)]
    pub to_latest: bool,
    /// Reset to the current committed offset.
    #[arg(long)]
    pub to_current: bool,
    /// Move the committed offsets by N (may be negative).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub shift_by: Option<i64>,
    /// Describe the members of the group.
    #[arg(long)]
    pub members: bool,
    /// With --members, show each member's partitions.
    #[arg(long)]
    pub verbose: bool,
    /// Describe the group's offsets and lag (the default).
    #[arg(long)]
    pub offsets: bool,
    /// Describe the group's state; with --list, show (or filter by) states.
    #[arg(long, value_name = "STATES", num_args = 0..=1, default_missing_value = "")]
    pub state: Option<String>,
    /// With --list, show the groups' types, or only those of these types
    /// (comma-separated: consumer, classic).
    #[arg(long = "type", value_name = "TYPES", num_args = 0..=1, default_missing_value = "")]
    pub group_type: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

pub fn run(args: ConsumerGroupsArgs) -> anyhow::Result<()> {
    let rt = runtime()?;
    rt.block_on(run_async(&args))
}

async fn run_async(args: &ConsumerGroupsArgs) -> anyhow::Result<()> {
    let config = args.connection.client_config("adminclient-1")?;
    let limit = Duration::from_millis(args.timeout.max(1));
    match tokio::time::timeout(limit, run_bounded(args, config)).await {
        Ok(r) => r,
        Err(_) => Err(Failed(format!(
            "\nError: Executing consumer group command failed due to org.apache.kafka.common.errors.TimeoutException: timed out after {} ms (--timeout)",
            args.timeout
        ))
        .into()),
    }
}

async fn run_bounded(
    args: &ConsumerGroupsArgs,
    config: crate::client::ClientConfig,
) -> anyhow::Result<()> {
    let cluster = Cluster::connect(config).await?;
    let admin = Admin::new(cluster);
    let mut out = String::new();
    if args.list {
        list(args, &admin, &mut out).await?;
    } else if args.describe {
        describe(args, &admin, &mut out).await?;
    } else if args.delete {
        delete(args, &admin, &mut out).await?;
    } else if args.reset_offsets {
        reset::reset(args, &admin, &mut out).await?;
    } else if args.delete_offsets {
        delete_offsets(args, &admin, &mut out).await?;
    }
    print!("{out}");
    Ok(())
}

/// Kafka's `printError`: a blank line, then the message, on stdout.
fn error_line(out: &mut String, msg: &str) {
    let _ = writeln!(out, "\nError: {msg}");
}

fn groups_to_act_on<'a>(
    args: &'a ConsumerGroupsArgs,
    all: &'a [String],
) -> anyhow::Result<Vec<String>> {
    if args.all_groups {
        return Ok(all.to_vec());
    }
    if args.group.is_empty() {
        bail!("Option [{}] takes one of these options: [group], [all-groups]", action_name(args));
    }
    Ok(args.group.clone())
}

fn action_name(args: &ConsumerGroupsArgs) -> &'static str {
    if args.describe {
        "describe"
    } else if args.delete {
        "delete"
    } else if args.reset_offsets {
        "reset-offsets"
    } else {
        "delete-offsets"
    }
}

async fn list(args: &ConsumerGroupsArgs, admin: &Admin, out: &mut String) -> anyhow::Result<()> {
    let filter: Vec<String> = match args.state.as_deref() {
        Some(s) if !s.is_empty() => s.split(',').map(|s| s.trim().to_string()).collect(),
        _ => Vec::new(),
    };
    let types: Vec<String> = match args.group_type.as_deref() {
        Some(t) if !t.is_empty() => parse_types(t)?,
        _ => Vec::new(),
    };
    let groups = admin.list_groups_filtered(&filter, &types).await?;
    match args.output {
        Output::Json => {
            let _ = writeln!(out, "{}", serde_json::to_string_pretty(&groups)?);
        }
        Output::Table => {
            let mut t = new_table(&["GROUP", "STATE"]);
            for g in &groups {
                t.add_row(vec![g.group_id.clone(), g.state.clone()]);
            }
            let _ = writeln!(out, "{t}");
        }
        Output::Text if args.state.is_some() || args.group_type.is_some() => {
            let width = groups.iter().map(|g| g.group_id.len().max(15)).max().unwrap_or(15) + 10;
            let line = |out: &mut String, id: &str, kind: &str, state: &str| {
                let _ = write!(out, "{id:<width$}");
                if args.group_type.is_some() {
                    let _ = write!(out, " {kind:<20}");
                }
                if args.state.is_some() {
                    let _ = write!(out, " {state:<20}");
                }
                out.push('\n');
            };
            line(out, "GROUP", "TYPE", "STATE");
            for g in &groups {
                line(out, &g.group_id, type_name(&g.group_type), &g.state);
            }
        }
        Output::Text => {
            for g in &groups {
                let _ = writeln!(out, "{}", g.group_id);
            }
        }
    }
    Ok(())
}

/// Kafka's `GroupType` names as `--list --type` prints them.
fn type_name(wire: &str) -> &'static str {
    match wire.to_ascii_lowercase().as_str() {
        "classic" => "Classic",
        "consumer" => "Consumer",
        _ => "Unknown",
    }
}

/// `--type consumer,classic`, case-insensitive, as Kafka parses it.
fn parse_types(input: &str) -> anyhow::Result<Vec<String>> {
    let types: Vec<String> =
        input.to_lowercase().split(',').map(|t| t.trim().to_string()).collect();
    if types.iter().any(|t| t != "classic" && t != "consumer") {
        return Err(Failed(format!(
            "\nError: Invalid types list '{input}'. Valid types are: Consumer, Classic"
        ))
        .into());
    }
    Ok(types)
}

/// One row of `--describe --offsets`.
#[derive(Debug, serde::Serialize)]
struct OffsetRow {
    group: String,
    topic: Option<String>,
    partition: Option<i32>,
    current_offset: Option<i64>,
    log_end_offset: Option<i64>,
    lag: Option<i64>,
    consumer_id: Option<String>,
    host: Option<String>,
    client_id: Option<String>,
}

async fn offset_rows(admin: &Admin, d: &GroupDescription) -> anyhow::Result<Vec<OffsetRow>> {
    let committed = admin.group_offsets(&d.group_id).await?;
    let mut members: Vec<_> = d.members.iter().filter(|m| !m.assignment.is_empty()).collect();
    members.sort_by_key(|m| std::cmp::Reverse(m.assignment.values().map(Vec::len).sum::<usize>()));
    let mut partitions: Vec<(String, i32)> = Vec::new();
    for m in &members {
        for (t, ps) in &m.assignment {
            partitions.extend(ps.iter().map(|p| (t.clone(), *p)));
        }
    }
    let unassigned: Vec<(String, i32)> =
        committed.keys().filter(|tp| !partitions.contains(tp)).cloned().collect();
    let all: Vec<(String, i32)> = partitions.iter().chain(unassigned.iter()).cloned().collect();
    let ends = if all.is_empty() {
        BTreeMap::new()
    } else {
        admin.list_offsets(&all, OffsetSpec::Latest).await?
    };
    let row = |tp: &(String, i32), consumer: Option<(&str, &str, &str)>| {
        let current = committed.get(tp).copied();
        let end = ends.get(tp).copied();
        OffsetRow {
            group: d.group_id.clone(),
            topic: Some(tp.0.clone()),
            partition: Some(tp.1),
            current_offset: current,
            log_end_offset: end,
            lag: match (current, end) {
                (Some(c), Some(e)) if c >= 0 => Some(e - c),
                _ => None,
            },
            consumer_id: consumer.map(|c| c.0.to_string()),
            host: consumer.map(|c| c.1.to_string()),
            client_id: consumer.map(|c| c.2.to_string()),
        }
    };
    let mut rows = Vec::new();
    for m in &members {
        for (t, ps) in &m.assignment {
            let mut ps = ps.clone();
            ps.sort_unstable();
            for p in ps {
                rows.push(row(&(t.clone(), p), Some((&m.member_id, &m.host, &m.client_id))));
            }
        }
    }
    for tp in &unassigned {
        rows.push(row(tp, None));
    }
    Ok(rows)
}

/// Kafka's `shouldPrintMemberState`: the notes about empty and
/// rebalancing groups go to stderr; a dead group is an error.
fn should_print(out: &mut String, group: &str, state: &str, rows: usize) -> bool {
    match state {
        "Dead" => error_line(out, &format!("Consumer group '{group}' does not exist.")),
        "Empty" => eprintln!("\nConsumer group '{group}' has no active members."),
        "PreparingRebalance" | "CompletingRebalance" | "Assigning" | "Reconciling" => {
            eprintln!("\nWarning: Consumer group '{group}' is rebalancing.")
        }
        _ => {}
    }
    state != "Dead" && rows > 0
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or(MISSING.to_string(), T::to_string)
}

async fn describe(
    args: &ConsumerGroupsArgs,
    admin: &Admin,
    out: &mut String,
) -> anyhow::Result<()> {
    let all = if args.all_groups {
        admin.list_groups(&[]).await?.into_iter().map(|g| g.group_id).collect()
    } else {
        Vec::new()
    };
    let groups = groups_to_act_on(args, &all)?;
    let mut json = Vec::new();
    for group in groups {
        let d = admin.describe_group(&group).await?;
        if args.members {
            describe_members(args, &d, out, &mut json);
        } else if args.state.is_some() {
            describe_state(args, &d, out, &mut json);
        } else {
            let rows = offset_rows(admin, &d).await?;
            if args.output == Output::Json {
                json.push(
                    serde_json::json!({ "group": d.group_id, "state": d.state, "offsets": rows }),
                );
                continue;
            }
            if !should_print(out, &d.group_id, &d.state, rows.len()) {
                continue;
            }
            if args.output == Output::Table {
                let mut t = new_table(&OFFSET_COLUMNS);
                for r in &rows {
                    t.add_row(offset_cells(r).to_vec());
                }
                let _ = writeln!(out, "\n{t}");
                continue;
            }
            let w = |f: &dyn Fn(&OffsetRow) -> usize| rows.iter().map(f).fold(15, usize::max);
            let (gw, tw) = (w(&|r| r.group.len()), w(&|r| opt(&r.topic).len()));
            let (cw, hw) = (w(&|r| opt(&r.consumer_id).len()), w(&|r| opt(&r.host).len()));
            let line = |c: [&str; 9]| {
                format!(
                    "\n{:<gw$} {:<tw$} {:<10} {:<15} {:<15} {:<15} {:<cw$} {:<hw$} {}",
                    c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]
                )
            };
            out.push_str(&line(OFFSET_COLUMNS));
            for r in &rows {
                out.push_str(&line(offset_cells(r).each_ref().map(String::as_str)));
            }
            out.push('\n');
        }
    }
    if args.output == Output::Json {
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&json)?);
    }
    Ok(())
}

/// The columns of `--describe --offsets`, as Kafka prints them.
const OFFSET_COLUMNS: [&str; 9] = [
    "GROUP",
    "TOPIC",
    "PARTITION",
    "CURRENT-OFFSET",
    "LOG-END-OFFSET",
    "LAG",
    "CONSUMER-ID",
    "HOST",
    "CLIENT-ID",
];

/// One row of `--describe --offsets`, in [`OFFSET_COLUMNS`] order.
fn offset_cells(r: &OffsetRow) -> [String; 9] {
    [
        r.group.clone(),
        opt(&r.topic),
        opt(&r.partition),
        opt(&r.current_offset),
        opt(&r.log_end_offset),
        opt(&r.lag),
        opt(&r.consumer_id),
        opt(&r.host),
        opt(&r.client_id),
    ]
}

/// `topic(0,1),other(2)`, Kafka's assignment column.
fn assignment_string(a: &BTreeMap<String, Vec<i32>>) -> String {
    if a.values().all(Vec::is_empty) {
        return MISSING.to_string();
    }
    let mut parts: Vec<String> = a
        .iter()
        .filter(|(_, ps)| !ps.is_empty())
        .map(|(t, ps)| {
            let mut ps = ps.clone();
            ps.sort_unstable();
            let list: Vec<String> = ps.iter().map(i32::to_string).collect();
            format!("{t}({})", list.join(","))
        })
        .collect();
    parts.sort();
    parts.join(", ")
}

fn describe_members(
    args: &ConsumerGroupsArgs,
    d: &GroupDescription,
    out: &mut String,
    json: &mut Vec<serde_json::Value>,
) {
    if args.output == Output::Json {
        json.push(
            serde_json::json!({ "group": d.group_id, "state": d.state, "members": d.members }),
        );
        return;
    }
    if !should_print(out, &d.group_id, &d.state, d.members.len()) {
        return;
    }
    let count = |m: &crate::client::groups::MemberDescription| {
        m.assignment.values().map(Vec::len).sum::<usize>()
    };
    if args.output == Output::Table {
        let mut t = new_table(&[
            "GROUP",
            "CONSUMER-ID",
            "GROUP-INSTANCE-ID",
            "HOST",
            "CLIENT-ID",
            "#PARTITIONS",
            "ASSIGNMENT",
        ]);
        for m in &d.members {
            t.add_row(vec![
                d.group_id.clone(),
                m.member_id.clone(),
                opt(&m.group_instance_id),
                m.host.clone(),
                m.client_id.clone(),
                count(m).to_string(),
                assignment_string(&m.assignment),
            ]);
        }
        let _ = writeln!(out, "\n{t}");
        return;
    }
    let with_instance = d.members.iter().any(|m| m.group_instance_id.is_some());
    let gw = d.group_id.len().max(15);
    let cw = d.members.iter().map(|m| m.member_id.len()).fold(15, usize::max);
    let iw = d
        .members
        .iter()
        .map(|m| m.group_instance_id.as_deref().unwrap_or("").len())
        .fold(17, usize::max);
    let hw = d.members.iter().map(|m| m.host.len()).fold(15, usize::max);
    let clw = d.members.iter().map(|m| m.client_id.len()).fold(15, usize::max);
    let row = |c: [&str; 6]| {
        if with_instance {
            format!(
                "{:<gw$} {:<cw$} {:<iw$} {:<hw$} {:<clw$} {:<15} ",
                c[0], c[1], c[2], c[3], c[4], c[5]
            )
        } else {
            format!("{:<gw$} {:<cw$} {:<hw$} {:<clw$} {:<15} ", c[0], c[1], c[3], c[4], c[5])
        }
    };
    out.push('\n');
    out.push_str(&row([
        "GROUP",
        "CONSUMER-ID",
        "GROUP-INSTANCE-ID",
        "HOST",
        "CLIENT-ID",
        "#PARTITIONS",
    ]));
    if args.verbose {
        out.push_str("ASSIGNMENT");
    }
    out.push('\n');
    for m in &d.members {
        let n = count(m).to_string();
        out.push_str(&row([
            &d.group_id,
            &m.member_id,
            m.group_instance_id.as_deref().unwrap_or(""),
            &m.host,
            &m.client_id,
            &n,
        ]));
        if args.verbose {
            out.push_str(&assignment_string(&m.assignment));
        }
        out.push('\n');
    }
}

fn describe_state(
    args: &ConsumerGroupsArgs,
    d: &GroupDescription,
    out: &mut String,
    json: &mut Vec<serde_json::Value>,
) {
    let coordinator =
        format!("{}:{}  ({})", d.coordinator.host, d.coordinator.port, d.coordinator.id);
    match args.output {
        Output::Json => json.push(serde_json::json!({
            "group": d.group_id, "coordinator": d.coordinator, "assignment_strategy": d.protocol,
            "state": d.state, "members": d.members.len(),
        })),
        _ if !should_print(out, &d.group_id, &d.state, 1) => {}
        Output::Table => {
            let mut t = new_table(&[
                "GROUP",
                "COORDINATOR (ID)",
                "ASSIGNMENT-STRATEGY",
                "STATE",
                "#MEMBERS",
            ]);
            t.add_row(vec![
                d.group_id.clone(),
                coordinator,
                d.protocol.clone(),
                d.state.clone(),
                d.members.len().to_string(),
            ]);
            let _ = writeln!(out, "\n{t}");
        }
        Output::Text => {
            // Kafka pads the group column to the coordinator's width.
            let w = coordinator.len().max(25);
            let _ = write!(
                out,
                "\n{:<w$} {:<25} {:<20} {:<15} #MEMBERS",
                "GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE"
            );
            let _ = writeln!(
                out,
                "\n{:<w$} {:<25} {:<20} {:<15} {}",
                d.group_id,
                coordinator,
                d.protocol,
                d.state,
                d.members.len()
            );
        }
    }
}

/// Kafka's exception text for the group errors users see.
fn exception(e: &Error) -> String {
    use kafka_protocol::error::ResponseError;
    match e.code() {
        Some(ResponseError::NonEmptyGroup) => {
            "org.apache.kafka.common.errors.GroupNotEmptyException: The group is not empty.".into()
        }
        Some(ResponseError::GroupIdNotFound) => {
            "org.apache.kafka.common.errors.GroupIdNotFoundException: The group id does not exist."
                .into()
        }
        _ => e.to_string(),
    }
}

async fn delete(args: &ConsumerGroupsArgs, admin: &Admin, out: &mut String) -> anyhow::Result<()> {
    let all = if args.all_groups {
        admin.list_groups(&[]).await?.into_iter().map(|g| g.group_id).collect()
    } else {
        Vec::new()
    };
    let groups = groups_to_act_on(args, &all)?;
    let results = admin.delete_groups(&groups).await?;
    let quoted =
        |names: Vec<&String>| names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ");
    let ok: Vec<&String> = results.iter().filter(|(_, e)| e.is_none()).map(|(g, _)| g).collect();
    let failed: Vec<(&String, &Error)> =
        results.iter().filter_map(|(g, e)| e.as_ref().map(|e| (g, e))).collect();
    if failed.is_empty() {
        let _ =
            writeln!(out, "Deletion of requested consumer groups ({}) was successful.", quoted(ok));
    } else {
        error_line(out, "Deletion of some consumer groups failed:");
        for (g, e) in failed {
            let _ = writeln!(out, "* Group '{g}' could not be deleted due to: {}", exception(e));
        }
        if !ok.is_empty() {
            let _ =
                writeln!(out, "\nThese consumer groups were deleted successfully: {}", quoted(ok));
        }
    }
    Ok(())
}

/// `t`, or `t:0,1,2` → the partitions named, or all of t's.
async fn topic_partitions(admin: &Admin, specs: &[String]) -> anyhow::Result<Vec<(String, i32)>> {
    let mut out = Vec::new();
    for spec in specs {
        match spec.split_once(':') {
            Some((t, ps)) => {
                for p in ps.split(',').filter(|p| !p.trim().is_empty()) {
                    let p: i32 =
                        p.trim().parse().with_context(|| format!("Invalid partition in {spec}"))?;
                    out.push((t.to_string(), p));
                }
            }
            None => {
                let md = admin.describe_topic(spec).await?;
                out.extend(md.partitions.iter().map(|p| (spec.clone(), p.partition)));
            }
        }
    }
    Ok(out)
}

async fn delete_offsets(
    args: &ConsumerGroupsArgs,
    admin: &Admin,
    out: &mut String,
) -> anyhow::Result<()> {
    let [group] = args.group.as_slice() else {
        bail!("Option [delete-offsets] takes exactly one [group]");
    };
    if args.topic.is_empty() {
        bail!("Option [delete-offsets] takes one of these options: [topic]");
    }
    let partitions = topic_partitions(admin, &args.topic).await?;
    let topics: Vec<&str> = args.topic.iter().map(|t| t.split(':').next().unwrap_or(t)).collect();
    let result = admin.delete_group_offsets(group, &partitions).await?;
    let rows = match result {
        Ok(rows) => {
            let partition_error = rows.iter().any(|(_, e)| e.is_some());
            if partition_error {
                error_line(out, "Encounter some partition level error, see the follow-up details:");
            } else {
                let _ = writeln!(
                    out,
                    "Request succeed for deleting offsets with topic {} group {group}",
                    topics.join(", ")
                );
            }
            rows
        }
        Err(e) => {
            use kafka_protocol::error::ResponseError;
            let msg = match e.code() {
                Some(ResponseError::InvalidGroupId) => format!("'{group}' is not valid."),
                Some(ResponseError::GroupIdNotFound) => format!("'{group}' does not exist."),
                Some(ResponseError::NonEmptyGroup) => {
                    format!("Deleting offsets of a consumer group '{group}' is forbidden if the group is not empty.")
                }
                _ => format!("Encounter some unknown error: {e}"),
            };
            error_line(out, &msg);
            Vec::new()
        }
    };
    let _ = writeln!(out, "\n{:<30} {:<15} {:<15}", "TOPIC", "PARTITION", "STATUS");
    let mut rows = rows;
    rows.sort_by(|a, b| {
        (a.0 .0.clone() + &a.0 .1.to_string()).cmp(&(b.0 .0.clone() + &b.0 .1.to_string()))
    });
    for ((t, p), e) in rows {
        let status = e.map_or("Successful".to_string(), |e| format!("Error: {e}"));
        let _ = writeln!(out, "{t:<30} {p:<15} {status:<15}");
    }
    Ok(())
}

fn new_table(header: &[&str]) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(header.to_vec());
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_column_is_kafkas() {
        let a: BTreeMap<String, Vec<i32>> =
            [("t".to_string(), vec![2, 0]), ("a".to_string(), vec![1])].into();
        assert_eq!(assignment_string(&a), "a(1), t(0,2)");
        assert_eq!(assignment_string(&BTreeMap::new()), "-");
    }
}
