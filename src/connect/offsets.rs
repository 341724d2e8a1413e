//! Source offsets, keyed the way Kafka Connect keys them: the key is the
//! JSON array `["connector-name",{partition}]`, the value the JSON object
//! `{offset}` (FileStreamSource: `["name",{"filename":"/path"}]` →
//! `{"position":1234}`).
//!
//! Standalone workers keep them in `offset.storage.file.filename`: one JSON
//! object mapping each key (as JSON text) to its value, replaced atomically
//! (write to a temp file, fsync, rename) on every commit, so a crash leaves
//! either the old or the new file. Distributed workers write each key to the
//! offset topic (`offset.storage.topic`), exactly as Kafka does, and read the
//! topic back on start.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::error::{Error, Result};
use super::topic_log::TopicLog;

enum Backend {
    File(PathBuf),
    Topic(Arc<TopicLog>),
}

pub struct OffsetStore {
    data: Mutex<BTreeMap<String, Value>>,
    backend: Backend,
}

fn key_text(connector: &str, partition: &Value) -> String {
    json!([connector, partition]).to_string()
}

impl OffsetStore {
    pub async fn open_file(path: PathBuf) -> Result<Self> {
        let p = path.clone();
        let text = tokio::task::spawn_blocking(move || match std::fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })
        .await
        .map_err(|e| Error::Data(e.to_string()))?
        .map_err(|e| Error::io(format!("cannot read offsets from {}", path.display()), e))?;
        let data = match text {
            None => BTreeMap::new(),
            Some(b) if b.is_empty() => BTreeMap::new(),
            Some(b) => serde_json::from_slice(&b).map_err(|e| {
                Error::Config(format!(
                    "offset.storage.file.filename {} is not an offsets file written by this worker: {e}",
                    path.display()
                ))
            })?,
        };
        Ok(OffsetStore { data: Mutex::new(data), backend: Backend::File(path) })
    }

    pub async fn open_topic(log: Arc<TopicLog>) -> Result<Self> {
        let store = OffsetStore { data: Mutex::new(BTreeMap::new()), backend: Backend::Topic(log) };
        store.refresh().await?;
        Ok(store)
    }

    /// Reads what other workers committed (distributed), before a task
    /// starts from its stored position.
    pub async fn refresh(&self) -> Result<()> {
        let Backend::Topic(log) = &self.backend else { return Ok(()) };
        let mut read = Vec::new();
        log.read_to_end(|e| read.push(e)).await?;
        let mut data = self.data.lock().expect("offset map lock");
        for (k, v) in read {
            let key = String::from_utf8_lossy(&k).into_owned();
            match v.and_then(|v| serde_json::from_slice::<Value>(&v).ok()) {
                Some(v) => data.insert(key, v),
                None => data.remove(&key),
            };
        }
        Ok(())
    }

    pub fn get(&self, connector: &str, partition: &Value) -> Option<Value> {
        self.data.lock().expect("offset map lock").get(&key_text(connector, partition)).cloned()
    }

    /// Every (partition, offset) stored for a connector.
    pub fn of_connector(&self, connector: &str) -> Vec<(Value, Value)> {
        self.data
            .lock()
            .expect("offset map lock")
            .iter()
            .filter_map(|(k, v)| {
                let key: Value = serde_json::from_str(k).ok()?;
                (key.get(0)?.as_str()? == connector).then(|| (key[1].clone(), v.clone()))
            })
            .collect()
    }

    /// Stores offsets durably (`None` removes a partition's offset).
    pub async fn commit(&self, connector: &str, entries: &[(Value, Option<Value>)]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let snapshot = {
            let mut data = self.data.lock().expect("offset map lock");
            for (partition, offset) in entries {
                let key = key_text(connector, partition);
                match offset {
                    Some(o) => data.insert(key, o.clone()),
                    None => data.remove(&key),
                };
            }
            data.clone()
        };
        match &self.backend {
            Backend::File(path) => {
                let path = path.clone();
                let text = serde_json::to_vec_pretty(&snapshot).expect("JSON values serialize");
                tokio::task::spawn_blocking(move || write_atomically(&path, &text))
                    .await
                    .map_err(|e| Error::Data(e.to_string()))?
            }
            Backend::Topic(log) => {
                for (partition, offset) in entries {
                    let value = offset.as_ref().map(|o| o.to_string().into_bytes());
                    log.send(key_text(connector, partition).as_bytes(), value.as_deref()).await?;
                }
                Ok(())
            }
        }
    }

    /// Removes every offset of a connector (`DELETE /connectors/NAME/offsets`).
    pub async fn reset(&self, connector: &str) -> Result<()> {
        let entries: Vec<(Value, Option<Value>)> =
            self.of_connector(connector).into_iter().map(|(p, _)| (p, None)).collect();
        self.commit(connector, &entries).await
    }
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let io = |e| Error::io(format!("cannot write offsets to {}", path.display()), e);
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_offsets_survive_reopen_and_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connect.offsets");
        let store = OffsetStore::open_file(path.clone()).await.unwrap();
        let part = json!({"filename": "/tmp/test.txt"});
        store
            .commit("local-file-source", &[(part.clone(), Some(json!({"position": 42})))])
            .await
            .unwrap();
        store.commit("other", &[(part.clone(), Some(json!({"position": 7})))]).await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(r#""[\"local-file-source\",{\"filename\":\"/tmp/test.txt\"}]""#),
            "{text}"
        );
        let again = OffsetStore::open_file(path.clone()).await.unwrap();
        assert_eq!(again.get("local-file-source", &part), Some(json!({"position": 42})));
        again.reset("local-file-source").await.unwrap();
        let third = OffsetStore::open_file(path).await.unwrap();
        assert_eq!(third.get("local-file-source", &part), None);
        assert_eq!(third.of_connector("other"), vec![(part, json!({"position": 7}))]);
    }
}
