//! What the group coordinator and the transaction coordinator
//! (`crate::transaction`) have in common as state machines: a partition of
//! their internal topic is loaded by replaying it, fenced while its
//! leadership is in doubt and dropped when it moves away; timers and append
//! outcomes come back to them as calls. The broker's runtime drives either
//! one through this trait alone.

use super::records::RecordError;
use super::{AppendError, AppendId};

/// One stored record of a coordinator's internal topic, as replay takes it.
pub struct LoadedRecord {
    pub offset: i64,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
    /// The producer of a transactional batch's record or marker, else -1.
    pub producer_id: i64,
    /// `Some(commit)` for a transaction marker (key and value empty).
    pub marker: Option<bool>,
}

/// A coordinator's state machine, as whatever owns it and its log sees it.
pub trait StateMachine {
    /// What a call returns: records to append, answers, and whatever else
    /// the coordinator asks of its runtime.
    type Output: Default;

    /// Fences (or lifts the fence on) everything the state machine holds;
    /// the loaded state stays, for when the fence lifts.
    fn set_fenced(&mut self, fenced: bool);

    /// The earliest time at which [`Self::tick`] has work. It may already
    /// have passed, so the runtime checks it after every call.
    fn next_deadline(&self) -> Option<i64>;

    /// Fires every timer due at or before `now`.
    fn tick(&mut self, now: i64) -> Self::Output;

    /// How an append ended; `Ok` carries the log offset of its first record.
    fn append_completed(
        &mut self,
        now: i64,
        id: AppendId,
        result: Result<i64, AppendError>,
    ) -> Self::Output;

    /// Starts loading a partition this broker now leads, at `leader_epoch`;
    /// its requests answer COORDINATOR_LOAD_IN_PROGRESS until it completes.
    fn begin_loading(&mut self, partition: i32, leader_epoch: i32);

    /// Replays one stored record of a loading partition, in log order. A
    /// record that cannot be read is refused (the error says why); loading
    /// goes on without it.
    fn replay_record(&mut self, partition: i32, record: &LoadedRecord) -> Result<(), RecordError>;

    /// Installs what the replay of `partition` found.
    fn complete_loading(&mut self, now: i64, partition: i32) -> Self::Output;

    /// This broker no longer leads `partition`: what the state machine holds
    /// of it goes.
    fn unload(&mut self, partition: i32) -> Self::Output;
}
