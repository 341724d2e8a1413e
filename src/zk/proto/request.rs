//! Client → server records: the connect handshake and every request body
//! the server understands, decoded into one enum.

use super::{op, Acl, Data, DecodeError, Reader};

/// `ConnectRequest`; `readOnly` is optional on the wire (old clients omit it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub timeout: i32,
    pub session_id: i64,
    pub password: Vec<u8>,
    pub read_only: bool,
}

impl ConnectRequest {
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let protocol_version = r.i32()?;
        let last_zxid_seen = r.i64()?;
        let timeout = r.i32()?;
        let session_id = r.i64()?;
        let password = r.buffer()?.to_vec();
        let read_only = if r.remaining() > 0 { r.bool()? } else { false };
        Ok(Self { protocol_version, last_zxid_seen, timeout, session_id, password, read_only })
    }
}

/// `RequestHeader{xid, type}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHeader {
    pub xid: i32,
    pub op: i32,
}

/// The watches a reconnecting client re-registers (`SetWatches`/`SetWatches2`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetWatches {
    pub relative_zxid: i64,
    pub data: Vec<String>,
    pub exist: Vec<String>,
    pub child: Vec<String>,
    pub persistent: Vec<String>,
    pub persistent_recursive: Vec<String>,
}

/// One operation inside a multi or multiRead.
pub type MultiOp = Request;

/// A decoded request body. `op` keeps the wire opcode where one record
/// serves several (create/create2/createContainer/createTTL,
/// getChildren/getChildren2, checkWatches/removeWatches).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Create {
        op: i32,
        path: String,
        data: Data,
        acl: Vec<Acl>,
        flags: i32,
        ttl: i64,
    },
    Delete {
        op: i32,
        path: String,
        version: i32,
    },
    Exists {
        path: String,
        watch: bool,
    },
    GetData {
        path: String,
        watch: bool,
    },
    SetData {
        path: String,
        data: Data,
        version: i32,
    },
    GetAcl {
        path: String,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
        version: i32,
    },
    GetChildren {
        op: i32,
        path: String,
        watch: bool,
    },
    Sync {
        path: String,
    },
    Ping,
    Check {
        path: String,
        version: i32,
    },
    Multi(Vec<MultiOp>),
    MultiRead(Vec<MultiOp>),
    CloseSession,
    SetWatches(SetWatches),
    AddWatch {
        path: String,
        mode: i32,
    },
    RemoveWatches {
        op: i32,
        path: String,
        kind: i32,
    },
    WhoAmI,
    GetEphemerals {
        prefix: String,
    },
    GetAllChildrenNumber {
        path: String,
    },
    Auth {
        scheme: String,
        auth: Vec<u8>,
    },
    /// A known opcode this server does not offer (reconfig, sasl).
    Unsupported {
        op: i32,
    },
}

impl Request {
    /// Decodes the body of a request whose header says `op`. `Ok(None)`
    /// means an opcode ZooKeeper does not define.
    pub fn decode(op: i32, body: &[u8]) -> Result<Option<Self>, DecodeError> {
        let mut r = Reader::new(body);
        let req = Self::read(op, &mut r, 0)?;
        Ok(req)
    }

    fn read(code: i32, r: &mut Reader<'_>, depth: u8) -> Result<Option<Self>, DecodeError> {
        Ok(Some(match code {
            op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL => {
                let path = r.string()?;
                let data = r.data()?;
                let acl = Acl::read_acls(r)?;
                let flags = r.i32()?;
                let ttl = if code == op::CREATE_TTL { r.i64()? } else { -1 };
                Request::Create { op: code, path, data, acl, flags, ttl }
            }
            op::DELETE | op::DELETE_CONTAINER => {
                let path = r.string()?;
                let version = if code == op::DELETE { r.i32()? } else { -1 };
                Request::Delete { op: code, path, version }
            }
            op::EXISTS => Request::Exists { path: r.string()?, watch: r.bool()? },
            op::GET_DATA => Request::GetData { path: r.string()?, watch: r.bool()? },
            op::SET_DATA => {
                Request::SetData { path: r.string()?, data: r.data()?, version: r.i32()? }
            }
            op::GET_ACL => Request::GetAcl { path: r.string()? },
            op::SET_ACL => {
                Request::SetAcl { path: r.string()?, acl: Acl::read_acls(r)?, version: r.i32()? }
            }
            op::GET_CHILDREN | op::GET_CHILDREN2 => {
                Request::GetChildren { op: code, path: r.string()?, watch: r.bool()? }
            }
            op::SYNC => Request::Sync { path: r.string()? },
            op::PING => Request::Ping,
            op::CHECK => Request::Check { path: r.string()?, version: r.i32()? },
            op::MULTI | op::MULTI_READ => {
                if depth > 0 {
                    return Err(DecodeError::Invalid("nested multi"));
                }
                let ops = Self::read_multi(r)?;
                if code == op::MULTI {
                    Request::Multi(ops)
                } else {
                    Request::MultiRead(ops)
                }
            }
            op::CLOSE_SESSION => Request::CloseSession,
            op::SET_WATCHES | op::SET_WATCHES2 => {
                let relative_zxid = r.i64()?;
                let data = r.strings()?;
                let exist = r.strings()?;
                let child = r.strings()?;
                let (persistent, persistent_recursive) = if code == op::SET_WATCHES2 {
                    (r.strings()?, r.strings()?)
                } else {
                    (Vec::new(), Vec::new())
                };
                Request::SetWatches(SetWatches {
                    relative_zxid,
                    data,
                    exist,
                    child,
                    persistent,
                    persistent_recursive,
                })
            }
            op::ADD_WATCH => Request::AddWatch { path: r.string()?, mode: r.i32()? },
            op::CHECK_WATCHES | op::REMOVE_WATCHES => {
                Request::RemoveWatches { op: code, path: r.string()?, kind: r.i32()? }
            }
            op::WHO_AM_I => Request::WhoAmI,
            op::GET_EPHEMERALS => Request::GetEphemerals { prefix: r.string()? },
            op::GET_ALL_CHILDREN_NUMBER => Request::GetAllChildrenNumber { path: r.string()? },
            op::AUTH => {
                let _type = r.i32()?;
                Request::Auth { scheme: r.string()?, auth: r.buffer()?.to_vec() }
            }
            op::RECONFIG | op::SASL => Request::Unsupported { op: code },
            _ => return Ok(None),
        }))
    }

    /// `MultiHeader{type, done, err}` + record, until a header with done set.
    fn read_multi(r: &mut Reader<'_>) -> Result<Vec<MultiOp>, DecodeError> {
        let mut ops = Vec::new();
        loop {
            let code = r.i32()?;
            let done = r.bool()?;
            let _err = r.i32()?;
            if done {
                return Ok(ops);
            }
            match Self::read(code, r, 1)? {
                Some(req) => ops.push(req),
                None => return Err(DecodeError::Invalid("unknown opcode in multi")),
            }
        }
    }

    /// Whether this request changes the tree (and so goes through the log).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::Create { .. }
                | Request::Delete { .. }
                | Request::SetData { .. }
                | Request::SetAcl { .. }
                | Request::Multi(_)
                | Request::CloseSession
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::Writer;
    use super::*;

    #[test]
    fn decodes_a_multi_and_rejects_a_truncated_one() {
        let mut w = Writer::new();
        w.i32(op::CREATE).bool(false).i32(-1);
        w.string("/a").buffer(b"x");
        Acl::write_acls(&mut w, &Acl::world_all());
        w.i32(0);
        w.i32(op::CHECK).bool(false).i32(-1).string("/b").i32(3);
        w.i32(-1).bool(true).i32(-1);
        let req = Request::decode(op::MULTI, &w.buf).unwrap().unwrap();
        match req {
            Request::Multi(ops) => assert_eq!(ops.len(), 2),
            other => panic!("{other:?}"),
        }
        let cut = &w.buf[..w.buf.len() - 3];
        assert_eq!(Request::decode(op::MULTI, cut), Err(DecodeError::Truncated));
    }

    #[test]
    fn unknown_opcode_is_none_and_connect_tolerates_missing_readonly() {
        assert_eq!(Request::decode(999, &[]), Ok(None));
        let mut w = Writer::new();
        w.i32(0).i64(0).i32(30000).i64(0).buffer(&[0; 16]);
        let c = ConnectRequest::decode(&w.buf).unwrap();
        assert!(!c.read_only);
        assert_eq!(c.timeout, 30000);
    }
}
