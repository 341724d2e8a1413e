//! The LogManager: every partition log under `log.dirs`. It opens them in
//! parallel at start, creates and deletes them, writes the checkpoint files
//! at each log dir's root, and runs the background work (retention,
//! time-based flush, checkpoints, the cleaner) on plain threads.
//!
//! A log dir that fails an I/O operation goes offline for good: its logs
//! answer `LogDirOffline`, new partitions go elsewhere, and the process
//! keeps running (Kafka's `LogDirFailureChannel`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use super::checkpoint::{read_offsets, write_offsets};
use super::{
    cleaner, parse_dir_name, Error, Log, LogConfig, LogDirState, LogOpenOptions,
    LOG_START_OFFSET_CHECKPOINT, RECOVERY_POINT_CHECKPOINT, REPLICATION_OFFSET_CHECKPOINT,
};
use crate::sync::{run_on_threads, MutexExt, RwLockExt};
use crate::time::Clock;
use crate::types::{Offset, TopicPartition};

/// Kafka's marker of a clean shutdown, at each log dir's root.
pub const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";
/// Where each compacted log's dirty part starts, at each log dir's root.
pub const CLEANER_OFFSET_CHECKPOINT: &str = "cleaner-offset-checkpoint";

/// Broker-level settings of the background work, with Kafka's names and
/// defaults.
#[derive(Clone, Debug)]
pub struct BackgroundConfig {
    /// `log.retention.check.interval.ms`
    pub retention_check_interval_ms: u64,
    /// How often logs are checked against their `flush.ms`.
    pub flush_check_interval_ms: u64,
    /// `log.flush.offset.checkpoint.interval.ms`
    pub recovery_point_checkpoint_interval_ms: u64,
    /// `log.flush.start.offset.checkpoint.interval.ms`
    pub log_start_offset_checkpoint_interval_ms: u64,
    /// `replica.high.watermark.checkpoint.interval.ms`
    pub high_watermark_checkpoint_interval_ms: u64,
    /// `log.cleaner.enable`
    pub cleaner_enable: bool,
    /// `log.cleaner.backoff.ms`
    pub cleaner_backoff_ms: u64,
    /// `log.cleaner.dedupe.buffer.size`: bounds the key map of a pass.
    pub cleaner_dedupe_buffer_size: u64,
}

impl Default for BackgroundConfig {
    fn default() -> Self {
        Self {
            retention_check_interval_ms: 300_000,
            flush_check_interval_ms: 1_000,
            recovery_point_checkpoint_interval_ms: 60_000,
            log_start_offset_checkpoint_interval_ms: 60_000,
            high_watermark_checkpoint_interval_ms: 5_000,
            cleaner_enable: true,
            cleaner_backoff_ms: 15_000,
            cleaner_dedupe_buffer_size: cleaner::DEFAULT_DEDUPE_BUFFER_SIZE,
        }
    }
}

type LoadedLogs = Vec<(TopicPartition, Arc<Log>)>;

struct Entry {
    log: Arc<Log>,
    dir: usize,
}

pub struct LogManager {
    dirs: Vec<Arc<LogDirState>>,
    default_config: RwLock<LogConfig>,
    clock: Arc<dyn Clock>,
    logs: RwLock<BTreeMap<TopicPartition, Entry>>,
    /// Serializes creation and deletion so two creators cannot race.
    create_lock: Mutex<()>,
    /// Serializes checkpoint writes: two writers of one file share its
    /// `.tmp` name, and the loser's rename would fail with ENOENT and take
    /// the whole dir offline (a deletion's checkpoint racing the periodic
    /// one did, deleting a thousand partitions).
    checkpoint_lock: Mutex<()>,
    background: Mutex<Option<BackgroundHandle>>,
}

impl LogManager {
    /// Opens every `<topic>-<partition>` directory under `dirs`, each dir
    /// with `num_recovery_threads` threads (`num.recovery.threads.per.data.dir`).
    pub fn open(
        dirs: &[PathBuf],
        default_config: LogConfig,
        num_recovery_threads: usize,
        clock: Arc<dyn Clock>,
    ) -> Result<LogManager, Error> {
        Self::open_with_topic_configs(
            dirs,
            default_config,
            &HashMap::new(),
            num_recovery_threads,
            clock,
        )
    }

    /// As [`LogManager::open`], with per-topic config overrides applied to
    /// the logs of those topics.
    pub fn open_with_topic_configs(
        dirs: &[PathBuf],
        default_config: LogConfig,
        topic_configs: &HashMap<String, LogConfig>,
        num_recovery_threads: usize,
        clock: Arc<dyn Clock>,
    ) -> Result<LogManager, Error> {
        let states: Vec<Arc<LogDirState>> = dirs.iter().map(|d| LogDirState::new(d)).collect();
        let mut logs = BTreeMap::new();
        let threads = num_recovery_threads.max(1);
        let results: Vec<Result<LoadedLogs, Error>> = if let [state] = &states[..] {
            // Without a thread of its own, a loader's panic is still the
            // dir's error rather than the process's end.
            let open = || open_dir(state, &default_config, topic_configs, threads, clock.clone());
            vec![std::panic::catch_unwind(std::panic::AssertUnwindSafe(open))
                .unwrap_or_else(|_| Err(panic_error()))]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = states
                    .iter()
                    .map(|state| {
                        let clock = Arc::clone(&clock);
                        let default_config = &default_config;
                        scope.spawn(move || {
                            open_dir(state, default_config, topic_configs, threads, clock)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err(panic_error())))
                    .collect()
            })
        };
        for (i, result) in results.into_iter().enumerate() {
            match result {
                Ok(list) => {
                    for (tp, log) in list {
                        logs.insert(tp, Entry { log, dir: i });
                    }
                }
                Err(e @ Error::Io { .. }) => states[i].mark_offline(&e),
                Err(e) => return Err(e),
            }
        }
        if !states.is_empty() && states.iter().all(|s| s.is_offline()) {
            return Err(Error::LogDirOffline { dir: states[0].dir().to_path_buf() });
        }
        Ok(LogManager {
            dirs: states,
            default_config: RwLock::new(default_config),
            clock,
            logs: RwLock::new(logs),
            create_lock: Mutex::new(()),
            checkpoint_lock: Mutex::new(()),
            background: Mutex::new(None),
        })
    }

    pub fn default_config(&self) -> LogConfig {
        self.default_config.read_or_recover().clone()
    }

    pub fn log_dirs(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.dir().to_path_buf()).collect()
    }

    pub fn offline_dirs(&self) -> Vec<PathBuf> {
        self.dirs.iter().filter(|d| d.is_offline()).map(|d| d.dir().to_path_buf()).collect()
    }

    pub fn get_log(&self, tp: &TopicPartition) -> Option<Arc<Log>> {
        self.logs.read_or_recover().get(tp).map(|e| Arc::clone(&e.log))
    }

    /// The log of `tp`, created with `config` in the online dir holding the
    /// fewest partitions if it does not exist.
    pub fn get_or_create_log(
        &self,
        tp: &TopicPartition,
        config: LogConfig,
    ) -> Result<Arc<Log>, Error> {
        if let Some(log) = self.get_log(tp) {
            return Ok(log);
        }
        let _c = self.create_lock.lock_or_recover();
        if let Some(log) = self.get_log(tp) {
            return Ok(log);
        }
        // With one dir there is nothing to balance, and counting every log
        // for each new one would make creating N partitions cost N².
        let counts = if self.dirs.len() == 1 {
            vec![0]
        } else {
            let logs = self.logs.read_or_recover();
            let mut counts = vec![0usize; self.dirs.len()];
            for e in logs.values() {
                counts[e.dir] += 1;
            }
            counts
        };
        let dir = (0..self.dirs.len())
            .filter(|&i| !self.dirs[i].is_offline())
            .min_by_key(|&i| counts[i])
            .ok_or_else(|| Error::LogDirOffline {
                dir: self.dirs.first().map(|d| d.dir().to_path_buf()).unwrap_or_default(),
            })?;
        let state = &self.dirs[dir];
        let name = tp.dir_name();
        let path = state.dir().join(&name);
        if name.len() > super::MAX_FILE_NAME_BYTES {
            // Refused before the file system would, which the dir's other
            // partitions must not pay for (a 249-character topic leaves room
            // for partitions up to 99999).
            let too_long = rustix::io::Errno::NAMETOOLONG.raw_os_error();
            return Err(Error::io(path)(std::io::Error::from_raw_os_error(too_long)));
        }
        let options =
            LogOpenOptions { had_clean_shutdown: false, dir_state: Some(Arc::clone(state)) };
        let existed = path.exists();
        let opened =
            Log::open_with(&path, config, Offset(0), Offset(0), Arc::clone(&self.clock), options);
        let log = match opened {
            Ok(log) => Arc::new(log),
            Err(e) => {
                // A half-created partition (say, a full disk took its index)
                // would come back at the next start as a stray log.
                if !existed {
                    match std::fs::remove_dir_all(&path) {
                        Err(rm) if rm.kind() != std::io::ErrorKind::NotFound => {
                            tracing::warn!("cannot remove {}: {rm}", path.display())
                        }
                        _ => {}
                    }
                }
                return Err(e);
            }
        };
        self.logs.write_or_recover().insert(tp.clone(), Entry { log: Arc::clone(&log), dir });
        Ok(log)
    }

    /// Removes a partition: the directory is renamed to Kafka's
    /// `<topic>-<partition>.<id>-delete` (see [`super::delete_dir_name`])
    /// and then removed; a start-up finishes a removal a crash cut short.
    /// Only a device error (EIO) takes the dir offline: a rename or removal
    /// that fails for any other reason (a name too long, a full disk, a
    /// permission) concerns this partition alone.
    pub fn delete_log(&self, tp: &TopicPartition) -> Result<(), Error> {
        self.delete_logs(std::slice::from_ref(tp)).pop().map_or(Ok(()), |(_, r)| r)
    }

    /// [`Self::delete_log`] for many partitions, with each touched dir's
    /// checkpoints written once at the end rather than once per partition
    /// (four fsync'd files each: deleting a hundred topics must not cost
    /// thousands of fsyncs).
    pub fn delete_logs(&self, tps: &[TopicPartition]) -> Vec<(TopicPartition, Result<(), Error>)> {
        let _c = self.create_lock.lock_or_recover();
        let mut results = Vec::with_capacity(tps.len());
        let mut touched = std::collections::BTreeSet::new();
        for tp in tps {
            let Some(entry) = self.logs.write_or_recover().remove(tp) else {
                results.push((tp.clone(), Ok(None)));
                continue;
            };
            let state = &self.dirs[entry.dir];
            entry.log.close_for_deletion();
            let from = entry.log.dir().to_path_buf();
            let to = state.dir().join(super::delete_dir_name(tp));
            let result = std::fs::rename(&from, &to)
                .map_err(Error::io(&from))
                .and_then(|()| std::fs::remove_dir_all(&to).map_err(Error::io(&to)));
            if let Err(e @ Error::Io { source, .. }) = &result {
                if source.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) {
                    state.mark_offline(e);
                }
            }
            if result.is_ok() {
                touched.insert(entry.dir);
            }
            results.push((tp.clone(), result.map(|()| Some(entry.dir))));
        }
        let checkpointed: std::collections::BTreeMap<usize, Result<(), Error>> =
            touched.into_iter().map(|dir| (dir, self.checkpoint_dir(dir))).collect();
        results
            .into_iter()
            .map(|(tp, r)| {
                let r = r.and_then(|dir| match dir.and_then(|d| checkpointed.get(&d)) {
                    Some(Err(e)) => Err(e.duplicate()),
                    _ => Ok(()),
                });
                (tp, r)
            })
            .collect()
    }

    pub fn all_logs(&self) -> Vec<(TopicPartition, Arc<Log>)> {
        let logs = self.logs.read_or_recover();
        logs.iter().map(|(tp, e)| (tp.clone(), Arc::clone(&e.log))).collect()
    }

    fn logs_in(&self, dir: usize) -> Vec<(TopicPartition, Arc<Log>)> {
        let logs = self.logs.read_or_recover();
        logs.iter()
            .filter(|(_, e)| e.dir == dir)
            .map(|(tp, e)| (tp.clone(), Arc::clone(&e.log)))
            .collect()
    }

    fn checkpoint_dir(&self, dir: usize) -> Result<(), Error> {
        self.write_checkpoint(dir, RECOVERY_POINT_CHECKPOINT, |l| l.recovery_point().0)?;
        self.write_checkpoint(dir, LOG_START_OFFSET_CHECKPOINT, |l| l.log_start_offset().0)?;
        self.checkpoint_high_watermarks_in(dir)?;
        self.checkpoint_cleaner_offsets(dir)
    }

    /// Kafka's `cleaner-offset-checkpoint`: where each compacted log's
    /// dirty part starts, so a restart does not recompact everything.
    fn checkpoint_cleaner_offsets(&self, dir: usize) -> Result<(), Error> {
        self.write_checkpoint(dir, CLEANER_OFFSET_CHECKPOINT, |l| {
            l.cleaner_checkpoint.load(std::sync::atomic::Ordering::Acquire)
        })
    }

    fn write_checkpoint(
        &self,
        dir: usize,
        name: &str,
        value: impl Fn(&Log) -> i64,
    ) -> Result<(), Error> {
        let state = &self.dirs[dir];
        if state.is_offline() {
            return Ok(());
        }
        let _serial = self.checkpoint_lock.lock_or_recover();
        let offsets: BTreeMap<TopicPartition, i64> =
            self.logs_in(dir).into_iter().map(|(tp, log)| (tp, value(&log))).collect();
        let r = write_offsets(&state.dir().join(name), &offsets);
        if let Err(e) = &r {
            state.record_error(e);
        }
        r
    }

    /// Writes `recovery-point-offset-checkpoint` in every online dir.
    pub fn checkpoint_recovery_points(&self) -> Result<(), Error> {
        for i in 0..self.dirs.len() {
            self.write_checkpoint(i, RECOVERY_POINT_CHECKPOINT, |l| l.recovery_point().0)?;
        }
        Ok(())
    }

    fn checkpoint_high_watermarks_in(&self, dir: usize) -> Result<(), Error> {
        self.write_checkpoint(dir, REPLICATION_OFFSET_CHECKPOINT, |l| {
            l.high_watermark().map_or(l.log_start_offset().0, |hw| hw.0)
        })
    }

    /// Writes `replication-offset-checkpoint` in every online dir.
    pub fn checkpoint_high_watermarks(&self) -> Result<(), Error> {
        for i in 0..self.dirs.len() {
            self.checkpoint_high_watermarks_in(i)?;
        }
        Ok(())
    }

    /// Writes `log-start-offset-checkpoint` in every online dir.
    pub fn checkpoint_log_start_offsets(&self) -> Result<(), Error> {
        for i in 0..self.dirs.len() {
            self.write_checkpoint(i, LOG_START_OFFSET_CHECKPOINT, |l| l.log_start_offset().0)?;
        }
        Ok(())
    }

    /// DeleteRecords for one partition, with the new log start checkpointed.
    pub fn delete_records(&self, tp: &TopicPartition, offset: Offset) -> Result<Offset, Error> {
        let log = self.get_log(tp).ok_or_else(|| Error::NoLog { topic_partition: tp.clone() })?;
        let start = log.delete_records(offset)?;
        self.checkpoint_log_start_offsets()?;
        Ok(start)
    }

    /// Starts the background threads; they stop on `shutdown` (or when the
    /// returned handle's `stop` is called).
    pub fn start_background(self: &Arc<Self>, config: BackgroundConfig) {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let mut threads = Vec::new();
        let me = Arc::clone(self);
        let s = Arc::clone(&stop);
        let c = config.clone();
        let spawn = std::thread::Builder::new()
            .name("log-background".into())
            .spawn(move || me.background_loop(&c, &s));
        match spawn {
            Ok(t) => threads.push(t),
            Err(e) => tracing::error!("cannot start log background thread: {e}"),
        }
        if config.cleaner_enable {
            let me = Arc::clone(self);
            let s = Arc::clone(&stop);
            let (backoff, buffer) = (config.cleaner_backoff_ms, config.cleaner_dedupe_buffer_size);
            let spawn = std::thread::Builder::new()
                .name("log-cleaner".into())
                .spawn(move || me.cleaner_loop(backoff, buffer, &s));
            match spawn {
                Ok(t) => threads.push(t),
                Err(e) => tracing::error!("cannot start log cleaner thread: {e}"),
            }
        }
        *self.background.lock_or_recover() = Some(BackgroundHandle { stop, threads });
    }

    fn background_loop(&self, config: &BackgroundConfig, stop: &StopSignal) {
        // Scheduling uses the monotonic clock; the injected clock is for
        // what the logs decide (ages, retention).
        let start = std::time::Instant::now();
        let now = || start.elapsed().as_millis() as i64;
        let (mut last_retention, mut last_rp, mut last_lso, mut last_hw) = (0, 0, 0, 0);
        let tick = config
            .flush_check_interval_ms
            .min(config.retention_check_interval_ms)
            .min(config.high_watermark_checkpoint_interval_ms)
            .max(10);
        while !wait_stop(stop, tick) {
            for (tp, log) in self.all_logs() {
                if let Err(e) = log.maybe_flush_by_time() {
                    tracing::warn!(%tp, "flush failed: {e}");
                }
                log.remove_deleted_segments(false);
            }
            let t = now();
            if t - last_retention >= config.retention_check_interval_ms as i64 {
                last_retention = t;
                let mut deleted = 0;
                for (tp, log) in self.all_logs() {
                    match log.delete_old_segments() {
                        Ok(n) => deleted += n,
                        Err(Error::LogDirOffline { .. } | Error::Closed { .. }) => {}
                        Err(e) => tracing::warn!(%tp, "retention failed: {e}"),
                    }
                }
                if deleted > 0 {
                    let _ = self.checkpoint_log_start_offsets();
                }
            }
            if t - last_rp >= config.recovery_point_checkpoint_interval_ms as i64 {
                last_rp = t;
                let _ = self.checkpoint_recovery_points();
            }
            if t - last_hw >= config.high_watermark_checkpoint_interval_ms as i64 {
                last_hw = t;
                let _ = self.checkpoint_high_watermarks();
            }
            if t - last_lso >= config.log_start_offset_checkpoint_interval_ms as i64 {
                last_lso = t;
                let _ = self.checkpoint_log_start_offsets();
            }
        }
    }

    fn cleaner_loop(&self, backoff_ms: u64, dedupe_buffer_size: u64, stop: &StopSignal) {
        loop {
            let mut cleaned = false;
            for (tp, log) in self.all_logs() {
                match cleaner::maybe_clean(&log, dedupe_buffer_size) {
                    Ok(Some(stats)) => {
                        cleaned = true;
                        tracing::info!(%tp, "cleaned log: {stats}");
                        let dir = self.logs.read_or_recover().get(&tp).map(|e| e.dir);
                        if let Some(dir) = dir {
                            let _ = self.checkpoint_cleaner_offsets(dir);
                        }
                    }
                    Ok(None) | Err(Error::LogDirOffline { .. } | Error::Closed { .. }) => {}
                    Err(e) => tracing::warn!(%tp, "cleaning failed: {e}"),
                }
                if is_stopped(stop) {
                    return;
                }
            }
            if !cleaned && wait_stop(stop, backoff_ms) {
                return;
            }
        }
    }

    /// Stops the background threads, flushes and closes every log, writes
    /// the checkpoints and, in each dir that stayed online, the clean
    /// shutdown marker.
    pub fn shutdown(&self) -> Result<(), Error> {
        if let Some(handle) = self.background.lock_or_recover().take() {
            handle.stop();
        }
        let mut first_error = None;
        for (tp, log) in self.all_logs() {
            if let Err(e) = log.close() {
                tracing::error!(%tp, "closing log: {e}");
                first_error.get_or_insert(e);
            }
        }
        for (i, state) in self.dirs.iter().enumerate() {
            if state.is_offline() {
                continue;
            }
            if let Err(e) = self.checkpoint_dir(i) {
                first_error.get_or_insert(e);
                continue;
            }
            let marker = state.dir().join(CLEAN_SHUTDOWN_FILE);
            if let Err(e) = std::fs::write(&marker, b"").map_err(Error::io(&marker)) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Kafka's `createAndValidateLogDirs`: `dir` exists (created if missing),
/// is a directory and takes a new file. The write is the only test that
/// holds for root, which ignores permission bits but not a read-only mount
/// or an immutable (`chattr +i`) directory.
pub fn create_and_validate_log_dir(dir: &Path) -> Result<(), Error> {
    if std::fs::metadata(dir).is_ok_and(|m| !m.is_dir()) {
        return Err(Error::io(dir)(std::io::Error::from_raw_os_error(
            rustix::io::Errno::NOTDIR.raw_os_error(),
        )));
    }
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let probe = dir.join(WRITE_PROBE_FILE);
    std::fs::File::create(&probe).map_err(Error::io(&probe))?;
    std::fs::remove_file(&probe).map_err(Error::io(&probe))
}

/// Written and removed at start-up by [`create_and_validate_log_dir`].
const WRITE_PROBE_FILE: &str = ".kafka_write_check";

type StopSignal = (Mutex<bool>, Condvar);

fn wait_stop(stop: &StopSignal, ms: u64) -> bool {
    let guard = stop.0.lock_or_recover();
    let waited = stop.1.wait_timeout_while(guard, Duration::from_millis(ms), |stopped| !*stopped);
    let (guard, _) = crate::sync::recover(waited);
    *guard
}

fn is_stopped(stop: &StopSignal) -> bool {
    *stop.0.lock_or_recover()
}

/// The background threads of a [`LogManager`].
pub struct BackgroundHandle {
    stop: Arc<StopSignal>,
    threads: Vec<JoinHandle<()>>,
}

impl BackgroundHandle {
    pub fn stop(self) {
        *self.stop.0.lock_or_recover() = true;
        self.stop.1.notify_all();
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn panic_error() -> Error {
    Error::Io { path: PathBuf::new(), source: std::io::Error::other("log loading thread panicked") }
}

/// Loads one log dir: clean-shutdown marker, checkpoints, then every
/// partition directory on `threads` threads.
fn open_dir(
    state: &Arc<LogDirState>,
    default_config: &LogConfig,
    topic_configs: &HashMap<String, LogConfig>,
    threads: usize,
    clock: Arc<dyn Clock>,
) -> Result<LoadedLogs, Error> {
    let root = state.dir();
    std::fs::create_dir_all(root).map_err(Error::io(root))?;
    let marker = root.join(CLEAN_SHUTDOWN_FILE);
    let clean = marker.exists();
    // An unreadable checkpoint costs a full recovery scan, not the dir
    // (as in Kafka, which resets it to 0 with a warning).
    let read_or_reset = |name: &str| {
        read_offsets(&root.join(name)).unwrap_or_else(|e| {
            tracing::warn!("{e}; treating every offset in {} as unflushed", root.display());
            BTreeMap::new()
        })
    };
    let recovery_points = read_or_reset(RECOVERY_POINT_CHECKPOINT);
    let log_starts = read_or_reset(LOG_START_OFFSET_CHECKPOINT);
    let cleaner_offsets = read_or_reset(CLEANER_OFFSET_CHECKPOINT);
    let high_watermarks = read_or_reset(REPLICATION_OFFSET_CHECKPOINT);
    let mut work: Vec<(TopicPartition, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(root).map_err(Error::io(root))? {
        let entry = entry.map_err(Error::io(root))?;
        if !entry.file_type().map_err(Error::io(entry.path()))?.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with("-delete") {
            std::fs::remove_dir_all(entry.path()).map_err(Error::io(entry.path()))?;
            continue;
        }
        if let Some(tp) = parse_dir_name(&name) {
            work.push((tp, entry.path()));
        }
    }
    let queue = Mutex::new(work);
    let out = Mutex::new(Vec::new());
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    // Threads only where there is more than one partition to load: a
    // broker with a few partitions (and every crash image the fuzzer
    // recovers) starts faster without them.
    let threads = threads.min(queue.lock_or_recover().len());
    let load = || loop {
        let Some((tp, path)) = queue.lock_or_recover().pop() else {
            return;
        };
        let config =
            topic_configs.get(&tp.topic).cloned().unwrap_or_else(|| default_config.clone());
        let rp = Offset(recovery_points.get(&tp).copied().unwrap_or(0));
        let start = Offset(log_starts.get(&tp).copied().unwrap_or(0));
        let options =
            LogOpenOptions { had_clean_shutdown: clean, dir_state: Some(Arc::clone(state)) };
        match Log::open_with(&path, config, rp, start, Arc::clone(&clock), options) {
            Ok(log) => {
                if let Some(&hw) = high_watermarks.get(&tp) {
                    log.update_high_watermark(Offset(hw));
                }
                if let Some(&o) = cleaner_offsets.get(&tp) {
                    log.cleaner_checkpoint.fetch_max(
                        o.min(log.log_end_offset().0),
                        std::sync::atomic::Ordering::AcqRel,
                    );
                }
                out.lock_or_recover().push((tp, Arc::new(log)))
            }
            Err(e) => {
                first_error.lock_or_recover().get_or_insert(e);
            }
        }
    };
    run_on_threads(threads, load);
    if let Some(e) = crate::sync::recover(first_error.into_inner()) {
        return Err(e);
    }
    if clean {
        std::fs::remove_file(&marker).map_err(Error::io(&marker))?;
    }
    Ok(crate::sync::recover(out.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::tests::batch_of;
    use crate::record::Compression;
    use crate::time::ManualClock;
    use crate::types::LeaderEpoch;
    use std::sync::atomic::Ordering;

    fn manager(dirs: &[PathBuf], clock: &ManualClock) -> LogManager {
        LogManager::open(dirs, LogConfig::default(), 2, Arc::new(clock.clone())).unwrap()
    }

    /// A manager over one temp log dir on a manual clock at 0, with what
    /// opens it again.
    fn one_dir_manager() -> (tempfile::TempDir, Vec<PathBuf>, ManualClock, LogManager) {
        let root = tempfile::tempdir().unwrap();
        let dirs = vec![root.path().to_path_buf()];
        let clock = ManualClock::new(0);
        let m = manager(&dirs, &clock);
        (root, dirs, clock, m)
    }

    #[test]
    fn create_append_shutdown_reopen_delete() {
        let root = tempfile::tempdir().unwrap();
        let dirs = vec![root.path().join("d1"), root.path().join("d2")];
        let clock = ManualClock::new(0);
        let m = manager(&dirs, &clock);
        for p in 0..4 {
            let tp = TopicPartition::new("t", p);
            let log = m.get_or_create_log(&tp, LogConfig::default()).unwrap();
            for _ in 0..=p {
                log.append_as_leader(&mut batch_of(2, 0, 10, Compression::None), LeaderEpoch(0))
                    .unwrap();
            }
            assert!(Arc::ptr_eq(&log, &m.get_or_create_log(&tp, LogConfig::default()).unwrap()));
        }
        let per_dir: Vec<usize> =
            dirs.iter().map(|d| std::fs::read_dir(d).unwrap().count()).collect();
        assert_eq!(per_dir, [2, 2], "new partitions go to the dir with the fewest");
        m.delete_records(&TopicPartition::new("t", 3), Offset(3)).unwrap();
        m.shutdown().unwrap();
        for d in &dirs {
            assert!(d.join(CLEAN_SHUTDOWN_FILE).exists());
            let rp = std::fs::read_to_string(d.join(RECOVERY_POINT_CHECKPOINT)).unwrap();
            assert!(rp.starts_with("0\n2\n"), "{rp}");
        }
        let m = manager(&dirs, &clock);
        assert!(
            dirs.iter().all(|d| !d.join(CLEAN_SHUTDOWN_FILE).exists()),
            "marker consumed at start"
        );
        for p in 0..4 {
            let log = m.get_log(&TopicPartition::new("t", p)).unwrap();
            assert_eq!(log.log_end_offset(), Offset(2 * (i64::from(p) + 1)));
            assert_eq!(log.recovery_point(), log.log_end_offset(), "flushed at shutdown");
        }
        assert_eq!(m.get_log(&TopicPartition::new("t", 3)).unwrap().log_start_offset(), Offset(3));
        assert!(dirs[0].join(CLEANER_OFFSET_CHECKPOINT).exists());
        let tp = TopicPartition::new("t", 0);
        let dir = m.get_log(&tp).unwrap().dir().to_path_buf();
        m.delete_log(&tp).unwrap();
        assert!(m.get_log(&tp).is_none() && !dir.exists());
        assert_eq!(m.all_logs().len(), 3);
    }

    /// DeleteRecords racing a partition's deletion: the log names the
    /// missing partition (the broker answers UNKNOWN_TOPIC_OR_PARTITION)
    /// instead of calling the request's records invalid.
    #[test]
    fn delete_records_without_a_log_names_the_missing_partition() {
        let root = tempfile::tempdir().unwrap();
        let m = manager(&[root.path().to_path_buf()], &ManualClock::new(0));
        let tp = TopicPartition::new("gone", 2);
        match m.delete_records(&tp, Offset(0)) {
            Err(Error::NoLog { topic_partition }) => assert_eq!(topic_partition, tp),
            other => panic!("expected NoLog, got {other:?}"),
        }
    }

    #[test]
    fn deleting_a_partition_of_a_249_character_topic_leaves_the_dir_online() {
        let root = tempfile::tempdir().unwrap();
        let m = manager(&[root.path().to_path_buf()], &ManualClock::new(0));
        let kept = m.get_or_create_log(&TopicPartition::new("kept", 0), LogConfig::default());
        let kept = kept.unwrap();
        for p in [0, 7, 99_999] {
            let tp = TopicPartition::new("y".repeat(249), p);
            m.get_or_create_log(&tp, LogConfig::default()).unwrap();
            m.delete_log(&tp).unwrap();
            assert!(m.get_log(&tp).is_none());
        }
        let too_long = TopicPartition::new("y".repeat(249), 100_000);
        let Err(e) = m.get_or_create_log(&too_long, LogConfig::default()) else {
            panic!("a 256-byte directory name was created");
        };
        assert!(e.to_string().contains("os error 36"), "{e}");
        assert!(m.offline_dirs().is_empty());
        let entries: Vec<_> = std::fs::read_dir(root.path()).unwrap().flatten().collect();
        assert!(entries.iter().all(|e| !e.file_name().to_string_lossy().starts_with('y')));
        kept.append_as_leader(&mut batch_of(1, 0, 1, Compression::None), LeaderEpoch(0)).unwrap();
    }

    #[test]
    fn delete_dir_names_fit_the_file_name_limit() {
        // (topic, partition, kept topic prefix, why)
        let cases = [
            ("t", 3, "t", "a short name is kept whole"),
            (&*"z".repeat(200), 0, &*"z".repeat(200), "200 + 42 bytes fit"),
            (&*"z".repeat(249), 12, &*"z".repeat(212), "the topic gives way to the suffix"),
        ];
        for (topic, partition, prefix, why) in cases {
            let name = super::super::delete_dir_name(&TopicPartition::new(topic, partition));
            assert!(name.len() <= 255, "{why}: {} bytes", name.len());
            let (head, tail) = name.split_at(prefix.len());
            assert_eq!(head, prefix, "{why}");
            let rest = tail.strip_prefix(&format!("-{partition}.")).expect(why);
            assert!(rest.ends_with("-delete") && rest.len() == 32 + 7, "{why}: {name}");
        }
    }

    #[test]
    fn leftover_delete_dirs_and_foreign_entries_are_handled() {
        let root = tempfile::tempdir().unwrap();
        let d = root.path().to_path_buf();
        std::fs::create_dir_all(d.join("t-0.abc-delete")).unwrap();
        std::fs::create_dir_all(d.join("zookeeper")).unwrap();
        std::fs::write(d.join("meta.properties"), "version=0\n").unwrap();
        let m = manager(std::slice::from_ref(&d), &ManualClock::new(0));
        assert!(!d.join("t-0.abc-delete").exists(), "half-deleted partitions are finished off");
        assert!(d.join("zookeeper").exists(), "directories that are not partitions are left alone");
        assert!(m.all_logs().is_empty());
    }

    #[test]
    fn a_failed_dir_goes_offline_and_the_other_keeps_working() {
        let root = tempfile::tempdir().unwrap();
        let bad = root.path().join("not-a-dir");
        std::fs::write(&bad, "file where a log dir should be").unwrap();
        let good = root.path().join("good");
        let m = manager(&[bad.clone(), good.clone()], &ManualClock::new(0));
        assert_eq!(m.offline_dirs(), vec![bad]);
        let log = m.get_or_create_log(&TopicPartition::new("t", 0), LogConfig::default()).unwrap();
        assert!(log.dir().starts_with(&good));
        log.append_as_leader(&mut batch_of(1, 0, 1, Compression::None), LeaderEpoch(0)).unwrap();
    }

    #[test]
    fn unclean_restart_recovers() {
        let (_root, dirs, clock, m) = one_dir_manager();
        let tp = TopicPartition::new("t", 0);
        let log = m.get_or_create_log(&tp, LogConfig::default()).unwrap();
        log.append_as_leader(&mut batch_of(5, 0, 10, Compression::None), LeaderEpoch(0)).unwrap();
        let seg = log.dir().join("00000000000000000000.log");
        drop((log, m)); // no shutdown: as after kill -9
        let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
        std::io::Write::write_all(&mut f, &[1, 2, 3]).unwrap();
        let m = manager(&dirs, &clock);
        assert_eq!(m.get_log(&tp).unwrap().log_end_offset(), Offset(5));
    }

    #[test]
    fn a_batch_running_backwards_is_cut_even_after_a_clean_shutdown() {
        // A batch's CRC does not cover its base offset: a segment trusted
        // after a clean shutdown can still hold one that runs backwards.
        let (root, dirs, clock, m) = one_dir_manager();
        let tp = TopicPartition::new("t", 0);
        let log = m.get_or_create_log(&tp, LogConfig::default()).unwrap();
        let mut first = batch_of(4, 0, 10, Compression::None);
        let first_len = first.len();
        log.append_as_leader(&mut first, LeaderEpoch(0)).unwrap();
        log.append_as_leader(&mut batch_of(4, 0, 10, Compression::None), LeaderEpoch(0)).unwrap();
        let seg = log.dir().join("00000000000000000000.log");
        drop(log);
        m.shutdown().unwrap();
        assert!(root.path().join(CLEAN_SHUTDOWN_FILE).exists());
        let f = std::fs::OpenOptions::new().write(true).open(&seg).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&f, &(-252i64).to_be_bytes(), first_len as u64)
            .unwrap();
        let m = manager(&dirs, &clock);
        let log = m.get_log(&tp).unwrap();
        assert_eq!(log.log_end_offset(), Offset(4), "the log ends before the bad batch");
        log.append_as_leader(&mut batch_of(1, 0, 10, Compression::None), LeaderEpoch(0)).unwrap();
        assert_eq!(log.log_end_offset(), Offset(5));
    }

    #[test]
    fn damaged_checkpoints_and_time_index_are_survived() {
        let (root, dirs, clock, m) = one_dir_manager();
        let tp = TopicPartition::new("t", 0);
        let log = m
            .get_or_create_log(&tp, LogConfig { index_interval_bytes: 50, ..LogConfig::default() })
            .unwrap();
        for i in 0..20 {
            log.append_as_leader(
                &mut batch_of(1, 1000 * i, 100, Compression::None),
                LeaderEpoch(0),
            )
            .unwrap();
        }
        let ts_path = log.dir().join("00000000000000000000.timeindex");
        drop(log);
        m.shutdown().unwrap();
        drop(m);
        // A torn checkpoint (as a crash mid-write without the rename would
        // never leave, but a bad disk might) and a time index cut mid-entry.
        std::fs::write(root.path().join(RECOVERY_POINT_CHECKPOINT), "0\n5\nt 0").unwrap();
        let ts = std::fs::read(&ts_path).unwrap();
        std::fs::write(&ts_path, &ts[..ts.len() - 5]).unwrap();
        let m = manager(&dirs, &clock);
        assert!(m.offline_dirs().is_empty());
        let log = m.get_log(&tp).unwrap();
        assert_eq!(log.log_end_offset(), Offset(20));
        for i in 0..20 {
            let found = log.fetch_offset_by_timestamp(1000 * i).unwrap().unwrap();
            assert_eq!(found.offset, Offset(i), "timestamp lookup of {}", 1000 * i);
        }
    }

    /// Issue 13: a clean shutdown of idle logs synced three files of
    /// each; now only a log with something unflushed is synced, and the
    /// next start is still a clean one.
    #[test]
    fn an_idle_shutdown_syncs_nothing_and_the_next_start_is_still_clean() {
        let (root, dirs, clock, m) = one_dir_manager();
        let busy = TopicPartition::new("t", 0);
        for p in 0..3 {
            m.get_or_create_log(&TopicPartition::new("t", p), LogConfig::default()).unwrap();
        }
        let log = m.get_log(&busy).unwrap();
        log.append_as_leader(&mut batch_of(4, 0, 10, Compression::None), LeaderEpoch(0)).unwrap();
        drop(log);
        let synced = |m: &LogManager| -> Vec<u64> {
            let logs = m.all_logs();
            logs.iter().map(|(_, l)| l.synced_flushes.load(Ordering::Relaxed)).collect()
        };
        m.shutdown().unwrap();
        assert_eq!(synced(&m), [1, 0, 0], "only the log with appends");
        drop(m);

        let m = manager(&dirs, &clock);
        m.shutdown().unwrap();
        assert_eq!(synced(&m), [0, 0, 0], "nothing changed since the clean start");
        assert!(root.path().join(CLEAN_SHUTDOWN_FILE).exists());
        let rp = std::fs::read_to_string(root.path().join(RECOVERY_POINT_CHECKPOINT)).unwrap();
        assert!(rp.contains("t 0 4\n"), "the recovery points are still checkpointed: {rp}");
        let seg = m.get_log(&busy).unwrap().dir().join("00000000000000000000.log");
        drop(m);

        // A flipped byte in a record's value fails its batch's CRC, which
        // only a recovery scan checks: the start that follows must not scan.
        let mut bytes = std::fs::read(&seg).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x20;
        std::fs::write(&seg, &bytes).unwrap();
        let m = manager(&dirs, &clock);
        let log = m.get_log(&busy).unwrap();
        assert_eq!(log.log_end_offset(), Offset(4), "a clean start: the log was not scanned");
        assert_eq!(log.recovery_point(), Offset(4));
    }

    #[test]
    fn background_retention_runs() {
        let root = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(0);
        let m = Arc::new(manager(&[root.path().to_path_buf()], &clock));
        let config = LogConfig {
            segment_bytes: 200,
            retention_ms: 1000,
            file_delete_delay_ms: 0,
            ..LogConfig::default()
        };
        let log = m.get_or_create_log(&TopicPartition::new("t", 0), config).unwrap();
        for _ in 0..5 {
            log.append_as_leader(&mut batch_of(1, 0, 150, Compression::None), LeaderEpoch(0))
                .unwrap();
        }
        clock.set(10_000);
        m.start_background(BackgroundConfig {
            retention_check_interval_ms: 10,
            flush_check_interval_ms: 10,
            ..BackgroundConfig::default()
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while log.log_start_offset() < Offset(5) {
            assert!(std::time::Instant::now() < deadline, "retention did not run");
            std::thread::sleep(Duration::from_millis(10));
        }
        m.shutdown().unwrap();
    }
}
