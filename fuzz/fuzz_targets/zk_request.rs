//! A ZooKeeper client's packets as the server reads them: the first frame
//! body as a ConnectRequest, every later one as `{xid, type}` and the
//! request record of that opcode (multi included).
//!
//! The input is a sequence of frames, each an int32 big-endian length and
//! that many bytes, as on the socket.

#![no_main]

use kafka_rs::zk::proto::{ConnectRequest, Reader, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kafka_rs_fuzz::set_allocation_limit(kafka_rs_fuzz::DEFAULT_ALLOCATION_LIMIT);
    let mut frames = Frames(data);
    let Some(connect) = frames.next() else { return };
    if ConnectRequest::decode(connect).is_err() {
        return;
    }
    for body in frames {
        let mut r = Reader::new(body);
        let (Ok(_xid), Ok(op)) = (r.i32(), r.i32()) else { return };
        if Request::decode(op, body.get(8..).unwrap_or(&[])).is_err() {
            return;
        }
    }
});

struct Frames<'a>(&'a [u8]);

impl<'a> Iterator for Frames<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (len, rest) = self.0.split_first_chunk::<4>()?;
        let len = usize::try_from(i32::from_be_bytes(*len)).ok()?;
        let body = rest.get(..len)?;
        self.0 = &rest[len..];
        Some(body)
    }
}
