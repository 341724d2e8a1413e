//! Controlled shutdown (Kafka's `KafkaServer.controlledShutdown`): before a
//! broker stops, the controller moves the leaderships it holds to other
//! in-sync replicas and takes it out of the ISRs it follows in, so clients
//! see a leader change (a retriable error) instead of a dead leader, and
//! acks=all producers do not wait for a replica that is going away.
//!
//! The broker keeps serving meanwhile; it asks up to
//! `controlled.shutdown.max.retries` + 1 times, `controlled.shutdown.retry.backoff.ms`
//! apart, and then waits until its own metadata shows it leads nothing
//! that could move, so it answers NOT_LEADER_OR_FOLLOWER rather than
//! accepting writes it would take down with it.

use std::time::{Duration, Instant};

use super::BrokerContext;

/// Partitions with more than one replica that hold one on this broker
/// (only those can move), and how many of them it leads.
fn replicated_partitions(ctx: &BrokerContext) -> (usize, usize) {
    let me = ctx.broker_id;
    let image = ctx.store.image();
    let mine: Vec<_> = image
        .topics
        .values()
        .flat_map(|t| t.partitions.values())
        .filter(|p| p.replicas.len() > 1 && p.replicas.contains(&me))
        .collect();
    let led = mine.iter().filter(|p| p.state.leader == me).count();
    (mine.len(), led)
}

pub async fn controlled_shutdown(ctx: &BrokerContext) {
    let config = &ctx.config;
    if !config.controlled_shutdown_enable || replicated_partitions(ctx).0 == 0 {
        return;
    }
    let backoff = Duration::from_millis(config.controlled_shutdown_retry_backoff_ms);
    // How long one request may wait for the controller's answer.
    let wait = backoff.max(Duration::from_secs(1));
    let started = Instant::now();
    tracing::info!("Starting controlled shutdown");
    // Kafka's controller sends StopReplica to a stopping broker's followers:
    // a replica still fetching would catch up and be taken back into the
    // ISRs the controller is about to shrink.
    ctx.replicas.fetchers.shutdown();
    for attempt in 0..=config.controlled_shutdown_max_retries {
        if attempt > 0 {
            tokio::time::sleep(backoff).await;
            tracing::info!("Retrying controlled shutdown after the previous attempt failed...");
        }
        let asked = ctx.store.controlled_shutdown(ctx.broker_id, wait);
        match tokio::time::timeout(wait, asked).await {
            Ok(Ok(remaining)) if remaining.is_empty() => {
                wait_until_leading_nothing(ctx, wait).await;
                tracing::info!(
                    "Controlled shutdown request returned successfully after {}ms",
                    started.elapsed().as_millis()
                );
                return;
            }
            Ok(Ok(remaining)) => {
                let names: Vec<String> = remaining.iter().map(|tp| tp.to_string()).collect();
                tracing::warn!("Remaining partitions to move: {}", names.join(","));
            }
            Ok(Err(e)) => tracing::warn!("Error during controlled shutdown: {e}"),
            Err(_) => tracing::warn!("Error during controlled shutdown: no answer in {wait:?}"),
        }
    }
    tracing::warn!(
        "Proceeding to do an unclean shutdown as all the controlled shutdown attempts failed"
    );
}

/// Waits (bounded) until this broker's metadata shows the moves.
async fn wait_until_leading_nothing(ctx: &BrokerContext, limit: Duration) {
    let mut changes = ctx.store.subscribe();
    let _ = tokio::time::timeout(limit, async {
        while replicated_partitions(ctx).1 > 0 {
            if changes.changed().await.is_err() {
                return;
            }
        }
    })
    .await;
    ctx.apply_metadata().await;
}
