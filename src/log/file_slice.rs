//! A region of a segment file: what a read returns and what the network
//! layer hands to `sendfile`. The log never copies record bytes for a read.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

/// Whole batches in `file` from `position`, `len` bytes long.
///
/// The file stays valid while the slice lives, even if the segment is
/// deleted meanwhile (the open handle keeps the inode). A truncation racing
/// with the read can shorten the file under the slice; a sender must treat
/// a short `sendfile` as the end of the data.
#[derive(Clone, Debug)]
pub struct FileSlice {
    pub file: Arc<File>,
    pub position: u64,
    pub len: usize,
}

impl FileSlice {
    /// Whether every page of the slice is in the page cache (`None` when
    /// the kernel cannot tell), so `sendfile` of it cannot wait for the
    /// disk.
    pub fn cached(&self) -> Option<bool> {
        super::mmap::range_cached(&self.file, self.position, self.len as u64)
    }

    /// Brings the slice into the page cache, waiting for the disk: one
    /// read-ahead request for the whole range, then one byte read per page
    /// to wait until each has arrived (no record bytes are copied out).
    /// Off the reactor only.
    pub fn load_into_cache(&self) -> std::io::Result<()> {
        if self.cached() == Some(true) {
            return Ok(());
        }
        let len = std::num::NonZeroU64::new(self.len as u64);
        let advice = rustix::fs::Advice::WillNeed;
        // Advice is a hint; the reads below do the work without it.
        let _ = rustix::fs::fadvise(&*self.file, self.position, len, advice);
        let page = rustix::param::page_size() as u64;
        let end = self.position + self.len as u64;
        let mut at = self.position;
        let mut byte = [0u8; 1];
        while at < end {
            if self.file.read_at(&mut byte, at)? == 0 {
                break; // truncated meanwhile: the sender sees the short file
            }
            at = (at / page + 1) * page;
        }
        Ok(())
    }

    /// Copies the bytes into memory: for tools and tests, not the fetch path.
    pub fn read_to_vec(&self) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; self.len];
        self.file.read_exact_at(&mut buf, self.position)?;
        Ok(buf)
    }
}
