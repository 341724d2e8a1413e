//! Membership of distributed workers in their group (`group.id`) through
//! the broker's group coordinator, with Connect's protocol type `connect`
//! and its eager protocol `default` (ConnectProtocol V0): every worker
//! gives up all its connectors and tasks when a rebalance starts and the
//! leader hands out everything again.
//!
//! Eager rather than KIP-415's incremental cooperative protocol: with the
//! file connectors a task restart costs a commit and a reopen, so the
//! simpler protocol (one round, no delayed revocation) is worth more than
//! keeping tasks running through a rebalance.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::client::membership::{coordinator_moved, GroupSettings, Membership};
use crate::client::Cluster;

use super::error::{Error, Result};

pub const PROTOCOL_TYPE: &str = "connect";
pub const EAGER_PROTOCOL: &str = "default";
/// ConnectProtocol's marker for "the connector itself" in an assignment.
const CONNECTOR_TASK: i32 = -1;

/// What each worker says about itself in JoinGroup (ConnectProtocol V0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerState {
    pub url: String,
    pub config_offset: i64,
}

/// What the leader hands each worker in SyncGroup (ConnectProtocol V0).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerAssignment {
    pub error: i16,
    pub leader: String,
    pub leader_url: String,
    pub config_offset: i64,
    pub connectors: Vec<String>,
    pub tasks: Vec<(String, u32)>,
}

fn put_str(w: &mut Vec<u8>, s: &str) {
    w.extend_from_slice(&(s.len() as i16).to_be_bytes());
    w.extend_from_slice(s.as_bytes());
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        if self.buf.len() < n {
            return Err(Error::Data("truncated Connect protocol message".into()));
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }
    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn string(&mut self) -> Result<String> {
        let n = self.i16()?;
        if n < 0 {
            return Ok(String::new());
        }
        Ok(String::from_utf8_lossy(self.take(n as usize)?).into_owned())
    }
    /// An array length, checked against the bytes left so a hostile count
    /// cannot size anything.
    fn count(&mut self, min_item: usize) -> Result<usize> {
        let n = self.i32()?;
        if n < 0 {
            return Ok(0);
        }
        let n = n as usize;
        if n.saturating_mul(min_item) > self.buf.len() {
            return Err(Error::Data("bad array length in Connect protocol message".into()));
        }
        Ok(n)
    }
}

impl WorkerState {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = 0i16.to_be_bytes().to_vec();
        put_str(&mut w, &self.url);
        w.extend_from_slice(&self.config_offset.to_be_bytes());
        w
    }

    pub fn decode(b: &[u8]) -> Result<Self> {
        let mut r = Reader { buf: b };
        let _version = r.i16()?;
        Ok(WorkerState { url: r.string()?, config_offset: r.i64()? })
    }
}

impl WorkerAssignment {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = 0i16.to_be_bytes().to_vec();
        w.extend_from_slice(&self.error.to_be_bytes());
        put_str(&mut w, &self.leader);
        put_str(&mut w, &self.leader_url);
        w.extend_from_slice(&self.config_offset.to_be_bytes());
        let mut by_connector: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for c in &self.connectors {
            by_connector.entry(c).or_default().push(CONNECTOR_TASK);
        }
        for (c, t) in &self.tasks {
            by_connector.entry(c).or_default().push(*t as i32);
        }
        w.extend_from_slice(&(by_connector.len() as i32).to_be_bytes());
        for (c, ids) in by_connector {
            put_str(&mut w, c);
            w.extend_from_slice(&(ids.len() as i32).to_be_bytes());
            for id in ids {
                w.extend_from_slice(&id.to_be_bytes());
            }
        }
        w
    }

    pub fn decode(b: &[u8]) -> Result<Self> {
        let mut r = Reader { buf: b };
        let _version = r.i16()?;
        let mut a = WorkerAssignment {
            error: r.i16()?,
            leader: r.string()?,
            leader_url: r.string()?,
            config_offset: r.i64()?,
            ..WorkerAssignment::default()
        };
        for _ in 0..r.count(6)? {
            let connector = r.string()?;
            for _ in 0..r.count(4)? {
                match r.i32()? {
                    CONNECTOR_TASK => a.connectors.push(connector.clone()),
                    id if id >= 0 => a.tasks.push((connector.clone(), id as u32)),
                    _ => {}
                }
            }
        }
        Ok(a)
    }
}

/// One worker's share: connectors, and tasks as (connector, task id).
pub type Share = (Vec<String>, Vec<(String, u32)>);

/// Kafka's eager assignment: connectors round-robin over the workers sorted
/// by member id, then tasks continuing the round.
pub fn assign(members: &[String], connectors: &BTreeMap<String, usize>) -> BTreeMap<String, Share> {
    let mut sorted = members.to_vec();
    sorted.sort();
    let mut out: BTreeMap<String, Share> =
        sorted.iter().map(|m| (m.clone(), Default::default())).collect();
    if sorted.is_empty() {
        return out;
    }
    let mut i = 0usize;
    for name in connectors.keys() {
        out.get_mut(&sorted[i % sorted.len()]).expect("member").0.push(name.clone());
        i += 1;
    }
    for (name, &n) in connectors {
        for t in 0..n as u32 {
            out.get_mut(&sorted[i % sorted.len()]).expect("member").1.push((name.clone(), t));
            i += 1;
        }
    }
    out
}

pub struct WorkerGroup {
    core: Membership,
}

/// The outcome of a JoinGroup: who leads and, for the leader, every member.
pub struct Joined {
    pub leader: bool,
    pub leader_id: String,
    pub members: Vec<(String, WorkerState)>,
}

impl WorkerGroup {
    /// `cluster` is the group's alone (see [`Membership::new`]): the worker
    /// reads its config and status topics with long polls meanwhile.
    pub fn new(
        cluster: Arc<Cluster>,
        group_id: &str,
        session_timeout: Duration,
        rebalance_timeout: Duration,
        heartbeat_interval: Duration,
    ) -> Self {
        let settings = GroupSettings {
            group_id: group_id.to_string(),
            group_instance_id: None,
            session_timeout,
            rebalance_timeout,
            heartbeat_interval,
        };
        WorkerGroup { core: Membership::new(cluster, settings, PROTOCOL_TYPE) }
    }

    pub fn generation(&self) -> i32 {
        self.core.generation()
    }

    pub fn member_id(&self) -> &str {
        self.core.member_id()
    }

    pub fn needs_rejoin(&self) -> bool {
        self.core.needs_rejoin()
    }

    pub fn request_rejoin(&self) {
        self.core.request_rejoin()
    }

    /// Joins until the coordinator answers with a generation; errors that
    /// a retry can fix (coordinator moved or not found yet, rebalance in
    /// progress) are retried.
    pub async fn join(&mut self, me: &WorkerState) -> Result<Joined> {
        let protocols = [(EAGER_PROTOCOL, Bytes::from(me.encode()))];
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            Membership::backoff(attempt).await;
            let joined = match self.core.join_once(&protocols).await {
                Ok(Some(j)) => j,
                Ok(None) => continue,
                Err(e) if coordinator_moved(&e) && attempt < 600 => {
                    tracing::warn!("cannot join the group yet: {e}");
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let members = joined
                .members
                .iter()
                .filter_map(|m| Some((m.member_id.clone(), WorkerState::decode(&m.metadata).ok()?)))
                .collect();
            return Ok(Joined { leader: joined.leader, leader_id: joined.leader_id, members });
        }
    }

    /// SyncGroup: the leader passes every member's assignment. `Ok(None)`
    /// means the group moved on: join again.
    pub async fn sync(
        &mut self,
        assignments: BTreeMap<String, WorkerAssignment>,
    ) -> Result<Option<WorkerAssignment>> {
        let assignments =
            assignments.into_iter().map(|(m, a)| (m, Bytes::from(a.encode()))).collect();
        match self.core.sync_once(assignments).await? {
            Some(b) => Ok(Some(WorkerAssignment::decode(&b)?)),
            None => Ok(None),
        }
    }

    pub async fn leave(&mut self) {
        if let Err(e) = self.core.leave().await {
            tracing::warn!("Failed to leave the group: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_messages_round_trip_and_reject_garbage() {
        let me = WorkerState { url: "http://127.0.0.1:8083/".into(), config_offset: 7 };
        assert_eq!(WorkerState::decode(&me.encode()).unwrap(), me);
        let a = WorkerAssignment {
            error: 0,
            leader: "w-1".into(),
            leader_url: "http://a/".into(),
            config_offset: 9,
            connectors: vec!["sink".into()],
            tasks: vec![("sink".into(), 1), ("source".into(), 0)],
        };
        assert_eq!(WorkerAssignment::decode(&a.encode()).unwrap(), a);
        let mut bad = a.encode();
        bad.truncate(bad.len() - 3);
        assert!(WorkerAssignment::decode(&bad).is_err());
        let huge = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff];
        assert!(WorkerAssignment::decode(&huge).is_err(), "a hostile count is refused");
    }

    #[test]
    fn eager_assignment_spreads_connectors_then_tasks() {
        let members = vec!["b".to_string(), "a".to_string()];
        let connectors: BTreeMap<String, usize> = [("sink".to_string(), 2)].into();
        let out = assign(&members, &connectors);
        assert_eq!(out["a"], (vec!["sink".to_string()], vec![("sink".to_string(), 1)]));
        assert_eq!(out["b"], (vec![], vec![("sink".to_string(), 0)]));
    }
}
