//! Java `.properties` files, as Kafka and ZooKeeper read them.
//!
//! This module only parses text into ordered key/value pairs; what the keys
//! mean (and their defaults) belongs to the component that reads them.

use std::fmt;
use std::path::{Path, PathBuf};

/// Parsed `.properties`: later keys override earlier ones, order is kept for
/// diagnostics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Properties {
    entries: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("invalid value for {key}: {value:?} ({reason})")]
    InvalidValue { key: String, value: String, reason: String },
    #[error("invalid override {0:?}: expected key=value")]
    InvalidOverride(String),
}

impl Properties {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        Ok(Self::parse(&text))
    }

    /// Parses the format of `java.util.Properties.load`: `#`/`!` comments,
    /// `=`, `:` or whitespace separators, backslash line continuations and
    /// escapes.
    pub fn parse(text: &str) -> Self {
        let mut props = Properties::new();
        let mut logical = String::new();
        for raw in text.lines() {
            let line = if logical.is_empty() { raw.trim_start() } else { raw.trim_start() };
            if logical.is_empty()
                && (line.is_empty() || line.starts_with('#') || line.starts_with('!'))
            {
                continue;
            }
            // An odd number of trailing backslashes continues the line.
            let trailing = line.bytes().rev().take_while(|&b| b == b'\\').count();
            if trailing % 2 == 1 {
                logical.push_str(&line[..line.len() - 1]);
                continue;
            }
            logical.push_str(line);
            let (k, v) = split_entry(&logical);
            props.set(unescape(&k), unescape(&v));
            logical.clear();
        }
        if !logical.is_empty() {
            let (k, v) = split_entry(&logical);
            props.set(unescape(&k), unescape(&v));
        }
        props
    }

    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        if let Some(e) = self.entries.iter_mut().find(|(k, _)| *k == key) {
            e.1 = value;
        } else {
            self.entries.push((key, value));
        }
    }

    /// Applies a `key=value` override, as `kafka-server-start.sh --override` does.
    pub fn apply_override(&mut self, kv: &str) -> Result<(), Error> {
        let (k, v) = kv.split_once('=').ok_or_else(|| Error::InvalidOverride(kv.to_string()))?;
        if k.trim().is_empty() {
            return Err(Error::InvalidOverride(kv.to_string()));
        }
        self.set(k.trim(), v.trim());
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(i).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A typed value, or `default` when absent; an unparsable value is an
    /// error naming the key, never a silent default.
    pub fn parse_or<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, Error>
    where
        T::Err: fmt::Display,
    {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.trim().parse::<T>().map_err(|e| Error::InvalidValue {
                key: key.to_string(),
                value: v.to_string(),
                reason: e.to_string(),
            }),
        }
    }

    /// Kafka's booleans: `true`/`false`, case-insensitive.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, Error> {
        match self.get(key).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if v == "true" => Ok(true),
            Some(v) if v == "false" => Ok(false),
            Some(v) => Err(Error::InvalidValue {
                key: key.to_string(),
                value: v,
                reason: "expected true or false".into(),
            }),
        }
    }
}

/// The items of a comma-separated LIST value, trimmed; empty items (a
/// doubled or trailing comma) are dropped rather than refused.
pub fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn split_entry(line: &str) -> (String, String) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' | b'\x0c' => break,
            _ => i += 1,
        }
    }
    let key = line[..i.min(line.len())].to_string();
    let mut rest = line.get(i..).unwrap_or("").trim_start_matches([' ', '\t', '\x0c']);
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = r.trim_start_matches([' ', '\t', '\x0c']);
    }
    (key, rest.to_string())
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => out.push_str(&hex),
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_items_are_trimmed_and_empty_ones_dropped() {
        let cases: [(&str, &[&str], &str); 4] = [
            ("", &[], "an empty value is an empty list"),
            ("a,b", &["a", "b"], "plain"),
            (" a , b ", &["a", "b"], "white space around items"),
            ("a,,b,", &["a", "b"], "doubled and trailing commas"),
        ];
        for (value, want, why) in cases {
            assert_eq!(list(value).collect::<Vec<_>>(), want, "{why}");
        }
    }

    #[test]
    fn parses_kafka_quickstart_file() {
        let p = Properties::parse(
            "# comment\n! bang comment\nbroker.id=0\nlisteners = PLAINTEXT://:9092\n\
             log.dirs:/tmp/kafka-logs\nport 9093\nzookeeper.connect=localhost:2181\\\n  /kafka\n",
        );
        assert_eq!(p.get("broker.id"), Some("0"), "plain key=value");
        assert_eq!(p.get("listeners"), Some("PLAINTEXT://:9092"), "spaces around =");
        assert_eq!(p.get("log.dirs"), Some("/tmp/kafka-logs"), "colon separator");
        assert_eq!(p.get("port"), Some("9093"), "whitespace separator");
        assert_eq!(p.get("zookeeper.connect"), Some("localhost:2181/kafka"), "continuation");
    }

    #[test]
    fn later_keys_and_overrides_win() {
        let mut p = Properties::parse("a=1\na=2\n");
        assert_eq!(p.get("a"), Some("2"));
        p.apply_override("a=3").unwrap();
        assert_eq!(p.get("a"), Some("3"));
        assert!(p.apply_override("novalue").is_err(), "an override needs =");
    }

    #[test]
    fn typed_values_name_the_key_on_error() {
        let p = Properties::parse("num.partitions=abc\nflag=TRUE\n");
        let err = p.parse_or::<i32>("num.partitions", 1).unwrap_err().to_string();
        assert!(err.contains("num.partitions"), "{err}");
        assert_eq!(p.parse_or::<i32>("missing", 7).unwrap(), 7);
        assert!(p.bool_or("flag", false).unwrap());
    }

    #[test]
    fn escapes() {
        let p = Properties::parse("key\\ with\\ space=a\\tb\\u0041\n");
        assert_eq!(p.get("key with space"), Some("a\tbA"));
    }
}
