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
    /// Copies the bytes into memory: for tools and tests, not the fetch path.
    pub fn read_to_vec(&self) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; self.len];
        self.file.read_exact_at(&mut buf, self.position)?;
        Ok(buf)
    }
}
