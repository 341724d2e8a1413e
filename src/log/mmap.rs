//! The only unsafe code in the log: memory maps of index files, viewed as
//! arrays of atomic 32-bit words so that the single writer can add entries
//! while readers binary-search the same pages without a data race; and the
//! `cachestat(2)` and `mincore(2)` queries that tell a reader whether a
//! file range or a mapped range is in the page cache.
//!
//! Entries are stored big-endian (Kafka's format); callers convert each
//! word with `u32::from_be`.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use memmap2::MmapMut;

/// A read-write map of a whole file, or nothing for an empty file (a
/// zero-length map is not allowed).
pub struct MappedFile {
    map: Option<MmapMut>,
}

impl MappedFile {
    /// No mapping (while a file is being resized).
    pub fn empty() -> Self {
        Self { map: None }
    }

    /// Maps `file`'s current length.
    pub fn map(file: &File) -> std::io::Result<Self> {
        let len = file.metadata()?.len();
        if len == 0 {
            return Ok(Self { map: None });
        }
        // SAFETY: the file is one of our own index files, opened read-write
        // by this process, and no other process modifies it while the log
        // is open (a log dir is owned by one broker). Its length is only
        // changed through `MappedFile` owners, which drop and re-create the
        // map around every `set_len` (see `IndexFile::resize`), so the map
        // never outlives the file range it covers.
        let map = unsafe { MmapMut::map_mut(file)? };
        // An index is read by binary search and written a word at a time:
        // without this, the first write into each page of a sparse index
        // made the kernel read ahead (zero-fill and charge) a large run of
        // pages around it, and with thousands of partitions appending,
        // those faults were nearly all of the broker's CPU. A refused
        // hint changes no result.
        let _ = map.advise(memmap2::Advice::Random);
        Ok(Self { map: Some(map) })
    }

    /// The mapped bytes as 32-bit words (the trailing partial word, if any,
    /// is not exposed).
    pub fn words(&self) -> &[AtomicU32] {
        match &self.map {
            None => &[],
            Some(map) => {
                let ptr = map.as_ptr();
                debug_assert_eq!(ptr as usize % std::mem::align_of::<AtomicU32>(), 0);
                // SAFETY: the map starts on a page boundary, so it is aligned
                // for `AtomicU32`, and `len / 4` words lie inside it. The
                // slice borrows `self`, so it cannot outlive the map.
                // `AtomicU32` has the layout of `u32` and may be accessed
                // through a shared reference concurrently; no `&mut [u8]` to
                // the map is ever created (we never call `deref_mut`), so
                // every access goes through these atomics.
                unsafe { std::slice::from_raw_parts(ptr.cast::<AtomicU32>(), map.len() / 4) }
            }
        }
    }

    /// Whether the pages holding the first `len` bytes of the map are in
    /// the page cache (`None` when the kernel cannot tell). The map is
    /// asked, not the file: index files keep no descriptor open.
    pub fn resident(&self, len: usize) -> Option<bool> {
        let Some(map) = &self.map else { return Some(true) };
        let len = len.min(map.len());
        let page = rustix::param::page_size();
        // A fixed buffer, a chunk of pages at a time: an index's length
        // must not size an allocation on the read path.
        let mut status = [0u8; 256];
        let mut start = 0;
        while start < len {
            let chunk = (len - start).min(status.len() * page);
            // SAFETY: `start` is a multiple of the page size inside the map
            // (which begins on a page boundary) and `start + chunk` does not
            // pass its end, so the range lies in memory this map owns for
            // the call; mincore writes one byte per page of it, at most
            // `status.len()`.
            let rc = unsafe {
                libc::mincore(
                    map.as_ptr().add(start) as *mut libc::c_void,
                    chunk,
                    status.as_mut_ptr(),
                )
            };
            if rc != 0 {
                return None;
            }
            if status[..chunk.div_ceil(page)].iter().any(|b| b & 1 == 0) {
                return Some(false);
            }
            start += chunk;
        }
        Some(true)
    }

    /// Writes dirty pages back to the file (msync).
    pub fn flush(&self) -> std::io::Result<()> {
        match &self.map {
            Some(map) => map.flush(),
            None => Ok(()),
        }
    }
}

/// `cachestat(2)`'s number: 451 on every architecture (system calls added
/// since Linux 5.1 share one table), which the libc crate does not yet
/// name on all of them.
const SYS_CACHESTAT: libc::c_long = 451;

/// Cleared once the kernel refuses `cachestat` (before Linux 6.5, or a
/// seccomp filter), so that later reads do not ask again.
static CACHESTAT_WORKS: AtomicBool = AtomicBool::new(true);

#[repr(C)]
struct CachestatRange {
    off: u64,
    len: u64,
}

#[repr(C)]
#[derive(Default)]
struct Cachestat {
    nr_cache: u64,
    nr_dirty: u64,
    nr_writeback: u64,
    nr_evicted: u64,
    nr_recently_evicted: u64,
}

/// Whether every page of `file` holding bytes `offset..offset + len` is in
/// the page cache, so that reading or sending them cannot wait for the
/// disk; `None` when the kernel cannot say. One system call, whatever the
/// length: the kernel counts cached pages, no page is touched or mapped.
pub fn range_cached(file: &File, offset: u64, len: u64) -> Option<bool> {
    if len == 0 {
        return Some(true);
    }
    if !CACHESTAT_WORKS.load(Ordering::Relaxed) {
        return None;
    }
    let page = rustix::param::page_size() as u64;
    let first = offset / page;
    let last = offset.checked_add(len - 1)? / page;
    let range = CachestatRange { off: offset, len };
    let mut stat = Cachestat::default();
    // SAFETY: cachestat reads `range` and writes one `Cachestat`, both live
    // for the call and laid out as the kernel's `cachestat_range` and
    // `cachestat` (u64 fields, repr(C)); the descriptor is borrowed from
    // `file`, which outlives the call; flags must be 0.
    let rc = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            file.as_raw_fd(),
            &range as *const CachestatRange,
            &mut stat as *mut Cachestat,
            0u32,
        )
    };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM | libc::EOPNOTSUPP)) {
            CACHESTAT_WORKS.store(false, Ordering::Relaxed);
        }
        return None;
    }
    Some(stat.nr_cache > last - first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_range_dropped_from_the_page_cache_is_reported_cold() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg");
        let mut f = File::create(&path).unwrap();
        f.write_all(&vec![7u8; 1 << 20]).unwrap();
        f.sync_all().unwrap();
        let f = File::open(&path).unwrap();
        let Some(cached) = range_cached(&f, 0, 1 << 20) else {
            eprintln!("skipping: this kernel has no cachestat");
            return;
        };
        assert!(cached, "just written");
        assert_eq!(range_cached(&f, 5, 0), Some(true), "an empty range needs nothing");
        rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        // DONTNEED can keep a page another process maps; most must go.
        assert_eq!(range_cached(&f, 4096, 512 << 10), Some(false));
        let mut b = [0u8; 1];
        std::os::unix::fs::FileExt::read_exact_at(&f, &mut b, 4096).unwrap();
        assert_eq!(range_cached(&f, 4096, 1), Some(true), "read back in");
        assert_eq!(range_cached(&f, 4095, 2), Some(false), "one of two pages");
    }

    /// A first write into a sparse index brings in its own page, not a
    /// read-ahead run: with thousands of partitions appending, those runs
    /// were nearly all of the broker's CPU.
    #[test]
    fn a_write_into_a_sparse_index_faults_in_one_page() {
        let dir = tempfile::tempdir().unwrap();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("0.index"))
            .unwrap();
        let page = rustix::param::page_size();
        f.set_len(64 * page as u64).unwrap();
        let map = MappedFile::map(&f).unwrap();
        let words_per_page = page / 4;
        map.words()[16 * words_per_page].store(7, Ordering::Relaxed);
        let resident: Vec<usize> = (0..64)
            .filter(|&k| {
                let range = k * page..(k + 1) * page;
                let sub = &map.words()[range.start / 4..range.end / 4];
                let mut status = 0u8;
                // SAFETY: `sub` is one whole page of the live map.
                let rc =
                    unsafe { libc::mincore(sub.as_ptr() as *mut libc::c_void, page, &mut status) };
                assert_eq!(rc, 0);
                status & 1 == 1
            })
            .collect();
        assert_eq!(resident, [16], "pages in the page cache after one write");
    }
}
