//! CreatePartitions: grows a topic to `count` partitions, assigned round
//! robin or as given; partitions can be added, never removed.

use std::collections::BTreeMap;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::error_fields;
use crate::broker::error::ApiError;
use crate::broker::topics::{assign, initial_states, validate_assignment};
use crate::broker::BrokerContext;
use crate::protocol::ErrorCode;

pub async fn handle(ctx: &BrokerContext, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let mut resp = CreatePartitionsResponse::default();
    for t in req.topics {
        let assignments: Option<Vec<Vec<i32>>> = t.assignments.map(|a| {
            a.into_iter().map(|x| x.broker_ids.into_iter().map(|b| b.0).collect()).collect()
        });
        let outcome = grow(ctx, t.name.0.as_str(), t.count, assignments, req.validate_only).await;
        let mut r = CreatePartitionsTopicResult::default();
        r.name = t.name;
        (r.error_code, r.error_message) = error_fields(outcome);
        resp.results.push(r);
    }
    resp
}

async fn grow(
    ctx: &BrokerContext,
    name: &str,
    count: i32,
    assignments: Option<Vec<Vec<i32>>>,
    validate_only: bool,
) -> Result<(), ApiError> {
    let image = ctx.store.image();
    let topic = image.topic(name).ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnknownTopicOrPartition,
            format!("The topic '{name}' does not exist."),
        )
    })?;
    let current = topic.partitions.len() as i32;
    if count <= current {
        return Err(ApiError::new(
            ErrorCode::InvalidPartitions,
            format!("Topic currently has {current} partitions, which is higher than the requested {count}."),
        ));
    }
    let live: Vec<i32> = image.brokers.keys().copied().collect();
    let added = count - current;
    let assignment: BTreeMap<i32, Vec<i32>> = match assignments {
        Some(list) => {
            if list.len() as i32 != added {
                return Err(ApiError::new(
                    ErrorCode::InvalidReplicaAssignment,
                    format!("Increasing the number of partitions by {added} but {} assignments provided.", list.len()),
                ));
            }
            let a: BTreeMap<i32, Vec<i32>> =
                list.into_iter().enumerate().map(|(i, r)| (current + i as i32, r)).collect();
            validate_assignment(&live, current, &a)?;
            a
        }
        None => {
            let rf = topic.partitions.values().next().map_or(1, |p| p.replicas.len()) as i16;
            assign(&live, current, added, rf)?
        }
    };
    if validate_only {
        return Ok(());
    }
    ctx.store.create_partitions(name, initial_states(&image, assignment)).await?;
    ctx.apply_metadata().await;
    tracing::info!(topic = %name, partitions = count, "added partitions");
    Ok(())
}
