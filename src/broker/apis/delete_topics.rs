//! DeleteTopics: by name (v0-5) or by name or topic id (v6+). Refused with
//! TOPIC_DELETION_DISABLED when `delete.topic.enable=false`.

use std::collections::BTreeSet;

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};

use super::str_bytes;
use crate::broker::error::ApiError;
use crate::broker::BrokerContext;
use crate::protocol::ErrorCode;

pub async fn handle(
    ctx: &BrokerContext,
    version: i16,
    req: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let targets: Vec<(Option<String>, uuid::Uuid)> = if version >= 6 {
        req.topics.into_iter().map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id)).collect()
    } else {
        req.topic_names.into_iter().map(|n| (Some(n.0.to_string()), uuid::Uuid::nil())).collect()
    };
    let resolved: Vec<Result<(String, uuid::Uuid), ApiError>> =
        targets.iter().map(|(name, id)| resolve(ctx, name.as_deref(), *id)).collect();
    // One store call and one metadata application for the whole request:
    // a bulk delete of a hundred topics costs a few ZooKeeper writes and
    // one pass over the logs, not a hundred of each.
    let mut names: Vec<String> =
        resolved.iter().filter_map(|r| r.as_ref().ok().map(|(n, _)| n.clone())).collect();
    names.sort();
    names.dedup();
    let outcome = if names.is_empty() {
        Ok(BTreeSet::new())
    } else {
        ctx.store.delete_topics(&names).await.map_err(ApiError::from)
    };
    if !names.is_empty() {
        ctx.apply_metadata().await;
    }
    let mut resp = DeleteTopicsResponse::default();
    for ((name, id), r) in targets.into_iter().zip(resolved) {
        let mut out = DeletableTopicResult::default();
        out.name = name.map(|n| TopicName(str_bytes(n)));
        out.topic_id = id;
        let result = r.and_then(|(name, id)| match &outcome {
            Ok(unknown) if unknown.contains(&name) => Err(unknown_topic()),
            Ok(_) => Ok((name, id)),
            Err(e) => Err(e.clone()),
        });
        match result {
            Ok((name, id)) => {
                tracing::info!(topic = %name, "deleted topic");
                out.name = Some(TopicName(str_bytes(name)));
                out.topic_id = id;
            }
            Err(e) => {
                out.error_code = e.code.code();
                out.error_message = e.message.map(str_bytes);
            }
        }
        resp.responses.push(out);
    }
    resp
}

fn unknown_topic() -> ApiError {
    ApiError::new(
        ErrorCode::UnknownTopicOrPartition,
        "This server does not host this topic-partition.",
    )
}

fn resolve(
    ctx: &BrokerContext,
    name: Option<&str>,
    id: uuid::Uuid,
) -> Result<(String, uuid::Uuid), ApiError> {
    if !ctx.config.delete_topic_enable {
        return Err(ApiError::new(ErrorCode::TopicDeletionDisabled, "Topic deletion is disabled."));
    }
    let image = ctx.store.image();
    let topic = match name {
        Some(n) => image.topic(n).ok_or_else(unknown_topic)?,
        None => image.topic_by_id(id).ok_or_else(|| {
            ApiError::new(ErrorCode::UnknownTopicId, "This server does not host this topic ID.")
        })?,
    };
    Ok((topic.name.clone(), topic.topic_id))
}
