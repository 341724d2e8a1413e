//! Partition reassignment as KIP-455 has Kafka's controller do it
//! (`KafkaController.onPartitionReassignment`), in two phases driven by
//! the ISR:
//!
//! - Phase A: the partition's replicas become the target followed by the
//!   original replicas, with `adding_replicas` / `removing_replicas`
//!   recorded in the topic znode, and the leader epoch is bumped. Brokers
//!   named for the first time open the partition and follow the leader,
//!   who adds them to the ISR once they catch up.
//! - Phase B, once every target replica is in the ISR: the replicas become
//!   the target, the leader moves into it if it is outside (the first
//!   target replica that can lead and is in the ISR), removed replicas
//!   leave the ISR, and the epoch is bumped again. A broker no longer
//!   named stops its replica and deletes its log when it sees the znode.
//!
//! The topic znode is the whole record of a reassignment in progress, so
//! a controller elected mid-way resumes it from what it reads, and
//! cancelling is reassigning to the original replicas.

use super::{election, Controller, ReassignmentError, ReplicaAssignment, StoredState, NO_LEADER};
use crate::types::TopicPartition;

impl Controller {
    /// The partitions being reassigned, with their replicas, adding and
    /// removing sets (ListPartitionReassignments); `None` means all.
    pub fn ongoing_reassignments(
        &self,
        wanted: Option<&[TopicPartition]>,
    ) -> Vec<(TopicPartition, ReplicaAssignment)> {
        let mut out = Vec::new();
        for (name, t) in &self.topics {
            for (p, v) in &t.partitions {
                let tp = TopicPartition::new(name.clone(), *p);
                if wanted.is_some_and(|w| !w.contains(&tp)) {
                    continue;
                }
                let a = assignment_of(v);
                if a.is_being_reassigned() {
                    out.push((tp, a));
                }
            }
        }
        out
    }

    /// `handleApiPartitionReassignment` for one partition: validates the
    /// target (`validateReplicas`), starts, changes or cancels the
    /// reassignment, and completes it at once when the ISR allows.
    pub(super) fn alter_reassignment(
        &mut self,
        tp: &TopicPartition,
        target: Option<Vec<i32>>,
        check_live: bool,
    ) -> Result<(), ReassignmentError> {
        let view = self
            .partition(tp)
            .ok_or_else(|| ReassignmentError::UnknownTopicOrPartition(tp.clone()))?;
        let current = assignment_of(view);
        let target = match target {
            Some(t) => t,
            None if current.is_being_reassigned() => current.origin_replicas(),
            None => return Err(ReassignmentError::NoReassignmentInProgress(tp.clone())),
        };
        self.validate_replicas(&current, &target, check_live)?;
        let next = current.reassign_to(&target);
        if next != current {
            tracing::info!(
                "{tp}: reassigning from {:?} to {target:?} (replicas {:?}, adding {:?}, removing {:?})",
                current.origin_replicas(),
                next.replicas,
                next.adding,
                next.removing
            );
            self.start_reassignment(tp, &current, next);
        }
        self.maybe_complete_reassignment(tp);
        Ok(())
    }

    fn validate_replicas(
        &self,
        current: &ReplicaAssignment,
        target: &[i32],
        check_live: bool,
    ) -> Result<(), ReassignmentError> {
        let invalid = ReassignmentError::InvalidReplicaAssignment;
        if target.is_empty() {
            return Err(invalid("Empty replica list specified in partition reassignment.".into()));
        }
        let mut seen = target.to_vec();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() != target.len() {
            return Err(invalid(format!(
                "Duplicate replica ids in partition reassignment replica list: {target:?}"
            )));
        }
        if target.iter().any(|&r| r < 0) {
            return Err(invalid(format!("Invalid broker id in replica list: {target:?}")));
        }
        let adding = current.reassign_to(target).adding;
        if check_live && !adding.iter().all(|r| self.live.contains(r)) {
            return Err(invalid(format!(
                "Replica assignment has brokers that are not alive. Replica list: {adding:?}, \
                 live broker list: {:?}",
                self.live
            )));
        }
        Ok(())
    }

    /// Phase A: records the full replica set and bumps the leader epoch.
    /// Replicas an earlier, changed or cancelled reassignment was adding
    /// and the new one does not want leave the ISR (Kafka's
    /// `stopRemovedReplicasOfReassignedPartition`).
    fn start_reassignment(
        &mut self,
        tp: &TopicPartition,
        current: &ReplicaAssignment,
        next: ReplicaAssignment,
    ) {
        let dropped: Vec<i32> =
            current.replicas.iter().copied().filter(|r| !next.replicas.contains(r)).collect();
        let state = self.partition(tp).and_then(|v| v.state.clone());
        let Some(view) = self.partition_mut(tp) else { return };
        view.replicas = next.replicas.clone();
        view.adding = next.adding;
        view.removing = next.removing;
        self.write_topic(&tp.topic);
        let Some(StoredState { leader_and_isr: current_state, .. }) = state else { return };
        let isr: Vec<i32> =
            current_state.isr.iter().copied().filter(|r| !dropped.contains(r)).collect();
        let leader = if dropped.contains(&current_state.leader) {
            election::controlled_shutdown_leader(&next.replicas, &isr, |b| self.can_lead(b))
                .unwrap_or(NO_LEADER)
        } else {
            current_state.leader
        };
        self.write(tp.clone(), current_state.next(leader, isr));
    }

    /// Phase B, when every target replica is in the ISR and one of them
    /// can lead (`reassignPartitionLeaderElection`); otherwise the
    /// reassignment waits for the next ISR change.
    pub(super) fn maybe_complete_reassignment(&mut self, tp: &TopicPartition) {
        let Some(view) = self.partition(tp) else { return };
        let assignment = assignment_of(view);
        if !assignment.is_being_reassigned() {
            return;
        }
        let Some(stored) = &view.state else { return };
        let current = &stored.leader_and_isr;
        let target = assignment.target_replicas();
        if !target.iter().all(|r| current.isr.contains(r)) {
            return;
        }
        let leader = if target.contains(&current.leader) && self.can_lead(current.leader) {
            current.leader
        } else {
            match election::controlled_shutdown_leader(&target, &current.isr, |b| self.can_lead(b))
            {
                Some(l) => l,
                None => return,
            }
        };
        let isr: Vec<i32> = current.isr.iter().copied().filter(|r| target.contains(r)).collect();
        let next = current.next(leader, isr);
        tracing::info!(
            "{tp}: reassignment to {target:?} complete; leader {leader}, epoch {}, removing {:?}",
            next.leader_epoch,
            assignment.removing
        );
        self.write(tp.clone(), next);
        if let Some(view) = self.partition_mut(tp) {
            view.replicas = target;
            view.adding.clear();
            view.removing.clear();
        }
        self.write_topic(&tp.topic);
    }

    fn partition_mut(&mut self, tp: &TopicPartition) -> Option<&mut super::PartitionView> {
        self.topics.get_mut(&tp.topic)?.partitions.get_mut(&tp.partition.0)
    }
}

fn assignment_of(v: &super::PartitionView) -> ReplicaAssignment {
    ReplicaAssignment {
        replicas: v.replicas.clone(),
        adding: v.adding.clone(),
        removing: v.removing.clone(),
    }
}
