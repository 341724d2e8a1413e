//! The ZooKeeper server's errors: what an operator sees when it cannot
//! start or must stop. Client mistakes are not errors here; they are
//! ZooKeeper error codes in replies.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {}", path.display(), os_error(source))]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is corrupt at byte {offset}: {reason}")]
    Corrupt { path: PathBuf, offset: u64, reason: String },
    #[error("replaying the transaction log: {0}")]
    Replay(#[from] super::data_tree::ApplyError),
    #[error(transparent)]
    Config(#[from] crate::config::Error),
    /// A task of the server panicked or was cancelled: a bug, not a
    /// disk failure, and the server stops rather than guess its state.
    #[error("the {task} task failed, the server stopped: {source}")]
    TaskFailed { task: &'static str, source: tokio::task::JoinError },
    /// After a failed write the log was replayed to the last zxid known to
    /// be durable, and it ended elsewhere: a write thought lost is on disk,
    /// or one thought durable is not.
    #[error("the transaction log failed, the server stopped: the log holds zxid {found:#x}, not the durable {durable:#x}")]
    LogDiverged { durable: i64, found: i64 },
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}

/// An I/O error with the errno name an operator greps for (`ENOSPC: No
/// space left on device (os error 28)`).
fn os_error(e: &std::io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(28) => "ENOSPC",
        Some(122) => "EDQUOT",
        Some(5) => "EIO",
        Some(30) => "EROFS",
        Some(13) => "EACCES",
        Some(1) => "EPERM",
        Some(2) => "ENOENT",
        Some(27) => "EFBIG",
        Some(24) => "EMFILE",
        Some(20) => "ENOTDIR",
        Some(21) => "EISDIR",
        _ => return e.to_string(),
    };
    format!("{name}: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_name_the_file_and_the_errno() {
        let e = Error::io("/d/log.1", std::io::Error::from_raw_os_error(28));
        assert_eq!(e.to_string(), "/d/log.1: ENOSPC: No space left on device (os error 28)");
        let e = Error::io("/d", std::io::Error::other("locked"));
        assert_eq!(e.to_string(), "/d: locked");
    }

    #[test]
    fn a_diverged_log_names_both_zxids() {
        let e = Error::LogDiverged { durable: 0x1_0000_0005, found: 0x1_0000_0003 };
        assert_eq!(
            e.to_string(),
            "the transaction log failed, the server stopped: the log holds zxid 0x100000003, not the durable 0x100000005"
        );
    }
}
