//! One request in, one reply out: the prep checks of each operation
//! (`PrepRequestProcessor`) and the reply bodies (`FinalRequestProcessor`).

use super::acl;
use super::data_tree::{Node, NodeStat, Undo, CONTAINER_OWNER, TTL_MASK};
use super::path;
use super::processor::Processor;
use super::proto::{self, create_mode, op, perms, Acl, ErrorCode, Request, SetWatches, Writer};
use super::txn::Txn;
use super::watch::{ConnId, Kind};

/// Largest TTL ZooKeeper accepts (`EphemeralType.TTL.maxValue`).
const MAX_TTL: i64 = 0x00FF_FFFF_FFFF;

/// `KeeperException.Code.NOTREADONLY`: a write sent to a server that can
/// only serve reads, as a server whose log cannot write is.
const NOT_READ_ONLY: i32 = -119;

fn not_read_only(xid: i32, zxid: i64) -> Vec<u8> {
    let mut w = Writer::frame();
    w.i32(xid).i64(zxid).i32(NOT_READ_ONLY);
    w.finish_frame()
}

/// What a successful write sub-operation answers with.
enum WriteResult {
    Create { op: i32, path: String },
    Delete,
    SetData { path: String },
    SetAcl { path: String },
    Check,
}

impl Processor {
    /// Runs one request; returns the zxid the reply shows and the reply frame.
    pub(super) fn execute(
        &mut self,
        conn: ConnId,
        session: i64,
        xid: i32,
        req: Request,
    ) -> (i64, Vec<u8>) {
        if req.is_write() {
            let last = self.tree.last_zxid;
            if self.log_error.is_some() {
                if matches!(req, Request::CloseSession) && self.unlogged.remove(&session) {
                    // Never logged, so closing it needs no transaction either.
                    self.sessions.remove(session);
                    return (last, proto::reply(xid, last, ErrorCode::Ok).finish_frame());
                }
                return (last, not_read_only(xid, last));
            }
            return self.execute_write(conn, session, xid, req);
        }
        let zxid = self.tree.last_zxid;
        let mut w = proto::reply(xid, zxid, ErrorCode::Ok);
        match self.read(conn, session, req, &mut w) {
            Ok(()) => (zxid, w.finish_frame()),
            Err(e) => (zxid, Self::error_reply(xid, zxid, e)),
        }
    }

    fn read(
        &mut self,
        conn: ConnId,
        session: i64,
        req: Request,
        w: &mut Writer,
    ) -> Result<(), ErrorCode> {
        match req {
            Request::Ping => {}
            Request::Sync { path: p } => {
                w.string(&p);
            }
            Request::Exists { path: p, watch } => {
                if watch {
                    self.watches.add(Kind::Data, &p, conn);
                }
                let node = self.tree.get(&p).ok_or(ErrorCode::NoNode)?;
                node.stat().write(w);
            }
            Request::GetData { path: p, watch } => {
                self.read_node(conn, &p, watch.then_some(Kind::Data), w, data_body)?
            }
            Request::GetChildren { op: code, path: p, watch } => {
                self.read_node(conn, &p, watch.then_some(Kind::Child), w, children_body)?;
                if code == op::GET_CHILDREN2 {
                    if let Some(n) = self.tree.get(&p) {
                        n.stat().write(w);
                    }
                }
            }
            Request::GetAcl { path: p } => {
                let node = self.tree.get(&p).ok_or(ErrorCode::NoNode)?;
                let list = self.tree.acl_of(node);
                let auth = self.auth_of(conn);
                acl::check(list, auth, perms::READ | perms::ADMIN)?;
                // Without ADMIN, digest password hashes are hidden and the
                // user names kept, `user1:x` (ZOOKEEPER-1392).
                let mut shown = list.to_vec();
                if acl::check(list, auth, perms::ADMIN).is_err() {
                    for a in shown.iter_mut().filter(|a| a.id.scheme == "digest") {
                        if let Some((user, _hash)) = a.id.id.split_once(':') {
                            a.id.id = format!("{user}:x");
                        }
                    }
                }
                Acl::write_acls(w, &shown);
                node.stat().write(w);
            }
            Request::Check { path: p, version } => {
                self.prep_check(&p, version)?;
            }
            Request::MultiRead(ops) => {
                for o in ops {
                    let mut body = Writer::new();
                    let code = match &o {
                        Request::GetData { .. } => op::GET_DATA,
                        Request::GetChildren { .. } => op::GET_CHILDREN,
                        _ => op::ERROR,
                    };
                    let res = match o {
                        Request::GetData { path: p, watch } => self.read_node(
                            conn,
                            &p,
                            watch.then_some(Kind::Data),
                            &mut body,
                            data_body,
                        ),
                        Request::GetChildren { path: p, watch, .. } => {
                            let watch = watch.then_some(Kind::Child);
                            self.read_node(conn, &p, watch, &mut body, children_body)
                        }
                        _ => Err(ErrorCode::BadArguments),
                    };
                    match res {
                        Ok(()) => {
                            w.i32(code).bool(false).i32(0);
                            w.buf.extend_from_slice(&body.buf);
                        }
                        Err(e) => {
                            w.i32(op::ERROR).bool(false).i32(e.code()).i32(e.code());
                        }
                    }
                }
                w.i32(-1).bool(true).i32(-1);
            }
            Request::SetWatches(sw) => self.set_watches(conn, sw),
            Request::AddWatch { path: p, mode } => {
                let kind = match mode {
                    0 => Kind::Persistent,
                    1 => Kind::Recursive,
                    _ => return Err(ErrorCode::BadArguments),
                };
                self.watches.add(kind, &p, conn);
            }
            Request::RemoveWatches { op: code, path: p, kind } => {
                // ZooKeeper 3.8 knows only Children, Data and Any here; other
                // watcher types fail to unmarshal.
                let kinds: &[Kind] = match kind {
                    1 => &[Kind::Child],
                    2 => &[Kind::Data],
                    3 => &[Kind::Data, Kind::Child, Kind::Persistent, Kind::Recursive],
                    _ => return Err(ErrorCode::MarshallingError),
                };
                let present: Vec<Kind> =
                    kinds.iter().copied().filter(|k| self.watches.has(*k, &p, conn)).collect();
                if present.is_empty() {
                    return Err(ErrorCode::NoWatcher);
                }
                if code == op::REMOVE_WATCHES {
                    for k in present {
                        self.watches.remove(k, &p, conn);
                    }
                }
            }
            Request::WhoAmI => {
                // ZooKeeper lists the address last.
                let mut auth = self.auth_of(conn).to_vec();
                auth.sort_by_key(|id| id.scheme == "ip");
                w.i32(auth.len() as i32);
                for id in auth {
                    let user = if id.scheme == "digest" {
                        id.id.split(':').next().unwrap_or("").to_string()
                    } else {
                        id.id
                    };
                    w.string(&id.scheme).string(&user);
                }
            }
            Request::GetEphemerals { prefix } => {
                let list: Vec<&str> =
                    self.tree.ephemerals_of(session).filter(|p| p.starts_with(&*prefix)).collect();
                w.strings(&list);
            }
            Request::GetAllChildrenNumber { path: p } => {
                self.readable(conn, &p)?;
                w.i32(self.tree.descendant_count(&p) as i32);
            }
            Request::Auth { scheme, auth } => {
                if scheme != "digest" {
                    return Err(ErrorCode::AuthFailed);
                }
                let text = String::from_utf8_lossy(&auth).into_owned();
                let id = proto::Id { scheme, id: acl::digest_id(&text) };
                if let Some(c) = self.conns.get_mut(&conn) {
                    if !c.auth.contains(&id) {
                        c.auth.push(id);
                    }
                }
            }
            Request::Unsupported { op: code } => {
                return Err(if code == op::RECONFIG {
                    ErrorCode::ReconfigDisabled
                } else {
                    ErrorCode::Unimplemented
                });
            }
            Request::Create { .. }
            | Request::Delete { .. }
            | Request::SetData { .. }
            | Request::SetAcl { .. }
            | Request::Multi(_)
            | Request::CloseSession => unreachable!("writes go through execute_write"),
        }
        Ok(())
    }

    /// The node at `p` if it exists and `conn` may read it.
    fn readable(&self, conn: ConnId, p: &str) -> Result<&Node, ErrorCode> {
        let node = self.tree.get(p).ok_or(ErrorCode::NoNode)?;
        acl::check(self.tree.acl_of(node), self.auth_of(conn), perms::READ)?;
        Ok(node)
    }

    /// GetData and GetChildren: `body` of the node at `p` if `conn` may
    /// read it, and a `watch` on it if one is asked for.
    fn read_node(
        &mut self,
        conn: ConnId,
        p: &str,
        watch: Option<Kind>,
        w: &mut Writer,
        body: fn(&Node, &mut Writer),
    ) -> Result<(), ErrorCode> {
        body(self.readable(conn, p)?, w);
        if let Some(kind) = watch {
            self.watches.add(kind, p, conn);
        }
        Ok(())
    }

    /// `DataTree.setWatches`: a watch on something that changed since the
    /// client's zxid fires at once; the others are registered.
    fn set_watches(&mut self, conn: ConnId, sw: SetWatches) {
        use proto::EventType::*;
        let rel = sw.relative_zxid;
        let zxid = self.tree.last_zxid;
        let mut fire = Vec::new();
        self.watch_unless_changed(conn, rel, sw.data, Kind::Data, NodeDataChanged, &mut fire);
        for p in sw.exist {
            if self.tree.get(&p).is_some() {
                fire.push((NodeCreated, p));
            } else {
                self.watches.add(Kind::Data, &p, conn);
            }
        }
        self.watch_unless_changed(conn, rel, sw.child, Kind::Child, NodeChildrenChanged, &mut fire);
        for p in sw.persistent {
            self.watches.add(Kind::Persistent, &p, conn);
        }
        for p in sw.persistent_recursive {
            self.watches.add(Kind::Recursive, &p, conn);
        }
        for (ev, p) in fire {
            self.send(conn, zxid, super::processor::Out::Frame(proto::notification(ev, &p)), None);
        }
    }

    /// SetWatches' data or child paths: a node gone since fires
    /// `NodeDeleted`, one changed since `rel` (its mzxid, or its pzxid for
    /// child watches) fires `changed`; the others get a `kind` watch.
    fn watch_unless_changed(
        &mut self,
        conn: ConnId,
        rel: i64,
        paths: Vec<String>,
        kind: Kind,
        changed: proto::EventType,
        fire: &mut Vec<(proto::EventType, String)>,
    ) {
        for p in paths {
            let since = |s: &NodeStat| if kind == Kind::Child { s.pzxid } else { s.mzxid };
            match self.tree.get(&p) {
                None => fire.push((proto::EventType::NodeDeleted, p)),
                Some(n) if since(&n.stat) > rel => fire.push((changed, p)),
                Some(_) => self.watches.add(kind, &p, conn),
            }
        }
    }

    // ---- writes ----

    fn execute_write(
        &mut self,
        conn: ConnId,
        session: i64,
        xid: i32,
        req: Request,
    ) -> (i64, Vec<u8>) {
        match req {
            Request::CloseSession => {
                let zxid = self.close_session(session, false);
                (zxid, proto::reply(xid, zxid, ErrorCode::Ok).finish_frame())
            }
            Request::Multi(ops) => self.multi(conn, session, xid, ops),
            single => {
                let prepped = self.prep(conn, session, &single);
                match prepped {
                    Ok((txn, result)) => {
                        let zxid = self.commit(session, txn);
                        let mut w = proto::reply(xid, zxid, ErrorCode::Ok);
                        self.write_result(&result, &mut w);
                        (zxid, w.finish_frame())
                    }
                    Err(e) => {
                        let zxid = self.commit(session, Txn::Error { code: e.code() });
                        (zxid, Self::error_reply(xid, zxid, e))
                    }
                }
            }
        }
    }

    fn write_result(&self, result: &WriteResult, w: &mut Writer) {
        let stat_of = |p: &str| self.tree.get(p).map(|n| n.stat()).unwrap_or_default();
        match result {
            WriteResult::Create { op: code, path: p } => {
                w.string(p);
                if *code != op::CREATE {
                    stat_of(p).write(w);
                }
            }
            WriteResult::SetData { path: p } | WriteResult::SetAcl { path: p } => {
                stat_of(p).write(w)
            }
            WriteResult::Delete | WriteResult::Check => {}
        }
    }

    /// Checks one write against the current tree and turns it into a transaction.
    fn prep(
        &self,
        conn: ConnId,
        session: i64,
        req: &Request,
    ) -> Result<(Txn, WriteResult), ErrorCode> {
        let auth = self.auth_of(conn);
        match req {
            Request::Create { op: code, path: p, data, acl: list, flags, ttl } => {
                let flags = *flags;
                let sequential = matches!(flags, 2 | 3 | create_mode::TTL_SEQUENTIAL);
                let is_ttl = matches!(flags, create_mode::TTL | create_mode::TTL_SEQUENTIAL);
                if !(0..=6).contains(&flags) {
                    return Err(ErrorCode::BadArguments);
                }
                // ZooKeeper takes CONTAINER on a plain create/create2 and,
                // its txn being a plain CreateTxn, makes a persistent node:
                // only the createContainer request makes a container.
                if is_ttl != (*code == op::CREATE_TTL)
                    || (*code == op::CREATE_CONTAINER && flags != create_mode::CONTAINER)
                {
                    return Err(ErrorCode::BadArguments);
                }
                if is_ttl && !self.cfg.extended_types {
                    return Err(ErrorCode::Unimplemented);
                }
                if is_ttl && (*ttl <= 0 || *ttl > MAX_TTL) {
                    return Err(ErrorCode::BadArguments);
                }
                // PrepRequestProcessor's order: the parent's name, the ACL,
                // the parent, its CREATE permission, then the full name.
                let parent_path = parent_for_write(p)?;
                let list = acl::fixup(list, auth)?;
                let parent = self.tree.get(parent_path).ok_or(ErrorCode::NoNode)?;
                acl::check(self.tree.acl_of(parent), auth, perms::CREATE)?;
                let full =
                    if sequential { format!("{p}{:010}", parent.stat.cversion) } else { p.clone() };
                valid(&full)?;
                if full == "/" || self.tree.get(&full).is_some() {
                    return Err(ErrorCode::NodeExists);
                }
                if parent.is_ephemeral() {
                    return Err(ErrorCode::NoChildrenForEphemerals);
                }
                let owner = match flags {
                    create_mode::EPHEMERAL | 3 => session,
                    create_mode::CONTAINER if *code == op::CREATE_CONTAINER => CONTAINER_OWNER,
                    create_mode::TTL | create_mode::TTL_SEQUENTIAL => TTL_MASK | *ttl,
                    _ => 0,
                };
                let txn = Txn::Create {
                    path: full.clone(),
                    data: data.clone(),
                    acl: list,
                    ephemeral_owner: owner,
                };
                Ok((txn, WriteResult::Create { op: *code, path: full }))
            }
            Request::Delete { op: code, path: p, version } => {
                if matches!(
                    p.as_str(),
                    "/" | "/zookeeper" | "/zookeeper/quota" | "/zookeeper/config"
                ) {
                    return Err(ErrorCode::BadArguments);
                }
                let parent_path = parent_for_write(p)?;
                let parent = self.tree.get(parent_path).ok_or(ErrorCode::NoNode)?;
                if *code == op::DELETE {
                    acl::check(self.tree.acl_of(parent), auth, perms::DELETE)?;
                }
                let node = self.tree.get(p).ok_or(ErrorCode::NoNode)?;
                if *version != -1 && *version != node.stat.version {
                    return Err(ErrorCode::BadVersion);
                }
                if !node.children.is_empty() {
                    return Err(ErrorCode::NotEmpty);
                }
                Ok((Txn::Delete { path: p.clone() }, WriteResult::Delete))
            }
            Request::SetData { path: p, data, version } => {
                valid(p)?;
                let node = self.tree.get(p).ok_or(ErrorCode::NoNode)?;
                acl::check(self.tree.acl_of(node), auth, perms::WRITE)?;
                if *version != -1 && *version != node.stat.version {
                    return Err(ErrorCode::BadVersion);
                }
                Ok((
                    Txn::SetData { path: p.clone(), data: data.clone() },
                    WriteResult::SetData { path: p.clone() },
                ))
            }
            Request::SetAcl { path: p, acl: list, version } => {
                valid(p)?;
                let node = self.tree.get(p).ok_or(ErrorCode::NoNode)?;
                acl::check(self.tree.acl_of(node), auth, perms::ADMIN)?;
                let list = acl::fixup(list, auth)?;
                if *version != -1 && *version != node.stat.aversion {
                    return Err(ErrorCode::BadVersion);
                }
                Ok((
                    Txn::SetAcl { path: p.clone(), acl: list },
                    WriteResult::SetAcl { path: p.clone() },
                ))
            }
            Request::Check { path: p, version } => {
                self.prep_check(p, *version)?;
                Ok((Txn::Check { path: p.clone() }, WriteResult::Check))
            }
            _ => Err(ErrorCode::BadArguments),
        }
    }

    fn prep_check(&self, p: &str, version: i32) -> Result<(), ErrorCode> {
        valid(p)?;
        let node = self.tree.get(p).ok_or(ErrorCode::NoNode)?;
        if version != -1 && version != node.stat.version {
            return Err(ErrorCode::BadVersion);
        }
        Ok(())
    }

    /// An atomic multi: each op is prepped against the tree as changed by
    /// the ops before it; the first failure rolls all of them back.
    fn multi(&mut self, conn: ConnId, session: i64, xid: i32, ops: Vec<Request>) -> (i64, Vec<u8>) {
        let hdr = self.next_header(session);
        let mut undo: Vec<Undo> = Vec::new();
        let mut changes = Vec::new();
        let mut txns = Vec::new();
        let mut results = Vec::new();
        let mut failed: Option<(usize, ErrorCode)> = None;
        for (i, o) in ops.iter().enumerate() {
            let prepped = self.prep(conn, session, o).and_then(|(txn, res)| {
                self.tree
                    .apply(&hdr, &txn, &mut changes, Some(&mut undo))
                    .map_err(|_| ErrorCode::SystemError)?;
                Ok((txn, res))
            });
            match prepped {
                Ok((txn, res)) => {
                    let mut body = Writer::new();
                    let res = match res {
                        WriteResult::Create { path: p, .. } => {
                            WriteResult::Create { op: op::CREATE, path: p }
                        }
                        other => other,
                    };
                    self.write_result(&res, &mut body);
                    results.push((multi_op_code(o), body.buf));
                    txns.push(txn);
                }
                Err(e) => {
                    failed = Some((i, e));
                    break;
                }
            }
        }
        let zxid = hdr.zxid;
        let mut w = proto::reply(xid, zxid, ErrorCode::Ok);
        match failed {
            None => {
                self.log(&hdr, &Txn::Multi(txns), &changes);
                for (code, body) in results {
                    w.i32(code).bool(false).i32(0);
                    w.buf.extend_from_slice(&body);
                }
            }
            Some((at, err)) => {
                self.tree.rollback(undo);
                self.log(&hdr, &Txn::Error { code: err.code() }, &[]);
                for i in 0..ops.len() {
                    let code = match i.cmp(&at) {
                        std::cmp::Ordering::Less => 0,
                        std::cmp::Ordering::Equal => err.code(),
                        std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency.code(),
                    };
                    w.i32(op::ERROR).bool(false).i32(code).i32(code);
                }
            }
        }
        w.i32(-1).bool(true).i32(-1);
        (zxid, w.finish_frame())
    }
}

fn multi_op_code(req: &Request) -> i32 {
    match req {
        // ZooKeeper 3.8 answers every create inside a multi with a plain
        // create result, path only (ZOOKEEPER-4026); clients expect that.
        Request::Create { .. } => op::CREATE,
        Request::Delete { .. } => op::DELETE,
        Request::SetData { .. } => op::SET_DATA,
        Request::Check { .. } => op::CHECK,
        _ => op::ERROR,
    }
}

/// `validatePathForCreate` / `getParentPathAndValidate`: a write needs a
/// slash and no NUL to find its parent ("" is the root's other name).
fn parent_for_write(p: &str) -> Result<&str, ErrorCode> {
    match p.rfind('/') {
        Some(i) if !p.contains('\0') => Ok(if i == 0 { "/" } else { &p[..i] }),
        _ => Err(ErrorCode::BadArguments),
    }
}

fn valid(p: &str) -> Result<(), ErrorCode> {
    if path::is_valid(p) {
        Ok(())
    } else {
        Err(ErrorCode::BadArguments)
    }
}

/// GetData's body: the data, then the stat.
fn data_body(node: &Node, w: &mut Writer) {
    w.data(&node.data);
    node.stat().write(w);
}

/// GetChildren's body: the children's names.
fn children_body(node: &Node, w: &mut Writer) {
    w.i32(node.children.len() as i32);
    for c in &node.children {
        w.string(c);
    }
}
