//! `kafka-rs leader-election` (kafka-leader-election.sh): asks the
//! controller to move leadership to each partition's preferred replica, or
//! to elect a leader outside the ISR for partitions that have none
//! (unclean), and prints Kafka's summary lines.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{ArgGroup, Args};

use super::client_opts::{runtime, AdminConnection};
use crate::client::admin::Admin;
use crate::client::Cluster;

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("target").required(true).args(["topic", "all_topic_partitions", "path_to_json_file"])
))]
#[command(mut_arg("bootstrap_server", |a| a.required(true)))]
#[command(mut_arg("command_config", |a| a.long("admin.config")))]
pub struct LeaderElectionArgs {
    #[command(flatten)]
    pub connection: AdminConnection,
    /// Type of election to attempt: PREFERRED for the preferred replica,
    /// UNCLEAN for any live replica of a partition without a leader.
    #[arg(long, value_name = "PREFERRED|UNCLEAN", required = true, value_parser = parse_election_type)]
    pub election_type: ElectionKind,
    /// Name of the topic whose partition's leader is elected (with --partition).
    #[arg(long, value_name = "TOPIC", requires = "partition")]
    pub topic: Option<String>,
    /// The partition of --topic whose leader is elected.
    #[arg(long, value_name = "ID", requires = "topic")]
    pub partition: Option<i32>,
    /// Elect leaders for every partition.
    #[arg(long)]
    pub all_topic_partitions: bool,
    /// JSON file of the partitions to elect:
    /// {"partitions": [{"topic": "foo", "partition": 1}, ...]}
    #[arg(long, value_name = "FILE")]
    pub path_to_json_file: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElectionKind {
    Preferred,
    Unclean,
}

impl ElectionKind {
    fn name(self) -> &'static str {
        match self {
            ElectionKind::Preferred => "PREFERRED",
            ElectionKind::Unclean => "UNCLEAN",
        }
    }

    /// ElectLeaders' `election_type`.
    fn wire(self) -> i8 {
        match self {
            ElectionKind::Preferred => 0,
            ElectionKind::Unclean => 1,
        }
    }
}

fn parse_election_type(s: &str) -> Result<ElectionKind, String> {
    match s.to_ascii_uppercase().as_str() {
        "PREFERRED" => Ok(ElectionKind::Preferred),
        "UNCLEAN" => Ok(ElectionKind::Unclean),
        _ => Err(format!("{s} is not a valid election type: use PREFERRED or UNCLEAN")),
    }
}

/// The partitions of Kafka's election JSON file, refusing duplicates as
/// Kafka does.
fn partitions_from_json(text: &str) -> anyhow::Result<Vec<(String, i32)>> {
    let v: serde_json::Value =
        serde_json::from_str(text).context("the JSON file does not parse")?;
    let Some(list) = v.get("partitions").and_then(|p| p.as_array()) else {
        bail!("the JSON file has no \"partitions\" list");
    };
    let mut out: Vec<(String, i32)> = Vec::new();
    let mut duplicates = Vec::new();
    for e in list {
        let topic = e.get("topic").and_then(|t| t.as_str());
        let partition =
            e.get("partition").and_then(|p| p.as_i64()).and_then(|p| i32::try_from(p).ok());
        let (Some(topic), Some(partition)) = (topic, partition) else {
            bail!("each entry of \"partitions\" needs a \"topic\" string and a \"partition\" number: {e}");
        };
        let tp = (topic.to_string(), partition);
        if out.contains(&tp) {
            duplicates.push(format!("{topic}-{partition}"));
        } else {
            out.push(tp);
        }
    }
    if !duplicates.is_empty() {
        bail!("Replica election data contains duplicate partitions: {}", duplicates.join(","));
    }
    Ok(out)
}

pub fn run(args: LeaderElectionArgs) -> anyhow::Result<()> {
    let wanted: Option<Vec<(String, i32)>> = if args.all_topic_partitions {
        None
    } else if let Some(path) = &args.path_to_json_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Some(partitions_from_json(&text)?)
    } else {
        match (&args.topic, args.partition) {
            (Some(t), Some(p)) => Some(vec![(t.clone(), p)]),
            _ => bail!("Missing required option(s): topic, partition"),
        }
    };
    let config = args.connection.client_config("kafka-leader-election")?;
    let election = args.election_type;
    let results = runtime()?.block_on(async {
        let admin = Admin::new(Cluster::connect(config).await?);
        admin.elect_leaders(election.wire(), wanted.as_deref()).await
    })?;
    let mut results = results;
    results.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let mut succeeded = Vec::new();
    let mut noop = Vec::new();
    let mut failed = Vec::new();
    for (topic, partition, error) in results {
        let tp = format!("{topic}-{partition}");
        match error {
            None => succeeded.push(tp),
            Some(e)
                if e.code() == Some(kafka_protocol::error::ResponseError::ElectionNotNeeded) =>
            {
                noop.push(tp)
            }
            Some(e) => failed.push((tp, e)),
        }
    }
    if !succeeded.is_empty() {
        println!(
            "Successfully completed leader election ({}) for partitions {}",
            election.name(),
            succeeded.join(", ")
        );
    }
    if !noop.is_empty() {
        println!("Valid replica already elected for partitions {}", noop.join(", "));
    }
    if !failed.is_empty() {
        for (tp, e) in &failed {
            let class =
                e.code().map(|c| format!("org.apache.kafka.common.errors.{c:?}Exception: "));
            println!(
                "Error completing leader election ({}) for partition: {tp}: {}{e}",
                election.name(),
                class.unwrap_or_default()
            );
        }
        bail!("{} replica(s) could not be elected", failed.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn election_json_file() {
        let ok = r#"{"partitions": [{"topic": "foo", "partition": 1}, {"topic": "bar", "partition": 0}]}"#;
        assert_eq!(
            partitions_from_json(ok).unwrap(),
            vec![("foo".to_string(), 1), ("bar".to_string(), 0)]
        );
        let dup = r#"{"partitions": [{"topic": "foo", "partition": 1}, {"topic": "foo", "partition": 1}]}"#;
        assert_eq!(
            partitions_from_json(dup).unwrap_err().to_string(),
            "Replica election data contains duplicate partitions: foo-1"
        );
        assert!(partitions_from_json(r#"{"partitions": [{"topic": "foo"}]}"#).is_err());
        assert!(partitions_from_json("nope").is_err());
    }

    #[test]
    fn election_types_as_kafka_spells_them() {
        assert_eq!(parse_election_type("PREFERRED"), Ok(ElectionKind::Preferred));
        assert_eq!(parse_election_type("unclean"), Ok(ElectionKind::Unclean));
        assert!(parse_election_type("random").is_err());
    }
}
