//! A [`MetadataStore`] in ZooKeeper with Kafka's znode layout
//! ([`super::znodes`]), over the `zookeeper-client` crate, so brokers share
//! metadata through our embedded server or a real Apache ZooKeeper.
//!
//! Reads come from an image rebuilt whenever a persistent recursive watch
//! on `/brokers`, `/config/topics`, `/config/brokers`, `/admin` or
//! `/controller` fires, read with ZooKeeper's multiRead so its cost does
//! not grow with round trips per partition. The broker that wins `/controller` also runs the
//! controller ([`super::zk_controller`]) on the same events, before the
//! image is re-read, so failover is not held up by it.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use zookeeper_client as zkc;

use super::client_quotas::{ClientQuotaConfigs, QuotaEntity};
use super::lease::SessionLease;
use super::zk_client_quotas;
use super::zk_controller::{self, Noticed, Request, ZkController};
use super::znodes as z;
use super::{
    AclUpdate, BrokerRegistration, ClusterImage, Error, MetadataStore, PartitionMetadata,
    PartitionState, ProducerIdBlock, StoreFuture, TopicMetadata,
};
use crate::controller::{ControllerConfig, MAX_MULTI_BYTES};
use crate::security::acl::{AclCache, ResourcePattern};
use crate::sync::{MutexExt, RwLockExt};
use crate::types::TopicPartition;

#[derive(Clone)]
pub struct ZkStore {
    shared: Arc<Shared>,
    tx: Arc<watch::Sender<Arc<ClusterImage>>>,
    refresher: Arc<tokio::task::JoinHandle<()>>,
    quotas: Arc<watch::Sender<Arc<ClientQuotaConfigs>>>,
    quota_follower: Arc<tokio::task::JoinHandle<()>>,
    publisher: Arc<Publisher>,
}

/// Re-reads of the image after this broker's own writes, one at a time.
/// A leader that adds a returning follower to the ISR of a thousand
/// partitions writes a thousand states at once; each used to read the
/// whole image after its write, a thousand images of every partition held
/// together (750 MB with 2,000 partitions; at 10,000 the controller was
/// killed at 20 GB). A write still returns only after a read that began
/// after it, but the writes waiting during one read share the next.
#[derive(Default)]
struct Publisher {
    /// Publishes asked for so far.
    asked: std::sync::atomic::AtomicU64,
    /// Every ask up to this count is covered by a finished read.
    finished: tokio::sync::Mutex<u64>,
    /// Reads begun, for the test that counts them.
    #[cfg(test)]
    reads: std::sync::atomic::AtomicU64,
}

/// What outlives one ZooKeeper session: when a session expires, a new one
/// replaces the client and this broker registers again, as Kafka does.
struct Shared {
    connect: String,
    timeout: Duration,
    client: std::sync::RwLock<zkc::Client>,
    registration: Mutex<Option<BrokerRegistration>>,
    controller: ControllerSettings,
    requests: tokio::sync::mpsc::UnboundedSender<Request>,
    lease: Arc<SessionLease>,
    /// Bumped on every ACL change notification and on every new session,
    /// for the authorizer to reload.
    acl_changes: watch::Sender<u64>,
}

/// The broker's controller settings (Kafka's names and defaults).
#[derive(Clone, Debug)]
pub struct ControllerSettings {
    pub controller: ControllerConfig,
    /// `auto.leader.rebalance.enable` (true).
    pub auto_leader_rebalance_enable: bool,
    /// `leader.imbalance.check.interval.seconds` (300).
    pub leader_imbalance_check_interval: Duration,
    /// `leader.imbalance.per.broker.percentage` (10).
    pub leader_imbalance_per_broker_percentage: u32,
}

impl Default for ControllerSettings {
    fn default() -> Self {
        ControllerSettings {
            controller: ControllerConfig::default(),
            auto_leader_rebalance_enable: true,
            leader_imbalance_check_interval: Duration::from_secs(300),
            leader_imbalance_per_broker_percentage: 10,
        }
    }
}

impl Shared {
    fn client(&self) -> zkc::Client {
        self.client.read_or_recover().clone()
    }

    fn my_id(&self) -> Option<i32> {
        self.registration.lock_or_recover().as_ref().map(|b| b.id)
    }
}

impl Drop for ZkStore {
    fn drop(&mut self) {
        if Arc::strong_count(&self.refresher) == 1 {
            self.refresher.abort();
        }
        if Arc::strong_count(&self.quota_follower) == 1 {
            self.quota_follower.abort();
        }
    }
}

pub(super) fn unavailable(e: zkc::Error) -> Error {
    Error::from(e)
}

pub(super) fn open() -> zkc::CreateOptions<'static> {
    zkc::CreateMode::Persistent.with_acls(zkc::Acls::anyone_all())
}

pub(super) fn ephemeral() -> zkc::CreateOptions<'static> {
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
    client.chroot(root.to_string()).map_err(|_| Error::InvalidChroot { chroot: root.to_string() })
}

impl ZkStore {
    /// Connects, creates Kafka's persistent paths and the cluster id, and
    /// starts following changes.
    pub async fn open(
        connect_string: &str,
        session_timeout: Duration,
        controller: ControllerSettings,
    ) -> Result<ZkStore, Error> {
        let lease = Arc::new(SessionLease::new());
        let sent = std::time::Instant::now();
        let client = connect(connect_string, session_timeout).await?;
        lease.session_alive(client.session_id().0, sent, client.session_timeout());
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
        // Kafka's tools expect the ACL roots; a ZooKeeper that refuses
        // writes (read-only on a full disk) must not stop a broker or a
        // tool that can do without them: the authorizer reads a missing
        // root as no ACLs.
        if let Err(e) = super::zk_acls::ensure_paths(&client).await {
            tracing::warn!("cannot create the ACL znodes: {e}");
        }
        let image = read_image(&client).await?;
        let (tx, _) = watch::channel(Arc::new(image));
        let tx = Arc::new(tx);
        let (requests, requests_rx) = tokio::sync::mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            connect: connect_string.to_string(),
            timeout: session_timeout,
            client: std::sync::RwLock::new(client),
            registration: Mutex::new(None),
            controller,
            requests,
            lease,
            acl_changes: watch::channel(0).0,
        });
        let following = follow(shared.clone(), tx.clone(), requests_rx);
        let shared2 = shared.clone();
        let refresher = tokio::spawn(async move {
            tokio::join!(following, heartbeat(&shared2));
        });
        let (quotas, _) = watch::channel(Arc::new(ClientQuotaConfigs::default()));
        let quotas = Arc::new(quotas);
        let follower_shared = shared.clone();
        let quota_follower = tokio::spawn(zk_client_quotas::follow_client_quotas(
            move || follower_shared.client(),
            quotas.clone(),
        ));
        Ok(ZkStore {
            shared,
            tx,
            refresher: Arc::new(refresher),
            quotas,
            quota_follower: Arc::new(quota_follower),
            publisher: Arc::default(),
        })
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

    /// Hands a request to the task that runs this broker's controller.
    fn ask_controller<T: Send + 'static>(
        &self,
        request: impl FnOnce(tokio::sync::oneshot::Sender<Result<T, Error>>) -> Request,
    ) -> StoreFuture<'_, T> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let sent = self.shared.requests.send(request(reply));
        Box::pin(async move {
            sent.map_err(|_| Error::Stopped)?;
            answer.await.map_err(|_| Error::Stopped)?
        })
    }

    async fn publish(&self) -> Result<(), Error> {
        use std::sync::atomic::Ordering::SeqCst;
        let mine = self.publisher.asked.fetch_add(1, SeqCst) + 1;
        let mut finished = self.publisher.finished.lock().await;
        if *finished >= mine {
            return Ok(());
        }
        // Every ask so far came after its write, so this read covers them.
        let covers = self.publisher.asked.load(SeqCst);
        #[cfg(test)]
        self.publisher.reads.fetch_add(1, SeqCst);
        let image = read_image(&self.client()).await?;
        self.tx.send_replace(Arc::new(image));
        *finished = covers;
        Ok(())
    }
}

/// Reads the whole image: cluster id, live brokers, controller, topics,
/// with every topic, config and state znode fetched by multiRead.
pub async fn read_image(c: &zkc::Client) -> Result<ClusterImage, Error> {
    let cluster_id = match c.get_data(z::CLUSTER_ID).await {
        Ok((d, _)) => z::parse_cluster_id(&d).unwrap_or_default(),
        Err(zkc::Error::NoNode) => String::new(),
        Err(e) => return Err(unavailable(e)),
    };
    let controller_id = read_controller(c).await?;
    let brokers = read_brokers(c).await?;
    let names = valid_topics(list(c, z::TOPICS).await?);
    let paths: Vec<String> = names.iter().flat_map(|n| [z::topic(n), z::topic_config(n)]).collect();
    let reads = zk_controller::get_many(c, &paths).await?;
    let mut parsed = Vec::new();
    for (name, pair) in names.iter().zip(reads.chunks(2)) {
        let Some((d, _)) = &pair[0] else { continue };
        let Some((assignment, id)) = z::parse_topic(d) else { continue };
        let reassigning = z::parse_topic_reassignments(d);
        let configs = pair[1].as_ref().map(|(d, _)| z::parse_config(d)).unwrap_or_default();
        parsed.push((name, assignment, id, configs, reassigning));
    }
    let state_paths: Vec<String> = parsed
        .iter()
        .flat_map(|(name, a, ..)| a.keys().map(|p| z::partition_state(name, *p)))
        .collect();
    let mut states = zk_controller::get_many(c, &state_paths).await?.into_iter();
    let mut topics = BTreeMap::new();
    for (name, assignment, id, configs, (mut adding, mut removing)) in parsed {
        let mut partitions = BTreeMap::new();
        for (p, replicas) in assignment {
            // Without a state znode yet the partition shows no leader
            // until the controller writes one.
            let read = states.next().flatten();
            let state_zk_version = read.as_ref().map_or(-1, |(_, stat)| stat.version);
            let state = read
                .and_then(|(d, _)| z::parse_partition_state(&d))
                .unwrap_or(PartitionState { leader: -1, leader_epoch: 0, isr: Vec::new() });
            partitions.insert(
                p,
                PartitionMetadata {
                    replicas,
                    state,
                    state_zk_version,
                    adding_replicas: adding.remove(&p).unwrap_or_default(),
                    removing_replicas: removing.remove(&p).unwrap_or_default(),
                },
            );
        }
        let topic_id = id.unwrap_or_default();
        topics.insert(
            name.clone(),
            TopicMetadata { name: name.clone(), topic_id, partitions, configs },
        );
    }
    let names = list(c, "/config/brokers").await?;
    let paths: Vec<String> = names.iter().map(|n| z::entity_config("brokers", n)).collect();
    let mut broker_configs = BTreeMap::new();
    for (name, read) in names.into_iter().zip(zk_controller::get_many(c, &paths).await?) {
        if let Some((d, _)) = read {
            broker_configs.insert(name, z::parse_config(&d));
        }
    }
    Ok(ClusterImage {
        cluster_id,
        controller_id,
        brokers,
        topics,
        broker_configs,
        session: c.session_id().0,
    })
}

/// The controller's id, -1 while there is none.
async fn read_controller(c: &zkc::Client) -> Result<i32, Error> {
    match c.get_data(z::CONTROLLER).await {
        Ok((d, _)) => Ok(z::parse_controller(&d).unwrap_or(-1)),
        Err(zkc::Error::NoNode) => Ok(-1),
        Err(e) => Err(unavailable(e)),
    }
}

/// The registered brokers.
async fn read_brokers(c: &zkc::Client) -> Result<BTreeMap<i32, BrokerRegistration>, Error> {
    let ids: Vec<i32> =
        list(c, z::BROKER_IDS).await?.iter().filter_map(|s| s.parse().ok()).collect();
    let paths: Vec<String> = ids.iter().map(|id| z::broker(*id)).collect();
    let mut brokers = BTreeMap::new();
    for (id, read) in ids.iter().zip(zk_controller::get_many(c, &paths).await?) {
        if let Some(b) = read.and_then(|(d, _)| z::parse_broker(*id, &d)) {
            brokers.insert(*id, b);
        }
    }
    Ok(brokers)
}

/// The names under `/brokers/topics` that Kafka's `Topic.validate` accepts.
/// Anyone with ZooKeeper access can write a znode no Kafka tool would (a
/// 300-character name would take a log dir down at every start); such a
/// topic is skipped, with one warning per name rather than per re-read.
pub(super) fn valid_topics(names: Vec<String>) -> Vec<String> {
    static WARNED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    names
        .into_iter()
        .filter(|name| match crate::types::validate_topic_name(name) {
            Ok(()) => true,
            Err(e) => {
                let mut warned = WARNED.lock_or_recover();
                if warned.insert(name.clone()) {
                    tracing::warn!("ignoring topic znode {}: {e}", z::topic(name));
                }
                false
            }
        })
        .collect()
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

use zk_controller::list;

/// Rebuilds the image on every change; the controller also acts on it.
/// When the session expires, starts a new one and registers again.
async fn follow(
    shared: Arc<Shared>,
    tx: Arc<watch::Sender<Arc<ClusterImage>>>,
    mut requests: tokio::sync::mpsc::UnboundedReceiver<Request>,
) {
    loop {
        let c = shared.client();
        follow_session(&c, &shared, &tx, &mut requests).await;
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
    let sent = std::time::Instant::now();
    let c = connect(&shared.connect, shared.timeout).await?;
    let registration = shared.registration.lock_or_recover().clone();
    if let Some(b) = registration {
        register(&c, &b).await?;
    }
    shared.lease.session_alive(c.session_id().0, sent, c.session_timeout());
    *shared.client.write_or_recover() = c;
    Ok(())
}

/// Renews the session lease with a cheap read several times per session
/// timeout, so a broker that is neither paused nor cut off from ZooKeeper
/// never lets it run out; the client's own pings prove the same but say
/// nothing to us.
async fn heartbeat(shared: &Shared) {
    loop {
        let c = shared.client();
        let interval = (c.session_timeout() / 6).max(Duration::from_millis(20));
        let sent = std::time::Instant::now();
        // A request on a connection that went quiet waits for the
        // reconnect; the next round starts from a fresh send time.
        let answered = tokio::time::timeout(c.session_timeout(), c.check_stat("/")).await;
        if matches!(answered, Ok(Ok(_))) {
            shared.lease.session_alive(c.session_id().0, sent, c.session_timeout());
        }
        tokio::time::sleep(interval).await;
    }
}

/// Follows changes through one session until it expires or closes. A
/// controller does not outlive its session: its `/controller` is gone.
async fn follow_session(
    c: &zkc::Client,
    shared: &Shared,
    tx: &watch::Sender<Arc<ClusterImage>>,
    requests: &mut tokio::sync::mpsc::UnboundedReceiver<Request>,
) {
    // Each watcher forwards into one channel, so one wait covers them all.
    let (ev_tx, mut events) = tokio::sync::mpsc::unbounded_channel::<Noticed>();
    let mut forwarders = Vec::new();
    let watches = [
        ("/brokers", zkc::AddWatchMode::PersistentRecursive),
        ("/config/topics", zkc::AddWatchMode::PersistentRecursive),
        ("/config/brokers", zkc::AddWatchMode::PersistentRecursive),
        ("/admin", zkc::AddWatchMode::PersistentRecursive),
        (z::CONTROLLER, zkc::AddWatchMode::Persistent),
    ];
    let watch_count = watches.len();
    for (p, mode) in watches {
        if let Some(mut w) = SessionWatch::add(c, p, mode).await {
            let ev_tx = ev_tx.clone();
            forwarders.push(tokio::spawn(async move {
                while let Some(e) = w.next().await {
                    if ev_tx.send((std::time::Instant::now(), e)).is_err() {
                        return;
                    }
                }
            }));
        }
    }
    drop(ev_tx);
    // Without every watch, only re-reading on every pass keeps the image.
    let full_every = match forwarders.len() == watch_count {
        true => FULL_REREAD_INTERVAL,
        false => Duration::ZERO,
    };
    for p in [super::zk_acls::LITERAL_CHANGES, super::zk_acls::EXTENDED_CHANGES] {
        if let Some(mut w) = SessionWatch::add(c, p, zkc::AddWatchMode::PersistentRecursive).await {
            let bump = shared.acl_changes.clone();
            forwarders.push(tokio::spawn(async move {
                while w.next().await.is_some() {
                    bump.send_modify(|n| *n += 1);
                }
            }));
        }
    }
    // Changes made while no session was watching are read again.
    shared.acl_changes.send_modify(|n| *n += 1);
    let _stop_forwarders = AbortOnDrop(forwarders);
    let mut controller = ZkController::new(shared.controller.controller.clone());
    let settings = &shared.controller;
    let mut next_imbalance_check =
        tokio::time::Instant::now() + settings.leader_imbalance_check_interval;
    let mut batch: Vec<Noticed> = Vec::new();
    // The first pass reads everything: what changed before the watches
    // were set sent no event.
    let mut next_full_read = tokio::time::Instant::now();
    loop {
        if c.state().is_terminated() {
            return;
        }
        if let Some(id) = shared.my_id() {
            if let Err(e) = controller.on_change(c, id, &batch).await {
                tracing::warn!("controller work failed: {e}");
            }
            if controller.is_active()
                && settings.auto_leader_rebalance_enable
                && tokio::time::Instant::now() >= next_imbalance_check
            {
                next_imbalance_check =
                    tokio::time::Instant::now() + settings.leader_imbalance_check_interval;
                let pct = settings.leader_imbalance_per_broker_percentage;
                if let Err(e) = controller.check_leader_imbalance(c, id, pct).await {
                    tracing::warn!("leader rebalance failed: {e}");
                }
            }
        }
        let mut reread = Reread::of(&batch);
        reread.full |= tokio::time::Instant::now() >= next_full_read;
        // What this broker wrote as controller, here or answering a
        // request, is in its image before the next request is taken.
        let written = controller.take_written();
        reread.full |= written.other;
        reread.states.extend(written.states.into_iter().map(|tp| (tp.topic, tp.partition.0)));
        batch.clear();
        let patched = match reread.full {
            true => Ok(false),
            false if reread.is_empty() => Ok(true),
            false => patch_image(c, tx, &reread).await,
        };
        let read = match patched {
            Ok(true) => Ok(()),
            Ok(false) => {
                next_full_read = tokio::time::Instant::now() + full_every;
                read_image(c).await.map(|image| publish_if_changed(tx, image))
            }
            Err(e) => Err(e),
        };
        if let Err(e) = read {
            tracing::warn!("cannot read cluster metadata: {e}");
            next_full_read = tokio::time::Instant::now();
        }
        // The periodic pass notices an expired session, lets the controller
        // look again, and now and then re-reads everything in case an event
        // went missing.
        tokio::select! {
            e = events.recv() => batch.extend(e),
            Some(request) = requests.recv() => {
                if let Some(id) = shared.my_id() {
                    controller.on_request(c, id, request).await;
                } else {
                    request.refuse();
                }
            }
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        while let Ok(e) = events.try_recv() {
            batch.push(e);
        }
    }
}

/// How often a broker re-reads the whole image with no event asking for
/// it: the watches cover every znode it holds, and a reconnect (whose
/// events ZooKeeper may not replay, ZOOKEEPER-4698) asks for a full read
/// through its session event. Re-reading every second cost each broker a
/// read of every partition state per second.
const FULL_REREAD_INTERVAL: Duration = Duration::from_secs(10);

/// What a batch of watch events asks of the image: the parts a broker's
/// failure or a leader and ISR change touch are read alone, anything else
/// (topics, configs, and session events, as events during a reconnect may
/// be lost) reads everything.
#[derive(Debug, Default, PartialEq)]
struct Reread {
    full: bool,
    controller: bool,
    brokers: bool,
    /// Partition states whose data changed.
    states: BTreeSet<(String, i32)>,
}

impl Reread {
    fn of(batch: &[Noticed]) -> Reread {
        let mut r = Reread::default();
        for (_, e) in batch {
            let is_data = e.event_type == zkc::EventType::NodeDataChanged;
            if e.event_type == zkc::EventType::Session {
                r.full = true;
            } else if e.path == z::CONTROLLER {
                r.controller = true;
            } else if e.path == z::BROKER_IDS || z::broker_id_of(&e.path).is_some() {
                r.brokers = true;
            } else if let Some((t, p)) = z::partition_state_path(&e.path).filter(|_| is_data) {
                r.states.insert((t.to_string(), p));
            } else {
                r.full = true;
            }
        }
        r
    }

    fn is_empty(&self) -> bool {
        *self == Reread::default()
    }
}

/// Re-reads the parts `r` names into the current image; false (nothing
/// published) when a changed state is gone or not in the image, which a
/// full read then settles.
async fn patch_image(
    c: &zkc::Client,
    tx: &watch::Sender<Arc<ClusterImage>>,
    r: &Reread,
) -> Result<bool, Error> {
    let paths: Vec<String> = r.states.iter().map(|(t, p)| z::partition_state(t, *p)).collect();
    let reads = zk_controller::get_many(c, &paths).await?;
    let controller_id = match r.controller {
        true => Some(read_controller(c).await?),
        false => None,
    };
    let brokers = match r.brokers {
        true => Some(read_brokers(c).await?),
        false => None,
    };
    let mut image = ClusterImage::clone(&tx.borrow());
    for ((t, p), read) in r.states.iter().zip(reads) {
        let Some((data, stat)) = read else { return Ok(false) };
        let Some(state) = z::parse_partition_state(&data) else { return Ok(false) };
        let Some(meta) = image.topics.get_mut(t).and_then(|t| t.partitions.get_mut(p)) else {
            return Ok(false);
        };
        meta.state = state;
        meta.state_zk_version = stat.version;
    }
    if let Some(id) = controller_id {
        image.controller_id = id;
    }
    if let Some(brokers) = brokers {
        image.brokers = brokers;
    }
    publish_if_changed(tx, image);
    Ok(true)
}

/// A persistent watch that ends with its session. `zookeeper-client`
/// panics when a persistent watcher is asked again after the terminal
/// event of its session (expired, closed, authentication failed); the next
/// session sets its own watches, so this one only has to stop.
pub(super) struct SessionWatch(Option<zkc::PersistentWatcher>);

impl SessionWatch {
    /// `None` when the watch cannot be set (the session is gone).
    pub(super) async fn add(c: &zkc::Client, path: &str, mode: zkc::AddWatchMode) -> Option<Self> {
        c.watch(path, mode).await.ok().map(|w| SessionWatch(Some(w)))
    }

    /// The next event, the session's terminal one included; `None` after it.
    pub(super) async fn next(&mut self) -> Option<zkc::WatchedEvent> {
        let event = self.0.as_mut()?.changed().await;
        if event.session_state.is_terminated() {
            self.0 = None;
        }
        Some(event)
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

async fn controller_epoch(c: &zkc::Client) -> i32 {
    match c.get_data(z::CONTROLLER_EPOCH).await {
        Ok((d, _)) => String::from_utf8_lossy(&d).trim().parse().unwrap_or(0),
        Err(_) => 0,
    }
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
            .map_err(|_| Error::InvalidChroot { chroot: root.to_string() })?,
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
            Err(zkc::Error::NodeExists) => return Err(Error::BrokerIdTaken { id: broker.id }),
            Err(e) => return Err(unavailable(e)),
        }
    }
    zk_controller::elect(c, broker.id).await?;
    Ok(())
}

/// An operation's share of a multi beyond its path and data: header,
/// version, ACL and lengths.
const MULTI_OP_BYTES: usize = 64;

/// A partition's `partitions/<p>` and `partitions/<p>/state` znodes, to be
/// created.
struct StateCreate {
    parent: String,
    path: String,
    state: Vec<u8>,
}

impl StateCreate {
    fn new(topic: &str, partition: i32, state: &PartitionState, epoch: i32) -> Self {
        StateCreate {
            parent: z::partition(topic, partition),
            path: z::partition_state(topic, partition),
            state: z::partition_state_json(state, epoch),
        }
    }

    fn bytes(&self) -> usize {
        2 * MULTI_OP_BYTES + self.parent.len() + self.path.len() + self.state.len()
    }

    fn add_to(&self, m: &mut zkc::MultiWriter<'_>) -> Result<(), zkc::Error> {
        m.add_create(&self.parent, b"", &open())?;
        m.add_create(&self.path, &self.state, &open())
    }

    /// One znode at a time, a state already there kept or replaced.
    async fn create_one(&self, c: &zkc::Client, existing: Existing) -> Result<(), Error> {
        create_if_absent(c, &self.parent, b"").await?;
        match (c.create(&self.path, &self.state, &open()).await, existing) {
            (Ok(_), _) | (Err(zkc::Error::NodeExists), Existing::Keep) => Ok(()),
            (Err(zkc::Error::NodeExists), Existing::Replace) => {
                c.set_data(&self.path, &self.state, None).await.map_err(unavailable)?;
                Ok(())
            }
            (Err(e), _) => Err(unavailable(e)),
        }
    }
}

/// Whose a state znode already there is, when a multi of creates meets it.
#[derive(Clone, Copy)]
enum Existing {
    /// The controller's: the partition is in its topic's assignment, and
    /// the controller initialized it first.
    Keep,
    /// An earlier attempt's that failed before the assignment named the
    /// partition: nobody reads it, and it may name other replicas.
    Replace,
}

/// `creates` cut into runs that fit a multi of [`MAX_MULTI_BYTES`] (after
/// `first` bytes already in the first one): ZooKeeper refuses a request
/// over `jute.maxbuffer` (1 MiB), and one multi for a topic of 10,000
/// partitions would be about 2.6 MB.
fn multi_runs(creates: &[StateCreate], first: usize) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let (mut start, mut bytes) = (0, first);
    for (i, create) in creates.iter().enumerate() {
        if i > start && bytes + create.bytes() > MAX_MULTI_BYTES {
            runs.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += create.bytes();
    }
    runs.push(start..creates.len());
    runs
}

/// The answer to a multi of state creates. One that found a znode already
/// there is done again one znode at a time.
async fn settle_state_creates(
    c: &zkc::Client,
    run: &[StateCreate],
    outcome: MultiOutcome,
    existing: Existing,
) -> Result<(), Error> {
    match outcome {
        Ok(_) => Ok(()),
        Err(zkc::MultiWriteError::OperationFailed { source: zkc::Error::NodeExists, .. }) => {
            for create in run {
                create.create_one(c, existing).await?;
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// A topic's znodes, as multis. The first creates the topic (its config,
/// its assignment, its `partitions` znode) with as many partition states
/// as fit, atomically, so a name taken twice fails there and nothing else
/// is written; the others create the remaining states, and are sent only
/// once the first succeeded: sent with it, they would add states under a
/// topic of the same name that was already there. A partition whose state
/// is not written yet is new to the controller, which writes it if this
/// broker does not get to (`NewPartition`), as for a topic created by
/// Kafka's own tools.
struct TopicCreate<'c> {
    name: String,
    creates: Vec<StateCreate>,
    runs: Vec<Range<usize>>,
    first: zkc::MultiWriter<'c>,
}

impl<'c> TopicCreate<'c> {
    fn new(c: &'c zkc::Client, topic: &TopicMetadata, epoch: i32) -> Result<Self, zkc::Error> {
        let assignment: BTreeMap<i32, Vec<i32>> =
            topic.partitions.iter().map(|(p, m)| (*p, m.replicas.clone())).collect();
        let creates: Vec<StateCreate> = topic
            .partitions
            .iter()
            .map(|(p, meta)| StateCreate::new(&topic.name, *p, &meta.state, epoch))
            .collect();
        let roots = [
            (z::topic_config(&topic.name), z::config_json(&topic.configs)),
            (z::topic(&topic.name), z::topic_json(&assignment, topic.topic_id)),
            (z::partitions(&topic.name), Vec::new()),
        ];
        let root_bytes = roots.iter().map(|(p, d)| MULTI_OP_BYTES + p.len() + d.len()).sum();
        let runs = multi_runs(&creates, root_bytes);
        let mut first = c.new_multi_writer();
        for (path, data) in &roots {
            first.add_create(path, data, &open())?;
        }
        for create in &creates[runs[0].clone()] {
            create.add_to(&mut first)?;
        }
        Ok(TopicCreate { name: topic.name.clone(), creates, runs, first })
    }

    /// The first multi's answer.
    fn created(&self, outcome: MultiOutcome) -> Result<(), Error> {
        match outcome {
            Ok(_) => Ok(()),
            Err(zkc::MultiWriteError::OperationFailed {
                source: zkc::Error::NodeExists, ..
            }) => Err(Error::TopicExists(self.name.clone())),
            Err(e) => Err(e.into()),
        }
    }

    /// Sends the multis of the states the first did not hold.
    fn send_rest(
        &self,
        c: &'c zkc::Client,
    ) -> Result<Vec<impl Future<Output = MultiOutcome> + 'c>, zkc::Error> {
        let mut sent = Vec::with_capacity(self.runs.len() - 1);
        for run in &self.runs[1..] {
            let mut m = c.new_multi_writer();
            for create in &self.creates[run.clone()] {
                create.add_to(&mut m)?;
            }
            sent.push(m.commit());
        }
        Ok(sent)
    }

    /// Waits for the answers to [`Self::send_rest`]'s multis.
    async fn settle_rest(
        &self,
        c: &zkc::Client,
        sent: Vec<impl Future<Output = MultiOutcome>>,
    ) -> Result<(), Error> {
        for (run, answer) in self.runs[1..].iter().zip(sent) {
            let run = &self.creates[run.clone()];
            settle_state_creates(c, run, answer.await, Existing::Keep).await?;
        }
        Ok(())
    }
}

type MultiOutcome = Result<Vec<zkc::MultiWriteResult>, zkc::MultiWriteError>;

impl MetadataStore for ZkStore {
    fn image(&self) -> Arc<ClusterImage> {
        self.tx.borrow().clone()
    }

    fn subscribe(&self) -> watch::Receiver<Arc<ClusterImage>> {
        self.tx.subscribe()
    }

    fn session_lease(&self) -> Arc<SessionLease> {
        self.shared.lease.clone()
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
            *self.shared.registration.lock_or_recover() = Some(broker);
            self.publish().await
        })
    }

    fn create_topic(&self, topic: TopicMetadata) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let mut results = self.create_topics(vec![topic]).await?;
            results.pop().unwrap_or(Ok(()))
        })
    }

    fn create_topics(&self, topics: Vec<TopicMetadata>) -> StoreFuture<'_, Vec<Result<(), Error>>> {
        Box::pin(async move {
            let c = &self.client();
            let epoch = controller_epoch(c).await;
            // Every topic's multi is sent before the first answer is awaited
            // (the client sends on `commit`), so ZooKeeper's group commit
            // syncs them together, and the image is read once for all:
            // a thousand topics cost a few fsyncs and one image read, not a
            // thousand of each.
            let mut pending = Vec::with_capacity(topics.len());
            for topic in &topics {
                pending.push(TopicCreate::new(c, topic, epoch).map(|mut t| {
                    let sent = t.first.commit();
                    (t, sent)
                }));
            }
            // The topics' first multis go out together; each created topic's
            // other states go out as soon as its first multi answered, and
            // are waited for after the last first answer.
            let mut results = Vec::with_capacity(topics.len());
            let mut rest = Vec::new();
            for pending in pending {
                let result = match pending {
                    Err(e) => Err(unavailable(e)),
                    Ok((t, sent)) => match t.created(sent.await) {
                        Ok(()) if t.runs.len() > 1 => match t.send_rest(c) {
                            Ok(sent) => {
                                rest.push((results.len(), t, sent));
                                Ok(())
                            }
                            Err(e) => Err(unavailable(e)),
                        },
                        other => other,
                    },
                };
                results.push(result);
            }
            for (i, t, sent) in rest {
                results[i] = t.settle_rest(c, sent).await;
            }
            self.publish().await?;
            Ok(results)
        })
    }

    fn set_consumer_offset(
        &self,
        group: &str,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> StoreFuture<'_, ()> {
        let path = z::consumer_offset(group, topic, partition);
        Box::pin(async move {
            let c = self.client();
            let data = offset.to_string();
            match c.set_data(&path, data.as_bytes(), None).await {
                Ok(_) => return Ok(()),
                Err(zkc::Error::NoNode) => {}
                Err(e) => return Err(unavailable(e)),
            }
            if let Some((parent, _)) = path.rsplit_once('/') {
                c.mkdir(parent, &open()).await.map_err(unavailable)?;
            }
            match c.create(&path, data.as_bytes(), &open()).await {
                Ok(_) => Ok(()),
                // Another commit created it first: ours is the later write.
                Err(zkc::Error::NodeExists) => {
                    c.set_data(&path, data.as_bytes(), None).await.map_err(unavailable)?;
                    Ok(())
                }
                Err(e) => Err(unavailable(e)),
            }
        })
    }

    fn consumer_offset(
        &self,
        group: &str,
        topic: &str,
        partition: i32,
    ) -> StoreFuture<'_, Option<i64>> {
        let path = z::consumer_offset(group, topic, partition);
        Box::pin(async move {
            let data = get(&self.client(), &path).await?;
            Ok(data.and_then(|d| std::str::from_utf8(&d).ok()?.trim().parse().ok()))
        })
    }

    fn delete_topic(&self, name: &str) -> StoreFuture<'_, ()> {
        let name = name.to_string();
        Box::pin(async move {
            if get(&self.client(), &z::topic(&name)).await?.is_none() {
                return Err(Error::UnknownTopic(name));
            }
            create_if_absent(&self.client(), &z::delete_topic(&name), b"").await?;
            zk_controller::delete_topic(&self.client(), &name).await?;
            self.publish().await
        })
    }

    fn delete_topics(&self, names: &[String]) -> StoreFuture<'_, BTreeSet<String>> {
        let names = names.to_vec();
        Box::pin(async move {
            let c = &self.client();
            let roots: Vec<String> = names.iter().map(|n| z::topic(n)).collect();
            let found = zk_controller::get_many(c, &roots).await?;
            let mut present = Vec::new();
            let mut unknown = BTreeSet::new();
            for (name, f) in names.into_iter().zip(found) {
                if f.is_some() {
                    present.push(name);
                } else {
                    unknown.insert(name);
                }
            }
            let started = std::time::Instant::now();
            zk_controller::delete_topics(c, &present).await?;
            let deleted = started.elapsed();
            self.publish().await?;
            tracing::info!(
                "deleted {} topic(s) from ZooKeeper in {:.1} ms, image read in {:.1} ms",
                present.len(),
                deleted.as_secs_f64() * 1e3,
                (started.elapsed() - deleted).as_secs_f64() * 1e3
            );
            Ok(unknown)
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
            // The states first: the new partitions are not part of the topic
            // until its assignment below names them.
            create_if_absent(c, &z::partitions(&name), b"").await?;
            let creates: Vec<StateCreate> = added
                .iter()
                .map(|(p, meta)| StateCreate::new(&name, *p, &meta.state, epoch))
                .collect();
            let runs = multi_runs(&creates, 0);
            let mut sent = Vec::with_capacity(runs.len());
            for run in &runs {
                let mut m = c.new_multi_writer();
                for create in &creates[run.clone()] {
                    create.add_to(&mut m).map_err(unavailable)?;
                }
                sent.push(m.commit());
            }
            for (run, answer) in runs.iter().zip(sent) {
                let run = &creates[run.clone()];
                settle_state_creates(c, run, answer.await, Existing::Replace).await?;
            }
            // Reassignments of the existing partitions stay recorded.
            let (adding, removing) = z::parse_topic_reassignments(&d);
            c.set_data(
                &z::topic(&name),
                &z::topic_json_reassigning(&assignment, &adding, &removing, id.unwrap_or_default()),
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

    fn entity_config(
        &self,
        entity_type: &str,
        name: &str,
    ) -> StoreFuture<'_, BTreeMap<String, String>> {
        let path = z::entity_config(entity_type, name);
        Box::pin(async move {
            Ok(get(&self.client(), &path).await?.map(|d| z::parse_config(&d)).unwrap_or_default())
        })
    }

    fn set_entity_config(
        &self,
        entity_type: &str,
        name: &str,
        configs: BTreeMap<String, String>,
    ) -> StoreFuture<'_, ()> {
        let (entity_type, name) = (entity_type.to_string(), name.to_string());
        Box::pin(async move {
            let c = &self.client();
            let path = z::entity_config(&entity_type, &name);
            let parent = format!("/config/{entity_type}");
            match c.create(&parent, b"", &open()).await {
                Ok(_) | Err(zkc::Error::NodeExists) => {}
                Err(e) => return Err(unavailable(e)),
            }
            let data = z::config_json(&configs);
            if configs.is_empty() {
                match c.delete(&path, None).await {
                    Ok(()) | Err(zkc::Error::NoNode) => {}
                    Err(e) => return Err(unavailable(e)),
                }
            } else {
                match c.set_data(&path, &data, None).await {
                    Ok(_) => {}
                    Err(zkc::Error::NoNode) => {
                        c.create(&path, &data, &open()).await.map_err(unavailable)?;
                    }
                    Err(e) => return Err(unavailable(e)),
                }
            }
            let seq = zkc::CreateMode::PersistentSequential.with_acls(zkc::Acls::anyone_all());
            let change = z::entity_config_change_json(&entity_type, &name);
            c.create(z::CONFIG_CHANGE_PREFIX, &change, &seq).await.map_err(unavailable)?;
            // Dynamic broker configs are in the image: a describe right
            // after the change must see it.
            self.publish().await
        })
    }

    fn client_quotas(&self) -> watch::Receiver<Arc<ClientQuotaConfigs>> {
        self.quotas.subscribe()
    }

    fn alter_client_quota(
        &self,
        entity: QuotaEntity,
        set: BTreeMap<String, String>,
        remove: Vec<String>,
    ) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let c = self.client();
            zk_client_quotas::alter_client_quota(&c, &entity, &set, &remove).await?;
            // This broker sees its own change before answering, as a
            // describe right after an alter expects.
            let quotas = zk_client_quotas::read_client_quotas(&c).await?;
            self.quotas.send_replace(Arc::new(quotas));
            Ok(())
        })
    }

    fn acls(&self) -> StoreFuture<'_, AclCache> {
        Box::pin(async move { super::zk_acls::read_all(&self.client()).await })
    }

    fn update_acls<'a>(
        &'a self,
        pattern: &'a ResourcePattern,
        update: &'a AclUpdate<'a>,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move { super::zk_acls::update(&self.client(), pattern, update).await })
    }

    fn acl_changes(&self) -> watch::Receiver<u64> {
        self.shared.acl_changes.subscribe()
    }

    fn entity_names(&self, entity_type: &str) -> StoreFuture<'_, Vec<String>> {
        let parent = format!("/config/{entity_type}");
        Box::pin(async move {
            match self.client().list_children(&parent).await {
                Ok(names) => Ok(names),
                Err(zkc::Error::NoNode) => Ok(Vec::new()),
                Err(e) => Err(unavailable(e)),
            }
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

    fn elect_leaders(
        &self,
        election: crate::controller::ElectionType,
        partitions: Option<Vec<crate::types::TopicPartition>>,
    ) -> StoreFuture<'_, zk_controller::ElectionResults> {
        self.ask_controller(|reply| Request::ElectLeaders { election, partitions, reply })
    }

    fn alter_partition_reassignments(
        &self,
        partitions: Vec<(TopicPartition, Option<Vec<i32>>)>,
    ) -> StoreFuture<'_, zk_controller::ReassignmentResults> {
        self.ask_controller(|reply| Request::AlterReassignments { partitions, reply })
    }

    fn list_partition_reassignments(
        &self,
        partitions: Option<Vec<TopicPartition>>,
    ) -> StoreFuture<'_, zk_controller::OngoingReassignments> {
        self.ask_controller(|reply| Request::ListReassignments { partitions, reply })
    }

    fn controlled_shutdown(
        &self,
        broker: i32,
        wait: Duration,
    ) -> StoreFuture<'_, Vec<TopicPartition>> {
        Box::pin(async move {
            let c = &self.client();
            create_if_absent(c, z::CONTROLLED_SHUTDOWN, b"").await?;
            let path = z::controlled_shutdown(broker);
            // Empty data is the request; a retry empties an old answer.
            match c.create(&path, b"", &ephemeral()).await {
                Ok(_) => {}
                Err(zkc::Error::NodeExists) => {
                    c.set_data(&path, b"", None).await.map_err(unavailable)?;
                }
                Err(e) => return Err(unavailable(e)),
            }
            // The answer is awaited with a watch, not polled: it comes the
            // moment the controller writes it.
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                let watcher = match c.get_and_watch_data(&path).await {
                    Ok((answer, ..)) if !answer.is_empty() => {
                        return Ok(z::parse_partition_list(&answer))
                    }
                    Ok((_, _, watcher)) => Some(watcher),
                    // Gone with a session that expired meanwhile: ask again.
                    Err(zkc::Error::NoNode) => None,
                    Err(e) => return Err(unavailable(e)),
                };
                let timed_out = match watcher {
                    Some(w) => tokio::time::timeout_at(deadline, w.changed()).await.is_err(),
                    None => {
                        tokio::time::sleep_until(deadline).await;
                        true
                    }
                };
                if timed_out {
                    return Err(Error::ControllerTimeout {
                        what: "controlled shutdown request",
                        after: wait,
                    });
                }
            }
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
            Err(Error::Contended { what: "the producer id block", attempts: 100 })
        })
    }
}

/// Hands `value` to the watchers of `tx` only if it differs from what they
/// hold: the periodic re-reads would otherwise wake every watcher each time.
pub(super) fn publish_if_changed<T: PartialEq>(tx: &watch::Sender<Arc<T>>, value: T) {
    tx.send_if_modified(|cur| {
        let changed = **cur != value;
        if changed {
            *cur = Arc::new(value);
        }
        changed
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noticed(event: zkc::WatchedEvent) -> Noticed {
        (std::time::Instant::now(), event)
    }

    fn changed(path: &str) -> Noticed {
        noticed(zkc::WatchedEvent::new(zkc::EventType::NodeDataChanged, path))
    }

    fn event(kind: zkc::EventType, path: &str) -> Noticed {
        noticed(zkc::WatchedEvent::new(kind, path))
    }

    /// Leader and ISR changes, the controller and the registered brokers
    /// are re-read alone; anything else the image holds, or a session event
    /// (events during a reconnect may be lost), re-reads it all.
    #[test]
    fn what_each_event_re_reads() {
        use zkc::EventType::*;
        assert!(Reread::of(&[]).is_empty());
        let states =
            [changed("/brokers/topics/a/partitions/0/state"), changed(&z::partition_state("b", 7))];
        let want = BTreeSet::from([("a".to_string(), 0), ("b".to_string(), 7)]);
        assert_eq!(Reread::of(&states), Reread { states: want.clone(), ..Default::default() });
        let failover = [
            event(NodeDeleted, "/brokers/ids/1"),
            event(NodeChildrenChanged, "/brokers/ids"),
            event(NodeDeleted, "/controller"),
            event(NodeCreated, "/controller"),
            states[0].clone(),
            states[1].clone(),
        ];
        let want = Reread { controller: true, brokers: true, states: want, full: false };
        assert_eq!(Reread::of(&failover), want);
        let others = [
            event(NodeCreated, &z::partition_state("a", 1)),
            event(NodeDeleted, &z::partition_state("a", 0)),
            changed("/brokers/topics/a"),
            changed("/config/topics/a"),
            changed("/config/brokers/1"),
            changed("/brokers/topics/a/partitions/x/state"),
            noticed(zkc::WatchedEvent::new_session(zkc::SessionState::Disconnected)),
            noticed(zkc::WatchedEvent::new_session(zkc::SessionState::SyncConnected)),
        ];
        for other in others {
            let batch = [states[0].clone(), other.clone(), failover[0].clone()];
            assert!(Reread::of(&batch).full, "{:?}", other.1);
        }
    }

    /// A store on an embedded ZooKeeper server in `dir`.
    async fn embedded_store(dir: &std::path::Path) -> ZkStore {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = crate::zk::Config::new(dir.to_path_buf());
        config.client_port = addr.port();
        tokio::spawn(crate::zk::run(listener, config, std::future::pending()));
        ZkStore::open(&addr.to_string(), Duration::from_secs(6), ControllerSettings::default())
            .await
            .unwrap()
    }

    /// Partitions `range` of a topic on broker 1, each led by it.
    fn partitions_on_one(range: std::ops::Range<i32>) -> BTreeMap<i32, PartitionMetadata> {
        let state = PartitionState { leader: 1, leader_epoch: 0, isr: vec![1] };
        range
            .map(|p| {
                let meta = PartitionMetadata {
                    replicas: vec![1],
                    state: state.clone(),
                    state_zk_version: -1,
                    adding_replicas: Vec::new(),
                    removing_replicas: Vec::new(),
                };
                (p, meta)
            })
            .collect()
    }

    fn new_topic(name: &str, partitions: BTreeMap<i32, PartitionMetadata>) -> TopicMetadata {
        TopicMetadata {
            name: name.into(),
            topic_id: uuid::Uuid::new_v4(),
            partitions,
            configs: BTreeMap::new(),
        }
    }

    /// One multi for a topic of 10,000 partitions is about 2.6 MB, over
    /// ZooKeeper's `jute.maxbuffer`: the server closed the connection and
    /// the creation failed as a lost connection.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_topic_too_large_for_one_request_is_created_in_several() {
        let dir = tempfile::tempdir().unwrap();
        let store = embedded_store(dir.path()).await;
        let wide = new_topic("wide", partitions_on_one(0..10_000));
        let small = new_topic("small", partitions_on_one(0..3));
        let results = store.create_topics(vec![wide.clone(), small]).await.unwrap();
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        let image = store.image();
        assert_eq!(image.topics["wide"].partitions.len(), 10_000);
        assert!(image.topics["wide"].partitions.values().all(|p| p.state.leader == 1));
        assert_eq!(image.topics["small"].partitions.len(), 3);

        // The name is taken: the first request fails and nothing is written,
        // not even the states the other requests would have held.
        let again = store.create_topics(vec![wide]).await.unwrap();
        assert!(matches!(again[..], [Err(Error::TopicExists(_))]), "{again:?}");
        let wider = new_topic("small", partitions_on_one(0..10_000));
        let again = store.create_topics(vec![wider]).await.unwrap();
        assert!(matches!(again[..], [Err(Error::TopicExists(_))]), "{again:?}");
        let states = store.client().list_children(&z::partitions("small")).await.unwrap();
        assert_eq!(states.len(), 3, "partitions of the topic that was there");

        // An earlier attempt left a state naming broker 7 for a partition
        // the assignment never got: the next attempt's state replaces it.
        let c = store.client();
        let leftover = PartitionState { leader: 7, leader_epoch: 3, isr: vec![7] };
        c.create(&z::partition("wide", 12_345), b"", &open()).await.unwrap();
        let json = z::partition_state_json(&leftover, 1);
        c.create(&z::partition_state("wide", 12_345), &json, &open()).await.unwrap();
        store.create_partitions("wide", partitions_on_one(10_000..16_000)).await.unwrap();
        let image = store.image();
        assert_eq!(image.topics["wide"].partitions.len(), 16_000);
        assert!(image.topics["wide"].partitions.values().all(|p| p.state.isr == [1]));
        assert_eq!(image.topics["wide"].partitions[&12_345].state.leader, 1);
    }

    #[test]
    fn state_creates_are_cut_into_runs_that_fit_a_multi() {
        let state = PartitionState { leader: 1, leader_epoch: 0, isr: vec![1, 2, 3] };
        let creates: Vec<StateCreate> =
            (0..20_000).map(|p| StateCreate::new("t", p, &state, 1)).collect();
        let runs = multi_runs(&creates, 1000);
        assert!(runs.len() > 1);
        assert_eq!(runs.first().unwrap().start, 0);
        assert_eq!(runs.last().unwrap().end, creates.len());
        for (i, run) in runs.iter().enumerate() {
            let first = if i == 0 { 1000 } else { 0 };
            let bytes: usize = creates[run.clone()].iter().map(StateCreate::bytes).sum();
            assert!(first + bytes <= MAX_MULTI_BYTES, "run {i}: {bytes} bytes");
            assert!(runs.get(i + 1).is_none_or(|next| next.start == run.end));
        }
        assert_eq!(multi_runs(&[], 0), vec![0..0]);
    }

    /// A leader taking a returning follower back into a thousand ISRs
    /// writes a thousand states at once; the writes that wait while one
    /// image read runs share the next one instead of reading an image each
    /// (thousands of whole images held at once took a controller to 20 GB).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_image_reads() {
        let dir = tempfile::tempdir().unwrap();
        let store = embedded_store(dir.path()).await;
        let state = PartitionState { leader: 1, leader_epoch: 0, isr: vec![1] };
        let topic = new_topic("t", partitions_on_one(0..100));
        store.create_topic(topic).await.unwrap();
        let store = Arc::new(store);
        let before = store.publisher.reads.load(std::sync::atomic::Ordering::SeqCst);
        let writes: Vec<_> = (0..100)
            .map(|p| {
                let store = store.clone();
                let state = PartitionState { isr: vec![1, 2], ..state.clone() };
                tokio::spawn(async move { store.set_partition_state("t", p, state).await })
            })
            .collect();
        for w in writes {
            w.await.unwrap().unwrap();
        }
        let reads = store.publisher.reads.load(std::sync::atomic::Ordering::SeqCst) - before;
        assert!(reads <= 50, "100 concurrent writes read the image {reads} times");
        let image = store.image();
        assert!(image.topics["t"].partitions.values().all(|p| p.state.isr == [1, 2]));
    }

    #[test]
    fn chroot_is_split_off_the_connect_string() {
        assert_eq!(super::split_chroot("h:2181/kafka"), ("h:2181", Some("/kafka")));
        assert_eq!(super::split_chroot("a:1,b:2/x/y"), ("a:1,b:2", Some("/x/y")));
        assert_eq!(super::split_chroot("h:2181"), ("h:2181", None));
        assert_eq!(super::split_chroot("h:2181/"), ("h:2181", None));
    }
}
