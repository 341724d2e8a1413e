//! `kafka-rs get-offsets` (kafka-get-offsets.sh): the offset of each
//! matching partition at a time (latest, earliest, max-timestamp or a
//! timestamp), printed as `topic:partition:offset`.

use anyhow::bail;
use clap::Args;
use regex::Regex;

use super::client_opts::{runtime, AdminConnection};
use crate::client::admin::{Admin, OffsetSpec};
use crate::client::Cluster;

#[derive(Debug, Args)]
pub struct GetOffsetsArgs {
    #[command(flatten)]
    pub connection: AdminConnection,
    /// Deprecated alias of --bootstrap-server.
    #[arg(long, value_name = "HOST:PORT", hide = true)]
    pub broker_list: Option<String>,
    /// Regular expression of the topics to query (all topics if absent).
    #[arg(long, value_name = "REGEX")]
    pub topic: Option<String>,
    /// Comma-separated partition ids to query (all if absent).
    #[arg(long, value_name = "IDS")]
    pub partitions: Option<String>,
    /// Topic-partition patterns: topic1:1,topic2:0-3,topic3,topic4:5-,topic5:-3
    /// (ranges: lower bound inclusive, upper exclusive).
    #[arg(long, value_name = "PATTERNS", conflicts_with_all = ["topic", "partitions"])]
    pub topic_partitions: Option<String>,
    /// -1 or latest, -2 or earliest, -3 or max-timestamp, or a timestamp in ms.
    #[arg(long, value_name = "TIME", default_value = "latest", allow_hyphen_values = true)]
    pub time: String,
    /// Leave out internal topics.
    #[arg(long)]
    pub exclude_internal_topics: bool,
}

fn parse_time(s: &str) -> anyhow::Result<OffsetSpec> {
    Ok(match s {
        "-1" | "latest" => OffsetSpec::Latest,
        "-2" | "earliest" => OffsetSpec::Earliest,
        "-3" | "max-timestamp" => OffsetSpec::MaxTimestamp,
        other => match other.parse::<i64>() {
            Ok(t) if t >= 0 => OffsetSpec::Timestamp(t),
            _ => bail!("Malformed time argument {other}. Please use -1 or latest / -2 or earliest / -3 or max-timestamp, or a specified long format timestamp"),
        },
    })
}

/// One `topic[:range]` filter of --topic-partitions or --topic/--partitions.
struct Filter {
    topic: Regex,
    /// Inclusive start, exclusive end; `None` = every partition.
    partitions: Option<Vec<(i32, i32)>>,
}

impl Filter {
    fn matches(&self, topic: &str, partition: i32) -> bool {
        self.topic.is_match(topic)
            && self
                .partitions
                .as_ref()
                .is_none_or(|r| r.iter().any(|&(lo, hi)| partition >= lo && partition < hi))
    }
}

fn whole(re: &str) -> anyhow::Result<Regex> {
    Ok(Regex::new(&format!("^(?:{re})$"))?)
}

/// `N`, `N-M` (lower inclusive, upper exclusive, as Kafka documents), `N-`
/// or `-M`.
fn parse_range(s: &str) -> anyhow::Result<(i32, i32)> {
    let num =
        |x: &str| x.parse::<i32>().map_err(|_| anyhow::anyhow!("Invalid partition range {s:?}"));
    Ok(match s.split_once('-') {
        None => {
            let n = num(s)?;
            (n, n + 1)
        }
        Some(("", hi)) => (0, num(hi)?),
        Some((lo, "")) => (num(lo)?, i32::MAX),
        Some((lo, hi)) => (num(lo)?, num(hi)?),
    })
}

fn filters(args: &GetOffsetsArgs) -> anyhow::Result<Vec<Filter>> {
    if let Some(tp) = &args.topic_partitions {
        return tp
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|spec| {
                let (topic, range) = match spec.rsplit_once(':') {
                    Some((t, r)) => (t, Some(vec![parse_range(r)?])),
                    None => (spec, None),
                };
                Ok(Filter {
                    topic: whole(if topic.is_empty() { ".*" } else { topic })?,
                    partitions: range,
                })
            })
            .collect();
    }
    let partitions =
        args.partitions
            .as_deref()
            .map(|p| {
                p.split(',')
                    .map(|id| {
                        id.trim().parse::<i32>().map(|n| (n, n + 1)).map_err(|_| {
                            anyhow::anyhow!("Invalid partition id {id:?} in --partitions")
                        })
                    })
                    .collect::<anyhow::Result<Vec<_>>>()
            })
            .transpose()?;
    Ok(vec![Filter { topic: whole(args.topic.as_deref().unwrap_or(".*"))?, partitions }])
}

pub fn run(args: GetOffsetsArgs) -> anyhow::Result<()> {
    let spec = parse_time(&args.time)?;
    let filters = filters(&args)?;
    let config =
        args.connection.client_config_or(args.broker_list.as_deref(), &[], "kafka-get-offsets")?;
    let rt = runtime()?;
    rt.block_on(async {
        let admin = Admin::new(Cluster::connect(config).await?);
        let md = admin.metadata().await?;
        let mut wanted = Vec::new();
        for t in md.topics.values() {
            if t.error_code != 0 || (args.exclude_internal_topics && t.is_internal) {
                continue;
            }
            for p in &t.partitions {
                if filters.iter().any(|f| f.matches(&t.name, p.partition)) {
                    wanted.push((t.name.clone(), p.partition));
                }
            }
        }
        if wanted.is_empty() {
            bail!("Could not match any topic-partitions with the specified filters");
        }
        let offsets = admin.list_offsets(&wanted, spec).await?;
        let mut out = String::new();
        for ((topic, partition), offset) in offsets {
            out.push_str(&format!("{topic}:{partition}:{offset}\n"));
        }
        super::client_opts::print_out(&out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_like_get_offset_shell() {
        let cases = [
            ("-1", Some(OffsetSpec::Latest)),
            ("latest", Some(OffsetSpec::Latest)),
            ("-2", Some(OffsetSpec::Earliest)),
            ("earliest", Some(OffsetSpec::Earliest)),
            ("-3", Some(OffsetSpec::MaxTimestamp)),
            ("max-timestamp", Some(OffsetSpec::MaxTimestamp)),
            ("1700000000000", Some(OffsetSpec::Timestamp(1_700_000_000_000))),
            ("-4", None),
            ("soon", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_time(s).ok(), want, "{s}");
        }
    }

    #[test]
    fn partition_ranges() {
        let cases = [
            ("3", Some((3, 4)), "one partition"),
            ("0-3", Some((0, 3)), "the upper bound is exclusive"),
            ("5-", Some((5, i32::MAX)), "open upper end"),
            ("-3", Some((0, 3)), "open lower end excludes the bound"),
            ("x", None, "not a number"),
        ];
        for (s, want, why) in cases {
            assert_eq!(parse_range(s).ok(), want, "{why}");
        }
    }
}
