//! `kafka-rs top`: a live terminal view of a cluster (brokers, topics,
//! partitions, consumer groups and their lag), or one snapshot as text or
//! JSON with `--once` and whenever stdout is not a terminal.
//!
//! `snapshot` gathers through the admin client, `render` turns a snapshot
//! into tables, `tui` draws them and reads keys.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};

use super::client_opts::{client_config, load_properties, runtime};

mod render;
mod snapshot;
mod tui;

#[derive(Debug, Args)]
pub struct TopArgs {
    /// The Kafka server to connect to (host:port[,host:port...]).
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap_server: Option<String>,
    /// Find the brokers through ZooKeeper (host:port[/chroot]).
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "bootstrap_server")]
    pub zookeeper: Option<String>,
    /// Admin client properties file.
    #[arg(long, value_name = "FILE")]
    pub command_config: Option<PathBuf>,
    /// Seconds between refreshes; rates are measured over this interval.
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = parse_interval)]
    pub interval: Duration,
    /// Print one snapshot and exit (taking two samples one interval apart,
    /// so rates are filled in). The default when stdout is not a terminal.
    #[arg(long)]
    pub once: bool,
    /// Format of the snapshot printed by --once.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(secs) if (0.1..=3600.0).contains(&secs) => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!("{s:?} is not a number of seconds between 0.1 and 3600")),
    }
}

pub fn run(args: TopArgs) -> anyhow::Result<()> {
    let bootstrap = match (&args.zookeeper, &args.bootstrap_server) {
        (Some(zk), _) => super::zookeeper_bootstrap::resolve(zk)?,
        (None, Some(b)) => b.clone(),
        (None, None) => bail!("Missing required argument \"[bootstrap-server]\""),
    };
    let mut props = load_properties(args.command_config.as_deref(), &[])?;
    // A dead broker should show up within a few refreshes, not after
    // the clients' 30 s default.
    if props.get("request.timeout.ms").is_none() {
        props.set("request.timeout.ms", "5000");
    }
    let config = client_config(Some(&bootstrap), &props, "kafka-rs-top")?;
    let group_timeout = config.request_timeout;
    let collector = snapshot::Collector::new(config, group_timeout);
    if args.once || args.output == Output::Json || !std::io::stdout().is_terminal() {
        return once(collector, args.interval, args.output);
    }
    tui::run(collector, args.interval, bootstrap)
}

fn once(
    mut collector: snapshot::Collector,
    interval: Duration,
    output: Output,
) -> anyhow::Result<()> {
    let rt = runtime()?;
    let snap = rt.block_on(async {
        let first = collector.collect().await;
        if !first.reachable {
            return first;
        }
        tokio::time::sleep(interval).await;
        collector.collect().await
    });
    if !snap.reachable {
        bail!("{}", snap.errors.join("; "));
    }
    let mut stdout = std::io::stdout().lock();
    match output {
        Output::Text => stdout.write_all(render::plain(&snap).as_bytes()),
        Output::Json => {
            let mut s =
                serde_json::to_string_pretty(&snap).context("cannot encode the snapshot")?;
            s.push('\n');
            stdout.write_all(s.as_bytes())
        }
    }
    .context("cannot write to stdout")?;
    stdout.flush().context("cannot write to stdout")
}
