//! The connector plugins this runtime ships (Kafka's file connectors), their
//! config definitions and the validation behind
//! `PUT /connector-plugins/CLASS/config/validate` and `POST /connectors`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::converter::{Converter, BYTE_ARRAY_CONVERTER, JSON_CONVERTER, STRING_CONVERTER};

pub type Config = BTreeMap<String, String>;

pub const FILE_SOURCE: &str = "org.apache.kafka.connect.file.FileStreamSourceConnector";
pub const FILE_SINK: &str = "org.apache.kafka.connect.file.FileStreamSinkConnector";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectorType {
    Source,
    Sink,
}

impl ConnectorType {
    pub fn name(self) -> &'static str {
        match self {
            ConnectorType::Source => "source",
            ConnectorType::Sink => "sink",
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct Plugin {
    pub class: &'static str,
    pub kind: ConnectorType,
    pub task_class: &'static str,
}

pub static PLUGINS: [Plugin; 2] = [
    Plugin {
        class: FILE_SINK,
        kind: ConnectorType::Sink,
        task_class: "org.apache.kafka.connect.file.FileStreamSinkTask",
    },
    Plugin {
        class: FILE_SOURCE,
        kind: ConnectorType::Source,
        task_class: "org.apache.kafka.connect.file.FileStreamSourceTask",
    },
];

/// The version the plugin listing reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Finds a plugin the ways Kafka's plugin loader does: the full class name,
/// the simple name, or the simple name without the `Connector` suffix.
pub fn find(class: &str) -> Option<&'static Plugin> {
    let class = class.trim();
    PLUGINS.iter().find(|p| {
        let simple = p.class.rsplit('.').next().unwrap_or(p.class);
        class == p.class || class == simple || Some(class) == simple.strip_suffix("Connector")
    })
}

pub fn unknown_class_message(class: &str) -> String {
    let available: Vec<&str> = PLUGINS.iter().map(|p| p.class).collect();
    format!(
        "Failed to find any class that implements Connector and which name matches {class}, available connectors are: {}",
        available.join(", ")
    )
}

/// One entry of a ConfigDef, as the validate endpoint shows it.
struct Key {
    name: &'static str,
    ty: &'static str,
    default: Option<&'static str>,
    required: bool,
    importance: &'static str,
    doc: &'static str,
    group: &'static str,
    display: &'static str,
}

const COMMON: [Key; 5] = [
    Key { name: "name", ty: "STRING", default: None, required: true, importance: "HIGH", doc: "Globally unique name to use for this connector.", group: "Common", display: "Connector name" },
    Key { name: "connector.class", ty: "STRING", default: None, required: true, importance: "HIGH", doc: "Name or alias of the class for this connector. Must be a subclass of org.apache.kafka.connect.connector.Connector.", group: "Common", display: "Connector class" },
    Key { name: "tasks.max", ty: "INT", default: Some("1"), required: false, importance: "HIGH", doc: "Maximum number of tasks to use for this connector.", group: "Common", display: "Tasks max" },
    Key { name: "key.converter", ty: "CLASS", default: None, required: false, importance: "LOW", doc: "Converter class used to convert between Kafka Connect format and the serialized form that is written to Kafka. This overrides the worker's key.converter.", group: "Common", display: "Key converter class" },
    Key { name: "value.converter", ty: "CLASS", default: None, required: false, importance: "LOW", doc: "Converter class used to convert between Kafka Connect format and the serialized form that is written to Kafka. This overrides the worker's value.converter.", group: "Common", display: "Value converter class" },
];

const SOURCE: [Key; 3] = [
    Key { name: "file", ty: "STRING", default: None, required: false, importance: "HIGH", doc: "Source filename. If not specified, the standard input will be used", group: "", display: "" },
    Key { name: "topic", ty: "STRING", default: None, required: true, importance: "HIGH", doc: "The topic to publish data to", group: "", display: "" },
    Key { name: "batch.size", ty: "INT", default: Some("2000"), required: false, importance: "LOW", doc: "The maximum number of records the source task can read from the file each time it is polled", group: "", display: "" },
];

const SINK: [Key; 3] = [
    Key { name: "topics", ty: "LIST", default: Some(""), required: false, importance: "HIGH", doc: "List of topics to consume, separated by commas", group: "Common", display: "Topics" },
    Key { name: "topics.regex", ty: "STRING", default: Some(""), required: false, importance: "HIGH", doc: "Regular expression giving topics to consume. Under the hood, the regex is compiled to a java.util.regex.Pattern. Only one of topics or topics.regex should be specified.", group: "Common", display: "Topics regex" },
    Key { name: "file", ty: "STRING", default: None, required: false, importance: "HIGH", doc: "Destination filename. If not specified, the standard output will be used", group: "", display: "" },
];

fn keys(kind: ConnectorType) -> impl Iterator<Item = &'static Key> {
    let own: &'static [Key] = match kind {
        ConnectorType::Source => &SOURCE,
        ConnectorType::Sink => &SINK,
    };
    COMMON.iter().chain(own)
}

/// Errors per config key for `config` run against `plugin` (and the
/// worker's converter settings for the converters it does not override).
pub fn errors(
    plugin: &Plugin,
    config: &Config,
    worker: &Config,
) -> BTreeMap<&'static str, Vec<String>> {
    let mut errors: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    for k in keys(plugin.kind) {
        let value = config.get(k.name).map(|v| v.trim());
        if k.required && value.is_none_or(str::is_empty) && k.name != "name" {
            errors.entry(k.name).or_default().push(format!(
                "Missing required configuration \"{}\" which has no default value.",
                k.name
            ));
            continue;
        }
        if let (Some(v), "INT") = (value, k.ty) {
            if v.parse::<i32>().is_err() {
                errors.entry(k.name).or_default().push(format!(
                    "Invalid value {v} for configuration {}: Not a number of type INT",
                    k.name
                ));
            }
        }
    }
    let at_least_one = |key: &'static str, errors: &mut BTreeMap<&'static str, Vec<String>>| {
        if let Some(Ok(n)) = config.get(key).map(|v| v.trim().parse::<i32>()) {
            if n < 1 {
                errors.entry(key).or_default().push(format!(
                    "Invalid value {n} for configuration {key}: Value must be at least 1"
                ));
            }
        }
    };
    at_least_one("tasks.max", &mut errors);
    at_least_one("batch.size", &mut errors);
    for prefix in ["key.converter", "value.converter"] {
        if config.contains_key(prefix) || worker.contains_key(prefix) {
            if let Err(e) = Converter::configure(prefix, config, worker) {
                let name =
                    if prefix == "key.converter" { "key.converter" } else { "value.converter" };
                errors.entry(name).or_default().push(e.to_string());
            }
        }
    }
    if plugin.kind == ConnectorType::Sink {
        let topics = config.get("topics").map(|s| s.trim()).filter(|s| !s.is_empty());
        let regex = config.get("topics.regex").map(|s| s.trim()).filter(|s| !s.is_empty());
        match (topics, regex) {
            (Some(_), Some(_)) => {
                let m = "topics and topics.regex are mutually exclusive options, but both are set.";
                errors.entry("topics").or_default().push(m.into());
                errors.entry("topics.regex").or_default().push(m.into());
            }
            (None, None) => {
                let m = "Must configure one of topics or topics.regex";
                errors.entry("topics").or_default().push(m.into());
                errors.entry("topics.regex").or_default().push(m.into());
            }
            (None, Some(r)) => {
                if let Err(e) = regex::Regex::new(r) {
                    errors
                        .entry("topics.regex")
                        .or_default()
                        .push(format!("Invalid value {r} for configuration topics.regex: {e}"));
                }
            }
            (Some(_), None) => {}
        }
    }
    errors
}

/// Kafka's ConfigInfos JSON for the validate endpoint.
pub fn validate_json(plugin: &Plugin, config: &Config, worker: &Config) -> Value {
    let errors = errors(plugin, config, worker);
    let count: usize = errors.values().map(Vec::len).sum();
    let mut groups: Vec<&str> = Vec::new();
    let configs: Vec<Value> = keys(plugin.kind)
        .enumerate()
        .map(|(i, k)| {
            if !k.group.is_empty() && !groups.contains(&k.group) {
                groups.push(k.group);
            }
            json!({
                "definition": {
                    "name": k.name,
                    "type": k.ty,
                    "required": k.required,
                    "default_value": k.default,
                    "importance": k.importance,
                    "documentation": k.doc,
                    "group": if k.group.is_empty() { Value::Null } else { json!(k.group) },
                    "width": if k.group.is_empty() { "NONE" } else { "MEDIUM" },
                    "display_name": if k.display.is_empty() { k.name } else { k.display },
                    "dependents": [],
                    "order": if k.group.is_empty() { -1 } else { i as i64 + 1 },
                },
                "value": {
                    "name": k.name,
                    "value": config.get(k.name).map(String::as_str).or(k.default),
                    "recommended_values": recommended(k.name),
                    "errors": errors.get(k.name).cloned().unwrap_or_default(),
                    "visible": true,
                },
            })
        })
        .collect();
    json!({ "name": plugin.class, "error_count": count, "groups": groups, "configs": configs })
}

fn recommended(name: &str) -> Vec<&'static str> {
    match name {
        "key.converter" | "value.converter" => {
            vec![BYTE_ARRAY_CONVERTER, JSON_CONVERTER, STRING_CONVERTER]
        }
        _ => Vec::new(),
    }
}

/// `Connector.taskConfigs`: FileStreamSource always runs one task (a file
/// has one reader); FileStreamSink runs `tasks.max` copies that share the
/// topic partitions through the consumer group.
pub fn task_configs(plugin: &Plugin, config: &Config) -> Vec<Config> {
    let max: usize =
        config.get("tasks.max").and_then(|v| v.trim().parse::<usize>().ok()).unwrap_or(1).max(1);
    let mut task = Config::new();
    task.insert("task.class".into(), plugin.task_class.into());
    match plugin.kind {
        ConnectorType::Source => {
            for k in ["file", "topic"] {
                if let Some(v) = config.get(k) {
                    task.insert(k.into(), v.clone());
                }
            }
            task.insert(
                "batch.size".into(),
                config.get("batch.size").cloned().unwrap_or("2000".into()),
            );
            vec![task]
        }
        ConnectorType::Sink => {
            for k in ["file", "topics", "topics.regex"] {
                if let Some(v) = config.get(k) {
                    task.insert(k.into(), v.clone());
                }
            }
            vec![task; max]
        }
    }
}

/// The message `POST /connectors` answers with when validation fails.
pub fn invalid_message(errors: &BTreeMap<&'static str, Vec<String>>) -> String {
    let all: Vec<&String> = errors.values().flatten().collect();
    let mut m = format!(
        "Connector configuration is invalid and contains the following {} error(s):\n",
        all.len()
    );
    for e in all {
        m.push_str(e);
        m.push('\n');
    }
    m.push_str("You can also find the above list of errors at the endpoint `/connector-plugins/{connectorType}/config/validate`");
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(pairs: &[(&str, &str)]) -> Config {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn finds_plugins_by_kafkas_names() {
        assert_eq!(find("FileStreamSource").unwrap().class, FILE_SOURCE);
        assert_eq!(find("FileStreamSinkConnector").unwrap().class, FILE_SINK);
        assert_eq!(find(FILE_SINK).unwrap().kind, ConnectorType::Sink);
        assert!(find("FileStream").is_none());
    }

    #[test]
    fn sink_needs_topics_or_regex_and_tasks_at_least_one() {
        let sink = find(FILE_SINK).unwrap();
        let e = errors(sink, &conf(&[("connector.class", FILE_SINK)]), &Config::new());
        assert_eq!(e["topics"], vec!["Must configure one of topics or topics.regex"]);
        let e = errors(
            sink,
            &conf(&[("connector.class", FILE_SINK), ("topics", "t"), ("tasks.max", "0")]),
            &Config::new(),
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e["tasks.max"][0].contains("at least 1"));
        let source = find(FILE_SOURCE).unwrap();
        let e = errors(source, &conf(&[("connector.class", "FileStreamSource")]), &Config::new());
        assert!(e["topic"][0].starts_with("Missing required configuration \"topic\""));
    }

    #[test]
    fn source_runs_one_task_sink_runs_tasks_max() {
        let source = find(FILE_SOURCE).unwrap();
        let t = task_configs(source, &conf(&[("tasks.max", "3"), ("topic", "t"), ("file", "f")]));
        assert_eq!(t.len(), 1);
        assert_eq!(t[0]["batch.size"], "2000");
        let sink = find(FILE_SINK).unwrap();
        assert_eq!(task_configs(sink, &conf(&[("tasks.max", "2"), ("topics", "t")])).len(), 2);
    }
}
