//! The admin side of ACLs: CreateAcls, DescribeAcls and DeleteAcls, as
//! Kafka's `Admin.createAcls` / `describeAcls` / `deleteAcls` send them.

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};

use super::admin::{str_bytes, Admin};
use super::error::{check_items, Error, Result};
use crate::security::acl::{
    AccessControlEntry, AclBinding, AclBindingFilter, AclOperation, PatternType, Permission,
    ResourcePattern, ResourceType, ANY_CODE,
};

fn code<T>(v: Option<T>, f: impl Fn(T) -> i8) -> i8 {
    v.map_or(ANY_CODE, f)
}

/// Sets an [`AclBindingFilter`] on a DescribeAcls request or a DeleteAcls
/// filter: two generated types with the same setters and no common trait.
macro_rules! with_filter {
    ($message:expr, $f:expr) => {{
        let f: &AclBindingFilter = $f;
        $message
            .with_resource_type_filter(code(f.resource_type, ResourceType::code))
            .with_resource_name_filter(f.name.as_deref().map(str_bytes))
            .with_pattern_type_filter(f.pattern.code())
            .with_principal_filter(f.principal.as_deref().map(str_bytes))
            .with_host_filter(f.host.as_deref().map(str_bytes))
            .with_operation(code(f.operation, AclOperation::code))
            .with_permission_type(code(f.permission, Permission::code))
    }};
}

fn binding(
    t: i8,
    name: &str,
    pattern: i8,
    principal: &str,
    host: &str,
    op: i8,
    perm: i8,
) -> Option<AclBinding> {
    Some(AclBinding {
        pattern: ResourcePattern {
            resource_type: ResourceType::from_code(t)?,
            name: name.to_string(),
            pattern_type: PatternType::from_code(pattern)?,
        },
        entry: AccessControlEntry {
            principal: principal.to_string(),
            host: host.to_string(),
            operation: AclOperation::from_code(op)?,
            permission: Permission::from_code(perm)?,
        },
    })
}

/// [`binding`] from a response's resource fields and ACL fields, which
/// DescribeAcls keeps in two structs and DeleteAcls in one, under the same
/// names.
macro_rules! binding_of {
    ($resource:expr, $acl:expr) => {
        binding(
            $resource.resource_type,
            &$resource.resource_name,
            $resource.pattern_type,
            &$acl.principal,
            &$acl.host,
            $acl.operation,
            $acl.permission_type,
        )
    };
}

impl Admin {
    /// Creates the bindings; the first refusal is the error.
    pub async fn create_acls(&self, bindings: &[AclBinding]) -> Result<()> {
        let conn = self.cluster().any_broker();
        let version = conn.version::<CreateAclsRequest>()?;
        let creations = bindings
            .iter()
            .map(|b| {
                AclCreation::default()
                    .with_resource_type(b.pattern.resource_type.code())
                    .with_resource_name(str_bytes(&b.pattern.name))
                    .with_resource_pattern_type(b.pattern.pattern_type.code())
                    .with_principal(str_bytes(&b.entry.principal))
                    .with_host(str_bytes(&b.entry.host))
                    .with_operation(b.entry.operation.code())
                    .with_permission_type(b.entry.permission.code())
            })
            .collect();
        let request = CreateAclsRequest::default().with_creations(creations);
        let response = conn.send_pipelined(&request, version).await?.wait().await?;
        check_items(&response.results)
    }

    /// The bindings matching the filter.
    pub async fn describe_acls(&self, f: &AclBindingFilter) -> Result<Vec<AclBinding>> {
        let conn = self.cluster().any_broker();
        let version = conn.version::<DescribeAclsRequest>()?;
        let request = with_filter!(DescribeAclsRequest::default(), f);
        let response = conn.send_pipelined(&request, version).await?.wait().await?;
        if let Some(e) = Error::from_code(response.error_code, response.error_message.as_deref()) {
            return Err(e);
        }
        let mut out = Vec::new();
        for r in response.resources {
            for a in r.acls {
                out.extend(binding_of!(r, a));
            }
        }
        Ok(out)
    }

    /// Deletes what each filter matches; returns the deleted bindings.
    pub async fn delete_acls(&self, filters: &[AclBindingFilter]) -> Result<Vec<AclBinding>> {
        let conn = self.cluster().any_broker();
        let version = conn.version::<DeleteAclsRequest>()?;
        let filters =
            filters.iter().map(|f| with_filter!(DeleteAclsFilter::default(), f)).collect();
        let request = DeleteAclsRequest::default().with_filters(filters);
        let response = conn.send_pipelined(&request, version).await?.wait().await?;
        check_items(&response.filter_results)?;
        let mut out = Vec::new();
        for r in response.filter_results {
            for m in r.matching_acls {
                out.extend(binding_of!(m, m));
            }
        }
        Ok(out)
    }
}
