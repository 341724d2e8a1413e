//! ACLs in ZooKeeper in Kafka's layout, so brokers share them and Kafka's
//! own tools read what ours write:
//!
//! - literal patterns in `/kafka-acl/<Type>/<name>`, prefixed ones in
//!   `/kafka-acl-extended/prefixed/<Type>/<name>`, each znode holding
//!   `{"version":1,"acls":[{"principal":..,"permissionType":..,"operation":..,"host":..}]}`;
//! - after every change a sequential notification: `Topic:name` under
//!   `/kafka-acl-changes/acl_changes_` for a literal pattern, Kafka's JSON
//!   under `/kafka-acl-extended-changes/acl_changes_` for a prefixed one.
//!   Brokers watch both paths and reload.
//!
//! A pattern's znode is rewritten conditionally on its version, so two
//! brokers changing the same pattern at once both land (Kafka's
//! `updateResourceAcls` loop).

use std::collections::BTreeSet;

use zookeeper_client as zkc;

use super::zk_controller::{get_many, list};
use super::zk_store::{open, unavailable};
use super::Error;
use crate::security::acl::{
    AccessControlEntry, AclCache, PatternType, ResourcePattern, ResourceType,
};

pub const LITERAL_ROOT: &str = "/kafka-acl";
pub const PREFIXED_ROOT: &str = "/kafka-acl-extended/prefixed";
pub const LITERAL_CHANGES: &str = "/kafka-acl-changes";
pub const EXTENDED_CHANGES: &str = "/kafka-acl-extended-changes";
const CHANGE_NODE: &str = "acl_changes_";
/// Kafka deletes change notifications older than this (15 minutes), so the
/// change paths do not grow forever.
const CHANGE_EXPIRY_MS: i64 = 15 * 60 * 1000;

fn root(p: PatternType) -> &'static str {
    match p {
        PatternType::Literal => LITERAL_ROOT,
        PatternType::Prefixed => PREFIXED_ROOT,
    }
}

pub fn path(p: &ResourcePattern) -> String {
    format!("{}/{}/{}", root(p.pattern_type), p.resource_type.pascal(), p.name)
}

/// Kafka's change notification for a pattern: where and what.
fn change(p: &ResourcePattern) -> (&'static str, Vec<u8>) {
    match p.pattern_type {
        PatternType::Literal => {
            (LITERAL_CHANGES, format!("{}:{}", p.resource_type.pascal(), p.name).into_bytes())
        }
        PatternType::Prefixed => (
            EXTENDED_CHANGES,
            serde_json::json!({
                "version": 1,
                "resourceType": p.resource_type.pascal(),
                "name": p.name,
                "patternType": p.pattern_type.pascal(),
            })
            .to_string()
            .into_bytes(),
        ),
    }
}

/// The paths Kafka's authorizer creates at start.
pub async fn ensure_paths(c: &zkc::Client) -> Result<(), Error> {
    let mut paths = vec![LITERAL_CHANGES.to_string(), EXTENDED_CHANGES.to_string()];
    for pt in PatternType::ALL {
        paths.extend(ResourceType::ALL.iter().map(|t| format!("{}/{}", root(*pt), t.pascal())));
    }
    // Only the missing ones are written: a ZooKeeper that has gone
    // read-only (a full disk) must not stop a tool that only reads.
    let present = super::zk_controller::get_many(c, &paths).await?;
    for (p, _) in paths.iter().zip(present).filter(|(_, found)| found.is_none()) {
        match c.mkdir(p, &open()).await {
            Ok(()) | Err(zkc::Error::NodeExists) => {}
            Err(e) => return Err(unavailable(e)),
        }
    }
    Ok(())
}

/// Reads every ACL of both layouts. A znode that does not parse is skipped
/// with a warning, as Kafka's authorizer logs and skips it.
pub async fn read_all(c: &zkc::Client) -> Result<AclCache, Error> {
    let mut patterns = Vec::new();
    for pt in PatternType::ALL {
        for type_name in list(c, root(*pt)).await? {
            let Some(t) = ResourceType::parse(&type_name) else { continue };
            for name in list(c, &format!("{}/{}", root(*pt), t.pascal())).await? {
                patterns.push(ResourcePattern { resource_type: t, name, pattern_type: *pt });
            }
        }
    }
    let paths: Vec<String> = patterns.iter().map(path).collect();
    let mut cache = AclCache::default();
    for (p, read) in patterns.into_iter().zip(get_many(c, &paths).await?) {
        let Some((data, _)) = read else { continue };
        match crate::security::acl::entries_from_json(&data) {
            Ok(entries) if !entries.is_empty() => {
                cache.acls.insert(p, entries);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("ignoring ACL znode {}: {e}", path(&p)),
        }
    }
    Ok(cache)
}

/// Rewrites one pattern's entries with `update` until the write lands on
/// the version read, then notifies every broker. Returns whether anything
/// changed; an empty result deletes the znode.
pub async fn update(
    c: &zkc::Client,
    pattern: &ResourcePattern,
    update: &(dyn Fn(&BTreeSet<AccessControlEntry>) -> BTreeSet<AccessControlEntry> + Send + Sync),
) -> Result<bool, Error> {
    let p = path(pattern);
    let parent = format!("{}/{}", root(pattern.pattern_type), pattern.resource_type.pascal());
    loop {
        let (current, version) = match c.get_data(&p).await {
            Ok((d, stat)) => (
                crate::security::acl::entries_from_json(&d).unwrap_or_default(),
                Some(stat.version),
            ),
            Err(zkc::Error::NoNode) => (BTreeSet::new(), None),
            Err(e) => return Err(unavailable(e)),
        };
        let next = update(&current);
        if next == current {
            return Ok(false);
        }
        let data = crate::security::acl::entries_to_json(&next);
        let written = match (version, next.is_empty()) {
            (None, _) => match c.create(&p, &data, &open()).await {
                Ok(_) => Ok(()),
                Err(zkc::Error::NoNode) => {
                    c.mkdir(&parent, &open()).await.or_else(exists_ok).map_err(unavailable)?;
                    continue;
                }
                Err(e) => Err(e),
            },
            (Some(v), true) => c.delete(&p, Some(v)).await,
            (Some(v), false) => c.set_data(&p, &data, Some(v)).await.map(|_| ()),
        };
        match written {
            Ok(()) => break,
            Err(zkc::Error::BadVersion | zkc::Error::NodeExists | zkc::Error::NoNode) => continue,
            Err(e) => return Err(unavailable(e)),
        }
    }
    notify(c, pattern).await?;
    Ok(true)
}

fn exists_ok(e: zkc::Error) -> Result<(), zkc::Error> {
    match e {
        zkc::Error::NodeExists => Ok(()),
        e => Err(e),
    }
}

async fn notify(c: &zkc::Client, pattern: &ResourcePattern) -> Result<(), Error> {
    let (dir, data) = change(pattern);
    let seq = zkc::CreateMode::PersistentSequential.with_acls(zkc::Acls::anyone_all());
    let prefix = format!("{dir}/{CHANGE_NODE}");
    match c.create(&prefix, &data, &seq).await {
        Ok(_) => {}
        Err(zkc::Error::NoNode) => {
            c.mkdir(dir, &open()).await.or_else(exists_ok).map_err(unavailable)?;
            c.create(&prefix, &data, &seq).await.map_err(unavailable)?;
        }
        Err(e) => return Err(unavailable(e)),
    }
    purge_old_changes(c, dir).await;
    Ok(())
}

/// Deletes notifications older than Kafka's expiry; every broker has
/// reloaded long before. Failures only leave them for the next change.
async fn purge_old_changes(c: &zkc::Client, dir: &str) {
    let Ok(children) = list(c, dir).await else { return };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    for name in children {
        let p = format!("{dir}/{name}");
        if let Ok((_, stat)) = c.get_data(&p).await {
            if now - stat.ctime > CHANGE_EXPIRY_MS {
                let _ = c.delete(&p, None).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_notifications_are_kafkas() {
        let lit = ResourcePattern::literal(ResourceType::TransactionalId, "tx-1");
        assert_eq!(path(&lit), "/kafka-acl/TransactionalId/tx-1");
        assert_eq!(change(&lit), (LITERAL_CHANGES, b"TransactionalId:tx-1".to_vec()));
        let pre = ResourcePattern {
            resource_type: ResourceType::Topic,
            name: "pay-".into(),
            pattern_type: PatternType::Prefixed,
        };
        assert_eq!(path(&pre), "/kafka-acl-extended/prefixed/Topic/pay-");
        let (dir, data) = change(&pre);
        assert_eq!(dir, EXTENDED_CHANGES);
        let json: serde_json::Value = serde_json::from_slice(&data).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"version":1,"resourceType":"Topic","name":"pay-","patternType":"Prefixed"})
        );
    }
}
