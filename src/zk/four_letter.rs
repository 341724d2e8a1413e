//! Four-letter words (`ruok`, `srvr`, `stat`, `mntr`, `conf`, `envi`,
//! `isro`, `cons`): ZooKeeper's plain-text admin commands, answered from the
//! processor's state in ZooKeeper's formats.

use std::fmt::Write;

use super::config::FOUR_LETTER_WORDS;
use super::processor::Processor;

/// The version string clients parse (kazoo reads `envi` for it).
pub const VERSION: &str = "3.8.0-kafka-rs-0.1.0, built on 1970-01-01 00:00 UTC";

/// Whether four bytes at the start of a connection are a four-letter word.
pub fn is_word(bytes: &[u8]) -> Option<&'static str> {
    FOUR_LETTER_WORDS.iter().copied().find(|w| w.as_bytes() == bytes)
}

pub fn answer(p: &Processor, word: &str) -> String {
    if !p.cfg.four_letter_whitelist.contains(word) {
        return format!("{word} is not executed because it is not in the whitelist.\n");
    }
    match word {
        "ruok" => "imok".to_string(),
        "isro" if p.log_error.is_some() => "ro".to_string(),
        "isro" => "rw".to_string(),
        "srvr" => server_stats(p, false),
        "stat" => server_stats(p, true),
        "cons" => {
            let mut s = connections(p);
            s.push('\n');
            s
        }
        "conf" => conf(p),
        "envi" => envi(),
        "mntr" => mntr(p),
        _ => String::new(),
    }
}

fn latency(p: &Processor) -> (f64, f64, f64) {
    let l = &p.latency;
    let avg = if l.count == 0 { 0.0 } else { l.total_us as f64 / l.count as f64 / 1000.0 };
    (l.min_us as f64 / 1000.0, avg, l.max_us as f64 / 1000.0)
}

fn server_stats(p: &Processor, clients: bool) -> String {
    let mut s = format!("Zookeeper version: {VERSION}\n");
    if clients {
        s.push_str("Clients:\n");
        s.push_str(&connections(p));
        s.push('\n');
    }
    let (min, avg, max) = latency(p);
    let _ = write!(
        s,
        "Latency min/avg/max: {min}/{avg:.4}/{max}\nReceived: {}\nSent: {}\nConnections: {}\n\
         Outstanding: {}\nZxid: {:#x}\nMode: standalone\nNode count: {}\n",
        p.packets_received,
        p.packets_sent,
        p.conns.len(),
        p.outstanding(),
        p.tree.last_zxid,
        node_count(p)
    );
    s
}

/// ZooKeeper's node count includes its root twice (under "" and "/").
fn node_count(p: &Processor) -> usize {
    p.tree.node_count() + 1
}

fn connections(p: &Processor) -> String {
    let mut ids: Vec<_> = p.conns.keys().copied().collect();
    ids.sort_unstable();
    let mut s = String::new();
    for id in ids {
        let c = &p.conns[&id];
        let sid = c.session.unwrap_or(0);
        let to = c.session.and_then(|i| p.sessions.get(i)).map_or(0, |x| x.timeout_ms);
        let _ = writeln!(
            s,
            " /{}[1](queued=0,recved={},sent={},sid={sid:#x},lop={},est={},to={to},lcxid={:#x},lzxid={:#x})",
            c.addr, c.received, c.sent, c.last_op, c.established, c.last_xid, p.tree.last_zxid
        );
    }
    s
}

fn conf(p: &Processor) -> String {
    let c = &p.cfg;
    format!(
        "clientPort={}\nsecureClientPort=-1\ndataDir={}\ndataDirSize={}\ndataLogDir={}\ndataLogSize={}\n\
         tickTime={}\nmaxClientCnxns={}\nminSessionTimeout={}\nmaxSessionTimeout={}\n\
         clientPortListenBacklog=-1\nserverId=0\n",
        c.client_port,
        c.data_dir.display(),
        dir_size(&c.data_dir),
        c.data_log_dir.display(),
        dir_size(&c.data_log_dir),
        c.tick_time,
        c.max_client_cnxns,
        c.min_session_timeout,
        c.max_session_timeout
    )
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

fn envi() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let cwd = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
    format!(
        "Environment:\nzookeeper.version={VERSION}\nhost.name={}\nos.name={}\nos.arch={}\n\
         user.dir={cwd}\n",
        host.trim(),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

fn mntr(p: &Processor) -> String {
    let mut s = String::new();
    for (k, v) in mntr_rows(p) {
        let _ = writeln!(s, "{k}\t{v}");
    }
    s
}

/// `mntr`'s keys and values, in ZooKeeper's order; the Prometheus endpoint
/// publishes the numeric ones under the same names without `zk_`.
pub(super) fn mntr_rows(p: &Processor) -> Vec<(&'static str, String)> {
    let (min, avg, max) = latency(p);
    let fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0);
    let max_fds =
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(0);
    let rows: Vec<(&str, String)> = vec![
        ("zk_version", VERSION.to_string()),
        ("zk_server_state", "standalone".into()),
        ("zk_avg_latency", format!("{avg:.4}")),
        ("zk_max_latency", max.to_string()),
        ("zk_min_latency", min.to_string()),
        ("zk_packets_received", p.packets_received.to_string()),
        ("zk_packets_sent", p.packets_sent.to_string()),
        ("zk_num_alive_connections", p.conns.len().to_string()),
        ("zk_outstanding_requests", p.outstanding().to_string()),
        ("zk_znode_count", node_count(p).to_string()),
        ("zk_watch_count", p.watches.count().to_string()),
        ("zk_ephemerals_count", p.tree.ephemeral_count().to_string()),
        ("zk_approximate_data_size", p.tree.approximate_data_size().to_string()),
        ("zk_open_file_descriptor_count", fds.to_string()),
        ("zk_max_file_descriptor_count", max_fds.to_string()),
        ("zk_global_sessions", p.sessions.len().to_string()),
        ("zk_uptime", p.started.elapsed().as_millis().to_string()),
    ];
    rows
}
