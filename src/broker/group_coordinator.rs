//! The group coordinator's runtime: one task owns the
//! [`crate::coordinator::GroupCoordinator`] state machine and feeds it
//! requests, timer wake-ups and append outcomes; a writer thread appends its
//! records to `__consumer_offsets` in the order they were produced; a loader
//! replays the `__consumer_offsets` partitions this broker leads whenever
//! leadership changes.
//!
//! The runtime owns the clock the state machine's timers (session and
//! rebalance timeouts, the initial rebalance delay, offset expiry) are read
//! by: the system clock in production, a manual one in tests, which then
//! drive time without waiting for it.
//!
//! Handlers call [`GroupCoordinatorHandle::call`] with a closure that runs
//! against the state machine; the answer comes back when the state machine
//! produces it (at once, or when a rebalance or an append completes).
use std::sync::Arc;

use tokio::sync::oneshot;

use super::coordinator_runtime::{
    ask, Command, CoordinatorAppend, CoordinatorHandle, CoordinatorOutput, CoordinatorState,
    OwnCommand, COMMAND_QUEUE,
};
pub use super::coordinator_runtime::{
    OffsetsLog, ReplicaOffsetsLog, ReplicatedFuture, Unavailable,
};
use crate::cluster::lease::{Role, SessionLease};
use crate::coordinator::{
    Append, AppendId, GroupConfig, GroupCoordinator, Output, RequestId, Response,
    GROUP_METADATA_TOPIC_NAME,
};
use crate::time::{Clock, SystemClock};

type UpdateFn = Box<dyn FnOnce(&mut GroupCoordinator, i64) -> Output + Send>;

/// A change that answers no request (a transaction's marker settling its
/// offsets), and who waits for it to run.
pub struct Update(UpdateFn, oneshot::Sender<()>);

impl OwnCommand<GroupCoordinator> for Update {
    fn run(self, coordinator: &mut GroupCoordinator, now: i64) -> Output {
        let Update(f, done) = self;
        let out = f(coordinator, now);
        let _ = done.send(());
        out
    }
}

impl CoordinatorState for GroupCoordinator {
    type Response = Response;
    const TOPIC: &'static str = GROUP_METADATA_TOPIC_NAME;
    const ROLE: Role = Role::Groups;
    const RELOAD_ON_NEW_EPOCH: bool = false;
    const WRITER: &'static str = "group-metadata-writer";
}

impl CoordinatorOutput for Output {
    type Append = Append;
    type Response = Response;

    fn extend(&mut self, more: Output) {
        Output::extend(self, more);
    }

    fn take_appends(&mut self) -> Vec<Append> {
        std::mem::take(&mut self.appends)
    }

    fn take_responses(&mut self) -> Vec<(RequestId, Response)> {
        std::mem::take(&mut self.responses)
    }
}

/// The broker's way into the group coordinator; cheap to clone.
pub type GroupCoordinatorHandle = CoordinatorHandle<GroupCoordinator, Update>;

impl CoordinatorHandle<GroupCoordinator, Update> {
    /// Starts the coordinator task and its writer thread.
    /// Requests are answered NOT_COORDINATOR while `lease` does not hold.
    pub fn start(
        config: GroupConfig,
        log: Arc<dyn OffsetsLog>,
        lease: Arc<SessionLease>,
    ) -> GroupCoordinatorHandle {
        Self::start_with_clock(config, log, lease, Arc::new(SystemClock))
    }

    /// As [`Self::start`], with the timers read by `clock`.
    pub fn start_with_clock(
        config: GroupConfig,
        log: Arc<dyn OffsetsLog>,
        lease: Arc<SessionLease>,
        clock: Arc<dyn Clock>,
    ) -> GroupCoordinatorHandle {
        Self::start_with_queue(config, log, lease, clock, COMMAND_QUEUE)
    }

    fn start_with_queue(
        config: GroupConfig,
        log: Arc<dyn OffsetsLog>,
        lease: Arc<SessionLease>,
        clock: Arc<dyn Clock>,
        queue: usize,
    ) -> GroupCoordinatorHandle {
        let num_partitions = config.offsets_topic_num_partitions;
        let coordinator = GroupCoordinator::new(config, fastrand::u64(..));
        // Its outputs hold nothing besides appends and answers.
        let rest = |_: &GroupCoordinatorHandle, _: Output| {};
        Self::start_task(coordinator, num_partitions, log, lease, clock, queue, rest)
    }

    /// Runs `f`, which answers no request, against the state machine and
    /// waits until it ran (a transaction's marker settling its offsets).
    pub async fn update(
        &self,
        f: impl FnOnce(&mut GroupCoordinator, i64) -> Output + Send + 'static,
    ) -> Result<(), Unavailable> {
        ask(&self.tx, |reply| Command::Own(Update(Box::new(f), reply))).await
    }
}

impl CoordinatorAppend for Append {
    fn id(&self) -> AppendId {
        self.id
    }
    fn partition(&self) -> i32 {
        self.partition
    }
    fn timestamp(&self) -> i64 {
        self.timestamp
    }
    fn records(&self) -> Vec<(&[u8], Option<&[u8]>)> {
        self.records.iter().map(|r| (&r.key[..], r.value.as_deref())).collect()
    }
    fn producer(&self) -> Option<(i64, i16)> {
        self.producer.map(|p| (p.producer_id, p.producer_epoch))
    }
}

#[cfg(test)]
mod tests;
