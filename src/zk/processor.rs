//! The request processor: the one owner of the tree, the sessions and the
//! watches, in ZooKeeper's shape prep → sync → final.
//!
//! - **prep**: a request is checked against the tree (path, ACL, version,
//!   existence) and becomes a transaction, which is applied to the tree at
//!   once so the next request sees it; its log record joins the batch.
//! - **sync**: after each turn of the loop the batch goes to the log thread,
//!   which writes and fsyncs it (batches that arrive during an fsync are
//!   merged: group commit across sessions) and reports the durable zxid.
//! - **final**: every reply and notification waits in one queue, tagged with
//!   the zxid of the state it shows, and leaves only once that zxid is
//!   durable. So nobody, not even another session's read, sees a change that
//!   a crash could still take back, and each session's replies keep their
//!   request order.
//!
//! If the log cannot write (a full disk), `rollback` takes the state back
//! to the last durable zxid and the server answers reads but refuses
//! writes until the log thread finds the disk writable again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use super::data_tree::{Change, DataTree};
use super::proto::{self, op, ConnectRequest, ErrorCode, Id, Request, Writer};
use super::server::{ConnBudget, MAX_QUEUED_BYTES};
use super::session::SessionTracker;
use super::txn::{Txn, TxnHeader};
use super::txn_log::encode_record;
use super::watch::{ConnId, WatchManager};
use super::{snapshot, Config};
use crate::time::Clock;

/// What a connection's writer task is told to do.
#[derive(Debug)]
pub enum Out {
    Frame(Vec<u8>),
    Close,
}

pub type Outbox = mpsc::UnboundedSender<Out>;

/// Everything that reaches the processor, in arrival order.
pub enum Event {
    Connect {
        conn: ConnId,
        req: ConnectRequest,
        addr: SocketAddr,
        out: Outbox,
        budget: Arc<ConnBudget>,
    },
    Request(Incoming),
    Closed {
        conn: ConnId,
    },
    /// The connection's unsent replies fell back under the limit.
    Drained {
        conn: ConnId,
    },
    Durable(i64),
    /// A write or fsync failed; everything after `durable` is undone.
    LogFailed {
        error: String,
        durable: i64,
    },
    /// The disk takes writes again.
    LogRecovered,
    Tick,
    FourLetter {
        word: String,
        reply: oneshot::Sender<String>,
    },
    /// A Prometheus scrape (`metricsProvider.httpPort`).
    Metrics {
        start_time_seconds: f64,
        reply: oneshot::Sender<String>,
    },
    /// A clean stop: the processor ends, handing back a snapshot of its
    /// last state (zxid, bytes) if the log has anything after the last one.
    Stop {
        reply: oneshot::Sender<Option<(i64, Vec<u8>)>>,
    },
}

/// A command for the log thread.
pub enum SyncCmd {
    Append {
        bytes: Vec<u8>,
        last_zxid: i64,
    },
    /// Start a new log file; the next record has this zxid.
    Roll {
        next_zxid: i64,
    },
    /// After `LogFailed`: the processor has rolled back; every command
    /// before this one was built on the undone state.
    Reset,
}

/// A request as the reader hands it over; `charge` is what it counts
/// against its connection's budget until its reply leaves.
pub struct Incoming {
    pub conn: ConnId,
    pub xid: i32,
    pub op: i32,
    pub req: Option<Request>,
    pub at: Instant,
    pub charge: usize,
}

pub(super) struct Conn {
    pub out: Outbox,
    pub budget: Arc<ConnBudget>,
    /// Requests held back while too many replies wait to be written; they
    /// run in order once the writer catches up.
    parked: VecDeque<Incoming>,
    pub addr: SocketAddr,
    pub session: Option<i64>,
    pub auth: Vec<Id>,
    pub received: u64,
    pub sent: u64,
    pub established: i64,
    pub last_op: &'static str,
    pub last_xid: i32,
}

pub(super) struct Pending {
    pub need: i64,
    pub conn: ConnId,
    out: Out,
    at: Option<Instant>,
    /// The request charge this reply releases when it leaves.
    charge: usize,
}

#[derive(Default)]
pub(super) struct Latency {
    pub min_us: u64,
    pub max_us: u64,
    pub total_us: u64,
    pub count: u64,
}

/// Largest tree a clean stop snapshots (a few ms to write); a bigger one
/// is left to the snapshot the next start takes in the background, so a
/// stop never waits long.
const STOP_SNAPSHOT_MAX_BYTES: u64 = 8 << 20;

pub struct Processor {
    pub(super) cfg: Arc<Config>,
    pub(super) tree: DataTree,
    pub(super) sessions: SessionTracker,
    pub(super) watches: WatchManager,
    pub(super) conns: HashMap<ConnId, Conn>,
    pub(super) durable: i64,
    pub(super) pending: VecDeque<Pending>,
    pub(super) batch: Vec<u8>,
    pub(super) sync_tx: std::sync::mpsc::Sender<SyncCmd>,
    since_snapshot: u64,
    /// A snapshot waiting for its zxid to be durable before it is written,
    /// so no snapshot ever holds a transaction the log could lose.
    pub(super) snapshot_due: Option<(i64, Vec<u8>)>,
    /// Why the log cannot write; while set, writes are refused.
    pub(super) log_error: Option<String>,
    /// Sessions opened while the log could not write, not logged yet.
    pub(super) unlogged: HashSet<i64>,
    pub(super) clock: Arc<dyn Clock>,
    last_container_check: i64,
    pub(super) latency: Latency,
    pub(super) packets_received: u64,
    pub(super) packets_sent: u64,
    fired: Vec<ConnId>,
    pub(super) started: Instant,
}

impl Processor {
    pub fn new(
        cfg: Arc<Config>,
        tree: DataTree,
        sessions: SessionTracker,
        sync_tx: std::sync::mpsc::Sender<SyncCmd>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let durable = tree.last_zxid;
        let now = clock.now_ms();
        Self {
            cfg,
            tree,
            sessions,
            watches: WatchManager::default(),
            conns: HashMap::new(),
            durable,
            pending: VecDeque::new(),
            batch: Vec::new(),
            sync_tx,
            since_snapshot: 0,
            snapshot_due: None,
            log_error: None,
            unlogged: HashSet::new(),
            clock,
            last_container_check: now,
            latency: Latency::default(),
            packets_received: 0,
            packets_sent: 0,
            fired: Vec::new(),
            started: Instant::now(),
        }
    }

    /// Runs until the event channel closes, or the state cannot be rebuilt
    /// after the log failed.
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Event>) -> Result<(), super::Error> {
        while let Some(ev) = rx.recv().await {
            if let Event::Stop { reply } = ev {
                return self.stop(reply);
            }
            self.step(ev).await?;
            // Drain what is already queued so one fsync covers all of it.
            for _ in 0..4096 {
                match rx.try_recv() {
                    Ok(Event::Stop { reply }) => return self.stop(reply),
                    Ok(ev) => self.step(ev).await?,
                    Err(_) => break,
                }
            }
            self.flush_batch();
            self.release();
        }
        Ok(())
    }

    fn stop(mut self, reply: oneshot::Sender<Option<(i64, Vec<u8>)>>) -> Result<(), super::Error> {
        self.flush_batch();
        let state = if self.log_error.is_some() {
            None
        } else if self.since_snapshot > 0
            && self.tree.approximate_data_size() <= STOP_SNAPSHOT_MAX_BYTES
        {
            Some((self.tree.last_zxid, snapshot::serialize(&self.tree, &self.sessions)))
        } else {
            self.snapshot_due.take()
        };
        let _ = reply.send(state);
        Ok(())
    }

    async fn step(&mut self, ev: Event) -> Result<(), super::Error> {
        match ev {
            Event::LogFailed { error, durable } => self.roll_back(error, durable).await,
            ev => {
                self.handle(ev);
                Ok(())
            }
        }
    }

    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Connect { conn, req, addr, out, budget } => {
                self.connect(conn, req, addr, out, budget)
            }
            Event::Request(r) => self.request(r),
            Event::Closed { conn } => self.closed(conn),
            Event::Drained { conn } => self.drained(conn),
            Event::Durable(z) => self.durable = self.durable.max(z),
            Event::LogFailed { .. } | Event::Stop { .. } => {}
            Event::LogRecovered => self.log_recovered(),
            Event::Tick => self.tick(),
            Event::FourLetter { word, reply } => {
                let _ = reply.send(super::four_letter::answer(self, &word));
            }
            Event::Metrics { start_time_seconds, reply } => {
                let _ = reply.send(super::metrics::render(self, start_time_seconds));
            }
        }
    }

    // ---- final: replies wait for durability ----

    /// Queues `out` for `conn`, to leave once `need` is durable.
    pub(super) fn send(&mut self, conn: ConnId, need: i64, out: Out, at: Option<Instant>) {
        self.send_charged(conn, need, out, at, 0);
    }

    /// [`Self::send`] for the reply that releases a request's `charge`.
    fn send_charged(
        &mut self,
        conn: ConnId,
        need: i64,
        out: Out,
        at: Option<Instant>,
        charge: usize,
    ) {
        let Some(c) = self.conns.get(&conn) else { return };
        if let Out::Frame(f) = &out {
            if !c.budget.charge_reply(f.len()) {
                return;
            }
        }
        let p = Pending { need, conn, out, at, charge };
        if self.pending.is_empty() && need <= self.durable {
            self.deliver(p);
        } else {
            self.pending.push_back(p);
        }
    }

    pub(super) fn release(&mut self) {
        while self.pending.front().is_some_and(|p| p.need <= self.durable) {
            if let Some(p) = self.pending.pop_front() {
                self.deliver(p);
            }
        }
        if self.snapshot_due.as_ref().is_some_and(|(zxid, _)| *zxid <= self.durable) {
            if let Some((zxid, bytes)) = self.snapshot_due.take() {
                let _ = snapshot::write_in_background(&self.cfg, zxid, bytes);
            }
        }
    }

    fn deliver(&mut self, p: Pending) {
        if let Some(at) = p.at {
            let us = at.elapsed().as_micros() as u64;
            let l = &mut self.latency;
            l.min_us = if l.count == 0 { us } else { l.min_us.min(us) };
            l.max_us = l.max_us.max(us);
            l.total_us += us;
            l.count += 1;
        }
        if let Some(c) = self.conns.get_mut(&p.conn) {
            match p.out {
                Out::Frame(_) => {
                    c.sent += 1;
                    self.packets_sent += 1;
                }
                // A client that stopped reading would never see the close
                // behind its unread replies.
                Out::Close if c.budget.unsent_replies() > MAX_QUEUED_BYTES => c.budget.kill(),
                Out::Close => {}
            }
            c.budget.release_request(p.charge);
            let _ = c.out.send(p.out);
        }
    }

    pub(super) fn outstanding(&self) -> usize {
        self.pending.len()
    }

    // ---- sync: the log batch ----

    fn flush_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut self.batch);
        let _ = self.sync_tx.send(SyncCmd::Append { bytes, last_zxid: self.tree.last_zxid });
        if self.since_snapshot >= self.cfg.snap_count {
            self.take_snapshot();
        }
    }

    /// Serializes the tree here, between two transactions, to be written on
    /// another thread once it is durable; the log rolls so the next file
    /// starts after it.
    fn take_snapshot(&mut self) {
        self.since_snapshot = 0;
        let zxid = self.tree.last_zxid;
        let bytes = snapshot::serialize(&self.tree, &self.sessions);
        let _ = self.sync_tx.send(SyncCmd::Roll { next_zxid: zxid + 1 });
        self.snapshot_due = Some((zxid, bytes));
    }

    /// Gives `txn` the next zxid, applies it and adds it to the log batch,
    /// then fires the watches it triggers. Returns the zxid.
    pub(super) fn commit(&mut self, session: i64, txn: Txn) -> i64 {
        let hdr = self.next_header(session);
        let mut changes = Vec::new();
        if let Err(e) = self.tree.apply(&hdr, &txn, &mut changes, None) {
            // prep checked everything apply needs, so this is a bug; keep
            // serving and log it rather than take the server down.
            tracing::error!(error = %e, "transaction did not apply");
        }
        self.log(&hdr, &txn, &changes);
        hdr.zxid
    }

    pub(super) fn next_header(&self, session: i64) -> TxnHeader {
        TxnHeader { session, zxid: self.tree.last_zxid + 1, time: self.clock.now_ms() }
    }

    /// Logs an already-applied transaction and fires its watches.
    pub(super) fn log(&mut self, hdr: &TxnHeader, txn: &Txn, changes: &[Change]) {
        self.tree.last_zxid = self.tree.last_zxid.max(hdr.zxid);
        encode_record(hdr, txn, &mut self.batch);
        self.since_snapshot += 1;
        if let Txn::CreateSession { timeout, password } = txn {
            self.sessions.add(hdr.session, *timeout, *password, self.clock.now_ms());
        }
        for (event, path) in changes {
            self.watches.trigger(*event, path, &mut self.fired);
            if self.fired.is_empty() {
                continue;
            }
            let frame = proto::notification(*event, path);
            let fired = std::mem::take(&mut self.fired);
            for conn in &fired {
                self.send(*conn, hdr.zxid, Out::Frame(frame.clone()), None);
            }
            self.fired = fired;
        }
    }

    // ---- sessions and connections ----

    fn connect(
        &mut self,
        conn: ConnId,
        req: ConnectRequest,
        addr: SocketAddr,
        out: Outbox,
        budget: Arc<ConnBudget>,
    ) {
        let ip = Id { scheme: "ip".into(), id: addr.ip().to_string() };
        let now = self.clock.now_ms();
        self.conns.insert(
            conn,
            Conn {
                out,
                budget,
                parked: VecDeque::new(),
                addr,
                session: None,
                auth: vec![ip],
                received: 1,
                sent: 0,
                established: now,
                last_op: "NA",
                last_xid: 0,
            },
        );
        self.packets_received += 1;
        if req.last_zxid_seen > self.tree.last_zxid {
            // The client has seen a future we do not have: refuse, as ZooKeeper does.
            tracing::info!(%addr, seen = req.last_zxid_seen, ours = self.tree.last_zxid, "refusing session");
            self.send(conn, 0, Out::Close, None);
            return;
        }
        let timeout = self.cfg.negotiate_timeout(req.timeout);
        if req.session_id != 0 {
            let valid = self
                .sessions
                .get(req.session_id)
                .is_some_and(|s| !s.closing && s.password[..] == req.password[..]);
            if !valid {
                let frame = connect_response(0, 0, &[0; 16]);
                self.send(conn, 0, Out::Frame(frame), None);
                self.send(conn, 0, Out::Close, None);
                return;
            }
            let (old, password, timeout) = {
                let s = self.sessions.get_mut(req.session_id).expect("checked above");
                let old = s.conn.replace(conn);
                (old, s.password, s.timeout_ms)
            };
            if let Some(old) = old.filter(|o| *o != conn) {
                self.send(old, 0, Out::Close, None);
            }
            self.sessions.touch(req.session_id, now);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.session = Some(req.session_id);
            }
            let frame = connect_response(timeout, req.session_id, &password);
            let need = self.tree.last_zxid;
            self.send(conn, need, Out::Frame(frame), None);
            return;
        }
        let id = self.sessions.next_id();
        let mut password = [0u8; 16];
        for b in &mut password {
            *b = fastrand::u8(..);
        }
        let zxid = if self.log_error.is_some() {
            // Like ZooKeeper's local sessions: in memory only, so clients
            // can still connect and read; logged once the disk takes writes.
            self.sessions.add(id, timeout, password, now);
            self.unlogged.insert(id);
            self.tree.last_zxid
        } else {
            self.commit(id, Txn::CreateSession { timeout, password })
        };
        if let Some(s) = self.sessions.get_mut(id) {
            s.conn = Some(conn);
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.session = Some(id);
        }
        self.send(conn, zxid, Out::Frame(connect_response(timeout, id, &password)), None);
    }

    fn closed(&mut self, conn: ConnId) {
        self.watches.remove_conn(conn);
        if let Some(c) = self.conns.remove(&conn) {
            if let Some(s) = c.session.and_then(|id| self.sessions.get_mut(id)) {
                if s.conn == Some(conn) {
                    s.conn = None;
                }
            }
        }
    }

    /// Ends a session (closeSession or expiry): its ephemerals go in one
    /// transaction. On expiry its connection closes once that is durable; a
    /// closeSession request closes it itself, after the reply.
    pub(super) fn close_session(&mut self, id: i64, close_conn: bool) -> i64 {
        if let Some(s) = self.sessions.get_mut(id) {
            s.closing = true;
        }
        let zxid = self.commit(id, Txn::CloseSession);
        if let Some(s) = self.sessions.remove(id) {
            if let Some(conn) = s.conn.filter(|_| close_conn) {
                self.send(conn, zxid, Out::Close, None);
            }
        }
        zxid
    }

    fn tick(&mut self) {
        if self.log_error.is_some() {
            // Expiring a session or deleting a container is a write: both
            // wait until the log takes writes again.
            return;
        }
        let now = self.clock.now_ms();
        for id in self.sessions.expired(now) {
            tracing::info!(session = format!("{id:#x}"), "session expired");
            self.close_session(id, true);
        }
        if now - self.last_container_check >= self.cfg.container_check_interval_ms as i64 {
            self.last_container_check = now;
            self.delete_empty_containers(now);
        }
        self.flush_batch();
        self.release();
    }

    /// `ContainerManager`: containers that had children and lost them all,
    /// and TTL nodes without children that were not modified for their TTL.
    fn delete_empty_containers(&mut self, now: i64) {
        let doomed: Vec<String> = self
            .tree
            .expirable()
            .filter(|p| {
                let Some(n) = self.tree.get(p) else { return false };
                if !n.children.is_empty() {
                    return false;
                }
                let owner = n.stat.ephemeral_owner;
                if owner == super::data_tree::CONTAINER_OWNER {
                    n.stat.cversion > 0
                } else {
                    let ttl = owner & !super::data_tree::TTL_MASK;
                    now - n.stat.mtime > ttl
                }
            })
            .map(str::to_string)
            .collect();
        for p in doomed {
            self.commit(0, Txn::Delete { path: p });
        }
    }

    /// Runs a request now, or parks it behind its connection's unsent
    /// replies so one slow reader holds no more than its budget.
    fn request(&mut self, r: Incoming) {
        let Some(c) = self.conns.get_mut(&r.conn) else { return };
        if !c.parked.is_empty() || c.budget.unsent_replies() > MAX_QUEUED_BYTES {
            c.parked.push_back(r);
            return;
        }
        self.run_request(r);
    }

    fn drained(&mut self, conn: ConnId) {
        loop {
            let Some(c) = self.conns.get_mut(&conn) else { return };
            if c.budget.unsent_replies() > MAX_QUEUED_BYTES {
                return;
            }
            let Some(r) = c.parked.pop_front() else { return };
            self.run_request(r);
        }
    }

    fn run_request(&mut self, r: Incoming) {
        let Incoming { conn, xid, op: code, req, at, charge } = r;
        let now = self.clock.now_ms();
        self.packets_received += 1;
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.received += 1;
        c.last_op = op_name(code);
        c.last_xid = xid;
        let Some(session) = c.session else {
            self.send_charged(conn, 0, Out::Close, None, charge);
            return;
        };
        self.sessions.touch(session, now);
        let last = self.tree.last_zxid;
        if self.sessions.get(session).is_none_or(|s| s.closing) {
            let w = proto::reply(xid, last, ErrorCode::SessionExpired);
            self.send_charged(conn, last, Out::Frame(w.finish_frame()), Some(at), charge);
            self.send(conn, last, Out::Close, None);
            return;
        }
        let Some(req) = req else {
            // UnimplementedRequestProcessor: answer, then close.
            let w = proto::reply(xid, last, ErrorCode::Unimplemented);
            self.send_charged(conn, last, Out::Frame(w.finish_frame()), Some(at), charge);
            self.send(conn, last, Out::Close, None);
            return;
        };
        let close_after = matches!(req, Request::CloseSession);
        let auth_failed_close = matches!(&req, Request::Auth { scheme, .. } if scheme != "digest");
        let (need, frame) = self.execute(conn, session, xid, req);
        self.send_charged(conn, need, Out::Frame(frame), Some(at), charge);
        if close_after || auth_failed_close {
            self.send(conn, need, Out::Close, None);
        }
    }

    pub(super) fn auth_of(&self, conn: ConnId) -> &[Id] {
        self.conns.get(&conn).map(|c| c.auth.as_slice()).unwrap_or(&[])
    }

    /// Writes an error-only reply (ZooKeeper omits the body on error).
    pub(super) fn error_reply(xid: i32, zxid: i64, err: ErrorCode) -> Vec<u8> {
        proto::reply(xid, zxid, err).finish_frame()
    }
}

fn connect_response(timeout: i32, session: i64, password: &[u8]) -> Vec<u8> {
    let mut w = Writer::frame();
    w.i32(0).i32(timeout).i64(session).buffer(password).bool(false);
    w.finish_frame()
}

/// Opcode names as `cons` prints them (`Request.op2String`).
pub fn op_name(code: i32) -> &'static str {
    match code {
        op::NOTIFICATION => "NOTIFICATION",
        op::CREATE => "CREA",
        op::DELETE => "DELE",
        op::EXISTS => "EXIS",
        op::GET_DATA => "GETD",
        op::SET_DATA => "SETD",
        op::GET_ACL => "GETA",
        op::SET_ACL => "SETA",
        op::GET_CHILDREN => "GETC",
        op::SYNC => "SYNC",
        op::PING => "PING",
        op::GET_CHILDREN2 => "GETC",
        op::CHECK => "CHEC",
        op::MULTI => "MULT",
        op::CREATE2 => "CREA",
        op::CREATE_CONTAINER => "CREC",
        op::CREATE_TTL => "CRET",
        op::MULTI_READ => "MLTR",
        op::SET_WATCHES | op::SET_WATCHES2 => "SETW",
        op::ADD_WATCH => "ADDW",
        op::CLOSE_SESSION => "CLOS",
        _ => "UNKNOWN",
    }
}
