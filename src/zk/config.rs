//! The server's settings, read from a `zoo.cfg` / `zookeeper.properties`
//! file with ZooKeeper's key names and defaults.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::config::Properties;

/// ZooKeeper's four-letter words that this server answers.
pub const FOUR_LETTER_WORDS: &[&str] =
    &["conf", "cons", "envi", "isro", "mntr", "ruok", "srvr", "stat"];

#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub data_log_dir: PathBuf,
    pub client_port: u16,
    pub client_port_address: Option<String>,
    pub tick_time: u32,
    pub min_session_timeout: i32,
    pub max_session_timeout: i32,
    /// Connections per client IP; 0 = unlimited.
    pub max_client_cnxns: usize,
    /// Largest packet accepted (`jute.maxbuffer`).
    pub jute_max_buffer: usize,
    pub four_letter_whitelist: BTreeSet<String>,
    /// Transactions between snapshots.
    pub snap_count: u64,
    /// `autopurge.snapRetainCount`: snapshots kept by every purge (at least 3).
    pub snap_retain_count: usize,
    /// `autopurge.purgeInterval`: hours between purges besides the one
    /// after each snapshot; 0 = none.
    pub purge_interval_hours: u64,
    pub container_check_interval_ms: u64,
    /// TTL nodes (`zookeeper.extendedTypesEnabled`).
    pub extended_types: bool,
    /// Expire the sessions found on disk at start instead of waiting for
    /// their clients to reconnect. Right for a server embedded in a broker:
    /// its sessions belonged to the process that just died with it.
    pub expire_recovered_sessions: bool,
    /// Where `GET /metrics` serves Prometheus's text format: set when
    /// `metricsProvider.className` names ZooKeeper's Prometheus provider,
    /// from `metricsProvider.httpHost` (0.0.0.0) and `metricsProvider.httpPort` (7000).
    pub metrics_listener: Option<(String, u16)>,
    /// Once serving, unmap the binary's pages that only start-up used (a
    /// standalone server; an embedded one shares the broker's process).
    pub release_startup_pages: bool,
}

/// The `metricsProvider.className` that turns the `/metrics` endpoint on.
pub const PROMETHEUS_PROVIDER: &str =
    "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";

impl Config {
    /// The defaults of a zoo.cfg that sets only dataDir.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_log_dir: data_dir.clone(),
            data_dir,
            client_port: 2181,
            client_port_address: None,
            tick_time: 3000,
            min_session_timeout: 6000,
            max_session_timeout: 60000,
            max_client_cnxns: 60,
            jute_max_buffer: 0xfffff,
            four_letter_whitelist: ["srvr".to_string()].into(),
            snap_count: 100_000,
            snap_retain_count: 3,
            purge_interval_hours: 0,
            container_check_interval_ms: 60_000,
            extended_types: false,
            expire_recovered_sessions: false,
            metrics_listener: None,
            release_startup_pages: false,
        }
    }

    pub fn from_properties(p: &Properties) -> Result<Self, crate::config::Error> {
        let data_dir = PathBuf::from(p.get("dataDir").unwrap_or("/tmp/zookeeper"));
        let mut c = Self::new(data_dir.clone());
        c.data_log_dir = p.get("dataLogDir").map(PathBuf::from).unwrap_or(data_dir);
        c.client_port = p.parse_or("clientPort", 2181)?;
        c.client_port_address = p.get("clientPortAddress").map(str::to_string);
        c.tick_time = p.parse_or("tickTime", 3000u32)?.max(1);
        let tick = c.tick_time as i32;
        // ZooKeeper treats -1 (and absence) as "derive from tickTime".
        c.min_session_timeout = match p.parse_or("minSessionTimeout", -1i32)? {
            -1 => tick.saturating_mul(2),
            v => v,
        };
        c.max_session_timeout = match p.parse_or("maxSessionTimeout", -1i32)? {
            -1 => tick.saturating_mul(20),
            v => v,
        };
        if c.min_session_timeout > c.max_session_timeout {
            return Err(crate::config::Error::InvalidValue {
                key: "minSessionTimeout".into(),
                value: c.min_session_timeout.to_string(),
                reason: "must not be larger than maxSessionTimeout".into(),
            });
        }
        c.max_client_cnxns = p.parse_or("maxClientCnxns", 60usize)?;
        c.jute_max_buffer = p.parse_or("jute.maxbuffer", 0xfffffusize)?;
        if let Some(list) = p.get("4lw.commands.whitelist") {
            c.four_letter_whitelist = list
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .flat_map(|s| {
                    if s == "*" {
                        FOUR_LETTER_WORDS.iter().map(|w| w.to_string()).collect()
                    } else {
                        vec![s]
                    }
                })
                .collect();
        }
        c.snap_count = p.parse_or("snapCount", 100_000u64)?.max(2);
        c.snap_retain_count = p.parse_or("autopurge.snapRetainCount", 3usize)?.max(3);
        // ZooKeeper reads a negative interval as "off", like 0.
        c.purge_interval_hours = p.parse_or("autopurge.purgeInterval", 0i64)?.max(0) as u64;
        c.container_check_interval_ms =
            p.parse_or("znode.container.checkIntervalMs", 60_000u64)?.max(1);
        c.extended_types = p.bool_or("zookeeper.extendedTypesEnabled", false)?;
        if p.get("metricsProvider.className").map(str::trim) == Some(PROMETHEUS_PROVIDER) {
            let host = p.get("metricsProvider.httpHost").unwrap_or("0.0.0.0").trim().to_string();
            c.metrics_listener = Some((host, p.parse_or("metricsProvider.httpPort", 7000u16)?));
        }
        Ok(c)
    }

    /// `minSessionTimeout <= t <= maxSessionTimeout`, as the server negotiates.
    pub fn negotiate_timeout(&self, requested: i32) -> i32 {
        requested.clamp(self.min_session_timeout, self.max_session_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_tick_time() {
        let c = Config::from_properties(&Properties::parse("dataDir=/d\ntickTime=200\n")).unwrap();
        assert_eq!((c.min_session_timeout, c.max_session_timeout), (400, 4000), "2x and 20x tick");
        assert_eq!(c.data_log_dir, PathBuf::from("/d"), "dataLogDir defaults to dataDir");
        assert_eq!(c.jute_max_buffer, 0xfffff);
        assert_eq!(
            c.four_letter_whitelist.iter().collect::<Vec<_>>(),
            vec!["srvr"],
            "ZooKeeper's default"
        );
        assert_eq!(c.negotiate_timeout(10), 400);
        assert_eq!(c.negotiate_timeout(1_000_000), 4000);
    }

    #[test]
    fn autopurge_as_zookeeper_reads_it() {
        let c = Config::from_properties(&Properties::parse("dataDir=/d\n")).unwrap();
        assert_eq!((c.snap_retain_count, c.purge_interval_hours), (3, 0), "defaults");
        let p = "autopurge.snapRetainCount=1\nautopurge.purgeInterval=-2\n";
        let c = Config::from_properties(&Properties::parse(p)).unwrap();
        assert_eq!((c.snap_retain_count, c.purge_interval_hours), (3, 0), "3 at least, <0 is off");
        let p = "autopurge.snapRetainCount=5\nautopurge.purgeInterval=24\n";
        let c = Config::from_properties(&Properties::parse(p)).unwrap();
        assert_eq!((c.snap_retain_count, c.purge_interval_hours), (5, 24));
    }

    #[test]
    fn whitelist_star_means_all() {
        let c = Config::from_properties(&Properties::parse("4lw.commands.whitelist=*\n")).unwrap();
        assert_eq!(c.four_letter_whitelist.len(), FOUR_LETTER_WORDS.len());
        let c = Config::from_properties(&Properties::parse("4lw.commands.whitelist=ruok, stat\n"))
            .unwrap();
        assert!(c.four_letter_whitelist.contains("stat"));
        assert!(!c.four_letter_whitelist.contains("srvr"));
    }

    #[test]
    fn the_prometheus_provider_serves_where_apache_would() {
        let off = Config::from_properties(&Properties::parse("dataDir=/d\n")).unwrap();
        assert_eq!(off.metrics_listener, None, "off unless the provider is named");
        let on = format!("dataDir=/d\nmetricsProvider.className={PROMETHEUS_PROVIDER}\n");
        let c = Config::from_properties(&Properties::parse(&on)).unwrap();
        assert_eq!(c.metrics_listener, Some(("0.0.0.0".into(), 7000)), "Apache's default port");
        let at = format!("{on}metricsProvider.httpPort=7071\nmetricsProvider.httpHost=127.0.0.1\n");
        let c = Config::from_properties(&Properties::parse(&at)).unwrap();
        assert_eq!(c.metrics_listener, Some(("127.0.0.1".into(), 7071)));
    }
}
