//! What Apache ZooKeeper's Prometheus metrics provider serves
//! (`metricsProvider.className=...PrometheusMetricsProvider`,
//! `metricsProvider.httpPort`): each numeric `mntr` row as a gauge under
//! its name without `zk_` (`znode_count`, `watch_count`,
//! `num_alive_connections`, `outstanding_requests`, `avg_latency`, ...),
//! so both views agree, plus the standard `process_*` families.

use crate::metrics::{Exposition, Kind};

use super::processor::Processor;

/// Writes a scrape from the processor's state (called on its task; the
/// `process_*` families are read from /proc, a few small reads).
pub(super) fn render(p: &Processor, start_time_seconds: f64) -> String {
    let mut e = Exposition::new();
    for (key, value) in super::four_letter::mntr_rows(p) {
        let Some(name) = key.strip_prefix("zk_") else { continue };
        // zk_version and zk_server_state are text: Apache exports neither.
        let Ok(v) = value.parse::<f64>() else { continue };
        e.single(name, Kind::Gauge, name, v);
    }
    crate::metrics::write_process_metrics(&mut e, start_time_seconds);
    e.finish()
}
