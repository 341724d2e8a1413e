//! `kafka-rs producer-perf-test` (kafka-producer-perf-test.sh): sends
//! generated records as fast as allowed and prints Kafka's
//! `ProducerPerformance` report lines, so figures compare with Kafka's.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{ArgGroup, Args};

use super::client_opts::{client_config, load_properties, parse_key_value, runtime};
use super::perf::{metrics_table, progress_bar, MetricValue, Throttle};
use crate::client::producer::{Producer, ProducerConfig, ProducerRecord};
use crate::client::Cluster;
use crate::config::Properties;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("payload").required(true).args(["record_size", "payload_file"])))]
pub struct ProducerPerfTestArgs {
    /// The topic to produce to.
    #[arg(long)]
    pub topic: String,
    /// Number of records to produce.
    #[arg(long, value_name = "NUM-RECORDS")]
    pub num_records: u64,
    /// Record size in bytes.
    #[arg(long, value_name = "RECORD-SIZE")]
    pub record_size: Option<usize>,
    /// File of payloads, one picked at random per record.
    #[arg(long, value_name = "PAYLOAD-FILE")]
    pub payload_file: Option<PathBuf>,
    /// Separator of the payloads in --payload-file.
    #[arg(long, value_name = "PAYLOAD-DELIMITER", default_value = "\\n")]
    pub payload_delimiter: String,
    /// Records per second at most; -1 for no limit.
    #[arg(long, value_name = "THROUGHPUT", allow_hyphen_values = true)]
    pub throughput: f64,
    /// Producer properties: bootstrap.servers=... and others (key=value ...).
    #[arg(long, value_name = "PROP-NAME=PROP-VALUE", num_args = 1..)]
    pub producer_props: Vec<String>,
    /// Producer properties file.
    #[arg(long = "producer.config", value_name = "CONFIG-FILE")]
    pub producer_config: Option<PathBuf>,
    /// The server(s) to connect to (overrides bootstrap.servers).
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap_server: Option<String>,
    /// Print the producer's metrics at the end, in Kafka's metric names.
    #[arg(long)]
    pub print_metrics: bool,
    /// Produce in transactions with this transactional id (it overrides
    /// transactional.id from --producer-props or --producer.config). With
    /// only --transaction-duration-ms given it is
    /// performance-producer-default-transactional-id.
    #[arg(long, value_name = "TRANSACTIONAL-ID")]
    pub transactional_id: Option<String>,
    /// How long each transaction stays open: it is committed once this
    /// much time has passed since it began, and the last one at the end.
    /// Must be greater than 0; 3000 when transactions are enabled by
    /// --transactional-id or transactional.id alone.
    #[arg(long, value_name = "TRANSACTION-DURATION", allow_hyphen_values = true)]
    pub transaction_duration_ms: Option<i64>,
}

/// Kafka's id when only --transaction-duration-ms asks for transactions.
const DEFAULT_TRANSACTIONAL_ID: &str = "performance-producer-default-transactional-id";
/// Kafka's transaction duration when only an id asks for transactions.
const DEFAULT_TRANSACTION_DURATION_MS: i64 = 3000;

/// Kafka's `ProducerPerformance` rules: any of --transactional-id,
/// --transaction-duration-ms or a `transactional.id` property turns
/// transactions on; the flag's id wins over the property's. Returns the
/// transaction duration when they are on, with `transactional.id` set.
fn transaction_settings(
    args: &ProducerPerfTestArgs,
    props: &mut Properties,
) -> anyhow::Result<Option<Duration>> {
    if args.transaction_duration_ms.is_some_and(|ms| ms <= 0) {
        bail!("--transaction-duration-ms should be greater than zero.");
    }
    let from_props = props.get("transactional.id").map(str::to_string);
    if args.transaction_duration_ms.is_none()
        && args.transactional_id.is_none()
        && from_props.is_none()
    {
        return Ok(None);
    }
    let id = args
        .transactional_id
        .clone()
        .or(from_props)
        .unwrap_or_else(|| DEFAULT_TRANSACTIONAL_ID.to_string());
    props.set("transactional.id", id);
    let ms = args.transaction_duration_ms.unwrap_or(DEFAULT_TRANSACTION_DURATION_MS);
    Ok(Some(Duration::from_millis(ms as u64)))
}

/// Kafka's `ProducerPerformance.Stats`: a 5 s window printed as it closes,
/// totals and sampled latencies for the final line.
struct Stats {
    start: Instant,
    count: u64,
    bytes: u64,
    max_latency: u64,
    total_latency: u64,
    latencies: Vec<u32>,
    sampling: u64,
    window_start: Instant,
    window_count: u64,
    window_bytes: u64,
    window_max: u64,
    window_total: u64,
}

const REPORTING_INTERVAL: Duration = Duration::from_millis(5000);

impl Stats {
    fn new(num_records: u64) -> Self {
        let sampling = (num_records / num_records.clamp(1, 500_000)).max(1);
        let now = Instant::now();
        Stats {
            start: now,
            count: 0,
            bytes: 0,
            max_latency: 0,
            total_latency: 0,
            latencies: Vec::with_capacity((num_records / sampling + 1) as usize),
            sampling,
            window_start: now,
            window_count: 0,
            window_bytes: 0,
            window_max: 0,
            window_total: 0,
        }
    }

    fn record(&mut self, latency_ms: u64, bytes: u64, now: Instant) -> Option<String> {
        self.count += 1;
        self.bytes += bytes;
        self.total_latency += latency_ms;
        self.max_latency = self.max_latency.max(latency_ms);
        self.window_count += 1;
        self.window_bytes += bytes;
        self.window_total += latency_ms;
        self.window_max = self.window_max.max(latency_ms);
        if self.count % self.sampling == 0 {
            self.latencies.push(latency_ms.min(u32::MAX as u64) as u32);
        }
        if now.duration_since(self.window_start) >= REPORTING_INTERVAL {
            let line = self.window_line(now);
            self.window_start = now;
            self.window_count = 0;
            self.window_bytes = 0;
            self.window_max = 0;
            self.window_total = 0;
            return Some(line);
        }
        None
    }

    fn window_line(&self, now: Instant) -> String {
        let elapsed = now.duration_since(self.window_start).as_millis().max(1) as f64;
        let rate = 1000.0 * self.window_count as f64 / elapsed;
        let mb = 1000.0 * self.window_bytes as f64 / elapsed / (1024.0 * 1024.0);
        format!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
            self.window_count,
            rate,
            mb,
            self.window_total as f64 / self.window_count.max(1) as f64,
            self.window_max as f64
        )
    }

    fn final_line(&mut self, now: Instant) -> String {
        let elapsed = now.duration_since(self.start).as_millis().max(1) as f64;
        let rate = 1000.0 * self.count as f64 / elapsed;
        let mb = 1000.0 * self.bytes as f64 / elapsed / (1024.0 * 1024.0);
        self.latencies.sort_unstable();
        let perc = |p: f64| -> u32 {
            let i = (self.latencies.len() as f64 * p) as usize;
            self.latencies.get(i.min(self.latencies.len().saturating_sub(1))).copied().unwrap_or(0)
        };
        format!(
            "{} records sent, {:.6} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.count,
            rate,
            mb,
            self.total_latency as f64 / self.count.max(1) as f64,
            self.max_latency as f64,
            perc(0.5),
            perc(0.95),
            perc(0.99),
            perc(0.999)
        )
    }
}

fn payloads(args: &ProducerPerfTestArgs) -> anyhow::Result<Vec<Vec<u8>>> {
    if let Some(size) = args.record_size {
        // Kafka fills the payload with random upper-case letters.
        return Ok(vec![(0..size).map(|_| fastrand::u8(b'A'..=b'Z')).collect()]);
    }
    let path = args.payload_file.as_ref().expect("clap requires one payload source");
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let delimiter = args.payload_delimiter.replace("\\n", "\n").replace("\\t", "\t");
    let delimiter = delimiter.as_bytes();
    let mut out = Vec::new();
    let mut rest = text.as_slice();
    while !rest.is_empty() {
        let cut = rest.windows(delimiter.len().max(1)).position(|w| w == delimiter);
        let (item, next) = match cut {
            Some(i) => (&rest[..i], &rest[i + delimiter.len()..]),
            None => (rest, &rest[rest.len()..]),
        };
        if !item.is_empty() {
            out.push(item.to_vec());
        }
        rest = next;
    }
    if out.is_empty() {
        bail!("File is empty");
    }
    Ok(out)
}

pub fn run(args: ProducerPerfTestArgs) -> anyhow::Result<()> {
    let overrides: Vec<String> = args.producer_props.clone();
    for kv in &overrides {
        parse_key_value(kv)?;
    }
    let mut props = load_properties(args.producer_config.as_deref(), &overrides)?;
    let transaction_duration = transaction_settings(&args, &mut props)?;
    if args.bootstrap_server.is_none() && props.get("bootstrap.servers").is_none() {
        bail!("Either --bootstrap-server, or bootstrap.servers in --producer-props or --producer.config, is required");
    }
    let client = client_config(args.bootstrap_server.as_deref(), &props, "perf-producer-client")?;
    let client_id = client.client_id.clone();
    let client_id = client_id.as_str();
    let config = ProducerConfig::from_properties(&props)?;
    let payloads = payloads(&args)?;
    let rt = runtime()?;
    rt.block_on(async {
        let cluster = Cluster::connect(client).await?;
        let mut producer = Producer::new(cluster, config).await?;
        producer.track_acks();
        if transaction_duration.is_some() {
            producer.init_transactions().await?;
        }
        let mut transaction_start = Instant::now();
        let mut transaction_size = 0u64;
        let mut stats = Stats::new(args.num_records);
        let mut sent_at: Vec<Instant> = Vec::with_capacity(args.num_records as usize);
        let mut sizes: Vec<u32> = Vec::with_capacity(args.num_records as usize);
        let throttle = Throttle::new(args.throughput);
        let bar = progress_bar(args.num_records, "records");
        let mut failed = 0u64;
        for i in 0..args.num_records {
            let payload =
                &payloads[if payloads.len() == 1 { 0 } else { fastrand::usize(..payloads.len()) }];
            let send_start = Instant::now();
            if transaction_duration.is_some() && transaction_size == 0 {
                producer.begin_transaction()?;
                transaction_start = send_start;
            }
            sent_at.push(send_start);
            sizes.push(payload.len() as u32);
            let record = ProducerRecord { value: Some(payload), ..Default::default() };
            producer.send(&args.topic, record, i).await?;
            if let Some(duration) = transaction_duration {
                transaction_size += 1;
                if send_start.duration_since(transaction_start) >= duration {
                    let committed = producer.commit_transaction().await;
                    failed += account(&mut producer, &mut stats, &sent_at, &sizes);
                    committed?;
                    transaction_size = 0;
                }
            }
            // Paced, the answers are taken as they come, so that windows
            // are reported on time at any rate.
            if args.throughput > 0.0 || i % 1024 == 1023 {
                failed += account(&mut producer, &mut stats, &sent_at, &sizes);
                if let Some(b) = &bar {
                    b.set_position(stats.count);
                }
            }
            if let Some(due) = throttle.due(i + 1) {
                producer.work_until(due).await?;
            }
        }
        let flushed = if transaction_duration.is_some() && transaction_size > 0 {
            producer.commit_transaction().await
        } else {
            producer.flush().await
        };
        failed += account(&mut producer, &mut stats, &sent_at, &sizes);
        flushed?;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        let end = Instant::now();
        println!("{}", stats.final_line(end));
        if args.print_metrics {
            print!("{}", producer_metrics(&stats, failed, &sizes, end, client_id));
        }
        if failed > 0 {
            bail!("{failed} records were not delivered");
        }
        Ok(())
    })
}

/// What this run measured, under the names Kafka's producer metrics use for
/// the same quantities (per-record sizes are payload bytes).
fn producer_metrics(
    stats: &Stats,
    failed: u64,
    sizes: &[u32],
    end: Instant,
    client: &str,
) -> String {
    let secs = end.duration_since(stats.start).as_secs_f64().max(1e-9);
    let size_max = sizes.iter().copied().max().unwrap_or(0) as f64;
    let size_avg = sizes.iter().map(|&s| s as f64).sum::<f64>() / sizes.len().max(1) as f64;
    let g = "producer-metrics";
    let d = MetricValue::Double;
    metrics_table(&[
        (g, "record-send-total", client, d(stats.count as f64)),
        (g, "record-send-rate", client, d(stats.count as f64 / secs)),
        (g, "record-error-total", client, d(failed as f64)),
        (g, "record-error-rate", client, d(failed as f64 / secs)),
        (g, "record-size-avg", client, d(size_avg)),
        (g, "record-size-max", client, d(size_max)),
        ("app-info", "version", client, MetricValue::Text(env!("CARGO_PKG_VERSION").into())),
    ])
}

/// Feeds acknowledged records into the stats; reports failures.
fn account(producer: &mut Producer, stats: &mut Stats, sent_at: &[Instant], sizes: &[u32]) -> u64 {
    for (tag, at) in producer.take_acked() {
        let i = tag as usize;
        let latency = at.duration_since(sent_at[i]).as_millis() as u64;
        if let Some(line) = stats.record(latency, u64::from(sizes[i]), at) {
            println!("{line}");
        }
    }
    let failures = producer.take_failures();
    for f in &failures {
        eprintln!("Error when sending record {} to topic {}: {}", f.tag, f.topic, f.error);
    }
    failures.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_line_has_kafkas_shape() {
        let mut s = Stats::new(4);
        let t = s.start;
        for (lat, at) in [(1, 10), (2, 20), (3, 30), (10, 40)] {
            assert!(
                s.record(lat, 100, t + Duration::from_millis(at)).is_none(),
                "within the window"
            );
        }
        let line = s.final_line(t + Duration::from_millis(1000));
        assert_eq!(
            line,
            "4 records sent, 4.000000 records/sec (0.00 MB/sec), 4.00 ms avg latency, 10.00 ms max latency, 3 ms 50th, 10 ms 95th, 10 ms 99th, 10 ms 99.9th."
        );
    }

    #[test]
    fn window_closes_after_five_seconds() {
        let mut s = Stats::new(10);
        let t = s.start;
        assert!(s.record(5, 1024 * 1024, t + Duration::from_millis(100)).is_none());
        let line =
            s.record(7, 1024 * 1024, t + Duration::from_millis(5000)).expect("window closed");
        assert_eq!(line, "2 records sent, 0.4 records/sec (0.40 MB/sec), 6.0 ms avg latency, 7.0 ms max latency.");
    }
}
