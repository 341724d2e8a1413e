//! The background flush of rolled segments: one queue and one thread per
//! log dir, shared by all its logs. A roll hands the old segment over and
//! moves on; the recovery point passes that segment only once its fsync is
//! done (Kafka schedules `flushUptoOffsetExclusive` the same way).
//!
//! A thread per roll would let a burst of rolls (many partitions, small
//! `segment.bytes`) start as many threads, all fsyncing the same disk at
//! once; a queue keeps the thread count fixed and the fsyncs in roll order.

use crate::sync::MutexExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Mutex;

pub(super) type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug, Default)]
pub(super) struct Flusher {
    /// Started on the first job: most logs opened by tools never roll.
    /// Dropping the sender (with the log dir's state) ends the thread once
    /// the queue is drained.
    queue: Mutex<Option<Sender<Job>>>,
    threads_started: AtomicUsize,
}

impl Flusher {
    /// Queues `job` behind every job submitted before it. Hands the job
    /// back when no thread could be started, for the caller to run itself:
    /// dropped, a rolled segment would never be synced while a later
    /// roll's flush moved the recovery point past it.
    pub(super) fn submit(&self, job: impl FnOnce() + Send + 'static) -> Result<(), Job> {
        let mut queue = self.queue.lock_or_recover();
        let job: Job = Box::new(job);
        let job = match queue.as_ref() {
            Some(tx) => match tx.send(job) {
                Ok(()) => return Ok(()),
                // The thread is gone (a job panicked): start another.
                Err(e) => e.0,
            },
            None => job,
        };
        let (tx, rx) = channel::<Job>();
        let spawned = std::thread::Builder::new().name("log-flusher".into()).spawn(move || {
            while let Ok(job) = rx.recv() {
                job();
            }
        });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the log flusher thread ({e}); the rolled segment is flushed in the roll");
            *queue = None;
            return Err(job);
        }
        self.threads_started.fetch_add(1, Ordering::Relaxed);
        let sent = tx.send(job).map_err(|e| e.0);
        *queue = Some(tx);
        sent
    }

    /// How many threads this flusher has started, for tests.
    #[cfg(test)]
    pub(super) fn threads_started(&self) -> usize {
        self.threads_started.load(Ordering::Relaxed)
    }
}
