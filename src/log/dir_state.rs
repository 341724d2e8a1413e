//! A log dir's health, shared by every log in it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::{error, flusher, Error};

/// A log directory's health, shared by all its logs: the first storage
/// failure takes it offline for good (Kafka's `LogDirFailureChannel`). A
/// full disk does not: the write that found it full fails, reads go on,
/// and writes work again once space is freed.
#[derive(Debug)]
pub struct LogDirState {
    pub(super) dir: PathBuf,
    offline: AtomicBool,
    /// A write failed for lack of space and none has succeeded since; only
    /// the first failure and the recovery are logged.
    out_of_space: AtomicBool,
    /// Flushes the segments its logs roll away from.
    pub(super) flusher: flusher::Flusher,
}

impl LogDirState {
    pub fn new(dir: &Path) -> Arc<Self> {
        Arc::new(Self {
            dir: dir.to_path_buf(),
            offline: AtomicBool::new(false),
            out_of_space: AtomicBool::new(false),
            flusher: Default::default(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
    }

    pub fn mark_offline(&self, cause: &Error) {
        if !self.offline.swap(true, Ordering::AcqRel) {
            tracing::error!(
                "log dir {} is offline after an I/O error: {cause}",
                self.dir.display()
            );
        }
    }

    /// Takes the dir offline for a storage failure; notes a full disk.
    pub fn record_error(&self, e: &Error) {
        match e {
            Error::Io { source, .. } if error::is_out_of_space(source) => self.out_of_space(e),
            Error::Io { .. } => self.mark_offline(e),
            _ => {}
        }
    }

    fn out_of_space(&self, e: &Error) {
        if !self.out_of_space.swap(true, Ordering::AcqRel) {
            tracing::error!(
                "{e}; writes to log dir {} fail until space is freed, reads go on",
                self.dir.display()
            );
        }
    }

    /// A write succeeded: the dir has space again, if it had none.
    pub fn record_write(&self) {
        if self.out_of_space.load(Ordering::Relaxed)
            && self.out_of_space.swap(false, Ordering::AcqRel)
        {
            tracing::info!("log dir {} takes writes again", self.dir.display());
        }
    }
}
