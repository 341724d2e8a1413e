//! The broker's authorizer: Kafka's `AclAuthorizer` (`authorizer.class.name
//! = kafka.security.authorizer.AclAuthorizer`, or the older
//! `kafka.security.auth.SimpleAclAuthorizer`). It keeps every ACL of the
//! cluster in memory, loaded from ZooKeeper at start and reloaded whenever
//! a change notification arrives from any broker, and answers handlers'
//! questions from that copy, indexed by resource (see [`AclIndex`]): a
//! check is a few hash lookups, never a round trip.
//!
//! Handlers ask through [`Authz`], taken once per request: it holds the
//! principal, the client's address and a snapshot of the ACLs, so one
//! request sees one consistent set of ACLs. Without an authorizer every
//! question is answered yes, as in Kafka.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::cluster::MetadataStore;
use crate::config::{Error, Properties};
use crate::security::acl::{
    operations_bit_field, AclIndex, AclOperation, AuthorizerConfig, RequestContext, ResourceType,
    CLUSTER_NAME,
};
use crate::sync::RwLockExt;

/// The class names Kafka's ZooKeeper-mode brokers accept for this authorizer.
pub const CLASS_NAMES: &[&str] =
    &["kafka.security.authorizer.AclAuthorizer", "kafka.security.auth.SimpleAclAuthorizer"];

/// `authorizer.class.name` and the authorizer's own settings; `None` when
/// no authorizer is configured (Kafka's empty default).
pub fn config_from_properties(p: &Properties) -> Result<Option<AuthorizerConfig>, Error> {
    let class = p.get("authorizer.class.name").map(str::trim).unwrap_or("");
    if class.is_empty() {
        return Ok(None);
    }
    if !CLASS_NAMES.contains(&class) {
        return Err(Error::InvalidValue {
            key: "authorizer.class.name".into(),
            value: class.into(),
            reason: format!("Class {class} cannot be found (known: {})", CLASS_NAMES.join(", ")),
        });
    }
    Ok(Some(AuthorizerConfig {
        super_users: AuthorizerConfig::parse_super_users(p.get("super.users").unwrap_or("")),
        allow_everyone_if_no_acl_found: p.bool_or("allow.everyone.if.no.acl.found", false)?,
    }))
}

pub struct Authorizer {
    config: AuthorizerConfig,
    cache: RwLock<Arc<AclIndex>>,
}

impl Authorizer {
    /// Loads the ACLs and follows changes for as long as the store lives.
    pub async fn start(
        config: AuthorizerConfig,
        store: Arc<dyn MetadataStore>,
    ) -> Result<Arc<Authorizer>, crate::cluster::Error> {
        let mut changes = store.acl_changes();
        changes.borrow_and_update();
        let cache = AclIndex::from(store.acls().await?);
        tracing::info!(acls = cache.len(), "authorizer loaded the cluster's ACLs");
        let me = Arc::new(Authorizer { config, cache: RwLock::new(Arc::new(cache)) });
        let weak = Arc::downgrade(&me);
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let Some(me) = weak.upgrade() else { return };
                // Reload until one read succeeds: a failed read must not
                // leave a revoked ACL in force.
                loop {
                    match store.acls().await {
                        Ok(cache) => {
                            let index = Arc::new(AclIndex::from(cache));
                            *me.cache.write_or_recover() = index;
                            break;
                        }
                        Err(e) => {
                            tracing::warn!("cannot reload ACLs: {e}");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    }
                }
            }
        });
        Ok(me)
    }

    pub fn snapshot(&self) -> Arc<AclIndex> {
        self.cache.read_or_recover().clone()
    }

    pub fn config(&self) -> &AuthorizerConfig {
        &self.config
    }
}

/// One request's view: who asks, from where, against which ACLs.
pub struct Authz<'a> {
    acls: Option<(Arc<AclIndex>, &'a AuthorizerConfig)>,
    principal: &'a str,
    host: String,
}

impl<'a> Authz<'a> {
    pub fn new(
        authorizer: Option<&'a Authorizer>,
        principal: &'a str,
        peer: std::net::IpAddr,
    ) -> Self {
        Authz {
            acls: authorizer.map(|a| (a.snapshot(), &a.config)),
            principal,
            host: peer.to_string(),
        }
    }

    /// Everything allowed: no authorizer configured.
    pub fn open() -> Authz<'static> {
        Authz { acls: None, principal: crate::broker::connection::ANONYMOUS, host: String::new() }
    }

    fn ctx(&self) -> RequestContext<'_> {
        RequestContext { principal: self.principal, host: &self.host }
    }

    pub fn allowed(&self, op: AclOperation, t: ResourceType, name: &str) -> bool {
        match &self.acls {
            None => true,
            Some((cache, config)) => {
                let ok = cache.authorize(config, self.ctx(), op, t, name);
                if !ok {
                    tracing::debug!(
                        principal = self.principal,
                        host = %self.host,
                        "denied {op} on {t}:{name}"
                    );
                }
                ok
            }
        }
    }

    pub fn cluster(&self, op: AclOperation) -> bool {
        self.allowed(op, ResourceType::Cluster, CLUSTER_NAME)
    }

    pub fn topic(&self, op: AclOperation, name: &str) -> bool {
        self.allowed(op, ResourceType::Topic, name)
    }

    pub fn group(&self, op: AclOperation, name: &str) -> bool {
        self.allowed(op, ResourceType::Group, name)
    }

    pub fn transactional_id(&self, op: AclOperation, name: &str) -> bool {
        self.allowed(op, ResourceType::TransactionalId, name)
    }

    /// May the principal perform `op` on some resource of this type
    /// (Kafka's `authorizeByResourceType`)?
    pub fn any_of_type(&self, op: AclOperation, t: ResourceType) -> bool {
        match &self.acls {
            None => true,
            Some((cache, config)) => cache.authorize_any(config, self.ctx(), op, t),
        }
    }

    /// KIP-430's bit field for a resource: every operation that applies to
    /// its type when no authorizer is configured.
    pub fn authorized_operations(&self, t: ResourceType, name: &str) -> i32 {
        match &self.acls {
            None => operations_bit_field(t.supported_operations().iter().copied()),
            Some((cache, config)) => cache.authorized_operations(config, self.ctx(), t, name),
        }
    }
}
