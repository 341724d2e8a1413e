//! A ZooKeeper-wire-compatible server (standalone mode): Apache ZooKeeper's
//! clients (the Java client and zkCli.sh, kazoo, the `zookeeper-client`
//! crate) use it unchanged. It knows nothing of Kafka.
//!
//! - `proto`: jute records and opcodes (no I/O)
//! - `data_tree`, `session`, `watch`, `acl`, `path`: the state and its rules
//! - `processor` + `ops`: prep → sync → final, the one owner of that state
//! - `txn_log`, `snapshot`: durability; `server`: sockets; `four_letter`
//!
//! [`run`] takes a bound listener and a shutdown future, so tests bind port
//! 0 and the broker can embed the server in-process.

mod acl;
mod config;
mod data_tree;
mod error;
mod four_letter;
mod metrics;
mod ops;
mod path;
mod processor;
pub mod proto;
mod rollback;
mod server;
mod session;
mod snapshot;
mod txn;
mod txn_log;
mod watch;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

pub use config::Config;
pub use error::Error;
pub use four_letter::VERSION;

use data_tree::DataTree;
use processor::{Event, Processor, SyncCmd};
use session::SessionTracker;
use txn::Txn;
use txn_log::TxnLog;

/// Where our files live inside dataDir/dataLogDir. Not ZooKeeper's
/// `version-2`: the formats differ, and neither should read the other's.
const SUBDIR: &str = "kafka-rs-1";

async fn bind_metrics(host: &str, port: u16) -> Result<TcpListener, Error> {
    let listener = TcpListener::bind((host, port))
        .await
        .map_err(|e| Error::io(format!("metricsProvider.httpPort {host}:{port}"), e))?;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("serving Prometheus metrics on http://{addr}/metrics");
    }
    Ok(listener)
}

/// Serves `/metrics`, each scrape answered by the processor between two
/// events. Holds the processor's queue weakly, so it never keeps it open.
async fn serve_metrics(listener: TcpListener, events: mpsc::WeakUnboundedSender<Event>) {
    let start_time_seconds = crate::metrics::now_seconds();
    crate::metrics::serve(listener, move || {
        let events = events.upgrade();
        async move {
            let (reply, answer) = oneshot::channel();
            let Some(events) = events else { return String::new() };
            if events.send(Event::Metrics { start_time_seconds, reply }).is_err() {
                return String::new();
            }
            answer.await.unwrap_or_default()
        }
    })
    .await
}

/// Serves ZooKeeper clients on `listener` until `shutdown` completes, then
/// stops cleanly: everything acknowledged is already on disk.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let mut cfg = config;
    cfg.data_dir = cfg.data_dir.join(SUBDIR);
    cfg.data_log_dir = cfg.data_log_dir.join(SUBDIR);
    for d in [&cfg.data_dir, &cfg.data_log_dir] {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    let _lock = lock_dir(&cfg.data_dir)?;
    let cfg = Arc::new(cfg);
    let clock: Arc<dyn crate::time::Clock> = Arc::new(crate::time::SystemClock);
    let (tree, sessions, startup_snapshot, log) = {
        let cfg = cfg.clone();
        let now = clock.now_ms();
        tokio::task::spawn_blocking(move || {
            let r = recover(&cfg, now, None)?;
            // As ZooKeeper does after loading its data: the next start then
            // begins from here instead of replaying this log again.
            let bytes = r.needs_snapshot().then(|| snapshot::serialize(&r.tree, &r.sessions));
            let log = TxnLog::create(&cfg.data_log_dir, r.tree.last_zxid + 1)?;
            Ok::<_, Error>((r.tree, r.sessions, bytes, log))
        })
        .await
        .map_err(|source| Error::TaskFailed { task: "log recovery", source })??
    };
    tracing::info!(
        zxid = format!("{:#x}", tree.last_zxid),
        nodes = tree.node_count(),
        sessions = sessions.len(),
        addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        "ZooKeeper server ready"
    );
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let (sync_tx, sync_rx) = std::sync::mpsc::channel();
    let startup_snapshot =
        startup_snapshot.map(|bytes| snapshot::write_in_background(&cfg, tree.last_zxid, bytes));
    let sync_thread = {
        let ev_tx = ev_tx.clone();
        std::thread::Builder::new()
            .name("zk-sync".into())
            .spawn(move || sync_loop(log, sync_rx, ev_tx))
            .map_err(|e| Error::io(&cfg.data_log_dir, e))?
    };
    let processor = Processor::new(cfg.clone(), tree, sessions, sync_tx, clock);
    let mut proc_task = tokio::spawn(processor.run(ev_rx));
    let ticker = {
        let ev_tx = ev_tx.clone();
        // Expiry is checked well within a tick: a dead broker's session
        // ends this close to zookeeper.session.timeout.ms, and failover
        // starts there (ZooKeeper's tick buckets may add a whole tick).
        // Every 20 ms rather than 100: the failover goal leaves the
        // client about a second after the session timeout, and a check is
        // a scan of the session deadlines, nothing more.
        let every = Duration::from_millis((cfg.tick_time as u64 / 2).clamp(5, 20));
        tokio::spawn(async move {
            let mut iv = tokio::time::interval(every);
            loop {
                iv.tick().await;
                if ev_tx.send(Event::Tick).is_err() {
                    return;
                }
            }
        })
    };
    let purger = (cfg.purge_interval_hours > 0).then(|| tokio::spawn(purge_every(cfg.clone())));
    let metrics = match &cfg.metrics_listener {
        Some((host, port)) => {
            Some(tokio::spawn(serve_metrics(bind_metrics(host, *port).await?, ev_tx.downgrade())))
        }
        None => None,
    };
    if cfg.release_startup_pages {
        // Recovery is over and every task is running.
        tokio::task::spawn_blocking(crate::resident::release_startup_pages);
    }
    let mut conns = JoinSet::new();
    let result = tokio::select! {
        _ = server::accept_loop(listener, cfg.clone(), ev_tx.clone(), &mut conns) => Ok(()),
        _ = shutdown => Ok(()),
        r = &mut proc_task => r.map_err(|source| Error::TaskFailed { task: "request processor", source }).and_then(|r| r),
    };
    ticker.abort();
    if let Some(p) = purger {
        p.abort();
    }
    if let Some(m) = metrics {
        m.abort();
    }
    conns.abort_all();
    // A clean stop hands back a snapshot of the final state, so the next
    // start has no log to replay and no snapshot to write.
    let (reply, final_state) = oneshot::channel();
    let stop_snapshot = if !proc_task.is_finished() && ev_tx.send(Event::Stop { reply }).is_ok() {
        final_state.await.ok().flatten()
    } else {
        None
    };
    proc_task.abort();
    drop(ev_tx);
    // The sync thread ends when the processor's sender is gone; whatever it
    // was given is written and fsync'ed first.
    let durable = tokio::task::spawn_blocking(move || sync_thread.join()).await;
    // A stop right after a start still leaves the start-up snapshot behind.
    if let Some(t) = startup_snapshot {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
    if let (Some((zxid, bytes)), Ok(Ok(durable))) = (stop_snapshot, durable) {
        if zxid <= durable {
            let cfg = cfg.clone();
            let written = tokio::task::spawn_blocking(move || {
                snapshot::write(
                    &cfg.data_dir,
                    &cfg.data_log_dir,
                    zxid,
                    &bytes,
                    cfg.snap_retain_count,
                )
            })
            .await;
            if let Ok(Err(e)) = written {
                tracing::warn!(error = %e, "no snapshot at stop; the transaction log has everything");
            }
        }
    }
    tracing::info!("ZooKeeper server stopped");
    result
}

/// `autopurge.purgeInterval`: ZooKeeper's `DatadirCleanupManager`, which
/// keeps `autopurge.snapRetainCount` snapshots and the logs they need.
async fn purge_every(cfg: Arc<Config>) {
    let every = Duration::from_secs(cfg.purge_interval_hours.saturating_mul(3600));
    let mut iv = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        iv.tick().await;
        let cfg = cfg.clone();
        let r = tokio::task::spawn_blocking(move || {
            snapshot::purge(&cfg.data_dir, &cfg.data_log_dir, cfg.snap_retain_count)
        })
        .await;
        if let Ok(Err(e)) = r {
            tracing::warn!(error = %e, "purging old snapshots and logs failed");
        }
    }
}

/// The state found on disk.
pub(crate) struct Recovered {
    pub(crate) tree: DataTree,
    pub(crate) sessions: SessionTracker,
    /// The zxid of the snapshot it started from, if any.
    snapshot_zxid: Option<i64>,
}

impl Recovered {
    /// Whether the state is anywhere but in one snapshot file. An empty
    /// tree at zxid 0 is what a start with no files rebuilds anyway: a
    /// fresh server writes no snapshot of it, and its first session does
    /// not wait behind that snapshot's two fsyncs.
    fn needs_snapshot(&self) -> bool {
        self.snapshot_zxid.unwrap_or(0) != self.tree.last_zxid
    }
}

/// The readers of the server's files, reachable only from the fuzz targets
/// in fuzz/ (built with `--cfg fuzzing`), so the public API stays as it is.
#[cfg(fuzzing)]
pub mod fuzzing {
    /// The start-up path: the newest snapshot that reads back, then the
    /// transaction log after it (truncating a torn tail), into a tree.
    pub fn recover(cfg: &super::Config) -> Result<(), super::Error> {
        super::recover(cfg, 0, None).map(drop)
    }

    /// A snapshot file's reader alone, without the file system around it.
    pub fn deserialize_snapshot(bytes: &[u8]) -> Result<(), super::proto::DecodeError> {
        super::snapshot::deserialize(bytes).map(drop)
    }
}

/// Rebuilds the tree and the sessions: the newest good snapshot, then the
/// log. At start `upto` is `None`; a running server whose log failed passes
/// the last durable zxid to get back the state it had then.
fn recover(cfg: &Config, now_ms: i64, upto: Option<i64>) -> Result<Recovered, Error> {
    if upto.is_none() {
        // Only at start: a running server may be writing one right now.
        snapshot::remove_partial(&cfg.data_dir);
        snapshot::remove_partial(&cfg.data_log_dir);
    }
    let mut sessions = SessionTracker::new(now_ms);
    let (mut tree, snapshot_zxid) = match snapshot::load_latest(&cfg.data_dir)? {
        Some((path, tree, saved)) => {
            tracing::info!(snapshot = %path.display(), "loaded snapshot");
            for (id, timeout, pw) in saved {
                sessions.add(id, timeout, pw, now_ms);
            }
            let zxid = tree.last_zxid;
            (tree, Some(zxid))
        }
        None => (DataTree::new(), None),
    };
    let after = tree.last_zxid;
    let mut changes = Vec::new();
    txn_log::replay(&cfg.data_log_dir, after, upto, |hdr, txn| {
        match &txn {
            Txn::CreateSession { timeout, password } => {
                sessions.add(hdr.session, *timeout, *password, now_ms)
            }
            Txn::CloseSession => {
                sessions.remove(hdr.session);
            }
            _ => {}
        }
        changes.clear();
        tree.apply(&hdr, &txn, &mut changes, None)?;
        Ok(())
    })?;
    if cfg.expire_recovered_sessions && upto.is_none() {
        sessions.expire_all_at(now_ms);
    }
    Ok(Recovered { tree, sessions, snapshot_zxid })
}

/// How often a failed log checks whether the disk takes writes again.
const PROBE_INTERVAL: Duration = Duration::from_millis(500);

/// The log thread: write what arrived, fsync once for all of it, report.
/// Returns the last durable zxid once the processor is gone.
fn sync_loop(
    mut log: TxnLog,
    rx: std::sync::mpsc::Receiver<SyncCmd>,
    events: mpsc::UnboundedSender<Event>,
) -> i64 {
    while let Ok(first) = rx.recv() {
        let before = log.durable_zxid();
        let mut written = false;
        let mut cmd = Some(first);
        let mut result = Ok(());
        while let Some(c) = cmd.take() {
            result = match c {
                SyncCmd::Append { bytes, last_zxid } => {
                    written = true;
                    log.append(&bytes, last_zxid)
                }
                SyncCmd::Roll { next_zxid } => log.roll(next_zxid),
                // Only meaningful after a failure, handled below.
                SyncCmd::Reset => Ok(()),
            };
            if result.is_err() {
                break;
            }
            cmd = rx.try_recv().ok();
        }
        if written && result.is_ok() {
            result = log.sync();
        }
        if let Err(e) = result {
            if !recover_log(&mut log, &rx, &events, e) {
                break;
            }
        } else if written || before != log.durable_zxid() {
            let _ = events.send(Event::Durable(log.durable_zxid()));
        }
    }
    log.durable_zxid()
}

/// After a failed write or fsync: tells the processor (which rolls its
/// state back to the last durable zxid and answers writes with an error
/// meanwhile), cuts the file back to that zxid, drops the commands built on
/// the state rolled back, and once the processor has confirmed with
/// `Reset`, waits for the disk to take writes again. False when the
/// processor is gone.
fn recover_log(
    log: &mut TxnLog,
    rx: &std::sync::mpsc::Receiver<SyncCmd>,
    events: &mpsc::UnboundedSender<Event>,
    error: Error,
) -> bool {
    let durable = log.durable_zxid();
    // Cut first, so the processor rebuilding from disk reads a clean end.
    let mut cut = match log.truncate_to_durable() {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "cannot cut the failed write off the log yet");
            false
        }
    };
    tracing::error!(
        error = %error,
        durable_zxid = format!("{durable:#x}"),
        "transaction log write failed: the writes after the last durable zxid fail, \
         writes are refused until the disk takes them again"
    );
    let _ = events.send(Event::LogFailed { error: error.to_string(), durable });
    let mut reset = false;
    loop {
        if !cut {
            match log.truncate_to_durable() {
                Ok(()) => cut = true,
                Err(e) => tracing::warn!(error = %e, "cannot cut the failed write off the log yet"),
            }
        }
        if cut && reset {
            match log.probe() {
                Ok(()) => {
                    tracing::info!("the transaction log takes writes again");
                    let _ = events.send(Event::LogRecovered);
                    return true;
                }
                Err(_) => cut = false,
            }
        }
        match rx.recv_timeout(PROBE_INTERVAL) {
            Ok(SyncCmd::Reset) => reset = true,
            // Built on the state being rolled back: never written.
            Ok(SyncCmd::Append { .. } | SyncCmd::Roll { .. }) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return false,
        }
    }
}

/// One server per data dir: a second one would interleave the log.
fn lock_dir(dir: &Path) -> Result<std::fs::File, Error> {
    let path: PathBuf = dir.join(".lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(|e| {
        Error::io(&path, std::io::Error::other(format!("data dir in use by another server ({e})")))
    })?;
    Ok(f)
}
