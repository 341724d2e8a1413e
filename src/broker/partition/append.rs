//! Appends to a partition's log and the producer state they keep: the
//! leader's append of produced batches (validation and the idempotent
//! dedupe, Kafka's `analyzeAndValidateProducerState`), of a coordinator's
//! own batches and of transaction markers; the follower's append, which
//! replays the leader's batches into the producer state; and that state's
//! load on open and its snapshot files. Leadership, the high watermark and
//! the ISR stay in the parent module: an append reads them and then raises
//! the high watermark there.

use std::sync::atomic::Ordering;

use super::{lock, Partition};
use crate::broker::error::{log_error_code, ApiError};
use crate::broker::producer_state::{
    BatchSequence, Check, ProducerStateManager, TxnMarker, NO_PRODUCER_ID,
};
use crate::log::{BatchMetadata, Log, LogAppendInfo};
use crate::protocol::ErrorCode;
use crate::record::{Batches, RecordBatch};
use crate::sync::MutexExt;
use crate::types::{LeaderEpoch, Offset};

/// Where a produced batch landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendResult {
    pub first_offset: i64,
    pub last_offset: i64,
    pub log_append_time: i64,
    pub log_start_offset: i64,
}

impl AppendResult {
    fn of(info: &LogAppendInfo) -> Self {
        AppendResult {
            first_offset: info.first_offset.0,
            last_offset: info.last_offset.0,
            log_append_time: info.log_append_time,
            log_start_offset: info.log_start_offset.0,
        }
    }
}

impl Partition {
    /// Writes a COMMIT or ABORT marker as leader (WriteTxnMarkers): the
    /// producer's transaction ends here (blocking).
    pub fn append_txn_marker(&self, marker: &TxnMarker) -> Result<AppendResult, ApiError> {
        let mut producers = lock(&self.producers);
        let leader_epoch = {
            let s = lock(&self.state);
            if s.leader != self.broker_id {
                return Err(ApiError::new(
                    ErrorCode::NotLeaderOrFollower,
                    format!("This broker is not the leader of {}", self.tp),
                ));
            }
            s.leader_epoch
        };
        producers.check_marker(marker).map_err(|code| {
            ApiError::new(code, format!("marker for producer {} refused", marker.producer_id))
        })?;
        let control_type = if marker.commit {
            crate::record::control::COMMIT
        } else {
            crate::record::control::ABORT
        };
        let mut batch = crate::record::control::marker_batch(
            marker.producer_id,
            marker.producer_epoch,
            control_type,
            marker.coordinator_epoch,
            crate::time::now_ms(),
        )
        .map_err(|e| ApiError::new(ErrorCode::UnknownServerError, e.to_string()))?;
        let info = self
            .log
            .append_as_leader(&mut batch, LeaderEpoch(leader_epoch))
            .map_err(|e| ApiError::new(log_error_code(&e), e.to_string()))?;
        self.snapshot_at_roll(&producers, self.log.active_segment_base(), info.first_offset.0);
        complete_txn(&self.log, &mut producers, marker, info.first_offset.0)?;
        producers.prune_aborted_below(self.log.log_start_offset().0);
        self.publish_first_unstable(&mut producers);
        drop(producers);
        self.maybe_increment_high_watermark();
        self.waiters.wake();
        Ok(AppendResult::of(&info))
    }

    /// Validates, de-duplicates and appends produced batches (blocking).
    pub fn append_records_to_leader(
        &self,
        records: &mut [u8],
        required_acks: i16,
        min_insync_replicas: usize,
    ) -> Result<AppendResult, ApiError> {
        let result =
            self.append_to_leader_log(records, required_acks, min_insync_replicas, false, false);
        self.stats.produce_request(result.is_err());
        result.map(blocking)
    }

    /// [`Self::append_records_to_leader`] on an async worker thread: done
    /// only if it needs no more than a write into the page cache (see
    /// `log::append`) and no lock another thread holds; `None` if nothing
    /// was done, not even to `records`, and the append must run where it
    /// may block.
    pub fn try_append_records_to_leader_inline(
        &self,
        records: &mut [u8],
        required_acks: i16,
        min_insync_replicas: usize,
    ) -> Option<Result<AppendResult, ApiError>> {
        let result =
            self.append_to_leader_log(records, required_acks, min_insync_replicas, false, true);
        let result = result.transpose()?;
        self.stats.produce_request(result.is_err());
        Some(result)
    }

    /// Appends a coordinator's own batch to its internal topic (blocking):
    /// a transactional one (offsets of a TxnOffsetCommit) carries no
    /// sequence, so only its producer epoch is checked, as Kafka does for
    /// `AppendOrigin.Coordinator`.
    pub fn append_coordinator_records(
        &self,
        records: &mut [u8],
        min_insync_replicas: usize,
    ) -> Result<AppendResult, ApiError> {
        self.append_to_leader_log(records, -1, min_insync_replicas, true, false).map(blocking)
    }

    /// `inline`: the caller must not block (see
    /// [`Self::try_append_records_to_leader_inline`]); `Ok(None)` then means
    /// nothing was done. Coordinators' appends always may block.
    fn append_to_leader_log(
        &self,
        records: &mut [u8],
        required_acks: i16,
        min_insync_replicas: usize,
        from_coordinator: bool,
        inline: bool,
    ) -> Result<Option<AppendResult>, ApiError> {
        let mut producers = if inline {
            match self.producers.try_lock_or_recover() {
                Some(producers) => producers,
                None => return Ok(None),
            }
        } else {
            lock(&self.producers)
        };
        let producer = producer_of(records)?;
        let refuse = |producers: &mut ProducerStateManager, e: ApiError| {
            if let Some(p) = producer.as_ref().filter(|_| !from_coordinator) {
                producers.refused(p.id, p.epoch, p.first_seq, e.code);
            }
            Err(e)
        };
        let (leader_epoch, isr_len) = {
            let s = lock(&self.state);
            if s.leader != self.broker_id {
                let e = ApiError::new(
                    ErrorCode::NotLeaderOrFollower,
                    format!("This broker is not the leader of {}", self.tp),
                );
                drop(s);
                return refuse(&mut producers, e);
            }
            (s.leader_epoch, s.isr.len())
        };
        if required_acks == -1 && isr_len < min_insync_replicas {
            let e = ApiError::new(
                ErrorCode::NotEnoughReplicas,
                format!("The size of the current ISR {isr_len} is insufficient to satisfy the min.isr requirement of {min_insync_replicas} for partition {}", self.tp),
            );
            return refuse(&mut producers, e);
        }
        if let Some(p) = &producer {
            let check = if from_coordinator {
                producers.check_epoch(p.id, p.epoch)
            } else {
                producers.check(p.id, p.epoch, p.first_seq, p.last_seq)
            };
            match check {
                Check::Append => {}
                Check::Duplicate { first_offset, last_offset } => {
                    return Ok(Some(AppendResult {
                        first_offset,
                        last_offset,
                        log_append_time: -1,
                        log_start_offset: self.log.log_start_offset().0,
                    }));
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
        // A roll since the last producer snapshot means this append writes
        // one (`snapshot_at_roll`): a file, so not inline.
        let active_base = self.log.active_segment_base();
        if inline && active_base > self.snapshot_base.load(Ordering::Acquire) {
            return Ok(None);
        }
        if producer.as_ref().is_some_and(|p| p.transactional) {
            // Held back before the batch lands: a follower's fetch may raise
            // the high watermark past it before the state below records it.
            self.first_unstable_offset.fetch_min(self.log.log_end_offset().0, Ordering::AcqRel);
        }
        let epoch = LeaderEpoch(leader_epoch);
        let appended = if inline {
            self.log.try_append_as_leader_inline(records, epoch, active_base)
        } else {
            self.log.append_as_leader(records, epoch).map(Some)
        };
        let info: LogAppendInfo = match appended {
            Ok(Some(info)) => info,
            Ok(None) => {
                self.publish_first_unstable(&mut producers);
                return Ok(None);
            }
            Err(e) => {
                self.publish_first_unstable(&mut producers);
                return Err(ApiError::from_log(e));
            }
        };
        let messages = (info.last_offset.0 - info.first_offset.0 + 1).max(0) as u64;
        self.stats.appended(records.len(), messages);
        self.snapshot_at_roll(&producers, self.log.active_segment_base(), info.first_offset.0);
        if let Some(p) = producer {
            producers.record(
                p.id,
                p.epoch,
                BatchSequence {
                    first_seq: p.first_seq,
                    last_seq: p.last_seq,
                    first_offset: info.first_offset.0,
                    last_offset: info.last_offset.0,
                    max_timestamp: info.max_timestamp,
                },
                p.transactional,
            );
            self.publish_first_unstable(&mut producers);
        }
        drop(producers);
        self.maybe_increment_high_watermark();
        // Whoever appends, a client or a coordinator: followers' long polls
        // must not wait out their max wait for it.
        self.waiters.wake();
        Ok(Some(AppendResult::of(&info)))
    }

    /// Appends batches fetched from the leader as they are (offsets and
    /// epochs stay the leader's) and records their producers, so the
    /// idempotent dedupe works here after a failover (blocking).
    pub fn append_records_as_follower(
        &self,
        records: &mut [u8],
        leader_epoch: i32,
    ) -> Result<LogAppendInfo, ApiError> {
        let mut producers = lock(&self.producers);
        {
            let s = lock(&self.state);
            if s.leader == self.broker_id || s.leader_epoch != leader_epoch {
                return Err(ApiError::new(
                    ErrorCode::FencedLeaderEpoch,
                    format!("{} is no longer following at epoch {leader_epoch}", self.tp),
                ));
            }
        }
        let info = self
            .log
            .append_as_follower(records)
            .map_err(|e| ApiError::new(log_error_code(&e), e.to_string()))?;
        self.stats.replicated_in(records.len());
        let active_base = self.log.active_segment_base();
        for batch in Batches::new(records).flatten() {
            self.snapshot_at_roll(&producers, active_base, batch.base_offset());
            let marker = crate::record::control::end_txn_marker(&batch);
            replay(&self.log, &mut producers, &BatchMetadata::new(&batch.header(), marker))?;
        }
        self.publish_first_unstable(&mut producers);
        Ok(info)
    }

    /// Kafka's snapshot at roll: once the active segment is newer than the
    /// last snapshot, the state before the first batch at or past its base
    /// (`next_offset`) is written as `<base>.snapshot`. Called with
    /// `producers` held, before batches from `next_offset` are recorded.
    fn snapshot_at_roll(
        &self,
        producers: &ProducerStateManager,
        active_base: i64,
        next_offset: i64,
    ) {
        if active_base <= self.snapshot_base.load(Ordering::Acquire) || next_offset < active_base {
            return;
        }
        self.snapshot_base.store(active_base, Ordering::Release);
        if let Err(e) = self.log.write_producer_snapshot(active_base, &producers.to_snapshot()) {
            // Only start-up time is lost: it scans from an older snapshot.
            tracing::warn!(tp = %self.tp, "writing the producer snapshot: {e}");
        }
    }

    /// Writes the producer state at the log end (clean shutdown), so the
    /// next start reads it instead of the log (blocking). Nothing is
    /// written when a snapshot at the log end already holds it (Kafka's
    /// `takeSnapshot` skips an offset it has a snapshot of), nor for an
    /// empty log without producers: a start finds no snapshot, nothing to
    /// scan and so the same empty state. An idle broker's shutdown then
    /// writes no file per partition.
    pub fn snapshot_producer_state(&self) -> Result<(), crate::log::Error> {
        let producers = lock(&self.producers);
        let leo = self.log.log_end_offset().0;
        if self.log.producer_snapshot_offset() == Some(leo) {
            return Ok(());
        }
        let entries = producers.to_snapshot();
        if entries.is_empty() && leo == self.log.log_start_offset().0 {
            return Ok(());
        }
        self.log.write_producer_snapshot(leo, &entries)
    }
}

/// The answer of an append that may block, which is never refused.
fn blocking(result: Option<AppendResult>) -> AppendResult {
    result.expect("only inline appends are refused")
}

/// Applies a marker at `offset` and indexes the transaction it aborts.
fn complete_txn(
    log: &Log,
    producers: &mut ProducerStateManager,
    marker: &TxnMarker,
    offset: i64,
) -> Result<(), ApiError> {
    if let Some(aborted) = producers.complete_txn(marker, offset) {
        log.append_aborted_txn(&aborted)
            .map_err(|e| ApiError::new(log_error_code(&e), e.to_string()))?;
    }
    Ok(())
}

/// Loads the producer state: the newest snapshot and the transaction
/// indexes, then the batch headers past the snapshot (the whole log
/// without one), whose aborted transactions are indexed again.
pub(super) fn producer_state_of(log: &Log) -> Result<ProducerStateManager, ApiError> {
    let to_api = |e: crate::log::Error| ApiError::new(log_error_code(&e), e.to_string());
    let log_start = log.log_start_offset().0;
    let snapshot = log.load_producer_snapshot().map_err(to_api)?;
    let mut scan_from = snapshot.as_ref().map_or(log_start, |(offset, _)| *offset);
    let mut producers = match log.load_aborted_txns(scan_from).map_err(to_api)? {
        Some(aborted) => {
            let entries = snapshot.map(|(_, entries)| entries).unwrap_or_default();
            ProducerStateManager::from_snapshot(&entries, &aborted)
        }
        None => {
            scan_from = log_start;
            ProducerStateManager::new()
        }
    };
    producers.prune_aborted_below(log_start);
    let headers = log.batch_headers_from(Offset(scan_from)).map_err(to_api)?;
    tracing::debug!(
        dir = %log.dir().display(),
        scan_from,
        batches = headers.len(),
        "producer state loaded"
    );
    for b in &headers {
        replay(log, &mut producers, b)?;
    }
    Ok(producers)
}

/// What a batch already in the log (replicated from the leader, or read
/// back on load) does to the producer state: a marker completes its
/// producer's transaction, a data batch records its sequence range.
fn replay(
    log: &Log,
    producers: &mut ProducerStateManager,
    b: &BatchMetadata,
) -> Result<(), ApiError> {
    if b.producer_id.0 == NO_PRODUCER_ID {
        return Ok(());
    }
    if b.is_control {
        if let Some(m) = b.marker {
            let marker = TxnMarker {
                producer_id: b.producer_id.0,
                producer_epoch: b.producer_epoch,
                coordinator_epoch: m.coordinator_epoch,
                commit: m.control_type == crate::record::control::COMMIT,
            };
            complete_txn(log, producers, &marker, b.base_offset.0)?;
        }
        return Ok(());
    }
    producers.record(
        b.producer_id.0,
        b.producer_epoch,
        BatchSequence {
            first_seq: b.base_sequence,
            last_seq: b.last_sequence,
            first_offset: b.base_offset.0,
            last_offset: b.last_offset.0,
            max_timestamp: b.max_timestamp,
        },
        b.is_transactional,
    );
    Ok(())
}

/// The idempotent producer behind a produce request's batches: producers
/// send one batch per partition, or several with consecutive sequences.
struct ProducerBatch {
    id: i64,
    epoch: i16,
    first_seq: i32,
    last_seq: i32,
    transactional: bool,
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
        transactional: first.is_transactional(),
    };
    for batch in Batches::new(records).skip(1) {
        let b = batch.map_err(corrupt)?;
        if b.producer_id() != out.id
            || b.producer_epoch() != out.epoch
            || b.is_transactional() != out.transactional
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
