//! `kafka-rs server-start [server.properties] [--override key=value]...`,
//! Kafka's kafka-server-start.sh: read the config, bind the listener, run
//! the broker until SIGINT or SIGTERM.

use std::path::PathBuf;

use anyhow::Context;

use crate::broker::{self, KafkaConfig};
use crate::config::Properties;

#[derive(Debug, clap::Args)]
pub struct ServerStartArgs {
    /// A Kafka server.properties file; without one, a single-node cluster:
    /// Kafka's defaults (listener 127.0.0.1:9092, log dir /tmp/kafka-logs)
    /// with the quickstart file's single-node settings (internal topics
    /// with one replica, no initial rebalance delay).
    pub config: Option<PathBuf>,
    /// Set a property, overriding the file (repeatable).
    #[arg(long = "override", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// What Kafka's quickstart config/server.properties sets for one broker.
/// Kafka's code defaults (three replicas for `__consumer_offsets`) would
/// leave a lone broker without a group coordinator for good.
fn single_node_defaults() -> Properties {
    let mut p = Properties::new();
    for (k, v) in [
        ("offsets.topic.replication.factor", "1"),
        ("transaction.state.log.replication.factor", "1"),
        ("transaction.state.log.min.isr", "1"),
        ("group.initial.rebalance.delay.ms", "0"),
    ] {
        p.set(k, v);
    }
    p
}

pub fn run(args: ServerStartArgs) -> anyhow::Result<()> {
    let mut props = match &args.config {
        Some(path) => Properties::load(path)?,
        None => single_node_defaults(),
    };
    for o in &args.overrides {
        props.apply_override(o)?;
    }
    let config = KafkaConfig::from_properties(&props)?;
    // Dropped last: the lines of a failed start are written before `main`
    // prints its error.
    let _log = init_logging();
    for key in &config.unknown_keys {
        tracing::warn!("The configuration '{key}' was supplied but isn't a known config.");
    }
    for (key, why) in &config.ignored_keys {
        tracing::warn!("The configuration '{key}' was supplied but has no effect here: {why}.");
    }
    broker::server::check_log_dirs(&config.log_dirs)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kafka-rs-broker")
        .build()?;
    runtime.block_on(async move {
        let mut bound = Vec::new();
        for l in &config.listeners.listeners {
            let addr = l.endpoint.bind_addr();
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .with_context(|| format!("Socket server failed to bind to {addr}"))?;
            bound.push(listener);
        }
        if let Err(e) = broker::run(bound, config, shutdown_signal()).await {
            tracing::error!("broker failed: {e}");
            return Err(e.into());
        }
        Ok(())
    })
}

/// Resolves on the first SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) =
        (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        tracing::warn!("cannot install signal handlers; stop the broker with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

/// Logs to stderr and to `$LOG_DIR/server.log` (default `./logs`), like
/// Kafka's log4j setup, both written by one thread of their own
/// ([`super::log_writer`]). `RUST_LOG` filters, default `info`.
fn init_logging() -> super::log_writer::Flush {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{fmt, EnvFilter, Layer};

    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let log_dir =
        std::env::var_os("LOG_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("logs"));
    let file = std::fs::create_dir_all(&log_dir).and_then(|_| {
        std::fs::OpenOptions::new().create(true).append(true).open(log_dir.join("server.log"))
    });
    let (file, file_error) = match file {
        Ok(f) => (Some(f), None),
        Err(e) => (None, Some(e)),
    };
    let (to_stderr, to_file, flush) = super::log_writer::start(file);
    let stderr_layer = fmt::layer()
        .with_writer(to_stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .with_filter(filter());
    let file_layer = to_file.map(|w| {
        fmt::layer().with_writer(w).with_ansi(false).with_target(false).with_filter(filter())
    });
    let _ = tracing_subscriber::registry().with(stderr_layer).with(file_layer).try_init();
    if let Some(e) = file_error {
        tracing::warn!(
            "cannot write {}: {e}; logging to stderr only",
            log_dir.join("server.log").display()
        );
    }
    flush
}
