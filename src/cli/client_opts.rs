//! What the client-side subcommands share: a tokio runtime, client configs
//! built from Kafka's flags and property files, and `k=v` parsing.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::client::ClientConfig;
use crate::config::Properties;

/// One thread is enough for a CLI tool and starts fastest.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
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
