//! CreateTopics: validates names, partition counts, replication factors,
//! explicit assignments and configs; `validate_only` checks without
//! creating.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::str_bytes;
use crate::broker::error::ApiError;
use crate::broker::topics::{self, TopicRequest};
use crate::broker::{topic_config, BrokerContext};
use crate::protocol::ErrorCode;

pub async fn handle(
    ctx: &BrokerContext,
    version: i16,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for t in &req.topics {
        *seen.entry(t.name.0.to_string()).or_default() += 1;
    }
    let mut results = Vec::with_capacity(req.topics.len().min(1024));
    // Index into `results` of each topic that passed the request checks.
    let mut valid: Vec<(usize, TopicRequest)> = Vec::new();
    for t in req.topics {
        let name = t.name.0.to_string();
        let mut result = CreatableTopicResult::default();
        result.name = t.name.clone();
        result.num_partitions = -1;
        result.replication_factor = -1;
        if seen.get(&name).copied().unwrap_or(0) > 1 {
            set_error(
                &mut result,
                &ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("Create topics request from client contains duplicate topic {name}"),
                ),
            );
            results.push(result);
            continue;
        }
        let mut configs = BTreeMap::new();
        let mut null_config = None;
        for c in &t.configs {
            match &c.value {
                Some(v) => {
                    configs.insert(c.name.to_string(), v.to_string());
                }
                None => null_config = Some(c.name.to_string()),
            }
        }
        if let Some(key) = null_config {
            set_error(
                &mut result,
                &ApiError::new(
                    ErrorCode::InvalidConfig,
                    topic_config::InvalidConfig::Null(key).to_string(),
                ),
            );
            results.push(result);
            continue;
        }
        valid.push((
            results.len(),
            TopicRequest {
                name: name.clone(),
                num_partitions: t.num_partitions,
                replication_factor: t.replication_factor,
                assignment: t
                    .assignments
                    .iter()
                    .map(|a| (a.partition_index, a.broker_ids.iter().map(|b| b.0).collect()))
                    .collect(),
                configs,
            },
        ));
        results.push(result);
    }
    let requests: Vec<TopicRequest> = valid.iter().map(|(_, r)| r.clone()).collect();
    let outcomes = if req.validate_only {
        let image = ctx.store.image();
        requests.iter().map(|r| topics::plan_topic(ctx, &image, r)).collect()
    } else {
        // All topics of the request are created together: one write round
        // to ZooKeeper and one pass over the local logs for all of them.
        topics::create_topics(ctx, &requests).await
    };
    for ((i, _), outcome) in valid.iter().zip(outcomes) {
        let result = &mut results[*i];
        match outcome {
            Ok(topic) => {
                result.topic_id =
                    if req.validate_only { uuid::Uuid::nil() } else { topic.topic_id };
                result.num_partitions = topic.partitions.len() as i32;
                result.replication_factor =
                    topic.partitions.values().next().map_or(0, |p| p.replicas.len() as i16);
                if version >= 5 {
                    result.configs = Some(
                        topic_config::effective(&ctx.config, &topic.configs)
                            .into_iter()
                            .map(|e| {
                                let mut c = CreatableTopicConfigs::default();
                                c.name = str_bytes(e.name);
                                c.value = Some(str_bytes(e.value));
                                c.config_source = e.source as i8;
                                c
                            })
                            .collect(),
                    );
                }
            }
            Err(e) => set_error(result, &e),
        }
    }
    let mut resp = CreateTopicsResponse::default();
    resp.topics = results;
    resp
}

fn set_error(result: &mut CreatableTopicResult, e: &ApiError) {
    result.error_code = e.code.code();
    result.error_message = e.message.clone().map(str_bytes);
}
