//! ZooKeeper's client wire format: framing constants, opcodes, error codes,
//! and the request/response records (`zookeeper.jute`). Decoding only
//! (no I/O); the server owns the sockets.

pub mod jute;
mod request;

pub use jute::{Reader, Writer};
pub use request::{ConnectRequest, MultiOp, Request, RequestHeader, SetWatches};

/// Why a packet could not be decoded; the connection that sent it is closed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("packet truncated")]
    Truncated,
    #[error("malformed packet: {0}")]
    Invalid(&'static str),
}

/// A znode's data as ZooKeeper keeps it: a node created or set with a null
/// buffer (zkCli's `create /a` without a value sends one) holds null, not
/// empty bytes; getData answers it with length -1, which zkCli prints as
/// `null` and kazoo returns as None. Both have a dataLength of 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Data(Option<Box<[u8]>>);

/// Empty, as ZooKeeper's own nodes (`/`, `/zookeeper`, ...) hold.
impl Default for Data {
    fn default() -> Self {
        Data(Some(Box::default()))
    }
}

impl Data {
    pub const NULL: Data = Data(None);

    pub fn len(&self) -> usize {
        self.0.as_deref().map_or(0, <[u8]>::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, or None for null.
    pub fn get(&self) -> Option<&[u8]> {
        self.0.as_deref()
    }
}

impl From<&[u8]> for Data {
    fn from(b: &[u8]) -> Self {
        Data(Some(b.into()))
    }
}

impl From<Vec<u8>> for Data {
    fn from(b: Vec<u8>) -> Self {
        Data(Some(b.into_boxed_slice()))
    }
}

/// Opcodes (`ZooDefs.OpCode`).
pub mod op {
    pub const NOTIFICATION: i32 = 0;
    pub const CREATE: i32 = 1;
    pub const DELETE: i32 = 2;
    pub const EXISTS: i32 = 3;
    pub const GET_DATA: i32 = 4;
    pub const SET_DATA: i32 = 5;
    pub const GET_ACL: i32 = 6;
    pub const SET_ACL: i32 = 7;
    pub const GET_CHILDREN: i32 = 8;
    pub const SYNC: i32 = 9;
    pub const PING: i32 = 11;
    pub const GET_CHILDREN2: i32 = 12;
    pub const CHECK: i32 = 13;
    pub const MULTI: i32 = 14;
    pub const CREATE2: i32 = 15;
    pub const RECONFIG: i32 = 16;
    pub const CHECK_WATCHES: i32 = 17;
    pub const REMOVE_WATCHES: i32 = 18;
    pub const CREATE_CONTAINER: i32 = 19;
    pub const DELETE_CONTAINER: i32 = 20;
    pub const CREATE_TTL: i32 = 21;
    pub const MULTI_READ: i32 = 22;
    pub const AUTH: i32 = 100;
    pub const SET_WATCHES: i32 = 101;
    pub const SASL: i32 = 102;
    pub const GET_EPHEMERALS: i32 = 103;
    pub const GET_ALL_CHILDREN_NUMBER: i32 = 104;
    pub const SET_WATCHES2: i32 = 105;
    pub const ADD_WATCH: i32 = 106;
    pub const WHO_AM_I: i32 = 107;
    pub const CLOSE_SESSION: i32 = -11;
    pub const ERROR: i32 = -1;
}

/// Special xids (`ClientCnxn`).
pub mod xid {
    pub const NOTIFICATION: i32 = -1;
    pub const PING: i32 = -2;
    pub const AUTH: i32 = -4;
    pub const SET_WATCHES: i32 = -8;
}

/// Error codes (`KeeperException.Code`); the numbers are the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ErrorCode {
    Ok = 0,
    SystemError = -1,
    RuntimeInconsistency = -2,
    MarshallingError = -5,
    Unimplemented = -6,
    BadArguments = -8,
    NoNode = -101,
    NoAuth = -102,
    BadVersion = -103,
    NoChildrenForEphemerals = -108,
    NodeExists = -110,
    NotEmpty = -111,
    SessionExpired = -112,
    InvalidAcl = -114,
    AuthFailed = -115,
    NoWatcher = -121,
    ReconfigDisabled = -123,
}

impl ErrorCode {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// Watch event types (`Watcher.Event.EventType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum EventType {
    NodeCreated = 1,
    NodeDeleted = 2,
    NodeDataChanged = 3,
    NodeChildrenChanged = 4,
}

/// `KeeperState.SyncConnected`, the state every path event carries.
pub const STATE_SYNC_CONNECTED: i32 = 3;

/// Create flags (`CreateMode`).
pub mod create_mode {
    pub const EPHEMERAL: i32 = 1;
    pub const SEQUENTIAL: i32 = 2;
    pub const CONTAINER: i32 = 4;
    pub const TTL: i32 = 5;
    pub const TTL_SEQUENTIAL: i32 = 6;
}

/// ACL permission bits (`ZooDefs.Perms`).
pub mod perms {
    pub const READ: i32 = 1;
    pub const WRITE: i32 = 2;
    pub const CREATE: i32 = 4;
    pub const DELETE: i32 = 8;
    pub const ADMIN: i32 = 16;
    pub const ALL: i32 = 31;
}

/// `Id{scheme, id}`: who an ACL entry or an authenticated client is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id {
    pub scheme: String,
    pub id: String,
}

/// `ACL{perms, Id}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Acl {
    pub perms: i32,
    pub id: Id,
}

impl Acl {
    pub fn world_all() -> Vec<Acl> {
        vec![Acl { perms: perms::ALL, id: Id { scheme: "world".into(), id: "anyone".into() } }]
    }

    pub fn read_acls(r: &mut Reader<'_>) -> Result<Vec<Acl>, DecodeError> {
        let n = r.count(12)?;
        let mut v = Vec::new();
        for _ in 0..n {
            let perms = r.i32()?;
            let scheme = r.string()?;
            let id = r.string()?;
            v.push(Acl { perms, id: Id { scheme, id } });
        }
        Ok(v)
    }

    pub fn write_acls(w: &mut Writer, acls: &[Acl]) {
        w.i32(acls.len() as i32);
        for a in acls {
            w.i32(a.perms).string(&a.id.scheme).string(&a.id.id);
        }
    }
}

/// `Stat`, as sent to clients.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: i64,
}

impl Stat {
    pub fn write(&self, w: &mut Writer) {
        w.i64(self.czxid)
            .i64(self.mzxid)
            .i64(self.ctime)
            .i64(self.mtime)
            .i32(self.version)
            .i32(self.cversion)
            .i32(self.aversion)
            .i64(self.ephemeral_owner)
            .i32(self.data_length)
            .i32(self.num_children)
            .i64(self.pzxid);
    }
}

/// Starts a reply frame: length placeholder + `ReplyHeader{xid, zxid, err}`.
pub fn reply(xid: i32, zxid: i64, err: ErrorCode) -> Writer {
    let mut w = Writer::frame();
    w.i32(xid).i64(zxid).i32(err.code());
    w
}

/// A complete watch notification frame. ZooKeeper 3.8 stamps every
/// notification's header with zxid -1.
pub fn notification(event: EventType, path: &str) -> Vec<u8> {
    let mut w = reply(xid::NOTIFICATION, -1, ErrorCode::Ok);
    w.i32(event as i32).i32(STATE_SYNC_CONNECTED).string(path);
    w.finish_frame()
}
