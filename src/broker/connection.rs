//! One client connection: read size-prefixed frames, handle each request in
//! arrival order, and hand replies to a writer task, so a client may have
//! many requests in flight and gets the answers in order (Kafka's
//! guarantee). Requests of one connection are handled one at a time, as
//! Kafka's processor mutes a channel while its request is processed, so
//! produce requests from one producer append in order.
//!
//! One departure from that mute: a Fetch that finds too little and waits in
//! the purgatory (`min_bytes`, `max_wait_ms`) does not hold back the
//! requests behind it. Kafka leaves them unread until the fetch completes,
//! which deadlocks a client that long-polls and produces on one connection:
//! kafka-go's `Conn` does, its reader waiting up to 2^31 ms for a record its
//! writer cannot send. Here the requests behind a waiting fetch are read
//! and handled one at a time in arrival order (one producer's batches still
//! append in order), and their replies are held until the fetch is
//! answered, so every answer still leaves in request order (librdkafka
//! matches answers to requests by position). This is safe because a
//! waiting fetch has already read all it could: whatever a later request
//! does (an append, a commit, a deletion) another connection could have
//! done while the fetch waited, and the fetch sees it the same way, an
//! append waking it through the purgatory. Bounds: one waiting fetch per
//! connection (a second Fetch, or a SASL re-authentication, is read but
//! handled after the first is answered, so fetch sessions move epoch by
//! epoch), at most [`REPLY_QUEUE`] replies held behind it, and the request
//! memory pool as for any request. If the client closes the connection or
//! the broker shuts down while the fetch waits, the fetch and the replies
//! held behind it are dropped, as Kafka drops a closed channel's responses.
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

use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
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

/// What the writer task sends: a [`Reply`] after the request quota set its
/// throttle time, so nothing reaches the socket unencoded.
enum Outgoing {
    Frame(BytesMut),
    Chunks(Vec<Chunk<FileRegion>>),
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
    /// Set while this connection's fetch waits in the purgatory: the
    /// requests behind it may then be handled.
    long_polling: std::sync::atomic::AtomicBool,
}

impl Session {
    /// Holds the connection back for at least `ms` after this request.
    pub fn throttle(&self, ms: u64) {
        self.throttle_ms.fetch_max(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// Marks the fetch in progress as waiting in the purgatory until the
    /// guard is dropped.
    pub fn long_poll(&self) -> LongPoll<'_> {
        self.long_polling.store(true, std::sync::atomic::Ordering::Relaxed);
        LongPoll(&self.long_polling)
    }

    fn is_long_polling(&self) -> bool {
        self.long_polling.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A fetch waiting in the purgatory; see [`Session::long_poll`].
pub struct LongPoll<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for LongPoll<'_> {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Kafka's principal for connections that did not authenticate.
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// Kafka's `sasl.server.max.receive.size` default.
const SASL_MAX_RECEIVE_SIZE: usize = 524_288;

/// What happened to the bytes at the head of a connection's buffer while
/// the broker starts.
enum Early {
    /// A whole ApiVersions request of this many bytes, size prefix included.
    ApiVersions(usize),
    NeedMore,
    /// Another request: it waits for the started broker.
    Other,
}

fn early_frame(buf: &[u8], max: usize) -> Result<Early, ConnectionError> {
    if buf.len() < SIZE_PREFIX + 2 {
        return Ok(Early::NeedMore);
    }
    let n = check_request_size(i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]), max)?;
    if i16::from_be_bytes([buf[4], buf[5]]) != ApiKey::ApiVersions as i16 || n > SMALL_FRAME {
        return Ok(Early::Other);
    }
    Ok(if buf.len() < SIZE_PREFIX + n {
        Early::NeedMore
    } else {
        Early::ApiVersions(SIZE_PREFIX + n)
    })
}

/// Serves a connection accepted while the broker is still starting.
/// ApiVersions, the first thing every client asks, needs nothing that
/// start-up builds, so it is answered at once; the first other request
/// (Metadata included, which would be wrong before this broker is
/// registered) waits until `ready` holds the started broker, and from
/// there the connection is served like any other. TLS listeners wait
/// before their handshake.
pub async fn serve_starting(
    mut ready: watch::Receiver<Option<Arc<BrokerContext>>>,
    mut stream: TcpStream,
    peer: SocketAddr,
    listener: Arc<ListenerInfo>,
    shutdown: watch::Receiver<bool>,
    max_request: usize,
) {
    use tokio::io::AsyncWriteExt;
    let mut buf = BytesMut::new();
    let mut waiting = listener.tls.is_some();
    let ctx = loop {
        if let Some(ctx) = ready.borrow_and_update().clone() {
            break ctx;
        }
        if waiting {
            if ready.changed().await.is_err() {
                return;
            }
            continue;
        }
        buf.reserve(8 * 1024);
        tokio::select! {
            changed = ready.changed() => if changed.is_err() { return },
            read = stream.read_buf(&mut buf) => match read {
                Ok(n) if n > 0 => {}
                _ => return,
            },
        }
        loop {
            match early_frame(&buf, max_request) {
                Ok(Early::ApiVersions(len)) => {
                    let frame = buf.split_to(len).split_off(SIZE_PREFIX).freeze();
                    let answer = match apis::api_versions::answer(frame) {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(%peer, "closing connection: {e}");
                            return;
                        }
                    };
                    if stream.write_all(&answer).await.is_err() {
                        return;
                    }
                }
                Ok(Early::NeedMore) => break,
                Ok(Early::Other) => {
                    waiting = true;
                    break;
                }
                Err(e) => {
                    tracing::warn!(%peer, "closing connection: {e}");
                    return;
                }
            }
        }
    };
    serve(ctx, stream, peer, listener, shutdown, buf).await
}

/// Serves one connection until the client leaves, a frame is bad or the
/// broker shuts down (then the request in progress is still answered).
/// `prefetched` holds bytes already read from a plaintext `stream`.
pub async fn serve(
    ctx: Arc<BrokerContext>,
    stream: TcpStream,
    peer: SocketAddr,
    listener: Arc<ListenerInfo>,
    mut shutdown: watch::Receiver<bool>,
    prefetched: BytesMut,
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
        long_polling: Default::default(),
    };
    stream.set_nodelay();
    let _open = ctx.replicas.metrics.connection_opened();
    let (rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::channel::<Outgoing>(REPLY_QUEUE);
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
    let mut conn = Conn {
        rd,
        buf: if prefetched.is_empty() { BytesMut::with_capacity(8 * 1024) } else { prefetched },
        limits,
        tx,
        held: VecDeque::new(),
        shutdown,
        peer,
    };
    // When the SASL session ends (connections.max.reauth.ms), and whether
    // the client is re-authenticating now.
    let mut session_expires: Option<std::time::Instant> = None;
    let mut reauthenticating = false;
    // A frame read behind a waiting fetch that had to wait for it.
    let mut carried: Option<Frame> = None;
    loop {
        let frame = match carried.take() {
            Some(frame) => Ok(Some(frame)),
            None => tokio::select! {
                frame = read_frame(&mut conn.rd, &mut conn.buf, &conn.limits, &ctx.request_pool) => frame,
                _ = conn.shutdown.changed() => break,
            },
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
                        if conn.tx.send(Outgoing::Frame(reply)).await.is_err() {
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
                        conn.limits.max = ctx.config.socket_request_max_bytes;
                        tracing::debug!(%peer, principal = %session.principal, "authenticated");
                        if conn.tx.send(Outgoing::Frame(reply)).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    Ok(Step::ReplyAndClose(reply, why)) => {
                        tracing::info!(%peer, listener = %session.listener.name, "Failed authentication: {why}");
                        let _ = conn.tx.send(Outgoing::Frame(reply)).await;
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
        if api_key(&frame) == Some(ApiKey::Fetch) {
            let sasl_on = sasl.is_some();
            let waits = |f: &BytesMut| waits_for_fetch(f, sasl_on, session_expires);
            match serve_fetch(&ctx, &session, &mut conn, (frame, reservation), waits).await {
                Next::Read => {}
                Next::Carry(frame) => carried = Some(frame),
                Next::Close => break,
            }
        } else {
            let client_throttles = peek_preamble(&frame)
                .ok()
                .and_then(|p| {
                    Some(client_throttles(ApiKey::try_from(p.api_key).ok()?, p.api_version))
                })
                .unwrap_or(true);
            let reply = handle_frame(&ctx, frame, &session).await;
            drop(reservation);
            // Before KIP-219 the broker held a throttled answer back.
            if !client_throttles {
                let throttle = session.throttle_ms.swap(0, std::sync::atomic::Ordering::Relaxed);
                if throttle > 0 && !hold(throttle, &mut conn.shutdown).await {
                    break;
                }
            }
            if !conn.deliver(reply).await {
                break;
            }
        }
        // Since KIP-219 the response is on its way with throttle_time_ms;
        // reading nothing meanwhile holds back a client that ignores it.
        let throttle = session.throttle_ms.swap(0, std::sync::atomic::Ordering::Relaxed);
        if throttle > 0 && !hold(throttle, &mut conn.shutdown).await {
            break;
        }
    }
    drop(conn);
    let _ = writer.await;
}

/// A request frame with the request memory it holds.
type Frame = (BytesMut, Option<Reservation>);

/// The connection's two ends as the request loop sees them.
struct Conn {
    rd: StreamReader,
    buf: BytesMut,
    limits: FrameLimits,
    /// To the writer task; dropping it lets the writer finish and close.
    tx: mpsc::Sender<Outgoing>,
    /// Replies of requests handled while a fetch waits, sent after its
    /// reply. Kept for the connection's life, so it allocates once.
    held: VecDeque<Outgoing>,
    shutdown: watch::Receiver<bool>,
    peer: SocketAddr,
}

impl Conn {
    /// Queues a reply for the writer; false once the connection must close.
    async fn deliver(&mut self, reply: Result<Option<Outgoing>, ConnectionError>) -> bool {
        match reply {
            Ok(None) => true,
            // An error: the writer failed, the client is gone.
            Ok(Some(reply)) => self.tx.send(reply).await.is_ok(),
            Err(e) => {
                tracing::warn!(peer = %self.peer, "closing connection: {e}");
                false
            }
        }
    }

    /// Queues a waiting fetch's reply and then those held behind it.
    async fn answer_fetch(&mut self, reply: Result<Option<Outgoing>, ConnectionError>) -> Next {
        if !self.deliver(reply).await {
            return Next::Close;
        }
        while let Some(reply) = self.held.pop_front() {
            if self.tx.send(reply).await.is_err() {
                return Next::Close;
            }
        }
        Next::Read
    }
}

/// What the request loop does after a fetch.
enum Next {
    Read,
    /// Handle this frame, read while the fetch waited, next.
    Carry(Frame),
    Close,
}

fn api_key(frame: &[u8]) -> Option<ApiKey> {
    peek_preamble(frame).ok().and_then(|p| ApiKey::try_from(p.api_key).ok())
}

/// Whether a request read behind a waiting fetch must wait until the fetch
/// is answered: another fetch (one waits at a time, so a session's epochs
/// are served in order) and whatever the request loop's SASL checks must
/// see (a re-authentication, or any request once the session expired).
fn waits_for_fetch(
    frame: &[u8],
    sasl_on: bool,
    session_expires: Option<std::time::Instant>,
) -> bool {
    match api_key(frame) {
        Some(ApiKey::Fetch) => true,
        Some(ApiKey::SaslHandshake | ApiKey::SaslAuthenticate) => sasl_on,
        _ => session_expires.is_some_and(|e| std::time::Instant::now() >= e),
    }
}

/// Handles a Fetch and, once it waits in the purgatory, the requests that
/// follow it, one at a time, until it is answered.
async fn serve_fetch(
    ctx: &Arc<BrokerContext>,
    session: &Session,
    conn: &mut Conn,
    (frame, _fetch_reservation): Frame,
    waits: impl Fn(&BytesMut) -> bool,
) -> Next {
    let fetch = handle_frame(ctx, frame, session);
    tokio::pin!(fetch);
    let parked = std::future::poll_fn(|cx| match fetch.as_mut().poll(cx) {
        Poll::Ready(reply) => Poll::Ready(Some(reply)),
        Poll::Pending if session.is_long_polling() => Poll::Ready(None),
        Poll::Pending => Poll::Pending,
    })
    .await;
    if let Some(reply) = parked {
        return if conn.deliver(reply).await { Next::Read } else { Next::Close };
    }
    // The channel mute of a request handled meanwhile (KIP-219).
    let mut muted: Option<tokio::time::Instant> = None;
    let next = loop {
        let read = tokio::select! {
            biased;
            reply = &mut fetch => break conn.answer_fetch(reply).await,
            _ = conn.shutdown.changed() => break Next::Close,
            _ = sleep_until(muted) => {
                muted = None;
                continue;
            }
            read = read_frame(&mut conn.rd, &mut conn.buf, &conn.limits, &ctx.request_pool),
                if muted.is_none() && conn.held.len() < REPLY_QUEUE => read,
        };
        let (frame, reservation) = match read {
            Ok(Some(frame)) => frame,
            Ok(None) => break Next::Close,
            Err(e) => {
                tracing::warn!(peer = %conn.peer, "closing connection: {e}");
                break Next::Close;
            }
        };
        if waits(&frame) {
            let reply = tokio::select! {
                reply = &mut fetch => reply,
                _ = conn.shutdown.changed() => break Next::Close,
            };
            break match conn.answer_fetch(reply).await {
                Next::Read => Next::Carry((frame, reservation)),
                close => close,
            };
        }
        let request = handle_frame(ctx, frame, session);
        tokio::pin!(request);
        let reply = tokio::select! {
            biased;
            reply = &mut request => reply,
            fetched = &mut fetch => {
                // Answered while this request was handled: its reply, and
                // those of the requests after it, go straight to the writer.
                let next = conn.answer_fetch(fetched).await;
                let reply = request.await;
                drop(reservation);
                break match next {
                    Next::Read if conn.deliver(reply).await => Next::Read,
                    _ => Next::Close,
                };
            }
        };
        drop(reservation);
        match reply {
            Ok(None) => {}
            Ok(Some(reply)) => conn.held.push_back(reply),
            Err(e) => {
                tracing::warn!(peer = %conn.peer, "closing connection: {e}");
                break Next::Close;
            }
        }
        let throttle = session.throttle_ms.swap(0, std::sync::atomic::Ordering::Relaxed);
        if throttle > 0 {
            muted = Some(tokio::time::Instant::now() + Duration::from_millis(throttle));
        }
    };
    if let Next::Close = next {
        conn.held.clear();
    }
    if let Some(until) = muted {
        // The request loop keeps the rest of the mute.
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        session.throttle(left.as_millis() as u64);
    }
    next
}

/// Resolves at `at`; never without one.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
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
                if buf.is_empty() {
                    // The common case: the frame takes the whole allocation
                    // with it, and an idle connection holds no read buffer
                    // (ten thousand idle clients would otherwise pin 8 KiB
                    // each).
                    *buf = BytesMut::new();
                } else if buf.capacity() > 2 * SMALL_FRAME {
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
            if buf.is_empty() {
                // Between requests: the buffer is allocated once the next
                // one starts to arrive, not while the client idles.
                rd.readable().await?;
            }
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
) -> Result<Option<Outgoing>, ConnectionError> {
    let pre = peek_preamble(&frame)?;
    let key = ApiKey::try_from(pre.api_key).map_err(|_| DecodeError::UnknownApiKey(pre.api_key))?;
    let version = pre.api_version;
    if key == ApiKey::ApiVersions && !is_supported(key, version) {
        // KIP-511: answer in v0 with UNSUPPORTED_VERSION and the full list
        // so the client can pick a version both sides speak.
        let frame = apis::api_versions::unsupported_version(pre.correlation_id)?;
        return Ok(Some(Outgoing::Frame(frame)));
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
) -> Result<Option<Outgoing>, ConnectionError> {
    Ok(match reply? {
        Reply::Pending(p) => Some(Outgoing::Frame(p.encode(throttle_ms)?)),
        Reply::Frame(b) => Some(Outgoing::Frame(b)),
        Reply::Chunks(chunks) => Some(Outgoing::Chunks(chunks)),
        Reply::Nothing => None,
    })
}

fn finish(
    ctx: &BrokerContext,
    key: ApiKey,
    version: i16,
    started: std::time::Instant,
    reply: Result<Option<Outgoing>, ConnectionError>,
) -> Result<Option<Outgoing>, ConnectionError> {
    // Fetch times itself: Kafka splits it into consumer and follower fetches.
    if key != ApiKey::Fetch {
        ctx.replicas.metrics.record_request(key, version, started.elapsed());
    }
    reply
}

async fn write_loop(mut wr: StreamWriter, mut rx: mpsc::Receiver<Outgoing>, peer: SocketAddr) {
    let mut out = BytesMut::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(reply) = next.take() {
            let result = match reply {
                Outgoing::Frame(b) => {
                    if out.is_empty() {
                        out = b;
                    } else {
                        out.extend_from_slice(&b);
                    }
                    Ok(())
                }
                Outgoing::Chunks(chunks) => write_chunks(&mut wr, &mut out, chunks).await,
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
            // Not `clear`: the buffer is usually the last reply's own (a
            // Metadata answer for every topic can be hundreds of KB), which
            // an idle connection must not keep.
            out = BytesMut::new();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The first bytes of a request frame: API key, version, correlation id.
    fn preamble(key: ApiKey) -> Vec<u8> {
        let mut f = (key as i16).to_be_bytes().to_vec();
        f.extend_from_slice(&0i16.to_be_bytes());
        f.extend_from_slice(&7i32.to_be_bytes());
        f
    }

    #[test]
    fn what_waits_for_a_waiting_fetch() {
        let now = std::time::Instant::now();
        let later = Some(now + Duration::from_secs(3600));
        let expired = Some(now - Duration::from_secs(1));
        let cases = [
            // One fetch waits at a time, so a session's epochs stay in order.
            (ApiKey::Fetch, false, None, true),
            (ApiKey::Produce, false, None, false),
            (ApiKey::Metadata, true, later, false),
            // A re-authentication changes what the request loop checks.
            (ApiKey::SaslHandshake, true, later, true),
            (ApiKey::SaslAuthenticate, true, None, true),
            // Without SASL these are plain requests, answered by the handler.
            (ApiKey::SaslHandshake, false, None, false),
            // After the session lifetime the request loop closes the connection.
            (ApiKey::Produce, true, expired, true),
        ];
        for (key, sasl_on, expires, waits) in cases {
            let got = waits_for_fetch(&preamble(key), sasl_on, expires);
            assert_eq!(got, waits, "{key:?} sasl {sasl_on} expires {expires:?}");
        }
        assert!(!waits_for_fetch(&[0, 1], false, None), "a bad frame is the handler's to refuse");
    }
}
