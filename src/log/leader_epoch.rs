//! The leader-epoch cache: for each leader epoch, the first offset written
//! in it (KIP-101), persisted in the partition's `leader-epoch-checkpoint`.
//! Followers ask the leader for the end offset of their latest epoch
//! (OffsetsForLeaderEpoch, KIP-279) and truncate there, never blindly to
//! the high watermark. Kafka's `LeaderEpochFileCache.scala` is the model.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use super::checkpoint::{read_lines, write_lines};
use super::Error;
use crate::sync::MutexExt;
use crate::types::{LeaderEpoch, Offset};

/// Whether the latest entry already says `epoch` starts at or before
/// `start_offset`.
fn covers(entries: &[EpochEntry], epoch: LeaderEpoch, start_offset: Offset) -> bool {
    entries.last().is_some_and(|e| e.epoch == epoch && e.start_offset <= start_offset)
}

/// Drops the epochs starting at or after `end_offset`; whether any went.
fn truncate_end(entries: &mut Vec<EpochEntry>, end_offset: Offset) -> bool {
    let before = entries.len();
    entries.retain(|e| e.start_offset < end_offset);
    entries.len() != before
}

/// Drops the epochs wholly before `start_offset` and starts the one
/// covering it there; whether anything changed.
fn truncate_start(entries: &mut Vec<EpochEntry>, start_offset: Offset) -> bool {
    let Some(keep) = entries.iter().rposition(|e| e.start_offset <= start_offset) else {
        return false;
    };
    if keep == 0 && entries[0].start_offset == start_offset {
        return false;
    }
    entries.drain(..keep);
    entries[0].start_offset = start_offset;
    true
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: LeaderEpoch,
    pub start_offset: Offset,
}

pub struct LeaderEpochCache {
    path: PathBuf,
    entries: Mutex<Vec<EpochEntry>>,
    /// What the checkpoint file holds (taken with `entries` held): a write
    /// that would not change it is skipped. A broker restarting with
    /// thousands of empty partitions would otherwise write and fsync each
    /// one's checkpoint twice, once when loading drops the epoch that
    /// starts at the log end and again when leadership assigns it back.
    on_disk: Mutex<Vec<EpochEntry>>,
    /// Set while `entries` is ahead of the file: loading truncated it, or
    /// a new leader assigned its epoch, in memory only. The file is written
    /// before anything is appended.
    stale_file: AtomicBool,
    log_end_offset: Arc<AtomicI64>,
}

impl LeaderEpochCache {
    /// Loads the checkpoint at `path` (absent means empty).
    pub(crate) fn load(path: &Path, log_end_offset: Arc<AtomicI64>) -> Result<Self, Error> {
        let mut entries = Vec::new();
        for line in read_lines(path)?.unwrap_or_default() {
            let mut it = line.split_whitespace().map(str::parse::<i64>);
            match (it.next(), it.next()) {
                (Some(Ok(e)), Some(Ok(o))) => entries
                    .push(EpochEntry { epoch: LeaderEpoch(e as i32), start_offset: Offset(o) }),
                _ => {
                    return Err(Error::Io {
                        path: path.to_path_buf(),
                        source: std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("malformed leader epoch line {line:?}"),
                        ),
                    })
                }
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            on_disk: Mutex::new(entries.clone()),
            entries: Mutex::new(entries),
            stale_file: AtomicBool::new(false),
            log_end_offset,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<EpochEntry>> {
        self.entries.lock_or_recover()
    }

    /// Called with `entries` held.
    fn persist(&self, entries: &[EpochEntry]) -> Result<(), Error> {
        let mut on_disk = self.on_disk.lock_or_recover();
        if on_disk.as_slice() != entries {
            let lines: Vec<String> =
                entries.iter().map(|e| format!("{} {}", e.epoch.0, e.start_offset.0)).collect();
            write_lines(&self.path, &lines)?;
            *on_disk = entries.to_vec();
        }
        self.stale_file.store(false, Ordering::Release);
        Ok(())
    }

    /// Drops, in memory, the epochs that the loaded log does not hold:
    /// those starting at or after `end_offset` and those wholly before
    /// `start_offset`. The file keeps them until the next write, which
    /// [`Self::assign`] makes before anything is appended (as Kafka since
    /// KAFKA-15046 writes these truncations off its hot path). Until then
    /// a crash only leaves entries that the next load drops again: the log
    /// has not grown past them.
    pub(crate) fn truncate_loaded(&self, start_offset: Offset, end_offset: Offset) {
        let mut entries = self.lock();
        let ended = truncate_end(&mut entries, end_offset);
        if truncate_start(&mut entries, start_offset) || ended {
            self.stale_file.store(true, Ordering::Release);
        }
    }

    pub fn entries(&self) -> Vec<EpochEntry> {
        self.lock().clone()
    }

    pub fn latest_epoch(&self) -> Option<LeaderEpoch> {
        self.lock().last().map(|e| e.epoch)
    }

    /// The epoch the record at `offset` was written in, if known.
    pub fn epoch_for_offset(&self, offset: Offset) -> Option<LeaderEpoch> {
        self.lock().iter().rev().find(|e| e.start_offset <= offset).map(|e| e.epoch)
    }

    /// Whether [`Self::assign`] of `epoch` at `start_offset` would change
    /// nothing (no checkpoint to write); false too while another thread
    /// holds the cache, as it may be writing the checkpoint.
    pub fn try_is_assigned(&self, epoch: LeaderEpoch, start_offset: Offset) -> bool {
        !self.stale_file.load(Ordering::Acquire)
            && (epoch.0 < 0
                || self
                    .entries
                    .try_lock_or_recover()
                    .is_some_and(|e| covers(&e, epoch, start_offset)))
    }

    /// Writes the file if loading left it stale: called before anything is
    /// appended, whatever the batches' epochs.
    pub fn write_if_stale(&self) -> Result<(), Error> {
        if !self.stale_file.load(Ordering::Acquire) {
            return Ok(());
        }
        let entries = self.lock();
        self.persist(&entries)
    }

    /// Records that `epoch` starts at `start_offset` (first append of a new
    /// leader epoch). Entries that this one supersedes (same or higher epoch,
    /// or starting at or after it) are dropped, as Kafka does.
    pub fn assign(&self, epoch: LeaderEpoch, start_offset: Offset) -> Result<(), Error> {
        if epoch.0 < 0 {
            return Ok(());
        }
        let mut entries = self.lock();
        if covers(&entries, epoch, start_offset) {
            // Covered in memory may still be missing from the file.
            return match self.stale_file.load(Ordering::Acquire) {
                true => self.persist(&entries),
                false => Ok(()),
            };
        }
        // Memory changes only once the file has: an entry that failed to
        // persist would otherwise look persisted to the next append.
        let mut next = entries.clone();
        supersede(&mut next, epoch, start_offset);
        self.persist(&next)?;
        *entries = next;
        Ok(())
    }

    /// A new leader's epoch, starting at its log end: recorded in memory at
    /// once and written to the file before the first append (by
    /// [`Self::write_if_stale`] or [`Self::assign`]). Becoming leader of
    /// thousands of partitions (a controlled shutdown moving them here)
    /// then costs no fsync each. A crash before that append loses only an
    /// epoch that starts at the log end, which the next load drops anyway
    /// ([`Self::truncate_loaded`]); no record carries it.
    pub fn assign_deferred(&self, epoch: LeaderEpoch, start_offset: Offset) {
        if epoch.0 < 0 {
            return;
        }
        let mut entries = self.lock();
        if !covers(&entries, epoch, start_offset) {
            supersede(&mut entries, epoch, start_offset);
            self.stale_file.store(true, Ordering::Release);
        }
    }

    /// KIP-279: the largest epoch at or below `requested` and the offset
    /// where it ends (the next epoch's start, or the log end offset for the
    /// latest epoch); `(-1, -1)` when unknown.
    pub fn end_offset_for(&self, requested: LeaderEpoch) -> (LeaderEpoch, Offset) {
        let undefined = (LeaderEpoch::NONE, Offset::NONE);
        if requested.0 < 0 {
            return undefined;
        }
        let entries = self.lock();
        if entries.last().is_some_and(|e| e.epoch == requested) {
            return (requested, Offset(self.log_end_offset.load(Ordering::Acquire)));
        }
        let Some(higher) = entries.iter().find(|e| e.epoch > requested) else {
            return undefined;
        };
        match entries.iter().rev().find(|e| e.epoch <= requested) {
            None => (requested, higher.start_offset),
            Some(floor) => (floor.epoch, higher.start_offset),
        }
    }

    /// After the log is truncated to `end_offset`: epochs starting at or
    /// after it are gone.
    pub fn truncate_from_end(&self, end_offset: Offset) -> Result<(), Error> {
        let mut entries = self.lock();
        if truncate_end(&mut entries, end_offset) {
            self.persist(&entries)?;
        }
        Ok(())
    }

    /// After the log start moves to `start_offset`: earlier epochs are gone,
    /// and the one covering `start_offset` now starts there.
    pub fn truncate_from_start(&self, start_offset: Offset) -> Result<(), Error> {
        let mut entries = self.lock();
        if truncate_start(&mut entries, start_offset) {
            self.persist(&entries)?;
        }
        Ok(())
    }

    pub fn clear(&self) -> Result<(), Error> {
        let mut entries = self.lock();
        entries.clear();
        self.persist(&entries)
    }
}

/// Kafka's `assign`: entries this one supersedes (same or higher epoch,
/// or starting at or after it) go, and it is appended.
fn supersede(entries: &mut Vec<EpochEntry>, epoch: LeaderEpoch, start_offset: Offset) {
    entries.retain(|e| e.epoch < epoch && e.start_offset < start_offset);
    entries.push(EpochEntry { epoch, start_offset });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(dir: &Path, leo: i64) -> LeaderEpochCache {
        LeaderEpochCache::load(&dir.join("leader-epoch-checkpoint"), Arc::new(AtomicI64::new(leo)))
            .unwrap()
    }

    /// A cache over `dir` with `epochs` (epoch, start offset) assigned.
    fn cache_with(dir: &Path, leo: i64, epochs: &[(i32, i64)]) -> LeaderEpochCache {
        let c = cache(dir, leo);
        for &(e, o) in epochs {
            c.assign(LeaderEpoch(e), Offset(o)).unwrap();
        }
        c
    }

    #[test]
    fn kip_279_end_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache(dir.path(), 100);
        c.assign(LeaderEpoch(1), Offset(10)).unwrap();
        c.assign(LeaderEpoch(3), Offset(40)).unwrap();
        c.assign(LeaderEpoch(5), Offset(70)).unwrap();
        // (requested, expected, why)
        let cases = [
            (5, (5, 100), "latest epoch ends at the log end offset"),
            (3, (3, 70), "an earlier epoch ends where the next starts"),
            (4, (3, 70), "an unknown epoch between known ones answers the floor epoch"),
            (0, (0, 10), "below every epoch: the first epoch's start"),
            (6, (-1, -1), "above every epoch: undefined"),
            (-1, (-1, -1), "undefined epoch"),
        ];
        for (req, (e, o), why) in cases {
            assert_eq!(c.end_offset_for(LeaderEpoch(req)), (LeaderEpoch(e), Offset(o)), "{why}");
        }
    }

    #[test]
    fn truncation_and_persistence() {
        let dir = tempfile::tempdir().unwrap();
        let c = cache_with(dir.path(), 100, &[(1, 0), (2, 20), (3, 50)]);
        c.assign(LeaderEpoch(3), Offset(60)).unwrap();
        assert_eq!(c.entries().len(), 3, "same epoch again is not a new entry");
        c.truncate_from_end(Offset(50)).unwrap();
        assert_eq!(c.latest_epoch(), Some(LeaderEpoch(2)));
        c.truncate_from_start(Offset(25)).unwrap();
        assert_eq!(
            c.entries(),
            vec![EpochEntry { epoch: LeaderEpoch(2), start_offset: Offset(25) }]
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("leader-epoch-checkpoint")).unwrap(),
            "0\n1\n2 25\n"
        );
        let reloaded = cache(dir.path(), 100);
        assert_eq!(reloaded.entries(), c.entries());
        c.assign(LeaderEpoch(1), Offset(30)).unwrap();
        assert_eq!(
            c.latest_epoch(),
            Some(LeaderEpoch(1)),
            "a lower epoch replaces higher ones, as Kafka does"
        );
    }

    fn file(dir: &Path) -> (String, u64) {
        use std::os::unix::fs::MetadataExt;
        let path = dir.join("leader-epoch-checkpoint");
        (std::fs::read_to_string(&path).unwrap(), std::fs::metadata(&path).unwrap().ino())
    }

    /// A restart of a broker leading empty partitions: loading drops the
    /// epoch that starts at the log end (as Kafka's truncateFromEnd does)
    /// and leadership assigns it back. Neither writes the checkpoint (each
    /// write would be a new file, so its inode tells).
    #[test]
    fn reloading_and_reassigning_the_same_epoch_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        cache(dir.path(), 0).assign(LeaderEpoch(0), Offset(0)).unwrap();
        let written = file(dir.path());
        assert_eq!(written.0, "0\n1\n0 0\n");
        let c = cache(dir.path(), 0);
        c.truncate_loaded(Offset(0), Offset(0));
        assert_eq!(c.latest_epoch(), None, "the epoch has no records yet");
        assert!(!c.try_is_assigned(LeaderEpoch(0), Offset(0)), "an inline append must wait");
        c.assign(LeaderEpoch(0), Offset(0)).unwrap();
        assert_eq!(file(dir.path()), written, "the file already said so");
        assert!(c.try_is_assigned(LeaderEpoch(0), Offset(0)));
        c.assign(LeaderEpoch(1), Offset(0)).unwrap();
        assert_eq!(file(dir.path()).0, "0\n1\n1 0\n", "a change is still written");
    }

    /// A new leader's epoch answers at once and is in the file before the
    /// first append; a crash before it leaves the file as it was.
    #[test]
    fn a_deferred_epoch_is_written_before_the_first_append() {
        for first_write in ["write_if_stale", "assign"] {
            let dir = tempfile::tempdir().unwrap();
            let c = cache_with(dir.path(), 50, &[(1, 0)]);
            let before = file(dir.path());
            c.assign_deferred(LeaderEpoch(2), Offset(50));
            assert_eq!(c.latest_epoch(), Some(LeaderEpoch(2)));
            assert_eq!(c.end_offset_for(LeaderEpoch(1)), (LeaderEpoch(1), Offset(50)));
            assert_eq!(file(dir.path()), before, "nothing written yet");
            assert_eq!(cache(dir.path(), 50).latest_epoch(), Some(LeaderEpoch(1)));
            assert!(!c.try_is_assigned(LeaderEpoch(2), Offset(50)), "an inline append must wait");
            match first_write {
                "write_if_stale" => c.write_if_stale().unwrap(),
                _ => c.assign(LeaderEpoch(2), Offset(50)).unwrap(),
            }
            assert_eq!(file(dir.path()).0, "0\n2\n1 0\n2 50\n", "{first_write}");
            assert!(c.try_is_assigned(LeaderEpoch(2), Offset(50)));
        }
    }

    /// What loading dropped stays in the file only until the next write
    /// before an append, whatever that append's epoch: records written
    /// past a dropped entry's start must never be credited to it after a
    /// crash.
    #[test]
    fn a_load_time_truncation_is_written_before_the_first_append() {
        let dir = tempfile::tempdir().unwrap();
        cache_with(dir.path(), 100, &[(1, 0), (2, 40), (3, 100)]);
        let c = cache(dir.path(), 100);
        c.truncate_loaded(Offset(10), Offset(100));
        let want = [(1, 10), (2, 40)]
            .map(|(e, o)| EpochEntry { epoch: LeaderEpoch(e), start_offset: Offset(o) });
        assert_eq!(c.entries(), want);
        assert_eq!(file(dir.path()).0, "0\n3\n1 0\n2 40\n3 100\n", "not written at load");
        assert_eq!(cache(dir.path(), 100).entries().len(), 3, "a crash now changes nothing");
        c.write_if_stale().unwrap();
        assert_eq!(file(dir.path()).0, "0\n2\n1 10\n2 40\n");
        let inode = file(dir.path()).1;
        c.write_if_stale().unwrap();
        assert_eq!(file(dir.path()).1, inode, "written once");
    }
}
