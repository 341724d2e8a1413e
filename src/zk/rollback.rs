//! What the processor does when the transaction log cannot write (a full
//! disk, an I/O error): the transactions after the last durable zxid were
//! applied to the tree but can no longer be logged, so the state goes back
//! to that zxid, read from disk. Nothing they changed is ever shown:
//! connections that were about to see them (the writers, readers of the
//! new state, watchers they fired) are closed and retry, as after any
//! connection loss; everyone else keeps their session and watches.
//! Until the log thread finds the disk writable again, writes are refused
//! with NOTREADONLY and reads are served, also to new sessions, which are
//! logged once the disk takes writes.

use std::collections::{HashSet, VecDeque};

use super::processor::{Processor, SyncCmd};
use super::txn::Txn;
use super::watch::ConnId;
use super::Error;

impl Processor {
    pub(super) async fn roll_back(&mut self, error: String, durable: i64) -> Result<(), Error> {
        let undone = self.tree.last_zxid - durable;
        tracing::error!(
            %error,
            durable_zxid = format!("{durable:#x}"),
            undone,
            "the transaction log cannot write: rolling back to the last durable transaction \
             and serving reads only"
        );
        self.log_error = Some(error);
        self.batch.clear();
        self.durable = self.durable.max(durable);
        self.snapshot_due = self.snapshot_due.take().filter(|(zxid, _)| *zxid <= durable);

        let mut doomed: HashSet<ConnId> = HashSet::new();
        let mut kept = VecDeque::new();
        for p in self.pending.drain(..) {
            if p.need > durable {
                doomed.insert(p.conn);
            } else {
                kept.push_back(p);
            }
        }
        kept.retain(|p| !doomed.contains(&p.conn));
        self.pending = kept;

        let cfg = self.cfg.clone();
        let now = self.clock.now_ms();
        let back = tokio::task::spawn_blocking(move || super::recover(&cfg, now, Some(durable)))
            .await
            .map_err(|source| Error::TaskFailed { task: "log recovery", source })??;
        if back.tree.last_zxid != durable {
            return Err(Error::LogDiverged { durable, found: back.tree.last_zxid });
        }
        let owners: Vec<(i64, ConnId)> =
            self.sessions.iter().filter_map(|s| Some((s.id, s.conn?))).collect();
        self.tree = back.tree;
        self.sessions = back.sessions;
        self.unlogged.clear();
        for (session, conn) in owners {
            if doomed.contains(&conn) {
                continue;
            }
            if let Some(s) = self.sessions.get_mut(session) {
                s.conn = Some(conn);
            }
        }
        // Sessions whose creation was undone have nothing to come back to.
        for (id, c) in &self.conns {
            let gone = c.session.is_some_and(|s| self.sessions.get(s).is_none());
            if doomed.contains(id) || gone {
                c.budget.kill();
                doomed.insert(*id);
            }
        }
        tracing::info!(
            zxid = format!("{durable:#x}"),
            closed_connections = doomed.len(),
            "rolled back; writes wait for the disk"
        );
        let _ = self.sync_tx.send(SyncCmd::Reset);
        self.release();
        Ok(())
    }

    /// The log takes writes again: sessions opened meanwhile are logged
    /// first, before anything they do next.
    pub(super) fn log_recovered(&mut self) {
        if self.log_error.take().is_none() {
            return;
        }
        let unlogged = std::mem::take(&mut self.unlogged);
        tracing::info!(sessions = unlogged.len(), "writes are accepted again");
        for id in unlogged {
            let Some(s) = self.sessions.get(id) else { continue };
            let (timeout, password, conn) = (s.timeout_ms, s.password, s.conn);
            self.commit(id, Txn::CreateSession { timeout, password });
            if let Some(s) = self.sessions.get_mut(id) {
                s.conn = conn;
            }
        }
    }
}
