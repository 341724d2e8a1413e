//! The rebalance machinery shared by every request path: moving a group
//! to PreparingRebalance, ending the join phase (Kafka's `onCompleteJoin`),
//! handing out assignments, removing members, session timers and storing
//! a generation in `__consumer_offsets`.

use std::collections::HashMap;

use bytes::Bytes;

use super::group::{Group, GroupState, JoinTimer};
use super::membership::{join_error, sync_error};
use super::records::{GroupMetadataValue, MemberMetadataValue, RecordKey};
use super::timers::Timer;
use super::{Core, Error, JoinGroupResult, Output, Pending, Record, Response, SyncGroupResult};

impl Core {
    pub(super) fn maybe_prepare_rebalance(&mut self, g: &mut Group, now: i64, out: &mut Output) {
        if g.can_rebalance() {
            self.prepare_rebalance(g, now, out);
        }
    }

    pub(super) fn prepare_rebalance(&mut self, g: &mut Group, now: i64, out: &mut Output) {
        if g.is(GroupState::CompletingRebalance) {
            self.reset_and_propagate_assignment_error(g, Error::RebalanceInProgress, now, out);
        }
        self.cancel_sync_timer(g);
        g.pending_sync_members.clear();
        // Kafka's operators read a group's history from these lines; a
        // rebalance that never settles shows as a run of them.
        tracing::info!(
            "preparing to rebalance group {} in state {} with old generation {} ({} members)",
            g.group_id,
            g.state.name(),
            g.generation_id,
            g.members.len()
        );
        let timer = if g.is(GroupState::Empty) {
            let delay = i64::from(self.config.group_initial_rebalance_delay_ms);
            let remaining = (g.rebalance_timeout_ms() - delay).max(0);
            JoinTimer { deadline: now + delay, initial: Some((delay, remaining)) }
        } else {
            JoinTimer { deadline: now + g.rebalance_timeout_ms(), initial: None }
        };
        g.transition_to(GroupState::PreparingRebalance, now);
        self.set_join_timer(g, timer);
        self.try_complete_join(g, now, out);
    }

    pub(super) fn set_join_timer(&mut self, g: &mut Group, timer: JoinTimer) {
        self.cancel_join_timer(g);
        self.timers.schedule(timer.deadline, Timer::Join { group: g.group_id.clone() });
        g.join_timer = Some(timer);
    }

    pub(super) fn cancel_join_timer(&mut self, g: &mut Group) {
        if let Some(t) = g.join_timer.take() {
            self.timers.cancel(t.deadline, Timer::Join { group: g.group_id.clone() });
        }
    }

    pub(super) fn cancel_sync_timer(&mut self, g: &mut Group) {
        if let Some(d) = g.sync_deadline.take() {
            self.timers.cancel(d, Timer::Sync { group: g.group_id.clone() });
        }
    }

    /// Kafka's `tryCompleteJoin`: the (non-initial) join phase ends as soon
    /// as every member has rejoined and no handed-out id is outstanding.
    pub(super) fn try_complete_join(&mut self, g: &mut Group, now: i64, out: &mut Output) {
        let delayed_join = g.join_timer.is_some_and(|t| t.initial.is_none());
        if g.is(GroupState::PreparingRebalance) && delayed_join && g.has_all_members_joined() {
            self.complete_join(g, now, out);
        }
    }

    /// Kafka's `onCompleteJoin`.
    pub(super) fn complete_join(&mut self, g: &mut Group, now: i64, out: &mut Output) {
        self.cancel_join_timer(g);
        let gone: Vec<String> = g
            .not_yet_rejoined()
            .into_iter()
            .filter(|id| g.members.get(id).is_some_and(|m| m.group_instance_id.is_none()))
            .collect();
        if !gone.is_empty() {
            tracing::info!("group {} removed members who did not rejoin: {gone:?}", g.group_id);
        }
        for id in gone {
            self.evict(g, &id, out);
        }
        if g.is(GroupState::Dead) {
            return;
        }
        if !g.maybe_elect_new_joined_leader() && !g.members.is_empty() {
            // Only static members remain and none rejoined: wait for their
            // sessions to expire, one rebalance timeout at a time.
            let timer = JoinTimer { deadline: now + g.rebalance_timeout_ms(), initial: None };
            self.set_join_timer(g, timer);
            return;
        }
        g.init_next_generation(now);
        tracing::info!(
            "stabilized group {} generation {} with {} members",
            g.group_id,
            g.generation_id,
            g.members.len()
        );
        if g.is(GroupState::Empty) {
            // A failure costs nothing: the group has no members to lose, and
            // an empty generation's record is never too large.
            let _ = self.store_group(g, &HashMap::new(), Pending::Nothing, now, out);
            return;
        }
        let ids: Vec<String> = g.members.keys().cloned().collect();
        for id in &ids {
            let members = if g.is_leader(id) { g.current_member_metadata() } else { Vec::new() };
            let result = generation_result(g, id, members);
            if let Some(m) = g.members.get_mut(id) {
                if let Some(rid) = m.awaiting_join.take() {
                    out.responses.push((rid, Response::JoinGroup(result)));
                }
                m.is_new = false;
            }
            self.schedule_session(g, id, now);
            g.pending_sync_members.insert(id.clone());
        }
        let deadline = now + g.rebalance_timeout_ms();
        g.sync_deadline = Some(deadline);
        self.timers.schedule(deadline, Timer::Sync { group: g.group_id.clone() });
    }

    pub(super) fn remove_pending_sync_member(&mut self, g: &mut Group, member_id: &str) {
        g.pending_sync_members.remove(member_id);
        if g.pending_sync_members.is_empty() {
            self.cancel_sync_timer(g);
        }
    }

    pub(super) fn reset_and_propagate_assignment_error(
        &mut self,
        g: &mut Group,
        e: Error,
        now: i64,
        out: &mut Output,
    ) {
        for m in g.members.values_mut() {
            m.assignment = Bytes::new();
        }
        self.propagate_assignment(g, Some(e), now, out);
    }

    /// Answers every parked SyncGroup and restarts those members' sessions,
    /// since they could not heartbeat while they waited.
    pub(super) fn propagate_assignment(
        &mut self,
        g: &mut Group,
        error: Option<Error>,
        now: i64,
        out: &mut Output,
    ) {
        let (protocol_type, protocol_name) = match error {
            None => (g.protocol_type.clone(), g.protocol_name.clone()),
            Some(_) => (None, None),
        };
        let ids: Vec<String> = g.members.keys().cloned().collect();
        for id in ids {
            let Some(m) = g.members.get_mut(&id) else { continue };
            if let Some(rid) = m.awaiting_sync.take() {
                let result = SyncGroupResult {
                    error,
                    protocol_type: protocol_type.clone(),
                    protocol_name: protocol_name.clone(),
                    assignment: m.assignment.clone(),
                };
                out.responses.push((rid, Response::SyncGroup(result)));
                self.schedule_session(g, &id, now);
            }
        }
    }

    /// Kafka's `removeMemberAndUpdateGroup`.
    pub(super) fn remove_member_and_update_group(
        &mut self,
        g: &mut Group,
        member_id: &str,
        now: i64,
        out: &mut Output,
    ) {
        self.evict(g, member_id, out);
        match g.state {
            GroupState::Dead | GroupState::Empty => {}
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance(g, now, out)
            }
            GroupState::PreparingRebalance => self.try_complete_join(g, now, out),
        }
    }

    /// Removes a member, answering its parked requests with
    /// UNKNOWN_MEMBER_ID so a live client rejoins (Kafka answers only a
    /// parked JoinGroup and leaves a parked SyncGroup unanswered).
    pub(super) fn evict(&mut self, g: &mut Group, member_id: &str, out: &mut Output) {
        self.cancel_session(g, member_id);
        if let Some(mut m) = g.remove_member(member_id) {
            if let Some(rid) = m.awaiting_join.take() {
                join_error(out, rid, "", Error::UnknownMemberId);
            }
            if let Some(rid) = m.awaiting_sync.take() {
                sync_error(out, rid, Error::UnknownMemberId);
            }
        }
    }

    /// Restarts a member's session timer (Kafka's
    /// `completeAndScheduleNextHeartbeatExpiration`).
    pub(super) fn schedule_session(&mut self, g: &mut Group, member_id: &str, now: i64) {
        let Some(timeout) = g.members.get(member_id).map(|m| i64::from(m.session_timeout_ms))
        else {
            return;
        };
        self.schedule_expiration(g, member_id, now + timeout);
    }

    pub(super) fn schedule_expiration(&mut self, g: &mut Group, member_id: &str, deadline: i64) {
        self.cancel_session(g, member_id);
        let Some(m) = g.members.get_mut(member_id) else { return };
        m.heartbeat_deadline = Some(deadline);
        self.timers.schedule(
            deadline,
            Timer::Heartbeat { group: g.group_id.clone(), member: member_id.to_string() },
        );
    }

    pub(super) fn cancel_session(&mut self, g: &mut Group, member_id: &str) {
        if let Some(d) = g.members.get_mut(member_id).and_then(|m| m.heartbeat_deadline.take()) {
            self.timers.cancel(
                d,
                Timer::Heartbeat { group: g.group_id.clone(), member: member_id.to_string() },
            );
        }
    }

    /// Writes the group's generation with `assignment` (Kafka's
    /// `storeGroup`); returns the pending action when the record is too large
    /// to append, for the caller to fail.
    pub(super) fn store_group(
        &mut self,
        g: &Group,
        assignment: &HashMap<String, Bytes>,
        pending: Pending,
        now: i64,
        out: &mut Output,
    ) -> Option<Pending> {
        let record = Record {
            key: RecordKey::GroupMetadata { group: g.group_id.clone() }.encode(),
            value: Some(group_metadata_value(g, assignment).encode()),
        };
        let group_id = g.group_id.clone();
        self.append(&group_id, now, vec![record], pending, out)
    }
}

/// A successful JoinGroup answer for the group's current generation.
pub(super) fn generation_result(
    g: &Group,
    member_id: &str,
    members: Vec<super::JoinGroupMember>,
) -> JoinGroupResult {
    JoinGroupResult {
        error: None,
        generation_id: g.generation_id,
        protocol_type: g.protocol_type.clone(),
        protocol_name: g.protocol_name.clone(),
        leader: g.leader_id.clone().unwrap_or_default(),
        skip_assignment: false,
        member_id: member_id.to_string(),
        members,
    }
}

/// The stored form of a group's generation; members only when it has any.
pub(super) fn group_metadata_value(
    g: &Group,
    assignment: &HashMap<String, Bytes>,
) -> GroupMetadataValue {
    let protocol = g.protocol_name.clone().unwrap_or_default();
    GroupMetadataValue {
        protocol_type: g.protocol_type.clone().unwrap_or_default(),
        generation: g.generation_id,
        protocol: g.protocol_name.clone(),
        leader: g.leader_id.clone(),
        current_state_timestamp: g.state_timestamp.unwrap_or(-1),
        members: g
            .members
            .values()
            .map(|m| MemberMetadataValue {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout: m.rebalance_timeout_ms,
                session_timeout: m.session_timeout_ms,
                subscription: m.metadata(&protocol),
                assignment: assignment.get(&m.member_id).cloned().unwrap_or_default(),
            })
            .collect(),
    }
}
