//! `meta.properties` in each log dir, as Kafka writes it: the broker id and
//! cluster id the directory belongs to, so a log dir is never silently
//! served by another broker or cluster.

use std::path::Path;

use super::Error;
use crate::config::Properties;

pub const FILE_NAME: &str = "meta.properties";

/// The broker id stored in any of the log dirs, for `broker.id=-1`: a
/// broker keeps the id it was generated the first time.
pub fn stored_broker_id(dirs: &[std::path::PathBuf]) -> Option<i32> {
    dirs.iter().find_map(|d| {
        let text = std::fs::read_to_string(d.join(FILE_NAME)).ok()?;
        Properties::parse(&text).get("broker.id")?.trim().parse().ok()
    })
}

/// Checks `dir/meta.properties` against this broker and cluster, writing it
/// when absent. Kafka refuses to start on a mismatch; so do we.
pub fn check_or_write(dir: &Path, broker_id: i32, cluster_id: &str) -> Result<(), Error> {
    let path = dir.join(FILE_NAME);
    let io = |source| Error::Io { path: path.clone(), source };
    std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let p = Properties::parse(&text);
            if let Some(stored) = p.get("broker.id") {
                if stored.trim() != broker_id.to_string() {
                    return Err(Error::MetaProperties {
                        path,
                        reason: format!("Configured broker.id {broker_id} doesn't match stored broker.id {stored} in meta.properties"),
                    });
                }
            }
            if let Some(stored) = p.get("cluster.id") {
                if stored.trim() != cluster_id {
                    return Err(Error::MetaProperties {
                        path,
                        reason: format!("The Cluster ID {cluster_id} doesn't match stored clusterId {stored} in meta.properties"),
                    });
                }
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let text = format!(
                "#\n#{}\nversion=0\nbroker.id={broker_id}\ncluster.id={cluster_id}\n",
                crate::time::now_ms()
            );
            let tmp = path.with_extension("properties.tmp");
            std::fs::write(&tmp, text).map_err(io)?;
            std::fs::rename(&tmp, &path).map_err(io)
        }
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_once_then_enforced() {
        let dir = tempfile::tempdir().unwrap();
        check_or_write(dir.path(), 1, "abc").unwrap();
        check_or_write(dir.path(), 1, "abc").expect("same broker and cluster reopen the dir");
        let err = check_or_write(dir.path(), 2, "abc").unwrap_err().to_string();
        assert!(err.contains("doesn't match stored broker.id 1"), "{err}");
        let err = check_or_write(dir.path(), 1, "xyz").unwrap_err().to_string();
        assert!(err.contains("Cluster ID"), "{err}");
    }
}
