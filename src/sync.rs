//! Taking std locks the one way the crate does: a lock whose holder
//! panicked is taken anyway. Every lock here guards state that each
//! critical section leaves valid before anything can panic (a panic is a
//! bug report, not a half-applied update), and refusing the lock would
//! turn one panicked task into a broker that fails every later request.

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

#[cfg(test)]
mod tests {
    use super::*;

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
