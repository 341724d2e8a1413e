//! Jute, ZooKeeper's record encoding: big-endian ints and longs, one-byte
//! booleans, length-prefixed buffers, strings and vectors (-1 = null).
//!
//! The reader never trusts a length from the wire: every length is checked
//! against the bytes actually present before anything is allocated.

use super::{Data, DecodeError};

/// A cursor over one packet body.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.take(1)?[0] != 0)
    }

    /// A buffer; null (-1) reads as empty, as ZooKeeper stores it.
    pub fn buffer(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(&[]);
        }
        self.take(len as usize)
    }

    /// A znode's data, keeping null apart from empty.
    pub fn data(&mut self) -> Result<Data, DecodeError> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(Data::NULL);
        }
        Ok(self.take(len as usize)?.into())
    }

    pub fn string(&mut self) -> Result<String, DecodeError> {
        let b = self.buffer()?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::Invalid("string is not UTF-8"))
    }

    /// A vector's element count; null reads as zero. The count is bounded by
    /// the bytes left (each element takes at least `min_item` bytes), so a
    /// hostile count cannot make the caller loop or allocate for long.
    pub fn count(&mut self, min_item: usize) -> Result<usize, DecodeError> {
        let n = self.i32()?;
        if n < 0 {
            return Ok(0);
        }
        let n = n as usize;
        if n.saturating_mul(min_item.max(1)) > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        Ok(n)
    }

    pub fn strings(&mut self) -> Result<Vec<String>, DecodeError> {
        let n = self.count(4)?;
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(self.string()?);
        }
        Ok(v)
    }
}

/// Appends jute fields to a growable buffer.
#[derive(Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Self { buf: Vec::with_capacity(64) }
    }

    /// Starts a length-prefixed frame; finish it with [`Writer::finish_frame`].
    pub fn frame() -> Self {
        let mut w = Self::new();
        w.buf.extend_from_slice(&[0; 4]);
        w
    }

    pub fn finish_frame(mut self) -> Vec<u8> {
        let len = (self.buf.len() - 4) as i32;
        self.buf[..4].copy_from_slice(&len.to_be_bytes());
        self.buf
    }

    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.buf.push(v as u8);
        self
    }

    pub fn buffer(&mut self, v: &[u8]) -> &mut Self {
        self.i32(v.len() as i32);
        self.buf.extend_from_slice(v);
        self
    }

    pub fn data(&mut self, v: &Data) -> &mut Self {
        match v.get() {
            Some(b) => self.buffer(b),
            None => self.i32(-1),
        }
    }

    pub fn string(&mut self, v: &str) -> &mut Self {
        self.buffer(v.as_bytes())
    }

    pub fn strings<S: AsRef<str>>(&mut self, v: &[S]) -> &mut Self {
        self.i32(v.len() as i32);
        for s in v {
            self.string(s.as_ref());
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_lengths_are_errors_not_allocations() {
        let cases: &[(&[u8], &str)] = &[
            (&[0x7f, 0xff, 0xff, 0xff], "buffer longer than the packet"),
            (&[0, 0, 0, 5, b'a'], "buffer cut short"),
            (&[0, 0], "length itself cut short"),
        ];
        for (bytes, why) in cases {
            assert!(Reader::new(bytes).buffer().is_err(), "{why}");
        }
        let mut r = Reader::new(&[0x7f, 0xff, 0xff, 0xff]);
        assert!(r.count(4).is_err(), "a vector count beyond the packet is refused up front");
    }

    #[test]
    fn null_buffer_and_vector_read_as_empty() {
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(r.buffer().unwrap(), b"");
        assert_eq!(r.strings().unwrap(), Vec::<String>::new());
    }

    #[test]
    fn null_data_stays_apart_from_empty() {
        let mut w = Writer::new();
        w.data(&Data::NULL).data(&Data::from(&b""[..])).data(&Data::from(&b"x"[..]));
        assert_eq!(w.buf[..4], [0xff; 4], "null goes out as length -1");
        let mut r = Reader::new(&w.buf);
        assert_eq!(r.data().unwrap().get(), None);
        assert_eq!(r.data().unwrap().get(), Some(&b""[..]));
        assert_eq!(r.data().unwrap().get(), Some(&b"x"[..]));
    }

    #[test]
    fn round_trip() {
        let mut w = Writer::new();
        w.i32(-1).i64(1 << 40).bool(true).string("/a").strings(&["x", "yz"]);
        let mut r = Reader::new(&w.buf);
        assert_eq!(r.i32().unwrap(), -1);
        assert_eq!(r.i64().unwrap(), 1 << 40);
        assert!(r.bool().unwrap());
        assert_eq!(r.string().unwrap(), "/a");
        assert_eq!(r.strings().unwrap(), vec!["x", "yz"]);
        assert_eq!(r.remaining(), 0);
    }
}
