//! One client connection: read size-prefixed frames, handle each request in
//! arrival order, and hand replies to a writer task, so a client may have
//! many requests in flight and gets the answers in order (Kafka's
//! guarantee). Requests of one connection are handled one at a time, as
//! Kafka's processor mutes a channel while its request is processed, so
//! produce requests from one producer append in order.
//!
//! Fetch replies carry file regions that the writer sends with
//! `sendfile(2)`: record bytes go from the page cache to the socket without
//! passing through user space. On SSL and SASL_SSL listeners the stream is
//! TLS (see [`super::tls`]): the handshake comes first, and regions are
//! read and encrypted instead.
//!
//! A frame above [`SMALL_FRAME`] bytes reserves its declared size from the
//! broker's request memory pool (`queued.max.request.bytes`) before its body
//! is read, and holds it until the request has been handled; while the pool
//! is short the connection is not read. The read buffer grows only with the
//! bytes that actually arrive.
//!
//! Anything wrong with a frame (size above `socket.request.max.bytes`,
//! garbage, truncation, unknown API or version) closes this connection only,
//! after a log line; the broker keeps serving everyone else.

use std::fs::File;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use kafka_protocol::messages::ApiKey;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::apis;
use super::apis::response::{client_throttles, quota_exempt};
use super::memory_pool::{MemoryPool, Reservation};
use super::quota::{busy_percentage, quota_user, PollTimed, QuotaKind};
use super::sasl::{self, SaslState, Step};
use super::tls::{self, ClientStream, StreamReader, StreamWriter};
use super::BrokerContext;
use crate::protocol::api::is_supported;
use crate::protocol::fetch_writer::{Chunk, RecordsRegion};
use crate::protocol::frame::{check_request_size, SIZE_PREFIX};
use crate::protocol::header::{decode_header, peek_preamble};
use crate::protocol::{DecodeError, EncodeError};

/// Replies waiting for the writer; beyond this the reader stops reading, so
/// a client that does not read its answers only slows itself down.
const REPLY_QUEUE: usize = 64;
/// Small replies queued together are written with one syscall, up to this.
const COALESCE_BYTES: usize = 64 * 1024;
/// The read buffer grows by at most this much per read, so a size prefix
/// alone never makes the broker allocate.
const READ_CHUNK: usize = 1 << 20;
/// Frames up to this size are read without a reservation from the request
/// memory pool, so ApiVersions, Metadata, heartbeats and offset commits
/// keep flowing while large requests wait for memory. Each connection holds
/// at most one such frame.
const SMALL_FRAME: usize = 64 * 1024;

/// A region of a segment file, sent with sendfile.
#[derive(Clone, Debug)]
pub struct FileRegion {
    pub file: Arc<File>,
    pub position: u64,
    pub len: usize,
}

impl RecordsRegion for FileRegion {
    fn len(&self) -> usize {
        self.len
    }
}

/// What a handler produced for one request.
pub enum Reply {
    /// An encoded response frame.
    Frame(BytesMut),
    /// A response to encode once the request quota has set its
    /// throttle time.
    Pending(apis::response::Pending),
    /// A Fetch response: header pieces and file regions.
    Chunks(Vec<Chunk<FileRegion>>),
    /// No response at all (Produce with acks=0).
    Nothing,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("connection closed in the middle of a request")]
    Truncated,
    #[error("no bytes of a {size}-byte request for {idle_ms} ms (connections.max.idle.ms) while it holds request memory")]
    Stalled { size: usize, idle_ms: u64 },
    /// The request was understood but the connection must close (acks=0
    /// produce failures).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The listener a connection arrived on.
#[derive(Debug)]
pub struct ListenerInfo {
    pub name: String,
    pub security_protocol: crate::cluster::SecurityProtocol,
    /// Set on SSL and SASL_SSL listeners.
    pub tls: Option<Arc<crate::security::tls::ServerTls>>,
}

/// Who is on the other end of a connection, for the handlers that answer
/// differently per listener or per client.
#[derive(Debug)]
pub struct Session {
    pub peer: SocketAddr,
    pub listener: Arc<ListenerInfo>,
    /// `User:<name>` once SASL authenticated or from a TLS client
    /// certificate (after `ssl.principal.mapping.rules`), else
    /// `User:ANONYMOUS`.
    pub principal: String,
    /// How long the last request's quota says to stop reading this
    /// connection once its response is queued (KIP-219's channel mute).
    pub throttle_ms: std::sync::atomic::AtomicU64,
    /// Set by a request quotas do not apply to (a follower's fetch).
    pub quota_exempt: std::sync::atomic::AtomicBool,
}

impl Session {
    /// Holds the connection back for at least `ms` after this request.
    pub fn throttle(&self, ms: u64) {
        self.throttle_ms.fetch_max(ms, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Kafka's principal for connections that did not authenticate.
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// Kafka's `sasl.server.max.receive.size` default.
const SASL_MAX_RECEIVE_SIZE: usize = 524_288;

/// Serves one connection until the client leaves, a frame is bad or the
/// broker shuts down (then the request in progress is still answered).
pub async fn serve(
    ctx: Arc<BrokerContext>,
    stream: TcpStream,
    peer: SocketAddr,
    listener: Arc<ListenerInfo>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut principal = ANONYMOUS.to_string();
    let stream = match &listener.tls {
        None => ClientStream::Plain(stream),
        Some(server_tls) => {
            let accepted = tokio::select! {
                a = tls::accept(server_tls, stream) => a,
                _ = shutdown.changed() => return,
            };
            match accepted {
                Ok(a) => {
                    if let Some(name) = a.principal {
                        principal = format!("User:{name}");
                        tracing::info!(%peer, listener = %listener.name, %principal, "TLS client authenticated");
                    }
                    a.stream
                }
                Err(why) => {
                    tls::log_failed_handshake(peer, &listener.name, &why);
                    return;
                }
            }
        }
    };
    let mut sasl = listener.security_protocol.is_sasl().then_some(SaslState::Handshake);
    let mut session = Session {
        peer,
        listener,
        principal,
        throttle_ms: Default::default(),
        quota_exempt: Default::default(),
    };
    stream.set_nodelay();
    let _open = ctx.replicas.metrics.connection_opened();
    let (mut rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::channel::<Reply>(REPLY_QUEUE);
    let writer = tokio::spawn(write_loop(wr, rx, peer));
    let mut limits = FrameLimits {
        max: ctx.config.socket_request_max_bytes,
        idle: Duration::from_millis(ctx.config.connections_max_idle_ms),
    };
    if sasl.is_some() {
        // Kafka's sasl.server.max.receive.size: an unauthenticated client
        // cannot make the broker hold a large frame.
        limits.max = limits.max.min(SASL_MAX_RECEIVE_SIZE);
    }
    let mut buf = BytesMut::with_capacity(8 * 1024);
    // When the SASL session ends (connections.max.reauth.ms), and whether
    // the client is re-authenticating now.
    let mut session_expires: Option<std::time::Instant> = None;
    let mut reauthenticating = false;
    loop {
        let frame = tokio::select! {
            frame = read_frame(&mut rd, &mut buf, &limits, &ctx.request_pool) => frame,
            _ = shutdown.changed() => break,
        };
        let (frame, reservation) = match frame {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(%peer, "closing connection: {e}");
                break;
            }
        };
        if let (Some(state @ SaslState::Complete), Some(expires)) = (sasl.as_mut(), session_expires)
        {
            // KIP-368: a SaslHandshake on an authenticated connection
            // starts a re-authentication; any other request after the
            // session expired closes the connection, as Kafka does.
            let key = peek_preamble(&frame).ok().map(|p| p.api_key);
            if key == Some(ApiKey::SaslHandshake as i16) {
                *state = SaslState::Handshake;
                reauthenticating = true;
            } else if std::time::Instant::now() >= expires {
                tracing::info!(%peer, principal = %session.principal, "closing connection: its SASL session expired without re-authentication (connections.max.reauth.ms)");
                break;
            }
        }
        let frame = match sasl.as_mut() {
            Some(state) if !matches!(state, SaslState::Complete) => {
                match sasl::step(&ctx, &session.listener.name, state, frame).await {
                    Ok(Step::Dispatch(frame)) => frame,
                    Ok(Step::Reply(reply)) => {
                        if tx.send(Reply::Frame(reply)).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    Ok(Step::Authenticated(reply, user)) => {
                        let principal = format!("User:{user}");
                        if reauthenticating && principal != session.principal {
                            tracing::info!(%peer, from = %session.principal, to = %principal, "closing connection: a re-authentication cannot change the principal");
                            break;
                        }
                        reauthenticating = false;
                        let lifetime = ctx
                            .config
                            .sasl
                            .listeners
                            .get(&session.listener.name)
                            .map_or(0, |l| l.connections_max_reauth_ms);
                        session_expires = (lifetime > 0)
                            .then(|| std::time::Instant::now() + Duration::from_millis(lifetime));
                        session.principal = principal;
                        limits.max = ctx.config.socket_request_max_bytes;
                        tracing::debug!(%peer, principal = %session.principal, "authenticated");
                        if tx.send(Reply::Frame(reply)).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    Ok(Step::ReplyAndClose(reply, why)) => {
                        tracing::info!(%peer, listener = %session.listener.name, "Failed authentication: {why}");
                        let _ = tx.send(Reply::Frame(reply)).await;
                        break;
                    }
                    Err(e) => {
                        tracing::info!(%peer, listener = %session.listener.name, "closing unauthenticated connection: {e}");
                        break;
                    }
                }
            }
            _ => frame,
        };
        let client_throttles = peek_preamble(&frame)
            .ok()
            .and_then(|p| Some(client_throttles(ApiKey::try_from(p.api_key).ok()?, p.api_version)))
            .unwrap_or(true);
        let reply = handle_frame(&ctx, frame, &session).await;
        drop(reservation);
        let throttle = session.throttle_ms.swap(0, std::sync::atomic::Ordering::Relaxed);
        // Before KIP-219 the broker held a throttled answer back; since,
        // it answers at once with throttle_time_ms. Either way nothing is
        // read meanwhile, which holds back a client that ignores it.
        if throttle > 0 && !client_throttles && !hold(throttle, &mut shutdown).await {
            break;
        }
        match reply {
            Ok(Reply::Nothing) => {}
            Ok(reply) => {
                if tx.send(reply).await.is_err() {
                    break; // the writer failed: the client is gone
                }
            }
            Err(e) => {
                tracing::warn!(%peer, "closing connection: {e}");
                break;
            }
        }
        if throttle > 0 && client_throttles && !hold(throttle, &mut shutdown).await {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// Waits out a throttle; false if the broker is shutting down.
async fn hold(ms: u64, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(ms)) => true,
        _ = shutdown.changed() => false,
    }
}

struct FrameLimits {
    /// `socket.request.max.bytes`.
    max: usize,
    /// How long a frame holding pool memory may go without a byte, so a
    /// client that announces a large frame and stops cannot keep others'
    /// large requests waiting forever.
    idle: Duration,
}

/// Reads one frame, with the pool reservation that holds its memory if it
/// is large; `None` at a clean end of stream between frames.
async fn read_frame(
    rd: &mut StreamReader,
    buf: &mut BytesMut,
    limits: &FrameLimits,
    pool: &MemoryPool,
) -> Result<Option<(BytesMut, Option<Reservation>)>, ConnectionError> {
    let mut reservation = None;
    loop {
        if buf.len() >= SIZE_PREFIX {
            let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
            let n = check_request_size(size, limits.max)?;
            if buf.len() >= SIZE_PREFIX + n {
                buf.advance(SIZE_PREFIX);
                let frame = buf.split_to(n);
                if buf.capacity() > 2 * SMALL_FRAME {
                    // The rest shares the large frame's allocation; copy it
                    // out so that memory goes when the request is handled.
                    *buf = BytesMut::from(&buf[..]);
                }
                return Ok(Some((frame, reservation)));
            }
            if n > SMALL_FRAME && reservation.is_none() {
                reservation = Some(pool.reserve(SIZE_PREFIX + n).await);
            }
            buf.reserve((SIZE_PREFIX + n - buf.len()).min(READ_CHUNK));
        } else {
            buf.reserve(8 * 1024);
        }
        let read = if reservation.is_some() {
            let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
            let idle_ms = limits.idle.as_millis() as u64;
            tokio::time::timeout(limits.idle, rd.read_buf(buf))
                .await
                .map_err(|_| ConnectionError::Stalled { size, idle_ms })??
        } else {
            rd.read_buf(buf).await?
        };
        if read == 0 {
            return if buf.is_empty() { Ok(None) } else { Err(ConnectionError::Truncated) };
        }
    }
}

async fn handle_frame(
    ctx: &Arc<BrokerContext>,
    frame: BytesMut,
    session: &Session,
) -> Result<Reply, ConnectionError> {
    let pre = peek_preamble(&frame)?;
    let key = ApiKey::try_from(pre.api_key).map_err(|_| DecodeError::UnknownApiKey(pre.api_key))?;
    let version = pre.api_version;
    if key == ApiKey::ApiVersions && !is_supported(key, version) {
        // KIP-511: answer in v0 with UNSUPPORTED_VERSION and the full list
        // so the client can pick a version both sides speak.
        return Ok(Reply::Frame(apis::api_versions::unsupported_version(pre.correlation_id)?));
    }
    if !is_supported(key, version) {
        return Err(DecodeError::UnsupportedVersion { key, version }.into());
    }
    let started = std::time::Instant::now();
    let (header, body) = decode_header(key, version, frame.freeze())?;
    if !ctx.quotas.has_quotas() {
        let reply = apis::dispatch(ctx, key, version, header, body, session).await;
        return finish(ctx, key, version, started, encode(reply, 0));
    }
    let client_id = header.client_id.clone();
    let dispatch = apis::dispatch(ctx, key, version, header, body, session);
    let (reply, busy) = PollTimed::new(dispatch).await;
    let exempt = session.quota_exempt.swap(false, std::sync::atomic::Ordering::Relaxed);
    let mut throttle = 0;
    if !exempt && !quota_exempt(key) {
        let user = quota_user(&session.principal);
        let client = client_id.as_deref().unwrap_or_default();
        let pct = busy_percentage(busy);
        throttle = ctx.quotas.record_and_get_throttle_ms(QuotaKind::Request, user, client, pct);
        session.throttle(throttle);
    }
    let reply = match reply {
        Ok(Reply::Chunks(mut chunks)) if throttle > 0 => {
            let ms = throttle.min(i32::MAX as u64) as i32;
            crate::protocol::fetch_writer::raise_throttle(&mut chunks, version, ms);
            Ok(Reply::Chunks(chunks))
        }
        reply => reply,
    };
    finish(ctx, key, version, started, encode(reply, throttle))
}

/// Encodes a pending response with the request quota's throttle time.
fn encode(
    reply: Result<Reply, ConnectionError>,
    throttle_ms: u64,
) -> Result<Reply, ConnectionError> {
    match reply? {
        Reply::Pending(p) => Ok(Reply::Frame(p.encode(throttle_ms)?)),
        other => Ok(other),
    }
}

fn finish(
    ctx: &BrokerContext,
    key: ApiKey,
    version: i16,
    started: std::time::Instant,
    reply: Result<Reply, ConnectionError>,
) -> Result<Reply, ConnectionError> {
    // Fetch times itself: Kafka splits it into consumer and follower fetches.
    if key != ApiKey::Fetch {
        ctx.replicas.metrics.record_request(key, version, started.elapsed());
    }
    reply
}

async fn write_loop(mut wr: StreamWriter, mut rx: mpsc::Receiver<Reply>, peer: SocketAddr) {
    let mut out = BytesMut::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(reply) = next.take() {
            let result = match reply {
                Reply::Frame(b) => {
                    if out.is_empty() {
                        out = b;
                    } else {
                        out.extend_from_slice(&b);
                    }
                    Ok(())
                }
                Reply::Chunks(chunks) => write_chunks(&mut wr, &mut out, chunks).await,
                Reply::Pending(p) => match p.encode(0) {
                    Ok(b) => {
                        out.extend_from_slice(&b);
                        Ok(())
                    }
                    Err(e) => Err(std::io::Error::other(e)),
                },
                Reply::Nothing => Ok(()),
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "write failed: {e}");
                return;
            }
            if out.len() < COALESCE_BYTES {
                next = rx.try_recv().ok();
            }
        }
        if !out.is_empty() {
            if let Err(e) = wr.write_all(&out).await {
                tracing::debug!(%peer, "write failed: {e}");
                return;
            }
            out.clear();
        }
    }
    wr.shutdown().await;
}

async fn write_chunks(
    wr: &mut StreamWriter,
    out: &mut BytesMut,
    chunks: Vec<Chunk<FileRegion>>,
) -> std::io::Result<()> {
    for chunk in chunks {
        match chunk {
            Chunk::Bytes(b) => out.extend_from_slice(&b),
            Chunk::Region(r) => {
                if !out.is_empty() {
                    wr.write_all(out).await?;
                    out.clear();
                }
                wr.send_region(&r).await?;
            }
        }
    }
    Ok(())
}
