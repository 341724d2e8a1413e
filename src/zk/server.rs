//! The network side: the accept loop, one reader and one writer task per
//! connection, and four-letter words. Frames are checked against
//! jute.maxbuffer before anything is allocated; a frame that cannot be
//! decoded closes that connection and nothing else.
//!
//! Memory per connection is bounded by its [`ConnBudget`]: the reader stops
//! taking requests while the connection's unanswered requests and unsent
//! replies exceed [`MAX_QUEUED_BYTES`], so a client that pipelines faster
//! than it reads only slows itself down.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinSet;

use super::four_letter;
use super::processor::{Event, Incoming, Out};
use super::proto::{ConnectRequest, Request};
use super::Config;
use crate::sync::MutexExt;

/// Per-IP connection counts, for maxClientCnxns.
type IpCounts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// Bytes one connection may hold in the server (requests read but not yet
/// answered, replies not yet written to its socket) before its reader stops
/// taking requests and the processor stops running the ones it has.
pub const MAX_QUEUED_BYTES: usize = 4 << 20;

/// Unsent replies past which the connection is closed. Stopping reads bounds
/// replies to requests, not watch notifications, which other sessions'
/// writes cause; a client that never reads them is dropped like ZooKeeper
/// drops any connection it cannot serve.
pub const MAX_UNSENT_BYTES: usize = 64 << 20;

/// What a request costs beyond its frame (its decoded form and queue slots),
/// so a flood of tiny requests is bounded as well as a few large ones.
const REQUEST_OVERHEAD: usize = 256;

/// The memory one connection holds, shared by its reader, its writer and
/// the processor.
#[derive(Default)]
pub struct ConnBudget {
    /// Charged by the reader per request, released when its reply is
    /// handed to the writer (for a write: once it is durable).
    requests: AtomicUsize,
    /// Charged when a reply or notification is queued, released once the
    /// writer has written it to the socket.
    replies: AtomicUsize,
    /// Wakes the reader when either of the above shrinks.
    progress: Notify,
    /// Closes the connection without waiting for queued replies to drain.
    killed: AtomicBool,
    kill: Notify,
}

impl ConnBudget {
    pub fn unsent_replies(&self) -> usize {
        self.replies.load(Ordering::Acquire)
    }

    /// Counts a queued reply; false if this connection has so much unsent
    /// that it was killed instead.
    pub fn charge_reply(&self, bytes: usize) -> bool {
        if self.killed.load(Ordering::Acquire) {
            return false;
        }
        let now = self.replies.fetch_add(bytes, Ordering::AcqRel) + bytes;
        if now > MAX_UNSENT_BYTES {
            self.replies.fetch_sub(bytes, Ordering::AcqRel);
            tracing::warn!(
                unsent = now,
                limit = MAX_UNSENT_BYTES,
                "closing connection: the client does not read its replies"
            );
            self.kill();
            return false;
        }
        true
    }

    /// Releases a request's charge once its reply is on its way.
    pub fn release_request(&self, charge: usize) {
        if charge > 0 {
            self.requests.fetch_sub(charge, Ordering::AcqRel);
            self.progress.notify_one();
        }
    }

    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill.notify_one();
    }

    fn over_budget(&self) -> bool {
        self.requests.load(Ordering::Acquire) + self.replies.load(Ordering::Acquire)
            > MAX_QUEUED_BYTES
    }
}

/// Accepts connections until the listener fails or the task is aborted.
pub async fn accept_loop(
    listener: TcpListener,
    cfg: Arc<Config>,
    events: mpsc::UnboundedSender<Event>,
    conns: &mut JoinSet<()>,
) {
    let counts: IpCounts = Arc::default();
    let mut next_id: u64 = 1;
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        while conns.try_join_next().is_some() {}
        {
            let mut c = counts.lock_or_recover();
            let n = c.entry(addr.ip()).or_insert(0);
            if cfg.max_client_cnxns > 0 && *n >= cfg.max_client_cnxns {
                tracing::warn!(%addr, limit = cfg.max_client_cnxns, "too many connections from this address");
                continue;
            }
            *n += 1;
        }
        let _ = stream.set_nodelay(true);
        let id = next_id;
        next_id += 1;
        let (cfg, events, counts) = (cfg.clone(), events.clone(), counts.clone());
        conns.spawn(async move {
            serve(stream, addr, id, cfg, events.clone()).await;
            let _ = events.send(Event::Closed { conn: id });
            let mut c = counts.lock_or_recover();
            if let Some(n) = c.get_mut(&addr.ip()) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    c.remove(&addr.ip());
                }
            }
        });
    }
}

/// Reads one frame body; `None` on EOF, a bad length or a read error.
async fn read_frame(
    rd: &mut BufReader<OwnedReadHalf>,
    max: usize,
    first: Option<[u8; 4]>,
) -> Option<Vec<u8>> {
    let head = match first {
        Some(h) => h,
        None => {
            let mut h = [0u8; 4];
            rd.read_exact(&mut h).await.ok()?;
            h
        }
    };
    let len = i32::from_be_bytes(head);
    if len < 0 || len as usize > max {
        tracing::warn!(len, max, "closing connection: packet length out of range (jute.maxbuffer)");
        return None;
    }
    let mut body = vec![0u8; len as usize];
    rd.read_exact(&mut body).await.ok()?;
    Some(body)
}

async fn serve(
    stream: TcpStream,
    addr: SocketAddr,
    conn: u64,
    cfg: Arc<Config>,
    events: mpsc::UnboundedSender<Event>,
) {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(64 * 1024, rd);
    let mut head = [0u8; 4];
    if rd.read_exact(&mut head).await.is_err() {
        return;
    }
    if let Some(word) = four_letter::is_word(&head) {
        let (tx, rx) = oneshot::channel();
        if events.send(Event::FourLetter { word: word.to_string(), reply: tx }).is_ok() {
            if let Ok(text) = rx.await {
                let _ = wr.write_all(text.as_bytes()).await;
            }
        }
        let _ = wr.shutdown().await;
        return;
    }
    let Some(body) = read_frame(&mut rd, cfg.jute_max_buffer, Some(head)).await else { return };
    let Ok(req) = ConnectRequest::decode(&body) else {
        tracing::warn!(%addr, "closing connection: malformed ConnectRequest");
        return;
    };
    // Unbounded, but everything sent on it was charged to `budget` first.
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let closed = Arc::new(Notify::new());
    let budget = Arc::new(ConnBudget::default());
    tokio::spawn(writer(wr, out_rx, closed.clone(), budget.clone(), conn, events.clone()));
    let connect = Event::Connect { conn, req, addr, out: out_tx, budget: budget.clone() };
    if events.send(connect).is_err() {
        return;
    }
    loop {
        while budget.over_budget() {
            tokio::select! {
                _ = budget.progress.notified() => {}
                _ = closed.notified() => return,
            }
        }
        let frame = tokio::select! {
            f = read_frame(&mut rd, cfg.jute_max_buffer, None) => f,
            _ = closed.notified() => None,
        };
        let Some(body) = frame else { return };
        let at = Instant::now();
        let mut r = super::proto::Reader::new(&body);
        let (Ok(xid), Ok(op)) = (r.i32(), r.i32()) else {
            tracing::warn!(%addr, "closing connection: truncated request header");
            return;
        };
        let req = match Request::decode(op, body.get(8..).unwrap_or(&[])) {
            Ok(req) => req,
            Err(e) => {
                tracing::warn!(%addr, op, error = %e, "closing connection: undecodable request");
                return;
            }
        };
        let charge = body.len() + REQUEST_OVERHEAD;
        budget.requests.fetch_add(charge, Ordering::AcqRel);
        if events.send(Event::Request(Incoming { conn, xid, op, req, at, charge })).is_err() {
            return;
        }
    }
}

/// Writes replies, coalescing whatever is queued into one write, and tells
/// the processor when a connection it held back has room again.
async fn writer(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Out>,
    closed: Arc<Notify>,
    budget: Arc<ConnBudget>,
    conn: u64,
    events: mpsc::UnboundedSender<Event>,
) {
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut closing = false;
    loop {
        let out = tokio::select! {
            o = rx.recv() => o,
            _ = budget.kill.notified() => None,
        };
        let Some(out) = out else { break };
        let mut next = Some(out);
        while let Some(o) = next.take() {
            match o {
                Out::Frame(f) => buf.extend_from_slice(&f),
                Out::Close => {
                    closing = true;
                    break;
                }
            }
            if buf.len() > 256 * 1024 {
                break;
            }
            next = rx.try_recv().ok();
        }
        if !buf.is_empty() {
            let written = tokio::select! {
                r = wr.write_all(&buf) => r.is_ok(),
                _ = budget.kill.notified() => false,
            };
            if !written {
                closing = true;
            }
            let before = budget.replies.fetch_sub(buf.len(), Ordering::AcqRel);
            budget.progress.notify_one();
            if before > MAX_QUEUED_BYTES && before - buf.len() <= MAX_QUEUED_BYTES {
                let _ = events.send(Event::Drained { conn });
            }
        }
        buf.clear();
        if closing {
            break;
        }
    }
    let _ = wr.shutdown().await;
    closed.notify_one();
}
