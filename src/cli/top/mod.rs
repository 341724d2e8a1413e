//! `kafka-rs top`: a live terminal view of a cluster (brokers, topics,
//! partitions, consumer groups and their lag), or one snapshot as text or
//! JSON with `--once` and whenever stdout is not a terminal.
//!
//! `snapshot` gathers through the admin client, `render` turns a snapshot
//! into tables, `tui` draws them and reads keys.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};

use super::client_opts::{runtime, ZkAdminConnection, KAFKA_SERVER_HELP};

mod render;
mod snapshot;
mod tui;

#[derive(Debug, Args)]
#[command(mut_arg("bootstrap_server", |a| a.help(KAFKA_SERVER_HELP)))]
#[command(mut_arg("zookeeper", |a| a
    .help("Find the brokers through ZooKeeper (host:port[/chroot])")
    .conflicts_with("bootstrap_server")))]
pub struct TopArgs {
    #[command(flatten)]
    pub connection: ZkAdminConnection,
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
    let bootstrap = args.connection.bootstrap()?;
    // A dead broker should show up within a few refreshes, not after
    // the clients' 30 s default.
    let config = args.connection.admin.client_config_or(
        Some(&bootstrap),
        &[("request.timeout.ms", "5000")],
        "kafka-rs-top",
    )?;
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
