//! Test doubles for the coordinator runtimes: an in-memory internal topic,
//! metadata that makes this broker its leader, a wait for a load, and a
//! manual clock's step.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::{CoordinatorHandle, CoordinatorState, OffsetsLog, ReplicatedFuture};
use crate::cluster::ClusterImage;
use crate::coordinator::AppendError;
use crate::time::ManualClock;

/// A coordinator's internal topic as plain byte vectors, one per partition.
#[derive(Default)]
pub struct MemoryLog(Mutex<HashMap<i32, Vec<Vec<u8>>>>);

impl OffsetsLog for MemoryLog {
    fn append(&self, partition: i32, batch: &mut [u8]) -> Result<i64, AppendError> {
        let mut logs = self.0.lock().unwrap();
        let log = logs.entry(partition).or_default();
        let base: i64 = log
            .iter()
            .map(|b| i64::from(crate::record::RecordBatch::parse(b).unwrap().records_count()))
            .sum();
        batch[..8].copy_from_slice(&base.to_be_bytes());
        log.push(batch.to_vec());
        Ok(base)
    }

    fn replicated(&self, _partition: i32, _last_offset: i64) -> ReplicatedFuture {
        Box::pin(async { Ok(()) })
    }

    fn read(&self, partition: i32, offset: i64, _max: usize) -> Result<Vec<u8>, String> {
        let logs = self.0.lock().unwrap();
        let mut out = Vec::new();
        for b in logs.get(&partition).into_iter().flatten() {
            if crate::record::RecordBatch::parse(b).unwrap().next_offset() > offset {
                out.extend_from_slice(b);
            }
        }
        Ok(out)
    }
}

/// Metadata in which `broker` leads every partition of `topic` at epoch 0.
pub fn image_leading(topic: &str, num_partitions: i32, broker: i32) -> Arc<ClusterImage> {
    use crate::cluster::{PartitionMetadata, PartitionState, TopicMetadata};
    let partitions = (0..num_partitions)
        .map(|p| {
            let state = PartitionState { leader: broker, leader_epoch: 0, isr: vec![broker] };
            (
                p,
                PartitionMetadata {
                    replicas: vec![broker],
                    state,
                    state_zk_version: 0,
                    adding_replicas: Vec::new(),
                    removing_replicas: Vec::new(),
                },
            )
        })
        .collect();
    let topic = TopicMetadata {
        name: topic.into(),
        topic_id: uuid::Uuid::new_v4(),
        partitions,
        configs: Default::default(),
    };
    let mut image = ClusterImage::default();
    image.topics.insert(topic.name.clone(), topic);
    Arc::new(image)
}

/// Waits (bounded) until the partition of `key` is loaded.
pub async fn wait_loaded<S: CoordinatorState, X: Send + 'static>(
    h: &CoordinatorHandle<S, X>,
    key: &str,
    is_loaded: fn(&S, i32) -> bool,
) {
    let p = h.partition_for(key);
    for _ in 0..6000 {
        if h.read(move |c| is_loaded(c, p)).await.unwrap() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("partition {p} never loaded");
}

/// Has `h` follow `images` as broker 1 over `log`, and waits (bounded)
/// until the partition of `key` is loaded.
pub async fn follow_and_load<S: CoordinatorState, X: Send + 'static>(
    h: &CoordinatorHandle<S, X>,
    images: watch::Receiver<Arc<ClusterImage>>,
    log: Arc<dyn OffsetsLog>,
    key: &str,
    is_loaded: fn(&S, i32) -> bool,
) {
    h.follow_leadership(1, images, log);
    wait_loaded(h, key, is_loaded).await;
}

/// Moves the runtime's clock on by `ms`. The runtime reads its clock
/// when a command arrives (as when its timer fires in production), so
/// the empty read that follows fires every timer now due.
pub async fn advance<S: CoordinatorState, X: Send + 'static>(
    h: &CoordinatorHandle<S, X>,
    clock: &ManualClock,
    ms: i64,
) {
    clock.advance(ms);
    h.read(|_| ()).await.unwrap();
}
