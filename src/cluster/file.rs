//! A [`MetadataStore`] kept in one JSON file, for a single broker without
//! ZooKeeper. Every write replaces the file atomically (write, fsync,
//! rename, fsync the directory), then publishes the new image.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{
    BrokerRegistration, ClusterImage, Error, MetadataStore, PartitionMetadata, PartitionState,
    ProducerIdBlock, StoreFuture, TopicMetadata,
};

/// The file's name inside the log dir.
pub const FILE_NAME: &str = "cluster-metadata.json";

/// Broker ids generated here start above Kafka's `reserved.broker.max.id`.
const FIRST_GENERATED_BROKER_ID: i32 = 1001;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Persisted {
    version: i32,
    image: ClusterImage,
    next_broker_id: i32,
    next_producer_id: i64,
}

struct Inner {
    path: PathBuf,
    state: Mutex<Persisted>,
    /// What the file holds now, so changes to ephemeral state only (broker
    /// registration) cost no write.
    written: Mutex<Vec<u8>>,
    tx: watch::Sender<Arc<ClusterImage>>,
}

#[derive(Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

impl FileStore {
    /// Opens (or creates, with a new cluster id) the store in `dir`.
    /// Brokers registered by an earlier run are forgotten: registration is
    /// ephemeral, as in ZooKeeper.
    pub fn open(dir: &Path) -> Result<FileStore, Error> {
        let path = dir.join(FILE_NAME);
        let mut written = Vec::new();
        let state = match std::fs::read(&path) {
            Ok(bytes) => {
                let state = serde_json::from_slice::<Persisted>(&bytes)
                    .map_err(|e| Error::Corrupt { path: path.clone(), reason: e.to_string() })?;
                written = bytes;
                state
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir)
                    .map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
                Persisted {
                    version: 1,
                    image: ClusterImage {
                        cluster_id: super::new_cluster_id(),
                        controller_id: -1,
                        ..Default::default()
                    },
                    next_broker_id: FIRST_GENERATED_BROKER_ID,
                    next_producer_id: 0,
                }
            }
            Err(source) => return Err(Error::Io { path, source }),
        };
        let bytes = encode(&path, &state)?;
        if bytes != written {
            write_atomically(&path, &bytes)?;
        }
        let (tx, _) = watch::channel(Arc::new(state.image.clone()));
        let inner = Inner { path, state: Mutex::new(state), written: Mutex::new(bytes), tx };
        Ok(FileStore { inner: Arc::new(inner) })
    }

    /// Applies `change` to the persisted state; on success writes the file
    /// and publishes the image. The file write runs off the reactor.
    fn update<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Persisted) -> Result<T, Error> + Send + 'static,
    ) -> StoreFuture<'_, T> {
        let inner = self.inner.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut guard = inner.state.lock().unwrap_or_else(|p| p.into_inner());
                let mut next = guard.clone();
                let out = change(&mut next)?;
                let bytes = encode(&inner.path, &next)?;
                let mut written = inner.written.lock().unwrap_or_else(|p| p.into_inner());
                if *written != bytes {
                    write_atomically(&inner.path, &bytes)?;
                    *written = bytes;
                }
                *guard = next;
                inner.tx.send_replace(Arc::new(guard.image.clone()));
                Ok(out)
            })
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))?
        })
    }
}

fn encode(path: &Path, state: &Persisted) -> Result<Vec<u8>, Error> {
    serde_json::to_vec_pretty(state)
        .map_err(|e| Error::Corrupt { path: path.to_path_buf(), reason: e.to_string() })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

impl MetadataStore for FileStore {
    fn image(&self) -> Arc<ClusterImage> {
        self.inner.tx.borrow().clone()
    }

    fn subscribe(&self) -> watch::Receiver<Arc<ClusterImage>> {
        self.inner.tx.subscribe()
    }

    fn generate_broker_id(&self) -> StoreFuture<'_, i32> {
        self.update(|s| {
            let id = s.next_broker_id;
            s.next_broker_id += 1;
            Ok(id)
        })
    }

    fn register_broker(&self, broker: BrokerRegistration) -> StoreFuture<'_, ()> {
        self.update(move |s| {
            // A lone broker is its own controller, as the first broker to
            // create /controller is in ZooKeeper mode.
            if s.image.controller_id < 0 {
                s.image.controller_id = broker.id;
            }
            s.image.brokers.insert(broker.id, broker);
            Ok(())
        })
    }

    fn create_topic(&self, topic: TopicMetadata) -> StoreFuture<'_, ()> {
        self.update(move |s| {
            if s.image.topics.contains_key(&topic.name) {
                return Err(Error::TopicExists(topic.name));
            }
            s.image.topics.insert(topic.name.clone(), topic);
            Ok(())
        })
    }

    fn delete_topic(&self, name: &str) -> StoreFuture<'_, ()> {
        let name = name.to_string();
        self.update(move |s| match s.image.topics.remove(&name) {
            Some(_) => Ok(()),
            None => Err(Error::UnknownTopic(name)),
        })
    }

    fn create_partitions(
        &self,
        name: &str,
        added: BTreeMap<i32, PartitionMetadata>,
    ) -> StoreFuture<'_, ()> {
        let name = name.to_string();
        self.update(move |s| {
            let topic =
                s.image.topics.get_mut(&name).ok_or_else(|| Error::UnknownTopic(name.clone()))?;
            for (p, meta) in added {
                if topic.partitions.contains_key(&p) {
                    return Err(Error::PartitionExists { topic: name, partition: p });
                }
                topic.partitions.insert(p, meta);
            }
            Ok(())
        })
    }

    fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
    ) -> StoreFuture<'_, ()> {
        let name = name.to_string();
        self.update(move |s| {
            let topic =
                s.image.topics.get_mut(&name).ok_or_else(|| Error::UnknownTopic(name.clone()))?;
            topic.configs = configs;
            Ok(())
        })
    }

    fn set_partition_state(
        &self,
        topic: &str,
        partition: i32,
        state: PartitionState,
    ) -> StoreFuture<'_, ()> {
        let name = topic.to_string();
        self.update(move |s| {
            let topic =
                s.image.topics.get_mut(&name).ok_or_else(|| Error::UnknownTopic(name.clone()))?;
            let p = topic
                .partitions
                .get_mut(&partition)
                .ok_or_else(|| Error::UnknownTopic(format!("{name}-{partition}")))?;
            p.state = state;
            Ok(())
        })
    }

    fn allocate_producer_ids(
        &self,
        _broker_id: i32,
        count: i64,
    ) -> StoreFuture<'_, ProducerIdBlock> {
        self.update(move |s| {
            let first = s.next_producer_id;
            s.next_producer_id = first.saturating_add(count.max(1));
            Ok(ProducerIdBlock { first, last: s.next_producer_id - 1 })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, partitions: i32) -> TopicMetadata {
        TopicMetadata {
            name: name.into(),
            topic_id: uuid::Uuid::new_v4(),
            partitions: (0..partitions)
                .map(|p| {
                    (
                        p,
                        PartitionMetadata {
                            replicas: vec![1],
                            state: PartitionState { leader: 1, leader_epoch: 0, isr: vec![1] },
                        },
                    )
                })
                .collect(),
            configs: BTreeMap::new(),
        }
    }

    #[tokio::test]
    async fn survives_reopen_and_publishes_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::open(dir.path()).unwrap();
        let cluster_id = store.image().cluster_id.clone();
        assert_eq!(cluster_id.len(), 22, "Kafka's base64 uuid");
        let rx = store.subscribe();
        store
            .register_broker(BrokerRegistration { id: 1, host: "h".into(), port: 1, rack: None })
            .await
            .unwrap();
        store.create_topic(topic("a", 2)).await.unwrap();
        assert!(rx.has_changed().unwrap(), "subscribers learn of writes");
        assert!(
            matches!(store.create_topic(topic("a", 1)).await, Err(Error::TopicExists(_))),
            "names are unique"
        );
        let mut configs = BTreeMap::new();
        configs.insert("retention.ms".to_string(), "1000".to_string());
        store.set_topic_configs("a", configs.clone()).await.unwrap();
        let block = store.allocate_producer_ids(1, 10).await.unwrap();
        assert_eq!(block, ProducerIdBlock { first: 0, last: 9 });
        drop(store);

        let store = FileStore::open(dir.path()).unwrap();
        let image = store.image();
        assert_eq!(image.cluster_id, cluster_id, "the cluster id is stable");
        assert_eq!(image.topic("a").unwrap().partitions.len(), 2);
        assert_eq!(image.topic("a").unwrap().configs, configs, "configs persist");
        assert!(image.brokers.is_empty(), "registration does not outlive the process");
        assert_eq!(
            store.allocate_producer_ids(1, 1).await.unwrap().first,
            10,
            "ids are never reused"
        );
        store.delete_topic("a").await.unwrap();
        assert!(matches!(store.delete_topic("a").await, Err(Error::UnknownTopic(_))));
    }
}
