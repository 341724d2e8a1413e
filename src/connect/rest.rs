//! Kafka Connect's REST API, endpoint for endpoint, with Kafka's JSON
//! shapes and status codes; errors as `{"error_code":N,"message":"..."}`.

use std::sync::Arc;

use serde_json::{json, Value};

use super::error::Error;
use super::herder::{ConfigChange, Herder, TargetState};
use super::plugins::{self, Config};
use crate::client::admin::Admin;
use crate::http::{Request, Response};

/// Answers one request.
pub async fn handle(herder: Arc<Herder>, req: Request) -> Response {
    match route(&herder, &req).await {
        Ok(r) => r,
        Err(e) => Response::error(e.status(), &e.to_string()),
    }
}

fn body_json(req: &Request) -> Result<Value, Error> {
    serde_json::from_slice(&req.body)
        .map_err(|e| Error::BadRequest(format!("Cannot deserialize the request body: {e}")))
}

/// A JSON object of strings (Connect configs are `Map<String, String>`);
/// numbers and booleans are taken as their text, as Jackson does.
fn config_map(v: &Value) -> Result<Config, Error> {
    let obj = v
        .as_object()
        .ok_or_else(|| Error::BadRequest("The connector config must be a JSON object".into()))?;
    obj.iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => {
                    return Err(Error::BadRequest(format!("Null value for config key {k}")))
                }
                other => other.to_string(),
            };
            Ok((k.clone(), s))
        })
        .collect()
}

fn method_not_allowed() -> Result<Response, Error> {
    Ok(Response::error(405, "HTTP 405 Method Not Allowed"))
}

async fn route(herder: &Arc<Herder>, req: &Request) -> Result<Response, Error> {
    let seg: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    let m = req.method.as_str();
    match seg.as_slice() {
        [] => match m {
            "GET" => Ok(Response::json(
                200,
                &json!({
                    "version": plugins::VERSION,
                    "commit": option_env!("KAFKA_RS_COMMIT").unwrap_or("unknown"),
                    "kafka_cluster_id": herder.kafka_cluster_id,
                }),
            )),
            _ => method_not_allowed(),
        },
        ["connectors"] => match m {
            "GET" => list(herder, req).await,
            "POST" => create(herder, req).await,
            _ => method_not_allowed(),
        },
        ["connectors", name] => match m {
            "GET" => {
                let c = herder.connector(name).await?;
                Ok(Response::json(200, &Herder::info_json(name, &c)))
            }
            "DELETE" => {
                herder.connector(name).await?;
                herder.change(ConfigChange::Delete { name: name.to_string() }).await?;
                Ok(Response::no_content())
            }
            _ => method_not_allowed(),
        },
        ["connectors", name, "config"] => match m {
            "GET" => Ok(Response::json(200, &json!(herder.connector(name).await?.config))),
            "PUT" => {
                let mut config = config_map(&body_json(req)?)?;
                match config.get("name") {
                    Some(n) if n != name => {
                        return Err(Error::BadRequest(
                            "Connector name configuration (".to_string()
                                + n
                                + ") doesn't match connector name in the URL ("
                                + name
                                + ")",
                        ))
                    }
                    Some(_) => {}
                    None => {
                        config.insert("name".into(), name.to_string());
                    }
                }
                let created = herder.put_connector(name, config, false).await?;
                let c = herder.connector(name).await?;
                Ok(Response::json(if created { 201 } else { 200 }, &Herder::info_json(name, &c)))
            }
            _ => method_not_allowed(),
        },
        ["connectors", name, "status"] if m == "GET" => {
            Ok(Response::json(200, &herder.status_json(name).await?))
        }
        ["connectors", name, "tasks"] if m == "GET" => {
            let c = herder.connector(name).await?;
            let tasks: Vec<Value> = c
                .task_configs
                .iter()
                .enumerate()
                .map(|(i, t)| json!({ "id": { "connector": name, "task": i }, "config": t }))
                .collect();
            Ok(Response::json(200, &json!(tasks)))
        }
        ["connectors", name, "tasks", id, "status"] if m == "GET" => {
            let status = herder.status_json(name).await?;
            let task = task_id(id).and_then(|id| {
                status["tasks"].as_array()?.iter().find(|t| t["id"] == json!(id)).cloned()
            });
            match task {
                Some(t) => Ok(Response::json(200, &t)),
                None => Ok(Response::error(404, &format!("No status found for task {name}-{id}"))),
            }
        }
        ["connectors", name, "tasks", id, "restart"] if m == "POST" => {
            let c = herder.connector(name).await?;
            match task_id(id).filter(|&i| (i as usize) < c.task_configs.len()) {
                Some(id) => {
                    herder.change(ConfigChange::RestartTask { name: name.to_string(), id }).await?;
                    Ok(Response::no_content())
                }
                None => Ok(Response::error(404, &format!("Task {name}-{id} not found"))),
            }
        }
        ["connectors", name, "restart"] if m == "POST" => {
            herder.connector(name).await?;
            let flag = |k: &str| req.param(k).is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let (include_tasks, only_failed) = (flag("includeTasks"), flag("onlyFailed"));
            herder
                .change(ConfigChange::Restart {
                    name: name.to_string(),
                    include_tasks,
                    only_failed,
                })
                .await?;
            if include_tasks || only_failed {
                Ok(Response::json(202, &herder.status_json(name).await?))
            } else {
                Ok(Response::no_content())
            }
        }
        ["connectors", name, action @ ("pause" | "resume" | "stop")] if m == "PUT" => {
            herder.connector(name).await?;
            let target = match *action {
                "pause" => TargetState::Paused,
                "resume" => TargetState::Started,
                _ => TargetState::Stopped,
            };
            herder.change(ConfigChange::Target { name: name.to_string(), target }).await?;
            Ok(Response::json_text(202, String::new()))
        }
        ["connectors", name, "offsets"] => match m {
            "GET" => offsets(herder, name).await,
            "DELETE" => reset_offsets(herder, name).await,
            _ => method_not_allowed(),
        },
        ["connector-plugins"] if m == "GET" => {
            let mut list: Vec<Value> = plugins::PLUGINS
                .iter()
                .map(|p| json!({ "class": p.class, "type": p.kind.name(), "version": plugins::VERSION }))
                .collect();
            if req.param("connectorsOnly").is_some_and(|v| v.eq_ignore_ascii_case("false")) {
                for class in [
                    super::converter::BYTE_ARRAY_CONVERTER,
                    super::converter::JSON_CONVERTER,
                    super::converter::STRING_CONVERTER,
                ] {
                    list.push(
                        json!({ "class": class, "type": "converter", "version": plugins::VERSION }),
                    );
                }
            }
            Ok(Response::json(200, &json!(list)))
        }
        ["connector-plugins", class, "config", "validate"] if m == "PUT" => {
            let config = config_map(&body_json(req)?)?;
            let plugin = plugins::find(class)
                .ok_or_else(|| Error::BadRequest(plugins::unknown_class_message(class)))?;
            Ok(Response::json(
                200,
                &plugins::validate_json(plugin, &config, &herder.env.worker_config),
            ))
        }
        _ => Ok(Response::error(404, "HTTP 404 Not Found")),
    }
}

fn task_id(s: &str) -> Option<u32> {
    s.parse().ok()
}

async fn list(herder: &Arc<Herder>, req: &Request) -> Result<Response, Error> {
    let expand: Vec<&str> =
        req.query.iter().filter(|(k, _)| k == "expand").map(|(_, v)| v.as_str()).collect();
    let names = herder.names().await;
    if expand.is_empty() {
        return Ok(Response::json(200, &json!(names)));
    }
    let mut out = serde_json::Map::new();
    for name in names {
        let mut entry = serde_json::Map::new();
        if expand.contains(&"status") {
            if let Ok(s) = herder.status_json(&name).await {
                entry.insert("status".into(), s);
            }
        }
        if expand.contains(&"info") {
            if let Ok(c) = herder.connector(&name).await {
                entry.insert("info".into(), Herder::info_json(&name, &c));
            }
        }
        out.insert(name, Value::Object(entry));
    }
    Ok(Response::json(200, &Value::Object(out)))
}

async fn create(herder: &Arc<Herder>, req: &Request) -> Result<Response, Error> {
    let body = body_json(req)?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            body.get("config")
                .and_then(|c| c.get("name"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .ok_or_else(|| Error::BadRequest("Connector name cannot be empty".into()))?;
    let mut config = config_map(body.get("config").unwrap_or(&Value::Null))
        .map_err(|_| Error::BadRequest("The request body must have a \"config\" object".into()))?;
    config.entry("name".into()).or_insert_with(|| name.clone());
    herder.put_connector(&name, config, true).await?;
    let c = herder.connector(&name).await?;
    Ok(Response::json(201, &Herder::info_json(&name, &c)))
}

async fn offsets(herder: &Arc<Herder>, name: &str) -> Result<Response, Error> {
    let c = herder.connector(name).await?;
    let entries: Vec<Value> = match Herder::connector_type(&c.config) {
        Some(plugins::ConnectorType::Sink) => {
            let admin = Admin::new(herder.env.cluster.clone());
            admin
                .group_offsets(&format!("connect-{name}"))
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|((t, p), o)| {
                    json!({
                        "partition": { "kafka_topic": t, "kafka_partition": p },
                        "offset": { "kafka_offset": o },
                    })
                })
                .collect()
        }
        _ => {
            herder.env.offsets.refresh().await?;
            herder
                .env
                .offsets
                .of_connector(name)
                .into_iter()
                .map(|(p, o)| json!({ "partition": p, "offset": o }))
                .collect()
        }
    };
    Ok(Response::json(200, &json!({ "offsets": entries })))
}

async fn reset_offsets(herder: &Arc<Herder>, name: &str) -> Result<Response, Error> {
    let c = herder.connector(name).await?;
    if c.target != TargetState::Stopped {
        return Err(Error::BadRequest(format!(
            "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/{name}/stop' endpoint"
        )));
    }
    match Herder::connector_type(&c.config) {
        Some(plugins::ConnectorType::Sink) => {
            let admin = Admin::new(herder.env.cluster.clone());
            let group = format!("connect-{name}");
            for (_, err) in admin.delete_groups(&[group]).await? {
                match err {
                    None => {}
                    Some(e)
                        if e.code()
                            == Some(kafka_protocol::error::ResponseError::GroupIdNotFound) => {}
                    Some(e) => return Err(e.into()),
                }
            }
        }
        _ => herder.env.offsets.reset(name).await?,
    }
    Ok(Response::json(
        200,
        &json!({ "message": "The offsets for this connector have been reset successfully" }),
    ))
}
