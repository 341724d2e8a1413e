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

use tokio::sync::{mpsc, oneshot};

use super::coordinator_runtime::{
    ask, next_command, replay_loaded, spawn_writer, Command, CoordinatorAppend, CoordinatorHandle,
    CoordinatorState, Requests, COMMAND_QUEUE,
};
pub use super::coordinator_runtime::{
    OffsetsLog, ReplicaOffsetsLog, ReplicatedFuture, Unavailable,
};
use crate::cluster::lease::{Role, SessionLease};
use crate::coordinator::{
    Append, AppendId, GroupConfig, GroupCoordinator, Output, Response, GROUP_METADATA_TOPIC_NAME,
};
use crate::time::{Clock, SystemClock};

type UpdateFn = Box<dyn FnOnce(&mut GroupCoordinator, i64) -> Output + Send>;

/// A change that answers no request (a transaction's marker settling its
/// offsets), and who waits for it to run.
pub struct Update(UpdateFn, oneshot::Sender<()>);

impl CoordinatorState for GroupCoordinator {
    type Output = Output;
    type Response = Response;
    const TOPIC: &'static str = GROUP_METADATA_TOPIC_NAME;
    const ROLE: Role = Role::Groups;
    const RELOAD_ON_NEW_EPOCH: bool = false;

    fn set_fenced(&mut self, fenced: bool) {
        GroupCoordinator::set_fenced(self, fenced);
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
        let (tx, rx) = mpsc::channel(queue);
        let (append_tx, append_rx) = std::sync::mpsc::channel::<Append>();
        spawn_writer("group-metadata-writer", log, append_rx, tx.clone(), Command::AppendDone);
        let coordinator = GroupCoordinator::new(config, fastrand::u64(..));
        tokio::spawn(run(coordinator, rx, append_tx, lease.clone(), clock));
        CoordinatorHandle::new(tx, num_partitions, lease)
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

async fn run(
    mut coordinator: GroupCoordinator,
    mut rx: mpsc::Receiver<Command<GroupCoordinator, Update>>,
    writer: std::sync::mpsc::Sender<Append>,
    lease: Arc<SessionLease>,
    clock: Arc<dyn Clock>,
) {
    let mut requests = Requests::new();
    loop {
        let Some(command) = next_command(&mut rx, coordinator.next_deadline(), &*clock).await
        else {
            return;
        };
        let now = clock.now_ms();
        let mut out = match requests.serve(&mut coordinator, now, command, &lease) {
            Ok(out) => out,
            Err(Command::Call(..) | Command::Read(_)) => unreachable!("served as requests"),
            Err(Command::Own(Update(f, done))) => {
                let out = f(&mut coordinator, now);
                let _ = done.send(());
                out
            }
            Err(Command::AppendDone(id, result)) => coordinator.append_completed(now, id, result),
            Err(Command::BeginLoading(p, _)) => {
                coordinator.begin_loading(p);
                Output::default()
            }
            Err(Command::Loaded(p, records)) => {
                replay_loaded::<GroupCoordinator, _>(p, &records, |r| match r.marker {
                    Some(commit) => {
                        coordinator.replay_marker(p, r.producer_id, commit);
                        Ok(())
                    }
                    None => coordinator.replay_batch_record(
                        p,
                        r.producer_id,
                        r.offset,
                        &r.key,
                        r.value.as_deref(),
                    ),
                });
                coordinator.complete_loading(now, p)
            }
            Err(Command::Unload(p)) => coordinator.unload(p),
        };
        while coordinator.next_deadline().is_some_and(|d| d <= now) {
            let more = coordinator.tick(now);
            out.appends.extend(more.appends);
            out.responses.extend(more.responses);
        }
        for append in out.appends {
            if writer.send(append).is_err() {
                tracing::error!("the group metadata writer stopped");
            }
        }
        requests.answer(out.responses);
    }
}

#[cfg(test)]
mod tests;
