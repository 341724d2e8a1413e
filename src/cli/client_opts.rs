//! What the client-side subcommands share: a tokio runtime, client configs
//! built from Kafka's flags and property files, `k=v` parsing, and
//! printing a whole answer to stdout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;

use crate::client::ClientConfig;
use crate::config::Properties;

/// One thread is enough for a CLI tool and starts fastest.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// How an admin tool reaches the cluster: Kafka's `--bootstrap-server` and
/// `--command-config`, declared once and flattened into each tool. A tool
/// whose Kafka script differs patches the flag where it flattens this
/// (`mut_arg`): `kafka-acls.sh` requires the server, `kafka-leader-election.sh`
/// names the file `--admin.config`.
#[derive(Debug, Clone, Args)]
pub struct AdminConnection {
    /// The server(s) to connect to (host:port[,host:port...]).
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap_server: Option<String>,
    /// Admin client properties file.
    #[arg(long, value_name = "FILE")]
    pub command_config: Option<PathBuf>,
}

impl AdminConnection {
    /// The client config of `--bootstrap-server` and `--command-config`
    /// (security settings and timeouts included).
    pub fn client_config(&self, default_client_id: &str) -> anyhow::Result<ClientConfig> {
        self.client_config_or(None, &[], default_client_id)
    }

    /// As [`Self::client_config`], with `fallback` standing in for a missing
    /// `--bootstrap-server` (`--broker-list`, or the brokers found through
    /// `--zookeeper`) and `defaults` the properties a tool wants unless the
    /// file sets them.
    pub fn client_config_or(
        &self,
        fallback: Option<&str>,
        defaults: &[(&str, &str)],
        default_client_id: &str,
    ) -> anyhow::Result<ClientConfig> {
        let mut props = load_properties(self.command_config.as_deref(), &[])?;
        for &(k, v) in defaults {
            if props.get(k).is_none() {
                props.set(k, v);
            }
        }
        client_config(self.bootstrap_server.as_deref().or(fallback), &props, default_client_id)
    }
}

/// `--bootstrap-server`'s help in the tools that also take `--zookeeper`.
pub const KAFKA_SERVER_HELP: &str = "The Kafka server to connect to (host:port[,host:port...])";

/// [`AdminConnection`] plus Kafka's older `--zookeeper`, which finds the
/// brokers registered there and goes through one of them.
#[derive(Debug, Clone, Args)]
pub struct ZkAdminConnection {
    #[command(flatten)]
    pub admin: AdminConnection,
    /// Manage topics through ZooKeeper instead of a broker (host:port).
    #[arg(long, value_name = "HOST:PORT")]
    pub zookeeper: Option<String>,
}

impl ZkAdminConnection {
    /// The bootstrap list: `--bootstrap-server` when given, else the brokers
    /// registered in `--zookeeper`.
    pub fn bootstrap(&self) -> anyhow::Result<String> {
        match (&self.admin.bootstrap_server, &self.zookeeper) {
            (Some(b), _) => Ok(b.clone()),
            (None, Some(zk)) => super::zookeeper_bootstrap::resolve(zk),
            (None, None) => bail!("Missing required argument \"[bootstrap-server]\""),
        }
    }
}

/// Properties from an optional file (`--command-config`, `--producer.config`, ...)
/// overlaid with `k=v` flags (`--producer-property`, ...), later winning.
pub fn load_properties(file: Option<&Path>, overrides: &[String]) -> anyhow::Result<Properties> {
    let mut props = match file {
        Some(p) => Properties::load(p)?,
        None => Properties::new(),
    };
    for kv in overrides {
        let (k, v) = parse_key_value(kv)?;
        props.set(k, v);
    }
    Ok(props)
}

/// `key=value`, as Kafka's `--config` / `--property` take them.
pub fn parse_key_value(kv: &str) -> anyhow::Result<(String, String)> {
    match kv.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => bail!("Invalid property: {kv:?} (expected key=value)"),
    }
}

/// A client config from `--bootstrap-server` (or `bootstrap.servers` in the
/// properties) and the timeouts Kafka's clients read.
pub fn client_config(
    bootstrap: Option<&str>,
    props: &Properties,
    default_client_id: &str,
) -> anyhow::Result<ClientConfig> {
    let servers = match bootstrap.or(props.get("bootstrap.servers")) {
        Some(s) => s.to_string(),
        None => bail!("Missing required argument \"[bootstrap-server]\""),
    };
    let client_id = props.get("client.id").unwrap_or(default_client_id);
    let mut config = ClientConfig::new(&servers, client_id)?;
    let timeout_ms: u64 = props.parse_or("request.timeout.ms", 30_000)?;
    config.request_timeout = Duration::from_millis(timeout_ms.max(1));
    config.security = crate::security::ClientSecurity::from_client_properties(|k| props.get(k))?;
    Ok(config)
}

/// Writes all of `out` at once; a closed stdout surfaces as BrokenPipe,
/// which main turns into a quiet exit.
pub fn print_out(out: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes())?;
    stdout.flush()?;
    Ok(())
}
