//! Kafka's checkpoint files: a version line, a count line, then one entry
//! per line. Written to a `.tmp` file, fsynced and renamed over the old one,
//! so a crash leaves either the old or the new file, never a torn one.
//!
//! ```text
//! recovery-point-offset-checkpoint, log-start-offset-checkpoint,
//! replication-offset-checkpoint (high watermarks) (log dir root)
//!   0
//!   <count>
//!   <topic> <partition> <offset>      one per partition
//! leader-epoch-checkpoint (partition dir)
//!   0
//!   <count>
//!   <epoch> <start offset>            one per epoch, ascending
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use super::Error;
use crate::types::TopicPartition;

pub const RECOVERY_POINT_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
pub const LOG_START_OFFSET_CHECKPOINT: &str = "log-start-offset-checkpoint";
/// Each partition's high watermark, so a restarted replica knows what was
/// committed before it hears from its leader.
pub const REPLICATION_OFFSET_CHECKPOINT: &str = "replication-offset-checkpoint";
pub const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";
const VERSION: i32 = 0;

/// Writes `lines` as a version-0 checkpoint, atomically.
pub fn write_lines(path: &Path, lines: &[String]) -> Result<(), Error> {
    let tmp = path.with_file_name(format!(
        "{}.tmp",
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    let mut text = format!("{VERSION}\n{}\n", lines.len());
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    write().map_err(Error::io(path))
}

/// The entry lines of a checkpoint; `None` when the file does not exist.
/// A malformed file is an error naming the file and the problem.
pub fn read_lines(path: &Path) -> Result<Option<Vec<String>>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path)(e)),
    };
    let malformed = |what: &str| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("malformed checkpoint: {what}"),
        ),
    };
    let mut lines = text.lines();
    let version: i32 =
        lines.next().and_then(|l| l.trim().parse().ok()).ok_or_else(|| malformed("no version"))?;
    if version != VERSION {
        return Err(malformed(&format!("unknown version {version}")));
    }
    let count: usize =
        lines.next().and_then(|l| l.trim().parse().ok()).ok_or_else(|| malformed("no count"))?;
    let entries: Vec<String> = lines.filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
    if entries.len() != count {
        return Err(malformed(&format!("expected {count} entries, found {}", entries.len())));
    }
    Ok(Some(entries))
}

/// `recovery-point-offset-checkpoint` / `log-start-offset-checkpoint`.
pub fn write_offsets(path: &Path, offsets: &BTreeMap<TopicPartition, i64>) -> Result<(), Error> {
    let lines: Vec<String> =
        offsets.iter().map(|(tp, o)| format!("{} {} {}", tp.topic, tp.partition.0, o)).collect();
    write_lines(path, &lines)
}

pub fn read_offsets(path: &Path) -> Result<BTreeMap<TopicPartition, i64>, Error> {
    let mut out = BTreeMap::new();
    for line in read_lines(path)?.unwrap_or_default() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let parsed = match parts.as_slice() {
            [topic, partition, offset] => partition
                .parse::<i32>()
                .ok()
                .zip(offset.parse::<i64>().ok())
                .map(|(p, o)| (topic, p, o)),
            _ => None,
        };
        let (topic, partition, offset) = parsed.ok_or_else(|| Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("malformed checkpoint line {line:?}"),
            ),
        })?;
        out.insert(TopicPartition::new(*topic, partition), offset);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_in_kafka_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RECOVERY_POINT_CHECKPOINT);
        let mut m = BTreeMap::new();
        m.insert(TopicPartition::new("a", 0), 10);
        m.insert(TopicPartition::new("b.c", 3), 0);
        write_offsets(&path, &m).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "0\n2\na 0 10\nb.c 3 0\n");
        assert_eq!(read_offsets(&path).unwrap(), m);
        assert!(read_offsets(&dir.path().join("missing")).unwrap().is_empty());
    }

    #[test]
    fn malformed_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        let cases = [
            ("", "empty"),
            ("1\n0\n", "unknown version"),
            ("0\n2\na 0 1\n", "short count"),
            ("0\n1\na x 1\n", "bad partition"),
        ];
        for (text, why) in cases {
            std::fs::write(&path, text).unwrap();
            assert!(read_offsets(&path).is_err(), "{why}");
        }
    }
}
