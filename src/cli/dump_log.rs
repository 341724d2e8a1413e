//! `kafka-rs dump-log` (kafka-dump-log.sh): prints the batches and records of
//! `.log` segments, the entries of `.index` / `.timeindex` / `.txnindex`
//! files and producer `.snapshot` files in
//! Kafka's `DumpLogSegments` format, and checks indexes against their log.
//! Reading the files is the log library's job; this module only formats.
//! Any corruption found is reported with file and position, and the
//! command then exits non-zero.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::dump_log_parsers;
use crate::log::offset_index::{self, IndexEntry};
use crate::log::segment::{BatchFileReader, ChunkError};
use crate::log::time_index;
use crate::record::batch::increment_sequence;
use crate::record::{BatchHeader, Error as RecordError, RecordBatch};

#[derive(Debug, clap::Args)]
pub struct DumpLogArgs {
    /// REQUIRED: The comma separated list of data and index log files to be dumped.
    #[arg(long, required = true, value_delimiter = ',', value_name = "file1, file2, ...")]
    files: Vec<PathBuf>,
    /// If set, printing the messages content when dumping data logs. Automatically set if any
    /// decoder option is specified.
    #[arg(long)]
    print_data_log: bool,
    /// If set, uses deep instead of shallow iteration. Automatically set if print-data-log is
    /// enabled.
    #[arg(long)]
    deep_iteration: bool,
    /// If set, just verify the index log without printing its content.
    #[arg(long)]
    verify_index_only: bool,
    /// If set, just checks the index sanity without printing its content. This is the same check
    /// that is executed on broker startup to determine if an index needs rebuilding or not.
    #[arg(long)]
    index_sanity_check: bool,
    /// Size of largest message.
    #[arg(long, value_name = "size", default_value_t = 5 * 1024 * 1024)]
    max_message_size: u64,
    /// Limit the amount of total batches read in bytes avoiding reading the whole .log file(s).
    #[arg(long, value_name = "size", default_value_t = i32::MAX as u64)]
    max_bytes: u64,
    /// If set, used to deserialize the keys: StringDecoder (default), LongDecoder or
    /// IntegerDecoder.
    #[arg(long, value_name = "class", num_args = 0..=1, default_missing_value = "org.apache.kafka.tools.api.StringDecoder")]
    key_decoder_class: Option<String>,
    /// If set, used to deserialize the messages: StringDecoder (default), LongDecoder or
    /// IntegerDecoder.
    #[arg(long, value_name = "class", num_args = 0..=1, default_missing_value = "org.apache.kafka.tools.api.StringDecoder")]
    value_decoder_class: Option<String>,
    /// Whether to skip printing metadata for each record.
    #[arg(long)]
    skip_record_metadata: bool,
    /// If set, log data will be parsed as offset data from the __consumer_offsets topic.
    #[arg(long, conflicts_with = "transaction_log_decoder")]
    offsets_decoder: bool,
    /// If set, log data will be parsed as transaction metadata from the __transaction_state
    /// topic.
    #[arg(long)]
    transaction_log_decoder: bool,
}

/// How record contents are printed: Kafka's `MessageParser`s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Parser {
    Decoders { key: Decoder, value: Decoder },
    Offsets,
    TransactionLog,
}

impl Parser {
    fn parse(
        self,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> anyhow::Result<dump_log_parsers::Parsed> {
        match self {
            Parser::Decoders { key: k, value: v } => {
                Ok((key.map(|b| k.decode(b)), value.map(|b| v.decode(b))))
            }
            Parser::Offsets => dump_log_parsers::offsets(offset, key, value),
            Parser::TransactionLog => dump_log_parsers::transaction_log(offset, key, value),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decoder {
    String,
    Long,
    Integer,
}

impl Decoder {
    fn from_class(name: Option<&str>) -> anyhow::Result<Self> {
        let Some(name) = name else { return Ok(Decoder::String) };
        let short = name.rsplit('.').next().unwrap_or(name);
        if name.starts_with("kafka.serializer.") {
            println!("{name} is deprecated. Please use org.apache.kafka.tools.api.{short} instead");
        }
        match short {
            "StringDecoder" => Ok(Decoder::String),
            "LongDecoder" => Ok(Decoder::Long),
            "IntegerDecoder" => Ok(Decoder::Integer),
            _ => bail!("unsupported decoder class {name}: use StringDecoder, LongDecoder or IntegerDecoder"),
        }
    }

    fn decode(self, bytes: &[u8]) -> String {
        match self {
            Decoder::String => String::from_utf8_lossy(bytes).into_owned(),
            Decoder::Long => match <[u8; 8]>::try_from(bytes) {
                Ok(b) => i64::from_be_bytes(b).to_string(),
                Err(_) => format!("<{} bytes, not a long>", bytes.len()),
            },
            Decoder::Integer => match <[u8; 4]>::try_from(bytes) {
                Ok(b) => i32::from_be_bytes(b).to_string(),
                Err(_) => format!("<{} bytes, not an integer>", bytes.len()),
            },
        }
    }
}

struct Options {
    print_data: bool,
    deep: bool,
    verify_only: bool,
    sanity_only: bool,
    max_message_size: u64,
    max_bytes: u64,
    parser: Parser,
    skip_record_metadata: bool,
}

/// Problems found, printed to stderr at the end the way Kafka groups them.
#[derive(Default)]
struct Report {
    corrupt: Vec<String>,
    index_mismatches: Vec<(PathBuf, Vec<(i64, i64)>)>,
    non_consecutive: Vec<(PathBuf, Vec<(i64, i64)>)>,
    time_index: Vec<String>,
}

pub fn run(args: DumpLogArgs) -> anyhow::Result<()> {
    let print_data = args.print_data_log
        || args.key_decoder_class.is_some()
        || args.value_decoder_class.is_some()
        || args.offsets_decoder
        || args.transaction_log_decoder;
    let parser = if args.offsets_decoder {
        Parser::Offsets
    } else if args.transaction_log_decoder {
        Parser::TransactionLog
    } else {
        Parser::Decoders {
            key: Decoder::from_class(args.key_decoder_class.as_deref())?,
            value: Decoder::from_class(args.value_decoder_class.as_deref())?,
        }
    };
    let opts = Options {
        print_data,
        deep: args.deep_iteration || print_data,
        verify_only: args.verify_index_only,
        sanity_only: args.index_sanity_check,
        max_message_size: args.max_message_size,
        max_bytes: args.max_bytes,
        parser,
        skip_record_metadata: args.skip_record_metadata,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut report = Report::default();
    let mut dump = Dump { out: &mut out, opts: &opts, report: &mut report };
    for file in args.files.iter().filter(|f| !f.as_os_str().is_empty()) {
        writeln!(dump.out, "Dumping {}", file.display())?;
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        match name.rfind('.').map(|i| &name[i..]) {
            Some(".log") => dump.log(file)?,
            Some(".index") => dump.index(file)?,
            Some(".timeindex") => dump.time_index(file)?,
            Some(".txnindex") => dump.txn_index(file)?,
            Some(".snapshot") => {
                dump.out.flush()?;
                dump.producer_snapshot(file)?;
            }
            _ => {
                dump.out.flush()?;
                eprintln!("Ignoring unknown file {}", file.display());
            }
        }
    }
    out.flush()?;
    for (file, list) in &report.index_mismatches {
        eprintln!("Mismatches in :{}", absolute(file).display());
        for (index_offset, log_offset) in list {
            eprintln!("  Index offset: {index_offset}, log offset: {log_offset}");
        }
    }
    for line in &report.time_index {
        eprintln!("{line}");
    }
    for (file, list) in &report.non_consecutive {
        eprintln!("Non-consecutive offsets in {}", absolute(file).display());
        for (a, b) in list {
            eprintln!("  {a} is followed by {b}");
        }
    }
    let problems = report.corrupt.len()
        + report.index_mismatches.len()
        + usize::from(!report.time_index.is_empty());
    if problems > 0 {
        let mut what = report.corrupt.clone();
        if !report.index_mismatches.is_empty() || !report.time_index.is_empty() {
            what.push("index entries disagree with the log (listed above)".to_string());
        }
        bail!("{}", what.join("; "));
    }
    Ok(())
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The base offset in a segment file name, and the `.log` beside it.
fn base_and_log(file: &Path) -> anyhow::Result<(i64, PathBuf)> {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.split('.').next().unwrap_or("");
    let base: i64 =
        stem.parse().with_context(|| format!("{}: not a segment file name", file.display()))?;
    Ok((base, file.with_file_name(format!("{stem}.log"))))
}

/// What every file's dump shares: where it prints, what the command line
/// asked to check and show, and the problems found so far (reported once
/// every file is dumped, the way Kafka groups them).
struct Dump<'a, W> {
    out: &'a mut W,
    opts: &'a Options,
    report: &'a mut Report,
}

impl<W: Write> Dump<'_, W> {
    fn log(&mut self, file: &Path) -> anyhow::Result<()> {
        let (base, _) = base_and_log(file)?;
        writeln!(self.out, "Log starting offset: {base}")?;
        let mut reader = BatchFileReader::open(file, self.opts.max_bytes)
            .with_context(|| format!("cannot open {}", file.display()))?;
        let mut pos = 0u64;
        let mut last_offset = -1i64;
        let mut gaps = Vec::new();
        loop {
            let bytes = match reader.batch_at(pos) {
                Ok(None) => break,
                Ok(Some(bytes)) => bytes,
                Err(ChunkError::Io(e)) => {
                    return Err(e).with_context(|| format!("reading {}", file.display()))
                }
                Err(ChunkError::Batch(e)) => {
                    let limited = self.opts.max_bytes < i32::MAX as u64;
                    if !(limited && matches!(e, RecordError::Truncated { .. })) {
                        let name =
                            file.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
                        writeln!(
                            self.out,
                            "Found {} invalid bytes at the end of {name}",
                            reader.len() - pos
                        )?;
                        self.report.corrupt.push(format!("{}: {e}", file.display()));
                    }
                    break;
                }
            };
            let batch = RecordBatch::parse_at(bytes, pos as usize)?;
            print_batch(self.out, &batch)?;
            if !batch.is_valid() {
                self.report.corrupt.push(format!(
                    "{}: batch at position {pos} is corrupt: CRC {} stored, {} computed",
                    file.display(),
                    batch.crc(),
                    batch.compute_crc()
                ));
            }
            if self.opts.deep {
                if let Err(e) =
                    print_records(self.out, &batch, self.opts, &mut last_offset, &mut gaps)
                {
                    writeln!(self.out)?;
                    self.report
                        .corrupt
                        .push(format!("{}: batch at position {pos}: {e}", file.display()));
                }
            }
            pos += batch.size() as u64;
        }
        if !gaps.is_empty() {
            self.report.non_consecutive.push((file.to_path_buf(), gaps));
        }
        Ok(())
    }

    fn index(&mut self, file: &Path) -> anyhow::Result<()> {
        let (base, log) = base_and_log(file)?;
        let len = std::fs::metadata(file)
            .with_context(|| format!("cannot open {}", file.display()))?
            .len();
        let entries = offset_index::read_entries(file, base)?;
        if entries.is_empty() {
            writeln!(self.out, "{} is empty.", file.display())?;
            return Ok(());
        }
        if self.opts.sanity_only {
            let log_size = std::fs::metadata(&log).map_or(0, |m| m.len());
            match index_sanity(&entries, base, len, log_size) {
                Ok(()) => writeln!(self.out, "{} passed sanity check.", file.display())?,
                Err(why) => self
                    .report
                    .corrupt
                    .push(format!("Corrupt index found, index file ({}) {why}", file.display())),
            }
            return Ok(());
        }
        let mut mismatches = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            // A crash leaves the preallocated tail as zero entries: stop at one.
            if e.offset == base && i > 0 {
                break;
            }
            match header_at(&log, u64::from(e.position), self.opts.max_message_size) {
                Ok(Some(h)) if h.last_offset() == e.offset => {}
                Ok(Some(h)) => mismatches.push((e.offset, h.last_offset())),
                Ok(None) => mismatches.push((e.offset, -1)),
                Err(err) => {
                    self.report.corrupt.push(format!("{} entry {i}: {err:#}", file.display()))
                }
            }
            if !self.opts.verify_only {
                writeln!(self.out, "offset: {} position: {}", e.offset, e.position)?;
            }
        }
        if !mismatches.is_empty() {
            self.report.index_mismatches.push((file.to_path_buf(), mismatches));
        }
        Ok(())
    }

    fn time_index(&mut self, file: &Path) -> anyhow::Result<()> {
        let (base, log) = base_and_log(file)?;
        let entries = time_index::read_entries(file, base)?;
        let index =
            offset_index::read_entries(&file.with_extension("index"), base).unwrap_or_default();
        let abs = absolute(file);
        if self.opts.sanity_only {
            let len = std::fs::metadata(file)?.len();
            let ordered = entries
                .windows(2)
                .all(|w| w[1].timestamp > w[0].timestamp && w[1].offset >= w[0].offset);
            if !len.is_multiple_of(time_index::ENTRY_SIZE as u64)
                || !ordered
                || entries.iter().any(|e| e.offset < base)
            {
                self.report.corrupt.push(format!(
                    "Corrupt time index found, time index file ({}) fails the sanity check",
                    file.display()
                ));
            } else {
                writeln!(self.out, "{} passed sanity check.", file.display())?;
            }
            return Ok(());
        }
        let mut prev_ts = -1i64;
        for (i, e) in entries.iter().enumerate() {
            if e.offset == base && i > 0 {
                break;
            }
            let position =
                index.iter().rev().find(|x| x.offset <= e.offset).map_or(0, |x| x.position);
            let mut reader = BatchFileReader::open(&log, u64::MAX)
                .with_context(|| format!("cannot open {}", log.display()))?;
            let mut pos = u64::from(position);
            let found = loop {
                match reader.batch_at(pos) {
                    Ok(Some(bytes)) => {
                        let b = RecordBatch::parse_at(bytes, pos as usize)?;
                        if b.last_offset() >= e.offset {
                            let max = b.records().ok().map(|r| {
                                r.iter()
                                    .filter_map(Result::ok)
                                    .map(|rec| r.timestamp_of(&rec))
                                    .max()
                                    .unwrap_or(-1)
                            });
                            break Some((b.last_offset(), max.unwrap_or(-1)));
                        }
                        pos += b.size() as u64;
                    }
                    _ => break None,
                }
            };
            match found {
            None => self.report.time_index.push(format!(
                "The following indexed offsets are not found in the log.\nIndexed offset: {}, found log offset: -1",
                e.offset
            )),
            Some((last, _)) if last != e.offset => self.report.time_index.push(format!(
                "The following indexed offsets are not found in the log.\nIndexed offset: {}, found log offset: {last}",
                e.offset
            )),
            Some((_, max_ts)) => {
                if max_ts != e.timestamp {
                    self.report.time_index.push(format!(
                        "Found timestamp mismatch in :{}\n  Index timestamp: {}, log timestamp: {max_ts}",
                        abs.display(),
                        e.timestamp
                    ));
                }
                if prev_ts >= e.timestamp {
                    self.report.time_index.push(format!(
                        "Found out of order timestamp in :{}\n  Index timestamp: {}, Previously indexed timestamp: {prev_ts}",
                        abs.display(),
                        e.timestamp
                    ));
                }
            }
        }
            if !self.opts.verify_only {
                writeln!(self.out, "timestamp: {} offset: {}", e.timestamp, e.offset)?;
            }
            prev_ts = e.timestamp;
        }
        Ok(())
    }

    /// Kafka's `dumpTxnIndex`: one line per aborted transaction.
    fn txn_index(&mut self, file: &Path) -> anyhow::Result<()> {
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot open {}", file.display()))?;
        let decoded = crate::log::txn_index::decode(&bytes);
        for e in &decoded.entries {
            writeln!(
                self.out,
                "version: 0 producerId: {} firstOffset: {} lastOffset: {} lastStableOffset: {}",
                e.producer_id, e.first_offset, e.last_offset, e.last_stable_offset
            )?;
        }
        if let Some(problem) = decoded.problem {
            self.report
                .corrupt
                .push(format!("Corrupt transaction index {}: {problem}", file.display()));
        }
        Ok(())
    }

    /// Kafka's `dumpProducerIdSnapshot`, whose optional first offset prints
    /// as Java's `OptionalLong`; a corrupt snapshot is reported on stderr.
    fn producer_snapshot(&mut self, file: &Path) -> anyhow::Result<()> {
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot open {}", file.display()))?;
        let entries = match crate::log::producer_snapshot::decode(&bytes) {
            Ok(entries) => entries,
            Err(e) => {
                self.out.flush()?;
                eprintln!("{e}");
                return Ok(());
            }
        };
        for e in entries {
            let txn = if e.current_txn_first_offset >= 0 {
                format!("OptionalLong[{}]", e.current_txn_first_offset)
            } else {
                "OptionalLong.empty".to_string()
            };
            write!(
            self.out,
            "producerId: {} producerEpoch: {} coordinatorEpoch: {} currentTxnFirstOffset: {txn} lastTimestamp: {} ",
            e.producer_id, e.producer_epoch, e.coordinator_epoch, e.timestamp
        )?;
            if e.last_offset >= 0 {
                let first_seq = if e.last_sequence >= 0 {
                    (i64::from(e.last_sequence) - i64::from(e.offset_delta))
                        .rem_euclid(i64::from(i32::MAX) + 1)
                } else {
                    -1
                };
                write!(
                self.out,
                "firstSequence: {first_seq} lastSequence: {} lastOffset: {} offsetDelta: {} timestamp: {}",
                e.last_sequence, e.last_offset, e.offset_delta, e.timestamp
            )?;
            }
            writeln!(self.out)?;
        }
        Ok(())
    }
}

fn print_batch(out: &mut impl Write, b: &RecordBatch<'_>) -> std::io::Result<()> {
    let horizon = b
        .delete_horizon_ms()
        .map_or("OptionalLong.empty".to_string(), |h| format!("OptionalLong[{h}]"));
    let codec = b.compression().map_or("unknown", |c| c.name());
    writeln!(
        out,
        "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} producerId: {} \
         producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} isControl: {} deleteHorizonMs: {} \
         position: {} {}: {} size: {} magic: {} compresscodec: {} crc: {} isvalid: {}",
        b.base_offset(),
        b.last_offset(),
        b.records_count(),
        b.base_sequence(),
        b.last_sequence(),
        b.producer_id(),
        b.producer_epoch(),
        b.partition_leader_epoch(),
        b.is_transactional(),
        b.is_control(),
        horizon,
        b.position(),
        b.timestamp_type(),
        b.max_timestamp(),
        b.size(),
        b.magic(),
        codec,
        b.crc(),
        b.is_valid()
    )
}

fn print_records(
    out: &mut impl Write,
    batch: &RecordBatch<'_>,
    opts: &Options,
    last_offset: &mut i64,
    gaps: &mut Vec<(i64, i64)>,
) -> anyhow::Result<()> {
    let records = batch.records()?;
    for r in records.iter() {
        let r = r?;
        let offset = records.offset_of(&r);
        if *last_offset != -1 && offset != *last_offset + 1 {
            gaps.push((*last_offset, offset));
        }
        *last_offset = offset;
        let mut prefix = "| ";
        if !opts.skip_record_metadata {
            let sequence = increment_sequence(batch.base_sequence(), r.offset_delta);
            let header_keys: Vec<String> =
                r.headers().map(|h| String::from_utf8_lossy(h.key).into_owned()).collect();
            write!(
                out,
                "{prefix}offset: {offset} {}: {} keySize: {} valueSize: {} sequence: {sequence} headerKeys: [{}]",
                batch.timestamp_type(),
                records.timestamp_of(&r),
                r.key.map_or(-1, |k| k.len() as i64),
                r.value.map_or(-1, |v| v.len() as i64),
                header_keys.join(",")
            )?;
            prefix = " ";
            if batch.is_control() {
                write!(out, "{}", control_record(r.key, r.value))?;
            }
        }
        if opts.print_data && !batch.is_control() {
            let (key, payload) = opts.parser.parse(offset, r.key, r.value)?;
            if let Some(k) = key {
                write!(out, "{prefix}key: {k}")?;
            }
            if let Some(p) = payload {
                write!(out, " payload: {p}")?;
            }
        }
        writeln!(out)?;
    }
    Ok(())
}

/// A transaction marker: key = version i16 + type i16 (0 abort, 1 commit),
/// value = version i16 + coordinator epoch i32.
fn control_record(key: Option<&[u8]>, value: Option<&[u8]>) -> String {
    let kind = key.and_then(|k| k.get(2..4)).map(|t| i16::from_be_bytes([t[0], t[1]]));
    let epoch =
        value.and_then(|v| v.get(2..6)).map(|e| i32::from_be_bytes([e[0], e[1], e[2], e[3]]));
    match (kind, epoch) {
        (Some(0), Some(e)) => format!(" endTxnMarker: ABORT coordinatorEpoch: {e}"),
        (Some(1), Some(e)) => format!(" endTxnMarker: COMMIT coordinatorEpoch: {e}"),
        (Some(t), _) => format!(" controlType: UNKNOWN({t})"),
        (None, _) => " controlType: UNKNOWN(-1)".to_string(),
    }
}

/// The header of the batch at `position` of a `.log` file.
fn header_at(log: &Path, position: u64, max: u64) -> anyhow::Result<Option<BatchHeader>> {
    // Like Kafka, look no further than the largest message size.
    let mut reader = BatchFileReader::open(log, position.saturating_add(max))
        .with_context(|| format!("cannot open {}", log.display()))?;
    match reader.batch_at(position) {
        Ok(Some(bytes)) => Ok(Some(RecordBatch::parse_at(bytes, position as usize)?.header())),
        Ok(None) => Ok(None),
        Err(ChunkError::Io(e)) => Err(e).with_context(|| format!("reading {}", log.display())),
        Err(ChunkError::Batch(e)) => Err(anyhow::anyhow!("{}: {e}", log.display())),
    }
}

fn index_sanity(
    entries: &[IndexEntry],
    base: i64,
    file_len: u64,
    log_size: u64,
) -> Result<(), String> {
    if !file_len.is_multiple_of(offset_index::ENTRY_SIZE as u64) {
        return Err(format!(
            "has size {file_len}, which is not a multiple of {}",
            offset_index::ENTRY_SIZE
        ));
    }
    let mut prev: Option<&IndexEntry> = None;
    for (n, e) in entries.iter().enumerate() {
        if e.offset < base || u64::from(e.position) >= log_size.max(1) {
            return Err(format!(
                "has entry {n} (offset {}, position {}) outside the segment",
                e.offset, e.position
            ));
        }
        if let Some(p) = prev.filter(|p| e.offset <= p.offset || e.position <= p.position) {
            return Err(format!(
                "has entry {n} (offset {}, position {}) after (offset {}, position {})",
                e.offset, e.position, p.offset, p.position
            ));
        }
        prev = Some(e);
    }
    Ok(())
}
