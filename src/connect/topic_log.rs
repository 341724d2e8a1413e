//! A compacted topic read from the beginning and written with keys (Kafka
//! Connect's `KafkaBasedLog`): distributed workers keep connector configs,
//! source offsets and statuses in three of them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use crate::client::admin::{Admin, NewTopic, OffsetSpec};
use crate::client::consumer::{Consumer, ConsumerConfig, StartOffset};
use crate::client::producer::{Producer, ProducerConfig, ProducerRecord};
use crate::client::{Cluster, Error as ClientError};

use super::error::{Error, Result};

pub struct TopicLog {
    pub topic: String,
    cluster: Arc<Cluster>,
    producer: Mutex<Producer>,
    consumer: Mutex<Consumer>,
}

/// One record read back: key and value (`None` = tombstone).
pub type Entry = (Vec<u8>, Option<Vec<u8>>);

impl TopicLog {
    /// Creates the topic (compacted) if it is missing, then opens it.
    pub async fn open(
        cluster: Arc<Cluster>,
        topic: &str,
        partitions: i32,
        replication_factor: i16,
    ) -> Result<Self> {
        let admin = Admin::new(cluster.clone());
        let new = NewTopic {
            name: topic.to_string(),
            partitions: Some(partitions),
            replication_factor: Some(replication_factor),
            assignment: None,
            configs: vec![("cleanup.policy".into(), "compact".into())],
        };
        match admin.create_topic(&new).await {
            Ok(()) => tracing::info!("Created topic {topic} (compacted, {partitions} partitions)"),
            Err(ClientError::Broker {
                code: kafka_protocol::error::ResponseError::TopicAlreadyExists,
                ..
            }) => {}
            Err(e) => {
                return Err(Error::Config(format!(
                    "Unable to create topic {topic} with {partitions} partitions and replication factor {replication_factor}: {e}"
                )))
            }
        }
        let producer_config =
            ProducerConfig { linger: Duration::ZERO, ..ProducerConfig::default() };
        let producer = Producer::new(cluster.clone(), producer_config).await?;
        let consumer_config = ConsumerConfig {
            max_wait: Duration::from_millis(100),
            reset: StartOffset::Earliest,
            ..ConsumerConfig::default()
        };
        let mut consumer = Consumer::new(cluster.clone(), consumer_config);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let partitions = loop {
            match consumer.partitions_of(topic).await {
                Ok(p) if !p.is_empty() => break p,
                Ok(_) | Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Ok(_) => return Err(Error::Config(format!("topic {topic} has no partitions"))),
                Err(e) => return Err(e.into()),
            }
        };
        let assigned: Vec<(String, i32)> =
            partitions.iter().map(|p| (topic.to_string(), *p)).collect();
        consumer.assign(&assigned, StartOffset::Earliest).await?;
        Ok(TopicLog {
            topic: topic.to_string(),
            cluster,
            producer: Mutex::new(producer),
            consumer: Mutex::new(consumer),
        })
    }

    /// Writes one keyed record and waits for it to be acknowledged.
    pub async fn send(&self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        let mut producer = self.producer.lock().await;
        let record = ProducerRecord { key: Some(key), value, ..Default::default() };
        producer.send(&self.topic, record, 0).await?;
        producer.flush().await?;
        if let Some(f) = producer.take_failures().into_iter().next() {
            return Err(Error::Data(format!("Failed to write to {}: {}", self.topic, f.error)));
        }
        Ok(())
    }

    /// Reads everything written up to now (the end offsets of this call),
    /// handing each record to `f` in offset order per partition.
    pub async fn read_to_end(&self, mut f: impl FnMut(Entry)) -> Result<()> {
        let mut consumer = self.consumer.lock().await;
        let partitions = consumer.topic_partitions(&self.topic).await?;
        let ends: BTreeMap<(String, i32), i64> =
            Admin::new(self.cluster.clone()).list_offsets(&partitions, OffsetSpec::Latest).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let behind = ends
                .iter()
                .any(|((t, p), end)| consumer.position(t, *p).is_none_or(|pos| pos < *end));
            if !behind {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Error::Data(format!("timed out reading {} to its end", self.topic)));
            }
            for fetched in consumer.poll(Duration::from_millis(200)).await? {
                fetched.for_each_record(|r| {
                    f((
                        r.record.key.unwrap_or_default().to_vec(),
                        r.record.value.map(<[u8]>::to_vec),
                    ));
                    Ok(true)
                })?;
            }
        }
    }
}
