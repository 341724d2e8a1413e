//! Startup, the accept loop and shutdown. Startup opens the metadata store,
//! settles the broker id, checks each log dir's meta.properties and
//! registers the broker; shutdown stops accepting, lets each connection
//! answer the request it is handling, then closes the store.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::connection::ListenerInfo;
use super::group_coordinator::{GroupCoordinatorHandle, OffsetsLog, ReplicaOffsetsLog};
use super::listeners::list_to_string;
use super::memory_pool::MemoryPool;
use super::replica_manager::ReplicaManager;
use super::txn_coordinator::{MarkerSender, TxnCoordinatorHandle};
use super::{connection, meta_properties, BrokerContext, Error, KafkaConfig};
use crate::cluster::zk_store::{ControllerSettings, ZkStore};
use crate::cluster::MetadataStore;

/// How long in-flight requests get to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves Kafka clients on `listeners` (bound from `config.listeners`, in
/// its order) until `shutdown` resolves.
pub async fn run(
    listeners: Vec<TcpListener>,
    mut config: KafkaConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    if listeners.len() != config.listeners.listeners.len() {
        return Err(Error::Io {
            path: "listeners".into(),
            source: std::io::Error::other(format!(
                "{} sockets bound for {} listeners",
                listeners.len(),
                config.listeners.listeners.len()
            )),
        });
    }
    for (i, listener) in listeners.iter().enumerate() {
        let local = listener
            .local_addr()
            .map_err(|source| Error::Io { path: "listener".into(), source })?;
        // A listener bound to port 0 (tests) advertises the port it got.
        config.listeners.set_bound_port(i, local.port());
    }
    // Bound before anything starts, so a taken port stops the broker at once.
    let metrics_listener = match &config.metrics_listener {
        Some((host, port)) => Some(bind_metrics(host, *port).await?),
        None => None,
    };
    // Accepting starts before the broker does: clients get their
    // ApiVersions answer at once and their other requests once it is up.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (accepted_tx, mut accepted_rx) = mpsc::channel(64);
    let mut acceptors = JoinSet::new();
    for (listener, l) in listeners.into_iter().zip(&config.listeners.listeners) {
        let info = Arc::new(ListenerInfo {
            name: l.name.clone(),
            security_protocol: l.security_protocol,
            tls: config.tls.get(&l.name).cloned(),
        });
        acceptors.spawn(accept_loop(listener, info, accepted_tx.clone()));
    }
    drop(accepted_tx);
    let mut connections = JoinSet::new();
    let (ready_tx, ready_rx) = watch::channel(None);
    let max_request = config.socket_request_max_bytes;
    let starting = start(config);
    tokio::pin!(starting);
    let (ctx, embedded_zookeeper) = loop {
        tokio::select! {
            started = &mut starting => break started?,
            Some((stream, peer, listener)) = accepted_rx.recv() => {
                connections.spawn(connection::serve_starting(
                    ready_rx.clone(),
                    stream,
                    peer,
                    listener,
                    stop_rx.clone(),
                    max_request,
                ));
            }
        }
    };
    let ctx = Arc::new(ctx);
    ready_tx.send_replace(Some(ctx.clone()));
    let metrics = metrics_listener.map(|l| tokio::spawn(serve_metrics(l, Arc::downgrade(&ctx))));
    tracing::info!(
        "kafka-rs broker {} started: listening on {} (advertised {}, inter-broker {}), log dirs {}",
        ctx.broker_id,
        list_to_string(&ctx.config.listeners.listeners),
        list_to_string(&ctx.config.listeners.advertised),
        ctx.config.listeners.inter_broker_listener_name,
        ctx.config.log_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(",")
    );

    let follower = tokio::spawn(follow_metadata(ctx.clone()));
    let isr_expiration = tokio::spawn(ctx.replicas.clone().run_isr_expiration());
    // Clients keep being served while the controller moves leaderships away.
    let stopping_ctx = ctx.clone();
    let stopping = async move {
        shutdown.await;
        super::shutdown::controlled_shutdown(&stopping_ctx).await;
    };
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            _ = &mut stopping => break,
            accepted = accepted_rx.recv() => match accepted {
                Some((stream, peer, listener)) => {
                    connections.spawn(connection::serve(
                        ctx.clone(),
                        stream,
                        peer,
                        listener,
                        stop_rx.clone(),
                        bytes::BytesMut::new(),
                    ));
                }
                None => break,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    acceptors.shutdown().await;

    tracing::info!("shutting down broker {}", ctx.broker_id);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "{} connections still busy after {DRAIN_TIMEOUT:?}; closing them",
            connections.len()
        );
        connections.shutdown().await;
    }
    follower.abort();
    isr_expiration.abort();
    if let Some(m) = metrics {
        m.abort();
    }
    let replicas = ctx.replicas.clone();
    let _ = tokio::task::spawn_blocking(move || replicas.shutdown()).await;
    let broker_id = ctx.broker_id;
    // The store's session must end before the server it talks to.
    ready_tx.send_replace(None);
    drop((ctx, ready_rx));
    if let Some(zk) = embedded_zookeeper {
        zk.stop().await;
    }
    tracing::info!("broker {broker_id} shut down");
    Ok(())
}

async fn bind_metrics(host: &str, port: u16) -> Result<TcpListener, Error> {
    let listener = TcpListener::bind((host, port)).await.map_err(|source| Error::Io {
        path: format!("metrics.listener http://{host}:{port}").into(),
        source,
    })?;
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("serving Prometheus metrics on http://{addr}/metrics");
    }
    Ok(listener)
}

/// Serves `/metrics`. Scrapes hold the context only while they run (a
/// keep-alive scraper must not keep the ZooKeeper session open past
/// shutdown).
async fn serve_metrics(listener: TcpListener, ctx: std::sync::Weak<BrokerContext>) {
    crate::metrics::serve(listener, move || {
        let ctx = ctx.clone();
        async move {
            let Some(ctx) = ctx.upgrade() else { return String::new() };
            let groups = ctx
                .groups
                .read(|c| super::metrics::GroupsSnapshot { groups: c.committed_offsets() })
                .await
                .unwrap_or_default();
            tokio::task::spawn_blocking(move || super::metrics::render(&ctx, &groups))
                .await
                .unwrap_or_default()
        }
    })
    .await
}

/// Accepts connections on one listener until the broker stops.
async fn accept_loop(
    listener: TcpListener,
    info: Arc<ListenerInfo>,
    accepted: mpsc::Sender<(TcpStream, SocketAddr, Arc<ListenerInfo>)>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                if accepted.send((stream, peer, info.clone())).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(listener = %info.name, "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Every `log.dirs` entry exists, is a directory and takes a new file; the
/// first that does not stops the broker before it binds or waits on
/// ZooKeeper, with the directory and the OS error in one line.
pub fn check_log_dirs(dirs: &[std::path::PathBuf]) -> Result<(), Error> {
    for dir in dirs {
        match crate::log::manager::create_and_validate_log_dir(dir) {
            Ok(()) => {}
            Err(crate::log::Error::Io { source, .. }) => {
                return Err(Error::InvalidLogDir { dir: dir.clone(), cause: source })
            }
            Err(e) => return Err(Error::LogDirs(e.into())),
        }
    }
    Ok(())
}

/// How often partitions whose log could not be opened are tried again.
const REOPEN_INTERVAL: Duration = Duration::from_secs(5);

/// Applies every metadata change, whoever made it, to the hosted replicas.
/// While a partition's log cannot be opened (say, the disk is full), tries
/// again every [`REOPEN_INTERVAL`], so it comes up once space returns.
async fn follow_metadata(ctx: Arc<BrokerContext>) {
    let mut changes = ctx.store.subscribe();
    // The first apply, at start-up, may have failed too.
    let mut retry = true;
    loop {
        if retry {
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(REOPEN_INTERVAL) => {}
            }
        } else if changes.changed().await.is_err() {
            return;
        }
        retry = !ctx.apply_metadata().await.is_empty();
    }
}

/// Opens the metadata store and registers this broker.
async fn start(config: KafkaConfig) -> Result<(BrokerContext, Option<EmbeddedZooKeeper>), Error> {
    let first_dir = config.log_dirs[0].clone();
    let dirs = config.log_dirs.clone();
    tokio::task::spawn_blocking(move || check_log_dirs(&dirs)).await.map_err(|e| Error::Io {
        path: "log dirs".into(),
        source: std::io::Error::other(e.to_string()),
    })??;
    let mut embedded = None;
    let store: Arc<dyn MetadataStore> = match &config.zookeeper_connect {
        Some(zk) => {
            let timeout = Duration::from_millis(config.zookeeper_session_timeout_ms);
            tracing::info!("keeping cluster metadata in ZooKeeper at {zk}");
            Arc::new(ZkStore::open(zk, timeout, controller_settings(&config)).await?)
        }
        None => {
            let (addr, zk) = start_embedded_zookeeper(&config, &first_dir).await?;
            embedded = Some(zk);
            let timeout = Duration::from_millis(config.zookeeper_session_timeout_ms);
            tracing::info!("keeping cluster metadata in the embedded ZooKeeper at {addr}");
            Arc::new(ZkStore::open(&addr.to_string(), timeout, controller_settings(&config)).await?)
        }
    };
    let broker_id = match (config.broker_id, meta_properties::stored_broker_id(&config.log_dirs)) {
        (id, _) if id >= 0 => id,
        (_, Some(stored)) => stored,
        _ => store.generate_broker_id().await?,
    };
    let cluster_id = store.image().cluster_id.clone();
    for dir in &config.log_dirs {
        meta_properties::check_or_write(dir, broker_id, &cluster_id)?;
    }
    let config = Arc::new(config);
    let replicas = {
        let (config, store) = (config.clone(), store.clone());
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || ReplicaManager::open(config, broker_id, store, runtime))
            .await
            .map_err(|e| Error::Io {
                path: "log dirs".into(),
                source: std::io::Error::other(e.to_string()),
            })??
    };
    let replicas = Arc::new(replicas);
    let offsets_log: Arc<dyn OffsetsLog> = Arc::new(ReplicaOffsetsLog::new(
        replicas.clone(),
        Duration::from_millis(config.offsets_commit_timeout_ms),
    ));
    let groups = GroupCoordinatorHandle::start(
        config.groups.clone(),
        offsets_log.clone(),
        store.session_lease(),
    );
    let txn_log: Arc<dyn OffsetsLog> = Arc::new(ReplicaOffsetsLog::for_topic(
        crate::transaction::TRANSACTION_STATE_TOPIC_NAME,
        replicas.clone(),
        Duration::from_millis(config.offsets_commit_timeout_ms),
        config.transaction_state_log_min_isr.max(1) as usize,
    ));
    let markers = Arc::new(MarkerSender {
        images: store.subscribe(),
        broker_id,
        socket_timeout: Duration::from_millis(config.replication.socket_timeout_ms),
        listener: config.listeners.inter_broker_listener_name.clone(),
        security: config.inter_broker_security.clone(),
    });
    let txns = TxnCoordinatorHandle::start(
        config.transactions.clone(),
        txn_log.clone(),
        markers,
        store.session_lease(),
    );
    let request_pool = MemoryPool::new(config.queued_max_request_bytes);
    let quotas = super::quota::ClientQuotaManager::new(config.quota, store.client_quotas());
    let authorizer = match &config.authorizer {
        Some(a) => Some(super::authorizer::Authorizer::start(a.clone(), store.clone()).await?),
        None => None,
    };
    let fetch_sessions = super::fetch_session::FetchSessionCache::new(config.fetch_sessions);
    let ctx = BrokerContext {
        fetch_sessions,
        authorizer,
        config,
        quotas,
        request_pool,
        broker_id,
        store,
        replicas,
        producer_ids: Default::default(),
        groups,
        txns,
    };
    ctx.store.register_broker(ctx.registration()).await?;
    ctx.apply_metadata().await;
    ctx.groups.follow_leadership(broker_id, ctx.store.subscribe(), offsets_log);
    ctx.txns.follow_leadership(broker_id, ctx.store.subscribe(), txn_log);
    Ok((ctx, embedded))
}

/// What the controller obeys when this broker is the controller.
fn controller_settings(config: &KafkaConfig) -> ControllerSettings {
    let unclean = config.topic_default("unclean.leader.election.enable") == Some("true");
    ControllerSettings {
        controller: crate::controller::ControllerConfig { unclean_leader_election_enable: unclean },
        auto_leader_rebalance_enable: config.auto_leader_rebalance_enable,
        leader_imbalance_check_interval: Duration::from_secs(
            config.leader_imbalance_check_interval_seconds,
        ),
        leader_imbalance_per_broker_percentage: config.leader_imbalance_per_broker_percentage,
    }
}

/// The ZooKeeper server a broker runs in-process when no
/// `zookeeper.connect` is given, so one command gives a whole cluster.
struct EmbeddedZooKeeper {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), crate::zk::Error>>,
}

impl EmbeddedZooKeeper {
    /// Stops it after the broker has closed its session, so the broker's
    /// ephemeral registration is deleted cleanly and everything is on disk.
    async fn stop(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Err(e)) => tracing::warn!("embedded ZooKeeper stopped with an error: {e}"),
            Err(e) => tracing::warn!("embedded ZooKeeper task failed: {e}"),
            Ok(Ok(())) => {}
        }
    }
}

/// Binds 127.0.0.1:`embedded.zookeeper.port` and serves ZooKeeper from
/// `<first log dir>/zookeeper` (not a `<topic>-<partition>` name, so the log
/// manager leaves it alone).
async fn start_embedded_zookeeper(
    config: &KafkaConfig,
    first_dir: &std::path::Path,
) -> Result<(std::net::SocketAddr, EmbeddedZooKeeper), Error> {
    let port = config.embedded_zookeeper_port;
    let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|source| Error::Io {
        path: format!(
            "embedded ZooKeeper listener 127.0.0.1:{port} (set zookeeper.connect to use a \
             running ZooKeeper, or embedded.zookeeper.port)"
        )
        .into(),
        source,
    })?;
    let addr =
        listener.local_addr().map_err(|source| Error::Io { path: "listener".into(), source })?;
    let mut zk_config = crate::zk::Config::new(first_dir.join("zookeeper"));
    zk_config.client_port = addr.port();
    zk_config.expire_recovered_sessions = true;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(crate::zk::run(listener, zk_config, async move {
        let _ = stopped.await;
    }));
    Ok((addr, EmbeddedZooKeeper { stop, task }))
}
