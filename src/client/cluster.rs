//! Bootstrap and cluster metadata: which brokers exist, which broker leads
//! each partition, and one shared connection per broker.
//!
//! The admin client, producer and consumer all hold an `Arc<Cluster>` and
//! ask it for connections; they refresh metadata here when a leader moves.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::connection::Connection;
use super::error::{Error, Result};
use crate::sync::{MutexExt, RwLockExt};

/// How to reach a cluster.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `host:port` pairs from `bootstrap.servers`.
    pub bootstrap_servers: Vec<String>,
    pub client_id: String,
    /// Bounds every request, and each connection attempt.
    pub request_timeout: Duration,
    /// `security.protocol` and SASL credentials.
    pub security: crate::security::ClientSecurity,
}

impl ClientConfig {
    /// Splits Kafka's comma-separated `bootstrap.servers`.
    pub fn new(bootstrap_servers: &str, client_id: &str) -> Result<Self> {
        let servers: Vec<String> =
            crate::config::list(bootstrap_servers).map(str::to_string).collect();
        if servers.is_empty() {
            return Err(Error::InvalidArgument("no bootstrap servers given".into()));
        }
        for s in &servers {
            match s.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
                _ => {
                    return Err(Error::InvalidArgument(format!(
                        "Invalid url in bootstrap.servers: {s}"
                    )))
                }
            }
        }
        Ok(Self {
            bootstrap_servers: servers,
            client_id: client_id.to_string(),
            request_timeout: Duration::from_secs(30),
            security: Default::default(),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerMetadata {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

#[derive(Clone, Debug)]
pub struct PartitionMetadata {
    pub partition: i32,
    pub error_code: i16,
    /// -1 when there is no leader.
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline_replicas: Vec<i32>,
}

#[derive(Clone, Debug)]
pub struct TopicMetadata {
    pub name: String,
    pub error_code: i16,
    /// 16 zero bytes when the broker has no topic ids.
    pub topic_id: [u8; 16],
    pub is_internal: bool,
    /// Sorted by partition index.
    pub partitions: Vec<PartitionMetadata>,
}

#[derive(Clone, Debug, Default)]
pub struct Metadata {
    pub cluster_id: Option<String>,
    /// -1 when unknown.
    pub controller_id: i32,
    pub brokers: BTreeMap<i32, BrokerMetadata>,
    pub topics: BTreeMap<String, TopicMetadata>,
}

/// Connections to a cluster, opened on demand and shared.
pub struct Cluster {
    config: ClientConfig,
    bootstrap: Arc<Connection>,
    brokers: Mutex<HashMap<i32, Arc<tokio::sync::OnceCell<Arc<Connection>>>>>,
    metadata: RwLock<Metadata>,
}

impl Cluster {
    /// Connects to the first bootstrap server that answers. Each attempt is
    /// bounded by the request timeout, so an unreachable cluster is reported,
    /// not waited on.
    pub async fn connect(config: ClientConfig) -> Result<Arc<Self>> {
        let mut last = None;
        for addr in &config.bootstrap_servers {
            let conn = Connection::connect_with(
                addr,
                &config.client_id,
                config.request_timeout,
                &config.security,
            );
            match conn.await {
                Ok(conn) => {
                    return Ok(Arc::new(Cluster {
                        config,
                        bootstrap: conn,
                        brokers: Default::default(),
                        metadata: Default::default(),
                    }))
                }
                Err(e) => last = Some(e),
            }
        }
        match (last, config.bootstrap_servers.len()) {
            (Some(e), 1) => Err(e),
            (last, _) => Err(Error::NoBrokers {
                servers: config.bootstrap_servers.clone(),
                last: last.map(Box::new),
            }),
        }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The connection used for cluster-wide requests (metadata, admin).
    pub fn any_broker(&self) -> Arc<Connection> {
        self.bootstrap.clone()
    }

    /// The latest metadata fetched.
    pub fn cached(&self) -> Metadata {
        self.metadata.read_or_recover().clone()
    }

    /// A connection to broker `id`, opened on first use from the address
    /// the metadata advertises.
    pub async fn broker(&self, id: i32) -> Result<Arc<Connection>> {
        // A slot per broker, taken under a lock never held across an await:
        // a broker that does not answer stalls only the requests for it,
        // and concurrent first uses of one broker still open one connection.
        let slot = self.brokers.lock_or_recover().entry(id).or_default().clone();
        let conn = slot
            .get_or_try_init(|| async {
                let addr = {
                    let md = self.metadata.read_or_recover();
                    let b = md.brokers.get(&id).ok_or(Error::UnknownBroker(id))?;
                    format!("{}:{}", b.host, b.port)
                };
                if addr == self.bootstrap.addr() {
                    return Ok(self.bootstrap.clone());
                }
                let c = &self.config;
                Connection::connect_with(&addr, &c.client_id, c.request_timeout, &c.security).await
            })
            .await?;
        Ok(conn.clone())
    }

    /// Forgets a broker's connection after an I/O error, so the next
    /// request reconnects.
    pub async fn drop_broker(&self, id: i32) {
        self.brokers.lock_or_recover().remove(&id);
    }

    /// Fetches metadata for `topics` (all topics when `None`) and caches it.
    pub async fn refresh(&self, topics: Option<&[String]>, auto_create: bool) -> Result<Metadata> {
        let conn = self.any_broker();
        let version = conn.version::<MetadataRequest>()?;
        let request = MetadataRequest::default()
            .with_topics(topics.map(|names| {
                names
                    .iter()
                    .map(|n| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(n.clone()))))
                    })
                    .collect()
            }))
            .with_allow_auto_topic_creation(auto_create);
        // v0 has no "all topics" null: an empty list means all there.
        let request = if version == 0 && topics.is_none() {
            request.with_topics(Some(Vec::new()))
        } else {
            request
        };
        let response = conn.send_pipelined(&request, version).await?.wait().await?;
        let mut md = Metadata {
            cluster_id: response.cluster_id.map(|s| s.to_string()),
            controller_id: response.controller_id.0,
            ..Default::default()
        };
        for b in response.brokers {
            md.brokers.insert(
                b.node_id.0,
                BrokerMetadata {
                    id: b.node_id.0,
                    host: b.host.to_string(),
                    port: b.port,
                    rack: b.rack.map(|r| r.to_string()),
                },
            );
        }
        for t in response.topics {
            let Some(name) = t.name else { continue };
            let mut partitions: Vec<PartitionMetadata> = t
                .partitions
                .into_iter()
                .map(|p| PartitionMetadata {
                    partition: p.partition_index,
                    error_code: p.error_code,
                    leader: p.leader_id.0,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replica_nodes.into_iter().map(|b| b.0).collect(),
                    isr: p.isr_nodes.into_iter().map(|b| b.0).collect(),
                    offline_replicas: p.offline_replicas.into_iter().map(|b| b.0).collect(),
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            md.topics.insert(
                name.0.to_string(),
                TopicMetadata {
                    name: name.0.to_string(),
                    error_code: t.error_code,
                    topic_id: *t.topic_id.as_bytes(),
                    is_internal: t.is_internal,
                    partitions,
                },
            );
        }
        {
            let mut cached = self.metadata.write_or_recover();
            cached.cluster_id = md.cluster_id.clone();
            cached.controller_id = md.controller_id;
            cached.brokers = md.brokers.clone();
            if topics.is_none() {
                cached.topics = md.topics.clone();
            } else {
                for (k, v) in &md.topics {
                    cached.topics.insert(k.clone(), v.clone());
                }
            }
        }
        Ok(md)
    }

    /// Metadata for one topic that must exist, waiting up to `wait` for
    /// every partition to have a leader, as after a create.
    pub async fn topic(
        &self,
        topic: &str,
        auto_create: bool,
        wait: Duration,
    ) -> Result<TopicMetadata> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let md = self.refresh(Some(&[topic.to_string()]), auto_create).await?;
            let t = md.topics.get(topic).cloned();
            let retry = match &t {
                Some(t) if t.error_code == 0 && !t.partitions.is_empty() => {
                    if t.partitions.iter().all(|p| p.leader >= 0) {
                        return Ok(t.clone());
                    }
                    true
                }
                Some(t) => match Error::from_code(t.error_code, None) {
                    Some(e) if e.is_retriable() && auto_create => true,
                    Some(e)
                        if e.code()
                            == Some(
                                kafka_protocol::error::ResponseError::UnknownTopicOrPartition,
                            ) =>
                    {
                        return Err(Error::UnknownTopic(topic.to_string()))
                    }
                    Some(e) if !e.is_retriable() => return Err(e),
                    _ => true,
                },
                None => return Err(Error::UnknownTopic(topic.to_string())),
            };
            if retry && tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: format!(
                        "topic {topic} to be present in metadata with a leader for each partition"
                    ),
                    after: wait,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn bootstrap_servers_parse() {
        let cases = [
            ("localhost:9092", Some(vec!["localhost:9092"]), "one server"),
            ("a:1, b:2", Some(vec!["a:1", "b:2"]), "Kafka trims around commas"),
            ("a:1,", Some(vec!["a:1"]), "a trailing comma is ignored"),
            ("", None, "nothing to connect to"),
            ("localhost", None, "a port is required"),
            ("localhost:x", None, "the port must be a number"),
        ];
        for (input, want, why) in cases {
            let got = ClientConfig::new(input, "t").ok().map(|c| c.bootstrap_servers);
            let want = want.map(|v| v.into_iter().map(String::from).collect::<Vec<_>>());
            assert_eq!(got, want, "{why}");
        }
    }

    /// Every bootstrap server refused: the error lists them all and keeps
    /// the last cause as a value, not as text.
    #[tokio::test]
    async fn no_reachable_bootstrap_server_keeps_the_last_cause() {
        let mut servers = Vec::new();
        for _ in 0..2 {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            servers.push(l.local_addr().unwrap().to_string());
        }
        let config = ClientConfig::new(&servers.join(","), "t").unwrap();
        let Err(e) = Cluster::connect(config).await else { panic!("connected to a closed port") };
        match &e {
            Error::NoBrokers { servers: listed, last: Some(last) } => {
                assert_eq!(listed, &servers);
                assert!(matches!(**last, Error::Connect { .. }), "{last:?}");
            }
            other => panic!("expected NoBrokers, got {other:?}"),
        }
        assert!(e
            .to_string()
            .starts_with(&format!("no broker reachable among {}", servers.join(","))));
    }

    /// Answers every ApiVersions request on `listener` with an empty list:
    /// enough for a client connection to open.
    pub(crate) async fn answer_api_versions(listener: tokio::net::TcpListener) {
        use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut size = [0u8; 4];
                while s.read_exact(&mut size).await.is_ok() {
                    let mut frame = vec![0u8; i32::from_be_bytes(size).clamp(0, 1 << 16) as usize];
                    if s.read_exact(&mut frame).await.is_err() || frame.len() < 8 {
                        return;
                    }
                    let version = i16::from_be_bytes([frame[2], frame[3]]);
                    let cid = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
                    let body = ApiVersionsResponse::default();
                    let reply = crate::protocol::header::encode_response(
                        ApiKey::ApiVersions,
                        version,
                        cid,
                        &body,
                    )
                    .unwrap();
                    if s.write_all(&reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    }

    async fn broker_at(listener: tokio::net::TcpListener) -> (String, i32) {
        let addr = listener.local_addr().unwrap();
        tokio::spawn(answer_api_versions(listener));
        ("127.0.0.1".to_string(), addr.port() as i32)
    }

    /// A broker that accepts and never answers must not keep the client
    /// from opening a connection to another broker while it waits.
    #[tokio::test]
    async fn a_silent_broker_does_not_stall_connections_to_others() {
        let bind = || tokio::net::TcpListener::bind("127.0.0.1:0");
        let (host, bootstrap_port) = broker_at(bind().await.unwrap()).await;
        let (_, live_port) = broker_at(bind().await.unwrap()).await;
        let silent = bind().await.unwrap();
        let silent_port = silent.local_addr().unwrap().port() as i32;
        let mut config = ClientConfig::new(&format!("{host}:{bootstrap_port}"), "t").unwrap();
        // Far longer than the wait below: only a connect that does not wait
        // for the silent broker can finish in time.
        config.request_timeout = Duration::from_secs(600);
        let cluster = Cluster::connect(config).await.unwrap();
        {
            let mut md = cluster.metadata.write().unwrap();
            for (id, port) in [(1, silent_port), (2, live_port)] {
                let b = BrokerMetadata { id, host: host.clone(), port, rack: None };
                md.brokers.insert(id, b);
            }
        }
        let stalled = {
            let cluster = cluster.clone();
            tokio::spawn(async move { cluster.broker(1).await.map(drop) })
        };
        // Lets the silent broker's connect take its slot before broker 2 is asked.
        let (accepted, _) = silent.accept().await.unwrap();
        let live = tokio::time::timeout(Duration::from_secs(60), cluster.broker(2)).await;
        assert!(live.expect("broker 2 waited for broker 1").is_ok());
        assert!(!stalled.is_finished(), "broker 1 never answered");
        stalled.abort();
        drop(accepted);
    }
}
