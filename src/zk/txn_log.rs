//! The transaction log: append-only files `log.<first zxid, hex>` in
//! dataLogDir, written and fsync'ed by one dedicated thread.
//!
//! File format: the magic `KRZL`, a u32 version, then records
//! `[u32 length][u32 crc32c(payload)][payload = TxnHeader + Txn]`.
//!
//! Crash assumptions: a crash can leave a torn or partly-written record only
//! at the end of the newest file (every earlier file was fsync'ed before a
//! newer one was created). Recovery stops at the first record whose length
//! or CRC does not hold and truncates the file there; nothing before it was
//! lost, and nothing after it was ever acknowledged, because a reply is only
//! sent once the fsync that covers its record has returned.
//!
//! A write or fsync that fails (a full disk) leaves the same kind of tail,
//! in a running server: [`TxnLog::truncate_to_durable`] cuts the file back
//! to where the last successful fsync ended, so the log can go on from
//! there once [`TxnLog::probe`] finds the disk writable again.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::proto::{Reader, Writer};
use super::txn::{Txn, TxnHeader};
use super::Error;

const MAGIC: &[u8; 4] = b"KRZL";
const VERSION: u32 = 1;
const HEADER_LEN: u64 = 8;

/// What [`TxnLog::probe`] writes: room for a typical batch, so a disk that
/// takes the probe is likely to take the next writes too.
const PROBE_LEN: usize = 64 * 1024;

/// Appends one record for `(hdr, txn)` to `out`.
pub fn encode_record(hdr: &TxnHeader, txn: &Txn, out: &mut Vec<u8>) {
    let mut w = Writer::new();
    hdr.encode(&mut w);
    txn.encode(&mut w);
    out.extend_from_slice(&(w.buf.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&w.buf).to_be_bytes());
    out.extend_from_slice(&w.buf);
}

fn file_name(zxid: i64) -> String {
    format!("log.{zxid:x}")
}

/// Log or snapshot files in `dir` with `prefix`, sorted by their zxid.
pub fn list(dir: &Path, prefix: &str) -> Result<Vec<(i64, PathBuf)>, Error> {
    let mut v = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(v),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(hex) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else { continue };
        if let Ok(z) = i64::from_str_radix(hex, 16) {
            v.push((z, entry.path()));
        }
    }
    v.sort();
    Ok(v)
}

/// Replays every record with zxid > `after` to `apply`, oldest first.
/// At start (`upto` is `None`) it truncates a torn tail of the newest file.
/// A running server rebuilding the state its last fsync covered passes
/// that zxid as `upto`: later records are ignored and no file is touched,
/// since the log thread owns them. Returns the last zxid applied.
pub fn replay(
    dir: &Path,
    after: i64,
    upto: Option<i64>,
    mut apply: impl FnMut(TxnHeader, Txn) -> Result<(), Error>,
) -> Result<i64, Error> {
    let files = list(dir, "log.")?;
    let mut last = after;
    for (i, (_, path)) in files.iter().enumerate() {
        let newest = i + 1 == files.len();
        // Everything in it is older than the next file's first zxid: if
        // that is already covered, this file need not even be read.
        if files.get(i + 1).is_some_and(|(next, _)| *next <= after + 1) {
            continue;
        }
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| Error::io(path, e))?;
        if bytes.len() < HEADER_LEN as usize {
            // Created but never written: only possible for the newest file.
            continue;
        }
        if &bytes[..4] != MAGIC {
            return Err(Error::Corrupt {
                path: path.clone(),
                offset: 0,
                reason: "bad magic".into(),
            });
        }
        let mut pos = HEADER_LEN as usize;
        loop {
            match next_record(&bytes, pos) {
                Some(Ok((hdr, txn, next))) => {
                    if hdr.zxid > last && upto.is_none_or(|u| hdr.zxid <= u) {
                        last = hdr.zxid;
                        apply(hdr, txn)?;
                    }
                    pos = next;
                }
                None => break,
                Some(Err(reason)) => {
                    if upto.is_some() && newest {
                        break;
                    }
                    if !newest {
                        return Err(Error::Corrupt {
                            path: path.clone(),
                            offset: pos as u64,
                            reason,
                        });
                    }
                    tracing::warn!(file = %path.display(), offset = pos, %reason, "truncating torn log tail");
                    OpenOptions::new()
                        .write(true)
                        .open(path)
                        .and_then(|f| {
                            f.set_len(pos as u64)?;
                            f.sync_all()
                        })
                        .map_err(|e| Error::io(path, e))?;
                    break;
                }
            }
        }
    }
    Ok(last)
}

type Record = (TxnHeader, Txn, usize);

/// The record at `pos`: `None` at a clean end, `Some(Err)` for a torn one.
fn next_record(bytes: &[u8], pos: usize) -> Option<Result<Record, String>> {
    if pos == bytes.len() {
        return None;
    }
    let Some(head) = bytes.get(pos..pos + 8) else {
        return Some(Err("record header cut short".into()));
    };
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    let Some(payload) = bytes.get(pos + 8..pos + 8 + len) else {
        return Some(Err(format!("record of {len} bytes cut short")));
    };
    if crc32c::crc32c(payload) != crc {
        return Some(Err("CRC mismatch".into()));
    }
    let mut r = Reader::new(payload);
    let rec = TxnHeader::decode(&mut r).and_then(|h| Ok((h, Txn::decode(&mut r)?)));
    Some(rec.map(|(h, t)| (h, t, pos + 8 + len)).map_err(|e| e.to_string()))
}

/// The file being appended to. Owned by the sync thread.
pub struct TxnLog {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    /// Bytes in the file that were written whole.
    len: u64,
    /// Where the last successful fsync ended, and its last zxid.
    durable_len: u64,
    durable_zxid: i64,
    written_zxid: i64,
}

impl TxnLog {
    /// Starts a new file whose first record will be `next_zxid`. The file
    /// appears under its name only once its header is durable, so a failed
    /// start leaves no empty log behind to be mistaken for the newest one.
    pub fn create(dir: &Path, next_zxid: i64) -> Result<Self, Error> {
        let path = dir.join(file_name(next_zxid));
        let tmp = dir.join(format!(".{}.tmp", file_name(next_zxid)));
        let opened = OpenOptions::new().create(true).truncate(true).write(true).open(&tmp);
        let mut file = opened.map_err(|e| Error::io(&tmp, e))?;
        let mut head = MAGIC.to_vec();
        head.extend_from_slice(&VERSION.to_be_bytes());
        let made = file
            .write_all(&head)
            .and_then(|_| file.sync_all())
            .map_err(|e| Error::io(&tmp, e))
            .and_then(|_| std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e)));
        if let Err(e) = made {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        if let Err(e) = sync_dir(dir) {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            path,
            file,
            len: HEADER_LEN,
            durable_len: HEADER_LEN,
            durable_zxid: next_zxid - 1,
            written_zxid: next_zxid - 1,
        })
    }

    /// Appends records whose last zxid is `last_zxid`.
    pub fn append(&mut self, bytes: &[u8], last_zxid: i64) -> Result<(), Error> {
        self.file.write_all(bytes).map_err(|e| Error::io(&self.path, e))?;
        self.len += bytes.len() as u64;
        self.written_zxid = last_zxid;
        Ok(())
    }

    pub fn sync(&mut self) -> Result<(), Error> {
        self.file.sync_data().map_err(|e| Error::io(&self.path, e))?;
        self.durable_len = self.len;
        self.durable_zxid = self.written_zxid;
        Ok(())
    }

    /// The last zxid a successful fsync covered.
    pub fn durable_zxid(&self) -> i64 {
        self.durable_zxid
    }

    /// Closes this file (fsync'ed) and starts the next one at `next_zxid`.
    pub fn roll(&mut self, next_zxid: i64) -> Result<(), Error> {
        self.sync()?;
        let mut next = Self::create(&self.dir.clone(), next_zxid)?;
        next.durable_zxid = self.durable_zxid;
        next.written_zxid = self.durable_zxid;
        *self = next;
        Ok(())
    }

    /// Cuts off whatever a failed write or fsync left after the last durable
    /// record, durably: a crash must not bring back a record that was never
    /// acknowledged after the server went on without it.
    pub fn truncate_to_durable(&mut self) -> Result<(), Error> {
        let at = self.durable_len;
        self.file
            .set_len(at)
            .and_then(|_| self.file.sync_all())
            .and_then(|_| self.file.seek(SeekFrom::Start(at)))
            .map_err(|e| Error::io(&self.path, e))?;
        self.len = at;
        self.written_zxid = self.durable_zxid;
        Ok(())
    }

    /// Whether the disk takes writes again: writes and fsyncs [`PROBE_LEN`]
    /// bytes past the durable end, then cuts them off again.
    pub fn probe(&mut self) -> Result<(), Error> {
        let wrote = self
            .file
            .write_all(&[0u8; PROBE_LEN])
            .and_then(|_| self.file.sync_data())
            .map_err(|e| Error::io(&self.path, e));
        let cut = self.truncate_to_durable();
        wrote.and(cut)
    }
}

/// Makes a new or renamed file's directory entry durable.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(i: i64) -> (TxnHeader, Txn) {
        (TxnHeader { session: 1, zxid: i, time: i }, Txn::Delete { path: format!("/{i}") })
    }

    fn collect(dir: &Path, after: i64) -> Vec<i64> {
        let mut seen = Vec::new();
        replay(dir, after, None, |h, _| {
            seen.push(h.zxid);
            Ok(())
        })
        .unwrap();
        seen
    }

    #[test]
    fn torn_tail_is_cut_at_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = TxnLog::create(dir.path(), 1).unwrap();
        let mut bytes = Vec::new();
        for i in 1..=3 {
            let (h, t) = txn(i);
            encode_record(&h, &t, &mut bytes);
        }
        log.append(&bytes, 3).unwrap();
        log.sync().unwrap();
        let full = std::fs::read(dir.path().join("log.1")).unwrap();
        let per = (full.len() - 8) / 3;
        for cut in 8..full.len() {
            std::fs::write(dir.path().join("log.1"), &full[..cut]).unwrap();
            let want: Vec<i64> = (1..=((cut - 8) / per) as i64).collect();
            assert_eq!(collect(dir.path(), 0), want, "cut at {cut}");
            let len = std::fs::metadata(dir.path().join("log.1")).unwrap().len() as usize;
            assert_eq!((len - 8) % per, 0, "the torn record is gone after recovery");
        }
    }

    /// Records 1-3 in log.1, 4-6 in log.4.
    fn six_records_in_log_1_and_log_4() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mut log = TxnLog::create(dir.path(), 1).unwrap();
        for i in 1..=6 {
            let mut b = Vec::new();
            let (h, t) = txn(i);
            encode_record(&h, &t, &mut b);
            log.append(&b, i).unwrap();
            if i == 3 {
                log.roll(4).unwrap();
            }
        }
        log.sync().unwrap();
        dir
    }

    #[test]
    fn replays_across_rolls_after_a_snapshot_zxid() {
        let dir = six_records_in_log_1_and_log_4();
        assert_eq!(collect(dir.path(), 2), vec![3, 4, 5, 6]);
    }

    #[test]
    fn files_wholly_before_the_snapshot_are_not_read() {
        let dir = six_records_in_log_1_and_log_4();
        std::fs::write(dir.path().join("log.1"), b"not a log").unwrap();
        assert_eq!(collect(dir.path(), 3), vec![4, 5, 6], "log.1 ends at 3, the snapshot");
        assert!(matches!(replay(dir.path(), 2, None, |_, _| Ok(())), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn a_running_server_replays_up_to_its_durable_zxid_and_touches_nothing() {
        let dir = six_records_in_log_1_and_log_4();
        let newest = dir.path().join("log.4");
        OpenOptions::new().append(true).open(&newest).unwrap().write_all(b"torn").unwrap();
        let len = std::fs::metadata(&newest).unwrap().len();
        let mut seen = Vec::new();
        replay(dir.path(), 0, Some(5), |h, _| {
            seen.push(h.zxid);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![1, 2, 3, 4, 5], "6 was written but is not durable");
        assert_eq!(std::fs::metadata(&newest).unwrap().len(), len, "the log thread owns the file");
    }

    #[test]
    fn after_a_failed_write_the_log_goes_on_from_the_durable_end() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = TxnLog::create(dir.path(), 1).unwrap();
        let record = |i| {
            let mut b = Vec::new();
            let (h, t) = txn(i);
            encode_record(&h, &t, &mut b);
            b
        };
        log.append(&record(1), 1).unwrap();
        log.sync().unwrap();
        // Records 2 and 3 reached the file but no fsync covered them, and
        // a torn half of a record follows, as a failing write leaves it.
        log.append(&[record(2), record(3)].concat(), 3).unwrap();
        log.append(&record(4)[..10], 4).unwrap();
        log.truncate_to_durable().unwrap();
        assert_eq!(log.durable_zxid(), 1);
        log.probe().unwrap();
        log.append(&record(2), 2).unwrap();
        log.sync().unwrap();
        assert_eq!(collect(dir.path(), 0), vec![1, 2], "2 follows 1 directly, no gap, no probe");
        assert!(!dir.path().join(".log.1.tmp").exists());
    }

    #[test]
    fn a_flipped_byte_in_an_older_file_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = TxnLog::create(dir.path(), 1).unwrap();
        let mut b = Vec::new();
        let (h, t) = txn(1);
        encode_record(&h, &t, &mut b);
        log.append(&b, 1).unwrap();
        log.roll(2).unwrap();
        let p = dir.path().join("log.1");
        let mut bytes = std::fs::read(&p).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&p, bytes).unwrap();
        assert!(matches!(replay(dir.path(), 0, None, |_, _| Ok(())), Err(Error::Corrupt { .. })));
    }
}
