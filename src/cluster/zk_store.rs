//! A [`MetadataStore`] in ZooKeeper with Kafka's znode layout
//! ([`super::znodes`]), over the `zookeeper-client` crate, so brokers share
//! metadata through our embedded server or a real Apache ZooKeeper.
//!
//! Reads come from an image rebuilt whenever a persistent recursive watch
//! on `/brokers`, `/config/topics`, `/admin/delete_topics` or `/controller`
//! fires. The broker that wins `/controller` also does the controller's
//! chores: partition state for topics that arrive without it (written
//! directly, as Kafka 0.8 tools did, or by `topics --zookeeper`), topic ids,
//! and deletions requested under `/admin/delete_topics`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use zookeeper_client as zkc;

use super::znodes as z;
use super::{
    BrokerRegistration, ClusterImage, Error, MetadataStore, PartitionMetadata, PartitionState,
    ProducerIdBlock, StoreFuture, TopicMetadata,
};

#[derive(Clone)]
pub struct ZkStore {
    shared: Arc<Shared>,
    tx: Arc<watch::Sender<Arc<ClusterImage>>>,
    refresher: Arc<tokio::task::JoinHandle<()>>,
}

/// What outlives one ZooKeeper session: when a session expires, a new one
/// replaces the client and this broker registers again, as Kafka does.
struct Shared {
    connect: String,
    timeout: Duration,
    client: std::sync::RwLock<zkc::Client>,
    registration: Mutex<Option<BrokerRegistration>>,
}

impl Shared {
    fn client(&self) -> zkc::Client {
        self.client.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn my_id(&self) -> Option<i32> {
        self.registration.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|b| b.id)
    }
}

impl Drop for ZkStore {
    fn drop(&mut self) {
        if Arc::strong_count(&self.refresher) == 1 {
            self.refresher.abort();
        }
    }
}

fn unavailable(e: zkc::Error) -> Error {
    Error::Unavailable(format!("ZooKeeper: {e}"))
}

fn open() -> zkc::CreateOptions<'static> {
    zkc::CreateMode::Persistent.with_acls(zkc::Acls::anyone_all())
}

fn ephemeral() -> zkc::CreateOptions<'static> {
    zkc::CreateMode::Ephemeral.with_acls(zkc::Acls::anyone_all())
}

/// Splits `host:port[,host:port]/chroot` (Kafka's zookeeper.connect).
pub fn split_chroot(connect: &str) -> (&str, Option<&str>) {
    match connect.find('/') {
        Some(i) if i + 1 < connect.len() => (&connect[..i], Some(&connect[i..])),
        Some(i) => (&connect[..i], None),
        None => (connect, None),
    }
}

/// Connects to `connect` (with an optional chroot, created if missing, as
/// Kafka does) with the given session timeout.
pub async fn connect(connect: &str, session_timeout: Duration) -> Result<zkc::Client, Error> {
    let (hosts, chroot) = split_chroot(connect);
    let client = zkc::Client::connector()
        .with_session_timeout(session_timeout)
        .connect(hosts)
        .await
        .map_err(unavailable)?;
    let Some(root) = chroot else { return Ok(client) };
    match client.mkdir(root, &open()).await {
        Ok(()) | Err(zkc::Error::NodeExists) => {}
        Err(e) => return Err(unavailable(e)),
    }
    client.chroot(root.to_string()).map_err(|_| Error::Unavailable(format!("bad chroot {root}")))
}

impl ZkStore {
    /// Connects, creates Kafka's persistent paths and the cluster id, and
    /// starts following changes.
    pub async fn open(connect_string: &str, session_timeout: Duration) -> Result<ZkStore, Error> {
        let client = connect(connect_string, session_timeout).await?;
        for p in z::PERSISTENT_PATHS {
            match client.mkdir(p, &open()).await {
                Ok(()) | Err(zkc::Error::NodeExists) => {}
                Err(e) => return Err(unavailable(e)),
            }
        }
        let new_id = super::new_cluster_id();
        match client.mkdir("/cluster", &open()).await {
            Ok(()) | Err(zkc::Error::NodeExists) => {}
            Err(e) => return Err(unavailable(e)),
        }
        create_if_absent(&client, z::CLUSTER_ID, &z::cluster_id_json(&new_id)).await?;
        let image = read_image(&client).await?;
        let (tx, _) = watch::channel(Arc::new(image));
        let tx = Arc::new(tx);
        let shared = Arc::new(Shared {
            connect: connect_string.to_string(),
            timeout: session_timeout,
            client: std::sync::RwLock::new(client),
            registration: Mutex::new(None),
        });
        let refresher = tokio::spawn(follow(shared.clone(), tx.clone()));
        Ok(ZkStore { shared, tx, refresher: Arc::new(refresher) })
    }

    fn client(&self) -> zkc::Client {
        self.shared.client()
    }

    /// Writes a partition's state znode, conditionally on its zkVersion when
    /// `expected_zk_version` is given; returns the new zkVersion.
    async fn write_partition_state(
        &self,
        topic: &str,
        partition: i32,
        state: &PartitionState,
        expected_zk_version: Option<i32>,
    ) -> Result<i32, Error> {
        let c = self.client();
        let epoch = controller_epoch(&c).await;
        let path = z::partition_state(topic, partition);
        match c.set_data(&path, &z::partition_state_json(state, epoch), expected_zk_version).await {
            Ok(stat) => Ok(stat.version),
            Err(zkc::Error::NoNode) => Err(Error::UnknownTopic(format!("{topic}-{partition}"))),
            Err(zkc::Error::BadVersion) => Err(Error::PartitionStateChanged {
                topic: topic.to_string(),
                partition,
                expected_zk_version: expected_zk_version.unwrap_or(-1),
            }),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn publish(&self) -> Result<(), Error> {
        let image = read_image(&self.client()).await?;
        self.tx.send_replace(Arc::new(image));
        Ok(())
    }
}

/// Reads the whole image: cluster id, live brokers, controller, topics.
pub async fn read_image(c: &zkc::Client) -> Result<ClusterImage, Error> {
    let cluster_id = match c.get_data(z::CLUSTER_ID).await {
        Ok((d, _)) => z::parse_cluster_id(&d).unwrap_or_default(),
        Err(zkc::Error::NoNode) => String::new(),
        Err(e) => return Err(unavailable(e)),
    };
    let controller_id = match c.get_data(z::CONTROLLER).await {
        Ok((d, _)) => z::parse_controller(&d).unwrap_or(-1),
        Err(zkc::Error::NoNode) => -1,
        Err(e) => return Err(unavailable(e)),
    };
    let mut brokers = BTreeMap::new();
    for id in list(c, z::BROKER_IDS).await? {
        let Ok(id) = id.parse::<i32>() else { continue };
        if let Some(d) = get(c, &z::broker(id)).await? {
            if let Some(b) = z::parse_broker(id, &d) {
                brokers.insert(id, b);
            }
        }
    }
    let mut topics = BTreeMap::new();
    for name in list(c, z::TOPICS).await? {
        if let Some(t) = read_topic(c, &name).await? {
            topics.insert(name, t);
        }
    }
    Ok(ClusterImage { cluster_id, controller_id, brokers, topics })
}

/// A topic whose assignment parses; partitions without a state znode yet
/// show no leader (-1) until the controller writes one.
async fn read_topic(c: &zkc::Client, name: &str) -> Result<Option<TopicMetadata>, Error> {
    let Some(d) = get(c, &z::topic(name)).await? else { return Ok(None) };
    let Some((assignment, id)) = z::parse_topic(&d) else { return Ok(None) };
    let mut partitions = BTreeMap::new();
    for (p, replicas) in assignment {
        let (state, state_zk_version) = match c.get_data(&z::partition_state(name, p)).await {
            Ok((d, stat)) => (z::parse_partition_state(&d), stat.version),
            Err(zkc::Error::NoNode) => (None, -1),
            Err(e) => return Err(unavailable(e)),
        };
        let state =
            state.unwrap_or(PartitionState { leader: -1, leader_epoch: 0, isr: Vec::new() });
        partitions.insert(p, PartitionMetadata { replicas, state, state_zk_version });
    }
    let configs =
        get(c, &z::topic_config(name)).await?.map(|d| z::parse_config(&d)).unwrap_or_default();
    Ok(Some(TopicMetadata {
        name: name.to_string(),
        topic_id: id.unwrap_or_default(),
        partitions,
        configs,
    }))
}

/// Creates a persistent znode unless it already exists.
async fn create_if_absent(c: &zkc::Client, p: &str, data: &[u8]) -> Result<(), Error> {
    match c.create(p, data, &open()).await {
        Ok(_) | Err(zkc::Error::NodeExists) => Ok(()),
        Err(e) => Err(unavailable(e)),
    }
}

async fn get(c: &zkc::Client, p: &str) -> Result<Option<Vec<u8>>, Error> {
    match c.get_data(p).await {
        Ok((d, _)) => Ok(Some(d)),
        Err(zkc::Error::NoNode) => Ok(None),
        Err(e) => Err(unavailable(e)),
    }
}

async fn list(c: &zkc::Client, p: &str) -> Result<Vec<String>, Error> {
    match c.list_children(p).await {
        Ok(mut v) => {
            v.sort();
            Ok(v)
        }
        Err(zkc::Error::NoNode) => Ok(Vec::new()),
        Err(e) => Err(unavailable(e)),
    }
}

/// Rebuilds the image on every change; the controller also acts on it.
/// When the session expires, starts a new one and registers again.
async fn follow(shared: Arc<Shared>, tx: Arc<watch::Sender<Arc<ClusterImage>>>) {
    loop {
        let c = shared.client();
        follow_session(&c, &shared, &tx).await;
        tracing::warn!("ZooKeeper session expired; starting a new one");
        loop {
            match reestablish(&shared).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!("cannot re-establish the ZooKeeper session: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

async fn reestablish(shared: &Shared) -> Result<(), Error> {
    let c = connect(&shared.connect, shared.timeout).await?;
    let registration = shared.registration.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(b) = registration {
        register(&c, &b).await?;
    }
    *shared.client.write().unwrap_or_else(|e| e.into_inner()) = c;
    Ok(())
}

/// Follows changes through one session until it expires or closes.
async fn follow_session(c: &zkc::Client, shared: &Shared, tx: &watch::Sender<Arc<ClusterImage>>) {
    // Each watcher forwards into one channel, so one wait covers them all.
    let (ev_tx, mut events) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut forwarders = Vec::new();
    let watches = [
        ("/brokers", zkc::AddWatchMode::PersistentRecursive),
        ("/config/topics", zkc::AddWatchMode::PersistentRecursive),
        ("/admin/delete_topics", zkc::AddWatchMode::PersistentRecursive),
        (z::CONTROLLER, zkc::AddWatchMode::Persistent),
    ];
    for (p, mode) in watches {
        if let Ok(mut w) = c.watch(p, mode).await {
            let ev_tx = ev_tx.clone();
            forwarders.push(tokio::spawn(async move {
                loop {
                    let _ = w.changed().await;
                    if ev_tx.send(()).is_err() {
                        return;
                    }
                }
            }));
        }
    }
    drop(ev_tx);
    let _stop_forwarders = AbortOnDrop(forwarders);
    loop {
        if matches!(c.state(), zkc::SessionState::Expired | zkc::SessionState::Closed) {
            return;
        }
        if let Some(id) = shared.my_id() {
            if let Err(e) = controller_chores(c, id).await {
                tracing::warn!("controller work failed: {e}");
            }
        }
        match read_image(c).await {
            Ok(image) => {
                tx.send_if_modified(|cur| {
                    let changed = **cur != image;
                    if changed {
                        *cur = Arc::new(image);
                    }
                    changed
                });
            }
            Err(e) => tracing::warn!("cannot read cluster metadata: {e}"),
        }
        // A periodic re-read covers events lost across a reconnect and
        // notices an expired session.
        let _ = tokio::time::timeout(Duration::from_secs(1), events.recv()).await;
        while events.try_recv().is_ok() {}
    }
}

struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Wins `/controller` if it is free, bumping `/controller_epoch` in the
/// same multi at the version read, as Kafka's controller election does.
async fn elect(c: &zkc::Client, id: i32) -> Result<bool, Error> {
    create_if_absent(c, z::CONTROLLER_EPOCH, b"0").await?;
    let (d, stat) = c.get_data(z::CONTROLLER_EPOCH).await.map_err(unavailable)?;
    let epoch = String::from_utf8_lossy(&d).trim().parse::<i32>().unwrap_or(0) + 1;
    let mut m = c.new_multi_writer();
    m.add_create(z::CONTROLLER, &z::controller_json(id, crate::time::now_ms()), &ephemeral())
        .map_err(unavailable)?;
    m.add_set_data(z::CONTROLLER_EPOCH, epoch.to_string().as_bytes(), Some(stat.version))
        .map_err(unavailable)?;
    match m.commit().await {
        Ok(_) => {
            tracing::info!("broker {id} is the controller (epoch {epoch})");
            Ok(true)
        }
        Err(zkc::MultiWriteError::OperationFailed {
            source: zkc::Error::NodeExists | zkc::Error::BadVersion,
            ..
        }) => Ok(false),
        Err(e) => Err(Error::Unavailable(e.to_string())),
    }
}

async fn controller_epoch(c: &zkc::Client) -> i32 {
    match c.get_data(z::CONTROLLER_EPOCH).await {
        Ok((d, _)) => String::from_utf8_lossy(&d).trim().parse().unwrap_or(0),
        Err(_) => 0,
    }
}

/// What the controller does on each change: take over a free /controller,
/// give new topics an id and partition state, carry out deletions.
async fn controller_chores(c: &zkc::Client, id: i32) -> Result<(), Error> {
    let current = get(c, z::CONTROLLER).await?.and_then(|d| z::parse_controller(&d));
    if current.is_none() && !elect(c, id).await? {
        return Ok(());
    }
    if current.is_some_and(|cur| cur != id) {
        return Ok(());
    }
    let epoch = controller_epoch(c).await;
    for name in list(c, "/admin/delete_topics").await? {
        delete_topic_znodes(c, &name).await?;
        match c.delete(&z::delete_topic(&name), None).await {
            Ok(()) | Err(zkc::Error::NoNode) => {}
            Err(e) => return Err(unavailable(e)),
        }
    }
    let live: Vec<i32> =
        list(c, z::BROKER_IDS).await?.iter().filter_map(|s| s.parse().ok()).collect();
    for name in list(c, z::TOPICS).await? {
        let Ok((d, stat)) = c.get_data(&z::topic(&name)).await else { continue };
        let Some((assignment, topic_id)) = z::parse_topic(&d) else { continue };
        if topic_id.is_none() {
            let bytes = z::topic_json(&assignment, uuid::Uuid::new_v4());
            match c.set_data(&z::topic(&name), &bytes, Some(stat.version)).await {
                Ok(_) | Err(zkc::Error::BadVersion) => {}
                Err(e) => return Err(unavailable(e)),
            }
        }
        for (p, replicas) in &assignment {
            if c.check_stat(&z::partition_state(&name, *p)).await.map_err(unavailable)?.is_some() {
                continue;
            }
            // The first live replica leads; followers are not in the ISR
            // until replication catches them up.
            let leader = replicas.iter().copied().find(|r| live.contains(r)).unwrap_or(-1);
            let isr = if leader >= 0 { vec![leader] } else { Vec::new() };
            let state = PartitionState { leader, leader_epoch: 0, isr };
            for path in [z::partitions(&name), z::partition(&name, *p)] {
                create_if_absent(c, &path, b"").await?;
            }
            match c
                .create(
                    &z::partition_state(&name, *p),
                    &z::partition_state_json(&state, epoch),
                    &open(),
                )
                .await
            {
                Ok(_) | Err(zkc::Error::NodeExists) => {}
                Err(e) => return Err(unavailable(e)),
            }
        }
    }
    Ok(())
}

/// Removes a topic's znodes, children first, and its config.
async fn delete_topic_znodes(c: &zkc::Client, name: &str) -> Result<(), Error> {
    let root = z::topic(name);
    let mut order = vec![root.clone()];
    let mut i = 0;
    while i < order.len() {
        let cur = order[i].clone();
        for kid in list(c, &cur).await? {
            order.push(format!("{cur}/{kid}"));
        }
        i += 1;
    }
    for p in order.iter().rev().chain(std::iter::once(&z::topic_config(name))) {
        match c.delete(p, None).await {
            Ok(()) | Err(zkc::Error::NoNode) => {}
            Err(e) => return Err(unavailable(e)),
        }
    }
    Ok(())
}

/// Writes a new topic as `kafka-topics --zookeeper` does: config, then the
/// assignment; the controller adds partition state. `TopicExists` if taken.
pub async fn write_topic(
    c: &zkc::Client,
    name: &str,
    assignment: &BTreeMap<i32, Vec<i32>>,
    configs: &BTreeMap<String, String>,
) -> Result<(), Error> {
    if c.check_stat(&z::topic(name)).await.map_err(unavailable)?.is_some() {
        return Err(Error::TopicExists(name.to_string()));
    }
    match c.create(&z::topic_config(name), &z::config_json(configs), &open()).await {
        Ok(_) => {}
        Err(zkc::Error::NodeExists) => {
            c.set_data(&z::topic_config(name), &z::config_json(configs), None)
                .await
                .map_err(unavailable)?;
        }
        Err(e) => return Err(unavailable(e)),
    }
    match c.create(&z::topic(name), &z::topic_json(assignment, uuid::Uuid::new_v4()), &open()).await
    {
        Ok(_) => Ok(()),
        Err(zkc::Error::NodeExists) => Err(Error::TopicExists(name.to_string())),
        Err(e) => Err(unavailable(e)),
    }
}

/// The brokers registered in ZooKeeper at `connect`, as a bootstrap list
/// (`host:port,...`): how the `--zookeeper` tools find a broker to talk to.
/// Fails at once if ZooKeeper cannot be reached.
pub async fn bootstrap_servers(connect_string: &str) -> Result<String, Error> {
    let (hosts, chroot) = split_chroot(connect_string);
    let client = zkc::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .with_connection_timeout(Duration::from_secs(10))
        .with_fail_eagerly()
        .connect(hosts)
        .await
        .map_err(unavailable)?;
    let client = match chroot {
        Some(root) => client
            .chroot(root.to_string())
            .map_err(|_| Error::Unavailable(format!("bad chroot {root}")))?,
        None => client,
    };
    let mut out = Vec::new();
    for id in list(&client, z::BROKER_IDS).await? {
        let Ok(id) = id.parse::<i32>() else { continue };
        if let Some(b) = get(&client, &z::broker(id)).await?.and_then(|d| z::parse_broker(id, &d)) {
            out.push(format!("{}:{}", b.host, b.port));
        }
    }
    Ok(out.join(","))
}

/// Registers a broker (ephemeral `/brokers/ids/<id>`) and runs for
/// controller. A registration left by this broker's previous session goes
/// when that session expires; another live broker's does not.
async fn register(c: &zkc::Client, broker: &BrokerRegistration) -> Result<(), Error> {
    let bytes = z::broker_json(broker, crate::time::now_ms());
    let deadline = tokio::time::Instant::now() + c.session_timeout() * 2;
    loop {
        match c.create(&z::broker(broker.id), &bytes, &ephemeral()).await {
            Ok(_) => break,
            Err(zkc::Error::NodeExists) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(zkc::Error::NodeExists) => {
                return Err(Error::Unavailable(format!(
                    "broker id {} is registered by another broker",
                    broker.id
                )))
            }
            Err(e) => return Err(unavailable(e)),
        }
    }
    elect(c, broker.id).await?;
    Ok(())
}

impl MetadataStore for ZkStore {
    fn image(&self) -> Arc<ClusterImage> {
        self.tx.borrow().clone()
    }

    fn subscribe(&self) -> watch::Receiver<Arc<ClusterImage>> {
        self.tx.subscribe()
    }

    fn generate_broker_id(&self) -> StoreFuture<'_, i32> {
        Box::pin(async move {
            let stat = self.client().set_data(z::SEQID, b"", None).await.map_err(unavailable)?;
            Ok(stat.version + z::RESERVED_BROKER_MAX_ID)
        })
    }

    fn register_broker(&self, broker: BrokerRegistration) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let c = self.client();
            register(&c, &broker).await?;
            *self.shared.registration.lock().unwrap_or_else(|e| e.into_inner()) = Some(broker);
            self.publish().await
        })
    }

    fn create_topic(&self, topic: TopicMetadata) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let c = &self.client();
            let assignment: BTreeMap<i32, Vec<i32>> =
                topic.partitions.iter().map(|(p, m)| (*p, m.replicas.clone())).collect();
            let epoch = controller_epoch(c).await;
            let mut m = c.new_multi_writer();
            let add = |m: &mut zkc::MultiWriter<'_>, p: &str, d: &[u8]| m.add_create(p, d, &open());
            let ok = (|| -> Result<(), zkc::Error> {
                add(&mut m, &z::topic_config(&topic.name), &z::config_json(&topic.configs))?;
                add(&mut m, &z::topic(&topic.name), &z::topic_json(&assignment, topic.topic_id))?;
                add(&mut m, &z::partitions(&topic.name), b"")?;
                for (p, meta) in &topic.partitions {
                    add(&mut m, &z::partition(&topic.name, *p), b"")?;
                    add(
                        &mut m,
                        &z::partition_state(&topic.name, *p),
                        &z::partition_state_json(&meta.state, epoch),
                    )?;
                }
                Ok(())
            })();
            ok.map_err(unavailable)?;
            match m.commit().await {
                Ok(_) => {}
                Err(zkc::MultiWriteError::OperationFailed {
                    source: zkc::Error::NodeExists,
                    ..
                }) => return Err(Error::TopicExists(topic.name)),
                Err(e) => return Err(Error::Unavailable(e.to_string())),
            }
            self.publish().await
        })
    }

    fn delete_topic(&self, name: &str) -> StoreFuture<'_, ()> {
        let name = name.to_string();
        Box::pin(async move {
            if get(&self.client(), &z::topic(&name)).await?.is_none() {
                return Err(Error::UnknownTopic(name));
            }
            create_if_absent(&self.client(), &z::delete_topic(&name), b"").await?;
            delete_topic_znodes(&self.client(), &name).await?;
            match self.client().delete(&z::delete_topic(&name), None).await {
                Ok(()) | Err(zkc::Error::NoNode) => {}
                Err(e) => return Err(unavailable(e)),
            }
            self.publish().await
        })
    }

    fn create_partitions(
        &self,
        name: &str,
        added: BTreeMap<i32, PartitionMetadata>,
    ) -> StoreFuture<'_, ()> {
        let name = name.to_string();
        Box::pin(async move {
            let c = &self.client();
            let (d, stat) = match c.get_data(&z::topic(&name)).await {
                Ok(x) => x,
                Err(zkc::Error::NoNode) => return Err(Error::UnknownTopic(name)),
                Err(e) => return Err(unavailable(e)),
            };
            let (mut assignment, id) =
                z::parse_topic(&d).ok_or_else(|| Error::UnknownTopic(name.clone()))?;
            let epoch = controller_epoch(c).await;
            for (p, meta) in &added {
                if assignment.contains_key(p) {
                    return Err(Error::PartitionExists { topic: name, partition: *p });
                }
                assignment.insert(*p, meta.replicas.clone());
            }
            for (p, meta) in &added {
                for path in [z::partitions(&name), z::partition(&name, *p)] {
                    create_if_absent(c, &path, b"").await?;
                }
                c.create(
                    &z::partition_state(&name, *p),
                    &z::partition_state_json(&meta.state, epoch),
                    &open(),
                )
                .await
                .map_err(unavailable)?;
            }
            c.set_data(
                &z::topic(&name),
                &z::topic_json(&assignment, id.unwrap_or_default()),
                Some(stat.version),
            )
            .await
            .map_err(unavailable)?;
            self.publish().await
        })
    }

    fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
    ) -> StoreFuture<'_, ()> {
        let name = name.to_string();
        Box::pin(async move {
            let c = &self.client();
            if get(c, &z::topic(&name)).await?.is_none() {
                return Err(Error::UnknownTopic(name));
            }
            match c.set_data(&z::topic_config(&name), &z::config_json(&configs), None).await {
                Ok(_) => {}
                Err(zkc::Error::NoNode) => {
                    c.create(&z::topic_config(&name), &z::config_json(&configs), &open())
                        .await
                        .map_err(unavailable)?;
                }
                Err(e) => return Err(unavailable(e)),
            }
            let seq = zkc::CreateMode::PersistentSequential.with_acls(zkc::Acls::anyone_all());
            c.create(z::CONFIG_CHANGE_PREFIX, &z::config_change_json(&name), &seq)
                .await
                .map_err(unavailable)?;
            self.publish().await
        })
    }

    fn set_partition_state(
        &self,
        topic: &str,
        partition: i32,
        state: PartitionState,
    ) -> StoreFuture<'_, ()> {
        let topic = topic.to_string();
        Box::pin(async move {
            self.write_partition_state(&topic, partition, &state, None).await?;
            self.publish().await
        })
    }

    fn update_leader_and_isr(
        &self,
        topic: &str,
        partition: i32,
        state: PartitionState,
        expected_zk_version: i32,
    ) -> StoreFuture<'_, i32> {
        let topic = topic.to_string();
        Box::pin(async move {
            let version = self
                .write_partition_state(&topic, partition, &state, Some(expected_zk_version))
                .await?;
            self.publish().await?;
            Ok(version)
        })
    }

    fn allocate_producer_ids(
        &self,
        broker_id: i32,
        count: i64,
    ) -> StoreFuture<'_, ProducerIdBlock> {
        Box::pin(async move {
            let c = &self.client();
            let count = count.max(1);
            // Compare-and-set on the znode version, retried on a race.
            for _ in 0..100 {
                let (d, stat) = c.get_data(z::PRODUCER_ID_BLOCK).await.map_err(unavailable)?;
                let first = z::parse_producer_id_block_end(&d).map_or(0, |end| end + 1);
                let last = first.saturating_add(count - 1);
                match c
                    .set_data(
                        z::PRODUCER_ID_BLOCK,
                        &z::producer_id_block_json(broker_id, first, last),
                        Some(stat.version),
                    )
                    .await
                {
                    Ok(_) => return Ok(ProducerIdBlock { first, last }),
                    Err(zkc::Error::BadVersion) => continue,
                    Err(e) => return Err(unavailable(e)),
                }
            }
            Err(Error::Unavailable("producer id block kept changing".into()))
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn chroot_is_split_off_the_connect_string() {
        assert_eq!(super::split_chroot("h:2181/kafka"), ("h:2181", Some("/kafka")));
        assert_eq!(super::split_chroot("a:1,b:2/x/y"), ("a:1,b:2", Some("/x/y")));
        assert_eq!(super::split_chroot("h:2181"), ("h:2181", None));
        assert_eq!(super::split_chroot("h:2181/"), ("h:2181", None));
    }
}
