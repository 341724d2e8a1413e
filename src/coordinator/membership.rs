//! The classic rebalance protocol: JoinGroup, SyncGroup, Heartbeat and
//! LeaveGroup, and the rebalance they drive (Kafka 3.x's
//! `GroupCoordinator.handleJoinGroup` … `onCompleteJoin`,
//! `onExpireHeartbeat`, `onExpirePendingSync`).
//!
//! A rebalance: a join or a departure moves the group to
//! PreparingRebalance; it waits until every member has rejoined (or the
//! longest rebalance timeout passes, which drops dynamic members that did
//! not), bumps the generation, selects the protocol, answers every parked
//! JoinGroup (the leader's with all members' metadata) and moves to
//! CompletingRebalance; the leader's SyncGroup carries the assignment, which
//! is stored in `__consumer_offsets` and then handed to every member
//! (Stable). From Empty, the join phase first waits
//! group.initial.rebalance.delay.ms, longer while members keep arriving.

use std::collections::HashMap;

use bytes::Bytes;

use super::group::{dedup_protocols, Group, GroupState, JoinTimer, Member};
use super::rebalance::generation_result;
use super::timers::Timer;
use super::{
    AppendError, Core, Error, GroupCoordinator, HeartbeatRequest, JoinGroupRequest,
    JoinGroupResult, LeaveGroupRequest, LeaveGroupResult, LeaveMemberResult, Output, Pending,
    RequestId, Response, StaticRejoin, SyncGroupRequest, SyncGroupResult,
    NEW_MEMBER_JOIN_TIMEOUT_MS,
};

pub(super) fn join_error(out: &mut Output, rid: RequestId, member_id: &str, e: Error) {
    out.responses.push((rid, Response::JoinGroup(JoinGroupResult::error(member_id, e))));
}

pub(super) fn sync_error(out: &mut Output, rid: RequestId, e: Error) {
    out.responses.push((rid, Response::SyncGroup(SyncGroupResult::error(e))));
}

impl GroupCoordinator {
    pub fn join_group(&mut self, now: i64, rid: RequestId, mut req: JoinGroupRequest) -> Output {
        let mut out = Output::default();
        req.protocols = dedup_protocols(std::mem::take(&mut req.protocols));
        if let Some(e) = self.core.validate_group(&req.group_id, false) {
            join_error(&mut out, rid, &req.member_id, e);
            return out;
        }
        let cfg = &self.core.config;
        if req.session_timeout_ms < cfg.group_min_session_timeout_ms
            || req.session_timeout_ms > cfg.group_max_session_timeout_ms
        {
            join_error(&mut out, rid, &req.member_id, Error::InvalidSessionTimeout);
            return out;
        }
        let is_unknown_member = req.member_id.is_empty();
        if !self.groups.contains_key(&req.group_id) {
            // Only a member without an id may create a group.
            if !is_unknown_member {
                join_error(&mut out, rid, &req.member_id, Error::UnknownMemberId);
                return out;
            }
            self.groups.insert(req.group_id.clone(), Group::new(&req.group_id, now));
        }
        let Some(g) = self.groups.get_mut(&req.group_id) else { return out };
        let failed_store = if !self.core.accept_joining_member(g, &req.member_id) {
            self.core.cancel_session(g, &req.member_id);
            g.remove_member(&req.member_id);
            join_error(&mut out, rid, "", Error::GroupMaxSizeReached);
            None
        } else if let Some(e) = join_refusal(g, &req) {
            join_error(&mut out, rid, &req.member_id, e);
            None
        } else if is_unknown_member {
            self.core.new_member_join(g, rid, req, now, &mut out)
        } else {
            self.core.current_member_join(g, rid, req, now, &mut out);
            None
        };
        if g.is(GroupState::PreparingRebalance) {
            self.core.try_complete_join(g, now, &mut out);
        }
        if let Some(pending) = failed_store {
            self.on_append_result(pending, Err(AppendError::TooLarge), now, &mut out);
        }
        out
    }

    pub fn sync_group(&mut self, now: i64, rid: RequestId, req: SyncGroupRequest) -> Output {
        let mut out = Output::default();
        match self.core.validate_group(&req.group_id, false) {
            // The rebalance state was lost with the old coordinator: rejoin.
            // Older clients do not expect COORDINATOR_LOAD_IN_PROGRESS here.
            Some(Error::CoordinatorLoadInProgress) => {
                sync_error(&mut out, rid, Error::RebalanceInProgress)
            }
            Some(e) => sync_error(&mut out, rid, e),
            None => match self.groups.get_mut(&req.group_id) {
                None => sync_error(&mut out, rid, Error::UnknownMemberId),
                Some(g) => {
                    if let Some(pending) = self.core.do_sync_group(g, rid, req, now, &mut out) {
                        self.on_append_result(pending, Err(AppendError::TooLarge), now, &mut out);
                    }
                }
            },
        }
        out
    }

    pub fn heartbeat(&mut self, now: i64, rid: RequestId, req: HeartbeatRequest) -> Output {
        let mut out = Output::default();
        let result = match self.core.validate_group(&req.group_id, false) {
            // The group's state is still loading: answer blindly, as Kafka does.
            Some(Error::CoordinatorLoadInProgress) => None,
            Some(e) => Some(e),
            None => match self.groups.get_mut(&req.group_id) {
                None => Some(Error::UnknownMemberId),
                Some(g) => self.core.do_heartbeat(g, &req, now),
            },
        };
        out.responses.push((rid, Response::Heartbeat(result)));
        out
    }

    pub fn leave_group(&mut self, now: i64, rid: RequestId, req: LeaveGroupRequest) -> Output {
        let mut out = Output::default();
        let result = |member: &super::MemberIdentity, error| LeaveMemberResult {
            member_id: member.member_id.clone(),
            group_instance_id: member.group_instance_id.clone(),
            error,
        };
        let response = if let Some(e) = self.core.validate_group(&req.group_id, false) {
            LeaveGroupResult { error: Some(e), members: Vec::new() }
        } else if let Some(g) = self.groups.get_mut(&req.group_id) {
            let mut members = Vec::new();
            for leaving in &req.members {
                let error = self.core.leave_one(g, leaving, now, &mut out);
                members.push(result(leaving, error));
            }
            LeaveGroupResult { error: None, members }
        } else {
            let members =
                req.members.iter().map(|m| result(m, Some(Error::UnknownMemberId))).collect();
            LeaveGroupResult { error: None, members }
        };
        out.responses.push((rid, Response::LeaveGroup(response)));
        out
    }

    pub(super) fn on_heartbeat_expired(
        &mut self,
        group: &str,
        member: &str,
        deadline: i64,
        now: i64,
        out: &mut Output,
    ) {
        let Some(g) = self.groups.get_mut(group) else { return };
        let Some(m) = g.members.get_mut(member) else { return };
        if m.heartbeat_deadline != Some(deadline) {
            return;
        }
        m.heartbeat_deadline = None;
        if !m.has_satisfied_heartbeat() {
            tracing::info!(
                "member {member} in group {group} has failed, removing it from the group"
            );
            self.core.remove_member_and_update_group(g, member, now, out);
        }
    }

    pub(super) fn on_pending_member_expired(
        &mut self,
        group: &str,
        member: &str,
        now: i64,
        out: &mut Output,
    ) {
        let Some(g) = self.groups.get_mut(group) else { return };
        if g.pending_members.remove(member).is_some() && g.is(GroupState::PreparingRebalance) {
            self.core.try_complete_join(g, now, out);
        }
    }

    pub(super) fn on_join_deadline(&mut self, group: &str, now: i64, out: &mut Output) {
        let Some(g) = self.groups.get_mut(group) else { return };
        let Some(timer) = g.join_timer.take() else { return };
        if !g.is(GroupState::PreparingRebalance) {
            return;
        }
        match timer.initial {
            // KIP-134: members are still arriving, so wait once more, never
            // past the rebalance timeout.
            Some((delay, remaining)) if g.new_member_added && remaining != 0 => {
                g.new_member_added = false;
                let configured = i64::from(self.core.config.group_initial_rebalance_delay_ms);
                let next_delay = configured.min(remaining);
                let next_remaining = (remaining - delay).max(0);
                let next = JoinTimer {
                    deadline: now + next_delay,
                    initial: Some((next_delay, next_remaining)),
                };
                self.core.set_join_timer(g, next);
            }
            _ => self.core.complete_join(g, now, out),
        }
    }

    pub(super) fn on_sync_deadline(&mut self, group: &str, now: i64, out: &mut Output) {
        let Some(g) = self.groups.get_mut(group) else { return };
        g.sync_deadline = None;
        if !matches!(g.state, GroupState::CompletingRebalance | GroupState::Stable)
            || g.pending_sync_members.is_empty()
        {
            return;
        }
        let late: Vec<String> = g.pending_sync_members.iter().cloned().collect();
        tracing::info!("group {group} removed members who did not sync: {late:?}");
        for id in late {
            self.core.evict(g, &id, out);
        }
        self.core.prepare_rebalance(g, now, out);
    }

    pub(super) fn on_sync_group_stored(
        &mut self,
        group: &str,
        generation: i32,
        assignment: HashMap<String, Bytes>,
        error: Option<AppendError>,
        now: i64,
        out: &mut Output,
    ) {
        let Some(g) = self.groups.get_mut(group) else { return };
        // Another member may have joined while the append was in flight.
        if !g.is(GroupState::CompletingRebalance) || g.generation_id != generation {
            return;
        }
        match error {
            Some(e) => {
                self.core.reset_and_propagate_assignment_error(g, e.for_group_store(), now, out);
                self.core.maybe_prepare_rebalance(g, now, out);
            }
            None => {
                for m in g.members.values_mut() {
                    m.assignment = assignment.get(&m.member_id).cloned().unwrap_or_default();
                }
                self.core.propagate_assignment(g, None, now, out);
                g.transition_to(GroupState::Stable, now);
            }
        }
    }

    pub(super) fn on_static_rejoin_stored(
        &mut self,
        r: StaticRejoin,
        error: Option<AppendError>,
        now: i64,
        out: &mut Output,
    ) {
        let Some(g) = self.groups.get_mut(&r.group) else { return };
        // A rebalance that started meanwhile answers the parked join itself.
        if !g.is(GroupState::Stable) {
            return;
        }
        let Some(m) = g.members.get_mut(&r.new_member_id) else { return };
        let Some(rid) = m.awaiting_join.take() else { return };
        let mut result = JoinGroupResult {
            error: None,
            generation_id: g.generation_id,
            protocol_type: g.protocol_type.clone(),
            protocol_name: g.protocol_name.clone(),
            leader: r.previous_leader.clone(),
            skip_assignment: false,
            member_id: r.new_member_id.clone(),
            members: Vec::new(),
        };
        if let Some(e) = error {
            // The new member id could not be persisted: put the old one back.
            m.protocols = r.old_protocols;
            m.rebalance_timeout_ms = r.old_rebalance_timeout_ms;
            m.session_timeout_ms = r.old_session_timeout_ms;
            self.core.replace_static_member(
                g,
                &r.instance_id,
                &r.new_member_id,
                &r.old_member_id,
                out,
            );
            self.core.schedule_session(g, &r.old_member_id, now);
            result.error = Some(e.for_group_store());
            result.member_id = String::new();
        } else if r.support_skipping_assignment {
            // KIP-814: tell a rejoining static leader it leads, but that the
            // assignment stands, so it keeps watching metadata without
            // running its assignor.
            let is_leader = g.is_leader(&r.new_member_id);
            result.leader = g.leader_id.clone().unwrap_or_default();
            result.skip_assignment = is_leader;
            if is_leader {
                result.members = g.current_member_metadata();
            }
        }
        // Before v9 the old leader id is returned, so a rejoining leader
        // does not see itself as leader and run a futile assignment.
        out.responses.push((rid, Response::JoinGroup(result)));
    }
}

impl Core {
    /// Kafka's `acceptJoiningMember` (KIP-389 group.max.size).
    pub(super) fn accept_joining_member(&self, g: &Group, member_id: &str) -> bool {
        let max = usize::try_from(self.config.group_max_size).unwrap_or(0);
        match g.state {
            GroupState::Empty | GroupState::Dead => true,
            // Counting members that have rejoined lets the last ones to
            // rejoin be shed when the limit was lowered.
            GroupState::PreparingRebalance => {
                g.members.get(member_id).is_some_and(|m| m.awaiting_join.is_some())
                    || g.num_awaiting_join() < max
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                g.has(member_id) || g.members.len() < max
            }
        }
    }

    fn new_member_join(
        &mut self,
        g: &mut Group,
        rid: RequestId,
        req: JoinGroupRequest,
        now: i64,
        out: &mut Output,
    ) -> Option<Pending> {
        let prefix = req.group_instance_id.as_deref().unwrap_or(&req.client_id).to_string();
        let new_member_id = self.generate_member_id(&prefix);
        match req.group_instance_id.clone() {
            Some(instance) => match g.current_static_member(&instance).map(str::to_string) {
                Some(old) => {
                    return self.update_static_member_and_rebalance(
                        g,
                        rid,
                        &instance,
                        &old,
                        &new_member_id,
                        req,
                        now,
                        out,
                    )
                }
                None => self.add_member_and_rebalance(g, rid, new_member_id, req, now, out),
            },
            None if req.require_known_member_id => {
                // KIP-394: hand out the id and make the client come back with
                // it, so a client that times out does not leave a ghost member.
                let deadline = now + i64::from(req.session_timeout_ms);
                g.pending_members.insert(new_member_id.clone(), deadline);
                self.timers.schedule(
                    deadline,
                    Timer::PendingMember {
                        group: g.group_id.clone(),
                        member: new_member_id.clone(),
                    },
                );
                join_error(out, rid, &new_member_id, Error::MemberIdRequired);
            }
            None => self.add_member_and_rebalance(g, rid, new_member_id, req, now, out),
        }
        None
    }

    fn current_member_join(
        &mut self,
        g: &mut Group,
        rid: RequestId,
        req: JoinGroupRequest,
        now: i64,
        out: &mut Output,
    ) {
        let member_id = req.member_id.clone();
        if let Some(&deadline) = g.pending_members.get(&member_id) {
            if req.group_instance_id.is_some() {
                // Pending ids are only handed to dynamic members; Kafka fails
                // such a request with an IllegalStateException.
                return join_error(out, rid, &member_id, Error::UnknownServerError);
            }
            self.timers.cancel(
                deadline,
                Timer::PendingMember { group: g.group_id.clone(), member: member_id.clone() },
            );
            return self.add_member_and_rebalance(g, rid, member_id, req, now, out);
        }
        if let Some(e) = validate_current_member(g, &member_id, req.group_instance_id.as_deref()) {
            return join_error(out, rid, &member_id, e);
        }
        let Some(member) = g.members.get(&member_id) else { return };
        let same_metadata = member.matches(&req.protocols);
        match g.state {
            GroupState::PreparingRebalance => {
                self.update_member_and_rebalance(g, rid, &req, now, out)
            }
            GroupState::CompletingRebalance if same_metadata => {
                // It lost the JoinGroup response: send this generation again.
                let members =
                    if g.is_leader(&member_id) { g.current_member_metadata() } else { Vec::new() };
                out.responses
                    .push((rid, Response::JoinGroup(generation_result(g, &member_id, members))));
            }
            GroupState::Stable if same_metadata && !g.is_leader(&member_id) => {
                out.responses
                    .push((rid, Response::JoinGroup(generation_result(g, &member_id, Vec::new()))));
            }
            // Changed metadata, or the leader asking for a rebalance (e.g.
            // after topic metadata changed).
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(g, rid, &req, now, out)
            }
            GroupState::Empty | GroupState::Dead => {
                join_error(out, rid, &member_id, Error::UnknownMemberId)
            }
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        g: &mut Group,
        rid: RequestId,
        member_id: String,
        req: JoinGroupRequest,
        now: i64,
        out: &mut Output,
    ) {
        if g.is(GroupState::PreparingRebalance) && g.generation_id == 0 {
            g.new_member_added = true;
        }
        g.add_member(Member {
            member_id: member_id.clone(),
            group_instance_id: req.group_instance_id,
            client_id: req.client_id,
            client_host: req.client_host,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            session_timeout_ms: req.session_timeout_ms,
            protocol_type: req.protocol_type,
            protocols: req.protocols,
            assignment: Bytes::new(),
            awaiting_join: Some(rid),
            awaiting_sync: None,
            is_new: true,
            heartbeat_deadline: None,
        });
        // A new member has no id to heartbeat with, and its socket is parked
        // on the JoinGroup; bound its wait so a vanished client does not
        // hold the rebalance forever.
        self.schedule_expiration(g, &member_id, now + NEW_MEMBER_JOIN_TIMEOUT_MS);
        self.maybe_prepare_rebalance(g, now, out);
    }

    fn update_member(
        g: &mut Group,
        member_id: &str,
        req: &JoinGroupRequest,
        rid: Option<RequestId>,
        out: &mut Output,
    ) {
        let Some(m) = g.members.get_mut(member_id) else { return };
        m.protocols = req.protocols.clone();
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        m.session_timeout_ms = req.session_timeout_ms;
        if let (Some(old), Some(_)) = (m.awaiting_join, rid) {
            // A retried JoinGroup supersedes the parked one; Kafka drops the
            // old callback, we answer it so its connection is not left waiting.
            join_error(out, old, member_id, Error::RebalanceInProgress);
        }
        m.awaiting_join = rid;
    }

    fn update_member_and_rebalance(
        &mut self,
        g: &mut Group,
        rid: RequestId,
        req: &JoinGroupRequest,
        now: i64,
        out: &mut Output,
    ) {
        Self::update_member(g, &req.member_id, req, Some(rid), out);
        self.maybe_prepare_rebalance(g, now, out);
    }

    /// KIP-345: a static member rejoining without its member id takes over
    /// its instance's slot under a new id, fencing the old one; a Stable
    /// group does not rebalance unless the selected protocol would change.
    #[allow(clippy::too_many_arguments)]
    fn update_static_member_and_rebalance(
        &mut self,
        g: &mut Group,
        rid: RequestId,
        instance: &str,
        old_member_id: &str,
        new_member_id: &str,
        mut req: JoinGroupRequest,
        now: i64,
        out: &mut Output,
    ) -> Option<Pending> {
        let previous_leader = g.leader_id.clone().unwrap_or_default();
        self.replace_static_member(g, instance, old_member_id, new_member_id, out);
        self.schedule_session(g, new_member_id, now);
        let (old_protocols, old_rebalance_timeout_ms, old_session_timeout_ms) =
            match g.members.get(new_member_id) {
                Some(m) => (m.protocols.clone(), m.rebalance_timeout_ms, m.session_timeout_ms),
                None => return None,
            };
        req.member_id = new_member_id.to_string();
        Self::update_member(g, new_member_id, &req, Some(rid), out);
        match g.state {
            GroupState::Stable => {
                if g.protocol_name == g.select_protocol() {
                    let pending = Pending::StaticRejoin(Box::new(StaticRejoin {
                        group: g.group_id.clone(),
                        instance_id: instance.to_string(),
                        old_member_id: old_member_id.to_string(),
                        new_member_id: new_member_id.to_string(),
                        old_protocols,
                        old_rebalance_timeout_ms,
                        old_session_timeout_ms,
                        previous_leader,
                        support_skipping_assignment: req.support_skipping_assignment,
                    }));
                    let assignment = g
                        .members
                        .values()
                        .map(|m| (m.member_id.clone(), m.assignment.clone()))
                        .collect();
                    return self.store_group(g, &assignment, pending, now, out);
                }
                self.maybe_prepare_rebalance(g, now, out);
            }
            // The leader may already hold the old member id in its
            // assignment, so the group must go round again.
            GroupState::CompletingRebalance => self.prepare_rebalance(g, now, out),
            // Static members only exist in groups with members, which are
            // never Empty; PreparingRebalance just waits for the others.
            GroupState::Empty | GroupState::Dead | GroupState::PreparingRebalance => {}
        }
        None
    }

    pub(super) fn replace_static_member(
        &mut self,
        g: &mut Group,
        instance: &str,
        old_id: &str,
        new_id: &str,
        out: &mut Output,
    ) {
        self.cancel_session(g, old_id);
        let Some(mut m) = g.members.remove(old_id) else { return };
        // Fence a duplicate instance still parked on a join or sync.
        if let Some(rid) = m.awaiting_join.take() {
            join_error(out, rid, old_id, Error::FencedInstanceId);
        }
        if let Some(rid) = m.awaiting_sync.take() {
            sync_error(out, rid, Error::FencedInstanceId);
        }
        m.member_id = new_id.to_string();
        g.members.insert(new_id.to_string(), m);
        if g.is_leader(old_id) {
            g.leader_id = Some(new_id.to_string());
        }
        g.static_members.insert(instance.to_string(), new_id.to_string());
        if g.pending_sync_members.remove(old_id) {
            g.pending_sync_members.insert(new_id.to_string());
        }
    }

    fn do_sync_group(
        &mut self,
        g: &mut Group,
        rid: RequestId,
        req: SyncGroupRequest,
        now: i64,
        out: &mut Output,
    ) -> Option<Pending> {
        let error = if g.is(GroupState::Dead) {
            Some(Error::CoordinatorNotAvailable)
        } else {
            validate_current_member(g, &req.member_id, req.group_instance_id.as_deref()).or_else(
                || {
                    if req.generation_id != g.generation_id {
                        Some(Error::IllegalGeneration)
                    } else if (req.protocol_type.is_some() && req.protocol_type != g.protocol_type)
                        || (req.protocol_name.is_some() && req.protocol_name != g.protocol_name)
                    {
                        Some(Error::InconsistentGroupProtocol)
                    } else {
                        None
                    }
                },
            )
        };
        if let Some(e) = error {
            sync_error(out, rid, e);
            return None;
        }
        match g.state {
            GroupState::Empty => sync_error(out, rid, Error::UnknownMemberId),
            GroupState::PreparingRebalance => sync_error(out, rid, Error::RebalanceInProgress),
            GroupState::CompletingRebalance => {
                if let Some(m) = g.members.get_mut(&req.member_id) {
                    if let Some(old) = m.awaiting_sync.replace(rid) {
                        sync_error(out, old, Error::RebalanceInProgress);
                    }
                }
                self.remove_pending_sync_member(g, &req.member_id);
                if g.is_leader(&req.member_id) {
                    // Members the leader left out get an empty assignment.
                    let mut assignment: HashMap<String, Bytes> =
                        req.assignments.into_iter().collect();
                    for id in g.members.keys() {
                        assignment.entry(id.clone()).or_default();
                    }
                    let pending = Pending::SyncGroup {
                        group: g.group_id.clone(),
                        generation: g.generation_id,
                        assignment: assignment.clone(),
                    };
                    return self.store_group(g, &assignment, pending, now, out);
                }
            }
            GroupState::Stable => {
                self.remove_pending_sync_member(g, &req.member_id);
                let assignment =
                    g.members.get(&req.member_id).map(|m| m.assignment.clone()).unwrap_or_default();
                let result = SyncGroupResult {
                    error: None,
                    protocol_type: g.protocol_type.clone(),
                    protocol_name: g.protocol_name.clone(),
                    assignment,
                };
                out.responses.push((rid, Response::SyncGroup(result)));
                self.schedule_session(g, &req.member_id, now);
            }
            GroupState::Dead => sync_error(out, rid, Error::CoordinatorNotAvailable),
        }
        None
    }

    fn do_heartbeat(&mut self, g: &mut Group, req: &HeartbeatRequest, now: i64) -> Option<Error> {
        if g.is(GroupState::Dead) {
            return Some(Error::CoordinatorNotAvailable);
        }
        if let Some(e) =
            validate_current_member(g, &req.member_id, req.group_instance_id.as_deref())
        {
            return Some(e);
        }
        if req.generation_id != g.generation_id {
            return Some(Error::IllegalGeneration);
        }
        match g.state {
            GroupState::Empty | GroupState::Dead => Some(Error::UnknownMemberId),
            // Clients may heartbeat between their JoinGroup and SyncGroup.
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.schedule_session(g, &req.member_id, now);
                None
            }
            GroupState::PreparingRebalance => {
                self.schedule_session(g, &req.member_id, now);
                Some(Error::RebalanceInProgress)
            }
        }
    }

    fn leave_one(
        &mut self,
        g: &mut Group,
        leaving: &super::MemberIdentity,
        now: i64,
        out: &mut Output,
    ) -> Option<Error> {
        if g.is(GroupState::Dead) {
            return Some(Error::CoordinatorNotAvailable);
        }
        if leaving.member_id.is_empty() {
            // KIP-345 admin removal: by group.instance.id alone.
            let current = leaving
                .group_instance_id
                .as_deref()
                .and_then(|i| g.current_static_member(i))
                .map(str::to_string);
            return match current {
                Some(id) => {
                    self.remove_member_and_update_group(g, &id, now, out);
                    None
                }
                None => Some(Error::UnknownMemberId),
            };
        }
        if let Some(deadline) = g.pending_members.remove(&leaving.member_id) {
            self.timers.cancel(
                deadline,
                Timer::PendingMember {
                    group: g.group_id.clone(),
                    member: leaving.member_id.clone(),
                },
            );
            if g.is(GroupState::PreparingRebalance) {
                self.try_complete_join(g, now, out);
            }
            return None;
        }
        if let Some(e) =
            validate_current_member(g, &leaving.member_id, leaving.group_instance_id.as_deref())
        {
            return Some(e);
        }
        self.remove_member_and_update_group(g, &leaving.member_id, now, out);
        None
    }
}

/// Why a group refuses any join: it is going away, or the member shares
/// no protocol with it.
fn join_refusal(g: &Group, req: &JoinGroupRequest) -> Option<Error> {
    if g.is(GroupState::Dead) {
        Some(Error::CoordinatorNotAvailable)
    } else if !g.supports_protocols(&req.protocol_type, &req.protocols) {
        Some(Error::InconsistentGroupProtocol)
    } else {
        None
    }
}

/// Kafka's `validateCurrentMember`: a static member's instance id must map
/// to the member id it sends; a dynamic member must exist.
fn validate_current_member(g: &Group, member_id: &str, instance: Option<&str>) -> Option<Error> {
    if let Some(instance) = instance {
        match g.current_static_member(instance) {
            Some(current) if current != member_id => return Some(Error::FencedInstanceId),
            Some(_) => {}
            None => return Some(Error::UnknownMemberId),
        }
    }
    (!g.has(member_id)).then_some(Error::UnknownMemberId)
}
