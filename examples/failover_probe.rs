//! The acks probe of scripts/bench-failover.sh through this crate's own
//! producer, so a failover figure is not one client's artefact:
//!
//!   failover_probe BOOTSTRAP TOPIC OUT STOP [key=value ...]
//!
//! Produces one record at a time to partition 0 with acks=all and waits for
//! its ack (`flush`) before the next, with the producer's Java-client
//! defaults (retries unbounded, retry.backoff.ms 100) plus the given
//! properties, and appends "<sent> <done> ok|<error>" (epoch seconds) per
//! record to OUT until the file STOP exists; the format of
//! scripts/failover_probe.py's `acks`.

use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use kafka_rs::client::producer::{Producer, ProducerConfig, ProducerRecord};
use kafka_rs::client::{ClientConfig, Cluster};
use kafka_rs::config::Properties;

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bootstrap, topic, out, stop, extra @ ..] = args.as_slice() else {
        anyhow::bail!("usage: failover_probe BOOTSTRAP TOPIC OUT STOP [key=value ...]");
    };
    let mut props = Properties::new();
    props.set("acks", "all");
    props.set("linger.ms", "0");
    for kv in extra {
        let (k, v) = kv.split_once('=').ok_or_else(|| anyhow::anyhow!("not key=value: {kv}"))?;
        props.set(k, v);
    }
    let config = ProducerConfig::from_properties(&props)?;
    let client = ClientConfig::new(bootstrap, "failover-probe")?;
    let mut out = std::fs::File::create(out)?;
    let stop = Path::new(stop);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let cluster = Cluster::connect(client).await?;
        let mut producer = Producer::new(cluster, config).await?;
        let mut n: u64 = 0;
        while !stop.exists() {
            let value = format!("probe {n}");
            let record = ProducerRecord {
                value: Some(value.as_bytes()),
                partition: Some(0),
                ..Default::default()
            };
            let sent = now();
            producer.send(topic, record, n).await?;
            producer.flush().await?;
            let done = now();
            let outcome = match producer.take_failures().pop() {
                None => "ok".to_string(),
                Some(f) => f.error.to_string().replace(' ', "_"),
            };
            writeln!(out, "{sent:.6} {done:.6} {outcome}")?;
            n += 1;
        }
        anyhow::Ok(())
    })
}
