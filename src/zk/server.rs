//! The network side: the accept loop, one reader and one writer task per
//! connection, and four-letter words. Frames are checked against
//! jute.maxbuffer before anything is allocated; a frame that cannot be
//! decoded closes that connection and nothing else.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinSet;

use super::four_letter;
use super::processor::{Event, Out};
use super::proto::{ConnectRequest, Request};
use super::Config;

/// Per-IP connection counts, for maxClientCnxns.
type IpCounts = Arc<Mutex<HashMap<IpAddr, usize>>>;

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
            let mut c = counts.lock().unwrap_or_else(|e| e.into_inner());
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
            let mut c = counts.lock().unwrap_or_else(|e| e.into_inner());
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
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let closed = Arc::new(Notify::new());
    tokio::spawn(writer(wr, out_rx, closed.clone()));
    if events.send(Event::Connect { conn, req, addr, out: out_tx }).is_err() {
        return;
    }
    loop {
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
        if events.send(Event::Request { conn, xid, op, req, at }).is_err() {
            return;
        }
    }
}

/// Writes replies, coalescing whatever is queued into one write.
async fn writer(mut wr: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Out>, closed: Arc<Notify>) {
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut closing = false;
    while let Some(out) = rx.recv().await {
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
        if !buf.is_empty() && wr.write_all(&buf).await.is_err() {
            closing = true;
        }
        buf.clear();
        if closing {
            break;
        }
    }
    let _ = wr.shutdown().await;
    closed.notify_one();
}
