//! `kafka-rs acls` (kafka-acls.sh): add, remove and list ACLs through a
//! running broker, with Kafka's flags, its `--producer` / `--consumer`
//! conveniences and its output lines.

use std::collections::BTreeMap;
use std::io::BufRead;

use anyhow::{bail, Context};
use clap::{ArgGroup, Args};

use super::client_opts::{runtime, AdminConnection};
use crate::client::admin::Admin;
use crate::client::Cluster;
use crate::security::acl::{
    AccessControlEntry, AclBinding, AclBindingFilter, AclOperation, PatternFilter, PatternType,
    Permission, ResourcePattern, ResourceType, CLUSTER_NAME,
};

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("action").required(true).args(["add", "remove", "list"])))]
#[command(mut_arg("bootstrap_server", |a| a.required(true)))]
#[command(mut_arg("command_config", |a| a.help("Admin client properties file (security settings, timeouts)")))]
pub struct AclsArgs {
    #[command(flatten)]
    pub connection: AdminConnection,
    /// Add the ACLs described by the other options.
    #[arg(long)]
    pub add: bool,
    /// Remove ACLs.
    #[arg(long)]
    pub remove: bool,
    /// List ACLs of the given resources, or of every resource.
    #[arg(long)]
    pub list: bool,
    /// Principal to allow (User:NAME, User:* for everyone); repeatable.
    #[arg(long, value_name = "PRINCIPAL")]
    pub allow_principal: Vec<String>,
    /// Principal to deny; repeatable.
    #[arg(long, value_name = "PRINCIPAL")]
    pub deny_principal: Vec<String>,
    /// With --list: only the ACLs of this principal.
    #[arg(long, value_name = "PRINCIPAL")]
    pub principal: Vec<String>,
    /// Host the allow principals may connect from (default *); repeatable.
    #[arg(long, value_name = "HOST")]
    pub allow_host: Vec<String>,
    /// Host the deny principals are refused from (default *); repeatable.
    #[arg(long, value_name = "HOST")]
    pub deny_host: Vec<String>,
    /// Operation: Read, Write, Create, Delete, Alter, Describe, ClusterAction,
    /// AlterConfigs, DescribeConfigs, IdempotentWrite, All (default All).
    #[arg(long, value_name = "OPERATION", value_parser = parse_operation)]
    pub operation: Vec<AclOperation>,
    /// Topic ACLs ('*' for every topic); repeatable.
    #[arg(long, value_name = "TOPIC")]
    pub topic: Vec<String>,
    /// Consumer group ACLs ('*' for every group); repeatable.
    #[arg(long, value_name = "GROUP")]
    pub group: Vec<String>,
    /// ACLs of the cluster resource.
    #[arg(long)]
    pub cluster: bool,
    /// Transactional id ACLs ('*' for every one); repeatable.
    #[arg(long, value_name = "ID")]
    pub transactional_id: Vec<String>,
    /// LITERAL or PREFIXED for --add; also ANY or MATCH for --list and
    /// --remove (default LITERAL).
    #[arg(long, value_name = "TYPE", default_value = "LITERAL", value_parser = parse_pattern)]
    pub resource_pattern_type: PatternFilter,
    /// Producer convenience: WRITE, DESCRIBE and CREATE on the topics,
    /// WRITE and DESCRIBE on the transactional ids.
    #[arg(long)]
    pub producer: bool,
    /// Consumer convenience: READ and DESCRIBE on the topics, READ on the
    /// groups (--group required).
    #[arg(long)]
    pub consumer: bool,
    /// With --producer: IDEMPOTENT_WRITE on the cluster.
    #[arg(long)]
    pub idempotent: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    pub force: bool,
}

fn parse_operation(s: &str) -> Result<AclOperation, String> {
    AclOperation::parse(s).ok_or_else(|| format!("Invalid operation: {s}"))
}

fn parse_pattern(s: &str) -> Result<PatternFilter, String> {
    match s.to_ascii_uppercase().as_str() {
        "ANY" => Ok(PatternFilter::Any),
        "MATCH" => Ok(PatternFilter::Match),
        other => PatternType::parse(other)
            .map(PatternFilter::Is)
            .ok_or_else(|| format!("Invalid resource pattern type: {s}")),
    }
}

/// The resources the flags name, each with the operations to grant
/// (the --producer / --consumer sets, or --operation, default ALL).
fn resources_with_ops(
    a: &AclsArgs,
    pattern: PatternType,
) -> anyhow::Result<Vec<(ResourcePattern, Vec<AclOperation>)>> {
    use AclOperation::*;
    let p = |t, name: &str| ResourcePattern {
        resource_type: t,
        name: name.into(),
        pattern_type: pattern,
    };
    let mut out = Vec::new();
    if a.producer || a.consumer {
        if a.consumer && a.group.is_empty() {
            bail!("With --consumer you must specify a --group");
        }
        if a.topic.is_empty() && a.transactional_id.is_empty() && !a.idempotent {
            bail!("With --producer or --consumer you must specify a --topic");
        }
        for t in &a.topic {
            let mut ops = Vec::new();
            if a.producer {
                ops.extend([Write, Describe, Create]);
            }
            if a.consumer {
                ops.extend([Read, Describe]);
            }
            ops.dedup();
            out.push((p(ResourceType::Topic, t), ops));
        }
        if a.consumer {
            out.extend(a.group.iter().map(|g| (p(ResourceType::Group, g), vec![Read])));
        }
        if a.producer {
            out.extend(
                a.transactional_id
                    .iter()
                    .map(|t| (p(ResourceType::TransactionalId, t), vec![Write, Describe])),
            );
            if a.idempotent {
                out.push((
                    ResourcePattern::literal(ResourceType::Cluster, CLUSTER_NAME),
                    vec![IdempotentWrite],
                ));
            }
        }
        return Ok(out);
    }
    let ops = if a.operation.is_empty() { vec![All] } else { a.operation.clone() };
    for (t, names) in [
        (ResourceType::Topic, &a.topic),
        (ResourceType::Group, &a.group),
        (ResourceType::TransactionalId, &a.transactional_id),
    ] {
        out.extend(names.iter().map(|n| (p(t, n), ops.clone())));
    }
    if a.cluster {
        out.push((ResourcePattern::literal(ResourceType::Cluster, CLUSTER_NAME), ops));
    }
    Ok(out)
}

fn entries(a: &AclsArgs, ops: &[AclOperation]) -> Vec<AccessControlEntry> {
    let hosts = |h: &Vec<String>| if h.is_empty() { vec!["*".to_string()] } else { h.clone() };
    let mut out = Vec::new();
    for (principals, hosts, permission) in [
        (&a.allow_principal, hosts(&a.allow_host), Permission::Allow),
        (&a.deny_principal, hosts(&a.deny_host), Permission::Deny),
    ] {
        for principal in principals {
            for host in &hosts {
                for op in ops {
                    out.push(AccessControlEntry {
                        principal: principal.clone(),
                        host: host.clone(),
                        operation: *op,
                        permission,
                    });
                }
            }
        }
    }
    out
}

/// Kafka's block: a heading, then one tab-indented entry per line.
fn print_block(heading: &str, resource: &impl std::fmt::Display, acls: &[AccessControlEntry]) {
    let lines: Vec<String> = acls.iter().map(|e| format!("\t{e}")).collect();
    println!("{heading} `{resource}`: \n {} \n", lines.join("\n"));
}

fn filter_for(resource: &ResourcePattern, pattern: PatternFilter) -> AclBindingFilter {
    AclBindingFilter {
        resource_type: Some(resource.resource_type),
        name: Some(resource.name.clone()),
        pattern,
        ..Default::default()
    }
}

fn confirm(force: bool, question: &str) -> bool {
    if force {
        return true;
    }
    println!("{question}");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).is_ok() && line.trim().eq_ignore_ascii_case("y")
}

pub fn run(a: AclsArgs) -> anyhow::Result<()> {
    let config = a.connection.client_config("kafka-acls")?;
    let rt = runtime()?;
    let admin =
        rt.block_on(async { Ok::<_, anyhow::Error>(Admin::new(Cluster::connect(config).await?)) })?;
    let exact = match a.resource_pattern_type {
        PatternFilter::Is(p) => Some(p),
        _ => None,
    };
    if a.add {
        let Some(pattern) = exact else {
            bail!("A '--resource-pattern-type' value of 'ANY' or 'MATCH' is not valid when adding acls.");
        };
        if a.allow_principal.is_empty() && a.deny_principal.is_empty() {
            bail!("You must specify one of: --allow-principal, --deny-principal when trying to add ACLs.");
        }
        let resources = resources_with_ops(&a, pattern)?;
        if resources.is_empty() {
            bail!("You must specify one of: --topic, --cluster, --group, --transactional-id");
        }
        let mut bindings = Vec::new();
        for (resource, ops) in &resources {
            let acls = entries(&a, ops);
            print_block("Adding ACLs for resource", resource, &acls);
            bindings.extend(
                acls.into_iter().map(|entry| AclBinding { pattern: resource.clone(), entry }),
            );
        }
        rt.block_on(admin.create_acls(&bindings)).context("Error while executing ACL command")?;
        let shown: Vec<ResourcePattern> = resources.into_iter().map(|(r, _)| r).collect();
        return list(&rt, &admin, Some(&shown), PatternFilter::Is(pattern), &[]);
    }
    let resources: Vec<ResourcePattern> =
        resources_with_ops(&a, exact.unwrap_or(PatternType::Literal))?
            .into_iter()
            .map(|(r, _)| r)
            .collect();
    if a.remove {
        if resources.is_empty() {
            bail!("You must specify one of: --topic, --cluster, --group, --transactional-id");
        }
        for (resource, ops) in resources_with_ops(&a, exact.unwrap_or(PatternType::Literal))? {
            let filter = filter_for(&resource, a.resource_pattern_type);
            let acls = entries(&a, &ops);
            let filters: Vec<AclBindingFilter> = if acls.is_empty() {
                let q = format!(
                    "Are you sure you want to delete all ACLs for resource filter `{}`? (y/n)",
                    describe_filter(&resource, a.resource_pattern_type)
                );
                if !confirm(a.force, &q) {
                    continue;
                }
                vec![filter]
            } else {
                let lines: Vec<String> = acls.iter().map(|e| format!("\t{e}")).collect();
                let q = format!(
                    "Are you sure you want to remove ACLs: \n {} \n from resource filter `{}`? (y/n)",
                    lines.join("\n"),
                    describe_filter(&resource, a.resource_pattern_type)
                );
                if !confirm(a.force, &q) {
                    continue;
                }
                acls.into_iter()
                    .map(|e| AclBindingFilter {
                        principal: Some(e.principal),
                        host: Some(e.host),
                        operation: Some(e.operation),
                        permission: Some(e.permission),
                        ..filter.clone()
                    })
                    .collect()
            };
            rt.block_on(admin.delete_acls(&filters))
                .context("Error while executing ACL command")?;
        }
        return list(&rt, &admin, Some(&resources), a.resource_pattern_type, &[]);
    }
    let shown = if resources.is_empty() { None } else { Some(resources.as_slice()) };
    list(&rt, &admin, shown, a.resource_pattern_type, &a.principal)
}

/// Kafka's `ResourcePatternFilter` text.
fn describe_filter(r: &ResourcePattern, pattern: PatternFilter) -> String {
    let p = match pattern {
        PatternFilter::Any => "ANY".to_string(),
        PatternFilter::Match => "MATCH".to_string(),
        PatternFilter::Is(p) => p.to_string(),
    };
    format!("ResourcePattern(resourceType={}, name={}, patternType={p})", r.resource_type, r.name)
}

fn list(
    rt: &tokio::runtime::Runtime,
    admin: &Admin,
    resources: Option<&[ResourcePattern]>,
    pattern: PatternFilter,
    principals: &[String],
) -> anyhow::Result<()> {
    let filters: Vec<AclBindingFilter> = match resources {
        Some(rs) => rs.iter().map(|r| filter_for(r, pattern)).collect(),
        // Kafka lists everything (AclBindingFilter.ANY) when no resource is named.
        None => vec![AclBindingFilter::default()],
    };
    let mut by_resource: BTreeMap<ResourcePattern, Vec<AccessControlEntry>> = BTreeMap::new();
    for f in &filters {
        for b in rt.block_on(admin.describe_acls(f)).context("Error while executing ACL command")? {
            if principals.is_empty() || principals.contains(&b.entry.principal) {
                let v = by_resource.entry(b.pattern).or_default();
                if !v.contains(&b.entry) {
                    v.push(b.entry);
                }
            }
        }
    }
    if let Some(rs) = resources {
        // A resource asked about is shown even with no ACLs left.
        for r in rs.iter().filter(|_| matches!(pattern, PatternFilter::Is(_))) {
            by_resource.entry(r.clone()).or_default();
        }
    }
    for (resource, acls) in &by_resource {
        if principals.is_empty() {
            print_block("Current ACLs for resource", resource, acls);
        } else {
            for p in principals {
                let mine: Vec<AccessControlEntry> =
                    acls.iter().filter(|e| e.principal == *p).cloned().collect();
                print_block(
                    &format!("ACLs for principal `{p}`\nCurrent ACLs for resource"),
                    resource,
                    &mine,
                );
            }
        }
    }
    Ok(())
}
