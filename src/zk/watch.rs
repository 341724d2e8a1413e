//! Watches (`WatchManager`): one-shot data/exist and child watches, and the
//! persistent and persistent-recursive watches of `addWatch`. Watches belong
//! to a connection, as in ZooKeeper: a client re-registers them with
//! setWatches after it reconnects.

use std::collections::{HashMap, HashSet};

use super::path;
use super::proto::EventType;

/// A connection, as the processor numbers them.
pub type ConnId = u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// getData/exists watches (ZooKeeper keeps both in one table).
    Data,
    Child,
    Persistent,
    Recursive,
}

#[derive(Default)]
pub struct WatchManager {
    tables: [HashMap<Box<str>, HashSet<ConnId>>; 4],
    by_conn: HashMap<ConnId, HashSet<(Kind, Box<str>)>>,
}

fn slot(kind: Kind) -> usize {
    match kind {
        Kind::Data => 0,
        Kind::Child => 1,
        Kind::Persistent => 2,
        Kind::Recursive => 3,
    }
}

impl WatchManager {
    pub fn add(&mut self, kind: Kind, p: &str, conn: ConnId) {
        self.tables[slot(kind)].entry(p.into()).or_default().insert(conn);
        self.by_conn.entry(conn).or_default().insert((kind, p.into()));
    }

    /// Whether `conn` has a watch of `kind` on `p`.
    pub fn has(&self, kind: Kind, p: &str, conn: ConnId) -> bool {
        self.tables[slot(kind)].get(p).is_some_and(|s| s.contains(&conn))
    }

    /// Removes one watch; true if it existed.
    pub fn remove(&mut self, kind: Kind, p: &str, conn: ConnId) -> bool {
        let table = &mut self.tables[slot(kind)];
        let Some(set) = table.get_mut(p) else { return false };
        let removed = set.remove(&conn);
        if set.is_empty() {
            table.remove(p);
        }
        if let Some(mine) = self.by_conn.get_mut(&conn) {
            mine.remove(&(kind, Box::<str>::from(p)));
        }
        removed
    }

    /// Drops every watch of a connection that closed.
    pub fn remove_conn(&mut self, conn: ConnId) {
        for (kind, p) in self.by_conn.remove(&conn).into_iter().flatten() {
            let table = &mut self.tables[slot(kind)];
            if let Some(set) = table.get_mut(&p) {
                set.remove(&conn);
                if set.is_empty() {
                    table.remove(&p);
                }
            }
        }
    }

    pub fn count(&self) -> usize {
        self.tables.iter().flat_map(|t| t.values()).map(HashSet::len).sum()
    }

    /// The connections `event` on `p` notifies, each once; one-shot watches
    /// that fire are removed.
    pub fn trigger(&mut self, event: EventType, p: &str, out: &mut Vec<ConnId>) {
        out.clear();
        let one_shot = match event {
            EventType::NodeCreated | EventType::NodeDataChanged => &[Kind::Data][..],
            EventType::NodeChildrenChanged => &[Kind::Child][..],
            EventType::NodeDeleted => &[Kind::Data, Kind::Child][..],
        };
        for &kind in one_shot {
            if let Some(set) = self.tables[slot(kind)].remove(p) {
                for conn in set {
                    if let Some(mine) = self.by_conn.get_mut(&conn) {
                        mine.remove(&(kind, Box::<str>::from(p)));
                    }
                    out.push(conn);
                }
            }
        }
        if let Some(set) = self.tables[slot(Kind::Persistent)].get(p) {
            out.extend(set.iter().copied());
        }
        // Recursive watches see changes below them, but not child-list
        // changes (the creates and deletes already tell them).
        let recursive = &self.tables[slot(Kind::Recursive)];
        if !recursive.is_empty() && event != EventType::NodeChildrenChanged {
            let mut cur = p;
            loop {
                if let Some(set) = recursive.get(cur) {
                    out.extend(set.iter().copied());
                }
                if cur == "/" {
                    break;
                }
                cur = path::split(cur).0;
                if cur.is_empty() {
                    break;
                }
            }
        }
        out.sort_unstable();
        out.dedup();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watching(watches: &[(Kind, &str, ConnId)]) -> WatchManager {
        let mut w = WatchManager::default();
        for &(kind, p, conn) in watches {
            w.add(kind, p, conn);
        }
        w
    }

    /// The connections `event` on `p` notifies.
    fn fires(w: &mut WatchManager, event: EventType, p: &str) -> Vec<ConnId> {
        let mut out = Vec::new();
        w.trigger(event, p, &mut out);
        out
    }

    #[test]
    fn one_shot_fires_once_persistent_stays() {
        let mut w = watching(&[(Kind::Data, "/a", 1), (Kind::Persistent, "/a", 2)]);
        assert_eq!(fires(&mut w, EventType::NodeDataChanged, "/a"), vec![1, 2]);
        assert_eq!(
            fires(&mut w, EventType::NodeDataChanged, "/a"),
            vec![2],
            "the one-shot watch is gone, the persistent one is not"
        );
    }

    #[test]
    fn recursive_sees_descendants_but_not_child_lists() {
        let mut w = watching(&[(Kind::Recursive, "/a", 1)]);
        assert_eq!(fires(&mut w, EventType::NodeCreated, "/a/b/c"), vec![1]);
        assert!(fires(&mut w, EventType::NodeChildrenChanged, "/a/b").is_empty());
        assert!(
            fires(&mut w, EventType::NodeCreated, "/ab").is_empty(),
            "a sibling with a common prefix is not below /a"
        );
    }

    #[test]
    fn delete_fires_data_and_child_watches_once_per_connection() {
        let mut w = watching(&[(Kind::Data, "/a", 1), (Kind::Child, "/a", 1)]);
        assert_eq!(fires(&mut w, EventType::NodeDeleted, "/a"), vec![1]);
        assert_eq!(w.count(), 0);
    }

    #[test]
    fn closing_a_connection_drops_its_watches() {
        let mut w = WatchManager::default();
        w.add(Kind::Data, "/a", 1);
        w.add(Kind::Child, "/b", 1);
        w.add(Kind::Data, "/a", 2);
        w.remove_conn(1);
        assert_eq!(w.count(), 1);
    }
}
