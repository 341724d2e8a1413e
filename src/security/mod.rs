//! Authentication pieces shared by the broker and the clients: SASL PLAIN
//! and SCRAM messages, Kafka's JAAS option syntax, and the client-side
//! security settings (`security.protocol`, `sasl.mechanism`,
//! `sasl.jaas.config`). Pure: no sockets; the broker's connection and the
//! client's connection carry the bytes.

pub mod acl;
pub mod jaas;
pub mod scram;
pub mod tls;

use serde::{Deserialize, Serialize};

/// Kafka's security protocols (`SecurityProtocol.java`), named as in
/// `listener.security.protocol.map`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Case-insensitive, as Kafka's `SecurityProtocol.forName`.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Plaintext, Self::Ssl, Self::SaslPlaintext, Self::SaslSsl]
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    pub fn is_sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }

    pub fn is_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
}

impl std::fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The SASL mechanisms this build serves and speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mechanism {
    Plain,
    Scram(scram::ScramMechanism),
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Scram(m) => m.name(),
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim() {
            "PLAIN" => Some(Mechanism::Plain),
            other => scram::ScramMechanism::from_name(other).map(Mechanism::Scram),
        }
    }
}

/// A PLAIN message (RFC 4616): `[authzid] NUL authcid NUL passwd`.
#[derive(Debug, PartialEq, Eq)]
pub struct PlainMessage<'a> {
    pub authzid: &'a str,
    pub username: &'a str,
    pub password: &'a str,
}

impl<'a> PlainMessage<'a> {
    pub fn parse(bytes: &'a [u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut parts = text.split('\0');
        let (authzid, username, password) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || username.is_empty() {
            return None;
        }
        Some(PlainMessage { authzid, username, password })
    }

    pub fn encode(username: &str, password: &str) -> Vec<u8> {
        format!("\0{username}\0{password}").into_bytes()
    }
}

/// How a client reaches a listener: the settings of a Kafka client
/// properties file (`--command-config`) or of a broker dialling the
/// inter-broker listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSecurity {
    pub protocol: SecurityProtocol,
    pub sasl: Option<SaslCredentials>,
    /// Set for SSL and SASL_SSL.
    pub tls: Option<tls::ClientTls>,
}

impl Default for ClientSecurity {
    fn default() -> Self {
        ClientSecurity { protocol: SecurityProtocol::Plaintext, sasl: None, tls: None }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaslCredentials {
    pub mechanism: Mechanism,
    pub username: String,
    pub password: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("Invalid value {value} for configuration {key}: {reason}")]
    Invalid { key: String, value: String, reason: String },
}

impl ClientSecurity {
    /// From client properties: `security.protocol` (PLAINTEXT by default),
    /// the `ssl.*` settings for SSL and SASL_SSL,
    /// `sasl.mechanism` (Kafka's default GSSAPI is not available: PLAIN or
    /// SCRAM must be named) and `sasl.jaas.config` with `username` and
    /// `password`.
    pub fn from_client_properties<'a>(
        get: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<Self, ConfigError> {
        let invalid = |key: &str, value: &str, reason: &str| ConfigError::Invalid {
            key: key.into(),
            value: value.into(),
            reason: reason.into(),
        };
        let proto_text = get("security.protocol").map(str::trim).unwrap_or("PLAINTEXT");
        let protocol = SecurityProtocol::from_name(proto_text)
            .ok_or_else(|| invalid("security.protocol", proto_text, "unknown security protocol"))?;
        let tls = match protocol.is_tls() {
            true => Some(tls::ClientTls::from_settings(&tls::Settings::client(&get))?),
            false => None,
        };
        if !protocol.is_sasl() {
            return Ok(ClientSecurity { protocol, sasl: None, tls });
        }
        let mech_text = get("sasl.mechanism").map(str::trim).unwrap_or("GSSAPI");
        let mechanism = Mechanism::from_name(mech_text).ok_or_else(|| {
            invalid("sasl.mechanism", mech_text, "supported: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512")
        })?;
        let jaas_text = get("sasl.jaas.config").unwrap_or("");
        let options = jaas::parse(jaas_text)
            .map_err(|e| invalid("sasl.jaas.config", jaas_text, &e.to_string()))?;
        let username = options.get("username").cloned().unwrap_or_default();
        let password = options.get("password").cloned().unwrap_or_default();
        if username.is_empty() {
            return Err(invalid("sasl.jaas.config", jaas_text, "no username option"));
        }
        Ok(ClientSecurity {
            protocol,
            sasl: Some(SaslCredentials { mechanism, username, password }),
            tls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_messages() {
        let m = PlainMessage::parse(b"\0alice\0pw").unwrap();
        assert_eq!((m.authzid, m.username, m.password), ("", "alice", "pw"));
        assert_eq!(PlainMessage::parse(&PlainMessage::encode("a", "b")).unwrap().username, "a");
        for bad in [&b""[..], b"alice", b"\0\0pw", b"a\0b\0c\0d", b"\0\xff\0x"] {
            assert_eq!(PlainMessage::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn client_properties_as_kafka_clients_write_them() {
        let props = [
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            (
                "sasl.jaas.config",
                r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="a-secret";"#,
            ),
        ];
        let get = |k: &str| props.iter().find(|(p, _)| *p == k).map(|(_, v)| *v);
        let s = ClientSecurity::from_client_properties(get).unwrap();
        assert_eq!(s.protocol, SecurityProtocol::SaslPlaintext);
        let sasl = s.sasl.unwrap();
        assert_eq!(sasl.mechanism, Mechanism::Scram(scram::ScramMechanism::Sha512));
        assert_eq!((sasl.username.as_str(), sasl.password.as_str()), ("alice", "a-secret"));
        assert_eq!(ClientSecurity::from_client_properties(|_| None).unwrap(), Default::default());
        let no_mech = |k: &str| (k == "security.protocol").then_some("SASL_PLAINTEXT");
        assert!(ClientSecurity::from_client_properties(no_mech).is_err(), "GSSAPI is not here");
    }
}
