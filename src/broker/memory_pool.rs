//! Kafka's request `MemoryPool` (`queued.max.request.bytes`). A connection
//! reserves a large request's declared size here before reading its bytes
//! and gives it back once the request has been handled; a connection that
//! cannot reserve stops reading its socket until memory is given back, as
//! Kafka mutes the channel. However many clients announce large frames, the
//! bytes held for them stay within the pool.
//!
//! Unlike Kafka's pool, a reservation is strict (it waits until the whole
//! size is free) and requests are served in arrival order, so one client
//! announcing frame after frame cannot starve the others.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct MemoryPool {
    permits: Arc<Semaphore>,
    capacity: usize,
}

/// Bytes held for one request; given back to the pool when dropped.
#[derive(Debug)]
pub struct Reservation {
    _permit: OwnedSemaphorePermit,
}

impl MemoryPool {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        MemoryPool { permits: Arc::new(Semaphore::new(capacity)), capacity }
    }

    /// Waits until `bytes` are free and holds them. A request larger than
    /// the whole pool takes all of it, so it waits for every other large
    /// request but is still served.
    pub async fn reserve(&self, bytes: usize) -> Reservation {
        let n = bytes.min(self.capacity) as u32;
        let permit = self.permits.clone().acquire_many_owned(n).await;
        // The semaphore lives as long as the pool and is never closed.
        Reservation { _permit: permit.expect("request memory pool is never closed") }
    }

    /// Bytes not reserved right now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_reservation_waits_until_enough_is_given_back() {
        let pool = Arc::new(MemoryPool::new(100));
        let first = pool.reserve(60).await;
        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move { pool.reserve(60).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "60 + 60 does not fit in 100");
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("granted once the first is given back")
            .unwrap();
        assert_eq!(pool.available(), 40);
        drop(second);
        assert_eq!(pool.available(), 100);
    }

    #[tokio::test]
    async fn a_request_larger_than_the_pool_takes_all_of_it() {
        let pool = MemoryPool::new(100);
        let all = tokio::time::timeout(Duration::from_secs(5), pool.reserve(1000))
            .await
            .expect("not refused forever");
        assert_eq!(pool.available(), 0);
        drop(all);
        assert_eq!(pool.available(), pool.capacity());
    }
}
