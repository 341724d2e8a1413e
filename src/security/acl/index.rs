//! The authorizer's view of the ACLs: every entry filed under the pattern
//! it hangs on, by resource type, so a check touches only the patterns
//! that can apply to the name asked about. A literal name and `*` are one
//! hash lookup each; prefixed patterns are looked up by the prefixes of
//! the name, one lookup per distinct prefix length defined for the type,
//! so a check costs the same with 1,000 prefixed ACLs as with one (a scan
//! of the prefixed patterns cost microseconds per check with 500 of them).
//!
//! Built once per change of the ACLs (the authorizer rebuilds it on every
//! change notification) and never modified, so requests read it without
//! locks.

use std::collections::HashMap;

use super::{
    operations_bit_field, AccessControlEntry, AclCache, AclOperation, AuthorizerConfig,
    PatternType, Permission, RequestContext, ResourceType, WILDCARD, WILDCARD_PRINCIPAL,
};

/// The patterns of one resource type.
#[derive(Debug, Default)]
struct TypeIndex {
    literal: HashMap<String, Vec<AccessControlEntry>>,
    prefixed: HashMap<String, Vec<AccessControlEntry>>,
    /// Each length (in bytes) some prefixed pattern of this type has,
    /// ascending.
    prefix_lens: Vec<usize>,
}

impl TypeIndex {
    /// The entry lists of every pattern that applies to `name`: its literal
    /// name, the literal `*`, and each prefixed pattern it starts with.
    fn matching<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [AccessControlEntry]> {
        let exact = self.literal.get(name);
        // `*` asked about by name is the one literal pattern, not two.
        let wildcard = if name == WILDCARD { None } else { self.literal.get(WILDCARD) };
        let prefixes = self
            .prefix_lens
            .iter()
            .take_while(move |len| **len <= name.len())
            // A length that cuts a character cannot be a pattern's name.
            .filter_map(move |len| name.get(..*len))
            .filter_map(|prefix| self.prefixed.get(prefix));
        exact.into_iter().chain(wildcard).chain(prefixes).map(Vec::as_slice)
    }
}

/// The ACLs of the cluster indexed for checks, with Kafka's
/// `AclAuthorizer` rules.
#[derive(Debug, Default)]
pub struct AclIndex {
    types: HashMap<ResourceType, TypeIndex>,
    len: usize,
    acls: AclCache,
}

impl From<AclCache> for AclIndex {
    fn from(cache: AclCache) -> Self {
        let mut types: HashMap<ResourceType, TypeIndex> = HashMap::new();
        let mut len = 0;
        for (pattern, entries) in &cache.acls {
            let t = types.entry(pattern.resource_type).or_default();
            let by_name = match pattern.pattern_type {
                PatternType::Literal => &mut t.literal,
                PatternType::Prefixed => {
                    t.prefix_lens.push(pattern.name.len());
                    &mut t.prefixed
                }
            };
            by_name.entry(pattern.name.clone()).or_default().extend(entries.iter().cloned());
            len += entries.len();
        }
        for t in types.values_mut() {
            t.prefix_lens.sort_unstable();
            t.prefix_lens.dedup();
        }
        AclIndex { types, len, acls: cache }
    }
}

impl AclIndex {
    /// The ACLs indexed.
    pub fn acls(&self) -> &AclCache {
        &self.acls
    }

    /// How many ACLs (entries on patterns) there are.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Kafka's `AclAuthorizer.authorizeAction`: super users may do
    /// anything; a resource without any ACL is open only with
    /// `allow.everyone.if.no.acl.found`; otherwise a matching DENY wins over
    /// any ALLOW, and an ALLOW of READ, WRITE, DELETE or ALTER implies
    /// DESCRIBE, of ALTER_CONFIGS implies DESCRIBE_CONFIGS, of ALL everything.
    pub fn authorize(
        &self,
        config: &AuthorizerConfig,
        ctx: RequestContext<'_>,
        op: AclOperation,
        t: ResourceType,
        name: &str,
    ) -> bool {
        if config.super_users.contains(ctx.principal) {
            return true;
        }
        let Some(index) = self.types.get(&t) else {
            return config.allow_everyone_if_no_acl_found;
        };
        let implied: &[AclOperation] = match op {
            AclOperation::Describe => &[
                AclOperation::Describe,
                AclOperation::Read,
                AclOperation::Write,
                AclOperation::Delete,
                AclOperation::Alter,
            ],
            AclOperation::DescribeConfigs => {
                &[AclOperation::DescribeConfigs, AclOperation::AlterConfigs]
            }
            _ => std::slice::from_ref(&op),
        };
        let mut any_acl = false;
        let mut allowed = false;
        for entries in index.matching(name) {
            any_acl |= !entries.is_empty();
            for e in entries {
                if !(e.principal == ctx.principal || e.principal == WILDCARD_PRINCIPAL)
                    || !(e.host == ctx.host || e.host == WILDCARD)
                {
                    continue;
                }
                match e.permission {
                    Permission::Deny if e.operation == op || e.operation == AclOperation::All => {
                        return false;
                    }
                    Permission::Deny => {}
                    Permission::Allow => {
                        allowed |=
                            e.operation == AclOperation::All || implied.contains(&e.operation);
                    }
                }
            }
        }
        if !any_acl {
            return config.allow_everyone_if_no_acl_found;
        }
        allowed
    }

    /// Kafka's `authorizeByResourceType` as InitProducerId uses it without
    /// a transactional id: may the principal perform `op` on at least one
    /// resource of this type? An ALLOW on a literal name or a prefix counts
    /// unless a DENY on `*` (or on a prefix of that name, or the name
    /// itself) takes it away.
    pub fn authorize_any(
        &self,
        config: &AuthorizerConfig,
        ctx: RequestContext<'_>,
        op: AclOperation,
        t: ResourceType,
    ) -> bool {
        if config.super_users.contains(ctx.principal) {
            return true;
        }
        let Some(index) = self.types.get(&t) else {
            return config.allow_everyone_if_no_acl_found;
        };
        index
            .literal
            .iter()
            .chain(&index.prefixed)
            .flat_map(|(name, es)| es.iter().map(move |e| (name, e)))
            .filter(|(_, e)| e.permission == Permission::Allow)
            .filter(|(_, e)| e.operation == op || e.operation == AclOperation::All)
            // A prefix pattern's own name stands for the resources it covers.
            .any(|(name, _)| self.authorize(config, ctx, op, t, name))
    }

    /// KIP-430: the operations on this resource the principal may perform.
    pub fn authorized_operations(
        &self,
        config: &AuthorizerConfig,
        ctx: RequestContext<'_>,
        t: ResourceType,
        name: &str,
    ) -> i32 {
        operations_bit_field(
            t.supported_operations()
                .iter()
                .copied()
                .filter(|op| self.authorize(config, ctx, *op, t, name)),
        )
    }
}
