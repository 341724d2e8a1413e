//! Waiting for partitions to change, Kafka's `DelayedOperationPurgatory`
//! reduced to its core: a long-polling Fetch or an acks=all Produce
//! registers a waker under each partition it cares about, and an append
//! (or a high watermark move) wakes exactly the waiters of that partition.
//! No timers poll; an idle broker does nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;

use crate::sync::MutexExt;
use crate::types::TopicPartition;

#[derive(Default)]
pub struct Purgatory {
    watchers: Mutex<HashMap<TopicPartition, Vec<Weak<Notify>>>>,
}

/// A registration; dropping it removes the waker from every partition.
pub struct Watch<'a> {
    purgatory: &'a Purgatory,
    keys: Vec<TopicPartition>,
    pub notify: Arc<Notify>,
}

impl Purgatory {
    /// Registers one waker under `keys`. Register before checking the
    /// condition: a wake-up between check and wait is then kept as a permit.
    pub fn watch(&self, keys: Vec<TopicPartition>) -> Watch<'_> {
        let notify = Arc::new(Notify::new());
        let mut w = self.watchers.lock_or_recover();
        for k in &keys {
            w.entry(k.clone()).or_default().push(Arc::downgrade(&notify));
        }
        Watch { purgatory: self, keys, notify }
    }

    /// Wakes everything waiting on `tp`.
    pub fn wake(&self, tp: &TopicPartition) {
        let w = self.watchers.lock_or_recover();
        if let Some(list) = w.get(tp) {
            for n in list.iter().filter_map(Weak::upgrade) {
                n.notify_one();
            }
        }
    }

    pub fn watcher_count(&self) -> usize {
        let w = self.watchers.lock_or_recover();
        w.values().map(Vec::len).sum()
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        let mut w = self.purgatory.watchers.lock_or_recover();
        let me = Arc::downgrade(&self.notify);
        for k in &self.keys {
            if let Some(list) = w.get_mut(k) {
                list.retain(|x| !x.ptr_eq(&me) && x.strong_count() > 0);
                if list.is_empty() {
                    w.remove(k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn wakes_only_watchers_of_the_partition() {
        let p = Purgatory::default();
        let a = TopicPartition::new("t", 0);
        let b = TopicPartition::new("t", 1);
        let wa = p.watch(vec![a.clone()]);
        let wb = p.watch(vec![b.clone()]);
        p.wake(&a);
        // The wake-up came before the wait: it is kept as a permit.
        tokio::time::timeout(Duration::from_secs(5), wa.notify.notified()).await.expect("a woken");
        let b_woken = tokio::time::timeout(Duration::from_millis(20), wb.notify.notified()).await;
        assert!(b_woken.is_err(), "b was not woken");
        drop(wa);
        drop(wb);
        assert_eq!(p.watcher_count(), 0, "dropped watches unregister");
    }
}
