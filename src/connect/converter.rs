//! Kafka Connect's converters, with Kafka's class names and byte formats:
//! `StringConverter` (UTF-8 text), `ByteArrayConverter` (bytes as they are)
//! and `JsonConverter` with `schemas.enable` (the
//! `{"schema":...,"payload":...}` envelope) or without (plain JSON).

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{json, Value};

use super::error::{Error, Result};

pub const STRING_CONVERTER: &str = "org.apache.kafka.connect.storage.StringConverter";
pub const BYTE_ARRAY_CONVERTER: &str = "org.apache.kafka.connect.converters.ByteArrayConverter";
pub const JSON_CONVERTER: &str = "org.apache.kafka.connect.json.JsonConverter";

/// A value in Connect's data model, as far as the file connectors need it.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    Null,
    /// Schema `string`.
    String(String),
    /// Schema `bytes`.
    Bytes(Vec<u8>),
    /// Schemaless data (maps, arrays, numbers, booleans) as JSON.
    Json(Value),
}

impl Data {
    /// The text FileStreamSink writes for a value (Java's `toString`, with
    /// bytes written as they are rather than as `[B@...`).
    pub fn to_line(&self) -> Vec<u8> {
        match self {
            Data::Null => b"null".to_vec(),
            Data::String(s) => s.as_bytes().to_vec(),
            Data::Bytes(b) => b.clone(),
            Data::Json(v) => v.to_string().into_bytes(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Converter {
    String,
    ByteArray,
    Json { schemas_enable: bool },
}

impl Converter {
    /// The converter named by `prefix` (`key.converter` or
    /// `value.converter`) in the connector config, else in the worker
    /// config; its own settings (`value.converter.schemas.enable`) come from
    /// the same place as its class.
    pub fn configure(
        prefix: &str,
        connector: &BTreeMap<String, String>,
        worker: &BTreeMap<String, String>,
    ) -> Result<Self> {
        let source = if connector.contains_key(prefix) { connector } else { worker };
        let Some(class) = source.get(prefix) else {
            return Err(Error::Config(format!(
                "Missing required configuration \"{prefix}\" which has no default value."
            )));
        };
        let schemas_key = format!("{prefix}.schemas.enable");
        let schemas_enable = match source.get(&schemas_key).map(|v| v.trim().to_ascii_lowercase()) {
            None => true,
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            Some(v) => {
                return Err(Error::Config(format!(
                    "Invalid value {v} for configuration {schemas_key}: Expected value to be either true or false"
                )))
            }
        };
        match class.trim() {
            STRING_CONVERTER | "StringConverter" => Ok(Converter::String),
            BYTE_ARRAY_CONVERTER | "ByteArrayConverter" => Ok(Converter::ByteArray),
            JSON_CONVERTER | "JsonConverter" => Ok(Converter::Json { schemas_enable }),
            other => Err(Error::Config(format!(
                "Invalid value {other} for configuration {prefix}: Class {other} could not be found."
            ))),
        }
    }

    /// `fromConnectData`: the bytes to put in a record (`None` = null).
    pub fn from_connect(&self, data: &Data) -> Result<Option<Vec<u8>>> {
        match (self, data) {
            (_, Data::Null) => Ok(None),
            (Converter::String, Data::String(s)) => Ok(Some(s.as_bytes().to_vec())),
            (Converter::String, Data::Bytes(b)) => Ok(Some(b.clone())),
            (Converter::String, Data::Json(v)) => Ok(Some(v.to_string().into_bytes())),
            (Converter::ByteArray, Data::Bytes(b)) => Ok(Some(b.clone())),
            (Converter::ByteArray, other) => Err(Error::Data(format!(
                "ByteArrayConverter is not compatible with objects of type {}",
                java_type(other)
            ))),
            (Converter::Json { schemas_enable }, data) => {
                // Written by hand to keep Kafka's field order ("schema"
                // before "payload", "type" before "optional").
                let (schema, payload) = match data {
                    Data::String(s) => (r#"{"type":"string","optional":false}"#, json!(s)),
                    Data::Bytes(b) => (
                        r#"{"type":"bytes","optional":false}"#,
                        json!(base64::engine::general_purpose::STANDARD.encode(b)),
                    ),
                    Data::Json(v) => ("null", v.clone()),
                    Data::Null => unreachable!("matched above"),
                };
                let out = if *schemas_enable {
                    format!(r#"{{"schema":{schema},"payload":{payload}}}"#)
                } else {
                    payload.to_string()
                };
                Ok(Some(out.into_bytes()))
            }
        }
    }

    /// `toConnectData`: a record's bytes back into Connect data.
    /// The bytes StringConverter gives and takes for UTF-8 text are the
    /// text itself: the file connectors skip the round trip through
    /// [`Data`] (two copies a line) when that is so. `None` when the
    /// conversion has to run.
    pub fn same_bytes<'a>(&self, bytes: Option<&'a [u8]>) -> Option<&'a [u8]> {
        match (self, bytes) {
            (Converter::String, Some(b)) if std::str::from_utf8(b).is_ok() => Some(b),
            _ => None,
        }
    }

    pub fn to_connect(&self, topic: &str, bytes: Option<&[u8]>) -> Result<Data> {
        let Some(bytes) = bytes else { return Ok(Data::Null) };
        match self {
            Converter::String => Ok(Data::String(String::from_utf8_lossy(bytes).into_owned())),
            Converter::ByteArray => Ok(Data::Bytes(bytes.to_vec())),
            Converter::Json { schemas_enable } => {
                let value: Value = serde_json::from_slice(bytes).map_err(|e| {
                    Error::Data(format!(
                        "Converting byte[] to Kafka Connect data failed due to serialization error of topic {topic}: {e}"
                    ))
                })?;
                if !schemas_enable {
                    return Ok(match value {
                        Value::Null => Data::Null,
                        Value::String(s) => Data::String(s),
                        other => Data::Json(other),
                    });
                }
                let envelope = match &value {
                    Value::Object(m) if m.len() == 2 && m.contains_key("schema") && m.contains_key("payload") => m,
                    _ => return Err(Error::Data(
                        "JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and may not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration.".into(),
                    )),
                };
                let schema_type = envelope["schema"].get("type").and_then(Value::as_str);
                match (schema_type, &envelope["payload"]) {
                    (_, Value::Null) => Ok(Data::Null),
                    (Some("string"), Value::String(s)) => Ok(Data::String(s.clone())),
                    (Some("bytes"), Value::String(s)) => base64::engine::general_purpose::STANDARD
                        .decode(s)
                        .map(Data::Bytes)
                        .map_err(|e| Error::Data(format!("Invalid bytes field: {e}"))),
                    (Some("string" | "bytes"), other) => Err(Error::Data(format!(
                        "Invalid JSON for {} schema: {other}",
                        schema_type.unwrap_or_default()
                    ))),
                    (_, Value::String(s)) => Ok(Data::String(s.clone())),
                    (_, other) => Ok(Data::Json(other.clone())),
                }
            }
        }
    }
}

fn java_type(d: &Data) -> &'static str {
    match d {
        Data::String(_) => "class java.lang.String",
        Data::Bytes(_) => "class [B",
        Data::Json(Value::Object(_)) => "class java.util.HashMap",
        Data::Json(Value::Array(_)) => "class java.util.ArrayList",
        Data::Json(_) => "class java.lang.Object",
        Data::Null => "null",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_is_exactly_what_the_string_round_trip_gives() {
        let c = Converter::String;
        for text in ["plain", "", "ünïcödé ✓", "tab\tand \"quotes\""] {
            let b = text.as_bytes();
            assert_eq!(c.same_bytes(Some(b)), Some(b));
            assert_eq!(c.to_connect("t", Some(b)).unwrap().to_line(), b, "sink side");
            let produced = c.from_connect(&Data::String(text.into())).unwrap();
            assert_eq!(produced.as_deref(), Some(b), "source side");
        }
        assert_eq!(c.same_bytes(Some(b"\xff\xfe")), None, "invalid UTF-8 is converted");
        assert_eq!(c.same_bytes(None), None, "null is converted");
        let json = Converter::Json { schemas_enable: false };
        assert_eq!(json.same_bytes(Some(b"x")), None, "JSON always converts");
    }

    fn conf(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn json_with_schemas_writes_kafkas_envelope() {
        let c = Converter::configure(
            "value.converter",
            &BTreeMap::new(),
            &conf(&[("value.converter", JSON_CONVERTER)]),
        )
        .unwrap();
        let bytes = c.from_connect(&Data::String("foo".into())).unwrap().unwrap();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            r#"{"schema":{"type":"string","optional":false},"payload":"foo"}"#
        );
        assert_eq!(c.to_connect("t", Some(&bytes)).unwrap(), Data::String("foo".into()));
        assert!(
            c.to_connect("t", Some(b"\"plain\"")).is_err(),
            "schemas.enable wants the envelope"
        );
        assert_eq!(c.from_connect(&Data::Null).unwrap(), None, "null stays null");
    }

    #[test]
    fn connector_settings_override_the_workers() {
        let worker = conf(&[
            ("value.converter", "org.apache.kafka.connect.json.JsonConverter"),
            ("value.converter.schemas.enable", "true"),
        ]);
        let connector = conf(&[
            ("value.converter", "JsonConverter"),
            ("value.converter.schemas.enable", "false"),
        ]);
        let c = Converter::configure("value.converter", &connector, &worker).unwrap();
        assert_eq!(c, Converter::Json { schemas_enable: false });
        let bytes = c.from_connect(&Data::String("a\"b".into())).unwrap().unwrap();
        assert_eq!(bytes, br#""a\"b""#);
        assert_eq!(c.to_connect("t", Some(br#"{"x":1}"#)).unwrap(), Data::Json(json!({"x": 1})));
    }

    #[test]
    fn string_and_byte_array_formats() {
        let s = Converter::String;
        assert_eq!(
            s.from_connect(&Data::String("héllo".into())).unwrap().unwrap(),
            "héllo".as_bytes()
        );
        let b = Converter::ByteArray;
        assert_eq!(b.to_connect("t", Some(&[0, 255])).unwrap(), Data::Bytes(vec![0, 255]));
        assert!(b.from_connect(&Data::String("x".into())).is_err());
        let bad = Converter::configure(
            "key.converter",
            &conf(&[("key.converter", "com.example.Nope")]),
            &BTreeMap::new(),
        );
        assert!(bad.unwrap_err().to_string().contains("Class com.example.Nope could not be found"));
    }
}
