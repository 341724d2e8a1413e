//! The only unsafe code in the log: memory maps of index files, viewed as
//! arrays of atomic 32-bit words so that the single writer can add entries
//! while readers binary-search the same pages without a data race.
//!
//! Entries are stored big-endian (Kafka's format); callers convert each
//! word with `u32::from_be`.

use std::fs::File;
use std::sync::atomic::AtomicU32;

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

    /// Writes dirty pages back to the file (msync).
    pub fn flush(&self) -> std::io::Result<()> {
        match &self.map {
            Some(map) => map.flush(),
            None => Ok(()),
        }
    }
}
