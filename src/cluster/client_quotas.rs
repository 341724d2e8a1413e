//! Client quota configs as Kafka keeps them in ZooKeeper: `/config/users/<user>`,
//! `/config/users/<user>/clients/<client-id>`, `/config/clients/<client-id>`,
//! with `<default>` standing for "any", names sanitized the way Kafka's
//! `Sanitizer` does (URL-encoded, `*` and space as `%2A` and `%20`), and
//! Kafka's precedence when several entities match one connection.
//!
//! Only the quota keys of a user's znode belong here: the same znode holds
//! the user's SCRAM credentials, which a quota change keeps as they are.

use std::collections::{BTreeMap, HashMap};

/// Kafka's quota config keys (`QuotaConfigs`).
pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
pub const REQUEST_PERCENTAGE: &str = "request_percentage";
pub const CONTROLLER_MUTATION_RATE: &str = "controller_mutation_rate";

/// The keys a user or client-id entity may carry.
pub const QUOTA_KEYS: &[&str] =
    &[PRODUCER_BYTE_RATE, CONSUMER_BYTE_RATE, REQUEST_PERCENTAGE, CONTROLLER_MUTATION_RATE];

/// The znode name Kafka uses for a default entity.
pub const DEFAULT_NAME: &str = "<default>";

/// One side of an entity: a named user or client id, or the default.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityName {
    Default,
    Named(String),
}

impl EntityName {
    fn znode(&self) -> String {
        match self {
            EntityName::Default => DEFAULT_NAME.to_string(),
            EntityName::Named(n) => sanitize(n),
        }
    }

    fn from_znode(s: &str) -> Option<Self> {
        if s == DEFAULT_NAME {
            Some(EntityName::Default)
        } else {
            desanitize(s).map(EntityName::Named)
        }
    }

    /// The name as DescribeClientQuotas reports it: none for the default.
    pub fn name(&self) -> Option<&str> {
        match self {
            EntityName::Default => None,
            EntityName::Named(n) => Some(n),
        }
    }
}

/// A quota entity: a user, a client id, or a user with a client id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QuotaEntity {
    pub user: Option<EntityName>,
    pub client_id: Option<EntityName>,
}

impl QuotaEntity {
    /// `(entity type, name znode path under /config/<type>)` for the
    /// store: `users`, `alice/clients/c1`; `None` for an empty entity.
    pub fn config_path(&self) -> Option<(&'static str, String)> {
        match (&self.user, &self.client_id) {
            (Some(u), Some(c)) => Some(("users", format!("{}/clients/{}", u.znode(), c.znode()))),
            (Some(u), None) => Some(("users", u.znode())),
            (None, Some(c)) => Some(("clients", c.znode())),
            (None, None) => None,
        }
    }
}

/// Every quota entity with its quota values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientQuotaConfigs {
    pub entities: HashMap<QuotaEntity, BTreeMap<String, f64>>,
}

/// Which connections share one rate: Kafka's metric tags. A quota set on
/// `/config/users/<default>` is per user (`user=alice, client-id=""`), not
/// one rate shared by all users.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QuotaTags {
    pub user: String,
    pub client_id: String,
}

/// The quota in force for one connection and key, and the rate it counts on.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedQuota {
    pub bound: f64,
    pub tags: QuotaTags,
}

impl ClientQuotaConfigs {
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// Kafka's precedence (`DefaultQuotaCallback`), for one key: the
    /// first of these entities that sets it wins:
    /// 1. /config/users/<user>/clients/<client-id>
    /// 2. /config/users/<user>/clients/<default>
    /// 3. /config/users/<user>
    /// 4. /config/users/<default>/clients/<client-id>
    /// 5. /config/users/<default>/clients/<default>
    /// 6. /config/users/<default>
    /// 7. /config/clients/<client-id>
    /// 8. /config/clients/<default>
    pub fn resolve(&self, key: &str, user: &str, client_id: &str) -> Option<ResolvedQuota> {
        if self.entities.is_empty() {
            return None;
        }
        let named_user = || Some(EntityName::Named(user.to_string()));
        let named_client = || Some(EntityName::Named(client_id.to_string()));
        let default = || Some(EntityName::Default);
        let order = [
            (named_user(), named_client()),
            (named_user(), default()),
            (named_user(), None),
            (default(), named_client()),
            (default(), default()),
            (default(), None),
            (None, named_client()),
            (None, default()),
        ];
        order.into_iter().find_map(|(u, c)| {
            let tags = QuotaTags {
                user: if u.is_some() { user.to_string() } else { String::new() },
                client_id: if c.is_some() { client_id.to_string() } else { String::new() },
            };
            let entity = QuotaEntity { user: u, client_id: c };
            let bound = *self.entities.get(&entity)?.get(key)?;
            Some(ResolvedQuota { bound, tags })
        })
    }
}

/// The quota keys of a znode's config, parsed as numbers; others (SCRAM
/// credentials) and values that are not numbers are left out.
pub fn quota_values(config: &BTreeMap<String, String>) -> BTreeMap<String, f64> {
    config
        .iter()
        .filter(|(k, _)| QUOTA_KEYS.contains(&k.as_str()))
        .filter_map(|(k, v)| Some((k.clone(), v.trim().parse::<f64>().ok()?)))
        .collect()
}

/// The entity of `/config/users/<u>`, `/config/users/<u>/clients/<c>` or
/// `/config/clients/<c>` (path segments as in the znodes).
pub fn entity_of(user: Option<&str>, client_id: Option<&str>) -> Option<QuotaEntity> {
    Some(QuotaEntity {
        user: match user {
            Some(u) => Some(EntityName::from_znode(u)?),
            None => None,
        },
        client_id: match client_id {
            Some(c) => Some(EntityName::from_znode(c)?),
            None => None,
        },
    })
}

/// Kafka's `Sanitizer.sanitize`: what Java's `URLEncoder` keeps
/// (`A-Za-z0-9.-*_`) stays, except `*`; every other UTF-8 byte is `%XX`.
pub fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Kafka's `Sanitizer.desanitize`; `None` for a name that is not valid
/// percent-encoded UTF-8.
pub fn desanitize(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(s: &str) -> Option<EntityName> {
        Some(EntityName::Named(s.into()))
    }

    fn entity(user: Option<EntityName>, client_id: Option<EntityName>) -> QuotaEntity {
        QuotaEntity { user, client_id }
    }

    fn configs(entries: &[(QuotaEntity, f64)]) -> ClientQuotaConfigs {
        let mut c = ClientQuotaConfigs::default();
        for (e, v) in entries {
            c.entities.insert(e.clone(), BTreeMap::from([(PRODUCER_BYTE_RATE.to_string(), *v)]));
        }
        c
    }

    /// The eight levels of Kafka's precedence, most specific first: each
    /// case removes the winner of the previous one and checks the next
    /// level wins, with the tags that decide who shares the rate.
    #[test]
    fn precedence_follows_kafkas_eight_levels_and_tags_name_who_shares_the_rate() {
        let d = || Some(EntityName::Default);
        let levels = [
            (entity(named("alice"), named("app")), 1.0, ("alice", "app")),
            (entity(named("alice"), d()), 2.0, ("alice", "app")),
            (entity(named("alice"), None), 3.0, ("alice", "")),
            (entity(d(), named("app")), 4.0, ("alice", "app")),
            (entity(d(), d()), 5.0, ("alice", "app")),
            (entity(d(), None), 6.0, ("alice", "")),
            (entity(None, named("app")), 7.0, ("", "app")),
            (entity(None, d()), 8.0, ("", "app")),
        ];
        for start in 0..levels.len() {
            let remaining: Vec<(QuotaEntity, f64)> =
                levels[start..].iter().map(|(e, v, _)| (e.clone(), *v)).collect();
            let got = configs(&remaining).resolve(PRODUCER_BYTE_RATE, "alice", "app").unwrap();
            let (_, bound, (user, client)) = &levels[start];
            assert_eq!(got.bound, *bound, "level {}", start + 1);
            assert_eq!(
                got.tags,
                QuotaTags { user: user.to_string(), client_id: client.to_string() },
                "level {}",
                start + 1
            );
        }
    }

    #[test]
    fn each_quota_key_resolves_on_its_own() {
        // A user quota for produce does not hide a client-id quota for fetch.
        let mut c = configs(&[(entity(named("alice"), None), 100.0)]);
        c.entities.insert(
            entity(None, named("app")),
            BTreeMap::from([(CONSUMER_BYTE_RATE.to_string(), 50.0)]),
        );
        assert_eq!(c.resolve(PRODUCER_BYTE_RATE, "alice", "app").unwrap().bound, 100.0);
        assert_eq!(c.resolve(CONSUMER_BYTE_RATE, "alice", "app").unwrap().bound, 50.0);
        assert_eq!(c.resolve(REQUEST_PERCENTAGE, "alice", "app"), None);
    }

    #[test]
    fn other_users_and_clients_are_not_matched() {
        let c = configs(&[(entity(named("alice"), named("app")), 1.0)]);
        assert_eq!(c.resolve(PRODUCER_BYTE_RATE, "bob", "app"), None);
        assert_eq!(c.resolve(PRODUCER_BYTE_RATE, "alice", "other"), None);
    }

    #[test]
    fn names_are_sanitized_like_kafkas_sanitizer() {
        let cases = [
            ("alice", "alice"),
            ("a.b-c_d", "a.b-c_d"),
            ("User:CN=x", "User%3ACN%3Dx"),
            ("a b*", "a%20b%2A"),
            ("é", "%C3%A9"),
            ("<default>", "%3Cdefault%3E"),
        ];
        for (name, znode) in cases {
            assert_eq!(sanitize(name), znode, "{name}");
            assert_eq!(desanitize(znode).as_deref(), Some(name), "{znode}");
        }
        assert_eq!(desanitize("bad%zz"), None, "invalid escapes are refused, not guessed");
        assert_eq!(desanitize("%"), None);
    }

    #[test]
    fn entities_map_to_kafkas_znode_paths() {
        let d = || Some(EntityName::Default);
        let cases = [
            (entity(named("alice"), None), ("users", "alice")),
            (entity(d(), None), ("users", "<default>")),
            (entity(named("alice"), named("c 1")), ("users", "alice/clients/c%201")),
            (entity(d(), d()), ("users", "<default>/clients/<default>")),
            (entity(None, named("app")), ("clients", "app")),
            (entity(None, d()), ("clients", "<default>")),
        ];
        for (e, (t, p)) in cases {
            assert_eq!(e.config_path(), Some((t, p.to_string())), "{e:?}");
        }
        assert_eq!(entity(None, None).config_path(), None);
    }

    #[test]
    fn only_quota_keys_are_quota_values() {
        let config = BTreeMap::from([
            ("SCRAM-SHA-256".to_string(), "salt=x,stored_key=y".to_string()),
            (PRODUCER_BYTE_RATE.to_string(), "1024".to_string()),
            (CONSUMER_BYTE_RATE.to_string(), "not a number".to_string()),
        ]);
        assert_eq!(quota_values(&config), BTreeMap::from([(PRODUCER_BYTE_RATE.into(), 1024.0)]));
    }
}
