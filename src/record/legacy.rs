//! Kafka's message sets of magic 0 (0.8) and 1 (0.10), which Produce v0-2
//! carries and Fetch v0-3 must answer with: each message is
//! `offset i64, size i32, crc u32, magic i8, attributes i8,
//! [timestamp i64 if magic 1], key bytes, value bytes`, and a compressed
//! set is one wrapper message whose value holds the inner messages.
//!
//! The log keeps RecordBatch v2 only (as Kafka 3.x with its default
//! `message.format.version`), so old producers' sets are converted up on
//! append and batches converted down for old consumers. Both walk every
//! record; nothing on the v2 paths comes here.

use super::{BatchBuilder, Batches, Compression, Error, NewRecord, TimestampType, NO_TIMESTAMP};

/// Offset and size before each message.
const LOG_OVERHEAD: usize = 12;
/// CRC, magic and attributes, the part every message has.
const FIXED_V0: usize = 4 + 1 + 1;
const TIMESTAMP_TYPE_BIT: u8 = 0x08;

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidRecord { base_offset: -1, reason: reason.into() }
}

/// One message of a set, borrowing from it.
struct Message<'a> {
    // Only the tests read it: the broker assigns offsets itself.
    #[allow(dead_code)]
    offset: i64,
    magic: i8,
    attributes: u8,
    timestamp: i64,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
}

fn read_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn read_i64(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// A length-prefixed byte string at `at`: the bytes (None for -1) and
/// where the next field starts.
fn read_bytes(b: &[u8], at: usize) -> Option<(Option<&[u8]>, usize)> {
    let len = read_i32(b, at)?;
    if len < 0 {
        return Some((None, at + 4));
    }
    let end = (at + 4).checked_add(len as usize)?;
    Some((Some(b.get(at + 4..end)?), end))
}

/// The messages of a set, each checked against its CRC. A trailing partial
/// message (which a producer never sends) is an error.
fn parse_set(set: &[u8]) -> Result<Vec<Message<'_>>, Error> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < set.len() {
        let truncated = || invalid(format!("message set truncated at byte {pos}"));
        let offset = read_i64(set, pos).ok_or_else(truncated)?;
        let size = read_i32(set, pos + 8).ok_or_else(truncated)?;
        if size < FIXED_V0 as i32 {
            return Err(invalid(format!("message size {size} at byte {pos}")));
        }
        let start = pos + LOG_OVERHEAD;
        let msg = set.get(start..start + size as usize).ok_or_else(truncated)?;
        let stored = u32::from_be_bytes([msg[0], msg[1], msg[2], msg[3]]);
        let computed = crc32fast::hash(&msg[4..]);
        if stored != computed {
            return Err(Error::CrcMismatch { position: pos, stored, computed });
        }
        let magic = msg[4] as i8;
        let attributes = msg[5];
        let (timestamp, at) = match magic {
            0 => (NO_TIMESTAMP, FIXED_V0),
            1 => (read_i64(msg, FIXED_V0).ok_or_else(truncated)?, FIXED_V0 + 8),
            m => return Err(Error::UnsupportedMagic { position: pos, magic: m }),
        };
        let (key, at) = read_bytes(msg, at).ok_or_else(truncated)?;
        let (value, _) = read_bytes(msg, at).ok_or_else(truncated)?;
        out.push(Message { offset, magic, attributes, timestamp, key, value });
        pos = start + size as usize;
    }
    Ok(out)
}

/// LZ4 frame magic (`04 22 4D 18`, little-endian).
const LZ4_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];

/// Rewrites the header checksum byte of an LZ4 frame. Kafka before 0.10
/// (magic 0) computed it over the frame magic as well as the descriptor
/// (KAFKA-3160), and clients of that format still write and expect it so:
/// `broken` picks that form, otherwise the standard one.
fn set_lz4_header_checksum(frame: &mut [u8], broken: bool) {
    if frame.len() < 7 || frame[..4] != LZ4_MAGIC {
        return;
    }
    let flags = frame[4];
    let mut hc_at = 6;
    if flags & 0x08 != 0 {
        hc_at += 8; // content size
    }
    if flags & 0x01 != 0 {
        hc_at += 4; // dictionary id
    }
    if hc_at >= frame.len() {
        return;
    }
    let from = if broken { 0 } else { 4 };
    let hash = twox_hash::XxHash32::oneshot(0, &frame[from..hc_at]);
    frame[hc_at] = (hash >> 8) as u8;
}

fn codec(attributes: u8) -> Result<Compression, Error> {
    match attributes & 0x07 {
        4.. => Err(invalid(format!("codec {} in a legacy message", attributes & 0x07))),
        id => Ok(Compression::from_id(id)?),
    }
}

/// Converts a magic 0/1 message set from Produce v0-2 into one RecordBatch
/// v2 (base offset 0; the log assigns the real ones). Wrapper messages are
/// opened and their records kept compressed with the wrapper's codec, as
/// Kafka's `LogValidator` does; magic 0 messages get no timestamp.
pub fn up_convert(set: &[u8]) -> Result<Vec<u8>, Error> {
    let outer = parse_set(set)?;
    let mut compression = Compression::None;
    let mut inner_sets = Vec::new();
    for m in &outer {
        let c = codec(m.attributes)?;
        if c != Compression::None {
            compression = c;
            let value = m.value.ok_or_else(|| invalid("compressed message without a value"))?;
            let inner = if c == Compression::Lz4 && m.magic == 0 {
                let mut fixed = value.to_vec();
                set_lz4_header_checksum(&mut fixed, false);
                c.decompress(&fixed)?
            } else {
                c.decompress(value)?
            };
            inner_sets.push((m, inner));
        }
    }
    let mut builder = BatchBuilder::new(compression);
    let mut count = 0usize;
    let mut push = |m: &Message<'_>| {
        builder.push(NewRecord::new(m.timestamp, m.key, m.value));
        count += 1;
    };
    let mut opened = inner_sets.iter();
    for m in &outer {
        if codec(m.attributes)? == Compression::None {
            push(m);
            continue;
        }
        let Some((wrapper, bytes)) = opened.next() else { break };
        for inner in parse_set(bytes)? {
            if codec(inner.attributes)? != Compression::None {
                return Err(invalid("a compressed message inside a compressed message"));
            }
            if inner.magic != wrapper.magic {
                return Err(invalid("inner and wrapper messages of different magic"));
            }
            // Under LogAppendTime the wrapper's timestamp is every record's.
            let mut inner = inner;
            if wrapper.magic == 1 && wrapper.attributes & TIMESTAMP_TYPE_BIT != 0 {
                inner.timestamp = wrapper.timestamp;
            }
            push(&inner);
        }
    }
    if count == 0 {
        return Err(invalid("empty message set"));
    }
    builder.build()
}

/// Appends one message of `magic` at `offset`.
fn put_message(
    out: &mut Vec<u8>,
    magic: i8,
    offset: i64,
    attributes: u8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    let body_len = FIXED_V0
        + if magic == 1 { 8 } else { 0 }
        + 4
        + key.map_or(0, <[u8]>::len)
        + 4
        + value.map_or(0, <[u8]>::len);
    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&(body_len as i32).to_be_bytes());
    let crc_at = out.len();
    out.extend_from_slice(&[0; 4]);
    out.push(magic as u8);
    out.push(attributes);
    if magic == 1 {
        out.extend_from_slice(&timestamp.to_be_bytes());
    }
    for field in [key, value] {
        match field {
            Some(b) => {
                out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                out.extend_from_slice(b);
            }
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    let crc = crc32fast::hash(&out[crc_at + 4..]);
    out[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Converts RecordBatch v2 bytes (whole batches, as a log read returns
/// them) to a message set of `magic` 0 or 1 for Fetch v0-3, as Kafka's
/// `RecordsUtil.downConvert`: control batches are dropped, headers are
/// lost, a compressed batch becomes one wrapper message of the same codec
/// (inner offsets relative under magic 1, absolute under magic 0, the
/// wrapper carrying the last offset). Zstd has no legacy form: such a
/// batch is an error the caller answers with UNSUPPORTED_COMPRESSION_TYPE.
pub fn down_convert(batches: &[u8], magic: i8) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(batches.len() + batches.len() / 4);
    for batch in Batches::new(batches) {
        let batch = batch?;
        if batch.is_control() {
            continue;
        }
        let compression = batch.compression()?;
        if compression == Compression::Zstd {
            return Err(Error::Compression(super::CompressionError::UnknownCodec(4)));
        }
        let log_append = batch.timestamp_type() == TimestampType::LogAppendTime;
        let ts_bit = if magic == 1 && log_append { TIMESTAMP_TYPE_BIT } else { 0 };
        let records = batch.records()?;
        if compression == Compression::None {
            for r in records.iter() {
                let r = r?;
                let ts = records.timestamp_of(&r);
                put_message(&mut out, magic, records.offset_of(&r), ts_bit, ts, r.key, r.value);
            }
            continue;
        }
        let mut inner = Vec::new();
        let mut first = None;
        let mut last = batch.base_offset();
        for r in records.iter() {
            let r = r?;
            let offset = records.offset_of(&r);
            let base = *first.get_or_insert(offset);
            last = offset;
            let inner_offset = if magic == 1 { offset - base } else { offset };
            let ts = records.timestamp_of(&r);
            put_message(&mut inner, magic, inner_offset, ts_bit, ts, r.key, r.value);
        }
        if first.is_none() {
            continue;
        }
        let mut value = compression.compress(&inner)?;
        if compression == Compression::Lz4 && magic == 0 {
            set_lz4_header_checksum(&mut value, true);
        }
        let attributes = compression.id() | ts_bit;
        let ts = if magic == 1 { batch.max_timestamp() } else { NO_TIMESTAMP };
        put_message(&mut out, magic, last, attributes, ts, None, Some(&value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordBatch;

    fn v2(compression: Compression, values: &[&[u8]]) -> Vec<u8> {
        let mut b = BatchBuilder::new(compression).base_offset(10);
        for (i, v) in values.iter().enumerate() {
            b.push(NewRecord::new(1_000 + i as i64, Some(b"k"), Some(v)));
        }
        b.build().unwrap()
    }

    fn values(batch: &[u8]) -> Vec<(i64, Option<Vec<u8>>)> {
        let b = RecordBatch::parse(batch).unwrap();
        let records = b.records().unwrap();
        records
            .iter()
            .map(|r| {
                let r = r.unwrap();
                (records.timestamp_of(&r), r.value.map(<[u8]>::to_vec))
            })
            .collect()
    }

    #[test]
    fn down_then_up_keeps_every_record_in_every_codec_and_magic() {
        for c in [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4] {
            for magic in [0, 1] {
                let original = v2(c, &[b"a", b"bb", b"ccc"]);
                let set = down_convert(&original, magic).unwrap();
                let msgs = parse_set(&set).unwrap();
                if c == Compression::None {
                    let offsets: Vec<i64> = msgs.iter().map(|m| m.offset).collect();
                    assert_eq!(offsets, [10, 11, 12], "{c:?} magic {magic}");
                } else {
                    assert_eq!(msgs.len(), 1, "one wrapper");
                    assert_eq!(msgs[0].offset, 12, "the wrapper has the last offset");
                }
                let back = up_convert(&set).unwrap();
                let got = values(&back);
                let want_ts = |i: i64| if magic == 1 { 1_000 + i } else { NO_TIMESTAMP };
                assert_eq!(
                    got,
                    vec![
                        (want_ts(0), Some(b"a".to_vec())),
                        (want_ts(1), Some(b"bb".to_vec())),
                        (want_ts(2), Some(b"ccc".to_vec()))
                    ],
                    "{c:?} magic {magic}"
                );
                assert_eq!(RecordBatch::parse(&back).unwrap().compression().unwrap(), c);
            }
        }
    }

    #[test]
    fn bad_sets_are_errors_not_panics() {
        let mut set = down_convert(&v2(Compression::None, &[b"x"]), 1).unwrap();
        let last = set.len() - 1;
        set[last] ^= 1;
        assert!(matches!(up_convert(&set), Err(Error::CrcMismatch { .. })));
        let good = down_convert(&v2(Compression::Gzip, &[b"x", b"y"]), 1).unwrap();
        for cut in 0..good.len() {
            assert!(up_convert(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = good.clone();
        huge[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(up_convert(&huge).is_err());
        assert!(
            down_convert(&v2(Compression::Zstd, &[b"z"]), 1).is_err(),
            "zstd has no legacy form"
        );
    }
}
