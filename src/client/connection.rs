//! One TCP connection to one broker: size-prefixed framing, correlation ids,
//! pipelining, and API version negotiation.
//!
//! Requests are written as soon as they are sent, so any number may be in
//! flight; a reader task matches each response to its waiter by correlation
//! id. On connect we ask ApiVersions and afterwards pick, per API, the highest
//! version both sides know (`min(our max, broker max)`), as the Java client
//! does. What to send and to whom is left to the callers (cluster, producer,
//! consumer, admin).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, HeaderVersion, Message, Request, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::error::{Error, Result};
use crate::protocol::header::encode_frame;
use crate::sync::MutexExt;

/// The largest response we accept. A fetch response is bounded by the
/// `max_bytes` we ask for, far below this; a bigger size means a corrupt
/// stream or something that is not a Kafka broker.
const MAX_RESPONSE_BYTES: usize = 1 << 30;

/// Highest version we speak per API where it is lower than the codec's:
/// Produce v13 and Fetch v13+ name topics by id only, which would make every
/// request depend on a metadata round trip; Metadata v13 only adds a
/// top-level error code.
fn our_max_version(key: ApiKey, codec_max: i16) -> i16 {
    match key {
        ApiKey::Produce => codec_max.min(12),
        ApiKey::Fetch => codec_max.min(12),
        ApiKey::Metadata => codec_max.min(12),
        _ => codec_max,
    }
}

type Waiter = oneshot::Sender<Result<Bytes>>;

#[derive(Default)]
struct Pending {
    waiters: HashMap<i32, Waiter>,
    /// Set once the reader stops; later requests fail at once with it.
    closed: Option<String>,
}

/// A connection to one broker. Cheap to share: `Arc<Connection>`.
pub struct Connection {
    addr: String,
    client_id: StrBytes,
    request_timeout: Duration,
    /// The socket's write half, or the TLS stream's.
    writer: tokio::sync::Mutex<Box<dyn AsyncWrite + Send + Unpin>>,
    pending: Arc<Mutex<Pending>>,
    next_correlation_id: AtomicI32,
    /// Broker's supported version range per API key.
    versions: HashMap<i16, (i16, i16)>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// A response that will arrive later; see [`Connection::send_pipelined`].
pub struct ResponseFuture<R: Request> {
    rx: oneshot::Receiver<Result<Bytes>>,
    version: i16,
    addr: String,
    timeout: Duration,
    _request: std::marker::PhantomData<R>,
}

impl<R: Request> ResponseFuture<R> {
    pub async fn wait(self) -> Result<R::Response> {
        let frame = match tokio::time::timeout(self.timeout, self.rx).await {
            Err(_) => {
                return Err(Error::Timeout {
                    what: format!("a {} response from {}", api_name::<R>(), self.addr),
                    after: self.timeout,
                })
            }
            Ok(Err(_)) => return Err(Error::Disconnected { addr: self.addr }),
            Ok(Ok(frame)) => frame?,
        };
        decode_response::<R>(frame, self.version, &self.addr)
    }
}

impl Connection {
    /// Connects and negotiates API versions, all within `timeout`.
    pub async fn connect(addr: &str, client_id: &str, timeout: Duration) -> Result<Arc<Self>> {
        let fut = Self::connect_inner(addr, client_id, timeout, None);
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => {
                Err(Error::Timeout { what: format!("a connection to {addr}"), after: timeout })
            }
        }
    }

    /// Connects, negotiates API versions and authenticates as `security`
    /// says (TLS for SSL and SASL_SSL, then SASL), all within `timeout`.
    pub async fn connect_with(
        addr: &str,
        client_id: &str,
        timeout: Duration,
        security: &crate::security::ClientSecurity,
    ) -> Result<Arc<Self>> {
        let fut = async {
            let conn = Self::connect_inner(addr, client_id, timeout, security.tls.as_ref()).await?;
            if let Some(sasl) = &security.sasl {
                conn.authenticate(sasl).await?;
            }
            Ok(conn)
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => {
                Err(Error::Timeout { what: format!("a connection to {addr}"), after: timeout })
            }
        }
    }

    /// SaslHandshake v1, then SaslAuthenticate rounds (KIP-152).
    async fn authenticate(&self, sasl: &crate::security::SaslCredentials) -> Result<()> {
        use crate::security::{Mechanism, PlainMessage};
        use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
        let refused = |message: String| Error::Authentication { addr: self.addr.clone(), message };
        let handshake = SaslHandshakeRequest::default()
            .with_mechanism(StrBytes::from_static_str(sasl.mechanism.name()));
        let resp = self.send(&handshake).await?;
        if resp.error_code != 0 {
            let enabled: Vec<&str> = resp.mechanisms.iter().map(|m| m.as_str()).collect();
            return Err(refused(format!(
                "Unsupported SASL mechanism {}; the broker enables {}",
                sasl.mechanism.name(),
                enabled.join(", ")
            )));
        }
        let round = |bytes: Vec<u8>| async move {
            let req = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(bytes));
            let resp = self.send(&req).await?;
            if resp.error_code != 0 {
                let message = resp.error_message.map(|m| m.to_string()).unwrap_or_default();
                return Err(refused(message));
            }
            Ok(resp.auth_bytes.to_vec())
        };
        match sasl.mechanism {
            Mechanism::Plain => {
                round(PlainMessage::encode(&sasl.username, &sasl.password)).await?;
            }
            Mechanism::Scram(m) => {
                let mut client =
                    crate::security::scram::ScramClient::new(m, &sasl.username, &sasl.password);
                let server_first = round(client.first()).await?;
                let client_final =
                    client.respond(&server_first).map_err(|e| refused(e.to_string()))?;
                let server_final = round(client_final).await?;
                client.verify(&server_final).map_err(|e| refused(e.to_string()))?;
            }
        }
        Ok(())
    }

    async fn connect_inner(
        addr: &str,
        client_id: &str,
        timeout: Duration,
        tls: Option<&crate::security::tls::ClientTls>,
    ) -> Result<Arc<Self>> {
        let connect_error = |source| Error::Connect { addr: addr.to_string(), source };
        let stream = TcpStream::connect(addr).await.map_err(connect_error)?;
        // Requests are whole frames written at once; Nagle would only delay them.
        let _ = stream.set_nodelay(true);
        let pending = Arc::new(Mutex::new(Pending::default()));
        let (reader, write): (_, Box<dyn AsyncWrite + Send + Unpin>) = match tls {
            None => {
                let (read, write) = stream.into_split();
                (tokio::spawn(read_loop(read, pending.clone(), addr.to_string())), Box::new(write))
            }
            Some(tls) => {
                let name = crate::security::tls::ClientTls::server_name(addr).map_err(|e| {
                    connect_error(std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
                })?;
                let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
                let socket = crate::security::tls::tls_socket(stream);
                let mut stream = connector.connect(name, socket).await.map_err(connect_error)?;
                stream.get_mut().1.set_buffer_limit(Some(crate::security::tls::WRITE_BUFFER_LIMIT));
                let (read, write) = tokio::io::split(stream);
                (tokio::spawn(read_loop(read, pending.clone(), addr.to_string())), Box::new(write))
            }
        };
        let mut conn = Connection {
            addr: addr.to_string(),
            client_id: StrBytes::from_string(client_id.to_string()),
            request_timeout: timeout,
            writer: tokio::sync::Mutex::new(write),
            pending,
            next_correlation_id: AtomicI32::new(0),
            versions: HashMap::new(),
            reader,
        };
        conn.versions = conn.negotiate().await?;
        Ok(Arc::new(conn))
    }

    /// ApiVersions at our highest version. A broker that does not know it
    /// answers with a v0 body carrying UNSUPPORTED_VERSION and its own range
    /// for ApiVersions, and we ask again at that version.
    async fn negotiate(&self) -> Result<HashMap<i16, (i16, i16)>> {
        let ours = ApiVersionsRequest::VERSIONS.max;
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("kafka-rs"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let frame = self.send_raw::<ApiVersionsRequest>(&request, ours).await?.rx_frame().await?;
        let response = match decode_response::<ApiVersionsRequest>(frame.clone(), ours, &self.addr)
        {
            Ok(r) if r.error_code == 0 => r,
            _ => {
                let v0 = decode_response::<ApiVersionsRequest>(frame, 0, &self.addr)?;
                let theirs = v0
                    .api_keys
                    .iter()
                    .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                    .map(|k| k.max_version)
                    .unwrap_or(0);
                let version = ours.min(theirs);
                let frame = self
                    .send_raw::<ApiVersionsRequest>(&request, version)
                    .await?
                    .rx_frame()
                    .await?;
                let r = decode_response::<ApiVersionsRequest>(frame, version, &self.addr)?;
                if let Some(e) = Error::from_code(r.error_code, None) {
                    return Err(e);
                }
                r
            }
        };
        Ok(response.api_keys.iter().map(|k| (k.api_key, (k.min_version, k.max_version))).collect())
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// Whether the broker speaks this API at all.
    pub fn supports(&self, key: ApiKey) -> bool {
        self.versions.contains_key(&(key as i16))
    }

    /// The version to use for `R`: the highest both sides know.
    pub fn version<R: Request>(&self) -> Result<i16> {
        let key = ApiKey::try_from(R::KEY).map_err(|_| Error::Encode {
            api: api_name::<R>(),
            reason: format!("unknown API key {}", R::KEY),
        })?;
        let ours = (R::VERSIONS.min, our_max_version(key, R::VERSIONS.max));
        let unsupported = |theirs: String| Error::UnsupportedVersion {
            api: api_name::<R>(),
            addr: self.addr.clone(),
            ours: format!("{}-{}", ours.0, ours.1),
            theirs,
        };
        let Some(&(min, max)) = self.versions.get(&R::KEY) else {
            return Err(unsupported("none".into()));
        };
        let version = ours.1.min(max);
        if version < ours.0.max(min) {
            return Err(unsupported(format!("{min}-{max}")));
        }
        Ok(version)
    }

    /// Fails as an unsupported version when a feature of a request needs
    /// `min` or later and the negotiated `version` is older.
    pub fn require_version(&self, feature: &'static str, version: i16, min: i16) -> Result<()> {
        if version < min {
            return Err(Error::UnsupportedVersion {
                api: feature,
                addr: self.addr.clone(),
                ours: format!("{min}+"),
                theirs: format!("up to {version}"),
            });
        }
        Ok(())
    }

    /// Sends at the negotiated version and waits for the response.
    pub async fn send<R: Request>(&self, request: &R) -> Result<R::Response> {
        let version = self.version::<R>()?;
        self.send_pipelined(request, version).await?.wait().await
    }

    /// Writes the request now and returns a handle to await its response
    /// later, so callers can keep several requests in flight.
    pub async fn send_pipelined<R: Request>(
        &self,
        request: &R,
        version: i16,
    ) -> Result<ResponseFuture<R>> {
        let raw = self.send_raw(request, version).await?;
        Ok(ResponseFuture {
            rx: raw.rx,
            version,
            addr: self.addr.clone(),
            timeout: self.request_timeout,
            _request: std::marker::PhantomData,
        })
    }

    /// Writes a request the broker never answers (Produce with acks=0).
    pub async fn send_no_response<R: Request>(&self, request: &R, version: i16) -> Result<()> {
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        let frame = self.encode(request, version, correlation_id)?;
        self.write(&frame).await
    }

    async fn send_raw<R: Request>(&self, request: &R, version: i16) -> Result<RawResponse> {
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        let frame = self.encode(request, version, correlation_id)?;
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.pending.lock_or_recover();
            if let Some(reason) = &pending.closed {
                return Err(closed_error(&self.addr, reason));
            }
            pending.waiters.insert(correlation_id, tx);
        }
        if let Err(e) = self.write(&frame).await {
            self.pending.lock_or_recover().waiters.remove(&correlation_id);
            return Err(e);
        }
        Ok(RawResponse { rx, addr: self.addr.clone(), timeout: self.request_timeout })
    }

    async fn write(&self, frame: &[u8]) -> Result<()> {
        let mut w = self.writer.lock().await;
        // TLS holds records until flushed; a socket's flush does nothing.
        let io = tokio::time::timeout(self.request_timeout, async {
            w.write_all(frame).await?;
            w.flush().await
        })
        .await;
        match io {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(Error::Io { addr: self.addr.clone(), source }),
            Err(_) => Err(Error::Timeout {
                what: format!("a write to {}", self.addr),
                after: self.request_timeout,
            }),
        }
    }

    fn encode<R: Request>(&self, request: &R, version: i16, correlation_id: i32) -> Result<Bytes> {
        let encode_err =
            |e: anyhow::Error| Error::Encode { api: api_name::<R>(), reason: e.to_string() };
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()));
        let header_version = R::header_version(version);
        let frame = encode_frame(&header, header_version, request, version).map_err(encode_err)?;
        Ok(frame.freeze())
    }
}

struct RawResponse {
    rx: oneshot::Receiver<Result<Bytes>>,
    addr: String,
    timeout: Duration,
}

impl RawResponse {
    async fn rx_frame(self) -> Result<Bytes> {
        match tokio::time::timeout(self.timeout, self.rx).await {
            Err(_) => Err(Error::Timeout {
                what: format!("an ApiVersions response from {}", self.addr),
                after: self.timeout,
            }),
            Ok(Err(_)) => Err(Error::Disconnected { addr: self.addr }),
            Ok(Ok(frame)) => frame,
        }
    }
}

/// Decodes a whole response frame (header included) for request type `R`.
fn decode_response<R: Request>(mut frame: Bytes, version: i16, addr: &str) -> Result<R::Response> {
    let decode_err = |e: anyhow::Error| Error::Decode {
        api: api_name::<R>(),
        addr: addr.to_string(),
        reason: e.to_string(),
    };
    let header_version = <R::Response as HeaderVersion>::header_version(version);
    ResponseHeader::decode(&mut frame, header_version).map_err(decode_err)?;
    R::Response::decode(&mut frame, version).map_err(decode_err)
}

fn closed_error(addr: &str, reason: &str) -> Error {
    if reason.is_empty() {
        Error::Disconnected { addr: addr.to_string() }
    } else {
        Error::Io { addr: addr.to_string(), source: std::io::Error::other(reason.to_string()) }
    }
}

/// Reads frames until the socket closes, handing each to its waiter. When it
/// stops, every waiter (and every later request) gets the reason.
async fn read_loop(read: impl AsyncRead + Unpin, pending: Arc<Mutex<Pending>>, addr: String) {
    let mut reader = BufReader::with_capacity(256 * 1024, read);
    let reason = loop {
        let len = match reader.read_i32().await {
            Ok(len) => len,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break String::new(),
            Err(e) => break e.to_string(),
        };
        if len < 4 || len as usize > MAX_RESPONSE_BYTES {
            break format!("invalid response size {len}");
        }
        // Grow as bytes arrive rather than trusting the size for an allocation.
        let mut body = Vec::with_capacity((len as usize).min(1 << 20));
        match (&mut reader).take(len as u64).read_to_end(&mut body).await {
            Ok(n) if n == len as usize => {}
            Ok(_) => break String::new(),
            Err(e) => break e.to_string(),
        }
        let frame = Bytes::from(body);
        let correlation_id = (&frame[..4]).get_i32();
        let waiter = pending.lock_or_recover().waiters.remove(&correlation_id);
        match waiter {
            Some(tx) => {
                let _ = tx.send(Ok(frame));
            }
            None => break format!("response with unknown correlation id {correlation_id}"),
        }
    };
    let mut p = pending.lock_or_recover();
    for (_, tx) in p.waiters.drain() {
        let _ = tx.send(Err(closed_error(&addr, &reason)));
    }
    p.closed = Some(reason);
}

/// The API's name as Kafka spells it in messages, e.g. `Metadata`.
pub fn api_name<R: Request>() -> &'static str {
    match ApiKey::try_from(R::KEY) {
        Ok(key) => key_name(key),
        Err(_) => "unknown",
    }
}

fn key_name(key: ApiKey) -> &'static str {
    match key {
        ApiKey::Produce => "Produce",
        ApiKey::Fetch => "Fetch",
        ApiKey::ListOffsets => "ListOffsets",
        ApiKey::Metadata => "Metadata",
        ApiKey::ApiVersions => "ApiVersions",
        ApiKey::CreateTopics => "CreateTopics",
        ApiKey::DeleteTopics => "DeleteTopics",
        ApiKey::CreatePartitions => "CreatePartitions",
        ApiKey::DescribeConfigs => "DescribeConfigs",
        ApiKey::AlterConfigs => "AlterConfigs",
        ApiKey::IncrementalAlterConfigs => "IncrementalAlterConfigs",
        ApiKey::InitProducerId => "InitProducerId",
        ApiKey::DescribeCluster => "DescribeCluster",
        _ => "Kafka",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{FetchRequest, MetadataRequest, ProduceRequest};
    use kafka_protocol::protocol::Message;

    #[test]
    fn caps_versions_that_name_topics_by_id() {
        let cases = [
            (ApiKey::Produce, ProduceRequest::VERSIONS.max, 12, "v13 drops topic names"),
            (ApiKey::Fetch, FetchRequest::VERSIONS.max, 12, "v13 drops topic names"),
            (ApiKey::Metadata, MetadataRequest::VERSIONS.max, 12, "v13 adds nothing we use"),
            (ApiKey::ApiVersions, 4, 4, "other APIs follow the codec"),
        ];
        for (key, codec, want, why) in cases {
            assert_eq!(our_max_version(key, codec), want, "{why}");
        }
    }

    #[tokio::test]
    async fn unreachable_broker_fails_fast() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = Connection::connect(&format!("127.0.0.1:{port}"), "t", Duration::from_secs(5))
            .await
            .err()
            .expect("nobody listens there");
        assert!(matches!(err, Error::Connect { .. }), "{err}");
    }

    #[tokio::test]
    async fn silent_peer_times_out() {
        // Accepts the connection but never answers ApiVersions.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let _hold = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(s);
        });
        let err = Connection::connect(&addr, "t", Duration::from_millis(200)).await.err().unwrap();
        assert!(matches!(err, Error::Timeout { .. }), "{err}");
    }

    #[tokio::test]
    async fn peer_closing_mid_request_is_reported() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4];
            let _ = s.read_exact(&mut buf).await;
            drop(s);
        });
        let err = Connection::connect(&addr, "t", Duration::from_secs(5)).await.err().unwrap();
        assert!(matches!(err, Error::Disconnected { .. } | Error::Io { .. }), "{err}");
    }
}
