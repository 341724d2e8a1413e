//! Snapshots: the whole tree and the session table at one zxid, in
//! `snapshot.<zxid, hex>` in dataDir. The processor serializes the tree
//! between two transactions (so a snapshot is exact, not fuzzy); another
//! thread writes it to a temporary file, fsyncs and renames it.
//!
//! Format: magic `KRZS`, u32 version, i64 zxid, sessions, ACL lists, nodes
//! (path, data, ACL index, persisted stat), then a u32 crc32c of all that.
//! A snapshot whose CRC fails is skipped for an older one plus more log.

use std::path::{Path, PathBuf};

use super::data_tree::{DataTree, Node, NodeStat};
use super::proto::{Acl, DecodeError, Reader, Writer};
use super::session::SessionTracker;
use super::txn_log::{list, sync_dir};
use super::{Config, Error};

const MAGIC: &[u8; 4] = b"KRZS";
const VERSION: u32 = 1;

/// A saved session: id, timeout, password.
pub type SavedSession = (i64, i32, [u8; 16]);

pub fn serialize(tree: &DataTree, sessions: &SessionTracker) -> Vec<u8> {
    let mut w = Writer::new();
    w.buf.extend_from_slice(MAGIC);
    w.buf.extend_from_slice(&VERSION.to_be_bytes());
    w.i64(tree.last_zxid);
    let live: Vec<_> = sessions.iter().filter(|s| !s.closing).collect();
    w.i32(live.len() as i32);
    for s in live {
        w.i64(s.id).i32(s.timeout_ms).buffer(&s.password);
    }
    let lists = tree.acls.lists();
    w.i32(lists.len() as i32);
    for l in lists {
        Acl::write_acls(&mut w, l);
    }
    w.i32(tree.node_count() as i32);
    for (p, n) in tree.nodes() {
        let s = &n.stat;
        w.string(p).data(&n.data).i32(n.acl as i32);
        w.i64(s.czxid).i64(s.mzxid).i64(s.ctime).i64(s.mtime);
        w.i32(s.version).i32(s.cversion).i32(s.aversion).i64(s.ephemeral_owner).i64(s.pzxid);
    }
    let crc = crc32c::crc32c(&w.buf);
    w.buf.extend_from_slice(&crc.to_be_bytes());
    w.buf
}

pub fn deserialize(bytes: &[u8]) -> Result<(DataTree, Vec<SavedSession>), DecodeError> {
    let body_len = bytes.len().checked_sub(4).ok_or(DecodeError::Truncated)?;
    let (body, crc) = bytes.split_at(body_len);
    if crc32c::crc32c(body).to_be_bytes() != crc {
        return Err(DecodeError::Invalid("snapshot CRC mismatch"));
    }
    if body.len() < 8 || &body[..4] != MAGIC {
        return Err(DecodeError::Invalid("not a snapshot"));
    }
    let mut r = Reader::new(&body[8..]);
    let mut tree = DataTree::empty();
    tree.last_zxid = r.i64()?;
    let mut sessions = Vec::new();
    for _ in 0..r.count(16)? {
        let id = r.i64()?;
        let timeout = r.i32()?;
        let pw = r.buffer()?.try_into().map_err(|_| DecodeError::Invalid("password length"))?;
        sessions.push((id, timeout, pw));
    }
    for _ in 0..r.count(4)? {
        let l = Acl::read_acls(&mut r)?;
        tree.acls.intern(&l);
    }
    for _ in 0..r.count(8)? {
        let p = r.string()?;
        let data = r.data()?;
        let acl = r.i32()? as u32;
        let stat = NodeStat {
            czxid: r.i64()?,
            mzxid: r.i64()?,
            ctime: r.i64()?,
            mtime: r.i64()?,
            version: r.i32()?,
            cversion: r.i32()?,
            aversion: r.i32()?,
            ephemeral_owner: r.i64()?,
            pzxid: r.i64()?,
        };
        tree.restore_node(&p, Node { data, acl, stat, children: Default::default() });
    }
    tree.relink();
    Ok((tree, sessions))
}

/// Writes a serialized snapshot durably (temp file, fsync, rename, fsync
/// dir), then keeps only the newest `retain` snapshots and the logs they need.
pub fn write(
    data_dir: &Path,
    log_dir: &Path,
    zxid: i64,
    bytes: &[u8],
    retain: usize,
) -> Result<(), Error> {
    let path = data_dir.join(format!("snapshot.{zxid:x}"));
    let tmp = data_dir.join(format!(".snapshot.{zxid:x}.tmp"));
    let written = std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|_| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        // On a full disk the partial file would hold space the log needs.
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(&tmp, e));
    }
    sync_dir(data_dir)?;
    purge(data_dir, log_dir, retain)
}

/// Writes a serialized snapshot on its own thread; a failure is logged, the
/// transaction log still holds everything in it.
pub fn write_in_background(cfg: &Config, zxid: i64, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
    let (data_dir, log_dir, retain) =
        (cfg.data_dir.clone(), cfg.data_log_dir.clone(), cfg.snap_retain_count);
    std::thread::spawn(move || {
        if let Err(e) = write(&data_dir, &log_dir, zxid, &bytes, retain) {
            tracing::error!(error = %e, "snapshot failed; the transaction log still has everything");
        }
    })
}

/// ZooKeeper's `PurgeTxnLog`: keeps the newest `retain` snapshots and every
/// log file that may hold a transaction after the oldest of them.
pub fn purge(data_dir: &Path, log_dir: &Path, retain: usize) -> Result<(), Error> {
    let retain = retain.max(1);
    let snaps = list(data_dir, "snapshot.")?;
    if snaps.len() <= retain {
        return Ok(());
    }
    let oldest_kept = snaps[snaps.len() - retain].0;
    for (_, p) in &snaps[..snaps.len() - retain] {
        let _ = std::fs::remove_file(p);
    }
    // A log file is needed if it may hold a zxid after the oldest kept
    // snapshot: keep the last file starting at or before it, and all later.
    let logs = list(log_dir, "log.")?;
    let keep_from = logs.iter().rposition(|(start, _)| *start <= oldest_kept + 1).unwrap_or(0);
    for (_, p) in &logs[..keep_from] {
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}

/// Removes the snapshot and log temp files a crash left before their rename.
pub fn remove_partial(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let ours = name.starts_with(".snapshot.") || name.starts_with(".log.");
        if ours && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The newest snapshot that reads back whole, if any.
pub fn load_latest(
    data_dir: &Path,
) -> Result<Option<(PathBuf, DataTree, Vec<SavedSession>)>, Error> {
    for (_, path) in list(data_dir, "snapshot.")?.into_iter().rev() {
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        match deserialize(&bytes) {
            Ok((tree, sessions)) => return Ok(Some((path, tree, sessions))),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "skipping unreadable snapshot")
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::proto::Data;
    use crate::zk::txn::{Txn, TxnHeader};

    #[test]
    fn a_failed_write_leaves_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        // A directory in the way makes the rename fail after the data is written.
        std::fs::create_dir_all(dir.path().join("snapshot.7/x")).unwrap();
        let e = write(dir.path(), dir.path(), 7, b"bytes", 3).unwrap_err();
        assert!(e.to_string().contains(".snapshot.7.tmp"), "{e}");
        assert!(!dir.path().join(".snapshot.7.tmp").exists());
    }

    #[test]
    fn round_trip_keeps_stats_children_and_sessions() {
        let mut tree = DataTree::new();
        let mut ch = Vec::new();
        for (i, p) in ["/a", "/a/b", "/e"].iter().enumerate() {
            let owner = if *p == "/e" { 77 } else { 0 };
            let hdr = TxnHeader { session: 77, zxid: i as i64 + 1, time: 5 };
            let t = Txn::Create {
                path: p.to_string(),
                // Null must come back null, not as the empty bytes.
                data: if *p == "/e" { Data::NULL } else { b"x".to_vec().into() },
                acl: Acl::world_all(),
                ephemeral_owner: owner,
            };
            tree.apply(&hdr, &t, &mut ch, None).unwrap();
        }
        let mut sessions = SessionTracker::new(0);
        sessions.add(77, 4000, [3; 16], 0);
        let bytes = serialize(&tree, &sessions);
        let (back, saved) = deserialize(&bytes).unwrap();
        assert_eq!(saved, vec![(77, 4000, [3; 16])]);
        assert_eq!(back.last_zxid, 3);
        for p in ["/", "/a", "/a/b", "/e", "/zookeeper"] {
            assert_eq!(back.get(p).unwrap().stat(), tree.get(p).unwrap().stat(), "{p}");
            assert_eq!(back.get(p).unwrap().data, tree.get(p).unwrap().data, "{p}");
        }
        assert_eq!(back.ephemerals_of(77).collect::<Vec<_>>(), vec!["/e"]);
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert!(deserialize(&bad).is_err(), "a flipped bit is caught by the CRC");
    }
}
