//! Kafka's leader election strategies (`PartitionLeaderElectionAlgorithms`
//! in `PartitionStateMachine.scala`, 2.8) as pure functions over one
//! partition's assignment, ISR and the brokers that may lead.
//!
//! "May lead" (`can_lead`) means registered and not shutting down: Kafka's
//! `liveBrokerIds` leaves out brokers in controlled shutdown, so no
//! election hands a partition to a broker that is about to go.

use super::{LeaderAndIsr, NO_LEADER};

/// A leader chosen for an offline partition, and whether it came from
/// outside the ISR (an unclean election: acknowledged records may be lost).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfflineLeader {
    pub leader: i32,
    pub unclean: bool,
}

/// `offlinePartitionLeaderElection`: the first replica in assignment
/// order that can lead and is in the ISR; failing that, only with
/// `unclean.leader.election.enable`, the first replica that can lead.
pub fn offline_partition_leader(
    assignment: &[i32],
    isr: &[i32],
    can_lead: impl Fn(i32) -> bool,
    unclean_enabled: bool,
) -> Option<OfflineLeader> {
    if let Some(&leader) = assignment.iter().find(|&&r| can_lead(r) && isr.contains(&r)) {
        return Some(OfflineLeader { leader, unclean: false });
    }
    if !unclean_enabled {
        return None;
    }
    assignment
        .iter()
        .copied()
        .find(|&r| can_lead(r))
        .map(|leader| OfflineLeader { leader, unclean: true })
}

/// The state after an offline election: a clean leader keeps the ISR
/// members that are still registered; an unclean one starts a new ISR
/// with itself alone (the old members may hold records it lacks).
pub fn after_offline_election(
    current: &LeaderAndIsr,
    chosen: OfflineLeader,
    registered: impl Fn(i32) -> bool,
) -> LeaderAndIsr {
    let isr = if chosen.unclean {
        vec![chosen.leader]
    } else {
        current.isr.iter().copied().filter(|&r| registered(r)).collect()
    };
    current.next(chosen.leader, isr)
}

/// `preferredReplicaPartitionLeaderElection`: the first assigned replica,
/// if it can lead and is in the ISR.
pub fn preferred_leader(
    assignment: &[i32],
    isr: &[i32],
    can_lead: impl Fn(i32) -> bool,
) -> Option<i32> {
    let &preferred = assignment.first()?;
    (can_lead(preferred) && isr.contains(&preferred)).then_some(preferred)
}

/// `controlledShutdownPartitionLeaderElection`: the first assigned replica
/// in the ISR that can lead (so not itself shutting down).
pub fn controlled_shutdown_leader(
    assignment: &[i32],
    isr: &[i32],
    can_lead: impl Fn(i32) -> bool,
) -> Option<i32> {
    assignment.iter().copied().find(|&r| can_lead(r) && isr.contains(&r))
}

/// A new partition (`NewPartition` → `OnlinePartition`,
/// `initializeLeaderAndIsrForPartitions`): the first registered replica
/// leads and every registered replica is in the ISR, since an empty log is
/// trivially caught up. `None` while no replica is registered: the
/// partition stays new, with no state znode, until one is.
pub fn initial_leader_and_isr(
    assignment: &[i32],
    registered: impl Fn(i32) -> bool,
) -> Option<LeaderAndIsr> {
    let live: Vec<i32> = assignment.iter().copied().filter(|&r| registered(r)).collect();
    let &leader = live.first()?;
    Some(LeaderAndIsr { leader, leader_epoch: 0, isr: live })
}

/// Removes brokers that are gone from an ISR (`doRemoveReplicaFromIsr`).
/// Kafka never empties an ISR: when every member is gone the last one
/// stays, so the partition waits for that broker (the one known to hold
/// every acknowledged record) rather than for any replica. The old leader
/// is kept in preference, then the first member.
pub fn isr_without(isr: &[i32], old_leader: i32, registered: impl Fn(i32) -> bool) -> Vec<i32> {
    let kept: Vec<i32> = isr.iter().copied().filter(|&r| registered(r)).collect();
    if !kept.is_empty() {
        return kept;
    }
    if isr.contains(&old_leader) {
        vec![old_leader]
    } else {
        isr.first().map(|&r| vec![r]).unwrap_or_default()
    }
}

/// The state of a partition whose leader is gone and for which no
/// election succeeded: no leader, the ISR pruned by [`isr_without`].
pub fn offline(current: &LeaderAndIsr, registered: impl Fn(i32) -> bool) -> LeaderAndIsr {
    current.next(NO_LEADER, isr_without(&current.isr, current.leader, registered))
}
