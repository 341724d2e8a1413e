//! TLS on the broker's SSL and SASL_SSL listeners: each listener's rustls
//! configuration from Kafka's `ssl.*` settings (per listener with
//! `listener.name.<name>.ssl.*`), the server handshake, and the stream
//! types the connection reads and writes whatever the listener's protocol,
//! so [`super::connection`] holds no TLS code beyond the type names.
//!
//! The handshake runs in the connection's own task, bounded by
//! [`HANDSHAKE_TIMEOUT`]; rustls bounds the handshake messages it buffers,
//! so a slow or hostile client holds one task and a few kilobytes until the
//! timeout. Fetch replies on TLS cannot use sendfile: the writer reads each
//! file region into one reused buffer and hands it to rustls, which
//! encrypts from it, so record bytes are copied once on the way out.
//! The socket under rustls is read in large chunks (see
//! [`crate::security::tls::TlsSocket`]).

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWriteExt, Interest, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::connection::FileRegion;
use super::listeners::ListenerConfig;
use crate::config::{Error, Properties};
use crate::security::tls::{tls_socket, ClientTls, ServerTls, Settings, TlsSocket};
use crate::security::ConfigError;

/// How long a client may take to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The buffer a file region is read into on its way into rustls.
const REGION_BUFFER: usize = 64 * 1024;

fn config_error(e: ConfigError) -> Error {
    match e {
        ConfigError::Invalid { key, value, reason } => Error::InvalidValue { key, value, reason },
    }
}

/// The TLS settings of every SSL and SASL_SSL listener, by listener name.
pub fn server_configs(
    p: &Properties,
    listeners: &ListenerConfig,
) -> Result<BTreeMap<String, Arc<ServerTls>>, Error> {
    let get = |k: &str| p.get(k);
    let mut out = BTreeMap::new();
    for l in listeners.listeners.iter().filter(|l| l.security_protocol.is_tls()) {
        let settings = Settings::listener(&get, &l.name);
        let tls = ServerTls::from_settings(&settings, l.security_protocol.is_sasl())
            .map_err(config_error)?;
        out.insert(l.name.clone(), Arc::new(tls));
    }
    Ok(out)
}

/// How this broker dials the inter-broker listener when it is SSL or
/// SASL_SSL: the listener's truststore, and its keystore as the client
/// certificate, as Kafka's inter-broker clients use the listener's settings.
/// Reads the listener's settings again, so call it after [`server_configs`]
/// has reported any error in them.
pub fn inter_broker_client(
    p: &Properties,
    listeners: &ListenerConfig,
) -> Result<Option<ClientTls>, Error> {
    let listener = listeners.inter_broker();
    if !listener.security_protocol.is_tls() {
        return Ok(None);
    }
    let get = |k: &str| p.get(k);
    ClientTls::for_inter_broker(&Settings::listener(&get, &listener.name))
        .map(Some)
        .map_err(config_error)
}

/// An accepted connection, after its TLS handshake if it has one.
pub enum ClientStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TlsSocket>>),
}

/// What a handshake yields: the stream and the principal of the client
/// certificate, when one was sent.
pub struct Accepted {
    pub stream: ClientStream,
    pub principal: Option<String>,
}

/// The server side of the TLS handshake, bounded in time. Errors are the
/// line to log; the caller closes the connection.
pub async fn accept(tls: &ServerTls, stream: TcpStream) -> Result<Accepted, String> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config.clone());
    let socket = tls_socket(stream);
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
        Err(_) => return Err(format!("no TLS handshake within {HANDSHAKE_TIMEOUT:?}")),
        Ok(Err(e)) => return Err(format!("SSL handshake failed: {e}")),
        Ok(Ok(s)) => s,
    };
    let principal = tls.principal(stream.get_ref().1.peer_certificates())?;
    Ok(Accepted { stream: ClientStream::Tls(Box::new(stream)), principal })
}

impl ClientStream {
    pub fn set_nodelay(&self) {
        let tcp = match self {
            ClientStream::Plain(s) => s,
            ClientStream::Tls(s) => s.get_ref().0.get_ref(),
        };
        let _ = tcp.set_nodelay(true);
    }

    pub fn into_split(self) -> (StreamReader, StreamWriter) {
        match self {
            ClientStream::Plain(s) => {
                let (r, w) = s.into_split();
                (StreamReader::Plain(r), StreamWriter::Plain(w))
            }
            ClientStream::Tls(s) => {
                let (r, w) = tokio::io::split(*s);
                (StreamReader::Tls(r), StreamWriter::Tls { w, buf: Vec::new() })
            }
        }
    }
}

pub enum StreamReader {
    Plain(OwnedReadHalf),
    Tls(ReadHalf<TlsStream<TlsSocket>>),
}

impl StreamReader {
    /// Waits until a read would find bytes (or the end of the stream)
    /// without reading them. Over TLS it returns at once: rustls may hold
    /// decrypted bytes the socket no longer shows.
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            StreamReader::Plain(r) => r.readable().await,
            StreamReader::Tls(_) => Ok(()),
        }
    }
}

impl AsyncRead for StreamReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            StreamReader::Plain(r) => Pin::new(r).poll_read(cx, buf),
            StreamReader::Tls(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

pub enum StreamWriter {
    Plain(OwnedWriteHalf),
    Tls { w: WriteHalf<TlsStream<TlsSocket>>, buf: Vec<u8> },
}

impl StreamWriter {
    /// Writes all of `bytes` onto the wire (through rustls on TLS, whose
    /// records are flushed before this returns).
    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            StreamWriter::Plain(w) => w.write_all(bytes).await,
            StreamWriter::Tls { w, .. } => {
                w.write_all(bytes).await?;
                w.flush().await
            }
        }
    }

    /// A file region: sendfile on plaintext; on TLS, read into the reused
    /// buffer and encrypted from there. A page-cache miss blocks this
    /// thread on disk for the read either way, as in Kafka's network
    /// threads.
    pub async fn send_region(&mut self, r: &FileRegion) -> io::Result<()> {
        match self {
            StreamWriter::Plain(w) => send_file(w.as_ref(), r).await,
            StreamWriter::Tls { w, buf } => {
                if buf.len() < REGION_BUFFER {
                    // Once per connection, on its first fetch over TLS.
                    buf.resize(REGION_BUFFER, 0);
                }
                let mut offset = r.position;
                let end = r.position + r.len as u64;
                while offset < end {
                    let want = ((end - offset) as usize).min(buf.len());
                    let n = rustix::io::pread(&*r.file, &mut buf[..want], offset)
                        .map_err(io::Error::from)?;
                    if n == 0 {
                        return Err(short_file());
                    }
                    w.write_all(&buf[..n]).await?;
                    offset += n as u64;
                }
                w.flush().await
            }
        }
    }

    pub async fn shutdown(&mut self) {
        let _ = match self {
            StreamWriter::Plain(w) => w.shutdown().await,
            StreamWriter::Tls { w, .. } => w.shutdown().await,
        };
    }
}

fn short_file() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "segment file shorter than the slice")
}

/// sendfile(2) from the segment file to the socket.
async fn send_file(stream: &TcpStream, r: &FileRegion) -> io::Result<()> {
    let mut offset = r.position;
    let end = r.position + r.len as u64;
    while offset < end {
        stream.writable().await?;
        let remaining = (end - offset) as usize;
        let sent = stream.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, &*r.file, Some(&mut offset), remaining)
                .map_err(io::Error::from)
        });
        match sent {
            Ok(0) => return Err(short_file()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The log line's words for a client that failed the handshake, as Kafka
/// writes them.
pub fn log_failed_handshake(peer: SocketAddr, listener: &str, why: &str) {
    tracing::info!(listener, "Failed authentication with {peer} ({why})");
}
