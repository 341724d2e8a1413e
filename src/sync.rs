//! Taking std locks the one way the crate does: a lock whose holder
//! panicked is taken anyway. Every lock here guards state that each
//! critical section leaves valid before anything can panic (a panic is a
//! bug report, not a half-applied update), and refusing the lock would
//! turn one panicked task into a broker that fails every later request.
//!
//! It also holds the one way the crate spreads blocking work (opening logs,
//! fsyncing checkpoints) over a few threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{
    LockResult, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError,
};

/// What a lock call returns, poisoned or not.
pub fn recover<G>(result: LockResult<G>) -> G {
    result.unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub trait MutexExt<T: ?Sized> {
    fn lock_or_recover(&self) -> MutexGuard<'_, T>;
    /// The lock if no one holds it, for callers that must not wait (an
    /// async worker thread); `None` while it is held.
    fn try_lock_or_recover(&self) -> Option<MutexGuard<'_, T>>;
}

impl<T: ?Sized> MutexExt<T> for Mutex<T> {
    fn lock_or_recover(&self) -> MutexGuard<'_, T> {
        recover(self.lock())
    }

    fn try_lock_or_recover(&self) -> Option<MutexGuard<'_, T>> {
        match self.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }
}

pub trait RwLockExt<T: ?Sized> {
    fn read_or_recover(&self) -> RwLockReadGuard<'_, T>;
    fn write_or_recover(&self) -> RwLockWriteGuard<'_, T>;
}

impl<T: ?Sized> RwLockExt<T> for RwLock<T> {
    fn read_or_recover(&self) -> RwLockReadGuard<'_, T> {
        recover(self.read())
    }

    fn write_or_recover(&self) -> RwLockWriteGuard<'_, T> {
        recover(self.write())
    }
}

/// Runs `worker` on `threads` threads at once, the caller's among them,
/// and returns when every run has returned. Each run takes its items from
/// shared state until none are left, so the runs share the work. With one
/// thread (or none) it runs inline: for a few items a spawn costs more
/// than it saves. A run's panic reaches the caller, as a scoped thread's does.
pub fn run_on_threads(threads: usize, worker: impl Fn() + Sync) {
    if threads <= 1 {
        return worker();
    }
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(&worker);
        }
        worker();
    });
}

/// Calls `f` once on each of `items`, on up to `max_threads` threads (see
/// [`run_on_threads`]); the order is not kept.
pub fn for_each_on_threads<T: Sync>(items: &[T], max_threads: usize, f: impl Fn(&T) + Sync) {
    let next = AtomicUsize::new(0);
    run_on_threads(items.len().min(max_threads), || {
        while let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) {
            f(item);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_on_the_callers_thread_and_at_most_the_threads_asked_for() {
        let caller = std::thread::current().id();
        // (threads asked for, runs expected): 0 and 1 both mean inline.
        for (threads, runs) in [(0, 1), (1, 1), (3, 3)] {
            let ids = Mutex::new(Vec::new());
            run_on_threads(threads, || ids.lock_or_recover().push(std::thread::current().id()));
            let ids = ids.into_inner().unwrap();
            assert_eq!(ids.len(), runs, "{threads} threads");
            assert!(ids.contains(&caller), "{threads} threads: the caller works too");
            let distinct: std::collections::HashSet<_> = ids.iter().collect();
            assert_eq!(distinct.len(), runs, "{threads} threads: one run per thread");
        }
    }

    #[test]
    fn each_item_is_visited_once_whatever_the_thread_count() {
        let items: Vec<usize> = (0..50).collect();
        // More threads than items must not spawn idle threads or skip any.
        for threads in [0, 1, 4, 100] {
            let seen = Mutex::new(Vec::new());
            for_each_on_threads(&items, threads, |&i| seen.lock_or_recover().push(i));
            let mut seen = seen.into_inner().unwrap();
            seen.sort_unstable();
            assert_eq!(seen, items, "{threads} threads");
        }
        for_each_on_threads(&[] as &[usize], 4, |_| panic!("no items, no calls"));
    }

    #[test]
    fn a_lock_whose_holder_panicked_is_taken_with_its_value() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let rw = std::sync::Arc::new(RwLock::new(2));
        let (m2, rw2) = (m.clone(), rw.clone());
        let panicked = std::thread::spawn(move || {
            let _m = m2.lock().unwrap();
            let _w = rw2.write().unwrap();
            panic!("holder panics");
        })
        .join();
        assert!(panicked.is_err());
        assert!(m.is_poisoned() && rw.is_poisoned());
        assert_eq!(*m.lock_or_recover(), 1);
        assert_eq!(m.try_lock_or_recover().as_deref(), Some(&1));
        let held = m.lock_or_recover();
        assert!(m.try_lock_or_recover().is_none(), "held elsewhere: no waiting");
        drop(held);
        assert_eq!(*rw.read_or_recover(), 2);
        *rw.write_or_recover() = 3;
        assert_eq!(*rw.read_or_recover(), 3);
    }
}
