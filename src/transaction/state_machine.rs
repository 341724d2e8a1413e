//! The transaction coordinator as the broker's runtime drives it: fencing,
//! its timers, the outcome of its appends, and loading a
//! `__transaction_state` partition on becoming its leader.

use std::collections::HashMap;

use crate::coordinator::{LoadedRecord, StateMachine};

use super::*;

impl StateMachine for TransactionCoordinator {
    type Output = Output;

    /// Fences (or lifts the fence on) every transactional id this
    /// coordinator holds; the loaded state stays, for when the fence lifts.
    fn set_fenced(&mut self, fenced: bool) {
        self.fenced = fenced;
    }

    /// When [`Self::tick`] wants to run next.
    fn next_deadline(&self) -> Option<i64> {
        self.next_expiry_check.into_iter().chain(self.next_id_expiry_check).min()
    }

    /// Runs the timers that are due: aborting transactions past their
    /// timeout, removing expired transactional ids.
    fn tick(&mut self, now: i64) -> Output {
        let mut out = Output::default();
        let abort_every = self.config.transaction_abort_timed_out_transaction_cleanup_interval_ms;
        if due(&mut self.next_expiry_check, now, abort_every) {
            out.extend(self.abort_timed_out(now));
        }
        let remove_every = self.config.transaction_remove_expired_transaction_cleanup_interval_ms;
        if due(&mut self.next_id_expiry_check, now, remove_every) {
            out.extend(self.remove_expired_ids(now));
        }
        out
    }

    /// The outcome of an append the coordinator asked for.
    fn append_completed(
        &mut self,
        now: i64,
        id: AppendId,
        result: Result<i64, AppendError>,
    ) -> Output {
        let Some(transit) = self.pending.remove(&id) else {
            return Output::default();
        };
        let coordinator_epoch = self.coordinator_epoch(&transit.transactional_id);
        let Some(m) = self.transactions.get_mut(&transit.transactional_id) else {
            return Output::default();
        };
        m.pending_state = None;
        let error = match (&result, coordinator_epoch) {
            (_, Err(e)) => Some(e),
            (Err(AppendError::NotLeader), _) => Some(ErrorCode::NotCoordinator),
            (Err(AppendError::Unavailable | AppendError::TimedOut), _) => {
                Some(ErrorCode::CoordinatorNotAvailable)
            }
            (Err(_), _) => Some(ErrorCode::UnknownServerError),
            (Ok(_), Ok(_)) => None,
        };
        if let Some(e) = error {
            // Kafka's append callback: the state stays where it was and the
            // client retries.
            if m.producer_epoch == NO_PRODUCER_EPOCH && m.state == TransactionState::Empty {
                self.transactions.remove(&transit.transactional_id);
            }
            return match transit.then {
                Then::InitProducerId(rid) => Output::respond(rid, Response::InitProducerId(Err(e))),
                Then::AddPartitions(rid) => Output::respond(rid, Response::AddPartitions(Err(e))),
                Then::SendMarkers(Some(rid)) => Output::respond(rid, Response::EndTxn(Err(e))),
                Then::SendMarkers(None) | Then::Nothing => Output::default(),
            };
        }
        *m = transit.target;
        let m = m.clone();
        if m.state == TransactionState::Dead {
            self.transactions.remove(&m.transactional_id);
        }
        self.schedule_expiry(now);
        let m = &m;
        match transit.then {
            Then::InitProducerId(rid) => Output::respond(
                rid,
                Response::InitProducerId(Ok((m.producer_id, m.producer_epoch))),
            ),
            Then::AddPartitions(rid) => Output::respond(rid, Response::AddPartitions(Ok(()))),
            Then::SendMarkers(rid) => {
                let mut out = Output::default();
                if let Some(rid) = rid {
                    out.responses.push((rid, Response::EndTxn(Ok(()))));
                }
                if let Some(job) = marker_job(m, coordinator_epoch.unwrap_or(-1)) {
                    out.markers.push(job);
                }
                out
            }
            Then::Nothing => Output::default(),
        }
    }

    /// Starts replaying `partition`; the leader epoch it is led at becomes
    /// the coordinator epoch of its transactions.
    fn begin_loading(&mut self, partition: i32, coordinator_epoch: i32) {
        self.unload(partition);
        self.partitions.insert(
            partition,
            PartitionLoad::Loading { coordinator_epoch, buffer: HashMap::new() },
        );
    }

    /// `__transaction_state` holds no transactional batches, so a marker
    /// there says nothing about its state.
    fn replay_record(&mut self, partition: i32, r: &LoadedRecord) -> Result<(), RecordError> {
        match r.marker {
            Some(_) => Ok(()),
            None => self.replay(partition, &r.key, r.value.as_deref()),
        }
    }

    /// Installs what replay found; transactions left in a Prepare state get
    /// their markers sent again (Kafka's `loadTransactionsForTxnTopicPartition`).
    fn complete_loading(&mut self, now: i64, partition: i32) -> Output {
        let Some(PartitionLoad::Loading { coordinator_epoch, buffer }) =
            self.partitions.remove(&partition)
        else {
            return Output::default();
        };
        let mut out = Output::default();
        for (id, value) in buffer {
            let Some(v) = value else { continue };
            let m = TransactionMetadata {
                transactional_id: id.clone(),
                producer_id: v.producer_id,
                producer_epoch: v.producer_epoch,
                last_producer_epoch: NO_PRODUCER_EPOCH,
                txn_timeout_ms: v.transaction_timeout_ms,
                state: v.state,
                partitions: v.partitions,
                txn_start_timestamp: v.start_timestamp_ms,
                txn_last_update_timestamp: v.last_update_timestamp_ms,
                pending_state: None,
            };
            out.markers.extend(marker_job(&m, coordinator_epoch));
            self.transactions.insert(id, m);
        }
        self.partitions.insert(partition, PartitionLoad::Loaded { coordinator_epoch });
        self.schedule_expiry(now);
        out
    }

    /// This broker no longer leads `partition`: its transactional ids go.
    fn unload(&mut self, partition: i32) -> Output {
        self.partitions.remove(&partition);
        let n = self.config.transaction_state_log_num_partitions;
        self.transactions.retain(|id, _| partition_for(id, n) != partition);
        Output::default()
    }
}
