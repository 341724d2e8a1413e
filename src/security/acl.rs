//! Kafka's access control model: resource patterns, access control
//! entries, binding filters and the rules of Kafka's `AclAuthorizer` that
//! decide whether a principal may perform an operation on a resource. Pure:
//! the broker keeps the ACLs (loaded from ZooKeeper) in an [`AclCache`],
//! indexes them in an [`AclIndex`] and asks that; the wire codes here are those of Kafka's `ResourceType`,
//! `PatternType`, `AclOperation` and `AclPermissionType`.

use std::collections::{BTreeMap, BTreeSet};

mod index;
pub use index::AclIndex;

/// The name of the one CLUSTER resource (Kafka's `CLUSTER_NAME`).
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// A literal resource name or principal that stands for every one.
pub const WILDCARD: &str = "*";
/// The principal every user matches (`User:*`).
pub const WILDCARD_PRINCIPAL: &str = "User:*";

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $code:literal, $upper:literal, $pascal:literal;)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($variant,)* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            pub fn code(self) -> i8 {
                match self { $($name::$variant => $code,)* }
            }

            pub fn from_code(code: i8) -> Option<Self> {
                match code { $($code => Some($name::$variant),)* _ => None }
            }

            /// As Kafka's `toString` prints it (`TOPIC`, `CLUSTER_ACTION`).
            pub fn upper(self) -> &'static str {
                match self { $($name::$variant => $upper,)* }
            }

            /// As Kafka writes it into ZooKeeper (`Topic`, `ClusterAction`).
            pub fn pascal(self) -> &'static str {
                match self { $($name::$variant => $pascal,)* }
            }

            /// Either spelling, case-insensitively and ignoring `_` and `-`,
            /// as Kafka's `fromString` and the acls tool accept them.
            pub fn parse(text: &str) -> Option<Self> {
                let norm = |s: &str| s.chars().filter(|c| *c != '_' && *c != '-').collect::<String>().to_ascii_lowercase();
                let want = norm(text);
                Self::ALL.iter().copied().find(|v| norm(v.upper()) == want)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.upper())
            }
        }
    };
}

wire_enum!(
    /// What an ACL protects (wire codes of Kafka's `ResourceType`; 1 is ANY).
    ResourceType {
        Topic = 2, "TOPIC", "Topic";
        Group = 3, "GROUP", "Group";
        Cluster = 4, "CLUSTER", "Cluster";
        TransactionalId = 5, "TRANSACTIONAL_ID", "TransactionalId";
        DelegationToken = 6, "DELEGATION_TOKEN", "DelegationToken";
        User = 7, "USER", "User";
    }
);

wire_enum!(
    /// How an ACL's resource name matches (Kafka's `PatternType`; 1 ANY and
    /// 2 MATCH exist only in filters).
    PatternType {
        Literal = 3, "LITERAL", "Literal";
        Prefixed = 4, "PREFIXED", "Prefixed";
    }
);

wire_enum!(
    /// Kafka's `AclOperation` (1 is ANY, only in filters).
    AclOperation {
        All = 2, "ALL", "All";
        Read = 3, "READ", "Read";
        Write = 4, "WRITE", "Write";
        Create = 5, "CREATE", "Create";
        Delete = 6, "DELETE", "Delete";
        Alter = 7, "ALTER", "Alter";
        Describe = 8, "DESCRIBE", "Describe";
        ClusterAction = 9, "CLUSTER_ACTION", "ClusterAction";
        DescribeConfigs = 10, "DESCRIBE_CONFIGS", "DescribeConfigs";
        AlterConfigs = 11, "ALTER_CONFIGS", "AlterConfigs";
        IdempotentWrite = 12, "IDEMPOTENT_WRITE", "IdempotentWrite";
        CreateTokens = 13, "CREATE_TOKENS", "CreateTokens";
        DescribeTokens = 14, "DESCRIBE_TOKENS", "DescribeTokens";
    }
);

wire_enum!(
    /// Kafka's `AclPermissionType` (1 is ANY, only in filters).
    Permission {
        Deny = 2, "DENY", "Deny";
        Allow = 3, "ALLOW", "Allow";
    }
);

/// The wire code every filter field uses for "any".
pub const ANY_CODE: i8 = 1;
/// The pattern-type filter code that matches the patterns applying to a name.
pub const MATCH_CODE: i8 = 2;

impl ResourceType {
    /// The operations that mean something on this type, as Kafka's
    /// `AclEntry.supportedOperations` lists them; KIP-430 answers these
    /// when no authorizer is configured.
    pub fn supported_operations(self) -> &'static [AclOperation] {
        use AclOperation::*;
        match self {
            ResourceType::Topic => {
                &[Read, Write, Create, Describe, Delete, Alter, DescribeConfigs, AlterConfigs]
            }
            ResourceType::Group => &[Read, Describe, Delete],
            ResourceType::Cluster => &[
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
            ResourceType::TransactionalId => &[Describe, Write],
            ResourceType::DelegationToken => &[Describe],
            ResourceType::User => &[CreateTokens, DescribeTokens],
        }
    }
}

/// KIP-430's bit field: bit `code` set for each operation.
pub fn operations_bit_field(ops: impl IntoIterator<Item = AclOperation>) -> i32 {
    ops.into_iter().fold(0, |bits, op| bits | (1 << op.code()))
}

/// A resource name with the way it matches (Kafka's `ResourcePattern`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourcePattern {
    pub resource_type: ResourceType,
    pub name: String,
    pub pattern_type: PatternType,
}

impl ResourcePattern {
    pub fn literal(resource_type: ResourceType, name: impl Into<String>) -> Self {
        ResourcePattern { resource_type, name: name.into(), pattern_type: PatternType::Literal }
    }
}

impl std::fmt::Display for ResourcePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ResourcePattern(resourceType={}, name={}, patternType={})",
            self.resource_type, self.name, self.pattern_type
        )
    }
}

/// Who may or may not do what from where (Kafka's `AccessControlEntry`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccessControlEntry {
    pub principal: String,
    pub host: String,
    pub operation: AclOperation,
    pub permission: Permission,
}

impl std::fmt::Display for AccessControlEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "(principal={}, host={}, operation={}, permissionType={})",
            self.principal, self.host, self.operation, self.permission
        )
    }
}

/// An entry on a pattern (Kafka's `AclBinding`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AclBinding {
    pub pattern: ResourcePattern,
    pub entry: AccessControlEntry,
}

/// Why a binding cannot be stored, worded as Kafka words it.
pub fn validate_binding(b: &AclBinding) -> Result<(), String> {
    if b.pattern.name.is_empty() {
        return Err("Invalid empty resource name".into());
    }
    if b.pattern.resource_type == ResourceType::Cluster && b.pattern.name != CLUSTER_NAME {
        return Err(format!("The only valid name for the CLUSTER resource is {CLUSTER_NAME}"));
    }
    if !b.pattern.resource_type.supported_operations().contains(&b.entry.operation)
        && b.entry.operation != AclOperation::All
    {
        return Err(format!(
            "ACL operation {} is not supported for resource type {}",
            b.entry.operation, b.pattern.resource_type
        ));
    }
    match b.entry.principal.split_once(':') {
        Some((kind, name)) if !kind.is_empty() && !name.is_empty() => {}
        _ => return Err(format!("Invalid principal: {}", b.entry.principal)),
    }
    if b.entry.host.is_empty() {
        return Err("Invalid empty host".into());
    }
    Ok(())
}

/// Kafka's `AclBindingFilter`: each `None` matches anything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AclBindingFilter {
    pub resource_type: Option<ResourceType>,
    pub name: Option<String>,
    pub pattern: PatternFilter,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Option<AclOperation>,
    pub permission: Option<Permission>,
}

/// A filter's pattern type: one type, any, or MATCH (every pattern that
/// applies to the filter's name: the literal, `*` and prefixes of it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PatternFilter {
    #[default]
    Any,
    Match,
    Is(PatternType),
}

impl PatternFilter {
    pub fn from_code(code: i8) -> Option<Self> {
        match code {
            ANY_CODE => Some(PatternFilter::Any),
            MATCH_CODE => Some(PatternFilter::Match),
            c => PatternType::from_code(c).map(PatternFilter::Is),
        }
    }

    pub fn code(self) -> i8 {
        match self {
            PatternFilter::Any => ANY_CODE,
            PatternFilter::Match => MATCH_CODE,
            PatternFilter::Is(p) => p.code(),
        }
    }
}

impl AclBindingFilter {
    /// Kafka's `ResourcePatternFilter.matches`.
    pub fn matches_pattern(&self, p: &ResourcePattern) -> bool {
        if self.resource_type.is_some_and(|t| t != p.resource_type) {
            return false;
        }
        if let PatternFilter::Is(t) = self.pattern {
            if t != p.pattern_type {
                return false;
            }
        }
        let Some(name) = &self.name else { return true };
        match self.pattern {
            PatternFilter::Any | PatternFilter::Is(_) => *name == p.name,
            PatternFilter::Match => match p.pattern_type {
                PatternType::Literal => *name == p.name || p.name == WILDCARD,
                PatternType::Prefixed => name.starts_with(&p.name),
            },
        }
    }

    /// Kafka's `AccessControlEntryFilter.matches`.
    pub fn matches_entry(&self, e: &AccessControlEntry) -> bool {
        self.principal.as_ref().is_none_or(|p| *p == e.principal)
            && self.host.as_ref().is_none_or(|h| *h == e.host)
            && self.operation.is_none_or(|o| o == e.operation)
            && self.permission.is_none_or(|p| p == e.permission)
    }

    pub fn matches(&self, b: &AclBinding) -> bool {
        self.matches_pattern(&b.pattern) && self.matches_entry(&b.entry)
    }
}

/// Every ACL the cluster holds, by pattern, as the authorizer's cache.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AclCache {
    pub acls: BTreeMap<ResourcePattern, BTreeSet<AccessControlEntry>>,
}

/// Who asks: the principal (`User:alice`) and the client's address.
#[derive(Clone, Copy, Debug)]
pub struct RequestContext<'a> {
    pub principal: &'a str,
    pub host: &'a str,
}

/// The authorizer's settings (`super.users`,
/// `allow.everyone.if.no.acl.found`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthorizerConfig {
    pub super_users: BTreeSet<String>,
    pub allow_everyone_if_no_acl_found: bool,
}

impl AuthorizerConfig {
    /// `super.users` is a `;`-separated list of principals.
    pub fn parse_super_users(text: &str) -> BTreeSet<String> {
        text.split(';').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
    }
}

impl AclCache {
    pub fn bindings(&self) -> impl Iterator<Item = AclBinding> + '_ {
        self.acls.iter().flat_map(|(p, es)| {
            es.iter().map(|e| AclBinding { pattern: p.clone(), entry: e.clone() })
        })
    }

    pub fn add(&mut self, b: AclBinding) -> bool {
        self.acls.entry(b.pattern).or_default().insert(b.entry)
    }
}

/// The JSON Kafka keeps in `/kafka-acl/<Type>/<name>` and
/// `/kafka-acl-extended/prefixed/<Type>/<name>`.
#[derive(serde::Serialize, serde::Deserialize)]
struct AclsJson {
    version: i32,
    acls: Vec<EntryJson>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct EntryJson {
    principal: String,
    #[serde(rename = "permissionType")]
    permission_type: String,
    operation: String,
    host: String,
}

/// Kafka's znode JSON for a pattern's entries.
pub fn entries_to_json(entries: &BTreeSet<AccessControlEntry>) -> Vec<u8> {
    let json = AclsJson {
        version: 1,
        acls: entries
            .iter()
            .map(|e| EntryJson {
                principal: e.principal.clone(),
                permission_type: e.permission.pascal().into(),
                operation: e.operation.pascal().into(),
                host: e.host.clone(),
            })
            .collect(),
    };
    serde_json::to_vec(&json).unwrap_or_default()
}

/// Reads a znode's entries; an entry this build cannot read is skipped (and
/// named), so one bad entry written by hand does not drop the others.
pub fn entries_from_json(data: &[u8]) -> Result<BTreeSet<AccessControlEntry>, String> {
    let json: AclsJson = serde_json::from_slice(data).map_err(|e| e.to_string())?;
    let mut out = BTreeSet::new();
    for e in json.acls {
        let (Some(operation), Some(permission)) =
            (AclOperation::parse(&e.operation), Permission::parse(&e.permission_type))
        else {
            tracing::warn!(
                "skipping ACL entry with operation {:?} and permission {:?}",
                e.operation,
                e.permission_type
            );
            continue;
        };
        out.insert(AccessControlEntry {
            principal: e.principal,
            host: e.host,
            operation,
            permission,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
