//! SASL on the broker's SASL listeners (Kafka's `SaslServerAuthenticator`):
//! ApiVersions and SaslHandshake (17) first, then either SaslAuthenticate
//! (36) requests (handshake v1) or, after handshake v0, the mechanism's
//! tokens in bare size-prefixed frames. PLAIN checks the listener's JAAS
//! users (`user_<name>="<password>"`); SCRAM-SHA-256/512 check the
//! credentials in ZooKeeper under `/config/users/<name>`, read at each
//! login so a change made anywhere applies to the next connection.
//!
//! Until a connection has authenticated, any other request closes it, as
//! Kafka does; a failed login is answered with SASL_AUTHENTICATION_FAILED
//! and then closed.

use std::collections::{BTreeMap, HashMap};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};

use super::apis::str_bytes;
use super::connection::ConnectionError;
use super::BrokerContext;
use crate::config::{Error, Properties};
use crate::protocol::header::{decode_body, decode_header, encode_response, peek_preamble};
use crate::protocol::ErrorCode;
use crate::security::scram::{constant_time_eq, ScramCredential, ScramServer};
use crate::security::{jaas, ClientSecurity, Mechanism, PlainMessage, SaslCredentials};

/// The SASL settings of one SASL listener.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListenerSasl {
    /// `sasl.enabled.mechanisms` (per listener with `listener.name.<l>.`).
    pub mechanisms: Vec<Mechanism>,
    /// PLAIN's users from the listener's JAAS config: name → password.
    pub plain_users: HashMap<String, String>,
    /// `connections.max.reauth.ms` (KIP-368): how long a login lasts
    /// before the client must authenticate again on the same connection;
    /// 0, Kafka's default, for as long as the connection.
    pub connections_max_reauth_ms: u64,
}

/// SASL settings for every SASL listener, by listener name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SaslConfig {
    pub listeners: HashMap<String, ListenerSasl>,
}

/// A listener-prefixed key wins over the plain one
/// (`listener.name.<lower-case listener>.<key>`, Kafka's rule).
fn listener_key<'a>(p: &'a Properties, listener: &str, key: &str) -> Option<&'a str> {
    let prefixed = format!("listener.name.{}.{key}", listener.to_ascii_lowercase());
    p.get(&prefixed).or_else(|| p.get(key))
}

/// The JAAS options for `mechanism` on `listener`:
/// `listener.name.<l>.<mechanism>.sasl.jaas.config`, else `sasl.jaas.config`.
fn jaas_options(
    p: &Properties,
    listener: &str,
    mechanism: Mechanism,
) -> Result<Option<BTreeMap<String, String>>, Error> {
    let key = format!("{}.sasl.jaas.config", mechanism.name().to_ascii_lowercase());
    let prefixed = format!("listener.name.{}.{key}", listener.to_ascii_lowercase());
    let (used, text) = match p.get(&prefixed) {
        Some(t) => (prefixed, t),
        None => match p.get("sasl.jaas.config") {
            Some(t) => ("sasl.jaas.config".to_string(), t),
            None => return Ok(None),
        },
    };
    jaas::parse(text).map(Some).map_err(|e| Error::InvalidValue {
        key: used,
        value: "[hidden]".into(),
        reason: e.to_string(),
    })
}

impl SaslConfig {
    pub fn from_properties(
        p: &Properties,
        listeners: &super::listeners::ListenerConfig,
    ) -> Result<Self, Error> {
        let mut out = HashMap::new();
        for l in listeners.listeners.iter().filter(|l| l.security_protocol.is_sasl()) {
            // Kafka's default is GSSAPI, which this broker does not serve.
            let text = listener_key(p, &l.name, "sasl.enabled.mechanisms").unwrap_or("GSSAPI");
            let mechanisms: Vec<Mechanism> = text
                .split(',')
                .filter(|m| !m.trim().is_empty())
                .filter_map(|m| {
                    let found = Mechanism::from_name(m);
                    if found.is_none() {
                        tracing::warn!(listener = %l.name, "SASL mechanism {} is not available; ignored", m.trim());
                    }
                    found
                })
                .collect();
            if mechanisms.is_empty() {
                return Err(Error::InvalidValue {
                    key: "sasl.enabled.mechanisms".into(),
                    value: text.into(),
                    reason: format!(
                        "listener {} needs at least one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
                        l.name
                    ),
                });
            }
            let mut plain_users = HashMap::new();
            if mechanisms.contains(&Mechanism::Plain) {
                let options = jaas_options(p, &l.name, Mechanism::Plain)?.ok_or_else(|| {
                    Error::InvalidValue {
                        key: format!(
                            "listener.name.{}.plain.sasl.jaas.config",
                            l.name.to_ascii_lowercase()
                        ),
                        value: String::new(),
                        reason: format!(
                            "listener {} enables PLAIN but has no JAAS config naming its users",
                            l.name
                        ),
                    }
                })?;
                for (k, v) in options {
                    if let Some(user) = k.strip_prefix("user_") {
                        plain_users.insert(user.to_string(), v);
                    }
                }
            }
            let reauth = listener_key(p, &l.name, "connections.max.reauth.ms").unwrap_or("0");
            let connections_max_reauth_ms =
                reauth.trim().parse::<i64>().ok().filter(|ms| *ms >= 0).ok_or_else(|| {
                    Error::InvalidValue {
                        key: "connections.max.reauth.ms".into(),
                        value: reauth.into(),
                        reason: "must be a number of milliseconds >= 0".into(),
                    }
                })? as u64;
            out.insert(
                l.name.clone(),
                ListenerSasl { mechanisms, plain_users, connections_max_reauth_ms },
            );
        }
        Ok(SaslConfig { listeners: out })
    }
}

/// How this broker authenticates when it dials the inter-broker listener:
/// `sasl.mechanism.inter.broker.protocol` with the `username`/`password`
/// options of that listener's JAAS config for the mechanism.
pub fn inter_broker_security(
    p: &Properties,
    listeners: &super::listeners::ListenerConfig,
) -> Result<ClientSecurity, Error> {
    let listener = listeners.inter_broker();
    let protocol = listener.security_protocol;
    if !protocol.is_sasl() {
        return Ok(ClientSecurity { protocol, sasl: None, tls: None });
    }
    let key = "sasl.mechanism.inter.broker.protocol";
    let text = p.get(key).map(str::trim).unwrap_or("GSSAPI");
    let invalid =
        |reason: String| Error::InvalidValue { key: key.into(), value: text.into(), reason };
    let mechanism = Mechanism::from_name(text)
        .ok_or_else(|| invalid("supported: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512".into()))?;
    let options = jaas_options(p, &listener.name, mechanism)?.unwrap_or_default();
    let username = options.get("username").cloned().unwrap_or_default();
    if username.is_empty() {
        return Err(invalid(format!(
            "the JAAS config of listener {} for {} has no username for this broker",
            listener.name,
            mechanism.name()
        )));
    }
    let password = options.get("password").cloned().unwrap_or_default();
    Ok(ClientSecurity {
        protocol,
        sasl: Some(SaslCredentials { mechanism, username, password }),
        tls: None,
    })
}

/// Where a connection on a SASL listener is in its login.
pub enum SaslState {
    /// ApiVersions or SaslHandshake expected.
    Handshake,
    /// SaslAuthenticate requests (`framed`) or bare tokens expected.
    Authenticate {
        framed: bool,
        exchange: Exchange,
    },
    Complete,
}

/// One mechanism's exchange in progress.
pub enum Exchange {
    /// PLAIN, checked against this listener's JAAS users.
    Plain {
        listener: String,
    },
    Scram(ScramServer, crate::security::scram::ScramMechanism),
}

/// What the connection does with a frame on a SASL listener.
pub enum Step {
    /// Not a login frame (ApiVersions, or anything once authenticated):
    /// handle it as usual.
    Dispatch(BytesMut),
    /// Send this and read on.
    Reply(BytesMut),
    /// Send this and read on: the client is now `principal`.
    Authenticated(BytesMut, String),
    /// Send this, then close the connection.
    ReplyAndClose(BytesMut, String),
}

/// Kafka's wording for a failed login (`SaslAuthenticationException`).
fn failed_message(mechanism: &str) -> String {
    format!(
        "Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}"
    )
}

pub async fn step(
    ctx: &BrokerContext,
    listener: &str,
    state: &mut SaslState,
    frame: BytesMut,
) -> Result<Step, ConnectionError> {
    match state {
        SaslState::Complete => Ok(Step::Dispatch(frame)),
        SaslState::Authenticate { framed: false, exchange } => {
            match evaluate(ctx, exchange, &frame).await {
                Ok(Evaluated::Continue(token)) => Ok(Step::Reply(bare_token(&token))),
                Ok(Evaluated::Done(token, principal)) => {
                    *state = SaslState::Complete;
                    Ok(Step::Authenticated(bare_token(&token), principal))
                }
                // Without framing there is no way to say why: Kafka closes.
                Err(why) => Err(ConnectionError::Refused(why)),
            }
        }
        SaslState::Handshake | SaslState::Authenticate { framed: true, .. } => {
            let pre = peek_preamble(&frame)?;
            let key = ApiKey::try_from(pre.api_key)
                .map_err(|_| crate::protocol::DecodeError::UnknownApiKey(pre.api_key))?;
            let expected = match state {
                SaslState::Handshake => {
                    matches!(key, ApiKey::ApiVersions | ApiKey::SaslHandshake)
                }
                _ => key == ApiKey::SaslAuthenticate,
            };
            if !expected {
                return Err(ConnectionError::Refused(format!(
                    "Unexpected Kafka request of type {key:?} during SASL handshake."
                )));
            }
            if key == ApiKey::ApiVersions {
                return Ok(Step::Dispatch(frame));
            }
            let version = pre.api_version;
            if !crate::protocol::api::is_supported(key, version) {
                return Err(
                    crate::protocol::DecodeError::UnsupportedVersion { key, version }.into()
                );
            }
            let (header, body) = decode_header(key, version, frame.freeze())?;
            let cid = header.correlation_id;
            if key == ApiKey::SaslHandshake {
                return handshake(ctx, listener, state, version, cid, body);
            }
            let lifetime =
                ctx.config.sasl.listeners.get(listener).map_or(0, |l| l.connections_max_reauth_ms);
            authenticate(ctx, state, version, cid, body, lifetime).await
        }
    }
}

fn handshake(
    ctx: &BrokerContext,
    listener: &str,
    state: &mut SaslState,
    version: i16,
    cid: i32,
    body: Bytes,
) -> Result<Step, ConnectionError> {
    let req: SaslHandshakeRequest = decode_body(ApiKey::SaslHandshake, version, body)?;
    let enabled = ctx.config.sasl.listeners.get(listener).map(|l| l.mechanisms.as_slice());
    let enabled = enabled.unwrap_or_default();
    let mut resp = SaslHandshakeResponse::default();
    resp.mechanisms = enabled.iter().map(|m| str_bytes(m.name())).collect();
    let chosen = Mechanism::from_name(&req.mechanism).filter(|m| enabled.contains(m));
    let Some(mechanism) = chosen else {
        resp.error_code = ErrorCode::UnsupportedSaslMechanism.code();
        let frame = encode_response(ApiKey::SaslHandshake, version, cid, &resp)?;
        return Ok(Step::ReplyAndClose(
            frame,
            format!("Unsupported SASL mechanism {}", req.mechanism.as_str()),
        ));
    };
    let exchange = match mechanism {
        Mechanism::Plain => Exchange::Plain { listener: listener.to_string() },
        Mechanism::Scram(m) => Exchange::Scram(ScramServer::new(m), m),
    };
    *state = SaslState::Authenticate { framed: version >= 1, exchange };
    Ok(Step::Reply(encode_response(ApiKey::SaslHandshake, version, cid, &resp)?))
}

async fn authenticate(
    ctx: &BrokerContext,
    state: &mut SaslState,
    version: i16,
    cid: i32,
    body: Bytes,
    session_lifetime_ms: u64,
) -> Result<Step, ConnectionError> {
    let req: SaslAuthenticateRequest = decode_body(ApiKey::SaslAuthenticate, version, body)?;
    let SaslState::Authenticate { exchange, .. } = state else {
        return Err(ConnectionError::Refused("SaslAuthenticate out of order".into()));
    };
    let mut resp = SaslAuthenticateResponse::default();
    let encode =
        |r: &SaslAuthenticateResponse| encode_response(ApiKey::SaslAuthenticate, version, cid, r);
    match evaluate(ctx, exchange, &req.auth_bytes).await {
        Ok(Evaluated::Continue(token)) => {
            resp.auth_bytes = token.into();
            Ok(Step::Reply(encode(&resp)?))
        }
        Ok(Evaluated::Done(token, principal)) => {
            resp.auth_bytes = token.into();
            // PLAIN and SCRAM credentials carry no lifetime of their own,
            // so the session lasts the listener's setting (KIP-368).
            resp.session_lifetime_ms = session_lifetime_ms.min(i64::MAX as u64) as i64;
            *state = SaslState::Complete;
            Ok(Step::Authenticated(encode(&resp)?, principal))
        }
        Err(why) => {
            resp.error_code = ErrorCode::SaslAuthenticationFailed.code();
            resp.error_message = Some(str_bytes(why.clone()));
            Ok(Step::ReplyAndClose(encode(&resp)?, why))
        }
    }
}

enum Evaluated {
    Continue(Vec<u8>),
    /// The last token and the authenticated user name.
    Done(Vec<u8>, String),
}

async fn evaluate(
    ctx: &BrokerContext,
    exchange: &mut Exchange,
    token: &[u8],
) -> Result<Evaluated, String> {
    match exchange {
        Exchange::Plain { listener } => {
            let msg = PlainMessage::parse(token)
                .ok_or_else(|| "Invalid SASL/PLAIN request: expected 3 tokens".to_string())?;
            if !msg.authzid.is_empty() && msg.authzid != msg.username {
                return Err("Authentication failed: Client requested an authorization id that is different from username".into());
            }
            let expected = ctx
                .config
                .sasl
                .listeners
                .get(listener.as_str())
                .and_then(|l| l.plain_users.get(msg.username));
            match expected {
                Some(pw) if constant_time_eq(pw.as_bytes(), msg.password.as_bytes()) => {
                    Ok(Evaluated::Done(Vec::new(), msg.username.to_string()))
                }
                _ => Err("Authentication failed: Invalid username or password".into()),
            }
        }
        Exchange::Scram(server, m) => {
            let m = *m;
            let failed = |e: crate::security::scram::ScramError| {
                tracing::debug!("{} exchange failed: {e}", m.name());
                failed_message(m.name())
            };
            if !server.awaiting_first() {
                let (last, user) = server.finish(token).map_err(failed)?;
                return Ok(Evaluated::Done(last, user));
            }
            let user = ScramServer::username(token).map_err(failed)?;
            let configs = ctx
                .store
                .entity_config("users", &user)
                .await
                .map_err(|e| format!("credentials of {user} unavailable: {e}"))?;
            let credential =
                configs.get(m.name()).and_then(|v| ScramCredential::from_config_value(v));
            server.first(token, credential).map(Evaluated::Continue).map_err(failed)
        }
    }
}

/// A token after handshake v0: size-prefixed, no Kafka header.
fn bare_token(token: &[u8]) -> BytesMut {
    let mut out = BytesMut::with_capacity(4 + token.len());
    out.put_i32(token.len() as i32);
    out.extend_from_slice(token);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::listeners::ListenerConfig;

    fn parse(text: &str) -> Result<(SaslConfig, ClientSecurity), Error> {
        let p = Properties::parse(text);
        let listeners = ListenerConfig::from_properties(&p)?;
        Ok((SaslConfig::from_properties(&p, &listeners)?, inter_broker_security(&p, &listeners)?))
    }

    #[test]
    fn listener_prefixed_settings_win_and_the_broker_logs_in_as_its_jaas_user() {
        let (sasl, inter) = parse(
            "listeners=PLAINTEXT://:1,SASL_PLAINTEXT://:2\n\
             security.inter.broker.protocol=SASL_PLAINTEXT\n\
             sasl.enabled.mechanisms=SCRAM-SHA-512\n\
             listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN,GSSAPI\n\
             sasl.mechanism.inter.broker.protocol=PLAIN\n\
             listener.name.sasl_plaintext.plain.sasl.jaas.config=x.PlainLoginModule required \
             username=\"b\" password=\"bp\" user_b=\"bp\" user_alice=\"ap\";",
        )
        .unwrap();
        let l = &sasl.listeners["SASL_PLAINTEXT"];
        assert_eq!(l.mechanisms, [Mechanism::Plain], "GSSAPI is skipped, the prefix wins");
        assert_eq!(l.plain_users.get("alice").map(String::as_str), Some("ap"));
        assert!(!sasl.listeners.contains_key("PLAINTEXT"), "no SASL on PLAINTEXT");
        let creds = inter.sasl.unwrap();
        assert_eq!((creds.username.as_str(), creds.password.as_str()), ("b", "bp"));
    }

    #[test]
    fn sasl_settings_kafka_would_refuse_stop_the_broker() {
        let cases: &[(&str, &str)] = &[
            ("listeners=PLAINTEXT://:1,SASL_PLAINTEXT://:2", "sasl.enabled.mechanisms"),
            (
                "listeners=PLAINTEXT://:1,SASL_PLAINTEXT://:2\nsasl.enabled.mechanisms=PLAIN",
                "plain.sasl.jaas.config",
            ),
            (
                "listeners=SASL_PLAINTEXT://:2\nsasl.enabled.mechanisms=SCRAM-SHA-256\n\
                 security.inter.broker.protocol=SASL_PLAINTEXT",
                "sasl.mechanism.inter.broker.protocol",
            ),
        ];
        for (text, want) in cases {
            let err = parse(text).expect_err(text).to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
