//! Transactions: the state changes the processor decides on, in the form the
//! transaction log stores and replay applies. A transaction records outcomes
//! (the final sequential name, the owner), never requests, so replaying it
//! needs no checks and always reaches the same tree.

use super::proto::{Acl, Data, DecodeError, Reader, Writer};

/// Who, when and in which order: every transaction has one zxid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnHeader {
    pub session: i64,
    pub zxid: i64,
    pub time: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Txn {
    CreateSession {
        timeout: i32,
        password: [u8; 16],
    },
    CloseSession,
    Create {
        path: String,
        data: Data,
        acl: Vec<Acl>,
        ephemeral_owner: i64,
    },
    Delete {
        path: String,
    },
    SetData {
        path: String,
        data: Data,
    },
    SetAcl {
        path: String,
        acl: Vec<Acl>,
    },
    Check {
        path: String,
    },
    Multi(Vec<Txn>),
    /// A write that failed still takes a zxid, as in ZooKeeper, so a zxid a
    /// client has seen always exists after a restart.
    Error {
        code: i32,
    },
}

const T_CREATE_SESSION: i32 = -10;
const T_CLOSE_SESSION: i32 = -11;
const T_CREATE: i32 = 1;
const T_DELETE: i32 = 2;
const T_SET_DATA: i32 = 5;
const T_SET_ACL: i32 = 7;
const T_CHECK: i32 = 13;
const T_MULTI: i32 = 14;
const T_ERROR: i32 = -1;

impl Txn {
    pub fn encode(&self, w: &mut Writer) {
        match self {
            Txn::CreateSession { timeout, password } => {
                w.i32(T_CREATE_SESSION).i32(*timeout).buffer(password);
            }
            Txn::CloseSession => {
                w.i32(T_CLOSE_SESSION);
            }
            Txn::Create { path, data, acl, ephemeral_owner } => {
                w.i32(T_CREATE).string(path).data(data);
                Acl::write_acls(w, acl);
                w.i64(*ephemeral_owner);
            }
            Txn::Delete { path } => {
                w.i32(T_DELETE).string(path);
            }
            Txn::SetData { path, data } => {
                w.i32(T_SET_DATA).string(path).data(data);
            }
            Txn::SetAcl { path, acl } => {
                w.i32(T_SET_ACL).string(path);
                Acl::write_acls(w, acl);
            }
            Txn::Check { path } => {
                w.i32(T_CHECK).string(path);
            }
            Txn::Multi(txns) => {
                w.i32(T_MULTI).i32(txns.len() as i32);
                for t in txns {
                    t.encode(w);
                }
            }
            Txn::Error { code } => {
                w.i32(T_ERROR).i32(*code);
            }
        }
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::decode_at(r, 0)
    }

    fn decode_at(r: &mut Reader<'_>, depth: u8) -> Result<Self, DecodeError> {
        Ok(match r.i32()? {
            T_CREATE_SESSION => {
                let timeout = r.i32()?;
                let pw = r.buffer()?;
                let password =
                    pw.try_into().map_err(|_| DecodeError::Invalid("session password length"))?;
                Txn::CreateSession { timeout, password }
            }
            T_CLOSE_SESSION => Txn::CloseSession,
            T_CREATE => Txn::Create {
                path: r.string()?,
                data: r.data()?,
                acl: Acl::read_acls(r)?,
                ephemeral_owner: r.i64()?,
            },
            T_DELETE => Txn::Delete { path: r.string()? },
            T_SET_DATA => Txn::SetData { path: r.string()?, data: r.data()? },
            T_SET_ACL => Txn::SetAcl { path: r.string()?, acl: Acl::read_acls(r)? },
            T_CHECK => Txn::Check { path: r.string()? },
            T_MULTI if depth == 0 => {
                let n = r.count(4)?;
                let mut v = Vec::new();
                for _ in 0..n {
                    v.push(Self::decode_at(r, 1)?);
                }
                Txn::Multi(v)
            }
            T_ERROR => Txn::Error { code: r.i32()? },
            _ => return Err(DecodeError::Invalid("unknown transaction type")),
        })
    }
}

impl TxnHeader {
    pub fn encode(&self, w: &mut Writer) {
        w.i64(self.session).i64(self.zxid).i64(self.time);
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self { session: r.i64()?, zxid: r.i64()?, time: r.i64()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips() {
        let txns = vec![
            Txn::CreateSession { timeout: 6000, password: [7; 16] },
            Txn::CloseSession,
            Txn::Create {
                path: "/a".into(),
                data: b"x".to_vec().into(),
                acl: Acl::world_all(),
                ephemeral_owner: 5,
            },
            Txn::Delete { path: "/a".into() },
            Txn::SetData { path: "/a".into(), data: vec![].into() },
            Txn::SetData { path: "/a".into(), data: Data::NULL },
            Txn::SetAcl { path: "/a".into(), acl: Acl::world_all() },
            Txn::Multi(vec![Txn::Check { path: "/b".into() }, Txn::Delete { path: "/b".into() }]),
            Txn::Error { code: -110 },
        ];
        for t in txns {
            let mut w = Writer::new();
            t.encode(&mut w);
            assert_eq!(Txn::decode(&mut Reader::new(&w.buf)).unwrap(), t);
        }
    }
}
