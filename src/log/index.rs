//! What the offset and time indexes share: a preallocated file of
//! fixed-size big-endian entries, memory-mapped, with an entry count that
//! the writer publishes after writing an entry so readers never see a
//! half-written one.
//!
//! The file is not kept open: the map stays valid without its descriptor,
//! and the few operations that need one (reserving blocks, resizing,
//! fsync) open the file by path for the call. A broker with 10,000
//! partitions would otherwise hold 20,000 index descriptors besides the
//! 10,000 logs, past common `ulimit -n` limits.
//!
//! An index that is empty on disk (the active segment of every idle
//! partition after a clean shutdown) is neither grown nor mapped when it is
//! opened, only before its first entry is stored: a broker with 10,000
//! idle partitions would otherwise spend most of its start-up in 20,000
//! `ftruncate`s and `mmap`s, and its shutdown trimming them back.
//!
//! Lock order: the map's `RwLock` is taken last (after the log's writer
//! lock and segment list). Lookups and appends take it shared and only for
//! the memory access; `resize` (roll, truncate, close) takes it exclusively.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};

use super::mmap::MappedFile;
use super::Error;
use crate::sync::{MutexExt, RwLockExt};

pub(crate) struct IndexFile {
    path: Mutex<PathBuf>,
    map: RwLock<MappedFile>,
    /// The file is empty on disk and unmapped, though `capacity` may say
    /// otherwise: it is grown and mapped before the first entry is stored
    /// (see [`IndexFile::undefer`]). Only while no entry exists.
    deferred: AtomicBool,
    /// Entries that hold data; readers only look below this.
    entries: AtomicUsize,
    /// Entries the current file length allows.
    capacity: AtomicUsize,
    /// Bytes from the start known to be backed by disk blocks; see
    /// [`IndexFile::reserve`].
    reserved: AtomicUsize,
    words_per_entry: usize,
}

impl IndexFile {
    /// Opens (or creates) `path` and maps it, grown to `max_bytes` (rounded
    /// down to whole entries) if that is larger. Every whole entry already
    /// in the file counts; the caller's sanity check decides whether to
    /// trust them. An empty file is left as it is until its first entry.
    pub fn open(path: &Path, entry_size: usize, max_bytes: u64) -> Result<Self, Error> {
        let len = match std::fs::metadata(path) {
            Ok(m) => Some(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(path)(e)),
        };
        let existing = len.unwrap_or(0) as usize / entry_size;
        let cap = (max_bytes as usize / entry_size).max(existing);
        let index = Self {
            path: Mutex::new(path.to_path_buf()),
            map: RwLock::new(MappedFile::empty()),
            deferred: AtomicBool::new(false),
            entries: AtomicUsize::new(existing),
            capacity: AtomicUsize::new(0),
            reserved: AtomicUsize::new(existing * entry_size),
            words_per_entry: entry_size / 4,
        };
        match len {
            Some(0) | None => {
                if len.is_none() {
                    // Created now, as Kafka does: a segment's three files
                    // exist together, and are renamed and deleted together.
                    index.open_file_creating(path).map_err(Error::io(path))?;
                }
                index.capacity.store(cap, Ordering::Release);
                index.deferred.store(true, Ordering::Release);
            }
            Some(len) => {
                let file = index.open_file(path).map_err(Error::io(path))?;
                if len == (cap * entry_size) as u64 {
                    // Already the right length (a trimmed index reopened):
                    // no `ftruncate`, which would dirty the inode anyway.
                    index.map_file(&file, path, cap)?;
                } else {
                    index.resize_file(&file, path, cap)?;
                }
            }
        }
        Ok(index)
    }

    /// The file, opened for one operation.
    fn open_file(&self, path: &Path) -> std::io::Result<File> {
        OpenOptions::new().read(true).write(true).open(path)
    }

    fn open_file_creating(&self, path: &Path) -> std::io::Result<File> {
        OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)
    }

    /// Grows and maps a file left empty at open, before an entry is
    /// stored in it. Only the log's writer stores entries, so two callers
    /// never race here.
    fn undefer(&self) -> Result<(), Error> {
        if !self.deferred.load(Ordering::Acquire) {
            return Ok(());
        }
        let path = self.path();
        let file = self.open_file_creating(&path).map_err(Error::io(&path))?;
        self.resize_file(&file, &path, self.capacity.load(Ordering::Acquire))
    }

    pub fn path(&self) -> PathBuf {
        self.path.lock_or_recover().clone()
    }

    pub fn entries(&self) -> usize {
        self.entries.load(Ordering::Acquire)
    }

    pub fn is_full(&self) -> bool {
        self.entries() >= self.capacity.load(Ordering::Acquire)
    }

    fn entry_size(&self) -> usize {
        self.words_per_entry * 4
    }

    /// Reads entry `n` (< entries) as host-order words.
    pub fn read<const W: usize>(&self, n: usize) -> [u32; W] {
        let map = self.map.read_or_recover();
        read_words(map.words(), n)
    }

    /// Whether the pages holding entries are all in the page cache (`None`
    /// when the kernel cannot tell).
    pub fn cached(&self) -> Option<bool> {
        let len = self.entries().saturating_mul(self.entry_size());
        self.map.read_or_recover().resident(len)
    }

    /// Binary search: the last entry for which `le` holds (and that entry),
    /// assuming `le` is true for a prefix of the entries.
    pub fn floor<const W: usize>(
        &self,
        le: impl Fn([u32; W]) -> bool,
    ) -> Option<(usize, [u32; W])> {
        let map = self.map.read_or_recover();
        let words = map.words();
        let (mut lo, mut hi) = (0usize, self.entries());
        // Invariant: entries below lo satisfy `le`; entries at or above hi don't.
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if le(read_words(words, mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let n = lo.checked_sub(1)?;
        Some((n, read_words(words, n)))
    }

    /// Backs the next `n` entries with disk blocks before they are stored.
    /// The file is sparse and written through a memory map, where a store
    /// to a page the file system cannot allocate (a full disk) kills the
    /// process with SIGBUS; reserving first turns that into ENOSPC here.
    /// Space is reserved in chunks, so this is a syscall every few thousand
    /// entries.
    pub fn reserve(&self, n: usize) -> Result<(), Error> {
        const CHUNK: usize = 64 * 1024;
        let (need, len) = self.space_for(n);
        if need > 0 {
            self.undefer()?;
        }
        let reserved = self.reserved.load(Ordering::Acquire);
        if need <= reserved {
            return Ok(());
        }
        let to = need.div_ceil(CHUNK).saturating_mul(CHUNK).min(len);
        let path = self.path();
        let file = self.open_file(&path).map_err(Error::io(&path))?;
        let flags = rustix::fs::FallocateFlags::empty();
        match rustix::fs::fallocate(&file, flags, reserved as u64, (to - reserved) as u64) {
            Ok(()) => {}
            // Nothing to reserve with: the file system decides at the store,
            // as it did before.
            Err(rustix::io::Errno::OPNOTSUPP) => {}
            Err(e) => return Err(Error::io(path)(e.into())),
        }
        self.reserved.store(to, Ordering::Release);
        Ok(())
    }

    /// Whether the next `n` entries fit in blocks already reserved, so that
    /// [`Self::reserve`] makes no syscall for them.
    pub fn is_reserved(&self, n: usize) -> bool {
        self.space_for(n).0 <= self.reserved.load(Ordering::Acquire)
    }

    /// Bytes the file needs for `n` more entries, and its mapped length.
    fn space_for(&self, n: usize) -> (usize, usize) {
        let len = self.capacity.load(Ordering::Acquire) * self.entry_size();
        (self.entries().saturating_add(n).saturating_mul(self.entry_size()).min(len), len)
    }

    /// Appends one entry; false when the index is full, or when no disk
    /// space could be reserved for it (an index is sparse: a missing entry
    /// costs a longer scan, never a wrong answer).
    pub fn append<const W: usize>(&self, entry: [u32; W]) -> bool {
        let n = self.entries();
        if n >= self.capacity.load(Ordering::Acquire) || self.reserve(1).is_err() {
            return false;
        }
        let map = self.map.read_or_recover();
        let words = map.words();
        for (i, w) in entry.iter().enumerate() {
            if let Some(a) = words.get(n * W + i) {
                a.store(w.to_be(), Ordering::Relaxed);
            }
        }
        self.entries.store(n + 1, Ordering::Release);
        true
    }

    /// Forgets entries from `n` on. Their bytes stay until overwritten:
    /// an index is trimmed to its entries on roll and close, and an index
    /// left untrimmed by a crash is rebuilt or fails the sanity check.
    pub fn truncate_entries(&self, n: usize) {
        if n < self.entries() {
            self.entries.store(n, Ordering::Release);
        }
    }

    /// Sets the file to hold `capacity` entries and maps it again (a file
    /// still empty on disk only takes the new capacity).
    pub fn resize(&self, capacity: usize) -> Result<(), Error> {
        if self.deferred.load(Ordering::Acquire) {
            self.capacity.store(capacity, Ordering::Release);
            return Ok(());
        }
        let path = self.path();
        let file = self.open_file(&path).map_err(Error::io(&path))?;
        self.resize_file(&file, &path, capacity)
    }

    fn resize_file(&self, file: &File, path: &Path, capacity: usize) -> Result<(), Error> {
        let mut map = self.map.write_or_recover();
        *map = MappedFile::empty();
        let capacity = capacity.max(self.entries());
        let len = capacity * self.entry_size();
        file.set_len(len as u64).map_err(Error::io(path))?;
        *map = MappedFile::map(file).map_err(Error::io(path))?;
        self.capacity.store(capacity, Ordering::Release);
        self.reserved.fetch_min(len, Ordering::AcqRel);
        self.deferred.store(false, Ordering::Release);
        Ok(())
    }

    /// Maps `file`, whose length already holds `capacity` entries.
    fn map_file(&self, file: &File, path: &Path, capacity: usize) -> Result<(), Error> {
        *self.map.write_or_recover() = MappedFile::map(file).map_err(Error::io(path))?;
        self.capacity.store(capacity, Ordering::Release);
        Ok(())
    }

    /// Cuts the file to the entries in use (an inactive segment's index).
    pub fn trim(&self) -> Result<(), Error> {
        self.resize(self.entries())
    }

    pub fn flush(&self) -> Result<(), Error> {
        if self.deferred.load(Ordering::Acquire) {
            // Nothing was ever written to it.
            return Ok(());
        }
        let path = self.path();
        self.map.read_or_recover().flush().map_err(Error::io(&path))?;
        match self.open_file(&path) {
            Ok(file) => file.sync_all().map_err(Error::io(&path)),
            // Removed by a deletion that raced this flush (retention, or
            // the cleaner's swap): nothing of it needs to last.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&path)(e)),
        }
    }

    pub fn rename(&self, to: &Path) -> Result<(), Error> {
        let mut path = self.path.lock_or_recover();
        std::fs::rename(&*path, to).map_err(Error::io(&*path))?;
        *path = to.to_path_buf();
        Ok(())
    }

    pub fn delete(&self) -> Result<(), Error> {
        let path = self.path();
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&path)(e)),
            _ => Ok(()),
        }
    }
}

fn read_words<const W: usize>(words: &[AtomicU32], n: usize) -> [u32; W] {
    let mut out = [0u32; W];
    for (i, w) in out.iter_mut().enumerate() {
        *w = words.get(n * W + i).map_or(0, |a| u32::from_be(a.load(Ordering::Relaxed)));
    }
    out
}

/// The sanity check both indexes share: every entry inside the segment and
/// each following the one before it.
pub(crate) fn check_entries<E: Copy + std::fmt::Debug>(
    entries: impl Iterator<Item = E>,
    inside: impl Fn(&E) -> bool,
    follows: impl Fn(&E, &E) -> bool,
) -> Result<(), String> {
    let mut prev: Option<E> = None;
    for (n, e) in entries.enumerate() {
        if !inside(&e) {
            return Err(format!("entry {n} ({e:?}) is outside the segment"));
        }
        if let Some(p) = prev.filter(|p| !follows(&e, p)) {
            return Err(format!("entry {n} ({e:?}) does not follow {p:?}"));
        }
        prev = Some(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk_len(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().len()
    }

    /// An idle partition's empty index costs no `ftruncate` or `mmap` at
    /// open, resize, trim or flush; the first entry grows and maps it.
    #[test]
    fn an_empty_index_is_grown_and_mapped_only_for_its_first_entry() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("0.index");
        let index = IndexFile::open(&path, 8, 1 << 20).unwrap();
        assert_eq!(disk_len(&path), 0, "created, not grown");
        assert!(index.map.read_or_recover().words().is_empty(), "not mapped");
        assert_eq!(index.floor::<2>(|_| true), None);
        index.resize(1 << 10).unwrap();
        index.flush().unwrap();
        index.trim().unwrap();
        assert_eq!(disk_len(&path), 0, "resize, flush and trim leave it alone");
        assert!(!index.append([1, 2]), "trimmed to no entries: full");
        index.resize(1 << 10).unwrap();
        assert!(index.append([1, 2]));
        assert_eq!(disk_len(&path), 8 << 10, "grown before the first entry");
        assert!(index.append([3, 4]));
        index.trim().unwrap();
        assert_eq!(disk_len(&path), 16);
        drop(index);

        let reopened = IndexFile::open(&path, 8, 0).unwrap();
        assert_eq!(reopened.entries(), 2);
        assert_eq!(reopened.read::<2>(1), [3, 4]);
        assert_eq!(disk_len(&path), 16, "a trimmed index reopens at its length");
    }

    /// On a full tmpfs, a store to an index page that was never allocated
    /// raises SIGBUS, which would kill the whole broker. Needs root (mount).
    #[test]
    fn a_full_disk_refuses_index_entries_instead_of_raising_sigbus() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipping: mounting a tmpfs needs root");
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let mount = |args: &[&str]| {
            std::process::Command::new(args[0]).args(&args[1..]).arg(root.path()).output()
        };
        let out = mount(&["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs"]).unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        struct Unmount<'a>(&'a dyn Fn(&[&str]) -> std::io::Result<std::process::Output>);
        impl Drop for Unmount<'_> {
            fn drop(&mut self) {
                let _ = (self.0)(&["umount", "-l"]);
            }
        }
        let _unmount = Unmount(&mount);
        // A sparse 1 MB index on a 256 KB disk, then a disk filled up.
        let index = IndexFile::open(&root.path().join("0.index"), 8, 1 << 20).unwrap();
        let mut ballast = std::fs::File::create(root.path().join("ballast")).unwrap();
        let chunk = vec![1u8; 4096];
        while std::io::Write::write_all(&mut ballast, &chunk).is_ok() {}
        let mut stored = 0usize;
        while index.append([stored as u32, 0]) {
            stored += 1;
            assert!(stored < 1 << 17, "a full disk took every entry");
        }
        let e = index.reserve(1).unwrap_err();
        assert!(e.to_string().contains("os error 28"), "{e}");
        drop(ballast);
        std::fs::remove_file(root.path().join("ballast")).unwrap();
        assert!(index.append([stored as u32, 0]), "entries are taken again once space returns");
        assert_eq!(index.read::<2>(stored), [stored as u32, 0]);
    }
}
