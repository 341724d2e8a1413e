//! CreateAcls, DescribeAcls and DeleteAcls (APIs 30, 29, 31) as Kafka's
//! ZooKeeper-mode `AclAuthorizer` answers them: creating or deleting needs
//! ALTER on the cluster, describing needs DESCRIBE; the ACLs go to
//! ZooKeeper through the metadata store, whose change notification makes
//! every broker reload. Without an authorizer Kafka answers
//! SECURITY_DISABLED.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};

use super::str_bytes;
use crate::broker::authorizer::Authz;
use crate::broker::BrokerContext;
use crate::protocol::ErrorCode;
use crate::security::acl::{
    validate_binding, AccessControlEntry, AclBinding, AclBindingFilter, AclOperation,
    PatternFilter, PatternType, Permission, ResourcePattern, ResourceType, ANY_CODE,
};
use crate::sync::MutexExt;

fn any_or<T>(code: i8, parse: impl Fn(i8) -> Option<T>) -> Result<Option<T>, String> {
    if code == ANY_CODE {
        return Ok(None);
    }
    parse(code).map(Some).ok_or_else(|| format!("unknown code {code}"))
}

/// A request's filter fields as an [`AclBindingFilter`]; UNKNOWN codes are
/// refused as Kafka refuses them.
pub fn filter_from_wire(
    resource_type: i8,
    name: Option<&str>,
    pattern: i8,
    principal: Option<&str>,
    host: Option<&str>,
    operation: i8,
    permission: i8,
) -> Result<AclBindingFilter, String> {
    Ok(AclBindingFilter {
        resource_type: any_or(resource_type, ResourceType::from_code)?,
        name: name.map(String::from),
        pattern: PatternFilter::from_code(pattern).ok_or("unknown pattern type")?,
        principal: principal.map(String::from),
        host: host.map(String::from),
        operation: any_or(operation, AclOperation::from_code)?,
        permission: any_or(permission, Permission::from_code)?,
    })
}

/// [`filter_from_wire`] over a DescribeAcls request or a DeleteAcls filter:
/// two generated types with the same seven filter fields and no trait in
/// common.
macro_rules! filter_of {
    ($f:expr) => {
        filter_from_wire(
            $f.resource_type_filter,
            $f.resource_name_filter.as_deref(),
            $f.pattern_type_filter,
            $f.principal_filter.as_deref(),
            $f.host_filter.as_deref(),
            $f.operation,
            $f.permission_type,
        )
    };
}

fn security_disabled() -> (i16, Option<kafka_protocol::protocol::StrBytes>) {
    (
        ErrorCode::SecurityDisabled.code(),
        Some(str_bytes("No Authorizer is configured on the broker")),
    )
}

pub async fn create(
    ctx: &Arc<BrokerContext>,
    authz: &Authz<'_>,
    req: CreateAclsRequest,
) -> CreateAclsResponse {
    let mut resp = CreateAclsResponse::default();
    let fail = |code: ErrorCode, msg: &str| {
        let mut r = AclCreationResult::default();
        r.error_code = code.code();
        r.error_message = Some(str_bytes(msg));
        r
    };
    if ctx.authorizer.is_none() {
        let (code, msg) = security_disabled();
        let refused = AclCreationResult::default().with_error_code(code).with_error_message(msg);
        resp.results = req.creations.iter().map(|_| refused.clone()).collect();
        return resp;
    }
    if !authz.cluster(AclOperation::Alter) {
        let msg = "Cluster authorization failed.";
        resp.results = req
            .creations
            .iter()
            .map(|_| fail(ErrorCode::ClusterAuthorizationFailed, msg))
            .collect();
        return resp;
    }
    for c in req.creations {
        let binding = (|| -> Result<AclBinding, String> {
            let b = AclBinding {
                pattern: ResourcePattern {
                    resource_type: ResourceType::from_code(c.resource_type)
                        .ok_or("Invalid resource type")?,
                    name: c.resource_name.to_string(),
                    pattern_type: PatternType::from_code(c.resource_pattern_type)
                        .ok_or("Invalid pattern type: must be LITERAL or PREFIXED")?,
                },
                entry: AccessControlEntry {
                    principal: c.principal.to_string(),
                    host: c.host.to_string(),
                    operation: AclOperation::from_code(c.operation).ok_or("Invalid operation")?,
                    permission: Permission::from_code(c.permission_type)
                        .ok_or("Invalid permission type")?,
                },
            };
            validate_binding(&b)?;
            Ok(b)
        })();
        let result = match binding {
            Err(msg) => fail(ErrorCode::InvalidRequest, &msg),
            Ok(b) => {
                let entry = b.entry.clone();
                let add = move |cur: &std::collections::BTreeSet<AccessControlEntry>| {
                    let mut next = cur.clone();
                    next.insert(entry.clone());
                    next
                };
                match ctx.store.update_acls(&b.pattern, &add).await {
                    Ok(_) => AclCreationResult::default(),
                    Err(e) => fail(ErrorCode::UnknownServerError, &e.to_string()),
                }
            }
        };
        resp.results.push(result);
    }
    resp
}

pub async fn describe(
    ctx: &Arc<BrokerContext>,
    authz: &Authz<'_>,
    req: DescribeAclsRequest,
) -> DescribeAclsResponse {
    let mut resp = DescribeAclsResponse::default();
    let Some(authorizer) = &ctx.authorizer else {
        (resp.error_code, resp.error_message) = security_disabled();
        return resp;
    };
    if !authz.cluster(AclOperation::Describe) {
        resp.error_code = ErrorCode::ClusterAuthorizationFailed.code();
        return resp;
    }
    let filter = match filter_of!(req) {
        Ok(f) => f,
        Err(e) => {
            resp.error_code = ErrorCode::InvalidRequest.code();
            resp.error_message = Some(str_bytes(&e));
            return resp;
        }
    };
    // Straight from ZooKeeper, so a client sees its own CreateAcls at once
    // even before this broker's reload; the cache answers if it cannot.
    let acls = match ctx.store.acls().await {
        Ok(a) => a,
        Err(_) => authorizer.snapshot().acls().clone(),
    };
    let mut by_pattern: BTreeMap<ResourcePattern, Vec<AclDescription>> = BTreeMap::new();
    for b in acls.bindings().filter(|b| filter.matches(b)) {
        let mut d = AclDescription::default();
        d.principal = str_bytes(&b.entry.principal);
        d.host = str_bytes(&b.entry.host);
        d.operation = b.entry.operation.code();
        d.permission_type = b.entry.permission.code();
        by_pattern.entry(b.pattern).or_default().push(d);
    }
    resp.resources = by_pattern
        .into_iter()
        .map(|(p, acls)| {
            let mut r = DescribeAclsResource::default();
            r.resource_type = p.resource_type.code();
            r.resource_name = str_bytes(&p.name);
            r.pattern_type = p.pattern_type.code();
            r.acls = acls;
            r
        })
        .collect();
    resp
}

pub async fn delete(
    ctx: &Arc<BrokerContext>,
    authz: &Authz<'_>,
    req: DeleteAclsRequest,
) -> DeleteAclsResponse {
    let mut resp = DeleteAclsResponse::default();
    let failed = |code: i16, msg: Option<kafka_protocol::protocol::StrBytes>| {
        let mut r = DeleteAclsFilterResult::default();
        r.error_code = code;
        r.error_message = msg;
        r
    };
    if ctx.authorizer.is_none() {
        let (code, msg) = security_disabled();
        resp.filter_results = req.filters.iter().map(|_| failed(code, msg.clone())).collect();
        return resp;
    }
    if !authz.cluster(AclOperation::Alter) {
        let code = ErrorCode::ClusterAuthorizationFailed.code();
        resp.filter_results = req.filters.iter().map(|_| failed(code, None)).collect();
        return resp;
    }
    let current = match ctx.store.acls().await {
        Ok(a) => a,
        Err(e) => {
            let msg = Some(str_bytes(e.to_string()));
            let code = ErrorCode::UnknownServerError.code();
            resp.filter_results = req.filters.iter().map(|_| failed(code, msg.clone())).collect();
            return resp;
        }
    };
    for f in req.filters {
        let filter = match filter_of!(f) {
            Ok(filter) => filter,
            Err(e) => {
                resp.filter_results
                    .push(failed(ErrorCode::InvalidRequest.code(), Some(str_bytes(&e))));
                continue;
            }
        };
        let mut result = DeleteAclsFilterResult::default();
        let patterns: Vec<&ResourcePattern> =
            current.acls.keys().filter(|p| filter.matches_pattern(p)).collect();
        for pattern in patterns {
            let removed = std::sync::Mutex::new(Vec::new());
            let remove = |cur: &std::collections::BTreeSet<AccessControlEntry>| {
                let (gone, kept): (Vec<_>, Vec<_>) =
                    cur.iter().cloned().partition(|e| filter.matches_entry(e));
                *removed.lock_or_recover() = gone;
                kept.into_iter().collect()
            };
            match ctx.store.update_acls(pattern, &remove).await {
                Ok(_) => {
                    let gone = std::mem::take(&mut *removed.lock_or_recover());
                    for e in gone {
                        let mut m = DeleteAclsMatchingAcl::default();
                        m.resource_type = pattern.resource_type.code();
                        m.resource_name = str_bytes(&pattern.name);
                        m.pattern_type = pattern.pattern_type.code();
                        m.principal = str_bytes(&e.principal);
                        m.host = str_bytes(&e.host);
                        m.operation = e.operation.code();
                        m.permission_type = e.permission.code();
                        result.matching_acls.push(m);
                    }
                }
                Err(e) => {
                    result.error_code = ErrorCode::UnknownServerError.code();
                    result.error_message = Some(str_bytes(e.to_string()));
                }
            }
        }
        resp.filter_results.push(result);
    }
    resp
}
