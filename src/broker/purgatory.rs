//! Waiting for partitions to change, Kafka's `DelayedOperationPurgatory`
//! reduced to its core: a long-polling Fetch or an acks=all Produce
//! registers a waker with each partition it cares about, and an append
//! (or a high watermark move) wakes exactly the waiters of that partition.
//! No timers poll; an idle broker does nothing.
//!
//! The waiters live in each [`Partition`], not in a broker-wide map keyed
//! by name: a follower's long poll watches thousands of partitions, and
//! registering it then cost a name copy and a hash per partition, and every
//! append took the broker-wide lock to look its waiters up.
//!
//! A waiter registers with the partition handles it then reads, so a
//! partition deleted meanwhile wakes it ([`Waiters::wake`] on removal) and
//! one created again under the same name is looked up afresh.

use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;

use crate::broker::partition::Partition;
use crate::sync::MutexExt;

/// The wakers registered with one partition.
#[derive(Default)]
pub struct Waiters(Mutex<Vec<Weak<Notify>>>);

impl Waiters {
    /// Wakes everything waiting on the partition.
    pub fn wake(&self) {
        let list = self.0.lock_or_recover();
        for n in list.iter().filter_map(Weak::upgrade) {
            n.notify_one();
        }
    }

    pub fn len(&self) -> usize {
        self.0.lock_or_recover().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A registration; dropping it removes the waker from every partition.
pub struct Watch {
    partitions: Vec<Arc<Partition>>,
    pub notify: Arc<Notify>,
}

/// Registers one waker with `partitions`. Register before checking the
/// condition: a wake-up between check and wait is then kept as a permit.
pub fn watch(partitions: Vec<Arc<Partition>>) -> Watch {
    let notify = Arc::new(Notify::new());
    for p in &partitions {
        p.waiters.0.lock_or_recover().push(Arc::downgrade(&notify));
    }
    Watch { partitions, notify }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let me = Arc::downgrade(&self.notify);
        for p in &self.partitions {
            p.waiters.0.lock_or_recover().retain(|x| !x.ptr_eq(&me) && x.strong_count() > 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::partition::LeaderState;
    use crate::types::TopicPartition;
    use std::time::Duration;

    fn partition(index: i32) -> (tempfile::TempDir, Arc<Partition>) {
        let (dir, log) = crate::log::tests::temp_log();
        let state = LeaderState {
            leader: 1,
            leader_epoch: 0,
            isr: vec![1],
            replicas: vec![1],
            state_zk_version: 0,
        };
        let tp = TopicPartition::new("t", index);
        let (p, _) =
            Partition::new(tp, uuid::Uuid::nil(), Arc::new(log), 1, state, Default::default())
                .unwrap();
        (dir, Arc::new(p))
    }

    #[tokio::test]
    async fn wakes_only_watchers_of_the_partition() {
        let ((_da, a), (_db, b)) = (partition(0), partition(1));
        let wa = watch(vec![a.clone()]);
        let wb = watch(vec![b.clone()]);
        let both = watch(vec![a.clone(), b.clone()]);
        a.waiters.wake();
        // The wake-up came before the wait: it is kept as a permit.
        tokio::time::timeout(Duration::from_secs(5), wa.notify.notified()).await.expect("a woken");
        tokio::time::timeout(Duration::from_secs(5), both.notify.notified()).await.expect("woken");
        let b_woken = tokio::time::timeout(Duration::from_millis(20), wb.notify.notified()).await;
        assert!(b_woken.is_err(), "b was not woken");
        assert_eq!((a.waiters.len(), b.waiters.len()), (2, 2));
        drop(wa);
        drop(both);
        assert_eq!((a.waiters.len(), b.waiters.len()), (0, 1), "dropped watches unregister");
        drop(wb);
        assert!(b.waiters.is_empty());
    }
}
