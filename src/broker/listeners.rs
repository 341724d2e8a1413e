//! Kafka's listener settings (`KafkaConfig.listeners` and friends): named
//! listeners `NAME://host:port`, the security protocol each name maps to
//! (`listener.security.protocol.map`), what clients are told to dial
//! (`advertised.listeners`) and which listener brokers use between
//! themselves (`inter.broker.listener.name` / `security.inter.broker.protocol`).
//! Validation follows `KafkaConfig.validateValues`, with its messages.

use std::collections::BTreeMap;

use super::config::Endpoint;
use crate::cluster::{BrokerEndpoint, SecurityProtocol};
use crate::config::{Error, Properties};

/// Kafka's default `listener.security.protocol.map`: each protocol is a
/// listener name of its own.
const DEFAULT_PROTOCOL_MAP: &str =
    "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL";

/// One listener: its name (upper case, as Kafka's `ListenerName.normalised`),
/// its security protocol and the address to bind or advertise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    pub security_protocol: SecurityProtocol,
    pub endpoint: Endpoint,
}

impl Listener {
    pub fn to_broker_endpoint(&self) -> BrokerEndpoint {
        BrokerEndpoint {
            listener_name: self.name.clone(),
            security_protocol: self.security_protocol,
            host: self.endpoint.host.clone(),
            port: self.endpoint.port,
        }
    }
}

impl std::fmt::Display for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = &self.endpoint.host;
        if host.contains(':') {
            write!(f, "{}://[{host}]:{}", self.name, self.endpoint.port)
        } else {
            write!(f, "{}://{host}:{}", self.name, self.endpoint.port)
        }
    }
}

/// A listener list in Kafka's comma-separated form.
pub fn list_to_string(listeners: &[Listener]) -> String {
    listeners.iter().map(Listener::to_string).collect::<Vec<_>>().join(",")
}

/// The listener settings of one broker, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerConfig {
    /// What the broker binds, in configuration order.
    pub listeners: Vec<Listener>,
    /// What it registers for clients and other brokers, one per listener
    /// name of `listeners` (defaults to `listeners`).
    pub advertised: Vec<Listener>,
    /// The listener other brokers' followers dial.
    pub inter_broker_listener_name: String,
}

impl ListenerConfig {
    pub fn from_properties(p: &Properties) -> Result<Self, Error> {
        let map_value = p
            .get("listener.security.protocol.map")
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .unwrap_or(DEFAULT_PROTOCOL_MAP);
        let protocols = parse_protocol_map(map_value)?;

        let listeners = match p.get("listeners").map(str::trim).filter(|v| !v.is_empty()) {
            Some(v) => parse_listeners("listeners", v, &protocols)?,
            // Kafka 0.8's keys; this broker defaults to the loopback
            // interface rather than every interface.
            None => vec![Listener {
                name: "PLAINTEXT".into(),
                security_protocol: SecurityProtocol::Plaintext,
                endpoint: Endpoint {
                    host: p
                        .get("host.name")
                        .map(str::trim)
                        .filter(|h| !h.is_empty())
                        .unwrap_or("127.0.0.1")
                        .to_string(),
                    port: p.parse_or::<u16>("port", 9092)?,
                },
            }],
        };
        check_unique("listeners", p.get("listeners").unwrap_or(""), &listeners, true)?;

        let mut advertised = match p
            .get("advertised.listeners")
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            Some(v) => {
                let adv = parse_listeners("advertised.listeners", v, &protocols)?;
                check_unique("advertised.listeners", v, &adv, false)?;
                if let Some(l) = adv.iter().find(|l| l.endpoint.host == "0.0.0.0") {
                    return Err(invalid(
                            "advertised.listeners",
                            v,
                            format!("{} cannot use the nonroutable meta-address 0.0.0.0. Use a routable IP address.", l.name),
                        ));
                }
                adv
            }
            None if p.get("listeners").is_none() => {
                let mut l = listeners[0].clone();
                if let Some(h) = p.get("advertised.host.name").map(str::trim) {
                    l.endpoint.host = h.to_string();
                }
                l.endpoint.port = p.parse_or::<u16>("advertised.port", l.endpoint.port)?;
                vec![l]
            }
            None => listeners.clone(),
        };
        for l in &advertised {
            if !listeners.iter().any(|b| b.name == l.name) {
                return Err(invalid(
                    "advertised.listeners",
                    p.get("advertised.listeners").unwrap_or(""),
                    format!(
                        "advertised.listeners listener names must be equal to or a subset of the ones defined in listeners. Found {}. The valid options based on the current configuration are {}",
                        l.name,
                        names(&listeners)
                    ),
                ));
            }
        }
        for l in &mut advertised {
            if l.endpoint.host.is_empty() || l.endpoint.host == "0.0.0.0" {
                l.endpoint.host = machine_host_name();
            }
        }

        let inter_broker_listener_name = inter_broker_listener_name(p)?;
        if !advertised.iter().any(|l| l.name == inter_broker_listener_name) {
            return Err(invalid(
                "inter.broker.listener.name",
                &inter_broker_listener_name,
                format!(
                    "inter.broker.listener.name must be a listener name defined in advertised.listeners. The valid options based on currently configured listeners are {}",
                    names(&advertised)
                ),
            ));
        }
        Ok(ListenerConfig { listeners, advertised, inter_broker_listener_name })
    }

    /// The advertised listener other brokers dial.
    pub fn inter_broker(&self) -> &Listener {
        self.advertised
            .iter()
            .find(|l| l.name == self.inter_broker_listener_name)
            .unwrap_or(&self.advertised[0])
    }

    /// A listener bound to port 0 advertises the port it got, under the
    /// same name.
    pub fn set_bound_port(&mut self, index: usize, port: u16) {
        let Some(l) = self.listeners.get_mut(index) else { return };
        let was_zero = l.endpoint.port == 0;
        l.endpoint.port = port;
        if was_zero {
            let name = l.name.clone();
            for a in self.advertised.iter_mut().filter(|a| a.name == name && a.endpoint.port == 0) {
                a.endpoint.port = port;
            }
        }
    }
}

/// `security.inter.broker.protocol` names a protocol whose listener has the
/// protocol's name; `inter.broker.listener.name` names a listener. Kafka
/// refuses both at once.
fn inter_broker_listener_name(p: &Properties) -> Result<String, Error> {
    let by_name = p.get("inter.broker.listener.name").map(str::trim).filter(|v| !v.is_empty());
    let by_protocol =
        p.get("security.inter.broker.protocol").map(str::trim).filter(|v| !v.is_empty());
    match (by_name, by_protocol) {
        (Some(n), Some(_)) => Err(invalid(
            "inter.broker.listener.name",
            n,
            "Only one of inter.broker.listener.name and security.inter.broker.protocol should be set.",
        )),
        (Some(n), None) => Ok(n.to_ascii_uppercase()),
        (None, Some(proto)) => SecurityProtocol::from_name(proto)
            .map(|p| p.name().to_string())
            .ok_or_else(|| {
                invalid("security.inter.broker.protocol", proto, "unknown security protocol")
            }),
        (None, None) => Ok("PLAINTEXT".into()),
    }
}

fn names(listeners: &[Listener]) -> String {
    listeners.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(",")
}

fn parse_protocol_map(value: &str) -> Result<BTreeMap<String, SecurityProtocol>, Error> {
    let key = "listener.security.protocol.map";
    let mut out = BTreeMap::new();
    for entry in crate::config::list(value) {
        let (name, proto) = entry
            .split_once(':')
            .ok_or_else(|| invalid(key, value, format!("{entry:?} is not NAME:PROTOCOL")))?;
        let protocol = SecurityProtocol::from_name(proto.trim()).ok_or_else(|| {
            invalid(key, value, format!("unknown security protocol {}", proto.trim()))
        })?;
        if out.insert(name.trim().to_ascii_uppercase(), protocol).is_some() {
            return Err(invalid(key, value, format!("listener {} is listed twice", name.trim())));
        }
    }
    Ok(out)
}

/// `NAME://host:port,...`; host may be empty (every interface) or a
/// bracketed IPv6 address.
fn parse_listeners(
    key: &str,
    value: &str,
    protocols: &BTreeMap<String, SecurityProtocol>,
) -> Result<Vec<Listener>, Error> {
    let mut out = Vec::new();
    for entry in crate::config::list(value) {
        let (name, rest) = entry.split_once("://").ok_or_else(|| {
            invalid(key, value, format!("Unable to parse {entry} to a broker endpoint"))
        })?;
        let name = name.to_ascii_uppercase();
        let security_protocol = *protocols.get(&name).ok_or_else(|| {
            invalid(key, value, format!("No security protocol defined for listener {name}"))
        })?;
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| {
            invalid(key, value, format!("Unable to parse {entry} to a broker endpoint"))
        })?;
        let port: u16 =
            port.parse().map_err(|_| invalid(key, value, format!("invalid port {port:?}")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        out.push(Listener { name, security_protocol, endpoint: Endpoint { host, port } });
    }
    if out.is_empty() {
        return Err(invalid(key, value, "no listener given"));
    }
    Ok(out)
}

/// Listener names are unique; bound ports too (port 0 picks a free one
/// each time, so it may repeat).
fn check_unique(key: &str, value: &str, listeners: &[Listener], ports: bool) -> Result<(), Error> {
    for (i, l) in listeners.iter().enumerate() {
        for other in &listeners[..i] {
            if other.name == l.name {
                return Err(invalid(key, value, "Each listener must have a different name"));
            }
            if ports && l.endpoint.port != 0 && other.endpoint.port == l.endpoint.port {
                return Err(invalid(key, value, "Each listener must have a different port"));
            }
        }
    }
    Ok(())
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> Error {
    Error::InvalidValue { key: key.into(), value: value.into(), reason: reason.into() }
}

pub(crate) fn machine_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Result<ListenerConfig, Error> {
        ListenerConfig::from_properties(&Properties::parse(text))
    }

    #[test]
    fn named_listeners_map_to_protocols_and_advertise_per_name() {
        let c = cfg("listeners=CLIENT://127.0.0.1:9093,REPLICATION://127.0.0.1:9094\n\
             listener.security.protocol.map=CLIENT:PLAINTEXT,REPLICATION:PLAINTEXT\n\
             advertised.listeners=CLIENT://kafka.example:19093,REPLICATION://127.0.0.1:9094\n\
             inter.broker.listener.name=REPLICATION")
        .unwrap();
        assert_eq!(c.listeners.len(), 2);
        assert_eq!(c.listeners[0].security_protocol, SecurityProtocol::Plaintext);
        assert_eq!(c.advertised[0].to_string(), "CLIENT://kafka.example:19093");
        assert_eq!(c.inter_broker().endpoint.port, 9094);
    }

    #[test]
    fn defaults_follow_kafka() {
        let c = cfg("listeners=PLAINTEXT://127.0.0.1:1").unwrap();
        assert_eq!(c.advertised, c.listeners, "advertised defaults to listeners");
        assert_eq!(c.inter_broker_listener_name, "PLAINTEXT", "PLAINTEXT between brokers");
        let c = cfg("listeners=plaintext://127.0.0.1:1").unwrap();
        assert_eq!(c.listeners[0].name, "PLAINTEXT", "names are upper-cased");
        let c = cfg("").unwrap();
        assert_eq!(c.listeners[0].to_string(), "PLAINTEXT://127.0.0.1:9092");
    }

    #[test]
    fn invalid_listener_settings_are_refused_with_kafkas_reasons() {
        let cases: &[(&str, &str)] = &[
            ("listeners=FOO://:1", "No security protocol defined for listener FOO"),
            ("listeners=PLAINTEXT://:1,PLAINTEXT://:2", "different name"),
            ("listeners=PLAINTEXT://:1,SSL://:1", "different port"),
            (
                "listeners=PLAINTEXT://:1\nadvertised.listeners=SSL://h:2",
                "subset of the ones defined in listeners",
            ),
            ("listeners=PLAINTEXT://:1\nadvertised.listeners=PLAINTEXT://0.0.0.0:1", "0.0.0.0"),
            (
                "listeners=PLAINTEXT://:1\ninter.broker.listener.name=INTERNAL",
                "advertised.listeners",
            ),
            (
                "inter.broker.listener.name=PLAINTEXT\nsecurity.inter.broker.protocol=PLAINTEXT",
                "Only one of",
            ),
            ("listener.security.protocol.map=A:TLS", "unknown security protocol"),
            ("listeners=PLAINTEXT//:1", "Unable to parse"),
        ];
        for (text, want) in cases {
            let err = cfg(text).expect_err(text).to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn a_port_zero_listener_advertises_the_port_it_got() {
        let mut c = cfg("listeners=A://127.0.0.1:0,B://127.0.0.1:0\n\
             listener.security.protocol.map=A:PLAINTEXT,B:PLAINTEXT\ninter.broker.listener.name=A")
        .unwrap();
        c.set_bound_port(1, 4242);
        assert_eq!((c.listeners[1].endpoint.port, c.advertised[1].endpoint.port), (4242, 4242));
        assert_eq!(c.advertised[0].endpoint.port, 0, "only the listener that was bound");
    }
}
