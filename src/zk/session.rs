//! Sessions (`SessionTracker`): id, password, negotiated timeout, the
//! deadline after which the session expires, and the connection it is on.
//! Time is passed in; this module reads no clock.

use std::collections::HashMap;

use super::watch::ConnId;

pub struct Session {
    pub id: i64,
    pub timeout_ms: i32,
    pub password: [u8; 16],
    pub deadline_ms: i64,
    pub conn: Option<ConnId>,
    /// A closeSession or expiry is in the log; no more requests run.
    pub closing: bool,
}

#[derive(Default)]
pub struct SessionTracker {
    sessions: HashMap<i64, Session>,
    next_id: i64,
}

impl SessionTracker {
    /// ZooKeeper's `initializeNextSessionId` for server id 0: the clock in
    /// the high bits, so ids from before a restart are not reused.
    pub fn new(now_ms: i64) -> Self {
        let next = ((now_ms << 24) as u64 >> 8) as i64;
        Self { sessions: HashMap::new(), next_id: next.max(1) }
    }

    pub fn next_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Adds a session from a createSession transaction (new or replayed).
    pub fn add(&mut self, id: i64, timeout_ms: i32, password: [u8; 16], now_ms: i64) {
        self.next_id = self.next_id.max(id + 1);
        self.sessions.insert(
            id,
            Session {
                id,
                timeout_ms,
                password,
                deadline_ms: now_ms + timeout_ms as i64,
                conn: None,
                closing: false,
            },
        );
    }

    pub fn remove(&mut self, id: i64) -> Option<Session> {
        self.sessions.remove(&id)
    }

    pub fn get(&self, id: i64) -> Option<&Session> {
        self.sessions.get(&id)
    }

    pub fn get_mut(&mut self, id: i64) -> Option<&mut Session> {
        self.sessions.get_mut(&id)
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Makes every session due for expiry at `now_ms`.
    pub fn expire_all_at(&mut self, now_ms: i64) {
        for s in self.sessions.values_mut() {
            s.deadline_ms = now_ms;
        }
    }

    /// Any sign of life moves the deadline one timeout ahead.
    pub fn touch(&mut self, id: i64, now_ms: i64) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.deadline_ms = now_ms + s.timeout_ms as i64;
        }
    }

    /// Sessions whose deadline has passed and which are not closing yet.
    pub fn expired(&self, now_ms: i64) -> Vec<i64> {
        let mut v: Vec<i64> = self
            .sessions
            .values()
            .filter(|s| !s.closing && s.deadline_ms <= now_ms)
            .map(|s| s.id)
            .collect();
        v.sort_unstable();
        v
    }

    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_follows_the_last_touch() {
        let mut t = SessionTracker::new(1_000);
        let id = t.next_id();
        t.add(id, 100, [0; 16], 1_000);
        assert!(t.expired(1_099).is_empty());
        t.touch(id, 1_050);
        assert!(t.expired(1_120).is_empty(), "touched at 1050, deadline 1150");
        assert_eq!(t.expired(1_150), vec![id]);
        t.get_mut(id).unwrap().closing = true;
        assert!(t.expired(2_000).is_empty(), "a closing session is not expired twice");
    }

    #[test]
    fn ids_after_a_replayed_session_do_not_collide() {
        let mut t = SessionTracker::new(0);
        t.add(500, 100, [0; 16], 0);
        assert!(t.next_id() > 500);
    }
}
