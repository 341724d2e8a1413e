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

    mod properties {
        use proptest::prelude::*;

        use super::super::*;
        use crate::zk::proto::Id;

        fn data() -> impl Strategy<Value = Data> {
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40))
                .prop_map(|d| d.map_or(Data::NULL, Data::from))
        }

        fn acls() -> impl Strategy<Value = Vec<Acl>> {
            proptest::collection::vec(
                (any::<i32>(), ".{0,8}", ".{0,16}")
                    .prop_map(|(perms, scheme, id)| Acl { perms, id: Id { scheme, id } }),
                0..4,
            )
        }

        /// Every kind but Multi, which nests these one level deep.
        fn single() -> impl Strategy<Value = Txn> {
            let path = "/[a-z0-9/]{0,20}";
            prop_oneof![
                (any::<i32>(), any::<[u8; 16]>())
                    .prop_map(|(timeout, password)| Txn::CreateSession { timeout, password }),
                Just(Txn::CloseSession),
                (path, data(), acls(), any::<i64>()).prop_map(
                    |(path, data, acl, ephemeral_owner)| {
                        Txn::Create { path, data, acl, ephemeral_owner }
                    }
                ),
                path.prop_map(|path| Txn::Delete { path }),
                (path, data()).prop_map(|(path, data)| Txn::SetData { path, data }),
                (path, acls()).prop_map(|(path, acl)| Txn::SetAcl { path, acl }),
                path.prop_map(|path| Txn::Check { path }),
                any::<i32>().prop_map(|code| Txn::Error { code }),
            ]
        }

        fn txn() -> impl Strategy<Value = Txn> {
            prop_oneof![
                3 => single(),
                1 => proptest::collection::vec(single(), 0..5).prop_map(Txn::Multi),
            ]
        }

        proptest! {
            #![proptest_config(crate::test_support::seeded(300, 0x0200_87a1))]

            #[test]
            fn entries_round_trip(
                header in (any::<i64>(), any::<i64>(), any::<i64>())
                    .prop_map(|(session, zxid, time)| TxnHeader { session, zxid, time }),
                t in txn(),
            ) {
                let mut w = Writer::new();
                header.encode(&mut w);
                t.encode(&mut w);
                let mut r = Reader::new(&w.buf);
                prop_assert_eq!(TxnHeader::decode(&mut r).unwrap(), header);
                prop_assert_eq!(Txn::decode(&mut r).unwrap(), t);
                prop_assert_eq!(r.remaining(), 0, "nothing left over");
            }

            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
                let _ = Txn::decode(&mut Reader::new(&bytes));
                let _ = TxnHeader::decode(&mut Reader::new(&bytes));
            }

            /// A valid entry with one byte changed reaches the decoder's
            /// inner fields (counts, lengths, nested Multi).
            #[test]
            fn corrupted_entries_never_panic(
                t in txn(),
                at in any::<prop::sample::Index>(),
                byte in any::<u8>(),
            ) {
                let mut w = Writer::new();
                t.encode(&mut w);
                let mut bytes = w.buf.clone();
                let i = at.index(bytes.len());
                bytes[i] = byte;
                let _ = Txn::decode(&mut Reader::new(&bytes));
            }
        }
    }
}
