//! `kafka-rs consumer-perf-test` (kafka-consumer-perf-test.sh): reads
//! `--messages` records from every partition of a topic and prints Kafka's
//! `ConsumerPerformance` report. There is no group, so rebalance time is 0.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;

use super::client_opts::{client_config, load_properties, runtime};
use super::perf::{format_time, metrics_table, progress_bar, MetricValue};
use crate::client::consumer::{Consumer, ConsumerConfig, StartOffset};
use crate::client::producer::now_ms;
use crate::client::Cluster;

#[derive(Debug, Args)]
pub struct ConsumerPerfTestArgs {
    /// The server(s) to connect to (host:port[,host:port...]).
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap_server: Option<String>,
    /// Deprecated alias of --bootstrap-server.
    #[arg(long, value_name = "HOST:PORT", hide = true)]
    pub broker_list: Option<String>,
    /// The topic to consume from.
    #[arg(long)]
    pub topic: String,
    /// The number of messages to consume.
    #[arg(long, value_name = "COUNT")]
    pub messages: u64,
    /// Bytes to fetch per partition and request (max.partition.fetch.bytes).
    #[arg(long, value_name = "SIZE", default_value_t = 1024 * 1024)]
    pub fetch_size: i32,
    /// Start from the latest offsets instead of the earliest.
    #[arg(long)]
    pub from_latest: bool,
    /// Give up when no message arrived for this long (ms).
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub timeout: u64,
    /// Interval between detailed stats lines (ms).
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub reporting_interval: u64,
    /// Print a stats line every reporting interval.
    #[arg(long)]
    pub show_detailed_stats: bool,
    /// SimpleDateFormat pattern for the times.
    #[arg(long, value_name = "FORMAT", default_value = "yyyy-MM-dd HH:mm:ss:SSS")]
    pub date_format: String,
    /// Leave out the header line.
    #[arg(long)]
    pub hide_header: bool,
    /// Consumer properties file.
    #[arg(long = "consumer.config", value_name = "FILE")]
    pub consumer_config: Option<PathBuf>,
    /// Print the consumer's metrics at the end, in Kafka's metric names.
    #[arg(long)]
    pub print_metrics: bool,
}

const MB: f64 = 1024.0 * 1024.0;

pub fn run(args: ConsumerPerfTestArgs) -> anyhow::Result<()> {
    let mut props = load_properties(args.consumer_config.as_deref(), &[])?;
    props.set("max.partition.fetch.bytes", args.fetch_size.to_string());
    let bootstrap = args.bootstrap_server.as_deref().or(args.broker_list.as_deref());
    let client = client_config(bootstrap, &props, "perf-consumer-client")?;
    let client_id = client.client_id.clone();
    let config = ConsumerConfig::from_properties(&props)?;
    let rt = runtime()?;
    rt.block_on(async {
        let cluster = Cluster::connect(client).await?;
        let mut consumer = Consumer::new(cluster, config);
        let partitions = consumer.topic_partitions(&args.topic).await?;
        let start = if args.from_latest { StartOffset::Latest } else { StartOffset::Earliest };
        consumer.assign(&partitions, start).await?;
        if !args.hide_header {
            let extra = ", rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec";
            if args.show_detailed_stats {
                println!("time, threadId, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec{extra}");
            } else {
                println!("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec{extra}");
            }
        }
        let bar = progress_bar(args.messages, "messages");
        let start_ms = now_ms();
        let timeout = Duration::from_millis(args.timeout);
        let interval = Duration::from_millis(args.reporting_interval.max(1));
        let (mut messages, mut bytes) = (0u64, 0u64);
        let (mut last_messages, mut last_bytes) = (0u64, 0u64);
        let mut last_report = Instant::now();
        let mut last_report_ms = start_ms;
        let mut last_data = Instant::now();
        while messages < args.messages {
            if last_data.elapsed() >= timeout {
                println!(
                    "WARNING: Exiting before consuming the expected number of messages: timeout ({} ms) exceeded. You can use the --timeout option to increase the timeout.",
                    args.timeout
                );
                break;
            }
            let fetched = consumer.poll(timeout.saturating_sub(last_data.elapsed()).min(Duration::from_secs(1))).await?;
            for f in &fetched {
                f.for_each_record(|r| {
                    messages += 1;
                    bytes += (r.record.key.map_or(0, <[u8]>::len) + r.record.value.map_or(0, <[u8]>::len)) as u64;
                    Ok(messages < args.messages)
                })?;
                last_data = Instant::now();
                if messages >= args.messages {
                    break;
                }
            }
            if let Some(b) = &bar {
                b.set_position(messages);
            }
            if args.show_detailed_stats && last_report.elapsed() >= interval {
                let now = now_ms();
                let elapsed = (now - last_report_ms).max(1) as f64;
                let mb = bytes as f64 / MB;
                let interval_mb = (bytes - last_bytes) as f64 / MB;
                let interval_msgs = (messages - last_messages) as f64;
                println!(
                    "{}, 0, {:.4}, {:.4}, {}, {:.4}, 0, {}, {:.4}, {:.4}",
                    format_time(now, &args.date_format),
                    mb,
                    1000.0 * interval_mb / elapsed,
                    messages,
                    interval_msgs / elapsed * 1000.0,
                    now - last_report_ms,
                    1000.0 * interval_mb / elapsed,
                    interval_msgs / elapsed * 1000.0,
                );
                last_report = Instant::now();
                last_report_ms = now;
                last_bytes = bytes;
                last_messages = messages;
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        let end_ms = now_ms();
        if !args.show_detailed_stats {
            let elapsed_secs = ((end_ms - start_ms).max(1)) as f64 / 1000.0;
            let mb = bytes as f64 / MB;
            let fetch_ms = end_ms - start_ms;
            let fetch_secs = (fetch_ms.max(1)) as f64 / 1000.0;
            println!(
                "{}, {}, {:.4}, {:.4}, {}, {:.4}, 0, {}, {:.4}, {:.4}",
                format_time(start_ms, &args.date_format),
                format_time(end_ms, &args.date_format),
                mb,
                mb / elapsed_secs,
                messages,
                messages as f64 / elapsed_secs,
                fetch_ms,
                mb / fetch_secs,
                messages as f64 / fetch_secs,
            );
        }
        if args.print_metrics {
            let secs = ((end_ms - start_ms).max(1)) as f64 / 1000.0;
            let g = "consumer-fetch-manager-metrics";
            let c = client_id.as_str();
            let d = MetricValue::Double;
            print!(
                "{}",
                metrics_table(&[
                    (g, "records-consumed-total", c, d(messages as f64)),
                    (g, "records-consumed-rate", c, d(messages as f64 / secs)),
                    (g, "bytes-consumed-total", c, d(bytes as f64)),
                    (g, "bytes-consumed-rate", c, d(bytes as f64 / secs)),
                    ("app-info", "version", c, MetricValue::Text(env!("CARGO_PKG_VERSION").into())),
                ])
            );
        }
        Ok(())
    })
}
