//! The in-memory znode tree (`DataTree`): nodes by full path, each parent's
//! child names, the ACL table, and the indexes of ephemeral, container and
//! TTL nodes. It applies transactions; deciding whether a request may become
//! a transaction (versions, ACLs, existence) is the processor's job.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::path;
use super::proto::{Acl, Data, EventType, Stat};
use super::txn::{Txn, TxnHeader};

/// `ephemeralOwner` of a container node (`EphemeralType.CONTAINER`).
pub const CONTAINER_OWNER: i64 = i64::MIN;
/// High byte that marks a TTL node's `ephemeralOwner` (`EphemeralType.TTL`).
pub const TTL_MASK: i64 = 0xFF << 56;

/// The persisted part of a node's `Stat` (dataLength and numChildren are derived).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeStat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    /// As ZooKeeper stores it: the number of children ever created.
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub pzxid: i64,
}

#[derive(Clone, Debug, Default)]
pub struct Node {
    pub data: Data,
    pub acl: u32,
    pub stat: NodeStat,
    pub children: HashSet<Box<str>>,
}

impl Node {
    pub fn stat(&self) -> Stat {
        let s = &self.stat;
        Stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            ctime: s.ctime,
            mtime: s.mtime,
            version: s.version,
            // DataNode.copyStat: the stored cversion counts creates only;
            // clients see creates plus deletes, i.e. twice it minus the
            // children still present.
            cversion: s.cversion.wrapping_mul(2).wrapping_sub(self.children.len() as i32),
            aversion: s.aversion,
            // getClientEphemeralOwner: containers and TTL nodes show 0.
            ephemeral_owner: if self.is_ephemeral() { s.ephemeral_owner } else { 0 },
            data_length: self.data.len() as i32,
            num_children: self.children.len() as i32,
            pzxid: s.pzxid,
        }
    }

    pub fn is_ephemeral(&self) -> bool {
        let o = self.stat.ephemeral_owner;
        o != 0 && o != CONTAINER_OWNER && o & TTL_MASK != TTL_MASK
    }
}

/// Interned ACL lists: nodes share one entry per distinct list (ZooKeeper's
/// `ReferenceCountedACLCache`), so a million world-readable nodes cost one.
#[derive(Default)]
pub struct AclTable {
    lists: Vec<Vec<Acl>>,
    index: HashMap<Vec<Acl>, u32>,
}

impl AclTable {
    pub fn intern(&mut self, acl: &[Acl]) -> u32 {
        if let Some(i) = self.index.get(acl) {
            return *i;
        }
        let i = self.lists.len() as u32;
        self.lists.push(acl.to_vec());
        self.index.insert(acl.to_vec(), i);
        i
    }

    pub fn get(&self, i: u32) -> &[Acl] {
        self.lists.get(i as usize).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn lists(&self) -> &[Vec<Acl>] {
        &self.lists
    }
}

/// How to take back one applied change when a multi fails part-way.
pub enum Undo {
    Created { path: String, parent_cversion: i32, parent_pzxid: i64 },
    Deleted { path: String, node: Node, parent_cversion: i32, parent_pzxid: i64 },
    DataSet { path: String, data: Data, stat: NodeStat },
    AclSet { path: String, acl: u32, aversion: i32 },
}

/// A change watches may fire on, in the order it happened.
pub type Change = (EventType, String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApplyError {
    #[error("transaction {zxid:#x} names {path}, which is not in the tree")]
    NoNode { zxid: i64, path: String },
    #[error("transaction {zxid:#x} creates {path}, which already exists")]
    NodeExists { zxid: i64, path: String },
}

pub struct DataTree {
    nodes: HashMap<Box<str>, Node>,
    pub acls: AclTable,
    ephemerals: HashMap<i64, BTreeSet<Box<str>>>,
    /// Container and TTL nodes, which the server deletes when they empty.
    expirable: BTreeSet<Box<str>>,
    pub last_zxid: i64,
    data_bytes: u64,
}

impl Default for DataTree {
    fn default() -> Self {
        Self::new()
    }
}

impl DataTree {
    /// The empty tree ZooKeeper starts with: `/`, `/zookeeper`,
    /// `/zookeeper/quota` and `/zookeeper/config`.
    pub fn new() -> Self {
        let mut t = Self::empty();
        let all = t.acls.intern(&Acl::world_all());
        let read_only = t.acls.intern(&[Acl { perms: 1, ..Acl::world_all().remove(0) }]);
        t.nodes.insert("/".into(), Node { acl: all, ..Node::default() });
        t.nodes.insert("/zookeeper".into(), Node { acl: all, ..Node::default() });
        t.nodes.insert("/zookeeper/quota".into(), Node { acl: all, ..Node::default() });
        t.nodes.insert("/zookeeper/config".into(), Node { acl: read_only, ..Node::default() });
        t.link("/zookeeper");
        t.link("/zookeeper/quota");
        t.link("/zookeeper/config");
        t
    }

    fn link(&mut self, p: &str) {
        let (parent, name) = path::split(p);
        if let Some(n) = self.nodes.get_mut(parent) {
            n.children.insert(name.into());
        }
    }

    /// The node at `p`; "" is the root too, as in ZooKeeper's tree.
    pub fn get(&self, p: &str) -> Option<&Node> {
        self.nodes.get(if p.is_empty() { "/" } else { p })
    }

    pub fn acl_of(&self, node: &Node) -> &[Acl] {
        self.acls.get(node.acl)
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn approximate_data_size(&self) -> u64 {
        self.data_bytes
    }

    pub fn ephemerals_of(&self, session: i64) -> impl Iterator<Item = &str> {
        self.ephemerals.get(&session).into_iter().flatten().map(|p| &**p)
    }

    pub fn ephemeral_count(&self) -> usize {
        self.ephemerals.values().map(BTreeSet::len).sum()
    }

    pub fn expirable(&self) -> impl Iterator<Item = &str> {
        self.expirable.iter().map(|p| &**p)
    }

    pub fn nodes(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(p, n)| (&**p, n))
    }

    /// Number of descendants of `p` (`getAllChildrenNumber`).
    pub fn descendant_count(&self, p: &str) -> usize {
        let mut count = 0;
        let mut stack = vec![p.to_string()];
        while let Some(cur) = stack.pop() {
            if let Some(n) = self.nodes.get(cur.as_str()) {
                for c in &n.children {
                    count += 1;
                    stack.push(path::join(&cur, c));
                }
            }
        }
        count
    }

    /// Applies one transaction. `changes` receives what watches fire on;
    /// `undo`, when given, receives how to reverse it.
    pub fn apply(
        &mut self,
        hdr: &TxnHeader,
        txn: &Txn,
        changes: &mut Vec<Change>,
        mut undo: Option<&mut Vec<Undo>>,
    ) -> Result<(), ApplyError> {
        match txn {
            Txn::CreateSession { .. } | Txn::Check { .. } | Txn::Error { .. } => {}
            Txn::CloseSession => {
                let paths: Vec<Box<str>> =
                    self.ephemerals.remove(&hdr.session).into_iter().flatten().collect();
                for p in paths {
                    // Gone already only if a multi in the same batch removed it.
                    if self.nodes.contains_key(&*p) {
                        self.delete(hdr, &p, changes, None)?;
                    }
                }
            }
            Txn::Create { path, data, acl, ephemeral_owner } => {
                self.create(hdr, path, data, acl, *ephemeral_owner, changes, undo)?;
            }
            Txn::Delete { path } => self.delete(hdr, path, changes, undo)?,
            Txn::SetData { path, data } => {
                let node = self.node_mut(hdr, path)?;
                let old_len = node.data.len() as u64;
                let old = std::mem::replace(&mut node.data, data.clone());
                let old_stat = node.stat;
                node.stat.mzxid = hdr.zxid;
                node.stat.mtime = hdr.time;
                node.stat.version = node.stat.version.wrapping_add(1);
                self.data_bytes = self.data_bytes - old_len + data.len() as u64;
                if let Some(u) = undo.as_deref_mut() {
                    u.push(Undo::DataSet { path: path.clone(), data: old, stat: old_stat });
                }
                changes.push((EventType::NodeDataChanged, path.clone()));
            }
            Txn::SetAcl { path, acl } => {
                let id = self.acls.intern(acl);
                let node = self.node_mut(hdr, path)?;
                let (old, aversion) = (node.acl, node.stat.aversion);
                node.acl = id;
                node.stat.aversion = aversion.wrapping_add(1);
                if let Some(u) = undo.as_deref_mut() {
                    u.push(Undo::AclSet { path: path.clone(), acl: old, aversion });
                }
            }
            Txn::Multi(txns) => {
                for t in txns {
                    self.apply(hdr, t, changes, undo.as_deref_mut())?;
                }
            }
        }
        self.last_zxid = self.last_zxid.max(hdr.zxid);
        Ok(())
    }

    fn node_mut(&mut self, hdr: &TxnHeader, p: &str) -> Result<&mut Node, ApplyError> {
        self.nodes.get_mut(p).ok_or_else(|| ApplyError::NoNode { zxid: hdr.zxid, path: p.into() })
    }

    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        hdr: &TxnHeader,
        p: &str,
        data: &Data,
        acl: &[Acl],
        owner: i64,
        changes: &mut Vec<Change>,
        undo: Option<&mut Vec<Undo>>,
    ) -> Result<(), ApplyError> {
        if self.nodes.contains_key(p) {
            return Err(ApplyError::NodeExists { zxid: hdr.zxid, path: p.into() });
        }
        let (parent_path, name) = path::split(p);
        let parent = self.node_mut(hdr, parent_path)?;
        let (parent_cversion, parent_pzxid) = (parent.stat.cversion, parent.stat.pzxid);
        parent.children.insert(name.into());
        parent.stat.cversion = parent_cversion.wrapping_add(1);
        parent.stat.pzxid = hdr.zxid;
        let acl = self.acls.intern(acl);
        let stat = NodeStat {
            czxid: hdr.zxid,
            mzxid: hdr.zxid,
            ctime: hdr.time,
            mtime: hdr.time,
            ephemeral_owner: owner,
            pzxid: hdr.zxid,
            ..NodeStat::default()
        };
        let node = Node { data: data.clone(), acl, stat, children: HashSet::new() };
        self.index(p, &node);
        self.data_bytes += data.len() as u64;
        self.nodes.insert(p.into(), node);
        if let Some(u) = undo {
            u.push(Undo::Created { path: p.into(), parent_cversion, parent_pzxid });
        }
        changes.push((EventType::NodeCreated, p.into()));
        changes.push((EventType::NodeChildrenChanged, parent_path.into()));
        Ok(())
    }

    fn delete(
        &mut self,
        hdr: &TxnHeader,
        p: &str,
        changes: &mut Vec<Change>,
        undo: Option<&mut Vec<Undo>>,
    ) -> Result<(), ApplyError> {
        let node = self
            .nodes
            .remove(p)
            .ok_or_else(|| ApplyError::NoNode { zxid: hdr.zxid, path: p.into() })?;
        self.unindex(p, &node);
        self.data_bytes -= node.data.len() as u64;
        let (parent_path, name) = path::split(p);
        let (mut parent_cversion, mut parent_pzxid) = (0, 0);
        if let Some(parent) = self.nodes.get_mut(parent_path) {
            (parent_cversion, parent_pzxid) = (parent.stat.cversion, parent.stat.pzxid);
            parent.children.remove(name);
            // A delete leaves the stored cversion alone (see Node::stat), so
            // sequential names keep counting creates, as in ZooKeeper.
            parent.stat.pzxid = parent_pzxid.max(hdr.zxid);
        }
        if let Some(u) = undo {
            u.push(Undo::Deleted { path: p.into(), node, parent_cversion, parent_pzxid });
        }
        changes.push((EventType::NodeDeleted, p.into()));
        changes.push((EventType::NodeChildrenChanged, parent_path.into()));
        Ok(())
    }

    fn index(&mut self, p: &str, node: &Node) {
        let owner = node.stat.ephemeral_owner;
        if node.is_ephemeral() {
            self.ephemerals.entry(owner).or_default().insert(p.into());
        } else if owner != 0 {
            self.expirable.insert(p.into());
        }
    }

    fn unindex(&mut self, p: &str, node: &Node) {
        let owner = node.stat.ephemeral_owner;
        if node.is_ephemeral() {
            if let Some(set) = self.ephemerals.get_mut(&owner) {
                set.remove(p);
                if set.is_empty() {
                    self.ephemerals.remove(&owner);
                }
            }
        } else if owner != 0 {
            self.expirable.remove(p);
        }
    }

    /// Reverses changes recorded by [`DataTree::apply`], newest first.
    pub fn rollback(&mut self, undo: Vec<Undo>) {
        for u in undo.into_iter().rev() {
            match u {
                Undo::Created { path: p, parent_cversion, parent_pzxid } => {
                    if let Some(node) = self.nodes.remove(p.as_str()) {
                        self.unindex(&p, &node);
                        self.data_bytes -= node.data.len() as u64;
                    }
                    let (parent_path, name) = path::split(&p);
                    if let Some(parent) = self.nodes.get_mut(parent_path) {
                        parent.children.remove(name);
                        parent.stat.cversion = parent_cversion;
                        parent.stat.pzxid = parent_pzxid;
                    }
                }
                Undo::Deleted { path: p, node, parent_cversion, parent_pzxid } => {
                    let (parent_path, name) = path::split(&p);
                    if let Some(parent) = self.nodes.get_mut(parent_path) {
                        parent.children.insert(name.into());
                        parent.stat.cversion = parent_cversion;
                        parent.stat.pzxid = parent_pzxid;
                    }
                    self.index(&p, &node);
                    self.data_bytes += node.data.len() as u64;
                    self.nodes.insert(p.into(), node);
                }
                Undo::DataSet { path: p, data, stat } => {
                    if let Some(node) = self.nodes.get_mut(p.as_str()) {
                        self.data_bytes =
                            self.data_bytes - node.data.len() as u64 + data.len() as u64;
                        node.data = data;
                        node.stat = stat;
                    }
                }
                Undo::AclSet { path: p, acl, aversion } => {
                    if let Some(node) = self.nodes.get_mut(p.as_str()) {
                        node.acl = acl;
                        node.stat.aversion = aversion;
                    }
                }
            }
        }
    }

    /// Inserts a node read from a snapshot; call [`DataTree::relink`] after the last.
    pub fn restore_node(&mut self, p: &str, node: Node) {
        self.index(p, &node);
        self.data_bytes += node.data.len() as u64;
        self.nodes.insert(p.into(), node);
    }

    /// Rebuilds every parent's child set after a snapshot load.
    pub fn relink(&mut self) {
        let paths: Vec<Box<str>> = self.nodes.keys().filter(|p| &***p != "/").cloned().collect();
        for n in self.nodes.values_mut() {
            n.children.clear();
        }
        for p in paths {
            self.link(&p);
        }
    }

    /// An empty tree with no nodes at all, for a snapshot to fill.
    pub fn empty() -> Self {
        Self {
            nodes: HashMap::new(),
            acls: AclTable::default(),
            ephemerals: HashMap::new(),
            expirable: BTreeSet::new(),
            last_zxid: 0,
            data_bytes: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(zxid: i64) -> TxnHeader {
        TxnHeader { session: 9, zxid, time: 1000 + zxid }
    }

    fn create(path: &str, owner: i64) -> Txn {
        Txn::Create {
            path: path.into(),
            data: b"d".to_vec().into(),
            acl: Acl::world_all(),
            ephemeral_owner: owner,
        }
    }

    /// A tree in which `nodes` (path, ephemeral owner) were created in
    /// order at zxids 1, 2, ..., and the changes those creates made.
    fn created(nodes: &[(&str, i64)]) -> (DataTree, Vec<(EventType, String)>) {
        let mut t = DataTree::new();
        let mut ch = Vec::new();
        for (zxid, &(path, owner)) in (1..).zip(nodes) {
            t.apply(&hdr(zxid), &create(path, owner), &mut ch, None).unwrap();
        }
        (t, ch)
    }

    #[test]
    fn create_sets_stats_and_parent_versions() {
        let (t, ch) = created(&[("/a", 0), ("/a/b", 0)]);
        let a = t.get("/a").unwrap().stat();
        assert_eq!((a.czxid, a.mzxid, a.pzxid, a.cversion, a.num_children), (1, 1, 2, 1, 1));
        // /zookeeper is built in, not created: 2 x 1 create - 2 children.
        assert_eq!(t.get("/").unwrap().stat().cversion, 0, "as `stat /` shows on ZooKeeper");
        assert_eq!(a.ctime, 1001, "time comes from the transaction, so replay is exact");
        assert_eq!(ch[0], (EventType::NodeCreated, "/a".into()));
        assert_eq!(ch[1], (EventType::NodeChildrenChanged, "/".into()));
    }

    #[test]
    fn close_session_removes_its_ephemerals_only() {
        let (mut t, mut ch) = created(&[("/e", 9), ("/other", 8), ("/p", 0)]);
        t.apply(&hdr(4), &Txn::CloseSession, &mut ch, None).unwrap();
        assert!(t.get("/e").is_none());
        assert!(t.get("/other").is_some(), "another session's node stays");
        let root = t.get("/").unwrap();
        assert_eq!(root.stat.cversion, 3, "the stored cversion counts creates");
        assert_eq!(root.stat().cversion, 3, "2 x 3 creates - 3 children (zookeeper, other, p)");
    }

    #[test]
    fn rollback_restores_the_exact_tree() {
        let (mut t, mut ch) = created(&[("/a", 0)]);
        let before: Vec<_> = ["/", "/a"].iter().map(|p| t.get(p).unwrap().stat()).collect();
        let mut undo = Vec::new();
        let multi = Txn::Multi(vec![
            create("/a/b", 0),
            Txn::SetData { path: "/a".into(), data: Data::NULL },
            Txn::Delete { path: "/a/b".into() },
            Txn::SetAcl { path: "/a".into(), acl: vec![] },
        ]);
        t.apply(&hdr(2), &multi, &mut ch, Some(&mut undo)).unwrap();
        t.rollback(undo);
        let after: Vec<_> = ["/", "/a"].iter().map(|p| t.get(p).unwrap().stat()).collect();
        assert_eq!(before, after);
        assert_eq!(t.get("/a").unwrap().data.get(), Some(&b"d"[..]), "null set back to the bytes");
        assert_eq!(t.approximate_data_size(), 1);
    }
}
