//! Client quotas in ZooKeeper: read every `/config/users/...` and
//! `/config/clients/...` entity, follow `/config/changes` (where every
//! quota change, ours or Kafka's own tools', leaves a notification) so
//! each broker applies a change within moments, and write a change the
//! way Kafka's `AdminZkClient.changeConfigs` does: the entity znode, then
//! a sequential change notification naming its path.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use zookeeper_client as zkc;

use super::client_quotas::{self as q, ClientQuotaConfigs, QuotaEntity};
use super::zk_controller::{get_many, list};
use super::zk_store::{open, publish_if_changed, unavailable, SessionWatch};
use super::znodes as z;
use super::Error;

/// Reads every quota entity (three levels of znodes).
pub async fn read_client_quotas(c: &zkc::Client) -> Result<ClientQuotaConfigs, Error> {
    let users = list(c, "/config/users").await?;
    let clients = list(c, "/config/clients").await?;
    let mut found: Vec<(Option<String>, Option<String>)> = Vec::new();
    for u in &users {
        found.push((Some(u.clone()), None));
        for cl in list(c, &format!("/config/users/{u}/clients")).await? {
            found.push((Some(u.clone()), Some(cl)));
        }
    }
    found.extend(clients.iter().map(|cl| (None, Some(cl.clone()))));
    let paths: Vec<String> =
        found.iter().map(|(u, cl)| znode(u.as_deref(), cl.as_deref())).collect();
    let mut out = ClientQuotaConfigs::default();
    for ((u, cl), read) in found.iter().zip(get_many(c, &paths).await?) {
        let Some((data, _)) = read else { continue };
        let values = q::quota_values(&z::parse_config(&data));
        if values.is_empty() {
            continue;
        }
        match q::entity_of(u.as_deref(), cl.as_deref()) {
            Some(entity) => {
                out.entities.insert(entity, values);
            }
            None => tracing::warn!(
                "ignoring quota znode {} with a name Kafka would not write",
                znode(u.as_deref(), cl.as_deref())
            ),
        }
    }
    Ok(out)
}

fn znode(user: Option<&str>, client: Option<&str>) -> String {
    match (user, client) {
        (Some(u), Some(c)) => format!("/config/users/{u}/clients/{c}"),
        (Some(u), None) => format!("/config/users/{u}"),
        (None, Some(c)) => format!("/config/clients/{c}"),
        (None, None) => "/config".into(),
    }
}

/// Keeps `tx` equal to ZooKeeper's quotas: re-read on every change
/// notification, and every few seconds in case one was missed across a
/// reconnect. `client` gives the current session's client.
pub async fn follow_client_quotas(
    client: impl Fn() -> zkc::Client,
    tx: Arc<watch::Sender<Arc<ClientQuotaConfigs>>>,
) {
    const RECHECK: Duration = Duration::from_secs(5);
    loop {
        let c = client();
        let mut notifications =
            SessionWatch::add(&c, "/config/changes", zkc::AddWatchMode::Persistent).await;
        loop {
            match read_client_quotas(&c).await {
                Ok(quotas) => publish_if_changed(&tx, quotas),
                Err(e) => tracing::warn!("cannot read client quotas: {e}"),
            }
            match notifications.as_mut() {
                Some(w) => {
                    let _ = tokio::time::timeout(RECHECK, w.next()).await;
                }
                None => tokio::time::sleep(RECHECK).await,
            }
            if notifications.is_none() || c.state().is_terminated() {
                break;
            }
        }
    }
}

/// Sets and removes quota keys of one entity, keeping the other keys of
/// its znode (a user's SCRAM credentials), and notifies every broker.
pub async fn alter_client_quota(
    c: &zkc::Client,
    entity: &QuotaEntity,
    set: &BTreeMap<String, String>,
    remove: &[String],
) -> Result<(), Error> {
    let Some((entity_type, name)) = entity.config_path() else {
        return Err(Error::InvalidQuotaEntity);
    };
    let path = z::entity_config(entity_type, &name);
    let (mut config, version) = match c.get_data(&path).await {
        Ok((d, stat)) => (z::parse_config(&d), Some(stat.version)),
        Err(zkc::Error::NoNode) => (BTreeMap::new(), None),
        Err(e) => return Err(unavailable(e)),
    };
    for k in remove {
        config.remove(k);
    }
    config.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
    let data = z::config_json(&config);
    match version {
        // Conditional on the version read, so a concurrent SCRAM change
        // is not overwritten: the caller sees the conflict and retries.
        Some(v) => {
            c.set_data(&path, &data, Some(v)).await.map_err(unavailable)?;
        }
        None => {
            if let Some((parent, _)) = path.rsplit_once('/') {
                c.mkdir(parent, &open()).await.map_err(unavailable)?;
            }
            c.create(&path, &data, &open()).await.map_err(unavailable)?;
        }
    }
    let seq = zkc::CreateMode::PersistentSequential.with_acls(zkc::Acls::anyone_all());
    let change = z::entity_config_change_json(entity_type, &name);
    c.create(z::CONFIG_CHANGE_PREFIX, &change, &seq).await.map_err(unavailable)?;
    Ok(())
}
