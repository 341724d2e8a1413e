//! TLS settings in Kafka's terms, turned into rustls configurations: the
//! PEM keystore and truststore (`ssl.keystore.*`, `ssl.truststore.*`, files
//! or inline), `ssl.client.auth`, `ssl.enabled.protocols`,
//! `ssl.cipher.suites`, `ssl.endpoint.identification.algorithm`, and the
//! principal a client certificate stands for (`ssl.principal.mapping.rules`
//! over the subject in RFC 2253 form, as Java's `X500Principal.getName()`
//! writes it). Reads the files it is pointed at; opens no sockets: the
//! broker's connection and the client's connection run the handshakes.
//!
//! Only PEM stores are read. JKS and PKCS12 are Java formats whose keys sit
//! behind Java's own key derivation; they are refused with a message that
//! names PEM. An encrypted PKCS#8 key (`ENCRYPTED PRIVATE KEY`, PBES2) is
//! decrypted with `ssl.key.password`, as Kafka's PEM keystore does.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use super::ConfigError;

/// Kafka's `ssl.enabled.protocols` default.
const DEFAULT_PROTOCOLS: &str = "TLSv1.2,TLSv1.3";

/// How much of a TLS connection's socket one recv takes in. rustls reads
/// its transport a few kilobytes at a time (its record buffer grows by
/// 4 KiB per read), so straight on the socket a 1 MB produce request or
/// fetch reply cost hundreds of recv calls, each a chance to find the
/// socket empty and wait for readiness again.
const SOCKET_READ_BUFFER: usize = 64 * 1024;

/// The most encrypted bytes rustls queues for the socket (its default is
/// 64 KiB): a request up to this size is encrypted in one go and leaves in
/// one writev, where the default cut it into one writev, and one wakeup
/// of the broker, per 64 KiB.
pub const WRITE_BUFFER_LIMIT: usize = 1024 * 1024;

/// A TLS connection's socket: reads go through a [`SOCKET_READ_BUFFER`]
/// buffer, so rustls' small reads are copies from it; writes go straight
/// to the socket.
pub type TlsSocket = tokio::io::BufReader<tokio::net::TcpStream>;

pub fn tls_socket(stream: tokio::net::TcpStream) -> TlsSocket {
    tokio::io::BufReader::with_capacity(SOCKET_READ_BUFFER, stream)
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.into(), value: value.into(), reason: reason.into() }
}

/// Where settings come from: a broker reads `listener.name.<name>.ssl.*`
/// before `ssl.*`; a client reads `ssl.*`.
pub struct Settings<'f, 'a> {
    get: &'f dyn Fn(&str) -> Option<&'a str>,
    listener: Option<String>,
}

impl<'f, 'a> Settings<'f, 'a> {
    pub fn client(get: &'f dyn Fn(&str) -> Option<&'a str>) -> Self {
        Settings { get, listener: None }
    }

    pub fn listener(get: &'f dyn Fn(&str) -> Option<&'a str>, name: &str) -> Self {
        Settings { get, listener: Some(name.to_ascii_lowercase()) }
    }

    /// The value and the key it was found under, so errors name the key
    /// the operator wrote. Kafka normalises listener names to lower case
    /// in the prefix; the name as written in `listeners` is accepted too.
    fn lookup(&self, key: &str) -> Option<(String, &'a str)> {
        if let Some(l) = &self.listener {
            for name in [l.clone(), l.to_ascii_uppercase()] {
                let k = format!("listener.name.{name}.{key}");
                if let Some(v) = (self.get)(&k) {
                    return Some((k, v));
                }
            }
        }
        (self.get)(key).map(|v| (key.to_string(), v))
    }

    fn value(&self, key: &str) -> Option<(String, &'a str)> {
        self.lookup(key).filter(|(_, v)| !v.trim().is_empty())
    }

    /// A listener-only setting (Kafka reads `ssl.client.auth` of a
    /// SASL_SSL listener only from the listener's prefix).
    fn listener_value(&self, key: &str) -> Option<(String, &'a str)> {
        let l = self.listener.as_ref()?;
        let k = format!("listener.name.{l}.{key}");
        (self.get)(&k).filter(|v| !v.trim().is_empty()).map(|v| (k, v))
    }
}

/// `ssl.client.auth`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Requested,
    Required,
}

/// A listener's TLS: the rustls configuration and how certificates map to
/// principals.
pub struct ServerTls {
    pub config: Arc<rustls::ServerConfig>,
    pub client_auth: ClientAuth,
    pub principal_mapper: PrincipalMapper,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").field("client_auth", &self.client_auth).finish_non_exhaustive()
    }
}

impl ServerTls {
    /// A listener's TLS settings. `sasl` listeners read `ssl.client.auth`
    /// only from the listener prefix, as Kafka does.
    pub fn from_settings(s: &Settings<'_, '_>, sasl: bool) -> Result<Self, ConfigError> {
        let provider = provider(s)?;
        let versions = protocols(s)?;
        let (chain, key) = keystore(s)?.ok_or_else(|| {
            invalid(
                "ssl.keystore.location",
                "",
                "a TLS listener needs a key and certificate: ssl.keystore.type=PEM with \
                 ssl.keystore.location, or ssl.keystore.certificate.chain and ssl.keystore.key",
            )
        })?;
        let auth_setting =
            if sasl { s.listener_value("ssl.client.auth") } else { s.value("ssl.client.auth") };
        let client_auth = match auth_setting {
            None => ClientAuth::None,
            Some((k, v)) => match v.trim().to_ascii_lowercase().as_str() {
                "none" => ClientAuth::None,
                "requested" => ClientAuth::Requested,
                "required" => ClientAuth::Required,
                _ => return Err(invalid(&k, v, "must be one of none, requested, required")),
            },
        };
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| invalid("ssl.enabled.protocols", "", e.to_string()))?;
        let builder = if client_auth == ClientAuth::None {
            builder.with_no_client_auth()
        } else {
            let roots = truststore(s)?.ok_or_else(|| {
                invalid(
                    "ssl.client.auth",
                    "required",
                    "verifying client certificates needs ssl.truststore.location or \
                     ssl.truststore.certificates",
                )
            })?;
            let mut v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if client_auth == ClientAuth::Requested {
                v = v.allow_unauthenticated();
            }
            let v = v.build().map_err(|e| invalid("ssl.truststore.location", "", e.to_string()))?;
            builder.with_client_cert_verifier(v)
        };
        let config = builder.with_single_cert(chain, key).map_err(|e| {
            invalid("ssl.keystore.location", "", format!("unusable key or certificate: {e}"))
        })?;
        let rules = s.value("ssl.principal.mapping.rules");
        let principal_mapper = match rules {
            None => PrincipalMapper::default(),
            Some((k, v)) => PrincipalMapper::parse(v).map_err(|e| invalid(&k, v, e))?,
        };
        Ok(ServerTls { config: Arc::new(config), client_auth, principal_mapper })
    }

    /// The principal name of a verified client certificate chain (leaf
    /// first), or `None` when the client sent none.
    pub fn principal(
        &self,
        chain: Option<&[CertificateDer<'_>]>,
    ) -> Result<Option<String>, String> {
        let Some(leaf) = chain.and_then(|c| c.first()) else { return Ok(None) };
        let dn = subject_rfc2253(leaf).ok_or("the client certificate's subject cannot be read")?;
        self.principal_mapper.map(&dn).map(Some)
    }
}

/// What a client needs to dial a TLS listener.
#[derive(Clone)]
pub struct ClientTls {
    pub config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientTls")
    }
}

impl PartialEq for ClientTls {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
    }
}

impl Eq for ClientTls {}

impl ClientTls {
    /// Trust comes from the truststore; without one, from nothing (a
    /// client with no truststore cannot verify anyone and says so).
    pub fn from_settings(s: &Settings<'_, '_>) -> Result<Self, ConfigError> {
        Self::build(s, false)
    }

    /// A broker dialling its own inter-broker listener: without a
    /// truststore it trusts the certificates of its own keystore chain
    /// (Kafka would fall back to the JVM's CAs, which this build does not
    /// carry), so a cluster sharing one CA-signed chain needs no truststore.
    pub fn for_inter_broker(s: &Settings<'_, '_>) -> Result<Self, ConfigError> {
        Self::build(s, true)
    }

    fn build(s: &Settings<'_, '_>, own_chain_fallback: bool) -> Result<Self, ConfigError> {
        let provider = provider(s)?;
        let versions = protocols(s)?;
        let mut roots = truststore(s)?;
        if roots.is_none() && own_chain_fallback {
            if let Some((chain, _)) = keystore(s)? {
                let mut own = RootCertStore::empty();
                own.add_parsable_certificates(chain);
                roots = Some(own).filter(|r| !r.is_empty());
            }
        }
        let roots = roots.ok_or_else(|| {
            invalid(
                "ssl.truststore.location",
                "",
                "a TLS client needs the CA certificates to trust: ssl.truststore.type=PEM with \
                 ssl.truststore.location, or ssl.truststore.certificates",
            )
        })?;
        let verify_hostname = match s.lookup("ssl.endpoint.identification.algorithm") {
            None => true,
            Some((_, v)) if v.trim().is_empty() => false,
            Some((_, v)) if v.trim().eq_ignore_ascii_case("https") => true,
            Some((k, v)) => return Err(invalid(&k, v, "must be https or empty")),
        };
        let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .map_err(|e| invalid("ssl.truststore.location", "", e.to_string()))?;
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| invalid("ssl.enabled.protocols", "", e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Verifier { inner, verify_hostname }));
        let config = match keystore(s)? {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
                invalid("ssl.keystore.location", "", format!("unusable key or certificate: {e}"))
            })?,
            None => builder.with_no_client_auth(),
        };
        Ok(ClientTls { config: Arc::new(config) })
    }

    /// The name the broker's certificate must carry: `host` of `host:port`.
    pub fn server_name(addr: &str) -> Result<ServerName<'static>, String> {
        let host = match addr.rsplit_once(':') {
            Some((h, _)) => h,
            None => addr,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        ServerName::try_from(host.to_string()).map_err(|e| format!("{host:?}: {e}"))
    }
}

/// WebPKI verification, with the host name check dropped when
/// `ssl.endpoint.identification.algorithm` is empty (Kafka's way of
/// turning it off).
#[derive(Debug)]
struct Verifier {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    verify_hostname: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::{CertificateError, Error};
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.verify_hostname => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// ring's suites, narrowed to `ssl.cipher.suites` (IANA names, as Java
/// names them) when it is set.
fn provider(s: &Settings<'_, '_>) -> Result<Arc<CryptoProvider>, ConfigError> {
    // ring rather than aws-lc-rs keeps the build free of cmake; it lacks
    // the post-quantum key exchange rustls now flags its absence for.
    #[allow(deprecated)]
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some((key, value)) = s.value("ssl.cipher.suites") {
        let mut chosen = Vec::new();
        for name in crate::config::list(value) {
            let suite =
                provider.cipher_suites.iter().find(|c| suite_name(c) == name).ok_or_else(|| {
                    let offered: Vec<String> =
                        provider.cipher_suites.iter().map(suite_name).collect();
                    invalid(
                        &key,
                        value,
                        format!(
                            "unknown cipher suite {name}; this build offers {}",
                            offered.join(",")
                        ),
                    )
                })?;
            chosen.push(*suite);
        }
        provider.cipher_suites = chosen;
    }
    Ok(Arc::new(provider))
}

/// The IANA name: rustls spells TLS 1.3 suites `TLS13_...`.
fn suite_name(s: &rustls::SupportedCipherSuite) -> String {
    let name = format!("{:?}", s.suite());
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name,
    }
}

fn protocols(s: &Settings<'_, '_>) -> Result<Vec<&'static SupportedProtocolVersion>, ConfigError> {
    let (key, value) = s
        .value("ssl.enabled.protocols")
        .unwrap_or(("ssl.enabled.protocols".into(), DEFAULT_PROTOCOLS));
    let mut out = Vec::new();
    for name in crate::config::list(value) {
        let v = match name {
            "TLSv1.2" => &rustls::version::TLS12,
            "TLSv1.3" => &rustls::version::TLS13,
            _ => {
                return Err(invalid(
                    &key,
                    value,
                    format!("{name} is not offered; use TLSv1.2 and/or TLSv1.3"),
                ))
            }
        };
        out.push(v);
    }
    if out.is_empty() {
        return Err(invalid(&key, value, "no protocol enabled"));
    }
    Ok(out)
}

/// A store's type must be PEM (Kafka's default type is JKS, so a file with
/// no type set is accepted when it holds PEM text).
fn check_store_type(s: &Settings<'_, '_>, key: &str) -> Result<(), ConfigError> {
    match s.value(key) {
        Some((_, v)) if v.trim().eq_ignore_ascii_case("PEM") => Ok(()),
        Some((k, v)) => Err(invalid(
            &k,
            v,
            "only PEM stores are supported: convert the store to PEM (openssl pkcs12 -nodes, or \
             keytool -exportcert -rfc) and set it to PEM",
        )),
        None => Ok(()),
    }
}

/// Text of a file or inline setting; `None` if neither is set.
fn store_text(
    s: &Settings<'_, '_>,
    location_key: &str,
    inline_key: &str,
) -> Result<Option<(String, String)>, ConfigError> {
    if let Some((k, v)) = s.value(inline_key) {
        return Ok(Some((k, normalize_pem(v))));
    }
    let Some((k, path)) = s.value(location_key) else { return Ok(None) };
    let text =
        std::fs::read(path.trim()).map_err(|e| invalid(&k, path, format!("cannot read: {e}")))?;
    if !text.starts_with(b"-----") && !String::from_utf8_lossy(&text).contains("-----BEGIN ") {
        return Err(invalid(
            &k,
            path,
            "not a PEM file (JKS and PKCS12 stores are not supported: convert to PEM and set the \
             store type to PEM)",
        ));
    }
    Ok(Some((k, normalize_pem(&String::from_utf8_lossy(&text)))))
}

fn keystore(
    s: &Settings<'_, '_>,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, ConfigError> {
    check_store_type(s, "ssl.keystore.type")?;
    let (cert_key, cert_text, key_key, key_text) = match s.value("ssl.keystore.certificate.chain") {
        Some(_) => {
            let (ck, ct) = store_text(s, "", "ssl.keystore.certificate.chain")?.unwrap_or_default();
            let (kk, kt) = store_text(s, "", "ssl.keystore.key")?.ok_or_else(|| {
                invalid(
                    "ssl.keystore.key",
                    "",
                    "ssl.keystore.certificate.chain needs ssl.keystore.key",
                )
            })?;
            (ck, ct, kk, kt)
        }
        None => match store_text(s, "ssl.keystore.location", "")? {
            Some((k, t)) => (k.clone(), t.clone(), k, t),
            None => return Ok(None),
        },
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_text.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(&cert_key, "", format!("bad PEM certificate: {e}")))?;
    if chain.is_empty() {
        return Err(invalid(&cert_key, "", "no CERTIFICATE in it"));
    }
    let key = match encrypted_key_block(&key_text) {
        Some(block) => decrypt_key(s, &key_key, block)?,
        None => PrivateKeyDer::from_pem_slice(key_text.as_bytes())
            .map_err(|e| invalid(&key_key, "", format!("no usable PRIVATE KEY in it: {e}")))?,
    };
    Ok(Some((chain, key)))
}

const ENCRYPTED_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// The `ENCRYPTED PRIVATE KEY` block of a store's text, which may also
/// hold the certificate chain.
fn encrypted_key_block(text: &str) -> Option<&str> {
    let start = text.find(ENCRYPTED_BEGIN)?;
    let len = text[start..].find(ENCRYPTED_END)? + ENCRYPTED_END.len();
    Some(&text[start..start + len])
}

/// An encrypted PKCS#8 key (PBES2: PBKDF2 or scrypt with AES-CBC, what
/// `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes), decrypted with
/// `ssl.key.password` as Kafka's PEM keystore does.
fn decrypt_key(
    s: &Settings<'_, '_>,
    key_key: &str,
    block: &str,
) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let Some((password_key, password)) = s.value("ssl.key.password") else {
        return Err(invalid(key_key, "", "the key is encrypted and ssl.key.password is not set"));
    };
    let (_, der) = pkcs8::der::pem::decode_vec(block.as_bytes())
        .map_err(|e| invalid(key_key, "", format!("bad PEM encrypted private key: {e}")))?;
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
        .map_err(|e| invalid(key_key, "", format!("not a PKCS#8 encrypted private key: {e}")))?;
    // The value is a secret: errors show it masked, as Kafka prints
    // passwords in its config dumps. A wrong password shows as bad
    // padding or, rarely, as padding that fits over bytes that are no key.
    let wrong =
        || invalid(&password_key, "[hidden]", format!("wrong password for the key of {key_key}"));
    let plain = info.decrypt(password.as_bytes()).map_err(|e| match e {
        pkcs8::Error::EncryptedPrivateKey(
            e @ (pkcs8::pkcs5::Error::UnsupportedAlgorithm { .. }
            | pkcs8::pkcs5::Error::AlgorithmParametersInvalid { .. }
            | pkcs8::pkcs5::Error::NoPbes1CryptSupport),
        ) => invalid(key_key, "", format!("cannot decrypt this key: {e}")),
        _ => wrong(),
    })?;
    pkcs8::PrivateKeyInfo::try_from(plain.as_bytes()).map_err(|_| wrong())?;
    Ok(PrivateKeyDer::Pkcs8(plain.as_bytes().to_vec().into()))
}

fn truststore(s: &Settings<'_, '_>) -> Result<Option<RootCertStore>, ConfigError> {
    check_store_type(s, "ssl.truststore.type")?;
    let Some((key, text)) =
        store_text(s, "ssl.truststore.location", "ssl.truststore.certificates")?
    else {
        return Ok(None);
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(text.as_bytes()) {
        let cert = cert.map_err(|e| invalid(&key, "", format!("bad PEM certificate: {e}")))?;
        roots.add(cert).map_err(|e| invalid(&key, "", format!("unusable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(invalid(&key, "", "no CERTIFICATE in it"));
    }
    Ok(Some(roots))
}

/// PEM as Kafka accepts it inline: a property value continued with `\`
/// loses its line breaks, so each block is rebuilt with the markers on
/// their own lines and the base64 body wrapped.
fn normalize_pem(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let Some(label_end) = after.find("-----") else { break };
        let label = &after[..label_end];
        let body_start = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(body_end) = body_start.find(&end_marker) else { break };
        let body: String = body_start[..body_end].chars().filter(|c| !c.is_whitespace()).collect();
        out.push_str(&format!("-----BEGIN {label}-----\n"));
        for line in body.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str(&end_marker);
        out.push('\n');
        rest = &body_start[body_end + end_marker.len()..];
    }
    out
}

/// `ssl.principal.mapping.rules` (KIP-371): `DEFAULT` keeps the
/// distinguished name; `RULE:pattern/replacement/[LU]` applies when the
/// pattern matches the whole name. The first rule that applies wins; a
/// name no rule applies to is refused.
#[derive(Clone, Debug)]
pub struct PrincipalMapper {
    rules: Vec<Rule>,
}

#[derive(Clone, Debug)]
enum Rule {
    Default,
    Replace { pattern: regex::Regex, replacement: String, case: Option<char> },
}

impl Default for PrincipalMapper {
    fn default() -> Self {
        PrincipalMapper { rules: vec![Rule::Default] }
    }
}

impl PrincipalMapper {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut rules = Vec::new();
        let mut rest = text.trim();
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("DEFAULT") {
                rules.push(Rule::Default);
                rest = r;
            } else if let Some(r) = rest.strip_prefix("RULE:") {
                let (pattern, r) = split_unescaped(r).ok_or("a RULE needs pattern/replacement/")?;
                let (replacement, r) =
                    split_unescaped(r).ok_or("a RULE needs pattern/replacement/")?;
                let (case, r) = match r.chars().next() {
                    Some(c @ ('L' | 'U')) => (Some(c), &r[1..]),
                    _ => (None, r),
                };
                let anchored = format!("^(?:{pattern})$");
                let pattern = regex::Regex::new(&anchored)
                    .map_err(|e| format!("bad pattern {pattern:?}: {e}"))?;
                rules.push(Rule::Replace {
                    pattern,
                    replacement: java_replacement(replacement),
                    case,
                });
                rest = r;
            } else {
                return Err(format!("Invalid rule: {rest}"));
            }
            rest = rest.trim_start();
            match rest.strip_prefix(',') {
                Some(r) => rest = r.trim_start(),
                None if rest.is_empty() => {}
                None => return Err(format!("Invalid rule: {rest}")),
            }
        }
        if rules.is_empty() {
            return Err("no rule given".into());
        }
        Ok(PrincipalMapper { rules })
    }

    pub fn map(&self, dn: &str) -> Result<String, String> {
        for rule in &self.rules {
            match rule {
                Rule::Default => return Ok(dn.to_string()),
                Rule::Replace { pattern, replacement, case } => {
                    if !pattern.is_match(dn) {
                        continue;
                    }
                    let out = pattern.replace(dn, replacement.as_str()).into_owned();
                    return Ok(match case {
                        Some('L') => out.to_lowercase(),
                        Some('U') => out.to_uppercase(),
                        _ => out,
                    });
                }
            }
        }
        Err(format!("No rules apply to {dn}"))
    }
}

/// Up to the first `/` not escaped by `\`; escapes stay for the regex.
fn split_unescaped(s: &str) -> Option<(&str, &str)> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '/' if !escaped => return Some((&s[..i], &s[i + 1..])),
            _ => escaped = false,
        }
    }
    None
}

/// Java's `$1` group references as the regex crate reads them (`${1}`), so
/// `$1@example` does not become a named group.
fn java_replacement(r: &str) -> String {
    let mut out = String::new();
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    if n == '$' {
                        out.push_str("$$");
                    } else {
                        out.push(n);
                    }
                }
            }
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                out.push_str(&format!("${{{digits}}}"));
            }
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out
}

/// The subject of a DER certificate in RFC 2253 form, as Java's
/// `X500Principal.getName()`: RDNs last to first, known attribute types by
/// keyword, others as `oid=#hex`. `None` for anything malformed.
pub fn subject_rfc2253(cert: &[u8]) -> Option<String> {
    let (_, cert_body, _) = der_next(cert, 0x30)?;
    let (_, tbs, _) = der_next(cert_body, 0x30)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = der_any(rest)?.2; // version
    }
    for _ in 0..4 {
        rest = der_any(rest)?.2; // serial, signature, issuer, validity
    }
    let (_, mut name, _) = der_next(rest, 0x30)?;
    let mut rdns = Vec::new();
    while !name.is_empty() {
        let (_, mut set, r) = der_next(name, 0x31)?;
        name = r;
        let mut parts = Vec::new();
        while !set.is_empty() {
            let (_, atv, r) = der_next(set, 0x30)?;
            set = r;
            let (_, oid, value) = der_next(atv, 0x06)?;
            let (tag, content, _) = der_any(value)?;
            parts.push(attribute(oid, tag, content, value)?);
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

fn attribute(oid: &[u8], tag: u8, content: &[u8], raw: &[u8]) -> Option<String> {
    // 2.5.4.x, 0.9.2342.19200300.100.1.25 (DC) and .1 (UID).
    let keyword = match oid {
        [0x55, 0x04, 0x03] => Some("CN"),
        [0x55, 0x04, 0x06] => Some("C"),
        [0x55, 0x04, 0x07] => Some("L"),
        [0x55, 0x04, 0x08] => Some("ST"),
        [0x55, 0x04, 0x09] => Some("STREET"),
        [0x55, 0x04, 0x0a] => Some("O"),
        [0x55, 0x04, 0x0b] => Some("OU"),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => Some("DC"),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => Some("UID"),
        _ => None,
    };
    let text = match tag {
        // UTF8String, PrintableString, T61String, IA5String
        0x0c | 0x13 | 0x14 | 0x16 => Some(String::from_utf8_lossy(content).into_owned()),
        // BMPString: UTF-16BE
        0x1e if content.len().is_multiple_of(2) => {
            let units: Vec<u16> =
                content.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            Some(String::from_utf16_lossy(&units))
        }
        _ => None,
    };
    match (keyword, text) {
        (Some(k), Some(t)) => Some(format!("{k}={}", escape_rfc2253(&t))),
        _ => {
            let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            Some(format!("{}=#{hex}", oid_dotted(oid)?))
        }
    }
}

fn escape_rfc2253(v: &str) -> String {
    let mut out = String::new();
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn oid_dotted(oid: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for &b in oid {
        acc = acc.checked_mul(128)?.checked_add(u64::from(b & 0x7f))?;
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (acc / 40).min(2);
                arcs.push(first);
                arcs.push(acc - first * 40);
            } else {
                arcs.push(acc);
            }
            acc = 0;
        }
    }
    (!arcs.is_empty()).then(|| arcs.iter().map(u64::to_string).collect::<Vec<_>>().join("."))
}

/// One DER element: (tag, content, rest). Lengths are checked against the
/// input, never trusted for allocation.
fn der_any(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // high tag numbers do not occur in a certificate name
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |a, &b| (a << 8) | usize::from(b));
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn der_next(input: &[u8], want: u8) -> Option<(u8, &[u8], &[u8])> {
    der_any(input).filter(|(tag, _, _)| *tag == want)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An encrypted key without ssl.key.password stops the start with a
    /// message naming both settings; one that is not PKCS#8 names the key.
    #[test]
    fn an_encrypted_key_needs_ssl_key_password() {
        let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let key =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        for (password, wants) in [
            (None, ["ssl.keystore.key", "ssl.key.password"]),
            (Some("secret"), ["ssl.keystore.key", "not a PKCS#8 encrypted private key"]),
        ] {
            let get = |k: &str| match k {
                "ssl.keystore.certificate.chain" => Some(cert),
                "ssl.keystore.key" => Some(key),
                "ssl.key.password" => password,
                _ => None,
            };
            let Err(e) = keystore(&Settings::client(&get)) else {
                panic!("a broken encrypted key was accepted (password {password:?})")
            };
            let msg = e.to_string();
            assert!(wants.iter().all(|w| msg.contains(w)), "{msg}");
        }
    }

    #[test]
    fn the_encrypted_block_is_found_beside_the_chain() {
        let text = "-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----\n\
                    -----BEGIN ENCRYPTED PRIVATE KEY-----\nBB\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert_eq!(
            encrypted_key_block(text),
            Some("-----BEGIN ENCRYPTED PRIVATE KEY-----\nBB\n-----END ENCRYPTED PRIVATE KEY-----")
        );
        assert_eq!(encrypted_key_block("-----BEGIN PRIVATE KEY-----\n"), None);
    }

    #[test]
    fn principal_mapping_rules_follow_kip_371() {
        let dn = "CN=alice,OU=Engineering,O=Acme,L=Paris,C=FR";
        let cases: &[(&str, &str, &str)] = &[
            ("DEFAULT", dn, "DEFAULT keeps the name"),
            ("RULE:^CN=(.*?),OU=(.*?),.*$/$1/,DEFAULT", "alice", "the common name"),
            ("RULE:^CN=(.*?),OU=(.*?),.*$/$1@$2/L", "alice@engineering", "lower-cased"),
            ("RULE:^CN=(.*?),.*$/$1/U", "ALICE", "upper-cased"),
            ("RULE:^CN=bob,.*$/bob/, DEFAULT", dn, "a rule that does not match is skipped"),
            ("RULE:^CN=(.*?),OU=.*$/$1\\/x/", "alice/x", "an escaped slash in the replacement"),
        ];
        for (rules, want, why) in cases {
            let m = PrincipalMapper::parse(rules).unwrap();
            assert_eq!(m.map(dn).unwrap(), *want, "{why}: {rules}");
        }
        let only_bob = PrincipalMapper::parse("RULE:^CN=bob,.*$/bob/").unwrap();
        assert!(only_bob.map(dn).unwrap_err().contains("No rules apply"), "no rule applies");
        for bad in ["RULE:x", "NOPE", "RULE:(/x/"] {
            assert!(PrincipalMapper::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subjects_read_as_java_writes_them() {
        // A certificate subject SEQUENCE inside a minimal TBS: the parser
        // walks version, serial, signature, issuer, validity, subject.
        fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
            let mut v = vec![tag];
            if body.len() < 128 {
                v.push(body.len() as u8);
            } else {
                v.extend([0x82, (body.len() >> 8) as u8, body.len() as u8]);
            }
            v.extend_from_slice(body);
            v
        }
        fn rdn(oid: &[u8], tag: u8, value: &str) -> Vec<u8> {
            let atv = [tlv(0x06, oid), tlv(tag, value.as_bytes())].concat();
            tlv(0x31, &tlv(0x30, &atv))
        }
        let subject = tlv(
            0x30,
            &[
                rdn(&[0x55, 4, 6], 0x13, "FR"),
                rdn(&[0x55, 4, 10], 0x0c, "Acme, Inc"),
                rdn(&[0x55, 4, 11], 0x0c, "Eng"),
                rdn(&[0x55, 4, 3], 0x0c, "alice"),
                rdn(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01], 0x16, "a@x"),
            ]
            .concat(),
        );
        let tbs = tlv(
            0x30,
            &[
                tlv(0xa0, &tlv(0x02, &[2])),
                tlv(0x02, &[1]),
                tlv(0x30, &[]),
                tlv(0x30, &[]),
                tlv(0x30, &[]),
                subject,
            ]
            .concat(),
        );
        let cert = tlv(0x30, &tbs);
        assert_eq!(
            subject_rfc2253(&cert).unwrap(),
            "1.2.840.113549.1.9.1=#1603614078,CN=alice,OU=Eng,O=Acme\\, Inc,C=FR"
        );
        for cut in 0..cert.len() {
            let _ = subject_rfc2253(&cert[..cut]); // never panics on truncation
        }
        assert_eq!(subject_rfc2253(b"\x30\x84\xff\xff\xff\xff"), None);
    }

    #[test]
    fn inline_pem_loses_line_breaks_and_is_rebuilt() {
        let text = "-----BEGIN CERTIFICATE----- QUJD REVG -----END CERTIFICATE-----";
        assert_eq!(
            normalize_pem(text),
            "-----BEGIN CERTIFICATE-----\nQUJDREVG\n-----END CERTIFICATE-----\n"
        );
    }

    #[test]
    fn settings_kafka_refuses_are_refused_clearly() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("ssl.keystore.type", "JKS"), ("ssl.keystore.location", "/x")], "only PEM"),
            (&[("ssl.keystore.location", "/nonexistent/k.pem")], "cannot read"),
            (&[("ssl.enabled.protocols", "TLSv1.1")], "TLSv1.1 is not offered"),
            (&[("ssl.cipher.suites", "TLS_RSA_WITH_RC4_128_MD5")], "unknown cipher suite"),
            (&[], "needs a key and certificate"),
        ];
        for (props, want) in cases {
            let get = |k: &str| props.iter().find(|(p, _)| *p == k).map(|(_, v)| *v);
            let err = ServerTls::from_settings(&Settings::listener(&get, "SSL"), false)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{props:?}: {err}");
        }
        let get = |k: &str| {
            (k == "ssl.cipher.suites")
                .then_some("TLS_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
        };
        assert_eq!(provider(&Settings::client(&get)).unwrap().cipher_suites.len(), 2, "IANA names");
    }
}
