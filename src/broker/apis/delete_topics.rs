//! DeleteTopics: by name (v0-5) or by name or topic id (v6+). Refused with
//! TOPIC_DELETION_DISABLED when `delete.topic.enable=false`.

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
    let mut resp = DeleteTopicsResponse::default();
    for (name, id) in targets {
        let mut r = DeletableTopicResult::default();
        r.name = name.clone().map(|n| TopicName(str_bytes(n)));
        r.topic_id = id;
        match delete_one(ctx, name, id).await {
            Ok((name, id)) => {
                r.name = Some(TopicName(str_bytes(name)));
                r.topic_id = id;
            }
            Err(e) => {
                r.error_code = e.code.code();
                r.error_message = e.message.map(str_bytes);
            }
        }
        resp.responses.push(r);
    }
    resp
}

async fn delete_one(
    ctx: &BrokerContext,
    name: Option<String>,
    id: uuid::Uuid,
) -> Result<(String, uuid::Uuid), ApiError> {
    if !ctx.config.delete_topic_enable {
        return Err(ApiError::new(ErrorCode::TopicDeletionDisabled, "Topic deletion is disabled."));
    }
    let image = ctx.store.image();
    let topic = match &name {
        Some(n) => image.topic(n).ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownTopicOrPartition,
                "This server does not host this topic-partition.",
            )
        })?,
        None => image.topic_by_id(id).ok_or_else(|| {
            ApiError::new(ErrorCode::UnknownTopicId, "This server does not host this topic ID.")
        })?,
    };
    let (name, id) = (topic.name.clone(), topic.topic_id);
    ctx.store.delete_topic(&name).await?;
    ctx.apply_metadata().await;
    tracing::info!(topic = %name, "deleted topic");
    Ok((name, id))
}
