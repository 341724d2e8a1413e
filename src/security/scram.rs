//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) as Kafka speaks
//! them (KIP-84): the credential Kafka stores in ZooKeeper, the server's
//! and the client's side of the exchange. Pure: bytes in, bytes out; the
//! broker and the client carry the messages.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// Kafka's `ScramMechanism`: minimum iterations 4096 for both.
pub const MIN_ITERATIONS: u32 = 4096;
/// Kafka refuses more than this in AlterUserScramCredentials.
pub const MAX_ITERATIONS: u32 = 16384;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];

    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The wire code in Describe/AlterUserScramCredentials (`ScramMechanism.type`).
    pub fn code(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    pub fn from_code(code: i8) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.code() == code)
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC takes keys of any length, so new_from_slice cannot fail.
        match self {
            ScramMechanism::Sha256 => {
                let mut m = <Hmac<Sha256>>::new_from_slice(key).expect("any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            ScramMechanism::Sha512 => {
                let mut m = <Hmac<Sha512>>::new_from_slice(key).expect("any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    /// RFC 5802's Hi(): PBKDF2 with HMAC and one output block.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut first = salt.to_vec();
        first.extend_from_slice(&1u32.to_be_bytes());
        let mut u = self.hmac(password, &first);
        let mut out = u.clone();
        for _ in 1..iterations {
            u = self.hmac(password, &u);
            out.iter_mut().zip(&u).for_each(|(o, x)| *o ^= x);
        }
        out
    }

    /// The credential a server keeps from a salted password.
    pub fn credential(self, salted: &[u8], salt: &[u8], iterations: u32) -> ScramCredential {
        let client_key = self.hmac(salted, b"Client Key");
        ScramCredential {
            salt: salt.to_vec(),
            stored_key: self.hash(&client_key),
            server_key: self.hmac(salted, b"Server Key"),
            iterations,
        }
    }
}

/// What Kafka stores per user and mechanism under `/config/users/<user>`:
/// `salt=<b64>,stored_key=<b64>,server_key=<b64>,iterations=<n>`
/// (`ScramCredentialUtils.credentialToString`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: u32,
}

impl ScramCredential {
    pub fn to_config_value(&self) -> String {
        format!(
            "salt={},stored_key={},server_key={},iterations={}",
            B64.encode(&self.salt),
            B64.encode(&self.stored_key),
            B64.encode(&self.server_key),
            self.iterations
        )
    }

    pub fn from_config_value(value: &str) -> Option<Self> {
        let mut salt = None;
        let mut stored_key = None;
        let mut server_key = None;
        let mut iterations = None;
        for part in value.split(',') {
            let (k, v) = part.split_once('=')?;
            match k.trim() {
                "salt" => salt = B64.decode(v.trim()).ok(),
                "stored_key" => stored_key = B64.decode(v.trim()).ok(),
                "server_key" => server_key = B64.decode(v.trim()).ok(),
                "iterations" => iterations = v.trim().parse().ok(),
                _ => {}
            }
        }
        Some(ScramCredential {
            salt: salt?,
            stored_key: stored_key?,
            server_key: server_key?,
            iterations: iterations?,
        })
    }
}

/// Random bytes from the operating system, for salts and nonces.
pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    if getrandom::fill(&mut out).is_err() {
        // No OS randomness at all: v4 UUIDs draw on the same source, so
        // this only happens on a broken system; fall back to fastrand
        // rather than failing every login.
        out.iter_mut().for_each(|b| *b = fastrand::u8(..));
    }
    out
}

/// A printable nonce (RFC 5802: printable ASCII without ',').
fn nonce() -> String {
    B64.encode(random_bytes(24)).replace(['+', '/', '='], "x")
}

/// RFC 5802 `saslname`: `=2C` is ',' and `=3D` is '='.
fn decode_saslname(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

fn encode_saslname(s: &str) -> String {
    s.replace('=', "=3D").replace(',', "=2C")
}

/// Why an exchange failed; the broker answers all of them with
/// SASL_AUTHENTICATION_FAILED and Kafka's message.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("Invalid SCRAM message: {0}")]
    Malformed(&'static str),
    #[error("Authentication failed: Invalid user credentials")]
    UnknownUser,
    #[error("Invalid client nonce in the final client message.")]
    NonceMismatch,
    #[error("Invalid client credentials")]
    BadProof,
    #[error("Invalid server signature in server final message")]
    BadServerSignature,
    #[error("Sasl authentication using {0} failed with error: {1}")]
    ServerError(&'static str, String),
}

/// The attributes of a message, in order: `k=v,k=v`.
fn attributes(msg: &str) -> Vec<(&str, &str)> {
    msg.split(',').filter_map(|p| p.split_once('=')).collect()
}

fn attr<'a>(attrs: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    attrs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// The server's side of one exchange: two client messages in, two server
/// messages out.
pub struct ScramServer {
    mechanism: ScramMechanism,
    state: ServerState,
}

enum ServerState {
    Initial,
    SentFirst {
        credential: ScramCredential,
        client_first_bare: String,
        server_first: String,
        nonce: String,
        username: String,
    },
    Done,
}

impl ScramServer {
    pub fn new(mechanism: ScramMechanism) -> Self {
        ScramServer { mechanism, state: ServerState::Initial }
    }

    /// Whether the next message is the client's first.
    pub fn awaiting_first(&self) -> bool {
        matches!(self.state, ServerState::Initial)
    }

    /// The user name of a client-first message, so the caller can look the
    /// credential up before [`ScramServer::first`].
    pub fn username(client_first: &[u8]) -> Result<String, ScramError> {
        let (_, bare) = split_client_first(client_first)?;
        let attrs = attributes(bare);
        let name = attr(&attrs, "n").ok_or(ScramError::Malformed("no user name"))?;
        decode_saslname(name).ok_or(ScramError::Malformed("bad user name"))
    }

    /// client-first → server-first. `credential` is the user's, if known.
    pub fn first(
        &mut self,
        client_first: &[u8],
        credential: Option<ScramCredential>,
    ) -> Result<Vec<u8>, ScramError> {
        let (_, bare) = split_client_first(client_first)?;
        let attrs = attributes(bare);
        let client_nonce = attr(&attrs, "r").ok_or(ScramError::Malformed("no nonce"))?;
        let username = Self::username(client_first)?;
        let credential = credential.ok_or(ScramError::UnknownUser)?;
        let nonce = format!("{client_nonce}{}", nonce());
        let server_first =
            format!("r={nonce},s={},i={}", B64.encode(&credential.salt), credential.iterations);
        let out = server_first.clone().into_bytes();
        self.state = ServerState::SentFirst {
            credential,
            client_first_bare: bare.to_string(),
            server_first,
            nonce,
            username,
        };
        Ok(out)
    }

    /// client-final → server-final and the authenticated user name.
    pub fn finish(&mut self, client_final: &[u8]) -> Result<(Vec<u8>, String), ScramError> {
        let ServerState::SentFirst { credential, client_first_bare, server_first, nonce, username } =
            std::mem::replace(&mut self.state, ServerState::Done)
        else {
            return Err(ScramError::Malformed("unexpected message"));
        };
        let msg =
            std::str::from_utf8(client_final).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (without_proof, proof) =
            msg.rsplit_once(",p=").ok_or(ScramError::Malformed("no proof"))?;
        let attrs = attributes(without_proof);
        // Kafka's ScramSaslServer checks `endsWith`, and librdkafka (2.0)
        // sends its own nonce before the combined one: accept what Kafka
        // accepts.
        if !attr(&attrs, "r").is_some_and(|r| r.ends_with(nonce.as_str())) {
            return Err(ScramError::NonceMismatch);
        }
        let proof = B64.decode(proof).map_err(|_| ScramError::Malformed("bad proof"))?;
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let m = self.mechanism;
        let signature = m.hmac(&credential.stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() {
            return Err(ScramError::BadProof);
        }
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        if !constant_time_eq(&m.hash(&client_key), &credential.stored_key) {
            return Err(ScramError::BadProof);
        }
        let server_signature = m.hmac(&credential.server_key, auth_message.as_bytes());
        Ok((format!("v={}", B64.encode(server_signature)).into_bytes(), username))
    }
}

/// `gs2-header` and `client-first-message-bare`. Channel binding is not
/// offered by Kafka ('n'); an authzid must name the user itself.
fn split_client_first(msg: &[u8]) -> Result<(&str, &str), ScramError> {
    let msg = std::str::from_utf8(msg).map_err(|_| ScramError::Malformed("not UTF-8"))?;
    let mut parts = msg.splitn(3, ',');
    let cb = parts.next().unwrap_or("");
    let _authzid = parts.next().ok_or(ScramError::Malformed("no GS2 header"))?;
    let bare = parts.next().ok_or(ScramError::Malformed("no message"))?;
    if cb != "n" && cb != "y" {
        return Err(ScramError::Malformed("channel binding is not supported"));
    }
    Ok((cb, bare))
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The client's side: for brokers dialling a SCRAM inter-broker listener
/// and for the CLI tools.
pub struct ScramClient {
    mechanism: ScramMechanism,
    username: String,
    password: String,
    nonce: String,
    client_first_bare: String,
    server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    pub fn new(mechanism: ScramMechanism, username: &str, password: &str) -> Self {
        let nonce = nonce();
        let client_first_bare = format!("n={},r={nonce}", encode_saslname(username));
        ScramClient {
            mechanism,
            username: username.to_string(),
            password: password.to_string(),
            nonce,
            client_first_bare,
            server_signature: None,
        }
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    pub fn first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// server-first → client-final.
    pub fn respond(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ScramError> {
        let msg =
            std::str::from_utf8(server_first).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let attrs = attributes(msg);
        if let Some(e) = attr(&attrs, "e") {
            return Err(ScramError::ServerError(self.mechanism.name(), e.to_string()));
        }
        let nonce = attr(&attrs, "r").ok_or(ScramError::Malformed("no nonce"))?;
        if !nonce.starts_with(&self.nonce) {
            return Err(ScramError::NonceMismatch);
        }
        let salt = attr(&attrs, "s")
            .and_then(|s| B64.decode(s).ok())
            .ok_or(ScramError::Malformed("no salt"))?;
        let iterations: u32 = attr(&attrs, "i")
            .and_then(|i| i.parse().ok())
            .filter(|&i| i >= 1)
            .ok_or(ScramError::Malformed("no iteration count"))?;
        let m = self.mechanism;
        let salted = m.salted_password(self.password.as_bytes(), &salt, iterations);
        let credential = m.credential(&salted, &salt, iterations);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{msg},{without_proof}", self.client_first_bare);
        let client_key = m.hmac(&salted, b"Client Key");
        let signature = m.hmac(&credential.stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        self.server_signature = Some(m.hmac(&credential.server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Checks server-final, so a client knows the server held the credential.
    pub fn verify(&self, server_final: &[u8]) -> Result<(), ScramError> {
        let msg =
            std::str::from_utf8(server_final).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let attrs = attributes(msg);
        if let Some(e) = attr(&attrs, "e") {
            return Err(ScramError::ServerError(self.mechanism.name(), e.to_string()));
        }
        let v = attr(&attrs, "v")
            .and_then(|v| B64.decode(v).ok())
            .ok_or(ScramError::Malformed("no server signature"))?;
        match &self.server_signature {
            Some(expected) if constant_time_eq(expected, &v) => Ok(()),
            _ => Err(ScramError::BadServerSignature),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 section 3: user "user", password "pencil".
    #[test]
    fn rfc7677_sha256_exchange() {
        let m = ScramMechanism::Sha256;
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let salted = m.salted_password(b"pencil", &salt, 4096);
        let credential = m.credential(&salted, &salt, 4096);
        let client_first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO";
        let server_first =
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let without_proof = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let client_key = m.hmac(&salted, b"Client Key");
        let sig = m.hmac(&credential.stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        assert_eq!(B64.encode(proof), "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        let server_sig = m.hmac(&credential.server_key, auth.as_bytes());
        assert_eq!(B64.encode(server_sig), "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    }

    #[test]
    fn client_and_server_agree_and_a_wrong_password_is_refused() {
        for m in ScramMechanism::ALL {
            let salt = random_bytes(16);
            let stored = m.credential(&m.salted_password(b"s3cret", &salt, 4096), &salt, 4096);
            for (password, ok) in [("s3cret", true), ("wrong", false)] {
                let mut client = ScramClient::new(m, "al,i=ce", password);
                let mut server = ScramServer::new(m);
                let first = client.first();
                assert_eq!(ScramServer::username(&first).unwrap(), "al,i=ce", "saslname escapes");
                let server_first = server.first(&first, Some(stored.clone())).unwrap();
                let client_final = client.respond(&server_first).unwrap();
                match server.finish(&client_final) {
                    Ok((server_final, user)) => {
                        assert!(ok, "{m:?}: a wrong password was accepted");
                        assert_eq!(user, "al,i=ce");
                        client.verify(&server_final).unwrap();
                    }
                    Err(e) => {
                        assert!(!ok, "{m:?}: {e}");
                        assert_eq!(e, ScramError::BadProof);
                    }
                }
            }
        }
    }

    #[test]
    fn stored_credentials_round_trip_kafkas_text() {
        let m = ScramMechanism::Sha512;
        let c = m.credential(&m.salted_password(b"pw", b"salt", 4096), b"salt", 4096);
        let text = c.to_config_value();
        assert!(text.starts_with("salt=c2FsdA==,stored_key="), "{text}");
        assert!(text.ends_with(",iterations=4096"));
        assert_eq!(ScramCredential::from_config_value(&text), Some(c));
        assert_eq!(ScramCredential::from_config_value("salt=!!,iterations=1"), None);
    }

    #[test]
    fn hostile_messages_are_errors() {
        let m = ScramMechanism::Sha256;
        let c = m.credential(b"x", b"s", 4096);
        for bad in [&b""[..], b"n", b"p=tls-unique,,n=a,r=b", b"n,,n=a=xx,r=b", b"\xff\xfe"] {
            let mut server = ScramServer::new(m);
            assert!(server.first(bad, Some(c.clone())).is_err(), "{bad:?}");
        }
        let mut server = ScramServer::new(m);
        server.first(b"n,,n=a,r=abc", Some(c.clone())).unwrap();
        assert_eq!(server.finish(b"c=biws,r=other,p=AAAA"), Err(ScramError::NonceMismatch));
        let mut server = ScramServer::new(m);
        assert!(server.finish(b"c=biws,r=x,p=AA==").is_err(), "final before first");
    }
}
