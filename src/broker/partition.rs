//! One partition replica on this broker: its log, its leadership state
//! (leader, leader epoch, ISR), its high watermark and its idempotent
//! producer state.
//!
//! Offsets: log start ≤ high watermark ≤ log end. Consumers read below the
//! high watermark. With the ISR holding only the leader, the high watermark
//! is the log end offset; followers' log end offsets enter
//! `maybe_increment_high_watermark` once replication exists.
//!
//! Lock order: `producers` → `state` → the log's own locks. Appends hold
//! `producers` for the whole check-append-record step, so two appends to
//! one partition never interleave their sequence checks.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::error::{log_error_code, ApiError};
use super::producer_state::{BatchSequence, Check, ProducerStateManager, NO_PRODUCER_ID};
use crate::log::{Log, LogAppendInfo};
use crate::protocol::ErrorCode;
use crate::record::{Batches, RecordBatch};
use crate::types::{LeaderEpoch, Offset, TopicPartition};

/// Leadership as last learned from the cluster metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderState {
    pub leader: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    pub replicas: Vec<i32>,
}

pub struct Partition {
    pub tp: TopicPartition,
    pub topic_id: uuid::Uuid,
    pub log: Arc<Log>,
    broker_id: i32,
    state: Mutex<LeaderState>,
    producers: Mutex<ProducerStateManager>,
    high_watermark: AtomicI64,
    /// The topic config overrides the log was last configured with.
    pub(crate) applied_configs: Mutex<BTreeMap<String, String>>,
}

/// Where a produced batch landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendResult {
    pub first_offset: i64,
    pub last_offset: i64,
    pub log_append_time: i64,
    pub log_start_offset: i64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Partition {
    /// Wraps an opened log; rebuilds the producer state from the batch
    /// headers in the log (blocking).
    pub fn new(
        tp: TopicPartition,
        topic_id: uuid::Uuid,
        log: Arc<Log>,
        broker_id: i32,
        state: LeaderState,
        configs: BTreeMap<String, String>,
    ) -> Result<Partition, ApiError> {
        let mut producers = ProducerStateManager::new();
        let headers = log
            .batch_headers_from(log.log_start_offset())
            .map_err(|e| ApiError::new(log_error_code(&e), e.to_string()))?;
        for b in headers.iter().filter(|b| b.producer_id.0 != NO_PRODUCER_ID) {
            producers.record(
                b.producer_id.0,
                b.producer_epoch,
                BatchSequence {
                    first_seq: b.base_sequence,
                    last_seq: b.last_sequence,
                    first_offset: b.base_offset.0,
                    last_offset: b.last_offset.0,
                },
            );
        }
        let hw = log.log_end_offset().0;
        Ok(Partition {
            tp,
            topic_id,
            log,
            broker_id,
            state: Mutex::new(state),
            producers: Mutex::new(producers),
            high_watermark: AtomicI64::new(hw),
            applied_configs: Mutex::new(configs),
        })
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// Without transactions the last stable offset is the high watermark.
    pub fn last_stable_offset(&self) -> i64 {
        self.high_watermark()
    }

    pub fn leader_state(&self) -> LeaderState {
        lock(&self.state).clone()
    }

    pub fn set_leader_state(&self, state: LeaderState) {
        *lock(&self.state) = state;
        self.maybe_increment_high_watermark();
    }

    pub fn is_leader(&self) -> bool {
        lock(&self.state).leader == self.broker_id
    }

    /// KIP-320: a client's `current_leader_epoch` (-1 = unknown) must match.
    pub fn check_leader_epoch(&self, current_leader_epoch: i32) -> Result<(), ErrorCode> {
        let state = lock(&self.state);
        if state.leader != self.broker_id {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        match current_leader_epoch {
            -1 => Ok(()),
            e if e < state.leader_epoch => Err(ErrorCode::FencedLeaderEpoch),
            e if e > state.leader_epoch => Err(ErrorCode::UnknownLeaderEpoch),
            _ => Ok(()),
        }
    }

    /// Raises the high watermark to the smallest log end offset in the ISR;
    /// with the leader alone in the ISR that is its own log end offset.
    /// Returns whether it moved.
    pub fn maybe_increment_high_watermark(&self) -> bool {
        let leo = self.log.log_end_offset().0;
        let old = self.high_watermark.load(Ordering::Acquire);
        if leo > old {
            self.high_watermark.fetch_max(leo, Ordering::AcqRel);
            // The log keeps retention and DeleteRecords below the HW.
            self.log.update_high_watermark(Offset(leo));
            return true;
        }
        false
    }

    /// Validates, de-duplicates and appends produced batches (blocking).
    pub fn append_records_to_leader(
        &self,
        records: &mut [u8],
        required_acks: i16,
        min_insync_replicas: usize,
    ) -> Result<AppendResult, ApiError> {
        let mut producers = lock(&self.producers);
        let (leader_epoch, isr_len) = {
            let s = lock(&self.state);
            if s.leader != self.broker_id {
                return Err(ApiError::new(
                    ErrorCode::NotLeaderOrFollower,
                    format!("This broker is not the leader of {}", self.tp),
                ));
            }
            (s.leader_epoch, s.isr.len())
        };
        if required_acks == -1 && isr_len < min_insync_replicas {
            return Err(ApiError::new(
                ErrorCode::NotEnoughReplicas,
                format!("The size of the current ISR {isr_len} is insufficient to satisfy the min.isr requirement of {min_insync_replicas} for partition {}", self.tp),
            ));
        }
        let producer = producer_of(records)?;
        if let Some(p) = &producer {
            match producers.check(p.id, p.epoch, p.first_seq, p.last_seq) {
                Check::Append => {}
                Check::Duplicate { first_offset, last_offset } => {
                    return Ok(AppendResult {
                        first_offset,
                        last_offset,
                        log_append_time: -1,
                        log_start_offset: self.log.log_start_offset().0,
                    });
                }
                Check::Reject(code) => {
                    return Err(ApiError::new(
                        code,
                        format!(
                            "producer {} epoch {} sequence {} rejected on {}",
                            p.id, p.epoch, p.first_seq, self.tp
                        ),
                    ));
                }
            }
        }
        let info: LogAppendInfo = self
            .log
            .append_as_leader(records, LeaderEpoch(leader_epoch))
            .map_err(|e| ApiError::new(log_error_code(&e), e.to_string()))?;
        if let Some(p) = producer {
            producers.record(
                p.id,
                p.epoch,
                BatchSequence {
                    first_seq: p.first_seq,
                    last_seq: p.last_seq,
                    first_offset: info.first_offset.0,
                    last_offset: info.last_offset.0,
                },
            );
        }
        drop(producers);
        self.maybe_increment_high_watermark();
        Ok(AppendResult {
            first_offset: info.first_offset.0,
            last_offset: info.last_offset.0,
            log_append_time: info.log_append_time,
            log_start_offset: info.log_start_offset.0,
        })
    }

    pub fn log_start_offset(&self) -> Offset {
        self.log.log_start_offset()
    }
}

/// The idempotent producer behind a produce request's batches: producers
/// send one batch per partition, or several with consecutive sequences.
struct ProducerBatch {
    id: i64,
    epoch: i16,
    first_seq: i32,
    last_seq: i32,
}

fn producer_of(records: &[u8]) -> Result<Option<ProducerBatch>, ApiError> {
    let corrupt = |e: crate::record::Error| ApiError::new(ErrorCode::CorruptMessage, e.to_string());
    let first = RecordBatch::parse(records).map_err(corrupt)?;
    if first.producer_id() == NO_PRODUCER_ID {
        return Ok(None);
    }
    let mut out = ProducerBatch {
        id: first.producer_id(),
        epoch: first.producer_epoch(),
        first_seq: first.base_sequence(),
        last_seq: first.last_sequence(),
    };
    for batch in Batches::new(records).skip(1) {
        let b = batch.map_err(corrupt)?;
        if b.producer_id() != out.id
            || b.producer_epoch() != out.epoch
            || b.base_sequence() != out.last_seq.wrapping_add(1)
        {
            return Err(ApiError::new(
                ErrorCode::InvalidRecord,
                "batches of one request must continue one producer's sequence",
            ));
        }
        out.last_seq = b.last_sequence();
    }
    Ok(Some(out))
}
